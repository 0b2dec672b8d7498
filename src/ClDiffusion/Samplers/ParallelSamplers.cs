using ClDiffusion.Backends;
using ClDiffusion.Diffusion;
using ClDiffusion.Random;

namespace ClDiffusion.Samplers;

/// <summary>Parallel-in-time predictors: the paper's parallel randomized midpoint and the ParaDiGMS-style Picard baseline.</summary>
public static class ParallelSamplers
{
    /// <summary>
    /// One window [tau0, tau0 + h] of the parallel randomized midpoint (DESIGN 1.3 item 6): R sub-windows,
    /// alpha_i ~ U[(i-1)/R, i/R]; start x_i^(0) = e^{alpha_i h} x0 + (e^{alpha_i h} - 1) s(x0, tau0); K Picard rounds
    /// x_i^(k) = e^{alpha_i h} x0 + sum_{j&lt;=i} w_ij s(x_j^(k-1), tau0 + alpha_j h); then
    /// x(tau0 + h) = e^h x0 + (h/R) sum_i e^{(1 - alpha_i) h} s(x_i^(K), tau0 + alpha_i h). Depth K + 2.
    /// With R = 1, K = 0 it is the sequential randomized midpoint step.
    /// </summary>
    public static void ParallelMidpointWindow(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int n, int R, int K)
    {
        var b = ctx.Backend;
        float h = (float)grid.H(n), t0 = (float)grid.T(n);
        var s0 = ctx.Work[Slots.Score, ctx.N];
        var alpha = ctx.Work[Slots.Alpha, ctx.N, R];
        var xi = ctx.Work[Slots.PrmX, ctx.N * R];
        var si = ctx.Work[Slots.PrmScores, ctx.N * R];
        b.DrawAlphas(alpha, ctx.Key((uint)n, Purpose.Alpha), ctx.FirstSample, AlphaLaw.Stratified, h);
        ctx.Score(x, grid.Tau[n], s0);
        b.MidpointPredict(xi, x, s0, alpha, h);
        for (int k = 1; k <= K; k++)
        {
            ctx.ScoreAt(xi, t0, h, alpha, si);
            b.PicardSums(xi, x, si, alpha, h);
        }
        ctx.ScoreAt(xi, t0, h, alpha, si);
        b.MidpointFinal(x, x, si, alpha, h);
    }

    public static void ParallelMidpoint(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int R, int K) =>
        ParallelMidpoint(ctx, x, grid, 0, grid.Steps, R, K);

    public static void ParallelMidpoint(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int from, int to, int R, int K)
    {
        for (int n = from; n < to; n++)
        {
            ParallelMidpointWindow(ctx, x, grid, n, R, K);
            ctx.Report(n, grid.Steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }

    /// <summary>
    /// ParaDiGMS-style Picard iteration (Shih et al. 2023) with the exponential integrator as the base solver:
    /// the grid is cut into windows of `window` steps; in each, all positions are guessed (x0 repeated), then each
    /// round scores every position at once and recomputes the trajectory by the exponential recurrence. Each sample
    /// stops on its own: its window end is taken from the first round at which its own largest change is below
    /// `tolerance` (or from round `window`, which equals the sequential solver), so samples do not depend on the batch.
    /// </summary>
    public static void Picard(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int window, double tolerance)
    {
        var b = ctx.Backend;
        int n = ctx.N;
        var diff = new float[n];
        var done = new bool[n];
        var mask = new float[n];
        for (int start = 0; start < grid.Steps; start += window)
        {
            int m = Math.Min(window, grid.Steps - start);
            var xs = ctx.Work[Slots.PicardXs, n * m];
            var prev = ctx.Work[Slots.PicardPrev, n * m];
            var ss = ctx.Work[Slots.PicardScores, n * m];
            var xEnd = ctx.Work[Slots.PicardEnd, n];
            var times = ctx.Work[Slots.PicardTimes, m, 1];
            var maskBuf = ctx.Work[Slots.PicardMask, n, 1];
            var hs = new float[m]; var offs = new float[m];
            for (int i = 0; i < m; i++) { hs[i] = (float)grid.H(start + i); offs[i] = (float)grid.Tau[start + i]; }
            b.Upload(times, offs);
            b.RepeatRows(xs, x, m);
            Array.Clear(done);
            int remaining = n;
            for (int k = 0; k < m && remaining > 0; k++)
            {
                ctx.ScoreAt(xs, (float)grid.Horizon, 1f, times, ss);   // t = T - tau_i per position
                b.Copy(prev, xs);
                b.ExpScan(x, ss, hs, xs, xEnd);
                // positions 0..k are now exact; a sample whose trajectory stopped moving keeps this round's window end
                bool last = k == m - 1;
                if (!last) b.RowMaxAbsDiff(prev, xs, m, diff);
                int newly = 0;
                for (int r = 0; r < n; r++)
                {
                    bool now = !done[r] && (last || diff[r] < tolerance);
                    mask[r] = now ? 1f : 0f;
                    if (now) { done[r] = true; newly++; }
                }
                if (newly == 0) continue;
                remaining -= newly;
                if (newly == n) { b.Copy(x, xEnd); break; }
                b.Upload(maskBuf, mask);
                // x rows of converged samples now hold their window end; later rounds still read them as x0, but only for
                // samples that are done, whose results are never copied again
                b.CopyRowsWhere(x, xEnd, maskBuf);
            }
            ctx.Report(start + m - 1, grid.Steps, grid.Tau[start + m], SamplerPhase.Predictor, x);
        }
    }
}
