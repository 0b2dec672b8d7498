using ClDiffusion.Data;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using ClDiffusion.Tests.Cli;
using ClDiffusion.Training;
using NUnit.Framework;

namespace ClDiffusion.Tests.Mlp;

/// <summary>
/// `cldiff train --init`: a model continues training from a file (issue 24). The file's weights, with the class
/// embedding folded back into layer 0's one-hot columns, must be exactly the trainer's starting point, and a file of
/// another network must be refused, naming what differs.
/// </summary>
[NonParallelizable]
public class WarmStartTests : TempFolderTests
{



    /// <summary>Labelled tabular data: 200 rows of d dimensions (shifted, scaled normals), labels i % classes.</summary>
    static TabularData Labelled(int d = 4, int classes = 3)
    {
        const int rows = 200;
        var x = new float[rows * d];
        new RandomKey(5, 0, Purpose.Test).Normals(0, x);
        for (int i = 0; i < x.Length; i++) x[i] = 3 + 2 * x[i] + i % d;
        return new TabularData("tabular", x, d, Enumerable.Range(0, rows).Select(i => i % classes).ToArray());
    }

    static MlpTrainOptions Small(bool conditional) => new()
    {
        Width = 16, Depth = 2, Steps = 20, Batch = 32, Seed = 3, Threads = 1, TimeFrequencies = 4,
        Conditional = conditional, Prediction = conditional ? MlpPrediction.X0 : MlpPrediction.Eps,
    };

    static float[][] Tensors(MlpModel m) => m.FileTensors().Select(t => t.data).ToArray();
    static int[] Bits(float[] v) => v.Select(BitConverter.SingleToInt32Bits).ToArray();

    [TestCase(true, TensorDType.F32)]
    [TestCase(false, TensorDType.F32)]
    [TestCase(true, TensorDType.F16)]
    public void WarmStartWithZeroStepsExportsTheFileBitForBit(bool conditional, TensorDType dtype)
    {
        ITrainingData data = conditional ? Labelled() : new Checkerboard();
        var first = new MlpTrainer(Small(conditional), data);
        first.Train();
        var path = Path.Combine(dir, "a.safetensors");
        first.ToModel().Save(path, dtype);
        var file = MlpModel.Load(path);

        var warm = new MlpTrainer(Small(conditional) with { Steps = 0, Seed = 9 }, data, file);
        warm.Train();
        // raw weights and EMA both start from the file's weights
        foreach (var ema in new[] { true, false })
        {
            var back = warm.ToModel(ema);
            var a = Tensors(file); var b = Tensors(back);
            Assert.That(b, Has.Length.EqualTo(a.Length));
            for (int i = 0; i < a.Length; i++)
                Assert.That(Bits(b[i]), Is.EqualTo(Bits(a[i])), $"tensor {file.FileTensors().ElementAt(i).name}, ema {ema}: not the file's bits");
            Assert.That(back.NumClasses, Is.EqualTo(file.NumClasses));
            Assert.That(back.Info["train_steps_total"], Is.EqualTo("20"));
        }
        // saved in the file's dtype again: the same tensor bytes
        var again = Path.Combine(dir, "b.safetensors");
        warm.ToModel().Save(again, dtype);
        Assert.That(Tensors(MlpModel.Load(again)).SelectMany(Bits), Is.EqualTo(Tensors(file).SelectMany(Bits)));

        // and training goes on from there: finite, the lineage's total counts both runs
        var more = new MlpTrainer(Small(conditional) with { Steps = 5, Seed = 9 }, data, file);
        more.Train();
        Assert.That(double.IsFinite(more.LastLoss));
        Assert.That(more.ToModel().Info["train_steps_total"], Is.EqualTo("25"));
    }

    static IEnumerable<TestCaseData> Mismatches()
    {
        yield return new TestCaseData(Small(true) with { Width = 24 }, 4, 3, "width 16 in the model", "24 requested").SetName("WarmStartRefuses_Width");
        yield return new TestCaseData(Small(true) with { Depth = 3 }, 4, 3, "depth 2 in the model", "3 requested").SetName("WarmStartRefuses_Depth");
        yield return new TestCaseData(Small(true), 4, 5, "3 classes in the model", "5 in the data").SetName("WarmStartRefuses_ClassCount");
        yield return new TestCaseData(Small(true), 6, 3, "data dimension 4 in the model", "6 in the data").SetName("WarmStartRefuses_DataDimension");
        yield return new TestCaseData(Small(true) with { Conditional = false }, 4, 3, "class-conditional", "--conditional not requested").SetName("WarmStartRefuses_Unconditional");
        yield return new TestCaseData(Small(true) with { Prediction = MlpPrediction.Eps }, 4, 3, "prediction x0 in the model", "eps requested").SetName("WarmStartRefuses_Prediction");
        yield return new TestCaseData(Small(true) with { TimeFrequencies = 5 }, 4, 3, "4 time frequencies in the model", "5 requested").SetName("WarmStartRefuses_FrequencyCount");
        yield return new TestCaseData(Small(true) with { MaxFrequency = 40 }, 4, 3, "time frequency 1 is", "--max-frequency").SetName("WarmStartRefuses_MaxFrequency");
    }

    [TestCaseSource(nameof(Mismatches))]
    public void WarmStartRefusesAnotherNetwork(MlpTrainOptions requested, int d, int classes, string said, string said2)
    {
        var file = new MlpTrainer(Small(true) with { Steps = 0 }, Labelled()).ToModel();
        var e = Assert.Throws<ArgumentException>(() => new MlpTrainer(requested, Labelled(d, classes), file));
        Assert.That(e!.Message, Does.Contain("--init model does not fit").And.Contain(said).And.Contain(said2));
    }

    [Test]
    public void WarmStartRefusesOtherNormalisation()
    {
        var file = new MlpTrainer(Small(true) with { Steps = 0 }, Labelled()).ToModel();
        var shifted = Labelled();
        for (int i = 0; i < shifted.Rows.Length; i += 4) shifted.Rows[i] += 1;   // column 0 moves by 1
        var e = Assert.Throws<ArgumentException>(() => new MlpTrainer(Small(true), shifted, file));
        Assert.That(e!.Message, Does.Contain("data_mean[0]"));
    }

    [Test]
    public void TrainVerbWarmStartsAndRecordsTheLineage()
    {
        string a = Path.Combine(dir, "a.safetensors"), b = Path.Combine(dir, "b.safetensors"), c = Path.Combine(dir, "c.safetensors");
        string[] net = ["--data", "checkerboard", "--width", "8", "--depth", "1", "--batch", "16"];
        var (code, _, err) = VerbTests.Run(["train", .. net, "--steps", "3", "--out", a]);
        Assert.That(code, Is.EqualTo(0), err);
        (code, _, err) = VerbTests.Run(["train", .. net, "--steps", "2", "--seed", "2", "--init", a, "--out", b, "--loss-log", Path.Combine(dir, "l.csv")]);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("warm start from"));
        var m = MlpModel.Load(b);
        Assert.That(m.Info["train_init"], Is.EqualTo("a.safetensors (train_steps 3)"));
        Assert.That(m.Info["train_steps"], Is.EqualTo("2"));
        Assert.That(m.Info["train_steps_total"], Is.EqualTo("5"));
        Assert.That(m.Info["train_command"], Does.Contain("--init a.safetensors"));
        Assert.That(m.Info["train_init_command"], Does.Contain("--steps 3"));
        // a second generation keeps the lineage
        (code, _, err) = VerbTests.Run(["train", .. net, "--steps", "1", "--init", b, "--out", c]);
        Assert.That(code, Is.EqualTo(0), err);
        var m2 = MlpModel.Load(c);
        Assert.That(m2.Info["train_steps_total"], Is.EqualTo("6"));
        Assert.That(m2.Info["train_init"], Does.StartWith("b.safetensors (train_steps 2, train_steps_total 5, train_init a.safetensors"));

        // another width: refused, nothing written
        (code, _, err) = VerbTests.Run(["train", "--data", "checkerboard", "--width", "12", "--depth", "1", "--steps", "1", "--init", a, "--out", Path.Combine(dir, "x.safetensors")]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain("width 8 in the model").And.Contain("12 requested"));
        Assert.That(File.Exists(Path.Combine(dir, "x.safetensors")), Is.False);
        (code, _, err) = VerbTests.Run(["train", "--data", "checkerboard", "--steps", "1", "--init", Path.Combine(dir, "none.safetensors"), "--out", Path.Combine(dir, "x.safetensors")]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain("--init: no file"));
    }
}
