using ClDiffusion.Backends;
using ClDiffusion.Random;

namespace ClDiffusion.Samplers;

/// <summary>
/// Underdamped Langevin correctors at a fixed sampler time tau, target pi = q_{T - tau} (DESIGN 1.3 items 3, 4, 6).
/// Each starts from a fresh V ~ N(0, I), keeps X and drops V. `id` numbers the corrector call so its noise is
/// its own: velocity from (id, LangevinVelocity), step m's noise from (id * 65536 + m, LangevinNoise).
/// </summary>
public static class Correctors
{
    static uint NoiseStep(int id) => checked((uint)id * 65536u);

    /// <summary>Frozen-drift underdamped Langevin: `steps` exact steps of size duration/steps, one NFE each.</summary>
    public static void Langevin(SamplerContext ctx, IDeviceBuffer x, double tau, int id, int steps, double duration, double gamma)
    {
        var b = ctx.Backend;
        var v = ctx.Work[Slots.Velocity, ctx.N];
        var s = ctx.Work[Slots.Score, ctx.N];
        b.Normal(v, ctx.Key((uint)id, Purpose.LangevinVelocity), ctx.FirstSample);
        float hc = (float)(duration / steps);
        var key = ctx.Key(NoiseStep(id), Purpose.LangevinNoise);
        for (int m = 0; m < steps; m++)
        {
            ctx.Score(x, tau, s);
            b.LangevinScan(x, v, s, 1, (float)gamma, hc, key.WithStep(key.Step + (uint)m), ctx.FirstSample, null, x, v);
            ctx.Report(m, steps, tau, SamplerPhase.Corrector, x);
        }
    }

    /// <summary>
    /// Shen-Lee randomized-midpoint underdamped Langevin: per step, alpha ~ U[0,1], the position at alpha h from the
    /// frozen drift and the exact Brownian part, then X and V advanced with the drift at that point. Two NFE per step.
    /// </summary>
    public static void RandomizedMidpointLangevin(SamplerContext ctx, IDeviceBuffer x, double tau, int id, int steps, double duration, double gamma)
    {
        var b = ctx.Backend;
        var v = ctx.Work[Slots.Velocity, ctx.N];
        var s = ctx.Work[Slots.Score, ctx.N];
        var xMid = ctx.Work[Slots.MidpointX, ctx.N];
        var alpha = ctx.Work[Slots.Alpha, ctx.N, 1];
        b.Normal(v, ctx.Key((uint)id, Purpose.LangevinVelocity), ctx.FirstSample);
        float h = (float)(duration / steps);
        for (int m = 0; m < steps; m++)
        {
            uint step = NoiseStep(id) + (uint)m;
            b.DrawAlphas(alpha, ctx.Key(step, Purpose.Alpha), ctx.FirstSample, AlphaLaw.Stratified, h);
            var key = ctx.Key(step, Purpose.LangevinNoise);
            ctx.Score(x, tau, s);
            b.ShenLeeMidpoint(xMid, x, v, s, alpha, (float)gamma, h, key, ctx.FirstSample);
            ctx.Score(xMid, tau, s);
            b.ShenLeeFinal(x, v, s, alpha, (float)gamma, h, key, ctx.FirstSample);
            ctx.Report(m, steps, tau, SamplerPhase.Corrector, x);
        }
    }

    /// <summary>
    /// Parallel corrector: Picard iteration on the integral form of the frozen-drift Langevin dynamics over M = steps
    /// sub-steps, the Brownian increments drawn once (from the same keys as <see cref="Langevin"/>) and reused by every
    /// round. Round k scores all M positions at once (one round of N*M score calls); with K = M rounds the result is
    /// the sequential corrector's. Depth K, NFE K*M.
    /// </summary>
    public static void ParallelLangevin(SamplerContext ctx, IDeviceBuffer x, double tau, int id, int steps, double duration, double gamma, int rounds)
    {
        var b = ctx.Backend;
        int m = steps;
        var v = ctx.Work[Slots.Velocity, ctx.N];
        var xs = ctx.Work[Slots.CorrectorXs, ctx.N * m];
        var ss = ctx.Work[Slots.CorrectorScores, ctx.N * m];
        b.Normal(v, ctx.Key((uint)id, Purpose.LangevinVelocity), ctx.FirstSample);
        var key = ctx.Key(NoiseStep(id), Purpose.LangevinNoise);
        float hc = (float)(duration / steps);
        b.RepeatRows(xs, x, m);                           // X_m^(0) = x for every m
        for (int k = 0; k < rounds; k++)
        {
            ctx.Score(xs, tau, ss);
            bool last = k == rounds - 1;
            b.LangevinScan(x, v, ss, m, (float)gamma, hc, key, ctx.FirstSample, last ? null : xs, last ? x : null, null);
            ctx.Report(k, rounds, tau, SamplerPhase.Corrector, x);
        }
    }

    /// <summary>Runs the corrector the options name after predictor step `id`.</summary>
    public static void Run(SamplerContext ctx, IDeviceBuffer x, double tau, int id, SamplerOptions o, bool parallel = false)
    {
        double t = ctx.Horizon - tau, duration = o.CorrectorTimeAt(t), gamma = o.GammaAt(t);
        if (parallel)
        {
            ParallelLangevin(ctx, x, tau, id, o.CorrectorSteps, duration, gamma, o.CorrectorRounds ?? o.CorrectorSteps);
            return;
        }
        switch (o.Corrector)
        {
            case CorrectorKind.RmUld: RandomizedMidpointLangevin(ctx, x, tau, id, o.CorrectorSteps, duration, gamma); break;
            case CorrectorKind.Uld: Langevin(ctx, x, tau, id, o.CorrectorSteps, duration, gamma); break;
            default: throw new ArgumentException(SamplerOptionTable.Unknown<CorrectorKind>("corrector", o.Corrector.ToString()));
        }
    }
}
