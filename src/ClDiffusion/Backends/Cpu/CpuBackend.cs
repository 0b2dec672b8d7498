using ClDiffusion.Diffusion;
using System.Numerics;
using ClDiffusion.Models;
using ClDiffusion.Random;

namespace ClDiffusion.Backends.Cpu;

/// <summary>
/// The reference backend: float32 buffers in host memory, rows split over threads, SIMD in the element-wise
/// primitives. Every OpenCL kernel is checked against this.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    readonly ParallelOptions options;
    public int Threads { get; }
    public string DeviceName => $"cpu ({Threads} threads)";

    /// <summary>Worker threads an engine may ask for: what the machine has (more only adds contention, and 2^29
    /// once overflowed the row split into no work at all).</summary>
    public static int MaxThreads => Environment.ProcessorCount;

    /// <summary>Throws an ArgumentException unless 0 (all cores) &lt;= threads &lt;= <see cref="MaxThreads"/>.</summary>
    public static void CheckThreads(int threads, string name = "threads")
    {
        if (threads < 0 || threads > MaxThreads)
            throw new ArgumentException($"{name} must be in 0..{MaxThreads} (0 = all cores; this machine has {MaxThreads}), got {threads}");
    }

    public CpuBackend(int threads = 0)
    {
        CheckThreads(threads);
        Threads = threads > 0 ? threads : Environment.ProcessorCount;
        options = new ParallelOptions { MaxDegreeOfParallelism = Threads };
    }

    static CpuBuffer B(IDeviceBuffer b) => b as CpuBuffer ?? throw new ArgumentException($"buffer of type {b?.GetType().Name ?? "null"} does not belong to the CPU backend");

    /// <summary>Runs body(rowStart, rowEnd) over row ranges in parallel; small jobs stay on the calling thread.</summary>
    void ForRows(int rows, long workPerRow, Action<int, int> body)
    {
        long total = rows * Math.Max(workPerRow, 1);
        if (Threads == 1 || total < 32768 || rows < 2) { body(0, rows); return; }
        int chunks = Math.Min(rows, Threads * 4);
        Parallel.For(0, chunks, options, c => body((int)((long)rows * c / chunks), (int)((long)rows * (c + 1) / chunks)));
    }

    public IDeviceBuffer Allocate(int rows, int cols)
    {
        BackendChecks.Allocate(rows, cols);
        return new CpuBuffer(rows, cols);
    }

    public void Upload(IDeviceBuffer dst, ReadOnlySpan<float> src)
    {
        BackendChecks.Upload(dst, src.Length);
        var d = B(dst);
        src.CopyTo(d.Data);
    }

    public void Download(IDeviceBuffer src, Span<float> dst)
    {
        BackendChecks.Download(src, dst.Length);
        var s = B(src);
        s.Data.CopyTo(dst);
    }

    public void Copy(IDeviceBuffer dst, IDeviceBuffer src) { BackendChecks.Copy(dst, src); B(src).Data.CopyTo(B(dst).Data, 0); }

    public void RepeatRows(IDeviceBuffer dst, IDeviceBuffer src, int m)
    {
        BackendChecks.RepeatRows(dst, src, m);
        var d = B(dst); var s = B(src);
        for (int r = 0; r < s.Rows; r++) for (int i = 0; i < m; i++) s.Row(r).CopyTo(d.Row(r * m + i));
    }

    public IPreparedScore Prepare(IScoreModel model) => model switch
    {
        GaussianMixture g => new CpuGaussianMixtureScore(g),
        PerturbedScore p => new CpuPerturbedScore(p, Prepare(p.Inner)),
        _ => CpuScoreRegistry.TryPrepare(model, Prepare) ?? throw new NotSupportedException($"the CPU backend cannot evaluate {model.Describe()}"),
    };

    public void Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score) =>
        Score(model, x, t0, slope, offsets, score, null);

    public void DuplicateRows(IDeviceBuffer dst, IDeviceBuffer src)
    {
        BackendChecks.DuplicateRows(dst, src);
        var d = B(dst); var s = B(src);
        s.Data.CopyTo(d.Data, 0);
        s.Data.CopyTo(d.Data, s.Data.Length);
    }

    public void GuidanceCombine(IDeviceBuffer dst, IDeviceBuffer both, float w)
    {
        BackendChecks.GuidanceCombine(dst, both);
        var d = B(dst).Data; var b = B(both).Data;
        int n = d.Length, cols = dst.Cols;
        float cc = 1 + w;
        ForRows(dst.Rows, cols, (r0, r1) =>
        {
            for (int i = r0 * cols; i < r1 * cols; i++) d[i] = cc * b[i] - w * b[n + i];
        });
    }

    /// <summary>Labels [rows, 1] (classes as floats, -1 = null) as ints, checked to be whole numbers.</summary>
    static int[] RowLabels(IDeviceBuffer labels, int rows)
    {
        var l = B(labels);
        var r = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            float v = l.Data[i];
            if (!(v >= -1 && v < 1 << 24) || v != MathF.Floor(v)) throw new ArgumentException($"label of row {i} is {v}: labels are whole classes >= 0, or -1 for the null class");
            r[i] = (int)v;
        }
        return r;
    }

    public void Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score, IDeviceBuffer? labels)
    {
        BackendChecks.Score(model, x, offsets, score, labels);
        var xb = B(x); var sb = B(score);
        float[]? off = offsets is null ? null : B(offsets).Data;
        float TimeOf(int r) => off is null ? t0 : t0 - slope * off[r % off.Length];
        int[]? lab = labels is null ? null : RowLabels(labels, xb.Rows);
        if (lab is not null && model is not (CpuPerturbedScore or ICpuConditionalScore))
            throw new ArgumentException($"class labels given, but {model.Model.Describe()} is not class-conditional");
        switch (model)
        {
            case ICpuConditionalScore cond when lab is not null:
                var ctimes = new float[xb.Rows];
                for (int r = 0; r < ctimes.Length; r++) ctimes[r] = TimeOf(r);
                cond.ScoreBatch(xb.Data, ctimes, lab, sb.Data);
                break;
            case CpuPerturbedScore p:
                Score(p.Inner, x, t0, slope, offsets, score, labels);
                float amp = p.Perturbed.Amplitude, f = (float)p.Perturbed.Frequency;
                ForRows(xb.Rows, xb.Cols, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                    {
                        float t = TimeOf(r); var xr = xb.Row(r); var sr = sb.Row(r);
                        for (int j = 0; j < xr.Length; j++) sr[j] += PerturbedScore.Perturbation(amp, f, xr[j], j, t);
                    }
                });
                break;
            case ICpuBatchScore batch:
                var times = new float[xb.Rows];
                for (int r = 0; r < times.Length; r++) times[r] = TimeOf(r);
                batch.ScoreBatch(xb.Data, times, sb.Data);
                break;
            case CpuGaussianMixtureScore gmm when off is null:
                // one time for every row: the time tables once per call, then SIMD rows
                var tables = gmm.TablesAt(t0);
                ForRows(xb.Rows, (long)xb.Cols * 8, (r0, r1) =>
                {
                    var xd = new double[xb.Cols]; var acc = new double[xb.Cols];
                    for (int r = r0; r < r1; r++) gmm.ScoreRow(xb.Row(r), tables, sb.Row(r), xd, acc);
                });
                break;
            case ICpuScore rowwise:
                ForRows(xb.Rows, (long)xb.Cols * 8, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++) rowwise.ScoreRow(xb.Row(r), TimeOf(r), sb.Row(r));
                });
                break;
            default:
                throw new ArgumentException($"score model prepared by another backend ({model.GetType().Name})");
        }
    }

    public void Lincomb(IDeviceBuffer dst, ReadOnlySpan<Term> terms)
    {
        BackendChecks.Lincomb(dst, terms);
        var d = B(dst).Data;
        int n = terms.Length;
        float c0 = terms[0].Coef, c1 = n > 1 ? terms[1].Coef : 0, c2 = n > 2 ? terms[2].Coef : 0, c3 = n > 3 ? terms[3].Coef : 0;
        float[] x0 = B(terms[0].X).Data, x1 = n > 1 ? B(terms[1].X).Data : x0, x2 = n > 2 ? B(terms[2].X).Data : x0, x3 = n > 3 ? B(terms[3].X).Data : x0;
        ForRows(dst.Rows, dst.Cols, (r0, r1) =>
        {
            int start = r0 * dst.Cols, end = r1 * dst.Cols, i = start, w = Vector<float>.Count;
            for (; i + w <= end; i += w)
            {
                var acc = c0 * new Vector<float>(x0, i);
                if (n > 1) acc += c1 * new Vector<float>(x1, i);
                if (n > 2) acc += c2 * new Vector<float>(x2, i);
                if (n > 3) acc += c3 * new Vector<float>(x3, i);
                acc.CopyTo(d, i);
            }
            for (; i < end; i++)
            {
                float acc = c0 * x0[i];
                if (n > 1) acc += c1 * x1[i];
                if (n > 2) acc += c2 * x2[i];
                if (n > 3) acc += c3 * x3[i];
                d[i] = acc;
            }
        });
    }

    public void Normal(IDeviceBuffer dst, RandomKey key, long firstSample)
    {
        var d = B(dst);
        ForRows(d.Rows, d.Cols * 4L, (r0, r1) => { for (int r = r0; r < r1; r++) key.Normals(firstSample + r, d.Row(r)); });
    }

    public void DrawAlphas(IDeviceBuffer alpha, RandomKey key, long firstSample, AlphaLaw law, float h)
    {
        BackendChecks.DrawAlphas(alpha, law, h);
        var a = B(alpha);
        int R = a.Cols;
        for (int r = 0; r < a.Rows; r++)
            for (int i = 0; i < R; i++)
            {
                float u = key.Uniform(firstSample + r, i);
                a.Data[r * R + i] = law switch
                {
                    AlphaLaw.Stratified => (i + u) * (1f / R),   // multiply, not divide: bit-identical on every OpenCL device
                    AlphaLaw.Rotated => Rotate(u, h),
                    _ => (float)(-Math.Log(1 - u * -Num.ExpM1(-(double)h)) / h),
                };
            }
    }

    /// <summary>frac(u + shift) in float32: one correctly rounded add and an exact subtraction, as in draw_alphas.</summary>
    static float Rotate(float u, float shift)
    {
        float a = u + shift;
        return a >= 1f ? a - 1f : a;
    }

    public void MidpointPredict(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer s0, IDeviceBuffer alpha, float h)
    {
        int R = BackendChecks.MidpointPredict(dst, x0, s0, alpha);
        var d = B(dst); var x = B(x0); var s = B(s0); var a = B(alpha);
        ForRows(d.Rows, d.Cols, (r0, r1) =>
        {
            for (int row = r0; row < r1; row++)
            {
                int r = row / R;
                float e = MathF.Exp(a.Data[row] * h), em1 = e - 1;
                var dr = d.Row(row); var xr = x.Row(r); var sr = s.Row(r);
                for (int j = 0; j < dr.Length; j++) dr[j] = e * xr[j] + em1 * sr[j];
            }
        });
    }

    /// <summary>Weight of sub-window j (1-based) in the Picard sum for midpoint alpha_i: the integral of e^{alpha_i h - u}.</summary>
    internal static float PicardWeight(float alphaH, int j, float dw) =>
        MathF.Exp(alphaH - (j - 1) * dw) - MathF.Max(MathF.Exp(alphaH - j * dw), 1f);

    public void PicardSums(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h)
    {
        int R = BackendChecks.PicardSums(dst, x0, scores, alpha);
        var d = B(dst); var x = B(x0); var s = B(scores); var a = B(alpha);
        float dw = h / R;
        ForRows(d.Rows, (long)d.Cols * R, (r0, r1) =>
        {
            Span<float> w = R <= 1024 ? stackalloc float[R] : new float[R];
            for (int row = r0; row < r1; row++)
            {
                int r = row / R, i = row % R;
                float ah = a.Data[row] * h, e = MathF.Exp(ah);
                for (int j = 0; j <= i; j++) w[j] = PicardWeight(ah, j + 1, dw);
                var dr = d.Row(row); var xr = x.Row(r);
                for (int c = 0; c < dr.Length; c++)
                {
                    float acc = e * xr[c];
                    for (int j = 0; j <= i; j++) acc += w[j] * s.Data[(r * R + j) * s.Cols + c];
                    dr[c] = acc;
                }
            }
        });
    }

    public void MidpointFinal(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h)
    {
        int R = BackendChecks.MidpointFinal(dst, x0, scores, alpha);
        var d = B(dst); var x = B(x0); var s = B(scores); var a = B(alpha);
        float eh = MathF.Exp(h), dw = h / R;
        ForRows(d.Rows, (long)d.Cols * R, (r0, r1) =>
        {
            Span<float> w = R <= 1024 ? stackalloc float[R] : new float[R];
            for (int r = r0; r < r1; r++)
            {
                for (int i = 0; i < R; i++) w[i] = dw * MathF.Exp((1 - a.Data[r * R + i]) * h);
                var dr = d.Row(r); var xr = x.Row(r);
                for (int c = 0; c < dr.Length; c++)
                {
                    float acc = eh * xr[c];
                    for (int i = 0; i < R; i++) acc += w[i] * s.Data[(r * R + i) * s.Cols + c];
                    dr[c] = acc;
                }
            }
        });
    }

    public void LangevinScan(IDeviceBuffer x0, IDeviceBuffer v0, IDeviceBuffer scores, int m, float gamma, float hc,
        RandomKey key, long firstSample, IDeviceBuffer? xs, IDeviceBuffer? xOut, IDeviceBuffer? vOut)
    {
        BackendChecks.LangevinScan(x0, v0, scores, m, xs, xOut, vOut);
        var x = B(x0); var v = B(v0); var s = B(scores);
        var c = LangevinCoefficients.ForStep(gamma, hc);
        float[]? xsd = xs is null ? null : B(xs).Data, xo = xOut is null ? null : B(xOut).Data, vo = vOut is null ? null : B(vOut).Data;
        int d = x.Cols;
        ForRows(x.Rows, (long)d * m * 8, (r0, r1) =>
        {
            float[] noise = new float[2 * d];
            float[] cx = new float[d], cv = new float[d];
            for (int r = r0; r < r1; r++)
            {
                x.Row(r).CopyTo(cx); v.Row(r).CopyTo(cv);
                for (int step = 0; step < m; step++)
                {
                    if (xsd is not null) cx.CopyTo(xsd, (r * m + step) * d);
                    key.WithStep(key.Step + (uint)step).Normals(firstSample + r, noise);
                    var sr = s.Row(r * m + step);
                    for (int j = 0; j < d; j++)
                    {
                        float z1 = noise[j], z2 = noise[d + j], g = sr[j];
                        float nx = cx[j] + c.VelToPos * cv[j] + c.DriftPos * g + c.L11 * z1;
                        float nv = c.Rho * cv[j] + c.DriftVel * g + c.L21 * z1 + c.L22 * z2;
                        cx[j] = nx; cv[j] = nv;
                    }
                }
                if (xo is not null) cx.CopyTo(xo, r * d);
                if (vo is not null) cv.CopyTo(vo, r * d);
            }
        });
    }

    public void ShenLeeMidpoint(IDeviceBuffer xMid, IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer s0, IDeviceBuffer alpha,
        float gamma, float h, RandomKey key, long firstSample)
    {
        BackendChecks.ShenLeeMidpoint(xMid, x, v, s0, alpha, gamma, h);
        var xm = B(xMid); var xb = B(x); var vb = B(v); var sb = B(s0); var a = B(alpha);
        int d = xb.Cols;
        ForRows(xb.Rows, d * 12L, (r0, r1) =>
        {
            float[] noise = new float[3 * d];
            for (int r = r0; r < r1; r++)
            {
                double ah = a.Data[r] * (double)h;
                var chol = LangevinCoefficients.ShenLeeCholesky(gamma, h, a.Data[r]);
                float vp = (float)LangevinCoefficients.OneMinusExpOverGamma(gamma, ah), dp = (float)LangevinCoefficients.DriftToPosition(gamma, ah);
                float m31 = (float)chol.m31, m32 = (float)chol.m32, m33 = (float)chol.m33;
                key.Normals(firstSample + r, noise);
                var o = xm.Row(r); var xr = xb.Row(r); var vr = vb.Row(r); var sr = sb.Row(r);
                for (int j = 0; j < d; j++) o[j] = xr[j] + vp * vr[j] + dp * sr[j] + m31 * noise[j] + m32 * noise[d + j] + m33 * noise[2 * d + j];
            }
        });
    }

    public void ShenLeeFinal(IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer sMid, IDeviceBuffer alpha,
        float gamma, float h, RandomKey key, long firstSample)
    {
        BackendChecks.ShenLeeFinal(x, v, sMid, alpha, gamma, h);
        var xb = B(x); var vb = B(v); var sb = B(sMid); var a = B(alpha);
        int d = xb.Cols;
        float rho = MathF.Exp(-gamma * h), vp = (float)LangevinCoefficients.OneMinusExpOverGamma(gamma, h);
        ForRows(xb.Rows, d * 12L, (r0, r1) =>
        {
            float[] noise = new float[3 * d];
            for (int r = r0; r < r1; r++)
            {
                double b = (1 - a.Data[r]) * (double)h;
                var ch = LangevinCoefficients.ShenLeeCholesky(gamma, h, a.Data[r]);
                float wx = (float)(h * LangevinCoefficients.OneMinusExpOverGamma(gamma, b)), wv = (float)(h * Math.Exp(-gamma * b));
                float m11 = (float)ch.m11, m21 = (float)ch.m21, m22 = (float)ch.m22;
                key.Normals(firstSample + r, noise);
                var xr = xb.Row(r); var vr = vb.Row(r); var sr = sb.Row(r);
                for (int j = 0; j < d; j++)
                {
                    float z1 = noise[j], z2 = noise[d + j], z3 = noise[2 * d + j], vj = vr[j];
                    xr[j] = xr[j] + vp * vj + wx * sr[j] + m11 * z1;
                    vr[j] = rho * vj + wv * sr[j] + m21 * z1 + m22 * z2;
                }
            }
        });
    }

    public void ExpScan(IDeviceBuffer x0, IDeviceBuffer scores, ReadOnlySpan<float> steps, IDeviceBuffer xs, IDeviceBuffer xOut)
    {
        BackendChecks.ExpScan(x0, scores, steps.Length, xs, xOut);
        var x = B(x0); var s = B(scores); var xsb = B(xs); var xo = B(xOut);
        int m = steps.Length, d = x.Cols;
        var e = new float[m]; var em1 = new float[m];
        for (int i = 0; i < m; i++) { e[i] = MathF.Exp(steps[i]); em1[i] = (float)Num.ExpM1(steps[i]); }
        ForRows(x.Rows, (long)d * m, (r0, r1) =>
        {
            float[] cur = new float[d];
            for (int r = r0; r < r1; r++)
            {
                x.Row(r).CopyTo(cur);
                for (int i = 0; i < m; i++)
                {
                    cur.CopyTo(xsb.Data, (r * m + i) * d);
                    var sr = s.Row(r * m + i);
                    for (int j = 0; j < d; j++) cur[j] = e[i] * cur[j] + em1[i] * sr[j];
                }
                cur.CopyTo(xo.Data, r * d);
            }
        });
    }

    public float MaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b)
    {
        BackendChecks.MaxAbsDiff(a, b);
        var x = B(a).Data; var y = B(b).Data;
        float m = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float t = MathF.Abs(x[i] - y[i]);
            if (float.IsNaN(t)) return float.NaN;   // a diverged trajectory must never pass a tolerance test
            if (t > m) m = t;
        }
        return m;
    }

    public void RowMaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b, int rowsPerSample, Span<float> perSample)
    {
        int samples = BackendChecks.RowMaxAbsDiff(a, b, rowsPerSample, perSample.Length);
        var x = B(a).Data; var y = B(b).Data;
        int span = rowsPerSample * a.Cols;
        for (int s = 0; s < samples; s++)
        {
            float m = 0;
            for (int i = s * span, e = i + span; i < e; i++)
            {
                float t = MathF.Abs(x[i] - y[i]);
                if (float.IsNaN(t)) { m = float.NaN; break; }
                if (t > m) m = t;
            }
            perSample[s] = m;
        }
    }

    public void CopyRowsWhere(IDeviceBuffer dst, IDeviceBuffer src, IDeviceBuffer mask)
    {
        BackendChecks.CopyRowsWhere(dst, src, mask);
        var mk = B(mask);
        var d = B(dst); var s = B(src);
        for (int r = 0; r < d.Rows; r++) if (mk.Data[r] != 0) s.Row(r).CopyTo(d.Row(r));
    }

    public void Finish() { }

    /// <summary>Host memory: the budget is the scheduler's (SchedulerOptions.CpuMemoryBytes); allocations are bounded by .NET arrays.</summary>
    public DeviceMemory Memory => new(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, (long)Array.MaxLength * sizeof(float), IsHost: true);

    /// <summary>A stream with its own worker thread (<see cref="CpuStream"/>).</summary>
    public IBackendStream OpenStream() => new CpuStream(this);

    public void Dispose() { }

    public void MarkNonFinite(IDeviceBuffer x, IDeviceBuffer firstBad, float step)
    {
        BackendChecks.MarkNonFinite(x, firstBad);
        var a = B(x); var f = B(firstBad);
        int cols = a.Cols;
        ForRows(a.Rows, cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                if (f.Data[r] >= 0) continue;
                // x * 0 is 0 for finite x and NaN for NaN or +-Inf: one multiply-add per element, no branch
                float acc = 0;
                var row = a.Data.AsSpan(r * cols, cols);
                for (int j = 0; j < row.Length; j++) acc += row[j] * 0f;
                if (!(acc == 0)) f.Data[r] = step;
            }
        });
    }
}
