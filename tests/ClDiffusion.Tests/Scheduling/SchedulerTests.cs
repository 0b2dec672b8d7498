using ClDiffusion.Tooling.Benchmarks;
using ClDiffusion.Backends;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.Backends.OpenCL;
using ClDiffusion.Cli.Commands;
using ClDiffusion.IO;
using ClDiffusion.Models;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;
using ClDiffusion.Tests.OpenCL;
using CommandLine;
using NUnit.Framework;

namespace ClDiffusion.Tests.Scheduling;

/// <summary>Scheduler properties that need no device (CPU backend).</summary>
public class SchedulerCpuTests
{
    static readonly GaussianMixture G = GaussianMixture.Preset(3, 3);
    static readonly SamplerOptions O = new() { Steps = 5, CorrectorSteps = 2 };

    static float[] Run(IBackend b, int? chunk, long n, string sampler = "ei-pc", int reorder = 0, Shard? shard = null)
    {
        using var engine = DiffusionEngine.FromBackends([b]);
        var opt = new SamplingOptions { Sampler = sampler, Parameters = O, Scheduler = new SchedulerOptions { ChunkSize = chunk, ReorderChunks = reorder }, Shard = shard ?? Shard.Whole };
        var (_, count) = opt.Rows(n);
        var buf = new float[count * G.Dim];
        engine.SampleAsync(G, opt, n, 5, buf).GetAwaiter().GetResult();
        return buf;
    }

    [Test]
    public void ChunkSizesGiveIdenticalSamplesAndMatchSampleRun()
    {
        using var cpu = new CpuBackend(2);
        var reference = new float[300 * G.Dim];
        SampleRun.Run(cpu, G, "ei-pc", O, 5, 0, 300, reference, batch: 300);
        foreach (int? c in new int?[] { 1, 7, 1000, 300, null })
            Assert.That(Run(cpu, c, 300), Is.EqualTo(reference), $"chunk {c}");
    }

    [Test]
    public void ShardsConcatenateToTheWholeRun()
    {
        using var cpu = new CpuBackend(2);
        var whole = Run(cpu, 13, 101);
        var parts = Enumerable.Range(0, 4).SelectMany(i => Run(cpu, 13, 101, shard: new Shard(i, 4))).ToArray();
        Assert.That(parts, Is.EqualTo(whole));
        Assert.That(new Shard(0, 3).Range(10), Is.EqualTo((0L, 3L)));
        Assert.That(new Shard(2, 3).Range(10), Is.EqualTo((6L, 4L)));
        Assert.That(new Shard(4, 7).Range(3), Is.EqualTo((1L, 1L)));
        Assert.Throws<ArgumentException>(() => Shard.Parse("3/3"));
        Assert.That(Shard.Parse("2/5"), Is.EqualTo(new Shard(2, 5)));
    }

    [Test]
    public void NpyHeaderMatchesNpyWriteTo()
    {
        foreach (var (n, d) in new[] { (0, 3), (5, 2), (123456, 16) })
        {
            var ms = new MemoryStream();
            Npy.WriteTo(ms, new float[n * d], [n, d]);
            var h = NpyFormat.Header(n, d);
            Assert.That(ms.ToArray().AsSpan(0, h.Length).SequenceEqual(h), Is.True, $"({n}, {d})");
            Assert.That(ms.Length, Is.EqualTo(h.Length + 4L * n * d));
        }
    }

    [Test]
    public void StreamingWriteLargerThanTheReorderBufferEqualsTheInMemoryRun()
    {
        using var cpu = new CpuBackend(2);
        var dir = Directory.CreateTempSubdirectory("cldiff-sched").FullName;
        try
        {
            var path = Path.Combine(dir, "s.npy");
            using var engine = DiffusionEngine.FromBackends([cpu]);
            // 50 chunks of 7 through a reorder buffer of 2 chunks
            var opt = new SamplingOptions { Sampler = "ei-pc", Parameters = O, Scheduler = new SchedulerOptions { ChunkSize = 7, ReorderChunks = 2 } };
            var seen = new List<SamplingProgress>();
            engine.SampleToFileAsync(G, opt, 350, 5, path, new SyncProgress(seen.Add)).GetAwaiter().GetResult();
            var a = Npy.Read(path);
            Assert.That(a.Shape, Is.EqualTo(new[] { 350, 3 }));
            Assert.That(a.Float32, Is.EqualTo(Run(cpu, 350, 350)));
            Assert.That(seen.Count, Is.EqualTo(50));
            Assert.That(seen[^1].SamplesDone, Is.EqualTo(350));
            Assert.That(seen.Select(p => p.SamplesDone), Is.Ordered);
            Assert.That(seen[^1].ScoreEvaluations, Is.GreaterThan(0));
            Assert.That(Directory.GetFiles(dir), Is.EqualTo(new[] { path }));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void MergeConcatenatesShardFilesByteForByteAndChecksShapes()
    {
        var dir = Directory.CreateTempSubdirectory("cldiff-merge").FullName;
        try
        {
            string P(string f) => Path.Combine(dir, f);
            var common = new[] { "--preset", "mix3-3", "--sampler", "ei", "--steps", "4", "--n", "103", "--device", "cpu", "--quiet", "--batch", "10" };
            Assert.That(SampleCommand.Run(Parse([.. common, "--out", P("whole.npy")])), Is.EqualTo(0));
            var shards = new List<string>();
            for (int i = 0; i < 3; i++)
            {
                shards.Add(P($"s{i}.npy"));
                Assert.That(SampleCommand.Run(Parse([.. common, "--out", shards[^1], "--shard", $"{i}/3"])), Is.EqualTo(0));
            }
            Assert.That(MergeCommand.Run(new MergeOptions { Out = P("merged.npy"), Inputs = shards }), Is.EqualTo(0));
            Assert.That(File.ReadAllBytes(P("merged.npy")), Is.EqualTo(File.ReadAllBytes(P("whole.npy"))));
            Npy.Write(P("other.npy"), new float[8], 2, 4);
            Assert.Throws<InvalidDataException>(() => NpyMerge.Merge([shards[0], P("other.npy")], P("bad.npy")));
            Assert.That(File.Exists(P("bad.npy")), Is.False);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void CancellationOnTheCpuLeavesNoFile()
    {
        using var cpu = new CpuBackend(2);
        var dir = Directory.CreateTempSubdirectory("cldiff-cancel").FullName;
        try
        {
            using var engine = DiffusionEngine.FromBackends([cpu]);
            using var cts = new CancellationTokenSource();
            var opt = new SamplingOptions { Sampler = "ei", Parameters = O, Scheduler = new SchedulerOptions { ChunkSize = 10 } };
            var path = Path.Combine(dir, "c.npy");
            var t = engine.SampleToFileAsync(G, opt, 1_000_000, 1, path, new SyncProgress(p => { if (p.SamplesDone >= 50) cts.Cancel(); }), cts.Token);
            Assert.That(() => t.GetAwaiter().GetResult(), Throws.InstanceOf<OperationCanceledException>());
            Assert.That(Directory.GetFiles(dir), Is.Empty);
        }
        finally { Directory.Delete(dir, true); }
    }

    internal static SampleOptions Parse(string[] args)
    {
        SampleOptions? o = null;
        // the sampler flags come from the options table, as in Program.Main; the rest goes to CommandLineParser
        var rest = SamplerFlags.Extract(args, out var given);
        new CommandLine.Parser(s => s.HelpWriter = null).ParseArguments<SampleOptions>(rest).WithParsed(x => o = x)
            .WithNotParsed(e => Assert.Fail(string.Join("; ", e)));
        o!.Given = given;
        return o;
    }
}

/// <summary>IProgress that reports synchronously on the reporting thread (Progress&lt;T&gt; posts to the pool).</summary>
sealed class SyncProgress(Action<SamplingProgress> a) : IProgress<SamplingProgress>
{
    public void Report(SamplingProgress p) => a(p);
}

/// <summary>The scheduler on OpenCL (PoCL here): streams, two contexts, pinned read-back, cancellation and leaks.</summary>
public class SchedulerOpenClTests
{
    static readonly GaussianMixture G = GaussianMixture.Preset(4, 3);
    static readonly SamplerOptions O = new() { Steps = 6, CorrectorSteps = 2 };
    OpenClBackend cl = null!;

    [OneTimeSetUp] public void Open() => cl = new OpenClBackend(OpenClTestBase.RequireDevice());
    [OneTimeTearDown] public void Close() => cl?.Dispose();

    float[] Run(IEnumerable<IBackend> devices, int? chunk, int streams, long n = 400, string sampler = "rm-pc")
    {
        using var engine = DiffusionEngine.FromBackends(devices);
        var buf = new float[n * G.Dim];
        var opt = new SamplingOptions { Sampler = sampler, Parameters = O, Scheduler = new SchedulerOptions { ChunkSize = chunk, StreamsPerDevice = streams } };
        engine.SampleAsync(G, opt, n, 9, buf).GetAwaiter().GetResult();
        return buf;
    }

    [Test]
    public void ChunkSizesAndStreamsGiveIdenticalSamples()
    {
        var one = new float[400 * G.Dim];
        SampleRun.Run(cl, G, "rm-pc", O, 9, 0, 400, one, batch: 400);
        Assert.That(Run([cl], 400, 1), Is.EqualTo(one), "one chunk");
        Assert.That(Run([cl], 1000, 2), Is.EqualTo(one), "chunk 1000");
        Assert.That(Run([cl], 7, 3), Is.EqualTo(one), "chunk 7, 3 streams");
        Assert.That(Run([cl], 1, 2, n: 40), Is.EqualTo(one.AsSpan(0, 40 * G.Dim).ToArray()), "chunk 1");
        Assert.That(Run([cl], null, 4), Is.EqualTo(one), "automatic chunk");
    }

    [Test]
    public void AnEngineOverCpuAndOpenClGivesEachChunkTheBitsOfTheDeviceThatRanIt()
    {
        // CPU and OpenCL round differently, so the mixed run is checked chunk by chunk: every chunk of 5 rows must be
        // bit-identical to the same rows of the single-device run of one of the two (right rows, seed and offsets on
        // either device), the two single-device runs agree closely, and with 80 chunks both devices took some (measured
        // here: 27 CPU, 53 OpenCL). Fails when odd chunks start one sample off (chunk 1 matches neither run).
        const int n = 400, chunk = 5, d = 4;
        using var cpu = new CpuBackend(1);
        var onCpu = Run([cpu], 400, 1);
        var onCl = Run([cl], 400, 1);
        var mixed = Run([cpu, cl], chunk, 2);
        for (int k = 0; k < onCpu.Length; k++) Assert.That(onCl[k], Is.EqualTo(onCpu[k]).Within(2e-3f + 2e-3f * Math.Abs(onCpu[k])), $"element {k}: CPU and OpenCL runs");
        int fromCpu = 0, fromCl = 0;
        for (int c = 0; c < n / chunk; c++)
        {
            var part = mixed.AsSpan(c * chunk * d, chunk * d);
            bool isCpu = part.SequenceEqual(onCpu.AsSpan(c * chunk * d, chunk * d)), isCl = part.SequenceEqual(onCl.AsSpan(c * chunk * d, chunk * d));
            Assert.That(isCpu || isCl, $"chunk {c} matches neither device's run");
            if (isCpu && !isCl) fromCpu++;
            if (isCl && !isCpu) fromCl++;
        }
        TestContext.Out.WriteLine($"chunks from the CPU: {fromCpu}, from OpenCL: {fromCl} (of {n / chunk})");
        Assert.That(fromCpu, Is.GreaterThan(0), "the CPU took chunks");
        Assert.That(fromCl, Is.GreaterThan(0), "OpenCL took chunks");
    }

    [Test]
    public void TwoContextsOnTheSameDeviceEqualOne()
    {
        var one = Run([cl], 400, 1);
        using var second = new OpenClBackend(cl.Device);
        Assert.That(Run([cl, second], 9, 2), Is.EqualTo(one));
    }

    [Test]
    public void CancellationMidRunReturnsPromptlyFreesBuffersAndLeavesNoFile()
    {
        long buffersBefore = ClMem.LiveBuffers;
        var dir = Directory.CreateTempSubdirectory("cldiff-clcancel").FullName;
        try
        {
            using var engine = DiffusionEngine.FromBackends([cl]);
            using var cts = new CancellationTokenSource();
            var opt = new SamplingOptions { Sampler = "ei", Parameters = O, Scheduler = new SchedulerOptions { ChunkSize = 256, StreamsPerDevice = 2 } };
            var path = Path.Combine(dir, "c.npy");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            TimeSpan cancelledAt = default;
            var reports = new List<TimeSpan>();
            var t = engine.SampleToFileAsync(G, opt, 10_000_000, 1, path, new SyncProgress(p =>
            {
                reports.Add(sw.Elapsed);
                if (p.SamplesDone >= 2048 && !cts.IsCancellationRequested) { cancelledAt = sw.Elapsed; cts.Cancel(); }
            }), cts.Token);
            Assert.That(() => t.GetAwaiter().GetResult(), Throws.InstanceOf<OperationCanceledException>());
            var lag = sw.Elapsed - cancelledAt;
            // the bound scales with this machine: 2 s, or 8 chunks' time when a chunk (measured between progress reports
            // in this run) is slower than that allows; the chunks in flight may finish, nothing more
            var gaps = reports.Zip(reports.Skip(1), (a, b) => b - a).Order().ToList();
            var chunk = gaps.Count > 0 ? gaps[gaps.Count / 2] : TimeSpan.Zero;
            var bound = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(2).Ticks, 8 * chunk.Ticks));
            TestContext.Out.WriteLine($"returned {lag.TotalMilliseconds:0} ms after the cancel (a chunk: {chunk.TotalMilliseconds:0.0} ms; bound {bound.TotalMilliseconds:0} ms)");
            Assert.That(lag, Is.LessThan(bound));
            Assert.That(ClMem.LiveBuffers, Is.EqualTo(buffersBefore), "live OpenCL buffers after the cancelled run");
            Assert.That(Directory.GetFiles(dir), Is.Empty);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void StreamingFileOnTwoContextsEqualsMemoryRun()
    {
        var dir = Directory.CreateTempSubdirectory("cldiff-clstream").FullName;
        try
        {
            long before = ClMem.LiveBuffers;
            var path = Path.Combine(dir, "s.npy");
            using (var second = new OpenClBackend(cl.Device))
            using (var engine = DiffusionEngine.FromBackends([cl, second]))
            {
                var opt = new SamplingOptions { Sampler = "rm-pc", Parameters = O, Scheduler = new SchedulerOptions { ChunkSize = 11, ReorderChunks = 3, StreamsPerDevice = 2 } };
                engine.SampleToFileAsync(G, opt, 400, 9, path).GetAwaiter().GetResult();
            }
            Assert.That(ClMem.LiveBuffers, Is.EqualTo(before), "every buffer of the run and of the second context is released");
            Assert.That(Npy.Read(path).Float32, Is.EqualTo(Run([cl], 400, 1)));
        }
        finally { Directory.Delete(dir, true); }
    }
}

/// <summary>
/// The numbers in docs/SCALING.md: dotnet test --filter FullyQualifiedName~PipelineBenchmark. Slow: tools/test.sh runs
/// it only under CI=true or CLDIFF_SLOW_TESTS=1.
/// </summary>
[Category("Slow")]
public class PipelineBenchmark
{
    [Test]
    public void SerialAgainstPipelined()
    {
        using var cl = new OpenClBackend(OpenClTestBase.RequireDevice());
        var g = Presets.Get(Environment.GetEnvironmentVariable("BENCH_PRESET") ?? "mix16-5");
        int n = int.Parse(Environment.GetEnvironmentVariable("BENCH_N") ?? "65536"), chunk = int.Parse(Environment.GetEnvironmentVariable("BENCH_CHUNK") ?? "4096");
        string sampler = Environment.GetEnvironmentVariable("BENCH_SAMPLER") ?? "ei";
        var o = new SamplerOptions { Steps = int.Parse(Environment.GetEnvironmentVariable("BENCH_STEPS") ?? "10") };
        PipelineBench.MeasurePipelined(cl, g, sampler, o, 1, n, chunk, 2);          // warm-up: compile, allocate, wake the pool
        PipelineBench.MeasureSerial(cl, g, sampler, o, 1, n, chunk);
        TestContext.Out.WriteLine($"device {cl.DeviceName}; {sampler}, {o.Steps} steps, {g.Describe()}, n = {n}, chunk = {chunk}, {DateTime.UtcNow:yyyy-MM-dd}; best of 3 interleaved rounds");
        PipelineBench.Serial? serial = null;
        var best = new Dictionary<int, PipelineBench.Pipelined>();
        for (int rep = 0; rep < 3; rep++)
        {
            var s0 = PipelineBench.MeasureSerial(cl, g, sampler, o, 1, n, chunk);
            if (serial is null || s0.TotalSeconds < serial.TotalSeconds) serial = s0;
            foreach (int s in new[] { 1, 2, 4 })
            {
                var p = PipelineBench.MeasurePipelined(cl, g, sampler, o, 1, n, chunk, s);
                if (!best.TryGetValue(s, out var q) || p.WallSeconds < q.WallSeconds) best[s] = p;
            }
        }
        TestContext.Out.WriteLine($"serial: {serial!.Chunks} chunks, kernels {serial.KernelSeconds:0.000} s + transfers {serial.TransferSeconds:0.000} s = {serial.TotalSeconds:0.000} s ({n / serial.TotalSeconds:0} samples/s)");
        foreach (var (s, p) in best)
            TestContext.Out.WriteLine($"pipelined, {s} in flight: {p.WallSeconds:0.000} s wall, {p.SamplesPerSecond:0} samples/s ({serial.TotalSeconds / p.WallSeconds:0.00}x the serial sum)");
    }
}
