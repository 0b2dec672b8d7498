using ClDiffusion.Diffusion;
namespace ClDiffusion.Backends;

/// <summary>
/// Exact coefficients of underdamped Langevin dX = V dt, dV = (g - gamma V) dt + sqrt(2 gamma) dB with the drift g
/// frozen over a step (DESIGN 1.3 items 3 and 4), computed in float64 with expm1 so that small gamma*h keeps its digits.
/// Shared by every backend so that they agree on the formulas.
/// </summary>
public static class LangevinCoefficients
{
    /// <summary>(1 - e^{-gamma t}) / gamma.</summary>
    public static double OneMinusExpOverGamma(double gamma, double t) => -Num.ExpM1(-gamma * t) / gamma;

    /// <summary>(1/gamma) * (t - (1 - e^{-gamma t})/gamma): the position's response to a constant drift over t.</summary>
    public static double DriftToPosition(double gamma, double t)
    {
        double x = gamma * t;
        // t - (1-e^{-x})/gamma = (x - 1 + e^{-x})/gamma; for small x use the series x^2/2 - x^3/6 + x^4/24.
        double num = x < 1e-3 ? x * x * (0.5 - x / 6 + x * x / 24) : x + Num.ExpM1(-x);
        return num / (gamma * gamma);
    }

    /// <summary>2 gamma int_0^a ((1 - e^{-gamma u})/gamma)^2 du = (2/gamma^2)(x - 2(1 - e^{-x}) + (1 - e^{-2x})/2), x = gamma a: the position noise variance over a step a.</summary>
    public static double PositionVariance(double gamma, double a)
    {
        double x = gamma * a;
        // series x^3/3 - x^4/4 + 7x^5/60 for small x.
        double inner = x < 1e-2 ? x * x * x * (1.0 / 3 - x / 4 + 7 * x * x / 60) : x + 2 * Num.ExpM1(-x) - 0.5 * Num.ExpM1(-2 * x);
        return 2 * inner / (gamma * gamma);
    }

    /// <summary>Frozen-drift step of length h: the coefficients and the 2x2 Cholesky factor of (xi_X, xi_V).</summary>
    public readonly record struct Step(float Rho, float VelToPos, float DriftPos, float DriftVel, float L11, float L21, float L22);

    public static Step ForStep(double gamma, double h)
    {
        if (!(gamma > 0) || !(h > 0)) throw new ArgumentException($"Langevin needs gamma > 0 and step > 0 (gamma = {gamma}, step = {h})");
        double rho = Math.Exp(-gamma * h), omr = -Num.ExpM1(-gamma * h);
        double vx = PositionVariance(gamma, h), vv = -Num.ExpM1(-2 * gamma * h), c = omr * omr / gamma;
        double l11 = Math.Sqrt(vx), l21 = l11 > 0 ? c / l11 : 0, l22 = Math.Sqrt(Math.Max(vv - l21 * l21, 0));
        return new Step((float)rho, (float)(omr / gamma), (float)DriftToPosition(gamma, h), (float)(omr / gamma), (float)l11, (float)l21, (float)l22);
    }

    /// <summary>
    /// Shen-Lee randomized midpoint step (window h, midpoint a = alpha h): W1 is the position noise up to a, W2 and W3
    /// the position and velocity noise up to h on the same Brownian path. Returns the lower Cholesky factor of their
    /// covariance in the order (W2, W3, W1): W2 = m11 z1, W3 = m21 z1 + m22 z2, W1 = m31 z1 + m32 z2 + m33 z3.
    /// That order keeps every division by a well-conditioned quantity: as alpha -> 1, W1 -> W2 and only the last
    /// diagonal m33 -> 0, whereas factoring W1 first divides by the vanishing conditional deviation of W2 given W1
    /// (which float32 devices cannot resolve).
    /// </summary>
    public static (double m11, double m21, double m22, double m31, double m32, double m33) ShenLeeCholesky(double gamma, double h, double alpha)
    {
        double a = alpha * h, b = h - a;
        double eb = Math.Exp(-gamma * b);
        double e1a = -Num.ExpM1(-gamma * a), e2a = -Num.ExpM1(-2 * gamma * a);
        double v1 = PositionVariance(gamma, a), v2 = PositionVariance(gamma, h), v3 = -Num.ExpM1(-2 * gamma * h);
        double omr = -Num.ExpM1(-gamma * h);
        double c23 = omr * omr / gamma;
        // Cov(W1, W2) = (2/gamma) int_0^a (1 - e^{-gamma u})(1 - e^{-gamma (b+u)}) du
        //            = (2/gamma) [ (a - (1 - e^{-gamma a})/gamma) - e^{-gamma b} ((1 - e^{-gamma a})/gamma - (1 - e^{-2 gamma a})/(2 gamma)) ]
        double c12 = 2 / gamma * (gamma * DriftToPosition(gamma, a) - eb * (e1a / gamma - e2a / (2 * gamma)));
        // Cov(W1, W3) = 2 e^{-gamma b} ((1 - e^{-gamma a})/gamma - (1 - e^{-2 gamma a})/(2 gamma))
        double c13 = 2 * eb * (e1a / gamma - e2a / (2 * gamma));
        double m11 = Math.Sqrt(Math.Max(v2, 0));
        double m21 = m11 > 1e-30 ? c23 / m11 : 0, m31 = m11 > 1e-30 ? c12 / m11 : 0;
        double m22 = Math.Sqrt(Math.Max(v3 - m21 * m21, 0));
        double m32 = m22 > 1e-30 ? (c13 - m31 * m21) / m22 : 0;
        double m33 = Math.Sqrt(Math.Max(v1 - m31 * m31 - m32 * m32, 0));
        return (m11, m21, m22, m31, m32, m33);
    }
}
