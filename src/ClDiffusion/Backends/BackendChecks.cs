namespace ClDiffusion.Backends;

/// <summary>
/// The argument checks of every <see cref="IBackend"/> primitive, written once: each backend calls the check of a
/// primitive first, before it looks at the buffers' contents or returns early on empty buffers, so every backend
/// rejects the same arguments with the same <see cref="ArgumentException"/> message
/// (tests/ClDiffusion.Tests/OpenCL/BackendCheckTests.cs runs each bad call on the CPU backend and on OpenCL).
/// What stays in a backend: whether a buffer or a prepared score belongs to it, and checks that need the data (the
/// CPU backend's whole-number labels). Methods that return R give the midpoints per sample.
/// </summary>
public static class BackendChecks
{
    static ArgumentException Bad(string message) => new(message);

    static long Length(IDeviceBuffer b) => (long)b.Rows * b.Cols;

    /// <summary>Throws unless a and b have the same shape ("what: shape [..] does not match [..]").</summary>
    public static void SameShape(IDeviceBuffer a, IDeviceBuffer b, string what)
    {
        if (a.Rows != b.Rows || a.Cols != b.Cols) throw Bad($"{what}: shape [{a.Rows}, {a.Cols}] does not match [{b.Rows}, {b.Cols}]");
    }

    // ---- memory

    public static void Allocate(int rows, int cols)
    {
        if (rows < 0 || cols < 0) throw Bad($"buffer shape [{rows}, {cols}] is negative");
    }

    public static void Upload(IDeviceBuffer dst, int floats)
    {
        if (floats != Length(dst)) throw Bad($"upload of {floats} floats into a buffer of {Length(dst)}");
    }

    public static void Download(IDeviceBuffer src, int floats)
    {
        if (floats < Length(src)) throw Bad($"download of {Length(src)} floats into a span of {floats}");
    }

    public static void Copy(IDeviceBuffer dst, IDeviceBuffer src) => SameShape(dst, src, "copy");

    public static void RepeatRows(IDeviceBuffer dst, IDeviceBuffer src, int m)
    {
        if (m < 0 || dst.Rows != (long)src.Rows * m || dst.Cols != src.Cols) throw Bad($"repeat rows: [{src.Rows}, {src.Cols}] x {m} does not fit [{dst.Rows}, {dst.Cols}]");
    }

    public static void DuplicateRows(IDeviceBuffer dst, IDeviceBuffer src)
    {
        if (dst.Rows != 2L * src.Rows || dst.Cols != src.Cols) throw Bad($"duplicate rows: [{src.Rows}, {src.Cols}] twice does not fit [{dst.Rows}, {dst.Cols}]");
    }

    // ---- scores

    /// <summary>The shapes of a score call (the backend then checks that the model is its own and, with labels, class-conditional).</summary>
    public static void Score(IPreparedScore model, IDeviceBuffer x, IDeviceBuffer? offsets, IDeviceBuffer score, IDeviceBuffer? labels)
    {
        SameShape(x, score, "score");
        if (model.Model.Dim != x.Cols) throw Bad($"model dimension {model.Model.Dim} does not match state dimension {x.Cols}");
        if (offsets is not null && Length(offsets) == 0) throw Bad("time offsets buffer is empty");
        if (labels is not null && Length(labels) != x.Rows) throw Bad($"labels: {Length(labels)} labels for {x.Rows} rows");
    }

    public static void GuidanceCombine(IDeviceBuffer dst, IDeviceBuffer both)
    {
        if (both.Rows != 2L * dst.Rows || both.Cols != dst.Cols) throw Bad($"guidance: [{both.Rows}, {both.Cols}] is not two halves of [{dst.Rows}, {dst.Cols}]");
    }

    // ---- element-wise and random

    public static void Lincomb(IDeviceBuffer dst, ReadOnlySpan<Term> terms)
    {
        if (terms.Length is < 1 or > 4) throw Bad($"lincomb takes 1 to 4 terms, got {terms.Length}");
        foreach (var t in terms) SameShape(dst, t.X, "lincomb");
    }

    public static void DrawAlphas(IDeviceBuffer alpha, AlphaLaw law, float h)
    {
        if (law != AlphaLaw.Stratified && alpha.Cols != 1) throw Bad($"the {law} midpoint law needs R = 1");
        if (law == AlphaLaw.Rotated && !(h >= 0 && h < 1)) throw Bad($"rotated midpoint law: the shift must lie in [0, 1), got {h}");
    }

    // ---- randomized midpoint (ODE) and Picard

    public static int MidpointPredict(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer s0, IDeviceBuffer alpha)
    {
        int R = alpha.Cols;
        SameShape(x0, s0, "midpoint predict");
        if (dst.Rows != (long)x0.Rows * R || alpha.Rows != x0.Rows || dst.Cols != x0.Cols) throw Bad($"midpoint predict: dst has {dst.Rows} rows, expected {x0.Rows} x R={R}");
        return R;
    }

    public static int PicardSums(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha)
    {
        int R = alpha.Cols;
        if (ReferenceEquals(dst, scores)) throw Bad("Picard sums: dst must not alias scores");
        if (dst.Rows != (long)x0.Rows * R || scores.Rows != dst.Rows || alpha.Rows != x0.Rows || dst.Cols != x0.Cols || scores.Cols != x0.Cols)
            throw Bad($"Picard sums: shapes [{dst.Rows}] / [{scores.Rows}] do not match {x0.Rows} x R={R}");
        return R;
    }

    public static int MidpointFinal(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha)
    {
        int R = alpha.Cols;
        SameShape(dst, x0, "midpoint final");
        if (scores.Rows != (long)x0.Rows * R || scores.Cols != x0.Cols || alpha.Rows != x0.Rows) throw Bad($"midpoint final: scores have {scores.Rows} rows, expected {x0.Rows} x R={R}");
        return R;
    }

    public static void ExpScan(IDeviceBuffer x0, IDeviceBuffer scores, int m, IDeviceBuffer xs, IDeviceBuffer xOut)
    {
        if (m < 1 || scores.Rows != (long)x0.Rows * m || xs.Rows != (long)x0.Rows * m || scores.Cols != x0.Cols || xs.Cols != x0.Cols)
            throw Bad($"exp scan: buffers do not match {x0.Rows} x M={m}");
        SameShape(xOut, x0, "exp scan");
    }

    public static void MaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b) => SameShape(a, b, "max abs diff");

    /// <summary>Returns the number of samples (a.Rows / rowsPerSample).</summary>
    public static int RowMaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b, int rowsPerSample, int spanLength)
    {
        SameShape(a, b, "row max abs diff");
        if (rowsPerSample < 1 || a.Rows % rowsPerSample != 0) throw Bad($"row max abs diff: {a.Rows} rows are not a multiple of {rowsPerSample} rows per sample");
        int samples = a.Rows / rowsPerSample;
        if (spanLength < samples) throw Bad($"row max abs diff: {samples} samples into a span of {spanLength}");
        return samples;
    }

    public static void CopyRowsWhere(IDeviceBuffer dst, IDeviceBuffer src, IDeviceBuffer mask)
    {
        SameShape(dst, src, "copy rows where");
        if (mask.Rows != dst.Rows || mask.Cols != 1) throw Bad($"copy rows where: mask [{mask.Rows}, {mask.Cols}] does not match {dst.Rows} rows");
    }

    public static void MarkNonFinite(IDeviceBuffer x, IDeviceBuffer firstBad)
    {
        if (firstBad.Rows != x.Rows || firstBad.Cols != 1) throw Bad($"mark non-finite: flags [{firstBad.Rows}, {firstBad.Cols}] do not match {x.Rows} rows");
    }

    // ---- underdamped Langevin

    public static void LangevinScan(IDeviceBuffer x0, IDeviceBuffer v0, IDeviceBuffer scores, int m, IDeviceBuffer? xs, IDeviceBuffer? xOut, IDeviceBuffer? vOut)
    {
        SameShape(x0, v0, "Langevin");
        if (m < 1 || scores.Rows != (long)x0.Rows * m || scores.Cols != x0.Cols) throw Bad($"Langevin: scores [{scores.Rows}, {scores.Cols}] do not match {x0.Rows} x M={m}");
        if (xs is not null && (xs.Rows != (long)x0.Rows * m || xs.Cols != x0.Cols)) throw Bad("Langevin: positions buffer has the wrong shape");
        if (xOut is not null) SameShape(xOut, x0, "Langevin output");
        if (vOut is not null) SameShape(vOut, v0, "Langevin output");
    }

    static void ShenLee(IDeviceBuffer x, IDeviceBuffer alpha, float gamma, float h)
    {
        if (alpha.Rows != x.Rows) throw Bad($"Shen-Lee: alpha has {alpha.Rows} rows, expected {x.Rows}");
        if (alpha.Cols != 1) throw Bad($"Shen-Lee: alpha must have one column, got {alpha.Cols}");
        if (!(gamma > 0) || !(h > 0)) throw Bad($"Langevin needs gamma > 0 and step > 0 (gamma = {gamma}, step = {h})");
    }

    public static void ShenLeeMidpoint(IDeviceBuffer xMid, IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer s0, IDeviceBuffer alpha, float gamma, float h)
    {
        SameShape(xMid, x, "Shen-Lee"); SameShape(x, v, "Shen-Lee"); SameShape(x, s0, "Shen-Lee");
        ShenLee(x, alpha, gamma, h);
    }

    public static void ShenLeeFinal(IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer sMid, IDeviceBuffer alpha, float gamma, float h)
    {
        SameShape(x, v, "Shen-Lee"); SameShape(x, sMid, "Shen-Lee");
        ShenLee(x, alpha, gamma, h);
    }

    // ---- log-SNR (data prediction)

    public static void TiltedTimes(IDeviceBuffer times, IDeviceBuffer u) => SameShape(times, u, "tilted times");

    public static void DataPrediction(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer s, IDeviceBuffer times)
    {
        SameShape(dst, x, "data prediction"); SameShape(x, s, "data prediction");
        if (Length(times) != x.Rows) throw Bad($"data prediction: {Length(times)} times for {x.Rows} rows");
    }

    public static int LogSnrPredict(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d0, IDeviceBuffer? slope, IDeviceBuffer times)
    {
        int R = times.Cols;
        SameShape(x, d0, "log-SNR predict");
        if (slope is not null) SameShape(x, slope, "log-SNR predict");
        if (times.Rows != x.Rows || dst.Rows != (long)x.Rows * R || dst.Cols != x.Cols) throw Bad($"log-SNR predict: dst [{dst.Rows}, {dst.Cols}] does not match {x.Rows} x R={R}");
        return R;
    }

    public static int LogSnrPicard(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer times)
    {
        int R = times.Cols;
        if (ReferenceEquals(dst, d)) throw Bad("log-SNR Picard: dst must not alias d");
        if (times.Rows != x.Rows || dst.Rows != (long)x.Rows * R || d.Rows != dst.Rows || dst.Cols != x.Cols || d.Cols != x.Cols)
            throw Bad($"log-SNR Picard: shapes [{dst.Rows}] / [{d.Rows}] do not match {x.Rows} x R={R}");
        return R;
    }

    public static int LogSnrFinal(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer? slope, IDeviceBuffer times)
    {
        int R = times.Cols;
        SameShape(dst, x, "log-SNR final");
        if (slope is not null) SameShape(x, slope, "log-SNR final");
        if (times.Rows != x.Rows || d.Rows != (long)x.Rows * R || d.Cols != x.Cols) throw Bad($"log-SNR final: d has {d.Rows} rows, expected {x.Rows} x R={R}");
        return R;
    }

    public static void LogSnrLine(IDeviceBuffer dStart, IDeviceBuffer slope, IDeviceBuffer dA, IDeviceBuffer timesA, IDeviceBuffer dB, IDeviceBuffer timesB)
    {
        SameShape(dStart, slope, "log-SNR line"); SameShape(dStart, dA, "log-SNR line"); SameShape(dStart, dB, "log-SNR line");
        if (ReferenceEquals(dStart, slope)) throw Bad("log-SNR line: dStart and slope must be distinct buffers");
        if (Length(timesA) != dA.Rows || Length(timesB) != dB.Rows)
            throw Bad($"log-SNR line: {Length(timesA)} and {Length(timesB)} times for {dA.Rows} rows");
    }
}
