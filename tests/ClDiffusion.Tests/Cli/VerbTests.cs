using System.Reflection;
using ClDiffusion.Cli;
using ClDiffusion.IO;
using ClDiffusion.Tests.OpenCL;
using CommandLine;
using NUnit.Framework;

namespace ClDiffusion.Tests.Cli;

/// <summary>
/// Every verb of cldiff, found by reflection, so a verb added later is covered or fails <see cref="EveryVerbHasAnInvocation"/>:
/// its --help goes to stdout with exit 0 and describes every option, and one small real invocation succeeds.
/// </summary>
[NonParallelizable]
public class VerbTests : TempFolderTests
{
    static IEnumerable<Type> VerbTypes() => typeof(Program).Assembly.GetTypes().Where(t => t.GetCustomAttribute<VerbAttribute>() is not null);
    public static IEnumerable<string> Verbs() => VerbTypes().Select(t => t.GetCustomAttribute<VerbAttribute>()!.Name).Order();

    internal static (int code, string stdout, string stderr) Run(params string[] args)
    {
        var oldErr = Console.Error; var oldOut = Console.Out;
        var err = new StringWriter(); var outw = new StringWriter();
        Console.SetError(err); Console.SetOut(outw);
        try { return (Program.Main(args), outw.ToString(), err.ToString()); }
        finally { Console.SetError(oldErr); Console.SetOut(oldOut); }
    }

    [TestCaseSource(nameof(Verbs))]
    public void HelpGoesToStdoutAndListsEveryOption(string verb)
    {
        var (code, stdout, stderr) = Run(verb, "--help");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Is.Empty);
        var type = VerbTypes().Single(t => t.GetCustomAttribute<VerbAttribute>()!.Name == verb);
        foreach (var p in type.GetProperties())
            if (p.GetCustomAttribute<OptionAttribute>() is { } o)
                Assert.That(stdout, Does.Contain("--" + o.LongName), $"{verb} --help misses --{o.LongName}");
    }

    [TestCaseSource(nameof(Verbs))]
    public void EveryOptionIsDescribed(string verb)
    {
        var type = VerbTypes().Single(t => t.GetCustomAttribute<VerbAttribute>()!.Name == verb);
        Assert.That(type.GetCustomAttribute<VerbAttribute>()!.HelpText, Is.Not.Empty, $"{verb} has no summary");
        var bare = type.GetProperties().Select(p => (p, o: (BaseAttribute?)p.GetCustomAttribute<OptionAttribute>() ?? p.GetCustomAttribute<ValueAttribute>()))
            .Where(x => x.o is not null && string.IsNullOrWhiteSpace(x.o.HelpText)).Select(x => x.p.Name).ToList();
        Assert.That(bare, Is.Empty, $"{verb}: options without a description");
    }

    [Test]
    public void TopLevelHelpAndVersionGoToStdout()
    {
        var (code, stdout, stderr) = Run("--help");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(stderr, Is.Empty);
        foreach (var v in Verbs()) Assert.That(stdout, Does.Contain(v));
        (code, stdout, _) = Run("--version");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(stdout.Trim(), Does.Contain(ClDiffusion.Version.Text));
    }

    [Test]
    public void ParseErrorsGoToStderrWithNonZeroExit()
    {
        var (code, stdout, stderr) = Run("sample", "--no-such-option");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stdout, Is.Empty);
        Assert.That(stderr, Does.Contain("no-such-option"));
        (code, stdout, stderr) = Run("no-such-verb");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stdout, Is.Empty);
        Assert.That(stderr, Does.Contain("no-such-verb"));
    }

    /// <summary>One small, real call of each verb; {dir} is a fresh folder. OpenCL-only verbs need a device.</summary>
    static readonly Dictionary<string, (bool openCl, string[] args)> Invocations = new()
    {
        ["demo"] = (false, ["demo", "--device", "cpu", "--n", "200", "--png", "{dir}/d.png", "--fashion-png", "{dir}/f.png"]),
        ["sample"] = (false, ["sample", "--preset", "mix4-2", "--sampler", "ei", "--steps", "4", "--n", "50", "--device", "cpu", "--out", "{dir}/a.npy", "--report", "{dir}/r.json"]),
        ["eval"] = (false, ["eval", "--preset", "mix4-2", "--samples", "{dir}/a.npy"]),
        ["merge"] = (false, ["merge", "--out", "{dir}/m.npy", "{dir}/a.npy", "{dir}/a.npy"]),
        ["devices"] = (false, ["devices"]),
        ["selftest"] = (false, ["selftest", "--device", "cpu", "--n", "8"]),
        ["bench"] = (false, ["bench", "--device", "cpu", "--count", "32", "--steps", "2", "--dims", "4", "--samplers", "ei", "--runs", "1"]),
        ["mlpbench"] = (true, ["mlpbench", "--widths", "16", "--batches", "64", "--reps", "1"]),
        ["tune"] = (true, ["tune", "--kernel", "lincomb", "--shapes", "256x8", "--budget", "1", "--reps", "1", "--compare", "0", "--out", "{dir}/t.json"]),
        ["experiment"] = (false, ["experiment", "--preset", "mix4-2", "--samplers", "ei", "--step-list", "3", "--n", "50", "--device", "cpu"]),
        ["scaling"] = (false, ["scaling", "--part", "scaling", "--samplers", "ei", "--dims", "2", "--seeds", "1", "--max-steps", "16", "--device", "cpu", "--out", "{dir}"]),
        ["train"] = (false, ["train", "--data", "checkerboard", "--steps", "3", "--width", "8", "--depth", "1", "--batch", "16", "--out", "{dir}/m.safetensors", "--loss-log", "{dir}/loss.csv"]),
        ["score"] = (false, ["score", "--model", "checkerboard", "--x", "{dir}/p.npy", "--t", "0.5", "--out", "{dir}/s.npy", "--device", "cpu"]),
        ["samplers"] = (false, ["samplers"]),
        ["check"] = (false, ["check", "--model", "checkerboard", "--sampler", "ei", "--steps", "4", "--n", "50", "--device", "cpu"]),
        ["image-eval"] = (false, ["image-eval", "--samples", "{dir}/img.npy", "--labels", "{dir}/img-labels.txt"]),
    };

    [Test]
    public void EveryVerbHasAnInvocation() =>
        Assert.That(Invocations.Keys.Order(), Is.EqualTo(Verbs()), "add a small real call of each new verb to VerbTests.Invocations");

    /// <summary>Every verb; mlpbench in the Exhaustive category (it compiles the MLP kernels on PoCL: a minute with a cold cache).</summary>
    static IEnumerable<TestCaseData> VerbCases() =>
        Verbs().Select(v => v == "mlpbench" ? new TestCaseData(v).SetCategory("Exhaustive") : new TestCaseData(v));

    [TestCaseSource(nameof(VerbCases))]
    public void SmallRealInvocationSucceeds(string verb)
    {
        if (!Invocations.TryGetValue(verb, out var inv)) Assert.Fail($"no invocation for {verb}");
        if (inv.openCl) OpenClTestBase.RequireDevice();
        if (verb == "image-eval") ImageEvalTests.WriteTestImages(dir, 50, "img");
        // inputs some verbs read: a sample file and points in the checkerboard's data space
        Assert.That(Run("sample", "--preset", "mix4-2", "--steps", "2", "--n", "20", "--device", "cpu", "--quiet", "--out", Path.Combine(dir, "a.npy")).code, Is.EqualTo(0));
        Npy.Write(Path.Combine(dir, "p.npy"), [0.1f, -0.2f, 1.5f, 0.3f, -1f, 2f], 3, 2);
        var before = Directory.GetFiles(dir).ToHashSet();
        var (code, stdout, stderr) = Run(inv.args.Select(a => a.Replace("{dir}", dir)).ToArray());
        Assert.That(code, Is.EqualTo(0), $"cldiff {string.Join(' ', inv.args)}\n{stderr}");
        Assert.That(stdout + stderr, Is.Not.Empty);
        foreach (var a in inv.args.Where(a => a.StartsWith("{dir}/") && !a.EndsWith("a.npy") && !a.EndsWith("p.npy")))
            Assert.That(File.Exists(a.Replace("{dir}", dir)), $"{verb} did not write {a}");
        if (verb == "score")
        {
            var s = Npy.Read(Path.Combine(dir, "s.npy"));
            Assert.That(s.Shape, Is.EqualTo(new[] { 3, 2 }));
            Assert.That(s.ToFloat32().All(float.IsFinite));
        }
        if (verb == "sample")
        {
            // the report names options as users spell them, and has no empty metrics without --eval
            var report = File.ReadAllText(Path.Combine(dir, "r.json"));
            Assert.That(report, Does.Contain("\"block_length\"").And.Contain("\"corrector_steps\""));
            Assert.That(report, Does.Not.Contain("OrDefault").And.Not.Contain("\"metrics\""));
        }
        if (verb == "demo")
        {
            Assert.That(stdout, Does.Contain("within noise").Or.Contain("above noise"));
            Assert.That(stdout, Does.Contain(Path.Combine(dir, "d.png")).And.Contain(Path.Combine(dir, "f.png")));
        }
        if (verb == "scaling") Assert.That(Directory.GetFiles(dir).Except(before).Any(f => f.EndsWith(".csv")), "scaling wrote no CSV into --out");
        // mlpbench times what the engine would run (the tuning database's choice, else the built-in default), verified first
        if (verb == "mlpbench") Assert.That(stdout, Does.Match(@"config .* \((shipped|user file|built-in default)[^)]*\): worst relative error vs float64 reference .* OK"));
    }

    [Test]
    public void TuneKeyPlatformStoresTheEntryForEveryDeviceOfThePlatform()
    {
        var device = OpenClTestBase.RequireDevice();
        var path = Path.Combine(dir, "t.json");
        var (code, stdout, stderr) = Run("tune", "--kernel", "lincomb", "--shapes", "256x8", "--budget", "1", "--reps", "1", "--compare", "0", "--key", "platform", "--out", path);
        Assert.That(code, Is.EqualTo(0), stderr);
        var desc = ClDiffusion.Backends.OpenCL.Tuning.DeviceDescription.From(device);
        var db = ClDiffusion.Backends.OpenCL.Tuning.TuningDatabase.Load(path);
        Assert.That(db.Devices.Keys, Is.EqualTo(new[] { desc.PlatformKey }), stdout);
        Assert.That(db.Devices[desc.PlatformKey!].Single().Kernel, Is.EqualTo("lincomb"));
        var history = ClDiffusion.Tooling.OpenCL.TuningHistory.Load(Path.Combine(dir, "t.history.json"));
        Assert.That(history.Tried.Keys, Is.EqualTo(new[] { desc.Key }), "the history stays under the exact device, in its own file beside the database");
        Assert.That(File.ReadAllText(path), Does.Not.Contain("Tried").And.Not.Contain("Outcomes"), "the database holds best entries only");
        Assert.That(db.Lookup(desc with { Name = "another model" }, "lincomb", 8, out var level), Is.Not.Null);
        Assert.That(level, Is.EqualTo("platform default"));

        (code, _, stderr) = Run("tune", "--kernel", "lincomb", "--shapes", "256x8", "--budget", "1", "--key", "vendor", "--out", path);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr, Does.Contain("--key"));
    }
}
