/* derive.h: shared steps of the commands that derive a new adapter from others (prune, merge, convert):
 * naming, the kind a derived adapter gets, statistics for its new layers, and storing it with its
 * parents. Internal to the command layer. */
#ifndef LSC_DERIVE_H
#define LSC_DERIVE_H

#include "adapter.h"
#include "command.h"
#include "common.h"

/* Refuse a name outside the alphabet (lsc_name_check) or taken (LSC_EXIT_ERROR with ctx->err naming it
 * and suggesting --as). */
int lsc_derive_check_name(lsc_cmd_ctx *ctx, const char *name);

/* "static" when every layer has the same rank and alpha, else "layer-wise"; other kinds are kept. */
void lsc_derive_kind(lsc_adapter *ad);

/* Hash new tensors, store the adapter with its parents, cache the statistics of its layers (stats[li] when
 * given and computed, else computed here), record it as written. Returns 0 or an exit code. */
int lsc_derive_store(lsc_cmd_ctx *ctx, lsc_adapter *ad, const int64_t *parents, size_t n_parents, int64_t *id);

/* Stream layer li of the adapter being derived: inside the command's transaction, its new tensors go to
 * the catalog now and leave memory (lsc_catalog_put_layer_data), so an edit holds one output layer at a
 * time; outside a transaction they stay in memory for lsc_derive_store. Returns 0 or an exit code. */
int lsc_derive_stream_layer(lsc_cmd_ctx *ctx, lsc_adapter *dst, size_t li);

/* Parallel, streamed computation of a derived adapter's new layers. Items are taken in windows of a few
 * per worker: for each window, load() runs in the calling thread, item by item (catalog reads), then
 * compute() runs for every item of the window over the pool (lsc_pool_for, lsc_pool_default_threads()
 * workers: pure compute that writes only layer dst_layer[item] of dst and the item's own slots), then, in
 * item order in the calling thread, unload() drops the inputs, the new layer's statistics are cached and
 * its tensors stream into the transaction (lsc_derive_stream_layer). So the catalog receives the same
 * bytes in the same order whatever the number of threads, and memory holds a window, not the adapter. */
typedef struct lsc_derive_ops {
    const char *command; /* "prune": the cancel message says "prune cancelled: nothing written" */
    lsc_status (*load)(void *octx, size_t item, lsc_error *err);
    /* compute item on worker `worker` (0 .. lsc_derive_workers() - 1) with that worker's workspace and
     * decode buffers (sr->ws, sr->b, sr->a: lsc_adapter_factors into them; they are reused for the new
     * layer's statistics after compute returns) */
    lsc_status (*compute)(void *octx, size_t item, int worker, lsc_stats_runner *sr, lsc_error *err);
    void (*unload)(void *octx, size_t item);
} lsc_derive_ops;

/* lsc_adapter_factors into one buffer *buf (cap *cap doubles, grown as needed; B then A in it) for a plain
 * LoRA layer, so a worker's decode buffer is sized by the largest rows + cols of one layer rather than two
 * buffers each keeping the largest rows or the largest cols seen (q, gate and down shapes: ~10 MB less per
 * adapter and worker at 70B). A LyCORIS or embedding layer is decoded into the separate buffers *b, *a
 * (caps bcap, acap; see lsc_adapter_factors). The view's B and A point into whichever was used. */
lsc_status lsc_derive_factors(lsc_adapter *ad, size_t li, double **buf, size_t *cap, double **b, size_t *bcap,
                              double **a, size_t *acap, lsc_lowrank *out, lsc_error *err);

/* The number of workers lsc_derive_layers uses (size per-worker scratch by it). */
int lsc_derive_workers(void);

/* Run the items 0 .. n-1 as above; dst_layer[item] is the layer item writes. A failure (or ctx->cancel)
 * stops at the end of the window, with ctx->err naming the lowest failing item's error. Returns 0 or an
 * exit code. */
int lsc_derive_layers(lsc_cmd_ctx *ctx, lsc_adapter *dst, const size_t *dst_layer, size_t n, const lsc_derive_ops *ops,
                      void *octx);

/* The common start of a derivation: load `src_name` (recorded as read), choose the new name (`as`, else
 * "<src>-<suffix>"), check it is free, and clone the source's description into *dst (no data: unchanged
 * tensors are shared by hash). Returns 0 or an exit code; on failure nothing needs freeing. */
int lsc_derive_begin(lsc_cmd_ctx *ctx, const char *src_name, const char *as, const char *suffix, lsc_adapter **src,
                     int64_t *src_id, lsc_adapter **dst, char *newname, size_t cap);

/* Non-zero, with ctx->err set to "cancelled: nothing written ('NEWNAME' was not made)", when Ctrl-C /
 * SIGTERM / the workbench's cancel raised ctx->cancel: checked by every edit just before it stores. */
int lsc_derive_cancelled(lsc_cmd_ctx *ctx, const char *newname);

/* Finish it: name dst, recompute its kind unless keep_kind, store it with src as parent. Frees both.
 * A raised cancel flag stores nothing (lsc_derive_cancelled). */
int lsc_derive_finish(lsc_cmd_ctx *ctx, lsc_adapter *src, int64_t src_id, lsc_adapter *dst, const char *newname,
                      int keep_kind);

#endif
