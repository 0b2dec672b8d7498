using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Backends.OpenCL.Tuning;

namespace ClDiffusion.Tooling.OpenCL;

/// <summary>
/// The MLP score (<see cref="MlpBench.Model"/> of width = the shape's D, batch = its rows, per-row times) with a candidate
/// tile configuration, checked against <see cref="MlpCpuScore"/> (CpuBackend.Prepare); the rate is GFLOP/s
/// (<see cref="MlpBench.Flops"/>). Shape "ROWSxW": W is the hidden width (the database class is by width).
/// </summary>
public sealed class MlpBenchmark : TuningBenchmark
{
    public override string Kernel => MlpTuning.Family;
    public override KernelSpace Space => KernelSpace.Mlp;
    public override double Tolerance => 2e-4;
    public override string RateUnit => "GFLOP/s";
    public override string DefaultShapes => "4096x256,4096x1024";
    /// <summary>FLOPs of one call (the rate column is GFLOP/s).</summary>
    public override double Bytes(TuningShape s)
    {
        int inW = MlpBench.Dim + 2 * MlpBench.Frequencies, w = s.Dim;
        return 2.0 * s.Rows * (inW * (double)w + (MlpBench.Depth - 1) * (double)w * w + w * (double)MlpBench.Dim);
    }
    /// <summary>The GPU default tiles (without a device).</summary>
    public override IReadOnlyDictionary<string, int> Defaults() => MlpTuning.ToParameters(OpenClMlp.DefaultConfig ?? MlpKernelConfig.Gpu);
    /// <summary>The engine's untuned tiles on this device (<see cref="MlpKernelConfig.For"/>): the anneal start and the comparison baseline.</summary>
    public override IReadOnlyDictionary<string, int> Defaults(ClDevice device) => MlpTuning.ToParameters(OpenClMlp.DefaultConfig ?? MlpKernelConfig.For(device));
    /// <summary>The tiles are not backend options: the candidate backend is the plain one (its sampling program is shared by all candidates).</summary>
    public override OpenClOptions Options(IReadOnlyDictionary<string, int> c, OpenClOptions? baseOptions = null) =>
        (baseOptions ?? new OpenClOptions()) with { UseTuning = false };

    public override TuningCase Prepare(OpenClBackend cl, CpuBackend cpu, TuningShape s, int seed) => Prepare(cl, cpu, s, seed, Defaults());

    public override TuningCase Prepare(OpenClBackend cl, CpuBackend cpu, TuningShape s, int seed, IReadOnlyDictionary<string, int> candidate)
    {
        var own = new List<IDisposable>();
        try
        {
            int n = s.Rows, d = MlpBench.Dim;
            var model = MlpBench.Model(s.Dim);
            var cfg = MlpTuning.ToConfig(candidate);
            var pl = new OpenClMlpScore(cl, model, cfg);   // ArgumentException when the config does not fit: a failed candidate
            own.Add(pl);
            var pc = cpu.Prepare(model); own.Add(pc);
            var (xc, xl) = Both(null, own, cpu, cl, n, d, Normals(n * d, seed));
            var offs = new float[n];
            for (int r = 0; r < n; r++) offs[r] = -(0.01f + 7.99f * r / n);   // t_r = 0 - 1 * off[r]
            var (oc, ol) = Both(null, own, cpu, cl, n, 1, offs);
            using var sc = cpu.Allocate(n, d);
            cpu.Score(pc, xc, 0f, 1f, oc, sc);
            var g = new GuardedBuffer(cl, n, d);
            var c = new TuningCase { Run = () => cl.Score(pl, xl, 0f, 1f, ol, g.View), Outputs = new[] { ("score", g, Read(cpu, sc)) } };
            c.Owned.AddRange(own);
            return c;
        }
        catch { foreach (var o in own) o.Dispose(); throw; }
    }
}
