using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace ClDiffusion.Metrics;

/// <summary>Exact divergences between two Gaussians N(m0, S0) and N(m1, S1) with full covariances, in float64.</summary>
public static class GaussianDistances
{
    /// <summary>
    /// KL(N(m0, S0) || N(m1, S1)) = 0.5 [tr(S1^-1 S0) + (m1 - m0)^T S1^-1 (m1 - m0) - d + ln det S1 - ln det S0].
    /// S1 must be positive definite; a singular S0 gives +Infinity.
    /// </summary>
    public static double KlDivergence(double[] m0, double[,] s0, double[] m1, double[,] s1)
    {
        int d = Check(m0, s0, m1, s1);
        var S0 = Sym(s0); var S1 = Sym(s1);
        var c1 = CholeskyOrThrow(S1, "S1 (second covariance)");
        var dm = Vector<double>.Build.DenseOfArray(m1) - Vector<double>.Build.DenseOfArray(m0);
        double quad = dm.DotProduct(c1.Solve(dm));
        double tr = c1.Solve(S0).Trace();
        double logDet1 = c1.DeterminantLn;
        double logDet0 = LogDetOrNegInf(S0);
        if (double.IsNegativeInfinity(logDet0)) return double.PositiveInfinity;
        return Math.Max(0, 0.5 * (tr + quad - d + logDet1 - logDet0));
    }

    /// <summary>W2^2 = |m0 - m1|^2 + tr(S0 + S1 - 2 (S1^{1/2} S0 S1^{1/2})^{1/2}) (Gelbrich / Frechet distance).</summary>
    public static double W2Squared(double[] m0, double[,] s0, double[] m1, double[,] s1)
    {
        int d = Check(m0, s0, m1, s1);
        double dm2 = 0;
        for (int i = 0; i < d; i++) { double t = m0[i] - m1[i]; dm2 += t * t; }
        var S0 = Sym(s0); var S1 = Sym(s1);
        var r1 = SqrtPsd(S1);
        var inner = r1 * S0 * r1;
        double trCross = 0;
        foreach (var ev in SymEigenvalues(inner)) trCross += Math.Sqrt(Math.Max(ev, 0));
        double w2 = dm2 + S0.Trace() + S1.Trace() - 2 * trCross;
        return Math.Max(0, w2);
    }

    /// <summary>The 2-Wasserstein distance between two Gaussians (square root of <see cref="W2Squared"/>).</summary>
    public static double W2(double[] m0, double[,] s0, double[] m1, double[,] s1) => Math.Sqrt(W2Squared(m0, s0, m1, s1));

    /// <summary>Symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues from rounding are clamped to 0).</summary>
    public static double[,] SqrtPsd(double[,] s) => SqrtPsd(Sym(s)).ToArray();

    internal static Matrix<double> SqrtPsd(Matrix<double> s)
    {
        var evd = s.Evd(Symmetricity.Symmetric);
        var v = evd.EigenVectors;
        var lam = evd.EigenValues.Map(c => Math.Sqrt(Math.Max(c.Real, 0)));
        var r = v * Matrix<double>.Build.DiagonalOfDiagonalVector(lam) * v.Transpose();
        return 0.5 * (r + r.Transpose());
    }

    static IEnumerable<double> SymEigenvalues(Matrix<double> m)
    {
        var sym = 0.5 * (m + m.Transpose());
        return sym.Evd(Symmetricity.Symmetric).EigenValues.Select(c => c.Real);
    }

    static Matrix<double> Sym(double[,] s)
    {
        var m = Matrix<double>.Build.DenseOfArray(s);
        return 0.5 * (m + m.Transpose());
    }

    static Cholesky<double> CholeskyOrThrow(Matrix<double> s, string what)
    {
        try { return s.Cholesky(); }
        catch (ArgumentException) { throw new ArgumentException($"{what} is not positive definite"); }
    }

    static double LogDetOrNegInf(Matrix<double> s)
    {
        try
        {
            var c = s.Cholesky();
            double ld = c.DeterminantLn;
            return double.IsFinite(ld) ? ld : double.NegativeInfinity;
        }
        catch (ArgumentException) { return double.NegativeInfinity; }
    }

    static int Check(double[] m0, double[,] s0, double[] m1, double[,] s1)
    {
        ArgumentNullException.ThrowIfNull(m0); ArgumentNullException.ThrowIfNull(s0);
        ArgumentNullException.ThrowIfNull(m1); ArgumentNullException.ThrowIfNull(s1);
        int d = m0.Length;
        if (d == 0) throw new ArgumentException("dimension must be at least 1");
        if (m1.Length != d) throw new ArgumentException($"dimension mismatch: means have lengths {d} and {m1.Length}");
        if (s0.GetLength(0) != d || s0.GetLength(1) != d) throw new ArgumentException($"dimension mismatch: first covariance is {s0.GetLength(0)}x{s0.GetLength(1)}, expected {d}x{d}");
        if (s1.GetLength(0) != d || s1.GetLength(1) != d) throw new ArgumentException($"dimension mismatch: second covariance is {s1.GetLength(0)}x{s1.GetLength(1)}, expected {d}x{d}");
        foreach (var x in m0) if (!double.IsFinite(x)) throw new ArgumentException("first mean has a non-finite entry");
        foreach (var x in m1) if (!double.IsFinite(x)) throw new ArgumentException("second mean has a non-finite entry");
        foreach (var x in s0) if (!double.IsFinite(x)) throw new ArgumentException("first covariance has a non-finite entry");
        foreach (var x in s1) if (!double.IsFinite(x)) throw new ArgumentException("second covariance has a non-finite entry");
        return d;
    }
}
