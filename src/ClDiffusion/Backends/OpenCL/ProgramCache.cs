using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace ClDiffusion.Backends.OpenCL;

/// <summary>
/// Compiles the embedded kernels ("cl/NAME.cl") CLBlast style: tunables arrive as -D defines, every kernel source
/// has `#ifndef X / #define X default / #endif` for each of them. Programs are cached per (device, driver version,
/// source hash, options) in memory (per context) and on disk as program binaries under $CLDIFF_CACHE or
/// ~/.cache/cldiffusion. A disk entry is framed (magic, length, SHA-256 of the payload); a corrupt, truncated or
/// rejected entry is ignored and rebuilt from source, never fatal.
/// </summary>
public sealed class ProgramCache : IDisposable
{
    static readonly byte[] Magic = "CLDP0001"u8.ToArray();
    readonly ClContext context;
    readonly Dictionary<string, ClProgram> programs = new();
    public string? Directory { get; }
    /// <summary>How the last programs were obtained (for tests and diagnostics): "memory", "disk", "source".</summary>
    public string LastOrigin { get; private set; } = "";
    /// <summary>
    /// Why the last program built from source was not written to disk, or null when it was (or the cache is off): the
    /// implementation returned no binary (programs are then rebuilt from source in every process), or the folder
    /// could not be written. Never an error: the cache only saves build time.
    /// </summary>
    public string? DiskSkipped { get; private set; }

    /// <summary>A cache on disk under `directory`; null: memory only (no disk cache).</summary>
    public ProgramCache(ClContext context, string? directory)
    {
        this.context = context;
        Directory = directory;
    }

    /// <summary>The disk cache folder a <see cref="OpenClOptions.CacheDirectory"/> value means: null -> <see cref="DefaultDirectory"/>, "off"/"none" -> null (no disk cache).</summary>
    public static string? DirectoryFor(string? option) => option switch
    {
        null => DefaultDirectory(),
        "off" or "none" => null,
        _ => option,
    };

    public static string? DefaultDirectory()
    {
        var env = Environment.GetEnvironmentVariable("CLDIFF_CACHE");
        if (env is "off" or "none") return null;
        if (!string.IsNullOrEmpty(env)) return env;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrEmpty(xdg)) return Path.Combine(xdg, "cldiffusion");
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".cache", "cldiffusion");
    }

    /// <summary>The text of an embedded kernel file, e.g. "philox.cl".</summary>
    public static string Source(string file)
    {
        var asm = typeof(ProgramCache).Assembly;
        using var s = asm.GetManifestResourceStream("cl/" + file) ?? throw new FileNotFoundException($"embedded OpenCL source cl/{file} not found");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    public static string Options(IReadOnlyDictionary<string, string>? defines, string extra = "") =>
        string.Join(" ", (defines ?? new Dictionary<string, string>()).OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"-D{k.Key}={k.Value}")) + (extra.Length > 0 ? " " + extra : "");

    public string Key(string source, string options)
    {
        var d = context.Device;
        var id = $"{d.Platform.Name}\n{d.Platform.Version}\n{d.Name}\n{d.Vendor}\n{d.Version}\n{d.DriverVersion}\n{options}\n{source}";
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(id)))[..32].ToLowerInvariant();
    }

    /// <summary>A built program for source + options (name is used in error messages only).</summary>
    public ClProgram Get(string name, string source, string options)
    {
        string key = Key(source, options);
        if (programs.TryGetValue(key, out var p)) { LastOrigin = "memory"; return p; }
        p = TryDisk(name, key) ?? BuildFromSource(name, source, options, key);
        programs[key] = p;
        return p;
    }

    ClProgram BuildFromSource(string name, string source, string options, string key)
    {
        var p = ClProgram.FromSource(context, name, source);
        try { p.Build(options); }
        catch { p.Dispose(); throw; }
        LastOrigin = "source";
        if (Directory is not null)
        {
            try
            {
                var bin = p.Binary();
                DiskSkipped = bin.Length > 0 ? null
                    : $"{context.Device.Name} ({context.Device.Platform.Name}) returned no program binary: {name} is rebuilt from source in every process";
                if (bin.Length > 0)
                {
                    System.IO.Directory.CreateDirectory(Directory);
                    var path = PathOf(key);
                    var tmp = path + "." + Environment.ProcessId + ".tmp";
                    using (var f = File.Create(tmp))
                    {
                        f.Write(Magic);
                        f.Write(BitConverter.GetBytes((long)bin.Length));
                        f.Write(SHA256.HashData(bin));
                        f.Write(bin);
                    }
                    File.Move(tmp, path, overwrite: true);
                }
            }
            catch (Exception e) { DiskSkipped = $"program cache {Directory} not written: {e.Message}"; /* only slower */ }
        }
        return p;
    }

    public string PathOf(string key) => Path.Combine(Directory ?? ".", key + ".bin");

    ClProgram? TryDisk(string name, string key)
    {
        if (Directory is null) return null;
        var path = PathOf(key);
        try
        {
            if (!File.Exists(path)) return null;
            var all = File.ReadAllBytes(path);
            int head = Magic.Length + 8 + 32;
            if (all.Length < head || !all.AsSpan(0, Magic.Length).SequenceEqual(Magic)) return null;
            long len = BitConverter.ToInt64(all, Magic.Length);
            if (len != all.Length - head) return null;
            var bin = all.AsSpan(head).ToArray();
            if (!SHA256.HashData(bin).AsSpan().SequenceEqual(all.AsSpan(Magic.Length + 8, 32))) return null;
            var p = ClProgram.FromBinary(context, name, bin);
            try { p.Build(""); }
            catch { p.Dispose(); return null; }
            LastOrigin = "disk";
            return p;
        }
        catch (Exception) { return null; }
    }

    public void Dispose()
    {
        foreach (var p in programs.Values) p.Dispose();
        programs.Clear();
    }
}
