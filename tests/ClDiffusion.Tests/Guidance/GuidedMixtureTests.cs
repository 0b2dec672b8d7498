using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Guidance;

/// <summary>
/// A labelled Gaussian mixture (classes select components) has exact conditional scores s_t(x | c) (the log-sum-exp
/// over the class's components) and an exact guided score (1 + w) s_t(x | c) - w s_t(x). The sampler's guided score
/// call (one batch [x; x] with labels [c; null]) must give exactly these.
/// </summary>
public class GuidedMixtureTests
{
    /// <summary>d = 3, five components in three classes: 0 = {0, 1}, 1 = {2}, 2 = {3, 4}.</summary>
    internal static GaussianMixture Labelled(int d = 3)
    {
        var g = GaussianMixture.Preset(d, 5, seed: 19, spread: 2.5);
        return new GaussianMixture(g.Weights, g.Means, g.Variances, [0, 0, 1, 2, 2]);
    }

    static double[] Reference(GaussianMixture g, float[] x, float[] t, int[] labels, double w)
    {
        int d = g.Dim, n = t.Length;
        var o = new double[n * d];
        for (int r = 0; r < n; r++)
        {
            var xr = x.AsSpan(r * d, d).ToArray().Select(v => (double)v).ToArray();
            if (labels[r] == ClassLabels.Null) g.Score(xr, t[r], o.AsSpan(r * d, d), new double[g.Components]);
            else g.GuidedScore(xr, t[r], labels[r], w, o.AsSpan(r * d, d));
        }
        return o;
    }

    internal static void Close(float[] got, double[] want, double tol, string what)
    {
        double worst = 0; int at = -1;
        for (int i = 0; i < got.Length; i++)
        {
            double e = Math.Abs(got[i] - want[i]) / (1 + Math.Abs(want[i]));
            if (!(e <= worst)) { worst = e; at = i; }
        }
        Assert.That(worst, Is.LessThan(tol), $"{what}: worst relative error {worst:E2} at {at}: {got[Math.Max(at, 0)]} vs {want[Math.Max(at, 0)]}");
    }

    [Test]
    public void ConditionalScoreIsTheClassMixtureScore()
    {
        var g = Labelled();
        Assert.That(g.NumClasses, Is.EqualTo(3));
        var round = GaussianMixture.FromJson(g.ToJson());
        Assert.That(round.Labels, Is.EqualTo(g.Labels));
        // s(x | c) of the labelled mixture = the score of the mixture of class c's components, renormalised
        var x = new double[] { 0.3, -1.2, 2.0 };
        foreach (var t in new[] { 0.05, 0.7, 3.0 })
        {
            var a = new double[3]; var b = new double[3]; var guided = new double[3];
            g.GuidedScore(x, t, 2, 0, a);
            var c2 = new GaussianMixture([0.4, 0.6], [g.Means[3], g.Means[4]], [g.Variances[3], g.Variances[4]]);   // any weights in class 2's ratio
            var wr = g.Weights[3] / (g.Weights[3] + g.Weights[4]);
            c2 = new GaussianMixture([wr, 1 - wr], c2.Means, c2.Variances);
            c2.Score(x, t, b, new double[2]);
            Assert.That(a, Is.EqualTo(b).Within(1e-12));
        }
    }

    [TestCase(0.0)]
    [TestCase(2.0)]
    public void GuidedScoreCallMatchesTheClosedForm(double w)
    {
        var g = Labelled();
        var cpu = new CpuBackend(2);
        int n = 30, m = 4, d = g.Dim;   // 4 rows per sample with their own times, as the parallel samplers call it
        var labels = Enumerable.Range(0, n).Select(i => i % 4 - 1).ToArray();   // -1 (unconditional), 0, 1, 2
        using var prepared = cpu.Prepare(g);
        using var ctx = new SamplerContext(cpu, prepared, n, 1, 100, 8);
        ctx.Condition(ClassLabels.PerSample(Enumerable.Repeat(ClassLabels.Null, 100).Concat(labels).ToArray()), w);
        var key = new RandomKey(4, 0, Purpose.Test);
        var x = new float[n * m * d];
        key.Normals(0, x);
        var off = new float[] { 0.0f, 0.5f, 1.1f, 2.0f };
        using var xb = cpu.Allocate(n * m, d); using var sb = cpu.Allocate(n * m, d); using var ob = cpu.Allocate(m, 1);
        cpu.Upload(xb, x); cpu.Upload(ob, off);
        ctx.ScoreAt(xb, 2.5f, 1f, ob, sb);
        var got = new float[n * m * d];
        cpu.Download(sb, got);
        var times = Enumerable.Range(0, n * m).Select(r => 2.5f - off[r % m]).ToArray();
        var rowLabels = Enumerable.Range(0, n * m).Select(r => labels[r / m]).ToArray();
        Close(got, Reference(g, x, times, rowLabels, w), 1e-5, $"w = {w}");
        Assert.That(ctx.Costs.Nfe, Is.EqualTo(m), "a guided call counts as one score evaluation per row");
    }

    [Test]
    public void LabelsAreCheckedAgainstTheModel()
    {
        var g = Labelled();
        var cpu = new CpuBackend(1);
        using var p = cpu.Prepare(g);
        using var ctx = new SamplerContext(cpu, p, 4, 1, 0, 8);
        Assert.Throws<ArgumentException>(() => ctx.Condition(ClassLabels.All(3), 1));
        Assert.Throws<ArgumentException>(() => ctx.Condition(ClassLabels.PerSample([0, 1, 2]), 1));   // 3 labels for 4 samples
        Assert.Throws<ArgumentException>(() => ctx.Condition(null, 1));
        Assert.Throws<ArgumentException>(() => ClassLabels.All(-2));
        using var plain = cpu.Prepare(GaussianMixture.Preset(3, 2));
        using var ctx2 = new SamplerContext(cpu, plain, 4, 1, 0, 8);
        Assert.Throws<ArgumentException>(() => ctx2.Condition(ClassLabels.All(0), 0));
        Assert.Throws<ArgumentException>(() => new SamplerOptions { Guidance = 1 }.Validate());
        Assert.Throws<ArgumentException>(() => new SamplerOptions { Guidance = double.NaN, Labels = ClassLabels.All(0) }.Validate());
    }

    /// <summary>Class 1 is one Gaussian component: conditional sampling (w = 0) must give its exact mean and variance.</summary>
    [Test]
    public void ConditionalSamplesHaveTheClassMoments()
    {
        var g = Labelled();
        var (x, _) = SampleRun.Run(new CpuBackend(2), g, "ei", new SamplerOptions { Steps = 60, Labels = ClassLabels.All(1) }, 3, 4000);
        int d = g.Dim;
        for (int j = 0; j < d; j++)
        {
            var col = Enumerable.Range(0, 4000).Select(i => (double)x[i * d + j]).ToArray();
            double mean = col.Average(), v = col.Select(c => (c - mean) * (c - mean)).Average();
            double mu = g.Means[2][j], var = g.Variances[2][j];
            Assert.That(mean, Is.EqualTo(mu).Within(4 * Math.Sqrt(var / 4000) + 0.02), $"mean {j}");
            Assert.That(v, Is.EqualTo(var).Within(0.1 * var + 0.01), $"variance {j}");
        }
    }

    /// <summary>Labels follow global sample indices: the same samples whatever the batch size (every sampler).</summary>
    [TestCase("ei")]
    [TestCase("rm-pc")]
    [TestCase("prm-pc")]
    [TestCase("picard")]
    public void GuidedSamplesDoNotDependOnBatching(string sampler)
    {
        var g = Labelled();
        var labels = ClassLabels.PerSample(Enumerable.Range(0, 40).Select(i => (i * 7) % 4 - 1).ToArray());
        var o = new SamplerOptions { Steps = 6, CorrectorSteps = 2, SubWindows = 3, PicardRounds = 2, Labels = labels, Guidance = 1.5 };
        var cpu = new CpuBackend(2);
        var a = new float[40 * 3]; var b = new float[40 * 3];
        SampleRun.Run(cpu, g, sampler, o, 9, 0, 40, a, batch: 40);
        SampleRun.Run(cpu, g, sampler, o, 9, 0, 40, b, batch: 7);
        Assert.That(b, Is.EqualTo(a));
        // and the guidance is really applied: w = 0 gives other samples
        var c = new float[40 * 3];
        SampleRun.Run(cpu, g, sampler, o with { Guidance = 0 }, 9, 0, 40, c, batch: 40);
        Assert.That(c, Is.Not.EqualTo(a));
    }
}
