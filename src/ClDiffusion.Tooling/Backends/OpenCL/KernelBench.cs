using System.Diagnostics;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Backends;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Backends.OpenCL.Tuning;

namespace ClDiffusion.Tooling.OpenCL;

/// <summary>One benchmark line: seconds per call, effective bandwidth, rows per second where that means something.</summary>
public sealed record KernelBenchResult(string Kernel, int Rows, int Dim, double SecondsPerCall, double GBPerSecond, double RowsPerSecond, string Note);

/// <summary>
/// Kernel throughput on one device, for `cldiff bench`: the exact mixture score (rows/s and GB/s; the backend's choice
/// and each kernel forced), Lincomb (2 and 4 terms), the fused Langevin step and the randomized-midpoint steps against a
/// copy reference measured in the same run: copy_roof (cl/bandwidth.cl, each float read once and written once in
/// aligned vectors), the fastest of a few vector widths, is the practical bandwidth roof, and each note gives a
/// kernel's fraction of it. Times are medians of `reps` calls (each waited for) after a warm-up call.
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

        // median of `reps` calls, each waited for (a call includes its launch and the wait), after one warm-up call
        double Time(Action a)
        {
            a(); b.Finish();
            var t = new double[reps];
            for (int i = 0; i < reps; i++)
            {
                var sw = Stopwatch.StartNew();
                a(); b.Finish();
                t[i] = sw.Elapsed.TotalSeconds;
            }
            Array.Sort(t);
            return t[reps / 2];
        }

        // the roof: copy_roof (cl/bandwidth.cl) at a few vector widths and vectors per item, the fastest taken
        double copy = double.PositiveInfinity; string copyConfig = "";
        foreach (var (cw, cpi) in CopyReference.Variants)
        {
            using var cr = new CopyReference(b, cw, cpi);
            double t = Time(() => cr.Enqueue((OpenClBuffer)o, (OpenClBuffer)x));
            if (t < copy) { copy = t; copyConfig = cr.Describe; }
        }
        double copyGbs = 2 * bytes / copy / 1e9;
        results.Add(new("copy", rows, dim, copy, copyGbs, rows / copy, $"bandwidth reference: read once + write once, fastest of {CopyReference.Variants.Length} variants ({copyConfig})"));
        KernelBenchResult Stream(string name, double s, double traffic) =>
            new(name, rows, dim, s, traffic / s / 1e9, rows / s, $"{traffic / s / 1e9 / copyGbs:P0} of copy");
        var copyVec = Stream("copy-vec", Time(() => b.CopyKernel(o, x)), 2 * bytes);
        results.Add(copyVec with { Note = copyVec.Note + "; copy_vec (cl/sampling.cl, the streaming kernels' VW and WPT), the reference before issue 18" });

        double l2 = Time(() => b.Lincomb(o, new Term[] { new(0.5f, x), new(2f, y) }));
        results.Add(Stream("lincomb-2", l2, 3 * bytes));
        double l4 = Time(() => b.Lincomb(o, new Term[] { new(0.5f, x), new(2f, y), new(-1f, z), new(0.25f, w) }));
        results.Add(Stream("lincomb-4", l4, 5 * bytes));
        var key = new RandomKey(5, 0, Purpose.LangevinNoise);
        double lv = Time(() => b.LangevinScan(x, y, z, 1, 1.4f, 0.1f, key, 0, null, o, w));
        results.Add(Stream("langevin", lv, 5 * bytes) with { Note = $"{5 * bytes / lv / 1e9 / copyGbs:P0} of copy, noise generated in-kernel" });

        // the noise alone (2 d normals per row, as the Langevin step draws): the practical roof of the fused step
        using var n2 = b.Allocate(rows, 2 * dim);
        double nz = Time(() => b.Normal(n2, key, 0));
        results.Add(new("normals-2d", rows, dim, nz, 2 * bytes / nz / 1e9, rows / nz, "Philox + Box-Muller only (the Langevin step's noise), writes 2 d floats per row"));
        if (dim % 4 == 0)
        {
            // the per-element kernel (the generic path, used when d % 4 != 0) on the same data, for comparison
            var c = LangevinCoefficients.ForStep(1.4f, 0.1f);
            var k = b.K("langevin_scan").Set(0, ((OpenClBuffer)x).Mem).Set(1, ((OpenClBuffer)y).Mem).Set(2, ((OpenClBuffer)z).Mem).Set(3, ((OpenClBuffer)x).Mem)
                .Set(4, ((OpenClBuffer)o).Mem).Set(5, ((OpenClBuffer)w).Mem).Set(6, 6).Set(7, 1).Set(8, rows).Set(9, dim)
                .Set(10, c.Rho).Set(11, c.VelToPos).Set(12, c.DriftPos).Set(13, c.DriftVel).Set(14, c.L11).Set(15, c.L21).Set(16, c.L22)
                .Set(17, key.Key0).Set(18, key.Key1).Set(19, key.Step).Set(20, (uint)key.Purpose).Set(21, 0u);
            double lg = Time(() => b.Launch(k, (long)rows * dim));
            results.Add(Stream("langevin-el", lg, 5 * bytes) with { Note = "per-element kernel (generic path), same data" });
        }
        const int R = 4;
        int rr = Math.Max(rows / R, 1);
        using var alpha = b.Allocate(rr, R); using var xr = b.Allocate(rr, dim); using var sr = b.Allocate(rr, dim);
        using var xi = b.Allocate(rr * R, dim); using var si = b.Allocate(rr * R, dim);
        b.DrawAlphas(alpha, new RandomKey(6, 0, Purpose.Alpha), 0, AlphaLaw.Stratified, 0.1f);
        b.Normal(xr, new RandomKey(7, 0, Purpose.Test), 0); b.Normal(sr, new RandomKey(8, 0, Purpose.Test), 0); b.Normal(si, new RandomKey(9, 0, Purpose.Test), 0);
        double rowBytes = (double)dim * 4;
        double mp = Time(() => b.MidpointPredict(xi, xr, sr, alpha, 0.1f));
        results.Add(Stream("mid-predict", mp, rr * R * rowBytes + 2 * rr * rowBytes) with { Rows = rr * R, Note = $"R = {R}; {(rr * R * rowBytes + 2 * rr * rowBytes) / mp / 1e9 / copyGbs:P0} of copy" });
        double ps = Time(() => b.PicardSums(xi, xr, si, alpha, 0.1f));
        results.Add(Stream("picard-sums", ps, 2 * rr * R * rowBytes + rr * rowBytes) with { Rows = rr * R, Note = $"R = {R}, counts each score row once; {(2 * rr * R * rowBytes + rr * rowBytes) / ps / 1e9 / copyGbs:P0} of copy" });
        double mf = Time(() => b.MidpointFinal(xr, xr, si, alpha, 0.1f));
        results.Add(Stream("mid-final", mf, rr * R * rowBytes + 2 * rr * rowBytes) with { Rows = rr, Note = $"R = {R}; {(rr * R * rowBytes + 2 * rr * rowBytes) / mf / 1e9 / copyGbs:P0} of copy" });

        var model = GaussianMixture.Preset(dim, components);
        double gmmBytes = 2 * bytes + 2.0 * components * dim * 4;
        KernelBenchResult Gmm(string name, double s, string note) =>
            new(name, rows, dim, s, gmmBytes / s / 1e9, rows / s, $"{gmmBytes / s / 1e9 / copyGbs:P0} of copy; {note}");
        using (var p = b.Prepare(model))
        {
            double sc = Time(() => b.Score(p, x, 0.5f, 0f, null, o));
            results.Add(Gmm("gmm-score", sc, $"K = {components}, the backend's choice ({((OpenClGaussianMixtureScore)p).Kernel}); GB/s counts x in and score out once"));
        }
        // each kernel forced on the same data where it can run: work group per row, two-pass per row, one pass per row
        foreach (var (name, kind, note) in new[] { ("gmm-rows", GmmKernel.Rows, "work group per row (cl/gmm_rows.cl)"), ("gmm-vec", GmmKernel.PerRow, "two-pass, one work item per row"), ("gmm-1pass", GmmKernel.OnePass, "one-pass per-row kernel (fallback path)") })
        {
            OpenClGaussianMixtureScore f;
            try { f = new OpenClGaussianMixtureScore(b, model, kind); }
            catch (ArgumentException) { continue; }   // not applicable here (d not a multiple of GVW, or the group does not fit)
            using (f) results.Add(Gmm(name, Time(() => b.Score(f, x, 0.5f, 0f, null, o)), note + ", same data"));
        }
        results.AddRange(GmmPaths(b, x, model, rows, dim, reps, Gmm));
        return results;
    }

    /// <summary>
    /// Issue 18: the mixture score's reciprocal and log paths on the same data, each on a backend of its own defines,
    /// timed in interleaved rounds (one call of each per round, medians over the rounds), so that a shared machine's load
    /// falls on all of them alike: the defaults (a table of inverse variances), GIT = 0 (divides, as before the tables),
    /// GAC = 1 (pass 1 as one chain of adds), the row kernel with and without the table, and a time per row (offsets for
    /// every row, as the randomized-midpoint samplers pass: never a table) with the defaults, GRCP = 1 (native_recip +
    /// Newton) and GLC = 1 (a log per factor in gmm_logdet, as before).
    /// </summary>
    static IEnumerable<KernelBenchResult> GmmPaths(OpenClBackend b, IDeviceBuffer x, GaussianMixture model, int rows, int dim, int reps,
                                                   Func<string, double, string, KernelBenchResult> row)
    {
        var xHost = new float[(long)rows * dim];
        b.Download(x, xHost);
        var offHost = Enumerable.Range(0, rows).Select(r => (r * 0.618034f) % 1f).ToArray();   // t_r = 0.9 - 0.8 off_r in (0.1, 0.9]
        var variants = new (string Name, GmmKernel Kind, string? Define, string Value, bool TimePerRow, string Note)[]
        {
            ("p-vec", GmmKernel.PerRow, null, "", false, "two-pass per row, defaults (table of inverse variances)"),
            ("p-vec-div", GmmKernel.PerRow, "GIT", "0", false, "two-pass per row, GIT = 0 (divides, as before issue 18's tables)"),
            ("p-vec-ac1", GmmKernel.PerRow, "GAC", "1", false, "two-pass per row, table, GAC = 1 (one accumulator per component in pass 1)"),
            ("p-rows", GmmKernel.Rows, null, "", false, "work group per row, defaults (table)"),
            ("p-rows-div", GmmKernel.Rows, "GIT", "0", false, "work group per row, GIT = 0 (divides)"),
            ("p-rt", GmmKernel.PerRow, null, "", true, "two-pass per row, a time per row (no table: divides), defaults"),
            ("p-rt-rcp", GmmKernel.PerRow, "GRCP", "1", true, "two-pass per row, a time per row, GRCP = 1 (native_recip + Newton)"),
            ("p-rt-log1", GmmKernel.PerRow, "GLC", "1", true, "two-pass per row, a time per row, GLC = 1 (a log per factor in gmm_logdet, as before)"),
        };
        var own = new List<IDisposable>();
        var runs = new List<(string Name, string Note, Action Once)>();
        try
        {
            foreach (var v in variants)
            {
                var defs = new Dictionary<string, string>(b.Options.ExtraDefines ?? new Dictionary<string, string>());
                if (v.Define is not null) defs[v.Define] = v.Value;
                var vb = new OpenClBackend(b.Device, b.Options with { ExtraDefines = defs });
                own.Add(vb);
                OpenClGaussianMixtureScore f;
                try { f = new OpenClGaussianMixtureScore(vb, model, v.Kind); }
                catch (ArgumentException) { continue; }   // not applicable here
                own.Add(f);
                var vx = vb.Allocate(rows, dim); var vo = vb.Allocate(rows, dim); var voff = vb.Allocate(rows, 1);
                own.Add(vx); own.Add(vo); own.Add(voff);
                vb.Upload(vx, xHost); vb.Upload(voff, offHost);
                var of = v.TimePerRow ? voff : null;
                bool tpr = v.TimePerRow;
                void Once() { vb.Score(f, vx, tpr ? 0.9f : 0.5f, tpr ? 0.8f : 0f, of, vo); vb.Finish(); }
                Once();   // warm-up (and the build)
                runs.Add((v.Name, v.Note, Once));
            }
            var t = runs.Select(_ => new double[reps]).ToArray();
            for (int i = 0; i < reps; i++)
                for (int j = 0; j < runs.Count; j++) { var sw = Stopwatch.StartNew(); runs[j].Once(); t[j][i] = sw.Elapsed.TotalSeconds; }
            var list = new List<KernelBenchResult>();
            for (int j = 0; j < runs.Count; j++) { Array.Sort(t[j]); list.Add(row(runs[j].Name, t[j][reps / 2], runs[j].Note + ", same data, interleaved")); }
            return list;
        }
        finally { for (int i = own.Count - 1; i >= 0; i--) own[i].Dispose(); }
    }

    /// <summary>The table as text (one line per kernel).</summary>
    public static string Format(IEnumerable<KernelBenchResult> rs) =>
        string.Join("\n", new[] { $"{"kernel",-11} {"rows",8} {"d",5} {"ms/call",9} {"GB/s",8} {"Mrows/s",9}  note" }
            .Concat(rs.Select(r => $"{r.Kernel,-11} {r.Rows,8} {r.Dim,5} {r.SecondsPerCall * 1e3,9:F3} {r.GBPerSecond,8:F2} {r.RowsPerSecond / 1e6,9:F3}  {r.Note}")));
}
