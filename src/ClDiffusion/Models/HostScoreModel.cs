using System.Buffers;
using ClDiffusion.Diffusion;

namespace ClDiffusion.Models;

/// <summary>What a host model's output is (docs/MODELS.md "Predictions"); every kind is turned into the score.</summary>
public enum Prediction
{
    /// <summary>The score grad log q_t(x) itself (in the model's own scale, see <see cref="TimeConvention"/>).</summary>
    Score,
    /// <summary>The noise eps of x = alpha x0 + sigma eps: score = -eps / sigma_t.</summary>
    Eps,
    /// <summary>The clean data x0: score = (alpha_t x0 - x) / sigma_t^2.</summary>
    X0,
    /// <summary>The velocity v = alpha eps - sigma x0 (Salimans and Ho, in the model's alpha and sigma).</summary>
    V,
}

/// <summary>
/// Computes a model's output for a batch of rows: x is [rows, dim] row-major, t holds one model time per row (the
/// forward time of this project's process, or what the model's <see cref="TimeConvention"/> maps it to), and
/// output receives [rows, dim] of what the model predicts. Throw to report a failure; it reaches the sampling call.
/// </summary>
public delegate void HostScoreFunction(int rows, ReadOnlySpan<float> x, ReadOnlySpan<float> t, Span<float> output);

/// <summary>
/// A class-conditional <see cref="HostScoreFunction"/>: labels[r] is row r's class, 0..classes-1, or
/// <see cref="ClassLabels.Null"/> (-1) for the unconditional output (the model's null class). A guided evaluation
/// comes as one call of 2 rows per sample, [x; x] with labels [c; -1].
/// </summary>
public delegate void HostLabelledScoreFunction(int rows, ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> output);

/// <summary>A model's output that is not a finite number (the sampling call fails with it, naming the model).</summary>
public sealed class HostScoreException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A score model whose values are computed by user code (a network in another runtime, an ONNX session, a C
/// callback). Backends call <see cref="Evaluate"/> with whole batches: the CPU backend in place, the OpenCL
/// backend after reading the rows back (one read, one write per evaluation). The output is converted to the score
/// of this project's process by <see cref="Prediction"/> and <see cref="Convention"/>, in float64 per element,
/// and checked to be finite.
/// <para>Calls are serialised (never two at once on one model) unless <see cref="ThreadSafe"/> says the function
/// may run concurrently.</para>
/// <para>A class-conditional model (<see cref="NumClasses"/> &gt; 0, made with a <see cref="HostLabelledScoreFunction"/>)
/// also receives each row's label; classifier-free guidance then asks for both halves, [x; x] with labels [c; null],
/// in one call. <see cref="Calls"/>, <see cref="RowsEvaluated"/> and <see cref="FunctionTime"/> count what the
/// function was asked and how long it ran (the share of a sampling run spent in the network).</para>
/// </summary>
public sealed class HostScoreModel : IScoreModel, IClassConditional
{
    readonly HostScoreFunction? function;
    readonly HostLabelledScoreFunction? labelled;
    readonly object gate = new(), counterGate = new();
    long calls, rowsEvaluated, functionTicks, busyTicks, busySince;
    int active;

    public int Dim { get; }
    public Prediction Prediction { get; }
    public TimeConvention Convention { get; }
    /// <summary>Name used in descriptions and error messages.</summary>
    public string Name { get; }
    public bool ThreadSafe { get; }

    /// <summary>Number of classes of a class-conditional model (0: the function takes no labels).</summary>
    public int NumClasses { get; }

    /// <summary>Calls of the function so far (a guided evaluation is one call).</summary>
    public long Calls => Interlocked.Read(ref calls);
    /// <summary>Rows given to the function so far.</summary>
    public long RowsEvaluated => Interlocked.Read(ref rowsEvaluated);
    /// <summary>Wall time spent inside the function so far (summed over concurrent calls).</summary>
    public TimeSpan FunctionTime => System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref functionTicks));
    /// <summary>Wall time during which at least one call of the function was running (at most the elapsed time, unlike <see cref="FunctionTime"/> when calls overlap).</summary>
    public TimeSpan BusyTime => System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref busyTicks));
    /// <summary>Sets <see cref="Calls"/>, <see cref="RowsEvaluated"/>, <see cref="FunctionTime"/> and <see cref="BusyTime"/> back to zero.</summary>
    public void ResetCounters()
    {
        Interlocked.Exchange(ref calls, 0); Interlocked.Exchange(ref rowsEvaluated, 0);
        Interlocked.Exchange(ref functionTicks, 0); Interlocked.Exchange(ref busyTicks, 0);
    }

    public HostScoreModel(int dim, Prediction prediction, HostScoreFunction function, string name = "host",
        TimeConvention? convention = null, bool threadSafe = false)
        : this(dim, 0, prediction, function ?? throw new ArgumentNullException(nameof(function)), null, name, convention, threadSafe) { }

    /// <summary>A class-conditional model: the function gets each row's label, 0..classes-1 or -1 (the null class).</summary>
    public HostScoreModel(int dim, int classes, Prediction prediction, HostLabelledScoreFunction function, string name = "host",
        TimeConvention? convention = null, bool threadSafe = false)
        : this(dim, classes, prediction, null, function ?? throw new ArgumentNullException(nameof(function)), name, convention, threadSafe)
    {
        if (classes < 1) throw new ArgumentException($"host score model '{name}': a labelled model needs at least 1 class, got {classes}");
    }

    HostScoreModel(int dim, int classes, Prediction prediction, HostScoreFunction? function, HostLabelledScoreFunction? labelled,
        string name, TimeConvention? convention, bool threadSafe)
    {
        if (dim < 1) throw new ArgumentException($"host score model '{name}': dimension must be at least 1, got {dim}");
        if (!Enum.IsDefined(prediction)) throw new ArgumentException($"host score model '{name}': unknown prediction {(int)prediction}");
        this.function = function; this.labelled = labelled;
        Dim = dim; NumClasses = classes; Prediction = prediction; Name = name; ThreadSafe = threadSafe;
        Convention = convention ?? TimeConvention.Ours;
    }

    public string Describe() => $"{Name}(d={Dim}, {PredictionName(Prediction)}, {Convention.Name}{(NumClasses > 0 ? $", {NumClasses} classes" : "")})";
    /// <summary>Its convention's range: a DDPM model's first to last timestep, an EDM model's sigma_min to sigma_max.</summary>
    public (double TMin, double TMax) TrainedTimes => Convention.Range;

    public static string PredictionName(Prediction p) => p.ToString().ToLowerInvariant();

    public static Prediction ParsePrediction(string s) => s.ToLowerInvariant() switch
    {
        "score" => Prediction.Score,
        "eps" => Prediction.Eps,
        "x0" => Prediction.X0,
        "v" => Prediction.V,
        _ => throw new ArgumentException($"unknown prediction '{s}' (use score, eps, x0 or v)"),
    };

    /// <summary>Index of the first value that is NaN or infinite, or -1.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> v)
    {
        for (int i = 0; i < v.Length; i++) if (!float.IsFinite(v[i])) return i;
        return -1;
    }

    /// <summary>score[r] = s_{t[r]}(x[r]) for rows = t.Length (forward times of this project's process); a class-conditional model gives its unconditional score.</summary>
    public void Evaluate(ReadOnlySpan<float> x, ReadOnlySpan<float> t, Span<float> score) => Evaluate(x, t, default, score);

    /// <summary>
    /// score[r] = s_{t[r]}(x[r] | labels[r]) (labels[r] = -1: the unconditional score). Empty labels: every row
    /// unconditional. Labels other than -1 need a class-conditional model.
    /// </summary>
    public void Evaluate(ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> score)
    {
        int rows = t.Length, d = Dim;
        if (x.Length != (long)rows * d || score.Length != (long)rows * d)
            throw new ArgumentException($"host score model '{Name}': {x.Length} inputs / {score.Length} outputs are not {rows} rows of {d}");
        if (labels.Length != 0 && labels.Length != rows)
            throw new ArgumentException($"host score model '{Name}': {labels.Length} labels for {rows} rows");
        for (int r = 0; r < labels.Length; r++)
            if (labels[r] < ClassLabels.Null || labels[r] >= NumClasses)
                throw new ArgumentException(NumClasses == 0 && labels[r] >= 0
                    ? $"class {labels[r]} asked for (row {r}), but host score model '{Name}' is not class-conditional"
                    : $"host score model '{Name}': label {labels[r]} of row {r} is outside its classes 0..{NumClasses - 1} (-1 = unconditional)");
        if (rows == 0) return;
        bool direct = Prediction == Prediction.Score && Convention.IsIdentity;
        float[]? xin = null, tin = null, raw = null;
        int[]? nulls = null;
        try
        {
            // the model's inputs: x in its scale, its own time per row
            Span<float> xm = x.Length == 0 ? default : direct ? default : (xin = ArrayPool<float>.Shared.Rent(x.Length)).AsSpan(0, x.Length);
            tin = ArrayPool<float>.Shared.Rent(rows);
            var map = direct ? null : new ModelTime[rows];
            for (int r = 0; r < rows; r++)
            {
                if (!(t[r] > 0) || !float.IsFinite(t[r])) throw new ArgumentException($"host score model '{Name}': forward time {t[r]} of row {r} is not positive and finite");
                if (map is null) { tin[r] = t[r]; continue; }
                map[r] = Convention.Map(t[r]);
                tin[r] = (float)map[r].Input;
                float c = (float)map[r].Scale;
                for (int j = 0; j < d; j++) xm[r * d + j] = c * x[r * d + j];
            }
            Span<float> output = direct ? score : (raw = ArrayPool<float>.Shared.Rent(x.Length)).AsSpan(0, x.Length);
            ReadOnlySpan<int> lab = labels;
            if (labelled is not null && labels.Length == 0)
            {
                nulls = ArrayPool<int>.Shared.Rent(rows);
                nulls.AsSpan(0, rows).Fill(ClassLabels.Null);
                lab = nulls.AsSpan(0, rows);
            }
            if (ThreadSafe) Call(rows, direct ? x : xm, tin.AsSpan(0, rows), lab, output);
            else lock (gate) Call(rows, direct ? x : xm, tin.AsSpan(0, rows), lab, output);
            if (FirstNonFinite(output) is var bad and >= 0)
                throw new HostScoreException($"score model '{Name}' returned {output[bad]} for row {bad / d}, column {bad % d} " +
                    $"(forward time {t[bad / d]}, model time {tin[bad / d]}): outputs must be finite");
            if (map is not null) ToScore(x, t, map, output, score);
        }
        finally
        {
            if (xin is not null) ArrayPool<float>.Shared.Return(xin);
            if (tin is not null) ArrayPool<float>.Shared.Return(tin);
            if (raw is not null) ArrayPool<float>.Shared.Return(raw);
            if (nulls is not null) ArrayPool<int>.Shared.Return(nulls);
        }
    }

    void Call(int rows, ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> output)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (counterGate) if (active++ == 0) busySince = start;
        try
        {
            if (labelled is not null) labelled(rows, x, t, labels, output);
            else function!(rows, x, t, output);
        }
        finally
        {
            long end = System.Diagnostics.Stopwatch.GetTimestamp();
            Interlocked.Add(ref functionTicks, end - start);
            lock (counterGate) if (--active == 0) Interlocked.Add(ref busyTicks, end - busySince);
            Interlocked.Increment(ref calls);
            Interlocked.Add(ref rowsEvaluated, rows);
        }
    }

    /// <summary>The model's output at its scale to this project's score (docs/MODELS.md, "From a prediction to the score").</summary>
    void ToScore(ReadOnlySpan<float> x, ReadOnlySpan<float> t, ModelTime[] map, ReadOnlySpan<float> o, Span<float> score)
    {
        int d = Dim;
        for (int r = 0; r < map.Length; r++)
        {
            double alpha = ForwardProcess.Alpha(t[r]), sigma2 = ForwardProcess.SigmaSquared(t[r]), sigma = Math.Sqrt(sigma2);
            var m = map[r];
            for (int j = 0; j < d; j++)
            {
                int i = r * d + j;
                double xi = x[i], oi = o[i];
                double s = Prediction switch
                {
                    Prediction.Score => m.Scale * oi,                      // p(x) = p_m(c x) c^d
                    Prediction.Eps => -oi / sigma,
                    Prediction.X0 => (alpha * oi - xi) / sigma2,
                    _ => -((m.Sigma * m.Scale * xi + m.Alpha * oi) / (m.Alpha * m.Alpha + m.Sigma * m.Sigma)) / sigma, // eps from v
                };
                score[i] = (float)s;
            }
        }
    }
}
