/* render_retrain.c: the retrain panel (view_retrain.c): its fields and the loss curve of the last run
 * (live while it runs) — curses, like every render*.c file; the protocol is in render.c's head comment.
 * Reads the state, never changes it.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"
#include "numfmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the retrain panel -------------------------------------------------------------------------------- */

void lsc_tui_draw_retrain(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_retrain_panel *R = &st->retrain;
    const lsc_tui_layout *L = &st->lay;
    static const char *const labels[LSC_RT_FIELD_COUNT] = {"target", "kind", "rank", "steps", "lr", "init", "seed",
                                                           "final-rank", "lambda"};
    const char *own_kind = "static";
    for (size_t i = 0; i < st->catalog.n; i++)
        if (strcmp(st->catalog.rows[i].name, R->adapter) == 0)
            own_kind = st->catalog.rows[i].kind;
    for (int f = 0; f < LSC_RT_FIELD_COUNT; f++) {
        int y = 1 + f, sel = f == R->field, unused = 0;
        char val[LSC_TUI_NAME_MAX + 32], hint[300];
        lsc_tui_retrain_field_text(st, f, val, sizeof val);
        switch (f) {
        case LSC_RT_TARGET: snprintf(hint, sizeof hint, "the adapter to reproduce: Left/Right the tagged, then all; e types"); break;
        case LSC_RT_KIND: snprintf(hint, sizeof hint, "the training rule (default from '%s': %s)", R->adapter, own_kind); break;
        case LSC_RT_RANK: snprintf(hint, sizeof hint, "trainable rank (own: each layer's)"); break;
        case LSC_RT_STEPS: snprintf(hint, sizeof hint, "Adam steps, warm-up 5%% then cosine decay"); break;
        case LSC_RT_LR: snprintf(hint, sizeof hint, "peak learning rate"); break;
        case LSC_RT_INIT: snprintf(hint, sizeof hint, "self: the factors cut or padded; svd: the exact optimum; random"); break;
        case LSC_RT_SEED: snprintf(hint, sizeof hint, "same seed, same bytes"); break;
        case LSC_RT_FINAL_RANK:
            unused = R->kind != 2;
            snprintf(hint, sizeof hint, "%s", unused ? "adaptive only" : "the per-layer budget it ends at");
            break;
        default:
            unused = R->kind != 3;
            snprintf(hint, sizeof hint, "%s", unused ? "sparse only" : "L1 step on the gates");
            break;
        }
        attr_t a = sel ? r->attr[R_SELECTED] : unused ? r->attr[R_DIM] : r->attr[R_TAGGED];
        put_text(r, y, 0, 2, sel ? ">" : "", 0, 0, a);
        put_text(r, y, 2, 11, labels[f], 0, 0, sel ? a : r->attr[R_NORMAL]);
        put_text(r, y, 13, 26, val, 0, 1, a);
        put_text(r, y, 40, L->cols - 40, hint, 0, 0, r->attr[R_DIM]);
    }
    int y = 1 + LSC_RT_FIELD_COUNT;
    char t[900], e[LSC_TUI_NAME_MAX * 4];
    const lsc_tui_train_point *last = R->n_pts ? &R->pts[R->n_pts - 1] : NULL;
    if (st->job && st->job_kind == LSC_JOB_RETRAIN) {
        if (last) {
            char eta[32] = "";
            if (isfinite(last->eta))
                snprintf(eta, sizeof eta, "  ETA %d:%02d", (int)last->eta / 60, (int)last->eta % 60);
            char xo[32];
            snprintf(t, sizeof t, " %s step %ld/%ld  loss %.4g  %s of the optimum  lr %.2e%s%s",
                     R->paused ? "PAUSED" : "running", last->step, last->steps, last->loss,
                     lsc_fmt_num(xo, sizeof xo, "x%.3f", lsc_ratio(last->loss, last->optimum)), last->lr, eta,
                     R->paused ? "  (p resumes)" : "");
        } else {
            snprintf(t, sizeof t, " %s: starting (reading the factors, the target's optimum)", R->paused ? "PAUSED" : "running");
        }
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R->paused ? R_WARN : R_INFO]);
    } else if (R->ran && last) {
        char xo[32];
        snprintf(t, sizeof t, " last run into '%s': step %ld/%ld, loss %.4g (%s of the optimum %.4g)",
                 lsc_escape_name(e, sizeof e, R->new_name), last->step, last->steps, last->loss,
                 lsc_fmt_num(xo, sizeof xo, "x%.3f", lsc_ratio(last->loss, last->optimum)), last->optimum);
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    } else {
        lsc_tui_argv a;
        char nm[LSC_TUI_NAME_MAX + 16];
        snprintf(nm, sizeof nm, "%s-retrained", R->adapter);
        lsc_tui_retrain_argv(st, nm, &a);
        size_t len = (size_t)snprintf(t, sizeof t, " Enter runs:");
        for (int i = 0; i < a.argc && len < sizeof t; i++)
            len += (size_t)snprintf(t + len, sizeof t - len, " %s", lsc_escape_name(e, sizeof e, a.argv[i]));
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R_DIM]);
    }
    if (L->pane_h < 5)
        return;
    snprintf(t, sizeof t, " loss against step (log y; dashed: the optimum the rank allows)");
    put_text(r, L->pane_y, 0, L->cols, t, 0, 0, r->attr[R_HEADER]);
    int ch = L->pane_h - 1, cw = L->cols - 2;
    if (canvas(r, cw, ch) != 0)
        return;
    if (!R->n_pts) {
        lsc_canvas_text(&r->cv, 8, ch / 2, R->ran || st->job ? "waiting for the first report" : "no run yet: Enter starts one",
                        LSC_CROLE_LABEL);
        blit(r, L->pane_y + 1, 1);
        return;
    }
    double xs[LSC_TUI_TRAIN_POINTS], ys[LSC_TUI_TRAIN_POINTS];
    for (size_t i = 0; i < R->n_pts; i++) {
        xs[i] = (double)R->pts[i].step;
        ys[i] = R->pts[i].loss;
    }
    lsc_chart_lines(&r->cv, (lsc_chart_rect){0, 0, cw, ch}, r->unicode ? LSC_CHART_BRAILLE : LSC_CHART_ASCII, xs, ys,
                    NULL, R->n_pts, (double)last->steps, last->optimum, 1);
    blit(r, L->pane_y + 1, 1);
}
