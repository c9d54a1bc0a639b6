/* derive.h: shared steps of the commands that derive a new adapter from others (prune, merge, convert):
 * naming, the kind a derived adapter gets, statistics for its new layers, and storing it with its
 * parents. Internal to the command layer. */
#ifndef LSC_DERIVE_H
#define LSC_DERIVE_H

#include "adapter.h"
#include "command.h"
#include "common.h"

/* Refuse a name that is empty, too long, has control characters, or is taken (LSC_EXIT_ERROR with
 * ctx->err naming it and suggesting --as). */
int lsc_derive_check_name(lsc_cmd_ctx *ctx, const char *name);

/* "static" when every layer has the same rank and alpha, else "layer-wise"; other kinds are kept. */
void lsc_derive_kind(lsc_adapter *ad);

/* Hash new tensors, store the adapter with its parents, cache the statistics of its layers (stats[li] when
 * given and computed, else computed here), record it as written. Returns 0 or an exit code. */
int lsc_derive_store(lsc_cmd_ctx *ctx, lsc_adapter *ad, const int64_t *parents, size_t n_parents, int64_t *id);

#endif
