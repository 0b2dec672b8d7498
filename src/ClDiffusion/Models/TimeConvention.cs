using System.Globalization;
using ClDiffusion.Diffusion;

namespace ClDiffusion.Models;

/// <summary>
/// What a model sees at forward time t of this project's process (x_t = alpha_t x0 + sigma_t eps, alpha_t = e^{-t},
/// sigma_t^2 = 1 - e^{-2t}): its time input, the factor its input is scaled by (x_model = Scale * x) and the
/// alpha, sigma of its own parametrisation (x_model = Alpha x0 + Sigma eps), which a v-prediction needs.
/// </summary>
public readonly record struct ModelTime(double Input, double Scale, double Alpha, double Sigma);

/// <summary>
/// Maps this project's forward time to the time and scale of a model trained under another convention
/// (k-diffusion's model wrappers). Formulas in docs/MODELS.md, "Time conventions".
/// </summary>
public abstract class TimeConvention
{
    /// <summary>The spec string <see cref="Parse"/> reads back ("ours", "vp-linear:1000", "edm").</summary>
    public abstract string Name { get; }
    /// <summary>True when the model sees (x, t) unchanged.</summary>
    public virtual bool IsIdentity => false;
    /// <summary>The forward times the model was trained on, [TMin, TMax]; outside it the model extrapolates or is clamped.</summary>
    public abstract (double TMin, double TMax) Range { get; }
    public abstract ModelTime Map(double t);

    /// <summary>This project's process: the model takes (x, t) as they are.</summary>
    public static readonly TimeConvention Ours = new OursConvention();

    /// <summary>
    /// "ours"; "vp-linear[:N[:beta_1:beta_N]]", "vp-scaled-linear[:N[:beta_1:beta_N]]", "vp-cosine[:N]" (DDPM, discrete
    /// timesteps, N = 1000 by default); "edm[:sigma_min:sigma_max]" (sigma, trained on 0.002..80 by default, Karras et al.)
    /// or "ve[:sigma_min:sigma_max]" (0.01..50 by default, Song et al.'s CIFAR-10 setting).
    /// </summary>
    public static TimeConvention Parse(string spec)
    {
        var parts = spec.Trim().ToLowerInvariant().Split(':');
        double D(int i, double dflt) => parts.Length > i ? double.Parse(parts[i], CultureInfo.InvariantCulture) : dflt;
        try
        {
            switch (parts[0])
            {
                case "ours" when parts.Length == 1: return Ours;
                case "edm" when parts.Length is 1 or 3: return new EdmConvention("edm", D(1, 0.002), D(2, 80));
                case "ve" when parts.Length is 1 or 3: return new EdmConvention("ve", D(1, 0.01), D(2, 50));
                case "vp-linear" when parts.Length is 1 or 2 or 4:
                    return VpDiscrete.Linear((int)D(1, 1000), D(2, 1e-4), D(3, 0.02));
                case "vp-scaled-linear" when parts.Length is 1 or 2 or 4:
                    return VpDiscrete.ScaledLinear((int)D(1, 1000), D(2, 0.00085), D(3, 0.012));
                case "vp-cosine" when parts.Length is 1 or 2:
                    return VpDiscrete.Cosine((int)D(1, 1000));
            }
        }
        catch (FormatException) { }
        throw new ArgumentException($"unknown time convention '{spec}' (use ours, vp-linear[:N[:b1:bN]], vp-scaled-linear[:N[:b1:bN]], vp-cosine[:N], edm[:smin:smax] or ve[:smin:smax])");
    }

    sealed class OursConvention : TimeConvention
    {
        public override string Name => "ours";
        public override bool IsIdentity => true;
        public override (double TMin, double TMax) Range => (0, double.PositiveInfinity);
        public override ModelTime Map(double t) => new(t, 1, ForwardProcess.Alpha(t), ForwardProcess.Sigma(t));
    }
}

/// <summary>
/// EDM / variance-exploding sigma: x_ve = x0 + sigma eps. Our x_t divided by alpha_t is such a state with
/// sigma = sigma_t / alpha_t = sqrt(e^{2t} - 1); the model gets x_t e^{t} and sigma. It was trained on sigmas in
/// [SigmaMin, SigmaMax], the forward times [TimeOf(SigmaMin), TimeOf(SigmaMax)].
/// </summary>
public sealed class EdmConvention : TimeConvention
{
    readonly string name;
    public double SigmaMin { get; }
    public double SigmaMax { get; }

    public EdmConvention(string name = "edm", double sigmaMin = 0.002, double sigmaMax = 80)
    {
        if (!(sigmaMin > 0 && sigmaMax > sigmaMin && double.IsFinite(sigmaMax)))
            throw new ArgumentException($"{name}: the sigma range needs 0 < sigma_min < sigma_max < infinity, got [{sigmaMin}, {sigmaMax}]");
        this.name = name; SigmaMin = sigmaMin; SigmaMax = sigmaMax;
    }

    public override string Name => FormattableString.Invariant($"{name}:{SigmaMin}:{SigmaMax}");
    public override (double TMin, double TMax) Range => (TimeOf(SigmaMin), TimeOf(SigmaMax));
    public override ModelTime Map(double t)
    {
        double sigma = Math.Sqrt(Num.ExpM1(2 * t));
        return new ModelTime(sigma, Math.Exp(t), 1, sigma);
    }
    /// <summary>The forward time of a sigma: t = log(1 + sigma^2) / 2.</summary>
    public static double TimeOf(double sigma) => 0.5 * Num.Log1P(sigma * sigma);
}

/// <summary>
/// A DDPM model with N discrete timesteps n = 0..N-1 and alphabar_n = prod_{i &lt;= n} (1 - beta_i): x_n =
/// sqrt(alphabar_n) x0 + sqrt(1 - alphabar_n) eps is our state at t_n = -log(alphabar_n) / 2 (same scale). The
/// timestep of forward time t is found by linear interpolation of log sigma_n = log sqrt((1 - alphabar_n) / alphabar_n)
/// (as k-diffusion's DiscreteSchedule does), and clamped to [0, N - 1] outside [t_0, t_{N-1}].
/// </summary>
public sealed class VpDiscrete : TimeConvention
{
    readonly double[] logSigma;
    readonly string name;
    public double[] AlphaBar { get; }
    public int Steps => AlphaBar.Length;

    public VpDiscrete(double[] betas, string name)
    {
        if (betas.Length < 2) throw new ArgumentException($"a discrete VP schedule needs at least 2 timesteps, got {betas.Length}");
        AlphaBar = new double[betas.Length];
        logSigma = new double[betas.Length];
        double ab = 1;
        for (int n = 0; n < betas.Length; n++)
        {
            if (!(betas[n] > 0 && betas[n] < 1)) throw new ArgumentException($"beta_{n} = {betas[n]} must lie in (0, 1)");
            ab *= 1 - betas[n];
            AlphaBar[n] = ab;
            logSigma[n] = 0.5 * Math.Log((1 - ab) / ab);
        }
        this.name = name;
    }

    public override string Name => name;
    public override (double TMin, double TMax) Range => (TimeOfStep(0), TimeOfStep(Steps - 1));
    public double TimeOfStep(int n) => -0.5 * Math.Log(AlphaBar[n]);

    /// <summary>Linear betas from beta_1 to beta_N (DDPM: 1e-4 to 0.02, N = 1000).</summary>
    public static VpDiscrete Linear(int steps = 1000, double beta1 = 1e-4, double betaN = 0.02) =>
        new(Spaced(steps, beta1, betaN, b => b, b => b), FormattableString.Invariant($"vp-linear:{steps}:{beta1}:{betaN}"));

    /// <summary>Betas linear in sqrt(beta) (Stable Diffusion's "scaled_linear": 0.00085 to 0.012).</summary>
    public static VpDiscrete ScaledLinear(int steps = 1000, double beta1 = 0.00085, double betaN = 0.012) =>
        new(Spaced(steps, beta1, betaN, Math.Sqrt, s => s * s), FormattableString.Invariant($"vp-scaled-linear:{steps}:{beta1}:{betaN}"));

    /// <summary>Nichol and Dhariwal's cosine schedule: alphabar(u) = f(u)/f(0), f(u) = cos((u + s)/(1 + s) pi/2)^2, s = 0.008, betas clipped at 0.999.</summary>
    public static VpDiscrete Cosine(int steps = 1000)
    {
        if (steps < 2) throw new ArgumentException($"a discrete VP schedule needs at least 2 timesteps, got {steps}");
        static double F(double u) { double c = Math.Cos((u + 0.008) / 1.008 * Math.PI / 2); return c * c; }
        var betas = new double[steps];
        for (int n = 0; n < steps; n++) betas[n] = Math.Min(1 - F((n + 1.0) / steps) / F((double)n / steps), 0.999);
        return new(betas, $"vp-cosine:{steps}");
    }

    static double[] Spaced(int steps, double a, double b, Func<double, double> to, Func<double, double> from)
    {
        if (steps < 2) throw new ArgumentException($"a discrete VP schedule needs at least 2 timesteps, got {steps}");
        var betas = new double[steps];
        double ta = to(a), tb = to(b);
        for (int n = 0; n < steps; n++) betas[n] = from(ta + (tb - ta) * n / (steps - 1));
        return betas;
    }

    /// <summary>The (fractional) timestep whose interpolated log sigma equals log sqrt(e^{2t} - 1), clamped to [0, N-1].</summary>
    public double StepOf(double t)
    {
        double ls = 0.5 * Math.Log(Num.ExpM1(2 * t));
        int last = logSigma.Length - 1;
        if (!(ls > logSigma[0])) return 0;
        if (ls >= logSigma[last]) return last;
        int lo = 0, hi = last;
        while (hi - lo > 1) { int mid = (lo + hi) >> 1; if (logSigma[mid] <= ls) lo = mid; else hi = mid; }
        return lo + (ls - logSigma[lo]) / (logSigma[hi] - logSigma[lo]);
    }

    public override ModelTime Map(double t) => new(StepOf(t), 1, ForwardProcess.Alpha(t), ForwardProcess.Sigma(t));
}
