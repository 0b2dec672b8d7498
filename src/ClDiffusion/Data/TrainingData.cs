using System.Globalization;
using System.IO.Compression;
using System.Text;
using ClDiffusion.Random;

namespace ClDiffusion.Data;

/// <summary>
/// Training data for the MLP trainer: draws rows in data space. Randomness only from <see cref="RandomKey"/>:
/// row i of training step s uses key (seed, step s, <see cref="DataPurpose"/>) with sample index i, so a draw
/// depends on nothing but (seed, step, i).
/// </summary>
public interface ITrainingData
{
    int Dim { get; }
    string Name { get; }
    void Draw(ulong seed, uint step, int count, Span<float> rows);
    /// <summary>Per-dimension mean and standard deviation used to normalise the data (stored in the model file).</summary>
    (float[] mean, float[] std) Normalisation();
}

/// <summary>Training data whose rows carry class labels 0..NumClasses-1 (for class-conditional training).</summary>
public interface ILabelledTrainingData : ITrainingData
{
    /// <summary>Number of classes (0: the rows carry no labels).</summary>
    int NumClasses { get; }
    /// <summary>The labels of the rows <see cref="ITrainingData.Draw"/> returns for the same (seed, step, count).</summary>
    void DrawLabels(ulong seed, uint step, int count, Span<int> labels);
}

public static class DataPurpose
{
    /// <summary>Philox purpose of training-data draws ('DT' tag; outside the sampler purposes).</summary>
    public const Purpose Draw = (Purpose)0x4454_0001;
}

/// <summary>
/// 2-d checkerboard: uniform on the squares of a 4x4 board on [-4, 4]^2 (side 2) whose floor(x/2) + floor(y/2) is even.
/// Exact statistics: each coordinate is uniform on [-4, 4], mean 0, variance 16/3.
/// </summary>
public sealed class Checkerboard : ITrainingData
{
    public int Dim => 2;
    public string Name => "checkerboard";
    static readonly (int cx, int cy)[] Cells = Enumerable.Range(-2, 4).SelectMany(cx => Enumerable.Range(-2, 4).Select(cy => (cx, cy)))
        .Where(c => ((c.cx + c.cy) & 1) == 0).ToArray();

    public void Draw(ulong seed, uint step, int count, Span<float> rows)
    {
        var key = new RandomKey(seed, step, DataPurpose.Draw);
        for (int i = 0; i < count; i++)
        {
            var (c, ux, uy) = (key.Uniform(i, 0), key.Uniform(i, 1), key.Uniform(i, 2));
            var cell = Cells[Math.Min(Cells.Length - 1, (int)(c * Cells.Length))];
            rows[2 * i] = 2 * (cell.cx + ux);
            rows[2 * i + 1] = 2 * (cell.cy + uy);
        }
    }

    public (float[] mean, float[] std) Normalisation() => (new float[2], new[] { MathF.Sqrt(16f / 3), MathF.Sqrt(16f / 3) });

    /// <summary>True when (x, y) lies on a square of the board that carries mass.</summary>
    public static bool OnBoard(float x, float y)
    {
        if (!(x >= -4 && x < 4 && y >= -4 && y < 4)) return false;
        int a = (int)MathF.Floor(x / 2), b = (int)MathF.Floor(y / 2);
        return ((a + b) & 1) == 0;
    }
}

/// <summary>A finite data set held in memory (rows x Dim, float32); training draws rows uniformly with replacement.</summary>
public sealed class TabularData : ILabelledTrainingData
{
    public float[] Rows { get; }
    public int Count { get; }
    public int Dim { get; }
    public string Name { get; }
    /// <summary>Lower bound on each normalisation standard deviation (constant columns stay finite).</summary>
    public float MinStd { get; init; } = 1e-3f;
    /// <summary>Class of each row (null: unlabelled).</summary>
    public int[]? Labels { get; }
    public int NumClasses { get; }

    /// <param name="labels">optional class of each row, 0..classes-1 (classes = max label + 1)</param>
    public TabularData(string name, float[] rows, int dim, int[]? labels = null)
    {
        if (dim < 1 || rows.Length == 0 || rows.Length % dim != 0) throw new InvalidDataException($"{name}: {rows.Length} values are not a non-empty set of rows of {dim}");
        for (int i = 0; i < rows.Length; i++)
            if (!float.IsFinite(rows[i])) throw new InvalidDataException($"{name}: value {i} (row {i / dim}) is {rows[i]}");
        Name = name; Rows = rows; Dim = dim; Count = rows.Length / dim;
        if (labels is not null)
        {
            if (labels.Length != Count) throw new InvalidDataException($"{name}: {labels.Length} labels for {Count} rows");
            for (int i = 0; i < labels.Length; i++)
                if (labels[i] < 0 || labels[i] > 65535) throw new InvalidDataException($"{name}: label {i} is {labels[i]}, must be a class in 0..65535");
            Labels = labels; NumClasses = labels.Max() + 1;
        }
    }

    int RowOf(in RandomKey key, int i) => Math.Min(Count - 1, (int)(key.Uniform(i, 0) * Count));

    public void Draw(ulong seed, uint step, int count, Span<float> rows)
    {
        var key = new RandomKey(seed, step, DataPurpose.Draw);
        for (int i = 0; i < count; i++)
            Rows.AsSpan(RowOf(key, i) * Dim, Dim).CopyTo(rows.Slice(i * Dim, Dim));
    }

    public void DrawLabels(ulong seed, uint step, int count, Span<int> labels)
    {
        if (Labels is null) throw new InvalidOperationException($"{Name} has no labels");
        var key = new RandomKey(seed, step, DataPurpose.Draw);
        for (int i = 0; i < count; i++) labels[i] = Labels[RowOf(key, i)];
    }

    public (float[] mean, float[] std) Normalisation()
    {
        var mean = new float[Dim]; var std = new float[Dim];
        for (int j = 0; j < Dim; j++)
        {
            double s = 0, s2 = 0;
            for (int i = 0; i < Count; i++) s += Rows[i * Dim + j];
            double m = s / Count;
            for (int i = 0; i < Count; i++) { double e = Rows[i * Dim + j] - m; s2 += e * e; }
            mean[j] = (float)m;
            std[j] = MathF.Max(MinStd, (float)Math.Sqrt(s2 / Count));
        }
        return (mean, std);
    }
}

/// <summary>
/// optdigits (data/optdigits/digits.csv.gz, see the README there for attribution): 1797 rows of 64 pixels (0..16) and a label.
/// Deterministic split: every 5th row (index % 5 == 4) is held out, the rest is for training.
/// </summary>
public static class OptDigits
{
    public const int Dim = 64;

    public sealed record Set(float[] Pixels, int[] Labels)
    {
        public int Count => Labels.Length;
    }

    /// <summary>Finds data/optdigits/digits.csv.gz upward from the working directory and from the assembly location.</summary>
    public static string DefaultPath()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var p = Path.Combine(dir.FullName, "data", "optdigits", "digits.csv.gz");
                if (File.Exists(p)) return p;
            }
        throw new FileNotFoundException("data/optdigits/digits.csv.gz not found above the working directory or the program");
    }

    public static Set LoadAll(string? path = null)
    {
        path ??= DefaultPath();
        var px = new List<float>(); var lb = new List<int>();
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var rd = new StreamReader(gz, Encoding.ASCII);
        int line = 0;
        for (string? s; (s = rd.ReadLine()) is not null;)
        {
            line++;
            if (s.Length == 0) continue;
            var parts = s.Split(',');
            if (parts.Length != Dim + 1) throw new InvalidDataException($"{path}: line {line} has {parts.Length} fields, expected {Dim + 1}");
            for (int j = 0; j <= Dim; j++)
            {
                if (!int.TryParse(parts[j], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
                    throw new InvalidDataException($"{path}: line {line} field {j + 1} '{parts[j]}' is not an integer");
                if (j < Dim) px.Add(v); else lb.Add(v);
            }
        }
        return new Set(px.ToArray(), lb.ToArray());
    }

    public static bool IsHeldOut(int row) => row % 5 == 4;

    public static (Set train, Set heldOut) LoadSplit(string? path = null)
    {
        var all = LoadAll(path);
        Set Pick(bool held)
        {
            var idx = Enumerable.Range(0, all.Count).Where(i => IsHeldOut(i) == held).ToArray();
            var p = new float[idx.Length * Dim];
            for (int k = 0; k < idx.Length; k++) all.Pixels.AsSpan(idx[k] * Dim, Dim).CopyTo(p.AsSpan(k * Dim));
            return new Set(p, idx.Select(i => all.Labels[i]).ToArray());
        }
        return (Pick(false), Pick(true));
    }

    /// <summary>Training split as trainer data; normalisation std floored at 1 grey level (border pixels are nearly constant).</summary>
    public static TabularData TrainingData(string? path = null)
    {
        var train = LoadSplit(path).train;
        return new("optdigits", train.Pixels, Dim, train.Labels) { MinStd = 1f };
    }
}

/// <summary>Training data from a .npy file of shape [rows, dim] (read by the shared, validating reader).</summary>
public static class NpyData
{
    public static TabularData Load(string path)
    {
        var arr = ClDiffusion.IO.Npy.Read(path);
        if (arr.Shape.Length != 2) throw new InvalidDataException($"{path}: shape ({string.Join(", ", arr.Shape)}) must be 2-d (rows, dim)");
        return new TabularData(Path.GetFileName(path), arr.ToFloat32(), arr.Cols);
    }
}
