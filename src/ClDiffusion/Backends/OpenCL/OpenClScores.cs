using ClDiffusion.Models;

namespace ClDiffusion.Backends.OpenCL;

/// <summary>A score model prepared for an <see cref="OpenClBackend"/>: enqueues its evaluation on the backend's queue.</summary>
public interface IOpenClScore : IPreparedScore
{
    /// <summary>
    /// Enqueues score[r] = s_{t_r}(x[r]), t_r = t0 - slope * offsets[r % offsetCount] (offsets null: t_r = t0).
    /// Must not read anything back to the host.
    /// </summary>
    void Enqueue(OpenClBackend backend, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score);
}

/// <summary>A class-conditional score on the device: row r conditioned on labels[r] (a float class, -1 = null; labels null: all null).</summary>
public interface IOpenClConditionalScore : IOpenClScore
{
    void Enqueue(OpenClBackend backend, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score, OpenClBuffer? labels);
}

/// <summary>
/// Lets other parts of the library (an MLP score kernel) plug OpenCL preparations in without the backend knowing
/// them (the OpenCL twin of <see cref="Cpu.CpuScoreRegistry"/>). A factory returns null for models it does not handle.
/// It may compile its own kernels with <see cref="OpenClBackend.Program"/>.
/// </summary>
public interface IOpenClScoreFactory
{
    IOpenClScore? TryPrepare(OpenClBackend backend, IScoreModel model, Func<IScoreModel, IOpenClScore> prepareInner);
}

public static class OpenClScoreRegistry
{
    static readonly List<IOpenClScoreFactory> factories = new();
    public static void Register(IOpenClScoreFactory factory) { lock (factories) factories.Add(factory); }
    internal static IOpenClScore? TryPrepare(OpenClBackend backend, IScoreModel model, Func<IScoreModel, IOpenClScore> inner)
    {
        IOpenClScoreFactory[] fs;
        lock (factories) fs = factories.ToArray();
        foreach (var f in fs) if (f.TryPrepare(backend, model, inner) is { } p) return p;
        return null;
    }
}

/// <summary>Exact mixture score on the device (cl/gmm.cl): float log-sum-exp, one work item per row.</summary>
sealed class OpenClGaussianMixtureScore : IOpenClConditionalScore
{
    readonly GaussianMixture g;
    readonly OpenClBuffer means, vars, logw;
    readonly ClKernel kernel, logdetKernel;
    readonly bool vectorised;
    OpenClBuffer? logdet;
    public IScoreModel Model => g;
    internal (OpenClBuffer Means, OpenClBuffer Vars, OpenClBuffer LogW) Parameters => (means, vars, logw);

    public OpenClGaussianMixtureScore(OpenClBackend b, GaussianMixture g)
    {
        this.g = g;
        int K = g.Components, d = g.Dim;
        // log-weight table [classes + 1, K]: row c masks the components of other classes, the last row (null) is the mixture
        var table = g.LogWeightTable();
        means = (OpenClBuffer)b.Allocate(K, d); vars = (OpenClBuffer)b.Allocate(K, d); logw = (OpenClBuffer)b.Allocate(table.Length / K, K);
        b.Upload(means, g.Means.SelectMany(m => m.Select(v => (float)v)).ToArray());
        b.Upload(vars, g.Variances.SelectMany(m => m.Select(v => (float)v)).ToArray());
        b.Upload(logw, table.Select(w => (float)w).ToArray());
        // two-pass vectorised kernel where it applies (K <= KMAX = 16, d a multiple of the vector width), else one pass per row
        vectorised = K <= 16 && d % b.Options.ScoreVectorWidth == 0;
        var prog = b.Program("gmm.cl");
        kernel = prog.Kernel(vectorised ? "gmm_score_vec" : "gmm_score");
        logdetKernel = prog.Kernel("gmm_logdet");
    }

    public void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score) =>
        Enqueue(b, x, t0, slope, offsets, score, null);

    public void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score, OpenClBuffer? labels)
    {
        if (labels is not null && g.NumClasses == 0) throw new ArgumentException($"class labels given, but {g.Describe()} has no component labels");
        int rows = x.Rows, lab = vectorised ? 13 : 12;
        kernel.Set(lab, (labels ?? x).Mem).Set(lab + 1, labels is null ? 0 : rows).Set(lab + 2, g.NumClasses);
        kernel.Set(0, x.Mem).Set(1, score.Mem).Set(2, means.Mem).Set(3, vars.Mem).Set(4, logw.Mem)
            .Set(5, (offsets ?? x).Mem).Set(6, offsets is null ? 0 : offsets.Rows * offsets.Cols)
            .Set(7, t0).Set(8, slope).Set(9, rows).Set(10, g.Components).Set(11, g.Dim);
        if (vectorised)
        {
            int noff = offsets is null ? 0 : offsets.Rows * offsets.Cols, nt = Math.Max(noff, 1) * g.Components;
            if (logdet is null || logdet.Rows < nt) { logdet?.Dispose(); logdet = (OpenClBuffer)b.Allocate(nt, 1); }
            logdetKernel.Set(0, logdet.Mem).Set(1, vars.Mem).Set(2, (offsets ?? x).Mem).Set(3, noff).Set(4, t0).Set(5, slope).Set(6, g.Components).Set(7, g.Dim);
            b.Launch(logdetKernel, nt);
            kernel.Set(12, logdet.Mem);
        }
        b.Launch(kernel, rows);
    }

    public void Dispose() { means.Dispose(); vars.Dispose(); logw.Dispose(); logdet?.Dispose(); kernel.Dispose(); logdetKernel.Dispose(); }
}

/// <summary>Score error wrapper (see <see cref="PerturbedScore"/>): the inner score, then the perturbation added in place.</summary>
sealed class OpenClPerturbedScore : IOpenClConditionalScore
{
    readonly PerturbedScore p;
    readonly IOpenClScore inner;
    public IScoreModel Model => p;
    public OpenClPerturbedScore(PerturbedScore p, IOpenClScore inner) { this.p = p; this.inner = inner; }

    public void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score) =>
        Enqueue(b, x, t0, slope, offsets, score, null);

    public void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score, OpenClBuffer? labels)
    {
        if (labels is null) inner.Enqueue(b, x, t0, slope, offsets, score);
        else if (inner is IOpenClConditionalScore c) c.Enqueue(b, x, t0, slope, offsets, score, labels);
        else throw new ArgumentException($"class labels given, but {inner.Model.Describe()} is not class-conditional");
        var k = b.K("perturb_add");
        k.Set(0, score.Mem).Set(1, x.Mem).Set(2, (offsets ?? x).Mem).Set(3, offsets is null ? 0 : offsets.Rows * offsets.Cols)
            .Set(4, t0).Set(5, slope).Set(6, p.Amplitude).Set(7, (float)p.Frequency).Set(8, x.Rows).Set(9, x.Cols);
        b.Launch(k, (long)x.Rows * x.Cols);
    }

    public void Dispose() => inner.Dispose();
}
