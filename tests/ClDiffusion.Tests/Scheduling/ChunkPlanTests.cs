using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using NUnit.Framework;
using static ClDiffusion.Tests.Robustness.FaultInjectionTests;

namespace ClDiffusion.Tests.Scheduling;

/// <summary>
/// The scheduler's chunk planning against what a run really allocates: on a device that reports a small memory and a
/// small largest allocation, the planned chunk must keep every device allocation within the largest allowed and each
/// chunk's allocations within the stream's share of the memory budget, and the run must still give the samples of one
/// large chunk.
/// </summary>
public class ChunkPlanTests
{
    static readonly GaussianMixture G = GaussianMixture.Preset(16, 3);

    // Two devices: one whose largest allocation (48 KiB) binds, one whose memory (1 MiB: 256 KiB per stream) binds.
    [Test]
    public void PlannedChunksFitTheDeviceMemoryAndLargestAllocation(
        [Values("ei", "rm-pc", "prm", "prm-x0-pc", "picard", "unipc")] string sampler, [Values(false, true)] bool memoryBinds)
    {
        long deviceBytes = memoryBinds ? 1 << 20 : 1L << 30, maxAlloc = memoryBinds ? 1L << 30 : 48 << 10;
        using var cpu = new CpuBackend(1);
        var o = new SamplerOptions { Steps = 4 };
        var meter = new AllocationMeter();
        var device = new LosingBackend(cpu, failAt: 0, memory: new DeviceMemory(deviceBytes, maxAlloc, IsHost: false), meter: meter);
        var so = new SchedulerOptions { StreamsPerDevice = 2 };
        const int n = 3000;
        int chunk = new ChunkScheduler([device], so).PlanChunkSize(G, sampler, o, n);
        var got = new float[n * G.Dim];
        using (var engine = DiffusionEngine.FromBackends([device]))
            engine.SampleAsync(G, new SamplingOptions { Sampler = sampler, Parameters = o, Scheduler = so }, n, 4, got).GetAwaiter().GetResult();
        long budget = (long)(deviceBytes * so.DeviceMemoryFraction) / so.StreamsPerDevice;
        TestContext.Out.WriteLine($"{sampler}: chunk {chunk}, largest allocation {meter.LargestAllocation} of {maxAlloc}, per chunk {meter.LargestPerChunk} of {budget}");
        Assert.That(chunk, Is.LessThan((n + 1) / 2), "the limits bind (else this test checks nothing)");
        Assert.That(meter.LargestAllocation, Is.LessThanOrEqualTo(maxAlloc), "largest device allocation");
        Assert.That(meter.LargestPerChunk, Is.LessThanOrEqualTo(budget), "one chunk's allocations on a stream");
        // and the plan is not needlessly small: measured, the binding limit is used to 67-100% (largest allocation: 100%;
        // memory: 67-96%, the rest being the host buffer, model tables and rounding the estimate counts); half is the bound
        if (memoryBinds) Assert.That(meter.LargestPerChunk, Is.GreaterThan(budget / 2), "the memory budget is used");
        else Assert.That(meter.LargestAllocation, Is.GreaterThan(maxAlloc / 2), "the largest allocation is used");
        var want = new float[n * G.Dim];
        SampleRun.Run(cpu, G, sampler, o, 4, 0, n, want, batch: n);
        Assert.That(got, Is.EqualTo(want), "the chunked run gives the samples of one chunk");
    }
}
