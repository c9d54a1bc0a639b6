/* view_catalog.c: the catalog (the root view): the adapters, tags, and the doors to an adapter's layers or
 * tasks, a diff of two tagged adapters, the prune and merge panels. Never includes curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

unsigned lsc_tui_load_catalog(lsc_tui_state *st)
{
    lsc_error err = {0};
    lsc_tui_adapter *a = NULL;
    size_t n = 0;
    lsc_tui_busy(st, "reading the catalog");
    if (st->model->list_adapters(st->model->ctx, &a, &n, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    size_t n_tags;
    char(*tags)[LSC_TUI_NAME_MAX] = lsc_tui_list_tags_save(st, LSC_VIEW_CATALOG, &n_tags);
    free(st->catalog.rows);
    st->catalog.rows = a;
    st->catalog.n = n;
    if (lsc_tui_list_rebuild(st, LSC_VIEW_CATALOG) != 0)
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "out of memory");
    lsc_tui_list_tags_restore(st, LSC_VIEW_CATALOG, tags, n_tags); /* an edit keeps the tags */
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned catalog_enter_row(lsc_tui_state *st)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_CATALOG];
    if (!l->n)
        return 0;
    const lsc_tui_adapter *a = &st->catalog.rows[l->order[l->cursor]];
    if (lsc_tui_is_group_kind(a->kind))
        return lsc_tui_tasks_open(st, a->name);
    if (lsc_kind_parse(a->kind) == LSC_KIND_SERIES)
        return lsc_tui_series_open(st, a->name);
    if (lsc_tui_load_layers(st, a->name) != 0)
        return LSC_TUI_CH_REDRAW;
    lsc_tui_view_push(st, LSC_VIEW_LAYERS);
    lsc_tui_list_rebuild(st, LSC_VIEW_LAYERS);
    char kg[16], ko[16], ks[16]; /* the keys from the layer view's table: a hint cannot drift from them */
    lsc_tui_state_msg(st, LSC_MSG_INFO, "%zu layers - Enter spectrum, %s grid, %s group, %s search", st->layers.n,
                      lsc_tui_key_for(LSC_VIEW_LAYERS, LSC_REQ_GRID, kg, sizeof kg),
                      lsc_tui_key_for(LSC_VIEW_LAYERS, LSC_REQ_GROUP, ko, sizeof ko),
                      lsc_tui_key_for(LSC_VIEW_LAYERS, LSC_REQ_SEARCH, ks, sizeof ks));
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned catalog_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_ENTER: return catalog_enter_row(st);
    case LSC_REQ_TAG: return lsc_tui_list_tag(st);
    case LSC_REQ_TAG_CLEAR: return lsc_tui_list_tag_clear(st);
    case LSC_REQ_DIFF: return lsc_tui_diff_open(st);
    case LSC_REQ_MERGE: return lsc_tui_merge_open(st);
    case LSC_REQ_PRUNE: return lsc_tui_prune_open(st);
    case LSC_REQ_AUDIT: return lsc_tui_audit_open(st);
    case LSC_REQ_REFRESH: return 0; /* the dispatcher reloaded the catalog */
    default: return LSC_TUI_CH_PASS;
    }
}

static const lsc_tui_binding k_keys[] = {
    LSC_KEYS_MOVE,
    LSC_KEYS_PAGE,
    {LSC_REQ_ENTER, {LSC_KEY_ENTER, '\r'}, "open the adapter (a multi-task adapter: its tasks; a series: its chart by step)", "open", 1},
    LSC_KEYS_SORT_SEARCH,
    LSC_KEYS_FILTER,
    {LSC_REQ_DIFF, {'d', LSC_KEY_F(6)}, "diff the two tagged adapters (or tagged vs selected)", "diff", 4},
    {LSC_REQ_PRUNE, {'p'}, "prune panel: cut ranks by a rule with a live preview", "prune", 2},
    {LSC_REQ_MERGE, {'m'}, "merge panel over the tagged adapters", "merge", 3},
    LSC_KEYS_UNDO,
    {LSC_REQ_TAG, {' ', 't', LSC_KEY_F(8)}, "tag / untag the row", "tag", 5},
    {LSC_REQ_TAG_CLEAR, {'T'}, "clear all tags", NULL, 0},
    {LSC_REQ_AUDIT, {'a'}, "audit the catalog: wasted rank, NaN/Inf, dead layers, duplicates, orphans", NULL, 0},
};

const lsc_tui_view_ops lsc_tui_view_catalog = {
    .view = LSC_VIEW_CATALOG,
    .request = catalog_request,
    .keys = LSC_TUI_KEYS(k_keys),
};
