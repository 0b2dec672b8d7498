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
    /// I_k(h) = integral_0^h e^{-(h - u)} u^k / k! du: the weight (in units of alpha at the step end) of the k-th lambda
    /// derivative of x0 at the step start in the exact step, so I_0 = <see cref="Phi1"/>, I_1 = <see cref="Phi2"/> and
    /// I_k = h^k / k! - I_{k-1}. The multistep solvers of order 3 (dpmpp-3m, unipc) use k up to 3. Below h = 1 the
    /// power series sum_j (-1)^j h^{k+1+j} / (k+1+j)! (the recursion cancels there), above it the recursion.
    /// </summary>
    public static double PhiK(int k, double h)
    {
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be >= 0");
        if (h < 1)
        {
            double term = 1;
            for (int i = 1; i <= k + 1; i++) term *= h / i;   // h^{k+1} / (k+1)!
            double sum = 0;
            for (int j = 0; j < 40 && term != 0; j++) { sum += term; term *= -h / (k + 2 + j); }
            return sum;
        }
        double ik = Phi1(h), pow = 1;
        for (int i = 1; i <= k; i++) { pow *= h / i; ik = pow - ik; }
        return ik;
    }

    /// <summary>
    /// The point with CDF u of the density proportional to e^lambda on [lambdaEnd - h, lambdaEnd] (inverse CDF):
    /// lambda = lambdaEnd + log(1 - (1 - u)(1 - e^{-h})). Drawing the midpoint from it makes
    /// alpha_t (1 - e^{-h}) x0(x_m, lambda_m) an unbiased estimate of the step integral.
    /// </summary>
    public static double TiltedLambda(double u, double lambdaEnd, double h) => lambdaEnd + Num.Log1P(-(1 - u) * Phi1(h));

    /// <summary>Its density on [lambdaEnd - h, lambdaEnd] (for tests): e^{lambda - lambdaEnd} / (1 - e^{-h}).</summary>
    public static double TiltedDensity(double lambda, double lambdaEnd, double h) => Math.Exp(lambda - lambdaEnd) / Phi1(h);
}
