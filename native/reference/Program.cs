// Usage: cld-native-reference <target.json> <out-dir>
// Writes ref_<sampler>_<seed>_<first>_<n>.bin (float32 little-endian, n x d) for the cases that
// native/tests/test_consistency.c lists (keep the two lists in sync).
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Models;
using ClDiffusion.Samplers;

var model = GaussianMixture.Load(args[0]);
Directory.CreateDirectory(args[1]);
(string sampler, ulong seed, long first, int n, int steps)[] cases =
[
    ("rm-pc", 42, 0, 500, 40),
    ("rm-pc", 42, 123, 77, 40),
    ("ei", 7, 0, 300, 25),
    ("prm-pc", 3, 10, 200, 10),
    ("dpmpp-2m", 11, 0, 256, 20),
    ("picard", 5, 0, 128, 16),
    ("heun", 9, 1000, 64, 16),
    ("rm-x0", 13, 5, 96, 12),
];
using var backend = new CpuBackend();
foreach (var (sampler, seed, first, n, steps) in cases)
{
    var buf = new float[n * model.Dim];
    SampleRun.Run(backend, model, sampler, new SamplerOptions { Steps = steps }, seed, first, n, buf);
    var bytes = new byte[buf.Length * 4];
    Buffer.BlockCopy(buf, 0, bytes, 0, bytes.Length);
    File.WriteAllBytes(Path.Combine(args[1], $"ref_{sampler}_{seed}_{first}_{n}.bin"), bytes);
}
Console.WriteLine($"wrote {cases.Length} reference files to {args[1]}");
