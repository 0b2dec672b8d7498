namespace ClDiffusion.Models;

/// <summary>
/// Adds a controlled, smooth, deterministic error to a model's score, for studying the paper's
/// E||s_t - grad log q_t||^2 &lt;= eps_s^2 assumption:
/// s~_t(x)_j = s_t(x)_j + Epsilon * sqrt(2/d) * sin(Frequency * x_j + phase_j + t), phase_j = 0.7 j.
/// The perturbation is Lipschitz (constant Epsilon*Frequency*sqrt(2/d)), and its mean square over x is
/// close to Epsilon^2, so Epsilon plays the role of eps_s.
/// </summary>
public sealed class PerturbedScore : IScoreModel
{
    public IScoreModel Inner { get; }
    public double Epsilon { get; }
    public double Frequency { get; }
    public PerturbedScore(IScoreModel inner, double epsilon, double frequency = 1.0)
    {
        if (!double.IsFinite(epsilon) || epsilon < 0) throw new ArgumentException($"score error epsilon must be finite and >= 0, got {epsilon}");
        Inner = inner; Epsilon = epsilon; Frequency = frequency;
    }
    public int Dim => Inner.Dim;
    public (double TMin, double TMax) TrainedTimes => Inner.TrainedTimes;
    public string Describe() => $"{Inner.Describe()} + score error {Epsilon}";
    public float Amplitude => (float)(Epsilon * Math.Sqrt(2.0 / Dim));

    public static float Perturbation(float amplitude, float frequency, float x, int j, float t) =>
        amplitude * MathF.Sin(frequency * x + 0.7f * j + t);
}
