using Silk.NET.OpenCL;

namespace ClDiffusion.Backends.OpenCL;

/// <summary>
/// Host memory an OpenCL device transfers to and from without a staging copy: a CL_MEM_ALLOC_HOST_PTR buffer mapped
/// once for the buffer's life (pinned memory on the drivers that have it).
/// </summary>
public sealed unsafe class OpenClHostBuffer : IHostBuffer
{
    readonly OpenClBackend owner;
    readonly ClMem pinned;
    readonly float* host;
    public long Length { get; }

    internal OpenClHostBuffer(OpenClBackend owner, long floats)
    {
        this.owner = owner; Length = floats;
        pinned = new ClMem(owner.Context, Math.Max(floats, 1) * 4, MemFlags.ReadWrite | MemFlags.AllocHostPtr);
        try
        {
            int err;
            host = (float*)ClApi.Api.EnqueueMapBuffer(owner.Queue.Handle, pinned.Handle, true, MapFlags.Read | MapFlags.Write,
                0, (nuint)(Math.Max(floats, 1) * 4), 0, null, null, &err);
            OpenClException.Check(err, "clEnqueueMapBuffer (pinned host buffer)");
        }
        catch { pinned.Dispose(); throw; }
    }

    public Span<float> Span => new(host, checked((int)Length));
    internal float* Pointer => host;

    public void Dispose()
    {
        if (pinned.Handle == 0) return;
        if (host is not null) ClApi.Api.EnqueueUnmapMemObject(owner.Queue.Handle, pinned.Handle, host, 0, null, null);
        try { owner.Finish(); } catch (OpenClException) { }
        pinned.Dispose();
    }
}

/// <summary>
/// A stream of an OpenCL device: its own in-order command queue (a sibling <see cref="OpenClBackend"/> in the device's
/// context, sharing the compiled programs). Work is enqueued on the calling thread and never waited for; transfers
/// are non-blocking reads and writes into pinned host memory; <see cref="Record"/> is a marker event.
/// </summary>
public sealed unsafe class OpenClStream : IBackendStream
{
    readonly OpenClBackend queue;

    internal OpenClStream(OpenClBackend device) { queue = new OpenClBackend(device); }

    public IBackend Backend => queue;

    public IHostBuffer AllocateHost(long floats) => new OpenClHostBuffer(queue, floats);

    public void Enqueue(Action<IBackend> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        work(queue);
    }

    static (OpenClBuffer buf, OpenClHostBuffer host) Check(IDeviceBuffer d, IHostBuffer h)
    {
        if (d is not OpenClBuffer b) throw new ArgumentException("the device buffer does not belong to an OpenCL backend");
        if (h is not OpenClHostBuffer p) throw new ArgumentException("the host buffer was not allocated by an OpenCL stream");
        if (p.Length < b.Length) throw new ArgumentException($"host buffer of {p.Length} floats cannot hold [{b.Rows}, {b.Cols}]");
        return (b, p);
    }

    public void DownloadAsync(IDeviceBuffer src, IHostBuffer dst)
    {
        var (b, p) = Check(src, dst);
        if (b.Length == 0) return;
        OpenClException.Check(ClApi.Api.EnqueueReadBuffer(queue.Queue.Handle, b.Mem.Handle, false, 0, (nuint)(b.Length * 4), p.Pointer, 0, null, null),
            "clEnqueueReadBuffer (to pinned host memory)");
    }

    public void UploadAsync(IHostBuffer src, IDeviceBuffer dst)
    {
        var (b, p) = Check(dst, src);
        if (b.Length == 0) return;
        OpenClException.Check(ClApi.Api.EnqueueWriteBuffer(queue.Queue.Handle, b.Mem.Handle, false, 0, (nuint)(b.Length * 4), p.Pointer, 0, null, null),
            "clEnqueueWriteBuffer (from pinned host memory)");
    }

    public IStreamEvent Record()
    {
        nint ev;
        OpenClException.Check(ClApi.Api.EnqueueMarkerWithWaitList(queue.Queue.Handle, 0, null, &ev), "clEnqueueMarkerWithWaitList");
        OpenClException.Check(ClApi.Api.Flush(queue.Queue.Handle), "clFlush");
        return new Event(new ClEvent(ev));
    }

    public void Synchronize() => queue.Finish();

    public void Dispose() => queue.Dispose();

    sealed class Event(ClEvent ev) : IStreamEvent
    {
        public void Wait() => ev.Wait();
        public void Dispose() => ev.Dispose();
    }
}
