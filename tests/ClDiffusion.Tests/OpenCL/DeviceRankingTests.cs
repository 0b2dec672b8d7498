using ClDiffusion.Backends;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>The `auto` rule on described devices (no hardware needed) and on this machine; the library stays off the console.</summary>
[TestFixture]
public sealed class DeviceRankingTests
{
    // as the drivers report them (clinfo on the 2-core machine, 2026-12-02; the GPUs as their vendors' drivers list them)
    static readonly DeviceTraits Pocl = new("Portable Computing Language", "pthread-skylake-avx512-AMD EPYC", "AuthenticAMD", "cpu", 2, 2096);
    static readonly DeviceTraits Llvmpipe = new("rusticl", "llvmpipe (LLVM 15.0.6, 256 bits)", "Mesa/X.org", "cpu", 8, 300);
    static readonly DeviceTraits H200 = new("NVIDIA CUDA", "NVIDIA H200", "NVIDIA Corporation", "gpu", 132, 1980);
    static readonly DeviceTraits IntelIgpu = new("Intel(R) OpenCL Graphics", "Intel(R) UHD Graphics 770", "Intel(R) Corporation", "gpu", 32, 1450);
    static readonly DeviceTraits IntelCpu = new("Intel(R) OpenCL", "Intel(R) Core(TM) i9-12900K", "Intel(R) Corporation", "cpu", 24, 3200);
    static readonly DeviceTraits FpgaEmulator = new("Intel(R) FPGA Emulation Platform for OpenCL(TM)", "Intel(R) FPGA Emulation Device", "Intel(R) Corporation", "accelerator", 24, 3200);

    [Test]
    public void ComputeDriverBeatsASoftwareRendererWithMoreComputeUnits()
    {
        // the old rule (most compute units among CPUs) took llvmpipe's 8 units over PoCL's 2
        Assert.That(DeviceRanking.Pick([Llvmpipe, Pocl]), Is.EqualTo(1));
        Assert.That(DeviceRanking.Classify(Llvmpipe), Is.EqualTo(DeviceClass.Software));
        Assert.That(DeviceRanking.Classify(FpgaEmulator), Is.EqualTo(DeviceClass.Software));
        Assert.That(DeviceRanking.Explain([Llvmpipe, Pocl], 1), Does.Contain("skipped software renderer llvmpipe"));
    }

    [Test]
    public void GpusFirstThenByReportedThroughput()
    {
        Assert.That(DeviceRanking.Pick([Pocl, IntelCpu, IntelIgpu]), Is.EqualTo(2), "an integrated GPU before any CPU driver");
        Assert.That(DeviceRanking.Pick([IntelIgpu, H200]), Is.EqualTo(1), "132 x 1980 MHz beats 32 x 1450 MHz");
        Assert.That(DeviceRanking.Pick([Pocl, IntelCpu]), Is.EqualTo(1), "24 x 3.2 GHz beats 2 x 2.1 GHz");
        Assert.That(DeviceRanking.Pick([Pocl, Pocl with { Device = "second" }]), Is.EqualTo(0), "ties keep the listing order");
        Assert.That(DeviceRanking.Explain([Pocl, H200], 1), Does.StartWith("a GPU, 132 compute units x 1980 MHz"));
    }

    [Test]
    public void SoftwareRenderersOnlyWhenAllowed()
    {
        Assert.That(DeviceRanking.Pick([Llvmpipe]), Is.EqualTo(-1));
        Assert.That(DeviceRanking.Pick([Llvmpipe], allowSoftware: true), Is.EqualTo(0));
        Assert.That(DeviceRanking.Pick([]), Is.EqualTo(-1));
        Assert.That(DeviceRanking.Explain([Llvmpipe], -1), Does.Contain("only software renderers"));
        Assert.That(DeviceRanking.Explain([], -1), Does.Contain("no OpenCL device"));
    }

    [Test]
    public void ThisMachineNeverAutoSelectsASoftwareRenderer()
    {
        var list = BackendFactory.ListDevices();
        Assert.That(list.Where(d => d.Auto).Select(d => d.Class), Has.None.EqualTo(DeviceClass.Software));
        var choice = BackendFactory.Choose("auto");
        Assert.That(choice.Reason, Does.StartWith("auto: "));
        var auto = list.SingleOrDefault(d => d.Auto);
        if (auto is null) Assert.That(choice.Device, Is.Null);
        else Assert.That(choice.Device!.Name, Is.EqualTo(auto.Device));
        foreach (var soft in list.Where(d => d.Class == DeviceClass.Software))
            Assert.That(BackendFactory.Choose(soft.Selector).Device!.Name, Is.EqualTo(soft.Device), "a named software renderer opens");
    }

    [Test]
    public void LibraryNeverWritesToTheConsole()
    {
        // behaviour: opening and listing write nothing, whatever auto finds
        var saved = Console.Error; var savedOut = Console.Out;
        var err = new StringWriter(); var outw = new StringWriter();
        var savedLog = BackendFactory.Log;
        try
        {
            Console.SetError(err); Console.SetOut(outw); BackendFactory.Log = null;
            using (BackendFactory.Open("auto")) { }
            using (BackendFactory.Open("cpu")) { }
            BackendFactory.ListDevices();
        }
        finally { Console.SetError(saved); Console.SetOut(savedOut); BackendFactory.Log = savedLog; }
        Assert.That(err.ToString() + outw.ToString(), Is.Empty);

        // structure: no runtime or C ABI source names the console (a library inside a game must not write there)
        var root = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "ClDiffusion.sln"))) root = root.Parent;
        Assert.That(root, Is.Not.Null, "repository root not found above the test directory");
        var offenders = new[] { "src/ClDiffusion", "src/ClDiffusion.Native" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(root!.FullName, d), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(f => File.ReadAllText(f).Contains("Console.Error") || File.ReadAllText(f).Contains("Console.Write"))
            .Select(f => Path.GetRelativePath(root!.FullName, f)).ToList();
        Assert.That(offenders, Is.Empty);
    }
}
