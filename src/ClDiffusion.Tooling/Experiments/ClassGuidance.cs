using ClDiffusion.Backends;
using ClDiffusion.Data;
using ClDiffusion.Metrics;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Samplers;

namespace ClDiffusion.Experiments;

/// <summary>
/// The digit classifier the guidance check uses: 1-nearest neighbour (Euclidean, pixel space) among the held-out
/// optdigits rows (index % 5 == 4), which the model never saw in training.
/// </summary>
public sealed class DigitClassifier(OptDigits.Set reference)
{
    public OptDigits.Set Reference { get; } = reference;

    public static DigitClassifier HeldOut() => new(OptDigits.LoadSplit().heldOut);

    /// <summary>The label of the nearest reference digit to one 64-pixel row (data space, 0..16).</summary>
    public int Classify(ReadOnlySpan<float> digit)
    {
        int d = OptDigits.Dim, best = 0;
        if (digit.Length != d) throw new ArgumentException($"a digit has {d} pixels, got {digit.Length}");
        double bd = double.MaxValue;
        for (int k = 0; k < Reference.Count; k++)
        {
            double dd = 0;
            var r = Reference.Pixels.AsSpan(k * d, d);
            for (int j = 0; j < d; j++) { double e = digit[j] - r[j]; dd += e * e; }
            if (dd < bd) { bd = dd; best = k; }
        }
        return Reference.Labels[best];
    }
}

/// <summary>One row of the guidance table: samples drawn for one class at one guidance weight.</summary>
public sealed record ClassGuidanceRow(double Guidance, int Class, int Count, int LabelledRight, double Frechet)
{
    public double Rate => (double)LabelledRight / Count;
}

/// <summary>
/// The class-conditional digits check (docs/MLP.md): for each guidance weight, `perClass` samples of every class
/// (one run, per-sample labels in blocks), each labelled by the held-out nearest-neighbour classifier, and the
/// Frechet distance (pixel space) between the samples of class K and the held-out digits of class K.
/// </summary>
public static class ClassGuidance
{
    public static IReadOnlyList<ClassGuidanceRow> Run(IBackend backend, MlpModel model, string sampler, SamplerOptions o,
        IReadOnlyList<double> weights, int perClass, ulong seed, DigitClassifier? classifier = null, CancellationToken cancel = default)
    {
        if (model.NumClasses < 1) throw new ArgumentException($"{model.Describe()} is not class-conditional");
        if (model.Dim != OptDigits.Dim) throw new ArgumentException($"the digits check needs d = {OptDigits.Dim}, got {model.Dim}");
        if (perClass < 2) throw new ArgumentException($"need at least 2 samples per class, got {perClass}");
        classifier ??= DigitClassifier.HeldOut();
        int K = model.NumClasses, n = K * perClass, d = model.Dim;
        var labels = ClassLabels.Blocks(K, 0, n);
        var rows = new List<ClassGuidanceRow>();
        foreach (var w in weights)
        {
            var x = new float[(long)n * d];
            SampleRun.Run(backend, model, sampler, o with { Labels = labels, Guidance = w }, seed, 0, n, x, cancel: cancel);   // in data space
            for (int c = 0; c < K; c++)
            {
                var idx = Enumerable.Range(0, n).Where(i => labels.Of(i) == c).ToArray();
                int right = idx.Count(i => classifier.Classify(x.AsSpan(i * d, d)) == c);
                var mine = idx.SelectMany(i => x.AsSpan(i * d, d).ToArray()).ToArray();
                rows.Add(new(w, c, idx.Length, right, FrechetToHeldOut(classifier.Reference, c, mine, idx.Length)));
            }
        }
        return rows;
    }

    /// <summary>Frechet distance (pixel space) between `count` digits and the reference digits of class c.</summary>
    public static double FrechetToHeldOut(OptDigits.Set reference, int c, float[] digits, int count)
    {
        int d = OptDigits.Dim;
        var refIdx = Enumerable.Range(0, reference.Count).Where(i => reference.Labels[i] == c).ToArray();
        var refPix = refIdx.SelectMany(i => reference.Pixels.AsSpan(i * d, d).ToArray()).ToArray();
        return SampleStats.FrechetDistance(digits, count, refPix, refIdx.Length, d);
    }
}
