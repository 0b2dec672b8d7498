namespace ClDiffusion.Models;

/// <summary>
/// A score model is a plain description (data). Backends prepare it into something executable
/// (<see cref="Backends.IBackend.Prepare"/>). The score convention is s_t(x) ~ grad log q_t(x) at forward time t.
/// </summary>
public interface IScoreModel
{
    int Dim { get; }
    /// <summary>Short human-readable description for reports.</summary>
    string Describe();
    /// <summary>
    /// The forward times the model was trained on (a model in another time convention: that convention's range). A run
    /// with default options stays inside it (<see cref="Samplers.SamplerOptions.ForModel"/>); all times by default.
    /// </summary>
    (double TMin, double TMax) TrainedTimes => (0, double.PositiveInfinity);
}
