/*
 * host.c - a minimal "game loop" host of libcldiffusion.
 *
 * Creates an engine, loads a Gaussian-mixture target, starts an asynchronous sampling job and polls it once
 * per "frame" (sleeping a few milliseconds in between, as a render loop would), starts a second job and
 * cancels it, then draws samples from a model computed by the host itself (a C score callback), and prints
 * the results.
 *
 *     host [target.json] [n]
 */
#include "cldiffusion.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The host's own model: the exact score of N(center, I) in any dimension. In a real host this would run the
   host's network on the batch. Called with whole batches; returns non-zero to stop the sampling. */
typedef struct { float center; long calls; } my_model;

static int32_t my_score(void* user_data, int32_t rows, int32_t dim, const float* x, const float* t, float* out)
{
    my_model* m = user_data;
    m->calls++;
    for (int32_t r = 0; r < rows; r++) {
        float a = expf(-t[r]); /* q_t = N(a * center, I): score = a * center - x */
        for (int32_t j = 0; j < dim; j++) out[r * dim + j] = a * m->center - x[r * dim + j];
    }
    return 0;
}

#define CHECK(call)                                                                  \
    do {                                                                             \
        cld_status st_ = (call);                                                     \
        if (st_ != CLD_OK) {                                                         \
            fprintf(stderr, "%s failed: status %d: %s\n", #call, (int)st_, cld_last_error()); \
            goto fail;                                                               \
        }                                                                            \
    } while (0)

int main(int argc, char** argv)
{
    const char* target = argc > 1 ? argv[1] : "target2d.json";
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 20000;
    cld_engine* engine = NULL;
    cld_model* model = NULL;
    cld_model* own = NULL;
    cld_job* job = NULL;
    cld_job* doomed = NULL;
    float* out = NULL;
    float* out2 = NULL;
    int rc = 1;

    if (cld_abi_version() != CLD_ABI_VERSION) {
        fprintf(stderr, "ABI mismatch: header %u, library %u\n", CLD_ABI_VERSION, cld_abi_version());
        return 1;
    }
    printf("libcldiffusion %s\n", cld_version_string());

    uint32_t devices = 0;
    CHECK(cld_device_count(&devices));
    for (uint32_t i = 0; i < devices; i++) {
        char name[256];
        CHECK(cld_device_name(i, name, sizeof name));
        printf("device %u: %s\n", i, name);
    }

    cld_engine_options eo = { sizeof(cld_engine_options) };
    eo.device = "auto";
    CHECK(cld_engine_create(&eo, &engine));
    CHECK(cld_model_load(engine, target, &model));
    uint32_t d = 0;
    CHECK(cld_model_dim(model, &d));
    printf("target %s: dimension %u\n", target, d);

    cld_sample_options so;
    CHECK(cld_sample_options_init(&so));
    so.sampler = "rm-pc";
    so.steps = 40;
    so.seed = 42;

    out = malloc(sizeof(float) * n * d);
    out2 = malloc(sizeof(float) * n * d);
    if (!out || !out2) { fprintf(stderr, "out of memory\n"); goto fail; }

    /* Job 1: poll it once per frame. */
    CHECK(cld_sample_async(engine, model, &so, n, out, (size_t)n * d, NULL, NULL, &job));
    int frames = 0, done = 0;
    float progress = 0;
    cld_status st = CLD_OK;
    while (!done) {
        st = cld_job_poll(job, &progress, &done);
        if (frames % 25 == 0 || done) printf("frame %4d: progress %5.1f%%%s\n", frames, 100 * progress, done ? " (done)" : "");
        frames++;
        if (!done) sleep_ms(4); /* ... render the frame ... */
    }
    if (st != CLD_OK) { fprintf(stderr, "job failed: status %d: %s\n", (int)st, cld_last_error()); goto fail; }

    double mean[16] = { 0 };
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < d && j < 16; j++) mean[j] += out[i * d + j] / (double)n;
    printf("job 1: %llu samples in %d frames; sample mean = (", (unsigned long long)n, frames);
    for (uint32_t j = 0; j < d && j < 16; j++) printf(j ? ", %.3f" : "%.3f", mean[j]);
    printf(")\n");

    /* Job 2: start it, cancel it a couple of frames later. */
    so.seed = 7;
    CHECK(cld_sample_async(engine, model, &so, n, out2, (size_t)n * d, NULL, NULL, &doomed));
    sleep_ms(8);
    CHECK(cld_job_cancel(doomed));
    st = cld_job_wait(doomed, CLD_WAIT_INFINITE);
    printf("job 2: cancelled -> status %d (%s)\n", (int)st, st == CLD_ERR_CANCELLED ? "CLD_ERR_CANCELLED" : cld_last_error());
    if (st != CLD_ERR_CANCELLED && st != CLD_OK) goto fail;

    /* Job 3: a model computed by the host (a C callback), sampled synchronously. my_model must outlive the
       model handle: it is destroyed below, before my_model goes out of scope. */
    my_model mine = { 3.0f, 0 };
    CHECK(cld_model_from_callback(engine, d, CLD_PREDICT_SCORE, my_score, &mine, &own));
    so.seed = 1;
    CHECK(cld_sample(engine, own, &so, n, out, (size_t)n * d));
    double own_mean = 0;
    for (uint64_t i = 0; i < n * d; i++) own_mean += out[i] / (double)(n * d);
    printf("job 3: C callback model, %ld callback calls, sample mean %.3f (target 3.000)\n", mine.calls, own_mean);

    rc = 0;
fail:
    cld_model_destroy(own);
    cld_job_destroy(doomed);
    cld_job_destroy(job);
    cld_model_destroy(model);
    cld_engine_destroy(engine);
    free(out);
    free(out2);
    return rc;
}
