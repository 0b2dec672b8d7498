// Build time and per-launch cost of one kernel on one OpenCL platform, without the .NET runtime in the way
// (docs/DEVICES.md: why llvmpipe was slow). Declares the few OpenCL entry points itself, so it needs no headers:
//   gcc -O1 -o /tmp/launch_cost tools/clprobe/launch_cost.c -l:libOpenCL.so.1
//   RUSTICL_ENABLE=llvmpipe /tmp/launch_cost PLATFORM LAUNCHES "BUILD OPTIONS" KERNEL ARGSPEC GLOBAL LOCAL cl/common.cl cl/sampling.cl
// KERNEL "-" only builds. ARGSPEC: comma list of b (one 16 MiB buffer), i:INT, u:UINT, f:FLOAT, l:LOCAL_BYTES.
// Example (the noise kernel): 1 5 "-DNB=16" normal_blocks b,i:256,i:16,u:1,u:2,u:3,u:4,u:0 64 64 cl/common.cl cl/sampling.cl
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
typedef int32_t cl_int; typedef uint32_t cl_uint; typedef void* H; typedef uint64_t cl_bitfield;
extern cl_int clGetPlatformIDs(cl_uint, H*, cl_uint*);
extern cl_int clGetDeviceIDs(H, cl_bitfield, cl_uint, H*, cl_uint*);
extern H clCreateContext(const intptr_t*, cl_uint, const H*, void*, void*, cl_int*);
extern H clCreateCommandQueue(H, H, cl_bitfield, cl_int*);
extern H clCreateProgramWithSource(H, cl_uint, const char**, const size_t*, cl_int*);
extern cl_int clBuildProgram(H, cl_uint, const H*, const char*, void*, void*);
extern cl_int clGetProgramBuildInfo(H, H, cl_uint, size_t, void*, size_t*);
extern H clCreateKernel(H, const char*, cl_int*);
extern cl_int clSetKernelArg(H, cl_uint, size_t, const void*);
extern cl_int clEnqueueNDRangeKernel(H, H, cl_uint, const size_t*, const size_t*, const size_t*, cl_uint, const H*, H*);
extern cl_int clFinish(H);
extern H clCreateBuffer(H, cl_bitfield, size_t, void*, cl_int*);
static double now(){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9;}
static char* slurp(const char* p){FILE* f=fopen(p,"rb"); fseek(f,0,2); long n=ftell(f); fseek(f,0,0); char* s=malloc(n+1); fread(s,1,n,f); s[n]=0; fclose(f); return s;}
int main(int argc, char** argv){
  int P = atoi(argv[1]), N = atoi(argv[2]); const char* opts = argv[3]; const char* kn = argv[4]; char* spec = argv[5];
  size_t g = atol(argv[6]), l = atol(argv[7]);
  char* srcs = calloc(1, 1);
  for (int i = 8; i < argc; i++) { char* s = slurp(argv[i]); srcs = realloc(srcs, strlen(srcs) + strlen(s) + 16); strcat(srcs, s); strcat(srcs, "\n"); }
  H plats[8]; cl_uint np; clGetPlatformIDs(8, plats, &np);
  H dev; cl_uint nd; cl_int e = clGetDeviceIDs(plats[P], 0xFFFFFFFF, 1, &dev, &nd); if (e) { printf("no device %d\n", e); return 1; }
  H ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &e); H q = clCreateCommandQueue(ctx, dev, 0, &e);
  double t0 = now();
  const char* src = srcs;
  H prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &e); e = clBuildProgram(prog, 1, &dev, opts, NULL, NULL);
  if (e) { static char log[100000]; clGetProgramBuildInfo(prog, dev, 0x1183, sizeof log, log, NULL); printf("build %d\n%s\n", e, log); return 1; }
  if (!strcmp(kn, "-")) { printf("built %.0f ms\n", (now()-t0)*1e3); return 0; }
  H k = clCreateKernel(prog, kn, &e); if (e) { printf("kernel %d\n", e); return 1; }
  double t1 = now();
  H buf = clCreateBuffer(ctx, 1, 16 << 20, NULL, &e);
  int ai = 0; for (char* t = strtok(spec, ","); t; t = strtok(NULL, ","), ai++) {
    if (t[0] == 'b') clSetKernelArg(k, ai, sizeof(H), &buf);
    else if (t[0] == 'f') { float v = atof(t + 2); clSetKernelArg(k, ai, 4, &v); }
    else if (t[0] == 'l') clSetKernelArg(k, ai, atoi(t + 2), NULL);
    else { int v = atoi(t + 2); clSetKernelArg(k, ai, 4, &v); } }
  double t2 = 0;
  for (int it = 0; it < N; it++) { e = clEnqueueNDRangeKernel(q, k, 1, NULL, &g, &l, 0, NULL, NULL); if (e) { printf("launch %d\n", e); return 1; } clFinish(q); if (it == 0) t2 = now(); }
  double t3 = now();
  printf("%-18s P%d %s: build %.0f ms, first launch %.0f ms, then %.2f ms/launch\n", kn, P, opts, (t1-t0)*1e3, (t2-t1)*1e3, N > 1 ? (t3-t2)*1e3/(N-1) : 0);
  return 0; }
