namespace ClDiffusion.Samplers;

/// <summary>
/// Every sampler parameter. The defaults written here are the only ones: the CLI's options start from
/// <see cref="Defaults"/> and the C ABI's cld_sample_options_init copies them.
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

    /// <summary>Horizon T of the forward process.</summary>
    public double Horizon { get; init; } = 8.0;
    /// <summary>Early stopping delta: sampling ends at tau = T - delta.</summary>
    public double Delta { get; init; } = 1e-3;
    /// <summary>Predictor steps (windows for the parallel samplers).</summary>
    public int Steps { get; init; } = 40;
    /// <summary>
    /// "uniform", "shrinking" or "logsnr" (see <see cref="Diffusion.TimeGrid"/>). Shrinking is the default of every sampler,
    /// the data-prediction ones included: with the second-order midpoint it measured more accurate than logsnr at 10-20
    /// evaluations on the mixtures (docs/EXPERIMENTS.md, "rm-x0").
    /// </summary>
    public string Grid { get; init; } = "shrinking";
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
    /// <summary>"uld" (frozen-drift underdamped Langevin) or "rmuld" (Shen-Lee randomized midpoint).</summary>
    public string Corrector { get; init; } = "uld";
    /// <summary>Lower-variance exponentially tilted midpoint (sequential randomized midpoint only).</summary>
    public bool LowVariance { get; init; }
    /// <summary>
    /// Data-prediction randomized midpoint (rm-x0 family): 1 reaches the midpoint with a first-order step; 2 extrapolates
    /// x0 linearly in lambda from the previous step's start (multistep, no extra evaluation) and uses the same slope as a
    /// zero-mean control variate in the final step.
    /// </summary>
    public int MidpointOrder { get; init; } = 2;
    /// <summary>
    /// rm-x0, rm-x0-pc: "line" (default) evaluates x0 only at the random midpoints, reaching each along the line through
    /// the last two evaluations (1 NFE per step); "fresh" evaluates x0 at every step start as well (2 NFE per step), and
    /// <see cref="MidpointOrder"/> picks how the midpoint is reached. prm-x0 always evaluates at its window starts.
    /// </summary>
    public string X0Start { get; init; } = "line";
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
    /// Where prm-pc and prm-x0-pc run their parallel corrector: "end" (once after the whole predictor: our reconstruction
    /// of the paper's parallel algorithm, see docs/DESIGN.md) or "block" (after every corrector block, like the sequential schedule).
    /// </summary>
    public string ParallelCorrector { get; init; } = "end";
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
        Need(double.IsFinite(Horizon) && Horizon > 0, $"T must be positive and finite, got {Horizon}");
        Need(Horizon <= SamplerLimits.MaxHorizon, $"T = {Horizon} is above the limit {SamplerLimits.MaxHorizon} (e^T must stay inside float32)");
        Need(double.IsFinite(Delta) && Delta > 0, $"delta must be positive, got {Delta}");
        Need(Delta >= SamplerLimits.MinDelta, $"delta = {Delta} is below the limit {SamplerLimits.MinDelta} (float32 resolution of forward times)");
        Need(Delta < Horizon, $"delta ({Delta}) must be smaller than T ({Horizon})");
        Need(Steps >= 1, $"steps must be at least 1, got {Steps}");
        Need(Steps <= SamplerLimits.MaxSteps, $"steps = {Steps} is above the limit {SamplerLimits.MaxSteps} (random-key step counter)");
        Need(MaxStep is null || (double.IsFinite(MaxStep.Value) && MaxStep > 0), $"maximum step must be positive, got {MaxStep}");
        double gridSteps = SamplerLimits.GridStepsBound(this);
        Need(gridSteps <= SamplerLimits.MaxSteps,
            $"maximum step {MaxStep} splits the grid into up to {gridSteps} steps, above the limit {SamplerLimits.MaxSteps} (random-key step counter)");
        Need(Grid is "uniform" or "shrinking" or "logsnr", $"unknown grid '{Grid}' (use uniform, shrinking or logsnr)");
        Need(MidpointOrder is 1 or 2, $"midpoint order must be 1 or 2, got {MidpointOrder}");
        Need(SolverOrder is 2 or 3, $"solver order must be 2 or 3, got {SolverOrder}");
        Need(Enum.IsDefined(UniPcVariant), $"unknown UniPC variant '{UniPcVariant}' (use bh1 or bh2)");
        Need(X0Start is "line" or "fresh", $"unknown x0 start '{X0Start}' (use line or fresh)");
        Need(ParallelCorrector is "end" or "block", $"unknown parallel corrector placement '{ParallelCorrector}' (use end or block)");
        Need(CorrectorRounds is null or >= 1, $"corrector Picard rounds must be at least 1, got {CorrectorRounds}");
        Need(CorrectorRounds is null || CorrectorRounds <= SamplerLimits.MaxPicardRounds, $"corrector Picard rounds = {CorrectorRounds} is above the limit {SamplerLimits.MaxPicardRounds}");
        Need(double.IsFinite(Lipschitz) && Lipschitz > 0, $"Lipschitz constant must be positive, got {Lipschitz}");
        Need(Lipschitz <= SamplerLimits.MaxLipschitz, $"Lipschitz constant {Lipschitz} is above the limit {SamplerLimits.MaxLipschitz}");
        Need(BlockLength is null || (double.IsFinite(BlockLength.Value) && BlockLength > 0), $"block length must be positive and finite, got {BlockLength}");
        Need(CorrectorSteps >= 1, $"corrector steps must be at least 1, got {CorrectorSteps}");
        Need(CorrectorSteps <= SamplerLimits.MaxCorrectorSteps, $"corrector steps = {CorrectorSteps} is above the limit {SamplerLimits.MaxCorrectorSteps} (random-key step counter)");
        Need(CorrectorTime is null || (double.IsFinite(CorrectorTime.Value) && CorrectorTime > 0), $"corrector time must be positive, got {CorrectorTime}");
        Need(CorrectorTime is null || CorrectorTime <= SamplerLimits.MaxCorrectorTime, $"corrector time {CorrectorTime} is above the limit {SamplerLimits.MaxCorrectorTime}");
        Need(Gamma is null || (double.IsFinite(Gamma.Value) && Gamma > 0), $"gamma must be positive, got {Gamma}");
        Need(Gamma is null || Gamma <= SamplerLimits.MaxGamma, $"gamma = {Gamma} is above the limit {SamplerLimits.MaxGamma} (float32 friction)");
        Need(Corrector is "uld" or "rmuld", $"unknown corrector '{Corrector}' (use uld or rmuld)");
        Need(SubWindows >= 1 && SubWindows <= SamplerLimits.MaxSubWindows, $"R (sub-windows) must be in 1..{SamplerLimits.MaxSubWindows}, got {SubWindows}");
        Need(PicardRounds >= 0, $"K (Picard rounds) must be >= 0, got {PicardRounds}");
        Need(PicardRounds <= SamplerLimits.MaxPicardRounds, $"K (Picard rounds) = {PicardRounds} is above the limit {SamplerLimits.MaxPicardRounds}");
        Need(Window >= 1, $"Picard window must be at least 1 step, got {Window}");
        Need(Window <= SamplerLimits.MaxSteps, $"Picard window = {Window} is above the limit {SamplerLimits.MaxSteps}");
        Need(double.IsFinite(Tolerance) && Tolerance > 0, $"tolerance must be positive, got {Tolerance}");
        Need(Tolerance >= SamplerLimits.MinTolerance, $"tolerance {Tolerance} is below the limit {SamplerLimits.MinTolerance}");
        Need(double.IsFinite(LipschitzCap) && LipschitzCap > 0, $"Lipschitz cap must be positive, got {LipschitzCap}");
        Need(double.IsFinite(Guidance) && Guidance >= 0 && Guidance <= 1000, $"guidance weight must be in [0, 1000], got {Guidance}");
        Need(Guidance == 0 || Labels is not null, $"guidance {Guidance} needs class labels (--class K or a label file)");
        Need(LipschitzCap <= SamplerLimits.MaxLipschitz, $"Lipschitz cap {LipschitzCap} is above the limit {SamplerLimits.MaxLipschitz}");
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

    public Diffusion.TimeGrid MakeGrid()
    {
        var g = Grid switch
        {
            "uniform" => Diffusion.TimeGrid.Uniform(Horizon, Delta, Steps),
            "logsnr" => Diffusion.TimeGrid.LogSnr(Horizon, Delta, Steps),
            _ => Diffusion.TimeGrid.Shrinking(Horizon, Delta, Steps),
        };
        g = g.WithCorrectorEvery(BlockLengthOrDefault);
        return MaxStep is { } cap ? g.CapSteps(cap) : g;
    }
}
