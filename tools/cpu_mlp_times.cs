#:project ../src/ClDiffusion/ClDiffusion.csproj
#:project ../src/ClDiffusion.Tooling/ClDiffusion.Tooling.csproj
#:property Configuration=Release
#:property AllowUnsafeBlocks=true
using System.Diagnostics;
using System.Runtime.Intrinsics;
// Run from the repository root (-c Release: the #:property alone leaves the library unoptimised): dotnet run -c Release tools/cpu_mlp_times.cs -- models/checkerboard.safetensors [batch]
// Where the CPU backend's MLP forward spends its time: each phase alone on one thread over the whole batch
// (time features, each layer's GEMM, the SiLU epilogue), then the whole forward on 1 and all threads, and
// OpenBLAS's sgemm on the same GEMMs (one call per layer, all threads). Medians of 7 after a warm-up.
using ClDiffusion.Models.Mlp;
using ClDiffusion.Backends.Cpu;
var model = args[0].StartsWith("w") ? ClDiffusion.Tooling.OpenCL.MlpBench.Model(int.Parse(args[0][1..])) : MlpModel.Load(args[0]); // "w512": the mlpbench --widths network
int n = args.Length > 1 ? int.Parse(args[1]) : 4096, d = model.Dim, F = model.TimeFreqs.Length;
double T(Action a) { for (int i = 0; i < 3; i++) a(); var t = new double[7]; for (int i = 0; i < 7; i++) { var sw = Stopwatch.StartNew(); a(); t[i] = sw.Elapsed.TotalMilliseconds; } Array.Sort(t); return t[3]; }
var x = new float[n * d]; var ts = new float[n]; var sc = new float[n * d];
for (int i = 0; i < x.Length; i++) x[i] = (i % 17) * 0.1f - 0.8f;
for (int r = 0; r < n; r++) ts[r] = 0.01f + 7.99f * r / n;
var feat = new float[n * F * 2];
Console.WriteLine($"{args[0]}: batch {n}, layers {string.Join(", ", model.Layers.Select(l => $"{l.In}x{l.Out}"))}, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
Console.WriteLine($"time features (MathF sin/cos, 1 thread): {T(() => { for (int r = 0; r < n; r++) for (int i = 0; i < F; i++) { float a = ts[r] * model.TimeFreqs[i]; feat[r * 2 * F + i] = MathF.Sin(a); feat[r * 2 * F + F + i] = MathF.Cos(a); } }):F3} ms");
double gemmTotal = 0;
var blas = BlasLibrary.Default;
for (int l = 0; l < model.Layers.Count; l++)
{
    var L = model.Layers[l];
    var a = new float[n * L.In]; var b = new float[L.In * L.Out]; var c = new float[n * L.Out];
    for (int i = 0; i < a.Length; i++) a[i] = 0.5f - (i % 13) * 0.03f;
    for (int i = 0; i < b.Length; i++) b[i] = 0.25f - (i % 7) * 0.01f;
    double g = T(() => Sgemm.Multiply(a, b, c, n, L.In, L.Out, L.Bias));
    double s = T(() => { var v = c.AsSpan(); int i = 0; for (; i + 16 <= v.Length; i += 16) { var z = Vector512.Create<float>(v.Slice(i, 16)); (z / (Vector512<float>.One + Vector512.Exp(-z))).CopyTo(v.Slice(i, 16)); } });
    double bl = double.NaN, bl1 = double.NaN;
    if (blas != null) { bl1 = T(() => blas.Multiply(a, b, c, n, L.In, L.Out)); blas.SetThreads(Environment.ProcessorCount); bl = T(() => blas.Multiply(a, b, c, n, L.In, L.Out)); blas.SetThreads(1); }
    gemmTotal += g;
    double fl = 2.0 * n * L.In * L.Out / 1e6;
    Console.WriteLine($"layer {l} {L.In}x{L.Out}: managed GEMM 1 thread {g:F3} ms ({fl / g:F1} GFLOP/s), blas 1 thread {bl1:F3} ms ({fl / bl1:F1}), blas all threads {bl:F3} ms ({fl / bl:F1}); SiLU Vector512.Exp {s:F3} ms");
}
foreach (var mode in new[] { CpuGemm.Managed, CpuGemm.Auto, CpuGemm.Blas })
foreach (int th in new[] { 1, Environment.ProcessorCount })
{
    var sw0 = Stopwatch.StartNew();
    using var p = new MlpCpuScore(model, th, mode, blas);
    double prep = sw0.Elapsed.TotalMilliseconds;
    Console.WriteLine($"forward {mode,-7} {th} thr: {T(() => p.ScoreBatch(x, ts, sc)):F3} ms (construct {prep:F1} ms; {p.Engine})");
}
Console.WriteLine($"sum of managed GEMMs, 1 thread: {gemmTotal:F3} ms");
