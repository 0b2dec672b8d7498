using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;

namespace ClDiffusion.Backends.OpenCL.Mlp;

/// <summary>
/// An <see cref="MlpModel"/> on an OpenCL device (cl/mlp.cl): one tiled SGEMM launch per layer with fused epilogues.
/// Layer 0 builds concat(y, [sin(t f), cos(t f)]) inside the kernel from x and the per-row time; hidden layers add the
/// bias and apply SiLU; the last layer adds the bias and converts the output to the score (eps, score or x0) with the
/// per-row time. Weights are uploaded once here (transposed to [In, Out]); two activation buffers [rows, max hidden width] are kept and grown
/// when a call has more rows. Nothing is read back.
/// </summary>
public sealed class OpenClMlpScore : IOpenClConditionalScore
{
    readonly MlpModel m;
    readonly OpenClBuffer?[] weights, biases; // weights[l] = W_l^T [In, Out] (layer-by-layer launches)
    readonly OpenClBuffer freqs;
    readonly ClKernel? hidden, first, last, single;
    // the whole network in one launch (cl/mlp_fused.cl): every layer's W^T and bias concatenated
    readonly ClKernel? fused;
    readonly OpenClBuffer? fusedW, fusedB;
    readonly int maxHidden;
    OpenClBuffer? act0, act1;
    public IScoreModel Model => m;
    public MlpKernelConfig Config { get; }
    /// <summary>Where <see cref="Config"/> came from (the argument, or the tuning choice of the registry's factory).</summary>
    public string ConfigSource { get; init; } = "";
    /// <summary>The configuration used for the last layer (its N tile narrowed to the output width d).</summary>
    public MlpKernelConfig LastConfig { get; }
    /// <summary>Whether the network runs as one fused launch (<see cref="FusedReason"/> says why or why not).</summary>
    public bool Fused => fused is not null;
    /// <summary>Why the fused kernel is or is not used for this network.</summary>
    public string FusedReason { get; } = "";

    /// <summary>
    /// Whether <paramref name="model"/> can run as one fused launch with this configuration on a device with
    /// <paramref name="localBytes"/> of local memory and work groups of up to <paramref name="maxGroup"/>: at least two
    /// layers, every hidden layer of the same width w &lt;= <see cref="MlpKernelConfig.FuseMaxWidth"/>, and the two
    /// activation tiles in local memory.
    /// </summary>
    public static bool CanFuse(MlpModel model, MlpKernelConfig cfg, long localBytes, long maxGroup, out string reason)
    {
        int L = model.Layers.Count, w = model.Layers[0].Out;
        if (cfg.FuseMaxWidth <= 0) reason = "fusion off (FuseMaxWidth = 0)";
        else if (L < 2) reason = "one-layer network";
        else if (model.Layers.Take(L - 1).Any(l => l.Out != w)) reason = "hidden widths differ";
        else if (w > cfg.FuseMaxWidth) reason = $"width {w} > {cfg.FuseMaxWidth}";
        else if (localBytes > 0 && cfg.FusedLocalBytes(model.FeatureWidth, w) > localBytes) reason = $"needs {cfg.FusedLocalBytes(model.FeatureWidth, w)} bytes of local memory, the device has {localBytes}";
        else if (cfg.FusedGroup > maxGroup) reason = $"fused work group {cfg.FusedGroup} > device maximum {maxGroup}";
        else { reason = $"fused: width {w} <= {cfg.FuseMaxWidth}, {cfg.FusedRows} rows per group"; return true; }
        return false;
    }

    public OpenClMlpScore(OpenClBackend b, MlpModel model, MlpKernelConfig? config = null)
    {
        m = model;
        Config = config ?? OpenClMlp.DefaultConfig ?? MlpKernelConfig.For(b.Device);
        ConfigSource = config is not null ? "argument" : OpenClMlp.DefaultConfig is not null ? "OpenClMlp.DefaultConfig" : "built-in default";
        Config.Validate(b.Device);
        LastConfig = Config.ForOutputs(model.Dim);
        LastConfig.Validate(b.Device);
        int L = m.Layers.Count;
        weights = new OpenClBuffer?[L]; biases = new OpenClBuffer?[L];
        var desc = ClDiffusion.Backends.OpenCL.Tuning.DeviceDescription.From(b.Device);
        bool fuse = CanFuse(model, Config, desc.LocalMemoryBytes, desc.MaxWorkGroupSize, out var why);
        FusedReason = why;
        try
        {
            var f = m.TimeFreqs.Length > 0 ? m.TimeFreqs : new float[1]; // OpenCL has no empty buffers
            freqs = (OpenClBuffer)b.Allocate(1, f.Length);
            b.Upload(freqs, f);
            // a conditional model's first layer: the class embedding as K + 1 more input rows of W^T (one-hot columns)
            MlpLayer LayerAt(int l) => l == 0 ? m.FirstLayerWithClasses() : m.Layers[l];
            if (fuse)
            {
                var wAll = new List<float>(); var bAll = new List<float>();
                for (int l = 0; l < L; l++)
                {
                    var layer = LayerAt(l);
                    var wt = new float[layer.Weight.Length];
                    Sgemm.Transpose(layer.Weight, layer.Out, layer.In, wt);
                    wAll.AddRange(wt); bAll.AddRange(layer.Bias);
                }
                fusedW = (OpenClBuffer)b.Allocate(1, wAll.Count); b.Upload(fusedW, wAll.ToArray());
                fusedB = (OpenClBuffer)b.Allocate(1, bAll.Count); b.Upload(fusedB, bAll.ToArray());
                string S(int v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var defs = new Dictionary<string, string>
                {
                    ["FD"] = S(m.Dim), ["FF"] = S(m.TimeFreqs.Length), ["FW"] = S(m.Layers[0].Out), ["FH"] = S(L - 2),
                    ["PRED"] = S(PredictionCode), ["MLPF_RB"] = S(Config.FusedRows), ["MLPF_WGS"] = S(Config.FusedGroup),
                };
                fused = b.Program("mlp_fused.cl", WithClasses(defs, "FC")).Kernel("mlp_fused");
            }
            else
            {
                for (int l = 0; l < L; l++)
                {
                    var layer = LayerAt(l);
                    weights[l] = (OpenClBuffer)b.Allocate(layer.In, layer.Out); // W^T [In, Out]
                    var wt = new float[layer.Weight.Length];
                    Sgemm.Transpose(layer.Weight, layer.Out, layer.In, wt);
                    b.Upload(weights[l]!, wt);
                    biases[l] = (OpenClBuffer)b.Allocate(1, layer.Out);
                    b.Upload(biases[l]!, layer.Bias);
                }
                var prog = b.Program("mlp.cl", WithClasses(Config.Defines()));
                var progLast = LastConfig == Config ? prog : b.Program("mlp.cl", WithClasses(LastConfig.Defines()));
                hidden = prog.Kernel("mlp_hidden"); first = prog.Kernel("mlp_first");
                last = progLast.Kernel("mlp_last"); single = progLast.Kernel("mlp_single");
            }
        }
        catch { Dispose(); throw; }
        // a one-layer network needs a scratch [rows, d] only when score aliases x (see Enqueue)
        maxHidden = L > 1 ? m.Layers.Take(L - 1).Max(x => x.Out) : m.Dim;
    }

    /// <summary>The class count of a conditional model as a define (MLP_CLASSES in mlp.cl, FC in mlp_fused.cl).</summary>
    Dictionary<string, string> WithClasses(Dictionary<string, string> defines, string name = "MLP_CLASSES")
    {
        if (m.NumClasses > 0) defines[name] = m.NumClasses.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return defines;
    }

    void Activations(OpenClBackend b, int rows)
    {
        if (act0 is not null && act0.Rows >= rows) return;
        act0?.Dispose(); act1?.Dispose(); act0 = act1 = null;
        act0 = (OpenClBuffer)b.Allocate(rows, maxHidden);
        act1 = (OpenClBuffer)b.Allocate(rows, maxHidden);
    }

    public void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score) =>
        Enqueue(b, x, t0, slope, offsets, score, null);

    /// <summary>Rows conditioned on labels[r] (a float class, -1 = null); labels null: the null class (an unconditional model ignores it).</summary>
    public void Enqueue(OpenClBackend b, OpenClBuffer x, float t0, float slope, OpenClBuffer? offsets, OpenClBuffer score, OpenClBuffer? labels)
    {
        if (labels is not null && m.NumClasses == 0) throw new ArgumentException($"class labels given, but {m.Describe()} is not class-conditional");
        int rows = x.Rows, d = m.Dim, L = m.Layers.Count;
        if (rows == 0) return;
        if (fused is not null)
        {
            // one launch: each group reads its rows of x once (before any write), so score may alias x
            int groups = (rows + Config.FusedRows - 1) / Config.FusedRows;
            fused.Set(0, x.Mem).Set(1, score.Mem).Set(2, rows).Set(3, fusedW!.Mem).Set(4, fusedB!.Mem).Set(5, freqs.Mem)
                .Set(6, (offsets ?? x).Mem).Set(7, offsets is null ? 0 : (int)offsets.Length).Set(8, t0).Set(9, slope)
                .Set(10, (labels ?? x).Mem).Set(11, labels is null ? 0 : rows);
            fused.Launch(b.Queue, (long)groups * Config.FusedGroup, Config.FusedGroup);
            return;
        }
        // One layer reading x and writing score: if they are the same buffer, groups of other column tiles would
        // overwrite inputs still to be read, so write into scratch and copy (deeper nets only read x's own element).
        bool alias = L == 1 && x.Mem.Handle == score.Mem.Handle;
        if (L > 1 || alias) Activations(b, rows);
        int noff = offsets is null ? 0 : (int)offsets.Length;
        var offMem = (offsets ?? x).Mem;
        int pred = PredictionCode;
        OpenClBuffer input = x, output = act0!;
        for (int l = 0; l < L; l++)
        {
            var layer = m.Layers[l];
            int inWidth = l == 0 ? m.FeatureWidth : layer.In;
            bool isFirst = l == 0, isLast = l == L - 1;
            var k = (isFirst ? (isLast ? single : first) : (isLast ? last : hidden))!;
            var cfg = isLast ? LastConfig : Config;
            var dst = isLast && !alias ? score : output;
            int lda = isFirst ? d : maxHidden, ldc = isLast && !alias ? d : maxHidden;
            int groupsM = (rows + cfg.Mwg - 1) / cfg.Mwg, groupsN = (layer.Out + cfg.Nwg - 1) / cfg.Nwg;
            k.Set(0, input.Mem).Set(1, lda).Set(2, weights[l]!.Mem).Set(3, biases[l]!.Mem).Set(4, dst.Mem).Set(5, ldc)
                .Set(6, rows).Set(7, layer.Out).Set(8, inWidth).Set(9, groupsM)
                .Set(10, freqs.Mem).Set(11, d).Set(12, m.TimeFreqs.Length).Set(13, offMem).Set(14, noff).Set(15, t0).Set(16, slope)
                .Set(17, x.Mem).Set(18, pred).Set(19, (labels ?? x).Mem).Set(20, labels is null ? 0 : rows);
            k.Launch(b.Queue, (long)groupsM * groupsN * cfg.WorkGroupSize, cfg.WorkGroupSize);
            input = output;
            output = ReferenceEquals(output, act0) ? act1! : act0!;
        }
        if (alias) CopyRows(b, act0!, score, rows * d);
    }

    int PredictionCode => m.Prediction switch { MlpPrediction.Eps => 0, MlpPrediction.Score => 1, _ => 2 };

    static unsafe void CopyRows(OpenClBackend b, OpenClBuffer src, OpenClBuffer dst, long floats) =>
        OpenClException.Check(ClApi.Api.EnqueueCopyBuffer(b.Queue.Handle, src.Mem.Handle, dst.Mem.Handle, 0, 0, (nuint)(floats * 4), 0, null, null), "clEnqueueCopyBuffer");

    public void Dispose()
    {
        foreach (var w in weights) w?.Dispose();
        foreach (var w in biases) w?.Dispose();
        freqs?.Dispose(); act0?.Dispose(); act1?.Dispose();
        hidden?.Dispose(); first?.Dispose(); last?.Dispose(); single?.Dispose();
        fused?.Dispose(); fusedW?.Dispose(); fusedB?.Dispose();
    }
}

/// <summary>Plugs <see cref="MlpModel"/> into <see cref="OpenClBackend"/> through <see cref="OpenClScoreRegistry"/>.</summary>
public static class OpenClMlp
{
    static int registered;

    /// <summary>
    /// Tile configuration for MLPs prepared through the registry; when set it wins over the tuning database
    /// (null: the database entry for the device and hidden-width class, else <see cref="MlpKernelConfig.For"/> the device;
    /// see <see cref="ClDiffusion.Backends.OpenCL.Tuning.MlpTuning.Choose"/>).
    /// </summary>
    public static MlpKernelConfig? DefaultConfig { get; set; }

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the library registers its own OpenCL preparation")]
    internal static void Init() => Register();

    /// <summary>Registers the MLP preparation once (idempotent).</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref registered, 1) == 1) return;
        OpenClScoreRegistry.Register(new Factory());
    }

    sealed class Factory : IOpenClScoreFactory
    {
        public IOpenClScore? TryPrepare(OpenClBackend backend, IScoreModel model, Func<IScoreModel, IOpenClScore> prepareInner) =>
            model is MlpModel m ? Prepare(backend, m) : null;

        static OpenClMlpScore Prepare(OpenClBackend backend, MlpModel m)
        {
            var (cfg, source) = ClDiffusion.Backends.OpenCL.Tuning.MlpTuning.Choose(backend.Device, backend.Options, ClDiffusion.Backends.OpenCL.Tuning.MlpTuning.HiddenWidth(m));
            return new OpenClMlpScore(backend, m, cfg) { ConfigSource = source };
        }
    }
}
