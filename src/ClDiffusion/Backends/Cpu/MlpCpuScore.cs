using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;

namespace ClDiffusion.Backends.Cpu;

/// <summary>Plugs <see cref="MlpModel"/> into the CPU backend through <see cref="CpuScoreRegistry"/>.</summary>
public static class MlpCpu
{
    static int registered;

    /// <summary>Runs when the library loads, so `new CpuBackend().Prepare(mlp)` just works.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the library registers its own CPU preparation")]
    internal static void Init() => Register();

    /// <summary>Registers the MLP preparation once (idempotent).</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref registered, 1) == 1) return;
        CpuScoreRegistry.Register((model, _) => model is MlpModel m ? new MlpCpuScore(m) : null);
    }
}

/// <summary>How the CPU MLP multiplies: pick per layer shape by measuring (<see cref="Auto"/>), or force one engine.</summary>
public enum CpuGemm
{
    /// <summary>Per layer shape, whichever of the managed SGEMM and the BLAS measured faster (once per process).</summary>
    Auto,
    /// <summary>The managed <see cref="Sgemm"/> only (the same bits for every batching and thread count).</summary>
    Managed,
    /// <summary>The BLAS for every layer (managed when no BLAS was found).</summary>
    Blas,
}

/// <summary>
/// Batched MLP evaluation on the CPU. Two engines per layer:
/// <list type="bullet">
/// <item>managed: rows in blocks of <see cref="BlockRows"/>, each block through every layer while it is in cache
/// (<see cref="Sgemm"/> against the pre-transposed weights, bias fused); wins at small widths.</item>
/// <item>BLAS (<see cref="BlasLibrary"/>, e.g. OpenBLAS): rows in chunks of <see cref="BlasRows"/>, one single-threaded
/// cblas_sgemm per chunk and layer, bias + SiLU in one SIMD pass after it; wins at large widths.</item>
/// </list>
/// Blocks/chunks are spread over threads. The managed engine sums each output element in a fixed order, so its results
/// do not depend on the batch size or the thread count. OpenBLAS's results depend (by an ulp or so) on a row's
/// position in its chunk (measured: its kernels differ by position), so with the BLAS engine the same row can differ
/// in the last bit between batchings; <see cref="CpuGemm.Auto"/> therefore takes the BLAS only for layers of at least
/// <see cref="BlasMinWork"/> multiply-adds per row where it measured faster, and $CLDIFF_CPU_GEMM=managed gives
/// bit-reproducible batches everywhere.
/// </summary>
public sealed class MlpCpuScore : ICpuBatchScore, ICpuConditionalScore
{
    public const int BlockRows = 64;
    public const int BlasRows = 256;
    /// <summary>Smallest in x out of a layer that <see cref="CpuGemm.Auto"/> considers for the BLAS (256 x 256).</summary>
    public const int BlasMinWork = 256 * 256;
    /// <summary>Overrides the default engine choice: "auto", "managed" or "blas".</summary>
    public const string EngineVariable = "CLDIFF_CPU_GEMM";
    readonly MlpModel m;
    readonly float[][] wt; // layer l: W^T [In, Out]
    readonly int threads;
    readonly BlasLibrary? blas;
    readonly bool[] useBlas;
    readonly bool anyBlas;
    public IScoreModel Model => m;
    /// <summary>Which engine each layer uses, e.g. "blas: OpenBLAS ... for layers 1-3, managed Vector512 for layers 0, 4".</summary>
    public string Engine { get; }
    /// <summary>Whether layer l runs on the BLAS.</summary>
    public bool LayerUsesBlas(int l) => useBlas[l];

    /// <summary>
    /// What the CPU backend's MLP uses by default, in one line (`cldiff devices`): the BLAS found (or why none) and the
    /// managed SGEMM's vector width.
    /// </summary>
    public static string EngineSummary
    {
        get
        {
            string managed = $"managed SGEMM {Sgemm.VectorDescription}";
            CpuGemm mode;
            try { mode = DefaultGemm; }
            catch (ArgumentException e) { return $"{managed}; {e.Message}"; }
            if (mode == CpuGemm.Managed) return $"{managed} (${EngineVariable}=managed)";
            var blas = BlasLibrary.Default;
            if (blas is null) return $"{managed}; {BlasLibrary.DefaultDescription}";
            return mode == CpuGemm.Blas ? $"BLAS {blas.Description} ({blas.Path}) for every layer (${EngineVariable}=blas)"
                : $"BLAS {blas.Description} ({blas.Path}) for layers of >= 256x256 where it measures faster; {managed} otherwise";
        }
    }

    /// <summary>The process default: $CLDIFF_CPU_GEMM (auto, managed, blas), else auto.</summary>
    public static CpuGemm DefaultGemm => ParseGemm(Environment.GetEnvironmentVariable(EngineVariable));

    public static CpuGemm ParseGemm(string? s) => (s?.Trim().ToLowerInvariant() ?? "") switch
    {
        "" or "auto" => CpuGemm.Auto,
        "managed" => CpuGemm.Managed,
        "blas" => CpuGemm.Blas,
        _ => throw new ArgumentException($"${EngineVariable}: '{s}' is not auto, managed or blas"),
    };

    /// <summary>The default engines: <see cref="DefaultGemm"/> with <see cref="BlasLibrary.Default"/>.</summary>
    public MlpCpuScore(MlpModel model, int threads = 0) : this(model, threads, DefaultGemm, BlasLibrary.Default) { }

    /// <summary>Explicit engines: <paramref name="blas"/> is the library to use (null: none, the managed SGEMM everywhere).</summary>
    public MlpCpuScore(MlpModel model, int threads, CpuGemm gemm, BlasLibrary? blas)
    {
        m = model;
        this.threads = threads > 0 ? threads : Environment.ProcessorCount;
        wt = new float[m.Layers.Count][];
        for (int l = 0; l < wt.Length; l++)
        {
            var L = l == 0 ? m.FirstLayerWithClasses() : m.Layers[l];   // a conditional model's class embedding as one-hot input columns
            wt[l] = new float[L.Weight.Length];
            Sgemm.Transpose(L.Weight, L.Out, L.In, wt[l]);
        }
        this.blas = gemm == CpuGemm.Managed ? null : blas;
        useBlas = new bool[wt.Length];
        for (int l = 0; l < wt.Length; l++)
            useBlas[l] = this.blas is not null && (gemm == CpuGemm.Blas || (long)m.Layers[l].In * m.Layers[l].Out >= BlasMinWork && GemmChoice.BlasIsFaster(this.blas, m.Layers[l].In, m.Layers[l].Out));
        anyBlas = useBlas.Any(u => u);
        string Layers(bool b) => string.Join(", ", Enumerable.Range(0, wt.Length).Where(l => useBlas[l] == b));
        string managed = $"managed {Sgemm.VectorDescription}";
        Engine = !anyBlas ? managed + (gemm == CpuGemm.Managed ? "" : this.blas is null ? $" ({BlasLibrary.DefaultDescription.Split(" (")[0]})" : " (faster than the BLAS at these shapes)")
            : useBlas.All(u => u) ? $"BLAS {this.blas!.Description}"
            : $"BLAS {this.blas!.Description} for layers {Layers(true)}; {managed} for layers {Layers(false)}";
    }

    public void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, Span<float> score) => ScoreBatch(x, t, default, score);

    /// <summary>Rows with their classes (labels empty: every row gets the null class).</summary>
    public void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> score)
    {
        int d = m.Dim, n = t.Length;
        if (x.Length != (long)n * d || score.Length != (long)n * d) throw new ArgumentException($"score batch: {x.Length} inputs / {score.Length} outputs do not match {n} rows of {d}");
        if (!labels.IsEmpty && labels.Length != n) throw new ArgumentException($"score batch: {labels.Length} labels for {n} rows");
        foreach (var c in labels) m.ClassIndex(c);   // rejects labels outside the model's classes
        int rowsPer = anyBlas ? BlasRows : BlockRows;
        int blocks = (n + rowsPer - 1) / rowsPer;
        if (blocks <= 1 || threads == 1)
        {
            var ws = Rent(rowsPer);
            for (int b = 0; b < blocks; b++) Block(b, rowsPer, x, t, labels, score, ws);
            workspaces.Add(ws);
            return;
        }
        // Spans cannot enter lambdas: pin them and pass pointers (no copies in and out, no per-call arrays: with d = 64
        // and 4096 rows those were three 1 MB large-object allocations per call).
        unsafe
        {
            fixed (float* px = x, pt = t, ps = score)
            fixed (int* pl = labels)
            {
                nint xp = (nint)px, tp = (nint)pt, sp = (nint)ps, lp = (nint)pl;
                int xl = x.Length, ll = labels.Length;
                Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => Rent(rowsPer),
                    (b, _, ws) =>
                    {
                        Block(b, rowsPer, new ReadOnlySpan<float>((float*)xp, xl), new ReadOnlySpan<float>((float*)tp, n),
                            new ReadOnlySpan<int>((int*)lp, ll), new Span<float>((float*)sp, xl), ws);
                        return ws;
                    }, workspaces.Add);
            }
        }
    }

    /// <summary>Workspaces kept between calls (one per worker that ran), so a call allocates nothing once warm.</summary>
    readonly System.Collections.Concurrent.ConcurrentBag<Workspace> workspaces = new();

    Workspace Rent(int rows) => workspaces.TryTake(out var ws) && ws.Rows == rows ? ws : new Workspace(m, rows);

    sealed class Workspace
    {
        public readonly float[] a, b;
        public readonly int Rows;
        public Workspace(MlpModel m, int rows)
        {
            Rows = rows;
            int w = Math.Max(m.FeatureWidth, m.Layers.Max(l => l.Out));
            a = new float[rows * w]; b = new float[rows * w];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    unsafe void Block(int block, int rowsPer, ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> score, Workspace ws)
    {
        int d = m.Dim, r0 = block * rowsPer, rows = Math.Min(rowsPer, t.Length - r0);
        int F = m.TimeFreqs.Length, inW = m.FeatureWidth, classCols = inW - m.InputWidth;
        var cur = ws.a; var next = ws.b;
        for (int r = 0; r < rows; r++)
        {
            x.Slice((r0 + r) * d, d).CopyTo(cur.AsSpan(r * inW));
            SimdSinCos.TimeFeatures(t[r0 + r], m.TimeFreqs, cur.AsSpan(r * inW + d, F), cur.AsSpan(r * inW + d + F, F));
            if (classCols > 0)
            {
                var onehot = cur.AsSpan(r * inW + m.InputWidth, classCols);
                onehot.Clear();
                onehot[m.ClassIndex(labels.IsEmpty ? ClassLabels.Null : labels[r0 + r])] = 1;
            }
        }
        int gemmRows = rows;
        int layers = m.Layers.Count;
        for (int l = 0; l < layers; l++)
        {
            var L = m.Layers[l];
            int lin = l == 0 ? inW : L.In;   // a conditional model's first layer has the one-hot class columns too
            var z = next.AsSpan(0, gemmRows * L.Out);
            bool hidden = l < layers - 1;
            if (useBlas[l])
            {
                fixed (float* pa = cur, pb = wt[l], pc = next) blas!.Multiply(pa, pb, pc, gemmRows, lin, L.Out);
                BiasSilu(z, L.Bias, hidden);
            }
            else
            {
                Sgemm.Multiply(cur, wt[l], next, gemmRows, lin, L.Out, L.Bias);
                if (hidden) Silu(z);
            }
            (cur, next) = (next, cur);
        }
        // cur holds the network output [rows, d]
        for (int r = 0; r < rows; r++)
        {
            var o = cur.AsSpan(r * d, d);
            var s = score.Slice((r0 + r) * d, d);
            double tt = t[r0 + r];
            switch (m.Prediction)
            {
                case MlpPrediction.Eps:
                    float inv = (float)(-1 / ForwardProcess.Sigma(tt));
                    for (int j = 0; j < d; j++) s[j] = o[j] * inv;
                    break;
                case MlpPrediction.Score:
                    o.CopyTo(s);
                    break;
                case MlpPrediction.X0:
                    float a = (float)ForwardProcess.Alpha(tt), is2 = (float)(1 / ForwardProcess.SigmaSquared(tt));
                    var xr = x.Slice((r0 + r) * d, d);
                    for (int j = 0; j < d; j++) s[j] = (a * o[j] - xr[j]) * is2;
                    break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Silu(float z) => SimdExp.Silu(z);

    /// <summary>SiLU in place, SIMD (<see cref="SimdExp"/>: .NET's vector exp was the slowest step of small networks).</summary>
    internal static void Silu(Span<float> v) => SimdExp.Silu(v);

    /// <summary>z[r, j] += bias[j], then SiLU when hidden: the epilogue of a BLAS layer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void BiasSilu(Span<float> z, ReadOnlySpan<float> bias, bool hidden)
    {
        int n = bias.Length;
        for (int r = 0; r + n <= z.Length; r += n)
        {
            var row = z.Slice(r, n);
            TensorAdd(row, bias);
            if (hidden) Silu(row);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void TensorAdd(Span<float> row, ReadOnlySpan<float> bias)
    {
        int i = 0, w = Vector<float>.Count;
        for (; i + w <= row.Length; i += w) (new Vector<float>(row.Slice(i)) + new Vector<float>(bias.Slice(i))).CopyTo(row.Slice(i));
        for (; i < row.Length; i++) row[i] += bias[i];
    }

    public void Dispose() { }
}

/// <summary>
/// Per layer shape (k inputs, n outputs): whether the BLAS beats the managed SGEMM on one chunk of
/// <see cref="MlpCpuScore.BlasRows"/> rows, one thread each (as the MLP calls them). Measured once per process and shape,
/// alternating the two engines, median of 7 after 2 warm-ups.
/// </summary>
static class GemmChoice
{
    static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, int, int), bool> cache = new();

    public static bool BlasIsFaster(BlasLibrary blas, int k, int n) => cache.GetOrAdd((blas.Path, k, n), key => Measure(blas, key.Item2, key.Item3));

    static unsafe bool Measure(BlasLibrary blas, int k, int n)
    {
        int m = MlpCpuScore.BlasRows;
        var a = new float[m * k]; var b = new float[k * n]; var c = new float[m * n];
        for (int i = 0; i < a.Length; i++) a[i] = 0.5f + (i % 7) * 0.01f;
        for (int i = 0; i < b.Length; i++) b[i] = 0.25f - (i % 5) * 0.01f;
        // alternating, 2 warm-ups (JIT, the BLAS's buffers), then the median of 7 each: on a shared machine a best-of-3
        // rewards whichever engine had one lucky call
        const int Warm = 2, Reps = 7;
        var tm = new double[Reps]; var tb = new double[Reps];
        for (int rep = 0; rep < Warm + Reps; rep++)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            Sgemm.Multiply(a, b, c, m, k, n, default);
            double managed = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            fixed (float* pa = a, pb = b, pc = c) blas.Multiply(pa, pb, pc, m, k, n);
            double viaBlas = sw.Elapsed.TotalMilliseconds;
            if (rep < Warm) continue;
            tm[rep - Warm] = managed; tb[rep - Warm] = viaBlas;
        }
        Array.Sort(tm); Array.Sort(tb);
        return tb[Reps / 2] < tm[Reps / 2];
    }
}
