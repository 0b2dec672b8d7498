// Shared prelude of every ClDiffusion kernel file: tunables, floating-point policy, Philox-4x32-10.
// Tunables are set by the host with -D (CLBlast style); each has a default here.
#ifndef WG
#define WG 64          // work-group size the host launches with
#endif
#ifndef VW
#define VW 4           // vector width of the streaming kernels (1, 2, 4, 8, 16)
#endif
#ifndef WPT
#define WPT 1          // vectors per work item in the streaming kernels
#endif
#ifndef NB
#define NB 16          // Philox blocks (4 normals each) per work item in the fused noise kernels (1, 2, 4, 8, 16)
#endif
#ifndef GVW
#define GVW 8          // vector width over coordinates in the mixture score (1, 2, 4, 8, 16)
#endif
#ifndef KMAX
#define KMAX 16        // most components the two-pass mixture score keeps in registers (more: the one-pass kernel)
#endif

#ifndef GRCP
#define GRCP 0         // mixture score without a table of inverse variances (a time per row): 0 divides, 1 native_recip + one Newton step
#endif

// No a*b+c contraction: keeps the kernels' rounding identical to the C# reference where the formulas are the same.
#pragma OPENCL FP_CONTRACT OFF

#ifdef HAVE_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#else
typedef float real;
#endif

// n / vt in the mixture scores' loops (GRCP above); the compiler computes native_recip(vt) once
#if GRCP
#define OVER(n, vt) ((n) * (native_recip(vt) * (2.0f - (vt) * native_recip(vt))))
#else
#define OVER(n, vt) ((n) / (vt))
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#if VW == 1
#define floatv float
#define LOADV(i, p) ((p)[i])
#define STOREV(v, i, p) ((p)[i] = (v))
#else
#define floatv CAT(float, VW)
#define LOADV(i, p) CAT(vload, VW)(i, p)
#define STOREV(v, i, p) CAT(vstore, VW)(v, i, p)
#endif

// Philox-4x32-10 (Salmon et al. SC'11), bit-identical to ClDiffusion.Random.Philox.Block.
// counter = (block, sample, step, purpose), key = (seed lo, seed hi).
inline uint4 philox(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
{
    for (int round = 0; round < 10; round++)
    {
        uint hi0 = mul_hi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint hi1 = mul_hi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        uint n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    return (uint4)(c0, c1, c2, c3);
}

// Uniform in (0, 1) from the top 23 bits, exact in float (Philox.ToUniform).
inline float to_uniform(uint bits) { return ((float)(bits >> 9) + 0.5f) * (1.0f / 8388608.0f); }

inline uint lane(uint4 b, int l) { return l == 0 ? b.x : l == 1 ? b.y : l == 2 ? b.z : b.w; }

// Box-Muller on lanes (0,1) and (2,3) of a block (RandomKey.BoxMuller).
inline float box_muller(int l, uint4 b)
{
    float u1 = to_uniform(l < 2 ? b.x : b.z), u2 = to_uniform(l < 2 ? b.y : b.w);
    float r = sqrt(-2.0f * log(u1));
    float angle = 6.28318530717958647692f * u2;
    return (l & 1) == 0 ? r * cos(angle) : r * sin(angle);
}

// Standard normal j of a sample under key (k0, k1, step, purpose).
inline float normal_j(uint k0, uint k1, uint step, uint purpose, uint sample, int j)
{
    uint4 b = philox((uint)(j >> 2), sample, step, purpose, k0, k1);
    return box_muller(j & 3, b);
}

inline float uniform_j(uint k0, uint k1, uint step, uint purpose, uint sample, int j)
{
    uint4 b = philox((uint)(j >> 2), sample, step, purpose, k0, k1);
    return to_uniform(lane(b, j & 3));
}

// ---- NB Philox blocks at once, as vectors (lane i = block counter c0 + i): the noise kernels' fast path ----
#if NB == 1
#define uintB uint
#define floatB float
#define LANES 0u
#define VSTOREB(v, p) ((p)[0] = (v))
#else
#define uintB CAT(uint, NB)
#define floatB CAT(float, NB)
#define VSTOREB(v, p) CAT(vstore, NB)(v, 0, p)
#if NB == 2
#define LANES ((uint2)(0, 1))
#elif NB == 4
#define LANES ((uint4)(0, 1, 2, 3))
#elif NB == 8
#define LANES ((uint8)(0, 1, 2, 3, 4, 5, 6, 7))
#else
#define LANES ((uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#endif
#endif

inline floatB to_uniform_b(uintB bits) { return (CAT(convert_, floatB)(bits >> 9) + 0.5f) * (1.0f / 8388608.0f); }

// Normals 4 blk0 .. 4 (blk0 + NB) - 1 of a sample into z (z[4 i + l] = normal 4 (blk0 + i) + l): the same Philox words
// and the same Box-Muller formula as normal_j, each block computed once and each log/sqrt shared by its pair.
inline void normals_nb(uint blk0, uint sample, uint step, uint purpose, uint k0, uint k1, float* z)
{
    uintB c0 = (uintB)(blk0) + LANES, c1 = (uintB)(sample), c2 = (uintB)(step), c3 = (uintB)(purpose);
    for (int round = 0; round < 10; round++)
    {
        uintB hi0 = mul_hi((uintB)(0xD2511F53u), c0), lo0 = (uintB)(0xD2511F53u) * c0;
        uintB hi1 = mul_hi((uintB)(0xCD9E8D57u), c2), lo1 = (uintB)(0xCD9E8D57u) * c2;
        uintB n0 = hi1 ^ c1 ^ (uintB)(k0), n2 = hi0 ^ c3 ^ (uintB)(k1);
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    floatB r01 = sqrt(-2.0f * log(to_uniform_b(c0))), a01 = 6.28318530717958647692f * to_uniform_b(c1);
    floatB r23 = sqrt(-2.0f * log(to_uniform_b(c2))), a23 = 6.28318530717958647692f * to_uniform_b(c3);
    float t0[NB], t1[NB], t2[NB], t3[NB];
    VSTOREB(r01 * cos(a01), t0); VSTOREB(r01 * sin(a01), t1); VSTOREB(r23 * cos(a23), t2); VSTOREB(r23 * sin(a23), t3);
    for (int i = 0; i < NB; i++) { z[4 * i] = t0[i]; z[4 * i + 1] = t1[i]; z[4 * i + 2] = t2[i]; z[4 * i + 3] = t3[i]; }
}

// Forward time of row r for a score call: t_r = t0 - slope * off[r % noff], or t0 when there are no offsets
// (IBackend.Score; the parallel samplers pass each sample's midpoint fractions as offsets).
inline float row_time(int r, const global float* off, int noff, float t0, float slope)
{
    return noff > 0 ? t0 - slope * off[r % noff] : t0;
}

// Class of row r for a class-conditional score: lab[r] (a float holding the class; -1 = the null class) when the
// call has labels (nlab > 0), else the null class. Returned as an index 0..nclass where nclass is the null class.
inline int row_class(int r, const global float* lab, int nlab, int nclass)
{
    int c = nlab > 0 ? (int)lab[r] : -1;
    return (c < 0 || c > nclass) ? nclass : c;
}
