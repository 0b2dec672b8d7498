using ClDiffusion.Backends.Cpu;
using ClDiffusion.Data;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.Mlp;
using ClDiffusion.Training;
using NUnit.Framework;

namespace ClDiffusion.Tests.Guidance;

public class ConditionalMlpTests
{
    internal static MlpModel Conditional(int d = 5, int width = 13, int classes = 4, MlpPrediction p = MlpPrediction.X0) =>
        ClDiffusion.Tooling.OpenCL.MlpKernelCheck.RandomModel(d, width, 2, 3, 3, p, randomNormalisation: true, classes: classes);

    [TestCase(1, 37)]
    [TestCase(2, 150)]
    public void CpuScoreMatchesFloat64ReferencePerRowClass(int threads, int rows)
    {
        var m = Conditional();
        int d = m.Dim;
        var key = new RandomKey(8, 0, Purpose.Test);
        var x = new float[rows * d]; var t = new float[rows]; var lab = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            key.Normals(r, x.AsSpan(r * d, d));
            t[r] = 0.01f + 7.9f * key.WithStep(1).Uniform(r, 0);
            lab[r] = r % (m.NumClasses + 1) - 1;   // -1 (null) and every class
        }
        var s = new float[rows * d];
        new MlpCpuScore(m, threads).ScoreBatch(x, t, lab, s);
        var refRow = new double[d];
        double worst = 0;
        for (int r = 0; r < rows; r++)
        {
            m.ScoreReference(x.AsSpan(r * d, d), t[r], refRow, lab[r]);
            for (int j = 0; j < d; j++) worst = Math.Max(worst, Math.Abs(s[r * d + j] - refRow[j]) / (1 + Math.Abs(refRow[j])));
        }
        Assert.That(worst, Is.LessThan(1e-4));
        // the class changes the score (the embedding is really used), and no labels = the null class
        var s0 = new float[d]; var sNull = new float[d]; var sNone = new float[d];
        var sc = new MlpCpuScore(m, 1);
        sc.ScoreBatch(x.AsSpan(0, d), t.AsSpan(0, 1), [0], s0);
        sc.ScoreBatch(x.AsSpan(0, d), t.AsSpan(0, 1), [ClassLabels.Null], sNull);
        sc.ScoreBatch(x.AsSpan(0, d), t.AsSpan(0, 1), sNone);
        Assert.That(s0, Is.Not.EqualTo(sNull));
        Assert.That(sNone, Is.EqualTo(sNull));
        Assert.Throws<ArgumentException>(() => sc.ScoreBatch(x.AsSpan(0, d), t.AsSpan(0, 1), [m.NumClasses], s0));
    }

    [Test]
    public void SafetensorsRoundTripKeepsTheClassEmbedding()
    {
        var m = Conditional();
        var back = MlpModel.FromBytes(m.ToBytes());
        Assert.That(back.NumClasses, Is.EqualTo(4));
        Assert.That(back.ClassEmbedding, Is.EqualTo(m.ClassEmbedding));
        Assert.That(back.ToBytes(), Is.EqualTo(m.ToBytes()));
        // a wrong embedding width is named
        int w0 = m.Layers[0].Out;   // 13, embedding [5, 13]: written transposed as [13, 5]
        var tensors = m.FileTensors().Select(t => t.name == MlpModel.ClassEmbeddingName ? (t.name, new long[] { w0, 5 }, t.data) : t);
        var bytes = SafetensorsWriter.ToBytes(m.FileMetadata().Where(kv => kv.Key != "num_classes").ToDictionary(kv => kv.Key, kv => kv.Value), tensors, TensorDType.F32);
        var e = Assert.Throws<InvalidDataException>(() => MlpModel.FromBytes(bytes));
        Assert.That(e!.Message, Does.Contain("class_embed.weight"));
    }

    /// <summary>Two labelled clusters on a line: class 0 near -2, class 1 near +2 (2-d, second coordinate noise).</summary>
    internal static TabularData TwoClusters()
    {
        int n = 400;
        var key = new RandomKey(21, 0, Purpose.Test);
        var rows = new float[n * 2]; var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = i % 2;
            rows[2 * i] = (labels[i] == 0 ? -2f : 2f) + 0.3f * key.Normal(i, 0);
            rows[2 * i + 1] = 0.5f * key.Normal(i, 1);
        }
        return new TabularData("two-clusters", rows, 2, labels);
    }

    [Test]
    public void TinyConditionalModelDrawsTheAskedClass()
    {
        var tr = new MlpTrainer(new MlpTrainOptions
        {
            Width = 32, Depth = 2, Steps = 500, Batch = 128, LearningRate = 3e-3, Seed = 2, Conditional = true,
            Prediction = MlpPrediction.X0, TimeFrequencies = 8, MaxFrequency = 20,
        }, TwoClusters());
        tr.Train();
        var m = MlpModel.FromBytes(tr.ToModel().ToBytes());
        Assert.That(m.NumClasses, Is.EqualTo(2));
        var cpu = new CpuBackend();
        int n = 400;
        foreach (var (cls, sign) in new[] { (0, -1), (1, 1) })
        {
            var o = new SamplerOptions { Steps = 30, Labels = ClassLabels.All(cls), Denoise = true };
            var (x, _) = SampleRun.Run(cpu, m, "ei", o, 5, n);   // in data space
            int right = Enumerable.Range(0, n).Count(i => Math.Sign(x[2 * i]) == sign);
            TestContext.Out.WriteLine($"class {cls}: {right}/{n} on its side");
            Assert.That(right, Is.GreaterThan(0.95 * n), $"class {cls}");
        }
        var (u, _) = SampleRun.Run(cpu, m, "ei", new SamplerOptions { Steps = 30, Denoise = true }, 5, n);
        int left = Enumerable.Range(0, n).Count(i => u[2 * i] < 0);
        Assert.That(left, Is.InRange(n / 4, 3 * n / 4), "unconditional samples cover both classes");
    }
}

/// <summary>The shipped digits model is class-conditional (docs/MLP.md): asked for class K it draws K.</summary>
public class ShippedConditionalDigitsTests
{
    /// <summary>
    /// A quick version of `cldiff check --model optdigits --per-class` (the target: mean >= 85%, no class
    /// below 60% at guidance 2): 20 samples per class, ei with 20 steps, labelled by the held-out 1-NN classifier.
    /// </summary>
    [Test]
    public void ShippedDigitsModelDrawsTheAskedClass()
    {
        var m = MlpModel.Load(MlpCpuTests.ModelPath("optdigits.safetensors"));
        Assert.That(m.NumClasses, Is.EqualTo(10));
        var rows = ClDiffusion.Experiments.ClassGuidance.Run(new CpuBackend(), m, "ei", new SamplerOptions { Steps = 20, Denoise = true }, [2.0], 20, 3);
        TestContext.Out.WriteLine(string.Join(", ", rows.Select(r => $"{r.Class}: {100 * r.Rate:0}%")));
        Assert.That(rows.Average(r => r.Rate), Is.GreaterThanOrEqualTo(0.85));
        Assert.That(rows.Min(r => r.Rate), Is.GreaterThanOrEqualTo(0.6));
    }
}
