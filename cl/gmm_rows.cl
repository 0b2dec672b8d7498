// Mixture score for large d (issue 18): GRR rows per work group, GRW work items per row. The per-row kernels of
// gmm.cl give each row to one work item, so on a GPU neighbouring items read addresses d floats apart (no coalescing)
// and x is read K + 1 times. Here the items of a row read neighbouring GRV-wide vectors (coalesced), x is read from
// global memory once (into local memory, re-read from there), the K partial quadratic forms are reduced in local
// memory, and the score is written once. Same formulas and semantics as gmm_score_vec: per-row times
// t_r = t0 - slope off[r % noff], labels, logdet[(r % noff) K + k] from gmm_logdet (which handles any d), and the
// inverse variances from gmm_inverse_var's table when tab != 0 (multiplies, no divisions), else OVER (common.cl).
#ifndef GRW
#define GRW 64         // work items per row (a power of two: the partial sums are reduced in a tree)
#endif
#ifndef GRV
#define GRV 4          // vector width over coordinates (1, 2, 4, 8, 16); the d % GRV tail is scalar
#endif
#ifndef GRR
#define GRR 1          // rows per work group: the group has GRW * GRR items
#endif
#define GRG (GRW * GRR)

#if GRV == 1
#define floatr float
#define LOADR(i, p) ((p)[i])
#define STORER(v, i, p) ((p)[i] = (v))
#define HSUMR(v) (v)
#else
#define floatr CAT(float, GRV)
#define LOADR(i, p) CAT(vload, GRV)(i, p)
#define STORER(v, i, p) CAT(vstore, GRV)(v, i, p)
#if GRV == 2
#define HSUMR(v) ((v).s0 + (v).s1)
#elif GRV == 4
#define HSUMR(v) (((v).s0 + (v).s1) + ((v).s2 + (v).s3))
#elif GRV == 8
#define HSUMR(v) ((((v).s0 + (v).s1) + ((v).s2 + (v).s3)) + (((v).s4 + (v).s5) + ((v).s6 + (v).s7)))
#else
#define HSUMR(v) (((((v).s0 + (v).s1) + ((v).s2 + (v).s3)) + (((v).s4 + (v).s5) + ((v).s6 + (v).s7))) + ((((v).s8 + (v).s9) + ((v).sa + (v).sb)) + (((v).sc + (v).sd) + ((v).se + (v).sf))))
#endif
#endif

// xl: GRR * d floats (the rows' x), part: GRR * K * GRW floats (partial sums; after the reduction slot k GRW holds
// component k's log density and slot k GRW + GRW - 1 its weight). ivar: [distinct times, K, d] (gmm.cl's
// gmm_inverse_var), read only when tab != 0. Launched over ceil(rows / GRR) groups of GRG items.
kernel __attribute__((reqd_work_group_size(GRG, 1, 1)))
void gmm_score_rows(const global float* x, global float* score, const global float* mu, const global float* var,
                    const global float* logw, const global float* off, int noff, float t0, float slope, int rows, int K, int d,
                    const global float* logdet, const global float* lab, int nlab, int nclass, local float* xl, local float* part,
                    const global float* ivar, int tab)
{
    int lid = get_local_id(0), sub = lid / GRW, lane = lid - sub * GRW;
    int r = get_group_id(0) * GRR + sub;
    bool live = r < rows;
    int rc = live ? r : rows - 1;   // a group's rows past the end compute row rows - 1 again (every item must reach the barriers) and write nothing
    logw += (size_t)row_class(rc, lab, nlab, nclass) * K;
    float t = row_time(rc, off, noff, t0, slope);
    float a = exp(-t), s2 = -expm1(-2.0f * t), a2 = a * a;
    const global float* xr = x + (size_t)rc * d;
    local float* xs = xl + sub * d;
    local float* ps = part + sub * K * GRW;
    int nv = d / GRV, j0 = nv * GRV + lane;   // vectors per row; this item's first tail coordinate (the d % GRV tail, scalar)
    int it = noff > 0 ? rc % noff : 0;
    const global float* ivr = ivar + (size_t)it * K * d;   // this row's time's table

    // x once from global memory; each item re-reads only the coordinates it wrote, so no barrier is needed
    for (int v = lane; v < nv; v += GRW) STORER(LOADR(v, xr), v, xs);
    for (int j = j0; j < d; j += GRW) xs[j] = xr[j];

    // pass 1: this item's share of each component's quadratic form
    for (int k = 0; k < K; k++)
    {
        float p = 0.0f;
        if (logw[k] != -INFINITY)
        {
            const global float* mk = mu + (size_t)k * d;
            const global float* vk = var + (size_t)k * d;
            const global float* ik = ivr + (size_t)k * d;
            floatr acc = 0.0f;
            if (tab)
                for (int v = lane; v < nv; v += GRW)
                {
                    floatr diff = LOADR(v, xs) - a * LOADR(v, mk);
                    acc += diff * diff * LOADR(v, ik);
                }
            else
                for (int v = lane; v < nv; v += GRW)
                {
                    floatr vt = a2 * LOADR(v, vk) + s2, diff = LOADR(v, xs) - a * LOADR(v, mk);
                    acc += OVER(diff * diff, vt);
                }
            p = HSUMR(acc);
            for (int j = j0; j < d; j += GRW) { float diff = xs[j] - a * mk[j]; p += tab ? diff * diff * ik[j] : OVER(diff * diff, a2 * vk[j] + s2); }
        }
        ps[k * GRW + lane] = p;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = GRW / 2; s > 0; s >>= 1)
    {
        if (lane < s) for (int k = 0; k < K; k++) ps[k * GRW + lane] += ps[k * GRW + lane + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    // log densities (one item per component), their max, the weights exp(l_k - max) and their sum
    for (int k = lane; k < K; k += GRW)
        ps[k * GRW] = logw[k] == -INFINITY ? -INFINITY : logw[k] - 0.5f * (ps[k * GRW] + logdet[it * K + k]);
    barrier(CLK_LOCAL_MEM_FENCE);
    float m = -INFINITY;
    for (int k = 0; k < K; k++) m = fmax(m, ps[k * GRW]);
    // with GRW = 1 the weight overwrites its own log density, read only by this item
    for (int k = lane; k < K; k += GRW) { float l = ps[k * GRW]; ps[k * GRW + GRW - 1] = l == -INFINITY ? 0.0f : exp(l - m); }
    barrier(CLK_LOCAL_MEM_FENCE);
    float z = 0.0f;
    for (int k = 0; k < K; k++) z += ps[k * GRW + GRW - 1];

    // pass 2: the weighted component scores, x from local memory, the score written once
    if (!live) return;   // no barrier follows
    global float* sr = score + (size_t)r * d;
    for (int v = lane; v < nv; v += GRW)
    {
        floatr xv = LOADR(v, xs), acc = 0.0f;
        for (int k = 0; k < K; k++)
        {
            float w = ps[k * GRW + GRW - 1];
            if (w == 0.0f) continue;
            floatr num = w * (a * LOADR(v, mu + (size_t)k * d) - xv);
            acc += tab ? num * LOADR(v, ivr + (size_t)k * d) : OVER(num, a2 * LOADR(v, var + (size_t)k * d) + s2);
        }
        STORER(acc / z, v, sr);
    }
    for (int j = j0; j < d; j += GRW)
    {
        float acc = 0.0f;
        for (int k = 0; k < K; k++)
        {
            float w = ps[k * GRW + GRW - 1];
            if (w == 0.0f) continue;
            float num = w * (a * mu[(size_t)k * d + j] - xs[j]);
            acc += tab ? num * ivr[(size_t)k * d + j] : OVER(num, a2 * var[(size_t)k * d + j] + s2);
        }
        sr[j] = acc / z;
    }
}
