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
        var mix = HostScoreTests.Mix;
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
        // the CPU backend with one thread too: on a loaded machine the threaded rows wait on each other
        var backends = new List<IBackend> { new CpuBackend(1), new CpuBackend() };
        try { backends.Add(new OpenClBackend(BackendFactory.Resolve("opencl", out _)!)); }
        catch (Exception e) when (e is ArgumentException or OpenClException) { TestContext.Out.WriteLine($"no OpenCL device: {e.Message}"); }
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"| backend | model | rows | wall ms per evaluation (fastest of 21) | vs built-in | CPU ms, all threads (median) | vs built-in |");
        table.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        try
        {
            foreach (var b in backends)
                foreach (int rows in new[] { 1024, 16384 })
                {
                    var costs = Costs(b, models.Select(m => m.model).ToArray(), rows);
                    var byName = models.Select((m, i) => (m.name, c: costs[i])).ToDictionary(p => p.name, p => p.c);
                    string Ratio(double v, double baseline) => (v / baseline).ToString("0.00", CultureInfo.InvariantCulture) + "x";
                    foreach (var (name, _, baseline) in models)
                    {
                        var (wall, cpu) = byName[name];
                        string rw = baseline == "" ? "1" : Ratio(wall, byName[baseline].Wall), rc = baseline == "" ? "1" : Ratio(cpu, byName[baseline].Cpu);
                        table.AppendLine(CultureInfo.InvariantCulture, $"| {b.DeviceName} | {name} | {rows} | {wall:0.000} | {rw} | {cpu:0.000} | {rc} |");
                    }
                }
        }
        finally { foreach (var b in backends) b.Dispose(); }
        TestContext.Out.WriteLine(table.ToString());
        var outDir = Path.Combine(Docs.DocExampleTests.RepoRoot(), "out");
        Directory.CreateDirectory(outDir);
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";
        File.WriteAllText(Path.Combine(outDir, "model-cost.md"), $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {load}\n\n{table}");
    }

    /// <summary>
    /// Cost of one evaluation of each model, the models taking turns in every round so that they see the same machine
    /// load (the 2-core machine is shared by many builds): the fastest wall time (the least disturbed round) and the
    /// median process CPU time over all threads (the work done, whatever the waiting).
    /// </summary>
    static (double Wall, double Cpu)[] Costs(IBackend b, IScoreModel[] models, int rows)
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
            var wall = new double[models.Length][]; var cpu = new double[models.Length][];
            for (int i = 0; i < models.Length; i++) { wall[i] = new double[Rounds]; cpu[i] = new double[Rounds]; }
            using var me = Process.GetCurrentProcess();
            for (int round = 0; round < Rounds; round++)
                for (int i = 0; i < models.Length; i++)
                {
                    me.Refresh();
                    var cpu0 = me.TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    b.Score(prepared[i], bufs[i].x, 0.7f, 0, null, bufs[i].s);
                    b.Finish();
                    wall[i][round] = sw.Elapsed.TotalMilliseconds;
                    me.Refresh();
                    cpu[i][round] = (me.TotalProcessorTime - cpu0).TotalMilliseconds;
                }
            return Enumerable.Range(0, models.Length).Select(i => { Array.Sort(cpu[i]); return (wall[i].Min(), cpu[i][Rounds / 2]); }).ToArray();
        }
        finally
        {
            foreach (var (x, s) in bufs) { x.Dispose(); s.Dispose(); }
            foreach (var p in prepared) p.Dispose();
        }
    }
}
