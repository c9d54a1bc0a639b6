/* view_spectrum.c: the singular values of one layer as a chart; j/k step through the layers in the
 * table's order. The chart is drawn by render_spectrum.c from st->spectrum.transient.sv. Never includes curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

int lsc_tui_load_sv(lsc_tui_state *st, const char *adapter, const char *layer, double **sv, size_t *n)
{
    lsc_error err = {0};
    free(*sv);
    *sv = NULL;
    *n = 0;
    lsc_tui_busy(st, "computing the spectrum of '%s'", lsc_tui_short_name(st, layer));
    if (st->model->layer_sv(st->model->ctx, adapter, layer, sv, n, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return -1;
    }
    return 0;
}

int lsc_tui_spectrum_load(lsc_tui_state *st, size_t li)
{
    st->spectrum.layer = li;
    return lsc_tui_load_sv(st, st->layers.adapter, st->layers.rows[li].name, &st->spectrum.transient.sv, &st->spectrum.transient.n_sv);
}

/* Closing: drop the chart, in one place (the layer it was of stays for the breadcrumb of a reopen). */
static void spectrum_leave(lsc_tui_state *st, int closing)
{
    if (!closing)
        return;
    free(st->spectrum.transient.sv);
    st->spectrum.transient = (struct lsc_tui_spectrum_transient){0};
}

/* Spectrum view: step to the neighbouring layer in the table's visible order. */
static unsigned spectrum_step(lsc_tui_state *st, long delta)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_LAYERS];
    if (!l->n)
        return 0;
    size_t pos = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->order[i] == st->spectrum.layer)
            pos = i;
    long p = (long)pos + delta;
    if (p < 0)
        p = 0;
    if (p >= (long)l->n)
        p = (long)l->n - 1;
    if ((size_t)p == pos && l->order[pos] == st->spectrum.layer)
        return 0;
    l->cursor = (size_t)p;
    lsc_tui_list_clamp(l, st->lay.lines - 4);
    lsc_tui_spectrum_load(st, l->order[p]);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned spectrum_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_DOWN: return spectrum_step(st, 1);
    case LSC_REQ_UP: return spectrum_step(st, -1);
    case LSC_REQ_PAGE_DOWN: return spectrum_step(st, 10);
    case LSC_REQ_PAGE_UP: return spectrum_step(st, -10);
    case LSC_REQ_TOP: return spectrum_step(st, -100000);
    case LSC_REQ_BOTTOM: return spectrum_step(st, 100000);
    case LSC_REQ_PRUNE: return lsc_tui_prune_open(st);
    case LSC_REQ_KIND: return lsc_tui_kind_open(st);
    default: return 0;
    }
}

static void spectrum_layout(lsc_tui_state *st, int *table_w)
{
    lsc_tui_layout *L = &st->lay;
    (void)table_w;
    L->body_h = 0;
    L->pane_y = 1;
    L->pane_h = L->lines - 3;
    L->pane_w = L->cols;
}

static const lsc_tui_binding k_keys[] = {
    {LSC_REQ_DOWN, {'j', LSC_KEY_DOWN}, "next layer (in the table's order)", "next", 1},
    {LSC_REQ_UP, {'k', LSC_KEY_UP}, "previous layer", "prev", 2},
    {LSC_REQ_PAGE_DOWN, {LSC_KEY_PGDN, LSC_KEY_CTRL('f')}, "ten layers on", NULL, 0},
    {LSC_REQ_PAGE_UP, {LSC_KEY_PGUP, LSC_KEY_CTRL('b')}, "ten layers back", NULL, 0},
    {LSC_REQ_TOP, {'g', LSC_KEY_HOME}, "first layer", NULL, 0},
    {LSC_REQ_BOTTOM, {'G', LSC_KEY_END}, "last layer", NULL, 0},
    {LSC_REQ_PRUNE, {'p'}, "prune panel on this adapter, with this layer's chart", "prune", 3},
    {LSC_REQ_KIND, {'K'}, "kind panel: figures particular to the adapter's kind", "kind", 4},
    LSC_KEYS_UNDO,
};

const lsc_tui_view_ops lsc_tui_view_spectrum = {
    .view = LSC_VIEW_SPECTRUM,
    .draw = lsc_tui_draw_spectrum,
    .leave = spectrum_leave,
    .request = spectrum_request,
    .layout = spectrum_layout,
    .keys = LSC_TUI_KEYS(k_keys),
};
