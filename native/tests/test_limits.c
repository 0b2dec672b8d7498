/* Issue 15 findings 2, 3, 4 and 6, and the non-finite guard: every option the samplers cannot compute is
   refused by the call itself (CLD_ERR_INVALID_ARGUMENT naming the limit), nothing runs unbounded, a cancel
   takes effect within a bounded time, and no call succeeds with a NaN sample. */
#include "testutil.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The last error names what was refused. */
#define EXPECT_REFUSED(call, word)                                                       \
    do {                                                                                 \
        EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, call);                                   \
        EXPECT(strstr(cld_last_error(), word) != NULL);                                  \
    } while (0)

static int cmp_double(const void* a, const void* b)
{
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char** argv)
{
    const char* target = argc > 1 ? argv[1] : "target2d.json";
    const char* divergent = argc > 2 ? argv[2] : NULL;
    enum { N = 64 };
    float out[N * 2];
    cld_engine* e = NULL;
    cld_model* m = NULL;
    cld_job* j = NULL;

    /* finding 2: thread counts beyond the machine (2^29, INT_MAX) are refused, not silently "sampled" as zeros */
    cld_engine_options eo = { sizeof eo };
    eo.device = "cpu";
    eo.threads = 1 << 29;
    EXPECT_REFUSED(cld_engine_create(&eo, &e), "threads");
    eo.threads = INT_MAX;
    EXPECT_REFUSED(cld_engine_create(&eo, &e), "threads");
    EXPECT(e == NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    eo.threads = (int)cores + 1;
    EXPECT_REFUSED(cld_engine_create(&eo, &e), "threads");
    eo.threads = (int)cores;
    EXPECT_STATUS(CLD_OK, cld_engine_create(&eo, &e));
    REQUIRE_OK(cld_model_load(e, target, &m));

    cld_sample_options o;
    /* an ABI 1 caller (struct_size 128) is still served, its missing fields at their defaults */
    cld_sample_options_init(&o);
    float v1[N * 2], v2[N * 2];
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, v2, N * 2));
    o.struct_size = 128;
    o.denoise = 1; /* past the ABI 1 size: must be ignored */
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, v1, N * 2));
    EXPECT(memcmp(v1, v2, sizeof v1) == 0);
    o.struct_size = sizeof o;
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, v1, N * 2)); /* denoise now read: other samples */
    EXPECT(memcmp(v1, v2, sizeof v1) != 0);

    /* finding 3: steps = INT_MAX is refused by cld_sample_async itself, never by the job later */
    cld_sample_options_init(&o);
    o.steps = INT_MAX;
    j = (cld_job*)0x1;
    EXPECT_REFUSED(cld_sample_async(e, m, &o, N, out, N * 2, NULL, NULL, &j), "65535");
    EXPECT(j == NULL);
    o.steps = 65536;
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "steps");
    cld_sample_options_init(&o);
    o.corrector_steps = 100000;
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "corrector steps");
    cld_sample_options_init(&o);
    o.steps = 60000;
    o.corrector_steps = 60000; /* 3.6e9 evaluations per sample */
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "score evaluations");
    cld_sample_options_init(&o);
    o.sampler = "prm-pc";
    o.sub_windows = 1024;
    o.corrector_steps = 60000;
    o.batch = 65536; /* 65536 x 60000 x 2 floats in one buffer */
    o.steps = 1;
    EXPECT_REFUSED(cld_sample(e, m, &o, 70000, NULL, 0), "buffer");
    cld_sample_options_init(&o);
    o.max_step = 1e-6; /* splits the grid into millions of steps */
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "maximum step");

    /* finding 6: parameters that make the arithmetic non-finite are refused */
    cld_sample_options_init(&o);
    o.gamma = 1e300;
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "gamma");
    cld_sample_options_init(&o);
    o.corrector_time = 1e300;
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "corrector time");
    cld_sample_options_init(&o);
    o.lipschitz = 1e300;
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "Lipschitz");
    cld_sample_options_init(&o);
    o.horizon = 1000;
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "T =");
    cld_sample_options_init(&o);
    o.delta = 1e-300;
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "delta");
    cld_sample_options_init(&o);
    o.block_length = NAN;
    EXPECT_REFUSED(cld_sample(e, m, &o, N, out, N * 2), "block length");

    /* finding 4: a block length far below every step is a corrector after every step, computed in bounded
       time (it once looped over every multiple of 1e-300 up to T, ignoring cancel) */
    cld_sample_options_init(&o);
    o.block_length = 1e-300;
    double t0 = now_ms();
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, out, N * 2));
    double blk = now_ms() - t0;
    o.block_length = 1e-9;
    t0 = now_ms();
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, out, N * 2));
    double blk9 = now_ms() - t0;
    o.block_length = 0;
    t0 = now_ms();
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, out, N * 2));
    double blk0 = now_ms() - t0;
    printf("block_length 1e-300: %.1f ms, 1e-9: %.1f ms, default: %.1f ms (64 samples, rm-pc, 40 steps)\n", blk, blk9, blk0);
    /* relative to the default run on this machine: a corrector after each of the 40 steps instead of every 0.5 in time */
    EXPECT(blk < 10 * blk0 + 1000 && blk9 < 10 * blk0 + 1000);
    o.lipschitz = 1e12; /* the largest L: default block 1e-12, gamma 1e6 */
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, out, N * 2));

    /* cancellation is bounded: a long job (many predictor and corrector steps) stops within one step, that is
       one round of score calls over batch x (1, R, M or window) rows. Latency = from cld_job_cancel to
       cld_job_wait returning, median of 5. */
    enum { LONG_N = 4096 };
    float* big = malloc(sizeof(float) * LONG_N * 2);
    /* The bound scales with this machine's speed, measured here: 100 ms, or 10 rounds of score calls when a round is
       slower than that allows (a loaded or slow machine). One round of `ei` is one score call over the batch; the
       parallel samplers' rounds cover up to 8 rows per sample (picard's window, R + 1 for prm). */
    cld_sample_options_init(&o);
    o.sampler = "ei";
    o.steps = 32;
    double r0 = now_ms();
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, LONG_N, big, (size_t)LONG_N * 2));
    double round_ms = (now_ms() - r0) / 32.0;
    const char* samplers[] = { "rm-pc", "prm-pc", "picard", "ei-pc" };
    for (size_t s = 0; s < sizeof samplers / sizeof *samplers; s++) {
        double lat[5];
        for (int rep = 0; rep < 5; rep++) {
            cld_sample_options_init(&o);
            o.sampler = samplers[s];
            o.steps = 20000;
            o.corrector_steps = 50;
            o.tolerance = 1e-12; /* picard: every window runs all its rounds */
            o.block_length = 1e-9;
            EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, LONG_N, big, (size_t)LONG_N * 2, NULL, NULL, &j));
            sleep_ms(30 + 10 * rep);
            int done = 0;
            EXPECT_STATUS(CLD_OK, cld_job_poll(j, NULL, &done));
            EXPECT(done == 0);
            double c0 = now_ms();
            EXPECT_STATUS(CLD_OK, cld_job_cancel(j));
            EXPECT_STATUS(CLD_ERR_CANCELLED, cld_job_wait(j, CLD_WAIT_INFINITE));
            lat[rep] = now_ms() - c0;
            EXPECT_STATUS(CLD_OK, cld_job_destroy(j));
        }
        qsort(lat, 5, sizeof *lat, cmp_double);
        double rows = s == 0 || s == 3 ? 1.0 : 8.0;
        double bound = 10.0 * rows * round_ms > 100.0 ? 10.0 * rows * round_ms : 100.0;
        printf("cancel latency %-7s median %.1f ms (max %.1f ms) over 5 cancels, %d samples, cpu %ld threads; bound %.0f ms "
               "(one ei round %.2f ms)\n", samplers[s], lat[2], lat[4], LONG_N, cores, bound, round_ms);
        EXPECT(lat[2] < bound);
    }
    free(big);

    /* no success with non-finite output: a model whose score overflows float32 gives CLD_ERR_NON_FINITE
       naming the sample and the step; the engine stays usable */
    if (divergent) {
        cld_model* bad = NULL;
        REQUIRE_OK(cld_model_load(e, divergent, &bad));
        cld_sample_options_init(&o);
        EXPECT_STATUS(CLD_ERR_NON_FINITE, cld_sample(e, bad, &o, N, out, N * 2));
        EXPECT(strstr(cld_last_error(), "sample 0") != NULL && strstr(cld_last_error(), "step") != NULL);
        EXPECT_STATUS(CLD_OK, cld_sample_async(e, bad, &o, N, out, N * 2, NULL, NULL, &j));
        EXPECT_STATUS(CLD_ERR_NON_FINITE, cld_job_wait(j, CLD_WAIT_INFINITE));
        EXPECT_STATUS(CLD_OK, cld_job_destroy(j));
        EXPECT_STATUS(CLD_OK, cld_model_destroy(bad));
        cld_sample_options_init(&o);
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, out, N * 2));
    }

    EXPECT_STATUS(CLD_OK, cld_engine_destroy(e));
    return test_summary("test_limits");
}
