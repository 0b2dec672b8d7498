using System.Globalization;
using ClDiffusion.Metrics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ClDiffusion.Onnx;

/// <summary>
/// An ONNX image classifier with a feature layer, the one of the image metric (docs/IMAGES.md,
/// models/fashion-classifier.onnx made by tools/fashion/train_classifier.py): input x [B, D] float32 (B dynamic), outputs
/// logits [B, K] and features [B, F]. The metadata key cldiffusion.input says the input's units; the only convention
/// known is "pixel/255" (each pixel in [0, 1]), which <see cref="ImagePixels.ToClassifierInput"/> makes from data space.
/// Everything is checked at load; <see cref="Classify"/> runs in batches and refuses input outside the convention.
/// </summary>
public sealed class OnnxClassifier : IImageClassifier, IDisposable
{
    public const string KindKey = "cldiffusion.kind", InputKey = ImagePixels.InputConventionKey, ClassesKey = "cldiffusion.classes",
        AccuracyKey = "cldiffusion.test_accuracy";
    public const string PixelUnit = "pixel/255";

    readonly InferenceSession session;
    public string Path { get; }
    public int InputDim { get; }
    public int FeatureDim { get; }
    public int NumClasses { get; }
    public string InputConvention { get; }
    /// <summary>Class names from the metadata (numbers when it has none).</summary>
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>The test accuracy the file states (cldiffusion.test_accuracy), NaN when it states none.</summary>
    public double StatedAccuracy { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Images per ONNX Runtime call (results do not depend on it).</summary>
    public int BatchSize
    {
        get => batchSize;
        set => batchSize = value >= 1 ? value : throw new ArgumentException($"batch size must be at least 1, got {value}");
    }
    int batchSize = 1000;

    OnnxClassifier(string path, InferenceSession session, int inputDim, int featureDim, int classes, IReadOnlyDictionary<string, string> meta)
    {
        this.session = session; Path = path; InputDim = inputDim; FeatureDim = featureDim; NumClasses = classes; Metadata = meta;
        InputConvention = meta[InputKey];
        var names = meta.TryGetValue(ClassesKey, out var cn) ? cn.Split(',') : [];
        ClassNames = names.Length == classes ? names : Enumerable.Range(0, classes).Select(c => c.ToString(CultureInfo.InvariantCulture)).ToArray();
        StatedAccuracy = meta.TryGetValue(AccuracyKey, out var a) && double.TryParse(a, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN;
    }

    /// <summary>Loads and checks the classifier; InvalidDataException names what does not fit.</summary>
    public static OnnxClassifier Load(string path, OnnxProvider provider = OnnxProvider.Cpu, int threads = 0)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX classifier '{path}' not found", path);
        var (options, _) = OnnxScoreModel.MakeOptions(provider, threads);
        InferenceSession session;
        try { session = new InferenceSession(path, options); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"{path}: ONNX Runtime cannot load the model: {e.Message}", e); }
        finally { options.Dispose(); }
        try
        {
            var (d, f, k) = CheckSignature(session);
            var meta = new Dictionary<string, string>(session.ModelMetadata.CustomMetadataMap);
            if (meta.TryGetValue(KindKey, out var kind) && kind != "classifier")
                throw new InvalidDataException($"metadata {KindKey} = '{kind}': not a classifier");
            if (!meta.TryGetValue(InputKey, out var input))
                throw new InvalidDataException($"the classifier does not say its input units (no metadata key '{InputKey}'; expected '{PixelUnit}')");
            if (input != PixelUnit)
                throw new InvalidDataException($"metadata {InputKey} = '{input}': the only input convention known is '{PixelUnit}' (each pixel in [0, 1])");
            return new OnnxClassifier(path, session, d, f, k, meta);
        }
        catch (Exception e) when (e is InvalidDataException or OnnxRuntimeException)
        {
            session.Dispose();
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        catch { session.Dispose(); throw; }
    }

    static (int d, int f, int k) CheckSignature(InferenceSession s)
    {
        var inputs = s.InputMetadata;
        if (inputs.Count != 1 || !inputs.ContainsKey("x"))
            throw new InvalidDataException($"a classifier takes exactly one input, x [B, D] float32; this one takes {string.Join(", ", inputs.Keys)}");
        var x = inputs["x"];
        Float(x, "input x");
        if (x.Dimensions.Length != 2 || x.Dimensions[1] < 1) throw new InvalidDataException($"input x must be [B, D] with D fixed, it is {OnnxScoreModel.Shape(x)}");
        if (x.Dimensions[0] > 0) throw new InvalidDataException($"input x {OnnxScoreModel.Shape(x)}: the batch dimension must be dynamic");
        var outputs = s.OutputMetadata;
        if (outputs.Count != 2 || !outputs.ContainsKey("logits") || !outputs.ContainsKey("features"))
            throw new InvalidDataException($"a classifier has exactly two outputs, logits [B, K] and features [B, F]; this one has {string.Join(", ", outputs.Keys)}");
        int Width(string name)
        {
            var o = outputs[name];
            Float(o, $"output {name}");
            if (o.Dimensions.Length != 2 || o.Dimensions[1] < 1) throw new InvalidDataException($"output {name} must be [B, n] with n fixed, it is {OnnxScoreModel.Shape(o)}");
            return o.Dimensions[1];
        }
        return (x.Dimensions[1], Width("features"), Width("logits"));
    }

    static void Float(NodeMetadata m, string what)
    {
        if (!m.IsTensor || m.ElementDataType != TensorElementType.Float)
            throw new InvalidDataException($"{what} must be a float32 tensor, it is {(m.IsTensor ? m.ElementDataType.ToString() : m.OnnxValueType.ToString())}");
    }

    /// <summary>
    /// Features and labels (arg max of the logits) of `rows` images in the classifier's units (rows x InputDim values,
    /// each in [0, 1]: <see cref="ImagePixels.ToClassifierInput"/> from data space). ArgumentException for a length that
    /// is not rows x InputDim, a non-finite value or one outside [0, 1] (naming the image and pixel).
    /// </summary>
    public ClassifiedImages Classify(float[] images, int rows)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (rows < 1) throw new ArgumentException($"classifier input: need at least 1 image, got {rows}");
        if (images.LongLength != (long)rows * InputDim)
            throw new ArgumentException($"classifier input: {images.LongLength} values is not {rows} images x {InputDim} pixels ({System.IO.Path.GetFileName(Path)} takes {InputDim}-pixel images)");
        for (long i = 0; i < images.LongLength; i++)
        {
            float v = images[i];
            if (!float.IsFinite(v)) throw new ArgumentException($"classifier input: image {i / InputDim} (0-based), pixel {i % InputDim} is {v}");
            if (v < 0 || v > 1)
                throw new ArgumentException($"classifier input: image {i / InputDim} (0-based), pixel {i % InputDim} is {v}, outside [0, 1]: the classifier takes {PixelUnit}; convert data-space images with ImagePixels.ToClassifierInput");
        }
        var features = new float[(long)rows * FeatureDim];
        var logits = new float[(long)rows * NumClasses];
        for (int start = 0; start < rows; start += BatchSize)
        {
            int b = Math.Min(BatchSize, rows - start);
            Run(b, images.AsSpan(start * InputDim, b * InputDim), logits.AsSpan(start * NumClasses, b * NumClasses), features.AsSpan(start * FeatureDim, b * FeatureDim));
        }
        var labels = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            var l = logits.AsSpan(i * NumClasses, NumClasses);
            int best = 0;
            for (int c = 0; c < NumClasses; c++)
            {
                if (!float.IsFinite(l[c])) throw new InvalidDataException($"{Path}: the classifier gave a non-finite logit for image {i}");
                if (l[c] > l[best]) best = c;
            }
            labels[i] = best;
        }
        for (long i = 0; i < features.LongLength; i++)
            if (!float.IsFinite(features[i])) throw new InvalidDataException($"{Path}: the classifier gave a non-finite feature for image {i / FeatureDim}");
        return new ClassifiedImages(features, rows, FeatureDim, labels);
    }

    unsafe void Run(int rows, ReadOnlySpan<float> x, Span<float> logits, Span<float> features)
    {
        var mem = OrtMemoryInfo.DefaultInstance;
        fixed (float* px = x)
        fixed (float* pl = logits)
        fixed (float* pf = features)
        {
            using var xv = OrtValue.CreateTensorValueWithData(mem, TensorElementType.Float, [rows, InputDim], (nint)px, (long)x.Length * 4);
            using var lv = OrtValue.CreateTensorValueWithData(mem, TensorElementType.Float, [rows, NumClasses], (nint)pl, (long)logits.Length * 4);
            using var fv = OrtValue.CreateTensorValueWithData(mem, TensorElementType.Float, [rows, FeatureDim], (nint)pf, (long)features.Length * 4);
            using var ro = new RunOptions();
            try { session.Run(ro, ["x"], [xv], ["logits", "features"], [lv, fv]); }
            catch (OnnxRuntimeException e) { throw new InvalidDataException($"{Path}: ONNX Runtime failed on a batch of {rows} images: {e.Message}", e); }
        }
    }

    public void Dispose() => session.Dispose();
}
