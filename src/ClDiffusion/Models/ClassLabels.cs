namespace ClDiffusion.Models;

/// <summary>
/// A score model that can be asked for a class: s_t(x | c) for c in 0..NumClasses-1, and the unconditional score
/// s_t(x | null) for the null label (<see cref="ClassLabels.Null"/>). Backends receive labels per row.
/// </summary>
public interface IClassConditional
{
    /// <summary>Number of classes (0: the model ignores labels and accepts only the null label).</summary>
    int NumClasses { get; }
}

/// <summary>
/// Which class each sample is drawn for. Labels follow global sample indices (not batch rows), so a sample's class,
/// like its noise, does not depend on batching, chunking or the device. Either one class for every sample, or a
/// per-sample array indexed by the global sample index; <see cref="Null"/> (-1) asks for an unconditional sample.
/// </summary>
public sealed class ClassLabels
{
    /// <summary>The null label: the unconditional score (the model's null class).</summary>
    public const int Null = -1;

    readonly int single;
    readonly int[]? perSample;
    readonly long offset;   // perSample[i] is the label of global sample offset + i

    ClassLabels(int single, int[]? perSample, long offset = 0) { this.single = single; this.perSample = perSample; this.offset = offset; }

    /// <summary>Every sample gets class c (or <see cref="Null"/>).</summary>
    public static ClassLabels All(int c)
    {
        if (c < Null) throw new ArgumentException($"class {c} is negative (use -1 for unconditional samples)");
        return new(c, null);
    }

    /// <summary>Sample firstSample + i (global index) gets labels[i]; the array is copied.</summary>
    public static ClassLabels PerSample(ReadOnlySpan<int> labels, long firstSample = 0)
    {
        if (labels.Length == 0) throw new ArgumentException("the per-sample label array is empty");
        if (firstSample < 0) throw new ArgumentException($"first labelled sample {firstSample} is negative");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] < Null) throw new ArgumentException($"label {i} is {labels[i]}: labels are classes >= 0, or -1 for unconditional");
        return new(Null, labels.ToArray(), firstSample);
    }

    /// <summary>Number of per-sample labels (null: one class for all samples).</summary>
    public int? Count => perSample?.Length;
    /// <summary>Global index of the first labelled sample (per-sample labels).</summary>
    public long FirstSample => offset;

    /// <summary>The one class of every sample (null for per-sample labels).</summary>
    public int? Single => perSample is null ? single : null;

    /// <summary>Label of global sample index i.</summary>
    public int Of(long sample)
    {
        if (perSample is null) return single;
        if (sample < offset || sample - offset >= perSample.Length)
            throw new ArgumentException($"sample {sample} has no label: the labels cover samples [{offset}, {offset + perSample.Length})");
        return perSample[sample - offset];
    }

    /// <summary>Checks that samples [first, first + n) have labels and that every label is a class of the model.</summary>
    public void Validate(IScoreModel model, long first, long n)
    {
        int classes = model is IClassConditional c ? c.NumClasses : 0;
        if (perSample is not null && (first < offset || first + n > offset + perSample.Length))
            throw new ArgumentException($"samples [{first}, {first + n}) need labels, but the labels cover samples [{offset}, {offset + perSample.Length}) ({perSample.Length} labels)");
        int max = perSample is null ? single : MaxOf(perSample.AsSpan((int)(first - offset), (int)n));
        if (max >= classes)
            throw new ArgumentException(classes == 0
                ? $"class {max} asked for, but {model.Describe()} is not class-conditional"
                : $"class {max} is outside the model's classes 0..{classes - 1} (-1 = unconditional)");
    }

    static int MaxOf(ReadOnlySpan<int> v) { int m = Null; foreach (var x in v) m = Math.Max(m, x); return m; }

    /// <summary>
    /// A per-sample label file: text with one whole number per line (or separated by spaces or commas; -1 =
    /// unconditional), or a .npy array of whole numbers. Entry i is the label of global sample index i.
    /// </summary>
    public static ClassLabels Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"label file not found: {path}", path);
        int[] labels;
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            var a = IO.Npy.Read(path).ToFloat64();
            labels = new int[a.Length];
            for (int i = 0; i < a.Length; i++)
                labels[i] = a[i] == Math.Floor(a[i]) && a[i] >= Null && a[i] < 1 << 24 ? (int)a[i] : throw new InvalidDataException($"{path}: label {i} is {a[i]}, not a class >= 0 or -1");
        }
        else
        {
            var parts = File.ReadAllText(path).Split([' ', '\t', '\r', '\n', ','], StringSplitOptions.RemoveEmptyEntries);
            labels = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out labels[i]) || labels[i] < Null)
                    throw new InvalidDataException($"{path}: label {i} '{parts[i]}' is not a class >= 0 or -1");
        }
        if (labels.Length == 0) throw new InvalidDataException($"{path}: no labels");
        return PerSample(labels);
    }

    /// <summary>Classes in equal contiguous blocks: sample i of [first, first + n) gets class (i - first) * classes / n (a picture with one row per class).</summary>
    public static ClassLabels Blocks(int classes, long first, int n)
    {
        if (classes < 1) throw new ArgumentException("the model has no classes");
        var l = new int[n];
        for (int i = 0; i < n; i++) l[i] = (int)((long)i * classes / n);
        return PerSample(l, first);
    }

    public override string ToString() => perSample is null ? (single == Null ? "unconditional" : $"class {single}") : $"{perSample.Length} per-sample labels";
}
