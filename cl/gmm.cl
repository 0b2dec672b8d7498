// Exact Gaussian-mixture score (DESIGN 1.2), one work item per row, float log-sum-exp over components done
// online: the score row itself accumulates sum_k w_k (a mu_kj - x_j) / vt_kj, rescaled when the running max grows.
// means, vars: [K, d] row-major; logw: [K] (-INFINITY for zero weights). Row time t_r = t0 - slope * off[r % noff].
// Labelled mixtures (class-conditional scores): logw is [nclass + 1, K], row c holding log w_k for the components of
// class c and -INFINITY elsewhere, row nclass (the null class) all of them; row r uses row row_class(r) (common.cl).
kernel void gmm_score(const global float* x, global float* score, const global float* mu, const global float* var,
                      const global float* logw, const global float* off, int noff, float t0, float slope, int rows, int K, int d,
                      const global float* lab, int nlab, int nclass)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    logw += (size_t)row_class(r, lab, nlab, nclass) * K;
    float t = row_time(r, off, noff, t0, slope);
    float a = exp(-t), s2 = -expm1(-2.0f * t), a2 = a * a;
    const global float* xr = x + (size_t)r * d;
    global float* sr = score + (size_t)r * d;
    for (int j = 0; j < d; j++) sr[j] = 0.0f;
    float m = -INFINITY, z = 0.0f;
    for (int k = 0; k < K; k++)
    {
        float lw = logw[k];
        if (lw == -INFINITY) continue;
        const global float* mk = mu + (size_t)k * d;
        const global float* vk = var + (size_t)k * d;
        float acc = 0.0f, logdet = 0.0f;
        for (int j = 0; j < d; j++)
        {
            float vt = a2 * vk[j] + s2, diff = xr[j] - a * mk[j];
            acc += diff * diff / vt;
            logdet += log(vt);
        }
        float l = lw - 0.5f * (acc + logdet);
        float w;
        if (l > m)
        {
            float sc = exp(m - l);
            z *= sc;
            for (int j = 0; j < d; j++) sr[j] *= sc;
            m = l; w = 1.0f;
        }
        else w = exp(l - m);
        if (w == 0.0f) continue;
        z += w;
        for (int j = 0; j < d; j++) sr[j] += w * (a * mk[j] - xr[j]) / (a2 * vk[j] + s2);
    }
    for (int j = 0; j < d; j++) sr[j] = sr[j] / z;
}

// Inverse variances (issue 18): 1 / (a_t^2 var_kj + s_t^2) is the same for every row at one time, so the host builds
// a table of them per distinct time (gmm_inverse_var) where it is small enough (GIT, host-read, in
// OpenClGaussianMixtureScore), and the two-pass kernels multiply instead of dividing: on CPUs they were bound by their
// 2 d divisions per row and component. Rows with times of their own (the randomized-midpoint samplers: one time per
// row) get no table; they take the reciprocal in the loop, exactly (GRCP = 0) or as native_recip refined by one
// Newton step (GRCP = 1: within a few ulp, a multiply-only path where native_recip is a hardware estimate): OVER in common.cl.

// ivar[(i K + k) d + j] = 1 / (a^2 var_kj + s2) at the time of offset i (t = t0 - slope off[i]; one time when noff = 0),
// the expression the kernels below would divide by, rounded once: one work item per element.
kernel void gmm_inverse_var(global float* ivar, const global float* var, const global float* off, int noff, float t0, float slope, int K, int d)
{
    long gid = get_global_id(0), kd = (long)K * d;
    if (gid >= max(noff, 1) * kd) return;
    int i = (int)(gid / kd);
    float t = row_time(i, off, noff, t0, slope);
    float a = exp(-t), s2 = -expm1(-2.0f * t), a2 = a * a;
    ivar[gid] = 1.0f / (a2 * var[gid - i * kd] + s2);
}

#if GVW == 1
#define floatg float
#define LOADG(i, p) ((p)[i])
#define STOREG(v, i, p) ((p)[i] = (v))
#define HSUM(v) (v)
#else
#define floatg CAT(float, GVW)
#define LOADG(i, p) CAT(vload, GVW)(i, p)
#define STOREG(v, i, p) CAT(vstore, GVW)(v, i, p)
#if GVW == 2
#define HSUM(v) ((v).s0 + (v).s1)
#elif GVW == 4
#define HSUM(v) (((v).s0 + (v).s1) + ((v).s2 + (v).s3))
#elif GVW == 8
#define HSUM(v) ((((v).s0 + (v).s1) + ((v).s2 + (v).s3)) + (((v).s4 + (v).s5) + ((v).s6 + (v).s7)))
#else
#define HSUM(v) (((((v).s0 + (v).s1) + ((v).s2 + (v).s3)) + (((v).s4 + (v).s5) + ((v).s6 + (v).s7))) + ((((v).s8 + (v).s9) + ((v).sa + (v).sb)) + (((v).sc + (v).sd) + ((v).se + (v).sf))))
#endif
#endif

// Two-pass mixture score for K <= KMAX and d % GVW == 0: one work item per row, coordinates in GVW-wide vectors.
// Pass 1 computes every component's log density (vector log and divide over coordinates), pass 2 the weighted
// sum of the component scores with the normalised weights; no global read-modify-write of the score row.
// logdet[i K + k] = sum_j log(a_t^2 var_kj + s2_t) at the time of offset i (t = t0 - slope off[i]; one time when noff = 0):
// depends on the row only through its time, so it is computed once per distinct offset, not once per row. With a time
// per row (the randomized-midpoint samplers) that is still d logs per row and component, more than the score itself,
// so each lane multiplies up to min(GLC, chunk) of its factors before taking one log: the host passes in chunk how
// many factors surely stay within float's normal range (a2 var + s2 lies between var and 1; OpenClGaussianMixtureScore).
#ifndef GLC
#define GLC 8          // most factors per log in gmm_logdet (1: a log per factor)
#endif
kernel void gmm_logdet(global float* logdet, const global float* var, const global float* off, int noff, float t0, float slope, int K, int d, int chunk)
{
    int gid = get_global_id(0), nt = max(noff, 1);
    if (gid >= nt * K) return;
    int i = gid / K, k = gid - i * K, c = min(chunk, GLC);
    float t = row_time(i, off, noff, t0, slope);
    float a = exp(-t), s2 = -expm1(-2.0f * t), a2 = a * a;
    const global float* vk = var + (size_t)k * d;
    floatg acc = 0.0f;
    int nv = d / GVW, v = 0;
    for (; v + c <= nv; v += c)
    {
        floatg p = a2 * LOADG(v, vk) + s2;
        for (int u = 1; u < c; u++) p *= a2 * LOADG(v + u, vk) + s2;
        acc += log(p);
    }
    for (; v < nv; v++) acc += log(a2 * LOADG(v, vk) + s2);
    float sum = HSUM(acc);
    for (int j = nv * GVW; j < d; j++) sum += log(a2 * vk[j] + s2);   // the d % GVW tail: gmm_score_rows takes any d
    logdet[gid] = sum;
}

// Pass 1 sums d / GVW terms per component: one accumulator makes that a chain of dependent adds (no contraction, no
// reassociation allowed), latency-bound once the divisions are gone; GAC independent partial sums break it.
#ifndef GAC
#define GAC 4          // partial sums per component in gmm_score_vec's pass 1 (1, 2 or 4)
#endif
#if GAC == 4
#define SUM_TERMS(acc, nv, TERM) { floatg s0_ = 0.0f, s1_ = 0.0f, s2_ = 0.0f, s3_ = 0.0f; int v = 0; \
    for (; v + 4 <= (nv); v += 4) { s0_ += TERM(v); s1_ += TERM(v + 1); s2_ += TERM(v + 2); s3_ += TERM(v + 3); } \
    for (; v < (nv); v++) s0_ += TERM(v); \
    acc = (s0_ + s1_) + (s2_ + s3_); }
#elif GAC == 2
#define SUM_TERMS(acc, nv, TERM) { floatg s0_ = 0.0f, s1_ = 0.0f; int v = 0; \
    for (; v + 2 <= (nv); v += 2) { s0_ += TERM(v); s1_ += TERM(v + 1); } \
    for (; v < (nv); v++) s0_ += TERM(v); \
    acc = s0_ + s1_; }
#else
#define SUM_TERMS(acc, nv, TERM) { acc = 0.0f; for (int v = 0; v < (nv); v++) acc += TERM(v); }
#endif

kernel void gmm_score_vec(const global float* x, global float* score, const global float* mu, const global float* var,
                          const global float* logw, const global float* off, int noff, float t0, float slope, int rows, int K, int d,
                          const global float* logdet, const global float* lab, int nlab, int nclass, const global float* ivar, int tab)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    logw += (size_t)row_class(r, lab, nlab, nclass) * K;
    float t = row_time(r, off, noff, t0, slope);
    float a = exp(-t), s2 = -expm1(-2.0f * t), a2 = a * a;
    const global float* xr = x + (size_t)r * d;
    global float* sr = score + (size_t)r * d;
    int nv = d / GVW, it = noff > 0 ? r % noff : 0;
    const global float* ivr = ivar + (size_t)it * K * d;   // this row's time's table (read only when tab != 0)
    float lk[KMAX];
    float m = -INFINITY;
    for (int k = 0; k < K; k++)
    {
        float lw = logw[k];
        lk[k] = -INFINITY;
        if (lw == -INFINITY) continue;
        const global float* mk = mu + (size_t)k * d;
        const global float* vk = var + (size_t)k * d;
        const global float* ik = ivr + (size_t)k * d;
        floatg acc;
        // (x - a mu)^2 / (a^2 var + s2) for the vector at v: multiplied by the table, or divided (OVER)
#define DIFF(v) (LOADG(v, xr) - a * LOADG(v, mk))
#define TERM_TABLE(v) (DIFF(v) * DIFF(v) * LOADG(v, ik))
#define TERM_DIVIDE(v) OVER(DIFF(v) * DIFF(v), a2 * LOADG(v, vk) + s2)
        if (tab) SUM_TERMS(acc, nv, TERM_TABLE)
        else SUM_TERMS(acc, nv, TERM_DIVIDE)
        float l = lw - 0.5f * (HSUM(acc) + logdet[it * K + k]);
        lk[k] = l;
        m = fmax(m, l);
    }
    float z = 0.0f;
    for (int k = 0; k < K; k++) { float w = lk[k] == -INFINITY ? 0.0f : exp(lk[k] - m); lk[k] = w; z += w; }
    for (int v = 0; v < nv; v++)
    {
        floatg xv = LOADG(v, xr), acc = 0.0f;
        for (int k = 0; k < K; k++)
        {
            float w = lk[k];
            if (w == 0.0f) continue;
            floatg num = w * (a * LOADG(v, mu + (size_t)k * d) - xv);
            acc += tab ? num * LOADG(v, ivr + (size_t)k * d) : OVER(num, a2 * LOADG(v, var + (size_t)k * d) + s2);
        }
        STOREG(acc / z, v, sr);
    }
}
