using ClDiffusion.Backends;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;

namespace ClDiffusion.Scheduling;

/// <summary>Device memory one chunk of a sampler needs: floats per sample (all live buffers at the peak) and the largest single buffer.</summary>
public readonly record struct ChunkFootprint(long FloatsPerSample, long LargestBufferFloatsPerSample, long ConstantFloats)
{
    public long BytesFor(int samples) => 4 * (FloatsPerSample * samples + ConstantFloats);
}

/// <summary>
/// Measures a sampler's device memory exactly, without computing anything: the sampler runs against a backend whose
/// primitives do nothing and whose allocations are only counted, once for 1 and once for 2 samples; the difference
/// is the per-sample footprint (every sampler allocates rows proportional to the chunk: n, n*R, n*M, ...).
/// </summary>
public static class MemoryProbe
{
    public static ChunkFootprint Measure(string sampler, SamplerOptions o, int dim)
    {
        var (p1, b1) = Peak(sampler, o, dim, 1);
        var (p2, b2) = Peak(sampler, o, dim, 2);
        long per = Math.Max(p2 - p1, dim), big = Math.Max(b2 - b1, dim);
        return new ChunkFootprint(per, big, Math.Max(p1 - per, 0));
    }

    static (long peak, long largest) Peak(string sampler, SamplerOptions o, int dim, int n)
    {
        var b = new CountingBackend();
        var model = new ProbeModel(dim);
        // guidance doubles the score batch: probe with one class for every sample, so the footprint counts it
        if (o.Labels is not null) o = o with { Labels = ClassLabels.All(0) };
        using var prepared = b.Prepare(model);
        var job = new SamplingJob(model, sampler, o, 0, 0);
        using (var ctx = ChunkPipeline.Context(b, prepared, job, 0, n))
            ChunkPipeline.Enqueue(ctx, job).Dispose();
        return (b.Peak, b.Largest);
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

    sealed class CountingBackend : IBackend
    {
        public long Live, Peak, Largest;
        public string DeviceName => "memory probe";
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
        public DeviceMemory Memory => new(long.MaxValue, long.MaxValue, IsHost: true);
        public IBackendStream OpenStream() => throw new NotSupportedException("the memory probe has no streams");
        public void Dispose() { }
        public void TiltedTimes(IDeviceBuffer times, IDeviceBuffer u, double lambdaEnd, double h) { }
        public void DataPrediction(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer s, IDeviceBuffer times) { }
        public void LogSnrPredict(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d0, IDeviceBuffer? slope, IDeviceBuffer times, double tStart) { }
        public void LogSnrPicard(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer times, double tStart, double tEnd) { }
        public void LogSnrFinal(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer? slope, IDeviceBuffer times, double tStart, double tEnd) { }
        public void LogSnrLine(IDeviceBuffer dStart, IDeviceBuffer slope, IDeviceBuffer dA, IDeviceBuffer timesA, IDeviceBuffer dB, IDeviceBuffer timesB, double tStart) { }
    }
}
