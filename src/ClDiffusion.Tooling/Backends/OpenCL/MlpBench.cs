using System.Diagnostics;
using System.Runtime.Intrinsics.X86;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Backends.OpenCL.Tuning;
using ClDiffusion.Backends.Cpu;

namespace ClDiffusion.Tooling.OpenCL;

/// <summary>One benchmark line: a width x batch MLP forward (score) on the OpenCL device and on the managed CPU path.</summary>
public sealed record MlpBenchResult(int Width, int Batch, double ClMs, double ClGflops, double CpuMs, double CpuGflops, string Config);

/// <summary>One engine on one network and batch: median time of a call, its rate, its share of the FP32 peak and its ratio to the BLAS sgemm reference of the same run.</summary>
public sealed record MlpBenchLine(string Network, int Batch, string Engine, double Ms, double Gflops, double PeakShare, double VsBlas);

/// <summary>
/// MLP score throughput. The default network is d = 2, F = 16 time frequencies, depth 3 (Linear(34, w) SiLU,
/// Linear(w, w) SiLU, Linear(w, w) SiLU, Linear(w, 2); the shape of the shipped checkerboard model), eps prediction,
/// every row with its own time; any network (<see cref="Model"/>'s arguments, or a loaded model) can be measured.
/// FLOPs counted: 2 * rows * in * out per layer (bias, SiLU, time features and the score conversion are not counted).
/// Every engine is warmed up until its call time is stable (<see cref="WarmUp"/>), then the engines are timed in
/// alternating rounds (median of the per-call times in a round, median over rounds), so ratios come from the same
/// run. The reference is OpenBLAS's sgemm on the same GEMMs (each layer's rows x in x out, all cores, no epilogue);
/// tools/gpu/torch_mlp_bench.py times the same shapes with PyTorch on NVIDIA.
/// </summary>
public static class MlpBench
{
    public const int Dim = 2, Frequencies = 16, Depth = 3;

    /// <summary>The benchmark network of width w (deterministic weights, torch's default init scale).</summary>
    public static MlpModel Model(int width, int dim = Dim, int frequencies = Frequencies, int depth = Depth)
    {
        var layers = new List<MlpLayer>();
        int inW = dim + 2 * frequencies;
        for (int l = 0; l <= depth; l++)
        {
            int o = l == depth ? dim : width;
            var key = new RandomKey(17, (uint)l, Purpose.Test);
            var w = new float[o * inW]; var b = new float[o];
            float bound = 1 / MathF.Sqrt(inW);
            for (int i = 0; i < w.Length; i++) w[i] = (2 * key.Uniform(i / 1024, i % 1024) - 1) * bound;
            for (int i = 0; i < b.Length; i++) b[i] = (2 * key.WithStep(1).Uniform(0, i) - 1) * bound;
            layers.Add(new MlpLayer(inW, o, w, b));
            inW = o;
        }
        var freqs = Enumerable.Range(0, frequencies).Select(i => (float)(0.1 * Math.Pow(500, i / Math.Max(frequencies - 1.0, 1)))).ToArray();
        return new MlpModel(layers, freqs, new float[dim], Enumerable.Repeat(1f, dim).ToArray(), MlpPrediction.Eps);
    }

    public static double Flops(MlpModel m, int rows) => m.Layers.Sum(l => 2.0 * rows * l.In * l.Out);

    /// <summary>A short name of a network's shape: "d2-34x256-256x256-256x256-256x2".</summary>
    public static string Describe(MlpModel m) => $"d{m.Dim}-" + string.Join("-", m.Layers.Select(l => $"{l.In}x{l.Out}"));

    /// <summary>
    /// Calls <paramref name="call"/> until its time is stable: at least 3 calls, then until the median of the last 3
    /// is within 5% of the median of the 3 before (tiered JIT, BLAS buffers, OpenCL program caches settle), at most
    /// <paramref name="maxCalls"/> calls or <paramref name="maxSeconds"/>. Returns the number of calls made.
    /// </summary>
    public static int WarmUp(Action call, int maxCalls = 40, double maxSeconds = 5)
    {
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < maxCalls && total.Elapsed.TotalSeconds < maxSeconds)
        {
            var sw = Stopwatch.StartNew(); call(); times.Add(sw.Elapsed.TotalMilliseconds);
            if (times.Count >= 6)
            {
                double last = Median(times.Skip(times.Count - 3)), before = Median(times.Skip(times.Count - 6).Take(3));
                if (Math.Abs(last - before) <= 0.05 * before) break;
            }
        }
        return times.Count;
    }

    static double Median(IEnumerable<double> xs)
    {
        var t = xs.OrderBy(v => v).ToArray();
        return t.Length % 2 == 1 ? t[t.Length / 2] : 0.5 * (t[t.Length / 2 - 1] + t[t.Length / 2]);
    }

    static double Time(int reps, Action a)
    {
        var t = new double[reps];
        for (int i = 0; i < reps; i++) { var sw = Stopwatch.StartNew(); a(); t[i] = sw.Elapsed.TotalMilliseconds; }
        return Median(t);
    }

    /// <summary>
    /// Measures the engines on one network and batch: "blas-sgemm" (the reference, when a BLAS is found), "cpu" (the CPU
    /// backend's MLP with its default engines), "cpu-managed" (managed SGEMM only), and "opencl" when a backend is given.
    /// Each engine is warmed up until stable, then all are timed in <paramref name="rounds"/> alternating rounds of
    /// <paramref name="reps"/> calls; peakGflops &lt;= 0 leaves the peak share NaN.
    /// </summary>
    public static IReadOnlyList<MlpBenchLine> Compare(MlpModel model, int batch, OpenClBackend? cl, MlpKernelConfig? config,
        int reps, int rounds, double peakGflops, bool cpu = true, string? network = null)
    {
        if (reps < 1 || rounds < 1) throw new ArgumentException("repetitions and rounds must be positive");
        if (batch < 1) throw new ArgumentException("bench batches must be positive");
        int d = model.Dim, threads = Environment.ProcessorCount;
        network ??= Describe(model);
        var key = new RandomKey(3, 0, Purpose.Test);
        var xs = new float[batch * d]; key.Normals(0, xs);
        var ts = new float[batch];
        for (int r = 0; r < batch; r++) ts[r] = 0.01f + 7.99f * r / batch;
        var sc = new float[batch * d];
        var engines = new List<(string Name, Action Call)>();
        var own = new List<IDisposable>();
        try
        {
            var blas = BlasLibrary.Default;
            if (blas is not null && cpu)
            {
                // The reference: the network's GEMMs alone, each one call over the whole batch on all cores.
                var bufs = model.Layers.Select(l => (A: Filled(batch * l.In), B: Filled(l.In * l.Out), C: new float[batch * l.Out], l.In, l.Out)).ToArray();
                engines.Add(("blas-sgemm", () =>
                {
                    blas.SetThreads(threads);
                    try { foreach (var g in bufs) blas.Multiply(g.A, g.B, g.C, batch, g.In, g.Out); }
                    finally { blas.SetThreads(1); }
                }));
            }
            if (cpu)
            {
                var auto = new MlpCpuScore(model); own.Add(auto);
                var managed = new MlpCpuScore(model, 0, CpuGemm.Managed, null); own.Add(managed);
                engines.Add(($"cpu ({auto.Engine})", () => auto.ScoreBatch(xs, ts, sc)));
                engines.Add(($"cpu-managed", () => managed.ScoreBatch(xs, ts, sc)));
            }
            if (cl is not null)
            {
                var prepared = new OpenClMlpScore(cl, model, config); own.Add(prepared);
                var x = cl.Allocate(batch, d); own.Add(x);
                var s = cl.Allocate(batch, d); own.Add(s);
                var off = cl.Allocate(batch, 1); own.Add(off);
                cl.Upload(x, xs);
                cl.Upload(off, ts.Select(t => -t).ToArray()); // t_r = 0 - 1 * off[r]
                engines.Add(($"opencl ({prepared.Config})", () => { cl.Score(prepared, x, 0f, 1f, off, s); cl.Finish(); }));
            }
            foreach (var e in engines) WarmUp(e.Call);
            var perRound = engines.Select(_ => new List<double>()).ToArray();
            for (int round = 0; round < rounds; round++)
                for (int e = 0; e < engines.Count; e++) perRound[e].Add(Time(reps, engines[e].Call));
            double flops = Flops(model, batch);
            var ms = perRound.Select(Median).ToArray();
            double blasMs = engines.Count > 0 && engines[0].Name == "blas-sgemm" ? ms[0] : double.NaN;
            return engines.Select((e, i) =>
            {
                double g = flops / ms[i] / 1e6;
                return new MlpBenchLine(network, batch, e.Name, ms[i], g, peakGflops > 0 ? g / peakGflops : double.NaN, blasMs / ms[i]);
            }).ToList();
        }
        finally { foreach (var o in own) o.Dispose(); }
    }

    static float[] Filled(int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = 0.5f - (i % 13) * 0.03f;
        return a;
    }

    /// <summary>The lines as a table.</summary>
    public static string Format(IEnumerable<MlpBenchLine> lines) =>
        string.Join("\n", new[] { $"{"network",-36} {"batch",7} {"ms",9} {"GFLOP/s",8} {"peak",6} {"x blas",7}  engine" }
            .Concat(lines.Select(l => $"{l.Network,-36} {l.Batch,7} {l.Ms,9:F3} {l.Gflops,8:F1} {(double.IsNaN(l.PeakShare) ? "-" : $"{100 * l.PeakShare:F0}%"),6} {(double.IsNaN(l.VsBlas) ? "-" : $"{l.VsBlas:F2}"),7}  {l.Engine}")));

    /// <summary>
    /// The FP32 peak of a device in GFLOP/s from its clock and units, with how it was estimated; (NaN, reason) when
    /// it cannot be known (pass it explicitly). CPUs: cores x clock x FLOP per cycle per core (32 with two 256-bit FMA
    /// pipes, which AMD Zen 4 also has for AVX-512; 64 for two 512-bit FMA units, assumed for Intel AVX-512 and Zen 5).
    /// NVIDIA GPUs: SMs x 128 FP32 lanes x 2 x clock.
    /// </summary>
    public static (double Gflops, string How) Peak(ClDevice? device)
    {
        if (device is null || device.TypeName == "cpu") return CpuPeak();
        if (device.Vendor.Contains("NVIDIA", StringComparison.OrdinalIgnoreCase) && device.MaxClockMHz > 0)
            return (device.ComputeUnits * 128 * 2.0 * device.MaxClockMHz / 1000, $"{device.ComputeUnits} SMs x 128 lanes x 2 x {device.MaxClockMHz} MHz");
        return (double.NaN, "unknown for this device (pass --peak-gflops)");
    }

    static (double, string) CpuPeak()
    {
        double mhz = 0; string vendor = ""; int family = 0;
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                var kv = line.Split(':', 2);
                if (kv.Length < 2) continue;
                string k = kv[0].Trim(), v = kv[1].Trim();
                if (k == "cpu MHz" && double.TryParse(v, System.Globalization.CultureInfo.InvariantCulture, out var f)) mhz = Math.Max(mhz, f);
                else if (k == "vendor_id") vendor = v;
                else if (k == "cpu family" && int.TryParse(v, out var fam)) family = fam;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        if (mhz <= 0) return (double.NaN, "CPU clock unknown (pass --peak-gflops)");
        int perCycle = !Fma.IsSupported ? 8 : !Avx512F.IsSupported ? 32 : vendor == "AuthenticAMD" && family < 0x1A ? 32 : 64;
        int cores = Environment.ProcessorCount;
        return (cores * mhz / 1000 * perCycle, $"estimate: {cores} cores x {mhz:F0} MHz x {perCycle} FLOP/cycle");
    }

    /// <summary>The former two-column form (OpenCL and the CPU backend's MLP): kept for the tests and tools/gpu.</summary>
    public static IReadOnlyList<MlpBenchResult> Run(OpenClBackend b, IEnumerable<int> widths, IEnumerable<int> batches,
        int reps = 5, bool cpu = true, MlpKernelConfig? config = null)
    {
        if (reps < 1) throw new ArgumentException("repetitions must be positive");
        var results = new List<MlpBenchResult>();
        foreach (int w in widths)
        {
            if (w < 1) throw new ArgumentException("bench widths and batches must be positive");
            var model = Model(w);
            foreach (int n in batches)
            {
                var lines = Compare(model, n, b, config, reps, 1, double.NaN, cpu);
                var clLine = lines.Single(l => l.Engine.StartsWith("opencl"));
                var cpuLine = lines.FirstOrDefault(l => l.Engine.StartsWith("cpu ("));
                results.Add(new(w, n, clLine.Ms, clLine.Gflops, cpuLine?.Ms ?? double.NaN, cpuLine?.Gflops ?? double.NaN, clLine.Engine));
            }
        }
        return results;
    }

    /// <summary>The two-column table as text (the same columns as tools/gpu/torch_mlp_bench.py).</summary>
    public static string Format(IEnumerable<MlpBenchResult> rs) =>
        string.Join("\n", new[] { $"{"width",6} {"batch",7} {"ms",10} {"GFLOP/s",9} {"cpu ms",10} {"cpu GFLOP/s",11}" }
            .Concat(rs.Select(r => $"{r.Width,6} {r.Batch,7} {r.ClMs,10:F3} {r.ClGflops,9:F1} {r.CpuMs,10:F3} {r.CpuGflops,11:F1}")));
}
