using System.Diagnostics;
using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL.Tuning;
using ClDiffusion.Tooling.OpenCL;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("tune", HelpText = "Tune the OpenCL kernels' parameters for a device (checked against the CPU backend) and merge the best into a tuning database (docs/TUNING.md).")]
public sealed class TuneOptions
{
    [Option("device", Default = "opencl", HelpText = "OpenCL device to tune (opencl | opencl:P:D | opencl:NAME).")]
    public string Device { get; set; } = "opencl";
    [Option("kernel", Default = "all", HelpText = "Kernel family: gmm | gmm-rows | midpoint | langevin | lincomb | mlp | all (comma-separated list allowed).")]
    public string Kernel { get; set; } = "all";
    [Option("shapes", HelpText = "Comma-separated ROWSxD shapes (one database entry per kernel and shape class of d; for mlp ROWSxW: batch x hidden width, class by width). Default: 8192x64,2048x256; mlp 4096x256,4096x1024.")]
    public string? Shapes { get; set; }
    [Option("strategy", Default = "anneal", HelpText = "full | random | anneal (simulated annealing over grid neighbours).")]
    public string Strategy { get; set; } = "anneal";
    [Option("budget", HelpText = "Most new candidates per kernel and shape.")]
    public int? Budget { get; set; }
    [Option("time", HelpText = "Wall-clock seconds for the whole run, shared equally by the kernel x shape pairs (default: 120 unless --budget is given).")]
    public double? Time { get; set; }
    [Option("out", Default = "tuning.json", HelpText = "Tuning database to merge the best entries into (written atomically); use it with CLDIFF_TUNING or OpenClOptions.TuningFile.")]
    public string Out { get; set; } = "tuning.json";
    [Option("history", HelpText = "The tuner's history (every tried candidate; a rerun resumes from it). Default: beside --out, DB.history.json. The runtime never reads it.")]
    public string? History { get; set; }
    [Option("seed", Default = 1, HelpText = "Seed of the inputs and of the random / anneal search.")]
    public int Seed { get; set; }
    [Option("reps", Default = 5, HelpText = "Timed runs per candidate (median).")]
    public int Reps { get; set; }
    [Option("key", Default = "exact", HelpText = "Where the best entries go: exact (this device model, driver and core count; the same model under another driver uses it too, an exact match wins) | platform (every device of this platform and type, e.g. any PoCL CPU; the exact entry of a model still wins there). The history stays under the exact device.")]
    public string Key { get; set; } = "exact";
    [Option("compare", Default = 3, HelpText = "After the search, measure best vs built-in defaults alternately this many rounds and keep the defaults when they are not slower (0: skip).")]
    public int Compare { get; set; }
}

public static class TuneCommand
{
    public static int Run(TuneOptions o)
    {
        var strategy = o.Strategy.ToLowerInvariant() switch
        {
            "full" => TuningStrategy.Full, "random" => TuningStrategy.Random, "anneal" => TuningStrategy.Anneal,
            _ => throw new ArgumentException($"--strategy: '{o.Strategy}' is not full | random | anneal"),
        };
        if (o.Budget is < 1) throw new ArgumentException("--budget must be at least 1");
        if (o.Time is { } ts && !(ts > 0)) throw new ArgumentException("--time must be positive seconds");
        double? time = o.Time ?? (o.Budget is null ? 120 : null);   // a bounded run by default
        if (o.Reps < 1 || o.Compare < 0) throw new ArgumentException("--reps must be positive and --compare non-negative");
        bool platformKey = o.Key.ToLowerInvariant() switch
        {
            "exact" => false, "platform" => true,
            _ => throw new ArgumentException($"--key: '{o.Key}' is not exact | platform"),
        };
        var kernels = o.Kernel.ToLowerInvariant() == "all" ? TuningBenchmarks.All.Select(b => b.Kernel).ToArray()
            : o.Kernel.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(k => TuningBenchmarks.ByName(k.ToLowerInvariant()).Kernel).ToArray();
        IReadOnlyList<TuningShape> ShapesOf(string k) => TuningShape.ParseList(o.Shapes ?? TuningBenchmarks.ByName(k).DefaultShapes);
        if (o.Shapes is not null && TuningShape.ParseList(o.Shapes).Count == 0) throw new ArgumentException("--shapes: give at least one ROWSxD shape");
        var dev = BackendFactory.Resolve(o.Device, out _) ?? throw new ArgumentException($"--device {o.Device}: tuning needs an OpenCL device");
        var outDir = Path.GetDirectoryName(Path.GetFullPath(o.Out))!;
        if (!Directory.Exists(outDir)) throw new DirectoryNotFoundException($"--out {o.Out}: folder {outDir} does not exist");
        var db = TuningDatabase.Load(o.Out);
        string historyPath = o.History ?? TuningHistory.PathFor(o.Out);
        var histDir = Path.GetDirectoryName(Path.GetFullPath(historyPath))!;
        if (!Directory.Exists(histDir)) throw new DirectoryNotFoundException($"--history {historyPath}: folder {histDir} does not exist");
        var history = TuningHistory.FromLegacyDatabase(o.Out);   // a database written before the split still carries its history
        history.Merge(TuningHistory.Load(historyPath));
        void Save() { history.Save(historyPath); db.Save(o.Out); }
        int pairs = kernels.Sum(k => ShapesOf(k).Count);
        var total = Stopwatch.StartNew();
        var runner0 = new TuningRunner(dev, db, new TuningRunOptions { Strategy = strategy, Budget = o.Budget, Seed = o.Seed, Reps = o.Reps }, history);
        Console.WriteLine($"# cldiff tune, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, device: {dev.Name} ({dev.Platform.Name})");
        string entryKey = platformKey ? runner0.Description.PlatformKey ?? throw new ArgumentException($"--key platform: the platform or type of {dev.Name} is unknown") : runner0.DeviceKey;
        Console.WriteLine($"# database key: {entryKey}{(platformKey ? $" (history under {runner0.DeviceKey})" : "")}; strategy {strategy.ToString().ToLowerInvariant()}, budget {o.Budget?.ToString() ?? "-"} per kernel and shape, time {time?.ToString() ?? "-"} s; out {o.Out}, history {historyPath}");
        var summary = new List<string>();
        int done = 0;
        foreach (var k in kernels)
            foreach (var s in ShapesOf(k))
            {
                TimeSpan? limit = null;
                if (time is { } sec)
                {
                    double left = sec - total.Elapsed.TotalSeconds;
                    if (left <= 0) { Console.WriteLine($"\n## {k} {s}: skipped, --time used up"); done++; continue; }
                    limit = TimeSpan.FromSeconds(left / (pairs - done));
                }
                done++;
                var runner = new TuningRunner(dev, db, new TuningRunOptions { Strategy = strategy, Budget = o.Budget, TimeLimit = limit, Seed = o.Seed, Reps = o.Reps }, history);
                var bench = TuningBenchmarks.ByName(k);
                string cls = bench.Space.ShapeClassOf(s.Dim), unit = bench.RateUnit;
                int valid = bench.Space.Enumerate(runner.Description, s.Dim).Count();
                int before = bench.Space.Enumerate(runner.Description, s.Dim).Count(c => history.WasTried(runner.DeviceKey, bench.Space.CandidateKey(cls, c)));
                Console.WriteLine($"\n## {k} {s} (class {cls}): {valid} valid candidates, {before} tried before\n");
                Console.WriteLine($"{"#",4} {"parameters",-22} {"ms",9} {unit,8}  status");
                var rs = runner.Tune(k, s, r => Console.WriteLine(
                    $"{r.Index,4} {r.ParameterText,-22} {(r.Ok ? (r.Seconds * 1e3).ToString("F3") : "-"),9} {(r.Ok ? r.GBPerSecond.ToString("F2") : "-"),8}  {(r.Ok ? "OK" : "FAIL " + r.Status)}{(r.Best ? "  <- best" : "")}"));
                Save();
                var entry = db.Devices.TryGetValue(runner.DeviceKey, out var l) ? l.FirstOrDefault(e => e.Kernel == k && e.Shape == cls) : null;
                if (entry is null) { Console.WriteLine("no candidate passed"); continue; }
                string ps = string.Join(" ", entry.Parameters.Select(p => $"{p.Key}={p.Value}"));
                string defs = string.Join(" ", bench.Defaults(dev).Select(p => $"{p.Key}={p.Value}"));
                Console.WriteLine($"best: {ps} ({entry.Seconds * 1e3:F3} ms)");
                if (o.Compare > 0)
                {
                    var (tt, td) = runner.Compare(k, s, entry.Parameters, o.Compare);
                    double gb(double t) => bench.Bytes(s) / t / 1e9;
                    Console.WriteLine($"tuned vs default, alternating, median of {o.Compare}: {tt * 1e3:F3} ms vs {td * 1e3:F3} ms, speed-up {td / tt:F2}x");
                    if (td <= tt && !entry.Parameters.OrderBy(p => p.Key).SequenceEqual(bench.Defaults(dev).OrderBy(p => p.Key)))
                    {
                        // the search's minimum can be luck (noisy machine): keep the defaults when they were not slower side by side
                        db.Put(runner.DeviceKey, new TuningEntry(k, cls, new Dictionary<string, int>(bench.Defaults(dev)), td));
                        Save();
                        Console.WriteLine($"the defaults were not slower side by side: the database keeps {defs} for {k} {cls}");
                        ps += " (not kept: defaults)";
                    }
                    summary.Add($"| {k} | {s} | {ps} | {defs} | {tt * 1e3:F3} ({gb(tt):F2} {unit}) | {td * 1e3:F3} ({gb(td):F2} {unit}) | {td / tt:F2} |");
                }
                if (platformKey) MoveEntry(db, runner.DeviceKey, entryKey, k, cls, o.Out);
            }
        if (summary.Count > 0)
        {
            Console.WriteLine("\n## Tuned vs default (same run)\n");
            Console.WriteLine("| kernel | shape | tuned | default | tuned ms | default ms | speed-up |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            foreach (var line in summary) Console.WriteLine(line);
        }
        Save();
        Console.WriteLine($"\nwrote {o.Out} and {historyPath} ({total.Elapsed.TotalSeconds:F0} s)");
        return 0;
    }

    /// <summary>--key platform: the entry the run left under the exact device moves to the platform-and-type key.</summary>
    static void MoveEntry(TuningDatabase db, string from, string to, string kernel, string cls, string path)
    {
        if (!db.Devices.TryGetValue(from, out var l) || l.FirstOrDefault(e => e.Kernel == kernel && e.Shape == cls) is not { } e) return;
        l.Remove(e);
        if (l.Count == 0) db.Devices.Remove(from);
        db.Put(to, e);
        db.Save(path);
        Console.WriteLine($"entry {kernel} {cls} stored under {to}");
    }
}
