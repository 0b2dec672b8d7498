using ClDiffusion.Backends;
using ClDiffusion.Diffusion;
using ClDiffusion.Random;

namespace ClDiffusion.Samplers;

/// <summary>
/// Sequential predictors for the probability-flow ODE dx/dtau = x + s(x, tau) (DESIGN 1.3 items 1, 2 and 7).
/// Each advances x [N, d] in place over grid steps [from, to).
/// </summary>
public static class OdeSamplers
{
    /// <summary>Exponential integrator (DDIM-like): x_{n+1} = e^h x_n + (e^h - 1) s(x_n, tau_n). One NFE per step.</summary>
    public static void ExponentialIntegrator(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid) =>
        ExponentialIntegrator(ctx, x, grid, 0, grid.Steps);

    public static void ExponentialIntegrator(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int from, int to)
    {
        var s = ctx.Work[Slots.Score, ctx.N];
        for (int n = from; n < to; n++)
        {
            double h = grid.H(n);
            ctx.Score(x, grid.Tau[n], s);
            ctx.Backend.Lincomb(x, [new((float)Math.Exp(h), x), new((float)Num.ExpM1(h), s)]);
            ctx.Report(n, grid.Steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }

    /// <summary>
    /// Randomized midpoint (the paper's sequential step), alpha ~ U[0,1]:
    /// x_mid = e^{alpha h} x_n + (e^{alpha h} - 1) s(x_n, tau_n);
    /// x_{n+1} = e^h x_n + h e^{(1 - alpha) h} s(x_mid, tau_n + alpha h). Two NFE per step.
    /// With lowVariance, u = alpha h has density proportional to e^{h-u} and x_{n+1} = e^h x_n + (e^h - 1) s(x_mid, tau_n + u).
    /// </summary>
    public static void RandomizedMidpoint(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, bool lowVariance = false) =>
        RandomizedMidpoint(ctx, x, grid, 0, grid.Steps, lowVariance);

    public static void RandomizedMidpoint(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int from, int to, bool lowVariance = false)
    {
        var b = ctx.Backend;
        var s = ctx.Work[Slots.Score, ctx.N];
        var xMid = ctx.Work[Slots.MidpointX, ctx.N];
        var alpha = ctx.Work[Slots.Alpha, ctx.N, 1];
        for (int n = from; n < to; n++)
        {
            float h = (float)grid.H(n);
            b.DrawAlphas(alpha, ctx.Key((uint)n, Purpose.Alpha), ctx.FirstSample, lowVariance ? AlphaLaw.ExpTilted : AlphaLaw.Stratified, h);
            ctx.Score(x, grid.Tau[n], s);
            b.MidpointPredict(xMid, x, s, alpha, h);
            ctx.ScoreAt(xMid, (float)grid.T(n), h, alpha, s);
            if (lowVariance) b.Lincomb(x, [new((float)Math.Exp(h), x), new((float)Num.ExpM1(h), s)]);
            else b.MidpointFinal(x, x, s, alpha, h);
            ctx.Report(n, grid.Steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }

    /// <summary>Heun's method (explicit trapezoid) on dx/dtau = x + s: second order, two NFE per step.</summary>
    public static void Heun(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid)
    {
        var b = ctx.Backend;
        var s1 = ctx.Work[Slots.Score, ctx.N];
        var s2 = ctx.Work[Slots.Score2, ctx.N];
        var xe = ctx.Work[Slots.EulerX, ctx.N];
        for (int n = 0; n < grid.Steps; n++)
        {
            float h = (float)grid.H(n);
            ctx.Score(x, grid.Tau[n], s1);
            b.Lincomb(xe, [new(1 + h, x), new(h, s1)]);                               // Euler: x + h f(x)
            ctx.Score(xe, grid.Tau[n + 1], s2);
            b.Lincomb(x, [new(1 + h / 2, x), new(h / 2, s1), new(h / 2, xe), new(h / 2, s2)]); // x + h/2 (f(x) + f(xe))
            ctx.Report(n, grid.Steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }

    /// <summary>
    /// DPM-Solver++(2M) (Lu et al. 2022) in data prediction form with alpha_t = e^{-t}, lambda = log(alpha_t/sigma_t),
    /// x0(x, t) = (x + sigma_t^2 s) / alpha_t. One NFE per step; the first step is first order.
    /// </summary>
    public static void DpmSolver2M(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid)
    {
        var b = ctx.Backend;
        var s = ctx.Work[Slots.Score, ctx.N];
        var d0 = ctx.Work[Slots.X0, ctx.N];
        var dPrev = ctx.Work[Slots.X0Prev, ctx.N];
        double hPrev = 0;
        for (int n = 0; n < grid.Steps; n++)
        {
            double t = grid.T(n), tNext = grid.T(n + 1);
            double a = ForwardProcess.Alpha(t), s2 = ForwardProcess.SigmaSquared(t);
            ctx.Score(x, grid.Tau[n], s);
            b.Lincomb(d0, [new((float)(1 / a), x), new((float)(s2 / a), s)]);
            double h = ForwardProcess.LogSnr(tNext) - ForwardProcess.LogSnr(t);
            float ratio = (float)(ForwardProcess.Sigma(tNext) / ForwardProcess.Sigma(t));
            float coef = (float)(-ForwardProcess.Alpha(tNext) * Num.ExpM1(-h));
            if (n == 0)
                b.Lincomb(x, [new(ratio, x), new(coef, d0)]);
            else
            {
                double r = hPrev / h;
                b.Lincomb(x, [new(ratio, x), new((float)(coef * (1 + 1 / (2 * r))), d0), new((float)(-coef / (2 * r)), dPrev)]);
            }
            b.Copy(dPrev, d0);
            hPrev = h;
            ctx.Report(n, grid.Steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }
}
