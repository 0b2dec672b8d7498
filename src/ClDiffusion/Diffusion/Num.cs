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

    /// <summary>log(1 + x) without cancellation for small x (the same trick: log u * x / (u - 1) with u = 1 + x).</summary>
    public static double Log1P(double x)
    {
        double u = 1.0 + x;
        if (u == 1.0) return x;
        if (double.IsInfinity(u)) return u;
        return Math.Log(u) * x / (u - 1.0);
    }
}
