using ClDiffusion.Backends;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Random;

namespace ClDiffusion.Samplers;

/// <summary>What a sampling run does to every chunk (shared, read-only): the model, the sampler and its options, the seed.</summary>
public sealed record SamplingJob(IScoreModel Model, string Sampler, SamplerOptions Options, ulong Seed, long FirstSample)
{
    TimeGrid? grid;
    /// <summary>The time grid of <see cref="Options"/>, made once per run (after validation).</summary>
    public TimeGrid Grid => grid ??= Options.MakeGrid();

    /// <summary>
    /// The job with its options fitted to the model's trained times (<see cref="SamplerOptions.ForModel"/>) and checked
    /// (<see cref="SamplerOptions.Validate(string?, int, int)"/>); throws an ArgumentException naming the problem.
    /// </summary>
    public SamplingJob Validated()
    {
        var fitted = Options.ForModel(Model);
        fitted.Validate(Sampler, 1, Model.Dim);
        return new SamplingJob(Model, Sampler, fitted, Seed, FirstSample);   // not `with`: that would copy a grid made before
    }
}

/// <summary>
/// The one chunk pipeline every caller goes through (SampleRun, the scheduler's streams, the C ABI, the benchmarks):
/// <see cref="Enqueue"/> (start noise x ~ N(0, I) from (seed, sample, step 0, StartNoise), the sampler over the grid),
/// the caller's read-back (blocking or on a stream), then <see cref="Collect"/> (the non-finite check and the map from
/// the model's diffusion space to data space). No caller writes the collect step itself.
/// </summary>
public static class ChunkPipeline
{
    /// <summary>
    /// Enqueues the start noise and the sampler for samples [job.FirstSample + offset, ... + ctx.N) on ctx's backend and
    /// returns the buffer that will hold the samples (in diffusion space; the caller reads it back and disposes it).
    /// </summary>
    public static IDeviceBuffer Enqueue(SamplerContext ctx, SamplingJob job)
    {
        var x = ctx.Backend.Allocate(ctx.N, ctx.Dim);
        try
        {
            ctx.Backend.Normal(x, ctx.Key(0, Purpose.StartNoise), ctx.FirstSample);
            Sampler.Run(job.Sampler, ctx, x, job.Grid, job.Options);
            return x;
        }
        catch { x.Dispose(); throw; }
    }

    /// <summary>A context for the chunk of `count` samples at `offset` from the job's first sample.</summary>
    public static SamplerContext Context(IBackend backend, IPreparedScore prepared, SamplingJob job, long offset, int count) =>
        new(backend, prepared, count, job.Seed, job.FirstSample + offset, job.Options.Horizon);

    /// <summary>
    /// Maps rows of a model's diffusion space to data space in place: an MLP diffuses in its normalised space
    /// (docs/MLP.md), every other model in data space (the identity).
    /// </summary>
    public static void ToDataSpace(IScoreModel model, Span<float> rows)
    {
        while (model is PerturbedScore p) model = p.Inner;
        if (model is Models.Mlp.IDataSpaceModel ds) ds.ToDataSpace(rows);
    }

    /// <summary>
    /// The collect step of a chunk whose samples were read back into `rows` (count * d floats, diffusion space): a
    /// sample that is not all finite is an error naming the sample and the step it turned at (never a NaN as a result),
    /// then the rows are mapped to data space in place. Every caller goes through it (<see cref="Run"/>, the
    /// scheduler's ChunkStream.Collect, the tooling's PipelineBench).
    /// </summary>
    public static void Collect(SamplerContext ctx, IScoreModel model, Span<float> rows)
    {
        ctx.ThrowIfNonFinite(rows);
        ToDataSpace(model, rows);
    }

    /// <summary>
    /// A whole chunk, synchronously: enqueue, read back into `output` (count * d floats), <see cref="Collect"/>.
    /// Returns the chunk's score evaluations per sample and sequential rounds.
    /// </summary>
    public static (double nfe, int rounds) Run(IBackend backend, IPreparedScore prepared, SamplingJob job, long offset, int count,
        Span<float> output, Action<StepInfo>? callback = null, CancellationToken cancel = default)
    {
        using var ctx = Context(backend, prepared, job, offset, count);
        if (callback is not null) ctx.Observers.Add(new StepCallback(callback));
        ctx.Cancellation = cancel;
        using var x = Enqueue(ctx, job);
        backend.Download(x, output[..(count * ctx.Dim)]);
        Collect(ctx, job.Model, output[..(count * ctx.Dim)]);
        return (ctx.Costs.Nfe, ctx.Costs.Rounds);
    }
}
