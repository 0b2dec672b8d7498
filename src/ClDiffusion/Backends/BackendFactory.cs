using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;

namespace ClDiffusion.Backends;

/// <summary>One OpenCL device as `cldiff devices` lists it.</summary>
public sealed record DeviceRecord(int PlatformIndex, int DeviceIndex, string Platform, string Device, string Vendor, string Version,
    string Driver, int ComputeUnits, long GlobalMemoryBytes, long MaxAllocBytes, string Type, bool Fp64, bool Auto)
{
    /// <summary>The device string that opens exactly this device.</summary>
    public string Selector => $"opencl:{PlatformIndex}:{DeviceIndex}";
}

/// <summary>
/// Opens a backend from a device string: auto | cpu | opencl | opencl:P:D | opencl:NAME-SUBSTRING
/// (default: environment variable CLDIFF_DEVICE, else auto).
/// </summary>
public static class BackendFactory
{
    public const string InstallHint = "apt-get install pocl-opencl-icd ocl-icd-libopencl1";
    public const string Syntax = "auto | cpu | opencl | opencl:P:D | opencl:NAME-SUBSTRING";

    static int TypeRank(string t) => t switch { "gpu" => 0, "accelerator" => 1, "cpu" => 2, _ => 3 };

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

    /// <summary>The device `auto` takes: GPU before accelerator before CPU, then the most compute units; null if none.</summary>
    static ClDevice? Fastest(IReadOnlyList<ClDevice> devices) =>
        devices.OrderBy(d => TypeRank(d.TypeName)).ThenByDescending(d => d.ComputeUnits).ThenBy(d => d.Platform.Index).ThenBy(d => d.Index).FirstOrDefault();

    public static IReadOnlyList<DeviceRecord> ListDevices()
    {
        var devices = AllDevices();
        var auto = Fastest(devices);
        return devices.Select(d => new DeviceRecord(d.Platform.Index, d.Index, d.Platform.Name, d.Name, d.Vendor, d.Version, d.DriverVersion,
            d.ComputeUnits, d.GlobalMemory, d.MaxAlloc, d.TypeName, d.HasFp64, ReferenceEquals(d, auto))).ToList();
    }

    /// <summary>Resolves a device string to an OpenCL device (null for the CPU backend); throws ArgumentException when it cannot.</summary>
    public static ClDevice? Resolve(string? device, out string? notice)
    {
        notice = null;
        string spec = (string.IsNullOrWhiteSpace(device) ? Environment.GetEnvironmentVariable("CLDIFF_DEVICE") : device)?.Trim() ?? "";
        if (spec.Length == 0) spec = "auto";
        string lower = spec.ToLowerInvariant();
        if (lower == "cpu") return null;
        if (lower == "auto")
        {
            var all = AllDevices();
            var best = Fastest(all);
            if (best is null) notice = $"cldiff: no OpenCL platform found, using the CPU backend ({InstallHint} for OpenCL)";
            return best;
        }
        if (lower == "opencl" || lower.StartsWith("opencl:", StringComparison.Ordinal))
        {
            var all = AllDevices();
            if (all.Count == 0)
                throw new ArgumentException($"device '{spec}': no OpenCL platform or device found; install one: {InstallHint}");
            if (lower == "opencl") return Fastest(all)!;
            string sel = spec["opencl:".Length..];
            if (sel.Length == 0) throw new ArgumentException($"device '{spec}': empty selector after 'opencl:' (use {Syntax})");
            var parts = sel.Split(':');
            if (parts.Length == 2 && int.TryParse(parts[0], out int pi) && int.TryParse(parts[1], out int di))
            {
                var d = all.FirstOrDefault(x => x.Platform.Index == pi && x.Index == di);
                return d ?? throw new ArgumentException($"device '{spec}': no OpenCL device {pi}:{di}; present: " +
                    string.Join(", ", all.Select(x => $"{x.Platform.Index}:{x.Index} {x.Name}")));
            }
            var matches = all.Where(x => x.Name.Contains(sel, StringComparison.OrdinalIgnoreCase)
                                      || x.Platform.Name.Contains(sel, StringComparison.OrdinalIgnoreCase)
                                      || x.Vendor.Contains(sel, StringComparison.OrdinalIgnoreCase)).ToList();
            if (matches.Count == 0)
                throw new ArgumentException($"device '{spec}': no OpenCL device name contains '{sel}'; present: " +
                    string.Join(", ", all.Select(x => $"{x.Platform.Index}:{x.Index} {x.Name}")));
            return Fastest(matches)!;
        }
        throw new ArgumentException($"unknown device '{spec}' (use {Syntax})");
    }

    /// <summary>Opens the backend a device string names (see <see cref="Syntax"/>); `auto` falls back to the CPU with a notice on stderr.</summary>
    public static IBackend Open(string? device = null, OpenClOptions? options = null)
    {
        var d = Resolve(device, out var notice);
        if (notice is not null) Console.Error.WriteLine(notice);
        return d is null ? new CpuBackend() : new OpenClBackend(d, options);
    }
}
