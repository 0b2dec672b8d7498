using ClDiffusion.Backends.OpenCL;

namespace ClDiffusion.Tooling.OpenCL;

/// <summary>
/// The copy kernel of cl/bandwidth.cl (copy_roof) with one vector width (CVW) and vectors per work item (CPI): the
/// denominator of `cldiff bench`'s "% of copy" figures, which takes the fastest of <see cref="Variants"/>.
/// </summary>
public sealed class CopyReference : IDisposable
{
    /// <summary>The (CVW, CPI) pairs `cldiff bench` measures; the fastest is its roof.</summary>
    public static readonly (int Width, int PerItem)[] Variants = { (4, 1), (4, 4), (8, 1), (8, 4), (16, 1), (16, 4) };

    readonly OpenClBackend b;
    readonly ClKernel k;
    public int Width { get; }
    public int PerItem { get; }
    public int WorkGroup { get; }
    public string Describe => $"CVW={Width} CPI={PerItem} CWG={WorkGroup}";

    public CopyReference(OpenClBackend b, int width, int perItem, int workGroup = 256)
    {
        if (width is not (1 or 2 or 4 or 8 or 16)) throw new ArgumentException($"copy vector width must be 1, 2, 4, 8 or 16, got {width}");
        if (perItem < 1) throw new ArgumentException($"copy vectors per item must be at least 1, got {perItem}");
        this.b = b; Width = width; PerItem = perItem;
        WorkGroup = (int)Math.Min(workGroup, b.Device.MaxWorkGroupSize);
        var defs = new Dictionary<string, string> { ["CVW"] = width.ToString(), ["CPI"] = perItem.ToString(), ["CWG"] = WorkGroup.ToString() };
        k = b.Program("bandwidth.cl", defs).Kernel("copy_roof");
    }

    /// <summary>Enqueues dst = src (same shape, both of this backend).</summary>
    public void Enqueue(OpenClBuffer dst, OpenClBuffer src)
    {
        if (dst.Rows != src.Rows || dst.Cols != src.Cols) throw new ArgumentException($"copy: shape [{dst.Rows}, {dst.Cols}] does not match [{src.Rows}, {src.Cols}]");
        long n = dst.Length;
        if (n == 0) return;
        long vectors = n / Width, tail = n - vectors * Width;
        k.Set(0, dst.Mem).Set(1, src.Mem).Set(2, (int)n);
        b.Launch(k, Math.Max((vectors + PerItem - 1) / PerItem, tail), WorkGroup);
    }

    public void Dispose() => k.Dispose();
}
