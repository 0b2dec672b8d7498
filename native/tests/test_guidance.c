/* Class-conditional sampling and classifier-free guidance through the ABI (docs/GUIDANCE.md), on a labelled
   Gaussian mixture: class 0 = the two components left of x = 0, class 1 = the one on the right. */
#include "testutil.h"
#include <math.h>
#include <stdlib.h>

enum { N = 400 };

static double mean_x(const float* x, int from, int to)
{
    double s = 0;
    for (int i = from; i < to; i++) s += x[2 * i];
    return s / (to - from);
}

int main(int argc, char** argv)
{
    const char* labelled = argc > 1 ? argv[1] : "target2d_labelled.json";
    const char* plain = argc > 2 ? argv[2] : "target2d.json";
    cld_engine* e = NULL;
    cld_model *m = NULL, *u = NULL;
    cld_engine_options eo = { sizeof eo };
    eo.device = "cpu";
    REQUIRE_OK(cld_engine_create(&eo, &e));
    REQUIRE_OK(cld_model_load(e, labelled, &m));
    REQUIRE_OK(cld_model_load(e, plain, &u));
    float* a = malloc(sizeof(float) * N * 2);
    float* b = malloc(sizeof(float) * N * 2);
    int32_t* labels = malloc(sizeof(int32_t) * N);

    cld_sample_options o;
    cld_sample_options_init(&o);
    EXPECT(o.conditional == 0 && o.class_label == CLD_CLASS_NONE && o.labels == NULL && o.guidance == 0);
    o.sampler = "ei";
    o.seed = 4;

    /* one class for every sample, guided: all land on the class's side */
    for (int c = 0; c < 2; c++) {
        o.conditional = 1;
        o.class_label = c;
        o.guidance = 2;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, a, (size_t)N * 2));
        int right = 0;
        for (int i = 0; i < N; i++) right += (c == 0) == (a[2 * i] < 0);
        printf("class %d, guidance 2: %d of %d on its side\n", c, right, N);
        EXPECT(right >= N * 98 / 100);
    }

    /* per-sample labels follow sample indices: sample i equals the sample drawn with class_label = labels[i]
       (bit for bit, same guidance), also when the call starts at another first sample */
    for (int i = 0; i < N; i++) labels[i] = i % 3 - 1;   /* -1 (unconditional), 0, 1 */
    o.labels = labels;
    o.first = 1000;
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, a, (size_t)N * 2));
    o.labels = NULL;
    int same = 1;
    for (int c = 0; c <= 1; c++) {
        o.class_label = c;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, b, (size_t)N * 2));
        for (int i = 0; i < N; i++)
            if (labels[i] == c && (a[2 * i] != b[2 * i] || a[2 * i + 1] != b[2 * i + 1])) same = 0;
    }
    EXPECT(same);
    EXPECT(mean_x(a, 0, N) < 1.0);

    /* struct_size of the layout before the class fields: unconditional, as before */
    cld_sample_options_init(&o);
    o.sampler = "ei";
    o.struct_size = 128;
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, a, (size_t)N * 2));

    /* bad input is rejected by the call itself */
    cld_sample_options_init(&o);
    o.conditional = 1;
    o.class_label = 2;   /* only classes 0 and 1 */
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, N, a, (size_t)N * 2));
    EXPECT(strstr(cld_last_error(), "class 2") != NULL);
    o.class_label = -3;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, N, a, (size_t)N * 2));
    o.class_label = 0;
    o.guidance = NAN;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, N, a, (size_t)N * 2));
    o.guidance = -1.5;   /* below -1: a negative guidance scale (w = -1, scale 0, is the unconditional model) */
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, N, a, (size_t)N * 2));
    EXPECT(strstr(cld_last_error(), ">= -1") != NULL);
    o.guidance = 1;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, u, &o, N, a, (size_t)N * 2));   /* model without classes */
    EXPECT(strstr(cld_last_error(), "not class-conditional") != NULL);
    cld_sample_options_init(&o);
    o.guidance = 2;   /* guidance without conditional = 1 */
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, N, a, (size_t)N * 2));
    cld_sample_options_init(&o);
    o.conditional = 1;
    labels[7] = 5;
    o.labels = labels;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, N, a, (size_t)N * 2));
    labels[7] = -2;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample(e, m, &o, N, a, (size_t)N * 2));
    cld_job* job = NULL;
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_async(e, m, &o, N, a, (size_t)N * 2, NULL, NULL, &job));
    EXPECT(job == NULL);

    free(a); free(b); free(labels);
    EXPECT_STATUS(CLD_OK, cld_engine_destroy(e));
    return test_summary("guidance");
}
