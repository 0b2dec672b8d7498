using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.OpenCL;
using NUnit.Framework;

namespace ClDiffusion.Tests.Models;

/// <summary>Host score models: every prediction in every time convention gives the exact score; callbacks sample like the built-in mixture.</summary>
public class HostScoreTests
{
    internal static readonly GaussianMixture Mix = GaussianMixture.FromJson(
        "{\"weights\": [0.3, 0.7], \"means\": [[-2.0, 0.0], [1.5, 1.0]], \"variances\": [[0.25, 0.5], [0.4, 0.2]]}");

    /// <summary>The exact mixture score through a host callback (float64 per row, like a user's own code would).</summary>
    internal static HostScoreModel ExactCallback(GaussianMixture g, string name = "exact") => new(g.Dim, Prediction.Score, (rows, x, t, o) =>
    {
        int d = g.Dim;
        var xd = new double[d]; var sd = new double[d]; var scratch = new double[g.Components];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < d; j++) xd[j] = x[r * d + j];
            g.Score(xd, t[r], sd, scratch);
            for (int j = 0; j < d; j++) o[r * d + j] = (float)sd[j];
        }
    }, name);

    /// <summary>The exact class-conditional score of a labelled mixture through a labelled callback (-1: the whole mixture).</summary>
    internal static HostScoreModel LabelledCallback(GaussianMixture g) => new(g.Dim, g.NumClasses, Prediction.Score, (rows, x, t, labels, o) =>
    {
        int d = g.Dim;
        var xd = new double[d]; var sd = new double[d]; var scratch = new double[g.Components];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < d; j++) xd[j] = x[r * d + j];
            if (labels[r] == ClassLabels.Null) g.Score(xd, t[r], sd, scratch);
            else g.GuidedScore(xd, t[r], labels[r], 0, sd);
            for (int j = 0; j < d; j++) o[r * d + j] = (float)sd[j];
        }
    }, "labelled");

    /// <summary>Guided sampling through a labelled callback: the built-in guided mixture's samples, one call per guided evaluation.</summary>
    internal static void GuidedLabelledCallbackSamplesLikeTheBuiltIn(IBackend backend, string sampler, double tolerance)
    {
        var g = ClDiffusion.Tests.Guidance.GuidedMixtureTests.Labelled();
        var model = LabelledCallback(g);
        Assert.That(model.NumClasses, Is.EqualTo(3));
        int n = 300, steps = 20;
        var o = new SamplerOptions { Steps = steps, Labels = ClassLabels.PerSample(Enumerable.Range(0, n).Select(i => i % 4 - 1).ToArray()), Guidance = 2 };
        var (builtIn, _) = SampleRun.Run(backend, g, sampler, o, seed: 4, n: n);
        var (host, st) = SampleRun.Run(backend, model, sampler, o, seed: 4, n: n);
        double worst = builtIn.Zip(host, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(worst, Is.LessThan(tolerance), $"largest sample difference {worst}");
        Assert.That(model.Calls, Is.EqualTo((long)Math.Round(st.NfePerSample)), "one call per guided evaluation");
        Assert.That(model.RowsEvaluated, Is.EqualTo(2L * n * model.Calls), "both halves, [x; x], in each call");
    }

    [TestCase("ei")]
    [TestCase("rm-x0")]
    public void LabelledCallbackSamplesGuidedLikeTheBuiltInMixtureOnTheCpu(string sampler) =>
        GuidedLabelledCallbackSamplesLikeTheBuiltIn(new CpuBackend(2), sampler, 2e-3);

    [Test]
    public void LabelledModelsCheckTheirClassCount() =>
        Assert.That(Assert.Throws<ArgumentException>(() => new HostScoreModel(2, 0, Prediction.Score, (_, _, _, _, _) => { }, "none"))!.Message,
            Does.Contain("at least 1 class"));

    /// <summary>
    /// A callback that answers in a convention's own terms: it reads the model time it is given, recovers the
    /// model's alpha and sigma from it independently of the adapter, and returns the requested prediction.
    /// </summary>
    static HostScoreModel Predicting(GaussianMixture g, Prediction p, TimeConvention c, Func<float, (double a, double s)> modelAlphaSigma) =>
        new(g.Dim, p, (rows, x, t, o) =>
        {
            int d = g.Dim;
            var xd = new double[d]; var sd = new double[d]; var scratch = new double[g.Components];
            for (int r = 0; r < rows; r++)
            {
                var (a, s) = modelAlphaSigma(t[r]);
                // the model's state is x_m = a x0 + s eps; our state with the same x0, eps is x = x_m / scale
                double tOurs = -Math.Log(a / Math.Sqrt(a * a + s * s)), scale = Math.Sqrt(a * a + s * s);
                for (int j = 0; j < d; j++) xd[j] = x[r * d + j] / scale;
                g.Score(xd, tOurs, sd, scratch);
                double alpha = ForwardProcess.Alpha(tOurs), sigma = ForwardProcess.Sigma(tOurs);
                for (int j = 0; j < d; j++)
                {
                    double eps = -sigma * sd[j], x0 = (xd[j] - sigma * eps) / alpha;
                    o[r * d + j] = (float)(p switch
                    {
                        Prediction.Score => sd[j] / scale,               // grad_{x_m} log p_m
                        Prediction.Eps => eps,
                        Prediction.X0 => x0,
                        _ => a * eps - s * x0,
                    });
                }
            }
        }, $"{c.Name} {p}", c);

    static IEnumerable<TestCaseData> Conventions()
    {
        foreach (var p in Enum.GetValues<Prediction>())
        {
            yield return new TestCaseData(p, "ours").SetName($"Ours_{p}");
            yield return new TestCaseData(p, "edm").SetName($"Edm_{p}");
            yield return new TestCaseData(p, "vp-linear:1000").SetName($"VpLinear_{p}");
            yield return new TestCaseData(p, "vp-cosine:1000").SetName($"VpCosine_{p}");
        }
    }

    [TestCaseSource(nameof(Conventions))]
    public void EveryPredictionInEveryConventionGivesTheExactScore(Prediction p, string spec)
    {
        var c = TimeConvention.Parse(spec);
        Func<float, (double, double)> alphaSigma = c switch
        {
            EdmConvention => s => (1.0, s),
            VpDiscrete vp => n =>
            {
                // at integer steps the schedule's own alphabar, no interpolation
                double ab = vp.AlphaBar[(int)Math.Round(n)];
                return (Math.Sqrt(ab), Math.Sqrt(1 - ab));
            },
            _ => t => (ForwardProcess.Alpha(t), ForwardProcess.Sigma(t)),
        };
        var model = Predicting(Mix, p, c, alphaSigma);
        // times where the VP schedules sit exactly on a step; other conventions take them as they are
        var vpc = c as VpDiscrete;
        double[] times = vpc is null ? [1e-3, 0.05, 0.4, 1.3, 4.0] : [vpc.TimeOfStep(3), vpc.TimeOfStep(100), vpc.TimeOfStep(500), vpc.TimeOfStep(900)];
        var rnd = new System.Random(5);
        int rows = times.Length * 4, d = Mix.Dim;
        var x = new float[rows * d]; var t = new float[rows];
        for (int r = 0; r < rows; r++) { t[r] = (float)times[r % times.Length]; for (int j = 0; j < d; j++) x[r * d + j] = (float)(rnd.NextDouble() * 4 - 2); }
        var got = new float[rows * d];
        model.Evaluate(x, t, got);
        var xd = new double[d]; var want = new double[d]; var scratch = new double[2];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < d; j++) xd[j] = x[r * d + j];
            Mix.Score(xd, t[r], want, scratch);
            // float32 inputs and outputs: the relative error is a few float32 ulps times the conditioning 1/sigma^2
            double tol = 2e-5 * (1 + Math.Abs(want.Max(Math.Abs))) / Math.Max(ForwardProcess.SigmaSquared(t[r]), 1e-2);
            for (int j = 0; j < d; j++)
                Assert.That(got[r * d + j], Is.EqualTo(want[j]).Within(tol), $"row {r} (t = {t[r]}), column {j}, {spec} {p}");
        }
    }

    [Test]
    public void VpTimestepOfAStepTimeIsThatStepAndTimestepsRiseWithTime()
    {
        foreach (var vp in new[] { VpDiscrete.Linear(), VpDiscrete.Cosine(), VpDiscrete.ScaledLinear() })
        {
            foreach (int n in new[] { 0, 1, 17, 500, 998, vp.Steps - 1 })
                Assert.That(vp.StepOf(vp.TimeOfStep(n)), Is.EqualTo(n).Within(1e-6), $"{vp.Name} step {n}");
            Assert.That(vp.StepOf(vp.Range.TMax + 3), Is.EqualTo(vp.Steps - 1), "clamped above the schedule");
            Assert.That(vp.StepOf(vp.Range.TMin / 10), Is.EqualTo(0), "clamped below the schedule");
            double prev = -1;
            for (double t = vp.Range.TMin; t < vp.Range.TMax; t += 0.01) { double n = vp.StepOf(t); Assert.That(n, Is.GreaterThan(prev)); prev = n; }
        }
        // DDPM's linear schedule: alphabar_999 = prod(1 - beta) ~ 4.04e-5, so its last step is t ~ 5.06
        Assert.That(VpDiscrete.Linear().Range.TMax, Is.EqualTo(-0.5 * Math.Log(4.0358e-5)).Within(1e-3));
        Assert.That(EdmConvention.TimeOf(80), Is.EqualTo(0.5 * Math.Log(6401)).Within(1e-12));
    }

    [TestCase("vp-linear:10:0.1")]
    [TestCase("edm:3")]
    [TestCase("ddim")]
    [TestCase("vp-cosine:1")]
    public void BadConventionsAreRejected(string spec) =>
        Assert.Throws<ArgumentException>(() => TimeConvention.Parse(spec));

    static readonly SamplerOptions Opts = new() { Steps = 30 };

    [TestCase("ei")]
    [TestCase("rm-pc")]
    [TestCase("prm")]
    public void DotNetCallbackSamplesLikeTheBuiltInMixtureOnTheCpu(string sampler)
    {
        using var cpu = new CpuBackend(2);
        var (builtIn, _) = SampleRun.Run(cpu, Mix, sampler, Opts, seed: 11, n: 500);
        var (host, _) = SampleRun.Run(cpu, ExactCallback(Mix), sampler, Opts, seed: 11, n: 500);
        // the same law, the same noise: sample by sample equal up to float32 rounding of the score
        double worst = builtIn.Zip(host, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(worst, Is.LessThan(2e-3), $"largest sample difference {worst}");
    }

    [Test]
    public void ErrorsOfTheCallbackReachTheCallerAndNonFiniteOutputIsRefused()
    {
        using var cpu = new CpuBackend(1);
        var throwing = new HostScoreModel(2, Prediction.Eps, (_, _, _, _) => throw new InvalidOperationException("my network is down"), "mine");
        var e = Assert.Throws<InvalidOperationException>(() => SampleRun.Run(cpu, throwing, "ei", Opts, 0, 4));
        Assert.That(e!.Message, Does.Contain("my network is down"));
        var nan = new HostScoreModel(2, Prediction.Eps, (rows, x, t, o) => { o.Clear(); o[rows * 2 - 1] = float.NaN; }, "nanny");
        var h = Assert.Throws<HostScoreException>(() => SampleRun.Run(cpu, nan, "ei", Opts, 0, 4));
        Assert.That(h!.Message, Does.Contain("nanny").And.Contain("row 3, column 1").And.Contain("NaN"));
        Assert.Throws<ArgumentException>(() => new HostScoreModel(0, Prediction.Score, (_, _, _, _) => { }));
        Assert.Throws<ArgumentException>(() => HostScoreModel.ParsePrediction("noise"));
    }

    [Test]
    public void CallsAreSerialisedUnlessTheModelIsThreadSafe()
    {
        int inside = 0, most = 0;
        var model = new HostScoreModel(2, Prediction.Score, (rows, x, t, o) =>
        {
            int now = Interlocked.Increment(ref inside);
            InterlockedMax(ref most, now);
            Thread.Sleep(2);
            o.Clear();
            Interlocked.Decrement(ref inside);
        });
        Parallel.For(0, 16, _ => model.Evaluate(new float[8], [1f, 1f, 1f, 1f], new float[8]));
        Assert.That(most, Is.EqualTo(1));
    }

    static void InterlockedMax(ref int target, int v)
    {
        int cur;
        while ((cur = Volatile.Read(ref target)) < v && Interlocked.CompareExchange(ref target, v, cur) != cur) { }
    }
}

/// <summary>A host model on an OpenCL device (PoCL here): read back, call, upload.</summary>
public class HostScoreOpenClTests : OpenClTestBase
{
    static GaussianMixture Mix => HostScoreTests.Mix;

    [Test]
    public void ScoresWithTimeOffsetsEqualTheCpuBackendsBitForBit()
    {
        var model = HostScoreTests.ExactCallback(Mix);
        using var pc = Cpu.Prepare(model); using var pl = Cl.Prepare(model);
        int rows = 37;
        var (xc, xl) = Pair(rows, 2, Rand(rows * 2, 3, 3f));
        var (oc, ol) = Pair(5, 1, [0f, 0.25f, 0.5f, 0.75f, 1f]);
        var (sc, sl) = Pair(rows, 2);
        Cpu.Score(pc, xc, 1.5f, 0.3f, oc, sc);
        Cl.Score(pl, xl, 1.5f, 0.3f, ol, sl);
        Assert.That(Read(Cl, sl), Is.EqualTo(Read(Cpu, sc)));
        foreach (var b in new[] { xc, xl, oc, ol, sc, sl }) b.Dispose();
    }

    [TestCase("ei")]
    [TestCase("rm-x0")]
    public void LabelledCallbackSamplesGuidedLikeTheBuiltInMixtureOnTheDevice(string sampler) =>
        HostScoreTests.GuidedLabelledCallbackSamplesLikeTheBuiltIn(Cl, sampler, 2e-3);

    [TestCase("ei")]
    [TestCase("prm-pc")]
    public void CallbackSamplesLikeTheBuiltInMixtureOnTheDevice(string sampler)
    {
        var o = new SamplerOptions { Steps = 20 };
        var (builtIn, _) = SampleRun.Run(Cl, Mix, sampler, o, seed: 4, n: 300);
        var (host, _) = SampleRun.Run(Cl, HostScoreTests.ExactCallback(Mix), sampler, o, seed: 4, n: 300);
        double worst = builtIn.Zip(host, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(worst, Is.LessThan(2e-3), $"largest sample difference {worst}");
    }
}
