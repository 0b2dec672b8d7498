using ClDiffusion.Models;
using ClDiffusion.Samplers;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

/// <summary>Options shared by verbs that need a model and a sampler.</summary>
public class ModelOptions
{
    [Option("target", HelpText = "Gaussian-mixture target JSON {\"weights\": [K], \"means\": [[d] x K], \"variances\": [[d] x K]}.")]
    public string? Target { get; set; }

    [Option("preset", HelpText = "Built-in target instead of --target: mixD-K (e.g. mix16-5: d = 16, K = 5 components) or gaussD.")]
    public string? Preset { get; set; }

    [Option("model", HelpText = "Learned score model: a shipped name (checkerboard, optdigits), a .safetensors MLP (docs/MLP.md) or an .onnx file (docs/MODELS.md).")]
    public string? Model { get; set; }

    [Option("prediction", HelpText = "ONNX models: what the output is, score | eps | x0 | v (default: the model's metadata cldiffusion.prediction).")]
    public string? Prediction { get; set; }

    [Option("convention", HelpText = "ONNX models: the model's time convention, ours | vp-linear[:N] | vp-scaled-linear[:N] | vp-cosine[:N] | edm (default: metadata cldiffusion.convention, else ours).")]
    public string? Convention { get; set; }

    [Option("device", HelpText = "cpu | auto | opencl | opencl:P:D | opencl:NAME (default: $CLDIFF_DEVICE or auto).")]
    public string? Device { get; set; }

    /// <summary>The model to sample (an MLP or the target itself) and the exact target when there is one.</summary>
    public (IScoreModel model, GaussianMixture? target) LoadModel()
    {
        if (Model is null) { var t = LoadTarget(); return (t, t); }
        if (Target is not null || Preset is not null) throw new ArgumentException("give either --model or --target/--preset, not both");
        if (Model.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) return (OnnxModels.Load(Model, Prediction, Convention), null);
        if (Prediction is not null || Convention is not null) throw new ArgumentException("--prediction and --convention apply to .onnx models only (an MLP file says what it predicts)");
        return (ClDiffusion.Models.Mlp.MlpModel.Load(ShippedModels.Resolve(Model)), null);
    }

    public GaussianMixture LoadTarget()
    {
        if (Model is not null) throw new ArgumentException("this command needs an exact target (--target or --preset), not --model");
        if (Target is not null && Preset is not null) throw new ArgumentException("give either --target or --preset, not both");
        if (Target is not null) return GaussianMixture.Load(Target);
        return Presets.Get(Preset ?? "mix16-5");
    }
}

/// <summary>The models shipped in models/ (copied next to the program at build time).</summary>
public static class ShippedModels
{
    public static readonly string[] Names = ["checkerboard", "optdigits"];
    public static string Resolve(string nameOrPath)
    {
        if (Names.Contains(nameOrPath))
        {
            foreach (var dir in new[] { Path.Combine(AppContext.BaseDirectory, "models"), "models" })
            {
                var p = Path.Combine(dir, nameOrPath + ".safetensors");
                if (File.Exists(p)) return p;
            }
            throw new FileNotFoundException($"shipped model '{nameOrPath}' not found next to the program or in ./models");
        }
        return nameOrPath;
    }
}

public static class Presets
{
    /// <summary>mixD-K: a deterministic random K-component mixture in d dimensions; gaussD: one Gaussian.</summary>
    public static GaussianMixture Get(string name)
    {
        var s = name.ToLowerInvariant();
        try
        {
            if (s.StartsWith("mix"))
            {
                var parts = s[3..].Split('-');
                return GaussianMixture.Preset(int.Parse(parts[0]), parts.Length > 1 ? int.Parse(parts[1]) : 5);
            }
            if (s.StartsWith("gauss")) return GaussianMixture.Preset(int.Parse(s[5..]), 1);
        }
        catch (FormatException) { }
        throw new ArgumentException($"unknown preset '{name}' (use mixD-K such as mix16-5, or gaussD such as gauss64)");
    }
}

/// <summary>
/// The sampler options of every sampling verb. Their defaults are <see cref="SamplerOptions.Defaults"/> (the one place
/// they are written); the help lists them and the samplers from the registry (<see cref="SamplerHelp"/>).
/// </summary>
public class SamplerCliOptions : ModelOptions
{
    static SamplerOptions D => SamplerOptions.Defaults;

    [Option("sampler", HelpText = "Sampler name (the list below; `cldiff samplers` describes each). experiment and scaling ignore it: they take the list --samplers.")]
    public string Sampler { get; set; } = SamplerOptions.DefaultSampler;
    [Option("steps", HelpText = "Predictor steps (windows for prm).")]
    public int Steps { get; set; } = D.Steps;
    [Option('T', "horizon", HelpText = "Horizon T of the forward process.")]
    public double Horizon { get; set; } = D.Horizon;
    [Option("delta", HelpText = "Early stopping: sampling ends at forward time delta.")]
    public double Delta { get; set; } = D.Delta;
    [Option("grid", HelpText = "Time grid: uniform, shrinking (equal steps far from the data, geometric near it) or logsnr (equal log-SNR steps).")]
    public string Grid { get; set; } = D.Grid;
    [Option("midpoint", HelpText = "rm-x0 family: 1 = first-order midpoint state; 2 = x0 extrapolated from the previous step (no extra NFE) with a zero-mean control variate.")]
    public int Midpoint { get; set; } = D.MidpointOrder;
    [Option("x0-start", HelpText = "rm-x0, rm-x0-pc: line = x0 only at the random midpoints, reached along the line through the last two (1 NFE/step); fresh = x0 also at every step start (2 NFE/step, --midpoint picks the order).")]
    public string X0Start { get; set; } = D.X0Start;
    [Option("order", HelpText = "unipc: predictor order p, 2 or 3 (the corrector adds one).")]
    public int Order { get; set; } = D.SolverOrder;
    [Option("unipc-variant", HelpText = "unipc: B(h), bh1 (h) or bh2 (1 - e^{-h}).")]
    public UniPcVariant UniPcVariant { get; set; } = D.UniPcVariant;
    [Option("full-order-final", HelpText = "dpmpp-3m, unipc: keep the full order on the last steps (default: lower it to the steps left, as the reference implementations do).")]
    public bool FullOrderFinal { get; set; } = !D.LowerOrderFinal;
    [Option("parallel-corrector", HelpText = "prm-pc, prm-x0-pc: run the parallel corrector once at the end (end, our reconstruction of the paper's algorithm) or after every block (block).")]
    public string ParallelCorrector { get; set; } = D.ParallelCorrector;
    [Option("corrector-rounds", HelpText = "Picard rounds of the parallel corrector (default: --corrector-steps, which equals the sequential corrector).")]
    public int? CorrectorRounds { get; set; } = D.CorrectorRounds;
    [Option("max-step", HelpText = "Split grid steps longer than this (the total step count grows); rm/rm-pc/prm diverge on steps much longer than 1.")]
    public double? MaxStep { get; set; } = D.MaxStep;
    [Option("lipschitz", HelpText = "Lipschitz constant L of the score: sets the corrector defaults (block 1/L, duration 1/sqrt(L), gamma sqrt(L)).")]
    public double Lipschitz { get; set; } = D.Lipschitz;
    [Option("block", HelpText = "Corrector after every block of this sampler time (default 1/L).")]
    public double? Block { get; set; } = D.BlockLength;
    [Option("corrector-steps", HelpText = "Langevin steps per corrector call.")]
    public int CorrectorSteps { get; set; } = D.CorrectorSteps;
    [Option("corrector-time", HelpText = "Corrector duration (default 1/sqrt(L)).")]
    public double? CorrectorTime { get; set; } = D.CorrectorTime;
    [Option("gamma", HelpText = "Langevin friction (default sqrt(L)).")]
    public double? Gamma { get; set; } = D.Gamma;
    [Option("corrector", HelpText = "uld (frozen-drift underdamped Langevin) or rmuld (Shen-Lee randomized midpoint).")]
    public string Corrector { get; set; } = D.Corrector;
    [Option("low-variance", HelpText = "rm: draw the midpoint with density proportional to e^{h-u}.")]
    public bool LowVariance { get; set; } = D.LowVariance;
    [Option('R', "subwindows", HelpText = "prm: sub-windows per window.")]
    public int R { get; set; } = D.SubWindows;
    [Option('K', "picard", HelpText = "prm, prm-x0: Picard rounds per window.")]
    public int K { get; set; } = D.PicardRounds;
    [Option("window", HelpText = "picard: steps per Picard window.")]
    public int Window { get; set; } = D.Window;
    [Option("tol", HelpText = "picard: stop a window when the largest change is below this.")]
    public double Tolerance { get; set; } = D.Tolerance;
    [Option("fixed-corrector", HelpText = "Use the fixed L for the corrector everywhere instead of L_t = max(L, 1/sigma_t^2).")]
    public bool FixedCorrector { get; set; } = !D.AdaptiveCorrector;
    [Option("denoise", HelpText = "Finish with Tweedie's denoiser x0 = (x + sigma^2 s)/alpha at t = delta (one more NFE).")]
    public bool Denoise { get; set; } = D.Denoise;
    [Option("score-error", Default = 0.0, HelpText = "Add a smooth deterministic score error of this RMS size (the paper's eps_s).")]
    public double ScoreError { get; set; }
    [Option("class", HelpText = "Class-conditional models: draw every sample from class K, or 'all' (the classes in equal blocks of samples: one row per class in --png).")]
    public string? Class { get; set; }
    [Option("labels", HelpText = "Class-conditional models: per-sample labels (text, one per line, or .npy); entry i is the class of sample i, -1 = unconditional.")]
    public string? Labels { get; set; }
    [Option("guidance", Default = 0.0, HelpText = "Classifier-free guidance weight w: s = (1 + w) s(x | class) - w s(x | null); 0 = plain conditional sampling.")]
    public double Guidance { get; set; }

    /// <summary>The labels asked for by --class / --labels (null: unconditional) for samples [first, first + n) of a model.</summary>
    public ClassLabels? ClassLabelsFor(IScoreModel model, long first, long n)
    {
        if (Class is not null && Labels is not null) throw new ArgumentException("give either --class or --labels, not both");
        ClassLabels? l = null;
        if (Labels is not null) l = ClassLabels.Load(Labels);
        else if (Class == "all")
        {
            int k = model is IClassConditional c ? c.NumClasses : 0;
            if (k == 0) throw new ArgumentException($"--class all: {model.Describe()} is not class-conditional");
            l = ClassLabels.Blocks(k, first, checked((int)n));
        }
        else if (Class is not null)
        {
            if (!int.TryParse(Class, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int k))
                throw new ArgumentException($"--class must be a class number or 'all', got '{Class}'");
            l = ClassLabels.All(k);
        }
        l?.Validate(model, first, n);
        return l;
    }

    public SamplerOptions ToSamplerOptions() => D with
    {
        Horizon = Horizon, Delta = Delta, Steps = Steps, Grid = Grid, MaxStep = MaxStep, Lipschitz = Lipschitz, BlockLength = Block,
        CorrectorSteps = CorrectorSteps, CorrectorTime = CorrectorTime, Gamma = Gamma, Corrector = Corrector,
        LowVariance = LowVariance, SubWindows = R, PicardRounds = K, Window = Window, Tolerance = Tolerance,
        AdaptiveCorrector = !FixedCorrector, Denoise = Denoise, MidpointOrder = Midpoint, X0Start = X0Start, ParallelCorrector = ParallelCorrector,
        CorrectorRounds = CorrectorRounds, SolverOrder = Order, UniPcVariant = UniPcVariant, LowerOrderFinal = !FullOrderFinal,
    };
}

/// <summary>The lines the help of a sampling verb adds after its options: the samplers from the registry and the defaults.</summary>
public static class SamplerHelp
{
    static readonly (string option, string property)[] Shown =
    [
        ("--sampler", ""), ("--steps", nameof(SamplerOptions.Steps)), ("-T", nameof(SamplerOptions.Horizon)), ("--delta", nameof(SamplerOptions.Delta)),
        ("--grid", nameof(SamplerOptions.Grid)), ("--lipschitz", nameof(SamplerOptions.Lipschitz)), ("--corrector", nameof(SamplerOptions.Corrector)),
        ("--corrector-steps", nameof(SamplerOptions.CorrectorSteps)), ("-R", nameof(SamplerOptions.SubWindows)), ("-K", nameof(SamplerOptions.PicardRounds)),
        ("--window", nameof(SamplerOptions.Window)), ("--tol", nameof(SamplerOptions.Tolerance)), ("--midpoint", nameof(SamplerOptions.MidpointOrder)), ("--x0-start", nameof(SamplerOptions.X0Start)),
        ("--parallel-corrector", nameof(SamplerOptions.ParallelCorrector)), ("--order", nameof(SamplerOptions.SolverOrder)),
        ("--unipc-variant", nameof(SamplerOptions.UniPcVariant)),
    ];

    public static IEnumerable<string> Lines()
    {
        yield return "Samplers:";
        foreach (var line in Sampler.Text().Split('\n', StringSplitOptions.RemoveEmptyEntries)) yield return "  " + line;
        yield return "Defaults: " + string.Join(", ", Shown.Select(s => $"{s.option} {(s.property.Length == 0 ? SamplerOptions.DefaultSampler : SamplerOptions.DefaultText(s.property))}"));
    }
}
