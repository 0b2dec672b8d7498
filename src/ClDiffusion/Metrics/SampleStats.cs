namespace ClDiffusion.Metrics;

/// <summary>Validation and moments of row-major sample sets (float32 storage [n, d], float64 arithmetic).</summary>
public static class SampleStats
{
    /// <summary>Checks data.Length == n * d, n >= minRows, and that every value is finite; errors name the first bad row.</summary>
    public static void Validate(float[] data, int n, int d, string what = "samples", int minRows = 1)
    {
        ArgumentNullException.ThrowIfNull(data, what);
        if (d < 1) throw new ArgumentException($"{what}: dimension must be at least 1, got {d}");
        if (n < minRows) throw new ArgumentException($"{what}: need at least {minRows} rows, got {n}");
        if (data.LongLength != (long)n * d)
            throw new ArgumentException($"{what}: dimension mismatch: {data.LongLength} values is not n * d = {n} * {d} = {(long)n * d}");
        for (long i = 0; i < data.LongLength; i++)
            if (!float.IsFinite(data[i]))
                throw new ArgumentException($"{what}: row {i / d} (0-based) has a non-finite value ({data[i]}) in column {i % d}");
    }

    public static double[] Mean(float[] data, int n, int d)
    {
        var m = new double[d];
        for (long i = 0; i < n; i++)
        {
            long o = i * d;
            for (int j = 0; j < d; j++) m[j] += data[o + j];
        }
        for (int j = 0; j < d; j++) m[j] /= n;
        return m;
    }

    /// <summary>Unbiased sample covariance (divides by n - 1), two-pass, float64.</summary>
    public static double[,] Covariance(float[] data, int n, int d, double[]? mean = null)
    {
        if (n < 2) throw new ArgumentException($"covariance needs at least 2 rows, got {n}");
        mean ??= Mean(data, n, d);
        const int Block = 4096;
        int blocks = (n + Block - 1) / Block;
        var partial = new double[blocks][];
        Parallel.For(0, blocks, b =>
        {
            var acc = new double[d * d];
            var row = new double[d];
            int end = Math.Min(n, (b + 1) * Block);
            for (long i = (long)b * Block; i < end; i++)
            {
                long o = i * d;
                for (int j = 0; j < d; j++) row[j] = data[o + j] - mean[j];
                for (int j = 0; j < d; j++)
                {
                    double rj = row[j];
                    int a = j * d;
                    for (int k = j; k < d; k++) acc[a + k] += rj * row[k];
                }
            }
            partial[b] = acc;
        });
        var c = new double[d, d];
        for (int j = 0; j < d; j++)
            for (int k = j; k < d; k++)
            {
                double s = 0;
                foreach (var p in partial) s += p[j * d + k];
                c[j, k] = c[k, j] = s / (n - 1);
            }
        return c;
    }

    /// <summary>Frechet distance (squared, as in FID) between the Gaussian fits of two sample sets: W2^2 of the sample moments.</summary>
    public static double FrechetDistance(float[] a, int na, float[] b, int nb, int d)
    {
        Validate(a, na, d, "first sample set", 2);
        Validate(b, nb, d, "second sample set", 2);
        var ma = Mean(a, na, d); var mb = Mean(b, nb, d);
        return GaussianDistances.W2Squared(ma, Covariance(a, na, d, ma), mb, Covariance(b, nb, d, mb));
    }

    /// <summary>Frechet distance (squared) between the Gaussian fit of a sample set and given exact moments.</summary>
    public static double FrechetDistance(float[] a, int n, int d, double[] mean, double[,] cov)
    {
        Validate(a, n, d, "samples", 2);
        if (mean.Length != d) throw new ArgumentException($"dimension mismatch: samples have d = {d}, exact mean has {mean.Length}");
        var ma = Mean(a, n, d);
        return GaussianDistances.W2Squared(ma, Covariance(a, n, d, ma), mean, cov);
    }
}
