using ClDiffusion.Backends;
using ClDiffusion.Models;

namespace ClDiffusion.Samplers;

/// <summary>
/// The score function the samplers call through <see cref="SamplerContext.ScoreAt"/>: the prepared model itself, or a
/// wrapper around it (<see cref="ConditionalScore"/>, <see cref="GuidedScore"/>), as k-diffusion's CFG denoiser wraps
/// the model. Row r of x belongs to sample r / (x.Rows / N); rows get forward times t0 - slope * offsets[r % len].
/// </summary>
public interface ISamplerScore
{
    void Evaluate(IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score);
}

/// <summary>The unconditional score: the prepared model as it is.</summary>
public sealed class ModelScore(IBackend backend, IPreparedScore model) : ISamplerScore
{
    public void Evaluate(IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score) =>
        backend.Score(model, x, t0, slope, offsets, score);
}

/// <summary>
/// The labels of a score call's rows for samples [firstSample, firstSample + n): [rows, 1], or [2 rows, 1] =
/// [labels; null] for a guided batch, in workspace slots, uploaded once per shape.
/// </summary>
sealed class RowLabels(IBackend backend, Workspace work, ClassLabels labels, long firstSample, int n)
{
    readonly HashSet<(int rows, bool guided)> uploaded = new();

    public IDeviceBuffer For(int rows, bool guided)
    {
        if (rows % n != 0) throw new InvalidOperationException($"score call of {rows} rows for {n} samples: rows must come in equal blocks per sample");
        int total = guided ? 2 * rows : rows;
        var buf = work[guided ? Slots.GuidedLabels : Slots.Labels, total, 1];
        if (uploaded.Add((rows, guided)))
        {
            int per = rows / n;
            var h = new float[total];
            for (int r = 0; r < rows; r++) h[r] = labels.Of(firstSample + r / per);
            for (int r = rows; r < total; r++) h[r] = ClassLabels.Null;
            backend.Upload(buf, h);
        }
        return buf;
    }
}

/// <summary>The class-conditional score s(x | c) with each sample's label (guidance weight 0).</summary>
public sealed class ConditionalScore : ISamplerScore
{
    readonly IBackend backend;
    readonly IPreparedScore model;
    readonly RowLabels labels;

    public ConditionalScore(IBackend backend, IPreparedScore model, Workspace work, ClassLabels labels, long firstSample, int n)
    {
        this.backend = backend; this.model = model;
        this.labels = new RowLabels(backend, work, labels, firstSample, n);
    }

    public void Evaluate(IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score) =>
        backend.Score(model, x, t0, slope, offsets, score, labels.For(x.Rows, false));
}

/// <summary>
/// Classifier-free guidance around the model (k-diffusion's CFGDenoiser): s = (1 + w) s(x | c) - w s(x | null), the
/// conditional and the unconditional halves evaluated as ONE batch [x; x] with labels [c; null] (one launch, twice the
/// rows) and combined on the device. Every sampler and corrector scores through it, so all of them are guided.
/// </summary>
public sealed class GuidedScore : ISamplerScore
{
    readonly IBackend backend;
    readonly IPreparedScore model;
    readonly Workspace work;
    readonly RowLabels labels;
    /// <summary>The guidance weight w.</summary>
    public float Weight { get; }

    public GuidedScore(IBackend backend, IPreparedScore model, Workspace work, ClassLabels labels, float weight, long firstSample, int n)
    {
        this.backend = backend; this.model = model; this.work = work; Weight = weight;
        this.labels = new RowLabels(backend, work, labels, firstSample, n);
    }

    public void Evaluate(IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score)
    {
        int rows = x.Rows;
        // the second half must see the same row times: offsets repeat with a period that divides the row count
        if (offsets is not null && rows % (offsets.Rows * offsets.Cols) != 0)
            throw new InvalidOperationException($"guided score: {rows} rows are not whole periods of {offsets.Rows * offsets.Cols} time offsets");
        var both = work[Slots.GuidedX, 2 * rows, x.Cols];
        var bothScore = work[Slots.GuidedScores, 2 * rows, x.Cols];
        backend.DuplicateRows(both, x);
        backend.Score(model, both, t0, slope, offsets, bothScore, labels.For(rows, true));
        backend.GuidanceCombine(score, bothScore, Weight);
    }
}
