using System.Runtime.InteropServices;
using ClDiffusion.Models;

namespace ClDiffusion.Native;

/// <summary>
/// Score models whose values come from the host (native/include/cldiffusion.h, "Models computed by the host"):
/// cld_model_from_callback wraps a C function into a <see cref="HostScoreModel"/>. A failing callback becomes
/// CLD_ERR_CALLBACK with a message naming the model.
/// </summary>
internal static unsafe class ModelExports
{
    /// <summary>CLD_ERR_CALLBACK: the host's score callback returned non-zero or a non-finite value.</summary>
    internal const Status CallbackFailed = (Status)11;
    /// <summary>Largest dimension accepted (one row must fit the callback's int32 sizes many times over).</summary>
    const uint MaxDim = 1 << 24;
    static int created;

    /// <summary>The C function and its user_data; called with whole batches of rows, never concurrently (HostScoreModel serialises).</summary>
    sealed class Callback(nint function, nint userData, string name, int dim)
    {
        public void Invoke(int rows, ReadOnlySpan<float> x, ReadOnlySpan<float> t, Span<float> output)
        {
            var fn = (delegate* unmanaged<void*, int, int, float*, float*, float*, int>)function;
            int rc;
            Callbacks.Enter();   // the re-entrancy rules of progress callbacks hold here too (cldiffusion.h, Callbacks)
            try
            {
                fixed (float* px = x)
                fixed (float* pt = t)
                fixed (float* po = output)
                    rc = fn((void*)userData, rows, dim, px, pt, po);
            }
            finally { Callbacks.Leave(); }
            if (rc != 0)
                throw new CldException(CallbackFailed, $"score callback of model '{name}' (d = {dim}) returned {rc} for a batch of {rows} rows");
            if (HostScoreModel.FirstNonFinite(output) is var bad and >= 0)
                throw new CldException(CallbackFailed, $"score callback of model '{name}' (d = {dim}) wrote {output[bad]} at row {bad / dim}, column {bad % dim} (forward time {t[bad / dim]}): outputs must be finite");
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "cld_model_from_callback")]
    public static int CldModelFromCallback(nint engineHandle, uint dim, int prediction,
        delegate* unmanaged<void*, int, int, float*, float*, float*, int> callback, void* userData, nint* outModel)
    {
        try
        {
            if (outModel is null) throw new CldException(Status.InvalidArgument, "out (cld_model**) is NULL");
            *outModel = 0;
            var engine = Handles.Get<Engine>(engineHandle, HandleKind.Engine);
            if (callback == null) throw new CldException(Status.InvalidArgument, "callback is NULL");
            if (dim < 1 || dim > MaxDim) throw new CldException(Status.InvalidArgument, $"dim must be in 1..{MaxDim}, got {dim}");
            if (prediction is < 0 or > (int)Prediction.V)
                throw new CldException(Status.InvalidArgument, $"prediction must be CLD_PREDICT_SCORE, _EPS, _X0 or _V (0..3), got {prediction}");
            string name = $"C callback #{Interlocked.Increment(ref created)}";
            var fn = new Callback((nint)callback, (nint)userData, name, (int)dim);
            var score = new HostScoreModel((int)dim, (Prediction)prediction, fn.Invoke, name);
            engine.Backend.Prepare(score).Dispose();
            var model = new Model { Engine = engine, Score = score };
            engine.AddModel(model);
            try { model.Handle = Handles.Add(model, HandleKind.Model); }
            catch { engine.CloseModel(model); throw; }
            *outModel = model.Handle;
            Errors.Clear();
            return (int)Status.Ok;
        }
        catch (Exception e) { return (int)Errors.From(e); }
    }
}
