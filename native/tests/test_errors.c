/* Every bad input gets the right status and a message, and nothing takes the host down. */
#include "testutil.h"
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/stat.h>

static char g_dir[256];

static const char* write_file(const char* name, const void* data, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE* f = fopen(path, "wb");
    if (!f) return NULL;
    fwrite(data, 1, len, f);
    fclose(f);
    return path;
}
#define WRITE_TEXT(name, text) write_file(name, text, strlen(text))

/* callback that tries forbidden re-entrant calls on its own job */
typedef struct { cld_job* volatile self; volatile int tried; cld_status wait_st, destroy_st, cancel_st; } reentry;
static void reenter(void* user, float p)
{
    (void)p;
    reentry* r = user;
    if (r->tried || r->self == NULL) return;
    r->wait_st = cld_job_wait(r->self, CLD_WAIT_INFINITE);
    r->destroy_st = cld_job_destroy(r->self);
    r->cancel_st = cld_job_cancel(r->self); /* allowed */
    r->tried = 1;
}

int main(int argc, char** argv)
{
    const char* target = argc > 1 ? argv[1] : "target2d.json";
    snprintf(g_dir, sizeof g_dir, "/tmp/cld_test_errors_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }

    /* devices */
    uint32_t count = 0;
    char name[64];
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_device_count(NULL));
    EXPECT_STATUS(CLD_OK, cld_device_count(&count));
    EXPECT(count >= 1);
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_device_name(count, name, sizeof name));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_device_name(0, NULL, 16));
    EXPECT_STATUS(CLD_ERR_BUFFER_TOO_SMALL, cld_device_name(0, NULL, 0));
    EXPECT_STATUS(CLD_ERR_BUFFER_TOO_SMALL, cld_device_name(0, name, 2));
    EXPECT(strlen(name) == 1); /* truncated, NUL-terminated */
    EXPECT_STATUS(CLD_OK, cld_device_name(0, name, sizeof name));
    EXPECT(strcmp(name, "cpu") == 0);

    /* engine */
    cld_engine* e = (cld_engine*)0x1;
    cld_engine_options eo = { sizeof eo };
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_engine_create(&eo, NULL));
    eo.struct_size = 24;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_engine_create(&eo, &e));
    EXPECT(e == NULL);
    eo.struct_size = sizeof eo;
    eo.flags = 1;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_engine_create(&eo, &e));
    eo.flags = 0;
    eo.device = "opencl:7";
    EXPECT_STATUS(CLD_ERR_DEVICE, cld_engine_create(&eo, &e));
    eo.device = "cpu";
    eo.threads = 2;
    EXPECT_STATUS(CLD_OK, cld_engine_create(&eo, &e));
    cld_engine* e2 = NULL;
    EXPECT_STATUS(CLD_OK, cld_engine_create(NULL, &e2));

    /* model loading */
    cld_model* m = (cld_model*)0x1;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_load(e, target, NULL));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_load(e, NULL, &m));
    EXPECT(m == NULL);
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_load(e, "", &m));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_load(NULL, target, &m));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_load((cld_engine*)(uintptr_t)0xdeadbeef, target, &m));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_load((cld_engine*)&eo, target, &m)); /* a real pointer, not a handle */
    EXPECT_STATUS(CLD_ERR_IO, cld_model_load(e, "/nonexistent/target.json", &m));
    EXPECT_STATUS(CLD_ERR_IO, cld_model_load(e, g_dir, &m));
    EXPECT_STATUS(CLD_ERR_FORMAT, cld_model_load(e, WRITE_TEXT("bad.json", "{ \"weights\": [1.0], "), &m));
    EXPECT_STATUS(CLD_ERR_FORMAT, cld_model_load(e, WRITE_TEXT("sum.json", "{\"weights\":[0.5,0.6],\"means\":[[0],[1]],\"variances\":[[1],[1]]}"), &m));
    EXPECT_STATUS(CLD_ERR_FORMAT, cld_model_load(e, WRITE_TEXT("var.json", "{\"weights\":[1],\"means\":[[0]],\"variances\":[[-1]]}"), &m));
    EXPECT_STATUS(CLD_ERR_FORMAT, cld_model_load(e, WRITE_TEXT("missing.json", "{\"weights\":[1],\"means\":[[0]]}"), &m));
    EXPECT_STATUS(CLD_ERR_FORMAT, cld_model_load(e, WRITE_TEXT("text.txt", "hello, not a model\n"), &m));
    EXPECT_STATUS(CLD_ERR_FORMAT, cld_model_load(e, WRITE_TEXT("empty.json", ""), &m));
    {
        unsigned char st[64] = { 40, 0, 0, 0, 0, 0, 0, 0, '{', '"', '_', '_', 'm', 'e', 't', 'a', '_', '_', '"', ':', '{', '}', '}' };
        EXPECT_STATUS(CLD_ERR_FORMAT, cld_model_load(e, write_file("mlp.bin", st, sizeof st), &m));
        EXPECT(strstr(cld_last_error(), "safetensors") != NULL);
        EXPECT_STATUS(CLD_ERR_FORMAT, cld_model_load(e, write_file("mlp.safetensors", st, sizeof st), &m));
    }
    EXPECT(m == NULL);
    EXPECT_STATUS(CLD_OK, cld_model_load(e, target, &m));
    cld_model* m2 = NULL;
    EXPECT_STATUS(CLD_OK, cld_model_load(e2, target, &m2));

    /* wrong kinds of handle */
    uint32_t d = 0;
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_dim((cld_model*)e, &d));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_engine_destroy((cld_engine*)m));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_job_poll((cld_job*)m, NULL, NULL));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_dim(m, NULL));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_model_dim(NULL, &d));
    EXPECT_STATUS(CLD_OK, cld_model_dim(m, &d));
    EXPECT(d == 2);

    /* sampling arguments */
    float out[64];
    cld_sample_options o;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_options_init(NULL));
    cld_sample_options_init(&o);
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, 32, out, 64));
    EXPECT_STATUS(CLD_ERR_BUFFER_TOO_SMALL, cld_sample(e, m, &o, 32, out, 63));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, NULL, 64));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 0, out, 64));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, (uint64_t)1 << 40, out, 64));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m2, &o, 32, out, 64)); /* model of another engine */
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_sample(e, (cld_model*)e, &o, 32, out, 64));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_sample((cld_engine*)m, m, &o, 32, out, 64));
    o.struct_size = 120;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);
    o.sampler = "nope";
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);
    o.grid = "cubic";
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);
    o.corrector = "x";
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);
    o.delta = 9.0; /* > T */
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);
    o.horizon = -1;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);
    o.picard_rounds = -5;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);
    o.sub_windows = 5000;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);
    o.steps = 0x80000000u;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);
    o.first = ((uint64_t)1 << 32) - 8; /* first + n past 2^32 */
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, 32, out, 64));
    o.first = ((uint64_t)1 << 32) - 32; /* exactly up to 2^32: fine */
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, 32, out, 64));
    cld_sample_options_init(&o);

    /* async argument errors come back from cld_sample_async itself; *job stays NULL */
    cld_job* j = (cld_job*)0x1;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_async(e, m, &o, 32, out, 64, NULL, NULL, NULL));
    EXPECT_STATUS(CLD_ERR_BUFFER_TOO_SMALL, cld_sample_async(e, m, &o, 32, out, 10, NULL, NULL, &j));
    EXPECT(j == NULL);
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_job_poll(NULL, NULL, NULL));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_job_wait(NULL, 0));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_job_cancel(NULL));

    /* job lifecycle: timeout, cancel, stale handle */
    enum { BIG = 200000 };
    float* big = malloc(sizeof(float) * BIG * 2);
    o.steps = 200;
    EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, BIG, big, (size_t)BIG * 2, NULL, NULL, &j));
    EXPECT_STATUS(CLD_ERR_TIMEOUT, cld_job_wait(j, 1));
    int done = 1;
    float p = -1;
    EXPECT_STATUS(CLD_OK, cld_job_poll(j, &p, &done));
    EXPECT(done == 0 && p >= 0 && p < 1);
    EXPECT_STATUS(CLD_OK, cld_job_cancel(j));
    EXPECT_STATUS(CLD_ERR_CANCELLED, cld_job_wait(j, CLD_WAIT_INFINITE));
    EXPECT_STATUS(CLD_ERR_CANCELLED, cld_job_poll(j, &p, &done));
    EXPECT(done == 1);
    EXPECT_STATUS(CLD_OK, cld_job_cancel(j)); /* finished: no-op */
    EXPECT_STATUS(CLD_OK, cld_job_destroy(j));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_job_destroy(j));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_job_poll(j, &p, &done));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_job_wait(j, 0));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_job_cancel(j));

    /* destroying a running job cancels it */
    EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, BIG, big, (size_t)BIG * 2, NULL, NULL, &j));
    EXPECT_STATUS(CLD_OK, cld_job_destroy(j));

    /* waiting re-entry from the job's own callback is refused at once (CLD_ERR_WOULD_BLOCK) */
    reentry r = { NULL, 0, CLD_OK, CLD_OK, CLD_OK };
    o.steps = 40;
    EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, 50000, big, (size_t)BIG * 2, reenter, &r, &j));
    r.self = j;
    cld_status st = cld_job_wait(j, CLD_WAIT_INFINITE);
    EXPECT(st == CLD_OK || st == CLD_ERR_CANCELLED);
    printf("  re-entry from callback: tried %d, wait %d, destroy %d, cancel %d\n", r.tried, r.wait_st, r.destroy_st, r.cancel_st);
    if (r.tried) {
        EXPECT(r.wait_st == CLD_ERR_WOULD_BLOCK);
        EXPECT(r.destroy_st == CLD_ERR_WOULD_BLOCK);
        EXPECT(r.cancel_st == CLD_OK);
    }
    EXPECT_STATUS(CLD_OK, cld_job_destroy(j));

    /* stale handles: a destroyed model's slot is reused by the next load, the old handle stays invalid */
    cld_model* old = m;
    EXPECT_STATUS(CLD_OK, cld_model_destroy(m));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_destroy(old));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_dim(old, &d));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_sample(e, old, &o, 32, out, 64));
    EXPECT_STATUS(CLD_OK, cld_model_load(e, target, &m));
    EXPECT(m != old);
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_dim(old, &d));
    EXPECT_STATUS(CLD_OK, cld_model_dim(m, &d));

    /* destroying an engine with a running job: job cancelled, its handle still valid; models go stale */
    o.steps = 200;
    EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, BIG, big, (size_t)BIG * 2, NULL, NULL, &j));
    EXPECT_STATUS(CLD_OK, cld_engine_destroy(e));
    EXPECT_STATUS(CLD_ERR_CANCELLED, cld_job_wait(j, 0));
    EXPECT_STATUS(CLD_OK, cld_job_destroy(j));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_dim(m, &d));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_destroy(m));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_engine_destroy(e));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_load(e, target, &m));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_sample(e, m, &o, 32, out, 64));

    /* last error is per thread and cleared by a successful call */
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_engine_destroy(e));
    EXPECT_STATUS(CLD_OK, cld_model_dim(m2, &d));

    EXPECT_STATUS(CLD_OK, cld_engine_destroy(e2));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_destroy(m2));
    free(big);
    return test_summary("test_errors");
}
