using System.Runtime.InteropServices;

namespace ClDiffusion.Native;

/// <summary>cld_status of native/include/cldiffusion.h (keep the numbers in sync).</summary>
internal enum Status : int
{
    Ok = 0,
    InvalidArgument = 1,
    InvalidHandle = 2,
    Io = 3,
    Format = 4,
    Device = 5,
    OutOfMemory = 6,
    Cancelled = 7,
    Internal = 8,
    BufferTooSmall = 9,
    Timeout = 10,
    // 11: CLD_ERR_CALLBACK (ModelExports.CallbackFailed)
    WouldBlock = 12,
    NonFinite = 13,
}

/// <summary>cld_engine_options: explicit offsets, the C test asserts the same numbers with offsetof.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct EngineOptions
{
    public const int Size = 32;
    /// <summary>struct_size values the library accepts (every ABI version's size; the struct only grows).</summary>
    public static readonly uint[] KnownSizes = [32];
    [FieldOffset(0)] public uint StructSize;
    [FieldOffset(4)] public uint Flags;
    [FieldOffset(8)] public byte* Device;
    [FieldOffset(16)] public byte* TuningFile;
    [FieldOffset(24)] public int Threads;
    [FieldOffset(28)] public uint Reserved;
}

/// <summary>cld_sample_options: explicit offsets, the C test asserts the same numbers with offsetof.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct SampleOptions
{
    public const int Size = 176;
    /// <summary>The size before the class-conditional fields (ABI 1): still accepted, as unconditional sampling.</summary>
    public const int SizeWithoutClasses = 128;
    /// <summary>The size with the class fields but without max_step, denoise, fixed_corrector.</summary>
    public const int SizeWithClasses = 152;
    /// <summary>The ABI 2 size: no settings handle.</summary>
    public const int SizeWithoutSettings = 168;
    /// <summary>struct_size values the library accepts. Fields past a caller's size read as 0, their documented default.</summary>
    public static readonly uint[] KnownSizes = [SizeWithoutClasses, SizeWithClasses, SizeWithoutSettings, Size];
    [FieldOffset(0)] public uint StructSize;
    [FieldOffset(4)] public uint Steps;
    [FieldOffset(8)] public byte* Sampler;
    [FieldOffset(16)] public ulong Seed;
    [FieldOffset(24)] public ulong First;
    [FieldOffset(32)] public double Horizon;
    [FieldOffset(40)] public double Delta;
    [FieldOffset(48)] public uint CorrectorSteps;
    [FieldOffset(52)] public uint SubWindows;
    [FieldOffset(56)] public double CorrectorTime;
    [FieldOffset(64)] public double Gamma;
    [FieldOffset(72)] public int PicardRounds;
    [FieldOffset(76)] public uint Window;
    [FieldOffset(80)] public double Tolerance;
    [FieldOffset(88)] public byte* Grid;
    [FieldOffset(96)] public double Lipschitz;
    [FieldOffset(104)] public double BlockLength;
    [FieldOffset(112)] public byte* Corrector;
    [FieldOffset(120)] public uint LowVariance;
    [FieldOffset(124)] public uint Batch;
    // class-conditional models (appended; a struct_size of 128 leaves them out)
    [FieldOffset(128)] public uint Conditional;
    [FieldOffset(132)] public int ClassLabel;
    [FieldOffset(136)] public int* Labels;
    [FieldOffset(144)] public double Guidance;
    // ABI 2, after the class fields
    [FieldOffset(152)] public double MaxStep;
    [FieldOffset(160)] public uint Denoise;
    [FieldOffset(164)] public uint FixedCorrector;
    // ABI 3: every sampler option by name (cld_sample_settings_set); the last field the struct needs for options
    [FieldOffset(168)] public nint Settings;

    public const int PicardRoundsNone = -1;
}

/// <summary>Reads an option struct that grows by its size field (ONNX Runtime style).</summary>
internal static unsafe class SizedStruct
{
    /// <summary>
    /// Copies the caller's struct_size bytes (which must be one of `known`) into a zeroed T: fields a caller built
    /// against an older header does not have read as 0, their default.
    /// </summary>
    public static T Read<T>(T* p, uint[] known, string name) where T : unmanaged
    {
        uint size = *(uint*)p;
        if (Array.IndexOf(known, size) < 0)
            throw new CldException(Status.InvalidArgument,
                $"{name}.struct_size is {size}, expected sizeof({name}) = {sizeof(T)} (sizes of earlier ABI versions also accepted: {string.Join(", ", known)})");
        T copy = default;
        Buffer.MemoryCopy(p, &copy, sizeof(T), Math.Min(size, (uint)sizeof(T)));
        return copy;
    }
}

/// <summary>The library's own failure, carrying the status it maps to.</summary>
internal sealed class CldException(Status status, string message) : Exception(message)
{
    public Status Status { get; } = status;
}
