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
    /// <summary>Rows used by energy distance and MMD (cost O(rows^2 d) for the samples and for each floor draw, hence 1000).</summary>
    public int MaxKernelRows { get; init; } = 1000;
    /// <summary>Rows used by the KS statistics.</summary>
    public int MaxKsRows { get; init; } = 200_000;
    /// <summary>
    /// Independent exact sample sets that make each metric's noise floor (its distribution under exact sampling). The
    /// verdict is a Monte Carlo test: the samples' value ranks among these draws, so with B draws the p-value is
    /// (1 + #draws at or above the value) / (B + 1), exact when the samples are exact (the B + 1 values are then
    /// exchangeable). The default 39 lets p reach <see cref="MetricValue.Alpha"/> = 1/40.
    /// </summary>
    public int FloorDraws { get; init; } = 39;

    public static MetricOptions Default { get; } = new();

    /// <summary>Throws an ArgumentException naming the first invalid field.</summary>
    public void Validate()
    {
        if (SlicedDirections < 1) throw new ArgumentException($"sliced W2 directions must be at least 1, got {SlicedDirections}");
        if (MaxSlicedRows < 2 || MaxKernelRows < 2 || MaxKsRows < 2) throw new ArgumentException("metric row caps must be at least 2");
        int least = (int)Math.Ceiling(1 / MetricValue.Alpha) - 1;
        if (FloorDraws < least || FloorDraws > 10_000)
            throw new ArgumentException($"floor draws must be in {least}..10000 (with fewer, no p-value reaches alpha = {MetricValue.Alpha}), got {FloorDraws}");
    }
}

/// <summary>
/// The exact sets a report is measured against, for one (target, n, seed, options): the exact reference of the
/// two-sample metrics and <see cref="MetricOptions.FloorDraws"/> independent exact sets whose metric values make each
/// floor's distribution. Building it costs about FloorDraws evaluations; reuse it to evaluate several sample sets of the
/// same size (e.g. several samplers) against the same floors.
/// </summary>
public sealed class NoiseFloors
{
    internal GaussianMixture Target { get; }
    internal int N { get; }
    internal ulong Seed { get; }
    internal MetricOptions Options { get; }
    internal double[] ExactMean { get; }
    internal double[,] ExactCov { get; }
    internal float[] Reference { get; }
    internal int SlicedRows { get; }
    internal SlicedReference Sliced { get; }
    internal KernelReference Kernel { get; }
    internal int KernelRows { get; }
    internal int KsRows { get; }
    /// <summary>[metric][draw]: each metric's value for each exact floor set.</summary>
    internal double[][] Draws { get; }

    internal NoiseFloors(GaussianMixture target, int n, ulong seed, MetricOptions options)
    {
        Target = target; N = n; Seed = seed; Options = options;
        int d = target.Dim;
        ExactMean = target.Mean();
        ExactCov = target.Covariance();
        SlicedRows = Math.Min(n, options.MaxSlicedRows);
        Reference = SampleEvaluator.ExactSamples(target, SlicedRows, new RandomKey(SampleEvaluator.Mix(seed, 1), 0, Purpose.Test));
        Sliced = new SlicedReference(Reference, SlicedRows, d, SlicedWasserstein.Directions(d, options.SlicedDirections, SampleEvaluator.Mix(seed, 4)), options.SlicedDirections);
        KernelRows = Math.Min(n, options.MaxKernelRows);
        var kRef = KernelRows >= SlicedRows ? Reference : Reference[..(KernelRows * d)];
        Kernel = new KernelReference(kRef, KernelRows, d, KernelDistances.MedianHeuristic(kRef, KernelRows, d));
        KsRows = Math.Min(n, options.MaxKsRows);
        int b = options.FloorDraws;
        var rows = new double[b][];
        // one exact set at a time (memory stays at one set of n rows); each metric parallelises inside
        for (int i = 0; i < b; i++)
        {
            var set = SampleEvaluator.ExactSamples(target, n, new RandomKey(SampleEvaluator.Mix(seed, 100 + (ulong)i), 0, Purpose.Test));
            rows[i] = SampleEvaluator.Measure(set, this);
        }
        Draws = Enumerable.Range(0, SampleEvaluator.Names.Length).Select(m => rows.Select(r => r[m]).ToArray()).ToArray();
    }
}

/// <summary>
/// Evaluates samples against an exact Gaussian-mixture target. Every metric comes with the distribution of its noise
/// floor: the same metric for <see cref="MetricOptions.FloorDraws"/> independent exact sample sets of the same size in
/// place of the samples (<see cref="NoiseFloors"/>), its median as the floor, and the p-value of the samples' value
/// among the draws. Two-sample metrics compare with a further exact reference set of the same size. All arithmetic is
/// float64.
/// </summary>
public static class SampleEvaluator
{
    public const string MeanErrorName = "mean_error", FrechetName = "frechet", GaussianKlName = "gaussian_kl",
        SlicedW2Name = "sliced_w2", EnergyName = "energy_distance", MmdName = "mmd2", KsMaxName = "ks_max", KsMeanName = "ks_mean";

    internal static readonly string[] Names = [MeanErrorName, FrechetName, GaussianKlName, SlicedW2Name, EnergyName, MmdName, KsMaxName, KsMeanName];

    public static MetricReport Evaluate(GaussianMixture target, float[] samples, int n, ulong seed)
        => Evaluate(target, samples, n, seed, MetricOptions.Default);

    /// <param name="samples">Row-major [n, target.Dim] samples.</param>
    public static MetricReport Evaluate(GaussianMixture target, float[] samples, int n, ulong seed, MetricOptions options)
    {
        ArgumentNullException.ThrowIfNull(target);
        CheckSamples(target, samples, n);
        return Evaluate(samples, Floors(target, n, seed, options));
    }

    /// <summary>The exact reference and floor draws for samples of size n (build once, evaluate several sample sets).</summary>
    public static NoiseFloors Floors(GaussianMixture target, int n, ulong seed, MetricOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        options ??= MetricOptions.Default;
        options.Validate();
        if (n < 2) throw new ArgumentException($"need at least 2 samples, got {n}");
        return new NoiseFloors(target, n, seed, options);
    }

    /// <summary>Evaluates [floors.N, d] samples against floors built by <see cref="Floors"/>.</summary>
    public static MetricReport Evaluate(float[] samples, NoiseFloors floors)
    {
        ArgumentNullException.ThrowIfNull(floors);
        CheckSamples(floors.Target, samples, floors.N);
        var values = Measure(samples, floors);
        int ms = floors.SlicedRows, mk = floors.KernelRows, mks = floors.KsRows, n = floors.N;
        var o = floors.Options;
        string[] descriptions =
        [
            "|sample mean - exact mean|",
            "W2^2 between Gaussian fits: sample moments vs exact moments",
            "KL(N(sample moments) || N(exact moments))",
            $"sliced W2 vs exact samples, {o.SlicedDirections} directions",
            "energy distance vs exact samples (V-statistic)",
            $"MMD^2, Gaussian kernel, median-heuristic bandwidth {floors.Kernel.Bandwidth:G4}",
            $"max over coordinates of the KS statistic (alpha 0.01 critical value {KolmogorovSmirnov.CriticalValue(mks):G3} per coordinate)",
            "mean over coordinates of the KS statistic",
        ];
        int[] rows = [n, n, n, ms, mk, mk, mks, mks];
        var metrics = Names.Select((name, m) => new MetricValue(name, values[m], floors.Draws[m], rows[m], descriptions[m])).ToList();
        return new MetricReport(floors.Target.Describe(), n, floors.Target.Dim, floors.Seed, metrics);
    }

    static void CheckSamples(GaussianMixture target, float[] samples, int n)
    {
        int d = target.Dim;
        if (samples is not null && n > 0 && samples.LongLength != (long)n * d)
            throw new ArgumentException($"dimension mismatch: {samples.LongLength} sample values is not n * d = {n} * {d} (target dimension {d})");
        SampleStats.Validate(samples!, n, d, "samples", 2);
    }

    /// <summary>Every metric of one set of n rows, in <see cref="Names"/> order; the samples and each floor draw go through this same code.</summary>
    internal static double[] Measure(float[] x, NoiseFloors f)
    {
        int n = f.N, d = f.Target.Dim;
        var (mean, cov) = Moments(x, n, d);
        var sSub = Subsample.Rows(x, n, d, f.SlicedRows, Mix(f.Seed, 3));
        double sw2 = f.Sliced.Distance(sSub, f.SlicedRows);
        var kSub = Subsample.Rows(sSub, f.SlicedRows, d, f.KernelRows, Mix(f.Seed, 5));
        var (energy, mmd2) = f.Kernel.Distances(kSub, f.KernelRows);
        var ks = KolmogorovSmirnov.PerCoordinate(f.Target, Subsample.Rows(x, n, d, f.KsRows, Mix(f.Seed, 6)), f.KsRows);
        return
        [
            Dist(mean, f.ExactMean),
            GaussianDistances.W2Squared(mean, cov, f.ExactMean, f.ExactCov),
            GaussianDistances.KlDivergence(mean, cov, f.ExactMean, f.ExactCov),
            sw2, energy, mmd2, ks.Max(), ks.Average(),
        ];
    }

    /// <summary>Exact samples of the target as row-major float32 [n, d], generated in parallel chunks.</summary>
    public static float[] ExactSamples(GaussianMixture target, int n, RandomKey key)
    {
        int d = target.Dim;
        var result = new float[(long)n * d];
        const int Chunk = 4096;
        int chunks = (n + Chunk - 1) / Chunk;
        void Block(int c)
        {
            int first = c * Chunk, count = Math.Min(Chunk, n - first);
            var block = target.Sample(count, key, 0, first);
            for (int i = 0; i < count; i++)
                for (int j = 0; j < d; j++) result[(long)(first + i) * d + j] = (float)block[i, j];
        }
        Parallel.For(0, chunks, Block);
        return result;
    }

    static (double[] mean, double[,] cov) Moments(float[] x, int n, int d)
    {
        var m = SampleStats.Mean(x, n, d);
        return (m, SampleStats.Covariance(x, n, d, m));
    }

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
