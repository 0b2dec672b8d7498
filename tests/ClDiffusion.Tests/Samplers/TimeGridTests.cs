using ClDiffusion.Diffusion;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

public class TimeGridTests
{
    [TestCase(TimeGridKind.Uniform)]
    [TestCase(TimeGridKind.Shrinking)]
    [TestCase(TimeGridKind.LogSnr)]
    [TestCase(TimeGridKind.Karras)]
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
    public void KarrasStepsAreEqualInTheNoiseToSignalRatioToThePowerOneOverRho()
    {
        // EDM: sigma_i^(1/rho) equally spaced from sigma(T) to sigma(delta), sigma = sigma_t / alpha_t = e^-lambda (float64)
        foreach (double rho in new[] { 7.0, 3.0 })
        {
            var g = TimeGrid.Karras(8, 1e-3, 12, rho);
            var r = Enumerable.Range(0, g.Steps + 1).Select(n => Math.Pow(Math.Exp(-ForwardProcess.LogSnr(g.T(n))), 1 / rho)).ToArray();
            double step = (r[^1] - r[0]) / g.Steps;
            for (int n = 0; n <= g.Steps; n++) Assert.That(r[n], Is.EqualTo(r[0] + n * step).Within(1e-9 * Math.Abs(r[0])), $"rho {rho}, point {n}");
            // in lambda, steps shorter than log-SNR's far from the data and longer near it (d lambda = rho d r / r)
            var l = TimeGrid.LogSnr(8, 1e-3, 12);
            double Dl(TimeGrid x, int n) => ForwardProcess.LogSnr(x.T(n + 1)) - ForwardProcess.LogSnr(x.T(n));
            Assert.That(Dl(g, 0), Is.LessThan(Dl(l, 0)));
            Assert.That(Dl(g, g.Steps - 1), Is.GreaterThan(Dl(l, l.Steps - 1)));
        }
        Assert.That(Assert.Throws<ArgumentException>(() => TimeGrid.Karras(8, 1e-3, 12, 0))!.Message, Does.Contain("rho"));
    }

    [Test]
    public void KarrasGridTendsToTheLogSnrGridAsRhoGrows()
    {
        // (a + (b - a) u)^rho with a = e^{-lambda_0 / rho}, b = e^{-lambda_N / rho} -> e^{-(lambda_0 + (lambda_N - lambda_0) u)}
        var k = TimeGrid.Karras(8, 1e-3, 10, 1e7);
        var l = TimeGrid.LogSnr(8, 1e-3, 10);
        for (int n = 0; n <= 10; n++) Assert.That(k.Tau[n], Is.EqualTo(l.Tau[n]).Within(1e-5), $"point {n}");
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
