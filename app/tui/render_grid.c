/* render_grid.c: the layers x modules heat map of the grid view (view_grid.c) — curses, like every
 * render*.c file; the protocol is in render.c's head comment. Reads the state, never changes it.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void lsc_tui_draw_grid(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_layout *L = &st->lay;
    int cw = lsc_tui_grid_cell_width(st);
    lsc_chart_mode gm = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
    put_text(r, L->header_y, 0, L->cols, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 0, 7, "layer", 1, 0, r->attr[R_HEADER]);
    for (int c = 0; c < st->grid.n_mods; c++)
        put_text(r, L->header_y, 8 + c * cw, cw - 1, st->grid.mods[c], 1, 0,
                 r->attr[c == st->grid.c ? R_HEADER_SORTED : R_HEADER]);
    for (int k = 0; k < L->body_h; k++) {
        int gr = st->grid.top + k, y = L->body_y + k;
        if (gr >= st->grid.n_rows)
            break;
        char lab[16];
        snprintf(lab, sizeof lab, "%d", st->grid.rows[gr]);
        int selrow = gr == st->grid.r;
        put_text(r, y, 0, 1, selrow ? ">" : "", 0, 0, r->attr[R_NORMAL]);
        put_text(r, y, 1, 6, lab, 1, 0, r->attr[selrow ? R_HEADER_SORTED : R_NORMAL]);
        for (int c = 0; c < st->grid.n_mods; c++) {
            long li = st->grid.cell[(size_t)gr * (size_t)st->grid.n_mods + (size_t)c];
            int x = 8 + c * cw, sel = selrow && c == st->grid.c;
            attr_t a = sel ? r->attr[R_SELECTED] : r->attr[R_NORMAL];
            if (li < 0) {
                put_text(r, y, x, cw - 1, G(r, "\u00b7", "."), 1, 0, sel ? a : r->attr[R_DIM]);
                continue;
            }
            const lsc_tui_layer *ly = &st->layers.rows[li];
            char val[32];
            if (ly->nonfinite) {
                put_text(r, y, x, cw - 1, "NaN!", 1, 0, sel ? a : r->attr[R_ERROR]);
                continue;
            }
            double m = lsc_tui_grid_value(st, (size_t)li);
            if (isnan(m)) { /* |dW|/|W| not known (yet): the status line says how to compute it */
                put_text(r, y, x, cw - 1, "-", 1, 0, sel ? a : r->attr[R_DIM]);
                continue;
            }
            if (st->grid.metric != LSC_METRIC_RANK)
                lsc_tui_fmt_num(m, val, sizeof val);
            else
                snprintf(val, sizeof val, "%d", ly->rank);
            int lv = heat_level(m, st->grid.max);
            put_text(r, y, x, cw - 1, val, 1, 0, a);
            if (cw >= 7) { /* two shade glyphs carry the level without colour */
                uint32_t g = lsc_chart_shade(lv, gm);
                attr_t ha = sel ? a : r->attr[R_HEAT1 + (lv > 0 ? lv - 1 : 0)];
                put_glyph(r, y, x, g, ha);
                put_glyph(r, y, x + 1, g, ha);
            }
        }
    }
    /* legend in the header's free space */
    char leg[LSC_TUI_NAME_MAX + 128];
    int lx = 8 + st->grid.n_mods * cw + 1;
    if (L->cols - lx >= 20 && lsc_tui_grid_rel_pending(st, leg, sizeof leg)) {
        put_text(r, L->header_y, lx, L->cols - lx, "|dW|/|W| not computed", 0, 0, r->attr[R_HEADER]);
    } else if (L->cols - lx >= 20) {
        snprintf(leg, sizeof leg, "%s max %.3g", lsc_tui_grid_metric_name(st, 1), st->grid.max);
        put_text(r, L->header_y, lx, L->cols - lx, leg, 0, 0, r->attr[R_HEADER]);
        for (int lv = 1; lv <= 4 && L->body_y + lv < L->status_y; lv++) {
            char t[48];
            snprintf(t, sizeof t, " <= %.3g", st->grid.max * lv / 4.0);
            put_glyph(r, L->body_y + lv - 1, lx, lsc_chart_shade(lv, gm), r->attr[R_HEAT1 + lv - 1]);
            put_glyph(r, L->body_y + lv - 1, lx + 1, lsc_chart_shade(lv, gm), r->attr[R_HEAT1 + lv - 1]);
            put_text(r, L->body_y + lv - 1, lx + 2, L->cols - lx - 2, t, 0, 0, r->attr[R_DIM]);
        }
    }
}
