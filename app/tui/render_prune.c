/* render_prune.c: the prune panel (view_prune.c): rule, threshold, totals, the per-layer preview and the
 * spectrum of the row under the cursor with the cut — curses, like every render*.c file; the protocol is
 * in render.c's head comment. Reads the state, never changes it.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Draw segments of text left to right on row y from x, each in its own attribute; returns the end x. */
static int put_seg(lsc_tui_render *r, int y, int x, int xmax, const char *s, attr_t a)
{
    wchar_t wb[MAXW + 2];
    int wid[MAXW + 2], n = decode(r, s, wb, wid, MAXW), tw = 0;
    for (int i = 0; i < n; i++)
        tw += wid[i];
    if (x >= xmax)
        return x;
    int w = tw < xmax - x ? tw : xmax - x;
    put_text(r, y, x, w, s, 0, 0, a);
    return x + w;
}

void lsc_tui_draw_prune(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_prune_panel *P = &st->prune;
    const lsc_tui_layout *L = &st->lay;
    static const char *const small[LSC_TUI_PRUNE_RULE_COUNT] = {"1", "0.01", "0.01", "0.01", "0.5", "1"};
    static const char *const big[LSC_TUI_PRUNE_RULE_COUNT] = {"4", "0.1", "0.1", "0.1", "5", "10"};
    char vt[64], t[LSC_ERROR_MSG_MAX + 64], e[LSC_TUI_NAME_MAX * 4];
    lsc_tui_prune_value_text(st, vt, sizeof vt);
    int x = 0, W = L->cols;
    attr_t val = r->attr[R_TAGGED], lab = r->attr[R_NORMAL];
    x = put_seg(r, 1, x, W, " rule ", lab);
    x = put_seg(r, 1, x, W, lsc_tui_prune_rule_name(P->rule), val);
    x = put_seg(r, 1, x, W, "  threshold ", lab);
    snprintf(t, sizeof t, "--%s %s", lsc_tui_prune_rule_name(P->rule), vt);
    x = put_seg(r, 1, x, W, t, val);
    x = put_seg(r, 1, x, W, "  layers ", lab);
    x = put_seg(r, 1, x, W, P->glob[0] ? lsc_escape_name(e, sizeof e, P->glob) : "all", val);
    snprintf(t, sizeof t, "   %s%s  PgUp/PgDn %s%s", G(r, "\u2190/\u2192 \u00b1", "Left/Right +-"), small[P->rule],
             G(r, "\u00b1", "+-"), big[P->rule]);
    put_seg(r, 1, x, W, t, r->attr[R_DIM]);
    if (!P->transient.ok) {
        snprintf(t, sizeof t, "error: %s", P->transient.error);
        put_text(r, 2, 0, W, t, 0, 0, r->attr[R_ERROR]);
    } else {
        char c1[32], c2[32], b1[32], b2[32], nf[64] = "";
        const char *arrow = G(r, "\u2192", "->");
        lsc_tui_fmt_count(P->transient.tot.params_before, c1, sizeof c1);
        lsc_tui_fmt_count(P->transient.tot.params_after, c2, sizeof c2);
        lsc_tui_fmt_bytes(P->transient.tot.bytes_before, b1, sizeof b1);
        lsc_tui_fmt_bytes(P->transient.tot.bytes_after, b2, sizeof b2);
        if (P->transient.tot.n_nonfinite)
            snprintf(nf, sizeof nf, "  %zu NaN/Inf kept", P->transient.tot.n_nonfinite);
        snprintf(t, sizeof t, " %zu/%zu cut  params %s %s %s  size %s %s %s  max err ", P->transient.tot.n_cut, P->transient.tot.n_chosen,
                 c1, arrow, c2, b1, arrow, b2);
        x = put_seg(r, 2, 0, W, t, r->attr[R_NORMAL]);
        char me[32];
        lsc_tui_fmt_num(P->transient.tot.max_rel_error, me, sizeof me);
        x = put_seg(r, 2, x, W, me, val);
        put_seg(r, 2, x, W, nf, r->attr[R_WARN]);
    }
    int tw = L->pane_x ? L->pane_x - 1 : L->cols;
    draw_table(r, st, LSC_VIEW_PRUNE, 0, tw, 1);
    if (L->pane_h <= 0)
        return;
    if (L->pane_x)
        for (int y = L->pane_y; y < L->pane_y + L->pane_h; y++)
            put_glyph(r, y, L->pane_x - 1, r->unicode ? 0x2502 : '|', r->attr[R_DIM]);
    const lsc_tui_list *l = &st->lists[LSC_VIEW_PRUNE];
    if (!l->n || P->transient.sv_row < 0 || (size_t)P->transient.sv_row >= P->transient.n_rows) {
        put_text(r, L->pane_y, L->pane_x, L->pane_w, " spectrum", 0, 0, r->attr[R_HEADER]);
        return;
    }
    const lsc_tui_prune_row *row = &P->transient.rows[P->transient.sv_row];
    size_t k = row->chosen ? (size_t)row->rank_after : P->transient.n_sv;
    if (row->nonfinite)
        snprintf(t, sizeof t, " %s: NaN/Inf, left unchanged", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, row->name)));
    else if (!row->chosen)
        snprintf(t, sizeof t, " %s: not chosen (--layers), kept", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, row->name)));
    else
        snprintf(t, sizeof t, " %s: keep %zu of %zu", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, row->name)), k,
                 P->transient.n_sv);
    put_text(r, L->pane_y, L->pane_x, L->pane_w, t, 0, TRUNC_START, r->attr[R_HEADER]);
    int ch = L->pane_h - 1, cw = L->pane_w - (L->pane_x ? 1 : 2);
    if (ch >= 4 && cw >= 12 && canvas(r, cw, ch) == 0) {
        lsc_chart_rect rc = {0, 0, cw, ch};
        lsc_chart_mode m = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
        lsc_chart_spectrum(&r->cv, rc, m, P->transient.sv, P->transient.n_sv, NULL, 0);
        lsc_chart_cut(&r->cv, rc, m, P->transient.n_sv, k);
        blit(r, L->pane_y + 1, L->pane_x + (L->pane_x ? 0 : 1));
    }
}
