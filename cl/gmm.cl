// Exact Gaussian-mixture score (DESIGN 1.2), one work item per row, float log-sum-exp over components done
// online: the score row itself accumulates sum_k w_k (a mu_kj - x_j) / vt_kj, rescaled when the running max grows.
// means, vars: [K, d] row-major; logw: [K] (-INFINITY for zero weights). Row time t_r = t0 - slope * off[r % noff].
kernel void gmm_score(const global float* x, global float* score, const global float* mu, const global float* var,
                      const global float* logw, const global float* off, int noff, float t0, float slope, int rows, int K, int d)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    float t = noff > 0 ? t0 - slope * off[r % noff] : t0;
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
