using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Tuning;
using ClDiffusion.Tooling.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.Tuning;

public class TuningSpaceTests
{
    static readonly DeviceDescription Small = new("Acme", "Tiny", "1.0", 4, 64, 16384);

    [Test]
    public void EnumerationRespectsTheFakeDevice()
    {
        var gmm = KernelSpace.Gmm.Enumerate(Small, 24).ToList();
        Assert.That(gmm, Is.Not.Empty);
        Assert.That(gmm.All(c => c["WG"] <= 64 && 24 % c["GVW"] == 0));
        Assert.That(gmm.Select(c => c["GVW"]).Distinct(), Is.EquivalentTo(new[] { 1, 2, 4, 8 }));
        Assert.That(gmm.Count, Is.EqualTo(3 * 4));   // WG 16, 32, 64 x GVW 1, 2, 4, 8
        Assert.That(KernelSpace.Langevin.Enumerate(Small, 17), Is.Empty, "no block path when d % 4 != 0");
        Assert.That(KernelSpace.Langevin.Enumerate(Small, 8).All(c => c["NB"] <= 2));
        Assert.That(KernelSpace.Midpoint.Enumerate(Small, 64).All(c => c["MW"] * c["VW"] <= 64 && c["WG"] <= 64));
    }

    [Test]
    public void DatabaseRoundTripsAndFallsBack()
    {
        var db = new TuningDatabase();
        db.Put(TuningDatabase.GlobalKey, new("gmm", "d<=64", new() { ["WG"] = 64, ["GVW"] = 4 }, 1));
        db.Put(TuningDatabase.VendorKey("Acme"), new("gmm", "d<=64", new() { ["WG"] = 32, ["GVW"] = 8 }, 1));
        db.Put(Small.Key, new("langevin", "d<=64", new() { ["WG"] = 16, ["NB"] = 4 }, 1));
        db.Tried[Small.Key] = new() { "gmm d<=64 WG=16 GVW=1" };
        var back = TuningDatabase.FromJson(db.ToJson());
        Assert.That(back.Lookup(Small, "langevin", 64)!.Parameters["NB"], Is.EqualTo(4), "exact device");
        Assert.That(back.Lookup(Small, "gmm", 64)!.Parameters["GVW"], Is.EqualTo(8), "vendor default");
        var other = Small with { Vendor = "Other" };
        Assert.That(back.Lookup(other, "gmm", 64)!.Parameters["GVW"], Is.EqualTo(4), "global default");
        Assert.That(back.Lookup(other, "langevin", 64), Is.Null);
        Assert.That(back.Tried[Small.Key], Is.EqualTo(new[] { "gmm d<=64 WG=16 GVW=1" }));
    }

    [Test]
    public void OutcomesRoundTripMergeAndSaveAtomically()
    {
        var db = new TuningDatabase();
        db.Record(Small.Key, "lincomb d<=16 WG=16 VW=1 WPT=1", new TriedOutcome(true, 2e-4, "OK 64x8"));
        db.Record(Small.Key, "lincomb d<=16 WG=16 VW=2 WPT=1", new TriedOutcome(false, 0, "build: error"));
        var dir = Path.Combine(Path.GetTempPath(), $"cldiff-db-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "db.json");
            db.Save(path);
            var back = TuningDatabase.Load(path);
            Assert.That(back.WasTried(Small.Key, "lincomb d<=16 WG=16 VW=2 WPT=1"));
            Assert.That(back.OutcomeOf(Small.Key, "lincomb d<=16 WG=16 VW=2 WPT=1")!.Status, Is.EqualTo("build: error"));
            Assert.That(back.OutcomeOf(Small.Key, "lincomb d<=16 WG=16 VW=1 WPT=1")!.Seconds, Is.EqualTo(2e-4));
            var other = new TuningDatabase();
            other.Record(Small.Key, "gmm d<=16 WG=16 GVW=1", new TriedOutcome(true, 1e-3, "OK"));
            back.Merge(other);
            Assert.That(back.Tried[Small.Key], Has.Count.EqualTo(3));
            Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(1), "no temporary file left");
            File.WriteAllText(path, "{ not json");
            Assert.Throws<InvalidDataException>(() => TuningDatabase.Load(path));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void ResolverFallsBackAndExplicitOptionsWin()
    {
        var db = new TuningDatabase();
        db.Put(TuningDatabase.GlobalKey, new("lincomb", "d<=64", new() { ["WG"] = 128, ["VW"] = 2, ["WPT"] = 4 }, 1));
        db.Put(TuningDatabase.VendorKey("Acme"), new("gmm", "d<=64", new() { ["WG"] = 32, ["GVW"] = 4 }, 1));
        db.Put(Small.Key, new("langevin", "d<=256", new() { ["WG"] = 16, ["NB"] = 2 }, 1));
        var path = Path.Combine(Path.GetTempPath(), $"cldiff-user-{Guid.NewGuid():N}.json");
        db.Save(path);
        try
        {
            var r = TuningResolver.Resolve(Small, new OpenClOptions { TuningFile = path });
            Assert.That(r.Options.ScoreVectorWidth, Is.EqualTo(4), "vendor default");
            Assert.That(r.WorkGroups["gmm"], Is.EqualTo(32));
            Assert.That(r.Options.NoiseBlocks, Is.EqualTo(2), "exact device, other shape class as the fallback");
            Assert.That(r.Options.WorkPerItem, Is.EqualTo(4), "global default");
            Assert.That(r.Options.VectorWidth, Is.EqualTo(2));
            Assert.That(r.Choices.Single(c => c.Kernel == "gmm").Source, Does.Contain("vendor default"));
            Assert.That(r.Choices.Single(c => c.Kernel == "lincomb").Source, Does.Contain("global default"));
            Assert.That(r.Choices.Single(c => c.Kernel == "langevin").Source, Does.Contain("exact device"));

            var x = TuningResolver.Resolve(Small, new OpenClOptions { TuningFile = path, ScoreVectorWidth = 16, WorkGroup = 256 });
            Assert.That(x.Options.ScoreVectorWidth, Is.EqualTo(16), "explicit option wins");
            Assert.That(x.WorkGroups, Is.Empty, "an explicit WorkGroup wins for every family");
            Assert.That(x.Options.NoiseBlocks, Is.EqualTo(2), "unset options still come from the database");

            var off = TuningResolver.Resolve(Small, new OpenClOptions { TuningFile = path, UseTuning = false });
            Assert.That(off.Options.ScoreVectorWidth, Is.EqualTo(8));
            Assert.That(off.Choices, Is.Empty);

            var none = TuningResolver.Resolve(Small with { Vendor = "Nobody" }, new OpenClOptions { TuningFile = path });
            Assert.That(none.Options.ScoreVectorWidth, Is.EqualTo(8), "no entry for this vendor: built-in default");
            Assert.That(none.Options.WorkPerItem, Is.EqualTo(4), "but the global default applies");

            Assert.Throws<FileNotFoundException>(() => TuningResolver.Resolve(Small, new OpenClOptions { TuningFile = path + ".missing" }));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void NeighboursMoveOneParameterOneStep()
    {
        var c = new Dictionary<string, int> { ["WG"] = 32, ["VW"] = 4, ["WPT"] = 1 };
        var n = KernelSpace.Lincomb.Neighbours(c, Small, 64).ToList();
        Assert.That(n.Select(x => KernelSpace.Lincomb.CandidateKey("d<=64", x)), Is.EquivalentTo(new[]
        {
            "lincomb d<=64 WG=16 VW=4 WPT=1", "lincomb d<=64 WG=64 VW=4 WPT=1",
            "lincomb d<=64 VW=2 WG=32 WPT=1".Replace("VW=2 WG=32", "WG=32 VW=2"), "lincomb d<=64 WG=32 VW=8 WPT=1",
            "lincomb d<=64 WG=32 VW=4 WPT=2",
        }));
    }
}
