using ClDiffusion.Scheduling;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("merge", HelpText = "Concatenate float32 .npy files along the first axis (the shards of one run, in shard order), checking shapes.")]
public sealed class MergeOptions
{
    [Option("out", Required = true, HelpText = "Merged .npy (written atomically).")]
    public string Out { get; set; } = "";
    [Value(0, MetaName = "inputs", Required = true, HelpText = "Input .npy files in order (shard 0 first).")]
    public IEnumerable<string> Inputs { get; set; } = [];
}

public static class MergeCommand
{
    public static int Run(MergeOptions o)
    {
        var inputs = o.Inputs.ToList();
        if (inputs.Count == 0) throw new ArgumentException("merge: give the input .npy files");
        if (!o.Out.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"--out must end in .npy, got '{o.Out}'");
        var (rows, cols) = NpyMerge.Merge(inputs, o.Out);
        Console.Error.WriteLine($"merge: {inputs.Count} files, {rows} rows x {cols} -> {o.Out}");
        return 0;
    }
}
