using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>One OpenCL backend (PoCL here, or $CLDIFF_TEST_DEVICE) and one CPU backend per fixture: compiles are slow.</summary>
public abstract class OpenClTestBase
{
    protected OpenClBackend Cl = null!;
    protected CpuBackend Cpu = null!;

    /// <summary>
    /// The device the OpenCL tests run on: $CLDIFF_TEST_DEVICE when set (any device string, e.g. opencl:llvmpipe: tools/test.sh
    /// reruns the agreement tests on every implementation present this way), else the one `--device opencl` takes.
    /// A named device that is missing fails; no device at all is Assert.Ignore (Assert.Fail when CI=true).
    /// </summary>
    public static ClDevice RequireDevice()
    {
        var named = Environment.GetEnvironmentVariable("CLDIFF_TEST_DEVICE");
        if (!string.IsNullOrWhiteSpace(named))
        {
            DeviceChoice c;
            try { c = BackendFactory.Choose(named); }
            catch (ArgumentException e) { Assert.Fail($"CLDIFF_TEST_DEVICE={named}: {e.Message}"); throw; }
            return c.Device ?? throw new AssertionException($"CLDIFF_TEST_DEVICE={named} names no OpenCL device ({c.Reason})");
        }
        ClDevice? d = null;
        try { d = BackendFactory.Resolve("opencl", out _); }
        catch (ArgumentException) { }
        if (d is null)
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
                Assert.Fail($"no OpenCL platform on a CI machine ({BackendFactory.InstallHint})");
            Assert.Ignore($"no OpenCL platform ({BackendFactory.InstallHint})");
        }
        return d!;
    }

    [OneTimeSetUp]
    public void OpenBackends()
    {
        Cl = new OpenClBackend(RequireDevice());
        Cpu = new CpuBackend(2);
    }

    [OneTimeTearDown]
    public void CloseBackends() { Cl?.Dispose(); Cpu?.Dispose(); }

    protected static float[] Rand(int n, int seed, float scale = 1f)
    {
        var r = new System.Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();
    }

    /// <summary>The same data on both backends.</summary>
    protected (IDeviceBuffer cpu, IDeviceBuffer cl) Pair(int rows, int cols, float[]? data = null)
    {
        var a = Cpu.Allocate(rows, cols); var b = Cl.Allocate(rows, cols);
        if (data is not null) { Cpu.Upload(a, data); Cl.Upload(b, data); }
        return (a, b);
    }

    protected static float[] Read(IBackend b, IDeviceBuffer x)
    {
        var o = new float[x.Rows * x.Cols];
        b.Download(x, o);
        return o;
    }

    /// <summary>|cpu - cl| &lt;= abs + rel |cpu| element-wise, with the worst element in the message.</summary>
    protected static void Close(float[] cpu, float[] cl, double rel, double abs = 1e-6, string what = "")
    {
        Assert.That(cl.Length, Is.EqualTo(cpu.Length), what);
        int worst = -1; double worstExcess = 0;
        for (int i = 0; i < cpu.Length; i++)
        {
            double err = Math.Abs((double)cpu[i] - cl[i]), tol = abs + rel * Math.Abs(cpu[i]);
            if (!(err <= tol) && (worst < 0 || err - tol > worstExcess)) { worst = i; worstExcess = err - tol; }
        }
        if (worst >= 0) Assert.Fail($"{what}: element {worst}: cpu {cpu[worst]:R} vs opencl {cl[worst]:R}");
    }

    protected void Close(IDeviceBuffer cpu, IDeviceBuffer cl, double rel, double abs = 1e-6, string what = "") =>
        Close(Read(Cpu, cpu), Read(Cl, cl), rel, abs, what);
}
