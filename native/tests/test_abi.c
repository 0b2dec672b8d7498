/* Layout and version: the header's structs must match the C# side ([StructLayout(Explicit)] in
   src/ClDiffusion.Native/Abi.cs uses exactly these offsets and sizes). */
#include "testutil.h"
#include <stddef.h>
#include <math.h>

#define ASSERT_OFFSET(T, f, off) _Static_assert(offsetof(T, f) == (off), #T "." #f " must be at offset " #off)

ASSERT_OFFSET(cld_engine_options, struct_size, 0);
ASSERT_OFFSET(cld_engine_options, flags, 4);
ASSERT_OFFSET(cld_engine_options, device, 8);
ASSERT_OFFSET(cld_engine_options, tuning_file, 16);
ASSERT_OFFSET(cld_engine_options, threads, 24);
ASSERT_OFFSET(cld_engine_options, reserved, 28);
_Static_assert(sizeof(cld_engine_options) == 32, "cld_engine_options is 32 bytes");

ASSERT_OFFSET(cld_sample_options, struct_size, 0);
ASSERT_OFFSET(cld_sample_options, steps, 4);
ASSERT_OFFSET(cld_sample_options, sampler, 8);
ASSERT_OFFSET(cld_sample_options, seed, 16);
ASSERT_OFFSET(cld_sample_options, first, 24);
ASSERT_OFFSET(cld_sample_options, horizon, 32);
ASSERT_OFFSET(cld_sample_options, delta, 40);
ASSERT_OFFSET(cld_sample_options, corrector_steps, 48);
ASSERT_OFFSET(cld_sample_options, sub_windows, 52);
ASSERT_OFFSET(cld_sample_options, corrector_time, 56);
ASSERT_OFFSET(cld_sample_options, gamma, 64);
ASSERT_OFFSET(cld_sample_options, picard_rounds, 72);
ASSERT_OFFSET(cld_sample_options, window, 76);
ASSERT_OFFSET(cld_sample_options, tolerance, 80);
ASSERT_OFFSET(cld_sample_options, grid, 88);
ASSERT_OFFSET(cld_sample_options, lipschitz, 96);
ASSERT_OFFSET(cld_sample_options, block_length, 104);
ASSERT_OFFSET(cld_sample_options, corrector, 112);
ASSERT_OFFSET(cld_sample_options, low_variance, 120);
ASSERT_OFFSET(cld_sample_options, batch, 124);
ASSERT_OFFSET(cld_sample_options, conditional, 128);
ASSERT_OFFSET(cld_sample_options, class_label, 132);
ASSERT_OFFSET(cld_sample_options, labels, 136);
ASSERT_OFFSET(cld_sample_options, guidance, 144);
ASSERT_OFFSET(cld_sample_options, max_step, 152);
ASSERT_OFFSET(cld_sample_options, denoise, 160);
ASSERT_OFFSET(cld_sample_options, fixed_corrector, 164);
ASSERT_OFFSET(cld_sample_options, settings, 168);
_Static_assert(sizeof(cld_sample_options) == 176, "cld_sample_options is 176 bytes (ABI 3)");
_Static_assert(sizeof(cld_status) == 4, "cld_status is an int");

int main(void)
{
    EXPECT(cld_abi_version() == CLD_ABI_VERSION);
    const char* v = cld_version_string();
    EXPECT(v != NULL && strstr(v, "abi 3") != NULL);
    /* the numeric version says the same as the string: "M.m.p" -> M * 1000000 + m * 1000 + p */
    unsigned major = 0, minor = 0, patch = 0;
    EXPECT(v != NULL && sscanf(v, "%u.%u.%u", &major, &minor, &patch) == 3);
    EXPECT(cld_version_number() == major * 1000000u + minor * 1000u + patch);
    EXPECT(v == cld_version_string()); /* static storage */
    printf("version: %s\n", v);
    EXPECT(cld_last_error() != NULL && cld_last_error()[0] == 0);

    /* Round trip through the C# struct: init writes every field at the C# offsets; we read them at the C
       offsets and compare with the documented defaults. Poison first so a missed field shows. */
    cld_sample_options o;
    memset(&o, 0xAB, sizeof o);
    EXPECT_STATUS(CLD_OK, cld_sample_options_init(&o));
    EXPECT(o.struct_size == sizeof(cld_sample_options));
    EXPECT(o.steps == 40);
    EXPECT(o.sampler && strcmp(o.sampler, "rm-pc") == 0);
    EXPECT(o.seed == 0 && o.first == 0);
    EXPECT(o.horizon == 0.0);   /* unset: 8, or the model's trained range */
    EXPECT(o.delta == 0.0);     /* unset: 1e-3, or the model's trained range */
    EXPECT(o.corrector_steps == 4);
    EXPECT(o.sub_windows == 4);
    EXPECT(o.corrector_time == 0); /* 0 = 1/sqrt(L_t), chosen per corrector call */
    EXPECT(o.gamma == 0);          /* 0 = sqrt(L_t) */
    EXPECT(o.picard_rounds == 3);
    EXPECT(o.window == 8);
    EXPECT(o.tolerance == 1e-3);
    EXPECT(o.grid && strcmp(o.grid, "shrinking") == 0);
    EXPECT(o.lipschitz == 2.0);
    EXPECT(o.block_length == 0.5);
    EXPECT(o.corrector && strcmp(o.corrector, "uld") == 0);
    EXPECT(o.low_variance == 0);
    EXPECT(o.batch == 65536);
    EXPECT(o.conditional == 0 && o.class_label == CLD_CLASS_NONE && o.labels == NULL && o.guidance == 0);
    EXPECT(o.max_step == 0);
    EXPECT(o.denoise == 0);
    EXPECT(o.fixed_corrector == 0);
    EXPECT(o.settings == NULL);

    /* the sampler list is the library's registry: the default and every name it lists are accepted */
    uint32_t ns = 0;
    EXPECT_STATUS(CLD_OK, cld_sampler_count(&ns));
    EXPECT(ns >= 9);
    int has_default = 0;
    for (uint32_t i = 0; i < ns; i++) {
        char name[32];
        EXPECT_STATUS(CLD_OK, cld_sampler_name(i, name, sizeof name));
        if (strcmp(name, "rm-pc") == 0) has_default = 1;
    }
    EXPECT(has_default);
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sampler_name(ns, NULL, 0));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sampler_count(NULL));

    /* Fields read at the right offsets by the library: a value placed in each field must be seen. */
    cld_engine* e = NULL;
    cld_engine_options eo = { sizeof eo };
    eo.threads = -3; /* at offset 24: rejected with a message naming threads */
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_engine_create(&eo, &e));
    EXPECT(strstr(cld_last_error(), "threads") != NULL);
    eo.threads = 0;
    eo.device = "no-such-device"; /* at offset 8 */
    EXPECT_STATUS(CLD_ERR_DEVICE, cld_engine_create(&eo, &e));
    EXPECT(strstr(cld_last_error(), "no-such-device") != NULL);
    eo.device = NULL;
    eo.tuning_file = "/nonexistent/tuning.json"; /* at offset 16 */
    EXPECT_STATUS(CLD_ERR_IO, cld_engine_create(&eo, &e));
    EXPECT(strstr(cld_last_error(), "tuning") != NULL);
    EXPECT(e == NULL);

    /* the engine names its device */
    eo.tuning_file = NULL;
    eo.device = "cpu";
    eo.threads = 1;
    EXPECT_STATUS(CLD_OK, cld_engine_create(&eo, &e));
    char dev[128];
    EXPECT_STATUS(CLD_OK, cld_engine_device_name(e, dev, sizeof dev));
    EXPECT(strstr(dev, "cpu") != NULL && strstr(dev, "1 thread") != NULL);
    EXPECT_STATUS(CLD_ERR_BUFFER_TOO_SMALL, cld_engine_device_name(e, dev, 3));
    EXPECT(strlen(dev) == 2);
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_engine_device_name(NULL, dev, sizeof dev));
    EXPECT_STATUS(CLD_OK, cld_engine_destroy(e));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_engine_device_name(e, dev, sizeof dev));
    return test_summary("test_abi");
}
