using System.IO.Compression;

namespace ClDiffusion.Data;

/// <summary>
/// The Fashion-MNIST IDX files (gzip; Debian package dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist)
/// as read by the image metric (docs/IMAGES.md): images as float32 rows of 784 raw pixel values 0..255, labels 0..9.
/// MERGE NOTE: a stand-in with the same names as the FashionMnist of branch h-fashion-model (the training data's reader,
/// written in parallel); when both branches are merged, delete this file and the metric uses that one unchanged.
/// </summary>
public static class FashionMnist
{
    public const int Side = 28, Dim = Side * Side, Classes = 10;
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";
    /// <summary>Environment variable that overrides <see cref="DefaultDirectory"/>.</summary>
    public const string DirectoryVariable = "CLDIFF_FASHION_MNIST";

    public static readonly string[] ClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public sealed record Set(float[] Pixels, int[] Labels)
    {
        public int Count => Labels.Length;
    }

    /// <summary>The folder of the gz files: dir, else $CLDIFF_FASHION_MNIST, else /usr/share/datasets/fashion-mnist.</summary>
    public static string DataDirectory(string? dir = null) =>
        dir ?? (Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } e ? e : DefaultDirectory);

    /// <summary>True when the four files are in the folder (tests skip without them).</summary>
    public static bool IsInstalled(string? dir = null)
    {
        var d = DataDirectory(dir);
        return new[] { "train", "t10k" }.All(s => File.Exists(ImagesPath(d, s)) && File.Exists(LabelsPath(d, s)));
    }

    static string ImagesPath(string dir, string split) => Path.Combine(dir, $"{split}-images-idx3-ubyte.gz");
    static string LabelsPath(string dir, string split) => Path.Combine(dir, $"{split}-labels-idx1-ubyte.gz");

    /// <summary>The 60,000 training images.</summary>
    public static Set LoadTrain(string? dir = null) => Load(DataDirectory(dir), "train");

    /// <summary>The 10,000 test images.</summary>
    public static Set LoadTest(string? dir = null) => Load(DataDirectory(dir), "t10k");

    static Set Load(string dir, string split)
    {
        string ip = ImagesPath(dir, split), lp = LabelsPath(dir, split);
        foreach (var p in new[] { ip, lp })
            if (!File.Exists(p))
                throw new FileNotFoundException($"Fashion-MNIST file {p} not found (install the Debian package dataset-fashion-mnist, or set {DirectoryVariable} to the folder of the gz IDX files)", p);
        var (img, idims) = ReadIdx(ip);
        var (lab, ldims) = ReadIdx(lp);
        if (idims.Length != 3 || idims[1] != Side || idims[2] != Side) throw new InvalidDataException($"{ip}: shape [{string.Join(", ", idims)}], expected [n, 28, 28]");
        if (ldims.Length != 1 || ldims[0] != idims[0]) throw new InvalidDataException($"{lp}: shape [{string.Join(", ", ldims)}] does not match {idims[0]} images");
        var px = new float[img.Length];
        for (int i = 0; i < img.Length; i++) px[i] = img[i];
        var labels = new int[lab.Length];
        for (int i = 0; i < lab.Length; i++)
            labels[i] = lab[i] < Classes ? lab[i] : throw new InvalidDataException($"{lp}: label {i} is {lab[i]}, not 0..9");
        return new Set(px, labels);
    }

    /// <summary>An unsigned-byte IDX file (magic 0x0000080N), gzip-compressed: the bytes and the dimensions.</summary>
    static (byte[] data, int[] dims) ReadIdx(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var raw = ms.GetBuffer().AsSpan(0, (int)ms.Length);
        if (raw.Length < 4 || raw[0] != 0 || raw[1] != 0 || raw[2] != 0x08)
            throw new InvalidDataException($"{path}: not an unsigned-byte IDX file");
        int nd = raw[3];
        if (nd < 1 || raw.Length < 4 + 4 * nd) throw new InvalidDataException($"{path}: truncated IDX header");
        var dims = new int[nd];
        long total = 1;
        for (int k = 0; k < nd; k++)
        {
            dims[k] = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(raw.Slice(4 + 4 * k, 4));
            if (dims[k] < 0) throw new InvalidDataException($"{path}: dimension {k} is {dims[k]}");
            total *= dims[k];
        }
        int head = 4 + 4 * nd;
        if (raw.Length - head != total) throw new InvalidDataException($"{path}: {raw.Length - head} data bytes for shape [{string.Join(", ", dims)}]");
        return (raw[head..].ToArray(), dims);
    }
}
