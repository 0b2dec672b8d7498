using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace ClDiffusion.IO;

/// <summary>An array read from a .npy file: C order, shape [n] or [n, d], float32 or float64 data.</summary>
public sealed class NpyArray
{
    /// <summary>"&lt;f4" or "&lt;f8".</summary>
    public string Descr { get; }
    public int[] Shape { get; }
    /// <summary>The data when Descr is "&lt;f4", else null.</summary>
    public float[]? Float32 { get; }
    /// <summary>The data when Descr is "&lt;f8", else null.</summary>
    public double[]? Float64 { get; }

    public int Rows => Shape[0];
    /// <summary>Columns: Shape[1] for a 2-d array, 1 for a 1-d array.</summary>
    public int Cols => Shape.Length == 2 ? Shape[1] : 1;
    public long Length => Float32?.LongLength ?? Float64!.LongLength;

    internal NpyArray(string descr, int[] shape, float[]? f32, double[]? f64)
    {
        Descr = descr; Shape = shape; Float32 = f32; Float64 = f64;
    }

    /// <summary>The data as float32 (float64 data is rounded).</summary>
    public float[] ToFloat32()
    {
        if (Float32 is not null) return Float32;
        var r = new float[Float64!.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (float)Float64[i];
        return r;
    }

    /// <summary>The data as float64 (exact for float32 data).</summary>
    public double[] ToFloat64()
    {
        if (Float64 is not null) return Float64;
        var r = new double[Float32!.Length];
        for (int i = 0; i < r.Length; i++) r[i] = Float32[i];
        return r;
    }
}

/// <summary>
/// NumPy .npy files (format versions 1.0, 2.0 and 3.0): reads little-endian float32 ('&lt;f4') and float64
/// ('&lt;f8') in C order with shape (n,) or (n, d); writes float32 in C order, atomically.
/// Every malformed input raises <see cref="InvalidDataException"/> naming the file and the problem.
/// </summary>
public static class Npy
{
    static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(fs, path);
    }

    /// <summary>Reads a .npy image from a stream; <paramref name="name"/> is used in error messages.</summary>
    public static NpyArray Read(Stream stream, string name)
    {
        // ---- preamble: magic, version, header length
        Span<byte> pre = stackalloc byte[8];
        int got = ReadFully(stream, pre);
        if (got < 6 || !pre[..6].SequenceEqual(Magic))
            throw Bad(name, got < 6 && pre[..got].SequenceEqual(Magic[..got])
                ? $"truncated file: only {got} bytes, shorter than the .npy magic string"
                : "bad magic: not a .npy file (expected the bytes \\x93NUMPY at the start)");
        if (got < 8) throw Bad(name, "truncated file: ends inside the format version");
        byte major = pre[6], minor = pre[7];
        if (major is < 1 or > 3) throw Bad(name, $"unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)");
        int lenBytes = major == 1 ? 2 : 4;
        Span<byte> lenBuf = stackalloc byte[4];
        if (ReadFully(stream, lenBuf[..lenBytes]) < lenBytes) throw Bad(name, "truncated file: ends inside the header length");
        long headerLen = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(lenBuf) : BinaryPrimitives.ReadUInt32LittleEndian(lenBuf);
        if (headerLen > 1 << 24) throw Bad(name, $"header length {headerLen} is implausibly large");
        var headerBytes = new byte[headerLen];
        int hgot = ReadFully(stream, headerBytes);
        if (hgot < headerLen) throw Bad(name, $"truncated file: header is {headerLen} bytes but the file ends after {hgot}");
        string header;
        try { header = (major == 3 ? new UTF8Encoding(false, true) : Encoding.Latin1).GetString(headerBytes); }
        catch (DecoderFallbackException) { throw Bad(name, "header is not valid UTF-8"); }

        // ---- header dictionary
        var dict = HeaderParser.Parse(header, name);
        if (!dict.TryGetValue("descr", out var descrObj) || descrObj is not string descr) throw Bad(name, "header has no 'descr' string");
        if (!dict.TryGetValue("fortran_order", out var foObj) || foObj is not bool fortran) throw Bad(name, "header has no 'fortran_order' boolean");
        if (!dict.TryGetValue("shape", out var shapeObj) || shapeObj is not long[] shapeL) throw Bad(name, "header has no 'shape' tuple");
        foreach (var key in dict.Keys)
            if (key is not ("descr" or "fortran_order" or "shape")) throw Bad(name, $"header has unexpected key '{key}'");
        if (fortran) throw Bad(name, "fortran_order is True: only C-order arrays are supported (save with np.ascontiguousarray)");
        int itemSize = descr switch
        {
            "<f4" => 4,
            "<f8" => 8,
            ">f4" or ">f8" => throw Bad(name, $"unsupported dtype '{descr}': big-endian data is not supported (use '<f4' or '<f8')"),
            _ => throw Bad(name, $"unsupported dtype '{descr}' (supported: '<f4' float32, '<f8' float64)"),
        };
        if (shapeL.Length is not (1 or 2)) throw Bad(name, $"unsupported shape ({string.Join(", ", shapeL)}): only (n,) and (n, d) are supported");
        long count = 1;
        foreach (var s in shapeL)
        {
            if (s < 0) throw Bad(name, $"negative dimension in shape ({string.Join(", ", shapeL)})");
            if (s > 0 && count > Array.MaxLength / s) throw Bad(name, $"shape ({string.Join(", ", shapeL)}) has too many elements for one array");
            count *= s;
        }
        if (shapeL.Any(s => s > int.MaxValue)) throw Bad(name, "dimension exceeds int range");
        var shape = shapeL.Select(s => (int)s).ToArray();

        // ---- size check against the file length, when the stream knows it
        long dataBytes = count * itemSize;
        if (stream.CanSeek)
        {
            long remaining = stream.Length - stream.Position;
            if (remaining < dataBytes)
                throw Bad(name, $"truncated file: shape ({string.Join(", ", shapeL)}) of '{descr}' needs {dataBytes} data bytes but only {remaining} remain");
            if (remaining > dataBytes)
                throw Bad(name, $"shape/size mismatch: shape ({string.Join(", ", shapeL)}) of '{descr}' needs {dataBytes} data bytes but {remaining} remain ({remaining - dataBytes} extra)");
        }

        // ---- data
        float[]? f32 = null; double[]? f64 = null;
        Span<byte> raw;
        if (itemSize == 4) { f32 = new float[count]; raw = MemoryMarshal.AsBytes(f32.AsSpan()); }
        else { f64 = new double[count]; raw = MemoryMarshal.AsBytes(f64.AsSpan()); }
        long dgot = ReadFully(stream, raw);
        if (dgot < dataBytes) throw Bad(name, $"truncated file: expected {dataBytes} data bytes, found {dgot}");
        if (!stream.CanSeek)
        {
            Span<byte> one = stackalloc byte[1];
            if (stream.Read(one) > 0) throw Bad(name, $"shape/size mismatch: extra bytes after the {dataBytes} data bytes of shape ({string.Join(", ", shapeL)})");
        }
        if (!BitConverter.IsLittleEndian)
        {
            if (f32 is not null) for (int i = 0; i < f32.Length; i++) f32[i] = BinaryPrimitives.ReadSingleLittleEndian(MemoryMarshal.AsBytes(f32.AsSpan(i, 1)));
            if (f64 is not null) for (int i = 0; i < f64.Length; i++) f64[i] = BinaryPrimitives.ReadDoubleLittleEndian(MemoryMarshal.AsBytes(f64.AsSpan(i, 1)));
        }
        return new NpyArray(descr, shape, f32, f64);
    }

    /// <summary>Writes float32 data of shape [n, d] (C order) atomically.</summary>
    public static void Write(string path, float[] data, int n, int d) => Write(path, data, [n, d]);

    /// <summary>Writes float32 data of shape [n] atomically.</summary>
    public static void Write(string path, float[] data) => Write(path, data, [data.Length]);

    /// <summary>Writes float32 data (C order) with the given shape (rank 1 or 2) atomically.</summary>
    public static void Write(string path, float[] data, int[] shape)
    {
        CheckShape(data, shape);
        AtomicFile.Write(path, s => WriteTo(s, data, shape));
    }

    /// <summary>Writes a .npy image exactly as numpy.save does for a C-order float32 array.</summary>
    public static void WriteTo(Stream stream, float[] data, int[] shape)
    {
        CheckShape(data, shape);
        stream.Write(Header(shape[0], shape.Length == 1 ? null : shape[1]));
        WriteFloats(stream, data);
    }

    /// <summary>
    /// The header numpy.save writes for a C-order float32 array of shape (rows, cols), or (rows,) when cols is null.
    /// Numpy (>= 1.24) reserves 21 - len(repr(shape[0])) spaces so the file can grow along axis 0, then pads with
    /// spaces and a final '\n' so that magic + version + length + header is a multiple of 64.
    /// </summary>
    public static byte[] Header(long rows, int? cols)
    {
        string shapeText = cols is null ? $"({rows},)" : $"({rows}, {cols})";
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shapeText}, }}";
        int growth = Math.Max(0, 21 - rows.ToString(CultureInfo.InvariantCulture).Length);
        int version = 1, pre = 10;
        int total = Align(pre + dict.Length + growth + 1);
        if (total - pre > ushort.MaxValue) { version = 2; pre = 12; total = Align(pre + dict.Length + growth + 1); }
        string header = dict.PadRight(total - pre - 1) + "\n";
        var buf = new byte[pre + header.Length];
        Magic.CopyTo(buf);
        buf[6] = (byte)version; buf[7] = 0;
        if (version == 1) BinaryPrimitives.WriteUInt16LittleEndian(buf.AsSpan(8), (ushort)header.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(8), (uint)header.Length);
        Encoding.Latin1.GetBytes(header, buf.AsSpan(pre));
        return buf;
    }

    /// <summary>float32 values, little-endian whatever the host.</summary>
    public static void WriteFloats(Stream stream, ReadOnlySpan<float> data)
    {
        if (BitConverter.IsLittleEndian) { stream.Write(MemoryMarshal.AsBytes(data)); return; }
        Span<byte> tmp = stackalloc byte[4];
        foreach (var x in data) { BinaryPrimitives.WriteSingleLittleEndian(tmp, x); stream.Write(tmp); }
    }

    static int Align(int x) => (x + 63) / 64 * 64;

    static void CheckShape(float[] data, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length is not (1 or 2)) throw new ArgumentException($"shape must have rank 1 or 2, got rank {shape.Length}", nameof(shape));
        long count = 1;
        foreach (var s in shape)
        {
            if (s < 0) throw new ArgumentException($"shape ({string.Join(", ", shape)}) has a negative dimension", nameof(shape));
            count *= s;
        }
        if (count != data.LongLength) throw new ArgumentException($"data has {data.LongLength} elements but shape ({string.Join(", ", shape)}) needs {count}", nameof(data));
    }

    static int ReadFully(Stream s, Span<byte> buf)
    {
        int total = 0;
        while (total < buf.Length)
        {
            int r = s.Read(buf[total..]);
            if (r <= 0) break;
            total += r;
        }
        return total;
    }

    static InvalidDataException Bad(string name, string problem) => new($"{name}: {problem}");

    /// <summary>Parses the Python-literal dict of a .npy header: string keys; values are strings, booleans or int tuples.</summary>
    sealed class HeaderParser
    {
        readonly string s; readonly string name; int p;
        HeaderParser(string s, string name) { this.s = s; this.name = name; }

        public static Dictionary<string, object> Parse(string header, string name)
        {
            var hp = new HeaderParser(header, name);
            var d = hp.ParseDict();
            hp.SkipWs();
            if (hp.p != header.Length) throw hp.Err("unexpected text after the header dictionary");
            if (!header.EndsWith('\n')) throw hp.Err("header does not end with a newline");
            return d;
        }

        InvalidDataException Err(string what) => Bad(name, $"malformed header ({what}) at offset {p}: {Excerpt()}");
        string Excerpt() => s.Length <= 120 ? s.TrimEnd() : s[..120] + "...";

        void SkipWs() { while (p < s.Length && char.IsWhiteSpace(s[p])) p++; }
        bool TryEat(char c) { SkipWs(); if (p < s.Length && s[p] == c) { p++; return true; } return false; }
        void Expect(char c) { if (!TryEat(c)) throw Err($"expected '{c}'"); }

        Dictionary<string, object> ParseDict()
        {
            Expect('{');
            var d = new Dictionary<string, object>();
            while (true)
            {
                if (TryEat('}')) return d;
                string key = ParseString();
                Expect(':');
                object value = ParseValue();
                if (!d.TryAdd(key, value)) throw Err($"duplicate key '{key}'");
                if (TryEat(',')) continue;
                Expect('}');
                return d;
            }
        }

        object ParseValue()
        {
            SkipWs();
            if (p >= s.Length) throw Err("unexpected end");
            char c = s[p];
            if (c is '\'' or '"') return ParseString();
            if (c == '(') return ParseTuple();
            if (Word("True")) return true;
            if (Word("False")) return false;
            throw Err("expected a string, a tuple, True or False");
        }

        bool Word(string w)
        {
            if (string.CompareOrdinal(s, p, w, 0, w.Length) == 0) { p += w.Length; return true; }
            return false;
        }

        string ParseString()
        {
            SkipWs();
            if (p >= s.Length || s[p] is not ('\'' or '"')) throw Err("expected a quoted string");
            char q = s[p++];
            int start = p;
            while (p < s.Length && s[p] != q) { if (s[p] == '\\') throw Err("escapes in strings are not supported"); p++; }
            if (p >= s.Length) throw Err("unterminated string");
            return s[start..p++];
        }

        long[] ParseTuple()
        {
            Expect('(');
            var items = new List<long>();
            while (true)
            {
                if (TryEat(')')) return items.ToArray();
                SkipWs();
                int start = p;
                while (p < s.Length && char.IsAsciiDigit(s[p])) p++;
                if (p < s.Length && s[p] == 'L') p++; // Python 2 longs
                string num = s[start..p].TrimEnd('L');
                if (num.Length == 0 || !long.TryParse(num, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
                    throw Err("expected a non-negative integer in the shape tuple");
                items.Add(v);
                if (TryEat(',')) continue;
                Expect(')');
                return items.ToArray();
            }
        }
    }
}
