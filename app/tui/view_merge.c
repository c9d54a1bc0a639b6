/* view_merge.c: the merge panel over the tagged adapters: method, weights, rank, density and seed as
 * fields, a live preview per layer, and apply (name, confirm, run `merge`). Never includes curses.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
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

/* The method `dir` steps away in merge's --method choices, in the table's order. */
static lsc_tui_merge_method method_next(lsc_tui_merge_method m, int dir)
{
    int n = 0, at = 0;
    const char *const *c = lsc_tui_option_choices("merge", "method", &n);
    if (n == 0)
        return m;
    for (int i = 0; i < n; i++)
        if (lsc_tui_merge_method_of(c[i]) == m)
            at = i;
    lsc_tui_merge_method next = lsc_tui_merge_method_of(c[(at + dir + n) % n]);
    return next < LSC_TUI_MERGE_METHOD_COUNT ? next : m;
}

/* A method that needs a rank gets one (the inputs' own, else 8) */
static void merge_method_set(lsc_tui_merge_panel *M, lsc_tui_merge_opts *o, lsc_tui_merge_method m)
{
    o->method = m;
    if (lsc_tui_merge_needs_rank(o->method) && o->rank < 1)
        o->rank = M->base_rank > 0 ? M->base_rank : 8;
}

/* Say why --density is not passed with this method: merge's own message for it. */
static int density_unused(lsc_tui_state *st, const lsc_tui_merge_opts *o)
{
    if (lsc_tui_merge_takes_density(o->method))
        return 0;
    const char *argv[] = {"merge", "a", "b", "--method", lsc_tui_merge_method_name(o->method), "--rank", "1", "--density", "0.5"};
    lsc_error err = {0};
    lsc_tui_command_check(9, argv, &err);
    lsc_tui_state_msg(st, LSC_MSG_INFO, "%s", err.msg);
    return 1;
}

static unsigned merge_step(lsc_tui_state *st, int dir, int big)
{
    lsc_tui_merge_panel *M = &st->merge;
    lsc_tui_merge_opts *o = &M->opts;
    switch (M->field) {
    case LSC_MERGE_FIELD_METHOD: merge_method_set(M, o, method_next(o->method, dir)); break;
    case LSC_MERGE_FIELD_WEIGHTS:
        lsc_tui_state_msg(st, LSC_MSG_INFO, "press e to type the weights, one per adapter: %s", M->weights);
        return LSC_TUI_CH_REDRAW;
    case LSC_MERGE_FIELD_RANK: { /* 0: none, where the method allows it; else the table's bounds */
        const lsc_opt *ro = lsc_tui_option("merge", "rank");
        long long lo = lsc_tui_merge_needs_rank(o->method) && ro ? ro->ilo : 0, hi = ro ? ro->ihi : INT_MAX;
        long long r = (long long)o->rank + dir * (big ? 8 : 1);
        r = r < lo ? lo : r > hi ? hi : r;
        if (r == o->rank)
            return 0;
        o->rank = (int)r;
        break;
    }
    case LSC_MERGE_FIELD_DENSITY: { /* steps of 0.05 within the table's bounds (an open end: one step in) */
        if (density_unused(st, o))
            return LSC_TUI_CH_REDRAW;
        const lsc_opt *d_o = lsc_tui_option("merge", "density");
        double lo = d_o ? d_o->lo + ((d_o->flags & LSC_OPT_LO_OPEN) ? 0.05 : 0) : 0.05;
        double hi = d_o ? d_o->hi - ((d_o->flags & LSC_OPT_HI_OPEN) ? 0.05 : 0) : 1;
        double d = round((o->density + dir * (big ? 0.1 : 0.05)) / 0.05) * 0.05;
        d = d < lo ? lo : d > hi ? hi : d;
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

/* The weights as typed, checked by merge itself on the panel's command line; o->weights from them. */
static lsc_status merge_weights_parse(const lsc_tui_merge_panel *M, const char *text, lsc_tui_merge_opts *o,
                                      lsc_error *err)
{
    lsc_tui_argv a = {.kind = LSC_JOB_MERGE, .argc = 0};
    const char *names[LSC_TUI_MERGE_MAX];
    for (int i = 0; i < M->n; i++)
        names[i] = M->names[i];
    lsc_tui_merge_words(names, M->n, o, text, NULL, lsc_tui_argv_add_word, &a);
    lsc_status s = lsc_tui_argv_check(&a, err);
    char *end = NULL;
    for (int k = 0; !s && k < M->n; k++, text = end + (*end == ',')) /* merge took it: M->n numbers, commas */
        o->weights[k] = strtod(text, &end);
    return s;
}

/* A typed field: merge's option table checks it (the command's own message when it refuses); 0 is the
 * panel's "no rank". */
static unsigned merge_edit_done(lsc_tui_state *st, const char *text)
{
    lsc_tui_merge_panel *M = &st->merge;
    lsc_tui_merge_opts o = M->opts;
    lsc_error err = {0};
    lsc_status s = LSC_OK;
    int i;
    switch (M->field) {
    case LSC_MERGE_FIELD_METHOD:
        if ((i = lsc_tui_option_choice("merge", "method", text, &err)) >= 0) {
            int n = 0;
            merge_method_set(M, &o, lsc_tui_merge_method_of(lsc_tui_option_choices("merge", "method", &n)[i]));
        } else {
            s = LSC_ERR_USAGE;
        }
        break;
    case LSC_MERGE_FIELD_WEIGHTS: s = merge_weights_parse(M, text, &o, &err); break;
    case LSC_MERGE_FIELD_RANK:
        if (strcmp(text, "0") != 0 && !(s = lsc_tui_option_check("merge", "rank", text, &err)))
            o.rank = atoi(text);
        else if (!s)
            o.rank = 0;
        break;
    case LSC_MERGE_FIELD_DENSITY:
        if (!(s = lsc_tui_option_check("merge", "density", text, &err)))
            o.density = strtod(text, NULL);
        break;
    case LSC_MERGE_FIELD_SEED:
        if (!(s = lsc_tui_option_check("merge", "seed", text, &err)))
            o.seed = strtoull(text, NULL, 10);
        break;
    default: return 0;
    }
    if (s) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    M->opts = o;
    if (M->field == LSC_MERGE_FIELD_WEIGHTS) /* as typed: merge reads the same numbers the preview used */
        lsc_tui_copy(M->weights, sizeof M->weights, text);
    lsc_tui_msg_clear(st);
    unsigned ch = merge_refresh(st);
    if (M->field == LSC_MERGE_FIELD_DENSITY)
        density_unused(st, &o); /* kept, passed once a method takes it */
    return ch;
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
    const char *names[LSC_TUI_MERGE_MAX];
    for (int i = 0; i < M->n; i++)
        names[i] = M->names[i];
    lsc_tui_merge_words(names, M->n, o, M->weights, name, lsc_tui_argv_add_word, &a);
    lsc_error err = {0};
    if (lsc_tui_argv_check(&a, &err) != LSC_OK) { /* what merge itself would refuse */
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
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
    if (req == LSC_REQ_REFRESH) {
        merge_refresh(st);
        return 0;
    }
    const lsc_tui_form form = {&st->merge.field, LSC_MERGE_FIELD_COUNT, merge_step, merge_edit, merge_apply};
    return lsc_tui_form_request(st, req, &form);
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
    {LSC_REQ_DOWN, {'j', LSC_KEY_DOWN, LSC_KEY_TAB}, "next field", "field", 2},
    {LSC_REQ_UP, {'k', LSC_KEY_UP}, "previous field", NULL, 0},
    {LSC_REQ_DEC, {LSC_KEY_LEFT, 'h', '-'}, "lower: previous method, rank -1, density -0.05, seed -1", "lower", 3},
    {LSC_REQ_INC, {LSC_KEY_RIGHT, 'l', '+'}, "raise: next method, rank +1, density +0.05, seed +1", "raise", 4},
    {LSC_REQ_DEC_BIG, {LSC_KEY_SLEFT, LSC_KEY_PGDN, '['}, "lower by more: rank -8, density -0.1, seed -10", NULL, 0},
    {LSC_REQ_INC_BIG, {LSC_KEY_SRIGHT, LSC_KEY_PGUP, ']'}, "raise by more: rank +8, density +0.1, seed +10", NULL, 0},
    {LSC_REQ_EDIT, {'=', 'e'}, "type the field under the cursor", "type", 5},
    {LSC_REQ_APPLY, {LSC_KEY_ENTER, '\r', LSC_KEY_F(5)}, "apply: name the new adapter, confirm, run", "apply", 1},
    {LSC_REQ_PAGE_DOWN, {LSC_KEY_CTRL('f')}, "page the layer list down", NULL, 0},
    {LSC_REQ_PAGE_UP, {LSC_KEY_CTRL('b')}, "page the layer list up", NULL, 0},
    {LSC_REQ_TOP, {'g', LSC_KEY_HOME}, "first row", NULL, 0},
    {LSC_REQ_BOTTOM, {'G', LSC_KEY_END}, "last row", NULL, 0},
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
