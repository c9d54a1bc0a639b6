/* view_merge.c: the merge panel over the tagged adapters: method, weights, rank, density and seed as
 * fields, a live preview per layer, and apply (name, confirm, run `merge`). Never includes curses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

static void merge_base_rank(lsc_tui_merge_panel *M)
{
    if (M->opts.method != LSC_TUI_MERGE_CAT || !M->transient.ok)
        return;
    int r = 0;
    for (size_t i = 0; i < M->transient.n_rows; i++) /* cat: the rank is the inputs' sum */
        if (M->transient.rows[i].models > 0 && (M->transient.rows[i].rank + M->transient.rows[i].models - 1) / M->transient.rows[i].models > r)
            r = (M->transient.rows[i].rank + M->transient.rows[i].models - 1) / M->transient.rows[i].models;
    if (r > 0)
        M->base_rank = r;
}

static unsigned merge_refresh(lsc_tui_state *st)
{
    lsc_tui_merge_panel *M = &st->merge;
    const char *names[LSC_TUI_MERGE_MAX];
    for (int i = 0; i < M->n; i++)
        names[i] = M->names[i];
    lsc_tui_merge_row *rows = NULL;
    size_t n = 0;
    lsc_tui_merge_totals tot;
    lsc_error err = {0};
    M->n_previews++;
    lsc_tui_busy(st, "previewing the %s merge", lsc_tui_merge_method_name(M->opts.method));
    lsc_status s = st->model->merge_preview
                       ? st->model->merge_preview(st->model->ctx, names, M->n, &M->opts, &rows, &n, &tot, &err)
                       : lsc_error_set(&err, LSC_ERR_UNSUPPORTED, "this catalog cannot preview merges");
    free(M->transient.rows);
    M->transient.rows = NULL;
    M->transient.n_rows = 0;
    if (s != LSC_OK) {
        M->transient.ok = 0;
        lsc_tui_copy(M->transient.error, sizeof M->transient.error, err.msg);
        memset(&M->transient.tot, 0, sizeof M->transient.tot);
    } else {
        M->transient.ok = 1;
        M->transient.error[0] = '\0';
        M->transient.rows = rows;
        M->transient.n_rows = n;
        M->transient.tot = tot;
        merge_base_rank(M);
    }
    lsc_tui_list_rebuild(st, LSC_VIEW_MERGE);
    return LSC_TUI_CH_REDRAW;
}

static void merge_weights_text(lsc_tui_merge_panel *M)
{
    size_t len = 0;
    M->weights[0] = '\0';
    for (int i = 0; i < M->n && len < sizeof M->weights; i++)
        len += (size_t)snprintf(M->weights + len, sizeof M->weights - len, "%s%g", i ? "," : "", M->opts.weights[i]);
}

unsigned lsc_tui_merge_open(lsc_tui_state *st)
{
    lsc_tui_list *l = &st->lists[LSC_VIEW_CATALOG];
    lsc_tui_merge_panel *M = &st->merge;
    char names[LSC_TUI_MERGE_MAX][LSC_TUI_NAME_MAX];
    int n = 0;
    for (size_t i = 0; i < l->n_data && l->tagged; i++)
        if (l->tagged[i]) {
            if (n == LSC_TUI_MERGE_MAX) {
                lsc_tui_state_msg(st, LSC_MSG_ERROR, "more than %d adapters tagged: merge them in steps", LSC_TUI_MERGE_MAX);
                return LSC_TUI_CH_REDRAW;
            }
            lsc_tui_copy(names[n++], LSC_TUI_NAME_MAX, st->catalog.rows[i].name);
        }
    if (n < 2) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "tag two or more adapters with Space, then m");
        return LSC_TUI_CH_REDRAW;
    }
    int same = n == M->n;
    for (int i = 0; same && i < n; i++)
        same = strcmp(names[i], M->names[i]) == 0;
    if (!same) {
        free(M->transient.rows);
        memset(M, 0, sizeof *M);
        M->n = n;
        memcpy(M->names, names, sizeof names);
        M->opts.method = LSC_TUI_MERGE_CAT;
        for (int i = 0; i < n; i++)
            M->opts.weights[i] = 1;
        M->opts.density = 1;
        merge_weights_text(M);
    }
    lsc_tui_list *ml = &st->lists[LSC_VIEW_MERGE];
    ml->n_data = (size_t)-1;
    ml->cursor = ml->top = 0;
    lsc_tui_view_push(st, LSC_VIEW_MERGE);
    merge_refresh(st);
    if (M->transient.ok)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "j/k field, Left/Right change, e type, Enter apply, Esc back");
    else
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", M->transient.error);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

static unsigned merge_step(lsc_tui_state *st, int dir, int big)
{
    lsc_tui_merge_panel *M = &st->merge;
    lsc_tui_merge_opts *o = &M->opts;
    switch (M->field) {
    case LSC_MERGE_FIELD_METHOD:
        o->method = (lsc_tui_merge_method)(((int)o->method + dir + LSC_TUI_MERGE_METHOD_COUNT) % LSC_TUI_MERGE_METHOD_COUNT);
        if (lsc_tui_merge_needs_rank(o->method) && o->rank < 1)
            o->rank = M->base_rank > 0 ? M->base_rank : 8;
        break;
    case LSC_MERGE_FIELD_WEIGHTS:
        lsc_tui_state_msg(st, LSC_MSG_INFO, "press e to type the weights, one per adapter: %s", M->weights);
        return LSC_TUI_CH_REDRAW;
    case LSC_MERGE_FIELD_RANK: {
        int lo = lsc_tui_merge_needs_rank(o->method) ? 1 : 0, r = o->rank + dir * (big ? 8 : 1);
        if (r < lo)
            r = lo;
        if (r == o->rank)
            return 0;
        o->rank = r;
        break;
    }
    case LSC_MERGE_FIELD_DENSITY: {
        double d = round((o->density + dir * (big ? 0.1 : 0.05)) / 0.05) * 0.05;
        d = d < 0.05 ? 0.05 : d > 1 ? 1 : d;
        if (d == o->density)
            return 0;
        o->density = d;
        break;
    }
    case LSC_MERGE_FIELD_SEED: {
        long long sd = (long long)o->seed + dir * (big ? 10 : 1);
        if (sd < 0)
            return 0;
        o->seed = (uint64_t)sd;
        break;
    }
    default: return 0;
    }
    lsc_tui_msg_clear(st);
    return merge_refresh(st);
}

static void merge_field_text(const lsc_tui_merge_panel *M, int f, char *buf, size_t cap)
{
    switch (f) {
    case LSC_MERGE_FIELD_METHOD: snprintf(buf, cap, "%s", lsc_tui_merge_method_name(M->opts.method)); break;
    case LSC_MERGE_FIELD_WEIGHTS: snprintf(buf, cap, "%s", M->weights); break;
    case LSC_MERGE_FIELD_RANK: snprintf(buf, cap, "%d", M->opts.rank); break;
    case LSC_MERGE_FIELD_DENSITY: snprintf(buf, cap, "%g", M->opts.density); break;
    case LSC_MERGE_FIELD_SEED: snprintf(buf, cap, "%llu", (unsigned long long)M->opts.seed); break;
    default: buf[0] = '\0'; break;
    }
}

static const char *const k_merge_fields[LSC_MERGE_FIELD_COUNT] = {"method", "weights", "rank", "density", "seed"};

static unsigned merge_edit_done(lsc_tui_state *st, const char *text)
{
    lsc_tui_merge_panel *M = &st->merge;
    lsc_tui_merge_opts o = M->opts;
    char *end;
    switch (M->field) {
    case LSC_MERGE_FIELD_METHOD: {
        char nm[64];
        lsc_tui_copy(nm, sizeof nm, text);
        for (char *q = nm; *q; q++)
            if (*q == '-')
                *q = '_';
        int found = -1;
        for (int i = 0; i < LSC_TUI_MERGE_METHOD_COUNT; i++)
            if (strcmp(nm, lsc_tui_merge_method_name((lsc_tui_merge_method)i)) == 0)
                found = i;
        if (found < 0) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "unknown merge method '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        o.method = (lsc_tui_merge_method)found;
        if (lsc_tui_merge_needs_rank(o.method) && o.rank < 1)
            o.rank = M->base_rank > 0 ? M->base_rank : 8;
        break;
    }
    case LSC_MERGE_FIELD_WEIGHTS: {
        int k = 0;
        const char *p = text;
        while (*p) {
            double w = strtod(p, &end);
            if (end == p || (*end && *end != ',') || k == LSC_TUI_MERGE_MAX || !isfinite(w)) {
                lsc_tui_state_msg(st, LSC_MSG_ERROR, "weights are numbers separated by commas, not '%s'", text);
                return LSC_TUI_CH_REDRAW;
            }
            o.weights[k++] = w;
            p = *end ? end + 1 : end;
        }
        if (k != M->n) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "%d weight%s for %d adapters", k, k == 1 ? "" : "s", M->n);
            return LSC_TUI_CH_REDRAW;
        }
        break;
    }
    case LSC_MERGE_FIELD_RANK: {
        long r = strtol(text, &end, 10);
        if (end == text || *end || r < 0 || r > 1000000) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "the rank is a whole number >= 0 (0: none), not '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        o.rank = (int)r;
        break;
    }
    case LSC_MERGE_FIELD_DENSITY:
        o.density = strtod(text, &end);
        if (end == text || *end || !(o.density > 0 && o.density <= 1)) {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "--density takes a fraction in (0, 1], not '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        break;
    case LSC_MERGE_FIELD_SEED:
        o.seed = strtoull(text, &end, 10);
        if (end == text || *end || text[0] == '-') {
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "--seed takes a whole number, not '%s'", text);
            return LSC_TUI_CH_REDRAW;
        }
        break;
    default: return 0;
    }
    M->opts = o;
    merge_weights_text(M);
    lsc_tui_msg_clear(st);
    return merge_refresh(st);
}

static unsigned merge_apply(lsc_tui_state *st)
{
    lsc_tui_merge_panel *M = &st->merge;
    if (!M->transient.ok) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", M->transient.error);
        return LSC_TUI_CH_REDRAW;
    }
    if (st->readonly) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "the catalog is open read-only: 'merge' would change it");
        return LSC_TUI_CH_REDRAW;
    }
    char name[LSC_TUI_NAME_MAX * 2 + 32];
    snprintf(name, sizeof name, "%s-%s-%s", M->names[0], M->names[1], lsc_tui_merge_method_name(M->opts.method));
    lsc_tui_input_open_label(st, LSC_INPUT_NAME, name, "name of the merged adapter: ");
    return LSC_TUI_CH_REDRAW;
}

static unsigned merge_confirm(lsc_tui_state *st, const char *name)
{
    lsc_tui_merge_panel *M = &st->merge;
    lsc_tui_merge_opts *o = &M->opts;
    if (!name[0] || lsc_tui_adapter_exists(st, name)) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, name[0] ? "an adapter named '%s' already exists" : "no name given%s", name);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_argv a = {.kind = LSC_JOB_MERGE, .argc = 0};
    char t[64];
    lsc_tui_argv_add(&a, "merge");
    for (int i = 0; i < M->n; i++)
        lsc_tui_argv_add(&a, M->names[i]);
    lsc_tui_argv_add(&a, "--method");
    lsc_tui_argv_add(&a, lsc_tui_merge_method_name(o->method));
    lsc_tui_argv_add(&a, "--weights");
    lsc_tui_argv_add(&a, M->weights);
    if (o->rank > 0 && o->method != LSC_TUI_MERGE_CAT) {
        snprintf(t, sizeof t, "%d", o->rank);
        lsc_tui_argv_add(&a, "--rank");
        lsc_tui_argv_add(&a, t);
    }
    if (o->density != 1) {
        snprintf(t, sizeof t, "%g", o->density);
        lsc_tui_argv_add(&a, "--density");
        lsc_tui_argv_add(&a, t);
    }
    if (o->seed != 0) {
        snprintf(t, sizeof t, "%llu", (unsigned long long)o->seed);
        lsc_tui_argv_add(&a, "--seed");
        lsc_tui_argv_add(&a, t);
    }
    lsc_tui_argv_add(&a, "--as");
    lsc_tui_argv_add(&a, name);
    lsc_tui_copy(st->job_target, sizeof st->job_target, name);
    char q[600], d[600], c1[32];
    lsc_tui_fmt_count(M->transient.tot.params, c1, sizeof c1);
    snprintf(q, sizeof q, "create '%s', a %s merge of %d adapters?", name, lsc_tui_merge_method_name(o->method), M->n);
    if (lsc_tui_merge_is_elementwise(o->method))
        snprintf(d, sizeof d, "%zu layers at rank %d, params %s; element-wise: one dense layer at a time, Esc cancels",
                 M->transient.n_rows, o->rank, c1);
    else
        snprintf(d, sizeof d, "%zu layers, params %s, largest error %.3g", M->transient.n_rows, c1, M->transient.tot.max_rel_error);
    char title[LSC_TUI_NAME_MAX + 16];
    snprintf(title, sizeof title, "merge into %s", name);
    return lsc_tui_ask(st, &a, title, q, d);
}

static unsigned merge_edit(lsc_tui_state *st)
{
    char vt[128], label[64];
    merge_field_text(&st->merge, st->merge.field, vt, sizeof vt);
    snprintf(label, sizeof label, "%s: ", k_merge_fields[st->merge.field]);
    lsc_tui_input_open_label(st, LSC_INPUT_VALUE, vt, label);
    return LSC_TUI_CH_REDRAW;
}

static unsigned merge_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_DOWN:
    case LSC_REQ_UP: {
        int f = st->merge.field + (req == LSC_REQ_DOWN ? 1 : -1);
        st->merge.field = f < 0 ? LSC_MERGE_FIELD_COUNT - 1 : f >= LSC_MERGE_FIELD_COUNT ? 0 : f;
        return LSC_TUI_CH_REDRAW;
    }
    case LSC_REQ_DEC: return merge_step(st, -1, 0);
    case LSC_REQ_INC: return merge_step(st, 1, 0);
    case LSC_REQ_DEC_BIG: return merge_step(st, -1, 1);
    case LSC_REQ_INC_BIG: return merge_step(st, 1, 1);
    case LSC_REQ_EDIT: return merge_edit(st);
    case LSC_REQ_APPLY: return merge_apply(st);
    case LSC_REQ_REFRESH: merge_refresh(st); return 0;
    default: return LSC_TUI_CH_PASS;
    }
}

static unsigned merge_input_done(lsc_tui_state *st, lsc_tui_input mode, const char *text)
{
    if (mode == LSC_INPUT_NAME)
        return merge_confirm(st, text);
    if (mode == LSC_INPUT_VALUE)
        return merge_edit_done(st, text);
    return LSC_TUI_CH_REDRAW;
}

static void merge_layout(lsc_tui_state *st, int *table_w)
{
    lsc_tui_layout *L = &st->lay;
    (void)table_w;
    L->header_y = 2 + LSC_MERGE_FIELD_COUNT;
    L->body_y = L->header_y + 1;
    L->body_h = L->lines - 2 - L->body_y;
}

/* A click on a field's line selects the field. */
static unsigned merge_click(lsc_tui_state *st, int y, int x)
{
    (void)x;
    if (y < 1 || y >= 1 + LSC_MERGE_FIELD_COUNT)
        return LSC_TUI_CH_PASS;
    st->merge.field = y - 1;
    return LSC_TUI_CH_REDRAW;
}

static const lsc_tui_binding k_keys[] = {
    {LSC_REQ_DOWN, {'j', LSC_KEY_DOWN, LSC_KEY_TAB}, "next field", NULL},
    {LSC_REQ_UP, {'k', LSC_KEY_UP}, "previous field", NULL},
    {LSC_REQ_DEC, {LSC_KEY_LEFT, 'h', '-'}, "lower: previous method, rank -1, density -0.05, seed -1", NULL},
    {LSC_REQ_INC, {LSC_KEY_RIGHT, 'l', '+'}, "raise: next method, rank +1, density +0.05, seed +1", NULL},
    {LSC_REQ_DEC_BIG, {LSC_KEY_SLEFT, LSC_KEY_PGDN, '['}, "lower by more: rank -8, density -0.1, seed -10", NULL},
    {LSC_REQ_INC_BIG, {LSC_KEY_SRIGHT, LSC_KEY_PGUP, ']'}, "raise by more: rank +8, density +0.1, seed +10", NULL},
    {LSC_REQ_EDIT, {'=', 'e'}, "type the field under the cursor", NULL},
    {LSC_REQ_APPLY, {LSC_KEY_ENTER, '\r', LSC_KEY_F(5)}, "apply: name the new adapter, confirm, run", "Apply"},
    {LSC_REQ_PAGE_DOWN, {LSC_KEY_CTRL('f')}, "page the layer list down", NULL},
    {LSC_REQ_PAGE_UP, {LSC_KEY_CTRL('b')}, "page the layer list up", NULL},
    {LSC_REQ_TOP, {'g', LSC_KEY_HOME}, "first row", NULL},
    {LSC_REQ_BOTTOM, {'G', LSC_KEY_END}, "last row", NULL},
};

/* Closing: drop the preview, in one place; the method and fields stay for a reopen on the same tags. */
static void merge_leave(lsc_tui_state *st, int closing)
{
    if (!closing)
        return;
    free(st->merge.transient.rows);
    st->merge.transient = (struct lsc_tui_merge_transient){0};
}

const lsc_tui_view_ops lsc_tui_view_merge = {
    .view = LSC_VIEW_MERGE,
    .draw = lsc_tui_draw_merge,
    .leave = merge_leave,
    .request = merge_request,
    .input_done = merge_input_done,
    .layout = merge_layout,
    .click = merge_click,
    .panel = 1,
    .keys = LSC_TUI_KEYS(k_keys),
};
