using System.Runtime.InteropServices;
using System.Text;
using Silk.NET.OpenCL;

namespace ClDiffusion.Backends.OpenCL;

/// <summary>The loaded OpenCL API (libOpenCL through the ICD loader), or the reason it could not be loaded.</summary>
public static class ClApi
{
    static readonly Lazy<(CL? api, string? error)> lazy = new(() =>
    {
        try { return (CL.GetApi(), null); }
        catch (Exception e) { return (null, e.Message); }
    });

    /// <summary>The API, or null when no OpenCL library could be loaded.</summary>
    public static CL? TryGet(out string? error) { var (a, e) = lazy.Value; error = e; return a; }

    public static CL Api => lazy.Value.api ?? throw new OpenClException("load libOpenCL", -1001, $"{lazy.Value.error}; install an ICD: apt-get install pocl-opencl-icd ocl-icd-libopencl1");
}

/// <summary>An OpenCL platform (not owned: platforms live as long as the process).</summary>
public sealed unsafe class ClPlatform
{
    public nint Handle { get; }
    public int Index { get; }
    internal ClPlatform(nint h, int index) { Handle = h; Index = index; }

    public string Name => Info(PlatformInfo.Name);
    public string Vendor => Info(PlatformInfo.Vendor);
    public string Version => Info(PlatformInfo.Version);

    string Info(PlatformInfo what)
    {
        var cl = ClApi.Api;
        nuint size;
        OpenClException.Check(cl.GetPlatformInfo(Handle, what, 0, null, &size), "clGetPlatformInfo");
        var buf = new byte[(int)size];
        fixed (byte* p = buf) OpenClException.Check(cl.GetPlatformInfo(Handle, what, size, p, null), "clGetPlatformInfo");
        return Encoding.UTF8.GetString(buf).TrimEnd('\0').Trim();
    }

    /// <summary>All platforms; empty when there is no OpenCL library or no ICD installed.</summary>
    public static IReadOnlyList<ClPlatform> All()
    {
        var cl = ClApi.TryGet(out _);
        if (cl is null) return Array.Empty<ClPlatform>();
        uint n;
        int err;
        try { err = cl.GetPlatformIDs(0, null, &n); }
        catch (Exception) { return Array.Empty<ClPlatform>(); }   // libOpenCL.so missing: DllNotFoundException and friends
        if (err == -1001 || n == 0) return Array.Empty<ClPlatform>();
        OpenClException.Check(err, "clGetPlatformIDs");
        var ids = new nint[n];
        fixed (nint* p = ids) OpenClException.Check(cl.GetPlatformIDs(n, p, null), "clGetPlatformIDs");
        return ids.Select((h, i) => new ClPlatform(h, i)).ToArray();
    }

    public IReadOnlyList<ClDevice> Devices()
    {
        var cl = ClApi.Api;
        uint n;
        int err = cl.GetDeviceIDs(Handle, DeviceType.All, 0, null, &n);
        if (err == -1 || n == 0) return Array.Empty<ClDevice>();
        OpenClException.Check(err, "clGetDeviceIDs");
        var ids = new nint[n];
        fixed (nint* p = ids) OpenClException.Check(cl.GetDeviceIDs(Handle, DeviceType.All, n, p, null), "clGetDeviceIDs");
        return ids.Select((h, i) => new ClDevice(h, this, i)).ToArray();
    }
}

/// <summary>An OpenCL device (root devices are not reference counted).</summary>
public sealed unsafe class ClDevice
{
    public nint Handle { get; }
    public ClPlatform Platform { get; }
    public int Index { get; }
    internal ClDevice(nint h, ClPlatform platform, int index) { Handle = h; Platform = platform; Index = index; }

    public string Name => String(DeviceInfo.Name);
    public string Vendor => String(DeviceInfo.Vendor);
    public string Version => String(DeviceInfo.Version);
    public string DriverVersion => String(DeviceInfo.DriverVersion);
    public string Extensions => String(DeviceInfo.Extensions);
    public int ComputeUnits => (int)Scalar<uint>(DeviceInfo.MaxComputeUnits);
    /// <summary>Reported maximum clock in MHz (0 when the driver does not say).</summary>
    public int ClockMHz { get { try { return (int)Scalar<uint>(DeviceInfo.MaxClockFrequency); } catch (OpenClException) { return 0; } } }
    public long GlobalMemory => (long)Scalar<ulong>(DeviceInfo.GlobalMemSize);
    public long MaxAlloc => (long)Scalar<ulong>(DeviceInfo.MaxMemAllocSize);
    public long MaxWorkGroupSize => (long)Scalar<nuint>(DeviceInfo.MaxWorkGroupSize);
    /// <summary>Local memory per work group in bytes (0 when the driver does not say).</summary>
    public long LocalMemory { get { try { return (long)Scalar<ulong>(DeviceInfo.LocalMemSize); } catch (OpenClException) { return 0; } } }
    public ulong TypeBits => Scalar<ulong>(DeviceInfo.Type);
    public bool HasFp64 => Extensions.Contains("cl_khr_fp64");
    /// <summary>The reported maximum clock (MHz; the FP32 peak of `cldiff mlpbench`).</summary>
    public int MaxClockMHz => (int)Scalar<uint>(DeviceInfo.MaxClockFrequency);

    public string TypeName => (TypeBits & 4) != 0 ? "gpu" : (TypeBits & 2) != 0 ? "cpu" : (TypeBits & 8) != 0 ? "accelerator" : "other";

    string String(DeviceInfo what)
    {
        var cl = ClApi.Api;
        nuint size;
        OpenClException.Check(cl.GetDeviceInfo(Handle, what, 0, null, &size), "clGetDeviceInfo");
        var buf = new byte[(int)size];
        fixed (byte* p = buf) OpenClException.Check(cl.GetDeviceInfo(Handle, what, size, p, null), "clGetDeviceInfo");
        return Encoding.UTF8.GetString(buf).TrimEnd('\0').Trim();
    }

    T Scalar<T>(DeviceInfo what) where T : unmanaged
    {
        T v = default;
        OpenClException.Check(ClApi.Api.GetDeviceInfo(Handle, what, (nuint)sizeof(T), &v, null), "clGetDeviceInfo");
        return v;
    }
}

/// <summary>Base of the owning wrappers: releases the handle once.</summary>
public abstract class ClObject : IDisposable
{
    static long live;
    /// <summary>Owning wrappers created and not yet disposed, all kinds together (leak checks in tests and the scheduler).</summary>
    public static long LiveCount => Interlocked.Read(ref live);
    public nint Handle { get; private set; }
    protected ClObject(nint handle) { Handle = handle; if (handle != 0) Interlocked.Increment(ref live); }
    protected abstract int Release(CL cl, nint handle);
    /// <summary>Called once when the handle is released (after Release).</summary>
    protected virtual void OnReleased() { }
    public void Dispose()
    {
        var h = Handle;
        if (h == 0) return;
        Handle = 0;
        Interlocked.Decrement(ref live);
        Release(ClApi.Api, h);
        OnReleased();
        GC.SuppressFinalize(this);
    }
    protected nint Live => Handle != 0 ? Handle : throw new ObjectDisposedException(GetType().Name);
}

public sealed unsafe class ClContext : ClObject
{
    public ClDevice Device { get; }
    public ClContext(ClDevice device) : base(Create(device)) { Device = device; }
    static nint Create(ClDevice device)
    {
        int err;
        nint d = device.Handle;
        var props = stackalloc nint[] { 0x1084 /* CL_CONTEXT_PLATFORM */, device.Platform.Handle, 0 };
        nint h = ClApi.Api.CreateContext(props, 1, &d, null, null, &err);
        OpenClException.Check(err, "clCreateContext");
        return h;
    }
    protected override int Release(CL cl, nint h) => cl.ReleaseContext(h);
}

public sealed unsafe class ClQueue : ClObject
{
    public ClContext Context { get; }
    public ClQueue(ClContext context, bool profiling = false) : base(Create(context, profiling)) { Context = context; }
    static nint Create(ClContext c, bool profiling)
    {
        int err;
#pragma warning disable CS0618
        nint h = ClApi.Api.CreateCommandQueue(c.Handle, c.Device.Handle, profiling ? CommandQueueProperties.ProfilingEnable : CommandQueueProperties.None, &err);
#pragma warning restore CS0618
        OpenClException.Check(err, "clCreateCommandQueue");
        return h;
    }
    public void Finish() => OpenClException.Check(ClApi.Api.Finish(Live), "clFinish");
    protected override int Release(CL cl, nint h) => cl.ReleaseCommandQueue(h);
}

/// <summary>A device buffer of bytes.</summary>
public unsafe class ClMem : ClObject
{
    static long liveBuffers;
    /// <summary>Device buffers created and not yet released (the scheduler's tests check it returns to its start value).</summary>
    public static long LiveBuffers => Interlocked.Read(ref liveBuffers);
    public long Bytes { get; }
    public unsafe ClMem(ClContext c, long bytes, void* hostCopy = null)
        : this(c, bytes, hostCopy is null ? MemFlags.ReadWrite : MemFlags.ReadWrite | MemFlags.CopyHostPtr, hostCopy) { }
    /// <summary>A buffer with explicit flags, e.g. ReadWrite | AllocHostPtr for pinned host staging memory.</summary>
    public unsafe ClMem(ClContext c, long bytes, MemFlags flags, void* hostPtr = null) : base(Create(c, bytes, flags, hostPtr))
    { Bytes = bytes; Interlocked.Increment(ref liveBuffers); }
    protected override void OnReleased() => Interlocked.Decrement(ref liveBuffers);
    static nint Create(ClContext c, long bytes, MemFlags flags, void* hostCopy)
    {
        int err;
        nint h = ClApi.Api.CreateBuffer(c.Handle, flags, (nuint)Math.Max(bytes, 4), hostCopy, &err);
        if (err is -4 or -5 or -6 or -61)
        {
            var d = c.Device;
            throw new OpenClAllocationException($"OpenCL clCreateBuffer failed: {OpenClException.ErrorName(err)} ({err}) for {bytes / 1048576.0:F1} MiB on {d.Name} " +
                $"(global memory {d.GlobalMemory >> 20} MiB, largest single buffer {d.MaxAlloc >> 20} MiB)", err);
        }
        OpenClException.Check(err, "clCreateBuffer");
        return h;
    }
    protected override int Release(CL cl, nint h) => cl.ReleaseMemObject(h);
}

public sealed unsafe class ClEvent : ClObject
{
    public ClEvent(nint h) : base(h) { }
    public void Wait() { nint h = Live; OpenClException.Check(ClApi.Api.WaitForEvents(1, &h), "clWaitForEvents"); }
    /// <summary>Device time of the command in seconds (the queue must have profiling enabled).</summary>
    public double Seconds
    {
        get
        {
            ulong s, e;
            OpenClException.Check(ClApi.Api.GetEventProfilingInfo(Live, ProfilingInfo.Start, 8, &s, null), "clGetEventProfilingInfo");
            OpenClException.Check(ClApi.Api.GetEventProfilingInfo(Live, ProfilingInfo.End, 8, &e, null), "clGetEventProfilingInfo");
            return (e - s) * 1e-9;
        }
    }
    protected override int Release(CL cl, nint h) => cl.ReleaseEvent(h);
}

public sealed unsafe class ClProgram : ClObject
{
    public string Name { get; }
    public ClContext Context { get; }
    internal ClProgram(ClContext c, nint h, string name) : base(h) { Context = c; Name = name; }

    public static ClProgram FromSource(ClContext c, string name, string source)
    {
        var bytes = Encoding.UTF8.GetBytes(source);
        int err;
        nint h;
        fixed (byte* p = bytes)
        {
            byte* s = p; nuint len = (nuint)bytes.Length;
            h = ClApi.Api.CreateProgramWithSource(c.Handle, 1, &s, &len, &err);
        }
        OpenClException.Check(err, "clCreateProgramWithSource");
        return new ClProgram(c, h, name);
    }

    public static ClProgram FromBinary(ClContext c, string name, byte[] binary)
    {
        int err, status;
        nint d = c.Device.Handle, h;
        fixed (byte* p = binary)
        {
            byte* b = p; nuint len = (nuint)binary.Length;
            h = ClApi.Api.CreateProgramWithBinary(c.Handle, 1, &d, &len, &b, &status, &err);
        }
        OpenClException.Check(err, "clCreateProgramWithBinary");
        if (status != 0) { ClApi.Api.ReleaseProgram(h); OpenClException.Check(status, "clCreateProgramWithBinary (binary status)"); }
        return new ClProgram(c, h, name);
    }

    /// <summary>Builds for the context's device; failure raises <see cref="OpenClBuildException"/> carrying the log.</summary>
    public void Build(string options)
    {
        nint d = Context.Device.Handle;
        int err = ClApi.Api.BuildProgram(Live, 1, &d, options, null, null);
        if (err != 0) throw new OpenClBuildException(Name, err, options, BuildLog());
    }

    public string BuildLog()
    {
        var cl = ClApi.Api;
        nuint size;
        if (cl.GetProgramBuildInfo(Live, Context.Device.Handle, ProgramBuildInfo.BuildLog, 0, null, &size) != 0) return "(no build log)";
        var buf = new byte[(int)size];
        fixed (byte* p = buf) cl.GetProgramBuildInfo(Live, Context.Device.Handle, ProgramBuildInfo.BuildLog, size, p, null);
        return Encoding.UTF8.GetString(buf).TrimEnd('\0');
    }

    public byte[] Binary()
    {
        var cl = ClApi.Api;
        nuint size;
        OpenClException.Check(cl.GetProgramInfo(Live, ProgramInfo.BinarySizes, (nuint)sizeof(nuint), &size, null), "clGetProgramInfo");
        var bin = new byte[(int)size];
        fixed (byte* p = bin)
        {
            byte* pp = p;
            OpenClException.Check(cl.GetProgramInfo(Live, ProgramInfo.Binaries, (nuint)sizeof(nint), &pp, null), "clGetProgramInfo");
        }
        return bin;
    }

    public ClKernel Kernel(string name) => new(this, name);
    protected override int Release(CL cl, nint h) => cl.ReleaseProgram(h);
}

/// <summary>A kernel; arguments are set with the typed Set overloads.</summary>
public sealed unsafe class ClKernel : ClObject
{
    public string Name { get; }
    internal ClKernel(ClProgram p, string name) : base(Create(p, name)) { Name = name; }
    static nint Create(ClProgram p, string name)
    {
        int err;
        nint h = ClApi.Api.CreateKernel(p.Handle, name, &err);
        if (err != 0) throw new OpenClException("clCreateKernel", err, $"kernel '{name}' in {p.Name}");
        return h;
    }
    void Arg(int i, nuint size, void* v)
    {
        int err = ClApi.Api.SetKernelArg(Live, (uint)i, size, v);
        if (err != 0) throw new OpenClException("clSetKernelArg", err, $"{Name} argument {i}");
    }
    public ClKernel Set(int i, ClMem m) { nint h = m.Handle; Arg(i, (nuint)sizeof(nint), &h); return this; }
    public ClKernel Set(int i, int v) { Arg(i, 4, &v); return this; }
    public ClKernel Set(int i, uint v) { Arg(i, 4, &v); return this; }
    public ClKernel Set(int i, float v) { Arg(i, 4, &v); return this; }
    public ClKernel Set(int i, double v) { Arg(i, 8, &v); return this; }
    public ClKernel SetLocal(int i, long bytes) { Arg(i, (nuint)bytes, null); return this; }

    /// <summary>1-D launch over at least `global` items rounded up to the work-group size `local`.</summary>
    public void Launch(ClQueue q, long global, int local, bool wantEvent = false, List<ClEvent>? events = null)
    {
        if (global <= 0) return;
        nuint g = (nuint)((global + local - 1) / local * local), l = (nuint)local;
        nint ev = 0;
        int err = ClApi.Api.EnqueueNdrangeKernel(q.Handle, Live, 1, null, &g, &l, 0, null, wantEvent ? &ev : null);
        if (err != 0) throw new OpenClException("clEnqueueNDRangeKernel", err, $"kernel {Name}, global {g}, local {l}");
        if (wantEvent) events?.Add(new ClEvent(ev));
    }
    protected override int Release(CL cl, nint h) => cl.ReleaseKernel(h);
}
