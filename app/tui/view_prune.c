/* view_prune.c: the prune panel: a rule and a threshold for one adapter, a live preview per layer, the
 * spectrum of the row under the cursor in a pane, and apply (name, confirm, run `prune`). Closing it drops
 * the pane's spectrum. Never includes curses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "view.h"

static int rule_is_integer(lsc_tui_prune_rule r) { return r == LSC_TUI_PRUNE_RANK || r == LSC_TUI_PRUNE_BUDGET; }

void lsc_tui_prune_value_text(const lsc_tui_state *st, char *buf, size_t cap)
{
    double v = st->prune.value[st->prune.rule];
    if (rule_is_integer(st->prune.rule))
        snprintf(buf, cap, "%lld", (long long)llround(v));
    else
        snprintf(buf, cap, "%.6g", v);
}

void lsc_tui_prune_default_name(const lsc_tui_state *st, char *buf, size_t cap)
{
    char v[64];
    lsc_tui_prune_value_text(st, v, sizeof v);
    snprintf(buf, cap, "%s-%s%s", st->prune.adapter, lsc_tui_prune_rule_name(st->prune.rule), v);
}

static double prune_default(const lsc_tui_state *st, lsc_tui_prune_rule r)
{
    int maxr = 1;
    int64_t sum = 0;
    for (size_t i = 0; i < st->layers.n; i++) {
        if (st->layers.rows[i].rank > maxr)
            maxr = st->layers.rows[i].rank;
        sum += st->layers.rows[i].rank;
    }
    switch (r) {
    case LSC_TUI_PRUNE_RANK: return maxr / 2 >= 1 ? maxr / 2 : 1;
    case LSC_TUI_PRUNE_ENERGY: return 0.9;
    case LSC_TUI_PRUNE_FRO: return 0.95;
    case LSC_TUI_PRUNE_CUMULATIVE: return 0.9;
    case LSC_TUI_PRUNE_RATIO: return 10;
    case LSC_TUI_PRUNE_BUDGET: return sum / 2 >= 1 ? (double)(sum / 2) : 1;
    default: return 1;
    }
}

/* Spectrum of the prune row under the cursor, for the chart pane. */
static void load_prune_sv(lsc_tui_state *st)
{
    lsc_tui_prune_panel *P = &st->prune;
    lsc_tui_list *l = &st->lists[LSC_VIEW_PRUNE];
    if (st->lay.pane_h <= 0 || !l->n) {
        if (!l->n)
            P->transient.sv_row = -1;
        return;
    }
    size_t row = l->order[l->cursor];
    if ((long)row == P->transient.sv_row)
        return;
    P->transient.sv_row = (long)row;
    lsc_tui_load_sv(st, P->adapter, P->transient.rows[row].name, &P->transient.sv, &P->transient.n_sv);
}

/* Recompute the preview of the current rule and threshold (called on every change). */
unsigned lsc_tui_prune_refresh(lsc_tui_state *st)
{
    lsc_tui_prune_panel *P = &st->prune;
    char vt[64];
    lsc_tui_prune_value_text(st, vt, sizeof vt);
    lsc_tui_prune_row *rows = NULL;
    size_t n = 0;
    lsc_tui_prune_totals tot;
    lsc_error err = {0};
    P->n_previews++;
    lsc_status s = st->model->prune_preview
                       ? st->model->prune_preview(st->model->ctx, P->adapter, P->rule, strtod(vt, NULL), P->glob, &rows,
                                                  &n, &tot, &err)
                       : lsc_error_set(&err, LSC_ERR_UNSUPPORTED, "this catalog cannot preview prunes");
    if (s != LSC_OK) {
        P->transient.ok = 0;
        lsc_tui_copy(P->transient.error, sizeof P->transient.error, err.msg);
        free(P->transient.rows);
        P->transient.rows = NULL;
        P->transient.n_rows = 0;
        memset(&P->transient.tot, 0, sizeof P->transient.tot);
        P->transient.sv_row = -1;
        lsc_tui_list_rebuild(st, LSC_VIEW_PRUNE);
        return LSC_TUI_CH_REDRAW;
    }
    free(P->transient.rows);
    P->transient.rows = rows;
    P->transient.n_rows = n;
    P->transient.tot = tot;
    P->transient.ok = 1;
    P->transient.error[0] = '\0';
    lsc_tui_list_rebuild(st, LSC_VIEW_PRUNE);
    load_prune_sv(st);
    return LSC_TUI_CH_REDRAW;
}

/* Keep the value within the rule's bounds from prune's option table (an open end: one small step inside
 * it), and within what the adapter has: --rank up to its largest rank, --budget up to its singular values. */
static void prune_clamp(lsc_tui_prune_panel *P, double unit)
{
    double *v = &P->value[P->rule];
    const lsc_opt *o = lsc_tui_option("prune", lsc_tui_prune_rule_name(P->rule));
    if (!o)
        return;
    double lo = o->type == LSC_OPT_INT ? (double)o->ilo : (o->flags & LSC_OPT_LO_OPEN) ? o->lo + unit : o->lo;
    double hi = o->type == LSC_OPT_INT ? (double)o->ihi : (o->flags & LSC_OPT_HI_OPEN) ? o->hi - unit : o->hi;
    if (P->rule == LSC_TUI_PRUNE_RANK && P->transient.tot.max_rank > 0 && P->transient.tot.max_rank < hi)
        hi = P->transient.tot.max_rank;
    if (P->rule == LSC_TUI_PRUNE_BUDGET && P->transient.tot.total_sv > 0 && (double)P->transient.tot.total_sv < hi)
        hi = (double)P->transient.tot.total_sv;
    if (hi > 1e6 && o->type == LSC_OPT_REAL) /* an unbounded ratio: the keys stop somewhere */
        hi = 1e6;
    if (*v < lo)
        *v = lo;
    if (*v > hi)
        *v = hi;
}

static const double k_small[LSC_TUI_PRUNE_RULE_COUNT] = {1, 0.01, 0.01, 0.01, 0.5, 1};

static unsigned prune_step(lsc_tui_state *st, int dir, int big)
{
    const double *small = k_small;
    static const double large[LSC_TUI_PRUNE_RULE_COUNT] = {4, 0.1, 0.1, 0.1, 5, 10};
    lsc_tui_prune_panel *P = &st->prune;
    double *v = &P->value[P->rule], old = *v, unit = small[P->rule];
    *v = round((*v + dir * (big ? large : small)[P->rule]) / unit) * unit; /* stay on the small step's grid */
    prune_clamp(P, unit);
    if (*v == old) {
        lsc_tui_state_msg(st, LSC_MSG_INFO, "--%s is at its %s bound", lsc_tui_prune_rule_name(P->rule),
                          dir < 0 ? "lower" : "upper");
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_msg_clear(st);
    return lsc_tui_prune_refresh(st);
}

void lsc_tui_prune_forget(lsc_tui_state *st) { st->prune.adapter[0] = '\0'; }

unsigned lsc_tui_prune_open(lsc_tui_state *st)
{
    lsc_tui_view v = lsc_tui_state_view(st);
    lsc_tui_list *l = lsc_tui_state_list(st, v);
    size_t at = 0;
    if (v == LSC_VIEW_CATALOG) {
        if (!l->n)
            return 0;
        if (lsc_tui_load_layers(st, st->catalog.rows[l->order[l->cursor]].name) != 0)
            return LSC_TUI_CH_REDRAW;
    } else if (v == LSC_VIEW_LAYERS) {
        if (l->n)
            at = l->order[l->cursor];
    } else if (v == LSC_VIEW_GRID) {
        long li = st->grid.cell ? st->grid.cell[(size_t)st->grid.r * (size_t)st->grid.n_mods + (size_t)st->grid.c] : -1;
        at = li >= 0 ? (size_t)li : 0;
    } else if (v == LSC_VIEW_SPECTRUM) {
        at = st->spectrum.layer;
    } else {
        return 0;
    }
    lsc_tui_prune_panel *P = &st->prune;
    if (strcmp(P->adapter, st->layers.adapter) != 0) { /* another adapter: start from the defaults */
        lsc_tui_copy(P->adapter, sizeof P->adapter, st->layers.adapter);
        P->rule = LSC_TUI_PRUNE_ENERGY;
        for (int r = 0; r < LSC_TUI_PRUNE_RULE_COUNT; r++)
            P->value[r] = prune_default(st, (lsc_tui_prune_rule)r);
        P->glob[0] = '\0';
    }
    P->chart = v == LSC_VIEW_SPECTRUM;
    P->transient.sv_row = -1;
    lsc_tui_list *pl = &st->lists[LSC_VIEW_PRUNE];
    pl->n_data = (size_t)-1;
    pl->cursor = pl->top = 0;
    lsc_tui_view_push(st, LSC_VIEW_PRUNE);
    lsc_tui_busy(st, "previewing the prune of '%s'", P->adapter);
    lsc_tui_prune_refresh(st);
    if (at < pl->n) {
        pl->cursor = at;
        lsc_tui_list_clamp(pl, st->lay.body_h);
        if (P->chart) /* the spectrum's layer in the middle of the list */
            pl->top = at > (size_t)st->lay.body_h / 2 ? at - (size_t)st->lay.body_h / 2 : 0;
        lsc_tui_list_clamp(pl, st->lay.body_h);
        load_prune_sv(st);
    }
    if (P->transient.ok)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "Tab rule, Left/Right threshold, = type it, f layers, Enter apply, Esc back");
    else
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", P->transient.error);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned prune_apply(lsc_tui_state *st)
{
    lsc_tui_prune_panel *P = &st->prune;
    if (!P->transient.ok) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", P->transient.error);
        return LSC_TUI_CH_REDRAW;
    }
    if (st->readonly) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "the catalog is open read-only: 'prune' would change it");
        return LSC_TUI_CH_REDRAW;
    }
    if (P->transient.tot.n_cut == 0) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "nothing to cut: every chosen layer keeps its rank at this threshold");
        return LSC_TUI_CH_REDRAW;
    }
    char name[LSC_TUI_NAME_MAX];
    lsc_tui_prune_default_name(st, name, sizeof name);
    lsc_tui_input_open_label(st, LSC_INPUT_NAME, name, "name of the pruned adapter: ");
    return LSC_TUI_CH_REDRAW;
}

static unsigned prune_confirm(lsc_tui_state *st, const char *name)
{
    lsc_tui_prune_panel *P = &st->prune;
    if (!name[0] || lsc_tui_adapter_exists(st, name)) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, name[0] ? "an adapter named '%s' already exists" : "no name given%s", name);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_argv a = {.kind = LSC_JOB_PRUNE, .argc = 0};
    char opt[32], vt[64];
    lsc_tui_prune_value_text(st, vt, sizeof vt);
    snprintf(opt, sizeof opt, "--%s", lsc_tui_prune_rule_name(P->rule));
    lsc_tui_argv_add(&a, "prune");
    lsc_tui_argv_add(&a, P->adapter);
    lsc_tui_argv_add(&a, opt);
    lsc_tui_argv_add(&a, vt);
    if (P->glob[0]) {
        lsc_tui_argv_add(&a, "--layers");
        lsc_tui_argv_add(&a, P->glob);
    }
    if (P->transient.tot.n_nonfinite)
        lsc_tui_argv_add(&a, "--allow-nonfinite");
    lsc_tui_argv_add(&a, "--as");
    lsc_tui_argv_add(&a, name);
    lsc_error err = {0};
    if (lsc_tui_argv_check(&a, &err) != LSC_OK) { /* what prune itself would refuse */
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_copy(st->job_target, sizeof st->job_target, name);
    char q[600], d[600], c1[32], c2[32], b1[32], b2[32];
    lsc_tui_fmt_count(P->transient.tot.params_before, c1, sizeof c1);
    lsc_tui_fmt_count(P->transient.tot.params_after, c2, sizeof c2);
    lsc_tui_fmt_bytes(P->transient.tot.bytes_before, b1, sizeof b1);
    lsc_tui_fmt_bytes(P->transient.tot.bytes_after, b2, sizeof b2);
    snprintf(q, sizeof q, "create '%s' from '%s' with %s %s?", name, P->adapter, opt, vt);
    snprintf(d, sizeof d, "%zu of %zu layers cut, params %s -> %s, size %s -> %s, largest error %.3g%s", P->transient.tot.n_cut,
             P->transient.tot.n_chosen, c1, c2, b1, b2, P->transient.tot.max_rel_error,
             P->transient.tot.n_nonfinite ? "; layers with NaN/Inf stay as they are" : "");
    char title[LSC_TUI_NAME_MAX + 16];
    snprintf(title, sizeof title, "prune into %s", name);
    return lsc_tui_ask(st, &a, title, q, d);
}

/* A typed threshold, checked by prune's option table: a bad one shows the command's own message. */
static unsigned prune_edit_done(lsc_tui_state *st, const char *text)
{
    lsc_tui_prune_panel *P = &st->prune;
    lsc_error err = {0};
    if (lsc_tui_option_check("prune", lsc_tui_prune_rule_name(P->rule), text, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    P->value[P->rule] = strtod(text, NULL);
    lsc_tui_msg_clear(st);
    return lsc_tui_prune_refresh(st);
}

/* Closing: drop the preview and the chart, in one place; the rule, thresholds and glob stay for a reopen
 * on the same adapter. */
static void prune_leave(lsc_tui_state *st, int closing)
{
    if (!closing)
        return;
    free(st->prune.transient.rows);
    free(st->prune.transient.sv);
    st->prune.transient = (struct lsc_tui_prune_transient){.sv_row = -1};
}

static unsigned prune_edit(lsc_tui_state *st)
{
    char vt[64], label[64];
    lsc_tui_prune_value_text(st, vt, sizeof vt);
    snprintf(label, sizeof label, "--%s ", lsc_tui_prune_rule_name(st->prune.rule));
    lsc_tui_input_open_label(st, LSC_INPUT_VALUE, vt, label);
    return LSC_TUI_CH_REDRAW;
}

static unsigned prune_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_NEXT_RULE:
        st->prune.rule = (lsc_tui_prune_rule)((st->prune.rule + 1) % LSC_TUI_PRUNE_RULE_COUNT);
        prune_clamp(&st->prune, k_small[st->prune.rule]);
        lsc_tui_msg_clear(st);
        return lsc_tui_prune_refresh(st);
    case LSC_REQ_DEC: return prune_step(st, -1, 0);
    case LSC_REQ_INC: return prune_step(st, 1, 0);
    case LSC_REQ_DEC_BIG: return prune_step(st, -1, 1);
    case LSC_REQ_INC_BIG: return prune_step(st, 1, 1);
    case LSC_REQ_EDIT: return prune_edit(st);
    case LSC_REQ_LAYER_GLOB:
        lsc_tui_input_open_label(st, LSC_INPUT_GLOB, st->prune.glob, "only layers matching (glob; empty: all): ");
        return LSC_TUI_CH_REDRAW;
    case LSC_REQ_APPLY: return prune_apply(st);
    case LSC_REQ_REFRESH:
        st->prune.transient.sv_row = -1;
        lsc_tui_prune_refresh(st);
        return 0;
    default: return LSC_TUI_CH_PASS;
    }
}

static unsigned prune_input_done(lsc_tui_state *st, lsc_tui_input mode, const char *text)
{
    switch (mode) {
    case LSC_INPUT_NAME: return prune_confirm(st, text);
    case LSC_INPUT_VALUE: return prune_edit_done(st, text);
    case LSC_INPUT_GLOB:
        lsc_tui_copy(st->prune.glob, sizeof st->prune.glob, text);
        st->prune.transient.sv_row = -1;
        lsc_tui_msg_clear(st);
        return lsc_tui_prune_refresh(st);
    default: return LSC_TUI_CH_REDRAW;
    }
}

/* Two lines of settings and totals, then the table; the chart pane beside it when wide, or below it when
 * the panel was opened on a spectrum. */
static void prune_layout(lsc_tui_state *st, int *table_w)
{
    lsc_tui_layout *L = &st->lay;
    L->header_y = 3;
    L->body_y = 4;
    L->body_h = L->lines - 6;
    int rows = L->lines - 5;
    if (L->cols >= 120) {
        L->pane_w = L->cols * 2 / 5;
        L->pane_x = L->cols - L->pane_w;
        L->pane_y = 3;
        L->pane_h = rows;
        *table_w = L->pane_x - 1;
    } else if (st->prune.chart) {
        L->pane_h = rows / 2;
        L->pane_w = L->cols;
        L->pane_y = 3 + rows - L->pane_h;
        L->body_h = rows - L->pane_h - 1;
    }
}

static const lsc_tui_binding k_keys[] = {
    LSC_KEYS_MOVE,
    {LSC_REQ_DEC, {LSC_KEY_LEFT, 'h', '-'}, "lower: rank/budget -1, fractions -0.01, ratio -0.5", "lower", 3},
    {LSC_REQ_INC, {LSC_KEY_RIGHT, 'l', '+'}, "raise: rank/budget +1, fractions +0.01, ratio +0.5", "raise", 4},
    {LSC_REQ_DEC_BIG, {LSC_KEY_SLEFT, LSC_KEY_PGDN, '['}, "more: rank -4, budget -10, fractions -0.1, ratio -5", NULL, 0},
    {LSC_REQ_INC_BIG, {LSC_KEY_SRIGHT, LSC_KEY_PGUP, ']'}, "more: rank +4, budget +10, fractions +0.1, ratio +5", NULL, 0},
    {LSC_REQ_NEXT_RULE, {LSC_KEY_TAB, 'r', LSC_KEY_F(2)}, "next rule: rank energy fro cumulative ratio budget", "rule", 2},
    {LSC_REQ_EDIT, {'=', 'e'}, "type the threshold", "type", 5},
    {LSC_REQ_LAYER_GLOB, {'f', LSC_KEY_F(4)}, "only layers matching a glob (--layers; empty: all)", "layers", 6},
    {LSC_REQ_APPLY, {LSC_KEY_ENTER, '\r', LSC_KEY_F(5)}, "apply: name the new adapter, confirm, run", "apply", 1},
    {LSC_REQ_PAGE_DOWN, {LSC_KEY_CTRL('f')}, "page the layer list down", NULL, 0},
    {LSC_REQ_PAGE_UP, {LSC_KEY_CTRL('b')}, "page the layer list up", NULL, 0},
    {LSC_REQ_TOP, {'g', LSC_KEY_HOME}, "first row", NULL, 0},
    {LSC_REQ_BOTTOM, {'G', LSC_KEY_END}, "last row", NULL, 0},
};

const lsc_tui_view_ops lsc_tui_view_prune = {
    .view = LSC_VIEW_PRUNE,
    .draw = lsc_tui_draw_prune,
    .leave = prune_leave,
    .request = prune_request,
    .input_done = prune_input_done,
    .layout = prune_layout,
    .panel = 1,
    .moved = load_prune_sv,
    .keys = LSC_TUI_KEYS(k_keys),
};
