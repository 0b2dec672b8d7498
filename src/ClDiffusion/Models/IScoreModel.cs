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
}
