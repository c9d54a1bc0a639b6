/* job.h: one command running off the UI loop — a worker thread around model->run with cancel and progress.
 *
 * Protocol: the state starts a job, polls lsc_tui_job_done() between keys (the loop wakes every 100 ms
 * while a job runs), copies the progress for drawing, and collects the result with lsc_tui_job_finish()
 * once done. While a job runs NOTHING else may call the model it runs on (its catalog connection and caches
 * are not shared between threads): a command started on the state's model makes the state refuse other
 * requests until it is collected; a read-only job started on a reader of the model (model.h: the "vs base"
 * figures, view_vsbase.c) leaves the state's model to the UI thread. Cancelling sets
 * the flag the command layer checks between layers; the dispatcher then rolls the command back.
 * Without threads (threaded = 0, used by tests) the command runs inside lsc_tui_job_start and the job is
 * done on return. Depends on model.h and pthreads; never on curses.
 */
#ifndef LSC_TUI_JOB_H
#define LSC_TUI_JOB_H

#include <stddef.h>

#include "model.h"

typedef struct lsc_tui_job lsc_tui_job;

/* Start argv (copied) on model with run flags. NULL on out of memory or when no thread could start. */
lsc_tui_job *lsc_tui_job_start(lsc_tui_model *model, int argc, char **argv, unsigned flags, int threaded);

/* Non-zero once the command has returned (safe to call any time from the UI thread). */
int lsc_tui_job_done(lsc_tui_job *j);

/* Ask the command to stop at its next check; returns at once. */
void lsc_tui_job_cancel(lsc_tui_job *j);

/* Non-zero after lsc_tui_job_cancel. */
int lsc_tui_job_cancelled(const lsc_tui_job *j);

/* The latest progress report: text into what (may be ""), layers done and in all (total 0: unknown),
 * and seconds since the job started. */
void lsc_tui_job_progress(lsc_tui_job *j, char *what, size_t cap, long *done, long *total, double *elapsed);

/* Pause (on = 1) or resume (on = 0) a training command between its steps (lsc_tui_progress.pause); other
 * commands ignore it. Cancelling a paused command works. */
void lsc_tui_job_pause(lsc_tui_job *j, int on);
int lsc_tui_job_paused(const lsc_tui_job *j);

/* The training reports so far, oldest first (at most LSC_TUI_TRAIN_POINTS: beyond that every other early
 * point is dropped, so the curve keeps its whole span). Copies up to cap of them into out and returns how
 * many it copied. */
size_t lsc_tui_job_points(lsc_tui_job *j, lsc_tui_train_point *out, size_t cap);

/* Wait for the command, take its results (as model->run returns them: *output never NULL, *errmsg NULL
 * on success, both caller-owned) and free the job. Returns the exit code. */
int lsc_tui_job_finish(lsc_tui_job *j, char **output, char **errmsg);

#endif
