namespace ClDiffusion.Data;

/// <summary>
/// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, MIT licence) from Debian's package `dataset-fashion-mnist`, which
/// installs the four gzip IDX files in /usr/share/datasets/fashion-mnist: 60,000 training and 10,000 test images of
/// 28 x 28 grey pixels (0..255) and their labels 0..9. Pixels are kept as grey levels (0..255 as float32), as the
/// optdigits path keeps its 0..16 levels; the model normalises them per pixel (<see cref="TrainingData"/>).
/// </summary>
public static class FashionMnist
{
    public const int Side = 28, Dim = Side * Side, Classes = 10;
    public const string Package = "dataset-fashion-mnist";
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";
    /// <summary>Overrides <see cref="DefaultDirectory"/> (a folder holding the four IDX files).</summary>
    public const string DirectoryVariable = "CLDIFF_FASHION_MNIST";
    /// <summary>Floor of the per-pixel normalisation std, in grey levels (see <see cref="TrainingData"/>).</summary>
    public const float MinStd = 16f;

    public static readonly string[] ClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public sealed record Set(float[] Pixels, int[] Labels)
    {
        public int Count => Labels.Length;
    }

    /// <summary>The folder to read: the argument, else $CLDIFF_FASHION_MNIST, else the Debian package's folder.</summary>
    public static string DataDirectory(string? dir = null) =>
        dir ?? (Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } e ? e : DefaultDirectory);

    /// <summary>Whether the four files are present (tests that need the real data skip without them).</summary>
    public static bool IsInstalled(string? dir = null)
    {
        var d = DataDirectory(dir);
        return new[] { "train", "t10k" }.All(p => File.Exists(ImagesPath(d, p)) && File.Exists(LabelsPath(d, p)));
    }

    static string ImagesPath(string dir, string prefix) => Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz");
    static string LabelsPath(string dir, string prefix) => Path.Combine(dir, $"{prefix}-labels-idx1-ubyte.gz");

    /// <summary>The training split (60,000 images in the package).</summary>
    public static Set LoadTrain(string? dir = null) => Load(DataDirectory(dir), "train");
    /// <summary>The test split (10,000 images in the package); never used for training.</summary>
    public static Set LoadTest(string? dir = null) => Load(DataDirectory(dir), "t10k");

    static Set Load(string dir, string prefix)
    {
        string ip = ImagesPath(dir, prefix), lp = LabelsPath(dir, prefix);
        foreach (var p in new[] { ip, lp })
            if (!File.Exists(p))
                throw new FileNotFoundException(dir == DefaultDirectory
                    ? $"Fashion-MNIST not found: {p} is missing; install Debian's package with 'sudo apt-get install {Package}' (or point ${DirectoryVariable} at a folder with the four IDX files)"
                    : $"Fashion-MNIST not found: {p} is missing (${DirectoryVariable} or the folder given names {dir}; the package {Package} installs them in {DefaultDirectory})", p);
        var images = Idx.Read(ip, expectDims: 3);
        var labels = Idx.Read(lp, expectDims: 1);
        if (images.Dims[1] != Side || images.Dims[2] != Side)
            throw new InvalidDataException($"{ip}: images are {images.Dims[1]} x {images.Dims[2]}, expected {Side} x {Side}");
        if (labels.Count != images.Count)
            throw new InvalidDataException($"{lp}: {labels.Count} labels for the {images.Count} images of {ip}");
        var lab = new int[labels.Count];
        for (int i = 0; i < lab.Length; i++)
        {
            lab[i] = labels.Data[i];
            if (lab[i] >= Classes) throw new InvalidDataException($"{lp}: label {i} is {lab[i]}, expected a class 0..{Classes - 1}");
        }
        var px = new float[images.Data.Length];
        for (int i = 0; i < px.Length; i++) px[i] = images.Data[i];
        return new Set(px, lab);
    }

    /// <summary>
    /// The training split as trainer data. The per-pixel normalisation std is floored at <see cref="MinStd"/> grey
    /// levels: border pixels are almost always 0, and a smaller floor would turn their rare non-zero values into
    /// outliers of tens of standard deviations in the normalised space the network sees.
    /// </summary>
    public static TabularData TrainingData(string? dir = null)
    {
        var train = LoadTrain(dir);
        return new("fashion-mnist", train.Pixels, Dim, train.Labels) { MinStd = MinStd };
    }
}
