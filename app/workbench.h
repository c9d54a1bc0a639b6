/* workbench.h: the real data behind the TUI — the catalog, the engine and the command dispatcher bound
 * to the TUI's model interface (app/tui/model.h). */
#ifndef LSC_WORKBENCH_H
#define LSC_WORKBENCH_H

#include "model.h"
#include "status.h"

/* Build a model over the catalog at `catalog_path` (NULL: the default path). With readonly the catalog
 * is opened read-only and mutating commands are refused. The catalog stays open until
 * lsc_tui_model_release(); no transaction is held between calls, so scripts and other lorascope
 * processes can edit the same catalog meanwhile (the TUI sees their changes on refresh). */
lsc_status lsc_workbench_model_init(lsc_tui_model *m, const char *catalog_path, int readonly, lsc_error *err);

/* 1 if the model's catalog is read-only: asked for, or a catalog this process may not write (a read-only
 * mount, another user's file), which the model opens read-only rather than refusing. */
int lsc_workbench_is_readonly(const lsc_tui_model *m);

#endif
