using ClDiffusion.Backends.Cpu;
using ClDiffusion.Data;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.Mlp;
using NUnit.Framework;

namespace ClDiffusion.Tests.Models;

public class FashionModelTests
{
    static MlpModel Shipped() => MlpModel.Load(MlpCpuTests.ModelPath("fashion.safetensors"));

    [Test]
    public void ShippedFashionModelIsSmallClassConditionalAndSamplesFiniteImages()
    {
        var path = MlpCpuTests.ModelPath("fashion.safetensors");
        Assert.That(new FileInfo(path).Length, Is.LessThan(10_500_000), "models/ stays small: the weights are stored in F16 or BF16");
        var m = MlpModel.Load(path);
        Assert.That(m.Dim, Is.EqualTo(FashionMnist.Dim));
        Assert.That(m.NumClasses, Is.EqualTo(FashionMnist.Classes));
        Assert.That(m.Prediction, Is.EqualTo(MlpPrediction.X0));
        Assert.That(m.Info["train_command"], Does.Contain("--data fashion-mnist").And.Contain("--conditional"));
        int n = 10;
        var labels = ClassLabels.Blocks(10, 0, n);
        var x = new float[n * m.Dim];
        SampleRun.Run(new CpuBackend(), m, "ei", new SamplerOptions { Steps = 6, Denoise = true, Labels = labels, Guidance = 2 }, 5, 0, n, x);
        Assert.That(x.All(float.IsFinite));
        // grey levels: guidance extrapolates ((1 + w) s(x | c) - w s(x | null)) and 6 steps are coarse, so values leave
        // 0..255 a little (-114 seen), but not by a whole range, and no image is blank
        Assert.That(x.Min(), Is.GreaterThan(-255f));
        Assert.That(x.Max(), Is.LessThan(510f));
        for (int i = 0; i < n; i++) Assert.That(x.AsSpan(i * m.Dim, m.Dim).ToArray().Average(), Is.GreaterThan(5f), $"image {i} is blank");
    }

    /// <summary>
    /// The shipped classifier (models/fashion-classifier.onnx, 90.3% on the test split) labels guided samples of every
    /// class as the class asked for at issue 24's guidance: rm-x0 at 20 steps (20 NFE), w = 2, 10 samples per class.
    /// Measured with 1000 per class (docs/MLP.md, "Class adherence"): 90.8% on average, shirts 55.8%, against the real
    /// test images' 92.3% and 76.3%. The bounds leave room for another machine's float sums (10 per class): they guard
    /// what the model does; the measurement at n = 10,000 is what meets the issue's 90%.
    /// </summary>
    [Test]
    public void ShippedFashionModelDrawsTheAskedClassByTheShippedClassifier()
    {
        var m = Shipped();
        using var classifier = ClDiffusion.Onnx.OnnxClassifier.Load(MlpCpuTests.ModelPath("fashion-classifier.onnx"));
        const int perClass = 10, n = perClass * 10;
        var labels = ClassLabels.Blocks(10, 0, n);
        var x = new float[n * m.Dim];
        SampleRun.Run(new CpuBackend(), m, "rm-x0", new SamplerOptions { Steps = 20, Labels = labels, Guidance = 2 }, 3, 0, n, x);
        var predicted = classifier.Classify(ClDiffusion.Metrics.ImagePixels.ToClassifierInput(x, n, m.Dim), n).Predicted;
        var rate = new double[10];
        for (int i = 0; i < n; i++) if (predicted[i] == labels.Of(i)) rate[labels.Of(i)] += 1.0 / perClass;
        TestContext.Out.WriteLine($"classified as asked: {100 * rate.Average():0.0}% ({string.Join(", ", rate.Select((r, k) => $"{k}: {100 * r:0}%"))})");
        // measured at n = 10000 with this sampler (docs/MLP.md): 93.4% on average, shirts the lowest class at 73.9%
        Assert.That(rate.Average(), Is.GreaterThanOrEqualTo(0.85), "mean over the classes");
        for (int k = 0; k < 10; k++)
            Assert.That(rate[k], Is.GreaterThanOrEqualTo(0.5), $"class {k} ({FashionMnist.ClassNames[k]})");
    }
}
