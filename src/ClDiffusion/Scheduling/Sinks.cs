using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace ClDiffusion.Scheduling;

/// <summary>Receives a run's samples in sample order, one chunk at a time (rows of d floats).</summary>
public interface ISampleSink
{
    /// <summary>Rows [offset, offset + rows) of the run (offset counted from the run's first sample), in increasing order.</summary>
    void Write(long offset, ReadOnlySpan<float> rows);
}

/// <summary>Copies chunks into a caller-owned memory region of n * d floats.</summary>
public sealed class MemorySink(Memory<float> destination, int dim) : ISampleSink
{
    public void Write(long offset, ReadOnlySpan<float> rows) => rows.CopyTo(destination.Span.Slice(checked((int)(offset * dim)), rows.Length));
}

/// <summary>Writes a float32 [n, d] .npy to a stream: the header with the final shape first, then the rows as they come.</summary>
public sealed class NpyStreamSink : ISampleSink
{
    readonly Stream stream;
    readonly long n; readonly int d;
    long written;
    public NpyStreamSink(Stream stream, long n, int d)
    {
        this.stream = stream; this.n = n; this.d = d;
        stream.Write(NpyFormat.Header(n, d));
    }
    public long RowsWritten => written;
    public void Write(long offset, ReadOnlySpan<float> rows)
    {
        if (offset != written) throw new InvalidOperationException($"npy stream: rows must arrive in order (expected row {written}, got {offset})");
        if (rows.Length % d != 0 || written + rows.Length / d > n) throw new InvalidOperationException($"npy stream: {rows.Length} floats do not fit the declared shape ({n}, {d})");
        NpyFormat.WriteFloats(stream, rows);
        written += rows.Length / d;
    }
    /// <summary>Throws unless exactly the declared rows were written.</summary>
    public void Complete()
    {
        if (written != n) throw new InvalidOperationException($"npy stream: {written} rows written, the header declares {n}");
        stream.Flush();
    }
}

/// <summary>Wraps a sink with a check: a non-finite value fails the run (naming the sample) before it is written.</summary>
public sealed class FiniteCheckSink(ISampleSink inner, int dim, long firstSample) : ISampleSink
{
    public void Write(long offset, ReadOnlySpan<float> rows)
    {
        int bad = ClDiffusion.Samplers.NonFiniteSampleException.FirstNonFiniteRow(rows, dim);
        if (bad >= 0)
            throw new InvalidOperationException($"sample {firstSample + offset + bad} diverged (non-finite value); try more steps, a uniform grid or a smaller --block");
        inner.Write(offset, rows);
    }
}

/// <summary>.npy headers (byte-identical to numpy.save and <see cref="IO.Npy.WriteTo"/>) and header-only reads, for streaming.</summary>
public static class NpyFormat
{
    static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>The header of a C-order float32 array of shape (n, d).</summary>
    public static byte[] Header(long n, int d) => Header(n, d, rank1: false);

    /// <summary>The header of shape (n, d), or (n,) when rank1 (the one <see cref="ClDiffusion.IO.Npy"/> writes).</summary>
    public static byte[] Header(long n, int d, bool rank1) => ClDiffusion.IO.Npy.Header(n, rank1 ? null : d);

    public static void WriteFloats(Stream s, ReadOnlySpan<float> data) => ClDiffusion.IO.Npy.WriteFloats(s, data);

    /// <summary>Reads only the header of a .npy: the shape (rank 1 or 2) and where the data starts. Requires C-order '&lt;f4'.</summary>
    public static (long rows, int cols, int rank, long dataOffset) ReadFloat32Header(Stream s, string name)
    {
        Span<byte> pre = stackalloc byte[12];
        ReadExactly(s, pre[..10], name);
        if (!pre[..6].SequenceEqual(Magic)) throw new InvalidDataException($"{name}: not a .npy file (bad magic)");
        int major = pre[6], hlen, start;
        if (major == 1) { hlen = BinaryPrimitives.ReadUInt16LittleEndian(pre[8..]); start = 10; }
        else if (major is 2 or 3) { ReadExactly(s, pre[10..12], name); hlen = (int)BinaryPrimitives.ReadUInt32LittleEndian(pre[8..]); start = 12; }
        else throw new InvalidDataException($"{name}: unsupported .npy version {major}");
        if (hlen < 0 || hlen > 1 << 20) throw new InvalidDataException($"{name}: header length {hlen} is implausible");
        var hb = new byte[hlen];
        ReadExactly(s, hb, name);
        string h = major == 3 ? Encoding.UTF8.GetString(hb) : Encoding.Latin1.GetString(hb);
        string compact = h.Replace(" ", "");
        if (!compact.Contains("'descr':'<f4'")) throw new InvalidDataException($"{name}: only float32 little-endian ('<f4') can be merged; header: {h.Trim()}");
        if (!compact.Contains("'fortran_order':False")) throw new InvalidDataException($"{name}: Fortran-order arrays cannot be merged");
        int a = compact.IndexOf("'shape':(", StringComparison.Ordinal);
        if (a < 0) throw new InvalidDataException($"{name}: header has no shape: {h.Trim()}");
        int b = compact.IndexOf(')', a);
        var dims = compact[(a + 9)..b].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(t => long.Parse(t.TrimEnd('L'))).ToArray();
        if (dims.Length is not (1 or 2)) throw new InvalidDataException($"{name}: shape of rank {dims.Length}; only [n] and [n, d] can be merged");
        return (dims[0], dims.Length == 2 ? checked((int)dims[1]) : 1, dims.Length, start + hlen);
    }

    static void ReadExactly(Stream s, Span<byte> buf, string name)
    {
        try { s.ReadExactly(buf); }
        catch (EndOfStreamException) { throw new InvalidDataException($"{name}: truncated .npy header"); }
    }
}
