using ClDiffusion.Diffusion;
using static ClDiffusion.Diffusion.LogSnrSteps;

namespace ClDiffusion.Backends.Cpu;

/// <summary>The log-SNR (data-prediction) primitives of the CPU backend: weights in float64 per row, sums in float32.</summary>
public sealed partial class CpuBackend
{
    public void TiltedTimes(IDeviceBuffer times, IDeviceBuffer u, double lambdaEnd, double h)
    {
        BackendChecks.TiltedTimes(times, u);
        var t = B(times).Data; var ub = B(u).Data;
        for (int k = 0; k < t.Length; k++) t[k] = (float)ForwardProcess.TimeOfLogSnr(TiltedLambda(ub[k], lambdaEnd, h));
    }

    public void DataPrediction(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer s, IDeviceBuffer times)
    {
        BackendChecks.DataPrediction(dst, x, s, times);
        var tb = B(times).Data;
        var d = B(dst); var xb = B(x); var sb = B(s);
        ForRows(x.Rows, x.Cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var p = Point.At(tb[r]);
                float cx = (float)(1 / p.Alpha), cs = (float)(p.Sigma * p.Sigma / p.Alpha);
                var dr = d.Row(r); var xr = xb.Row(r); var sr = sb.Row(r);
                for (int j = 0; j < dr.Length; j++) dr[j] = cx * xr[j] + cs * sr[j];
            }
        });
    }

    public void LogSnrPredict(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d0, IDeviceBuffer? slope, IDeviceBuffer times, double tStart)
    {
        int R = BackendChecks.LogSnrPredict(dst, x, d0, slope, times);
        var d = B(dst); var xb = B(x); var db = B(d0); var tb = B(times);
        var sl = slope is null ? null : B(slope);
        var s = Point.At(tStart);
        ForRows(d.Rows, d.Cols, (r0, r1) =>
        {
            for (int row = r0; row < r1; row++)
            {
                int r = row / R;
                var p = Point.At(tb.Data[row]);
                double k = p.Lambda - s.Lambda;
                float cx = (float)(p.Sigma / s.Sigma), c0 = (float)(p.Alpha * Phi1(k)), c1 = (float)(p.Alpha * Phi2(k));
                var dr = d.Row(row); var xr = xb.Row(r); var d0r = db.Row(r);
                if (sl is null) for (int j = 0; j < dr.Length; j++) dr[j] = cx * xr[j] + c0 * d0r[j];
                else { var sr = sl.Row(r); for (int j = 0; j < dr.Length; j++) dr[j] = cx * xr[j] + c0 * d0r[j] + c1 * sr[j]; }
            }
        });
    }

    /// <summary>Weights of the prm-x0 Picard sum for sub-window point i of R: (coefficient of x_s, full sub-window, own partial sub-window).</summary>
    internal static (double cx, double full, double part) PicardWeights(Point p, Point s, Point t, int i, int R)
    {
        double mass = Math.Exp(t.Lambda) - Math.Exp(s.Lambda);       // e^{lambda_t} - e^{lambda_s}
        return (p.Sigma / s.Sigma, p.Sigma * mass / R, p.Alpha - p.Sigma * (Math.Exp(s.Lambda) + mass * i / R));
    }

    public void LogSnrPicard(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer times, double tStart, double tEnd)
    {
        int R = BackendChecks.LogSnrPicard(dst, x, d, times);
        var o = B(dst); var xb = B(x); var db = B(d); var tb = B(times);
        var s = Point.At(tStart); var t = Point.At(tEnd);
        ForRows(o.Rows, (long)o.Cols * R, (r0, r1) =>
        {
            for (int row = r0; row < r1; row++)
            {
                int r = row / R, i = row % R;
                var (cx, full, part) = PicardWeights(Point.At(tb.Data[row]), s, t, i, R);
                float fx = (float)cx, ff = (float)full, fp = (float)part;
                var dr = o.Row(row); var xr = xb.Row(r);
                for (int c = 0; c < dr.Length; c++)
                {
                    float acc = fx * xr[c];
                    for (int j = 0; j < i; j++) acc += ff * db.Data[(r * R + j) * db.Cols + c];
                    dr[c] = acc + fp * db.Data[(r * R + i) * db.Cols + c];
                }
            }
        });
    }

    public void LogSnrFinal(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer? slope, IDeviceBuffer times, double tStart, double tEnd)
    {
        int R = BackendChecks.LogSnrFinal(dst, x, d, slope, times);
        var o = B(dst); var xb = B(x); var db = B(d); var tb = B(times);
        var sl = slope is null ? null : B(slope);
        var s = Point.At(tStart); var t = Point.At(tEnd);
        double h = t.Lambda - s.Lambda;
        float cx = (float)(t.Sigma / s.Sigma), cd = (float)(t.Alpha * Phi1(h) / R);
        ForRows(o.Rows, (long)o.Cols * R, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                double meanK = 0;
                for (int i = 0; i < R; i++) meanK += Point.At(tb.Data[r * R + i]).Lambda - s.Lambda;
                float cs = (float)(t.Alpha * (Phi2(h) - Phi1(h) * meanK / R));
                var orow = o.Row(r); var xr = xb.Row(r);
                for (int c = 0; c < orow.Length; c++)
                {
                    float acc = 0;
                    for (int i = 0; i < R; i++) acc += db.Data[(r * R + i) * db.Cols + c];
                    float v = cx * xr[c] + cd * acc;
                    if (sl is not null) v += cs * sl.Data[r * sl.Cols + c];
                    orow[c] = v;
                }
            }
        });
    }

    /// <summary>Per-row weights of the line: c = 1 / (lambda_b - lambda_a) (0 where they coincide) and e = (lambda_s - lambda_b) c.</summary>
    internal static (double c, double e) LineWeights(double lambdaA, double lambdaB, double lambdaS)
    {
        double gap = lambdaB - lambdaA;
        double c = gap == 0 ? 0 : 1 / gap;
        return (c, (lambdaS - lambdaB) * c);
    }

    public void LogSnrLine(IDeviceBuffer dStart, IDeviceBuffer slope, IDeviceBuffer dA, IDeviceBuffer timesA, IDeviceBuffer dB, IDeviceBuffer timesB, double tStart)
    {
        BackendChecks.LogSnrLine(dStart, slope, dA, timesA, dB, timesB);
        var o = B(dStart); var sl = B(slope); var a = B(dA); var bb = B(dB); var ta = B(timesA); var tb = B(timesB);
        double lambdaS = Point.At(tStart).Lambda;
        ForRows(o.Rows, o.Cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var (c, e) = LineWeights(Point.At(ta.Data[r]).Lambda, Point.At(tb.Data[r]).Lambda, lambdaS);
                float fc = (float)c, fe = (float)e;
                var orow = o.Row(r); var srow = sl.Row(r); var arow = a.Row(r); var brow = bb.Row(r);
                for (int j = 0; j < orow.Length; j++)
                {
                    float diff = brow[j] - arow[j], bj = brow[j];
                    srow[j] = fc * diff;
                    orow[j] = bj + fe * diff;
                }
            }
        });
    }
}
