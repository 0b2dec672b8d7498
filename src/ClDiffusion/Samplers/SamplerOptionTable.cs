using System.Globalization;
using System.Text;

namespace ClDiffusion.Samplers;

/// <summary>The time grid of a run (see <see cref="Diffusion.TimeGrid"/>); text: uniform, shrinking, logsnr, karras.</summary>
public enum TimeGridKind { Uniform, Shrinking, LogSnr, Karras }

/// <summary>The Langevin corrector: uld (frozen-drift underdamped Langevin) or rmuld (Shen-Lee randomized midpoint).</summary>
public enum CorrectorKind { Uld, RmUld }

/// <summary>How rm-x0 and rm-x0-pc reach x0 at a step start: line (extrapolated, 1 NFE/step) or fresh (evaluated, 2 NFE/step).</summary>
public enum X0StartMode { Line, Fresh }

/// <summary>Where prm-pc and prm-x0-pc run their parallel corrector: end (once after the predictor) or block (after every block).</summary>
public enum ParallelCorrectorPlacement { End, Block }

/// <summary>
/// One settable sampler option: the CLI's long option name (also the C ABI's key for cld_sample_settings_set), the
/// <see cref="SamplerOptions"/> property it sets, its type, how its text parses, its default as text, its help and its
/// check. Everything that lists or reads sampler options by name (the CLI's flags and help, the docs' table, the C
/// ABI's keys, <see cref="SamplerOptions.Validate()"/>) goes through <see cref="SamplerOptionTable.All"/>.
/// </summary>
public abstract class SamplerOptionInfo
{
    private protected SamplerOptionInfo(string name, char? shortName, string property, string help, string accepts, string valueName)
    {
        Name = name; ShortName = shortName; Property = property; Help = help; Accepts = accepts; ValueName = valueName;
    }

    /// <summary>The CLI's long option name without the dashes ("x0-start"), also the C key.</summary>
    public string Name { get; }
    /// <summary>The CLI's one-letter spelling (-T, -R, -K), if any.</summary>
    public char? ShortName { get; }
    /// <summary>The <see cref="SamplerOptions"/> property the option sets.</summary>
    public string Property { get; }
    /// <summary>One sentence for `--help` and the docs.</summary>
    public string Help { get; }
    /// <summary>What a value may be, for error messages ("uniform, shrinking or logsnr", "an integer in 1..65535").</summary>
    public string Accepts { get; }
    /// <summary>The value's placeholder in the help (N, X, uniform|shrinking|logsnr); empty for a switch.</summary>
    public string ValueName { get; }
    /// <summary>The type of the value as the option sets it.</summary>
    public abstract Type Type { get; }
    /// <summary>A CLI flag without a value (on when given); from C its value is on/off.</summary>
    public bool IsSwitch => Type == typeof(bool);

    /// <summary>`o` with this option set from `text`; an ArgumentException naming the option, the text and what it accepts otherwise.</summary>
    public abstract SamplerOptions Parse(SamplerOptions o, string text);
    /// <summary>The option's value in `o` as text that <see cref="Parse"/> reads back.</summary>
    public abstract string Text(SamplerOptions o);
    /// <summary>The default (<see cref="SamplerOptions.Defaults"/>) as text: "unset" for an optional value without one.</summary>
    public string DefaultText => Text(SamplerOptions.Defaults);
    /// <summary>Why the option's value in `o` is invalid (the message names the parameter and the limit), or null.</summary>
    public abstract string? Problem(SamplerOptions o);

    /// <summary>Parse and check: what the C ABI's cld_sample_settings_set runs.</summary>
    public SamplerOptions Set(SamplerOptions o, string text)
    {
        var r = Parse(o, text);
        return Problem(r) is { } p ? throw new ArgumentException($"{Name} = '{text}': {p} (accepted: {Accepts})") : r;
    }
}

/// <summary>A <see cref="SamplerOptionInfo"/> of value type T (built only by <see cref="SamplerOptionTable"/>).</summary>
public sealed class SamplerOption<T> : SamplerOptionInfo
{
    readonly Func<SamplerOptions, T> get;
    readonly Func<SamplerOptions, T, SamplerOptions> set;
    readonly Func<string, T> parse;
    readonly Func<T, string> format;
    readonly Func<T, string?> check;

    internal SamplerOption(string name, char? shortName, string property, string help, string accepts, string valueName,
        Func<SamplerOptions, T> get, Func<SamplerOptions, T, SamplerOptions> set, Func<string, T> parse, Func<T, string> format, Func<T, string?> check)
        : base(name, shortName, property, help, accepts, valueName)
    {
        this.get = get; this.set = set; this.parse = parse; this.format = format; this.check = check;
    }

    public override Type Type => typeof(T);
    public T Get(SamplerOptions o) => get(o);
    public SamplerOptions With(SamplerOptions o, T value) => set(o, value);
    public override SamplerOptions Parse(SamplerOptions o, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        T v;
        try { v = parse(text); }
        catch (FormatException e) { throw new ArgumentException($"{Name}: {e.Message}" + (typeof(T).IsEnum ? "" : $" (accepted: {Accepts})")); }
        return set(o, v);
    }
    public override string Text(SamplerOptions o) => format(get(o));
    public override string? Problem(SamplerOptions o) => check(get(o));
}

/// <summary>
/// The one table of sampler options. Adding an option: a property with its default in <see cref="SamplerOptions"/>
/// and one entry here; the CLI flag, `cldiff sample --help`, the docs' table (`cldiff samplers --options-markdown`),
/// the validation and the C key follow.
/// </summary>
public static class SamplerOptionTable
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    const string Unset = "unset";

    /// <summary>The text of an enum value: its name in lower case (TimeGridKind.LogSnr: "logsnr").</summary>
    public static string Text<TEnum>(TEnum v) where TEnum : struct, Enum => v.ToString().ToLowerInvariant();
    public static IReadOnlyList<string> Names<TEnum>() where TEnum : struct, Enum => Enum.GetValues<TEnum>().Select(Text).ToArray();
    /// <summary>"a, b or c".</summary>
    public static string OrList(IReadOnlyList<string> xs) => xs.Count == 1 ? xs[0] : string.Join(", ", xs.Take(xs.Count - 1)) + " or " + xs[^1];

    /// <summary>The message for an unknown choice: "unknown grid 'cosine' (use uniform, shrinking, logsnr or karras)".</summary>
    public static string Unknown<TEnum>(string noun, string text) where TEnum : struct, Enum => $"unknown {noun} '{text}' (use {OrList(Names<TEnum>())})";

    static string? First(params string?[] problems) => problems.FirstOrDefault(p => p is not null);
    static string? Need(bool ok, string message) => ok ? null : message;

    static int ParseInt(string s) =>
        int.TryParse(s, NumberStyles.AllowLeadingSign, Inv, out var v) ? v : throw new FormatException($"'{s}' is not an integer");
    static double ParseReal(string s) =>
        double.TryParse(s, NumberStyles.Float, Inv, out var v) ? v : throw new FormatException($"'{s}' is not a number");
    static bool ParseSwitch(string s) => s.ToLowerInvariant() switch
    {
        "on" or "true" or "1" or "yes" => true,
        "off" or "false" or "0" or "no" => false,
        _ => throw new FormatException($"'{s}' is not on or off"),
    };
    static TEnum ParseChoice<TEnum>(string s, string noun) where TEnum : struct, Enum
    {
        foreach (var v in Enum.GetValues<TEnum>()) if (Text(v) == s) return v;
        throw new FormatException(Unknown<TEnum>(noun, s));
    }
    static string Real(double v) => v.ToString(null, Inv);
    /// <summary>A limit in an accepted-values text: 1e-06, 1e+12, 50.</summary>
    static string G(double v) => v.ToString("g6", Inv).ToLowerInvariant();
    static string OnOff(bool v) => v ? "on" : "off";

    static SamplerOption<int> Int(string name, char? shortName, string property, Func<SamplerOptions, int> get, Func<SamplerOptions, int, SamplerOptions> set,
        string help, string accepts, Func<int, string?> check) =>
        new(name, shortName, property, help, accepts, "N", get, set, ParseInt, v => v.ToString(Inv), check);
    static SamplerOption<int?> OptionalInt(string name, string property, Func<SamplerOptions, int?> get, Func<SamplerOptions, int?, SamplerOptions> set,
        string help, string accepts, Func<int?, string?> check) =>
        new(name, null, property, help, accepts + " or unset", "N", get, set, s => s == Unset ? null : ParseInt(s), v => v?.ToString(Inv) ?? Unset, check);
    static SamplerOption<double> Number(string name, char? shortName, string property, Func<SamplerOptions, double> get, Func<SamplerOptions, double, SamplerOptions> set,
        string help, string accepts, Func<double, string?> check) =>
        new(name, shortName, property, help, accepts, "X", get, set, ParseReal, Real, check);
    static SamplerOption<double?> OptionalNumber(string name, string property, Func<SamplerOptions, double?> get, Func<SamplerOptions, double?, SamplerOptions> set,
        string help, string accepts, Func<double?, string?> check) =>
        new(name, null, property, help, accepts + " or unset", "X", get, set, s => s == Unset ? null : ParseReal(s), v => v is { } x ? Real(x) : Unset, check);
    static SamplerOption<bool> Switch(string name, string property, Func<SamplerOptions, bool> get, Func<SamplerOptions, bool, SamplerOptions> set, string help) =>
        new(name, null, property, help, "on or off", "", get, set, ParseSwitch, OnOff, _ => null);
    static SamplerOption<TEnum> Choice<TEnum>(string name, string property, string noun, Func<SamplerOptions, TEnum> get, Func<SamplerOptions, TEnum, SamplerOptions> set, string help)
        where TEnum : struct, Enum =>
        new(name, null, property, help, OrList(Names<TEnum>()), string.Join("|", Names<TEnum>()), get, set,
            s => ParseChoice<TEnum>(s, noun), Text, v => Need(Enum.IsDefined(v), Unknown<TEnum>(noun, Text(v))));

    /// <summary>Every settable sampler option, in the order of `--help` and the docs.</summary>
    public static readonly IReadOnlyList<SamplerOptionInfo> All =
    [
        Int("steps", null, nameof(SamplerOptions.Steps), o => o.Steps, (o, v) => o with { Steps = v },
            "Predictor steps (windows for prm).", $"an integer in 1..{SamplerLimits.MaxSteps}",
            v => First(Need(v >= 1, $"steps must be at least 1, got {v}"),
                       Need(v <= SamplerLimits.MaxSteps, $"steps = {v} is above the limit {SamplerLimits.MaxSteps} (random-key step counter)"))),
        Number("horizon", 'T', nameof(SamplerOptions.Horizon), o => o.Horizon, (o, v) => o with { Horizon = v },
            "Horizon T of the forward process (default 8, or the end of the model's trained times if earlier: a DDPM model's last timestep).", $"a number in (0, {SamplerLimits.MaxHorizon}]",
            v => First(Need(double.IsFinite(v) && v > 0, $"T must be positive and finite, got {v}"),
                       Need(v <= SamplerLimits.MaxHorizon, $"T = {v} is above the limit {SamplerLimits.MaxHorizon} (e^T must stay inside float32)"))),
        Number("delta", null, nameof(SamplerOptions.Delta), o => o.Delta, (o, v) => o with { Delta = v },
            "Early stopping: sampling ends at forward time delta (default 0.001, or the start of the model's trained times if later).", $"a number >= {G(SamplerLimits.MinDelta)} and below T",
            v => First(Need(double.IsFinite(v) && v > 0, $"delta must be positive, got {v}"),
                       Need(v >= SamplerLimits.MinDelta, $"delta = {v} is below the limit {SamplerLimits.MinDelta} (float32 resolution of forward times)"))),
        Switch("clamp-times", nameof(SamplerOptions.ClampTimes), o => o.ClampTimes, (o, v) => o with { ClampTimes = v },
            "Clamp a T or delta outside the model's trained times into them (the run says so) instead of refusing it."),
        Choice("grid", nameof(SamplerOptions.Grid), "grid", o => o.Grid, (o, v) => o with { Grid = v },
            "Time grid: uniform, shrinking (equal steps far from the data, geometric near it), logsnr (equal log-SNR steps) or karras (EDM's rho = 7 steps in the noise-to-signal ratio)."),
        OptionalNumber("max-step", nameof(SamplerOptions.MaxStep), o => o.MaxStep, (o, v) => o with { MaxStep = v },
            "Split grid steps longer than this (the total step count grows); rm/rm-pc/prm diverge on steps much longer than 1.", "a positive number",
            v => Need(v is null || (double.IsFinite(v.Value) && v > 0), $"maximum step must be positive, got {v}")),
        Int("midpoint", null, nameof(SamplerOptions.MidpointOrder), o => o.MidpointOrder, (o, v) => o with { MidpointOrder = v },
            "rm-x0 family: 1 = first-order midpoint state; 2 = x0 extrapolated from the previous step (no extra NFE) with a zero-mean control variate.", "1 or 2",
            v => Need(v is 1 or 2, $"midpoint order must be 1 or 2, got {v}")),
        Choice("x0-start", nameof(SamplerOptions.X0Start), "x0 start", o => o.X0Start, (o, v) => o with { X0Start = v },
            "rm-x0, rm-x0-pc: line = x0 only at the random midpoints, reached along the line through the last two (1 NFE/step); fresh = x0 also at every step start (2 NFE/step, --midpoint picks the order)."),
        Int("order", null, nameof(SamplerOptions.SolverOrder), o => o.SolverOrder, (o, v) => o with { SolverOrder = v },
            "unipc: predictor order p, 2 or 3 (the corrector adds one).", "2 or 3",
            v => Need(v is 2 or 3, $"solver order must be 2 or 3, got {v}")),
        Choice("unipc-variant", nameof(SamplerOptions.UniPcVariant), "UniPC variant", o => o.UniPcVariant, (o, v) => o with { UniPcVariant = v },
            "unipc: B(h), bh1 (h) or bh2 (1 - e^{-h})."),
        Switch("full-order-final", nameof(SamplerOptions.LowerOrderFinal), o => !o.LowerOrderFinal, (o, v) => o with { LowerOrderFinal = !v },
            "dpmpp-3m, unipc: keep the full order on the last steps (default: lower it to the steps left, as the reference implementations do; sets LowerOrderFinal off)."),
        Choice("parallel-corrector", nameof(SamplerOptions.ParallelCorrector), "parallel corrector placement", o => o.ParallelCorrector, (o, v) => o with { ParallelCorrector = v },
            "prm-pc, prm-x0-pc: run the parallel corrector once at the end (end, our reconstruction of the paper's algorithm) or after every block (block)."),
        OptionalInt("corrector-rounds", nameof(SamplerOptions.CorrectorRounds), o => o.CorrectorRounds, (o, v) => o with { CorrectorRounds = v },
            "Picard rounds of the parallel corrector (default: --corrector-steps, which equals the sequential corrector).", $"an integer in 1..{SamplerLimits.MaxPicardRounds}",
            v => First(Need(v is null or >= 1, $"corrector Picard rounds must be at least 1, got {v}"),
                       Need(v is null || v <= SamplerLimits.MaxPicardRounds, $"corrector Picard rounds = {v} is above the limit {SamplerLimits.MaxPicardRounds}"))),
        Number("lipschitz", null, nameof(SamplerOptions.Lipschitz), o => o.Lipschitz, (o, v) => o with { Lipschitz = v },
            "Lipschitz constant L of the score: sets the corrector defaults (block 1/L, duration 1/sqrt(L), gamma sqrt(L)).", $"a number in (0, {G(SamplerLimits.MaxLipschitz)}]",
            v => First(Need(double.IsFinite(v) && v > 0, $"Lipschitz constant must be positive, got {v}"),
                       Need(v <= SamplerLimits.MaxLipschitz, $"Lipschitz constant {v} is above the limit {SamplerLimits.MaxLipschitz}"))),
        OptionalNumber("block", nameof(SamplerOptions.BlockLength), o => o.BlockLength, (o, v) => o with { BlockLength = v },
            "Corrector after every block of this sampler time (default 1/L).", "a positive number",
            v => Need(v is null || (double.IsFinite(v.Value) && v > 0), $"block length must be positive and finite, got {v}")),
        Choice("corrector", nameof(SamplerOptions.Corrector), "corrector", o => o.Corrector, (o, v) => o with { Corrector = v },
            "uld (frozen-drift underdamped Langevin) or rmuld (Shen-Lee randomized midpoint)."),
        Int("corrector-steps", null, nameof(SamplerOptions.CorrectorSteps), o => o.CorrectorSteps, (o, v) => o with { CorrectorSteps = v },
            "Langevin steps per corrector call.", $"an integer in 1..{SamplerLimits.MaxCorrectorSteps}",
            v => First(Need(v >= 1, $"corrector steps must be at least 1, got {v}"),
                       Need(v <= SamplerLimits.MaxCorrectorSteps, $"corrector steps = {v} is above the limit {SamplerLimits.MaxCorrectorSteps} (random-key step counter)"))),
        OptionalNumber("corrector-time", nameof(SamplerOptions.CorrectorTime), o => o.CorrectorTime, (o, v) => o with { CorrectorTime = v },
            "Corrector duration (default 1/sqrt(L)).", $"a number in (0, {G(SamplerLimits.MaxCorrectorTime)}]",
            v => First(Need(v is null || (double.IsFinite(v.Value) && v > 0), $"corrector time must be positive, got {v}"),
                       Need(v is null || v <= SamplerLimits.MaxCorrectorTime, $"corrector time {v} is above the limit {SamplerLimits.MaxCorrectorTime}"))),
        OptionalNumber("gamma", nameof(SamplerOptions.Gamma), o => o.Gamma, (o, v) => o with { Gamma = v },
            "Langevin friction (default sqrt(L)).", $"a number in (0, {G(SamplerLimits.MaxGamma)}]",
            v => First(Need(v is null || (double.IsFinite(v.Value) && v > 0), $"gamma must be positive, got {v}"),
                       Need(v is null || v <= SamplerLimits.MaxGamma, $"gamma = {v} is above the limit {SamplerLimits.MaxGamma} (float32 friction)"))),
        Switch("fixed-corrector", nameof(SamplerOptions.AdaptiveCorrector), o => !o.AdaptiveCorrector, (o, v) => o with { AdaptiveCorrector = !v },
            "Use the fixed L for the corrector everywhere instead of L_t = max(L, 1/sigma_t^2) (sets AdaptiveCorrector off)."),
        Number("lipschitz-cap", null, nameof(SamplerOptions.LipschitzCap), o => o.LipschitzCap, (o, v) => o with { LipschitzCap = v },
            "Upper limit of the adaptive corrector's L_t.", $"a number in (0, {G(SamplerLimits.MaxLipschitz)}]",
            v => First(Need(double.IsFinite(v) && v > 0, $"Lipschitz cap must be positive, got {v}"),
                       Need(v <= SamplerLimits.MaxLipschitz, $"Lipschitz cap {v} is above the limit {SamplerLimits.MaxLipschitz}"))),
        Switch("low-variance", nameof(SamplerOptions.LowVariance), o => o.LowVariance, (o, v) => o with { LowVariance = v },
            "rm: draw the midpoint with density proportional to e^{h-u}."),
        Int("subwindows", 'R', nameof(SamplerOptions.SubWindows), o => o.SubWindows, (o, v) => o with { SubWindows = v },
            "prm: sub-windows per window.", $"an integer in 1..{SamplerLimits.MaxSubWindows}",
            v => Need(v >= 1 && v <= SamplerLimits.MaxSubWindows, $"R (sub-windows) must be in 1..{SamplerLimits.MaxSubWindows}, got {v}")),
        Int("picard", 'K', nameof(SamplerOptions.PicardRounds), o => o.PicardRounds, (o, v) => o with { PicardRounds = v },
            "prm, prm-x0: Picard rounds per window.", $"an integer in 0..{SamplerLimits.MaxPicardRounds}",
            v => First(Need(v >= 0, $"K (Picard rounds) must be >= 0, got {v}"),
                       Need(v <= SamplerLimits.MaxPicardRounds, $"K (Picard rounds) = {v} is above the limit {SamplerLimits.MaxPicardRounds}"))),
        Int("window", null, nameof(SamplerOptions.Window), o => o.Window, (o, v) => o with { Window = v },
            "picard: steps per Picard window.", $"an integer in 1..{SamplerLimits.MaxSteps}",
            v => First(Need(v >= 1, $"Picard window must be at least 1 step, got {v}"),
                       Need(v <= SamplerLimits.MaxSteps, $"Picard window = {v} is above the limit {SamplerLimits.MaxSteps}"))),
        Number("tol", null, nameof(SamplerOptions.Tolerance), o => o.Tolerance, (o, v) => o with { Tolerance = v },
            "picard: stop a window when the largest change is below this.", $"a number >= {G(SamplerLimits.MinTolerance)}",
            v => First(Need(double.IsFinite(v) && v > 0, $"tolerance must be positive, got {v}"),
                       Need(v >= SamplerLimits.MinTolerance, $"tolerance {v} is below the limit {SamplerLimits.MinTolerance}"))),
        Switch("denoise", nameof(SamplerOptions.Denoise), o => o.Denoise, (o, v) => o with { Denoise = v },
            "Finish with Tweedie's denoiser x0 = (x + sigma^2 s)/alpha at t = delta (one more NFE)."),
    ];

    static readonly Dictionary<string, SamplerOptionInfo> byName = All.ToDictionary(o => o.Name);

    /// <summary>The option with long name (C key) `name`, or null.</summary>
    public static SamplerOptionInfo? Find(string name) => byName.GetValueOrDefault(name);

    /// <summary>The option named `name`; an ArgumentException naming it and listing the known names otherwise.</summary>
    public static SamplerOptionInfo Get(string name) =>
        Find(name) ?? throw new ArgumentException($"unknown sampler option '{name}' (known: {string.Join(", ", All.Select(o => o.Name))})");

    /// <summary>The table as Markdown (docs/ARCHITECTURE.md holds it; `cldiff samplers --options-markdown` writes it).</summary>
    public static string MarkdownTable()
    {
        var sb = new StringBuilder("| option (CLI flag, C key) | property | type | default | accepted | what it does |\n|---|---|---|---|---|---|\n");
        foreach (var o in All)
        {
            string flag = o.ShortName is { } c ? $"`-{c}`, `--{o.Name}`" : $"`--{o.Name}`";
            var t = Nullable.GetUnderlyingType(o.Type) ?? o.Type;
            string type = (t == typeof(int) ? "int" : t == typeof(double) ? "double" : t == typeof(bool) ? "bool" : t.Name) + (t == o.Type ? "" : "?");
            sb.Append($"| {flag} | {o.Property} | {type} | {o.DefaultText} | {o.Accepts} | {o.Help.Replace("|", "\\|")} |\n");
        }
        return sb.ToString();
    }
}
