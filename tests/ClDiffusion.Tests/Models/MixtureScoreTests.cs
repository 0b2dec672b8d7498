using ClDiffusion.Models;
using ClDiffusion.Random;
using NUnit.Framework;

namespace ClDiffusion.Tests.Models;

/// <summary>
/// The float64 mixture score is the reference every backend is compared with (CpuScoreTests, GmmRowsTests,
/// PrimitiveTests, GmmInverseVarianceTests), so it is checked here on its own: against central differences of log q_t
/// written out independently from the target's parameters and the OU forward process.
/// </summary>
public class MixtureScoreTests
{
    // K = 4 in d = 3: unequal weights, a different variance per component and coordinate (down to 0.02, so at small t
    // the components are far apart in their own units and the responsibilities switch sharply between them).
    static readonly GaussianMixture Target = new(
        [0.1, 0.2, 0.3, 0.4],
        [[3.0, 0.0, -1.0], [-3.0, 1.0, 0.5], [0.0, -3.0, 2.0], [1.5, 2.5, -2.5]],
        [[0.02, 0.3, 0.1], [0.5, 0.05, 0.2], [0.1, 0.1, 0.8], [0.25, 0.04, 0.03]]);

    /// <summary>
    /// log q_t(x) with q_t = sum_k w_k N(e^{-t} mu_k, diag(e^{-2t} v_k + 1 - e^{-2t})): the law of
    /// X_t = e^{-t} X_0 + sqrt(1 - e^{-2t}) Z for dX = -X dt + sqrt(2) dB (ForwardProcess), in float64 by log-sum-exp.
    /// Written from the definition, not from the code under test (no ForwardProcess, no GaussianMixture.Score).
    /// </summary>
    static double LogDensity(GaussianMixture g, double[] x, double t)
    {
        var logs = ComponentLogs(g, x, t);
        double max = logs.Max();
        return max + Math.Log(logs.Sum(l => Math.Exp(l - max)));
    }

    /// <summary>log (w_k N(x; e^{-t} mu_k, diag(e^{-2t} v_k + 1 - e^{-2t}))) for each component k.</summary>
    static double[] ComponentLogs(GaussianMixture g, double[] x, double t)
    {
        double a = Math.Exp(-t), s2 = 1 - Math.Exp(-2 * t);
        var logs = new double[g.Components];
        for (int k = 0; k < g.Components; k++)
        {
            double l = Math.Log(g.Weights[k]);
            for (int j = 0; j < g.Dim; j++)
            {
                double v = a * a * g.Variances[k][j] + s2, r = x[j] - a * g.Means[k][j];
                l += -0.5 * Math.Log(2 * Math.PI * v) - r * r / (2 * v);
            }
            logs[k] = l;
        }
        return logs;
    }

    /// <summary>d/dx_j log q_t by central differences, Richardson-extrapolated (error O(e^4)).</summary>
    static double FiniteDifference(GaussianMixture g, double[] x, double t, int j, double e)
    {
        double D(double h)
        {
            var p = (double[])x.Clone(); var m = (double[])x.Clone();
            p[j] += h; m[j] -= h;
            return (LogDensity(g, p, t) - LogDensity(g, m, t)) / (2 * h);
        }
        return (4 * D(e / 2) - D(e)) / 3;
    }

    /// <summary>Points where the score is easy and where it is hard: draws from q_t, the point on the segment between two
    /// components' means where their weighted densities are equal (found by bisection; responsibilities 1/2 each, where a
    /// wrong weight or log-det term shows most), and far out (every density underflows without log-sum-exp).</summary>
    static List<double[]> Points(GaussianMixture g, double t)
    {
        var pts = new List<double[]>();
        var s = g.Sample(12, new RandomKey(41, 0, Purpose.Test), t);
        for (int i = 0; i < 12; i++) pts.Add(Enumerable.Range(0, g.Dim).Select(j => s[i, j]).ToArray());
        double a = Math.Exp(-t);
        for (int k = 0; k < g.Components; k++)
            for (int l = k + 1; l < g.Components; l++)
            {
                double[] At(double u) => Enumerable.Range(0, g.Dim).Select(j => a * ((1 - u) * g.Means[k][j] + u * g.Means[l][j])).ToArray();
                double Gap(double u) { var c = ComponentLogs(g, At(u), t); return c[k] - c[l]; }
                double lo = 0, hi = 1;
                if (!(Gap(lo) > 0 && Gap(hi) < 0)) continue;
                for (int it = 0; it < 60; it++) { double mid = 0.5 * (lo + hi); if (Gap(mid) > 0) lo = mid; else hi = mid; }
                pts.Add(At(0.5 * (lo + hi)));
            }
        pts.Add([25.0, -18.0, 7.0]);
        pts.Add([-9.0, 30.0, -40.0]);
        return pts;
    }

    [TestCase(0.0)]
    [TestCase(1e-3)]
    [TestCase(0.02)]
    [TestCase(0.2)]
    [TestCase(1.0)]
    [TestCase(4.0)]
    public void ScoreIsTheGradientOfLogQt(double t)
    {
        var g = Target;
        var score = new double[g.Dim]; var scratch = new double[g.Components];
        double minVar = g.Variances.SelectMany(v => v).Min() * Math.Exp(-2 * t) + (1 - Math.Exp(-2 * t));
        double e = 1e-3 * Math.Sqrt(minVar);   // well below every component's scale; roundoff ~1e-16 |log q| / e stays < 1e-8
        int mixed = 0;
        foreach (var x in Points(g, t))
        {
            g.Score(x, t, score, scratch);
            for (int j = 0; j < g.Dim; j++)
            {
                double fd = FiniteDifference(g, x, t, j, e);
                // measured agreement ~1e-9 relative; 1e-6 leaves room and still sees any wrong term (a missing log-det
                // term, a wrong variance or mean convention or weight moves the score by O(1) somewhere on this set)
                Assert.That(score[j], Is.EqualTo(fd).Within(1e-6 * (1 + Math.Abs(fd))), $"t={t} x=[{string.Join(", ", x)}] coordinate {j}");
            }
            // count points where two components share the responsibility, so the test exercises the mixing
            var logs = ComponentLogs(g, x, t);
            double max = logs.Max();
            if (logs.Sum(l => Math.Exp(l - max)) > 1.5) mixed++;
        }
        Assert.That(mixed, Is.GreaterThanOrEqualTo(5), "points where two components share the responsibility");
    }
}
