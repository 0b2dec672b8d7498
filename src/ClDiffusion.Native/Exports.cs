using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;

namespace ClDiffusion.Native;

/// <summary>
/// The exported C functions (native/include/cldiffusion.h documents each). Every export catches everything and
/// returns a status: no exception crosses the boundary.
/// </summary>
internal static unsafe class Exports
{
    public const uint AbiVersion = 3;

    static byte[] Pinned(string s)
    {
        var a = GC.AllocateArray<byte>(Encoding.UTF8.GetByteCount(s) + 1, pinned: true);
        Encoding.UTF8.GetBytes(s, a);
        return a;
    }
    static byte* Ptr(byte[] a) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));

    static readonly byte[] VersionText = Pinned($"{ClDiffusion.Version.Text} (abi {AbiVersion})");
    static readonly byte[] DefaultSamplerText = Pinned(SamplerOptions.DefaultSampler);
    static readonly byte[] DefaultGridText = Pinned(SamplerOptionTable.Text(SamplerOptions.Defaults.Grid));
    static readonly byte[] DefaultCorrectorText = Pinned(SamplerOptionTable.Text(SamplerOptions.Defaults.Corrector));

    static int Ok() { Errors.Clear(); return (int)Status.Ok; }
    static int Fail(Status s, string message) => (int)Errors.Set(s, message);
    static CldException Arg(string message) => new(Status.InvalidArgument, message);

    static string? Utf8(byte* p) => p is null ? null : Marshal.PtrToStringUTF8((nint)p);

    // ---------------------------------------------------------------------------------------------------------
    // Version and errors

    [UnmanagedCallersOnly(EntryPoint = "cld_abi_version")]
    public static uint CldAbiVersion() => AbiVersion;

    [UnmanagedCallersOnly(EntryPoint = "cld_version_string")]
    public static byte* CldVersionString()
    {
        try { return Ptr(VersionText); } catch { return null; }
    }

    /// <summary>major * 1000000 + minor * 1000 + patch of <see cref="ClDiffusion.Version.Text"/> (SQLite's scheme).</summary>
    internal static uint VersionNumber()
    {
        var parts = ClDiffusion.Version.Text.Split('-', '+')[0].Split('.');
        uint Part(int i) => i < parts.Length && uint.TryParse(parts[i], out var v) ? v : 0;
        return Part(0) * 1000000 + Part(1) * 1000 + Part(2);
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_version_number")]
    public static uint CldVersionNumber()
    {
        try { return VersionNumber(); } catch { return 0; }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_last_error")]
    public static byte* CldLastError()
    {
        try { return Errors.Last; } catch { return null; }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Devices

    [UnmanagedCallersOnly(EntryPoint = "cld_device_count")]
    public static int CldDeviceCount(uint* count)
    {
        try
        {
            if (count is null) throw Arg("count is NULL");
            *count = (uint)Seams.ListDevices().Count;
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_device_name")]
    public static int CldDeviceName(uint index, byte* buf, nuint len)
    {
        try
        {
            var devices = Seams.ListDevices();
            if (index >= devices.Count) throw Arg($"device index {index} out of range (there are {devices.Count} devices)");
            return CopyOut(devices[(int)index], buf, len, "device name");
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    /// <summary>
    /// Copies text as NUL-terminated UTF-8 into buf[0 .. len): truncated (still terminated when len &gt; 0) with
    /// CLD_ERR_BUFFER_TOO_SMALL naming the size needed when it does not fit.
    /// </summary>
    internal static int CopyOut(string text, byte* buf, nuint len, string what)
    {
        if (buf is null && len > 0) throw Arg("buf is NULL but len is not 0");
        var bytes = Encoding.UTF8.GetBytes(text);
        if (len > 0)
        {
            int copy = (int)Math.Min((ulong)bytes.Length, (ulong)len - 1);
            bytes.AsSpan(0, copy).CopyTo(new Span<byte>(buf, copy));
            buf[copy] = 0;
        }
        if ((ulong)len < (ulong)bytes.Length + 1)
            return Fail(Status.BufferTooSmall, $"{what} needs {bytes.Length + 1} bytes, buffer has {len}");
        return Ok();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Samplers: the library's own registry, so a host sees every sampler the .NET side knows

    [UnmanagedCallersOnly(EntryPoint = "cld_sampler_count")]
    public static int CldSamplerCount(uint* count)
    {
        try
        {
            if (count is null) throw Arg("count is NULL");
            *count = (uint)Sampler.Names.Count();
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_sampler_name")]
    public static int CldSamplerName(uint index, byte* buf, nuint len)
    {
        try
        {
            var names = Sampler.Names.ToArray();
            if (index >= names.Length) throw Arg($"sampler index {index} out of range (there are {names.Length} samplers)");
            return CopyOut(names[index], buf, len, "sampler name");
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Engine

    [UnmanagedCallersOnly(EntryPoint = "cld_engine_create")]
    public static int CldEngineCreate(EngineOptions* options, nint* outEngine)
    {
        try
        {
            if (outEngine is null) throw Arg("out (cld_engine**) is NULL");
            *outEngine = 0;
            string? device = null, tuning = null;
            int threads = 0;
            if (options is not null)
            {
                var eo = SizedStruct.Read(options, EngineOptions.KnownSizes, "cld_engine_options");
                if (eo.Flags != 0 || eo.Reserved != 0) throw Arg("cld_engine_options.flags and .reserved must be 0");
                ClDiffusion.Backends.Cpu.CpuBackend.CheckThreads(eo.Threads, "cld_engine_options.threads");
                device = Utf8(eo.Device); tuning = Utf8(eo.TuningFile); threads = eo.Threads;
            }
            var engine = new Engine { Diffusion = DiffusionEngine.FromBackends([Seams.OpenBackend(device, threads, tuning)], owns: true) };
            try { engine.Handle = Handles.Add(engine, HandleKind.Engine); }
            catch { engine.Diffusion.Dispose(); throw; }
            *outEngine = engine.Handle;
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_engine_device_name")]
    public static int CldEngineDeviceName(nint engineHandle, byte* buf, nuint len)
    {
        try
        {
            var engine = Handles.Get<Engine>(engineHandle, HandleKind.Engine);
            return CopyOut(engine.Backend.DeviceName, buf, len, "engine device name");
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_engine_destroy")]
    public static int CldEngineDestroy(nint handle)
    {
        try
        {
            if (handle == 0) return Ok();
            // from a progress callback (of any engine's job) the engine is closed without waiting: its jobs are
            // cancelled and the last one to stop frees it, so two callbacks destroying each other's engine cannot deadlock
            Handles.Remove<Engine>(handle, HandleKind.Engine).Close(wait: !Callbacks.Active);
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Models

    [UnmanagedCallersOnly(EntryPoint = "cld_model_load")]
    public static int CldModelLoad(nint engineHandle, byte* path, nint* outModel)
    {
        try
        {
            if (outModel is null) throw Arg("out (cld_model**) is NULL");
            *outModel = 0;
            var engine = Handles.Get<Engine>(engineHandle, HandleKind.Engine);
            string p = Utf8(path) ?? throw Arg("path is NULL");
            if (p.Length == 0) throw Arg("path is empty");
            var score = Seams.LoadModel(p);
            engine.Backend.Prepare(score).Dispose(); // fails early (CLD_ERR_DEVICE) if the device cannot run it
            var model = new Model { Engine = engine, Score = score };
            engine.AddModel(model);
            try { model.Handle = Handles.Add(model, HandleKind.Model); }
            catch { engine.CloseModel(model); throw; }
            *outModel = model.Handle;
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_model_dim")]
    public static int CldModelDim(nint modelHandle, uint* dim)
    {
        try
        {
            if (dim is null) throw Arg("dim is NULL");
            *dim = (uint)Handles.Get<Model>(modelHandle, HandleKind.Model).Score.Dim;
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_model_destroy")]
    public static int CldModelDestroy(nint modelHandle)
    {
        try
        {
            if (modelHandle == 0) return Ok();
            var model = Handles.Remove<Model>(modelHandle, HandleKind.Model);
            model.Engine.CloseModel(model);
            if (Callbacks.Active) model.Engine.CancelRuns(r => r.Model == model);   // no wait from a callback (see cld_engine_destroy)
            else model.Engine.StopRuns(r => r.Model == model);
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Sampling

    /// <summary>Everything a sampling call needs, copied out of the caller's structs.</summary>
    sealed record Request(string Sampler, SamplerOptions Options, ulong Seed, long First, int N, int Batch);

    static Request Parse(SampleOptions* options, ulong n)
    {
        if (n < 1 || n > int.MaxValue) throw Arg($"n must be in 1..{int.MaxValue}, got {n}");
        if (options is null)
        {
            var d = SamplerOptions.Defaults;
            return new Request(SamplerOptions.DefaultSampler, d, 0, 0, (int)n, SampleRun.DefaultBatch);
        }
        var o = SizedStruct.Read(options, SampleOptions.KnownSizes, "cld_sample_options");
        string sampler = Utf8(o.Sampler) is { Length: > 0 } s ? s : SamplerOptions.DefaultSampler;
        Sampler.Check(sampler);
        if (o.First > (1UL << 32) || o.First + n > (1UL << 32))
            throw Arg($"sample indices [first, first + n) = [{o.First}, {o.First + n}) must lie in [0, 2^32)");
        static int Int(uint v, string name) => v <= int.MaxValue ? (int)v : throw Arg($"{name} = {v} is too large (limit {int.MaxValue})");
        int picard = o.PicardRounds switch
        {
            0 => SamplerOptions.Defaults.PicardRounds,
            SampleOptions.PicardRoundsNone => 0,
            < 0 => throw Arg($"picard_rounds must be >= 0 or CLD_PICARD_ROUNDS_NONE, got {o.PicardRounds}"),
            var k => k,
        };
        var def = SamplerOptions.Defaults;
        // the struct's two text fields are read by their table entries (the same parse as the CLI and the settings keys)
        static SamplerOptions Text(SamplerOptions o, string key, byte* text) =>
            Utf8(text) is { Length: > 0 } t ? SamplerOptionTable.Get(key).Parse(o, t) : o;
        var opts = def with
        {
            Steps = o.Steps != 0 ? Int(o.Steps, "steps") : def.Steps,
            Lipschitz = o.Lipschitz != 0 ? o.Lipschitz : def.Lipschitz,
            BlockLength = o.BlockLength != 0 ? o.BlockLength : null,
            CorrectorSteps = o.CorrectorSteps != 0 ? Int(o.CorrectorSteps, "corrector_steps") : def.CorrectorSteps,
            CorrectorTime = o.CorrectorTime != 0 ? o.CorrectorTime : null,
            Gamma = o.Gamma != 0 ? o.Gamma : null,
            LowVariance = o.LowVariance != 0,
            SubWindows = o.SubWindows != 0 ? Int(o.SubWindows, "sub_windows") : def.SubWindows,
            PicardRounds = picard,
            Window = o.Window != 0 ? Int(o.Window, "window") : def.Window,
            Tolerance = o.Tolerance != 0 ? o.Tolerance : def.Tolerance,
            MaxStep = o.MaxStep != 0 ? o.MaxStep : def.MaxStep,
            Denoise = o.Denoise != 0 || def.Denoise,
            AdaptiveCorrector = o.FixedCorrector == 0 && def.AdaptiveCorrector,
        };
        // 0 leaves T and delta unset: the model's trained times decide them (SamplerOptions.ForModel)
        if (o.Horizon != 0) opts = opts with { Horizon = o.Horizon };
        if (o.Delta != 0) opts = opts with { Delta = o.Delta };
        opts = Text(Text(opts, "grid", o.Grid), "corrector", o.Corrector);
        opts = SettingsExports.Apply(opts, o.Settings);   // ABI 3: options set by name win over the fields above (0 below size 176)
        if (*(uint*)options >= SampleOptions.SizeWithClasses) opts = ClassConditioning.Apply(opts, &o, n);
        int batch = o.Batch != 0 ? Int(o.Batch, "batch") : SampleRun.DefaultBatch;
        return new Request(sampler, opts, o.Seed, (long)o.First, (int)n, batch);
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_sample_options_init")]
    public static int CldSampleOptionsInit(SampleOptions* o)
    {
        try
        {
            if (o is null) throw Arg("options is NULL");
            var d = SamplerOptions.Defaults;
            *o = new SampleOptions
            {
                StructSize = SampleOptions.Size,
                Steps = (uint)d.Steps,
                Sampler = Ptr(DefaultSamplerText),
                Seed = 0, First = 0,
                Horizon = 0, Delta = 0,   // unset: SamplerOptions.DefaultHorizon / DefaultDelta, or the model's trained range
                CorrectorSteps = (uint)d.CorrectorSteps, SubWindows = (uint)d.SubWindows,
                CorrectorTime = 0, Gamma = 0,   // 0: scaled to the local stiffness L_t = max(L, 1/sigma_t^2)
                PicardRounds = d.PicardRounds, Window = (uint)d.Window, Tolerance = d.Tolerance,
                Grid = Ptr(DefaultGridText), Lipschitz = d.Lipschitz, BlockLength = d.BlockLengthOrDefault,
                Corrector = Ptr(DefaultCorrectorText), LowVariance = 0, Batch = SampleRun.DefaultBatch,
                Conditional = 0, ClassLabel = -1, Labels = null, Guidance = 0,
                MaxStep = d.MaxStep ?? 0, Denoise = d.Denoise ? 1u : 0u, FixedCorrector = d.AdaptiveCorrector ? 0u : 1u,
                Settings = 0,
            };
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    /// <summary>Checks handles, options and the output buffer; copies what the run needs.</summary>
    static (Engine, Model, Request) Prepare(nint engineHandle, nint modelHandle, SampleOptions* options, ulong n, float* output, nuint outLen)
    {
        var engine = Handles.Get<Engine>(engineHandle, HandleKind.Engine);
        var model = Handles.Get<Model>(modelHandle, HandleKind.Model);
        if (model.Engine != engine) throw Arg("the model was loaded on another engine");
        var req = Parse(options, n);
        req.Options.Validate(req.Sampler, Math.Min(req.Batch, req.N), model.Score.Dim);
        if (output is null) throw Arg("out is NULL");
        try { req.Options.Labels?.Validate(model.Score, req.First, req.N); }
        catch (ArgumentException e) { throw Arg(e.Message); }
        ulong need = (ulong)req.N * (ulong)model.Score.Dim;
        if ((ulong)outLen < need)
            throw new CldException(Status.BufferTooSmall, $"out holds {outLen} floats, needs n*d = {req.N}*{model.Score.Dim} = {need}");
        return (engine, model, req);
    }

    sealed class SyncProgress(Action<long> report) : IProgress<long> { public void Report(long v) => report(v); }

    static void Execute(Engine engine, Model model, Request q, nint output, Run run, Job? job)
    {
        Action<StepInfo>? onStep = null;
        IProgress<long>? onBatch = null;
        if (job is not null)
        {
            long doneSamples = 0;
            void Publish(float p)
            {
                p = Math.Clamp(p, 0f, 1f);
                if (p <= job.Progress) return;
                job.Progress = p;
                job.Notify(p);
            }
            onStep = s =>
            {
                if (s.Phase != SamplerPhase.Predictor || s.Steps <= 0) return;
                int m = (int)Math.Min(q.Batch, q.N - doneSamples);
                Publish((float)((doneSamples + m * (double)(s.Step + 1) / s.Steps) / q.N) * 0.999f);
            };
            onBatch = new SyncProgress(done => { doneSamples = done; Publish((float)((double)done / q.N) * 0.999f); });
        }
        engine.Exclusive(run.Cancel.Token, () =>
        {
            var span = new Span<float>((void*)output, checked(q.N * model.Score.Dim));
            var options = new SamplingOptions { Sampler = q.Sampler, Parameters = q.Options, FirstSample = q.First, Scheduler = new SchedulerOptions { MaxChunkSize = q.Batch } };
            engine.Diffusion.Sample(model.Score, options, q.N, q.Seed, span, onStep, onBatch, run.Cancel.Token);   // in data space, on this thread
        });
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_sample")]
    public static int CldSample(nint engineHandle, nint modelHandle, SampleOptions* options, ulong n, float* output, nuint outLen)
    {
        try
        {
            var (engine, model, req) = Prepare(engineHandle, modelHandle, options, n, output, outLen);
            Callbacks.RefuseWait("cld_sample");
            var run = new Run { Model = model };
            run.ThreadId = Environment.CurrentManagedThreadId;
            engine.Register(run);
            try { Execute(engine, model, req, (nint)output, run, null); }
            finally { engine.Unregister(run); run.Done.Set(); }
            return Ok();
        }
        catch (OperationCanceledException) { return Fail(Status.Cancelled, "cancelled: the engine or model was destroyed during the call"); }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_sample_async")]
    public static int CldSampleAsync(nint engineHandle, nint modelHandle, SampleOptions* options, ulong n, float* output, nuint outLen,
        delegate* unmanaged<void*, float, void> progress, void* userData, nint* outJob)
    {
        try
        {
            if (outJob is null) throw Arg("job (cld_job**) is NULL");
            *outJob = 0;
            var (engine, model, req) = Prepare(engineHandle, modelHandle, options, n, output, outLen);
            var run = new Run { Model = model };
            var job = new Job { Run = run, Engine = engine, Callback = progress, UserData = userData };
            engine.Register(run);
            nint h;
            try { h = Handles.Add(job, HandleKind.Job); }
            catch { engine.Unregister(run); run.Done.Set(); throw; }
            nint outPtr = (nint)output;
            var worker = new Thread(() =>
            {
                run.ThreadId = Environment.CurrentManagedThreadId;
                try
                {
                    Execute(engine, model, req, outPtr, run, job);
                    job.Progress = 1f;
                    job.Result = Status.Ok;
                }
                catch (OperationCanceledException) { job.Message = "job cancelled"; job.Result = Status.Cancelled; }
                catch (Exception e)
                {
                    try { var (s, prefix) = Errors.Classify(e); job.Message = prefix + e.Message; job.Result = s; }
                    catch { job.Result = Status.Internal; }
                }
                finally
                {
                    job.Finished = true;
                    engine.Unregister(run);
                    run.Done.Set();
                }
            }) { IsBackground = true, Name = "cldiffusion job" };
            try { worker.Start(); }
            catch { Handles.RemoveIf(h, job); engine.Unregister(run); run.Done.Set(); throw; }
            *outJob = h;
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    static int JobStatus(Job job)
    {
        if (!job.Finished || job.Result == Status.Ok) return Ok();
        return Fail(job.Result, job.Message);
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_job_poll")]
    public static int CldJobPoll(nint jobHandle, float* progress, int* done)
    {
        try
        {
            var job = Handles.Get<Job>(jobHandle, HandleKind.Job);
            bool finished = job.Finished;
            if (progress is not null) *progress = finished && job.Result == Status.Ok ? 1f : job.Progress;
            if (done is not null) *done = finished ? 1 : 0;
            return JobStatus(job);
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_job_wait")]
    public static int CldJobWait(nint jobHandle, uint timeoutMs)
    {
        try
        {
            var job = Handles.Get<Job>(jobHandle, HandleKind.Job);
            if (timeoutMs != 0 && !job.Run.Done.IsSet) Callbacks.RefuseWait("cld_job_wait with a timeout");
            int ms = timeoutMs == uint.MaxValue ? Timeout.Infinite : (int)Math.Min(timeoutMs, (uint)int.MaxValue);
            if (!job.Run.Done.Wait(ms)) return Fail(Status.Timeout, $"job not finished after {timeoutMs} ms");
            return JobStatus(job);
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_job_cancel")]
    public static int CldJobCancel(nint jobHandle)
    {
        try
        {
            var job = Handles.Get<Job>(jobHandle, HandleKind.Job);
            if (!job.Finished) job.Run.Cancel.Cancel();
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_job_destroy")]
    public static int CldJobDestroy(nint jobHandle)
    {
        try
        {
            if (jobHandle == 0) return Ok();
            var job = Handles.Get<Job>(jobHandle, HandleKind.Job);
            if (!job.Run.Done.IsSet) Callbacks.RefuseWait("cld_job_destroy of an unfinished job");
            Handles.Remove<Job>(jobHandle, HandleKind.Job);
            job.Run.Cancel.Cancel();
            job.Run.Done.Wait();
            job.Detach();
            return Ok();
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }
}
