using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using NUnit.Framework;
using ClDiffusion.Backends.Cpu;

namespace ClDiffusion.Tests.Mlp;

/// <summary>The CPU MLP's BLAS engine against the managed one, its batch invariance, and the fallback when no BLAS is found.</summary>
public class MlpBlasTests
{
    static BlasLibrary Blas()
    {
        if (BlasLibrary.Default is { } b) return b;
        if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail($"CI=true but no BLAS: {BlasLibrary.DefaultDescription} (tools/test.sh installs libopenblas0-pthread)");
        Assert.Ignore($"no BLAS on this machine: {BlasLibrary.DefaultDescription}");
        return null!;
    }

    static (float[] x, float[] t) Rows(int rows, int d)
    {
        var key = new RandomKey(21, 0, Purpose.Test);
        var x = new float[rows * d]; var t = new float[rows];
        key.Normals(0, x);
        for (int r = 0; r < rows; r++) t[r] = 0.01f + 7.9f * key.WithStep(1).Uniform(r, 0);
        return (x, t);
    }

    [Category("Blas")]   // needs a BLAS: left out of tools/test.sh's rerun without one
    [TestCase(MlpPrediction.Eps, 3, 300, 300)]   // tails in rows (300 = 256 + 44), inputs and outputs
    [TestCase(MlpPrediction.X0, 17, 70, 257)]
    [TestCase(MlpPrediction.Score, 1, 33, 5)]
    public void BlasEngineMatchesManagedAndFloat64(MlpPrediction p, int d, int width, int rows)
    {
        var blas = Blas();
        var m = SafetensorsTests.SmallModel(d: d, width: width, hidden: 2, F: 3, p: p);
        var (x, t) = Rows(rows, d);
        var viaBlas = new float[rows * d]; var managed = new float[rows * d];
        var sb = new MlpCpuScore(m, 2, CpuGemm.Blas, blas);
        Assert.That(Enumerable.Range(0, m.Layers.Count).All(sb.LayerUsesBlas), sb.Engine);
        Assert.That(sb.Engine, Does.StartWith("BLAS"));
        sb.ScoreBatch(x, t, viaBlas);
        new MlpCpuScore(m, 2, CpuGemm.Managed, blas).ScoreBatch(x, t, managed);
        var refRow = new double[d];
        double worst = 0, worstVsManaged = 0;
        for (int r = 0; r < rows; r++)
        {
            m.ScoreReference(x.AsSpan(r * d, d), t[r], refRow);
            for (int j = 0; j < d; j++)
            {
                worst = Math.Max(worst, Math.Abs(viaBlas[r * d + j] - refRow[j]) / (1 + Math.Abs(refRow[j])));
                worstVsManaged = Math.Max(worstVsManaged, Math.Abs(viaBlas[r * d + j] - managed[r * d + j]) / (1 + Math.Abs(managed[r * d + j])));
            }
        }
        Assert.That(worst, Is.LessThan(1e-4));
        Assert.That(worstVsManaged, Is.LessThan(1e-4));
        // rows are independent: a sub-batch on one thread agrees (to rounding: OpenBLAS's bits depend on a row's position)
        int sub = Math.Min(rows, 7), start = rows - sub;
        var part = new float[sub * d];
        new MlpCpuScore(m, 1, CpuGemm.Blas, blas).ScoreBatch(x.AsSpan(start * d, sub * d), t.AsSpan(start, sub), part);
        for (int i = 0; i < part.Length; i++) Assert.That(part[i], Is.EqualTo(viaBlas[start * d + i]).Within(1e-5 * (1 + Math.Abs(part[i]))));
    }

    [Test]
    public void MissingBlasFallsBackToTheManagedEngine()
    {
        Assert.That(BlasLibrary.Load("/nonexistent/libopenblas-missing.so.0", out var why), Is.Null);
        Assert.That(why, Does.Contain("not found"));
        Assert.That(BlasLibrary.Load("off", out why), Is.Null);
        Assert.That(why, Does.Contain("off"));
        // a library that loads but is no BLAS
        Assert.That(BlasLibrary.Load(OperatingSystem.IsWindows() ? "kernel32.dll" : OperatingSystem.IsMacOS() ? "libSystem.dylib" : "libc.so.6", out why), Is.Null);
        Assert.That(why, Does.Contain("no cblas_sgemm"));

        var m = SafetensorsTests.SmallModel(d: 5, width: 40, hidden: 2, F: 2);
        var (x, t) = Rows(90, 5);
        var none = new MlpCpuScore(m, 2, CpuGemm.Blas, null);
        Assert.That(none.Engine, Does.StartWith("managed"));
        Assert.That(Enumerable.Range(0, m.Layers.Count).Any(none.LayerUsesBlas), Is.False);
        var a = new float[x.Length]; var b = new float[x.Length];
        none.ScoreBatch(x, t, a);
        new MlpCpuScore(m, 2, CpuGemm.Managed, null).ScoreBatch(x, t, b);
        Assert.That(a, Is.EqualTo(b));
    }

    [Test]
    public void EngineSettingIsParsedStrictly()
    {
        Assert.That(MlpCpuScore.ParseGemm(null), Is.EqualTo(CpuGemm.Auto));
        Assert.That(MlpCpuScore.ParseGemm(" BLAS "), Is.EqualTo(CpuGemm.Blas));
        Assert.That(MlpCpuScore.ParseGemm("managed"), Is.EqualTo(CpuGemm.Managed));
        Assert.That(() => MlpCpuScore.ParseGemm("fast"), Throws.ArgumentException.With.Message.Contains("CLDIFF_CPU_GEMM"));
    }

    [Test, Category("Blas")]
    public void BlasSgemmMatchesTheManagedOne()
    {
        var blas = Blas();
        var key = new RandomKey(8, 0, Purpose.Test);
        foreach (var (m, k, n) in new[] { (1, 1, 1), (37, 70, 83), (256, 34, 48) })
        {
            var a = new float[m * k]; var b = new float[k * n];
            key.WithStep(1).Normals(k, a); key.WithStep(2).Normals(n, b);
            var c1 = new float[m * n]; var c2 = new float[m * n];
            blas.Multiply(a, b, c1, m, k, n);
            Sgemm.Multiply(a, b, c2, m, k, n, default);
            for (int i = 0; i < c1.Length; i++) Assert.That(c1[i], Is.EqualTo(c2[i]).Within(1e-5 * (1 + Math.Abs(c2[i]))));
        }
        Assert.That(() => blas.Multiply(new float[3], new float[4], new float[4], 2, 2, 2), Throws.ArgumentException);
    }
}
