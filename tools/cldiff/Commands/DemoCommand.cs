using ClDiffusion.Backends;
using ClDiffusion.Metrics;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Samplers;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("demo", HelpText = "The main job: sample the built-in 16-d mixture with rm-pc and print its metrics against the exact target, the same for rm-x0, dpmpp-2m and ei at 10 score evaluations side by side, then sample the shipped digits model and write a picture.")]
public sealed class DemoOptions
{
    [Option("device", HelpText = "cpu | auto | opencl | opencl:P:D | opencl:NAME (default: $CLDIFF_DEVICE or auto).")]
    public string? Device { get; set; }
    [Option("png", Default = "digits.png", HelpText = "Where to write the grid of generated digits (relative to the current folder).")]
    public string Png { get; set; } = "digits.png";
    [Option("count", Default = 4000, HelpText = "Mixture samples (also --n).")]
    public int N { get; set; }
}

public static class DemoCommand
{
    public static int Run(DemoOptions o)
    {
        if (o.N < 2) throw new ArgumentException($"--n must be at least 2, got {o.N}");
        if (!o.Png.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"--png must end in .png, got '{o.Png}'");
        using var backend = BackendFactory.Open(o.Device);
        var target = GaussianMixture.Preset(16, 5);
        var so = new SamplerOptions();
        var floors = SampleEvaluator.Floors(target, o.N, 1_000_003);   // one set of exact floor draws for every sampler below
        var x = new float[(long)o.N * target.Dim];
        var st = SampleRun.Run(backend, target, "rm-pc", so, 0, 0, o.N, x);
        Console.WriteLine($"rm-pc (the paper's sequential algorithm) on {target.Describe()}: {o.N} samples, {st.NfePerSample:0.#} NFE/sample, {st.Seconds:0.00} s on {st.Device}");
        Console.WriteLine("Each metric compares the samples with the exact target, beside its noise floor: the same metric for exact");
        Console.WriteLine("samples of the same size, drawn many times. The verdict says whether the sampler's error shows above that noise.");
        Console.WriteLine(SampleEvaluator.Evaluate(x, floors).ToString());

        // what the project is for: fewer score evaluations for the same accuracy
        var few = new (string Sampler, SamplerOptions Options)[] { ("rm-x0", so with { Steps = 10 }), ("dpmpp-2m", so with { Steps = 10 }), ("ei", so with { Steps = 10 }) };
        var reports = new List<(string Name, Metrics.MetricReport Report, double Nfe)>();
        foreach (var (name, opts) in few)
        {
            var xs = new float[(long)o.N * target.Dim];
            var s = SampleRun.Run(backend, target, name, opts, 0, 0, o.N, xs);
            reports.Add((name, SampleEvaluator.Evaluate(xs, floors), s.NfePerSample));
        }
        Console.WriteLine(SideBySide(reports));
        var digits = MlpModel.Load(ShippedModels.Resolve("optdigits"));
        const int nd = 100;
        var y = new float[nd * digits.Dim];
        var sd = SampleRun.Run(backend, digits, "rm-pc", so with { Denoise = true }, 0, 0, nd, y);
        Output.Pictures.Write(o.Png, y, nd, digits.Dim, checkerboard: false);
        Console.WriteLine($"optdigits MLP: {nd} digits with rm-pc, {sd.NfePerSample:0.#} NFE/sample, {sd.Seconds:0.00} s on {sd.Device}");
        Console.WriteLine($"picture of the {nd} digits (10 x 10 grid of 8x8 images) written to {Path.GetFullPath(o.Png)}");
        return 0;
    }

    /// <summary>Rows: metrics; columns: samplers, each cell "ratio (p) verdict" against the same floors.</summary>
    static string SideBySide(List<(string Name, Metrics.MetricReport Report, double Nfe)> reports)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(c, $"The same target and floors at few score evaluations: {string.Join(", ", reports.Select(r => $"{r.Name} {r.Nfe:0.#} NFE"))}");
        sb.AppendLine("(cell: value / median floor, p-value, verdict; lower is better)");
        int w = reports[0].Report.Metrics.Max(m => m.Name.Length);
        const int cw = 30;
        sb.AppendLine(c, $"{"metric".PadRight(w)}  {string.Join("  ", reports.Select(r => $"{r.Name} ({r.Nfe:0.#} NFE)".PadRight(cw)))}");
        foreach (var m in reports[0].Report.Metrics)
            sb.AppendLine(c, $"{m.Name.PadRight(w)}  {string.Join("  ", reports.Select(r => Cell(r.Report[m.Name]).PadRight(cw)))}");
        return sb.ToString().TrimEnd();

        string Cell(Metrics.MetricValue v) => double.IsFinite(v.Ratio)
            ? string.Create(c, $"{v.Ratio,6:0.00}x p={v.PValue:0.000} {v.Verdict}")
            : v.Verdict;
    }
}
