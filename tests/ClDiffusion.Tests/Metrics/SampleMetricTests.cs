using System.Text.Json;
using ClDiffusion.Metrics;
using ClDiffusion.Models;
using ClDiffusion.Random;
using NUnit.Framework;

namespace ClDiffusion.Tests.Metrics;

[TestFixture]
public class SampleMetricTests
{
    static float[] Exact(GaussianMixture g, int n, ulong seed) => SampleEvaluator.ExactSamples(g, n, new RandomKey(seed, 0, Purpose.Test));

    static float[] Shift(float[] x, int d, double[] s)
    {
        var r = (float[])x.Clone();
        for (int i = 0; i < r.Length; i++) r[i] += (float)s[i % d];
        return r;
    }

    static GaussianMixture Gaussian(double[] mean, double[] variance) => new([1.0], [mean], [variance]);

    [Test]
    public void ExactSamplesMatchGaussianMixtureSample()
    {
        var g = GaussianMixture.Preset(3, 2);
        var key = new RandomKey(11, 0, Purpose.Test);
        var a = SampleEvaluator.ExactSamples(g, 5000, key);
        var b = g.Sample(5000, key);
        for (int i = 0; i < 5000; i++) for (int j = 0; j < 3; j++) Assert.That(a[i * 3 + j], Is.EqualTo((float)b[i, j]));
    }

    [Test]
    public void FrechetOfHugeExactSamplesApproachesExactW2Squared()
    {
        var mix = GaussianMixture.Preset(3, 2);
        var gauss = Gaussian([0.5, -0.5, 1.0], [0.8, 1.5, 0.3]);
        double exact = GaussianDistances.W2Squared(mix.Mean(), mix.Covariance(), gauss.Mean(), gauss.Covariance());
        const int n = 400_000;
        var a = Exact(mix, n, 1); var b = Exact(gauss, n, 2);
        double f = SampleStats.FrechetDistance(a, n, b, n, 3);
        TestContext.Out.WriteLine($"exact W2^2 {exact}, Frechet of samples {f}");
        Assert.That(f, Is.EqualTo(exact).Within(0.02 * exact));
        double self = SampleStats.FrechetDistance(a, n, 3, mix.Mean(), mix.Covariance());
        TestContext.Out.WriteLine($"Frechet vs own exact moments {self}");
        Assert.That(self, Is.LessThan(1e-3 * exact));
    }

    [Test]
    public void MomentsMatchExact()
    {
        var mix = GaussianMixture.Preset(4, 3);
        const int n = 200_000;
        var a = Exact(mix, n, 3);
        var m = SampleStats.Mean(a, n, 4); var c = SampleStats.Covariance(a, n, 4);
        var em = mix.Mean(); var ec = mix.Covariance();
        for (int i = 0; i < 4; i++)
        {
            Assert.That(m[i], Is.EqualTo(em[i]).Within(0.05));
            for (int j = 0; j < 4; j++) Assert.That(c[i, j], Is.EqualTo(ec[i, j]).Within(0.05 * Math.Sqrt(ec[i, i] * ec[j, j])));
        }
    }

    [Test]
    public void SlicedW2OfSetWithItselfIsZero()
    {
        var g = GaussianMixture.Preset(5, 3);
        var a = Exact(g, 3000, 4);
        Assert.That(SlicedWasserstein.Distance(a, 3000, a, 3000, 5, 9), Is.EqualTo(0));
        // unequal sizes: every row twice has the same empirical law, so quantile matching must give 0
        var twice = new float[a.Length * 2];
        a.CopyTo(twice, 0); a.CopyTo(twice, a.Length);
        Assert.That(SlicedWasserstein.Distance(a, 3000, twice, 6000, 5, 9), Is.EqualTo(0).Within(1e-12));
    }

    [Test]
    public void SlicedW2OfShiftedSetIsRmsProjectedShift()
    {
        const int d = 6, n = 2000, L = 64;
        var g = GaussianMixture.Preset(d, 2);
        var a = Exact(g, n, 5);
        double[] s = [0.3, -0.2, 0.5, 0, 0.1, -0.4];
        var b = Shift(a, d, s);
        var dirs = SlicedWasserstein.Directions(d, L, 77);
        double ms = 0;
        for (int l = 0; l < L; l++)
        {
            double p = 0;
            for (int j = 0; j < d; j++) p += dirs[l * d + j] * s[j];
            ms += p * p / L;
        }
        // the same set shifted: on each direction the sorted projections differ by exactly theta.s
        Assert.That(SlicedWasserstein.Distance(a, n, b, n, d, dirs, L), Is.EqualTo(Math.Sqrt(ms)).Within(1e-5));
        // unequal sizes (b listed twice) give the same
        var b2 = new float[b.Length * 2]; b.CopyTo(b2, 0); b.CopyTo(b2, b.Length);
        Assert.That(SlicedWasserstein.Distance(a, n, b2, 2 * n, d, dirs, L), Is.EqualTo(Math.Sqrt(ms)).Within(1e-5));
        // and many directions approach |s| / sqrt(d), since E (theta.s)^2 = |s|^2 / d
        double norm = Math.Sqrt(s.Sum(x => x * x));
        double many = SlicedWasserstein.Distance(a, n, b, n, d, 123, 4000);
        Assert.That(many, Is.EqualTo(norm / Math.Sqrt(d)).Within(0.05 * norm / Math.Sqrt(d)));
    }

    [Test]
    public void OneDimensionalW2UnequalSizesByHand()
    {
        // Qx = 0 on [0, 1/2), 1 on [1/2, 1); Qy = 0, 0.5, 1 on thirds: (0.25)(1/6) + (0.25)(1/6) = 1/12
        Assert.That(SlicedWasserstein.W2SquaredSorted([0, 1], [0, 0.5, 1]), Is.EqualTo(1.0 / 12).Within(1e-15));
        Assert.That(SlicedWasserstein.W2SquaredSorted([0, 0.5, 1], [0, 1]), Is.EqualTo(1.0 / 12).Within(1e-15));
        Assert.That(SlicedWasserstein.W2SquaredSorted([1, 2], [1, 2]), Is.EqualTo(0));
    }

    [Test]
    public void EnergyAndMmdSeparateShiftedFromExact()
    {
        const int d = 4, n = 1500;
        var g = GaussianMixture.Preset(d, 3);
        var a = Exact(g, n, 6); var b = Exact(g, n, 7);
        var c = Shift(Exact(g, n, 8), d, [0.5, 0.5, 0.5, 0.5]);
        Assert.That(KernelDistances.EnergyDistance(a, n, a, n, d, 1), Is.EqualTo(0).Within(1e-12));
        double floor = KernelDistances.EnergyDistance(a, n, b, n, d, 1);
        double shifted = KernelDistances.EnergyDistance(a, n, c, n, d, 1);
        TestContext.Out.WriteLine($"energy floor {floor}, shifted {shifted}");
        Assert.That(shifted, Is.GreaterThan(10 * floor));
        double mf = KernelDistances.MmdSquared(a, n, b, n, d, 0, 1), msh = KernelDistances.MmdSquared(a, n, c, n, d, 0, 1);
        TestContext.Out.WriteLine($"mmd2 floor {mf}, shifted {msh}");
        Assert.That(msh, Is.GreaterThan(10 * mf));
    }

    [Test]
    public void KsOfExactSamplesIsBelowCriticalValue()
    {
        const int d = 4, n = 20_000;
        var g = GaussianMixture.Preset(d, 3);
        var ks = KolmogorovSmirnov.PerCoordinate(g, Exact(g, n, 9), n);
        TestContext.Out.WriteLine($"KS {string.Join(", ", ks)} critical {1.63 / Math.Sqrt(n)}");
        Assert.That(KolmogorovSmirnov.CriticalValue(n), Is.EqualTo(1.63 / Math.Sqrt(n)).Within(0.01 / Math.Sqrt(n)));
        Assert.That(ks.Max(), Is.LessThan(1.63 / Math.Sqrt(n)));
        var shifted = KolmogorovSmirnov.PerCoordinate(g, Shift(Exact(g, n, 9), d, [0.3, 0.3, 0.3, 0.3]), n);
        Assert.That(shifted.Min(), Is.GreaterThan(5 * 1.63 / Math.Sqrt(n)));
    }

    [Test]
    public void MarginalCdfOfSingleGaussian()
    {
        var g = Gaussian([1.0], [4.0]);
        Assert.That(KolmogorovSmirnov.MarginalCdf(g, 0, 1.0), Is.EqualTo(0.5).Within(1e-15));
        Assert.That(KolmogorovSmirnov.MarginalCdf(g, 0, 3.0), Is.EqualTo(0.8413447460685429).Within(1e-14));
    }

    [Test]
    public void EvaluateExactSamplesSitsAtTheNoiseFloor()
    {
        var g = GaussianMixture.Preset(4, 3);
        const int n = 2000;
        var report = SampleEvaluator.Evaluate(g, Exact(g, n, 100), n, 42);
        TestContext.Out.WriteLine(report.ToString());
        Assert.That(report.Metrics.Select(m => m.Name), Is.EquivalentTo(new[] { "mean_error", "frechet", "gaussian_kl", "sliced_w2", "energy_distance", "mmd2", "ks_max", "ks_mean" }));
        foreach (var m in report.Metrics)
        {
            Assert.That(double.IsFinite(m.Value) && double.IsFinite(m.NoiseFloor), m.Name);
            Assert.That(m.FloorDraws, Has.Count.EqualTo(MetricOptions.Default.FloorDraws), m.Name);
            Assert.That(m.FloorDraws.Distinct().Count(), Is.EqualTo(m.FloorDraws.Count), $"{m.Name}: the floor draws are independent sets");
            Assert.That(m.NoiseFloor, Is.GreaterThan(0), m.Name);
            Assert.That(m.NoiseFloor, Is.LessThanOrEqualTo(m.FloorMax), m.Name);
        }
        Assert.That(report.KsMax.Value, Is.LessThan(1.63 / Math.Sqrt(n)));
        // deterministic, and floors built once and reused give the same report as a fresh evaluation
        Assert.That(SampleEvaluator.Evaluate(Exact(g, n, 100), SampleEvaluator.Floors(g, n, 42)).ToJson(), Is.EqualTo(report.ToJson()));
    }

    /// <summary>
    /// The verdict is a calibrated test: on exact samples each metric is called "above noise" at most Alpha (2.5%) of the
    /// time by construction; over 400 seeds at n = 100 the count stays under 5% per metric, and the p-values are
    /// uniform (their mean near (B + 2) / (2 (B + 1)) = 0.5125), so the floors are neither too low nor too high.
    /// </summary>
    [Test]
    public void ExactSamplesAreWithinNoiseInAtLeast95PercentOfSeeds()
    {
        var g = GaussianMixture.Preset(4, 3);
        const int n = 100, seeds = 400;
        var alarms = new Dictionary<string, int>(); var pSum = new Dictionary<string, double>();
        var options = MetricOptions.Default with { SlicedDirections = 32 };
        Parallel.For(0, seeds, s =>
        {
            var report = SampleEvaluator.Evaluate(g, Exact(g, n, 1_000_000 + (ulong)s), n, (ulong)s, options);
            lock (alarms)
                foreach (var m in report.Metrics)
                {
                    alarms[m.Name] = alarms.GetValueOrDefault(m.Name) + (m.Verdict == "within noise" ? 0 : 1);
                    pSum[m.Name] = pSum.GetValueOrDefault(m.Name) + m.PValue;
                }
        });
        foreach (var (name, count) in alarms)
        {
            double meanP = pSum[name] / seeds;
            TestContext.Out.WriteLine($"{name}: above noise in {count} of {seeds} seeds, mean p {meanP:0.000}");
            Assert.That(count, Is.LessThanOrEqualTo(seeds * 5 / 100), $"{name}: false alarms on exact samples");
            Assert.That(meanP, Is.InRange(0.45, 0.58), $"{name}: p-values of exact samples are not uniform");
        }
    }

    [Test]
    public void EvaluateShiftedSamplesStandsAboveTheFloor()
    {
        var g = GaussianMixture.Preset(4, 3);
        const int n = 4000;
        var floors = SampleEvaluator.Floors(g, n, 42);
        var report = SampleEvaluator.Evaluate(Shift(Exact(g, n, 100), 4, [0.4, 0, -0.4, 0.2]), floors);
        TestContext.Out.WriteLine(report.ToString());
        var exact = SampleEvaluator.Evaluate(Exact(g, n, 100), floors);
        foreach (var name in new[] { "mean_error", "frechet", "gaussian_kl", "energy_distance", "mmd2", "ks_max", "ks_mean" })
        {
            Assert.That(report[name].Ratio, Is.GreaterThan(5), name);
            Assert.That(report[name].Verdict, Is.EqualTo("well above noise"), name);
        }
        // sliced W2 is tail-dominated at n = 4000: above every exact draw, but not 5x their median
        Assert.That(report.SlicedW2.PValue, Is.EqualTo(1.0 / (MetricOptions.Default.FloorDraws + 1)));
        Assert.That(report.SlicedW2.Verdict, Does.EndWith("above noise"));
        foreach (var m in report.Metrics) Assert.That(m.Value, Is.GreaterThan(exact[m.Name].Value), m.Name);
        Assert.That(report.SlicedW2.Value, Is.EqualTo(Math.Sqrt(0.36 / 4)).Within(0.1), "pure shift: SW2 ~ |s| / sqrt(d)");
    }

    [Test]
    public void PValueAndVerdictFollowTheDraws()
    {
        double[] draws = Enumerable.Range(1, 39).Select(i => (double)i).ToArray();   // median 20, max 39
        Assert.That(new MetricValue("m", 10.5, draws, 1, "").PValue, Is.EqualTo(30.0 / 40));
        Assert.That(new MetricValue("m", 39, draws, 1, "").PValue, Is.EqualTo(2.0 / 40), "ties count against the samples");
        Assert.That(new MetricValue("m", 39, draws, 1, "").Verdict, Is.EqualTo("within noise"));
        Assert.That(new MetricValue("m", 39.5, draws, 1, "").Verdict, Is.EqualTo("above noise"));
        Assert.That(new MetricValue("m", 101, draws, 1, "").Verdict, Is.EqualTo("well above noise"));
        Assert.That(new MetricValue("m", 39.5, draws, 1, "").NoiseFloor, Is.EqualTo(20));
        Assert.That(new MetricValue("m", double.NaN, draws, 1, "").Verdict, Is.EqualTo("-"));
        Assert.That(() => SampleEvaluator.Floors(GaussianMixture.Preset(2, 2), 100, 1, MetricOptions.Default with { FloorDraws = 19 }),
            Throws.ArgumentException.With.Message.Contains("floor draws"));
    }

    [Test]
    public void ReportJsonAndTable()
    {
        var g = GaussianMixture.Preset(2, 2);
        var report = SampleEvaluator.Evaluate(g, Exact(g, 500, 1), 500, 3);
        using var doc = JsonDocument.Parse(report.ToJson());
        var root = doc.RootElement;
        Assert.That(root.GetProperty("n").GetInt32(), Is.EqualTo(500));
        Assert.That(root.GetProperty("dim").GetInt32(), Is.EqualTo(2));
        Assert.That(root.GetProperty("seed").GetUInt64(), Is.EqualTo(3UL));
        var frechet = root.GetProperty("metrics").GetProperty("frechet");
        Assert.That(frechet.GetProperty("value").GetDouble(), Is.EqualTo(report.Frechet.Value));
        Assert.That(frechet.GetProperty("noise_floor").GetDouble(), Is.EqualTo(report.Frechet.NoiseFloor));
        Assert.That(frechet.GetProperty("p_value").GetDouble(), Is.EqualTo(report.Frechet.PValue));
        Assert.That(frechet.GetProperty("verdict").GetString(), Is.EqualTo(report.Frechet.Verdict));
        var table = report.ToString();
        foreach (var m in report.Metrics) Assert.That(table, Does.Contain(m.Name));
        Assert.That(table, Does.Contain("noise floor"));
    }

    [Test]
    public void EvaluateValidatesInputs()
    {
        var g = GaussianMixture.Preset(3, 2);
        var x = Exact(g, 100, 1);
        x[37 * 3 + 2] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => SampleEvaluator.Evaluate(g, x, 100, 1))!;
        Assert.That(e.Message, Does.Contain("row 37"));
        x[37 * 3 + 2] = 0; x[12 * 3] = float.PositiveInfinity;
        e = Assert.Throws<ArgumentException>(() => SampleEvaluator.Evaluate(g, x, 100, 1))!;
        Assert.That(e.Message, Does.Contain("row 12"));
        e = Assert.Throws<ArgumentException>(() => SampleEvaluator.Evaluate(g, new float[200], 100, 1))!;
        Assert.That(e.Message, Does.Contain("dimension mismatch"));
        Assert.Throws<ArgumentException>(() => SlicedWasserstein.Distance(new float[6], 3, new float[6], 2, 2, 1));
        Assert.Throws<ArgumentException>(() => KolmogorovSmirnov.PerCoordinate(g, new float[10], 5));
    }
}
