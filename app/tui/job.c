/* job.c: a command on a worker thread (see job.h). The worker blocks the terminal signals so that
 * SIGINT/SIGTERM/SIGHUP reach the UI thread, whose handler only sets a flag; progress crosses threads
 * under a mutex, the done and cancel flags are atomics. Never includes curses. */
#include "job.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lsc_tui_job {
    lsc_tui_model *model;
    int argc;
    char **argv;
    unsigned flags;
    int threaded;
    pthread_t thread;
    volatile int cancel; /* read by the command layer through lsc_tui_progress.cancel */
    volatile int pause;  /* read by training commands through lsc_tui_progress.pause */
    atomic_int cancel_asked;
    atomic_int done;
    pthread_mutex_t mu;
    char what[256];
    long n_done, n_total;
    lsc_tui_train_point pts[LSC_TUI_TRAIN_POINTS];
    size_t n_pts;
    struct timespec t0;
    int rc;
    char *output, *errmsg;
};

static void report(void *ctx, const char *what, long done, long total)
{
    lsc_tui_job *j = ctx;
    pthread_mutex_lock(&j->mu);
    snprintf(j->what, sizeof j->what, "%s", what ? what : "");
    j->n_done = done;
    j->n_total = total;
    pthread_mutex_unlock(&j->mu);
}

static void train(void *ctx, const lsc_tui_train_point *p)
{
    lsc_tui_job *j = ctx;
    pthread_mutex_lock(&j->mu);
    if (j->n_pts == LSC_TUI_TRAIN_POINTS) { /* full: keep every other point, the first and the latest */
        size_t k = 1;
        for (size_t i = 2; i < LSC_TUI_TRAIN_POINTS; i += 2)
            j->pts[k++] = j->pts[i];
        j->n_pts = k;
    }
    j->pts[j->n_pts++] = *p;
    pthread_mutex_unlock(&j->mu);
}

static void *work(void *arg)
{
    lsc_tui_job *j = arg;
    lsc_tui_progress prog = {&j->cancel, report, j, &j->pause, train};
    j->rc = j->model->run(j->model->ctx, j->argc, j->argv, j->flags, &prog, &j->output, &j->errmsg);
    atomic_store(&j->done, 1);
    return NULL;
}

static void job_free(lsc_tui_job *j)
{
    if (!j)
        return;
    for (int i = 0; j->argv && i < j->argc; i++)
        free(j->argv[i]);
    free(j->argv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

lsc_tui_job *lsc_tui_job_start(lsc_tui_model *model, int argc, char **argv, unsigned flags, int threaded)
{
    lsc_tui_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    pthread_mutex_init(&j->mu, NULL);
    atomic_init(&j->done, 0);
    atomic_init(&j->cancel_asked, 0);
    j->model = model;
    j->flags = flags;
    j->threaded = threaded;
    j->argv = calloc((size_t)argc + 1, sizeof *j->argv);
    if (!j->argv) {
        job_free(j);
        return NULL;
    }
    for (j->argc = 0; j->argc < argc; j->argc++)
        if (!(j->argv[j->argc] = strdup(argv[j->argc]))) {
            job_free(j);
            return NULL;
        }
    clock_gettime(CLOCK_MONOTONIC, &j->t0);
    if (!threaded) {
        work(j);
        return j;
    }
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &block, &old); /* the worker inherits the blocked set */
    int e = pthread_create(&j->thread, NULL, work, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        job_free(j);
        return NULL;
    }
    return j;
}

int lsc_tui_job_done(lsc_tui_job *j) { return atomic_load(&j->done); }

void lsc_tui_job_cancel(lsc_tui_job *j)
{
    atomic_store(&j->cancel_asked, 1);
    j->cancel = 1;
}

int lsc_tui_job_cancelled(const lsc_tui_job *j) { return atomic_load(&((lsc_tui_job *)j)->cancel_asked); }

void lsc_tui_job_progress(lsc_tui_job *j, char *what, size_t cap, long *done, long *total, double *elapsed)
{
    pthread_mutex_lock(&j->mu);
    snprintf(what, cap, "%s", j->what);
    *done = j->n_done;
    *total = j->n_total;
    pthread_mutex_unlock(&j->mu);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    *elapsed = (double)(now.tv_sec - j->t0.tv_sec) + (double)(now.tv_nsec - j->t0.tv_nsec) * 1e-9;
}

void lsc_tui_job_pause(lsc_tui_job *j, int on) { j->pause = on != 0; }

int lsc_tui_job_paused(const lsc_tui_job *j) { return j->pause; }

size_t lsc_tui_job_points(lsc_tui_job *j, lsc_tui_train_point *out, size_t cap)
{
    pthread_mutex_lock(&j->mu);
    size_t n = j->n_pts < cap ? j->n_pts : cap;
    memcpy(out, j->pts + (j->n_pts - n), n * sizeof *out);
    pthread_mutex_unlock(&j->mu);
    return n;
}

int lsc_tui_job_finish(lsc_tui_job *j, char **output, char **errmsg)
{
    if (j->threaded)
        pthread_join(j->thread, NULL);
    int rc = j->rc;
    *output = j->output ? j->output : strdup("");
    *errmsg = j->errmsg;
    j->output = j->errmsg = NULL;
    job_free(j);
    return rc;
}
