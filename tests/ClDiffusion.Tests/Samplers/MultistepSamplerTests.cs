using ClDiffusion.Backends.Cpu;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;
using static ClDiffusion.Diffusion.LogSnrSteps;

namespace ClDiffusion.Tests.Samplers;

/// <summary>
/// The multistep baselines dpmpp-3m and unipc: their weights against exact polynomial integrals, the samplers against
/// float64 references written in the papers' own form (the D1/D2 differences, UniPC's phi recursion and R_p(h) system),
/// their convergence orders, NFE and option checks.
/// </summary>
public class MultistepSamplerTests
{
    static readonly CpuBackend Cpu = new();

    [TestCase(0, 1e-3)] [TestCase(1, 0.3)] [TestCase(2, 0.3)] [TestCase(3, 0.3)] [TestCase(2, 0.999)] [TestCase(3, 1.001)]
    [TestCase(1, 2.5)] [TestCase(2, 2.5)] [TestCase(3, 2.5)] [TestCase(3, 1e-3)]
    public void PhiKIsItsIntegral(int k, double h)
    {
        // I_k(h) = integral_0^h e^{-(h-u)} u^k/k! du by composite Simpson (2000 panels)
        const int m = 2000;
        double fact = Enumerable.Range(1, k).Aggregate(1.0, (a, b) => a * b), sum = 0;
        for (int i = 0; i <= m; i++)
        {
            double u = h * i / m, f = Math.Exp(-(h - u)) * Math.Pow(u, k) / fact;
            sum += (i == 0 || i == m ? 1 : i % 2 == 1 ? 4 : 2) * f;
        }
        double want = sum * h / (3 * m);
        Assert.That(PhiK(k, h), Is.EqualTo(want).Within(1e-10 * want));
        if (k == 0) Assert.That(PhiK(0, h), Is.EqualTo(Phi1(h)).Within(1e-15));
        if (k == 1) Assert.That(PhiK(1, h), Is.EqualTo(Phi2(h)).Within(1e-12 * Phi2(h)));
    }

    /// <summary>sum_k w_k x0(u_k) for x0(u) = sum_i c_i u^i against the exact step sum_i i! c_i I_i(h).</summary>
    static void ExactForPolynomial(double[] w, double[] nodes, double[] c, double h, string what)
    {
        double got = 0, want = 0, fact = 1;
        for (int k = 0; k < w.Length; k++) got += w[k] * c.Select((ci, i) => ci * Math.Pow(nodes[k], i)).Sum();
        for (int i = 0; i < c.Length; i++) { if (i > 0) fact *= i; want += fact * c[i] * PhiK(i, h); }
        Assert.That(got, Is.EqualTo(want).Within(1e-11 * (1 + Math.Abs(want))), what);
    }

    [TestCase(0.4, 0.5, 0.7)]
    [TestCase(1.3, 0.9, 2.1)]
    public void Dpm3MIsExactForQuadraticX0(double h, double h0, double h1)
    {
        // x0 quadratic in lambda, x0 at the step start (u = 0) and the two grid points before it
        var w = MultistepSamplers.Dpm3MWeights(3, h, h0, h1);
        ExactForPolynomial(w, [0, -h0, -h0 - h1], [0.7, -1.3, 2.2], h, "3M on a quadratic");
        // order 1 is exact for constants; the 2M form is not exact for lines (its 1/(2r) weight is h x0'/2 to first order)
        ExactForPolynomial(MultistepSamplers.Dpm3MWeights(1, h, 0, 0), [0], [0.7], h, "DDIM on a constant");
        var w2 = MultistepSamplers.Dpm3MWeights(2, h, h0, 0);
        Assert.That(w2.Sum(), Is.EqualTo(Phi1(h)).Within(1e-14), "2M: the weights sum to I_0");
    }

    [TestCase(2, UniPcVariant.Bh1, 0.6)]
    [TestCase(3, UniPcVariant.Bh1, 0.6)]
    [TestCase(2, UniPcVariant.Bh2, 1.7)]
    [TestCase(3, UniPcVariant.Bh2, 1.7)]
    public void UniPcIsExactForPolynomialsOfItsOrder(int p, UniPcVariant v, double h)
    {
        double[] r = p == 2 ? [-0.8] : [-0.8, -1.9];
        var (wp, wc) = MultistepSamplers.UniPcWeights(p, r, h, v);
        double[] c = [0.4, -1.1, 0.9, -0.6];
        var nodes = new[] { 0.0 }.Concat(r.Select(x => x * h)).ToArray();
        // UniC-p uses p + 1 points: exact for degree p; UniP-3 (solved rho) for degree 2
        ExactForPolynomial(wc, [.. nodes, h], c[..(p + 1)], h, $"UniC-{p}");
        if (p == 3) ExactForPolynomial(wp, nodes, c[..3], h, "UniP-3");
        Assert.That(wp.Sum(), Is.EqualTo(Phi1(h)).Within(1e-13), "predictor weights sum to I_0");
        Assert.That(wc.Sum(), Is.EqualTo(Phi1(h)).Within(1e-13), "corrector weights sum to I_0");
    }

    // ---- float64 references in the papers' form

    static double[] X0(GaussianMixture g, double[] x, double t)
    {
        var s = new double[x.Length]; var scratch = new double[64];
        g.Score(x, t, s, scratch);
        var p = Point.At(t);
        return x.Select((v, j) => (v + p.Sigma * p.Sigma * s[j]) / p.Alpha).ToArray();
    }

    static double[] Comb(params (double c, double[] v)[] terms)
    {
        var o = new double[terms[0].v.Length];
        foreach (var (c, v) in terms) for (int j = 0; j < o.Length; j++) o[j] += c * v[j];
        return o;
    }

    /// <summary>Lu et al.'s multistep DPM-Solver++ update (D1_0, D1_1, D1, D2 and phi_2 = 1 + expm1(-h)/h, phi_3 = phi_2/h - 1/2), D2 at weight 2 phi_3.</summary>
    static double[] ReferenceDpm3M(GaussianMixture g, TimeGrid grid, double[] x, bool lowerOrderFinal, double d2Weight = 2)
    {
        int S = grid.Steps;
        var ms = new List<double[]>(); var lams = new List<double>();
        for (int n = 0; n < S; n++)
        {
            Point s = Point.At(grid.T(n)), t = Point.At(grid.T(n + 1));
            ms.Add(X0(g, x, grid.T(n))); lams.Add(s.Lambda);
            int order = Math.Min(3, n + 1);
            if (lowerOrderFinal && S < 10) order = Math.Min(order, S - n);
            double h = t.Lambda - s.Lambda, phi1 = Math.Exp(-h) - 1;
            var m0 = ms[n];
            var xn = Comb((t.Sigma / s.Sigma, x), (-t.Alpha * phi1, m0));
            if (order == 2)
            {
                double r0 = (s.Lambda - lams[n - 1]) / h;
                var d10 = Comb((1 / r0, m0), (-1 / r0, ms[n - 1]));
                xn = Comb((1, xn), (-0.5 * t.Alpha * phi1, d10));
            }
            else if (order == 3)
            {
                double r0 = (s.Lambda - lams[n - 1]) / h, r1 = (lams[n - 1] - lams[n - 2]) / h;
                var d10 = Comb((1 / r0, m0), (-1 / r0, ms[n - 1]));
                var d11 = Comb((1 / r1, ms[n - 1]), (-1 / r1, ms[n - 2]));
                var d1 = Comb((1 + r0 / (r0 + r1), d10), (-r0 / (r0 + r1), d11));
                var d2 = Comb((1 / (r0 + r1), d10), (-1 / (r0 + r1), d11));
                double phi2 = phi1 / h + 1, phi3 = phi2 / h - 0.5;
                xn = Comb((1, xn), (t.Alpha * phi2, d1), (-d2Weight * t.Alpha * phi3, d2));
            }
            x = xn;
        }
        return x;
    }

    /// <summary>Solves a p x p system (p &lt;= 3) by Cramer's rule.</summary>
    static double[] Cramer(double[,] a, double[] b)
    {
        int p = b.Length;
        double Det(double[,] m) => p switch
        {
            1 => m[0, 0],
            2 => m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0],
            _ => m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1]) - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0]) + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]),
        };
        double d = Det(a);
        var x = new double[p];
        for (int k = 0; k < p; k++)
        {
            var m = (double[,])a.Clone();
            for (int i = 0; i < p; i++) m[i, k] = b[i];
            x[k] = Det(m) / d;
        }
        return x;
    }

    /// <summary>
    /// Zhao et al.'s multistep UniPC in data prediction as the paper's code writes it: hh = -h, h_phi_1 = expm1(hh),
    /// B_h = hh (bh1) or expm1(hh) (bh2), b_i from the recursion h_phi_k = h_phi_k / hh - 1/k!, R rows rks^(i-1),
    /// x_t = (sigma_t/sigma_s) x - alpha_t h_phi_1 m0 - alpha_t B_h sum rho D1.
    /// </summary>
    static double[] ReferenceUniPc(GaussianMixture g, TimeGrid grid, double[] x, int order, UniPcVariant v, bool lowerOrderFinal)
    {
        int S = grid.Steps;
        var ms = new List<double[]> { X0(g, x, grid.T(0)) };
        var lams = new List<double> { Point.At(grid.T(0)).Lambda };
        for (int n = 0; n < S; n++)
        {
            Point s = Point.At(grid.T(n)), t = Point.At(grid.T(n + 1));
            int p = Math.Min(order, n + 1);
            if (lowerOrderFinal) p = Math.Min(p, S - n);
            double h = t.Lambda - s.Lambda, hh = -h, hphi1 = Math.Exp(hh) - 1, bh = v == UniPcVariant.Bh1 ? hh : hphi1;
            var m0 = ms[n];
            var rks = new List<double>(); var d1s = new List<double[]>();
            for (int i = 1; i < p; i++)
            {
                double rk = (lams[n - i] - s.Lambda) / h;
                rks.Add(rk); d1s.Add(Comb((1 / rk, ms[n - i]), (-1 / rk, m0)));
            }
            rks.Add(1);
            var b = new double[p];
            double hphik = hphi1 / hh - 1, fact = 1;
            for (int i = 1; i <= p; i++) { b[i - 1] = hphik * fact / bh; fact *= i + 1; hphik = hphik / hh - 1 / fact; }
            var R = new double[p, p];
            for (int i = 0; i < p; i++) for (int k = 0; k < p; k++) R[i, k] = Math.Pow(rks[k], i);
            double[] rhosP = p == 1 ? [] : p == 2 ? [0.5] : Cramer(new double[,] { { R[0, 0], R[0, 1] }, { R[1, 0], R[1, 1] } }, b[..2]);
            double[] rhosC = p == 1 ? [0.5] : Cramer(R, b);
            var xt0 = Comb((t.Sigma / s.Sigma, x), (-t.Alpha * hphi1, m0));
            var xp = xt0;
            for (int k = 0; k < p - 1; k++) xp = Comb((1, xp), (-t.Alpha * bh * rhosP[k], d1s[k]));
            if (n == S - 1) { x = xp; break; }
            var mt = X0(g, xp, grid.T(n + 1));
            var xc = Comb((1, xt0), (-t.Alpha * bh * rhosC[p - 1], Comb((1, mt), (-1, m0))));
            for (int k = 0; k < p - 1; k++) xc = Comb((1, xc), (-t.Alpha * bh * rhosC[k], d1s[k]));
            x = xc; ms.Add(mt); lams.Add(t.Lambda);
        }
        return x;
    }

    static void AgreesWithReference(string sampler, SamplerOptions o, Func<GaussianMixture, TimeGrid, double[], double[]> reference)
    {
        var g = GaussianMixture.Preset(4, 3, seed: 5);
        const int n = 7, d = 4;
        var (y, st) = SampleRun.Run(Cpu, g, sampler, o, seed: 8, n);
        Assert.That(st.NfePerSample, Is.EqualTo(o.Steps), "one NFE per step");
        var grid = o.MakeGrid();
        var start = new RandomKey(8, 0, Purpose.StartNoise);
        for (int r = 0; r < n; r++)
        {
            var want = reference(g, grid, Enumerable.Range(0, d).Select(j => (double)start.Normal(r, j)).ToArray());
            for (int j = 0; j < d; j++) Assert.That(y[r * d + j], Is.EqualTo(want[j]).Within(5e-4 + 5e-4 * Math.Abs(want[j])), $"{sampler}: sample {r}, coordinate {j}");
        }
    }

    [TestCase(6, true, TimeGridKind.Shrinking)]
    [TestCase(6, false, TimeGridKind.LogSnr)]
    [TestCase(12, true, TimeGridKind.Shrinking)]
    public void Dpm3MAgreesWithItsFloat64Reference(int steps, bool lowerOrderFinal, TimeGridKind grid)
    {
        var o = new SamplerOptions { Steps = steps, LowerOrderFinal = lowerOrderFinal, Grid = grid };
        AgreesWithReference("dpmpp-3m", o, (g, gr, x) => ReferenceDpm3M(g, gr, x, lowerOrderFinal));
    }

    [TestCase(2, UniPcVariant.Bh1, true, 6)]
    [TestCase(3, UniPcVariant.Bh1, true, 6)]
    [TestCase(2, UniPcVariant.Bh2, false, 7)]
    [TestCase(3, UniPcVariant.Bh2, false, 7)]
    [TestCase(3, UniPcVariant.Bh2, true, 2)]
    public void UniPcAgreesWithItsFloat64Reference(int order, UniPcVariant v, bool lowerOrderFinal, int steps)
    {
        var o = new SamplerOptions { Steps = steps, SolverOrder = order, UniPcVariant = v, LowerOrderFinal = lowerOrderFinal };
        AgreesWithReference("unipc", o, (g, gr, x) => ReferenceUniPc(g, gr, x, order, v, lowerOrderFinal));
    }

    [Test]
    public void TheReferenceCodesHalfWeightOnD2IsSecondOrder()
    {
        // float64, single Gaussian, exact flow: Lu et al.'s update with D2 at weight phi_3 (dpm_solver, diffusers,
        // k-diffusion) against 2 phi_3 (exact for quadratic x0, ours): the first converges at order 2, ours at order 3
        var g = TestTargets.Gaussian(3);
        const double T = 5, Delta = 0.05;
        int[] steps = [64, 128, 256, 512];
        var start = new RandomKey(5, 0, Purpose.StartNoise);
        double Slope(double w)
        {
            var ys = steps.Select(S =>
            {
                var grid = TimeGrid.LogSnr(T, Delta, S);
                double se = 0;
                for (int i = 0; i < 16; i++)
                {
                    var x0 = Enumerable.Range(0, 3).Select(j => (double)start.Normal(i, j)).ToArray();
                    var y = ReferenceDpm3M(g, grid, x0, false, w);
                    for (int j = 0; j < 3; j++) { double e = y[j] - TestTargets.ExactFlow(g, j, x0[j], T, Delta); se += e * e; }
                }
                return Math.Log(Math.Sqrt(se / 48));
            }).ToArray();
            var xs = steps.Select(S => Math.Log(S)).ToArray();
            double mx = xs.Average(), my = ys.Average();
            return -xs.Zip(ys, (a, b) => (a - mx) * (b - my)).Sum() / xs.Sum(a => (a - mx) * (a - mx));
        }
        double half = Slope(1), ours = Slope(2);
        TestContext.Out.WriteLine($"order with D2 weight phi_3: {half:F2}; with 2 phi_3: {ours:F2}");
        Assert.That(half, Is.InRange(1.7, 2.4));
        Assert.That(ours, Is.InRange(2.7, 3.5));
    }

    // Strong error against the exact flow of a single Gaussian as the steps double (ConvergenceTests), on the log-SNR
    // grid and without lowering the last steps' order (which would cap every solver at first order per final step).
    // UniPC-p is of order p + 1 (its corrector adds one): measured 3.1 for dpmpp-3m, 4.4 for unipc order 3 (8-64 steps;
    // finer grids reach float32's floor) and 2.8 for unipc order 2 (16-128 steps).
    [TestCase("dpmpp-3m", 3, UniPcVariant.Bh2, 2.7, 3.6)]
    [TestCase("unipc", 3, UniPcVariant.Bh2, 3.5, 5.0)]
    [TestCase("unipc", 3, UniPcVariant.Bh1, 3.5, 5.0)]
    [TestCase("unipc", 2, UniPcVariant.Bh2, 2.5, 3.4)]
    public void ConvergesAtItsOrder(string sampler, int order, UniPcVariant v, double lo, double hi)
    {
        var o = new SamplerOptions { SolverOrder = order, UniPcVariant = v, LowerOrderFinal = false };
        double p = ConvergenceTests.Slope(sampler, order == 2 ? [16, 32, 64, 128] : [8, 16, 32, 64], o, TimeGridKind.LogSnr);
        TestContext.Out.WriteLine($"{sampler} order {order} {v}: fitted {p:F2}");
        Assert.That(p, Is.InRange(lo, hi));
    }

    [TestCase("dpmpp-3m")]
    [TestCase("unipc")]
    public void OneReportAndOneNfePerStep(string sampler)
    {
        var g = GaussianMixture.Preset(3, 2);
        foreach (int steps in new[] { 1, 2, 3, 9, 11 })
        {
            var o = new SamplerOptions { Steps = steps };
            var reports = new List<StepInfo>();
            var buf = new float[5 * g.Dim];
            var st = SampleRun.Run(Cpu, g, sampler, o, 1, 0, 5, buf, callback: reports.Add);
            Assert.That(st.NfePerSample, Is.EqualTo(steps), $"{sampler}, {steps} steps: NFE");
            Assert.That(st.Rounds, Is.EqualTo(steps), $"{sampler}, {steps} steps: rounds");
            Assert.That(reports.Select(r => r.Step), Is.EqualTo(Enumerable.Range(0, steps)), $"{sampler}, {steps} steps: reports");
            Assert.That(reports.All(r => r.Phase == SamplerPhase.Predictor));
            Assert.That(buf.All(float.IsFinite));
        }
    }

    [Test]
    public void BadOptionsAreRejected()
    {
        foreach (var o in new[] { new SamplerOptions { SolverOrder = 1 }, new SamplerOptions { SolverOrder = 4 }, new SamplerOptions { UniPcVariant = (UniPcVariant)7 } })
            Assert.Throws<ArgumentException>(() => o.Validate("unipc"));
        Assert.DoesNotThrow(() => new SamplerOptions { SolverOrder = 2, UniPcVariant = UniPcVariant.Bh1 }.Validate("unipc"));
        Assert.That(SamplerOptions.DefaultText(nameof(SamplerOptions.UniPcVariant)), Is.EqualTo("bh2"));
    }
}
