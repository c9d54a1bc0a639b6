/* view_history.c: the history of changes (H), and the output view (a command's output, a history entry
 * in full). Never includes curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

unsigned lsc_tui_load_history(lsc_tui_state *st)
{
    lsc_error err = {0};
    lsc_tui_history *h = NULL;
    size_t n = 0;
    lsc_tui_busy(st, "reading the history");
    if (st->model->history(st->model->ctx, &h, &n, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    free(st->history.rows);
    st->history.rows = h;
    st->history.n = n;
    lsc_tui_list_rebuild(st, LSC_VIEW_HISTORY);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

void lsc_tui_output_free(lsc_tui_state *st)
{
    for (size_t i = 0; i < st->output.n; i++)
        free(st->output.lines[i]);
    free(st->output.lines);
    st->output.lines = NULL;
    st->output.n = 0;
}

/* Split text into st->output.lines (tabs expanded, control bytes escaped). */
int lsc_tui_output_set(lsc_tui_state *st, const char *text)
{
    lsc_tui_output_free(st);
    size_t cap = 16;
    st->output.lines = malloc(cap * sizeof *st->output.lines);
    if (!st->output.lines)
        return -1;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (st->output.n == cap) {
            char **g = realloc(st->output.lines, cap * 2 * sizeof *g);
            if (!g)
                return -1;
            st->output.lines = g;
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
        st->output.lines[st->output.n++] = line;
        p += len + (e ? 1 : 0);
    }
    return 0;
}

void lsc_tui_output_show(lsc_tui_state *st, const char *text, const char *title, int replace)
{
    if (lsc_tui_output_set(st, text) != 0)
        return;
    snprintf(st->output.title, sizeof st->output.title, "%s", title);
    lsc_tui_list *ol = &st->lists[LSC_VIEW_OUTPUT];
    ol->n_data = (size_t)-1;
    ol->cursor = ol->top = 0;
    if (lsc_tui_state_view(st) == LSC_VIEW_OUTPUT)
        lsc_tui_layout_update(st);
    else if (replace)
        lsc_tui_view_replace(st, LSC_VIEW_OUTPUT);
    else
        lsc_tui_view_push(st, LSC_VIEW_OUTPUT);
    lsc_tui_list_rebuild(st, LSC_VIEW_OUTPUT);
}

static unsigned history_request(lsc_tui_state *st, lsc_tui_req req)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_HISTORY];
    if (req == LSC_REQ_REFRESH)
        return lsc_tui_load_history(st);
    if (req != LSC_REQ_ENTER)
        return LSC_TUI_CH_PASS;
    if (!l->n)
        return 0;
    const lsc_tui_history *h = &st->history.rows[l->order[l->cursor]];
    char when[32], text[1200], title[64], args[LSC_TUI_TEXT_MAX];
    lsc_tui_fmt_time(h->time, when, sizeof when);
    lsc_tui_args_text(h->args, args, sizeof args);
    snprintf(text, sizeof text, "entry    %lld\ntime     %s\ncommand  %s\narguments %s\nread     %s\nwrote    %s\nstate    %s\n",
             (long long)h->id, when, h->command, args, h->inputs[0] ? h->inputs : "-",
             h->outputs[0] ? h->outputs : "-", h->undone ? "undone" : "done");
    snprintf(title, sizeof title, "history entry %lld", (long long)h->id);
    lsc_tui_output_show(st, text, title, 0);
    return LSC_TUI_CH_REDRAW;
}

static unsigned output_request(lsc_tui_state *st, lsc_tui_req req)
{
    (void)st;
    return req == LSC_REQ_REFRESH ? 0 : LSC_TUI_CH_PASS;
}

static const lsc_tui_binding k_history_keys[] = {
    LSC_KEYS_MOVE,
    LSC_KEYS_PAGE,
    {LSC_REQ_ENTER, {LSC_KEY_ENTER, '\r'}, "the entry in full", "show", 1},
    LSC_KEYS_SORT_SEARCH,
    LSC_KEYS_UNDO,
};

static const lsc_tui_binding k_output_keys[] = {
    LSC_KEYS_MOVE,
    LSC_KEYS_PAGE,
    LSC_KEYS_SORT_SEARCH,
    LSC_KEYS_UNDO,
};

const lsc_tui_view_ops lsc_tui_view_history = {
    .view = LSC_VIEW_HISTORY,
    .request = history_request,
    .keys = LSC_TUI_KEYS(k_history_keys),
};

const lsc_tui_view_ops lsc_tui_view_output = {
    .view = LSC_VIEW_OUTPUT,
    .request = output_request,
    .keys = LSC_TUI_KEYS(k_output_keys),
};
