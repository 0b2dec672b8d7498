using System.Text.Json;
using System.Text.Json.Nodes;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Backends.OpenCL.Tuning;

namespace ClDiffusion.Tooling.OpenCL;

/// <summary>One tunable (a -D define) and its candidate values.</summary>
public sealed record TuningParameter(string Name, IReadOnlyList<int> Values);

/// <summary>
/// The tuner's parameter space of one kernel family: the defines it searches and a constraint on each combination given
/// the device (work-group limit, local memory, divisibility of the problem's shape), its enumeration and its neighbour
/// moves. Tooling only: the runtime reads best entries (<see cref="TuningDatabase"/>) and knows each family's defines
/// (<see cref="KernelFamilies"/>), never a search space.
/// </summary>
public sealed record KernelSpace(string Kernel, IReadOnlyList<TuningParameter> Parameters, Func<IReadOnlyDictionary<string, int>, DeviceDescription, int, bool> Valid)
{
    /// <summary>Shape class of a problem size in this family (the runtime's family table: d classes, the MLP family by hidden width).</summary>
    public string ShapeClassOf(int dim) => KernelFamilies.ClassOf(Kernel, dim);
    /// <summary>True for a family chosen when a model is prepared (MLP), not when the backend is built.</summary>
    public bool PerModel => KernelFamilies.Find(Kernel)?.PerModel ?? false;
    /// <summary>The shape class of dim for a kernel family by name.</summary>
    public static string ClassOf(string kernel, int dim) => KernelFamilies.ClassOf(kernel, dim);

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
    /// <summary>midpoint family: WG, VW, MW (0 = whole row; MW VW columns must not exceed the row).</summary>
    public static KernelSpace Midpoint => new("midpoint", new[] { new TuningParameter("WG", Pow2WG), new TuningParameter("VW", Widths), new TuningParameter("MW", new[] { 0, 1, 2, 4, 8 }) },
        (c, d, dim) => WgFits(c, d) && dim % c["VW"] == 0 && c["MW"] * c["VW"] <= Math.Max(dim, 1));
    /// <summary>fused Langevin / noise: WG, NB (4 NB columns per work item, at most the row).</summary>
    public static KernelSpace Langevin => new("langevin", new[] { new TuningParameter("WG", Pow2WG), new TuningParameter("NB", Widths) },
        (c, d, dim) => WgFits(c, d) && dim % 4 == 0 && 4 * c["NB"] <= Math.Max(dim, 4));
    /// <summary>lincomb (the streaming kernels): WG, VW, WPT (the kernel strides over the rest, any VW is valid, the tail is scalar).</summary>
    public static KernelSpace Lincomb => new("lincomb", new[] { new TuningParameter("WG", Pow2WG), new TuningParameter("VW", Widths), new TuningParameter("WPT", new[] { 1, 2, 4, 8 }) },
        (c, d, dim) => WgFits(c, d));

    /// <summary>The "mlp" space: tiles that divide as <see cref="MlpKernelConfig.Validate"/> requires and fit the device (<see cref="MlpTuning.Fits"/>).</summary>
    public static KernelSpace Mlp { get; } = new(MlpTuning.Family, new[]
        {
            new TuningParameter("MWG", new[] { 4, 8, 16, 32, 64, 128 }),
            new TuningParameter("NWG", new[] { 16, 32, 64, 128 }),
            new TuningParameter("KWG", new[] { 8, 16, 32 }),
            new TuningParameter("MWI", new[] { 1, 2, 4, 8 }),
            new TuningParameter("NWI", new[] { 1, 2, 4, 8, 16, 32, 64 }),
            new TuningParameter("VWM", new[] { 1, 2, 4 }),
            new TuningParameter("VWN", new[] { 1, 2, 4, 8, 16 }),
            new TuningParameter("MLP_LOCAL", new[] { 0, 1 }),
            new TuningParameter("MLP_DB", new[] { 0, 1 }),
            new TuningParameter("MLP_FMA", new[] { 1, 0 }),
            // fused kernel on (networks of width <= 256) or off; its MLPF_RB and MLPF_WGS are set through ExtraDefines
            // (each grid value multiplies the space, which the tuner and its tests enumerate)
            new TuningParameter("MLPF_MAXW", new[] { 0, 256 }),
        },
        (c, d, width) => MlpTuning.Fits(MlpTuning.ToConfig(c), d));

    static readonly List<KernelSpace> extra = new();
    /// <summary>Adds the space of another kernel family (extension point, with its benchmark in <see cref="TuningBenchmarks"/> and its defines in <see cref="KernelFamilies"/>).</summary>
    public static void Register(KernelSpace space) { lock (extra) { extra.RemoveAll(k => k.Kernel == space.Kernel); extra.Add(space); } }

    public static IReadOnlyList<KernelSpace> All
    {
        get { lock (extra) { var b = new[] { Gmm, GmmRows, Midpoint, Langevin, Lincomb, Mlp }.Where(s => extra.All(e => e.Kernel != s.Kernel)); return b.Concat(extra).ToArray(); } }
    }
    public static KernelSpace ByName(string name) => All.FirstOrDefault(k => k.Kernel == name) ?? throw new ArgumentException($"no tuning space for kernel '{name}' ({string.Join(" | ", All.Select(k => k.Kernel))})");

    /// <summary>The history key of one candidate: "kernel shape-class NAME=V ..." in the space's parameter order.</summary>
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

    /// <summary>Shape class of a dimension: "d&lt;=16", "d&lt;=64", ... (<see cref="KernelFamilies.ShapeClass(int)"/>).</summary>
    public static string ShapeClass(int dim) => KernelFamilies.ShapeClass(dim);
}

/// <summary>The result of one tried candidate: Ok with its median seconds, or the failure reason in Status.</summary>
public sealed record TriedOutcome(bool Ok, double Seconds, string Status);

/// <summary>
/// The tuner's history: every candidate tried per exact device key, with its outcome, so that a run resumes where the
/// last one stopped and never measures a candidate twice. Kept in its own file beside the database (`cldiff tune --out
/// DB.json` writes DB.history.json; <see cref="PathFor"/>), never read by the runtime. A database written before the
/// split (with "Tried"/"Outcomes" members) is read as history too (<see cref="FromLegacyDatabase"/>).
/// </summary>
public sealed class TuningHistory
{
    public Dictionary<string, List<string>> Tried { get; set; } = new();
    /// <summary>Outcome of every tried candidate: device key -> candidate key -> result (OK with its time, or the failure reason).</summary>
    public Dictionary<string, Dictionary<string, TriedOutcome>> Outcomes { get; set; } = new();

    /// <summary>The history file of a database: DB.json -> DB.history.json (another extension: DB.ext.history.json).</summary>
    public static string PathFor(string databasePath) =>
        databasePath.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? databasePath[..^5] + ".history.json" : databasePath + ".history.json";

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

    /// <summary>Merges other into this (other's outcome wins for the same candidate).</summary>
    public void Merge(TuningHistory other)
    {
        foreach (var (k, l) in other.Tried) { if (!Tried.TryGetValue(k, out var t)) Tried[k] = t = new(); t.AddRange(l.Except(t).ToList()); }
        foreach (var (k, o) in other.Outcomes) { if (!Outcomes.TryGetValue(k, out var m)) Outcomes[k] = m = new(); foreach (var (c, r) in o) m[c] = r; }
    }

    public bool IsEmpty => Tried.Count == 0 && Outcomes.Count == 0;

    public string ToJson() => JsonSerializer.Serialize(this, TuningHistoryJsonContext.Default.TuningHistory);
    public static TuningHistory FromJson(string json) => JsonSerializer.Deserialize(json, TuningHistoryJsonContext.Default.TuningHistory) ?? new();
    /// <summary>Writes the history atomically.</summary>
    public void Save(string path) => ClDiffusion.IO.AtomicFile.Write(path, s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(ToJson()); });

    /// <summary>Reads a history file (missing: empty); malformed JSON is an InvalidDataException naming the file.</summary>
    public static TuningHistory Load(string path)
    {
        if (!File.Exists(path)) return new();
        try { return FromJson(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"tuning history {path} is not valid JSON: {e.Message}", e); }
    }

    /// <summary>The history a database file written before the split carries in its "Tried" and "Outcomes" members (empty when none or no file).</summary>
    public static TuningHistory FromLegacyDatabase(string databasePath)
    {
        if (!File.Exists(databasePath)) return new();
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(databasePath)) as JsonObject;
            if (node is null || (!node.ContainsKey("Tried") && !node.ContainsKey("Outcomes"))) return new();
            var h = new JsonObject();
            if (node["Tried"] is { } t) h["Tried"] = t.DeepClone();
            if (node["Outcomes"] is { } o) h["Outcomes"] = o.DeepClone();
            return FromJson(h.ToJsonString());
        }
        catch (JsonException e) { throw new InvalidDataException($"tuning database {databasePath} is not valid JSON: {e.Message}", e); }
    }

    /// <summary>The history of a database: its history file, merged over what an older database file itself still carries.</summary>
    public static TuningHistory LoadFor(string databasePath)
    {
        var h = FromLegacyDatabase(databasePath);
        h.Merge(Load(PathFor(databasePath)));
        return h;
    }
}

/// <summary>Source-generated JSON for the history file.</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(TuningHistory))]
internal partial class TuningHistoryJsonContext : System.Text.Json.Serialization.JsonSerializerContext { }
