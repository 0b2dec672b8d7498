namespace ClDiffusion.Diffusion;

/// <summary>
/// Sampler-time grid 0 = tau_0 &lt; ... &lt; tau_N = T - delta, made separately from the samplers and passed in
/// (as in k-diffusion). <see cref="CorrectAfter"/>[n] says whether predictor-corrector schedules run the
/// corrector once tau_{n+1} is reached.
/// </summary>
public sealed class TimeGrid
{
    public double Horizon { get; }
    public double[] Tau { get; }
    public bool[] CorrectAfter { get; }
    public int Steps => Tau.Length - 1;

    public TimeGrid(double horizon, double[] tau, bool[]? correctAfter = null)
    {
        if (!(horizon > 0) || double.IsInfinity(horizon)) throw new ArgumentException($"horizon T must be positive and finite, got {horizon}");
        if (tau.Length < 2) throw new ArgumentException("a time grid needs at least one step");
        for (int i = 0; i + 1 < tau.Length; i++)
            if (!(tau[i + 1] > tau[i])) throw new ArgumentException($"time grid must increase strictly (tau[{i}] = {tau[i]}, tau[{i + 1}] = {tau[i + 1]})");
        if (tau[0] < 0 || !(tau[^1] < horizon)) throw new ArgumentException($"time grid must lie in [0, T) with T = {horizon}");
        Horizon = horizon; Tau = tau;
        CorrectAfter = correctAfter ?? new bool[tau.Length - 1];
        if (CorrectAfter.Length != tau.Length - 1) throw new ArgumentException("one corrector flag per step");
    }

    /// <summary>Forward (noising) time at grid point n.</summary>
    public double T(int n) => Horizon - Tau[n];
    public double H(int n) => Tau[n + 1] - Tau[n];

    static void Check(double horizon, double delta, int steps)
    {
        if (steps < 1) throw new ArgumentException($"steps must be at least 1, got {steps}");
        if (!(delta > 0)) throw new ArgumentException($"early stopping delta must be positive, got {delta}");
        if (!(delta < horizon)) throw new ArgumentException($"early stopping delta ({delta}) must be smaller than the horizon T ({horizon})");
    }

    /// <summary>Equal steps over [0, T - delta].</summary>
    public static TimeGrid Uniform(double horizon, double delta, int steps)
    {
        Check(horizon, delta, steps);
        var tau = new double[steps + 1];
        for (int i = 0; i <= steps; i++) tau[i] = (horizon - delta) * i / steps;
        tau[steps] = horizon - delta;
        return new TimeGrid(horizon, tau);
    }

    /// <summary>
    /// Steps uniform in psi(t) = t for t >= 1 and 1 + log t below: equal steps far from the data and steps
    /// shrinking geometrically (proportional to t) towards tau = T - delta, as in the theory's schedules.
    /// </summary>
    public static TimeGrid Shrinking(double horizon, double delta, int steps)
    {
        Check(horizon, delta, steps);
        static double Psi(double t) => t >= 1 ? t : 1 + Math.Log(t);
        static double PsiInv(double p) => p >= 1 ? p : Math.Exp(p - 1);
        double a = Psi(horizon), b = Psi(delta);
        var tau = new double[steps + 1];
        for (int i = 0; i <= steps; i++) tau[i] = horizon - PsiInv(a + (b - a) * i / steps);
        tau[0] = 0; tau[steps] = horizon - delta;
        return new TimeGrid(horizon, tau);
    }

    /// <summary>
    /// Steps of equal length in log-SNR lambda = log(alpha_t / sigma_t), from lambda(T) to lambda(delta): the natural axis of
    /// the data-prediction samplers (DPM-Solver++, rm-x0), whose step weights depend on lambda differences only.
    /// </summary>
    public static TimeGrid LogSnr(double horizon, double delta, int steps)
    {
        Check(horizon, delta, steps);
        double a = ForwardProcess.LogSnr(horizon), b = ForwardProcess.LogSnr(delta);
        var tau = new double[steps + 1];
        for (int i = 0; i <= steps; i++) tau[i] = horizon - ForwardProcess.TimeOfLogSnr(a + (b - a) * i / steps);
        tau[0] = 0; tau[steps] = horizon - delta;
        return new TimeGrid(horizon, tau);
    }

    /// <summary>
    /// Karras et al.'s (EDM) schedule: steps of equal length in sigma^(1/rho) with sigma = sigma_t / alpha_t = e^-lambda the
    /// noise-to-signal ratio, from sigma(T) to sigma(delta); rho = 7 as in EDM. In lambda its steps are shorter than
    /// log-SNR's at high noise and longer near the data (rho -> infinity is the log-SNR grid).
    /// </summary>
    public static TimeGrid Karras(double horizon, double delta, int steps, double rho = 7)
    {
        Check(horizon, delta, steps);
        if (!(rho > 0) || double.IsInfinity(rho)) throw new ArgumentException($"Karras grid rho must be positive and finite, got {rho}");
        double a = Math.Exp(-ForwardProcess.LogSnr(horizon) / rho), b = Math.Exp(-ForwardProcess.LogSnr(delta) / rho);
        var tau = new double[steps + 1];
        for (int i = 0; i <= steps; i++) tau[i] = horizon - ForwardProcess.TimeOfLogSnr(-rho * Math.Log(a + (b - a) * i / steps));
        tau[0] = 0; tau[steps] = horizon - delta;
        return new TimeGrid(horizon, tau);
    }

    /// <summary>Marks the corrector after the first step that reaches each multiple of blockLength, and after the last step.</summary>
    public TimeGrid WithCorrectorEvery(double blockLength)
    {
        if (!(blockLength > 0) || double.IsInfinity(blockLength)) throw new ArgumentException($"corrector block length must be positive and finite, got {blockLength}");
        var flags = new bool[Steps];
        double next = blockLength;
        for (int n = 0; n < Steps; n++)
            if (Tau[n + 1] >= next - 1e-12)
            {
                flags[n] = true;
                // the first multiple of blockLength beyond this point, in O(1): a block far shorter than the steps
                // (1e-300) must not step through every multiple up to T
                next = (Math.Floor((Tau[n + 1] + 1e-12) / blockLength) + 1) * blockLength;
            }
        flags[^1] = true;
        return new TimeGrid(Horizon, Tau, flags);
    }

    /// <summary>
    /// Splits every step longer than maxStep into equal parts no longer than maxStep (keeping every original point and
    /// its corrector flag on the last part), so the randomized midpoint's weight h e^{(1-alpha)h} stays bounded.
    /// </summary>
    public TimeGrid CapSteps(double maxStep)
    {
        if (!(maxStep > 0) || double.IsInfinity(maxStep)) throw new ArgumentException($"maximum step must be positive and finite, got {maxStep}");
        var tau = new List<double> { Tau[0] };
        var flags = new List<bool>();
        for (int n = 0; n < Steps; n++)
        {
            int parts = (int)Math.Ceiling(H(n) / maxStep - 1e-12);
            for (int k = 1; k <= parts; k++)
            {
                tau.Add(k == parts ? Tau[n + 1] : Tau[n] + H(n) * k / parts);
                flags.Add(k == parts && CorrectAfter[n]);
            }
        }
        return new TimeGrid(Horizon, tau.ToArray(), flags.ToArray());
    }

    /// <summary>Longest step; the randomized midpoint weight h e^{(1-alpha)h} makes long steps noisy.</summary>
    public double MaxStep => Enumerable.Range(0, Steps).Max(H);
}
