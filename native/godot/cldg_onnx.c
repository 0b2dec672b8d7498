/*
 * cldg_onnx.c - ONNX score models for the Godot plugin: the graph runs in ONNX Runtime's C API and reaches the
 * samplers through cld_model_from_callback (the C library itself reads no .onnx: it does not depend on ONNX Runtime,
 * docs/MODELS.md).
 *
 * The same contract as the .NET OnnxScoreModel (src/ClDiffusion.Onnx): inputs x [B, d] and t [B] (float32, B
 * dynamic, d fixed), one float32 output [B, d]; what the output is comes from the metadata key
 * cldiffusion.prediction (score, eps, x0, v), which must be there. Only this project's own time convention
 * (cldiffusion.convention absent or "ours") is accepted: the other conventions are a .NET HostScoreModel feature the
 * C ABI does not expose, so such a file is refused with a message saying so.
 *
 * ONNX Runtime is not linked: libonnxruntime.so is opened at the first .onnx load, from $CLD_ONNXRUNTIME, else next
 * to the plugin, else by name. Built only with -DCLDG_ONNX and the ONNX Runtime headers (CMake finds them in the
 * Microsoft.ML.OnnxRuntime NuGet package the CLI restores); without, cldg_onnx_load says the plugin has no ONNX.
 */
#define _GNU_SOURCE
#include "cldg_onnx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CLDG_ONNX

int cldg_onnx_built(void) { return 0; }

cld_status cldg_onnx_load(cld_engine* engine, const char* path, cld_model** out, cldg_onnx** ctx, char* err, size_t errlen)
{
    (void)engine;
    *out = NULL;
    *ctx = NULL;
    snprintf(err, errlen, "%s: this build of the plugin has no ONNX support (built without the ONNX Runtime headers)", path);
    return CLD_ERR_FORMAT;
}

void cldg_onnx_free(cldg_onnx* ctx) { (void)ctx; }

#else

#include <dlfcn.h>
#include <onnxruntime_c_api.h>

struct cldg_onnx {
    OrtSession* session;
    OrtMemoryInfo* mem;
    char* output_name;
    int64_t dim;
    char name[256];
};

static const OrtApi* ort = NULL;
static OrtEnv* ort_env = NULL;

static void put(char* err, size_t errlen, const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int cldg_onnx_built(void) { return 1; }

/* Opens ONNX Runtime once: $CLD_ONNXRUNTIME, else libonnxruntime.so beside this plugin, else the loader's search. */
static int ort_open(char* err, size_t errlen)
{
    if (ort) return 1;
    const char* tried[3] = { getenv("CLD_ONNXRUNTIME"), NULL, "libonnxruntime.so" };
    char beside[4096] = "";
    Dl_info info;
    if (dladdr((void*)ort_open, &info) && info.dli_fname) {
        const char* slash = strrchr(info.dli_fname, '/');
        if (slash) snprintf(beside, sizeof beside, "%.*s/libonnxruntime.so", (int)(slash - info.dli_fname), info.dli_fname);
    }
    tried[1] = beside[0] ? beside : NULL;
    void* lib = NULL;
    const char* why = "";
    for (int i = 0; i < 3 && !lib; i++) {
        if (!tried[i] || !tried[i][0]) continue;
        lib = dlopen(tried[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib) why = dlerror();
    }
    if (!lib) { put(err, errlen, "ONNX Runtime (libonnxruntime.so) cannot be loaded: %s", why); return 0; }
    const OrtApiBase* (*base)(void) = (const OrtApiBase* (*)(void))dlsym(lib, "OrtGetApiBase");
    const OrtApi* api = base ? base()->GetApi(ORT_API_VERSION) : NULL;
    if (!api) {
        put(err, errlen, "ONNX Runtime %s does not offer API version %d (the plugin was built against a newer one)",
            base ? base()->GetVersionString() : "?", ORT_API_VERSION);
        return 0;
    }
    OrtStatus* st = api->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "cldiffusion-godot", &ort_env);
    if (st) {
        put(err, errlen, "ONNX Runtime: %s", api->GetErrorMessage(st));
        api->ReleaseStatus(st);
        return 0;
    }
    ort = api;
    return 1;
}

/* The message of an OrtStatus, released; 1 if there was an error. */
static int failed(OrtStatus* st, char* err, size_t errlen, const char* path, const char* what)
{
    if (!st) return 0;
    put(err, errlen, "%s: ONNX Runtime: %s: %s", path, what, ort->GetErrorMessage(st));
    ort->ReleaseStatus(st);
    return 1;
}

/* Rank and dimensions of a session input/output (index i), and its element type; 0 on an ONNX Runtime error. */
static int shape_of(OrtSession* s, int output, size_t i, int64_t* dims, size_t* rank, ONNXTensorElementDataType* type,
                    char* err, size_t errlen, const char* path)
{
    OrtTypeInfo* ti = NULL;
    const OrtTensorTypeAndShapeInfo* tsi = NULL;
    OrtStatus* st = output ? ort->SessionGetOutputTypeInfo(s, i, &ti) : ort->SessionGetInputTypeInfo(s, i, &ti);
    if (failed(st, err, errlen, path, "type info")) return 0;
    enum ONNXType ot;
    int ok = !failed(ort->GetOnnxTypeFromTypeInfo(ti, &ot), err, errlen, path, "type");
    if (ok && ot != ONNX_TYPE_TENSOR) {
        put(err, errlen, "%s: every input and the output must be a float32 tensor", path);
        ok = 0;
    }
    ok = ok && !failed(ort->CastTypeInfoToTensorInfo(ti, &tsi), err, errlen, path, "tensor info");
    ok = ok && !failed(ort->GetTensorElementType(tsi, type), err, errlen, path, "element type");
    ok = ok && !failed(ort->GetDimensionsCount(tsi, rank), err, errlen, path, "rank");
    if (ok && *rank > 4) *rank = 4;
    ok = ok && !failed(ort->GetDimensions(tsi, dims, *rank), err, errlen, path, "dimensions");
    ort->ReleaseTypeInfo(ti);
    return ok;
}

static int32_t run_batch(void* user, int32_t rows, int32_t dim, const float* x, const float* t, float* out)
{
    cldg_onnx* m = user;
    int64_t xs[2] = { rows, dim }, ts[1] = { rows };
    OrtValue *xv = NULL, *tv = NULL, *ov = NULL;
    size_t n = (size_t)rows * (size_t)dim;
    OrtStatus* st = ort->CreateTensorWithDataAsOrtValue(m->mem, (void*)x, n * sizeof(float), xs, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &xv);
    if (!st) st = ort->CreateTensorWithDataAsOrtValue(m->mem, (void*)t, (size_t)rows * sizeof(float), ts, 1, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &tv);
    if (!st) st = ort->CreateTensorWithDataAsOrtValue(m->mem, out, n * sizeof(float), xs, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &ov);
    if (!st) {
        const char* in_names[2] = { "x", "t" };
        const OrtValue* ins[2] = { xv, tv };
        const char* out_names[1] = { m->output_name };
        st = ort->Run(m->session, NULL, in_names, ins, 2, out_names, 1, &ov);
    }
    int32_t rc = 0;
    if (st) {
        fprintf(stderr, "cldiffusion-godot: %s: ONNX Runtime failed on a batch of %d rows: %s\n", m->name, rows, ort->GetErrorMessage(st));
        ort->ReleaseStatus(st);
        rc = 1; /* the sampling call ends with CLD_ERR_CALLBACK */
    }
    if (xv) ort->ReleaseValue(xv);
    if (tv) ort->ReleaseValue(tv);
    if (ov) ort->ReleaseValue(ov);
    return rc;
}

void cldg_onnx_free(cldg_onnx* m)
{
    if (!m) return;
    if (m->session) ort->ReleaseSession(m->session);
    if (m->mem) ort->ReleaseMemoryInfo(m->mem);
    free(m->output_name);
    free(m);
}

cld_status cldg_onnx_load(cld_engine* engine, const char* path, cld_model** out, cldg_onnx** ctx, char* err, size_t errlen)
{
    *out = NULL;
    *ctx = NULL;
    FILE* f = fopen(path, "rb");
    if (!f) { put(err, errlen, "ONNX model file not found: %s", path); return CLD_ERR_IO; }
    fclose(f);
    if (!ort_open(err, errlen)) return CLD_ERR_FORMAT;

    cldg_onnx* m = calloc(1, sizeof *m);
    if (!m) { put(err, errlen, "%s: out of memory", path); return CLD_ERR_OUT_OF_MEMORY; }
    const char* base = strrchr(path, '/');
    snprintf(m->name, sizeof m->name, "onnx %s", base ? base + 1 : path);
    OrtSessionOptions* so = NULL;
    OrtAllocator* alloc = NULL;
    OrtModelMetadata* meta = NULL;
    char *in0 = NULL, *in1 = NULL, *outname = NULL, *pred = NULL, *conv = NULL;
    cld_status rc = CLD_ERR_FORMAT;
    int ok = !failed(ort->CreateSessionOptions(&so), err, errlen, path, "session options");
    ok = ok && !failed(ort->CreateSession(ort_env, path, so, &m->session), err, errlen, path, "cannot load the model");
    ok = ok && !failed(ort->GetAllocatorWithDefaultOptions(&alloc), err, errlen, path, "allocator");
    ok = ok && !failed(ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &m->mem), err, errlen, path, "memory info");
    size_t nin = 0, nout = 0;
    ok = ok && !failed(ort->SessionGetInputCount(m->session, &nin), err, errlen, path, "inputs");
    ok = ok && !failed(ort->SessionGetOutputCount(m->session, &nout), err, errlen, path, "outputs");
    if (ok && (nin != 2 || nout != 1)) {
        put(err, errlen, "%s: a score model takes exactly two inputs, x [B, d] and t [B], and has one output [B, d]; this one has %zu inputs and %zu outputs", path, nin, nout);
        ok = 0;
    }
    ok = ok && !failed(ort->SessionGetInputName(m->session, 0, alloc, &in0), err, errlen, path, "input name");
    ok = ok && !failed(ort->SessionGetInputName(m->session, 1, alloc, &in1), err, errlen, path, "input name");
    ok = ok && !failed(ort->SessionGetOutputName(m->session, 0, alloc, &outname), err, errlen, path, "output name");
    if (ok && !((strcmp(in0, "x") == 0 && strcmp(in1, "t") == 0) || (strcmp(in0, "t") == 0 && strcmp(in1, "x") == 0))) {
        put(err, errlen, "%s: a score model takes the inputs x [B, d] and t [B]; this one takes '%s' and '%s'", path, in0, in1);
        ok = 0;
    }
    if (ok) {
        size_t xi = strcmp(in0, "x") == 0 ? 0 : 1;
        int64_t xd[4], td[4], od[4];
        size_t xr = 0, tr = 0, orank = 0;
        ONNXTensorElementDataType xt, tt, ot;
        ok = shape_of(m->session, 0, xi, xd, &xr, &xt, err, errlen, path) && shape_of(m->session, 0, 1 - xi, td, &tr, &tt, err, errlen, path)
             && shape_of(m->session, 1, 0, od, &orank, &ot, err, errlen, path);
        if (ok && (xt != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || tt != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || ot != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)) {
            put(err, errlen, "%s: x, t and the output must be float32 tensors", path);
            ok = 0;
        } else if (ok && (xr != 2 || tr != 1 || orank != 2)) {
            put(err, errlen, "%s: x must be [B, d], t [B] and the output [B, d] (ranks %zu, %zu, %zu)", path, xr, tr, orank);
            ok = 0;
        } else if (ok && (xd[1] < 1 || xd[0] > 0 || td[0] > 0 || od[0] > 0 || (od[1] > 0 && od[1] != xd[1]))) {
            put(err, errlen, "%s: the batch dimension B must be dynamic and d fixed, the same in x and the output", path);
            ok = 0;
        }
        if (ok) m->dim = xd[1];
    }
    ok = ok && !failed(ort->SessionGetModelMetadata(m->session, &meta), err, errlen, path, "metadata");
    ok = ok && !failed(ort->ModelMetadataLookupCustomMetadataMap(meta, alloc, "cldiffusion.prediction", &pred), err, errlen, path, "metadata");
    ok = ok && !failed(ort->ModelMetadataLookupCustomMetadataMap(meta, alloc, "cldiffusion.convention", &conv), err, errlen, path, "metadata");
    int32_t prediction = -1;
    if (ok) {
        if (!pred) put(err, errlen, "%s: the model does not say what it predicts (no metadata key 'cldiffusion.prediction')", path);
        else if (strcmp(pred, "score") == 0) prediction = CLD_PREDICT_SCORE;
        else if (strcmp(pred, "eps") == 0) prediction = CLD_PREDICT_EPS;
        else if (strcmp(pred, "x0") == 0) prediction = CLD_PREDICT_X0;
        else if (strcmp(pred, "v") == 0) prediction = CLD_PREDICT_V;
        else put(err, errlen, "%s: metadata 'cldiffusion.prediction' = '%s': unknown prediction (use score, eps, x0 or v)", path, pred);
        if (prediction >= 0 && conv && strcmp(conv, "ours") != 0) {
            put(err, errlen, "%s: time convention '%s' (metadata 'cldiffusion.convention'): the plugin takes only this project's own "
                "time ('ours'); the other conventions are mapped by the .NET API and the cldiff CLI", path, conv);
            prediction = -1;
        }
        ok = prediction >= 0;
    }
    if (ok) {
        m->output_name = malloc(strlen(outname) + 1);
        if (m->output_name) strcpy(m->output_name, outname);
        ok = m->output_name != NULL;
        rc = ok ? CLD_OK : CLD_ERR_OUT_OF_MEMORY;
    }
    if (ok) {
        rc = cld_model_from_callback(engine, (uint32_t)m->dim, prediction, run_batch, m, out);
        if (rc != CLD_OK) put(err, errlen, "%s: %s", path, cld_last_error());
        ok = rc == CLD_OK;
    }
    if (alloc) {
        char* owned[5] = { in0, in1, outname, pred, conv };
        for (int i = 0; i < 5; i++)
            if (owned[i]) {
                OrtStatus* st = ort->AllocatorFree(alloc, owned[i]);
                if (st) ort->ReleaseStatus(st);
            }
    }
    if (meta) ort->ReleaseModelMetadata(meta);
    if (so) ort->ReleaseSessionOptions(so);
    if (!ok) {
        cldg_onnx_free(m);
        return rc == CLD_OK ? CLD_ERR_FORMAT : rc;
    }
    *ctx = m;
    return CLD_OK;
}

#endif
