using ClDiffusion.Random;

namespace ClDiffusion.Metrics;

/// <summary>
/// Two-sample kernel distances on at most <c>maxRows</c> rows per set (a seeded random subset when larger,
/// capping the cost at O(maxRows^2 d)). Both are V-statistics (diagonal included), hence never negative:
/// energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| and MMD^2 with the Gaussian kernel exp(-|x - y|^2 / (2 h^2)).
/// </summary>
public static class KernelDistances
{
    public const int DefaultMaxRows = 2000;

    public static double EnergyDistance(float[] a, int na, float[] b, int nb, int d, ulong seed, int maxRows = DefaultMaxRows)
        => Compute(a, na, b, nb, d, 1.0, seed, maxRows).Energy;

    /// <summary>MMD^2 with bandwidth h; pass h &lt;= 0 to use the median heuristic on the pooled subsets.</summary>
    public static double MmdSquared(float[] a, int na, float[] b, int nb, int d, double bandwidth, ulong seed, int maxRows = DefaultMaxRows)
    {
        if (bandwidth <= 0)
        {
            var xa = Subsample.Rows(a, na, d, Math.Min(maxRows, na), seed ^ 0xA);
            var xb = Subsample.Rows(b, nb, d, Math.Min(maxRows, nb), seed ^ 0xB);
            var pooled = new float[xa.Length + xb.Length];
            xa.CopyTo(pooled, 0); xb.CopyTo(pooled, xa.Length);
            bandwidth = MedianHeuristic(pooled, pooled.Length / d, d);
        }
        return Compute(a, na, b, nb, d, bandwidth, seed, maxRows).Mmd2;
    }

    /// <summary>Median of the pairwise Euclidean distances among (at most the first 1000) rows; 1 if all coincide.</summary>
    public static double MedianHeuristic(float[] x, int n, int d)
    {
        SampleStats.Validate(x, n, d, "samples", 2);
        int m = Math.Min(n, 1000);
        var dist = new double[(long)m * (m - 1) / 2];
        long p = 0;
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++)
                dist[p++] = Math.Sqrt(Sq(x, i, x, j, d));
        Array.Sort(dist);
        double med = dist.Length % 2 == 1 ? dist[dist.Length / 2] : 0.5 * (dist[dist.Length / 2 - 1] + dist[dist.Length / 2]);
        return med > 0 ? med : 1.0;
    }

    internal static (double Energy, double Mmd2) Compute(float[] a, int na, float[] b, int nb, int d, double bandwidth, ulong seed, int maxRows)
    {
        SampleStats.Validate(a, na, d, "first sample set");
        SampleStats.Validate(b, nb, d, "second sample set");
        if (maxRows < 1) throw new ArgumentException($"maxRows must be positive, got {maxRows}");
        int ma = Math.Min(na, maxRows), mb = Math.Min(nb, maxRows);
        var x = Subsample.Rows(a, na, d, ma, seed ^ 0xA);
        var y = Subsample.Rows(b, nb, d, mb, seed ^ 0xB);
        return new KernelReference(y, mb, d, bandwidth).Distances(x, ma);
    }

    /// <summary>Sums over all pairs (i, j) of |x_i - y_j| and exp(-|x_i - y_j|^2 inv2h2); for x = y each unordered pair once, doubled, plus the diagonal.</summary>
    internal static (double dist, double kern) Sums(float[] x, int nx, float[] y, int ny, int d, double inv2h2)
    {
        bool self = ReferenceEquals(x, y) && nx == ny;
        var dist = new double[nx]; var kern = new double[nx];
        Parallel.For(0, nx, i =>
        {
            double sd = 0, sk = 0;
            for (int j = self ? i + 1 : 0; j < ny; j++)
            {
                double q = Sq(x, i, y, j, d);
                sd += Math.Sqrt(q);
                sk += Math.Exp(-q * inv2h2);
            }
            dist[i] = self ? 2 * sd : sd; kern[i] = self ? 2 * sk + 1 : sk;
        });
        return (dist.Sum(), kern.Sum());
    }

    static double Sq(float[] x, int i, float[] y, int j, int d)
    {
        long oi = (long)i * d, oj = (long)j * d;
        double s = 0;
        for (int k = 0; k < d; k++) { double t = (double)x[oi + k] - y[oj + k]; s += t * t; }
        return s;
    }
}

/// <summary>Seeded row subsets of [n, d] row-major data.</summary>
public static class Subsample
{
    /// <summary>m rows chosen uniformly without replacement (partial Fisher-Yates keyed by the seed); the data itself when m >= n.</summary>
    public static float[] Rows(float[] data, int n, int d, int m, ulong seed)
    {
        if (m >= n) return data;
        if (m < 0) throw new ArgumentException($"m must be non-negative, got {m}");
        var key = new RandomKey(seed, 0x5B5, Purpose.Test);
        var idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        for (int i = 0; i < m; i++)
        {
            var (r0, r1, _, _) = key.Block(i, 0);
            ulong r = ((ulong)r0 << 32) | r1;
            int j = i + (int)(r % (ulong)(n - i));
            (idx[i], idx[j]) = (idx[j], idx[i]);
        }
        var result = new float[(long)m * d];
        for (int i = 0; i < m; i++) Array.Copy(data, (long)idx[i] * d, result, (long)i * d, d);
        return result;
    }
}

/// <summary>
/// One side of the kernel distances fixed (the exact reference, its bandwidth and its own pair sums), so that many sets
/// are compared with it at the cost of their own pairs only.
/// </summary>
internal sealed class KernelReference
{
    readonly float[] y;
    readonly int my, d;
    readonly double inv2h2, eyy, kyy;
    public double Bandwidth { get; }

    public KernelReference(float[] y, int my, int d, double bandwidth)
    {
        this.y = y; this.my = my; this.d = d; Bandwidth = bandwidth;
        inv2h2 = 1.0 / (2 * bandwidth * bandwidth);
        var (dyy, k) = KernelDistances.Sums(y, my, y, my, d, inv2h2);
        eyy = dyy / ((double)my * my); kyy = k / ((double)my * my);
    }

    /// <summary>(energy distance, MMD^2) between the first mx rows of x and the reference; both V-statistics, never negative.</summary>
    public (double Energy, double Mmd2) Distances(float[] x, int mx)
    {
        var (dxx, kxx) = KernelDistances.Sums(x, mx, x, mx, d, inv2h2);
        var (dxy, kxy) = KernelDistances.Sums(x, mx, y, my, d, inv2h2);
        double exx = dxx / ((double)mx * mx), exy = dxy / ((double)mx * my);
        double energy = Math.Max(0, 2 * exy - exx - eyy);
        double mmd2 = Math.Max(0, kxx / ((double)mx * mx) + kyy - 2 * kxy / ((double)mx * my));
        return (energy, mmd2);
    }
}
