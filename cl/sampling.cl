// Element-wise and per-row primitives of OpenClBackend (IBackend). Prepended with common.cl.
// Indices: gid runs over rows * cols elements; rows and cols are ints (a buffer holds < 2^31 floats).

// Each kernel family of this file (src/ClDiffusion/Backends/OpenCL/Tuning/KernelFamilies.cs) is its own program, built
// with that family's tunables; SAMPLING_FAMILY (set by the backend to one of the FAMILY_ names) keeps only that
// family's kernels in the program, so building the four programs compiles each kernel once, not four times (a cold
// PoCL compile of the whole file took seconds). Unset: every kernel (one program with every family's defaults).
#define FAMILY_SAMPLING 1
#define FAMILY_MIDPOINT 2
#define FAMILY_LANGEVIN 3
#define FAMILY_LINCOMB 4
#ifndef SAMPLING_FAMILY
#define SAMPLING_FAMILY 0
#endif
#define IN_PROGRAM(family) (SAMPLING_FAMILY == 0 || SAMPLING_FAMILY == (family))

#if IN_PROGRAM(FAMILY_LINCOMB)
kernel void copy_vec(global float* dst, const global float* src, int n)
{
    int nvec = n / VW, G = get_global_size(0), gid = get_global_id(0);
    for (int v = gid; v < nvec; v += G) STOREV(LOADV(v, src), v, dst);
    int tail = n - nvec * VW;
    if (gid < tail) dst[nvec * VW + gid] = src[nvec * VW + gid];
}

kernel void lincomb(global float* dst, const global float* x0, const global float* x1, const global float* x2, const global float* x3,
                    float c0, float c1, float c2, float c3, int nterms, int n)
{
    int nvec = n / VW, G = get_global_size(0), gid = get_global_id(0);
    for (int v = gid; v < nvec; v += G)
    {
        floatv acc = c0 * LOADV(v, x0);
        if (nterms > 1) acc += c1 * LOADV(v, x1);
        if (nterms > 2) acc += c2 * LOADV(v, x2);
        if (nterms > 3) acc += c3 * LOADV(v, x3);
        STOREV(acc, v, dst);
    }
    int tail = n - nvec * VW;
    if (gid < tail)
    {
        int i = nvec * VW + gid;
        float acc = c0 * x0[i];
        if (nterms > 1) acc += c1 * x1[i];
        if (nterms > 2) acc += c2 * x2[i];
        if (nterms > 3) acc += c3 * x3[i];
        dst[i] = acc;
    }
#ifdef CLD_TEST_CORRUPT
    if (gid == 0) dst[0] += 1.0f;   // test only: a wrong result the tuner's check must reject
#endif
#ifdef CLD_TEST_OVERRUN
    if (gid == 0) dst[n] = 0.0f;    // test only: a write past the output the tuner's guard rows must catch
#endif
}
#endif

#if IN_PROGRAM(FAMILY_SAMPLING)
kernel void repeat_rows(global float* dst, const global float* src, int cols, int m, int total)
{
    int gid = get_global_id(0);
    if (gid >= total) return;
    int row = gid / cols, c = gid - row * cols;
    dst[gid] = src[(row / m) * cols + c];
}

// One Philox block (4 values) per work item. kind 0: normals, 1: uniforms, 2: raw bits (as uint in a float buffer).
kernel void fill_random(global float* dst, int rows, int cols, uint k0, uint k1, uint step, uint purpose, uint first, int kind)
{
    int nb = (cols + 3) >> 2;
    int gid = get_global_id(0);
    if (gid >= rows * nb) return;
    int r = gid / nb, blk = gid - r * nb;
    uint4 b = philox((uint)blk, first + (uint)r, step, purpose, k0, k1);
    global float* row = dst + (size_t)r * cols;
    for (int l = 0; l < 4; l++)
    {
        int j = blk * 4 + l;
        if (j >= cols) break;
        float v = kind == 0 ? box_muller(l, b) : kind == 1 ? to_uniform(lane(b, l)) : as_float(lane(b, l));
        row[j] = v;
    }
}
#endif

#if IN_PROGRAM(FAMILY_LANGEVIN)
// Normals only: one work item per (row, NB Philox blocks), each block computed once (fill_random kind 0 does it per block
// but with the Box-Muller log/sqrt once per value, and unvectorised).
kernel void normal_blocks(global float* dst, int rows, int cols, uint k0, uint k1, uint step, uint purpose, uint first)
{
    int nb = (cols + 3) >> 2, nw = (nb + NB - 1) / NB;
    int gid = get_global_id(0);
    if (gid >= rows * nw) return;
    int r = gid / nw, b0 = (gid - r * nw) * NB, j0 = 4 * b0, nc = min(4 * NB, cols - j0);
    float z[4 * NB];
    normals_nb((uint)b0, first + (uint)r, step, purpose, k0, k1, z);
    global float* o = dst + (size_t)r * cols + j0;
    if (nc == 4 * NB) for (int c = 0; c < 4 * NB; c++) o[c] = z[c];
    else for (int c = 0; c < nc; c++) o[c] = z[c];
}
#endif

#if IN_PROGRAM(FAMILY_SAMPLING)
// law 0: stratified (i + U)/R; law 1: exponentially tilted, alpha = -log(1 - U c)/h with c = 1 - e^{-h} (R = 1).
// law 0: alpha = (i + u) * scale with scale = 1/R from the host: an add and a multiply, both correctly rounded on
// every device (OpenCL lets a float division be off by 2.5 ulp, and NVIDIA's is), so the alphas equal the C# ones bit for bit.
kernel void draw_alphas(global float* alpha, int rows, int R, uint k0, uint k1, uint step, uint purpose, uint first,
                        int law, float scale, real c, real hr)
{
    int gid = get_global_id(0);
    if (gid >= rows * R) return;
    int r = gid / R, i = gid - r * R;
    float u = uniform_j(k0, k1, step, purpose, first + (uint)r, i);
    float a;
    if (law == 0) a = ((float)i + u) * scale;
    else if (law == 2) { a = u + scale; if (a >= 1.0f) a -= 1.0f; }   // rotated by the shift `scale`: frac(u + shift)
    else a = (float)(-log1p(-(real)u * c) / hr);   // log1p: 1 - u c cancels in float when u c is small
    alpha[gid] = a;
}
#endif

#if IN_PROGRAM(FAMILY_MIDPOINT)
#ifndef MW
#define MW 0           // VW-wide vectors per work item in the midpoint family (0: the whole row)
#endif
// The midpoint family runs one work item per (row, MW vectors of VW columns; MW = 0: the whole row): the per-row
// weights (exponentials of alpha h) are computed once per work item instead of once per element, and rows are
// read in VW-wide vectors when cols % VW == 0 (else element by element). Sums accumulate in the same order as before.
#define CHUNK_BEGIN(rows_) \
    int span = MW > 0 ? MW * VW : cols, nv = (cols + span - 1) / span, gid = get_global_id(0); \
    if (gid >= (rows_) * nv) return; \
    int row = gid / nv, c0 = (gid - row * nv) * span, c1 = min(c0 + span, cols); \
    bool vec = cols % VW == 0;
// dst[c0, c1) (+)= w * src[c0, c1)
#define AXPY_CHUNK(init, w, src, dst) \
    if (vec) for (int c = c0; c < c1; c += VW) STOREV((init) ? (w) * LOADV(0, (src) + c) : LOADV(0, (dst) + c) + (w) * LOADV(0, (src) + c), 0, (dst) + c); \
    else for (int c = c0; c < c1; c++) (dst)[c] = (init) ? (w) * (src)[c] : (dst)[c] + (w) * (src)[c];

kernel void midpoint_predict(global float* dst, const global float* x0, const global float* s0, const global float* alpha,
                             float h, int R, int cols, int rows)
{
    CHUNK_BEGIN(rows)
    int r = row / R;
    float e = exp(alpha[row] * h), em1 = e - 1.0f;
    const global float* xr = x0 + (size_t)r * cols; const global float* sr = s0 + (size_t)r * cols;
    global float* dr = dst + (size_t)row * cols;
    if (vec) for (int c = c0; c < c1; c += VW) STOREV(e * LOADV(0, xr + c) + em1 * LOADV(0, sr + c), 0, dr + c);
    else for (int c = c0; c < c1; c++) dr[c] = e * xr[c] + em1 * sr[c];
}

kernel void picard_sums(global float* dst, const global float* x0, const global float* scores, const global float* alpha,
                        float h, int R, int cols, int rows)
{
    CHUNK_BEGIN(rows)
    int r = row / R, i = row - r * R;
    float dw = h / (float)R;
    float ah = alpha[row] * h, e = exp(ah);
    global float* dr = dst + (size_t)row * cols;
    AXPY_CHUNK(true, e, x0 + (size_t)r * cols, dr)
    for (int j = 0; j <= i; j++)
    {
        float w = exp(ah - (float)j * dw) - fmax(exp(ah - (float)(j + 1) * dw), 1.0f);
        AXPY_CHUNK(false, w, scores + (size_t)(r * R + j) * cols, dr)
    }
}

// dst may alias x0 (each element of x0 is read by the work item that writes it, before it writes it)
kernel void midpoint_final(global float* dst, const global float* x0, const global float* scores, const global float* alpha,
                           float h, int R, int cols, int rows)
{
    CHUNK_BEGIN(rows)
    float eh = exp(h), dw = h / (float)R;
    global float* dr = dst + (size_t)row * cols;
    AXPY_CHUNK(true, eh, x0 + (size_t)row * cols, dr)
    for (int i = 0; i < R; i++)
    {
        float w = dw * exp((1.0f - alpha[row * R + i]) * h);
        AXPY_CHUNK(false, w, scores + (size_t)(row * R + i) * cols, dr)
    }
}
#endif

#if IN_PROGRAM(FAMILY_LANGEVIN)
// flags: 1 = write xs, 2 = write xout, 4 = write vout. Noise of step s: normals j and cols + j under step0 + s.
kernel void langevin_scan(const global float* x0, const global float* v0, const global float* scores,
                          global float* xs, global float* xout, global float* vout, int flags, int m, int rows, int cols,
                          float rho, float vel_to_pos, float drift_pos, float drift_vel, float l11, float l21, float l22,
                          uint k0, uint k1, uint step0, uint purpose, uint first)
{
    int gid = get_global_id(0);
    if (gid >= rows * cols) return;
    int r = gid / cols, j = gid - r * cols;
    uint sample = first + (uint)r;
    float cx = x0[gid], cv = v0[gid];
    for (int s = 0; s < m; s++)
    {
        size_t at = (size_t)(r * m + s) * cols + j;
        if (flags & 1) xs[at] = cx;
        float z1 = normal_j(k0, k1, step0 + (uint)s, purpose, sample, j);
        float z2 = normal_j(k0, k1, step0 + (uint)s, purpose, sample, cols + j);
        float g = scores[at];
        float nx = cx + vel_to_pos * cv + drift_pos * g + l11 * z1;
        float nv = rho * cv + drift_vel * g + l21 * z1 + l22 * z2;
        cx = nx; cv = nv;
    }
    if (flags & 2) xout[gid] = cx;
    if (flags & 4) vout[gid] = cv;
}

// Fast path of langevin_scan for cols % 4 == 0: one work item per (row, NB Philox blocks = 4 NB columns); each
// noise block is generated once (vectorised over NB blocks) instead of once per column.
kernel void langevin_blocks(const global float* x0, const global float* v0, const global float* scores,
                            global float* xs, global float* xout, global float* vout, int flags, int m, int rows, int cols,
                            float rho, float vel_to_pos, float drift_pos, float drift_vel, float l11, float l21, float l22,
                            uint k0, uint k1, uint step0, uint purpose, uint first)
{
    int nb = cols >> 2, nw = (nb + NB - 1) / NB;
    int gid = get_global_id(0);
    if (gid >= rows * nw) return;
    int r = gid / nw, b0 = (gid - r * nw) * NB, j0 = 4 * b0, nc = min(4 * NB, cols - j0);
    uint sample = first + (uint)r;
    size_t base = (size_t)r * cols + j0;
    float cx[4 * NB], cv[4 * NB], z1[4 * NB], z2[4 * NB];
    if (nc == 4 * NB) for (int c = 0; c < 4 * NB; c++) { cx[c] = x0[base + c]; cv[c] = v0[base + c]; }
    else for (int c = 0; c < nc; c++) { cx[c] = x0[base + c]; cv[c] = v0[base + c]; }
    for (int s = 0; s < m; s++)
    {
        size_t at = (size_t)(r * m + s) * cols + j0;
        normals_nb((uint)b0, sample, step0 + (uint)s, purpose, k0, k1, z1);
        normals_nb((uint)(nb + b0), sample, step0 + (uint)s, purpose, k0, k1, z2);
        if (nc == 4 * NB)
        {
            if (flags & 1) for (int c = 0; c < 4 * NB; c++) xs[at + c] = cx[c];
            for (int c = 0; c < 4 * NB; c++)
            {
                float g = scores[at + c];
                float nx = cx[c] + vel_to_pos * cv[c] + drift_pos * g + l11 * z1[c];
                float nv = rho * cv[c] + drift_vel * g + l21 * z1[c] + l22 * z2[c];
                cx[c] = nx; cv[c] = nv;
            }
        }
        else
        {
            if (flags & 1) for (int c = 0; c < nc; c++) xs[at + c] = cx[c];
            for (int c = 0; c < nc; c++)
            {
                float g = scores[at + c];
                float nx = cx[c] + vel_to_pos * cv[c] + drift_pos * g + l11 * z1[c];
                float nv = rho * cv[c] + drift_vel * g + l21 * z1[c] + l22 * z2[c];
                cx[c] = nx; cv[c] = nv;
            }
        }
    }
    if (nc == 4 * NB)
    {
        if (flags & 2) for (int c = 0; c < 4 * NB; c++) xout[base + c] = cx[c];
        if (flags & 4) for (int c = 0; c < 4 * NB; c++) vout[base + c] = cv[c];
    }
    else
    {
        if (flags & 2) for (int c = 0; c < nc; c++) xout[base + c] = cx[c];
        if (flags & 4) for (int c = 0; c < nc; c++) vout[base + c] = cv[c];
    }
}
#endif

#if IN_PROGRAM(FAMILY_SAMPLING)
// ---- Shen-Lee randomized midpoint Langevin: per-row coefficients (LangevinCoefficients, in `real`) ----
inline real one_minus_exp_over_gamma(real g, real t) { return -expm1(-g * t) / g; }

inline real drift_to_position(real g, real t)
{
    real x = g * t, num;
#ifdef HAVE_FP64
    num = x < 1e-3 ? x * x * (0.5 - x / 6 + x * x / 24) : x + expm1(-x);
#else
    num = x < 0.1f ? x * x * (0.5f - x * (1.0f / 6 - x * (1.0f / 24 - x * (1.0f / 120 - x / 720)))) : x + expm1(-x);
#endif
    return num / (g * g);
}

inline real position_variance(real g, real a)
{
    real x = g * a, inner;
#ifdef HAVE_FP64
    inner = x < 1e-2 ? x * x * x * (1.0 / 3 - x / 4 + 7 * x * x / 60) : x + 2 * expm1(-x) - 0.5 * expm1(-2 * x);
#else
    inner = x < 0.1f ? x * x * x * (1.0f / 3 - x * (0.25f - x * (7.0f / 60 - x * (1.0f / 24 - x * 31.0f / 2520)))) : x + 2 * expm1(-x) - 0.5f * expm1(-2 * x);
#endif
    return 2 * inner / (g * g);
}

// coef row (stride 10): vp_mid, dp_mid, m31, wx, wv, m11, m21, m22, m32, m33 (W2 = m11 z1, W3 = m21 z1 + m22 z2,
// W1 = m31 z1 + m32 z2 + m33 z3 with z_k = normals j, d + j, 2d + j)
kernel void shenlee_coeffs(const global float* alpha, global float* coef, int rows, real gamma, real h)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    float af = alpha[r];
    real ah = (real)af * h;
    // ShenLeeCholesky(gamma, h, alpha)
    real a = ah, b = h - a;
    real eb = exp(-gamma * b);
    real e1a = -expm1(-gamma * a), e2a = -expm1(-2 * gamma * a);
    real v1 = position_variance(gamma, a), v2 = position_variance(gamma, h), v3 = -expm1(-2 * gamma * h);
    real omr = -expm1(-gamma * h);
    real c23 = omr * omr / gamma;
    real c12 = 2 / gamma * (gamma * drift_to_position(gamma, a) - eb * (e1a / gamma - e2a / (2 * gamma)));
    real c13 = 2 * eb * (e1a / gamma - e2a / (2 * gamma));
    // order (W2, W3, W1): see LangevinCoefficients.ShenLeeCholesky (only m33 vanishes as alpha -> 1)
    real m11 = sqrt(fmax(v2, (real)0));
    real m21 = m11 > (real)1e-30 ? c23 / m11 : 0, m31 = m11 > (real)1e-30 ? c12 / m11 : 0;
    real m22 = sqrt(fmax(v3 - m21 * m21, (real)0));
    real m32 = m22 > (real)1e-30 ? (c13 - m31 * m21) / m22 : 0;
    real m33 = sqrt(fmax(v1 - m31 * m31 - m32 * m32, (real)0));
    real bf = (real)(1.0f - af) * h;
    global float* o = coef + (size_t)r * 10;
    o[0] = (float)one_minus_exp_over_gamma(gamma, ah);
    o[1] = (float)drift_to_position(gamma, ah);
    o[2] = (float)m31;
    o[3] = (float)(h * one_minus_exp_over_gamma(gamma, bf));
    o[4] = (float)(h * exp(-gamma * bf));
    o[5] = (float)m11; o[6] = (float)m21; o[7] = (float)m22; o[8] = (float)m32; o[9] = (float)m33;
}

kernel void shenlee_midpoint(global float* xmid, const global float* x, const global float* v, const global float* s0,
                             const global float* coef, int rows, int cols, uint k0, uint k1, uint step, uint purpose, uint first)
{
    int gid = get_global_id(0);
    if (gid >= rows * cols) return;
    int r = gid / cols, j = gid - r * cols;
    const global float* c = coef + (size_t)r * 10;
    uint sample = first + (uint)r;
    float z1 = normal_j(k0, k1, step, purpose, sample, j);
    float z2 = normal_j(k0, k1, step, purpose, sample, cols + j);
    float z3 = normal_j(k0, k1, step, purpose, sample, 2 * cols + j);
    xmid[gid] = x[gid] + c[0] * v[gid] + c[1] * s0[gid] + c[2] * z1 + c[8] * z2 + c[9] * z3;
}

kernel void shenlee_final(global float* x, global float* v, const global float* smid, const global float* coef, int rows, int cols,
                          float rho, float vp, uint k0, uint k1, uint step, uint purpose, uint first)
{
    int gid = get_global_id(0);
    if (gid >= rows * cols) return;
    int r = gid / cols, j = gid - r * cols;
    uint sample = first + (uint)r;
    const global float* c = coef + (size_t)r * 10;
    float z1 = normal_j(k0, k1, step, purpose, sample, j);
    float z2 = normal_j(k0, k1, step, purpose, sample, cols + j);
    float vj = v[gid], s = smid[gid];
    x[gid] = x[gid] + vp * vj + c[3] * s + c[5] * z1;
    v[gid] = rho * vj + c[4] * s + c[6] * z1 + c[7] * z2;
}

// coefs: e[0..m), em1[m..2m)
kernel void exp_scan(const global float* x0, const global float* scores, const global float* coefs,
                     global float* xs, global float* xout, int m, int rows, int cols)
{
    int gid = get_global_id(0);
    if (gid >= rows * cols) return;
    int r = gid / cols, j = gid - r * cols;
    float cur = x0[gid];
    for (int i = 0; i < m; i++)
    {
        size_t at = (size_t)(r * m + i) * cols + j;
        xs[at] = cur;
        cur = coefs[i] * cur + coefs[m + i] * scores[at];
    }
    xout[gid] = cur;
}

// Partial maxima of |a - b| per work group (NaN propagates); the host takes the max of the partials.
kernel void max_abs_diff(const global float* a, const global float* b, int n, global float* partial, local float* scratch)
{
    int gid = get_global_id(0), lid = get_local_id(0), G = get_global_size(0);
    float m = 0.0f;
    for (int i = gid; i < n; i += G)
    {
        float t = fabs(a[i] - b[i]);
        if (isnan(t) || t > m) m = t;
    }
    scratch[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = get_local_size(0) / 2; s > 0; s >>= 1)
    {
        if (lid < s)
        {
            float o = scratch[lid + s];
            if (isnan(o) || o > scratch[lid]) scratch[lid] = o;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) partial[get_group_id(0)] = scratch[0];
}

// PerturbedScore: score[r, j] += amp * sin(freq * x[r, j] + 0.7 j + t_r).
kernel void perturb_add(global float* score, const global float* x, const global float* off, int noff, float t0, float slope,
                        float amp, float freq, int rows, int cols)
{
    int gid = get_global_id(0);
    if (gid >= rows * cols) return;
    int r = gid / cols, j = gid - r * cols;
    float t = noff > 0 ? t0 - slope * off[r % noff] : t0;
    score[gid] += amp * sin(freq * x[gid] + 0.7f * (float)j + t);
}

// out[s] = max |a - b| over the rows [s rps, (s + 1) rps) of sample s (NaN propagates): one work item per sample.
kernel void row_max_abs_diff(const global float* a, const global float* b, global float* out, int samples, int rps, int cols)
{
    int s = get_global_id(0);
    if (s >= samples) return;
    size_t i0 = (size_t)s * rps * cols, n = (size_t)rps * cols;
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
    {
        float t = fabs(a[i0 + i] - b[i0 + i]);
        if (isnan(t) || t > m) m = t;
    }
    out[s] = m;
}

// dst row r = src row r where mask[r] != 0: one work item per element.
kernel void copy_rows_where(global float* dst, const global float* src, const global float* mask, int cols, int total)
{
    int gid = get_global_id(0);
    if (gid >= total) return;
    if (mask[gid / cols] != 0.0f) dst[gid] = src[gid];
}

// Classifier-free guidance (SamplerContext.ScoreAt): the two halves of one batched score call.
// duplicate_rows: dst = [src; src] (n = rows * cols of src).
kernel void duplicate_rows(global float* dst, const global float* src, int n)
{
    int gid = get_global_id(0);
    if (gid >= n) return;
    float v = src[gid];
    dst[gid] = v;
    dst[n + gid] = v;
}

// guidance_combine: dst = (1 + w) both[0 .. n) - w both[n .. 2n), both = [s(x | c); s(x | null)].
kernel void guidance_combine(global float* dst, const global float* both, float w, int n)
{
    int gid = get_global_id(0);
    if (gid >= n) return;
    dst[gid] = (1.0f + w) * both[gid] - w * both[n + gid];
}
#endif
