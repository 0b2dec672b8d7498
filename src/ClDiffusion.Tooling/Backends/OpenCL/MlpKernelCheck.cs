using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Backends.OpenCL.Mlp;
using ClDiffusion.Backends.OpenCL.Tuning;

namespace ClDiffusion.Tooling.OpenCL;

/// <summary>
/// Verifies one tile configuration of the MLP kernels against the float64 reference on awkward shapes (d 1..64,
/// widths 5..300, rows 1..300, all prediction types, per-row times); returns the worst relative error.
/// Used by `cldiff mlpbench` before timing a configuration, so no unverified candidate is ever reported.
/// </summary>
public static class MlpKernelCheck
{
    /// <summary>
    /// A small MLP with deterministic random weights (Philox, Purpose.Test): identity normalisation, or random
    /// mean/std when randomNormalisation (the tests' loader and kernel checks use that form).
    /// </summary>
    internal static MlpModel RandomModel(int d, int width, int hidden, int F, ulong seed, MlpPrediction p,
        bool randomNormalisation = false, IReadOnlyDictionary<string, string>? info = null, int classes = 0)
    {
        var key = new RandomKey(seed, 0, Purpose.Test);
        int s = 0;
        float[] Rand(int n, float scale) { var a = new float[n]; key.WithStep((uint)s++).Normals(0, a); for (int i = 0; i < n; i++) a[i] *= scale; return a; }
        var layers = new List<MlpLayer>();
        int inW = d + 2 * F;
        for (int l = 0; l <= hidden; l++)
        {
            int o = l == hidden ? d : width;
            layers.Add(new MlpLayer(inW, o, Rand(o * inW, 1 / MathF.Sqrt(inW)), Rand(o, 0.1f)));
            inW = o;
        }
        float[] mean = new float[d], std = Enumerable.Repeat(1f, d).ToArray();
        if (randomNormalisation)
        {
            std = Rand(d, 0.3f); for (int i = 0; i < d; i++) std[i] = 1 + MathF.Abs(std[i]);
            mean = Rand(d, 1);
        }
        var freqs = new[] { 0.5f, 7f, 40f }.Take(F).ToArray();
        var embed = classes > 0 ? Rand((classes + 1) * layers[0].Out, 0.7f) : null;   // K classes + the null class
        return new MlpModel(layers, freqs, mean, std, p, info, embed);
    }

    public static double Run(OpenClBackend b, MlpKernelConfig cfg)
    {
        double worst = 0;
        var off = Enumerable.Range(0, 7).Select(i => 7.8f * i / 6f).ToArray();
        using var ob = b.Allocate(7, 1); b.Upload(ob, off);
        foreach (int d in new[] { 1, 3, 17, 64 })
            foreach (int w in new[] { 5, 33, 128, 300 })
                foreach (int rows in new[] { 1, 7, 300 })
                {
                    var p = (MlpPrediction)((d + w + rows) % 3);
                    var m = RandomModel(d, w, 2, 3, (ulong)(d * 7 + w), p);
                    var x = new float[rows * d]; new RandomKey(1, 0, Purpose.Test).Normals(0, x);
                    using var sc = new OpenClMlpScore(b, m, cfg);
                    using var xb = b.Allocate(rows, d); using var sb = b.Allocate(rows, d);
                    b.Upload(xb, x);
                    b.Score(sc, xb, 8f, 1f, ob, sb);
                    var s = new float[rows * d]; b.Download(sb, s);
                    var rr = new double[d];
                    for (int r = 0; r < rows; r++)
                    {
                        m.ScoreReference(x.AsSpan(r * d, d), 8f - off[r % 7], rr);
                        for (int j = 0; j < d; j++) { double e = Math.Abs(s[r * d + j] - rr[j]) / (1 + Math.Abs(rr[j])); if (!(e <= worst)) worst = e; }
                    }
                }
        return worst;
    }
}
