using System.Buffers.Binary;
using System.IO.Compression;

namespace ClDiffusion.Data;

/// <summary>An unsigned-byte IDX array (the MNIST / Fashion-MNIST file format): its dimensions and its bytes in C order.</summary>
public sealed record IdxArray(int[] Dims, byte[] Data)
{
    /// <summary>The first dimension (images or labels).</summary>
    public int Count => Dims[0];
    /// <summary>Bytes per item: the product of the dimensions after the first (1 for a label file).</summary>
    public int ItemSize => Dims.Skip(1).Aggregate(1, (a, b) => a * b);
}

/// <summary>
/// Reads IDX files (http://yann.lecun.com/exdb/mnist/, the format of MNIST and Fashion-MNIST), gzip-compressed
/// (detected by the gzip magic bytes) or plain: a big-endian header 0x00 0x00 TYPE NDIM, then NDIM big-endian int32
/// dimensions, then the data in C order. Only the unsigned-byte type (0x08) is read, which is what the image and label
/// files hold. Every malformed input (wrong magic, another data type, zero or absurd dimensions, truncated data,
/// trailing bytes, a broken gzip stream) raises <see cref="InvalidDataException"/> naming the file and the problem.
/// </summary>
public static class Idx
{
    /// <summary>The IDX type code of unsigned bytes.</summary>
    public const byte UnsignedByte = 0x08;
    /// <summary>Largest data size accepted (bytes after decompression); Fashion-MNIST's training images are 47 MB.</summary>
    public const long MaxBytes = 1L << 30;

    /// <summary>Reads an unsigned-byte IDX file; <paramref name="expectDims"/> (when given) is the required number of dimensions.</summary>
    public static IdxArray Read(string path, int? expectDims = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var head = new byte[2];
        int got = fs.ReadAtLeast(head, 2, throwOnEndOfStream: false);
        fs.Position = 0;
        bool gz = got == 2 && head[0] == 0x1F && head[1] == 0x8B;
        try
        {
            using Stream s = gz ? new GZipStream(fs, CompressionMode.Decompress) : fs;
            return Read(s, path, expectDims);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            // GZipStream's own errors (a corrupt or cut-off stream) do not name the file
            throw new InvalidDataException($"{path}: broken gzip stream ({e.Message})", e);
        }
    }

    /// <summary>Reads an unsigned-byte IDX array from a stream; <paramref name="name"/> names it in errors.</summary>
    public static IdxArray Read(Stream s, string name, int? expectDims = null)
    {
        var magic = new byte[4];
        int got = s.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (got < 4) throw new InvalidDataException($"{name}: truncated: {got} bytes, too short for the 4-byte IDX magic");
        if (magic[0] != 0 || magic[1] != 0)
            throw new InvalidDataException($"{name}: not an IDX file (magic {Convert.ToHexString(magic)} does not start with 0000)");
        if (magic[2] != UnsignedByte)
            throw new InvalidDataException($"{name}: IDX data type 0x{magic[2]:X2} is not unsigned byte (0x08), the only type read");
        int nd = magic[3];
        if (nd < 1 || nd > 4) throw new InvalidDataException($"{name}: {nd} dimensions in the IDX magic, expected 1 to 4");
        if (expectDims is { } e && nd != e) throw new InvalidDataException($"{name}: {nd} dimensions, expected {e}");
        var dimBytes = new byte[4 * nd];
        got = s.ReadAtLeast(dimBytes, dimBytes.Length, throwOnEndOfStream: false);
        if (got < dimBytes.Length) throw new InvalidDataException($"{name}: truncated in the header: {got} of the {dimBytes.Length} bytes of {nd} dimensions");
        var dims = new int[nd];
        long total = 1;
        for (int i = 0; i < nd; i++)
        {
            int v = BinaryPrimitives.ReadInt32BigEndian(dimBytes.AsSpan(4 * i));
            if (v < 1) throw new InvalidDataException($"{name}: dimension {i} is {v}, must be at least 1");
            dims[i] = v;
            total *= v;
            if (total > MaxBytes) throw new InvalidDataException($"{name}: dimensions {string.Join(" x ", dims.Take(i + 1))} exceed the {MaxBytes}-byte limit");
        }
        var data = new byte[total];
        got = s.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (got < data.Length)
            throw new InvalidDataException($"{name}: truncated: {got} of the {total} data bytes of a {string.Join(" x ", dims)} array");
        if (s.ReadByte() >= 0) throw new InvalidDataException($"{name}: trailing bytes after the {total} data bytes of a {string.Join(" x ", dims)} array");
        return new IdxArray(dims, data);
    }

    /// <summary>Writes an unsigned-byte IDX file (gzip-compressed when the name ends in .gz); for tests and tools.</summary>
    public static void Write(string path, int[] dims, byte[] data)
    {
        if (dims.Length is < 1 or > 4 || dims.Any(v => v < 1)) throw new ArgumentException($"IDX dims ({string.Join(", ", dims)}) must be 1 to 4 positive sizes");
        if (dims.Aggregate(1L, (a, b) => a * b) != data.Length) throw new ArgumentException($"IDX dims ({string.Join(", ", dims)}) do not hold {data.Length} bytes");
        var raw = new MemoryStream();
        raw.Write([0, 0, UnsignedByte, (byte)dims.Length]);
        Span<byte> b = stackalloc byte[4];
        foreach (var v in dims) { BinaryPrimitives.WriteInt32BigEndian(b, v); raw.Write(b); }
        raw.Write(data);
        ClDiffusion.IO.AtomicFile.Write(path, f =>
        {
            if (!path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) { raw.Position = 0; raw.CopyTo(f); return; }
            using var gz = new GZipStream(f, CompressionLevel.Optimal, leaveOpen: true);
            raw.Position = 0; raw.CopyTo(gz);
        });
    }
}
