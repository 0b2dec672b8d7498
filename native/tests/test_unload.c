/* Issue 15 finding 1: dlopen, sample, dlclose, dlopen again, sample again, in one process. The calls run on
   a host thread that outlives the dlclose, as a game engine's job threads do: the .NET runtime attached
   that thread and left thread-exit work pointing into the library, so when the library was really unmapped
   the thread's exit crashed the process with SIGSEGV (reproduced here with the library of before the
   fix). It is now linked with -z nodelete: dlclose leaves it mapped and the next dlopen returns the same,
   working instance. Usage: test_unload <path to libcldiffusion.so> <target.json> */
#include "cldiffusion.h"
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef cld_status (*create_fn)(const cld_engine_options*, cld_engine**);
typedef cld_status (*destroy_fn)(cld_engine*);
typedef cld_status (*load_fn)(cld_engine*, const char*, cld_model**);
typedef cld_status (*init_fn)(cld_sample_options*);
typedef cld_status (*sample_fn)(cld_engine*, cld_model*, const cld_sample_options*, uint64_t, float*, size_t);
typedef cld_status (*async_fn)(cld_engine*, cld_model*, const cld_sample_options*, uint64_t, float*, size_t, cld_progress_fn, void*, cld_job**);
typedef cld_status (*job_fn)(cld_job*);
typedef cld_status (*wait_fn)(cld_job*, uint32_t);

enum { N = 4000 };

/* The sampling half of a cycle, on a host thread that stays alive until after the dlclose. */
typedef struct { void* lib; const char* target; float* out; int rc; volatile int used, unloaded; } work;

static int use_library(void* h, const char* target, float* out);

static void* host_thread(void* arg)
{
    work* w = arg;
    w->rc = use_library(w->lib, w->target, w->out);
    w->used = 1;
    while (!w->unloaded) { struct timespec ts = { 0, 1000000 }; nanosleep(&ts, NULL); }
    return NULL;   /* the thread exits after the dlclose: this is where the unmapped library crashed */
}

/* One load-sample-unload cycle; returns 0 on success, fills out with the samples. */
static int cycle(const char* lib, const char* target, float* out, int round)
{
    void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    work w = { h, target, out, 1, 0, 0 };
    pthread_t t;
    if (pthread_create(&t, NULL, host_thread, &w)) { fprintf(stderr, "pthread_create failed\n"); return 1; }
    while (!w.used) { struct timespec ts = { 0, 1000000 }; nanosleep(&ts, NULL); }
    int rc = dlclose(h);
    w.unloaded = 1;
    pthread_join(t, NULL);
    printf("round %d: sampled %d on a host thread, dlclose -> %d, thread exited\n", round, N, rc);
    return w.rc != 0 || rc != 0;
}

static int use_library(void* h, const char* target, float* out)
{
    create_fn create = (create_fn)dlsym(h, "cld_engine_create");
    destroy_fn destroy = (destroy_fn)dlsym(h, "cld_engine_destroy");
    load_fn load = (load_fn)dlsym(h, "cld_model_load");
    init_fn init = (init_fn)dlsym(h, "cld_sample_options_init");
    sample_fn sample = (sample_fn)dlsym(h, "cld_sample");
    async_fn sample_async = (async_fn)dlsym(h, "cld_sample_async");
    job_fn cancel = (job_fn)dlsym(h, "cld_job_cancel"), jdestroy = (job_fn)dlsym(h, "cld_job_destroy");
    wait_fn wait = (wait_fn)dlsym(h, "cld_job_wait");
    if (!create || !destroy || !load || !init || !sample || !sample_async || !cancel || !jdestroy || !wait) { fprintf(stderr, "dlsym failed\n"); return 1; }
    cld_engine* e = NULL;
    cld_model* m = NULL;
    cld_sample_options o;
    cld_engine_options eo = { sizeof eo };
    eo.device = "cpu";   /* the CPU backend keeps the test quick; its thread pool is the runtime's */
    if (create(&eo, &e) || load(e, target, &m) || init(&o)) { fprintf(stderr, "create/load failed\n"); return 1; }
    o.seed = 99;
    if (sample(e, m, &o, N, out, (size_t)N * 2)) { fprintf(stderr, "sample failed\n"); return 1; }
    /* leave runtime threads busy: a job cancelled just before unloading */
    static float scratch[20000 * 2];
    cld_job* j = NULL;
    o.steps = 400;
    if (sample_async(e, m, &o, 20000, scratch, 20000 * 2, NULL, NULL, &j)) { fprintf(stderr, "async failed\n"); return 1; }
    cancel(j);
    wait(j, CLD_WAIT_INFINITE);
    jdestroy(j);
    destroy(e);
    return 0;
}

int main(int argc, char** argv)
{
    if (argc < 3) { fprintf(stderr, "usage: test_unload <libcldiffusion.so> <target.json>\n"); return 2; }
    static float first[N * 2], again[N * 2];
    if (cycle(argv[1], argv[2], first, 0)) return 1;
    /* the unmapped-library crash came within ~200 ms of dlclose: give it time to happen */
    struct timespec ts = { 0, 500000000 };
    nanosleep(&ts, NULL);
    for (int round = 1; round <= 3; round++) {
        if (cycle(argv[1], argv[2], again, round)) return 1;
        nanosleep(&ts, NULL);
        if (memcmp(first, again, sizeof first) != 0) { fprintf(stderr, "round %d: different samples after reload\n", round); return 1; }
    }
    int finite = 1;
    for (int i = 0; i < N * 2; i++) finite &= isfinite(first[i]) != 0;
    if (!finite) { fprintf(stderr, "non-finite samples\n"); return 1; }
    printf("test_unload: 4 dlopen/sample/dlclose cycles, same samples each time, no crash\n");
    return 0;
}
