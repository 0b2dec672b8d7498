using ClDiffusion.Data;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using ClDiffusion.Training;
using NUnit.Framework;

namespace ClDiffusion.Tests.Mlp;

public class TrainerTests
{
    /// <summary>Loss of the trainer's network in float64: same features, same parameters (with one perturbed).</summary>
    static double ReferenceLoss(MlpTrainer tr, float[] input, float[] target, int n, int layer, bool bias, int index, double delta, float[]? weights = null)
    {
        int layers = tr.W.Length;
        double loss = 0;
        int inW = input.Length / n, d = target.Length / n;
        for (int r = 0; r < n; r++)
        {
            double[] h = new double[inW];
            for (int c = 0; c < inW; c++) h[c] = input[r * inW + c];
            for (int l = 0; l < layers; l++)
            {
                int outW = tr.B[l].Length, In = h.Length;
                var o = new double[outW];
                for (int q = 0; q < outW; q++)
                {
                    double acc = tr.B[l][q] + (l == layer && bias && q == index ? delta : 0);
                    for (int c = 0; c < In; c++)
                        acc += (tr.W[l][q * In + c] + (l == layer && !bias && q * In + c == index ? delta : 0)) * h[c];
                    o[q] = l < layers - 1 ? acc / (1 + Math.Exp(-acc)) : acc;
                }
                h = o;
            }
            for (int j = 0; j < d; j++) { double e = h[j] - target[r * d + j]; loss += (weights is null ? 1 : weights[r]) * e * e; }
        }
        return loss / (n * d);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void BackwardMatchesFiniteDifferences(bool weighted)
    {
        var tr = new MlpTrainer(new MlpTrainOptions { Width = 7, Depth = 2, TimeFrequencies = 3, Batch = 5, Threads = 1 }, new Checkerboard());
        int n = 5, inW = 2 + 6, d = 2;
        var key = new RandomKey(3, 0, Purpose.Test);
        var input = new float[n * inW]; var target = new float[n * d];
        for (int r = 0; r < n; r++) { key.Normals(r, input.AsSpan(r * inW, inW)); key.WithStep(1).Normals(r, target.AsSpan(r * d, d)); }
        // the x0 objective weights rows by min(SNR, cap)
        float[]? w = weighted ? [0.1f, 5f, 1f, 0.02f, 2.5f] : null;
        double loss = tr.LossAndGradients(input, target, n, w);
        Assert.That(loss, Is.EqualTo(ReferenceLoss(tr, input, target, n, 0, false, -1, 0, w)).Within(1e-5));
        const double h = 1e-6;
        int checkedCount = 0;
        for (int l = 0; l < tr.W.Length; l++)
            for (int pass = 0; pass < 2; pass++)
            {
                bool bias = pass == 1;
                var g = bias ? tr.gB[l] : tr.gW[l];
                for (int i = 0; i < g.Length; i += bias ? 1 : 3)
                {
                    double fd = (ReferenceLoss(tr, input, target, n, l, bias, i, h, w) - ReferenceLoss(tr, input, target, n, l, bias, i, -h, w)) / (2 * h);
                    Assert.That(g[i], Is.EqualTo(fd).Within(2e-4 + 1e-3 * Math.Abs(fd)), $"layer {l} {(bias ? "bias" : "weight")} {i}");
                    checkedCount++;
                }
            }
        Assert.That(checkedCount, Is.GreaterThan(50));
    }

    [Test]
    public void SameSeedGivesIdenticalWeights_WhateverTheThreadCount()
    {
        MlpModel Train(int threads, ulong seed)
        {
            var tr = new MlpTrainer(new MlpTrainOptions { Width = 48, Depth = 2, Steps = 5, Batch = 96, Seed = seed, Threads = threads }, new Checkerboard());
            tr.Train();
            return tr.ToModel();
        }
        var a = Train(1, 11); var b = Train(4, 11); var c = Train(1, 12);
        Assert.That(a.ToBytes(), Is.EqualTo(b.ToBytes()));
        Assert.That(a.ToBytes(), Is.Not.EqualTo(c.ToBytes()));
    }

    [Test]
    public void LossDecreasesOnCheckerboard()
    {
        var tr = new MlpTrainer(new MlpTrainOptions { Width = 32, Depth = 2, Steps = 150, Batch = 128, Seed = 1, Threads = 1 }, new Checkerboard());
        double first = tr.Step();
        tr.Train();
        Assert.That(tr.LastLoss, Is.LessThan(first));
    }

    /// <summary>
    /// The BLAS path of the trainer (d = 784 needs it): the same gradients as the managed SGEMM up to float32 rounding,
    /// and the same bits whatever the thread count (its row blocks are fixed).
    /// </summary>
    [Test, Category("Blas")]   // needs a BLAS: left out of tools/test.sh's rerun without one
    public void BlasProductsGiveTheManagedGradientsAndIgnoreTheThreadCount()
    {
        var blas = BlasLibrary.Default;
        if (blas is null)
        {
            if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail($"CI=true but no BLAS: {BlasLibrary.DefaultDescription}");
            Assert.Ignore(BlasLibrary.DefaultDescription);
        }
        const int d = 64, rows = 300;
        var key = new RandomKey(9, 0, Purpose.Test);
        var x = new float[rows * d];
        key.Normals(0, x);
        var data = new TabularData("random", x, d, Enumerable.Range(0, rows).Select(i => i % 3).ToArray());
        MlpTrainer Make(BlasLibrary? b, int threads) =>
            new(new MlpTrainOptions { Width = 256, Depth = 2, Steps = 3, Batch = 256, Seed = 4, Threads = threads, Blas = b, Conditional = true, Prediction = MlpPrediction.X0 }, data);
        // products here: 256 x 256 x 256 = 2^24 multiply-adds, above the BLAS threshold
        Assert.That(256L * 256 * 256, Is.GreaterThanOrEqualTo(MlpTrainer.BlasMinWork));
        var managed = Make(null, 1); var b1 = Make(blas, 1); var b2 = Make(blas, 2);
        Assert.That(b1.GemmDescription, Does.Contain("BLAS"));
        managed.Step(); b1.Step(); b2.Step();
        for (int l = 0; l < managed.gW.Length; l++)
        {
            double num = 0, den = 0;
            for (int i = 0; i < managed.gW[l].Length; i++) { double e = b1.gW[l][i] - managed.gW[l][i]; num += e * e; den += (double)managed.gW[l][i] * managed.gW[l][i]; }
            Assert.That(Math.Sqrt(num / den), Is.LessThan(1e-4), $"layer {l}: relative gradient difference, BLAS vs managed");
            Assert.That(b2.gW[l], Is.EqualTo(b1.gW[l]), $"layer {l}: BLAS gradients with 2 threads vs 1");
        }
        b1.Train(); b2.Train();
        Assert.That(b2.ToModel().ToBytes(), Is.EqualTo(b1.ToModel().ToBytes()));
    }
}
