using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;
using ClDiffusion.Random;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

[TestFixture]
public sealed class PrimitiveTests : OpenClTestBase
{
    static readonly RandomKey Key = new(0x123456789ABCDEFUL, 7, Purpose.Test);

    [Test]
    public void PhiloxBitsAndUniformsAreBitIdentical([Values(1, 3, 17)] int d)
    {
        int rows = 37; long first = 4_294_967_000L;   // crosses the 32-bit sample wrap
        var bits = Cl.Allocate(rows, d); var uni = Cl.Allocate(rows, d);
        Cl.RawBits(bits, Key, first); Cl.Uniform(uni, Key, first);
        var b = Read(Cl, bits); var u = Read(Cl, uni);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < d; j++)
            {
                var (w0, w1, w2, w3) = Key.Block(first + r, (uint)(j >> 2));
                uint want = (j & 3) switch { 0 => w0, 1 => w1, 2 => w2, _ => w3 };
                Assert.That(BitConverter.SingleToUInt32Bits(b[r * d + j]), Is.EqualTo(want), $"bits r={r} j={j}");
                Assert.That(BitConverter.SingleToUInt32Bits(u[r * d + j]), Is.EqualTo(BitConverter.SingleToUInt32Bits(Key.Uniform(first + r, j))), $"uniform r={r} j={j}");
            }
    }

    [Test]
    public void StratifiedAlphasAreBitIdentical([Values(1, 3, 7)] int R)
    {
        var (a, b) = Pair(53, R);
        Cpu.DrawAlphas(a, Key, 9, AlphaLaw.Stratified, 0.7f); Cl.DrawAlphas(b, Key, 9, AlphaLaw.Stratified, 0.7f);
        var x = Read(Cpu, a); var y = Read(Cl, b);
        for (int i = 0; i < x.Length; i++) Assert.That(BitConverter.SingleToUInt32Bits(y[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(x[i])), $"alpha {i}");
    }

    [Test]
    public void NormalsMatch([Values(1, 3, 17, 64, 72)] int d)
    {
        var (a, b) = Pair(65, d);
        Cpu.Normal(a, Key, 11); Cl.Normal(b, Key, 11);
        Close(a, b, 1e-5, 1e-6, "normal");
    }

    [Test]
    public void LincombMatches([Values(1, 2, 3, 4)] int terms, [Values(1, 17)] int d)
    {
        int rows = 67;
        var xs = Enumerable.Range(0, terms).Select(i => Pair(rows, d, Rand(rows * d, 10 + i))).ToArray();
        float[] coefs = { 0.5f, -1.25f, 3f, 0.1f };
        var (dc, dl) = Pair(rows, d);
        Cpu.Lincomb(dc, xs.Select((x, i) => new Term(coefs[i], x.cpu)).ToArray());
        Cl.Lincomb(dl, xs.Select((x, i) => new Term(coefs[i], x.cl)).ToArray());
        Close(dc, dl, 1e-6, 1e-7, "lincomb");
        // in place: dst aliases the first term
        Cpu.Lincomb(xs[0].cpu, xs.Select((x, i) => new Term(coefs[i], x.cpu)).ToArray());
        Cl.Lincomb(xs[0].cl, xs.Select((x, i) => new Term(coefs[i], x.cl)).ToArray());
        Close(xs[0].cpu, xs[0].cl, 1e-6, 1e-7, "lincomb in place");
    }

    [Test]
    public void CopyRepeatAndMaxAbsDiff()
    {
        int rows = 13, d = 3, m = 5;
        var (sc, sl) = Pair(rows, d, Rand(rows * d, 1));
        var (rc, rl) = Pair(rows * m, d);
        Cpu.RepeatRows(rc, sc, m); Cl.RepeatRows(rl, sl, m);
        Close(rc, rl, 0, 0, "repeat rows");
        var (cc, cl) = Pair(rows, d);
        Cpu.Copy(cc, sc); Cl.Copy(cl, sl);
        Close(cc, cl, 0, 0, "copy");
        var k = Cl.Allocate(rows, d);
        Cl.CopyKernel(k, sl);
        Close(Read(Cpu, sc), Read(Cl, k), 0, 0, "copy kernel");
        var other = Rand(rows * d, 2);
        var (oc, ol) = Pair(rows, d, other);
        Assert.That(Cl.MaxAbsDiff(ol, sl), Is.EqualTo(Cpu.MaxAbsDiff(oc, sc)));
        Assert.That(Cl.MaxAbsDiff(sl, sl), Is.EqualTo(0f));
        // a large buffer: more elements than work items, several groups
        var big = Rand(100_003, 3); var big2 = (float[])big.Clone(); big2[99_999] += 2.5f;
        var (bc, bl) = Pair(1, big.Length, big); var (b2c, b2l) = Pair(1, big.Length, big2);
        Assert.That(Cl.MaxAbsDiff(bl, b2l), Is.EqualTo(Cpu.MaxAbsDiff(bc, b2c)));
    }

    static GaussianMixture Mixture(int d) => GaussianMixture.Preset(d, 5, seed: (ulong)(3 + d));

    [Test]
    public void GaussianMixtureScoreMatches([Values(1, 3, 17, 16, 64)] int d, [Values(false, true)] bool offsets, [Values(false, true)] bool perturbed)
    {
        int rows = 71;
        IScoreModel model = Mixture(d);
        if (perturbed) model = new PerturbedScore(model, 0.3, 1.7);
        using var pc = Cpu.Prepare(model); using var pl = Cl.Prepare(model);
        var (xc, xl) = Pair(rows, d, Rand(rows * d, 5, 3f));
        var (sc, sl) = Pair(rows, d);
        IDeviceBuffer? oc = null, ol = null;
        if (offsets) (oc, ol) = Pair(1, 3, new[] { 0f, 0.4f, 0.9f });
        foreach (float t0 in offsets ? new[] { 0.46f, 1f, 3f } : new[] { 0.01f, 0.5f, 3f })
        {
            Cpu.Score(pc, xc, t0, offsets ? 0.5f : 0f, oc, sc);
            Cl.Score(pl, xl, t0, offsets ? 0.5f : 0f, ol, sl);
            Close(sc, sl, 2e-4, 2e-4, $"score t0={t0}");
        }
    }

    [Test]
    public void RotatedAlphasAreBitIdentical([Values(0f, 0.381966f, 0.9999999f)] float shift)
    {
        var (a, b) = Pair(61, 1);
        Cpu.DrawAlphas(a, Key, 3, AlphaLaw.Rotated, shift); Cl.DrawAlphas(b, Key, 3, AlphaLaw.Rotated, shift);
        var x = Read(Cpu, a); var y = Read(Cl, b);
        for (int i = 0; i < x.Length; i++) Assert.That(BitConverter.SingleToUInt32Bits(y[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(x[i])), $"alpha {i}");
        var (c, _) = Pair(4, 2);
        Assert.Throws<ArgumentException>(() => Cl.DrawAlphas(c, Key, 3, AlphaLaw.Rotated, shift), "R = 2");
        Assert.Throws<ArgumentException>(() => Cl.DrawAlphas(a, Key, 3, AlphaLaw.Rotated, 1f), "a shift of 1");
    }

    [Test]
    public void LogSnrLineMatches([Values(1, 17, 64)] int d)
    {
        // two earlier x0 values per row at their own times (one row with both at the same time: slope 0)
        int rows = 23;
        var rng = new System.Random(5);
        float[] Vals(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var ta = Enumerable.Range(0, rows).Select(r => 0.8f + 0.01f * r).ToArray();
        var tb = Enumerable.Range(0, rows).Select(r => r == 7 ? ta[r] : 0.5f - 0.01f * r).ToArray();
        var da = Vals(rows * d); var db = Vals(rows * d);
        var (ac, al) = Pair(rows, d, da); var (bc, bl) = Pair(rows, d, db);
        var (tac, tal) = Pair(rows, 1, ta); var (tbc, tbl) = Pair(rows, 1, tb);
        var (sc, sl) = Pair(rows, d); var (oc, ol) = Pair(rows, d);
        Cpu.LogSnrLine(oc, sc, ac, tac, bc, tbc, 0.3);
        Cl.LogSnrLine(ol, sl, al, tal, bl, tbl, 0.3);
        Close(sc, sl, 1e-5, 1e-5, "slope");
        Close(oc, ol, 1e-5, 1e-5, "x0 at the step start");
        var slope = Read(Cl, sl); var start = Read(Cl, ol);
        for (int j = 0; j < d; j++)
        {
            Assert.That(slope[7 * d + j], Is.EqualTo(0f), "coinciding times: slope 0");
            Assert.That(start[7 * d + j], Is.EqualTo(db[7 * d + j]), "coinciding times: the newer value");
        }
    }

    [Test]
    public void DrawAlphasMatch([Values(1, 3)] int R)
    {
        var (ac, al) = Pair(41, R);
        Cpu.DrawAlphas(ac, Key, 5, AlphaLaw.Stratified, 0.37f); Cl.DrawAlphas(al, Key, 5, AlphaLaw.Stratified, 0.37f);
        Close(ac, al, 0, 0, "stratified alphas (bit-identical)");
        if (R == 1)
        {
            Cpu.DrawAlphas(ac, Key, 5, AlphaLaw.ExpTilted, 0.37f); Cl.DrawAlphas(al, Key, 5, AlphaLaw.ExpTilted, 0.37f);
            Close(ac, al, 1e-6, 0, "tilted alphas");
        }
        else Assert.Throws<ArgumentException>(() => Cl.DrawAlphas(al, Key, 5, AlphaLaw.ExpTilted, 0.37f));
    }

    [Test]
    public void MidpointPrimitivesMatch([Values(1, 3)] int R, [Values(1, 17, 64)] int d)
    {
        int n = 19; float h = 0.3f;
        var (ac, al) = Pair(n, R);
        Cpu.DrawAlphas(ac, Key, 0, AlphaLaw.Stratified, h); Cl.DrawAlphas(al, Key, 0, AlphaLaw.Stratified, h);
        var (xc, xl) = Pair(n, d, Rand(n * d, 1));
        var (sc, sl) = Pair(n, d, Rand(n * d, 2));
        var (pc, pl) = Pair(n * R, d);
        Cpu.MidpointPredict(pc, xc, sc, ac, h); Cl.MidpointPredict(pl, xl, sl, al, h);
        Close(pc, pl, 1e-6, 1e-6, "midpoint predict");
        var (ssc, ssl) = Pair(n * R, d, Rand(n * R * d, 3));
        Cpu.PicardSums(pc, xc, ssc, ac, h); Cl.PicardSums(pl, xl, ssl, al, h);
        Close(pc, pl, 1e-5, 1e-6, "picard sums");
        Cpu.MidpointFinal(xc, xc, ssc, ac, h); Cl.MidpointFinal(xl, xl, ssl, al, h);   // dst aliases x0 as in the sampler
        Close(xc, xl, 1e-5, 1e-6, "midpoint final");
    }

    [Test]
    public void LangevinScanMatches([Values(1, 3)] int m, [Values(1, 17, 64, 72)] int d)
    {
        int n = 23;
        var key = new RandomKey(42, 65536 * 3, Purpose.LangevinNoise);
        var (xc, xl) = Pair(n, d, Rand(n * d, 1));
        var (vc, vl) = Pair(n, d, Rand(n * d, 2));
        var (sc, sl) = Pair(n * m, d, Rand(n * m * d, 3));
        var (xsc, xsl) = Pair(n * m, d);
        var (oc, ol) = Pair(n, d);
        Cpu.LangevinScan(xc, vc, sc, m, 1.4f, 0.17f, key, 9, xsc, oc, null);
        Cl.LangevinScan(xl, vl, sl, m, 1.4f, 0.17f, key, 9, xsl, ol, null);
        Close(xsc, xsl, 1e-5, 1e-6, "positions"); Close(oc, ol, 1e-5, 1e-5, "x out");
        // in place on x and v, as the sequential corrector calls it
        Cpu.LangevinScan(xc, vc, sc, m, 1.4f, 0.17f, key, 9, null, xc, vc);
        Cl.LangevinScan(xl, vl, sl, m, 1.4f, 0.17f, key, 9, null, xl, vl);
        Close(xc, xl, 1e-5, 1e-5, "x in place"); Close(vc, vl, 1e-5, 1e-5, "v in place");
    }

    [Test]
    public void ShenLeeMatches([Values(1, 3, 17)] int d, [Values(0.05f, 1.5f)] float gamma)
    {
        int n = 29; float h = 0.2f;
        var key = new RandomKey(9, 12, Purpose.LangevinNoise);
        var (ac, al) = Pair(n, 1);
        Cpu.DrawAlphas(ac, key, 0, AlphaLaw.Stratified, h); Cl.DrawAlphas(al, key, 0, AlphaLaw.Stratified, h);
        var (xc, xl) = Pair(n, d, Rand(n * d, 1));
        var (vc, vl) = Pair(n, d, Rand(n * d, 2));
        var (sc, sl) = Pair(n, d, Rand(n * d, 3));
        var (mc, ml) = Pair(n, d);
        Cpu.ShenLeeMidpoint(mc, xc, vc, sc, ac, gamma, h, key, 3); Cl.ShenLeeMidpoint(ml, xl, vl, sl, al, gamma, h, key, 3);
        Close(mc, ml, 1e-5, 1e-6, "Shen-Lee midpoint");
        Cpu.ShenLeeFinal(xc, vc, sc, ac, gamma, h, key, 3); Cl.ShenLeeFinal(xl, vl, sl, al, gamma, h, key, 3);
        Close(xc, xl, 1e-5, 1e-6, "Shen-Lee x"); Close(vc, vl, 1e-5, 1e-6, "Shen-Lee v");
    }

    [Test]
    public void ExpScanMatches([Values(1, 17)] int d)
    {
        int n = 21; var steps = new[] { 0.1f, 0.25f, 0.05f, 0.3f };
        int m = steps.Length;
        var (xc, xl) = Pair(n, d, Rand(n * d, 1));
        var (sc, sl) = Pair(n * m, d, Rand(n * m * d, 2));
        var (xsc, xsl) = Pair(n * m, d);
        var (oc, ol) = Pair(n, d);
        Cpu.ExpScan(xc, sc, steps, xsc, oc); Cl.ExpScan(xl, sl, steps, xsl, ol);
        Close(xsc, xsl, 1e-6, 1e-6, "exp scan positions"); Close(oc, ol, 1e-6, 1e-6, "exp scan end");
    }

    [Test]
    public void ForeignBuffersAndBadShapesAreRejected()
    {
        var c = Cpu.Allocate(3, 2); var l = Cl.Allocate(3, 2); var l2 = Cl.Allocate(2, 2);
        Assert.Throws<ArgumentException>(() => Cl.Copy(l, c));
        Assert.Throws<ArgumentException>(() => Cl.Copy(l, l2));
        Assert.Throws<ArgumentException>(() => Cl.Lincomb(l, Array.Empty<Term>()));
    }

    [Test]
    public void OversizedAllocationSaysHowLargeNMayBe()
    {
        var e = Assert.Throws<OpenClAllocationException>(() => Cl.Allocate(int.MaxValue / 2, 64))!;
        Assert.That(e.Message, Does.Contain("at most"));
        Assert.That(e.Message, Does.Contain("rows"));
    }
}
