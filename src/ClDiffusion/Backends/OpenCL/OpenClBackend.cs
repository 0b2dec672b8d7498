using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Random;

namespace ClDiffusion.Backends.OpenCL;

/// <summary>
/// Tunables of the OpenCL backend (compiled into the kernels as -D defines). A value set here explicitly wins over the
/// tuning database (<see cref="Tuning.TuningResolver"/>); a value left unset comes from the database entry for
/// the device (user file, then shipped entries; exact device, platform default, vendor default, global default), else the default shown.
/// </summary>
public sealed record OpenClOptions
{
    int? workGroup, vectorWidth, workPerItem, noiseBlocks, scoreVectorWidth, midpointVectors;
    /// <summary>Work-group size of every 1-D launch (WG; default 64).</summary>
    public int WorkGroup { get => workGroup ?? 64; init => workGroup = value; }
    /// <summary>Vector width of the streaming kernels (VW: 1, 2, 4, 8 or 16; default 4).</summary>
    public int VectorWidth { get => vectorWidth ?? 4; init => vectorWidth = value; }
    /// <summary>Vectors per work item in the streaming kernels (WPT; default 1).</summary>
    public int WorkPerItem { get => workPerItem ?? 1; init => workPerItem = value; }
    /// <summary>Philox blocks (4 normals each) per work item in the fused noise kernels (NB: 1, 2, 4, 8 or 16; default 16).</summary>
    public int NoiseBlocks { get => noiseBlocks ?? 16; init => noiseBlocks = value; }
    /// <summary>Vector width over coordinates in the mixture score (GVW: 1, 2, 4, 8 or 16; default 8).</summary>
    public int ScoreVectorWidth { get => scoreVectorWidth ?? 8; init => scoreVectorWidth = value; }
    /// <summary>VW-wide vectors per work item in the midpoint kernels (MW; 0: one work item per row; default 0).</summary>
    public int MidpointVectors { get => midpointVectors ?? 0; init => midpointVectors = value; }
    /// <summary>
    /// More -D defines (tuner candidates, test-only switches); they override the ones above. A define that a kernel
    /// family owns (<see cref="Tuning.KernelFamilies"/>, e.g. GRW of gmm-rows) goes to that family's programs only; any other to every program.
    /// </summary>
    public IReadOnlyDictionary<string, string>? ExtraDefines { get; init; }
    /// <summary>Compute the Shen-Lee coefficients and the tilted alphas in double (default): on the device when it has cl_khr_fp64, else the Shen-Lee coefficients on the host (one sync per step) and the alphas in float through log1p; false: both in float on the device.</summary>
    public bool UseFp64 { get; init; } = true;
    /// <summary>Program binary cache folder (null: $CLDIFF_CACHE or ~/.cache/cldiffusion; "off" or "none": no disk cache).</summary>
    public string? CacheDirectory { get; init; }
    /// <summary>Read tuned parameters from the tuning database (default true; false: the defaults above, as before tuning existed).</summary>
    public bool UseTuning { get; init; } = true;
    /// <summary>User tuning database (JSON written by `cldiff tune`), searched before the shipped entries; null: $CLDIFF_TUNING, else none.</summary>
    public string? TuningFile { get; init; }
    /// <summary>The dimension whose shape class picks the database entries (entries of other classes are the fallback; default 64).</summary>
    public int TuningDim { get; init; } = 64;

    /// <summary>Whether the tunable with this define name (WG, VW, WPT, NB, GVW, MW) was set explicitly (or by ExtraDefines).</summary>
    public bool IsExplicit(string define) => (ExtraDefines?.ContainsKey(define) ?? false) || define switch
    {
        "WG" => workGroup.HasValue, "VW" => vectorWidth.HasValue, "WPT" => workPerItem.HasValue,
        "NB" => noiseBlocks.HasValue, "GVW" => scoreVectorWidth.HasValue, "MW" => midpointVectors.HasValue, _ => false,
    };
}

/// <summary>A float32 [Rows, Cols] buffer on an OpenCL device.</summary>
public sealed class OpenClBuffer : IDeviceBuffer
{
    public int Rows { get; }
    public int Cols { get; }
    public ClMem Mem { get; }
    internal OpenClBackend Owner { get; }
    internal OpenClBuffer(OpenClBackend owner, int rows, int cols, ClMem mem) { Owner = owner; Rows = rows; Cols = cols; Mem = mem; }
    public long Length => (long)Rows * Cols;
    public void Dispose() { if (Mem.Handle != 0) { Owner.Released(Mem.Bytes); Mem.Dispose(); } }
}

/// <summary>
/// IBackend on one OpenCL device: every primitive is a kernel on one in-order queue; nothing is read back except by
/// Download and MaxAbsDiff. Not thread-safe: one thread enqueues at a time (kernel arguments are shared state).
/// Randomness is Philox generated in the kernels (cl/common.cl), bit-identical to the C# generator for the uniforms.
/// </summary>
public sealed partial class OpenClBackend : IBackend
{
    readonly ClContext context;
    readonly ClQueue queue;
    readonly ProgramCache cache;
    readonly Dictionary<string, ClKernel> kernels = new();
    readonly ClProgram sampling;
    OpenClBuffer? shenLeeCoef;
    long allocated;
    /// <summary>The host-side launch geometry's tunables, per family (read on every launch).</summary>
    readonly int vwMidpoint, mw, vwLincomb, wpt, nb;
    readonly bool ownsContext = true;

    public ClDevice Device { get; }
    public OpenClOptions Options { get; }
    public int WorkGroup { get; }
    public bool Fp64 { get; }
    public string DeviceName { get; }
    public ProgramCache Cache => cache;
    public ClQueue Queue => queue;
    public ClContext Context => context;
    /// <summary>Where the tunables came from (database file and level, or defaults); see <see cref="Tuning.TuningResolver"/>.</summary>
    public string TuningSource { get; }
    /// <summary>The parameters chosen per kernel family (gmm, midpoint, langevin, lincomb) and where each came from.</summary>
    public IReadOnlyList<Tuning.TuningChoice> TuningChoices { get; }
    /// <summary>The database lookup's result: each kernel family's program defines (<see cref="Defines(string?)"/>).</summary>
    public Tuning.TuningResolution Tuned { get; }
    /// <summary>Work-group size per kernel family (tuned); families not listed launch with <see cref="WorkGroup"/>.</summary>
    public IReadOnlyDictionary<string, int> FamilyWorkGroups { get; }
    /// <summary>When set, every launch records its event here (profiling queues: the tuner's device timings).</summary>
    internal List<ClEvent>? ProfileEvents { get; set; }

    public OpenClBackend(ClDevice device, OpenClOptions? options = null, bool profiling = false)
    {
        var tuned = Tuning.TuningResolver.Resolve(device, options ?? new OpenClOptions());
        Tuned = tuned; Options = tuned.Options; TuningSource = tuned.Source; TuningChoices = tuned.Choices;
        // integer tunables out of range are refused before any build; a value that is not an integer at all (an
        // ExtraDefines expression) goes to the compiler, whose build log then names it
        foreach (var (family, define, what) in new[] { ("midpoint", "VW", "vector width"), ("lincomb", "VW", "vector width"), ("langevin", "NB", "noise blocks per item"), ("gmm", "GVW", "score vector width") })
            if (tuned.TryValue(family, define, out int v) && v is not (1 or 2 or 4 or 8 or 16)) throw new ArgumentException($"{what} ({define} of the {family} kernels) must be 1, 2, 4, 8 or 16, got {v}");
        if (tuned.TryValue("midpoint", "MW", out int mwv) && mwv < 0) throw new ArgumentException($"midpoint vectors per item must be >= 0, got {mwv}");
        if (tuned.TryValue("lincomb", "WPT", out int wptv) && wptv < 1) throw new ArgumentException($"work per item must be at least 1, got {wptv}");
        Device = device;
        WorkGroup = ClampWorkGroup(Options.WorkGroup, device);
        FamilyWorkGroups = tuned.WorkGroups.ToDictionary(kv => kv.Key, kv => ClampWorkGroup(kv.Value, device));
        Fp64 = Options.UseFp64 && device.HasFp64;
        DeviceName = $"{device.Name} ({device.Platform.Name})";
        context = new ClContext(device);
        try
        {
            queue = new ClQueue(context, profiling);
            cache = new ProgramCache(context, ProgramCache.DirectoryFor(Options.CacheDirectory));
            sampling = BuildSamplingPrograms();
            (vwMidpoint, mw, vwLincomb, wpt, nb) = (Tunable("midpoint", "VW"), Tunable("midpoint", "MW"), Tunable("lincomb", "VW"), Tunable("lincomb", "WPT"), Tunable("langevin", "NB"));
        }
        catch { Dispose(); throw; }
    }

    /// <summary>
    /// Builds cl/sampling.cl once per family that uses it (the untuned kernels, midpoint, langevin, lincomb), each with
    /// its own defines and only its own kernels (SAMPLING_FAMILY), at construction (a tunable that breaks the source
    /// fails here, not at the first launch); returns the untuned kernels' program. Streams share the device's program
    /// cache, so theirs come from memory.
    /// </summary>
    ClProgram BuildSamplingPrograms()
    {
        var base_ = Program("sampling.cl", Tuning.KernelFamilies.Sampling);
        foreach (var f in Tuning.KernelFamilies.All)
            if (f.File == "sampling.cl" && f.Name != Tuning.KernelFamilies.Sampling) Program("sampling.cl", f.Name);
        return base_;
    }

    /// <summary>
    /// A second stream on the same device: shares <paramref name="shared"/>'s context and program cache (no recompiles),
    /// has its own in-order command queue and its own kernel objects, so several streams can keep work in flight at
    /// once (the scheduler). Buffers belong to the stream that allocated them. Dispose the streams before the
    /// backend they share; disposing a stream releases only its queue and kernels.
    /// </summary>
    public OpenClBackend(OpenClBackend shared, bool profiling = false)
    {
        ArgumentNullException.ThrowIfNull(shared);
        Options = shared.Options; Device = shared.Device; WorkGroup = shared.WorkGroup; Fp64 = shared.Fp64; DeviceName = shared.DeviceName;
        (vwMidpoint, mw, vwLincomb, wpt, nb) = (shared.vwMidpoint, shared.mw, shared.vwLincomb, shared.wpt, shared.nb);
        Tuned = shared.Tuned; TuningSource = shared.TuningSource; TuningChoices = shared.TuningChoices; FamilyWorkGroups = shared.FamilyWorkGroups;
        context = shared.context; cache = shared.cache; ownsContext = false;
        try
        {
            queue = new ClQueue(context, profiling);
            sampling = BuildSamplingPrograms();
        }
        catch { Dispose(); throw; }
    }

    static int ClampWorkGroup(int wg, ClDevice device)
    {
        int w = (int)Math.Min(Math.Max(wg, 16), Math.Max(device.MaxWorkGroupSize, 16));
        if ((w & (w - 1)) != 0) throw new ArgumentException($"work-group size must be a power of two, got {w}");
        return w;
    }

    /// <summary>Device bytes allocated through this backend (stream) and not yet released.</summary>
    public long AllocatedBytes => Interlocked.Read(ref allocated);

    /// <summary>
    /// The defines of one kernel family's program (<see cref="Tuning.KernelFamilies"/>): that family's own tunables
    /// (tuned, explicit or default), WG (the family's work-group size), HAVE_FP64 and the ExtraDefines no family owns.
    /// Null (or a file outside the families): the common defines only.
    /// </summary>
    public Dictionary<string, string> Defines(string? family = null)
    {
        var d = new Dictionary<string, string>(Tuned.Defines(family))
        {
            ["WG"] = (family is not null && FamilyWorkGroups.TryGetValue(family, out var w) ? w : WorkGroup).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (Fp64) d["HAVE_FP64"] = "1";
        return d;
    }

    /// <summary>One integer tunable of one family as its program is built (e.g. ("lincomb", "VW")).</summary>
    public int Tunable(string family, string define) => Tuned.Value(family, define);

    /// <summary>
    /// A built program from an embedded kernel file (common.cl is prepended), cached in memory and on disk, with the
    /// defines of the file's family (<see cref="Tuning.KernelFamilies.OfFile"/>) and <paramref name="extraDefines"/> over them.
    /// </summary>
    public ClProgram Program(string file, IReadOnlyDictionary<string, string>? extraDefines = null) =>
        Program(file, Tuning.KernelFamilies.OfFile(file), extraDefines);

    /// <summary>A built program of a kernel file with one family's defines (cl/sampling.cl is built once per family that uses it).</summary>
    public ClProgram Program(string file, string? family, IReadOnlyDictionary<string, string>? extraDefines = null)
    {
        var defs = Defines(family);
        // cl/sampling.cl holds several families' kernels; each family's program compiles only its own (SAMPLING_FAMILY)
        if (file == "sampling.cl" && family is not null && Tuning.KernelFamilies.Find(family)?.File == "sampling.cl")
            defs["SAMPLING_FAMILY"] = "FAMILY_" + family.ToUpperInvariant();
        if (extraDefines is not null) foreach (var (k, v) in extraDefines) defs[k] = v;
        var source = ProgramCache.Source("common.cl") + "\n#line 1\n" + ProgramCache.Source(file);
        return cache.Get(file, source, ProgramCache.Options(defs));
    }

    /// <summary>The build options of the program a kernel of cl/sampling.cl comes from (its family's defines).</summary>
    public string ProgramOptionsOf(string kernel) => ProgramCache.Options(Defines(SamplingFamilyOf(kernel)));

    static string SamplingFamilyOf(string kernel) =>
        Tuning.KernelFamilies.FamilyOf(kernel) is { } f && Tuning.KernelFamilies.Find(f)?.File == "sampling.cl" ? f : Tuning.KernelFamilies.Sampling;

    /// <summary>A kernel of cl/sampling.cl from its family's program (kept for the backend's lifetime).</summary>
    internal ClKernel K(string name)
    {
        if (!kernels.TryGetValue(name, out var k))
        {
            var family = SamplingFamilyOf(name);
            var prog = family == Tuning.KernelFamilies.Sampling ? sampling : Program("sampling.cl", family);
            kernels[name] = k = prog.Kernel(name);
        }
        return k;
    }

    /// <summary>Launches a 1-D kernel over `items` work items (rounded up to its family's work-group size).</summary>
    public void Launch(ClKernel k, long items) =>
        k.Launch(queue, Math.Max(items, 1), WorkGroupOf(k.Name), ProfileEvents is not null, ProfileEvents);

    /// <summary>Launches a 1-D kernel over `items` work items with a fixed work-group size (kernels built with reqd_work_group_size).</summary>
    public void Launch(ClKernel k, long items, int workGroup) =>
        k.Launch(queue, Math.Max(items, 1), workGroup, ProfileEvents is not null, ProfileEvents);

    /// <summary>The work-group size a kernel launches with: its family's tuned size, else <see cref="WorkGroup"/>.</summary>
    public int WorkGroupOf(string kernel) =>
        Tuning.TuningResolver.FamilyOf(kernel) is { } f && FamilyWorkGroups.TryGetValue(f, out var w) ? w : WorkGroup;

    OpenClBuffer B(IDeviceBuffer b) =>
        b is OpenClBuffer o && ReferenceEquals(o.Owner, this) ? o
        : throw new ArgumentException($"buffer of type {b?.GetType().Name ?? "null"} does not belong to this OpenCL backend");

    internal void Released(long bytes) => Interlocked.Add(ref allocated, -bytes);

    public unsafe IDeviceBuffer Allocate(int rows, int cols)
    {
        BackendChecks.Allocate(rows, cols);
        long n = (long)rows * cols, bytes = n * 4;
        long maxAlloc = Device.MaxAlloc, global = Device.GlobalMemory;
        long maxRowsPerBuffer = cols == 0 ? int.MaxValue : Math.Min(maxAlloc / (4L * cols), int.MaxValue / cols);
        string Advice() => $"with d = {cols} one buffer holds at most {maxRowsPerBuffer} rows on {Device.Name} " +
            $"(largest buffer {maxAlloc >> 20} MiB, global memory {global >> 20} MiB, {allocated >> 20} MiB already allocated); " +
            "use a smaller batch: the parallel samplers allocate n*R and n*M rows";
        if (n > int.MaxValue) throw new OpenClAllocationException($"buffer [{rows}, {cols}] has more than 2^31 floats: {Advice()}");
        if (bytes > maxAlloc) throw new OpenClAllocationException($"buffer [{rows}, {cols}] needs {bytes >> 20} MiB: {Advice()}");
        if (allocated + bytes > global) throw new OpenClAllocationException($"buffer [{rows}, {cols}] needs {bytes >> 20} MiB, device memory is exhausted: {Advice()}");
        ClMem mem;
        try { mem = new ClMem(context, bytes); }
        catch (OpenClAllocationException e) { throw new OpenClAllocationException($"{e.Message}; {Advice()}", e.Code); }
        Interlocked.Add(ref allocated, bytes);
        return new OpenClBuffer(this, rows, cols, mem);
    }

    public unsafe void Upload(IDeviceBuffer dst, ReadOnlySpan<float> src)
    {
        BackendChecks.Upload(dst, src.Length);
        var d = B(dst);
        if (src.Length == 0) return;
        fixed (float* p = src)
            OpenClException.Check(ClApi.Api.EnqueueWriteBuffer(queue.Handle, d.Mem.Handle, true, 0, (nuint)(src.Length * 4L), p, 0, null, null), "clEnqueueWriteBuffer");
    }

    public unsafe void Download(IDeviceBuffer src, Span<float> dst)
    {
        BackendChecks.Download(src, dst.Length);
        var s = B(src);
        if (s.Length == 0) return;
        fixed (float* p = dst)
            OpenClException.Check(ClApi.Api.EnqueueReadBuffer(queue.Handle, s.Mem.Handle, true, 0, (nuint)(s.Length * 4L), p, 0, null, null), "clEnqueueReadBuffer");
    }

    public unsafe void Copy(IDeviceBuffer dst, IDeviceBuffer src)
    {
        BackendChecks.Copy(dst, src);
        var d = B(dst); var s = B(src);
        if (d.Length == 0 || ReferenceEquals(d, s)) return;
        OpenClException.Check(ClApi.Api.EnqueueCopyBuffer(queue.Handle, s.Mem.Handle, d.Mem.Handle, 0, 0, (nuint)(d.Length * 4L), 0, null, null), "clEnqueueCopyBuffer");
    }

    /// <summary>Copy through the vectorised copy kernel (the bandwidth reference of the benchmark).</summary>
    public void CopyKernel(IDeviceBuffer dst, IDeviceBuffer src)
    {
        BackendChecks.Copy(dst, src);
        var d = B(dst); var s = B(src);
        var k = K("copy_vec").Set(0, d.Mem).Set(1, s.Mem).Set(2, (int)d.Length);
        Launch(k, StreamItems(d.Length));
    }

    /// <summary>Work items per row of the block-noise kernels (NB Philox blocks of 4 columns each).</summary>
    long BlockItems(int cols) => ((cols >> 2) + nb - 1) / nb;

    /// <summary>Work items per row of the midpoint family (VW columns each).</summary>
    long ChunkItems(int cols)
    {
        long span = mw > 0 ? (long)mw * vwMidpoint : Math.Max(cols, 1);
        return (cols + span - 1) / span;
    }

    long StreamItems(long n) => Math.Max((n / vwLincomb + wpt - 1) / wpt, 1);

    public void RepeatRows(IDeviceBuffer dst, IDeviceBuffer src, int m)
    {
        BackendChecks.RepeatRows(dst, src, m);
        var d = B(dst); var s = B(src);
        if (d.Length == 0) return;
        Launch(K("repeat_rows").Set(0, d.Mem).Set(1, s.Mem).Set(2, d.Cols).Set(3, m).Set(4, (int)d.Length), d.Length);
    }

    public IPreparedScore Prepare(IScoreModel model) => PrepareCl(model);

    public IOpenClScore PrepareCl(IScoreModel model) => model switch
    {
        GaussianMixture g => new OpenClGaussianMixtureScore(this, g),
        PerturbedScore p => new OpenClPerturbedScore(p, PrepareCl(p.Inner)),
        _ => OpenClScoreRegistry.TryPrepare(this, model, PrepareCl) ?? throw new NotSupportedException($"the OpenCL backend cannot evaluate {model.Describe()}"),
    };

    public void Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score) =>
        Score(model, x, t0, slope, offsets, score, null);

    public void DuplicateRows(IDeviceBuffer dst, IDeviceBuffer src)
    {
        BackendChecks.DuplicateRows(dst, src);
        var d = B(dst); var s = B(src);
        if (s.Length > 0) Launch(K("duplicate_rows").Set(0, d.Mem).Set(1, s.Mem).Set(2, (int)s.Length), s.Length);
    }

    public void GuidanceCombine(IDeviceBuffer dst, IDeviceBuffer both, float w)
    {
        BackendChecks.GuidanceCombine(dst, both);
        var d = B(dst); var b = B(both);
        if (d.Length > 0) Launch(K("guidance_combine").Set(0, d.Mem).Set(1, b.Mem).Set(2, w).Set(3, (int)d.Length), d.Length);
    }

    public void Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score, IDeviceBuffer? labels)
    {
        BackendChecks.Score(model, x, offsets, score, labels);
        var xb = B(x); var sb = B(score);
        var lb = labels is null ? null : B(labels);
        var off = offsets is null ? null : B(offsets);
        if (model is not IOpenClScore m) throw new ArgumentException($"score model prepared by another backend ({model.GetType().Name})");
        if (xb.Rows == 0) return;
        if (lb is null) m.Enqueue(this, xb, t0, slope, off, sb);
        else if (m is IOpenClConditionalScore c) c.Enqueue(this, xb, t0, slope, off, sb, lb);
        else throw new ArgumentException($"class labels given, but {model.Model.Describe()} is not class-conditional");
    }

    public void Lincomb(IDeviceBuffer dst, ReadOnlySpan<Term> terms)
    {
        BackendChecks.Lincomb(dst, terms);
        var d = B(dst);
        int n = terms.Length;
        var x0 = B(terms[0].X);
        var k = K("lincomb").Set(0, d.Mem);
        for (int i = 0; i < 4; i++) k.Set(1 + i, i < n ? B(terms[i].X).Mem : x0.Mem).Set(5 + i, i < n ? terms[i].Coef : 0f);
        k.Set(9, n).Set(10, (int)d.Length);
        if (d.Length > 0) Launch(k, StreamItems(d.Length));
    }

    void Random(OpenClBuffer d, RandomKey key, long firstSample, int kind)
    {
        if (d.Length == 0) return;
        int nb = (d.Cols + 3) >> 2;
        var k = K("fill_random").Set(0, d.Mem).Set(1, d.Rows).Set(2, d.Cols).Set(3, key.Key0).Set(4, key.Key1).Set(5, key.Step)
            .Set(6, (uint)key.Purpose).Set(7, (uint)firstSample).Set(8, kind);
        Launch(k, (long)d.Rows * nb);
    }

    public void Normal(IDeviceBuffer dst, RandomKey key, long firstSample)
    {
        var d = B(dst);
        if (d.Length == 0) return;
        var k = K("normal_blocks").Set(0, d.Mem).Set(1, d.Rows).Set(2, d.Cols).Set(3, key.Key0).Set(4, key.Key1).Set(5, key.Step)
            .Set(6, (uint)key.Purpose).Set(7, (uint)firstSample);
        Launch(k, (long)d.Rows * ((((d.Cols + 3) >> 2) + nb - 1) / nb));
    }

    /// <summary>dst[r, j] = uniform j of sample firstSample + r (bit-identical to <see cref="RandomKey.Uniform"/>).</summary>
    public void Uniform(IDeviceBuffer dst, RandomKey key, long firstSample) => Random(B(dst), key, firstSample, 1);

    /// <summary>dst[r, j] = raw Philox word j of sample firstSample + r, stored as the float with those bits.</summary>
    public void RawBits(IDeviceBuffer dst, RandomKey key, long firstSample) => Random(B(dst), key, firstSample, 2);

    ClKernel SetReal(ClKernel k, int i, double v) => Fp64 ? k.Set(i, v) : k.Set(i, (float)v);

    public void DrawAlphas(IDeviceBuffer alpha, RandomKey key, long firstSample, AlphaLaw law, float h)
    {
        BackendChecks.DrawAlphas(alpha, law, h);
        var a = B(alpha);
        int R = a.Cols;
        if (a.Length == 0) return;
        int code = law switch { AlphaLaw.Stratified => 0, AlphaLaw.ExpTilted => 1, _ => 2 };
        var k = K("draw_alphas").Set(0, a.Mem).Set(1, a.Rows).Set(2, R).Set(3, key.Key0).Set(4, key.Key1).Set(5, key.Step)
            .Set(6, (uint)key.Purpose).Set(7, (uint)firstSample).Set(8, code).Set(9, law == AlphaLaw.Rotated ? h : 1f / R);
        SetReal(k, 10, -Num.ExpM1(-(double)h));
        SetReal(k, 11, h);
        Launch(k, a.Length);
    }

    public void MidpointPredict(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer s0, IDeviceBuffer alpha, float h)
    {
        int R = BackendChecks.MidpointPredict(dst, x0, s0, alpha);
        var d = B(dst); var x = B(x0); var s = B(s0); var a = B(alpha);
        if (d.Length == 0) return;
        Launch(K("midpoint_predict").Set(0, d.Mem).Set(1, x.Mem).Set(2, s.Mem).Set(3, a.Mem).Set(4, h).Set(5, R).Set(6, d.Cols).Set(7, d.Rows), (long)d.Rows * ChunkItems(d.Cols));
    }

    public void PicardSums(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h)
    {
        int R = BackendChecks.PicardSums(dst, x0, scores, alpha);
        var d = B(dst); var x = B(x0); var s = B(scores); var a = B(alpha);
        if (d.Length == 0) return;
        Launch(K("picard_sums").Set(0, d.Mem).Set(1, x.Mem).Set(2, s.Mem).Set(3, a.Mem).Set(4, h).Set(5, R).Set(6, d.Cols).Set(7, d.Rows), (long)d.Rows * ChunkItems(d.Cols));
    }

    public void MidpointFinal(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h)
    {
        int R = BackendChecks.MidpointFinal(dst, x0, scores, alpha);
        var d = B(dst); var x = B(x0); var s = B(scores); var a = B(alpha);
        if (d.Length == 0) return;
        Launch(K("midpoint_final").Set(0, d.Mem).Set(1, x.Mem).Set(2, s.Mem).Set(3, a.Mem).Set(4, h).Set(5, R).Set(6, d.Cols).Set(7, d.Rows), (long)d.Rows * ChunkItems(d.Cols));
    }

    public void LangevinScan(IDeviceBuffer x0, IDeviceBuffer v0, IDeviceBuffer scores, int m, float gamma, float hc,
        RandomKey key, long firstSample, IDeviceBuffer? xs, IDeviceBuffer? xOut, IDeviceBuffer? vOut)
    {
        BackendChecks.LangevinScan(x0, v0, scores, m, xs, xOut, vOut);
        var x = B(x0); var v = B(v0); var s = B(scores);
        var c = LangevinCoefficients.ForStep(gamma, hc);
        if (x.Length == 0) return;
        var xsb = xs is null ? null : B(xs); var xo = xOut is null ? null : B(xOut); var vo = vOut is null ? null : B(vOut);
        int flags = (xsb is null ? 0 : 1) | (xo is null ? 0 : 2) | (vo is null ? 0 : 4);
        bool blocks = x.Cols % 4 == 0;
        var k = K(blocks ? "langevin_blocks" : "langevin_scan").Set(0, x.Mem).Set(1, v.Mem).Set(2, s.Mem).Set(3, (xsb ?? x).Mem).Set(4, (xo ?? x).Mem).Set(5, (vo ?? v).Mem)
            .Set(6, flags).Set(7, m).Set(8, x.Rows).Set(9, x.Cols)
            .Set(10, c.Rho).Set(11, c.VelToPos).Set(12, c.DriftPos).Set(13, c.DriftVel).Set(14, c.L11).Set(15, c.L21).Set(16, c.L22)
            .Set(17, key.Key0).Set(18, key.Key1).Set(19, key.Step).Set(20, (uint)key.Purpose).Set(21, (uint)firstSample);
        Launch(k, blocks ? (long)x.Rows * BlockItems(x.Cols) : x.Length);
    }

    /// <summary>Per-row Shen-Lee coefficients (Cholesky factor of the three correlated Gaussians) into a scratch buffer.</summary>
    OpenClBuffer ShenLeeCoefficients(OpenClBuffer a, float gamma, float h)
    {
        // the arguments were checked by BackendChecks.ShenLeeMidpoint / ShenLeeFinal
        if (shenLeeCoef is null || shenLeeCoef.Rows < a.Rows)
        {
            shenLeeCoef?.Dispose();
            shenLeeCoef = (OpenClBuffer)Allocate(Math.Max(a.Rows, 1), 10);
        }
        if (Options.UseFp64 && !Fp64) return HostShenLeeCoefficients(a, gamma, h, shenLeeCoef);
        var k = K("shenlee_coeffs").Set(0, a.Mem).Set(1, shenLeeCoef.Mem).Set(2, a.Rows);
        SetReal(k, 3, gamma); SetReal(k, 4, h);
        Launch(k, a.Rows);
        return shenLeeCoef;
    }

    /// <summary>
    /// The Shen-Lee coefficients in double on the host, for devices without cl_khr_fp64 (Mesa's llvmpipe): the float
    /// Cholesky of the nearly singular 3x3 covariance is off by up to 1e-3 there, the double one agrees with the CPU
    /// backend to float rounding. Costs one read of the alphas and one write of 10 floats per row per call.
    /// </summary>
    unsafe OpenClBuffer HostShenLeeCoefficients(OpenClBuffer a, float gamma, float h, OpenClBuffer coef)
    {
        var al = new float[a.Rows];
        Download(a, al);
        var c = new float[a.Rows * 10];
        for (int r = 0; r < a.Rows; r++)
        {
            double ah = al[r] * (double)h, b = (1 - al[r]) * (double)h;
            var ch = LangevinCoefficients.ShenLeeCholesky(gamma, h, al[r]);
            var o = c.AsSpan(r * 10, 10);
            o[0] = (float)LangevinCoefficients.OneMinusExpOverGamma(gamma, ah); o[1] = (float)LangevinCoefficients.DriftToPosition(gamma, ah);
            o[2] = (float)ch.m31; o[3] = (float)(h * LangevinCoefficients.OneMinusExpOverGamma(gamma, b)); o[4] = (float)(h * Math.Exp(-gamma * b));
            o[5] = (float)ch.m11; o[6] = (float)ch.m21; o[7] = (float)ch.m22; o[8] = (float)ch.m32; o[9] = (float)ch.m33;
        }
        fixed (float* p = c)
            OpenClException.Check(ClApi.Api.EnqueueWriteBuffer(queue.Handle, coef.Mem.Handle, true, 0, (nuint)(c.Length * 4L), p, 0, null, null), "clEnqueueWriteBuffer");
        return coef;
    }

    public void ShenLeeMidpoint(IDeviceBuffer xMid, IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer s0, IDeviceBuffer alpha,
        float gamma, float h, RandomKey key, long firstSample)
    {
        BackendChecks.ShenLeeMidpoint(xMid, x, v, s0, alpha, gamma, h);
        var xm = B(xMid); var xb = B(x); var vb = B(v); var sb = B(s0); var a = B(alpha);
        if (xb.Length == 0) return;
        var coef = ShenLeeCoefficients(a, gamma, h);
        var k = K("shenlee_midpoint").Set(0, xm.Mem).Set(1, xb.Mem).Set(2, vb.Mem).Set(3, sb.Mem).Set(4, coef.Mem).Set(5, xb.Rows).Set(6, xb.Cols)
            .Set(7, key.Key0).Set(8, key.Key1).Set(9, key.Step).Set(10, (uint)key.Purpose).Set(11, (uint)firstSample);
        Launch(k, xb.Length);
    }

    public void ShenLeeFinal(IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer sMid, IDeviceBuffer alpha,
        float gamma, float h, RandomKey key, long firstSample)
    {
        BackendChecks.ShenLeeFinal(x, v, sMid, alpha, gamma, h);
        var xb = B(x); var vb = B(v); var sb = B(sMid); var a = B(alpha);
        if (xb.Length == 0) return;
        var coef = ShenLeeCoefficients(a, gamma, h);
        float rho = MathF.Exp(-gamma * h), vp = (float)LangevinCoefficients.OneMinusExpOverGamma(gamma, h);
        var k = K("shenlee_final").Set(0, xb.Mem).Set(1, vb.Mem).Set(2, sb.Mem).Set(3, coef.Mem).Set(4, xb.Rows).Set(5, xb.Cols)
            .Set(6, rho).Set(7, vp).Set(8, key.Key0).Set(9, key.Key1).Set(10, key.Step).Set(11, (uint)key.Purpose).Set(12, (uint)firstSample);
        Launch(k, xb.Length);
    }

    public unsafe void ExpScan(IDeviceBuffer x0, IDeviceBuffer scores, ReadOnlySpan<float> steps, IDeviceBuffer xs, IDeviceBuffer xOut)
    {
        BackendChecks.ExpScan(x0, scores, steps.Length, xs, xOut);
        var x = B(x0); var s = B(scores); var xsb = B(xs); var xo = B(xOut);
        int m = steps.Length;
        if (x.Length == 0) return;
        var coefs = new float[2 * m];
        for (int i = 0; i < m; i++) { coefs[i] = MathF.Exp(steps[i]); coefs[m + i] = (float)Num.ExpM1(steps[i]); }
        // a small buffer initialised at creation (no queue wait); released right after the launch, the runtime keeps it alive until the kernel ran
        ClMem cm;
        fixed (float* p = coefs) cm = new ClMem(context, coefs.Length * 4L, p);
        using (cm)
        {
            var k = K("exp_scan").Set(0, x.Mem).Set(1, s.Mem).Set(2, cm).Set(3, xsb.Mem).Set(4, xo.Mem).Set(5, m).Set(6, x.Rows).Set(7, x.Cols);
            Launch(k, x.Length);
        }
    }

    public unsafe float MaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b)
    {
        BackendChecks.MaxAbsDiff(a, b);
        var x = B(a); var y = B(b);
        if (x.Length == 0) return 0;
        int groups = (int)Math.Min((x.Length + WorkGroup - 1) / WorkGroup, 256);
        var partial = new float[groups];
        using var pm = new ClMem(context, groups * 4L);
        var k = K("max_abs_diff").Set(0, x.Mem).Set(1, y.Mem).Set(2, (int)x.Length).Set(3, pm).SetLocal(4, WorkGroup * 4L);
        k.Launch(queue, (long)groups * WorkGroup, WorkGroup);
        fixed (float* p = partial)
            OpenClException.Check(ClApi.Api.EnqueueReadBuffer(queue.Handle, pm.Handle, true, 0, (nuint)(groups * 4L), p, 0, null, null), "clEnqueueReadBuffer");
        float mx = 0;
        foreach (var t in partial) if (float.IsNaN(t) || t > mx) mx = t;
        return mx;
    }

    public unsafe void RowMaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b, int rowsPerSample, Span<float> perSample)
    {
        int samples = BackendChecks.RowMaxAbsDiff(a, b, rowsPerSample, perSample.Length);
        if (samples == 0) return;
        var x = B(a); var y = B(b);
        using var om = new ClMem(context, samples * 4L);
        Launch(K("row_max_abs_diff").Set(0, x.Mem).Set(1, y.Mem).Set(2, om).Set(3, samples).Set(4, rowsPerSample).Set(5, x.Cols), samples);
        fixed (float* p = perSample)
            OpenClException.Check(ClApi.Api.EnqueueReadBuffer(queue.Handle, om.Handle, true, 0, (nuint)(samples * 4L), p, 0, null, null), "clEnqueueReadBuffer");
    }

    public void CopyRowsWhere(IDeviceBuffer dst, IDeviceBuffer src, IDeviceBuffer mask)
    {
        BackendChecks.CopyRowsWhere(dst, src, mask);
        var d = B(dst); var s = B(src); var mk = B(mask);
        if (d.Length == 0 || ReferenceEquals(d, s)) return;
        Launch(K("copy_rows_where").Set(0, d.Mem).Set(1, s.Mem).Set(2, mk.Mem).Set(3, d.Cols).Set(4, (int)d.Length), d.Length);
    }

    public void Finish() => queue.Finish();

    ClKernel? markNonFinite;

    public void MarkNonFinite(IDeviceBuffer x, IDeviceBuffer firstBad, float step)
    {
        BackendChecks.MarkNonFinite(x, firstBad);
        var a = B(x); var f = B(firstBad);
        if (a.Rows == 0) return;
        markNonFinite ??= Program("nonfinite.cl").Kernel("mark_nonfinite");
        Launch(markNonFinite.Set(0, a.Mem).Set(1, f.Mem).Set(2, a.Rows).Set(3, a.Cols).Set(4, step), a.Rows);
    }
    public DeviceMemory Memory => new(Device.GlobalMemory, Device.MaxAlloc, IsHost: false);

    /// <summary>A stream on its own command queue in this backend's context (<see cref="OpenClStream"/>).</summary>
    public IBackendStream OpenStream() => new OpenClStream(this);

    public void Dispose()
    {
        try { if (queue is not null && queue.Handle != 0) queue.Finish(); } catch (OpenClException) { }
        shenLeeCoef?.Dispose(); shenLeeCoef = null;
        DisposeLogSnr();
        foreach (var k in kernels.Values) k.Dispose();
        kernels.Clear();
        markNonFinite?.Dispose(); markNonFinite = null;
        if (ownsContext) cache?.Dispose();
        queue?.Dispose();
        if (ownsContext) context?.Dispose();
    }
}
