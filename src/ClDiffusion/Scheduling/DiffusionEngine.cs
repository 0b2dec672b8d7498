using ClDiffusion.Backends;
using ClDiffusion.Models;
using ClDiffusion.Samplers;

namespace ClDiffusion.Scheduling;

/// <summary>What to sample and how: the sampler and its parameters, the scheduling, the slice of the run.</summary>
public sealed record SamplingOptions
{
    /// <summary>Sampler name (see <see cref="Samplers.Sampler.Names"/>).</summary>
    public string Sampler { get; init; } = SamplerOptions.DefaultSampler;
    public SamplerOptions Parameters { get; init; } = new();
    public SchedulerOptions Scheduler { get; init; } = new();
    /// <summary>Global index of the run's first sample: the run is samples [FirstSample, FirstSample + n) of the seed.</summary>
    public long FirstSample { get; init; }
    /// <summary>Produce only this contiguous slice of the run (see <see cref="Scheduling.Shard"/>); the output holds only its rows.</summary>
    public Shard Shard { get; init; } = Shard.Whole;

    /// <summary>The rows this run produces: [first, first + count) as global sample indices.</summary>
    public (long first, long count) Rows(long n)
    {
        var (lo, count) = Shard.Range(n);
        return (FirstSample + lo, count);
    }
}

/// <summary>
/// The entry point for .NET hosts: opens one or more devices, loads models, and samples into memory, a stream or a
/// file with progress and cancellation.
/// <code>
/// await using var engine = DiffusionEngine.Open("auto");
/// var model = engine.Load("mixture.json");
/// var samples = new float[n * model.Dim];
/// await engine.SampleAsync(model, new SamplingOptions { Sampler = "ei" }, n, seed, samples, progress, ct);
/// </code>
/// One run at a time per engine (concurrent calls queue up).
/// </summary>
public sealed class DiffusionEngine : IDisposable, IAsyncDisposable
{
    readonly List<IBackend> backends;
    readonly bool owns;
    readonly SemaphoreSlim oneRun = new(1, 1);

    DiffusionEngine(List<IBackend> backends, bool owns, string? notice) { this.backends = backends; this.owns = owns; Notice = notice; }

    /// <summary>The devices, one backend each (the same device named twice is opened twice, in two contexts).</summary>
    public IReadOnlyList<IBackend> Devices => backends;
    /// <summary>A note for the user (e.g. `auto` found no OpenCL platform and uses the CPU), or null.</summary>
    public string? Notice { get; }
    public string DeviceNames => string.Join(", ", backends.Select(b => b.DeviceName));

    /// <summary>
    /// Opens devices: a device string (auto | cpu | opencl | opencl:P:D | opencl:NAME), a comma list of them, or
    /// `all` (every OpenCL device except software renderers; the CPU backend when there is none). Null: $CLDIFF_DEVICE, else auto.
    /// </summary>
    public static DiffusionEngine Open(string? devices = null, BackendOptions? options = null)
    {
        var list = DeviceList.Open(devices, options, out var notice);
        return new DiffusionEngine(list, owns: true, notice);
    }

    /// <summary>An engine over backends the caller opened (and keeps owning unless `owns`).</summary>
    public static DiffusionEngine FromBackends(IEnumerable<IBackend> backends, bool owns = false) => new(backends.ToList(), owns, null);

    /// <summary>A Gaussian-mixture target from its JSON file.</summary>
    public IScoreModel Load(string path) => GaussianMixture.Load(path);
    /// <summary>Any score model description (a GaussianMixture, a PerturbedScore, a registered model type).</summary>
    public IScoreModel Load(IScoreModel model) => model ?? throw new ArgumentNullException(nameof(model));

    /// <summary>Samples into a sink (rows arrive in sample order). Returns the cost and provenance.</summary>
    public async Task<RunStats> SampleAsync(IScoreModel model, SamplingOptions options, long n, ulong seed, ISampleSink sink,
        IProgress<SamplingProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(model); ArgumentNullException.ThrowIfNull(options); ArgumentNullException.ThrowIfNull(sink);
        var (first, count) = options.Rows(n);
        var scheduler = new ChunkScheduler(backends, options.Scheduler);
        await oneRun.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await Task.Factory.StartNew(() => scheduler.Run(model, options.Sampler, options.Parameters, seed, first, count, sink, progress, ct),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        }
        finally { oneRun.Release(); }
    }

    /// <summary>
    /// Samples into memory on the calling thread, on the engine's first device, in batches of at most
    /// <c>options.Scheduler.MaxChunkSize</c> one after another: for a host that must see every callback on its own
    /// thread (the C ABI's cld_sample and cld_sample_async, whose progress callbacks may call back into the library).
    /// `step` is called after every sampler step, `batches` with the samples done after each batch. The samples equal
    /// <see cref="SampleAsync(IScoreModel, SamplingOptions, long, ulong, Memory{float}, IProgress{SamplingProgress}?, CancellationToken)"/>'s
    /// (counter-based randomness); the same one-run-at-a-time lock applies.
    /// </summary>
    public RunStats Sample(IScoreModel model, SamplingOptions options, long n, ulong seed, Span<float> destination,
        Action<StepInfo>? step = null, IProgress<long>? batches = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(model); ArgumentNullException.ThrowIfNull(options);
        var (first, count) = options.Rows(n);
        if (count > int.MaxValue) throw new ArgumentException($"one call samples at most 2^31 - 1 rows, got {count}; split it with shards");
        oneRun.Wait(ct);
        try
        {
            return SampleRun.Run(backends[0], model, options.Sampler, options.Parameters, seed, first, (int)count, destination,
                options.Scheduler.MaxChunkSize, step, ct, batches);
        }
        finally { oneRun.Release(); }
    }

    /// <summary>Samples into memory: `destination` holds count * d floats (count = n, or the shard's rows).</summary>
    public Task<RunStats> SampleAsync(IScoreModel model, SamplingOptions options, long n, ulong seed, Memory<float> destination,
        IProgress<SamplingProgress>? progress = null, CancellationToken ct = default)
    {
        var (_, count) = options.Rows(n);
        if (destination.Length < count * model.Dim) throw new ArgumentException($"destination holds {destination.Length} floats, needs {count} x {model.Dim}");
        return SampleAsync(model, options, n, seed, new MemorySink(destination, model.Dim), progress, ct);
    }

    /// <summary>Samples as a float32 [count, d] .npy image written to `stream` (header first, rows in order); the stream stays open.</summary>
    public async Task<RunStats> SampleAsync(IScoreModel model, SamplingOptions options, long n, ulong seed, Stream npyStream,
        IProgress<SamplingProgress>? progress = null, CancellationToken ct = default)
    {
        var (_, count) = options.Rows(n);
        var sink = new NpyStreamSink(npyStream, count, model.Dim);
        var stats = await SampleAsync(model, options, n, seed, sink, progress, ct).ConfigureAwait(false);
        sink.Complete();
        return stats;
    }

    /// <summary>Samples into a .npy file: streamed to a temporary file renamed at the end; on failure or cancellation no file is left.</summary>
    public async Task<RunStats> SampleToFileAsync(IScoreModel model, SamplingOptions options, long n, ulong seed, string npyPath,
        IProgress<SamplingProgress>? progress = null, CancellationToken ct = default, bool checkFinite = false)
    {
        if (!npyPath.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"streaming output must be a .npy file, got '{npyPath}'");
        var (first, count) = options.Rows(n);
        RunStats? stats = null;
        await OutputFile.WriteAsync(npyPath, async s =>
        {
            var npy = new NpyStreamSink(s, count, model.Dim);
            ISampleSink sink = checkFinite ? new FiniteCheckSink(npy, model.Dim, first) : npy;
            stats = await SampleAsync(model, options, n, seed, sink, progress, ct).ConfigureAwait(false);
            npy.Complete();
        }).ConfigureAwait(false);
        return stats!;
    }

    public void Dispose()
    {
        if (owns) foreach (var b in backends) b.Dispose();
        backends.Clear();
    }

    public ValueTask DisposeAsync() { Dispose(); return ValueTask.CompletedTask; }
}
