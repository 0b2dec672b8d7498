using System.Diagnostics;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Backends.OpenCL.Tuning;

namespace ClDiffusion.Tooling.OpenCL;

/// <summary>One benchmark line: a width x batch MLP forward (score) on the OpenCL device and on the managed CPU path.</summary>
public sealed record MlpBenchResult(int Width, int Batch, double ClMs, double ClGflops, double CpuMs, double CpuGflops, string Config);

/// <summary>
/// MLP score throughput for `cldiff bench`: the benchmark network is d = 2, F = 16 time frequencies, depth 3
/// (Linear(34, w) SiLU, Linear(w, w) SiLU, Linear(w, w) SiLU, Linear(w, 2); the shape of the shipped checkerboard
/// model), eps prediction, every row with its own time. FLOPs counted: 2 * rows * in * out per layer (bias, SiLU,
/// time features and the score conversion are not counted). OpenCL time is wall clock over enqueue + finish of
/// `reps` calls after a warm-up (median of per-call times); the CPU path is <see cref="MlpCpuScore"/> (managed
/// SGEMM, all cores) in the same run. tools/gpu/torch_mlp_bench.py times the same shapes with PyTorch.
/// </summary>
public static class MlpBench
{
    public const int Dim = 2, Frequencies = 16, Depth = 3;

    /// <summary>The benchmark network of width w (deterministic weights, torch's default init scale).</summary>
    public static MlpModel Model(int width, int dim = Dim, int frequencies = Frequencies, int depth = Depth)
    {
        var layers = new List<MlpLayer>();
        int inW = dim + 2 * frequencies;
        for (int l = 0; l <= depth; l++)
        {
            int o = l == depth ? dim : width;
            var key = new RandomKey(17, (uint)l, Purpose.Test);
            var w = new float[o * inW]; var b = new float[o];
            float bound = 1 / MathF.Sqrt(inW);
            for (int i = 0; i < w.Length; i++) w[i] = (2 * key.Uniform(i / 1024, i % 1024) - 1) * bound;
            for (int i = 0; i < b.Length; i++) b[i] = (2 * key.WithStep(1).Uniform(0, i) - 1) * bound;
            layers.Add(new MlpLayer(inW, o, w, b));
            inW = o;
        }
        var freqs = Enumerable.Range(0, frequencies).Select(i => (float)(0.1 * Math.Pow(500, i / Math.Max(frequencies - 1.0, 1)))).ToArray();
        return new MlpModel(layers, freqs, new float[dim], Enumerable.Repeat(1f, dim).ToArray(), MlpPrediction.Eps);
    }

    public static double Flops(MlpModel m, int rows) => m.Layers.Sum(l => 2.0 * rows * l.In * l.Out);

    public static IReadOnlyList<MlpBenchResult> Run(OpenClBackend b, IEnumerable<int> widths, IEnumerable<int> batches,
        int reps = 5, bool cpu = true, MlpKernelConfig? config = null)
    {
        if (reps < 1) throw new ArgumentException("repetitions must be positive");
        var results = new List<MlpBenchResult>();
        foreach (int w in widths)
        {
            var model = Model(w);
            using var prepared = new OpenClMlpScore(b, model, config);
            using var cpuScore = new MlpCpuScore(model);
            foreach (int n in batches)
            {
                if (w < 1 || n < 1) throw new ArgumentException("bench widths and batches must be positive");
                var key = new RandomKey(3, 0, Purpose.Test);
                var xs = new float[n * Dim]; key.Normals(0, xs);
                var ts = new float[n];
                for (int r = 0; r < n; r++) ts[r] = 0.01f + 7.99f * r / n;
                using var x = b.Allocate(n, Dim); using var s = b.Allocate(n, Dim); using var off = b.Allocate(n, 1);
                b.Upload(x, xs);
                var offs = new float[n];
                for (int r = 0; r < n; r++) offs[r] = -ts[r]; // t_r = 0 - 1 * off[r]
                b.Upload(off, offs);
                double clMs = Median(reps, () => { b.Score(prepared, x, 0f, 1f, off, s); b.Finish(); });
                double cpuMs = double.NaN;
                if (cpu)
                {
                    var sc = new float[n * Dim];
                    cpuMs = Median(Math.Max(1, Math.Min(reps, 3)), () => cpuScore.ScoreBatch(xs, ts, sc));
                }
                double f = Flops(model, n);
                results.Add(new(w, n, clMs, f / clMs / 1e6, cpuMs, f / cpuMs / 1e6, prepared.Config.ToString()));
            }
        }
        return results;
    }

    static double Median(int reps, Action a)
    {
        a(); // warm-up (compilation, allocation)
        var t = new double[reps];
        for (int i = 0; i < reps; i++) { var sw = Stopwatch.StartNew(); a(); t[i] = sw.Elapsed.TotalMilliseconds; }
        Array.Sort(t);
        return reps % 2 == 1 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    }

    /// <summary>The table as text (the same columns as tools/gpu/torch_mlp_bench.py).</summary>
    public static string Format(IEnumerable<MlpBenchResult> rs) =>
        string.Join("\n", new[] { $"{"width",6} {"batch",7} {"ms",10} {"GFLOP/s",9} {"cpu ms",10} {"cpu GFLOP/s",11}" }
            .Concat(rs.Select(r => $"{r.Width,6} {r.Batch,7} {r.ClMs,10:F3} {r.ClGflops,9:F1} {r.CpuMs,10:F3} {r.CpuGflops,11:F1}")));
}
