/* pool.c: the parallel-for of pool.h on POSIX threads, with item claiming through one atomic counter. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's thread-count controls (present in every OpenBLAS build). */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);

static int g_default_threads = 1;

typedef struct pool_job {
    size_t n;
    lsc_pool_fn fn;
    void *ctx;
    atomic_size_t next;
    atomic_int stop;
    pthread_mutex_t mu;
    size_t fail_index; /* lowest failing index so far; n when none */
    lsc_status fail_code;
    lsc_error fail_err;
} pool_job;

typedef struct pool_worker {
    pool_job *job;
    int id;
} pool_worker;

static void record_failure(pool_job *job, size_t index, lsc_status code, const lsc_error *err)
{
    pthread_mutex_lock(&job->mu);
    if (index < job->fail_index) {
        job->fail_index = index;
        job->fail_code = code;
        job->fail_err = *err;
        if (job->fail_err.code == LSC_OK) job->fail_err.code = code;
    }
    pthread_mutex_unlock(&job->mu);
    atomic_store(&job->stop, 1);
}

static void *worker_main(void *arg)
{
    pool_worker *w = arg;
    pool_job *job = w->job;
    for (;;) {
        if (atomic_load(&job->stop)) break;
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n) break;
        lsc_error e;
        lsc_error_clear(&e);
        lsc_status s = job->fn(job->ctx, i, w->id, &e);
        if (s != LSC_OK) record_failure(job, i, s, &e);
    }
    return NULL;
}

lsc_status lsc_pool_for(size_t n, int threads, lsc_pool_fn fn, void *ctx, lsc_error *err)
{
    if (n == 0) return LSC_OK;
    if (threads > 64) threads = 64;
    if ((size_t)threads > n) threads = (int)n;
    if (threads <= 1) {
        /* OpenBLAS held to one thread here too: a kernel's bytes must not depend on how many threads BLAS
         * had in the calling process (the binary sets one; a library user or a test may not) */
        int bt = openblas_get_num_threads();
        if (bt > 1) openblas_set_num_threads(1);
        lsc_status s = LSC_OK;
        for (size_t i = 0; i < n && s == LSC_OK; i++)
            s = fn(ctx, i, 0, err);
        if (bt > 1) openblas_set_num_threads(bt);
        return s;
    }
    pool_job job;
    memset(&job, 0, sizeof job);
    job.n = n;
    job.fn = fn;
    job.ctx = ctx;
    atomic_init(&job.next, 0);
    atomic_init(&job.stop, 0);
    pthread_mutex_init(&job.mu, NULL);
    job.fail_index = n;
    job.fail_code = LSC_OK;

    int blas_threads = openblas_get_num_threads();
    if (blas_threads > 1) openblas_set_num_threads(1);

    pthread_t tid[64];
    pool_worker ws[64];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        ws[t].job = &job;
        ws[t].id = t;
        if (pthread_create(&tid[t], NULL, worker_main, &ws[t]) != 0) break;
        started = t;
    }
    ws[0].job = &job;
    ws[0].id = 0;
    worker_main(&ws[0]); /* the caller works too */
    for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);

    if (blas_threads > 1) openblas_set_num_threads(blas_threads);
    pthread_mutex_destroy(&job.mu);
    if (job.fail_index < n) {
        if (err) *err = job.fail_err;
        return job.fail_code;
    }
    return LSC_OK;
}

int lsc_pool_default_threads(void)
{
    return g_default_threads;
}

void lsc_pool_set_default(int threads)
{
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    g_default_threads = threads;
}
