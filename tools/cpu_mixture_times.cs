#:project ../src/ClDiffusion/ClDiffusion.csproj
#:property Configuration=Release
using System.Diagnostics;
// Run from the repository root: dotnet run tools/cpu_mixture_times.cs -- 64   (the argument is d)
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Models;
using ClDiffusion.Random;
// CPU backend mixture score: one shared time against a time per row (all distinct; and 4 distinct offsets), same run
int n = 65536, d = int.Parse(args.Length > 0 ? args[0] : "64"), K = 5;
var g = GaussianMixture.Preset(d, K, seed: 3);
var cpu = new CpuBackend();
using var p = cpu.Prepare(g);
var x = new float[n * d]; new RandomKey(1, 0, Purpose.Test).Normals(0, x);
using var xb = cpu.Allocate(n, d); using var sb = cpu.Allocate(n, d);
using var all = cpu.Allocate(n, 1); using var four = cpu.Allocate(4, 1);
cpu.Upload(xb, x);
cpu.Upload(all, Enumerable.Range(0, n).Select(i => (float)i / n).ToArray());
cpu.Upload(four, new[] { 0f, 0.25f, 0.5f, 0.75f });
double T(Action a) { a(); var t = new double[5]; for (int i = 0; i < 5; i++) { var sw = Stopwatch.StartNew(); a(); t[i] = sw.Elapsed.TotalSeconds; } Array.Sort(t); return t[2]; }
for (int round = 0; round < 3; round++)
{
    double shared = T(() => cpu.Score(p, xb, 1f, 0f, null, sb));
    double perRow = T(() => cpu.Score(p, xb, 1.5f, 1f, all, sb));
    double per4 = T(() => cpu.Score(p, xb, 1.5f, 1f, four, sb));
    Console.WriteLine($"d={d} K={K} rows={n}: shared time {n / shared / 1e6:F2} M rows/s, per-row times (all distinct) {n / perRow / 1e6:F2} M rows/s ({shared / perRow:F2}x), 4 distinct times {n / per4 / 1e6:F2} M rows/s ({shared / per4:F2}x)");
}
