namespace ClDiffusion.Diffusion;

/// <summary>Small numerical helpers that .NET lacks.</summary>
public static class Num
{
    /// <summary>e^x - 1 without cancellation for small x (Kahan's trick: (u - 1) x / log u).</summary>
    public static double ExpM1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1.0) return x;
        double um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        if (double.IsInfinity(u)) return u;
        return um1 * x / Math.Log(u);
    }
}
