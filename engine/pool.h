/* pool.h: a deterministic parallel-for over independent items (layers, matrices, adapters).
 *
 * Work is split by item: item i is computed by exactly one thread and writes only its own output slot,
 * so the result is the same bytes whatever the thread count (the engine never reduces across items in
 * thread order). Threads claim items from a shared counter; errors are reported for the lowest failing
 * index, so the message too does not depend on scheduling.
 *
 * BLAS inside a worker: OpenBLAS may itself be threaded. lsc_pool_for sets OpenBLAS to one thread while
 * more than one worker runs (and restores the previous count after), so the two levels never
 * oversubscribe the cores and a kernel's floating-point order does not depend on the pool size.
 * No I/O; the thread count is chosen by the caller (app/ reads LSC_THREADS and the core count).
 */
#ifndef LSC_POOL_H
#define LSC_POOL_H

#include <stddef.h>

#include "status.h"

/* One item of work: compute item `index` on worker `worker` (0 .. threads-1; use it to pick per-worker
 * scratch). Return LSC_OK, or fill err and return its code. Must not touch other items' outputs. */
typedef lsc_status (*lsc_pool_fn)(void *ctx, size_t index, int worker, lsc_error *err);

/* Run fn for every index in [0, n) on min(threads, n) threads (threads <= 1: in the calling thread, in
 * order). After the first failure no new items start; the call returns the status of the lowest failing
 * index and copies its message into err. Cancellation: pass a flag in ctx and return LSC_ERR_CANCELLED. */
lsc_status lsc_pool_for(size_t n, int threads, lsc_pool_fn fn, void *ctx, lsc_error *err);

/* The default worker count for whole-adapter work: the value set by lsc_pool_set_default, else 1.
 * app/ sets it once at start-up from LSC_THREADS or the number of online cores. */
int lsc_pool_default_threads(void);

/* Set the default worker count (clamped to 1 .. 64). Call before starting threads. */
void lsc_pool_set_default(int threads);

#endif
