using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

[TestFixture]
public sealed class DeviceTests
{
    [Test]
    public void BadDeviceStringsFailClearly()
    {
        var e = Assert.Throws<ArgumentException>(() => BackendFactory.Open("tpu"))!;
        Assert.That(e.Message, Does.Contain("unknown device 'tpu'"));
        Assert.That(e.Message, Does.Contain("opencl:P:D"));
        Assert.Throws<ArgumentException>(() => BackendFactory.Open("opencl:"));
        if (BackendFactory.ListDevices().Count > 0)
        {
            Assert.That(Assert.Throws<ArgumentException>(() => BackendFactory.Open("opencl:99:0"))!.Message, Does.Contain("no OpenCL device 99:0"));
            Assert.That(Assert.Throws<ArgumentException>(() => BackendFactory.Open("opencl:no-such-device-xyz"))!.Message, Does.Contain("no OpenCL device name contains"));
        }
    }

    [Test]
    public void CpuAndListing()
    {
        using (var b = BackendFactory.Open("cpu")) Assert.That(b, Is.InstanceOf<CpuBackend>());
        var list = BackendFactory.ListDevices();
        if (list.Count == 0) { OpenClTestBase.RequireDevice(); return; }
        Assert.That(list.Count(d => d.Auto), Is.EqualTo(1));
        var auto = list.Single(d => d.Auto);
        Assert.That(BackendFactory.Resolve(auto.Selector, out _)!.Name, Is.EqualTo(auto.Device));
        Assert.That(BackendFactory.Resolve("opencl:" + auto.Device[..Math.Min(6, auto.Device.Length)], out _), Is.Not.Null);
        Assert.That(ClDiffusion.Cli.Commands.DevicesCommand.Run(json: true), Is.EqualTo(0));
    }

    [Test]
    public void BuildFailureCarriesTheLogAndCacheSurvivesCorruption()
    {
        var device = OpenClTestBase.RequireDevice();
        var dir = Path.Combine(Path.GetTempPath(), "cldiff-cache-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var ctx = new ClContext(device);
            using (var cache = new ProgramCache(ctx, dir))
            {
                var e = Assert.Throws<OpenClBuildException>(() => cache.Get("broken.cl", "kernel void f(global float* x) { x[0] = undefined_name; }", ""))!;
                Assert.That(e.BuildLog, Does.Contain("undefined_name"));
                Assert.That(e.Message, Does.Contain("CL_BUILD_PROGRAM_FAILURE"));
            }
            const string src = "kernel void g(global float* x) { x[get_global_id(0)] = SCALE; }";
            using (var cache = new ProgramCache(ctx, dir)) { cache.Get("g.cl", src, "-DSCALE=2.0f"); Assert.That(cache.LastOrigin, Is.EqualTo("source")); cache.Get("g.cl", src, "-DSCALE=2.0f"); Assert.That(cache.LastOrigin, Is.EqualTo("memory")); }
            using (var cache = new ProgramCache(ctx, dir)) { cache.Get("g.cl", src, "-DSCALE=2.0f"); Assert.That(cache.LastOrigin, Is.EqualTo("disk")); }
            using (var cache = new ProgramCache(ctx, dir))
            {
                var path = cache.PathOf(cache.Key(src, "-DSCALE=2.0f"));
                var bytes = File.ReadAllBytes(path);
                bytes[^1] ^= 0xFF;                                   // corrupt payload: hash mismatch
                File.WriteAllBytes(path, bytes);
                using var p = cache.Get("g.cl", src, "-DSCALE=2.0f");
                Assert.That(cache.LastOrigin, Is.EqualTo("source"));
            }
            using (var cache = new ProgramCache(ctx, dir))
            {
                File.WriteAllBytes(cache.PathOf(cache.Key(src, "-DSCALE=2.0f")), new byte[] { 1, 2, 3 });   // truncated
                cache.Get("g.cl", src, "-DSCALE=2.0f");
                Assert.That(cache.LastOrigin, Is.EqualTo("source"));
            }
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }
}
