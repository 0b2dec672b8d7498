using ClDiffusion.Backends.Cpu;
using ClDiffusion.Cli;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Onnx;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.Guidance;
using NUnit.Framework;

namespace ClDiffusion.Tests.Onnx;

/// <summary>
/// A class-conditional ONNX graph (tests/fixtures/onnx/gmm-labelled.onnx, tools/onnx/export_models.py): the exact
/// eps of a labelled mixture with a class input. Its conditional and unconditional scores are the mixture's, guided
/// sampling equals the built-in guided mixture's sample by sample, a guided evaluation is one ONNX call of both
/// halves, and bad class inputs or labels are refused naming the problem.
/// </summary>
[NonParallelizable]
public class OnnxClassTests
{
    /// <summary>The script's GMM_W, GMM_MEANS, GMM_VARS, GMM_LABELS.</summary>
    static readonly GaussianMixture Mixture = new([0.15, 0.25, 0.2, 0.3, 0.1],
        [[2.0, 0.0, -1.0], [1.5, 2.0, 0.5], [-2.0, 1.0, 1.0], [0.0, -2.0, -1.5], [-1.0, -1.0, 2.0]],
        [[0.3, 0.5, 0.4], [0.6, 0.2, 0.5], [0.4, 0.4, 0.8], [0.5, 0.7, 0.3], [0.2, 0.3, 0.6]], [0, 0, 1, 2, 2]);

    static OnnxScoreModel Load() => OnnxScoreModel.Load(OnnxModelTests.Fixture("gmm-labelled.onnx"));

    [Test]
    public void ConditionalAndUnconditionalScoresAreTheMixtures()
    {
        using var onnx = Load();
        Assert.That(onnx.NumClasses, Is.EqualTo(3));
        Assert.That(onnx.NullClass, Is.EqualTo(3));
        Assert.That(onnx.Model, Is.InstanceOf<IClassConditional>());
        Assert.That(onnx.Model.Describe(), Does.Contain("3 classes"));
        int rows = 80, d = 3;
        var key = new RandomKey(11, 0, Purpose.Test);
        var x = new float[rows * d];
        key.Normals(0, x);
        for (int i = 0; i < x.Length; i++) x[i] *= 2;
        var t = Enumerable.Range(0, rows).Select(i => (float)(0.02 + 4.0 * i / rows)).ToArray();
        var labels = Enumerable.Range(0, rows).Select(i => i % 4 - 1).ToArray();   // -1 (null), 0, 1, 2
        var got = new float[rows * d];
        onnx.Model.Evaluate(x, t, labels, got);
        var want = new double[d]; var xr = new double[d];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < d; j++) xr[j] = x[r * d + j];
            if (labels[r] == ClassLabels.Null) Mixture.Score(xr, t[r], want, new double[Mixture.Components]);
            else Mixture.GuidedScore(xr, t[r], labels[r], 0, want);
            double sigma = ForwardProcess.Sigma(t[r]);
            for (int j = 0; j < d; j++)   // compare eps = -sigma score (the graph's float32 output)
                Assert.That(got[r * d + j] * sigma, Is.EqualTo(want[j] * sigma).Within(2e-5 + 2e-5 * Math.Abs(want[j] * sigma)),
                    $"row {r} (label {labels[r]}, t = {t[r]}), column {j}");
        }
        // no labels = every row unconditional: the null class, not the decoy row the graph would gather for -1
        var plain = new float[rows * d];
        onnx.Model.Evaluate(x, t, plain);
        var nulls = new float[rows * d];
        onnx.Model.Evaluate(x, t, Enumerable.Repeat(ClassLabels.Null, rows).ToArray(), nulls);
        Assert.That(plain, Is.EqualTo(nulls));
        Assert.That(plain.AsSpan(0, d).ToArray(), Is.EqualTo(got.AsSpan(0, d).ToArray()), "row 0 has label -1 in both calls");
    }

    [TestCase("ei", 0.0)]
    [TestCase("ei", 2.0)]
    [TestCase("rm-x0", 2.0)]
    [TestCase("dpmpp-2m", 2.0)]
    [TestCase("prm-pc", 1.5)]
    public void GuidedSamplingEqualsTheBuiltInGuidedMixtureSampleBySample(string sampler, double w)
    {
        using var onnx = Load();
        int n = 400;
        var labels = ClassLabels.PerSample(Enumerable.Range(0, n).Select(i => i % 4 - 1).ToArray());
        var o = new SamplerOptions { Steps = 30, Labels = labels, Guidance = w };
        using var cpu = new CpuBackend(2);
        var (a, _) = SampleRun.Run(cpu, onnx.Model, sampler, o, seed: 5, n: n);
        var (b, _) = SampleRun.Run(cpu, Mixture, sampler, o, seed: 5, n: n);
        double worst = a.Zip(b, (p, q) => Math.Abs(p - q)).Max();
        Assert.That(worst, Is.LessThan(5e-3), $"largest sample difference {worst}");
        // the guidance is really there: the unguided samples differ
        if (w != 0)
        {
            var (c, _) = SampleRun.Run(cpu, onnx.Model, sampler, o with { Guidance = 0 }, seed: 5, n: n);
            Assert.That(c.Zip(a, (p, q) => Math.Abs(p - q)).Max(), Is.GreaterThan(0.05));
        }
    }

    [Test]
    public void AGuidedEvaluationIsOneModelCallOfBothHalves()
    {
        using var onnx = Load();
        using var cpu = new CpuBackend(2);
        int n = 24, d = 3;
        // one guided score call through the sampler's context: one ONNX call of 2 n rows, with the exact guided score
        using var prepared = cpu.Prepare(onnx.Model);
        using var ctx = new SamplerContext(cpu, prepared, n, 1, 0, 8);
        var labels = Enumerable.Range(0, n).Select(i => i % 3).ToArray();
        ctx.Condition(ClassLabels.PerSample(labels), 2.0);
        var x = new float[n * d];
        new RandomKey(2, 0, Purpose.Test).Normals(0, x);
        using var xb = cpu.Allocate(n, d); using var sb = cpu.Allocate(n, d);
        cpu.Upload(xb, x);
        onnx.Model.ResetCounters();
        ctx.ScoreAt(xb, 0.7f, 0f, null, sb);
        Assert.That(onnx.Model.Calls, Is.EqualTo(1), "both halves in one call");
        Assert.That(onnx.Model.RowsEvaluated, Is.EqualTo(2 * n));
        var got = new float[n * d];
        cpu.Download(sb, got);
        var want = new double[d];
        for (int r = 0; r < n; r++)
        {
            Mixture.GuidedScore(x.AsSpan(r * d, d).ToArray().Select(v => (double)v).ToArray(), 0.7, labels[r], 2.0, want);
            for (int j = 0; j < d; j++) Assert.That(got[r * d + j], Is.EqualTo(want[j]).Within(1e-4 * (1 + Math.Abs(want[j]))), $"row {r}");
        }
        // a whole run: guided sampling makes as many calls as conditional sampling, each with twice the rows
        int m = 50;
        var o = new SamplerOptions { Steps = 8, Labels = ClassLabels.All(1) };
        onnx.Model.ResetCounters();
        SampleRun.Run(cpu, onnx.Model, "dpmpp-2m", o, seed: 1, n: m);
        long calls = onnx.Model.Calls, rows = onnx.Model.RowsEvaluated;
        Assert.That(calls, Is.EqualTo(8));
        onnx.Model.ResetCounters();
        SampleRun.Run(cpu, onnx.Model, "dpmpp-2m", o with { Guidance = 2 }, seed: 1, n: m);
        Assert.That(onnx.Model.Calls, Is.EqualTo(calls));
        Assert.That(onnx.Model.RowsEvaluated, Is.EqualTo(2 * rows));
        Assert.That(onnx.Model.FunctionTime, Is.GreaterThan(TimeSpan.Zero));
        Assert.That(onnx.Model.BusyTime, Is.GreaterThan(TimeSpan.Zero).And.LessThanOrEqualTo(onnx.Model.FunctionTime));
    }

    [Test]
    public void LabelsOutsideTheModelsClassesAreRefused()
    {
        using var onnx = Load();
        var x = new float[6]; var t = new float[] { 0.5f, 0.5f }; var s = new float[6];
        var e = Assert.Throws<ArgumentException>(() => onnx.Model.Evaluate(x, t, [0, 3], s));
        Assert.That(e!.Message, Does.Contain("label 3 of row 1").And.Contain("0..2"));
        Assert.Throws<ArgumentException>(() => onnx.Model.Evaluate(x, t, [0, -2], s));
        Assert.Throws<ArgumentException>(() => onnx.Model.Evaluate(x, t, [0], s));
        Assert.Throws<ArgumentException>(() => ClassLabels.All(3).Validate(onnx.Model, 0, 10));
        // an unlabelled host model asked for a class
        var plain = new HostScoreModel(3, Prediction.Score, (_, _, _, o) => o.Clear(), "plain");
        Assert.That(Assert.Throws<ArgumentException>(() => plain.Evaluate(x, t, [0, 1], s))!.Message, Does.Contain("not class-conditional"));
        plain.Evaluate(x, t, [-1, -1], s);   // the null label is the model itself
    }

    static (int code, string err) Cli(params string[] args) => OnnxModelTests.Cli(args);

    [Test]
    public void CldiffSamplesAClassWithGuidanceAndSaysOnnxRuntimesShare()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"cldiff-onnx-class-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string samples = Path.Combine(dir, "x.npy"), exact = Path.Combine(dir, "exact.npy"), target = Path.Combine(dir, "mix.json");
            File.WriteAllText(target, Mixture.ToJson());
            string[] run = ["--class", "1", "--guidance", "1", "--sampler", "ei", "--steps", "30", "--n", "1000", "--seed", "1", "--device", "cpu", "--quiet"];
            var (code, err) = Cli(["sample", "--model", OnnxModelTests.Fixture("gmm-labelled.onnx"), "--out", samples, .. run]);
            Assert.That(code, Is.EqualTo(0), err);
            var share = System.Text.RegularExpressions.Regex.Match(err, @"onnx gmm-labelled\.onnx: (\d+) calls, (\d+) rows per call, [0-9.]+ s inside the model \([0-9.]+% of the sampling time");
            Assert.That(share.Success, err);
            Assert.That(long.Parse(share.Groups[1].Value) * long.Parse(share.Groups[2].Value), Is.EqualTo(2 * 1000 * 30), "30 guided evaluations of 1000 samples, both halves");
            // the same run on the built-in labelled mixture (the JSON target with its labels): the same samples
            (code, err) = Cli(["sample", "--target", target, "--out", exact, .. run]);
            Assert.That(code, Is.EqualTo(0), err);
            var x = ClDiffusion.IO.Npy.Read(samples).ToFloat32();
            var y = ClDiffusion.IO.Npy.Read(exact).ToFloat32();
            Assert.That(x.Zip(y, (p, q) => Math.Abs(p - q)).Max(), Is.LessThan(5e-3));
            (code, err) = Cli("sample", "--model", OnnxModelTests.Fixture("gmm-labelled.onnx"), "--class", "3", "--n", "10",
                "--out", samples, "--device", "cpu", "--quiet");
            Assert.That(code, Is.Not.EqualTo(0));
            Assert.That(err, Does.Contain("outside the model's classes 0..2"));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// The shipped U-Net (models/fashion-unet.onnx) carries the conventions docs/MODELS.md states, and `--model
    /// fashion-unet` finds it: guided samples for a class stay in the pixel range and are not the unguided ones.
    /// (Its class accuracy is measured in docs/EXPERIMENTS.md with the Fashion-MNIST classifier.)
    /// </summary>
    [Test]
    public void TheShippedFashionUNetHasItsDocumentedConventionsAndSamplesByName()
    {
        using var unet = OnnxScoreModel.Load(OnnxModelTests.RepoFile("models/fashion-unet.onnx"));
        Assert.That(unet.Dim, Is.EqualTo(784));
        Assert.That(unet.NumClasses, Is.EqualTo(10));
        Assert.That(unet.NullClass, Is.EqualTo(10));
        Assert.That(unet.Model.Prediction, Is.EqualTo(Prediction.Eps));
        Assert.That(unet.Model.Convention.Name, Does.StartWith("vp-linear:1000"));
        Assert.That(unet.Metadata["cldiffusion.input"], Is.EqualTo("pixel/127.5-1"));
        Assert.That(unet.Metadata["cldiffusion.train"], Does.StartWith("/usr/bin/python3 tools/fashion/train_unet.py"));
        var dir = Path.Combine(Path.GetTempPath(), $"cldiff-fashion-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string a = Path.Combine(dir, "a.npy"), b = Path.Combine(dir, "b.npy");
            string[] run = ["--model", "fashion-unet", "--class", "1", "--sampler", "rm-x0", "--steps", "5", "--n", "6", "--seed", "3", "--device", "cpu", "--streams", "1", "--quiet"];
            var (code, err) = Cli(["sample", "--guidance", "2", "--out", a, .. run]);
            Assert.That(code, Is.EqualTo(0), err);
            Assert.That(err, Does.Contain("onnx fashion-unet.onnx: 5 calls, 12 rows per call"), "one call per guided evaluation of the 6 samples");
            (code, err) = Cli(["sample", "--out", b, .. run]);
            Assert.That(code, Is.EqualTo(0), err);
            var x = ClDiffusion.IO.Npy.Read(a).ToFloat32(); var y = ClDiffusion.IO.Npy.Read(b).ToFloat32();
            Assert.That(x.Length, Is.EqualTo(6 * 784));
            Assert.That(x.Max(Math.Abs), Is.LessThan(1.5f), "pixels in [-1, 1] up to the last step's noise");
            Assert.That(x.Zip(y, (p, q) => Math.Abs(p - q)).Max(), Is.GreaterThan(0.1), "guidance changes the samples");
        }
        finally { Directory.Delete(dir, true); }
    }
}
