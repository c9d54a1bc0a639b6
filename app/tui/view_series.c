/* view_series.c: a series (a training run's checkpoints by step; Enter on it in the catalog). The chart
 * plots one figure (norm, sigma1, effective rank, k90, similarity to the previous or to the final
 * checkpoint) against the step, for the layer under the cursor or the mean over the listed layers (the
 * filter is the glob); the table lists the layers with their figures at the selected step. h/l pick the
 * step, o the figure, a layer or mean, Enter opens the selected checkpoint's own layer table. The chart is
 * drawn by render_series.c. Never includes curses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

static void series_status(lsc_tui_state *st)
{
    const lsc_tui_series *s = &st->series.transient.data;
    if (!s->n_steps)
        return;
    const lsc_tui_series_step *p = &s->steps[st->series.step];
    char kl[16], kr[16], kf[16], km[16];
    lsc_tui_state_msg(st, LSC_MSG_INFO, "step %lld (%s, %zu/%zu) - %s/%s step, %s figure, %s layer/mean",
                      (long long)p->step, p->label, st->series.step + 1, s->n_steps,
                      lsc_tui_key_for(LSC_VIEW_SERIES, LSC_REQ_LEFT, kl, sizeof kl),
                      lsc_tui_key_for(LSC_VIEW_SERIES, LSC_REQ_RIGHT, kr, sizeof kr),
                      lsc_tui_key_for(LSC_VIEW_SERIES, LSC_REQ_METRIC, kf, sizeof kf),
                      lsc_tui_key_for(LSC_VIEW_SERIES, LSC_REQ_TOGGLE, km, sizeof km));
}

unsigned lsc_tui_series_open(lsc_tui_state *st, const char *name)
{
    lsc_error err = {0};
    lsc_tui_series s;
    memset(&s, 0, sizeof s);
    if (!st->model->series) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "this catalog cannot show the series '%s'", name);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_busy(st, "reading the checkpoints of '%s'", name);
    if (st->model->series(st->model->ctx, name, &s, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_series_release(&st->series.transient.data);
    st->series.transient.data = s;
    lsc_tui_copy(st->series.adapter, sizeof st->series.adapter, name);
    st->series.step = s.n_steps ? s.n_steps - 1 : 0; /* the final checkpoint first */
    lsc_tui_list_reset(st, LSC_VIEW_SERIES);
    lsc_tui_view_push(st, LSC_VIEW_SERIES);
    lsc_tui_list_rebuild(st, LSC_VIEW_SERIES);
    series_status(st);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

void lsc_tui_series_curve(const lsc_tui_state *st, size_t layer, double *out)
{
    const lsc_tui_series *s = &st->series.transient.data;
    const double *f = s->fig[st->series.fig];
    const lsc_tui_list *l = &st->lists[LSC_VIEW_SERIES];
    for (size_t j = 0; j < s->n_steps; j++) {
        if (layer != (size_t)-1) {
            out[j] = layer < s->n_layers ? f[layer * s->n_steps + j] : NAN;
            continue;
        }
        double sum = 0;
        size_t n = 0;
        for (size_t k = 0; k < l->n; k++) {
            double v = f[l->order[k] * s->n_steps + j];
            if (isfinite(v))
                sum += v, n++;
        }
        out[j] = n ? sum / (double)n : NAN;
    }
}

/* Closing: drop the figures, in one place. */
static void series_leave(lsc_tui_state *st, int closing)
{
    if (!closing)
        return;
    lsc_tui_series_release(&st->series.transient.data);
    st->series.transient = (struct lsc_tui_series_transient){0};
}

static unsigned series_step(lsc_tui_state *st, long delta)
{
    size_t n = st->series.transient.data.n_steps;
    long p = (long)st->series.step + delta;
    if (p < 0)
        p = 0;
    if (n && p >= (long)n)
        p = (long)n - 1;
    if (!n || (size_t)p == st->series.step)
        return 0;
    st->series.step = (size_t)p;
    series_status(st);
    return LSC_TUI_CH_REDRAW;
}

/* Enter: the selected checkpoint's own layer table (spectra, grid, panels as for any adapter). */
static unsigned series_enter(lsc_tui_state *st)
{
    const lsc_tui_series *s = &st->series.transient.data;
    if (!s->n_steps)
        return 0;
    if (lsc_tui_load_layers(st, s->steps[st->series.step].adapter) != 0)
        return LSC_TUI_CH_REDRAW;
    lsc_tui_view_push(st, LSC_VIEW_LAYERS);
    lsc_tui_list_rebuild(st, LSC_VIEW_LAYERS);
    lsc_tui_state_msg(st, LSC_MSG_INFO, "checkpoint '%s': %zu layers", s->steps[st->series.step].adapter, st->layers.n);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned series_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_LEFT: return series_step(st, -1);
    case LSC_REQ_RIGHT: return series_step(st, 1);
    case LSC_REQ_METRIC:
        st->series.fig = (st->series.fig + 1) % LSC_TUI_SERIES_FIG_COUNT;
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_TOGGLE:
        st->series.mean = !st->series.mean;
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_ENTER: return series_enter(st);
    case LSC_REQ_REFRESH: return 0;
    default: return LSC_TUI_CH_PASS;
    }
}

/* The chart over the table: about half the body, at least 8 rows when the screen allows. */
static void series_layout(lsc_tui_state *st, int *table_w)
{
    lsc_tui_layout *L = &st->lay;
    (void)table_w;
    int rows = L->lines - 4; /* between the title bar and the status line */
    int chart = rows / 2 < 8 ? (rows >= 12 ? 8 : rows / 2) : rows / 2;
    L->pane_y = 1;
    L->pane_x = 0;
    L->pane_w = L->cols;
    L->pane_h = chart;
    L->header_y = 1 + chart;
    L->body_y = 2 + chart;
    L->body_h = rows - chart - 1;
}

static const lsc_tui_binding k_keys[] = {
    LSC_KEYS_MOVE,
    {LSC_REQ_LEFT, {'h', LSC_KEY_LEFT}, "previous checkpoint (step)", "step", 1},
    {LSC_REQ_RIGHT, {'l', LSC_KEY_RIGHT}, "next checkpoint (step)", NULL, 0},
    {LSC_REQ_METRIC, {'o'}, "chart the next figure: norm, sigma1, eff. rank, k90, sim. prev/final", "figure", 2},
    {LSC_REQ_TOGGLE, {'a'}, "chart the layer under the cursor / the mean over the listed layers", "mean", 3},
    LSC_KEYS_PAGE,
    {LSC_REQ_ENTER, {LSC_KEY_ENTER, '\r'}, "the selected checkpoint's layer table", "open", 4},
    LSC_KEYS_SORT_SEARCH,
    LSC_KEYS_FILTER,
    LSC_KEYS_UNDO,
};

const lsc_tui_view_ops lsc_tui_view_series = {
    .view = LSC_VIEW_SERIES,
    .draw = lsc_tui_draw_series,
    .leave = series_leave,
    .request = series_request,
    .layout = series_layout,
    .keys = LSC_TUI_KEYS(k_keys),
};
