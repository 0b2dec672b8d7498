using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Models.Mlp;

namespace ClDiffusion.Backends.OpenCL.Tuning;

/// <summary>
/// The MLP kernel family ("mlp"): the <see cref="MlpKernelConfig"/> tile parameters (MWG NWG KWG MWI NWI VWM VWN
/// MLP_LOCAL MLP_DB MLP_FMA, and MLPF_MAXW turning the fused kernel on; its MLPF_RB and MLPF_WGS through ExtraDefines) keyed by the model's hidden width ("w&lt;=256", "w&lt;=1024", "w&gt;1024"; the tuner's search space over them is in ClDiffusion.Tooling), and the
/// prepare-time choice: explicit <see cref="OpenClMlp.DefaultConfig"/> wins, else the tuning database entry for the
/// device and width class (same chain as the other families, <see cref="TuningResolver.Find"/>), else
/// <see cref="MlpKernelConfig.For"/> the device; tile defines set in <see cref="OpenClOptions.ExtraDefines"/> override single values.
/// </summary>
public static class MlpTuning
{
    public const string Family = "mlp";
    /// <summary>The define names, in space order (MLP_LOCAL is 0 / 1).</summary>
    public static readonly string[] Names = { "MWG", "NWG", "KWG", "MWI", "NWI", "VWM", "VWN", "MLP_LOCAL", "MLP_DB", "MLP_FMA", "MLPF_MAXW", "MLPF_RB", "MLPF_WGS" };
    /// <summary>Largest register tile (MWI x NWI accumulators per work item) a configuration may use (the tuner offers no larger).</summary>
    public const int MaxRegisterTile = 256;

    /// <summary>Shape class of a hidden width.</summary>
    public static string WidthClass(int width) => width <= 256 ? "w<=256" : width <= 1024 ? "w<=1024" : "w>1024";

    /// <summary>A representative width of each class (for display: `cldiff devices`).</summary>
    public static readonly int[] ClassWidths = { 256, 1024, 4096 };

    /// <summary>The hidden width of a model (widest hidden layer; a one-layer net: its input width).</summary>
    public static int HiddenWidth(MlpModel m) => m.Layers.Count > 1 ? m.Layers.Take(m.Layers.Count - 1).Max(l => l.Out) : m.Layers[0].In;

    public static MlpKernelConfig ToConfig(IReadOnlyDictionary<string, int> p, MlpKernelConfig? baseConfig = null)
    {
        var c = baseConfig ?? MlpKernelConfig.Gpu;
        int G(string n, int v) => p.TryGetValue(n, out var x) ? x : v;
        return c with
        {
            Mwg = G("MWG", c.Mwg), Nwg = G("NWG", c.Nwg), Kwg = G("KWG", c.Kwg), Mwi = G("MWI", c.Mwi), Nwi = G("NWI", c.Nwi),
            Vwm = G("VWM", c.Vwm), Vwn = G("VWN", c.Vwn), UseLocal = G("MLP_LOCAL", c.UseLocal ? 1 : 0) != 0,
            DoubleBuffer = G("MLP_DB", c.DoubleBuffer ? 1 : 0) != 0, Fma = G("MLP_FMA", c.Fma ? 1 : 0) != 0, FuseMaxWidth = G("MLPF_MAXW", c.FuseMaxWidth),
            FusedRows = G("MLPF_RB", c.FusedRows), FusedGroup = G("MLPF_WGS", c.FusedGroup),
        };
    }

    public static Dictionary<string, int> ToParameters(MlpKernelConfig c) => new()
    {
        ["MWG"] = c.Mwg, ["NWG"] = c.Nwg, ["KWG"] = c.Kwg, ["MWI"] = c.Mwi, ["NWI"] = c.Nwi, ["VWM"] = c.Vwm, ["VWN"] = c.Vwn, ["MLP_LOCAL"] = c.UseLocal ? 1 : 0,
        ["MLP_DB"] = c.DoubleBuffer ? 1 : 0, ["MLP_FMA"] = c.Fma ? 1 : 0, ["MLPF_MAXW"] = c.FuseMaxWidth, ["MLPF_RB"] = c.FusedRows, ["MLPF_WGS"] = c.FusedGroup,
    };

    /// <summary>Whether a configuration satisfies <see cref="MlpKernelConfig.Validate"/> and the device's limits (work group, local memory).</summary>
    public static bool Fits(MlpKernelConfig c, DeviceDescription d)
    {
        try { c.Validate(); } catch (ArgumentException) { return false; }
        if (c.WorkGroupSize > d.MaxWorkGroupSize) return false;
        if (c.UseLocal && d.LocalMemoryBytes > 0 && c.LocalBytes > d.LocalMemoryBytes) return false;
        // the fused kernel's local memory depends on the network: a network it does not fit runs layer by layer instead
        if (c.FuseMaxWidth > 0 && c.FusedGroup > d.MaxWorkGroupSize) return false;
        return c.Mwi * c.Nwi <= MaxRegisterTile;
    }

    /// <summary>The configuration for an MLP of this hidden width on a device, and where it came from.</summary>
    public static (MlpKernelConfig Config, string Source) Choose(ClDevice device, OpenClOptions o, int width)
    {
        if (OpenClMlp.DefaultConfig is { } explicitConfig) return (explicitConfig, "OpenClMlp.DefaultConfig");
        var fallback = MlpKernelConfig.For(device);
        var cfg = fallback;
        string source = $"built-in default ({(device.TypeName == "cpu" ? "cpu" : "gpu")})";
        var desc = DeviceDescription.From(device);
        if (TuningResolver.Find(desc, o, Family, width, out var src) is { } e)
        {
            var tuned = ToConfig(e.Parameters, fallback);
            if (Fits(tuned, desc)) { cfg = tuned; source = src; }
            else source += $" (entry {src} does not fit this device)";
        }
        if (o.ExtraDefines is { } extra)
        {
            var over = new Dictionary<string, int>();
            foreach (var n in Names)
                if (extra.TryGetValue(n, out var v) && int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int iv)) over[n] = iv;
            if (over.Count > 0) { cfg = ToConfig(over, cfg); source += ", ExtraDefines"; }
        }
        return (cfg, source);
    }
}
