namespace ClDiffusion.Scheduling;

/// <summary>
/// A file written through a temporary sibling that is renamed over the destination only when the writer completes:
/// a reader never sees a partial file under the final name; on failure or cancellation the temporary is deleted.
/// </summary>
public static class OutputFile
{
    public static async Task WriteAsync(string path, Func<Stream, Task> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{path}: folder does not exist: {dir}");
        string temp = TempName(full);
        try
        {
            await using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                await write(fs).ConfigureAwait(false);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    public static void Write(string path, Action<Stream> write) =>
        WriteAsync(path, s => { write(s); return Task.CompletedTask; }).GetAwaiter().GetResult();

    /// <summary>The temporary names used for `full` start with this prefix (tests look for leftovers).</summary>
    public static string TempPrefix(string full) => $".{Path.GetFileName(full)}.";
    static string TempName(string full) => Path.Combine(Path.GetDirectoryName(full) ?? ".", $"{TempPrefix(full)}{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
}

/// <summary>Concatenates float32 .npy files along axis 0 (the shards of one run, in shard order), checking shapes.</summary>
public static class NpyMerge
{
    /// <summary>Merges `inputs` into `output` (atomically); returns the merged shape. All inputs must be '&lt;f4', C order, with the same columns.</summary>
    public static (long rows, int cols) Merge(IReadOnlyList<string> inputs, string output)
    {
        if (inputs.Count == 0) throw new ArgumentException("merge needs at least one input file");
        var full = Path.GetFullPath(output);
        foreach (var i in inputs)
            if (string.Equals(Path.GetFullPath(i), full, StringComparison.Ordinal)) throw new ArgumentException($"merge output {output} is also an input");
        long rows = 0; int cols = -1, rank = -1;
        var heads = new List<(string path, long rows, long offset)>();
        foreach (var path in inputs)
        {
            using var f = File.OpenRead(path);
            var (r, c, k, off) = NpyFormat.ReadFloat32Header(f, path);
            if (cols < 0) { cols = c; rank = k; }
            else if (c != cols || k != rank)
                throw new InvalidDataException($"{path}: shape ({r}{(k == 2 ? $", {c}" : ",")}) does not match the first input's {(rank == 2 ? $"(*, {cols})" : "(*,)")}");
            long need = off + r * c * 4L;
            if (f.Length != need) throw new InvalidDataException($"{path}: {f.Length} bytes, the header (shape ({r}, {c})) needs {need}");
            rows += r;
            heads.Add((path, r, off));
        }
        OutputFile.Write(output, s =>
        {
            s.Write(NpyFormat.Header(rows, cols, rank == 1));
            foreach (var (path, _, off) in heads)
            {
                using var f = File.OpenRead(path);
                f.Seek(off, SeekOrigin.Begin);
                f.CopyTo(s, 1 << 20);
            }
        });
        return (rows, cols);
    }
}
