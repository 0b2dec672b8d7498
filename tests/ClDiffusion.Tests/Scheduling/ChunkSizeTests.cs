using ClDiffusion.Backends;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using NUnit.Framework;

namespace ClDiffusion.Tests.Scheduling;

/// <summary>
/// The scheduler sizes chunks from the registry's memory cost functions (<see cref="SamplerInfo.Memory"/>) instead of a
/// dry run of the sampler. These tests run each sampler on a backend that only counts its allocations and check that
/// the cost function bounds the real peak, tightly, for every entry of <see cref="Sampler.All"/>.
/// </summary>
public class ChunkSizeTests
{
    static IEnumerable<SamplerOptions> Variants()
    {
        var o = new SamplerOptions { Steps = 12 };
        foreach (var (R, M, W) in new[] { (4, 4, 8), (8, 2, 5), (2, 16, 3), (1, 1, 12), (3, 7, 20) })
            foreach (var x0 in Enum.GetValues<X0StartMode>())
                foreach (var c in Enum.GetValues<CorrectorKind>())
                    foreach (var pc in Enum.GetValues<ParallelCorrectorPlacement>())
                        yield return o with { SubWindows = R, CorrectorSteps = M, Window = W, X0Start = x0, Corrector = c, ParallelCorrector = pc };
        yield return o with { MidpointOrder = 1, X0Start = X0StartMode.Fresh };
        yield return o with { SolverOrder = 2, UniPcVariant = UniPcVariant.Bh1, LowerOrderFinal = false };
        yield return o with { LowVariance = true };
        yield return o with { Denoise = true };
        yield return o with { MaxStep = 0.05 };
        yield return o with { CorrectorRounds = 2, PicardRounds = 1 };
    }

    static (long Peak, long Largest) Measure(string sampler, SamplerOptions o, int dim, int n)
    {
        var b = new CountingBackend();
        var model = new ProbeModel(dim);
        using var prepared = b.Prepare(model);
        var job = new SamplingJob(model, sampler, o, 0, 0);
        using (var ctx = ChunkPipeline.Context(b, prepared, job, 0, n))
            ChunkPipeline.Enqueue(ctx, job).Dispose();
        return (b.Peak, b.Largest);
    }

    [Test]
    public void EachSamplersMemoryCostBoundsWhatItsRunAllocates()
    {
        var failures = new List<string>();
        int checkedRuns = 0;
        foreach (var s in Sampler.All)
            foreach (var o0 in Variants())
                foreach (var (labels, guidance) in new[] { (false, 0.0), (true, 0.0), (true, 2.0) })
                    foreach (int dim in new[] { 1, 3, 64 })
                    {
                        var o = labels ? o0 with { Labels = ClassLabels.All(0), Guidance = guidance } : o0;
                        try { o.Validate(s.Name, 8, dim); } catch (ArgumentException) { continue; }
                        const int n = 8;
                        var (peak, largest) = Measure(s.Name, o, dim, n);
                        var cost = Sampler.MemoryOf(s.Name, o);
                        long bound = n * cost.FloatsPerSample(dim, labels, labels && guidance != 0) + 2 * 40 + 64;   // + the constant part (the scheduler's ConstantFloats)
                        long widest = n * cost.WidestFloatsPerSample(dim, labels && guidance != 0);
                        checkedRuns++;
                        string what = $"{s.Name} d={dim} denoise={o.Denoise} maxstep={o.MaxStep} steps={o.Steps} R={o.SubWindows} M={o.CorrectorSteps} W={o.Window} x0={o.X0Start} c={o.Corrector} pc={o.ParallelCorrector} labels={labels} w={guidance}";
                        if (peak > bound) failures.Add($"{what}: allocates {peak} floats at its peak, the cost function says {bound}");
                        else if (n * cost.FloatsPerSample(dim, labels, labels && guidance != 0) > 1.25 * peak + n * dim + 64)
                            failures.Add($"{what}: the cost function says {n * cost.FloatsPerSample(dim, labels, labels && guidance != 0)} floats, the run needs only {peak} (too loose: chunks would be needlessly small)");
                        if (largest > widest) failures.Add($"{what}: a buffer of {largest} floats, the cost function's widest is {widest}");
                    }
        Assert.That(checkedRuns, Is.GreaterThan(Sampler.All.Count * 50));
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(40)));
    }

    [Test]
    public void PlannedChunksFitTheDeviceBudget([Values("ei", "rm-pc", "prm-pc", "picard", "prm-x0-pc")] string sampler)
    {
        int dim = 16;
        var o = new SamplerOptions { Steps = 12, SubWindows = 8, CorrectorSteps = 4, Window = 6 };
        long bytes = 64L << 20;
        using var device = new CountingBackend { DeviceBytes = bytes, MaxAllocation = bytes };
        var options = new SchedulerOptions { StreamsPerDevice = 2, DeviceMemoryFraction = 0.5, MaxChunkSize = 1 << 20 };
        var s = new ChunkScheduler([device], options);
        int chunk = s.PlanChunkSize(new ProbeModel(dim), sampler, o, 1 << 24);
        var (peak, _) = Measure(sampler, o, dim, chunk);
        long budget = (long)(bytes * options.DeviceMemoryFraction) / options.StreamsPerDevice;
        Assert.That(4 * peak, Is.LessThanOrEqualTo(budget), $"chunk {chunk}: the real peak exceeds one stream's share");
        var (peakMore, _) = Measure(sampler, o, dim, (int)(chunk * 1.3));
        Assert.That(4 * peakMore, Is.GreaterThan(budget * 0.8), $"chunk {chunk} leaves most of the budget unused");
        // a small allocation limit caps the chunk by the widest buffer
        using var small = new CountingBackend { DeviceBytes = bytes, MaxAllocation = 4L * dim * 100 };
        int capped = new ChunkScheduler([small], options).PlanChunkSize(new ProbeModel(dim), sampler, o, 1 << 24);
        var (_, largest) = Measure(sampler, o, dim, capped);
        Assert.That(4 * largest, Is.LessThanOrEqualTo(small.MaxAllocation), $"chunk {capped}: a buffer exceeds the device's largest allocation");
    }

    [Test]
    public void TheParallelSamplersCostMoreRowsThanTheSequentialOnes()
    {
        var o = new SamplerOptions { SubWindows = 8 };
        Assert.That(Sampler.Get("ei").Memory(o).FloatsPerSample(4, false, false), Is.EqualTo(2 * 4 + 1));   // x, the score, the non-finite flag
        Assert.That(Sampler.Get("prm").Memory(o).FloatsPerSample(4, false, false), Is.GreaterThanOrEqualTo(2 * 8 * 4));
        Assert.That(Sampler.Get("prm").Memory(o).WidestFloatsPerSample(4, guided: true), Is.EqualTo(2 * 8 * 4), "guidance doubles the widest score batch");
        Assert.That(SamplerMemory.PicardWindows(16, 40), Is.EqualTo(new[] { 16, 8 }));
        Assert.That(SamplerMemory.PicardWindows(8, 5), Is.EqualTo(new[] { 5 }));
    }

    sealed class ProbeModel(int dim) : IScoreModel, IClassConditional
    {
        public int Dim => dim;
        public int NumClasses => 1;
        public string Describe() => "probe";
    }

    sealed class Buf(CountingBackend owner, int rows, int cols) : IDeviceBuffer, IPreparedScore
    {
        bool disposed;
        public int Rows => rows;
        public int Cols => cols;
        public IScoreModel Model { get; init; } = null!;
        public void Dispose() { if (!disposed) { disposed = true; owner.Live -= (long)rows * cols; } }
    }

    /// <summary>A backend whose primitives do nothing and whose allocations are only counted (what MemoryProbe was).</summary>
    sealed class CountingBackend : IBackend
    {
        public long Live, Peak, Largest;
        public long DeviceBytes { get; init; } = long.MaxValue;
        public long MaxAllocation { get; init; } = long.MaxValue;
        public string DeviceName => "counting backend";
        public IDeviceBuffer Allocate(int rows, int cols)
        {
            long f = (long)rows * cols;
            Live += f; Peak = Math.Max(Peak, Live); Largest = Math.Max(Largest, f);
            return new Buf(this, rows, cols);
        }
        public void Upload(IDeviceBuffer dst, ReadOnlySpan<float> src) { }
        public void Download(IDeviceBuffer src, Span<float> dst) { }
        public void Copy(IDeviceBuffer dst, IDeviceBuffer src) { }
        public void RepeatRows(IDeviceBuffer dst, IDeviceBuffer src, int m) { }
        public IPreparedScore Prepare(IScoreModel model) => new Buf(this, 0, 0) { Model = model };
        public void Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score) { }
        public void Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score, IDeviceBuffer? labels) { }
        public void DuplicateRows(IDeviceBuffer dst, IDeviceBuffer src) { }
        public void GuidanceCombine(IDeviceBuffer dst, IDeviceBuffer both, float w) { }
        public void Lincomb(IDeviceBuffer dst, ReadOnlySpan<Term> terms) { }
        public void Normal(IDeviceBuffer dst, RandomKey key, long firstSample) { }
        public void DrawAlphas(IDeviceBuffer alpha, RandomKey key, long firstSample, AlphaLaw law, float h) { }
        public void MidpointPredict(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer s0, IDeviceBuffer alpha, float h) { }
        public void PicardSums(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h) { }
        public void MidpointFinal(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h) { }
        public void LangevinScan(IDeviceBuffer x0, IDeviceBuffer v0, IDeviceBuffer scores, int m, float gamma, float hc,
            RandomKey key, long firstSample, IDeviceBuffer? xs, IDeviceBuffer? xOut, IDeviceBuffer? vOut) { }
        public void ShenLeeMidpoint(IDeviceBuffer xMid, IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer s0, IDeviceBuffer alpha,
            float gamma, float h, RandomKey key, long firstSample) { }
        public void ShenLeeFinal(IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer sMid, IDeviceBuffer alpha,
            float gamma, float h, RandomKey key, long firstSample) { }
        public void ExpScan(IDeviceBuffer x0, IDeviceBuffer scores, ReadOnlySpan<float> steps, IDeviceBuffer xs, IDeviceBuffer xOut) { }
        public float MaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b) => 0f;
        public void RowMaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b, int rowsPerSample, Span<float> perSample) => perSample.Clear();
        public void CopyRowsWhere(IDeviceBuffer dst, IDeviceBuffer src, IDeviceBuffer mask) { }
        public void Finish() { }
        public void MarkNonFinite(IDeviceBuffer x, IDeviceBuffer firstBad, float step) { }
        public DeviceMemory Memory => new(DeviceBytes, MaxAllocation, IsHost: false);
        public IBackendStream OpenStream() => throw new NotSupportedException("the counting backend has no streams");
        public void Dispose() { }
        public void TiltedTimes(IDeviceBuffer times, IDeviceBuffer u, double lambdaEnd, double h) { }
        public void DataPrediction(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer s, IDeviceBuffer times) { }
        public void LogSnrPredict(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d0, IDeviceBuffer? slope, IDeviceBuffer times, double tStart) { }
        public void LogSnrPicard(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer times, double tStart, double tEnd) { }
        public void LogSnrFinal(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer? slope, IDeviceBuffer times, double tStart, double tEnd) { }
        public void LogSnrLine(IDeviceBuffer dStart, IDeviceBuffer slope, IDeviceBuffer dA, IDeviceBuffer timesA, IDeviceBuffer dB, IDeviceBuffer timesB, double tStart) { }
    }
}
