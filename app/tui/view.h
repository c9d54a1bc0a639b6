/* view.h: the view protocol of the workbench, internal to app/tui (state.c's dispatcher and the view_*.c
 * modules). Never includes curses.
 *
 * Each view is one module (view_catalog.c, view_layers.c, view_grid.c, view_spectrum.c, view_diff.c,
 * view_history.c with the command output, view_tasks.c, view_prune.c, view_merge.c, view_kind.c,
 * view_retrain.c, view_series.c; the help overlay and the input line are view_help.c and view_prompt.c) exporting one
 * lsc_tui_view_ops table. state.c dispatches: it handles what is global (quit, resize, a running job, a
 * confirmation, the help overlay, the prompt, history, undo/redo, save, going back) and hands every other
 * request to the view on top; a view answers LSC_TUI_CH_PASS for requests it leaves to the shared list
 * behaviour of list.c (move, page, top/bottom, sort, search, filter), as tig's views fall back to the
 * pager. A view's body is drawn by its draw op, a function of render_<view>.c (the render files are the only
 * ones that include curses; render.c's head comment has the protocol): a view's state is what it draws.
 * Each view keeps its state in its own member of lsc_tui_state (state.h: st->grid, st->diff, st->prune
 * ...); what it shows only while open is that member's `transient` part, which its leave op frees and
 * resets in one assignment when the view closes.
 * The functions declared below are the shared steps the views call; their contracts are beside them.
 *
 * Adding a view: its state struct and member in state.h, its name in LSC_VIEW_LIST; view_<name>.c with
 * its ops table and key table, listed in state.c's k_ops; render_<name>.c with its draw op (or none: its
 * list as a table); both files in meson.build; a leave case in tests/check-tui-state.c and a golden screen.
 */
#ifndef LSC_TUI_VIEW_H
#define LSC_TUI_VIEW_H

#include "keys.h"
#include "state.h"

/* A view's request op: "not mine", let the shared list fallback try (never returned to callers). */
#define LSC_TUI_CH_PASS 0x100u

struct lsc_tui_render; /* render.h; complete only in the render files */

typedef struct lsc_tui_view_ops {
    lsc_tui_view view;
    /* The view is on top again after the one above it closed (reload what the other view may have
     * replaced); NULL: nothing to do. */
    void (*enter)(lsc_tui_state *st);
    /* The view stops being on top: closing (popped or replaced) or covered by a pushed view. It clears
     * its transient state (previews, charts, errors: its member's `transient` part) when closing; the
     * dispatcher clears the status message on every view change. NULL: nothing to clear. */
    void (*leave)(lsc_tui_state *st, int closing);
    /* Apply a request; LSC_TUI_CH_PASS to fall back to the list behaviour (when the view has a list). */
    unsigned (*request)(lsc_tui_state *st, lsc_tui_req req);
    /* The panel's input line (LSC_INPUT_NAME, _VALUE, _GLOB) was confirmed with `text`; NULL: none. */
    unsigned (*input_done)(lsc_tui_state *st, lsc_tui_input mode, const char *text);
    /* Place the view's body and pane in st->lay (already reset to the defaults); *table_w is the width of
     * its table. NULL: the default full-width table. */
    void (*layout)(lsc_tui_state *st, int *table_w);
    /* The list cursor moved (by the fallback, a click or a search): load what follows the cursor. */
    void (*moved)(lsc_tui_state *st);
    /* A click of button 1 at screen (y, x) on the view (not on the key bar); LSC_TUI_CH_PASS: the list's
     * click (select a row, Enter on the selected one, sort by a header). NULL: always the list's. */
    unsigned (*click)(lsc_tui_state *st, int y, int x);
    /* Draw the view's body (between the title bar and the status line) on r: a function of render_<view>.c
     * (declared below; the renderer is an incomplete type here, so no curses). NULL: the view's list as a
     * full-width table. Reads the state, never changes it. */
    void (*draw)(struct lsc_tui_render *r, const lsc_tui_state *st);
    /* A panel: its rows preview an edit, so the header does not sort and a click never applies. */
    int panel;
    /* The view's own keys (the global ones are lsc_tui_global_keys in keys.c); they generate its help
     * overlay and its key bar. */
    const lsc_tui_binding *keys;
    size_t n_keys;
} lsc_tui_view_ops;

#define LSC_TUI_KEYS(table) table, sizeof table / sizeof table[0]

/* The ops of view v (never NULL for v < LSC_VIEW_COUNT). */
const lsc_tui_view_ops *lsc_tui_view_ops_of(lsc_tui_view v);

extern const lsc_tui_view_ops lsc_tui_view_catalog, lsc_tui_view_layers, lsc_tui_view_grid, lsc_tui_view_spectrum,
    lsc_tui_view_diff, lsc_tui_view_history, lsc_tui_view_output, lsc_tui_view_prune, lsc_tui_view_merge,
    lsc_tui_view_tasks, lsc_tui_view_kind, lsc_tui_view_retrain, lsc_tui_view_series, lsc_tui_view_audit;

/* Open the audit view over the whole catalog (view_audit.c): 'a' in the catalog and `:audit`. */
unsigned lsc_tui_audit_open(lsc_tui_state *st);

/* ---- "vs base" (view_vsbase.c): the layer table against the recorded base */
#define LSC_TUI_VSBASE_LINE 160 /* bytes of one panel line */
/* The layer table's adapter changed or reloaded: ask the model for its base (once per adapter) and point
 * the rows at the cached figures. */
void lsc_tui_vsbase_sync(lsc_tui_state *st);
/* Drop every cached figure (after an edit: a base may have been recorded, undone or changed); a figures job
 * still running then ends without figures (its result would be stale). */
void lsc_tui_vsbase_forget(lsc_tui_state *st);
/* Stop and wait for a running figures job, then drop everything (the state is being freed). */
void lsc_tui_vsbase_free(lsc_tui_state *st);
/* Whether the layer table shows the base columns (its adapter has a recorded base). */
int lsc_tui_vsbase_shown(const lsc_tui_state *st);
/* The figures of layer data row `data_row`; NULL while unknown. */
const lsc_tui_basefig_row *lsc_tui_vsbase_fig(const lsc_tui_state *st, size_t data_row);
/* The known figures of the layer table's adapter are |W| and |dW|/|W| alone (the grid's norms job): its
 * other figures are unknown ("-"), and b in the layer table computes them all. */
int lsc_tui_vsbase_norms_only(const lsc_tui_state *st);
/* The `b` key: start the figures job (on the model's reader when it has one, see view_vsbase.c's head),
 * show the panel of the adapter whose figures are computing, or show/hide the panel once they are known
 * (or failed). A second figures job while one runs is refused with a message. */
unsigned lsc_tui_vsbase_request(lsc_tui_state *st);
/* Make sure the |dW|/|W| of the layer table's adapter are known or computing, without the panel (the grid's
 * b): 0 when they are known (its full figures or its norms); otherwise starts the norms job (`show --base
 * --norms`: one read of the base, no range finder) as b starts the full one, or says that they are
 * computing, that another adapter's are (one job at a time) or how to record a base. */
unsigned lsc_tui_vsbase_compute(lsc_tui_state *st);
/* The figures job of `adapter` ended: with the command's JSON output (cached for `adapter`; the panel opens
 * if the table still shows it), or failed with its message (kept in the panel of `adapter` when it is the
 * table's; nothing when cancelled). */
void lsc_tui_vsbase_done(lsc_tui_state *st, const char *adapter, const char *output);
void lsc_tui_vsbase_failed(lsc_tui_state *st, const char *adapter, const char *errmsg, int cancelled);
/* Non-zero while a figures job runs on the model's reader (the workbench keeps browsing meanwhile). */
int lsc_tui_vsbase_running(const lsc_tui_state *st);
/* Refresh the running figures job's progress, or collect it once it is done; LSC_TUI_CH_* flags, 0 when
 * none runs. */
unsigned lsc_tui_vsbase_poll(lsc_tui_state *st);
/* Ask the figures job to stop at its next layer (Ctrl-C): it ends with no figures and no error message.
 * LSC_TUI_CH_REDRAW, or 0 when none runs. */
unsigned lsc_tui_vsbase_cancel(lsc_tui_state *st);
/* The rule for edits during a figures job: `what` (an edit, undo, a command) would hold the model while the
 * figures job runs, so it is refused, with a message saying why and that Ctrl-C cancels the job. Returns 1
 * when refused, 0 when no figures job runs. */
int lsc_tui_vsbase_refuse(lsc_tui_state *st, const char *what);
/* The panel's text for the selected layer: up to max lines (a message wrapped to width columns); returns
 * how many. */
int lsc_tui_vsbase_lines(const lsc_tui_state *st, char (*lines)[LSC_TUI_VSBASE_LINE], int max, int width);

/* ---- the views' draw ops (render_<view>.c, curses inside) */
void lsc_tui_draw_layers(struct lsc_tui_render *r, const lsc_tui_state *st);
void lsc_tui_draw_grid(struct lsc_tui_render *r, const lsc_tui_state *st);
void lsc_tui_draw_spectrum(struct lsc_tui_render *r, const lsc_tui_state *st);
void lsc_tui_draw_diff(struct lsc_tui_render *r, const lsc_tui_state *st);
void lsc_tui_draw_prune(struct lsc_tui_render *r, const lsc_tui_state *st);
void lsc_tui_draw_merge(struct lsc_tui_render *r, const lsc_tui_state *st);
void lsc_tui_draw_kind(struct lsc_tui_render *r, const lsc_tui_state *st);
void lsc_tui_draw_retrain(struct lsc_tui_render *r, const lsc_tui_state *st);
void lsc_tui_draw_series(struct lsc_tui_render *r, const lsc_tui_state *st);

/* ---- the view stack (state.c): each change calls leave on the old top, clears the status message and
 * lays out the new top. */
void lsc_tui_view_push(lsc_tui_state *st, lsc_tui_view v);
void lsc_tui_view_replace(lsc_tui_state *st, lsc_tui_view v);
unsigned lsc_tui_view_pop(lsc_tui_state *st); /* 0 on the root view */
void lsc_tui_view_truncate(lsc_tui_state *st, int depth); /* close the views above depth (>= 1) */

/* ---- shared steps (state.c) */
void lsc_tui_busy(lsc_tui_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lsc_tui_msg_clear(lsc_tui_state *st); /* no message, level info */
int lsc_tui_adapter_exists(const lsc_tui_state *st, const char *name);
void lsc_tui_argv_add(lsc_tui_argv *a, const char *w); /* drops words past LSC_TUI_ARGS_MAX */
/* state_job.c: a's command line parsed and validated by its command (lsc_tui_command_check): LSC_OK, or
 * the command's message in err. A panel checks what it will run with this, before asking. */
lsc_status lsc_tui_argv_check(const lsc_tui_argv *a, lsc_error *err);
/* lsc_tui_argv_add as an add(ctx, word) callback (ctx: the lsc_tui_argv) */
void lsc_tui_argv_add_word(void *a, const char *w);

/* ---- the list fallback and list maintenance (list.c) */
void lsc_tui_layout_update(lsc_tui_state *st); /* recompute st->lay for the view on top */
const char *lsc_tui_row_name(const lsc_tui_state *st, lsc_tui_view v, size_t i);
int lsc_tui_row_match(const lsc_tui_state *st, lsc_tui_view v, size_t i, const char *pat);
/* Numeric sort key of data row i in column c; *s set instead when the column sorts as text. */
double lsc_tui_sort_key(const lsc_tui_state *st, lsc_tui_view v, size_t i, lsc_tui_col c, const char **s);
int lsc_tui_module_rank(const lsc_tui_state *st, const char *m); /* grid.n_mods when not a grid column */
size_t lsc_tui_list_count(const lsc_tui_state *st, lsc_tui_view v);
void lsc_tui_list_clamp(lsc_tui_list *l, int h);
/* Rebuild order[] after the data, filter or sort changed; -1 on out of memory (the list is then empty). */
int lsc_tui_list_rebuild(lsc_tui_state *st, lsc_tui_view v);
/* Start list v afresh for new data: cursor and scroll at the top, no filter, tags dropped on the next
 * rebuild. */
void lsc_tui_list_reset(lsc_tui_state *st, lsc_tui_view v);
/* The figure (LSC_TUI_SERIES_*) the series view shows in column c; -1 for a column that is no figure. */
int lsc_tui_series_col_fig(lsc_tui_col c);
unsigned lsc_tui_list_move(lsc_tui_state *st, lsc_tui_list *l, long delta);
unsigned lsc_tui_list_search(lsc_tui_state *st, int dir);
/* Tag or untag the row under the cursor and move down. */
/* A form panel (merge, retrain): its current field, how many there are, and its steps: change the field by
 * one step (dir -1 or +1; big: the coarse step), open it for typing, run the panel. */
typedef struct lsc_tui_form {
    int *field;
    int count;
    unsigned (*step)(lsc_tui_state *st, int dir, int big);
    unsigned (*edit)(lsc_tui_state *st);
    unsigned (*apply)(lsc_tui_state *st);
} lsc_tui_form;

/* The requests every form panel answers alike: Up/Down move between the fields (wrapping), the steps and
 * big steps change the field, EDIT types it, APPLY runs the panel. LSC_TUI_CH_PASS for any other request. */
unsigned lsc_tui_form_request(lsc_tui_state *st, lsc_tui_req req, const lsc_tui_form *f);

unsigned lsc_tui_list_tag(lsc_tui_state *st);
/* Untag every row of the view on top. */
unsigned lsc_tui_list_tag_clear(lsc_tui_state *st);
/* The names of view v's tagged rows (malloc'd, *n of them; NULL when none or out of memory), taken before
 * its data is replaced, and put back on the rows of the new data with the same names (then freed): tags
 * stay across an edit's reload. */
char (*lsc_tui_list_tags_save(const lsc_tui_state *st, lsc_tui_view v, size_t *n))[LSC_TUI_NAME_MAX];
void lsc_tui_list_tags_restore(lsc_tui_state *st, lsc_tui_view v, char (*names)[LSC_TUI_NAME_MAX], size_t n);
/* The shared list behaviour: move, page, top/bottom, sort, search, filter on the view's list. */
unsigned lsc_tui_list_request(lsc_tui_state *st, lsc_tui_req req);
/* The filter typed on the input line: apply it to the current list. */
unsigned lsc_tui_list_filter_done(lsc_tui_state *st, const char *text);
/* Search and filter as they are typed (view_prompt.c calls these; `mode` is the input line's):
 * incremental applies `text` — the filter to the list, or the cursor to the first match after where it
 * was when `/` was pressed — and undo puts back the list as it was when the line opened (Esc, and before
 * Enter's search, which then lands on the same match). Nothing for the other modes. */
unsigned lsc_tui_list_incremental(lsc_tui_state *st, lsc_tui_input mode, const char *text);
void lsc_tui_list_incremental_undo(lsc_tui_state *st, lsc_tui_input mode);

/* ---- jobs, confirmation, undo and the session (state_job.c) */
unsigned lsc_tui_reload_after_edit(lsc_tui_state *st);
void lsc_tui_select_adapter(lsc_tui_state *st, const char *name);
/* Run a command line (on the worker thread when st->async); refused while one runs. */
unsigned lsc_tui_job_run(lsc_tui_state *st, const lsc_tui_argv *a, const char *title);
/* Open the yes/no question; yes runs `action` as a job called `title`. */
unsigned lsc_tui_ask(lsc_tui_state *st, const lsc_tui_argv *action, const char *title, const char *question,
                     const char *detail);
unsigned lsc_tui_confirm_key(lsc_tui_state *st, int key);
unsigned lsc_tui_undo_request(lsc_tui_state *st, int redo);
unsigned lsc_tui_session_save(lsc_tui_state *st, const char *file);

/* ---- data the views load and share (each in the view that shows it) */
unsigned lsc_tui_load_catalog(lsc_tui_state *st);                   /* view_catalog.c */
int lsc_tui_load_layers(lsc_tui_state *st, const char *name);        /* view_layers.c; 0 or -1 (message set) */
void lsc_tui_layers_forget(lsc_tui_state *st); /* its adapter is gone: the next load starts afresh */
/* view_grid.c: rebuild the grid from the layer table (fresh: another adapter, cursor to the top left);
 * show it with the cursor on layer `at` (NULL: where it was). */
void lsc_tui_grid_build(lsc_tui_state *st, int fresh);
unsigned lsc_tui_grid_open(lsc_tui_state *st, const lsc_tui_layer *at);
void lsc_tui_grid_metric_max(lsc_tui_state *st);
/* The grid's heat value of layer row i under its metric (norm, rank, or |dW|/|W| against the base: the
 * vs base figures' rel_norm, NaN while unknown). */
double lsc_tui_grid_value(const lsc_tui_state *st, size_t i);
/* The heat is |dW|/|W| and the figures of the grid's adapter are not known: what to do (into buf, cap
 * bytes; "" while they compute, as the status line shows their progress) and 1; else 0. */
int lsc_tui_grid_rel_pending(const lsc_tui_state *st, char *buf, size_t cap);
/* The metric's name for the legend ("fro", brief) or the status line ("fro norm"). */
const char *lsc_tui_grid_metric_name(const lsc_tui_state *st, int brief);
void lsc_tui_grid_clamp(lsc_tui_state *st);
/* view_spectrum.c: the spectrum of one layer into *sv (replaced); 0 or -1 (message set). */
int lsc_tui_load_sv(lsc_tui_state *st, const char *adapter, const char *layer, double **sv, size_t *n);
int lsc_tui_spectrum_load(lsc_tui_state *st, size_t li);
void lsc_tui_diff_load_sv(lsc_tui_state *st);                        /* view_diff.c */
unsigned lsc_tui_diff_open(lsc_tui_state *st);
unsigned lsc_tui_load_history(lsc_tui_state *st);                    /* view_history.c */
void lsc_tui_output_free(lsc_tui_state *st);
int lsc_tui_output_set(lsc_tui_state *st, const char *text);
void lsc_tui_output_show(lsc_tui_state *st, const char *text, const char *title, int replace);
unsigned lsc_tui_tasks_open(lsc_tui_state *st, const char *group);   /* view_tasks.c */
int lsc_tui_is_group_kind(const char *kind);
unsigned lsc_tui_prune_open(lsc_tui_state *st);                      /* view_prune.c */
unsigned lsc_tui_prune_refresh(lsc_tui_state *st);
void lsc_tui_prune_forget(lsc_tui_state *st); /* its adapter is gone: the next open starts from defaults */
unsigned lsc_tui_merge_open(lsc_tui_state *st);                      /* view_merge.c */
unsigned lsc_tui_kind_open(lsc_tui_state *st);                       /* view_kind.c */
unsigned lsc_tui_retrain_open(lsc_tui_state *st);                    /* view_retrain.c */
unsigned lsc_tui_series_open(lsc_tui_state *st, const char *name);   /* view_series.c */
unsigned lsc_tui_retrain_pause(lsc_tui_state *st);
/* The retrain job (state_job.c tells the panel): started creating new_name (a fresh curve), reported
 * (copy its points from st->job), must finish (unpause st->job), ended (no report: no curve). The last
 * run's curve is the panel's record of it, not transient: it stays for a reopen on the same adapter. */
void lsc_tui_retrain_job_started(lsc_tui_state *st, const char *new_name);
void lsc_tui_retrain_job_points(lsc_tui_state *st);
void lsc_tui_retrain_resume(lsc_tui_state *st);
void lsc_tui_retrain_job_ended(lsc_tui_state *st);
unsigned lsc_tui_help_request(lsc_tui_state *st, lsc_tui_req req);  /* view_help.c: the overlay is open */
unsigned lsc_tui_help_open(lsc_tui_state *st);                        /* view_help.c: open it at the top */
unsigned lsc_tui_input_key(lsc_tui_state *st, int key);              /* view_prompt.c: the input line is open */
unsigned lsc_tui_prompt_run(lsc_tui_state *st, const char *line);
/* view_prompt.c: read the `:` history from file (NULL or "": none kept across runs). */
void lsc_tui_prompt_history_load(lsc_tui_state *st, const char *file);
/* view_prompt.c: open the input line in `mode` with `initial` text (and the lead text of a panel's
 * question); the lead text is cleared on every change of the view on top. */
void lsc_tui_input_open(lsc_tui_state *st, lsc_tui_input mode, const char *initial);
void lsc_tui_input_open_label(lsc_tui_state *st, lsc_tui_input mode, const char *initial, const char *label);
void lsc_tui_input_label_clear(lsc_tui_state *st);

#endif
