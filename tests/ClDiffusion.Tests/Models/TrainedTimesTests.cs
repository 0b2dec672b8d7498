using ClDiffusion.Backends.Cpu;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using ClDiffusion.Tests.Guidance;
using NUnit.Framework;

namespace ClDiffusion.Tests.Models;

/// <summary>
/// A model in another time convention is only asked about the forward times it was trained on: with default options
/// every sampler stays inside its convention's range (T and delta follow the range), a T or delta set outside it is
/// refused naming the range, and clamped (and said so) only when clamp-times asks for it.
/// </summary>
public class TrainedTimesTests
{
    /// <summary>Records every forward time the model is asked about, then maps it as the inner convention does.</summary>
    sealed class Recording(TimeConvention inner) : TimeConvention
    {
        readonly object gate = new();
        public double Min = double.PositiveInfinity, Max = double.NegativeInfinity;
        public TimeConvention Inner => inner;
        public override string Name => inner.Name;
        public override (double TMin, double TMax) Range => inner.Range;
        public override ModelTime Map(double t)
        {
            lock (gate) { Min = Math.Min(Min, t); Max = Math.Max(Max, t); }
            return inner.Map(t);
        }
    }

    /// <summary>
    /// The exact score of N(0, I) data (q_t = N(0, I) at every t of this project's process) as a score prediction in
    /// the model's own scale: -x_model, and for a sigma (EDM, VE) model, whose input is x e^t, -x_model / (1 + sigma^2).
    /// </summary>
    static HostScoreModel StandardNormal(Recording conv, int d = 2) => new(d, Prediction.Score, (rows, x, t, o) =>
    {
        bool sigmaInput = conv.Inner is EdmConvention;
        for (int r = 0; r < rows; r++)
        {
            double f = sigmaInput ? 1 / (1 + (double)t[r] * t[r]) : 1;
            for (int j = 0; j < d; j++) o[r * d + j] = (float)(-x[r * d + j] * f);
        }
    }, "normal", conv, threadSafe: true);

    static readonly string[] Conventions = ["vp-linear", "vp-linear:500", "vp-scaled-linear", "vp-cosine", "edm", "ve", "edm:0.01:20"];
    static readonly string[] Samplers = ["rm-pc", "rm-x0", "rm-x0-pc", "ei", "dpmpp-2m", "heun", "prm-pc", "picard", "unipc"];

    static IEnumerable<TestCaseData> Cases() =>
        from c in Conventions from s in Samplers select new TestCaseData(c, s);

    [TestCaseSource(nameof(Cases))]
    public void DefaultOptionsStayInsideTheConventionsRange(string convention, string sampler)
    {
        var conv = new Recording(TimeConvention.Parse(convention));
        var model = StandardNormal(conv);
        var (lo, hi) = conv.Range;
        double start = Math.Min(hi, SamplerOptions.DefaultHorizon);   // the cosine schedule runs to t = 9.9, past 8
        var (x, _) = SampleRun.Run(new CpuBackend(1), model, sampler, new SamplerOptions { Steps = 8 }, seed: 5, n: 16);
        Assert.That(x.All(float.IsFinite));
        // float32 times: the grid's ends are rounded to float once
        Assert.That(conv.Max, Is.LessThanOrEqualTo(start * (1 + 1e-6)).And.GreaterThan(start * (1 - 1e-6)), $"{convention}: starts at {start} (range ends at {hi})");
        Assert.That(conv.Min, Is.GreaterThanOrEqualTo(Math.Max(lo, SamplerOptions.DefaultDelta) * (1 - 1e-6)), $"{convention}: range starts at {lo}");
    }

    [Test]
    public void UnsetTimesFollowTheRangeAndModelsTrainedOnEveryTimeKeepTheDefaults()
    {
        var vp = StandardNormal(new Recording(TimeConvention.Parse("vp-linear")));
        var fitted = new SamplerOptions().ForModel(vp);
        Assert.That(fitted.Horizon, Is.EqualTo(-0.5 * Math.Log(((VpDiscrete)((Recording)vp.Convention).Inner).AlphaBar[999])).Within(1e-12));
        Assert.That(fitted.Horizon, Is.EqualTo(5.06).Within(0.01), "DDPM's linear schedule ends at t = 5.06");
        Assert.That(fitted.Delta, Is.EqualTo(SamplerOptions.DefaultDelta), "its first timestep (t = 5e-5) is earlier than the default end");
        // a sigma range that starts late moves delta up: sigma_min = 0.1 is t = log(1.01) / 2
        var ve = StandardNormal(new Recording(TimeConvention.Parse("ve:0.1:20")));
        Assert.That(new SamplerOptions().ForModel(ve).Delta, Is.EqualTo(0.5 * Math.Log(1.01)).Within(1e-12));
        var mix = GaussianMixture.Preset(2, 3);
        Assert.That(new SamplerOptions().ForModel(mix), Is.EqualTo(new SamplerOptions { Horizon = 8, Delta = 1e-3 }));
        Assert.That(new SamplerOptions { Horizon = 20 }.ForModel(mix).Horizon, Is.EqualTo(20), "a model trained on every time takes any T");
    }

    [Test]
    public void TimesSetOutsideTheRangeAreRefusedNamingItOrClampedWhenAsked()
    {
        var conv = new Recording(TimeConvention.Parse("vp-linear"));
        var model = StandardNormal(conv);
        var cpu = new CpuBackend(1);
        var e = Assert.Throws<ArgumentException>(() => SampleRun.Run(cpu, model, "ei", new SamplerOptions { Horizon = 8 }, 1, 4));
        Assert.That(e!.Message, Does.Contain("T = 8 lies beyond the model's trained times").And.Contain("[5.00025e-05, 5.05886]").And.Contain("clamp-times"));
        e = Assert.Throws<ArgumentException>(() => SampleRun.Run(cpu, model, "ei", new SamplerOptions { Delta = 1e-5 }, 1, 4));
        Assert.That(e!.Message, Does.Contain("delta = 1E-05 lies before the model's trained times"));
        Assert.That(conv.Max, Is.EqualTo(double.NegativeInfinity), "refused before any score call");

        var clamped = new SamplerOptions { Horizon = 8, Delta = 1e-5, ClampTimes = true };
        Assert.That(clamped.ClampNotice(model), Does.StartWith("T 8 clamped to 5.05886").And.Contain("delta 1E-05 clamped to 5.00025e-05"));
        SampleRun.Run(cpu, model, "ei", clamped with { Steps = 6 }, 1, 4);
        Assert.That(conv.Max, Is.LessThanOrEqualTo(conv.Range.TMax * (1 + 1e-6)));
        Assert.That(conv.Min, Is.GreaterThanOrEqualTo(conv.Range.TMin * (1 - 1e-6)));
        Assert.That(new SamplerOptions { Horizon = 3, ClampTimes = true }.ClampNotice(model), Is.Null, "nothing to say inside the range");
    }

    [TestCase("edm:0:80")]
    [TestCase("edm:5:1")]
    [TestCase("ve:0.1")]
    public void ABadSigmaRangeIsRefused(string spec) =>
        Assert.Throws<ArgumentException>(() => TimeConvention.Parse(spec));

    /// <summary>
    /// diffusers' guidance_scale and k-diffusion's cond_scale are 1 + w: a scale of 0 (w = -1) is the unconditional
    /// model, whatever the class asked for, and a scale in (0, 1) is accepted.
    /// </summary>
    [Test]
    public void GuidanceScaleZeroIsTheUnconditionalModel()
    {
        var g = GuidedMixtureTests.Labelled();
        var cpu = new CpuBackend(1);
        var o = new SamplerOptions { Steps = 10 };
        var (free, _) = SampleRun.Run(cpu, g, "rm-x0", o, 4, 64);
        var (scale0, _) = SampleRun.Run(cpu, g, "rm-x0", o with { Labels = ClassLabels.All(1), Guidance = -1 }, 4, 64);
        var (cond, _) = SampleRun.Run(cpu, g, "rm-x0", o with { Labels = ClassLabels.All(1) }, 4, 64);
        Assert.That(scale0.Zip(free, (a, b) => Math.Abs(a - b)).Max(), Is.LessThan(1e-4));
        Assert.That(cond.Zip(free, (a, b) => Math.Abs(a - b)).Max(), Is.GreaterThan(0.1), "the class does change the samples");
        var (half, _) = SampleRun.Run(cpu, g, "rm-x0", o with { Labels = ClassLabels.All(1), Guidance = -0.5 }, 4, 64);
        Assert.That(half.All(float.IsFinite));
        Assert.Throws<ArgumentException>(() => SampleRun.Run(cpu, g, "rm-x0", o with { Labels = ClassLabels.All(1), Guidance = -1.5 }, 4, 8));
    }
}
