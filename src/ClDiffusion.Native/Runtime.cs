using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using ClDiffusion.Backends;
using ClDiffusion.Models;
using ClDiffusion.Scheduling;

namespace ClDiffusion.Native;

/// <summary>Thread-local last-error text, kept in pinned managed arrays (no native allocation to leak).</summary>
internal static unsafe class Errors
{
    static readonly byte[] Empty = GC.AllocateArray<byte>(1, pinned: true);
    [ThreadStatic] static byte[]? current;

    static byte* Ptr(byte[] a) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));

    public static byte* Last => Ptr(current ?? Empty);

    public static void Clear() => current = null;

    public static Status Set(Status s, string message)
    {
        int n = Encoding.UTF8.GetByteCount(message);
        var a = GC.AllocateArray<byte>(n + 1, pinned: true);
        Encoding.UTF8.GetBytes(message, a);
        current = a;
        return s;
    }

    /// <summary>Maps any exception to a status and records its message. Never throws.</summary>
    public static Status From(Exception e)
    {
        try
        {
            var (s, prefix) = Classify(e);
            return Set(s, prefix + e.Message);
        }
        catch
        {
            current = null;
            return Status.Internal;
        }
    }

    public static (Status, string) Classify(Exception e) => e switch
    {
        CldException c => (c.Status, ""),
        ClDiffusion.Samplers.NonFiniteSampleException => (Status.NonFinite, ""),
        OperationCanceledException => (Status.Cancelled, ""),
        OutOfMemoryException or InsufficientExecutionStackException => (Status.OutOfMemory, "out of memory: "),
        InvalidDataException or JsonException or FormatException => (Status.Format, ""),
        FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException => (Status.Io, ""),
        NotSupportedException => (Status.Device, ""),
        ArgumentException or OverflowException => (Status.InvalidArgument, ""),
        _ => (Status.Internal, $"internal error ({e.GetType().FullName}): "),
    };
}

internal enum HandleKind : byte { Engine = 0xE1, Model = 0x3D, Job = 0xB5, Settings = 0x5E }

/// <summary>
/// Handle table. A handle value is (generation &lt;&lt; 32) | (kind &lt;&lt; 24) | (slot + 1): a stale handle (slot reused or
/// freed: generation differs), a handle of another kind or a made-up value is detected, never dereferenced.
/// </summary>
internal static class Handles
{
    struct Entry { public object? Obj; public uint Gen; public HandleKind Kind; }
    static readonly object gate = new();
    static Entry[] entries = new Entry[64];
    static readonly Stack<int> free = new();
    static int used;
    const int MaxSlots = (1 << 24) - 2;

    static string Name(HandleKind k) => k switch { HandleKind.Engine => "engine", HandleKind.Model => "model", HandleKind.Settings => "sample settings", _ => "job" };

    public static nint Add(object o, HandleKind kind)
    {
        lock (gate)
        {
            int slot;
            if (free.Count > 0) slot = free.Pop();
            else
            {
                if (used >= MaxSlots) throw new CldException(Status.OutOfMemory, "too many live handles");
                if (used == entries.Length) Array.Resize(ref entries, entries.Length * 2);
                slot = used++;
                entries[slot].Gen = 1;
            }
            entries[slot].Obj = o; entries[slot].Kind = kind;
            return (nint)(((ulong)entries[slot].Gen << 32) | ((ulong)kind << 24) | (uint)(slot + 1));
        }
    }

    static int Find(nint h, HandleKind kind)
    {
        ulong v = (ulong)h;
        string what = Name(kind);
        if (v == 0) throw new CldException(Status.InvalidArgument, $"{what} handle is NULL");
        int slot = (int)(v & 0xFFFFFF) - 1;
        var k = (HandleKind)((v >> 24) & 0xFF);
        uint gen = (uint)(v >> 32);
        if (k != kind)
        {
            string got = k is HandleKind.Engine or HandleKind.Model or HandleKind.Job or HandleKind.Settings ? (k == HandleKind.Engine ? "an " : "a ") + $"{Name(k)} handle" : "not a cldiffusion handle";
            throw new CldException(Status.InvalidHandle, $"invalid {what} handle 0x{v:x}: {got}");
        }
        if (slot < 0 || slot >= used || entries[slot].Obj is null || entries[slot].Gen != gen || entries[slot].Kind != kind)
            throw new CldException(Status.InvalidHandle, $"invalid {what} handle 0x{v:x}: already destroyed or never created");
        return slot;
    }

    public static T Get<T>(nint h, HandleKind kind) where T : class
    {
        lock (gate) return (T)entries[Find(h, kind)].Obj!;
    }

    /// <summary>Removes the handle (later use is detected as stale) and returns its object.</summary>
    public static T Remove<T>(nint h, HandleKind kind) where T : class
    {
        lock (gate)
        {
            int slot = Find(h, kind);
            var o = (T)entries[slot].Obj!;
            Release(slot);
            return o;
        }
    }

    /// <summary>Removes h if it still refers to o (used when an engine takes its models down).</summary>
    public static void RemoveIf(nint h, object o)
    {
        lock (gate)
        {
            int slot = (int)((ulong)h & 0xFFFFFF) - 1;
            if (slot >= 0 && slot < used && ReferenceEquals(entries[slot].Obj, o) && entries[slot].Gen == (uint)((ulong)h >> 32)) Release(slot);
        }
    }

    static void Release(int slot)
    {
        entries[slot].Obj = null;
        entries[slot].Gen = entries[slot].Gen == uint.MaxValue ? 1 : entries[slot].Gen + 1;
        free.Push(slot);
    }
}

/// <summary>
/// Re-entrancy (the header's "Callbacks" section): the library knows when the calling thread is inside a progress
/// callback. There, a call that would wait for a job (which may be the callback's own, or one whose callback waits
/// back) fails at once with CLD_ERR_WOULD_BLOCK, and destroying an engine or model does not wait: it cancels
/// their jobs and the last of them to stop frees the engine.
/// </summary>
internal static class Callbacks
{
    [ThreadStatic] static int depth;
    public static bool Active => depth > 0;
    public static void Enter() => depth++;
    public static void Leave() => depth--;

    /// <summary>Throws CLD_ERR_WOULD_BLOCK when called from a progress callback.</summary>
    public static void RefuseWait(string call)
    {
        if (Active)
            throw new CldException(Status.WouldBlock,
                $"{call} from a progress callback would wait for a job (possibly its own, or one whose callback waits back): " +
                "start work with cld_sample_async and check it with cld_job_poll or cld_job_wait(job, 0) instead");
    }
}

/// <summary>One sampling call in flight (sync or async), registered with its engine so destroy can stop it.</summary>
internal sealed class Run
{
    public required Model Model { get; init; }
    public readonly CancellationTokenSource Cancel = new();
    public readonly ManualResetEventSlim Done = new(false);
    /// <summary>Managed id of the thread that runs the sampler (the worker thread for a job).</summary>
    public volatile int ThreadId;
}

internal sealed class Engine
{
    /// <summary>The engine every .NET host uses, over this handle's one device; the handle adds the C rules (callers' threads, re-entry, destroy while running).</summary>
    public required DiffusionEngine Diffusion { get; init; }
    public IBackend Backend => Diffusion.Devices[0];
    public nint Handle;
    readonly object gate = new();
    readonly List<Run> runs = new();
    readonly List<Model> models = new();
    readonly SemaphoreSlim exclusive = new(1, 1);
    volatile int holderThread;
    bool closed, disposeWhenIdle, disposed;

    public void AddModel(Model m)
    {
        lock (gate)
        {
            if (closed) throw new CldException(Status.InvalidHandle, "engine was destroyed");
            models.Add(m);
        }
    }

    public void Register(Run r)
    {
        lock (gate)
        {
            if (closed) throw new CldException(Status.InvalidHandle, "engine was destroyed");
            if (r.Model.Closed) throw new CldException(Status.InvalidHandle, "model was destroyed");
            runs.Add(r);
        }
    }

    /// <summary>Forgets a finished run; the last run of an engine closed from a callback frees the engine's backend.</summary>
    public void Unregister(Run r)
    {
        bool last;
        lock (gate) { runs.Remove(r); last = disposeWhenIdle && runs.Count == 0; }
        if (last) DisposeBackend();
    }

    void DisposeBackend()
    {
        lock (gate) { if (disposed) return; disposed = true; }
        Diffusion.Dispose();
    }

    /// <summary>Runs body while holding the engine (one sampling call at a time), honouring cancellation.</summary>
    public void Exclusive(CancellationToken cancel, Action body)
    {
        if (holderThread == Environment.CurrentManagedThreadId)
            throw new CldException(Status.InvalidArgument, "sampling on an engine from a progress callback of that engine's own job would deadlock");
        exclusive.Wait(cancel);
        try { holderThread = Environment.CurrentManagedThreadId; body(); }
        finally { holderThread = 0; exclusive.Release(); }
    }

    /// <summary>Cancels the runs matching the filter and waits for them; refuses to wait on the calling thread's own run.</summary>
    public void StopRuns(Func<Run, bool> which)
    {
        Run[] victims;
        lock (gate) victims = runs.Where(which).ToArray();
        int me = Environment.CurrentManagedThreadId;
        if (victims.Any(r => r.ThreadId == me && !r.Done.IsSet))
            throw new CldException(Status.InvalidArgument, "cannot destroy this from a progress callback of a job that uses it (it would wait for itself)");
        foreach (var r in victims) r.Cancel.Cancel();
        foreach (var r in victims) r.Done.Wait();
    }

    /// <summary>
    /// Closes the engine: no new run, every run cancelled, models stale. With wait, returns once the runs stopped and
    /// the backend is freed; without (from a progress callback), returns at once and the last run frees the backend.
    /// </summary>
    public void Close(bool wait)
    {
        lock (gate) closed = true;
        Model[] ms;
        lock (gate) { ms = models.ToArray(); models.Clear(); }
        foreach (var m in ms) { m.Closed = true; Handles.RemoveIf(m.Handle, m); }
        if (wait)
        {
            StopRuns(_ => true);
            DisposeBackend();
            return;
        }
        bool idle;
        lock (gate)
        {
            foreach (var r in runs) r.Cancel.Cancel();
            idle = runs.Count == 0;
            disposeWhenIdle = !idle;
        }
        if (idle) DisposeBackend();
    }

    /// <summary>Cancels the runs matching the filter without waiting for them (a destroy from a progress callback).</summary>
    public void CancelRuns(Func<Run, bool> which)
    {
        lock (gate) foreach (var r in runs.Where(which)) r.Cancel.Cancel();
    }

    /// <summary>Marks the model closed (no new run may start on it) and forgets it.</summary>
    public void CloseModel(Model m)
    {
        lock (gate) { m.Closed = true; models.Remove(m); }
    }
}

internal sealed class Model
{
    public required Engine Engine { get; init; }
    public required IScoreModel Score { get; init; }
    public nint Handle;
    public volatile bool Closed;
}

internal sealed unsafe class Job
{
    public required Run Run { get; init; }
    public required Engine Engine { get; init; }
    public delegate* unmanaged<void*, float, void> Callback;
    public void* UserData;
    int progressBits;
    public volatile Status Result = Status.Ok;
    public string Message = "";
    public volatile bool Finished;

    public float Progress
    {
        get => BitConverter.Int32BitsToSingle(Volatile.Read(ref progressBits));
        set => Volatile.Write(ref progressBits, BitConverter.SingleToInt32Bits(value));
    }

    /// <summary>Calls the host's progress callback (on the worker thread), marked as a callback for the re-entrancy rules.</summary>
    public void Notify(float p)
    {
        var cb = Callback;
        if (cb == null) return;
        Callbacks.Enter();
        try { cb(UserData, p); }
        finally { Callbacks.Leave(); }
    }

    /// <summary>After destroy: never call back again.</summary>
    public void Detach() => Callback = null;
}
