using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

public class CorrectorTests
{
    static readonly CpuBackend Cpu = new();

    [Test]
    public void LangevinNoiseHasTheExactCovariance()
    {
        const int n = 100_000; const float gamma = 1.3f, hc = 0.4f;
        using var zero = Cpu.Allocate(n, 1);
        using var x = Cpu.Allocate(n, 1);
        using var v = Cpu.Allocate(n, 1);
        Cpu.LangevinScan(zero, zero, zero, 1, gamma, hc, new RandomKey(8, 0, Purpose.LangevinNoise), 0, null, x, v);
        var xs = new float[n]; var vs = new float[n];
        Cpu.Download(x, xs); Cpu.Download(v, vs);
        double rho = Math.Exp(-gamma * hc);
        double varX = 2 / gamma * (hc - 2 * (1 - rho) / gamma + (1 - rho * rho) / (2 * gamma));
        double cov = (1 - rho) * (1 - rho) / gamma, varV = 1 - rho * rho;
        double ex = xs.Average(a => (double)a * a), ev = vs.Average(a => (double)a * a), exv = xs.Zip(vs, (a, b) => (double)a * b).Average();
        Assert.That(ex, Is.EqualTo(varX).Within(5 * varX * Math.Sqrt(2.0 / n)));
        Assert.That(ev, Is.EqualTo(varV).Within(5 * varV * Math.Sqrt(2.0 / n)));
        Assert.That(exv, Is.EqualTo(cov).Within(5 * Math.Sqrt(varX * varV / n)));
    }

    static (double mean, double var) Moments(float[] x) { double m = x.Average(a => (double)a); return (m, x.Average(a => (a - m) * (a - m))); }

    /// <summary>Runs a corrector at forward time t on samples x of length n (d = 1) and returns them.</summary>
    static float[] Correct(string kind, float[] x0, double t, int steps, double duration, double gamma)
    {
        int n = x0.Length;
        var g = new ClDiffusion.Models.GaussianMixture([1.0], [[1.0]], [[0.25]]);
        using var p = Cpu.Prepare(g);
        using var ctx = new SamplerContext(Cpu, p, n, 17, 0, 8);
        using var x = Cpu.Allocate(n, 1);
        Cpu.Upload(x, x0);
        double tau = 8 - t;
        if (kind == "uld") Correctors.Langevin(ctx, x, tau, 1, steps, duration, gamma);
        else if (kind == "rmuld") Correctors.RandomizedMidpointLangevin(ctx, x, tau, 1, steps, duration, gamma);
        else Correctors.ParallelLangevin(ctx, x, tau, 1, steps, duration, gamma, steps);
        var r = new float[n]; Cpu.Download(x, r); return r;
    }

    /// <summary>
    /// Mean and variance of X after `steps` frozen-drift steps on the Gaussian N(m, v) (score -(x - m)/v), from
    /// X ~ N(m0, v0) and a fresh V ~ N(0, 1): the scheme is a linear AR(1) map y' = A y + xi on y = (X - m, V), so
    /// its moments follow exactly from the DESIGN 1.3 coefficients.
    /// </summary>
    static (double mean, double var) DiscreteMoments(double m, double v, double m0, double v0, int steps, double duration, double gamma)
    {
        double h = duration / steps, k = 1 / v, rho = Math.Exp(-gamma * h);
        double b = (1 - rho) / gamma, c = (h - (1 - rho) / gamma) / gamma;
        double vx = 2 / gamma * (h - 2 * (1 - rho) / gamma + (1 - rho * rho) / (2 * gamma)), cxv = (1 - rho) * (1 - rho) / gamma, vv = 1 - rho * rho;
        double a11 = 1 - c * k, a12 = b, a21 = -b * k, a22 = rho;
        double ex = m0 - m, ev = 0, sxx = v0, sxv = 0, svv = 1;
        for (int i = 0; i < steps; i++)
        {
            (ex, ev) = (a11 * ex + a12 * ev, a21 * ex + a22 * ev);
            double nxx = a11 * a11 * sxx + 2 * a11 * a12 * sxv + a12 * a12 * svv + vx;
            double nxv = a11 * a21 * sxx + (a11 * a22 + a12 * a21) * sxv + a12 * a22 * svv + cxv;
            double nvv = a21 * a21 * sxx + 2 * a21 * a22 * sxv + a22 * a22 * svv + vv;
            (sxx, sxv, svv) = (nxx, nxv, nvv);
        }
        return (m + ex, sxx);
    }

    [TestCase("uld", 0.0)]
    [TestCase("uld", 2.0)]
    [TestCase("parallel", 0.0)]
    [TestCase("parallel", 2.0)]
    public void FrozenDriftCorrectorMatchesItsExactDiscreteMoments(string kind, double shift)
    {
        const int n = 40_000; const double t = 0.5;
        double a = Math.Exp(-t), m = a * 1.0, v = a * a * 0.25 + (1 - Math.Exp(-2 * t));
        var key = new RandomKey(2, 0, Purpose.Test);
        var start = Enumerable.Range(0, n).Select(i => (float)(m + shift + Math.Sqrt(v) * key.Normal(i, 0))).ToArray();
        var (m1, v1) = Moments(Correct(kind, start, t, 8, 2.0, 1.5));
        var (em, ev) = DiscreteMoments(m, v, m + shift, v, 8, 2.0, 1.5);
        Assert.That(m1, Is.EqualTo(em).Within(5 * Math.Sqrt(ev / n)));
        Assert.That(v1, Is.EqualTo(ev).Within(5 * ev * Math.Sqrt(2.0 / n)));
        Assert.That(Math.Abs(em - m), Is.LessThan(0.5 * Math.Max(shift, 0.1)), "a shifted start is pulled towards the target mean");
        // the discretisation bias of the stationary variance is O(h): a finer corrector is closer to invariant
        var (_, vFine) = DiscreteMoments(m, v, m, v, 64, 2.0, 1.5);
        Assert.That(Math.Abs(vFine - v), Is.LessThan(0.2 * Math.Abs(ev - v) + 1e-3));
    }

    [Test]
    public void RandomizedMidpointLangevinKeepsAnExactGaussianAndPullsAWrongStartTowardsIt()
    {
        const int n = 40_000; const double t = 0.5;
        double a = Math.Exp(-t), m = a * 1.0, v = a * a * 0.25 + (1 - Math.Exp(-2 * t));
        var key = new RandomKey(2, 0, Purpose.Test);
        var exact = Enumerable.Range(0, n).Select(i => (float)(m + Math.Sqrt(v) * key.Normal(i, 0))).ToArray();
        var (m1, v1) = Moments(Correct("rmuld", exact, t, 8, 2.0, 1.5));
        Assert.That(m1, Is.EqualTo(m).Within(0.02), "mean stays");
        Assert.That(v1, Is.EqualTo(v).Within(0.04 * v), "variance stays");
        var (m2, _) = Moments(Correct("rmuld", exact.Select(z => z + 2f).ToArray(), t, 8, 2.0, 1.5));
        Assert.That(Math.Abs(m2 - m), Is.LessThan(0.5 * 2.0), "a shifted start moves towards the target");
    }

    [Test]
    public void ParallelCorrectorWithOneRoundPerStepEqualsTheSequentialOne()
    {
        var key = new RandomKey(2, 0, Purpose.Test);
        var x0 = Enumerable.Range(0, 300).Select(i => key.Normal(i, 0) * 1.7f).ToArray();
        var seq = Correct("uld", x0, 0.3, 5, 1.0, 1.2);
        var par = Correct("parallel", x0, 0.3, 5, 1.0, 1.2);
        for (int i = 0; i < seq.Length; i++) Assert.That(par[i], Is.EqualTo(seq[i]).Within(1e-5f));
    }
}
