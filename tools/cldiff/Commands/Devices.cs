using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;

namespace ClDiffusion.Cli.Commands;

static class Devices
{
    /// <summary>Opens the backend a --device string names (default $CLDIFF_DEVICE, else auto).</summary>
    public static IBackend Open(string? device)
    {
        var d = device ?? Environment.GetEnvironmentVariable("CLDIFF_DEVICE") ?? "cpu";
        if (d == "cpu") return new CpuBackend();
        throw new ArgumentException($"unknown device '{d}'");
    }
}
