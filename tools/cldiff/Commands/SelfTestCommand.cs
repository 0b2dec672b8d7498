using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("selftest", HelpText = "Check a device against the CPU backend without the test suite (for machines with no .NET SDK): Philox bit-identity and every sampler end to end.")]
public sealed class SelfTestOptions
{
    [Option("device", Default = "opencl", HelpText = "Device to check.")]
    public string Device { get; set; } = "opencl";
    [Option("count", Default = 256, HelpText = "Samples per sampler (also --n).")]
    public int N { get; set; }
    [Option("tol", Default = 2e-3, HelpText = "Largest allowed |device - cpu| relative to max(1, |cpu|).")]
    public double Tolerance { get; set; }
}

public static class SelfTestCommand
{
    public static int Run(SelfTestOptions o)
    {
        if (o.N < 1) throw new ArgumentException($"--n must be at least 1, got {o.N}");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var dev = BackendFactory.Open(o.Device, null, out var choice);
        using var cpu = new CpuBackend();
        Console.WriteLine($"selftest: {dev.DeviceName} against {cpu.DeviceName}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine($"selftest: device {choice.Reason}");
        int failures = 0;
        void Report(string what, bool ok, string detail) { Console.WriteLine($"{(ok ? "PASS" : "FAIL")}  {what,-28} {detail}"); if (!ok) failures++; }

        // Philox uniforms: with R = 1 the stratified alpha is the uniform itself, bit for bit.
        const int rows = 1031;
        using (var a = dev.Allocate(rows, 3))
        {
            var key = new RandomKey(0xDEADBEEFCAFEUL, 17, Purpose.Alpha);
            dev.DrawAlphas(a, key, 4_294_967_000L, AlphaLaw.Stratified, 1f);
            var got = new float[rows * 3];
            dev.Download(a, got);
            int bad = 0;
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < 3; i++)
                    if (got[r * 3 + i] != (i + key.Uniform(4_294_967_000L + r, i)) * (1f / 3)) bad++;
            Report("philox uniforms", bad == 0, $"{bad} of {rows * 3} differ from C#");
        }
        using (var z = dev.Allocate(rows, 17))
        {
            var key = new RandomKey(5, 3, Purpose.LangevinNoise);
            dev.Normal(z, key, 0);
            var got = new float[rows * 17]; dev.Download(z, got);
            double worst = 0;
            for (int r = 0; r < rows; r++) for (int j = 0; j < 17; j++) worst = Math.Max(worst, Math.Abs(got[r * 17 + j] - key.Normal(r, j)));
            Report("box-muller normals", worst < 1e-4, $"max |diff| {worst:E2}");
        }
        var target = GaussianMixture.Preset(16, 5);
        var so = new SamplerOptions { Steps = 12 };
        foreach (var s in Sampler.Names)
        {
            var x = new float[o.N * 16]; var y = new float[o.N * 16];
            SampleRun.Run(dev, target, s, so, 9, 0, o.N, x);
            SampleRun.Run(cpu, target, s, so, 9, 0, o.N, y);
            double worst = 0;
            for (int i = 0; i < x.Length; i++) worst = Math.Max(worst, Math.Abs(x[i] - y[i]) / Math.Max(1, Math.Abs(y[i])));
            Report($"sampler {s}", worst <= o.Tolerance && x.All(float.IsFinite), $"max relative |diff| {worst:E2}");
        }
        Console.WriteLine((failures == 0 ? "selftest: all checks passed" : $"selftest: {failures} checks failed") + $" in {clock.Elapsed.TotalSeconds:F1} s (device open and program builds included)");
        return failures == 0 ? 0 : 1;
    }
}
