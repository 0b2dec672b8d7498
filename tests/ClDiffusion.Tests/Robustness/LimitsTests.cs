using System.Diagnostics;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Robustness;

/// <summary>
/// Issue 15 findings 2, 3, 4 and 6 at the .NET API: the one validator (SamplerOptions.Validate, CpuBackend.CheckThreads)
/// refuses what the samplers cannot compute before any work starts, with a message naming the limit.
/// </summary>
public class LimitsTests
{
    static readonly ClDiffusion.Models.GaussianMixture Target = TestTargets.Gaussian(2);

    static ArgumentException Refused(SamplerOptions o, string sampler = "rm-pc", int batch = 64, int dim = 2) =>
        Assert.Throws<ArgumentException>(() => o.Validate(sampler, batch, dim))!;

    [TestCase(1 << 29)]
    [TestCase(int.MaxValue)]
    [TestCase(-1)]
    public void ThreadCountsBeyondTheMachineAreRefused(int threads)
    {
        var e = Assert.Throws<ArgumentException>(() => new CpuBackend(threads))!;
        Assert.That(e.Message, Does.Contain("threads").And.Contain(Environment.ProcessorCount.ToString()));
    }

    [Test]
    public void AllCoresIsTheLargestThreadCount()
    {
        using var cpu = new CpuBackend(Environment.ProcessorCount);
        Assert.Throws<ArgumentException>(() => new CpuBackend(Environment.ProcessorCount + 1));
    }

    [Test]
    public void CountsThatOverflowTheRandomKeyAreRefused()
    {
        Assert.That(Refused(new SamplerOptions { Steps = int.MaxValue }).Message, Does.Contain("65535"));
        Assert.That(Refused(new SamplerOptions { Steps = 65536 }).Message, Does.Contain("steps"));
        Assert.DoesNotThrow(() => new SamplerOptions { Steps = 65535 }.Validate("ei", 64, 2));
        Assert.That(Refused(new SamplerOptions { CorrectorSteps = 65536 }).Message, Does.Contain("corrector steps"));
        Assert.That(Refused(new SamplerOptions { MaxStep = 1e-6 }).Message, Does.Contain("maximum step"));
        Assert.That(Refused(new SamplerOptions { PicardRounds = 1 << 20 }, "prm").Message, Does.Contain("Picard rounds"));
        Assert.That(Refused(new SamplerOptions { Window = 1 << 20 }, "picard").Message, Does.Contain("window"));
    }

    [Test]
    public void AbsurdTotalWorkIsRefused()
    {
        var e = Refused(new SamplerOptions { Steps = 60000, CorrectorSteps = 60000 });
        Assert.That(e.Message, Does.Contain("score evaluations per sample").And.Contain("1e+07"));
        // the same counts are fine for a sampler without a corrector
        Assert.DoesNotThrow(() => new SamplerOptions { Steps = 60000, CorrectorSteps = 60000 }.Validate("ei", 64, 2));
    }

    [Test]
    public void BuffersBeyondWhatOneArrayHoldsAreRefused()
    {
        var o = new SamplerOptions { Steps = 1, SubWindows = 1024, CorrectorSteps = 60000 };
        Assert.That(Refused(o, "prm-pc", batch: 65536).Message, Does.Contain("buffer").And.Contain("smaller batch"));
        Assert.DoesNotThrow(() => o.Validate("prm-pc", batch: 16, dim: 2));
    }

    [TestCase("Gamma", 1e300)]
    [TestCase("CorrectorTime", 1e300)]
    [TestCase("Lipschitz", 1e300)]
    [TestCase("LipschitzCap", 1e300)]
    [TestCase("Horizon", 1e3)]
    [TestCase("Delta", 1e-300)]
    [TestCase("Tolerance", 1e-300)]
    [TestCase("BlockLength", double.PositiveInfinity)]
    [TestCase("Gamma", double.NaN)]
    public void ParametersThatMakeTheArithmeticNonFiniteAreRefused(string field, double value)
    {
        var o = new SamplerOptions();
        o = field switch
        {
            "Gamma" => o with { Gamma = value },
            "CorrectorTime" => o with { CorrectorTime = value },
            "Lipschitz" => o with { Lipschitz = value },
            "LipschitzCap" => o with { LipschitzCap = value },
            "Horizon" => o with { Horizon = value },
            "Delta" => o with { Delta = value },
            "Tolerance" => o with { Tolerance = value },
            _ => o with { BlockLength = value },
        };
        var e = Refused(o);
        Assert.That(e.Message, Does.Match("limit|positive"));
    }

    [Test]
    public void TheLargestAcceptedParametersSampleFinitely()
    {
        using var cpu = new CpuBackend(1);
        foreach (var o in new[]
        {
            new SamplerOptions { Gamma = SamplerLimits.MaxGamma },
            new SamplerOptions { Lipschitz = SamplerLimits.MaxLipschitz },
            new SamplerOptions { Horizon = SamplerLimits.MaxHorizon, Grid = TimeGridKind.Uniform },
            new SamplerOptions { Delta = SamplerLimits.MinDelta },
        })
        {
            // every largest accepted setting samples finitely (none is refused as non-finite: that would mean the limit
            // accepts a setting the samplers cannot compute)
            var (x, _) = SampleRun.Run(cpu, Target, "rm-pc", o, 3, 32);
            Assert.That(x.All(float.IsFinite), $"{o}");
        }
    }

    /// <summary>Finding 4: a block length of 1e-300 (or L = 1e300 before the limit) once looped over every multiple up to T.</summary>
    [Test]
    public void ATinyBlockLengthBuildsTheGridInLinearTime()
    {
        var sw = Stopwatch.StartNew();
        var plain = new SamplerOptions { Steps = 40 }.MakeGrid();
        var plainTime = sw.Elapsed;
        sw.Restart();
        var g = new SamplerOptions { BlockLength = 1e-300, Steps = 40 }.MakeGrid();
        var g9 = new SamplerOptions { BlockLength = 1e-9, Steps = 40 }.MakeGrid();
        // linear time: about the cost of the default grid (measured first, so it also carries the JIT), never the 1e300
        // multiples of the old loop (which never ends) nor the 8e9 of 1e-9 (seconds on any machine); the second of slack
        // is for a preempted thread on a loaded machine, not for the work
        Assert.That(sw.Elapsed, Is.LessThan(20 * plainTime + TimeSpan.FromSeconds(1)), $"default grid took {plainTime.TotalMilliseconds:0.0} ms");
        Assert.That(plain.CorrectAfter.Count(f => f), Is.LessThan(40));
        Assert.That(g.CorrectAfter.All(f => f), "a block shorter than every step: corrector after every step");
        Assert.That(g9.CorrectAfter.All(f => f));
        // and the closed form still puts the corrector where the block multiples fall
        var u = ClDiffusion.Diffusion.TimeGrid.Uniform(8, 1e-3, 16).WithCorrectorEvery(2.0);
        int[] expect = Enumerable.Range(0, 16).Where(n => Math.Floor(u.Tau[n + 1] / 2.0 + 1e-9) > Math.Floor(u.Tau[n] / 2.0 + 1e-9) || n == 15).ToArray();
        Assert.That(Enumerable.Range(0, 16).Where(n => u.CorrectAfter[n]).ToArray(), Is.EqualTo(expect));
    }

    [Test]
    public void SampleRunValidatesBeforeAnyWork()
    {
        using var cpu = new CpuBackend(1);
        var sw = Stopwatch.StartNew();
        SampleRun.Run(cpu, Target, "rm-pc", new SamplerOptions { Steps = 4 }, 1, 4);   // a tiny real run on this machine (and the JIT)
        var tiny = sw.Elapsed;
        sw.Restart();
        Assert.Throws<ArgumentException>(() => SampleRun.Run(cpu, Target, "rm-pc", new SamplerOptions { Steps = int.MaxValue }, 1, 4));
        Assert.Throws<ArgumentException>(() => SampleRun.Run(cpu, Target, "rm-pc", new SamplerOptions { Gamma = 1e300 }, 1, 4));
        // refused before any step: less than the 4-step run took (plus scheduling noise), where 2^31 steps would take hours
        Assert.That(sw.Elapsed, Is.LessThan(tiny + TimeSpan.FromSeconds(2)), $"4 steps took {tiny.TotalMilliseconds:0.0} ms");
    }
}
