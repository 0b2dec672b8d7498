using System.Globalization;
using ClDiffusion.Tooling.Experiments;
using SkiaSharp;

namespace ClDiffusion.Cli.Output;

/// <summary>
/// Minimal log-log line plots drawn with SkiaSharp (points, lines, fitted power laws dashed, an optional dashed reference
/// line such as a noise floor, legend). Used by the scaling and train verbs and by tools/fashion_plot.cs.
/// </summary>
public static class Plot
{
    public sealed record Series(string Name, (double x, double y)[] Points, ExponentFit.Line? Fit);

    static readonly SKColor[] Colors =
    [
        new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40), new(148, 103, 189),
        new(140, 86, 75), new(227, 119, 194), new(127, 127, 127), new(188, 189, 34), new(23, 190, 207),
    ];

    public static void LogLog(string path, string title, string xLabel, string yLabel, IReadOnlyList<Series> series, bool logX = true,
        (string Label, double Y)? reference = null)
    {
        const int W = 900, H = 600, L = 80, R = 230, Tp = 50, B = 60;
        var all = series.SelectMany(s => s.Points).Where(p => p.y > 0 && double.IsFinite(p.y)).ToArray();
        if (all.Length == 0) return;
        double yMin = all.Min(p => p.y), yMax = all.Max(p => p.y);
        if (reference is { Y: > 0 } r0 && double.IsFinite(r0.Y)) { yMin = Math.Min(yMin, r0.Y); yMax = Math.Max(yMax, r0.Y); }
        double Fx(double x) => logX ? Math.Log10(x) : x;
        double x0 = all.Min(p => Fx(p.x)), x1 = all.Max(p => Fx(p.x));
        double y0 = Math.Floor(Math.Log10(yMin)), y1 = Math.Ceiling(Math.Log10(yMax));
        if (x1 <= x0) x1 = x0 + 1; if (y1 <= y0) y1 = y0 + 1;
        double pad = 0.03 * (x1 - x0); x0 -= pad; x1 += pad;
        float Px(double x) => (float)(L + (Fx(x) - x0) / (x1 - x0) * (W - L - R));
        float Py(double y) => (float)(H - B - (Math.Log10(y) - y0) / (y1 - y0) * (H - Tp - B));
        using var surface = SKSurface.Create(new SKImageInfo(W, H));
        var c = surface.Canvas;
        c.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 14);
        using var small = new SKFont(SKTypeface.Default, 12);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true, StrokeWidth = 1 };
        using var grid = new SKPaint { Color = new SKColor(220, 220, 220), StrokeWidth = 1 };
        for (int e = (int)y0; e <= (int)y1; e++)
        {
            float y = Py(Math.Pow(10, e));
            c.DrawLine(L, y, W - R, y, grid);
            c.DrawText($"1e{e}", L - 8, y + 4, SKTextAlign.Right, small, ink);
        }
        var xt = logX ? Enumerable.Range((int)Math.Floor(x0), (int)Math.Ceiling(x1) - (int)Math.Floor(x0) + 1).SelectMany(e => new[] { Math.Pow(10, e), 2 * Math.Pow(10, e), 5 * Math.Pow(10, e) })
                      : Enumerable.Range((int)Math.Ceiling(x0), (int)Math.Floor(x1) - (int)Math.Ceiling(x0) + 1).Select(v => (double)v);
        foreach (var v in xt.Where(v => Fx(v) >= x0 && Fx(v) <= x1))
        {
            float x = Px(v);
            c.DrawLine(x, Tp, x, H - B, grid);
            c.DrawText(v.ToString("G4", CultureInfo.InvariantCulture), x, H - B + 18, SKTextAlign.Center, small, ink);
        }
        c.DrawRect(L, Tp, W - L - R, H - Tp - B, new SKPaint { Color = SKColors.Black, Style = SKPaintStyle.Stroke });
        c.DrawText(title, W / 2f - R / 2f, 30, SKTextAlign.Center, font, ink);
        c.DrawText(xLabel, L + (W - L - R) / 2f, H - 15, SKTextAlign.Center, font, ink);
        c.Save(); c.RotateDegrees(-90); c.DrawText(yLabel, -(Tp + (H - Tp - B) / 2f), 20, SKTextAlign.Center, font, ink); c.Restore();
        c.Save();
        c.ClipRect(new SKRect(L, Tp, W - R, H - B));
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            using var pen = new SKPaint { Color = Colors[i % Colors.Length], IsAntialias = true, StrokeWidth = 2, Style = SKPaintStyle.Stroke };
            using var fill = new SKPaint { Color = Colors[i % Colors.Length], IsAntialias = true };
            var pts = s.Points.Where(p => p.y > 0 && double.IsFinite(p.y)).OrderBy(p => p.x).ToArray();
            if (s.Fit is null)
                for (int j = 1; j < pts.Length; j++) c.DrawLine(Px(pts[j - 1].x), Py(pts[j - 1].y), Px(pts[j].x), Py(pts[j].y), pen);
            else if (pts.Length > 1)
            {
                using var dash = new SKPaint { Color = pen.Color, IsAntialias = true, StrokeWidth = 1.5f, Style = SKPaintStyle.Stroke, PathEffect = SKPathEffect.CreateDash([6, 4], 0) };
                double a = pts[0].x, b = pts[^1].x;
                c.DrawLine(Px(a), Py(Math.Exp(s.Fit.Intercept + s.Fit.Slope * Math.Log(a))), Px(b), Py(Math.Exp(s.Fit.Intercept + s.Fit.Slope * Math.Log(b))), dash);
            }
            foreach (var p in pts) c.DrawCircle(Px(p.x), Py(p.y), 4, fill);
        }
        using var refPen = new SKPaint { Color = SKColors.Black, IsAntialias = true, StrokeWidth = 1.5f, Style = SKPaintStyle.Stroke, PathEffect = SKPathEffect.CreateDash([6, 4], 0) };
        if (reference is { Y: > 0 } r && double.IsFinite(r.Y)) c.DrawLine(L, Py(r.Y), W - R, Py(r.Y), refPen);
        c.Restore();
        for (int i = 0; i < series.Count; i++)
        {
            float y = Tp + 10 + 22 * i;
            using var fill = new SKPaint { Color = Colors[i % Colors.Length], IsAntialias = true };
            c.DrawCircle(W - R + 18, y - 4, 5, fill);
            c.DrawText(series[i].Name, W - R + 30, y, SKTextAlign.Left, small, ink);
        }
        if (reference is { } rl)
        {
            float y = Tp + 10 + 22 * series.Count;
            c.DrawLine(W - R + 10, y - 4, W - R + 26, y - 4, refPen);
            c.DrawText(rl.Label, W - R + 30, y, SKTextAlign.Left, small, ink);
        }
        using var img = surface.Snapshot();
        using var data = img.Encode(SKEncodedImageFormat.Png, 90);
        File.WriteAllBytes(path, data.ToArray());
    }
}
