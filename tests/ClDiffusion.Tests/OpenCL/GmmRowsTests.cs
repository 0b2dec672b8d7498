using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;
using ClDiffusion.Tests.Guidance;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>
/// The mixture score with a work group per row (cl/gmm_rows.cl, issue 18) against the float64 closed form
/// (<see cref="GaussianMixture.Score"/>), at shapes with tails everywhere: d not a multiple of the vector width nor of
/// the items per row (and smaller than both), K = 1 and K past the per-row kernels' 16, rows not a multiple of the rows
/// per group; shared and per-row times, labels; four configurations of its tunables. Also which kernel the backend picks.
/// </summary>
[TestFixture]
// Slow: one PoCL program per kernel variant (over a minute with a cold kernel cache); the default paths are checked by
// every OpenCL sampler agreement test, and CI runs the Slow category
[Category("Slow")]
public sealed class GmmRowsTests : OpenClTestBase
{
    /// <summary>(GRW items per row, GRV vector width, GRR rows per group): the default, and corners of the space.</summary>
    static readonly (int W, int V, int R)[] Configs = { (64, 4, 1), (16, 8, 3), (1, 16, 2), (256, 1, 1) };
    readonly Dictionary<int, OpenClBackend> forced = new();

    /// <summary>A backend that uses the row kernel at every d (GRD = 1) with configuration i.</summary>
    OpenClBackend Forced(int i)
    {
        if (forced.TryGetValue(i, out var b)) return b;
        var (w, v, r) = Configs[i];
        var defs = new Dictionary<string, string> { ["GRW"] = $"{w}", ["GRV"] = $"{v}", ["GRR"] = $"{r}", ["GRD"] = "1" };
        return forced[i] = new OpenClBackend(Cl.Device, new OpenClOptions { ExtraDefines = defs });
    }

    [OneTimeTearDown]
    public void CloseForced() { foreach (var b in forced.Values) b.Dispose(); }

    /// <summary>The score of rows x on backend b at t_r = t0 - slope off[r % off.Length] (off empty: t0), labels optional.</summary>
    internal static float[] ScoreOn(OpenClBackend b, GaussianMixture g, float[] x, int rows, float t0, float slope, float[] off, float[]? labels, out GmmKernel kernel)
    {
        int d = g.Dim;
        using var p = (OpenClGaussianMixtureScore)b.Prepare(g);
        kernel = p.Kernel;
        using var xb = b.Allocate(rows, d); using var sb = b.Allocate(rows, d);
        using var ob = off.Length == 0 ? null : b.Allocate(off.Length, 1);
        using var lb = labels is null ? null : b.Allocate(rows, 1);
        b.Upload(xb, x);
        if (ob is not null) b.Upload(ob, off);
        if (lb is not null) b.Upload(lb, labels!);
        b.Score(p, xb, t0, slope, ob, sb, lb);
        return Read(b, sb);
    }

    /// <summary>The float64 closed form per row, at the row's float time (as the kernel computes it).</summary>
    internal static double[] Reference(GaussianMixture g, float[] x, int rows, float t0, float slope, float[] off, float[]? labels)
    {
        int d = g.Dim;
        var want = new double[rows * d];
        for (int r = 0; r < rows; r++)
        {
            float t = off.Length == 0 ? t0 : t0 - slope * off[r % off.Length];
            var m = labels is null ? g : g.Conditional((int)labels[r]);
            m.Score(x.AsSpan(r * d, d).ToArray().Select(v => (double)v).ToArray(), t, want.AsSpan(r * d, d), new double[g.Components]);
        }
        return want;
    }

    /// <summary>
    /// Rows drawn from q_t at each row's time, where samplers evaluate the score: the quadratic form of the nearest
    /// components is about d, so float rounding stays far below the tolerance (uniform points at d = 1031 and t near 0
    /// give forms of thousands, where any float kernel is off by 1e-3 to 1e-1: see RowKernelIsAsAccurateAsThePerRowKernel).
    /// </summary>
    internal static float[] NearMixture(GaussianMixture g, int rows, float t0, float slope, float[] off, int seed)
    {
        int d = g.Dim, nt = Math.Max(off.Length, 1);
        var x = new float[rows * d];
        for (int i = 0; i < nt; i++)
        {
            float t = off.Length == 0 ? t0 : t0 - slope * off[i];
            var s = g.Sample((rows - i + nt - 1) / nt, new ClDiffusion.Random.RandomKey((ulong)seed, (uint)i, ClDiffusion.Random.Purpose.Test), t);
            for (int r = i; r < rows; r += nt) for (int j = 0; j < d; j++) x[r * d + j] = (float)s[(r - i) / nt, j];   // only the rows at time i
        }
        return x;
    }

    /// <summary>max |cl - ref| / max(|ref|, 1) within tol (the tuner's check), worst element in the message.</summary>
    internal static void Near(float[] cl, double[] want, double tol, string what)
    {
        Assert.That(cl.Length, Is.EqualTo(want.Length), what);
        double worst = 0; int at = 0;
        for (int i = 0; i < want.Length; i++)
        {
            double e = Math.Abs(cl[i] - want[i]) / Math.Max(Math.Abs(want[i]), 1);
            if (!(e <= worst)) { worst = e; at = i; }
        }
        Assert.That(worst, Is.LessThanOrEqualTo(tol), $"{what}: worst relative error {worst:G3} at {at} (cl {cl[at]:G7}, float64 {want[at]:G7})");
    }

    [Test]
    public void RowKernelMatchesFloat64([Values(0, 1, 2, 3)] int config, [Values(1, 17, 300, 1031)] int d, [Values(1, 5, 20)] int K, [Values(false, true)] bool perRowTimes)
    {
        const int rows = 71;
        var g = GaussianMixture.Preset(d, K, seed: (ulong)(11 + d + K));
        var off = perRowTimes ? new[] { 0f, 0.4f, 0.9f } : Array.Empty<float>();
        foreach (float t0 in perRowTimes ? new[] { 0.46f, 3f } : new[] { 0.01f, 0.5f, 3f })
        {
            var x = NearMixture(g, rows, t0, 0.5f, off, seed: d + K);
            var cl = ScoreOn(Forced(config), g, x, rows, t0, 0.5f, off, null, out var kernel);
            Assert.That(kernel, Is.EqualTo(GmmKernel.Rows));
            Near(cl, Reference(g, x, rows, t0, 0.5f, off, null), 5e-4, $"config {Configs[config]}, d = {d}, K = {K}, t0 = {t0}");
        }
    }

    /// <summary>
    /// Where float rounding itself is the limit (d = 1031, t near 0: quadratic forms of thousands, so the log densities
    /// carry errors of order 1e-3 in any float kernel), the row kernel is no less accurate than the per-row kernel it replaces.
    /// </summary>
    [Test]
    public void RowKernelIsAsAccurateAsThePerRowKernel([Values(0, 1, 2, 3)] int config, [Values(5, 20)] int K)
    {
        const int rows = 71, d = 1031;
        var g = GaussianMixture.Preset(d, K, seed: (ulong)(11 + d + K));
        var x = Rand(rows * d, 7 + d, 3f);
        using var perRow = new OpenClBackend(Cl.Device, new OpenClOptions { ExtraDefines = new Dictionary<string, string> { ["GRD"] = int.MaxValue.ToString() } });
        double rowWorst = 0, oldWorst = 0;
        foreach (float t0 in new[] { 0.01f, 0.05f })
        {
            var want = Reference(g, x, rows, t0, 0f, Array.Empty<float>(), null);
            double row = Worst(ScoreOn(Forced(config), g, x, rows, t0, 0f, Array.Empty<float>(), null, out _), want);
            double old = Worst(ScoreOn(perRow, g, x, rows, t0, 0f, Array.Empty<float>(), null, out var k), want);
            TestContext.Out.WriteLine($"config {Configs[config]}, K = {K}, t0 = {t0}: row kernel {row:G3}, per-row kernel ({k}) {old:G3}");
            rowWorst = Math.Max(rowWorst, row); oldWorst = Math.Max(oldWorst, old);
        }
        // the errors at one time depend on the summation order by chance; over the two times the row kernel's worst is no worse
        Assert.That(rowWorst, Is.LessThanOrEqualTo(oldWorst + 5e-4));
    }

    static double Worst(float[] cl, double[] want)
    {
        double worst = 0;
        for (int i = 0; i < want.Length; i++) worst = Math.Max(worst, Math.Abs(cl[i] - want[i]) / Math.Max(Math.Abs(want[i]), 1));
        return worst;
    }

    [Test]
    public void RowKernelHonoursLabels([Values(0, 1)] int config)
    {
        const int rows = 57, d = 300;
        var g = GuidedMixtureTests.Labelled(d);
        var off = new[] { 0.5f, 3f, 5.9f };
        var x = NearMixture(g, rows, 6f, 1f, off, seed: 3);
        var labels = Enumerable.Range(0, rows).Select(r => (float)(r % 4 - 1)).ToArray();   // -1: the null class
        var cl = ScoreOn(Forced(config), g, x, rows, 6f, 1f, off, labels, out var kernel);
        Assert.That(kernel, Is.EqualTo(GmmKernel.Rows));
        Near(cl, Reference(g, x, rows, 6f, 1f, off, labels), 5e-4, "labelled mixture");
    }

    /// <summary>The same rows as the per-row two-pass kernel (the semantics did not change), at d = 1024, K = 5.</summary>
    [Test]
    public void RowKernelAgreesWithThePerRowKernel()
    {
        const int rows = 33, d = 1024;
        var g = GaussianMixture.Preset(d, 5, seed: 5);
        var off = new[] { 0.1f, 0.7f };
        var x = NearMixture(g, rows, 0.8f, 0.5f, off, seed: 9);
        using var perRow = new OpenClBackend(Cl.Device, new OpenClOptions { ExtraDefines = new Dictionary<string, string> { ["GRD"] = int.MaxValue.ToString() } });
        var a = ScoreOn(perRow, g, x, rows, 0.8f, 0.5f, off, null, out var ka);
        var b = ScoreOn(Forced(0), g, x, rows, 0.8f, 0.5f, off, null, out var kb);
        Assert.That((ka, kb), Is.EqualTo((GmmKernel.PerRow, GmmKernel.Rows)));
        Near(b, a.Select(v => (double)v).ToArray(), 5e-4, "row kernel vs per-row kernel");
    }

    [Test]
    public void BackendPicksTheRowKernelFromGrd()
    {
        // default GRD: 256 on GPUs, never on CPU devices (the per-row kernel measured faster there)
        bool cpu = Cl.Device.TypeName == "cpu";
        using (var p = (OpenClGaussianMixtureScore)Cl.Prepare(GaussianMixture.Preset(1024, 5)))
            Assert.That(p.Kernel, cpu ? Is.EqualTo(GmmKernel.PerRow) : Is.EqualTo(GmmKernel.Rows), $"default, d = 1024 on a {Cl.Device.TypeName}");
        // GRD = 256 set: d = 64 per row, d = 256 and 1024 the row kernel, also past the per-row kernels' K <= 16
        using var b = new OpenClBackend(Cl.Device, new OpenClOptions { ExtraDefines = new Dictionary<string, string> { ["GRD"] = "256" } });
        using (var p = (OpenClGaussianMixtureScore)b.Prepare(GaussianMixture.Preset(64, 5))) Assert.That(p.Kernel, Is.EqualTo(GmmKernel.PerRow), "d = 64");
        using (var p = (OpenClGaussianMixtureScore)b.Prepare(GaussianMixture.Preset(1024, 5))) Assert.That(p.Kernel, Is.EqualTo(GmmKernel.Rows), "d = 1024");
        using (var p = (OpenClGaussianMixtureScore)b.Prepare(GaussianMixture.Preset(256, 20))) Assert.That(p.Kernel, Is.EqualTo(GmmKernel.Rows), "d = 256, K = 20");
        using (var p = (OpenClGaussianMixtureScore)b.Prepare(GaussianMixture.Preset(255, 20))) Assert.That(p.Kernel, Is.EqualTo(GmmKernel.OnePass), "d = 255, K = 20");
    }

    [TestCase("GRW", "48")]
    [TestCase("GRV", "3")]
    [TestCase("GRR", "0")]
    [TestCase("GRD", "many")]
    public void BadRowKernelTunablesAreRejected(string name, string value)
    {
        using var b = new OpenClBackend(Cl.Device, new OpenClOptions { ExtraDefines = new Dictionary<string, string> { [name] = value } });
        var e = Assert.Throws<ArgumentException>(() => b.Prepare(GaussianMixture.Preset(300, 2)));
        Assert.That(e!.Message, Does.Contain(name));
    }
}
