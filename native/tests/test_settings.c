/*
 * Every sampler option by name (ABI 3): a C host sets EVERY key the library lists to a non-default value through
 * cld_sample_settings_set and gets the cldiff CLI's samples byte for byte: the test runs `cldiff sample` with the
 * same keys as --KEY VALUE flags (one table below drives both) and compares the .npy it writes with cld_sample's
 * output. Also: unknown keys and bad values are refused naming the key and the accepted values, get reads back,
 * a struct of an earlier ABI size still works, and the handle is checked like the others. Also the ABI 2 struct
 * fields themselves, each at a distinct non-default value, against the CLI (a swapped pair in the mapping fails).
 *
 *     test_settings target.json path/to/cldiff work-dir
 */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct { const char* key; const char* value; } setting;

/* Every key, each at a value other than its default ("on" for a switch: the CLI flag without a value). The
   values keep every run valid for the three samplers below. */
static const setting g_all[] = {
    { "steps", "9" },            { "horizon", "6.5" },          { "delta", "0.002" },
    { "grid", "logsnr" },        { "max-step", "0.9" },         { "midpoint", "1" },
    { "x0-start", "fresh" },     { "parallel-corrector", "block" }, { "corrector-rounds", "2" },
    { "lipschitz", "3" },        { "block", "0.7" },            { "corrector", "rmuld" },
    { "corrector-steps", "3" },  { "corrector-time", "0.3" },   { "gamma", "1.7" },
    { "fixed-corrector", "on" }, { "lipschitz-cap", "500" },    { "low-variance", "on" },
    { "subwindows", "3" },       { "picard", "2" },             { "window", "5" },
    { "tol", "0.01" },           { "denoise", "on" },           { "order", "2" },
    { "unipc-variant", "bh1" },  { "full-order-final", "on" },  { "clamp-times", "on" },
};
enum { N_ALL = sizeof g_all / sizeof *g_all };

/* The runs: sampler, seed, first, n, and a few keys set again after the full set (a later set replaces the value). */
typedef struct { const char* sampler; uint64_t seed, first, n; setting extra[2]; } run_case;
static const run_case g_cases[] = {
    { "rm-x0", 21, 7, 150, { { NULL, NULL } } },                                   /* x0-start fresh, midpoint 1 */
    { "rm-x0", 22, 0, 120, { { "x0-start", "line" }, { "grid", "uniform" } } },    /* the multistep line */
    { "prm-x0-pc", 23, 40, 100, { { NULL, NULL } } },                               /* block placement, 2 corrector rounds */
    { "prm-x0-pc", 24, 0, 90, { { "midpoint", "2" }, { "parallel-corrector", "end" } } },
    { "rm-pc", 25, 3, 140, { { NULL, NULL } } },                                    /* rmuld corrector, low variance, fixed L */
    { "unipc", 26, 5, 110, { { NULL, NULL } } },                                    /* order 2, bh1, full order at the end */
    { "dpmpp-3m", 27, 0, 100, { { "full-order-final", "off" }, { NULL, NULL } } },
};

static int is_on(const char* v) { return strcmp(v, "on") == 0; }

/* The samples of `path`, a float32 C-order .npy of shape [n, d], into out[0 .. len): 1 if it holds exactly len floats. */
static int read_npy(const char* path, float* out, size_t len)
{
    FILE* f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return 0; }
    unsigned char head[12];
    int ok = fread(head, 1, 10, f) == 10 && memcmp(head, "\x93NUMPY", 6) == 0;
    size_t hlen = 0;
    if (ok && head[6] == 1) hlen = head[8] | (size_t)head[9] << 8;
    else if (ok && fread(head + 10, 1, 2, f) == 2) hlen = head[8] | (size_t)head[9] << 8 | (size_t)head[10] << 16 | (size_t)head[11] << 24;
    else ok = 0;
    char* dict = ok ? calloc(hlen + 1, 1) : NULL;
    ok = ok && dict && fread(dict, 1, hlen, f) == hlen && strstr(dict, "'<f4'") && strstr(dict, "'fortran_order': False");
    if (!ok) fprintf(stderr, "%s: not a float32 C-order .npy (header: %s)\n", path, dict ? dict : "?");
    free(dict);
    ok = ok && fread(out, sizeof(float), len, f) == len && fgetc(f) == EOF;
    fclose(f);
    return ok;
}

static void put(char* cmd, size_t size, const char* fmt, const char* a, const char* b)
{
    size_t used = strlen(cmd);
    snprintf(cmd + used, size - used, fmt, a, b);
}

/* Runs the CLI command `cmd`, which writes `out`, and checks its len floats equal `got` bit for bit; `what` names the
   case in the printed line. */
static void expect_cli_samples(const char* cmd, const char* out, const float* got, float* want, size_t len, const char* what)
{
    printf("%s\n", cmd);
    int rc_cli = system(cmd);
    EXPECT(rc_cli == 0);
    int read = rc_cli == 0 && read_npy(out, want, len);
    EXPECT(read);
    if (!read) return;
    size_t diff = 0;
    for (size_t i = 0; i < len; i++) diff += memcmp(&got[i], &want[i], sizeof(float)) != 0;
    printf("  %s: %zu/%zu floats differ between cld_sample and cldiff sample\n", what, diff, len);
    EXPECT(diff == 0);
}

int main(int argc, char** argv)
{
    if (argc < 4) { fprintf(stderr, "usage: test_settings target.json cldiff work-dir\n"); return 2; }
    const char *target = argv[1], *cli = argv[2], *dir = argv[3];

    /* the library's keys are exactly the table above (so a new option fails here until this test sets it) */
    uint32_t count = 0;
    EXPECT_STATUS(CLD_OK, cld_sample_setting_count(&count));
    EXPECT(count == N_ALL);
    for (uint32_t i = 0; i < count; i++) {
        char name[64];
        EXPECT_STATUS(CLD_OK, cld_sample_setting_name(i, name, sizeof name));
        int found = 0;
        for (int k = 0; k < N_ALL; k++) found |= strcmp(g_all[k].key, name) == 0;
        if (!found) fprintf(stderr, "key '%s' is not set by this test\n", name);
        EXPECT(found);
    }
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_setting_name(count, NULL, 0));

    cld_sample_settings* s = NULL;
    REQUIRE_OK(cld_sample_settings_create(&s));

    /* every value differs from the default the library reports before it is set, and reads back after */
    for (int k = 0; k < N_ALL; k++) {
        char before[64], after[64];
        EXPECT_STATUS(CLD_OK, cld_sample_settings_get(s, g_all[k].key, before, sizeof before));
        EXPECT_STATUS(CLD_OK, cld_sample_settings_set(s, g_all[k].key, g_all[k].value));
        EXPECT_STATUS(CLD_OK, cld_sample_settings_get(s, g_all[k].key, after, sizeof after));
        EXPECT(strcmp(before, g_all[k].value) != 0);
        EXPECT(strcmp(after, g_all[k].value) == 0);
    }

    /* refused, naming the key and what it accepts; the value set before stays */
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_set(s, "x0_start", "fresh"));
    EXPECT(strstr(cld_last_error(), "'x0_start'") && strstr(cld_last_error(), "x0-start"));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_set(s, "x0-start", "midway"));
    EXPECT(strstr(cld_last_error(), "x0-start") && strstr(cld_last_error(), "'midway'") && strstr(cld_last_error(), "line or fresh"));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_set(s, "parallel-corrector", "middle"));
    EXPECT(strstr(cld_last_error(), "parallel-corrector") && strstr(cld_last_error(), "end or block"));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_set(s, "corrector-rounds", "0"));
    EXPECT(strstr(cld_last_error(), "corrector-rounds") && strstr(cld_last_error(), "1..4096"));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_set(s, "midpoint", "3"));
    EXPECT(strstr(cld_last_error(), "midpoint") && strstr(cld_last_error(), "1 or 2"));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_set(s, "steps", "many"));
    EXPECT(strstr(cld_last_error(), "steps") && strstr(cld_last_error(), "'many'") && strstr(cld_last_error(), "integer"));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_set(s, NULL, "1"));
    {
        char v[16];
        EXPECT_STATUS(CLD_OK, cld_sample_settings_get(s, "x0-start", v, sizeof v));
        EXPECT(strcmp(v, "fresh") == 0);
        EXPECT_STATUS(CLD_ERR_BUFFER_TOO_SMALL, cld_sample_settings_get(s, "x0-start", v, 3));
        EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_get(s, "nope", v, sizeof v));
    }
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_create(NULL));
    EXPECT_STATUS(CLD_ERR_INVALID_ARGUMENT, cld_sample_settings_set(NULL, "steps", "3"));

    cld_engine* e = NULL;
    cld_model* m = NULL;
    cld_engine_options eo = { sizeof eo };
    eo.device = "cpu"; /* the CLI below runs on the CPU backend too */
    REQUIRE_OK(cld_engine_create(&eo, &e));
    REQUIRE_OK(cld_model_load(e, target, &m));
    uint32_t d = 0;
    REQUIRE_OK(cld_model_dim(m, &d));

    /* a settings handle is not an engine, and a destroyed one is stale */
    {
        cld_sample_settings* gone = NULL;
        REQUIRE_OK(cld_sample_settings_create(&gone));
        REQUIRE_OK(cld_sample_settings_destroy(gone));
        cld_sample_options o;
        cld_sample_options_init(&o);
        o.settings = gone;
        float tmp[2 * 8];
        EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_sample(e, m, &o, 8, tmp, 16));
        EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_sample_settings_set(gone, "steps", "3"));
        EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_sample_settings_set((cld_sample_settings*)e, "steps", "3"));
        EXPECT_STATUS(CLD_OK, cld_sample_settings_destroy(NULL));
    }

    for (size_t c = 0; c < sizeof g_cases / sizeof *g_cases; c++) {
        const run_case* rc = &g_cases[c];
        size_t len = (size_t)rc->n * d;
        float* got = malloc(len * sizeof(float));
        float* want = malloc(len * sizeof(float));
        float* plain = malloc(len * sizeof(float));

        cld_sample_settings* cs = NULL;
        REQUIRE_OK(cld_sample_settings_create(&cs));
        for (int k = 0; k < N_ALL; k++) EXPECT_STATUS(CLD_OK, cld_sample_settings_set(cs, g_all[k].key, g_all[k].value));
        for (int k = 0; k < 2 && rc->extra[k].key; k++) EXPECT_STATUS(CLD_OK, cld_sample_settings_set(cs, rc->extra[k].key, rc->extra[k].value));

        cld_sample_options o;
        cld_sample_options_init(&o);
        o.sampler = rc->sampler;
        o.seed = rc->seed;
        o.first = rc->first;
        o.steps = 30; /* overridden by the settings' steps */
        o.settings = cs;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, rc->n, got, len));

        /* the same call through an ABI 2 struct (168 bytes, no settings field) ignores the settings */
        o.struct_size = 168;
        EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, rc->n, plain, len));
        EXPECT(memcmp(got, plain, len * sizeof(float)) != 0);
        o.struct_size = sizeof o;

        /* the CLI with the same options as flags: every key of g_all, then the case's own (the CLI refuses a flag
           given twice, so a key set again is passed once, with its last value) */
        char out[1024], cmd[8192];
        snprintf(out, sizeof out, "%s/settings_case%zu.npy", dir, c);
        remove(out);
        snprintf(cmd, sizeof cmd, "'%s' sample --device cpu --quiet --target '%s' --sampler %s --seed %llu --first %llu --n %llu --out '%s'",
                 cli, target, rc->sampler, (unsigned long long)rc->seed, (unsigned long long)rc->first, (unsigned long long)rc->n, out);
        for (int k = 0; k < N_ALL; k++) {
            const char* v = g_all[k].value;
            for (int x = 0; x < 2 && rc->extra[x].key; x++)
                if (strcmp(rc->extra[x].key, g_all[k].key) == 0) v = rc->extra[x].value;
            if (is_on(v)) /* a switch: the CLI flag alone */
                put(cmd, sizeof cmd, " --%s%s", g_all[k].key, "");
            else
                put(cmd, sizeof cmd, " --%s %s", g_all[k].key, v);
        }
        char what[128];
        snprintf(what, sizeof what, "%-10s seed %llu [%llu, +%llu)", rc->sampler,
                 (unsigned long long)rc->seed, (unsigned long long)rc->first, (unsigned long long)rc->n);
        expect_cli_samples(cmd, out, got, want, len, what);
        int finite = 1;
        for (size_t i = 0; i < len; i++) finite &= isfinite(got[i]) != 0;
        EXPECT(finite);
        cld_sample_settings_destroy(cs);
        free(got);
        free(want);
        free(plain);
    }

    /* The ABI 2 struct fields, every one at a non-default value and each value distinct from the fields of the same
       type (so two swapped fields in the library's mapping change the samples), against the CLI with the matching
       flags: rm-pc reads the grid, horizon and corrector fields, prm-pc the sub-windows and Picard rounds, picard the
       window and tolerance. */
    {
        static const char* structSamplers[] = { "rm-pc", "prm-pc", "picard" };
        for (size_t c = 0; c < sizeof structSamplers / sizeof *structSamplers; c++) {
            enum { SN = 96 };
            size_t len = (size_t)SN * d;
            float* got = malloc(len * sizeof(float));
            float* want = malloc(len * sizeof(float));
            cld_sample_options o;
            cld_sample_options_init(&o);
            o.sampler = structSamplers[c];
            o.seed = 31 + c;
            o.first = 2;
            o.steps = 9;
            o.horizon = 6.5;
            o.delta = 0.002;
            o.corrector_steps = 3;
            o.sub_windows = 5;
            o.corrector_time = 0.3;
            o.gamma = 1.7;
            o.picard_rounds = 2;
            o.window = 6;
            o.tolerance = 0.01;
            o.grid = "uniform";
            o.lipschitz = 3;
            o.block_length = 0.7;
            o.corrector = "rmuld";
            o.low_variance = 1;
            o.batch = 40;
            o.max_step = 0.9;
            o.denoise = 1;
            o.fixed_corrector = 1;
            EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, SN, got, len));
            char out[1024], cmd[8192];
            snprintf(out, sizeof out, "%s/struct_case%zu.npy", dir, c);
            remove(out);
            snprintf(cmd, sizeof cmd, "'%s' sample --device cpu --quiet --target '%s' --sampler %s --seed %llu --first 2 --n %d "
                     "--out '%s' --batch 40 --steps 9 --horizon 6.5 --delta 0.002 --corrector-steps 3 --subwindows 5 "
                     "--corrector-time 0.3 --gamma 1.7 --picard 2 --window 6 --tol 0.01 --grid uniform --lipschitz 3 --block 0.7 "
                     "--corrector rmuld --low-variance --max-step 0.9 --denoise --fixed-corrector",
                     cli, target, structSamplers[c], (unsigned long long)(31 + c), (int)SN, out);
            char what[64];
            snprintf(what, sizeof what, "struct fields, %-7s", structSamplers[c]);
            expect_cli_samples(cmd, out, got, want, len, what);
            free(got);
            free(want);
        }
    }

    /* the settings outlive nothing: destroying them after use is fine, and a second destroy is an error */
    EXPECT_STATUS(CLD_OK, cld_sample_settings_destroy(s));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_sample_settings_destroy(s));
    cld_engine_destroy(e);
    return test_summary("test_settings");
}
