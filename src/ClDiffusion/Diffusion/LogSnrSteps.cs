namespace ClDiffusion.Diffusion;

/// <summary>
/// The exponential-integrator weights of the data-prediction samplers on the log-SNR axis (DPM-Solver++, rm-x0).
/// With lambda = log(alpha_t / sigma_t) and x0(x, t) = (x + sigma_t^2 s(x, t)) / alpha_t, the probability-flow ODE
/// over a step from lambda_s to lambda_t (h = lambda_t - lambda_s) is exactly
///   x_t = (sigma_t / sigma_s) x_s + sigma_t * integral_{lambda_s}^{lambda_t} e^lambda x0(x_lambda) d lambda,
/// and sigma_t (e^{lambda_t} - e^{lambda_s}) = alpha_t (1 - e^{-h}). Every backend computes its per-row weights with
/// these formulas (float64 from the float32 forward times), so CPU and OpenCL agree.
/// </summary>
public static class LogSnrSteps
{
    /// <summary>The point of forward time t on the log-SNR axis.</summary>
    public readonly record struct Point(double Lambda, double Alpha, double Sigma)
    {
        public static Point At(double t)
        {
            double s2 = ForwardProcess.SigmaSquared(t);
            return new Point(-t - 0.5 * Math.Log(s2), Math.Exp(-t), Math.Sqrt(s2));
        }
    }

    /// <summary>1 - e^{-k}: the weight of a constant x0 over a log-SNR step k, in units of alpha at the step end.</summary>
    public static double Phi1(double k) => -Num.ExpM1(-k);

    /// <summary>e^{-k} - 1 + k: the weight of the slope d x0 / d lambda over a step k (series below 1e-3, where the difference cancels).</summary>
    public static double Phi2(double k) => k < 1e-3 ? k * k * (0.5 - k * (1.0 / 6 - k / 24)) : k + Num.ExpM1(-k);

    /// <summary>
    /// The point with CDF u of the density proportional to e^lambda on [lambdaEnd - h, lambdaEnd] (inverse CDF):
    /// lambda = lambdaEnd + log(1 - (1 - u)(1 - e^{-h})). Drawing the midpoint from it makes
    /// alpha_t (1 - e^{-h}) x0(x_m, lambda_m) an unbiased estimate of the step integral.
    /// </summary>
    public static double TiltedLambda(double u, double lambdaEnd, double h) => lambdaEnd + Num.Log1P(-(1 - u) * Phi1(h));

    /// <summary>Its density on [lambdaEnd - h, lambdaEnd] (for tests): e^{lambda - lambdaEnd} / (1 - e^{-h}).</summary>
    public static double TiltedDensity(double lambda, double lambdaEnd, double h) => Math.Exp(lambda - lambdaEnd) / Phi1(h);
}
