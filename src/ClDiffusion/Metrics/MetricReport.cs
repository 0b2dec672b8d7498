using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ClDiffusion.Metrics;

/// <summary>
/// One metric: its value for the evaluated samples and the distribution of its sampling-noise floor, the same metric
/// for independent exact sample sets of the same size in place of the samples (<see cref="FloorDraws"/>). The verdict
/// is a Monte Carlo test of "these samples are exact": the value's p-value among the draws.
/// </summary>
public sealed record MetricValue(string Name, double Value, IReadOnlyList<double> FloorDraws, int Rows, string Description)
{
    /// <summary>
    /// Significance of the verdict: "above noise" needs p &lt;= Alpha. On exact samples the B + 1 values are exchangeable,
    /// so the chance of a false alarm is at most Alpha (exactly 1/40 with the default 39 draws: the value above all of them).
    /// </summary>
    public const double Alpha = 0.025;

    /// <summary>The floor: the median of the exact draws.</summary>
    public double NoiseFloor => Median(FloorDraws);

    /// <summary>The largest exact draw (with 39 draws, about the floor's 97.5% quantile).</summary>
    public double FloorMax => FloorDraws.Count == 0 ? double.NaN : FloorDraws.Max();

    /// <summary>Value / median floor (NaN when the floor is 0): how far above typical sampling noise.</summary>
    public double Ratio => NoiseFloor > 0 ? Value / NoiseFloor : double.NaN;

    /// <summary>(1 + #draws &gt;= value) / (1 + #draws): the Monte Carlo p-value of the value under exact sampling (NaN for a non-finite value).</summary>
    public double PValue => !double.IsFinite(Value) || FloorDraws.Count == 0 ? double.NaN
        : (1.0 + FloorDraws.Count(f => f >= Value)) / (1.0 + FloorDraws.Count);

    /// <summary>
    /// within noise: p &gt; Alpha (exact sampling gives such a value often); above noise: p &lt;= Alpha (the value is
    /// above every exact draw); well above noise: also more than 5 times the median floor. See <see cref="MetricReport.Legend"/>.
    /// </summary>
    public string Verdict => !double.IsFinite(PValue) ? "-" : PValue > Alpha ? "within noise" : Ratio > 5 ? "well above noise" : "above noise";

    static double Median(IReadOnlyList<double> v)
    {
        if (v.Count == 0) return double.NaN;
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
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

    /// <summary>{"target":..,"n":..,"dim":..,"seed":..,"metrics":{"name":{"value":..,"noise_floor":..,"floor_max":..,"p_value":..,"floor_draws":..,"verdict":..,"rows":..,"description":..}}}; non-finite numbers are null.</summary>
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
                Num(w, "floor_max", m.FloorMax);
                Num(w, "p_value", m.PValue);
                w.WriteNumber("floor_draws", m.FloorDraws.Count);
                w.WriteString("verdict", m.Verdict);
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
        sb.AppendLine(c, $"{"metric".PadRight(w)}  {"value",12}  {"noise floor",12}  {"ratio",8}  {"p",6}  {"verdict",-16}  {"rows",8}  description");
        foreach (var m in Metrics)
            sb.AppendLine(c, $"{m.Name.PadRight(w)}  {F(m.Value),12}  {F(m.NoiseFloor),12}  {R(m.Ratio),8}  {P(m.PValue),6}  {m.Verdict,-16}  {m.Rows,8}  {m.Description}");
        sb.Append(LegendFor(Metrics.Count == 0 ? MetricOptions.Default.FloorDraws : Metrics[0].FloorDraws.Count));
        return sb.ToString();
    }

    /// <summary>What the ratio and the verdict column mean.</summary>
    public static string Legend => LegendFor(MetricOptions.Default.FloorDraws);

    /// <summary>The legend for a report whose floors come from `draws` exact sets.</summary>
    public static string LegendFor(int draws) =>
        $"noise floor = median of the metric over {draws} independent sets of exact samples of the same size; ratio = value / floor;\n" +
        $"p = (1 + draws at or above the value) / {draws + 1}: the chance that exact sampling scores at least this badly. within noise:\n" +
        $"p > {MetricValue.Alpha} (on exact samples a metric is called above noise at most {MetricValue.Alpha:P1} of the time); above noise: p <= {MetricValue.Alpha},\n" +
        "an error this many samples resolve; well above noise: also more than 5x the floor, a clear error (try more steps or\n" +
        "another sampler). More samples lower every floor.\n";

    static string R(double v) => double.IsFinite(v) ? v.ToString("0.00", CultureInfo.InvariantCulture) : "-";
    static string P(double v) => double.IsFinite(v) ? v.ToString("0.000", CultureInfo.InvariantCulture) : "-";

    static string F(double v) => double.IsFinite(v) ? v.ToString("0.0000e+00", CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture);
}
