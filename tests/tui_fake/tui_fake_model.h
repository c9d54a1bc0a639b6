/* tui_fake_model.h: the fake in-memory TUI model (test code: linked only into the tests, the benchmarks and
 * lsc-tui-demo, never into the shipped TUI library), and its test hooks.
 *
 * It implements the model seam of app/tui/model.h without a catalog, so the state, chart and render modules
 * can be tested without a database and without a terminal. Depends on model.h and engine/prune.h only.
 */
#ifndef LSC_TUI_FAKE_MODEL_H
#define LSC_TUI_FAKE_MODEL_H

#include "model.h"

/* The fake in-memory model used by tests and benchmarks: three adapters over a Llama-2-7B shape
 * ("llama2-7b-chat" 224 layers r16, "llama2-7b-code" 224 layers derived from chat, "llama2-7b-qv-ada"
 * 64 q/v layers with varying ranks, one DoRA and one non-finite layer), spectra and statistics from a
 * fixed-seed PRNG, creation times from a fixed epoch, five history records. Commands for run():
 * "ls", "echo ARGS...", "rename OLD NEW", "prune NAME --RULE V [--layers G] [--as NEW]
 * [--allow-nonfinite]", "merge A B... --method M [--weights ..] [--rank K] [--density D] [--seed S]
 * [--as NEW]" (new adapters whose spectra are the kept values), "retrain NAME --target T [--kind K] [--rank K]
 * [--steps N] [--lr X] [--init M] [--seed S] [--final-rank R] [--lambda L] --as NEW" (a loss decaying
 * towards a made-up optimum, a training report per step, honouring pause and cancel: cancelled, it keeps
 * NEW and exits 1 as retrain does), "undo", "redo" (mutating commands are
 * refused with LSC_TUI_RUN_READONLY), "log --script [--since ID]"; anything else exits 2 with
 * "unknown command 'x'". Element-wise merges visit their layers one by one, reporting progress and
 * checking prog->cancel between layers (cancelled: exit 1, nothing changed). prune_preview uses the
 * rules of engine/prune.h on the stored values; merge_preview treats the inputs' singular directions as
 * orthogonal (the merged spectrum is the weighted values, sorted), deterministic. Fails only on out of
 * memory. Release with lsc_tui_model_release(). */
lsc_status lsc_tui_model_fake_init(lsc_tui_model *m, uint64_t seed, lsc_error *err);

/* Test hook of the fake model: with layers >= 0, an element-wise merge merges (and reports) that many
 * layers (a retrain that many steps, a `show --base` that many base layers), then waits until it is released (layers = -1, the default) or cancelled, so a test can watch a
 * job run and cancel it at a known point. */
void lsc_tui_model_fake_hold(lsc_tui_model *m, int layers);

/* Test hook of the fake model: give adapter `name` another kind ("dynamic", "sparse", "layer-wise",
 * "multi-task" ...); kind_figures() then makes up that kind's figures from its spectra, deterministically
 * (a multi-task adapter's tasks are the other adapters that are not multi-task; a "series" gets five
 * checkpoints by step from series(), its figures made up from its own layers). LSC_ERR_NOTFOUND if absent. */
lsc_status lsc_tui_model_fake_set_kind(lsc_tui_model *m, const char *name, const char *kind, lsc_error *err);

/* How many `show NAME --base` commands the fake model has run (the workbench's figures job). */
int lsc_tui_model_fake_show_base_runs(const lsc_tui_model *m);
/* How many of them were `show NAME --base --norms` (|W| and |dW|/|W| only: the grid's heat). */
int lsc_tui_model_fake_show_norms_runs(const lsc_tui_model *m);

/* The fake's readers (model.h's reader: fake_run on the same adapters, read-only): how many are open now
 * and how many were opened in all. */
void lsc_tui_model_fake_readers(const lsc_tui_model *m, int *open_now, int *opened);

/* Take the reader away (m->reader = NULL), as a model without one: the figures job then runs exclusively. */
void lsc_tui_model_fake_no_reader(lsc_tui_model *m);

/* How many `show --base` commands are running now (on any thread); *layer: the base layers the latest one
 * has done (it waits at the hold of lsc_tui_model_fake_hold with *layer == the hold). */
int lsc_tui_model_fake_show_base_active(const lsc_tui_model *m, int *layer);

/* How many times the fake's base was read (each a whole `show --base`): *on_model through
 * the model itself (its UI thread's calls, or a job holding it), *on_readers through one of its readers
 * (model.h: a job beside the browsing). */
void lsc_tui_model_fake_base_reads(const lsc_tui_model *m, int *on_model, int *on_readers);


#endif
