#:project ../src/ClDiffusion/ClDiffusion.csproj
#:property Configuration=Release
// The float64 prototype behind the choices in docs/EXPERIMENTS.md ("rm-x0: what was tried"): variants of the
// data-prediction randomized midpoint on an exact mixture, sliced W2 against exact samples (the project's metric and
// directions). Run from the repository root:
//   dotnet run -c Release tools/x0_variants.cs -- D N SEED METHODS STEPS
//   dotnet run -c Release tools/x0_variants.cs -- 16 40000 1 dpmpp-2m,rmx0,rmx0-det,ms,ms-det,ms-rot,ms-anti,ms-rot-ddim 5,10,20
// Methods: dpmpp-2m; rmx0 (fresh start, second-order midpoint, as `rm-x0 --x0-start fresh`), rmx0-det (its midpoint
// at the tilted law's mean); ms* the multistep line form (x0 only at the midpoints): ms (independent uniforms),
// ms-rot (golden-ratio rotation), ms-anti (antithetic pairs), ms-det (deterministic midpoint), ms-nocv (no control
// variate), "-ddim" (the first step is the exponential step, as `rm-x0` does: S steps cost S NFE), "-uc" (UniC-style
// final: the control variate's slope from the line through the previous and the new midpoint evaluation, i.e. the step
// integrates that interpolating line exactly; no extra NFE), "-quad" (the quadratic in lambda through the last three
// evaluations instead of the line, for the midpoint state and the control variate integral(P) - (1 - e^{-h}) P(lambda_m)),
// "-cor" (UniC-style corrector: once x0 at step k's midpoint is known, step k-1 is redone from its start with the
// quadratic through the midpoints of steps k-2, k-1, k integrated exactly, and step k finishes from that corrected
// state; the midpoint state of step k stays the predicted one, as UniPC keeps its evaluation at the predicted point). Any method with "-log" runs on the log-SNR grid (else the
// shrinking grid). The uniforms here
// come from System.Random, not Philox: the prototype compares variants, the library is what is tested.
using ClDiffusion.Models; using ClDiffusion.Metrics; using ClDiffusion.Random; using ClDiffusion.Diffusion;
using static ClDiffusion.Diffusion.LogSnrSteps;
// float64 prototype of x0-form samplers on an exact mixture: sliced W2 against exact samples
int d = int.Parse(args[0]); int n = int.Parse(args[1]); ulong seed = ulong.Parse(args[2]);
var methods = args[3].Split(','); var stepsList = args[4].Split(',').Select(int.Parse).ToArray();
var target = GaussianMixture.Preset(d, 5);
double T = 8, delta = 1e-3;
var reference = SampleEvaluator.ExactSamples(target, n, new RandomKey(seed, 7, Purpose.Test));
var dirs = SlicedWasserstein.Directions(d, 128, seed);
var x0init = target.Sample(n, new RandomKey(seed + 1, 3, Purpose.Test), t: T);
var floorSet = SampleEvaluator.ExactSamples(target, n, new RandomKey(seed + 1000, 7, Purpose.Test));
double floor = SlicedWasserstein.Distance(floorSet, n, reference, n, d, dirs, 128);
Console.WriteLine($"d={d} n={n} seed={seed} floor {floor:F4}");
foreach (var m in methods) foreach (int S in stepsList) {
  var grid = m.Contains("-log") ? TimeGrid.LogSnr(T, delta, S) : TimeGrid.Shrinking(T, delta, S);
  var outp = new float[n * d]; int nfe = 0;
  Parallel.For(0, n, () => (new double[d], new double[8 * d]), (i, _, st) => {
    var (sc, scr) = st;
    var rng = new System.Random((int)(seed * 7919 + (ulong)i));
    var x = new double[d]; for (int j = 0; j < d; j++) x[j] = x0init[i, j];
    int cnt = 0;
    double[] X0(double[] y, double t) { cnt++; target.Score(y, t, sc, scr); var p = Point.At(t); var r = new double[d]; for (int j = 0; j < d; j++) r[j] = (y[j] + p.Sigma * p.Sigma * sc[j]) / p.Alpha; return r; }
    double[]? Dp = null; double lp = 0, hp = 0;       // previous start value (2M / rm-x0 m2)
    var hist = new List<(double l, double[] D)>();     // history of evaluated points (ms variants)
    double[]? xPrev = null; double tPrevStart = 0;     // -cor: the previous step's start state and forward time
    double u0 = rng.NextDouble();
    double U(int k) => m.Contains("rot") ? (u0 + k * 0.6180339887498949) % 1.0 : m.Contains("anti") ? (k % 2 == 0 ? u0 = rng.NextDouble() : 1 - u0) : rng.NextDouble();
    for (int k = 0; k < S; k++) {
      double ts = grid.T(k), tt = grid.T(k + 1); var s = Point.At(ts); var t = Point.At(tt); double h = t.Lambda - s.Lambda;
      if (m.StartsWith("dpmpp-2m")) {
        var D = X0(x, ts); double c = t.Alpha * Phi1(h);
        for (int j = 0; j < d; j++) { double Dj = Dp == null ? D[j] : (1 + hp / (2 * h) * 0 + h / (2 * hp)) * D[j] - h / (2 * hp) * Dp[j]; x[j] = t.Sigma / s.Sigma * x[j] + c * Dj; }
        Dp = D; hp = h;
      } else if (m.StartsWith("rmx0")) {
        var D = X0(x, ts);
        double[]? slope = Dp == null ? null : D.Zip(Dp, (a, b) => (a - b) / (s.Lambda - lp)).ToArray();
        double u = m == "rmx0-det" ? double.NaN : U(k);
        double lm = double.IsNaN(u) ? s.Lambda + Phi2(h) / Phi1(h) : TiltedLambda(u, t.Lambda, h); double kk = lm - s.Lambda;
        double tm = ForwardProcess.TimeOfLogSnr(lm); var mp = Point.At(tm);
        var xm = new double[d];
        for (int j = 0; j < d; j++) xm[j] = mp.Sigma / s.Sigma * x[j] + mp.Alpha * (Phi1(kk) * D[j] + (slope == null ? 0 : Phi2(kk) * slope[j]));
        var Dm = X0(xm, tm);
        for (int j = 0; j < d; j++) x[j] = t.Sigma / s.Sigma * x[j] + t.Alpha * (Phi1(h) * Dm[j] + (slope == null ? 0 : (Phi2(h) - Phi1(h) * kk) * slope[j]));
        Dp = D; lp = s.Lambda;
      } else if (m.StartsWith("ms")) {
        // one NFE per step: x0 only at the random midpoint; the midpoint state from the linear extrapolation of history
        bool det = m.Contains("det");
        if (hist.Count == 0) { var D0 = X0(x, ts); hist.Add((s.Lambda, D0));
          if (m.Contains("ddim")) { for (int j = 0; j < d; j++) x[j] = t.Sigma / s.Sigma * x[j] + t.Alpha * Phi1(h) * D0[j]; continue; } }
        double u = det ? double.NaN : U(k);
        double lm = det ? s.Lambda + Phi2(h) / Phi1(h) : TiltedLambda(u, t.Lambda, h); double kk = lm - s.Lambda;
        var (lb, Db) = hist[^1];
        double[] slope = new double[d];
        if (hist.Count >= 2) { var (la, Da) = hist[^2]; for (int j = 0; j < d; j++) slope[j] = (Db[j] - Da[j]) / (lb - la); }
        double tm = ForwardProcess.TimeOfLogSnr(lm); var mp = Point.At(tm);
        var xm = new double[d];
        if (m.Contains("quad") && hist.Count >= 3) {
          // P(u) = c0 + c1 u + c2 u^2 in u = lambda - lambda_s through the last three evaluations (Newton form)
          var (l0, E0) = hist[^3]; var (l1, E1) = hist[^2]; var (l2, E2) = hist[^1];
          double u0q = l0 - s.Lambda, u1q = l1 - s.Lambda, u2q = l2 - s.Lambda;
          var c0 = new double[d]; var c1 = new double[d]; var c2 = new double[d];
          for (int j = 0; j < d; j++) {
            double f01 = (E1[j] - E0[j]) / (u1q - u0q), f12 = (E2[j] - E1[j]) / (u2q - u1q), f012 = (f12 - f01) / (u2q - u0q);
            // P = E0 + f01 (u - u0) + f012 (u - u0)(u - u1)
            c2[j] = f012; c1[j] = f01 - f012 * (u0q + u1q); c0[j] = E0[j] - f01 * u0q + f012 * u0q * u1q;
            xm[j] = mp.Sigma / s.Sigma * x[j] + mp.Alpha * (c0[j] * Phi1(kk) + c1[j] * PhiK(1, kk) + 2 * c2[j] * PhiK(2, kk));
          }
          var Dq = X0(xm, tm);
          for (int j = 0; j < d; j++) {
            double P = c0[j] + c1[j] * kk + c2[j] * kk * kk, I = c0[j] * Phi1(h) + c1[j] * PhiK(1, h) + 2 * c2[j] * PhiK(2, h);
            x[j] = t.Sigma / s.Sigma * x[j] + t.Alpha * (Phi1(h) * Dq[j] + I - Phi1(h) * P);
          }
          hist.Add((lm, Dq));
          continue;
        }
        for (int j = 0; j < d; j++) { double Ds = Db[j] + slope[j] * (s.Lambda - lb); xm[j] = mp.Sigma / s.Sigma * x[j] + mp.Alpha * (Phi1(kk) * Ds + Phi2(kk) * slope[j]); }
        var Dm = X0(xm, tm);
        if (m.Contains("-cor") && xPrev != null && hist.Count >= 2) {
          var ps = Point.At(tPrevStart); double hq = s.Lambda - ps.Lambda;
          var (l0, E0) = hist[^2]; var (l1, E1) = hist[^1];
          double u0q = l0 - ps.Lambda, u1q = l1 - ps.Lambda, u2q = lm - ps.Lambda;
          for (int j = 0; j < d; j++) {
            double f01 = (E1[j] - E0[j]) / (u1q - u0q), f12 = (Dm[j] - E1[j]) / (u2q - u1q), f012 = (f12 - f01) / (u2q - u0q);
            double c2 = f012, c1 = f01 - f012 * (u0q + u1q), c0 = E0[j] - f01 * u0q + f012 * u0q * u1q;
            x[j] = s.Sigma / ps.Sigma * xPrev[j] + s.Alpha * (c0 * Phi1(hq) + c1 * PhiK(1, hq) + 2 * c2 * PhiK(2, hq));
          }
        }
        xPrev = (double[])x.Clone(); tPrevStart = ts;
        bool cv = !m.Contains("nocv");
        if (m.Contains("-uc")) for (int j = 0; j < d; j++) slope[j] = (Dm[j] - Db[j]) / (lm - lb);
        for (int j = 0; j < d; j++) x[j] = t.Sigma / s.Sigma * x[j] + t.Alpha * (Phi1(h) * Dm[j] + (cv ? (Phi2(h) - Phi1(h) * kk) * slope[j] : 0));
        hist.Add((lm, Dm));
      }
    }
    for (int j = 0; j < d; j++) outp[i * d + j] = (float)x[j];
    if (i == 0) nfe = cnt;
    return st;
  }, _ => { });
  double w = SlicedWasserstein.Distance(outp, n, reference, n, d, dirs, 128);
  Console.WriteLine($"{m,-12} steps {S,3} nfe {nfe,3}  sw2 {w:F4}  /floor {w / floor:F2}");
}
