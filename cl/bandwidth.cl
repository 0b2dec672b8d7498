// The copy reference of `cldiff bench` (issue 18): the bandwidth a kernel can reach when it reads each float once and
// writes it once, in CVW-wide vectors through typed pointers (buffers start at the device's base alignment, so the
// vector accesses are aligned). Each work item copies CPI vectors spaced a whole grid apart, so neighbouring items
// touch neighbouring vectors in every round (coalesced on a GPU, sequential streams on a CPU). Not used by samplers.
#ifndef CVW
#define CVW 8          // vector width (1, 2, 4, 8, 16)
#endif
#ifndef CPI
#define CPI 4          // vectors per work item
#endif
#ifndef CWG
#define CWG 256        // work-group size the host launches with
#endif

#if CVW == 1
#define floatc float
#else
#define floatc CAT(float, CVW)
#endif

// n floats; the n % CVW tail is copied as floats by the first items. Launched over ceil(n / CVW / CPI) items.
kernel __attribute__((reqd_work_group_size(CWG, 1, 1)))
void copy_roof(global floatc* dst, const global floatc* src, int n)
{
    int nvec = n / CVW;
    size_t g = get_global_id(0), G = get_global_size(0);
    for (int i = 0; i < CPI; i++)
    {
        size_t v = g + i * G;
        if (v < (size_t)nvec) dst[v] = src[v];
    }
    size_t tail = (size_t)(n - nvec * CVW);
    if (g < tail) ((global float*)dst)[(size_t)nvec * CVW + g] = ((const global float*)src)[(size_t)nvec * CVW + g];
}
