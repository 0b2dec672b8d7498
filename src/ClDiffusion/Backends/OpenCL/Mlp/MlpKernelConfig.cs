using System.Globalization;

namespace ClDiffusion.Backends.OpenCL.Mlp;

/// <summary>
/// Tile configuration of the MLP layer kernels (cl/mlp.cl), passed as -D defines (CLBlast style; names as in the
/// kernel). The work group is (Mwg / Mwi) x (Nwg / Nwi) items, each computing an Mwi x Nwi register tile of a
/// Mwg x Nwg output tile; Kwg is the K step of the local-memory loop.
/// </summary>
public sealed record MlpKernelConfig
{
    public int Mwg { get; init; } = 64;
    public int Nwg { get; init; } = 64;
    public int Kwg { get; init; } = 16;
    public int Mwi { get; init; } = 4;
    public int Nwi { get; init; } = 4;
    public int Vwm { get; init; } = 1;
    public int Vwn { get; init; } = 1;
    /// <summary>Stage the A and W tiles in local memory (GPUs) or read global memory directly (CPUs).</summary>
    public bool UseLocal { get; init; } = true;
    /// <summary>With <see cref="UseLocal"/>: double-buffer the tiles (MLP_DB: prefetch the next K tile into registers while this one is multiplied).</summary>
    public bool DoubleBuffer { get; init; }
    /// <summary>
    /// Multiply-adds as fma() (MLP_FMA = 1: one instruction on FMA hardware; PoCL turns mad() into a multiply and an
    /// add) or as mad() (0: for devices without FMA units, where fma() is emulated).
    /// </summary>
    public bool Fma { get; init; } = true;
    /// <summary>
    /// Networks whose hidden layers all have this width or less run as one fused launch (cl/mlp_fused.cl; MLPF_MAXW):
    /// 0 = never. <see cref="Gpu"/> fuses up to 256; <see cref="Cpu"/> never (PoCL runs the fused kernel slowly).
    /// </summary>
    public int FuseMaxWidth { get; init; }
    /// <summary>Rows per work group of the fused kernel (MLPF_RB).</summary>
    public int FusedRows { get; init; } = 16;
    /// <summary>Work items per group of the fused kernel (MLPF_WGS).</summary>
    public int FusedGroup { get; init; } = 64;

    public int Mdimc => Mwg / Mwi;
    public int Ndimc => Nwg / Nwi;
    public int WorkGroupSize => Mdimc * Ndimc;
    public long LocalBytes => UseLocal ? 4L * Kwg * (Mwg + Nwg) * (DoubleBuffer ? 2 : 1) : 0;
    /// <summary>Local memory of the fused kernel for a network of input width inW and hidden width w (two [RB, max] activation tiles).</summary>
    public long FusedLocalBytes(int inW, int width) => 2L * 4 * FusedRows * Math.Max(inW, width);

    /// <summary>
    /// A GPU-shaped default: 64x64 tiles, 4x4 per item, 256 items, double-buffered local memory, VWN = 4 loads of W^T;
    /// networks of width &lt;= 256 fused. Not yet measured on a GPU (docs/MLP_KERNELS.md); on PoCL the fused kernel
    /// measured 0.4-0.5x the layered one (shipped models, batch 4096), so <see cref="Cpu"/> does not fuse.
    /// </summary>
    public static MlpKernelConfig Gpu { get; } = new() { Vwn = 4, DoubleBuffer = true, FuseMaxWidth = 256 };

    /// <summary>
    /// A CPU (PoCL) default: no local memory, one item per group computing 4 rows x 64 columns as 4 x 4 float16
    /// accumulators (AVX-512 FMAs on explicit vectors); the fastest of the configurations swept on PoCL 3.1 /
    /// AVX-512 (docs/MLP_KERNELS.md): about 2-4x the local-memory 64x64 tiles there.
    /// </summary>
    public static MlpKernelConfig Cpu { get; } = new() { Mwg = 4, Nwg = 64, Kwg = 16, Mwi = 4, Nwi = 64, Vwn = 16, UseLocal = false };

    /// <summary>The default for a device: <see cref="Cpu"/> on CPU devices, else <see cref="Gpu"/>.</summary>
    public static MlpKernelConfig For(ClDevice device) => device.TypeName == "cpu" ? Cpu : Gpu;

    public void Validate(ClDevice? device = null)
    {
        void Need(bool ok, string what) { if (!ok) throw new ArgumentException($"MLP kernel config {this}: {what}"); }
        Need(Mwg > 0 && Nwg > 0 && Kwg > 0 && Mwi > 0 && Nwi > 0, "sizes must be positive");
        Need(Mwg % Mwi == 0 && Nwg % Nwi == 0, "MWG must be a multiple of MWI and NWG of NWI");
        Need(Vwm is 1 or 2 or 4 or 8 or 16 && Vwn is 1 or 2 or 4 or 8 or 16, "vector widths must be 1, 2, 4, 8 or 16");
        Need(Mwi % Vwm == 0 && Nwi % Vwn == 0, "MWI must be a multiple of VWM and NWI of VWN");
        Need(!(UseLocal && DoubleBuffer) || Nwg % Vwn == 0, "double buffering needs VWN to divide NWG");
        Need(FuseMaxWidth >= 0 && FusedRows is >= 1 and <= 64 && FusedGroup >= 1, "fused kernel: FuseMaxWidth >= 0, 1 <= FusedRows <= 64, FusedGroup >= 1");
        if (device is not null && FuseMaxWidth > 0)
            Need(FusedGroup <= device.MaxWorkGroupSize, $"fused work group of {FusedGroup} items exceeds the device's {device.MaxWorkGroupSize}");
        if (device is not null)
            Need(WorkGroupSize <= device.MaxWorkGroupSize, $"work group of {WorkGroupSize} items exceeds the device's {device.MaxWorkGroupSize}");
    }

    /// <summary>
    /// The configuration for a layer with only n outputs (the last layer, n = d): the N tile shrinks to the smallest
    /// power of two >= n (one column per item) so that a 2-d output does not waste 63 of 64 columns.
    /// </summary>
    public MlpKernelConfig ForOutputs(int n)
    {
        if (n >= Nwg) return this;
        int p = 1;
        while (p < n) p <<= 1;
        if (p >= Nwg) return this;
        int nwi = Math.Min(Nwi, p);
        if (p % nwi != 0) nwi = 1;
        int vwn = Math.Min(Vwn, nwi);
        if (nwi % vwn != 0) vwn = 1;
        return this with { Nwg = p, Nwi = nwi, Vwn = vwn };
    }

    public Dictionary<string, string> Defines()
    {
        string S(int v) => v.ToString(CultureInfo.InvariantCulture);
        return new()
        {
            ["MWG"] = S(Mwg), ["NWG"] = S(Nwg), ["KWG"] = S(Kwg), ["MWI"] = S(Mwi), ["NWI"] = S(Nwi),
            ["VWM"] = S(Vwm), ["VWN"] = S(Vwn), ["MLP_LOCAL"] = UseLocal ? "1" : "0", ["MLP_DB"] = DoubleBuffer ? "1" : "0",
            ["MLP_FMA"] = Fma ? "1" : "0",
        };
    }

    public override string ToString() =>
        $"MWG={Mwg} NWG={Nwg} KWG={Kwg} MWI={Mwi} NWI={Nwi} VWM={Vwm} VWN={Vwn} local={(UseLocal ? 1 : 0)} db={(DoubleBuffer ? 1 : 0)}"
        + (Fma ? "" : " fma=0")
        + (FuseMaxWidth > 0 ? $" fused<={FuseMaxWidth} RB={FusedRows} WGS={FusedGroup}" : "");
}
