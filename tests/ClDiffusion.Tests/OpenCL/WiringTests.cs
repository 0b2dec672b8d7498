using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Tuning;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>Options that were wired wrong (issue 11): each test failed before its fix.</summary>
public class WiringTests
{
    /// <summary>OpenClOptions.CacheDirectory = "off" used to fall back to the default folder; now no disk cache is used.</summary>
    [Test]
    public void CacheDirectoryOffWritesNoProgramBinaries()
    {
        var device = OpenClTestBase.RequireDevice();
        string dir = Path.Combine(Path.GetTempPath(), $"cldiff-cache-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        string? saved = Environment.GetEnvironmentVariable("CLDIFF_CACHE");
        try
        {
            Environment.SetEnvironmentVariable("CLDIFF_CACHE", dir);   // where a cache that ignored "off" would write
            using var b = new OpenClBackend(device, new OpenClOptions { CacheDirectory = "off" });
            Assert.That(b.Cache.Directory, Is.Null);
            Assert.That(Directory.EnumerateFileSystemEntries(dir), Is.Empty);
            Assert.That(ProgramCache.DirectoryFor("none"), Is.Null);
            Assert.That(ProgramCache.DirectoryFor(null), Is.EqualTo(dir));
            Assert.That(ProgramCache.DirectoryFor("/some/where"), Is.EqualTo("/some/where"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("CLDIFF_CACHE", saved);
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The C ABI's cld_engine_options.tuning_file was checked to exist and then ignored; now the device reads it.</summary>
    [Test]
    public void TheCAbisTuningFileReachesTheOpenClBackend()
    {
        OpenClTestBase.RequireDevice();
        string path = Path.Combine(Path.GetTempPath(), $"cldiff-tuning-{Guid.NewGuid():N}.json");
        var db = new TuningDatabase();
        db.Put(TuningDatabase.GlobalKey, new TuningEntry("lincomb", "d<=64", new Dictionary<string, int> { ["WG"] = 32 }, 1e-3));
        db.Save(path);
        try
        {
            using var tuned = ClDiffusion.Native.Seams.OpenBackend("opencl", 0, path);
            var cl = (OpenClBackend)tuned;
            Assert.That(cl.TuningSource, Does.Contain(path));
            Assert.That(cl.FamilyWorkGroups["lincomb"], Is.EqualTo(Math.Max(16, Math.Min(32, (int)cl.Device.MaxWorkGroupSize))));
            using var plain = (OpenClBackend)ClDiffusion.Native.Seams.OpenBackend("opencl", 0, null);
            Assert.That(plain.TuningSource, Does.Not.Contain(path));
            // the CPU backend takes the engine's thread count (1: the validator refuses more threads than cores)
            using var cpu = ClDiffusion.Native.Seams.OpenBackend("cpu", 1, path);
            Assert.That(cpu.DeviceName, Does.Contain("1 threads"));
        }
        finally { File.Delete(path); }
    }
}
