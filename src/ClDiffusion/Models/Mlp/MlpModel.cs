using System.Globalization;
using ClDiffusion.Diffusion;

namespace ClDiffusion.Models.Mlp;

/// <summary>What the network's last layer predicts (metadata key "prediction").</summary>
public enum MlpPrediction
{
    /// <summary>The noise: score = -eps / sigma_t.</summary>
    Eps,
    /// <summary>The score itself.</summary>
    Score,
    /// <summary>The clean data: score = (e^{-t} x0 - x) / sigma_t^2.</summary>
    X0,
}

/// <summary>One Linear layer: y = W x + b with W [Out, In] row-major (the torch.nn.Linear layout).</summary>
public sealed record MlpLayer(int In, int Out, float[] Weight, float[] Bias);

/// <summary>
/// A time-conditioned MLP score model (docs/MLP.md). Plain data, so a GPU kernel can read it:
/// <list type="bullet">
/// <item>state y (Dim) and forward time t; time features [sin(t f_0..f_{F-1}), cos(t f_0..f_{F-1})] (float32, all sines first);</item>
/// <item>layer 0 input = concat(y, time features) (width Dim + 2F); hidden layers Linear then SiLU; last layer Linear, output Dim;</item>
/// <item>the output is converted to a score according to <see cref="Prediction"/>.</item>
/// </list>
/// <b>Normalisation.</b> The diffusion runs in <i>normalised space</i>: the training data were mapped to
/// y = (x - DataMean) / DataStd and the OU process of DESIGN 1.1 was applied to y. So the score this model exposes
/// (and that every backend evaluates) is grad_y log q_t(y) in normalised space; samplers start from N(0, I) in
/// normalised space as usual, and sampling code maps final samples back with <see cref="ToDataSpace"/>
/// (x = mean + std * y). Nothing in the network itself normalises its input.
/// </summary>
public sealed class MlpModel : IScoreModel, IDataSpaceModel, IClassConditional
{
    public const string FormatName = "cldiffusion-mlp";
    public const int FormatVersion = 1;

    public int Dim { get; }
    public IReadOnlyList<MlpLayer> Layers { get; }
    /// <summary>Frequencies f of the time features, length F.</summary>
    public float[] TimeFreqs { get; }
    public float[] DataMean { get; }
    public float[] DataStd { get; }
    public MlpPrediction Prediction { get; }
    /// <summary>Free-form metadata carried through load and save (training command, seed, ...).</summary>
    public IReadOnlyDictionary<string, string> Info { get; }

    /// <summary>Number K of classes of a class-conditional model (0: unconditional). Class K itself is the null class.</summary>
    public int NumClasses { get; }
    /// <summary>
    /// Class embedding [K + 1, Layers[0].Out] row-major (the torch.nn.Embedding layout; row K = the null class), added to
    /// the first layer's pre-activation; null for an unconditional model.
    /// </summary>
    public float[]? ClassEmbedding { get; }

    public int TimeFeatures => 2 * TimeFreqs.Length;
    /// <summary>Width of concat(y, time features), the input of net.0.</summary>
    public int InputWidth => Dim + TimeFeatures;
    /// <summary>
    /// Width of the first layer's input as the backends evaluate it: concat(y, time features, one-hot class of K + 1)
    /// for a conditional model (see <see cref="FirstLayerWithClasses"/>), else <see cref="InputWidth"/>.
    /// </summary>
    public int FeatureWidth => InputWidth + (NumClasses > 0 ? NumClasses + 1 : 0);
    public long ParameterCount => Layers.Sum(l => (long)l.Weight.Length + l.Bias.Length) + (ClassEmbedding?.LongLength ?? 0);

    public MlpModel(IReadOnlyList<MlpLayer> layers, float[] timeFreqs, float[] dataMean, float[] dataStd,
        MlpPrediction prediction = MlpPrediction.Eps, IReadOnlyDictionary<string, string>? info = null,
        float[]? classEmbedding = null)
    {
        if (layers is null || layers.Count == 0) throw new InvalidDataException("MLP has no layers");
        if (timeFreqs is null || dataMean is null || dataStd is null) throw new InvalidDataException("MLP needs time_freqs, data_mean and data_std");
        int d = dataMean.Length;
        if (d == 0) throw new InvalidDataException("data_mean is empty: dimension must be at least 1");
        if (dataStd.Length != d) throw new InvalidDataException($"data_std has {dataStd.Length} values, data_mean has {d}");
        Check("time_freqs", timeFreqs);
        Check("data_mean", dataMean);
        Check("data_std", dataStd);
        for (int j = 0; j < d; j++)
            if (!(dataStd[j] > 0)) throw new InvalidDataException($"data_std[{j}] = {dataStd[j]} must be positive");
        int expectIn = d + 2 * timeFreqs.Length;
        for (int l = 0; l < layers.Count; l++)
        {
            var L = layers[l];
            string name = $"net.{2 * l}";
            if (L.In != expectIn) throw new InvalidDataException($"{name}.weight: input width {L.In}, expected {expectIn} ({(l == 0 ? $"dim {d} + 2 x {timeFreqs.Length} time features" : "the previous layer's output")})");
            if (L.Out < 1) throw new InvalidDataException($"{name}.weight: output width {L.Out} must be at least 1");
            if (L.Weight.LongLength != (long)L.In * L.Out) throw new InvalidDataException($"{name}.weight: {L.Weight.Length} values, expected [{L.Out}, {L.In}]");
            if (L.Bias.Length != L.Out) throw new InvalidDataException($"{name}.bias: {L.Bias.Length} values, expected [{L.Out}]");
            Check($"{name}.weight", L.Weight);
            Check($"{name}.bias", L.Bias);
            expectIn = L.Out;
        }
        if (expectIn != d) throw new InvalidDataException($"net.{2 * (layers.Count - 1)}.weight: output width {expectIn}, expected the data dimension {d}");
        if (classEmbedding is not null)
        {
            int w0 = layers[0].Out;
            if (classEmbedding.Length == 0 || classEmbedding.Length % w0 != 0 || classEmbedding.Length / w0 < 2)
                throw new InvalidDataException($"{ClassEmbeddingName}: {classEmbedding.Length} values are not [K + 1, {w0}] with K >= 1 classes and the null class");
            Check(ClassEmbeddingName, classEmbedding);
            NumClasses = classEmbedding.Length / w0 - 1;
            ClassEmbedding = classEmbedding;
        }
        Layers = layers; TimeFreqs = timeFreqs; DataMean = dataMean; DataStd = dataStd; Dim = d; Prediction = prediction;
        Info = info ?? new Dictionary<string, string>();
    }

    static void Check(string name, float[] v)
    {
        for (int i = 0; i < v.Length; i++)
            if (!float.IsFinite(v[i])) throw new InvalidDataException($"tensor '{name}': value {i} is {v[i]}, must be finite");
    }

    public string Describe() =>
        $"mlp(d={Dim}, widths=[{string.Join(",", Layers.Select(l => l.Out))}], F={TimeFreqs.Length}, {PredictionName(Prediction)}{(NumClasses > 0 ? $", {NumClasses} classes" : "")}, {ParameterCount} params)";

    /// <summary>Tensor name of the class embedding (a torch.nn.Embedding attribute called class_embed).</summary>
    public const string ClassEmbeddingName = "class_embed.weight";

    /// <summary>
    /// The first layer as the backends evaluate it: W [Out, InputWidth + K + 1] = [net.0.weight | class_embed.weight^T]
    /// on the input concat(y, time features, onehot(class)), which adds embedding row `class` to the pre-activation
    /// exactly (the null class is column K). Unconditional models: Layers[0] itself.
    /// </summary>
    public MlpLayer FirstLayerWithClasses()
    {
        var L = Layers[0];
        if (ClassEmbedding is null) return L;
        int inW = L.In, c = NumClasses + 1, w = inW + c;
        var weight = new float[(long)L.Out * w];
        for (int r = 0; r < L.Out; r++)
        {
            L.Weight.AsSpan(r * inW, inW).CopyTo(weight.AsSpan(r * w));
            for (int k = 0; k < c; k++) weight[r * w + inW + k] = ClassEmbedding[k * L.Out + r];
        }
        return new MlpLayer(w, L.Out, weight, L.Bias);
    }

    /// <summary>
    /// The embedding row a label selects: -1 (or <see cref="ClassLabels.Null"/>) is the null class K; labels outside
    /// [-1, K) are rejected. An unconditional model accepts only the null label.
    /// </summary>
    public int ClassIndex(int label)
    {
        if (label == ClassLabels.Null) return NumClasses;
        if (label < 0 || label >= NumClasses)
            throw new ArgumentException(NumClasses == 0 ? $"class {label} given, but the model is not class-conditional" : $"class {label} is outside 0..{NumClasses - 1} (-1 = unconditional)");
        return label;
    }

    public static string PredictionName(MlpPrediction p) => p switch { MlpPrediction.Eps => "eps", MlpPrediction.Score => "score", _ => "x0" };

    public static MlpPrediction ParsePrediction(string s) => s switch
    {
        "eps" => MlpPrediction.Eps,
        "score" => MlpPrediction.Score,
        "x0" => MlpPrediction.X0,
        _ => throw new InvalidDataException($"unknown prediction type '{s}' (use eps, score or x0)"),
    };

    // ----- data space -----

    /// <summary>Rows (length a multiple of Dim) from normalised to data space, in place: x = mean + std * y.</summary>
    public void ToDataSpace(Span<float> rows)
    {
        if (rows.Length % Dim != 0) throw new ArgumentException($"{rows.Length} values are not whole rows of {Dim}");
        for (int i = 0; i < rows.Length; i++) { int j = i % Dim; rows[i] = DataMean[j] + DataStd[j] * rows[i]; }
    }

    /// <summary>Rows from data to normalised space, in place: y = (x - mean) / std.</summary>
    public void FromDataSpace(Span<float> rows)
    {
        if (rows.Length % Dim != 0) throw new ArgumentException($"{rows.Length} values are not whole rows of {Dim}");
        for (int i = 0; i < rows.Length; i++) { int j = i % Dim; rows[i] = (rows[i] - DataMean[j]) / DataStd[j]; }
    }

    /// <summary>
    /// Score of the data-space image of q_t (x = mean + std * y) from a normalised-space score: grad_x = grad_y / std.
    /// Note this is the law of mean + std * Y_t, not the OU process applied to the raw data.
    /// </summary>
    public void ScoreToDataSpace(Span<float> scores)
    {
        for (int i = 0; i < scores.Length; i++) scores[i] /= DataStd[i % Dim];
    }

    // ----- reference evaluation (float64, one row) -----

    /// <summary>Network output for one normalised row in float64 (weights as stored); the reference for every backend.</summary>
    public void ForwardReference(ReadOnlySpan<float> y, double t, Span<double> output, int label = ClassLabels.Null)
    {
        int cls = ClassIndex(label);
        if (y.Length != Dim || output.Length != Dim) throw new ArgumentException("row length does not match the model dimension");
        var h = new double[InputWidth];
        for (int j = 0; j < Dim; j++) h[j] = y[j];
        int F = TimeFreqs.Length;
        for (int i = 0; i < F; i++) { h[Dim + i] = Math.Sin(t * TimeFreqs[i]); h[Dim + F + i] = Math.Cos(t * TimeFreqs[i]); }
        for (int l = 0; l < Layers.Count; l++)
        {
            var L = Layers[l];
            var o = new double[L.Out];
            for (int r = 0; r < L.Out; r++)
            {
                double acc = L.Bias[r];
                if (l == 0 && ClassEmbedding is not null) acc += ClassEmbedding[(long)cls * L.Out + r];
                for (int c = 0; c < L.In; c++) acc += (double)L.Weight[(long)r * L.In + c] * h[c];
                o[r] = l < Layers.Count - 1 ? acc / (1 + Math.Exp(-acc)) : acc;
            }
            h = o;
        }
        h.CopyTo(output);
    }

    /// <summary>Reference score (normalised space) for one row in float64.</summary>
    public void ScoreReference(ReadOnlySpan<float> y, double t, Span<double> score, int label = ClassLabels.Null)
    {
        ForwardReference(y, t, score, label);
        ConvertOutput(Prediction, y, t, score);
    }

    internal static void ConvertOutput(MlpPrediction p, ReadOnlySpan<float> y, double t, Span<double> o)
    {
        switch (p)
        {
            case MlpPrediction.Eps:
                double inv = -1 / ForwardProcess.Sigma(t);
                for (int j = 0; j < o.Length; j++) o[j] *= inv;
                break;
            case MlpPrediction.X0:
                double a = ForwardProcess.Alpha(t), s2 = ForwardProcess.SigmaSquared(t);
                for (int j = 0; j < o.Length; j++) o[j] = (a * o[j] - y[j]) / s2;
                break;
        }
    }

    // ----- file I/O -----

    public static MlpModel Load(string path)
    {
        var f = SafetensorsReader.Read(path);
        try { return FromSafetensors(f); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    public static MlpModel FromBytes(ReadOnlySpan<byte> bytes) => FromSafetensors(SafetensorsReader.Read(bytes));

    public static MlpModel FromSafetensors(SafetensorsFile f)
    {
        var meta = f.Metadata;
        if (meta.TryGetValue("format", out var fmt) && fmt != FormatName)
            throw new InvalidDataException($"metadata format is '{fmt}', expected '{FormatName}'");
        if (meta.TryGetValue("format_version", out var ver) && ver != FormatVersion.ToString(CultureInfo.InvariantCulture))
            throw new InvalidDataException($"metadata format_version is '{ver}', this library reads version {FormatVersion}");
        if (!meta.TryGetValue("prediction", out var pred)) throw new InvalidDataException("metadata has no 'prediction' (eps, score or x0)");
        var prediction = ParsePrediction(pred);
        if (meta.TryGetValue("activation", out var act) && act != "silu") throw new InvalidDataException($"activation '{act}' is not supported (only silu)");

        float[] Vec(string name)
        {
            var t = f.Get(name) ?? throw new InvalidDataException($"tensor '{name}' is missing");
            if (t.Shape.Length != 1) throw new InvalidDataException($"tensor '{name}': shape {t.ShapeText} must have one dimension");
            return t.Data;
        }
        var freqs = Vec("time_freqs");
        var mean = Vec("data_mean");
        var std = Vec("data_std");

        var layers = new List<MlpLayer>();
        var used = new HashSet<string> { "time_freqs", "data_mean", "data_std" };
        float[]? embed = null;
        if (f.Get(ClassEmbeddingName) is { } e)
        {
            if (e.Shape.Length != 2) throw new InvalidDataException($"tensor '{ClassEmbeddingName}': shape {e.ShapeText} must be [classes + 1, width of net.0]");
            embed = e.Data;
            used.Add(ClassEmbeddingName);
        }
        for (int idx = 0; f.Get($"net.{idx}.weight") is { } w; idx += 2)
        {
            string wn = $"net.{idx}.weight", bn = $"net.{idx}.bias";
            if (w.Shape.Length != 2) throw new InvalidDataException($"tensor '{wn}': shape {w.ShapeText} must be [out, in]");
            var b = f.Get(bn) ?? throw new InvalidDataException($"tensor '{bn}' is missing");
            if (b.Shape.Length != 1 || b.Shape[0] != w.Shape[0]) throw new InvalidDataException($"tensor '{bn}': shape {b.ShapeText}, expected [{w.Shape[0]}] to match '{wn}' {w.ShapeText}");
            if (w.Shape[0] > int.MaxValue || w.Shape[1] > int.MaxValue) throw new InvalidDataException($"tensor '{wn}': shape {w.ShapeText} is too large");
            layers.Add(new MlpLayer((int)w.Shape[1], (int)w.Shape[0], w.Data, b.Data));
            used.Add(wn); used.Add(bn);
        }
        if (layers.Count == 0) throw new InvalidDataException("tensor 'net.0.weight' is missing (layers are net.0, net.2, ... as in a torch.nn.Sequential of Linear and SiLU)");
        if (embed is not null && f.Get(ClassEmbeddingName)!.Shape[1] != layers[0].Out)
            throw new InvalidDataException($"tensor '{ClassEmbeddingName}': shape {f.Get(ClassEmbeddingName)!.ShapeText}, expected [classes + 1, {layers[0].Out}] (the output width of net.0)");
        if (embed is not null && meta.TryGetValue("num_classes", out var nc) && nc != (f.Get(ClassEmbeddingName)!.Shape[0] - 1).ToString(CultureInfo.InvariantCulture))
            throw new InvalidDataException($"metadata num_classes = '{nc}' does not match '{ClassEmbeddingName}' {f.Get(ClassEmbeddingName)!.ShapeText} (classes + the null class)");
        foreach (var t in f.Tensors)
            if (!used.Contains(t.Name)) throw new InvalidDataException($"tensor '{t.Name}' is not part of the MLP format (layers must be net.0, net.2, ... without gaps)");
        var info = meta.Where(kv => kv.Key is not ("format" or "format_version" or "prediction" or "activation" or "num_classes")).ToDictionary(kv => kv.Key, kv => kv.Value);
        return new MlpModel(layers, freqs, mean, std, prediction, info, embed);
    }

    public IReadOnlyDictionary<string, string> FileMetadata()
    {
        var m = new Dictionary<string, string>
        {
            ["format"] = FormatName,
            ["format_version"] = FormatVersion.ToString(CultureInfo.InvariantCulture),
            ["prediction"] = PredictionName(Prediction),
            ["activation"] = "silu",
        };
        if (NumClasses > 0) m["num_classes"] = NumClasses.ToString(CultureInfo.InvariantCulture);
        foreach (var kv in Info) m.TryAdd(kv.Key, kv.Value);
        return m;
    }

    public IEnumerable<(string name, long[] shape, float[] data)> FileTensors()
    {
        for (int l = 0; l < Layers.Count; l++)
        {
            var L = Layers[l];
            yield return ($"net.{2 * l}.weight", new long[] { L.Out, L.In }, L.Weight);
            yield return ($"net.{2 * l}.bias", new long[] { L.Out }, L.Bias);
        }
        if (ClassEmbedding is not null) yield return (ClassEmbeddingName, new long[] { NumClasses + 1, Layers[0].Out }, ClassEmbedding);
        yield return ("time_freqs", new long[] { TimeFreqs.Length }, TimeFreqs);
        yield return ("data_mean", new long[] { Dim }, DataMean);
        yield return ("data_std", new long[] { Dim }, DataStd);
    }

    public void Save(string path, TensorDType dtype = TensorDType.F32) => SafetensorsWriter.Write(path, FileMetadata(), FileTensors(), dtype);
    public byte[] ToBytes(TensorDType dtype = TensorDType.F32) => SafetensorsWriter.ToBytes(FileMetadata(), FileTensors(), dtype);
}

/// <summary>
/// A score model whose diffusion runs in a normalised space: samples drawn with its score must be mapped back
/// with <see cref="ToDataSpace"/> before use (the CLI's sample command should check for this interface).
/// </summary>
public interface IDataSpaceModel
{
    void ToDataSpace(Span<float> rows);
    void FromDataSpace(Span<float> rows);
}
