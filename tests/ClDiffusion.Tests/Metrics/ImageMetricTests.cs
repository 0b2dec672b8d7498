using ClDiffusion.Data;
using ClDiffusion.Metrics;
using ClDiffusion.Onnx;
using ClDiffusion.Tests.Onnx;
using NUnit.Framework;

namespace ClDiffusion.Tests.Metrics;

/// <summary>
/// The image metric of docs/IMAGES.md: the grouping and accuracy of <see cref="ImageMetric.Compare"/> on made-up
/// features, the pixel conversion, the shipped ONNX classifier (its accuracy on a slice of the test split, its input
/// checks), and the metric on real images: test images sit below the floor, noisy ones grow above it. The tests on
/// real images need the Debian package dataset-fashion-mnist and are skipped without it.
/// </summary>
[NonParallelizable]
public class ImageMetricTests
{
    static string ClassifierPath => OnnxModelTests.RepoFile("models/fashion-classifier.onnx");

    [TestCase("pixel/255", 0.0, 1.0)]
    [TestCase("pixel/127.5-1", -1.0, 1.0)]
    [TestCase("pixel", 0.0, 255.0)]
    [TestCase("pixel / 2 + 3", 3.0, 130.5)]
    public void InputConventionsGiveTheBlackAndWhiteValues(string text, double black, double white)
    {
        var (b, w) = ImagePixels.ParseInputConvention(text);
        Assert.That(b, Is.EqualTo(black).Within(1e-12));
        Assert.That(w, Is.EqualTo(white).Within(1e-12));
    }

    [TestCase("pixels/255")]
    [TestCase("pixel/0")]
    [TestCase("pixel/-2")]
    [TestCase("pixel/255*2")]
    [TestCase("x/255")]
    public void UnknownInputConventionsAreRefusedNamingTheText(string text) =>
        Assert.That(Assert.Throws<ArgumentException>(() => ImagePixels.ParseInputConvention(text))!.Message, Does.Contain($"'{text}'").And.Contain("pixel/127.5-1"));

    internal static void RequireData()
    {
        if (!FashionMnist.IsInstalled())
            Assert.Ignore($"Fashion-MNIST not found in {FashionMnist.DataDirectory()} (install the Debian package dataset-fashion-mnist or set {FashionMnist.DirectoryVariable})");
    }

    static ClassifiedImages Made(int rows, int f, int[] predicted, int seed, double shift)
    {
        var r = new System.Random(seed);
        var x = new float[rows * f];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < f; j++) x[i * f + j] = (float)(r.NextDouble() + (j == predicted[i] % f ? shift : 0));
        return new ClassifiedImages(x, rows, f, predicted);
    }

    [Test]
    public void CompareGroupsByTheClassAskedForAndCountsTheRightLabels()
    {
        int n = 300, k = 3, f = 4;
        var asked = Enumerable.Range(0, n).Select(i => i % k).ToArray();
        // the classifier gets class 0 always right, class 1 right on half, class 2 never
        var predicted = asked.Select((a, i) => a == 0 ? 0 : a == 1 ? (i % 2 == 0 ? 1 : 0) : 0).ToArray();
        var images = Made(n, f, predicted, 1, 1.0);
        var refLabels = Enumerable.Range(0, 600).Select(i => i % k).ToArray();
        var reference = Made(600, f, refLabels, 2, 1.0);
        var d = ImageMetric.Compare(images, asked, reference, refLabels, k);
        Assert.That(d.GroupedBy, Is.EqualTo("class asked for"));
        Assert.That(d.RowsPerClass, Is.EqualTo(new[] { 100, 100, 100 }));
        Assert.That(d.AccuracyPerClass[0], Is.EqualTo(1.0));
        Assert.That(d.AccuracyPerClass[1], Is.EqualTo(0.5));
        Assert.That(d.AccuracyPerClass[2], Is.EqualTo(0.0));
        Assert.That(d.ClassAccuracy, Is.EqualTo(0.5), "150 of 300");
        Assert.That(d.RowsWithClass, Is.EqualTo(n));
        Assert.That(d.Frechet, Is.EqualTo(SampleStats.FrechetDistance(images.Features, n, reference.Features, 600, f)));
        // class 1 by hand: the rows asked for class 1 against the reference rows of class 1
        var (mine, mn) = images.RowsOf(asked, 1);
        var (theirs, tn) = reference.RowsOf(refLabels, 1);
        Assert.That(mn, Is.EqualTo(100)); Assert.That(tn, Is.EqualTo(200));
        Assert.That(d.FrechetPerClass[1], Is.EqualTo(SampleStats.FrechetDistance(mine, mn, theirs, tn, f)));
    }

    [Test]
    public void WithoutClassesAskedForCompareGroupsByTheClassifiersLabelAndHasNoAccuracy()
    {
        int k = 3, f = 2;
        var predicted = new[] { 0, 0, 0, 1, 1, 1, 1, 2 };   // one image of class 2: no per-class distance
        var images = Made(predicted.Length, f, predicted, 3, 0.5);
        var refLabels = Enumerable.Range(0, 30).Select(i => i % k).ToArray();
        var d = ImageMetric.Compare(images, null, Made(30, f, refLabels, 4, 0.5), refLabels, k);
        Assert.That(d.GroupedBy, Is.EqualTo("classifier's label"));
        Assert.That(d.RowsPerClass, Is.EqualTo(new[] { 3, 4, 1 }));
        Assert.That(double.IsNaN(d.FrechetPerClass[2]));
        Assert.That(double.IsFinite(d.FrechetPerClass[0]) && double.IsFinite(d.FrechetPerClass[1]));
        Assert.That(double.IsNaN(d.ClassAccuracy));
        Assert.That(d.RowsWithClass, Is.EqualTo(0));
    }

    [Test]
    public void CompareRefusesBadLabelsAndShapes()
    {
        var labels = new[] { 0, 1, 0, 1 };
        var a = Made(4, 3, labels, 1, 0);
        var e = Assert.Throws<ArgumentException>(() => ImageMetric.Compare(a, [0, 1, 2, 0], a, labels, 2))!;
        Assert.That(e.Message, Does.Contain("asked classes").And.Contain("entry 2 is 2"));
        e = Assert.Throws<ArgumentException>(() => ImageMetric.Compare(a, null, a, [0, 1, -1, 0], 2))!;
        Assert.That(e.Message, Does.Contain("reference labels").And.Contain("entry 2 is -1"));
        e = Assert.Throws<ArgumentException>(() => ImageMetric.Compare(a, [0, 1], a, labels, 2))!;
        Assert.That(e.Message, Does.Contain("2 labels for 4 images"));
        e = Assert.Throws<ArgumentException>(() => ImageMetric.Compare(Made(4, 2, labels, 1, 0), null, a, labels, 2))!;
        Assert.That(e.Message, Does.Contain("feature dimensions differ"));
        e = Assert.Throws<ArgumentException>(() => new ClassifiedImages([1f, float.NaN], 1, 2, [0]))!;
        Assert.That(e.Message, Does.Contain("non-finite"));
    }

    [Test]
    public void PixelsAreDividedByTheFullValueAndClipped()
    {
        var x = ImagePixels.ToClassifierInput([0f, 127.5f, 255f, 300f, -4f, 51f], 2, 3);
        Assert.That(x, Is.EqualTo(new[] { 0f, 0.5f, 1f, 1f, 0f, 0.2f }).Within(1e-7));
        Assert.That(ImagePixels.ToClassifierInput([8f, 16f], 1, 2, pixelMax: 16), Is.EqualTo(new[] { 0.5f, 1f }));
        var e = Assert.Throws<ArgumentException>(() => ImagePixels.ToClassifierInput([0f, 1f, 2f, float.NaN], 2, 2, what: "samples"))!;
        Assert.That(e.Message, Does.Contain("samples").And.Contain("row 1").And.Contain("column 1"));
        e = Assert.Throws<ArgumentException>(() => ImagePixels.ToClassifierInput([0f, 1f, 2f], 2, 2))!;
        Assert.That(e.Message, Does.Contain("dimension mismatch"));
        Assert.Throws<ArgumentException>(() => ImagePixels.ToClassifierInput([0f], 1, 1, pixelMax: 0));
    }

    [Test]
    public void TheShippedClassifierStatesItsAccuracyAndRefusesBadInput()
    {
        using var c = OnnxClassifier.Load(ClassifierPath);
        Assert.That((c.InputDim, c.FeatureDim, c.NumClasses), Is.EqualTo((784, 64, 10)));
        Assert.That(c.InputConvention, Is.EqualTo("pixel/255"));
        Assert.That(c.ClassNames, Is.EqualTo(FashionMnist.ClassNames));
        Assert.That(c.StatedAccuracy, Is.InRange(0.85, 1.0));
        var e = Assert.Throws<ArgumentException>(() => c.Classify(new float[783], 1))!;
        Assert.That(e.Message, Does.Contain("783 values is not 1 images x 784 pixels"));
        var x = new float[2 * 784];
        x[784 + 5] = float.NaN;
        e = Assert.Throws<ArgumentException>(() => c.Classify(x, 2))!;
        Assert.That(e.Message, Does.Contain("image 1").And.Contain("pixel 5").And.Contain("NaN"));
        x[784 + 5] = 37f;   // a raw byte: data space, not converted
        e = Assert.Throws<ArgumentException>(() => c.Classify(x, 2))!;
        Assert.That(e.Message, Does.Contain("outside [0, 1]").And.Contain("ImagePixels.ToClassifierInput"));
        // a score model is not a classifier
        var bad = Assert.Throws<InvalidDataException>(() => OnnxClassifier.Load(OnnxModelTests.Fixture("gauss-ours.onnx")))!;
        Assert.That(bad.Message, Does.Contain("exactly one input"));
        Assert.Throws<FileNotFoundException>(() => OnnxClassifier.Load("no-such-classifier.onnx"));
    }

    [Test]
    public void TheClassifierReachesItsStatedAccuracyOnASliceOfTheTestSplit()
    {
        RequireData();
        using var c = OnnxClassifier.Load(ClassifierPath);
        var test = FashionMnist.LoadTest();
        int n = 3000;
        var r = c.Classify(ImagePixels.ToClassifierInput(test.Pixels[..(n * 784)], n, 784), n);
        double acc = Enumerable.Range(0, n).Count(i => r.Predicted[i] == test.Labels[i]) / (double)n;
        TestContext.Out.WriteLine($"accuracy on the first {n} test images {acc:P2}, stated (all 10,000) {c.StatedAccuracy:P2}");
        // one standard error of a 3000-image share near 0.9 is 0.55 points: 2 points is about 3.6 of them
        Assert.That(acc, Is.GreaterThanOrEqualTo(c.StatedAccuracy - 0.02));
        // batches do not change the result
        c.BatchSize = 3;
        var again = c.Classify(ImagePixels.ToClassifierInput(test.Pixels[..(7 * 784)], 7, 784), 7);
        Assert.That(again.Predicted, Is.EqualTo(r.Predicted[..7]));
        Assert.That(again.Features, Is.EqualTo(r.Features[..(7 * 64)]).Within(1e-5));
    }

    [Test]
    public void TestImagesSitBelowTheFloorAndNoiseRaisesTheDistance()
    {
        RequireData();
        using var c = OnnxClassifier.Load(ClassifierPath);
        var test = FashionMnist.LoadTest();
        var train = FashionMnist.LoadTrain();
        int n = 2000;
        var samples = test.Pixels[..(n * 784)];
        var asked = test.Labels[..n];
        ImageMetricReport Run(float[] x) => ImageMetric.Evaluate(c, x, n, asked, 255, test.Pixels, test.Labels,
            train.Pixels[..(n * 784)], train.Labels[..n], FashionMnist.ClassNames);
        var clean = Run(samples);
        TestContext.Out.WriteLine(clean);
        Assert.That(clean.Samples.Frechet, Is.LessThan(clean.Floor.Frechet), "a subset of the test split is closer to it than training images");
        Assert.That(clean.Floor.Frechet, Is.GreaterThan(0));
        var direct = c.Classify(ImagePixels.ToClassifierInput(samples, n, 784), n);
        Assert.That(clean.Samples.ClassAccuracy, Is.EqualTo(Enumerable.Range(0, n).Count(i => direct.Predicted[i] == asked[i]) / (double)n));
        double last = clean.Samples.Frechet;
        var r = new System.Random(7);
        foreach (double sigma in new[] { 20.0, 60.0 })
        {
            var noisy = samples.Select(v => (float)(v + sigma * Gaussian(r))).ToArray();
            var rep = Run(noisy);
            TestContext.Out.WriteLine($"noise sigma {sigma} grey levels: Frechet {rep.Samples.Frechet:0.000} (floor {rep.Floor.Frechet:0.000}), class accuracy {rep.Samples.ClassAccuracy:P1}");
            Assert.That(rep.Samples.Frechet, Is.GreaterThan(Math.Max(last, rep.Floor.Frechet)), $"sigma {sigma}: the distance grows with the noise and passes the floor");
            Assert.That(rep.Floor.Frechet, Is.EqualTo(clean.Floor.Frechet), "the floor does not depend on the samples");
            last = rep.Samples.Frechet;
        }
        Assert.That(last, Is.GreaterThan(5 * clean.Floor.Frechet), "heavy noise is far above the floor");
    }

    internal static double Gaussian(System.Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
}
