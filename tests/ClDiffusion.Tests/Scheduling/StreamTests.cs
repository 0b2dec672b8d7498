using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using ClDiffusion.Tests.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.Scheduling;

/// <summary>Streams as a backend concept: the same contract on the CPU backend (worker threads) and on OpenCL (queues, events).</summary>
public class StreamTests
{
    static readonly GaussianMixture G = GaussianMixture.Preset(4, 3);
    static readonly SamplerOptions O = new() { Steps = 5, CorrectorSteps = 2 };

    /// <summary>Two streams with a chunk in flight each give the same samples as SampleRun, in any collection order.</summary>
    internal static void TwoChunksInFlightMatchSampleRun(IBackend b)
    {
        const int n = 24;
        var reference = new float[n * G.Dim];
        SampleRun.Run(b, G, "rm-pc", O, 4, 0, n, reference, batch: n);
        var job = new SamplingJob(G, "rm-pc", O, 4, 0).Validated();
        using var s1 = new ChunkStream(b, job, 12);
        using var s2 = new ChunkStream(b, job, 12);
        var c1 = new Chunk { Index = 0, Offset = 0, Count = 12 };
        var c2 = new Chunk { Index = 1, Offset = 12, Count = 12 };
        s1.Start(c1, default);
        s2.Start(c2, default);
        var second = s2.Collect().ToArray();            // the later chunk first: streams are independent
        var first = s1.Collect().ToArray();
        Assert.That(first.Concat(second).ToArray(), Is.EqualTo(reference));
        Assert.That(c1.Nfe, Is.GreaterThan(0));
        Assert.That(c2.Nfe, Is.EqualTo(c1.Nfe));
    }

    [Test]
    public void CpuStreamsRunChunksConcurrentlyAndMatchSampleRun() => TwoChunksInFlightMatchSampleRun(new CpuBackend(1));

    [Test]
    public void CpuStreamRunsEnqueuedWorkOnItsOwnThreadInOrder()
    {
        using var b = new CpuBackend(1);
        using var s = b.OpenStream();
        int caller = Environment.CurrentManagedThreadId;
        var seen = new List<int>();
        var threads = new HashSet<int>();
        using var gate = new ManualResetEventSlim(false);
        s.Enqueue(_ => { gate.Wait(); lock (seen) seen.Add(1); threads.Add(Environment.CurrentManagedThreadId); });
        s.Enqueue(_ => { lock (seen) seen.Add(2); threads.Add(Environment.CurrentManagedThreadId); });
        using var ev = s.Record();
        lock (seen) Assert.That(seen, Is.Empty, "Enqueue must not run the work on the caller's thread");
        gate.Set();
        ev.Wait();
        Assert.That(seen, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(threads, Has.Count.EqualTo(1).And.No.Member(caller));
    }

    [Test]
    public void ACpuStreamFailureSurfacesAtTheWaitAndStopsTheStream()
    {
        using var b = new CpuBackend(1);
        using var s = b.OpenStream();
        bool ranAfter = false;
        s.Enqueue(_ => throw new InvalidOperationException("boom"));
        s.Enqueue(_ => ranAfter = true);
        using var ev = s.Record();
        var e = Assert.Throws<InvalidOperationException>(ev.Wait)!;
        Assert.That(e.Message, Is.EqualTo("boom"));
        Assert.That(ranAfter, Is.False);
    }

    /// <summary>Upload, a kernel and a download on one stream, completed by `wait`, give the kernel's result on the host.</summary>
    internal static void TransfersRoundTrip(IBackend b, Action<IBackendStream> wait)
    {
        using var s = b.OpenStream();
        using var h = s.AllocateHost(6);
        for (int i = 0; i < 6; i++) h.Span[i] = i + 0.5f;
        using var x = s.Backend.Allocate(2, 3);
        using var back = s.AllocateHost(6);
        s.UploadAsync(h, x);
        s.Enqueue(be => be.Lincomb(x, [new(2f, x)]));
        s.DownloadAsync(x, back);
        wait(s);
        Assert.That(back.Span.ToArray(), Is.EqualTo(Enumerable.Range(0, 6).Select(i => 2 * (i + 0.5f)).ToArray()));
    }

    [Test]
    public void CpuStreamTransfersRoundTrip()
    {
        using var b = new CpuBackend(1);
        TransfersRoundTrip(b, s => s.Synchronize());
    }

    [Test]
    public void AHostBufferTooSmallIsRejected()
    {
        using var b = new CpuBackend(1);
        using var s = b.OpenStream();
        using var h = s.AllocateHost(5);
        using var x = s.Backend.Allocate(2, 3);
        Assert.Throws<ArgumentException>(() => s.DownloadAsync(x, h));
    }
}

/// <summary>The same stream contract on OpenCL (PoCL in CI).</summary>
public class OpenClStreamTests : OpenClTestBase
{
    [Test]
    public void OpenClStreamsRunChunksConcurrentlyAndMatchSampleRun() => StreamTests.TwoChunksInFlightMatchSampleRun(Cl);

    [Test]
    public void OpenClStreamTransfersRoundTripThroughPinnedMemory() =>
        StreamTests.TransfersRoundTrip(Cl, s => { using var ev = s.Record(); ev.Wait(); });
}
