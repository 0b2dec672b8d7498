using ClDiffusion.Models;

namespace ClDiffusion.Backends.Cpu;

/// <summary>A score model prepared for the CPU backend: one row at a time, called from several threads at once.</summary>
public interface ICpuScore : IPreparedScore
{
    void ScoreRow(ReadOnlySpan<float> x, float t, Span<float> score);
}

/// <summary>A prepared score that prefers whole batches (an MLP uses matrix products).</summary>
public interface ICpuBatchScore : IPreparedScore
{
    /// <summary>score[r] = s_{t[r]}(x[r]) for rows x.Length / Dim.</summary>
    void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, Span<float> score);
}

/// <summary>A prepared class-conditional score: labels[r] is row r's class (-1 = the null class).</summary>
public interface ICpuConditionalScore : IPreparedScore
{
    void ScoreBatch(ReadOnlySpan<float> x, ReadOnlySpan<float> t, ReadOnlySpan<int> labels, Span<float> score);
}

/// <summary>Lets other parts of the library (the MLP) register CPU preparations without the backend knowing them.</summary>
public static class CpuScoreRegistry
{
    static readonly List<Func<IScoreModel, Func<IScoreModel, IPreparedScore>, IPreparedScore?>> factories = new();
    public static void Register(Func<IScoreModel, Func<IScoreModel, IPreparedScore>, IPreparedScore?> factory)
    {
        lock (factories) factories.Add(factory);
    }
    internal static IPreparedScore? TryPrepare(IScoreModel model, Func<IScoreModel, IPreparedScore> prepareInner)
    {
        lock (factories)
            foreach (var f in factories) if (f(model, prepareInner) is { } p) return p;
        return null;
    }
}

/// <summary>Score error wrapper on the CPU (see <see cref="PerturbedScore"/>): the backend adds the perturbation after the inner score.</summary>
sealed class CpuPerturbedScore : IPreparedScore
{
    public IPreparedScore Inner { get; }
    public PerturbedScore Perturbed { get; }
    public IScoreModel Model => Perturbed;
    public CpuPerturbedScore(PerturbedScore model, IPreparedScore inner) { Perturbed = model; Inner = inner; }
    public void Dispose() => Inner.Dispose();
}
