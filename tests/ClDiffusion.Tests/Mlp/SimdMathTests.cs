using System.Runtime.Intrinsics;
using ClDiffusion.Models.Mlp;
using NUnit.Framework;

namespace ClDiffusion.Tests.Mlp;

public class SimdMathTests
{
    [Test]
    public void VectorExpIsWithinTwoUlpsOfFloat64OverTheFloatRange()
    {
        double worst512 = 0, worst256 = 0;
        for (double x = -87; x <= 88; x += 0.000731)
        {
            float xf = (float)x;
            double e = Math.Exp(xf);
            double ulp = MathF.BitIncrement((float)e) - (float)e;
            worst512 = Math.Max(worst512, Math.Abs(SimdExp.Exp(Vector512.Create(xf))[5] - e) / ulp);
            worst256 = Math.Max(worst256, Math.Abs(SimdExp.Exp(Vector256.Create(xf))[3] - e) / ulp);
        }
        Assert.That(worst512, Is.LessThan(2.0));
        Assert.That(worst256, Is.LessThan(2.0));
    }

    [Test]
    public void SiluMatchesFloat64IncludingSaturationAndTails()
    {
        // 16 + 8 + 3 values: the 16-lane, 8-lane and scalar parts; the extremes saturate (z itself above, -0 below, where
        // the true value is below 1e-36 from z = -89 on)
        var z = new float[4099];
        for (int i = 0; i < z.Length; i++) z[i] = -150f + 300f * i / (z.Length - 1);
        z[7] = 0; z[8] = -1e-30f; z[9] = 1e30f; z[10] = -1e30f;
        var v = (float[])z.Clone();
        SimdExp.Silu(v);
        for (int i = 0; i < z.Length; i++)
        {
            double r = z[i] / (1 + Math.Exp(-(double)z[i]));
            if (double.IsNaN(r)) r = 0; // -1e30 / inf
            Assert.That(v[i], Is.EqualTo(r).Within(4e-7 * Math.Abs(r) + 1e-36), $"SiLU({z[i]})");
        }
    }

    [Test]
    public void VectorSinCosIsWithinTwoTenthsOfAMicroOfFloat64AndTheTailUsesMathF()
    {
        // 16 frequencies through the vector path and 3 more through the scalar tail, times of both signs up to |t f| = 4000
        var freqs = new float[19];
        for (int i = 0; i < freqs.Length; i++) freqs[i] = 0.1f * MathF.Pow(500f, i / 18f);
        var s = new float[19]; var c = new float[19];
        double worst = 0;
        for (float t = -8f; t <= 8f; t += 0.00123f)
        {
            SimdSinCos.TimeFeatures(t, freqs, s, c);
            for (int i = 0; i < freqs.Length; i++)
            {
                double arg = t * freqs[i]; // the float product, as the network's features use it
                arg = (float)arg;
                worst = Math.Max(worst, Math.Max(Math.Abs(s[i] - Math.Sin(arg)), Math.Abs(c[i] - Math.Cos(arg))));
            }
        }
        Assert.That(worst, Is.LessThan(2e-7));
    }
}
