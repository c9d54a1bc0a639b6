/* figure.h: the `--svg FILE` figures of spectrum, diff and show, drawn from the very JSON values the
 * command prints with --json (so a figure can never show other numbers than the command reports), and
 * written to FILE atomically. */
#ifndef LSC_CMD_FIGURE_H
#define LSC_CMD_FIGURE_H

#include <jansson.h>

#include "command.h"
#include "sink.h"

/* Singular values per layer (log y) from spectrum's --json array [{name, sv[]}]. */
void lsc_figure_spectrum(lsc_sink *out, const char *adapter, const json_t *layers);

/* Cosine and subspace similarities per layer from diff's --json object {a, b, layers[...]}. */
void lsc_figure_diff(lsc_sink *out, const json_t *diff);

/* Heat map of a per-layer figure (`field`, e.g. "norm") over modules x blocks, from show's --json
 * object {name, layers[{module_type, layer_index, FIELD}]}. */
void lsc_figure_heatmap(lsc_sink *out, const json_t *show, const char *field, const char *legend);

/* One figure (`field`, e.g. "norm") of every layer against the checkpoint step, from series --json
 * {name, steps[{step}], layers[{name, FIELD[]}]} (null values are gaps). */
void lsc_figure_series(lsc_sink *out, const json_t *series, const char *field, const char *label);

/* Write svg to path: the export target policy (parent exists, a regular file or nothing there, never the
 * catalog; an existing file is replaced, as figures are regenerated) and an atomic replace. Returns
 * LSC_EXIT_OK or LSC_EXIT_ERROR with ctx->err naming the path. */
int lsc_figure_write(lsc_cmd_ctx *ctx, const char *path, const lsc_sink *svg);

#endif
