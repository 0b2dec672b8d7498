using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>
/// The mixture score's reciprocal paths (issue 18): a table of 1 / (a_t^2 var + s_t^2) per distinct time (gmm_inverse_var)
/// where it is small, the division in the loops where it is not (GIT = 0, or a time per row), and native_recip with one
/// Newton step (GRCP = 1), each in the per-row two-pass kernel and the work-group-per-row kernel, against the float64
/// closed form at shapes with tails (d not a multiple of the vector widths for the row kernel, K = 2 and 5, 71 rows; at
/// K = 1 a time per row makes a table no larger than x, so it takes the table path, which GmmRowsTests covers at K = 1).
/// Also which calls get a table, and that a bad GIT is refused.
/// </summary>
[TestFixture]
// Slow: one PoCL program per kernel variant (over a minute with a cold kernel cache); the default paths are checked by
// every OpenCL sampler agreement test, and CI runs the Slow category
[Category("Slow")]
public sealed class GmmInverseVarianceTests : OpenClTestBase
{
    readonly Dictionary<string, OpenClBackend> backends = new();

    /// <summary>A backend that runs <paramref name="kernel"/> at every d (GRD), with one extra define.</summary>
    OpenClBackend With(GmmKernel kernel, string define, string value)
    {
        string key = $"{kernel} {define}={value}";
        if (backends.TryGetValue(key, out var b)) return b;
        var defs = new Dictionary<string, string> { ["GRD"] = kernel == GmmKernel.Rows ? "1" : int.MaxValue.ToString(), [define] = value };
        return backends[key] = new OpenClBackend(Cl.Device, new OpenClOptions { ExtraDefines = defs });
    }

    [OneTimeTearDown]
    public void CloseVariantBackends() { foreach (var b in backends.Values) b.Dispose(); }

    public enum Path { Table, Divide, TimePerRow, TimePerRowNewton }

    [Test]
    public void EveryReciprocalPathMatchesFloat64([Values(GmmKernel.PerRow, GmmKernel.Rows)] GmmKernel kernel, [Values] Path path,
                                                 [Values(0, 1, 2)] int shape, [Values(2, 5)] int K)
    {
        const int rows = 71;
        // the per-row kernel needs d a multiple of GVW (8 by default); the row kernel takes any d (tails of GRV and GRW)
        int d = kernel == GmmKernel.PerRow ? new[] { 8, 24, 1024 }[shape] : new[] { 3, 300, 1031 }[shape];
        var g = GaussianMixture.Preset(d, K, seed: (ulong)(5 + d + K));
        var b = path switch
        {
            Path.Divide => With(kernel, "GIT", "0"),
            Path.TimePerRowNewton => With(kernel, "GRCP", "1"),
            _ => With(kernel, "GRCP", "0"),
        };
        bool perRow = path is Path.TimePerRow or Path.TimePerRowNewton;
        // a time per row (the randomized-midpoint case), or three times shared by the rows in turn (a table of 3 K d floats)
        var offsetSets = perRow
            ? new[] { Enumerable.Range(0, rows).Select(r => (r * 0.618034f) % 1f).ToArray() }
            : new[] { Array.Empty<float>(), new[] { 0f, 0.4f, 0.9f } };
        using (var p = (OpenClGaussianMixtureScore)b.Prepare(g))
        {
            Assert.That(p.Kernel, Is.EqualTo(kernel));
            foreach (var off in offsetSets)
                Assert.That(p.UsesTable(rows, Math.Max(off.Length, 1)), Is.EqualTo(path == Path.Table), $"table for {off.Length} offsets");
        }
        foreach (var off in offsetSets)
            foreach (float t0 in off.Length == 0 ? new[] { 0.01f, 0.5f, 3f } : new[] { 0.95f, 3f })
            {
                var x = GmmRowsTests.NearMixture(g, rows, t0, 0.9f, off, seed: d + K);
                var cl = GmmRowsTests.ScoreOn(b, g, x, rows, t0, 0.9f, off, null, out var used);
                Assert.That(used, Is.EqualTo(kernel));
                GmmRowsTests.Near(cl, GmmRowsTests.Reference(g, x, rows, t0, 0.9f, off, null), 5e-4, $"{kernel} {path}, d = {d}, K = {K}, {off.Length} offsets, t0 = {t0}");
            }
    }

    /// <summary>A table when it is small (GIT) and no larger than x (distinct times x K &lt;= rows); none with GIT = 0.</summary>
    [Test]
    public void TablesOnlyWhereTheyAreSmall()
    {
        var g = GaussianMixture.Preset(64, 4);
        using (var p = (OpenClGaussianMixtureScore)With(GmmKernel.PerRow, "GRCP", "0").Prepare(g))
        {
            Assert.That(p.UsesTable(100, 1), Is.True, "one time");
            Assert.That(p.UsesTable(100, 25), Is.True, "25 times x 4 components = 100 rows");
            Assert.That(p.UsesTable(100, 26), Is.False, "26 times x 4 components > 100 rows");
            Assert.That(p.UsesTable(100, 100), Is.False, "a time per row");
        }
        using (var p = (OpenClGaussianMixtureScore)With(GmmKernel.PerRow, "GIT", $"{4 * 64 * 2}").Prepare(g))
        {
            Assert.That(p.UsesTable(1000, 2), Is.True, "2 K d floats fit GIT = 2 K d");
            Assert.That(p.UsesTable(1000, 3), Is.False, "3 K d floats do not");
        }
        using (var p = (OpenClGaussianMixtureScore)With(GmmKernel.PerRow, "GIT", "0").Prepare(g))
            Assert.That(p.UsesTable(1000, 1), Is.False, "GIT = 0");
        // the one-pass fallback (d not a multiple of GVW) has no table path
        using (var p = (OpenClGaussianMixtureScore)With(GmmKernel.PerRow, "GRCP", "0").Prepare(GaussianMixture.Preset(63, 4)))
            Assert.That((p.Kernel, p.UsesTable(1000, 1)), Is.EqualTo((GmmKernel.OnePass, false)));
    }

    /// <summary>gmm_logdet's factors per log stay within float's range: the preset's variances allow many, extreme ones few.</summary>
    [Test]
    public void LogChunksFollowTheVarianceRange()
    {
        Assert.That(OpenClGaussianMixtureScore.SafeLogChunk(new[] { 0.15f, 0.5f }), Is.EqualTo(43));   // ln(1e36) / |ln 0.15|
        Assert.That(OpenClGaussianMixtureScore.SafeLogChunk(new[] { 1f, 1e-10f }), Is.EqualTo(3));
        Assert.That(OpenClGaussianMixtureScore.SafeLogChunk(new[] { 1e30f, 1f }), Is.EqualTo(1));
        Assert.That(OpenClGaussianMixtureScore.SafeLogChunk(new[] { 0f, 1f }), Is.EqualTo(1));
    }

    /// <summary>
    /// Variances up to 1e9 on every other coordinate (4 factors per log at most; 8 would overflow) with a time per row, so
    /// every row's log-determinant is multiplied up near t = 0 where the factors are the variances themselves: the score
    /// still matches float64 (small variances stay >= 1e-3, where float x still resolves the component's spread).
    /// </summary>
    [Test]
    public void ExtremeVariancesWithATimePerRowMatchFloat64([Values(GmmKernel.PerRow, GmmKernel.Rows)] GmmKernel kernel)
    {
        const int rows = 37, d = 1024, K = 3;
        var rng = new System.Random(3);
        var means = Enumerable.Range(0, K).Select(_ => Enumerable.Range(0, d).Select(_ => rng.NextDouble() * 2 - 1).ToArray()).ToArray();
        var vars = Enumerable.Range(0, K).Select(_ => Enumerable.Range(0, d).Select(j => j % 2 == 0 ? Math.Pow(10, 7 + 2 * rng.NextDouble()) : Math.Pow(10, -3 + 3 * rng.NextDouble())).ToArray()).ToArray();
        var g = new GaussianMixture(new[] { 0.3, 0.3, 0.4 }, means, vars);
        var off = Enumerable.Range(0, rows).Select(r => 0.999f + 0.001f * r / rows).ToArray();   // t = 1 - off: 1e-3 down to 3e-5
        var b = With(kernel, "GRCP", "0");
        var x = GmmRowsTests.NearMixture(g, rows, 1f, 1f, off, seed: 4);
        var cl = GmmRowsTests.ScoreOn(b, g, x, rows, 1f, 1f, off, null, out var used);
        Assert.That(used, Is.EqualTo(kernel));
        Assert.That(cl.All(float.IsFinite), "no overflow in the log-determinants");
        GmmRowsTests.Near(cl, GmmRowsTests.Reference(g, x, rows, 1f, 1f, off, null), 5e-4, $"{kernel}, variances up to 1e9");
    }

    [TestCase("-1")]
    [TestCase("many")]
    public void BadTableLimitIsRefused(string value)
    {
        using var b = new OpenClBackend(Cl.Device, new OpenClOptions { ExtraDefines = new Dictionary<string, string> { ["GIT"] = value } });
        var e = Assert.Throws<ArgumentException>(() => b.Prepare(GaussianMixture.Preset(64, 2)));
        Assert.That(e!.Message, Does.Contain("GIT"));
    }
}
