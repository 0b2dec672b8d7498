using ClDiffusion.Backends;

namespace ClDiffusion.Samplers;

/// <summary>
/// Watches a sampler run: the context (<see cref="SamplerContext.Observers"/>) notifies every observer, in the order
/// they were added, after each round of score calls and after each step the sampler reports. Observers only watch (or
/// enqueue device work that reads x); they never change the samples.
/// </summary>
public interface IStepObserver
{
    /// <summary>One round of score calls of `rows` rows for the context's `samples` samples.</summary>
    void OnScore(int rows, int samples) { }
    /// <summary>After each sampler step (<see cref="SamplerContext.Report"/>).</summary>
    void OnStep(in StepInfo step) { }
}

/// <summary>The cost counters: score evaluations per sample and sequential rounds of score calls (the parallel depth).</summary>
public sealed class CostCounter : IStepObserver
{
    /// <summary>Score evaluations per sample so far.</summary>
    public double Nfe { get; private set; }
    /// <summary>Sequential rounds of score calls so far.</summary>
    public int Rounds { get; private set; }

    public void OnScore(int rows, int samples) { Nfe += (double)rows / samples; Rounds++; }
}

/// <summary>The caller's per-step callback (k-diffusion style).</summary>
public sealed class StepCallback(Action<StepInfo> callback) : IStepObserver
{
    public void OnStep(in StepInfo step) => callback(step);
}

/// <summary>
/// Flags the rows that turn NaN or infinite, on the device, at each step whose state holds one row per sample (one
/// pass over x per step, no host wait), so a non-finite sample read back is named with the step it went wrong at.
/// </summary>
public sealed class NonFiniteTracker(IBackend backend, int samples) : IStepObserver, IDisposable
{
    IDeviceBuffer? firstBad;
    readonly List<StepInfo> steps = new();

    public void OnStep(in StepInfo step)
    {
        if (step.X.Rows != samples) return;
        if (firstBad is null)
        {
            firstBad = backend.Allocate(samples, 1);
            var minusOne = new float[samples];
            Array.Fill(minusOne, -1f);
            backend.Upload(firstBad, minusOne);
        }
        backend.MarkNonFinite(step.X, firstBad, steps.Count);   // step index: exact in float32 up to 2^24 steps
        steps.Add(step with { X = null! });
    }

    /// <summary>When sample `row` (of this batch) first went non-finite, in words; the fallback when it was not flagged.</summary>
    public string When(int row)
    {
        const string after = "after the last step (final denoise or data-space map)";
        if (firstBad is null) return after;
        var flags = new float[samples];
        backend.Download(firstBad, flags);
        if (!(flags[row] >= 0 && (int)flags[row] < steps.Count)) return after;
        var r = steps[(int)flags[row]];
        return $"at {r.Phase} step {r.Step + 1} of {r.Steps} (sampler time tau = {r.Tau:g6})";
    }

    public void Dispose() { firstBad?.Dispose(); firstBad = null; }
}
