using ClDiffusion.Models;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

[TestFixture]
public sealed class SamplerTests : OpenClTestBase
{
    public static IEnumerable<string> Names => Sampler.Names;

    [Test, TestCaseSource(nameof(Names))]
    public void SamplerAgreesWithCpu(string name)
    {
        foreach (var (d, n) in new[] { (3, 37), (1, 5) })
        {
            var model = GaussianMixture.Preset(d, 3, seed: 11);
            var o = new SamplerOptions { Steps = 12, CorrectorSteps = 2, SubWindows = 3, PicardRounds = 2, Window = 4 };
            var (a, _) = SampleRun.Run(Cpu, model, name, o, seed: 2024, n);
            var (b, st) = SampleRun.Run(Cl, model, name, o, seed: 2024, n);
            Assert.That(st.Device, Is.EqualTo(Cl.DeviceName));
            Close(a, b, 2e-3, 2e-3, $"{name} d={d} n={n}");
        }
    }

    [Test]
    public void ShenLeeCorrectorAndLowVarianceAgree()
    {
        var model = new PerturbedScore(GaussianMixture.Preset(3, 2, seed: 5), 0.2);
        foreach (var (name, o) in new[]
        {
            ("rm-pc", new SamplerOptions { Steps = 10, Corrector = CorrectorKind.RmUld, CorrectorSteps = 2 }),
            ("rm", new SamplerOptions { Steps = 10, LowVariance = true }),
        })
        {
            var (a, _) = SampleRun.Run(Cpu, model, name, o, seed: 7, 33);
            var (b, _) = SampleRun.Run(Cl, model, name, o, seed: 7, 33);
            Close(a, b, 2e-3, 2e-3, name);
        }
    }

    [Test]
    public void LogSnrSamplerOptionsAgree()
    {
        // the x0 samplers' non-default paths: first-order midpoint on the log-SNR grid, R = 3 with Picard rounds, the
        // per-block parallel corrector, on a model whose score is not a mixture's
        var model = new PerturbedScore(GaussianMixture.Preset(5, 2, seed: 5), 0.2);
        foreach (var (name, o) in new[]
        {
            ("rm-x0", new SamplerOptions { Steps = 7, MidpointOrder = 1, X0Start = X0StartMode.Fresh, Grid = TimeGridKind.LogSnr }),
            ("rm-x0", new SamplerOptions { Steps = 7, MidpointOrder = 2, X0Start = X0StartMode.Fresh }),
            ("rm-x0-pc", new SamplerOptions { Steps = 6, CorrectorSteps = 2 }),   // the line form, forgotten and restarted after each corrector
            ("prm-x0", new SamplerOptions { Steps = 5, SubWindows = 3, PicardRounds = 2, Grid = TimeGridKind.LogSnr }),
            ("prm-x0-pc", new SamplerOptions { Steps = 5, SubWindows = 3, PicardRounds = 1, CorrectorSteps = 2, ParallelCorrector = ParallelCorrectorPlacement.Block }),
        })
        {
            var (a, _) = SampleRun.Run(Cpu, model, name, o, seed: 9, 29);
            var (b, _) = SampleRun.Run(Cl, model, name, o, seed: 9, 29);
            Close(a, b, 2e-3, 2e-3, name);
        }
    }

    [Test]
    public void MultistepSamplerOptionsAgree()
    {
        // the baselines' non-default paths (the defaults run in SamplerAgreesWithCpu): UniPC bh1 and order 2, full order
        // on the last steps, on a model whose score is not a mixture's
        var model = new PerturbedScore(GaussianMixture.Preset(5, 2, seed: 5), 0.2);
        foreach (var (name, o) in new[]
        {
            ("unipc", new SamplerOptions { Steps = 7, UniPcVariant = UniPcVariant.Bh1, Grid = TimeGridKind.LogSnr }),
            ("unipc", new SamplerOptions { Steps = 6, SolverOrder = 2, LowerOrderFinal = false }),
            ("dpmpp-3m", new SamplerOptions { Steps = 5, LowerOrderFinal = false, Grid = TimeGridKind.LogSnr }),
        })
        {
            var (a, _) = SampleRun.Run(Cpu, model, name, o, seed: 9, 29);
            var (b, _) = SampleRun.Run(Cl, model, name, o, seed: 9, 29);
            Close(a, b, 2e-3, 2e-3, $"{name} {o.UniPcVariant} order {o.SolverOrder}");
        }
    }

    [TestCase("rm-x0")]
    [TestCase("rm-x0-pc")]
    [TestCase("prm-x0-pc")]
    public void LogSnrSamplersDoNotDependOnTheBatch(string name)
    {
        var model = GaussianMixture.Preset(6, 3);
        var o = new SamplerOptions { Steps = 6, SubWindows = 3, PicardRounds = 1, CorrectorSteps = 2 };
        var (a, _) = SampleRun.Run(Cl, model, name, o, seed: 3, 50, batch: 50);
        var (b, _) = SampleRun.Run(Cl, model, name, o, seed: 3, 50, batch: 17);
        Close(a, b, 0, 0, $"{name}: batch 50 vs 17");
    }

    [Test]
    public void BatchingDoesNotChangeSamples()
    {
        var model = GaussianMixture.Preset(3, 3);
        var o = new SamplerOptions { Steps = 6 };
        var (a, _) = SampleRun.Run(Cl, model, "rm-pc", o, seed: 3, 50, batch: 50);
        var (b, _) = SampleRun.Run(Cl, model, "rm-pc", o, seed: 3, 50, batch: 17);
        Close(a, b, 0, 0, "batch 50 vs 17");
    }
}
