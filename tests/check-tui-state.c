/* check-tui-state.c: the workbench's state machine driven by requests and keys, without curses.
 *
 * Against the fake model (fixed seed): movement and paging bounds, sorting by every column in both
 * directions (checked against an independent ordering of the model's own data), filter and search,
 * tags and diff opening, help overlay, back navigation, the input line, the prompt, resize flags, and the
 * fake model's statistics recomputed from its singular values.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "model.h"
#include "state.h"

#define SEED 20240101u

static lsc_tui_model g_model;
static lsc_tui_state *g_st;

static void setup(void)
{
    lsc_error err = {0};
    ck_assert_int_eq(lsc_tui_model_fake_init(&g_model, SEED, &err), LSC_OK);
    ck_assert_int_eq(lsc_tui_state_new(&g_model, NULL, 24, 80, &g_st, &err), LSC_OK);
}

static void teardown(void)
{
    lsc_tui_state_free(g_st);
    lsc_tui_model_release(&g_model);
}

static unsigned req(lsc_tui_req r) { return lsc_tui_state_request(g_st, r); }

static unsigned keys(const char *s)
{
    unsigned ch = 0;
    for (const char *p = s; *p; p++)
        ch |= lsc_tui_state_key(g_st, (unsigned char)*p);
    return ch;
}

static lsc_tui_list *cur_list(void) { return lsc_tui_state_list(g_st, lsc_tui_state_view(g_st)); }

static const lsc_tui_layer *cur_layer(void)
{
    lsc_tui_list *l = &g_st->lists[LSC_VIEW_LAYERS];
    return &g_st->layers[l->order[l->cursor]];
}

static void open_chat(void)
{
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert_str_eq(g_st->adapters[g_st->lists[LSC_VIEW_CATALOG].order[0]].name, "llama2-7b-chat");
    unsigned ch = req(LSC_REQ_ENTER);
    ck_assert(ch & LSC_TUI_CH_REDRAW);
    ck_assert(ch & LSC_TUI_CH_RELOAD);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    ck_assert_uint_eq(g_st->n_layers, 224);
}

START_TEST(test_names_tables)
{
    for (int r = 0; r < LSC_REQ_COUNT; r++)
        ck_assert_int_eq(lsc_tui_req_parse(lsc_tui_req_name((lsc_tui_req)r)), r);
    ck_assert_int_eq(lsc_tui_req_parse("no-such-request"), -1);
    ck_assert_int_eq(lsc_tui_key_parse("Enter"), LSC_KEY_ENTER);
    ck_assert_int_eq(lsc_tui_key_parse("F10"), LSC_KEY_F(10));
    ck_assert_int_eq(lsc_tui_key_parse("^L"), LSC_KEY_CTRL('l'));
    ck_assert_int_eq(lsc_tui_key_parse("Bogus"), -1);
    ck_assert_int_eq(lsc_tui_key_parse("F0x"), -1);
    ck_assert_int_eq(lsc_tui_key_lookup(LSC_VIEW_LAYERS, 'j'), LSC_REQ_DOWN);
    ck_assert_int_eq(lsc_tui_key_lookup(LSC_VIEW_GRID, 'm'), LSC_REQ_METRIC);
    ck_assert_int_eq(lsc_tui_key_lookup(LSC_VIEW_LAYERS, 'm'), LSC_REQ_GROUP);
    ck_assert_int_eq(lsc_tui_key_lookup(LSC_VIEW_CATALOG, 'm'), LSC_REQ_MERGE);
    ck_assert_int_eq(lsc_tui_key_lookup(LSC_VIEW_HISTORY, 'm'), LSC_REQ_NONE);
    /* no key is bound twice in one view */
    for (int v = 0; v < LSC_VIEW_COUNT; v++)
        for (size_t i = 0; i < lsc_tui_n_bindings; i++)
            for (size_t j = i + 1; j < lsc_tui_n_bindings; j++) {
                const lsc_tui_binding *a = &lsc_tui_bindings[i], *b = &lsc_tui_bindings[j];
                if (!(a->views & b->views & LSC_VIEW_BIT(v)))
                    continue;
                for (int x = 0; x < LSC_TUI_BIND_KEYS && a->keys[x]; x++)
                    for (int y = 0; y < LSC_TUI_BIND_KEYS && b->keys[y]; y++)
                        ck_assert_msg(a->keys[x] != b->keys[y], "key %d bound twice in view %s", a->keys[x],
                                      lsc_tui_view_name((lsc_tui_view)v));
            }
}
END_TEST

START_TEST(test_movement_paging)
{
    open_chat();
    lsc_tui_list *l = cur_list();
    int h = g_st->lay.body_h;
    ck_assert_int_eq(h, 20);
    ck_assert_uint_eq(req(LSC_REQ_UP), 0); /* already at the top: nothing changes */
    ck_assert_uint_eq(l->cursor, 0);
    req(LSC_REQ_DOWN);
    req(LSC_REQ_DOWN);
    ck_assert_uint_eq(l->cursor, 2);
    ck_assert_uint_eq(l->top, 0);
    req(LSC_REQ_PAGE_DOWN);
    ck_assert_uint_eq(l->cursor, 2 + (size_t)(h - 1));
    ck_assert(l->cursor >= l->top && l->cursor < l->top + (size_t)h);
    req(LSC_REQ_BOTTOM);
    ck_assert_uint_eq(l->cursor, 223);
    ck_assert_uint_eq(l->top, 224 - (size_t)h);
    ck_assert_uint_eq(req(LSC_REQ_DOWN), 0);
    ck_assert_uint_eq(l->cursor, 223);
    req(LSC_REQ_PAGE_DOWN);
    ck_assert_uint_eq(l->cursor, 223);
    req(LSC_REQ_PAGE_UP);
    ck_assert_uint_eq(l->cursor, 223 - (size_t)(h - 1));
    req(LSC_REQ_TOP);
    ck_assert_uint_eq(l->cursor, 0);
    ck_assert_uint_eq(l->top, 0);
    req(LSC_REQ_PAGE_UP);
    ck_assert_uint_eq(l->cursor, 0);
    /* keys reach the same requests */
    keys("jjjG");
    ck_assert_uint_eq(l->cursor, 223);
    keys("g");
    ck_assert_uint_eq(l->cursor, 0);
    lsc_tui_state_key(g_st, LSC_KEY_PGDN);
    ck_assert_uint_eq(l->cursor, (size_t)(h - 1));
}
END_TEST

/* Independent ordering check: every adjacent pair in order[] respects the column's key. */
static double layer_key(const lsc_tui_layer *L, lsc_tui_col c, const char **s)
{
    *s = NULL;
    switch (c) {
    case LSC_COL_NAME: *s = L->name; return 0;
    case LSC_COL_MODULE: *s = L->module_type; return 0;
    case LSC_COL_INDEX: return L->layer_index;
    case LSC_COL_SHAPE: return (double)L->rows * (double)L->cols;
    case LSC_COL_RANK: return L->rank;
    case LSC_COL_ALPHA: return L->alpha;
    case LSC_COL_SCALE: return L->scale;
    case LSC_COL_FRO: return L->nonfinite ? INFINITY : L->fro;
    case LSC_COL_SIGMA1: return L->nonfinite ? INFINITY : L->sigma1;
    case LSC_COL_EFF: return L->effective_rank;
    case LSC_COL_STABLE: return L->stable_rank;
    case LSC_COL_K90: return L->k90;
    case LSC_COL_K99: return L->k99;
    case LSC_COL_ZEROS_A: return L->zeros_a;
    case LSC_COL_ZEROS_B: return L->zeros_b;
    case LSC_COL_FLAGS: return (double)(L->flags | (L->nonfinite ? 0x100u : 0));
    default: ck_abort_msg("unexpected column %d", (int)c); return 0;
    }
}

static void check_sorted(lsc_tui_col c, int desc)
{
    lsc_tui_list *l = &g_st->lists[LSC_VIEW_LAYERS];
    ck_assert_uint_eq(l->n, g_st->n_layers);
    int strictly_moved = 0;
    for (size_t i = 1; i < l->n; i++) {
        const char *sa, *sb;
        double a = layer_key(&g_st->layers[l->order[i - 1]], c, &sa);
        double b = layer_key(&g_st->layers[l->order[i]], c, &sb);
        int cmp = sa ? strcmp(sa, sb) : (a < b ? -1 : a > b);
        if (desc)
            cmp = -cmp;
        ck_assert_msg(cmp <= 0, "column %s %s: rows %zu and %zu out of order", lsc_tui_col_info(c)->title,
                      desc ? "desc" : "asc", i - 1, i);
        if (cmp == 0) /* ties keep the stored order */
            ck_assert_uint_lt(l->order[i - 1], l->order[i]);
        strictly_moved |= l->order[i] != i;
    }
    (void)strictly_moved;
}

START_TEST(test_sort_every_column)
{
    g_model.ctx = g_model.ctx; /* the adalora adapter has varying ranks and a non-finite layer */
    req(LSC_REQ_BOTTOM);
    ck_assert_str_eq(g_st->adapters[g_st->lists[LSC_VIEW_CATALOG].order[2]].name, "llama2-7b-qv-ada");
    req(LSC_REQ_ENTER);
    ck_assert_uint_eq(g_st->n_layers, 64);
    lsc_tui_col cols[LSC_TUI_MAX_COLS];
    int nc = lsc_tui_view_columns(g_st, LSC_VIEW_LAYERS, cols, LSC_TUI_MAX_COLS);
    ck_assert_int_eq(nc, 16);
    lsc_tui_list *l = cur_list();
    ck_assert_int_eq(l->sort, -1);
    for (int k = 0; k < nc; k++) {
        req(LSC_REQ_SORT_NEXT);
        ck_assert_int_eq(l->sort, k);
        check_sorted(cols[k], l->desc);
        int was = l->desc;
        req(LSC_REQ_SORT_REVERSE);
        ck_assert_int_eq(l->desc, !was);
        check_sorted(cols[k], l->desc);
    }
    req(LSC_REQ_SORT_NEXT); /* wraps to stored order */
    ck_assert_int_eq(l->sort, -1);
    for (size_t i = 0; i < l->n; i++)
        ck_assert_uint_eq(l->order[i], i);
    req(LSC_REQ_SORT_PREV);
    ck_assert_int_eq(l->sort, nc - 1);
    /* sorting by rank moves the cursor with its row */
    req(LSC_REQ_TOP);
    req(LSC_REQ_DOWN);
    size_t data_row = l->order[l->cursor];
    keys(">>>>>"); /* wrap to column 3: shape */
    ck_assert_uint_eq(l->order[l->cursor], data_row);
    /* numeric columns start descending, text ascending */
    while (l->sort != 1)
        req(LSC_REQ_SORT_NEXT);
    ck_assert_int_eq(l->desc, 0);
    while (l->sort != 7)
        req(LSC_REQ_SORT_NEXT);
    ck_assert_int_eq(l->desc, 1);
    /* the non-finite layer sorts above every finite norm when descending */
    ck_assert_int_eq(g_st->layers[l->order[0]].nonfinite, 1);
}
END_TEST

START_TEST(test_sort_catalog)
{
    lsc_tui_list *l = cur_list();
    ck_assert_int_eq(l->sort, 0); /* by name */
    ck_assert_str_eq(g_st->adapters[l->order[0]].name, "llama2-7b-chat");
    req(LSC_REQ_SORT_NEXT); /* kind, ascending */
    ck_assert_str_eq(g_st->adapters[l->order[0]].kind, "adaptive");
    req(LSC_REQ_SORT_NEXT); /* layers, descending */
    ck_assert_int_eq(l->desc, 1);
    ck_assert_int_eq((int)g_st->adapters[l->order[2]].n_layers, 64);
    req(LSC_REQ_SORT_REVERSE);
    ck_assert_int_eq((int)g_st->adapters[l->order[0]].n_layers, 64);
}
END_TEST

START_TEST(test_filter_search)
{
    open_chat();
    lsc_tui_list *l = cur_list();
    ck_assert(req(LSC_REQ_FILTER) & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(g_st->input, LSC_INPUT_FILTER);
    keys("*q_proj\n");
    ck_assert_int_eq(g_st->input, LSC_INPUT_NONE);
    ck_assert_str_eq(l->filter, "*q_proj");
    ck_assert_uint_eq(l->n, 32);
    for (size_t i = 0; i < l->n; i++)
        ck_assert_str_eq(g_st->layers[l->order[i]].module_type, "q_proj");
    /* substring without wildcards, case-insensitive */
    keys("f");
    ck_assert_str_eq(g_st->inbuf, "*q_proj"); /* the line starts with the current filter */
    lsc_tui_state_key(g_st, LSC_KEY_CTRL('u'));
    keys("MLP.UP\n");
    ck_assert_uint_eq(l->n, 32);
    /* a filter matching nothing leaves an empty, safe list */
    keys("f");
    lsc_tui_state_key(g_st, LSC_KEY_CTRL('u'));
    keys("nothing-here\n");
    ck_assert_uint_eq(l->n, 0);
    ck_assert_uint_eq(req(LSC_REQ_DOWN), 0);
    ck_assert_uint_eq(req(LSC_REQ_ENTER), 0);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    /* Esc cancels an edit without applying it */
    keys("f");
    lsc_tui_state_key(g_st, LSC_KEY_CTRL('u'));
    keys("abc");
    lsc_tui_state_key(g_st, LSC_KEY_ESC);
    ck_assert_str_eq(l->filter, "nothing-here");
    /* empty clears */
    keys("f");
    lsc_tui_state_key(g_st, LSC_KEY_CTRL('u'));
    keys("\n");
    ck_assert_uint_eq(l->n, 224);

    /* search: n forward, N backward, wrap */
    keys("/layers.3.mlp\n");
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.gate_proj");
    keys("n");
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.up_proj");
    keys("n");
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.down_proj");
    keys("n"); /* wraps to the first match */
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.gate_proj");
    ck_assert_ptr_nonnull(strstr(g_st->msg, "wrapped"));
    keys("N");
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.down_proj");
    keys("/zzz\n");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.down_proj");
    /* backspace edits the line; on an empty line it closes it */
    keys("/ab");
    lsc_tui_state_key(g_st, LSC_KEY_BACKSPACE);
    ck_assert_str_eq(g_st->inbuf, "a");
    lsc_tui_state_key(g_st, LSC_KEY_BACKSPACE);
    lsc_tui_state_key(g_st, LSC_KEY_BACKSPACE);
    ck_assert_int_eq(g_st->input, LSC_INPUT_NONE);
}
END_TEST

START_TEST(test_search_without_pattern)
{
    open_chat();
    req(LSC_REQ_SEARCH_NEXT);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    ck_assert_uint_eq(cur_list()->cursor, 0);
}
END_TEST

START_TEST(test_tags_diff)
{
    lsc_tui_list *l = cur_list();
    /* no tags: diff refuses with a hint */
    req(LSC_REQ_DIFF);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    /* tag toggles and moves down */
    req(LSC_REQ_TAG);
    ck_assert_uint_eq(l->n_tagged, 1);
    ck_assert_uint_eq(l->cursor, 1);
    req(LSC_REQ_UP);
    req(LSC_REQ_TAG);
    ck_assert_uint_eq(l->n_tagged, 0);
    /* tag chat, select code: tagged vs selected */
    req(LSC_REQ_UP);
    req(LSC_REQ_TAG);
    unsigned ch = req(LSC_REQ_DIFF);
    ck_assert(ch & LSC_TUI_CH_RELOAD);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_DIFF);
    ck_assert_str_eq(g_st->diff_a, "llama2-7b-chat");
    ck_assert_str_eq(g_st->diff_b, "llama2-7b-code");
    ck_assert_uint_eq(g_st->diff.n_rows, 224);
    ck_assert_uint_eq(g_st->diff.n_only_a + g_st->diff.n_only_b, 0);
    /* both spectra of the selected row are loaded, and follow the cursor */
    ck_assert_uint_eq(g_st->n_sv, 16);
    ck_assert_uint_eq(g_st->n_sv_b, 16);
    double first = g_st->sv[0];
    req(LSC_REQ_DOWN);
    ck_assert_int_eq(g_st->sv_diff_row, 1);
    ck_assert(g_st->sv[0] != first);
    /* related adapters: cosines high */
    for (size_t i = 0; i < g_st->diff.n_rows; i++)
        ck_assert(g_st->diff.rows[i].cosine > 0.5);
    /* sort by cosine descending, check */
    req(LSC_REQ_SORT_NEXT);
    req(LSC_REQ_SORT_NEXT);
    lsc_tui_list *dl = cur_list();
    ck_assert_int_eq(dl->sort, 1);
    ck_assert_int_eq(dl->desc, 1);
    for (size_t i = 1; i < dl->n; i++)
        ck_assert(g_st->diff.rows[dl->order[i - 1]].cosine >= g_st->diff.rows[dl->order[i]].cosine);
    /* Tab switches the pane; Enter opens the layer's spectrum in a */
    req(LSC_REQ_TAB);
    ck_assert_int_eq(g_st->diff_pane, 1);
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    ck_assert_str_eq(g_st->adapter, "llama2-7b-chat");
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_DIFF);
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    /* two tags: chat vs qv-ada, only-in lists */
    req(LSC_REQ_BOTTOM);
    req(LSC_REQ_TAG);
    ck_assert_uint_eq(l->n_tagged, 2);
    req(LSC_REQ_DIFF);
    ck_assert_str_eq(g_st->diff_b, "llama2-7b-qv-ada");
    ck_assert_uint_eq(g_st->diff.n_rows, 64);
    ck_assert_uint_eq(g_st->diff.n_only_a, 160);
    ck_assert_uint_eq(g_st->diff.n_only_b, 0);
}
END_TEST

START_TEST(test_help_back_quit)
{
    open_chat();
    ck_assert(req(LSC_REQ_HELP) & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(g_st->help, 1);
    /* while the overlay is up, movement scrolls it and leaves the table alone */
    req(LSC_REQ_DOWN);
    ck_assert_uint_eq(g_st->help_top, 1);
    ck_assert_uint_eq(cur_list()->cursor, 0);
    req(LSC_REQ_HELP);
    ck_assert_int_eq(g_st->help, 0);
    keys("?");
    ck_assert_int_eq(g_st->help, 1);
    lsc_tui_state_key(g_st, LSC_KEY_ESC);
    ck_assert_int_eq(g_st->help, 0);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS); /* Esc closed the overlay only */
    keys("?x"); /* an unbound key closes it too */
    ck_assert_int_eq(g_st->help, 0);
    /* drill down and back */
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    ck_assert_int_eq(g_st->depth, 3);
    ck_assert_uint_eq(g_st->n_sv, 16);
    keys("q");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    lsc_tui_state_key(g_st, LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert_uint_eq(req(LSC_REQ_BACK), 0); /* nothing below the root */
    ck_assert(keys("q") & LSC_TUI_CH_QUIT); /* q on the root quits */
    ck_assert(keys("Q") & LSC_TUI_CH_QUIT);
    ck_assert(lsc_tui_state_key(g_st, LSC_KEY_F(10)) & LSC_TUI_CH_QUIT);
}
END_TEST

START_TEST(test_spectrum_stats)
{
    open_chat();
    /* every layer's figures agree with its singular values, recomputed here */
    for (size_t li = 0; li < g_st->n_layers; li += 17) {
        const lsc_tui_layer *L = &g_st->layers[li];
        double *sv = NULL;
        size_t n = 0;
        lsc_error err = {0};
        ck_assert_int_eq(g_model.layer_sv(g_model.ctx, "llama2-7b-chat", L->name, &sv, &n, &err), LSC_OK);
        ck_assert_uint_eq(n, (size_t)L->rank);
        double e = 0, c = 0;
        for (size_t i = 0; i < n; i++) {
            if (i)
                ck_assert(sv[i] <= sv[i - 1]);
            e += sv[i] * sv[i];
        }
        ck_assert_double_eq_tol(L->fro, sqrt(e), 1e-12);
        ck_assert_double_eq_tol(L->sigma1, sv[0], 1e-15);
        ck_assert_double_eq_tol(L->stable_rank, e / (sv[0] * sv[0]), 1e-12);
        int k90 = 0;
        for (size_t i = 0; i < n && !k90; i++) {
            c += sv[i] * sv[i];
            if (c >= 0.9 * e)
                k90 = (int)i + 1;
        }
        ck_assert_int_eq(L->k90, k90);
        free(sv);
    }
    /* the spectrum view follows j/k through the table */
    req(LSC_REQ_ENTER);
    ck_assert_uint_eq(g_st->sv_layer, 0);
    req(LSC_REQ_DOWN);
    ck_assert_uint_eq(g_st->sv_layer, 1);
    ck_assert_uint_eq(g_st->lists[LSC_VIEW_LAYERS].cursor, 1);
    req(LSC_REQ_UP);
    req(LSC_REQ_UP);
    ck_assert_uint_eq(g_st->sv_layer, 0);
    /* errors surface as messages */
    lsc_error err = {0};
    double *sv = NULL;
    size_t n = 0;
    ck_assert_int_eq(g_model.layer_sv(g_model.ctx, "llama2-7b-chat", "no.such.layer", &sv, &n, &err), LSC_ERR_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "no layer 'no.such.layer'"));
    ck_assert_int_eq(g_model.layer_sv(g_model.ctx, "ghost", "x", &sv, &n, &err), LSC_ERR_NOTFOUND);
    ck_assert_str_eq(err.msg, "no adapter 'ghost' in the catalog");
}
END_TEST

START_TEST(test_grid)
{
    open_chat();
    req(LSC_REQ_DOWN);
    req(LSC_REQ_DOWN); /* layers.0 v_proj */
    req(LSC_REQ_GRID);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_GRID);
    ck_assert_int_eq(g_st->n_grid_rows, 32);
    ck_assert_int_eq(g_st->n_grid_mods, 7);
    ck_assert_int_eq(g_st->grid_r, 0);
    ck_assert_int_eq(g_st->grid_c, 2); /* the grid cursor lands on the selected layer */
    req(LSC_REQ_RIGHT);
    req(LSC_REQ_RIGHT);
    req(LSC_REQ_RIGHT);
    req(LSC_REQ_RIGHT);
    req(LSC_REQ_RIGHT);
    ck_assert_int_eq(g_st->grid_c, 6); /* clamped at the last module */
    req(LSC_REQ_BOTTOM);
    ck_assert_int_eq(g_st->grid_r, 31);
    ck_assert_int_eq(g_st->grid_top, 32 - g_st->lay.body_h);
    double mx = 0;
    for (size_t i = 0; i < g_st->n_layers; i++)
        mx = fmax(mx, g_st->layers[i].fro);
    ck_assert_double_eq(g_st->grid_max, mx);
    req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->metric, LSC_METRIC_RANK);
    ck_assert_double_eq(g_st->grid_max, 16);
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    ck_assert_str_eq(g_st->layers[g_st->sv_layer].name, "base_model.model.model.layers.31.mlp.down_proj");
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_GRID);
    req(LSC_REQ_TAB);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
}
END_TEST

START_TEST(test_group)
{
    open_chat();
    req(LSC_REQ_GROUP);
    lsc_tui_list *l = cur_list();
    /* grouped: all q_proj first (32 of them), then k_proj ... each group in stored order */
    for (size_t i = 0; i < 32; i++)
        ck_assert_str_eq(g_st->layers[l->order[i]].module_type, "q_proj");
    ck_assert_str_eq(g_st->layers[l->order[32]].module_type, "k_proj");
    char cell[64];
    lsc_tui_cell_text(g_st, LSC_VIEW_LAYERS, 1, LSC_COL_MODULE, cell, sizeof cell);
    ck_assert_str_eq(cell, "  \""); /* ditto below the group's first row */
    lsc_tui_cell_text(g_st, LSC_VIEW_LAYERS, 32, LSC_COL_MODULE, cell, sizeof cell);
    ck_assert_str_eq(cell, "k_proj");
    req(LSC_REQ_GROUP);
    ck_assert_uint_eq(l->order[1], 1);
}
END_TEST

START_TEST(test_prompt_history)
{
    ck_assert(req(LSC_REQ_PROMPT) & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(g_st->input, LSC_INPUT_PROMPT);
    keys("echo 'two words' three\n");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_OUTPUT);
    ck_assert_uint_eq(g_st->n_out_lines, 1);
    ck_assert_str_eq(g_st->out_lines[0], "two words three");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_INFO);
    req(LSC_REQ_BACK);
    /* a failing command reports its message and exit code */
    keys(":nope\n");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_str_eq(g_st->msg, "unknown command 'nope' (exit 2)");
    keys(":echo 'open\n");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "unterminated quote"));
    /* a mutating command reloads the catalog */
    unsigned ch = keys(":rename llama2-7b-code code-v2\n");
    ck_assert(ch & LSC_TUI_CH_RELOAD);
    int found = 0;
    for (size_t i = 0; i < g_st->n_adapters; i++)
        found |= strcmp(g_st->adapters[i].name, "code-v2") == 0;
    ck_assert_int_eq(found, 1);
    req(LSC_REQ_BACK);
    /* history, newest first, includes the rename */
    req(LSC_REQ_HISTORY);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_HISTORY);
    ck_assert_uint_eq(g_st->n_history, 6);
    ck_assert_str_eq(g_st->history[0].command, "rename");
    char cell[64];
    lsc_tui_cell_text(g_st, LSC_VIEW_HISTORY, 2, LSC_COL_STATE, cell, sizeof cell);
    ck_assert_str_eq(cell, "undone");
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_OUTPUT);
    ck_assert_ptr_nonnull(strstr(g_st->out_lines[2], "rename"));
}
END_TEST

START_TEST(test_readonly)
{
    lsc_tui_state_free(g_st);
    lsc_error err = {0};
    lsc_tui_state_opts o = {.readonly = 1, .adapter = "llama2-7b-code"};
    ck_assert_int_eq(lsc_tui_state_new(&g_model, &o, 24, 80, &g_st, &err), LSC_OK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS); /* opened on the given adapter */
    ck_assert_str_eq(g_st->adapter, "llama2-7b-code");
    keys(":rename llama2-7b-code x\n");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "read-only"));
    /* an unknown initial adapter opens the catalog with the error shown */
    lsc_tui_state_free(g_st);
    o.adapter = "ghost";
    ck_assert_int_eq(lsc_tui_state_new(&g_model, &o, 24, 80, &g_st, &err), LSC_OK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
}
END_TEST

START_TEST(test_resize)
{
    open_chat();
    req(LSC_REQ_BOTTOM);
    lsc_tui_list *l = cur_list();
    unsigned ch = lsc_tui_state_resize(g_st, 43, 132);
    ck_assert(ch & LSC_TUI_CH_RESIZE);
    ck_assert(ch & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(g_st->lay.body_h, 39);
    ck_assert_uint_eq(l->cursor, 223);
    ck_assert_uint_eq(l->top, 224 - 39);
    ck_assert_int_eq(g_st->lay.too_small, 0);
    /* more columns fit at 132 than at 80 */
    int wide = g_st->lay.n_colpos;
    lsc_tui_state_resize(g_st, 24, 80);
    ck_assert_int_lt(g_st->lay.n_colpos, wide);
    ck_assert_uint_eq(l->top, 224 - 20);
    /* every placed column lies within the screen */
    for (int i = 0; i < g_st->lay.n_colpos; i++)
        ck_assert_int_le(g_st->lay.colpos[i].x + g_st->lay.colpos[i].width, 80);
    lsc_tui_state_resize(g_st, 5, 20);
    ck_assert_int_eq(g_st->lay.too_small, 1);
    ck_assert_uint_eq(l->cursor, 223); /* nothing lost while too small */
    req(LSC_REQ_UP);
    ck_assert_uint_eq(l->cursor, 222);
    lsc_tui_state_resize(g_st, 15, 60);
    ck_assert_int_eq(g_st->lay.too_small, 0);
    ck_assert(lsc_tui_state_key(g_st, LSC_KEY_RESIZE) & LSC_TUI_CH_RESIZE);
    ck_assert(req(LSC_REQ_REFRESH) & LSC_TUI_CH_RELOAD);
}
END_TEST

START_TEST(test_formats)
{
    char b[32];
    lsc_tui_fmt_count(999, b, sizeof b);
    ck_assert_str_eq(b, "999");
    lsc_tui_fmt_count(1234, b, sizeof b);
    ck_assert_str_eq(b, "1.23k");
    lsc_tui_fmt_count(39976960, b, sizeof b);
    ck_assert_str_eq(b, "40.0M");
    lsc_tui_fmt_count(999999, b, sizeof b);
    ck_assert_str_eq(b, "1.00M");
    lsc_tui_fmt_bytes(512, b, sizeof b);
    ck_assert_str_eq(b, "512 B");
    lsc_tui_fmt_bytes(4718592, b, sizeof b);
    ck_assert_str_eq(b, "4.50 MiB");
    lsc_tui_fmt_bytes(1023 * 1024 + 1000, b, sizeof b);
    ck_assert_str_eq(b, "1.00 MiB");
    lsc_tui_fmt_num(NAN, b, sizeof b);
    ck_assert_str_eq(b, "NaN");
    lsc_tui_fmt_num(0.00001234, b, sizeof b);
    ck_assert_str_eq(b, "1.23e-05");
    lsc_tui_fmt_num(12.3456, b, sizeof b);
    ck_assert_str_eq(b, "12.35");
    ck_assert(lsc_tui_match("*q_proj", "a.q_proj"));
    ck_assert(!lsc_tui_match("*q_proj", "a.q_proj.x"));
    ck_assert(lsc_tui_match("Q_PR", "a.q_proj.x"));
    ck_assert(lsc_tui_match("", "anything"));
    /* control bytes in names never reach the screen raw */
    ck_assert_str_eq(lsc_tui_short_name(g_st, "base_model.model.model.layers.3.mlp.up_proj"), "layers.3.mlp.up_proj");
    ck_assert_str_eq(lsc_tui_short_name(g_st, "base_model.model.lm_head"), "lm_head");
    ck_assert_str_eq(lsc_tui_short_name(g_st, "mylayers.x"), "mylayers.x");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tui-state");
    TCase *tc = tcase_create("state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_names_tables);
    tcase_add_test(tc, test_movement_paging);
    tcase_add_test(tc, test_sort_every_column);
    tcase_add_test(tc, test_sort_catalog);
    tcase_add_test(tc, test_filter_search);
    tcase_add_test(tc, test_search_without_pattern);
    tcase_add_test(tc, test_tags_diff);
    tcase_add_test(tc, test_help_back_quit);
    tcase_add_test(tc, test_spectrum_stats);
    tcase_add_test(tc, test_grid);
    tcase_add_test(tc, test_group);
    tcase_add_test(tc, test_prompt_history);
    tcase_add_test(tc, test_readonly);
    tcase_add_test(tc, test_resize);
    tcase_add_test(tc, test_formats);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
