using ClDiffusion.Backends.OpenCL;

namespace ClDiffusion.Backends.OpenCL.Tuning;

/// <summary>The parameters one kernel family uses on a device and where they came from.</summary>
public sealed record TuningChoice(string Kernel, string Source, IReadOnlyDictionary<string, int> Parameters)
{
    public override string ToString() => $"{Kernel} {string.Join(" ", Parameters.Select(p => $"{p.Key}={p.Value}"))} ({Source})";
}

/// <summary>The options an <see cref="OpenClBackend"/> runs with after the database lookup.</summary>
public sealed record TuningResolution(OpenClOptions Options, IReadOnlyDictionary<string, int> WorkGroups, IReadOnlyList<TuningChoice> Choices, string Source);

/// <summary>
/// How the engine reads the tuning database. For each kernel family (gmm, langevin, midpoint, lincomb, and any family
/// registered with <see cref="KernelSpace.Register"/>) it looks the device up first in the user file
/// (<see cref="OpenClOptions.TuningFile"/>, else $CLDIFF_TUNING), then in the shipped entries (tuning/*.json embedded in the
/// assembly); inside each, exact device -> platform default (platform and device type) -> vendor default -> global default (<see cref="TuningDatabase.Lookup(DeviceDescription, string, int, out string)"/>).
/// Values set explicitly in <see cref="OpenClOptions"/> (or in ExtraDefines) always win. The sampling program is compiled
/// once for all families, so VW is shared by the midpoint and lincomb families: the midpoint entry's VW wins (applied last).
/// WG is per family (each launch uses its family's work-group size). Parameters that are not typed options go to ExtraDefines.
/// </summary>
public static class TuningResolver
{
    /// <summary>Order in which entries are applied (later ones win on shared defines).</summary>
    static readonly string[] Order = { "gmm", "langevin", "lincomb", "midpoint" };

    static readonly Dictionary<string, string> families = new()
    {
        ["gmm_score"] = "gmm", ["gmm_score_vec"] = "gmm", ["gmm_logdet"] = "gmm", ["gmm_inverse_var"] = "gmm", ["gmm_score_rows"] = "gmm-rows",
        ["midpoint_predict"] = "midpoint", ["picard_sums"] = "midpoint", ["midpoint_final"] = "midpoint",
        ["langevin_blocks"] = "langevin", ["langevin_scan"] = "langevin", ["normal_blocks"] = "langevin",
        ["lincomb"] = "lincomb", ["copy_vec"] = "lincomb",
    };

    /// <summary>The tuning family of an OpenCL kernel name (null: not tuned, launches with the backend's WorkGroup).</summary>
    public static string? FamilyOf(string kernel) { lock (families) return families.TryGetValue(kernel, out var f) ? f : null; }

    /// <summary>Extension point: puts a kernel (e.g. an MLP kernel) into a tuning family so that it launches with that family's WG.</summary>
    public static void RegisterKernel(string kernel, string family) { lock (families) families[kernel] = family; }

    /// <summary>The user database path: options.TuningFile, else $CLDIFF_TUNING, else null.</summary>
    public static string? UserFile(OpenClOptions o)
    {
        if (!string.IsNullOrEmpty(o.TuningFile)) return o.TuningFile;
        var env = Environment.GetEnvironmentVariable("CLDIFF_TUNING");
        return string.IsNullOrWhiteSpace(env) ? null : env;
    }

    public static TuningResolution Resolve(ClDevice device, OpenClOptions o) => Resolve(DeviceDescription.From(device), o);

    public static TuningResolution Resolve(DeviceDescription device, OpenClOptions o)
    {
        var wgs = new Dictionary<string, int>();
        if (!o.UseTuning) return new(o, wgs, Array.Empty<TuningChoice>(), "off (built-in defaults and explicit options)");
        var path = UserFile(o);
        TuningDatabase? user = null;
        if (path is not null)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"tuning database {path} (OpenClOptions.TuningFile or $CLDIFF_TUNING) does not exist", path);
            user = TuningDatabase.Load(path);
        }
        var shipped = TuningDatabase.Shipped;
        var choices = new List<TuningChoice>();
        var extra = o.ExtraDefines is null ? new Dictionary<string, string>() : new Dictionary<string, string>(o.ExtraDefines);
        int extraCount = extra.Count;
        var opt = o;
        var families = Order.Concat(KernelSpace.All.Where(k => !k.PerModel).Select(k => k.Kernel).Where(k => !Order.Contains(k)));
        foreach (var family in families)
        {
            string level = "";
            var e = user?.Lookup(device, family, o.TuningDim, out level);
            string src = $"user file {path}";
            if (e is null) { e = shipped.Lookup(device, family, o.TuningDim, out level); src = "shipped"; }
            if (e is null) continue;
            var used = new Dictionary<string, int>();
            foreach (var (name, v) in e.Parameters)
            {
                if (o.IsExplicit(name)) continue;
                bool width = v is 1 or 2 or 4 or 8 or 16;
                switch (name)
                {
                    case "WG": if (v >= 1 && (v & (v - 1)) == 0) { wgs[family] = v; used[name] = v; } break;
                    case "VW": if (width) { opt = opt with { VectorWidth = v }; used[name] = v; } break;
                    case "WPT": if (v >= 1) { opt = opt with { WorkPerItem = v }; used[name] = v; } break;
                    case "NB": if (width) { opt = opt with { NoiseBlocks = v }; used[name] = v; } break;
                    case "GVW": if (width) { opt = opt with { ScoreVectorWidth = v }; used[name] = v; } break;
                    case "MW": if (v >= 0) { opt = opt with { MidpointVectors = v }; used[name] = v; } break;
                    default: extra[name] = v.ToString(); used[name] = v; break;
                }
            }
            choices.Add(new(family, $"{src}, {level}, {e.Shape}", used));
        }
        if (extra.Count != extraCount) opt = opt with { ExtraDefines = extra };
        string source = choices.Count == 0 ? "built-in defaults (no database entry for this device)"
            : string.Join("; ", choices.Select(c => c.Source[..c.Source.LastIndexOf(',')]).Distinct());
        return new(opt, wgs, choices, source);
    }

    /// <summary>
    /// The database entry of one family for a device and dimension, with the same chain as <see cref="Resolve(DeviceDescription, OpenClOptions)"/>:
    /// user file (options.TuningFile, else $CLDIFF_TUNING), then shipped; exact device -> platform and type -> vendor -> global in each.
    /// Null (and source "") when tuning is off or there is no entry. Used at prepare time by per-model families (MLP).
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

    static Dictionary<string, int> RowsOf(OpenClOptions o)
    {
        var c = GmmRowsConfig.Of(o.ExtraDefines ?? new Dictionary<string, string>());
        return new() { ["GRW"] = c.ItemsPerRow, ["GRV"] = c.VectorWidth, ["GRR"] = c.RowsPerGroup };   // GRD depends on the device type (GmmRowsConfig)
    }

    /// <summary>The effective parameters per family for display (`cldiff devices`): tuned, explicit or default values.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> Effective(TuningResolution r)
    {
        var o = r.Options;
        int Wg(string f) => r.WorkGroups.TryGetValue(f, out var w) ? w : o.WorkGroup;
        return new Dictionary<string, IReadOnlyDictionary<string, int>>
        {
            ["gmm"] = new Dictionary<string, int> { ["WG"] = Wg("gmm"), ["GVW"] = o.ScoreVectorWidth },
            ["gmm-rows"] = RowsOf(o),
            ["midpoint"] = new Dictionary<string, int> { ["WG"] = Wg("midpoint"), ["VW"] = o.VectorWidth, ["MW"] = o.MidpointVectors },
            ["langevin"] = new Dictionary<string, int> { ["WG"] = Wg("langevin"), ["NB"] = o.NoiseBlocks },
            ["lincomb"] = new Dictionary<string, int> { ["WG"] = Wg("lincomb"), ["VW"] = o.VectorWidth, ["WPT"] = o.WorkPerItem },
        };
    }
}
