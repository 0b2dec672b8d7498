using System.Text.Json;

namespace ClDiffusion.Tuning;

/// <summary>What the tuner needs to know about a device: its identity (database key) and its limits (constraints). No OpenCL needed.</summary>
public sealed record DeviceDescription(string Vendor, string Name, string DriverVersion, int ComputeUnits, long MaxWorkGroupSize, long LocalMemoryBytes)
{
    /// <summary>Exact identity: vendor | name | driver | compute units.</summary>
    public string Key => $"{Vendor}|{Name}|{DriverVersion}|{ComputeUnits}";
}

/// <summary>One tunable (a -D define) and its candidate values.</summary>
public sealed record TuningParameter(string Name, IReadOnlyList<int> Values);

/// <summary>
/// The parameter space of one kernel family: the defines it reads and a constraint on each combination given the
/// device (work-group limit, local memory, divisibility of the problem's shape).
/// </summary>
public sealed record KernelSpace(string Kernel, IReadOnlyList<TuningParameter> Parameters, Func<IReadOnlyDictionary<string, int>, DeviceDescription, int, bool> Valid)
{
    /// <summary>Every valid combination for a device and a problem dimension d, in a fixed order.</summary>
    public IEnumerable<IReadOnlyDictionary<string, int>> Enumerate(DeviceDescription device, int dim)
    {
        IEnumerable<Dictionary<string, int>> all = new[] { new Dictionary<string, int>() };
        foreach (var p in Parameters)
            all = all.SelectMany(c => p.Values.Select(v => new Dictionary<string, int>(c) { [p.Name] = v }));
        foreach (var c in all) if (Valid(c, device, dim)) yield return c;
    }

    static readonly int[] Pow2WG = { 16, 32, 64, 128, 256, 512, 1024 };
    static readonly int[] Widths = { 1, 2, 4, 8, 16 };
    static bool WgFits(IReadOnlyDictionary<string, int> c, DeviceDescription d) => c["WG"] <= d.MaxWorkGroupSize;

    /// <summary>gmm-score: WG, GVW (must divide d for the vectorised kernel; KMAX private floats).</summary>
    public static KernelSpace Gmm => new("gmm", new[] { new TuningParameter("WG", Pow2WG), new TuningParameter("GVW", Widths) },
        (c, d, dim) => WgFits(c, d) && dim % c["GVW"] == 0);
    /// <summary>midpoint / lincomb family: WG, VW, MW (0 = whole row; MW VW columns must not exceed the row).</summary>
    public static KernelSpace Midpoint => new("midpoint", new[] { new TuningParameter("WG", Pow2WG), new TuningParameter("VW", Widths), new TuningParameter("MW", new[] { 0, 1, 2, 4, 8 }) },
        (c, d, dim) => WgFits(c, d) && dim % c["VW"] == 0 && c["MW"] * c["VW"] <= Math.Max(dim, 1));
    /// <summary>fused Langevin / noise: WG, NB (4 NB columns per work item, at most the row).</summary>
    public static KernelSpace Langevin => new("langevin", new[] { new TuningParameter("WG", Pow2WG), new TuningParameter("NB", Widths) },
        (c, d, dim) => WgFits(c, d) && dim % 4 == 0 && 4 * c["NB"] <= Math.Max(dim, 4));

    public static IReadOnlyList<KernelSpace> All => new[] { Gmm, Midpoint, Langevin };
    public static KernelSpace ByName(string name) => All.FirstOrDefault(k => k.Kernel == name) ?? throw new ArgumentException($"no tuning space for kernel '{name}' (gmm | midpoint | langevin)");

    /// <summary>Shape class of a dimension (the database keeps one best entry per kernel and class): "d<=16", "d<=64", ... </summary>
    public static string ShapeClass(int dim) => dim <= 16 ? "d<=16" : dim <= 64 ? "d<=64" : dim <= 256 ? "d<=256" : "d>256";
}

/// <summary>One tuned entry: best defines for a kernel and shape class, with its measured time.</summary>
public sealed record TuningEntry(string Kernel, string Shape, Dictionary<string, int> Parameters, double Seconds);

/// <summary>
/// The tuning database: per device key (vendor|name|driver|units), per vendor ("vendor:NAME") and global ("*") entries.
/// Lookup falls back exact device -> vendor default -> global default. Also keeps the keys of tried candidates (resumable runs).
/// </summary>
public sealed class TuningDatabase
{
    public Dictionary<string, List<TuningEntry>> Devices { get; set; } = new();
    public Dictionary<string, List<string>> Tried { get; set; } = new();

    public static string VendorKey(string vendor) => "vendor:" + vendor;
    public const string GlobalKey = "*";

    public void Put(string deviceKey, TuningEntry e)
    {
        if (!Devices.TryGetValue(deviceKey, out var l)) Devices[deviceKey] = l = new();
        l.RemoveAll(x => x.Kernel == e.Kernel && x.Shape == e.Shape);
        l.Add(e);
    }

    public TuningEntry? Lookup(DeviceDescription d, string kernel, int dim)
    {
        string shape = KernelSpace.ShapeClass(dim);
        foreach (var key in new[] { d.Key, VendorKey(d.Vendor), GlobalKey })
            if (Devices.TryGetValue(key, out var l))
            {
                var e = l.FirstOrDefault(x => x.Kernel == kernel && x.Shape == shape) ?? l.FirstOrDefault(x => x.Kernel == kernel);
                if (e is not null) return e;
            }
        return null;
    }

    /// <summary>Merges other into this (other wins on the same device, kernel and shape): shipped entries first, then the user file.</summary>
    public void Merge(TuningDatabase other)
    {
        foreach (var (k, l) in other.Devices) foreach (var e in l) Put(k, e);
        foreach (var (k, l) in other.Tried) { if (!Tried.TryGetValue(k, out var t)) Tried[k] = t = new(); t.AddRange(l.Except(t)); }
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static TuningDatabase FromJson(string json) => JsonSerializer.Deserialize<TuningDatabase>(json) ?? new();
    public void Save(string path) { var tmp = path + ".tmp"; File.WriteAllText(tmp, ToJson()); File.Move(tmp, path, true); }
    public static TuningDatabase Load(string path) => File.Exists(path) ? FromJson(File.ReadAllText(path)) : new();
}
