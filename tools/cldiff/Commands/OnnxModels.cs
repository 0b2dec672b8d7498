using ClDiffusion.Models;
using ClDiffusion.Onnx;

namespace ClDiffusion.Cli.Commands;

/// <summary>--model FILE.onnx: the ONNX score model, with --prediction / --convention over its metadata (docs/MODELS.md).</summary>
public static class OnnxModels
{
    public static IScoreModel Load(string path, string? prediction, string? convention)
    {
        var pred = prediction is null ? (Prediction?)null : HostScoreModel.ParsePrediction(prediction);
        var conv = convention is null ? null : TimeConvention.Parse(convention);
        // the session lives as long as the process: the CLI samples or scores once and exits
        return OnnxScoreModel.Load(path, pred, conv).Model;
    }
}
