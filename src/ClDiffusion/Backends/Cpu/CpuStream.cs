using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace ClDiffusion.Backends.Cpu;

/// <summary>Host memory of the CPU backend (plain managed memory: nothing to pin).</summary>
public sealed class CpuHostBuffer(long floats) : IHostBuffer
{
    readonly float[] data = new float[floats];
    public long Length => data.LongLength;
    public Span<float> Span => data;
    public void Dispose() { }
}

/// <summary>
/// A stream of the CPU backend: one worker thread runs the stream's queued work in order, so several streams compute
/// concurrently while the caller's thread goes on (the scheduler collects one chunk while another is computed).
/// Operations issued through <see cref="Backend"/> run on the thread that issues them; work meant to overlap is given
/// to <see cref="Enqueue"/>. A failure of queued work is rethrown by the next <see cref="IStreamEvent.Wait"/> (or
/// <see cref="Synchronize"/>), and the stream runs nothing after it.
/// </summary>
public sealed class CpuStream : IBackendStream
{
    readonly CpuBackend backend;
    /// <summary>Queued work; an event's Set (Always) runs even after a failure, so that its waiter wakes and sees the failure.</summary>
    readonly BlockingCollection<(Action run, bool always)> queue = new();
    readonly Thread worker;
    volatile ExceptionDispatchInfo? failure;

    internal CpuStream(CpuBackend backend)
    {
        this.backend = backend;
        worker = new Thread(Run) { IsBackground = true, Name = "cldiff cpu stream" };
        worker.Start();
    }

    public IBackend Backend => backend;

    void Run()
    {
        foreach (var (run, always) in queue.GetConsumingEnumerable())
        {
            if (failure is not null && !always) continue;   // a failed stream drops later work; its events still complete
            try { run(); }
            catch (Exception e) { failure ??= ExceptionDispatchInfo.Capture(e); }
        }
    }

    bool OnWorker => Thread.CurrentThread == worker;

    /// <summary>Runs `action` in stream order: now when called from the stream's own work, else queued.</summary>
    void InOrder(Action action)
    {
        if (OnWorker) action();
        else
        {
            try { queue.Add((action, false)); }
            catch (InvalidOperationException) { throw new ObjectDisposedException(nameof(CpuStream)); }
        }
    }

    public IHostBuffer AllocateHost(long floats) => new CpuHostBuffer(floats);

    public void Enqueue(Action<IBackend> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        InOrder(() => work(backend));
    }

    public void DownloadAsync(IDeviceBuffer src, IHostBuffer dst)
    {
        long n = (long)src.Rows * src.Cols;
        if (dst.Length < n) throw new ArgumentException($"host buffer of {dst.Length} floats cannot hold [{src.Rows}, {src.Cols}]");
        InOrder(() => backend.Download(src, dst.Span[..checked((int)n)]));
    }

    public void UploadAsync(IHostBuffer src, IDeviceBuffer dst)
    {
        long n = (long)dst.Rows * dst.Cols;
        if (src.Length < n) throw new ArgumentException($"host buffer of {src.Length} floats cannot fill [{dst.Rows}, {dst.Cols}]");
        InOrder(() => backend.Upload(dst, src.Span[..checked((int)n)]));
    }

    public IStreamEvent Record()
    {
        var ev = new Event(this);
        if (OnWorker) ev.Set();
        else
        {
            try { queue.Add((ev.Set, true)); }
            catch (InvalidOperationException) { throw new ObjectDisposedException(nameof(CpuStream)); }
        }
        return ev;
    }

    public void Synchronize() { using var e = Record(); e.Wait(); }

    public void Dispose()
    {
        if (queue.IsAddingCompleted) return;
        queue.CompleteAdding();
        if (!OnWorker) worker.Join();
        queue.Dispose();
    }

    sealed class Event(CpuStream stream) : IStreamEvent
    {
        readonly ManualResetEventSlim done = new(false);
        public void Set() => done.Set();
        public void Wait()
        {
            done.Wait();
            stream.failure?.Throw();
        }
        public void Dispose() => done.Dispose();
    }
}
