using ClDiffusion.Tooling.OpenCL;
using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("mlpbench", HelpText = "MLP score forward throughput (GFLOP/s) on an OpenCL device, each tile configuration verified first; with --cpu also the managed CPU path in the same run.")]
public sealed class MlpBenchOptions
{
    [Option("device", Default = "opencl", HelpText = "OpenCL device.")]
    public string Device { get; set; } = "opencl";
    [Option("widths", Default = "256,512,1024", HelpText = "Hidden widths (depth 3, d = 2, 16 time frequencies).")]
    public string Widths { get; set; } = "";
    [Option("batches", Default = "1024,4096,16384,65536", HelpText = "Rows per call.")]
    public string Batches { get; set; } = "";
    [Option("reps", Default = 5, HelpText = "Timed calls; the median is reported.")]
    public int Reps { get; set; }
    [Option("cpu", HelpText = "Also time the managed CPU path (slow at large batches).")]
    public bool Cpu { get; set; }
    [Option("configs", HelpText = "Also try the built-in GPU tile candidates (each verified against the float64 reference first).")]
    public bool Configs { get; set; }
}

public static class MlpBenchCommand
{
    static int[] Ints(string s, string name) => s.Split(',', StringSplitOptions.RemoveEmptyEntries)
        .Select(v => int.TryParse(v, out var k) && k > 0 ? k : throw new ArgumentException($"--{name}: '{v}' is not a positive integer")).ToArray();

    public static int Run(MlpBenchOptions o)
    {
        var widths = Ints(o.Widths, "widths"); var batches = Ints(o.Batches, "batches");
        if (o.Reps < 1) throw new ArgumentException($"--reps must be at least 1, got {o.Reps}");
        using var backend = BackendFactory.Open(o.Device);
        if (backend is not OpenClBackend b) throw new ArgumentException($"mlpbench needs an OpenCL device, '{o.Device}' opened {backend.DeviceName}");
        Console.WriteLine($"# mlpbench on {b.DeviceName}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        var configs = new List<MlpKernelConfig> { MlpKernelConfig.For(b.Device) };
        if (o.Configs)
            configs.AddRange([
                new() { Mwg = 128, Nwg = 128, Kwg = 16, Mwi = 8, Nwi = 8, Vwm = 4, Vwn = 4 },
                new() { Mwg = 128, Nwg = 64, Kwg = 16, Mwi = 8, Nwi = 4, Vwm = 4, Vwn = 4 },
                new() { Mwg = 64, Nwg = 64, Kwg = 16, Mwi = 4, Nwi = 4, Vwm = 4, Vwn = 4 },
                new() { Mwg = 64, Nwg = 128, Kwg = 32, Mwi = 4, Nwi = 8, Vwm = 4, Vwn = 4 },
                new() { Mwg = 32, Nwg = 32, Kwg = 16, Mwi = 4, Nwi = 4, UseLocal = false },
            ]);
        int failures = 0;
        foreach (var c in configs)
        {
            double err;
            try { err = MlpKernelCheck.Run(b, c); }
            catch (OpenClException e) { Console.WriteLine($"config {c}: FAILED ({e.Message.Split('\n')[0]})"); failures++; continue; }
            bool ok = err < 2e-4;
            Console.WriteLine($"config {c}: worst relative error vs float64 reference {err:E2} {(ok ? "OK" : "WRONG")}");
            if (!ok) { failures++; continue; }
            Console.WriteLine(MlpBench.Format(MlpBench.Run(b, widths, batches, o.Reps, o.Cpu, c)));
        }
        return failures == 0 ? 0 : 1;
    }
}
