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
        var back = TuningDatabase.FromJson(db.ToJson());
        Assert.That(back.Lookup(Small, "langevin", 64)!.Parameters["NB"], Is.EqualTo(4), "exact device");
        Assert.That(back.Lookup(Small, "gmm", 64)!.Parameters["GVW"], Is.EqualTo(8), "vendor default");
        var other = Small with { Vendor = "Other" };
        Assert.That(back.Lookup(other, "gmm", 64)!.Parameters["GVW"], Is.EqualTo(4), "global default");
        Assert.That(back.Lookup(other, "langevin", 64), Is.Null);
        Assert.That(db.ToJson(), Does.Not.Contain("Tried").And.Not.Contain("Outcomes"), "the runtime's database holds best entries only");
    }

    [Test]
    public void HistoryRoundTripsMergesAndSavesAtomically()
    {
        var db = new TuningHistory();
        db.Record(Small.Key, "lincomb d<=16 WG=16 VW=1 WPT=1", new TriedOutcome(true, 2e-4, "OK 64x8"));
        db.Record(Small.Key, "lincomb d<=16 WG=16 VW=2 WPT=1", new TriedOutcome(false, 0, "build: error"));
        var dir = Path.Combine(Path.GetTempPath(), $"cldiff-db-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "db.history.json");
            db.Save(path);
            var back = TuningHistory.Load(path);
            Assert.That(back.WasTried(Small.Key, "lincomb d<=16 WG=16 VW=2 WPT=1"));
            Assert.That(back.OutcomeOf(Small.Key, "lincomb d<=16 WG=16 VW=2 WPT=1")!.Status, Is.EqualTo("build: error"));
            Assert.That(back.OutcomeOf(Small.Key, "lincomb d<=16 WG=16 VW=1 WPT=1")!.Seconds, Is.EqualTo(2e-4));
            var other = new TuningHistory();
            other.Record(Small.Key, "gmm d<=16 WG=16 GVW=1", new TriedOutcome(true, 1e-3, "OK"));
            back.Merge(other);
            Assert.That(back.Tried[Small.Key], Has.Count.EqualTo(3));
            Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(1), "no temporary file left");
            File.WriteAllText(path, "{ not json");
            Assert.Throws<InvalidDataException>(() => TuningHistory.Load(path));
            Assert.That(TuningHistory.PathFor(Path.Combine(dir, "t.json")), Is.EqualTo(Path.Combine(dir, "t.history.json")));
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
            Assert.That(r.Value("gmm", "GVW"), Is.EqualTo(4), "vendor default");
            Assert.That(r.WorkGroups["gmm"], Is.EqualTo(32));
            Assert.That(r.Value("langevin", "NB"), Is.EqualTo(2), "exact device, other shape class as the fallback");
            Assert.That(r.Value("lincomb", "WPT"), Is.EqualTo(4), "global default");
            Assert.That(r.Value("lincomb", "VW"), Is.EqualTo(2));
            Assert.That(r.Value("midpoint", "VW"), Is.EqualTo(4), "the lincomb entry's VW is not the midpoint family's");
            Assert.That(r.Choices.Single(c => c.Kernel == "gmm").Source, Does.Contain("vendor default"));
            Assert.That(r.Choices.Single(c => c.Kernel == "lincomb").Source, Does.Contain("global default"));
            Assert.That(r.Choices.Single(c => c.Kernel == "langevin").Source, Does.Contain("exact device"));

            var x = TuningResolver.Resolve(Small, new OpenClOptions { TuningFile = path, ScoreVectorWidth = 16, WorkGroup = 256 });
            Assert.That(x.Value("gmm", "GVW"), Is.EqualTo(16), "explicit option wins");
            Assert.That(x.WorkGroups, Is.Empty, "an explicit WorkGroup wins for every family");
            Assert.That(x.Value("langevin", "NB"), Is.EqualTo(2), "unset options still come from the database");

            var off = TuningResolver.Resolve(Small, new OpenClOptions { TuningFile = path, UseTuning = false });
            Assert.That(off.Value("gmm", "GVW"), Is.EqualTo(8));
            Assert.That(off.Choices, Is.Empty);

            var none = TuningResolver.Resolve(Small with { Vendor = "Nobody" }, new OpenClOptions { TuningFile = path });
            Assert.That(none.Value("gmm", "GVW"), Is.EqualTo(8), "no entry for this vendor: built-in default");
            Assert.That(none.Value("lincomb", "WPT"), Is.EqualTo(4), "but the global default applies");

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

    [Test]
    public void ADriverUpdateKeepsTheTunedEntryAndAnExactDriverMatchWins()
    {
        var tuned = Small with { DriverVersion = "575.51" };
        var db = new TuningDatabase();
        db.Put(tuned.Key, new("gmm", "d<=64", new() { ["WG"] = 32, ["GVW"] = 2 }, 1));
        db.Put(TuningDatabase.VendorKey("Acme"), new("gmm", "d<=64", new() { ["WG"] = 64, ["GVW"] = 8 }, 1));
        var updated = Small with { DriverVersion = "580.159.04" };
        Assert.That(db.Lookup(updated, "gmm", 64, out var level)!.Parameters["GVW"], Is.EqualTo(2), "a driver update keeps the entry tuned on this model");
        Assert.That(level, Is.EqualTo("same device, tuned with driver 575.51"));
        Assert.That(db.Lookup(updated with { Name = "Other" }, "gmm", 64, out level)!.Parameters["GVW"], Is.EqualTo(8), "another model: the vendor's entry");
        Assert.That(level, Is.EqualTo("vendor default"));

        db.Put(updated.Key, new("gmm", "d<=64", new() { ["WG"] = 16, ["GVW"] = 4 }, 1));
        db.Put((Small with { DriverVersion = "590.1" }).Key, new("gmm", "d<=64", new() { ["WG"] = 16, ["GVW"] = 16 }, 1));
        Assert.That(db.Lookup(updated, "gmm", 64, out level)!.Parameters["GVW"], Is.EqualTo(4), "the exact driver wins when both exist");
        Assert.That(level, Is.EqualTo("exact device"));
        Assert.That(db.Lookup(tuned with { DriverVersion = "585" }, "gmm", 64, out level)!.Parameters["GVW"], Is.EqualTo(16), "no exact match: the newest driver's entry (590.1 > 580.159.04 > 575.51)");
        Assert.That(level, Does.Contain("590.1"));
        db.Put((Small with { DriverVersion = "1.0-old", ComputeUnits = 8 }).Key, new("langevin", "d<=64", new() { ["NB"] = 8 }, 1));
        db.Put((Small with { DriverVersion = "0.9" }).Key, new("langevin", "d<=64", new() { ["NB"] = 2 }, 1));
        Assert.That(db.Lookup(Small with { DriverVersion = "2.0" }, "langevin", 64)!.Parameters["NB"], Is.EqualTo(2), "the same compute-unit count comes before a newer driver");

        // the engine's resolution goes the same way (user file)
        var path = Path.Combine(Path.GetTempPath(), $"cldiff-driver-{Guid.NewGuid():N}.json");
        db.Save(path);
        try
        {
            var r = TuningResolver.Resolve(Small with { DriverVersion = "600" }, new OpenClOptions { TuningFile = path });
            Assert.That(r.Value("gmm", "GVW"), Is.EqualTo(16));
            Assert.That(r.Choices.Single(c => c.Kernel == "gmm").Source, Does.Contain("same device, tuned with driver 590.1"));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void EachFamilyGetsOnlyItsOwnDefines()
    {
        var db = new TuningDatabase();
        db.Put(Small.Key, new("midpoint", "d<=64", new() { ["WG"] = 32, ["VW"] = 8, ["MW"] = 1 }, 1));
        db.Put(Small.Key, new("lincomb", "d<=64", new() { ["WG"] = 64, ["VW"] = 2, ["WPT"] = 2 }, 1));
        db.Put(Small.Key, new("gmm-rows", "d<=64", new() { ["GRW"] = 16, ["GRV"] = 2, ["GRR"] = 1 }, 1));
        var path = Path.Combine(Path.GetTempPath(), $"cldiff-families-{Guid.NewGuid():N}.json");
        db.Save(path);
        try
        {
            var extra = new Dictionary<string, string> { ["GAC"] = "2", ["CLD_TEST_SWITCH"] = "1" };
            var r = TuningResolver.Resolve(Small, new OpenClOptions { TuningFile = path, ExtraDefines = extra });
            Assert.That(r.Defines("midpoint")["VW"], Is.EqualTo("8"));
            Assert.That(r.Defines("lincomb")["VW"], Is.EqualTo("2"), "one family's vector width does not override another's");
            Assert.That(r.Defines("gmm-rows")["GRW"], Is.EqualTo("16"));
            foreach (var f in KernelFamilies.All)
            {
                var own = f.Defines.ToHashSet();
                var got = r.Defines(f.Name).Keys.Where(k => k != "CLD_TEST_SWITCH").ToList();
                Assert.That(got.Where(k => !own.Contains(k)), Is.Empty, $"{f.Name} gets a define of another family: {string.Join(" ", got)}");
                Assert.That(r.Defines(f.Name)["CLD_TEST_SWITCH"], Is.EqualTo("1"), "a define no family owns goes to every program");
            }
            Assert.That(r.Defines("gmm")["GAC"], Is.EqualTo("2"));
            Assert.That(r.Defines("lincomb").ContainsKey("GAC"), Is.False, "an ExtraDefine of the gmm family reaches the gmm program only");
            Assert.That(r.Defines("langevin").ContainsKey("VW"), Is.False);
            Assert.That(r.Defines(KernelFamilies.Sampling).Keys, Is.EqualTo(new[] { "CLD_TEST_SWITCH" }));
            Assert.That(KernelFamilies.OfFile("sampling.cl"), Is.EqualTo(KernelFamilies.Sampling));
            Assert.That(KernelFamilies.FamilyOf("picard_sums"), Is.EqualTo("midpoint"));
            Assert.Throws<ArgumentException>(() => r.Value("langevin", "VW"));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void ADatabaseWrittenBeforeTheSplitReadsAsEntriesAndItsHistory()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"cldiff-legacy-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "old.json");
            File.WriteAllText(path, """
            { "Devices": { "*": [ { "Kernel": "lincomb", "Shape": "d<=64", "Parameters": { "WG": 32 }, "Seconds": 1 } ] },
              "Tried": { "Acme|Tiny|1.0|4": [ "lincomb d<=64 WG=32 VW=4 WPT=1" ] },
              "Outcomes": { "Acme|Tiny|1.0|4": { "lincomb d<=64 WG=32 VW=4 WPT=1": { "Ok": true, "Seconds": 0.5, "Status": "OK" } } } }
            """);
            Assert.That(TuningDatabase.Load(path).Lookup(Small, "lincomb", 64)!.Parameters["WG"], Is.EqualTo(32), "the runtime ignores the old history members");
            var h = TuningHistory.LoadFor(path);
            Assert.That(h.OutcomeOf(Small.Key, "lincomb d<=64 WG=32 VW=4 WPT=1")!.Seconds, Is.EqualTo(0.5), "the tuner still resumes from it");
        }
        finally { Directory.Delete(dir, true); }
    }
}
