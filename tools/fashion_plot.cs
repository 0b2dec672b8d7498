#:package SkiaSharp@3.119.0
#:package SkiaSharp.NativeAssets.Linux.NoDependencies@3.119.0
#:property Configuration=Release
// Run from the repository root after `bash tools/fashion-sweep.sh samplers`:
//   dotnet run tools/fashion_plot.cs -- docs/img/data/fashion-samplers.csv docs/img/fashion-frechet-vs-nfe.png
// Frechet distance (classifier features, docs/IMAGES.md) against NFE per sample, one line per sampler, log-log, with
// the floor of the same run (as many training images) dashed. The drawing follows cldiff's Plot.LogLog
// (tools/cldiff/Commands/ScalingCommand.cs), which is internal to cldiff.
using System.Globalization;
using SkiaSharp;

var inv = CultureInfo.InvariantCulture;
var lines = File.ReadAllLines(args[0]);
var head = lines[0].Split(',');
int Col(string n) => Array.IndexOf(head, n);
var rows = lines.Skip(1).Select(l => l.Split(',')).Where(r => r.Length == head.Length && r[Col("nfe")] != "?").ToArray();
double floor = double.Parse(rows[0][Col("floor")], inv);
var series = rows.GroupBy(r => r[Col("label")])
    .Select(g => (Name: g.Key, Pts: g.Select(r => (x: double.Parse(r[Col("nfe")], inv), y: double.Parse(r[Col("frechet")], inv))).OrderBy(p => p.x).ToArray()))
    .ToArray();
string title = args.Length > 2 ? args[2] : "Fashion-MNIST (d = 784): Frechet (classifier features) vs NFE";

const int W = 900, H = 600, L = 80, R = 200, Tp = 50, B = 60;
var all = series.SelectMany(s => s.Pts).Where(p => p.y > 0 && double.IsFinite(p.y)).Append((x: 5.0, y: floor)).ToArray();
double x0 = Math.Log10(all.Min(p => p.x)), x1 = Math.Log10(all.Max(p => p.x));
double y0 = Math.Floor(Math.Log10(all.Min(p => p.y))), y1 = Math.Ceiling(Math.Log10(all.Max(p => p.y)));
if (x1 <= x0) x1 = x0 + 1; if (y1 <= y0) y1 = y0 + 1;
double pad = 0.03 * (x1 - x0); x0 -= pad; x1 += pad;
float Px(double x) => (float)(L + (Math.Log10(x) - x0) / (x1 - x0) * (W - L - R));
float Py(double y) => (float)(H - B - (Math.Log10(y) - y0) / (y1 - y0) * (H - Tp - B));
SKColor[] colors = [new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40), new(148, 103, 189),
    new(140, 86, 75), new(227, 119, 194), new(127, 127, 127), new(188, 189, 34), new(23, 190, 207)];
using var surface = SKSurface.Create(new SKImageInfo(W, H));
var c = surface.Canvas;
c.Clear(SKColors.White);
using var font = new SKFont(SKTypeface.Default, 14);
using var small = new SKFont(SKTypeface.Default, 12);
using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true, StrokeWidth = 1 };
using var grid = new SKPaint { Color = new SKColor(220, 220, 220), StrokeWidth = 1 };
for (int e = (int)y0; e <= (int)y1; e++)
    foreach (var m in new[] { 1.0, 2, 5 })
    {
        double v = m * Math.Pow(10, e);
        if (Math.Log10(v) > y1) continue;
        float y = Py(v);
        c.DrawLine(L, y, W - R, y, grid);
        c.DrawText(v.ToString("G4", inv), L - 8, y + 4, SKTextAlign.Right, small, ink);
    }
foreach (var v in new[] { 2.0, 3, 5, 10, 15, 20, 30, 50, 100, 200 }.Where(v => Math.Log10(v) >= x0 && Math.Log10(v) <= x1))
{
    float x = Px(v);
    c.DrawLine(x, Tp, x, H - B, grid);
    c.DrawText(v.ToString("G4", inv), x, H - B + 18, SKTextAlign.Center, small, ink);
}
using var frame = new SKPaint { Color = SKColors.Black, Style = SKPaintStyle.Stroke };
c.DrawRect(L, Tp, W - L - R, H - Tp - B, frame);
c.DrawText(title, W / 2f - R / 2f, 30, SKTextAlign.Center, font, ink);
c.DrawText("score evaluations (NFE) per sample", L + (W - L - R) / 2f, H - 15, SKTextAlign.Center, font, ink);
c.Save(); c.RotateDegrees(-90); c.DrawText("Frechet distance (classifier features)", -(Tp + (H - Tp - B) / 2f), 20, SKTextAlign.Center, font, ink); c.Restore();
c.Save();
c.ClipRect(new SKRect(L, Tp, W - R, H - B));
using (var dash = new SKPaint { Color = SKColors.Black, IsAntialias = true, StrokeWidth = 1.5f, Style = SKPaintStyle.Stroke, PathEffect = SKPathEffect.CreateDash([6, 4], 0) })
    c.DrawLine(L, Py(floor), W - R, Py(floor), dash);
for (int i = 0; i < series.Length; i++)
{
    using var pen = new SKPaint { Color = colors[i % colors.Length], IsAntialias = true, StrokeWidth = 2, Style = SKPaintStyle.Stroke };
    using var fill = new SKPaint { Color = colors[i % colors.Length], IsAntialias = true };
    var pts = series[i].Pts.Where(p => p.y > 0 && double.IsFinite(p.y)).ToArray();
    for (int j = 1; j < pts.Length; j++) c.DrawLine(Px(pts[j - 1].x), Py(pts[j - 1].y), Px(pts[j].x), Py(pts[j].y), pen);
    foreach (var p in pts) c.DrawCircle(Px(p.x), Py(p.y), 4, fill);
}
c.Restore();
for (int i = 0; i <= series.Length; i++)
{
    float y = Tp + 10 + 22 * i;
    if (i == series.Length)
    {
        using var dash = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.5f, Style = SKPaintStyle.Stroke, PathEffect = SKPathEffect.CreateDash([6, 4], 0) };
        c.DrawLine(W - R + 10, y - 4, W - R + 26, y - 4, dash);
        c.DrawText($"floor {floor.ToString("0.00", inv)}", W - R + 30, y, SKTextAlign.Left, small, ink);
        break;
    }
    using var fill = new SKPaint { Color = colors[i % colors.Length], IsAntialias = true };
    c.DrawCircle(W - R + 18, y - 4, 5, fill);
    c.DrawText(series[i].Name, W - R + 30, y, SKTextAlign.Left, small, ink);
}
using var img = surface.Snapshot();
using var data = img.Encode(SKEncodedImageFormat.Png, 90);
File.WriteAllBytes(args[1], data.ToArray());
Console.WriteLine($"{args[1]}: {series.Length} samplers, {rows.Length} points, floor {floor.ToString("0.000", inv)}");
