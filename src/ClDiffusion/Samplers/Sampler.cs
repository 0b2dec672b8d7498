using System.Text;
using ClDiffusion.Backends;
using ClDiffusion.Diffusion;

namespace ClDiffusion.Samplers;

/// <summary>A sampler: advances x [N, d] (holding the start noise) over the grid in place.</summary>
public delegate void SamplerFunction(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, SamplerOptions o);

/// <summary>What a sampler does besides following the probability-flow ODE deterministically.</summary>
[Flags]
public enum SamplerTraits
{
    None = 0,
    /// <summary>Draws random numbers after the start noise (the randomized midpoint, Langevin noise).</summary>
    Stochastic = 1,
    /// <summary>Runs the Langevin corrector on the grid's corrector steps.</summary>
    Corrector = 2,
    /// <summary>Batches several time points of a sample into one score call (fewer sequential rounds than NFEs).</summary>
    Parallel = 4,
    /// <summary>Reads device data back to the host during the run (to test a tolerance).</summary>
    HostReads = 8,
}

/// <summary>
/// One registry entry: the name users type, a one-line description, the cost in score evaluations (NFE), the
/// traits, the <see cref="SamplerOptions"/> properties it reads beyond the common ones (horizon, delta, steps,
/// grid, max step, denoise), and the function.
/// </summary>
public sealed record SamplerInfo(string Name, string Description, string Cost, SamplerTraits Traits, string[] Options, SamplerFunction Run)
{
    /// <summary>
    /// The device memory one chunk needs per sample under these options (a cost function like <see cref="Cost"/>): the
    /// scheduler sizes its chunks from it instead of running the sampler (checked against real runs by a test).
    /// </summary>
    public Func<SamplerOptions, SamplerMemory> Memory { get; init; } = _ => throw new NotSupportedException("this sampler has no memory cost function");

    /// <summary>
    /// Below this many grid steps the sampler's samples are poor on every model measured (null: no such bound known);
    /// what <see cref="FewStepsNotice"/> warns about. A measured bound, not a hard limit: the run still goes ahead.
    /// </summary>
    public int? FewStepsBelow { get; init; }

    /// <summary>A one-line warning when a grid of `gridSteps` steps is below <see cref="FewStepsBelow"/>, else null.</summary>
    public string? FewStepsNotice(int gridSteps) => FewStepsBelow is { } k && gridSteps < k
        ? $"{Name} with {gridSteps} steps: the score-form randomized midpoint is inaccurate below about {k} steps (its one-point " +
          "estimate is weighted by h e^((1-alpha)h); docs/SAMPLERS.md); use more steps, or rm-x0 (rm-x0-pc with a corrector) for few score evaluations"
        : null;
}

/// <summary>
/// The sampler registry: the CLI's list and checks, the C ABI's names and the docs' table all come from
/// <see cref="All"/>. Adding a sampler is one entry there. Predictor-corrector schedules (the paper's sequential
/// algorithm and Chen et al.'s DDIM + corrector) run a predictor step by step and the corrector wherever the grid flags it.
/// </summary>
public static class Sampler
{
    static readonly string[] CorrectorOptions =
        [nameof(SamplerOptions.Corrector), nameof(SamplerOptions.Lipschitz), nameof(SamplerOptions.BlockLength), nameof(SamplerOptions.CorrectorSteps),
         nameof(SamplerOptions.CorrectorTime), nameof(SamplerOptions.Gamma), nameof(SamplerOptions.AdaptiveCorrector), nameof(SamplerOptions.LipschitzCap)];
    static readonly string[] ParallelOptions = [nameof(SamplerOptions.SubWindows), nameof(SamplerOptions.PicardRounds)];
    static readonly string[] ParallelCorrectorOptions = [nameof(SamplerOptions.ParallelCorrector), nameof(SamplerOptions.CorrectorRounds)];
    /// <summary>
    /// Where rm-pc stops being poor (docs/SAMPLERS.md, docs/EXPERIMENTS.md; FewStepsNoticeTests): on mix16-5 sliced W2 of
    /// 1.29 at 10 steps and 0.078 at 20 (floor 0.089); on the Fashion-MNIST model (d = 784, w = 2) a Frechet distance of
    /// 157 with 10 steps (n = 2000) and 10.3 with 20 (n = 500, floor 2.27). rm without the corrector needs twice the
    /// steps: 0.29 at 20 and 0.052 at 40 on mix16-5, and 192 / 32 / 11.6 with 10 / 20 / 40 on Fashion-MNIST.
    /// </summary>
    const int ScoreFormMidpointSteps = 20;

    public static readonly IReadOnlyList<SamplerInfo> All =
    [
        new("ei", "exponential integrator (DDIM-like)", "1 NFE/step", SamplerTraits.None, [],
            (ctx, x, grid, o) => OdeSamplers.ExponentialIntegrator(ctx, x, grid))
        { Memory = o => SamplerMemory.Sequential(2, 1) },
        new("rm", "randomized midpoint (the paper's sequential step)", "2 NFE/step", SamplerTraits.Stochastic, [nameof(SamplerOptions.LowVariance)],
            (ctx, x, grid, o) => OdeSamplers.RandomizedMidpoint(ctx, x, grid, o.LowVariance))
        { Memory = o => SamplerMemory.Sequential(3, 2), FewStepsBelow = 2 * ScoreFormMidpointSteps },
        new("ei-pc", "exponential integrator + underdamped Langevin corrector (Chen et al. 2023)", "1 NFE/step + corrector steps per block",
            SamplerTraits.Stochastic | SamplerTraits.Corrector, CorrectorOptions,
            (ctx, x, grid, o) => PredictorCorrector(ctx, x, grid, o, n => OdeSamplers.ExponentialIntegrator(ctx, x, grid, n, n + 1), parallel: false))
        { Memory = o => SamplerMemory.Sequential(o.Corrector == CorrectorKind.RmUld ? 4 : 3, o.Corrector == CorrectorKind.RmUld ? 2 : 1) },
        new("rm-pc", "randomized midpoint + corrector (the paper's sequential algorithm)", "2 NFE/step + corrector steps per block",
            SamplerTraits.Stochastic | SamplerTraits.Corrector, [nameof(SamplerOptions.LowVariance), .. CorrectorOptions],
            (ctx, x, grid, o) => PredictorCorrector(ctx, x, grid, o, n => OdeSamplers.RandomizedMidpoint(ctx, x, grid, n, n + 1, o.LowVariance), parallel: false))
        { Memory = o => SamplerMemory.Sequential(4, 2), FewStepsBelow = ScoreFormMidpointSteps },
        new("prm", "parallel randomized midpoint: R sub-windows, K Picard rounds per window", "(R (K + 1) + 1) NFE/window in K + 2 rounds",
            SamplerTraits.Stochastic | SamplerTraits.Parallel, ParallelOptions,
            (ctx, x, grid, o) => ParallelSamplers.ParallelMidpoint(ctx, x, grid, o.SubWindows, o.PicardRounds))
        { Memory = o => new(2 * o.SubWindows + 2, o.SubWindows + 1, [o.SubWindows, 1]) },
        new("prm-pc", "parallel randomized midpoint + parallel (Picard) corrector, once at the end by default", "(R (K + 1) + 1) NFE/window + parallel corrector rounds",
            SamplerTraits.Stochastic | SamplerTraits.Parallel | SamplerTraits.Corrector, [.. ParallelOptions, .. CorrectorOptions, .. ParallelCorrectorOptions],
            (ctx, x, grid, o) => PredictorCorrector(ctx, x, grid, o, n => ParallelSamplers.ParallelMidpoint(ctx, x, grid, n, n + 1, o.SubWindows, o.PicardRounds), parallel: true))
        { Memory = o => new(2 * o.SubWindows + 2 * o.CorrectorSteps + 3, o.SubWindows + 1, [o.SubWindows, 1, o.CorrectorSteps]) },
        new("heun", "Heun (2nd order) on the ODE", "2 NFE/step", SamplerTraits.None, [],
            (ctx, x, grid, o) => OdeSamplers.Heun(ctx, x, grid))
        { Memory = o => SamplerMemory.Sequential(4, 1) },
        new("dpmpp-2m", "DPM-Solver++(2M), data prediction", "1 NFE/step", SamplerTraits.None, [],
            (ctx, x, grid, o) => OdeSamplers.DpmSolver2M(ctx, x, grid))
        { Memory = o => SamplerMemory.Sequential(4, 1) },
        new("dpmpp-3m", "DPM-Solver++(3M), data prediction, third order (orders 1, 2 first; lower-order last steps below 10 steps)", "1 NFE/step",
            SamplerTraits.None, [nameof(SamplerOptions.LowerOrderFinal)],
            (ctx, x, grid, o) => MultistepSamplers.DpmSolver3M(ctx, x, grid, o.LowerOrderFinal))
        { Memory = o => SamplerMemory.Sequential(5, 1) },
        new("unipc", "UniPC: UniP predictor + UniC corrector on the next step's evaluation, data prediction", "1 NFE/step",
            SamplerTraits.None, [nameof(SamplerOptions.SolverOrder), nameof(SamplerOptions.UniPcVariant), nameof(SamplerOptions.LowerOrderFinal)],
            (ctx, x, grid, o) => MultistepSamplers.UniPc(ctx, x, grid, o.SolverOrder, o.UniPcVariant, o.LowerOrderFinal))
        { Memory = o => SamplerMemory.Sequential(7, 1) },
        new("picard", "ParaDiGMS-style Picard windows over the exponential integrator, with a tolerance", "window NFE/round until the tolerance",
            SamplerTraits.Parallel | SamplerTraits.HostReads, [nameof(SamplerOptions.Window), nameof(SamplerOptions.Tolerance)],
            (ctx, x, grid, o) => ParallelSamplers.Picard(ctx, x, grid, o.Window, o.Tolerance))
        { Memory = o => PicardMemory(o) },
        new("rm-x0", "randomized midpoint in data-prediction form on the log-SNR axis (multistep line by default)", "1 NFE/step (2 with --x0-start fresh)",
            SamplerTraits.Stochastic, [nameof(SamplerOptions.X0Start), nameof(SamplerOptions.MidpointOrder)],
            (ctx, x, grid, o) =>
            {
                if (o.X0Start == X0StartMode.Line) LogSnrSamplers.RandomizedMidpointX0Multistep(ctx, x, grid);
                else LogSnrSamplers.RandomizedMidpointX0(ctx, x, grid, o.MidpointOrder);
            })
        { Memory = o => SamplerMemory.Sequential(o.X0Start == X0StartMode.Line ? 9 : 8, o.X0Start == X0StartMode.Line ? 5 : 3) },
        new("rm-x0-pc", "rm-x0 + underdamped Langevin corrector", "1 NFE/step (2 with --x0-start fresh) + corrector steps per block",
            SamplerTraits.Stochastic | SamplerTraits.Corrector, [nameof(SamplerOptions.X0Start), nameof(SamplerOptions.MidpointOrder), .. CorrectorOptions],
            (ctx, x, grid, o) =>
            {
                var history = new X0History();
                var line = new X0Line();
                PredictorCorrector(ctx, x, grid, o, n =>
                {
                    if (o.X0Start == X0StartMode.Line) LogSnrSamplers.RandomizedMidpointX0Multistep(ctx, x, grid, n, n + 1, line);
                    else LogSnrSamplers.RandomizedMidpointX0(ctx, x, grid, n, n + 1, o.MidpointOrder, history);
                    if (grid.CorrectAfter[n]) { history.Forget(); line.Forget(); }   // the corrector moves x off the trajectory they describe
                }, parallel: false);
            })
        { Memory = o => SamplerMemory.Sequential((o.X0Start == X0StartMode.Line ? 9 : 8) + (o.Corrector == CorrectorKind.RmUld ? 2 : 1), o.X0Start == X0StartMode.Line ? 5 : 3) },
        new("prm-x0", "parallel rm-x0: R midpoints stratified in the e^lambda measure, K Picard rounds per window", "(R (K + 1) + 1) NFE/window in K + 2 rounds",
            SamplerTraits.Stochastic | SamplerTraits.Parallel, [nameof(SamplerOptions.MidpointOrder), .. ParallelOptions],
            (ctx, x, grid, o) => LogSnrSamplers.ParallelMidpointX0(ctx, x, grid, o.SubWindows, o.PicardRounds, o.MidpointOrder))
        { Memory = o => new(3 * o.SubWindows + 5, 2 * o.SubWindows + 1, [o.SubWindows, 1]) },
        new("prm-x0-pc", "prm-x0 + parallel (Picard) corrector, once at the end by default", "(R (K + 1) + 1) NFE/window + parallel corrector rounds",
            SamplerTraits.Stochastic | SamplerTraits.Parallel | SamplerTraits.Corrector,
            [nameof(SamplerOptions.MidpointOrder), .. ParallelOptions, .. CorrectorOptions, .. ParallelCorrectorOptions],
            (ctx, x, grid, o) =>
            {
                var history = new X0History();
                PredictorCorrector(ctx, x, grid, o, n =>
                {
                    LogSnrSamplers.ParallelMidpointX0(ctx, x, grid, n, n + 1, o.SubWindows, o.PicardRounds, o.MidpointOrder, history);
                    if (grid.CorrectAfter[n] && o.ParallelCorrector == ParallelCorrectorPlacement.Block) history.Forget();
                }, parallel: true);
            })
        { Memory = o => new(3 * o.SubWindows + 2 * o.CorrectorSteps + 6, 2 * o.SubWindows + 1, [o.SubWindows, 1, o.CorrectorSteps]) },
    ];

    static readonly Dictionary<string, SamplerInfo> byName = All.ToDictionary(s => s.Name);

    /// <summary>Picard keeps three buffers per window position (positions, previous round, scores) and two rows of x; its windows are the grid cut into `window` steps.</summary>
    static SamplerMemory PicardMemory(SamplerOptions o)
    {
        var windows = SamplerMemory.PicardWindows(o.Window, o.MakeGrid().Steps);
        return new(3 * windows.Sum() + 2, 2, windows);
    }

    /// <summary>
    /// The device memory per sample of a run of `name` under `o` (validated options): the entry's cost function, plus
    /// what every run adds (<see cref="SamplerOptions.Denoise"/>: a score buffer and a score call of one row per sample).
    /// </summary>
    public static SamplerMemory MemoryOf(string name, SamplerOptions o)
    {
        var m = Get(name).Memory(o);
        return o.Denoise ? m with { Rows = m.Rows + 1, ScoreBatches = [.. m.ScoreBatches, 1] } : m;
    }

    public static IEnumerable<string> Names => All.Select(s => s.Name);

    /// <summary>The entry of `name`; an ArgumentException listing the known names otherwise.</summary>
    public static SamplerInfo Get(string name) =>
        name is not null && byName.TryGetValue(name, out var s) ? s
            : throw new ArgumentException($"unknown sampler '{name}' (known: {string.Join(", ", Names)})");

    public static void Check(string name) => Get(name);

    /// <summary>Runs sampler `name` on x [N, d] (holding the start noise) over grid.</summary>
    public static void Run(string name, SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, SamplerOptions o)
    {
        var sampler = Get(name);
        if (o.Labels is not null || o.Guidance != 0) ctx.Condition(o.Labels, o.Guidance);   // wraps the model (GuidedScore); every sampler scores through ctx.ScoreAt
        sampler.Run(ctx, x, grid, o);
        if (o.Denoise) Denoise(ctx, x, grid.Tau[^1]);
    }

    /// <summary>Tweedie's denoiser at the end time: x0 = (x + sigma_t^2 s_t(x)) / alpha_t. One NFE.</summary>
    public static void Denoise(SamplerContext ctx, IDeviceBuffer x, double tau)
    {
        double t = ctx.Horizon - tau, a = ForwardProcess.Alpha(t), s2 = ForwardProcess.SigmaSquared(t);
        var s = ctx.Work[Slots.Score, ctx.N];
        ctx.Score(x, tau, s);
        ctx.Backend.Lincomb(x, [new((float)(1 / a), x), new((float)(s2 / a), s)]);
    }

    /// <summary>
    /// Predictor steps over the grid, the corrector after every flagged step (at the step's end time). The parallel
    /// schedules (prm-pc, prm-x0-pc) default to our reconstruction of the paper's parallel algorithm (docs/DESIGN.md; not
    /// checked against the paper's text): one parallel corrector after the whole predictor
    /// (<see cref="SamplerOptions.ParallelCorrector"/> = End); Block corrects after every block.
    /// </summary>
    public static void PredictorCorrector(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, SamplerOptions o, Action<int> predictorStep, bool parallel)
    {
        bool atEndOnly = parallel && o.ParallelCorrector == ParallelCorrectorPlacement.End;
        for (int n = 0; n < grid.Steps; n++)
        {
            predictorStep(n);
            if (atEndOnly ? n == grid.Steps - 1 : grid.CorrectAfter[n]) Correctors.Run(ctx, x, grid.Tau[n + 1], n + 1, o, parallel);
        }
    }

    /// <summary>The registry as text: one line per sampler (the CLI's `cldiff samplers`).</summary>
    public static string Text()
    {
        var sb = new StringBuilder();
        int w = All.Max(s => s.Name.Length);
        foreach (var s in All)
        {
            sb.Append(s.Name.PadRight(w + 2)).Append(s.Description).Append("; ").Append(s.Cost);
            if (s.FewStepsBelow is { } k) sb.Append($"; poor below {k} steps (use rm-x0 for few evaluations)");
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The registry as a Markdown table with the defaults of the options each sampler reads (docs/ARCHITECTURE.md holds it).</summary>
    public static string MarkdownTable()
    {
        var sb = new StringBuilder("| sampler | what it is | cost | traits | options read (default) |\n|---|---|---|---|---|\n");
        foreach (var s in All)
        {
            string opts = s.Options.Length == 0 ? "-" : string.Join(", ", s.Options.Select(n => $"{n} ({SamplerOptions.DefaultText(n)})"));
            sb.Append($"| `{s.Name}` | {s.Description} | {s.Cost} | {(s.Traits == SamplerTraits.None ? "deterministic" : s.Traits.ToString())} | {opts} |\n");
        }
        return sb.ToString();
    }
}
