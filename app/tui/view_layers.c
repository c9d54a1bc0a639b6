/* view_layers.c: the layer table of one adapter: its statistics per layer, grouping by module type, and
 * the doors to a layer's spectrum, the grid, the prune, kind and retrain panels. Never includes curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

/* Load the layer table of `name`; 0 on success (message set otherwise). */
int lsc_tui_load_layers(lsc_tui_state *st, const char *name)
{
    lsc_error err = {0};
    lsc_tui_layer *l = NULL;
    size_t n = 0;
    lsc_tui_busy(st, "loading the layers of '%s'", name);
    if (st->model->layers(st->model->ctx, name, &l, &n, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return -1;
    }
    int same = strcmp(st->layers.adapter, name) == 0;
    size_t n_tags = 0;
    char(*tags)[LSC_TUI_NAME_MAX] = same ? lsc_tui_list_tags_save(st, LSC_VIEW_LAYERS, &n_tags) : NULL;
    free(st->layers.rows);
    st->layers.rows = l;
    st->layers.n = n;
    if (!same)
        lsc_tui_list_reset(st, LSC_VIEW_LAYERS);
    lsc_tui_copy(st->layers.adapter, sizeof st->layers.adapter, name);
    lsc_tui_vsbase_sync(st); /* before the columns are laid out: the base columns show with a base */
    lsc_tui_grid_build(st, !same);
    lsc_tui_grid_metric_max(st);
    if (lsc_tui_list_rebuild(st, LSC_VIEW_LAYERS) != 0) {
        free(tags);
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "out of memory");
        return -1;
    }
    lsc_tui_list_tags_restore(st, LSC_VIEW_LAYERS, tags, n_tags); /* an edit of the adapter keeps the tags */
    return 0;
}

void lsc_tui_layers_forget(lsc_tui_state *st) { st->layers.adapter[0] = '\0'; }

/* Show the grid with its cursor on the layer under the table's cursor. */
static unsigned layers_to_grid(lsc_tui_state *st)
{
    lsc_tui_list *ll = &st->lists[LSC_VIEW_LAYERS];
    return lsc_tui_grid_open(st, ll->n ? &st->layers.rows[ll->order[ll->cursor]] : NULL);
}

static unsigned layers_request(lsc_tui_state *st, lsc_tui_req req)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_LAYERS];
    switch (req) {
    case LSC_REQ_ENTER:
        if (!l->n)
            return 0;
        lsc_tui_view_push(st, LSC_VIEW_SPECTRUM); /* first: a failed load's message must stay */
        lsc_tui_spectrum_load(st, l->order[l->cursor]);
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
    case LSC_REQ_TAG: return lsc_tui_list_tag(st);
    case LSC_REQ_TAG_CLEAR: return lsc_tui_list_tag_clear(st);
    case LSC_REQ_TAB:
    case LSC_REQ_GRID: return layers_to_grid(st);
    case LSC_REQ_GROUP:
        st->layers.group = !st->layers.group;
        lsc_tui_list_rebuild(st, LSC_VIEW_LAYERS);
        lsc_tui_state_msg(st, LSC_MSG_INFO, st->layers.group ? "grouped by module type" : "not grouped");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_PRUNE: return lsc_tui_prune_open(st);
    case LSC_REQ_KIND: return lsc_tui_kind_open(st);
    case LSC_REQ_RETRAIN: return lsc_tui_retrain_open(st);
    case LSC_REQ_VSBASE: return lsc_tui_vsbase_request(st);
    case LSC_REQ_REFRESH: return 0; /* the dispatcher reloaded the layers */
    default: return LSC_TUI_CH_PASS;
    }
}

/* The summary line takes the row under the title: the column header and the rows move down one. The "vs
 * base" panel, when open, takes the right part of a wide screen, else the lower part. */
static void layers_layout(lsc_tui_state *st, int *table_w)
{
    lsc_tui_layout *L = &st->lay;
    L->header_y = 2;
    L->body_y = 3;
    L->body_h = L->lines - 5;
    if (!st->vsbase.panel || !lsc_tui_vsbase_shown(st))
        return;
    L->pane_y = 2;
    if (L->cols >= 120) {
        L->pane_w = 58;
        L->pane_x = L->cols - L->pane_w;
        L->pane_h = L->lines - 4;
        *table_w = L->pane_x - 1;
    } else {
        int rows = L->lines - 4;
        L->pane_h = rows / 2 < 11 ? rows / 2 : 11;
        L->pane_w = L->cols;
        L->pane_y = 2 + rows - L->pane_h;
        L->body_h = rows - L->pane_h - 1;
    }
}

/* Closing the table closes its vs base panel (the figures stay cached for the session). */
static void layers_leave(lsc_tui_state *st, int closing)
{
    if (closing) {
        st->vsbase.panel = 0;
        st->vsbase.why[0] = '\0';
    }
}

static const lsc_tui_binding k_keys[] = {
    LSC_KEYS_MOVE,
    LSC_KEYS_PAGE,
    {LSC_REQ_ENTER, {LSC_KEY_ENTER, '\r'}, "the layer's spectrum", "spectrum", 1},
    LSC_KEYS_SORT_SEARCH,
    LSC_KEYS_FILTER,
    {LSC_REQ_GRID, {'v', LSC_KEY_F(5)}, "switch to the layers x modules grid", "grid", 2},
    {LSC_REQ_TAB, {LSC_KEY_TAB}, "switch to the grid", NULL, 0},
    {LSC_REQ_GROUP, {'o'}, "group rows by module type (o toggles a view's display)", "group", 7},
    {LSC_REQ_PRUNE, {'p'}, "prune panel: cut ranks by a rule with a live preview", "prune", 3},
    {LSC_REQ_KIND, {'K'}, "kind panel: figures particular to the adapter's kind", "kind", 4},
    {LSC_REQ_RETRAIN, {'R'}, "retrain panel: train towards a target, live loss chart", "retrain", 5},
    {LSC_REQ_VSBASE, {'b'}, "vs base: figures against the recorded base weights",
     "vs base", 14},
    LSC_KEYS_UNDO,
    {LSC_REQ_TAG, {' ', 't', LSC_KEY_F(8)}, "tag / untag the row", "tag", 6},
    {LSC_REQ_TAG_CLEAR, {'T'}, "clear all tags", NULL, 0},
};

const lsc_tui_view_ops lsc_tui_view_layers = {
    .view = LSC_VIEW_LAYERS,
    .request = layers_request,
    .leave = layers_leave,
    .layout = layers_layout,
    .draw = lsc_tui_draw_layers,
    .keys = LSC_TUI_KEYS(k_keys),
};
