#:project cldiff/cldiff.csproj
#:property Configuration=Release
// Run from the repository root after `bash tools/fashion-sweep.sh samplers`:
//   dotnet run tools/fashion_plot.cs -- docs/img/data/fashion-samplers.csv docs/img/fashion-frechet-vs-nfe.png [title]
// Frechet distance (classifier features, docs/IMAGES.md) against NFE per sample, one line per sampler, log-log, with
// the floor of the same run (as many training images) dashed: cldiff's own plot (tools/cldiff/Output/Plot.cs).
using System.Globalization;
using ClDiffusion.Cli.Output;

var inv = CultureInfo.InvariantCulture;
var lines = File.ReadAllLines(args[0]);
var head = lines[0].Split(',');
int Col(string n) => Array.IndexOf(head, n);
var rows = lines.Skip(1).Select(l => l.Split(',')).Where(r => r.Length == head.Length && r[Col("nfe")] != "?").ToArray();
double floor = double.Parse(rows[0][Col("floor")], inv);
var series = rows.GroupBy(r => r[Col("label")])
    .Select(g => new Plot.Series(g.Key, g.Select(r => (double.Parse(r[Col("nfe")], inv), double.Parse(r[Col("frechet")], inv))).OrderBy(p => p.Item1).ToArray(), null))
    .ToList();
string title = args.Length > 2 ? args[2] : "Fashion-MNIST (d = 784): Frechet (classifier features) vs NFE";
Plot.LogLog(args[1], title, "score evaluations (NFE) per sample", "Frechet distance (classifier features)", series,
    reference: ($"floor {floor.ToString("0.00", inv)}", floor));
Console.WriteLine($"{args[1]}: {series.Count} samplers, {rows.Length} points, floor {floor.ToString("0.000", inv)}");
