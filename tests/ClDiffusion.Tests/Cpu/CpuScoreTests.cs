using ClDiffusion.Backends.Cpu;
using ClDiffusion.Models;
using ClDiffusion.Random;
using NUnit.Framework;

namespace ClDiffusion.Tests.Cpu;

public class CpuScoreTests
{
    /// <summary>
    /// The CPU backend's mixture score (its single-time SIMD path and its per-row-time path) against the float64
    /// reference of GaussianMixture.Score, at odd dimensions and times from near the data to the horizon.
    /// </summary>
    [TestCase(1, 1)]
    [TestCase(3, 2)]
    [TestCase(17, 5)]
    [TestCase(64, 4)]
    public void MixtureScoreMatchesTheFloat64Reference(int d, int K)
    {
        var g = GaussianMixture.Preset(d, K, seed: 3);
        var cpu = new CpuBackend();
        using var p = cpu.Prepare(g);
        const int n = 23;
        var key = new RandomKey(4, 0, Purpose.Test);
        var x = new float[n * d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) x[i * d + j] = 2.5f * key.Normal(i, j);
        using var xb = cpu.Allocate(n, d); using var sb = cpu.Allocate(n, d); using var ob = cpu.Allocate(n, 1);
        cpu.Upload(xb, x);
        var offsets = Enumerable.Range(0, n).Select(i => (float)i / n).ToArray();
        cpu.Upload(ob, offsets);
        var reference = new double[d]; var scratch = new double[K]; var got = new float[n * d];
        foreach (float t in new[] { 0.001f, 0.3f, 2f, 7.9f })
        {
            foreach (bool perRow in new[] { false, true })
            {
                cpu.Score(p, xb, t + (perRow ? 0.5f : 0f), perRow ? 0.5f : 0f, perRow ? ob : null, sb);
                cpu.Download(sb, got);
                for (int i = 0; i < n; i++)
                {
                    float ti = perRow ? t + 0.5f - 0.5f * offsets[i] : t;
                    g.Score(x.Select(v => (double)v).Skip(i * d).Take(d).ToArray(), ti, reference, scratch);
                    for (int j = 0; j < d; j++)
                        Assert.That(got[i * d + j], Is.EqualTo(reference[j]).Within(2e-5 * (1 + Math.Abs(reference[j]))), $"t={t} perRow={perRow} row {i} coordinate {j}");
                }
            }
        }
    }

    /// <summary>
    /// The per-row-time path (the parallel samplers) computes the same bits as the shared-time path when the times
    /// agree: both use the same SIMD tables and row code, whatever the cache of tables holds.
    /// </summary>
    [TestCase(7, 3)]
    [TestCase(64, 5)]
    public void PerRowTimesGiveTheSharedTimeBits(int d, int K)
    {
        var g = GaussianMixture.Preset(d, K, seed: 5);
        var cpu = new CpuBackend();
        using var p = cpu.Prepare(g);
        const int n = 40;
        var x = new float[n * d];
        new RandomKey(6, 0, Purpose.Test).Normals(0, x);
        using var xb = cpu.Allocate(n, d); using var sb = cpu.Allocate(n, d); using var ob = cpu.Allocate(n, 1);
        cpu.Upload(xb, x);
        // offsets cycle through 11 times (more than the per-thread cache holds), row r at t = 1.5 - 0.1 (r % 11)
        cpu.Upload(ob, Enumerable.Range(0, n).Select(r => (float)(r % 11)).ToArray());
        cpu.Score(p, xb, 1.5f, 0.1f, ob, sb);
        var perRow = new float[n * d]; cpu.Download(sb, perRow);
        var shared = new float[n * d];
        for (int r = 0; r < n; r++)
        {
            cpu.Score(p, xb, 1.5f - 0.1f * (r % 11), 0f, null, sb);
            cpu.Download(sb, shared);
            Assert.That(perRow.AsSpan(r * d, d).ToArray(), Is.EqualTo(shared.AsSpan(r * d, d).ToArray()), $"row {r}");
        }
    }
}
