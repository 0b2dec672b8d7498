using ClDiffusion.Backends;
using ClDiffusion.Samplers;

namespace ClDiffusion.Scheduling;

/// <summary>One chunk of a run: samples [Offset, Offset + Count) of the run, global indices FirstSample + Offset ...</summary>
public sealed class Chunk
{
    public int Index { get; init; }
    public long Offset { get; init; }
    public int Count { get; init; }
    /// <summary>Score evaluations per sample and sequential rounds the sampler enqueued for this chunk.</summary>
    public double Nfe { get; set; }
    public int Rounds { get; set; }
}

/// <summary>
/// One backend stream (<see cref="IBackendStream"/>) holding at most one chunk in flight: <see cref="Start"/> queues the
/// chunk's <see cref="ChunkPipeline"/> (start noise, sampler) and an asynchronous read-back into the stream's host
/// buffer, and returns; <see cref="Collect"/> is the only wait, then the pipeline's collect step (<see cref="ChunkPipeline.Collect"/>). Works on any backend:
/// the scheduler never learns which.
/// </summary>
public sealed class ChunkStream : IDisposable
{
    readonly IBackendStream stream;
    readonly SamplingJob job;
    readonly IPreparedScore? prepared;
    readonly IHostBuffer? host;
    IStreamEvent? done;
    int count;
    SamplerContext? inFlight;   // kept until Collect: its device flags name the step of a non-finite sample

    public ChunkStream(IBackend device, SamplingJob job, int capacity)
    {
        this.job = job;
        stream = device.OpenStream();
        try
        {
            prepared = stream.Backend.Prepare(job.Model);
            host = stream.AllocateHost((long)capacity * job.Model.Dim);
        }
        catch { Dispose(); throw; }
    }

    public void Start(Chunk c, CancellationToken ct)
    {
        if (done is not null) throw new InvalidOperationException("stream already holds a chunk in flight");
        if ((long)c.Count * job.Model.Dim > host!.Length) throw new ArgumentException($"chunk of {c.Count} samples exceeds the stream's capacity");
        inFlight?.Dispose(); inFlight = null;
        stream.Enqueue(b =>
        {
            var ctx = ChunkPipeline.Context(b, prepared!, job, c.Offset, c.Count);
            try
            {
                ctx.Cancellation = ct;
                using var x = ChunkPipeline.Enqueue(ctx, job);
                stream.DownloadAsync(x, host);
                c.Nfe = ctx.Costs.Nfe; c.Rounds = ctx.Costs.Rounds;
                inFlight = ctx;
                // x is released here (a device keeps it alive until the queued commands ran); the context's buffers at Collect
            }
            catch { ctx.Dispose(); throw; }
        });
        done = stream.Record();
        count = c.Count;
    }

    /// <summary>Waits for the started chunk and returns its samples in data space (valid until the next Start).</summary>
    public ReadOnlySpan<float> Collect()
    {
        var ev = done ?? throw new InvalidOperationException("no chunk in flight");
        done = null;
        using (ev) ev.Wait();
        var rows = host!.Span[..(count * job.Model.Dim)];
        var ctx = inFlight ?? throw new InvalidOperationException("the started chunk left no context to collect");
        inFlight = null;
        using (ctx) ChunkPipeline.Collect(ctx, job.Model, rows);
        return rows;
    }

    public void Dispose()
    {
        if (done is not null)
        {
            try { done.Wait(); } catch (Exception) { /* the run already failed or was cancelled */ }
            done.Dispose(); done = null;
        }
        inFlight?.Dispose(); inFlight = null;
        host?.Dispose();
        prepared?.Dispose();
        stream.Dispose();
    }
}
