using ClDiffusion.Backends;
using System.Globalization;
using ClDiffusion.Tooling.Experiments;
using ClDiffusion.IO;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using CommandLine;
using ClDiffusion.Cli.Output;

namespace ClDiffusion.Cli.Commands;

[Verb("scaling", HelpText = "Dimension scaling on exact targets: NFE and rounds needed for a fixed error against d, Picard error against K, error against score error (docs/EVIDENCE.md). The defaults are a small sweep of a few minutes; EVIDENCE.md gives the full commands. Writes CSV and PNG files into --out.")]
public sealed class ScalingOptions : SamplerCliOptions
{
    [Option("part", Default = "scaling", HelpText = "all, or a comma list of: scaling, picard, robust.")]
    public string Part { get; set; } = "scaling";
    [Option("samplers", Default = "ei,rm,dpmpp-2m", HelpText = "Samplers of the scaling sweep (this list is used; --sampler is ignored): any sampler `cldiff samplers` lists, or prm-r = prm with --prm-windows windows and --prm-rounds Picard rounds, searched over R.")]
    public string Samplers { get; set; } = "";
    [Option("dims", Default = "2,8,32,128", HelpText = "Comma-separated dimensions d (docs/EVIDENCE.md goes to 2048).")]
    public string Dims { get; set; } = "";
    [Option("kl-max-dim", Default = 512, HelpText = "Largest d for samplers judged by KL (their n grows like sqrt(d)).")]
    public int KlMaxDim { get; set; }
    [Option("seeds", Default = "1", HelpText = "Comma-separated seeds; medians over them are reported (docs/EVIDENCE.md: 1,2,3).")]
    public string Seeds { get; set; } = "";
    [Option("family", Default = "gauss", HelpText = "gauss (anisotropic single Gaussian) or mixK (mixture preset with K components, coupling samplers only).")]
    public string Family { get; set; } = "gauss";
    [Option("coupling-target", Default = 0.1, HelpText = "Error target: total coupling error sqrt(E||x - Phi(z)||^2).")]
    public double CouplingTarget { get; set; }
    [Option("kl-target", Default = 0.05, HelpText = "Error target: diagonal-fit KL minus its floor (samplers with a corrector).")]
    public double KlTarget { get; set; }
    [Option("max-steps", Default = 2048, HelpText = "Largest step count the search tries.")]
    public int MaxSteps { get; set; }
    [Option("prm-windows", Default = 16, HelpText = "prm-r: fixed number of windows.")]
    public int PrmWindows { get; set; }
    [Option("prm-rounds", Default = 4, HelpText = "prm-r: fixed Picard rounds K per window.")]
    public int PrmRounds { get; set; }
    [Option("study-dim", Default = 32, HelpText = "d of the Picard and score-error studies.")]
    public int StudyDim { get; set; }
    [Option("study-steps", Default = 32, HelpText = "Steps (windows) of the Picard and score-error studies.")]
    public int StudySteps { get; set; }
    [Option("out", Default = ".", HelpText = "Folder for the CSV files (docs/EVIDENCE.md's were made with --out docs/img/data --img docs/img).")]
    public string Out { get; set; } = ".";
    [Option("img", HelpText = "Folder for the PNG plots (default: --out).")]
    public string? Img { get; set; }
    [Option("tag", Default = "", HelpText = "Suffix of the output file names.")]
    public string Tag { get; set; } = "";
}

public static class ScalingCommand
{
    static int[] Ints(string s, string what) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(v => int.TryParse(v, out var k) && k > 0 ? k : throw new ArgumentException($"--{what}: '{v}' is not a positive integer")).ToArray();

    public static int Run(ScalingOptions o)
    {
        var parts = o.Part.Split(',', StringSplitOptions.TrimEntries).ToHashSet();
        bool all = parts.Contains("all");
        var dims = Ints(o.Dims, "dims");
        var seeds = o.Seeds.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ulong.Parse).ToArray();
        var samplers = o.Samplers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToArray();
        foreach (var s in samplers) Scaling.SamplerOf(s);   // unknown names fail here, before any work
        var so = o.ToSamplerOptions();
        so.Validate();
        var settings = new ScalingSettings { CouplingTarget = o.CouplingTarget, KlTarget = o.KlTarget, MaxSteps = o.MaxSteps, ParallelWindows = o.PrmWindows, ParallelRounds = o.PrmRounds };
        Func<int, GaussianMixture> make = o.Family == "gauss" ? ScalingTargets.Anisotropic
            : o.Family.StartsWith("mix") && int.TryParse(o.Family[3..], out int k) ? d => GaussianMixture.Preset(d, k)
            : throw new ArgumentException($"--family: use gauss or mixK, got '{o.Family}'");
        using var backend = BackendFactory.Open(o.Device ?? "cpu");
        string img = o.Img ?? o.Out;
        Directory.CreateDirectory(o.Out); Directory.CreateDirectory(img);
        string tag = o.Tag.Length > 0 ? "-" + o.Tag : "";
        Console.Error.WriteLine($"scaling: family {o.Family}, device {backend.DeviceName}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, T = {so.Horizon}, delta = {so.Delta}, grid {so.Grid}");

        if (all || parts.Contains("scaling"))
        {
            var points = new List<ScalingPoint>();
            var live = new List<ScalingPoint>();
            foreach (var sampler in samplers)
            {
                var ds = Scaling.HasCorrector(sampler) ? dims.Where(d => d <= o.KlMaxDim).ToArray() : dims;
                if (Scaling.HasCorrector(sampler) && o.Family != "gauss") continue;
                string csv = Path.Combine(o.Out, $"scaling-{o.Family}{tag}.csv");
                points.AddRange(Scaling.Sweep(backend, make, o.Family, [sampler], ds, seeds, so, settings, p =>
                {
                    live.Add(p);
                    File.WriteAllText(csv, Scaling.ToCsv(live));   // kept up to date, so an interrupted run keeps its points
                    Console.Error.WriteLine($"  {p.Sampler,-9} d {p.Dim,5} seed {p.Seed}  n {p.Samples,5}  steps {p.Steps,5}{(p.Found ? "" : " (not found)")}  NFE {p.Nfe,7:0.#}  rounds {p.Rounds,5}  err {p.Error:G3}  ({p.Evaluations} runs, {p.Seconds:0.0} s)");
                }));
            }
            File.WriteAllText(Path.Combine(o.Out, $"scaling-{o.Family}{tag}.csv"), Scaling.ToCsv(points));
            var nfeRows = Scaling.Exponents(points, "nfe");
            var roundRows = Scaling.Exponents(points.Where(p => Scaling.IsParallel(p.Sampler)), "rounds");
            Console.WriteLine($"### NFE needed (median over seeds [range]; r = rounds), family {o.Family}\n");
            Console.WriteLine(Scaling.ToMarkdown(points));
            Console.WriteLine("\n### Fitted exponents of d\n");
            Console.WriteLine(Scaling.ExponentsMarkdown(nfeRows.Concat(roundRows).Concat(Scaling.Exponents(points, "steps"))));
            Console.WriteLine();
            Plot.LogLog(Path.Combine(img, $"nfe-vs-d-{o.Family}{tag}.png"), $"NFE for fixed error vs d ({o.Family})", "d", "NFE per sample",
                Series(points, p => p.Nfe, nfeRows));
            // the parallel samplers (registry trait) and the sequential ones they parallelise, as baselines
            var par = points.Where(p => Scaling.IsParallel(p.Sampler) || p.Sampler is "ei" or "rm" or "rm-pc" or "ei-pc").ToList();
            Plot.LogLog(Path.Combine(img, $"rounds-vs-d-{o.Family}{tag}.png"), $"Sequential rounds of score calls vs d ({o.Family})", "d", "rounds",
                Series(par, p => p.Rounds, Scaling.Exponents(par, "rounds")));
        }
        var study = ScalingTargets.Anisotropic(o.StudyDim);
        if (all || parts.Contains("picard"))
        {
            var pts = new List<StudyPoint>();
            foreach (var seed in seeds)
                pts.AddRange(Scaling.PicardStudy(backend, study, so, seed, Scaling.CouplingSamples(settings, o.StudyDim), o.StudySteps, so.SubWindows,
                    Enumerable.Range(0, 9), 40, [1, 2, 4, 8, 16], so.PicardRounds,
                    p => Console.Error.WriteLine($"  {p.Study} {p.Parameter,3}  rounds {p.Rounds,4}  error {p.Error:G3}  vs exact {p.Extra:G3}")));
            File.WriteAllText(Path.Combine(o.Out, $"picard{tag}.csv"), Scaling.ToCsv(pts));
            Console.WriteLine($"### prm on the anisotropic Gaussian, d = {o.StudyDim}, {o.StudySteps} windows, R = {so.SubWindows}: Picard error against K (mean over seeds)\n");
            Console.WriteLine("| K | rounds | NFE | distance to K = 40 | coupling error vs exact |\n|---:|---:|---:|---:|---:|");
            foreach (var g in pts.Where(p => p.Study == "picard-K").GroupBy(p => p.Parameter))
                Console.WriteLine($"| {g.Key} | {g.First().Rounds} | {g.First().Nfe:0} | {g.Average(p => p.Error):G3} | {g.Average(p => p.Extra):G3} |");
            Console.WriteLine($"\n### prm: coupling error against R at K = {so.PicardRounds} (mean over seeds)\n");
            Console.WriteLine("| R | rounds | NFE | coupling error vs exact |\n|---:|---:|---:|---:|");
            foreach (var g in pts.Where(p => p.Study == "prm-R").GroupBy(p => p.Parameter))
                Console.WriteLine($"| {g.Key} | {g.First().Rounds} | {g.First().Nfe:0} | {g.Average(p => p.Error):G3} |");
            Console.WriteLine();
            Plot.LogLog(Path.Combine(img, $"picard-vs-K{tag}.png"), $"prm: Picard error vs K (d={o.StudyDim}, R={so.SubWindows}, {o.StudySteps} windows)", "K", "RMS distance",
                [
                    new("|x_K - x_40|", pts.Where(p => p.Study == "picard-K" && p.Error > 0).GroupBy(p => p.Parameter).Select(g => (g.Key, g.Average(p => p.Error))).ToArray(), null),
                    new("error vs exact flow", pts.Where(p => p.Study == "picard-K").GroupBy(p => p.Parameter).Select(g => (g.Key, g.Average(p => p.Extra))).ToArray(), null),
                ], logX: false);
        }
        if (all || parts.Contains("robust"))
        {
            var pts = new List<StudyPoint>();
            double[] eps = [0, 0.01, 0.03, 0.1, 0.3, 1.0];
            foreach (var seed in seeds.Take(1))
                pts.AddRange(Scaling.RobustnessStudy(backend, study, ["ei", "rm", "heun", "ei-pc", "rm-pc"], eps, so, o.StudySteps, seed, settings,
                    p => Console.Error.WriteLine($"  {p.Sampler,-6} eps {p.Parameter,5}  {p.Measure} {p.Error:G3}")));
            File.WriteAllText(Path.Combine(o.Out, $"robust{tag}.csv"), Scaling.ToCsv(pts));
            Console.WriteLine($"### Error against the score error eps_s (d = {o.StudyDim}, {o.StudySteps} steps, seed {seeds[0]})\n");
            Console.WriteLine("| sampler | measure | " + string.Join(" | ", eps.Select(e => $"eps={e}")) + " |\n|---|---|" + string.Concat(eps.Select(_ => "---:|")));
            foreach (var g in pts.GroupBy(p => p.Sampler))
                Console.WriteLine($"| {g.Key} | {g.First().Measure} | " + string.Join(" | ", g.Select(p => p.Error.ToString("G3", CultureInfo.InvariantCulture))) + " |");
            Console.WriteLine();
            Plot.LogLog(Path.Combine(img, $"error-vs-score-error{tag}.png"), $"Error vs score error eps_s (d={o.StudyDim}, {o.StudySteps} steps); eps=0 drawn at 0.003", "eps_s", "error (coupling W2 or KL)",
                pts.GroupBy(p => p.Sampler).Select(g => new Plot.Series($"{g.Key} ({(g.First().Measure == ScalingMeasure.Coupling ? "W2" : "KL")})",
                    g.Where(p => p.Error > 0).Select(p => (p.Parameter > 0 ? p.Parameter : 0.003, p.Error)).ToArray(), null)).ToList());
        }
        return 0;
    }

    static List<Plot.Series> Series(IEnumerable<ScalingPoint> points, Func<ScalingPoint, double> q, IEnumerable<Scaling.ExponentRow> fits)
    {
        var fit = fits.ToDictionary(r => r.Sampler);
        return points.Where(p => p.Found).GroupBy(p => p.Sampler).Select(g =>
        {
            var med = g.GroupBy(p => p.Dim).OrderBy(x => x.Key).Select(x => ((double)x.Key, x.Select(q).OrderBy(v => v).ElementAt(x.Count() / 2))).ToArray();
            fit.TryGetValue(g.Key, out var f);
            return new Plot.Series(f is null ? g.Key : $"{g.Key}: d^{f.Pooled.Slope:0.00}", med, f?.Pooled);
        }).ToList();
    }
}
