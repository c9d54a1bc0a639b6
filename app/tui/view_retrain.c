/* view_retrain.c: the retrain panel (t): the fields of `retrain` (target, kind, rank, steps, lr, init,
 * seed, final rank, lambda), run (name, confirm), and the loss curve of the run, live while it runs
 * (pause with p). Never includes curses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "command.h"
#include "view.h"

/* each field is the retrain option of this name */
static const char *const k_rt_fields[LSC_RT_FIELD_COUNT] = {"target", "kind", "rank", "steps", "lr", "init", "seed",
                                                            "final-rank", "lambda"};

/* The kinds and inits are retrain's --kind and --init choices, in its table's order. */
static const char *choice_name(const char *opt, int i)
{
    int n = 0;
    const char *const *c = lsc_tui_option_choices("retrain", opt, &n);
    return i >= 0 && i < n ? c[i] : "?";
}

static int choice_count(const char *opt)
{
    int n = 0;
    lsc_tui_option_choices("retrain", opt, &n);
    return n > 0 ? n : 1;
}

const char *lsc_tui_retrain_kind_name(int k) { return choice_name("kind", k); }
const char *lsc_tui_retrain_init_name(int i) { return choice_name("init", i); }

void lsc_tui_retrain_field_text(const lsc_tui_state *st, int f, char *buf, size_t cap)
{
    const lsc_tui_retrain_panel *R = &st->retrain;
    switch (f) {
    case LSC_RT_TARGET: snprintf(buf, cap, "%s", R->target[0] ? R->target : "(none: Left/Right or e)"); break;
    case LSC_RT_KIND: snprintf(buf, cap, "%s", lsc_tui_retrain_kind_name(R->kind)); break;
    case LSC_RT_RANK:
        if (R->rank)
            snprintf(buf, cap, "%d", R->rank);
        else if (R->min_rank == R->max_rank)
            snprintf(buf, cap, "own (%d)", R->max_rank);
        else
            snprintf(buf, cap, "own (%d..%d)", R->min_rank, R->max_rank);
        break;
    case LSC_RT_STEPS: snprintf(buf, cap, "%ld", R->steps); break;
    case LSC_RT_LR: snprintf(buf, cap, "%g", R->lr); break;
    case LSC_RT_INIT: snprintf(buf, cap, "%s", lsc_tui_retrain_init_name(R->init)); break;
    case LSC_RT_SEED: snprintf(buf, cap, "%llu", R->seed); break;
    case LSC_RT_FINAL_RANK:
        if (R->final_rank)
            snprintf(buf, cap, "%d", R->final_rank);
        else
            snprintf(buf, cap, "default");
        break;
    case LSC_RT_LAMBDA: snprintf(buf, cap, "%g", R->lambda); break;
    default: buf[0] = '\0'; break;
    }
}

void lsc_tui_retrain_argv(const lsc_tui_state *st, const char *new_name, lsc_tui_argv *a)
{
    const lsc_tui_retrain_panel *R = &st->retrain;
    char t[64];
    a->kind = LSC_JOB_RETRAIN;
    a->argc = 0;
    lsc_tui_argv_add(a, "retrain");
    lsc_tui_argv_add(a, R->adapter);
    lsc_tui_argv_add(a, "--target");
    lsc_tui_argv_add(a, R->target);
    lsc_tui_argv_add(a, "--kind");
    lsc_tui_argv_add(a, lsc_tui_retrain_kind_name(R->kind));
    if (R->rank > 0) {
        snprintf(t, sizeof t, "%d", R->rank);
        lsc_tui_argv_add(a, "--rank");
        lsc_tui_argv_add(a, t);
    }
    snprintf(t, sizeof t, "%ld", R->steps);
    lsc_tui_argv_add(a, "--steps");
    lsc_tui_argv_add(a, t);
    snprintf(t, sizeof t, "%g", R->lr);
    lsc_tui_argv_add(a, "--lr");
    lsc_tui_argv_add(a, t);
    lsc_tui_argv_add(a, "--init");
    lsc_tui_argv_add(a, lsc_tui_retrain_init_name(R->init));
    if (R->seed) {
        snprintf(t, sizeof t, "%llu", R->seed);
        lsc_tui_argv_add(a, "--seed");
        lsc_tui_argv_add(a, t);
    }
    if (R->kind == 2 && R->final_rank > 0) {
        snprintf(t, sizeof t, "%d", R->final_rank);
        lsc_tui_argv_add(a, "--final-rank");
        lsc_tui_argv_add(a, t);
    }
    if (R->kind == 3) {
        snprintf(t, sizeof t, "%g", R->lambda);
        lsc_tui_argv_add(a, "--lambda");
        lsc_tui_argv_add(a, t);
    }
    lsc_tui_argv_add(a, "--as");
    lsc_tui_argv_add(a, new_name);
}

/* The first tagged adapter of the catalog other than NAME, "" if none. */
static void first_tagged_other(const lsc_tui_state *st, const char *name, char *buf, size_t cap)
{
    const lsc_tui_list *l = &st->lists[LSC_VIEW_CATALOG];
    buf[0] = '\0';
    for (size_t i = 0; l->tagged && i < l->n_data && i < st->catalog.n; i++)
        if (l->tagged[i] && strcmp(st->catalog.rows[i].name, name) != 0) {
            lsc_tui_copy(buf, cap, st->catalog.rows[i].name);
            return;
        }
}

unsigned lsc_tui_retrain_open(lsc_tui_state *st)
{
    if (!st->layers.adapter[0])
        return 0;
    lsc_tui_retrain_panel *R = &st->retrain;
    if (strcmp(R->adapter, st->layers.adapter) != 0) { /* another adapter: the defaults */
        memset(R, 0, sizeof *R);
        lsc_tui_copy(R->adapter, sizeof R->adapter, st->layers.adapter);
        const char *kind = "static";
        for (size_t i = 0; i < st->catalog.n; i++)
            if (strcmp(st->catalog.rows[i].name, st->layers.adapter) == 0)
                kind = st->catalog.rows[i].kind;
        for (int k = 0; k < choice_count("kind"); k++)
            if (strcmp(kind, lsc_tui_retrain_kind_name(k)) == 0)
                R->kind = k;
        R->min_rank = R->max_rank = st->layers.n ? st->layers.rows[0].rank : 0;
        for (size_t i = 0; i < st->layers.n; i++) {
            R->min_rank = st->layers.rows[i].rank < R->min_rank ? st->layers.rows[i].rank : R->min_rank;
            R->max_rank = st->layers.rows[i].rank > R->max_rank ? st->layers.rows[i].rank : R->max_rank;
        }
        R->steps = 200;
        R->lr = 1e-2;
        R->lambda = 1e-3;
        first_tagged_other(st, st->layers.adapter, R->target, sizeof R->target);
    } else if (!R->target[0]) {
        first_tagged_other(st, st->layers.adapter, R->target, sizeof R->target);
    }
    R->field = R->target[0] ? LSC_RT_KIND : LSC_RT_TARGET;
    lsc_tui_view_push(st, LSC_VIEW_RETRAIN);
    if (st->readonly)
        lsc_tui_state_msg(st, LSC_MSG_WARN, "the catalog is open read-only: retrain would change it");
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "Tab/j/k field, Left/Right change, e type, Enter run, Esc back");
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
}

static unsigned retrain_step(lsc_tui_state *st, int dir, int big)
{
    lsc_tui_retrain_panel *R = &st->retrain;
    switch (R->field) {
    case LSC_RT_TARGET: { /* cycle through the catalog, the tagged adapters first */
        const lsc_tui_list *l = &st->lists[LSC_VIEW_CATALOG];
        size_t n = l->n, cur = n, k = 0;
        size_t *order = malloc((n + 1) * sizeof *order);
        if (!order || !n) {
            free(order);
            return 0;
        }
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < n; i++) {
                size_t di = l->order[i];
                int tag = l->tagged && l->tagged[di];
                if (tag == !pass && strcmp(st->catalog.rows[di].name, R->adapter) != 0 &&
                    !lsc_tui_is_group_kind(st->catalog.rows[di].kind))
                    order[k++] = di;
            }
        for (size_t i = 0; i < k; i++)
            if (strcmp(st->catalog.rows[order[i]].name, R->target) == 0)
                cur = i;
        if (k) {
            size_t next = cur == n ? (dir > 0 ? 0 : k - 1) : (cur + k + (size_t)(dir > 0 ? 1 : k - 1)) % k;
            lsc_tui_copy(R->target, sizeof R->target, st->catalog.rows[order[next]].name);
        }
        free(order);
        break;
    }
    case LSC_RT_KIND: R->kind = (R->kind + dir + choice_count("kind")) % choice_count("kind"); break;
    case LSC_RT_RANK: { /* from "own": the adapter's largest rank and on; below 1: each layer's own again */
        int r = R->rank ? R->rank + dir * (big ? 4 : 1) : R->max_rank + (dir > 0 ? 0 : -1);
        R->rank = r < 1 ? 0 : r;
        break;
    }
    case LSC_RT_STEPS: {
        const lsc_opt *so = lsc_tui_option("retrain", "steps");
        long lo = so ? (long)so->ilo : 1, s = R->steps + dir * (big ? 500 : 50);
        R->steps = s < lo ? lo : s;
        if (R->steps > 1 && R->steps % 50 && !big)
            R->steps = (R->steps / 50 + (dir > 0)) * 50;
        break;
    }
    case LSC_RT_LR: R->lr *= dir > 0 ? (big ? 10 : 2) : (big ? 0.1 : 0.5); break;
    case LSC_RT_INIT: R->init = (R->init + dir + choice_count("init")) % choice_count("init"); break;
    case LSC_RT_SEED: {
        long long sd = (long long)R->seed + dir * (big ? 10 : 1);
        R->seed = sd < 0 ? 0 : (unsigned long long)sd;
        break;
    }
    case LSC_RT_FINAL_RANK: {
        int r = R->final_rank + dir * (big ? 4 : 1);
        R->final_rank = r < 0 ? 0 : r;
        break;
    }
    case LSC_RT_LAMBDA: R->lambda *= dir > 0 ? (big ? 10 : 2) : (big ? 0.1 : 0.5); break;
    default: return 0;
    }
    lsc_tui_msg_clear(st);
    return LSC_TUI_CH_REDRAW;
}

/* A typed field: retrain's option table checks it (the command's own message when it refuses); 0 is the
 * panel's "default" for the rank and the final rank. */
static unsigned retrain_edit_done(lsc_tui_state *st, const char *text)
{
    lsc_tui_retrain_panel *R = &st->retrain;
    lsc_error err = {0};
    int f = R->field, i;
    if (f < 0 || f >= LSC_RT_FIELD_COUNT)
        return 0;
    if (f == LSC_RT_TARGET) {
        if (!lsc_tui_adapter_exists(st, text)) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "no adapter '%s' in the catalog", text);
            return LSC_TUI_CH_REDRAW;
        }
        lsc_tui_copy(R->target, sizeof R->target, text);
    } else if (f == LSC_RT_KIND || f == LSC_RT_INIT) {
        if ((i = lsc_tui_option_choice("retrain", k_rt_fields[f], text, &err)) < 0) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
            return LSC_TUI_CH_REDRAW;
        }
        *(f == LSC_RT_KIND ? &R->kind : &R->init) = i;
    } else if (!((f == LSC_RT_RANK || f == LSC_RT_FINAL_RANK) && strcmp(text, "0") == 0) &&
               lsc_tui_option_check("retrain", k_rt_fields[f], text, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    } else if (f == LSC_RT_RANK || f == LSC_RT_FINAL_RANK) {
        *(f == LSC_RT_RANK ? &R->rank : &R->final_rank) = atoi(text);
    } else if (f == LSC_RT_STEPS) {
        R->steps = atol(text);
    } else if (f == LSC_RT_LR || f == LSC_RT_LAMBDA) {
        *(f == LSC_RT_LR ? &R->lr : &R->lambda) = strtod(text, NULL);
    } else if (f == LSC_RT_SEED) {
        R->seed = strtoull(text, NULL, 10);
    }
    lsc_tui_msg_clear(st);
    return LSC_TUI_CH_REDRAW;
}

static unsigned retrain_apply(lsc_tui_state *st)
{
    lsc_tui_retrain_panel *R = &st->retrain;
    if (st->readonly) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "the catalog is open read-only: 'retrain' would change it");
        return LSC_TUI_CH_REDRAW;
    }
    if (!R->target[0] || !lsc_tui_adapter_exists(st, R->target)) {
        R->field = LSC_RT_TARGET;
        lsc_tui_state_msg(st, LSC_MSG_ERROR, R->target[0] ? "no adapter '%s' in the catalog" : "choose a target first%s",
                          R->target);
        return LSC_TUI_CH_REDRAW;
    }
    char name[LSC_TUI_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s-retrained", R->adapter);
    for (int i = 2; lsc_tui_adapter_exists(st, name) && i < 100; i++) /* a free default */
        snprintf(name, sizeof name, "%s-retrained-%d", R->adapter, i);
    lsc_tui_input_open_label(st, LSC_INPUT_NAME, name, "name of the retrained adapter: ");
    return LSC_TUI_CH_REDRAW;
}

static unsigned retrain_confirm(lsc_tui_state *st, const char *name)
{
    lsc_tui_retrain_panel *R = &st->retrain;
    if (!name[0] || lsc_tui_adapter_exists(st, name)) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, name[0] ? "an adapter named '%s' already exists" : "no name given%s", name);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_argv a;
    lsc_tui_retrain_argv(st, name, &a);
    lsc_error err = {0};
    if (lsc_tui_argv_check(&a, &err) != LSC_OK) { /* what retrain itself would refuse */
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_copy(st->job_target, sizeof st->job_target, name);
    char q[700], d[900], rk[64];
    lsc_tui_retrain_field_text(st, LSC_RT_RANK, rk, sizeof rk);
    snprintf(q, sizeof q, "retrain '%s' towards '%s' into '%s'?", R->adapter, R->target, name);
    snprintf(d, sizeof d, "%s rule, rank %s, %ld steps at lr %g, init %s; p pauses, Esc stops and keeps the best state",
             lsc_tui_retrain_kind_name(R->kind), rk, R->steps, R->lr, lsc_tui_retrain_init_name(R->init));
    char title[LSC_TUI_NAME_MAX + 16];
    snprintf(title, sizeof title, "retrain into %s", name);
    return lsc_tui_ask(st, &a, title, q, d);
}

void lsc_tui_retrain_job_started(lsc_tui_state *st, const char *new_name)
{
    st->retrain.n_pts = 0;
    st->retrain.paused = 0;
    st->retrain.ran = 1;
    lsc_tui_copy(st->retrain.new_name, sizeof st->retrain.new_name, new_name);
}

void lsc_tui_retrain_job_points(lsc_tui_state *st)
{
    st->retrain.n_pts = lsc_tui_job_points(st->job, st->retrain.pts, LSC_TUI_TRAIN_POINTS);
}

void lsc_tui_retrain_resume(lsc_tui_state *st)
{
    lsc_tui_job_pause(st->job, 0);
    st->retrain.paused = 0;
}

void lsc_tui_retrain_job_ended(lsc_tui_state *st)
{
    if (st->retrain.n_pts == 0)
        st->retrain.ran = 0; /* it ended before its first report: no curve is coming */
}

unsigned lsc_tui_retrain_pause(lsc_tui_state *st)
{
    if (!st->job || st->job_kind != LSC_JOB_RETRAIN || st->job_cancelling)
        return 0;
    st->retrain.paused = !st->retrain.paused;
    lsc_tui_job_pause(st->job, st->retrain.paused);
    lsc_tui_state_msg(st, LSC_MSG_INFO, st->retrain.paused ? "paused - p resumes" : "resumed");
    return LSC_TUI_CH_REDRAW;
}

static unsigned retrain_edit(lsc_tui_state *st)
{
    char vt[LSC_TUI_NAME_MAX], label[64];
    const lsc_tui_retrain_panel *R = &st->retrain;
    if (R->field == LSC_RT_TARGET)
        lsc_tui_copy(vt, sizeof vt, R->target);
    else if (R->field == LSC_RT_RANK)
        snprintf(vt, sizeof vt, "%d", R->rank);
    else if (R->field == LSC_RT_FINAL_RANK)
        snprintf(vt, sizeof vt, "%d", R->final_rank);
    else
        lsc_tui_retrain_field_text(st, R->field, vt, sizeof vt);
    snprintf(label, sizeof label, "%s: ", k_rt_fields[R->field]);
    lsc_tui_input_open_label(st, LSC_INPUT_VALUE, vt, label);
    return LSC_TUI_CH_REDRAW;
}

static unsigned retrain_request(lsc_tui_state *st, lsc_tui_req req)
{
    const lsc_tui_form form = {&st->retrain.field, LSC_RT_FIELD_COUNT, retrain_step, retrain_edit, retrain_apply};
    unsigned ch = lsc_tui_form_request(st, req, &form);
    return ch == LSC_TUI_CH_PASS ? 0 : ch; /* the panel has no list to fall back to */
}

static unsigned retrain_input_done(lsc_tui_state *st, lsc_tui_input mode, const char *text)
{
    if (mode == LSC_INPUT_NAME)
        return retrain_confirm(st, text);
    if (mode == LSC_INPUT_VALUE)
        return retrain_edit_done(st, text);
    return LSC_TUI_CH_REDRAW;
}

/* The fields, then the loss chart in the pane below them. */
static void retrain_layout(lsc_tui_state *st, int *table_w)
{
    lsc_tui_layout *L = &st->lay;
    (void)table_w;
    L->header_y = 1;
    L->body_y = 1;
    L->body_h = LSC_RT_FIELD_COUNT;
    L->pane_y = 2 + LSC_RT_FIELD_COUNT;
    L->pane_x = 0;
    L->pane_w = L->cols;
    L->pane_h = L->lines - 2 - L->pane_y;
}

static const lsc_tui_binding k_keys[] = {
    {LSC_REQ_DOWN, {'j', LSC_KEY_DOWN, LSC_KEY_TAB}, "next field", "field", 2},
    {LSC_REQ_UP, {'k', LSC_KEY_UP}, "previous field", NULL, 0},
    {LSC_REQ_DEC, {LSC_KEY_LEFT, 'h', '-'}, "previous target, kind or init; lower number", "lower", 3},
    {LSC_REQ_INC, {LSC_KEY_RIGHT, 'l', '+'}, "next target, kind or init; higher number", "raise", 4},
    {LSC_REQ_DEC_BIG, {LSC_KEY_SLEFT, LSC_KEY_PGDN, '['}, "lower by more (rank -4, steps -500, lr /10)", NULL, 0},
    {LSC_REQ_INC_BIG, {LSC_KEY_SRIGHT, LSC_KEY_PGUP, ']'}, "raise by more (rank +4, steps +500, lr x10)", NULL, 0},
    {LSC_REQ_EDIT, {'=', 'e'}, "type the field's value (target: any adapter's name)", "type", 5},
    {LSC_REQ_APPLY, {LSC_KEY_ENTER, '\r', LSC_KEY_F(5)}, "run: name the new adapter, confirm (No by default)", "run", 1},
    {LSC_REQ_PAUSE, {'p'}, "pause / resume the running retrain", "pause", 6},
    LSC_KEYS_UNDO,
};

const lsc_tui_view_ops lsc_tui_view_retrain = {
    .view = LSC_VIEW_RETRAIN,
    .draw = lsc_tui_draw_retrain,
    .request = retrain_request,
    .input_done = retrain_input_done,
    .layout = retrain_layout,
    .keys = LSC_TUI_KEYS(k_keys),
};
