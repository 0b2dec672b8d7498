using System.Runtime.CompilerServices;

namespace ClDiffusion.Random;

/// <summary>What a random draw is for; part of the Philox counter so that streams never overlap.</summary>
public enum Purpose : uint
{
    StartNoise = 1,
    Alpha = 2,
    LangevinVelocity = 3,
    LangevinNoise = 4,
    ScoreError = 5,
    /// <summary>rm-x0's multistep form: one uniform per sample, rotated by frac(n phi) at step n (AlphaLaw.Rotated).</summary>
    MidpointShift = 6,
    Test = 99,
}

/// <summary>
/// Keys one stream of random numbers: Philox key = seed, counter = (block, sample index, step, purpose).
/// Element j of a sample's row comes from block j / 4, lane j % 4, so a value depends only on
/// (seed, sample, step, purpose, j) and never on how samples are batched.
/// Sample indices are 32-bit: at most 2^32 samples per seed.
/// </summary>
public readonly record struct RandomKey(ulong Seed, uint Step, Purpose Purpose)
{
    public uint Key0 => (uint)Seed;
    public uint Key1 => (uint)(Seed >> 32);

    public RandomKey WithStep(uint step) => this with { Step = step };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (uint, uint, uint, uint) Block(long sample, uint block) =>
        Philox.Block(block, (uint)sample, Step, (uint)Purpose, Key0, Key1);

    /// <summary>Uniform (0,1) number j of a sample.</summary>
    public float Uniform(long sample, int j)
    {
        var (a, b, c, d) = Block(sample, (uint)(j >> 2));
        uint bits = (j & 3) switch { 0 => a, 1 => b, 2 => c, _ => d };
        return Philox.ToUniform(bits);
    }

    /// <summary>Standard normal number j of a sample (Box-Muller on lanes (0,1) and (2,3) of block j/4).</summary>
    public float Normal(long sample, int j)
    {
        var (a, b, c, d) = Block(sample, (uint)(j >> 2));
        return BoxMuller(j & 3, a, b, c, d);
    }

    /// <summary>Fills a row of normals, one Philox block per four values.</summary>
    public void Normals(long sample, Span<float> row)
    {
        int n = row.Length;
        for (int j = 0; j < n; j += 4)
        {
            var (a, b, c, d) = Block(sample, (uint)(j >> 2));
            for (int l = 0; l < 4 && j + l < n; l++) row[j + l] = BoxMuller(l, a, b, c, d);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float BoxMuller(int lane, uint a, uint b, uint c, uint d)
    {
        float u1 = Philox.ToUniform(lane < 2 ? a : c), u2 = Philox.ToUniform(lane < 2 ? b : d);
        float r = MathF.Sqrt(-2.0f * MathF.Log(u1));
        float angle = 6.28318530717958647692f * u2;
        return (lane & 1) == 0 ? r * MathF.Cos(angle) : r * MathF.Sin(angle);
    }
}
