/* Minimal test helpers for the C ABI tests (no framework needed). */
#ifndef CLD_TESTUTIL_H
#define CLD_TESTUTIL_H
#include "cldiffusion.h"
#include <stdio.h>
#include <string.h>

static int g_checks = 0, g_failures = 0;

#define EXPECT(cond)                                                                          \
    do {                                                                                      \
        g_checks++;                                                                           \
        if (!(cond)) { g_failures++; fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

/* The call returns `want`, and the thread's last error is non-empty iff want != CLD_OK. */
#define EXPECT_STATUS(want, call)                                                             \
    do {                                                                                      \
        cld_status got_ = (call);                                                             \
        const char* msg_ = cld_last_error();                                                  \
        g_checks++;                                                                           \
        if (got_ != (want) || msg_ == NULL || ((want) == CLD_OK) != (msg_[0] == 0)) {         \
            g_failures++;                                                                     \
            fprintf(stderr, "%s:%d: FAILED: %s returned %d (want %d), last error \"%s\"\n",  \
                    __FILE__, __LINE__, #call, (int)got_, (int)(want), msg_ ? msg_ : "(null)"); \
        } else if (got_ != CLD_OK) {                                                          \
            printf("  ok: %-60.60s -> %d: %s\n", #call, (int)got_, msg_);                     \
        }                                                                                     \
    } while (0)

#define REQUIRE_OK(call)                                                                      \
    do {                                                                                      \
        cld_status got_ = (call);                                                             \
        if (got_ != CLD_OK) {                                                                 \
            fprintf(stderr, "%s:%d: FATAL: %s returned %d: %s\n", __FILE__, __LINE__, #call, (int)got_, cld_last_error()); \
            return 1;                                                                         \
        }                                                                                     \
    } while (0)

static int test_summary(const char* name)
{
    printf("%s: %d checks, %d failed\n", name, g_checks, g_failures);
    return g_failures ? 1 : 0;
}

#endif
