/*
 * cldiffusion_godot.c - a GDNative plugin (Godot 3.2+, core API 1.0, NativeScript 1.0) over libcldiffusion.so.
 *
 * Registers one NativeScript class, `ClDiffusion` (base Node), for GDScript:
 *
 *     var cld = preload("res://cldiffusion.gdns").new()
 *     add_child(cld)
 *     if cld.open("cpu", 1) != OK: push_error(cld.get_last_error())
 *     if cld.load_model("res://models/optdigits.safetensors") != OK: ...
 *     cld.start({"sampler": "rm-pc", "steps": 24, "seed": 7, "n": 40, "class": 3, "guidance": 1.5, "denoise": true})
 *     # every frame:
 *     var p = cld.poll()          # {"progress": 0..1, "done": bool, "status": int, "error": String}
 *     if p.done and p.status == OK: var x = cld.get_samples()   # PoolRealArray, n * d floats
 *     cld.cancel()                # the job ends within one sampler step
 *
 * Every method that can fail returns an int status: 0 (Godot's OK, the library's CLD_OK) or a cld_status code
 * (1 invalid argument, 2 invalid handle, 3 io, 4 format, 5 device, 7 cancelled, ...), and get_last_error() gives
 * the library's message for the last failure on this object. Nothing here aborts: a wrong argument count or type
 * from GDScript is an error value too.
 *
 * One object holds at most one engine, one model and one job. Everything (job first: it is cancelled and waited
 * for, which takes at most one sampler step; then the sample buffer, the model, the engine) is freed by close(),
 * when the node leaves the scene tree (_exit_tree), and when the object is freed.
 *
 * All calls run on Godot's main thread; no progress callback is registered (progress is polled), so no Godot API
 * is ever called from the library's worker threads.
 */
#include <gdnative_api_struct.gen.h>

#include "cldiffusion.h"
#include "cldg_onnx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLDG_EXPORT __attribute__((visibility("default")))

_Static_assert(sizeof(godot_real) == sizeof(float), "godot_real must be float (a Godot build without REAL_T_IS_DOUBLE)");

static const godot_gdnative_core_api_struct* api = NULL;
static const godot_gdnative_ext_nativescript_api_struct* nsapi = NULL;

typedef struct {
    cld_engine* engine;
    cld_model* model;
    cldg_onnx* onnx;  /* the ONNX Runtime session of an .onnx model (freed after the model) */
    uint32_t dim;
    cld_job* job;
    float* buf;      /* the job's output, n * dim floats; owned here until the next start() or close() */
    uint64_t n;
    char error[2048]; /* the last failure's message */
} instance;

/* ---- small helpers over the Godot C API ------------------------------------------------------------ */

static char* dup_str(const char* s)
{
    size_t n = strlen(s) + 1;
    char* r = malloc(n);
    if (r) memcpy(r, s, n);
    return r;
}

static godot_variant v_int(int64_t i) { godot_variant v; api->godot_variant_new_int(&v, i); return v; }
static godot_variant v_real(double r) { godot_variant v; api->godot_variant_new_real(&v, r); return v; }
static godot_variant v_bool(int b) { godot_variant v; api->godot_variant_new_bool(&v, b ? 1 : 0); return v; }
static godot_variant v_nil(void) { godot_variant v; api->godot_variant_new_nil(&v); return v; }

static godot_variant v_str(const char* utf8)
{
    godot_string s = api->godot_string_chars_to_utf8(utf8);
    godot_variant v;
    api->godot_variant_new_string(&v, &s);
    api->godot_string_destroy(&s);
    return v;
}

/* A Godot string as a malloc'd UTF-8 copy (never NULL unless out of memory). */
static char* utf8_of_string(const godot_string* s)
{
    godot_char_string cs = api->godot_string_utf8(s);
    const char* p = api->godot_char_string_get_data(&cs);
    char* copy = dup_str(p ? p : "");
    api->godot_char_string_destroy(&cs);
    return copy;
}

/* The text of a variant, malloc'd: a bool is "on"/"off" (the library's switch values), a number its shortest
   round-tripping decimal form, anything else Godot's own conversion to String. */
static char* text_of(const godot_variant* v)
{
    char buf[64];
    switch (api->godot_variant_get_type(v)) {
    case GODOT_VARIANT_TYPE_BOOL:
        return dup_str(api->godot_variant_as_bool(v) ? "on" : "off");
    case GODOT_VARIANT_TYPE_INT:
        snprintf(buf, sizeof buf, "%lld", (long long)api->godot_variant_as_int(v));
        return dup_str(buf);
    case GODOT_VARIANT_TYPE_REAL: {
        double d = api->godot_variant_as_real(v);
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, d);
            if (strtod(buf, NULL) == d) break;
        }
        return dup_str(buf);
    }
    default: {
        godot_string s = api->godot_variant_as_string(v);
        char* r = utf8_of_string(&s);
        api->godot_string_destroy(&s);
        return r;
    }
    }
}

static int is_number(const godot_variant* v)
{
    godot_variant_type t = api->godot_variant_get_type(v);
    return t == GODOT_VARIANT_TYPE_INT || t == GODOT_VARIANT_TYPE_REAL;
}

static void set_error(instance* self, const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
}

/* Records the library's message of a failed call (read at once: it is the calling thread's last error). */
static godot_variant fail_lib(instance* self, cld_status st, const char* what)
{
    set_error(self, "%s: %s", what, cld_last_error());
    return v_int(st);
}

static godot_variant fail_arg(instance* self, const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
    return v_int(CLD_ERR_INVALID_ARGUMENT);
}

static godot_variant ok(instance* self)
{
    self->error[0] = 0;
    return v_int(CLD_OK);
}

/* "res://" and "user://" paths through ProjectSettings.globalize_path (the library opens OS paths). */
static char* os_path(const godot_variant* v)
{
    godot_string s = api->godot_variant_as_string(v);
    char* path = utf8_of_string(&s);
    if (path && (strncmp(path, "res://", 6) == 0 || strncmp(path, "user://", 7) == 0)) {
        godot_object* ps = api->godot_global_get_singleton("ProjectSettings");
        godot_method_bind* mb = api->godot_method_bind_get_method("ProjectSettings", "globalize_path");
        if (ps && mb) {
            godot_string ret;
            api->godot_string_new(&ret); /* ptrcall assigns to an existing String */
            const void* args[1] = { &s };
            api->godot_method_bind_ptrcall(mb, ps, args, &ret);
            free(path);
            path = utf8_of_string(&ret);
            api->godot_string_destroy(&ret);
        }
    }
    api->godot_string_destroy(&s);
    return path;
}

/* ---- lifetime ------------------------------------------------------------------------------------- */

static void drop_job(instance* self)
{
    if (self->job) cld_job_destroy(self->job); /* cancels a running job and waits for its worker (one step) */
    self->job = NULL;
    free(self->buf);
    self->buf = NULL;
    self->n = 0;
}

static void drop_model(instance* self)
{
    drop_job(self);
    if (self->model) cld_model_destroy(self->model); /* after this the model's callback is never called again */
    self->model = NULL;
    cldg_onnx_free(self->onnx);
    self->onnx = NULL;
    self->dim = 0;
}

static void close_all(instance* self)
{
    drop_model(self);
    if (self->engine) cld_engine_destroy(self->engine);
    self->engine = NULL;
}

static int ends_with_onnx(const char* path)
{
    size_t n = strlen(path);
    if (n < 5) return 0;
    const char* e = path + n - 5;
    return e[0] == '.' && (e[1] | 32) == 'o' && (e[2] | 32) == 'n' && (e[3] | 32) == 'n' && (e[4] | 32) == 'x';
}

static GDCALLINGCONV void* cls_create(godot_object* owner, void* method_data)
{
    instance* self = calloc(1, sizeof *self);
    return self;
}

static GDCALLINGCONV void cls_destroy(godot_object* owner, void* method_data, void* user_data)
{
    instance* self = user_data;
    if (!self) return;
    close_all(self);
    free(self);
}

/* ---- methods -------------------------------------------------------------------------------------- */

#define METHOD(name) static GDCALLINGCONV godot_variant name(godot_object* owner, void* md, void* ud, int argc, godot_variant** argv)
#define SELF instance* self = ud; if (!self) return v_int(CLD_ERR_INVALID_HANDLE)

/* open(device := auto, threads := 0) -> status. device: "cpu", "auto", or a name list_devices() gives. */
METHOD(m_open)
{
    SELF;
    if (argc > 2) return fail_arg(self, "open(device, threads): %d arguments", argc);
    if (argc >= 2 && !is_number(argv[1])) return fail_arg(self, "open: threads must be an integer");
    char* device = argc >= 1 && api->godot_variant_get_type(argv[0]) != GODOT_VARIANT_TYPE_NIL ? text_of(argv[0]) : NULL;
    close_all(self);
    cld_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.struct_size = sizeof eo;
    eo.device = device;
    eo.threads = argc >= 2 ? (int32_t)api->godot_variant_as_int(argv[1]) : 0;
    cld_status st = cld_engine_create(&eo, &self->engine);
    godot_variant r = st == CLD_OK ? ok(self) : fail_lib(self, st, "open");
    free(device);
    return r;
}

METHOD(m_get_device_name)
{
    SELF;
    char name[512] = "";
    if (!self->engine) { set_error(self, "get_device_name: no engine (call open first)"); return v_str(""); }
    cld_status st = cld_engine_device_name(self->engine, name, sizeof name);
    if (st != CLD_OK && st != CLD_ERR_BUFFER_TOO_SMALL) set_error(self, "get_device_name: %s", cld_last_error());
    return v_str(name);
}

/* load_model(path) -> status. A mixture JSON or a safetensors MLP (what cld_model_load reads), or an .onnx graph
   (cldg_onnx.c: ONNX Runtime through a score callback, when the plugin was built with it); res:// and user://
   paths are resolved. Replaces the model loaded before (and ends its job). */
METHOD(m_load_model)
{
    SELF;
    if (argc != 1) return fail_arg(self, "load_model(path): %d arguments", argc);
    if (!self->engine) return fail_arg(self, "load_model: no engine (call open first)");
    char* path = os_path(argv[0]);
    if (!path) return fail_arg(self, "load_model: out of memory");
    drop_model(self);
    godot_variant r;
    if (ends_with_onnx(path)) {
        char err[1024];
        cld_status st = cldg_onnx_load(self->engine, path, &self->model, &self->onnx, err, sizeof err);
        if (st == CLD_OK) st = cld_model_dim(self->model, &self->dim);
        if (st == CLD_OK) r = ok(self);
        else {
            set_error(self, "load_model: %s", err);
            drop_model(self);
            r = v_int(st);
        }
        free(path);
        return r;
    }
    cld_status st = cld_model_load(self->engine, path, &self->model);
    if (st == CLD_OK) st = cld_model_dim(self->model, &self->dim);
    if (st == CLD_OK) {
        r = ok(self);
    } else {
        const char* msg = cld_last_error();
        /* the message names the file (the library's own text when it does, else the path appended) */
        if (strstr(msg, path)) set_error(self, "load_model: %s", msg);
        else set_error(self, "load_model('%s'): %s", path, msg);
        if (self->model) cld_model_destroy(self->model);
        self->model = NULL;
        r = v_int(st);
    }
    free(path);
    return r;
}

METHOD(m_get_model_dim)
{
    SELF;
    return v_int(self->dim);
}

/* start(options: Dictionary) -> status. Keys: "n" (samples, required), "sampler", "seed", "first", "batch",
   "class" (an int: class-conditional sampling, -1 = the null class), "labels" (an array of n
   classes, one per sample), "guidance" (classifier-free weight), and every
   key of the library's settings by name (cldiff's long option names: "steps", "grid", "denoise", "x0-start", ...),
   its value an int, float, bool ("on"/"off") or String. An unknown key or bad value is an error naming it. */
METHOD(m_start)
{
    SELF;
    if (argc != 1 || api->godot_variant_get_type(argv[0]) != GODOT_VARIANT_TYPE_DICTIONARY)
        return fail_arg(self, "start(options): one Dictionary argument expected");
    if (!self->engine || !self->model) return fail_arg(self, "start: no model (call open and load_model first)");
    if (self->job) {
        int done = 0;
        cld_job_poll(self->job, NULL, &done);
        if (!done) return fail_arg(self, "start: a job is running (cancel it, or wait until poll() says done)");
    }
    drop_job(self);

    cld_sample_options o;
    cld_sample_options_init(&o);
    cld_sample_settings* settings = NULL;
    cld_status st = cld_sample_settings_create(&settings);
    if (st != CLD_OK) return fail_lib(self, st, "start");
    o.settings = settings;

    godot_dictionary d = api->godot_variant_as_dictionary(argv[0]);
    godot_array keys = api->godot_dictionary_keys(&d);
    int64_t n = -1;
    char* sampler = NULL;
    int32_t* labels = NULL;
    godot_int nlabels = -1;
    godot_variant r = v_nil();
    int failed = 0;
    for (godot_int i = 0; i < api->godot_array_size(&keys) && !failed; i++) {
        godot_variant k = api->godot_array_get(&keys, i);
        godot_variant val = api->godot_dictionary_get(&d, &k);
        char* key = text_of(&k);
        int num = is_number(&val);
        if (!key) { r = fail_arg(self, "start: out of memory"); failed = 1; }
        else if (strcmp(key, "n") == 0 || strcmp(key, "seed") == 0 || strcmp(key, "first") == 0 || strcmp(key, "batch") == 0
            || strcmp(key, "class") == 0 || strcmp(key, "guidance") == 0) {
            if (!num) { r = fail_arg(self, "start: '%s' must be a number", key); failed = 1; }
            else if (strcmp(key, "n") == 0) n = api->godot_variant_as_int(&val);
            else if (strcmp(key, "seed") == 0) o.seed = api->godot_variant_as_uint(&val);
            else if (strcmp(key, "first") == 0) {
                int64_t f = api->godot_variant_as_int(&val);
                if (f < 0) { r = fail_arg(self, "start: first must be >= 0, got %lld", (long long)f); failed = 1; }
                o.first = (uint64_t)f;
            } else if (strcmp(key, "batch") == 0) {
                int64_t b = api->godot_variant_as_int(&val);
                if (b < 0 || b > 0x7fffffff) { r = fail_arg(self, "start: batch out of range: %lld", (long long)b); failed = 1; }
                o.batch = (uint32_t)b;
            } else if (strcmp(key, "class") == 0) {
                int64_t c = api->godot_variant_as_int(&val);
                if (c < -1 || c > 0x7fffffff) { r = fail_arg(self, "start: class must be -1 (none) or a class number, got %lld", (long long)c); failed = 1; }
                o.conditional = 1;
                o.class_label = c < 0 ? CLD_CLASS_NONE : (int32_t)c;
            } else o.guidance = api->godot_variant_as_real(&val);
        } else if (strcmp(key, "labels") == 0) {
            godot_array la = api->godot_variant_as_array(&val);
            godot_int count = api->godot_array_size(&la);
            free(labels);
            labels = malloc((count ? (size_t)count : 1) * sizeof(int32_t));
            nlabels = labels ? count : 0;
            for (godot_int j = 0; labels && j < count && !failed; j++) {
                godot_variant e = api->godot_array_get(&la, j);
                int64_t c = api->godot_variant_as_int(&e);
                if (!is_number(&e) || c < -1 || c > 0x7fffffff) {
                    r = fail_arg(self, "start: labels[%lld] must be -1 (none) or a class number", (long long)j);
                    failed = 1;
                }
                labels[j] = c < 0 ? CLD_CLASS_NONE : (int32_t)c;
                api->godot_variant_destroy(&e);
            }
            api->godot_array_destroy(&la);
            o.conditional = 1;
        } else if (strcmp(key, "sampler") == 0) {
            free(sampler);
            sampler = text_of(&val);
        } else {
            char* value = text_of(&val);
            st = value ? cld_sample_settings_set(settings, key, value) : CLD_ERR_OUT_OF_MEMORY;
            if (st != CLD_OK) { r = fail_lib(self, st, "start"); failed = 1; }
            free(value);
        }
        free(key);
        api->godot_variant_destroy(&val);
        api->godot_variant_destroy(&k);
    }
    api->godot_array_destroy(&keys);
    api->godot_dictionary_destroy(&d);

    if (!failed && n < 1) { r = fail_arg(self, "start: \"n\" (the number of samples, >= 1) is missing or below 1"); failed = 1; }
    if (!failed && nlabels >= 0 && nlabels != n) {
        r = fail_arg(self, "start: %lld labels for n = %lld samples (one label per sample)", (long long)nlabels, (long long)n);
        failed = 1;
    }
    size_t len = 0;
    if (!failed) {
        if ((uint64_t)n > (uint64_t)SIZE_MAX / sizeof(float) / (self->dim ? self->dim : 1)) {
            r = fail_arg(self, "start: n = %lld samples of %u floats do not fit in memory", (long long)n, self->dim); failed = 1;
        } else {
            len = (size_t)n * self->dim;
            self->buf = malloc(len * sizeof(float));
            if (!self->buf) { r = fail_arg(self, "start: out of memory for %lld samples of %u floats", (long long)n, self->dim); failed = 1; }
        }
    }
    if (!failed) {
        o.sampler = sampler;
        o.labels = labels; /* copied by cld_sample_async */
        st = cld_sample_async(self->engine, self->model, &o, (uint64_t)n, self->buf, len, NULL, NULL, &self->job);
        if (st != CLD_OK) { r = fail_lib(self, st, "start"); failed = 1; }
        else { self->n = (uint64_t)n; r = ok(self); }
    }
    if (failed) { free(self->buf); self->buf = NULL; self->job = NULL; }
    cld_sample_settings_destroy(settings); /* the job copied what it needs */
    free(sampler);
    free(labels);
    return r;
}

static void dict_put(godot_dictionary* d, const char* key, godot_variant value)
{
    godot_variant k = v_str(key);
    api->godot_dictionary_set(d, &k, &value);
    api->godot_variant_destroy(&k);
    api->godot_variant_destroy(&value);
}

/* poll() -> {"progress": float, "done": bool, "status": int, "error": String}; never waits. */
METHOD(m_poll)
{
    SELF;
    float progress = 0;
    int done = 0;
    cld_status st;
    const char* msg;
    if (!self->job) {
        st = CLD_ERR_INVALID_ARGUMENT;
        msg = "poll: no job (call start first)";
        set_error(self, "%s", msg);
    } else {
        st = cld_job_poll(self->job, &progress, &done);
        if (st != CLD_OK) set_error(self, "job: %s", cld_last_error());
        msg = st != CLD_OK ? self->error : "";
    }
    godot_dictionary d;
    api->godot_dictionary_new(&d);
    dict_put(&d, "progress", v_real(progress));
    dict_put(&d, "done", v_bool(done));
    dict_put(&d, "status", v_int(st));
    dict_put(&d, "error", v_str(msg));
    godot_variant r;
    api->godot_variant_new_dictionary(&r, &d);
    api->godot_dictionary_destroy(&d);
    return r;
}

/* get_samples() -> PoolRealArray of n * d floats (sample after sample) once the job succeeded; empty otherwise
   (get_last_error says why). */
METHOD(m_get_samples)
{
    SELF;
    godot_pool_real_array a;
    api->godot_pool_real_array_new(&a);
    int done = 0;
    cld_status st = self->job ? cld_job_poll(self->job, NULL, &done) : CLD_ERR_INVALID_ARGUMENT;
    if (!self->job) set_error(self, "get_samples: no job (call start first)");
    else if (st != CLD_OK) set_error(self, "get_samples: the job failed: %s", cld_last_error());
    else if (!done) set_error(self, "get_samples: the job is still running");
    else {
        size_t len = (size_t)self->n * self->dim;
        api->godot_pool_real_array_resize(&a, (godot_int)len);
        godot_pool_real_array_write_access* w = api->godot_pool_real_array_write(&a);
        memcpy(api->godot_pool_real_array_write_access_ptr(w), self->buf, len * sizeof(float));
        api->godot_pool_real_array_write_access_destroy(w);
        self->error[0] = 0;
    }
    godot_variant r;
    api->godot_variant_new_pool_real_array(&r, &a);
    api->godot_pool_real_array_destroy(&a);
    return r;
}

/* cancel() -> status; returns at once, the job ends (status 7, cancelled) within one sampler step. */
METHOD(m_cancel)
{
    SELF;
    if (!self->job) return fail_arg(self, "cancel: no job");
    cld_status st = cld_job_cancel(self->job);
    return st == CLD_OK ? ok(self) : fail_lib(self, st, "cancel");
}

/* close(): ends the job and frees everything; also done by _exit_tree and when the object is freed. */
METHOD(m_close)
{
    SELF;
    close_all(self);
    return ok(self);
}

METHOD(m_exit_tree)
{
    SELF;
    close_all(self);
    return v_nil();
}

METHOD(m_get_last_error)
{
    SELF;
    return v_str(self->error);
}

static godot_variant name_list(cld_status (*count)(uint32_t*), cld_status (*name)(uint32_t, char*, size_t))
{
    godot_array a;
    api->godot_array_new(&a);
    uint32_t c = 0;
    if (count(&c) == CLD_OK)
        for (uint32_t i = 0; i < c; i++) {
            char buf[512];
            if (name(i, buf, sizeof buf) != CLD_OK) continue;
            godot_variant s = v_str(buf);
            api->godot_array_append(&a, &s);
            api->godot_variant_destroy(&s);
        }
    godot_variant r;
    api->godot_variant_new_array(&r, &a);
    api->godot_array_destroy(&a);
    return r;
}

METHOD(m_list_devices) { return name_list(cld_device_count, cld_device_name); }
METHOD(m_list_samplers) { return name_list(cld_sampler_count, cld_sampler_name); }
METHOD(m_list_settings) { return name_list(cld_sample_setting_count, cld_sample_setting_name); }
METHOD(m_version) { return v_str(cld_version_string()); }
METHOD(m_has_onnx) { return v_bool(cldg_onnx_built()); }

/* ---- GDNative entry points ------------------------------------------------------------------------ */

CLDG_EXPORT void godot_gdnative_init(godot_gdnative_init_options* o)
{
    api = o->api_struct;
    for (unsigned i = 0; i < api->num_extensions; i++)
        if (api->extensions[i]->type == GDNATIVE_EXT_NATIVESCRIPT)
            nsapi = (const godot_gdnative_ext_nativescript_api_struct*)api->extensions[i];
}

CLDG_EXPORT void godot_gdnative_terminate(godot_gdnative_terminate_options* o)
{
    api = NULL;
    nsapi = NULL;
}

CLDG_EXPORT void godot_nativescript_init(void* handle)
{
    if (!nsapi) return;
    godot_instance_create_func create = { cls_create, NULL, NULL };
    godot_instance_destroy_func destroy = { cls_destroy, NULL, NULL };
    nsapi->godot_nativescript_register_class(handle, "ClDiffusion", "Node", create, destroy);
    static const struct { const char* name; godot_variant (*fn)(godot_object*, void*, void*, int, godot_variant**); } methods[] = {
        { "open", m_open },           { "get_device_name", m_get_device_name }, { "load_model", m_load_model },
        { "get_model_dim", m_get_model_dim }, { "start", m_start }, { "poll", m_poll },
        { "get_samples", m_get_samples }, { "cancel", m_cancel },   { "close", m_close },
        { "_exit_tree", m_exit_tree }, { "get_last_error", m_get_last_error }, { "list_devices", m_list_devices },
        { "list_samplers", m_list_samplers }, { "list_settings", m_list_settings }, { "version", m_version }, { "has_onnx", m_has_onnx },
    };
    godot_method_attributes attr = { GODOT_METHOD_RPC_MODE_DISABLED };
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        godot_instance_method m = { methods[i].fn, NULL, NULL };
        nsapi->godot_nativescript_register_method(handle, "ClDiffusion", methods[i].name, attr, m);
    }
}
