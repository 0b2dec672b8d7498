using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ClDiffusion.Scheduling;

/// <summary>
/// What makes two shards parts of the same run: every parameter that changes the samples (seed, sampler, sampler
/// options, model and its content, n, first sample, shard count), each as canonical text under a name. Parameters that
/// do not change the samples (device, batch, streams) are left out, so a rerun on another machine still matches.
/// </summary>
public sealed class RunIdentity
{
    public IReadOnlyDictionary<string, string> Values { get; }

    public RunIdentity(IEnumerable<KeyValuePair<string, string>> values)
    {
        var d = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in values)
            if (!d.TryAdd(k, v)) throw new ArgumentException($"run identity: '{k}' given twice");
        Values = d;
    }

    /// <summary>The first difference as "NAME: A vs B" (names in ordinal order), or null when the runs are the same.</summary>
    public static string? Difference(RunIdentity a, RunIdentity b)
    {
        foreach (var k in a.Values.Keys.Union(b.Values.Keys).Order(StringComparer.Ordinal))
        {
            string? x = a.Values.GetValueOrDefault(k), y = b.Values.GetValueOrDefault(k);
            if (x != y) return $"{k}: {x ?? "(absent)"} vs {y ?? "(absent)"}";
        }
        return null;
    }

    /// <summary>Canonical text of a value: invariant culture, round-trip doubles, lower-case booleans, null as "null".</summary>
    public static string Text(object? v) => v switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "null",
    };
}

/// <summary>
/// The record written beside a finished shard (<c>FILE.npy.run.json</c>): the run it belongs to, which shard it is, and
/// the .npy's rows, columns and byte length. It is written atomically after the .npy is in place and deleted before a
/// shard is redone, so a record that exists describes a complete file: a crash between the two renames leaves a .npy
/// without a record, which counts as missing. <see cref="Check"/> decides whether a shard can be skipped.
/// </summary>
public sealed record ShardRecord(RunIdentity Run, Shard Shard, long FirstRow, long Rows, int Cols, long NpyBytes)
{
    public const string Format = "cldiff-shard/1";
    public const string Suffix = ".run.json";

    public static string PathFor(string npy) => npy + Suffix;

    public string ToJson()
    {
        var run = new JsonObject();
        foreach (var (k, v) in Run.Values) run[k] = v;
        var o = new JsonObject
        {
            ["format"] = Format, ["shard"] = Shard.ToString(), ["first_row"] = FirstRow, ["rows"] = Rows, ["cols"] = Cols,
            ["npy_bytes"] = NpyBytes, ["run"] = run,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Reads a record; an <see cref="InvalidDataException"/> naming the file and the problem when it is malformed.</summary>
    public static ShardRecord Read(string path)
    {
        JsonNode? n;
        try { n = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a shard record (bad JSON: {e.Message})"); }
        try
        {
            if (n?["format"]?.GetValue<string>() != Format) throw new InvalidDataException($"{path}: not a shard record (format is not '{Format}')");
            var run = n["run"]?.AsObject() ?? throw new InvalidDataException($"{path}: shard record has no 'run'");
            var id = new RunIdentity(run.Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value?.GetValue<string>() ?? "null")));
            return new ShardRecord(id, Shard.Parse(n["shard"]!.GetValue<string>()), n["first_row"]!.GetValue<long>(), n["rows"]!.GetValue<long>(),
                n["cols"]!.GetValue<int>(), n["npy_bytes"]!.GetValue<long>());
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: malformed shard record ({e.Message})");
        }
    }

    /// <summary>Writes the record of `npy` atomically (after the .npy itself is complete).</summary>
    public static void Write(string npy, ShardRecord r)
    {
        string text = r.ToJson();
        OutputFile.Write(PathFor(npy), s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(text); });
    }

    /// <summary>Deletes the record of `npy` (before a shard is redone, so a half-done redo is never taken for complete).</summary>
    public static void Invalidate(string npy)
    {
        string p = PathFor(npy);
        if (File.Exists(p)) File.Delete(p);
    }

    /// <summary>
    /// Null when `npy` is a complete shard of the expected run (its record matches `expected` in run, shard, rows and
    /// columns, and the .npy's header and byte length match the record); otherwise why it must be (re)done.
    /// </summary>
    public static string? WhyRedo(string npy, ShardRecord expected)
    {
        if (!File.Exists(npy)) return "no output file yet";
        string rp = PathFor(npy);
        if (!File.Exists(rp)) return $"{npy} has no run record {Path.GetFileName(rp)} (an unfinished or older write)";
        ShardRecord r;
        try { r = Read(rp); }
        catch (InvalidDataException e) { return e.Message; }
        catch (IOException e) { return $"{rp}: {e.Message}"; }
        if (RunIdentity.Difference(r.Run, expected.Run) is { } diff) return $"it is from a different run ({diff}; recorded vs asked)";
        if (r.Shard != expected.Shard) return $"it is shard {r.Shard}, not {expected.Shard}";
        if (r.FirstRow != expected.FirstRow || r.Rows != expected.Rows || r.Cols != expected.Cols)
            return $"its record says rows [{r.FirstRow}, {r.FirstRow + r.Rows}) x {r.Cols}, expected [{expected.FirstRow}, {expected.FirstRow + expected.Rows}) x {expected.Cols}";
        return WhyFileDiffers(npy, r);
    }

    /// <summary>Null when the .npy's header (float32, shape) and byte length match the record, else the mismatch.</summary>
    public static string? WhyFileDiffers(string npy, ShardRecord r)
    {
        try
        {
            using var f = File.OpenRead(npy);
            var (rows, cols, rank, off) = NpyFormat.ReadFloat32Header(f, npy);
            if (rows != r.Rows || cols != r.Cols || rank != 2) return $"{npy}: shape ({rows}, {cols}) does not match its record ({r.Rows}, {r.Cols})";
            long need = off + rows * cols * 4L;
            if (f.Length != need || f.Length != r.NpyBytes) return $"{npy}: {f.Length} bytes, its header needs {need} and its record says {r.NpyBytes}";
            return null;
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or OverflowException or IOException) { return e.Message; }
    }
}
