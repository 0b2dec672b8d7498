using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Diffusion;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

public class MidpointTests
{
    static readonly CpuBackend Cpu = new();

    /// <summary>
    /// x0 = 0 and a "score" f(u) = cos(3u) + u^2 known at the drawn midpoint: the final step returns the one-point
    /// estimate of int_0^h e^{h-u} f(u) du, whose average over many alphas must equal the integral.
    /// </summary>
    [TestCase(AlphaLaw.Stratified, 1)]
    [TestCase(AlphaLaw.Stratified, 4)]
    [TestCase(AlphaLaw.ExpTilted, 1)]
    public void MidpointEstimateIsUnbiasedForTheStepIntegral(AlphaLaw law, int R)
    {
        const int n = 200_000;
        const float h = 0.8f;
        static double F(double u) => Math.Cos(3 * u) + u * u;
        using var alpha = Cpu.Allocate(n, R);
        Cpu.DrawAlphas(alpha, new RandomKey(3, 1, Purpose.Alpha), 0, law, h);
        var a = new float[n * R];
        Cpu.Download(alpha, a);
        var f = a.Select(v => (float)F(v * h)).ToArray();
        using var zero = Cpu.Allocate(n, 1);
        using var s = Cpu.Allocate(n * R, 1);
        using var outp = Cpu.Allocate(n, 1);
        Cpu.Upload(s, f);
        var est = new float[n];
        if (law == AlphaLaw.ExpTilted) { Cpu.Lincomb(outp, [new((float)Num.ExpM1(h), s)]); }
        else Cpu.MidpointFinal(outp, zero, s, alpha, h);
        Cpu.Download(outp, est);
        // exact integral by composite Simpson in float64
        int m = 20000; double sum = 0;
        for (int i = 0; i <= m; i++) { double u = h * i / m, w = i == 0 || i == m ? 1 : i % 2 == 1 ? 4 : 2; sum += w * Math.Exp(h - u) * F(u); }
        double exact = sum * h / (3 * m);
        double mean = est.Average(v => (double)v), sd = Math.Sqrt(est.Average(v => (v - mean) * (v - mean)));
        Assert.That(mean, Is.EqualTo(exact).Within(4 * sd / Math.Sqrt(n) + 1e-6));
    }

    [Test]
    public void StratifiedAlphasLieInTheirSubWindows()
    {
        using var alpha = Cpu.Allocate(1000, 5);
        Cpu.DrawAlphas(alpha, new RandomKey(1, 0, Purpose.Alpha), 0, AlphaLaw.Stratified, 1f);
        var a = new float[5000];
        Cpu.Download(alpha, a);
        for (int i = 0; i < a.Length; i++) Assert.That(a[i], Is.InRange((i % 5) / 5f, (i % 5 + 1) / 5f));
    }

    [Test]
    public void ParallelWithOneSubWindowAndNoPicardRoundIsSequentialBitForBit()
    {
        var g = ClDiffusion.Models.GaussianMixture.Preset(6, 3);
        var o = new SamplerOptions { Steps = 20, SubWindows = 1, PicardRounds = 0 };
        var (rm, _) = SampleRun.Run(Cpu, g, "rm", o, 9, 33);
        var (prm, st) = SampleRun.Run(Cpu, g, "prm", o, 9, 33);
        Assert.That(prm, Is.EqualTo(rm));
        Assert.That(st.NfePerSample, Is.EqualTo(40));
        Assert.That(st.Rounds, Is.EqualTo(40));
    }

    [Test]
    public void PicardDifferencesShrinkGeometrically()
    {
        var g = ClDiffusion.Models.GaussianMixture.Preset(4, 3);
        var grid = TimeGrid.Uniform(8, 1e-3, 8);
        var outs = new List<float[]>();
        for (int k = 0; k <= 6; k++)
        {
            using var prepared = Cpu.Prepare(g);
            using var ctx = new SamplerContext(Cpu, prepared, 50, 4, 0, 8);
            using var x = Cpu.Allocate(50, 4);
            Cpu.Normal(x, ctx.Key(0, Purpose.StartNoise), 0);
            for (int n = 0; n < 6; n++) ParallelSamplers.ParallelMidpointWindow(ctx, x, grid, n, 6, n == 5 ? k : 3);
            Assert.That(ctx.Costs.Rounds, Is.EqualTo(5 * 5 + k + 2), "depth of a window is K + 2");
            var r = new float[200]; Cpu.Download(x, r); outs.Add(r);
        }
        var diffs = Enumerable.Range(1, 6).Select(k => outs[k].Zip(outs[k - 1], (a, b) => Math.Abs(a - b)).Max()).ToArray();
        TestContext.Out.WriteLine(string.Join(", ", diffs));
        for (int k = 1; k < 5; k++) Assert.That(diffs[k], Is.LessThan(0.6 * diffs[k - 1]), $"round {k + 1}");
    }
}
