using System.Text.Json;
using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Tuning;
using ClDiffusion.Tooling.OpenCL;
using ClDiffusion.Backends.Cpu;

namespace ClDiffusion.Cli.Commands;

/// <summary>`cldiff devices [--json]`: the OpenCL platforms and devices, which one `auto` takes, and the kernel parameters each uses (tuning database).</summary>
public static class DevicesCommand
{
    /// <summary>What the engine would choose for a device with default options: (source, database key, parameters per family) or the error.</summary>
    static (string source, string key, IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>>? parameters) Tuning(DeviceRecord d)
    {
        try
        {
            var dev = BackendFactory.Resolve(d.Selector, out _)!;
            var desc = DeviceDescription.From(dev);
            var r = TuningResolver.Resolve(desc, new OpenClOptions());
            var ps = new Dictionary<string, IReadOnlyDictionary<string, int>>(TuningResolver.Effective(r));
            // the MLP tiles are chosen per model by hidden width: one line per width class
            foreach (int w in MlpTuning.ClassWidths)
                ps[$"{MlpTuning.Family} {MlpTuning.WidthClass(w)}"] = MlpTuning.ToParameters(MlpTuning.Choose(dev, new OpenClOptions(), w).Config);
            return (r.Source, desc.Key, ps);
        }
        catch (Exception e) when (e is OpenClException or ArgumentException or IOException or InvalidDataException)
        { return ($"error: {e.Message}", "", null); }
    }

    public static int Run(bool json)
    {
        IReadOnlyList<DeviceRecord> devices;
        try { devices = BackendFactory.ListDevices(); }
        catch (Exception e)
        {
            Console.Error.WriteLine($"cldiff devices: {e.Message}");
            return 1;
        }
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(devices.Select(d => new
            {
                selector = d.Selector, platform = d.Platform, device = d.Device, vendor = d.Vendor, version = d.Version, driver = d.Driver,
                computeUnits = d.ComputeUnits, globalMemoryBytes = d.GlobalMemoryBytes, maxAllocBytes = d.MaxAllocBytes,
                type = d.Type, fp64 = d.Fp64, auto = d.Auto, clockMHz = d.ClockMHz, rank = d.Rank, deviceClass = d.Class.ToString(),
                tuning = Tuning(d) is var t ? new { source = t.source, key = t.key, parameters = t.parameters } : null,
            }), new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        Console.WriteLine($"cpu backend MLP: {ClDiffusion.Backends.Cpu.MlpCpuScore.EngineSummary}");
        if (devices.Count == 0)
        {
            Console.WriteLine($"no OpenCL devices (auto uses the CPU backend); install one: {BackendFactory.InstallHint}");
            return 0;
        }
        foreach (var d in devices)
        {
            Console.WriteLine($"{(d.Auto ? "*" : " ")} {d.Selector,-12} {d.Type,-11} {d.Device}");
            Console.WriteLine($"    platform {d.Platform}, vendor {d.Vendor}, {d.Version}, driver {d.Driver}");
            Console.WriteLine($"    rank: {d.Rank}");
            Console.WriteLine($"    {d.ComputeUnits} compute units, {d.GlobalMemoryBytes >> 20} MiB global memory, largest buffer {d.MaxAllocBytes >> 20} MiB, fp64 {(d.Fp64 ? "yes" : "no")}");
            var (source, key, ps) = Tuning(d);
            Console.WriteLine($"    tuning: {source}");
            if (key.Length > 0) Console.WriteLine($"    tuning key: {key}");
            if (ps is not null)
                Console.WriteLine("    kernels: " + string.Join("; ", ps.Select(f => $"{f.Key} {string.Join(" ", f.Value.Select(p => $"{p.Key}={p.Value}"))}")));
        }
        Console.WriteLine("* = the device 'auto' takes (GPUs, then accelerators, then CPU compute drivers, by compute units x clock; software renderers only when named)");
        Console.WriteLine($"auto: {BackendFactory.AutoReason()}");
        return 0;
    }
}

[CommandLine.Verb("devices", HelpText = "List OpenCL platforms and devices, and which one --device auto takes.")]
public sealed class DevicesOptions
{
    [CommandLine.Option("json", HelpText = "Print JSON.")]
    public bool Json { get; set; }
}
