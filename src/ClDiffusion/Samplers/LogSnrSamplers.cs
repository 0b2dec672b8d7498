using ClDiffusion.Backends;
using ClDiffusion.Diffusion;
using ClDiffusion.Random;
using static ClDiffusion.Diffusion.LogSnrSteps;

namespace ClDiffusion.Samplers;

/// <summary>
/// What the second-order midpoint remembers between steps: x0 at the previous step's start and its log-SNR. A corrector
/// moves the state off the trajectory the history describes, so predictor-corrector schedules forget it after each one.
/// </summary>
public sealed class X0History
{
    double lambda = double.NaN;
    public bool Has => !double.IsNaN(lambda);
    public void Forget() => lambda = double.NaN;

    /// <summary>slope = (d0 - x0_prev) / (lambda_s - lambda_prev), or null when there is no previous step.</summary>
    public IDeviceBuffer? Slope(SamplerContext ctx, IDeviceBuffer d0, double lambdaStart)
    {
        if (!Has) return null;
        var slope = ctx.Work[Slots.X0Slope, ctx.N];
        float inv = (float)(1 / (lambdaStart - lambda));
        ctx.Backend.Lincomb(slope, [new(inv, d0), new(-inv, ctx.Work[Slots.X0Previous, ctx.N])]);
        return slope;
    }

    public void Remember(SamplerContext ctx, IDeviceBuffer d0, double lambdaStart)
    {
        ctx.Backend.Copy(ctx.Work[Slots.X0Previous, ctx.N], d0);
        lambda = lambdaStart;
    }
}

/// <summary>
/// What rm-x0's multistep form remembers: the last two x0 evaluations of every row with their forward times (each row's
/// midpoints lie at its own times), the points of a line in lambda. Three slots rotate, so a new evaluation is written
/// into the free one and nothing is copied. A corrector moves the state off the trajectory, so schedules forget after it.
/// </summary>
public sealed class X0Line
{
    int count, newest;
    public int Count => count;
    public void Forget() => count = 0;

    static (IDeviceBuffer D, IDeviceBuffer Times) Slot(SamplerContext ctx, int i) =>
        (ctx.Work[Slots.X0LineD[i], ctx.N], ctx.Work[Slots.X0LineTimes[i], ctx.N, 1]);

    public (IDeviceBuffer D, IDeviceBuffer Times) Newest(SamplerContext ctx) => Slot(ctx, newest);
    public (IDeviceBuffer D, IDeviceBuffer Times) Older(SamplerContext ctx) => Slot(ctx, (newest + 2) % 3);
    /// <summary>The slot the next evaluation is written to (neither of the two remembered points).</summary>
    public (IDeviceBuffer D, IDeviceBuffer Times) Free(SamplerContext ctx) => Slot(ctx, (newest + 1) % 3);
    /// <summary>The free slot now holds the newest point.</summary>
    public void Push() { newest = (newest + 1) % 3; count = Math.Min(count + 1, 2); }
}

/// <summary>
/// The randomized midpoint in data-prediction form on the log-SNR axis (see <see cref="LogSnrSteps"/>): over a step
/// from lambda_s to lambda_t, x_t = (sigma_t / sigma_s) x_s + sigma_t * integral e^lambda x0(x_lambda) d lambda, and a
/// midpoint lambda_m drawn with density proportional to e^lambda, independently of everything before it, makes
/// alpha_t (1 - e^{-h}) x0(x_m, lambda_m) an unbiased estimate of the integral's term given the exact midpoint state.
/// Unlike the score form, whose weight h e^{(1 - alpha) h} grows with the step, the weights on x and on x0 values
/// (sigma ratios and alpha (1 - e^{-k})) are at most 1 for any step; the slope terms' weights alpha (e^{-k} - 1 + k)
/// grow like k on long steps (and the slope itself is a difference quotient of two x0 values).
/// </summary>
public static class LogSnrSamplers
{
    /// <summary>
    /// rm-x0: per step, x0 at the start (one NFE), the midpoint state by a first-order step (order 1) or with x0
    /// extrapolated linearly from the previous step's start (order 2, no extra NFE), x0 at the midpoint (one NFE), then
    /// x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^{-h}) x0(x_m, lambda_m) [+ a control variate in the slope, mean zero
    /// because the slope is fixed before the step's midpoint is drawn with its own key].
    /// </summary>
    public static void RandomizedMidpointX0(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int order) =>
        RandomizedMidpointX0(ctx, x, grid, 0, grid.Steps, order, new X0History());

    public static void RandomizedMidpointX0(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int from, int to, int order, X0History history)
    {
        for (int n = from; n < to; n++)
        {
            Window(ctx, x, grid, n, 1, 0, order, history);
            ctx.Report(n, grid.Steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }

    /// <summary>dst = x0(x, t_n) = (x + sigma^2 s(x, t_n)) / alpha at grid point n (one NFE): every step start of the x0 samplers.</summary>
    internal static void X0AtGridPoint(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int n, IDeviceBuffer dst)
    {
        var p = Point.At(grid.T(n));
        var score = ctx.Work[Slots.Score, ctx.N];
        ctx.Score(x, grid.Tau[n], score);
        ctx.Backend.Lincomb(dst, [new((float)(1 / p.Alpha), x), new((float)(p.Sigma * p.Sigma / p.Alpha), score)]);
    }

    /// <summary>Golden-ratio step of the midpoint rotation: the shifts frac(n phi) of consecutive steps are 0.382 or 0.618 apart.</summary>
    const double GoldenShift = 0.6180339887498949;

    /// <summary>
    /// rm-x0 (default, multistep form): one NFE per step, x0 evaluated only at the random midpoints. Each step draws
    /// lambda_m from the density proportional to e^lambda (its uniform rotated by frac(n phi) at step n, so every step's
    /// marginal law is exact and consecutive midpoints stay apart), reaches x_m by the exponential step along the line in
    /// lambda through the last two x0 evaluations, evaluates x0(x_m, lambda_m), and finishes with
    /// x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^{-h}) x0_m plus alpha_t (e^{-h} - 1 + h - (1 - e^{-h}) k) slope.
    /// It is a multistep exponential integrator with a randomly phased midpoint sequence, not an unbiased estimator: the
    /// rotated uniforms of consecutive steps are correlated (lag-1 correlation 1 - 6c(1 - c) = -0.42, c = frac(phi);
    /// test RotatedMidpointsAreCorrelatedFromStepToStep), and the slope comes from the previous midpoints, so the slope
    /// term does not have mean zero over this step's midpoint. `--x0-start fresh` keeps the unbiased form.
    /// The first step has no line yet: it evaluates x0 at the start noise and takes the exponential (DDIM) step; the first
    /// step after a corrector evaluates x0 at its start and then takes the randomized step from it (2 NFE).
    /// </summary>
    public static void RandomizedMidpointX0Multistep(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid) =>
        RandomizedMidpointX0Multistep(ctx, x, grid, 0, grid.Steps, new X0Line());

    public static void RandomizedMidpointX0Multistep(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int from, int to, X0Line line)
    {
        for (int n = from; n < to; n++)
        {
            MultistepStep(ctx, x, grid, n, line);
            ctx.Report(n, grid.Steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }

    static void MultistepStep(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int n, X0Line line)
    {
        var b = ctx.Backend;
        double ts = grid.T(n), tt = grid.T(n + 1);
        Point s = Point.At(ts), t = Point.At(tt);
        double h = t.Lambda - s.Lambda;
        var (dNew, timesNew) = line.Free(ctx);
        var u = ctx.Work[Slots.Alpha, ctx.N, 1];
        b.DrawAlphas(u, ctx.Key(0, Purpose.MidpointShift), ctx.FirstSample, AlphaLaw.Rotated, (float)(n * GoldenShift % 1.0));
        if (line.Count == 0)
        {
            X0AtGridPoint(ctx, x, grid, n, dNew);
            b.TiltedTimes(timesNew, u, s.Lambda, 0);   // h = 0 puts every row at lambda_s: the point's time on the device
            line.Push();
            if (n == 0)
            {
                // from the start noise x0 is nearly constant in lambda: the exponential (DDIM) step, so S steps cost S NFE
                b.Lincomb(x, [new((float)(t.Sigma / s.Sigma), x), new((float)(t.Alpha * Phi1(h)), dNew)]);
                return;
            }
            (dNew, timesNew) = line.Free(ctx);   // after a corrector: the randomized step from the fresh x0 (2 NFE this step)
        }
        b.TiltedTimes(timesNew, u, t.Lambda, h);
        // x0 on the step: the line through the last two evaluations, or the one evaluation (constant) if that is all
        var (dB, timesB) = line.Newest(ctx);
        IDeviceBuffer d0 = dB;
        IDeviceBuffer? slope = null;
        if (line.Count == 2)
        {
            var (dA, timesA) = line.Older(ctx);
            d0 = ctx.Work[Slots.X0Start, ctx.N];
            slope = ctx.Work[Slots.X0Slope, ctx.N];
            b.LogSnrLine(d0, slope, dA, timesA, dB, timesB, ts);
        }
        var xm = ctx.Work[Slots.X0MidX, ctx.N];
        var sm = ctx.Work[Slots.X0MidScores, ctx.N];
        b.LogSnrPredict(xm, x, d0, slope, timesNew, ts);
        ctx.ScoreAt(xm, 0f, -1f, timesNew, sm);   // forward time 0 - (-1) * times[r] = times[r]
        b.DataPrediction(dNew, xm, sm, timesNew);
        b.LogSnrFinal(x, x, dNew, slope, timesNew, ts, tt);
        line.Push();
    }

    /// <summary>
    /// prm-x0: per window, R midpoints stratified in the e^lambda measure (one in each sub-window of equal mass), K Picard
    /// rounds on the integral with x0 piecewise constant over the sub-windows, then the mean of the R x0 values in the
    /// final step. Depth K + 2 rounds of score calls per window; with R = 1, K = 0 it is rm-x0.
    /// </summary>
    public static void ParallelMidpointX0(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int R, int K, int order) =>
        ParallelMidpointX0(ctx, x, grid, 0, grid.Steps, R, K, order, new X0History());

    public static void ParallelMidpointX0(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int from, int to, int R, int K, int order, X0History history)
    {
        for (int n = from; n < to; n++)
        {
            Window(ctx, x, grid, n, R, K, order, history);
            ctx.Report(n, grid.Steps, grid.Tau[n + 1], SamplerPhase.Predictor, x);
        }
    }

    /// <summary>One step (window) n of either sampler; R = 1, K = 0 is the sequential step.</summary>
    public static void Window(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, int n, int R, int K, int order, X0History history)
    {
        var b = ctx.Backend;
        double ts = grid.T(n), tt = grid.T(n + 1);
        Point s = Point.At(ts), t = Point.At(tt);
        double h = t.Lambda - s.Lambda;
        var d0 = ctx.Work[Slots.X0, ctx.N];
        X0AtGridPoint(ctx, x, grid, n, d0);
        var slope = order == 2 ? history.Slope(ctx, d0, s.Lambda) : null;

        var u = ctx.Work[Slots.Alpha, ctx.N, R];
        var times = ctx.Work[Slots.X0Times, ctx.N, R];
        b.DrawAlphas(u, ctx.Key((uint)n, Purpose.Alpha), ctx.FirstSample, AlphaLaw.Stratified, (float)h);
        b.TiltedTimes(times, u, t.Lambda, h);

        var xi = ctx.Work[Slots.X0MidX, ctx.N * R];
        var si = ctx.Work[Slots.X0MidScores, ctx.N * R];
        var di = ctx.Work[Slots.X0MidD, ctx.N * R];
        b.LogSnrPredict(xi, x, d0, slope, times, ts);
        for (int k = 0; ; k++)
        {
            ctx.ScoreAt(xi, 0f, -1f, times, si);   // forward time 0 - (-1) * times[r] = times[r]
            b.DataPrediction(di, xi, si, times);
            if (k == K) break;
            b.LogSnrPicard(xi, x, di, times, ts, tt);
        }
        b.LogSnrFinal(x, x, di, slope, times, ts, tt);
        history.Remember(ctx, d0, s.Lambda);
    }
}
