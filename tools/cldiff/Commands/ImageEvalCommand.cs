using ClDiffusion.Backends;
using ClDiffusion.Data;
using ClDiffusion.IO;
using ClDiffusion.Metrics;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using CommandLine;
#if CLD_ONNX
using ClDiffusion.Onnx;
#endif

namespace ClDiffusion.Cli.Commands;

[Verb("image-eval", HelpText = "Fashion-MNIST image metric (docs/IMAGES.md): Frechet distance in the features of the shipped classifier against the 10,000 test images, overall and per class, and the share of samples labelled as the class asked for, beside the floor (as many training images). Not comparable with Inception FID.")]
public sealed class ImageEvalOptions : SamplerCliOptions
{
    [Option("samples", HelpText = "Images to evaluate instead of sampling --model: .npy [n, 784] in data space (a full pixel = --pixel-max); --labels gives the class asked for each.")]
    public string? Samples { get; set; }
    [Option("classifier", HelpText = "The ONNX classifier (default: the shipped models/fashion-classifier.onnx).")]
    public string? Classifier { get; set; }
    [Option("pixel-max", Default = 255.0, HelpText = "Data-space value of a full-intensity pixel (255: raw IDX bytes, as the Fashion-MNIST training data). Samples are divided by it and clipped to [0, 1]. A --model whose metadata states its pixel range (cldiffusion.input, e.g. the U-Net's -1..1) is mapped by that instead.")]
    public double PixelMax { get; set; } = 255;
    [Option("data", HelpText = "Folder of the Fashion-MNIST gz IDX files (default: $CLDIFF_FASHION_MNIST, else /usr/share/datasets/fashion-mnist).")]
    public string? Data { get; set; }
    [Option("count", Default = 10000, HelpText = "With --model: samples to draw (also --n); 10,000 matches the test split, the issue's floor.")]
    public int N { get; set; } = 10000;
    [Option("seed", Default = 0UL, HelpText = "With --model: seed of the counter-based generator.")]
    public ulong Seed { get; set; }
    [Option("out", HelpText = "With --model: also write the samples (.npy, data space).")]
    public string? Out { get; set; }
    [Option("json", HelpText = "Print JSON instead of a table.")]
    public bool Json { get; set; }
    [Option("against", HelpText = "Compare with these images (.npy [m, 784], data space, a full pixel = --pixel-max) instead of the test split: one Frechet distance in the same features, e.g. to a converged solver's samples from the same noise (tools/fashion-solver-error.sh); no floor, no class table.")]
    public string? Against { get; set; }
}

public static class ImageEvalCommand
{
    public const string ShippedClassifier = "fashion-classifier.onnx";

    public static int Run(ImageEvalOptions o)
    {
        if (!(o.PixelMax > 0) || !double.IsFinite(o.PixelMax)) throw new ArgumentException($"--pixel-max: the data-space value of a full pixel must be a positive number, got {o.PixelMax}");
#if CLD_ONNX
        var path = ResolveClassifier(o.Classifier);
        using var classifier = OnnxClassifier.Load(path);
        if (classifier.InputDim != FashionMnist.Dim || classifier.NumClasses != FashionMnist.Classes)
            throw new InvalidDataException($"{path}: takes {classifier.InputDim} pixels and has {classifier.NumClasses} classes; the Fashion-MNIST metric needs 784 and 10");
        if (o.Against is not null && o.Samples is not null && o.Labels is not null)
            throw new ArgumentException("--labels gives the classes of --samples for the class table, which --against does not make");
        var against = o.Against is null ? default : ReadImages(o.Against, "--against");   // a bad reference fails before any sampling
        var (samples, rows, asked, what) = o.Samples is not null ? Read(o) : Sample(o);
        if (o.Against is not null) return CompareWith(o, classifier, samples, rows, what, against.x, against.rows);
        var test = FashionMnist.LoadTest(o.Data);
        var train = FashionMnist.LoadTrain(o.Data);
        if (rows > train.Count) throw new ArgumentException($"{rows} samples: the floor needs as many training images and there are {train.Count}; evaluate at most {train.Count}");
        var floorImages = train.Pixels.AsSpan(0, rows * FashionMnist.Dim).ToArray();
        var floorLabels = train.Labels.AsSpan(0, rows).ToArray();
        var report = ImageMetric.Evaluate(classifier, samples, rows, asked, o.PixelMax, test.Pixels, test.Labels, floorImages, floorLabels,
            classifier.ClassNames.ToArray(), $"{Path.GetFileName(path)} (stated test accuracy {100 * classifier.StatedAccuracy:0.00}%)");
        // with --json the description (sampler, NFE per sample, seconds) goes to stderr, so stdout stays one JSON document
        if (!o.Json) Console.WriteLine($"samples: {what}"); else Console.Error.WriteLine($"samples: {what}");
        Console.WriteLine(o.Json ? report.ToJson() : report.ToString());
        return 0;
#else
        throw new NotSupportedException("image-eval runs the ONNX classifier: this cldiff was built without ONNX support (-p:CldOnnx=false)");
#endif
    }

#if CLD_ONNX
    /// <summary>--against: the Frechet distance between the samples' features and the reference images'.</summary>
    static int CompareWith(ImageEvalOptions o, OnnxClassifier classifier, float[] samples, int rows, string what, float[] reference, int refRows)
    {
        var a = classifier.Classify(ImagePixels.ToClassifierInput(samples, rows, FashionMnist.Dim, o.PixelMax, "samples"), rows);
        var b = classifier.Classify(ImagePixels.ToClassifierInput(reference, refRows, FashionMnist.Dim, o.PixelMax, o.Against!), refRows);
        double fd = SampleStats.FrechetDistance(a.Features, a.Rows, b.Features, b.Rows, a.FeatureDim);
        if (o.Json)
        {
            Console.Error.WriteLine($"samples: {what}");
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["frechet"] = fd, ["rows"] = rows, ["reference"] = o.Against!, ["reference_rows"] = refRows, ["feature_dim"] = a.FeatureDim,
            }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            Console.WriteLine($"samples: {what}");
            Console.WriteLine($"Frechet distance (squared, as in FID) to {o.Against} ({refRows} images) in the classifier's {a.FeatureDim} penultimate-layer features: {fd:0.####}");
        }
        return 0;
    }
#endif

    /// <summary>A .npy of 28 x 28 images, [n >= 2, 784], as floats; the error names the file and the option.</summary>
    static (float[] x, int rows) ReadImages(string path, string option)
    {
        var arr = Npy.Read(path);
        if (arr.Shape.Length != 2 || arr.Cols != FashionMnist.Dim)
            throw new InvalidDataException($"{option} {path}: shape [{string.Join(", ", arr.Shape)}], expected [n, {FashionMnist.Dim}] (28 x 28 images, row-major)");
        if (arr.Rows < 2) throw new InvalidDataException($"{option} {path}: need at least 2 images, got {arr.Rows}");
        var x = arr.ToFloat32();
        SampleStats.Validate(x, arr.Rows, FashionMnist.Dim, $"{option} {path}");   // names the first NaN or infinity (row, pixel)
        return (x, arr.Rows);
    }

    /// <summary>--classifier, else the shipped file next to the program or in ./models.</summary>
    public static string ResolveClassifier(string? path)
    {
        if (path is not null) return path;
        foreach (var dir in new[] { Path.Combine(AppContext.BaseDirectory, "models"), "models" })
        {
            var p = Path.Combine(dir, ShippedClassifier);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"the shipped classifier {ShippedClassifier} is not next to the program or in ./models; give --classifier FILE (tools/fashion/train_classifier.py makes it)");
    }

    static (float[] x, int rows, int[]? asked, string what) Read(ImageEvalOptions o)
    {
        if (o.Model is not null || o.Target is not null || o.Preset is not null) throw new ArgumentException("give either --samples or --model, not both");
        if (o.Class is not null) throw new ArgumentException("--class applies to sampling a --model; with --samples give the class of each sample with --labels");
        if (o.Given.Count > 0 || o.Guidance != 0 || o.ScoreError != 0 || o.Out is not null)
            throw new ArgumentException("sampler options, --guidance, --score-error and --out apply to sampling a --model, not to --samples");
        var (x, rows) = ReadImages(o.Samples!, "--samples");
        int[]? asked = null;
        if (o.Labels is not null)
        {
            var l = ClassLabels.Load(o.Labels);
            if (l.Count != rows) throw new InvalidDataException($"{o.Labels}: {l.Count} labels for {rows} samples in {o.Samples}");
            asked = Enumerable.Range(0, rows).Select(i => l.Of(i)).ToArray();
        }
        return (x, rows, asked, $"{o.Samples} ({rows} images{(asked is null ? "" : ", classes asked for from " + o.Labels)})");
    }

    static (float[] x, int rows, int[]? asked, string what) Sample(ImageEvalOptions o)
    {
        if (o.Model is null) throw new ArgumentException("image-eval needs --samples FILE.npy or --model NAME|FILE");
        if (o.N < 2) throw new ArgumentException($"--count must be at least 2, got {o.N}");
        var (model, _) = o.LoadModel();
        if (model.Dim != FashionMnist.Dim) throw new ArgumentException($"{model.Describe()} has d = {model.Dim}; the Fashion-MNIST metric needs d = {FashionMnist.Dim}");
        var range = OnnxModels.PixelRange(model);   // the U-Net's -1..1, its metadata says; null: the data set's 0..255
        if (range is { } stated && o.PixelMax != ImagePixels.ByteMax)
            throw new ArgumentException($"--pixel-max applies to --samples files: {model.Describe()} states its own pixel range ({stated.Black} to {stated.White}, metadata {OnnxModels.InputKey})");
        var labels = o.ClassLabelsFor(model, 0, o.N);
        var so = o.ToSamplerOptions() with { Labels = labels, Guidance = o.Guidance };
        using var backend = BackendFactory.Open(o.Device);
        var x = new float[(long)o.N * model.Dim];
        var st = SampleRun.Run(backend, model, o.Sampler, so, o.Seed, 0, o.N, x);   // data space
        if (o.Out is not null) Npy.Write(o.Out, x, o.N, model.Dim);
        if (range is { } r)
        {
            // to the 0..255 the metric reads
            double scale = ImagePixels.ByteMax / (r.White - r.Black);
            for (long i = 0; i < x.LongLength; i++) x[i] = (float)((x[i] - r.Black) * scale);
        }
        int[]? asked = labels is null ? null : Enumerable.Range(0, o.N).Select(i => labels.Of(i)).ToArray();
        return (x, o.N, asked, $"{o.N} from {model.Describe()}, {o.Sampler}, {so.Steps} steps, {st.NfePerSample:0.#} NFE/sample, seed {o.Seed}" +
            $"{(labels is null ? "" : $", {labels}, guidance {o.Guidance}")} on {st.Device}, {st.Seconds:0.0} s");
    }
}
