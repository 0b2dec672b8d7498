using ClDiffusion.Diffusion;
using static ClDiffusion.Diffusion.LogSnrSteps;

namespace ClDiffusion.Backends.OpenCL;

/// <summary>
/// The log-SNR (data-prediction) primitives on OpenCL (cl/logsnr.cl): a per-row weight kernel into a small coefficient
/// buffer, then an element-wise kernel. Everything stays on the device; the host passes only scalars of the step.
/// </summary>
public sealed partial class OpenClBackend
{
    ClProgram? logSnrProgram;
    OpenClBuffer? logSnrCoef;

    ClKernel KL(string name)
    {
        string key = "logsnr.cl:" + name;
        if (!kernels.TryGetValue(key, out var k))
        {
            logSnrProgram ??= Program("logsnr.cl");
            kernels[key] = k = logSnrProgram.Kernel(name);
        }
        return k;
    }

    /// <summary>The coefficient buffer (3 floats per row), grown as needed and kept.</summary>
    OpenClBuffer Coefs(int rows)
    {
        if (logSnrCoef is null || logSnrCoef.Rows < rows)
        {
            logSnrCoef?.Dispose();
            logSnrCoef = (OpenClBuffer)Allocate(Math.Max(rows, 1), 3);
        }
        return logSnrCoef;
    }

    void DisposeLogSnr() { logSnrCoef?.Dispose(); logSnrCoef = null; }

    public void TiltedTimes(IDeviceBuffer times, IDeviceBuffer u, double lambdaEnd, double h)
    {
        BackendChecks.TiltedTimes(times, u);
        var t = B(times); var ub = B(u);
        if (t.Length == 0) return;
        var k = KL("lsnr_tilted_times").Set(0, t.Mem).Set(1, ub.Mem).Set(2, (int)t.Length);
        SetReal(k, 3, lambdaEnd); SetReal(k, 4, Phi1(h));
        Launch(k, t.Length);
    }

    public void DataPrediction(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer s, IDeviceBuffer times)
    {
        BackendChecks.DataPrediction(dst, x, s, times);
        var d = B(dst); var xb = B(x); var sb = B(s); var tb = B(times);
        if (d.Length == 0) return;
        var c = Coefs(x.Rows);
        Launch(KL("lsnr_x0_coefs").Set(0, c.Mem).Set(1, tb.Mem).Set(2, x.Rows), x.Rows);
        Launch(KL("lsnr_data_prediction").Set(0, d.Mem).Set(1, xb.Mem).Set(2, sb.Mem).Set(3, c.Mem).Set(4, x.Cols).Set(5, (int)d.Length), d.Length);
    }

    public void LogSnrPredict(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d0, IDeviceBuffer? slope, IDeviceBuffer times, double tStart)
    {
        int R = BackendChecks.LogSnrPredict(dst, x, d0, slope, times);
        var d = B(dst); var xb = B(x); var db = B(d0); var tb = B(times);
        if (d.Length == 0) return;
        var s = Point.At(tStart);
        var c = Coefs(d.Rows);
        var kc = KL("lsnr_predict_coefs").Set(0, c.Mem).Set(1, tb.Mem).Set(2, d.Rows);
        SetReal(kc, 3, s.Lambda); SetReal(kc, 4, s.Sigma);
        Launch(kc, d.Rows);
        var sl = slope is null ? xb : B(slope);
        Launch(KL("lsnr_predict").Set(0, d.Mem).Set(1, xb.Mem).Set(2, db.Mem).Set(3, sl.Mem).Set(4, c.Mem)
            .Set(5, R).Set(6, d.Cols).Set(7, (int)d.Length).Set(8, slope is null ? 0 : 1), d.Length);
    }

    public void LogSnrPicard(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer times, double tStart, double tEnd)
    {
        int R = BackendChecks.LogSnrPicard(dst, x, d, times);
        var o = B(dst); var xb = B(x); var db = B(d); var tb = B(times);
        if (o.Length == 0) return;
        var s = Point.At(tStart); var t = Point.At(tEnd);
        var c = Coefs(o.Rows);
        var kc = KL("lsnr_picard_coefs").Set(0, c.Mem).Set(1, tb.Mem).Set(2, o.Rows).Set(3, R);
        SetReal(kc, 4, s.Sigma); SetReal(kc, 5, Math.Exp(s.Lambda)); SetReal(kc, 6, Math.Exp(t.Lambda) - Math.Exp(s.Lambda));
        Launch(kc, o.Rows);
        Launch(KL("lsnr_picard").Set(0, o.Mem).Set(1, xb.Mem).Set(2, db.Mem).Set(3, c.Mem).Set(4, R).Set(5, o.Cols).Set(6, (int)o.Length), o.Length);
    }

    public void LogSnrFinal(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer? slope, IDeviceBuffer times, double tStart, double tEnd)
    {
        int R = BackendChecks.LogSnrFinal(dst, x, d, slope, times);
        var o = B(dst); var xb = B(x); var db = B(d); var tb = B(times);
        if (o.Length == 0) return;
        var s = Point.At(tStart); var t = Point.At(tEnd);
        double h = t.Lambda - s.Lambda;
        var c = Coefs(xb.Rows);
        if (slope is not null)
        {
            var kc = KL("lsnr_final_coefs").Set(0, c.Mem).Set(1, tb.Mem).Set(2, xb.Rows).Set(3, R);
            SetReal(kc, 4, s.Lambda); SetReal(kc, 5, t.Alpha); SetReal(kc, 6, h);
            Launch(kc, xb.Rows);
        }
        var sl = slope is null ? xb : B(slope);
        Launch(KL("lsnr_final").Set(0, o.Mem).Set(1, xb.Mem).Set(2, db.Mem).Set(3, sl.Mem).Set(4, c.Mem)
            .Set(5, (float)(t.Sigma / s.Sigma)).Set(6, (float)(t.Alpha * Phi1(h) / R)).Set(7, R).Set(8, o.Cols).Set(9, (int)o.Length)
            .Set(10, slope is null ? 0 : 1), o.Length);
    }

    public void LogSnrLine(IDeviceBuffer dStart, IDeviceBuffer slope, IDeviceBuffer dA, IDeviceBuffer timesA, IDeviceBuffer dB, IDeviceBuffer timesB, double tStart)
    {
        BackendChecks.LogSnrLine(dStart, slope, dA, timesA, dB, timesB);
        var o = B(dStart); var sl = B(slope); var a = B(dA); var bb = B(dB);
        if (o.Length == 0) return;
        var c = Coefs(o.Rows);
        var kc = KL("lsnr_line_coefs").Set(0, c.Mem).Set(1, B(timesA).Mem).Set(2, B(timesB).Mem).Set(3, o.Rows);
        SetReal(kc, 4, Point.At(tStart).Lambda);
        Launch(kc, o.Rows);
        Launch(KL("lsnr_line").Set(0, o.Mem).Set(1, sl.Mem).Set(2, a.Mem).Set(3, bb.Mem).Set(4, c.Mem).Set(5, o.Cols).Set(6, (int)o.Length), o.Length);
    }
}
