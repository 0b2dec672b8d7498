using System.Runtime.InteropServices;

namespace ClDiffusion.Models.Mlp;

/// <summary>
/// An optimised BLAS found at run time (OpenBLAS from the distribution's packages, e.g. Debian's libopenblas0-pthread),
/// called through its C interface (cblas_sgemm). Nothing links against it: when no library is found, or the setting
/// says "off", <see cref="Default"/> is null and the CPU MLP uses the managed <see cref="Sgemm"/> alone.
/// </summary>
public sealed unsafe class BlasLibrary
{
    const int RowMajor = 101, NoTrans = 111;
    readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> sgemm;
    readonly delegate* unmanaged<int, void> setThreads;

    /// <summary>The file that was loaded.</summary>
    public string Path { get; }
    /// <summary>What it is, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... (core SkylakeX)" (the file name when it does not say).</summary>
    public string Description { get; }

    BlasLibrary(nint handle, string path)
    {
        Path = path;
        sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(handle, "cblas_sgemm");
        setThreads = NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var st) ? (delegate* unmanaged<int, void>)st : null;
        string desc = System.IO.Path.GetFileName(path);
        if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out var cfg))
        {
            desc = Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)cfg)()) ?? desc;
            if (NativeLibrary.TryGetExport(handle, "openblas_get_corename", out var core))
                desc += $" (core {Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)core)())})";
        }
        Description = desc.Trim();
        // The MLP runs its own row chunks on its own threads: one BLAS thread per call, so calls never oversubscribe
        // the cores and each chunk's product is computed by one thread's kernel (the same bits wherever it runs).
        if (setThreads != null) setThreads(1);
    }

    /// <summary>Library names tried when the setting names none (first found wins).</summary>
    public static readonly string[] Candidates =
    {
        "libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.dll", "openblas",
        "libblis.so.4", "libcblas.so.3",
    };

    /// <summary>
    /// Loads a BLAS: setting null or empty = the <see cref="Candidates"/>; "off" / "none" / "0" = none; else a file path or
    /// library name. Returns null (with the reason) when nothing usable is found: a missing library is never an error.
    /// </summary>
    public static BlasLibrary? Load(string? setting, out string reason)
    {
        string s = setting?.Trim() ?? "";
        if (s is "off" or "none" or "0" or "managed")
        {
            reason = $"BLAS turned off ({EnvironmentVariable}={s})";
            return null;
        }
        var names = s.Length > 0 ? new[] { s } : Candidates;
        var tried = new List<string>();
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var h)) { tried.Add($"{name}: not found"); continue; }
            if (!NativeLibrary.TryGetExport(h, "cblas_sgemm", out _)) { tried.Add($"{name}: no cblas_sgemm"); NativeLibrary.Free(h); continue; }
            reason = "";
            return new BlasLibrary(h, name);
        }
        reason = "no BLAS found (" + string.Join("; ", tried) + ")";
        return null;
    }

    /// <summary>The environment variable that overrides the search: "off", or a library path.</summary>
    public const string EnvironmentVariable = "CLDIFF_BLAS";

    static readonly Lazy<(BlasLibrary? Lib, string Reason)> @default = new(() =>
    {
        var lib = Load(Environment.GetEnvironmentVariable(EnvironmentVariable), out var reason);
        return (lib, reason);
    });

    /// <summary>The process-wide BLAS (loaded once, from <see cref="EnvironmentVariable"/> or the candidates), or null.</summary>
    public static BlasLibrary? Default => @default.Value.Lib;

    /// <summary>One line for `cldiff devices`: the library in use, or why there is none.</summary>
    public static string DefaultDescription => Default is { } b ? $"{b.Description} ({b.Path})" : @default.Value.Reason;

    /// <summary>C[m, n] = A[m, k] B[k, n] (+ C when accumulate), all row-major and dense.</summary>
    public void Multiply(float* a, float* b, float* c, int m, int k, int n, bool accumulate = false)
    {
        if (m <= 0 || n <= 0) return;
        sgemm(RowMajor, NoTrans, NoTrans, m, n, k, 1f, a, k, b, n, accumulate ? 1f : 0f, c, n);
    }

    /// <summary>Checked span form of <see cref="Multiply(float*, float*, float*, int, int, int, bool)"/>.</summary>
    public void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n)
    {
        if (m < 0 || k < 0 || n < 0 || a.Length < (long)m * k || b.Length < (long)k * n || c.Length < (long)m * n)
            throw new ArgumentException($"BLAS sgemm: buffers {a.Length}, {b.Length}, {c.Length} do not fit [{m}, {k}] x [{k}, {n}]");
        fixed (float* pa = a, pb = b, pc = c) Multiply(pa, pb, pc, m, k, n);
    }

    /// <summary>Sets the library's own thread count (benchmarks use all cores for the reference sgemm).</summary>
    public void SetThreads(int threads) { if (setThreads != null) setThreads(Math.Max(1, threads)); }

    public override string ToString() => Description;
}
