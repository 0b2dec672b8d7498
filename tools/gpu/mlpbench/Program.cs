using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
var dev = BackendFactory.Resolve("opencl", out _)!;
Console.WriteLine($"device: {dev.Name} ({dev.Platform.Name} {dev.Platform.Version}), {dev.ComputeUnits} CUs, {DateTime.UtcNow:yyyy-MM-dd}");
using var b = new OpenClBackend(dev);
string mode = args.Length > 0 ? args[0] : "table";
if (mode == "check") { foreach (var c in new MlpKernelConfig[] { MlpKernelConfig.Gpu, MlpKernelConfig.Cpu, new() { Mwg = 8, Nwg = 32, Mwi = 8, Nwi = 32, Vwn = 16, UseLocal = false }, new() { Mwg = 64, Nwg = 64, Kwg = 32, Mwi = 8, Nwi = 16, Vwn = 16, Vwm = 4 } }) Console.WriteLine($"{c}: {Check.Run(b, c):E2}"); }
else if (mode == "tune")
{
    var cfgs = new MlpKernelConfig[] {
        MlpKernelConfig.Cpu,
        new() { Mwg = 4, Nwg = 64, Mwi = 4, Nwi = 64, Vwn = 16, UseLocal = false },
        new() { Mwg = 6, Nwg = 64, Mwi = 6, Nwi = 64, Vwn = 16, UseLocal = false },
        new() { Mwg = 4, Nwg = 128, Mwi = 4, Nwi = 128, Vwn = 16, UseLocal = false },
        new() { Mwg = 2, Nwg = 128, Mwi = 2, Nwi = 128, Vwn = 16, UseLocal = false },
        new() { Mwg = 16, Nwg = 64, Mwi = 4, Nwi = 64, Vwn = 16, UseLocal = false },
        new() { Mwg = 4, Nwg = 64, Mwi = 4, Nwi = 32, Vwn = 16, UseLocal = false },
        new() { Mwg = 4, Nwg = 64, Mwi = 4, Nwi = 64, Vwn = 8, UseLocal = false },
    };



    int w = int.Parse(args[1]), n = int.Parse(args[2]);
    foreach (var c in cfgs)
    {
        var r = MlpBench.Run(b, new[] { w }, new[] { n }, reps: 3, cpu: false, config: c)[0];
        Console.WriteLine($"{c,-60} {r.ClMs,9:F1} ms {r.ClGflops,7:F1} GFLOP/s");
    }
}
else if (mode == "gpu")
{
    var cfgs = new MlpKernelConfig[] {
        MlpKernelConfig.Gpu,
        new() { Mwg = 128, Nwg = 128, Kwg = 16, Mwi = 8, Nwi = 8, Vwm = 4, Vwn = 4 },
        new() { Mwg = 128, Nwg = 64, Kwg = 16, Mwi = 8, Nwi = 4, Vwm = 4, Vwn = 4 },
        new() { Mwg = 64, Nwg = 64, Kwg = 16, Mwi = 4, Nwi = 4, Vwm = 4, Vwn = 4 },
        new() { Mwg = 64, Nwg = 128, Kwg = 32, Mwi = 4, Nwi = 8, Vwm = 4, Vwn = 4 },
        new() { Mwg = 32, Nwg = 32, Kwg = 16, Mwi = 4, Nwi = 4, UseLocal = false },
    };
    var widths = args[1].Split(',').Select(int.Parse).ToArray();
    var batches = args[2].Split(',').Select(int.Parse).ToArray();
    foreach (var c in cfgs)
    {
        double err;
        try { err = Check.Run(b, c); } catch (Exception e) { Console.WriteLine($"{c}: FAILED {e.Message}"); continue; }
        Console.WriteLine($"config {c}: worst rel error vs float64 reference {err:E2}");
        var rs = MlpBench.Run(b, widths, batches, reps: int.Parse(args[3]), cpu: false, config: c);
        Console.WriteLine(MlpBench.Format(rs));
    }
}
else
{
    var widths = args[1].Split(',').Select(int.Parse).ToArray();
    var batches = args[2].Split(',').Select(int.Parse).ToArray();
    var rs = MlpBench.Run(b, widths, batches, reps: int.Parse(args[3]));
    Console.WriteLine(MlpBench.Format(rs));
    Console.WriteLine("config: " + rs[0].Config);
}
