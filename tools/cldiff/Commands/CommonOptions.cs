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

    [Option("model", HelpText = "Learned score model: a shipped name (checkerboard, optdigits, fashion, fashion-unet), a .safetensors MLP (docs/MLP.md) or an .onnx file (docs/MODELS.md).")]
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
        var path = ShippedModels.Resolve(Model);
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) return (OnnxModels.Load(path, Prediction, Convention), null);
        if (Prediction is not null || Convention is not null) throw new ArgumentException("--prediction and --convention apply to .onnx models only (an MLP file says what it predicts)");
        return (ClDiffusion.Models.Mlp.MlpModel.Load(path), null);
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
    public static readonly string[] Names = ["checkerboard", "optdigits", "fashion", "fashion-unet"];
    public static string Resolve(string nameOrPath)
    {
        if (Names.Contains(nameOrPath))
        {
            foreach (var dir in new[] { Path.Combine(AppContext.BaseDirectory, "models"), "models" })
            {
                foreach (var ext in new[] { ".safetensors", ".onnx" })   // fashion-unet: models/fashion-unet.onnx (tools/fashion/train_unet.py)
                {
                    var p = Path.Combine(dir, nameOrPath + ext);
                    if (File.Exists(p)) return p;
                }
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
/// The sampler options of every sampling verb. Those of <see cref="SamplerOptionTable"/> (--steps, --grid, --x0-start, ...)
/// are not declared here: <see cref="SamplerFlags"/> takes them out of the arguments before CommandLineParser sees the
/// rest, parses each with its table entry, and the help lists them from the table (<see cref="SamplerHelp"/>). Their
/// defaults are <see cref="SamplerOptions.Defaults"/>.
/// </summary>
public class SamplerCliOptions : ModelOptions
{
    [Option("sampler", HelpText = "Sampler name (the list below; `cldiff samplers` describes each). experiment and scaling ignore it: they take the list --samplers.")]
    public string Sampler { get; set; } = SamplerOptions.DefaultSampler;
    /// <summary>The sampler options given on the command line (table entry, text), in order; set by <see cref="SamplerFlags.Extract"/>.</summary>
    public IReadOnlyList<(SamplerOptionInfo option, string text)> Given { get; set; } = [];
    [Option("score-error", Default = 0.0, HelpText = "Add a smooth deterministic score error of this RMS size (the paper's eps_s).")]
    public double ScoreError { get; set; }
    [Option("class", HelpText = "Class-conditional models: draw every sample from class K, or 'all' (the classes in equal blocks of samples: one row per class in --png).")]
    public string? Class { get; set; }
    [Option("labels", HelpText = "Class-conditional models: per-sample labels (text, one per line, or .npy); entry i is the class of sample i, -1 = unconditional.")]
    public string? Labels { get; set; }
    [Option("guidance", Default = 0.0, HelpText = "Classifier-free guidance weight w: s = (1 + w) s(x | class) - w s(x | null); 0 = plain conditional sampling; w = scale - 1 for diffusers' guidance_scale or k-diffusion's cond_scale, so -1 <= w < 0 is a scale in [0, 1).")]
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

    /// <summary>The defaults with every given sampler option parsed by its table entry (checked later, once, by Validate).</summary>
    public SamplerOptions ToSamplerOptions()
    {
        var o = SamplerOptions.Defaults;
        foreach (var (option, text) in Given) o = option.Parse(o, text);
        return o;
    }
}

/// <summary>
/// The flags of <see cref="SamplerOptionTable"/> on a sampling verb's command line: --NAME VALUE, --NAME=VALUE, -X VALUE,
/// -XVALUE for the one-letter spellings, and --NAME alone for a switch.
/// </summary>
public static class SamplerFlags
{
    /// <summary>
    /// Takes the table's flags out of `args` (returned without them, for CommandLineParser) into `given`; an
    /// ArgumentException for a flag without a value or given twice.
    /// </summary>
    public static string[] Extract(string[] args, out List<(SamplerOptionInfo option, string text)> given)
    {
        given = [];
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            SamplerOptionInfo? option = null;
            string? inline = null;
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                int eq = a.IndexOf('=');
                option = SamplerOptionTable.Find(eq < 0 ? a[2..] : a[2..eq]);
                if (eq >= 0) inline = a[(eq + 1)..];
            }
            else if (a.Length >= 2 && a[0] == '-' && SamplerOptionTable.All.FirstOrDefault(o => o.ShortName == a[1]) is { } s)
            {
                option = s;
                if (a.Length > 2) inline = a[2..];
            }
            if (option is null) { rest.Add(a); continue; }
            string flag = "--" + option.Name;
            if (given.Any(g => g.option == option)) throw new ArgumentException($"{flag} is given twice");
            string text;
            if (option.IsSwitch)
            {
                if (inline is not null) throw new ArgumentException($"{flag} is a switch and takes no value (got '{inline}')");
                text = "on";
            }
            else if (inline is not null) text = inline;
            else if (i + 1 < args.Length) text = args[++i];
            else throw new ArgumentException($"{flag} needs a value ({option.Accepts})");
            given.Add((option, text));
        }
        return rest.ToArray();
    }

    /// <summary>"-T, --horizon X".</summary>
    public static string Spelling(SamplerOptionInfo o) =>
        (o.ShortName is { } c ? $"-{c}, " : "") + "--" + o.Name + (o.IsSwitch ? "" : " " + o.ValueName);
}

/// <summary>The lines the help of a sampling verb adds after its options: the sampler options from their table, then the samplers from the registry.</summary>
public static class SamplerHelp
{
    public static IEnumerable<string> Lines()
    {
        yield return "Sampler options (also the keys of the C ABI's cld_sample_settings_set):";
        int w = SamplerOptionTable.All.Max(o => SamplerFlags.Spelling(o).Length);
        foreach (var o in SamplerOptionTable.All)
            yield return $"  {SamplerFlags.Spelling(o).PadRight(w)}  {o.Help} Default: {o.DefaultText}.";
        yield return "Samplers:";
        foreach (var line in Sampler.Text().Split('\n', StringSplitOptions.RemoveEmptyEntries)) yield return "  " + line;
        yield return $"Default sampler: {SamplerOptions.DefaultSampler}";
    }
}
