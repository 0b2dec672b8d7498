using System.Numerics;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;

namespace ClDiffusion.Backends.Cpu;

/// <summary>Exact mixture score on the CPU: float32 rows in and out, float64 log-sum-exp inside.</summary>
sealed class CpuGaussianMixtureScore : ICpuScore, ICpuConditionalScore
{
    readonly GaussianMixture g;
    readonly double[] logW;
    readonly double[][] classLogW;   // per class (labelled mixtures): log w_k of its components, -infinity elsewhere
    public IScoreModel Model => g;
    public CpuGaussianMixtureScore(GaussianMixture g)
    {
        this.g = g;
        logW = g.Weights.Select(w => w > 0 ? Math.Log(w) : double.NegativeInfinity).ToArray();
        var table = g.LogWeightTable();
        classLogW = Enumerable.Range(0, g.NumClasses).Select(c => table.AsSpan(c * g.Components, g.Components).ToArray()).ToArray();
    }

    /// <summary>Rows conditioned on their classes: the same exact score over the components of the row's class (-1: all).</summary>
    public void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> score)
    {
        int d = g.Dim;
        if (labels.Length != t.Length) throw new ArgumentException($"{labels.Length} labels for {t.Length} rows");
        for (int r = 0; r < t.Length; r++)
        {
            int c = labels[r];
            if (c != ClassLabels.Null && (c < 0 || c >= g.NumClasses))
                throw new ArgumentException(g.NumClasses == 0 ? $"class {c} given, but {g.Describe()} has no component labels" : $"class {c} is outside 0..{g.NumClasses - 1}");
            ScoreRow(x.Slice(r * d, d), t[r], score.Slice(r * d, d), c == ClassLabels.Null ? logW : classLogW[c]);
        }
    }

    /// <summary>
    /// The time-dependent tables of one score call whose rows share a time t: a_t mu_k, 1/v_k(t) and log det, all float64,
    /// so the per-row work is two SIMD passes (quadratic forms, then the responsibility-weighted sum).
    /// </summary>
    public sealed class Tables
    {
        public readonly double[][] AMu, InvVar;
        public readonly double[] LogNorm;   // log w_k - 0.5 log det V_k(t)
        public Tables(GaussianMixture g, double[] logW, float t)
        {
            double a = ForwardProcess.Alpha(t), s2 = ForwardProcess.SigmaSquared(t);
            int K = g.Components, d = g.Dim;
            AMu = new double[K][]; InvVar = new double[K][]; LogNorm = new double[K];
            for (int k = 0; k < K; k++)
            {
                AMu[k] = new double[d]; InvVar[k] = new double[d];
                double logdet = 0;
                for (int j = 0; j < d; j++)
                {
                    double vt = a * a * g.Variances[k][j] + s2;
                    AMu[k][j] = a * g.Means[k][j]; InvVar[k][j] = 1 / vt; logdet += Math.Log(vt);
                }
                LogNorm[k] = logW[k] - 0.5 * logdet;
            }
        }
    }

    public Tables TablesAt(float t) => new(g, logW, t);

    /// <summary>The score of one row with precomputed tables (the same formula as <see cref="ScoreRow"/>, SIMD over coordinates).</summary>
    public void ScoreRow(ReadOnlySpan<float> x, Tables tb, Span<float> score, double[] xd, double[] acc)
    {
        int d = g.Dim, K = g.Components, w = Vector<double>.Count;
        for (int j = 0; j < d; j++) xd[j] = x[j];
        Span<double> logp = K <= 256 ? stackalloc double[K] : new double[K];
        double maxLog = double.NegativeInfinity;
        for (int k = 0; k < K; k++)
        {
            var amu = tb.AMu[k]; var iv = tb.InvVar[k];
            var vs = Vector<double>.Zero; int j = 0;
            for (; j + w <= d; j += w)
            {
                var diff = new Vector<double>(xd, j) - new Vector<double>(amu, j);
                vs += diff * diff * new Vector<double>(iv, j);
            }
            double q = Vector.Sum(vs);
            for (; j < d; j++) { double diff = xd[j] - amu[j]; q += diff * diff * iv[j]; }
            logp[k] = tb.LogNorm[k] - 0.5 * q;
            if (logp[k] > maxLog) maxLog = logp[k];
        }
        double z = 0;
        for (int k = 0; k < K; k++) { logp[k] = Math.Exp(logp[k] - maxLog); z += logp[k]; }
        Array.Clear(acc, 0, d);
        for (int k = 0; k < K; k++)
        {
            double r = logp[k] / z;
            if (r == 0) continue;
            var amu = tb.AMu[k]; var iv = tb.InvVar[k];
            var rv = new Vector<double>(r); int j = 0;
            for (; j + w <= d; j += w)
                (new Vector<double>(acc, j) + rv * (new Vector<double>(amu, j) - new Vector<double>(xd, j)) * new Vector<double>(iv, j)).CopyTo(acc, j);
            for (; j < d; j++) acc[j] += r * (amu[j] - xd[j]) * iv[j];
        }
        for (int j = 0; j < d; j++) score[j] = (float)acc[j];
    }

    public void ScoreRow(ReadOnlySpan<float> x, float t, Span<float> score) => ScoreRow(x, t, score, logW);

    void ScoreRow(ReadOnlySpan<float> x, float t, Span<float> score, double[] logW)
    {
        int d = g.Dim, K = g.Components;
        Span<double> logp = K <= 256 ? stackalloc double[K] : new double[K];
        double a = ForwardProcess.Alpha(t), s2 = ForwardProcess.SigmaSquared(t), a2 = a * a;
        double maxLog = double.NegativeInfinity;
        for (int k = 0; k < K; k++)
        {
            var mu = g.Means[k]; var v = g.Variances[k];
            double acc = 0, logdet = 0;
            for (int j = 0; j < d; j++)
            {
                double vt = a2 * v[j] + s2, diff = x[j] - a * mu[j];
                acc += diff * diff / vt; logdet += Math.Log(vt);
            }
            logp[k] = logW[k] - 0.5 * (acc + logdet);
            if (logp[k] > maxLog) maxLog = logp[k];
        }
        double z = 0;
        for (int k = 0; k < K; k++) { logp[k] = Math.Exp(logp[k] - maxLog); z += logp[k]; }
        for (int j = 0; j < d; j++)
        {
            double acc = 0;
            for (int k = 0; k < K; k++)
            {
                double r = logp[k];
                if (r == 0) continue;
                acc += r * (a * g.Means[k][j] - x[j]) / (a2 * g.Variances[k][j] + s2);
            }
            score[j] = (float)(acc / z);
        }
    }

    public void Dispose() { }
}
