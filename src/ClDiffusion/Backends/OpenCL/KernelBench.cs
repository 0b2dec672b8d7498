using System.Diagnostics;
using ClDiffusion.Models;
using ClDiffusion.Random;

namespace ClDiffusion.Backends.OpenCL;

/// <summary>One benchmark line: seconds per call, effective bandwidth, rows per second where that means something.</summary>
public sealed record KernelBenchResult(string Kernel, int Rows, int Dim, double SecondsPerCall, double GBPerSecond, double RowsPerSecond, string Note);

/// <summary>
/// Kernel throughput on one device, for `cldiff bench`: the exact mixture score (rows/s and GB/s), Lincomb (2 and 4
/// terms) and the fused Langevin step against a plain vectorised copy kernel measured in the same run (its GB/s is
/// the practical bandwidth roof; the note gives each kernel's fraction of it). Wall-clock over `reps` calls after a warm-up.
/// </summary>
public static class KernelBench
{
    public static IReadOnlyList<KernelBenchResult> Run(OpenClBackend b, int rows = 1 << 16, int dim = 64, int components = 8, int reps = 20)
    {
        if (rows < 1 || dim < 1 || components < 1 || reps < 1) throw new ArgumentException("bench sizes and repetitions must be positive");
        var results = new List<KernelBenchResult>();
        using var x = b.Allocate(rows, dim); using var y = b.Allocate(rows, dim); using var z = b.Allocate(rows, dim);
        using var w = b.Allocate(rows, dim); using var o = b.Allocate(rows, dim);
        b.Normal(x, new RandomKey(1, 0, Purpose.Test), 0); b.Normal(y, new RandomKey(2, 0, Purpose.Test), 0);
        b.Normal(z, new RandomKey(3, 0, Purpose.Test), 0); b.Normal(w, new RandomKey(4, 0, Purpose.Test), 0);
        double bytes = (double)rows * dim * 4;

        double Time(Action a)
        {
            a(); b.Finish();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) a();
            b.Finish();
            return sw.Elapsed.TotalSeconds / reps;
        }

        double copy = Time(() => b.CopyKernel(o, x));
        double copyGbs = 2 * bytes / copy / 1e9;
        results.Add(new("copy", rows, dim, copy, copyGbs, rows / copy, "bandwidth reference (read + write)"));
        KernelBenchResult Stream(string name, double s, double traffic) =>
            new(name, rows, dim, s, traffic / s / 1e9, rows / s, $"{traffic / s / 1e9 / copyGbs:P0} of copy");

        double l2 = Time(() => b.Lincomb(o, new Term[] { new(0.5f, x), new(2f, y) }));
        results.Add(Stream("lincomb-2", l2, 3 * bytes));
        double l4 = Time(() => b.Lincomb(o, new Term[] { new(0.5f, x), new(2f, y), new(-1f, z), new(0.25f, w) }));
        results.Add(Stream("lincomb-4", l4, 5 * bytes));
        var key = new RandomKey(5, 0, Purpose.LangevinNoise);
        double lv = Time(() => b.LangevinScan(x, y, z, 1, 1.4f, 0.1f, key, 0, null, o, w));
        results.Add(Stream("langevin", lv, 5 * bytes) with { Note = $"{5 * bytes / lv / 1e9 / copyGbs:P0} of copy, noise generated in-kernel" });

        var model = GaussianMixture.Preset(dim, components);
        using var p = b.Prepare(model);
        double sc = Time(() => b.Score(p, x, 0.5f, 0f, null, o));
        double paramBytes = 2.0 * components * dim * 4;
        results.Add(new("gmm-score", rows, dim, sc, (2 * bytes + paramBytes) / sc / 1e9, rows / sc, $"K = {components}; GB/s counts x in and score out once"));
        return results;
    }

    /// <summary>The table as text (one line per kernel).</summary>
    public static string Format(IEnumerable<KernelBenchResult> rs) =>
        string.Join("\n", new[] { $"{"kernel",-11} {"rows",8} {"d",5} {"ms/call",9} {"GB/s",8} {"Mrows/s",9}  note" }
            .Concat(rs.Select(r => $"{r.Kernel,-11} {r.Rows,8} {r.Dim,5} {r.SecondsPerCall * 1e3,9:F3} {r.GBPerSecond,8:F2} {r.RowsPerSecond / 1e6,9:F3}  {r.Note}")));
}
