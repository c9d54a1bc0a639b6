/* render_int.h: what the render files share — internal to render.c and render_<view>.c, the only files of
 * lorascope that include curses (this header includes it; nothing else may include this header).
 *
 * render.c owns the renderer (the struct below), the frame and the drawing primitives; each
 * render_<view>.c draws one view's body through them (render.c's head comment has the protocol). The
 * primitives keep their short names inside the render files; the macros below give them lsc_ symbols, so
 * that moving a drawing function between render files never changes its body.
 */
#ifndef LSC_TUI_RENDER_INT_H
#define LSC_TUI_RENDER_INT_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <stdint.h>
#include <wchar.h>

#include "chart.h"
#include "render.h"
#include "view.h"

/* Attribute roles: colours by role, each with a monochrome form (render.c's theme). */
enum {
    R_NORMAL,
    R_TITLE,
    R_HEADER,
    R_HEADER_SORTED,
    R_SELECTED,
    R_SELECTED_DIM, /* selection of an unfocused pane */
    R_TAGGED,
    R_WARN,
    R_ERROR,
    R_DIM,
    R_KEY_MOVE,   /* bottom bar: a key that moves or opens */
    R_KEY_EDIT,   /* a key that leads to a change */
    R_KEY_GLOBAL, /* a key every view has */
    R_INFO,
    R_HEAT1,
    R_HEAT2,
    R_HEAT3,
    R_HEAT4,
    R_SERIES_A,
    R_SERIES_B,
    R_BOTH,
    R_MARK,
    R_AXIS,
    R_BOX,
    R_COUNT
};

struct lsc_tui_render {
    SCREEN *scr;
    FILE *out, *in;
    int own_out, own_in;
    int color, unicode, mouse, headless;
    attr_t attr[R_COUNT];
    lsc_canvas cv;
    const lsc_tui_state *last; /* for busy() */
};

#define MAXW 1024 /* widest text a primitive draws, in columns */

#define decode lsc_tui_rd_decode
#define put_text lsc_tui_rd_put_text
#define put_glyph lsc_tui_rd_put_glyph
#define G lsc_tui_rd_glyphs
#define draw_table lsc_tui_rd_draw_table
#define heat_level lsc_tui_rd_heat_level
#define canvas lsc_tui_rd_canvas
#define blit lsc_tui_rd_blit

/* Decode UTF-8 s into at most cap wide characters w and their widths wid (ASCII mode: one '?' per
 * non-ASCII sequence; control characters become '?'). Returns the count. */
int decode(const lsc_tui_render *r, const char *s, wchar_t *w, int *wid, int cap);

/* Where put_text cuts a text too wide for its place (an ellipsis marks the cut). */
enum { TRUNC_END = 0, TRUNC_START = 1, TRUNC_MIDDLE = 2 };

/* Draw s in [x, x+w) of row y: right-aligned or left, truncated with an ellipsis at the end, at the start
 * (TRUNC_START: an input line keeps its end visible) or in the middle (TRUNC_MIDDLE: names keep both their
 * leading component and their module end, where two names usually differ), padded with blanks in
 * attribute a. */
void put_text(lsc_tui_render *r, int y, int x, int w, const char *s, int right, int trunc, attr_t a);

/* One code point at (y, x); '?' for a non-ASCII one when the renderer draws ASCII only. */
void put_glyph(lsc_tui_render *r, int y, int x, uint32_t cp, attr_t a);

/* uni when the renderer draws Unicode, else ascii. */
const char *G(const lsc_tui_render *r, const char *uni, const char *ascii);

/* Column header and rows of the list of view v in [x0, x0 + width); focused: the selection is bright. */
void draw_table(lsc_tui_render *r, const lsc_tui_state *st, lsc_tui_view v, int x0, int width, int focused);

/* Heat level 0..4 of x against the maximum mx (0: nothing or no maximum). */
int heat_level(double x, double mx);

/* Make r->cv a blank w x h canvas; -1 if it cannot be allocated (draw no chart then). */
int canvas(lsc_tui_render *r, int w, int h);

/* Copy the canvas to the screen with its top left at (y, x). */
void blit(lsc_tui_render *r, int y, int x);

#endif
