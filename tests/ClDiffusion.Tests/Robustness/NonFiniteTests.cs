using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using ClDiffusion.Tests.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.Robustness;

/// <summary>No run returns a NaN or an infinity as a success: the non-finite guard names the sample and the step.</summary>
public class NonFiniteTests
{
    /// <summary>A valid (finite) mixture whose score overflows float32 at once (mean 1e300): every sample diverges.</summary>
    internal static GaussianMixture Divergent => new([1.0], [[1e300, 1e300]], [[1.0, 1.0]]);

    [Test]
    public void MarkNonFiniteFlagsTheFirstStepOfEachBadRowOnCpu() => CheckMark(new CpuBackend(1));

    internal static void CheckMark(IBackend b)
    {
        using var x = b.Allocate(4, 3);
        using var flags = b.Allocate(4, 1);
        b.Upload(flags, [-1f, -1f, -1f, -1f]);
        b.Upload(x, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        b.MarkNonFinite(x, flags, 0);
        b.Upload(x, [0, float.NaN, 2, 3, 4, 5, 6, 7, 8, 9, 10, float.NegativeInfinity]);
        b.MarkNonFinite(x, flags, 1);
        b.Upload(x, [float.NaN, 1, 2, 3, float.PositiveInfinity, 5, 6, 7, 8, 9, 10, float.NaN]);
        b.MarkNonFinite(x, flags, 2);
        var f = new float[4];
        b.Download(flags, f);
        Assert.That(f, Is.EqualTo(new[] { 1f, 2f, -1f, 1f }), "first step per row; a row that stayed finite stays -1");
    }

    [TestCase("rm-pc")]
    [TestCase("ei")]
    [TestCase("prm")]
    [TestCase("picard")]
    public void ADivergingRunIsAnErrorNamingSampleAndStep(string sampler)
    {
        using var cpu = new CpuBackend(1);
        var e = Assert.Throws<NonFiniteSampleException>(() => SampleRun.Run(cpu, Divergent, sampler, new SamplerOptions(), 1, 100, 8, new float[16]))!;
        Assert.That(e.Sample, Is.InRange(100, 107));
        Assert.That(e.Message, Does.Contain($"sample {e.Sample}").And.Contain("step"));
        TestContext.Progress.WriteLine(e.Message);
    }

    [Test]
    public void TheSchedulerRefusesNonFiniteChunks()
    {
        using var cpu = new CpuBackend(1);
        var sched = new ChunkScheduler([cpu], new SchedulerOptions { ChunkSize = 4 });
        var e = Assert.Throws<NonFiniteSampleException>(() => sched.Run(Divergent, "rm-pc", new SamplerOptions(), 1, 0, 8, new MemorySink(new float[16], 2)))!;
        Assert.That(e.Message, Does.Contain("step"));
    }

    /// <summary>The pipeline benchmark goes through the same collect step as every run (it used to skip the non-finite check).</summary>
    [Test]
    public void ThePipelineBenchmarkRefusesNonFiniteChunksToo()
    {
        using var cpu = new CpuBackend(1);
        var e = Assert.Throws<NonFiniteSampleException>(() => ClDiffusion.Tooling.Benchmarks.PipelineBench.MeasureSerial(cpu, Divergent, "ei", new SamplerOptions(), 1, 8, 4))!;
        Assert.That(e.Message, Does.Contain("step"));
        Assert.DoesNotThrow(() => ClDiffusion.Tooling.Benchmarks.PipelineBench.MeasureSerial(cpu, new GaussianMixture([1.0], [[0.5, -0.5]], [[1.0, 1.0]]), "ei", new SamplerOptions(), 1, 8, 4));
    }

    [Test]
    public void TheGuardDoesNotChangeFiniteSamples()
    {
        using var cpu = new CpuBackend(1);
        var g = TestTargets.Gaussian(3);
        var o = new SamplerOptions();
        float[] Run(bool track)
        {
            using var p = cpu.Prepare(g);
            using var ctx = new SamplerContext(cpu, p, 10, 5, 0, o.Horizon) { TrackNonFinite = track };
            using var x = cpu.Allocate(10, 3);
            cpu.Normal(x, ctx.Key(0, ClDiffusion.Random.Purpose.StartNoise), 0);
            Sampler.Run("rm-pc", ctx, x, o.MakeGrid(), o);
            var r = new float[30];
            cpu.Download(x, r);
            ctx.ThrowIfNonFinite(r);
            return r;
        }
        var guarded = Run(true);
        Assert.That(guarded, Is.EqualTo(Run(false)));
        Assert.That(guarded.All(float.IsFinite));
    }
}

/// <summary>The same guard on an OpenCL device (PoCL here): the flags are computed by cl/nonfinite.cl.</summary>
public class NonFiniteOpenClTests : OpenClTestBase
{
    [Test]
    public void MarkNonFiniteFlagsTheFirstStepOfEachBadRow() => NonFiniteTests.CheckMark(Cl);

    [Test]
    public void ADivergingRunIsAnErrorNamingSampleAndStep()
    {
        var e = Assert.Throws<NonFiniteSampleException>(() => SampleRun.Run(Cl, NonFiniteTests.Divergent, "rm-pc", new SamplerOptions(), 1, 0, 8, new float[16]))!;
        Assert.That(e.Message, Does.Contain("sample").And.Contain("step"));
        var (x, _) = SampleRun.Run(Cl, TestTargets.Gaussian(2), "rm-pc", new SamplerOptions(), 1, 8);
        Assert.That(x.All(float.IsFinite), "the backend is still usable");
    }
}
