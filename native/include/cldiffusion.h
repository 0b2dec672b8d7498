/*
 * cldiffusion.h - the C ABI of ClDiffusion (diffusion samplers with an exact score for Gaussian mixtures).
 *
 * The library is libcldiffusion.so, a .NET NativeAOT shared library (no .NET runtime needed on the host):
 *     dotnet publish src/ClDiffusion.Native -r linux-x64 -c Release -o out/native
 * Link with -L out/native -lcldiffusion (and an rpath), or dlopen("libcldiffusion.so").
 *
 * General rules
 * -------------
 *  - Every function that can fail returns a cld_status. No exception, signal or abort ever crosses the
 *    boundary: any failure inside the library (including an internal bug) becomes a status code.
 *  - After a call that returns something other than CLD_OK, cld_last_error() on the same thread gives a
 *    human-readable UTF-8 message. Every fallible call resets it to "" when it succeeds.
 *  - Handles (cld_engine*, cld_model*, cld_job*, cld_sample_settings*) are opaque values, not pointers to memory: never
 *    dereference them. The library keeps them in a table with a generation count, so a destroyed (stale)
 *    handle, a handle of the wrong kind, or a made-up value is detected and answered with
 *    CLD_ERR_INVALID_HANDLE; it is never dereferenced. (The encoding needs 64-bit pointers: linux-x64.)
 *  - Destroying NULL is allowed and returns CLD_OK. Destroying a handle twice returns CLD_ERR_INVALID_HANDLE.
 *  - Option structs start with `uint32_t struct_size`, which must be sizeof(the struct) as compiled from
 *    this header or from the header of an earlier ABI version (structs only grow, at the end; a field past
 *    the caller's struct_size takes its default). Any other size: CLD_ERR_INVALID_ARGUMENT. Fields that are
 *    0 / NULL take the default noted next to them; cld_sample_options_init() fills in every default.
 *  - Every argument is checked before any work starts, against the limits listed under "Limits" below;
 *    a value beyond one is CLD_ERR_INVALID_ARGUMENT with a message naming the field and the limit. The
 *    .NET API and the cldiff CLI apply the same checks (one validator, SamplerOptions.Validate).
 *  - No call succeeds with non-finite output: a sample that turned NaN or infinite is reported as
 *    CLD_ERR_NON_FINITE, the message naming the sample and the step where it first went wrong.
 *  - Strings are UTF-8 and NUL-terminated. Counts of floats are counts of elements, not bytes.
 *  - Samples are reproducible: sample i of seed s is the same whatever the batch size, the number of
 *    threads, or how the range [first, first + n) is split over calls (counter-based randomness).
 *
 * Thread safety (each function also states its own)
 * -------------
 *  - All functions may be called from any thread. The handle table is internally locked.
 *  - An engine runs one sampling call at a time: concurrent cld_sample / cld_sample_async calls on the
 *    same engine queue behind each other (each engine has its own lock). Use several engines to sample
 *    concurrently.
 *  - A model is immutable after loading and may be used by many calls on its engine at once.
 *
 * Callbacks (re-entrancy)
 * ---------
 *  A progress callback runs on a job's worker thread, inside the library; a score callback of
 *  cld_model_from_callback runs inside the sampling call. From either:
 *  - allowed, and never waiting for a job: cld_abi_version, cld_version_*, cld_last_error, cld_device_*,
 *    cld_sampler_*, cld_engine_create, cld_engine_device_name, cld_model_load, cld_model_dim,
 *    cld_sample_options_init, cld_sample_settings_* and cld_sample_setting_*, cld_sample_async (the new job
 *    queues behind the running one), cld_job_poll,
 *    cld_job_cancel, cld_job_wait with timeout 0, cld_job_destroy of a finished job;
 *  - cld_engine_destroy and cld_model_destroy (of any engine or model, the callback's own included) work
 *    but do not wait: the handle is stale at once, the jobs using it are cancelled, and the engine is freed
 *    when the last of them has stopped. Two jobs whose callbacks destroy each other's engine both end
 *    cancelled; nothing deadlocks. Their job handles stay valid until cld_job_destroy as usual.
 *  - refused at once with CLD_ERR_WOULD_BLOCK (they would wait for a job, perhaps the callback's own or one
 *    whose callback waits back): cld_sample, cld_job_wait with a timeout other than 0, cld_job_destroy of
 *    a job that has not finished.
 *  A callback must not throw or longjmp across the library.
 *
 * Cancellation
 * ------------
 *  cld_job_cancel, cld_engine_destroy and cld_model_destroy reach every loop of every sampler (predictor
 *  steps, corrector steps, Picard rounds, jobs queued behind others): the library checks before each round
 *  of score evaluations and after each step, whatever the step counts, so a cancel takes effect within one
 *  round of score evaluations over the batch's widest buffer (batch x 1, R, M or window rows).
 *  native/tests/test_limits.c measures it (CPU, 4096 samples: median under 100 ms, asserted). On an OpenCL
 *  device the kernels already queued for the current batch run to their end first: use a smaller batch
 *  where a cancel must be quick.
 *
 * Unloading
 * ---------
 *  The library is a .NET NativeAOT image whose runtime starts threads (garbage collector, finalizer) that
 *  cannot be stopped, so it is linked with -z nodelete: dlclose() returns 0 but leaves the library mapped,
 *  and a later dlopen() returns the same, still working, instance (handles from before stay valid). Destroy
 *  your engines before dlclose to free their memory. Unloading can never crash the host.
 *
 * Limits (CLD_ERR_INVALID_ARGUMENT beyond them, checked before any work)
 * ------
 *  steps, and grid steps after max_step splits them  <= 65535  (random-key step counter)
 *  corrector_steps                                   <= 65535
 *  sub_windows                                       1..1024
 *  picard_rounds                                     <= 4096
 *  window                                            <= 65535
 *  score evaluations per sample implied by steps, corrector_steps, sub_windows, picard_rounds, window
 *                                                    <= 1e7
 *  batch x widest scratch rows per sample (1, R, M or window) x d
 *                                                    <= 2^31 - 1 floats
 *  horizon <= 50 (e^T inside float32); delta >= 1e-6; lipschitz <= 1e12; gamma <= 1e6;
 *  corrector_time <= 1e6; tolerance >= 1e-12; block_length any positive finite value (shorter than a
 *  step means a corrector after every step); threads <= the machine's cores.
 */
#ifndef CLDIFFUSION_H
#define CLDIFFUSION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define CLD_API __declspec(dllimport)
#else
#  define CLD_API
#endif

/* ABI version: bumped when functions, status codes or struct fields are added (structs grow only at the end,
   and the library accepts every earlier size), so a host built against CLD_ABI_VERSION N runs on a library
   with cld_abi_version() >= N. ABI 2 added: cld_version_number, cld_sampler_count/_name,
   cld_engine_device_name, cld_model_from_callback and CLD_ERR_CALLBACK, CLD_ERR_WOULD_BLOCK,
   CLD_ERR_NON_FINITE, and cld_sample_options.max_step, .denoise, .fixed_corrector. ABI 3 added: every sampler
   option by name (cld_sample_settings_create/_set/_get/_destroy, cld_sample_setting_count/_name) and
   cld_sample_options.settings; from ABI 3 on a new sampler option is a new key, never a new struct field. */
#define CLD_ABI_VERSION 3u

/* ---------------------------------------------------------------------------------------------------- */
/* Status codes                                                                                          */
/* ---------------------------------------------------------------------------------------------------- */
typedef enum cld_status {
    CLD_OK = 0,
    CLD_ERR_INVALID_ARGUMENT = 1,  /* NULL pointer, wrong struct_size, bad option value, n out of range */
    CLD_ERR_INVALID_HANDLE = 2,    /* destroyed, foreign or made-up handle, or a handle of another kind */
    CLD_ERR_IO = 3,                /* file not found / not readable */
    CLD_ERR_FORMAT = 4,            /* file read but not understood (bad JSON, unsupported model format) */
    CLD_ERR_DEVICE = 5,            /* unknown device, device failure, device cannot run this model */
    CLD_ERR_OUT_OF_MEMORY = 6,
    CLD_ERR_CANCELLED = 7,         /* the job was cancelled (cld_job_cancel, or its engine/model destroyed) */
    CLD_ERR_INTERNAL = 8,          /* a bug in the library: please report the cld_last_error() text */
    CLD_ERR_BUFFER_TOO_SMALL = 9,  /* output buffer shorter than needed (the message says how long) */
    CLD_ERR_TIMEOUT = 10,          /* cld_job_wait: the job did not finish within the timeout */
    /* 11 is CLD_ERR_CALLBACK, defined with cld_model_from_callback below */
    CLD_ERR_WOULD_BLOCK = 12,      /* called from a progress callback, the call would wait for a job (see Callbacks) */
    CLD_ERR_NON_FINITE = 13        /* a sample came out NaN or infinite (message: which sample, at which step) */
} cld_status;

/* ---------------------------------------------------------------------------------------------------- */
/* Opaque handles                                                                                        */
/* ---------------------------------------------------------------------------------------------------- */
typedef struct cld_engine cld_engine; /* a backend (device) plus its settings */
typedef struct cld_model cld_model;   /* a score model loaded on (belonging to) one engine */
typedef struct cld_job cld_job;       /* one asynchronous sampling run */
typedef struct cld_sample_settings cld_sample_settings; /* sampler options set by name (ABI 3) */

/* ---------------------------------------------------------------------------------------------------- */
/* Version and errors                                                                                    */
/* ---------------------------------------------------------------------------------------------------- */

/* The ABI version the library implements (CLD_ABI_VERSION of its header). Thread-safe, never fails. */
CLD_API uint32_t cld_abi_version(void);

/* Library version, e.g. "0.1.0 (abi 2)". Static storage: valid as long as the library is loaded.
   Thread-safe, never fails. */
CLD_API const char* cld_version_string(void);

/* Library version as a number: major * 1000000 + minor * 1000 + patch (0.1.0 -> 1000). Thread-safe,
   never fails. (ABI 2) */
CLD_API uint32_t cld_version_number(void);

/* Message of the last failed call on the calling thread ("" after a successful call). Thread-local:
   each thread sees its own. The pointer is owned by the library and valid until the calling thread's
   next cld_* call. Never NULL. */
CLD_API const char* cld_last_error(void);

/* ---------------------------------------------------------------------------------------------------- */
/* Devices                                                                                               */
/* ---------------------------------------------------------------------------------------------------- */

/* Number of devices an engine can be created on. Thread-safe. */
CLD_API cld_status cld_device_count(uint32_t* count);

/* Name of device `index` (0 <= index < count), as a NUL-terminated string that can be passed as
   cld_engine_options.device. If `len` is too small the name is truncated (still NUL-terminated when
   len > 0) and CLD_ERR_BUFFER_TOO_SMALL is returned, the message saying the size needed. Thread-safe. */
CLD_API cld_status cld_device_name(uint32_t index, char* buf, size_t len);

/* ---------------------------------------------------------------------------------------------------- */
/* Samplers                                                                                              */
/* ---------------------------------------------------------------------------------------------------- */

/* Number of samplers the library knows (its own registry: any name it lists is accepted as
   cld_sample_options.sampler). Thread-safe. (ABI 2) */
CLD_API cld_status cld_sampler_count(uint32_t* count);

/* Name of sampler `index` (0 <= index < count); buffer rules as cld_device_name. Thread-safe. (ABI 2) */
CLD_API cld_status cld_sampler_name(uint32_t index, char* buf, size_t len);

/* ---------------------------------------------------------------------------------------------------- */
/* Engine                                                                                                */
/* ---------------------------------------------------------------------------------------------------- */

typedef struct cld_engine_options {
    uint32_t struct_size;    /* = sizeof(cld_engine_options) (32 on LP64) */
    uint32_t flags;          /* reserved, must be 0 */
    const char* device;      /* NULL, "" or "auto": the device `cldiff devices` marks: a GPU first, then an
                                accelerator, then a CPU compute driver (PoCL, Intel), by compute units x clock;
                                never a software renderer (llvmpipe); the CPU backend when none qualifies.
                                "cpu": the CPU backend. Otherwise a cld_device_name(). */
    const char* tuning_file; /* kernel tuning database (JSON) for device backends; NULL = none. Not used
                                by the CPU backend, but if given it must exist (CLD_ERR_IO otherwise). */
    int32_t threads;         /* CPU worker threads; 0 = all cores. 0 <= threads <= the machine's cores. */
    uint32_t reserved;       /* must be 0 */
} cld_engine_options;

/* Creates an engine. `options` may be NULL (all defaults). On success *out receives the handle; on
   failure *out is set to NULL. Unknown device: CLD_ERR_DEVICE. Thread-safe. */
CLD_API cld_status cld_engine_create(const cld_engine_options* options, cld_engine** out);

/* Name of the device the engine runs on, e.g. "cpu (2 threads)" or the OpenCL device and platform (what
   "auto" chose); buffer rules as cld_device_name. Thread-safe. (ABI 2) */
CLD_API cld_status cld_engine_device_name(cld_engine* engine, char* buf, size_t len);

/* Destroys an engine: cancels its running and queued jobs and waits for them to stop, then destroys
   every model loaded on it (their handles become stale). Job handles stay valid (their status is
   CLD_ERR_CANCELLED, or their own result if they had finished) until cld_job_destroy. Thread-safe.
   From a progress callback it does not wait (see Callbacks). */
CLD_API cld_status cld_engine_destroy(cld_engine* engine);

/* ---------------------------------------------------------------------------------------------------- */
/* Models                                                                                                */
/* ---------------------------------------------------------------------------------------------------- */

/* Loads a score model from a file and prepares it for the engine, recognised by content: a score MLP as
   safetensors (docs/MLP.md; the shipped models/*.safetensors, class-conditional ones included: its samples
   come back in data space, e.g. pixels), or a Gaussian-mixture target as JSON {"weights": [K], "means":
   [[d] x K], "variances": [[d] x K]} (diagonal covariances). ONNX graphs go through cld_model_from_callback.
   Missing file: CLD_ERR_IO; unsupported or malformed file: CLD_ERR_FORMAT. *out is NULL on failure.
   Thread-safe. */
CLD_API cld_status cld_model_load(cld_engine* engine, const char* path, cld_model** out);

/* Dimension d of the model's samples (each sample is d consecutive floats). Thread-safe. */
CLD_API cld_status cld_model_dim(cld_model* model, uint32_t* dim);

/* Destroys a model: cancels and waits for the jobs that use it first. Thread-safe. From a progress
   callback it does not wait (see Callbacks). */
CLD_API cld_status cld_model_destroy(cld_model* model);

/* ---------------------------------------------------------------------------------------------------- */
/* Sampling                                                                                              */
/* ---------------------------------------------------------------------------------------------------- */

/* picard_rounds is "0 = default (3)"; ask for K = 0 rounds explicitly with this value. */
#define CLD_PICARD_ROUNDS_NONE (-1)

typedef struct cld_sample_options {
    uint32_t struct_size;     /* = sizeof(cld_sample_options) (176 on LP64). Earlier sizes still accepted, the
                                 fields past them at their defaults: 128 (ABI 1: no class fields, unconditional
                                 sampling), 152 (no max_step, denoise, fixed_corrector) and 168 (ABI 2: no settings) */
    uint32_t steps;           /* predictor steps (windows for prm/prm-pc); 0 = 40 */
    const char* sampler;      /* NULL/"" = "rm-pc"; any name cld_sampler_name() lists (rm-pc, ei, heun, ...) */
    uint64_t seed;            /* random seed (0 is a valid seed) */
    uint64_t first;           /* index of the first sample: the call draws samples [first, first + n);
                                 first + n must be <= 2^32 */
    double horizon;           /* T, horizon of the forward (OU) process; 0 (what cld_sample_options_init
                                 writes) = 8.0, or the end of the model's trained times if earlier (a DDPM
                                 model's last timestep); beyond them CLD_ERR_INVALID_ARGUMENT unless the
                                 setting "clamp-times" is on */
    double delta;             /* early stopping: sampling ends at forward time delta; 0 (init) = 1e-3, or the
                                 start of the model's trained times if later */
    uint32_t corrector_steps; /* underdamped Langevin steps per corrector call; 0 = 4 */
    uint32_t sub_windows;     /* R, parallel sampler sub-windows per window (1..1024); 0 = 4 */
    double corrector_time;    /* Tc, corrector duration; 0 = 1/sqrt(L_t) with L_t = max(lipschitz, 1/sigma_t^2) at
                                 the corrector's time t (the local stiffness bound) */
    double gamma;             /* friction of the corrector; 0 = sqrt(L_t) */
    int32_t picard_rounds;    /* K, Picard rounds per window; 0 = 3; CLD_PICARD_ROUNDS_NONE = 0 rounds */
    uint32_t window;          /* picard sampler: steps per window; 0 = 8 */
    double tolerance;         /* picard sampler: stop a window below this change; 0 = 1e-3 */
    const char* grid;         /* NULL/"" = "shrinking"; or "uniform", "logsnr", "karras" */
    double lipschitz;         /* L, Lipschitz constant of the score (sets corrector defaults); 0 = 2.0 */
    double block_length;      /* sampler time between corrector calls; 0 = 1/lipschitz */
    const char* corrector;    /* NULL/"" = "uld"; or "rmuld" */
    uint32_t low_variance;    /* nonzero: exponentially tilted midpoint (rm / rm-pc only); 0 = off */
    uint32_t batch;           /* samples per internal batch (memory bound); 0 = 65536. Results do not
                                 depend on it. */
    /* Class-conditional models (docs/GUIDANCE.md). All zero = unconditional sampling. */
    uint32_t conditional;     /* nonzero: sample from classes (class_label or labels); 0 = unconditional */
    int32_t class_label;      /* the class of every sample when labels is NULL; CLD_CLASS_NONE = the null class */
    const int32_t* labels;    /* NULL, or n labels: labels[i] is the class of sample first + i (CLD_CLASS_NONE
                                 for an unconditional one). Copied before the call returns. */
    double guidance;          /* classifier-free guidance weight w >= -1: every score is
                                 (1 + w) s(x | class) - w s(x | null); 0 = plain conditional sampling;
                                 diffusers' guidance_scale and k-diffusion's cond_scale are 1 + w */
    /* ---- a struct_size of 128 or 152 leaves these at their defaults ---- */
    double max_step;          /* split grid steps longer than this; 0 = no cap */
    uint32_t denoise;         /* nonzero: a last Tweedie step x0 = (x + sigma^2 s(x)) / alpha (one more score
                                 evaluation; removes the noise early stopping leaves); 0 = off */
    uint32_t fixed_corrector; /* nonzero: the corrector uses the fixed lipschitz L everywhere instead of the
                                 local stiffness L_t = max(L, 1/sigma_t^2); 0 = adaptive */
    /* ---- a struct_size of 168 or less leaves this NULL (ABI 3) ---- */
    cld_sample_settings* settings; /* NULL, or sampler options set by name (below): every key set there overrides the
                                 field above that sets the same option. Read (copied) when the sampling call starts;
                                 the handle stays the caller's (one settings handle may serve many calls). */
} cld_sample_options;

/* The null class: an unconditional sample from a class-conditional model. */
#define CLD_CLASS_NONE (-1)

/* Fills *options with struct_size and every default value written out. Returns CLD_ERR_INVALID_ARGUMENT
   for NULL. Thread-safe. */
CLD_API cld_status cld_sample_options_init(cld_sample_options* options);

/* ---------------------------------------------------------------------------------------------------- */
/* Sampler options by name (ABI 3), in the style of ONNX Runtime's options objects                       */
/* ---------------------------------------------------------------------------------------------------- */

/* Every sampler option, present and future, is reachable by name: create a settings handle, set options on it with
   the cldiff CLI's long option names as keys and their text as values (exactly what `cldiff sample --KEY VALUE`
   takes; a switch such as denoise takes "on" or "off"), and point cld_sample_options.settings at it. A key set there
   overrides the struct field for the same option (steps, grid, ...); keys with no field (x0-start, midpoint,
   parallel-corrector, corrector-rounds, lipschitz-cap) exist only here. "unset" resets an optional value (max-step,
   block, corrector-time, gamma, corrector-rounds) to its default.

   Keys (one per sampler option; the list is src/ClDiffusion/Samplers/SamplerOptionTable.cs, and a test checks that
   this list is the same): key, default, accepted values
   keys:begin
   steps               40        an integer in 1..65535
   horizon             8         a number in (0, 50]
   delta               0.001     a number >= 1e-06 and below T
   clamp-times         off       on or off
   grid                shrinking uniform, shrinking, logsnr or karras
   max-step            unset     a positive number or unset
   midpoint            2         1 or 2
   x0-start            line      line or fresh
   order               3         2 or 3
   unipc-variant       bh2       bh1 or bh2
   full-order-final    off       on or off
   parallel-corrector  end       end or block
   corrector-rounds    unset     an integer in 1..4096 or unset
   lipschitz           2         a number in (0, 1e+12]
   block               unset     a positive number or unset
   corrector           uld       uld or rmuld
   corrector-steps     4         an integer in 1..65535
   corrector-time      unset     a number in (0, 1e+06] or unset
   gamma               unset     a number in (0, 1e+06] or unset
   fixed-corrector     off       on or off
   lipschitz-cap       10000     a number in (0, 1e+12]
   low-variance        off       on or off
   subwindows          4         an integer in 1..1024
   picard              3         an integer in 0..4096
   window              8         an integer in 1..65535
   tol                 0.001     a number >= 1e-12
   denoise             off       on or off
   keys:end
   horizon and delta left unset take the model's trained times where those are narrower than 8 and 0.001 (a DDPM or
   EDM model in another time convention); set outside them they are refused unless clamp-times is on.
   What each does: `cldiff sample --help`, or the options table of docs/ARCHITECTURE.md. */

/* Creates an empty settings handle (nothing set: every option at its struct field or default). *out is NULL on
   failure. Thread-safe. */
CLD_API cld_status cld_sample_settings_create(cld_sample_settings** out);

/* Sets option `key` to the text `value` (UTF-8), or, for value NULL, removes what was set for it. The value is
   parsed and checked at once: an unknown key, or a value that does not parse or is out of its range, is
   CLD_ERR_INVALID_ARGUMENT with a message naming the key, the value and the accepted values (cld_last_error), and
   leaves the settings as they were. Checks that tie several options together (delta < horizon, the work per
   sample) run when a sampling call starts. Setting a key again replaces its value. Thread-safe (the settings may
   be changed while a call that already started uses its copy). */
CLD_API cld_status cld_sample_settings_set(cld_sample_settings* settings, const char* key, const char* value);

/* The text of option `key` in the settings: the value set, else the option's default ("unset" for an optional one
   without a default). Buffer rules as cld_device_name. Thread-safe. */
CLD_API cld_status cld_sample_settings_get(cld_sample_settings* settings, const char* key, char* buf, size_t len);

/* Destroys the settings; NULL is allowed. A sampling call already started keeps its copy. Thread-safe. */
CLD_API cld_status cld_sample_settings_destroy(cld_sample_settings* settings);

/* Number of keys (sampler options) the library knows, and the name of key `index` (0 <= index < count; buffer
   rules as cld_device_name): the list above, in its order. Thread-safe. */
CLD_API cld_status cld_sample_setting_count(uint32_t* count);
CLD_API cld_status cld_sample_setting_name(uint32_t index, char* buf, size_t len);

/* Draws n samples synchronously into out[0 .. n*d) (row-major, sample after sample; d = cld_model_dim).
   `options` may be NULL (all defaults, seed 0, first 0). out_len is the number of floats `out` holds: it
   must be >= n*d (CLD_ERR_BUFFER_TOO_SMALL otherwise). 1 <= n <= 2^31 - 1. The model must have been
   loaded on `engine`. Blocks the calling thread; thread-safe (queues behind other calls on the engine). */
CLD_API cld_status cld_sample(cld_engine* engine, cld_model* model, const cld_sample_options* options,
                              uint64_t n, float* out, size_t out_len);

/* Progress callback of an asynchronous job: progress in [0, 1]. Called on the job's worker thread (not
   the thread that started the job), possibly many times per second, never after cld_job_destroy (or
   cld_job_wait / cld_job_poll reporting done) has returned. It must return quickly and must not throw or
   longjmp. Which cld_* calls it may make is listed under "Callbacks" at the top of this header. */
typedef void (*cld_progress_fn)(void* user_data, float progress);

/* Starts drawing n samples on a worker thread and returns at once with *job. Every argument is checked
   and copied before the call returns (options, strings); the exception is `out`: the buffer stays owned
   by the caller and must stay valid and untouched until the job is done (cld_job_poll says done, or
   cld_job_wait returned something other than CLD_ERR_TIMEOUT) or the job was destroyed. `progress` may
   be NULL. Argument errors are returned here, not through the job. Thread-safe. */
CLD_API cld_status cld_sample_async(cld_engine* engine, cld_model* model, const cld_sample_options* options,
                                    uint64_t n, float* out, size_t out_len, cld_progress_fn progress,
                                    void* user_data, cld_job** job);

/* Non-blocking look at a job, made for a frame loop. progress (may be NULL) receives the fraction done in
   [0, 1]; done (may be NULL) receives 1 once the job has finished (successfully, failed or cancelled),
   else 0. Returns CLD_ERR_INVALID_HANDLE for a bad handle; otherwise the job's status so far: CLD_OK
   while it runs or when it succeeded, its error (CLD_ERR_CANCELLED, ...) once it failed, with the message
   in cld_last_error(). Thread-safe. */
CLD_API cld_status cld_job_poll(cld_job* job, float* progress, int* done);

/* Waits until the job has finished or timeout_ms milliseconds passed (CLD_WAIT_INFINITE: no limit) and
   returns the job's result (CLD_OK, CLD_ERR_CANCELLED, or its error) or CLD_ERR_TIMEOUT. Thread-safe.
   From a progress callback only timeout 0 is allowed (else CLD_ERR_WOULD_BLOCK at once). */
#define CLD_WAIT_INFINITE 0xFFFFFFFFu
CLD_API cld_status cld_job_wait(cld_job* job, uint32_t timeout_ms);

/* Asks the job to stop; returns at once. The job stops at its next score evaluation or sampler step
   (see Cancellation) and finishes with CLD_ERR_CANCELLED (the output then holds partial data).
   Cancelling a finished job does nothing and returns CLD_OK. Thread-safe, also from a progress callback. */
CLD_API cld_status cld_job_cancel(cld_job* job);

/* Cancels the job if it still runs, waits for its worker to stop, and frees it. After this returns the
   library no longer writes to the job's output buffer nor calls its callback. Thread-safe. From a progress
   callback only a finished job may be destroyed (else CLD_ERR_WOULD_BLOCK at once). */
CLD_API cld_status cld_job_destroy(cld_job* job);

/* ---------------------------------------------------------------------------------------------------- */
/* Models computed by the host (docs/MODELS.md)                                                          */
/* ---------------------------------------------------------------------------------------------------- */

/* A host score callback returned non-zero, or wrote a NaN or infinity; the message names the model, the
   value returned and the batch. */
#define CLD_ERR_CALLBACK 11

/* What a host model's callback writes; the library turns each into the score of its process
   x_t = alpha_t x0 + sigma_t eps, alpha_t = e^{-t}, sigma_t^2 = 1 - e^{-2t}. */
typedef enum cld_prediction {
    CLD_PREDICT_SCORE = 0, /* grad_x log q_t(x) */
    CLD_PREDICT_EPS = 1,   /* the noise: score = -eps / sigma_t */
    CLD_PREDICT_X0 = 2,    /* the clean data: score = (alpha_t x0 - x) / sigma_t^2 */
    CLD_PREDICT_V = 3      /* v = alpha_t eps - sigma_t x0: score = -(sigma_t x + alpha_t v) / sigma_t */
} cld_prediction;

/* Computes the model for a batch: x is rows x dim floats (row-major, one state per row), t holds one forward
   time per row (t > 0, the process above), out receives rows x dim floats of what the model predicts.
   rows >= 1 varies from call to call (a sampler's batch, times its sub-windows); dim is the model's.
   Return 0 on success; any other value stops the sampling call that needed the score: it returns
   CLD_ERR_CALLBACK, and cld_last_error() names the model and the value returned. Every value written to out
   must be finite (CLD_ERR_CALLBACK otherwise). x and t are read-only and valid only during the call; out is
   written by the callback only. It must not throw, longjmp or unwind through the library. */
typedef int32_t (*cld_score_fn)(void* user_data, int32_t rows, int32_t dim, const float* x, const float* t, float* out);

/* Creates a model on `engine` whose values come from `callback` (a network in the host's own runtime, say).
   dim >= 1; prediction is a cld_prediction. *out is NULL on failure (CLD_ERR_INVALID_ARGUMENT for a NULL
   callback, dim 0 or an unknown prediction). Use it like a loaded model: cld_model_dim, cld_sample,
   cld_sample_async, cld_model_destroy.
   Threads: the callback runs on the thread that runs the sampling (the caller of cld_sample, or the job's
   worker thread for cld_sample_async), never on two threads at once for one model. On a device engine
   the library reads the batch back, calls the callback and writes the result to the device (one transfer
   each way per call). The callback may call cld_* functions except those that would wait for the run it
   is part of: sampling on its own engine, destroying its model or engine (those return an error).
   user_data is passed through untouched; it must stay valid until cld_model_destroy(model) or
   cld_engine_destroy(engine) has returned: after that the callback is never called again.
   Thread-safe. */
CLD_API cld_status cld_model_from_callback(cld_engine* engine, uint32_t dim, int32_t prediction,
                                           cld_score_fn callback, void* user_data, cld_model** out);

#ifdef __cplusplus
}
#endif

#endif /* CLDIFFUSION_H */
