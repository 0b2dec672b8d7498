using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Tests.OpenCL;
using ClDiffusion.Backends.OpenCL.Tuning;
using ClDiffusion.Tooling.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.Tuning;

/// <summary>The candidate runner on the real OpenCL device (PoCL here): tiny shapes, small budgets.</summary>
[NonParallelizable]
public class TuningRunnerTests : TempFolderTests
{
    ClDevice device = null!;
    static readonly TuningShape Tiny = new(64, 8);

    [OneTimeSetUp] public void Open() => device = OpenClTestBase.RequireDevice();

    TuningRunner Runner(TuningDatabase db, IReadOnlyDictionary<string, string>? extra = null, int? budget = null) =>
        new(device, db, new TuningRunOptions { Strategy = TuningStrategy.Anneal, Budget = budget, Reps = 2, Seed = 3,
            BaseOptions = extra is null ? null : new OpenClOptions { ExtraDefines = extra } });

    [Test]
    public void ACorrectCandidatePassesTheCheckAndIsTimed()
    {
        var bench = TuningBenchmarks.ByName("lincomb");
        var r = Runner(new()).Measure(bench, Tiny, bench.Defaults());
        Assert.That(r.Ok, Is.True, r.Status);
        Assert.That(r.Seconds, Is.GreaterThan(0));
        Assert.That(r.GBPerSecond, Is.GreaterThan(0));
    }

    [Test, Category("Exhaustive")]   // compiles MLP/kernel candidates on PoCL: a minute with a cold kernel cache
    public void AWrongResultIsRejectedAndRecordedNotFatal()
    {
        var db = new TuningDatabase();
        var runner = Runner(db, new Dictionary<string, string> { ["CLD_TEST_CORRUPT"] = "1" }, budget: 2);
        var rs = runner.Tune("lincomb", Tiny);
        Assert.That(rs, Has.Count.EqualTo(2));
        Assert.That(rs.All(r => !r.Ok && r.Status.StartsWith("wrong result")), string.Join("\n", rs.Select(r => r.Status)));
        Assert.That(runner.History.Outcomes[runner.DeviceKey].Values.All(o => !o.Ok && o.Status.Contains("wrong result")));
        Assert.That(db.Devices.ContainsKey(runner.DeviceKey), Is.False, "no failing candidate becomes an entry");
    }

    [Test]
    public void AWritePastTheOutputIsCaughtByTheGuardRows()
    {
        var bench = TuningBenchmarks.ByName("lincomb");
        var r = Runner(new(), new Dictionary<string, string> { ["CLD_TEST_OVERRUN"] = "1" }).Measure(bench, Tiny, bench.Defaults());
        Assert.That(r.Ok, Is.False);
        Assert.That(r.Status, Does.StartWith("guard"));
        Assert.That(r.Status, Does.Contain("guard row 0 col 0"));
    }

    [Test, Category("Exhaustive")]   // compiles MLP/kernel candidates on PoCL: a minute with a cold kernel cache
    public void ASecondRunWithTheSameBudgetTriesNoCandidateTwice()
    {
        var path = Path.Combine(dir, "t.json");
        var db = new TuningDatabase();
        var r1 = Runner(db, budget: 2);
        var first = r1.Tune("lincomb", Tiny);
        db.Save(path);
        r1.History.Save(TuningHistory.PathFor(path));
        var again = TuningDatabase.Load(path);
        var history = TuningHistory.LoadFor(path);
        var second = new TuningRunner(device, again, new TuningRunOptions { Strategy = TuningStrategy.Anneal, Budget = 2, Reps = 2, Seed = 3 }, history).Tune("lincomb", Tiny);
        Assert.That(first, Has.Count.EqualTo(2)); Assert.That(second, Has.Count.EqualTo(2));
        var a = first.Select(r => r.ParameterText).ToList(); var b = second.Select(r => r.ParameterText).ToList();
        Assert.That(a.Concat(b).Distinct().Count(), Is.EqualTo(4), $"first {string.Join(", ", a)}; second {string.Join(", ", b)}");
        var key = new TuningRunner(device, again).DeviceKey;
        Assert.That(history.Tried[key], Has.Count.EqualTo(4));
        var best = again.Devices[key].Single(e => e.Kernel == "lincomb" && e.Shape == Tiny.ShapeClass);
        Assert.That(best.Seconds, Is.EqualTo(history.Outcomes[key].Values.Where(o => o.Ok).Min(o => o.Seconds)), "the entry is the fastest of both runs");
    }

    string UserDb(DeviceDescription d)
    {
        var db = new TuningDatabase();
        db.Put(d.Key, new("gmm", "d<=64", new() { ["WG"] = 32, ["GVW"] = 2 }, 1e-3));
        db.Put(d.Key, new("langevin", "d<=64", new() { ["WG"] = 16, ["NB"] = 4 }, 1e-3));
        var path = Path.Combine(dir, "user.json");
        db.Save(path);
        return path;
    }

    void AssertUses(OpenClBackend b, string path)
    {
        Assert.That(b.Tunable("gmm", "GVW"), Is.EqualTo(2));
        Assert.That(b.Tunable("langevin", "NB"), Is.EqualTo(4));
        Assert.That(b.WorkGroupOf("gmm_score_vec"), Is.EqualTo(32));
        Assert.That(b.WorkGroupOf("langevin_blocks"), Is.EqualTo(16));
        Assert.That(b.TuningSource, Does.Contain(path).And.Contain("exact device"));
        Assert.That(b.TuningChoices.Single(c => c.Kernel == "gmm").Parameters["GVW"], Is.EqualTo(2));
    }

    [Test]
    public void TheEngineReadsTheUserFileFromOptions()
    {
        var path = UserDb(DeviceDescription.From(device));
        using var b = new OpenClBackend(device, new OpenClOptions { TuningFile = path });
        AssertUses(b, path);
    }

    [Test]
    public void TheEngineReadsTheUserFileFromTheEnvironment()
    {
        var path = UserDb(DeviceDescription.From(device));
        var old = Environment.GetEnvironmentVariable("CLDIFF_TUNING");
        Environment.SetEnvironmentVariable("CLDIFF_TUNING", path);
        try
        {
            using var b = new OpenClBackend(device);
            AssertUses(b, path);
        }
        finally { Environment.SetEnvironmentVariable("CLDIFF_TUNING", old); }
    }
}
