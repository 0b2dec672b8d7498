using ClDiffusion.Metrics;
using NUnit.Framework;

namespace ClDiffusion.Tests.Metrics;

[TestFixture]
public class GaussianDistanceTests
{
    static double[,] Diag(params double[] v)
    {
        var m = new double[v.Length, v.Length];
        for (int i = 0; i < v.Length; i++) m[i, i] = v[i];
        return m;
    }

    static double[,] RandomSpd(int d, int seed)
    {
        var r = new System.Random(seed);
        var a = new double[d, d];
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) a[i, j] = r.NextDouble() - 0.5;
        var s = new double[d, d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double acc = i == j ? 0.5 : 0;
                for (int k = 0; k < d; k++) acc += a[i, k] * a[j, k];
                s[i, j] = acc;
            }
        return s;
    }

    [Test]
    public void KlOfIdenticalGaussiansIsZero()
    {
        var s = RandomSpd(6, 1);
        var m = new[] { 1.0, -2, 3, 0, 0.5, 7 };
        Assert.That(GaussianDistances.KlDivergence(m, s, m, s), Is.EqualTo(0).Within(1e-12));
        Assert.That(GaussianDistances.W2(m, s, m, s), Is.EqualTo(0).Within(1e-6));
    }

    [Test]
    public void Kl1dMatchesClosedForm()
    {
        // KL(N(m0, s0^2) || N(m1, s1^2)) = ln(s1 / s0) + (s0^2 + (m0 - m1)^2) / (2 s1^2) - 1/2
        double m0 = 0.3, s0 = 1.7, m1 = -1.1, s1 = 0.6;
        double exact = Math.Log(s1 / s0) + (s0 * s0 + (m0 - m1) * (m0 - m1)) / (2 * s1 * s1) - 0.5;
        double kl = GaussianDistances.KlDivergence([m0], Diag(s0 * s0), [m1], Diag(s1 * s1));
        Assert.That(kl, Is.EqualTo(exact).Within(1e-12 * exact));
    }

    [Test]
    public void KlDiagonalIsSumOf1d()
    {
        double[] m0 = [0, 1, 2, -3], v0 = [1, 0.5, 2, 0.1], m1 = [0.5, 1, 0, -2], v1 = [2, 0.4, 1, 0.3];
        double exact = 0;
        for (int i = 0; i < 4; i++)
            exact += 0.5 * (Math.Log(v1[i] / v0[i]) + (v0[i] + (m0[i] - m1[i]) * (m0[i] - m1[i])) / v1[i] - 1);
        Assert.That(GaussianDistances.KlDivergence(m0, Diag(v0), m1, Diag(v1)), Is.EqualTo(exact).Within(1e-12 * exact));
    }

    [Test]
    public void KlIsInfiniteForSingularFirstAndErrorForSingularSecond()
    {
        Assert.That(GaussianDistances.KlDivergence([0, 0], Diag(1, 0), [0, 0], Diag(1, 1)), Is.EqualTo(double.PositiveInfinity));
        Assert.Throws<ArgumentException>(() => GaussianDistances.KlDivergence([0, 0], Diag(1, 1), [0, 0], Diag(1, 0)));
        Assert.Throws<ArgumentException>(() => GaussianDistances.KlDivergence([0, 0], Diag(1, 1), [0, 0, 0], Diag(1, 1, 1)));
    }

    [Test]
    public void W2DiagonalMatchesClosedForm()
    {
        // commuting covariances: W2^2 = |m0 - m1|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2
        double[] m0 = [0, 1, 2], a = [1, 0.25, 4], m1 = [1, 1, 0], b = [4, 1, 0.01];
        double exact = 0;
        for (int i = 0; i < 3; i++) exact += (m0[i] - m1[i]) * (m0[i] - m1[i]) + Math.Pow(Math.Sqrt(a[i]) - Math.Sqrt(b[i]), 2);
        Assert.That(GaussianDistances.W2Squared(m0, Diag(a), m1, Diag(b)), Is.EqualTo(exact).Within(1e-10));
        Assert.That(GaussianDistances.W2(m0, Diag(a), m1, Diag(b)), Is.EqualTo(Math.Sqrt(exact)).Within(1e-10));
    }

    [Test]
    public void W2FullCovarianceIsSymmetricAndRotationInvariant()
    {
        var s0 = RandomSpd(5, 2); var s1 = RandomSpd(5, 3);
        double[] m0 = [0, 1, 0, 1, 0], m1 = [1, 0, 0, 0, 2];
        double ab = GaussianDistances.W2Squared(m0, s0, m1, s1), ba = GaussianDistances.W2Squared(m1, s1, m0, s0);
        Assert.That(ab, Is.EqualTo(ba).Within(1e-9));
        // commuting case through a common rotation: S0 = Q diag(a) Q^T, S1 = Q diag(b) Q^T
        double c = Math.Cos(0.7), s = Math.Sin(0.7);
        double[,] q = { { c, -s }, { s, c } };
        double[] a = [2, 0.5], b = [0.3, 3];
        double[,] Rot(double[] v)
        {
            var r = new double[2, 2];
            for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) for (int k = 0; k < 2; k++) r[i, j] += q[i, k] * v[k] * q[j, k];
            return r;
        }
        double exact = Math.Pow(Math.Sqrt(a[0]) - Math.Sqrt(b[0]), 2) + Math.Pow(Math.Sqrt(a[1]) - Math.Sqrt(b[1]), 2);
        Assert.That(GaussianDistances.W2Squared([0, 0], Rot(a), [0, 0], Rot(b)), Is.EqualTo(exact).Within(1e-10));
    }

    [Test]
    public void SqrtPsdSquaresBack()
    {
        var s = RandomSpd(4, 5);
        var r = GaussianDistances.SqrtPsd(s);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
            {
                double acc = 0;
                for (int k = 0; k < 4; k++) acc += r[i, k] * r[k, j];
                Assert.That(acc, Is.EqualTo(s[i, j]).Within(1e-10));
            }
    }
}
