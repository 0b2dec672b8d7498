using ClDiffusion.Models;
#if CLD_ONNX
using ClDiffusion.Onnx;
#endif

namespace ClDiffusion.Cli.Commands;

/// <summary>--model FILE.onnx: the ONNX score model, with --prediction / --convention over its metadata (docs/MODELS.md).</summary>
public static class OnnxModels
{
    /// <summary>The metadata key in which an image model states its pixels' data space ("pixel/127.5-1": -1..1).</summary>
    public const string InputKey = ClDiffusion.Metrics.ImagePixels.InputConventionKey;
    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IScoreModel, object> pixelRanges = new();

    /// <summary>
    /// The data-space values of a black and a white pixel of a model's samples: what an ONNX model's metadata states
    /// (<see cref="InputKey"/>), else null (the pictures and the image metric then take the data sets' own ranges:
    /// 0..16 for the digits, 0..255 for Fashion-MNIST, as the shipped MLPs were trained on).
    /// </summary>
    public static (double Black, double White)? PixelRange(IScoreModel model) =>
        pixelRanges.TryGetValue(model, out var r) ? ((double, double))r : null;

    public static IScoreModel Load(string path, string? prediction, string? convention)
    {
        var pred = prediction is null ? (Prediction?)null : HostScoreModel.ParsePrediction(prediction);
        var conv = convention is null ? null : TimeConvention.Parse(convention);
#if CLD_ONNX
        // CUDA where ONNX Runtime and the machine have it, else the CPU; the session lives as long as the process
        // (the CLI samples or scores once and exits)
        var onnx = OnnxScoreModel.Load(path, pred, conv, OnnxProvider.Auto);
        if (onnx.Metadata.TryGetValue(InputKey, out var input))
        {
            try { pixelRanges.AddOrUpdate(onnx.Model, ClDiffusion.Metrics.ImagePixels.ParseInputConvention(input)); }
            catch (ArgumentException e) { throw new InvalidDataException($"{path}: metadata {InputKey}: {e.Message}"); }
        }
        return onnx.Model;
#else
        throw new NotSupportedException($"{path}: this cldiff was built without ONNX support (-p:CldOnnx=false)");
#endif
    }
}
