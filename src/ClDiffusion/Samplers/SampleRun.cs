using System.Diagnostics;
using ClDiffusion.Backends;
using ClDiffusion.Models;
using ClDiffusion.Random;

namespace ClDiffusion.Samplers;

/// <summary>Cost and provenance of a sampling run.</summary>
public sealed record RunStats(string Sampler, string Device, int N, int Dim, double NfePerSample, int Rounds, double Seconds);

/// <summary>
/// Draws samples [first, first + n) of a seed: start noise x ~ N(0, I) from (seed, sample, step 0, StartNoise), the
/// sampler over the grid, one read at the end. Runs in batches of at most `batch` samples; thanks to the
/// counter-based randomness, the result does not depend on the batch size.
/// </summary>
public static class SampleRun
{
    public static RunStats Run(IBackend backend, IScoreModel model, string sampler, SamplerOptions o, ulong seed,
        long first, int n, Span<float> output, int batch = 65536, Action<StepInfo>? callback = null,
        CancellationToken cancel = default, IProgress<long>? progress = null)
    {
        if (n < 1) throw new ArgumentException($"number of samples must be at least 1, got {n}");
        if (batch < 1) throw new ArgumentException($"batch size must be at least 1, got {batch}");
        o.Validate(sampler, Math.Min(batch, n), model.Dim);
        int d = model.Dim;
        if (output.Length < (long)n * d) throw new ArgumentException($"output holds {output.Length} floats, needs n*d = {(long)n * d}");
        var grid = o.MakeGrid();
        var sw = Stopwatch.StartNew();
        double nfe = 0; int rounds = 0;
        using var prepared = backend.Prepare(model);
        for (int done = 0; done < n; done += batch)
        {
            int m = Math.Min(batch, n - done);
            using var ctx = new SamplerContext(backend, prepared, m, seed, first + done, o.Horizon) { Callback = callback, Cancellation = cancel };
            using var x = backend.Allocate(m, d);
            backend.Normal(x, ctx.Key(0, Purpose.StartNoise), ctx.FirstSample);
            Sampler.Run(sampler, ctx, x, grid, o);
            backend.Download(x, output.Slice(done * d, m * d));
            ctx.ThrowIfNonFinite(output.Slice(done * d, m * d));
            nfe = ctx.Nfe; rounds = ctx.Rounds;
            progress?.Report(done + m);
        }
        return new RunStats(sampler, backend.DeviceName, n, d, nfe, rounds, sw.Elapsed.TotalSeconds);
    }

    public static (float[] samples, RunStats stats) Run(IBackend backend, IScoreModel model, string sampler, SamplerOptions o, ulong seed, int n, int batch = 65536)
    {
        var buf = new float[checked((long)n * model.Dim)];
        var st = Run(backend, model, sampler, o, seed, 0, n, buf, batch);
        return (buf, st);
    }
}
