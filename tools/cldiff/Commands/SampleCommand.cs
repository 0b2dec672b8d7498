using System.Text.Json;
using ClDiffusion.Backends;
using ClDiffusion.IO;
using ClDiffusion.Metrics;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Samplers;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("sample", isDefault: false, HelpText = "Draw samples with a sampler and write them as .npy (float32, [n, d]) or .csv.")]
public sealed class SampleOptions : SamplerCliOptions
{
    [Option('n', "count", Default = 1000, HelpText = "Number of samples (also accepted as --n).")]
    public long N { get; set; }
    [Option("seed", Default = 0UL, HelpText = "Seed of the counter-based generator.")]
    public ulong Seed { get; set; }
    [Option("first", Default = 0L, HelpText = "Index of the first sample (samples [first, first + n) of the seed).")]
    public long First { get; set; }
    [Option("batch", Default = 16384, HelpText = "Samples per batch on the device (results do not depend on it).")]
    public int Batch { get; set; }
    [Option("out", HelpText = "Output file (.npy or .csv).")]
    public string? Out { get; set; }
    [Option("report", HelpText = "Write a JSON report (nfe_per_sample, rounds, seconds, device, sampler, ...).")]
    public string? Report { get; set; }
    [Option("png", HelpText = "Write a picture: 8x8 digit images for d = 64, else a scatter of the first two coordinates.")]
    public string? Png { get; set; }
    [Option("eval", HelpText = "Print the metrics of the samples against the exact target.")]
    public bool Eval { get; set; }
}

public static class SampleCommand
{
    public static int Run(SampleOptions o)
    {
        // Validate everything before any work, so a bad option never costs a run or leaves a file.
        var (baseModel, target) = o.LoadModel();
        IScoreModel model = o.ScoreError > 0 ? new PerturbedScore(baseModel, o.ScoreError) : baseModel;
        int dim = model.Dim;
        if (o.Eval && target is null) throw new ArgumentException("--eval needs an exact target (--target or --preset); for a learned model use --png or `cldiff check`");
        if (o.ScoreError < 0 || !double.IsFinite(o.ScoreError)) throw new ArgumentException($"--score-error must be finite and >= 0, got {o.ScoreError}");
        Sampler.Check(o.Sampler);
        var so = o.ToSamplerOptions();
        so.Validate();
        if (o.N < 1) throw new ArgumentException($"--n must be at least 1, got {o.N}");
        if (o.N * dim > int.MaxValue) throw new ArgumentException($"--n {o.N} x d {dim} exceeds the 2^31 floats one run holds; split it with --first");
        if (o.Out is null && !o.Eval && o.Png is null) throw new ArgumentException("nothing to do: give --out FILE, --png FILE and/or --eval");
        if (o.Png is not null && !o.Png.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"--png must end in .png, got '{o.Png}'");
        if (o.Out is not null && Path.GetExtension(o.Out).ToLowerInvariant() is not (".npy" or ".csv"))
            throw new ArgumentException($"--out must end in .npy or .csv, got '{o.Out}'");

        using var backend = Devices.Open(o.Device);
        int n = (int)o.N;
        var samples = new float[(long)n * dim];
        var stats = SampleRun.Run(backend, model, o.Sampler, so, o.Seed, o.First, n, samples, o.Batch);
        if (model is IDataSpaceModel ds) ds.ToDataSpace(samples);   // MLPs diffuse in normalised space
        for (long i = 0; i < samples.Length; i++)
            if (!float.IsFinite(samples[i]))
                throw new InvalidOperationException($"sample {o.First + i / dim} diverged (non-finite value); try more steps, a uniform grid or a smaller --block");

        if (o.Out is not null) SampleFile.Write(o.Out, samples, n, dim);
        if (o.Png is not null) Output.Pictures.Write(o.Png, samples, n, dim, checkerboard: o.Model == "checkerboard");
        Console.Error.WriteLine($"{o.Sampler}: {n} samples, d = {dim}, {stats.NfePerSample:0.##} NFE/sample, {stats.Rounds} rounds, {stats.Seconds:0.###} s on {stats.Device}");
        Dictionary<string, object>? metrics = null;
        if (o.Eval)
        {
            var report = SampleEvaluator.Evaluate(target!, samples, n, o.Seed + 1_000_003);
            Console.WriteLine(report.ToString());
            metrics = JsonSerializer.Deserialize<Dictionary<string, object>>(report.ToJson(false));
        }
        if (o.Report is not null)
        {
            var json = new Dictionary<string, object?>
            {
                ["sampler"] = o.Sampler, ["device"] = stats.Device, ["n"] = n, ["d"] = dim, ["seed"] = o.Seed,
                ["first"] = o.First, ["steps"] = so.Steps, ["nfe_per_sample"] = stats.NfePerSample, ["rounds"] = stats.Rounds,
                ["seconds"] = stats.Seconds, ["model"] = model.Describe(), ["options"] = so, ["metrics"] = metrics,
            };
            var text = JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true });
            AtomicFile.Write(o.Report, s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(text); });
        }
        return 0;
    }
}
