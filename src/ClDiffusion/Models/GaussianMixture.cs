using System.Text.Json;
using ClDiffusion.Diffusion;
using ClDiffusion.Random;

namespace ClDiffusion.Models;

/// <summary>
/// q_0 = sum_k w_k N(mu_k, diag(v_k)). Under the OU process q_t stays a mixture,
/// q_t = sum_k w_k N(e^{-t} mu_k, diag(e^{-2t} v_k + sigma_t^2)), so the score is exact at every t (DESIGN 1.2).
/// <b>Labelled mixtures</b> (optional "labels": the class of each component) are class-conditional: the law of class c
/// is the mixture of its components (weights renormalised), so s_t(x | c) is the same exact log-sum-exp restricted to
/// those components, and the null class is the whole mixture.
/// </summary>
public sealed class GaussianMixture : IScoreModel, IClassConditional
{
    public double[] Weights { get; }
    public double[][] Means { get; }
    public double[][] Variances { get; }
    public int Dim { get; }
    public int Components => Weights.Length;
    /// <summary>Class of each component (null: an unlabelled mixture).</summary>
    public int[]? Labels { get; }
    /// <summary>Number of classes (max label + 1; 0 without labels).</summary>
    public int NumClasses { get; }

    public GaussianMixture(double[] weights, double[][] means, double[][] variances, int[]? labels = null)
    {
        if (weights is null || means is null || variances is null) throw new InvalidDataException("target needs \"weights\", \"means\" and \"variances\"");
        int k = weights.Length;
        if (k == 0) throw new InvalidDataException("target has no components (\"weights\" is empty)");
        if (means.Length != k) throw new InvalidDataException($"\"means\" has {means.Length} rows but \"weights\" has {k} components");
        if (variances.Length != k) throw new InvalidDataException($"\"variances\" has {variances.Length} rows but \"weights\" has {k} components");
        int d = means[0]?.Length ?? 0;
        if (d == 0) throw new InvalidDataException("\"means[0]\" is empty: dimension must be at least 1");
        double sum = 0;
        for (int i = 0; i < k; i++)
        {
            if (!double.IsFinite(weights[i]) || weights[i] < 0) throw new InvalidDataException($"\"weights[{i}]\" = {weights[i]} must be finite and non-negative");
            sum += weights[i];
            if (means[i] is null || means[i].Length != d) throw new InvalidDataException($"\"means[{i}]\" has length {means[i]?.Length ?? 0}, expected {d}");
            if (variances[i] is null || variances[i].Length != d) throw new InvalidDataException($"\"variances[{i}]\" has length {variances[i]?.Length ?? 0}, expected {d}");
            for (int j = 0; j < d; j++)
            {
                if (!double.IsFinite(means[i][j])) throw new InvalidDataException($"\"means[{i}][{j}]\" is {means[i][j]}, must be finite");
                if (!double.IsFinite(variances[i][j]) || !(variances[i][j] > 0)) throw new InvalidDataException($"\"variances[{i}][{j}]\" is {variances[i][j]}, must be finite and positive");
            }
        }
        if (Math.Abs(sum - 1) > 1e-6) throw new InvalidDataException($"\"weights\" sum to {sum}, must sum to 1");
        if (labels is not null)
        {
            if (labels.Length != k) throw new InvalidDataException($"\"labels\" has {labels.Length} entries but \"weights\" has {k} components");
            for (int i = 0; i < k; i++)
                if (labels[i] < 0 || labels[i] >= k) throw new InvalidDataException($"\"labels[{i}]\" = {labels[i]} must be a class in 0..{k - 1}");
            NumClasses = labels.Max() + 1;
            for (int c = 0; c < NumClasses; c++)
                if (!Enumerable.Range(0, k).Any(i => labels[i] == c && weights[i] > 0))
                    throw new InvalidDataException($"class {c} has no component of positive weight (\"labels\" must use every class 0..{NumClasses - 1})");
            Labels = labels;
        }
        Weights = weights; Means = means; Variances = variances; Dim = d;
    }

    public string Describe() => $"gaussian-mixture(K={Components}, d={Dim}{(NumClasses > 0 ? $", {NumClasses} classes" : "")})";

    /// <summary>
    /// log w_k per class: [NumClasses + 1, K] row-major, row c = log w_k for the components of class c and -infinity for
    /// the others, the last row (the null class) log w_k for all; zero weights are -infinity. One row when unlabelled.
    /// </summary>
    public double[] LogWeightTable()
    {
        int K = Components, rows = NumClasses + 1;
        var t = new double[rows * K];
        for (int c = 0; c < rows; c++)
            for (int k = 0; k < K; k++)
                t[c * K + k] = Weights[k] > 0 && (c == NumClasses || Labels![k] == c) ? Math.Log(Weights[k]) : double.NegativeInfinity;
        return t;
    }

    /// <summary>The law of class c: its components, weights renormalised (c = -1: the whole mixture).</summary>
    public GaussianMixture Conditional(int c)
    {
        if (c == ClassLabels.Null) return this;
        if (c < 0 || c >= NumClasses) throw new ArgumentException($"class {c} is outside 0..{NumClasses - 1}");
        var idx = Enumerable.Range(0, Components).Where(k => Labels![k] == c).ToArray();
        double z = idx.Sum(k => Weights[k]);
        var w = idx.Select(k => Weights[k] / z).ToArray();
        w[^1] = 1 - w.Take(w.Length - 1).Sum();
        return new GaussianMixture(w, idx.Select(k => Means[k]).ToArray(), idx.Select(k => Variances[k]).ToArray());
    }

    /// <summary>
    /// The classifier-free guided score in float64: (1 + w) s_t(x | c) - w s_t(x), both exact. Where the classes are
    /// well separated it is a tilt of the class law: for a class of one component N(mu, v) and a null law close to
    /// w_c N(mu, v) + others, the guided flow sees the same Gaussian near mu; in general p_c^{1+w} / p^w.
    /// </summary>
    public void GuidedScore(ReadOnlySpan<double> x, double t, int c, double w, Span<double> score)
    {
        var sc = new double[Dim]; var su = new double[Dim]; var scratch = new double[Components];
        Conditional(c).Score(x, t, sc, scratch);
        Score(x, t, su, scratch);
        for (int j = 0; j < Dim; j++) score[j] = (1 + w) * sc[j] - w * su[j];
    }

    /// <summary>Parses the target JSON {"weights": [K], "means": [[d] x K], "variances": [[d] x K]}.</summary>
    public static GaussianMixture FromJson(string json, string source = "target")
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException("top level must be a JSON object");
            int[]? labels = root.TryGetProperty("labels", out _)
                ? Vector(root, "labels").Select((v, i) => v == Math.Floor(v) && v >= 0 && v < 1 << 24 ? (int)v : throw new InvalidDataException($"\"labels[{i}]\" = {v} must be a whole class >= 0")).ToArray()
                : null;
            return new GaussianMixture(Vector(root, "weights"), Matrix(root, "means"), Matrix(root, "variances"), labels);
        }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not valid JSON: {e.Message}", e); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{source}: {e.Message}", e); }
    }

    public static GaussianMixture Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"target file not found: {path}", path);
        return FromJson(File.ReadAllText(path), path);
    }

    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartArray("weights"); foreach (var x in Weights) w.WriteNumberValue(x); w.WriteEndArray();
            foreach (var (name, rows) in new[] { ("means", Means), ("variances", Variances) })
            {
                w.WriteStartArray(name);
                foreach (var row in rows) { w.WriteStartArray(); foreach (var x in row) w.WriteNumberValue(x); w.WriteEndArray(); }
                w.WriteEndArray();
            }
            if (Labels is not null) { w.WriteStartArray("labels"); foreach (var c in Labels) w.WriteNumberValue(c); w.WriteEndArray(); }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    static JsonElement Field(JsonElement root, string name) =>
        root.TryGetProperty(name, out var e) ? e : throw new InvalidDataException($"missing field \"{name}\"");

    static double Number(JsonElement e, string where) => e.ValueKind switch
    {
        JsonValueKind.Number => e.GetDouble(),
        JsonValueKind.String when e.GetString() is "NaN" or "nan" => double.NaN,
        _ => throw new InvalidDataException($"{where} must be a number, got {e.ValueKind}"),
    };

    static double[] Vector(JsonElement root, string name)
    {
        var e = Field(root, name);
        if (e.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"\"{name}\" must be an array");
        return e.EnumerateArray().Select((x, i) => Number(x, $"\"{name}[{i}]\"")).ToArray();
    }

    static double[][] Matrix(JsonElement root, string name)
    {
        var e = Field(root, name);
        if (e.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"\"{name}\" must be an array of arrays");
        return e.EnumerateArray().Select((row, i) =>
        {
            if (row.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"\"{name}[{i}]\" must be an array");
            return row.EnumerateArray().Select((x, j) => Number(x, $"\"{name}[{i}][{j}]\"")).ToArray();
        }).ToArray();
    }

    /// <summary>The mixture q_t at forward time t (t = 0 gives the target itself).</summary>
    public GaussianMixture At(double t)
    {
        double a = ForwardProcess.Alpha(t), s2 = ForwardProcess.SigmaSquared(t);
        return new GaussianMixture(Weights,
            Means.Select(m => m.Select(x => a * x).ToArray()).ToArray(),
            Variances.Select(v => v.Select(x => a * a * x + s2).ToArray()).ToArray(), Labels);
    }

    /// <summary>
    /// Exact score of q_t at x in float64, through log-sum-exp responsibilities (never dividing small densities).
    /// scratch must have at least Components entries.
    /// </summary>
    public void Score(ReadOnlySpan<double> x, double t, Span<double> score, Span<double> scratch)
    {
        double a = ForwardProcess.Alpha(t), s2 = ForwardProcess.SigmaSquared(t);
        int d = Dim, K = Components;
        double maxLog = double.NegativeInfinity;
        for (int k = 0; k < K; k++)
        {
            double acc = 0;
            var mu = Means[k]; var v = Variances[k];
            for (int j = 0; j < d; j++)
            {
                double vt = a * a * v[j] + s2, diff = x[j] - a * mu[j];
                acc += diff * diff / vt + Math.Log(vt);
            }
            scratch[k] = Weights[k] > 0 ? Math.Log(Weights[k]) - 0.5 * acc : double.NegativeInfinity;
            maxLog = Math.Max(maxLog, scratch[k]);
        }
        double z = 0;
        for (int k = 0; k < K; k++) { scratch[k] = Math.Exp(scratch[k] - maxLog); z += scratch[k]; }
        score.Slice(0, d).Clear();
        for (int k = 0; k < K; k++)
        {
            double r = scratch[k] / z;
            if (r == 0) continue;
            var mu = Means[k]; var v = Variances[k];
            for (int j = 0; j < d; j++) score[j] += r * (a * mu[j] - x[j]) / (a * a * v[j] + s2);
        }
    }

    /// <summary>Exact samples of q_t (component drawn by inverse CDF), reproducible from the key.</summary>
    public double[,] Sample(int n, RandomKey key, double t = 0, long firstSample = 0)
    {
        var qt = t == 0 ? this : At(t);
        var result = new double[n, Dim];
        var z = new float[Dim];
        for (int i = 0; i < n; i++)
        {
            long s = firstSample + i;
            double u = key.WithStep(0xFFFFFFF0).Uniform(s, 0), c = 0;
            int k = 0;
            for (; k < Components - 1; k++) { c += Weights[k]; if (u < c) break; }
            key.Normals(s, z);
            for (int j = 0; j < Dim; j++) result[i, j] = qt.Means[k][j] + Math.Sqrt(qt.Variances[k][j]) * z[j];
        }
        return result;
    }

    public double[] Mean()
    {
        var m = new double[Dim];
        for (int k = 0; k < Components; k++) for (int j = 0; j < Dim; j++) m[j] += Weights[k] * Means[k][j];
        return m;
    }

    /// <summary>Full covariance of the mixture (law of total variance).</summary>
    public double[,] Covariance()
    {
        var m = Mean();
        var c = new double[Dim, Dim];
        for (int k = 0; k < Components; k++)
            for (int i = 0; i < Dim; i++)
            {
                c[i, i] += Weights[k] * Variances[k][i];
                for (int j = 0; j < Dim; j++) c[i, j] += Weights[k] * (Means[k][i] - m[i]) * (Means[k][j] - m[j]);
            }
        return c;
    }

    /// <summary>A deterministic random mixture used as a built-in target: K components, means spread by `spread`.</summary>
    public static GaussianMixture Preset(int dim, int components, ulong seed = 7, double spread = 2.0)
    {
        var key = new RandomKey(seed, 0, Purpose.Test);
        var w = Enumerable.Range(0, components).Select(k => 0.5 + key.Uniform(k, 0)).ToArray();
        double sw = w.Sum();
        for (int k = 0; k < components; k++) w[k] /= sw;
        var means = Enumerable.Range(0, components).Select(k => Enumerable.Range(0, dim).Select(j => spread * (double)key.WithStep(1).Normal(k, j)).ToArray()).ToArray();
        var vars = Enumerable.Range(0, components).Select(k => Enumerable.Range(0, dim).Select(j => 0.15 + 0.35 * key.WithStep(2).Uniform(k, j)).ToArray()).ToArray();
        // renormalise so the weights sum to 1 to double precision
        w[^1] = 1 - w.Take(components - 1).Sum();
        return new GaussianMixture(w, means, vars);
    }
}
