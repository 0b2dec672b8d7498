using ClDiffusion.Backends.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>
/// Programs are compiled once per context and reused from disk on every implementation that returns binaries (PoCL,
/// rusticl); where the disk cache cannot be used the reason is reported, never thrown. Runs on $CLDIFF_TEST_DEVICE too.
/// </summary>
[TestFixture]
public sealed class ProgramCacheTests
{
    const string Src = "kernel void twice(global float* x) { x[get_global_id(0)] *= 2.0f; }";

    [Test]
    public void BinariesRoundTripThroughTheDiskCache()
    {
        var device = OpenClTestBase.RequireDevice();
        var dir = Path.Combine(Path.GetTempPath(), "cldiff-cache-rt-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var ctx = new ClContext(device);
            using (var cache = new ProgramCache(ctx, dir))
            {
                var p = cache.Get("twice.cl", Src, "");
                Assert.That(cache.LastOrigin, Is.EqualTo("source"));
                Assert.That(cache.Get("twice.cl", Src, ""), Is.SameAs(p), "one program per context and source");
                if (cache.DiskSkipped is { } why) Assert.Ignore($"{device.Name}: {why}");
                Assert.That(File.Exists(cache.PathOf(cache.Key(Src, ""))), Is.True);
            }
            using (var cache = new ProgramCache(ctx, dir))
            {
                using var k = cache.Get("twice.cl", Src, "").Kernel("twice");
                Assert.That(cache.LastOrigin, Is.EqualTo("disk"), $"{device.Name} ({device.Platform.Name}) rebuilt a cached program");
            }
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Test]
    public void AnUnwritableCacheIsReportedNotThrown()
    {
        var device = OpenClTestBase.RequireDevice();
        var file = Path.GetTempFileName();   // a file where the cache folder's parent should be
        try
        {
            using var ctx = new ClContext(device);
            using var cache = new ProgramCache(ctx, Path.Combine(file, "cache"));
            using var k = cache.Get("twice.cl", Src, "").Kernel("twice");
            Assert.That(cache.LastOrigin, Is.EqualTo("source"));
            Assert.That(cache.DiskSkipped, Does.Contain("not written"));
        }
        finally { File.Delete(file); }
    }

    [Test]
    public void KernelObjectsAreMadeOncePerBackend()
    {
        // rusticl 22.3 compiles a kernel object again on its first launch: 16.5 ms per launch with a new object each
        // time against 0.8 ms reusing one (docs/DEVICES.md), so the backend must hand out the same object
        using var b = new OpenClBackend(OpenClTestBase.RequireDevice());
        Assert.That(b.K("lincomb"), Is.SameAs(b.K("lincomb")));
        Assert.That(b.Program("sampling.cl"), Is.SameAs(b.Program("sampling.cl")));
    }
}
