using ClDiffusion.Models;
using ClDiffusion.Random;

namespace ClDiffusion.Metrics;

/// <summary>Caps and sizes for <see cref="SampleEvaluator"/>.</summary>
public sealed record MetricOptions
{
    /// <summary>Random directions of the sliced W2.</summary>
    public int SlicedDirections { get; init; } = SlicedWasserstein.DefaultDirections;
    /// <summary>Rows used by the sliced W2 (seeded random subset above this).</summary>
    public int MaxSlicedRows { get; init; } = 100_000;
    /// <summary>Rows used by energy distance and MMD (cost O(rows^2 d)).</summary>
    public int MaxKernelRows { get; init; } = KernelDistances.DefaultMaxRows;
    /// <summary>Rows used by the KS statistics.</summary>
    public int MaxKsRows { get; init; } = 200_000;

    public static MetricOptions Default { get; } = new();
}

/// <summary>
/// Evaluates samples against an exact Gaussian-mixture target. Every metric comes with its noise floor: the
/// same metric with an independent exact sample set of the same size (drawn from a different seed) in place
/// of the samples. Two-sample metrics compare with a further exact reference set of the same size.
/// All arithmetic is float64.
/// </summary>
public static class SampleEvaluator
{
    public const string MeanErrorName = "mean_error", FrechetName = "frechet", GaussianKlName = "gaussian_kl",
        SlicedW2Name = "sliced_w2", EnergyName = "energy_distance", MmdName = "mmd2", KsMaxName = "ks_max", KsMeanName = "ks_mean";

    public static MetricReport Evaluate(GaussianMixture target, float[] samples, int n, ulong seed)
        => Evaluate(target, samples, n, seed, MetricOptions.Default);

    /// <param name="samples">Row-major [n, target.Dim] samples.</param>
    public static MetricReport Evaluate(GaussianMixture target, float[] samples, int n, ulong seed, MetricOptions options)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        int d = target.Dim;
        if (samples is not null && n > 0 && samples.LongLength != (long)n * d)
            throw new ArgumentException($"dimension mismatch: {samples.LongLength} sample values is not n * d = {n} * {d} (target dimension {d})");
        SampleStats.Validate(samples!, n, d, "samples", 2);

        // exact sets: `reference` for two-sample metrics, `floor` replaces the samples to give the noise floor
        var refKey = new RandomKey(Mix(seed, 1), 0, Purpose.Test);
        var floorKey = new RandomKey(Mix(seed, 2), 0, Purpose.Test);
        var floorSet = ExactSamples(target, n, floorKey);

        var metrics = new List<MetricValue>();

        // ---- moments against the exact mixture moments
        var exactMean = target.Mean();
        var exactCov = target.Covariance();
        var (sMean, sCov) = Moments(samples!, n, d);
        var (fMean, fCov) = Moments(floorSet, n, d);
        metrics.Add(new(MeanErrorName, Dist(sMean, exactMean), Dist(fMean, exactMean), n,
            "|sample mean - exact mean|"));
        metrics.Add(new(FrechetName, GaussianDistances.W2Squared(sMean, sCov, exactMean, exactCov),
            GaussianDistances.W2Squared(fMean, fCov, exactMean, exactCov), n,
            "W2^2 between Gaussian fits: sample moments vs exact moments"));
        metrics.Add(new(GaussianKlName, GaussianDistances.KlDivergence(sMean, sCov, exactMean, exactCov),
            GaussianDistances.KlDivergence(fMean, fCov, exactMean, exactCov), n,
            "KL(N(sample moments) || N(exact moments))"));

        // ---- two-sample metrics against an exact reference set of the same size
        int ms = Math.Min(n, options.MaxSlicedRows);
        var refSet = ExactSamples(target, ms, refKey);
        var sSub = Subsample.Rows(samples!, n, d, ms, Mix(seed, 3));
        var fSub = Prefix(floorSet, n, d, ms);
        var dirs = SlicedWasserstein.Directions(d, options.SlicedDirections, Mix(seed, 4));
        metrics.Add(new(SlicedW2Name,
            SlicedWasserstein.Distance(sSub, ms, refSet, ms, d, dirs, options.SlicedDirections),
            SlicedWasserstein.Distance(fSub, ms, refSet, ms, d, dirs, options.SlicedDirections), ms,
            $"sliced W2 vs exact samples, {options.SlicedDirections} directions"));

        int mk = Math.Min(n, options.MaxKernelRows);
        var kRef = Prefix(refSet, ms, d, mk);
        var kS = Subsample.Rows(sSub, ms, d, mk, Mix(seed, 5));
        var kF = Prefix(fSub, ms, d, mk);
        double h = KernelDistances.MedianHeuristic(kRef, mk, d);
        var ks = KernelDistances.Compute(kS, mk, kRef, mk, d, h, 0, mk);
        var kf = KernelDistances.Compute(kF, mk, kRef, mk, d, h, 0, mk);
        metrics.Add(new(EnergyName, ks.Energy, kf.Energy, mk, "energy distance vs exact samples (V-statistic)"));
        metrics.Add(new(MmdName, ks.Mmd2, kf.Mmd2, mk, $"MMD^2, Gaussian kernel, median-heuristic bandwidth {h:G4}"));

        // ---- per-coordinate KS against the exact marginal CDFs
        int mks = Math.Min(n, options.MaxKsRows);
        var ksS = KolmogorovSmirnov.PerCoordinate(target, Subsample.Rows(samples!, n, d, mks, Mix(seed, 6)), mks);
        var ksF = KolmogorovSmirnov.PerCoordinate(target, Prefix(floorSet, n, d, mks), mks);
        metrics.Add(new(KsMaxName, ksS.Max(), ksF.Max(), mks,
            $"max over coordinates of the KS statistic (alpha 0.01 critical value {KolmogorovSmirnov.CriticalValue(mks):G3} per coordinate)"));
        metrics.Add(new(KsMeanName, ksS.Average(), ksF.Average(), mks, "mean over coordinates of the KS statistic"));

        return new MetricReport(target.Describe(), n, d, seed, metrics);
    }

    /// <summary>Exact samples of the target as row-major float32 [n, d], generated in chunks.</summary>
    public static float[] ExactSamples(GaussianMixture target, int n, RandomKey key)
    {
        int d = target.Dim;
        var result = new float[(long)n * d];
        const int Chunk = 4096;
        int chunks = (n + Chunk - 1) / Chunk;
        Parallel.For(0, chunks, c =>
        {
            int first = c * Chunk, count = Math.Min(Chunk, n - first);
            var block = target.Sample(count, key, 0, first);
            for (int i = 0; i < count; i++)
                for (int j = 0; j < d; j++) result[(long)(first + i) * d + j] = (float)block[i, j];
        });
        return result;
    }

    static (double[] mean, double[,] cov) Moments(float[] x, int n, int d)
    {
        var m = SampleStats.Mean(x, n, d);
        return (m, SampleStats.Covariance(x, n, d, m));
    }

    static float[] Prefix(float[] x, int n, int d, int m) => m >= n ? x : x[..(m * d)];

    static double Dist(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) { double t = a[i] - b[i]; s += t * t; }
        return Math.Sqrt(s);
    }

    /// <summary>SplitMix64 of (seed, stream): independent-looking seeds for the exact sets and subsets.</summary>
    internal static ulong Mix(ulong seed, ulong stream)
    {
        ulong z = seed + stream * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
