/* view_diff.c: the comparison of two adapters: shared layers with their figures, the spectra of the row
 * under the cursor overlaid in a pane (or, after Tab, the layers only in one of them). Closing the view
 * drops its spectra, so no old chart shows under a later diff. Never includes curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

/* Forget the spectra of the pane (the chart is drawn from st->diff.transient.sv_a and st->diff.transient.sv_b). */
static void drop_spectra(lsc_tui_state *st)
{
    free(st->diff.transient.sv_a);
    free(st->diff.transient.sv_b);
    st->diff.transient.sv_a = st->diff.transient.sv_b = NULL;
    st->diff.transient.n_sv_a = st->diff.transient.n_sv_b = 0;
    st->diff.transient.row = -1;
}

/* Drop everything the view shows only while open (the pane's mode and focus, its spectra), in one place. */
static void diff_transient_reset(lsc_tui_state *st)
{
    free(st->diff.transient.sv_a);
    free(st->diff.transient.sv_b);
    st->diff.transient = (struct lsc_tui_diff_transient){.row = -1};
}

/* Spectra of the diff row under the cursor, on both sides. */
void lsc_tui_diff_load_sv(lsc_tui_state *st)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_DIFF];
    if (!l->n) { /* no row, no spectra: never the chart of a row no longer shown */
        drop_spectra(st);
        return;
    }
    size_t row = l->order[l->cursor];
    if ((long)row == st->diff.transient.row)
        return;
    st->diff.transient.row = (long)row;
    const char *name = st->diff.cmp.rows[row].name;
    if (lsc_tui_load_sv(st, st->diff.a, name, &st->diff.transient.sv_a, &st->diff.transient.n_sv_a) == 0)
        lsc_tui_load_sv(st, st->diff.b, name, &st->diff.transient.sv_b, &st->diff.transient.n_sv_b);
}

unsigned lsc_tui_diff_open(lsc_tui_state *st)
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
    const char *a = st->catalog.rows[pick[0]].name, *b = st->catalog.rows[pick[1]].name;
    lsc_tui_diff d = {0};
    lsc_error err = {0};
    lsc_tui_busy(st, "comparing '%s' with '%s'", a, b);
    if (st->model->diff(st->model->ctx, a, b, &d, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_diff_release(&st->diff.cmp);
    st->diff.cmp = d;
    lsc_tui_copy(st->diff.a, sizeof st->diff.a, a);
    lsc_tui_copy(st->diff.b, sizeof st->diff.b, b);
    diff_transient_reset(st);
    lsc_tui_list *dl = &st->lists[LSC_VIEW_DIFF];
    dl->n_data = (size_t)-1;
    dl->cursor = dl->top = 0;
    lsc_tui_view_push(st, LSC_VIEW_DIFF); /* clears the status line: the messages come after */
    if (l->n_tagged > 2)
        lsc_tui_state_msg(st, LSC_MSG_WARN, "%zu adapters tagged: comparing the first two", l->n_tagged);
    lsc_tui_list_rebuild(st, LSC_VIEW_DIFF);
    lsc_tui_diff_load_sv(st);
    if (l->n_tagged <= 2)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "%zu shared layers, %zu only in '%s', %zu only in '%s'", d.n_rows,
                          d.n_only_a, a, d.n_only_b, b);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

/* Back on top, or the rows changed under the cursor: reload the spectra of the row now under it. */
static void diff_enter(lsc_tui_state *st)
{
    st->diff.transient.row = -1;
    lsc_tui_diff_load_sv(st);
}

static void diff_leave(lsc_tui_state *st, int closing)
{
    if (closing)
        diff_transient_reset(st);
}

static unsigned diff_enter_row(lsc_tui_state *st)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_DIFF];
    if (!l->n)
        return 0;
    char name[LSC_TUI_NAME_MAX];
    lsc_tui_copy(name, sizeof name, st->diff.cmp.rows[l->order[l->cursor]].name);
    if (strcmp(st->layers.adapter, st->diff.a) != 0 && lsc_tui_load_layers(st, st->diff.a) != 0)
        return LSC_TUI_CH_REDRAW;
    for (size_t i = 0; i < st->layers.n; i++)
        if (strcmp(st->layers.rows[i].name, name) == 0) {
            lsc_tui_view_push(st, LSC_VIEW_SPECTRUM); /* first: a failed load's message must stay */
            lsc_tui_spectrum_load(st, i);
            break;
        }
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned diff_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_LEFT:
    case LSC_REQ_RIGHT: st->diff.transient.focus = req == LSC_REQ_RIGHT; return LSC_TUI_CH_REDRAW;
    case LSC_REQ_TAB: st->diff.transient.pane = !st->diff.transient.pane; return LSC_TUI_CH_REDRAW;
    case LSC_REQ_ENTER: return diff_enter_row(st);
    case LSC_REQ_REFRESH: return 0;
    default: return LSC_TUI_CH_PASS;
    }
}

/* The table, and the pane beside it (wide) or below it. */
/* Row 1 is the whole-adapter summary; the table and its pane are below it. */
static void diff_layout(lsc_tui_state *st, int *table_w)
{
    lsc_tui_layout *L = &st->lay;
    L->header_y = 2;
    L->body_y = 3;
    L->body_h = L->lines - 5;
    L->pane_y = 2;
    if (L->cols >= 120) {
        L->pane_w = L->cols * 2 / 5;
        L->pane_x = L->cols - L->pane_w;
        L->pane_h = L->lines - 4;
        *table_w = L->pane_x - 1;
    } else {
        int rows = L->lines - 4;
        L->pane_h = rows / 2;
        L->pane_w = L->cols;
        L->pane_y = 2 + rows - L->pane_h;
        L->body_h = rows - L->pane_h - 1;
    }
}

static const lsc_tui_binding k_keys[] = {
    LSC_KEYS_MOVE,
    {LSC_REQ_LEFT, {'h', LSC_KEY_LEFT}, "focus the table", NULL, 0},
    {LSC_REQ_RIGHT, {'l', LSC_KEY_RIGHT}, "focus the pane", "focus", 3},
    LSC_KEYS_PAGE,
    {LSC_REQ_ENTER, {LSC_KEY_ENTER, '\r'}, "the layer's spectrum in the first adapter", "spectrum", 1},
    LSC_KEYS_SORT_SEARCH,
    LSC_KEYS_FILTER,
    {LSC_REQ_TAB, {LSC_KEY_TAB}, "next pane: spectra chart / only-in lists", "pane", 2},
    LSC_KEYS_UNDO,
};

const lsc_tui_view_ops lsc_tui_view_diff = {
    .view = LSC_VIEW_DIFF,
    .draw = lsc_tui_draw_diff,
    .enter = diff_enter,
    .leave = diff_leave,
    .request = diff_request,
    .layout = diff_layout,
    .moved = lsc_tui_diff_load_sv,
    .keys = LSC_TUI_KEYS(k_keys),
};
