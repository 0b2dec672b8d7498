using ClDiffusion.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ClDiffusion.Onnx;

/// <summary>Where ONNX Runtime runs the graph.</summary>
public enum OnnxProvider
{
    /// <summary>The CPU execution provider (always there).</summary>
    Cpu,
    /// <summary>CUDA; fails at load when the ONNX Runtime package or the machine has no CUDA.</summary>
    Cuda,
    /// <summary>CUDA when it can be started, else the CPU.</summary>
    Auto,
}

/// <summary>
/// An ONNX graph as a score model (docs/MODELS.md "ONNX models"): inputs x [B, d] and t [B] (float32, B dynamic),
/// optionally class [B] (int64 or int32: a class-conditional model, metadata cldiffusion.classes = the number of
/// classes, cldiffusion.null_class = the index the graph takes for no class, default the number of classes),
/// one float32 output [B, d]. What the output is comes from the caller or the model's metadata key
/// cldiffusion.prediction (score, eps, x0, v); the time convention likewise from cldiffusion.convention (default:
/// this project's forward time). Everything is checked when the file is loaded. <see cref="Model"/> is the
/// <see cref="HostScoreModel"/> every backend can run; dispose this object after the sampling that uses it.
/// </summary>
public sealed class OnnxScoreModel : IDisposable
{
    public const string PredictionKey = "cldiffusion.prediction";
    public const string ConventionKey = "cldiffusion.convention";
    public const string ClassesKey = "cldiffusion.classes";
    public const string NullClassKey = "cldiffusion.null_class";
    /// <summary>The name of the optional class input.</summary>
    public const string ClassInput = "class";

    readonly InferenceSession session;
    readonly string outputName;
    readonly TensorElementType classType;
    /// <summary>The index the graph takes for the null label (-1): the unconditional model (-1 when not class-conditional).</summary>
    public long NullClass { get; }
    /// <summary>Number of classes (0: the graph takes no class input).</summary>
    public int NumClasses => Model.NumClasses;
    public HostScoreModel Model { get; }
    public int Dim => Model.Dim;
    public string Path { get; }
    /// <summary>The execution provider the session runs on ("cpu" or "cuda").</summary>
    public string ProviderName { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    OnnxScoreModel(string path, InferenceSession session, string outputName, int dim, Prediction prediction,
        TimeConvention convention, string provider, IReadOnlyDictionary<string, string> metadata,
        int classes = 0, long nullClass = -1, TensorElementType classType = TensorElementType.Int64)
    {
        this.session = session; this.outputName = outputName; Path = path; ProviderName = provider; Metadata = metadata;
        this.classType = classType; NullClass = nullClass;
        string name = $"onnx {System.IO.Path.GetFileName(path)}";
        Model = classes > 0
            ? new HostScoreModel(dim, classes, prediction, RunLabelled, name, convention, threadSafe: true)
            : new HostScoreModel(dim, prediction, Run, name, convention, threadSafe: true);
    }

    /// <summary>
    /// Loads and checks an ONNX score model. prediction / convention override the file's metadata; without either
    /// the metadata key must be there for the prediction, and the convention defaults to "ours".
    /// </summary>
    public static OnnxScoreModel Load(string path, Prediction? prediction = null, TimeConvention? convention = null,
        OnnxProvider provider = OnnxProvider.Cpu, int threads = 0)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model '{path}' not found", path);
        var (options, providerName) = MakeOptions(provider, threads);
        InferenceSession session;
        try { session = new InferenceSession(path, options); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"{path}: ONNX Runtime cannot load the model: {e.Message}", e); }
        finally { options.Dispose(); }
        try
        {
            var (dim, output, classType) = CheckSignature(session);
            var meta = session.ModelMetadata.CustomMetadataMap;
            var (classes, nullClass) = Classes(meta, classType);
            var pred = prediction ?? (meta.TryGetValue(PredictionKey, out var p)
                ? ParseMeta(p, HostScoreModel.ParsePrediction, PredictionKey)
                : throw new InvalidDataException($"the model does not say what it predicts (no metadata key '{PredictionKey}'): give the prediction (score, eps, x0 or v; --prediction in cldiff)"));
            var conv = convention ?? (meta.TryGetValue(ConventionKey, out var c) ? ParseMeta(c, TimeConvention.Parse, ConventionKey) : TimeConvention.Ours);
            return new OnnxScoreModel(path, session, output, dim, pred, conv, providerName, new Dictionary<string, string>(meta),
                classes, nullClass, classType ?? TensorElementType.Int64);
        }
        catch (Exception e) when (e is InvalidDataException or OnnxRuntimeException)
        {
            session.Dispose();
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        catch { session.Dispose(); throw; }
    }

    /// <summary>The number of classes and the null index from the metadata, checked against the graph's class input.</summary>
    static (int classes, long nullClass) Classes(IReadOnlyDictionary<string, string> meta, TensorElementType? classType)
    {
        bool hasCount = meta.TryGetValue(ClassesKey, out var count);
        if (classType is null)
        {
            if (hasCount) throw new InvalidDataException($"metadata '{ClassesKey}' = '{count}' says the model is class-conditional, but the graph has no '{ClassInput}' input (inputs x, t and class [B] int64)");
            if (meta.ContainsKey(NullClassKey)) throw new InvalidDataException($"metadata '{NullClassKey}' is set, but the graph has no '{ClassInput}' input");
            return (0, -1);
        }
        if (!hasCount)
            throw new InvalidDataException($"the graph takes a '{ClassInput}' input but does not say how many classes it has: add the metadata key '{ClassesKey}' (the number of classes; '{NullClassKey}' the index of the null class, default that number)");
        if (!int.TryParse(count, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int k) || k < 1)
            throw new InvalidDataException($"metadata '{ClassesKey}' = '{count}': must be the number of classes, a whole number >= 1");
        long nul = k;
        if (meta.TryGetValue(NullClassKey, out var ns)
            && (!long.TryParse(ns, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out nul) || (nul >= 0 && nul < k)))
            throw new InvalidDataException($"metadata '{NullClassKey}' = '{ns}': must be a whole number outside the classes 0..{k - 1} (the index the graph takes for no class)");
        if (classType == TensorElementType.Int32 && nul is < int.MinValue or > int.MaxValue)
            throw new InvalidDataException($"metadata '{NullClassKey}' = {nul} does not fit the graph's int32 class input");
        return (k, nul);
    }

    static T ParseMeta<T>(string value, Func<string, T> parse, string key)
    {
        try { return parse(value); }
        catch (ArgumentException e) { throw new InvalidDataException($"metadata '{key}' = '{value}': {e.Message}", e); }
    }

    internal static (SessionOptions, string) MakeOptions(OnnxProvider provider, int threads)
    {
        if (threads < 0) throw new ArgumentException($"ONNX Runtime threads must be >= 0, got {threads}");
        SessionOptions o;
        try { o = new SessionOptions(); }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            throw new NotSupportedException($"ONNX Runtime's native library cannot be loaded ({e.GetBaseException().Message}); it ships in the Microsoft.ML.OnnxRuntime package next to the program", e);
        }
        if (threads > 0) o.IntraOpNumThreads = threads;
        if (provider == OnnxProvider.Cpu) return (o, "cpu");
        try
        {
            o.AppendExecutionProvider_CUDA(0);
            return (o, "cuda");
        }
        catch (Exception e) when (provider == OnnxProvider.Auto && e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            o.Dispose();
            return (new SessionOptions { IntraOpNumThreads = threads }, "cpu");
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            o.Dispose();
            throw new NotSupportedException($"the CUDA execution provider is not available ({e.Message}): it needs the Microsoft.ML.OnnxRuntime.Gpu package and a CUDA device; use the CPU provider", e);
        }
    }

    /// <summary>Checks names, element types, ranks and dimensions; returns d, the output's name and the class input's type (null: none).</summary>
    static (int dim, string output, TensorElementType? classType) CheckSignature(InferenceSession s)
    {
        string Names(IReadOnlyDictionary<string, NodeMetadata> m) =>
            string.Join(", ", m.Select(kv => $"{kv.Key} {Shape(kv.Value)} {kv.Value.ElementDataType}"));
        var inputs = s.InputMetadata;
        bool classInput = inputs.Count == 3 && inputs.ContainsKey(ClassInput);
        if ((inputs.Count != 2 && !classInput) || !inputs.ContainsKey("x") || !inputs.ContainsKey("t"))
            throw new InvalidDataException($"a score model takes exactly two inputs, x [B, d] and t [B] (float32), and optionally a third, class [B] (int64); this one takes {Names(inputs)}");
        TensorElementType? classType = null;
        if (classInput)
        {
            var c = inputs[ClassInput];
            if (!c.IsTensor || c.ElementDataType is not (TensorElementType.Int64 or TensorElementType.Int32))
                throw new InvalidDataException($"input class must be an int64 (or int32) tensor [B] of class indices, it is {(c.IsTensor ? c.ElementDataType.ToString() : c.OnnxValueType.ToString())} {Shape(c)}");
            if (c.Dimensions.Length != 1) throw new InvalidDataException($"input class must be [B] (one class index per row), it is {Shape(c)}");
            Dynamic(c, "input class");
            classType = c.ElementDataType;
        }
        var x = inputs["x"]; var t = inputs["t"];
        Float(x, "input x"); Float(t, "input t");
        if (x.Dimensions.Length != 2) throw new InvalidDataException($"input x must be [B, d], it is {Shape(x)}");
        if (t.Dimensions.Length != 1) throw new InvalidDataException($"input t must be [B] (one forward time per row), it is {Shape(t)}");
        int d = x.Dimensions[1];
        if (d < 1) throw new InvalidDataException($"input x {Shape(x)}: the dimension d must be fixed (a number, not a symbol)");
        Dynamic(x, "input x"); Dynamic(t, "input t");
        var outputs = s.OutputMetadata;
        if (outputs.Count != 1) throw new InvalidDataException($"a score model has exactly one output [B, d]; this one has {outputs.Count}: {Names(outputs)}");
        var (name, o) = outputs.First();
        Float(o, $"output {name}");
        if (o.Dimensions.Length != 2) throw new InvalidDataException($"output {name} must be [B, d], it is {Shape(o)}");
        if (o.Dimensions[1] > 0 && o.Dimensions[1] != d) throw new InvalidDataException($"output {name} {Shape(o)} does not match input x {Shape(x)}: both must be [B, {d}]");
        if (o.Dimensions[0] > 0) throw new InvalidDataException($"output {name} {Shape(o)}: the batch dimension must be dynamic");
        return (d, name, classType);
    }

    static void Float(NodeMetadata m, string what)
    {
        if (!m.IsTensor || m.ElementDataType != TensorElementType.Float)
            throw new InvalidDataException($"{what} must be a float32 tensor, it is {(m.IsTensor ? m.ElementDataType.ToString() : m.OnnxValueType.ToString())}");
    }

    static void Dynamic(NodeMetadata m, string what)
    {
        if (m.Dimensions[0] > 0)
            throw new InvalidDataException($"{what} {Shape(m)}: the batch dimension B must be dynamic (torch.onnx.export(..., dynamic_axes={{\"x\": {{0: \"batch\"}}, \"t\": {{0: \"batch\"}}, \"out\": {{0: \"batch\"}}}}))");
    }

    internal static string Shape(NodeMetadata m) =>
        "[" + string.Join(", ", m.Dimensions.Select((v, i) => v > 0 ? v.ToString() : m.SymbolicDimensions.ElementAtOrDefault(i) is { Length: > 0 } sym ? sym : "?")) + "]";

    unsafe void Run(int rows, ReadOnlySpan<float> x, ReadOnlySpan<float> t, Span<float> output)
    {
        int d = Dim;
        long[] xShape = [rows, d], tShape = [rows];
        var mem = OrtMemoryInfo.DefaultInstance;
        fixed (float* px = x)
        fixed (float* pt = t)
        fixed (float* po = output)
        {
            using var xv = OrtValue.CreateTensorValueWithData(mem, TensorElementType.Float, xShape, (nint)px, (long)x.Length * 4);
            using var tv = OrtValue.CreateTensorValueWithData(mem, TensorElementType.Float, tShape, (nint)pt, (long)t.Length * 4);
            using var ov = OrtValue.CreateTensorValueWithData(mem, TensorElementType.Float, xShape, (nint)po, (long)output.Length * 4);
            using var ro = new RunOptions();
            try { session.Run(ro, ["x", "t"], [xv, tv], [outputName], [ov]); }
            catch (OnnxRuntimeException e) { throw new HostScoreException($"{Model.Name}: ONNX Runtime failed on a batch of {rows} rows: {e.Message}", e); }
        }
    }

    /// <summary>The class-conditional graph: labels -1 become <see cref="NullClass"/>; both halves of a guided batch in one run.</summary>
    unsafe void RunLabelled(int rows, ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> output)
    {
        int d = Dim;
        long[] xShape = [rows, d], tShape = [rows];
        var mem = OrtMemoryInfo.DefaultInstance;
        bool wide = classType == TensorElementType.Int64;
        long[]? l64 = wide ? System.Buffers.ArrayPool<long>.Shared.Rent(rows) : null;
        int[]? l32 = wide ? null : System.Buffers.ArrayPool<int>.Shared.Rent(rows);
        try
        {
            for (int r = 0; r < rows; r++)
            {
                long c = labels[r] == ClassLabels.Null ? NullClass : labels[r];
                if (wide) l64![r] = c; else l32![r] = (int)c;
            }
            fixed (float* px = x)
            fixed (float* pt = t)
            fixed (float* po = output)
            fixed (long* pl64 = l64)
            fixed (int* pl32 = l32)
            {
                using var xv = OrtValue.CreateTensorValueWithData(mem, TensorElementType.Float, xShape, (nint)px, (long)x.Length * 4);
                using var tv = OrtValue.CreateTensorValueWithData(mem, TensorElementType.Float, tShape, (nint)pt, (long)t.Length * 4);
                using var cv = wide
                    ? OrtValue.CreateTensorValueWithData(mem, TensorElementType.Int64, tShape, (nint)pl64, (long)rows * 8)
                    : OrtValue.CreateTensorValueWithData(mem, TensorElementType.Int32, tShape, (nint)pl32, (long)rows * 4);
                using var ov = OrtValue.CreateTensorValueWithData(mem, TensorElementType.Float, xShape, (nint)po, (long)output.Length * 4);
                using var ro = new RunOptions();
                try { session.Run(ro, ["x", "t", ClassInput], [xv, tv, cv], [outputName], [ov]); }
                catch (OnnxRuntimeException e) { throw new HostScoreException($"{Model.Name}: ONNX Runtime failed on a batch of {rows} rows: {e.Message}", e); }
            }
        }
        finally
        {
            if (l64 is not null) System.Buffers.ArrayPool<long>.Shared.Return(l64);
            if (l32 is not null) System.Buffers.ArrayPool<int>.Shared.Return(l32);
        }
    }

    public void Dispose() => session.Dispose();
}
