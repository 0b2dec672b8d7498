/* Host models through the C ABI: a C callback of the exact mixture score samples like the built-in mixture
   (same seed, every device), in score and eps form; failing callbacks and bad arguments give clear statuses. */
#include "testutil.h"
#include <math.h>
#include <stdlib.h>

/* native/examples/target2d.json: 0.3 N((-2, 0), diag(.25, .5)) + 0.7 N((1.5, 1), diag(.4, .2)) */
static const double W[2] = { 0.3, 0.7 };
static const double MU[2][2] = { { -2.0, 0.0 }, { 1.5, 1.0 } };
static const double VAR[2][2] = { { 0.25, 0.5 }, { 0.4, 0.2 } };

typedef struct { long calls; long rows; int as_eps; int fail_with; int write_nan; } exact_model;

/* The exact score of q_t (log-sum-exp over the components), or eps = -sigma_t * score. */
static int32_t exact_score(void* user_data, int32_t rows, int32_t dim, const float* x, const float* t, float* out)
{
    exact_model* m = user_data;
    m->calls++;
    m->rows += rows;
    if (m->fail_with) return m->fail_with;
    for (int32_t r = 0; r < rows; r++) {
        double a = exp(-t[r]), s2 = -expm1(-2.0 * t[r]), logp[2], vt[2][2], mx = -INFINITY, z = 0;
        for (int k = 0; k < 2; k++) {
            double acc = 0;
            for (int j = 0; j < dim; j++) {
                vt[k][j] = a * a * VAR[k][j] + s2;
                double diff = x[r * dim + j] - a * MU[k][j];
                acc += diff * diff / vt[k][j] + log(vt[k][j]);
            }
            logp[k] = log(W[k]) - 0.5 * acc;
            if (logp[k] > mx) mx = logp[k];
        }
        for (int k = 0; k < 2; k++) { logp[k] = exp(logp[k] - mx); z += logp[k]; }
        for (int j = 0; j < dim; j++) {
            double s = 0;
            for (int k = 0; k < 2; k++) s += logp[k] / z * (a * MU[k][j] - x[r * dim + j]) / vt[k][j];
            out[r * dim + j] = (float)(m->as_eps ? -sqrt(s2) * s : s);
        }
    }
    if (m->write_nan) out[rows * dim - 1] = NAN;
    return 0;
}

static double max_diff(const float* a, const float* b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= worst)) worst = e; /* NaN wins */
    }
    return worst;
}

enum { N = 1000 };

/* Built-in mixture and callback models on one engine, two samplers: the same samples up to float rounding. */
static void compare_on(const char* device, const char* target)
{
    cld_engine_options eo = { sizeof(cld_engine_options) };
    eo.device = device;
    cld_engine* e = NULL;
    if (cld_engine_create(&eo, &e) != CLD_OK) { fprintf(stderr, "engine %s: %s\n", device, cld_last_error()); g_failures++; return; }
    cld_model *builtin = NULL, *score = NULL, *eps = NULL;
    exact_model ms = { 0 }, me = { 0 };
    me.as_eps = 1;
    EXPECT_STATUS(CLD_OK, cld_model_load(e, target, &builtin));
    EXPECT_STATUS(CLD_OK, cld_model_from_callback(e, 2, CLD_PREDICT_SCORE, exact_score, &ms, &score));
    EXPECT_STATUS(CLD_OK, cld_model_from_callback(e, 2, CLD_PREDICT_EPS, exact_score, &me, &eps));
    uint32_t d = 0;
    EXPECT_STATUS(CLD_OK, cld_model_dim(score, &d));
    EXPECT(d == 2);
    float *a = malloc(sizeof(float) * N * 2), *b = malloc(sizeof(float) * N * 2), *c = malloc(sizeof(float) * N * 2);
    const char* samplers[] = { "ei", "rm-pc" };
    for (int s = 0; s < 2; s++) {
        cld_sample_options o;
        cld_sample_options_init(&o);
        o.sampler = samplers[s];
        o.steps = 30;
        o.seed = 99;
        EXPECT_STATUS(CLD_OK, cld_sample(e, builtin, &o, N, a, N * 2));
        EXPECT_STATUS(CLD_OK, cld_sample(e, score, &o, N, b, N * 2));
        EXPECT_STATUS(CLD_OK, cld_sample(e, eps, &o, N, c, N * 2));
        double ds = max_diff(a, b, N * 2), de = max_diff(a, c, N * 2);
        printf("%s, %s: callback (score) vs built-in %.2e, callback (eps) vs built-in %.2e\n", device, samplers[s], ds, de);
        EXPECT(ds < 2e-4);
        EXPECT(de < 2e-4);
    }
    EXPECT(ms.calls > 0 && ms.rows >= (long)N * 30);
    free(a); free(b); free(c);
    EXPECT_STATUS(CLD_OK, cld_model_destroy(eps));
    EXPECT_STATUS(CLD_OK, cld_model_destroy(score));
    long calls = ms.calls;
    EXPECT_STATUS(CLD_OK, cld_engine_destroy(e));
    EXPECT(ms.calls == calls); /* no call after destroy */
}

int main(int argc, char** argv)
{
    const char* target = argc > 1 ? argv[1] : "target2d.json";
    uint32_t devices = 0;
    REQUIRE_OK(cld_device_count(&devices));
    for (uint32_t i = 0; i < devices; i++) {
        char name[256];
        REQUIRE_OK(cld_device_name(i, name, sizeof name));
        compare_on(name, target);
    }

    cld_engine* e = NULL;
    cld_model* m = NULL;
    REQUIRE_OK(cld_engine_create(NULL, &e));
    float out[64];
    cld_sample_options o;
    cld_sample_options_init(&o);
    o.steps = 8;

    /* a failing callback: CLD_ERR_CALLBACK naming the model and the value */
    exact_model bad = { 0 };
    bad.fail_with = 42;
    EXPECT_STATUS(CLD_OK, cld_model_from_callback(e, 2, CLD_PREDICT_SCORE, exact_score, &bad, &m));
    EXPECT_STATUS(CLD_ERR_CALLBACK, cld_sample(e, m, &o, 16, out, 64));
    EXPECT(strstr(cld_last_error(), "returned 42") != NULL && strstr(cld_last_error(), "C callback #") != NULL);
    /* ... also through a job */
    cld_job* j = NULL;
    EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, 16, out, 64, NULL, NULL, &j));
    EXPECT_STATUS(CLD_ERR_CALLBACK, cld_job_wait(j, CLD_WAIT_INFINITE));
    EXPECT_STATUS(CLD_OK, cld_job_destroy(j));
    /* a NaN in the output */
    bad.fail_with = 0;
    bad.write_nan = 1;
    EXPECT_STATUS(CLD_ERR_CALLBACK, cld_sample(e, m, &o, 16, out, 64));
    EXPECT(strstr(cld_last_error(), "NaN") != NULL);
    bad.write_nan = 0;
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, 16, out, 64));
    EXPECT_STATUS(CLD_OK, cld_model_destroy(m));

    /* bad arguments */
    exact_model ok = { 0 };
    m = (cld_model*)1;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_from_callback(e, 2, CLD_PREDICT_SCORE, NULL, &ok, &m));
    EXPECT(m == NULL);
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_from_callback(e, 0, CLD_PREDICT_SCORE, exact_score, &ok, &m));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_from_callback(e, 2, 7, exact_score, &ok, &m));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_from_callback(e, 2, CLD_PREDICT_SCORE, exact_score, &ok, NULL));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_from_callback((cld_engine*)(uintptr_t)0x12345678, 2, CLD_PREDICT_SCORE, exact_score, &ok, &m));
    EXPECT(ok.calls == 0);
    EXPECT_STATUS(CLD_OK, cld_engine_destroy(e));
    return test_summary("test_callback");
}
