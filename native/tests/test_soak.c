/* Issue 15 soak: create / sample / cancel / destroy cycles from 4 threads at once, and the process's
   resident memory stays flat. Cycles per thread: argv[2] (default 250: 1000 cycles, a few seconds, the
   size CI runs; the 10,000 is `test_soak target.json 2500`). RSS is read from /proc/self/statm
   after the first fifth of the cycles (warm-up: runtime, GC heap and thread pool reach their working size)
   and at the end; the test fails when it grew by more than 32 MiB. */
#include "testutil.h"
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { THREADS = 4, N = 256 };
static const char* g_target;
static int g_cycles;
static volatile int g_done_cycles, g_errors;
static long g_rss_warm;

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE* f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void fail(const char* what, cld_status st)
{
    __sync_fetch_and_add(&g_errors, 1);
    fprintf(stderr, "soak: %s -> %d: %s\n", what, (int)st, cld_last_error());
}

static void* worker(void* arg)
{
    long id = (long)arg;
    float* out = malloc(sizeof(float) * N * 2);
    for (int c = 0; c < g_cycles; c++) {
        cld_engine* e = NULL;
        cld_model* m = NULL;
        cld_job* j = NULL;
        cld_engine_options eo = { sizeof eo };
        eo.device = "cpu";
        eo.threads = 1;
        cld_status st;
        if ((st = cld_engine_create(&eo, &e)) != CLD_OK) { fail("engine_create", st); break; }
        if ((st = cld_model_load(e, g_target, &m)) != CLD_OK) { fail("model_load", st); cld_engine_destroy(e); break; }
        cld_sample_options o;
        cld_sample_options_init(&o);
        o.steps = 10;
        o.seed = (uint64_t)id * 100000 + c;
        if ((st = cld_sample_async(e, m, &o, N, out, N * 2, NULL, NULL, &j)) != CLD_OK) { fail("sample_async", st); cld_engine_destroy(e); break; }
        switch (c % 3) {
        case 0: /* cancel at once */
            cld_job_cancel(j);
            st = cld_job_wait(j, CLD_WAIT_INFINITE);
            if (st != CLD_ERR_CANCELLED && st != CLD_OK) fail("cancelled job", st);
            break;
        case 1: /* run to the end */
            if ((st = cld_job_wait(j, CLD_WAIT_INFINITE)) != CLD_OK) fail("job", st);
            break;
        default: /* destroy the engine under the running job */
            if ((st = cld_engine_destroy(e)) != CLD_OK) fail("engine_destroy (running job)", st);
            e = NULL;
            st = cld_job_wait(j, CLD_WAIT_INFINITE);
            if (st != CLD_ERR_CANCELLED && st != CLD_OK) fail("job of destroyed engine", st);
            break;
        }
        if ((st = cld_job_destroy(j)) != CLD_OK) fail("job_destroy", st);
        if (e && (st = cld_engine_destroy(e)) != CLD_OK) fail("engine_destroy", st);
        int done = __sync_add_and_fetch(&g_done_cycles, 1);
        if (done == g_cycles * THREADS / 5) g_rss_warm = rss_kib();
    }
    free(out);
    return NULL;
}

int main(int argc, char** argv)
{
    g_target = argc > 1 ? argv[1] : "target2d.json";
    g_cycles = argc > 2 ? atoi(argv[2]) : 250;
    if (g_cycles < 5) g_cycles = 5;
    long rss0 = rss_kib();
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void*)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    long rss_end = rss_kib();
    printf("soak: %d cycles on %d threads, %d errors; RSS start %ld KiB, after warm-up %ld KiB, end %ld KiB (growth %+ld KiB)\n",
           g_done_cycles, THREADS, g_errors, rss0, g_rss_warm, rss_end, rss_end - g_rss_warm);
    EXPECT(g_errors == 0);
    EXPECT(g_done_cycles == g_cycles * THREADS);
    EXPECT(g_rss_warm > 0 && rss_end - g_rss_warm < 32 * 1024);
    return test_summary("test_soak");
}
