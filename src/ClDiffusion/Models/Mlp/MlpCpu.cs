using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Diffusion;

namespace ClDiffusion.Models.Mlp;

/// <summary>Plugs <see cref="MlpModel"/> into the CPU backend through <see cref="CpuScoreRegistry"/>.</summary>
public static class MlpCpu
{
    static int registered;

    /// <summary>Runs when the library loads, so `new CpuBackend().Prepare(mlp)` just works.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the library registers its own CPU preparation")]
    internal static void Init() => Register();

    /// <summary>Registers the MLP preparation once (idempotent).</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref registered, 1) == 1) return;
        CpuScoreRegistry.Register((model, _) => model is MlpModel m ? new MlpCpuScore(m) : null);
    }
}

/// <summary>
/// Batched MLP evaluation on the CPU: rows in blocks of <see cref="BlockRows"/>, blocks over threads, each layer one
/// managed SGEMM (<see cref="Sgemm"/>) against the pre-transposed weights. Rows are independent, and each output
/// element is summed in a fixed order, so results do not depend on the batch size or the thread count.
/// </summary>
public sealed class MlpCpuScore : ICpuBatchScore, ICpuConditionalScore
{
    public const int BlockRows = 64;
    readonly MlpModel m;
    readonly float[][] wt; // layer l: W^T [In, Out]
    readonly int threads;
    public IScoreModel Model => m;

    public MlpCpuScore(MlpModel model, int threads = 0)
    {
        m = model;
        this.threads = threads > 0 ? threads : Environment.ProcessorCount;
        wt = new float[m.Layers.Count][];
        for (int l = 0; l < wt.Length; l++)
        {
            var L = l == 0 ? m.FirstLayerWithClasses() : m.Layers[l];   // a conditional model's class embedding as one-hot input columns
            wt[l] = new float[L.Weight.Length];
            Sgemm.Transpose(L.Weight, L.Out, L.In, wt[l]);
        }
    }

    public void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, Span<float> score) => ScoreBatch(x, t, default, score);

    /// <summary>Rows with their classes (labels empty: every row gets the null class).</summary>
    public void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> score)
    {
        int d = m.Dim, n = t.Length;
        if (x.Length != (long)n * d || score.Length != (long)n * d) throw new ArgumentException($"score batch: {x.Length} inputs / {score.Length} outputs do not match {n} rows of {d}");
        if (!labels.IsEmpty && labels.Length != n) throw new ArgumentException($"score batch: {labels.Length} labels for {n} rows");
        foreach (var c in labels) m.ClassIndex(c);   // rejects labels outside the model's classes
        int blocks = (n + BlockRows - 1) / BlockRows;
        if (blocks <= 1 || threads == 1)
        {
            var ws = new Workspace(m);
            for (int b = 0; b < blocks; b++) Block(b, x, t, labels, score, ws);
            return;
        }
        // Spans cannot enter lambdas: copy in and out through arrays (cheap next to the matrix products).
        var xa = x.ToArray(); var ta = t.ToArray(); var la = labels.ToArray(); var sa = new float[score.Length];
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => new Workspace(m),
            (b, _, ws) => { Block(b, xa, ta, la, sa, ws); return ws; }, _ => { });
        sa.CopyTo(score);
    }

    sealed class Workspace
    {
        public readonly float[] a, b;
        public Workspace(MlpModel m)
        {
            int w = Math.Max(m.FeatureWidth, m.Layers.Max(l => l.Out));
            a = new float[BlockRows * w]; b = new float[BlockRows * w];
        }
    }

    void Block(int block, ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> score, Workspace ws)
    {
        int d = m.Dim, r0 = block * BlockRows, rows = Math.Min(BlockRows, t.Length - r0);
        int F = m.TimeFreqs.Length, inW = m.FeatureWidth, classCols = inW - m.InputWidth;
        var cur = ws.a; var next = ws.b;
        for (int r = 0; r < rows; r++)
        {
            x.Slice((r0 + r) * d, d).CopyTo(cur.AsSpan(r * inW));
            float tr = t[r0 + r];
            for (int i = 0; i < F; i++)
            {
                float arg = tr * m.TimeFreqs[i];
                cur[r * inW + d + i] = MathF.Sin(arg);
                cur[r * inW + d + F + i] = MathF.Cos(arg);
            }
            if (classCols > 0)
            {
                var onehot = cur.AsSpan(r * inW + m.InputWidth, classCols);
                onehot.Clear();
                onehot[m.ClassIndex(labels.IsEmpty ? ClassLabels.Null : labels[r0 + r])] = 1;
            }
        }
        int layers = m.Layers.Count;
        for (int l = 0; l < layers; l++)
        {
            var L = m.Layers[l];
            Sgemm.Multiply(cur, wt[l], next, rows, l == 0 ? inW : L.In, L.Out, L.Bias);
            if (l < layers - 1) Silu(next.AsSpan(0, rows * L.Out));
            (cur, next) = (next, cur);
        }
        // cur holds the network output [rows, d]
        for (int r = 0; r < rows; r++)
        {
            var o = cur.AsSpan(r * d, d);
            var s = score.Slice((r0 + r) * d, d);
            double tt = t[r0 + r];
            switch (m.Prediction)
            {
                case MlpPrediction.Eps:
                    float inv = (float)(-1 / ForwardProcess.Sigma(tt));
                    for (int j = 0; j < d; j++) s[j] = o[j] * inv;
                    break;
                case MlpPrediction.Score:
                    o.CopyTo(s);
                    break;
                case MlpPrediction.X0:
                    float a = (float)ForwardProcess.Alpha(tt), is2 = (float)(1 / ForwardProcess.SigmaSquared(tt));
                    var xr = x.Slice((r0 + r) * d, d);
                    for (int j = 0; j < d; j++) s[j] = (a * o[j] - xr[j]) * is2;
                    break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Silu(float z) => z / (1 + MathF.Exp(-z));

    internal static void Silu(Span<float> v)
    {
        for (int i = 0; i < v.Length; i++) v[i] = Silu(v[i]);
    }

    public void Dispose() { }
}
