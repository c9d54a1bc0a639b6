/* kind_figures.h: the figures particular to an adapter's kind, for `show` (a text panel under the layer
 * table, and "kind_figures" in --json) and the workbench: DyLoRA's prefix-error curve, AdaLoRA's budget
 * and |Lambda|, SoRA's live gates and factor sparsity, the layers x modules grid of a layer-wise adapter.
 * Internal to the command layer. */
#ifndef LSC_KIND_FIGURES_H
#define LSC_KIND_FIGURES_H

#include <jansson.h>

#include "adapter.h"
#include "command.h"

/* Compute the figures of ad's kind over the layers matching glob. On success *out is a JSON object
 * (new reference; {} for a kind with nothing particular) and, with text set, the panel is printed. */
int lsc_kind_figures(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *glob, int text, json_t **out);

#endif
