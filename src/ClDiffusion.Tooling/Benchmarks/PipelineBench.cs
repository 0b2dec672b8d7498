using System.Diagnostics;
using ClDiffusion.Backends;
using ClDiffusion.Models;
using ClDiffusion.Random;
using ClDiffusion.Samplers;
using ClDiffusion.Scheduling;

namespace ClDiffusion.Tooling.Benchmarks;

/// <summary>
/// Measures what pipelining buys on one device (any backend): the same chunks run serially (enqueue a chunk, wait for its
/// kernels, then a blocking read; host-timed phases summed) against the scheduler with 1, 2, 4 ... chunks in flight.
/// </summary>
public static class PipelineBench
{
    public sealed record Serial(int Chunks, double KernelSeconds, double TransferSeconds)
    {
        public double TotalSeconds => KernelSeconds + TransferSeconds;
    }

    public sealed record Pipelined(int Streams, double WallSeconds, double SamplesPerSecond);

    public static Serial MeasureSerial(IBackend b, IScoreModel model, string sampler, SamplerOptions o, ulong seed, int n, int chunk)
    {
        var job = new SamplingJob(model, sampler, o, seed, 0).Validated();
        using var prepared = b.Prepare(model);
        var host = new float[(long)chunk * model.Dim];
        double kernel = 0, transfer = 0; int chunks = 0;
        for (int done = 0; done < n; done += chunk, chunks++)
        {
            int m = Math.Min(chunk, n - done);
            var sw = Stopwatch.StartNew();
            using var ctx = ChunkPipeline.Context(b, prepared, job, done, m);
            using var x = ChunkPipeline.Enqueue(ctx, job);
            b.Finish();
            kernel += sw.Elapsed.TotalSeconds;
            sw.Restart();
            b.Download(x, host.AsSpan(0, m * model.Dim));
            ChunkPipeline.Collect(ctx, model, host.AsSpan(0, m * model.Dim));   // the same collect step as every run, non-finite check included
            transfer += sw.Elapsed.TotalSeconds;
        }
        return new Serial(chunks, kernel, transfer);
    }

    public static Pipelined MeasurePipelined(IBackend b, IScoreModel model, string sampler, SamplerOptions o, ulong seed, int n, int chunk, int streams)
    {
        var s = new ChunkScheduler([b], new SchedulerOptions { ChunkSize = chunk, StreamsPerDevice = streams });
        var sw = Stopwatch.StartNew();
        s.Run(model, sampler, o, seed, 0, n, new NullSink());
        double t = sw.Elapsed.TotalSeconds;
        return new Pipelined(streams, t, n / t);
    }

    sealed class NullSink : ISampleSink { public void Write(long offset, ReadOnlySpan<float> rows) { } }
}
