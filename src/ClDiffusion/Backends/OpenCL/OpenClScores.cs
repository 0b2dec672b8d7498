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

/// <summary>Which kernel evaluates a mixture on the device.</summary>
public enum GmmKernel
{
    /// <summary>gmm_score (cl/gmm.cl): one work item per row, one pass (K > 16 or d not a multiple of GVW, below the row kernel's d).</summary>
    OnePass,
    /// <summary>gmm_score_vec (cl/gmm.cl): one work item per row, two passes over GVW-wide vectors.</summary>
    PerRow,
    /// <summary>gmm_score_rows (cl/gmm_rows.cl): a work group per row (large d; <see cref="GmmRowsConfig"/>).</summary>
    Rows,
}

/// <summary>
/// Exact mixture score on the device: float log-sum-exp. From d = GRD (<see cref="GmmRowsConfig"/>; GPUs 256, CPUs never) a work group per row
/// (cl/gmm_rows.cl), below it one work item per row (cl/gmm.cl: two-pass vectorised where K &lt;= 16 and GVW divides d,
/// else one pass). The two-pass kernels share gmm_logdet (the sum of log variances per distinct time) and, where the
/// distinct times are few (<see cref="UsesTable"/>), gmm_inverse_var's table of 1 / (a_t^2 var + s_t^2), so that their
/// loops multiply instead of dividing (issue 18: on CPUs the divisions bounded them).
/// </summary>
sealed class OpenClGaussianMixtureScore : IOpenClConditionalScore
{
    readonly GaussianMixture g;
    readonly OpenClBuffer means, vars, logw;
    readonly ClKernel kernel, logdetKernel;
    readonly ClKernel inverseKernel;
    readonly GmmRowsConfig rowsConfig;
    readonly long tableLimit;
    readonly int logChunk;
    OpenClBuffer? logdet, ivar;
    public IScoreModel Model => g;
    /// <summary>The kernel this preparation launches.</summary>
    public GmmKernel Kernel { get; }
    internal (OpenClBuffer Means, OpenClBuffer Vars, OpenClBuffer LogW) Parameters => (means, vars, logw);

    /// <summary>Prepares the mixture; <paramref name="force"/> (benchmarks, tests) picks the kernel instead of the backend's rule and throws where it cannot run.</summary>
    public OpenClGaussianMixtureScore(OpenClBackend b, GaussianMixture g, GmmKernel? force = null)
    {
        this.g = g;
        int K = g.Components, d = g.Dim;
        // log-weight table [classes + 1, K]: row c masks the components of other classes, the last row (null) is the mixture
        var table = g.LogWeightTable();
        means = (OpenClBuffer)b.Allocate(K, d); vars = (OpenClBuffer)b.Allocate(K, d); logw = (OpenClBuffer)b.Allocate(table.Length / K, K);
        b.Upload(means, g.Means.SelectMany(m => m.Select(v => (float)v)).ToArray());
        b.Upload(vars, g.Variances.SelectMany(m => m.Select(v => (float)v)).ToArray());
        b.Upload(logw, table.Select(w => (float)w).ToArray());
        rowsConfig = GmmRowsConfig.Of(b);
        bool rowsFit = rowsConfig.GroupSize <= b.Device.MaxWorkGroupSize && rowsConfig.LocalBytes(K, d) <= b.Device.LocalMemory;
        bool vecFits = K <= 16 && d % b.Tunable("gmm", "GVW") == 0;
        Kernel = force ?? (rowsFit && d >= rowsConfig.FromDim ? GmmKernel.Rows : vecFits ? GmmKernel.PerRow : GmmKernel.OnePass);
        if (Kernel == GmmKernel.Rows && !rowsFit)
            throw new ArgumentException($"gmm_score_rows: a group of {rowsConfig.GroupSize} items with {rowsConfig.LocalBytes(K, d)} bytes of local memory does not fit {b.Device.Name}");
        if (Kernel == GmmKernel.PerRow && !vecFits)
            throw new ArgumentException($"gmm_score_vec needs K <= 16 and d a multiple of GVW = {b.Tunable("gmm", "GVW")} (K = {K}, d = {d})");
        var prog = b.Program("gmm.cl");
        kernel = Kernel switch
        {
            GmmKernel.Rows => b.Program("gmm_rows.cl", rowsConfig.Defines()).Kernel("gmm_score_rows"),
            GmmKernel.PerRow => prog.Kernel("gmm_score_vec"),
            _ => prog.Kernel("gmm_score"),
        };
        logdetKernel = prog.Kernel("gmm_logdet");
        inverseKernel = prog.Kernel("gmm_inverse_var");
        tableLimit = TableLimit(b.Defines("gmm"));
        logChunk = SafeLogChunk(g.Variances.SelectMany(v => v.Select(x => (float)x)));
    }

    /// <summary>
    /// How many factors a2 var + s2 gmm_logdet may multiply before one log without leaving float's normal range: each
    /// lies between var and 1 (a2 + s2 = 1), so a product of c of them lies within [m^-c, m^c], m the largest of
    /// 1 / min var, max var and 1 (with the float variances), kept under 1e36 (float's range ends near 3.4e38 and 1.2e-38).
    /// </summary>
    public static int SafeLogChunk(IEnumerable<float> variances)
    {
        double worst = 1e-30;
        foreach (var v in variances)
        {
            if (!(v > 0) || float.IsPositiveInfinity(v)) return 1;   // no bound: a log per factor
            worst = Math.Max(worst, Math.Abs(Math.Log(v)));
        }
        return (int)Math.Clamp(Math.Floor(Math.Log(1e36) / worst), 1, 1 << 20);
    }

    /// <summary>GIT when not set: the most floats of the inverse-variance tables (16 MiB).</summary>
    public const long DefaultTableLimit = 1 << 22;

    /// <summary>GIT (host-read define): the most floats the inverse-variance tables may take; 0 turns them off (every kernel divides).</summary>
    public static long TableLimit(IReadOnlyDictionary<string, string> defines) =>
        !defines.TryGetValue("GIT", out var s) ? DefaultTableLimit
        : long.TryParse(s, out var v) && v >= 0 ? v : throw new ArgumentException($"GIT (most floats of the mixture's inverse-variance tables) must be a non-negative integer, got {s}");

    /// <summary>
    /// Whether a call over <paramref name="rows"/> rows with <paramref name="distinctTimes"/> times (the offsets' count, 1
    /// without offsets) uses a table of inverse variances: when it has at most GIT floats and is no larger than x
    /// (times K &lt;= rows), so that building and reading it never costs more traffic than the rows themselves. A time per
    /// row (the randomized-midpoint samplers) gets none: the kernels then take the reciprocals in their loops (OVER, GRCP).
    /// </summary>
    public bool UsesTable(int rows, int distinctTimes) =>
        Kernel != GmmKernel.OnePass && (long)distinctTimes * g.Components * g.Dim <= tableLimit && (long)distinctTimes * g.Components <= rows;

    public void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score) =>
        Enqueue(b, x, t0, slope, offsets, score, null);

    public void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score, OpenClBuffer? labels)
    {
        if (labels is not null && g.NumClasses == 0) throw new ArgumentException($"class labels given, but {g.Describe()} has no component labels");
        int rows = x.Rows, lab = Kernel == GmmKernel.OnePass ? 12 : 13;
        kernel.Set(lab, (labels ?? x).Mem).Set(lab + 1, labels is null ? 0 : rows).Set(lab + 2, g.NumClasses);
        kernel.Set(0, x.Mem).Set(1, score.Mem).Set(2, means.Mem).Set(3, vars.Mem).Set(4, logw.Mem)
            .Set(5, (offsets ?? x).Mem).Set(6, offsets is null ? 0 : offsets.Rows * offsets.Cols)
            .Set(7, t0).Set(8, slope).Set(9, rows).Set(10, g.Components).Set(11, g.Dim);
        if (Kernel == GmmKernel.OnePass) { b.Launch(kernel, rows); return; }
        int noff = offsets is null ? 0 : offsets.Rows * offsets.Cols, nt = Math.Max(noff, 1) * g.Components;
        if (logdet is null || logdet.Rows < nt) { logdet?.Dispose(); logdet = (OpenClBuffer)b.Allocate(nt, 1); }
        logdetKernel.Set(0, logdet.Mem).Set(1, vars.Mem).Set(2, (offsets ?? x).Mem).Set(3, noff).Set(4, t0).Set(5, slope).Set(6, g.Components).Set(7, g.Dim).Set(8, logChunk);
        b.Launch(logdetKernel, nt);
        kernel.Set(12, logdet.Mem);
        bool tab = UsesTable(rows, Math.Max(noff, 1));
        if (tab)
        {
            long n = (long)nt * g.Dim;
            if (ivar is null || (long)ivar.Rows * ivar.Cols < n) { ivar?.Dispose(); ivar = (OpenClBuffer)b.Allocate(nt, g.Dim); }
            inverseKernel.Set(0, ivar.Mem).Set(1, vars.Mem).Set(2, (offsets ?? x).Mem).Set(3, noff).Set(4, t0).Set(5, slope).Set(6, g.Components).Set(7, g.Dim);
            b.Launch(inverseKernel, n);
        }
        int ia = Kernel == GmmKernel.PerRow ? 16 : 18;   // the rows kernel has its two local buffers first
        kernel.Set(ia, (tab ? ivar! : vars).Mem).Set(ia + 1, tab ? 1 : 0);
        if (Kernel == GmmKernel.PerRow) { b.Launch(kernel, rows); return; }
        var c = rowsConfig;
        kernel.SetLocal(16, 4L * c.RowsPerGroup * g.Dim).SetLocal(17, 4L * c.RowsPerGroup * g.Components * c.ItemsPerRow);
        long groups = (rows + c.RowsPerGroup - 1) / c.RowsPerGroup;
        b.Launch(kernel, groups * c.GroupSize, c.GroupSize);
    }

    public void Dispose() { means.Dispose(); vars.Dispose(); logw.Dispose(); logdet?.Dispose(); ivar?.Dispose(); kernel.Dispose(); logdetKernel.Dispose(); inverseKernel.Dispose(); }
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
