namespace ClDiffusion.Samplers;

/// <summary>
/// What the samplers can compute, as numbers: <see cref="SamplerOptions.Validate()"/> rejects anything beyond these
/// before any work starts, so a run never overflows a counter, never takes unbounded time on one parameter,
/// and never turns finite inputs into NaN through its own arithmetic. The CLI, the .NET API and the C ABI all go
/// through that one validator (native/include/cldiffusion.h lists the same limits).
/// </summary>
public static class SamplerLimits
{
    /// <summary>
    /// Grid steps (after <see cref="SamplerOptions.MaxStep"/> splits them) and corrector steps per call: the
    /// corrector after grid step n draws its noise from random-key steps n * 65536 + m, which must fit in 32 bits.
    /// </summary>
    public const int MaxSteps = 65535;
    public const int MaxCorrectorSteps = 65535;
    /// <summary>Parallel samplers: sub-windows per window.</summary>
    public const int MaxSubWindows = 1024;
    /// <summary>Picard rounds per window (prm, prm-pc); more than a window has positions is already exact.</summary>
    public const int MaxPicardRounds = 4096;
    /// <summary>
    /// Score evaluations per sample that one run may need (estimated from the options before it starts): the default
    /// rm-pc run needs about 300; 10^7 is hours per sample on any device, so more is a typo, not a request.
    /// </summary>
    public const double MaxScoreEvaluationsPerSample = 1e7;
    /// <summary>
    /// Horizon T: the samplers multiply by e^h for steps h up to T in float32, and e^50 = 5e21 keeps every such
    /// product (and its square in the variances) far inside float32's 3.4e38.
    /// </summary>
    public const double MaxHorizon = 50;
    /// <summary>Early stopping: forward times below this are under float32's resolution of T - tau near T (8 * 2^-24 = 5e-7).</summary>
    public const double MinDelta = 1e-6;
    /// <summary>
    /// Lipschitz constant (and its adaptive cap): the corrector's default friction is sqrt(L) and its default duration
    /// 1/sqrt(L); 10^12 keeps both within <see cref="MaxGamma"/> and 10^-6.
    /// </summary>
    public const double MaxLipschitz = 1e12;
    /// <summary>Corrector friction: gamma is passed to the devices as float32 and multiplied by step lengths there.</summary>
    public const double MaxGamma = 1e6;
    /// <summary>
    /// Corrector duration: each corrector step moves the position by up to its length squared times the drift and
    /// by noise of variance up to its length cubed times gamma; 10^6 keeps the step coefficients within float32.
    /// </summary>
    public const double MaxCorrectorTime = 1e6;
    /// <summary>Picard tolerance below float32 resolution (relative 6e-8) can never be met: the window then runs every round anyway.</summary>
    public const double MinTolerance = 1e-12;

    /// <summary>
    /// Upper bound of the score evaluations per sample of `sampler` under `o` with `gridSteps` predictor steps (the
    /// number after MaxStep splits), from the registry's traits: a parallel sampler scores R positions in K + 2
    /// rounds per window (picard: up to `window` rounds over its positions), a sequential one at most 3 per step
    /// (second-order midpoints), plus a corrector after every step when it has one.
    /// </summary>
    public static double ScoreEvaluationsPerSample(string sampler, SamplerOptions o, int gridSteps)
    {
        var info = Sampler.Get(sampler);
        var traits = info.Traits;
        bool parallel = traits.HasFlag(SamplerTraits.Parallel);
        double perStep = ReadsWindow(info) ? o.Window
            : parallel ? (o.PicardRounds + 2.0) * o.SubWindows + 1
            : 3;
        double corrector = traits.HasFlag(SamplerTraits.Corrector)
            ? (double)o.CorrectorSteps * (parallel ? o.CorrectorRounds ?? Math.Max(o.PicardRounds, 1) : o.Corrector == CorrectorKind.RmUld ? 2 : 1)
            : 0;
        return gridSteps * (perStep + corrector) + (o.Denoise ? 1 : 0);
    }

    /// <summary>
    /// Rows of the widest scratch buffer per sample (parallel samplers: R positions, and M corrector positions for
    /// their parallel corrector; picard: the window), so that batch * rows * d can be checked against what one
    /// buffer may hold.
    /// </summary>
    public static int WidestRowsPerSample(string sampler, SamplerOptions o)
    {
        var info = Sampler.Get(sampler);
        var traits = info.Traits;
        if (ReadsWindow(info)) return o.Window;
        if (!traits.HasFlag(SamplerTraits.Parallel)) return 1;
        return traits.HasFlag(SamplerTraits.Corrector) ? Math.Max(o.SubWindows, o.CorrectorSteps) : o.SubWindows;
    }

    /// <summary>A sampler that reads <see cref="SamplerOptions.Window"/> (picard) scores a window of positions per round.</summary>
    static bool ReadsWindow(SamplerInfo s) => s.Options.Contains(nameof(SamplerOptions.Window));

    /// <summary>Floats one buffer may hold: .NET arrays and the backends index buffers with int.</summary>
    public const long MaxBufferFloats = int.MaxValue;

    /// <summary>Grid steps after splitting every step longer than maxStep (an upper bound, computed without building the grid).</summary>
    public static double GridStepsBound(SamplerOptions o) =>
        o.MaxStep is { } cap ? o.Steps + Math.Ceiling((o.Horizon - o.Delta) / cap) : o.Steps;
}
