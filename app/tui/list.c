/* list.c: the shared list behaviour every table view falls back to, and list maintenance.
 *
 * The per-view lists (filter -> sort -> order[], cursor and scroll kept in bounds), the layout of the view on
 * top (each view places its own body and pane through its layout op; the columns that fit are chosen here),
 * the fallback for requests a view passes on (move, page, top/bottom, sort, search, filter, tag) and mouse
 * clicks. A view learns that its cursor moved through its moved op. Never includes curses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layername.h"
#include "view.h"

/* The view on top: its cursor moved. */
static void moved(lsc_tui_state *st)
{
    const lsc_tui_view_ops *o = lsc_tui_view_ops_of(lsc_tui_state_view(st));
    if (o->moved)
        o->moved(st);
}

/* ---- columns -------------------------------------------------------------------------------------- */

int lsc_tui_series_col_fig(lsc_tui_col c)
{
    switch (c) {
    case LSC_COL_FRO: return LSC_TUI_SERIES_NORM;
    case LSC_COL_SIGMA1: return LSC_TUI_SERIES_SIGMA1;
    case LSC_COL_EFF: return LSC_TUI_SERIES_ERANK;
    case LSC_COL_K90: return LSC_TUI_SERIES_K90;
    case LSC_COL_SIM_PREV: return LSC_TUI_SERIES_SIM_PREV;
    case LSC_COL_SIM_FINAL: return LSC_TUI_SERIES_SIM_FINAL;
    default: return -1;
    }
}

static const lsc_tui_col k_view_cols_catalog[] = {LSC_COL_NAME,   LSC_COL_KIND,  LSC_COL_FORMAT,  LSC_COL_DTYPE,
                                                  LSC_COL_LAYERS, LSC_COL_PARAMS, LSC_COL_BYTES, LSC_COL_CREATED,
                                                  LSC_COL_BASE,   LSC_COL_PARENTS};
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
static const lsc_tui_col k_view_cols_series[] = {LSC_COL_NAME, LSC_COL_FRO, LSC_COL_SIGMA1, LSC_COL_EFF,
                                                 LSC_COL_K90, LSC_COL_SIM_PREV, LSC_COL_SIM_FINAL};
static const lsc_tui_col k_view_cols_audit[] = {LSC_COL_NAME, LSC_COL_LAYERS, LSC_COL_WASTE, LSC_COL_SAVES,
                                                LSC_COL_NAN, LSC_COL_DEAD, LSC_COL_NOTES};

/* The layer table's columns against the base, after the others, when its adapter has a recorded base. */
static const lsc_tui_col k_view_cols_vsbase[] = {LSC_COL_BASE_NORM, LSC_COL_REL_NORM, LSC_COL_AMP, LSC_COL_SUBSIM,
                                                 LSC_COL_INTRUDERS};

int lsc_tui_view_columns(const lsc_tui_state *st, lsc_tui_view v, lsc_tui_col *out, int cap)
{
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
    case LSC_VIEW_SERIES: c = k_view_cols_series, n = (int)(sizeof k_view_cols_series / sizeof *c); break;
    case LSC_VIEW_AUDIT: c = k_view_cols_audit, n = (int)(sizeof k_view_cols_audit / sizeof *c); break;
    default: return 0;
    }
    if (n > cap)
        n = cap;
    memcpy(out, c, (size_t)n * sizeof *c);
    if (v == LSC_VIEW_LAYERS && lsc_tui_vsbase_shown(st))
        for (size_t i = 0; i < sizeof k_view_cols_vsbase / sizeof *k_view_cols_vsbase && n < cap; i++)
            out[n++] = k_view_cols_vsbase[i];
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
    case LSC_VIEW_TASKS:
    case LSC_VIEW_SERIES: return &st->lists[v];
    case LSC_VIEW_AUDIT: return &st->lists[v];
    default: return NULL;
    }
}

/* Columns a UTF-8 text takes (one per code point: the cells are names and numbers). */
static int text_cols(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

#define NEED_ROWS_MAX 4096 /* rows measured for a column's need (a huge list is sampled from its top) */

/* The width column c of view v needs: its title or its widest cell over all the data rows (not only the
 * filtered ones: the columns stay put while a filter is typed). */
static int column_need(const lsc_tui_state *st, lsc_tui_view v, lsc_tui_col c)
{
    const lsc_tui_colinfo *ci = lsc_tui_col_info(c);
    const lsc_tui_list *l = &st->lists[v];
    int need = text_cols(ci->title) + 1; /* room for the sort arrow */
    /* only a list in step with its data (a view may lay out before its rows are loaded) */
    size_t n = l->order && l->n_data == lsc_tui_list_count(st, v) ? l->n_data : 0;
    for (size_t i = 0; i < n && i < NEED_ROWS_MAX; i++) {
        char cell[1024];
        lsc_tui_cell_text_data(st, v, i, c, cell, sizeof cell);
        int w = text_cols(cell);
        if (w > need)
            need = w;
    }
    return need;
}

/* Choose the columns of view v that fit in `width` (after the 2-column marker), by priority, and place
 * them in display order. A text column is no wider than its widest cell; the width left over is shared
 * among the columns whose cells are cut, one column at a time to each in turn (so a long name does not
 * take it all while parents or task names are cut), and what nobody needs goes to the flexible column. */
/* A column's priority: the table's, except that the figures against the base, while not computed, take
 * only the room nothing else wants (a column of "-" never pushes out a known figure). */
static int col_priority(const lsc_tui_state *st, lsc_tui_col c)
{
    int p = lsc_tui_col_info(c)->priority;
    switch (c) {
    case LSC_COL_BASE_NORM:
    case LSC_COL_REL_NORM: return st->vsbase.cur < 0 ? 13 + p / 4 : p;
    case LSC_COL_AMP:
    case LSC_COL_SUBSIM:
    case LSC_COL_INTRUDERS: return st->vsbase.cur < 0 || lsc_tui_vsbase_norms_only(st) ? 13 + p / 4 : p;
    default: return p;
    }
}

static void layout_columns(lsc_tui_state *st, lsc_tui_view v, int width)
{
    lsc_tui_col cols[LSC_TUI_MAX_COLS];
    int n = lsc_tui_view_columns(st, v, cols, LSC_TUI_MAX_COLS);
    int avail = width - 2, used = 0, flex_min = 0;
    int chosen[LSC_TUI_MAX_COLS] = {0}, need[LSC_TUI_MAX_COLS], w[LSC_TUI_MAX_COLS];
    for (int i = 0; i < n; i++) {
        const lsc_tui_colinfo *ci = lsc_tui_col_info(cols[i]);
        need[i] = column_need(st, v, cols[i]);
        if (ci->width == 0) {
            int fm = v == LSC_VIEW_CATALOG ? 16 : v == LSC_VIEW_HISTORY || v == LSC_VIEW_OUTPUT ? 20 : 26;
            w[i] = need[i] < fm ? need[i] : fm;
            flex_min += w[i] + 1;
        } else {
            w[i] = ci->right || need[i] > ci->width ? ci->width : need[i]; /* numbers keep their width */
        }
    }
    int flex_full = 0; /* the flexible columns at the width of their widest cell */
    for (int i = 0; i < n; i++)
        if (lsc_tui_col_info(cols[i])->width == 0)
            flex_full += need[i] + 1;
    for (int prio = 0; prio <= 16; prio++)
        for (int i = 0; i < n; i++) {
            const lsc_tui_colinfo *ci = lsc_tui_col_info(cols[i]);
            if (col_priority(st, cols[i]) != prio || ci->width == 0)
                continue;
            int flex_room = prio > 12 && flex_full > flex_min ? flex_full : flex_min; /* "-" never cuts a name */
            if (prio == 0 || used + w[i] + 1 + flex_room <= avail) {
                chosen[i] = 1;
                used += w[i] + 1;
            }
        }
    int flex = -1;
    for (int i = 0; i < n; i++)
        if (lsc_tui_col_info(cols[i])->width == 0) {
            chosen[i] = 1;
            flex = flex < 0 ? i : flex;
        }
    int spare = avail - used - flex_min;
    for (int wanting = 1; spare > 0 && wanting;) { /* one column each in turn to the cut ones */
        wanting = 0;
        for (int i = 0; i < n && spare > 0; i++)
            if (chosen[i] && w[i] < need[i]) {
                w[i]++;
                spare--;
                wanting = 1;
            }
    }
    if (flex >= 0 && spare > 0)
        w[flex] += spare;
    int x = 2;
    st->lay.n_colpos = 0;
    for (int i = 0; i < n; i++) {
        if (!chosen[i] || w[i] < 1)
            continue;
        lsc_tui_colpos *cp = &st->lay.colpos[st->lay.n_colpos++];
        cp->col = cols[i];
        cp->x = x;
        cp->width = w[i];
        x += w[i] + 1;
    }
}

void lsc_tui_layout_update(lsc_tui_state *st)
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
    const lsc_tui_view_ops *o = lsc_tui_view_ops_of(v);
    if (o->layout)
        o->layout(st, &table_w);
    if (L->body_h < 1)
        L->body_h = v == LSC_VIEW_SPECTRUM ? 0 : 1;
    L->n_colpos = 0;
    L->table_w = table_w;
    if (lsc_tui_state_list(st, v))
        layout_columns(st, v, table_w);
}

/* ---- list maintenance ------------------------------------------------------------------------------ */

const char *lsc_tui_row_name(const lsc_tui_state *st, lsc_tui_view v, size_t i)
{
    switch (v) {
    case LSC_VIEW_CATALOG: return st->catalog.rows[i].name;
    case LSC_VIEW_LAYERS: return st->layers.rows[i].name;
    case LSC_VIEW_DIFF: return st->diff.cmp.rows[i].name;
    case LSC_VIEW_HISTORY: return st->history.rows[i].command;
    case LSC_VIEW_OUTPUT: return st->output.lines[i];
    case LSC_VIEW_PRUNE: return st->prune.transient.rows[i].name;
    case LSC_VIEW_MERGE: return st->merge.transient.rows[i].name;
    case LSC_VIEW_TASKS: return st->tasks.rows[i].adapter;
    case LSC_VIEW_SERIES: return st->series.transient.data.layers[i].name;
    case LSC_VIEW_AUDIT: return st->audit.rows[i].name;
    default: return "";
    }
}

/* Views whose rows are layers, named by their stored key. */
static int layer_rows(lsc_tui_view v)
{
    return v == LSC_VIEW_LAYERS || v == LSC_VIEW_DIFF || v == LSC_VIEW_PRUNE || v == LSC_VIEW_MERGE ||
           v == LSC_VIEW_SERIES;
}

int lsc_tui_row_match(const lsc_tui_state *st, lsc_tui_view v, size_t i, const char *pat)
{
    if (v == LSC_VIEW_HISTORY) {
        char args[LSC_TUI_TEXT_MAX];
        lsc_tui_args_text(st->history.rows[i].args, args, sizeof args);
        return lsc_tui_match(pat, st->history.rows[i].command) || lsc_tui_match(pat, args);
    }
    const char *name = lsc_tui_row_name(st, v, i);
    /* layer rows: the displayed name or the stored key, as the commands' --layers GLOB */
    return lsc_tui_match(pat, name) || (layer_rows(v) && lsc_tui_match(pat, lsc_layername_display(name)));
}

/* Numeric sort key; *is_str set when the column sorts as text (then *s is the text). */
double lsc_tui_sort_key(const lsc_tui_state *st, lsc_tui_view v, size_t i, lsc_tui_col c, const char **s)
{
    *s = NULL;
    if (v == LSC_VIEW_CATALOG) {
        const lsc_tui_adapter *a = &st->catalog.rows[i];
        switch (c) {
        case LSC_COL_NAME: *s = a->name; return 0;
        case LSC_COL_KIND: *s = a->kind; return 0;
        case LSC_COL_FORMAT: *s = a->format; return 0;
        case LSC_COL_DTYPE: *s = a->dtype; return 0;
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
        const lsc_tui_layer *l = &st->layers.rows[i];
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
        case LSC_COL_BASE_NORM:
        case LSC_COL_REL_NORM:
        case LSC_COL_AMP:
        case LSC_COL_SUBSIM:
        case LSC_COL_INTRUDERS: {
            const lsc_tui_basefig_row *f = lsc_tui_vsbase_fig(st, i);
            if (!f || (lsc_tui_vsbase_norms_only(st) && c != LSC_COL_BASE_NORM && c != LSC_COL_REL_NORM))
                return -INFINITY; /* unknown figures sort as the smallest */
            return c == LSC_COL_BASE_NORM ? f->base_norm : c == LSC_COL_REL_NORM ? f->rel_norm
                   : c == LSC_COL_AMP     ? f->amplification
                   : c == LSC_COL_SUBSIM  ? f->subspace_sim
                                          : f->intruders;
        }
        default: return 0;
        }
    }
    if (v == LSC_VIEW_DIFF) {
        const lsc_tui_diff_row *r = &st->diff.cmp.rows[i];
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
    if (v == LSC_VIEW_SERIES) {
        const lsc_tui_series *sr = &st->series.transient.data;
        if (c == LSC_COL_NAME) {
            *s = sr->layers[i].name;
            return 0;
        }
        int f = lsc_tui_series_col_fig(c);
        if (f < 0)
            return 0;
        double x = sr->fig[f][i * sr->n_steps + st->series.step];
        return isnan(x) ? -INFINITY : x; /* missing figures sort as the smallest */
    }
    if (v == LSC_VIEW_TASKS) {
        const lsc_tui_task *t = &st->tasks.rows[i];
        switch (c) {
        case LSC_COL_TASK: *s = t->task; return 0;
        case LSC_COL_ADAPTER: *s = t->adapter; return 0;
        case LSC_COL_LAYERS: return (double)t->layers;
        case LSC_COL_PARAMS: return (double)t->params;
        default: return 0;
        }
    }
    if (v == LSC_VIEW_AUDIT) {
        const lsc_tui_audit_row *a = &st->audit.rows[i];
        switch (c) {
        case LSC_COL_NAME: *s = a->name; return 0;
        case LSC_COL_LAYERS: return (double)a->layers;
        case LSC_COL_WASTE: return a->waste;
        case LSC_COL_SAVES: return (double)a->saves;
        case LSC_COL_NAN: return a->nonfinite;
        case LSC_COL_DEAD: return a->dead;
        case LSC_COL_NOTES: *s = a->notes; return 0;
        default: return 0;
        }
    }
    if (v == LSC_VIEW_HISTORY) {
        const lsc_tui_history *h = &st->history.rows[i];
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

int lsc_tui_module_rank(const lsc_tui_state *st, const char *m)
{
    for (int i = 0; i < st->grid.n_mods; i++)
        if (strcmp(st->grid.mods[i], m) == 0)
            return i;
    return st->grid.n_mods;
}

static int cmp_rows(const void *x, const void *y, void *arg)
{
    const sort_ctx *c = arg;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    int r = 0;
    if (c->group) {
        int ma = lsc_tui_module_rank(c->st, c->st->layers.rows[a].module_type), mb = lsc_tui_module_rank(c->st, c->st->layers.rows[b].module_type);
        if (ma != mb)
            return ma < mb ? -1 : 1;
    }
    if (c->col != LSC_COL_COUNT) {
        const char *sa, *sb;
        double ka = lsc_tui_sort_key(c->st, c->v, a, c->col, &sa), kb = lsc_tui_sort_key(c->st, c->v, b, c->col, &sb);
        if (sa && sb)
            r = c->col == LSC_COL_NAME || c->col == LSC_COL_TASK || c->col == LSC_COL_ADAPTER
                    ? lsc_layername_cmp(sa, sb) /* names in natural order: layers.2 before layers.10 */
                    : strcmp(sa, sb);
        else
            r = ka < kb ? -1 : ka > kb ? 1 : 0;
        if (c->desc)
            r = -r;
    }
    if (r == 0)
        r = a < b ? -1 : a > b ? 1 : 0; /* stable: data order breaks ties */
    return r;
}

size_t lsc_tui_list_count(const lsc_tui_state *st, lsc_tui_view v)
{
    switch (v) {
    case LSC_VIEW_CATALOG: return st->catalog.n;
    case LSC_VIEW_LAYERS: return st->layers.n;
    case LSC_VIEW_DIFF: return st->diff.cmp.n_rows;
    case LSC_VIEW_HISTORY: return st->history.n;
    case LSC_VIEW_OUTPUT: return st->output.n;
    case LSC_VIEW_PRUNE: return st->prune.transient.n_rows;
    case LSC_VIEW_MERGE: return st->merge.transient.n_rows;
    case LSC_VIEW_TASKS: return st->tasks.n;
    case LSC_VIEW_SERIES: return st->series.transient.data.n_layers;
    case LSC_VIEW_AUDIT: return st->audit.n;
    default: return 0;
    }
}

void lsc_tui_list_clamp(lsc_tui_list *l, int h)
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
void lsc_tui_list_reset(lsc_tui_state *st, lsc_tui_view v)
{
    lsc_tui_list *l = &st->lists[v];
    l->cursor = l->top = 0;
    l->filter[0] = '\0';
    l->n_data = (size_t)-1; /* force fresh tags */
}

int lsc_tui_list_rebuild(lsc_tui_state *st, lsc_tui_view v)
{
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (!l)
        return 0;
    size_t nd = lsc_tui_list_count(st, v);
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
        if (!l->filter[0] || lsc_tui_row_match(st, v, i, l->filter))
            l->order[l->n++] = i;
    lsc_tui_col cols[LSC_TUI_MAX_COLS];
    int nc = lsc_tui_view_columns(st, v, cols, LSC_TUI_MAX_COLS);
    sort_ctx c = {st, v, LSC_COL_COUNT, l->desc, v == LSC_VIEW_LAYERS && st->layers.group};
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
    lsc_tui_list_clamp(l, st->lay.body_h);
    if (v == lsc_tui_state_view(st)) /* the columns share the width by what the rows now hold */
        layout_columns(st, v, st->lay.table_w);
    return 0;
}

unsigned lsc_tui_list_move(lsc_tui_state *st, lsc_tui_list *l, long delta)
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
    lsc_tui_list_clamp(l, st->lay.body_h);
    return (old != l->cursor || oldtop != l->top) ? LSC_TUI_CH_REDRAW : 0;
}

unsigned lsc_tui_list_search(lsc_tui_state *st, int dir)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (!l || !st->prompt.search[0]) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "no search: press / first");
        return LSC_TUI_CH_REDRAW;
    }
    for (size_t k = 1; k <= l->n; k++) {
        size_t i = (l->cursor + (dir > 0 ? k : l->n * 2 - k)) % l->n;
        if (lsc_tui_row_match(st, v, l->order[i], st->prompt.search)) {
            int wrapped = dir > 0 ? i <= l->cursor : i >= l->cursor;
            l->cursor = i;
            lsc_tui_list_clamp(l, st->lay.body_h);
            moved(st);
            if (wrapped)
                lsc_tui_state_msg(st, LSC_MSG_INFO, "search wrapped: '%s'", st->prompt.search);
            else
                lsc_tui_state_msg(st, LSC_MSG_INFO, "/%s", st->prompt.search);
            return LSC_TUI_CH_REDRAW;
        }
    }
    lsc_tui_state_msg(st, LSC_MSG_WARN, "no match for '%s'", st->prompt.search);
    return LSC_TUI_CH_REDRAW;
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
    l->desc = s >= 0 && lsc_tui_list_count(st, v) ? (lsc_tui_sort_key(st, v, 0, cols[s], &str), str == NULL) : 0;
    lsc_tui_list_rebuild(st, v);
    if (s < 0)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "sorted in stored order");
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "sorted by %s, %s", lsc_tui_col_info(cols[s])->title,
                          l->desc ? "descending" : "ascending");
    return LSC_TUI_CH_REDRAW;
}

unsigned lsc_tui_list_tag(lsc_tui_state *st)
{
    lsc_tui_list *l = lsc_tui_state_list(st, lsc_tui_state_view(st));
    if (!l || !l->n)
        return 0;
    size_t i = l->order[l->cursor];
    l->tagged[i] = !l->tagged[i];
    l->n_tagged = l->tagged[i] ? l->n_tagged + 1 : l->n_tagged - 1;
    lsc_tui_list_move(st, l, 1);
    return LSC_TUI_CH_REDRAW;
}

unsigned lsc_tui_list_tag_clear(lsc_tui_state *st)
{
    lsc_tui_list *l = lsc_tui_state_list(st, lsc_tui_state_view(st));
    if (!l || !l->tagged)
        return 0;
    size_t was = l->n_tagged;
    memset(l->tagged, 0, l->n_data);
    l->n_tagged = 0;
    lsc_tui_state_msg(st, LSC_MSG_INFO, was ? "%zu tags cleared" : "no tags to clear", was);
    return LSC_TUI_CH_REDRAW;
}

char (*lsc_tui_list_tags_save(const lsc_tui_state *st, lsc_tui_view v, size_t *n))[LSC_TUI_NAME_MAX]
{
    const lsc_tui_list *l = &st->lists[v];
    *n = 0;
    if (!l->tagged || !l->n_tagged || l->n_data != lsc_tui_list_count(st, v))
        return NULL;
    char(*names)[LSC_TUI_NAME_MAX] = malloc(l->n_tagged * sizeof *names);
    if (!names)
        return NULL;
    for (size_t i = 0; i < l->n_data && *n < l->n_tagged; i++)
        if (l->tagged[i])
            lsc_tui_copy(names[(*n)++], LSC_TUI_NAME_MAX, lsc_tui_row_name(st, v, i));
    return names;
}

void lsc_tui_list_tags_restore(lsc_tui_state *st, lsc_tui_view v, char (*names)[LSC_TUI_NAME_MAX], size_t n)
{
    lsc_tui_list *l = &st->lists[v];
    if (names && l->tagged && l->n_data == lsc_tui_list_count(st, v)) {
        memset(l->tagged, 0, l->n_data); /* by name: the rows may have moved */
        l->n_tagged = 0;
        for (size_t i = 0; i < l->n_data; i++)
            for (size_t k = 0; k < n && !l->tagged[i]; k++)
                if (strcmp(lsc_tui_row_name(st, v, i), names[k]) == 0) {
                    l->tagged[i] = 1;
                    l->n_tagged++;
                }
    }
    free(names);
}

unsigned lsc_tui_list_filter_done(lsc_tui_state *st, const char *text)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (!l)
        return LSC_TUI_CH_REDRAW;
    lsc_tui_copy(l->filter, sizeof l->filter, text);
    lsc_tui_list_rebuild(st, v);
    const lsc_tui_view_ops *o = lsc_tui_view_ops_of(v);
    if (o->enter) /* the rows changed under the cursor: reload what follows it */
        o->enter(st);
    if (l->filter[0])
        lsc_tui_state_msg(st, l->n ? LSC_MSG_INFO : LSC_MSG_WARN, "filter '%s': %zu of %zu rows", l->filter, l->n,
                          l->n_data);
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "filter cleared");
    return LSC_TUI_CH_REDRAW;
}

/* Move by d rows; paging scrolls the page with the cursor. */
static unsigned list_step(lsc_tui_state *st, lsc_tui_list *l, lsc_tui_req req)
{
    long page = st->lay.body_h > 1 ? st->lay.body_h - 1 : 1, big = 1L << 40;
    long d = req == LSC_REQ_DOWN ? 1 : req == LSC_REQ_UP ? -1 : req == LSC_REQ_PAGE_DOWN ? page
             : req == LSC_REQ_PAGE_UP ? -page : req == LSC_REQ_TOP ? -big : big;
    unsigned ch;
    if (req == LSC_REQ_PAGE_DOWN || req == LSC_REQ_PAGE_UP) {
        size_t oldc = l->cursor, oldt = l->top;
        long t = (long)l->top + d, maxt = (long)l->n - st->lay.body_h;
        if (maxt < 0)
            maxt = 0;
        l->top = (size_t)(t < 0 ? 0 : t > maxt ? maxt : t);
        lsc_tui_list_move(st, l, d);
        ch = (oldc != l->cursor || oldt != l->top) ? LSC_TUI_CH_REDRAW : 0;
    } else {
        ch = lsc_tui_list_move(st, l, d);
    }
    if (ch)
        moved(st);
    return ch;
}

/* `/` or `f` opens: remember the list as it is, for Esc. */
static void incremental_start(lsc_tui_state *st, const lsc_tui_list *l)
{
    st->prompt.inc_cursor = l->n ? l->order[l->cursor] : 0;
    st->prompt.inc_top = l->top;
    lsc_tui_copy(st->prompt.inc_filter, sizeof st->prompt.inc_filter, l->filter);
}

/* The visible row of data row `di` (0 when filtered out). */
static size_t visible_row(const lsc_tui_list *l, size_t di)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->order[i] == di)
            return i;
    return 0;
}

unsigned lsc_tui_list_incremental(lsc_tui_state *st, lsc_tui_input mode, const char *text)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (!l || (mode != LSC_INPUT_SEARCH && mode != LSC_INPUT_FILTER))
        return 0;
    if (mode == LSC_INPUT_FILTER) {
        lsc_tui_copy(l->filter, sizeof l->filter, text);
        lsc_tui_list_rebuild(st, v); /* keeps the cursor on its row while the row stays visible */
        moved(st);
        return LSC_TUI_CH_REDRAW;
    }
    size_t origin = visible_row(l, st->prompt.inc_cursor);
    l->cursor = origin;
    l->top = st->prompt.inc_top;
    for (size_t k = 1; text[0] && k <= l->n; k++) {
        size_t i = (origin + k) % l->n;
        if (lsc_tui_row_match(st, v, l->order[i], text)) {
            l->cursor = i;
            break;
        }
    }
    lsc_tui_list_clamp(l, st->lay.body_h);
    moved(st);
    return LSC_TUI_CH_REDRAW;
}

void lsc_tui_list_incremental_undo(lsc_tui_state *st, lsc_tui_input mode)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (!l || (mode != LSC_INPUT_SEARCH && mode != LSC_INPUT_FILTER))
        return;
    if (mode == LSC_INPUT_FILTER && strcmp(l->filter, st->prompt.inc_filter) != 0) {
        lsc_tui_copy(l->filter, sizeof l->filter, st->prompt.inc_filter);
        lsc_tui_list_rebuild(st, v);
    }
    l->cursor = visible_row(l, st->prompt.inc_cursor);
    l->top = st->prompt.inc_top;
    lsc_tui_list_clamp(l, st->lay.body_h);
    moved(st);
}

unsigned lsc_tui_list_request(lsc_tui_state *st, lsc_tui_req req)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (!l)
        return 0;
    switch (req) {
    case LSC_REQ_DOWN:
    case LSC_REQ_UP:
    case LSC_REQ_PAGE_DOWN:
    case LSC_REQ_PAGE_UP:
    case LSC_REQ_TOP:
    case LSC_REQ_BOTTOM: return list_step(st, l, req);
    case LSC_REQ_SORT_NEXT: return sort_step(st, 1);
    case LSC_REQ_SORT_PREV: return sort_step(st, -1);
    case LSC_REQ_SORT_REVERSE:
        if (l->sort < 0)
            return 0;
        l->desc = !l->desc;
        lsc_tui_list_rebuild(st, v);
        moved(st);
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_SEARCH:
        incremental_start(st, l);
        lsc_tui_input_open(st, LSC_INPUT_SEARCH, "");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_SEARCH_NEXT: return lsc_tui_list_search(st, 1);
    case LSC_REQ_SEARCH_PREV: return lsc_tui_list_search(st, -1);
    case LSC_REQ_FILTER:
        incremental_start(st, l);
        lsc_tui_input_open(st, LSC_INPUT_FILTER, l->filter);
        return LSC_TUI_CH_REDRAW;
    default: return 0;
    }
}

unsigned lsc_tui_state_click(lsc_tui_state *st, int y, int x, int button)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    if (st->lay.too_small || st->job || st->confirm.open)
        return 0;
    if (st->help.open)
        return lsc_tui_state_request(st, LSC_REQ_HELP);
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
        lsc_tui_bar_item it[32];
        int n = lsc_tui_bar(v, LSC_BAR_VIEW, st->lay.cols, 0, it, 32);
        for (int i = 0; i < n; i++)
            if (x >= it[i].x && x < it[i].x + it[i].width)
                return lsc_tui_state_request(st, it[i].req);
        return 0;
    }
    const lsc_tui_view_ops *o = lsc_tui_view_ops_of(v);
    if (o->click) {
        unsigned ch = o->click(st, y, x);
        if (ch != LSC_TUI_CH_PASS)
            return ch;
    }
    if (!l)
        return 0;
    /* on the table: left of a pane beside it, above a pane below it */
    int in_table = st->lay.pane_x == 0 || x < st->lay.pane_x;
    if (st->lay.pane_h > 0 && st->lay.pane_x == 0 && st->lay.pane_y > st->lay.header_y && y >= st->lay.pane_y)
        in_table = 0;
    if (y == st->lay.header_y && in_table && !o->panel) {
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
                        l->desc = lsc_tui_list_count(st, v) ? (lsc_tui_sort_key(st, v, 0, cp->col, &s), s == NULL) : 0;
                    }
                    lsc_tui_list_rebuild(st, v);
                    moved(st);
                    lsc_tui_state_msg(st, LSC_MSG_INFO, "sorted by %s, %s", lsc_tui_col_info(cp->col)->title,
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
        if (row == l->cursor && !o->panel) /* panels apply on Enter only */
            return lsc_tui_state_request(st, LSC_REQ_ENTER);
        l->cursor = row;
        moved(st);
        return LSC_TUI_CH_REDRAW;
    }
    return 0;
}

unsigned lsc_tui_form_request(lsc_tui_state *st, lsc_tui_req req, const lsc_tui_form *f)
{
    switch (req) {
    case LSC_REQ_DOWN:
    case LSC_REQ_UP: {
        int i = *f->field + (req == LSC_REQ_DOWN ? 1 : -1);
        *f->field = i < 0 ? f->count - 1 : i >= f->count ? 0 : i;
        return LSC_TUI_CH_REDRAW;
    }
    case LSC_REQ_DEC: return f->step(st, -1, 0);
    case LSC_REQ_INC: return f->step(st, 1, 0);
    case LSC_REQ_DEC_BIG: return f->step(st, -1, 1);
    case LSC_REQ_INC_BIG: return f->step(st, 1, 1);
    case LSC_REQ_EDIT: return f->edit(st);
    case LSC_REQ_APPLY: return f->apply(st);
    default: return LSC_TUI_CH_PASS;
    }
}
