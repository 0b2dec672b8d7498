// Non-finite guard (issue 15): after each sampler step, flag every row that holds a NaN or an infinity with the
// step it was first seen at. One work item per row; no host wait (the flags are read once, at the end of a run,
// and only when the samples it returns are not all finite).
//
// Tunables (defaults below; the host passes WG like for every program):
//   NF_UNROLL  columns per loop trip (a hint to the compiler)

#ifndef NF_UNROLL
#define NF_UNROLL 4
#endif

// first_bad[r] = step when row r of x (rows x cols, row-major) is not all finite and first_bad[r] < 0.
__kernel void mark_nonfinite(__global const float* x, __global float* first_bad, const int rows, const int cols,
                             const float step)
{
    const int r = get_global_id(0);
    if (r >= rows || first_bad[r] >= 0.0f) return;
    __global const float* row = x + (long)r * cols;
    // isfinite rather than arithmetic tricks, so that a fast-math build option cannot fold the test away
    int bad = 0;
    #pragma unroll NF_UNROLL
    for (int j = 0; j < cols; j++) bad |= !isfinite(row[j]);
    if (bad) first_bad[r] = step;
}
