using System.Diagnostics;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Backends.OpenCL.Tuning;

namespace ClDiffusion.Tooling.OpenCL;

public enum TuningStrategy { Full, Random, Anneal }

/// <summary>How a tuning run searches and measures.</summary>
public sealed record TuningRunOptions
{
    public TuningStrategy Strategy { get; init; } = TuningStrategy.Anneal;
    /// <summary>Most new candidates per kernel and shape (null: no limit).</summary>
    public int? Budget { get; init; }
    /// <summary>Wall-clock limit per kernel and shape (null: no limit).</summary>
    public TimeSpan? TimeLimit { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Timed runs per candidate (the median is kept).</summary>
    public int Reps { get; init; } = 5;
    /// <summary>Base options of every candidate backend (cache folder, test-only ExtraDefines).</summary>
    public OpenClOptions? BaseOptions { get; init; }
}

/// <summary>One measured candidate (a line of the live table).</summary>
public sealed record CandidateResult(int Index, string Kernel, TuningShape Shape, IReadOnlyDictionary<string, int> Parameters,
    bool Ok, string Status, double Seconds, double GBPerSecond, bool Best, string Timer)
{
    public string ParameterText => string.Join(" ", Parameters.Select(p => $"{p.Key}={p.Value}"));
}

/// <summary>
/// The candidate runner and search (issue 6). Each candidate gets its own <see cref="OpenClBackend"/> (profiling queue,
/// database lookup off) built with the candidate's defines; the kernel runs on fixed-seed inputs, every output is compared
/// with <see cref="CpuBackend"/> (max |cl - cpu| / max(|cpu|, 1) under the benchmark's bound) and checked for writes into
/// guard rows past its end; the time is the median of <see cref="TuningRunOptions.Reps"/> runs, from profiling events
/// (sum of the call's kernels) or, where the queue gives none, wall clock around Finish. Any failure (build error,
/// OpenCL error, wrong result, guard violated) is recorded with its reason in the history (<see cref="TuningHistory"/>) and skipped.
/// Candidates already in the history of this device, kernel and shape class are never run again (resumable runs).
/// </summary>
public sealed class TuningRunner
{
    readonly ClDevice device;
    readonly TuningRunOptions o;
    public DeviceDescription Description { get; }
    /// <summary>The best entries (what the runtime reads).</summary>
    public TuningDatabase Database { get; }
    /// <summary>Every tried candidate and its outcome (the tuner's own file, <see cref="TuningHistory.PathFor"/>).</summary>
    public TuningHistory History { get; }
    public string DeviceKey => Description.Key;

    public TuningRunner(ClDevice device, TuningDatabase db, TuningRunOptions? options = null, TuningHistory? history = null)
    {
        this.device = device; Database = db; History = history ?? new TuningHistory(); o = options ?? new TuningRunOptions();
        if (o.Reps < 1) throw new ArgumentException("tuning needs at least one timed run per candidate");
        if (o.Budget is < 1) throw new ArgumentException("the tuning budget must be at least one candidate");
        Description = DeviceDescription.From(device);
    }

    /// <summary>Measures one parameter set (not recorded). Never throws for a failing candidate: Ok = false with the reason.</summary>
    public CandidateResult Measure(TuningBenchmark bench, TuningShape shape, IReadOnlyDictionary<string, int> parameters, int index = 0)
    {
        try
        {
            using var cl = new OpenClBackend(device, bench.Options(parameters, o.BaseOptions), profiling: true);
            using var cpu = new CpuBackend(1);
            using var c = bench.Prepare(cl, cpu, shape, o.Seed, parameters);
            foreach (var (_, g, _) in c.Outputs) g.Fill();
            c.Run(); cl.Finish();
            var bad = Check(bench, c);
            if (bad is not null) return Fail(bad);
            var times = new List<double>();
            string timer = "events";
            for (int i = 0; i < o.Reps; i++)
            {
                var events = new List<ClEvent>();
                cl.ProfileEvents = events;
                var sw = Stopwatch.StartNew();
                try { c.Run(); cl.Finish(); }
                finally { cl.ProfileEvents = null; }
                double wall = sw.Elapsed.TotalSeconds, t = 0;
                try { foreach (var e in events) t += e.Seconds; }
                catch (OpenClException) { t = 0; }
                if (!(t > 0)) { t = wall; timer = "wall"; }
                foreach (var e in events) e.Dispose();
                times.Add(t);
            }
            foreach (var (name, g, _) in c.Outputs)
                if (g.Read().violation is { } v) return Fail($"guard: {name}: {v} (timed runs)");
            times.Sort();
            double med = times[times.Count / 2];
            return new(index, bench.Kernel, shape, parameters, true, "OK", med, bench.Bytes(shape) / med / 1e9, false, timer);
        }
        catch (OpenClBuildException e) { return Fail($"build: {FirstLine(e.BuildLog.Length > 0 ? e.BuildLog : e.Message)}"); }
        catch (OpenClException e) { return Fail($"{e.CodeName}: {FirstLine(e.Message)}"); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or IOException)
        { return Fail($"{e.GetType().Name}: {FirstLine(e.Message)}"); }

        CandidateResult Fail(string why) => new(index, bench.Kernel, shape, parameters, false, why, double.NaN, double.NaN, false, "");
    }

    static string FirstLine(string s)
    {
        var l = s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault(x => x.Contains("error", StringComparison.OrdinalIgnoreCase))
                ?? s.Split('\n').FirstOrDefault() ?? s;
        return l.Length > 160 ? l[..160] + "..." : l;
    }

    /// <summary>Null when every output matches the CPU reference within the bound and no guard row was written, else the reason.</summary>
    static string? Check(TuningBenchmark bench, TuningCase c)
    {
        foreach (var (name, g, expected) in c.Outputs)
        {
            var (got, violation) = g.Read();
            if (violation is not null) return $"guard: {name}: {violation}";
            double worst = 0; int at = -1;
            for (int i = 0; i < expected.Length; i++)
            {
                double err = Math.Abs((double)got[i] - expected[i]) / Math.Max(Math.Abs((double)expected[i]), 1.0);
                if (!(err <= worst)) { worst = err; at = i; }   // NaN counts as the worst
                if (double.IsNaN(err)) break;
            }
            if (!(worst <= bench.Tolerance)) return $"wrong result: {name}: max rel err {worst:G3} > {bench.Tolerance:G1} at element {at} (cl {got[at]:G6}, cpu {expected[at]:G6})";
        }
        return null;
    }

    /// <summary>
    /// Searches one kernel family on one shape with the run's strategy and budget, records every new candidate, and puts
    /// the fastest OK candidate of this shape class (this run's and earlier runs') into the database for the exact device.
    /// </summary>
    public IReadOnlyList<CandidateResult> Tune(string kernel, TuningShape shape, Action<CandidateResult>? progress = null, CancellationToken cancel = default)
    {
        var bench = TuningBenchmarks.ByName(kernel);
        var space = bench.Space;
        string cls = space.ShapeClassOf(shape.Dim);
        var all = space.Enumerate(Description, shape.Dim).ToList();
        var results = new List<CandidateResult>();
        if (all.Count == 0) return results;
        var rng = new System.Random(HashCode.Combine(o.Seed, kernel, cls) & 0x7fffffff);
        var sw = Stopwatch.StartNew();
        int budget = o.Budget ?? int.MaxValue;
        double best = BestSoFar(space, cls, all)?.Seconds ?? double.PositiveInfinity;
        bool Exhausted() => results.Count >= budget || (o.TimeLimit is { } t && sw.Elapsed >= t) || cancel.IsCancellationRequested;
        string Key(IReadOnlyDictionary<string, int> c) => space.CandidateKey(cls, c);
        bool Tried(IReadOnlyDictionary<string, int> c) => History.WasTried(DeviceKey, Key(c));

        CandidateResult Run(IReadOnlyDictionary<string, int> c)
        {
            var r = Measure(bench, shape, c, results.Count + 1);
            if (r.Ok && r.Seconds < best) { best = r.Seconds; r = r with { Best = true }; }
            History.Record(DeviceKey, Key(c), new TriedOutcome(r.Ok, r.Ok ? r.Seconds : 0, r.Ok ? $"OK {shape}" : r.Status));
            results.Add(r);
            progress?.Invoke(r);
            return r;
        }

        switch (o.Strategy)
        {
            case TuningStrategy.Full:
            case TuningStrategy.Random:
                var order = o.Strategy == TuningStrategy.Full ? all : all.OrderBy(_ => rng.Next()).ToList();
                foreach (var c in order)
                {
                    if (Exhausted()) break;
                    if (!Tried(c)) Run(c);
                }
                break;
            case TuningStrategy.Anneal:
                Anneal(all, space, shape, rng, Exhausted, Tried, Run, Key);
                break;
        }
        var winner = BestSoFar(space, cls, all);
        if (winner is not null) Database.Put(DeviceKey, new TuningEntry(kernel, cls, new Dictionary<string, int>(winner.Value.Parameters), winner.Value.Seconds));
        return results;
    }

    /// <summary>The fastest OK candidate of this class in the history (all runs), or null.</summary>
    (IReadOnlyDictionary<string, int> Parameters, double Seconds)? BestSoFar(KernelSpace space, string cls, List<IReadOnlyDictionary<string, int>> all)
    {
        (IReadOnlyDictionary<string, int>, double)? best = null;
        foreach (var c in all)
            if (History.OutcomeOf(DeviceKey, space.CandidateKey(cls, c)) is { Ok: true } r && (best is null || r.Seconds < best.Value.Item2))
                best = (c, r.Seconds);
        return best;
    }

    /// <summary>
    /// Simulated annealing over the grid: start at the built-in defaults (else a random candidate), move to a random
    /// untried neighbour (one parameter one step along its list); accept a slower one with probability
    /// exp(-(t / t_current - 1) / T), T from 0.3 down by 0.8 per step; when every neighbour was tried, jump to a random
    /// untried candidate. Candidates tried in earlier runs are not rerun: their recorded time is used.
    /// </summary>
    void Anneal(List<IReadOnlyDictionary<string, int>> all, KernelSpace space, TuningShape shape, System.Random rng,
        Func<bool> exhausted, Func<IReadOnlyDictionary<string, int>, bool> tried, Func<IReadOnlyDictionary<string, int>, CandidateResult> run,
        Func<IReadOnlyDictionary<string, int>, string> key)
    {
        double Time(IReadOnlyDictionary<string, int> c) => History.OutcomeOf(DeviceKey, key(c)) is { Ok: true } r ? r.Seconds : double.PositiveInfinity;
        var defaults = TuningBenchmarks.ByName(space.Kernel).Defaults(device);
        // a candidate holds the space's parameters only; the defaults may name more (the MLP family's MLPF_RB, MLPF_WGS)
        var cur = all.FirstOrDefault(c => c.All(kv => defaults.TryGetValue(kv.Key, out var v) && v == kv.Value))
                  ?? all[rng.Next(all.Count)];
        if (!tried(cur)) { if (exhausted()) return; run(cur); }
        double tcur = Time(cur), T = 0.3;
        while (!exhausted())
        {
            var fresh = space.Neighbours(cur, Description, shape.Dim).Where(n => !tried(n)).ToList();
            IReadOnlyDictionary<string, int> next;
            if (fresh.Count > 0) next = fresh[rng.Next(fresh.Count)];
            else
            {
                var left = all.Where(c => !tried(c)).ToList();
                if (left.Count == 0) return;
                next = left[rng.Next(left.Count)];
            }
            var r = run(next);
            double t = r.Ok ? r.Seconds : double.PositiveInfinity;
            if (t < tcur || (double.IsFinite(t) && double.IsFinite(tcur) && rng.NextDouble() < Math.Exp(-(t / tcur - 1) / T)) || !double.IsFinite(tcur))
            { if (double.IsFinite(t)) { cur = next; tcur = t; } }
            T *= 0.8;
        }
    }

    /// <summary>
    /// Tuned against default in the same process: the two parameter sets measured alternately <paramref name="rounds"/>
    /// times (each measurement itself a median of Reps runs); returns the medians.
    /// </summary>
    public (double Tuned, double Default) Compare(string kernel, TuningShape shape, IReadOnlyDictionary<string, int> tuned, int rounds = 3)
    {
        var bench = TuningBenchmarks.ByName(kernel);
        var def = bench.Defaults(device);
        var a = new List<double>(); var b = new List<double>();
        for (int i = 0; i < rounds; i++)
        {
            var rt = Measure(bench, shape, tuned); var rd = Measure(bench, shape, def);
            if (rt.Ok) a.Add(rt.Seconds);
            if (rd.Ok) b.Add(rd.Seconds);
        }
        static double Med(List<double> l) { if (l.Count == 0) return double.NaN; l.Sort(); return l[l.Count / 2]; }
        return (Med(a), Med(b));
    }
}
