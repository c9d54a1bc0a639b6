/* render_kind.c: the kind panel (view_kind.c): one figure per adapter kind (dynamic, adaptive, sparse,
 * layer-wise, multi-task, loha/lokr, static) — curses, like every render*.c file; the protocol is in render.c's head
 * comment. Reads the state, never changes it.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"
#include "numfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the kind panel ----------------------------------------------------------------------------------- */

/* A horizontal bar of w cells: frac of it filled, a mark (target) at mark_frac when >= 0. */
static void put_bar(lsc_tui_render *r, int y, int x, int w, double frac, double mark_frac, attr_t a)
{
    if (w <= 0)
        return;
    int fill = (int)lround((frac > 1 ? 1 : frac < 0 ? 0 : frac) * w);
    int mark = mark_frac >= 0 ? (int)lround((mark_frac > 1 ? 1 : mark_frac) * w) - 1 : -1;
    for (int i = 0; i < w; i++) {
        if (i == mark)
            put_glyph(r, y, x + i, r->unicode ? 0x2503 : '|', r->attr[R_MARK]);
        else if (i < fill)
            put_glyph(r, y, x + i, r->unicode ? 0x2588 : '#', a);
        else
            put_glyph(r, y, x + i, r->unicode ? 0x2591 : '.', r->attr[R_DIM]);
    }
}

static void kind_row_attr(lsc_tui_render *r, const lsc_tui_state *st, size_t row, int y, int x, int w, attr_t *a)
{
    int sel = row == st->kind.cursor;
    *a = sel ? r->attr[R_SELECTED] : r->attr[R_NORMAL];
    put_text(r, y, x, w, "", 0, 0, *a);
    put_text(r, y, x, 1, sel ? ">" : "", 0, 0, *a);
}

static void draw_kind_dynamic(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    char t[600], e[LSC_TUI_NAME_MAX * 4], n1[32];
    snprintf(t, sizeof t, " DyLoRA: error of each prefix rank b (scale alpha/b) against the best rank-b truncation; %zu layers, b up to %d",
             k->n_layers, k->n_b);
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    if (K->widest_layer < k->n_layers) {
        lsc_tui_fmt_num(K->widest_gap, n1, sizeof n1);
        snprintf(t, sizeof t, " widest gap: %s at b=%d (%s)",
                 lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, k->layers[K->widest_layer].name)), K->widest_b, n1);
    } else {
        snprintf(t, sizeof t, " no gap: every prefix is as good as the best truncation");
    }
    put_text(r, 2, 0, L->cols, t, 0, 1, r->attr[R_TAGGED]);
    /* the chart of the row under the cursor */
    const double *pe = k->mean_prefix_err, *be = k->mean_best_err;
    size_t n = (size_t)k->n_b;
    const char *what = "mean over the layers";
    if (K->cursor > 0 && K->cursor - 1 < k->n_layers) {
        const lsc_tui_kind_layer *ly = &k->layers[K->cursor - 1];
        pe = k->prefix_err + ly->off;
        be = k->best_err + ly->off;
        n = (size_t)ly->rank;
        what = lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name));
    }
    int uni = r->unicode;
    snprintf(t, sizeof t, " %s  %s prefix  %s best  y %s (m)", what, uni ? "\u28ff" : "*", uni ? "\u28ff" : "o",
             K->alt ? "linear" : "log");
    put_text(r, L->pane_y, L->pane_x, L->pane_w, t, 0, TRUNC_START, r->attr[R_HEADER]);
    int ch = L->pane_h - 1, cw = L->pane_w - 1;
    if (ch >= 4 && cw >= 12 && canvas(r, cw, ch) == 0) {
        lsc_chart_lines(&r->cv, (lsc_chart_rect){0, 0, cw, ch}, uni ? LSC_CHART_BRAILLE : LSC_CHART_ASCII, NULL, pe, be, n,
                        0, NAN, !K->alt);
        blit(r, L->pane_y + 1, L->pane_x);
    }
    if (L->pane_x)
        for (int y = L->pane_y; y < L->pane_y + L->pane_h; y++)
            put_glyph(r, y, L->pane_x - 1, uni ? 0x2502 : '|', r->attr[R_DIM]);
    /* the layers */
    int tw = L->pane_x ? L->pane_x - 1 : L->cols, nw = tw - 2 - 20;
    put_text(r, L->header_y, 0, tw, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2, nw, "layer", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw, 4, "r", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 4, 16, "widest gap at b", 1, 0, r->attr[R_HEADER]);
    size_t rows = k->n_layers + 1;
    for (int i = 0; i < L->body_h && K->top + (size_t)i < rows; i++) {
        size_t row = K->top + (size_t)i;
        int y = L->body_y + i;
        attr_t a;
        kind_row_attr(r, st, row, y, 0, tw, &a);
        if (row == 0) {
            put_text(r, y, 2, nw, "all layers (mean)", 0, 0, a);
            snprintf(t, sizeof t, "%d", k->n_b);
            put_text(r, y, 2 + nw, 4, t, 1, 0, a);
            continue;
        }
        const lsc_tui_kind_layer *ly = &k->layers[row - 1];
        double g = 0;
        int gb = 0;
        for (int j = 0; j < ly->rank; j++) {
            double d = k->prefix_err[ly->off + (size_t)j] - k->best_err[ly->off + (size_t)j];
            if (d > g)
                g = d, gb = j + 1;
        }
        put_text(r, y, 2, nw, lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)), 0, TRUNC_MIDDLE, a);
        snprintf(t, sizeof t, "%d", ly->rank);
        put_text(r, y, 2 + nw, 4, t, 1, 0, a);
        lsc_tui_fmt_num(g, n1, sizeof n1);
        snprintf(t, sizeof t, gb ? "%s at %d" : "-", n1, gb);
        put_text(r, y, 2 + nw + 4, 16, t, 1, 0, a);
    }
}

static void draw_kind_adaptive(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    char t[600], e[LSC_TUI_NAME_MAX * 4], n1[32], n2[32];
    double lmin = INFINITY, lmax = 0, orth = 0;
    for (size_t i = 0; i < k->n_layers; i++) {
        if (isfinite(k->layers[i].lambda_min) && k->layers[i].lambda_min < lmin)
            lmin = k->layers[i].lambda_min;
        if (isfinite(k->layers[i].lambda_max) && k->layers[i].lambda_max > lmax)
            lmax = k->layers[i].lambda_max;
        orth = fmax(orth, fmax(k->layers[i].orth_p, k->layers[i].orth_q)); /* fmax skips a NaN */
    }
    snprintf(t, sizeof t, " AdaLoRA: budget %lld of %lld triplets kept (target_r %d per layer, from init_r %d)",
             (long long)k->budget, (long long)k->target_budget, k->target_r, k->init_r);
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    lsc_tui_fmt_num(isfinite(lmin) ? lmin : NAN, n1, sizeof n1);
    lsc_tui_fmt_num(lmax, n2, sizeof n2);
    char n3[32];
    lsc_tui_fmt_num(orth, n3, sizeof n3);
    snprintf(t, sizeof t, " |%s| over all layers %s .. %s   orthogonality error at most %s   bars: kept of init_r, %s = target_r%s",
             r->unicode ? "\u039b" : "L", n1, n2, n3, r->unicode ? "\u2503" : "|",
             k->budget > k->target_budget ? "   over the global budget" : "");
    put_text(r, 2, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    int bw = L->cols >= 120 ? 36 : 16, nw = L->cols - 2 - 8 - bw - 2 - 30;
    put_text(r, L->header_y, 0, L->cols, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2, nw, "layer", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw, 8, "kept", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 9, bw, "budget", 0, 0, r->attr[R_HEADER]);
    snprintf(t, sizeof t, "|%s| min", r->unicode ? "\u039b" : "L");
    put_text(r, L->header_y, 2 + nw + 10 + bw, 9, t, 1, 0, r->attr[R_HEADER]);
    snprintf(t, sizeof t, "max");
    put_text(r, L->header_y, 2 + nw + 10 + bw + 10, 9, t, 1, 0, r->attr[R_HEADER]);
    /* AdaLoRA keeps P and Q near orthogonal: the larger of ||P^T P - I|| and ||Q Q^T - I|| */
    put_text(r, L->header_y, 2 + nw + 10 + bw + 20, 9, "orth.err", 1, 0, r->attr[R_HEADER]);
    int init = k->init_r > 0 ? k->init_r : 1;
    for (int i = 0; i < L->body_h && K->top + (size_t)i < k->n_layers; i++) {
        size_t row = K->top + (size_t)i;
        const lsc_tui_kind_layer *ly = &k->layers[row];
        int y = L->body_y + i;
        attr_t a;
        kind_row_attr(r, st, row, y, 0, L->cols, &a);
        put_text(r, y, 2, nw, lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)), 0, TRUNC_MIDDLE, a);
        snprintf(t, sizeof t, "%d/%d", ly->kept, k->init_r);
        put_text(r, y, 2 + nw, 8, t, 1, 0, a);
        put_bar(r, y, 2 + nw + 9, bw, (double)ly->kept / init, k->target_r > 0 ? (double)k->target_r / init : -1,
                row == K->cursor ? a : r->attr[R_SERIES_A]);
        lsc_tui_fmt_num(ly->lambda_min, n1, sizeof n1);
        lsc_tui_fmt_num(ly->lambda_max, n2, sizeof n2);
        put_text(r, y, 2 + nw + 10 + bw, 9, n1, 1, 0, a);
        put_text(r, y, 2 + nw + 10 + bw + 10, 9, n2, 1, 0, a);
        lsc_tui_fmt_num(fmax(ly->orth_p, ly->orth_q), n1, sizeof n1);
        put_text(r, y, 2 + nw + 10 + bw + 20, 9, n1, 1, 0, a);
    }
}

static void draw_kind_sparse(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    char t[600], e[LSC_TUI_NAME_MAX * 4], pc[32];
    snprintf(t, sizeof t, " SoRA: %lld of %lld rank directions live (%s of the gates closed)", (long long)k->live_gates,
             (long long)k->rank_total,
             lsc_fmt_pct(pc, sizeof pc, k->rank_total ? (double)(k->rank_total - k->live_gates) / (double)k->rank_total : 0.0, 1));
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    put_text(r, 2, 0, L->cols, " bars: live gates of the layer's rank; zeros: exact zeros in A and B", 0, 0, r->attr[R_NORMAL]);
    int tw = L->pane_x ? L->pane_x - 1 : L->cols, bw = tw >= 70 ? 16 : 8, nw = tw - 2 - 6 - bw - 2 - 14;
    put_text(r, L->header_y, 0, tw, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2, nw, "layer", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw, 6, "gates", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 7, bw, "live", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 8 + bw, 6, "0s A", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 15 + bw, 6, "0s B", 1, 0, r->attr[R_HEADER]);
    for (int i = 0; i < L->body_h && K->top + (size_t)i < k->n_layers; i++) {
        size_t row = K->top + (size_t)i;
        const lsc_tui_kind_layer *ly = &k->layers[row];
        int y = L->body_y + i;
        attr_t a;
        kind_row_attr(r, st, row, y, 0, tw, &a);
        put_text(r, y, 2, nw, lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)), 0, TRUNC_MIDDLE, a);
        snprintf(t, sizeof t, "%d/%d", ly->kept, ly->rank);
        put_text(r, y, 2 + nw, 6, t, 1, 0, a);
        put_bar(r, y, 2 + nw + 7, bw, ly->rank ? (double)ly->kept / ly->rank : 0, -1,
                row == K->cursor ? a : r->attr[R_SERIES_A]);
        lsc_fmt_pct(t, sizeof t, ly->zeros_a, 1);
        put_text(r, y, 2 + nw + 8 + bw, 6, t, 1, 0, a);
        lsc_fmt_pct(t, sizeof t, ly->zeros_b, 1);
        put_text(r, y, 2 + nw + 15 + bw, 6, t, 1, 0, a);
    }
    /* the magnitude histogram */
    if (L->pane_x)
        for (int y = L->pane_y; y < L->pane_y + L->pane_h; y++)
            put_glyph(r, y, L->pane_x - 1, r->unicode ? 0x2502 : '|', r->attr[R_DIM]);
    int64_t total = 0, peak = 1;
    size_t a0 = 0, a1 = 0;
    for (size_t i = 0; i < k->n_hist; i++) {
        total += k->hist[i];
        peak = k->hist[i] > peak ? k->hist[i] : peak;
    }
    for (a0 = 0; a0 < k->n_hist && !k->hist[a0]; a0++)
        ;
    for (a1 = k->n_hist; a1 > a0 && !k->hist[a1 - 1]; a1--)
        ;
    snprintf(t, sizeof t, " |A|, |B| entries by magnitude (%lld)", (long long)total);
    put_text(r, L->pane_y, L->pane_x, L->pane_w, t, 0, 0, r->attr[R_HEADER]);
    int hb = L->pane_w - 16 - 10 - 1;
    for (size_t i = a0, y = (size_t)L->pane_y + 1; i < a1 && y < (size_t)(L->pane_y + L->pane_h); i++, y++) {
        char lab[32], cnt[32];
        int last = (int)k->n_hist - 1;
        if (i == 0)
            snprintf(lab, sizeof lab, "0 or < 1e%d", k->hist_lo_exp);
        else if ((int)i == last)
            snprintf(lab, sizeof lab, ">= 1e%d", k->hist_lo_exp + last - 1);
        else
            snprintf(lab, sizeof lab, "1e%d..1e%d", k->hist_lo_exp + (int)i - 1, k->hist_lo_exp + (int)i);
        snprintf(cnt, sizeof cnt, "%lld", (long long)k->hist[i]);
        put_text(r, (int)y, L->pane_x + 1, 15, lab, 1, 0, r->attr[R_NORMAL]);
        put_text(r, (int)y, L->pane_x + 17, 9, cnt, 1, 0, r->attr[R_NORMAL]);
        int w = (int)lround((double)hb * (double)k->hist[i] / (double)peak);
        for (int x = 0; x < w; x++)
            put_glyph(r, (int)y, L->pane_x + 27 + x, r->unicode ? 0x2588 : '#', r->attr[R_SERIES_B]);
    }
}

static void draw_kind_layerwise(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    lsc_chart_mode gm = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
    size_t cells = (size_t)k->n_blocks * (size_t)k->n_modules;
    double mx = 0;
    for (size_t c = 0; c < cells; c++) {
        double v = K->alt ? k->share_grid[c] : k->rank_grid[c];
        mx = v > mx ? v : mx;
    }
    char t[400];
    snprintf(t, sizeof t, " layer-wise: %s per layer x module (m: %s); . = not adapted", K->alt ? "share of the adapter's energy" : "rank",
             K->alt ? "rank" : "energy share");
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    snprintf(t, sizeof t, " %d blocks x %d modules, heat up to %s%.3g%s", k->n_blocks, k->n_modules, K->alt ? "" : "r=",
             K->alt ? 100 * mx : mx, K->alt ? "%" : "");
    put_text(r, 2, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    int n = k->n_modules ? k->n_modules : 1, cw = (L->cols - 8) / n;
    cw = cw > 12 ? 12 : cw < 4 ? 4 : cw;
    put_text(r, L->header_y, 0, L->cols, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 0, 7, "layer", 1, 0, r->attr[R_HEADER]);
    for (int c = 0; c < k->n_modules; c++)
        put_text(r, L->header_y, 8 + c * cw, cw - 1, k->modules[c], 1, 0, r->attr[R_HEADER]);
    for (int i = 0; i < L->body_h && K->top + (size_t)i < (size_t)k->n_blocks; i++) {
        size_t b = K->top + (size_t)i;
        int y = L->body_y + i, sel = b == K->cursor;
        snprintf(t, sizeof t, "%zu", b);
        put_text(r, y, 0, 1, sel ? ">" : "", 0, 0, r->attr[R_NORMAL]);
        put_text(r, y, 1, 6, t, 1, 0, r->attr[sel ? R_SELECTED : R_NORMAL]);
        for (int c = 0; c < k->n_modules; c++) {
            size_t ci = b * (size_t)k->n_modules + (size_t)c;
            int x = 8 + c * cw;
            if (!k->rank_grid[ci]) {
                put_text(r, y, x, cw - 1, ".", 1, 0, r->attr[R_DIM]);
                continue;
            }
            double v = K->alt ? k->share_grid[ci] : k->rank_grid[ci];
            if (K->alt)
                snprintf(t, sizeof t, "%.1f%%", 100 * v);
            else
                snprintf(t, sizeof t, "%d", k->rank_grid[ci]);
            int lv = heat_level(v, mx);
            put_text(r, y, x, cw - 1, t, 1, 0, r->attr[sel ? R_SELECTED : R_NORMAL]);
            if (cw >= 8) {
                uint32_t g = lsc_chart_shade(lv, gm);
                put_glyph(r, y, x, g, r->attr[R_HEAT1 + (lv > 0 ? lv - 1 : 0)]);
                put_glyph(r, y, x + 1, g, r->attr[R_HEAT1 + (lv > 0 ? lv - 1 : 0)]);
            }
        }
    }
}

/* One task x task matrix at (y, x): a header of task names, then a row per task; cells carry a shade of
 * |cosine| and the value. Returns the width used. */
static int draw_matrix(lsc_tui_render *r, const lsc_tui_kind_figures *k, const double *m, int y, int x, int w,
                       const char *title)
{
    lsc_chart_mode gm = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
    int nt = k->n_tasks, cw = 9, lw = 11;
    int need = lw + nt * cw;
    if (need > w)
        cw = nt ? (w - lw) / nt : cw;
    if (cw < 6)
        return 0;
    put_text(r, y, x, lw + nt * cw, title, 0, 1, r->attr[R_TAGGED]);
    y++;
    put_text(r, y, x, lw + nt * cw, "", 0, 0, r->attr[R_HEADER]);
    for (int b = 0; b < nt; b++)
        put_text(r, y, x + lw + b * cw, cw - 1, k->tasks[b].task, 1, 0, r->attr[R_HEADER]);
    for (int a = 0; a < nt; a++) {
        put_text(r, y + 1 + a, x, lw - 1, k->tasks[a].task, 1, 0, r->attr[R_NORMAL]);
        for (int b = 0; b < nt; b++) {
            double c = m[a * nt + b];
            char t[32];
            snprintf(t, sizeof t, "%+.3f", c);
            int lv = heat_level(fabs(c), 1.0);
            put_text(r, y + 1 + a, x + lw + b * cw, cw - 1, t, 1, 0, r->attr[a == b ? R_DIM : R_NORMAL]);
            put_glyph(r, y + 1 + a, x + lw + b * cw, lsc_chart_shade(lv, gm), r->attr[R_HEAT1 + (lv > 0 ? lv - 1 : 0)]);
        }
    }
    return lw + nt * cw;
}

static void draw_kind_multitask(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    char t[800], e[LSC_TUI_NAME_MAX * 4];
    snprintf(t, sizeof t, " multi-task: %d tasks, %zu layers in every task; task x task cosines; A stored once in %d; shared input directions >= %d per layer",
             k->n_tasks, k->n_layers, k->shared_a_layers, k->shared_dim_min);
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    size_t len = (size_t)snprintf(t, sizeof t, " norms:");
    for (int a = 0; a < k->n_tasks && len < sizeof t; a++) {
        char n1[32];
        lsc_tui_fmt_num(k->task_norms[a], n1, sizeof n1);
        len += (size_t)snprintf(t + len, sizeof t - len, "  %s %s", k->tasks[a].task, n1);
    }
    put_text(r, 2, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    int used = draw_matrix(r, k, k->task_cosine, L->pane_y, 1, L->cols / 2 - 2, "all layers");
    if (K->cursor > 0 && K->cursor - 1 < k->n_layers) {
        const lsc_tui_kind_layer *ly = &k->layers[K->cursor - 1];
        char title[LSC_TUI_NAME_MAX * 4 + 16];
        snprintf(title, sizeof title, "%s", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)));
        int x = used ? used + 4 : 1;
        draw_matrix(r, k, k->cosine + ly->off, L->pane_y, x, L->cols - x - 1, title);
    } else if (used && L->cols - used - 4 > 20) {
        put_text(r, L->pane_y + 1, used + 4, L->cols - used - 5, "j/k: a layer's own matrix", 0, 0, r->attr[R_DIM]);
    }
    int nw = L->cols - 2 - 30;
    put_text(r, L->header_y, 0, L->cols, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2, nw, "layer (in every task)", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw, 9, "shared A", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 10, 9, "shared in", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 20, 9, "max |cos|", 1, 0, r->attr[R_HEADER]);
    size_t nn = (size_t)k->n_tasks * (size_t)k->n_tasks;
    for (int i = 0; i < L->body_h && K->top + (size_t)i < k->n_layers + 1; i++) {
        size_t row = K->top + (size_t)i;
        int y = L->body_y + i;
        attr_t a;
        kind_row_attr(r, st, row, y, 0, L->cols, &a);
        const double *m = row ? k->cosine + k->layers[row - 1].off : k->task_cosine;
        double mc = 0;
        for (size_t q = 0; q < nn; q++)
            if (q / (size_t)k->n_tasks != q % (size_t)k->n_tasks && fabs(m[q]) > mc)
                mc = fabs(m[q]);
        snprintf(t, sizeof t, "%.4f", mc);
        put_text(r, y, 2 + nw + 20, 9, t, 1, 0, a);
        if (!row) {
            put_text(r, y, 2, nw, "all layers", 0, 0, a);
            snprintf(t, sizeof t, "%d", k->shared_a_layers);
            put_text(r, y, 2 + nw, 9, t, 1, 0, a);
            snprintf(t, sizeof t, ">= %d", k->shared_dim_min);
            put_text(r, y, 2 + nw + 10, 9, t, 1, 0, a);
            continue;
        }
        const lsc_tui_kind_layer *ly = &k->layers[row - 1];
        put_text(r, y, 2, nw, lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)), 0, TRUNC_MIDDLE, a);
        put_text(r, y, 2 + nw, 9, ly->shared_a ? "yes" : "no", 1, 0, a);
        snprintf(t, sizeof t, "%d", ly->shared_dim);
        put_text(r, y, 2 + nw + 10, 9, t, 1, 0, a);
    }
}

static void draw_kind_static(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_layout *L = &st->lay;
    char t[300];
    snprintf(t, sizeof t, " %s adapter: nothing particular to its kind - every layer is a plain B A at its rank",
             K->kf.kind[0] ? K->kf.kind : "static");
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    put_text(r, 2, 0, L->cols, " layers by rank:", 0, 0, r->attr[R_NORMAL]);
    int peak = 1;
    for (int i = 0; i < K->n_ranks; i++)
        peak = K->rank_count[i] > peak ? K->rank_count[i] : peak;
    int bw = L->cols - 20;
    for (int i = 0; i < K->n_ranks && 3 + i < L->status_y; i++) {
        snprintf(t, sizeof t, "r=%d", K->ranks[i]);
        put_text(r, 3 + i, 2, 7, t, 1, 0, r->attr[R_NORMAL]);
        snprintf(t, sizeof t, "%d", K->rank_count[i]);
        put_text(r, 3 + i, 10, 6, t, 1, 0, r->attr[R_NORMAL]);
        int w = (int)lround((double)bw * K->rank_count[i] / peak);
        for (int x = 0; x < w; x++)
            put_glyph(r, 3 + i, 17 + x, r->unicode ? 0x2588 : '#', r->attr[R_SERIES_A]);
    }
}

/* One spectrum chart (a, and b when non-NULL, padded with NaN to n) at rows y .. y + h - 1 of the pane. */
static void lyc_chart(lsc_tui_render *r, const lsc_tui_state *st, int y, int h, const double *a, int na,
                      const double *b, int nb)
{
    const lsc_tui_layout *L = &st->lay;
    int n = na > nb ? na : nb, cw = L->pane_w - 1;
    if (n <= 0 || h < 4 || cw < 12)
        return;
    double *pa = malloc((size_t)n * sizeof *pa), *pb = b ? malloc((size_t)n * sizeof *pb) : NULL;
    if (pa && (!b || pb) && canvas(r, cw, h) == 0) {
        for (int i = 0; i < n; i++) {
            pa[i] = i < na ? a[i] : NAN;
            if (pb)
                pb[i] = i < nb ? b[i] : NAN;
        }
        lsc_chart_lines(&r->cv, (lsc_chart_rect){0, 0, cw, h}, r->unicode ? LSC_CHART_BRAILLE : LSC_CHART_ASCII, NULL, pa,
                        pb, (size_t)n, 0, NAN, !st->kind.alt);
        blit(r, y, L->pane_x);
    }
    free(pa);
    free(pb);
}

/* The parts of a LoHa / LoKr layer in words: "4 + 4" or "8x8 (x) 16x16 r4". */
static void lyc_parts(const lsc_tui_kind_layer *ly, int tight, char *t, size_t cap)
{
    if (strcmp(ly->part, "lokr") == 0)
        snprintf(t, cap, tight ? "%lldx%lld%s(x)%lldx%lld%s" : "%lldx%lld%s (x) %lldx%lld%s", (long long)ly->w1_rows,
                 (long long)ly->w1_cols, ly->r1 ? "*" : "", (long long)ly->w2_rows, (long long)ly->w2_cols,
                 ly->r2 ? "*" : "");
    else if (strcmp(ly->part, "loha") == 0)
        snprintf(t, cap, "r %d + %d", ly->r1, ly->r2);
    else
        snprintf(t, cap, "Tucker r %d", ly->r1);
}

/* LoHa: the two pairs' spectra and the product's; LoKr: the Kronecker shapes and both factors' spectra
 * beside the product's. A list of the LyCORIS layers on the left (or below), the cursor's charts. */
static void draw_kind_lycoris(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    int lokr = strcmp(k->kind, "lokr") == 0, uni = r->unicode;
    char t[600], e[LSC_TUI_NAME_MAX * 4], n1[32], n2[32], n3[32], pt[96];
    snprintf(t, sizeof t,
             lokr ? " LoKr: dW = s W1 (x) W2; its singular values are the products s_i(W1) s_j(W2); %zu layers (* decomposed)"
                  : " LoHa: dW = s (B1 A1) o (B2 A2), a low-rank product of rank <= r1 r2; %zu layers",
             k->n_layers);
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    const lsc_tui_kind_layer *ly = K->cursor < k->n_layers ? &k->layers[K->cursor] : NULL;
    if (ly && k->part_sv) {
        const double *sv = k->part_sv;
        lsc_tui_fmt_num(ly->n_sv1 ? sv[ly->off1] : 0, n1, sizeof n1);
        lsc_tui_fmt_num(ly->n_sv2 ? sv[ly->off2] : 0, n2, sizeof n2);
        lsc_tui_fmt_num(ly->n_svp ? sv[ly->offp] : 0, n3, sizeof n3);
        lyc_parts(ly, 0, pt, sizeof pt);
        snprintf(t, sizeof t, " %s: %s   s1: %s %s, %s %s, dW %s", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)),
                 pt, lokr ? "W1" : "B1A1", n1, lokr ? "W2" : "B2A2", n2, n3);
        put_text(r, 2, 0, L->cols, t, 0, 1, r->attr[R_TAGGED]);
        int top_h = (L->pane_h - 2) / 2, bot_h = L->pane_h - 2 - top_h;
        snprintf(t, sizeof t, " %s %s  %s %s  y %s (o)", uni ? "\u28ff" : "*", lokr ? "W1" : "B1 A1", uni ? "\u28ff" : "o",
                 lokr ? "W2" : "B2 A2", K->alt ? "linear" : "log");
        put_text(r, L->pane_y, L->pane_x, L->pane_w, t, 0, TRUNC_START, r->attr[R_HEADER]);
        lyc_chart(r, st, L->pane_y + 1, top_h, sv + ly->off1, ly->n_sv1, sv + ly->off2, ly->n_sv2);
        snprintf(t, sizeof t, " %s dW (%d values, from the factors)", uni ? "\u28ff" : "*", ly->n_svp);
        put_text(r, L->pane_y + 1 + top_h, L->pane_x, L->pane_w, t, 0, TRUNC_START, r->attr[R_HEADER]);
        lyc_chart(r, st, L->pane_y + 2 + top_h, bot_h, sv + ly->offp, ly->n_svp, NULL, 0);
    }
    if (L->pane_x)
        for (int y = L->pane_y; y < L->pane_y + L->pane_h; y++)
            put_glyph(r, y, L->pane_x - 1, uni ? 0x2502 : '|', r->attr[R_DIM]);
    int tw = L->pane_x ? L->pane_x - 1 : L->cols, pw = lokr ? 17 : 10, nw = tw - 2 - pw - 5 - 8;
    put_text(r, L->header_y, 0, tw, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2, nw, "layer", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw, pw, "parts", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + pw, 5, "r", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + pw + 5, 8, "s1", 1, 0, r->attr[R_HEADER]);
    for (int i = 0; i < L->body_h && K->top + (size_t)i < k->n_layers; i++) {
        size_t row = K->top + (size_t)i;
        const lsc_tui_kind_layer *y = &k->layers[row];
        attr_t a;
        kind_row_attr(r, st, row, L->body_y + i, 0, tw, &a);
        put_text(r, L->body_y + i, 2, nw, lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, y->name)), 0, TRUNC_MIDDLE, a);
        lyc_parts(y, 1, pt, sizeof pt);
        put_text(r, L->body_y + i, 2 + nw, pw, pt, 1, 0, a);
        snprintf(t, sizeof t, "%d", y->rank);
        put_text(r, L->body_y + i, 2 + nw + pw, 5, t, 1, 0, a);
        lsc_tui_fmt_num(k->part_sv && y->n_svp ? k->part_sv[y->offp] : 0, n1, sizeof n1);
        put_text(r, L->body_y + i, 2 + nw + pw + 5, 8, n1, 1, 0, a);
    }
}

void lsc_tui_draw_kind(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    if (!K->ok) {
        char t[LSC_ERROR_MSG_MAX + 16];
        snprintf(t, sizeof t, "error: %s", K->error);
        put_text(r, 1, 0, st->lay.cols, t, 0, 0, r->attr[R_ERROR]);
        return;
    }
    switch (lsc_kind_parse(K->kf.kind)) {
    case LSC_KIND_DYNAMIC: draw_kind_dynamic(r, st); break;
    case LSC_KIND_ADAPTIVE: draw_kind_adaptive(r, st); break;
    case LSC_KIND_SPARSE: draw_kind_sparse(r, st); break;
    case LSC_KIND_LAYERWISE: draw_kind_layerwise(r, st); break;
    case LSC_KIND_MULTITASK: draw_kind_multitask(r, st); break;
    case LSC_KIND_LOHA:
    case LSC_KIND_LOKR: draw_kind_lycoris(r, st); break;
    default: draw_kind_static(r, st); break;
    }
}
