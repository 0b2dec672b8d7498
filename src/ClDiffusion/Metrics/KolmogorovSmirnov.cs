using ClDiffusion.Models;
using MathNet.Numerics;

namespace ClDiffusion.Metrics;

/// <summary>
/// One-sample Kolmogorov-Smirnov statistics per coordinate against the exact marginal CDF of a Gaussian
/// mixture, F_j(x) = sum_k w_k Phi((x - mu_kj) / sqrt(v_kj)). At significance alpha the asymptotic critical value
/// of one statistic is c(alpha)/sqrt(n), c(0.05) = 1.36, c(0.01) = 1.63.
/// </summary>
public static class KolmogorovSmirnov
{
    /// <summary>D_j = sup_x |F_n,j(x) - F_j(x)| for every coordinate j.</summary>
    public static double[] PerCoordinate(GaussianMixture target, float[] data, int n)
    {
        ArgumentNullException.ThrowIfNull(target);
        int d = target.Dim;
        SampleStats.Validate(data, n, d, "samples");
        var result = new double[d];
        Parallel.For(0, d, j =>
        {
            var col = new double[n];
            for (long i = 0; i < n; i++) col[i] = data[i * d + j];
            Array.Sort(col);
            double dmax = 0;
            for (int i = 0; i < n; i++)
            {
                double f = MarginalCdf(target, j, col[i]);
                dmax = Math.Max(dmax, Math.Max((double)(i + 1) / n - f, f - (double)i / n));
            }
            result[j] = dmax;
        });
        return result;
    }

    /// <summary>Exact marginal CDF of coordinate j of the mixture at x.</summary>
    public static double MarginalCdf(GaussianMixture target, int j, double x)
    {
        double f = 0;
        for (int k = 0; k < target.Components; k++)
        {
            double z = (x - target.Means[k][j]) / Math.Sqrt(target.Variances[k][j]);
            f += target.Weights[k] * 0.5 * SpecialFunctions.Erfc(-z / Math.Sqrt(2));
        }
        return f;
    }

    /// <summary>Asymptotic critical value c(alpha)/sqrt(n), c(alpha) = sqrt(-ln(alpha/2)/2).</summary>
    public static double CriticalValue(int n, double alpha = 0.01) => Math.Sqrt(-Math.Log(alpha / 2) / 2) / Math.Sqrt(n);
}
