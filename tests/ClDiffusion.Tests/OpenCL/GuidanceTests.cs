using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.Guidance;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>Class-conditional scores and classifier-free guidance on the device: CPU = OpenCL = the closed forms.</summary>
[TestFixture]
public sealed class GuidanceTests : OpenClTestBase
{
    public static IEnumerable<string> Names => Sampler.Names;

    float[] ScoreOn(ClDiffusion.Backends.IBackend b, IScoreModel model, float[] x, int rows, float[] off, float[]? labels)
    {
        int d = model.Dim;
        using var p = b.Prepare(model);
        using var xb = b.Allocate(rows, d); using var sb = b.Allocate(rows, d); using var ob = b.Allocate(off.Length, 1);
        using var lb = labels is null ? null : b.Allocate(rows, 1);
        b.Upload(xb, x); b.Upload(ob, off);
        if (lb is not null) b.Upload(lb, labels!);
        b.Score(p, xb, 6f, 1f, ob, sb, lb);
        return Read(b, sb);
    }

    [TestCase(3)]   // the one-pass kernel
    [TestCase(8)]   // the two-pass vectorised kernel
    public void LabelledMixtureScoreMatchesCpuAndFloat64(int d)
    {
        var g = GuidedMixtureTests.Labelled(d);
        int rows = 57;
        var x = Rand(rows * d, 3, 2f);
        var off = new float[] { 0.5f, 3f, 5.9f };
        var labels = Enumerable.Range(0, rows).Select(r => (float)(r % 4 - 1)).ToArray();
        var cpu = ScoreOn(Cpu, g, x, rows, off, labels);
        var cl = ScoreOn(Cl, g, x, rows, off, labels);
        Close(cpu, cl, 1e-4, 2e-3, $"labelled mixture d = {d}");
        var want = new double[rows * d];
        for (int r = 0; r < rows; r++)
            g.Conditional((int)labels[r]).Score(x.AsSpan(r * d, d).ToArray().Select(v => (double)v).ToArray(), 6 - off[r % 3], want.AsSpan(r * d, d), new double[5]);
        GuidedMixtureTests.Close(cl, want, 2e-3, "OpenCL vs float64");
        // no labels: the whole mixture, as before
        Close(ScoreOn(Cpu, g, x, rows, off, null), ScoreOn(Cl, g, x, rows, off, null), 1e-4, 2e-3, "no labels");
    }

    [Category("Exhaustive")]   // MLP kernels: minutes of PoCL compilation with a cold kernel cache (opt-in: tools/test.sh)
    [TestCase(70)]    // the whole-network fused kernel (hidden width <= its limit)
    [TestCase(300)]   // the layer-by-layer kernels
    public void ConditionalMlpScoreMatchesCpuPerRowClass(int width)
    {
        var m = ConditionalMlpTests.Conditional(d: 5, width: width, classes: 4);
        using (var p = (ClDiffusion.Backends.OpenCL.Mlp.OpenClMlpScore)Cl.Prepare(m)) TestContext.Out.WriteLine($"width {width}: {p.FusedReason}");
        int rows = 133;
        var x = Rand(rows * 5, 4);
        var off = new float[] { 0.2f, 2f, 5.5f, 5.99f };
        var labels = Enumerable.Range(0, rows).Select(r => (float)(r % 5 - 1)).ToArray();
        var cpu = ScoreOn(Cpu, m, x, rows, off, labels);
        var cl = ScoreOn(Cl, m, x, rows, off, labels);
        Close(cpu, cl, 1e-4, 1e-3, "conditional MLP");
        Close(ScoreOn(Cpu, m, x, rows, off, null), ScoreOn(Cl, m, x, rows, off, null), 1e-4, 1e-3, "conditional MLP, null class");
        Assert.That(cl, Is.Not.EqualTo(ScoreOn(Cl, m, x, rows, off, null)), "the class changes the score");
    }

    [Test]
    public void GuidedScoreCallOnTheDeviceMatchesTheClosedForm()
    {
        var g = GuidedMixtureTests.Labelled();
        int n = 20, d = g.Dim;
        var labels = Enumerable.Range(0, n).Select(i => i % 3).ToArray();
        using var p = Cl.Prepare(g);
        using var ctx = new SamplerContext(Cl, p, n, 1, 0, 8);
        ctx.Condition(ClassLabels.PerSample(labels), 3.0);
        var x = Rand(n * d, 9, 2f);
        using var xb = Cl.Allocate(n, d); using var sb = Cl.Allocate(n, d);
        Cl.Upload(xb, x);
        ctx.Score(xb, 7.2, sb);   // forward time 0.8
        var got = Read(Cl, sb);
        var want = new double[n * d];
        for (int r = 0; r < n; r++)
            g.GuidedScore(x.AsSpan(r * d, d).ToArray().Select(v => (double)v).ToArray(), 8 - 7.2, labels[r], 3.0, want.AsSpan(r * d, d));
        GuidedMixtureTests.Close(got, want, 3e-3, "guided w = 3 on OpenCL");
    }

    [Test, TestCaseSource(nameof(Names))]
    public void GuidedSamplerAgreesWithCpu(string name)
    {
        var g = GuidedMixtureTests.Labelled();
        var labels = ClassLabels.PerSample(Enumerable.Range(0, 23).Select(i => i % 4 - 1).ToArray());
        var o = new SamplerOptions { Steps = 8, CorrectorSteps = 2, SubWindows = 3, PicardRounds = 2, Window = 4, Labels = labels, Guidance = 2 };
        var (a, _) = SampleRun.Run(Cpu, g, name, o, seed: 5, 23);
        var (b, _) = SampleRun.Run(Cl, g, name, o, seed: 5, 23);
        Close(a, b, 3e-3, 3e-3, $"{name} guided");
    }

    [Test, Category("Exhaustive")]   // MLP kernels: minutes of PoCL compilation with a cold kernel cache (opt-in)
    public void GuidedMlpSamplesAgreeAndDoNotDependOnBatching()
    {
        var m = ConditionalMlpTests.Conditional(d: 5, width: 24, classes: 3);
        var labels = ClassLabels.PerSample(Enumerable.Range(0, 30).Select(i => i % 3).ToArray());
        var o = new SamplerOptions { Steps = 8, CorrectorSteps = 2, Labels = labels, Guidance = 2 };
        var (a, _) = SampleRun.Run(Cpu, m, "rm-pc", o, seed: 8, 30);
        var (b, _) = SampleRun.Run(Cl, m, "rm-pc", o, seed: 8, 30);
        Close(a, b, 3e-3, 3e-3, "guided MLP rm-pc");
        var c = new float[30 * 5];
        SampleRun.Run(Cl, m, "rm-pc", o, 8, 0, 30, c, batch: 11);
        Close(b, c, 0, 0, "batch 30 vs 11");
    }
}
