using ClDiffusion.Backends;
using ClDiffusion.Models;
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
/// the global sample sequence (for the counter-based randomness), the scratch workspace (<see cref="Workspace"/>),
/// the class labels and guidance, cancellation, and the step observers (<see cref="Observers"/>: the cost counters,
/// the non-finite tracking, a caller's step callback), notified after each score round and each reported step.
/// </summary>
public sealed class SamplerContext : IDisposable
{
    readonly List<IStepObserver> observers = new();
    NonFiniteTracker? nonFinite;
    ClassLabels? labels;
    public IBackend Backend { get; }
    public IPreparedScore Model { get; }
    public int N { get; }
    public int Dim { get; }
    public ulong Seed { get; }
    public long FirstSample { get; }
    public double Horizon { get; }
    /// <summary>Checked at every score call and every step report, so a cancel stops any sampler loop within one step.</summary>
    public CancellationToken Cancellation { get; set; }
    /// <summary>
    /// Flag rows that turn NaN/Inf at each reported step (default on: a <see cref="NonFiniteTracker"/> among the
    /// observers, one device pass over x per step; see <see cref="ThrowIfNonFinite"/>).
    /// </summary>
    public bool TrackNonFinite
    {
        get => nonFinite is not null;
        init
        {
            if (value == TrackNonFinite) return;
            if (value) observers.Add(nonFinite = new NonFiniteTracker(Backend, N));
            else { observers.Remove(nonFinite!); nonFinite!.Dispose(); nonFinite = null; }
        }
    }

    /// <summary>The cost counters (score evaluations per sample, sequential rounds), the first observer.</summary>
    public CostCounter Costs { get; } = new();

    /// <summary>
    /// Notified in order after each round of score calls and each reported step: the cost counters, the non-finite
    /// tracker (unless <see cref="TrackNonFinite"/> is off), then whatever the caller adds (a <see cref="StepCallback"/>).
    /// </summary>
    public IList<IStepObserver> Observers => observers;

    public SamplerContext(IBackend backend, IPreparedScore model, int n, ulong seed, long firstSample, double horizon)
    {
        if (n < 1) throw new ArgumentException($"number of samples must be at least 1, got {n}");
        if (firstSample < 0 || firstSample + n > (1L << 32)) throw new ArgumentException($"sample indices [{firstSample}, {firstSample + n}) must lie in [0, 2^32)");
        Backend = backend; Model = model; N = n; Dim = model.Model.Dim; Seed = seed; FirstSample = firstSample; Horizon = horizon;
        Work = new Workspace(backend, Dim);
        ScoreFunction = new ModelScore(backend, model);
        observers.Add(Costs);
        observers.Add(nonFinite = new NonFiniteTracker(backend, n));
    }

    public RandomKey Key(uint step, Purpose purpose) => new(Seed, step, purpose);

    /// <summary>The scratch buffers, by typed slot (<see cref="Slots"/>), kept for the context's lifetime.</summary>
    public Workspace Work { get; }

    /// <summary>One round of score calls at sampler time tau for every row of x.</summary>
    public void Score(IDeviceBuffer x, double tau, IDeviceBuffer score) =>
        ScoreAt(x, (float)(Horizon - tau), 0f, null, score);

    /// <summary>The class of each sample (by global sample index); null: unconditional scores.</summary>
    public ClassLabels? Labels => labels;
    /// <summary>Classifier-free guidance weight w (0: plain conditional scores).</summary>
    public float Guidance { get; private set; }

    /// <summary>
    /// Conditions every later score call of this context: samples [FirstSample, FirstSample + N) on their labels, with
    /// guidance weight w, s = (1 + w) s(x | c) - w s(x | null). labels null (and w = 0): unconditional.
    /// </summary>
    public void Condition(ClassLabels? classes, double guidance)
    {
        if (!double.IsFinite(guidance)) throw new ArgumentException($"guidance weight must be finite, got {guidance}");
        if (guidance != 0 && classes is null) throw new ArgumentException("guidance needs class labels (a class or a per-sample label file)");
        classes?.Validate(Model.Model, FirstSample, N);
        if (classes?.Single == ClassLabels.Null && guidance == 0) classes = null;   // all unconditional: no labels at all (any model)
        labels = classes; Guidance = (float)guidance;
        ScoreFunction = labels is null ? new ModelScore(Backend, Model)
            : Guidance == 0 ? new ConditionalScore(Backend, Model, Work, labels, FirstSample, N)
            : new GuidedScore(Backend, Model, Work, labels, Guidance, FirstSample, N);
    }

    /// <summary>
    /// What <see cref="ScoreAt"/> evaluates: the model (<see cref="ModelScore"/>), or, after <see cref="Condition"/>, the
    /// model wrapped with the samples' labels (<see cref="ConditionalScore"/>) or with classifier-free guidance
    /// (<see cref="GuidedScore"/>).
    /// </summary>
    public ISamplerScore ScoreFunction { get; private set; }

    /// <summary>
    /// One round of score calls at forward times t0 - slope * offsets[r % len], through <see cref="ScoreFunction"/>
    /// (so every sampler and corrector is conditioned and guided alike); honours cancellation first and notifies the
    /// observers after. Rows of x belong to samples in blocks: row r is sample r / (x.Rows / N).
    /// </summary>
    public void ScoreAt(IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score)
    {
        Cancellation.ThrowIfCancellationRequested();
        ScoreFunction.Evaluate(x, t0, slope, offsets, score);
        foreach (var o in observers) o.OnScore(x.Rows, N);
    }

    /// <summary>After each sampler step: honours cancellation, then notifies the observers (non-finite flags, the callback).</summary>
    public void Report(int step, int steps, double tau, SamplerPhase phase, IDeviceBuffer x)
    {
        Cancellation.ThrowIfCancellationRequested();
        var info = new StepInfo(step, steps, tau, phase, x);
        foreach (var o in observers) o.OnStep(info);
    }

    /// <summary>
    /// Throws <see cref="NonFiniteSampleException"/> naming the first sample of `samples` (this batch's rows, d floats
    /// each, as read back) that holds a NaN or an infinity, with the step at which it first went wrong.
    /// </summary>
    public void ThrowIfNonFinite(ReadOnlySpan<float> samples)
    {
        int bad = NonFiniteSampleException.FirstNonFiniteRow(samples, Dim);
        if (bad < 0) return;
        string when = nonFinite?.When(bad) ?? "after the last step (final denoise or data-space map)";
        throw new NonFiniteSampleException(FirstSample + bad, when);
    }

    public void Dispose()
    {
        nonFinite?.Dispose();
        Work.Dispose();
    }
}

/// <summary>A sample came out NaN or infinite: never returned as a result (the C ABI maps it to CLD_ERR_NON_FINITE).</summary>
public sealed class NonFiniteSampleException(long sample, string when)
    : ArithmeticException($"sample {sample} is not finite (NaN or Inf) {when}; the model or the options (step size, " +
        "corrector time, gamma) make the sampler diverge")
{
    /// <summary>Global index of the first non-finite sample.</summary>
    public long Sample { get; } = sample;
    public string When { get; } = when;

    /// <summary>Index of the first row of `data` (rows of d floats) holding a NaN or an infinity, or -1.</summary>
    public static int FirstNonFiniteRow(ReadOnlySpan<float> data, int d) =>
        Models.HostScoreModel.FirstNonFinite(data) is var i and >= 0 ? i / d : -1;
}
