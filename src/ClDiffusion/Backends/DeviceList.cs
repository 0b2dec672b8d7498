using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;

namespace ClDiffusion.Backends;

/// <summary>How backends are opened: the OpenCL backend's options (tuning, program cache, ...) and the CPU backend's threads.</summary>
public sealed record BackendOptions
{
    /// <summary>Options of every OpenCL backend opened (null: the defaults).</summary>
    public OpenClOptions? OpenCl { get; init; }
    /// <summary>Threads of the CPU backend (0: one per core).</summary>
    public int CpuThreads { get; init; }
    /// <summary>User tuning database for the OpenCL backends (overrides <see cref="OpenClOptions.TuningFile"/>); must exist.</summary>
    public string? TuningFile { get; init; }

    internal OpenClOptions OpenClOptions()
    {
        var o = OpenCl ?? new OpenClOptions();
        if (TuningFile is null) return o;
        if (!File.Exists(TuningFile)) throw new FileNotFoundException($"tuning file not found: {TuningFile}", TuningFile);
        return o with { TuningFile = TuningFile };
    }
}

/// <summary>Opens a list of devices for the scheduler: a device string, a comma list of them, or `all`.</summary>
public static class DeviceList
{
    /// <summary>
    /// Opens devices: a device string (<see cref="BackendFactory.Syntax"/>), a comma list of them, or `all` (every OpenCL
    /// device except software renderers; the CPU backend when there is none). Null: $CLDIFF_DEVICE, else auto.
    /// <paramref name="notice"/> is a note for the user (e.g. `auto` fell back to the CPU backend), or null.
    /// </summary>
    public static List<IBackend> Open(string? devices, BackendOptions? options, out string? notice)
    {
        options ??= new BackendOptions();
        string spec = (string.IsNullOrWhiteSpace(devices) ? Environment.GetEnvironmentVariable("CLDIFF_DEVICE") : devices)?.Trim() ?? "";
        if (spec.Length == 0) spec = "auto";
        var list = new List<IBackend>();
        notice = null;
        try
        {
            if (spec.Equals("all", StringComparison.OrdinalIgnoreCase))
            {
                // every device auto could take: software renderers only when named
                var all = BackendFactory.ListDevices().Where(r => r.Class != DeviceClass.Software).ToList();
                if (all.Count == 0) { notice = $"cldiff: no OpenCL device other than software renderers, using the CPU backend ({BackendFactory.InstallHint} for OpenCL)"; list.Add(new CpuBackend(options.CpuThreads)); }
                foreach (var r in all) list.Add(BackendFactory.Open(r.Selector, options.OpenClOptions()));
            }
            else
            {
                foreach (var part in spec.Split(',', StringSplitOptions.TrimEntries))
                {
                    if (part.Length == 0) throw new ArgumentException($"device list '{spec}' has an empty entry (use {BackendFactory.Syntax}, a comma list, or all)");
                    list.Add(OpenOne(part, options, out var note));
                    notice ??= note;
                }
            }
        }
        catch { foreach (var b in list) b.Dispose(); throw; }
        return list;
    }

    /// <summary>Opens the one device a device string names (<see cref="BackendFactory.Syntax"/>) with the options; notice as in <see cref="Open"/>.</summary>
    public static IBackend OpenOne(string? device, BackendOptions? options, out string? notice)
    {
        options ??= new BackendOptions();
        var openCl = options.OpenClOptions();             // checks the tuning file before any device is opened
        var d = BackendFactory.Resolve(device, out notice);
        return d is null ? new CpuBackend(options.CpuThreads) : new OpenClBackend(d, openCl);
    }
}
