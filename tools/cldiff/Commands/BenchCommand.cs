using ClDiffusion.Tooling.OpenCL;
using System.Diagnostics;
using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("bench", HelpText = "Kernel throughput against a copy kernel, and end-to-end samples/s of an OpenCL device against the CPU backend, in one run.")]
public sealed class BenchOptions
{
    [Option("device", Default = "auto", HelpText = "OpenCL device to measure (auto | opencl | opencl:P:D | opencl:NAME).")]
    public string Device { get; set; } = "auto";
    [Option("rows", Default = 65536, HelpText = "Rows per kernel call.")]
    public int Rows { get; set; }
    [Option("dim", Default = 64, HelpText = "Dimension for the kernel table.")]
    public int Dim { get; set; }
    [Option("reps", Default = 20, HelpText = "Calls per kernel timing.")]
    public int Reps { get; set; }
    [Option("count", Default = 2048, HelpText = "Samples per end-to-end run (also --n).")]
    public int N { get; set; }
    [Option("steps", Default = 20, HelpText = "Steps per end-to-end run.")]
    public int Steps { get; set; }
    [Option("dims", Default = "64,256", HelpText = "Comma-separated dimensions for the end-to-end table (docs/BENCHMARKS.md also uses 1024).")]
    public string Dims { get; set; } = "64,256";
    [Option("samplers", Default = "rm-pc,prm", HelpText = "Comma-separated samplers for the end-to-end table.")]
    public string Samplers { get; set; } = "rm-pc,prm";
    [Option("runs", Default = 3, HelpText = "End-to-end repetitions; the median is reported.")]
    public int Runs { get; set; }
    [Option("skip-kernels", HelpText = "Only the end-to-end table.")]
    public bool SkipKernels { get; set; }
    [Option("pipeline", HelpText = "Also measure the chunk pipeline: serial kernel + transfer time against 1, 2 and 4 chunks in flight.")]
    public bool Pipeline { get; set; }
    [Option("pipeline-n", Default = 65536, HelpText = "Samples for the pipeline measurement.")]
    public int PipelineN { get; set; }
    [Option("pipeline-chunk", Default = 4096, HelpText = "Chunk size for the pipeline measurement.")]
    public int PipelineChunk { get; set; }
}

public static class BenchCommand
{
    /// <summary>What is being measured now, on stderr when it is a terminal (tables only print when complete).</summary>
    static void Progress(string what)
    {
        if (!Console.IsErrorRedirected) Console.Error.WriteLine($"bench: {DateTime.Now:HH:mm:ss} {what}");
    }

    public static int Run(BenchOptions o)
    {
        if (o.Rows < 1 || o.Dim < 1 || o.Reps < 1 || o.N < 1 || o.Steps < 1 || o.Runs < 1) throw new ArgumentException("bench sizes must be positive");
        var dims = o.Dims.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.TryParse(s, out var d) && d > 0 ? d : throw new ArgumentException($"--dims: '{s}' is not a positive integer")).ToArray();
        var samplers = o.Samplers.Split(',', StringSplitOptions.RemoveEmptyEntries);
        foreach (var s in samplers) Sampler.Check(s);
        using var device = BackendFactory.Open(o.Device);
        Console.WriteLine($"# cldiff bench, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, device: {device.DeviceName}");
        if (!o.SkipKernels)
        {
            if (device is OpenClBackend cl)
            {
                Progress($"kernel table: {o.Rows} rows, d = {o.Dim}, {o.Reps} calls per kernel (compiling first)");
                Console.WriteLine($"\n## Kernels ({o.Rows} rows, d = {o.Dim}, {o.Reps} calls each)\n");
                Console.WriteLine(KernelBench.Format(KernelBench.Run(cl, o.Rows, o.Dim, 8, o.Reps)));
            }
            else Console.WriteLine("(no OpenCL device: kernel table skipped)");
        }
        Progress($"end to end: {dims.Length * samplers.Length} rows, each {o.Runs + 1} runs on the device and on the CPU");
        Console.WriteLine($"\n## End to end: {o.N} samples, {o.Steps} steps, median of {o.Runs} runs\n");
        Console.WriteLine($"{"sampler",-8} {"d",6} {"NFE",6} {"device samples/s",17} {"cpu samples/s",14} {"ratio",7}");
        using var cpu = new CpuBackend();
        foreach (int d in dims)
            foreach (var s in samplers)
            {
                var model = GaussianMixture.Preset(d, 5);
                var so = new SamplerOptions { Steps = o.Steps };
                var buf = new float[(long)o.N * d];
                double Median(IBackend b, out double nfe)
                {
                    var st = SampleRun.Run(b, model, s, so, 1, 0, o.N, buf);   // warm-up (kernel builds)
                    nfe = st.NfePerSample;
                    var times = new List<double>();
                    for (int r = 0; r < o.Runs; r++)
                    {
                        var sw = Stopwatch.StartNew();
                        SampleRun.Run(b, model, s, so, 1, 0, o.N, buf);
                        times.Add(sw.Elapsed.TotalSeconds);
                    }
                    times.Sort();
                    return times[times.Count / 2];
                }
                Progress($"{s} d = {d} on {device.DeviceName}");
                double tDev = Median(device, out double nfe);
                Progress($"{s} d = {d} on the CPU backend");
                double tCpu = Median(cpu, out _);
                Console.WriteLine($"{s,-8} {d,6} {nfe,6:0} {o.N / tDev,17:0} {o.N / tCpu,14:0} {tCpu / tDev,7:0.00}");
            }
        if (o.Pipeline)
        {
            if (device is not OpenClBackend pcl) { Console.WriteLine("(no OpenCL device: pipeline table skipped)"); return 0; }
            var model = GaussianMixture.Preset(16, 5);
            var so = new SamplerOptions { Steps = 10 };
            Console.WriteLine($"\n## Pipeline: ei, 10 steps, mix16-5, n = {o.PipelineN}, chunk {o.PipelineChunk}, best of {o.Runs}\n");
            var serial = Enumerable.Range(0, o.Runs).Select(_ => ClDiffusion.Tooling.Benchmarks.PipelineBench.MeasureSerial(pcl, model, "ei", so, 1, o.PipelineN, o.PipelineChunk)).MinBy(r => r.TotalSeconds)!;
            Console.WriteLine($"serial: {serial.Chunks} chunks, kernels {serial.KernelSeconds:0.000} s + transfers {serial.TransferSeconds:0.000} s = {serial.TotalSeconds:0.000} s");
            foreach (int streams in new[] { 1, 2, 4 })
            {
                var p = Enumerable.Range(0, o.Runs).Select(_ => ClDiffusion.Tooling.Benchmarks.PipelineBench.MeasurePipelined(pcl, model, "ei", so, 1, o.PipelineN, o.PipelineChunk, streams)).MinBy(r => r.WallSeconds)!;
                double hidden = serial.TransferSeconds > 0 ? Math.Clamp((serial.TotalSeconds - p.WallSeconds) / serial.TransferSeconds, 0, 1) : double.NaN;
                Console.WriteLine($"{streams} in flight: wall {p.WallSeconds:0.000} s, {p.SamplesPerSecond:0} samples/s, {serial.TotalSeconds / p.WallSeconds:0.00}x serial, transfer hidden {hidden:P0}");
            }
        }
        return 0;
    }
}
