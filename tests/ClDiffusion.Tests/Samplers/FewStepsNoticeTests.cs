using ClDiffusion.Backends.Cpu;
using ClDiffusion.Metrics;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

/// <summary>
/// The samplers with a known few-steps bound (rm, rm-pc: the score-form randomized midpoint) warn below it, and the
/// bound is where their samples stop being poor: on an exact mixture, half the bound's steps leave several times the
/// error of the bound's steps, which is itself near the sampling floor.
/// </summary>
public class FewStepsNoticeTests
{
    static readonly CpuBackend Cpu = new();

    [Test]
    public void OnlyTheScoreFormMidpointSamplersWarnAndOnlyBelowTheirBound()
    {
        var warned = Sampler.All.Where(s => s.FewStepsBelow is not null).Select(s => s.Name).ToArray();
        Assert.That(warned, Is.EquivalentTo(new[] { "rm", "rm-pc" }));
        foreach (var s in Sampler.All)
        {
            Assert.That(s.FewStepsNotice(40), Is.Null, $"{s.Name} at the default 40 steps");
            if (s.FewStepsBelow is not { } k) { Assert.That(s.FewStepsNotice(1), Is.Null, s.Name); continue; }
            Assert.That(s.FewStepsNotice(k), Is.Null, $"{s.Name} at its bound");
            Assert.That(s.FewStepsNotice(k - 1), Does.StartWith($"{s.Name} with {k - 1} steps").And.Contain("rm-x0"));
        }
        // and `cldiff samplers` says so on their lines only
        var lines = Sampler.Text().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Where(l => l.Contains("poor below")).Select(l => l.Split(' ')[0]), Is.EquivalentTo(warned));
        Assert.That(lines.Single(l => l.StartsWith("rm-pc ")), Does.Contain("poor below 20 steps"));
    }

    [TestCase("rm-pc")]
    [TestCase("rm")]
    public void BelowTheBoundTheSamplesArePoorAndAtItTheyAreNot(string sampler)
    {
        // mix16-5, exact scores, 4000 samples: sliced W2 against exact samples, and the floor between two exact sets
        const int n = 4000, d = 16;
        int k = Sampler.Get(sampler).FewStepsBelow!.Value;
        var g = GaussianMixture.Preset(d, 5);
        var exact = SampleEvaluator.ExactSamples(g, n, new RandomKey(3, 7, Purpose.Test));
        var other = SampleEvaluator.ExactSamples(g, n, new RandomKey(4, 7, Purpose.Test));
        var dirs = SlicedWasserstein.Directions(d, 64, 3);
        double W2(float[] x) => SlicedWasserstein.Distance(x, n, exact, n, d, dirs, 64);
        double floor = W2(other);
        double atBound = W2(SampleRun.Run(Cpu, g, sampler, new SamplerOptions { Steps = k }, 3, n).samples);
        double half = W2(SampleRun.Run(Cpu, g, sampler, new SamplerOptions { Steps = k / 2 }, 3, n).samples);
        TestContext.Out.WriteLine($"{sampler}: floor {floor:F4}, {k / 2} steps {half:F4}, {k} steps {atBound:F4}");
        Assert.That(half, Is.GreaterThan(3 * atBound), "half the bound's steps should be clearly worse: the bound is too high");
        Assert.That(atBound, Is.LessThan(3 * floor), "at the bound the samples should be near the floor: the bound is too low");
    }
}
