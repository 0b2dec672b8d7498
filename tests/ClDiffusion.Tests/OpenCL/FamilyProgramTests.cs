using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Tuning;
using ClDiffusion.Random;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>
/// Each kernel family's program is built with its own tunables (issue 23): with a database giving the midpoint family
/// VW = 8 and the lincomb family VW = 2, each kernel's program carries its family's value, and both still match the CPU.
/// </summary>
[NonParallelizable]
public class FamilyProgramTests
{
    [Test]
    public void EachFamilyIsBuiltWithItsOwnVectorWidthAndStillMatchesTheCpu()
    {
        var device = OpenClTestBase.RequireDevice();
        var desc = DeviceDescription.From(device);
        var db = new TuningDatabase();
        db.Put(desc.Key, new("midpoint", "d<=64", new() { ["VW"] = 8, ["MW"] = 2 }, 1));
        db.Put(desc.Key, new("lincomb", "d<=64", new() { ["VW"] = 2, ["WPT"] = 2 }, 1));
        var path = Path.Combine(Path.GetTempPath(), $"cldiff-family-{Guid.NewGuid():N}.json");
        db.Save(path);
        try
        {
            using var cl = new OpenClBackend(device, new OpenClOptions { TuningFile = path });
            using var cpu = new CpuBackend(1);
            string mid = cl.ProgramOptionsOf("midpoint_predict"), lin = cl.ProgramOptionsOf("lincomb");
            Assert.That(mid, Does.Contain("-DVW=8").And.Contain("-DMW=2").And.Not.Contain("WPT").And.Not.Contain("-DNB"));
            Assert.That(lin, Does.Contain("-DVW=2").And.Contain("-DWPT=2").And.Not.Contain("-DMW").And.Not.Contain("-DGVW"));
            Assert.That(cl.ProgramOptionsOf("normal_blocks"), Does.Contain("-DNB=").And.Not.Contain("-DVW"));
            Assert.That(cl.ProgramOptionsOf("fill_random"), Does.Not.Contain("-DVW").And.Not.Contain("-DNB"), "the untuned kernels' program gets no family's tunables");

            int n = 19, d = 64, R = 3; float h = 0.3f;
            var rng = new System.Random(5);
            float[] Rand(int count) => Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            (IDeviceBuffer c, IDeviceBuffer l) Pair(int rows, int cols, float[]? data = null)
            {
                var a = cpu.Allocate(rows, cols); var b = cl.Allocate(rows, cols);
                if (data is not null) { cpu.Upload(a, data); cl.Upload(b, data); }
                return (a, b);
            }
            float MaxDiff(IDeviceBuffer a, IDeviceBuffer b)
            {
                var x = new float[(long)a.Rows * a.Cols]; var y = new float[(long)b.Rows * b.Cols];
                cpu.Download(a, x); cl.Download(b, y);
                return x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
            }
            var key = new RandomKey(7, 0, Purpose.Alpha);
            var (ac, al) = Pair(n, R);
            cpu.DrawAlphas(ac, key, 0, AlphaLaw.Stratified, h); cl.DrawAlphas(al, key, 0, AlphaLaw.Stratified, h);
            var (xc, xl) = Pair(n, d, Rand(n * d));
            var (sc, sl) = Pair(n, d, Rand(n * d));
            var (pc, pl) = Pair(n * R, d);
            cpu.MidpointPredict(pc, xc, sc, ac, h); cl.MidpointPredict(pl, xl, sl, al, h);
            Assert.That(MaxDiff(pc, pl), Is.LessThanOrEqualTo(1e-5f), "midpoint predict with VW = 8, MW = 2");
            var (yc, yl) = Pair(n, d, Rand(n * d));
            var (dc, dl) = Pair(n, d);
            cpu.Lincomb(dc, new[] { new Term(0.5f, xc), new Term(-2f, yc) }); cl.Lincomb(dl, new[] { new Term(0.5f, xl), new Term(-2f, yl) });
            Assert.That(MaxDiff(dc, dl), Is.LessThanOrEqualTo(1e-6f), "lincomb with VW = 2, WPT = 2");
            foreach (var b in new[] { ac, al, xc, xl, sc, sl, pc, pl, yc, yl, dc, dl }) b.Dispose();
        }
        finally { File.Delete(path); }
    }
}
