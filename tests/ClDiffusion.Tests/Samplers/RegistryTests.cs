using ClDiffusion.Backends.Cpu;
using ClDiffusion.Cli.Commands;
using ClDiffusion.Models;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using ClDiffusion.Tests.Mlp;
using CommandLine;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

/// <summary>The sampler registry, the one place of the defaults, and the one chunk pipeline.</summary>
public class RegistryTests
{
    [Test]
    public void EveryEntryHasAUniqueNameADescriptionACostAndRealOptions()
    {
        Assert.That(Sampler.Names, Is.Unique);
        var props = typeof(SamplerOptions).GetProperties().Select(p => p.Name).ToHashSet();
        foreach (var s in Sampler.All)
        {
            Assert.That(s.Name, Does.Match("^[a-z0-9-]+$"), s.Name);
            Assert.That(s.Description, Is.Not.Empty.And.Not.Contains("\n"), s.Name);
            Assert.That(s.Cost, Does.Contain("NFE"), s.Name);
            Assert.That(props.IsSupersetOf(s.Options), Is.True, $"{s.Name} names an option SamplerOptions lacks: {string.Join(", ", s.Options.Except(props))}");
        }
        Assert.That(Sampler.Names, Does.Contain(SamplerOptions.DefaultSampler));
    }

    [Test]
    public void UnknownNamesAreRejectedWithTheList()
    {
        var e = Assert.Throws<ArgumentException>(() => Sampler.Get("euler"))!;
        Assert.That(e.Message, Does.Contain("euler").And.Contain("rm-pc").And.Contain("dpmpp-2m"));
    }

    [Test]
    public void TheCorrectorRunsOnlyInSamplersThatSayTheyHaveOne()
    {
        var g = GaussianMixture.Preset(2, 2);
        var o = new SamplerOptions { Steps = 4, CorrectorSteps = 1 };
        foreach (var s in Sampler.All)
        {
            var phases = new HashSet<SamplerPhase>();
            var buf = new float[3 * g.Dim];
            SampleRun.Run(new CpuBackend(1), g, s.Name, o, 1, 0, 3, buf, callback: i => phases.Add(i.Phase));
            Assert.That(phases.Contains(SamplerPhase.Corrector), Is.EqualTo(s.Traits.HasFlag(SamplerTraits.Corrector)), s.Name);
            Assert.That(phases, Does.Contain(SamplerPhase.Predictor), s.Name);
        }
    }

    /// <summary>The CLI's options start from SamplerOptions.Defaults: parsing no sampler option gives exactly the defaults.</summary>
    [Test]
    public void CliDefaultsAreTheLibraryDefaults()
    {
        var parsed = new Parser(s => s.HelpWriter = null).ParseArguments<SampleOptions>(["sample", "--out", "x.npy"]);
        SampleOptions? o = null;
        parsed.WithParsed(p => o = p);
        Assert.That(o, Is.Not.Null);
        Assert.That(o!.ToSamplerOptions(), Is.EqualTo(SamplerOptions.Defaults));
        Assert.That(o.Sampler, Is.EqualTo(SamplerOptions.DefaultSampler));
        Assert.That(new SamplingOptions().Sampler, Is.EqualTo(SamplerOptions.DefaultSampler));
    }

    /// <summary>
    /// The wrong wiring of issue 11: SampleRun.Run returned an MLP's samples in its normalised space while the
    /// scheduler mapped them to data space. Both now go through ChunkPipeline and agree bit for bit, in data space.
    /// </summary>
    [Test]
    public void SampleRunGivesAnMlpsSamplesInDataSpaceLikeTheScheduler()
    {
        var m = SafetensorsTests.SmallModel(d: 3, width: 8);
        Assert.That(m.DataStd.Any(s => Math.Abs(s - 1) > 0.1) || m.DataMean.Any(u => Math.Abs(u) > 0.1), "the test needs a non-trivial normalisation");
        var o = new SamplerOptions { Steps = 6 };
        const int n = 40;
        var (viaRun, _) = SampleRun.Run(new CpuBackend(1), m, "ei", o, 3, n, batch: 16);

        var viaScheduler = new float[n * m.Dim];
        using (var engine = DiffusionEngine.FromBackends([new CpuBackend(1)], owns: true))
            engine.SampleAsync(m, new SamplingOptions { Sampler = "ei", Parameters = o, Scheduler = new() { ChunkSize = 7 } }, n, 3, viaScheduler).GetAwaiter().GetResult();
        Assert.That(viaRun, Is.EqualTo(viaScheduler));

        // and data space is the model's map applied to the raw diffusion-space chunk
        var job = new SamplingJob(m, "ei", o, 3, 0).Validated();
        var raw = new float[n * m.Dim];
        using var b = new CpuBackend(1);
        using var prepared = b.Prepare(m);
        using (var ctx = ChunkPipeline.Context(b, prepared, job, 0, n))
        using (var x = ChunkPipeline.Enqueue(ctx, job))
            b.Download(x, raw);
        Assert.That(raw, Is.Not.EqualTo(viaRun));
        m.ToDataSpace(raw);
        Assert.That(viaRun, Is.EqualTo(raw));
    }

    [Test]
    public void AScoreErrorOnAnMlpStillEndsInDataSpace()
    {
        var m = SafetensorsTests.SmallModel(d: 2, width: 6);
        var rows = new float[] { 0.5f, -1f, 2f, 0f };
        var expected = (float[])rows.Clone();
        m.ToDataSpace(expected);
        ChunkPipeline.ToDataSpace(new PerturbedScore(m, 0.1), rows);
        Assert.That(rows, Is.EqualTo(expected));
    }
}
