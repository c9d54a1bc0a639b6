/* view_tasks.c: the task table of a multi-task adapter (Enter on it in the catalog): one row per task,
 * Enter opens a task's layers, K the kind panel of the whole adapter. Never includes curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

unsigned lsc_tui_tasks_open(lsc_tui_state *st, const char *group)
{
    lsc_tui_kind_figures k;
    lsc_error err = {0};
    lsc_tui_busy(st, "reading the tasks of '%s'", group);
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
    free(st->tasks.rows);
    st->tasks.rows = t;
    st->tasks.n = (size_t)k.n_tasks;
    lsc_tui_copy(st->tasks.group, sizeof st->tasks.group, group);
    lsc_tui_list_reset(st, LSC_VIEW_TASKS);
    lsc_tui_view_push(st, LSC_VIEW_TASKS);
    lsc_tui_list_rebuild(st, LSC_VIEW_TASKS);
    lsc_tui_state_msg(st, LSC_MSG_INFO, "%d tasks, %zu layers in every task - Enter a task's layers, K cosines and norms",
                      k.n_tasks, k.n_layers);
    lsc_tui_kind_release(&k);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

int lsc_tui_is_group_kind(const char *kind) { return lsc_kind_parse(kind) == LSC_KIND_MULTITASK; }

static unsigned tasks_request(lsc_tui_state *st, lsc_tui_req req)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_TASKS];
    switch (req) {
    case LSC_REQ_ENTER:
        if (!l->n)
            return 0;
        if (lsc_tui_load_layers(st, st->tasks.rows[l->order[l->cursor]].adapter) != 0)
            return LSC_TUI_CH_REDRAW;
        lsc_tui_view_push(st, LSC_VIEW_LAYERS);
        lsc_tui_list_rebuild(st, LSC_VIEW_LAYERS);
        char kk[16], kr[16];
        lsc_tui_state_msg(st, LSC_MSG_INFO, "task '%s': %zu layers - Enter spectrum, %s kind figures, %s retrain",
                          st->tasks.rows[l->order[l->cursor]].task, st->layers.n,
                          lsc_tui_key_for(LSC_VIEW_LAYERS, LSC_REQ_KIND, kk, sizeof kk),
                          lsc_tui_key_for(LSC_VIEW_LAYERS, LSC_REQ_RETRAIN, kr, sizeof kr));
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
    case LSC_REQ_KIND: return lsc_tui_kind_open(st);
    case LSC_REQ_REFRESH: return 0;
    default: return LSC_TUI_CH_PASS;
    }
}

static const lsc_tui_binding k_keys[] = {
    LSC_KEYS_MOVE,
    LSC_KEYS_PAGE,
    {LSC_REQ_ENTER, {LSC_KEY_ENTER, '\r'}, "the task's layers", "layers", 1},
    LSC_KEYS_SORT_SEARCH,
    {LSC_REQ_KIND, {'K'}, "kind panel: cosines and norms of the tasks", "kind", 2},
    LSC_KEYS_UNDO,
};

const lsc_tui_view_ops lsc_tui_view_tasks = {
    .view = LSC_VIEW_TASKS,
    .request = tasks_request,
    .keys = LSC_TUI_KEYS(k_keys),
};
