using System.Globalization;
using System.Text;

namespace ClDiffusion.IO;

/// <summary>CSV output of an [n, d] row-major array: one row per line, comma-separated, no header,
/// invariant culture, round-trip ("R") number format. Written atomically.</summary>
public static class Csv
{
    public static void Write(string path, float[] data, int n, int d)
    {
        SampleFile.CheckSize(data?.LongLength ?? 0, n, d, nameof(data));
        AtomicFile.Write(path, s => WriteTo(s, data!, n, d));
    }

    public static void Write(string path, double[] data, int n, int d)
    {
        SampleFile.CheckSize(data?.LongLength ?? 0, n, d, nameof(data));
        AtomicFile.Write(path, s => WriteTo(s, data!, n, d));
    }

    public static void WriteTo(Stream stream, float[] data, int n, int d) =>
        WriteRows(stream, n, d, (sb, i) => sb.Append(data[i].ToString("R", CultureInfo.InvariantCulture)));

    public static void WriteTo(Stream stream, double[] data, int n, int d) =>
        WriteRows(stream, n, d, (sb, i) => sb.Append(data[i].ToString("R", CultureInfo.InvariantCulture)));

    static void WriteRows(Stream stream, int n, int d, Action<StringBuilder, long> append)
    {
        using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
        var sb = new StringBuilder();
        for (long i = 0; i < n; i++)
        {
            sb.Clear();
            for (int j = 0; j < d; j++)
            {
                if (j > 0) sb.Append(',');
                append(sb, i * d + j);
            }
            w.WriteLine(sb);
        }
        w.Flush();
    }
}

/// <summary>Writes samples [n, d] in the format chosen by the file extension: .npy (float32) or .csv.</summary>
public static class SampleFile
{
    public static void Write(string path, float[] data, int n, int d)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        switch (ext)
        {
            case ".npy": CheckSize(data?.LongLength ?? 0, n, d, nameof(data)); Npy.Write(path, data!, n, d); break;
            case ".csv": Csv.Write(path, data, n, d); break;
            default:
                throw new ArgumentException($"{path}: unsupported output extension '{(ext.Length == 0 ? "(none)" : ext)}'; use .npy or .csv", nameof(path));
        }
    }

    internal static void CheckSize(long length, int n, int d, string param)
    {
        if (n < 0 || d < 0) throw new ArgumentException($"n = {n} and d = {d} must be non-negative", param);
        if (length != (long)n * d) throw new ArgumentException($"data has {length} elements but n * d = {n} * {d} = {(long)n * d}", param);
    }
}
