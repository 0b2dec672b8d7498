using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Diffusion;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

/// <summary>The sampler context's typed workspace, its step observers and its score function (issue 23 item 3).</summary>
public class ContextTests
{
    static readonly CpuBackend Cpu = new(1);

    sealed class Recorder : IStepObserver
    {
        public readonly List<string> Events = new();
        public void OnScore(int rows, int samples) => Events.Add($"score {rows}/{samples}");
        public void OnStep(in StepInfo step) => Events.Add($"step {step.Phase} {step.Step + 1}/{step.Steps}");
    }

    [Test]
    public void ObserversSeeEveryScoreRoundAndStepInOrder()
    {
        var g = GaussianMixture.Preset(4, 3);
        using var prepared = Cpu.Prepare(g);
        using var ctx = new SamplerContext(Cpu, prepared, 20, 4, 0, 8);
        Assert.That(ctx.Observers[0], Is.SameAs(ctx.Costs), "the cost counter comes first");
        Assert.That(ctx.Observers.OfType<NonFiniteTracker>().Count(), Is.EqualTo(1), "non-finite tracking is on by default");
        var rec = new Recorder();
        var steps = new List<int>();
        ctx.Observers.Add(rec);
        ctx.Observers.Add(new StepCallback(s => steps.Add(s.Step)));
        using var x = Cpu.Allocate(20, 4);
        Cpu.Normal(x, ctx.Key(0, Purpose.StartNoise), 0);
        OdeSamplers.ExponentialIntegrator(ctx, x, TimeGrid.Uniform(8, 1e-3, 3));
        Assert.That(rec.Events, Is.EqualTo(new[] { "score 20/20", "step Predictor 1/3", "score 20/20", "step Predictor 2/3", "score 20/20", "step Predictor 3/3" }));
        Assert.That(steps, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(ctx.Costs.Nfe, Is.EqualTo(3));
        Assert.That(ctx.Costs.Rounds, Is.EqualTo(3));
    }

    [Test]
    public void TrackNonFiniteOffRemovesTheTracker()
    {
        using var prepared = Cpu.Prepare(GaussianMixture.Preset(4, 3));
        using var ctx = new SamplerContext(Cpu, prepared, 5, 4, 0, 8) { TrackNonFinite = false };
        Assert.That(ctx.Observers.OfType<NonFiniteTracker>(), Is.Empty);
        Assert.That(ctx.Observers, Is.EqualTo(new IStepObserver[] { ctx.Costs }));
    }

    [Test]
    public void WorkspaceSlotsAreKeysByReferenceAndShape()
    {
        using var work = new Workspace(Cpu, 4);
        var a = work[Slots.Score, 3];
        Assert.That(work[Slots.Score, 3], Is.SameAs(a), "same slot, same shape: the same buffer");
        Assert.That(work[Slots.Score, 3, 1], Is.Not.SameAs(a), "another shape: another buffer");
        Assert.That(work[new WorkSlot("s"), 3], Is.Not.SameAs(a), "a slot of the same name is another slot");
        Assert.That((a.Rows, a.Cols), Is.EqualTo((3, 4)), "columns default to the state dimension");
        Assert.That(Slots.UniPcHistory.Distinct().Count(), Is.EqualTo(4));
    }

    [Test]
    public void ConditionWrapsTheModel()
    {
        var g = new GaussianMixture(new[] { 0.5, 0.5 }, new[] { new double[] { -1, 0 }, new double[] { 1, 0 } }, new[] { new double[] { 1, 1 }, new double[] { 1, 1 } }, labels: new[] { 0, 1 });
        using var prepared = Cpu.Prepare(g);
        using var ctx = new SamplerContext(Cpu, prepared, 4, 1, 0, 8);
        Assert.That(ctx.ScoreFunction, Is.InstanceOf<ModelScore>());
        ctx.Condition(ClassLabels.All(1), 0);
        Assert.That(ctx.ScoreFunction, Is.InstanceOf<ConditionalScore>());
        ctx.Condition(ClassLabels.All(1), 1.5);
        Assert.That(ctx.ScoreFunction, Is.InstanceOf<GuidedScore>().With.Property(nameof(GuidedScore.Weight)).EqualTo(1.5f));
        ctx.Condition(null, 0);
        Assert.That(ctx.ScoreFunction, Is.InstanceOf<ModelScore>());
    }
}
