namespace ClDiffusion.Backends.OpenCL;

/// <summary>
/// The tunables of cl/gmm_rows.cl (the mixture score with a work group per row, issue 18) and the dimension from which
/// the backend uses it instead of the per-row kernels of cl/gmm.cl. Each is a -D define (GRW, GRV, GRR, GRD) read from
/// the backend's defines (<see cref="OpenClOptions.ExtraDefines"/> or the tuning database's "gmm-rows" entry), else the
/// default here. The kernel needs GRR (d + K GRW) floats of local memory per group; where that does not fit, or the
/// group is larger than the device allows, the per-row kernels stay in use.
/// </summary>
public sealed record GmmRowsConfig(int ItemsPerRow, int VectorWidth, int RowsPerGroup, int FromDim)
{
    public const int DefaultItemsPerRow = 64, DefaultVectorWidth = 4, DefaultRowsPerGroup = 1, DefaultFromDim = 256;

    /// <summary>
    /// GRD when not set: 256 on GPUs and accelerators; never (int.MaxValue) on CPU devices, where one work item per row
    /// already reads contiguous memory and the per-row kernel measured faster (PoCL, 2-core VM, 2026-12-02: docs/BENCHMARKS.md).
    /// </summary>
    public static int DefaultFromDimFor(bool cpuDevice) => cpuDevice ? int.MaxValue : DefaultFromDim;

    /// <summary>The configuration of a backend (its defines, its device type for the GRD default).</summary>
    public static GmmRowsConfig Of(OpenClBackend b) => Of(b.Defines("gmm-rows"), b.Device.TypeName == "cpu");

    /// <summary>The configuration a backend's defines give (defaults for those not set); throws on a value the kernel cannot take.</summary>
    public static GmmRowsConfig Of(IReadOnlyDictionary<string, string> defines, bool cpuDevice = false)
    {
        int Get(string name, int def) =>
            !defines.TryGetValue(name, out var s) ? def
            : int.TryParse(s, out var v) ? v : throw new ArgumentException($"{name}={s} is not an integer");
        var c = new GmmRowsConfig(Get("GRW", DefaultItemsPerRow), Get("GRV", DefaultVectorWidth), Get("GRR", DefaultRowsPerGroup), Get("GRD", DefaultFromDimFor(cpuDevice)));
        if (c.ItemsPerRow < 1 || (c.ItemsPerRow & (c.ItemsPerRow - 1)) != 0) throw new ArgumentException($"GRW (work items per row) must be a power of two, got {c.ItemsPerRow}");
        if (c.VectorWidth is not (1 or 2 or 4 or 8 or 16)) throw new ArgumentException($"GRV (vector width) must be 1, 2, 4, 8 or 16, got {c.VectorWidth}");
        if (c.RowsPerGroup < 1) throw new ArgumentException($"GRR (rows per work group) must be at least 1, got {c.RowsPerGroup}");
        return c;
    }

    /// <summary>Work items per group.</summary>
    public int GroupSize => ItemsPerRow * RowsPerGroup;

    /// <summary>Local memory per group: the rows' x and the K partial sums of each item.</summary>
    public long LocalBytes(int components, int dim) => 4L * RowsPerGroup * (dim + (long)components * ItemsPerRow);

    /// <summary>The defines the kernel is built with (GRD is only read by the host).</summary>
    public Dictionary<string, string> Defines() => new()
    {
        ["GRW"] = ItemsPerRow.ToString(), ["GRV"] = VectorWidth.ToString(), ["GRR"] = RowsPerGroup.ToString(),
    };
}
