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
            var tc = cache;
            if (tc is null || !ReferenceEquals(tc.Owner, this)) cache = tc = new TableCache(this);
            ScoreRow(x.Slice(r * d, d), tc.At(t[r]), score.Slice(r * d, d), tc.Xd, tc.Acc, c == ClassLabels.Null ? null : classLogW[c]);
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
        /// <summary>The time the tables hold (NaN before the first <see cref="Fill"/>).</summary>
        public float Time { get; private set; } = float.NaN;
        public Tables(GaussianMixture g, double[] logW, float t) : this(g.Components, g.Dim) => Fill(g, logW, t);
        Tables(int K, int d)
        {
            AMu = new double[K][]; InvVar = new double[K][]; LogNorm = new double[K];
            for (int k = 0; k < K; k++) { AMu[k] = new double[d]; InvVar[k] = new double[d]; }
        }
        internal static Tables Empty(GaussianMixture g) => new(g.Components, g.Dim);

        /// <summary>Recomputes the tables for time t in place, SIMD over coordinates (vector log for the determinant).</summary>
        internal void Fill(GaussianMixture g, double[] logW, float t)
        {
            double a = ForwardProcess.Alpha(t), s2 = ForwardProcess.SigmaSquared(t);
            int K = g.Components, d = g.Dim, w = Vector<double>.Count;
            Vector<double> va2 = new(a * a), vs2 = new(s2), va = new(a);
            for (int k = 0; k < K; k++)
            {
                double[] mu = g.Means[k], v = g.Variances[k], amu = AMu[k], iv = InvVar[k];
                var vlog = Vector<double>.Zero; double logdet = 0; int j = 0;
                for (; j + w <= d; j += w)
                {
                    var vt = Vector.FusedMultiplyAdd(va2, new Vector<double>(v, j), vs2);
                    (va * new Vector<double>(mu, j)).CopyTo(amu, j);
                    (Vector<double>.One / vt).CopyTo(iv, j);
                    vlog += Vector.Log(vt);
                }
                for (; j < d; j++)
                {
                    double vt = Math.FusedMultiplyAdd(a * a, v[j], s2);
                    amu[j] = a * mu[j]; iv[j] = 1 / vt; logdet += Math.Log(vt);
                }
                LogNorm[k] = logW[k] - 0.5 * (logdet + Vector.Sum(vlog));
            }
            Time = t;
        }
    }

    /// <summary>
    /// Per thread, the tables of the last few times this thread scored at (rows of the parallel samplers cycle through a
    /// handful of times, r % noff), so a per-row time costs a table fill only when the time is new; rows that each have
    /// their own time fill one table per row, still in SIMD.
    /// </summary>
    sealed class TableCache
    {
        public readonly CpuGaussianMixtureScore Owner;
        public readonly Tables[] Entries;
        public readonly double[] Xd, Acc;
        int next;
        public TableCache(CpuGaussianMixtureScore owner)
        {
            Owner = owner;
            Entries = Enumerable.Range(0, CacheSize).Select(_ => Tables.Empty(owner.g)).ToArray();
            Xd = new double[owner.g.Dim]; Acc = new double[owner.g.Dim];
        }
        public Tables At(float t)
        {
            foreach (var e in Entries) if (e.Time.Equals(t)) return e;
            var slot = Entries[next];
            next = (next + 1) % Entries.Length;
            slot.Fill(Owner.g, Owner.logW, t);
            return slot;
        }
    }
    const int CacheSize = 8;
    [ThreadStatic] static TableCache? cache;

    public Tables TablesAt(float t) => new(g, logW, t);

    /// <summary>The score of one row with precomputed tables (the same formula as <see cref="ScoreRow"/>, SIMD over coordinates).</summary>
    /// <param name="only">class-conditional rows: the class's log weights; components at -infinity there are left out</param>
    public void ScoreRow(ReadOnlySpan<float> x, Tables tb, Span<float> score, double[] xd, double[] acc, double[]? only = null)
    {
        int d = g.Dim, K = g.Components, w = Vector<double>.Count;
        for (int j = 0; j < d; j++) xd[j] = x[j];
        Span<double> logp = K <= 256 ? stackalloc double[K] : new double[K];
        double maxLog = double.NegativeInfinity;
        for (int k = 0; k < K; k++)
        {
            if (only is not null && double.IsNegativeInfinity(only[k])) { logp[k] = double.NegativeInfinity; continue; }
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

    /// <summary>
    /// The score of one row at its own time (the parallel samplers' per-row times): the tables of t from this thread's
    /// cache (<see cref="TableCache"/>), then the same SIMD row as the shared-time path, so both give the same bits.
    /// </summary>
    public void ScoreRow(ReadOnlySpan<float> x, float t, Span<float> score)
    {
        var c = cache;
        if (c is null || !ReferenceEquals(c.Owner, this)) cache = c = new TableCache(this);
        ScoreRow(x, c.At(t), score, c.Xd, c.Acc);
    }

    public void Dispose() { }
}
