using System.Text.Json;
using ClDiffusion.Backends.OpenCL;

namespace ClDiffusion.Backends.OpenCL.Tuning;

/// <summary>
/// What the tuner needs to know about a device: its identity (database key), its platform and type (the key of the
/// entries for every device of that kind, e.g. every PoCL CPU) and its limits (constraints). No OpenCL needed.
/// </summary>
public sealed record DeviceDescription(string Vendor, string Name, string DriverVersion, int ComputeUnits, long MaxWorkGroupSize, long LocalMemoryBytes,
    string Platform = "", string Type = "")
{
    /// <summary>Exact identity: vendor | name | driver | compute units.</summary>
    public string Key => $"{Vendor}|{Name}|{DriverVersion}|{ComputeUnits}";

    /// <summary>The platform-and-type key ("platform:Portable Computing Language|cpu"), null when either is unknown.</summary>
    public string? PlatformKey => Platform.Length > 0 && Type.Length > 0 ? TuningDatabase.PlatformTypeKey(Platform, Type) : null;

    /// <summary>The description of an OpenCL device (queries its limits; no context is created).</summary>
    public static unsafe DeviceDescription From(ClDevice d)
    {
        ulong local = 0;
        try { ClApi.Api.GetDeviceInfo(d.Handle, Silk.NET.OpenCL.DeviceInfo.LocalMemSize, 8, &local, null); } catch (Exception) { local = 0; }
        string platform;
        try { platform = d.Platform.Name; } catch (OpenClException) { platform = ""; }
        return new(d.Vendor, d.Name, d.DriverVersion, d.ComputeUnits, d.MaxWorkGroupSize, (long)local, platform, d.TypeName);
    }
}

/// <summary>One tunable (a -D define) and its candidate values.</summary>
public sealed record TuningParameter(string Name, IReadOnlyList<int> Values);

/// <summary>
/// The parameter space of one kernel family: the defines it reads and a constraint on each combination given the
/// device (work-group limit, local memory, divisibility of the problem's shape).
/// </summary>
public sealed record KernelSpace(string Kernel, IReadOnlyList<TuningParameter> Parameters, Func<IReadOnlyDictionary<string, int>, DeviceDescription, int, bool> Valid)
{
    /// <summary>Shape class of a problem dimension for this family (null: <see cref="ShapeClass(int)"/> of d; the MLP family keys by hidden width).</summary>
    public Func<int, string>? Classes { get; init; }
    /// <summary>
    /// True for a family whose parameters are chosen when a model is prepared (the MLP kernels, per hidden width), not
    /// when the backend is built: <see cref="TuningResolver.Resolve(DeviceDescription, OpenClOptions)"/> skips it.
    /// </summary>
    public bool PerModel { get; init; }
    /// <summary>The shape class of dimension dim in this family.</summary>
    public string ShapeClassOf(int dim) => Classes?.Invoke(dim) ?? ShapeClass(dim);
    /// <summary>The shape class of dim for a kernel family by name (a family with no registered space: <see cref="ShapeClass(int)"/>).</summary>
    public static string ClassOf(string kernel, int dim) => (All.FirstOrDefault(k => k.Kernel == kernel)?.ShapeClassOf(dim)) ?? ShapeClass(dim);

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
    /// <summary>
    /// gmm-rows (cl/gmm_rows.cl, the mixture score with a work group per row): GRW items per row, GRV vector width, GRR
    /// rows per group; the group must fit the device, and its local memory (GRR (d + K GRW) floats, K = 8 as the
    /// benchmark's mixture) the device's local memory where the device reports it.
    /// </summary>
    public static KernelSpace GmmRows => new("gmm-rows", new[] { new TuningParameter("GRW", new[] { 1, 2, 4, 8, 16, 32, 64, 128, 256 }), new TuningParameter("GRV", Widths), new TuningParameter("GRR", new[] { 1, 2, 4, 8 }) },
        (c, d, dim) => c["GRW"] * c["GRR"] <= d.MaxWorkGroupSize && (d.LocalMemoryBytes <= 0 || 4L * c["GRR"] * (dim + 8L * c["GRW"]) <= d.LocalMemoryBytes));
    /// <summary>midpoint / lincomb family: WG, VW, MW (0 = whole row; MW VW columns must not exceed the row).</summary>
    public static KernelSpace Midpoint => new("midpoint", new[] { new TuningParameter("WG", Pow2WG), new TuningParameter("VW", Widths), new TuningParameter("MW", new[] { 0, 1, 2, 4, 8 }) },
        (c, d, dim) => WgFits(c, d) && dim % c["VW"] == 0 && c["MW"] * c["VW"] <= Math.Max(dim, 1));
    /// <summary>fused Langevin / noise: WG, NB (4 NB columns per work item, at most the row).</summary>
    public static KernelSpace Langevin => new("langevin", new[] { new TuningParameter("WG", Pow2WG), new TuningParameter("NB", Widths) },
        (c, d, dim) => WgFits(c, d) && dim % 4 == 0 && 4 * c["NB"] <= Math.Max(dim, 4));

    /// <summary>lincomb (the streaming kernels): WG, VW, WPT (the kernel strides over the rest, any VW is valid, the tail is scalar).</summary>
    public static KernelSpace Lincomb => new("lincomb", new[] { new TuningParameter("WG", Pow2WG), new TuningParameter("VW", Widths), new TuningParameter("WPT", new[] { 1, 2, 4, 8 }) },
        (c, d, dim) => WgFits(c, d));

    static readonly List<KernelSpace> extra = new();
    /// <summary>Adds the space of another kernel family (extension point: an MLP kernel registers its space here, with its benchmark in <see cref="TuningBenchmarks"/>).</summary>
    public static void Register(KernelSpace space) { lock (extra) { extra.RemoveAll(k => k.Kernel == space.Kernel); extra.Add(space); } }

    public static IReadOnlyList<KernelSpace> All { get { lock (extra) return new[] { Gmm, GmmRows, Midpoint, Langevin, Lincomb }.Concat(extra).ToArray(); } }
    public static KernelSpace ByName(string name) => All.FirstOrDefault(k => k.Kernel == name) ?? throw new ArgumentException($"no tuning space for kernel '{name}' ({string.Join(" | ", All.Select(k => k.Kernel))})");

    /// <summary>The database key of one candidate: "kernel shape-class NAME=V ..." in the space's parameter order.</summary>
    public string CandidateKey(string shapeClass, IReadOnlyDictionary<string, int> c) =>
        $"{Kernel} {shapeClass} " + string.Join(" ", Parameters.Where(p => c.ContainsKey(p.Name)).Select(p => $"{p.Name}={c[p.Name]}"));

    /// <summary>Candidates one grid step away (one parameter moved to the next or previous value of its list), valid ones only.</summary>
    public IEnumerable<IReadOnlyDictionary<string, int>> Neighbours(IReadOnlyDictionary<string, int> c, DeviceDescription device, int dim)
    {
        foreach (var p in Parameters)
        {
            int i = c.TryGetValue(p.Name, out var v) ? p.Values.ToList().IndexOf(v) : -1;
            foreach (int j in new[] { i - 1, i + 1 })
            {
                if (i < 0 || j < 0 || j >= p.Values.Count) continue;
                var n = new Dictionary<string, int>(c) { [p.Name] = p.Values[j] };
                if (Valid(n, device, dim)) yield return n;
            }
        }
    }

    /// <summary>Shape class of a dimension (the database keeps one best entry per kernel and class): "d<=16", "d<=64", ... </summary>
    public static string ShapeClass(int dim) => dim <= 16 ? "d<=16" : dim <= 64 ? "d<=64" : dim <= 256 ? "d<=256" : "d>256";
}

/// <summary>One tuned entry: best defines for a kernel and shape class, with its measured time.</summary>
public sealed record TuningEntry(string Kernel, string Shape, Dictionary<string, int> Parameters, double Seconds);

/// <summary>
/// The tuning database: per device key (vendor|name|driver|units), per platform and device type
/// ("platform:PLATFORM|TYPE", e.g. every CPU that PoCL drives, whatever its model), per vendor ("vendor:NAME") and global
/// ("*") entries. Lookup falls back exact device -> platform default -> vendor default -> global default, so an entry
/// measured on one model is preferred on that model and the platform's entry serves the others. Also keeps the keys of
/// tried candidates (resumable runs; always under the exact device that ran them).
/// </summary>
public sealed class TuningDatabase
{
    public Dictionary<string, List<TuningEntry>> Devices { get; set; } = new();
    public Dictionary<string, List<string>> Tried { get; set; } = new();
    /// <summary>Outcome of every tried candidate: device key -> candidate key -> result (OK with its time, or the failure reason).</summary>
    public Dictionary<string, Dictionary<string, TriedOutcome>> Outcomes { get; set; } = new();

    /// <summary>Records a tried candidate (Tried and Outcomes).</summary>
    public void Record(string deviceKey, string candidateKey, TriedOutcome outcome)
    {
        if (!Tried.TryGetValue(deviceKey, out var t)) Tried[deviceKey] = t = new();
        if (!t.Contains(candidateKey)) t.Add(candidateKey);
        if (!Outcomes.TryGetValue(deviceKey, out var o)) Outcomes[deviceKey] = o = new();
        o[candidateKey] = outcome;
    }

    public bool WasTried(string deviceKey, string candidateKey) => Tried.TryGetValue(deviceKey, out var t) && t.Contains(candidateKey);

    public TriedOutcome? OutcomeOf(string deviceKey, string candidateKey) =>
        Outcomes.TryGetValue(deviceKey, out var o) && o.TryGetValue(candidateKey, out var r) ? r : null;

    public static string VendorKey(string vendor) => "vendor:" + vendor;
    /// <summary>The key of the entries for every device of one type on one platform: "platform:Portable Computing Language|cpu".</summary>
    public static string PlatformTypeKey(string platform, string type) => $"platform:{platform}|{type}";
    public const string GlobalKey = "*";

    public void Put(string deviceKey, TuningEntry e)
    {
        if (!Devices.TryGetValue(deviceKey, out var l)) Devices[deviceKey] = l = new();
        l.RemoveAll(x => x.Kernel == e.Kernel && x.Shape == e.Shape);
        l.Add(e);
    }

    public TuningEntry? Lookup(DeviceDescription d, string kernel, int dim) => Lookup(d, kernel, dim, out _);

    /// <summary>Lookup that also says which level matched: "exact device", "platform default", "vendor default" or "global default".</summary>
    public TuningEntry? Lookup(DeviceDescription d, string kernel, int dim, out string level)
    {
        string shape = KernelSpace.ClassOf(kernel, dim);
        foreach (var (key, lv) in new[] { (d.Key, "exact device"), (d.PlatformKey, "platform default"), (VendorKey(d.Vendor), "vendor default"), (GlobalKey, "global default") })
            if (key is not null && Devices.TryGetValue(key, out var l))
            {
                var e = l.FirstOrDefault(x => x.Kernel == kernel && x.Shape == shape) ?? l.FirstOrDefault(x => x.Kernel == kernel);
                if (e is not null) { level = lv; return e; }
            }
        level = "";
        return null;
    }

    /// <summary>Merges other into this (other wins on the same device, kernel and shape): shipped entries first, then the user file.</summary>
    public void Merge(TuningDatabase other)
    {
        foreach (var (k, l) in other.Devices) foreach (var e in l) Put(k, e);
        foreach (var (k, l) in other.Tried) { if (!Tried.TryGetValue(k, out var t)) Tried[k] = t = new(); t.AddRange(l.Except(t).ToList()); }
        foreach (var (k, o) in other.Outcomes) { if (!Outcomes.TryGetValue(k, out var m)) Outcomes[k] = m = new(); foreach (var (c, r) in o) m[c] = r; }
    }

    public string ToJson() => JsonSerializer.Serialize(this, TuningJsonContext.Default.TuningDatabase);
    public static TuningDatabase FromJson(string json) => JsonSerializer.Deserialize(json, TuningJsonContext.Default.TuningDatabase) ?? new();
    /// <summary>Writes the database atomically (<see cref="ClDiffusion.IO.AtomicFile"/>).</summary>
    public void Save(string path) => ClDiffusion.IO.AtomicFile.Write(path, s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(ToJson()); });
    public static TuningDatabase Load(string path) => File.Exists(path) ? Parse(File.ReadAllText(path), path) : new();

    /// <summary>Parses a database file; malformed JSON is an InvalidDataException naming the file.</summary>
    public static TuningDatabase Parse(string json, string what)
    {
        try { return FromJson(json); }
        catch (JsonException e) { throw new InvalidDataException($"tuning database {what} is not valid JSON: {e.Message}", e); }
    }

    static readonly Lazy<TuningDatabase> shipped = new(() =>
    {
        var db = new TuningDatabase();
        var asm = typeof(TuningDatabase).Assembly;
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith("tuning/", StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal)).OrderBy(n => n, StringComparer.Ordinal))
        {
            using var s = asm.GetManifestResourceStream(name)!;
            using var r = new StreamReader(s);
            var one = Parse(r.ReadToEnd(), name);
            one.Tried.Clear(); one.Outcomes.Clear();   // the engine needs the entries only
            db.Merge(one);
        }
        return db;
    });
    /// <summary>The entries shipped in the assembly (tuning/*.json embedded by ClDiffusion.csproj).</summary>
    public static TuningDatabase Shipped => shipped.Value;
}

/// <summary>Source-generated JSON (the library is AOT compatible; the backend reads the database at start).</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(TuningDatabase))]
internal partial class TuningJsonContext : System.Text.Json.Serialization.JsonSerializerContext { }

/// <summary>The result of one tried candidate: Ok with its median seconds, or the failure reason in Status.</summary>
public sealed record TriedOutcome(bool Ok, double Seconds, string Status);
