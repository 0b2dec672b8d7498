using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ClDiffusion.Models.Mlp;
using NUnit.Framework;

namespace ClDiffusion.Tests.Cpu;

/// <summary>
/// The CPU kernels pick their SIMD width and GEMM engine from the machine. tools/test.sh reruns the CPU-kernel tests
/// with AVX-512 switched off for the JIT and with no BLAS to load, so the Vector256 and managed paths are tested as
/// they run on machines without AVX-512 or OpenBLAS; this checks that each rerun really took the path it asks for.
/// </summary>
public class CpuPathTests
{
    [Test]
    public void TheSimdWidthFollowsTheJitSettings()
    {
        bool avx512Off = Environment.GetEnvironmentVariable("DOTNET_EnableAVX512F") == "0";
        TestContext.Out.WriteLine($"AVX-512F {Avx512F.IsSupported}, Vector512 accelerated {Vector512.IsHardwareAccelerated}, " +
            $"AVX2 {Avx2.IsSupported}, FMA {Fma.IsSupported}; Sgemm uses 512-bit panels: {Sgemm.Use512}");
        if (avx512Off)
        {
            Assert.That(Avx512F.IsSupported, Is.False, "DOTNET_EnableAVX512F=0 must hide AVX-512 from the JIT");
            Assert.That(Sgemm.Use512, Is.False, "with AVX-512 off the SGEMM must take its Vector256 panels");
        }
        else Assert.That(Sgemm.Use512, Is.EqualTo(Avx512F.IsSupported), "the SGEMM uses 512-bit panels exactly where the CPU has AVX-512");
    }

    [Test]
    public void TheBlasFollowsTheSetting()
    {
        var setting = Environment.GetEnvironmentVariable(BlasLibrary.EnvironmentVariable);
        TestContext.Out.WriteLine($"{BlasLibrary.EnvironmentVariable}={setting ?? "(unset)"}: {BlasLibrary.DefaultDescription}");
        bool absent = setting is "off" or "none" or "0" or "managed" || (setting is { Length: > 0 } && Path.IsPathRooted(setting) && !File.Exists(setting));
        if (absent) Assert.That(BlasLibrary.Default, Is.Null, "a BLAS that is not there must leave the managed SGEMM alone");
        else if (Environment.GetEnvironmentVariable("CI") == "true") Assert.That(BlasLibrary.Default, Is.Not.Null, "CI=true installs OpenBLAS (tools/test.sh)");
        else Assert.Pass($"no setting: the BLAS is whatever this machine has ({BlasLibrary.DefaultDescription})");
    }
}
