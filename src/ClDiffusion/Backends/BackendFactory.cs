using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;

namespace ClDiffusion.Backends;

/// <summary>One OpenCL device as `cldiff devices` lists it.</summary>
public sealed record DeviceRecord(int PlatformIndex, int DeviceIndex, string Platform, string Device, string Vendor, string Version,
    string Driver, int ComputeUnits, long GlobalMemoryBytes, long MaxAllocBytes, string Type, bool Fp64, bool Auto)
{
    /// <summary>The device string that opens exactly this device.</summary>
    public string Selector => $"opencl:{PlatformIndex}:{DeviceIndex}";
    /// <summary>Reported maximum clock (MHz; 0 when the driver reports none).</summary>
    public int ClockMHz { get; init; }
    /// <summary>How `auto` ranks this kind of device (<see cref="DeviceRanking"/>).</summary>
    public DeviceClass Class { get; init; }
    /// <summary>How the device ranks, in words (kind, compute units, clock; or why auto never takes it).</summary>
    public string Rank { get; init; } = "";
}

/// <summary>What a device string resolved to: an OpenCL device, or null for the CPU backend, and why.</summary>
public sealed record DeviceChoice(ClDevice? Device, string Reason)
{
    /// <summary>True when `auto` fell back to the CPU backend (no usable OpenCL device): the caller may want to tell the user.</summary>
    public bool FellBack { get; init; }
}

/// <summary>
/// Opens a backend from a device string: auto | cpu | opencl | opencl:P:D | opencl:NAME-SUBSTRING
/// (default: environment variable CLDIFF_DEVICE, else auto). `auto` follows <see cref="DeviceRanking"/>: GPUs, then
/// accelerators, then CPU compute drivers, never a software renderer, else the CPU backend. The library never writes
/// to the console: the reason for a choice is returned (<see cref="Choose"/>) and, when <see cref="Log"/> is set
/// (the CLI sets it to stderr), a fallback is reported there.
/// </summary>
public static class BackendFactory
{
    public const string InstallHint = "apt-get install pocl-opencl-icd ocl-icd-libopencl1";
    public const string Syntax = "auto | cpu | opencl | opencl:P:D | opencl:NAME-SUBSTRING";

    /// <summary>Receives notices a user should see (e.g. `auto` fell back to the CPU backend); null (default): they are dropped. SQLite-style log hook.</summary>
    public static Action<string>? Log { get; set; }

    static List<ClDevice> AllDevices()
    {
        var list = new List<ClDevice>();
        foreach (var p in ClPlatform.All())
        {
            try { list.AddRange(p.Devices()); }
            catch (OpenClException) { /* a broken platform does not hide the others */ }
        }
        return list;
    }

    static DeviceTraits Traits(ClDevice d) => new(d.Platform.Name, d.Name, d.Vendor, d.TypeName, d.ComputeUnits, d.ClockMHz);

    /// <summary>The device the ranking takes among <paramref name="devices"/> (null: none may be taken) and why.</summary>
    static (ClDevice? device, string reason) Best(IReadOnlyList<ClDevice> devices, bool allowSoftware)
    {
        var traits = devices.Select(Traits).ToList();
        int i = DeviceRanking.Pick(traits, allowSoftware);
        return (i < 0 ? null : devices[i], DeviceRanking.Explain(traits, i));
    }

    public static IReadOnlyList<DeviceRecord> ListDevices()
    {
        var devices = AllDevices();
        var auto = Best(devices, allowSoftware: false).device;
        return devices.Select(d =>
        {
            var t = Traits(d);
            return new DeviceRecord(d.Platform.Index, d.Index, d.Platform.Name, d.Name, d.Vendor, d.Version, d.DriverVersion,
                d.ComputeUnits, d.GlobalMemory, d.MaxAlloc, d.TypeName, d.HasFp64, ReferenceEquals(d, auto))
            { ClockMHz = t.ClockMHz, Class = DeviceRanking.Classify(t), Rank = DeviceRanking.Describe(t) };
        }).ToList();
    }

    /// <summary>Why `auto` takes what it takes on this machine (the same words `cldiff devices` prints).</summary>
    public static string AutoReason() => Best(AllDevices(), allowSoftware: false).reason;

    /// <summary>Resolves a device string to an OpenCL device (null: the CPU backend) with the reason; throws ArgumentException when it cannot.</summary>
    public static DeviceChoice Choose(string? device)
    {
        string spec = (string.IsNullOrWhiteSpace(device) ? Environment.GetEnvironmentVariable("CLDIFF_DEVICE") : device)?.Trim() ?? "";
        if (spec.Length == 0) spec = "auto";
        string lower = spec.ToLowerInvariant();
        if (lower == "cpu") return new DeviceChoice(null, "named: the CPU backend");
        if (lower == "auto")
        {
            var all = AllDevices();
            var (best, reason) = Best(all, allowSoftware: false);
            if (best is null && all.Count == 0) reason += $" ({InstallHint} for OpenCL)";
            return new DeviceChoice(best, "auto: " + reason) { FellBack = best is null };
        }
        if (lower == "opencl" || lower.StartsWith("opencl:", StringComparison.Ordinal))
        {
            var all = AllDevices();
            if (all.Count == 0)
                throw new ArgumentException($"device '{spec}': no OpenCL platform or device found; install one: {InstallHint}");
            // an explicit request for OpenCL may land on a software renderer when nothing else exists
            if (lower == "opencl")
            {
                var (d, reason) = Best(all, allowSoftware: false);
                if (d is not null) return new DeviceChoice(d, "opencl: " + reason);
                var (s, _) = Best(all, allowSoftware: true);
                return new DeviceChoice(s, $"opencl: only software renderers present, took {s!.Name}");
            }
            string sel = spec["opencl:".Length..];
            if (sel.Length == 0) throw new ArgumentException($"device '{spec}': empty selector after 'opencl:' (use {Syntax})");
            var parts = sel.Split(':');
            if (parts.Length == 2 && int.TryParse(parts[0], out int pi) && int.TryParse(parts[1], out int di))
            {
                var d = all.FirstOrDefault(x => x.Platform.Index == pi && x.Index == di);
                return d is not null ? new DeviceChoice(d, $"named: {spec}")
                    : throw new ArgumentException($"device '{spec}': no OpenCL device {pi}:{di}; present: " +
                        string.Join(", ", all.Select(x => $"{x.Platform.Index}:{x.Index} {x.Name}")));
            }
            var matches = all.Where(x => x.Name.Contains(sel, StringComparison.OrdinalIgnoreCase)
                                      || x.Platform.Name.Contains(sel, StringComparison.OrdinalIgnoreCase)
                                      || x.Vendor.Contains(sel, StringComparison.OrdinalIgnoreCase)).ToList();
            if (matches.Count == 0)
                throw new ArgumentException($"device '{spec}': no OpenCL device name contains '{sel}'; present: " +
                    string.Join(", ", all.Select(x => $"{x.Platform.Index}:{x.Index} {x.Name}")));
            var (m, why) = Best(matches, allowSoftware: true);
            return new DeviceChoice(m, $"named: '{sel}' matches {matches.Count} device(s); {why}");
        }
        throw new ArgumentException($"unknown device '{spec}' (use {Syntax})");
    }

    /// <summary>Resolves a device string to an OpenCL device (null for the CPU backend); <paramref name="notice"/> is set when `auto` fell back to the CPU backend.</summary>
    public static ClDevice? Resolve(string? device, out string? notice)
    {
        var c = Choose(device);
        notice = c.FellBack ? $"cldiff: {c.Reason}" : null;
        return c.Device;
    }

    /// <summary>Opens the backend a device string names (see <see cref="Syntax"/>) and says why (<paramref name="choice"/>); writes nothing.</summary>
    public static IBackend Open(string? device, OpenClOptions? options, out DeviceChoice choice)
    {
        choice = Choose(device);
        return choice.Device is null ? new CpuBackend() : new OpenClBackend(choice.Device, options);
    }

    /// <summary>Opens the backend a device string names (see <see cref="Syntax"/>); an `auto` fallback to the CPU goes to <see cref="Log"/> only.</summary>
    public static IBackend Open(string? device = null, OpenClOptions? options = null)
    {
        var b = Open(device, options, out var choice);
        if (choice.FellBack) Log?.Invoke($"cldiff: {choice.Reason}");
        return b;
    }
}
