using ClDiffusion.Backends.Cpu;
using ClDiffusion.Diffusion;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

public class ClosedFormTests
{
    static readonly CpuBackend Cpu = new();

    [Test]
    public void ExponentialIntegratorIsTheExactDiscreteLinearMapOnAGaussian()
    {
        var g = TestTargets.Gaussian(5);
        var o = new SamplerOptions { Steps = 12, Grid = TimeGridKind.Uniform, Horizon = 6 };
        var (x, _) = SampleRun.Run(Cpu, g, "ei", o, seed: 11, n: 50);
        var grid = o.MakeGrid();
        var key = new RandomKey(11, 0, Purpose.StartNoise);
        for (int i = 0; i < 50; i++)
            for (int j = 0; j < 5; j++)
            {
                double y = key.Normal(i, j);
                for (int n = 0; n < grid.Steps; n++)
                {
                    double t = grid.T(n), h = grid.H(n), a = ForwardProcess.Alpha(t);
                    double vt = a * a * g.Variances[0][j] + ForwardProcess.SigmaSquared(t);
                    double s = (a * g.Means[0][j] - y) / vt;
                    y = Math.Exp(h) * y + Num.ExpM1(h) * s;
                }
                Assert.That(x[i * 5 + j], Is.EqualTo(y).Within(2e-4 * (1 + Math.Abs(y))), $"sample {i}, coordinate {j}");
            }
    }
}
