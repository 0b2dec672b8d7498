using ClDiffusion.Diffusion;
using ClDiffusion.Models;

namespace ClDiffusion.Backends.Cpu;

/// <summary>Exact mixture score on the CPU: float32 rows in and out, float64 log-sum-exp inside.</summary>
sealed class CpuGaussianMixtureScore : ICpuScore
{
    readonly GaussianMixture g;
    readonly double[] logW;
    public IScoreModel Model => g;
    public CpuGaussianMixtureScore(GaussianMixture g)
    {
        this.g = g;
        logW = g.Weights.Select(w => w > 0 ? Math.Log(w) : double.NegativeInfinity).ToArray();
    }

    public void ScoreRow(ReadOnlySpan<float> x, float t, Span<float> score)
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
