/*
 * Same samples through every path: sync == async; samples [first, first + n) of one call equal the same
 * slice of a bigger call (batch independence through the ABI); batch size and thread count do not matter;
 * and, when given a reference directory written by the .NET API (native/reference), the library's samples
 * equal SampleRun.Run's for the same seed.
 *
 *     test_consistency target.json [reference-dir]
 */
#include "testutil.h"
#include <math.h>
#include <stdlib.h>

static const char* g_target;

static int same(const float* a, const float* b, size_t n, const char* what)
{
    size_t diff = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            diff++;
            double dd = fabs((double)a[i] - b[i]);
            if (dd > worst || isnan(dd)) worst = dd;
        }
    printf("  %-58s %zu/%zu floats differ (max |diff| %g)\n", what, diff, n, worst);
    return diff == 0;
}

/* Reference files are written by native/reference: ref_<sampler>_<seed>_<first>_<n>.bin, float32 LE. */
typedef struct { const char* sampler; uint64_t seed, first, n; uint32_t steps; } ref_case;
static const ref_case g_refs[] = {
    { "rm-pc", 42, 0, 500, 40 },
    { "rm-pc", 42, 123, 77, 40 },
    { "ei", 7, 0, 300, 25 },
    { "prm-pc", 3, 10, 200, 10 },
    { "dpmpp-2m", 11, 0, 256, 20 },
    { "picard", 5, 0, 128, 16 },
    { "heun", 9, 1000, 64, 16 },
    { "rm-x0", 13, 5, 96, 12 },
};

static int compare_reference(cld_engine* e, cld_model* m, const char* dir)
{
    for (size_t c = 0; c < sizeof g_refs / sizeof *g_refs; c++) {
        const ref_case* rc = &g_refs[c];
        char path[1024];
        snprintf(path, sizeof path, "%s/ref_%s_%llu_%llu_%llu.bin", dir, rc->sampler, (unsigned long long)rc->seed,
                 (unsigned long long)rc->first, (unsigned long long)rc->n);
        FILE* f = fopen(path, "rb");
        EXPECT(f != NULL);
        if (!f) { fprintf(stderr, "missing reference %s\n", path); continue; }
        size_t len = (size_t)rc->n * 2;
        float* want = malloc(len * sizeof(float));
        float* got = malloc(len * sizeof(float));
        EXPECT(fread(want, sizeof(float), len, f) == len);
        fclose(f);
        cld_sample_options o;
        cld_sample_options_init(&o);
        o.sampler = rc->sampler;
        o.seed = rc->seed;
        o.first = rc->first;
        o.steps = rc->steps;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, rc->n, got, len));
        char what[200];
        snprintf(what, sizeof what, ".NET SampleRun.Run vs ABI, %s seed %llu [%llu, +%llu)", rc->sampler,
                 (unsigned long long)rc->seed, (unsigned long long)rc->first, (unsigned long long)rc->n);
        EXPECT(same(want, got, len, what));
        free(want);
        free(got);
    }
    return 0;
}

int main(int argc, char** argv)
{
    g_target = argc > 1 ? argv[1] : "target2d.json";
    cld_engine *e = NULL, *e1 = NULL;
    cld_model *m = NULL, *m1 = NULL;
    /* The CPU backend on both engines: the .NET reference is written with CpuBackend, and bit-identity across
       thread counts is a property of that backend (an OpenCL device agrees to float rounding: test_model). */
    cld_engine_options cpu_all = { sizeof cpu_all };
    cpu_all.device = "cpu";
    cld_engine_options one = cpu_all;
    one.threads = 1;
    REQUIRE_OK(cld_engine_create(&cpu_all, &e));
    REQUIRE_OK(cld_engine_create(&one, &e1));
    REQUIRE_OK(cld_model_load(e, g_target, &m));
    REQUIRE_OK(cld_model_load(e1, g_target, &m1));

    const char* samplers[] = { "rm-pc", "ei", "prm-pc", "picard", "dpmpp-2m" };
    enum { N = 3000, D = 2, FIRST = 1234, SUB = 500 };
    float* all = malloc(sizeof(float) * N * D);
    float* other = malloc(sizeof(float) * N * D);
    for (size_t s = 0; s < sizeof samplers / sizeof *samplers; s++) {
        printf("%s:\n", samplers[s]);
        cld_sample_options o;
        cld_sample_options_init(&o);
        o.sampler = samplers[s];
        o.steps = 16;
        o.seed = 99 + s;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, all, N * D));

        cld_job* j = NULL;
        memset(other, 0, sizeof(float) * N * D);
        EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, N, other, N * D, NULL, NULL, &j));
        EXPECT_STATUS(CLD_OK, cld_job_wait(j, CLD_WAIT_INFINITE));
        EXPECT_STATUS(CLD_OK, cld_job_destroy(j));
        EXPECT(same(all, other, N * D, "sync vs async"));

        /* every sampler, picard included (its tolerance is per sample: Samplers/PicardBatchTests.cs), gives each sample the same
           values whatever the slice or the batch it is computed in */
        o.first = FIRST;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, SUB, other, SUB * D));
        EXPECT(same(all + FIRST * D, other, SUB * D, "first=1234 n=500 vs slice of [0, 3000)"));
        o.first = 0;

        o.batch = 77;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, other, N * D));
        EXPECT(same(all, other, N * D, "batch 77 vs default batch"));
        o.batch = 0;

        EXPECT_STATUS(CLD_OK, cld_sample(e1, m1, &o, N, other, N * D));
        EXPECT(same(all, other, N * D, "1 thread vs all threads"));

        o.seed += 1000;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, other, N * D));
        EXPECT(memcmp(all, other, sizeof(float) * N * D) != 0); /* another seed, other samples */
    }

    if (argc > 2) {
        printf("reference (.NET API) in %s:\n", argv[2]);
        compare_reference(e, m, argv[2]);
    } else {
        printf("no reference directory given: .NET comparison skipped\n");
    }

    cld_engine_destroy(e);
    cld_engine_destroy(e1);
    free(all);
    free(other);
    return test_summary("test_consistency");
}
