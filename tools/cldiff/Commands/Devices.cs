using ClDiffusion.Backends;

namespace ClDiffusion.Cli.Commands;

static class Devices
{
    /// <summary>Opens the backend a --device string names (default $CLDIFF_DEVICE, else auto).</summary>
    public static IBackend Open(string? device) => BackendFactory.Open(device);
}

[CommandLine.Verb("devices", HelpText = "List OpenCL platforms and devices, and which one --device auto takes.")]
public sealed class DevicesOptions
{
    [CommandLine.Option("json", HelpText = "Print JSON.")]
    public bool Json { get; set; }
}
