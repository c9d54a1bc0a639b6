/* render_spectrum.c: one layer's singular values and cumulative energy (view_spectrum.c) — curses, like
 * every render*.c file; the protocol is in render.c's head comment. Reads the state, never changes it.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void lsc_tui_draw_spectrum(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_layout *L = &st->lay;
    if (st->spectrum.layer >= st->layers.n)
        return;
    const lsc_tui_layer *ly = &st->layers.rows[st->spectrum.layer];
    char line[512], e[LSC_TUI_NAME_MAX], fro[32], s1[32];
    lsc_tui_fmt_num(ly->fro, fro, sizeof fro);
    lsc_tui_fmt_num(ly->sigma1, s1, sizeof s1);
    snprintf(line, sizeof line, " %s  %lldx%lld  r=%d  alpha=%g  scale=%.4g%s%s", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)),
             (long long)ly->rows, (long long)ly->cols, ly->rank, ly->alpha, ly->scale,
             (ly->flags & LSC_LAYER_DORA) ? "  DoRA (low-rank part only)" : "",
             ly->nonfinite ? "  NON-FINITE VALUES" : "");
    put_text(r, L->pane_y, 0, L->cols, line, 0, TRUNC_START, r->attr[ly->nonfinite ? R_ERROR : R_NORMAL]);
    if (ly->nonfinite)
        snprintf(line, sizeof line, " A or B holds NaN/Inf: no spectrum; fix or drop this layer");
    else
        snprintf(line, sizeof line, " fro=%s  sigma1=%s  eff.rank=%.2f  stable.rank=%.2f  k90=%d  k99=%d", fro, s1,
                 ly->effective_rank, ly->stable_rank, ly->k90, ly->k99);
    put_text(r, L->pane_y + 1, 0, L->cols, line, 0, 0, r->attr[R_DIM]);
    int top = L->pane_y + 2, avail = L->pane_h - 2;
    /* each chart is its heading over a canvas it can draw in (the spectrum needs 4 rows, the energy
     * chart 5: its k labels take one): with less room for both, the spectrum alone, never a heading over
     * an empty chart */
    enum { SPECTRUM_MIN = 1 + 4, ENERGY_MIN = 1 + 5 };
    if (avail < SPECTRUM_MIN || ly->nonfinite)
        return;
    int both = avail >= SPECTRUM_MIN + ENERGY_MIN;
    int h1 = both ? avail * 11 / 20 : avail, h2 = avail - h1;
    if (both && h2 < ENERGY_MIN)
        h2 = ENERGY_MIN, h1 = avail - h2;
    lsc_chart_mode m = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
    put_text(r, top, 0, L->cols, " singular values (log scale)", 0, 0, r->attr[R_HEADER]);
    if (canvas(r, L->cols - 2, h1 - 1) == 0) {
        lsc_chart_spectrum(&r->cv, (lsc_chart_rect){0, 0, L->cols - 2, h1 - 1}, m, st->spectrum.transient.sv, st->spectrum.transient.n_sv, NULL, 0);
        blit(r, top + 1, 1);
    }
    if (!both)
        return;
    put_text(r, top + h1, 0, L->cols, " cumulative energy", 0, 0, r->attr[R_HEADER]);
    if (canvas(r, L->cols - 2, h2 - 1) == 0) {
        lsc_chart_energy(&r->cv, (lsc_chart_rect){0, 0, L->cols - 2, h2 - 1}, m, st->spectrum.transient.sv, st->spectrum.transient.n_sv, ly->k90, ly->k99);
        blit(r, top + h1 + 1, 1);
    }
}
