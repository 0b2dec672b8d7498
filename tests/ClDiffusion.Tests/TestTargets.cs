using ClDiffusion.Diffusion;
using ClDiffusion.Models;

namespace ClDiffusion.Tests;

/// <summary>Targets with closed forms used across tests.</summary>
static class TestTargets
{
    /// <summary>Single Gaussian N(mu, diag(v)) in d dimensions with distinct per-coordinate parameters.</summary>
    public static GaussianMixture Gaussian(int d) => new([1.0],
        [Enumerable.Range(0, d).Select(j => 1.5 * Math.Sin(j + 1.0)).ToArray()],
        [Enumerable.Range(0, d).Select(j => 0.2 + 0.5 * (j % 3)).ToArray()]);

    /// <summary>
    /// Exact probability-flow map of a single Gaussian from sampler time 0 to T - delta: the standardised
    /// coordinate (x - m_t)/sqrt(v_t) is constant along the flow.
    /// </summary>
    public static double ExactFlow(GaussianMixture g, int j, double x0, double horizon, double delta)
    {
        double aT = ForwardProcess.Alpha(horizon), sT = ForwardProcess.SigmaSquared(horizon);
        double aD = ForwardProcess.Alpha(delta), sD = ForwardProcess.SigmaSquared(delta);
        double mu = g.Means[0][j], v = g.Variances[0][j];
        double z = (x0 - aT * mu) / Math.Sqrt(aT * aT * v + sT);
        return aD * mu + Math.Sqrt(aD * aD * v + sD) * z;
    }
}
