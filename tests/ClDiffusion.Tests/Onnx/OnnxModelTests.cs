using System.Diagnostics;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Cli;
using ClDiffusion.Diffusion;
using ClDiffusion.IO;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Onnx;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Onnx;

/// <summary>
/// ONNX score models exported with PyTorch by tools/onnx/export_models.py (fixtures in tests/fixtures/onnx): the
/// checkerboard MLP equals the safetensors model, exact Gaussian scores in every convention sample that Gaussian,
/// malformed graphs are refused at load, and the script still makes the same fixtures.
/// </summary>
[NonParallelizable]
public class OnnxModelTests
{
    // the Gaussian of the export script (MU, VAR there)
    static readonly GaussianMixture Gauss = new([1.0], [[1.0, -2.0, 0.5]], [[0.25, 1.0, 2.0]]);

    internal static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "onnx", name);

    internal static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, relative))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }

    static float[] Rows(int rows, int d, int seed, double scale)
    {
        var r = new System.Random(seed);
        return Enumerable.Range(0, rows * d).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    static float[] Score(IScoreModel model, float[] x, float[] t)
    {
        using var cpu = new CpuBackend(2);
        using var p = cpu.Prepare(model);
        var s = new float[x.Length];
        ((ICpuBatchScore)p).ScoreBatch(x, t, s);
        return s;
    }

    [Test]
    public void CheckerboardExportHasTheSafetensorsModelsScores()
    {
        var mlp = MlpModel.Load(RepoFile("models/checkerboard.safetensors"));
        using var onnx = OnnxScoreModel.Load(Fixture("checkerboard.onnx"));
        Assert.That(onnx.Model.Prediction, Is.EqualTo(Prediction.Eps), "from the metadata");
        Assert.That(onnx.Dim, Is.EqualTo(2));
        int rows = 400;
        var x = Rows(rows, 2, 1, 3);
        var t = Enumerable.Range(0, rows).Select(i => (float)(1e-3 * Math.Pow(8000, i / (rows - 1.0)))).ToArray();
        var want = Score(mlp, x, t);
        var got = Score(onnx.Model, x, t);
        for (int i = 0; i < got.Length; i++)
        {
            // both are float32 networks summed in different orders: compare eps (score * sigma) to float tolerance
            double sigma = ForwardProcess.Sigma(t[i / 2]);
            Assert.That(got[i] * sigma, Is.EqualTo(want[i] * sigma).Within(2e-5 * (1 + Math.Abs(want[i] * sigma))), $"row {i / 2} at t = {t[i / 2]}");
        }
    }

    static IEnumerable<TestCaseData> Gaussians()
    {
        yield return new TestCaseData("gauss-ours.onnx", Prediction.Score, "ours", 8.0);
        // DDPM's linear schedule ends at t = 5.06: a horizon inside it, so the model is never clamped
        yield return new TestCaseData("gauss-vp-linear.onnx", Prediction.Eps, "vp-linear:1000:0.0001:0.02", 5.0);
        yield return new TestCaseData("gauss-vp-cosine.onnx", Prediction.V, "vp-cosine:1000", 8.0);
        // EDM's default training range, sigma in [0.002, 80], ends at t = 4.38
        yield return new TestCaseData("gauss-edm.onnx", Prediction.X0, "edm:0.002:80", 4.3);
    }

    [TestCaseSource(nameof(Gaussians))]
    public void ExactGaussianInEachConventionSamplesThatGaussian(string file, Prediction prediction, string convention, double horizon)
    {
        using var onnx = OnnxScoreModel.Load(Fixture(file));
        Assert.That(onnx.Model.Prediction, Is.EqualTo(prediction));
        Assert.That(onnx.Model.Convention.Name, Is.EqualTo(convention));
        // scores: the exact score, through the convention, to float tolerance
        int rows = 64;
        var x = Rows(rows, 3, 2, 3);
        var t = Enumerable.Range(0, rows).Select(i => (float)(0.02 + (horizon - 0.1) * i / rows)).ToArray();
        var got = Score(onnx.Model, x, t);
        var want = new double[3]; var scratch = new double[1];
        for (int r = 0; r < rows; r++)
        {
            Gauss.Score([x[3 * r], x[3 * r + 1], x[3 * r + 2]], t[r], want, scratch);
            for (int j = 0; j < 3; j++)
                Assert.That(got[3 * r + j], Is.EqualTo(want[j]).Within(2e-4 * (1 + Math.Abs(want[j])) / ForwardProcess.SigmaSquared(t[r])), $"row {r} at t = {t[r]}");
        }
        // samples: the same as the built-in exact score's, and within the noise floor of the Gaussian
        int n = 2000;
        var o = new SamplerOptions { Steps = 40, Horizon = horizon };
        using var cpu = new CpuBackend(2);
        var (s, _) = SampleRun.Run(cpu, onnx.Model, "ei", o, seed: 3, n: n);
        var (b, _) = SampleRun.Run(cpu, Gauss, "ei", o, seed: 3, n: n);
        Assert.That(s.Zip(b, (p, q) => Math.Abs(p - q)).Max(), Is.LessThan(5e-3), "sample by sample like the built-in exact score");
        for (int j = 0; j < 3; j++)
        {
            double mu = Gauss.Means[0][j], v = Gauss.Variances[0][j];
            var col = Enumerable.Range(0, n).Select(i => (double)s[3 * i + j]).ToArray();
            double mean = col.Average(), var = col.Select(c => (c - mean) * (c - mean)).Sum() / (n - 1);
            Assert.That(mean, Is.EqualTo(mu).Within(4 * Math.Sqrt(v / n) + 0.02), $"mean of coordinate {j}");
            Assert.That(var, Is.EqualTo(v).Within(4 * v * Math.Sqrt(2.0 / n) + 0.02 * v), $"variance of coordinate {j}");
        }
    }

    [TestCase("bad-no-prediction.onnx", "cldiffusion.prediction")]
    [TestCase("bad-names.onnx", "exactly two inputs, x [B, d] and t [B]")]
    [TestCase("bad-fixed-batch.onnx", "batch dimension B must be dynamic")]
    [TestCase("bad-t-rank.onnx", "input t must be [B]")]
    [TestCase("bad-class-float.onnx", "input class must be an int64 (or int32) tensor [B]")]
    [TestCase("bad-class-no-count.onnx", "does not say how many classes")]
    public void MalformedModelsAreRefusedAtLoadByName(string file, string mentions)
    {
        var e = Assert.Throws<InvalidDataException>(() => OnnxScoreModel.Load(Fixture(file)));
        Assert.That(e!.Message, Does.Contain(mentions).And.Contain(file));
    }

    [Test]
    public void NotAnOnnxFileIsAFormatErrorAndAPredictionArgumentBeatsMissingMetadata()
    {
        var junk = Path.Combine(Path.GetTempPath(), $"junk-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(junk, [1, 2, 3, 4, 5, 6, 7, 8]);
        try { Assert.That(Assert.Throws<InvalidDataException>(() => OnnxScoreModel.Load(junk))!.Message, Does.Contain("cannot load")); }
        finally { File.Delete(junk); }
        Assert.Throws<FileNotFoundException>(() => OnnxScoreModel.Load(junk));
        using var m = OnnxScoreModel.Load(Fixture("bad-no-prediction.onnx"), Prediction.Score);
        Assert.That(m.Model.Convention.IsIdentity);
    }

    [Test]
    public void CudaIsTakenWhereItExistsAndAskingForItWithoutItIsAClearError()
    {
        using var auto = OnnxScoreModel.Load(Fixture("gauss-ours.onnx"), provider: OnnxProvider.Auto);
        Assert.That(auto.ProviderName, Is.AnyOf("cpu", "cuda"));
        if (auto.ProviderName == "cuda")
        {
            // a CUDA build of ONNX Runtime on a CUDA machine: asking for CUDA by name then gives a CUDA session
            using var cuda = OnnxScoreModel.Load(Fixture("gauss-ours.onnx"), provider: OnnxProvider.Cuda);
            Assert.That(cuda.ProviderName, Is.EqualTo("cuda"));
            return;
        }
        var e = Assert.Throws<NotSupportedException>(() => OnnxScoreModel.Load(Fixture("gauss-ours.onnx"), provider: OnnxProvider.Cuda));
        Assert.That(e!.Message, Does.Contain("CUDA execution provider is not available"));
    }

    /// <summary>Runs cldiff in-process; returns its exit code and standard error (standard output is dropped).</summary>
    internal static (int code, string err) Cli(params string[] args)
    {
        var oldErr = Console.Error; var oldOut = Console.Out;
        var err = new StringWriter();
        Console.SetError(err); Console.SetOut(new StringWriter());
        try { return (Program.Main(args), err.ToString()); }
        finally { Console.SetError(oldErr); Console.SetOut(oldOut); }
    }

    [Test]
    public void CldiffSamplesAndScoresAnOnnxModel()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"cldiff-onnx-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string samples = Path.Combine(dir, "x.npy"), scores = Path.Combine(dir, "s.npy");
            var (code, err) = Cli("sample", "--model", Fixture("bad-no-prediction.onnx"), "--prediction", "score", "--sampler", "ei",
                "--steps", "40", "--n", "2000", "--seed", "1", "--out", samples, "--device", "cpu", "--quiet");
            Assert.That(code, Is.EqualTo(0), err);
            var x = Npy.Read(samples).ToFloat32();
            for (int j = 0; j < 3; j++)
            {
                double mean = Enumerable.Range(0, 2000).Average(i => x[3 * i + j]);
                Assert.That(mean, Is.EqualTo(Gauss.Means[0][j]).Within(4 * Math.Sqrt(Gauss.Variances[0][j] / 2000) + 0.02));
            }
            (code, err) = Cli("score", "--model", Fixture("gauss-edm.onnx"), "--points", samples, "--time", "0.5", "--out", scores, "--device", "cpu");
            Assert.That(code, Is.EqualTo(0), err);
            var s = Npy.Read(scores).ToFloat32();
            var want = new double[3]; var scratch = new double[1];
            Gauss.Score([x[0], x[1], x[2]], 0.5, want, scratch);
            for (int j = 0; j < 3; j++) Assert.That(s[j], Is.EqualTo(want[j]).Within(1e-4 * (1 + Math.Abs(want[j]))));
            // refused: a malformed graph, and --prediction on a model that is not ONNX
            string none = Path.Combine(dir, "none.npy");
            (code, err) = Cli("sample", "--model", Fixture("bad-fixed-batch.onnx"), "--n", "10", "--out", none, "--device", "cpu");
            Assert.That(code, Is.Not.EqualTo(0));
            Assert.That(err, Does.Contain("must be dynamic"));
            (code, err) = Cli("sample", "--model", "checkerboard", "--prediction", "eps", "--n", "10", "--out", none, "--device", "cpu");
            Assert.That(code, Is.Not.EqualTo(0));
            Assert.That(err, Does.Contain(".onnx models only"));
            Assert.That(File.Exists(none), Is.False);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// The fixtures are what the script makes: regenerated with Debian's python3-torch (tools/test.sh installs it)
    /// and compared output for output (and load error for load error).
    /// </summary>
    [Test]
    public void ExportScriptStillMakesTheFixtures()
    {
        const string python = "/usr/bin/python3";
        bool ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!File.Exists(python) || RunProcess(python, "-c \"import torch\"", out _) != 0)
        {
            if (ci) Assert.Fail("CI=true but /usr/bin/python3 cannot import torch (tools/test.sh installs python3-torch)");
            Assert.Ignore("no PyTorch at /usr/bin/python3 (apt-get install python3-torch)");
        }
        var dir = Path.Combine(Path.GetTempPath(), $"onnx-export-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            int rc = RunProcess(python, $"\"{RepoFile("tools/onnx/export_models.py")}\" \"{dir}\" \"{RepoFile("models/checkerboard.safetensors")}\"", out var log);
            Assert.That(rc, Is.EqualTo(0), log);
            var fixtures = Directory.GetFiles(Path.GetDirectoryName(Fixture("x"))!, "*.onnx").Select(Path.GetFileName).Order().ToArray();
            Assert.That(Directory.GetFiles(dir, "*.onnx").Select(Path.GetFileName).Order(), Is.EqualTo(fixtures));
            foreach (var name in fixtures)
            {
                string fresh = Path.Combine(dir, name!), kept = Fixture(name!);
                if (name!.StartsWith("bad-"))
                {
                    string Err(string p) { try { OnnxScoreModel.Load(p).Dispose(); return ""; } catch (InvalidDataException e) { return e.Message.Replace(p, ""); } }
                    Assert.That(Err(fresh), Is.EqualTo(Err(kept)).And.Not.Empty, name);
                    continue;
                }
                using var a = OnnxScoreModel.Load(fresh); using var b = OnnxScoreModel.Load(kept);
                var x = Rows(50, a.Dim, 9, 2);
                var t = Enumerable.Range(0, 50).Select(i => 0.01f + 0.1f * i).ToArray();
                Assert.That(Score(a.Model, x, t), Is.EqualTo(Score(b.Model, x, t)), name);
                Assert.That(a.NumClasses, Is.EqualTo(b.NumClasses), name);
                if (a.NumClasses > 0)
                {
                    var labels = Enumerable.Range(0, 50).Select(i => i % (a.NumClasses + 1) - 1).ToArray();
                    float[] sa = new float[x.Length], sb = new float[x.Length];
                    a.Model.Evaluate(x, t, labels, sa); b.Model.Evaluate(x, t, labels, sb);
                    Assert.That(sa, Is.EqualTo(sb), $"{name} with labels");
                }
                Assert.That(a.Metadata, Is.EquivalentTo(b.Metadata), name);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    static int RunProcess(string file, string args, out string output)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(180_000)) { p.Kill(true); output += "\n(timed out after 180 s)"; return -1; }
        output += err.Result;
        return p.ExitCode;
    }
}
