/* view_prompt.c: the input line (`:` prompt, `/` search, `f` filter, a panel's name or value, the session
 * file): editing it, and what Enter does with it per mode. Never includes curses.
 */
#include <stdio.h>
#include <string.h>

#include "view.h"

void lsc_tui_input_open(lsc_tui_state *st, lsc_tui_input mode, const char *initial)
{
    st->prompt.mode = mode;
    lsc_tui_copy(st->prompt.buf, sizeof st->prompt.buf, initial);
    st->prompt.len = strlen(st->prompt.buf);
}

void lsc_tui_input_open_label(lsc_tui_state *st, lsc_tui_input mode, const char *initial, const char *label)
{
    lsc_tui_input_open(st, mode, initial);
    lsc_tui_copy(st->prompt.label, sizeof st->prompt.label, label);
}

void lsc_tui_input_label_clear(lsc_tui_state *st) { st->prompt.label[0] = '\0'; }

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

unsigned lsc_tui_prompt_run(lsc_tui_state *st, const char *line)
{
    char buf[sizeof st->prompt.buf + 64];
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
        return lsc_tui_session_save(st, argc == 2 ? argv[1] : st->session_file);
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
    return lsc_tui_job_run(st, &a, line);
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
    if (st->prompt.len + n >= sizeof st->prompt.buf)
        return;
    memcpy(st->prompt.buf + st->prompt.len, u, n);
    st->prompt.len += n;
    st->prompt.buf[st->prompt.len] = '\0';
}

/* Enter on the input line: the prompt, search, filter and session file are the dispatcher's; the panels'
 * own lines (name, value, glob) go to the view's input_done op. */
static unsigned input_done(lsc_tui_state *st)
{
    lsc_tui_input mode = st->prompt.mode;
    char text[sizeof st->prompt.buf];
    memcpy(text, st->prompt.buf, sizeof text);
    st->prompt.mode = LSC_INPUT_NONE;
    const lsc_tui_view_ops *o = lsc_tui_view_ops_of(lsc_tui_state_view(st));
    switch (mode) {
    case LSC_INPUT_PROMPT: return lsc_tui_prompt_run(st, text);
    case LSC_INPUT_SEARCH: {
        lsc_tui_list_incremental_undo(st, mode); /* search from where `/` was pressed: the match shown */
        if (!text[0])
            return LSC_TUI_CH_REDRAW;
        lsc_tui_copy(st->prompt.search, sizeof st->prompt.search, text);
        return lsc_tui_list_search(st, 1);
    }
    case LSC_INPUT_FILTER: return lsc_tui_list_filter_done(st, text);
    case LSC_INPUT_FILE: return lsc_tui_session_save(st, text);
    default: return o->input_done ? o->input_done(st, mode, text) : LSC_TUI_CH_REDRAW;
    }
}

unsigned lsc_tui_input_key(lsc_tui_state *st, int key)
{
    if (key == LSC_KEY_ESC || key == LSC_KEY_CTRL('c') || key == LSC_KEY_CTRL('g')) {
        lsc_tui_list_incremental_undo(st, st->prompt.mode); /* a search or filter typed so far is dropped */
        st->prompt.mode = LSC_INPUT_NONE;
        return LSC_TUI_CH_REDRAW;
    }
    if (key == LSC_KEY_BACKSPACE || key == 127 || key == 8) {
        if (st->prompt.len == 0) {
            lsc_tui_list_incremental_undo(st, st->prompt.mode);
            st->prompt.mode = LSC_INPUT_NONE; /* backspace on an empty line closes it, as in vim */
            return LSC_TUI_CH_REDRAW;
        }
        do
            st->prompt.len--;
        while (st->prompt.len && ((unsigned char)st->prompt.buf[st->prompt.len] & 0xC0) == 0x80);
        st->prompt.buf[st->prompt.len] = '\0';
        return LSC_TUI_CH_REDRAW | lsc_tui_list_incremental(st, st->prompt.mode, st->prompt.buf);
    }
    if (key == LSC_KEY_CTRL('u')) {
        st->prompt.len = 0;
        st->prompt.buf[0] = '\0';
        return LSC_TUI_CH_REDRAW | lsc_tui_list_incremental(st, st->prompt.mode, st->prompt.buf);
    }
    if (key == LSC_KEY_ENTER || key == '\r')
        return input_done(st);
    if (key >= 32 && key < LSC_KEY_BASE && key != 127) {
        input_append(st, key); /* search and filter follow each key, as in less and fzf */
        return LSC_TUI_CH_REDRAW | lsc_tui_list_incremental(st, st->prompt.mode, st->prompt.buf);
    }
    if (key == LSC_KEY_RESIZE)
        return LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW;
    return 0;
}
