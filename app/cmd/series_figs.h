/* series_figs.h: the figures of a series (a training run imported as its checkpoints in step order) in the
 * command layer: per layer and step the norm, sigma_1, effective rank and k90 (the figures `show` gives
 * each checkpoint, from the same statistics cache) and the subspace similarity phi (engine/compare.h, input
 * side, over the carrying singular vectors) to the previous and to the final checkpoint. Everything comes
 * from the factors; no delta is formed. Shared by `series` and the workbench's series view. Internal to
 * the command layer. */
#ifndef LSC_CMD_SERIES_FIGS_H
#define LSC_CMD_SERIES_FIGS_H

#include <jansson.h>

#include "command.h"

/* 1 if kind (an adapter's kind name, may be NULL) is that of a series. */
int lsc_is_series(const char *kind);

/* Aggregate figures of series `id` for ls and the catalog view: the layers of its final checkpoint, the
 * params and bytes of all its checkpoints; *members: its checkpoints as a JSON array of {step, label,
 * adapter} (new reference; may be set on failure too). Returns an exit code with ctx->err set on failure. */
int lsc_series_totals(lsc_cmd_ctx *ctx, int64_t id, int64_t *layers, int64_t *params, int64_t *bytes, json_t **members);

typedef struct lsc_series_figs {
    char *layout;               /* "trainer", "kohya" ("" unknown); malloc'ed */
    lsc_series_entry *steps;    /* [n_steps] the checkpoints in step order (catalog.h) */
    size_t n_steps;
    char **layers;              /* [n_layers] stored layer keys, natural order of the final checkpoint */
    size_t n_layers;
    /* [n_layers * n_steps], layer-major: figure of layer i at step j is at i * n_steps + j */
    double *norm, *sigma1, *erank;
    int *k90;
    double *sim_prev;           /* NaN at the first step; NaN where a layer holds NaN/Inf */
    double *sim_final;          /* 1 at the final step for a non-zero layer (phi of a layer with itself) */
} lsc_series_figs;

/* Compute the figures of series `id` for the layers matching glob (NULL: all) into *out (zeroed first).
 * Every member is recorded as read. Errors (exit code, ctx->err set): a glob matching no layer, a member
 * without a layer of the final checkpoint (naming both), out of memory, numeric failures naming the layer. */
int lsc_series_figs_compute(lsc_cmd_ctx *ctx, int64_t id, const char *glob, lsc_series_figs *out);

/* Print (text or JSON) the figures of series `name` (id) for the layers matching glob to ctx->out, as
 * `series` does (implemented in cmd_series.c; `show` of a series calls it too). Returns an exit code. */
int lsc_series_show(lsc_cmd_ctx *ctx, const char *name, int64_t id, const char *glob, int json);

/* Free every array of f and zero it; NULL-safe. */
void lsc_series_figs_release(lsc_series_figs *f);

#endif
