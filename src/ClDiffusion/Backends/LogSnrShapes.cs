namespace ClDiffusion.Backends;

/// <summary>The shape checks of the log-SNR primitives, shared by every backend; each returns R (midpoints per sample).</summary>
public static class LogSnrShapes
{
    static void Same(IDeviceBuffer a, IDeviceBuffer b, string what)
    {
        if (a.Rows != b.Rows || a.Cols != b.Cols) throw new ArgumentException($"{what}: shape [{a.Rows}, {a.Cols}] does not match [{b.Rows}, {b.Cols}]");
    }

    static long Length(IDeviceBuffer b) => (long)b.Rows * b.Cols;

    public static void TiltedTimes(IDeviceBuffer times, IDeviceBuffer u) => Same(times, u, "tilted times");

    public static void DataPrediction(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer s, IDeviceBuffer times)
    {
        Same(dst, x, "data prediction"); Same(x, s, "data prediction");
        if (Length(times) != x.Rows) throw new ArgumentException($"data prediction: {Length(times)} times for {x.Rows} rows");
    }

    public static int Predict(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d0, IDeviceBuffer? slope, IDeviceBuffer times)
    {
        int R = times.Cols;
        Same(x, d0, "log-SNR predict");
        if (slope is not null) Same(x, slope, "log-SNR predict");
        if (times.Rows != x.Rows || dst.Rows != x.Rows * R || dst.Cols != x.Cols) throw new ArgumentException($"log-SNR predict: dst [{dst.Rows}, {dst.Cols}] does not match {x.Rows} x R={R}");
        return R;
    }

    public static int Picard(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer times)
    {
        int R = times.Cols;
        if (ReferenceEquals(dst, d)) throw new ArgumentException("log-SNR Picard: dst must not alias d");
        if (times.Rows != x.Rows || dst.Rows != x.Rows * R || d.Rows != dst.Rows || dst.Cols != x.Cols || d.Cols != x.Cols)
            throw new ArgumentException($"log-SNR Picard: shapes [{dst.Rows}] / [{d.Rows}] do not match {x.Rows} x R={R}");
        return R;
    }

    public static int Final(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer? slope, IDeviceBuffer times)
    {
        int R = times.Cols;
        Same(dst, x, "log-SNR final");
        if (slope is not null) Same(x, slope, "log-SNR final");
        if (times.Rows != x.Rows || d.Rows != x.Rows * R || d.Cols != x.Cols) throw new ArgumentException($"log-SNR final: d has {d.Rows} rows, expected {x.Rows} x R={R}");
        return R;
    }

    public static void Line(IDeviceBuffer dStart, IDeviceBuffer slope, IDeviceBuffer dA, IDeviceBuffer timesA, IDeviceBuffer dB, IDeviceBuffer timesB)
    {
        Same(dStart, slope, "log-SNR line"); Same(dStart, dA, "log-SNR line"); Same(dStart, dB, "log-SNR line");
        if (ReferenceEquals(dStart, slope)) throw new ArgumentException("log-SNR line: dStart and slope must be distinct buffers");
        if (Length(timesA) != dA.Rows || Length(timesB) != dB.Rows)
            throw new ArgumentException($"log-SNR line: {Length(timesA)} and {Length(timesB)} times for {dA.Rows} rows");
    }
}
