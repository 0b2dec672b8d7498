using ClDiffusion.Backends;
using ClDiffusion.Models;

namespace ClDiffusion.Native;

/// <summary>
/// The two places where this library meets code that other engineers are still writing. Everything else in the
/// ABI goes through these functions, so swapping in the real implementations is a change here only.
/// </summary>
internal static class Seams
{
    /// <summary>Devices through BackendFactory: "cpu" (with the engine's thread count) or any OpenCL device string.</summary>
    internal static IBackend OpenBackend(string? device, int threads, string? tuningFile)
    {
        if (tuningFile is not null && !File.Exists(tuningFile))
            throw new FileNotFoundException($"tuning file not found: {tuningFile}", tuningFile);
        var options = new BackendOptions { CpuThreads = threads, TuningFile = tuningFile };   // the tuning file reaches every OpenCL device
        try
        {
            var b = DeviceList.OpenOne(string.IsNullOrEmpty(device) ? "auto" : device, options, out var notice);
            if (notice is not null) BackendFactory.Log?.Invoke(notice);
            return b;
        }
        catch (Exception e) when (e is ArgumentException or BackendException)
        {
            throw new CldException(Status.Device, $"{e.Message} (devices: {string.Join(", ", ListDevices())})");
        }
    }

    /// <summary>Each entry is a name that OpenBackend accepts: "cpu", then every OpenCL device selector.</summary>
    internal static IReadOnlyList<string> ListDevices()
    {
        var names = new List<string> { "cpu" };
        try { names.AddRange(BackendFactory.ListDevices().Select(d => d.Selector)); }
        catch (Exception) { /* no OpenCL loader: CPU only */ }
        return names;
    }

    /// <summary>Models by content: safetensors MLPs (docs/MLP.md) and Gaussian-mixture JSON targets.</summary>
    internal static IScoreModel LoadModel(string path)
    {
        if (Directory.Exists(path)) throw new CldException(Status.Io, $"model path is a directory, not a file: {path}");
        if (!File.Exists(path)) throw new FileNotFoundException($"model file not found: {path}", path);
        Span<byte> head = stackalloc byte[16];
        int got;
        using (var f = File.OpenRead(path)) got = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..got];
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || LooksLikeSafetensors(head))
        {
            try { return ClDiffusion.Models.Mlp.MlpModel.Load(path); }
            catch (InvalidDataException e) { throw new CldException(Status.Format, $"{path}: not a valid safetensors MLP model: {e.Message}"); }
        }
        int i = 0;
        if (head.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) i = 3; // UTF-8 BOM
        while (i < head.Length && head[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') i++;
        if (i >= head.Length || head[i] != (byte)'{')
            throw new CldException(Status.Format,
                $"{path}: unsupported model format: expected a Gaussian-mixture JSON object {{\"weights\", \"means\", \"variances\"}}");
        return GaussianMixture.Load(path);
    }

    /// <summary>safetensors: 8-byte little-endian header length, then a JSON header starting with '{'.</summary>
    static bool LooksLikeSafetensors(ReadOnlySpan<byte> head) =>
        head.Length > 8 && head[8] == (byte)'{' && BitConverter.ToUInt64(head[..8]) is > 1 and < (1UL << 30);
}
