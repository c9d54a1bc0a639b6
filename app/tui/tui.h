/* tui.h: the entry points of the ncurses workbench, for app/main.c.
 *
 * lsc_tui_run() owns the terminal from start to end: it starts curses, runs the key loop over a model
 * (model.h) and restores the terminal on every exit path (quit, SIGINT/SIGTERM/SIGHUP, atexit).
 * lsc_tui_check_terminal() tells main.c, before anything is drawn, whether a TUI can run at all.
 */
#ifndef LSC_TUI_H
#define LSC_TUI_H

#include <stddef.h>

#include "model.h"

typedef struct lsc_tui_options {
    int no_color;        /* monochrome theme (also when NO_COLOR is set and non-empty) */
    int ascii;           /* ASCII glyphs only */
    int no_mouse;        /* no mouse reporting */
    int readonly;        /* commands from the `:` prompt may not change the catalog */
    const char *adapter; /* open this adapter's layer table first; NULL: the catalog */
} lsc_tui_options;

/* Run the workbench over `model` (borrowed) until the user quits or a signal arrives. Sets the locale
 * from the environment. Returns 0 on a normal quit, 1 if curses could not start or the model failed at
 * start-up (message on stderr after the terminal is restored), 128 + signal number after SIGINT/SIGTERM/
 * SIGHUP. */
int lsc_tui_run(lsc_tui_model *model, const lsc_tui_options *opts);

/* 0 when stdout and stdin are terminals and TERM names a usable terminal; otherwise non-zero with a
 * one-line reason in why ("stdout is not a terminal", "TERM is not set", "TERM=dumb cannot show the
 * workbench"). Never writes to the terminal. */
int lsc_tui_check_terminal(char *why, size_t cap);

#endif
