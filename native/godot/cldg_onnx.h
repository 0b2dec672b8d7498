/* ONNX score models for the Godot plugin (cldg_onnx.c): an .onnx graph run by ONNX Runtime's C API, given to the
   samplers through cld_model_from_callback. */
#ifndef CLDG_ONNX_H
#define CLDG_ONNX_H
#include <stddef.h>
#include "cldiffusion.h"

typedef struct cldg_onnx cldg_onnx;

/* 1 when the plugin was built with ONNX support (-DCLDG_ONNX and the ONNX Runtime headers). */
int cldg_onnx_built(void);

/* Loads `path` into an ONNX Runtime session and makes a model of it on `engine`. On success *out is the model and
   *ctx its session, which must outlive the model: free it with cldg_onnx_free after cld_model_destroy (or
   cld_engine_destroy) of *out has returned. On failure both are NULL and err holds the message, naming the file. */
cld_status cldg_onnx_load(cld_engine* engine, const char* path, cld_model** out, cldg_onnx** ctx, char* err, size_t errlen);

void cldg_onnx_free(cldg_onnx* ctx);
#endif
