using System.Text.Json;
using ClDiffusion.Backends.OpenCL;

namespace ClDiffusion.Backends.OpenCL.Tuning;

/// <summary>
/// What the database lookup needs to know about a device: its identity (database key), its platform and type (the key
/// of the entries for every device of that kind, e.g. every PoCL CPU) and its limits. No OpenCL needed.
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

/// <summary>One tuned entry: best defines for a kernel family and shape class, with its measured time.</summary>
public sealed record TuningEntry(string Kernel, string Shape, Dictionary<string, int> Parameters, double Seconds);

/// <summary>
/// The tuning database the runtime reads: best entries only, per device key (vendor|name|driver|units), per platform and
/// device type ("platform:PLATFORM|TYPE", e.g. every CPU that PoCL drives, whatever its model), per vendor
/// ("vendor:NAME") and global ("*"). Lookup order: the exact device; the same device (vendor and name) under another
/// driver version or compute-unit count (a driver update keeps the tuned entry; the same unit count is preferred, then
/// the newest driver); the platform default; the vendor default; the global default. The tuner's history (every tried
/// candidate) is not part of it: it lives in the tooling's own file (docs/TUNING.md); a file that still carries the
/// old "Tried"/"Outcomes" members reads fine (they are ignored).
/// </summary>
public sealed class TuningDatabase
{
    public Dictionary<string, List<TuningEntry>> Devices { get; set; } = new();

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

    /// <summary>The parts of an exact device key (vendor|name|driver|units), or null for a platform, vendor or global key.</summary>
    public static (string Vendor, string Name, string Driver, int Units)? ParseDeviceKey(string key)
    {
        if (key == GlobalKey || key.StartsWith("vendor:", StringComparison.Ordinal) || key.StartsWith("platform:", StringComparison.Ordinal)) return null;
        var p = key.Split('|');
        if (p.Length < 4 || !int.TryParse(p[^1], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int units)) return null;
        return (p[0], string.Join("|", p[1..^2]), p[^2], units);
    }

    /// <summary>Driver versions compared by their numeric parts ("580.159.04" &gt; "575.51"), then as text.</summary>
    public static int CompareDrivers(string a, string b)
    {
        static long[] Parts(string s) => System.Text.RegularExpressions.Regex.Matches(s, "[0-9]+").Select(m => long.TryParse(m.Value, out var v) ? v : long.MaxValue).ToArray();
        var x = Parts(a); var y = Parts(b);
        for (int i = 0; i < Math.Min(x.Length, y.Length); i++) if (x[i] != y[i]) return x[i].CompareTo(y[i]);
        return x.Length != y.Length ? x.Length.CompareTo(y.Length) : string.CompareOrdinal(a, b);
    }

    /// <summary>The keys a device's entries are looked up under, best first, with the level each one is.</summary>
    public IEnumerable<(string Key, string Level)> KeysFor(DeviceDescription d)
    {
        yield return (d.Key, "exact device");
        var same = Devices.Keys.Where(k => k != d.Key)
            .Select(k => (Key: k, P: ParseDeviceKey(k)))
            .Where(x => x.P is { } p && p.Vendor == d.Vendor && p.Name == d.Name)
            .OrderByDescending(x => x.P!.Value.Units == d.ComputeUnits)
            .ThenByDescending(x => x.P!.Value.Driver, Comparer<string>.Create(CompareDrivers))
            .ThenBy(x => x.Key, StringComparer.Ordinal);
        foreach (var (k, p) in same)
            yield return (k, $"same device, tuned with driver {p!.Value.Driver}" + (p.Value.Units == d.ComputeUnits ? "" : $" on {p.Value.Units} compute units"));
        if (d.PlatformKey is { } pk) yield return (pk, "platform default");
        yield return (VendorKey(d.Vendor), "vendor default");
        yield return (GlobalKey, "global default");
    }

    public TuningEntry? Lookup(DeviceDescription d, string kernel, int dim) => Lookup(d, kernel, dim, out _);

    /// <summary>Lookup that also says which level matched: "exact device", "same device, tuned with driver X", "platform default", "vendor default" or "global default".</summary>
    public TuningEntry? Lookup(DeviceDescription d, string kernel, int dim, out string level)
    {
        string shape = KernelFamilies.ClassOf(kernel, dim);
        foreach (var (key, lv) in KeysFor(d))
            if (Devices.TryGetValue(key, out var l))
            {
                var e = l.FirstOrDefault(x => x.Kernel == kernel && x.Shape == shape) ?? l.FirstOrDefault(x => x.Kernel == kernel);
                if (e is not null) { level = lv; return e; }
            }
        level = "";
        return null;
    }

    /// <summary>Merges other into this (other wins on the same device, kernel and shape).</summary>
    public void Merge(TuningDatabase other)
    {
        foreach (var (k, l) in other.Devices) foreach (var e in l) Put(k, e);
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

    /// <summary>The names of the shipped database resources (tuning/*.json, embedded by ClDiffusion.csproj).</summary>
    public static IReadOnlyList<string> ShippedResources =>
        typeof(TuningDatabase).Assembly.GetManifestResourceNames().Where(n => n.StartsWith("tuning/", StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal))
            .OrderBy(n => n, StringComparer.Ordinal).ToArray();

    /// <summary>The text of one shipped resource.</summary>
    public static string ShippedText(string name)
    {
        using var s = typeof(TuningDatabase).Assembly.GetManifestResourceStream(name) ?? throw new FileNotFoundException($"no shipped tuning resource {name}");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    static readonly Lazy<TuningDatabase> shipped = new(() =>
    {
        var db = new TuningDatabase();
        foreach (var name in ShippedResources) db.Merge(Parse(ShippedText(name), name));
        return db;
    });
    /// <summary>The entries shipped in the assembly (tuning/*.json embedded by ClDiffusion.csproj).</summary>
    public static TuningDatabase Shipped => shipped.Value;
}

/// <summary>Source-generated JSON (the library is AOT compatible; the backend reads the database at start).</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(TuningDatabase))]
internal partial class TuningJsonContext : System.Text.Json.Serialization.JsonSerializerContext { }
