using ClDiffusion.Cli;
using ClDiffusion.IO;
using NUnit.Framework;

namespace ClDiffusion.Tests.Cli;

/// <summary>The cldiff program in-process: bad input is one clear error, a non-zero exit and no output file.</summary>
[NonParallelizable]
public class CliTests : TempFolderTests
{
    static (int code, string err) Run(params string[] args)
    {
        var (code, _, err) = VerbTests.Run(args);
        return (code, err);
    }

    string Target(string json) { var p = Path.Combine(dir, "t.json"); File.WriteAllText(p, json); return p; }
    const string Good = "{\"weights\":[0.4,0.6],\"means\":[[0,1],[2,-1]],\"variances\":[[1,0.5],[0.3,0.2]]}";

    [TestCase("{\"weights\":[0.4,0.6],\"means\":[[0,1],[2]],\"variances\":[[1,0.5],[0.3,0.2]]}", "means[1]")]
    [TestCase("{\"weights\":[0.4,0.6],\"means\":[[0,1],[2,-1]],\"variances\":[[1,0.5],[0.3,-0.2]]}", "variances[1][1]")]
    [TestCase("{\"weights\":[0.4,0.5],\"means\":[[0,1],[2,-1]],\"variances\":[[1,0.5],[0.3,0.2]]}", "sum to")]
    [TestCase("{\"weights\":[0.4,0.6],\"means\":[[0,\"NaN\"],[2,-1]],\"variances\":[[1,0.5],[0.3,0.2]]}", "means[0][1]")]
    [TestCase("{\"weights\":[0.4,0.6],\"means\":[[0,1],[2,-1]]}", "variances")]
    [TestCase("{\"weights\":[0.4,0.6], \"means\":", "not valid JSON")]
    public void BadTargetFilesAreRejectedByName(string json, string mentions)
    {
        var outFile = Path.Combine(dir, "x.npy");
        var (code, err) = Run("sample", "--target", Target(json), "--n", "10", "--out", outFile, "--device", "cpu");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain(mentions));
        Assert.That(File.Exists(outFile), Is.False);
        Assert.That(Directory.GetFiles(dir).Length, Is.EqualTo(1), "no temporary file left behind");
    }

    [TestCase(new[] { "--sampler", "euler" }, "unknown sampler 'euler'")]
    [TestCase(new[] { "--n", "0" }, "--n must be at least 1")]
    [TestCase(new[] { "--steps", "0" }, "steps must be at least 1")]
    [TestCase(new[] { "--delta", "9", "-T", "8" }, "must be smaller than T")]
    [TestCase(new[] { "--device", "tpu" }, "unknown device 'tpu'")]
    [TestCase(new[] { "--grid", "cosine" }, "unknown grid 'cosine'")]
    [TestCase(new[] { "--sampler", "rm-x0", "--x0-start", "midway" }, "unknown x0 start 'midway'")]
    // issue 15: the CLI goes through the same validator as the .NET API and the C ABI
    [TestCase(new[] { "--steps", "2147483647" }, "above the limit 65535")]
    [TestCase(new[] { "--gamma", "1e300" }, "gamma")]
    [TestCase(new[] { "--corrector-time", "1e300" }, "corrector time")]
    [TestCase(new[] { "--lipschitz", "1e300" }, "Lipschitz")]
    [TestCase(new[] { "--steps", "60000", "--corrector-steps", "60000" }, "score evaluations per sample")]
    public void BadOptionsAreRejectedByName(string[] extra, string mentions)
    {
        var outFile = Path.Combine(dir, "x.npy");
        var (code, err) = Run(["sample", "--target", Target(Good), "--out", outFile, .. extra]);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain(mentions));
        Assert.That(File.Exists(outFile), Is.False);
    }

    /// <summary>
    /// Options that no run can take are refused before a device is opened (a cold OpenCL cache compiles the kernels for
    /// minutes first): with a device that does not exist, the error is still the options'.
    /// </summary>
    [Test]
    public void ImpossibleOptionsAreRefusedBeforeADeviceIsOpened()
    {
        var outFile = Path.Combine(dir, "x.npy");
        var (code, err) = Run("sample", "--target", Target(Good), "--out", outFile, "--steps", "60000", "--corrector-steps", "60000", "--device", "opencl:97:97");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("score evaluations per sample").And.Not.Contain("97"));
        Assert.That(File.Exists(outFile), Is.False);
    }

    [Test]
    public void SampleWritesNpyAndReportAndEvalReadsIt()
    {
        var outFile = Path.Combine(dir, "x.npy"); var report = Path.Combine(dir, "r.json");
        var (code, err) = Run("sample", "--target", Target(Good), "--sampler", "rm-pc", "--steps", "10", "--n", "300", "--seed", "4", "--out", outFile, "--report", report, "--device", "cpu");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("note: rm-pc with 10 steps").And.Contain("rm-x0"), "rm-pc below 20 steps is warned about, and the run still goes ahead");
        var arr = Npy.Read(outFile);
        Assert.That(arr.Shape, Is.EqualTo(new[] { 300, 2 }));
        var json = File.ReadAllText(report);
        foreach (var key in new[] { "nfe_per_sample", "rounds", "seconds", "device", "sampler" }) Assert.That(json, Does.Contain($"\"{key}\""));
        (code, err) = Run("eval", "--target", Target(Good), "--samples", outFile);
        Assert.That(code, Is.EqualTo(0), err);
        (code, err) = Run("sample", "--target", Target(Good), "--sampler", "rm-pc", "--steps", "20", "--n", "30", "--out", outFile, "--device", "cpu");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Not.Contain("note:"), "no note at 20 steps");
        (code, err) = Run("eval", "--preset", "mix16-5", "--samples", outFile);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("d = 2"));
    }
}
