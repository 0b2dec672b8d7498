using ClDiffusion.Diffusion;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

public class TimeGridTests
{
    [TestCase(TimeGridKind.Uniform)]
    [TestCase(TimeGridKind.Shrinking)]
    public void GridsSpanZeroToTMinusDeltaStrictlyIncreasing(TimeGridKind kind)
    {
        var g = new SamplerOptions { Grid = kind, Steps = 17, Horizon = 6, Delta = 0.01 }.MakeGrid();
        Assert.That(g.Tau[0], Is.EqualTo(0));
        Assert.That(g.Tau[^1], Is.EqualTo(6 - 0.01));
        for (int n = 0; n < g.Steps; n++) Assert.That(g.H(n), Is.GreaterThan(0));
        Assert.That(g.CorrectAfter[^1], Is.True, "the corrector always runs at the end");
    }

    [Test]
    public void ShrinkingStepsAreGeometricNearTheData()
    {
        var g = TimeGrid.Shrinking(8, 1e-3, 40);
        // below forward time 1 the steps are proportional to t: consecutive ratios are all equal
        var ratios = Enumerable.Range(0, g.Steps).Where(n => g.T(n) < 0.9).Select(n => g.T(n + 1) / g.T(n)).ToArray();
        Assert.That(ratios.Length, Is.GreaterThan(5));
        foreach (var r in ratios) Assert.That(r, Is.EqualTo(ratios[0]).Within(1e-9));
    }

    [Test]
    public void CappedGridKeepsEveryPointAndFlagAndBoundsTheSteps()
    {
        var g = TimeGrid.Shrinking(8, 1e-3, 8).WithCorrectorEvery(2);
        var c = g.CapSteps(0.5);
        Assert.That(Enumerable.Range(0, c.Steps).Max(c.H), Is.LessThanOrEqualTo(0.5 + 1e-12));
        foreach (var t in g.Tau) Assert.That(c.Tau, Does.Contain(t));
        Assert.That(c.CorrectAfter.Count(f => f), Is.EqualTo(g.CorrectAfter.Count(f => f)));
        Assert.Throws<ArgumentException>(() => g.CapSteps(0));
    }

    [Test]
    public void BadGridParametersAreRejectedByName()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => TimeGrid.Uniform(8, 8, 10))!.Message, Does.Contain("smaller than the horizon"));
        Assert.That(Assert.Throws<ArgumentException>(() => TimeGrid.Uniform(8, 0.1, 0))!.Message, Does.Contain("steps"));
        Assert.That(Assert.Throws<ArgumentException>(() => TimeGrid.Uniform(8, -1, 5))!.Message, Does.Contain("delta"));
    }
}
