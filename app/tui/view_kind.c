/* view_kind.c: the kind panel (K): the figures particular to an adapter's kind (dynamic curves, sparse
 * histograms, layer-wise grids, multi-task cosines, LoHa/LoKr part spectra, the rank histogram of a static
 * adapter), a row cursor
 * and one toggle. Never includes curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "view.h"

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
    lsc_kind kind = lsc_kind_parse(k->kind);
    if (kind == LSC_KIND_DYNAMIC || kind == LSC_KIND_SPARSE || kind == LSC_KIND_LOHA || kind == LSC_KIND_LOKR) {
        int dyn = kind != LSC_KIND_SPARSE; /* a chart pane (dynamic curves, LyCORIS spectra) */
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
    } else if (kind == LSC_KIND_MULTITASK) {
        L->pane_y = 3;
        L->pane_x = 0;
        L->pane_w = L->cols;
        L->pane_h = k->n_tasks + 2;
        L->header_y = 3 + L->pane_h;
        L->body_y = L->header_y + 1;
        L->body_h = rows - L->pane_h - 1;
    } else if (kind != LSC_KIND_ADAPTIVE && kind != LSC_KIND_LAYERWISE) {
        L->body_h = 0; /* static: a note and the rank histogram */
    }
}

/* ---- the kind panel ----------------------------------------------------------------------------------- */

size_t lsc_tui_kind_rows(const lsc_tui_state *st, int *overall)
{
    const lsc_tui_kind_figures *k = &st->kind.kf;
    lsc_kind kind = lsc_kind_parse(k->kind);
    int o = kind == LSC_KIND_DYNAMIC || kind == LSC_KIND_MULTITASK;
    if (overall)
        *overall = o;
    if (!st->kind.ok)
        return 0;
    if (kind == LSC_KIND_LAYERWISE)
        return (size_t)k->n_blocks;
    if (kind == LSC_KIND_STATIC)
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

/* The whole panel is transient: drop the figures and reset every field, in one place (before a load and
 * when the panel closes). */
static void kind_reset(lsc_tui_state *st)
{
    lsc_tui_kind_release(&st->kind.kf);
    st->kind = (lsc_tui_kind_panel){.widest_layer = (size_t)-1};
}

static void kind_leave(lsc_tui_state *st, int closing)
{
    if (closing)
        kind_reset(st);
}

unsigned lsc_tui_kind_open(lsc_tui_state *st)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    const char *name = v == LSC_VIEW_TASKS ? st->tasks.group : st->layers.adapter;
    if (!name[0])
        return 0;
    lsc_tui_kind_panel *K = &st->kind;
    kind_reset(st);
    lsc_tui_copy(K->adapter, sizeof K->adapter, name);
    lsc_error err = {0};
    lsc_tui_busy(st, "computing the kind figures of '%s'", name);
    double t0 = now_seconds();
    lsc_status s = st->model->kind_figures ? st->model->kind_figures(st->model->ctx, name, &K->kf, &err)
                                           : lsc_error_set(&err, LSC_ERR_UNSUPPORTED, "this catalog has no kind figures");
    K->load_seconds = now_seconds() - t0;
    K->ok = s == LSC_OK;
    lsc_tui_copy(K->error, sizeof K->error, K->ok ? "" : err.msg);
    if (K->ok) {
        lsc_tui_kind_widest_gap(&K->kf, &K->widest_layer, &K->widest_b, &K->widest_gap);
        if (v != LSC_VIEW_TASKS) /* the rank histogram, from the layer table */
            for (size_t i = 0; i < st->layers.n; i++) {
                int r = st->layers.rows[i].rank, j = 0;
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
    lsc_tui_view_push(st, LSC_VIEW_KIND);
    lsc_tui_layout_update(st);
    if (!K->ok) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", K->error);
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
    }
    lsc_kind kind = lsc_kind_parse(K->kf.kind);
    char kt[16];
    lsc_tui_key_for(LSC_VIEW_KIND, LSC_REQ_TOGGLE, kt, sizeof kt);
    if (kind == LSC_KIND_DYNAMIC)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "j/k a layer's curve (first row: the mean), %s log/linear, Esc back", kt);
    else if (kind == LSC_KIND_LAYERWISE)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "%s rank / energy share, Esc back", kt);
    else if (kind == LSC_KIND_LOHA || kind == LSC_KIND_LOKR)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "j/k a layer's spectra, %s log/linear, Esc back", kt);
    else if (kind == LSC_KIND_MULTITASK)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "j/k a layer's cosines (first row: over all layers), Esc back");
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "%s", lsc_tui_kind_rows(st, NULL) ? "j/k move, Esc back" : "Esc back");
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE | LSC_TUI_CH_RELOAD;
}

static unsigned kind_toggle(lsc_tui_state *st)
{
    if (!st->kind.ok)
        return 0;
    lsc_kind kind = lsc_kind_parse(st->kind.kf.kind);
    int chart = kind == LSC_KIND_DYNAMIC || kind == LSC_KIND_LOHA || kind == LSC_KIND_LOKR;
    if (!chart && kind != LSC_KIND_LAYERWISE)
        return 0;
    st->kind.alt = !st->kind.alt;
    lsc_tui_state_msg(st, LSC_MSG_INFO, "%s", chart ? (st->kind.alt ? "linear y axis" : "log y axis")
                                              : (st->kind.alt ? "heat by share of the energy" : "heat by rank"));
    return LSC_TUI_CH_REDRAW;
}

static unsigned kind_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_DOWN: return kind_move(st, 1);
    case LSC_REQ_UP: return kind_move(st, -1);
    case LSC_REQ_PAGE_DOWN:
    case LSC_REQ_PAGE_UP: {
        long page = st->lay.body_h > 1 ? st->lay.body_h - 1 : 1;
        return kind_move(st, req == LSC_REQ_PAGE_DOWN ? page : -page);
    }
    case LSC_REQ_TOP: return kind_move(st, -1000000);
    case LSC_REQ_BOTTOM: return kind_move(st, 1000000);
    case LSC_REQ_TOGGLE: return kind_toggle(st);
    default: return 0;
    }
}

static void kind_layout(lsc_tui_state *st, int *table_w)
{
    (void)table_w;
    layout_kind(st);
}

static const lsc_tui_binding k_keys[] = {
    {LSC_REQ_DOWN, {'j', LSC_KEY_DOWN}, "next row (a layer, a block)", "next", 2},
    {LSC_REQ_UP, {'k', LSC_KEY_UP}, "previous row", NULL, 0},
    LSC_KEYS_PAGE,
    {LSC_REQ_TOGGLE, {'o'}, "toggle: log/linear y, rank/energy share", "toggle", 1},
    LSC_KEYS_UNDO,
};

const lsc_tui_view_ops lsc_tui_view_kind = {
    .view = LSC_VIEW_KIND,
    .draw = lsc_tui_draw_kind,
    .leave = kind_leave,
    .request = kind_request,
    .layout = kind_layout,
    .keys = LSC_TUI_KEYS(k_keys),
};
