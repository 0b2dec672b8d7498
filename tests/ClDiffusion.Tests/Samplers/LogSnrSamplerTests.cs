using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;
using static ClDiffusion.Diffusion.LogSnrSteps;

namespace ClDiffusion.Tests.Samplers;

/// <summary>The data-prediction samplers on the log-SNR axis (rm-x0, prm-x0) and their primitives, against exact answers.</summary>
public class LogSnrSamplerTests
{
    static readonly CpuBackend Cpu = new();

    static float[] Read(IDeviceBuffer b)
    {
        var o = new float[b.Rows * b.Cols];
        Cpu.Download(b, o);
        return o;
    }

    /// <summary>Draws n tilted midpoints on [lambdaEnd - h, lambdaEnd] through DrawAlphas + TiltedTimes; returns their lambdas.</summary>
    static double[] TiltedLambdas(int n, int R, double lambdaEnd, double h)
    {
        using var u = Cpu.Allocate(n, R);
        using var times = Cpu.Allocate(n, R);
        Cpu.DrawAlphas(u, new RandomKey(17, 3, Purpose.Alpha), 0, AlphaLaw.Stratified, (float)h);
        Cpu.TiltedTimes(times, u, lambdaEnd, h);
        return Read(times).Select(t => Point.At(t).Lambda).ToArray();
    }

    [TestCase(0.3)]
    [TestCase(2.5)]
    public void TiltedMidpointsFollowTheirDensity(double h)
    {
        // the inverse CDF (TiltedTimes) against the density e^lambda (TiltedDensity), integrated over 20 bins by Simpson
        const int n = 200_000, bins = 20;
        double lambdaEnd = 0.7, lambdaStart = lambdaEnd - h;
        var lam = TiltedLambdas(n, 1, lambdaEnd, h);
        var counts = new int[bins];
        foreach (var l in lam)
        {
            Assert.That(l, Is.InRange(lambdaStart - 1e-5, lambdaEnd + 1e-5));
            counts[Math.Clamp((int)((l - lambdaStart) / h * bins), 0, bins - 1)]++;
        }
        for (int b = 0; b < bins; b++)
        {
            double a = lambdaStart + h * b / bins, w = h / bins, p = 0;
            for (int i = 0; i <= 100; i++) p += (i == 0 || i == 100 ? 1 : i % 2 == 1 ? 4 : 2) * TiltedDensity(a + w * i / 100, lambdaEnd, h);
            p *= w / 300;
            double sd = Math.Sqrt(n * p * (1 - p));
            Assert.That(counts[b], Is.EqualTo(n * p).Within(5 * sd), $"bin {b}");
        }
        // the density tilts towards the step end: on a long step, most midpoints lie in its last third
        if (h > 2) Assert.That(lam.Count(l => l > lambdaEnd - h / 3), Is.GreaterThan(n * 0.6));
    }

    [Test]
    public void RotatedMidpointsAreUniformAtEveryStepAndConsecutiveStepsStayApart()
    {
        // rm-x0's multistep form: one uniform per sample rotated by frac(n phi) at step n. Every step's marginal law must
        // be uniform, and consecutive steps differ by frac(phi) mod 1 exactly.
        const int n = 100_000, steps = 6, bins = 20;
        var key = new RandomKey(23, 0, Purpose.MidpointShift);
        var prev = new float[n];
        for (int k = 0; k < steps; k++)
        {
            using var u = Cpu.Allocate(n, 1);
            float shift = (float)(k * 0.6180339887498949 % 1.0);
            Cpu.DrawAlphas(u, key, 0, AlphaLaw.Rotated, shift);
            var a = Read(u);
            var counts = new int[bins];
            foreach (var v in a) { Assert.That(v, Is.InRange(0f, 1f)); counts[Math.Min((int)(v * bins), bins - 1)]++; }
            double p = 1.0 / bins, sd = Math.Sqrt(n * p * (1 - p));
            for (int b = 0; b < bins; b++) Assert.That(counts[b], Is.EqualTo(n * p).Within(5 * sd), $"step {k}, bin {b}");
            if (k > 0)
                for (int r = 0; r < n; r++)
                {
                    double gap = ((a[r] - prev[r]) % 1.0 + 1.0) % 1.0;
                    Assert.That(Math.Min(gap, 1 - gap), Is.GreaterThan(0.38), $"sample {r}: steps {k - 1} and {k} too close");
                }
            prev = a;
        }
    }

    [Test]
    public void RotatedMidpointsAreCorrelatedFromStepToStep()
    {
        // the other side of the rotation: U_{n+1} = frac(U_n + c) is a function of U_n, with correlation
        // 1 - 6 c (1 - c) for U uniform (c = frac(phi): -0.416), so the line form's slope (from earlier midpoints) is not
        // independent of the current midpoint, and its control variate is not mean-zero (docs/DESIGN.md, rm-x0)
        const int n = 200_000;
        var key = new RandomKey(29, 0, Purpose.MidpointShift);
        using var u0 = Cpu.Allocate(n, 1); using var u1 = Cpu.Allocate(n, 1);
        const double c = 0.6180339887498949;
        Cpu.DrawAlphas(u0, key, 0, AlphaLaw.Rotated, (float)(3 * c % 1.0));
        Cpu.DrawAlphas(u1, key, 0, AlphaLaw.Rotated, (float)(4 * c % 1.0));
        var a = Read(u0).Select(v => (double)v).ToArray(); var b = Read(u1).Select(v => (double)v).ToArray();
        double ma = a.Average(), mb = b.Average();
        double cov = a.Zip(b, (p, q) => (p - ma) * (q - mb)).Average();
        double corr = cov / Math.Sqrt(a.Average(p => (p - ma) * (p - ma)) * b.Average(q => (q - mb) * (q - mb)));
        Assert.That(corr, Is.EqualTo(1 - 6 * c * (1 - c)).Within(0.01));
    }

    [Test]
    public void LineThroughTwoEvaluationsIsExactInFloat64()
    {
        // LogSnrLine against the line in lambda written out in float64, per row at its own pair of times
        const int rows = 11, d = 3;
        var ta = Enumerable.Range(0, rows).Select(r => 1.3f - 0.05f * r).ToArray();
        var tb = Enumerable.Range(0, rows).Select(r => 0.6f - 0.03f * r).ToArray();
        var da = Enumerable.Range(0, rows * d).Select(i => (float)Math.Sin(i)).ToArray();
        var db = Enumerable.Range(0, rows * d).Select(i => (float)Math.Cos(0.7 * i)).ToArray();
        using var ba = Cpu.Allocate(rows, d); using var bb = Cpu.Allocate(rows, d);
        using var bta = Cpu.Allocate(rows, 1); using var btb = Cpu.Allocate(rows, 1);
        using var start = Cpu.Allocate(rows, d); using var slope = Cpu.Allocate(rows, d);
        Cpu.Upload(ba, da); Cpu.Upload(bb, db); Cpu.Upload(bta, ta); Cpu.Upload(btb, tb);
        const double tStart = 0.2;
        Cpu.LogSnrLine(start, slope, ba, bta, bb, btb, tStart);
        var st = Read(start); var sl = Read(slope);
        for (int r = 0; r < rows; r++)
        {
            double la = Point.At(ta[r]).Lambda, lb = Point.At(tb[r]).Lambda, ls = Point.At(tStart).Lambda;
            for (int j = 0; j < d; j++)
            {
                double m = (db[r * d + j] - (double)da[r * d + j]) / (lb - la);
                double x0s = db[r * d + j] + (ls - lb) * m;
                Assert.That(sl[r * d + j], Is.EqualTo(m).Within(1e-5 + 1e-5 * Math.Abs(m)), $"slope r={r} j={j}");
                Assert.That(st[r * d + j], Is.EqualTo(x0s).Within(1e-5 + 1e-5 * Math.Abs(x0s)), $"start r={r} j={j}");
            }
        }
        Assert.That(Assert.Throws<ArgumentException>(() => Cpu.LogSnrLine(start, start, ba, bta, bb, btb, tStart))!.Message, Does.Contain("distinct"));
    }

    [Test]
    public void MultistepCostsOneEvaluationPerStepAndTwoAfterACorrector()
    {
        var g = GaussianMixture.Preset(3, 2);
        var o = new SamplerOptions { Steps = 9, CorrectorSteps = 2 };
        Assert.That(SampleRun.Run(Cpu, g, "rm-x0", o, 4, 5).stats.NfePerSample, Is.EqualTo(9));
        Assert.That(SampleRun.Run(Cpu, g, "rm-x0", o with { X0Start = X0StartMode.Fresh }, 4, 5).stats.NfePerSample, Is.EqualTo(18));
        // rm-x0-pc: the corrector's NFE, and one more x0 at the start of every step that follows a corrector (not the last)
        var grid = o.MakeGrid();
        int corrected = grid.CorrectAfter.Count(f => f);
        double ei = SampleRun.Run(Cpu, g, "ei-pc", o, 4, 5).stats.NfePerSample;   // 1 NFE/step + the same correctors
        Assert.That(SampleRun.Run(Cpu, g, "rm-x0-pc", o, 4, 5).stats.NfePerSample, Is.EqualTo(ei + corrected - 1));
    }

    [Test]
    public void StratifiedTiltedMidpointsLieInSubWindowsOfEqualMass()
    {
        const int R = 4;
        double lambdaEnd = 1.0, h = 1.7, e0 = Math.Exp(-h);
        var lam = TiltedLambdas(5000, R, lambdaEnd, h);
        for (int k = 0; k < lam.Length; k++)
        {
            double cdf = (Math.Exp(lam[k] - lambdaEnd) - e0) / (1 - e0);
            int i = k % R;
            Assert.That(cdf, Is.InRange((double)i / R - 1e-5, (i + 1.0) / R + 1e-5));
        }
    }

    /// <summary>Exact probability-flow state of a single Gaussian at forward time t from x at time s (standardised coordinate constant).</summary>
    static double Flow(GaussianMixture g, int j, double x, double s, double t)
    {
        double mu = g.Means[0][j], v = g.Variances[0][j];
        double ms = Math.Exp(-s) * mu, vs = Math.Exp(-2 * s) * v + ForwardProcess.SigmaSquared(s);
        double mt = Math.Exp(-t) * mu, vt = Math.Exp(-2 * t) * v + ForwardProcess.SigmaSquared(t);
        return mt + Math.Sqrt(vt / vs) * (x - ms);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void OneStepIsUnbiasedGivenTheExactMidpointState(bool controlVariate)
    {
        // Single Gaussian: x0(x, t) is affine in x. Every row starts from the same x_s; the midpoint state is the exact
        // flow at the drawn lambda_m; the final step must then average to the exact flow at the step end.
        var g = TestTargets.Gaussian(3);
        const int n = 100_000, d = 3;
        double ts = 1.6, tt = 0.25;
        Point s = Point.At(ts), t = Point.At(tt);
        double h = t.Lambda - s.Lambda;
        float[] xs = [0.8f, -1.1f, 0.3f];
        using var x = Cpu.Allocate(n, d); using var u = Cpu.Allocate(n, 1); using var times = Cpu.Allocate(n, 1);
        using var xm = Cpu.Allocate(n, d); using var sm = Cpu.Allocate(n, d); using var dm = Cpu.Allocate(n, d);
        using var slope = Cpu.Allocate(n, d); using var outp = Cpu.Allocate(n, d);
        Cpu.Upload(x, Enumerable.Range(0, n * d).Select(k => xs[k % d]).ToArray());
        Cpu.DrawAlphas(u, new RandomKey(5, 1, Purpose.Alpha), 0, AlphaLaw.Stratified, (float)h);
        Cpu.TiltedTimes(times, u, t.Lambda, h);
        var tm = Read(times);
        Cpu.Upload(xm, Enumerable.Range(0, n * d).Select(k => (float)Flow(g, k % d, xs[k % d], ts, tm[k / d])).ToArray());
        using var prepared = Cpu.Prepare(g);
        Cpu.Score(prepared, xm, 0f, -1f, times, sm);
        Cpu.DataPrediction(dm, xm, sm, times);
        // any slope fixed before the midpoint is drawn keeps the estimate unbiased (its term has mean zero over the draw);
        // a wrong one only adds variance. The line form's slope is not fixed that way (RotatedMidpointsAreCorrelated...)
        Cpu.Upload(slope, Enumerable.Range(0, n * d).Select(k => 0.4f - 0.3f * (k % d)).ToArray());
        Cpu.LogSnrFinal(outp, x, dm, controlVariate ? slope : null, times, ts, tt);
        var est = Read(outp);
        for (int j = 0; j < d; j++)
        {
            var col = Enumerable.Range(0, n).Select(r => (double)est[r * d + j]).ToArray();
            double mean = col.Average(), sd = Math.Sqrt(col.Average(v => (v - mean) * (v - mean)));
            double exact = Flow(g, j, xs[j], ts, tt);
            Assert.That(sd, Is.GreaterThan(1e-3), "the estimate is random");
            Assert.That(mean, Is.EqualTo(exact).Within(4 * sd / Math.Sqrt(n) + 2e-6), $"coordinate {j}");
        }
    }

    [Test]
    public void PicardWithAConstantDataPredictionIsTheFirstOrderStep()
    {
        // x0 constant over the window: the piecewise integral over the sub-windows equals the closed-form first-order step
        const int n = 7, d = 5, R = 4;
        double ts = 2.0, tt = 0.7;
        double h = Point.At(tt).Lambda - Point.At(ts).Lambda;
        var rnd = new System.Random(3);
        float[] Rand(int k) => Enumerable.Range(0, k).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        using var x = Cpu.Allocate(n, d); using var d0 = Cpu.Allocate(n, d); using var u = Cpu.Allocate(n, R); using var times = Cpu.Allocate(n, R);
        using var dRep = Cpu.Allocate(n * R, d); using var pic = Cpu.Allocate(n * R, d); using var pred = Cpu.Allocate(n * R, d);
        Cpu.Upload(x, Rand(n * d)); Cpu.Upload(d0, Rand(n * d));
        Cpu.DrawAlphas(u, new RandomKey(2, 2, Purpose.Alpha), 0, AlphaLaw.Stratified, (float)h);
        Cpu.TiltedTimes(times, u, Point.At(tt).Lambda, h);
        Cpu.RepeatRows(dRep, d0, R);
        Cpu.LogSnrPicard(pic, x, dRep, times, ts, tt);
        Cpu.LogSnrPredict(pred, x, d0, null, times, ts);
        var a = Read(pic); var b = Read(pred);
        for (int k = 0; k < a.Length; k++) Assert.That(a[k], Is.EqualTo(b[k]).Within(2e-5 + 2e-5 * Math.Abs(b[k])), $"element {k}");
    }

    [Test]
    public void ParallelWithOneMidpointAndNoPicardRoundIsTheFirstOrderStepInFloat64()
    {
        // prm-x0 with R = 1, K = 0 over one step, against the first-order midpoint step written out in float64:
        // x_m = (sigma_m/sigma_s) x + alpha_m (1 - e^{-k}) x0(x, s);  x_t = (sigma_t/sigma_s) x + alpha_t (1 - e^{-h}) x0(x_m, m)
        var g = GaussianMixture.Preset(4, 3, seed: 5);
        const int n = 9, d = 4;
        var o = new SamplerOptions { Steps = 1, SubWindows = 1, PicardRounds = 0, MidpointOrder = 1, X0Start = X0StartMode.Fresh, Horizon = 3, Delta = 0.2 };
        var (y, st) = SampleRun.Run(Cpu, g, "prm-x0", o, seed: 8, n);
        Assert.That(st.NfePerSample, Is.EqualTo(2));
        var grid = o.MakeGrid();
        double ts = grid.T(0), tt = grid.T(1);
        Point s = Point.At(ts), t = Point.At(tt);
        double h = t.Lambda - s.Lambda;
        var start = new RandomKey(8, 0, Purpose.StartNoise);
        var alpha = new RandomKey(8, 0, Purpose.Alpha);
        var score = new double[d]; var scratch = new double[64];
        for (int r = 0; r < n; r++)
        {
            var x = Enumerable.Range(0, d).Select(j => (double)start.Normal(r, j)).ToArray();
            g.Score(x, ts, score, scratch);
            var x0s = x.Select((v, j) => (v + s.Sigma * s.Sigma * score[j]) / s.Alpha).ToArray();
            double tm = (float)ForwardProcess.TimeOfLogSnr(TiltedLambda(alpha.Uniform(r, 0), t.Lambda, h));
            var m = Point.At(tm);
            double k = m.Lambda - s.Lambda;
            var xm = x.Select((v, j) => m.Sigma / s.Sigma * v + m.Alpha * -Num.ExpM1(-k) * x0s[j]).ToArray();
            g.Score(xm, tm, score, scratch);
            for (int j = 0; j < d; j++)
            {
                double x0m = (xm[j] + m.Sigma * m.Sigma * score[j]) / m.Alpha;
                double want = t.Sigma / s.Sigma * x[j] + t.Alpha * -Num.ExpM1(-h) * x0m;
                Assert.That(y[r * d + j], Is.EqualTo(want).Within(2e-4 + 2e-4 * Math.Abs(want)), $"sample {r}, coordinate {j}");
            }
        }
        // and it is the first-order step of rm-x0's fresh-start form, bit for bit
        var (z, _) = SampleRun.Run(Cpu, g, "rm-x0", o, seed: 8, n);
        Assert.That(z, Is.EqualTo(y));
    }

    // Strong error against the exact flow of a single Gaussian as the steps double (same start noise), over 1024 samples
    // (ConvergenceTests.Slope; seeds 1-6 measured by ConvergenceTests.MeasureSlopes, spread at most 0.06 per case). The
    // fresh-start first-order midpoint gives the randomized midpoint's order 1.5 (measured 1.38-1.41); the second-order
    // midpoint with its control variate is second order (measured 2.37-2.40 on the shrinking grid, 2.23-2.26 on the
    // log-SNR grid); the multistep line (the default, 1 NFE per step) is at least second order (2.76-2.82); prm-x0 with
    // R = 3, K = 3 1.49-1.54. Every bound is at least 0.15 from the measured range.
    [TestCase("rm-x0", X0StartMode.Fresh, 1, TimeGridKind.Shrinking, 1.2, 1.7)]
    [TestCase("rm-x0", X0StartMode.Fresh, 2, TimeGridKind.Shrinking, 1.9, 2.7)]
    [TestCase("rm-x0", X0StartMode.Fresh, 2, TimeGridKind.LogSnr, 1.9, 2.6)]
    [TestCase("rm-x0", X0StartMode.Line, 2, TimeGridKind.Shrinking, 2.3, 3.3)]
    [TestCase("prm-x0", X0StartMode.Fresh, 1, TimeGridKind.Shrinking, 1.3, 1.8)]
    public void ConvergesAtItsOrder(string sampler, X0StartMode start, int midpoint, TimeGridKind grid, double lo, double hi)
    {
        var o = new SamplerOptions { X0Start = start, MidpointOrder = midpoint, SubWindows = 3, PicardRounds = 3 };
        double p = ConvergenceTests.Slope(sampler, [8, 16, 32, 64], o, grid);
        Assert.That(p, Is.InRange(lo, hi));
    }

    [Test]
    public void FiniteAndSaneAtThreeStepsWithDefaults()
    {
        // cldiff sample --sampler rm-x0 --steps 3: finite, every coordinate's mean within one standard deviation of the
        // mixture's, and its sliced W2 to exact samples within 1.25x DPM-Solver++(2M)'s at the same 3 NFE
        const int n = 4000, d = 16;
        var g = GaussianMixture.Preset(d, 5);
        var o = new SamplerOptions { Steps = 3 };
        var (x, st) = SampleRun.Run(Cpu, g, "rm-x0", o, seed: 1, n: n);
        var (y, _) = SampleRun.Run(Cpu, g, "dpmpp-2m", o, seed: 1, n: n);
        Assert.That(st.NfePerSample, Is.EqualTo(3), "the multistep form: one NFE per step");
        Assert.That(x.All(float.IsFinite));
        var mean = g.Mean();
        var cov = g.Covariance();
        for (int j = 0; j < d; j++)
        {
            double m = Enumerable.Range(0, n).Average(r => (double)x[r * d + j]);
            Assert.That(Math.Abs(m - mean[j]), Is.LessThan(Math.Sqrt(cov[j, j])), $"coordinate {j}");
        }
        var exact = ClDiffusion.Metrics.SampleEvaluator.ExactSamples(g, n, new RandomKey(1, 7, Purpose.Test));
        var dirs = ClDiffusion.Metrics.SlicedWasserstein.Directions(d, 64, 1);
        double ours = ClDiffusion.Metrics.SlicedWasserstein.Distance(x, n, exact, n, d, dirs, 64);
        double dpm = ClDiffusion.Metrics.SlicedWasserstein.Distance(y, n, exact, n, d, dirs, 64);
        Assert.That(ours, Is.LessThan(1.25 * dpm), $"rm-x0 {ours:F3} vs dpmpp-2m {dpm:F3}");
    }

    [Test]
    public void ParallelCorrectorRunsOnceAtTheEndByDefaultWithItsOwnRounds()
    {
        var g = GaussianMixture.Preset(3, 2);
        var o = new SamplerOptions { Steps = 8, SubWindows = 2, PicardRounds = 1, CorrectorSteps = 3 };
        double predictor = SampleRun.Run(Cpu, g, "prm", o, 4, 5).stats.NfePerSample;
        var end = SampleRun.Run(Cpu, g, "prm-pc", o, 4, 5).stats;
        Assert.That(end.NfePerSample, Is.EqualTo(predictor + 3 * 3), "one corrector of M = 3 steps, K = M = 3 rounds");
        var rounds = SampleRun.Run(Cpu, g, "prm-pc", o with { CorrectorRounds = 1 }, 4, 5).stats;
        Assert.That(rounds.NfePerSample, Is.EqualTo(predictor + 3));
        var block = SampleRun.Run(Cpu, g, "prm-pc", o with { ParallelCorrector = ParallelCorrectorPlacement.Block }, 4, 5).stats;
        int blocks = o.MakeGrid().CorrectAfter.Count(f => f);
        Assert.That(blocks, Is.GreaterThan(1));
        Assert.That(block.NfePerSample, Is.EqualTo(predictor + blocks * 9));
        Assert.Throws<ArgumentException>(() => (o with { ParallelCorrector = (ParallelCorrectorPlacement)7 }).Validate());
        Assert.Throws<ArgumentException>(() => (o with { MidpointOrder = 3 }).Validate());
        Assert.Throws<ArgumentException>(() => (o with { X0Start = (X0StartMode)7 }).Validate());
        Assert.Throws<ArgumentException>(() => (o with { CorrectorRounds = 0 }).Validate());
    }

    [Test]
    public void MismatchedShapesAreRejectedByName()
    {
        using var x = Cpu.Allocate(4, 3); using var d = Cpu.Allocate(4, 3); using var times = Cpu.Allocate(4, 2);
        using var wrong = Cpu.Allocate(4, 3); using var few = Cpu.Allocate(3, 1);
        Assert.That(Assert.Throws<ArgumentException>(() => Cpu.LogSnrPredict(wrong, x, d, null, times, 1.0))!.Message, Does.Contain("log-SNR predict"));
        Assert.That(Assert.Throws<ArgumentException>(() => Cpu.DataPrediction(wrong, x, d, few))!.Message, Does.Contain("3 times for 4 rows"));
        Assert.That(Assert.Throws<ArgumentException>(() => Cpu.LogSnrPicard(d, x, d, few, 1.0, 0.5))!.Message, Does.Contain("alias"));
        Assert.That(Assert.Throws<ArgumentException>(() => Cpu.LogSnrFinal(x, x, d, null, times, 1.0, 0.5))!.Message, Does.Contain("log-SNR final"));
    }

    [Test]
    public void LogSnrGridHasEqualLogSnrSteps()
    {
        var g = TimeGrid.LogSnr(8, 1e-3, 10);
        Assert.That(g.Tau[0], Is.EqualTo(0)); Assert.That(g.Tau[^1], Is.EqualTo(8 - 1e-3));
        double h0 = ForwardProcess.LogSnr(g.T(1)) - ForwardProcess.LogSnr(g.T(0));
        for (int n = 0; n < g.Steps; n++)
            Assert.That(ForwardProcess.LogSnr(g.T(n + 1)) - ForwardProcess.LogSnr(g.T(n)), Is.EqualTo(h0).Within(1e-9));
        Assert.That(ForwardProcess.TimeOfLogSnr(ForwardProcess.LogSnr(0.37)), Is.EqualTo(0.37).Within(1e-14));
    }
}
