namespace ClDiffusion.Samplers;

/// <summary>
/// Every sampler parameter, typed (an enum for every choice). The defaults written here are the only ones: the CLI's
/// options start from <see cref="Defaults"/> and the C ABI's cld_sample_options_init copies them. The options a user
/// sets by name (CLI flags, C keys), their text, help and checks are the entries of <see cref="SamplerOptionTable"/>.
/// </summary>
public sealed record SamplerOptions
{
    /// <summary>The sampler a run uses when none is named (CLI, C ABI, <see cref="Scheduling.SamplingOptions"/>).</summary>
    public const string DefaultSampler = "rm-pc";
    /// <summary>The defaults, for readers that need one value (help texts, the C ABI's option init).</summary>
    public static readonly SamplerOptions Defaults = new();

    /// <summary>The default of property `name` as text ("unset" for an optional value without a default), for help and docs.</summary>
    public static string DefaultText(string name)
    {
        var p = typeof(SamplerOptions).GetProperty(name) ?? throw new ArgumentException($"SamplerOptions has no property '{name}'");
        return p.GetValue(Defaults) switch
        {
            null => "unset",
            bool b => b ? "on" : "off",
            Enum e => e.ToString().ToLowerInvariant(),
            IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
            var v => v.ToString() ?? "",
        };
    }

    /// <summary>The horizon of a run whose model was trained on every time and whose options leave it unset.</summary>
    public const double DefaultHorizon = 8.0;
    /// <summary>The early stop of a run whose model was trained on every time and whose options leave it unset.</summary>
    public const double DefaultDelta = 1e-3;
    double? horizon, delta;
    /// <summary>
    /// Horizon T of the forward process (a run starts at forward time T). Unset: <see cref="DefaultHorizon"/>, or the end
    /// of the model's trained times when that is earlier (<see cref="ForModel"/>; a DDPM model's last timestep).
    /// </summary>
    public double Horizon { get => horizon ?? DefaultHorizon; init => horizon = value; }
    /// <summary>
    /// Early stopping delta: sampling ends at forward time delta (tau = T - delta). Unset: <see cref="DefaultDelta"/>, or
    /// the start of the model's trained times when that is later.
    /// </summary>
    public double Delta { get => delta ?? DefaultDelta; init => delta = value; }
    /// <summary>
    /// When T or delta lie outside the model's trained times: clamp them into it (the run then covers less than asked)
    /// instead of refusing the options.
    /// </summary>
    public bool ClampTimes { get; init; }
    /// <summary>Predictor steps (windows for the parallel samplers).</summary>
    public int Steps { get; init; } = 40;
    /// <summary>
    /// Uniform, shrinking, log-SNR or Karras (see <see cref="Diffusion.TimeGrid"/>). Shrinking is the default of every sampler,
    /// the data-prediction ones included: with the second-order midpoint it measured more accurate than logsnr at 10-20
    /// evaluations on the mixtures (docs/EXPERIMENTS.md, "rm-x0").
    /// </summary>
    public TimeGridKind Grid { get; init; } = TimeGridKind.Shrinking;
    /// <summary>Split grid steps longer than this (null: no cap). The randomized midpoint diverges on steps much longer than 1.</summary>
    public double? MaxStep { get; init; }
    /// <summary>Lipschitz constant L of the score, which sets the corrector defaults.</summary>
    public double Lipschitz { get; init; } = 2.0;
    /// <summary>Corrector after each block of this sampler-time length (about 1/L in the theory).</summary>
    public double? BlockLength { get; init; }
    /// <summary>Underdamped Langevin steps per corrector call.</summary>
    public int CorrectorSteps { get; init; } = 4;
    /// <summary>Corrector duration Tc (default 1/sqrt(L)).</summary>
    public double? CorrectorTime { get; init; }
    /// <summary>Friction gamma (default sqrt(L)).</summary>
    public double? Gamma { get; init; }
    /// <summary>Uld (frozen-drift underdamped Langevin) or RmUld (Shen-Lee randomized midpoint).</summary>
    public CorrectorKind Corrector { get; init; } = CorrectorKind.Uld;
    /// <summary>Lower-variance exponentially tilted midpoint (sequential randomized midpoint only).</summary>
    public bool LowVariance { get; init; }
    /// <summary>
    /// Data-prediction randomized midpoint (rm-x0 family): 1 reaches the midpoint with a first-order step; 2 extrapolates
    /// x0 linearly in lambda from the previous step's start (multistep, no extra evaluation) and uses the same slope as a
    /// zero-mean control variate in the final step.
    /// </summary>
    public int MidpointOrder { get; init; } = 2;
    /// <summary>
    /// rm-x0, rm-x0-pc: Line (default) evaluates x0 only at the random midpoints, reaching each along the line through
    /// the last two evaluations (1 NFE per step); Fresh evaluates x0 at every step start as well (2 NFE per step), and
    /// <see cref="MidpointOrder"/> picks how the midpoint is reached. prm-x0 always evaluates at its window starts.
    /// </summary>
    public X0StartMode X0Start { get; init; } = X0StartMode.Line;
    /// <summary>unipc: the order p of its predictor UniP-p (2 or 3); the corrector UniC-p raises the step's order to p + 1.</summary>
    public int SolverOrder { get; init; } = 3;
    /// <summary>unipc: B(h) = h (bh1) or 1 - e^{-h} (bh2, diffusers' default).</summary>
    public UniPcVariant UniPcVariant { get; init; } = UniPcVariant.Bh2;
    /// <summary>
    /// dpmpp-3m, unipc: lower the order of the last steps to the steps left, as the reference implementations do by
    /// default (DPM-Solver++ only below 10 steps; UniPC always). It costs accuracy at 5 steps on the mixtures.
    /// </summary>
    public bool LowerOrderFinal { get; init; } = true;
    /// <summary>Parallel sampler: sub-windows R per window.</summary>
    public int SubWindows { get; init; } = 4;
    /// <summary>Parallel sampler: Picard rounds K per window.</summary>
    public int PicardRounds { get; init; } = 3;
    /// <summary>
    /// Where prm-pc and prm-x0-pc run their parallel corrector: End (once after the whole predictor: our reconstruction
    /// of the paper's parallel algorithm, see docs/DESIGN.md) or Block (after every corrector block, like the sequential schedule).
    /// </summary>
    public ParallelCorrectorPlacement ParallelCorrector { get; init; } = ParallelCorrectorPlacement.End;
    /// <summary>Picard rounds of the parallel corrector (default: its Langevin step count, so it equals the sequential corrector).</summary>
    public int? CorrectorRounds { get; init; }
    /// <summary>ParaDiGMS-style Picard: steps per window.</summary>
    public int Window { get; init; } = 8;
    /// <summary>ParaDiGMS-style Picard: stop a window once the largest change falls below this.</summary>
    public double Tolerance { get; init; } = 1e-3;

    /// <summary>
    /// Scale the corrector to the local stiffness with the heuristic L_t = max(L, min(1/sigma_t^2, LipschitzCap)) for its
    /// gamma and duration. 1/sigma_t^2 bounds the score's Lipschitz constant only for log-concave data (then -grad s_t
    /// lies between 0 and I/sigma_t^2); for a mixture the score's Jacobian has eigenvalues well above it between modes,
    /// so this is a heuristic, not a bound. Where it was measured (docs/EXPERIMENTS.md, "rm-x0"): on the shipped
    /// checkerboard model it is what keeps the corrector stable near the data (rm-pc, 40 steps: 96.9% of samples on the
    /// right squares with it, 68.2% with a fixed L = 2); on the exact mixture mix16-5 it neither helps nor hurts.
    /// </summary>
    public bool AdaptiveCorrector { get; init; } = true;
    /// <summary>Upper limit of the adaptive L_t.</summary>
    public double LipschitzCap { get; init; } = 1e4;
    /// <summary>
    /// After the last step, replace x by the model's denoised estimate E[x_0 | x_delta] = (x + sigma^2 s)/alpha (Tweedie):
    /// one more NFE, removes the noise left by early stopping.
    /// </summary>
    public bool Denoise { get; init; }
    /// <summary>
    /// Class of each sample for a class-conditional model (<see cref="Models.ClassLabels"/>: one class, or per-sample
    /// labels by global sample index); null: unconditional samples.
    /// </summary>
    public Models.ClassLabels? Labels { get; init; }
    /// <summary>
    /// Classifier-free guidance weight w: every score call uses (1 + w) s(x | c) - w s(x | null), the two halves in one
    /// batched call. 0: plain conditional sampling. Needs <see cref="Labels"/>.
    /// </summary>
    public double Guidance { get; init; }

    /// <summary>The Lipschitz constant the corrector assumes at forward time t.</summary>
    public double LipschitzAt(double t) =>
        AdaptiveCorrector ? Math.Max(Lipschitz, Math.Min(1 / Diffusion.ForwardProcess.SigmaSquared(t), LipschitzCap)) : Lipschitz;
    public double CorrectorTimeAt(double t) => CorrectorTime ?? 1.0 / Math.Sqrt(LipschitzAt(t));
    public double GammaAt(double t) => Gamma ?? Math.Sqrt(LipschitzAt(t));

    public double BlockLengthOrDefault => BlockLength ?? 1.0 / Lipschitz;

    /// <summary>Throws an ArgumentException naming the first invalid parameter (or the limit it exceeds).</summary>
    public void Validate() => Validate(null);

    /// <summary>
    /// The one validator (CLI, .NET API, C ABI): every parameter against <see cref="SamplerLimits"/>, and, for a known
    /// sampler, batch and model dimension, the work per sample and the largest scratch buffer. Throws an
    /// ArgumentException naming the parameter and the limit; passes only options the samplers can compute.
    /// </summary>
    public void Validate(string? sampler, int batch = 1, int dim = 1)
    {
        static void Need(bool ok, string msg) { if (!ok) throw new ArgumentException(msg); }
        foreach (var option in SamplerOptionTable.All)    // each option's own check, written once in its table entry
            if (option.Problem(this) is { } problem) throw new ArgumentException(problem);
        // the checks that tie options together
        Need(Delta < Horizon, $"delta ({Delta}) must be smaller than T ({Horizon})");
        double gridSteps = SamplerLimits.GridStepsBound(this);
        Need(gridSteps <= SamplerLimits.MaxSteps,
            $"maximum step {MaxStep} splits the grid into up to {gridSteps} steps, above the limit {SamplerLimits.MaxSteps} (random-key step counter)");
        // w in [-1, 0) is a guidance scale 1 + w in [0, 1) (diffusers' guidance_scale, k-diffusion's cond_scale): between
        // the unconditional (w = -1) and the conditional score
        Need(double.IsFinite(Guidance) && Guidance >= -1 && Guidance <= 1000, $"guidance weight must be in [-1, 1000] (a guidance scale 1 + w in [0, 1001]), got {Guidance}");
        Need(Guidance == 0 || Labels is not null, $"guidance {Guidance} needs class labels (--class K or a label file)");
        Need(batch >= 1, $"batch size must be at least 1, got {batch}");
        Need(dim >= 1, $"dimension must be at least 1, got {dim}");
        if (sampler is null) return;                  // the work and buffer limits depend on the sampler
        Sampler.Check(sampler);
        double work = SamplerLimits.ScoreEvaluationsPerSample(sampler, this, (int)gridSteps);
        Need(work <= SamplerLimits.MaxScoreEvaluationsPerSample,
            $"these options need up to {work:g4} score evaluations per sample (steps x per-step work x corrector steps), above the limit {SamplerLimits.MaxScoreEvaluationsPerSample:g4}");
        double floats = (double)batch * SamplerLimits.WidestRowsPerSample(sampler, this) * dim;
        Need(floats <= SamplerLimits.MaxBufferFloats,
            $"a batch of {batch} samples of dimension {dim} needs a buffer of {floats:g4} floats (batch x widest rows x d), above the limit {SamplerLimits.MaxBufferFloats}; use a smaller batch");
    }

    /// <summary>
    /// These options for a model trained on the forward times [TMin, TMax] (<see cref="Models.IScoreModel.TrainedTimes"/>):
    /// an unset horizon becomes min(<see cref="DefaultHorizon"/>, TMax) and an unset delta max(<see cref="DefaultDelta"/>,
    /// TMin), so no default run asks the model about a time it never saw; a T or delta that was set outside the range is
    /// clamped into it when <see cref="ClampTimes"/> says so, and refused (an ArgumentException naming the range) otherwise.
    /// </summary>
    public SamplerOptions ForModel(Models.IScoreModel model)
    {
        var (lo, hi) = model.TrainedTimes;
        double t = horizon ?? Math.Min(DefaultHorizon, hi), d = delta ?? Math.Max(DefaultDelta, lo);
        const double slack = 1e-9;   // the range's ends as computed in float64 from the model's own schedule
        string range = $"{model.Describe()} was trained on forward times [{lo:g6}, {hi:g6}]";
        if (t > hi * (1 + slack))
            t = ClampTimes ? hi : throw new ArgumentException($"T = {t} lies beyond the model's trained times: {range}; use T <= {hi:g6} (or leave T unset), or clamp-times to clamp it");
        if (d < lo * (1 - slack))
            d = ClampTimes ? lo : throw new ArgumentException($"delta = {d} lies before the model's trained times: {range}; use delta >= {lo:g6} (or leave delta unset), or clamp-times to clamp it");
        return this with { Horizon = t, Delta = d };
    }

    /// <summary>What <see cref="ForModel"/> changed of what the user set (a clamp), as a sentence for the user; null when nothing.</summary>
    public string? ClampNotice(Models.IScoreModel model)
    {
        if (!ClampTimes) return null;
        var fitted = ForModel(model);
        var parts = new List<string>();
        if (horizon is { } t && fitted.Horizon != t) parts.Add($"T {t} clamped to {fitted.Horizon:g6}");
        if (delta is { } d && fitted.Delta != d) parts.Add($"delta {d} clamped to {fitted.Delta:g6}");
        return parts.Count == 0 ? null : $"{string.Join(", ", parts)}: {model.Describe()} was trained on forward times [{model.TrainedTimes.TMin:g6}, {model.TrainedTimes.TMax:g6}]";
    }

    public Diffusion.TimeGrid MakeGrid()
    {
        var g = Grid switch
        {
            TimeGridKind.Uniform => Diffusion.TimeGrid.Uniform(Horizon, Delta, Steps),
            TimeGridKind.LogSnr => Diffusion.TimeGrid.LogSnr(Horizon, Delta, Steps),
            TimeGridKind.Shrinking => Diffusion.TimeGrid.Shrinking(Horizon, Delta, Steps),
            TimeGridKind.Karras => Diffusion.TimeGrid.Karras(Horizon, Delta, Steps),
            _ => throw new ArgumentException(SamplerOptionTable.Unknown<TimeGridKind>("grid", Grid.ToString())),
        };
        g = g.WithCorrectorEvery(BlockLengthOrDefault);
        return MaxStep is { } cap ? g.CapSteps(cap) : g;
    }
}
