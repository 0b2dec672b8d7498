namespace ClDiffusion.Samplers;

/// <summary>
/// What one chunk of a sampler holds on its device, per sample (a registry cost function: <see cref="SamplerInfo.Memory"/>):
/// <see cref="Rows"/> buffers of d floats (x, scores, the parallel samplers' R or M positions, ...), <see cref="Columns"/>
/// narrow floats (alphas, log-SNR times, the non-finite flag), and the rows per sample of each distinct score call
/// (<see cref="ScoreBatches"/>). Conditioning adds per score batch b: a [b, 1] label buffer ([2 b, 1] guided), and with
/// guidance two buffers of 2 b rows (the rows and their scores, conditional and null). The chunk scheduler sizes chunks
/// from this, before anything runs; <c>Scheduling/ChunkSizeTests</c> checks every sampler's function against the buffers
/// its run really allocates.
/// </summary>
public sealed record SamplerMemory(int Rows, int Columns, IReadOnlyList<int> ScoreBatches)
{
    /// <summary>Floats per sample at the peak, for dimension d (labels: class-conditional; guided: guidance weight != 0).</summary>
    public long FloatsPerSample(int dim, bool labels, bool guided)
    {
        long batches = ScoreBatches.Distinct().Sum(b => (long)b);
        long rows = Rows + (guided ? 4 * batches : 0);
        long columns = Columns + (labels ? (guided ? 2 : 1) * batches : 0);
        return rows * dim + columns;
    }

    /// <summary>Floats per sample of the largest single buffer (guided: the doubled score batch).</summary>
    public long WidestFloatsPerSample(int dim, bool guided) => (long)Math.Max(Rows > 0 ? 1 : 0, ScoreBatches.DefaultIfEmpty(1).Max()) * (guided ? 2 : 1) * dim;

    /// <summary>Memory of a sequential sampler: `rows` buffers of d floats and `columns` narrow floats per sample, score calls of one row per sample.</summary>
    public static SamplerMemory Sequential(int rows, int columns) => new(rows, columns, [1]);

    /// <summary>The distinct window sizes a Picard run over `steps` grid steps uses (windows of `window` steps and the rest).</summary>
    public static int[] PicardWindows(int window, int steps)
    {
        int w = Math.Max(1, Math.Min(window, Math.Max(steps, 1)));
        int rest = Math.Max(steps, 1) % w;
        return rest == 0 ? [w] : [w, rest];
    }
}
