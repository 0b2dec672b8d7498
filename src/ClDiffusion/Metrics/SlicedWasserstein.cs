using ClDiffusion.Random;

namespace ClDiffusion.Metrics;

/// <summary>
/// Sliced 2-Wasserstein distance: SW2 = sqrt(mean over L random unit directions theta of W2^2(theta.X, theta.Y)),
/// where each 1-d W2 is exact between the two empirical measures (sorting; unequal sizes by matching the
/// quantile functions on the merged grid of breakpoints i/na and j/nb). Directions come from a seed, so
/// results are reproducible. Note E_theta (theta.s)^2 = |s|^2 / d, so a pure shift s gives SW2 ~ |s| / sqrt(d).
/// </summary>
public static class SlicedWasserstein
{
    public const int DefaultDirections = 128;

    /// <summary>L unit directions in R^d, row-major [L, d], from Philox normals keyed by the seed.</summary>
    public static double[] Directions(int d, int count, ulong seed)
    {
        if (d < 1 || count < 1) throw new ArgumentException($"need d >= 1 and count >= 1, got d = {d}, count = {count}");
        var key = new RandomKey(seed, 0x51D, Purpose.Test);
        var dirs = new double[(long)count * d];
        var z = new float[d];
        for (int l = 0; l < count; l++)
        {
            double norm;
            uint attempt = 0;
            do
            {
                key.WithStep(0x51D + attempt++ * 0x10000u).Normals(l, z);
                norm = 0;
                foreach (var v in z) norm += (double)v * v;
            } while (norm < 1e-24);
            norm = Math.Sqrt(norm);
            for (int j = 0; j < d; j++) dirs[(long)l * d + j] = z[j] / norm;
        }
        return dirs;
    }

    public static double Distance(float[] a, int na, float[] b, int nb, int d, ulong seed, int directions = DefaultDirections)
        => Distance(a, na, b, nb, d, Directions(d, directions, seed), directions);

    /// <summary>Sliced W2 with the given unit directions (row-major [count, d]).</summary>
    public static double Distance(float[] a, int na, float[] b, int nb, int d, double[] dirs, int count)
        => new SlicedReference(b, nb, d, dirs, count, cacheProjections: false).Distance(a, na);

    internal static void Project(float[] x, int n, int d, ReadOnlySpan<double> dir, double[] outp)
    {
        for (long i = 0; i < n; i++)
        {
            long o = i * d;
            double s = 0;
            for (int j = 0; j < d; j++) s += x[o + j] * dir[j];
            outp[i] = s;
        }
    }

    /// <summary>Exact W2^2 between two 1-d empirical measures with uniform weights, given sorted values.</summary>
    public static double W2SquaredSorted(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        int na = x.Length, nb = y.Length;
        if (na == 0 || nb == 0) throw new ArgumentException("empty sample");
        if (na == nb)
        {
            double s = 0;
            for (int i = 0; i < na; i++) { double t = x[i] - y[i]; s += t * t; }
            return s / na;
        }
        // Quantile functions are step functions with breaks at i/na and j/nb; integrate (Qx - Qy)^2 over [0, 1].
        double acc = 0, u = 0;
        int ii = 0, jj = 0;
        while (ii < na && jj < nb)
        {
            long lx = (long)(ii + 1) * nb, ly = (long)(jj + 1) * na; // compare (ii+1)/na with (jj+1)/nb exactly
            double next = lx <= ly ? (double)(ii + 1) / na : (double)(jj + 1) / nb;
            double t = x[ii] - y[jj];
            acc += (next - u) * t * t;
            u = next;
            if (lx <= ly) ii++;
            if (ly <= lx) jj++;
        }
        return acc;
    }
}

/// <summary>
/// The second set of a sliced W2 fixed with its directions; its sorted projections are kept (when they fit in
/// <see cref="MaxCachedValues"/> doubles), so that comparing many sets with it sorts only their own projections.
/// </summary>
internal sealed class SlicedReference
{
    const long MaxCachedValues = 4_000_000;
    readonly float[] b;
    readonly int nb, d, count;
    readonly double[] dirs;
    readonly double[][]? sorted;

    public SlicedReference(float[] b, int nb, int d, double[] dirs, int count, bool cacheProjections = true)
    {
        SampleStats.Validate(b, nb, d, "second sample set");
        if (dirs.LongLength != (long)count * d) throw new ArgumentException($"directions: {dirs.LongLength} values is not count * d = {count} * {d}");
        this.b = b; this.nb = nb; this.d = d; this.dirs = dirs; this.count = count;
        if (!cacheProjections || (long)count * nb > MaxCachedValues) return;
        var cache = new double[count][];
        Parallel.For(0, count, l =>
        {
            var p = new double[nb];
            SlicedWasserstein.Project(b, nb, d, new ReadOnlySpan<double>(dirs, l * d, d), p);
            Array.Sort(p);
            cache[l] = p;
        });
        sorted = cache;
    }

    public double Distance(float[] a, int na)
    {
        SampleStats.Validate(a, na, d, "first sample set");
        var w2 = new double[count];
        var local = new ThreadLocal<(double[] pa, double[] pb)>(() => (new double[na], sorted is null ? new double[nb] : []));
        Parallel.For(0, count, l =>
        {
            var (pa, pb) = local.Value;
            var dir = new ReadOnlySpan<double>(dirs, l * d, d);
            SlicedWasserstein.Project(a, na, d, dir, pa);
            Array.Sort(pa);
            if (sorted is null) { SlicedWasserstein.Project(b, nb, d, dir, pb); Array.Sort(pb); }
            w2[l] = SlicedWasserstein.W2SquaredSorted(pa, sorted?[l] ?? pb);
        });
        local.Dispose();
        return Math.Sqrt(w2.Average());
    }
}
