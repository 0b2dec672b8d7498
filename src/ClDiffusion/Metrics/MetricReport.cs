using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ClDiffusion.Metrics;

/// <summary>
/// One metric: its value for the evaluated samples and its sampling-noise floor, the same metric computed
/// with an independent exact sample set of the same size in place of the samples. A value near the floor
/// means the error is not resolvable with this many samples.
/// </summary>
public sealed record MetricValue(string Name, double Value, double NoiseFloor, int Rows, string Description)
{
    /// <summary>Value / NoiseFloor (NaN when the floor is 0).</summary>
    public double Ratio => NoiseFloor > 0 ? Value / NoiseFloor : double.NaN;

    /// <summary>The ratio in words (the thresholds allow for the floor being one random draw itself): see <see cref="MetricReport.Legend"/>.</summary>
    public string Verdict => !double.IsFinite(Ratio) ? "-" : Ratio <= 2 ? "within noise" : Ratio <= 5 ? "above noise" : "well above noise";
}

/// <summary>All metrics of <see cref="SampleEvaluator.Evaluate(Models.GaussianMixture, float[], int, ulong)"/>.</summary>
public sealed class MetricReport
{
    public string Target { get; }
    public int N { get; }
    public int Dim { get; }
    public ulong Seed { get; }
    public IReadOnlyList<MetricValue> Metrics { get; }

    public MetricReport(string target, int n, int dim, ulong seed, IReadOnlyList<MetricValue> metrics)
    {
        Target = target; N = n; Dim = dim; Seed = seed; Metrics = metrics;
    }

    public MetricValue this[string name] =>
        Metrics.FirstOrDefault(m => m.Name == name) ?? throw new KeyNotFoundException($"no metric named '{name}' (have: {string.Join(", ", Metrics.Select(m => m.Name))})");

    public MetricValue MeanError => this[SampleEvaluator.MeanErrorName];
    public MetricValue Frechet => this[SampleEvaluator.FrechetName];
    public MetricValue GaussianKl => this[SampleEvaluator.GaussianKlName];
    public MetricValue SlicedW2 => this[SampleEvaluator.SlicedW2Name];
    public MetricValue EnergyDistance => this[SampleEvaluator.EnergyName];
    public MetricValue Mmd2 => this[SampleEvaluator.MmdName];
    public MetricValue KsMax => this[SampleEvaluator.KsMaxName];
    public MetricValue KsMean => this[SampleEvaluator.KsMeanName];

    /// <summary>{"target":..,"n":..,"dim":..,"seed":..,"metrics":{"name":{"value":..,"noise_floor":..,"rows":..,"description":..}}}; non-finite numbers are null.</summary>
    public string ToJson(bool indented = true)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            w.WriteString("target", Target);
            w.WriteNumber("n", N);
            w.WriteNumber("dim", Dim);
            w.WriteNumber("seed", Seed);
            w.WriteStartObject("metrics");
            foreach (var m in Metrics)
            {
                w.WriteStartObject(m.Name);
                Num(w, "value", m.Value);
                Num(w, "noise_floor", m.NoiseFloor);
                w.WriteNumber("rows", m.Rows);
                w.WriteString("description", m.Description);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static void Num(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v); else w.WriteNull(name);
    }

    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"metrics for {N} samples, d = {Dim}, target {Target}, seed {Seed}");
        int w = Math.Max(6, Metrics.Max(m => m.Name.Length));
        sb.AppendLine(c, $"{"metric".PadRight(w)}  {"value",12}  {"noise floor",12}  {"ratio",8}  {"verdict",-16}  {"rows",8}  description");
        foreach (var m in Metrics)
            sb.AppendLine(c, $"{m.Name.PadRight(w)}  {F(m.Value),12}  {F(m.NoiseFloor),12}  {(double.IsFinite(m.Ratio) ? m.Ratio.ToString("0.00", c) : "-"),8}  {m.Verdict,-16}  {m.Rows,8}  {m.Description}");
        sb.Append(Legend);
        return sb.ToString();
    }

    /// <summary>What the ratio and the verdict column mean.</summary>
    public const string Legend =
        "ratio = value / noise floor; the floor is the same metric for an independent set of exact samples of the same size\n" +
        "(itself one random draw, so ratios up to about 2 are noise). within noise (<= 2): with this many samples the sampler\n" +
        "cannot be told apart from exact sampling; above noise (2-5): a small error this many samples resolve; well above\n" +
        "noise (> 5): a clear error (try more steps or another sampler). More samples lower every floor.\n";

    static string F(double v) => double.IsFinite(v) ? v.ToString("0.0000e+00", CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture);
}
