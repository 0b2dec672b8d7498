using System.Text.Json;
using ClDiffusion.IO;
using ClDiffusion.Metrics;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("sample", isDefault: false, HelpText = "Draw samples with a sampler and write them as .npy (float32, [n, d]) or .csv.")]
public sealed class SampleOptions : SamplerCliOptions
{
    [Option('n', "count", Default = 1000, HelpText = "Number of samples (also accepted as --n); with --shard, of the whole run.")]
    public long N { get; set; }
    [Option("seed", Default = 0UL, HelpText = "Seed of the counter-based generator.")]
    public ulong Seed { get; set; }
    [Option("first", Default = 0L, HelpText = "Index of the first sample (samples [first, first + n) of the seed).")]
    public long First { get; set; }
    [Option("batch", Default = 16384, HelpText = "Largest chunk of samples on a device (chunks are also sized from device memory; results do not depend on it).")]
    public int Batch { get; set; }
    [Option("streams", Default = 2, HelpText = "Chunks in flight per OpenCL device, each on its own command queue.")]
    public int Streams { get; set; }
    [Option("shard", HelpText = "I/N: produce only the I-th of N contiguous slices of the samples (0-based); cldiff merge joins the shards.")]
    public string? Shard { get; set; }
    [Option("force", HelpText = "With --shard: sample the shard even when --out already holds it complete (by default a complete shard of the same run is skipped).")]
    public bool Force { get; set; }
    [Option("quiet", HelpText = "No progress bar (it is shown only when stderr is a terminal anyway).")]
    public bool Quiet { get; set; }
    [Option("out", HelpText = "Output file (.npy is streamed to disk as chunks finish; .csv).")]
    public string? Out { get; set; }
    [Option("report", HelpText = "Write a JSON report (nfe_per_sample, rounds, seconds, device, sampler, ...).")]
    public string? Report { get; set; }
    [Option("png", HelpText = "Write a picture: 8x8 digit images for d = 64, 28x28 images for d = 784 (one row per class with --class all), else a scatter of the first two coordinates.")]
    public string? Png { get; set; }
    [Option("eval", HelpText = "Print the metrics of the samples against the exact target.")]
    public bool Eval { get; set; }
}

public static class SampleCommand
{
    /// <summary>
    /// The sampler options as the report names them: the settable options in snake_case, with the corrector block
    /// length resolved (its default is 1/L), not the C# property names.
    /// </summary>
    static Dictionary<string, object?> OptionsJson(SamplerOptions so)
    {
        var d = typeof(SamplerOptions).GetProperties().Where(p => p.SetMethod is { IsPublic: true })
            .ToDictionary(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name), p => p.GetValue(so) is Enum e ? e.ToString().ToLowerInvariant() : p.GetValue(so));   // a choice as its text ("shrinking")
        d["block_length"] = so.BlockLengthOrDefault;
        d["labels"] = so.Labels?.ToString();
        return d;
    }

    /// <summary>
    /// The parameters that decide the samples of a run, for the shard record: what `cldiff merge` compares and what a
    /// rerun must match to skip a finished shard. The model is named by its description and by its source: a preset's
    /// name, or the SHA-256 of the target, model or labels file (the same path with other content is another run).
    /// </summary>
    internal static RunIdentity IdentityOf(SampleOptions o, IScoreModel model, SamplerOptions so)
    {
        var v = new Dictionary<string, string>
        {
            ["sampler"] = o.Sampler, ["seed"] = RunIdentity.Text(o.Seed), ["n"] = RunIdentity.Text(o.N), ["first"] = RunIdentity.Text(o.First),
            ["model"] = model.Describe(), ["score_error"] = RunIdentity.Text(o.ScoreError),
            ["model_source"] = o.Model is not null ? $"{Path.GetFileName(o.Model)} sha256:{Sha256Of(ShippedModels.Resolve(o.Model))}"
                : o.Target is not null ? $"target sha256:{Sha256Of(o.Target)}" : $"preset {(o.Preset ?? "mix16-5").ToLowerInvariant()}",
            ["prediction"] = o.Prediction ?? "default", ["convention"] = o.Convention ?? "default",
            ["class"] = o.Class ?? "none", ["labels"] = o.Labels is null ? "none" : $"sha256:{Sha256Of(o.Labels)}",
        };
        foreach (var (k, x) in OptionsJson(so))
            if (k != "labels") v[$"option.{k}"] = RunIdentity.Text(x);
        return new RunIdentity(v);
    }

    static string Sha256Of(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(f));
    }

    public static int Run(SampleOptions o)
    {
        // Validate everything before any work, so a bad option never costs a run or leaves a file.
        var (baseModel, target) = o.LoadModel();
        IScoreModel model = o.ScoreError > 0 ? new PerturbedScore(baseModel, o.ScoreError) : baseModel;
        if (o.Eval && target is null) throw new ArgumentException("--eval needs an exact target (--target or --preset); for a learned model use --png or `cldiff check`");
        if (o.ScoreError < 0 || !double.IsFinite(o.ScoreError)) throw new ArgumentException($"--score-error must be finite and >= 0, got {o.ScoreError}");
        Sampler.Check(o.Sampler);
        if (o.N < 1) throw new ArgumentException($"--n must be at least 1, got {o.N}");
        var so = o.ToSamplerOptions() with { Labels = o.ClassLabelsFor(model, o.First, o.N), Guidance = o.Guidance };
        if (so.ClampNotice(model) is { } clamped) Console.Error.WriteLine($"cldiff sample: {clamped}");
        so = so.ForModel(model);   // T and delta inside the model's trained times, refused here (before any work) otherwise
        so.Validate(o.Sampler, 1, model.Dim);   // the work per sample too, before a device is opened (a cold OpenCL cache compiles for minutes)
        if (o.Out is null && !o.Eval && o.Png is null) throw new ArgumentException("nothing to do: give --out FILE, --png FILE and/or --eval");
        if (o.Png is not null && !o.Png.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"--png must end in .png, got '{o.Png}'");
        if (o.Out is not null && Path.GetExtension(o.Out).ToLowerInvariant() is not (".npy" or ".csv"))
            throw new ArgumentException($"--out must end in .npy or .csv, got '{o.Out}'");
        if (o.Batch < 1) throw new ArgumentException($"--batch must be at least 1, got {o.Batch}");
        if (o.First < 0 || o.First + o.N > (1L << 32)) throw new ArgumentException($"sample indices [{o.First}, {o.First + o.N}) must lie in [0, 2^32)");
        var shard = o.Shard is null ? Scheduling.Shard.Whole : Scheduling.Shard.Parse(o.Shard);
        var sched = new SchedulerOptions { StreamsPerDevice = o.Streams, MaxChunkSize = o.Batch };
        sched.Validate();
        var options = new SamplingOptions { Sampler = o.Sampler, Parameters = so, Scheduler = sched, FirstSample = o.First, Shard = shard };
        var (first, count) = options.Rows(o.N);
        // the limit is per process, so per shard: 1e9 samples of d = 16 run as shards of at most 2^31 floats each
        if (count * model.Dim > int.MaxValue)
            throw new ArgumentException(o.Shard is null
                ? $"--n {o.N} x d {model.Dim} exceeds the 2^31 floats one run holds; split it with --shard I/N (or --first)"
                : $"shard {shard} holds {count} samples x d {model.Dim}, over the 2^31 floats one run holds; use more shards than {shard.Count}");
        int n = (int)count, d = model.Dim;
        bool stream = o.Out is not null && Path.GetExtension(o.Out).Equals(".npy", StringComparison.OrdinalIgnoreCase) && !o.Eval && o.Png is null;
        if (o.Force && o.Shard is null) throw new ArgumentException("--force applies to --shard runs only (a run without --shard is always sampled)");

        // Resumable shards: a shard whose .npy and run record are complete and of this run is not sampled again, so
        // rerunning a job array after a preemption or a failure costs only the missing shards. The record is deleted
        // before a redo and written (atomically) only after the .npy is in place.
        ShardRecord? record = null;
        if (o.Shard is not null && stream)
        {
            record = new ShardRecord(IdentityOf(o, baseModel, so), shard, first, n, d, 0);
            string? why = ShardRecord.WhyRedo(o.Out!, record);
            if (why is null && !o.Force)
            {
                Console.Error.WriteLine($"cldiff sample: shard {shard} is already complete in {o.Out} (its run record matches), skipping; --force samples it again");
                return 0;
            }
            if (File.Exists(o.Out)) Console.Error.WriteLine($"cldiff sample: redoing shard {shard} in {o.Out}: {why ?? "--force"}");
            ShardRecord.Invalidate(o.Out!);
        }
        else if (o.Force) throw new ArgumentException("--force applies to shards written to .npy (--shard with --out FILE.npy, no --eval or --png)");
        else if (o.Out is not null && o.Out.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            ShardRecord.Invalidate(o.Out);   // a record left by an earlier shard run must not describe this file

        if (Sampler.Get(o.Sampler).FewStepsNotice(so.MakeGrid().Steps) is { } few) Console.Error.WriteLine($"cldiff sample: note: {few}");
        using var engine = DiffusionEngine.Open(o.Device);
        if (engine.Notice is not null) Console.Error.WriteLine(engine.Notice);
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        var bar = !o.Quiet && !Console.IsErrorRedirected ? new ProgressBar() : null;
        try
        {
            float[]? samples = null;
            RunStats stats;
            if (stream)
                stats = engine.SampleToFileAsync(model, options, o.N, o.Seed, o.Out!, bar, cts.Token, checkFinite: true).GetAwaiter().GetResult();
            else
            {
                samples = new float[(long)n * d];
                var sink = new FiniteCheckSink(new MemorySink(samples, d), d, first);
                stats = engine.SampleAsync(model, options, o.N, o.Seed, sink, bar, cts.Token).GetAwaiter().GetResult();
                if (o.Out is not null) SampleFile.Write(o.Out, samples, n, d);
                var range = OnnxModels.PixelRange(baseModel);   // an ONNX image model's own pixel range (the U-Net's -1..1)
                if (o.Png is not null && so.Labels is not null && Output.Pictures.IsImage(d))
                    Output.Pictures.ClassRows(o.Png, samples, Enumerable.Range(0, n).Select(i => so.Labels.Of(first + i)).ToArray(), d, range);
                else if (o.Png is not null) Output.Pictures.Write(o.Png, samples, n, d, checkerboard: o.Model == "checkerboard", range);
            }
            bar?.Done();
            if (record is not null) ShardRecord.Write(o.Out!, record with { NpyBytes = new FileInfo(o.Out!).Length });
            string part = shard.Count > 1 ? $" (shard {shard} of {o.N}: samples [{first}, {first + n}))" : "";
            Console.Error.WriteLine($"{o.Sampler}: {n} samples{part}, d = {d}, {stats.NfePerSample:0.##} NFE/sample, {stats.Rounds} rounds, {stats.Seconds:0.###} s on {stats.Device}");
            // a host model (an ONNX graph): how much of the run its function took (ONNX Runtime's share for .onnx)
            var host = baseModel as HostScoreModel;
            if (host is { Calls: > 0 })
                Console.Error.WriteLine($"{host.Name}: {host.Calls} calls, {host.RowsEvaluated / host.Calls} rows per call, {host.BusyTime.TotalSeconds:0.###} s inside the model " +
                    $"({100 * host.BusyTime.TotalSeconds / Math.Max(stats.Seconds, 1e-9):0.#}% of the sampling time" +
                    (host.FunctionTime > host.BusyTime * 1.01 ? $"; {host.FunctionTime.TotalSeconds:0.###} s summed over concurrent chunks)" : ")"));
            Dictionary<string, object>? metrics = null;
            if (o.Eval && samples is not null)
            {
                if (n == 0) throw new InvalidOperationException("--eval: this shard holds no samples");
                var report = SampleEvaluator.Evaluate(target!, samples, n, o.Seed + 1_000_003);
                Console.WriteLine(report.ToString());
                metrics = JsonSerializer.Deserialize<Dictionary<string, object>>(report.ToJson(false));
            }
            if (o.Report is not null)
            {
                var json = new Dictionary<string, object?>
                {
                    ["sampler"] = o.Sampler, ["device"] = stats.Device, ["n"] = n, ["d"] = d, ["seed"] = o.Seed,
                    ["first"] = first, ["steps"] = so.Steps, ["nfe_per_sample"] = stats.NfePerSample, ["rounds"] = stats.Rounds,
                    ["seconds"] = stats.Seconds, ["model"] = model.Describe(), ["options"] = OptionsJson(so),
                    ["shard"] = shard.ToString(), ["n_total"] = o.N, ["streams"] = o.Streams, ["devices"] = engine.Devices.Count,
                };
                if (host is { Calls: > 0 }) { json["model_calls"] = host.Calls; json["model_rows"] = host.RowsEvaluated; json["model_seconds"] = host.BusyTime.TotalSeconds; json["model_seconds_summed"] = host.FunctionTime.TotalSeconds; }
                if (metrics is not null) json["metrics"] = metrics;   // only with --eval
                var text = JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true });
                AtomicFile.Write(o.Report, s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(text); });   // AtomicFile flushes the stream after us
            }
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            bar?.Clear();
        }
    }
}

/// <summary>A one-line progress bar on stderr (samples, rate, ETA), redrawn at most 10 times a second.</summary>
sealed class ProgressBar : IProgress<SamplingProgress>
{
    readonly object gate = new();
    long lastTicks = -1;
    bool drawn;

    public void Report(SamplingProgress p)
    {
        lock (gate)
        {
            long now = Environment.TickCount64;
            if (p.SamplesDone < p.SamplesTotal && lastTicks >= 0 && now - lastTicks < 100) return;
            lastTicks = now;
            const int width = 30;
            int filled = (int)Math.Round(p.Fraction * width);
            string eta = p.Eta is { } e ? $" ETA {e:hh\\:mm\\:ss}" : "";
            Console.Error.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {p.Fraction * 100,5:0.0}% {p.SamplesDone}/{p.SamplesTotal} {p.Rate:0} samples/s{eta}   ");
            drawn = true;
        }
    }

    public void Done() { lock (gate) if (drawn) { Console.Error.WriteLine(); drawn = false; } }
    public void Clear() => Done();
}
