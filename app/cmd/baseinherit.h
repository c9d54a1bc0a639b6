/* baseinherit.h: a derived adapter inherits the base its parents record (issue #19). prune, merge,
 * convert, retrain, sparsify, rebudget ... derive a new adapter whose layers modify the same base tensors
 * as their parents' layers, so the base `base` recorded for the parents holds for it too. Internal to the
 * command layer; called from lsc_derive_store (derive.c). */
#ifndef LSC_BASEINHERIT_H
#define LSC_BASEINHERIT_H

#include "adapter.h"
#include "command.h"

/* Record for the new adapter `ad` (stored as `id`, parents [n_parents] by id) the base its parents record,
 * inside the command's transaction: the same path, and per layer of ad the tensor row (name, dtype, shape,
 * hash) of the parent layer it comes from (the layer of the same name, else the one layer with its
 * module identity, lsc_modkey_canonical). Nothing is recorded when no parent has a base. When the parents
 * record different bases (another path, or another tensor for one layer), when a parent has none while
 * another has one, or when a layer of ad comes from no recorded layer, nothing is recorded either and a
 * note on ctx->diag says why and how to record one. Never reads the base's files. Returns LSC_OK, or a
 * catalog error in ctx->err. */
lsc_status lsc_base_inherit(lsc_cmd_ctx *ctx, const lsc_adapter *ad, int64_t id, const int64_t *parents,
                            size_t n_parents);

#endif
