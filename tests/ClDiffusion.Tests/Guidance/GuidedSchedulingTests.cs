using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using ClDiffusion.Tests.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.Guidance;

/// <summary>Labels follow global sample indices through the scheduler: chunks, shards and devices change nothing.</summary>
public class GuidedSchedulingTests
{
    static readonly GaussianMixture G = GuidedMixtureTests.Labelled();
    static readonly ClassLabels Labels = ClassLabels.PerSample(Enumerable.Range(0, 120).Select(i => (i * 5) % 4 - 1).ToArray());
    static readonly SamplerOptions O = new() { Steps = 5, CorrectorSteps = 2, Labels = Labels, Guidance = 2 };

    internal static float[] Run(IEnumerable<IBackend> devices, int? chunk, long n, Shard? shard = null, int streams = 2)
    {
        using var engine = DiffusionEngine.FromBackends(devices);
        var opt = new SamplingOptions { Sampler = "ei-pc", Parameters = O, Scheduler = new SchedulerOptions { ChunkSize = chunk, StreamsPerDevice = streams }, Shard = shard ?? Shard.Whole };
        var (_, count) = opt.Rows(n);
        var buf = new float[count * G.Dim];
        engine.SampleAsync(G, opt, n, 5, buf).GetAwaiter().GetResult();
        return buf;
    }

    [Test]
    public void ChunksShardsAndDevicesGiveTheSameGuidedSamples()
    {
        using var cpu = new CpuBackend(2);
        using var cpu2 = new CpuBackend(1);
        var reference = new float[120 * G.Dim];
        SampleRun.Run(cpu, G, "ei-pc", O, 5, 0, 120, reference, batch: 120);
        foreach (int? c in new int?[] { 1, 13, 120, null })
            Assert.That(Run([cpu], c, 120), Is.EqualTo(reference), $"chunk {c}");
        Assert.That(Run([cpu, cpu2], 11, 120), Is.EqualTo(reference), "two devices");
        var parts = Enumerable.Range(0, 3).SelectMany(i => Run([cpu], 9, 120, new Shard(i, 3))).ToArray();
        Assert.That(parts, Is.EqualTo(reference), "shards");
    }

    [Test]
    public void TooFewLabelsAreRejectedBeforeAnyWork()
    {
        using var cpu = new CpuBackend(1);
        var e = Assert.Throws<ArgumentException>(() => Run([cpu], 10, 121));
        Assert.That(e!.Message, Does.Contain("labels"));
    }

    [Test]
    public void OpenClContextsAndChunksGiveTheSameGuidedSamples()
    {
        using var cl = new OpenClBackend(OpenClTestBase.RequireDevice());
        using var second = new OpenClBackend(cl.Device);
        var one = Run([cl], 120, 120, streams: 1);
        Assert.That(Run([cl], 7, 120, streams: 3), Is.EqualTo(one), "chunk 7, 3 streams");
        Assert.That(Run([cl, second], 9, 120), Is.EqualTo(one), "two contexts");
    }
}
