using ClDiffusion.Models;
#if CLD_ONNX
using ClDiffusion.Onnx;
#endif

namespace ClDiffusion.Cli.Commands;

/// <summary>--model FILE.onnx: the ONNX score model, with --prediction / --convention over its metadata (docs/MODELS.md).</summary>
public static class OnnxModels
{
    public static IScoreModel Load(string path, string? prediction, string? convention)
    {
        var pred = prediction is null ? (Prediction?)null : HostScoreModel.ParsePrediction(prediction);
        var conv = convention is null ? null : TimeConvention.Parse(convention);
#if CLD_ONNX
        // CUDA where ONNX Runtime and the machine have it, else the CPU; the session lives as long as the process
        // (the CLI samples or scores once and exits)
        return OnnxScoreModel.Load(path, pred, conv, OnnxProvider.Auto).Model;
#else
        throw new NotSupportedException($"{path}: this cldiff was built without ONNX support (-p:CldOnnx=false)");
#endif
    }
}
