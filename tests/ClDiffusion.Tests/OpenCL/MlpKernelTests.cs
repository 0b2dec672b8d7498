using ClDiffusion.Tooling.OpenCL;
using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.Mlp;
using NUnit.Framework;
using ClDiffusion.Backends.Cpu;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>The OpenCL MLP score (cl/mlp.cl) against the float64 reference and the CPU path.</summary>
// Exhaustive (opt-in): PoCL compiles the register-blocked MLP kernels for minutes the first time (cold kernel cache)
[TestFixture, Category("Exhaustive")]
public sealed class MlpKernelTests : OpenClTestBase
{
    /// <summary>Tile configurations that all must agree: GPU and CPU defaults, odd tiles, vectors, local on and off.</summary>
    /// <remarks>The defaults fuse small networks into one launch; here fusion is off so that the GEMM kernels are the ones
    /// tested (FusedNetworkMatchesReferenceAndLayers tests the fused kernel with the defaults' other settings).</remarks>
    public static readonly MlpKernelConfig[] Configs =
    {
        MlpKernelConfig.Gpu with { FuseMaxWidth = 0 },
        MlpKernelConfig.Cpu with { FuseMaxWidth = 0 },
        new() { Mwg = 16, Nwg = 8, Kwg = 5, Mwi = 2, Nwi = 1, UseLocal = true },
        new() { Mwg = 32, Nwg = 32, Kwg = 8, Mwi = 4, Nwi = 8, Vwm = 4, Vwn = 8, UseLocal = true },
        new() { Mwg = 24, Nwg = 12, Kwg = 7, Mwi = 3, Nwi = 3, UseLocal = false },
        new() { Mwg = 8, Nwg = 16, Kwg = 32, Mwi = 2, Nwi = 4, Vwm = 2, Vwn = 2, UseLocal = false },
        new() { Mwg = 128, Nwg = 128, Kwg = 16, Mwi = 8, Nwi = 8, Vwm = 4, Vwn = 4, UseLocal = true },
        new() { Mwg = 3, Nwg = 16, Kwg = 16, Mwi = 3, Nwi = 16, Vwn = 8, UseLocal = false },
        // double-buffered local tiles: odd K steps (tails in K), vector W^T loads that cross N, odd M tiles
        new() { Mwg = 32, Nwg = 32, Kwg = 8, Mwi = 4, Nwi = 4, Vwm = 2, Vwn = 4, UseLocal = true, DoubleBuffer = true },
        new() { Mwg = 24, Nwg = 20, Kwg = 7, Mwi = 3, Nwi = 5, UseLocal = true, DoubleBuffer = true },
        new() { Mwg = 16, Nwg = 48, Kwg = 5, Mwi = 2, Nwi = 6, Vwn = 2, UseLocal = true, DoubleBuffer = true },
        MlpKernelConfig.Gpu with { DoubleBuffer = false, Vwn = 1, FuseMaxWidth = 0 },
        // direct (CPU) tiles with several items per group: unguarded loop for whole tiles, K unrolled 4 / 3 with tails,
        // float16 and float8 loads of W^T, mad() instead of fma()
        new() { Mwg = 8, Nwg = 32, Kwg = 4, Mwi = 4, Nwi = 16, Vwn = 16, UseLocal = false },
        new() { Mwg = 6, Nwg = 24, Kwg = 3, Mwi = 3, Nwi = 8, Vwn = 8, UseLocal = false, Fma = false },
    };

    /// <summary>
    /// The direct (CPU) variants in the shapes that reach every path: rows, widths and K that are not multiples of the
    /// tiles or of the K unroll (whole tiles take the unguarded loop, the last row and column of groups the guarded
    /// one), and 19 time frequencies (layer 0 computes them 16 at a time: one whole block and a tail of 3).
    /// </summary>
    public static IEnumerable<MlpKernelConfig> DirectConfigs()
    {
        yield return MlpKernelConfig.Cpu;
        yield return new() { Mwg = 8, Nwg = 32, Kwg = 4, Mwi = 4, Nwi = 16, Vwn = 16, UseLocal = false };
        yield return new() { Mwg = 16, Nwg = 128, Kwg = 8, Mwi = 8, Nwi = 32, Vwn = 16, UseLocal = false };
        yield return new() { Mwg = 6, Nwg = 24, Kwg = 3, Mwi = 3, Nwi = 8, Vwm = 1, Vwn = 8, UseLocal = false, Fma = false };
        yield return new() { Mwg = 8, Nwg = 16, Kwg = 5, Mwi = 4, Nwi = 4, Vwm = 2, Vwn = 4, UseLocal = false };
        // what the shipped database gives any PoCL CPU (tuning/pocl-cpu.json, platform entries)
        var pocl = new ClDiffusion.Backends.OpenCL.Tuning.DeviceDescription("any", "any cpu", "0", 2, 4096, 0, "Portable Computing Language", "cpu");
        foreach (int w in new[] { 256, 1024 })
            if (ClDiffusion.Backends.OpenCL.Tuning.TuningDatabase.Shipped.Lookup(pocl, "mlp", w) is { } e)
                yield return ClDiffusion.Backends.OpenCL.Tuning.MlpTuning.ToConfig(e.Parameters, MlpKernelConfig.Cpu);
    }

    [Test]   // every direct variant compiles its own PoCL program (85 s with a cold kernel cache)
    public void DirectVariantsMatchReferenceAtOddShapes()
    {
        foreach (var (width, F, depth) in new[] { (37, 19, 2), (130, 16, 1), (67, 3, 0) })
        {
            var m = MlpBench.Model(width, dim: 3, frequencies: F, depth: depth);
            const int rows = 301;
            var (x, off) = Inputs(rows, 3, width);
            var local = ClScore(m, x, rows, 8f, 1f, off, Configs[0]);
            foreach (var cfg in DirectConfigs())
            {
                var s = ClScore(m, x, rows, 8f, 1f, off, cfg);
                Assert.That(WorstError(m, x, s, rows, r => 8f - off[r % 7]), Is.LessThan(2e-4), $"width {width}, F {F}: {cfg}");
                Close(local, s, 1e-4, 1e-5, $"width {width}, F {F}: {cfg} vs {Configs[0]}");
            }
        }
    }

    static (float[] x, float[] offsets) Inputs(int rows, int d, int seed)
    {
        var key = new RandomKey((ulong)seed, 0, Purpose.Test);
        var x = new float[rows * d];
        for (int r = 0; r < rows; r++) key.Normals(r, x.AsSpan(r * d, d));
        // 7 offsets in [0, 7.8] (a period that divides no tile size); the tests use t_r = 8 - off[r % 7] in [0.2, 8]
        var off = Enumerable.Range(0, 7).Select(i => 7.8f * i / 6f).ToArray();
        return (x, off);
    }

    /// <summary>OpenCL scores for x with per-row times t_r = t0 - slope * off[r % off.Length].</summary>
    float[] ClScore(MlpModel m, float[] x, int rows, float t0, float slope, float[]? off, MlpKernelConfig? cfg)
    {
        using var p = new OpenClMlpScore(Cl, m, cfg);
        using var xb = Cl.Allocate(rows, m.Dim); using var sb = Cl.Allocate(rows, m.Dim);
        Cl.Upload(xb, x);
        IDeviceBuffer? ob = null;
        if (off is not null) { ob = Cl.Allocate(1, off.Length); Cl.Upload(ob, off); }
        try { Cl.Score(p, xb, t0, slope, ob, sb); return Read(Cl, sb); }
        finally { ob?.Dispose(); }
    }

    /// <summary>max |cl - ref| / (1 + |ref|) over all elements, the reference in float64.</summary>
    static double WorstError(MlpModel m, float[] x, float[] s, int rows, Func<int, float> time)
    {
        int d = m.Dim;
        var refRow = new double[d];
        double worst = 0;
        for (int r = 0; r < rows; r++)
        {
            m.ScoreReference(x.AsSpan(r * d, d), time(r), refRow);
            for (int j = 0; j < d; j++)
            {
                double e = Math.Abs(s[r * d + j] - refRow[j]) / (1 + Math.Abs(refRow[j]));
                if (!(e <= worst)) worst = e; // NaN sticks
            }
        }
        return worst;
    }

    public static IEnumerable<TestCaseData> Shapes()
    {
        var ps = new[] { MlpPrediction.Eps, MlpPrediction.Score, MlpPrediction.X0 };
        int i = 0;
        foreach (int d in new[] { 1, 3, 17, 64 })
            foreach (int w in new[] { 5, 33, 128 })
            {
                var p = ps[i % 3];
                int rows = new[] { 1, 7, 300 }[(i / 3 + i) % 3];
                yield return new TestCaseData(d, w, rows, p).SetName($"MlpScoreMatchesReference(d={d},w={w},rows={rows},{p})");
                i++;
            }
        // every prediction type at the largest row count and a one-layer network (first == last layer)
        foreach (var p in ps) yield return new TestCaseData(17, 33, 300, p).SetName($"MlpScoreMatchesReference(d=17,w=33,rows=300,{p},all)");
    }

    [Test, TestCaseSource(nameof(Shapes))]
    public void MlpScoreMatchesReference(int d, int width, int rows, MlpPrediction p)
    {
        var m = SafetensorsTests.SmallModel(d: d, width: width, hidden: 2, F: 3, seed: (ulong)(d * 131 + width), p: p);
        var (x, off) = Inputs(rows, d, d + width);
        float t0 = 8f, slope = 1f; // t_r = 8 - off[r % 7] in [0.2, 8]
        var cfgs = rows == 300 && d == 17 ? Configs : new[] { Configs[0], Configs[1], Configs[2] };
        float[]? first = null;
        foreach (var cfg in cfgs)
        {
            var s = ClScore(m, x, rows, t0, slope, off, cfg);
            double err = WorstError(m, x, s, rows, r => t0 - slope * off[r % off.Length]);
            Assert.That(err, Is.LessThan(2e-4), $"{cfg}");
            if (first is null) first = s;
            else Close(first, s, 1e-4, 1e-5, $"{cfg} vs {Configs[0]}");
        }
        // and the CPU backend's batched path
        var cpu = new float[rows * d];
        var ts = Enumerable.Range(0, rows).Select(r => t0 - slope * off[r % off.Length]).ToArray();
        new MlpCpuScore(m, 1).ScoreBatch(x, ts, cpu);
        Close(cpu, first!, 2e-4, 2e-4, "cpu vs opencl");
    }

    [Test]
    public void OneLayerNetworkAndNoTimeFeatures()
    {
        foreach (var (hidden, F) in new[] { (0, 2), (1, 0), (0, 0) })
            foreach (var p in new[] { MlpPrediction.Eps, MlpPrediction.X0 })
            {
                var m = SafetensorsTests.SmallModel(d: 5, width: 9, hidden: hidden, F: F, seed: 3, p: p);
                var (x, off) = Inputs(70, 5, 4);
                foreach (var cfg in Configs.Take(3))
                {
                    var s = ClScore(m, x, 70, 8f, 1f, off, cfg);
                    Assert.That(WorstError(m, x, s, 70, r => 8f - off[r % 7]), Is.LessThan(2e-4), $"hidden={hidden} F={F} {p} {cfg}");
                }
            }
    }

    [Test]
    public void ScoreInPlaceOverX()
    {
        // IBackend primitives allow dst to alias the input: score written over x, also for a one-layer network
        // whose output tiles (NWG = 16 < d = 40) read columns that other groups write
        foreach (int hidden in new[] { 0, 2 })
        {
            var m = SafetensorsTests.SmallModel(d: 40, width: 20, hidden: hidden, F: 2, seed: 8, p: MlpPrediction.X0);
            var (x, off) = Inputs(50, 40, 12);
            using var p = new OpenClMlpScore(Cl, m, Configs[2] with { Nwg = 16, Nwi = 2 });
            using var xb = Cl.Allocate(50, 40); using var ob = Cl.Allocate(7, 1);
            Cl.Upload(xb, x); Cl.Upload(ob, off);
            Cl.Score(p, xb, 8f, 1f, ob, xb);
            Assert.That(WorstError(m, x, Read(Cl, xb), 50, r => 8f - off[r % 7]), Is.LessThan(2e-4), $"hidden={hidden}");
        }
    }

    [Test]
    public void SingleTimeAndRegistryPreparation()
    {
        // through IBackend.Prepare (the registry), offsets null: every row at t0
        var m = SafetensorsTests.SmallModel(d: 3, width: 33, hidden: 2, F: 3, p: MlpPrediction.X0);
        var (x, _) = Inputs(45, 3, 9);
        using var p = Cl.Prepare(m);
        Assert.That(p, Is.InstanceOf<OpenClMlpScore>());
        using var xb = Cl.Allocate(45, 3); using var sb = Cl.Allocate(45, 3);
        Cl.Upload(xb, x);
        Cl.Score(p, xb, 0.7f, 123f, null, sb);
        Assert.That(WorstError(m, x, Read(Cl, sb), 45, _ => 0.7f), Is.LessThan(2e-4));
        // more rows, then fewer: the activation buffers grow and are reused
        var (x2, off) = Inputs(500, 3, 10);
        using var xb2 = Cl.Allocate(500, 3); using var sb2 = Cl.Allocate(500, 3); using var ob = Cl.Allocate(7, 1);
        Cl.Upload(xb2, x2); Cl.Upload(ob, off);
        Cl.Score(p, xb2, 8f, 1f, ob, sb2);
        Assert.That(WorstError(m, x2, Read(Cl, sb2), 500, r => 8f - off[r % 7]), Is.LessThan(2e-4));
        Cl.Score(p, xb, 0.7f, 0f, null, sb);
        Assert.That(WorstError(m, x, Read(Cl, sb), 45, _ => 0.7f), Is.LessThan(2e-4));
    }

    [Test]
    public void ConfigValidationAndNarrowLastLayer()
    {
        Assert.Throws<ArgumentException>(() => new MlpKernelConfig { Mwg = 30, Mwi = 4 }.Validate());
        Assert.Throws<ArgumentException>(() => new MlpKernelConfig { Mwi = 4, Vwm = 8 }.Validate());
        var narrow = MlpKernelConfig.Gpu.ForOutputs(2);
        Assert.That((narrow.Nwg, narrow.Nwi), Is.EqualTo((2, 2)));
        narrow.Validate();
        Assert.That(MlpKernelConfig.Gpu.ForOutputs(64), Is.EqualTo(MlpKernelConfig.Gpu));
        new MlpKernelConfig { Nwg = 12, Nwi = 3, Vwn = 1 }.ForOutputs(3).Validate();
    }

    [TestCase("ei")]
    [TestCase("rm-pc")]
    public void CheckerboardSamplerCpuVsOpenCl(string sampler)
    {
        var path = Path.Combine(TestContext.CurrentContext.TestDirectory, "..", "..", "..", "..", "..", "models", "checkerboard.safetensors");
        var m = MlpModel.Load(Path.GetFullPath(path));
        var o = new SamplerOptions { Steps = 20, Delta = 1e-2 };
        var (a, _) = SampleRun.Run(Cpu, m, sampler, o, seed: 42, 300);
        var (b, st) = SampleRun.Run(Cl, m, sampler, o, seed: 42, 300);
        Assert.That(st.Device, Is.EqualTo(Cl.DeviceName));
        Close(a, b, 2e-3, 2e-3, sampler);
    }

    [Test]
    public void BenchRunsAndCountsFlops()
    {
        var rs = MlpBench.Run(Cl, new[] { 16 }, new[] { 64 }, reps: 1);
        Assert.That(rs, Has.Count.EqualTo(1));
        Assert.That(MlpBench.Flops(MlpBench.Model(16), 64), Is.EqualTo(2.0 * 64 * (34 * 16 + 16 * 16 * 2 + 16 * 2)));
        Assert.That(rs[0].ClGflops, Is.GreaterThan(0));
        Assert.That(MlpBench.Format(rs), Does.Contain("GFLOP/s"));
    }

    /// <summary>
    /// The whole-network kernel (cl/mlp_fused.cl) at odd shapes: rows that leave a partial group, odd rows per group,
    /// work groups narrower than the layer, no time features, one and three hidden-to-hidden layers, every prediction
    /// type, and in place over x; against the float64 reference and the layer-by-layer kernels.
    /// </summary>
    [TestCase(1, 37, 1, 3, 5, 32, MlpPrediction.X0)]
    [TestCase(17, 37, 3, 0, 3, 64, MlpPrediction.Eps)]
    [TestCase(3, 130, 2, 2, 16, 64, MlpPrediction.Score)]
    [TestCase(64, 256, 2, 3, 8, 128, MlpPrediction.X0)]
    public void FusedNetworkMatchesReferenceAndLayers(int d, int width, int hidden, int F, int rb, int wgs, MlpPrediction p)
    {
        var m = SafetensorsTests.SmallModel(d: d, width: width, hidden: hidden, F: F, seed: (ulong)(d + width), p: p);
        var cfg = MlpKernelConfig.Gpu with { FuseMaxWidth = 256, FusedRows = rb, FusedGroup = wgs };
        using var sc = new OpenClMlpScore(Cl, m, cfg);
        Assert.That(sc.Fused, sc.FusedReason);
        foreach (int rows in new[] { 1, 7, 301 })
        {
            var (x, off) = Inputs(rows, d, rows + d);
            var s = ClScore(m, x, rows, 8f, 1f, off, cfg);
            Assert.That(WorstError(m, x, s, rows, r => 8f - off[r % 7]), Is.LessThan(2e-4), $"rows={rows}");
            var layered = ClScore(m, x, rows, 8f, 1f, off, cfg with { FuseMaxWidth = 0 });
            Close(layered, s, 1e-4, 1e-5, $"fused vs layers, rows={rows}");
        }
        // in place over x, every row at one time
        var (x2, _) = Inputs(45, d, 3);
        using var xb = Cl.Allocate(45, d);
        Cl.Upload(xb, x2);
        Cl.Score(sc, xb, 0.9f, 0f, null, xb);
        Assert.That(WorstError(m, x2, Read(Cl, xb), 45, _ => 0.9f), Is.LessThan(2e-4), "in place");
    }

    [Test]
    public void FusionIsRefusedWhereItCannotRun()
    {
        var cfg = MlpKernelConfig.Gpu;
        Assert.That(OpenClMlpScore.CanFuse(SafetensorsTests.SmallModel(d: 2, width: 300, hidden: 2, F: 2), cfg, 65536, 1024, out var why), Is.False);
        Assert.That(why, Does.Contain("300 > 256"));
        Assert.That(OpenClMlpScore.CanFuse(SafetensorsTests.SmallModel(d: 2, width: 8, hidden: 0, F: 2), cfg, 65536, 1024, out why), Is.False);
        Assert.That(why, Does.Contain("one-layer"));
        Assert.That(OpenClMlpScore.CanFuse(SafetensorsTests.SmallModel(d: 2, width: 256, hidden: 2, F: 2), cfg, 4096, 1024, out why), Is.False);
        Assert.That(why, Does.Contain("local memory"));
        Assert.That(OpenClMlpScore.CanFuse(SafetensorsTests.SmallModel(d: 2, width: 256, hidden: 2, F: 2), cfg with { FuseMaxWidth = 0 }, 65536, 1024, out why), Is.False);
        Assert.That(OpenClMlpScore.CanFuse(SafetensorsTests.SmallModel(d: 2, width: 256, hidden: 2, F: 2), cfg, 65536, 1024, out why), Is.True, why);
        // a network whose hidden widths differ runs layer by layer
        var a = SafetensorsTests.SmallModel(d: 2, width: 8, hidden: 1, F: 1);
        var wide = new MlpModel(new[] { a.Layers[0], new MlpLayer(8, 9, new float[72], new float[9]), new MlpLayer(9, 2, new float[18], new float[2]) },
            a.TimeFreqs, new float[2], new[] { 1f, 1f }, MlpPrediction.Eps);
        Assert.That(OpenClMlpScore.CanFuse(wide, cfg, 65536, 1024, out why), Is.False);
        Assert.That(why, Does.Contain("differ"));
    }
}
