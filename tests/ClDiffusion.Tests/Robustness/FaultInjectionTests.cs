using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using ClDiffusion.Tests.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.Robustness;

/// <summary>
/// Faults injected where a run meets the outside world: a kernel that does not build, a device allocation that fails,
/// a device lost in the middle of a run, a disk that fills while samples stream to .npy. Each gives a clear error, leaves
/// no partial file, and the backend (engine) still samples correctly afterwards.
/// </summary>
public class FaultInjectionTests
{
    static readonly ClDiffusion.Models.GaussianMixture Target = TestTargets.Gaussian(2);

    /// <summary>
    /// Forwards every IBackend call to a real backend, and fails the n-th Score call (a device lost mid-run), counting
    /// the calls made through its streams too (the scheduler's path: ChunkStream works on OpenStream().Backend).
    /// </summary>
    public sealed class LosingBackend(IBackend inner, int failAt, System.Runtime.CompilerServices.StrongBox<int>? calls = null,
        DeviceMemory? memory = null, AllocationMeter? meter = null) : IBackend
    {
        readonly System.Runtime.CompilerServices.StrongBox<int> scoreCalls = calls ?? new();
        internal long WorkBytes;   // bytes allocated by the stream work now running on this view
        public static IBackend Wrap(IBackend inner, int failFrom) => new LosingBackend(inner, failFrom);
        /// <summary>Score calls so far (through the backend and all its streams).</summary>
        public int ScoreCalls => Volatile.Read(ref scoreCalls.Value);
        public string DeviceName => inner.DeviceName;
        public DeviceMemory Memory => memory ?? inner.Memory;
        public IBackendStream OpenStream() => new LosingStream(inner.OpenStream(), failAt, scoreCalls, memory, meter);
        public IDeviceBuffer Allocate(int rows, int cols)
        {
            long bytes = 4L * rows * cols;
            WorkBytes += bytes;
            meter?.Allocated(bytes);
            return inner.Allocate(rows, cols);
        }
        public void Upload(IDeviceBuffer dst, ReadOnlySpan<float> src) => inner.Upload(dst, src);
        public void Download(IDeviceBuffer src, Span<float> dst) => inner.Download(src, dst);
        public void Copy(IDeviceBuffer dst, IDeviceBuffer src) => inner.Copy(dst, src);
        public void RepeatRows(IDeviceBuffer dst, IDeviceBuffer src, int m) => inner.RepeatRows(dst, src, m);
        public IPreparedScore Prepare(ClDiffusion.Models.IScoreModel model) => inner.Prepare(model);
        public void Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score)
        {
            if (Interlocked.Increment(ref scoreCalls.Value) == failAt)
                throw new OpenClException("clEnqueueNDRangeKernel (simulated)", -2);   // CL_DEVICE_NOT_AVAILABLE
            inner.Score(model, x, t0, slope, offsets, score);
        }
        public void Lincomb(IDeviceBuffer dst, ReadOnlySpan<Term> terms) => inner.Lincomb(dst, terms);
        public void Normal(IDeviceBuffer dst, ClDiffusion.Random.RandomKey key, long firstSample) => inner.Normal(dst, key, firstSample);
        public void DrawAlphas(IDeviceBuffer alpha, ClDiffusion.Random.RandomKey key, long firstSample, AlphaLaw law, float h) => inner.DrawAlphas(alpha, key, firstSample, law, h);
        public void MidpointPredict(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer s0, IDeviceBuffer alpha, float h) => inner.MidpointPredict(dst, x0, s0, alpha, h);
        public void PicardSums(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h) => inner.PicardSums(dst, x0, scores, alpha, h);
        public void MidpointFinal(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h) => inner.MidpointFinal(dst, x0, scores, alpha, h);
        public void LangevinScan(IDeviceBuffer x0, IDeviceBuffer v0, IDeviceBuffer scores, int m, float gamma, float hc,
            ClDiffusion.Random.RandomKey key, long firstSample, IDeviceBuffer? xs, IDeviceBuffer? xOut, IDeviceBuffer? vOut) =>
            inner.LangevinScan(x0, v0, scores, m, gamma, hc, key, firstSample, xs, xOut, vOut);
        public void ShenLeeMidpoint(IDeviceBuffer xMid, IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer s0, IDeviceBuffer alpha,
            float gamma, float h, ClDiffusion.Random.RandomKey key, long firstSample) => inner.ShenLeeMidpoint(xMid, x, v, s0, alpha, gamma, h, key, firstSample);
        public void ShenLeeFinal(IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer sMid, IDeviceBuffer alpha,
            float gamma, float h, ClDiffusion.Random.RandomKey key, long firstSample) => inner.ShenLeeFinal(x, v, sMid, alpha, gamma, h, key, firstSample);
        public void ExpScan(IDeviceBuffer x0, IDeviceBuffer scores, ReadOnlySpan<float> steps, IDeviceBuffer xs, IDeviceBuffer xOut) => inner.ExpScan(x0, scores, steps, xs, xOut);
        public float MaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b) => inner.MaxAbsDiff(a, b);
        public void RowMaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b, int rowsPerSample, Span<float> perSample) => inner.RowMaxAbsDiff(a, b, rowsPerSample, perSample);
        public void CopyRowsWhere(IDeviceBuffer dst, IDeviceBuffer src, IDeviceBuffer mask) => inner.CopyRowsWhere(dst, src, mask);
        public void Finish() => inner.Finish();
        public void MarkNonFinite(IDeviceBuffer x, IDeviceBuffer firstBad, float step) => inner.MarkNonFinite(x, firstBad, step);
        public void TiltedTimes(IDeviceBuffer times, IDeviceBuffer u, double lambdaEnd, double h) => inner.TiltedTimes(times, u, lambdaEnd, h);
        public void DataPrediction(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer s, IDeviceBuffer times) => inner.DataPrediction(dst, x, s, times);
        public void LogSnrPredict(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d0, IDeviceBuffer? slope, IDeviceBuffer times, double tStart) =>
            inner.LogSnrPredict(dst, x, d0, slope, times, tStart);
        public void LogSnrPicard(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer times, double tStart, double tEnd) =>
            inner.LogSnrPicard(dst, x, d, times, tStart, tEnd);
        public void LogSnrFinal(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer? slope, IDeviceBuffer times, double tStart, double tEnd) =>
            inner.LogSnrFinal(dst, x, d, slope, times, tStart, tEnd);
        public void LogSnrLine(IDeviceBuffer dStart, IDeviceBuffer slope, IDeviceBuffer dA, IDeviceBuffer timesA, IDeviceBuffer dB, IDeviceBuffer timesB, double tStart) =>
            inner.LogSnrLine(dStart, slope, dA, timesA, dB, timesB, tStart);
        public void Dispose() { }   // the wrapped backend belongs to the test
    }

    /// <summary>Device allocations seen through a <see cref="LosingBackend"/>: the largest one, and the most one stream's
    /// queued work (one chunk's pipeline) allocated.</summary>
    public sealed class AllocationMeter
    {
        long largest, perWork;
        public long LargestAllocation => Interlocked.Read(ref largest);
        public long LargestPerChunk => Interlocked.Read(ref perWork);
        internal void Allocated(long bytes) => Max(ref largest, bytes);
        internal void WorkDone(long bytes) => Max(ref perWork, bytes);
        static void Max(ref long field, long v) { long cur; while (v > (cur = Interlocked.Read(ref field)) && Interlocked.CompareExchange(ref field, v, cur) != cur) { } }
    }

    /// <summary>A real stream whose backend view is a <see cref="LosingBackend"/> sharing the device's call count.</summary>
    sealed class LosingStream(IBackendStream inner, int failAt, System.Runtime.CompilerServices.StrongBox<int> calls, DeviceMemory? memory, AllocationMeter? meter) : IBackendStream
    {
        readonly LosingBackend view = new(inner.Backend, failAt, calls, memory, meter);
        public IBackend Backend => view;
        public IHostBuffer AllocateHost(long floats) => inner.AllocateHost(floats);
        public void Enqueue(Action<IBackend> work) => inner.Enqueue(_ =>
        {
            view.WorkBytes = 0;
            work(view);
            meter?.WorkDone(view.WorkBytes);
        });
        public void DownloadAsync(IDeviceBuffer src, IHostBuffer dst) => inner.DownloadAsync(src, dst);
        public void UploadAsync(IHostBuffer src, IDeviceBuffer dst) => inner.UploadAsync(src, dst);
        public IStreamEvent Record() => inner.Record();
        public void Synchronize() => inner.Synchronize();
        public void Dispose() => inner.Dispose();
    }

    [Test]
    public void ADeviceLostInsideTheSchedulerFailsTheRunLeavesNoFileAndTheEngineRecovers()
    {
        // two devices, the second lost after 150 score calls (rm-pc on chunks of 16: a few chunks in); the run must stop
        // with the device's error (not hang, not write a short file), and both devices sample as before afterwards.
        // Checked to fail when the scheduler drops a worker's error (it then reports "wrote 32 of 1024 samples") and when
        // the fault bypasses the streams (OpenStream passed straight through: no error at all).
        using var cpu = new CpuBackend(1);
        using var other = new CpuBackend(1);
        var opt = new SamplingOptions { Sampler = "rm-pc", Scheduler = new SchedulerOptions { ChunkSize = 16, StreamsPerDevice = 2 } };
        const int n = 1024;
        var want = new float[n * Target.Dim];
        using (var engine = DiffusionEngine.FromBackends([cpu, other])) engine.SampleAsync(Target, opt, n, 5, want).GetAwaiter().GetResult();
        var lossy = new LosingBackend(other, failAt: 150);
        var dir = Directory.CreateTempSubdirectory("cld-lost-");
        try
        {
            string path = Path.Combine(dir.FullName, "samples.npy");
            using (var engine = DiffusionEngine.FromBackends([cpu, lossy]))
            {
                var e = Assert.Throws<OpenClException>(() => engine.SampleToFileAsync(Target, opt, n, 5, path).GetAwaiter().GetResult())!;
                Assert.That(e.Message, Does.Contain("CL_DEVICE_NOT_AVAILABLE"));
            }
            Assert.That(lossy.ScoreCalls, Is.GreaterThanOrEqualTo(150), "the fault was reached through the scheduler's streams");
            Assert.That(Directory.GetFileSystemEntries(dir.FullName), Is.Empty, "neither the .npy nor its temporary is left behind");
            var again = new float[n * Target.Dim];
            using (var engine = DiffusionEngine.FromBackends([cpu, other])) engine.SampleAsync(Target, opt, n, 5, again).GetAwaiter().GetResult();
            Assert.That(again, Is.EqualTo(want));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Test]
    public void ADeviceLostMidRunIsAClearErrorAndTheEngineRecovers()
    {
        using var cpu = new CpuBackend(1);
        var (want, _) = SampleRun.Run(cpu, Target, "rm-pc", new SamplerOptions(), 7, 64);
        var lossy = LosingBackend.Wrap(cpu, failFrom: 30);
        var e = Assert.Throws<OpenClException>(() => SampleRun.Run(lossy, Target, "rm-pc", new SamplerOptions(), 7, 64))!;
        Assert.That(e.Message, Does.Contain("CL_DEVICE_NOT_AVAILABLE"));
        // same backend, same samples afterwards
        var (again, _) = SampleRun.Run(cpu, Target, "rm-pc", new SamplerOptions(), 7, 64);
        Assert.That(again, Is.EqualTo(want));
    }

    /// <summary>A stream that accepts `capacity` bytes and then fails like a full disk (ENOSPC).</summary>
    sealed class FullDisk(Stream inner, long capacity) : Stream
    {
        long written;
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (written + buffer.Length > capacity) throw new IOException("No space left on device (simulated)");
            inner.Write(buffer); written += buffer.Length;
        }
        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => written;
        public override long Position { get => written; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    [Test]
    public void ADiskThatFillsWhileStreamingNpyLeavesNoFile()
    {
        using var cpu = new CpuBackend(1);
        var dir = Directory.CreateTempSubdirectory("cld-fault-");
        try
        {
            string path = Path.Combine(dir.FullName, "samples.npy");
            var sched = new ChunkScheduler([cpu], new SchedulerOptions { ChunkSize = 64 });
            var e = Assert.Throws<IOException>(() => OutputFile.Write(path, s =>
            {
                var sink = new NpyStreamSink(new FullDisk(s, 128 + 3 * 64 * 2 * 4), 1024, 2);   // header + 3 chunks fit
                sched.Run(Target, "rm-pc", new SamplerOptions(), 3, 0, 1024, sink);
                sink.Complete();
            }))!;
            Assert.That(e.Message, Does.Contain("No space left"));
            Assert.That(Directory.GetFileSystemEntries(dir.FullName), Is.Empty, "neither the .npy nor its temporary is left behind");
            // the engine still works, and the file is written in full when there is room
            OutputFile.Write(path, s =>
            {
                var sink = new NpyStreamSink(s, 1024, 2);
                sched.Run(Target, "rm-pc", new SamplerOptions(), 3, 0, 1024, sink);
                sink.Complete();
            });
            var (rows, cols, _, off) = NpyFormat.ReadFloat32Header(File.OpenRead(path), path);
            Assert.That((rows, cols), Is.EqualTo((1024L, 2)));
            Assert.That(new FileInfo(path).Length, Is.EqualTo(off + 1024 * 2 * 4));
        }
        finally { dir.Delete(recursive: true); }
    }
}

/// <summary>Faults of a real OpenCL device (PoCL here): a program that does not build, an allocation that fails.</summary>
public class OpenClFaultInjectionTests : OpenClTestBase
{
    [Test]
    public void AKernelThatDoesNotBuildIsAClearErrorAndOtherBackendsStillWork()
    {
        var device = RequireDevice();
        // a tunable that breaks the kernel source: the build log must reach the message
        var bad = new OpenClOptions { ExtraDefines = new Dictionary<string, string> { ["VW"] = "(((" }, CacheDirectory = "off" };
        var e = Assert.Catch<OpenClException>(() => { using var b = new OpenClBackend(device, bad); })!;
        Assert.That(e.Message, Does.Contain("CL_BUILD_PROGRAM_FAILURE").Or.Contain("build"));
        TestContext.Progress.WriteLine(e.Message.Split('\n')[0]);
        var (x, _) = SampleRun.Run(Cl, TestTargets.Gaussian(2), "rm-pc", new SamplerOptions(), 1, 16);
        Assert.That(x.All(float.IsFinite));
    }

    [Test]
    public void ADeviceAllocationFailureIsAClearErrorAndTheBackendStillWorks()
    {
        var (want, _) = SampleRun.Run(Cl, TestTargets.Gaussian(2), "rm-pc", new SamplerOptions(), 2, 32);
        // Rows of 1024 floats just over the largest buffer this backend can hold on this device: the device's largest
        // allocation, or 2^31 floats (8 GiB, the kernels' index range) where the device allows more. Both must fail
        // cleanly; which one applies depends on the device (PoCL reports 8 GiB on some machines, less on others).
        const int cols = 1024;
        long byDevice = Cl.Device.MaxAlloc / 4 / cols + 1, byIndex = int.MaxValue / cols + 1;
        int rows = (int)Math.Min(byDevice, byIndex);
        TestContext.Out.WriteLine($"largest allocation {Cl.Device.MaxAlloc >> 20} MiB: asking for [{rows}, {cols}]");
        var e = Assert.Throws<OpenClAllocationException>(() => Cl.Allocate(rows, cols))!;
        Assert.That(e.Message, Does.Contain("smaller batch"));
        Assert.That(e.Message, Does.Contain(byDevice <= byIndex ? "needs" : "more than 2^31 floats"));
        var (again, _) = SampleRun.Run(Cl, TestTargets.Gaussian(2), "rm-pc", new SamplerOptions(), 2, 32);
        Assert.That(again, Is.EqualTo(want));
    }
}
