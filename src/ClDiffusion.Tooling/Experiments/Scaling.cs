using System.Diagnostics;
using System.Globalization;
using ClDiffusion.Backends;
using ClDiffusion.Models;
using ClDiffusion.Samplers;

namespace ClDiffusion.Tooling.Experiments;

/// <summary>Which error a sampler is judged by in the scaling experiment.</summary>
public enum ScalingMeasure { Coupling, DiagonalKl }

/// <summary>One (sampler, d, seed) of the scaling sweep: the step count found for the error target and its cost.</summary>
public sealed record ScalingPoint(string Sampler, string Target, int Dim, ulong Seed, ScalingMeasure Measure, double ErrorTarget,
    int Samples, bool Found, int Steps, double Nfe, int Rounds, double Error, double Floor, int Evaluations, double Seconds);

/// <summary>One point of the Picard/R study or the score-error study.</summary>
public sealed record StudyPoint(string Study, string Sampler, int Dim, ulong Seed, double Parameter, int Steps, double Nfe, int Rounds,
    ScalingMeasure Measure, double Error, double Extra);

/// <summary>Settings of the scaling experiment (the CLI exposes every one).</summary>
public sealed record ScalingSettings
{
    /// <summary>Target total coupling error sqrt(E||x - Phi(z)||^2) for predictor-only samplers.</summary>
    public double CouplingTarget { get; init; } = 0.1;
    /// <summary>Target KL (diagonal Gaussian fit, floor subtracted) for samplers with a corrector.</summary>
    public double KlTarget { get; init; } = 0.05;
    /// <summary>Coupling runs use n = clamp(CouplingBudget / d, CouplingMin, CouplingMax) paths.</summary>
    public int CouplingBudget { get; init; } = 8192;
    public int CouplingMin { get; init; } = 32;
    public int CouplingMax { get; init; } = 1024;
    /// <summary>KL runs use n = max(KlMin, KlSdFactor * sqrt(d) / KlTarget), so the floor's spread sqrt(d)/n is KlTarget / KlSdFactor.</summary>
    public double KlSdFactor { get; init; } = 4;
    public int KlMin { get; init; } = 400;
    /// <summary>Step search: first count, largest count, relative bisection tolerance.</summary>
    public int StartSteps { get; init; } = 2;
    public int MaxSteps { get; init; } = 2048;
    public double RelTol { get; init; } = 0.05;
    /// <summary>"prm-r": the parallel sampler with a fixed number of windows and Picard rounds, searching the sub-windows R
    /// instead of the windows (the paper's parallel regime: depth fixed, width growing with d).</summary>
    public int ParallelWindows { get; init; } = 16;
    public int ParallelRounds { get; init; } = 4;
    /// <summary>RK4 steps of the float64 reference flow for mixtures.</summary>
    public int ReferenceSteps { get; init; } = 1000;
}

/// <summary>
/// Dimension scaling of the samplers on exact targets (issue 8, DESIGN 1.4): for each d and seed, the step count each
/// sampler needs to reach a fixed error, by doubling then bisection, with the NFE and the rounds of score calls it costs.
/// Predictor-only samplers are judged by the coupling error against the exact flow map of the same start noise (no
/// sampling floor); samplers with a corrector (which break the pairing) by the KL of the diagonal Gaussian fit to the
/// exact law, minus its closed-form floor (single Gaussian only).
/// </summary>
public static class Scaling
{
    /// <summary>Pseudo-sampler of the sweep: prm at fixed windows and K, searched over R.</summary>
    public const string PrmOverR = "prm-r";

    /// <summary>The registry's sampler a sweep entry runs (prm for <see cref="PrmOverR"/>); an ArgumentException for an unknown name.</summary>
    public static SamplerInfo SamplerOf(string entry) => Sampler.Get(entry == PrmOverR ? "prm" : entry);
    /// <summary>From the registry's traits: the entry runs a corrector (judged by KL, not by the coupling error).</summary>
    public static bool HasCorrector(string entry) => SamplerOf(entry).Traits.HasFlag(SamplerTraits.Corrector);
    /// <summary>From the registry's traits: the entry batches time points into rounds (its rounds are reported beside its NFE).</summary>
    public static bool IsParallel(string entry) => SamplerOf(entry).Traits.HasFlag(SamplerTraits.Parallel);

    public static int CouplingSamples(ScalingSettings s, int d) => Math.Clamp(s.CouplingBudget / d, s.CouplingMin, s.CouplingMax);
    public static int KlSamples(ScalingSettings s, int d) => Math.Max(s.KlMin, (int)Math.Ceiling(s.KlSdFactor * Math.Sqrt(d) / s.KlTarget));

    /// <summary>An error function of the step count for one sampler on one target and seed.</summary>
    public sealed class Evaluator
    {
        readonly IBackend backend; readonly IScoreModel model; readonly GaussianMixture target;
        readonly string sampler; readonly SamplerOptions options; readonly ulong seed;
        readonly double[]? phi; readonly double[]? lawMean, lawVar;
        readonly float[] buf;
        public int N { get; }
        public ScalingMeasure Measure { get; }
        public double Floor { get; }
        public RunStats? LastStats { get; private set; }
        public float[] LastSamples => buf;

        /// <summary>Reference end points (coupling) are computed once; `phi` may be passed to share them across samplers.</summary>
        public Evaluator(IBackend backend, IScoreModel model, GaussianMixture target, string sampler, SamplerOptions options, ulong seed,
            ScalingMeasure measure, int n, double[]? phi = null)
        {
            this.backend = backend; this.model = model; this.target = target; this.sampler = sampler; this.options = options; this.seed = seed;
            Measure = measure; N = n;
            int d = target.Dim;
            buf = new float[(long)n * d];
            if (measure == ScalingMeasure.Coupling)
                this.phi = phi ?? ReferenceEnds(target, seed, n, options);
            else
            {
                if (target.Components != 1) throw new ArgumentException("the diagonal-KL measure needs a single Gaussian target");
                var q = target.At(options.Delta);
                lawMean = q.Means[0]; lawVar = q.Variances[0];
                Floor = ScalingMeasures.DiagonalKlFloor(n, d);
            }
        }

        public double Error(int steps) => Error(options with { Steps = steps });

        public double Error(SamplerOptions o)
        {
            int d = target.Dim;
            LastStats = SampleRun.Run(backend, model, sampler, o, seed, 0, N, buf);
            return Measure == ScalingMeasure.Coupling
                ? ScalingMeasures.Coupling(buf, phi!, N, d)
                : ScalingMeasures.DiagonalKl(buf, N, d, lawMean!, lawVar!) - Floor;
        }
    }

    /// <summary>Exact (single Gaussian) or RK4-reference (mixture) flow end points of the start noise of samples [0, n).</summary>
    public static double[] ReferenceEnds(GaussianMixture target, ulong seed, int n, SamplerOptions o, int referenceSteps = 1000)
    {
        var z = ScalingMeasures.StartNoise(seed, n, target.Dim);
        return target.Components == 1
            ? ScalingMeasures.GaussianFlowEnds(target, z, n, o.Horizon, o.Delta)
            : ScalingMeasures.ReferenceFlowEnds(target, z, n, o.Horizon, o.Delta, referenceSteps);
    }

    /// <summary>The scaling sweep: every sampler, dimension and seed; `onPoint` sees each point as it is found.</summary>
    public static List<ScalingPoint> Sweep(IBackend backend, Func<int, GaussianMixture> makeTarget, string targetName, IEnumerable<string> samplers,
        IEnumerable<int> dims, IEnumerable<ulong> seeds, SamplerOptions baseOptions, ScalingSettings s, Action<ScalingPoint>? onPoint = null)
    {
        var points = new List<ScalingPoint>();
        foreach (int d in dims)
        {
            var target = makeTarget(d);
            foreach (ulong seed in seeds)
            {
                int nc = CouplingSamples(s, d);
                double[]? phi = null;
                foreach (var sampler in samplers)
                {
                    var measure = HasCorrector(sampler) ? ScalingMeasure.DiagonalKl : ScalingMeasure.Coupling;
                    int n = measure == ScalingMeasure.Coupling ? nc : KlSamples(s, d);
                    if (measure == ScalingMeasure.Coupling) phi ??= ReferenceEnds(target, seed, nc, baseOptions, s.ReferenceSteps);
                    bool overR = sampler == PrmOverR;
                    var o = overR ? baseOptions with { Steps = s.ParallelWindows, PicardRounds = s.ParallelRounds } : baseOptions;
                    var ev = new Evaluator(backend, target, target, SamplerOf(sampler).Name, o, seed, measure, n, measure == ScalingMeasure.Coupling ? phi : null);
                    double goal = measure == ScalingMeasure.Coupling ? s.CouplingTarget : s.KlTarget;
                    Func<int, double> err = overR ? rr => ev.Error(o with { SubWindows = rr }) : ev.Error;
                    var sw = Stopwatch.StartNew();
                    var r = StepSearch.Find(err, goal, overR ? 1 : s.StartSteps, overR ? 1024 : s.MaxSteps, s.RelTol);
                    // the stats of the passing count: rerun it only if the last evaluation was another count
                    if (r.Evaluations[^1].steps != r.Steps) err(r.Steps);
                    var st = ev.LastStats!;
                    var p = new ScalingPoint(sampler, targetName, d, seed, measure, goal, n, r.Found, r.Steps, st.NfePerSample, st.Rounds,
                        r.Error, ev.Floor, r.Evaluations.Count, sw.Elapsed.TotalSeconds);
                    points.Add(p);
                    onPoint?.Invoke(p);
                }
            }
        }
        return points;
    }

    /// <summary>
    /// Picard study on prm: at fixed windows and R, the distance of the K-round result from the K = kRef result with the
    /// same random midpoints (the Picard iteration error, which should shrink geometrically in K), and the coupling error
    /// against the exact flow; then the coupling error against R at fixed K.
    /// </summary>
    public static List<StudyPoint> PicardStudy(IBackend backend, GaussianMixture target, SamplerOptions baseOptions, ulong seed, int n,
        int windows, int r, IEnumerable<int> ks, int kRef, IEnumerable<int> rs, int kForR, Action<StudyPoint>? onPoint = null)
    {
        int d = target.Dim;
        var points = new List<StudyPoint>();
        var phi = ReferenceEnds(target, seed, n, baseOptions);
        var o = baseOptions with { Steps = windows, SubWindows = r };
        var refRun = SampleRun.Run(backend, target, "prm", o with { PicardRounds = kRef }, seed, n).samples;
        var refD = refRun.Select(v => (double)v).ToArray();
        foreach (int k in ks)
        {
            var (x, st) = SampleRun.Run(backend, target, "prm", o with { PicardRounds = k }, seed, n);
            var p = new StudyPoint("picard-K", "prm", d, seed, k, windows, st.NfePerSample, st.Rounds, ScalingMeasure.Coupling,
                ScalingMeasures.Coupling(x, refD, n, d), ScalingMeasures.Coupling(x, phi, n, d));
            points.Add(p); onPoint?.Invoke(p);
        }
        foreach (int rr in rs)
        {
            var (x, st) = SampleRun.Run(backend, target, "prm", o with { SubWindows = rr, PicardRounds = kForR }, seed, n);
            var p = new StudyPoint("prm-R", "prm", d, seed, rr, windows, st.NfePerSample, st.Rounds, ScalingMeasure.Coupling,
                ScalingMeasures.Coupling(x, phi, n, d), double.NaN);
            points.Add(p); onPoint?.Invoke(p);
        }
        return points;
    }

    /// <summary>
    /// Error against a controlled score error eps_s (<see cref="PerturbedScore"/>) at a fixed step count: coupling error
    /// against the exact flow of the true score for predictor-only samplers, floor-subtracted diagonal KL for the others.
    /// </summary>
    public static List<StudyPoint> RobustnessStudy(IBackend backend, GaussianMixture target, IEnumerable<string> samplers, IEnumerable<double> epsilons,
        SamplerOptions baseOptions, int steps, ulong seed, ScalingSettings s, Action<StudyPoint>? onPoint = null)
    {
        int d = target.Dim;
        var points = new List<StudyPoint>();
        int nc = CouplingSamples(s, d);
        var phi = ReferenceEnds(target, seed, nc, baseOptions);
        var o = baseOptions with { Steps = steps };
        foreach (var sampler in samplers)
            foreach (double eps in epsilons)
            {
                IScoreModel model = eps > 0 ? new PerturbedScore(target, eps) : target;
                var measure = HasCorrector(sampler) ? ScalingMeasure.DiagonalKl : ScalingMeasure.Coupling;
                var ev = new Evaluator(backend, model, target, sampler, o, seed, measure, measure == ScalingMeasure.Coupling ? nc : KlSamples(s, d),
                    measure == ScalingMeasure.Coupling ? phi : null);
                double e = ev.Error(o);
                var p = new StudyPoint("score-error", sampler, d, seed, eps, steps, ev.LastStats!.NfePerSample, ev.LastStats.Rounds, measure, e, ev.Floor);
                points.Add(p); onPoint?.Invoke(p);
            }
        return points;
    }

    /// <summary>Per sampler and quantity ("nfe", "rounds", or "steps": predictor steps, R for prm-r): the log-log fit over all found points (seeds pooled), and the
    /// mean and standard error of the per-seed slopes.</summary>
    public sealed record ExponentRow(string Sampler, string Quantity, ExponentFit.Line Pooled, double SeedMean, double SeedSe, int Seeds);

    public static List<ExponentRow> Exponents(IEnumerable<ScalingPoint> points, string quantity = "nfe")
    {
        var rows = new List<ExponentRow>();
        foreach (var g in points.Where(p => p.Found).GroupBy(p => p.Sampler))
        {
            double Q(ScalingPoint p) => quantity switch { "rounds" => p.Rounds, "steps" => p.Steps, _ => p.Nfe };
            var list = g.ToList();
            if (list.Select(p => p.Dim).Distinct().Count() < 2) continue;
            var pooled = ExponentFit.FitLogLog(list.Select(p => (double)p.Dim).ToArray(), list.Select(Q).ToArray());
            var perSeed = list.GroupBy(p => p.Seed).Where(sg => sg.Select(p => p.Dim).Distinct().Count() >= 2)
                .Select(sg => ExponentFit.FitLogLog(sg.Select(p => (double)p.Dim).ToArray(), sg.Select(Q).ToArray()).Slope).ToArray();
            double mean = perSeed.Length > 0 ? perSeed.Average() : double.NaN;
            double se = perSeed.Length > 1 ? Math.Sqrt(perSeed.Sum(v => (v - mean) * (v - mean)) / (perSeed.Length - 1) / perSeed.Length) : double.NaN;
            rows.Add(new ExponentRow(g.Key, quantity, pooled, mean, se, perSeed.Length));
        }
        return rows;
    }

    static string F(double v, string fmt = "G4") => v.ToString(fmt, CultureInfo.InvariantCulture);

    public static string ToCsv(IEnumerable<ScalingPoint> points) =>
        "sampler,target,d,seed,measure,error_target,n,found,steps,nfe,rounds,error,floor,evaluations,seconds\n" +
        string.Join("\n", points.Select(p => string.Join(",", p.Sampler, p.Target, p.Dim, p.Seed, p.Measure, F(p.ErrorTarget), p.Samples,
            p.Found, p.Steps, F(p.Nfe), p.Rounds, F(p.Error), F(p.Floor), p.Evaluations, F(p.Seconds, "0.00")))) + "\n";

    public static string ToCsv(IEnumerable<StudyPoint> points) =>
        "study,sampler,d,seed,parameter,steps,nfe,rounds,measure,error,extra\n" +
        string.Join("\n", points.Select(p => string.Join(",", p.Study, p.Sampler, p.Dim, p.Seed, F(p.Parameter), p.Steps, F(p.Nfe), p.Rounds,
            p.Measure, F(p.Error), F(p.Extra)))) + "\n";

    /// <summary>Markdown: NFE (and rounds) needed per sampler and d, the median over seeds, with the per-seed spread.</summary>
    public static string ToMarkdown(IReadOnlyList<ScalingPoint> points)
    {
        var dims = points.Select(p => p.Dim).Distinct().OrderBy(x => x).ToArray();
        var lines = new List<string>
        {
            "| sampler | measure | " + string.Join(" | ", dims.Select(d => $"d={d}")) + " |",
            "|---|---|" + string.Concat(dims.Select(_ => "---:|")),
        };
        foreach (var g in points.GroupBy(p => p.Sampler))
        {
            var cells = dims.Select(d =>
            {
                var ps = g.Where(p => p.Dim == d).ToList();
                if (ps.Count == 0) return "";
                if (ps.Any(p => !p.Found)) return $"> {ps.Max(p => p.Nfe):0} ({ps.Count(p => !p.Found)}/{ps.Count} not found)";
                var nfe = ps.Select(p => p.Nfe).OrderBy(x => x).ToArray();
                var rounds = ps.Select(p => (double)p.Rounds).OrderBy(x => x).ToArray();
                string spread = nfe.Length > 1 ? $" [{nfe[0]:0}-{nfe[^1]:0}]" : "";
                string rd = IsParallel(g.Key) ? $", r {Median(rounds):0}" : "";
                return $"{Median(nfe):0}{spread}{rd}";
            });
            lines.Add($"| {g.Key} | {g.First().Measure} | " + string.Join(" | ", cells) + " |");
        }
        return string.Join("\n", lines);
    }

    static double Median(double[] sorted) => sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);

    public static string ExponentsMarkdown(IEnumerable<ExponentRow> rows)
    {
        var lines = new List<string>
        {
            "| sampler | quantity | pooled exponent ± s.e. (residuals) | per-seed mean ± s.e. (seeds) | points |",
            "|---|---|---:|---:|---:|",
        };
        foreach (var r in rows)
            lines.Add($"| {r.Sampler} | {r.Quantity} | {F(r.Pooled.Slope, "0.000")} ± {F(r.Pooled.SlopeSe, "0.000")} | {F(r.SeedMean, "0.000")} ± {F(r.SeedSe, "0.000")} ({r.Seeds}) | {r.Pooled.Points} |");
        return string.Join("\n", lines);
    }
}
