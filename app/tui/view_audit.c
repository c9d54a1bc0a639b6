/* view_audit.c: the catalog audit ('a' in the catalog, `:audit`): one row per adapter, sorted by the bytes
 * a prune at 99% energy would save (the model's audit op, app/cmd/audit.h), with the layers wasting rank,
 * NaN/Inf and dead layers, and notes (same content, same layers, parents gone). Enter opens the adapter's
 * layers in the catalog. Its rows are what it shows: they go when the view closes. Never includes curses. */
#include <stdlib.h>
#include <string.h>

#include "view.h"

unsigned lsc_tui_audit_open(lsc_tui_state *st)
{
    lsc_error err = {0};
    lsc_tui_audit_row *rows = NULL;
    size_t n = 0;
    if (!st->model->audit) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "this workbench has no audit");
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_busy(st, "auditing the catalog");
    if (st->model->audit(st->model->ctx, &rows, &n, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    free(st->audit.rows);
    st->audit.rows = rows;
    st->audit.n = n;
    lsc_tui_list *l = &st->lists[LSC_VIEW_AUDIT];
    l->cursor = l->top = 0;
    if (lsc_tui_state_view(st) != LSC_VIEW_AUDIT)
        lsc_tui_view_push(st, LSC_VIEW_AUDIT);
    lsc_tui_list_rebuild(st, LSC_VIEW_AUDIT);
    lsc_tui_layout_update(st);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static void audit_leave(lsc_tui_state *st, int closing)
{
    if (!closing)
        return;
    free(st->audit.rows);
    st->audit.rows = NULL;
    st->audit.n = 0;
}

/* Enter: the adapter's row in the catalog (the filter cleared if it hid it), then its layers. */
static unsigned audit_enter(lsc_tui_state *st)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_AUDIT];
    if (!l->n)
        return 0;
    char name[LSC_TUI_NAME_MAX];
    lsc_tui_copy(name, sizeof name, st->audit.rows[l->order[l->cursor]].name);
    lsc_tui_view_pop(st);
    lsc_tui_list *cl = &st->lists[LSC_VIEW_CATALOG];
    for (size_t i = 0; i < cl->n; i++)
        if (strcmp(st->catalog.rows[cl->order[i]].name, name) == 0) {
            cl->cursor = i;
            return lsc_tui_state_request(st, LSC_REQ_ENTER) | LSC_TUI_CH_REDRAW;
        }
    lsc_tui_state_msg(st, LSC_MSG_WARN, "'%s' is not in the catalog's list (a filter hides it?)", name);
    return LSC_TUI_CH_REDRAW;
}

static unsigned audit_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_ENTER: return audit_enter(st);
    case LSC_REQ_REFRESH:
    case LSC_REQ_AUDIT: return lsc_tui_audit_open(st);
    default: return LSC_TUI_CH_PASS;
    }
}

static const lsc_tui_binding k_keys[] = {
    LSC_KEYS_MOVE,
    LSC_KEYS_PAGE,
    {LSC_REQ_ENTER, {LSC_KEY_ENTER, '\r'}, "open the adapter's layers", "open", 1},
    {LSC_REQ_AUDIT, {'a'}, "audit again", NULL, 0},
    LSC_KEYS_SORT_SEARCH,
    LSC_KEYS_FILTER,
    LSC_KEYS_UNDO,
};

const lsc_tui_view_ops lsc_tui_view_audit = {
    .view = LSC_VIEW_AUDIT,
    .leave = audit_leave,
    .request = audit_request,
    .keys = LSC_TUI_KEYS(k_keys),
};
