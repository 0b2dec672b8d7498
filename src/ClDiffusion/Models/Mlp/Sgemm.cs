using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ClDiffusion.Models.Mlp;

/// <summary>
/// Managed single-precision matrix product C[m, n] = bias[n] + A[m, k] B[k, n] (all row-major, dense).
/// Register-blocked (4 rows x 2 SIMD vectors of columns), broadcasting A and streaming rows of B.
/// Every element is computed the same way in every code path: acc = bias (or 0), then acc = fma(A[i,p], B[p,j], acc)
/// for p = 0, 1, ..., k-1 in order. Results therefore do not depend on blocking, on the row range a thread gets,
/// or on the number of threads (the trainer relies on this for bit-reproducibility).
/// </summary>
public static unsafe class Sgemm
{
    const int MR = 4;
    /// <summary>Rows per parallel task (a multiple of MR).</summary>
    const int RowsPerTask = 32;

    /// <summary>C = bias + A B on the calling thread; bias may be empty (zero).</summary>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, ReadOnlySpan<float> bias)
    {
        Check(a.Length, b.Length, c.Length, m, k, n, bias.Length);
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
            Rows(pa, pb, pc, 0, m, k, n, bias.IsEmpty ? null : pbias);
    }

    /// <summary>C = bias + A B with row blocks spread over up to <paramref name="threads"/> threads; same bits as <see cref="Multiply"/>.</summary>
    public static void MultiplyParallel(float[] a, float[] b, float[] c, int m, int k, int n, float[]? bias, int threads)
    {
        Check(a.Length, b.Length, c.Length, m, k, n, bias?.Length ?? 0);
        int tasks = (m + RowsPerTask - 1) / RowsPerTask;
        if (threads <= 1 || tasks <= 1 || (long)m * k * n < 1 << 16)
        {
            Multiply(a, b, c, m, k, n, bias);
            return;
        }
        Parallel.For(0, tasks, new ParallelOptions { MaxDegreeOfParallelism = threads }, task =>
        {
            int r0 = task * RowsPerTask, r1 = Math.Min(m, r0 + RowsPerTask);
            fixed (float* pa = a, pb = b, pc = c, pbias = bias)
                Rows(pa, pb, pc, r0, r1, k, n, bias is null ? null : pbias);
        });
    }

    static void Check(int la, int lb, int lc, int m, int k, int n, int lbias)
    {
        if (m < 0 || k < 0 || n < 0) throw new ArgumentException($"negative matrix size [{m}, {k}] x [{k}, {n}]");
        if (la < (long)m * k || lb < (long)k * n || lc < (long)m * n)
            throw new ArgumentException($"buffers too small for [{m}, {k}] x [{k}, {n}]: {la}, {lb}, {lc}");
        if (lbias != 0 && lbias < n) throw new ArgumentException($"bias has {lbias} values, needs {n}");
    }

    /// <summary>
    /// Which SIMD width the managed kernels use: 512 bits when the machine has them (AVX-512; .NET keeps Vector&lt;float&gt;
    /// at 256 bits there by default, and the 16-lane kernel measured 1.36x faster on the same GEMM), else Vector&lt;float&gt;.
    /// </summary>
    public static bool Use512 { get; } = Vector512.IsHardwareAccelerated || System.Runtime.Intrinsics.X86.Avx512F.IsSupported;

    /// <summary>A short description of <see cref="Use512"/> for `cldiff devices` and `cldiff mlpbench`.</summary>
    public static string VectorDescription => Use512 ? "Vector512 (16 floats)" : $"Vector<float> ({Vector<float>.Count} floats)";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rows(float* a, float* b, float* c, int r0, int r1, int k, int n, float* bias)
    {
        int j0 = Use512 ? Panels512(a, b, c, r0, r1, k, n, bias) : 0;
        int w = Vector<float>.Count, nr = 2 * w;
        int js = j0 + (n - j0) / w * w; // columns [js, n): fewer than one vector, done row-vectorised by NarrowColumns
        int i = r0;
        for (; i + MR <= r1; i += MR)
        {
            int j = j0;
            for (; j + nr <= n; j += nr) Kernel4xNR(a + (long)i * k, b + j, c + (long)i * n + j, k, n, bias == null ? null : bias + j);
            for (; j < js; j += w)
                for (int ii = i; ii < i + MR; ii++) Kernel1xW(a + (long)ii * k, b + j, c + (long)ii * n + j, k, n, bias == null ? null : bias + j);
        }
        for (; i < r1; i++)
            for (int j = j0; j < js; j += w) Kernel1xW(a + (long)i * k, b + j, c + (long)i * n + j, k, n, bias == null ? null : bias + j);
        if (js < n) NarrowColumns(a, b, c, r0, r1, k, n, js, bias);
    }

    /// <summary>Largest k whose transposed row group <see cref="NarrowColumns"/> keeps on the stack (8 x 2048 floats = 64 KB).</summary>
    const int NarrowMaxK = 2048;

    /// <summary>
    /// Columns [js, n), fewer than one vector (e.g. the 2 outputs of a d = 2 score network): one scalar dot product per
    /// element ran at about 1 GFLOP/s there (a chain of dependent FMAs). Instead a group of Vector&lt;float&gt;.Count rows is
    /// transposed to [k, rows] and each column is accumulated for the whole group at once, with the same sequence per
    /// element as <see cref="Dot"/> (bias, then fma over p = 0..k-1), so the bits do not change.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void NarrowColumns(float* a, float* b, float* c, int r0, int r1, int k, int n, int js, float* bias)
    {
        int w = Vector<float>.Count;
        int i = r0;
        if (k <= NarrowMaxK)
        {
            float* at = stackalloc float[w * k];
            var lane = stackalloc float[w];
            for (; i + w <= r1; i += w)
            {
                for (int r = 0; r < w; r++)
                {
                    float* src = a + (long)(i + r) * k;
                    for (int p = 0; p < k; p++) at[p * w + r] = src[p];
                }
                for (int j = js; j < n; j++)
                {
                    var acc = new Vector<float>(bias == null ? 0f : bias[j]);
                    for (int p = 0; p < k; p++) acc = Vector.FusedMultiplyAdd(Load(at + p * w), new Vector<float>(b[(long)p * n + j]), acc);
                    Store(lane, acc);
                    for (int r = 0; r < w; r++) c[(long)(i + r) * n + j] = lane[r];
                }
            }
        }
        for (; i < r1; i++)
            for (int j = js; j < n; j++) c[(long)i * n + j] = Dot(a + (long)i * k, b + j, k, n, bias == null ? 0f : bias[j]);
    }

    /// <summary>
    /// Depth of a K chunk in <see cref="Panels512"/>: a chunk of a 32-column panel of B (256 x 32 floats = 32 KB) stays in
    /// the 48 KB L1 while the rows stream past; at k = 512 the whole panel (64 KB) did not, and the 512 x 512 layers ran at
    /// about half the speed of the 256 x 256 ones.
    /// </summary>
    const int KC = 256;

    /// <summary>
    /// Columns in panels of 32 (two 16-lane vectors), each panel swept over all rows, K in chunks of <see cref="KC"/> so
    /// that its slice of B stays in L1 while 8 rows at a time stream past it (16 accumulators of the 32 AVX-512
    /// registers). A chunk after the first starts from the partial sums stored in C: a float round-trips through memory
    /// exactly, so every element still sees bias, then fma over p in order (the same bits as without chunks).
    /// Returns the first column not covered (the rest goes to the Vector&lt;float&gt; and scalar code).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static int Panels512(float* a, float* b, float* c, int r0, int r1, int k, int n, float* bias)
    {
        const int W = 16;
        int j = 0;
        for (; j + 2 * W <= n; j += 2 * W)
            for (int p0 = 0; p0 < k || p0 == 0; p0 += KC)
            {
                int kl = Math.Min(KC, k - p0);
                // first chunk: start from the bias (stride 0: every row the same) or zero; later chunks: from C itself
                float* first = bias == null ? null : bias + j;
                int initStride = p0 == 0 ? 0 : n;
                int i = r0;
                for (; i + 8 <= r1; i += 8)
                    Kernel8x32(a + (long)i * k + p0, k, b + (long)p0 * n + j, c + (long)i * n + j, kl, n,
                        p0 == 0 ? first : c + (long)i * n + j, initStride);
                for (; i < r1; i++)
                    Kernel1x32(a + (long)i * k + p0, b + (long)p0 * n + j, c + (long)i * n + j, kl, n,
                        p0 == 0 ? first : c + (long)i * n + j);
            }
        for (; j + W <= n; j += W)
            for (int i = r0; i < r1; i++) Kernel1x16(a + (long)i * k, b + j, c + (long)i * n + j, k, n, bias == null ? null : bias + j);
        return j;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Init(float* init, int col, int row, int stride) => init == null ? Vector512<float>.Zero : Vector512.Load(init + (long)row * stride + col);

    /// <summary>8 rows x 32 columns over kl steps of K; A rows lda apart; accumulators start from init (row r at init + r * initStride, null = 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel8x32(float* a, int lda, float* b, float* c, int kl, int n, float* init, int initStride)
    {
        const int W = 16;
        Vector512<float> c00 = Init(init, 0, 0, initStride), c01 = Init(init, W, 0, initStride);
        Vector512<float> c10 = Init(init, 0, 1, initStride), c11 = Init(init, W, 1, initStride);
        Vector512<float> c20 = Init(init, 0, 2, initStride), c21 = Init(init, W, 2, initStride);
        Vector512<float> c30 = Init(init, 0, 3, initStride), c31 = Init(init, W, 3, initStride);
        Vector512<float> c40 = Init(init, 0, 4, initStride), c41 = Init(init, W, 4, initStride);
        Vector512<float> c50 = Init(init, 0, 5, initStride), c51 = Init(init, W, 5, initStride);
        Vector512<float> c60 = Init(init, 0, 6, initStride), c61 = Init(init, W, 6, initStride);
        Vector512<float> c70 = Init(init, 0, 7, initStride), c71 = Init(init, W, 7, initStride);
        for (int p = 0; p < kl; p++)
        {
            float* bp = b + (long)p * n;
            var b0 = Vector512.Load(bp); var b1 = Vector512.Load(bp + W);
            float* ap = a + p;
            var x = Vector512.Create(ap[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(ap[lda]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(ap[2 * lda]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(ap[3 * lda]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(ap[4 * lda]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(ap[5 * lda]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(ap[6 * lda]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(ap[7 * lda]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }
        c00.Store(c); c01.Store(c + W); c += n;
        c10.Store(c); c11.Store(c + W); c += n;
        c20.Store(c); c21.Store(c + W); c += n;
        c30.Store(c); c31.Store(c + W); c += n;
        c40.Store(c); c41.Store(c + W); c += n;
        c50.Store(c); c51.Store(c + W); c += n;
        c60.Store(c); c61.Store(c + W); c += n;
        c70.Store(c); c71.Store(c + W);
    }

    /// <summary>1 row x 32 columns over kl steps of K, starting from init (null = 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel1x32(float* a, float* b, float* c, int kl, int n, float* init)
    {
        const int W = 16;
        Vector512<float> c0 = Init(init, 0, 0, 0), c1 = Init(init, W, 0, 0);
        for (int p = 0; p < kl; p++)
        {
            float* bp = b + (long)p * n;
            var x = Vector512.Create(a[p]);
            c0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(bp), c0); c1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(bp + W), c1);
        }
        c0.Store(c); c1.Store(c + W);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel1x16(float* a, float* b, float* c, int k, int n, float* bias)
    {
        Vector512<float> c0 = bias == null ? Vector512<float>.Zero : Vector512.Load(bias);
        for (int p = 0; p < k; p++) c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[p]), Vector512.Load(b + (long)p * n), c0);
        c0.Store(c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector<float> Load(float* p) => Unsafe.ReadUnaligned<Vector<float>>(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* p, Vector<float> v) => Unsafe.WriteUnaligned(p, v);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel4xNR(float* a, float* b, float* c, int k, int n, float* bias)
    {
        int w = Vector<float>.Count;
        Vector<float> init0 = bias == null ? Vector<float>.Zero : Load(bias), init1 = bias == null ? Vector<float>.Zero : Load(bias + w);
        Vector<float> c00 = init0, c01 = init1, c10 = init0, c11 = init1, c20 = init0, c21 = init1, c30 = init0, c31 = init1;
        float* a0 = a, a1 = a + k, a2 = a + 2 * k, a3 = a + 3 * k;
        for (int p = 0; p < k; p++)
        {
            float* bp = b + (long)p * n;
            var b0 = Load(bp); var b1 = Load(bp + w);
            var x = new Vector<float>(a0[p]);
            c00 = Vector.FusedMultiplyAdd(x, b0, c00); c01 = Vector.FusedMultiplyAdd(x, b1, c01);
            x = new Vector<float>(a1[p]);
            c10 = Vector.FusedMultiplyAdd(x, b0, c10); c11 = Vector.FusedMultiplyAdd(x, b1, c11);
            x = new Vector<float>(a2[p]);
            c20 = Vector.FusedMultiplyAdd(x, b0, c20); c21 = Vector.FusedMultiplyAdd(x, b1, c21);
            x = new Vector<float>(a3[p]);
            c30 = Vector.FusedMultiplyAdd(x, b0, c30); c31 = Vector.FusedMultiplyAdd(x, b1, c31);
        }
        Store(c, c00); Store(c + w, c01);
        Store(c + n, c10); Store(c + n + w, c11);
        Store(c + 2 * n, c20); Store(c + 2 * n + w, c21);
        Store(c + 3 * n, c30); Store(c + 3 * n + w, c31);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel1xW(float* a, float* b, float* c, int k, int n, float* bias)
    {
        Vector<float> acc = bias == null ? Vector<float>.Zero : Load(bias);
        for (int p = 0; p < k; p++) acc = Vector.FusedMultiplyAdd(new Vector<float>(a[p]), Load(b + (long)p * n), acc);
        Store(c, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(float* a, float* bcol, int k, int n, float init)
    {
        float acc = init;
        for (int p = 0; p < k; p++) acc = MathF.FusedMultiplyAdd(a[p], bcol[(long)p * n], acc);
        return acc;
    }

    /// <summary>dst[n, m] = src[m, n] transposed.</summary>
    public static void Transpose(ReadOnlySpan<float> src, int m, int n, Span<float> dst)
    {
        if (src.Length < (long)m * n || dst.Length < (long)m * n) throw new ArgumentException("transpose: buffers too small");
        const int B = 32;
        for (int i0 = 0; i0 < m; i0 += B)
            for (int j0 = 0; j0 < n; j0 += B)
            {
                int i1 = Math.Min(m, i0 + B), j1 = Math.Min(n, j0 + B);
                for (int i = i0; i < i1; i++)
                    for (int j = j0; j < j1; j++) dst[j * m + i] = src[i * n + j];
            }
    }
}
