using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace ClDiffusion.Models.Mlp;

/// <summary>Element types a safetensors file may hold that this library converts to float32 on load.</summary>
public enum TensorDType { F32, F16, BF16, F64 }

/// <summary>One tensor, converted to float32, row-major with its shape.</summary>
public sealed record SafeTensor(string Name, TensorDType StoredAs, long[] Shape, float[] Data)
{
    public long Count => Data.LongLength;
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>A parsed safetensors file: string metadata and tensors by name (in file order).</summary>
public sealed class SafetensorsFile
{
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyList<SafeTensor> Tensors { get; }
    readonly Dictionary<string, SafeTensor> byName;
    public SafetensorsFile(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<SafeTensor> tensors)
    {
        Metadata = metadata; Tensors = tensors;
        byName = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var t in tensors)
            if (!byName.TryAdd(t.Name, t)) throw new InvalidDataException($"tensor '{t.Name}' appears twice");
    }
    public bool TryGet(string name, out SafeTensor tensor) => byName.TryGetValue(name, out tensor!);
    public SafeTensor? Get(string name) => byName.GetValueOrDefault(name);
}

/// <summary>
/// Reader for the safetensors format (https://github.com/huggingface/safetensors): 8-byte little-endian unsigned
/// header length N, N bytes of UTF-8 JSON {"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets": [begin, end]}},
/// then the byte buffer; offsets are relative to the start of the buffer. Every problem is reported as an
/// <see cref="InvalidDataException"/> naming the tensor; nothing is read outside the file.
/// </summary>
public static class SafetensorsReader
{
    /// <summary>Largest header accepted (the reference implementation uses the same 100 MB limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public static SafetensorsFile Read(string path)
    {
        byte[] bytes;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (fs.Length > int.MaxValue - 64) throw new InvalidDataException($"{path}: file of {fs.Length} bytes is too large");
            bytes = new byte[fs.Length];
            fs.ReadExactly(bytes);
        }
        catch (InvalidDataException) { throw; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{path}: cannot read: {e.Message}", e);
        }
        try { return Read(bytes); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    public static SafetensorsFile Read(ReadOnlySpan<byte> file)
    {
        if (file.Length < 8) throw new InvalidDataException($"file of {file.Length} bytes is too short for the 8-byte header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (n > MaxHeaderBytes) throw new InvalidDataException($"header length {n} exceeds the limit of {MaxHeaderBytes} bytes");
        if (n > (ulong)(file.Length - 8)) throw new InvalidDataException($"header length {n} runs past the end of the file ({file.Length} bytes)");
        if (n < 2) throw new InvalidDataException($"header length {n} is too short for a JSON object");
        var header = file.Slice(8, (int)n);
        var buffer = file.Slice(8 + (int)n);
        if (header[0] != (byte)'{') throw new InvalidDataException("header does not start with '{'");
        if (!System.Text.Unicode.Utf8.IsValid(header)) throw new InvalidDataException("header is not valid UTF-8");

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<(string name, TensorDType dtype, long[] shape, long begin, long end)>();
        try
        {
            using var doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException("header is not a JSON object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in root.EnumerateObject())
            {
                if (!seen.Add(prop.Name)) throw new InvalidDataException($"header names '{prop.Name}' twice");
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException("__metadata__ must be an object of strings");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"__metadata__ entry '{m.Name}' is not a string");
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw new InvalidDataException($"__metadata__ names '{m.Name}' twice");
                    }
                    continue;
                }
                entries.Add(ParseEntry(prop.Name, prop.Value));
            }
        }
        catch (JsonException e) { throw new InvalidDataException($"header is not valid JSON: {e.Message}", e); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { throw new InvalidDataException($"header is not valid UTF-8 JSON: {e.Message}", e); }

        // Offsets inside the buffer, sizes consistent with shapes, no two tensors sharing bytes.
        foreach (var e in entries)
        {
            long size = ElementSize(e.dtype);
            long count = 1;
            foreach (var s in e.shape)
            {
                if (s != 0 && count > long.MaxValue / 16 / s) throw new InvalidDataException($"tensor '{e.name}': shape [{string.Join(", ", e.shape)}] is too large");
                count *= s;
            }
            if (e.end > buffer.Length) throw new InvalidDataException($"tensor '{e.name}': data_offsets [{e.begin}, {e.end}] run past the end of the data buffer ({buffer.Length} bytes)");
            if (e.end - e.begin != count * size)
                throw new InvalidDataException($"tensor '{e.name}': data_offsets [{e.begin}, {e.end}] hold {e.end - e.begin} bytes, but shape [{string.Join(", ", e.shape)}] of {e.dtype} needs {count * size}");
            if (count > int.MaxValue / 2) throw new InvalidDataException($"tensor '{e.name}': {count} elements are too many");
        }
        var sorted = entries.OrderBy(e => e.begin).ThenBy(e => e.end).ToList();
        int reach = -1; // index of the non-empty tensor reaching furthest so far
        for (int i = 0; i < sorted.Count; i++)
        {
            var b = sorted[i];
            if (b.end == b.begin) continue;
            if (reach >= 0 && b.begin < sorted[reach].end)
            {
                var a = sorted[reach];
                throw new InvalidDataException($"tensor '{b.name}': data_offsets [{b.begin}, {b.end}] overlap those of tensor '{a.name}' [{a.begin}, {a.end}]");
            }
            if (reach < 0 || b.end > sorted[reach].end) reach = i;
        }

        var tensors = new List<SafeTensor>(entries.Count);
        foreach (var e in entries)
        {
            var bytes = buffer.Slice((int)e.begin, (int)(e.end - e.begin));
            tensors.Add(new SafeTensor(e.name, e.dtype, e.shape, Convert(bytes, e.dtype)));
        }
        return new SafetensorsFile(metadata, tensors);
    }

    static (string, TensorDType, long[], long, long) ParseEntry(string name, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"tensor '{name}': entry is not a JSON object");
        JsonElement dt = default, sh = default, off = default;
        bool hasDt = false, hasSh = false, hasOff = false;
        foreach (var p in v.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype": if (hasDt) throw Dup(name, p.Name); dt = p.Value; hasDt = true; break;
                case "shape": if (hasSh) throw Dup(name, p.Name); sh = p.Value; hasSh = true; break;
                case "data_offsets": if (hasOff) throw Dup(name, p.Name); off = p.Value; hasOff = true; break;
                default: throw new InvalidDataException($"tensor '{name}': unknown field '{p.Name}'");
            }
        }
        if (!hasDt || dt.ValueKind != JsonValueKind.String) throw new InvalidDataException($"tensor '{name}': missing or non-string \"dtype\"");
        var dtype = dt.GetString() switch
        {
            "F32" => TensorDType.F32,
            "F16" => TensorDType.F16,
            "BF16" => TensorDType.BF16,
            "F64" => TensorDType.F64,
            var s => throw new InvalidDataException($"tensor '{name}': dtype '{s}' is not supported (use F32, F16, BF16 or F64)"),
        };
        if (!hasSh || sh.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"tensor '{name}': missing or non-array \"shape\"");
        if (sh.GetArrayLength() > 8) throw new InvalidDataException($"tensor '{name}': shape has {sh.GetArrayLength()} dimensions (at most 8)");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var s in sh.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out long x) || x < 0)
                throw new InvalidDataException($"tensor '{name}': shape entry {i} is not a non-negative integer");
            shape[i++] = x;
        }
        if (!hasOff || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new InvalidDataException($"tensor '{name}': \"data_offsets\" must be an array [begin, end]");
        long begin = Offset(name, off[0]), end = Offset(name, off[1]);
        if (end < begin) throw new InvalidDataException($"tensor '{name}': data_offsets [{begin}, {end}] end before they begin");
        return (name, dtype, shape, begin, end);
    }

    static InvalidDataException Dup(string name, string field) => new($"tensor '{name}': field '{field}' appears twice");

    static long Offset(string name, JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long x) || x < 0)
            throw new InvalidDataException($"tensor '{name}': data_offsets must be non-negative integers");
        return x;
    }

    public static int ElementSize(TensorDType t) => t switch { TensorDType.F32 => 4, TensorDType.F64 => 8, _ => 2 };

    public static string Name(TensorDType t) => t.ToString();

    static float[] Convert(ReadOnlySpan<byte> b, TensorDType dtype)
    {
        int size = ElementSize(dtype), n = b.Length / size;
        var r = new float[n];
        switch (dtype)
        {
            case TensorDType.F32:
                for (int i = 0; i < n; i++) r[i] = BinaryPrimitives.ReadSingleLittleEndian(b.Slice(4 * i));
                break;
            case TensorDType.F64:
                for (int i = 0; i < n; i++) r[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(b.Slice(8 * i));
                break;
            case TensorDType.F16:
                for (int i = 0; i < n; i++) r[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(b.Slice(2 * i));
                break;
            case TensorDType.BF16:
                for (int i = 0; i < n; i++) r[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(2 * i)) << 16);
                break;
        }
        return r;
    }
}

/// <summary>Writes safetensors files: tensors contiguous in the given order, header padded with spaces to 8 bytes.</summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IReadOnlyDictionary<string, string> metadata,
        IEnumerable<(string name, long[] shape, float[] data)> tensors, TensorDType dtype = TensorDType.F32)
    {
        var bytes = ToBytes(metadata, tensors, dtype);
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }

    public static byte[] ToBytes(IReadOnlyDictionary<string, string> metadata,
        IEnumerable<(string name, long[] shape, float[] data)> tensors, TensorDType dtype = TensorDType.F32)
    {
        int size = SafetensorsReader.ElementSize(dtype);
        var list = tensors.ToList();
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var kv in metadata) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, shape, data) in list)
            {
                long count = 1; foreach (var s in shape) count *= s;
                if (count != data.LongLength) throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] does not match {data.Length} values");
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype.ToString());
                w.WriteStartArray("shape"); foreach (var s in shape) w.WriteNumberValue(s); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(offset); w.WriteNumberValue(offset + count * size); w.WriteEndArray();
                w.WriteEndObject();
                offset += count * size;
            }
            w.WriteEndObject();
        }
        var header = new List<byte>(ms.ToArray());
        while (header.Count % 8 != 0) header.Add((byte)' ');
        var outp = new MemoryStream();
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Count);
        outp.Write(len);
        outp.Write(header.ToArray());
        Span<byte> e = stackalloc byte[8];
        foreach (var (_, _, data) in list)
            foreach (var v in data)
            {
                switch (dtype)
                {
                    case TensorDType.F32: BinaryPrimitives.WriteSingleLittleEndian(e, v); break;
                    case TensorDType.F64: BinaryPrimitives.WriteDoubleLittleEndian(e, v); break;
                    case TensorDType.F16: BinaryPrimitives.WriteHalfLittleEndian(e, (Half)v); break;
                    case TensorDType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(e, ToBf16(v)); break;
                }
                outp.Write(e[..size]);
            }
        return outp.ToArray();
    }

    /// <summary>float32 to bfloat16 with round-to-nearest-even (NaN stays NaN).</summary>
    public static ushort ToBf16(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        if (float.IsNaN(v)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }
}
