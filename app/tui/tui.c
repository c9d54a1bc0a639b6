/* tui.c: the workbench's main loop — keys in, requests to the state, frames out — and terminal hygiene.
 *
 * The loop waits for input with a timeout so that a signal flag (SIGINT, SIGTERM, SIGHUP set it; the
 * handlers do nothing else) is noticed promptly; leaving the loop always goes through one exit path that
 * ends curses. An atexit hook restores the terminal if the process exits from anywhere else.
 * Commands run on a worker thread (job.h): while one runs the loop wakes every 100 ms to draw its progress
 * and collect it, and SIGINT (Ctrl-C) cancels the command instead of leaving; with no command running
 * SIGINT becomes the key ^C (cancel the prompt or question; a second press at rest quits, rc 0). Leaving for
 * any other reason cancels a running command and waits for its rollback (lsc_tui_state_free).
 * Never includes curses (render.c does the drawing) and never touches the catalog (the model does).
 */
#include "tui.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "render.h"
#include "state.h"

static volatile sig_atomic_t g_signal;

static void on_signal(int sig) { g_signal = sig; }

int lsc_tui_check_terminal(char *why, size_t cap)
{
    const char *term = getenv("TERM");
    if (!isatty(STDOUT_FILENO)) {
        snprintf(why, cap, "stdout is not a terminal");
        return 1;
    }
    if (!isatty(STDIN_FILENO)) {
        snprintf(why, cap, "stdin is not a terminal");
        return 1;
    }
    if (!term || !term[0]) {
        snprintf(why, cap, "TERM is not set");
        return 1;
    }
    if (strcmp(term, "dumb") == 0) {
        snprintf(why, cap, "TERM=dumb cannot show the workbench");
        return 1;
    }
    return 0;
}

/* Where the `:` lines are kept across runs: $XDG_STATE_HOME/lorascope/history, else
 * ~/.local/state/lorascope/history; NULL (this run only) without either variable. */
static const char *history_path(char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, cap, "%s/lorascope/history", xdg);
    else if (home && home[0])
        n = snprintf(buf, cap, "%s/.local/state/lorascope/history", home);
    else
        return NULL;
    return n > 0 && (size_t)n < cap ? buf : NULL;
}

int lsc_tui_run(lsc_tui_model *model, const lsc_tui_options *opts)
{
    static int atexit_done;
    lsc_tui_options none = {0};
    if (!opts)
        opts = &none;
    setlocale(LC_ALL, "");
    const char *nc = getenv("NO_COLOR");
    lsc_tui_render_opts ro = {
        .no_color = opts->no_color || (nc && nc[0]),
        .ascii = opts->ascii,
        .no_mouse = opts->no_mouse,
    };
    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    if (!atexit_done) {
        atexit(lsc_tui_render_emergency);
        atexit_done = 1;
    }

    int rc = 1;
    char why[LSC_ERROR_MSG_MAX + 64] = "";
    lsc_tui_state *st = NULL;
    lsc_error err = {0};
    lsc_tui_render *r = lsc_tui_render_begin(&ro, NULL, NULL, why, sizeof why);
    if (!r)
        goto done;
    int lines, cols;
    lsc_tui_render_size(r, &lines, &cols);
    char hist[512];
    lsc_tui_state_opts so = {.readonly = opts->readonly, .adapter = opts->adapter,
                             .history_file = history_path(hist, sizeof hist)};
    if (lsc_tui_state_new(model, &so, lines, cols, &st, &err) != LSC_OK) {
        snprintf(why, sizeof why, "%s", err.msg);
        goto done;
    }
    st->busy = lsc_tui_render_busy;
    st->busy_ctx = r;
    st->async = 1;
    lsc_tui_render_draw(r, st);
    for (;;) {
        if (g_signal == SIGINT) { /* Ctrl-C (cbreak: it arrives as a signal, not a key) */
            g_signal = 0;
            /* while a command runs it cancels it; otherwise it is the key ^C, which the state reads as
             * "cancel what is open" (prompt, question, help) and quits only on a second press */
            unsigned ch = lsc_tui_state_busy(st) ? lsc_tui_state_cancel(st) : lsc_tui_state_key(st, LSC_KEY_CTRL('c'));
            if (ch & LSC_TUI_CH_QUIT) {
                rc = 0;
                break;
            }
            lsc_tui_render_draw(r, st);
        }
        if (g_signal)
            break;
        int my = 0, mx = 0, button = 0;
        int key = lsc_tui_render_getkey(r, lsc_tui_state_working(st) ? 100 : 250, &my, &mx, &button);
        unsigned ch = 0;
        if (key == 0) {
            if ((ch = lsc_tui_state_poll(st)) & (LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE))
                lsc_tui_render_draw(r, st);
            continue;
        }
        if (key == -1) {
            ch = lsc_tui_state_click(st, my, mx, button);
        } else if (key == LSC_KEY_RESIZE) {
            lsc_tui_render_size(r, &lines, &cols);
            ch = lsc_tui_state_resize(st, lines, cols);
        } else {
            ch = lsc_tui_state_key(st, key);
        }
        ch |= lsc_tui_state_poll(st);
        if (ch & LSC_TUI_CH_QUIT) {
            rc = 0;
            break;
        }
        if (ch & (LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE))
            lsc_tui_render_draw(r, st);
    }
    if (g_signal)
        rc = 128 + g_signal;
done:
    lsc_tui_render_end(r);
    lsc_tui_state_free(st);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    if (why[0])
        fprintf(stderr, "lorascope: %s\n", why);
    return rc;
}
