/* render_series.c: a series (view_series.c): one figure against the checkpoint step, for the layer under
 * the cursor or the mean over the listed layers, the selected step marked, over the layer table at that
 * step — curses, like every render*.c file; the protocol is in render.c's head comment. Reads the state,
 * never changes it.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The heading: what is charted, of which layer (or the mean over how many), at which selected step. */
static void draw_heading(lsc_tui_render *r, const lsc_tui_state *st, const double *curve)
{
    const lsc_tui_series *s = &st->series.transient.data;
    const lsc_tui_list *l = &st->lists[LSC_VIEW_SERIES];
    const lsc_tui_layout *L = &st->lay;
    char t[600], who[LSC_TUI_NAME_MAX + 64], v[32];
    if (st->series.mean)
        snprintf(who, sizeof who, "mean over %zu layer%s%s%s", l->n, l->n == 1 ? "" : "s", l->filter[0] ? " matching " : "",
                 l->filter);
    else if (l->n)
        lsc_escape_name(who, sizeof who, lsc_tui_short_name(st, s->layers[l->order[l->cursor]].name));
    else
        snprintf(who, sizeof who, "no layer");
    const lsc_tui_series_step *p = &s->steps[st->series.step];
    lsc_tui_fmt_num(curve[st->series.step], v, sizeof v);
    snprintf(t, sizeof t, " %s of %s  |  step %lld (%s): %s", lsc_tui_series_fig_name((lsc_tui_series_fig)st->series.fig),
             who, (long long)p->step, p->label, v);
    put_text(r, L->pane_y, 0, L->cols, t, 0, TRUNC_MIDDLE, r->attr[R_HEADER]);
}

void lsc_tui_draw_series(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_series *s = &st->series.transient.data;
    const lsc_tui_list *l = &st->lists[LSC_VIEW_SERIES];
    const lsc_tui_layout *L = &st->lay;
    draw_table(r, st, LSC_VIEW_SERIES, 0, L->cols, 1);
    if (!s->n_steps || L->pane_h < 2)
        return;
    size_t n = s->n_steps;
    double *x = malloc(n * sizeof *x), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!x || !a || !b) {
        free(x);
        free(a);
        free(b);
        return;
    }
    size_t layer = st->series.mean || !l->n ? (size_t)-1 : l->order[l->cursor];
    lsc_tui_series_curve(st, layer, a);
    for (size_t j = 0; j < n; j++) {
        x[j] = (double)s->steps[j].step;
        b[j] = j == st->series.step ? a[j] : NAN; /* the selected step, drawn as the second series */
    }
    draw_heading(r, st, a);
    int h = L->pane_h - 1, w = L->cols - 2;
    lsc_chart_mode m = r->unicode ? LSC_CHART_BRAILLE : LSC_CHART_ASCII;
    if (h >= 4 && canvas(r, w, h) == 0) {
        lsc_chart_lines(&r->cv, (lsc_chart_rect){0, 0, w, h}, m, x, a, b, n, 0, NAN, 0);
        lsc_chart_xmark(&r->cv, (lsc_chart_rect){0, 0, w, h}, m, x, n, 0, x[st->series.step]);
        blit(r, L->pane_y + 1, 1);
    }
    free(x);
    free(a);
    free(b);
}
