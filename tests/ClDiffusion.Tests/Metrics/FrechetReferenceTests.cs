using ClDiffusion.Metrics;
using NUnit.Framework;

namespace ClDiffusion.Tests.Metrics;

/// <summary>
/// The Frechet distance of the metrics (GaussianDistances.W2Squared, SampleStats.FrechetDistance, used by the image
/// metric of docs/IMAGES.md) against float64 references written independently here: the 2 x 2 closed form for
/// non-commuting covariances, and in d dimensions a Denman-Beavers square root of S0 S1 with the moments computed by
/// plain loops.
/// </summary>
[TestFixture]
public class FrechetReferenceTests
{
    static double[,] RandomSpd(int d, System.Random r, double ridge)
    {
        var a = new double[d, d];
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) a[i, j] = r.NextDouble() - 0.5;
        var s = new double[d, d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double acc = i == j ? ridge : 0;
                for (int k = 0; k < d; k++) acc += a[i, k] * a[j, k];
                s[i, j] = acc;
            }
        return s;
    }

    static double[,] Mul(double[,] a, double[,] b)
    {
        int n = a.GetLength(0);
        var c = new double[n, n];
        for (int i = 0; i < n; i++) for (int k = 0; k < n; k++) { double v = a[i, k]; for (int j = 0; j < n; j++) c[i, j] += v * b[k, j]; }
        return c;
    }

    static double[,] Inverse(double[,] m)
    {
        int n = m.GetLength(0);
        var a = new double[n, 2 * n];
        for (int i = 0; i < n; i++) { for (int j = 0; j < n; j++) a[i, j] = m[i, j]; a[i, n + i] = 1; }
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(a[r, c]) > Math.Abs(a[p, c])) p = r;
            for (int j = 0; j < 2 * n; j++) (a[c, j], a[p, j]) = (a[p, j], a[c, j]);
            double inv = 1 / a[c, c];
            for (int j = 0; j < 2 * n; j++) a[c, j] *= inv;
            for (int r = 0; r < n; r++)
                if (r != c) { double f = a[r, c]; for (int j = 0; j < 2 * n; j++) a[r, j] -= f * a[c, j]; }
        }
        var o = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) o[i, j] = a[i, n + j];
        return o;
    }

    /// <summary>tr sqrt(A) for A = S0 S1 (similar to S1^1/2 S0 S1^1/2, eigenvalues > 0) by the Denman-Beavers iteration.</summary>
    static double TraceSqrt(double[,] a)
    {
        int n = a.GetLength(0);
        var y = (double[,])a.Clone();
        var z = new double[n, n];
        for (int i = 0; i < n; i++) z[i, i] = 1;
        for (int it = 0; it < 100; it++)
        {
            var yi = Inverse(y); var zi = Inverse(z);
            double change = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double ny = 0.5 * (y[i, j] + zi[i, j]), nz = 0.5 * (z[i, j] + yi[i, j]);
                    change = Math.Max(change, Math.Abs(ny - y[i, j]));
                    y[i, j] = ny; z[i, j] = nz;
                }
            if (change < 1e-15) break;
        }
        double t = 0;
        for (int i = 0; i < n; i++) t += y[i, i];
        return t;
    }

    static double Reference(double[] m0, double[,] s0, double[] m1, double[,] s1)
    {
        int d = m0.Length;
        double dm = 0, tr = 0;
        for (int i = 0; i < d; i++) { dm += (m0[i] - m1[i]) * (m0[i] - m1[i]); tr += s0[i, i] + s1[i, i]; }
        return dm + tr - 2 * TraceSqrt(Mul(s0, s1));
    }

    static (double[] mean, double[,] cov) Moments(float[] x, int n, int d)
    {
        var m = new double[d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) m[j] += x[i * d + j];
        for (int j = 0; j < d; j++) m[j] /= n;
        var c = new double[d, d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
                for (int k = 0; k < d; k++) c[j, k] += (x[i * d + j] - m[j]) * (x[i * d + k] - m[k]);
        for (int j = 0; j < d; j++) for (int k = 0; k < d; k++) c[j, k] /= n - 1;
        return (m, c);
    }

    [Test]
    public void TwoByTwoNonCommutingMatchesTheClosedForm()
    {
        // tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for a 2 x 2 M with positive eigenvalues; M = S0 S1
        var r = new System.Random(11);
        for (int rep = 0; rep < 20; rep++)
        {
            var s0 = RandomSpd(2, r, 0.1); var s1 = RandomSpd(2, r, 0.1);
            double[] m0 = [r.NextDouble() * 4 - 2, r.NextDouble() * 4 - 2], m1 = [r.NextDouble() * 4 - 2, r.NextDouble() * 4 - 2];
            var p = Mul(s0, s1);
            double det0 = s0[0, 0] * s0[1, 1] - s0[0, 1] * s0[1, 0], det1 = s1[0, 0] * s1[1, 1] - s1[0, 1] * s1[1, 0];
            double trSqrt = Math.Sqrt(p[0, 0] + p[1, 1] + 2 * Math.Sqrt(det0 * det1));
            double exact = Math.Pow(m0[0] - m1[0], 2) + Math.Pow(m0[1] - m1[1], 2) + s0[0, 0] + s0[1, 1] + s1[0, 0] + s1[1, 1] - 2 * trSqrt;
            Assert.That(Math.Abs(s0[0, 1] * s1[0, 0] - s0[0, 0] * s1[0, 1] + s0[1, 1] * s1[0, 1] - s0[0, 1] * s1[1, 1]), Is.GreaterThan(1e-6), "the covariances do not commute");
            Assert.That(GaussianDistances.W2Squared(m0, s0, m1, s1), Is.EqualTo(exact).Within(1e-12 * (1 + exact)), $"rep {rep}");
            Assert.That(Reference(m0, s0, m1, s1), Is.EqualTo(exact).Within(1e-12 * (1 + exact)), "the d-dimensional reference");
        }
    }

    [Test]
    public void FullCovarianceMatchesTheDenmanBeaversReference()
    {
        var r = new System.Random(5);
        foreach (int d in new[] { 3, 8, 24 })
        {
            var s0 = RandomSpd(d, r, 0.05); var s1 = RandomSpd(d, r, 0.05);
            var m0 = Enumerable.Range(0, d).Select(_ => r.NextDouble()).ToArray();
            var m1 = Enumerable.Range(0, d).Select(_ => r.NextDouble()).ToArray();
            double want = Reference(m0, s0, m1, s1), got = GaussianDistances.W2Squared(m0, s0, m1, s1);
            TestContext.Out.WriteLine($"d = {d}: reference {want:R}, W2Squared {got:R}");
            Assert.That(got, Is.EqualTo(want).Within(1e-9 * (1 + want)));
            Assert.That(GaussianDistances.W2Squared(m1, s1, m0, s0), Is.EqualTo(got).Within(1e-10 * (1 + got)), "symmetric");
        }
    }

    [Test]
    public void SampleFrechetIsTheReferenceOnTheSampleMoments()
    {
        // feature-like sets: correlated, shifted, non-negative (ReLU-like) columns
        int d = 16, na = 700, nb = 900;
        var r = new System.Random(3);
        float[] Draw(int n, double shift)
        {
            var mix = RandomSpd(d, r, 0.2);
            var x = new float[n * d];
            for (int i = 0; i < n; i++)
            {
                var z = Enumerable.Range(0, d).Select(_ => r.NextDouble() * 2 - 1).ToArray();
                for (int j = 0; j < d; j++)
                {
                    double v = shift;
                    for (int k = 0; k < d; k++) v += mix[j, k] * z[k];
                    x[i * d + j] = (float)Math.Max(0, v);
                }
            }
            return x;
        }
        var a = Draw(na, 0.5); var b = Draw(nb, 0.8);
        var (ma, ca) = Moments(a, na, d); var (mb, cb) = Moments(b, nb, d);
        double want = Reference(ma, ca, mb, cb);
        double got = SampleStats.FrechetDistance(a, na, b, nb, d);
        TestContext.Out.WriteLine($"reference {want:R}, FrechetDistance {got:R}");
        Assert.That(want, Is.GreaterThan(0.01), "the sets differ");
        Assert.That(got, Is.EqualTo(want).Within(1e-9 * (1 + want)));
        Assert.That(SampleStats.FrechetDistance(b, nb, a, na, d), Is.EqualTo(got).Within(1e-10 * (1 + got)), "symmetric");
        double trace = 0;
        for (int j = 0; j < d; j++) trace += ca[j, j];
        Assert.That(SampleStats.FrechetDistance(a, na, a, na, d), Is.EqualTo(0).Within(1e-10 * trace), "zero for identical sets");
    }
}
