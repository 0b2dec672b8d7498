namespace ClDiffusion.Diffusion;

/// <summary>
/// The Ornstein-Uhlenbeck forward process dX = -X dt + sqrt(2) dB (DESIGN 1.1):
/// X_t = e^{-t} X_0 + sigma_t Z with sigma_t^2 = 1 - e^{-2t}. Sampler time tau runs from 0 to T - delta
/// and corresponds to forward time t = T - tau.
/// </summary>
public static class ForwardProcess
{
    public static double Alpha(double t) => Math.Exp(-t);
    public static double SigmaSquared(double t) => -Num.ExpM1(-2 * t);
    public static double Sigma(double t) => Math.Sqrt(SigmaSquared(t));
    /// <summary>log-SNR lambda = log(alpha_t / sigma_t), used by DPM-Solver++.</summary>
    public static double LogSnr(double t) => -t - 0.5 * Math.Log(SigmaSquared(t));
    /// <summary>The forward time with log-SNR lambda: alpha^2 / sigma^2 = e^{2 lambda} gives t = log(1 + e^{-2 lambda}) / 2.</summary>
    public static double TimeOfLogSnr(double lambda) => 0.5 * Num.Log1P(Math.Exp(-2 * lambda));
}
