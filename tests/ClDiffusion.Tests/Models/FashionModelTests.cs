using ClDiffusion.Backends.Cpu;
using ClDiffusion.Data;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.Mlp;
using NUnit.Framework;

namespace ClDiffusion.Tests.Models;

/// <summary>
/// A rough guide to which Fashion-MNIST class an image shows: multinomial logistic regression on the pixels (scaled to
/// 0..1), trained by plain minibatch gradient descent in a fixed order on the training split (5 epochs). 83.6% right on
/// the test split; only a guide for the fashion model's class adherence (the issue's check uses the shipped classifier).
/// </summary>
sealed class FashionGuide
{
    const int D = FashionMnist.Dim, K = FashionMnist.Classes;
    readonly float[] w = new float[K * D], b = new float[K];

    public FashionGuide(FashionMnist.Set train, int epochs = 5, int batch = 100, float lr = 0.1f)
    {
        var gw = new float[K * D]; var gb = new float[K];
        var p = new float[K];
        for (int e = 0; e < epochs; e++)
            for (int s = 0; s + batch <= train.Count; s += batch)
            {
                Array.Clear(gw); Array.Clear(gb);
                for (int i = s; i < s + batch; i++)
                {
                    var x = train.Pixels.AsSpan(i * D, D);
                    Probabilities(x, p);
                    p[train.Labels[i]] -= 1;
                    for (int k = 0; k < K; k++)
                    {
                        float g = p[k] / 255f;
                        gb[k] += p[k];
                        var row = gw.AsSpan(k * D, D);
                        for (int j = 0; j < D; j++) row[j] += g * x[j];
                    }
                }
                float step = lr / batch;
                for (int i = 0; i < w.Length; i++) w[i] -= step * gw[i];
                for (int k = 0; k < K; k++) b[k] -= step * gb[k];
            }
    }

    /// <summary>Softmax of the logits of one image (grey levels 0..255).</summary>
    void Probabilities(ReadOnlySpan<float> x, Span<float> p)
    {
        float max = float.NegativeInfinity;
        for (int k = 0; k < K; k++)
        {
            double z = b[k];
            var row = w.AsSpan(k * D, D);
            for (int j = 0; j < D; j++) z += row[j] * (x[j] / 255.0);
            p[k] = (float)z;
            max = MathF.Max(max, p[k]);
        }
        float sum = 0;
        for (int k = 0; k < K; k++) { p[k] = MathF.Exp(p[k] - max); sum += p[k]; }
        for (int k = 0; k < K; k++) p[k] /= sum;
    }

    public int Classify(ReadOnlySpan<float> x)
    {
        Span<float> p = stackalloc float[K];
        Probabilities(x, p);
        int best = 0;
        for (int k = 1; k < K; k++) if (p[k] > p[best]) best = k;
        return best;
    }

    public double Accuracy(FashionMnist.Set set)
    {
        int ok = 0;
        for (int i = 0; i < set.Count; i++) if (Classify(set.Pixels.AsSpan(i * D, D)) == set.Labels[i]) ok++;
        return (double)ok / set.Count;
    }
}

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
    /// Guided samples (w = 2, rm-pc at its default 40 steps: what `cldiff sample --model fashion --class K --guidance 2`
    /// draws) of every class, labelled by the logistic-regression guide above, against the guide's own rate on the real
    /// test images of the class: a rough check only (the issue's check uses the shipped classifier). Measured with 50
    /// per class: samples 90.0% on average (shirts 54%), real test images 83.6% (shirts 53%).
    /// </summary>
    [Test, Category("Slow")]
    public void ShippedFashionModelDrawsTheAskedClass_ByTheLogisticGuide()
    {
        if (!FashionMnist.IsInstalled()) Assert.Ignore($"{FashionMnist.Package} is not installed");
        var m = Shipped();
        var guide = new FashionGuide(FashionMnist.LoadTrain());
        var test = FashionMnist.LoadTest();
        var real = new double[10];
        for (int k = 0; k < 10; k++)
        {
            var idx = Enumerable.Range(0, test.Count).Where(i => test.Labels[i] == k).ToArray();
            real[k] = idx.Count(i => guide.Classify(test.Pixels.AsSpan(i * m.Dim, m.Dim)) == k) / (double)idx.Length;
        }
        TestContext.Out.WriteLine($"guide on the real test images: {100 * real.Average():0.0}% ({string.Join(", ", real.Select((r, k) => $"{k}: {100 * r:0}%"))})");
        Assert.That(real.Average(), Is.GreaterThan(0.8), "the guide classifier itself");
        const int perClass = 10;
        int n = perClass * 10;
        var labels = ClassLabels.Blocks(10, 0, n);
        var x = new float[n * m.Dim];
        SampleRun.Run(new CpuBackend(), m, "rm-pc", new SamplerOptions { Labels = labels, Guidance = 2 }, 3, 0, n, x);
        var rate = new double[10];
        for (int i = 0; i < n; i++) if (guide.Classify(x.AsSpan(i * m.Dim, m.Dim)) == labels.Of(i)) rate[labels.Of(i)] += 1.0 / perClass;
        TestContext.Out.WriteLine($"guided samples: {100 * rate.Average():0.0}% ({string.Join(", ", rate.Select((r, k) => $"{k}: {100 * r:0}%"))})");
        Assert.That(rate.Average(), Is.GreaterThanOrEqualTo(real.Average() - 0.08), "samples labelled right about as often as real images");
        for (int k = 0; k < 10; k++)
            Assert.That(rate[k], Is.GreaterThanOrEqualTo(real[k] - 0.3), $"class {k} ({FashionMnist.ClassNames[k]})");
    }
}
