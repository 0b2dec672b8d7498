using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using Silk.NET.OpenCL;

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

/// <summary>A place one chunk at a time goes through <see cref="ChunkPipeline"/>: start noise, sampler, read-back, data space.</summary>
public interface IChunkStream : IDisposable
{
    /// <summary>Starts the chunk (on a device: enqueues everything and returns without waiting).</summary>
    void Start(Chunk c, CancellationToken ct);
    /// <summary>Waits for the started chunk and returns its samples in data space (valid until the next Start).</summary>
    ReadOnlySpan<float> Collect();
}

/// <summary>Any backend, synchronously: Start computes and downloads, Collect returns the host copy.</summary>
public sealed class SyncChunkStream : IChunkStream
{
    readonly IBackend backend; readonly SamplingJob job; readonly IPreparedScore prepared;
    readonly float[] host; int count;
    public SyncChunkStream(IBackend backend, SamplingJob job, int capacity)
    {
        this.backend = backend; this.job = job;
        prepared = backend.Prepare(job.Model);
        host = new float[(long)capacity * job.Model.Dim];
    }
    public void Start(Chunk c, CancellationToken ct)
    {
        (c.Nfe, c.Rounds) = ChunkPipeline.Run(backend, prepared, job, c.Offset, c.Count, host, cancel: ct);
        count = c.Count;
    }
    public ReadOnlySpan<float> Collect() => host.AsSpan(0, count * job.Model.Dim);
    public void Dispose() => prepared.Dispose();
}

/// <summary>
/// One OpenCL command queue holding one chunk in flight: the start noise is drawn on the device, the sampler's
/// kernels are enqueued without any host wait, and the result is read (non-blocking, with an event) into a pinned
/// host buffer (CL_MEM_ALLOC_HOST_PTR, mapped once). The host waits only in <see cref="Collect"/>.
/// </summary>
public sealed unsafe class OpenClChunkStream : IChunkStream
{
    readonly OpenClBackend backend; readonly bool ownsBackend;
    readonly SamplingJob job; readonly IPreparedScore prepared;
    readonly ClMem pinned; readonly float* host; readonly long capacityFloats;
    nint readEvent; int count;
    SamplerContext? inFlight;   // kept until Collect: its device flags name the step of a non-finite sample

    /// <summary>Streams on `root` (the first uses root's own queue, the others are sibling queues in its context).</summary>
    public OpenClChunkStream(OpenClBackend root, bool sibling, SamplingJob job, int capacity, bool profiling = false)
    {
        backend = sibling ? new OpenClBackend(root, profiling) : root; ownsBackend = sibling;
        this.job = job;
        try
        {
            prepared = backend.Prepare(job.Model);
            capacityFloats = (long)capacity * job.Model.Dim;
            pinned = new ClMem(backend.Context, capacityFloats * 4, MemFlags.ReadWrite | MemFlags.AllocHostPtr);
            int err;
            host = (float*)ClApi.Api.EnqueueMapBuffer(backend.Queue.Handle, pinned.Handle, true, MapFlags.Read | MapFlags.Write,
                0, (nuint)(Math.Max(capacityFloats, 1) * 4), 0, null, null, &err);
            OpenClException.Check(err, "clEnqueueMapBuffer (pinned host buffer)");
        }
        catch { Dispose(); throw; }
    }

    public OpenClBackend Backend => backend;

    public void Start(Chunk c, CancellationToken ct)
    {
        if (readEvent != 0) throw new InvalidOperationException("stream already holds a chunk in flight");
        inFlight?.Dispose(); inFlight = null;
        int d = job.Model.Dim;
        if ((long)c.Count * d > capacityFloats) throw new ArgumentException($"chunk of {c.Count} samples exceeds the stream's capacity");
        var ctx = ChunkPipeline.Context(backend, prepared, job, c.Offset, c.Count);
        inFlight = ctx;   // disposed at Collect, where its non-finite flags are read if a sample is bad
        ctx.Cancellation = ct;
        using var x = (OpenClBuffer)ChunkPipeline.Enqueue(ctx, job);
        nint ev;
        OpenClException.Check(ClApi.Api.EnqueueReadBuffer(backend.Queue.Handle, x.Mem.Handle, false, 0, (nuint)(x.Length * 4), host, 0, null, &ev),
            "clEnqueueReadBuffer (chunk to pinned host buffer)");
        readEvent = ev;
        OpenClException.Check(ClApi.Api.Flush(backend.Queue.Handle), "clFlush");
        c.Nfe = ctx.Nfe; c.Rounds = ctx.Rounds; count = c.Count;
        // x is released here (OpenCL keeps it alive until the enqueued commands ran); the context's buffers at Collect
    }

    public ReadOnlySpan<float> Collect()
    {
        if (readEvent == 0) throw new InvalidOperationException("no chunk in flight");
        nint ev = readEvent; readEvent = 0;
        int err = ClApi.Api.WaitForEvents(1, &ev);
        ClApi.Api.ReleaseEvent(ev);
        OpenClException.Check(err, "clWaitForEvents (chunk read-back)");
        var rows = new Span<float>(host, count * job.Model.Dim);
        var ctx = inFlight; inFlight = null;
        using (ctx) ctx?.ThrowIfNonFinite(rows);
        ChunkPipeline.ToDataSpace(job.Model, rows);
        return rows;
    }

    public void Dispose()
    {
        var cl = ClApi.Api;
        if (readEvent != 0) { nint ev = readEvent; readEvent = 0; cl.WaitForEvents(1, &ev); cl.ReleaseEvent(ev); }
        inFlight?.Dispose(); inFlight = null;
        if (pinned is not null && pinned.Handle != 0)
        {
            if (host is not null) cl.EnqueueUnmapMemObject(backend.Queue.Handle, pinned.Handle, host, 0, null, null);
            try { backend.Finish(); } catch (OpenClException) { }
            pinned.Dispose();
        }
        prepared?.Dispose();
        if (ownsBackend) backend.Dispose();
        else try { backend.Finish(); } catch (OpenClException) { }
    }
}
