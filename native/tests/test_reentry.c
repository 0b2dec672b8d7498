/* Issue 15 finding 5: callbacks that call back into the library never deadlock.
   1. Two engines whose jobs' progress callbacks each destroy the other engine: both destroys return at once
      (they cancel without waiting), both jobs end cancelled, nothing hangs.
   2. A callback that starts a job on its own engine and waits for it: the wait is refused at once with
      CLD_ERR_WOULD_BLOCK; the new job runs after the callback's job and succeeds.
   A watchdog (alarm) turns a deadlock into a failure instead of a hung CI job. */
#include "testutil.h"
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_reentry: DEADLOCK (watchdog fired after 60 s)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

typedef struct {
    cld_engine* volatile victim;   /* the other engine, destroyed from this job's callback */
    volatile int called;
    volatile cld_status destroy_st;
    volatile int* barrier;         /* when set: wait (up to 20 s) until both callbacks are running, then destroy */
} cross;

static void destroy_other(void* user, float p)
{
    cross* c = user;
    (void)p;
    if (c->victim == NULL || c->called) return;
    c->called = 1;
    if (c->barrier) {
        __sync_fetch_and_add(c->barrier, 1);
        for (int i = 0; i < 20000 && *c->barrier < 2; i++) { struct timespec ts = { 0, 1000000 }; nanosleep(&ts, NULL); }
    }
    c->destroy_st = cld_engine_destroy(c->victim);
}

typedef struct {
    cld_engine* engine;
    cld_model* model;
    float* out;
    volatile int tried;
    cld_job* volatile inner;
    volatile cld_status start_st, wait_st, wait0_st, sample_st;
} nested;

static void start_and_wait(void* user, float p)
{
    nested* n = user;
    (void)p;
    if (n->tried) return;
    n->tried = 1;
    cld_sample_options o;
    cld_sample_options_init(&o);
    cld_job* j = NULL;
    n->start_st = cld_sample_async(n->engine, n->model, &o, 100, n->out, 200, NULL, NULL, &j);
    n->inner = j;
    n->wait_st = cld_job_wait(j, CLD_WAIT_INFINITE);   /* would wait behind our own job: refused */
    n->wait0_st = cld_job_wait(j, 0);                  /* a poll is fine */
    float tmp[8];
    n->sample_st = cld_sample(n->engine, n->model, &o, 4, tmp, 8); /* synchronous: refused too */
}

int main(int argc, char** argv)
{
    const char* target = argc > 1 ? argv[1] : "target2d.json";
    signal(SIGALRM, on_alarm);
    alarm(60);
    enum { N = 4000 };
    float* out1 = malloc(sizeof(float) * N * 2);
    float* out2 = malloc(sizeof(float) * N * 2);
    cld_sample_options o;
    cld_sample_options_init(&o);
    o.steps = 2000;

    /* scenario 1, repeated: each job's callback destroys the other's engine */
    for (int round = 0; round < 3; round++) {
        cld_engine *e1 = NULL, *e2 = NULL;
        cld_model *m1 = NULL, *m2 = NULL;
        REQUIRE_OK(cld_engine_create(NULL, &e1));
        REQUIRE_OK(cld_engine_create(NULL, &e2));
        REQUIRE_OK(cld_model_load(e1, target, &m1));
        REQUIRE_OK(cld_model_load(e2, target, &m2));
        volatile int barrier = 0;
        cross c1 = { NULL, 0, CLD_OK, &barrier }, c2 = { NULL, 0, CLD_OK, &barrier };
        cld_job *j1 = NULL, *j2 = NULL;
        c1.victim = e2;
        c2.victim = e1;
        EXPECT_STATUS(CLD_OK, cld_sample_async(e1, m1, &o, N, out1, (size_t)N * 2, destroy_other, &c1, &j1));
        EXPECT_STATUS(CLD_OK, cld_sample_async(e2, m2, &o, N, out2, (size_t)N * 2, destroy_other, &c2, &j2));
        cld_status s1 = cld_job_wait(j1, CLD_WAIT_INFINITE), s2 = cld_job_wait(j2, CLD_WAIT_INFINITE);
        EXPECT(c1.called && c2.called && barrier == 2); /* both callbacks were inside the library at once */
        /* the first destroy of each engine succeeds; the jobs end cancelled (or finished before the destroy) */
        EXPECT(c1.destroy_st == CLD_OK && c2.destroy_st == CLD_OK);
        EXPECT(s1 == CLD_ERR_CANCELLED && s2 == CLD_ERR_CANCELLED);
        EXPECT_STATUS(CLD_OK, cld_job_destroy(j1));
        EXPECT_STATUS(CLD_OK, cld_job_destroy(j2));
        /* both engines and their models are gone */
        EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_engine_destroy(e1));
        EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_engine_destroy(e2));
        uint32_t d;
        EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_model_dim(m1, &d));
        if (round == 0) printf("scenario 1: destroys from callbacks %d %d, jobs %d %d\n", c1.destroy_st, c2.destroy_st, s1, s2);
    }

    /* scenario 2: a callback starts a job on its own engine and waits for it */
    cld_engine* e = NULL;
    cld_model* m = NULL;
    REQUIRE_OK(cld_engine_create(NULL, &e));
    REQUIRE_OK(cld_model_load(e, target, &m));
    float* inner_out = malloc(sizeof(float) * 200);
    nested n = { e, m, inner_out, 0, NULL, CLD_OK, CLD_OK, CLD_OK, CLD_OK };
    cld_job* j = NULL;
    o.steps = 40;
    EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, 2000, out1, (size_t)N * 2, start_and_wait, &n, &j));
    EXPECT_STATUS(CLD_OK, cld_job_wait(j, CLD_WAIT_INFINITE));
    EXPECT(n.tried);
    printf("scenario 2: start %d, wait %d, wait(0) %d, sync sample %d\n", n.start_st, n.wait_st, n.wait0_st, n.sample_st);
    EXPECT(n.start_st == CLD_OK);
    EXPECT(n.wait_st == CLD_ERR_WOULD_BLOCK);
    EXPECT(n.wait0_st == CLD_OK || n.wait0_st == CLD_ERR_TIMEOUT);
    EXPECT(n.sample_st == CLD_ERR_WOULD_BLOCK);
    EXPECT_STATUS(CLD_OK, cld_job_wait(n.inner, CLD_WAIT_INFINITE)); /* the nested job ran after ours */
    EXPECT_STATUS(CLD_OK, cld_job_destroy(n.inner));
    EXPECT_STATUS(CLD_OK, cld_job_destroy(j));

    /* a callback destroying its own engine: no wait, the job ends cancelled */
    cross self = { NULL, 0, CLD_OK, NULL };
    o.steps = 400;
    EXPECT_STATUS(CLD_OK, cld_sample_async(e, m, &o, N, out1, (size_t)N * 2, destroy_other, &self, &j));
    self.victim = e;
    cld_status st = cld_job_wait(j, CLD_WAIT_INFINITE);
    EXPECT(st == CLD_ERR_CANCELLED || (st == CLD_OK && !self.called));
    if (self.called) EXPECT(self.destroy_st == CLD_OK);
    EXPECT_STATUS(CLD_OK, cld_job_destroy(j));
    if (!self.called) EXPECT_STATUS(CLD_OK, cld_engine_destroy(e));
    EXPECT_STATUS(CLD_ERR_INVALID_HANDLE, cld_engine_destroy(e));

    free(inner_out);
    free(out1);
    free(out2);
    return test_summary("test_reentry");
}
