using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ClDiffusion.Models.Mlp;

/// <summary>
/// sin and cos of 16 floats at once, for the MLP's time features sin(t f), cos(t f). Scalar MathF.Sin/Cos took 0.3 ms
/// per 4096 rows of 16 frequencies on one core (a tenth of the checkerboard network's GEMMs), and .NET's
/// Vector512.SinCos measured slower still (1.1 ms). Here: x = j pi/2 + r with |r| &lt;= pi/4 (j rounded with the
/// 1.5 * 2^23 shift, pi/2 in three parts with FMAs, exact enough for the |t f| &lt; 1e4 of these models), the Cephes
/// minimax polynomials for sin and cos on r, and the quadrant j mod 4 picking and signing them. Worst absolute error
/// about 1e-7 against float64 (tests/ClDiffusion.Tests/Mlp/SimdMathTests.cs).
/// </summary>
static class SimdSinCos
{
    const float TwoOverPi = 0.636619772f, Shift = 12582912f;
    const float Pio2A = 1.57079637f, Pio2B = -4.37113883e-8f, Pio2C = -1.71512451e-15f;
    const float S1 = -1.6666654611e-1f, S2 = 8.3321608736e-3f, S3 = -1.9515295891e-4f;
    const float C1 = 4.166664568e-2f, C2 = -1.388731625e-3f, C3 = 2.443315711e-5f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector512<float> Sin, Vector512<float> Cos) SinCos(Vector512<float> x)
    {
        var jf = Vector512.FusedMultiplyAdd(x, Vector512.Create(TwoOverPi), Vector512.Create(Shift));
        var j = jf - Vector512.Create(Shift);
        var r = Vector512.FusedMultiplyAdd(j, Vector512.Create(-Pio2A), x);
        r = Vector512.FusedMultiplyAdd(j, Vector512.Create(-Pio2B), r);
        r = Vector512.FusedMultiplyAdd(j, Vector512.Create(-Pio2C), r);
        var r2 = r * r;
        var ps = Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.Create(S3), r2, Vector512.Create(S2)), r2, Vector512.Create(S1));
        var s = Vector512.FusedMultiplyAdd(r * r2, ps, r);
        var pc = Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.Create(C3), r2, Vector512.Create(C2)), r2, Vector512.Create(C1));
        var c = Vector512.FusedMultiplyAdd(r2 * r2, pc, Vector512.FusedMultiplyAdd(r2, Vector512.Create(-0.5f), Vector512<float>.One));
        // quadrant q = j mod 4 (two's complement keeps this right for negative j): sin = s, c, -s, -c; cos = c, -s, -c, s
        var q = jf.AsInt32() - Vector512.Create(Shift).AsInt32();
        var odd = Vector512.Equals(q & Vector512<int>.One, Vector512<int>.One).AsSingle();
        var sinV = Vector512.ConditionalSelect(odd, c, s);
        var cosV = Vector512.ConditionalSelect(odd, s, c);
        var sinSign = ((q & Vector512.Create(2)) << 30).AsSingle();          // quadrants 2, 3 negate sin
        var cosSign = (((q + Vector512<int>.One) & Vector512.Create(2)) << 30).AsSingle(); // quadrants 1, 2 negate cos
        return (sinV ^ sinSign, cosV ^ cosSign);
    }

    /// <summary>sin[i] = sin(t f[i]), cos[i] = cos(t f[i]) (16 at a time, the MathF form for the tail).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TimeFeatures(float t, ReadOnlySpan<float> freqs, Span<float> sin, Span<float> cos)
    {
        int i = 0;
        if (Sgemm.Use512)
            for (; i + 16 <= freqs.Length; i += 16)
            {
                var (s, c) = SinCos(Vector512.Create<float>(freqs.Slice(i, 16)) * t);
                s.CopyTo(sin.Slice(i, 16)); c.CopyTo(cos.Slice(i, 16));
            }
        for (; i < freqs.Length; i++)
        {
            float arg = t * freqs[i];
            sin[i] = MathF.Sin(arg); cos[i] = MathF.Cos(arg);
        }
    }
}
