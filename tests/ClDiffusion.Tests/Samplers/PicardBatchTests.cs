using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

/// <summary>Picard stops each sample on its own change, so its samples do not depend on the batch.</summary>
public class PicardBatchTests
{
    static readonly GaussianMixture Model = GaussianMixture.Preset(6, 3);
    // a tolerance that some samples reach before the window ends and some do not
    static readonly SamplerOptions Opts = new() { Steps = 12, Window = 6, Tolerance = 2e-2 };

    static float[] Draw(IBackend b, long first, int n, int batch)
    {
        var buf = new float[n * Model.Dim];
        SampleRun.Run(b, Model, "picard", Opts, 7, first, n, buf, batch);
        return buf;
    }

    [Test]
    public void SamplesDoNotDependOnTheBatch()
    {
        using var cpu = new CpuBackend(2);
        var all = Draw(cpu, 0, 37, 37);
        var fives = Draw(cpu, 0, 37, 5);
        Assert.That(fives, Is.EqualTo(all), "batch 37 vs batches of 5");
        var slice = Draw(cpu, 20, 10, 10);
        Assert.That(slice, Is.EqualTo(all.AsSpan(20 * Model.Dim, 10 * Model.Dim).ToArray()), "slice [20, 30)");
        var ones = Draw(cpu, 20, 10, 1);
        Assert.That(ones, Is.EqualTo(slice), "one sample at a time");
    }

    [Test]
    public void RowPrimitivesMatchOnTheCpu()
    {
        using var cpu = new CpuBackend(1);
        var a = cpu.Allocate(6, 2); var b = cpu.Allocate(6, 2); var mask = cpu.Allocate(6, 1);
        cpu.Upload(a, new float[] { 0, 0, 1, 1, 0, 0, 0, 0, 5, 0, 0, 0 });
        cpu.Upload(b, new float[] { 0, 0, 0, 3, 0, 0, float.NaN, 0, 0, 0, 0, 0 });
        var d = new float[3];
        cpu.RowMaxAbsDiff(a, b, 2, d);
        Assert.That(d[0], Is.EqualTo(2f)); Assert.That(float.IsNaN(d[1])); Assert.That(d[2], Is.EqualTo(5f));
        cpu.Upload(mask, new float[] { 0, 1, 0, 0, 1, 0 });
        cpu.CopyRowsWhere(a, b, mask);
        var o = new float[12]; cpu.Download(a, o);
        Assert.That(o, Is.EqualTo(new float[] { 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0 }));
    }

    [Test]
    public void OpenClMatchesTheCpu()
    {
        var dev = OpenClTestBase.RequireDevice();
        using var cl = new OpenClBackend(dev);
        using var cpu = new CpuBackend(2);
        var want = Draw(cpu, 0, 37, 37);
        var got = Draw(cl, 0, 37, 37);
        for (int i = 0; i < want.Length; i++)
            Assert.That(got[i], Is.EqualTo(want[i]).Within(1e-3 + 1e-3 * Math.Abs(want[i])), $"element {i}");
        // the row primitives themselves, including a NaN
        var a = cl.Allocate(6, 2); var b = cl.Allocate(6, 2); var mask = cl.Allocate(6, 1);
        cl.Upload(a, new float[] { 0, 0, 1, 1, 0, 0, 0, 0, 5, 0, 0, 0 });
        cl.Upload(b, new float[] { 0, 0, 0, 3, 0, 0, float.NaN, 0, 0, 0, 0, 0 });
        var d = new float[3];
        cl.RowMaxAbsDiff(a, b, 2, d);
        Assert.That(d[0], Is.EqualTo(2f)); Assert.That(float.IsNaN(d[1])); Assert.That(d[2], Is.EqualTo(5f));
        cl.Upload(mask, new float[] { 0, 1, 0, 0, 1, 0 });
        cl.CopyRowsWhere(a, b, mask);
        var o = new float[12]; cl.Download(a, o);
        Assert.That(o, Is.EqualTo(new float[] { 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0 }));
    }
}
