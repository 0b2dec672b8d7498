using System.Diagnostics;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using NUnit.Framework;

namespace ClDiffusion.Tests.Robustness;

/// <summary>
/// A cancel reaches every loop (predictor steps, corrector steps within a block, Picard rounds, the scheduler's chunk
/// waits) within a bounded time whatever the step counts: the sampler context checks the token at every score call and
/// every step report, so the bound is one round of score calls over the batch's widest buffer (batch x 1, R, M or
/// window rows; about 10 ms for the 1024 samples here, over 100 ms for 65536 rows on this loaded 2-core machine).
/// </summary>
public class CancellationTests
{
    static readonly ClDiffusion.Models.GaussianMixture Target = TestTargets.Gaussian(2);

    /// <summary>Options that keep every sampler busy for minutes: many steps, long correctors, a corrector after every step.</summary>
    static SamplerOptions Long => new() { Steps = 20000, CorrectorSteps = 50, BlockLength = 1e-9, Tolerance = 1e-12, SubWindows = 4, PicardRounds = 3 };

    /// <summary>Milliseconds from Cancel() to the run throwing OperationCanceledException.</summary>
    static double CancelLatency(Action<CancellationToken> run, int afterMs)
    {
        using var cts = new CancellationTokenSource();
        var started = new ManualResetEventSlim();
        double stoppedAt = -1;
        Exception? failed = null;
        var sw = Stopwatch.StartNew();
        var t = new Thread(() =>
        {
            started.Set();
            try { run(cts.Token); }
            catch (OperationCanceledException) { stoppedAt = sw.Elapsed.TotalMilliseconds; }
            catch (Exception e) { failed = e; }
        });
        t.Start();
        started.Wait();
        Thread.Sleep(afterMs);
        double cancelAt = sw.Elapsed.TotalMilliseconds;
        cts.Cancel();
        Assert.That(t.Join(TimeSpan.FromSeconds(20)), "the run ignored the cancel");
        Assert.That(failed, Is.Null, failed?.ToString());
        Assert.That(stoppedAt, Is.GreaterThan(0), "the run finished instead of being cancelled");
        return stoppedAt - cancelAt;
    }

    /// <summary>
    /// The bound a latency is held to: 100 ms, or 4 sampler steps when the machine is so loaded (other builds on these
    /// 2 cores) that one step alone takes longer than 25 ms; the step time is measured in the same run.
    /// </summary>
    static double Bound(CpuBackend cpu, string sampler)
    {
        var times = new List<double>();
        var sw = Stopwatch.StartNew();
        try
        {
            SampleRun.Run(cpu, Target, sampler, Long, 1, 0, 1024, new float[2048], callback: _ =>
            {
                times.Add(sw.Elapsed.TotalMilliseconds);
                if (times.Count > 40) throw new OperationCanceledException();
            });
        }
        catch (OperationCanceledException) { }
        var steps = times.Zip(times.Skip(1), (a, b) => b - a).Order().ToList();
        double step = steps.Count > 0 ? steps[steps.Count / 2] : 0;
        return Math.Max(100, 4 * step);
    }

    [TestCase("rm-pc")]
    [TestCase("ei-pc")]
    [TestCase("prm-pc")]
    [TestCase("prm")]
    [TestCase("picard")]
    [TestCase("heun")]
    public void CancelStopsEverySamplerWithin100Ms(string sampler)
    {
        using var cpu = new CpuBackend(1);
        var lat = new List<double>();
        for (int i = 0; i < 5; i++)
            lat.Add(CancelLatency(ct => SampleRun.Run(cpu, Target, sampler, Long, 1, 0, 1024, new float[2048], cancel: ct), 50 + 20 * i));
        lat.Sort();
        double bound = Bound(cpu, sampler);
        TestContext.Progress.WriteLine($"cancel latency {sampler}: median {lat[2]:F1} ms, max {lat[4]:F1} ms, bound {bound:F0} ms (CPU, 1 thread, 1024 samples)");
        Assert.That(lat[2], Is.LessThan(bound));
    }

    [Test]
    public void CancelStopsTheSchedulerWithin100Ms()
    {
        using var cpu = new CpuBackend(1);
        var sched = new ChunkScheduler([cpu], new SchedulerOptions { ChunkSize = 512 });
        var lat = new List<double>();
        for (int i = 0; i < 5; i++)
            lat.Add(CancelLatency(ct => sched.Run(Target, "rm-pc", Long, 1, 0, 4096, new MemorySink(new float[8192], 2), ct: ct), 50 + 20 * i));
        lat.Sort();
        double bound = Bound(cpu, "rm-pc");
        TestContext.Progress.WriteLine($"cancel latency scheduler: median {lat[2]:F1} ms, bound {bound:F0} ms");
        Assert.That(lat[2], Is.LessThan(bound));
    }

    [Test]
    public void ACancelledTokenStopsBeforeTheFirstStep()
    {
        using var cpu = new CpuBackend(1);
        var calls = 0;
        Assert.Throws<OperationCanceledException>(() =>
            SampleRun.Run(cpu, Target, "rm-pc", new SamplerOptions(), 1, 0, 8, new float[16], callback: _ => calls++, cancel: new CancellationToken(true)));
        Assert.That(calls, Is.EqualTo(0));
    }
}
