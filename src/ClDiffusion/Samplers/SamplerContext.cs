using ClDiffusion.Backends;
using ClDiffusion.Random;

namespace ClDiffusion.Samplers;

/// <summary>Which part of a sampler a step belongs to.</summary>
public enum SamplerPhase
{
    /// <summary>A predictor step (or window) along the probability-flow ODE: Step counts grid steps.</summary>
    Predictor,
    /// <summary>A corrector step (or Picard round of the parallel corrector) at one time: Step counts within the call.</summary>
    Corrector,
}

/// <summary>What a sampler reports after each step (k-diffusion style callback).</summary>
public readonly record struct StepInfo(int Step, int Steps, double Tau, SamplerPhase Phase, IDeviceBuffer X);

/// <summary>
/// Everything a sampler needs besides its state and grid: the backend, the prepared score, the batch's place in
/// the global sample sequence (for the counter-based randomness), scratch buffers, and the cost counters
/// (score evaluations per sample and sequential rounds of score calls).
/// </summary>
public sealed class SamplerContext : IDisposable
{
    readonly Dictionary<(string, int, int), IDeviceBuffer> scratch = new();
    public IBackend Backend { get; }
    public IPreparedScore Model { get; }
    public int N { get; }
    public int Dim { get; }
    public ulong Seed { get; }
    public long FirstSample { get; }
    public double Horizon { get; }
    public Action<StepInfo>? Callback { get; set; }
    public CancellationToken Cancellation { get; set; }

    /// <summary>Score evaluations per sample so far.</summary>
    public double Nfe { get; private set; }
    /// <summary>Sequential rounds of score calls so far (the parallel depth).</summary>
    public int Rounds { get; private set; }

    public SamplerContext(IBackend backend, IPreparedScore model, int n, ulong seed, long firstSample, double horizon)
    {
        if (n < 1) throw new ArgumentException($"number of samples must be at least 1, got {n}");
        if (firstSample < 0 || firstSample + n > (1L << 32)) throw new ArgumentException($"sample indices [{firstSample}, {firstSample + n}) must lie in [0, 2^32)");
        Backend = backend; Model = model; N = n; Dim = model.Model.Dim; Seed = seed; FirstSample = firstSample; Horizon = horizon;
    }

    public RandomKey Key(uint step, Purpose purpose) => new(Seed, step, purpose);

    /// <summary>A scratch buffer of [rows, cols] kept for the context's lifetime (tag separates buffers of the same shape).</summary>
    public IDeviceBuffer Scratch(string tag, int rows, int? cols = null)
    {
        var k = (tag, rows, cols ?? Dim);
        if (!scratch.TryGetValue(k, out var b)) scratch[k] = b = Backend.Allocate(rows, cols ?? Dim);
        return b;
    }

    /// <summary>One round of score calls at sampler time tau for every row of x.</summary>
    public void Score(IDeviceBuffer x, double tau, IDeviceBuffer score) =>
        ScoreAt(x, (float)(Horizon - tau), 0f, null, score);

    /// <summary>One round of score calls at forward times t0 - slope * offsets[r % len].</summary>
    public void ScoreAt(IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score)
    {
        Cancellation.ThrowIfCancellationRequested();
        Backend.Score(Model, x, t0, slope, offsets, score);
        Nfe += (double)x.Rows / N;
        Rounds++;
    }

    public void Report(int step, int steps, double tau, SamplerPhase phase, IDeviceBuffer x) =>
        Callback?.Invoke(new StepInfo(step, steps, tau, phase, x));

    public void Dispose()
    {
        foreach (var b in scratch.Values) b.Dispose();
        scratch.Clear();
    }
}
