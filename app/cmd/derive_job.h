/* derive_job.h: a derivation split for `run --jobs` (command.h lsc_cmd_split): the commands that make one
 * new adapter from one source (convert, sparsify, gates, rebudget) keep their state in an lsc_derive_job.
 * begin does every read of the catalog (the source, the name check and, held, every tensor the compute
 * reads); the command's compute then works on the job alone, on any thread; finish stores it through the
 * dispatcher's transaction. Without --jobs the same three steps run in a row in the command's run step, so
 * both paths compute the same bytes. Internal to the command layer. */
#ifndef LSC_DERIVE_JOB_H
#define LSC_DERIVE_JOB_H

#include "derive.h"

/* The statistics of a derived adapter's new layers, computed with the compute (on its worker) rather than
 * by the store on the writer's thread: st[li] is set where have[li] (both [n]). */
typedef struct lsc_derive_stats {
    lsc_layer_stats *st;
    unsigned char *have;
    size_t n;
} lsc_derive_stats;

typedef struct lsc_derive_job {
    lsc_adapter *src, *dst;
    int64_t src_id;
    char newname[512];
    volatile int *cancel;
    lsc_tensor_loader load; /* held: src's own loader, put back by take (src->load refuses meanwhile) */
    int held;
    lsc_derive_stats stats; /* held: the new layers' statistics (lsc_derive_held_stats) */
} lsc_derive_job;

/* The most input bytes a prepared state may hold (LSC_HOLD_BYTES overrides it, for tests): a bigger
 * adapter is not held: its prepare returns no state and `run --jobs` runs it in turn through the
 * command's run step, streamed, its layers over the pool (memory a window, not the adapter). */
size_t lsc_derive_hold_max(void);

/* Load every tensor layer li's factor view reads, for every layer of ad (LyCORIS factors, gates, E and
 * magnitudes too: lsc_adapter_layer_inputs), then make ad's loader refuse (an error naming the tensor), so
 * that a compute step on a worker thread can never reach the catalog: a tensor it reads that was not
 * preloaded fails the same way on every run instead of racing. *saved receives the loader to put back. */
lsc_status lsc_derive_hold(lsc_adapter *ad, lsc_tensor_loader *saved, lsc_error *err);

/* Only the guard of lsc_derive_hold, for a caller that preloaded the tensors its compute reads itself
 * (prune loads the layers whose rank drops): ad's loader refuses from now on; *saved gets it back. */
void lsc_derive_guard(lsc_adapter *ad, lsc_tensor_loader *saved);

/* The common start (lsc_derive_begin: load src_name, pick the name `as` or "<src>-<suffix>", check it is
 * free, clone the description) into *job; `hold` preloads and guards the source (lsc_derive_hold) unless
 * it is bigger than lsc_derive_hold_max() (job->held stays 0).
 * Returns 0 or an exit code with ctx->err set; on failure the job holds nothing. */
int lsc_derive_job_begin(lsc_cmd_ctx *ctx, const char *src_name, const char *as, const char *suffix, int hold,
                         lsc_derive_job *job);

/* The end of a prepare that began a job (a state starting with an lsc_derive_job): a job left unheld (too
 * big) is released and *state set to NULL (command.h: run it in turn). Returns rc. */
int lsc_derive_job_prepared(int rc, void **state, void (*state_free)(void *));

/* In the run step, for a job that run --jobs prepared in another context: record the source as read, put
 * the loader back and check the name again (an earlier store may have taken it). 0 or an exit code. */
int lsc_derive_job_take(lsc_cmd_ctx *ctx, lsc_derive_job *job);

/* lsc_derive_finish on the job (name, kind unless keep_kind, store with its source as parent); the job's
 * adapters are released either way. */
int lsc_derive_job_finish(lsc_cmd_ctx *ctx, lsc_derive_job *job, int keep_kind);

/* Release what the job holds (NULL-safe on the adapters). */
void lsc_derive_job_release(lsc_derive_job *job);

/* After a held compute, on its thread: hash dst's new tensors and compute the statistics of every layer
 * whose A, B or E is new (holds data) with the kernel every path uses (lsc_layer_stats_now), into *out
 * (released with lsc_derive_stats_release, also after a failure). A layer with only a new gate keeps the
 * cache entry of its source (the statistics key is A, B and E). */
lsc_status lsc_derive_held_stats(lsc_adapter *dst, lsc_derive_stats *out, lsc_error *err);

/* The end of a job's compute that returned st: held, its statistics too (lsc_derive_held_stats). */
lsc_status lsc_derive_job_computed(lsc_derive_job *job, lsc_status st, lsc_error *err);

/* In the store, inside the command's transaction: cache them under dst's keys, so that lsc_derive_store
 * finds them there. 0 or an exit code. */
int lsc_derive_put_stats(lsc_cmd_ctx *ctx, const lsc_adapter *dst, const lsc_derive_stats *s);

void lsc_derive_stats_release(lsc_derive_stats *s);

/* For lsc_cmd_split: a state that starts with an lsc_derive_job: the name it makes and the bytes it holds. */
const char *lsc_derive_job_output(const void *state);
size_t lsc_derive_job_bytes(const void *state);

#endif
