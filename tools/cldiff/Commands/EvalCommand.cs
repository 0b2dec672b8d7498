using ClDiffusion.IO;
using ClDiffusion.Metrics;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("eval", HelpText = "Metrics of a sample file against an exact Gaussian-mixture target, each beside its sampling-noise floor with a calibrated verdict (a p-value among exact draws).")]
public sealed class EvalOptions : ModelOptions
{
    [Option("samples", Required = true, HelpText = "Samples (.npy, float32 or float64, shape [n, d]).")]
    public string Samples { get; set; } = "";
    [Option("seed", Default = 1_000_003UL, HelpText = "Seed of the exact reference samples and projections.")]
    public ulong Seed { get; set; }
    [Option("floor-draws", Default = 39, HelpText = "Independent exact sample sets that make each metric's noise-floor distribution (p-values reach 1/(draws + 1); at least 39). Costs about this many evaluations.")]
    public int FloorDraws { get; set; } = 39;
    [Option("json", HelpText = "Print JSON instead of a table.")]
    public bool Json { get; set; }
}

public static class EvalCommand
{
    public static int Run(EvalOptions o)
    {
        var target = o.LoadTarget();
        var arr = Npy.Read(o.Samples);
        if (arr.Shape.Length != 2) throw new InvalidDataException($"{o.Samples}: expected shape [n, d], got [{string.Join(", ", arr.Shape)}]");
        if (arr.Cols != target.Dim) throw new InvalidDataException($"{o.Samples}: samples have d = {arr.Cols} but the target has d = {target.Dim}");
        if (arr.Rows < 2) throw new InvalidDataException($"{o.Samples}: need at least 2 samples, got {arr.Rows}");
        var report = SampleEvaluator.Evaluate(target, arr.ToFloat32(), arr.Rows, o.Seed, MetricOptions.Default with { FloorDraws = o.FloorDraws });
        Console.WriteLine(o.Json ? report.ToJson() : report.ToString());
        return 0;
    }
}
