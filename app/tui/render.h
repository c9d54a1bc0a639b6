/* render.h: drawing the workbench with curses — the only module that includes curses.
 *
 * A renderer owns one curses SCREEN, made with newterm() over either the real terminal or, for tests and
 * benchmarks, files (headless, fixed size). It reads an lsc_tui_state and draws a whole frame: title bar
 * with breadcrumb, the view (tables, grid heatmap, charts), help overlay, status line and bottom key bar. It
 * translates curses keys and mouse events into LSC_KEY_* codes and mouse hits for state.c.
 * Colours by role; a monochrome theme (NO_COLOR / --no-color) that shows everything through reverse, bold,
 * underline and marker symbols; --ascii and non-UTF-8 locales draw plain ASCII only.
 */
#ifndef LSC_TUI_RENDER_H
#define LSC_TUI_RENDER_H

#include <stddef.h>
#include <stdio.h>

#include "state.h"

typedef struct lsc_tui_render_opts {
    int no_color; /* monochrome theme */
    int ascii;    /* ASCII glyphs only, even in a UTF-8 locale */
    int no_mouse; /* do not ask for mouse events */
    int headless; /* draw on out/in files at a fixed size (tests, benchmarks) */
    int lines, cols; /* headless size */
    const char *term; /* headless terminal type, NULL: "xterm-256color" */
} lsc_tui_render_opts;

typedef struct lsc_tui_render lsc_tui_render;

/* Start curses on out/in (NULL: stdout/stdin). The locale must already be set (setlocale(LC_ALL, "")).
 * On failure returns NULL and writes a reason into why. Must be ended with lsc_tui_render_end(). */
lsc_tui_render *lsc_tui_render_begin(const lsc_tui_render_opts *o, FILE *out, FILE *in, char *why, size_t cap);

/* Restore the terminal (endwin) and free everything; NULL-safe, idempotent through lsc_tui_render_emergency. */
void lsc_tui_render_end(lsc_tui_render *r);

/* Restore the terminal modes only (for atexit and signal exits); safe to call more than once. */
void lsc_tui_render_emergency(void);

/* Current screen size. */
void lsc_tui_render_size(lsc_tui_render *r, int *lines, int *cols);

/* Headless: change the screen size (resize_term). Returns 0 or -1. */
int lsc_tui_render_resize(lsc_tui_render *r, int lines, int cols);

/* Draw one full frame of st and refresh. */
void lsc_tui_render_draw(lsc_tui_render *r, const lsc_tui_state *st);

/* Draw "what" on the status line right away (a long operation is starting). ctx is the renderer; the
 * signature matches lsc_tui_busy_fn. */
void lsc_tui_render_busy(void *ctx, const char *what);

/* Wait up to timeout_ms for a key. Returns a key (code point or LSC_KEY_*), 0 on timeout, or -1 for a
 * mouse event with *my, *mx, *button (1 click, 4 wheel up, 5 wheel down) filled. */
int lsc_tui_render_getkey(lsc_tui_render *r, int timeout_ms, int *my, int *mx, int *button);

/* The screen as UTF-8 text, one line per row, trailing blanks removed. With attrs, each row is followed by
 * a line "|" + one letter per column: 'r' reverse, 'b' bold, 'u' underline, 'R' reverse+bold, '.' none
 * (trailing dots removed). malloc'ed; NULL on out of memory. */
char *lsc_tui_render_dump(lsc_tui_render *r, int attrs);

/* Whether this renderer draws Unicode glyphs. */
int lsc_tui_render_unicode(const lsc_tui_render *r);

#endif
