using ClDiffusion.Cli.Commands;
using ClDiffusion.Data;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using ClDiffusion.Tests.Cli;
using ClDiffusion.Training;
using NUnit.Framework;

namespace ClDiffusion.Tests.Mlp;

/// <summary>
/// `cldiff train --class-weights`: the loss of a row trained with class c is multiplied by w_c; rows trained with the
/// null class keep weight 1. Doubling a weight is exact in floating point, so the gradients must double bit for bit.
/// </summary>
public class ClassWeightTests
{
    /// <summary>Labelled tabular data: 120 rows of 5 dimensions, labels i % 3.</summary>
    static TabularData Labelled()
    {
        const int rows = 120, d = 5;
        var x = new float[rows * d];
        new RandomKey(8, 0, Purpose.Test).Normals(0, x);
        for (int i = 0; i < x.Length; i++) x[i] = 1 + 2 * x[i] + i % d;
        return new TabularData("tabular", x, d, Enumerable.Range(0, rows).Select(i => i % 3).ToArray());
    }

    static MlpTrainer Trainer(MlpPrediction prediction, double dropout, double[]? weights) => new(new MlpTrainOptions
    {
        Width = 12, Depth = 2, Steps = 1, Batch = 40, Seed = 5, Threads = 1, TimeFrequencies = 3,
        Conditional = true, Prediction = prediction, LabelDropout = dropout, ClassWeights = weights,
    }, Labelled());

    static void AssertGradients(MlpTrainer a, MlpTrainer b, float factor)
    {
        for (int l = 0; l < a.gW.Length; l++)
        {
            Assert.That(b.gW[l], Is.EqualTo(a.gW[l].Select(g => g * factor).ToArray()), $"layer {l} weight gradients");
            Assert.That(b.gB[l], Is.EqualTo(a.gB[l].Select(g => g * factor).ToArray()), $"layer {l} bias gradients");
        }
    }

    [TestCase(MlpPrediction.X0)]
    [TestCase(MlpPrediction.Eps)]
    public void EveryClassWeightedTwiceDoublesLossAndGradientsExactly(MlpPrediction prediction)
    {
        var plain = Trainer(prediction, 0, null);
        var twice = Trainer(prediction, 0, [2, 2, 2]);
        double l1 = plain.Step(), l2 = twice.Step();
        Assert.That(l2, Is.EqualTo(2 * l1), "loss");
        AssertGradients(plain, twice, 2);
    }

    // unit weights; eps training has no row weights of its own, so unit class weights must keep its target (the noise),
    // not switch to x0's; label dropout 1 trains every row with the null class, so no class weight applies
    [TestCase(MlpPrediction.X0, 0.3, new[] { 1.0, 1, 1 })]
    [TestCase(MlpPrediction.Eps, 0.3, new[] { 1.0, 1, 1 })]
    [TestCase(MlpPrediction.X0, 1.0, new[] { 5, 0.25, 3 })]
    public void WeightsThatChangeNoRowChangeNothing(MlpPrediction prediction, double dropout, double[] weights)
    {
        var plain = Trainer(prediction, dropout, null);
        var weighted = Trainer(prediction, dropout, weights);
        Assert.That(weighted.Step(), Is.EqualTo(plain.Step()));
        AssertGradients(plain, weighted, 1);
    }

    [Test]
    public void OneClassWeightedMovesOnlyPartOfTheLoss()
    {
        // class 1 at weight 3, dropout 0: loss = plain + 2 * (class 1's part), strictly between plain and 3 x plain
        var plain = Trainer(MlpPrediction.X0, 0, null);
        var one = Trainer(MlpPrediction.X0, 0, [1, 3, 1]);
        var all = Trainer(MlpPrediction.X0, 0, [3, 3, 3]);
        double lp = plain.Step(), l1 = one.Step(), l3 = all.Step();
        Assert.That(l1, Is.GreaterThan(lp * 1.01).And.LessThan(l3 * 0.99));
    }

    [Test]
    public void BadWeightsAreRefusedNamingTheProblem()
    {
        var data = Labelled();
        Assert.That(() => Trainer(MlpPrediction.X0, 0, [1, 1]), Throws.ArgumentException.With.Message.Contains("2 class weights given, 'tabular' has 3 classes"));
        Assert.That(() => Trainer(MlpPrediction.X0, 0, [1, -1, 1]), Throws.ArgumentException.With.Message.Contains("class weight 1 must be finite and >= 0"));
        Assert.That(() => Trainer(MlpPrediction.X0, 0, [1, 1, double.NaN]), Throws.ArgumentException.With.Message.Contains("class weight 2 must be finite and >= 0"));
        Assert.That(() => Trainer(MlpPrediction.X0, 0, [0, 0, 0]), Throws.ArgumentException.With.Message.Contains("all 0"));
        Assert.That(() => new MlpTrainer(new MlpTrainOptions { ClassWeights = [1, 1, 1] }, data), Throws.ArgumentException.With.Message.Contains("conditional"));

        Assert.That(TrainCommand.ParseClassWeights("2=3", data), Is.EqualTo(new[] { 1.0, 1, 3 }));
        Assert.That(TrainCommand.ParseClassWeights("0=0.5, 2=3", data), Is.EqualTo(new[] { 0.5, 1, 3 }));
        foreach (var (text, message) in new[]
        {
            ("3=2", "class 3 is outside 'tabular''s classes 0..2"), ("1=2,1=3", "class 1 is given twice"), ("1:2", "'1:2' is not CLASS=WEIGHT"),
            ("-1=2", "is not CLASS=WEIGHT"), ("1=", "is not CLASS=WEIGHT"),
        })
            Assert.That(() => TrainCommand.ParseClassWeights(text, data), Throws.ArgumentException.With.Message.Contains(message), text);
        Assert.That(() => TrainCommand.ParseClassWeights("1=2", new Checkerboard()), Throws.ArgumentException.With.Message.Contains("has no labels"));
    }

    [Test]
    public void TrainVerbRecordsTheWeightsAndRefusesBadOnes()
    {
        using var tmp = new TempFolder("cldiff-cw");
        string[] net = ["--data", "optdigits", "--conditional", "--prediction", "x0", "--width", "8", "--depth", "1", "--batch", "16", "--steps", "2"];
        var (code, _, err) = VerbTests.Run(["train", .. net, "--class-weights", "6=3,2=0.5", "--out", tmp.File("a.safetensors")]);
        Assert.That(code, Is.EqualTo(0), err);
        var m = MlpModel.Load(tmp.File("a.safetensors"));
        Assert.That(m.Info["train_class_weights"], Is.EqualTo("1,1,0.5,1,1,1,3,1,1,1"));
        Assert.That(m.Info["train_command"], Does.Contain("--class-weights 6=3,2=0.5"));

        (code, _, err) = VerbTests.Run(["train", .. net, "--class-weights", "10=2", "--out", tmp.File("b.safetensors")]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain("class 10 is outside 'optdigits''s classes 0..9"));
        Assert.That(File.Exists(tmp.File("b.safetensors")), Is.False, "nothing written");

        string[] plain = [.. net.Where(a => a != "--conditional")];
        (code, _, err) = VerbTests.Run(["train", .. plain, "--class-weights", "6=3", "--out", tmp.File("c.safetensors")]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain("class weights need conditional training"));
        (code, _, err) = VerbTests.Run(["train", .. net, "--class-weights", "6=-1", "--out", tmp.File("d.safetensors")]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain("class weight 6 must be finite and >= 0"));
        Assert.That(File.Exists(tmp.File("c.safetensors")) || File.Exists(tmp.File("d.safetensors")), Is.False, "nothing written");
    }
}
