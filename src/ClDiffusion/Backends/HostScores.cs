using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;

namespace ClDiffusion.Backends;

/// <summary>
/// Plugs <see cref="HostScoreModel"/> into the CPU and OpenCL backends through their registries, so neither backend
/// knows the type. The CPU backend hands its rows over in place; the OpenCL backend reads them back into pinned
/// host arrays, calls the model and writes the scores back.
/// </summary>
public static class HostScores
{
    static int registered;

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the library registers its own host-score preparations")]
    internal static void Init() => Register();

    /// <summary>Registers the preparations once (idempotent).</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref registered, 1) == 1) return;
        CpuScoreRegistry.Register((model, _) => model is not HostScoreModel h ? null
            : h.NumClasses > 0 ? new CpuConditionalHostScore(h) : new CpuHostScore(h));
        OpenClScoreRegistry.Register(new OpenClFactory());
    }

    sealed class OpenClFactory : IOpenClScoreFactory
    {
        public IOpenClScore? TryPrepare(OpenClBackend backend, IScoreModel model, Func<IScoreModel, IOpenClScore> prepareInner) =>
            model is not HostScoreModel h ? null : h.NumClasses > 0 ? new OpenClConditionalHostScore(h) : new OpenClHostScore(h);
    }
}

/// <summary>A host model on the CPU backend: the whole batch in one call, on the backend's own arrays.</summary>
sealed class CpuHostScore(HostScoreModel model) : ICpuBatchScore
{
    public IScoreModel Model => model;
    public void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, Span<float> score) => model.Evaluate(x, t, score);
    public void Dispose() { }
}

/// <summary>
/// A class-conditional host model on the CPU backend: labelled batches (a guided evaluation's [x; x] with labels
/// [c; null] included) go to the model in one call; unlabelled batches ask for the unconditional score.
/// </summary>
sealed class CpuConditionalHostScore(HostScoreModel model) : ICpuBatchScore, ICpuConditionalScore
{
    public IScoreModel Model => model;
    public void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, Span<float> score) => model.Evaluate(x, t, score);
    public void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> score) => model.Evaluate(x, t, labels, score);
    public void Dispose() { }
}

/// <summary>
/// A host model on an OpenCL device: per evaluation one blocking read of x (and of the time-offset table, a few
/// floats, when the sampler gives one), the model on the host, one blocking write of the scores. The staging arrays
/// are pinned and reused, so the driver copies straight from and into them.
/// </summary>
class OpenClHostScore(HostScoreModel model) : IOpenClScore
{
    float[] xs = [], ss = [], ts = [], offs = [], ls = [];
    int[] labs = [];
    public IScoreModel Model => model;

    static float[] Fit(float[] a, long n) => a.Length >= n ? a : GC.AllocateUninitializedArray<float>(checked((int)n), pinned: true);

    public void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score) =>
        Enqueue(b, x, t0, slope, offsets, score, null);

    /// <summary>labels: [rows, 1] classes as floats (-1 = null), read back once per call; null: every row unconditional.</summary>
    protected void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score, OpenClBuffer? labels)
    {
        int rows = x.Rows;
        long n = x.Length;
        xs = Fit(xs, n); ss = Fit(ss, n); ts = Fit(ts, rows);
        b.Download(x, xs.AsSpan(0, (int)n));
        if (offsets is null) ts.AsSpan(0, rows).Fill(t0);
        else
        {
            int k = (int)offsets.Length;
            offs = Fit(offs, k);
            b.Download(offsets, offs.AsSpan(0, k));
            for (int r = 0; r < rows; r++) ts[r] = t0 - slope * offs[r % k];
        }
        ReadOnlySpan<int> lab = default;
        if (labels is not null)
        {
            if (labels.Length < rows) throw new ArgumentException($"{labels.Length} labels for {rows} rows");
            ls = Fit(ls, labels.Length);
            if (labs.Length < rows) labs = new int[rows];
            b.Download(labels, ls.AsSpan(0, (int)labels.Length));
            for (int r = 0; r < rows; r++)
            {
                float v = ls[r];
                if (!(v >= -1 && v < 1 << 24) || v != MathF.Floor(v)) throw new ArgumentException($"label of row {r} is {v}: labels are whole classes >= 0, or -1 for the null class");
                labs[r] = (int)v;
            }
            lab = labs.AsSpan(0, rows);
        }
        model.Evaluate(xs.AsSpan(0, (int)n), ts.AsSpan(0, rows), lab, ss.AsSpan(0, (int)n));
        b.Upload(score, ss.AsSpan(0, (int)n));
    }

    public void Dispose() { }
}

/// <summary>A class-conditional host model on an OpenCL device: the labels are read back with the rows, one call per evaluation.</summary>
sealed class OpenClConditionalHostScore(HostScoreModel model) : OpenClHostScore(model), IOpenClConditionalScore
{
    void IOpenClConditionalScore.Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score, OpenClBuffer? labels) =>
        Enqueue(b, x, t0, slope, offsets, score, labels);
}
