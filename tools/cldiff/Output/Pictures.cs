using ClDiffusion.IO;
using SkiaSharp;

namespace ClDiffusion.Cli.Output;

/// <summary>PNG pictures of samples (SkiaSharp does the drawing and the encoding), written atomically.</summary>
public static class Pictures
{
    /// <summary>The grey images a sample of dimension d draws as: 8x8 optdigits (0..16) or 28x28 Fashion-MNIST (0..255).</summary>
    sealed record ImageKind(int Side, float Min, float Max, int Scale)
    {
        /// <summary>The kind of d; `range` (the data-space values of black and white, from the model) replaces the data set's.</summary>
        public static ImageKind? Of(int d, (double Black, double White)? range = null)
        {
            ImageKind? k = d switch
            {
                64 => new(8, 0f, 16f, 4),
                784 => new(28, 0f, 255f, 2),
                _ => null,
            };
            return k is not null && range is { } r ? k with { Min = (float)r.Black, Max = (float)r.White } : k;
        }
    }

    /// <summary>
    /// d = 64: a grid of 8x8 grey images (values clamped to the optdigits range 0..16); d = 784: a grid of 28x28 grey
    /// images (Fashion-MNIST, 0..255); `range` (a model's own black and white, e.g. -1..1) replaces those; otherwise a
    /// scatter of the first two coordinates, with the checkerboard's squares shaded when `checkerboard`.
    /// </summary>
    public static void Write(string path, float[] samples, int n, int d, bool checkerboard, (double Black, double White)? range = null)
    {
        if (!path.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"--png must end in .png, got '{path}'");
        if (ImageKind.Of(d, range) is { } kind) ImageGrid(path, samples, n, kind);
        else if (d >= 2) Scatter(path, samples, n, d, checkerboard);
        else throw new ArgumentException("--png needs d >= 2 (a scatter), d = 64 (8x8 images) or d = 784 (28x28 images)");
    }

    /// <summary>Whether samples of dimension d are drawn as images (and can be drawn one row per class).</summary>
    public static bool IsImage(int d) => ImageKind.Of(d) is not null;

    static void Save(string path, SKBitmap bmp)
    {
        using var image = SKImage.FromBitmap(bmp);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, s => data.SaveTo(s));
    }

    /// <summary>8x8 or 28x28 images with one row per label (ascending; -1 = unconditional first), at most 12 samples per row (the picture as wide as the longest row).</summary>
    public static void ClassRows(string path, float[] x, int[] labels, int d, (double Black, double White)? range = null)
    {
        var kind = ImageKind.Of(d, range) ?? throw new ArgumentException("a picture with one row per class needs d = 64 (8x8 images) or d = 784 (28x28 images)");
        const int perRow = 12;
        var rows = labels.Select((c, i) => (c, i)).GroupBy(p => p.c).OrderBy(g => g.Key).Select(g => g.Take(perRow).Select(p => p.i).ToArray()).ToArray();
        var order = new List<int>(); var place = new List<(int col, int row)>();
        for (int r = 0; r < rows.Length; r++)
            for (int c = 0; c < rows[r].Length; c++) { order.Add(rows[r][c]); place.Add((c, r)); }
        ImageGrid(path, x, order.Count, rows.Max(r => r.Length), rows.Length, i => order[i], i => place[i], kind);
    }

    static void ImageGrid(string path, float[] x, int n, ImageKind kind)
    {
        int count = Math.Min(n, 100), cols = (int)Math.Ceiling(Math.Sqrt(count)), rows = (count + cols - 1) / cols;
        ImageGrid(path, x, count, cols, rows, i => i, i => (i % cols, i / cols), kind);
    }

    static void ImageGrid(string path, float[] x, int count, int cols, int rows, Func<int, int> sampleOf, Func<int, (int col, int row)> cellOf, ImageKind kind)
    {
        const int pad = 2;
        int scale = kind.Scale, side = kind.Side, d = side * side;
        int cell = side * scale + pad;
        using var bmp = new SKBitmap(cols * cell + pad, rows * cell + pad);
        using var canvas = new SKCanvas(bmp);
        canvas.Clear(new SKColor(40, 40, 60));
        using var paint = new SKPaint();
        for (int i = 0; i < count; i++)
        {
            var (cx, cy) = cellOf(i);
            int ox = pad + cx * cell, oy = pad + cy * cell, s = sampleOf(i);
            for (int p = 0; p < d; p++)
            {
                byte v = (byte)Math.Clamp((x[(long)s * d + p] - kind.Min) / (kind.Max - kind.Min) * 255f, 0, 255);
                paint.Color = new SKColor(v, v, v);
                canvas.DrawRect(ox + (p % side) * scale, oy + (p / side) * scale, scale, scale, paint);
            }
        }
        Save(path, bmp);
    }

    static void Scatter(string path, float[] x, int n, int d, bool checkerboard)
    {
        const int size = 640;
        float lo = -4.5f, hi = 4.5f;
        if (!checkerboard)
        {
            lo = float.MaxValue; hi = float.MinValue;
            for (int i = 0; i < n; i++) for (int j = 0; j < 2; j++) { float v = x[(long)i * d + j]; if (float.IsFinite(v)) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); } }
            float m = 0.05f * (hi - lo + 1e-3f); lo -= m; hi += m;
        }
        float Px(float v) => (v - lo) / (hi - lo) * size;
        float Py(float v) => size - (v - lo) / (hi - lo) * size;
        using var bmp = new SKBitmap(size, size);
        using var canvas = new SKCanvas(bmp);
        canvas.Clear(SKColors.White);
        if (checkerboard)
        {
            using var shade = new SKPaint { Color = new SKColor(225, 232, 245) };
            for (int a = -2; a < 2; a++)
                for (int b = -2; b < 2; b++)
                    if (((a + b) & 1) == 0)
                        canvas.DrawRect(SKRect.Create(Px(2 * a), Py(2 * b + 2), Px(2) - Px(0), Py(0) - Py(2)), shade);
        }
        using var dot = new SKPaint { Color = new SKColor(200, 40, 40, 110), IsAntialias = true };
        for (int i = 0; i < n; i++) canvas.DrawCircle(Px(x[(long)i * d]), Py(x[(long)i * d + 1]), 1.6f, dot);
        Save(path, bmp);
    }
}
