using System.Buffers.Binary;
using System.Text;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using NUnit.Framework;

namespace ClDiffusion.Tests.Mlp;

public class SafetensorsTests
{
    internal static MlpModel SmallModel(int d = 3, int width = 5, int hidden = 2, int F = 2, ulong seed = 1, MlpPrediction p = MlpPrediction.Eps) =>
        ClDiffusion.Tooling.OpenCL.MlpKernelCheck.RandomModel(d, width, hidden, F, seed, p, randomNormalisation: true,
            info: new Dictionary<string, string> { ["note"] = "test" });

    [Test]
    public void RoundTripF32IsExact()
    {
        var m = SmallModel();
        var bytes = m.ToBytes();
        var back = MlpModel.FromBytes(bytes);
        Assert.That(back.ToBytes(), Is.EqualTo(bytes));
        Assert.That(back.Info["note"], Is.EqualTo("test"));
        Assert.That(back.Prediction, Is.EqualTo(MlpPrediction.Eps));
        Assert.That(back.Layers.Count, Is.EqualTo(3));
        var f = SafetensorsReader.Read(bytes);
        Assert.That(f.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.4.weight", "net.4.bias", "time_freqs", "data_mean", "data_std" }));
        Assert.That(f.Get("net.0.weight")!.Shape, Is.EqualTo(new long[] { 5, 7 }));
        Assert.That(f.Metadata["format"], Is.EqualTo("cldiffusion-mlp"));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8, Is.EqualTo(0));
        var path = Path.Combine(Path.GetTempPath(), $"mlp-{Guid.NewGuid():N}.safetensors");
        try { m.Save(path); Assert.That(File.ReadAllBytes(path), Is.EqualTo(bytes)); Assert.That(MlpModel.Load(path).ToBytes(), Is.EqualTo(bytes)); }
        finally { File.Delete(path); }
    }

    [TestCase(TensorDType.F16, 1e-3)]
    [TestCase(TensorDType.BF16, 8e-3)]
    [TestCase(TensorDType.F64, 0)]
    public void ConvertedOnLoad(TensorDType dtype, double relTol)
    {
        var m = SmallModel();
        var back = MlpModel.FromBytes(m.ToBytes(dtype));
        Assert.That(SafetensorsReader.Read(m.ToBytes(dtype)).Tensors[0].StoredAs, Is.EqualTo(dtype));
        for (int l = 0; l < m.Layers.Count; l++)
            for (int i = 0; i < m.Layers[l].Weight.Length; i++)
            {
                float a = m.Layers[l].Weight[i], b = back.Layers[l].Weight[i];
                Assert.That(b, Is.EqualTo(a).Within(relTol * Math.Abs(a) + 1e-7));
            }
    }

    [Test]
    public void KnownHalfAndBfloatBitPatterns()
    {
        // 1.0, -2.0, 0.5 in F16 (0x3C00, 0xC000, 0x3800) and BF16 (0x3F80, 0xC000, 0x3F00)
        foreach (var (dt, bits) in new[] { ("F16", new ushort[] { 0x3C00, 0xC000, 0x3800 }), ("BF16", new ushort[] { 0x3F80, 0xC000, 0x3F00 }) })
        {
            var data = bits.SelectMany(b => new[] { (byte)b, (byte)(b >> 8) }).ToArray();
            var f = SafetensorsReader.Read(Build($"{{\"x\":{{\"dtype\":\"{dt}\",\"shape\":[3],\"data_offsets\":[0,6]}}}}", data));
            Assert.That(f.Get("x")!.Data, Is.EqualTo(new[] { 1f, -2f, 0.5f }), dt);
        }
    }

    static byte[] Build(string header, byte[] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var b = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)h.Length);
        h.CopyTo(b, 8); data.CopyTo(b, 8 + h.Length);
        return b;
    }

    static string Fails(byte[] b) => Assert.Throws<InvalidDataException>(() => MlpModel.FromBytes(b))!.Message;

    [Test]
    public void ValidationNamesTheProblem()
    {
        var d8 = new byte[8];
        Assert.That(Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d8)), Does.Contain("'a'").And.Contain("needs 12"));
        Assert.That(Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d8)), Does.Contain("'a'").And.Contain("past the end"));
        Assert.That(Fails(Build("{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d8)), Does.Contain("'a'").And.Contain("I32"));
        Assert.That(Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}", d8)), Does.Contain("'b'").And.Contain("overlap"));
        Assert.That(Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", d8)), Does.Contain("'a'"));
        Assert.That(Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", d8)), Does.Contain("'a'"));
        Assert.That(Fails(Build("{\"a\":", d8)), Does.Contain("JSON"));
        Assert.That(Fails(Build("[1,2]", d8)), Does.Contain("'{'"));
        var bytes = SmallModel().ToBytes();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1UL << 62);
        Assert.That(Fails(bytes), Does.Contain("header length"));
        // model-level consistency
        var m = SmallModel();
        var meta = m.FileMetadata();
        var t = m.FileTensors().ToList();
        string FailsWith(Func<List<(string name, long[] shape, float[] data)>, IEnumerable<(string, long[], float[])>> edit, IReadOnlyDictionary<string, string>? md = null)
            => Fails(SafetensorsWriter.ToBytes(md ?? meta, edit(t.ToList())));
        Assert.That(FailsWith(l => l.Where(x => x.name != "net.2.bias")), Does.Contain("'net.2.bias' is missing"));
        Assert.That(FailsWith(l => l.Where(x => x.name != "data_std")), Does.Contain("'data_std' is missing"));
        Assert.That(FailsWith(l => l.Select(x => x.name == "time_freqs" ? (x.name, new long[] { 3 }, new float[3]) : x)), Does.Contain("net.0.weight").And.Contain("input width"));
        Assert.That(FailsWith(l => l.Append(("net.8.weight", new long[] { 1, 1 }, new float[1]))), Does.Contain("'net.8.weight'"));
        Assert.That(FailsWith(l => l.Select(x => x.name == "data_std" ? (x.name, x.shape, new float[] { 1, 0, 1 }) : x)), Does.Contain("data_std[1]"));
        Assert.That(FailsWith(l => l.Select(x => x.name == "net.2.weight" ? (x.name, x.shape, x.data.Select(_ => float.NaN).ToArray()) : x)), Does.Contain("net.2.weight"));
        Assert.That(FailsWith(l => l, new Dictionary<string, string> { ["prediction"] = "v" }), Does.Contain("'v'"));
        Assert.That(FailsWith(l => l, new Dictionary<string, string>()), Does.Contain("prediction"));
        Assert.That(FailsWith(l => l, new Dictionary<string, string> { ["prediction"] = "eps", ["activation"] = "relu" }), Does.Contain("relu"));
    }

    static void OnlyInvalidData(byte[] b, string what)
    {
        try { MlpModel.FromBytes(b); }
        catch (InvalidDataException) { }
        catch (Exception e) { Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}"); }
    }

    [Test]
    public void FuzzTruncatedFiles()
    {
        var bytes = SmallModel().ToBytes();
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        for (int len = 0; len <= headerEnd + 16; len++)
            Assert.Throws<InvalidDataException>(() => MlpModel.FromBytes(bytes.AsSpan(0, len)), $"truncated to {len}");
        for (int len = headerEnd; len < bytes.Length; len += 7)
            Assert.Throws<InvalidDataException>(() => MlpModel.FromBytes(bytes.AsSpan(0, len)), $"truncated to {len}");
    }

    [Test]
    public void FuzzFlippedBytesAndHeaderLengths()
    {
        var bytes = SmallModel().ToBytes();
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var key = new RandomKey(2024, 0, Purpose.Test);
        for (int trial = 0; trial < 3000; trial++)
        {
            var b = (byte[])bytes.Clone();
            int flips = 1 + (int)(key.Uniform(trial, 0) * 3);
            for (int f = 0; f < flips; f++)
            {
                // mostly inside the header, where the structure is
                int pos = key.Uniform(trial, 1 + 2 * f) < 0.8f ? (int)(key.Uniform(trial, 2 + 2 * f) * headerEnd) : (int)(key.Uniform(trial, 2 + 2 * f) * b.Length);
                b[Math.Min(pos, b.Length - 1)] ^= (byte)(1 + (int)(key.Uniform(trial, 9 + f) * 255));
            }
            OnlyInvalidData(b, $"trial {trial}");
        }
        foreach (ulong len in new ulong[] { ulong.MaxValue, 1UL << 63, (ulong)long.MaxValue, (ulong)int.MaxValue, (ulong)int.MaxValue + 1, (ulong)bytes.Length, (ulong)bytes.Length - 8, (ulong)bytes.Length - 7, 0, 1 })
        {
            var b = (byte[])bytes.Clone();
            BinaryPrimitives.WriteUInt64LittleEndian(b, len);
            Assert.Throws<InvalidDataException>(() => MlpModel.FromBytes(b), $"header length {len}");
        }
    }
}
