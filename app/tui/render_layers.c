/* render_layers.c: the layer table (view_layers.c) under its summary line (layer count, rank
 * histogram, strongest layer) — curses, like every render*.c file; the protocol is in render.c's head
 * comment. Reads the state, never changes it.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"

void lsc_tui_draw_layers(lsc_tui_render *r, const lsc_tui_state *st)
{
    char t[1024];
    lsc_tui_layers_summary(st, t, sizeof t);
    put_text(r, 1, 0, st->lay.cols, t, 0, TRUNC_MIDDLE, r->attr[R_TAGGED]); /* bold without colour */
    draw_table(r, st, LSC_VIEW_LAYERS, 0, st->lay.cols, 1);
}
