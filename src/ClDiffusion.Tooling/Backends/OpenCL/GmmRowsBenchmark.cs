using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Tuning;
using ClDiffusion.Models;

namespace ClDiffusion.Tooling.OpenCL;

/// <summary>
/// The mixture score with a work group per row (cl/gmm_rows.cl), K = 8, forced at every d (GRD = 1) so that a candidate
/// is measured on the kernel it names; checked against the CPU backend's float64 score. Rows per call and the shared
/// time as in <see cref="GmmBenchmark"/>; a candidate the device cannot run (group or local memory too large) fails.
/// </summary>
public sealed class GmmRowsBenchmark : TuningBenchmark
{
    public override string Kernel => "gmm-rows";
    public override KernelSpace Space => KernelSpace.GmmRows;
    public override double Tolerance => 1e-3;
    public override string DefaultShapes => "2048x1024,8192x256";
    public override double Bytes(TuningShape s) => 2.0 * s.Rows * s.Dim * 4 + 2.0 * GmmBenchmark.Components * s.Dim * 4;

    public override OpenClOptions Options(IReadOnlyDictionary<string, int> c, OpenClOptions? baseOptions = null)
    {
        var o = base.Options(c, baseOptions);
        var extra = new Dictionary<string, string>(o.ExtraDefines ?? new Dictionary<string, string>()) { ["GRD"] = "1" };
        return o with { ExtraDefines = extra };
    }

    public override IReadOnlyDictionary<string, int> Defaults() => new Dictionary<string, int>
    {
        ["GRW"] = GmmRowsConfig.DefaultItemsPerRow, ["GRV"] = GmmRowsConfig.DefaultVectorWidth, ["GRR"] = GmmRowsConfig.DefaultRowsPerGroup,
    };

    public override TuningCase Prepare(OpenClBackend cl, CpuBackend cpu, TuningShape s, int seed)
    {
        var own = new List<IDisposable>();
        var (xc, xl) = Both(null, own, cpu, cl, s.Rows, s.Dim, Normals(s.Rows * s.Dim, seed));
        var model = GaussianMixture.Preset(s.Dim, GmmBenchmark.Components);
        var pc = cpu.Prepare(model); own.Add(pc);
        var pl = cl.PrepareCl(model); own.Add(pl);
        if (pl is not OpenClGaussianMixtureScore { Kernel: GmmKernel.Rows })
        {
            foreach (var d in own) d.Dispose();
            throw new ArgumentException($"the row kernel does not fit this device at d = {s.Dim} (work group or local memory too large)");
        }
        return GmmBenchmark.ScoreCase(cl, cpu, pc, pl, xc, xl, s, own);
    }
}
