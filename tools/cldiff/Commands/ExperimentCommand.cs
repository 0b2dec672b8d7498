using ClDiffusion.Backends;
using ClDiffusion.Tooling.Experiments;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("experiment", HelpText = "Error against NFE for several samplers on an exact target; prints a markdown table (docs/EXPERIMENTS.md is made with it).")]
public sealed class ExperimentOptions : SamplerCliOptions
{
    [Option("samplers", Default = "ei,rm,ei-pc,rm-pc,heun,dpmpp-2m,prm,prm-pc,picard", HelpText = "Comma-separated samplers to compare (this list is used; --sampler is ignored).")]
    public string Samplers { get; set; } = "";
    [Option("step-list", Default = "5,10,20,40,80", HelpText = "Comma-separated step counts.")]
    public string StepList { get; set; } = "";
    [Option("count", Default = 4000, HelpText = "Samples per point (also --n).")]
    public int N { get; set; }
    [Option("seed", Default = 1UL, HelpText = "Seed of the counter-based generator.")]
    public ulong Seed { get; set; }
}

public static class ExperimentCommand
{
    public static int Run(ExperimentOptions o)
    {
        var target = o.LoadTarget();
        IScoreModel model = o.ScoreError > 0 ? new PerturbedScore(target, o.ScoreError) : target;
        var samplers = o.Samplers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var s in samplers) Sampler.Check(s);
        var steps = o.StepList.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.TryParse(s, out var k) && k > 0 ? k : throw new ArgumentException($"--step-list: '{s}' is not a positive integer")).ToArray();
        if (o.N < 2) throw new ArgumentException($"--n must be at least 2, got {o.N}");
        var so = o.ToSamplerOptions();
        so.Validate();
        using var backend = BackendFactory.Open(o.Device ?? "cpu");
        Console.Error.WriteLine($"experiment: {target.Describe()}, n = {o.N}, device {backend.DeviceName}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        var floor = NfeSweep.Floor(target, o.N, o.Seed);
        var points = NfeSweep.Run(backend, model, target, samplers, steps, o.N, o.Seed, so,
            p => Console.Error.WriteLine($"  {p.Sampler,-9} steps {p.Steps,4}  NFE {p.Nfe,7:0.#}  sliced W2 {p.SlicedW2:0.0000}  ({p.Seconds:0.0} s)"));
        Console.WriteLine(NfeSweep.ToMarkdown(points, floor));
        return 0;
    }
}
