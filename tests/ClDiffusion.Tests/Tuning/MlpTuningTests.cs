using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Tests.OpenCL;
using ClDiffusion.Backends.OpenCL.Tuning;
using ClDiffusion.Tooling.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.Tuning;

/// <summary>The MLP tile family in the tuner: its space on fake devices, and a tiny run on the real device read back by the engine.</summary>
[NonParallelizable]
public class MlpTuningTests
{
    static readonly DeviceDescription Small = new("Acme", "Tiny", "1.0", 4, MaxWorkGroupSize: 64, LocalMemoryBytes: 4096);
    static readonly DeviceDescription Big = new("Acme", "Huge", "1.0", 128, MaxWorkGroupSize: 1024, LocalMemoryBytes: 48 * 1024);

    [Test]
    public void TheMlpFamilyIsRegisteredWithWidthClasses()
    {
        OpenClMlp.Register();
        Assert.That(KernelSpace.All.Select(k => k.Kernel), Does.Contain("mlp"));
        Assert.That(TuningBenchmarks.All.Select(b => b.Kernel), Does.Contain("mlp"));
        Assert.That(KernelSpace.ByName("mlp").PerModel, Is.True);
        Assert.That(KernelSpace.ClassOf("mlp", 128), Is.EqualTo("w<=256"));
        Assert.That(KernelSpace.ClassOf("mlp", 1024), Is.EqualTo("w<=1024"));
        Assert.That(KernelSpace.ClassOf("mlp", 2048), Is.EqualTo("w>1024"));
        Assert.That(KernelSpace.ClassOf("gmm", 64), Is.EqualTo("d<=64"), "other families keep the d classes");
    }

    [Test]
    public void TheSpaceEnumeratesValidConfigsOnlyAndTheDeviceLimitsExcludeLargeTiles()
    {
        var space = KernelSpace.Mlp;
        var small = space.Enumerate(Small, 256).Select(c => MlpTuning.ToConfig(c)).ToList();
        var big = space.Enumerate(Big, 256).Select(c => MlpTuning.ToConfig(c)).ToList();
        Assert.That(small, Is.Not.Empty);
        foreach (var c in small)
        {
            Assert.DoesNotThrow(() => c.Validate(), c.ToString());
            Assert.That(c.WorkGroupSize, Is.LessThanOrEqualTo(64), c.ToString());
            if (c.UseLocal) Assert.That(c.LocalBytes, Is.LessThanOrEqualTo(4096), c.ToString());
            Assert.That(c.Mwi * c.Nwi, Is.LessThanOrEqualTo(MlpTuning.MaxRegisterTile));
        }
        Assert.That(small, Does.Not.Contain(MlpKernelConfig.Gpu), "256 items exceed a 64-item device");
        Assert.That(small, Does.Contain(MlpKernelConfig.Cpu), "one item per group fits anywhere");
        Assert.That(big, Does.Contain(MlpKernelConfig.Gpu));
        Assert.That(big.Count, Is.GreaterThan(small.Count));
        Assert.That(big.Any(c => c.WorkGroupSize > 64));
        // a parameter set that breaks the divisibility rules is never offered
        var bad = new Dictionary<string, int>(MlpTuning.ToParameters(MlpKernelConfig.Gpu)) { ["MWI"] = 8, ["VWM"] = 4, ["MWG"] = 4 };
        Assert.That(space.Valid(bad, Big, 256), Is.False);
    }

    [Test]
    public void TheResolverLeavesTheMlpFamilyToPrepare()
    {
        OpenClMlp.Register();
        var db = new TuningDatabase();
        db.Put(TuningDatabase.GlobalKey, new("mlp", "w<=256", MlpTuning.ToParameters(MlpKernelConfig.Cpu), 1));
        var path = Path.Combine(Path.GetTempPath(), $"cldiff-mlp-{Guid.NewGuid():N}.json");
        db.Save(path);
        try
        {
            var r = TuningResolver.Resolve(Small, new OpenClOptions { TuningFile = path });
            Assert.That(r.Choices.Any(c => c.Kernel == "mlp"), Is.False);
            Assert.That(r.Options.ExtraDefines?.ContainsKey("MWG") ?? false, Is.False, "tiles do not become program-wide defines");
            Assert.That(r.FamilyDefines.Values.Any(d => d.ContainsKey("MWG")), Is.False, "nor any family's defines");
            var e = TuningResolver.Find(Small, new OpenClOptions { TuningFile = path }, "mlp", 128, out var src);
            Assert.That(e, Is.Not.Null);
            Assert.That(src, Does.Contain("global default").And.Contain("w<=256"));
            Assert.That(TuningResolver.Find(Small, new OpenClOptions { TuningFile = path, UseTuning = false }, "mlp", 128, out _), Is.Null);
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void ThePlatformEntryServesEveryPoclCpuAndAnExactModelEntryWins()
    {
        const string pocl = "Portable Computing Language";
        var amd = new DeviceDescription("AuthenticAMD", "pthread-znver5-AMD EPYC", "3.1+debian", 2, 4096, 0, pocl, "cpu");
        var intel = amd with { Vendor = "GenuineIntel", Name = "pthread-skylake-avx512-Intel(R) Xeon(R) Processor" };
        var db = new TuningDatabase();
        db.Put(TuningDatabase.PlatformTypeKey(pocl, "cpu"), new("mlp", "w<=1024", new() { ["MWG"] = 8 }, 1));
        db.Put(intel.Key, new("mlp", "w<=1024", new() { ["MWG"] = 4 }, 1));
        db.Put(TuningDatabase.VendorKey("AuthenticAMD"), new("mlp", "w<=1024", new() { ["MWG"] = 16 }, 1));
        Assert.That(amd.PlatformKey, Is.EqualTo("platform:Portable Computing Language|cpu"));
        Assert.That(db.Lookup(amd, "mlp", 512, out var level)!.Parameters["MWG"], Is.EqualTo(8));
        Assert.That(level, Is.EqualTo("platform default"), "the platform entry comes before the vendor's");
        Assert.That(db.Lookup(intel, "mlp", 512, out level)!.Parameters["MWG"], Is.EqualTo(4));
        Assert.That(level, Is.EqualTo("exact device"));
        Assert.That(db.Lookup(amd with { Type = "gpu" }, "mlp", 512, out level)!.Parameters["MWG"], Is.EqualTo(16), "another device type of the platform: not the CPU entry");
        Assert.That(db.Lookup(amd with { Vendor = "Other", Platform = "" }, "mlp", 512), Is.Null, "no platform known: no platform entry");

        // the shipped database gives any PoCL CPU a measured direct (no local memory) configuration for both width classes
        foreach (int w in new[] { 128, 512 })
        {
            var e = TuningDatabase.Shipped.Lookup(amd with { Name = "pthread-some-other-cpu" }, "mlp", w, out level);
            Assert.That(e, Is.Not.Null, $"width {w}");
            Assert.That(level, Is.EqualTo("platform default"));
            var cfg = MlpTuning.ToConfig(e!.Parameters, MlpKernelConfig.Cpu);
            Assert.That(cfg.UseLocal, Is.False, cfg.ToString());
            Assert.That(cfg.FuseMaxWidth, Is.Zero, cfg.ToString());
            Assert.DoesNotThrow(() => cfg.Validate());
        }
    }

    [Test, Category("Exhaustive")]   // compiles MLP/kernel candidates on PoCL: a minute with a cold kernel cache
    public void ATinyRunIsReadBackByANewBackendAndUsedForAnMlpPrepare()
    {
        var device = OpenClTestBase.RequireDevice();
        OpenClMlp.Register();
        var saved = OpenClMlp.DefaultConfig;
        OpenClMlp.DefaultConfig = null;
        var dir = Path.Combine(Path.GetTempPath(), $"cldiff-mlptune-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "t.json");
            var db = new TuningDatabase();
            var runner = new TuningRunner(device, db, new TuningRunOptions { Strategy = TuningStrategy.Anneal, Budget = 2, Reps = 1, Seed = 5 });
            var shape = new TuningShape(8, 16);
            var rs = runner.Tune("mlp", shape);
            Assert.That(rs, Has.Count.EqualTo(2));
            // the anneal starts at the device's built-in tiles (the defaults also name MLPF_RB and MLPF_WGS, which are not in the grid)
            var start = MlpTuning.ToParameters(MlpKernelConfig.For(device));
            Assert.That(rs[0].Parameters.All(p => start[p.Key] == p.Value), rs[0].ParameterText);
            Assert.That(rs.Any(r => r.Ok), string.Join("\n", rs.Select(r => $"{r.ParameterText}: {r.Status}")));
            var entry = db.Devices[runner.DeviceKey].Single(e => e.Kernel == "mlp");
            Assert.That(entry.Shape, Is.EqualTo("w<=256"));
            db.Save(path);

            var want = MlpTuning.ToConfig(entry.Parameters);
            using var cl = new OpenClBackend(device, new OpenClOptions { TuningFile = path });
            using var prepared = (OpenClMlpScore)cl.Prepare(MlpBench.Model(16));
            Assert.That(prepared.Config, Is.EqualTo(want));
            Assert.That(prepared.ConfigSource, Does.Contain("user file").And.Contain("exact device").And.Contain("w<=256"));

            // the tuned tiles compute the same score as the CPU path
            var bench = TuningBenchmarks.ByName("mlp");
            var again = runner.Measure(bench, shape, entry.Parameters);
            Assert.That(again.Ok, again.Status);

            // explicit DefaultConfig wins over the database
            OpenClMlp.DefaultConfig = MlpKernelConfig.Cpu with { Kwg = 8 };
            using var p2 = (OpenClMlpScore)cl.Prepare(MlpBench.Model(16));
            Assert.That(p2.Config, Is.EqualTo(OpenClMlp.DefaultConfig));
            OpenClMlp.DefaultConfig = null;

            // without tuning: the built-in default of the device
            using var plain = new OpenClBackend(device, new OpenClOptions { UseTuning = false });
            using var p3 = (OpenClMlpScore)plain.Prepare(MlpBench.Model(16));
            Assert.That(p3.Config, Is.EqualTo(MlpKernelConfig.For(device)));
        }
        finally
        {
            OpenClMlp.DefaultConfig = saved;
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
