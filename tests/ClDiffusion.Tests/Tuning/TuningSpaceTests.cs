using ClDiffusion.Tuning;
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
}
