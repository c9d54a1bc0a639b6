/* view_prompt.c: the input line (`:` prompt, `/` search, `f` filter, a panel's name or value, the session
 * file): editing it, and what Enter does with it per mode. Never includes curses.
 * The `:` line is a command line: Tab completes (complete.c), Up/Down recall the lines typed before (kept
 * across runs in the history file the main loop names), `:help [CMD]` shows help in the output pane, a
 * mistyped command or option gets "did you mean", and a command that hides an adapter or undoes an edit
 * asks first, as its key does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "command.h"
#include "complete.h"
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

/* ---- history of `:` lines ----------------------------------------------------------------------------- */

void lsc_tui_prompt_history_load(lsc_tui_state *st, const char *file)
{
    lsc_tui_prompt_view *p = &st->prompt;
    p->n_hist = p->hist_at = 0;
    p->hist_file[0] = '\0';
    if (!file || !file[0] || strlen(file) >= sizeof p->hist_file)
        return;
    lsc_tui_copy(p->hist_file, sizeof p->hist_file, file);
    FILE *fp = fopen(file, "r");
    if (!fp)
        return;
    char line[1024];
    while (fgets(line, sizeof line, fp)) {
        size_t len = strcspn(line, "\n");
        if (len == 0 || len >= sizeof p->hist[0]) /* a line longer than the prompt holds is not ours */
            continue;
        line[len] = '\0';
        if (p->n_hist == LSC_TUI_PROMPT_HIST) {
            memmove(p->hist[0], p->hist[1], (LSC_TUI_PROMPT_HIST - 1) * sizeof p->hist[0]);
            p->n_hist--;
        }
        memcpy(p->hist[p->n_hist++], line, len + 1);
    }
    fclose(fp);
    p->hist_at = p->n_hist;
}

/* Make the folders above file (its state directory may not exist on a first run). */
static void make_parents(const char *file)
{
    char dir[512];
    lsc_tui_copy(dir, sizeof dir, file);
    for (char *q = dir + 1; *q; q++)
        if (*q == '/') {
            *q = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return;
            *q = '/';
        }
}

/* Keep a line typed at the prompt: last of the history (not twice in a row), the oldest dropped past
 * LSC_TUI_PROMPT_HIST, and the file rewritten whole (so it stays bounded). A file that cannot be written
 * costs the history across runs, never the command. */
static void history_add(lsc_tui_state *st, const char *line)
{
    lsc_tui_prompt_view *p = &st->prompt;
    if (!line[0] || strchr(line, '\n'))
        return;
    if (!(p->n_hist && strcmp(p->hist[p->n_hist - 1], line) == 0)) {
        if (p->n_hist == LSC_TUI_PROMPT_HIST) {
            memmove(p->hist[0], p->hist[1], (LSC_TUI_PROMPT_HIST - 1) * sizeof p->hist[0]);
            p->n_hist--;
        }
        lsc_tui_copy(p->hist[p->n_hist++], sizeof p->hist[0], line);
    }
    p->hist_at = p->n_hist;
    if (!p->hist_file[0])
        return;
    make_parents(p->hist_file);
    char tmp[sizeof p->hist_file + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", p->hist_file);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return;
    for (size_t i = 0; i < p->n_hist; i++)
        fprintf(fp, "%s\n", p->hist[i]);
    if (fclose(fp) != 0 || rename(tmp, p->hist_file) != 0)
        remove(tmp);
}

/* Up (dir -1) or Down (+1) on the `:` line: the previous or next line typed; Down past the newest gives back
 * the line that was being typed. */
static unsigned history_step(lsc_tui_state *st, int dir)
{
    lsc_tui_prompt_view *p = &st->prompt;
    if (dir < 0 && p->hist_at == 0)
        return 0;
    if (dir > 0 && p->hist_at >= p->n_hist)
        return 0;
    if (p->hist_at == p->n_hist)
        lsc_tui_copy(p->draft, sizeof p->draft, p->buf);
    p->hist_at = dir < 0 ? p->hist_at - 1 : p->hist_at + 1;
    lsc_tui_copy(p->buf, sizeof p->buf, p->hist_at == p->n_hist ? p->draft : p->hist[p->hist_at]);
    p->len = strlen(p->buf);
    return LSC_TUI_CH_REDRAW;
}

/* ---- completion ------------------------------------------------------------------------------------- */

/* Tab on the `:` line: replace the word by the candidates' common prefix (and a space when only one fits);
 * several candidates are listed on the status line. */
static unsigned complete_tab(lsc_tui_state *st)
{
    lsc_tui_prompt_view *p = &st->prompt;
    size_t na = st->catalog.n, nl = st->layers.n;
    const char **names = malloc((na + nl + 1) * sizeof *names);
    if (!names)
        return 0;
    for (size_t i = 0; i < na; i++)
        names[i] = st->catalog.rows[i].name;
    for (size_t i = 0; i < nl; i++)
        names[na + i] = st->layers.rows[i].name;
    lsc_complete_src src = {names, na, names + na, nl};
    lsc_completion c;
    size_t n = lsc_complete(p->buf, &src, &c);
    unsigned ch = LSC_TUI_CH_REDRAW;
    if (n == 0) {
        lsc_tui_state_msg(st, LSC_MSG_INFO, "no completion for '%s'", p->buf + c.start);
    } else {
        char line[sizeof p->buf];
        int w = snprintf(line, sizeof line, "%.*s%s%s", (int)c.start, p->buf, c.common, n == 1 ? " " : "");
        if (w > 0 && (size_t)w < sizeof line) {
            memcpy(p->buf, line, (size_t)w + 1);
            p->len = (size_t)w;
        }
        if (n == 1) {
            lsc_tui_msg_clear(st);
        } else {
            char list[sizeof st->msg];
            size_t len = (size_t)snprintf(list, sizeof list, "%zu:", n);
            for (size_t i = 0; i < n && i < LSC_COMPLETE_SHOW && len < sizeof list; i++)
                len += (size_t)snprintf(list + len, sizeof list - len, " %s", c.cands[i]);
            if (n > LSC_COMPLETE_SHOW && len < sizeof list)
                snprintf(list + len, sizeof list - len, " ...");
            lsc_tui_state_msg(st, LSC_MSG_INFO, "%s", list);
        }
    }
    free(names);
    p->said = st->msg[0] != '\0';
    return ch;
}

/* ---- running a line --------------------------------------------------------------------------------- */

/* `:help` lists the commands (and the workbench's own words); `:help CMD` shows the command's usage and
 * options; both in the output pane. */
static unsigned prompt_help(lsc_tui_state *st, int argc, char **argv)
{
    lsc_sink out;
    lsc_sink_init_mem(&out);
    const lsc_command *c = argc > 1 ? lsc_command_find(argv[1]) : NULL;
    if (argc > 2 || (argc == 2 && !c && strcmp(argv[1], "w") != 0)) {
        lsc_sink_release(&out);
        if (argc == 2) {
            const char *names[64];
            size_t n = 0;
            for (size_t i = 0; i < lsc_n_commands && n < 64; i++)
                names[n++] = lsc_commands[i].name;
            int s = lsc_tui_suggest(argv[1], names, n);
            if (s >= 0) {
                lsc_tui_state_msg(st, LSC_MSG_ERROR, "unknown command '%s'; did you mean '%s'?", argv[1], names[s]);
                return LSC_TUI_CH_REDRAW;
            }
        }
        lsc_tui_state_msg(st, LSC_MSG_ERROR, argc > 2 ? "usage: :help [COMMAND]" : "unknown command '%s'",
                          argv[argc > 2 ? 0 : 1]);
        return LSC_TUI_CH_REDRAW;
    }
    if (c) {
        lsc_command_print_help(&out, c);
    } else if (argc == 2) {
        lsc_out(&out, "usage: :w [FILE]\n\nsave the session's edits as a replayable script (default %s)\n",
                st->session_file);
    } else {
        lsc_out(&out, "commands (Tab completes; :help COMMAND shows one):\n");
        for (size_t i = 0; i < lsc_n_commands; i++)
            lsc_out(&out, "  %-10s %s\n", lsc_commands[i].name, lsc_commands[i].summary);
        lsc_out(&out, "  %-10s %s\n  %-10s %s\n", "w [FILE]", "save the session's edits as a replayable script",
                "help [CMD]", "this list, or one command's options");
    }
    lsc_tui_output_show(st, out.buf ? out.buf : "", argc > 1 ? argv[1] : "help", 0);
    lsc_sink_release(&out);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
}

/* A mistyped command or option with a close name: the message that says so ("did you mean"), 1; 0 when
 * the line has no such word (unknown words without a close name are left to the command's own error). */
static int prompt_typo(lsc_tui_state *st, int argc, char **argv)
{
    const lsc_command *c = lsc_command_find(argv[0]);
    const char *names[128];
    size_t n = 0;
    if (!c) {
        for (size_t i = 0; i < lsc_n_commands && n < 126; i++)
            names[n++] = lsc_commands[i].name;
        names[n++] = "help";
        names[n++] = "w";
        int s = lsc_tui_suggest(argv[0], names, n);
        if (s < 0)
            return 0;
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "unknown command '%s'; did you mean '%s'?", argv[0], names[s]);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (argv[i][0] != '-' || argv[i][1] != '-' || lsc_opts_find(c->spec->opts, argv[i]))
            continue;
        char word[128];
        snprintf(word, sizeof word, "%.*s", (int)strcspn(argv[i] + 2, "="), argv[i] + 2);
        n = 0;
        for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END && n < 128; o++)
            if (o->name && o->help)
                names[n++] = o->name;
        int s = lsc_tui_suggest(word, names, n);
        if (s < 0)
            return 0;
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s: unknown option '--%s'; did you mean '--%s'?", argv[0], word,
                          names[s]);
        return 1;
    }
    return 0;
}

/* The commands that ask first when typed, as their keys do: hiding an adapter (rm) and undo. */
static int prompt_destructive(const char *name)
{
    const lsc_command *c = lsc_command_find(name);
    return c && ((c->flags & LSC_CMD_HIDES) || strcmp(name, "undo") == 0);
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
    if (strcmp(argv[0], "help") == 0)
        return prompt_help(st, argc, argv);
    if (strcmp(argv[0], "audit") == 0 && argc == 1) /* the whole catalog: its view, sorted by savings */
        return lsc_tui_audit_open(st);
    if (prompt_typo(st, argc, argv))
        return LSC_TUI_CH_REDRAW;
    lsc_tui_argv a;
    a.kind = LSC_JOB_PROMPT;
    a.argc = 0;
    for (int i = 0; i < argc && i < LSC_TUI_ARGS_MAX; i++)
        lsc_tui_copy(a.argv[a.argc++], sizeof a.argv[0], argv[i]);
    if (argc > LSC_TUI_ARGS_MAX) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "more than %d words on the command line", LSC_TUI_ARGS_MAX);
        return LSC_TUI_CH_REDRAW;
    }
    if (prompt_destructive(argv[0])) {
        char q[sizeof st->confirm.question];
        snprintf(q, sizeof q, "run '%s'?", line);
        const char *detail = strcmp(argv[0], "undo") == 0 ? "it reverts the latest change (redo brings it back)"
                                                          : "undo brings it back";
        return lsc_tui_ask(st, &a, line, q, detail);
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
    case LSC_INPUT_PROMPT: history_add(st, text); return lsc_tui_prompt_run(st, text);
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
    if (st->prompt.said && key != LSC_KEY_TAB && key != LSC_KEY_RESIZE) {
        lsc_tui_msg_clear(st); /* Tab's candidates (shown on the bar line) are for the line as it was */
        st->prompt.said = 0;
    }
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
    if (st->prompt.mode == LSC_INPUT_PROMPT) {
        if (key == LSC_KEY_TAB)
            return complete_tab(st);
        if (key == LSC_KEY_UP || key == LSC_KEY_DOWN)
            return history_step(st, key == LSC_KEY_UP ? -1 : 1);
    }
    if (key >= 32 && key < LSC_KEY_BASE && key != 127) {
        input_append(st, key); /* search and filter follow each key, as in less and fzf */
        return LSC_TUI_CH_REDRAW | lsc_tui_list_incremental(st, st->prompt.mode, st->prompt.buf);
    }
    if (key == LSC_KEY_RESIZE)
        return LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW;
    return 0;
}
