// Data-prediction samplers on the log-SNR axis (rm-x0, prm-x0): the formulas of ClDiffusion.Diffusion.LogSnrSteps.
// Prepended with common.cl. Each primitive is two launches: a per-row kernel computes the row's weights once, in `real`
// (double where the device has fp64) from the float32 forward time, and writes them as floats; an element-wise kernel
// then streams the rows with coalesced reads. Float sums run in the same order as the C# reference (CpuLogSnr.cs).

#ifndef LSNR_SERIES
#ifdef HAVE_FP64
#define LSNR_SERIES 1e-3   // below this log-SNR step, e^{-k} - 1 + k by its series (the difference cancels)
#else
#define LSNR_SERIES 0.1f
#endif
#endif

// lambda, alpha and sigma at forward time t (LogSnrSteps.Point.At)
inline void lsnr_point(float tf, real* lam, real* al, real* sg)
{
    real t = (real)tf, s2 = -expm1(-2 * t);
    *lam = -t - (real)0.5 * log(s2);
    *al = exp(-t);
    *sg = sqrt(s2);
}

inline real lsnr_phi1(real k) { return -expm1(-k); }

inline real lsnr_phi2(real k)
{
    return k < (real)LSNR_SERIES ? k * k * ((real)0.5 - k * ((real)1 / 6 - k * ((real)1 / 24 - k / 120))) : k + expm1(-k);
}

// times[k] = forward time at lambda = lam_end + log(1 - (1 - u)(1 - e^{-h})): the inverse CDF of the density ~ e^lambda
kernel void lsnr_tilted_times(global float* times, const global float* u, int n, real lam_end, real phi1_h)
{
    int gid = get_global_id(0);
    if (gid >= n) return;
    real lam = lam_end + log1p(-((real)1 - (real)u[gid]) * phi1_h);
    times[gid] = (float)((real)0.5 * log1p(exp(-2 * lam)));
}

// ---- per-row weights (coef rows of 3 floats) ----

// data prediction: 1/alpha, sigma^2/alpha
kernel void lsnr_x0_coefs(global float* coef, const global float* times, int rows)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    real lam, al, sg;
    lsnr_point(times[r], &lam, &al, &sg);
    coef[3 * r] = (float)(1 / al);
    coef[3 * r + 1] = (float)(sg * sg / al);
}

// predict to each row's time from (lam_s, sig_s): sigma_i / sigma_s, alpha_i phi1(k), alpha_i phi2(k)
kernel void lsnr_predict_coefs(global float* coef, const global float* times, int rows, real lam_s, real sig_s)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    real lam, al, sg;
    lsnr_point(times[r], &lam, &al, &sg);
    real k = lam - lam_s;
    coef[3 * r] = (float)(sg / sig_s);
    coef[3 * r + 1] = (float)(al * lsnr_phi1(k));
    coef[3 * r + 2] = (float)(al * lsnr_phi2(k));
}

// Picard weights of point i of R: sigma_i / sigma_s, a full sub-window sigma_i mass / R, its own partial sub-window
kernel void lsnr_picard_coefs(global float* coef, const global float* times, int rows, int R, real sig_s, real exp_lam_s, real mass)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    int i = r % R;
    real lam, al, sg;
    lsnr_point(times[r], &lam, &al, &sg);
    coef[3 * r] = (float)(sg / sig_s);
    coef[3 * r + 1] = (float)(sg * mass / R);
    coef[3 * r + 2] = (float)(al - sg * (exp_lam_s + mass * i / R));
}

// final control-variate weight per sample: alpha_t (phi2(h) - phi1(h) mean_i k_i)
kernel void lsnr_final_coefs(global float* coef, const global float* times, int samples, int R, real lam_s, real alpha_t, real h)
{
    int r = get_global_id(0);
    if (r >= samples) return;
    real mean_k = 0, lam, al, sg;
    for (int i = 0; i < R; i++) { lsnr_point(times[r * R + i], &lam, &al, &sg); mean_k += lam - lam_s; }
    coef[3 * r] = (float)(alpha_t * (lsnr_phi2(h) - lsnr_phi1(h) * mean_k / R));
}

// the line through two earlier x0 values per row (rm-x0 multistep): c = 1 / (lambda_b - lambda_a), e = (lambda_s - lambda_b) c
kernel void lsnr_line_coefs(global float* coef, const global float* times_a, const global float* times_b, int rows, real lam_s)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    real la, lb, al, sg;
    lsnr_point(times_a[r], &la, &al, &sg);
    lsnr_point(times_b[r], &lb, &al, &sg);
    real gap = lb - la, c = gap == 0 ? (real)0 : 1 / gap;
    coef[3 * r] = (float)c;
    coef[3 * r + 1] = (float)((lam_s - lb) * c);
}

// ---- element-wise passes (one work item per element of the output) ----

kernel void lsnr_data_prediction(global float* dst, const global float* x, const global float* s, const global float* coef, int cols, int total)
{
    int gid = get_global_id(0);
    if (gid >= total) return;
    int r = gid / cols;
    dst[gid] = coef[3 * r] * x[gid] + coef[3 * r + 1] * s[gid];
}

// dst[r*R+i] = cx x[r] + c0 d0[r] (+ c1 slope[r])
kernel void lsnr_predict(global float* dst, const global float* x, const global float* d0, const global float* slope, const global float* coef,
                         int R, int cols, int total, int has_slope)
{
    int gid = get_global_id(0);
    if (gid >= total) return;
    int row = gid / cols, c = gid - row * cols;
    size_t src = (size_t)(row / R) * cols + c;
    const global float* w = coef + 3 * row;
    float v = w[0] * x[src] + w[1] * d0[src];
    if (has_slope) v += w[2] * slope[src];
    dst[gid] = v;
}

// dst[r*R+i] = cx x[r] + sum_{j<i} full d[r*R+j] + part d[r*R+i]; dst must not alias d
kernel void lsnr_picard(global float* dst, const global float* x, const global float* d, const global float* coef, int R, int cols, int total)
{
    int gid = get_global_id(0);
    if (gid >= total) return;
    int row = gid / cols, c = gid - row * cols, r = row / R, i = row - r * R;
    const global float* w = coef + 3 * row;
    float acc = w[0] * x[(size_t)r * cols + c];
    for (int j = 0; j < i; j++) acc += w[1] * d[(size_t)(r * R + j) * cols + c];
    dst[gid] = acc + w[2] * d[(size_t)row * cols + c];
}

// dst[r] = cx x[r] + cd sum_i d[r*R+i] (+ cs_r slope[r]); dst may alias x
kernel void lsnr_final(global float* dst, const global float* x, const global float* d, const global float* slope, const global float* coef,
                       float cx, float cd, int R, int cols, int total, int has_slope)
{
    int gid = get_global_id(0);
    if (gid >= total) return;
    int r = gid / cols, c = gid - r * cols;
    float acc = 0.0f;
    for (int i = 0; i < R; i++) acc += d[(size_t)(r * R + i) * cols + c];
    float v = cx * x[gid] + cd * acc;
    if (has_slope) v += coef[3 * r] * slope[gid];
    dst[gid] = v;
}

// slope = c (dB - dA), d_start = dB + e (dB - dA); d_start and slope distinct
kernel void lsnr_line(global float* d_start, global float* slope, const global float* da, const global float* db, const global float* coef,
                      int cols, int total)
{
    int gid = get_global_id(0);
    if (gid >= total) return;
    int r = gid / cols;
    float b = db[gid], diff = b - da[gid];
    slope[gid] = coef[3 * r] * diff;
    d_start[gid] = b + coef[3 * r + 1] * diff;
}
