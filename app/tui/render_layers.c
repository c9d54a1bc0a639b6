/* render_layers.c: the layer table (view_layers.c) under its summary line (layer count, rank
 * histogram, strongest layer) and, when open, the "vs base" panel of the selected layer (view_vsbase.c) — curses, like every render*.c file; the protocol is in render.c's head
 * comment. Reads the state, never changes it.
 */
#define NCURSES_WIDECHAR 1
#include <string.h>

#include "render_int.h"

/* The "vs base" panel (view_vsbase.c makes its text): a rule on its edge, then one line per figure. */
static void draw_vsbase(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_layout *L = &st->lay;
    char lines[24][LSC_TUI_VSBASE_LINE];
    int y0 = L->pane_y, x0 = L->pane_x, w = L->pane_w;
    if (L->pane_x) /* a vertical rule between the table and the panel */
        for (int y = y0; y < y0 + L->pane_h; y++)
            put_glyph(r, y, x0 - 1, r->unicode ? 0x2502 : '|', r->attr[R_DIM]);
    int n = lsc_tui_vsbase_lines(st, lines, L->pane_h < 24 ? L->pane_h : 24, w - 1);
    for (int i = 0; i < n; i++) /* the first line, "vs base PATH", is the panel's title */
        put_text(r, y0 + i, x0, w, lines[i], 0, i == 0 ? TRUNC_MIDDLE : TRUNC_END,
                 i == 0 ? r->attr[R_TAGGED]
                 : st->vsbase.why[0] && !strstr(lines[i], ":base ") ? r->attr[R_ERROR] : 0);
}

void lsc_tui_draw_layers(lsc_tui_render *r, const lsc_tui_state *st)
{
    char t[1024];
    lsc_tui_layers_summary(st, t, sizeof t);
    put_text(r, 1, 0, st->lay.cols, t, 0, TRUNC_MIDDLE, r->attr[R_TAGGED]); /* bold without colour */
    draw_table(r, st, LSC_VIEW_LAYERS, 0, st->lay.pane_x ? st->lay.pane_x - 1 : st->lay.cols, 1);
    if (st->lay.pane_h)
        draw_vsbase(r, st);
}
