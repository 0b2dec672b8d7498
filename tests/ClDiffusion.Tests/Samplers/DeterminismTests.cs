using ClDiffusion.Backends.Cpu;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using NUnit.Framework;

namespace ClDiffusion.Tests.Samplers;

public class DeterminismTests
{
    static IEnumerable<string> Names => Sampler.Names;

    [TestCaseSource(nameof(Names))]
    public void SameSeedGivesIdenticalSamplesWhateverTheBatchSizeAndThreads(string name)
    {
        var g = GaussianMixture.Preset(5, 3);
        var o = new SamplerOptions { Steps = 6, CorrectorSteps = 2, SubWindows = 3, PicardRounds = 2, Window = 3 };
        var whole = new float[37 * 5];
        SampleRun.Run(new CpuBackend(), g, name, o, 21, 0, 37, whole, batch: 37);
        var pieces = new float[37 * 5];
        SampleRun.Run(new CpuBackend(1), g, name, o, 21, 0, 37, pieces, batch: 5);
        Assert.That(pieces, Is.EqualTo(whole));
        // a later slice alone equals the same rows of the whole run
        var slice = new float[10 * 5];
        SampleRun.Run(new CpuBackend(), g, name, o, 21, 20, 10, slice, batch: 4);
        Assert.That(slice, Is.EqualTo(whole.AsSpan(100, 50).ToArray()));
    }
}
