/* The leak check's canary: after a normal run through the library on the default device (which loads the OpenCL
   drivers whose own process-lifetime allocations asan/lsan.supp suppresses), the host leaks one block of 77 bytes on
   purpose. CTest passes this test only if LeakSanitizer reports exactly that block, so the suppressions and the stack
   unwinding (fast_unwind_on_malloc=0) never hide a leak of the host's own. */
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

static void* volatile g_kept;

int main(int argc, char** argv)
{
    const char* target = argc > 1 ? argv[1] : "target2d.json";
    cld_engine* e = NULL;
    cld_model* m = NULL;
    REQUIRE_OK(cld_engine_create(NULL, &e));
    REQUIRE_OK(cld_model_load(e, target, &m));
    enum { N = 64 };
    float* x = malloc(sizeof(float) * N * 2);
    cld_sample_options o;
    cld_sample_options_init(&o);
    EXPECT_STATUS(CLD_OK, cld_sample(e, m, &o, N, x, (size_t)N * 2));
    free(x);
    EXPECT_STATUS(CLD_OK, cld_model_destroy(m));
    EXPECT_STATUS(CLD_OK, cld_engine_destroy(e));
    g_kept = malloc(77);          /* the host's own leak: the pointer is dropped below */
    memset(g_kept, 1, 77);
    g_kept = NULL;
    return test_summary("test_leak_canary");
}
