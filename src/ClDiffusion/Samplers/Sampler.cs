using ClDiffusion.Backends;
using ClDiffusion.Diffusion;

namespace ClDiffusion.Samplers;

/// <summary>
/// The samplers by name. Predictor-corrector schedules (the paper's sequential algorithm and Chen et al.'s
/// DDIM + corrector) run a predictor step by step and the corrector wherever the grid flags it.
/// </summary>
public static class Sampler
{
    public static readonly IReadOnlyDictionary<string, string> Descriptions = new Dictionary<string, string>
    {
        ["ei"] = "exponential integrator (DDIM-like), 1 NFE/step",
        ["rm"] = "randomized midpoint (paper, sequential), 2 NFE/step",
        ["ei-pc"] = "exponential integrator + underdamped Langevin corrector (Chen et al. 2023)",
        ["rm-pc"] = "randomized midpoint + corrector (the paper's sequential algorithm)",
        ["prm"] = "parallel randomized midpoint: R sub-windows, K Picard rounds per window",
        ["prm-pc"] = "parallel randomized midpoint + parallel (Picard) corrector",
        ["heun"] = "Heun (2nd order) on the ODE, 2 NFE/step",
        ["dpmpp-2m"] = "DPM-Solver++(2M), data prediction, 1 NFE/step",
        ["picard"] = "ParaDiGMS-style Picard windows over the exponential integrator, with a tolerance",
    };

    public static IEnumerable<string> Names => Descriptions.Keys;

    public static void Check(string name)
    {
        if (!Descriptions.ContainsKey(name))
            throw new ArgumentException($"unknown sampler '{name}' (known: {string.Join(", ", Names)})");
    }

    /// <summary>Runs sampler `name` on x [N, d] (holding the start noise) over grid.</summary>
    public static void Run(string name, SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, SamplerOptions o)
    {
        Check(name);
        if (o.Labels is not null || o.Guidance != 0) ctx.Condition(o.Labels, o.Guidance);   // guidance lives in ctx.ScoreAt, shared by every sampler
        Dispatch(name, ctx, x, grid, o);
        if (o.Denoise) Denoise(ctx, x, grid.Tau[^1]);
    }

    /// <summary>Tweedie's denoiser at the end time: x0 = (x + sigma_t^2 s_t(x)) / alpha_t. One NFE.</summary>
    public static void Denoise(SamplerContext ctx, IDeviceBuffer x, double tau)
    {
        double t = ctx.Horizon - tau, a = ForwardProcess.Alpha(t), s2 = ForwardProcess.SigmaSquared(t);
        var s = ctx.Scratch("s", ctx.N);
        ctx.Score(x, tau, s);
        ctx.Backend.Lincomb(x, [new((float)(1 / a), x), new((float)(s2 / a), s)]);
    }

    static void Dispatch(string name, SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, SamplerOptions o)
    {
        switch (name)
        {
            case "ei": OdeSamplers.ExponentialIntegrator(ctx, x, grid); break;
            case "rm": OdeSamplers.RandomizedMidpoint(ctx, x, grid, o.LowVariance); break;
            case "heun": OdeSamplers.Heun(ctx, x, grid); break;
            case "dpmpp-2m": OdeSamplers.DpmSolver2M(ctx, x, grid); break;
            case "prm": ParallelSamplers.ParallelMidpoint(ctx, x, grid, o.SubWindows, o.PicardRounds); break;
            case "picard": ParallelSamplers.Picard(ctx, x, grid, o.Window, o.Tolerance); break;
            case "ei-pc":
                PredictorCorrector(ctx, x, grid, o, (n) => OdeSamplers.ExponentialIntegrator(ctx, x, grid, n, n + 1), parallel: false); break;
            case "rm-pc":
                PredictorCorrector(ctx, x, grid, o, (n) => OdeSamplers.RandomizedMidpoint(ctx, x, grid, n, n + 1, o.LowVariance), parallel: false); break;
            case "prm-pc":
                PredictorCorrector(ctx, x, grid, o, (n) => ParallelSamplers.ParallelMidpoint(ctx, x, grid, n, n + 1, o.SubWindows, o.PicardRounds), parallel: true); break;
        }
    }

    /// <summary>Predictor steps over the grid, the corrector after every flagged step (at the step's end time).</summary>
    public static void PredictorCorrector(SamplerContext ctx, IDeviceBuffer x, TimeGrid grid, SamplerOptions o, Action<int> predictorStep, bool parallel)
    {
        for (int n = 0; n < grid.Steps; n++)
        {
            predictorStep(n);
            if (grid.CorrectAfter[n]) Correctors.Run(ctx, x, grid.Tau[n + 1], n + 1, o, parallel);
        }
    }
}
