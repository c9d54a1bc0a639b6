/* state.c: the workbench's state machine — requests in, change flags out, no drawing.
 *
 * Owns the view stack, the per-view lists (filter → sort → order[], cursor and scroll kept in bounds),
 * tags, search, the input line, the layout (so paging, mouse hits and drawing agree) and the data fetched
 * from the model. Talks to the model only; never includes curses (render.c draws what is here).
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

#include "fileio.h"
#include "job.h"
#include "keys.h"

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

/* ---- formatting ----------------------------------------------------------------------------------- */

void lsc_tui_fmt_count(int64_t v, char *buf, size_t cap)
{
    static const char suf[] = "kMGTP";
    double x = (double)v;
    if (v < 1000 && v > -1000) {
        snprintf(buf, cap, "%lld", (long long)v);
        return;
    }
    int i = -1;
    while (fabs(x) >= 999.95 && i < 4) {
        x /= 1000.0;
        i++;
    }
    snprintf(buf, cap, fabs(x) < 9.995 ? "%.2f%c" : fabs(x) < 99.95 ? "%.1f%c" : "%.0f%c", x, suf[i]);
}

void lsc_tui_fmt_bytes(int64_t v, char *buf, size_t cap)
{
    static const char *const suf[] = {"KiB", "MiB", "GiB", "TiB"};
    if (v < 1024) {
        snprintf(buf, cap, "%lld B", (long long)v);
        return;
    }
    double x = (double)v;
    int i = -1;
    while (x >= 1023.95 && i < 3) {
        x /= 1024.0;
        i++;
    }
    snprintf(buf, cap, x < 9.995 ? "%.2f %s" : x < 99.95 ? "%.1f %s" : "%.0f %s", x, suf[i]);
}

void lsc_tui_fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(buf, cap, "%lld", (long long)t);
}

void lsc_tui_fmt_num(double v, char *buf, size_t cap)
{
    if (isnan(v))
        snprintf(buf, cap, "NaN");
    else if (isinf(v))
        snprintf(buf, cap, v > 0 ? "Inf" : "-Inf");
    else if (v == 0)
        snprintf(buf, cap, "0");
    else if (fabs(v) >= 1e-3 && fabs(v) < 1e5)
        snprintf(buf, cap, fabs(v) >= 1000 ? "%.0f" : fabs(v) >= 100 ? "%.1f" : fabs(v) >= 10 ? "%.2f"
                                                          : fabs(v) >= 1  ? "%.3f" : "%.4f", v);
    else
        snprintf(buf, cap, "%.2e", v);
}

int lsc_tui_match(const char *pattern, const char *name)
{
    if (!pattern[0])
        return 1;
    if (strpbrk(pattern, "*?["))
        return fnmatch(pattern, name, FNM_CASEFOLD) == 0;
    return strcasestr(name, pattern) != NULL;
}

void lsc_tui_state_msg(lsc_tui_state *st, lsc_tui_msg_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    st->msg_level = lvl;
}

static void busy(lsc_tui_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void busy(lsc_tui_state *st, const char *fmt, ...)
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

/* ---- columns -------------------------------------------------------------------------------------- */

static const lsc_tui_col k_view_cols_catalog[] = {LSC_COL_NAME,  LSC_COL_KIND,    LSC_COL_LAYERS, LSC_COL_PARAMS,
                                                  LSC_COL_BYTES, LSC_COL_CREATED, LSC_COL_BASE,   LSC_COL_PARENTS};
static const lsc_tui_col k_view_cols_layers[] = {
    LSC_COL_INDEX, LSC_COL_NAME, LSC_COL_MODULE, LSC_COL_SHAPE,   LSC_COL_RANK,    LSC_COL_ALPHA,
    LSC_COL_SCALE, LSC_COL_FRO,  LSC_COL_SIGMA1, LSC_COL_EFF,     LSC_COL_STABLE,  LSC_COL_K90,
    LSC_COL_K99,   LSC_COL_ZEROS_A, LSC_COL_ZEROS_B, LSC_COL_FLAGS};
static const lsc_tui_col k_view_cols_diff[] = {LSC_COL_NAME,    LSC_COL_COSINE, LSC_COL_RELDIFF, LSC_COL_SUB_IN,
                                               LSC_COL_SUB_OUT, LSC_COL_FRO_A,  LSC_COL_FRO_B};
static const lsc_tui_col k_view_cols_history[] = {LSC_COL_TIME, LSC_COL_COMMAND, LSC_COL_STATE, LSC_COL_ARGS};
static const lsc_tui_col k_view_cols_output[] = {LSC_COL_TEXT};
static const lsc_tui_col k_view_cols_prune[] = {LSC_COL_NAME, LSC_COL_RANK, LSC_COL_NEW_RANK, LSC_COL_KEPT,
                                                LSC_COL_RELERR};
static const lsc_tui_col k_view_cols_merge[] = {LSC_COL_NAME, LSC_COL_MODELS, LSC_COL_RANK, LSC_COL_RELERR};
static const lsc_tui_col k_view_cols_tasks[] = {LSC_COL_TASK, LSC_COL_ADAPTER, LSC_COL_LAYERS, LSC_COL_PARAMS};

int lsc_tui_view_columns(const lsc_tui_state *st, lsc_tui_view v, lsc_tui_col *out, int cap)
{
    (void)st;
    const lsc_tui_col *c = NULL;
    int n = 0;
    switch (v) {
    case LSC_VIEW_CATALOG: c = k_view_cols_catalog, n = (int)(sizeof k_view_cols_catalog / sizeof *c); break;
    case LSC_VIEW_LAYERS: c = k_view_cols_layers, n = (int)(sizeof k_view_cols_layers / sizeof *c); break;
    case LSC_VIEW_DIFF: c = k_view_cols_diff, n = (int)(sizeof k_view_cols_diff / sizeof *c); break;
    case LSC_VIEW_HISTORY: c = k_view_cols_history, n = (int)(sizeof k_view_cols_history / sizeof *c); break;
    case LSC_VIEW_OUTPUT: c = k_view_cols_output, n = (int)(sizeof k_view_cols_output / sizeof *c); break;
    case LSC_VIEW_PRUNE: c = k_view_cols_prune, n = (int)(sizeof k_view_cols_prune / sizeof *c); break;
    case LSC_VIEW_MERGE: c = k_view_cols_merge, n = (int)(sizeof k_view_cols_merge / sizeof *c); break;
    case LSC_VIEW_TASKS: c = k_view_cols_tasks, n = (int)(sizeof k_view_cols_tasks / sizeof *c); break;
    default: return 0;
    }
    if (n > cap)
        n = cap;
    memcpy(out, c, (size_t)n * sizeof *c);
    return n;
}

lsc_tui_list *lsc_tui_state_list(lsc_tui_state *st, lsc_tui_view v)
{
    switch (v) {
    case LSC_VIEW_CATALOG:
    case LSC_VIEW_LAYERS:
    case LSC_VIEW_DIFF:
    case LSC_VIEW_HISTORY:
    case LSC_VIEW_OUTPUT:
    case LSC_VIEW_PRUNE:
    case LSC_VIEW_MERGE:
    case LSC_VIEW_TASKS: return &st->lists[v];
    default: return NULL;
    }
}

lsc_tui_view lsc_tui_state_view(const lsc_tui_state *st) { return st->stack[st->depth - 1]; }

/* Choose the columns of view v that fit in `width` (after the 2-column marker), by priority, and place
 * them in display order; the flexible column takes what is left. */
static void layout_columns(lsc_tui_state *st, lsc_tui_view v, int width)
{
    lsc_tui_col cols[LSC_TUI_MAX_COLS];
    int n = lsc_tui_view_columns(st, v, cols, LSC_TUI_MAX_COLS);
    int avail = width - 2, used = 0, flex_min = 0;
    int chosen[LSC_TUI_MAX_COLS] = {0};
    for (int i = 0; i < n; i++)
        if (k_cols[cols[i]].width == 0)
            flex_min += (v == LSC_VIEW_CATALOG ? 16 : v == LSC_VIEW_HISTORY || v == LSC_VIEW_OUTPUT ? 20 : 26) + 1;
    for (int prio = 0; prio <= 12; prio++)
        for (int i = 0; i < n; i++) {
            const lsc_tui_colinfo *ci = &k_cols[cols[i]];
            if (ci->priority != prio || ci->width == 0)
                continue;
            if (prio == 0 || used + ci->width + 1 + flex_min <= avail) {
                chosen[i] = 1;
                used += ci->width + 1;
            }
        }
    int flex_w = avail - used;
    int x = 2;
    st->lay.n_colpos = 0;
    for (int i = 0; i < n; i++) {
        const lsc_tui_colinfo *ci = &k_cols[cols[i]];
        if (ci->width != 0 && !chosen[i])
            continue;
        int w = ci->width ? ci->width : flex_w - 1;
        if (w < 1)
            continue;
        lsc_tui_colpos *cp = &st->lay.colpos[st->lay.n_colpos++];
        cp->col = cols[i];
        cp->x = x;
        cp->width = w;
        x += w + 1;
    }
}

static size_t hist_first(const lsc_tui_kind_figures *k, size_t *last)
{
    size_t a = 0, b = k->n_hist;
    while (a < k->n_hist && k->hist[a] == 0)
        a++;
    while (b > a && k->hist[b - 1] == 0)
        b--;
    *last = b;
    return a;
}

/* The kind panel: two summary lines, then per kind a list (body) and a chart or matrix (pane). */
static void layout_kind(lsc_tui_state *st)
{
    lsc_tui_layout *L = &st->lay;
    const lsc_tui_kind_figures *k = &st->kind.kf;
    int rows = L->lines - 5, wide = L->cols >= 120;
    L->header_y = 3;
    L->body_y = 4;
    L->body_h = rows - 1;
    if (!st->kind.ok)
        return;
    if (strcmp(k->kind, "dynamic") == 0 || strcmp(k->kind, "sparse") == 0) {
        int dyn = k->kind[0] == 'd';
        size_t hl = 0, h0 = dyn ? 0 : hist_first(k, &hl);
        if (wide) {
            L->pane_w = L->cols * 3 / 5 - (dyn ? 0 : 16);
            L->pane_x = L->cols - L->pane_w;
            L->pane_y = 3;
            L->pane_h = rows;
        } else {
            L->pane_w = L->cols;
            L->pane_y = 3;
            L->pane_h = dyn ? rows * 3 / 5 : (int)(hl - h0) + 1;
            if (L->pane_h > rows / 2 && !dyn)
                L->pane_h = rows / 2;
            L->header_y = 3 + L->pane_h;
            L->body_y = L->header_y + 1;
            L->body_h = rows - L->pane_h - 1;
        }
    } else if (strcmp(k->kind, "multi-task") == 0) {
        L->pane_y = 3;
        L->pane_x = 0;
        L->pane_w = L->cols;
        L->pane_h = k->n_tasks + 2;
        L->header_y = 3 + L->pane_h;
        L->body_y = L->header_y + 1;
        L->body_h = rows - L->pane_h - 1;
    } else if (strcmp(k->kind, "adaptive") != 0 && strcmp(k->kind, "layer-wise") != 0) {
        L->body_h = 0; /* static: a note and the rank histogram */
    }
}

static void layout(lsc_tui_state *st)
{
    lsc_tui_layout *L = &st->lay;
    lsc_tui_view v = lsc_tui_state_view(st);
    L->too_small = L->lines < LSC_TUI_MIN_LINES || L->cols < LSC_TUI_MIN_COLS;
    L->status_y = L->lines - 2;
    L->keys_y = L->lines - 1;
    L->header_y = 1;
    L->body_y = 2;
    L->body_h = L->lines - 4;
    L->pane_h = L->pane_w = 0;
    L->pane_y = 1;
    L->pane_x = 0;
    int table_w = L->cols;
    if (v == LSC_VIEW_SPECTRUM) {
        L->body_h = 0;
        L->pane_y = 1;
        L->pane_h = L->lines - 3;
        L->pane_w = L->cols;
    } else if (v == LSC_VIEW_DIFF) {
        if (L->cols >= 120) {
            L->pane_w = L->cols * 2 / 5;
            L->pane_x = L->cols - L->pane_w;
            L->pane_h = L->lines - 3;
            table_w = L->pane_x - 1;
        } else {
            int rows = L->lines - 3;
            L->pane_h = rows / 2;
            L->pane_w = L->cols;
            L->pane_y = 1 + rows - L->pane_h;
            L->body_h = rows - L->pane_h - 1;
        }
    } else if (v == LSC_VIEW_PRUNE) {
        /* two lines of settings and totals, then the table; the chart pane beside it when wide, or below
         * it when the panel was opened on a spectrum */
        L->header_y = 3;
        L->body_y = 4;
        L->body_h = L->lines - 6;
        int rows = L->lines - 5;
        if (L->cols >= 120) {
            L->pane_w = L->cols * 2 / 5;
            L->pane_x = L->cols - L->pane_w;
            L->pane_y = 3;
            L->pane_h = rows;
            table_w = L->pane_x - 1;
        } else if (st->prune.chart) {
            L->pane_h = rows / 2;
            L->pane_w = L->cols;
            L->pane_y = 3 + rows - L->pane_h;
            L->body_h = rows - L->pane_h - 1;
        }
    } else if (v == LSC_VIEW_MERGE) {
        L->header_y = 2 + LSC_MERGE_FIELD_COUNT;
        L->body_y = L->header_y + 1;
        L->body_h = L->lines - 2 - L->body_y;
    } else if (v == LSC_VIEW_KIND) {
        layout_kind(st);
    } else if (v == LSC_VIEW_RETRAIN) {
        /* the fields, then the loss chart in the pane below them */
        L->header_y = 1;
        L->body_y = 1;
        L->body_h = LSC_RT_FIELD_COUNT;
        L->pane_y = 2 + LSC_RT_FIELD_COUNT;
        L->pane_x = 0;
        L->pane_w = L->cols;
        L->pane_h = L->lines - 2 - L->pane_y;
    }
    if (L->body_h < 1)
        L->body_h = v == LSC_VIEW_SPECTRUM ? 0 : 1;
    L->n_colpos = 0;
    if (lsc_tui_state_list(st, v))
        layout_columns(st, v, table_w);
}

/* ---- list maintenance ------------------------------------------------------------------------------ */

static const char *row_name(const lsc_tui_state *st, lsc_tui_view v, size_t i)
{
    switch (v) {
    case LSC_VIEW_CATALOG: return st->adapters[i].name;
    case LSC_VIEW_LAYERS: return st->layers[i].name;
    case LSC_VIEW_DIFF: return st->diff.rows[i].name;
    case LSC_VIEW_HISTORY: return st->history[i].command;
    case LSC_VIEW_OUTPUT: return st->out_lines[i];
    case LSC_VIEW_PRUNE: return st->prune.rows[i].name;
    case LSC_VIEW_MERGE: return st->merge.rows[i].name;
    case LSC_VIEW_TASKS: return st->tasks[i].adapter;
    default: return "";
    }
}

static int search_match(const lsc_tui_state *st, lsc_tui_view v, size_t i, const char *pat)
{
    if (v == LSC_VIEW_HISTORY)
        return lsc_tui_match(pat, st->history[i].command) || lsc_tui_match(pat, st->history[i].args);
    return lsc_tui_match(pat, row_name(st, v, i));
}

/* Numeric sort key; *is_str set when the column sorts as text (then *s is the text). */
static double sort_key(const lsc_tui_state *st, lsc_tui_view v, size_t i, lsc_tui_col c, const char **s)
{
    *s = NULL;
    if (v == LSC_VIEW_CATALOG) {
        const lsc_tui_adapter *a = &st->adapters[i];
        switch (c) {
        case LSC_COL_NAME: *s = a->name; return 0;
        case LSC_COL_KIND: *s = a->kind; return 0;
        case LSC_COL_BASE: *s = a->base_model; return 0;
        case LSC_COL_PARENTS: *s = a->parents; return 0;
        case LSC_COL_LAYERS: return (double)a->n_layers;
        case LSC_COL_PARAMS: return (double)a->params;
        case LSC_COL_BYTES: return (double)a->bytes;
        case LSC_COL_CREATED: return (double)a->created;
        default: return 0;
        }
    }
    if (v == LSC_VIEW_LAYERS) {
        const lsc_tui_layer *l = &st->layers[i];
        switch (c) {
        case LSC_COL_NAME: *s = l->name; return 0;
        case LSC_COL_MODULE: *s = l->module_type; return 0;
        case LSC_COL_INDEX: return l->layer_index;
        case LSC_COL_SHAPE: return (double)l->rows * (double)l->cols;
        case LSC_COL_RANK: return l->rank;
        case LSC_COL_ALPHA: return l->alpha;
        case LSC_COL_SCALE: return l->scale;
        case LSC_COL_FRO: return l->nonfinite ? INFINITY : l->fro;
        case LSC_COL_SIGMA1: return l->nonfinite ? INFINITY : l->sigma1;
        case LSC_COL_EFF: return l->effective_rank;
        case LSC_COL_STABLE: return l->stable_rank;
        case LSC_COL_K90: return l->k90;
        case LSC_COL_K99: return l->k99;
        case LSC_COL_ZEROS_A: return l->zeros_a;
        case LSC_COL_ZEROS_B: return l->zeros_b;
        case LSC_COL_FLAGS: return (double)(l->flags | (l->nonfinite ? 0x100u : 0));
        default: return 0;
        }
    }
    if (v == LSC_VIEW_DIFF) {
        const lsc_tui_diff_row *r = &st->diff.rows[i];
        double x;
        switch (c) {
        case LSC_COL_NAME: *s = r->name; return 0;
        case LSC_COL_COSINE: x = r->cosine; break;
        case LSC_COL_RELDIFF: x = r->rel_diff; break;
        case LSC_COL_SUB_IN: x = r->subspace_in; break;
        case LSC_COL_SUB_OUT: x = r->subspace_out; break;
        case LSC_COL_FRO_A: x = r->fro_a; break;
        case LSC_COL_FRO_B: x = r->fro_b; break;
        default: return 0;
        }
        return isnan(x) ? -INFINITY : x; /* missing figures sort as the smallest */
    }
    if (v == LSC_VIEW_TASKS) {
        const lsc_tui_task *t = &st->tasks[i];
        switch (c) {
        case LSC_COL_TASK: *s = t->task; return 0;
        case LSC_COL_ADAPTER: *s = t->adapter; return 0;
        case LSC_COL_LAYERS: return (double)t->layers;
        case LSC_COL_PARAMS: return (double)t->params;
        default: return 0;
        }
    }
    if (v == LSC_VIEW_HISTORY) {
        const lsc_tui_history *h = &st->history[i];
        switch (c) {
        case LSC_COL_TIME: return (double)h->time;
        case LSC_COL_COMMAND: *s = h->command; return 0;
        case LSC_COL_ARGS: *s = h->args; return 0;
        case LSC_COL_STATE: return h->undone;
        default: return 0;
        }
    }
    return 0;
}

typedef struct sort_ctx {
    const lsc_tui_state *st;
    lsc_tui_view v;
    lsc_tui_col col; /* LSC_COL_COUNT: data order */
    int desc;
    int group;
} sort_ctx;

static int module_rank(const lsc_tui_state *st, const char *m)
{
    for (int i = 0; i < st->n_grid_mods; i++)
        if (strcmp(st->grid_mods[i], m) == 0)
            return i;
    return st->n_grid_mods;
}

static int cmp_rows(const void *x, const void *y, void *arg)
{
    const sort_ctx *c = arg;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    int r = 0;
    if (c->group) {
        int ma = module_rank(c->st, c->st->layers[a].module_type), mb = module_rank(c->st, c->st->layers[b].module_type);
        if (ma != mb)
            return ma < mb ? -1 : 1;
    }
    if (c->col != LSC_COL_COUNT) {
        const char *sa, *sb;
        double ka = sort_key(c->st, c->v, a, c->col, &sa), kb = sort_key(c->st, c->v, b, c->col, &sb);
        if (sa && sb)
            r = strcmp(sa, sb);
        else
            r = ka < kb ? -1 : ka > kb ? 1 : 0;
        if (c->desc)
            r = -r;
    }
    if (r == 0)
        r = a < b ? -1 : a > b ? 1 : 0; /* stable: data order breaks ties */
    return r;
}

static size_t data_count(const lsc_tui_state *st, lsc_tui_view v)
{
    switch (v) {
    case LSC_VIEW_CATALOG: return st->n_adapters;
    case LSC_VIEW_LAYERS: return st->n_layers;
    case LSC_VIEW_DIFF: return st->diff.n_rows;
    case LSC_VIEW_HISTORY: return st->n_history;
    case LSC_VIEW_OUTPUT: return st->n_out_lines;
    case LSC_VIEW_PRUNE: return st->prune.n_rows;
    case LSC_VIEW_MERGE: return st->merge.n_rows;
    case LSC_VIEW_TASKS: return st->n_tasks;
    default: return 0;
    }
}

static void clamp_list(lsc_tui_list *l, int h)
{
    if (h < 1)
        h = 1;
    if (l->n == 0) {
        l->cursor = l->top = 0;
        return;
    }
    if (l->cursor >= l->n)
        l->cursor = l->n - 1;
    if (l->cursor < l->top)
        l->top = l->cursor;
    if (l->cursor >= l->top + (size_t)h)
        l->top = l->cursor - (size_t)h + 1;
    size_t max_top = l->n > (size_t)h ? l->n - (size_t)h : 0;
    if (l->top > max_top)
        l->top = max_top;
}

/* Rebuild order[] after the data, the filter or the sort changed; keeps the cursor on the same data row
 * when it is still visible. Returns 0 or -1 on out of memory (the list is then empty). */
static int rebuild(lsc_tui_state *st, lsc_tui_view v)
{
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (!l)
        return 0;
    size_t nd = data_count(st, v);
    size_t keep = (l->n && l->cursor < l->n) ? l->order[l->cursor] : (size_t)-1;
    if (nd != l->n_data || !l->tagged) {
        unsigned char *t = calloc(nd + 1, 1);
        size_t *o = malloc((nd + 1) * sizeof *o);
        if (!t || !o) {
            free(t);
            free(o);
            free(l->tagged);
            free(l->order);
            l->tagged = NULL;
            l->order = NULL;
            l->n = l->n_data = l->n_tagged = 0;
            return -1;
        }
        free(l->tagged);
        free(l->order);
        l->tagged = t;
        l->order = o;
        l->n_data = nd;
        l->n_tagged = 0;
        keep = (size_t)-1;
    }
    l->n = 0;
    for (size_t i = 0; i < nd; i++)
        if (!l->filter[0] || search_match(st, v, i, l->filter))
            l->order[l->n++] = i;
    lsc_tui_col cols[LSC_TUI_MAX_COLS];
    int nc = lsc_tui_view_columns(st, v, cols, LSC_TUI_MAX_COLS);
    sort_ctx c = {st, v, LSC_COL_COUNT, l->desc, v == LSC_VIEW_LAYERS && st->group};
    if (l->sort >= 0 && l->sort < nc)
        c.col = cols[l->sort];
    if (c.col != LSC_COL_COUNT || c.group)
        qsort_r(l->order, l->n, sizeof *l->order, cmp_rows, &c);
    l->cursor = 0;
    for (size_t i = 0; i < l->n && keep != (size_t)-1; i++)
        if (l->order[i] == keep) {
            l->cursor = i;
            break;
        }
    clamp_list(l, st->lay.body_h);
    return 0;
}

/* ---- names ----------------------------------------------------------------------------------------- */

const char *lsc_tui_short_name(const lsc_tui_state *st, const char *name)
{
    (void)st;
    /* From the "layers." component on when there is one (transformer blocks), else without PEFT's
     * "base_model.model." wrapper. */
    for (const char *p = name; (p = strstr(p, "layers.")) != NULL; p++)
        if (p == name || p[-1] == '.')
            return p;
    if (strncmp(name, "base_model.model.", 17) == 0 && name[17])
        return name + 17;
    return name;
}

/* ---- data loading ---------------------------------------------------------------------------------- */

static unsigned load_catalog(lsc_tui_state *st)
{
    lsc_error err = {0};
    lsc_tui_adapter *a = NULL;
    size_t n = 0;
    busy(st, "reading the catalog");
    if (st->model->list_adapters(st->model->ctx, &a, &n, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    free(st->adapters);
    st->adapters = a;
    st->n_adapters = n;
    if (rebuild(st, LSC_VIEW_CATALOG) != 0)
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "out of memory");
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static void build_grid(lsc_tui_state *st)
{
    static const char *const canon[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    st->n_grid_mods = 0;
    st->n_grid_rows = 0;
    for (size_t c = 0; c < sizeof canon / sizeof *canon; c++)
        for (size_t i = 0; i < st->n_layers; i++)
            if (strcmp(st->layers[i].module_type, canon[c]) == 0) {
                lsc_tui_copy(st->grid_mods[st->n_grid_mods++], LSC_TUI_WORD_MAX, canon[c]);
                break;
            }
    for (size_t i = 0; i < st->n_layers && st->n_grid_mods < 16; i++) /* other modules in data order */
        if (module_rank(st, st->layers[i].module_type) == st->n_grid_mods)
            lsc_tui_copy(st->grid_mods[st->n_grid_mods++], LSC_TUI_WORD_MAX, st->layers[i].module_type);
    for (size_t i = 0; i < st->n_layers; i++) {
        int li = st->layers[i].layer_index, found = 0;
        for (int r = 0; r < st->n_grid_rows && !found; r++)
            found = st->grid_rows[r] == li;
        if (!found && st->n_grid_rows < 256) {
            int r = st->n_grid_rows++;
            while (r > 0 && st->grid_rows[r - 1] > li) { /* keep rows sorted by block number */
                st->grid_rows[r] = st->grid_rows[r - 1];
                r--;
            }
            st->grid_rows[r] = li;
        }
    }
    free(st->grid_cell);
    size_t cells = (size_t)st->n_grid_rows * (size_t)st->n_grid_mods;
    st->grid_cell = malloc((cells + 1) * sizeof *st->grid_cell);
    if (!st->grid_cell) {
        st->n_grid_rows = 0;
        return;
    }
    for (size_t k = 0; k < cells; k++)
        st->grid_cell[k] = -1;
    for (size_t i = 0; i < st->n_layers; i++) {
        int m = module_rank(st, st->layers[i].module_type), r = 0;
        while (r < st->n_grid_rows && st->grid_rows[r] != st->layers[i].layer_index)
            r++;
        if (m < st->n_grid_mods && r < st->n_grid_rows)
            st->grid_cell[(size_t)r * (size_t)st->n_grid_mods + (size_t)m] = (long)i;
    }
    if (st->grid_r >= st->n_grid_rows)
        st->grid_r = st->n_grid_rows ? st->n_grid_rows - 1 : 0;
    if (st->grid_c >= st->n_grid_mods)
        st->grid_c = st->n_grid_mods ? st->n_grid_mods - 1 : 0;
}

static void grid_metric_max(lsc_tui_state *st)
{
    st->grid_max = 0;
    for (size_t i = 0; i < st->n_layers; i++) {
        double x = st->metric == LSC_METRIC_NORM ? st->layers[i].fro : st->layers[i].rank;
        if (!st->layers[i].nonfinite && x > st->grid_max)
            st->grid_max = x;
    }
}

/* Load the layer table of `name`; 0 on success (message set otherwise). */
static int load_layers(lsc_tui_state *st, const char *name)
{
    lsc_error err = {0};
    lsc_tui_layer *l = NULL;
    size_t n = 0;
    busy(st, "loading the layers of '%s'", name);
    if (st->model->layers(st->model->ctx, name, &l, &n, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return -1;
    }
    int same = strcmp(st->adapter, name) == 0;
    free(st->layers);
    st->layers = l;
    st->n_layers = n;
    if (!same) {
        lsc_tui_list *L = &st->lists[LSC_VIEW_LAYERS];
        L->cursor = L->top = 0;
        L->filter[0] = '\0';
        L->n_data = (size_t)-1; /* force fresh tags */
        st->grid_r = st->grid_c = st->grid_top = 0;
    }
    lsc_tui_copy(st->adapter, sizeof st->adapter, name);
    build_grid(st);
    grid_metric_max(st);
    if (rebuild(st, LSC_VIEW_LAYERS) != 0) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "out of memory");
        return -1;
    }
    return 0;
}

static int load_sv(lsc_tui_state *st, const char *adapter, const char *layer, double **sv, size_t *n)
{
    lsc_error err = {0};
    free(*sv);
    *sv = NULL;
    *n = 0;
    busy(st, "computing the spectrum of '%s'", lsc_tui_short_name(st, layer));
    if (st->model->layer_sv(st->model->ctx, adapter, layer, sv, n, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return -1;
    }
    return 0;
}

/* Spectra of the diff row under the cursor, on both sides. */
static void load_diff_sv(lsc_tui_state *st)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_DIFF];
    if (!l->n) {
        st->sv_diff_row = -1;
        return;
    }
    size_t row = l->order[l->cursor];
    if ((long)row == st->sv_diff_row)
        return;
    st->sv_diff_row = (long)row;
    const char *name = st->diff.rows[row].name;
    if (load_sv(st, st->diff_a, name, &st->sv, &st->n_sv) == 0)
        load_sv(st, st->diff_b, name, &st->sv_b, &st->n_sv_b);
    st->sv_adapter[0] = '\0';
}

static int load_spectrum_of_layer(lsc_tui_state *st, size_t li)
{
    st->sv_layer = li;
    st->sv_diff_row = -1;
    lsc_tui_copy(st->sv_adapter, sizeof st->sv_adapter, st->adapter);
    return load_sv(st, st->adapter, st->layers[li].name, &st->sv, &st->n_sv);
}

static unsigned load_history(lsc_tui_state *st)
{
    lsc_error err = {0};
    lsc_tui_history *h = NULL;
    size_t n = 0;
    busy(st, "reading the history");
    if (st->model->history(st->model->ctx, &h, &n, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    free(st->history);
    st->history = h;
    st->n_history = n;
    rebuild(st, LSC_VIEW_HISTORY);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static void free_output(lsc_tui_state *st)
{
    for (size_t i = 0; i < st->n_out_lines; i++)
        free(st->out_lines[i]);
    free(st->out_lines);
    st->out_lines = NULL;
    st->n_out_lines = 0;
}

/* Split text into out_lines (tabs expanded, control bytes escaped). */
static int set_output(lsc_tui_state *st, const char *text)
{
    free_output(st);
    size_t cap = 16;
    st->out_lines = malloc(cap * sizeof *st->out_lines);
    if (!st->out_lines)
        return -1;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (st->n_out_lines == cap) {
            char **g = realloc(st->out_lines, cap * 2 * sizeof *g);
            if (!g)
                return -1;
            st->out_lines = g;
            cap *= 2;
        }
        char *line = malloc(len * 4 + 1), *q = line;
        if (!line)
            return -1;
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)p[i];
            if (ch == '\t')
                do
                    *q++ = ' ';
                while ((q - line) % 8);
            else if (ch < 32 || ch == 127)
                q += sprintf(q, "\\x%02x", ch);
            else
                *q++ = (char)ch;
        }
        *q = '\0';
        st->out_lines[st->n_out_lines++] = line;
        p += len + (e ? 1 : 0);
    }
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------------- */

lsc_status lsc_tui_state_new(lsc_tui_model *model, const lsc_tui_state_opts *opts, int lines, int cols,
                             lsc_tui_state **out, lsc_error *err)
{
    *out = NULL;
    lsc_tui_state *st = calloc(1, sizeof *st);
    if (!st)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    st->model = model;
    st->readonly = opts ? opts->readonly : 0;
    st->stack[0] = LSC_VIEW_CATALOG;
    st->depth = 1;
    st->sv_diff_row = -1;
    for (int v = 0; v < LSC_VIEW_COUNT; v++) {
        st->lists[v].sort = -1;
        st->lists[v].n_data = (size_t)-1;
    }
    st->lists[LSC_VIEW_CATALOG].sort = 0; /* by name */
    st->lay.lines = lines;
    st->lay.cols = cols;
    layout(st);
    lsc_tui_adapter *a = NULL;
    size_t n = 0;
    lsc_status s = model->list_adapters(model->ctx, &a, &n, err);
    if (s != LSC_OK) {
        free(st);
        return s;
    }
    st->adapters = a;
    st->n_adapters = n;
    if (rebuild(st, LSC_VIEW_CATALOG) != 0) {
        lsc_tui_state_free(st);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    lsc_tui_state_msg(st, LSC_MSG_INFO, "%zu adapters - press ? for help", n);
    /* the session starts after the newest history entry: W saves what comes after it */
    lsc_tui_copy(st->session_file, sizeof st->session_file, "lorascope-session.lsc");
    lsc_tui_history *h = NULL;
    size_t nh = 0;
    lsc_error herr = {0};
    if (model->history && model->history(model->ctx, &h, &nh, &herr) == LSC_OK)
        for (size_t i = 0; i < nh; i++)
            if (h[i].id > st->session_since)
                st->session_since = h[i].id;
    free(h);
    st->prune.sv_row = -1;
    if (opts && opts->adapter && opts->adapter[0]) {
        lsc_tui_list *cl = &st->lists[LSC_VIEW_CATALOG];
        for (size_t i = 0; i < cl->n; i++)
            if (strcmp(st->adapters[cl->order[i]].name, opts->adapter) == 0)
                cl->cursor = i;
        if (load_layers(st, opts->adapter) == 0) {
            st->stack[st->depth++] = LSC_VIEW_LAYERS;
            layout(st);
            rebuild(st, LSC_VIEW_LAYERS);
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
    free(st->prune.rows);
    free(st->prune.sv);
    free(st->merge.rows);
    lsc_tui_kind_release(&st->kind.kf);
    free(st->tasks);
    for (int v = 0; v < LSC_VIEW_COUNT; v++) {
        free(st->lists[v].order);
        free(st->lists[v].tagged);
    }
    free(st->adapters);
    free(st->layers);
    free(st->sv);
    free(st->sv_b);
    lsc_tui_diff_release(&st->diff);
    free(st->history);
    free_output(st);
    free(st->grid_cell);
    free(st);
}

/* ---- requests -------------------------------------------------------------------------------------- */

static void push(lsc_tui_state *st, lsc_tui_view v)
{
    if (lsc_tui_state_view(st) == v)
        return;
    if (st->depth == (int)(sizeof st->stack / sizeof st->stack[0])) { /* drop the oldest above the root */
        memmove(st->stack + 1, st->stack + 2, (size_t)(st->depth - 2) * sizeof st->stack[0]);
        st->depth--;
    }
    st->stack[st->depth++] = v;
    layout(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (l)
        clamp_list(l, st->lay.body_h);
}

static void replace_top(lsc_tui_state *st, lsc_tui_view v)
{
    st->stack[st->depth - 1] = v;
    layout(st);
}

static unsigned move_list(lsc_tui_state *st, lsc_tui_list *l, long delta)
{
    if (!l->n)
        return 0;
    size_t old = l->cursor, oldtop = l->top;
    long c = (long)l->cursor + delta;
    if (c < 0)
        c = 0;
    if (c >= (long)l->n)
        c = (long)l->n - 1;
    l->cursor = (size_t)c;
    clamp_list(l, st->lay.body_h);
    return (old != l->cursor || oldtop != l->top) ? LSC_TUI_CH_REDRAW : 0;
}

static void grid_clamp(lsc_tui_state *st)
{
    int h = st->lay.body_h < 1 ? 1 : st->lay.body_h;
    if (st->grid_r < 0)
        st->grid_r = 0;
    if (st->grid_r >= st->n_grid_rows)
        st->grid_r = st->n_grid_rows ? st->n_grid_rows - 1 : 0;
    if (st->grid_c < 0)
        st->grid_c = 0;
    if (st->grid_c >= st->n_grid_mods)
        st->grid_c = st->n_grid_mods ? st->n_grid_mods - 1 : 0;
    if (st->grid_r < st->grid_top)
        st->grid_top = st->grid_r;
    if (st->grid_r >= st->grid_top + h)
        st->grid_top = st->grid_r - h + 1;
    int max_top = st->n_grid_rows > h ? st->n_grid_rows - h : 0;
    if (st->grid_top > max_top)
        st->grid_top = max_top;
}

static unsigned move_grid(lsc_tui_state *st, int dr, int dc)
{
    int r = st->grid_r, c = st->grid_c, t = st->grid_top;
    st->grid_r += dr;
    st->grid_c += dc;
    grid_clamp(st);
    return (r != st->grid_r || c != st->grid_c || t != st->grid_top) ? LSC_TUI_CH_REDRAW : 0;
}

/* Spectrum view: step to the neighbouring layer in the table's visible order. */
static unsigned spectrum_step(lsc_tui_state *st, long delta)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_LAYERS];
    if (!l->n)
        return 0;
    size_t pos = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->order[i] == st->sv_layer)
            pos = i;
    long p = (long)pos + delta;
    if (p < 0)
        p = 0;
    if (p >= (long)l->n)
        p = (long)l->n - 1;
    if ((size_t)p == pos && l->order[pos] == st->sv_layer)
        return 0;
    l->cursor = (size_t)p;
    clamp_list(l, st->lay.lines - 4);
    load_spectrum_of_layer(st, l->order[p]);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned do_search(lsc_tui_state *st, int dir)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (!l || !st->search[0]) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "no search: press / first");
        return LSC_TUI_CH_REDRAW;
    }
    for (size_t k = 1; k <= l->n; k++) {
        size_t i = (l->cursor + (dir > 0 ? k : l->n * 2 - k)) % l->n;
        if (search_match(st, v, l->order[i], st->search)) {
            int wrapped = dir > 0 ? i <= l->cursor : i >= l->cursor;
            l->cursor = i;
            clamp_list(l, st->lay.body_h);
            if (wrapped)
                lsc_tui_state_msg(st, LSC_MSG_INFO, "search wrapped: '%s'", st->search);
            else
                lsc_tui_state_msg(st, LSC_MSG_INFO, "/%s", st->search);
            return LSC_TUI_CH_REDRAW;
        }
    }
    lsc_tui_state_msg(st, LSC_MSG_WARN, "no match for '%s'", st->search);
    return LSC_TUI_CH_REDRAW;
}

static unsigned open_diff(lsc_tui_state *st)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_CATALOG];
    size_t pick[2], np = 0;
    for (size_t i = 0; i < l->n_data && np < 2; i++)
        if (l->tagged[i])
            pick[np++] = i;
    if (np == 1 && l->n && l->order[l->cursor] != pick[0])
        pick[np++] = l->order[l->cursor];
    if (np < 2) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "tag two adapters with Space (or one, and select the other), then d");
        return LSC_TUI_CH_REDRAW;
    }
    if (l->n_tagged > 2)
        lsc_tui_state_msg(st, LSC_MSG_WARN, "%zu adapters tagged: comparing the first two", l->n_tagged);
    const char *a = st->adapters[pick[0]].name, *b = st->adapters[pick[1]].name;
    lsc_tui_diff d = {0};
    lsc_error err = {0};
    busy(st, "comparing '%s' with '%s'", a, b);
    if (st->model->diff(st->model->ctx, a, b, &d, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_diff_release(&st->diff);
    st->diff = d;
    lsc_tui_copy(st->diff_a, sizeof st->diff_a, a);
    lsc_tui_copy(st->diff_b, sizeof st->diff_b, b);
    st->sv_diff_row = -1;
    st->diff_pane = 0;
    st->diff_focus = 0;
    lsc_tui_list *dl = &st->lists[LSC_VIEW_DIFF];
    dl->n_data = (size_t)-1;
    dl->cursor = dl->top = 0;
    push(st, LSC_VIEW_DIFF);
    rebuild(st, LSC_VIEW_DIFF);
    load_diff_sv(st);
    if (l->n_tagged <= 2)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "%zu shared layers, %zu only in '%s', %zu only in '%s'", d.n_rows,
                          d.n_only_a, a, d.n_only_b, b);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

/* Split a command line into argv (whitespace separated, '...' and "..." quotes, backslash escapes).
 * Returns argc, or -1 on an unterminated quote. buf receives the words. */
static int tokenise(const char *line, char *buf, char **argv, int cap)
{
    int argc = 0;
    const char *p = line;
    char *q = buf;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || argc == cap)
            break;
        argv[argc++] = q;
        char quote = 0;
        while (*p && (quote || (*p != ' ' && *p != '\t'))) {
            if (quote && *p == quote)
                quote = 0, p++;
            else if (!quote && (*p == '\'' || *p == '"'))
                quote = *p++;
            else if (*p == '\\' && p[1] && quote != '\'')
                *q++ = p[1], p += 2;
            else
                *q++ = *p++;
        }
        if (quote)
            return -1;
        *q++ = '\0';
    }
    return argc;
}

static unsigned start_job(lsc_tui_state *st, const lsc_tui_argv *a, const char *title);
static unsigned prune_refresh(lsc_tui_state *st);
static unsigned save_session(lsc_tui_state *st, const char *file);

static unsigned open_tasks(lsc_tui_state *st, const char *group);
static int is_group_kind(const char *kind);

static unsigned run_prompt(lsc_tui_state *st, const char *line)
{
    char buf[sizeof st->inbuf + 64];
    char *argv[64];
    int argc = tokenise(line, buf, argv, 63);
    if (argc < 0) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "unterminated quote in '%s'", line);
        return LSC_TUI_CH_REDRAW;
    }
    if (argc == 0)
        return LSC_TUI_CH_REDRAW;
    if (strcmp(argv[0], "w") == 0) { /* the workbench's own: save the session (vim's :w) */
        if (argc > 2) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "usage: :w [FILE]");
            return LSC_TUI_CH_REDRAW;
        }
        return save_session(st, argc == 2 ? argv[1] : st->session_file);
    }
    lsc_tui_argv a;
    a.kind = LSC_JOB_PROMPT;
    a.argc = 0;
    for (int i = 0; i < argc && i < LSC_TUI_ARGS_MAX; i++)
        lsc_tui_copy(a.argv[a.argc++], sizeof a.argv[0], argv[i]);
    if (argc > LSC_TUI_ARGS_MAX) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "more than %d words on the command line", LSC_TUI_ARGS_MAX);
        return LSC_TUI_CH_REDRAW;
    }
    return start_job(st, &a, line);
}

static unsigned enter(lsc_tui_state *st)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    switch (v) {
    case LSC_VIEW_CATALOG:
        if (!l->n)
            return 0;
        if (is_group_kind(st->adapters[l->order[l->cursor]].kind))
            return open_tasks(st, st->adapters[l->order[l->cursor]].name);
        if (load_layers(st, st->adapters[l->order[l->cursor]].name) != 0)
            return LSC_TUI_CH_REDRAW;
        push(st, LSC_VIEW_LAYERS);
        rebuild(st, LSC_VIEW_LAYERS);
        lsc_tui_state_msg(st, LSC_MSG_INFO, "%zu layers - Enter spectrum, v grid, m group, / search", st->n_layers);
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
    case LSC_VIEW_TASKS:
        if (!l->n)
            return 0;
        if (load_layers(st, st->tasks[l->order[l->cursor]].adapter) != 0)
            return LSC_TUI_CH_REDRAW;
        push(st, LSC_VIEW_LAYERS);
        rebuild(st, LSC_VIEW_LAYERS);
        lsc_tui_state_msg(st, LSC_MSG_INFO, "task '%s': %zu layers - Enter spectrum, K kind figures, t retrain",
                          st->tasks[l->order[l->cursor]].task, st->n_layers);
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
    case LSC_VIEW_LAYERS:
        if (!l->n)
            return 0;
        load_spectrum_of_layer(st, l->order[l->cursor]);
        push(st, LSC_VIEW_SPECTRUM);
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
    case LSC_VIEW_GRID: {
        if (!st->grid_cell || !st->n_grid_rows)
            return 0;
        long li = st->grid_cell[(size_t)st->grid_r * (size_t)st->n_grid_mods + (size_t)st->grid_c];
        if (li < 0) {
            lsc_tui_state_msg(st, LSC_MSG_WARN, "no layer in this cell");
            return LSC_TUI_CH_REDRAW;
        }
        lsc_tui_list *ll = &st->lists[LSC_VIEW_LAYERS];
        for (size_t i = 0; i < ll->n; i++)
            if (ll->order[i] == (size_t)li)
                ll->cursor = i;
        load_spectrum_of_layer(st, (size_t)li);
        push(st, LSC_VIEW_SPECTRUM);
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
    }
    case LSC_VIEW_DIFF: {
        if (!l->n)
            return 0;
        char name[LSC_TUI_NAME_MAX];
        lsc_tui_copy(name, sizeof name, st->diff.rows[l->order[l->cursor]].name);
        if (strcmp(st->adapter, st->diff_a) != 0 && load_layers(st, st->diff_a) != 0)
            return LSC_TUI_CH_REDRAW;
        for (size_t i = 0; i < st->n_layers; i++)
            if (strcmp(st->layers[i].name, name) == 0) {
                load_spectrum_of_layer(st, i);
                push(st, LSC_VIEW_SPECTRUM);
                st->sv_diff_row = -1;
                break;
            }
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
    }
    case LSC_VIEW_HISTORY: {
        if (!l->n)
            return 0;
        const lsc_tui_history *h = &st->history[l->order[l->cursor]];
        char when[32], text[1200];
        lsc_tui_fmt_time(h->time, when, sizeof when);
        snprintf(text, sizeof text, "entry    %lld\ntime     %s\ncommand  %s\narguments %s\nread     %s\nwrote    %s\nstate    %s\n",
                 (long long)h->id, when, h->command, h->args, h->inputs[0] ? h->inputs : "-",
                 h->outputs[0] ? h->outputs : "-", h->undone ? "undone" : "done");
        if (set_output(st, text) == 0) {
            snprintf(st->out_title, sizeof st->out_title, "history entry %lld", (long long)h->id);
            st->lists[LSC_VIEW_OUTPUT].n_data = (size_t)-1;
            st->lists[LSC_VIEW_OUTPUT].cursor = 0;
            push(st, LSC_VIEW_OUTPUT);
            rebuild(st, LSC_VIEW_OUTPUT);
        }
        return LSC_TUI_CH_REDRAW;
    }
    default: return 0;
    }
}

static unsigned sort_step(lsc_tui_state *st, int dir)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (!l)
        return 0;
    lsc_tui_col cols[LSC_TUI_MAX_COLS];
    int nc = lsc_tui_view_columns(st, v, cols, LSC_TUI_MAX_COLS);
    /* -1 (data order) is part of the cycle */
    int s = l->sort + dir;
    if (s >= nc)
        s = -1;
    if (s < -1)
        s = nc - 1;
    l->sort = s;
    const char *str = NULL;
    l->desc = s >= 0 && data_count(st, v) ? (sort_key(st, v, 0, cols[s], &str), str == NULL) : 0;
    rebuild(st, v);
    if (s < 0)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "sorted in stored order");
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "sorted by %s, %s", k_cols[cols[s]].title,
                          l->desc ? "descending" : "ascending");
    return LSC_TUI_CH_REDRAW;
}

static void open_input(lsc_tui_state *st, lsc_tui_input mode, const char *initial)
{
    st->input = mode;
    lsc_tui_copy(st->inbuf, sizeof st->inbuf, initial);
    st->inlen = strlen(st->inbuf);
}

static void open_input_label(lsc_tui_state *st, lsc_tui_input mode, const char *initial, const char *label)
{
    open_input(st, mode, initial);
    lsc_tui_copy(st->input_label, sizeof st->input_label, label);
}

static int adapter_exists(const lsc_tui_state *st, const char *name)
{
    for (size_t i = 0; i < st->n_adapters; i++)
        if (strcmp(st->adapters[i].name, name) == 0)
            return 1;
    return 0;
}

static void argv_add(lsc_tui_argv *a, const char *w)
{
    if (a->argc < LSC_TUI_ARGS_MAX)
        lsc_tui_copy(a->argv[a->argc++], sizeof a->argv[0], w);
}

/* ---- jobs: commands that change the catalog (or may take long) --------------------------------------- */

/* After a command: reload what is on screen. An adapter that disappeared (undo, rm) closes its views. */
static unsigned reload_after_edit(lsc_tui_state *st)
{
    char msg[sizeof st->msg];
    lsc_tui_msg_level lvl = st->msg_level;
    memcpy(msg, st->msg, sizeof msg);
    unsigned ch = load_catalog(st);
    if (st->adapter[0]) {
        if (adapter_exists(st, st->adapter)) {
            load_layers(st, st->adapter);
        } else {
            int d = 1; /* keep the views that do not belong to the adapter */
            while (d < st->depth && (st->stack[d] == LSC_VIEW_HISTORY || st->stack[d] == LSC_VIEW_OUTPUT ||
                                     st->stack[d] == LSC_VIEW_MERGE || st->stack[d] == LSC_VIEW_DIFF))
                d++;
            st->depth = d;
            st->adapter[0] = '\0';
            st->prune.adapter[0] = '\0';
            layout(st);
            lsc_tui_list *l = lsc_tui_state_list(st, lsc_tui_state_view(st));
            if (l)
                clamp_list(l, st->lay.body_h);
        }
    }
    for (int d = 0; d < st->depth; d++)
        if (st->stack[d] == LSC_VIEW_HISTORY) {
            load_history(st);
            break;
        }
    if (st->msg_level != LSC_MSG_ERROR || lvl == LSC_MSG_ERROR) {
        memcpy(st->msg, msg, sizeof msg);
        st->msg_level = lvl;
    }
    return ch | LSC_TUI_CH_RELOAD | LSC_TUI_CH_RESIZE;
}

static void select_adapter(lsc_tui_state *st, const char *name)
{
    lsc_tui_list *cl = &st->lists[LSC_VIEW_CATALOG];
    for (size_t i = 0; i < cl->n; i++)
        if (strcmp(st->adapters[cl->order[i]].name, name) == 0) {
            cl->cursor = i;
            clamp_list(cl, st->lay.body_h);
        }
}

static void show_output(lsc_tui_state *st, const char *text, const char *title, int replace)
{
    if (set_output(st, text) != 0)
        return;
    snprintf(st->out_title, sizeof st->out_title, "%s", title);
    lsc_tui_list *ol = &st->lists[LSC_VIEW_OUTPUT];
    ol->n_data = (size_t)-1;
    ol->cursor = ol->top = 0;
    if (lsc_tui_state_view(st) == LSC_VIEW_OUTPUT)
        layout(st);
    else if (replace)
        replace_top(st, LSC_VIEW_OUTPUT);
    else
        push(st, LSC_VIEW_OUTPUT);
    rebuild(st, LSC_VIEW_OUTPUT);
}

/* First line of text (without the newline) into buf. */
static void first_line(const char *text, char *buf, size_t cap)
{
    size_t n = strcspn(text, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
}

static unsigned write_session(lsc_tui_state *st, const char *script)
{
    int edits = 0;
    for (const char *p = script; *p;) {
        if (*p != '#' && *p != '\n')
            edits++;
        const char *e = strchr(p, '\n');
        p = e ? e + 1 : p + strlen(p);
    }
    if (edits == 0) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "no edits since the workbench started: '%s' not written", st->session_file);
        return LSC_TUI_CH_REDRAW;
    }
    /* the one atomic writer of user-named files: a symbolic link is written through, a FIFO or device is
     * refused, and a failure leaves the old file as it was */
    lsc_atomic_file f;
    lsc_error err = {0};
    char head[96];
    snprintf(head, sizeof head, "# lorascope workbench session: the edits after history entry #%lld\n",
             (long long)st->session_since);
    lsc_status rc = lsc_atomic_begin(&f, st->session_file, &err);
    if (!rc && (lsc_write_full(f.fd, head, strlen(head)) != 0 || lsc_write_full(f.fd, script, strlen(script)) != 0)) {
        rc = lsc_error_set(&err, LSC_ERR_IO, "cannot write '%s': %s", st->session_file, strerror(errno));
        lsc_atomic_abort(&f);
    } else if (!rc) {
        rc = lsc_atomic_commit(&f, &err);
    }
    if (rc)
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "saved %d edit%s to '%s' (replay: lorascope run %s)", edits,
                          edits == 1 ? "" : "s", st->session_file, st->session_file);
    return LSC_TUI_CH_REDRAW;
}

/* Whether the model now lists `name` (a cancelled retrain keeps its best state under it). */
static int adapter_kept(lsc_tui_state *st, const char *name)
{
    lsc_tui_adapter *a = NULL;
    size_t n = 0;
    lsc_error err = {0};
    int found = 0;
    if (st->model->list_adapters(st->model->ctx, &a, &n, &err) == LSC_OK)
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(a[i].name, name) == 0;
    free(a);
    return found;
}

/* The job is over: report, show, reload. */
static unsigned job_finished(lsc_tui_state *st, int rc, char *output, char *errmsg, int cancelled)
{
    unsigned ch = LSC_TUI_CH_REDRAW;
    lsc_tui_job_kind kind = st->job_kind;
    char line[sizeof st->msg];
    if (rc != 0 && kind == LSC_JOB_RETRAIN && cancelled && adapter_kept(st, st->job_target)) {
        /* retrain stops at the next step and keeps its best state as NEW */
        lsc_tui_state_msg(st, LSC_MSG_WARN, "retrain stopped: %s - u undoes", errmsg ? errmsg : "the best state is kept");
    } else if (rc != 0) {
        if (cancelled)
            lsc_tui_state_msg(st, LSC_MSG_WARN, "'%s' cancelled: nothing written", st->job_title);
        else
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s (exit %d)", errmsg ? errmsg : "command failed", rc);
        if (kind == LSC_JOB_PROMPT && output[0])
            show_output(st, output, st->job_title, 0);
    } else {
        switch (kind) {
        case LSC_JOB_PROMPT:
            if (output[0])
                show_output(st, output, st->job_title, 0);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "'%s' done", st->job_title);
            break;
        case LSC_JOB_PRUNE:
        case LSC_JOB_MERGE:
            show_output(st, output, st->job_title, 1);
            first_line(output, line, sizeof line);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "created '%s' - u undoes", st->job_target);
            break;
        case LSC_JOB_UNDO:
        case LSC_JOB_REDO:
            first_line(output, line, sizeof line);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "%s - %s", line[0] ? line : "done",
                              kind == LSC_JOB_UNDO ? "U redoes" : "u undoes again");
            break;
        case LSC_JOB_SAVE: ch |= write_session(st, output); break;
        case LSC_JOB_RETRAIN:
            first_line(output, line, sizeof line);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "created %s - u undoes", line[0] ? line : st->job_target);
            break;
        }
    }
    free(output);
    free(errmsg);
    if (kind != LSC_JOB_SAVE) {
        ch |= reload_after_edit(st);
        if (kind == LSC_JOB_PRUNE || kind == LSC_JOB_MERGE || kind == LSC_JOB_RETRAIN)
            select_adapter(st, st->job_target);
        if (lsc_tui_state_view(st) == LSC_VIEW_PRUNE && st->prune.adapter[0])
            prune_refresh(st);
    }
    return ch | LSC_TUI_CH_RELOAD;
}

static unsigned start_job(lsc_tui_state *st, const lsc_tui_argv *a, const char *title)
{
    if (st->job) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "'%s' is still running", st->job_title);
        return LSC_TUI_CH_REDRAW;
    }
    char *argv[LSC_TUI_ARGS_MAX + 1];
    for (int i = 0; i < a->argc; i++)
        argv[i] = (char *)a->argv[i];
    argv[a->argc] = NULL;
    lsc_tui_copy(st->job_title, sizeof st->job_title, title);
    st->job_kind = a->kind;
    st->job_what[0] = '\0';
    st->job_done = st->job_total = 0;
    st->job_elapsed = 0;
    st->job_cancelling = 0;
    if (a->kind == LSC_JOB_RETRAIN) {
        st->retrain.n_pts = 0;
        st->retrain.paused = 0;
        st->retrain.ran = 1;
        lsc_tui_copy(st->retrain.new_name, sizeof st->retrain.new_name, st->job_target);
    }
    if (!st->async)
        busy(st, "running '%s'", title);
    st->job = lsc_tui_job_start(st->model, a->argc, argv, st->readonly ? LSC_TUI_RUN_READONLY : 0, st->async);
    if (!st->job) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "cannot start '%s': out of memory or no thread", title);
        return LSC_TUI_CH_REDRAW;
    }
    if (!st->async)
        return lsc_tui_state_wait(st);
    return LSC_TUI_CH_REDRAW;
}

unsigned lsc_tui_state_poll(lsc_tui_state *st)
{
    if (!st->job)
        return 0;
    if (!lsc_tui_job_done(st->job)) {
        lsc_tui_job_progress(st->job, st->job_what, sizeof st->job_what, &st->job_done, &st->job_total,
                             &st->job_elapsed);
        if (st->job_kind == LSC_JOB_RETRAIN)
            st->retrain.n_pts = lsc_tui_job_points(st->job, st->retrain.pts, LSC_TUI_TRAIN_POINTS);
        return LSC_TUI_CH_REDRAW;
    }
    return lsc_tui_state_wait(st);
}

unsigned lsc_tui_state_wait(lsc_tui_state *st)
{
    if (!st->job)
        return 0;
    char *out = NULL, *err = NULL;
    int cancelled = lsc_tui_job_cancelled(st->job);
    if (st->job_kind == LSC_JOB_RETRAIN) { /* a paused job that is waited for must be able to finish */
        lsc_tui_job_pause(st->job, 0);
        st->retrain.paused = 0;
        while (!lsc_tui_job_done(st->job)) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
        st->retrain.n_pts = lsc_tui_job_points(st->job, st->retrain.pts, LSC_TUI_TRAIN_POINTS);
    }
    int rc = lsc_tui_job_finish(st->job, &out, &err);
    st->job = NULL;
    st->job_cancelling = 0;
    return job_finished(st, rc, out, err, cancelled);
}

int lsc_tui_state_busy(const lsc_tui_state *st) { return st->job != NULL; }

unsigned lsc_tui_state_cancel(lsc_tui_state *st)
{
    if (!st->job)
        return 0;
    if (!st->job_cancelling) {
        lsc_tui_job_cancel(st->job);
        st->job_cancelling = 1;
    }
    return LSC_TUI_CH_REDRAW;
}

/* ---- confirmation ------------------------------------------------------------------------------------ */

static unsigned ask(lsc_tui_state *st, const lsc_tui_argv *action, const char *title, const char *question,
                    const char *detail)
{
    lsc_tui_confirm *c = &st->confirm;
    c->open = 1;
    c->action = *action;
    lsc_tui_copy(c->question, sizeof c->question, question);
    lsc_tui_copy(c->detail, sizeof c->detail, detail);
    lsc_tui_copy(c->title, sizeof c->title, title);
    return LSC_TUI_CH_REDRAW;
}

static unsigned confirm_key(lsc_tui_state *st, int key)
{
    lsc_tui_confirm *c = &st->confirm;
    if (key == 'y' || key == 'Y') {
        c->open = 0;
        return start_job(st, &c->action, c->title);
    }
    if (key == 'n' || key == 'N' || key == LSC_KEY_ESC || key == 'q' || key == LSC_KEY_ENTER || key == '\r' ||
        key == LSC_KEY_CTRL('c') || key == LSC_KEY_CTRL('g') || key == LSC_KEY_BACKSPACE) {
        c->open = 0;
        lsc_tui_state_msg(st, LSC_MSG_INFO, "not done: nothing changed");
        return LSC_TUI_CH_REDRAW;
    }
    if (key == LSC_KEY_RESIZE)
        return LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW;
    return 0;
}

/* ---- undo, redo, session ----------------------------------------------------------------------------- */

static unsigned request_undo(lsc_tui_state *st, int redo)
{
    if (st->readonly) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "the catalog is open read-only: '%s' would change it", redo ? "redo" : "undo");
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_argv a = {.kind = redo ? LSC_JOB_REDO : LSC_JOB_UNDO, .argc = 0};
    argv_add(&a, redo ? "redo" : "undo");
    if (redo)
        return start_job(st, &a, "redo");
    load_history(st);
    const lsc_tui_history *h = NULL;
    for (size_t i = 0; i < st->n_history && !h; i++) /* newest first: the first live entry */
        if (!st->history[i].undone)
            h = &st->history[i];
    if (!h) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "nothing to undo");
        return LSC_TUI_CH_REDRAW;
    }
    char q[512], d[1024];
    snprintf(q, sizeof q, "undo #%lld %s?", (long long)h->id, h->command);
    if (h->outputs[0])
        snprintf(d, sizeof d, "%s %s - affects '%s' (U redoes it)", h->command, h->args, h->outputs);
    else
        snprintf(d, sizeof d, "%s %s (U redoes it)", h->command, h->args);
    return ask(st, &a, "undo", q, d);
}

/* Targets a session script must never replace, even when the user says yes to "overwrite": a FIFO or
 * device (writing would block or go elsewhere), a folder, and an SQLite database or WAL file (the
 * catalog: this process has it open). Says why and returns 1 for those. */
static int session_target_refused(lsc_tui_state *st, const char *file, const struct stat *sb)
{
    const char *why = NULL;
    if (S_ISDIR(sb->st_mode))
        why = "it is a folder";
    else if (!S_ISREG(sb->st_mode))
        why = "it is not a regular file";
    unsigned char head[16] = {0};
    FILE *f = why ? NULL : fopen(file, "rb");
    if (f) {
        size_t n = fread(head, 1, sizeof head, f);
        fclose(f);
        if ((n == 16 && memcmp(head, "SQLite format 3", 16) == 0) ||
            (n >= 4 && head[0] == 0x37 && head[1] == 0x7f && head[2] == 0x06 && (head[3] & 0xfe) == 0x82))
            why = "it is an SQLite database (a catalog?)";
    }
    if (why)
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "cannot save the session to '%s': %s", file, why);
    return why != NULL;
}

static unsigned save_session(lsc_tui_state *st, const char *file)
{
    if (!file || !file[0]) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "no file name given");
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_copy(st->session_file, sizeof st->session_file, file);
    lsc_tui_argv a = {.kind = LSC_JOB_SAVE, .argc = 0};
    char since[32];
    snprintf(since, sizeof since, "%lld", (long long)st->session_since);
    argv_add(&a, "log");
    argv_add(&a, "--script");
    argv_add(&a, "--since");
    argv_add(&a, since);
    struct stat sb;
    if (stat(file, &sb) == 0 && session_target_refused(st, file, &sb))
        return LSC_TUI_CH_REDRAW;
    if (stat(file, &sb) == 0) {
        char q[400];
        snprintf(q, sizeof q, "overwrite '%s'?", file);
        return ask(st, &a, "save session", q, "it holds something already; the session script would replace it");
    }
    return start_job(st, &a, "save session");
}

/* ---- the prune panel --------------------------------------------------------------------------------- */

static int rule_is_integer(lsc_tui_prune_rule r) { return r == LSC_TUI_PRUNE_RANK || r == LSC_TUI_PRUNE_BUDGET; }

void lsc_tui_prune_value_text(const lsc_tui_state *st, char *buf, size_t cap)
{
    double v = st->prune.value[st->prune.rule];
    if (rule_is_integer(st->prune.rule))
        snprintf(buf, cap, "%lld", (long long)llround(v));
    else
        snprintf(buf, cap, "%.6g", v);
}

void lsc_tui_prune_default_name(const lsc_tui_state *st, char *buf, size_t cap)
{
    char v[64];
    lsc_tui_prune_value_text(st, v, sizeof v);
    snprintf(buf, cap, "%s-%s%s", st->prune.adapter, lsc_tui_prune_rule_name(st->prune.rule), v);
}

static double prune_default(const lsc_tui_state *st, lsc_tui_prune_rule r)
{
    int maxr = 1;
    int64_t sum = 0;
    for (size_t i = 0; i < st->n_layers; i++) {
        if (st->layers[i].rank > maxr)
            maxr = st->layers[i].rank;
        sum += st->layers[i].rank;
    }
    switch (r) {
    case LSC_TUI_PRUNE_RANK: return maxr / 2 >= 1 ? maxr / 2 : 1;
    case LSC_TUI_PRUNE_ENERGY: return 0.9;
    case LSC_TUI_PRUNE_FRO: return 0.95;
    case LSC_TUI_PRUNE_CUMULATIVE: return 0.9;
    case LSC_TUI_PRUNE_RATIO: return 10;
    case LSC_TUI_PRUNE_BUDGET: return sum / 2 >= 1 ? (double)(sum / 2) : 1;
    default: return 1;
    }
}

/* Spectrum of the prune row under the cursor, for the chart pane. */
static void load_prune_sv(lsc_tui_state *st)
{
    lsc_tui_prune_panel *P = &st->prune;
    lsc_tui_list *l = &st->lists[LSC_VIEW_PRUNE];
    if (st->lay.pane_h <= 0 || !l->n) {
        if (!l->n)
            P->sv_row = -1;
        return;
    }
    size_t row = l->order[l->cursor];
    if ((long)row == P->sv_row)
        return;
    P->sv_row = (long)row;
    load_sv(st, P->adapter, P->rows[row].name, &P->sv, &P->n_sv);
}

/* Recompute the preview of the current rule and threshold (called on every change). */
static unsigned prune_refresh(lsc_tui_state *st)
{
    lsc_tui_prune_panel *P = &st->prune;
    char vt[64];
    lsc_tui_prune_value_text(st, vt, sizeof vt);
    lsc_tui_prune_row *rows = NULL;
    size_t n = 0;
    lsc_tui_prune_totals tot;
    lsc_error err = {0};
    P->n_previews++;
    lsc_status s = st->model->prune_preview
                       ? st->model->prune_preview(st->model->ctx, P->adapter, P->rule, strtod(vt, NULL), P->glob, &rows,
                                                  &n, &tot, &err)
                       : lsc_error_set(&err, LSC_ERR_UNSUPPORTED, "this catalog cannot preview prunes");
    if (s != LSC_OK) {
        P->ok = 0;
        lsc_tui_copy(P->error, sizeof P->error, err.msg);
        free(P->rows);
        P->rows = NULL;
        P->n_rows = 0;
        memset(&P->tot, 0, sizeof P->tot);
        P->sv_row = -1;
        rebuild(st, LSC_VIEW_PRUNE);
        return LSC_TUI_CH_REDRAW;
    }
    free(P->rows);
    P->rows = rows;
    P->n_rows = n;
    P->tot = tot;
    P->ok = 1;
    P->error[0] = '\0';
    rebuild(st, LSC_VIEW_PRUNE);
    load_prune_sv(st);
    return LSC_TUI_CH_REDRAW;
}

static void prune_clamp(lsc_tui_prune_panel *P)
{
    double *v = &P->value[P->rule];
    double lo = 1, hi = INFINITY;
    switch (P->rule) {
    case LSC_TUI_PRUNE_RANK:
        if (P->tot.max_rank > 0)
            hi = P->tot.max_rank;
        break;
    case LSC_TUI_PRUNE_BUDGET:
        if (P->tot.total_sv > 0)
            hi = (double)P->tot.total_sv;
        break;
    case LSC_TUI_PRUNE_RATIO: hi = 1e6; break;
    default: lo = 0.01, hi = 1; break;
    }
    if (*v < lo)
        *v = lo;
    if (*v > hi)
        *v = hi;
}

static unsigned prune_step(lsc_tui_state *st, int dir, int big)
{
    static const double small[LSC_TUI_PRUNE_RULE_COUNT] = {1, 0.01, 0.01, 0.01, 0.5, 1};
    static const double large[LSC_TUI_PRUNE_RULE_COUNT] = {4, 0.1, 0.1, 0.1, 5, 10};
    lsc_tui_prune_panel *P = &st->prune;
    double *v = &P->value[P->rule], old = *v, unit = small[P->rule];
    *v = round((*v + dir * (big ? large : small)[P->rule]) / unit) * unit; /* stay on the small step's grid */
    prune_clamp(P);
    if (*v == old) {
        lsc_tui_state_msg(st, LSC_MSG_INFO, "--%s is at its %s bound", lsc_tui_prune_rule_name(P->rule),
                          dir < 0 ? "lower" : "upper");
        return LSC_TUI_CH_REDRAW;
    }
    st->msg[0] = '\0';
    return prune_refresh(st);
}

static unsigned open_prune(lsc_tui_state *st)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    size_t at = 0;
    if (v == LSC_VIEW_CATALOG) {
        if (!l->n)
            return 0;
        if (load_layers(st, st->adapters[l->order[l->cursor]].name) != 0)
            return LSC_TUI_CH_REDRAW;
    } else if (v == LSC_VIEW_LAYERS) {
        if (l->n)
            at = l->order[l->cursor];
    } else if (v == LSC_VIEW_GRID) {
        long li = st->grid_cell ? st->grid_cell[(size_t)st->grid_r * (size_t)st->n_grid_mods + (size_t)st->grid_c] : -1;
        at = li >= 0 ? (size_t)li : 0;
    } else if (v == LSC_VIEW_SPECTRUM) {
        at = st->sv_layer;
    } else {
        return 0;
    }
    lsc_tui_prune_panel *P = &st->prune;
    if (strcmp(P->adapter, st->adapter) != 0) { /* another adapter: start from the defaults */
        lsc_tui_copy(P->adapter, sizeof P->adapter, st->adapter);
        P->rule = LSC_TUI_PRUNE_ENERGY;
        for (int r = 0; r < LSC_TUI_PRUNE_RULE_COUNT; r++)
            P->value[r] = prune_default(st, (lsc_tui_prune_rule)r);
        P->glob[0] = '\0';
    }
    P->chart = v == LSC_VIEW_SPECTRUM;
    P->sv_row = -1;
    lsc_tui_list *pl = &st->lists[LSC_VIEW_PRUNE];
    pl->n_data = (size_t)-1;
    pl->cursor = pl->top = 0;
    push(st, LSC_VIEW_PRUNE);
    busy(st, "previewing the prune of '%s'", P->adapter);
    prune_refresh(st);
    if (at < pl->n) {
        pl->cursor = at;
        clamp_list(pl, st->lay.body_h);
        if (P->chart) /* the spectrum's layer in the middle of the list */
            pl->top = at > (size_t)st->lay.body_h / 2 ? at - (size_t)st->lay.body_h / 2 : 0;
        clamp_list(pl, st->lay.body_h);
        load_prune_sv(st);
    }
    if (P->ok)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "Tab rule, Left/Right threshold, = type it, f layers, Enter apply, Esc back");
    else
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", P->error);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned prune_apply(lsc_tui_state *st)
{
    lsc_tui_prune_panel *P = &st->prune;
    if (!P->ok) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", P->error);
        return LSC_TUI_CH_REDRAW;
    }
    if (st->readonly) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "the catalog is open read-only: 'prune' would change it");
        return LSC_TUI_CH_REDRAW;
    }
    if (P->tot.n_cut == 0) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "nothing to cut: every chosen layer keeps its rank at this threshold");
        return LSC_TUI_CH_REDRAW;
    }
    char name[LSC_TUI_NAME_MAX];
    lsc_tui_prune_default_name(st, name, sizeof name);
    open_input_label(st, LSC_INPUT_NAME, name, "name of the pruned adapter: ");
    return LSC_TUI_CH_REDRAW;
}

static unsigned prune_confirm(lsc_tui_state *st, const char *name)
{
    lsc_tui_prune_panel *P = &st->prune;
    if (!name[0] || adapter_exists(st, name)) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, name[0] ? "an adapter named '%s' already exists" : "no name given%s", name);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_argv a = {.kind = LSC_JOB_PRUNE, .argc = 0};
    char opt[32], vt[64];
    lsc_tui_prune_value_text(st, vt, sizeof vt);
    snprintf(opt, sizeof opt, "--%s", lsc_tui_prune_rule_name(P->rule));
    argv_add(&a, "prune");
    argv_add(&a, P->adapter);
    argv_add(&a, opt);
    argv_add(&a, vt);
    if (P->glob[0]) {
        argv_add(&a, "--layers");
        argv_add(&a, P->glob);
    }
    if (P->tot.n_nonfinite)
        argv_add(&a, "--allow-nonfinite");
    argv_add(&a, "--as");
    argv_add(&a, name);
    lsc_tui_copy(st->job_target, sizeof st->job_target, name);
    char q[600], d[600], c1[32], c2[32], b1[32], b2[32];
    lsc_tui_fmt_count(P->tot.params_before, c1, sizeof c1);
    lsc_tui_fmt_count(P->tot.params_after, c2, sizeof c2);
    lsc_tui_fmt_bytes(P->tot.bytes_before, b1, sizeof b1);
    lsc_tui_fmt_bytes(P->tot.bytes_after, b2, sizeof b2);
    snprintf(q, sizeof q, "create '%s' from '%s' with %s %s?", name, P->adapter, opt, vt);
    snprintf(d, sizeof d, "%zu of %zu layers cut, params %s -> %s, size %s -> %s, largest error %.3g%s", P->tot.n_cut,
             P->tot.n_chosen, c1, c2, b1, b2, P->tot.max_rel_error,
             P->tot.n_nonfinite ? "; layers with NaN/Inf stay as they are" : "");
    char title[LSC_TUI_NAME_MAX + 16];
    snprintf(title, sizeof title, "prune into %s", name);
    return ask(st, &a, title, q, d);
}

static unsigned prune_edit_done(lsc_tui_state *st, const char *text)
{
    lsc_tui_prune_panel *P = &st->prune;
    char *end;
    double v = strtod(text, &end);
    lsc_error err = {0};
    if (end == text || *end) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "'%s' is not a number", text);
        return LSC_TUI_CH_REDRAW;
    }
    if (lsc_tui_prune_check(P->rule, v, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    P->value[P->rule] = v;
    st->msg[0] = '\0';
    return prune_refresh(st);
}

/* ---- the merge panel --------------------------------------------------------------------------------- */

static void merge_base_rank(lsc_tui_merge_panel *M)
{
    if (M->opts.method != LSC_TUI_MERGE_CAT || !M->ok)
        return;
    int r = 0;
    for (size_t i = 0; i < M->n_rows; i++) /* cat: the rank is the inputs' sum */
        if (M->rows[i].models > 0 && (M->rows[i].rank + M->rows[i].models - 1) / M->rows[i].models > r)
            r = (M->rows[i].rank + M->rows[i].models - 1) / M->rows[i].models;
    if (r > 0)
        M->base_rank = r;
}

static unsigned merge_refresh(lsc_tui_state *st)
{
    lsc_tui_merge_panel *M = &st->merge;
    const char *names[LSC_TUI_MERGE_MAX];
    for (int i = 0; i < M->n; i++)
        names[i] = M->names[i];
    lsc_tui_merge_row *rows = NULL;
    size_t n = 0;
    lsc_tui_merge_totals tot;
    lsc_error err = {0};
    M->n_previews++;
    busy(st, "previewing the %s merge", lsc_tui_merge_method_name(M->opts.method));
    lsc_status s = st->model->merge_preview
                       ? st->model->merge_preview(st->model->ctx, names, M->n, &M->opts, &rows, &n, &tot, &err)
                       : lsc_error_set(&err, LSC_ERR_UNSUPPORTED, "this catalog cannot preview merges");
    free(M->rows);
    M->rows = NULL;
    M->n_rows = 0;
    if (s != LSC_OK) {
        M->ok = 0;
        lsc_tui_copy(M->error, sizeof M->error, err.msg);
        memset(&M->tot, 0, sizeof M->tot);
    } else {
        M->ok = 1;
        M->error[0] = '\0';
        M->rows = rows;
        M->n_rows = n;
        M->tot = tot;
        merge_base_rank(M);
    }
    rebuild(st, LSC_VIEW_MERGE);
    return LSC_TUI_CH_REDRAW;
}

static void merge_weights_text(lsc_tui_merge_panel *M)
{
    size_t len = 0;
    M->weights[0] = '\0';
    for (int i = 0; i < M->n && len < sizeof M->weights; i++)
        len += (size_t)snprintf(M->weights + len, sizeof M->weights - len, "%s%g", i ? "," : "", M->opts.weights[i]);
}

static unsigned open_merge(lsc_tui_state *st)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_CATALOG];
    lsc_tui_merge_panel *M = &st->merge;
    char names[LSC_TUI_MERGE_MAX][LSC_TUI_NAME_MAX];
    int n = 0;
    for (size_t i = 0; i < l->n_data && l->tagged; i++)
        if (l->tagged[i]) {
            if (n == LSC_TUI_MERGE_MAX) {
                lsc_tui_state_msg(st, LSC_MSG_ERROR, "more than %d adapters tagged: merge them in steps", LSC_TUI_MERGE_MAX);
                return LSC_TUI_CH_REDRAW;
            }
            lsc_tui_copy(names[n++], LSC_TUI_NAME_MAX, st->adapters[i].name);
        }
    if (n < 2) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "tag two or more adapters with Space, then m");
        return LSC_TUI_CH_REDRAW;
    }
    int same = n == M->n;
    for (int i = 0; same && i < n; i++)
        same = strcmp(names[i], M->names[i]) == 0;
    if (!same) {
        free(M->rows);
        memset(M, 0, sizeof *M);
        M->n = n;
        memcpy(M->names, names, sizeof names);
        M->opts.method = LSC_TUI_MERGE_CAT;
        for (int i = 0; i < n; i++)
            M->opts.weights[i] = 1;
        M->opts.density = 1;
        merge_weights_text(M);
    }
    lsc_tui_list *ml = &st->lists[LSC_VIEW_MERGE];
    ml->n_data = (size_t)-1;
    ml->cursor = ml->top = 0;
    push(st, LSC_VIEW_MERGE);
    merge_refresh(st);
    if (M->ok)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "j/k field, Left/Right change, e type, Enter apply, Esc back");
    else
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", M->error);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned merge_step(lsc_tui_state *st, int dir, int big)
{
    lsc_tui_merge_panel *M = &st->merge;
    lsc_tui_merge_opts *o = &M->opts;
    switch (M->field) {
    case LSC_MERGE_FIELD_METHOD:
        o->method = (lsc_tui_merge_method)(((int)o->method + dir + LSC_TUI_MERGE_METHOD_COUNT) % LSC_TUI_MERGE_METHOD_COUNT);
        if (lsc_tui_merge_needs_rank(o->method) && o->rank < 1)
            o->rank = M->base_rank > 0 ? M->base_rank : 8;
        break;
    case LSC_MERGE_FIELD_WEIGHTS:
        lsc_tui_state_msg(st, LSC_MSG_INFO, "press e to type the weights, one per adapter: %s", M->weights);
        return LSC_TUI_CH_REDRAW;
    case LSC_MERGE_FIELD_RANK: {
        int lo = lsc_tui_merge_needs_rank(o->method) ? 1 : 0, r = o->rank + dir * (big ? 8 : 1);
        if (r < lo)
            r = lo;
        if (r == o->rank)
            return 0;
        o->rank = r;
        break;
    }
    case LSC_MERGE_FIELD_DENSITY: {
        double d = round((o->density + dir * (big ? 0.1 : 0.05)) / 0.05) * 0.05;
        d = d < 0.05 ? 0.05 : d > 1 ? 1 : d;
        if (d == o->density)
            return 0;
        o->density = d;
        break;
    }
    case LSC_MERGE_FIELD_SEED: {
        long long sd = (long long)o->seed + dir * (big ? 10 : 1);
        if (sd < 0)
            return 0;
        o->seed = (uint64_t)sd;
        break;
    }
    default: return 0;
    }
    st->msg[0] = '\0';
    return merge_refresh(st);
}

static void merge_field_text(const lsc_tui_merge_panel *M, int f, char *buf, size_t cap)
{
    switch (f) {
    case LSC_MERGE_FIELD_METHOD: snprintf(buf, cap, "%s", lsc_tui_merge_method_name(M->opts.method)); break;
    case LSC_MERGE_FIELD_WEIGHTS: snprintf(buf, cap, "%s", M->weights); break;
    case LSC_MERGE_FIELD_RANK: snprintf(buf, cap, "%d", M->opts.rank); break;
    case LSC_MERGE_FIELD_DENSITY: snprintf(buf, cap, "%g", M->opts.density); break;
    case LSC_MERGE_FIELD_SEED: snprintf(buf, cap, "%llu", (unsigned long long)M->opts.seed); break;
    default: buf[0] = '\0'; break;
    }
}

static const char *const k_merge_fields[LSC_MERGE_FIELD_COUNT] = {"method", "weights", "rank", "density", "seed"};

static unsigned merge_edit_done(lsc_tui_state *st, const char *text)
{
    lsc_tui_merge_panel *M = &st->merge;
    lsc_tui_merge_opts o = M->opts;
    char *end;
    switch (M->field) {
    case LSC_MERGE_FIELD_METHOD: {
        char nm[64];
        lsc_tui_copy(nm, sizeof nm, text);
        for (char *q = nm; *q; q++)
            if (*q == '-')
                *q = '_';
        int found = -1;
        for (int i = 0; i < LSC_TUI_MERGE_METHOD_COUNT; i++)
            if (strcmp(nm, lsc_tui_merge_method_name((lsc_tui_merge_method)i)) == 0)
                found = i;
        if (found < 0) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "unknown merge method '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        o.method = (lsc_tui_merge_method)found;
        if (lsc_tui_merge_needs_rank(o.method) && o.rank < 1)
            o.rank = M->base_rank > 0 ? M->base_rank : 8;
        break;
    }
    case LSC_MERGE_FIELD_WEIGHTS: {
        int k = 0;
        const char *p = text;
        while (*p) {
            double w = strtod(p, &end);
            if (end == p || (*end && *end != ',') || k == LSC_TUI_MERGE_MAX || !isfinite(w)) {
                lsc_tui_state_msg(st, LSC_MSG_ERROR, "weights are numbers separated by commas, not '%s'", text);
                return LSC_TUI_CH_REDRAW;
            }
            o.weights[k++] = w;
            p = *end ? end + 1 : end;
        }
        if (k != M->n) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "%d weight%s for %d adapters", k, k == 1 ? "" : "s", M->n);
            return LSC_TUI_CH_REDRAW;
        }
        break;
    }
    case LSC_MERGE_FIELD_RANK: {
        long r = strtol(text, &end, 10);
        if (end == text || *end || r < 0 || r > 1000000) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "the rank is a whole number >= 0 (0: none), not '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        o.rank = (int)r;
        break;
    }
    case LSC_MERGE_FIELD_DENSITY:
        o.density = strtod(text, &end);
        if (end == text || *end || !(o.density > 0 && o.density <= 1)) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "--density takes a fraction in (0, 1], not '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        break;
    case LSC_MERGE_FIELD_SEED:
        o.seed = strtoull(text, &end, 10);
        if (end == text || *end || text[0] == '-') {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "--seed takes a whole number, not '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        break;
    default: return 0;
    }
    M->opts = o;
    merge_weights_text(M);
    st->msg[0] = '\0';
    return merge_refresh(st);
}

static unsigned merge_apply(lsc_tui_state *st)
{
    lsc_tui_merge_panel *M = &st->merge;
    if (!M->ok) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", M->error);
        return LSC_TUI_CH_REDRAW;
    }
    if (st->readonly) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "the catalog is open read-only: 'merge' would change it");
        return LSC_TUI_CH_REDRAW;
    }
    char name[LSC_TUI_NAME_MAX * 2 + 32];
    snprintf(name, sizeof name, "%s-%s-%s", M->names[0], M->names[1], lsc_tui_merge_method_name(M->opts.method));
    open_input_label(st, LSC_INPUT_NAME, name, "name of the merged adapter: ");
    return LSC_TUI_CH_REDRAW;
}

static unsigned merge_confirm(lsc_tui_state *st, const char *name)
{
    lsc_tui_merge_panel *M = &st->merge;
    lsc_tui_merge_opts *o = &M->opts;
    if (!name[0] || adapter_exists(st, name)) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, name[0] ? "an adapter named '%s' already exists" : "no name given%s", name);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_argv a = {.kind = LSC_JOB_MERGE, .argc = 0};
    char t[64];
    argv_add(&a, "merge");
    for (int i = 0; i < M->n; i++)
        argv_add(&a, M->names[i]);
    argv_add(&a, "--method");
    argv_add(&a, lsc_tui_merge_method_name(o->method));
    argv_add(&a, "--weights");
    argv_add(&a, M->weights);
    if (o->rank > 0 && o->method != LSC_TUI_MERGE_CAT) {
        snprintf(t, sizeof t, "%d", o->rank);
        argv_add(&a, "--rank");
        argv_add(&a, t);
    }
    if (o->density != 1) {
        snprintf(t, sizeof t, "%g", o->density);
        argv_add(&a, "--density");
        argv_add(&a, t);
    }
    if (o->seed != 0) {
        snprintf(t, sizeof t, "%llu", (unsigned long long)o->seed);
        argv_add(&a, "--seed");
        argv_add(&a, t);
    }
    argv_add(&a, "--as");
    argv_add(&a, name);
    lsc_tui_copy(st->job_target, sizeof st->job_target, name);
    char q[600], d[600], c1[32];
    lsc_tui_fmt_count(M->tot.params, c1, sizeof c1);
    snprintf(q, sizeof q, "create '%s', a %s merge of %d adapters?", name, lsc_tui_merge_method_name(o->method), M->n);
    if (lsc_tui_merge_is_elementwise(o->method))
        snprintf(d, sizeof d, "%zu layers at rank %d, params %s; element-wise: one dense layer at a time, Esc cancels",
                 M->n_rows, o->rank, c1);
    else
        snprintf(d, sizeof d, "%zu layers, params %s, largest error %.3g", M->n_rows, c1, M->tot.max_rel_error);
    char title[LSC_TUI_NAME_MAX + 16];
    snprintf(title, sizeof title, "merge into %s", name);
    return ask(st, &a, title, q, d);
}

/* ---- multi-task adapters: the task table ------------------------------------------------------------ */

static unsigned open_tasks(lsc_tui_state *st, const char *group)
{
    lsc_tui_kind_figures k;
    lsc_error err = {0};
    busy(st, "reading the tasks of '%s'", group);
    if (!st->model->kind_figures) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "this catalog cannot show the tasks of '%s'", group);
        return LSC_TUI_CH_REDRAW;
    }
    if (st->model->kind_figures(st->model->ctx, group, &k, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_task *t = malloc(((size_t)k.n_tasks + 1) * sizeof *t);
    if (!t) {
        lsc_tui_kind_release(&k);
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "out of memory");
        return LSC_TUI_CH_REDRAW;
    }
    memcpy(t, k.tasks, (size_t)k.n_tasks * sizeof *t);
    free(st->tasks);
    st->tasks = t;
    st->n_tasks = (size_t)k.n_tasks;
    lsc_tui_copy(st->group_name, sizeof st->group_name, group);
    lsc_tui_list *tl = &st->lists[LSC_VIEW_TASKS];
    tl->n_data = (size_t)-1;
    tl->cursor = tl->top = 0;
    tl->filter[0] = '\0';
    push(st, LSC_VIEW_TASKS);
    rebuild(st, LSC_VIEW_TASKS);
    lsc_tui_state_msg(st, LSC_MSG_INFO, "%d tasks, %zu layers in every task - Enter a task's layers, K cosines and norms",
                      k.n_tasks, k.n_layers);
    lsc_tui_kind_release(&k);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static int is_group_kind(const char *kind) { return strcmp(kind, "multi-task") == 0; }

/* ---- the kind panel ----------------------------------------------------------------------------------- */

size_t lsc_tui_kind_rows(const lsc_tui_state *st, int *overall)
{
    const lsc_tui_kind_figures *k = &st->kind.kf;
    int o = strcmp(k->kind, "dynamic") == 0 || strcmp(k->kind, "multi-task") == 0;
    if (overall)
        *overall = o;
    if (!st->kind.ok)
        return 0;
    if (strcmp(k->kind, "layer-wise") == 0)
        return (size_t)k->n_blocks;
    if (strcmp(k->kind, "static") == 0 || !k->kind[0])
        return 0;
    return k->n_layers + (size_t)o;
}

static unsigned kind_move(lsc_tui_state *st, long d)
{
    lsc_tui_kind_panel *K = &st->kind;
    size_t n = lsc_tui_kind_rows(st, NULL);
    if (!n)
        return 0;
    size_t oc = K->cursor, ot = K->top, h = st->lay.body_h > 0 ? (size_t)st->lay.body_h : 1;
    long c = (long)K->cursor + d;
    K->cursor = c < 0 ? 0 : c >= (long)n ? n - 1 : (size_t)c;
    if (K->cursor < K->top)
        K->top = K->cursor;
    if (K->cursor >= K->top + h)
        K->top = K->cursor - h + 1;
    if (K->top + h > n)
        K->top = n > h ? n - h : 0;
    return oc != K->cursor || ot != K->top ? LSC_TUI_CH_REDRAW : 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static unsigned open_kind(lsc_tui_state *st)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    const char *name = v == LSC_VIEW_TASKS ? st->group_name : st->adapter;
    if (!name[0])
        return 0;
    lsc_tui_kind_panel *K = &st->kind;
    lsc_tui_kind_release(&K->kf);
    lsc_tui_copy(K->adapter, sizeof K->adapter, name);
    K->cursor = K->top = 0;
    K->alt = 0;
    K->n_ranks = 0;
    K->widest_layer = (size_t)-1;
    K->widest_b = 0;
    K->widest_gap = 0;
    lsc_error err = {0};
    busy(st, "computing the kind figures of '%s'", name);
    double t0 = now_seconds();
    lsc_status s = st->model->kind_figures ? st->model->kind_figures(st->model->ctx, name, &K->kf, &err)
                                           : lsc_error_set(&err, LSC_ERR_UNSUPPORTED, "this catalog has no kind figures");
    K->load_seconds = now_seconds() - t0;
    K->ok = s == LSC_OK;
    lsc_tui_copy(K->error, sizeof K->error, K->ok ? "" : err.msg);
    if (K->ok) {
        lsc_tui_kind_widest_gap(&K->kf, &K->widest_layer, &K->widest_b, &K->widest_gap);
        if (v != LSC_VIEW_TASKS) /* the rank histogram, from the layer table */
            for (size_t i = 0; i < st->n_layers; i++) {
                int r = st->layers[i].rank, j = 0;
                while (j < K->n_ranks && K->ranks[j] < r)
                    j++;
                if (j < K->n_ranks && K->ranks[j] == r) {
                    K->rank_count[j]++;
                } else if (K->n_ranks < 64) {
                    memmove(K->ranks + j + 1, K->ranks + j, (size_t)(K->n_ranks - j) * sizeof *K->ranks);
                    memmove(K->rank_count + j + 1, K->rank_count + j, (size_t)(K->n_ranks - j) * sizeof *K->rank_count);
                    K->ranks[j] = r;
                    K->rank_count[j] = 1;
                    K->n_ranks++;
                }
            }
    }
    push(st, LSC_VIEW_KIND);
    layout(st);
    if (!K->ok) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", K->error);
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
    }
    const char *k = K->kf.kind;
    if (strcmp(k, "dynamic") == 0)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "j/k a layer's curve (first row: the mean), m log/linear, Esc back");
    else if (strcmp(k, "layer-wise") == 0)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "m rank / energy share, Esc back");
    else if (strcmp(k, "multi-task") == 0)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "j/k a layer's cosines (first row: over all layers), Esc back");
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "%s", lsc_tui_kind_rows(st, NULL) ? "j/k move, Esc back" : "Esc back");
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE | LSC_TUI_CH_RELOAD;
}

/* ---- the retrain panel -------------------------------------------------------------------------------- */

static const char *const k_rt_kinds[LSC_TUI_RT_KINDS] = {"static", "dynamic", "adaptive", "sparse"};
static const char *const k_rt_inits[LSC_TUI_RT_INITS] = {"self", "svd", "random"};
static const char *const k_rt_fields[LSC_RT_FIELD_COUNT] = {"target", "kind", "rank", "steps", "lr", "init", "seed",
                                                            "final-rank", "lambda"};

const char *lsc_tui_retrain_kind_name(int k) { return k >= 0 && k < LSC_TUI_RT_KINDS ? k_rt_kinds[k] : "?"; }
const char *lsc_tui_retrain_init_name(int i) { return i >= 0 && i < LSC_TUI_RT_INITS ? k_rt_inits[i] : "?"; }

void lsc_tui_retrain_field_text(const lsc_tui_state *st, int f, char *buf, size_t cap)
{
    const lsc_tui_retrain_panel *R = &st->retrain;
    switch (f) {
    case LSC_RT_TARGET: snprintf(buf, cap, "%s", R->target[0] ? R->target : "(none: Left/Right or e)"); break;
    case LSC_RT_KIND: snprintf(buf, cap, "%s", lsc_tui_retrain_kind_name(R->kind)); break;
    case LSC_RT_RANK:
        if (R->rank)
            snprintf(buf, cap, "%d", R->rank);
        else if (R->min_rank == R->max_rank)
            snprintf(buf, cap, "own (%d)", R->max_rank);
        else
            snprintf(buf, cap, "own (%d..%d)", R->min_rank, R->max_rank);
        break;
    case LSC_RT_STEPS: snprintf(buf, cap, "%ld", R->steps); break;
    case LSC_RT_LR: snprintf(buf, cap, "%g", R->lr); break;
    case LSC_RT_INIT: snprintf(buf, cap, "%s", lsc_tui_retrain_init_name(R->init)); break;
    case LSC_RT_SEED: snprintf(buf, cap, "%llu", R->seed); break;
    case LSC_RT_FINAL_RANK:
        if (R->final_rank)
            snprintf(buf, cap, "%d", R->final_rank);
        else
            snprintf(buf, cap, "default");
        break;
    case LSC_RT_LAMBDA: snprintf(buf, cap, "%g", R->lambda); break;
    default: buf[0] = '\0'; break;
    }
}

void lsc_tui_retrain_argv(const lsc_tui_state *st, const char *new_name, lsc_tui_argv *a)
{
    const lsc_tui_retrain_panel *R = &st->retrain;
    char t[64];
    a->kind = LSC_JOB_RETRAIN;
    a->argc = 0;
    argv_add(a, "retrain");
    argv_add(a, R->adapter);
    argv_add(a, "--target");
    argv_add(a, R->target);
    argv_add(a, "--kind");
    argv_add(a, lsc_tui_retrain_kind_name(R->kind));
    if (R->rank > 0) {
        snprintf(t, sizeof t, "%d", R->rank);
        argv_add(a, "--rank");
        argv_add(a, t);
    }
    snprintf(t, sizeof t, "%ld", R->steps);
    argv_add(a, "--steps");
    argv_add(a, t);
    snprintf(t, sizeof t, "%g", R->lr);
    argv_add(a, "--lr");
    argv_add(a, t);
    argv_add(a, "--init");
    argv_add(a, lsc_tui_retrain_init_name(R->init));
    if (R->seed) {
        snprintf(t, sizeof t, "%llu", R->seed);
        argv_add(a, "--seed");
        argv_add(a, t);
    }
    if (R->kind == 2 && R->final_rank > 0) {
        snprintf(t, sizeof t, "%d", R->final_rank);
        argv_add(a, "--final-rank");
        argv_add(a, t);
    }
    if (R->kind == 3) {
        snprintf(t, sizeof t, "%g", R->lambda);
        argv_add(a, "--lambda");
        argv_add(a, t);
    }
    argv_add(a, "--as");
    argv_add(a, new_name);
}

/* The first tagged adapter of the catalog other than NAME, "" if none. */
static void first_tagged_other(const lsc_tui_state *st, const char *name, char *buf, size_t cap)
{
    const lsc_tui_list *l = &st->lists[LSC_VIEW_CATALOG];
    buf[0] = '\0';
    for (size_t i = 0; l->tagged && i < l->n_data && i < st->n_adapters; i++)
        if (l->tagged[i] && strcmp(st->adapters[i].name, name) != 0) {
            lsc_tui_copy(buf, cap, st->adapters[i].name);
            return;
        }
}

static unsigned open_retrain(lsc_tui_state *st)
{
    if (!st->adapter[0])
        return 0;
    lsc_tui_retrain_panel *R = &st->retrain;
    if (strcmp(R->adapter, st->adapter) != 0) { /* another adapter: the defaults */
        memset(R, 0, sizeof *R);
        lsc_tui_copy(R->adapter, sizeof R->adapter, st->adapter);
        const char *kind = "static";
        for (size_t i = 0; i < st->n_adapters; i++)
            if (strcmp(st->adapters[i].name, st->adapter) == 0)
                kind = st->adapters[i].kind;
        for (int k = 0; k < LSC_TUI_RT_KINDS; k++)
            if (strcmp(kind, k_rt_kinds[k]) == 0)
                R->kind = k;
        R->min_rank = R->max_rank = st->n_layers ? st->layers[0].rank : 0;
        for (size_t i = 0; i < st->n_layers; i++) {
            R->min_rank = st->layers[i].rank < R->min_rank ? st->layers[i].rank : R->min_rank;
            R->max_rank = st->layers[i].rank > R->max_rank ? st->layers[i].rank : R->max_rank;
        }
        R->steps = 200;
        R->lr = 1e-2;
        R->lambda = 1e-3;
        first_tagged_other(st, st->adapter, R->target, sizeof R->target);
    } else if (!R->target[0]) {
        first_tagged_other(st, st->adapter, R->target, sizeof R->target);
    }
    R->field = R->target[0] ? LSC_RT_KIND : LSC_RT_TARGET;
    push(st, LSC_VIEW_RETRAIN);
    if (st->readonly)
        lsc_tui_state_msg(st, LSC_MSG_WARN, "the catalog is open read-only: retrain would change it");
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "Tab/j/k field, Left/Right change, e type, Enter run, Esc back");
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
}

static unsigned retrain_step(lsc_tui_state *st, int dir, int big)
{
    lsc_tui_retrain_panel *R = &st->retrain;
    switch (R->field) {
    case LSC_RT_TARGET: { /* cycle through the catalog, the tagged adapters first */
        const lsc_tui_list *l = &st->lists[LSC_VIEW_CATALOG];
        size_t n = l->n, cur = n, k = 0;
        size_t *order = malloc((n + 1) * sizeof *order);
        if (!order || !n) {
            free(order);
            return 0;
        }
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < n; i++) {
                size_t di = l->order[i];
                int tag = l->tagged && l->tagged[di];
                if (tag == !pass && strcmp(st->adapters[di].name, R->adapter) != 0 &&
                    !is_group_kind(st->adapters[di].kind))
                    order[k++] = di;
            }
        for (size_t i = 0; i < k; i++)
            if (strcmp(st->adapters[order[i]].name, R->target) == 0)
                cur = i;
        if (k) {
            size_t next = cur == n ? (dir > 0 ? 0 : k - 1) : (cur + k + (size_t)(dir > 0 ? 1 : k - 1)) % k;
            lsc_tui_copy(R->target, sizeof R->target, st->adapters[order[next]].name);
        }
        free(order);
        break;
    }
    case LSC_RT_KIND: R->kind = (R->kind + dir + LSC_TUI_RT_KINDS) % LSC_TUI_RT_KINDS; break;
    case LSC_RT_RANK: { /* from "own": the adapter's largest rank and on; below 1: each layer's own again */
        int r = R->rank ? R->rank + dir * (big ? 4 : 1) : R->max_rank + (dir > 0 ? 0 : -1);
        R->rank = r < 1 ? 0 : r;
        break;
    }
    case LSC_RT_STEPS: {
        long s = R->steps + dir * (big ? 500 : 50);
        R->steps = s < 1 ? 1 : s;
        if (R->steps > 1 && R->steps % 50 && !big)
            R->steps = (R->steps / 50 + (dir > 0)) * 50;
        break;
    }
    case LSC_RT_LR: R->lr *= dir > 0 ? (big ? 10 : 2) : (big ? 0.1 : 0.5); break;
    case LSC_RT_INIT: R->init = (R->init + dir + LSC_TUI_RT_INITS) % LSC_TUI_RT_INITS; break;
    case LSC_RT_SEED: {
        long long sd = (long long)R->seed + dir * (big ? 10 : 1);
        R->seed = sd < 0 ? 0 : (unsigned long long)sd;
        break;
    }
    case LSC_RT_FINAL_RANK: {
        int r = R->final_rank + dir * (big ? 4 : 1);
        R->final_rank = r < 0 ? 0 : r;
        break;
    }
    case LSC_RT_LAMBDA: R->lambda *= dir > 0 ? (big ? 10 : 2) : (big ? 0.1 : 0.5); break;
    default: return 0;
    }
    st->msg[0] = '\0';
    return LSC_TUI_CH_REDRAW;
}

static unsigned retrain_edit_done(lsc_tui_state *st, const char *text)
{
    lsc_tui_retrain_panel *R = &st->retrain;
    char *end;
    switch (R->field) {
    case LSC_RT_TARGET:
        if (!adapter_exists(st, text)) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "no adapter '%s' in the catalog", text);
            return LSC_TUI_CH_REDRAW;
        }
        lsc_tui_copy(R->target, sizeof R->target, text);
        break;
    case LSC_RT_KIND:
    case LSC_RT_INIT: {
        int n = R->field == LSC_RT_KIND ? LSC_TUI_RT_KINDS : LSC_TUI_RT_INITS, found = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(text, R->field == LSC_RT_KIND ? k_rt_kinds[i] : k_rt_inits[i]) == 0)
                found = i;
        if (found < 0) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, R->field == LSC_RT_KIND ? "unknown kind '%s' (static, dynamic, adaptive, sparse)"
                                                                         : "--init takes self, svd or random, not '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        *(R->field == LSC_RT_KIND ? &R->kind : &R->init) = found;
        break;
    }
    case LSC_RT_RANK:
    case LSC_RT_STEPS:
    case LSC_RT_FINAL_RANK: {
        long v = strtol(text, &end, 10);
        int zero_ok = R->field != LSC_RT_STEPS;
        if (end == text || *end || v < (zero_ok ? 0 : 1) || v > 100000000) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "'%s' is not a whole number >= %d%s", text, zero_ok ? 0 : 1,
                              zero_ok ? " (0: the default)" : "");
            return LSC_TUI_CH_REDRAW;
        }
        if (R->field == LSC_RT_RANK)
            R->rank = (int)v;
        else if (R->field == LSC_RT_STEPS)
            R->steps = v;
        else
            R->final_rank = (int)v;
        break;
    }
    case LSC_RT_LR:
    case LSC_RT_LAMBDA: {
        double v = strtod(text, &end);
        if (end == text || *end || !isfinite(v) || v < 0 || (R->field == LSC_RT_LR && v == 0)) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "'%s' is not a positive number", text);
            return LSC_TUI_CH_REDRAW;
        }
        *(R->field == LSC_RT_LR ? &R->lr : &R->lambda) = v;
        break;
    }
    case LSC_RT_SEED:
        R->seed = strtoull(text, &end, 10);
        if (end == text || *end || text[0] == '-') {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "--seed takes a whole number, not '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        break;
    default: return 0;
    }
    st->msg[0] = '\0';
    return LSC_TUI_CH_REDRAW;
}

static unsigned retrain_apply(lsc_tui_state *st)
{
    lsc_tui_retrain_panel *R = &st->retrain;
    if (st->readonly) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "the catalog is open read-only: 'retrain' would change it");
        return LSC_TUI_CH_REDRAW;
    }
    if (!R->target[0] || !adapter_exists(st, R->target)) {
        R->field = LSC_RT_TARGET;
        lsc_tui_state_msg(st, LSC_MSG_ERROR, R->target[0] ? "no adapter '%s' in the catalog" : "choose a target first%s",
                          R->target);
        return LSC_TUI_CH_REDRAW;
    }
    char name[LSC_TUI_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s-retrained", R->adapter);
    for (int i = 2; adapter_exists(st, name) && i < 100; i++) /* a free default */
        snprintf(name, sizeof name, "%s-retrained-%d", R->adapter, i);
    open_input_label(st, LSC_INPUT_NAME, name, "name of the retrained adapter: ");
    return LSC_TUI_CH_REDRAW;
}

static unsigned retrain_confirm(lsc_tui_state *st, const char *name)
{
    lsc_tui_retrain_panel *R = &st->retrain;
    if (!name[0] || adapter_exists(st, name)) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, name[0] ? "an adapter named '%s' already exists" : "no name given%s", name);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_argv a;
    lsc_tui_retrain_argv(st, name, &a);
    lsc_tui_copy(st->job_target, sizeof st->job_target, name);
    char q[700], d[900], rk[64];
    lsc_tui_retrain_field_text(st, LSC_RT_RANK, rk, sizeof rk);
    snprintf(q, sizeof q, "retrain '%s' towards '%s' into '%s'?", R->adapter, R->target, name);
    snprintf(d, sizeof d, "%s rule, rank %s, %ld steps at lr %g, init %s; p pauses, Esc stops and keeps the best state",
             lsc_tui_retrain_kind_name(R->kind), rk, R->steps, R->lr, lsc_tui_retrain_init_name(R->init));
    char title[LSC_TUI_NAME_MAX + 16];
    snprintf(title, sizeof title, "retrain into %s", name);
    return ask(st, &a, title, q, d);
}

static unsigned toggle_pause(lsc_tui_state *st)
{
    if (!st->job || st->job_kind != LSC_JOB_RETRAIN || st->job_cancelling)
        return 0;
    st->retrain.paused = !st->retrain.paused;
    lsc_tui_job_pause(st->job, st->retrain.paused);
    lsc_tui_state_msg(st, LSC_MSG_INFO, st->retrain.paused ? "paused - p resumes" : "resumed");
    return LSC_TUI_CH_REDRAW;
}

unsigned lsc_tui_state_request(lsc_tui_state *st, lsc_tui_req req)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    int page = st->lay.body_h > 1 ? st->lay.body_h - 1 : 1;

    if (req == LSC_REQ_QUIT)
        return LSC_TUI_CH_QUIT;
    if (req == LSC_REQ_RESIZE)
        return LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW;
    if (st->job) /* nothing may call the model while a command runs */
        return req == LSC_REQ_BACK ? lsc_tui_state_cancel(st) : req == LSC_REQ_PAUSE ? toggle_pause(st) : 0;
    if (st->confirm.open)
        return req == LSC_REQ_BACK ? confirm_key(st, LSC_KEY_ESC) : 0;
    if (st->help) { /* the overlay takes the keys: scroll it or close it */
        switch (req) {
        case LSC_REQ_DOWN: st->help_top++; return LSC_TUI_CH_REDRAW;
        case LSC_REQ_UP: st->help_top -= st->help_top > 0; return LSC_TUI_CH_REDRAW;
        case LSC_REQ_HELP:
        case LSC_REQ_BACK: st->help = 0; return LSC_TUI_CH_REDRAW;
        default: return 0;
        }
    }
    if (v == LSC_VIEW_DIFF && st->diff_focus && st->diff_pane == 1) {
        /* the only-in lists have no cursor; up/down move the table still */
    }
    switch (req) {
    case LSC_REQ_DOWN:
    case LSC_REQ_UP: {
        long d = req == LSC_REQ_DOWN ? 1 : -1;
        if (v == LSC_VIEW_GRID)
            return move_grid(st, (int)d, 0);
        if (v == LSC_VIEW_SPECTRUM)
            return spectrum_step(st, d);
        if (v == LSC_VIEW_MERGE) {
            int f = st->merge.field + (int)d;
            st->merge.field = f < 0 ? LSC_MERGE_FIELD_COUNT - 1 : f >= LSC_MERGE_FIELD_COUNT ? 0 : f;
            return LSC_TUI_CH_REDRAW;
        }
        if (v == LSC_VIEW_RETRAIN) {
            int f = st->retrain.field + (int)d;
            st->retrain.field = f < 0 ? LSC_RT_FIELD_COUNT - 1 : f >= LSC_RT_FIELD_COUNT ? 0 : f;
            return LSC_TUI_CH_REDRAW;
        }
        if (v == LSC_VIEW_KIND)
            return kind_move(st, d);
        if (!l)
            return 0;
        unsigned ch = move_list(st, l, d);
        if (v == LSC_VIEW_DIFF && ch)
            load_diff_sv(st);
        if (v == LSC_VIEW_PRUNE && ch)
            load_prune_sv(st);
        return ch;
    }
    case LSC_REQ_PAGE_DOWN:
    case LSC_REQ_PAGE_UP:
    case LSC_REQ_TOP:
    case LSC_REQ_BOTTOM: {
        long big = 1L << 40;
        long d = req == LSC_REQ_PAGE_DOWN ? page : req == LSC_REQ_PAGE_UP ? -page : req == LSC_REQ_TOP ? -big : big;
        if (v == LSC_VIEW_GRID)
            return move_grid(st, (int)(d > 100000 ? 100000 : d < -100000 ? -100000 : d), 0);
        if (v == LSC_VIEW_SPECTRUM)
            return spectrum_step(st, d > 100000 ? 100000 : d < -100000 ? -100000 : d > 0 ? 10 : -10);
        if (v == LSC_VIEW_KIND)
            return kind_move(st, d > 1000000 ? 1000000 : d < -1000000 ? -1000000 : d);
        if (!l)
            return 0;
        unsigned ch;
        if (req == LSC_REQ_PAGE_DOWN || req == LSC_REQ_PAGE_UP) { /* scroll the page with the cursor */
            size_t oldc = l->cursor, oldt = l->top;
            long t = (long)l->top + d, maxt = (long)l->n - st->lay.body_h;
            if (maxt < 0)
                maxt = 0;
            l->top = (size_t)(t < 0 ? 0 : t > maxt ? maxt : t);
            ch = move_list(st, l, d);
            ch = (oldc != l->cursor || oldt != l->top) ? LSC_TUI_CH_REDRAW : 0;
        } else {
            ch = move_list(st, l, d);
        }
        if (v == LSC_VIEW_DIFF && ch)
            load_diff_sv(st);
        if (v == LSC_VIEW_PRUNE && ch)
            load_prune_sv(st);
        return ch;
    }
    case LSC_REQ_LEFT:
    case LSC_REQ_RIGHT:
        if (v == LSC_VIEW_GRID)
            return move_grid(st, 0, req == LSC_REQ_RIGHT ? 1 : -1);
        if (v == LSC_VIEW_DIFF) {
            st->diff_focus = req == LSC_REQ_RIGHT;
            return LSC_TUI_CH_REDRAW;
        }
        return 0;
    case LSC_REQ_ENTER: return enter(st);
    case LSC_REQ_BACK:
        if (st->depth > 1) {
            st->depth--;
            layout(st);
            lsc_tui_view nv = lsc_tui_state_view(st);
            lsc_tui_list *nl = lsc_tui_state_list(st, nv);
            if (nl)
                clamp_list(nl, st->lay.body_h);
            if (nv == LSC_VIEW_GRID)
                grid_clamp(st);
            if (nv == LSC_VIEW_DIFF) {
                st->sv_diff_row = -1;
                load_diff_sv(st);
            }
            return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
        }
        return 0;
    case LSC_REQ_SORT_NEXT: return sort_step(st, 1);
    case LSC_REQ_SORT_PREV: return sort_step(st, -1);
    case LSC_REQ_SORT_REVERSE:
        if (!l || l->sort < 0)
            return 0;
        l->desc = !l->desc;
        rebuild(st, v);
        if (v == LSC_VIEW_DIFF)
            load_diff_sv(st);
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_SEARCH:
        if (!l)
            return 0;
        open_input(st, LSC_INPUT_SEARCH, "");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_SEARCH_NEXT: return do_search(st, 1);
    case LSC_REQ_SEARCH_PREV: return do_search(st, -1);
    case LSC_REQ_FILTER:
        if (!l)
            return 0;
        open_input(st, LSC_INPUT_FILTER, l->filter);
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_TAG: {
        if (!l || !l->n || (v != LSC_VIEW_CATALOG && v != LSC_VIEW_LAYERS))
            return 0;
        size_t i = l->order[l->cursor];
        l->tagged[i] = !l->tagged[i];
        l->n_tagged = l->tagged[i] ? l->n_tagged + 1 : l->n_tagged - 1;
        move_list(st, l, 1);
        return LSC_TUI_CH_REDRAW;
    }
    case LSC_REQ_DIFF:
        if (v != LSC_VIEW_CATALOG)
            return 0;
        return open_diff(st);
    case LSC_REQ_HELP:
        st->help = 1;
        st->help_top = 0;
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_PROMPT:
        open_input(st, LSC_INPUT_PROMPT, "");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_TAB:
        if (v == LSC_VIEW_DIFF) {
            st->diff_pane = !st->diff_pane;
            return LSC_TUI_CH_REDRAW;
        }
        /* layers <-> grid */
        __attribute__((fallthrough));
    case LSC_REQ_GRID:
        if (v == LSC_VIEW_LAYERS) {
            lsc_tui_list *ll = &st->lists[LSC_VIEW_LAYERS];
            if (ll->n) { /* put the grid cursor on the selected layer */
                const lsc_tui_layer *L = &st->layers[ll->order[ll->cursor]];
                for (int r = 0; r < st->n_grid_rows; r++)
                    if (st->grid_rows[r] == L->layer_index)
                        st->grid_r = r;
                int m = module_rank(st, L->module_type);
                if (m < st->n_grid_mods)
                    st->grid_c = m;
            }
            replace_top(st, LSC_VIEW_GRID);
            grid_clamp(st);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "%d blocks x %d modules - m switches norm/rank", st->n_grid_rows,
                              st->n_grid_mods);
            return LSC_TUI_CH_REDRAW;
        }
        if (v == LSC_VIEW_GRID) {
            replace_top(st, LSC_VIEW_LAYERS);
            clamp_list(&st->lists[LSC_VIEW_LAYERS], st->lay.body_h);
            return LSC_TUI_CH_REDRAW;
        }
        return 0;
    case LSC_REQ_METRIC:
        if (v != LSC_VIEW_GRID)
            return 0;
        st->metric = st->metric == LSC_METRIC_NORM ? LSC_METRIC_RANK : LSC_METRIC_NORM;
        grid_metric_max(st);
        lsc_tui_state_msg(st, LSC_MSG_INFO, "heat by %s", st->metric == LSC_METRIC_NORM ? "Frobenius norm" : "rank");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_GROUP:
        if (v != LSC_VIEW_LAYERS)
            return 0;
        st->group = !st->group;
        rebuild(st, LSC_VIEW_LAYERS);
        lsc_tui_state_msg(st, LSC_MSG_INFO, st->group ? "grouped by module type" : "not grouped");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_HISTORY:
        if (v == LSC_VIEW_HISTORY)
            return load_history(st);
        push(st, LSC_VIEW_HISTORY);
        return load_history(st);
    case LSC_REQ_REFRESH: {
        unsigned ch = load_catalog(st) | LSC_TUI_CH_RESIZE;
        if (st->adapter[0])
            load_layers(st, st->adapter);
        if (v == LSC_VIEW_HISTORY)
            load_history(st);
        if (v == LSC_VIEW_PRUNE) {
            st->prune.sv_row = -1;
            prune_refresh(st);
        }
        if (v == LSC_VIEW_MERGE)
            merge_refresh(st);
        return ch;
    }
    case LSC_REQ_PRUNE: return open_prune(st);
    case LSC_REQ_KIND:
        if (v != LSC_VIEW_LAYERS && v != LSC_VIEW_GRID && v != LSC_VIEW_TASKS && v != LSC_VIEW_SPECTRUM)
            return 0;
        return open_kind(st);
    case LSC_REQ_TOGGLE:
        if (v != LSC_VIEW_KIND || !st->kind.ok)
            return 0;
        if (strcmp(st->kind.kf.kind, "dynamic") == 0 || strcmp(st->kind.kf.kind, "layer-wise") == 0) {
            st->kind.alt = !st->kind.alt;
            lsc_tui_state_msg(st, LSC_MSG_INFO, "%s", st->kind.kf.kind[0] == 'd' ? (st->kind.alt ? "linear y axis" : "log y axis")
                                                      : (st->kind.alt ? "heat by share of the energy" : "heat by rank"));
            return LSC_TUI_CH_REDRAW;
        }
        return 0;
    case LSC_REQ_RETRAIN:
        if (v != LSC_VIEW_LAYERS && v != LSC_VIEW_GRID)
            return 0;
        return open_retrain(st);
    case LSC_REQ_PAUSE: return toggle_pause(st);
    case LSC_REQ_MERGE: return v == LSC_VIEW_CATALOG ? open_merge(st) : 0;
    case LSC_REQ_UNDO: return request_undo(st, 0);
    case LSC_REQ_REDO: return request_undo(st, 1);
    case LSC_REQ_SAVE:
        open_input_label(st, LSC_INPUT_FILE, st->session_file, "save the session's edits to: ");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_NEXT_RULE:
        if (v != LSC_VIEW_PRUNE)
            return 0;
        st->prune.rule = (lsc_tui_prune_rule)((st->prune.rule + 1) % LSC_TUI_PRUNE_RULE_COUNT);
        prune_clamp(&st->prune);
        st->msg[0] = '\0';
        return prune_refresh(st);
    case LSC_REQ_DEC:
    case LSC_REQ_INC:
    case LSC_REQ_DEC_BIG:
    case LSC_REQ_INC_BIG: {
        int dir = req == LSC_REQ_INC || req == LSC_REQ_INC_BIG ? 1 : -1;
        int big = req == LSC_REQ_DEC_BIG || req == LSC_REQ_INC_BIG;
        if (v == LSC_VIEW_PRUNE)
            return prune_step(st, dir, big);
        if (v == LSC_VIEW_MERGE)
            return merge_step(st, dir, big);
        if (v == LSC_VIEW_RETRAIN)
            return retrain_step(st, dir, big);
        return 0;
    }
    case LSC_REQ_EDIT:
        if (v == LSC_VIEW_PRUNE) {
            char vt[64], label[64];
            lsc_tui_prune_value_text(st, vt, sizeof vt);
            snprintf(label, sizeof label, "--%s ", lsc_tui_prune_rule_name(st->prune.rule));
            open_input_label(st, LSC_INPUT_VALUE, vt, label);
            return LSC_TUI_CH_REDRAW;
        }
        if (v == LSC_VIEW_MERGE) {
            char vt[128], label[64];
            merge_field_text(&st->merge, st->merge.field, vt, sizeof vt);
            snprintf(label, sizeof label, "%s: ", k_merge_fields[st->merge.field]);
            open_input_label(st, LSC_INPUT_VALUE, vt, label);
            return LSC_TUI_CH_REDRAW;
        }
        if (v == LSC_VIEW_RETRAIN) {
            char vt[LSC_TUI_NAME_MAX], label[64];
            const lsc_tui_retrain_panel *R = &st->retrain;
            if (R->field == LSC_RT_TARGET)
                lsc_tui_copy(vt, sizeof vt, R->target);
            else if (R->field == LSC_RT_RANK)
                snprintf(vt, sizeof vt, "%d", R->rank);
            else if (R->field == LSC_RT_FINAL_RANK)
                snprintf(vt, sizeof vt, "%d", R->final_rank);
            else
                lsc_tui_retrain_field_text(st, R->field, vt, sizeof vt);
            snprintf(label, sizeof label, "%s: ", k_rt_fields[R->field]);
            open_input_label(st, LSC_INPUT_VALUE, vt, label);
            return LSC_TUI_CH_REDRAW;
        }
        return 0;
    case LSC_REQ_LAYER_GLOB:
        if (v != LSC_VIEW_PRUNE)
            return 0;
        open_input_label(st, LSC_INPUT_GLOB, st->prune.glob, "only layers matching (glob; empty: all): ");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_APPLY:
        if (v == LSC_VIEW_PRUNE)
            return prune_apply(st);
        if (v == LSC_VIEW_MERGE)
            return merge_apply(st);
        if (v == LSC_VIEW_RETRAIN)
            return retrain_apply(st);
        return 0;
    default: return 0;
    }
}

/* ---- input line ------------------------------------------------------------------------------------ */

static void input_append(lsc_tui_state *st, int cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80)
        u[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)),
        n = 3;
    else
        u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    if (st->inlen + n >= sizeof st->inbuf)
        return;
    memcpy(st->inbuf + st->inlen, u, n);
    st->inlen += n;
    st->inbuf[st->inlen] = '\0';
}

static unsigned input_key(lsc_tui_state *st, int key)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (key == LSC_KEY_ESC || key == LSC_KEY_CTRL('c') || key == LSC_KEY_CTRL('g')) {
        st->input = LSC_INPUT_NONE;
        return LSC_TUI_CH_REDRAW;
    }
    if (key == LSC_KEY_BACKSPACE || key == 127 || key == 8) {
        if (st->inlen == 0) {
            st->input = LSC_INPUT_NONE; /* backspace on an empty line closes it, as in vim */
            return LSC_TUI_CH_REDRAW;
        }
        do
            st->inlen--;
        while (st->inlen && ((unsigned char)st->inbuf[st->inlen] & 0xC0) == 0x80);
        st->inbuf[st->inlen] = '\0';
        return LSC_TUI_CH_REDRAW;
    }
    if (key == LSC_KEY_CTRL('u')) {
        st->inlen = 0;
        st->inbuf[0] = '\0';
        return LSC_TUI_CH_REDRAW;
    }
    if (key == LSC_KEY_ENTER || key == '\r') {
        lsc_tui_input mode = st->input;
        st->input = LSC_INPUT_NONE;
        if (mode == LSC_INPUT_PROMPT) {
            char line[sizeof st->inbuf];
            memcpy(line, st->inbuf, sizeof line);
            return run_prompt(st, line);
        }
        if (mode == LSC_INPUT_SEARCH) {
            if (!st->inbuf[0])
                return LSC_TUI_CH_REDRAW;
            lsc_tui_copy(st->search, sizeof st->search, st->inbuf);
            unsigned ch = do_search(st, 1);
            if (v == LSC_VIEW_DIFF)
                load_diff_sv(st);
            return ch;
        }
        if (mode == LSC_INPUT_NAME) {
            char name[sizeof st->inbuf];
            memcpy(name, st->inbuf, sizeof name);
            if (v == LSC_VIEW_PRUNE)
                return prune_confirm(st, name);
            if (v == LSC_VIEW_MERGE)
                return merge_confirm(st, name);
            if (v == LSC_VIEW_RETRAIN)
                return retrain_confirm(st, name);
            return LSC_TUI_CH_REDRAW;
        }
        if (mode == LSC_INPUT_VALUE) {
            char text[sizeof st->inbuf];
            memcpy(text, st->inbuf, sizeof text);
            if (v == LSC_VIEW_PRUNE)
                return prune_edit_done(st, text);
            if (v == LSC_VIEW_MERGE)
                return merge_edit_done(st, text);
            if (v == LSC_VIEW_RETRAIN)
                return retrain_edit_done(st, text);
            return LSC_TUI_CH_REDRAW;
        }
        if (mode == LSC_INPUT_GLOB) {
            lsc_tui_copy(st->prune.glob, sizeof st->prune.glob, st->inbuf);
            st->prune.sv_row = -1;
            st->msg[0] = '\0';
            return prune_refresh(st);
        }
        if (mode == LSC_INPUT_FILE) {
            char file[sizeof st->inbuf];
            memcpy(file, st->inbuf, sizeof file);
            return save_session(st, file);
        }
        if (mode == LSC_INPUT_FILTER && l) {
            lsc_tui_copy(l->filter, sizeof l->filter, st->inbuf);
            rebuild(st, v);
            if (v == LSC_VIEW_DIFF) {
                st->sv_diff_row = -1;
                load_diff_sv(st);
            }
            if (l->filter[0])
                lsc_tui_state_msg(st, l->n ? LSC_MSG_INFO : LSC_MSG_WARN, "filter '%s': %zu of %zu rows", l->filter,
                                  l->n, l->n_data);
            else
                lsc_tui_state_msg(st, LSC_MSG_INFO, "filter cleared");
            return LSC_TUI_CH_REDRAW;
        }
        return LSC_TUI_CH_REDRAW;
    }
    if (key >= 32 && key < LSC_KEY_BASE && key != 127) {
        input_append(st, key);
        return LSC_TUI_CH_REDRAW;
    }
    if (key == LSC_KEY_RESIZE)
        return LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW;
    return 0;
}

unsigned lsc_tui_state_key(lsc_tui_state *st, int key)
{
    if (st->job) { /* a command runs: only cancelling, pausing a retrain and resizing */
        if (key == LSC_KEY_ESC || key == LSC_KEY_CTRL('c') || key == 'q' || key == 'Q')
            return lsc_tui_state_cancel(st);
        if (lsc_tui_key_lookup(lsc_tui_state_view(st), key) == LSC_REQ_PAUSE)
            return toggle_pause(st);
        return key == LSC_KEY_RESIZE ? LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW : 0;
    }
    if (st->confirm.open)
        return confirm_key(st, key);
    if (st->input != LSC_INPUT_NONE)
        return input_key(st, key);
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_req r = lsc_tui_key_lookup(v, key);
    if (r == LSC_REQ_BACK && key == 'q' && st->depth == 1 && !st->help)
        return LSC_TUI_CH_QUIT; /* q on the root view quits, as in htop */
    if (r == LSC_REQ_NONE) {
        if (st->help) { /* any other key closes the overlay */
            st->help = 0;
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
    layout(st);
    for (int v = 0; v < LSC_VIEW_COUNT; v++)
        if (lsc_tui_state_list(st, (lsc_tui_view)v))
            clamp_list(&st->lists[v], st->lay.body_h);
    grid_clamp(st);
    return LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW;
}

int lsc_tui_grid_cell_width(const lsc_tui_state *st)
{
    int n = st->n_grid_mods ? st->n_grid_mods : 1;
    int w = (st->lay.cols - 8) / n;
    return w > 12 ? 12 : w < 3 ? 3 : w;
}

unsigned lsc_tui_state_click(lsc_tui_state *st, int y, int x, int button)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (st->lay.too_small || st->job || st->confirm.open)
        return 0;
    if (st->help)
        return lsc_tui_state_request(st, LSC_REQ_HELP);
    if (v == LSC_VIEW_MERGE && button == 1 && y >= 1 && y < 1 + LSC_MERGE_FIELD_COUNT) {
        st->merge.field = y - 1;
        return LSC_TUI_CH_REDRAW;
    }
    if (button == 4 || button == 5) {
        lsc_tui_req r = button == 4 ? LSC_REQ_UP : LSC_REQ_DOWN;
        unsigned ch = 0;
        for (int i = 0; i < 3; i++)
            ch |= lsc_tui_state_request(st, r);
        return ch;
    }
    if (button != 1)
        return 0;
    if (y == st->lay.keys_y) {
        lsc_tui_fkey fk[12];
        int n = lsc_tui_fkeys(v, fk, 12);
        for (int i = 0; i < n; i++)
            if (x >= fk[i].x && x < fk[i].x + fk[i].width)
                return lsc_tui_state_request(st, fk[i].req);
        return 0;
    }
    if (v == LSC_VIEW_GRID) {
        int cw = lsc_tui_grid_cell_width(st);
        int r = st->grid_top + (y - st->lay.body_y), c = (x - 8) / cw;
        if (y < st->lay.body_y || y >= st->lay.body_y + st->lay.body_h || x < 8 || r >= st->n_grid_rows ||
            c >= st->n_grid_mods)
            return 0;
        if (r == st->grid_r && c == st->grid_c)
            return lsc_tui_state_request(st, LSC_REQ_ENTER);
        st->grid_r = r;
        st->grid_c = c;
        return LSC_TUI_CH_REDRAW;
    }
    if (!l)
        return 0;
    int in_table = (v != LSC_VIEW_DIFF && v != LSC_VIEW_PRUNE) || st->lay.pane_x == 0 || x < st->lay.pane_x;
    if (v == LSC_VIEW_PRUNE && st->lay.pane_h > 0 && st->lay.pane_x == 0 && y >= st->lay.pane_y)
        in_table = 0;
    if (y == st->lay.header_y && in_table && v != LSC_VIEW_PRUNE && v != LSC_VIEW_MERGE) {
        lsc_tui_col cols[LSC_TUI_MAX_COLS];
        int nc = lsc_tui_view_columns(st, v, cols, LSC_TUI_MAX_COLS);
        for (int i = 0; i < st->lay.n_colpos; i++) {
            const lsc_tui_colpos *cp = &st->lay.colpos[i];
            if (x < cp->x || x >= cp->x + cp->width + 1)
                continue;
            for (int k = 0; k < nc; k++)
                if (cols[k] == cp->col) {
                    if (l->sort == k) {
                        l->desc = !l->desc;
                    } else {
                        const char *s = NULL;
                        l->sort = k;
                        l->desc = data_count(st, v) ? (sort_key(st, v, 0, cp->col, &s), s == NULL) : 0;
                    }
                    rebuild(st, v);
                    if (v == LSC_VIEW_DIFF)
                        load_diff_sv(st);
                    lsc_tui_state_msg(st, LSC_MSG_INFO, "sorted by %s, %s", k_cols[cp->col].title,
                                      l->desc ? "descending" : "ascending");
                    return LSC_TUI_CH_REDRAW;
                }
        }
        return 0;
    }
    if (y >= st->lay.body_y && y < st->lay.body_y + st->lay.body_h && in_table) {
        size_t row = l->top + (size_t)(y - st->lay.body_y);
        if (row >= l->n)
            return 0;
        if (row == l->cursor && v != LSC_VIEW_PRUNE && v != LSC_VIEW_MERGE) /* panels apply on Enter only */
            return lsc_tui_state_request(st, LSC_REQ_ENTER);
        l->cursor = row;
        if (v == LSC_VIEW_DIFF)
            load_diff_sv(st);
        if (v == LSC_VIEW_PRUNE)
            load_prune_sv(st);
        return LSC_TUI_CH_REDRAW;
    }
    return 0;
}

/* ---- cell text ------------------------------------------------------------------------------------- */

static void esc(char *buf, size_t cap, const char *s)
{
    if (!s || !s[0])
        snprintf(buf, cap, "-");
    else
        lsc_escape_name(buf, cap, s);
}

static void pct(double v, char *buf, size_t cap)
{
    if (v >= 0.9995)
        snprintf(buf, cap, "100%%");
    else
        snprintf(buf, cap, "%.1f%%", v * 100);
}

void lsc_tui_cell_text(const lsc_tui_state *st, lsc_tui_view v, size_t row, lsc_tui_col c, char *buf, size_t cap)
{
    buf[0] = '\0';
    const lsc_tui_list *l = &st->lists[v];
    if (v == LSC_VIEW_OUTPUT) {
        if (row < st->n_out_lines)
            snprintf(buf, cap, "%s", st->out_lines[row]);
        return;
    }
    if (!l->order || row >= l->n)
        return;
    size_t i = l->order[row];
    if (v == LSC_VIEW_CATALOG) {
        const lsc_tui_adapter *a = &st->adapters[i];
        switch (c) {
        case LSC_COL_NAME: esc(buf, cap, a->name); break;
        case LSC_COL_KIND: esc(buf, cap, a->kind); break;
        case LSC_COL_BASE: esc(buf, cap, a->base_model); break;
        case LSC_COL_PARENTS: esc(buf, cap, a->parents); break;
        case LSC_COL_LAYERS: snprintf(buf, cap, "%lld", (long long)a->n_layers); break;
        case LSC_COL_PARAMS: lsc_tui_fmt_count(a->params, buf, cap); break;
        case LSC_COL_BYTES: lsc_tui_fmt_bytes(a->bytes, buf, cap); break;
        case LSC_COL_CREATED: lsc_tui_fmt_time(a->created, buf, cap); break;
        default: break;
        }
    } else if (v == LSC_VIEW_LAYERS) {
        const lsc_tui_layer *L = &st->layers[i];
        int nf = L->nonfinite;
        switch (c) {
        case LSC_COL_INDEX:
            if (L->layer_index >= 0)
                snprintf(buf, cap, "%d", L->layer_index);
            else
                snprintf(buf, cap, "-");
            break;
        case LSC_COL_NAME:
            if (st->group && row > 0 && strcmp(st->layers[l->order[row - 1]].module_type, L->module_type) != 0)
                esc(buf, cap, lsc_tui_short_name(st, L->name));
            else
                esc(buf, cap, lsc_tui_short_name(st, L->name));
            break;
        case LSC_COL_MODULE:
            if (st->group && row > 0 && strcmp(st->layers[l->order[row - 1]].module_type, L->module_type) == 0)
                snprintf(buf, cap, "  \"");
            else
                esc(buf, cap, L->module_type);
            break;
        case LSC_COL_SHAPE: snprintf(buf, cap, "%lldx%lld", (long long)L->rows, (long long)L->cols); break;
        case LSC_COL_RANK: snprintf(buf, cap, "%d", L->rank); break;
        case LSC_COL_ALPHA: snprintf(buf, cap, "%g", L->alpha); break;
        case LSC_COL_SCALE: snprintf(buf, cap, "%.4g", L->scale); break;
        case LSC_COL_FRO: nf ? snprintf(buf, cap, "NaN!") : (lsc_tui_fmt_num(L->fro, buf, cap), 0); break;
        case LSC_COL_SIGMA1: nf ? snprintf(buf, cap, "NaN!") : (lsc_tui_fmt_num(L->sigma1, buf, cap), 0); break;
        case LSC_COL_EFF: nf ? snprintf(buf, cap, "-") : snprintf(buf, cap, "%.2f", L->effective_rank); break;
        case LSC_COL_STABLE: nf ? snprintf(buf, cap, "-") : snprintf(buf, cap, "%.2f", L->stable_rank); break;
        case LSC_COL_K90: nf ? snprintf(buf, cap, "-") : snprintf(buf, cap, "%d", L->k90); break;
        case LSC_COL_K99: nf ? snprintf(buf, cap, "-") : snprintf(buf, cap, "%d", L->k99); break;
        case LSC_COL_ZEROS_A: pct(L->zeros_a, buf, cap); break;
        case LSC_COL_ZEROS_B: pct(L->zeros_b, buf, cap); break;
        case LSC_COL_FLAGS:
            snprintf(buf, cap, "%s%s%s%s%s%s", nf ? "!" : "", (L->flags & LSC_LAYER_DORA) ? "D" : "",
                     (L->flags & LSC_LAYER_ADALORA) ? "A" : "", (L->flags & LSC_LAYER_CONV) ? "C" : "",
                     (L->flags & LSC_LAYER_EMBEDDING) ? "E" : "", (L->flags & LSC_LAYER_FAN_IN_FAN_OUT) ? "T" : "");
            break;
        default: break;
        }
    } else if (v == LSC_VIEW_DIFF) {
        const lsc_tui_diff_row *r = &st->diff.rows[i];
        switch (c) {
        case LSC_COL_NAME: esc(buf, cap, lsc_tui_short_name(st, r->name)); break;
        case LSC_COL_COSINE: isnan(r->cosine) ? snprintf(buf, cap, "NaN") : snprintf(buf, cap, "%.4f", r->cosine); break;
        case LSC_COL_RELDIFF: lsc_tui_fmt_num(r->rel_diff, buf, cap); break;
        case LSC_COL_SUB_IN: isnan(r->subspace_in) ? snprintf(buf, cap, "NaN") : snprintf(buf, cap, "%.3f", r->subspace_in); break;
        case LSC_COL_SUB_OUT: isnan(r->subspace_out) ? snprintf(buf, cap, "NaN") : snprintf(buf, cap, "%.3f", r->subspace_out); break;
        case LSC_COL_FRO_A: lsc_tui_fmt_num(r->fro_a, buf, cap); break;
        case LSC_COL_FRO_B: lsc_tui_fmt_num(r->fro_b, buf, cap); break;
        default: break;
        }
    } else if (v == LSC_VIEW_PRUNE) {
        const lsc_tui_prune_row *r = &st->prune.rows[i];
        switch (c) {
        case LSC_COL_NAME: esc(buf, cap, lsc_tui_short_name(st, r->name)); break;
        case LSC_COL_RANK: snprintf(buf, cap, "%d", r->rank_before); break;
        case LSC_COL_NEW_RANK:
            if (r->nonfinite)
                snprintf(buf, cap, "NaN!");
            else
                snprintf(buf, cap, "%d", r->rank_after);
            break;
        case LSC_COL_KEPT:
            if (r->chosen)
                snprintf(buf, cap, "%.2f%%", 100 * r->kept_energy);
            else
                snprintf(buf, cap, "-");
            break;
        case LSC_COL_RELERR:
            if (r->chosen)
                lsc_tui_fmt_num(r->rel_error, buf, cap);
            else
                snprintf(buf, cap, "-");
            break;
        default: break;
        }
    } else if (v == LSC_VIEW_MERGE) {
        const lsc_tui_merge_row *r = &st->merge.rows[i];
        switch (c) {
        case LSC_COL_NAME: esc(buf, cap, lsc_tui_short_name(st, r->name)); break;
        case LSC_COL_MODELS: snprintf(buf, cap, "%d", r->models); break;
        case LSC_COL_RANK: snprintf(buf, cap, "%d", r->rank); break;
        case LSC_COL_RELERR:
            if (isnan(r->rel_error))
                snprintf(buf, cap, "when run");
            else
                lsc_tui_fmt_num(r->rel_error, buf, cap);
            break;
        default: break;
        }
    } else if (v == LSC_VIEW_TASKS) {
        const lsc_tui_task *t = &st->tasks[i];
        switch (c) {
        case LSC_COL_TASK: esc(buf, cap, t->task); break;
        case LSC_COL_ADAPTER: esc(buf, cap, t->adapter); break;
        case LSC_COL_LAYERS: snprintf(buf, cap, "%lld", (long long)t->layers); break;
        case LSC_COL_PARAMS: lsc_tui_fmt_count(t->params, buf, cap); break;
        default: break;
        }
    } else if (v == LSC_VIEW_HISTORY) {
        const lsc_tui_history *h = &st->history[i];
        switch (c) {
        case LSC_COL_TIME: lsc_tui_fmt_time(h->time, buf, cap); break;
        case LSC_COL_COMMAND: esc(buf, cap, h->command); break;
        case LSC_COL_STATE: snprintf(buf, cap, "%s", h->undone ? "undone" : "done"); break;
        case LSC_COL_ARGS: esc(buf, cap, h->args); break;
        default: break;
        }
    }
}

void lsc_tui_breadcrumb(const lsc_tui_state *st, const char *sep, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int d = 0; d < st->depth && len < cap; d++) {
        char part[LSC_TUI_NAME_MAX * 2 + 16], e1[LSC_TUI_NAME_MAX], e2[LSC_TUI_NAME_MAX];
        switch (st->stack[d]) {
        case LSC_VIEW_CATALOG: snprintf(part, sizeof part, "catalog"); break;
        case LSC_VIEW_LAYERS: snprintf(part, sizeof part, "%s", lsc_escape_name(e1, sizeof e1, st->adapter)); break;
        case LSC_VIEW_GRID: snprintf(part, sizeof part, "%s grid", lsc_escape_name(e1, sizeof e1, st->adapter)); break;
        case LSC_VIEW_SPECTRUM:
            snprintf(part, sizeof part, "%s",
                     st->sv_layer < st->n_layers
                         ? lsc_escape_name(e1, sizeof e1, lsc_tui_short_name(st, st->layers[st->sv_layer].name))
                         : "spectrum");
            break;
        case LSC_VIEW_DIFF:
            snprintf(part, sizeof part, "diff %s..%s", lsc_escape_name(e1, sizeof e1, st->diff_a),
                     lsc_escape_name(e2, sizeof e2, st->diff_b));
            break;
        case LSC_VIEW_HISTORY: snprintf(part, sizeof part, "history"); break;
        case LSC_VIEW_OUTPUT: snprintf(part, sizeof part, ":%s", lsc_escape_name(e1, sizeof e1, st->out_title)); break;
        case LSC_VIEW_PRUNE: snprintf(part, sizeof part, "prune"); break;
        case LSC_VIEW_TASKS: snprintf(part, sizeof part, "%s (%zu tasks)", lsc_escape_name(e1, sizeof e1, st->group_name), st->n_tasks); break;
        case LSC_VIEW_KIND: snprintf(part, sizeof part, "%s (%s)", lsc_escape_name(e1, sizeof e1, st->kind.adapter),
                                     st->kind.kf.kind[0] ? st->kind.kf.kind : "kind"); break;
        case LSC_VIEW_RETRAIN: snprintf(part, sizeof part, "retrain %s", lsc_escape_name(e1, sizeof e1, st->retrain.adapter)); break;
        case LSC_VIEW_MERGE: {
            size_t pl = (size_t)snprintf(part, sizeof part, "merge ");
            for (int i = 0; i < st->merge.n && pl < sizeof part; i++)
                pl += (size_t)snprintf(part + pl, sizeof part - pl, "%s%s", i ? " + " : "",
                                       lsc_escape_name(e1, sizeof e1, st->merge.names[i]));
            break;
        }
        default: part[0] = '\0'; break;
        }
        int w = snprintf(buf + len, cap - len, "%s%s", d ? sep : "", part);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}
