namespace ClDiffusion.Scheduling;

/// <summary>How the scheduler splits and pipelines a run. The samples never depend on any of these.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Chunks in flight per device, each on its own backend stream (an OpenCL command queue, a CPU worker thread).</summary>
    public int StreamsPerDevice { get; init; } = 2;
    /// <summary>Samples per chunk; null sizes chunks from the device memory and the sampler's footprint.</summary>
    public int? ChunkSize { get; init; }
    /// <summary>Upper bound on the automatic chunk size.</summary>
    public int MaxChunkSize { get; init; } = 65536;
    /// <summary>Share of the device's global memory that all of its in-flight chunks together may use.</summary>
    public double DeviceMemoryFraction { get; init; } = 0.5;
    /// <summary>Memory budget for the chunks of a host-memory backend (the CPU backend), bytes, shared by its streams.</summary>
    public long CpuMemoryBytes { get; init; } = 256L << 20;
    /// <summary>
    /// Chunks taken but not yet written, at most (the reorder buffer: bounds host memory whatever N is);
    /// 0 = 2 x (all streams of all devices), at least 4.
    /// </summary>
    public int ReorderChunks { get; init; }

    public void Validate()
    {
        if (StreamsPerDevice is < 1 or > 64) throw new ArgumentException($"streams per device must be in 1..64, got {StreamsPerDevice}");
        if (ChunkSize is < 1) throw new ArgumentException($"chunk size must be at least 1, got {ChunkSize}");
        if (MaxChunkSize < 1) throw new ArgumentException($"maximum chunk size must be at least 1, got {MaxChunkSize}");
        if (!(DeviceMemoryFraction > 0 && DeviceMemoryFraction <= 1)) throw new ArgumentException($"device memory fraction must be in (0, 1], got {DeviceMemoryFraction}");
        if (CpuMemoryBytes < 1) throw new ArgumentException($"CPU memory budget must be positive, got {CpuMemoryBytes}");
        if (ReorderChunks < 0) throw new ArgumentException($"reorder buffer must hold at least 0 chunks (0 = automatic), got {ReorderChunks}");
    }
}

/// <summary>Where a run stands: reported after every chunk written (in sample order).</summary>
public readonly record struct SamplingProgress(long SamplesDone, long SamplesTotal, double ScoreEvaluations, TimeSpan Elapsed)
{
    /// <summary>Samples per second so far.</summary>
    public double Rate => Elapsed.TotalSeconds > 0 ? SamplesDone / Elapsed.TotalSeconds : 0;
    /// <summary>Estimated time left at the current rate (null before the first chunk).</summary>
    public TimeSpan? Eta => SamplesDone > 0 && Rate > 0 ? TimeSpan.FromSeconds((SamplesTotal - SamplesDone) / Rate) : null;
    public double Fraction => SamplesTotal > 0 ? (double)SamplesDone / SamplesTotal : 1;
}

/// <summary>
/// The I-th of N contiguous slices of a run's sample indices: [floor(I*total/N), floor((I+1)*total/N)).
/// Concatenating the N slices in order gives the whole run.
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    public static readonly Shard Whole = new(0, 1);

    /// <summary>Parses "I/N" (0 &lt;= I &lt; N).</summary>
    public static Shard Parse(string text)
    {
        var parts = (text ?? "").Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int i) || !int.TryParse(parts[1], out int n))
            throw new ArgumentException($"shard '{text}' must be I/N, e.g. 3/16");
        if (n < 1 || i < 0 || i >= n) throw new ArgumentException($"shard '{text}': need 0 <= I < N and N >= 1");
        return new Shard(i, n);
    }

    /// <summary>The slice [first, first + count) of `total` samples (relative to the run's first sample).</summary>
    public (long first, long count) Range(long total)
    {
        if (total < 0) throw new ArgumentException($"total must be non-negative, got {total}");
        long lo = (long)((System.Numerics.BigInteger)Index * total / Count), hi = (long)((System.Numerics.BigInteger)(Index + 1) * total / Count);
        return (lo, hi - lo);
    }

    public override string ToString() => $"{Index}/{Count}";
}
