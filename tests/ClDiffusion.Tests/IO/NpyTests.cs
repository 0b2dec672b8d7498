using System.Globalization;
using System.Text;
using ClDiffusion.IO;
using NUnit.Framework;

namespace ClDiffusion.Tests.IO;

[TestFixture]
public class NpyTests : TempFolderTests
{
    string P(string name) => Path.Combine(dir, name);

    /// <summary>The header bytes numpy.save writes for a C-order array (format 1.0, 64-byte aligned).</summary>
    static byte[] NumpyHeader(string dict, int totalLen = 128)
    {
        var header = dict + new string(' ', totalLen - 10 - dict.Length - 1) + "\n";
        var b = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0,
            (byte)(header.Length & 0xFF), (byte)(header.Length >> 8) };
        b.AddRange(Encoding.ASCII.GetBytes(header));
        Assert.That(b.Count, Is.EqualTo(totalLen));
        return b.ToArray();
    }

    static byte[] Concat(byte[] header, byte[] data) => [.. header, .. data];

    static byte[] Doubles(params double[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();
    static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    [Test]
    public void RoundTrip2d()
    {
        var data = new float[] { 1.5f, -2.25f, 3e-7f, float.MaxValue, 0f, -0f };
        Npy.Write(P("a.npy"), data, 3, 2);
        var a = Npy.Read(P("a.npy"));
        Assert.That(a.Descr, Is.EqualTo("<f4"));
        Assert.That(a.Shape, Is.EqualTo(new[] { 3, 2 }));
        Assert.That(a.Rows, Is.EqualTo(3)); Assert.That(a.Cols, Is.EqualTo(2));
        Assert.That(a.Float32, Is.EqualTo(data));
        Assert.That(new FileInfo(P("a.npy")).Length, Is.EqualTo(128 + 4 * 6));
    }

    [Test]
    public void RoundTrip1dAndEmpty()
    {
        Npy.Write(P("b.npy"), new float[] { 4, 5, 6 });
        var b = Npy.Read(P("b.npy"));
        Assert.That(b.Shape, Is.EqualTo(new[] { 3 }));
        Assert.That(b.Cols, Is.EqualTo(1));
        Assert.That(b.ToFloat64(), Is.EqualTo(new double[] { 4, 5, 6 }));
        Npy.Write(P("e.npy"), Array.Empty<float>(), 0, 5);
        Assert.That(Npy.Read(P("e.npy")).Shape, Is.EqualTo(new[] { 0, 5 }));
    }

    [Test]
    public void WriterProducesNumpyBytes()
    {
        var data = new float[] { 1, 2, 3, 4, 5 };
        Npy.Write(P("c.npy"), data);
        var expected = Concat(NumpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"), Floats(data));
        Assert.That(File.ReadAllBytes(P("c.npy")), Is.EqualTo(expected));
    }

    [Test]
    public void ReadsNumpyWrittenFloat64()
    {
        var bytes = Concat(NumpyHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"), Doubles(1, 2, 3, 4.5, -5, 1e300));
        File.WriteAllBytes(P("np.npy"), bytes);
        var a = Npy.Read(P("np.npy"));
        Assert.That(a.Descr, Is.EqualTo("<f8"));
        Assert.That(a.Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(a.Float64, Is.EqualTo(new double[] { 1, 2, 3, 4.5, -5, 1e300 }));
    }

    [Test]
    public void ReadsFormat2()
    {
        string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
        string header = dict + new string(' ', 128 - 12 - dict.Length - 1) + "\n";
        var b = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0 };
        b.AddRange(BitConverter.GetBytes((uint)header.Length));
        b.AddRange(Encoding.ASCII.GetBytes(header));
        b.AddRange(Floats(7, 8));
        File.WriteAllBytes(P("v2.npy"), b.ToArray());
        Assert.That(Npy.Read(P("v2.npy")).Float32, Is.EqualTo(new float[] { 7, 8 }));
    }

    void AssertBad(byte[] bytes, params string[] words)
    {
        var path = P("bad.npy");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(path))!;
        Assert.That(e.Message, Does.Contain(path));
        foreach (var w in words) Assert.That(e.Message, Does.Contain(w).IgnoreCase);
    }

    [Test]
    public void BadMagic() =>
        AssertBad(Concat(Encoding.ASCII.GetBytes("PK\x03\x04 not numpy at all"), new byte[200]), "bad magic");

    [Test]
    public void UnsupportedDtype() =>
        AssertBad(Concat(NumpyHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"), new byte[8]), "unsupported dtype", "<i4");

    [Test]
    public void BigEndianRejected() =>
        AssertBad(Concat(NumpyHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"), new byte[8]), "big-endian");

    [Test]
    public void FortranOrderRejected() =>
        AssertBad(Concat(NumpyHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"), new byte[16]), "fortran_order");

    [Test]
    public void ExtraBytesAreShapeSizeMismatch() =>
        AssertBad(Concat(NumpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"), new byte[20]), "shape/size mismatch");

    [Test]
    public void TruncatedData() =>
        AssertBad(Concat(NumpyHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }"), new byte[31]), "truncated");

    [Test]
    public void TruncatedHeader() => AssertBad(NumpyHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }")[..40], "truncated");

    [Test]
    public void TruncatedPreamble() => AssertBad([0x93, (byte)'N', (byte)'U'], "truncated");

    [Test]
    public void UnsupportedRank() =>
        AssertBad(Concat(NumpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }"), new byte[4]), "unsupported shape");

    [Test]
    public void MalformedHeader() =>
        AssertBad(Concat(NumpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }"), new byte[8]), "malformed header");

    [Test]
    public void MissingFile() => Assert.Throws<FileNotFoundException>(() => Npy.Read(P("nope.npy")));

    [Test]
    public void AtomicWriteLeavesNoFileWhenWriterThrows()
    {
        var path = P("out.npy");
        Assert.Throws<IOException>(() => AtomicFile.Write(path, s => { s.Write(new byte[1000]); throw new IOException("disk on fire"); }));
        Assert.That(File.Exists(path), Is.False);
        Assert.That(Directory.GetFiles(dir), Is.Empty, "temporary file must be removed");
    }

    [Test]
    public void AtomicWriteKeepsOldFileWhenWriterThrows()
    {
        var path = P("keep.npy");
        Npy.Write(path, new float[] { 1, 2 });
        var before = File.ReadAllBytes(path);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s => { s.Write(new byte[10]); throw new InvalidOperationException(); }));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(1));
    }

    [Test]
    public void WriteRejectsSizeMismatchWithoutCreatingFile()
    {
        Assert.Throws<ArgumentException>(() => Npy.Write(P("x.npy"), new float[5], 2, 3));
        Assert.That(File.Exists(P("x.npy")), Is.False);
    }

    [Test]
    public void CsvRoundTripsExactly()
    {
        var data = new float[] { 0.1f, -1f / 3, 1e-30f, 123456.79f, float.Epsilon, -0.5f };
        SampleFile.Write(P("s.csv"), data, 2, 3);
        var lines = File.ReadAllLines(P("s.csv"));
        Assert.That(lines, Has.Length.EqualTo(2));
        var back = lines.SelectMany(l => l.Split(',')).Select(t => float.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public void SampleFileChoosesByExtension()
    {
        SampleFile.Write(P("s.NPY"), new float[] { 1, 2, 3, 4 }, 2, 2);
        Assert.That(Npy.Read(P("s.NPY")).Shape, Is.EqualTo(new[] { 2, 2 }));
        var e = Assert.Throws<ArgumentException>(() => SampleFile.Write(P("s.txt"), new float[4], 2, 2))!;
        Assert.That(e.Message, Does.Contain(".txt"));
        Assert.That(File.Exists(P("s.txt")), Is.False);
    }
}
