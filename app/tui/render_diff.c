/* render_diff.c: the diff of two adapters (view_diff.c): its table and the pane beside it (the spectra of
 * the selected layer in both, or the layers only one side has) — curses, like every render*.c file; the
 * protocol is in render.c's head comment. Reads the state, never changes it.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void draw_diff_pane(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_layout *L = &st->lay;
    int x = L->pane_x, y = L->pane_y, w = L->pane_w, h = L->pane_h;
    if (h < 3 || w < 20)
        return;
    attr_t ha = r->attr[st->diff.transient.focus ? R_HEADER_SORTED : R_HEADER];
    char e1[LSC_TUI_NAME_MAX], e2[LSC_TUI_NAME_MAX], t[600];
    lsc_escape_name(e1, sizeof e1, st->diff.a);
    lsc_escape_name(e2, sizeof e2, st->diff.b);
    if (st->diff.transient.pane == 1) {
        snprintf(t, sizeof t, " only in one side (Tab: chart)");
        put_text(r, y, x, w, t, 0, 0, ha);
        int row = y + 1;
        for (int s = 0; s < 2 && row < y + h; s++) {
            size_t n = s ? st->diff.cmp.n_only_b : st->diff.cmp.n_only_a;
            const lsc_tui_layer_name *names = s ? st->diff.cmp.only_b : st->diff.cmp.only_a;
            snprintf(t, sizeof t, "only in %s: %zu", s ? e2 : e1, n);
            put_text(r, row++, x + 1, w - 1, t, 0, 0, r->attr[R_TAGGED]);
            size_t shown = 0;
            int room = (y + h - row) / (s ? 1 : 2);
            for (size_t i = 0; i < n && (int)shown < room - (n > (size_t)room ? 1 : 0) && row < y + h; i++, shown++) {
                char nm[LSC_TUI_NAME_MAX];
                put_text(r, row++, x + 3, w - 3,
                         lsc_escape_name(nm, sizeof nm, lsc_tui_short_name(st, names[i].name)), 0, 1,
                         r->attr[R_NORMAL]);
            }
            if (shown < n && row < y + h) {
                snprintf(t, sizeof t, "... %zu more", n - shown);
                put_text(r, row++, x + 3, w - 3, t, 0, 0, r->attr[R_DIM]);
            }
        }
        return;
    }
    const lsc_tui_list *l = &st->lists[LSC_VIEW_DIFF];
    const char *lname = l->n ? lsc_tui_short_name(st, st->diff.cmp.rows[l->order[l->cursor]].name) : "-";
    snprintf(t, sizeof t, " spectra of %s (Tab: only-in lists)", lname);
    put_text(r, y, x, w, t, 0, TRUNC_START, ha);
    int uni = r->unicode;
    snprintf(t, sizeof t, "%s = %s", uni ? "\u28ff" : "*", e1);
    put_text(r, y + 1, x + 2, w / 2 - 2, t, 0, 0, r->attr[R_SERIES_A]);
    snprintf(t, sizeof t, "%s = %s%s", uni ? "\u28ff" : "o", e2, uni ? " (bold)" : "");
    put_text(r, y + 1, x + w / 2, w - w / 2, t, 0, 0, r->attr[R_SERIES_B]);
    static const double none[1] = {0}; /* a non-NULL second series selects the overlay even when b is empty */
    if (h - 2 >= 4 && canvas(r, w - 1, h - 2) == 0) {
        lsc_chart_spectrum(&r->cv, (lsc_chart_rect){0, 0, w - 1, h - 2}, uni ? LSC_CHART_BRAILLE : LSC_CHART_ASCII,
                           st->diff.transient.sv_a, st->diff.transient.n_sv_a, st->diff.transient.sv_b ? st->diff.transient.sv_b : none, st->diff.transient.n_sv_b);
        blit(r, y + 2, x);
    }
}

/* The diff table beside (or above) its pane, a vertical rule between them when side by side. */
/* The line over the table: the whole-adapter figures the CLI's diff ends with, and the one-side counts. */
static void draw_diff_summary(lsc_tui_render *r, const lsc_tui_state *st)
{
    double cosine, rel;
    char t[300], rd[32];
    lsc_tui_diff_totals(&st->diff.cmp, &cosine, &rel);
    lsc_tui_fmt_num(rel, rd, sizeof rd);
    /* the first and second adapter are the breadcrumb's, in its order */
    snprintf(t, sizeof t, " %zu layers  whole-adapter cosine %.4f  rel.diff %s  one side only: %zu + %zu",
             st->diff.cmp.n_rows, cosine, rd, st->diff.cmp.n_only_a, st->diff.cmp.n_only_b);
    put_text(r, 1, 0, st->lay.cols, t, 0, TRUNC_END, r->attr[R_TAGGED]);
}

void lsc_tui_draw_diff(lsc_tui_render *r, const lsc_tui_state *st)
{
    lsc_tui_view v = LSC_VIEW_DIFF;
    draw_diff_summary(r, st);
    int tw = st->lay.pane_x ? st->lay.pane_x - 1 : st->lay.cols;
    draw_table(r, st, v, 0, tw, !st->diff.transient.focus);
    if (st->lay.pane_x) /* a vertical rule between the panes */
        for (int y = st->lay.pane_y; y < st->lay.pane_y + st->lay.pane_h; y++)
            put_glyph(r, y, st->lay.pane_x - 1, r->unicode ? 0x2502 : '|', r->attr[R_DIM]);
    draw_diff_pane(r, st);
}
