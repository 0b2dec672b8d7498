using System.Buffers.Binary;
using ClDiffusion.Tests.Mlp;
using NUnit.Framework;

namespace ClDiffusion.Tests.Cli;

/// <summary>`cldiff sample --model fashion`: one row of 28x28 images per class, and bad classes rejected before any work.</summary>
[NonParallelizable]
public class FashionCliTests : TempFolderTests
{
    static (int width, int height) PngSize(string path)
    {
        var b = File.ReadAllBytes(path);
        Assert.That(b[..8], Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }), "PNG signature");
        return (BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20)));
    }

    [Test]
    public void ClassAllDrawsOneRowOfImagesPerClass()
    {
        MlpCpuTests.ModelPath("fashion.safetensors");   // ignores the test when the model is not there
        var png = Path.Combine(dir, "grid.png");
        var (code, _, err) = VerbTests.Run("sample", "--model", "fashion", "--class", "all", "--guidance", "2", "--n", "30",
            "--sampler", "ei", "--steps", "4", "--denoise", "--device", "cpu", "--quiet", "--png", png);
        Assert.That(code, Is.EqualTo(0), err);
        // 10 rows (one per class) of 3 cells of 28 x 2 pixels plus a 2-pixel gap, and a 2-pixel border
        const int cell = 28 * 2 + 2;
        Assert.That(PngSize(png), Is.EqualTo((3 * cell + 2, 10 * cell + 2)));
    }

    [Test]
    public void TheUNetsPictureMapsItsOwnPixelRange()
    {
        // the shipped U-Net works in -1..1 (metadata cldiffusion.input = pixel/127.5-1): its picture maps -1 to black
        // and 1 to white, where the Fashion-MNIST default (0..255) drew every image black
        var png = Path.Combine(dir, "unet.png");
        var npy = Path.Combine(dir, "unet.npy");
        var (code, _, err) = VerbTests.Run("sample", "--model", "fashion-unet", "--class", "all", "--guidance", "2", "--n", "10",
            "--sampler", "rm-x0", "--steps", "4", "--device", "cpu", "--quiet", "--png", png, "--out", npy);
        Assert.That(code, Is.EqualTo(0), err);
        var x = ClDiffusion.IO.Npy.Read(npy).ToFloat32();
        using var bmp = SkiaSharp.SKBitmap.Decode(png);
        int bright = 0;
        for (int p = 0; p < 784; p++)   // sample 0 (class 0) in the first cell: 2-pixel border, 28 x 28 pixels of 2 x 2
        {
            int want = (int)Math.Clamp((x[p] + 1f) / 2f * 255f, 0, 255);
            var got = bmp.GetPixel(2 + (p % 28) * 2, 2 + (p / 28) * 2);
            Assert.That((int)got.Red, Is.EqualTo(want).Within(1), $"pixel {p}: data value {x[p]}");
            if (got.Red > 128) bright++;
        }
        Assert.That(bright, Is.GreaterThan(50), "a garment, not a black square");
    }

    [TestCase("10", "class 10 is outside the model's classes 0..9")]
    [TestCase("3.5", "--class must be a class number or 'all'")]
    [TestCase("shirt", "--class must be a class number or 'all'")]
    public void BadClassIsRejectedWithoutAPicture(string cls, string mentions)
    {
        MlpCpuTests.ModelPath("fashion.safetensors");
        var png = Path.Combine(dir, "grid.png");
        var (code, _, err) = VerbTests.Run("sample", "--model", "fashion", "--class", cls, "--n", "4", "--steps", "2", "--device", "cpu", "--quiet", "--png", png);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain(mentions));
        Assert.That(Directory.GetFiles(dir), Is.Empty, "no picture, no temporary file");
    }

    [Test]
    public void TrainingWithoutTheDataNamesThePackageAndWritesNothing()
    {
        var old = Environment.GetEnvironmentVariable(ClDiffusion.Data.FashionMnist.DirectoryVariable);
        Environment.SetEnvironmentVariable(ClDiffusion.Data.FashionMnist.DirectoryVariable, Path.Combine(dir, "absent"));
        try
        {
            var model = Path.Combine(dir, "m.safetensors");
            var (code, _, err) = VerbTests.Run("train", "--data", "fashion-mnist", "--steps", "1", "--out", model, "--loss-log", Path.Combine(dir, "l.csv"));
            Assert.That(code, Is.Not.EqualTo(0));
            Assert.That(err, Does.Contain("train-images-idx3-ubyte.gz").And.Contain("dataset-fashion-mnist"));
            Assert.That(Directory.GetFiles(dir), Is.Empty);
        }
        finally { Environment.SetEnvironmentVariable(ClDiffusion.Data.FashionMnist.DirectoryVariable, old); }
    }

    [Test]
    public void LossLogMustBeACsv()
    {
        var (code, _, err) = VerbTests.Run("train", "--data", "checkerboard", "--steps", "1", "--out", Path.Combine(dir, "m.safetensors"), "--loss-log", Path.Combine(dir, "l.txt"));
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("--loss-log must end in .csv"));
        Assert.That(Directory.GetFiles(dir), Is.Empty);
    }
}
