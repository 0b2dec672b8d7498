using ClDiffusion.Models;
using ClDiffusion.Random;

namespace ClDiffusion.Backends;

/// <summary>A float32 row-major matrix [Rows, Cols] living on a backend (host memory or a device).</summary>
public interface IDeviceBuffer : IDisposable
{
    int Rows { get; }
    int Cols { get; }
}

/// <summary>A score model made executable by one backend.</summary>
public interface IPreparedScore : IDisposable
{
    IScoreModel Model { get; }
}

/// <summary>One term c * X of a linear combination.</summary>
public readonly record struct Term(float Coef, IDeviceBuffer X);

/// <summary>How the randomized-midpoint fractions alpha are drawn (DESIGN 1.3 items 2 and 6).</summary>
public enum AlphaLaw
{
    /// <summary>alpha_i = (i + U)/R: one uniform point in each of R equal sub-windows.</summary>
    Stratified,
    /// <summary>R = 1 only: alpha h = -log(1 - U (1 - e^{-h})), density proportional to e^{h - u} (lower variance).</summary>
    ExpTilted,
    /// <summary>
    /// R = 1 only: alpha = frac(U + h), a Cranley-Patterson rotation of the sample's uniform by the shift h in [0, 1).
    /// With the same key at every step and the shift frac(n phi) at step n (phi the golden ratio), each step's alpha is
    /// uniform while consecutive steps stay spread out (rm-x0's multistep line needs its two points apart); consecutive
    /// steps are not independent (lag-1 correlation 1 - 6c(1 - c) = -0.42 with c = frac(phi)).
    /// </summary>
    Rotated,
}

/// <summary>
/// A device as the samplers see it: its memory (buffers, transfers, copies), its queue (<see cref="Finish"/>) and its
/// streams. The maths the samplers enqueue are the op sets (<see cref="IVectorOps"/>, <see cref="IScoreOps"/>,
/// <see cref="IMidpointOps"/>, <see cref="IPicardOps"/>, <see cref="ILangevinOps"/>, <see cref="ILogSnrOps"/>);
/// <see cref="IBackend"/> is all of them on one device.
/// </summary>
public interface IBackendDevice : IDisposable
{
    /// <summary>Human-readable device name ("cpu (2 threads)", "NVIDIA H100 ...").</summary>
    string DeviceName { get; }

    /// <summary>The memory the scheduler may plan chunks against.</summary>
    DeviceMemory Memory { get; }

    IDeviceBuffer Allocate(int rows, int cols);
    void Upload(IDeviceBuffer dst, ReadOnlySpan<float> src);
    void Download(IDeviceBuffer src, Span<float> dst);
    void Copy(IDeviceBuffer dst, IDeviceBuffer src);
    /// <summary>dst[r*m + i] = src[r] for i &lt; m (dst has src.Rows * m rows).</summary>
    void RepeatRows(IDeviceBuffer dst, IDeviceBuffer src, int m);

    /// <summary>dst = [src; src] (dst has 2 src.Rows rows): the two halves of a classifier-free guidance batch.</summary>
    void DuplicateRows(IDeviceBuffer dst, IDeviceBuffer src)
    {
        BackendChecks.DuplicateRows(dst, src);
        var h = new float[(long)src.Rows * src.Cols * 2];
        Download(src, h.AsSpan(0, h.Length / 2));
        h.AsSpan(0, h.Length / 2).CopyTo(h.AsSpan(h.Length / 2));
        Upload(dst, h);
    }

    /// <summary>Waits for all enqueued work (no-op on the CPU).</summary>
    void Finish();

    /// <summary>
    /// Opens a stream on this device (a CUDA stream, an OpenCL command queue): its own in-order queue of work that runs
    /// concurrently with the other streams'. Dispose every stream before the backend.
    /// </summary>
    IBackendStream OpenStream();
}

/// <summary>
/// The element-wise and random maths every sampler uses. Randomness comes from <see cref="RandomKey"/>: row r of a
/// buffer is sample (firstSample + r), so draws never depend on batching.
/// </summary>
public interface IVectorOps
{
    /// <summary>dst = sum_i terms[i].Coef * terms[i].X (1 to 4 terms, all the same shape as dst).</summary>
    void Lincomb(IDeviceBuffer dst, ReadOnlySpan<Term> terms);

    /// <summary>dst[r, j] = standard normal j of sample firstSample + r under key.</summary>
    void Normal(IDeviceBuffer dst, RandomKey key, long firstSample);

    /// <summary>alpha[r, i] for sample firstSample + r, i &lt; R = alpha.Cols, drawn by law (h is the window length).</summary>
    void DrawAlphas(IDeviceBuffer alpha, RandomKey key, long firstSample, AlphaLaw law, float h);

    /// <summary>
    /// firstBad[r] = step for every row r of x that holds a NaN or an infinity while firstBad[r] is still negative
    /// (firstBad is [x.Rows, 1], filled with -1 by the caller). Enqueued like any primitive, no host wait: the
    /// samplers call it after each step, so a non-finite sample is caught and named with the step it went wrong.
    /// </summary>
    void MarkNonFinite(IDeviceBuffer x, IDeviceBuffer firstBad, float step);
}

/// <summary>Score models on the device: prepare one, evaluate it on a batch, combine classifier-free guidance halves.</summary>
public interface IScoreOps
{
    IPreparedScore Prepare(IScoreModel model);

    /// <summary>
    /// score[r] = s_{t_r}(x[r]) at forward time t_r = t0 - slope * offsets[r % offsets.Length]
    /// (offsets is a flat buffer; null means t_r = t0 for every row).
    /// </summary>
    void Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score);

    /// <summary>
    /// The class-conditional score: as <see cref="Score(IPreparedScore, IDeviceBuffer, float, float, IDeviceBuffer?, IDeviceBuffer)"/>
    /// with row r conditioned on class labels[r] ([rows, 1], the class as a float; -1 = the null class, i.e. the
    /// unconditional score). labels null: every row gets the null class. The model must be class-conditional
    /// (<see cref="IClassConditional"/>) unless labels is null. (<see cref="IBackend"/> gives a default for backends
    /// without class-conditional scores.)
    /// </summary>
    void Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score, IDeviceBuffer? labels);

    /// <summary>
    /// Classifier-free guidance: dst[r] = (1 + w) both[r] - w both[rows + r], where both = [s(x | c); s(x | null)]
    /// has 2 dst.Rows rows. dst must not alias both. (<see cref="IBackend"/> gives a host default.)
    /// </summary>
    void GuidanceCombine(IDeviceBuffer dst, IDeviceBuffer both, float w);
}

/// <summary>The randomized midpoint on the ODE (rm, rm-pc, prm's last step): the exponential-integrator guess and the final step.</summary>
public interface IMidpointOps
{
    /// <summary>dst[r*R + i] = e^{alpha_ri h} x0[r] + (e^{alpha_ri h} - 1) s0[r]: the exponential-integrator guess of x(tau0 + alpha_i h).</summary>
    void MidpointPredict(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer s0, IDeviceBuffer alpha, float h);

    /// <summary>dst[r] = e^h x0[r] + (h/R) sum_i e^{(1 - alpha_ri) h} scores[r*R + i].</summary>
    void MidpointFinal(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h);
}

/// <summary>The parallel (Picard) samplers' maths: prm's Picard sums, the ParaDiGMS-style scan, the tolerances, masked copies.</summary>
public interface IPicardOps
{
    /// <summary>
    /// Picard update of the parallel randomized midpoint (DESIGN 1.3 item 6), dst must not alias scores:
    /// dst[r*R+i] = e^{alpha_i h} x0[r] + sum_{j&lt;=i} (e^{alpha_i h - (j-1) dw} - max(e^{alpha_i h - j dw}, 1)) scores[r*R+j], dw = h/R.
    /// </summary>
    void PicardSums(IDeviceBuffer dst, IDeviceBuffer x0, IDeviceBuffer scores, IDeviceBuffer alpha, float h);

    /// <summary>
    /// Exponential-integrator recurrence over a window of M steps (ParaDiGMS-style Picard baseline):
    /// X_0 = x0, X_{m+1} = e^{h_m} X_m + (e^{h_m} - 1) scores[r*M + m]. Writes X_0..X_{M-1} into xs and X_M into xOut.
    /// </summary>
    void ExpScan(IDeviceBuffer x0, IDeviceBuffer scores, ReadOnlySpan<float> steps, IDeviceBuffer xs, IDeviceBuffer xOut);

    /// <summary>max over rows and columns of |a - b| (a host read: used only for Picard tolerances).</summary>
    float MaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b);

    /// <summary>
    /// perSample[s] = max over rows [s*rowsPerSample, (s+1)*rowsPerSample) and all columns of |a - b| (NaN propagates);
    /// a host read of one float per sample (a.Rows / rowsPerSample of them), used for per-sample Picard tolerances.
    /// </summary>
    void RowMaxAbsDiff(IDeviceBuffer a, IDeviceBuffer b, int rowsPerSample, Span<float> perSample);

    /// <summary>dst row r = src row r where mask[r] != 0 (mask is [rows, 1]); other rows of dst are left as they are.</summary>
    void CopyRowsWhere(IDeviceBuffer dst, IDeviceBuffer src, IDeviceBuffer mask);
}

/// <summary>The underdamped Langevin correctors: frozen-drift steps (sequential or as a Picard scan) and Shen-Lee's randomized midpoint.</summary>
public interface ILangevinOps
{
    /// <summary>
    /// M frozen-drift underdamped Langevin steps of size hc (DESIGN 1.3 item 3) with the drift of step m taken
    /// from scores[r*M + m]; noise of step m from key.WithStep(key.Step + m) (normal j for xi_X, d + j for xi_V).
    /// Writes the positions X_0..X_{M-1} into xs (rows r*M + m; may be null), and X_M, V_M into xOut, vOut
    /// (each may alias x0, v0, or be null). With M = 1 this is one corrector step; with Picard rounds it is the
    /// parallel corrector's update.
    /// </summary>
    void LangevinScan(IDeviceBuffer x0, IDeviceBuffer v0, IDeviceBuffer scores, int m, float gamma, float hc,
        RandomKey key, long firstSample, IDeviceBuffer? xs, IDeviceBuffer? xOut, IDeviceBuffer? vOut);

    /// <summary>
    /// Shen-Lee randomized-midpoint underdamped Langevin, first half: xMid = X at time alpha h (alpha[r] per sample)
    /// with the drift frozen at s0 and the exact Brownian part; the three correlated Gaussians per coordinate
    /// come from normals j, d + j, 2d + j of key.
    /// </summary>
    void ShenLeeMidpoint(IDeviceBuffer xMid, IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer s0, IDeviceBuffer alpha,
        float gamma, float h, RandomKey key, long firstSample);

    /// <summary>Shen-Lee second half: X, V advanced by h with the drift sMid at the midpoint; in place on x and v.</summary>
    void ShenLeeFinal(IDeviceBuffer x, IDeviceBuffer v, IDeviceBuffer sMid, IDeviceBuffer alpha,
        float gamma, float h, RandomKey key, long firstSample);
}

/// <summary>
/// Data-prediction samplers on the log-SNR axis (rm-x0, prm-x0; see Diffusion.LogSnrSteps). Per-row weights are
/// computed in float64 where the device has it, from the float32 forward times, by the formulas of LogSnrSteps.
/// </summary>
public interface ILogSnrOps
{
    /// <summary>
    /// times[k] = forward time of lambda = lambdaEnd + log(1 - (1 - u[k])(1 - e^{-h})): the point with CDF u[k] of the
    /// density proportional to e^lambda on [lambdaEnd - h, lambdaEnd] (times and u have the same shape).
    /// </summary>
    void TiltedTimes(IDeviceBuffer times, IDeviceBuffer u, double lambdaEnd, double h);

    /// <summary>dst[r] = (x[r] + sigma^2 s[r]) / alpha at row r's own forward time times[r] (times has x.Rows entries).</summary>
    void DataPrediction(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer s, IDeviceBuffer times);

    /// <summary>
    /// Exponential step in data-prediction form from forward time tStart to each of R = times.Cols times per sample:
    /// with k = lambda_i - lambda_s, dst[r*R+i] = (sigma_i / sigma_s) x[r] + alpha_i (1 - e^{-k}) d0[r]
    /// + alpha_i (e^{-k} - 1 + k) slope[r] (slope = d x0 / d lambda; null for the first-order step).
    /// </summary>
    void LogSnrPredict(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d0, IDeviceBuffer? slope, IDeviceBuffer times, double tStart);

    /// <summary>
    /// Picard update of prm-x0: the step [lambda_s, lambda_t] is cut into R sub-windows of equal e^lambda mass, and
    /// dst[r*R+i] = (sigma_i / sigma_s) x[r] + sigma_i * integral_{lambda_s}^{lambda_i} e^lambda x0 d lambda with
    /// x0 = d[r*R+j] on sub-window j. dst must not alias d.
    /// </summary>
    void LogSnrPicard(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer times, double tStart, double tEnd);

    /// <summary>
    /// Final step: dst[r] = (sigma_t / sigma_s) x[r] + alpha_t (1 - e^{-h}) mean_i d[r*R+i]
    /// + alpha_t (e^{-h} - 1 + h - (1 - e^{-h}) mean_i k_i) slope[r], k_i = lambda_i - lambda_s. The slope term has mean
    /// zero over the midpoint law when slope does not depend on the midpoints' draw (a control variate); slope may be null. dst may alias x.
    /// </summary>
    void LogSnrFinal(IDeviceBuffer dst, IDeviceBuffer x, IDeviceBuffer d, IDeviceBuffer? slope, IDeviceBuffer times, double tStart, double tEnd);

    /// <summary>
    /// The line in lambda through two earlier x0 values of each row, dA at forward time timesA[r] and dB at timesB[r]:
    /// slope[r] = (dB - dA) / (lambda_b - lambda_a) and dStart[r] = dB + (lambda_s - lambda_b) slope[r], x0 extrapolated to
    /// forward time tStart (rows whose two lambdas coincide get slope 0). rm-x0's multistep form reaches its midpoints
    /// from it instead of evaluating x0 at the step start. dStart and slope must be distinct buffers.
    /// </summary>
    void LogSnrLine(IDeviceBuffer dStart, IDeviceBuffer slope, IDeviceBuffer dA, IDeviceBuffer timesA, IDeviceBuffer dB, IDeviceBuffer timesB, double tStart);
}

/// <summary>
/// The primitives every sampler is written against (DESIGN section 2): one device (<see cref="IBackendDevice"/>) with
/// every sampler family's op set. A backend keeps buffers where it computes; samplers enqueue primitives and read back
/// once at the end. All operations are element-wise safe for dst aliasing an input unless stated otherwise. Every
/// primitive checks its arguments with <see cref="BackendChecks"/> first. This interface adds no member of its own:
/// only the defaults of two score operations for backends that have no device version of them.
/// </summary>
public interface IBackend : IBackendDevice, IVectorOps, IScoreOps, IMidpointOps, IPicardOps, ILangevinOps, ILogSnrOps
{
    /// <summary>Default: no class-conditional scores (labels must be null).</summary>
    void IScoreOps.Score(IPreparedScore model, IDeviceBuffer x, float t0, float slope, IDeviceBuffer? offsets, IDeviceBuffer score, IDeviceBuffer? labels)
    {
        if (labels is not null) throw new NotSupportedException($"{DeviceName}: this backend has no class-conditional scores");
        Score(model, x, t0, slope, offsets, score);
    }

    /// <summary>Default: the guidance combination on the host (a read of both halves, a write of dst).</summary>
    void IScoreOps.GuidanceCombine(IDeviceBuffer dst, IDeviceBuffer both, float w)
    {
        BackendChecks.GuidanceCombine(dst, both);
        var h = new float[(long)both.Rows * both.Cols];
        Download(both, h);
        int n = h.Length / 2;
        var o = new float[n];
        for (int i = 0; i < n; i++) o[i] = (1 + w) * h[i] - w * h[n + i];
        Upload(dst, o);
    }
}

/// <summary>Memory of a device: global memory and the largest single allocation; IsHost for backends that compute in host memory.</summary>
public readonly record struct DeviceMemory(long Bytes, long MaxAllocationBytes, bool IsHost);

/// <summary>Host memory a stream transfers to or from (pinned where the device allows). Valid until disposed.</summary>
public interface IHostBuffer : IDisposable
{
    long Length { get; }
    Span<float> Span { get; }
}

/// <summary>The completion of work queued on a stream.</summary>
public interface IStreamEvent : IDisposable
{
    /// <summary>Waits for the work; rethrows a failure of the stream's work (a CPU stream's worker thread) here.</summary>
    void Wait();
}

/// <summary>
/// An ordered queue of work on one device. Operations issued through <see cref="Backend"/> run in order on this stream,
/// concurrently with other streams; transfers and <see cref="Record"/> are ordered after them. How the host side runs:
/// an OpenCL stream enqueues kernels on the calling thread without waiting; a CPU stream runs <see cref="Enqueue"/>d
/// work on its own worker thread. Samples never depend on which stream computed them.
/// </summary>
public interface IBackendStream : IDisposable
{
    /// <summary>The backend view whose operations go to this stream (buffers it allocates belong to the stream).</summary>
    IBackend Backend { get; }
    /// <summary>Host memory for transfers of up to `floats` values.</summary>
    IHostBuffer AllocateHost(long floats);
    /// <summary>
    /// Queues host-side work that issues operations on <see cref="Backend"/> (OpenCL: runs now on the calling thread,
    /// the device runs what it issues later; CPU: runs on the stream's worker thread). Returns without waiting for the device.
    /// </summary>
    void Enqueue(Action<IBackend> work);
    /// <summary>Queues the copy of src into dst[0, src.Rows * src.Cols) after the work queued so far; does not wait.</summary>
    void DownloadAsync(IDeviceBuffer src, IHostBuffer dst);
    /// <summary>Queues the copy of src[0, dst.Rows * dst.Cols) into dst after the work queued so far; does not wait (src must stay unchanged until then).</summary>
    void UploadAsync(IHostBuffer src, IDeviceBuffer dst);
    /// <summary>An event that completes when everything queued on this stream so far has completed; also submits the queued work to the device.</summary>
    IStreamEvent Record();
    /// <summary>Waits for everything queued on this stream.</summary>
    void Synchronize();
}
