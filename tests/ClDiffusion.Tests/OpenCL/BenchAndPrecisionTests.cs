using ClDiffusion.Tooling.OpenCL;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

[TestFixture]
public sealed class BenchAndPrecisionTests : OpenClTestBase
{
    [Test]
    public void KernelBenchProducesATable()
    {
        var rs = KernelBench.Run(Cl, rows: 2048, dim: 17, components: 3, reps: 2);
        // d = 17: no per-row two-pass kernel (17 is no multiple of GVW, so none of its "p-" path rows either) and no
        // 4-column Langevin fast path; the row kernel's paths (table, GIT = 0) run at any d
        Assert.That(rs.Select(r => r.Kernel), Is.EquivalentTo(new[] { "copy", "copy-vec", "lincomb-2", "lincomb-4", "langevin", "normals-2d", "mid-predict", "picard-sums", "mid-final", "gmm-score", "gmm-rows", "gmm-1pass", "p-rows", "p-rows-div" }));
        Assert.That(rs.All(r => r.SecondsPerCall > 0 && r.GBPerSecond > 0));
        Assert.That(rs.Where(r => r.Kernel != "copy" && r.Kernel != "normals-2d").All(r => r.Note.Contains("of copy")), "every kernel but the roof itself (and the noise alone) is given as a share of it");
        TestContext.Out.WriteLine(KernelBench.Format(rs));
    }

    /// <summary>The copy reference copies exactly, at every variant the bench measures, with tails (n % CVW) and n below one vector.</summary>
    [Test]
    public void CopyReferenceCopiesExactly([Values(7, 1000, 100_003)] int n)
    {
        var data = Rand(n, n);
        using var src = (OpenClBuffer)Cl.Allocate(1, n);
        Cl.Upload(src, data);
        foreach (var (w, cpi) in CopyReference.Variants.Append((1, 3)))
        {
            using var dst = (OpenClBuffer)Cl.Allocate(1, n);
            Cl.Upload(dst, new float[n]);
            using var c = new CopyReference(Cl, w, cpi, workGroup: 64);
            c.Enqueue(dst, src);
            Assert.That(Read(Cl, dst), Is.EqualTo(data), $"CVW={w} CPI={cpi}, n = {n}");
        }
        Assert.Throws<ArgumentException>(() => new CopyReference(Cl, 3, 1));
    }

    /// <summary>
    /// The float-only path (devices without cl_khr_fp64): Shen-Lee coefficients and tilted alphas in float. The covariance
    /// formulas cancel for small gamma*alpha*h and alpha near 1, so the Shen-Lee noise factors carry ~1e-4..1e-3 relative
    /// error there (the noise covariance, not the drift): a looser tolerance than the fp64 path, which matches to float rounding.
    /// </summary>
    [Test]
    public void FloatOnlyCoefficientsStayClose([Values(0.01f, 1.5f)] float gamma)
    {
        using var f = new OpenClBackend(Cl.Device, new OpenClOptions { UseFp64 = false });
        Assert.That(f.Fp64, Is.False);
        int n = 64, d = 3; float h = 0.2f;
        var key = new RandomKey(9, 12, Purpose.LangevinNoise);
        var ac = Cpu.Allocate(n, 1); var al = f.Allocate(n, 1);
        Cpu.DrawAlphas(ac, key, 0, Backends.AlphaLaw.ExpTilted, h); f.DrawAlphas(al, key, 0, Backends.AlphaLaw.ExpTilted, h);
        Close(Read(Cpu, ac), Read(f, al), 1e-5, 1e-6, "tilted alphas in float");
        var xs = Rand(n * d, 1); var vs = Rand(n * d, 2); var ss = Rand(n * d, 3);
        var xc = Cpu.Allocate(n, d); var vc = Cpu.Allocate(n, d); var sc = Cpu.Allocate(n, d);
        var xl = f.Allocate(n, d); var vl = f.Allocate(n, d); var sl = f.Allocate(n, d);
        Cpu.Upload(xc, xs); Cpu.Upload(vc, vs); Cpu.Upload(sc, ss); f.Upload(xl, xs); f.Upload(vl, vs); f.Upload(sl, ss);
        Cpu.ShenLeeFinal(xc, vc, sc, ac, gamma, h, key, 0); f.ShenLeeFinal(xl, vl, sl, al, gamma, h, key, 0);
        Close(Read(Cpu, xc), Read(f, xl), 5e-3, 5e-3, "Shen-Lee x (float coefficients)");
        Close(Read(Cpu, vc), Read(f, vl), 5e-3, 5e-3, "Shen-Lee v (float coefficients)");
    }

    [Test]
    public void ReportSamplerAgreement()
    {
        var model = GaussianMixture.Preset(16, 4);
        foreach (var name in Sampler.Names)
        {
            var (a, _) = SampleRun.Run(Cpu, model, name, new SamplerOptions(), seed: 1, 64);
            var (b, _) = SampleRun.Run(Cl, model, name, new SamplerOptions(), seed: 1, 64);
            double mx = 0, scale = 0;
            for (int i = 0; i < a.Length; i++) { mx = Math.Max(mx, Math.Abs(a[i] - b[i])); scale = Math.Max(scale, Math.Abs(a[i])); }
            TestContext.Out.WriteLine($"{name,-9} d=16 n=64 default options: max |cpu - opencl| = {mx:E2} (max |x| = {scale:F2})");
            Assert.That(mx, Is.LessThan(1e-2 * Math.Max(scale, 1)), name);
        }
    }
}
