using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Random;

namespace ClDiffusion.Tooling.Experiments;

/// <summary>Targets for the dimension-scaling experiment (docs/EVIDENCE.md).</summary>
public static class ScalingTargets
{
    /// <summary>
    /// Single anisotropic Gaussian N(mu, diag(v)) in d dimensions: mu_j = sin(j + 1), v_j = 0.05 * 40^{frac(0.618034 (j + 1))}
    /// (variances spread log-uniformly over [0.05, 2], condition number 40). The empirical law of (mu_j, v_j) is
    /// nearly the same for every d, so the per-coordinate difficulty does not change with d.
    /// </summary>
    public static GaussianMixture Anisotropic(int d)
    {
        if (d < 1) throw new ArgumentException($"dimension must be at least 1, got {d}");
        var mu = Enumerable.Range(0, d).Select(j => Math.Sin(j + 1.0)).ToArray();
        var v = Enumerable.Range(0, d).Select(j => { double f = 0.6180339887 * (j + 1); f -= Math.Floor(f); return 0.05 * Math.Pow(40, f); }).ToArray();
        return new GaussianMixture([1.0], [mu], [v]);
    }
}

/// <summary>Error measures with no (coupling) or a known, subtracted (diagonal KL) sampling-noise floor.</summary>
public static class ScalingMeasures
{
    /// <summary>
    /// Exact probability-flow map of one coordinate of a single Gaussian N(mu, v) from sampler time 0 to T - delta:
    /// the standardised coordinate (x - m_t)/sqrt(v_t) is constant along the flow.
    /// </summary>
    public static double FlowMap(double mu, double v, double x0, double horizon, double delta)
    {
        double aT = ForwardProcess.Alpha(horizon), sT = ForwardProcess.SigmaSquared(horizon);
        double aD = ForwardProcess.Alpha(delta), sD = ForwardProcess.SigmaSquared(delta);
        double z = (x0 - aT * mu) / Math.Sqrt(aT * aT * v + sT);
        return aD * mu + Math.Sqrt(aD * aD * v + sD) * z;
    }

    /// <summary>The start noise SampleRun draws for samples [0, n) of a seed, as float64 [n * d].</summary>
    public static double[] StartNoise(ulong seed, int n, int d)
    {
        var key = new RandomKey(seed, 0, Purpose.StartNoise);
        var z = new double[(long)n * d];
        var row = new float[d];
        for (int i = 0; i < n; i++)
        {
            key.Normals(i, row);
            for (int j = 0; j < d; j++) z[(long)i * d + j] = row[j];
        }
        return z;
    }

    /// <summary>
    /// Coupling (pathwise) error sqrt(E ||x_sampler(z) - Phi(z)||^2) over the n samples, against the reference end points
    /// phi [n * d] of the same start noise. It bounds W2(law of the sampler, law of Phi(z)) from above and has no
    /// sampling floor (only the Monte-Carlo spread of the mean over n paths). Non-finite samples give +Infinity.
    /// </summary>
    public static double Coupling(float[] x, double[] phi, int n, int d)
    {
        double se = 0;
        for (long i = 0; i < (long)n * d; i++)
        {
            if (!float.IsFinite(x[i])) return double.PositiveInfinity;
            double e = x[i] - phi[i];
            se += e * e;
        }
        return Math.Sqrt(se / n);
    }

    /// <summary>Phi(z) for a single-Gaussian target: the exact end points of the flow from the start noise.</summary>
    public static double[] GaussianFlowEnds(GaussianMixture g, double[] z, int n, double horizon, double delta)
    {
        if (g.Components != 1) throw new ArgumentException("the closed-form flow map needs a single Gaussian (K = 1)");
        int d = g.Dim;
        var phi = new double[z.Length];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
                phi[(long)i * d + j] = FlowMap(g.Means[0][j], g.Variances[0][j], z[(long)i * d + j], horizon, delta);
        return phi;
    }

    /// <summary>
    /// Reference end points of the flow for any mixture: classical RK4 in float64 on dx/dtau = x + s(x, tau) with the exact
    /// float64 score, over a shrinking grid of `steps` steps (fine enough that its own error is far below the targets;
    /// the caller can check by doubling).
    /// </summary>
    public static double[] ReferenceFlowEnds(GaussianMixture g, double[] z, int n, double horizon, double delta, int steps)
    {
        int d = g.Dim;
        var grid = TimeGrid.Shrinking(horizon, delta, steps);
        var phi = new double[z.Length];
        Parallel.For(0, n, i =>
        {
            var x = new double[d]; var k1 = new double[d]; var k2 = new double[d]; var k3 = new double[d]; var k4 = new double[d];
            var tmp = new double[d]; var s = new double[d]; var scratch = new double[g.Components];
            for (int j = 0; j < d; j++) x[j] = z[(long)i * d + j];
            void F(double[] y, double tau, double[] f)
            {
                g.Score(y, horizon - tau, s, scratch);
                for (int j = 0; j < d; j++) f[j] = y[j] + s[j];
            }
            for (int m = 0; m < grid.Steps; m++)
            {
                double tau = grid.Tau[m], h = grid.H(m);
                F(x, tau, k1);
                for (int j = 0; j < d; j++) tmp[j] = x[j] + 0.5 * h * k1[j];
                F(tmp, tau + 0.5 * h, k2);
                for (int j = 0; j < d; j++) tmp[j] = x[j] + 0.5 * h * k2[j];
                F(tmp, tau + 0.5 * h, k3);
                for (int j = 0; j < d; j++) tmp[j] = x[j] + h * k3[j];
                F(tmp, tau + h, k4);
                for (int j = 0; j < d; j++) x[j] += h / 6 * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]);
            }
            for (int j = 0; j < d; j++) phi[(long)i * d + j] = x[j];
        });
        return phi;
    }

    /// <summary>
    /// KL(N(m_hat, diag(v_hat)) || N(m, diag(v))) between the diagonal Gaussian fitted to the samples (sample means,
    /// unbiased per-coordinate variances) and the exact law N(m, diag(v)):
    /// sum_j 0.5 [r_j - 1 - ln r_j + (m_hat_j - m_j)^2 / v_j], r_j = v_hat_j / v_j. Non-finite samples give +Infinity.
    /// </summary>
    public static double DiagonalKl(float[] x, int n, int d, double[] mean, double[] variance)
    {
        var s1 = new double[d]; var s2 = new double[d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
            {
                float v = x[(long)i * d + j];
                if (!float.IsFinite(v)) return double.PositiveInfinity;
                s1[j] += v;
            }
        for (int j = 0; j < d; j++) s1[j] /= n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) { double e = x[(long)i * d + j] - s1[j]; s2[j] += e * e; }
        double kl = 0;
        for (int j = 0; j < d; j++)
        {
            double r = s2[j] / (n - 1) / variance[j], dm = s1[j] - mean[j];
            kl += 0.5 * (r - 1 - Math.Log(r) + dm * dm / variance[j]);
        }
        return kl;
    }

    /// <summary>
    /// Expected <see cref="DiagonalKl"/> of n exact samples (the noise floor), in closed form: per coordinate
    /// E(m_hat - m)^2/v = 1/n and r ~ chi^2_{n-1}/(n-1), so E[r - 1 - ln r] = ln((n-1)/2) - psi((n-1)/2);
    /// floor = (d/2) [1/n + ln((n-1)/2) - psi((n-1)/2)] = d/n + O(d/n^2). Its standard deviation is about sqrt(d)/n.
    /// </summary>
    public static double DiagonalKlFloor(int n, int d)
    {
        if (n < 3) throw new ArgumentException($"need at least 3 samples, got {n}");
        double a = (n - 1) / 2.0;
        return 0.5 * d * (1.0 / n + Math.Log(a) - MathNet.Numerics.SpecialFunctions.DiGamma(a));
    }

    /// <summary>Standard deviation of the floor statistic (for n exact samples): sqrt(d)/n to leading order.</summary>
    public static double DiagonalKlFloorSd(int n, int d) => Math.Sqrt(d) / n;
}

/// <summary>Step search: the smallest step count whose error is at most a target, by doubling then bisection.</summary>
public static class StepSearch
{
    public sealed record Result(int Steps, double Error, bool Found, IReadOnlyList<(int steps, double error)> Evaluations);

    /// <summary>
    /// Doubles the step count from `start` until error(steps) &lt;= target (or `max` is passed), then bisects between the
    /// last failing and the first passing count until they are within `relTol` (relative) or 1 apart. Assumes the error
    /// falls with the step count; for randomised samplers the answer is the first count found below the target with
    /// the given seed. Returns the passing count (Found = false if none up to max).
    /// </summary>
    public static Result Find(Func<int, double> error, double target, int start = 2, int max = 8192, double relTol = 0.05)
    {
        var evals = new List<(int, double)>();
        double Eval(int k) { double e = error(k); evals.Add((k, e)); return e; }
        int lo = 0, hi = Math.Max(1, start);
        double eHi = Eval(hi);
        while (!(eHi <= target))
        {
            lo = hi;
            if (hi >= max) return new Result(hi, eHi, false, evals);
            hi = Math.Min(max, hi * 2);
            eHi = Eval(hi);
        }
        while (hi - lo > 1 && hi - lo > relTol * hi)
        {
            int mid = lo + (hi - lo) / 2;
            double e = Eval(mid);
            if (e <= target) { hi = mid; eHi = e; } else lo = mid;
        }
        return new Result(hi, eHi, true, evals);
    }
}

/// <summary>Least-squares line y = a + b x with the standard error of the slope from the residuals.</summary>
public static class ExponentFit
{
    public sealed record Line(double Slope, double SlopeSe, double Intercept, int Points);

    public static Line Fit(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        int n = x.Count;
        if (n != y.Count) throw new ArgumentException("x and y differ in length");
        if (n < 2) throw new ArgumentException("a line needs at least two points");
        double mx = x.Average(), my = y.Average(), sxx = 0, sxy = 0;
        for (int i = 0; i < n; i++) { sxx += (x[i] - mx) * (x[i] - mx); sxy += (x[i] - mx) * (y[i] - my); }
        if (!(sxx > 0)) throw new ArgumentException("x has no spread");
        double b = sxy / sxx, a = my - b * mx, rss = 0;
        for (int i = 0; i < n; i++) { double r = y[i] - a - b * x[i]; rss += r * r; }
        double se = n > 2 ? Math.Sqrt(rss / (n - 2) / sxx) : double.NaN;
        return new Line(b, se, a, n);
    }

    /// <summary>Fits log y against log x: the exponent of a power law y ~ c x^b.</summary>
    public static Line FitLogLog(IReadOnlyList<double> x, IReadOnlyList<double> y) =>
        Fit(x.Select(v => Math.Log(v)).ToArray(), y.Select(v => Math.Log(v)).ToArray());
}
