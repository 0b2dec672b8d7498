using ClDiffusion.Backends;
using ClDiffusion.Diffusion;
using static ClDiffusion.Diffusion.LogSnrSteps;

namespace ClDiffusion.Samplers;

/// <summary>UniPC's choice of B(h), the scale of its correction terms (Zhao et al. 2023, section 3.3).</summary>
public enum UniPcVariant
{
    /// <summary>B(h) = h (the paper recommends it for unconditional sampling at very few steps).</summary>
    Bh1,
    /// <summary>B(h) = 1 - e^{-h} in data-prediction form (e^h - 1 in the noise form; diffusers' default).</summary>
    Bh2,
}

/// <summary>
/// x0 at the last few grid points with their log-SNRs, newest first, in rotating slots (nothing is copied): the history
/// of the multistep solvers. <see cref="Free"/> is the slot the next <see cref="Push"/> makes the newest (the oldest one).
/// </summary>
sealed class X0Ring
{
    readonly IDeviceBuffer[] slots;
    readonly double[] lambdas;
    int newest = -1;
    public int Count { get; private set; }

    public X0Ring(SamplerContext ctx, WorkSlot[] slotKeys)
    {
        slots = slotKeys.Select(k => ctx.Work[k, ctx.N]).ToArray();
        lambdas = new double[slotKeys.Length];
    }

    public IDeviceBuffer Free => slots[(newest + 1) % slots.Length];
    public void Push(double lambda) { newest = (newest + 1) % slots.Length; lambdas[newest] = lambda; Count = Math.Min(Count + 1, slots.Length); }
    /// <summary>x0 `back` points before the newest (0 = the newest).</summary>
    public IDeviceBuffer X0(int back) => slots[(newest - back + slots.Length) % slots.Length];
    public double Lambda(int back) => lambdas[(newest - back + slots.Length) % slots.Length];
}

/// <summary>
/// Multistep baselines in data-prediction form on the log-SNR axis (lambda = log(alpha_t / sigma_t), see
/// <see cref="LogSnrSteps"/>): one x0 evaluation per step, the earlier ones reused. Over a step from lambda_s to
/// lambda_t = lambda_s + h the exact step is x_t = (sigma_t / sigma_s) x_s + alpha_t sum_k I_k(h) x0^(k)(lambda_s)
/// (<see cref="LogSnrSteps.PhiK"/>); the solvers estimate the derivatives from the last evaluations. Every weight below
/// is in units of alpha_t and multiplies one x0 buffer, so a step is one Lincomb of at most four terms.
/// </summary>
public static class MultistepSamplers
{
    /// <summary>
    /// DPM-Solver++(3M) (Lu et al. 2022, "DPM-Solver++", multistep third order in data prediction): x0 at the grid
    /// points only, the first two steps of order 1 and 2 (the warm-up), and with <paramref name="lowerOrderFinal"/> the
    /// last steps of order min(3, steps left) when there are fewer than 10 steps (DPM-Solver's lower_order_final).
    /// One NFE per step.
    /// </summary>
    public static void DpmSolver3M(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, bool lowerOrderFinal)
    {
        var b = ctx.Backend;
        var ring = new X0Ring(ctx, Slots.Dpmpp3mHistory);
        int steps = grid.Steps;
        for (int n = 0; n < steps; n++)
        {
            Point s = Point.At(grid.T(n)), t = Point.At(grid.T(n + 1));
            LogSnrSamplers.X0AtGridPoint(ctx, x, grid, n, ring.Free);
            ring.Push(s.Lambda);
            int order = Math.Min(3, ring.Count);
            if (lowerOrderFinal && steps < 10) order = Math.Min(order, steps - n);
            double h = t.Lambda - s.Lambda;
            var w = Dpm3MWeights(order, h, order > 1 ? s.Lambda - ring.Lambda(1) : 0, order > 2 ? ring.Lambda(1) - ring.Lambda(2) : 0);
            var terms = new Term[order + 1];
            terms[0] = new((float)(t.Sigma / s.Sigma), x);
            for (int k = 0; k < order; k++) terms[k + 1] = new((float)(t.Alpha * w[k]), ring.X0(k));
            b.Lincomb(x, terms);
            ctx.Report(n, steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }

    /// <summary>
    /// DPM-Solver++(3M)'s weights on x0 at the step start and the two grid points before it (m0, m1, m2; in units of
    /// alpha_t) for a step h whose previous steps were h0 (m1 to m0) and h1 (m2 to m1). With r0 = h0/h, r1 = h1/h,
    /// D1_0 = (m0 - m1)/r0, D1_1 = (m1 - m2)/r1 (each about h x0'), the paper's D1 = D1_0 + r0/(r0 + r1) (D1_0 - D1_1)
    /// (h x0' up to O(h^3)) and D2 = (D1_0 - D1_1)/(r0 + r1) (h^2 x0''/2 up to O(h^3)), the step is
    /// x_t = (sigma_t/sigma_s) x + alpha_t [I_0 m0 + (I_1/h) D1 + (2 I_2/h^2) D2], exact for x0 quadratic in lambda.
    /// The reference codes (dpm_solver, diffusers, k-diffusion) weight D2 by I_2/h^2, half of that: their D2 term is
    /// half the quadratic's, which leaves a local error O(h^3) and makes them second order (a test checks ours is third
    /// order). Order 2 is DPM-Solver++(2M)'s form I_0 ((1 + 1/(2 r0)) m0 - m1/(2 r0)), as `dpmpp-2m`; order 1 is DDIM.
    /// </summary>
    public static double[] Dpm3MWeights(int order, double h, double h0, double h1)
    {
        double phi1 = Phi1(h);
        if (order == 1) return [phi1];
        double r0 = h0 / h;
        if (order == 2) return [phi1 * (1 + 1 / (2 * r0)), -phi1 / (2 * r0)];
        if (order != 3) throw new ArgumentOutOfRangeException(nameof(order), order, "DPM-Solver++(3M) has orders 1 to 3");
        double r1 = h1 / h;
        double a = PhiK(1, h) / h, c = 2 * PhiK(2, h) / (h * h);
        double onD10 = a * (1 + r0 / (r0 + r1)) + c / (r0 + r1);
        double onD11 = -a * r0 / (r0 + r1) - c / (r0 + r1);
        return [phi1 + onD10 / r0, -onD10 / r0 + onD11 / r1, -onD11 / r1];
    }

    /// <summary>
    /// UniPC (Zhao et al. 2023) in data prediction, multistep: at step n the predictor UniP-p from x0 at the step start
    /// and the p - 1 grid points before it gives x_t; x0 is evaluated there (the next step's start value, one NFE), and
    /// the corrector UniC-p recomputes x_t from x_s with that new evaluation added, which raises the order by one at no
    /// extra evaluation. The history keeps x0 at the predicted point (the corrected x_t is never evaluated). The order
    /// p is min(order, n + 1) (warm-up), with <paramref name="lowerOrderFinal"/> also min(order, steps left) (as UniPC's
    /// and diffusers' lower_order_final); the last step has no corrector (it would cost an extra NFE). One NFE per step.
    /// </summary>
    public static void UniPc(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int order, UniPcVariant variant, bool lowerOrderFinal)
    {
        var b = ctx.Backend;
        var ring = new X0Ring(ctx, Slots.UniPcHistory);
        var xp = ctx.Work[Slots.UniPcPredicted, ctx.N];
        int steps = grid.Steps;
        LogSnrSamplers.X0AtGridPoint(ctx, x, grid, 0, ring.Free);
        ring.Push(Point.At(grid.T(0)).Lambda);
        for (int n = 0; n < steps; n++)
        {
            Point s = Point.At(grid.T(n)), t = Point.At(grid.T(n + 1));
            double h = t.Lambda - s.Lambda;
            int p = Math.Min(order, ring.Count);
            if (lowerOrderFinal) p = Math.Min(p, steps - n);
            bool correct = n < steps - 1;
            var r = new double[p - 1];
            for (int k = 1; k < p; k++) r[k - 1] = (ring.Lambda(k) - s.Lambda) / h;
            var (wp, wc) = UniPcWeights(p, r, h, variant);
            float ratio = (float)(t.Sigma / s.Sigma);
            var pred = new Term[p + 1];
            pred[0] = new(ratio, x);
            for (int k = 0; k < p; k++) pred[k + 1] = new((float)(t.Alpha * wp[k]), ring.X0(k));
            if (!correct)
            {
                b.Lincomb(x, pred);
                ctx.Report(n, steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
                break;
            }
            b.Lincomb(xp, pred);
            var corr = new Term[p + 1];
            corr[0] = new(ratio, x);
            for (int k = 0; k < p; k++) corr[k + 1] = new((float)(t.Alpha * wc[k]), ring.X0(k));
            var mt = ring.Free;
            LogSnrSamplers.X0AtGridPoint(ctx, xp, grid, n + 1, mt);   // x0 at the predicted x_t: the corrector's point and the next step's start
            b.Lincomb(x, corr);
            b.Lincomb(x, [new(1f, x), new((float)(t.Alpha * wc[p]), mt)]);
            ring.Push(t.Lambda);
            ctx.Report(n, steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }

    /// <summary>
    /// UniPC's weights (in units of alpha_t) for order p with the earlier points at r_k = (lambda_k - lambda_s)/h
    /// (k = 1..p-1, negative): predictor on (m0, m1, .., m_{p-1}), corrector on the same and, last, x0 at the predicted
    /// x_t (r = 1). With D_k = (m_k - m0)/r_k both are x_t = (sigma_t/sigma_s) x_s + alpha_t [I_0 m0 + B(h) sum_k rho_k D_k],
    /// where rho solves sum_k rho_k r_k^{i-1} = i! I_i(h) / (B(h) h^i) for i = 1..(number of D's) (the paper's
    /// R_p(h) rho = phi_p(h) / B(h), with I_i = <see cref="LogSnrSteps.PhiK"/>); with one D the paper's and the reference
    /// code's rho = 1/2 (the limit of that equation as h -> 0, which keeps the order).
    /// </summary>
    public static (double[] Predictor, double[] Corrector) UniPcWeights(int p, double[] r, double h, UniPcVariant variant)
    {
        if (p < 1 || p > 3 || r.Length != p - 1) throw new ArgumentException($"UniPC order {p} needs {p - 1} earlier points, got {r.Length}");
        double phi1 = Phi1(h);
        double bh = variant == UniPcVariant.Bh1 ? h : phi1;
        var rhs = new double[p];
        double fact = 1, pow = 1;
        for (int i = 1; i <= p; i++) { fact *= i; pow *= h; rhs[i - 1] = fact * PhiK(i, h) / (bh * pow); }
        double[] rhoP = p == 1 ? [] : p == 2 ? [0.5] : SolveVandermonde(r, rhs.AsSpan(0, p - 1));
        double[] rhoC = p == 1 ? [0.5] : SolveVandermonde([.. r, 1.0], rhs);
        var wp = new double[p];
        var wc = new double[p + 1];
        wp[0] = wc[0] = phi1;
        for (int k = 1; k < p; k++)
        {
            wp[k] = bh * rhoP[k - 1] / r[k - 1]; wp[0] -= wp[k];
            wc[k] = bh * rhoC[k - 1] / r[k - 1]; wc[0] -= wc[k];
        }
        wc[p] = bh * rhoC[p - 1]; wc[0] -= wc[p];
        return (wp, wc);
    }

    /// <summary>Solves sum_k rho_k nodes_k^i = rhs_i (i = 0..m-1) by Gaussian elimination with partial pivoting (m &lt;= 3).</summary>
    static double[] SolveVandermonde(double[] nodes, ReadOnlySpan<double> rhs)
    {
        int m = nodes.Length;
        var a = new double[m, m + 1];
        for (int i = 0; i < m; i++)
        {
            for (int k = 0; k < m; k++) a[i, k] = Math.Pow(nodes[k], i);
            a[i, m] = rhs[i];
        }
        for (int c = 0; c < m; c++)
        {
            int piv = c;
            for (int i = c + 1; i < m; i++) if (Math.Abs(a[i, c]) > Math.Abs(a[piv, c])) piv = i;
            for (int k = 0; k <= m; k++) (a[c, k], a[piv, k]) = (a[piv, k], a[c, k]);
            for (int i = c + 1; i < m; i++)
            {
                double f = a[i, c] / a[c, c];
                for (int k = c; k <= m; k++) a[i, k] -= f * a[c, k];
            }
        }
        var rho = new double[m];
        for (int i = m - 1; i >= 0; i--)
        {
            double v = a[i, m];
            for (int k = i + 1; k < m; k++) v -= a[i, k] * rho[k];
            rho[i] = v / a[i, i];
        }
        return rho;
    }
}
