namespace ClDiffusion.Backends.Cpu;

/// <summary>A host matrix for the CPU backend.</summary>
public sealed class CpuBuffer : IDeviceBuffer
{
    public float[] Data { get; }
    public int Rows { get; }
    public int Cols { get; }
    public CpuBuffer(int rows, int cols)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(nameof(rows), $"buffer shape [{rows}, {cols}] is negative");
        Rows = rows; Cols = cols; Data = new float[checked((long)rows * cols)];
    }
    public Span<float> Row(int r) => Data.AsSpan(r * Cols, Cols);
    public void Dispose() { }
}
