/* state.c: the workbench's dispatcher — requests in, change flags out, no drawing.
 *
 * Owns the state's lifecycle and the view stack, and routes every request (view.h has the protocol):
 *   1. global requests first: quit and resize always; while a job runs only cancel (Esc) and pause; an open
 *      confirmation takes Esc; the help overlay (view_help.c) takes the keys while it is open; then help,
 *      the `:` prompt, history, undo/redo, save, refresh (the view reloads its own data after) and back;
 *   2. then the view on top: its ops->request (view_<name>.c) handles its own requests;
 *   3. a view that answers LSC_TUI_CH_PASS falls back to the shared list behaviour (list.c: move, page,
 *      top/bottom, sort, search, filter), as tig's views fall back to the pager.
 * Every change of the top view calls the old view's leave op and clears the status message, so nothing a
 * view left (a message, an error colour, a preview, a chart) shows in the next; keys go through the view's
 * key table (keys.c), which also makes its help overlay and bottom key bar.
 * Drawing: each view's draw op (render_<view>.c; render.c draws the frame) draws it from the state its
 * module keeps; only the render files include curses, nothing here or in view_*.c does.
 */
#include "state.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "job.h"
#include "keys.h"
#include "view.h"

static const char *const k_req_names[] = {
#define LSC_X_REQ(code, name) name,
    LSC_REQ_LIST(LSC_X_REQ)
#undef LSC_X_REQ
};
_Static_assert(sizeof k_req_names / sizeof k_req_names[0] == LSC_REQ_COUNT, "request names");

static const char *const k_view_names[] = {
#define LSC_X_VIEW(code, name) name,
    LSC_VIEW_LIST(LSC_X_VIEW)
#undef LSC_X_VIEW
};
_Static_assert(sizeof k_view_names / sizeof k_view_names[0] == LSC_VIEW_COUNT, "view names");

static const lsc_tui_colinfo k_cols[] = {
#define LSC_X_COL(code, title, width, right, prio) {title, width, right, prio},
    LSC_COL_LIST(LSC_X_COL)
#undef LSC_X_COL
};
_Static_assert(sizeof k_cols / sizeof k_cols[0] == LSC_COL_COUNT, "column table");

const char *lsc_tui_req_name(lsc_tui_req r) { return (unsigned)r < LSC_REQ_COUNT ? k_req_names[r] : "?"; }

int lsc_tui_req_parse(const char *name)
{
    for (int i = 0; i < LSC_REQ_COUNT; i++)
        if (strcmp(k_req_names[i], name) == 0)
            return i;
    return -1;
}

const char *lsc_tui_view_name(lsc_tui_view v) { return (unsigned)v < LSC_VIEW_COUNT ? k_view_names[v] : "?"; }

const lsc_tui_colinfo *lsc_tui_col_info(lsc_tui_col c) { return &k_cols[c]; }

void lsc_tui_state_msg(lsc_tui_state *st, lsc_tui_msg_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    st->msg_level = lvl;
}
void lsc_tui_busy(lsc_tui_state *st, const char *fmt, ...)
{
    if (!st->busy)
        return;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    st->busy(st->busy_ctx, what);
}

lsc_tui_view lsc_tui_state_view(const lsc_tui_state *st) { return st->stack[st->depth - 1]; }

/* ---- lifecycle ------------------------------------------------------------------------------------- */

/* Each view's leave op as if it closed: frees and resets its transient part (state_new and state_free). */
static void close_all_views(lsc_tui_state *st)
{
    for (int v = 0; v < LSC_VIEW_COUNT; v++)
        if (lsc_tui_view_ops_of((lsc_tui_view)v)->leave)
            lsc_tui_view_ops_of((lsc_tui_view)v)->leave(st, 1);
}

lsc_status lsc_tui_state_new(lsc_tui_model *model, const lsc_tui_state_opts *opts, int lines, int cols,
                             lsc_tui_state **out, lsc_error *err)
{
    *out = NULL;
    lsc_tui_state *st = calloc(1, sizeof *st);
    if (!st)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    st->model = model;
    st->vsbase.cur = -1;
    st->readonly = opts ? opts->readonly : 0;
    st->stack[0] = LSC_VIEW_CATALOG;
    st->depth = 1;
    close_all_views(st); /* every view starts as just closed: its transient part reset */
    for (int v = 0; v < LSC_VIEW_COUNT; v++) {
        st->lists[v].sort = -1;
        st->lists[v].n_data = (size_t)-1;
    }
    st->lists[LSC_VIEW_CATALOG].sort = 0; /* by name */
    st->lay.lines = lines;
    st->lay.cols = cols;
    lsc_tui_layout_update(st);
    lsc_tui_adapter *a = NULL;
    size_t n = 0;
    lsc_status s = model->list_adapters(model->ctx, &a, &n, err);
    if (s != LSC_OK) {
        free(st);
        return s;
    }
    st->catalog.rows = a;
    st->catalog.n = n;
    if (lsc_tui_list_rebuild(st, LSC_VIEW_CATALOG) != 0) {
        lsc_tui_state_free(st);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    lsc_tui_state_msg(st, LSC_MSG_INFO, "%zu adapters - press ? for help", n);
    /* the session starts after the newest history entry: W saves what comes after it */
    lsc_tui_copy(st->session_file, sizeof st->session_file, "lorascope-session.lsc");
    lsc_tui_prompt_history_load(st, opts ? opts->history_file : NULL);
    lsc_tui_history *h = NULL;
    size_t nh = 0;
    lsc_error herr = {0};
    if (model->history && model->history(model->ctx, &h, &nh, &herr) == LSC_OK)
        for (size_t i = 0; i < nh; i++)
            if (h[i].id > st->session_since)
                st->session_since = h[i].id;
    free(h);
    if (opts && opts->adapter && opts->adapter[0]) {
        lsc_tui_list *cl = &st->lists[LSC_VIEW_CATALOG];
        for (size_t i = 0; i < cl->n; i++)
            if (strcmp(st->catalog.rows[cl->order[i]].name, opts->adapter) == 0)
                cl->cursor = i;
        if (lsc_tui_load_layers(st, opts->adapter) == 0) {
            st->stack[st->depth++] = LSC_VIEW_LAYERS;
            lsc_tui_layout_update(st);
            lsc_tui_list_rebuild(st, LSC_VIEW_LAYERS);
        }
    }
    *out = st;
    return LSC_OK;
}

void lsc_tui_state_free(lsc_tui_state *st)
{
    if (!st)
        return;
    if (st->job) { /* leaving with a command running: stop it, let it roll back, wait for it */
        char *o = NULL, *e = NULL;
        lsc_tui_job_cancel(st->job);
        lsc_tui_job_finish(st->job, &o, &e);
        free(o);
        free(e);
        st->job = NULL;
    }
    close_all_views(st); /* frees every view's transient part */
    free(st->tasks.rows);
    for (int v = 0; v < LSC_VIEW_COUNT; v++) {
        free(st->lists[v].order);
        free(st->lists[v].tagged);
    }
    free(st->catalog.rows);
    free(st->layers.rows);
    lsc_tui_vsbase_free(st);
    lsc_tui_diff_release(&st->diff.cmp);
    free(st->history.rows);
    free(st->audit.rows);
    lsc_tui_output_free(st);
    free(st->grid.cell);
    free(st);
}

/* ---- requests -------------------------------------------------------------------------------------- */

static const lsc_tui_view_ops *const k_ops[LSC_VIEW_COUNT] = {
    [LSC_VIEW_CATALOG] = &lsc_tui_view_catalog, [LSC_VIEW_LAYERS] = &lsc_tui_view_layers,
    [LSC_VIEW_GRID] = &lsc_tui_view_grid,       [LSC_VIEW_SPECTRUM] = &lsc_tui_view_spectrum,
    [LSC_VIEW_DIFF] = &lsc_tui_view_diff,       [LSC_VIEW_HISTORY] = &lsc_tui_view_history,
    [LSC_VIEW_OUTPUT] = &lsc_tui_view_output,   [LSC_VIEW_PRUNE] = &lsc_tui_view_prune,
    [LSC_VIEW_MERGE] = &lsc_tui_view_merge,     [LSC_VIEW_TASKS] = &lsc_tui_view_tasks,
    [LSC_VIEW_KIND] = &lsc_tui_view_kind,       [LSC_VIEW_RETRAIN] = &lsc_tui_view_retrain,
    [LSC_VIEW_SERIES] = &lsc_tui_view_series,
    [LSC_VIEW_AUDIT] = &lsc_tui_view_audit,
};

const lsc_tui_view_ops *lsc_tui_view_ops_of(lsc_tui_view v)
{
    return (unsigned)v < LSC_VIEW_COUNT ? k_ops[v] : k_ops[LSC_VIEW_CATALOG];
}

void lsc_tui_msg_clear(lsc_tui_state *st)
{
    st->msg[0] = '\0';
    st->msg_level = LSC_MSG_INFO;
}

/* The top view stops being on top (closing: it goes away). */
static void leave_top(lsc_tui_state *st, int closing)
{
    const lsc_tui_view_ops *o = lsc_tui_view_ops_of(lsc_tui_state_view(st));
    if (o->leave)
        o->leave(st, closing);
    lsc_tui_msg_clear(st);
    lsc_tui_input_label_clear(st);
}

void lsc_tui_view_push(lsc_tui_state *st, lsc_tui_view v)
{
    if (lsc_tui_state_view(st) == v)
        return;
    leave_top(st, 0);
    if (st->depth == (int)(sizeof st->stack / sizeof st->stack[0])) { /* drop the oldest above the root */
        memmove(st->stack + 1, st->stack + 2, (size_t)(st->depth - 2) * sizeof st->stack[0]);
        st->depth--;
    }
    st->stack[st->depth++] = v;
    lsc_tui_layout_update(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (l)
        lsc_tui_list_clamp(l, st->lay.body_h);
}

void lsc_tui_view_replace(lsc_tui_state *st, lsc_tui_view v)
{
    leave_top(st, 1);
    st->stack[st->depth - 1] = v;
    lsc_tui_layout_update(st);
}

void lsc_tui_view_truncate(lsc_tui_state *st, int depth)
{
    if (depth < 1)
        depth = 1;
    if (st->depth <= depth)
        return;
    while (st->depth > depth) {
        leave_top(st, 1);
        st->depth--;
    }
    lsc_tui_layout_update(st);
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (l)
        lsc_tui_list_clamp(l, st->lay.body_h);
    if (lsc_tui_view_ops_of(v)->enter)
        lsc_tui_view_ops_of(v)->enter(st);
}

unsigned lsc_tui_view_pop(lsc_tui_state *st)
{
    if (st->depth <= 1)
        return 0;
    lsc_tui_view_truncate(st, st->depth - 1);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
}

int lsc_tui_adapter_exists(const lsc_tui_state *st, const char *name)
{
    for (size_t i = 0; i < st->catalog.n; i++)
        if (strcmp(st->catalog.rows[i].name, name) == 0)
            return 1;
    return 0;
}

void lsc_tui_argv_add(lsc_tui_argv *a, const char *w)
{
    if (a->argc < LSC_TUI_ARGS_MAX)
        lsc_tui_copy(a->argv[a->argc++], sizeof a->argv[0], w);
}

/* Requests every view shares; LSC_TUI_CH_PASS for the rest. */
static unsigned global_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_HELP: return lsc_tui_help_open(st);
    case LSC_REQ_PROMPT: lsc_tui_input_open(st, LSC_INPUT_PROMPT, ""); return LSC_TUI_CH_REDRAW;
    case LSC_REQ_HISTORY:
        if (lsc_tui_state_view(st) != LSC_VIEW_HISTORY)
            lsc_tui_view_push(st, LSC_VIEW_HISTORY);
        return lsc_tui_load_history(st);
    case LSC_REQ_UNDO:
    case LSC_REQ_REDO: return lsc_tui_undo_request(st, req == LSC_REQ_REDO);
    case LSC_REQ_SAVE:
        lsc_tui_input_open_label(st, LSC_INPUT_FILE, st->session_file, "save the session's edits to: ");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_BACK: return lsc_tui_view_pop(st);
    case LSC_REQ_PAUSE: return lsc_tui_retrain_pause(st);
    case LSC_REQ_REFRESH: { /* the catalog and the adapter; the view reloads its own data after */
        unsigned ch = lsc_tui_load_catalog(st) | LSC_TUI_CH_RESIZE;
        if (st->layers.adapter[0])
            lsc_tui_load_layers(st, st->layers.adapter);
        unsigned vch = lsc_tui_view_ops_of(lsc_tui_state_view(st))->request(st, LSC_REQ_REFRESH);
        return ch | (vch == LSC_TUI_CH_PASS ? 0 : vch);
    }
    default: return LSC_TUI_CH_PASS;
    }
}

unsigned lsc_tui_state_request(lsc_tui_state *st, lsc_tui_req req)
{
    if (req == LSC_REQ_QUIT)
        return LSC_TUI_CH_QUIT;
    if (req == LSC_REQ_RESIZE)
        return LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW;
    if (st->job) /* nothing may call the model while a command runs */
        return req == LSC_REQ_BACK ? lsc_tui_state_cancel(st) : req == LSC_REQ_PAUSE ? lsc_tui_retrain_pause(st) : 0;
    if (st->confirm.open)
        return req == LSC_REQ_BACK ? lsc_tui_confirm_key(st, LSC_KEY_ESC) : 0;
    if (st->help.open) /* the overlay takes the keys: scroll it or close it */
        return lsc_tui_help_request(st, req);
    unsigned ch = global_request(st, req);
    if (ch != LSC_TUI_CH_PASS)
        return ch;
    lsc_tui_view v = lsc_tui_state_view(st);
    ch = lsc_tui_view_ops_of(v)->request(st, req);
    if (ch != LSC_TUI_CH_PASS)
        return ch;
    return lsc_tui_list_request(st, req);
}

unsigned lsc_tui_state_key(lsc_tui_state *st, int key)
{
    if (st->job) { /* a command runs: only cancelling, pausing a retrain and resizing */
        if (key == LSC_KEY_ESC || key == LSC_KEY_CTRL('c') || key == 'q' || key == 'Q')
            return lsc_tui_state_cancel(st);
        if (lsc_tui_key_lookup(lsc_tui_state_view(st), key) == LSC_REQ_PAUSE)
            return lsc_tui_retrain_pause(st);
        return key == LSC_KEY_RESIZE ? LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW : 0;
    }
    int armed = st->quit_armed;
    st->quit_armed = 0;
    if (st->confirm.open)
        return lsc_tui_confirm_key(st, key);
    if (st->prompt.mode != LSC_INPUT_NONE)
        return lsc_tui_input_key(st, key);
    if (key == LSC_KEY_CTRL('c')) { /* cancel what is open; at rest, a second press in a row quits */
        if (st->help.open)
            return lsc_tui_help_request(st, LSC_REQ_BACK);
        if (lsc_tui_vsbase_running(st)) /* the figures job browsing goes on beside: its cancel key */
            return lsc_tui_vsbase_cancel(st);
        if (armed)
            return LSC_TUI_CH_QUIT;
        st->quit_armed = 1;
        lsc_tui_state_msg(st, LSC_MSG_INFO, "press Ctrl-C again to quit (or Q)");
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_req r = lsc_tui_key_lookup(v, key);
    if (r == LSC_REQ_BACK && key == 'q' && st->depth == 1 && !st->help.open)
        return LSC_TUI_CH_QUIT; /* q on the root view quits, as in htop */
    if (r == LSC_REQ_NONE) {
        if (st->help.open) /* any other key closes the overlay */
            return lsc_tui_help_request(st, LSC_REQ_BACK);
        if ((key > 32 && key < 127) || (key > LSC_KEY_F0 && key <= LSC_KEY_F(12))) { /* say why, never silently */
            char why[sizeof st->msg];
            lsc_tui_key_elsewhere(v, key, why, sizeof why);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "%s", why);
            return LSC_TUI_CH_REDRAW;
        }
        return 0;
    }
    return lsc_tui_state_request(st, r);
}

unsigned lsc_tui_state_resize(lsc_tui_state *st, int lines, int cols)
{
    st->lay.lines = lines;
    st->lay.cols = cols;
    lsc_tui_layout_update(st);
    for (int v = 0; v < LSC_VIEW_COUNT; v++)
        if (lsc_tui_state_list(st, (lsc_tui_view)v))
            lsc_tui_list_clamp(&st->lists[v], st->lay.body_h);
    lsc_tui_grid_clamp(st);
    return LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW;
}
