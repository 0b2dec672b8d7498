using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Backends.OpenCL.Tuning;

namespace ClDiffusion.Tooling.OpenCL;

/// <summary>A problem shape: rows x d (e.g. "8192x64").</summary>
public sealed record TuningShape(int Rows, int Dim)
{
    /// <summary>The d-keyed class (<see cref="KernelSpace.ShapeClass(int)"/>); a family may key differently (<see cref="KernelSpace.ShapeClassOf"/>).</summary>
    public string ShapeClass => KernelSpace.ShapeClass(Dim);
    public override string ToString() => $"{Rows}x{Dim}";

    public static TuningShape Parse(string s)
    {
        var p = s.Trim().ToLowerInvariant().Split('x');
        if (p.Length != 2 || !int.TryParse(p[0], out int r) || !int.TryParse(p[1], out int d) || r < 1 || d < 1)
            throw new ArgumentException($"shape '{s}' is not ROWSxD with positive integers (e.g. 8192x64)");
        return new(r, d);
    }

    public static IReadOnlyList<TuningShape> ParseList(string s) =>
        s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).ToArray();
}

/// <summary>
/// An output buffer with guard rows: the kernel sees a [rows, cols] buffer whose memory continues with
/// <see cref="GuardRows"/> rows filled with a sentinel; after a run the guard rows must still hold the sentinel.
/// </summary>
public sealed class GuardedBuffer : IDisposable
{
    public const int GuardRows = 4;
    /// <summary>Sentinel bit pattern (a quiet NaN with a payload no kernel produces).</summary>
    public const uint SentinelBits = 0x7FC0DEADu;
    readonly OpenClBuffer storage;
    public OpenClBuffer View { get; }
    public int Rows { get; }
    public int Cols { get; }
    readonly OpenClBackend b;

    public GuardedBuffer(OpenClBackend b, int rows, int cols)
    {
        this.b = b; Rows = rows; Cols = cols;
        storage = (OpenClBuffer)b.Allocate(rows + GuardRows, cols);
        View = new OpenClBuffer(b, rows, cols, storage.Mem);   // a view: never disposed itself, the storage owns the memory
    }

    /// <summary>Fills the whole storage (view and guard) with the sentinel.</summary>
    public void Fill()
    {
        var all = new float[storage.Length];
        Array.Fill(all, BitConverter.UInt32BitsToSingle(SentinelBits));
        b.Upload(storage, all);
    }

    /// <summary>Reads back (view, first guard violation or null).</summary>
    public (float[] data, string? violation) Read()
    {
        var all = new float[storage.Length];
        b.Download(storage, all);
        long n = (long)Rows * Cols;
        for (long i = n; i < all.Length; i++)
            if (BitConverter.SingleToUInt32Bits(all[i]) != SentinelBits)
                return (all[..(int)n], $"guard row {(i - n) / Math.Max(Cols, 1)} col {(i - n) % Math.Max(Cols, 1)} overwritten ({all[i]:G6})");
        return (all[..(int)n], null);
    }

    public void Dispose() => storage.Dispose();
}

/// <summary>One prepared benchmark case: inputs uploaded, CPU reference computed, guarded outputs allocated.</summary>
public sealed class TuningCase : IDisposable
{
    /// <summary>Enqueues the kernel(s) once on the OpenCL backend.</summary>
    public required Action Run { get; init; }
    /// <summary>Guarded outputs and the CPU reference of each.</summary>
    public required IReadOnlyList<(string Name, GuardedBuffer Out, float[] Expected)> Outputs { get; init; }
    /// <summary>Everything to dispose (inputs, outputs, prepared models).</summary>
    public List<IDisposable> Owned { get; } = new();
    public void Dispose() { foreach (var o in Owned) o.Dispose(); foreach (var o in Outputs) o.Out.Dispose(); }
}

/// <summary>
/// How to measure one kernel family: its parameter space, the options a candidate maps to, the work of one call
/// (bytes for GB/s) and a case (fixed-seed inputs, CPU reference). Extension point: an MLP kernel adds a subclass with
/// <see cref="TuningBenchmarks.Register"/> (and its space with <see cref="KernelSpace.Register"/>).
/// </summary>
public abstract class TuningBenchmark
{
    public abstract string Kernel { get; }
    public abstract KernelSpace Space { get; }
    /// <summary>Bound on max_i |cl_i - cpu_i| / max(|cpu_i|, 1).</summary>
    public virtual double Tolerance => 1e-4;
    /// <summary>Bytes one call moves (reads + writes) for GB/s.</summary>
    public abstract double Bytes(TuningShape s);
    public abstract TuningCase Prepare(OpenClBackend cl, CpuBackend cpu, TuningShape s, int seed);
    /// <summary>
    /// The case of one candidate: by default <see cref="Prepare(OpenClBackend, CpuBackend, TuningShape, int)"/> (the
    /// candidate is in the backend's options); a family whose parameters are not backend options (MLP tiles) reads them here.
    /// </summary>
    public virtual TuningCase Prepare(OpenClBackend cl, CpuBackend cpu, TuningShape s, int seed, IReadOnlyDictionary<string, int> candidate) => Prepare(cl, cpu, s, seed);
    /// <summary>Unit of the rate column: <see cref="Bytes"/> per second in GB/s, or GFLOP/s where Bytes counts FLOPs.</summary>
    public virtual string RateUnit => "GB/s";
    /// <summary>Shapes `cldiff tune` uses for this family when --shapes is not given.</summary>
    public virtual string DefaultShapes => "8192x64,2048x256";

    /// <summary>The backend options of a candidate: typed options for the known defines, ExtraDefines for the rest.</summary>
    public virtual OpenClOptions Options(IReadOnlyDictionary<string, int> c, OpenClOptions? baseOptions = null)
    {
        var o = (baseOptions ?? new OpenClOptions()) with { UseTuning = false };
        var extra = o.ExtraDefines is null ? new Dictionary<string, string>() : new Dictionary<string, string>(o.ExtraDefines);
        foreach (var (k, v) in c)
            switch (k)
            {
                case "WG": o = o with { WorkGroup = v }; break;
                case "VW": o = o with { VectorWidth = v }; break;
                case "WPT": o = o with { WorkPerItem = v }; break;
                case "NB": o = o with { NoiseBlocks = v }; break;
                case "GVW": o = o with { ScoreVectorWidth = v }; break;
                case "MW": o = o with { MidpointVectors = v }; break;
                default: extra[k] = v.ToString(); break;
            }
        return extra.Count > 0 ? o with { ExtraDefines = extra } : o;
    }

    /// <summary>The built-in defaults of this family's parameters (what an untuned backend uses).</summary>
    public virtual IReadOnlyDictionary<string, int> Defaults()
    {
        var o = new OpenClOptions();
        var all = new Dictionary<string, int> { ["WG"] = o.WorkGroup, ["VW"] = o.VectorWidth, ["WPT"] = o.WorkPerItem, ["NB"] = o.NoiseBlocks, ["GVW"] = o.ScoreVectorWidth, ["MW"] = o.MidpointVectors };
        return Space.Parameters.Where(p => all.ContainsKey(p.Name)).ToDictionary(p => p.Name, p => all[p.Name]);
    }

    /// <summary>The defaults an untuned backend uses on this device (the anneal start and the comparison baseline); device-independent unless overridden.</summary>
    public virtual IReadOnlyDictionary<string, int> Defaults(ClDevice device) => Defaults();

    protected static float[] Normals(int n, int seed)
    {
        var r = new System.Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()));
        return a;
    }

    /// <summary>The same data uploaded to both backends.</summary>
    protected static (IDeviceBuffer cpu, IDeviceBuffer cl) Both(TuningCase? owner, List<IDisposable> own, CpuBackend cpu, OpenClBackend cl, int rows, int cols, float[] data)
    {
        var a = cpu.Allocate(rows, cols); var b = cl.Allocate(rows, cols);
        cpu.Upload(a, data); cl.Upload(b, data);
        own.Add(a); own.Add(b);
        return (a, b);
    }

    protected static float[] Read(IBackend b, IDeviceBuffer x) { var o = new float[(long)x.Rows * x.Cols]; b.Download(x, o); return o; }
}

/// <summary>The benchmarks of the tuned kernel families (gmm, midpoint, langevin, lincomb, mlp) and any registered later.</summary>
public static class TuningBenchmarks
{
    static readonly List<TuningBenchmark> all = new() { new GmmBenchmark(), new GmmRowsBenchmark(), new MidpointBenchmark(), new LangevinBenchmark(), new LincombBenchmark(), new MlpBenchmark() };
    public static IReadOnlyList<TuningBenchmark> All { get { lock (all) return all.ToArray(); } }
    /// <summary>Extension point (an MLP kernel family): replaces a benchmark of the same kernel name.</summary>
    public static void Register(TuningBenchmark b) { lock (all) { all.RemoveAll(x => x.Kernel == b.Kernel); all.Add(b); } }
    public static TuningBenchmark ByName(string kernel) =>
        All.FirstOrDefault(b => b.Kernel == kernel) ?? throw new ArgumentException($"no tuning benchmark for kernel '{kernel}' ({string.Join(" | ", All.Select(b => b.Kernel))})");
}

/// <summary>Exact mixture score, K = 8 components (the gmm_logdet + gmm_score_vec pair, or the one-pass kernel when GVW does not divide d).</summary>
public sealed class GmmBenchmark : TuningBenchmark
{
    public const int Components = 8;
    public override string Kernel => "gmm";
    public override KernelSpace Space => KernelSpace.Gmm;
    public override double Tolerance => 1e-3;
    public override double Bytes(TuningShape s) => 2.0 * s.Rows * s.Dim * 4 + 2.0 * Components * s.Dim * 4;
    /// <summary>The per-row kernels at every d (GRD past any d): the work-group-per-row kernel is the "gmm-rows" family.</summary>
    public override OpenClOptions Options(IReadOnlyDictionary<string, int> c, OpenClOptions? baseOptions = null)
    {
        var o = base.Options(c, baseOptions);
        return o with { ExtraDefines = new Dictionary<string, string>(o.ExtraDefines ?? new Dictionary<string, string>()) { ["GRD"] = int.MaxValue.ToString() } };
    }
    public override TuningCase Prepare(OpenClBackend cl, CpuBackend cpu, TuningShape s, int seed)
    {
        var own = new List<IDisposable>();
        var (xc, xl) = Both(null, own, cpu, cl, s.Rows, s.Dim, Normals(s.Rows * s.Dim, seed));
        var model = GaussianMixture.Preset(s.Dim, Components);
        var pc = cpu.Prepare(model); var pl = cl.Prepare(model);
        own.Add(pc); own.Add(pl);
        return ScoreCase(cl, cpu, pc, pl, xc, xl, s, own);
    }

    /// <summary>The mixture score at forward time 0.5 on both backends: the OpenCL call timed, checked against the CPU's.</summary>
    internal static TuningCase ScoreCase(OpenClBackend cl, CpuBackend cpu, IPreparedScore pc, IPreparedScore pl, IDeviceBuffer xc, IDeviceBuffer xl,
        TuningShape s, List<IDisposable> own)
    {
        using var sc = cpu.Allocate(s.Rows, s.Dim);
        cpu.Score(pc, xc, 0.5f, 0f, null, sc);
        var o = new GuardedBuffer(cl, s.Rows, s.Dim);
        var c = new TuningCase { Run = () => cl.Score(pl, xl, 0.5f, 0f, null, o.View), Outputs = new[] { ("score", o, Read(cpu, sc)) } };
        c.Owned.AddRange(own);
        return c;
    }
}

/// <summary>The randomized-midpoint family with R = 4: MidpointPredict, PicardSums and MidpointFinal, timed together (rows = rows x R rows).</summary>
public sealed class MidpointBenchmark : TuningBenchmark
{
    public const int R = 4;
    public override string Kernel => "midpoint";
    public override KernelSpace Space => KernelSpace.Midpoint;
    static int Base(TuningShape s) => Math.Max(s.Rows / R, 1);
    // predict: x, s in (base rows), dst out (R x base); sums: x in, scores in and dst out (R x base); final: x in, scores in (R x base), dst out
    public override double Bytes(TuningShape s) { double row = s.Dim * 4.0, n = Base(s); return (2 * n + n * R) * row + (n + 2 * n * R) * row + (n * R + 2 * n) * row; }
    public override TuningCase Prepare(OpenClBackend cl, CpuBackend cpu, TuningShape s, int seed)
    {
        var own = new List<IDisposable>();
        int n = Base(s), d = s.Dim;
        const float h = 0.1f;
        var (xc, xl) = Both(null, own, cpu, cl, n, d, Normals(n * d, seed));
        var (s0c, s0l) = Both(null, own, cpu, cl, n, d, Normals(n * d, seed + 1));
        var (sic, sil) = Both(null, own, cpu, cl, n * R, d, Normals(n * R * d, seed + 2));
        using var ac0 = cpu.Allocate(n, R);
        cpu.DrawAlphas(ac0, new RandomKey((ulong)seed, 0, Purpose.Alpha), 0, AlphaLaw.Stratified, h);
        var (ac, al) = Both(null, own, cpu, cl, n, R, Read(cpu, ac0));
        using var pc = cpu.Allocate(n * R, d); using var qc = cpu.Allocate(n * R, d); using var fc = cpu.Allocate(n, d);
        cpu.MidpointPredict(pc, xc, s0c, ac, h); cpu.PicardSums(qc, xc, sic, ac, h); cpu.MidpointFinal(fc, xc, sic, ac, h);
        var po = new GuardedBuffer(cl, n * R, d); var qo = new GuardedBuffer(cl, n * R, d); var fo = new GuardedBuffer(cl, n, d);
        var c = new TuningCase
        {
            Run = () => { cl.MidpointPredict(po.View, xl, s0l, al, h); cl.PicardSums(qo.View, xl, sil, al, h); cl.MidpointFinal(fo.View, xl, sil, al, h); },
            Outputs = new[] { ("predict", po, Read(cpu, pc)), ("picard", qo, Read(cpu, qc)), ("final", fo, Read(cpu, fc)) },
        };
        c.Owned.AddRange(own);
        return c;
    }
}

/// <summary>One fused underdamped Langevin step (M = 1) with in-kernel Philox noise: x, v, scores in; x, v out.</summary>
public sealed class LangevinBenchmark : TuningBenchmark
{
    public override string Kernel => "langevin";
    public override KernelSpace Space => KernelSpace.Langevin;
    public override double Bytes(TuningShape s) => 5.0 * s.Rows * s.Dim * 4;
    public override TuningCase Prepare(OpenClBackend cl, CpuBackend cpu, TuningShape s, int seed)
    {
        var own = new List<IDisposable>();
        int n = s.Rows, d = s.Dim;
        var (xc, xl) = Both(null, own, cpu, cl, n, d, Normals(n * d, seed));
        var (vc, vl) = Both(null, own, cpu, cl, n, d, Normals(n * d, seed + 1));
        var (gc, gl) = Both(null, own, cpu, cl, n, d, Normals(n * d, seed + 2));
        var key = new RandomKey((ulong)seed, 3, Purpose.LangevinNoise);
        using var xo = cpu.Allocate(n, d); using var vo = cpu.Allocate(n, d);
        cpu.LangevinScan(xc, vc, gc, 1, 1.4f, 0.1f, key, 0, null, xo, vo);
        var xg = new GuardedBuffer(cl, n, d); var vg = new GuardedBuffer(cl, n, d);
        var c = new TuningCase
        {
            Run = () => cl.LangevinScan(xl, vl, gl, 1, 1.4f, 0.1f, key, 0, null, xg.View, vg.View),
            Outputs = new[] { ("x", xg, Read(cpu, xo)), ("v", vg, Read(cpu, vo)) },
        };
        c.Owned.AddRange(own);
        return c;
    }
}

/// <summary>Lincomb with 4 terms (the streaming kernels: 4 reads, 1 write).</summary>
public sealed class LincombBenchmark : TuningBenchmark
{
    public override string Kernel => "lincomb";
    public override KernelSpace Space => KernelSpace.Lincomb;
    public override double Bytes(TuningShape s) => 5.0 * s.Rows * s.Dim * 4;
    public override TuningCase Prepare(OpenClBackend cl, CpuBackend cpu, TuningShape s, int seed)
    {
        var own = new List<IDisposable>();
        int n = s.Rows, d = s.Dim;
        var t = Enumerable.Range(0, 4).Select(i => Both(null, own, cpu, cl, n, d, Normals(n * d, seed + i))).ToArray();
        float[] coef = { 0.5f, 2f, -1f, 0.25f };
        using var oc = cpu.Allocate(n, d);
        cpu.Lincomb(oc, t.Select((x, i) => new Term(coef[i], x.cpu)).ToArray());
        var og = new GuardedBuffer(cl, n, d);
        var terms = t.Select((x, i) => new Term(coef[i], x.cl)).ToArray();
        var c = new TuningCase { Run = () => cl.Lincomb(og.View, terms), Outputs = new[] { ("out", og, Read(cpu, oc)) } };
        c.Owned.AddRange(own);
        return c;
    }
}
