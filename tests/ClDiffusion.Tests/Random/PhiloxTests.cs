using ClDiffusion.Random;
using NUnit.Framework;

namespace ClDiffusion.Tests.Random;

public class PhiloxTests
{
    // Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).
    [TestCase(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [TestCase(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [TestCase(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void MatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
    {
        Assert.That(Philox.Block(c0, c1, c2, c3, k0, k1), Is.EqualTo((e0, e1, e2, e3)));
    }

    [Test]
    public void UniformsAreStrictlyInsideUnitInterval()
    {
        Assert.That(Philox.ToUniform(0), Is.GreaterThan(0f));
        Assert.That(Philox.ToUniform(uint.MaxValue), Is.LessThan(1f));
    }

    [Test]
    public void NormalsHaveUnitMomentsAndDependOnlyOnTheirCounter()
    {
        var key = new RandomKey(42, 3, Purpose.Test);
        const int n = 200_000;
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) { double z = key.Normal(i / 10, i % 10); s += z; s2 += z * z; }
        Assert.That(s / n, Is.EqualTo(0).Within(5.0 / Math.Sqrt(n)));
        Assert.That(s2 / n, Is.EqualTo(1).Within(5.0 * Math.Sqrt(2.0 / n)));
        var row = new float[7];
        key.Normals(5, row);
        for (int j = 0; j < 7; j++) Assert.That(row[j], Is.EqualTo(key.Normal(5, j)));
        Assert.That(key.Normal(5, 0), Is.Not.EqualTo(key.WithStep(4).Normal(5, 0)));
    }
}
