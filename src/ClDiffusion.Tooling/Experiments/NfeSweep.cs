using System.Diagnostics;
using ClDiffusion.Backends;
using ClDiffusion.Metrics;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;

namespace ClDiffusion.Tooling.Experiments;

/// <summary>One sampler at one step count: its cost and its error against exact samples of the target.</summary>
public sealed record SweepPoint(string Sampler, int Steps, double Nfe, int Rounds, double SlicedW2, double MeanError, double Seconds, bool Diverged);

/// <summary>The sampling-noise floor of sliced W2: the distance between independent exact sets of the same size (mean and spread over pairs).</summary>
public sealed record NoiseFloor(double Mean, double Min, double Max, int Pairs);

/// <summary>
/// Error against cost for a set of samplers on an exact Gaussian-mixture target: every sampler and step count draws
/// n samples with the same seed, and each sample set is compared with one fixed exact reference set (sliced W2 with
/// fixed directions, and the distance of the sample mean from the exact mean). The noise floor is measured with
/// the same reference and the same directions.
/// </summary>
public static class NfeSweep
{
    public const int Directions = 128;

    public static NoiseFloor Floor(GaussianMixture target, int n, ulong seed, int pairs = 4)
    {
        var reference = SampleEvaluator.ExactSamples(target, n, new RandomKey(seed, 7, Purpose.Test));
        var dirs = SlicedWasserstein.Directions(target.Dim, Directions, seed);
        var values = Enumerable.Range(0, pairs).Select(p =>
        {
            var other = SampleEvaluator.ExactSamples(target, n, new RandomKey(seed + 1000 + (ulong)p, 7, Purpose.Test));
            return SlicedWasserstein.Distance(other, n, reference, n, target.Dim, dirs, Directions);
        }).ToArray();
        return new NoiseFloor(values.Average(), values.Min(), values.Max(), pairs);
    }

    public static IReadOnlyList<SweepPoint> Run(IBackend backend, IScoreModel model, GaussianMixture target, IEnumerable<string> samplers,
        IEnumerable<int> steps, int n, ulong seed, SamplerOptions baseOptions, Action<SweepPoint>? onPoint = null)
    {
        int d = target.Dim;
        var reference = SampleEvaluator.ExactSamples(target, n, new RandomKey(seed, 7, Purpose.Test));
        var dirs = SlicedWasserstein.Directions(d, Directions, seed);
        var exactMean = target.Mean();
        var points = new List<SweepPoint>();
        var buf = new float[(long)n * d];
        foreach (var s in samplers)
            foreach (int k in steps)
            {
                var o = baseOptions with { Steps = k };
                var sw = Stopwatch.StartNew();
                var st = SampleRun.Run(backend, model, s, o, seed + 1, 0, n, buf);
                double secs = sw.Elapsed.TotalSeconds;
                bool diverged = buf.Any(v => !float.IsFinite(v) || Math.Abs(v) > 1e6f);
                double sw2 = double.NaN, me = double.NaN;
                if (!diverged)
                {
                    sw2 = SlicedWasserstein.Distance(buf, n, reference, n, d, dirs, Directions);
                    var m = SampleStats.Mean(buf, n, d);
                    me = Math.Sqrt(m.Zip(exactMean, (a, b) => (a - b) * (a - b)).Sum());
                }
                var p = new SweepPoint(s, k, st.NfePerSample, st.Rounds, sw2, me, secs, diverged);
                points.Add(p);
                onPoint?.Invoke(p);
            }
        return points;
    }

    /// <summary>Markdown table: one row per (sampler, steps).</summary>
    public static string ToMarkdown(IEnumerable<SweepPoint> points, NoiseFloor floor)
    {
        var lines = new List<string>
        {
            "| sampler | steps | NFE/sample | rounds | sliced W2 | / floor | mean error | seconds |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        };
        foreach (var p in points)
            lines.Add(p.Diverged
                ? $"| {p.Sampler} | {p.Steps} | {p.Nfe:0.#} | {p.Rounds} | diverged | | | {p.Seconds:0.00} |"
                : $"| {p.Sampler} | {p.Steps} | {p.Nfe:0.#} | {p.Rounds} | {p.SlicedW2:0.0000} | {p.SlicedW2 / floor.Mean:0.00} | {p.MeanError:0.0000} | {p.Seconds:0.00} |");
        lines.Add("");
        lines.Add($"Noise floor (sliced W2 between independent exact sets of the same size, {floor.Pairs} pairs): mean {floor.Mean:0.0000}, range {floor.Min:0.0000} to {floor.Max:0.0000}.");
        return string.Join("\n", lines);
    }
}
