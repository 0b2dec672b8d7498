using System.Globalization;
using ClDiffusion.Backends.OpenCL;

namespace ClDiffusion.Backends.OpenCL.Tuning;

/// <summary>The parameters one kernel family uses on a device and where they came from.</summary>
public sealed record TuningChoice(string Kernel, string Source, IReadOnlyDictionary<string, int> Parameters)
{
    public override string ToString() => $"{Kernel} {string.Join(" ", Parameters.Select(p => $"{p.Key}={p.Value}"))} ({Source})";
}

/// <summary>
/// What an <see cref="OpenClBackend"/> runs with after the database lookup: the options as given, the tuned work-group
/// size per family, and each family's program defines (<see cref="Defines"/>: the family's own tunables only, plus the
/// defines no family owns). WG and HAVE_FP64 are added by the backend.
/// </summary>
public sealed record TuningResolution(OpenClOptions Options, IReadOnlyDictionary<string, int> WorkGroups, IReadOnlyList<TuningChoice> Choices, string Source,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> FamilyDefines)
{
    /// <summary>The defines of one family's program (a family outside <see cref="KernelFamilies"/>: the defines no family owns).</summary>
    public IReadOnlyDictionary<string, string> Defines(string? family) =>
        family is not null && FamilyDefines.TryGetValue(family, out var d) ? d : Unowned(Options);

    /// <summary>One integer tunable of one family (e.g. ("lincomb", "VW")); a define the family does not set is an ArgumentException.</summary>
    public int Value(string family, string define) =>
        Defines(family).TryGetValue(define, out var s) && int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
        : throw new ArgumentException($"kernel family '{family}' has no integer define {define}");

    /// <summary>One integer tunable of one family, false when the family does not set it or its value is not an integer.</summary>
    public bool TryValue(string family, string define, out int value)
    {
        value = 0;
        return Defines(family).TryGetValue(define, out var s) && int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>ExtraDefines that no family owns (test-only switches): they go to every program.</summary>
    internal static Dictionary<string, string> Unowned(OpenClOptions o) =>
        (o.ExtraDefines ?? new Dictionary<string, string>()).Where(kv => !KernelFamilies.IsOwned(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
}

/// <summary>
/// How the engine reads the tuning database. For each kernel family (<see cref="KernelFamilies"/>) it looks the device up
/// first in the user file (<see cref="OpenClOptions.TuningFile"/>, else $CLDIFF_TUNING), then in the shipped entries
/// (tuning/*.json embedded in the assembly); inside each, exact device -> same device under another driver -> platform
/// default -> vendor default -> global default (<see cref="TuningDatabase.Lookup(DeviceDescription, string, int, out string)"/>).
/// Values set explicitly in <see cref="OpenClOptions"/> (or in ExtraDefines) always win. Each family's entry sets that
/// family's defines only: the midpoint and lincomb families each keep their own VW (one program per family).
/// </summary>
public static class TuningResolver
{
    /// <summary>The tuning family of an OpenCL kernel name (null: not tuned, launches with the backend's WorkGroup).</summary>
    public static string? FamilyOf(string kernel) => KernelFamilies.FamilyOf(kernel);

    /// <summary>Extension point: puts a kernel (e.g. an MLP kernel) into a tuning family so that it launches with that family's WG.</summary>
    public static void RegisterKernel(string kernel, string family) => KernelFamilies.RegisterKernel(kernel, family);

    /// <summary>The user database path: options.TuningFile, else $CLDIFF_TUNING, else null.</summary>
    public static string? UserFile(OpenClOptions o)
    {
        if (!string.IsNullOrEmpty(o.TuningFile)) return o.TuningFile;
        var env = Environment.GetEnvironmentVariable("CLDIFF_TUNING");
        return string.IsNullOrWhiteSpace(env) ? null : env;
    }

    public static TuningResolution Resolve(ClDevice device, OpenClOptions o) => Resolve(DeviceDescription.From(device), o);

    /// <summary>The typed option of a define name (VW, WPT, NB, GVW, MW; null for the rest).</summary>
    static int? Typed(OpenClOptions o, string define) => define switch
    {
        "VW" => o.VectorWidth, "WPT" => o.WorkPerItem, "NB" => o.NoiseBlocks, "GVW" => o.ScoreVectorWidth, "MW" => o.MidpointVectors, _ => null,
    };

    /// <summary>Whether a tuned value is usable for its define (widths 1-16 powers of two, WG a power of two, MW &gt;= 0, WPT &gt;= 1).</summary>
    static bool Usable(string define, int v) => define switch
    {
        "WG" => v >= 1 && (v & (v - 1)) == 0,
        "VW" or "NB" or "GVW" => v is 1 or 2 or 4 or 8 or 16,
        "WPT" => v >= 1,
        "MW" => v >= 0,
        _ => true,
    };

    public static TuningResolution Resolve(DeviceDescription device, OpenClOptions o)
    {
        var wgs = new Dictionary<string, int>();
        var choices = new List<TuningChoice>();
        TuningDatabase? user = null;
        var path = UserFile(o);
        if (o.UseTuning && path is not null)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"tuning database {path} (OpenClOptions.TuningFile or $CLDIFF_TUNING) does not exist", path);
            user = TuningDatabase.Load(path);
        }
        var unowned = TuningResolution.Unowned(o);
        var defines = new Dictionary<string, IReadOnlyDictionary<string, string>>();
        foreach (var family in KernelFamilies.All)
        {
            var defs = new Dictionary<string, string>(unowned);
            foreach (var name in family.Defines)
                if (Typed(o, name) is int v) defs[name] = v.ToString(CultureInfo.InvariantCulture);
            if (o.UseTuning && !family.PerModel)
            {
                string level = "";
                var e = user?.Lookup(device, family.Name, o.TuningDim, out level);
                string src = $"user file {path}";
                if (e is null) { e = TuningDatabase.Shipped.Lookup(device, family.Name, o.TuningDim, out level); src = "shipped"; }
                if (e is not null)
                {
                    var used = new Dictionary<string, int>();
                    foreach (var (name, v) in e.Parameters)
                    {
                        if (o.IsExplicit(name) || !Usable(name, v)) continue;
                        if (name == "WG") wgs[family.Name] = v;
                        else defs[name] = v.ToString(CultureInfo.InvariantCulture);
                        used[name] = v;
                    }
                    choices.Add(new(family.Name, $"{src}, {level}, {e.Shape}", used));
                }
            }
            if (o.ExtraDefines is { } extra)
                foreach (var (k, v) in extra) if (family.Defines.Contains(k)) defs[k] = v;
            defines[family.Name] = defs;
        }
        string source = !o.UseTuning ? "off (built-in defaults and explicit options)"
            : choices.Count == 0 ? "built-in defaults (no database entry for this device)"
            : string.Join("; ", choices.Select(c => c.Source[..c.Source.LastIndexOf(',')]).Distinct());
        return new(o, wgs, choices, source, defines);
    }

    /// <summary>
    /// The database entry of one family for a device and dimension, with the same chain as <see cref="Resolve(DeviceDescription, OpenClOptions)"/>:
    /// user file (options.TuningFile, else $CLDIFF_TUNING), then shipped; exact device -> same device, other driver ->
    /// platform and type -> vendor -> global in each. Null (and source "") when tuning is off or there is no entry.
    /// Used at prepare time by per-model families (MLP).
    /// </summary>
    public static TuningEntry? Find(DeviceDescription device, OpenClOptions o, string family, int dim, out string source)
    {
        source = "";
        if (!o.UseTuning) return null;
        var path = UserFile(o);
        string level = "";
        if (path is not null)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"tuning database {path} (OpenClOptions.TuningFile or $CLDIFF_TUNING) does not exist", path);
            var e = TuningDatabase.Load(path).Lookup(device, family, dim, out level);
            if (e is not null) { source = $"user file {path}, {level}, {e.Shape}"; return e; }
        }
        var s = TuningDatabase.Shipped.Lookup(device, family, dim, out level);
        if (s is not null) source = $"shipped, {level}, {s.Shape}";
        return s;
    }

    /// <summary>The effective parameters per tuned family for display (`cldiff devices`): tuned, explicit or default values.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> Effective(TuningResolution r)
    {
        int Wg(string f) => r.WorkGroups.TryGetValue(f, out var w) ? w : r.Options.WorkGroup;
        Dictionary<string, int> Of(string family, params string[] names)
        {
            var d = new Dictionary<string, int> { ["WG"] = Wg(family) };
            foreach (var n in names) d[n] = r.Value(family, n);
            return d;
        }
        var rows = GmmRowsConfig.Of(r.Defines("gmm-rows"));
        return new Dictionary<string, IReadOnlyDictionary<string, int>>
        {
            ["gmm"] = Of("gmm", "GVW"),
            ["gmm-rows"] = new Dictionary<string, int> { ["GRW"] = rows.ItemsPerRow, ["GRV"] = rows.VectorWidth, ["GRR"] = rows.RowsPerGroup },   // GRD depends on the device type (GmmRowsConfig)
            ["midpoint"] = Of("midpoint", "VW", "MW"),
            ["langevin"] = Of("langevin", "NB"),
            ["lincomb"] = Of("lincomb", "VW", "WPT"),
        };
    }
}
