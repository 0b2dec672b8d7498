using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

public class CorrectorTests
{
    static readonly CpuBackend Cpu = new();

    [Test]
    public void LangevinNoiseHasTheExactCovariance()
    {
        const int n = 100_000; const float gamma = 1.3f, hc = 0.4f;
        using var zero = Cpu.Allocate(n, 1);
        using var x = Cpu.Allocate(n, 1);
        using var v = Cpu.Allocate(n, 1);
        Cpu.LangevinScan(zero, zero, zero, 1, gamma, hc, new RandomKey(8, 0, Purpose.LangevinNoise), 0, null, x, v);
        var xs = new float[n]; var vs = new float[n];
        Cpu.Download(x, xs); Cpu.Download(v, vs);
        double rho = Math.Exp(-gamma * hc);
        double varX = 2 / gamma * (hc - 2 * (1 - rho) / gamma + (1 - rho * rho) / (2 * gamma));
        double cov = (1 - rho) * (1 - rho) / gamma, varV = 1 - rho * rho;
        double ex = xs.Average(a => (double)a * a), ev = vs.Average(a => (double)a * a), exv = xs.Zip(vs, (a, b) => (double)a * b).Average();
        Assert.That(ex, Is.EqualTo(varX).Within(5 * varX * Math.Sqrt(2.0 / n)));
        Assert.That(ev, Is.EqualTo(varV).Within(5 * varV * Math.Sqrt(2.0 / n)));
        Assert.That(exv, Is.EqualTo(cov).Within(5 * Math.Sqrt(varX * varV / n)));
    }

    static (double mean, double var) Moments(float[] x) { double m = x.Average(a => (double)a); return (m, x.Average(a => (a - m) * (a - m))); }

    /// <summary>Runs a corrector at forward time t on samples x of length n (d = 1) and returns them.</summary>
    static float[] Correct(string kind, float[] x0, double t, int steps, double duration, double gamma)
    {
        int n = x0.Length;
        var g = new ClDiffusion.Models.GaussianMixture([1.0], [[1.0]], [[0.25]]);
        using var p = Cpu.Prepare(g);
        using var ctx = new SamplerContext(Cpu, p, n, 17, 0, 8);
        using var x = Cpu.Allocate(n, 1);
        Cpu.Upload(x, x0);
        double tau = 8 - t;
        if (kind == "uld") Correctors.Langevin(ctx, x, tau, 1, steps, duration, gamma);
        else if (kind == "rmuld") Correctors.RandomizedMidpointLangevin(ctx, x, tau, 1, steps, duration, gamma);
        else Correctors.ParallelLangevin(ctx, x, tau, 1, steps, duration, gamma, steps);
        var r = new float[n]; Cpu.Download(x, r); return r;
    }

    /// <summary>
    /// Mean and variance of X after `steps` frozen-drift steps on the Gaussian N(m, v) (score -(x - m)/v), from
    /// X ~ N(m0, v0) and a fresh V ~ N(0, 1): the scheme is a linear AR(1) map y' = A y + xi on y = (X - m, V), so
    /// its moments follow exactly from the DESIGN 1.3 coefficients.
    /// </summary>
    static (double mean, double var) DiscreteMoments(double m, double v, double m0, double v0, int steps, double duration, double gamma)
    {
        double h = duration / steps, k = 1 / v, rho = Math.Exp(-gamma * h);
        double b = (1 - rho) / gamma, c = (h - (1 - rho) / gamma) / gamma;
        double vx = 2 / gamma * (h - 2 * (1 - rho) / gamma + (1 - rho * rho) / (2 * gamma)), cxv = (1 - rho) * (1 - rho) / gamma, vv = 1 - rho * rho;
        double a11 = 1 - c * k, a12 = b, a21 = -b * k, a22 = rho;
        double ex = m0 - m, ev = 0, sxx = v0, sxv = 0, svv = 1;
        for (int i = 0; i < steps; i++)
        {
            (ex, ev) = (a11 * ex + a12 * ev, a21 * ex + a22 * ev);
            double nxx = a11 * a11 * sxx + 2 * a11 * a12 * sxv + a12 * a12 * svv + vx;
            double nxv = a11 * a21 * sxx + (a11 * a22 + a12 * a21) * sxv + a12 * a22 * svv + cxv;
            double nvv = a21 * a21 * sxx + 2 * a21 * a22 * sxv + a22 * a22 * svv + vv;
            (sxx, sxv, svv) = (nxx, nxv, nvv);
        }
        return (m + ex, sxx);
    }

    [TestCase("uld", 0.0)]
    [TestCase("uld", 2.0)]
    [TestCase("parallel", 0.0)]
    [TestCase("parallel", 2.0)]
    public void FrozenDriftCorrectorMatchesItsExactDiscreteMoments(string kind, double shift)
    {
        const int n = 40_000; const double t = 0.5;
        double a = Math.Exp(-t), m = a * 1.0, v = a * a * 0.25 + (1 - Math.Exp(-2 * t));
        var key = new RandomKey(2, 0, Purpose.Test);
        var start = Enumerable.Range(0, n).Select(i => (float)(m + shift + Math.Sqrt(v) * key.Normal(i, 0))).ToArray();
        var (m1, v1) = Moments(Correct(kind, start, t, 8, 2.0, 1.5));
        var (em, ev) = DiscreteMoments(m, v, m + shift, v, 8, 2.0, 1.5);
        Assert.That(m1, Is.EqualTo(em).Within(5 * Math.Sqrt(ev / n)));
        Assert.That(v1, Is.EqualTo(ev).Within(5 * ev * Math.Sqrt(2.0 / n)));
        Assert.That(Math.Abs(em - m), Is.LessThan(0.5 * Math.Max(shift, 0.1)), "a shifted start is pulled towards the target mean");
        // the discretisation bias of the stationary variance is O(h): a finer corrector is closer to invariant
        var (_, vFine) = DiscreteMoments(m, v, m, v, 64, 2.0, 1.5);
        Assert.That(Math.Abs(vFine - v), Is.LessThan(0.2 * Math.Abs(ev - v) + 1e-3));
    }

    /// <summary>
    /// Covariance of the Shen-Lee noises over one step of length h with midpoint a = alpha h, by quadrature of the Ito
    /// isometry in float64 (independent of LangevinCoefficients' closed forms). With V driven by sqrt(2 gamma) dB and
    /// X' = V, the noise parts are W1 = X(a) = int_0^a f1 dB, W2 = X(h) = int_0^h f2 dB, W3 = V(h) = int_0^h f3 dB with
    /// f1(u) = c (1 - e^{-gamma (a - u)}) / gamma, f2(u) = c (1 - e^{-gamma (h - u)}) / gamma, f3(u) = c e^{-gamma (h - u)},
    /// c = sqrt(2 gamma). Returns [3, 3] in the order (W1, W2, W3).
    /// </summary>
    static double[,] ShenLeeNoiseCovariance(double gamma, double h, double alpha)
    {
        double a = alpha * h, c = Math.Sqrt(2 * gamma);
        double F(int i, double u) => i switch
        {
            0 => u < a ? c * (1 - Math.Exp(-gamma * (a - u))) / gamma : 0,
            1 => c * (1 - Math.Exp(-gamma * (h - u))) / gamma,
            _ => c * Math.Exp(-gamma * (h - u)),
        };
        // composite Simpson on [0, a] and [a, h] separately (f1 has a kink at a)
        double Integral(Func<double, double> f, double lo, double hi)
        {
            const int m = 400;   // Simpson error ~ (gamma h / m)^4 / 180: about 1e-10 of the scale at most here
            if (hi <= lo) return 0;
            double w = (hi - lo) / m, sum = f(lo) + f(hi);
            for (int i = 1; i < m; i++) sum += (i % 2 == 1 ? 4 : 2) * f(lo + i * w);
            return sum * w / 3;
        }
        var cov = new double[3, 3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j <= i; j++)
                cov[i, j] = cov[j, i] = Integral(u => F(i, u) * F(j, u), 0, a) + Integral(u => F(i, u) * F(j, u), a, h);
        return cov;
    }

    [TestCase(0.05, 0.01)]
    [TestCase(1.5, 0.25)]
    [TestCase(1.5, 2.0)]
    [TestCase(10.0, 0.5)]
    public void ShenLeeCholeskyReproducesTheNoiseCovariance(double gamma, double h)
    {
        foreach (double alpha in new[] { 1e-3, 0.1, 0.5, 0.9, 0.999 })
        {
            var (m11, m21, m22, m31, m32, m33) = ClDiffusion.Backends.LangevinCoefficients.ShenLeeCholesky(gamma, h, alpha);
            // W2 = m11 z1, W3 = m21 z1 + m22 z2, W1 = m31 z1 + m32 z2 + m33 z3: rows of L in the order (W2, W3, W1)
            double[][] L = [[m11, 0, 0], [m21, m22, 0], [m31, m32, m33]];
            int[] order = [1, 2, 0];   // row r of L is noise order[r] of the covariance
            var cov = ShenLeeNoiseCovariance(gamma, h, alpha);
            for (int r = 0; r < 3; r++)
                for (int q = 0; q < 3; q++)
                {
                    double got = L[r][0] * L[q][0] + L[r][1] * L[q][1] + L[r][2] * L[q][2];
                    double want = cov[order[r], order[q]], scale = Math.Sqrt(cov[order[r], order[r]] * cov[order[q], order[q]]);
                    // measured agreement ~1e-9 of the scale; the small-argument series in PositionVariance is accurate to
                    // ~x^3 (x = gamma h <= 1e-2), so 1e-6 holds them all and still sees any wrong term of a closed form
                    Assert.That(got, Is.EqualTo(want).Within(1e-6 * scale), $"gamma={gamma} h={h} alpha={alpha} entry ({r}, {q})");
                }
        }
    }

    /// <summary>
    /// Mean and variance of X after `steps` Shen-Lee randomized-midpoint steps on N(m, v) (score -k (x - m), k = 1/v),
    /// from X ~ N(m0, v0) and a fresh V ~ N(0, 1). On y = (X - m, V) one step with midpoint alpha ~ U(0, 1) is
    ///   y_mid = (1 - k dp(a)) y + vp(a) v + W1,
    ///   y'    = y + vp(h) v - k wx y_mid + W2,   v' = e^{-gamma h} v - k wv y_mid + W3,
    /// with vp(s) = (1 - e^{-gamma s}) / gamma, dp(s) = (s - vp(s)) / gamma, wx = h vp(h - a), wv = h e^{-gamma (h - a)}:
    /// z' = A(alpha) z + n(alpha) with alpha independent of z, so E z' = E[A] E z and E z'z'^T = E[A S A^T] + E[Cov n],
    /// the expectations over alpha by Simpson's rule, the noise covariance from <see cref="ShenLeeNoiseCovariance"/>.
    /// </summary>
    static (double mean, double var) ShenLeeDiscreteMoments(double m, double v, double m0, double v0, int steps, double h, double gamma)
    {
        double k = 1 / v;
        double Vp(double s) => (1 - Math.Exp(-gamma * s)) / gamma;
        double Dp(double s) => (s - Vp(s)) / gamma;
        const int q = 200;   // Simpson over alpha in [0, 1]
        var weights = Enumerable.Range(0, q + 1).Select(i => (i == 0 || i == q ? 1.0 : i % 2 == 1 ? 4.0 : 2.0) / (3.0 * q)).ToArray();
        var As = new double[q + 1][]; var Ns = new double[q + 1][];
        for (int i = 0; i <= q; i++)
        {
            double alpha = (double)i / q, a = alpha * h, b = h - a;
            double wx = h * Vp(b), wv = h * Math.Exp(-gamma * b), p = 1 - k * Dp(a);
            As[i] = [1 - k * wx * p, Vp(h) - k * wx * Vp(a), -k * wv * p, Math.Exp(-gamma * h) - k * wv * Vp(a)];
            var c = ShenLeeNoiseCovariance(gamma, h, Math.Max(alpha, 1e-12));
            Ns[i] = [c[1, 1] - 2 * wx * k * c[0, 1] + wx * wx * k * k * c[0, 0],
                     c[1, 2] - wx * k * c[0, 2] - wv * k * c[0, 1] + wx * wv * k * k * c[0, 0],
                     c[2, 2] - 2 * wv * k * c[0, 2] + wv * wv * k * k * c[0, 0]];
        }
        double ey = m0 - m, ev = 0, sxx = v0 + ey * ey, sxv = 0, svv = 1;   // raw second moments
        for (int step = 0; step < steps; step++)
        {
            double ny = 0, nv = 0, nxx = 0, nxv = 0, nvv = 0;
            for (int i = 0; i <= q; i++)
            {
                var A = As[i]; var N = Ns[i]; double w = weights[i];
                ny += w * (A[0] * ey + A[1] * ev); nv += w * (A[2] * ey + A[3] * ev);
                nxx += w * (A[0] * A[0] * sxx + 2 * A[0] * A[1] * sxv + A[1] * A[1] * svv + N[0]);
                nxv += w * (A[0] * A[2] * sxx + (A[0] * A[3] + A[1] * A[2]) * sxv + A[1] * A[3] * svv + N[1]);
                nvv += w * (A[2] * A[2] * sxx + 2 * A[2] * A[3] * sxv + A[3] * A[3] * svv + N[2]);
            }
            (ey, ev, sxx, sxv, svv) = (ny, nv, nxx, nxv, nvv);
        }
        return (m + ey, sxx - ey * ey);
    }

    [TestCase(0.0)]
    [TestCase(2.0)]
    public void ShenLeeCorrectorMatchesItsExactDiscreteMoments(double shift)
    {
        // rmuld (Correctors.RandomizedMidpointLangevin) on the Gaussian of Correct(): 8 steps over duration 2, gamma 1.5.
        // Checked to fail: a do-nothing corrector (shift 2: mean 2.61 against 0.86; shift 0 alone cannot tell, the start
        // is already exact), and a final step that reuses the start's score instead of the midpoint's (variance 0.810
        // against 0.725, mean 0.759 against 0.861). ShenLeeCholeskyReproducesTheNoiseCovariance catches wrong noise.
        const int n = 200_000, steps = 8; const double t = 0.5, duration = 2.0, gamma = 1.5;
        double a = Math.Exp(-t), m = a * 1.0, v = a * a * 0.25 + (1 - Math.Exp(-2 * t));
        var key = new RandomKey(2, 0, Purpose.Test);
        var start = Enumerable.Range(0, n).Select(i => (float)(m + shift + Math.Sqrt(v) * key.Normal(i, 0))).ToArray();
        var (m1, v1) = Moments(Correct("rmuld", start, t, steps, duration, gamma));
        var (em, ev) = ShenLeeDiscreteMoments(m, v, m + shift, v, steps, (float)(duration / steps), (float)gamma);
        TestContext.Out.WriteLine($"shift {shift}: mean {m1:F5} (exact recursion {em:F5}), variance {v1:F5} ({ev:F5}); target {m:F5}, {v:F5}");
        // 5 standard errors of the sample mean and variance
        Assert.That(m1, Is.EqualTo(em).Within(5 * Math.Sqrt(ev / n)), "mean");
        Assert.That(v1, Is.EqualTo(ev).Within(5 * ev * Math.Sqrt(2.0 / n)), "variance");
        // the recursion itself contracts the initial mismatch (a do-nothing corrector keeps m + shift)
        if (shift != 0) Assert.That(Math.Abs(em - m), Is.LessThan(0.25 * shift), "the exact recursion pulls the start in");
    }

    [Test]
    public void RandomizedMidpointLangevinKeepsAnExactGaussianAndPullsAWrongStartTowardsIt()
    {
        const int n = 40_000; const double t = 0.5;
        double a = Math.Exp(-t), m = a * 1.0, v = a * a * 0.25 + (1 - Math.Exp(-2 * t));
        var key = new RandomKey(2, 0, Purpose.Test);
        var exact = Enumerable.Range(0, n).Select(i => (float)(m + Math.Sqrt(v) * key.Normal(i, 0))).ToArray();
        var (m1, v1) = Moments(Correct("rmuld", exact, t, 8, 2.0, 1.5));
        Assert.That(m1, Is.EqualTo(m).Within(0.02), "mean stays");
        Assert.That(v1, Is.EqualTo(v).Within(0.04 * v), "variance stays");
        var (m2, _) = Moments(Correct("rmuld", exact.Select(z => z + 2f).ToArray(), t, 8, 2.0, 1.5));
        Assert.That(Math.Abs(m2 - m), Is.LessThan(0.5 * 2.0), "a shifted start moves towards the target");
    }

    [Test]
    public void ParallelCorrectorWithOneRoundPerStepEqualsTheSequentialOne()
    {
        var key = new RandomKey(2, 0, Purpose.Test);
        var x0 = Enumerable.Range(0, 300).Select(i => key.Normal(i, 0) * 1.7f).ToArray();
        var seq = Correct("uld", x0, 0.3, 5, 1.0, 1.2);
        var par = Correct("parallel", x0, 0.3, 5, 1.0, 1.2);
        for (int i = 0; i < seq.Length; i++) Assert.That(par[i], Is.EqualTo(seq[i]).Within(1e-5f));
    }
}
