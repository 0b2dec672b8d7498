using System.Text.Json;
using ClDiffusion.Backends;

namespace ClDiffusion.Cli.Commands;

/// <summary>`cldiff devices [--json]`: the OpenCL platforms and devices, and which one `auto` takes.</summary>
public static class DevicesCommand
{
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
                type = d.Type, fp64 = d.Fp64, auto = d.Auto,
            }), new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        if (devices.Count == 0)
        {
            Console.WriteLine($"no OpenCL devices (auto uses the CPU backend); install one: {BackendFactory.InstallHint}");
            return 0;
        }
        foreach (var d in devices)
        {
            Console.WriteLine($"{(d.Auto ? "*" : " ")} {d.Selector,-12} {d.Type,-11} {d.Device}");
            Console.WriteLine($"    platform {d.Platform}, vendor {d.Vendor}, {d.Version}, driver {d.Driver}");
            Console.WriteLine($"    {d.ComputeUnits} compute units, {d.GlobalMemoryBytes >> 20} MiB global memory, largest buffer {d.MaxAllocBytes >> 20} MiB, fp64 {(d.Fp64 ? "yes" : "no")}");
        }
        Console.WriteLine("* = the device 'auto' takes");
        return 0;
    }
}
