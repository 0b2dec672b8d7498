using System.Diagnostics;
using System.Globalization;
using System.Text;
using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Onnx;
using ClDiffusion.Tests.Onnx;
using NUnit.Framework;

namespace ClDiffusion.Tests.Models;

/// <summary>
/// Cost of one score evaluation of host and ONNX models against the built-in models, on each backend, in the same
/// run (docs/MODELS.md "Cost per evaluation"). A benchmark, run by name:
///   dotnet test tests/ClDiffusion.Tests -c Release --filter "Name=HostAndOnnxScoreCost"
/// It prints a markdown table and writes it to out/model-cost.md.
/// </summary>
[Explicit("benchmark: run by name"), NonParallelizable]
public class ModelCostBench
{
    [Test]
    public void HostAndOnnxScoreCost()
    {
        var mix = GaussianMixture.FromJson("{\"weights\": [0.3, 0.7], \"means\": [[-2.0, 0.0], [1.5, 1.0]], \"variances\": [[0.25, 0.5], [0.4, 0.2]]}");
        var mlp = MlpModel.Load(OnnxModelTests.RepoFile("models/checkerboard.safetensors"));
        using var onnxMlp = OnnxScoreModel.Load(OnnxModelTests.Fixture("checkerboard.onnx"));
        var nothing = new HostScoreModel(2, Prediction.Score, (rows, x, t, o) => o.Clear(), "empty callback");
        var models = new (string name, IScoreModel model, string baseline)[]
        {
            ("mixture K=2 (built-in)", mix, ""),
            ("mixture K=2, .NET callback", HostScoreTests.ExactCallback(mix), "mixture K=2 (built-in)"),
            ("empty callback (transfers only)", nothing, "mixture K=2 (built-in)"),
            ("checkerboard MLP (built-in)", mlp, ""),
            ("checkerboard MLP, ONNX (CPU EP)", onnxMlp.Model, "checkerboard MLP (built-in)"),
        };
        var backends = new List<IBackend> { new CpuBackend() };
        try { backends.Add(new OpenClBackend(BackendFactory.Resolve("opencl", out _)!)); }
        catch (Exception e) when (e is ArgumentException or OpenClException) { TestContext.Out.WriteLine($"no OpenCL device: {e.Message}"); }
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"| backend | model | rows | ms per evaluation (median of 21, models interleaved) | vs built-in |");
        table.AppendLine("|---|---|---:|---:|---:|");
        try
        {
            foreach (var b in backends)
                foreach (int rows in new[] { 1024, 16384 })
                {
                    var medians = Medians(b, models.Select(m => m.model).ToArray(), rows);
                    var byName = models.Select((m, i) => (m.name, ms: medians[i])).ToDictionary(p => p.name, p => p.ms);
                    foreach (var (name, _, baseline) in models)
                    {
                        double ms = byName[name];
                        string ratio = baseline == "" ? "1" : (ms / byName[baseline]).ToString("0.00", CultureInfo.InvariantCulture) + "x";
                        table.AppendLine(CultureInfo.InvariantCulture, $"| {b.DeviceName} | {name} | {rows} | {ms:0.000} | {ratio} |");
                    }
                }
        }
        finally { foreach (var b in backends) b.Dispose(); }
        TestContext.Out.WriteLine(table.ToString());
        var outDir = Path.Combine(Path.GetDirectoryName(OnnxModelTests.RepoFile("models/checkerboard.safetensors"))!, "..", "out");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "model-cost.md"), $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores\n\n{table}");
    }

    /// <summary>
    /// Median milliseconds of one evaluation of each model, the models taking turns in every round so that they
    /// see the same machine load (the 2-core machine is shared).
    /// </summary>
    static double[] Medians(IBackend b, IScoreModel[] models, int rows)
    {
        const int Rounds = 21;
        var prepared = models.Select(b.Prepare).ToArray();
        var bufs = models.Select(m => (x: b.Allocate(rows, m.Dim), s: b.Allocate(rows, m.Dim))).ToArray();
        try
        {
            var r = new System.Random(1);
            for (int i = 0; i < models.Length; i++)
            {
                b.Upload(bufs[i].x, Enumerable.Range(0, rows * models[i].Dim).Select(_ => (float)(r.NextDouble() * 4 - 2)).ToArray());
                for (int w = 0; w < 3; w++) b.Score(prepared[i], bufs[i].x, 0.7f, 0, null, bufs[i].s);   // warm-up: kernels compiled, pools filled
            }
            b.Finish();
            var times = new double[models.Length][];
            for (int i = 0; i < models.Length; i++) times[i] = new double[Rounds];
            for (int round = 0; round < Rounds; round++)
                for (int i = 0; i < models.Length; i++)
                {
                    var sw = Stopwatch.StartNew();
                    b.Score(prepared[i], bufs[i].x, 0.7f, 0, null, bufs[i].s);
                    b.Finish();
                    times[i][round] = sw.Elapsed.TotalMilliseconds;
                }
            return times.Select(t => { Array.Sort(t); return t[Rounds / 2]; }).ToArray();
        }
        finally
        {
            foreach (var (x, s) in bufs) { x.Dispose(); s.Dispose(); }
            foreach (var p in prepared) p.Dispose();
        }
    }
}
