using ClDiffusion.Backends.Cpu;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

/// <summary>
/// Strong error against the exact probability-flow map of a single Gaussian (same start noise), as the step count
/// doubles: the fitted log-log slope must match each sampler's order.
/// </summary>
public class ConvergenceTests
{
    static readonly CpuBackend Cpu = new();
    const double T = 5, Delta = 0.05;

    static double RmsError(string sampler, int steps, SamplerOptions? baseOptions, TimeGridKind grid)
    {
        var g = TestTargets.Gaussian(3);
        const int n = 64;
        var o = (baseOptions ?? new SamplerOptions()) with { Steps = steps, Grid = grid, Horizon = T, Delta = Delta };
        var (x, _) = SampleRun.Run(Cpu, g, sampler, o, seed: 5, n: n);
        var key = new RandomKey(5, 0, Purpose.StartNoise);
        double se = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < 3; j++)
            {
                double e = x[i * 3 + j] - TestTargets.ExactFlow(g, j, key.Normal(i, j), T, Delta);
                se += e * e;
            }
        return Math.Sqrt(se / (n * 3));
    }

    /// <summary>The fitted order: minus the log-log slope of the RMS error against the step count (on the grid named).</summary>
    internal static double Slope(string sampler, int[] steps, SamplerOptions? o = null, TimeGridKind grid = TimeGridKind.Uniform)
    {
        var xs = steps.Select(s => Math.Log(s)).ToArray();
        var ys = steps.Select(s => Math.Log(RmsError(sampler, s, o, grid))).ToArray();
        TestContext.Out.WriteLine($"{sampler}: " + string.Join(", ", steps.Zip(ys, (s, y) => $"{s}:{Math.Exp(y):E2}")));
        double mx = xs.Average(), my = ys.Average();
        return -xs.Zip(ys, (x, y) => (x - mx) * (y - my)).Sum() / xs.Sum(x => (x - mx) * (x - mx));
    }

    [TestCase("ei", 0.85, 1.2)]
    [TestCase("heun", 1.8, 2.3)]
    [TestCase("dpmpp-2m", 1.6, 2.4)]
    [TestCase("picard", 0.85, 1.2)]
    public void DeterministicSamplersConvergeAtTheirOrder(string sampler, double lo, double hi)
    {
        // DPM-Solver++(2M) extrapolates in log-SNR, which moves fast near the data: it needs finer grids to be asymptotic.
        int[] steps = sampler == "dpmpp-2m" ? [64, 128, 256, 512] : [16, 32, 64, 128];
        double p = Slope(sampler, steps, new SamplerOptions { Tolerance = 1e-7 });
        Assert.That(p, Is.InRange(lo, hi));
    }

    [Test]
    public void RandomizedMidpointConvergesFasterThanFirstOrder()
    {
        double p = Slope("rm", [16, 32, 64, 128]);
        Assert.That(p, Is.GreaterThan(1.3));
    }

    [Test]
    public void ParallelMidpointWithManyPicardRoundsConvergesLikeTheSequentialOne()
    {
        double p = Slope("prm", [8, 16, 32, 64], new SamplerOptions { SubWindows = 4, PicardRounds = 4 });
        Assert.That(p, Is.GreaterThan(1.3));
    }
}
