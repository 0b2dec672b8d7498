using ClDiffusion.Tooling.OpenCL;
using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Backends.OpenCL.Tuning;
using ClDiffusion.Models.Mlp;
using CommandLine;
using ClDiffusion.Backends.Cpu;

namespace ClDiffusion.Cli.Commands;

[Verb("mlpbench", HelpText = "MLP score forward throughput (GFLOP/s, share of the FP32 peak) of the CPU backend, an OpenCL device (each tile configuration verified first) and OpenBLAS's sgemm on the same GEMMs, measured in the same run.")]
public sealed class MlpBenchOptions
{
    [Option("device", Default = "opencl", HelpText = "OpenCL device, or 'cpu' for the CPU backend and the BLAS reference only.")]
    public string Device { get; set; } = "opencl";
    [Option("widths", Default = "256,512,1024", HelpText = "Hidden widths of the benchmark network.")]
    public string Widths { get; set; } = "";
    [Option("dim", Default = 2, HelpText = "Data dimension d of the benchmark network (input d + 2F, output d).")]
    public int Dim { get; set; }
    [Option("depth", Default = 3, HelpText = "Hidden layers of the benchmark network.")]
    public int Depth { get; set; }
    [Option("freqs", Default = 16, HelpText = "Time frequencies F of the benchmark network.")]
    public int Freqs { get; set; }
    [Option("model", HelpText = "Comma list of .safetensors models to measure instead of the benchmark network (e.g. models/optdigits.safetensors).")]
    public string? Models { get; set; }
    [Option("batches", Default = "1024,4096,16384,65536", HelpText = "Rows per call.")]
    public string Batches { get; set; } = "";
    [Option("reps", Default = 5, HelpText = "Timed calls per round; the median is taken.")]
    public int Reps { get; set; }
    [Option("rounds", Default = 3, HelpText = "Rounds alternating the engines; the median over rounds is reported.")]
    public int Rounds { get; set; }
    [Option("cpu", HelpText = "With an OpenCL device: also time the CPU backend and the BLAS reference (always on with --device cpu).")]
    public bool Cpu { get; set; }
    [Option("peak-gflops", Default = 0.0, HelpText = "FP32 peak of the device in GFLOP/s (default: estimated from its clock and units).")]
    public double PeakGflops { get; set; }
    [Option("configs", HelpText = "Also try the device's defaults with fusion toggled and the built-in GPU tile candidates (each verified against the float64 reference first).")]
    public bool Configs { get; set; }
}

public static class MlpBenchCommand
{
    static int[] Ints(string s, string name) => s.Split(',', StringSplitOptions.RemoveEmptyEntries)
        .Select(v => int.TryParse(v, out var k) && k > 0 ? k : throw new ArgumentException($"--{name}: '{v}' is not a positive integer")).ToArray();

    public static int Run(MlpBenchOptions o)
    {
        var batches = Ints(o.Batches, "batches");
        if (o.Reps < 1) throw new ArgumentException($"--reps must be at least 1, got {o.Reps}");
        if (o.Rounds < 1) throw new ArgumentException($"--rounds must be at least 1, got {o.Rounds}");
        if (o.Dim < 1 || o.Depth < 0 || o.Freqs < 0) throw new ArgumentException($"--dim must be >= 1, --depth and --freqs >= 0 (got {o.Dim}, {o.Depth}, {o.Freqs})");
        if (!(o.PeakGflops >= 0) || double.IsInfinity(o.PeakGflops)) throw new ArgumentException($"--peak-gflops must be a finite number >= 0, got {o.PeakGflops}");
        var networks = new List<(string Name, MlpModel Model)>();
        if (!string.IsNullOrWhiteSpace(o.Models))
            foreach (var path in o.Models.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                networks.Add((Path.GetFileNameWithoutExtension(path), MlpModel.Load(path)));
        else
            foreach (int w in Ints(o.Widths, "widths")) networks.Add(($"w{w}", MlpBench.Model(w, o.Dim, o.Freqs, o.Depth)));

        using var backend = BackendFactory.Open(o.Device);
        var cl = backend as OpenClBackend;
        bool cpu = o.Cpu || cl is null;
        var (peak, how) = o.PeakGflops > 0 ? (o.PeakGflops, "given") : MlpBench.Peak(cl?.Device);
        Console.WriteLine($"# mlpbench on {backend.DeviceName}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average {LoadAverage()}");
        Console.WriteLine($"# FP32 peak {peak:F0} GFLOP/s ({how}); BLAS: {BlasLibrary.DefaultDescription}; managed SGEMM: {Sgemm.VectorDescription}");
        Console.WriteLine($"# medians of {o.Rounds} alternating rounds of {o.Reps} calls, each engine warmed up until stable; 'x blas' = blas-sgemm time / engine time (same GEMMs, same run)");
        var configs = new List<MlpKernelConfig?> { null };
        if (cl is not null && o.Configs)
            configs.AddRange([
                // the defaults with the fused whole-network kernel toggled (on where the device's default is off)
                MlpKernelConfig.For(cl.Device) with { FuseMaxWidth = MlpKernelConfig.For(cl.Device).FuseMaxWidth > 0 ? 0 : 256 },
                new MlpKernelConfig { Mwg = 128, Nwg = 128, Kwg = 16, Mwi = 8, Nwi = 8, Vwm = 4, Vwn = 4 },
                new MlpKernelConfig { Mwg = 64, Nwg = 64, Kwg = 16, Mwi = 4, Nwi = 4, Vwm = 4, Vwn = 4 },
                new MlpKernelConfig { Mwg = 32, Nwg = 32, Kwg = 16, Mwi = 4, Nwi = 4, UseLocal = false },
            ]);
        int failures = 0;
        var verified = new Dictionary<MlpKernelConfig, bool>();
        // Each configuration is checked against the float64 reference once, before it is timed.
        bool Verified(MlpKernelConfig cfg, string source)
        {
            if (verified.TryGetValue(cfg, out var known)) return known;
            double err;
            try { err = MlpKernelCheck.Run(cl!, cfg); }
            catch (OpenClException e) { Console.WriteLine($"config {cfg} ({source}): FAILED ({e.Message.Split('\n')[0]})"); failures++; return verified[cfg] = false; }
            bool ok = err < 2e-4;
            Console.WriteLine($"config {cfg} ({source}): worst relative error vs float64 reference {err:E2} {(ok ? "OK" : "WRONG")}");
            if (!ok) failures++;
            return verified[cfg] = ok;
        }
        foreach (var c in configs)
        {
            var lines = new List<MlpBenchLine>();
            foreach (var (name, model) in networks)
            {
                // the first entry is what the engine itself would run: the tuning database's choice for the device and
                // the network's hidden width (MlpTuning.Choose), else the built-in default
                MlpKernelConfig? cfg = c;
                if (cl is not null)
                {
                    string source = "given";
                    if (cfg is null) (cfg, source) = MlpTuning.Choose(cl.Device, cl.Options, MlpTuning.HiddenWidth(model));
                    if (!Verified(cfg, source)) continue;
                }
                foreach (int n in batches)
                {
                    var r = MlpBench.Compare(model, n, cl, cfg, o.Reps, o.Rounds, peak, cpu && ReferenceEquals(c, configs[0]), $"{name} {MlpBench.Describe(model)}");
                    Console.WriteLine(MlpBench.Format(r).Split('\n').Skip(lines.Count == 0 ? 0 : 1).Aggregate((a, b) => a + "\n" + b));
                    lines.AddRange(r);
                }
            }
        }
        if (cl?.Device.Vendor.Contains("NVIDIA", StringComparison.OrdinalIgnoreCase) == true)
            Console.WriteLine("# reference on NVIDIA: python3 tools/gpu/torch_mlp_bench.py (PyTorch fp32, TF32 off, same networks)");
        return failures == 0 ? 0 : 1;
    }

    static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "unknown"; }
    }
}
