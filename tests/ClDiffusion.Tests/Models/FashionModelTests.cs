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
    /// class as the class asked for: rm-x0 at 20 steps (20 NFE), w = 4, 10 samples per class. Measured with 200 per
    /// class (docs/EXPERIMENTS.md, "Fashion-MNIST"): 89.4% on average, shirts 53%, against the real training images'
    /// 92.7% and 74.2%. Issue 24 asks 90% at w = 2, which this model does not reach (77.9%): the bound here guards what
    /// the model does, it does not claim the issue's bar.
    /// </summary>
    [Test]
    public void ShippedFashionModelDrawsTheAskedClassByTheShippedClassifier()
    {
        var m = Shipped();
        using var classifier = ClDiffusion.Onnx.OnnxClassifier.Load(MlpCpuTests.ModelPath("fashion-classifier.onnx"));
        const int perClass = 10, n = perClass * 10;
        var labels = ClassLabels.Blocks(10, 0, n);
        var x = new float[n * m.Dim];
        SampleRun.Run(new CpuBackend(), m, "rm-x0", new SamplerOptions { Steps = 20, Labels = labels, Guidance = 4 }, 3, 0, n, x);
        var predicted = classifier.Classify(ClDiffusion.Metrics.ImagePixels.ToClassifierInput(x, n, m.Dim), n).Predicted;
        var rate = new double[10];
        for (int i = 0; i < n; i++) if (predicted[i] == labels.Of(i)) rate[labels.Of(i)] += 1.0 / perClass;
        TestContext.Out.WriteLine($"classified as asked: {100 * rate.Average():0.0}% ({string.Join(", ", rate.Select((r, k) => $"{k}: {100 * r:0}%"))})");
        Assert.That(rate.Average(), Is.GreaterThanOrEqualTo(0.8), "mean over the classes (89.4% measured at n = 2000)");
        for (int k = 0; k < 10; k++)
            if (k != 6) Assert.That(rate[k], Is.GreaterThanOrEqualTo(0.5), $"class {k} ({FashionMnist.ClassNames[k]})");
    }
}
