using System.Diagnostics;
using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using NUnit.Framework;

namespace ClDiffusion.Tests.Robustness;

/// <summary>
/// A cancel reaches every loop (predictor steps, corrector steps within a block, Picard rounds, the scheduler's chunk
/// waits): the sampler context checks the token before every score call and at every step report, so once Cancel()
/// returns each chunk in flight finishes at most the score call it is in, and the run throws. That is asserted as work,
/// not time: the score calls made after the cancel are counted through a wrapping backend, which no machine load can
/// change (a wall-clock bound of 100 ms failed in CI at 179 ms while a NativeAOT publish shared the 2 cores). A loose
/// time bound stays, to catch a wait that polls instead of waking (1 s; the run stops within milliseconds when idle).
/// </summary>
public class CancellationTests
{
    static readonly ClDiffusion.Models.GaussianMixture Target = TestTargets.Gaussian(2);

    /// <summary>Options that keep every sampler busy for minutes: many steps, long correctors, a corrector after every step.</summary>
    static SamplerOptions Long => new() { Steps = 20000, CorrectorSteps = 50, BlockLength = 1e-9, Tolerance = 1e-12, SubWindows = 4, PicardRounds = 3 };

    /// <summary>What one cancelled run did after Cancel(): score calls started, and milliseconds until it threw.</summary>
    readonly record struct AfterCancel(int ScoreCalls, double Ms);

    /// <summary>
    /// Starts `run` on its own thread over a counting view of `cpu`, cancels once it has made `callsBefore` score calls
    /// (so the cancel lands inside the run, whatever the machine's speed), and says what happened after.
    /// </summary>
    static AfterCancel Cancel(CpuBackend cpu, Action<IBackend, CancellationToken> run, int callsBefore)
    {
        var counting = new FaultInjectionTests.LosingBackend(cpu, failAt: int.MaxValue);
        using var cts = new CancellationTokenSource();
        double stoppedAt = -1;
        Exception? failed = null;
        var sw = Stopwatch.StartNew();
        var t = new Thread(() =>
        {
            try { run(counting, cts.Token); }
            catch (OperationCanceledException) { stoppedAt = sw.Elapsed.TotalMilliseconds; }
            catch (Exception e) { failed = e; }
        });
        t.Start();
        while (counting.ScoreCalls < callsBefore && t.IsAlive) Thread.Sleep(1);
        double cancelAt = sw.Elapsed.TotalMilliseconds;
        cts.Cancel();
        int callsAtCancel = counting.ScoreCalls;
        Assert.That(t.Join(TimeSpan.FromSeconds(20)), "the run ignored the cancel");
        Assert.That(failed, Is.Null, failed?.ToString());
        Assert.That(stoppedAt, Is.GreaterThan(0), "the run finished instead of being cancelled");
        return new AfterCancel(counting.ScoreCalls - callsAtCancel, stoppedAt - cancelAt);
    }

    static void AssertStoppedPromptly(string what, List<AfterCancel> runs, int inFlight)
    {
        var ms = runs.Select(r => r.Ms).Order().ToList();
        int most = runs.Max(r => r.ScoreCalls);
        TestContext.Progress.WriteLine($"cancel {what}: at most {most} score calls after the cancel ({inFlight} in flight), latency median {ms[ms.Count / 2]:F1} ms, max {ms[^1]:F1} ms");
        // a score call that passed its check just before Cancel() may still run: one per chunk in flight, no more
        Assert.That(most, Is.LessThanOrEqualTo(inFlight), "score calls were made after the cancel");
        Assert.That(ms[ms.Count / 2], Is.LessThan(1000), "the run took over a second to notice the cancel");
    }

    [TestCase("rm-pc")]
    [TestCase("ei-pc")]
    [TestCase("prm-pc")]
    [TestCase("prm")]
    [TestCase("picard")]
    [TestCase("heun")]
    public void CancelStopsEverySamplerWithinTheScoreCallInProgress(string sampler)
    {
        using var cpu = new CpuBackend(1);
        var runs = new List<AfterCancel>();
        for (int i = 0; i < 5; i++)
            runs.Add(Cancel(cpu, (b, ct) => SampleRun.Run(b, Target, sampler, Long, 1, 0, 1024, new float[2048], cancel: ct), 20 + 10 * i));
        AssertStoppedPromptly(sampler, runs, inFlight: 1);
    }

    [Test]
    public void CancelStopsTheSchedulerWithinTheScoreCallsInProgress()
    {
        using var cpu = new CpuBackend(1);
        var options = new SchedulerOptions { ChunkSize = 512 };
        var runs = new List<AfterCancel>();
        for (int i = 0; i < 5; i++)
            runs.Add(Cancel(cpu, (b, ct) => new ChunkScheduler([b], options).Run(Target, "rm-pc", Long, 1, 0, 4096, new MemorySink(new float[8192], 2), ct: ct), 20 + 10 * i));
        AssertStoppedPromptly("scheduler", runs, inFlight: options.StreamsPerDevice);
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
