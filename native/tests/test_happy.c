/* Happy path: engine, model, sync and async sampling with a progress callback, poll loop, cleanup. */
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <time.h>

typedef struct { int calls; float last; int decreasing; } progress_log;

static void on_progress(void* user, float p)
{
    progress_log* log = user;
    if (p < log->last) log->decreasing = 1;
    log->last = p;
    log->calls++;
}

int main(int argc, char** argv)
{
    const char* target = argc > 1 ? argv[1] : "target2d.json";
    cld_engine* e = NULL;
    cld_model* m = NULL;
    cld_job* j = NULL;
    REQUIRE_OK(cld_engine_create(NULL, &e));
    EXPECT(e != NULL);
    REQUIRE_OK(cld_model_load(e, target, &m));
    uint32_t d = 0;
    EXPECT_STATUS(CLD_OK, cld_model_dim(m, &d));
    EXPECT(d == 2);

    enum { N = 4000 };
    float* x = malloc(sizeof(float) * N * 2);
    float* y = malloc(sizeof(float) * N * 2);
    cld_sample_options o;
    cld_sample_options_init(&o);
    o.seed = 1234;
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, x, (size_t)N * 2));
    /* target: 0.3 N((-2, 0), diag(.25, .5)) + 0.7 N((1.5, 1), diag(.4, .2)): mean (0.45, 0.7) */
    double mean[2] = { 0, 0 };
    int finite = 1;
    for (int i = 0; i < N * 2; i++) { finite &= isfinite(x[i]) != 0; mean[i % 2] += x[i] / N; }
    EXPECT(finite);
    printf("sync mean (%.3f, %.3f), expected about (0.45, 0.70)\n", mean[0], mean[1]);
    /* within 5 standard errors of the exact mean: the mixture's variances are 2.93 and 0.50 per coordinate
       (sum of w (var + mu^2) - mean^2), so the standard errors at N = 4000 are 0.027 and 0.011 */
    EXPECT(fabs(mean[0] - 0.45) < 5 * sqrt(2.9275 / N) && fabs(mean[1] - 0.70) < 5 * sqrt(0.5 / N));

    /* NULL options: all defaults. */
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, NULL, 10, y, 20));

    /* async + callback + poll loop */
    progress_log log = { 0, 0, 0 };
    EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, N, y, (size_t)N * 2, on_progress, &log, &j));
    int done = 0, polls = 0;
    float p = -1;
    cld_status st = CLD_OK;
    while (!done) {
        st = cld_job_poll(j, &p, &done);
        polls++;
        if (!done) { struct timespec ts = { 0, 2000000 }; nanosleep(&ts, NULL); }
    }
    EXPECT(st == CLD_OK);
    EXPECT(p == 1.0f);
    printf("async: %d polls, %d progress callbacks, last %.3f\n", polls, log.calls, log.last);
    EXPECT(log.calls > 0 && !log.decreasing && log.last > 0.9f && log.last <= 1.0f);
    EXPECT_STATUS(CLD_OK, cld_job_wait(j, CLD_WAIT_INFINITE));
    EXPECT_STATUS(CLD_OK, cld_job_wait(j, 0));
    EXPECT(memcmp(x, y, sizeof(float) * N * 2) == 0);
    EXPECT_STATUS(CLD_OK, cld_job_destroy(j));

    /* every sampler runs through the ABI */
    const char* samplers[] = { "ei", "rm", "ei-pc", "rm-pc", "prm", "prm-pc", "heun", "dpmpp-2m", "picard", "rm-x0", "rm-x0-pc", "prm-x0", "prm-x0-pc" };
    for (size_t s = 0; s < sizeof samplers / sizeof *samplers; s++) {
        o.sampler = samplers[s];
        o.steps = 12;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, 64, y, 128));
    }
    o.sampler = "rm";
    o.low_variance = 1;
    o.grid = "uniform";
    o.corrector = "rmuld";
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, 64, y, 128));
    o.sampler = "prm";
    o.picard_rounds = CLD_PICARD_ROUNDS_NONE;
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, 64, y, 128));

    EXPECT_STATUS(CLD_OK, cld_model_destroy(m));
    EXPECT_STATUS(CLD_OK, cld_engine_destroy(e));
    EXPECT_STATUS(CLD_OK, cld_job_destroy(NULL));
    EXPECT_STATUS(CLD_OK, cld_model_destroy(NULL));
    EXPECT_STATUS(CLD_OK, cld_engine_destroy(NULL));
    free(x);
    free(y);
    return test_summary("test_happy");
}
