using ClDiffusion.Backends.Cpu;
using ClDiffusion.Tooling.Experiments;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Experiments;

/// <summary>The machinery of the scaling experiment (docs/EVIDENCE.md): measures, step search, exponent fit.</summary>
public class ScalingTests
{
    static readonly CpuBackend Cpu = new();

    /// <summary>Which sweep entries report rounds and which are judged by KL comes from the registry's traits, prm-r being prm.</summary>
    [Test]
    public void ParallelAndCorrectorEntriesComeFromTheRegistry()
    {
        foreach (var s in Sampler.All)
        {
            Assert.That(Scaling.IsParallel(s.Name), Is.EqualTo(s.Traits.HasFlag(SamplerTraits.Parallel)), s.Name);
            Assert.That(Scaling.HasCorrector(s.Name), Is.EqualTo(s.Traits.HasFlag(SamplerTraits.Corrector)), s.Name);
        }
        Assert.That(Scaling.IsParallel("prm-x0") && Scaling.IsParallel("prm-x0-pc") && Scaling.IsParallel(Scaling.PrmOverR), Is.True);
        Assert.That(Scaling.IsParallel("rm-x0") || Scaling.IsParallel("ei"), Is.False);
        Assert.That(Scaling.SamplerOf(Scaling.PrmOverR).Name, Is.EqualTo("prm"));
        Assert.That(Assert.Throws<ArgumentException>(() => Scaling.IsParallel("prm-q"))!.Message, Does.Contain("unknown sampler 'prm-q'"));
    }

    [Test]
    public void CouplingErrorOfTheExponentialIntegratorHalvesWhenStepsDouble()
    {
        var g = ScalingTargets.Anisotropic(8);
        var o = new SamplerOptions { Grid = TimeGridKind.Uniform, Horizon = 5, Delta = 0.05 };
        var ev = new Scaling.Evaluator(Cpu, g, g, "ei", o, 3, ScalingMeasure.Coupling, 32);
        double e1 = ev.Error(64), e2 = ev.Error(128);
        TestContext.Out.WriteLine($"ei coupling error: 64 steps {e1:G4}, 128 steps {e2:G4}");
        Assert.That(e1 / e2, Is.InRange(1.8, 2.2));
    }

    [Test]
    public void StepSearchFindsACountBelowTheTargetWhoseHalfIsAbove()
    {
        var g = ScalingTargets.Anisotropic(4);
        var o = new SamplerOptions();
        var ev = new Scaling.Evaluator(Cpu, g, g, "ei", o, 1, ScalingMeasure.Coupling, 32);
        var r = StepSearch.Find(ev.Error, 0.05, relTol: 0);
        Assert.That(r.Found);
        Assert.That(ev.Error(r.Steps), Is.LessThanOrEqualTo(0.05));
        Assert.That(ev.Error(r.Steps - 1), Is.GreaterThan(0.05));
        Assert.That(ev.Error(r.Steps / 2), Is.GreaterThan(0.05));
        // a synthetic monotone error: the smallest k with 100/k <= 1 is 100
        Assert.That(StepSearch.Find(k => 100.0 / k, 1.0, relTol: 0).Steps, Is.EqualTo(100));
    }

    [Test]
    public void ExponentFitRecoversAKnownExponent()
    {
        double[] d = [2, 8, 32, 128, 512, 2048];
        var noise = new[] { 0.03, -0.02, 0.01, -0.04, 0.02, 0.0 };
        var y = d.Select((x, i) => 3.0 * Math.Pow(x, 0.4167) * Math.Exp(noise[i])).ToArray();
        var fit = ExponentFit.FitLogLog(d, y);
        Assert.That(fit.Slope, Is.EqualTo(0.4167).Within(0.02));
        Assert.That(fit.SlopeSe, Is.GreaterThan(0).And.LessThan(0.02));
        Assert.That(Math.Exp(fit.Intercept), Is.EqualTo(3.0).Within(0.2));
    }

    [Test]
    public void DiagonalKlFloorMatchesExactSamplesAndIsAboutDOverN()
    {
        const int n = 500, d = 64;
        var g = ScalingTargets.Anisotropic(d);
        var z = ScalingMeasures.StartNoise(11, n, d);
        var x = new float[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) x[i * d + j] = (float)(g.Means[0][j] + Math.Sqrt(g.Variances[0][j]) * z[i * d + j]);
        double kl = ScalingMeasures.DiagonalKl(x, n, d, g.Means[0], g.Variances[0]);
        double floor = ScalingMeasures.DiagonalKlFloor(n, d);
        Assert.That(floor, Is.EqualTo((double)d / n).Within(0.01 * d / n));
        Assert.That(kl, Is.EqualTo(floor).Within(4 * ScalingMeasures.DiagonalKlFloorSd(n, d)));
    }

    [Test]
    public void Rk4ReferenceFlowMatchesTheClosedFormOnAGaussian()
    {
        var g = ScalingTargets.Anisotropic(4);
        var z = ScalingMeasures.StartNoise(2, 8, 4);
        var exact = ScalingMeasures.GaussianFlowEnds(g, z, 8, 8, 1e-3);
        var rk4 = ScalingMeasures.ReferenceFlowEnds(g, z, 8, 8, 1e-3, 1000);
        double max = exact.Zip(rk4, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(max, Is.LessThan(1e-6));
    }
}
