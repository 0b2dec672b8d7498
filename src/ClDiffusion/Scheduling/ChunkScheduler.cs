using System.Buffers;
using System.Diagnostics;
using ClDiffusion.Backends;
using ClDiffusion.Models;
using ClDiffusion.Samplers;

namespace ClDiffusion.Scheduling;

/// <summary>
/// Runs n samples as chunks over one or more backends (devices), through the backend interface only. Every device has a
/// worker thread that keeps up to <see cref="SchedulerOptions.StreamsPerDevice"/> chunks in flight (one per backend
/// stream: an OpenCL command queue, a CPU worker thread) and takes the next
/// chunk whenever one of its streams is free, so faster devices take more chunks. Finished chunks go through a
/// bounded reorder buffer and reach the sink in sample order; a device never takes a chunk more than
/// <c>ReorderChunks</c> ahead of the next one to write, so host memory does not grow with n.
/// Samples are identical whatever the chunking, the number of streams or devices (counter-based randomness).
/// </summary>
public sealed class ChunkScheduler
{
    readonly IReadOnlyList<IBackend> devices;
    readonly SchedulerOptions options;

    public ChunkScheduler(IReadOnlyList<IBackend> devices, SchedulerOptions? options = null)
    {
        if (devices.Count == 0) throw new ArgumentException("the scheduler needs at least one device");
        this.devices = devices; this.options = options ?? new SchedulerOptions();
        this.options.Validate();
    }

    int StreamsOf(IBackend b) => options.StreamsPerDevice;

    /// <summary>
    /// The chunk size this run would use: from the options, else from each device's memory and the sampler's memory cost
    /// function in the registry (<see cref="SamplerInfo.Memory"/>; nothing is run to measure it).
    /// </summary>
    public int PlanChunkSize(IScoreModel model, string sampler, SamplerOptions o, long n)
    {
        if (options.ChunkSize is int fixedSize) return fixedSize;
        var memory = Sampler.MemoryOf(sampler, o);
        bool labels = o.Labels is not null, guided = labels && o.Guidance != 0;
        long perSample = 4 * (memory.FloatsPerSample(model.Dim, labels, guided) + 16);   // + backend-internal scratch (Shen-Lee coefficients)
        long widest = memory.WidestFloatsPerSample(model.Dim, guided);
        long constant = 4 * (ConstantFloats(o) + ModelFloats(model));
        long chunk = options.MaxChunkSize;
        foreach (var b in devices)
        {
            var mem = b.Memory;
            long budget = (mem.IsHost ? options.CpuMemoryBytes : (long)(mem.Bytes * options.DeviceMemoryFraction)) / StreamsOf(b);
            long maxAlloc = mem.MaxAllocationBytes;
            chunk = Math.Min(chunk, Math.Max(1, (budget - constant) / perSample));
            chunk = Math.Min(chunk, Math.Max(1, maxAlloc / (4 * Math.Max(widest, 1))));
        }
        int streams = devices.Sum(StreamsOf);
        chunk = Math.Min(chunk, Math.Max(1, (n + streams - 1) / streams));   // every stream gets work on small runs
        return (int)Math.Max(1, chunk);
    }

    /// <summary>Buffers that do not grow with the chunk (Picard's window times; a few floats): bounded by the grid's length.</summary>
    static long ConstantFloats(SamplerOptions o) => 2 * (long)Math.Min(SamplerLimits.GridStepsBound(o), int.MaxValue) + 64;

    static long ModelFloats(IScoreModel m) => m switch
    {
        GaussianMixture g => (long)g.Components * (2L * g.Dim + 1),
        PerturbedScore p => ModelFloats(p.Inner),
        _ => 0,
    };

    /// <summary>Runs samples [first, first + n) of `seed` into `sink` (in order); blocks until done. n may be 0.</summary>
    public RunStats Run(IScoreModel model, string sampler, SamplerOptions o, ulong seed, long first, long n, ISampleSink sink,
        IProgress<SamplingProgress>? progress = null, CancellationToken ct = default)
    {
        var job = new SamplingJob(model, sampler, o, seed, first).Validated();
        if (n < 0) throw new ArgumentException($"number of samples must be non-negative, got {n}");
        if (n > int.MaxValue) throw new ArgumentException($"one run holds at most 2^31 - 1 samples, got {n}; split it with shards");
        if (first < 0 || first + n > (1L << 32)) throw new ArgumentException($"sample indices [{first}, {first + n}) must lie in [0, 2^32)");
        o.Labels?.Validate(model, first, n);   // labels follow global sample indices: every chunk and device reads its own
        ct.ThrowIfCancellationRequested();
        var sw = Stopwatch.StartNew();
        string names = string.Join(", ", devices.Select(d => d.DeviceName));
        if (n == 0) return new RunStats(sampler, names, 0, model.Dim, 0, 0, 0);
        int chunk = PlanChunkSize(model, sampler, o, n);
        o.Validate(sampler, chunk, model.Dim);
        int window = options.ReorderChunks > 0 ? options.ReorderChunks : Math.Max(4, 2 * devices.Sum(StreamsOf));
        var state = new RunState(n, chunk, window, sink, model.Dim, progress, sw, ct);
        using (ct.Register(state.Wake))
        {
            var threads = devices.Select((b, i) => new Thread(() => Worker(b, job, chunk, state)) { IsBackground = true, Name = $"cldiff device {i}" }).ToList();
            foreach (var t in threads) t.Start();
            foreach (var t in threads) t.Join();
        }
        state.ReleasePending();
        if (state.Error is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
        ct.ThrowIfCancellationRequested();
        if (state.Written != n) throw new InvalidOperationException($"scheduler wrote {state.Written} of {n} samples");
        return new RunStats(sampler, names, (int)n, model.Dim, state.NfeTotal / n, state.MaxRounds, sw.Elapsed.TotalSeconds);
    }

    void Worker(IBackend device, SamplingJob job, int chunk, RunState st)
    {
        var streams = new List<ChunkStream>();
        try
        {
            int s = StreamsOf(device);
            for (int i = 0; i < s; i++) streams.Add(new ChunkStream(device, job, chunk));
            var free = new Stack<ChunkStream>(streams.AsEnumerable().Reverse());
            var inFlight = new Queue<(ChunkStream stream, Chunk chunk)>();
            while (!st.Stopped)
            {
                if (free.Count > 0 && st.TryTake(block: inFlight.Count == 0) is { } c)
                {
                    var stream = free.Pop();
                    stream.Start(c, st.Cancel);
                    inFlight.Enqueue((stream, c));
                    continue;
                }
                if (inFlight.Count == 0) break;          // nothing left to take and nothing to collect
                var (done, dc) = inFlight.Dequeue();
                var data = done.Collect();               // the only host wait: a finished chunk
                st.Complete(dc, data);
                free.Push(done);
            }
        }
        catch (Exception e) { st.Fail(e); }
        finally
        {
            foreach (var s in streams)
                try { s.Dispose(); } catch (Exception e) { st.Fail(e); }
        }
    }

    /// <summary>The shared state of a run: chunk dispenser, reorder buffer, progress.</summary>
    sealed class RunState(long n, int chunk, int window, ISampleSink sink, int dim, IProgress<SamplingProgress>? progress, Stopwatch sw, CancellationToken ct)
    {
        readonly object gate = new(), writeLock = new();
        readonly Dictionary<int, (float[] data, Chunk chunk)> pending = new();
        readonly int chunks = (int)((n + chunk - 1) / chunk);
        int next, nextWrite;
        volatile Exception? error;
        public long Written;
        public double NfeTotal;
        public int MaxRounds;
        public CancellationToken Cancel => ct;
        public Exception? Error => error;
        public bool Stopped => error is not null || ct.IsCancellationRequested;

        public void Wake() { lock (gate) Monitor.PulseAll(gate); }

        public void Fail(Exception e)
        {
            lock (gate) { if (error is null && !(e is OperationCanceledException && ct.IsCancellationRequested)) error = e; Monitor.PulseAll(gate); }
        }

        /// <summary>The next chunk, or null when none is left, the run stopped, or (not blocking) the reorder window is full.</summary>
        public Chunk? TryTake(bool block)
        {
            lock (gate)
            {
                while (true)
                {
                    if (Stopped || next >= chunks) return null;
                    if (next < nextWrite + window)
                    {
                        int i = next++;
                        long off = (long)i * chunk;
                        return new Chunk { Index = i, Offset = off, Count = (int)Math.Min(chunk, n - off) };
                    }
                    if (!block) return null;
                    Monitor.Wait(gate);
                }
            }
        }

        public void Complete(Chunk c, ReadOnlySpan<float> data)
        {
            lock (writeLock)
            {
                if (Stopped) return;
                if (c.Index != nextWrite)
                {
                    var copy = ArrayPool<float>.Shared.Rent(data.Length);
                    data.CopyTo(copy);
                    pending[c.Index] = (copy, c);
                    return;
                }
                Emit(c, data);
                while (pending.Remove(nextWrite, out var p))
                {
                    try { Emit(p.chunk, p.data.AsSpan(0, p.chunk.Count * dim)); }
                    finally { ArrayPool<float>.Shared.Return(p.data); }
                }
            }
        }

        void Emit(Chunk c, ReadOnlySpan<float> data)
        {
            sink.Write(c.Offset, data);
            Written += c.Count;
            NfeTotal += c.Nfe * c.Count;
            MaxRounds = Math.Max(MaxRounds, c.Rounds);
            lock (gate) { nextWrite++; Monitor.PulseAll(gate); }
            progress?.Report(new SamplingProgress(Written, n, NfeTotal, sw.Elapsed));
        }

        public void ReleasePending()
        {
            lock (writeLock)
            {
                foreach (var p in pending.Values) ArrayPool<float>.Shared.Return(p.data);
                pending.Clear();
            }
        }
    }
}
