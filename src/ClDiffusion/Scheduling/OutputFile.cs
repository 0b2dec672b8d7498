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
        CheckSameRun(inputs);
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

    /// <summary>
    /// When the inputs carry shard records (<see cref="ShardRecord"/>, written by <c>cldiff sample --shard</c>): all must
    /// carry one, all must be of the same run, and they must be the shards 0..N-1 of that run in order, each file matching
    /// its record. An <see cref="InvalidDataException"/> naming the file and the difference otherwise. Inputs without
    /// any record are plain .npy files and are only checked for shape.
    /// </summary>
    public static void CheckSameRun(IReadOnlyList<string> inputs)
    {
        var has = inputs.Select(p => File.Exists(ShardRecord.PathFor(p))).ToList();
        if (!has.Contains(true)) return;
        if (has.Contains(false))
        {
            string with = inputs[has.IndexOf(true)], without = inputs[has.IndexOf(false)];
            throw new InvalidDataException($"{without} has no run record ({Path.GetFileName(ShardRecord.PathFor(without))}) but {with} has one: " +
                "cannot tell whether they are shards of the same run (an unfinished shard, or a file from elsewhere); redo the shard or merge plain .npy files only");
        }
        var recs = inputs.Select(p => ShardRecord.Read(ShardRecord.PathFor(p))).ToList();
        for (int i = 0; i < inputs.Count; i++)
        {
            if (i > 0 && RunIdentity.Difference(recs[0].Run, recs[i].Run) is { } diff)
                throw new InvalidDataException($"{inputs[i]} is from a different run than {inputs[0]} ({diff}): refusing to merge shards of different runs");
            if (recs[i].Shard.Count != recs[0].Shard.Count)
                throw new InvalidDataException($"{inputs[i]} is shard {recs[i].Shard} but {inputs[0]} is shard {recs[0].Shard}: different shard counts");
            if (ShardRecord.WhyFileDiffers(inputs[i], recs[i]) is { } bad) throw new InvalidDataException(bad);
        }
        int count = recs[0].Shard.Count;
        for (int i = 0; i < Math.Min(count, inputs.Count); i++)
            if (recs[i].Shard.Index != i)
            {
                int at = recs.FindIndex(r => r.Shard.Index == i);
                throw new InvalidDataException(at < 0
                    ? $"shard {i}/{count} is missing from the inputs (position {i} holds {inputs[i]}, shard {recs[i].Shard})"
                    : $"{inputs[i]} is shard {recs[i].Shard} but stands at position {i}: give the shards in order 0..{count - 1}");
            }
        if (inputs.Count != count)
            throw new InvalidDataException(inputs.Count < count
                ? $"the run has {count} shards but {inputs.Count} files were given: shards {inputs.Count}..{count - 1} of {count} are missing"
                : $"the run has {count} shards but {inputs.Count} files were given");
    }
}
