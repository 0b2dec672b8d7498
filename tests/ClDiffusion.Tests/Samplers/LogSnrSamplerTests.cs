using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;
using static ClDiffusion.Diffusion.LogSnrSteps;

namespace ClDiffusion.Tests.Samplers;

/// <summary>The data-prediction samplers on the log-SNR axis (rm-x0, prm-x0) and their primitives, against exact answers.</summary>
public class LogSnrSamplerTests
{
    static readonly CpuBackend Cpu = new();

    static float[] Read(IDeviceBuffer b)
    {
        var o = new float[b.Rows * b.Cols];
        Cpu.Download(b, o);
        return o;
    }

    /// <summary>Draws n tilted midpoints on [lambdaEnd - h, lambdaEnd] through DrawAlphas + TiltedTimes; returns their lambdas.</summary>
    static double[] TiltedLambdas(int n, int R, double lambdaEnd, double h)
    {
        using var u = Cpu.Allocate(n, R);
        using var times = Cpu.Allocate(n, R);
        Cpu.DrawAlphas(u, new RandomKey(17, 3, Purpose.Alpha), 0, AlphaLaw.Stratified, (float)h);
        Cpu.TiltedTimes(times, u, lambdaEnd, h);
        return Read(times).Select(t => Point.At(t).Lambda).ToArray();
    }

    [TestCase(0.3)]
    [TestCase(2.5)]
    public void TiltedMidpointsFollowTheirDensity(double h)
    {
        // the inverse CDF (TiltedTimes) against the density e^lambda (TiltedDensity), integrated over 20 bins by Simpson
        const int n = 200_000, bins = 20;
        double lambdaEnd = 0.7, lambdaStart = lambdaEnd - h;
        var lam = TiltedLambdas(n, 1, lambdaEnd, h);
        var counts = new int[bins];
        foreach (var l in lam)
        {
            Assert.That(l, Is.InRange(lambdaStart - 1e-5, lambdaEnd + 1e-5));
            counts[Math.Clamp((int)((l - lambdaStart) / h * bins), 0, bins - 1)]++;
        }
        for (int b = 0; b < bins; b++)
        {
            double a = lambdaStart + h * b / bins, w = h / bins, p = 0;
            for (int i = 0; i <= 100; i++) p += (i == 0 || i == 100 ? 1 : i % 2 == 1 ? 4 : 2) * TiltedDensity(a + w * i / 100, lambdaEnd, h);
            p *= w / 300;
            double sd = Math.Sqrt(n * p * (1 - p));
            Assert.That(counts[b], Is.EqualTo(n * p).Within(5 * sd), $"bin {b}");
        }
        // the density tilts towards the step end: on a long step, most midpoints lie in its last third
        if (h > 2) Assert.That(lam.Count(l => l > lambdaEnd - h / 3), Is.GreaterThan(n * 0.6));
    }

    [Test]
    public void StratifiedTiltedMidpointsLieInSubWindowsOfEqualMass()
    {
        const int R = 4;
        double lambdaEnd = 1.0, h = 1.7, e0 = Math.Exp(-h);
        var lam = TiltedLambdas(5000, R, lambdaEnd, h);
        for (int k = 0; k < lam.Length; k++)
        {
            double cdf = (Math.Exp(lam[k] - lambdaEnd) - e0) / (1 - e0);
            int i = k % R;
            Assert.That(cdf, Is.InRange((double)i / R - 1e-5, (i + 1.0) / R + 1e-5));
        }
    }

    /// <summary>Exact probability-flow state of a single Gaussian at forward time t from x at time s (standardised coordinate constant).</summary>
    static double Flow(GaussianMixture g, int j, double x, double s, double t)
    {
        double mu = g.Means[0][j], v = g.Variances[0][j];
        double ms = Math.Exp(-s) * mu, vs = Math.Exp(-2 * s) * v + ForwardProcess.SigmaSquared(s);
        double mt = Math.Exp(-t) * mu, vt = Math.Exp(-2 * t) * v + ForwardProcess.SigmaSquared(t);
        return mt + Math.Sqrt(vt / vs) * (x - ms);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void OneStepIsUnbiasedGivenTheExactMidpointState(bool controlVariate)
    {
        // Single Gaussian: x0(x, t) is affine in x. Every row starts from the same x_s; the midpoint state is the exact
        // flow at the drawn lambda_m; the final step must then average to the exact flow at the step end.
        var g = TestTargets.Gaussian(3);
        const int n = 100_000, d = 3;
        double ts = 1.6, tt = 0.25;
        Point s = Point.At(ts), t = Point.At(tt);
        double h = t.Lambda - s.Lambda;
        float[] xs = [0.8f, -1.1f, 0.3f];
        using var x = Cpu.Allocate(n, d); using var u = Cpu.Allocate(n, 1); using var times = Cpu.Allocate(n, 1);
        using var xm = Cpu.Allocate(n, d); using var sm = Cpu.Allocate(n, d); using var dm = Cpu.Allocate(n, d);
        using var slope = Cpu.Allocate(n, d); using var outp = Cpu.Allocate(n, d);
        Cpu.Upload(x, Enumerable.Range(0, n * d).Select(k => xs[k % d]).ToArray());
        Cpu.DrawAlphas(u, new RandomKey(5, 1, Purpose.Alpha), 0, AlphaLaw.Stratified, (float)h);
        Cpu.TiltedTimes(times, u, t.Lambda, h);
        var tm = Read(times);
        Cpu.Upload(xm, Enumerable.Range(0, n * d).Select(k => (float)Flow(g, k % d, xs[k % d], ts, tm[k / d])).ToArray());
        using var prepared = Cpu.Prepare(g);
        Cpu.Score(prepared, xm, 0f, -1f, times, sm);
        Cpu.DataPrediction(dm, xm, sm, times);
        // any slope keeps the estimate unbiased (its term has mean zero); a wrong one only adds variance
        Cpu.Upload(slope, Enumerable.Range(0, n * d).Select(k => 0.4f - 0.3f * (k % d)).ToArray());
        Cpu.LogSnrFinal(outp, x, dm, controlVariate ? slope : null, times, ts, tt);
        var est = Read(outp);
        for (int j = 0; j < d; j++)
        {
            var col = Enumerable.Range(0, n).Select(r => (double)est[r * d + j]).ToArray();
            double mean = col.Average(), sd = Math.Sqrt(col.Average(v => (v - mean) * (v - mean)));
            double exact = Flow(g, j, xs[j], ts, tt);
            Assert.That(sd, Is.GreaterThan(1e-3), "the estimate is random");
            Assert.That(mean, Is.EqualTo(exact).Within(4 * sd / Math.Sqrt(n) + 2e-6), $"coordinate {j}");
        }
    }

    [Test]
    public void PicardWithAConstantDataPredictionIsTheFirstOrderStep()
    {
        // x0 constant over the window: the piecewise integral over the sub-windows equals the closed-form first-order step
        const int n = 7, d = 5, R = 4;
        double ts = 2.0, tt = 0.7;
        double h = Point.At(tt).Lambda - Point.At(ts).Lambda;
        var rnd = new System.Random(3);
        float[] Rand(int k) => Enumerable.Range(0, k).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        using var x = Cpu.Allocate(n, d); using var d0 = Cpu.Allocate(n, d); using var u = Cpu.Allocate(n, R); using var times = Cpu.Allocate(n, R);
        using var dRep = Cpu.Allocate(n * R, d); using var pic = Cpu.Allocate(n * R, d); using var pred = Cpu.Allocate(n * R, d);
        Cpu.Upload(x, Rand(n * d)); Cpu.Upload(d0, Rand(n * d));
        Cpu.DrawAlphas(u, new RandomKey(2, 2, Purpose.Alpha), 0, AlphaLaw.Stratified, (float)h);
        Cpu.TiltedTimes(times, u, Point.At(tt).Lambda, h);
        Cpu.RepeatRows(dRep, d0, R);
        Cpu.LogSnrPicard(pic, x, dRep, times, ts, tt);
        Cpu.LogSnrPredict(pred, x, d0, null, times, ts);
        var a = Read(pic); var b = Read(pred);
        for (int k = 0; k < a.Length; k++) Assert.That(a[k], Is.EqualTo(b[k]).Within(2e-5 + 2e-5 * Math.Abs(b[k])), $"element {k}");
    }

    [Test]
    public void ParallelWithOneMidpointAndNoPicardRoundIsTheFirstOrderStepInFloat64()
    {
        // prm-x0 with R = 1, K = 0 over one step, against the first-order midpoint step written out in float64:
        // x_m = (sigma_m/sigma_s) x + alpha_m (1 - e^{-k}) x0(x, s);  x_t = (sigma_t/sigma_s) x + alpha_t (1 - e^{-h}) x0(x_m, m)
        var g = GaussianMixture.Preset(4, 3, seed: 5);
        const int n = 9, d = 4;
        var o = new SamplerOptions { Steps = 1, SubWindows = 1, PicardRounds = 0, MidpointOrder = 1, Horizon = 3, Delta = 0.2 };
        var (y, st) = SampleRun.Run(Cpu, g, "prm-x0", o, seed: 8, n);
        Assert.That(st.NfePerSample, Is.EqualTo(2));
        var grid = o.MakeGrid();
        double ts = grid.T(0), tt = grid.T(1);
        Point s = Point.At(ts), t = Point.At(tt);
        double h = t.Lambda - s.Lambda;
        var start = new RandomKey(8, 0, Purpose.StartNoise);
        var alpha = new RandomKey(8, 0, Purpose.Alpha);
        var score = new double[d]; var scratch = new double[64];
        for (int r = 0; r < n; r++)
        {
            var x = Enumerable.Range(0, d).Select(j => (double)start.Normal(r, j)).ToArray();
            g.Score(x, ts, score, scratch);
            var x0s = x.Select((v, j) => (v + s.Sigma * s.Sigma * score[j]) / s.Alpha).ToArray();
            double tm = (float)ForwardProcess.TimeOfLogSnr(TiltedLambda(alpha.Uniform(r, 0), t.Lambda, h));
            var m = Point.At(tm);
            double k = m.Lambda - s.Lambda;
            var xm = x.Select((v, j) => m.Sigma / s.Sigma * v + m.Alpha * -Num.ExpM1(-k) * x0s[j]).ToArray();
            g.Score(xm, tm, score, scratch);
            for (int j = 0; j < d; j++)
            {
                double x0m = (xm[j] + m.Sigma * m.Sigma * score[j]) / m.Alpha;
                double want = t.Sigma / s.Sigma * x[j] + t.Alpha * -Num.ExpM1(-h) * x0m;
                Assert.That(y[r * d + j], Is.EqualTo(want).Within(2e-4 + 2e-4 * Math.Abs(want)), $"sample {r}, coordinate {j}");
            }
        }
        // and it is rm-x0's first-order step, bit for bit
        var (z, _) = SampleRun.Run(Cpu, g, "rm-x0", o, seed: 8, n);
        Assert.That(z, Is.EqualTo(y));
    }

    static double RmsError(string sampler, int steps, SamplerOptions o)
    {
        const double T = 5, Delta = 0.05;
        var g = TestTargets.Gaussian(3);
        const int n = 64;
        o = o with { Steps = steps, Horizon = T, Delta = Delta };
        var (x, _) = SampleRun.Run(Cpu, g, sampler, o, seed: 5, n: n);
        var key = new RandomKey(5, 0, Purpose.StartNoise);
        double se = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < 3; j++)
            {
                double e = x[i * 3 + j] - TestTargets.ExactFlow(g, j, key.Normal(i, j), T, Delta);
                se += e * e;
            }
        return Math.Sqrt(se / (n * 3));
    }

    static double Slope(string sampler, int[] steps, SamplerOptions o)
    {
        var xs = steps.Select(s => Math.Log(s)).ToArray();
        var ys = steps.Select(s => Math.Log(RmsError(sampler, s, o))).ToArray();
        TestContext.Out.WriteLine($"{sampler}: " + string.Join(", ", steps.Zip(ys, (s, y) => $"{s}:{Math.Exp(y):E2}")));
        double mx = xs.Average(), my = ys.Average();
        return -xs.Zip(ys, (x, y) => (x - mx) * (y - my)).Sum() / xs.Sum(x => (x - mx) * (x - mx));
    }

    // Strong error against the exact flow of a single Gaussian as the steps double (same start noise). The first-order
    // midpoint gives the randomized midpoint's order 1.5 (measured 1.4); the second-order midpoint with its control
    // variate is second order (measured 2.3 on the shrinking grid, 2.2 on the log-SNR grid); prm-x0 with R = 3, K = 3 1.5.
    [TestCase("rm-x0", 1, "shrinking", 1.2, 1.8)]
    [TestCase("rm-x0", 2, "shrinking", 1.9, 2.8)]
    [TestCase("rm-x0", 2, "logsnr", 1.9, 2.8)]
    [TestCase("prm-x0", 1, "shrinking", 1.3, 1.9)]
    public void ConvergesAtItsOrder(string sampler, int midpoint, string grid, double lo, double hi)
    {
        var o = new SamplerOptions { MidpointOrder = midpoint, Grid = grid, SubWindows = 3, PicardRounds = 3 };
        double p = Slope(sampler, [8, 16, 32, 64], o);
        Assert.That(p, Is.InRange(lo, hi));
    }

    [Test]
    public void FiniteAndSaneAtThreeStepsWithDefaults()
    {
        // cldiff sample --sampler rm-x0 --steps 3: finite, and its mean within the mixture's spread
        var g = GaussianMixture.Preset(16, 5);
        var (x, st) = SampleRun.Run(Cpu, g, "rm-x0", new SamplerOptions { Steps = 3 }, seed: 1, n: 500);
        Assert.That(st.NfePerSample, Is.EqualTo(6));
        Assert.That(x.All(float.IsFinite));
        var mean = g.Mean();
        var cov = g.Covariance();
        for (int j = 0; j < 16; j++)
        {
            double m = Enumerable.Range(0, 500).Average(r => (double)x[r * 16 + j]);
            Assert.That(Math.Abs(m - mean[j]), Is.LessThan(0.5 * Math.Sqrt(cov[j, j]) + 0.1), $"coordinate {j}");
        }
    }

    [Test]
    public void ParallelCorrectorRunsOnceAtTheEndByDefaultWithItsOwnRounds()
    {
        var g = GaussianMixture.Preset(3, 2);
        var o = new SamplerOptions { Steps = 8, SubWindows = 2, PicardRounds = 1, CorrectorSteps = 3 };
        double predictor = SampleRun.Run(Cpu, g, "prm", o, 4, 5).stats.NfePerSample;
        var end = SampleRun.Run(Cpu, g, "prm-pc", o, 4, 5).stats;
        Assert.That(end.NfePerSample, Is.EqualTo(predictor + 3 * 3), "one corrector of M = 3 steps, K = M = 3 rounds");
        var rounds = SampleRun.Run(Cpu, g, "prm-pc", o with { CorrectorRounds = 1 }, 4, 5).stats;
        Assert.That(rounds.NfePerSample, Is.EqualTo(predictor + 3));
        var block = SampleRun.Run(Cpu, g, "prm-pc", o with { ParallelCorrector = "block" }, 4, 5).stats;
        int blocks = o.MakeGrid().CorrectAfter.Count(f => f);
        Assert.That(blocks, Is.GreaterThan(1));
        Assert.That(block.NfePerSample, Is.EqualTo(predictor + blocks * 9));
        Assert.Throws<ArgumentException>(() => (o with { ParallelCorrector = "middle" }).Validate());
        Assert.Throws<ArgumentException>(() => (o with { MidpointOrder = 3 }).Validate());
        Assert.Throws<ArgumentException>(() => (o with { CorrectorRounds = 0 }).Validate());
    }

    [Test]
    public void LogSnrGridHasEqualLogSnrSteps()
    {
        var g = TimeGrid.LogSnr(8, 1e-3, 10);
        Assert.That(g.Tau[0], Is.EqualTo(0)); Assert.That(g.Tau[^1], Is.EqualTo(8 - 1e-3));
        double h0 = ForwardProcess.LogSnr(g.T(1)) - ForwardProcess.LogSnr(g.T(0));
        for (int n = 0; n < g.Steps; n++)
            Assert.That(ForwardProcess.LogSnr(g.T(n + 1)) - ForwardProcess.LogSnr(g.T(n)), Is.EqualTo(h0).Within(1e-9));
        Assert.That(ForwardProcess.TimeOfLogSnr(ForwardProcess.LogSnr(0.37)), Is.EqualTo(0.37).Within(1e-14));
    }
}
