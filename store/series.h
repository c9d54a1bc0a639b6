/* series.h: recognising a training run on disk, whose checkpoints make a series ordered by step.
 *
 * Two layouts are a run:
 * - HF Trainer: a folder whose adapter sub-folders are all named `checkpoint-N` (each a PEFT folder;
 *   `trainer_state.json` beside it gives the step as `global_step`, else N is the step). An adapter in
 *   the folder itself is the final save: it comes last, labelled "final".
 * - kohya sd-scripts: a folder holding `NAME-<digits>.safetensors` per-epoch files (the epoch is the
 *   step), and optionally the final `NAME.safetensors`, labelled "final", last; two files at least (one
 *   file alone is not a run).
 * A folder of PEFT adapters with other sub-folder names (PEFT's own save_pretrained of several adapters)
 * is not a run: it stays a multi-task group (cmd_import.c). This module only reads the folder listing and
 * the small JSON files; it never opens the adapters. Never includes curses; never prints.
 */
#ifndef LSC_SERIES_H
#define LSC_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct lsc_series_item {
    char *path;   /* the checkpoint to import (a PEFT folder or a kohya .safetensors) */
    char *label;  /* "500", or "final" for the run's final save */
    int64_t step; /* the step (Trainer) or epoch (kohya); a final save without a known step gets the last
                   * checkpoint's step (Trainer) or that + 1 (kohya) */
    int final;    /* 1 for the final save (always the last item) */
} lsc_series_item;

typedef struct lsc_series_plan {
    const char *layout;    /* "trainer" or "kohya" (static strings) */
    lsc_series_item *items; /* [n] in step order, the final save last */
    size_t n;
} lsc_series_plan;

/* Look at `path`: *out is a new plan when it is a run folder in one of the layouts above (free with
 * lsc_series_plan_free), NULL when it is not a run (a file, a PEFT folder, a multi-adapter folder).
 * Errors (LSC_ERR_INVALID, naming the folder and the entries): a folder mixing checkpoint-N sub-folders
 * with other adapter sub-folders, two checkpoints with the same step, a trainer_state.json that is not
 * JSON or whose global_step is not a non-negative integer, per-epoch files of more than one run; I/O
 * errors reading the folder. */
lsc_status lsc_series_scan(const char *path, lsc_series_plan **out, lsc_error *err);

void lsc_series_plan_free(lsc_series_plan *p);

#endif
