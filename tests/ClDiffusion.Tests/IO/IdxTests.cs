using System.IO.Compression;
using ClDiffusion.Data;
using NUnit.Framework;

namespace ClDiffusion.Tests.IO;

/// <summary>The IDX reader (MNIST / Fashion-MNIST files) on files the tests write, good and broken, and on the real package.</summary>
[TestFixture]
public class IdxTests : TempFolderTests
{
    string P(string name) => Path.Combine(dir, name);

    static byte[] Header(byte type, params int[] dims)
    {
        var b = new List<byte> { 0, 0, type, (byte)dims.Length };
        foreach (var v in dims) b.AddRange([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);
        return b.ToArray();
    }

    string Raw(string name, byte[] bytes, bool gzip)
    {
        var p = P(name);
        if (!gzip) { File.WriteAllBytes(p, bytes); return p; }
        using var f = File.Create(p);
        using var gz = new GZipStream(f, CompressionLevel.Fastest);
        gz.Write(bytes);
        return p;
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ReadsWhatItWrites_PlainAndGzip(bool gzip)
    {
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)(i * 7)).ToArray();
        var p = P(gzip ? "a-idx3-ubyte.gz" : "a-idx3-ubyte");
        Idx.Write(p, [2, 3, 4], data);
        var a = Idx.Read(p, expectDims: 3);
        Assert.That(a.Dims, Is.EqualTo(new[] { 2, 3, 4 }));
        Assert.That(a.Count, Is.EqualTo(2));
        Assert.That(a.ItemSize, Is.EqualTo(12));
        Assert.That(a.Data, Is.EqualTo(data));
        // the header is the big-endian IDX header byte for byte (a reader of the real files agrees with the writer)
        var bytes = gzip ? Gunzip(File.ReadAllBytes(p)) : File.ReadAllBytes(p);
        Assert.That(bytes.Take(16).ToArray(), Is.EqualTo(Header(0x08, 2, 3, 4)));
    }

    static byte[] Gunzip(byte[] b)
    {
        using var gz = new GZipStream(new MemoryStream(b), CompressionMode.Decompress);
        var m = new MemoryStream();
        gz.CopyTo(m);
        return m.ToArray();
    }

    [TestCase(false)]
    [TestCase(true)]
    public void BrokenFilesAreRejectedWithTheFileAndTheProblem(bool gzip)
    {
        var cases = new (string name, byte[] bytes, string mentions)[]
        {
            ("empty", [], "too short for the 4-byte IDX magic"),
            ("magic", [1, 2, 8, 1, 0, 0, 0, 1, 5], "not an IDX file"),
            ("type", [.. Header(0x0D, 1), 0, 0, 0, 0], "data type 0x0D"),
            ("ndim0", [0, 0, 8, 0], "0 dimensions"),
            ("headercut", [.. Header(0x08, 5, 2)[..9]], "truncated in the header"),
            ("zerodim", [.. Header(0x08, 0, 28, 28)], "dimension 0 is 0"),
            ("negdim", [.. Header(0x08, 1, -28, 28)], "dimension 1 is -28"),
            ("absurd", [.. Header(0x08, 60000, 60000, 784)], "exceed"),
            ("datacut", [.. Header(0x08, 3, 2), 1, 2, 3, 4, 5], "truncated: 5 of the 6 data bytes of a 3 x 2 array"),
            ("trailing", [.. Header(0x08, 2), 1, 2, 3], "trailing bytes"),
        };
        foreach (var (name, bytes, mentions) in cases)
        {
            var p = Raw(name + (gzip ? ".gz" : ""), bytes, gzip);
            var e = Assert.Throws<InvalidDataException>(() => Idx.Read(p), name)!;
            Assert.That(e.Message, Does.StartWith(p), name);
            Assert.That(e.Message, Does.Contain(mentions), name);
        }
    }

    [Test]
    public void WrongNumberOfDimensionsAndMissingFilesAreNamed()
    {
        var p = P("labels-idx1-ubyte");
        Idx.Write(p, [4], [1, 2, 3, 4]);
        Assert.That(() => Idx.Read(p, expectDims: 3), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("1 dimensions, expected 3"));
        Assert.That(() => Idx.Read(P("nope")), Throws.InstanceOf<FileNotFoundException>().With.Message.Contains("nope"));
    }

    [Test]
    public void ACutGzipStreamIsRejectedWithTheFileName()
    {
        var good = P("good.gz");
        Idx.Write(good, [50, 28, 28], Enumerable.Range(0, 50 * 784).Select(i => (byte)(i * 31 % 251)).ToArray());
        var bytes = File.ReadAllBytes(good);
        var cut = P("cut.gz");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(cut))!;
        Assert.That(e.Message, Does.StartWith(cut));
        Assert.That(e.Message, Does.Contain("truncated").Or.Contain("gzip"));
    }

    /// <summary>A small Fashion-MNIST folder: n images per split with labels cycling 0..9.</summary>
    string FakeFashion(int nTrain, int nTest, int? labelCount = null, int side = 28, byte badLabel = 0)
    {
        var d = P("fashion");
        Directory.CreateDirectory(d);
        foreach (var (prefix, n) in new[] { ("train", nTrain), ("t10k", nTest) })
        {
            Idx.Write(Path.Combine(d, $"{prefix}-images-idx3-ubyte.gz"), [n, side, side], Enumerable.Range(0, n * side * side).Select(i => (byte)(i % 256)).ToArray());
            var labels = Enumerable.Range(0, labelCount ?? n).Select(i => (byte)(i % 10)).ToArray();
            if (badLabel != 0) labels[^1] = badLabel;
            Idx.Write(Path.Combine(d, $"{prefix}-labels-idx1-ubyte.gz"), [labels.Length], labels);
        }
        return d;
    }

    [Test]
    public void FashionMnistReadsBothSplitsAsGreyLevels()
    {
        var d = FakeFashion(20, 7);
        Assert.That(FashionMnist.IsInstalled(d), Is.True);
        var train = FashionMnist.LoadTrain(d);
        var test = FashionMnist.LoadTest(d);
        Assert.That(train.Count, Is.EqualTo(20));
        Assert.That(test.Count, Is.EqualTo(7));
        Assert.That(train.Pixels.Length, Is.EqualTo(20 * 784));
        Assert.That(train.Pixels[300], Is.EqualTo(300 % 256f));
        Assert.That(train.Labels[13], Is.EqualTo(3));
        var data = FashionMnist.TrainingData(d);
        Assert.That((data.Dim, data.NumClasses, data.Count), Is.EqualTo((784, 10, 20)));
        Assert.That(data.Normalisation().std.Min(), Is.GreaterThanOrEqualTo(FashionMnist.MinStd));
    }

    [Test]
    public void FashionMnistRejectsMismatchedFiles()
    {
        Assert.That(() => FashionMnist.LoadTrain(FakeFashion(20, 7, labelCount: 19)),
            Throws.InstanceOf<InvalidDataException>().With.Message.Contains("19 labels for the 20 images"));
        Directory.Delete(P("fashion"), true);
        Assert.That(() => FashionMnist.LoadTrain(FakeFashion(20, 7, side: 27)),
            Throws.InstanceOf<InvalidDataException>().With.Message.Contains("27 x 27, expected 28 x 28"));
        Directory.Delete(P("fashion"), true);
        Assert.That(() => FashionMnist.LoadTest(FakeFashion(20, 7, badLabel: 10)),
            Throws.InstanceOf<InvalidDataException>().With.Message.Contains("label 6 is 10"));
    }

    [Test]
    public void MissingFashionMnistNamesTheFolder()
    {
        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.LoadTrain(P("absent")))!;
        Assert.That(e.Message, Does.Contain("train-images-idx3-ubyte.gz").And.Contain(FashionMnist.Package));
    }

    [Test]
    public void TheInstalledPackageHasSixtyAndTenThousandImages()
    {
        if (!FashionMnist.IsInstalled(FashionMnist.DefaultDirectory))
        {
            if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail($"{FashionMnist.Package} is not installed (tools/test.sh installs it)");
            Assert.Ignore($"{FashionMnist.Package} is not installed ('sudo apt-get install {FashionMnist.Package}')");
        }
        var train = FashionMnist.LoadTrain(FashionMnist.DefaultDirectory);
        var test = FashionMnist.LoadTest(FashionMnist.DefaultDirectory);
        Assert.That(train.Count, Is.EqualTo(60000));
        Assert.That(test.Count, Is.EqualTo(10000));
        // balanced classes: 6,000 and 1,000 of each
        for (int k = 0; k < 10; k++)
        {
            Assert.That(train.Labels.Count(l => l == k), Is.EqualTo(6000), $"class {k}");
            Assert.That(test.Labels.Count(l => l == k), Is.EqualTo(1000), $"class {k}");
        }
        Assert.That(train.Pixels.Max(), Is.EqualTo(255f));
        Assert.That(train.Pixels.Min(), Is.EqualTo(0f));
    }
}
