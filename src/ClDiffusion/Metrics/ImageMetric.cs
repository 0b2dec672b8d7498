using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ClDiffusion.Metrics;

/// <summary>
/// A classifier's view of a set of images: its penultimate-layer features [Rows, FeatureDim] (row-major) and its
/// label for each image.
/// </summary>
public sealed class ClassifiedImages
{
    public float[] Features { get; }
    public int Rows { get; }
    public int FeatureDim { get; }
    public int[] Predicted { get; }

    public ClassifiedImages(float[] features, int rows, int featureDim, int[] predicted)
    {
        SampleStats.Validate(features, rows, featureDim, "classifier features");
        ArgumentNullException.ThrowIfNull(predicted);
        if (predicted.Length != rows) throw new ArgumentException($"classifier labels: {predicted.Length} labels for {rows} images");
        Features = features; Rows = rows; FeatureDim = featureDim; Predicted = predicted;
    }

    /// <summary>The rows whose entry of `by` is `cls`.</summary>
    public (float[] features, int rows) RowsOf(int[] by, int cls)
    {
        int n = 0;
        foreach (var l in by) if (l == cls) n++;
        var f = new float[(long)n * FeatureDim];
        int k = 0;
        for (int i = 0; i < Rows; i++)
            if (by[i] == cls) Features.AsSpan(i * FeatureDim, FeatureDim).CopyTo(f.AsSpan(k++ * FeatureDim));
        return (f, n);
    }
}

/// <summary>An image classifier with a feature layer (the ONNX one is ClDiffusion.Onnx.OnnxClassifier).</summary>
public interface IImageClassifier
{
    /// <summary>Pixels per image (784 for 28 x 28).</summary>
    int InputDim { get; }
    int FeatureDim { get; }
    int NumClasses { get; }
    /// <summary>What the classifier's input units are, e.g. "pixel/255" (see <see cref="ImagePixels"/>).</summary>
    string InputConvention { get; }
    /// <summary>Features and labels of `rows` images in the classifier's units (<see cref="ImagePixels.ToClassifierInput"/>).</summary>
    ClassifiedImages Classify(float[] images, int rows);
}

/// <summary>
/// The pixel convention between data space and the classifier. The Fashion-MNIST classifier takes each pixel as its
/// IDX byte / 255 (0 background .. 1 full intensity). Data-space images (training rows, a model's samples) hold
/// pixels as the data set stores them, raw 0..255 bytes for Fashion-MNIST as for optdigits' 0..16 (the MLP's
/// normalisation is inside the model); <see cref="ToClassifierInput"/> divides by the data-space value of a full
/// pixel (255) and clips to [0, 1], as writing the samples out as 8-bit images would.
/// </summary>
public static class ImagePixels
{
    /// <summary>The data-space value of a full-intensity pixel for raw IDX bytes.</summary>
    public const double ByteMax = 255;

    /// <summary>
    /// value / pixelMax clipped to [0, 1] for each of rows x dim data-space values; an ArgumentException names the
    /// first non-finite value (row, pixel) and a length that is not rows x dim.
    /// </summary>
    public static float[] ToClassifierInput(float[] data, int rows, int dim, double pixelMax = ByteMax, string what = "images")
    {
        if (!(pixelMax > 0) || !double.IsFinite(pixelMax)) throw new ArgumentException($"the data-space value of a full pixel must be a positive number, got {pixelMax}");
        SampleStats.Validate(data, rows, dim, what);
        var o = new float[data.LongLength];
        double s = 1 / pixelMax;
        for (long i = 0; i < o.LongLength; i++) o[i] = (float)Math.Clamp(data[i] * s, 0, 1);
        return o;
    }

    /// <summary>The ONNX metadata key in which an image model or a classifier states its pixels' units (<see cref="ParseInputConvention"/>).</summary>
    public const string InputConventionKey = "cldiffusion.input";

    /// <summary>
    /// The data-space values of a black (byte 0) and a white (byte 255) pixel from an input convention as ONNX models
    /// state it in their metadata (<see cref="InputConventionKey"/>): "pixel" (0..255), "pixel/A" (0..255/A) or "pixel/A+B",
    /// "pixel/A-B" (B or -B added: "pixel/127.5-1" is -1..1, the shipped U-Net's).
    /// </summary>
    public static (double Black, double White) ParseInputConvention(string text)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text.Replace(" ", ""), @"^pixel(?:/((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))?(?:([+-])((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))?$");
        double Num(string v) => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x) ? x : double.NaN;
        double a = m.Success && m.Groups[1].Success ? Num(m.Groups[1].Value) : 1;
        double b = m.Success && m.Groups[3].Success ? (m.Groups[2].Value == "-" ? -1 : 1) * Num(m.Groups[3].Value) : 0;
        if (!m.Success || !(a > 0) || double.IsNaN(b))
            throw new ArgumentException($"input convention '{text}': expected pixel, pixel/A, pixel/A+B or pixel/A-B (A > 0; e.g. pixel/255, pixel/127.5-1)");
        return (b, ByteMax / a + b);
    }
}

/// <summary>The metric of one image set against the reference (test) images (<see cref="ImageMetric"/>).</summary>
public sealed record ImageDistances(
    int Rows,
    double Frechet,
    IReadOnlyList<double> FrechetPerClass,
    IReadOnlyList<int> RowsPerClass,
    double ClassAccuracy,
    int RowsWithClass,
    IReadOnlyList<double> AccuracyPerClass,
    string GroupedBy);

/// <summary>
/// The image metric of docs/IMAGES.md: the Frechet distance (squared, as in FID) between Gaussian fits of a
/// classifier's penultimate-layer features of two image sets (float64 moments, <see cref="SampleStats.FrechetDistance(float[], int, float[], int, int)"/>
/// and <see cref="GaussianDistances.W2Squared"/>), overall and per class, and the share of images the classifier labels
/// as the class asked for. Not comparable with Inception FID: another network, another feature space, 28 x 28 images.
/// </summary>
public static class ImageMetric
{
    /// <summary>
    /// Compares `images` with the reference images (their true labels `referenceLabels`). Per class, the images are
    /// grouped by the class asked for (`asked`, -1 = none) where every image has one, else by the classifier's label;
    /// the reference by its true labels. A class with fewer than 2 images in either set has NaN. The class accuracy is
    /// the share of images with an asked class that the classifier labels as that class (NaN when none has one).
    /// </summary>
    public static ImageDistances Compare(ClassifiedImages images, int[]? asked, ClassifiedImages reference, int[] referenceLabels, int numClasses)
    {
        ArgumentNullException.ThrowIfNull(images); ArgumentNullException.ThrowIfNull(reference); ArgumentNullException.ThrowIfNull(referenceLabels);
        if (numClasses < 1) throw new ArgumentException($"numClasses must be at least 1, got {numClasses}");
        if (images.FeatureDim != reference.FeatureDim) throw new ArgumentException($"feature dimensions differ: images {images.FeatureDim}, reference {reference.FeatureDim}");
        if (images.Rows < 2 || reference.Rows < 2) throw new ArgumentException($"the Frechet distance needs at least 2 images in each set, got {images.Rows} and {reference.Rows}");
        CheckLabels(referenceLabels, reference.Rows, numClasses, "reference labels", allowNone: false);
        if (asked is not null) CheckLabels(asked, images.Rows, numClasses, "asked classes", allowNone: true);
        int d = images.FeatureDim;
        double overall = SampleStats.FrechetDistance(images.Features, images.Rows, reference.Features, reference.Rows, d);
        bool byAsked = asked is not null && asked.All(a => a >= 0);
        var group = byAsked ? asked! : images.Predicted;
        var fd = new double[numClasses];
        var counts = new int[numClasses];
        var acc = new double[numClasses];
        int withClass = 0, right = 0;
        for (int c = 0; c < numClasses; c++)
        {
            var (f, n) = images.RowsOf(group, c);
            var (rf, rn) = reference.RowsOf(referenceLabels, c);
            counts[c] = n;
            fd[c] = n >= 2 && rn >= 2 ? SampleStats.FrechetDistance(f, n, rf, rn, d) : double.NaN;
            acc[c] = double.NaN;
            if (asked is not null)
            {
                int k = 0, ok = 0;
                for (int i = 0; i < images.Rows; i++)
                    if (asked[i] == c) { k++; if (images.Predicted[i] == c) ok++; }
                if (k > 0) acc[c] = (double)ok / k;
                withClass += k; right += ok;
            }
        }
        return new ImageDistances(images.Rows, overall, fd, counts, withClass > 0 ? (double)right / withClass : double.NaN, withClass, acc,
            byAsked ? "class asked for" : "classifier's label");
    }

    static void CheckLabels(int[] labels, int rows, int numClasses, string what, bool allowNone)
    {
        if (labels.Length != rows) throw new ArgumentException($"{what}: {labels.Length} labels for {rows} images");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= numClasses || labels[i] < (allowNone ? -1 : 0))
                throw new ArgumentException($"{what}: entry {i} is {labels[i]}, not a class 0..{numClasses - 1}{(allowNone ? " or -1 (none)" : "")}");
    }

    /// <summary>
    /// The whole metric: `samples` (data space, rows x classifier.InputDim, a full pixel = pixelMax) against the
    /// reference images, beside the floor: the same metric for `floorImages` (the first as many training images as
    /// there are samples, true labels as the asked classes) against the same reference. Reference and floor images are
    /// raw bytes 0..255.
    /// </summary>
    public static ImageMetricReport Evaluate(IImageClassifier classifier, float[] samples, int rows, int[]? asked, double pixelMax,
        float[] referenceImages, int[] referenceLabels, float[] floorImages, int[] floorLabels, string[]? classNames = null, string classifierName = "classifier")
    {
        ArgumentNullException.ThrowIfNull(classifier);
        int dim = classifier.InputDim, k = classifier.NumClasses;
        var s = classifier.Classify(ImagePixels.ToClassifierInput(samples, rows, dim, pixelMax, "samples"), rows);
        var reference = classifier.Classify(ImagePixels.ToClassifierInput(referenceImages, referenceLabels.Length, dim, ImagePixels.ByteMax, "reference images"), referenceLabels.Length);
        var floorSet = classifier.Classify(ImagePixels.ToClassifierInput(floorImages, floorLabels.Length, dim, ImagePixels.ByteMax, "floor images"), floorLabels.Length);
        int refRight = 0;
        for (int i = 0; i < reference.Rows; i++) if (reference.Predicted[i] == referenceLabels[i]) refRight++;
        return new ImageMetricReport(classifierName, classifier.FeatureDim, reference.Rows, (double)refRight / reference.Rows,
            Compare(s, asked, reference, referenceLabels, k), Compare(floorSet, floorLabels, reference, referenceLabels, k),
            classNames ?? Enumerable.Range(0, k).Select(c => c.ToString(CultureInfo.InvariantCulture)).ToArray());
    }
}

/// <summary>The samples' <see cref="ImageDistances"/> beside the floor's (training images vs the same reference).</summary>
public sealed record ImageMetricReport(string Classifier, int FeatureDim, int ReferenceRows, double ReferenceAccuracy,
    ImageDistances Samples, ImageDistances Floor, IReadOnlyList<string> ClassNames)
{
    public const string NotInceptionFid =
        "Frechet distance (squared, as in FID) between Gaussian fits of the classifier's penultimate-layer features; NOT comparable with Inception FID (another network and feature space, 28 x 28 images).";

    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"image metric: {Classifier}, {FeatureDim} features; reference: {ReferenceRows} test images (classifier accuracy on them {100 * ReferenceAccuracy:0.00}%)");
        sb.AppendLine(NotInceptionFid);
        sb.AppendLine(c, $"floor: the first {Floor.Rows} training images, true labels as the classes asked for; per class, samples are grouped by the {Samples.GroupedBy}");
        sb.AppendLine(c, $"{"",-16}  {"samples",12}  {"floor",12}  {"ratio",7}  {"rows",6}  {"floor rows",10}  {"accuracy",9}  {"floor acc.",10}");
        sb.AppendLine(c, $"{"Frechet",-16}  {F(Samples.Frechet),12}  {F(Floor.Frechet),12}  {R(Samples.Frechet / Floor.Frechet),7}  {Samples.Rows,6}  {Floor.Rows,10}");
        for (int k = 0; k < ClassNames.Count; k++)   // accuracy: the share of the class's rows the classifier labels as it (the done-when of issue 24 is per class)
            sb.AppendLine(c, $"{(k + " " + ClassNames[k]),-16}  {F(Samples.FrechetPerClass[k]),12}  {F(Floor.FrechetPerClass[k]),12}  {R(Samples.FrechetPerClass[k] / Floor.FrechetPerClass[k]),7}  {Samples.RowsPerClass[k],6}  {Floor.RowsPerClass[k],10}  {Pct(Samples.AccuracyPerClass[k]),9}  {Pct(Floor.AccuracyPerClass[k]),10}");
        sb.AppendLine(c, $"{"class accuracy",-16}  {Pct(Samples.ClassAccuracy),12}  {Pct(Floor.ClassAccuracy),12}  {"",7}  {Samples.RowsWithClass,6}  {Floor.RowsWithClass,10}");
        if (Samples.RowsWithClass == 0) sb.AppendLine("class accuracy: no class asked for (give the samples' classes: --labels, or --class with a class-conditional model)");
        return sb.ToString();
    }

    public string ToJson(bool indented = true)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            w.WriteString("classifier", Classifier);
            w.WriteNumber("feature_dim", FeatureDim);
            w.WriteNumber("reference_rows", ReferenceRows);
            Num(w, "reference_accuracy", ReferenceAccuracy);
            w.WriteString("note", NotInceptionFid);
            w.WriteStartArray("classes");
            foreach (var n in ClassNames) w.WriteStringValue(n);
            w.WriteEndArray();
            Write(w, "samples", Samples);
            Write(w, "floor", Floor);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static void Write(Utf8JsonWriter w, string name, ImageDistances d)
    {
        w.WriteStartObject(name);
        w.WriteNumber("rows", d.Rows);
        Num(w, "frechet", d.Frechet);
        w.WriteStartArray("frechet_per_class"); foreach (var v in d.FrechetPerClass) NumValue(w, v); w.WriteEndArray();
        w.WriteStartArray("rows_per_class"); foreach (var v in d.RowsPerClass) w.WriteNumberValue(v); w.WriteEndArray();
        Num(w, "class_accuracy", d.ClassAccuracy);
        w.WriteNumber("rows_with_class", d.RowsWithClass);
        w.WriteStartArray("accuracy_per_class"); foreach (var v in d.AccuracyPerClass) NumValue(w, v); w.WriteEndArray();
        w.WriteString("grouped_by", d.GroupedBy);
        w.WriteEndObject();
    }

    static void Num(Utf8JsonWriter w, string name, double v) { if (double.IsFinite(v)) w.WriteNumber(name, v); else w.WriteNull(name); }
    static void NumValue(Utf8JsonWriter w, double v) { if (double.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue(); }
    static string F(double v) => double.IsFinite(v) ? v.ToString("0.000", CultureInfo.InvariantCulture) : "-";
    static string R(double v) => double.IsFinite(v) ? v.ToString("0.00", CultureInfo.InvariantCulture) : "-";
    static string Pct(double v) => double.IsFinite(v) ? (100 * v).ToString("0.00", CultureInfo.InvariantCulture) + "%" : "-";
}
