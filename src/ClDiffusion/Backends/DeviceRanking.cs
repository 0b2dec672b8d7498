namespace ClDiffusion.Backends;

/// <summary>How `auto` ranks a kind of OpenCL device; lower is preferred. Software renderers are never taken unless named.</summary>
public enum DeviceClass
{
    /// <summary>A hardware GPU (discrete or integrated).</summary>
    Gpu = 0,
    /// <summary>A hardware accelerator that is not a GPU.</summary>
    Accelerator = 1,
    /// <summary>A CPU driver made for compute (PoCL, Intel's CPU runtime).</summary>
    ComputeCpu = 2,
    /// <summary>A software rasterizer or emulator exposed as a compute device (Mesa's llvmpipe/softpipe, SwiftShader, FPGA emulators).</summary>
    Software = 3,
}

/// <summary>What the ranking reads of a device (plain data, so the rule is testable without the hardware).</summary>
public sealed record DeviceTraits(string Platform, string Device, string Vendor, string Type, int ComputeUnits, int ClockMHz);

/// <summary>
/// The one rule by which `auto` picks a device, used by <see cref="BackendFactory"/>, the engine and the C ABI:
/// hardware GPUs first, then accelerators, then CPU drivers made for compute, each by reported throughput
/// (compute units x clock); software renderers never, because the project's own CPU backend beats them by orders of
/// magnitude (issue 16: llvmpipe took 89 s where the CPU backend took under a second).
/// </summary>
public static class DeviceRanking
{
    /// <summary>Name fragments of software renderers and emulators (compared case-insensitively with device and platform names).</summary>
    static readonly string[] SoftwareMarkers = ["llvmpipe", "softpipe", "lavapipe", "swrast", "swiftshader", "emulation", "emulator"];

    public static DeviceClass Classify(DeviceTraits d)
    {
        foreach (var m in SoftwareMarkers)
            if (d.Device.Contains(m, StringComparison.OrdinalIgnoreCase) || d.Platform.Contains(m, StringComparison.OrdinalIgnoreCase))
                return DeviceClass.Software;
        return d.Type switch { "gpu" => DeviceClass.Gpu, "accelerator" => DeviceClass.Accelerator, "cpu" => DeviceClass.ComputeCpu, _ => DeviceClass.Software };
    }

    /// <summary>Reported throughput in compute-unit GHz (a device that reports no clock counts 1 GHz per unit).</summary>
    public static double Throughput(DeviceTraits d) => Math.Max(d.ComputeUnits, 1) * (d.ClockMHz > 0 ? d.ClockMHz : 1000) / 1000.0;

    static string ClassText(DeviceClass c) => c switch
    {
        DeviceClass.Gpu => "a GPU",
        DeviceClass.Accelerator => "an accelerator",
        DeviceClass.ComputeCpu => "a CPU compute driver",
        _ => "a software renderer",
    };

    /// <summary>One line on how the device ranks, e.g. "a GPU, 132 compute units x 1980 MHz".</summary>
    public static string Describe(DeviceTraits d)
    {
        var c = Classify(d);
        string clock = d.ClockMHz > 0 ? $"{d.ClockMHz} MHz" : "clock not reported";
        return c == DeviceClass.Software
            ? $"{ClassText(c)}: never taken by auto, only when named"
            : $"{ClassText(c)}, {d.ComputeUnits} compute units x {clock}";
    }

    /// <summary>
    /// Index of the device `auto` takes, or -1 when none may be taken (no devices, or software renderers only when
    /// <paramref name="allowSoftware"/> is false). Ties keep the listing order (platform, then device index).
    /// </summary>
    public static int Pick(IReadOnlyList<DeviceTraits> devices, bool allowSoftware = false)
    {
        int best = -1;
        for (int i = 0; i < devices.Count; i++)
        {
            var c = Classify(devices[i]);
            if (c == DeviceClass.Software && !allowSoftware) continue;
            if (best < 0) { best = i; continue; }
            var cb = Classify(devices[best]);
            if (c < cb || (c == cb && Throughput(devices[i]) > Throughput(devices[best]))) best = i;
        }
        return best;
    }

    /// <summary>Why `auto` took device <paramref name="chosen"/> (an index of <paramref name="devices"/>, or -1 for the CPU backend).</summary>
    public static string Explain(IReadOnlyList<DeviceTraits> devices, int chosen)
    {
        var software = devices.Where(d => Classify(d) == DeviceClass.Software).Select(d => d.Device).ToList();
        string skipped = software.Count == 0 ? "" : $"; skipped software renderer{(software.Count > 1 ? "s" : "")} {string.Join(", ", software)} (name one to use it)";
        if (chosen < 0)
            return devices.Count == 0
                ? "no OpenCL device found: the CPU backend"
                : $"only software renderers found ({string.Join(", ", software)}): the CPU backend is faster; name the device to use it anyway";
        var d = devices[chosen];
        var c = Classify(d);
        int rivals = devices.Count(x => Classify(x) == c) - 1;
        string better = c switch
        {
            DeviceClass.Gpu => "",
            DeviceClass.Accelerator => "no GPU; ",
            _ => "no GPU or accelerator; ",
        };
        string among = rivals > 0 ? $", the highest reported throughput of {rivals + 1} ({Throughput(d):0.#} compute-unit GHz)" : "";
        return $"{better}{Describe(d)}{among}{skipped}";
    }
}
