using System.Diagnostics;
using ClDiffusion.Backends;
using ClDiffusion.Models;

namespace ClDiffusion.Samplers;

/// <summary>Cost and provenance of a sampling run.</summary>
public sealed record RunStats(string Sampler, string Device, int N, int Dim, double NfePerSample, int Rounds, double Seconds);

/// <summary>
/// Draws samples [first, first + n) of a seed on one backend, in data space (an MLP's samples are mapped back from
/// its normalised space), through <see cref="ChunkPipeline"/> in batches of at most `batch` samples; thanks to the
/// counter-based randomness, the result does not depend on the batch size.
/// </summary>
public static class SampleRun
{
    /// <summary>The batch size when none is given: the scheduler's largest automatic chunk.</summary>
    public const int DefaultBatch = 65536;

    public static RunStats Run(IBackend backend, IScoreModel model, string sampler, SamplerOptions o, ulong seed,
        long first, int n, Span<float> output, int batch = DefaultBatch, Action<StepInfo>? callback = null,
        CancellationToken cancel = default, IProgress<long>? progress = null)
    {
        var job = new SamplingJob(model, sampler, o, seed, first).Validated();
        if (n < 1) throw new ArgumentException($"number of samples must be at least 1, got {n}");
        if (batch < 1) throw new ArgumentException($"batch size must be at least 1, got {batch}");
        o.Validate(sampler, Math.Min(batch, n), model.Dim);
        int d = model.Dim;
        if (output.Length < (long)n * d) throw new ArgumentException($"output holds {output.Length} floats, needs n*d = {(long)n * d}");
        o.Labels?.Validate(model, first, n);
        var sw = Stopwatch.StartNew();
        double nfe = 0; int rounds = 0;
        using var prepared = backend.Prepare(model);
        for (int done = 0; done < n; done += batch)
        {
            int m = Math.Min(batch, n - done);
            (nfe, rounds) = ChunkPipeline.Run(backend, prepared, job, done, m, output.Slice(done * d, m * d), callback, cancel);
            progress?.Report(done + m);
        }
        return new RunStats(sampler, backend.DeviceName, n, d, nfe, rounds, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Samples [0, n) of a seed as a new array of n * d floats, in data space.</summary>
    public static (float[] samples, RunStats stats) Run(IBackend backend, IScoreModel model, string sampler, SamplerOptions o, ulong seed, int n, int batch = DefaultBatch)
    {
        var buf = new float[checked((long)n * model.Dim)];
        var st = Run(backend, model, sampler, o, seed, 0, n, buf, batch);
        return (buf, st);
    }
}
