/* check-tui-state.c: the workbench's state machine driven by requests and keys, without curses.
 *
 * Against the fake model (fixed seed): movement and paging bounds, sorting by every column in both
 * directions (checked against an independent ordering of the model's own data), filter and search,
 * tags and diff opening, help overlay, back navigation, the input line, the prompt, resize flags, and the
 * fake model's statistics recomputed from its singular values. The edits: the prune panel (rule cycling,
 * threshold steps and bounds, previews recomputed on every change and checked against the rules
 * recomputed from the singular values), the merge panel (fields, weights, errors against the merged
 * spectrum), confirmations that default to No, undo/redo, the session script, and a command on the worker
 * thread with progress and a cancel that writes nothing.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "layername.h"
#include "job.h"
#include "keys.h"
#include "tui_fake_model.h"
#include "state.h"
#include "view.h"

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
    return &g_st->layers.rows[l->order[l->cursor]];
}

static void open_chat(void)
{
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert_str_eq(g_st->catalog.rows[g_st->lists[LSC_VIEW_CATALOG].order[0]].name, "llama2-7b-chat");
    unsigned ch = req(LSC_REQ_ENTER);
    ck_assert(ch & LSC_TUI_CH_REDRAW);
    ck_assert(ch & LSC_TUI_CH_RELOAD);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    ck_assert_uint_eq(g_st->layers.n, 224);
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
    ck_assert_int_eq(lsc_tui_key_lookup(LSC_VIEW_GRID, 'o'), LSC_REQ_METRIC);
    ck_assert_int_eq(lsc_tui_key_lookup(LSC_VIEW_LAYERS, 'o'), LSC_REQ_GROUP);
    ck_assert_int_eq(lsc_tui_key_lookup(LSC_VIEW_CATALOG, 'm'), LSC_REQ_MERGE);
    ck_assert_int_eq(lsc_tui_key_lookup(LSC_VIEW_HISTORY, 'm'), LSC_REQ_NONE);
    /* no key is bound twice in one view (its own table and the global one) */
    for (int v = 0; v < LSC_VIEW_COUNT; v++) {
        size_t n_own;
        const lsc_tui_binding *own = lsc_tui_view_keys((lsc_tui_view)v, &n_own);
        size_t n = n_own + lsc_tui_n_global_keys;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) {
                const lsc_tui_binding *a = i < n_own ? &own[i] : &lsc_tui_global_keys[i - n_own];
                const lsc_tui_binding *b = j < n_own ? &own[j] : &lsc_tui_global_keys[j - n_own];
                for (int x = 0; x < LSC_TUI_BIND_KEYS && a->keys[x]; x++)
                    for (int y = 0; y < LSC_TUI_BIND_KEYS && b->keys[y]; y++)
                        ck_assert_msg(a->keys[x] != b->keys[y], "key %d bound twice in view %s", a->keys[x],
                                      lsc_tui_view_name((lsc_tui_view)v));
            }
    }
}
END_TEST

/* The bar text of view v at `cols` ("Enter open  p prune ..."), as a reader sees it. */
static void bar_text(lsc_tui_view v, lsc_tui_bar_ctx ctx, int cols, char *buf, size_t cap)
{
    lsc_tui_bar_item it[32];
    int n = lsc_tui_bar(v, ctx, cols, 0, it, 32);
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s %s", i ? "  " : "", it[i].key_text, it[i].label);
}

/* Every key on a view's bottom bar is bound in that view (own table, then global) to the request whose
 * label it shows; entries are whole, two columns apart, inside the width at 60, 80, 132 and 200 columns;
 * the narrower bar keeps the view's lower ranks and the global entries. */
START_TEST(test_keybar_per_view)
{
    static const int widths[] = {60, 80, 132, 200};
    for (int v = 0; v < LSC_VIEW_COUNT; v++) {
        const char *vn = lsc_tui_view_name((lsc_tui_view)v);
        int max_rank_prev = 1 << 20;
        for (int w = 3; w >= 0; w--) {
            for (int uni = 0; uni < 2; uni++) {
                lsc_tui_bar_item it[32];
                int n = lsc_tui_bar((lsc_tui_view)v, LSC_BAR_VIEW, widths[w], uni, it, 32);
                int has_help = 0, x = 0, max_rank = 0;
                for (int i = 0; i < n; i++) {
                    const lsc_tui_binding *b = lsc_tui_key_binding((lsc_tui_view)v, it[i].key);
                    ck_assert_msg(b != NULL, "%s: bar key '%s' is not bound", vn, it[i].key_text);
                    ck_assert_msg(b->req == it[i].req, "%s: bar key '%s' makes %s, the bar says %s", vn,
                                  it[i].key_text, lsc_tui_req_name(b->req), lsc_tui_req_name(it[i].req));
                    const char *want = v == LSC_VIEW_CATALOG && b->req == LSC_REQ_BACK ? "quit" : b->bar;
                    ck_assert_msg(want && strcmp(want, it[i].label) == 0, "%s: '%s %s' labels another binding", vn,
                                  it[i].key_text, it[i].label);
                    char kn[16];
                    ck_assert_str_eq(it[i].key_text, lsc_tui_key_name(it[i].key, kn, sizeof kn));
                    ck_assert_int_eq(it[i].x, x);
                    ck_assert_int_eq(it[i].width, (int)strlen(it[i].key_text) + 1 + (int)strlen(it[i].label));
                    x += it[i].width + 2;
                    has_help |= it[i].req == LSC_REQ_HELP;
                    if (it[i].role != LSC_BAR_ROLE_GLOBAL && b->bar_rank > max_rank)
                        max_rank = b->bar_rank;
                }
                ck_assert_msg(n > 0 && x - 2 <= widths[w], "%s: bar of %d columns at %d", vn, x - 2, widths[w]);
                ck_assert_msg(has_help, "%s: no help on the bar at %d columns", vn, widths[w]);
                /* what is left out at this width has a higher rank than everything kept */
                size_t n_own;
                const lsc_tui_binding *own = lsc_tui_view_keys((lsc_tui_view)v, &n_own);
                for (size_t k = 0; k < n_own; k++) {
                    if (!own[k].bar)
                        continue;
                    int shown = 0;
                    for (int i = 0; i < n; i++)
                        shown |= it[i].req == own[k].req;
                    ck_assert_msg(shown || own[k].bar_rank > max_rank, "%s: '%s' left out before rank %d", vn,
                                  own[k].bar, max_rank);
                    if (widths[w] == 200)
                        ck_assert_msg(shown, "%s: '%s' left out at 200 columns", vn, own[k].bar);
                }
                ck_assert_int_le(max_rank, max_rank_prev);
                if (uni)
                    max_rank_prev = max_rank;
            }
        }
    }
    /* hand-worked bars */
    char buf[512];
    bar_text(LSC_VIEW_CATALOG, LSC_BAR_VIEW, 200, buf, sizeof buf);
    ck_assert_str_eq(buf, "Enter open  p prune  m merge  d diff  t tag  / search  f filter  u undo  > sort  ? help  : cmd"
                          "  q quit");
    bar_text(LSC_VIEW_CATALOG, LSC_BAR_VIEW, 60, buf, sizeof buf); /* 59 columns; t tag on would make 66 */
    ck_assert_str_eq(buf, "Enter open  p prune  m merge  d diff  ? help  : cmd  q quit");
    bar_text(LSC_VIEW_LAYERS, LSC_BAR_VIEW, 80, buf, sizeof buf);
    ck_assert_str_eq(buf, "Enter spectrum  v grid  p prune  K kind  R retrain  t tag  ? help  : cmd  q back");
    bar_text(LSC_VIEW_PRUNE, LSC_BAR_VIEW, 80, buf, sizeof buf);
    ck_assert_str_eq(buf, "Enter apply  r rule  h lower  l raise  e type  f layers  ? help  : cmd  q back");
    bar_text(LSC_VIEW_LAYERS, LSC_BAR_PROMPT, 80, buf, sizeof buf);
    ck_assert_str_eq(buf, "Tab complete  Up/Dn history  Enter run  Esc cancel  ^U clear");
    bar_text(LSC_VIEW_LAYERS, LSC_BAR_PROMPT, 60, buf, sizeof buf);
    ck_assert_str_eq(buf, "Tab complete  Up/Dn history  Enter run  Esc cancel  ^U clear");
    bar_text(LSC_VIEW_CATALOG, LSC_BAR_CONFIRM, 80, buf, sizeof buf);
    ck_assert_str_eq(buf, "y yes  n no  Enter no  Esc no");
    bar_text(LSC_VIEW_RETRAIN, LSC_BAR_JOB, 80, buf, sizeof buf);
    ck_assert_str_eq(buf, "Esc cancel  p pause");
}
END_TEST

/* The bar follows what has the keys: the help overlay, the confirm box, the prompt and the input line. */
START_TEST(test_keybar_context)
{
    ck_assert_int_eq(lsc_tui_bar_context(g_st), LSC_BAR_VIEW);
    lsc_tui_state_key(g_st, '?');
    ck_assert_int_eq(lsc_tui_bar_context(g_st), LSC_BAR_HELP);
    lsc_tui_state_key(g_st, LSC_KEY_ESC);
    lsc_tui_state_key(g_st, ':');
    ck_assert_int_eq(lsc_tui_bar_context(g_st), LSC_BAR_PROMPT);
    lsc_tui_state_key(g_st, LSC_KEY_ESC);
    lsc_tui_state_key(g_st, '/');
    ck_assert_int_eq(lsc_tui_bar_context(g_st), LSC_BAR_INPUT);
    lsc_tui_state_key(g_st, LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_bar_context(g_st), LSC_BAR_VIEW);
    /* a click on an entry makes its request (its last column); a click between entries does nothing */
    lsc_tui_bar_item it[32];
    int n = lsc_tui_bar(LSC_VIEW_CATALOG, LSC_BAR_VIEW, g_st->lay.cols, 0, it, 32), prune = -1;
    for (int i = 0; i < n; i++)
        if (it[i].req == LSC_REQ_PRUNE)
            prune = i;
    ck_assert_int_ge(prune, 1);
    lsc_tui_state_click(g_st, g_st->lay.keys_y, it[prune].x - 1, 1);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    lsc_tui_state_click(g_st, g_st->lay.keys_y, it[prune].x + it[prune].width - 1, 1);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_PRUNE);
}
END_TEST

START_TEST(test_movement_paging)
{
    open_chat();
    lsc_tui_list *l = cur_list();
    int h = g_st->lay.body_h;
    ck_assert_int_eq(h, 19); /* 24 lines: title, summary, header, status, keys */
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
    ck_assert_uint_eq(l->n, g_st->layers.n);
    int strictly_moved = 0;
    for (size_t i = 1; i < l->n; i++) {
        const char *sa, *sb;
        double a = layer_key(&g_st->layers.rows[l->order[i - 1]], c, &sa);
        double b = layer_key(&g_st->layers.rows[l->order[i]], c, &sb);
        /* names in natural order (layers.2 before layers.10), other text byte by byte */
        int cmp = sa ? (c == LSC_COL_NAME ? lsc_layername_cmp(sa, sb) : strcmp(sa, sb)) : (a < b ? -1 : a > b);
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
    ck_assert_str_eq(g_st->catalog.rows[g_st->lists[LSC_VIEW_CATALOG].order[2]].name, "llama2-7b-qv-ada");
    req(LSC_REQ_ENTER);
    ck_assert_uint_eq(g_st->layers.n, 64);
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
    ck_assert_int_eq(g_st->layers.rows[l->order[0]].nonfinite, 1);
}
END_TEST

START_TEST(test_sort_catalog)
{
    lsc_tui_list *l = cur_list();
    ck_assert_int_eq(l->sort, 0); /* by name */
    ck_assert_str_eq(g_st->catalog.rows[l->order[0]].name, "llama2-7b-chat");
    req(LSC_REQ_SORT_NEXT); /* kind, ascending */
    ck_assert_str_eq(g_st->catalog.rows[l->order[0]].kind, "adaptive");
    req(LSC_REQ_SORT_NEXT); /* format, ascending (all peft: stored order) */
    ck_assert_int_eq(l->desc, 0);
    ck_assert_str_eq(g_st->catalog.rows[l->order[0]].format, "peft");
    req(LSC_REQ_SORT_NEXT); /* dtype, ascending: BF16 before F32 */
    ck_assert_int_eq(l->desc, 0);
    ck_assert_str_eq(g_st->catalog.rows[l->order[0]].dtype, "BF16");
    ck_assert_str_eq(g_st->catalog.rows[l->order[2]].dtype, "F32");
    req(LSC_REQ_SORT_NEXT); /* layers, descending */
    ck_assert_int_eq(l->desc, 1);
    ck_assert_int_eq((int)g_st->catalog.rows[l->order[2]].n_layers, 64);
    req(LSC_REQ_SORT_REVERSE);
    ck_assert_int_eq((int)g_st->catalog.rows[l->order[0]].n_layers, 64);
}
END_TEST

START_TEST(test_filter_search)
{
    open_chat();
    lsc_tui_list *l = cur_list();
    ck_assert(req(LSC_REQ_FILTER) & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_FILTER);
    keys("*q_proj\n");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    ck_assert_str_eq(l->filter, "*q_proj");
    ck_assert_uint_eq(l->n, 32);
    for (size_t i = 0; i < l->n; i++)
        ck_assert_str_eq(g_st->layers.rows[l->order[i]].module_type, "q_proj");
    /* substring without wildcards, case-insensitive */
    keys("f");
    ck_assert_str_eq(g_st->prompt.buf, "*q_proj"); /* the line starts with the current filter */
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
    ck_assert_str_eq(g_st->prompt.buf, "a");
    lsc_tui_state_key(g_st, LSC_KEY_BACKSPACE);
    lsc_tui_state_key(g_st, LSC_KEY_BACKSPACE);
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
}
END_TEST

/* Issue #15 finding 12: filter and search apply as they are typed (like less and fzf), before Enter;
 * Esc puts back the list and the cursor as they were when the line opened; Enter keeps what was shown. */
START_TEST(test_filter_search_incremental)
{
    open_chat();
    lsc_tui_list *l = cur_list();
    req(LSC_REQ_DOWN);
    req(LSC_REQ_DOWN); /* layers.0 v_proj */
    size_t start = l->order[l->cursor];
    keys("f*do");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_FILTER); /* still typing */
    size_t want = 0;
    for (size_t i = 0; i < g_st->layers.n; i++)
        want += lsc_tui_match("*do", g_st->layers.rows[i].name);
    ck_assert_uint_eq(l->n, want); /* applied already */
    ck_assert_str_eq(l->filter, "*do");
    keys("wn_proj");
    ck_assert_msg(l->n == 32, "filter '%s' buf '%s': %zu rows", l->filter, g_st->prompt.buf, l->n);
    for (size_t i = 0; i < l->n; i++)
        ck_assert_str_eq(g_st->layers.rows[l->order[i]].module_type, "down_proj");
    lsc_tui_state_key(g_st, LSC_KEY_BACKSPACE); /* each edit re-applies: the glob "*down_pro" matches none */
    ck_assert_uint_eq(l->n, 0);
    lsc_tui_state_key(g_st, LSC_KEY_CTRL('u'));
    ck_assert_uint_eq(l->n, 224);
    keys("q_proj");
    ck_assert_uint_eq(l->n, 32);
    lsc_tui_state_key(g_st, LSC_KEY_ESC); /* dropped: the whole table, the cursor where it was */
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    ck_assert_str_eq(l->filter, "");
    ck_assert_uint_eq(l->n, 224);
    ck_assert_uint_eq(l->order[l->cursor], start);
    keys("fq_proj\n"); /* Enter keeps it */
    ck_assert_str_eq(l->filter, "q_proj");
    ck_assert_uint_eq(l->n, 32);
    keys("f");
    lsc_tui_state_key(g_st, LSC_KEY_CTRL('u'));
    keys("\n");
    ck_assert_uint_eq(l->n, 224);
    /* search: the cursor moves to the first match after where / was pressed, at each key */
    req(LSC_REQ_TOP);
    keys("/layers.3.m");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_SEARCH);
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.gate_proj");
    keys("lp.d");
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.down_proj");
    lsc_tui_state_key(g_st, LSC_KEY_BACKSPACE);
    lsc_tui_state_key(g_st, LSC_KEY_BACKSPACE); /* "layers.3.ml": back to the first match */
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.gate_proj");
    lsc_tui_state_key(g_st, LSC_KEY_ESC);
    ck_assert_uint_eq(l->cursor, 0);
    keys("/layers.3.mlp.u\n"); /* Enter stays on the match shown, and n goes on from it */
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.up_proj");
    keys("n");
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.up_proj"); /* the only one */
    ck_assert_ptr_nonnull(strstr(g_st->msg, "wrapped"));
}
END_TEST

/* Issue #15 finding 12: the layer table's summary: the layer count, the rank histogram in rank order and
 * the strongest finite layer, counted here independently, for every adapter of the fake catalog (one
 * with mixed ranks, one with a NaN layer made up here). */
START_TEST(test_layers_summary)
{
    for (size_t a = 0; a < 3; a++) {
        req(LSC_REQ_TOP);
        for (size_t k = 0; k < a; k++)
            req(LSC_REQ_DOWN);
        req(LSC_REQ_ENTER);
        ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
        if (a == 2)
            g_st->layers.rows[1].nonfinite = 1;
        int cnt[65] = {0};
        size_t best = 0, nf = 0;
        for (size_t i = 0; i < g_st->layers.n; i++) {
            const lsc_tui_layer *L = &g_st->layers.rows[i];
            ck_assert(L->rank >= 0 && L->rank <= 64);
            cnt[L->rank]++;
            if (L->nonfinite)
                nf++;
            else if (L->fro > g_st->layers.rows[best].fro || g_st->layers.rows[best].nonfinite)
                best = i;
        }
        char want[1024], fro[32];
        size_t len = (size_t)snprintf(want, sizeof want, " %zu layers  ranks", g_st->layers.n);
        for (int r = 0; r <= 64; r++)
            if (cnt[r])
                len += (size_t)snprintf(want + len, sizeof want - len, " r%d:%d", r, cnt[r]);
        lsc_tui_fmt_num(g_st->layers.rows[best].fro, fro, sizeof fro);
        /* the display name: the stored key without the wrapper prefix PEFT adds */
        const char *full = g_st->layers.rows[best].name, *pre = "base_model.model.";
        const char *sh = strncmp(full, pre, strlen(pre)) == 0 ? full + strlen(pre) : full;
        len += (size_t)snprintf(want + len, sizeof want - len, "  strongest %s (fro %s)", sh, fro);
        if (nf)
            snprintf(want + len, sizeof want - len, "  %zu with NaN/Inf", nf);
        char got[1024];
        lsc_tui_layers_summary(g_st, got, sizeof got);
        ck_assert_str_eq(got, want);
        req(LSC_REQ_BACK);
    }
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
    ck_assert_str_eq(g_st->diff.a, "llama2-7b-chat");
    ck_assert_str_eq(g_st->diff.b, "llama2-7b-code");
    ck_assert_uint_eq(g_st->diff.cmp.n_rows, 224);
    ck_assert_uint_eq(g_st->diff.cmp.n_only_a + g_st->diff.cmp.n_only_b, 0);
    /* both spectra of the selected row are loaded, and follow the cursor */
    ck_assert_uint_eq(g_st->diff.transient.n_sv_a, 16);
    ck_assert_uint_eq(g_st->diff.transient.n_sv_b, 16);
    double first = g_st->diff.transient.sv_a[0];
    req(LSC_REQ_DOWN);
    ck_assert_int_eq(g_st->diff.transient.row, 1);
    ck_assert(g_st->diff.transient.sv_a[0] != first);
    /* related adapters: cosines high */
    for (size_t i = 0; i < g_st->diff.cmp.n_rows; i++)
        ck_assert(g_st->diff.cmp.rows[i].cosine > 0.5);
    /* sort by cosine descending, check */
    req(LSC_REQ_SORT_NEXT);
    req(LSC_REQ_SORT_NEXT);
    lsc_tui_list *dl = cur_list();
    ck_assert_int_eq(dl->sort, 1);
    ck_assert_int_eq(dl->desc, 1);
    for (size_t i = 1; i < dl->n; i++)
        ck_assert(g_st->diff.cmp.rows[dl->order[i - 1]].cosine >= g_st->diff.cmp.rows[dl->order[i]].cosine);
    /* Tab switches the pane; Enter opens the layer's spectrum in a */
    req(LSC_REQ_TAB);
    ck_assert_int_eq(g_st->diff.transient.pane, 1);
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    ck_assert_str_eq(g_st->layers.adapter, "llama2-7b-chat");
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_DIFF);
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    /* two tags: chat vs qv-ada, only-in lists */
    req(LSC_REQ_BOTTOM);
    req(LSC_REQ_TAG);
    ck_assert_uint_eq(l->n_tagged, 2);
    req(LSC_REQ_DIFF);
    ck_assert_str_eq(g_st->diff.b, "llama2-7b-qv-ada");
    ck_assert_uint_eq(g_st->diff.cmp.n_rows, 64);
    ck_assert_uint_eq(g_st->diff.cmp.n_only_a, 160);
    ck_assert_uint_eq(g_st->diff.cmp.n_only_b, 0);
}
END_TEST

START_TEST(test_help_back_quit)
{
    open_chat();
    ck_assert(req(LSC_REQ_HELP) & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(g_st->help.open, 1);
    /* while the overlay is up, movement scrolls it and leaves the table alone */
    req(LSC_REQ_DOWN);
    ck_assert_uint_eq(g_st->help.top, 1);
    ck_assert_uint_eq(cur_list()->cursor, 0);
    req(LSC_REQ_HELP);
    ck_assert_int_eq(g_st->help.open, 0);
    keys("?");
    ck_assert_int_eq(g_st->help.open, 1);
    lsc_tui_state_key(g_st, LSC_KEY_ESC);
    ck_assert_int_eq(g_st->help.open, 0);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS); /* Esc closed the overlay only */
    keys("?x"); /* an unbound key closes it too */
    ck_assert_int_eq(g_st->help.open, 0);
    /* drill down and back */
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    ck_assert_int_eq(g_st->depth, 3);
    ck_assert_uint_eq(g_st->spectrum.transient.n_sv, 16);
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
    for (size_t li = 0; li < g_st->layers.n; li += 17) {
        const lsc_tui_layer *L = &g_st->layers.rows[li];
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
    ck_assert_uint_eq(g_st->spectrum.layer, 0);
    req(LSC_REQ_DOWN);
    ck_assert_uint_eq(g_st->spectrum.layer, 1);
    ck_assert_uint_eq(g_st->lists[LSC_VIEW_LAYERS].cursor, 1);
    req(LSC_REQ_UP);
    req(LSC_REQ_UP);
    ck_assert_uint_eq(g_st->spectrum.layer, 0);
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
    ck_assert_int_eq(g_st->grid.n_rows, 32);
    ck_assert_int_eq(g_st->grid.n_mods, 7);
    ck_assert_int_eq(g_st->grid.r, 0);
    ck_assert_int_eq(g_st->grid.c, 2); /* the grid cursor lands on the selected layer */
    req(LSC_REQ_RIGHT);
    req(LSC_REQ_RIGHT);
    req(LSC_REQ_RIGHT);
    req(LSC_REQ_RIGHT);
    req(LSC_REQ_RIGHT);
    ck_assert_int_eq(g_st->grid.c, 6); /* clamped at the last module */
    req(LSC_REQ_BOTTOM);
    ck_assert_int_eq(g_st->grid.r, 31);
    ck_assert_int_eq(g_st->grid.top, 32 - g_st->lay.body_h);
    double mx = 0;
    for (size_t i = 0; i < g_st->layers.n; i++)
        mx = fmax(mx, g_st->layers.rows[i].fro);
    ck_assert_double_eq(g_st->grid.max, mx);
    req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_RANK);
    ck_assert_double_eq(g_st->grid.max, 16);
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    ck_assert_str_eq(g_st->layers.rows[g_st->spectrum.layer].name, "base_model.model.model.layers.31.mlp.down_proj");
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_GRID);
    req(LSC_REQ_TAB);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
}
END_TEST

/* "vs base": b runs `show NAME --base --json` once as a job; the layer table's base columns and the panel
 * show its figures; b hides and shows the panel again from the session's cache (no second job, also after
 * leaving the adapter and coming back); an adapter without a base says how to record one and runs nothing;
 * a failed job (a base changed on disk) leaves its message and the fix in the panel; an edit drops the
 * cache. The fake's figures: rel_norm = fro / 40, amplification = 1 + 0.25 (i mod 7), intruders = i mod 3. */
START_TEST(test_vsbase)
{
    open_chat();
    ck_assert(lsc_tui_vsbase_shown(g_st));
    lsc_tui_col cols[LSC_TUI_MAX_COLS];
    int nc = lsc_tui_view_columns(g_st, LSC_VIEW_LAYERS, cols, LSC_TUI_MAX_COLS), rel_col = -1;
    ck_assert_int_eq(nc, 21);
    for (int k = 0; k < nc; k++)
        if (cols[k] == LSC_COL_REL_NORM)
            rel_col = k;
    ck_assert_int_ge(rel_col, 0);
    char cell[64];
    lsc_tui_cell_text(g_st, LSC_VIEW_LAYERS, 0, LSC_COL_REL_NORM, cell, sizeof cell);
    ck_assert_str_eq(cell, "-"); /* unknown until computed */
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 0);
    keys("b");
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
    ck_assert_int_eq(g_st->vsbase.panel, 1);
    for (size_t i = 0; i < g_st->layers.n; i++) {
        const lsc_tui_basefig_row *f = lsc_tui_vsbase_fig(g_st, i);
        ck_assert_ptr_nonnull(f);
        ck_assert_double_eq_tol(f->rel_norm, g_st->layers.rows[i].fro / 40.0, 1e-15);
        ck_assert_double_eq_tol(f->amplification, 1.0 + 0.25 * (double)(i % 7), 1e-15);
        ck_assert_int_eq(f->intruders, (int)(i % 3));
        ck_assert_int_eq(f->k, 2 * g_st->layers.rows[i].rank);
    }
    lsc_tui_cell_text(g_st, LSC_VIEW_LAYERS, 0, LSC_COL_INTRUDERS, cell, sizeof cell);
    ck_assert_str_eq(cell, "0");
    /* the grid's heat against the base takes them from there instead of reading the base again */
    req(LSC_REQ_GRID);
    req(LSC_REQ_METRIC);
    req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_REL);
    int on_model = -1, on_readers = -1;
    lsc_tui_model_fake_base_reads(&g_model, &on_model, &on_readers);
    ck_assert_int_eq(on_model, 0);
    ck_assert_int_eq(on_readers, 1);
    for (size_t i = 0; i < g_st->layers.n; i++)
        ck_assert_double_eq(lsc_tui_grid_value(g_st, i), lsc_tui_vsbase_fig(g_st, i)->rel_norm);
    req(LSC_REQ_TAB);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    char lines[24][LSC_TUI_VSBASE_LINE];
    int n = lsc_tui_vsbase_lines(g_st, lines, 24, 60), amp = 0, intr = 0;
    for (int i = 0; i < n; i++) {
        amp |= strstr(lines[i], "amplif") != NULL;
        intr |= strstr(lines[i], "< 0.5") != NULL;
    }
    ck_assert_msg(amp && intr && strstr(lines[0], "/models/llama-2-7b"), "%s", lines[0]);
    /* sorting by |dW|/|W| orders the rows by the figure */
    lsc_tui_list *l = cur_list();
    while (l->sort != rel_col)
        req(LSC_REQ_SORT_NEXT);
    for (size_t i = 1; i < l->n; i++) {
        double a = lsc_tui_vsbase_fig(g_st, l->order[i - 1])->rel_norm, b = lsc_tui_vsbase_fig(g_st, l->order[i])->rel_norm;
        ck_assert_msg(l->desc ? a >= b : a <= b, "rows %zu, %zu: %g %g (desc %d)", i - 1, i, a, b, l->desc);
    }
    keys("b");
    ck_assert_int_eq(g_st->vsbase.panel, 0);
    keys("b");
    ck_assert_int_eq(g_st->vsbase.panel, 1);
    req(LSC_REQ_BACK);
    req(LSC_REQ_ENTER);
    ck_assert_ptr_nonnull(lsc_tui_vsbase_fig(g_st, 0));
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1); /* kept for the session */
    /* no base: say how to record one, run nothing */
    req(LSC_REQ_BACK);
    g_st->lists[LSC_VIEW_CATALOG].cursor = 2;
    req(LSC_REQ_ENTER);
    ck_assert_str_eq(g_st->layers.adapter, "llama2-7b-qv-ada");
    ck_assert(!lsc_tui_vsbase_shown(g_st));
    ck_assert_int_eq(lsc_tui_view_columns(g_st, LSC_VIEW_LAYERS, cols, LSC_TUI_MAX_COLS), 16);
    keys("b");
    ck_assert_msg(strstr(g_st->msg, "no base recorded") && strstr(g_st->msg, ":base llama2-7b-qv-ada PATH"), "%s", g_st->msg);
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
    /* a base changed on disk: the message and the fix stay in the panel */
    req(LSC_REQ_BACK);
    g_st->lists[LSC_VIEW_CATALOG].cursor = 1;
    req(LSC_REQ_ENTER);
    ck_assert_str_eq(g_st->layers.adapter, "llama2-7b-code");
    keys("b");
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 2);
    ck_assert_ptr_null(lsc_tui_vsbase_fig(g_st, 0));
    n = lsc_tui_vsbase_lines(g_st, lines, 24, 40);
    ck_assert_int_ge(n, 4);
    for (int i = 0; i < n; i++)
        ck_assert_uint_le(strlen(lines[i]), i ? 40 : LSC_TUI_VSBASE_LINE);
    n = lsc_tui_vsbase_lines(g_st, lines, 24, 100);
    ck_assert_msg(strstr(lines[n - 2], "since it was recorded") &&
                  strcmp(lines[n - 1], "fix: :base llama2-7b-code /models/llama-2-7b") == 0, "%s / %s", lines[n - 2],
                  lines[n - 1]);
    /* an edit drops the cache: the chat adapter's figures are asked again */
    lsc_tui_reload_after_edit(g_st);
    ck_assert_int_eq(g_st->vsbase.n_cache, 0);
    req(LSC_REQ_BACK);
    g_st->lists[LSC_VIEW_CATALOG].cursor = 0;
    req(LSC_REQ_ENTER);
    ck_assert_ptr_null(lsc_tui_vsbase_fig(g_st, 0));
    keys("b");
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 3);
    ck_assert_ptr_nonnull(lsc_tui_vsbase_fig(g_st, 0));
}
END_TEST

/* The grid's third metric: |dW|/|W| against the base, asked of the model once; an adapter without a
 * recorded base says so and the heat stays on the norm. */
/* The grid's heat by |dW|/|W| against the base (o o) reads no base on the UI thread: it shows the "vs
 * base" figures (the job b starts, on a reader of the model, as in the layer table), "not computed yet"
 * with the key until then. One computation serves the grid and the panel: b in either, the other shows
 * them, no second job. An adapter without a base says how to record one and the heat goes back to the norm. */
START_TEST(test_grid_vs_base)
{
    open_chat();
    req(LSC_REQ_GRID);
    req(LSC_REQ_METRIC);
    req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_REL);
    int on_model = -1, on_readers = -1;
    lsc_tui_model_fake_base_reads(&g_model, &on_model, &on_readers);
    ck_assert_int_eq(on_model, 0); /* choosing the heat reads nothing */
    ck_assert_int_eq(on_readers, 0);
    for (size_t i = 0; i < g_st->layers.n; i++)
        ck_assert_msg(isnan(lsc_tui_grid_value(g_st, i)), "row %zu: %g before the figures", i,
                      lsc_tui_grid_value(g_st, i));
    ck_assert_msg(strstr(g_st->msg, "not computed yet") && strstr(g_st->msg, "b computes them"), "%s", g_st->msg);
    keys("b"); /* no worker thread in this test: the job ran inside, on a reader */
    lsc_tui_model_fake_base_reads(&g_model, &on_model, &on_readers);
    ck_assert_int_eq(on_model, 0);
    ck_assert_int_eq(on_readers, 1);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_GRID);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_REL);
    double mx = 0;
    for (size_t i = 0; i < g_st->layers.n; i++) {
        ck_assert_double_eq_tol(lsc_tui_grid_value(g_st, i), g_st->layers.rows[i].fro / 40.0, 1e-15);
        mx = fmax(mx, g_st->layers.rows[i].fro / 40.0);
    }
    ck_assert_double_eq_tol(g_st->grid.max, mx, 1e-15);
    req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_NORM); /* and round again: no second job */
    req(LSC_REQ_METRIC);
    req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_REL);
    ck_assert_double_eq_tol(lsc_tui_grid_value(g_st, 3), g_st->layers.rows[3].fro / 40.0, 1e-15);
    keys("b");
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
    /* the panel of the layer table has them too */
    req(LSC_REQ_TAB);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    ck_assert_ptr_nonnull(lsc_tui_vsbase_fig(g_st, 0));
    while (g_st->depth > 1)
        req(LSC_REQ_BACK);
    g_st->lists[LSC_VIEW_CATALOG].cursor = 2; /* llama2-7b-qv-ada: no base in the fake model */
    req(LSC_REQ_ENTER);
    req(LSC_REQ_GRID);
    req(LSC_REQ_METRIC);
    req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_NORM);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "no base recorded for 'llama2-7b-qv-ada'"));
    keys("b");
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_NORM);
    ck_assert_msg(strstr(g_st->msg, "no base recorded for 'llama2-7b-qv-ada'") && strstr(g_st->msg, ":base"), "%s",
                  g_st->msg);
    lsc_tui_model_fake_base_reads(&g_model, &on_model, &on_readers);
    ck_assert_int_eq(on_model, 0);
    ck_assert_int_eq(on_readers, 1);
}
END_TEST

START_TEST(test_group)
{
    open_chat();
    req(LSC_REQ_GROUP);
    lsc_tui_list *l = cur_list();
    /* grouped: all q_proj first (32 of them), then k_proj ... each group in stored order */
    for (size_t i = 0; i < 32; i++)
        ck_assert_str_eq(g_st->layers.rows[l->order[i]].module_type, "q_proj");
    ck_assert_str_eq(g_st->layers.rows[l->order[32]].module_type, "k_proj");
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
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_PROMPT);
    keys("echo 'two words' three\n");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_OUTPUT);
    ck_assert_uint_eq(g_st->output.n, 1);
    ck_assert_str_eq(g_st->output.lines[0], "two words three");
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
    for (size_t i = 0; i < g_st->catalog.n; i++)
        found |= strcmp(g_st->catalog.rows[i].name, "code-v2") == 0;
    ck_assert_int_eq(found, 1);
    req(LSC_REQ_BACK);
    /* history, newest first, includes the rename */
    req(LSC_REQ_HISTORY);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_HISTORY);
    ck_assert_uint_eq(g_st->history.n, 6);
    ck_assert_str_eq(g_st->history.rows[0].command, "rename");
    char cell[64];
    lsc_tui_cell_text(g_st, LSC_VIEW_HISTORY, 2, LSC_COL_STATE, cell, sizeof cell);
    ck_assert_str_eq(cell, "undone");
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_OUTPUT);
    ck_assert_ptr_nonnull(strstr(g_st->output.lines[2], "rename"));
}
END_TEST

START_TEST(test_readonly)
{
    lsc_tui_state_free(g_st);
    lsc_error err = {0};
    lsc_tui_state_opts o = {.readonly = 1, .adapter = "llama2-7b-code"};
    ck_assert_int_eq(lsc_tui_state_new(&g_model, &o, 24, 80, &g_st, &err), LSC_OK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS); /* opened on the given adapter */
    ck_assert_str_eq(g_st->layers.adapter, "llama2-7b-code");
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
    ck_assert_int_eq(g_st->lay.body_h, 38);
    ck_assert_uint_eq(l->cursor, 223);
    ck_assert_uint_eq(l->top, 224 - 38);
    ck_assert_int_eq(g_st->lay.too_small, 0);
    /* more columns fit at 132 than at 80 */
    int wide = g_st->lay.n_colpos;
    lsc_tui_state_resize(g_st, 24, 80);
    ck_assert_int_lt(g_st->lay.n_colpos, wide);
    ck_assert_uint_eq(l->top, 224 - 19);
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
    /* the display name every command prints: only PEFT's wrapper left out (issue #15, item 2) */
    ck_assert_str_eq(lsc_tui_short_name(g_st, "base_model.model.model.layers.3.mlp.up_proj"), "model.layers.3.mlp.up_proj");
    ck_assert_str_eq(lsc_tui_short_name(g_st, "base_model.model.lm_head"), "lm_head");
    ck_assert_str_eq(lsc_tui_short_name(g_st, "mylayers.x"), "mylayers.x");
}
END_TEST

/* ---- edits: prune panel, merge panel, undo/redo, session, jobs ------------------------------------- */

static unsigned key(int k) { return lsc_tui_state_key(g_st, k); }

/* The message lsc_dispatch gives for a command line (NULL-terminated words; parsing and validation only,
 * as a script check does), without its " (see 'lorascope X --help')" tail: what a panel must show. */
static const char *cli_msg(char *buf, size_t cap, const char *w0, ...)
{
    char *argv[48];
    int argc = 0;
    va_list ap;
    va_start(ap, w0);
    for (const char *w = w0; w && argc < 48; w = va_arg(ap, const char *))
        argv[argc++] = (char *)w;
    va_end(ap);
    lsc_cmd_ctx ctx = {.check_only = 1};
    int rc = lsc_dispatch(&ctx, argc, argv);
    ck_assert_int_eq(rc, LSC_EXIT_USAGE);
    size_t n = strlen(ctx.err.msg) < cap ? strlen(ctx.err.msg) : cap - 1;
    memcpy(buf, ctx.err.msg, n);
    buf[n] = '\0';
    char *see = strstr(buf, " (see 'lorascope ");
    ck_assert_ptr_nonnull(see);
    *see = '\0';
    return buf;
}

static void type_line(const char *text)
{
    key(LSC_KEY_CTRL('u'));
    keys(text);
    key(LSC_KEY_ENTER);
}

static int has_adapter(const char *name)
{
    for (size_t i = 0; i < g_st->catalog.n; i++)
        if (strcmp(g_st->catalog.rows[i].name, name) == 0)
            return 1;
    return 0;
}

/* Independent energy rule: the smallest k whose leading squares reach tau of the total. */
static int energy_k(const double *sv, size_t n, double tau)
{
    double tot = 0, c = 0;
    for (size_t i = 0; i < n; i++)
        tot += sv[i] * sv[i];
    for (size_t i = 0; i < n; i++) {
        c += sv[i] * sv[i];
        if (c >= tau * tot * (1 - 1e-12))
            return (int)i + 1;
    }
    return (int)n;
}

static double tail_error(const double *sv, size_t n, size_t k)
{
    double tot = 0, tail = 0;
    for (size_t i = 0; i < n; i++) {
        tot += sv[i] * sv[i];
        if (i >= k)
            tail += sv[i] * sv[i];
    }
    return tot > 0 ? sqrt(tail / tot) : 0;
}

/* Check every row of the prune preview against the energy rule recomputed from layer_sv. */
static void check_energy_preview(double tau)
{
    const lsc_tui_prune_panel *P = &g_st->prune;
    ck_assert_int_eq(P->transient.ok, 1);
    ck_assert_uint_eq(P->transient.n_rows, g_st->layers.n);
    int64_t params = 0;
    for (size_t i = 0; i < P->transient.n_rows; i++) {
        double *sv = NULL;
        size_t n = 0;
        lsc_error err = {0};
        ck_assert_int_eq(g_model.layer_sv(g_model.ctx, P->adapter, P->transient.rows[i].name, &sv, &n, &err), LSC_OK);
        int k = energy_k(sv, n, tau);
        ck_assert_int_eq(P->transient.rows[i].rank_after, k);
        ck_assert_double_eq_tol(P->transient.rows[i].rel_error, tail_error(sv, n, (size_t)k), 1e-12);
        ck_assert_double_eq_tol(P->transient.rows[i].kept_energy, 1 - tail_error(sv, n, (size_t)k) * tail_error(sv, n, (size_t)k),
                                1e-12);
        params += (int64_t)(g_st->layers.rows[i].rank - k) * (g_st->layers.rows[i].rows + g_st->layers.rows[i].cols);
        free(sv);
    }
    ck_assert_int_eq(P->transient.tot.params_before - P->transient.tot.params_after, params);
    ck_assert_int_eq(P->transient.tot.bytes_before - P->transient.tot.bytes_after, params * 2); /* the fake stores 2 bytes a value */
}

START_TEST(test_prune_panel_rules_steps)
{
    open_chat();
    unsigned ch = keys("p");
    ck_assert(ch & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_PRUNE);
    lsc_tui_prune_panel *P = &g_st->prune;
    ck_assert_str_eq(P->adapter, "llama2-7b-chat");
    ck_assert_int_eq(P->rule, LSC_TUI_PRUNE_ENERGY);
    ck_assert_double_eq(P->value[P->rule], 0.9);
    ck_assert_uint_eq(P->transient.tot.n_chosen, 224);
    ck_assert_int_eq(P->transient.tot.max_rank, 16);
    ck_assert_int_eq(P->transient.tot.total_sv, 224 * 16);
    check_energy_preview(0.9);
    /* every step recomputes the preview */
    unsigned n0 = P->n_previews;
    key(LSC_KEY_RIGHT);
    ck_assert_uint_eq(P->n_previews, n0 + 1);
    char vt[32];
    lsc_tui_prune_value_text(g_st, vt, sizeof vt);
    ck_assert_str_eq(vt, "0.91");
    check_energy_preview(0.91);
    key(LSC_KEY_LEFT);
    key(LSC_KEY_LEFT);
    lsc_tui_prune_value_text(g_st, vt, sizeof vt);
    ck_assert_str_eq(vt, "0.89");
    key(LSC_KEY_PGDN); /* big step down */
    lsc_tui_prune_value_text(g_st, vt, sizeof vt);
    ck_assert_str_eq(vt, "0.79");
    check_energy_preview(0.79);
    key(LSC_KEY_SRIGHT);
    key(LSC_KEY_PGUP);
    key(LSC_KEY_PGUP);
    lsc_tui_prune_value_text(g_st, vt, sizeof vt);
    ck_assert_str_eq(vt, "1");
    n0 = P->n_previews;
    key(LSC_KEY_RIGHT); /* at the upper bound: nothing recomputed */
    ck_assert_uint_eq(P->n_previews, n0);
    ck_assert_double_eq(P->value[P->rule], 1);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "upper bound"));
    for (int i = 0; i < 20; i++)
        key(LSC_KEY_PGDN);
    ck_assert_double_eq_tol(P->value[P->rule], 0.01, 1e-12); /* the lower bound of a fraction */
    check_energy_preview(0.01);
    /* Tab cycles the rules in order and back, each keeping its own threshold */
    static const lsc_tui_prune_rule order[] = {LSC_TUI_PRUNE_FRO, LSC_TUI_PRUNE_CUMULATIVE, LSC_TUI_PRUNE_RATIO,
                                               LSC_TUI_PRUNE_BUDGET, LSC_TUI_PRUNE_RANK, LSC_TUI_PRUNE_ENERGY};
    for (int i = 0; i < 6; i++) {
        key(i % 2 ? 'r' : LSC_KEY_TAB);
        ck_assert_int_eq(P->rule, order[i]);
        ck_assert_int_eq(P->transient.ok, 1);
    }
    ck_assert_double_eq_tol(P->value[LSC_TUI_PRUNE_ENERGY], 0.01, 1e-12);
    /* rank: +-1 (big 4) within [1, 16] */
    while (P->rule != LSC_TUI_PRUNE_RANK)
        key(LSC_KEY_TAB);
    ck_assert_double_eq(P->value[P->rule], 8);
    key(LSC_KEY_RIGHT);
    ck_assert_double_eq(P->value[P->rule], 9);
    for (size_t i = 0; i < P->transient.n_rows; i++)
        ck_assert_int_eq(P->transient.rows[i].rank_after, 9);
    ck_assert_int_eq(P->transient.tot.params_after, P->transient.tot.params_before / 16 * 9);
    key(']');
    key(']');
    ck_assert_double_eq(P->value[P->rule], 16);
    ck_assert_uint_eq(P->transient.tot.n_cut, 0);
    for (int i = 0; i < 10; i++)
        key('[');
    ck_assert_double_eq(P->value[P->rule], 1);
    /* ratio: +-0.5 from 10, never below 1 */
    while (P->rule != LSC_TUI_PRUNE_RATIO)
        key(LSC_KEY_TAB);
    key(LSC_KEY_RIGHT);
    ck_assert_double_eq(P->value[P->rule], 10.5);
    for (int i = 0; i < 5; i++)
        key(LSC_KEY_PGDN);
    ck_assert_double_eq(P->value[P->rule], 1);
    /* budget: +-1 and +-10, half of all singular values by default, at most all of them */
    key(LSC_KEY_TAB);
    ck_assert_int_eq(P->rule, LSC_TUI_PRUNE_BUDGET);
    ck_assert_double_eq(P->value[P->rule], 224 * 16 / 2);
    key(LSC_KEY_RIGHT);
    key(LSC_KEY_PGUP);
    ck_assert_double_eq(P->value[P->rule], 224 * 8 + 11);
    int kept = 0;
    for (size_t i = 0; i < P->transient.n_rows; i++)
        kept += P->transient.rows[i].rank_after;
    ck_assert_int_eq(kept, 224 * 8 + 11);
    keys("=");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_VALUE);
    type_line("99999");
    ck_assert_double_eq(P->value[P->rule], 99999); /* typed values may exceed the step bounds... */
    ck_assert_uint_eq(P->transient.tot.n_cut, 0);
    key(LSC_KEY_LEFT);                              /* ...the next step brings them back */
    ck_assert_double_eq(P->value[P->rule], 224 * 16);
    /* a typed value the rule refuses is not taken */
    key(LSC_KEY_TAB);
    key(LSC_KEY_TAB);
    ck_assert_int_eq(P->rule, LSC_TUI_PRUNE_ENERGY);
    keys("=");
    type_line("1.5");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    char cm[512];
    ck_assert_str_eq(g_st->msg, cli_msg(cm, sizeof cm, "prune", P->adapter, "--energy", "1.5", NULL));
    ck_assert_str_eq(g_st->msg, "prune: --energy takes a fraction in (0, 1], not '1.5'");
    ck_assert_double_eq_tol(P->value[P->rule], 0.01, 1e-12);
    keys("=");
    type_line("x");
    ck_assert_str_eq(g_st->msg, cli_msg(cm, sizeof cm, "prune", P->adapter, "--energy", "x", NULL));
    keys("=");
    type_line("0.5");
    check_energy_preview(0.5);
    /* --layers: only q_proj, and a glob that matches nothing */
    keys("f");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_GLOB);
    type_line("q_proj");
    ck_assert_uint_eq(P->transient.tot.n_chosen, 32);
    ck_assert_int_eq(P->transient.rows[1].chosen, 0); /* k_proj */
    ck_assert_int_eq(P->transient.rows[1].rank_after, 16);
    char cell[32];
    lsc_tui_cell_text(g_st, LSC_VIEW_PRUNE, 1, LSC_COL_KEPT, cell, sizeof cell);
    ck_assert_str_eq(cell, "-");
    keys("f");
    type_line("*nothing*");
    ck_assert_int_eq(P->transient.ok, 0);
    ck_assert_str_eq(P->transient.error, "no layer of 'llama2-7b-chat' matches '*nothing*'");
    ck_assert_uint_eq(cur_list()->n, 0);
    keys("\n"); /* Enter on a failed preview says why and opens nothing */
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    keys("f");
    type_line("");
    ck_assert_uint_eq(P->transient.tot.n_chosen, 224);
    /* Esc goes back; p again keeps the settings of this adapter */
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    keys("p");
    ck_assert_double_eq_tol(P->value[LSC_TUI_PRUNE_ENERGY], 0.5, 1e-12);
}
END_TEST

START_TEST(test_prune_from_spectrum_and_nonfinite)
{
    req(LSC_REQ_BOTTOM);
    req(LSC_REQ_ENTER); /* llama2-7b-qv-ada: ranks 4..12 and one non-finite layer */
    for (int i = 0; i < 5; i++)
        req(LSC_REQ_DOWN);
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    size_t layer = g_st->spectrum.layer;
    keys("p");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_PRUNE);
    lsc_tui_prune_panel *P = &g_st->prune;
    ck_assert_int_eq(P->chart, 1);
    ck_assert_int_gt(g_st->lay.pane_h, 0); /* the chart pane, even at 80 columns */
    lsc_tui_list *l = cur_list();
    ck_assert_uint_eq(l->order[l->cursor], layer);
    ck_assert_int_eq(P->transient.sv_row, (long)layer);
    ck_assert_uint_eq(P->transient.n_sv, (size_t)g_st->layers.rows[layer].rank);
    ck_assert_uint_eq(P->transient.tot.n_nonfinite, 1);
    size_t bad = 0;
    for (size_t i = 0; i < P->transient.n_rows; i++)
        if (P->transient.rows[i].nonfinite)
            bad = i;
    ck_assert_str_eq(P->transient.rows[bad].name, "base_model.model.model.layers.17.self_attn.v_proj");
    ck_assert_int_eq(P->transient.rows[bad].chosen, 0);
    ck_assert_int_eq(P->transient.tot.max_rank, 12);
    req(LSC_REQ_DOWN);
    ck_assert_int_eq(P->transient.sv_row, (long)layer + 1); /* the chart follows the cursor */
    /* applying passes --allow-nonfinite and leaves that layer as it was */
    keys("\n");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NAME);
    ck_assert_str_eq(g_st->prompt.buf, "llama2-7b-qv-ada-energy0.9");
    keys("\n");
    ck_assert_int_eq(g_st->confirm.open, 1);
    int has = 0;
    for (int i = 0; i < g_st->confirm.action.argc; i++)
        has |= strcmp(g_st->confirm.action.argv[i], "--allow-nonfinite") == 0;
    ck_assert_int_eq(has, 1);
    keys("y");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_INFO);
    ck_assert(has_adapter("llama2-7b-qv-ada-energy0.9"));
}
END_TEST

START_TEST(test_prune_apply_confirm_undo_redo)
{
    open_chat();
    keys("p");
    lsc_tui_prune_panel *P = &g_st->prune;
    int ranks[224];
    for (size_t i = 0; i < 224; i++)
        ranks[i] = P->transient.rows[i].rank_after;
    int64_t params_after = P->transient.tot.params_after;
    /* Enter asks for the name, then confirms; the default answer is No */
    keys("\n");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NAME);
    ck_assert_str_eq(g_st->prompt.buf, "llama2-7b-chat-energy0.9");
    keys("\n");
    ck_assert_int_eq(g_st->confirm.open, 1);
    ck_assert_str_eq(g_st->confirm.question, "create 'llama2-7b-chat-energy0.9' from 'llama2-7b-chat' with --energy 0.9?");
    key(LSC_KEY_DOWN); /* other keys do nothing while asking */
    ck_assert_int_eq(g_st->confirm.open, 1);
    ck_assert_uint_eq(cur_list()->cursor, 0);
    keys("\n");
    ck_assert_int_eq(g_st->confirm.open, 0);
    ck_assert_uint_eq(g_st->catalog.n, 3);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_PRUNE);
    keys("\n\n");
    key(LSC_KEY_ESC);
    ck_assert_uint_eq(g_st->catalog.n, 3);
    keys("\n\nn");
    ck_assert_uint_eq(g_st->catalog.n, 3);
    /* a taken name is refused before asking */
    keys("\n");
    type_line("llama2-7b-code");
    ck_assert_int_eq(g_st->confirm.open, 0);
    ck_assert_str_eq(g_st->msg, "an adapter named 'llama2-7b-code' already exists");
    /* yes: the command runs, its output shows, the catalog reloads with the new adapter selected */
    keys("\n");
    type_line("chat-e90");
    const lsc_tui_argv *a = &g_st->confirm.action;
    static const char *const want[] = {"prune", "llama2-7b-chat", "--energy", "0.9", "--as", "chat-e90"};
    ck_assert_int_eq(a->argc, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(a->argv[i], want[i]);
    unsigned ch = keys("y");
    ck_assert(ch & LSC_TUI_CH_RELOAD);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_OUTPUT);
    ck_assert_str_eq(g_st->msg, "created 'chat-e90' - u undoes");
    ck_assert(has_adapter("chat-e90"));
    lsc_tui_list *cl = &g_st->lists[LSC_VIEW_CATALOG];
    ck_assert_str_eq(g_st->catalog.rows[cl->order[cl->cursor]].name, "chat-e90");
    /* the new adapter has the previewed ranks */
    lsc_tui_layer *L = NULL;
    size_t n = 0;
    lsc_error err = {0};
    ck_assert_int_eq(g_model.layers(g_model.ctx, "chat-e90", &L, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 224);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(L[i].rank, ranks[i]);
    free(L);
    for (size_t i = 0; i < g_st->catalog.n; i++)
        if (strcmp(g_st->catalog.rows[i].name, "chat-e90") == 0)
            ck_assert_int_eq(g_st->catalog.rows[i].params, params_after);
    /* undo asks first (No by default), names the entry, then hides the adapter; redo brings it back */
    key(LSC_KEY_ESC);
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    keys("u");
    ck_assert_int_eq(g_st->confirm.open, 1);
    ck_assert_str_eq(g_st->confirm.question, "undo #6 prune?");
    ck_assert_ptr_nonnull(strstr(g_st->confirm.detail, "chat-e90"));
    /* issue #15 finding 9: the command line as typed, not the catalog's JSON argument list */
    ck_assert_msg(strncmp(g_st->confirm.detail, "prune llama2-7b-chat --energy 0.9 ", 34) == 0, "detail '%s'",
                  g_st->confirm.detail);
    ck_assert_ptr_null(strpbrk(g_st->confirm.detail, "[]\""));
    key(LSC_KEY_ENTER);
    ck_assert(has_adapter("chat-e90"));
    keys("uy");
    ck_assert(!has_adapter("chat-e90"));
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_INFO);
    ck_assert_str_eq(g_st->msg, "undid #6 prune chat-e90 - U redoes");
    keys("U");
    ck_assert(has_adapter("chat-e90"));
    ck_assert_ptr_nonnull(strstr(g_st->msg, "redid #6"));
    key(LSC_KEY_CTRL('r'));
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_str_eq(g_st->msg, "nothing to redo (exit 1)");
    /* undo from inside the undone adapter's views: they close */
    for (size_t i = 0; i < cl->n; i++)
        if (strcmp(g_st->catalog.rows[cl->order[i]].name, "chat-e90") == 0)
            cl->cursor = i;
    req(LSC_REQ_ENTER);
    ck_assert_str_eq(g_st->layers.adapter, "chat-e90");
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    keys("uy");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert_int_eq(g_st->depth, 1);
    ck_assert(!has_adapter("chat-e90"));
    /* undo of an entry the command layer cannot undo says so */
    keys("uy");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_str_eq(g_st->msg, "cannot undo 'diff' (#5) (exit 1)");
}
END_TEST

START_TEST(test_prune_readonly_and_nothing_to_cut)
{
    lsc_tui_state_free(g_st);
    lsc_error err = {0};
    lsc_tui_state_opts o = {.readonly = 1, .adapter = "llama2-7b-chat"};
    ck_assert_int_eq(lsc_tui_state_new(&g_model, &o, 24, 80, &g_st, &err), LSC_OK);
    keys("p");
    ck_assert_int_eq(g_st->prune.transient.ok, 1); /* previews work read-only */
    keys("\n");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    ck_assert_str_eq(g_st->msg, "the catalog is open read-only: 'prune' would change it");
    keys("q"); /* u is the layers' key, not the panel's */
    keys("u");
    ck_assert_int_eq(g_st->confirm.open, 0);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "read-only"));
    lsc_tui_state_free(g_st);
    o.readonly = 0;
    ck_assert_int_eq(lsc_tui_state_new(&g_model, &o, 24, 80, &g_st, &err), LSC_OK);
    keys("p");
    keys("=");
    type_line("1");
    ck_assert_uint_eq(g_st->prune.transient.tot.n_cut, 0);
    keys("\n");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "nothing to cut"));
}
END_TEST

/* The fake merge: per layer, the weighted values of both inputs sorted (directions taken as orthogonal). */
static double merged_error(const char *a, const char *b, const char *layer, double wa, double wb, int rank)
{
    double *s1 = NULL, *s2 = NULL;
    size_t n1 = 0, n2 = 0;
    lsc_error err = {0};
    ck_assert_int_eq(g_model.layer_sv(g_model.ctx, a, layer, &s1, &n1, &err), LSC_OK);
    ck_assert_int_eq(g_model.layer_sv(g_model.ctx, b, layer, &s2, &n2, &err), LSC_OK);
    double all[64];
    size_t n = 0;
    for (size_t i = 0; i < n1; i++)
        all[n++] = fabs(wa) * s1[i];
    for (size_t i = 0; i < n2; i++)
        all[n++] = fabs(wb) * s2[i];
    for (size_t i = 1; i < n; i++) /* insertion sort, descending */
        for (size_t j = i; j > 0 && all[j - 1] < all[j]; j--) {
            double t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    free(s1);
    free(s2);
    return tail_error(all, n, (size_t)rank);
}

/* Issue #15 finding 12: tags survive an edit's reload (the rows are matched by name, the new adapter is
 * not tagged), T clears them in the catalog and the layer table, and Esc from the grid comes back to the
 * layer table it was opened from. */
START_TEST(test_tags_kept_cleared_grid_back)
{
    lsc_tui_list *cl = &g_st->lists[LSC_VIEW_CATALOG];
    req(LSC_REQ_TAG); /* chat */
    req(LSC_REQ_TAG); /* code */
    ck_assert_uint_eq(cl->n_tagged, 2);
    req(LSC_REQ_TOP);
    req(LSC_REQ_ENTER);
    keys("p\n");
    type_line("chat-kept");
    keys("y"); /* a new adapter: the catalog reloads with 4 rows */
    ck_assert(has_adapter("chat-kept"));
    ck_assert_uint_eq(g_st->catalog.n, 4);
    while (lsc_tui_state_view(g_st) != LSC_VIEW_CATALOG)
        req(LSC_REQ_BACK);
    ck_assert_uint_eq(cl->n_tagged, 2);
    for (size_t i = 0; i < g_st->catalog.n; i++) {
        const char *nm = g_st->catalog.rows[i].name;
        int want = strcmp(nm, "llama2-7b-chat") == 0 || strcmp(nm, "llama2-7b-code") == 0;
        ck_assert_msg(cl->tagged[i] == want, "'%s' tagged %d", nm, cl->tagged[i]);
    }
    keys("T");
    ck_assert_uint_eq(cl->n_tagged, 0);
    for (size_t i = 0; i < g_st->catalog.n; i++)
        ck_assert_int_eq(cl->tagged[i], 0);
    ck_assert_str_eq(g_st->msg, "2 tags cleared");
    /* the layer table: T clears its tags too */
    req(LSC_REQ_TOP);
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    req(LSC_REQ_TAG);
    req(LSC_REQ_TAG);
    req(LSC_REQ_TAG);
    ck_assert_uint_eq(g_st->lists[LSC_VIEW_LAYERS].n_tagged, 3);
    keys("T");
    ck_assert_uint_eq(g_st->lists[LSC_VIEW_LAYERS].n_tagged, 0);
    /* Esc from the grid: back to the layer table, not the catalog; v twice neither grows the stack */
    int depth = g_st->depth;
    req(LSC_REQ_GRID);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_GRID);
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    ck_assert_int_eq(g_st->depth, depth);
    req(LSC_REQ_GRID);
    req(LSC_REQ_GRID);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    ck_assert_int_eq(g_st->depth, depth);
}
END_TEST

/* A JSON argument list as a command line: words joined, escapes decoded, words with blanks or quotes (or
 * none) single-quoted; text that is not a list is copied; a short buffer truncates. */
START_TEST(test_args_text)
{
    char b[256];
    lsc_tui_args_text("[\"llama2-7b-chat\",\"--energy\",\"0.9\"]", b, sizeof b);
    ck_assert_str_eq(b, "llama2-7b-chat --energy 0.9");
    lsc_tui_args_text(" [ \"a b\" , \"\", \"say \\\"hi\\\"\", \"x\\u0041\\\\y\" ]", b, sizeof b);
    ck_assert_str_eq(b, "'a b' '' 'say \"hi\"' xA\\y");
    lsc_tui_args_text("[]", b, sizeof b);
    ck_assert_str_eq(b, "");
    lsc_tui_args_text("a --rank 4", b, sizeof b);
    ck_assert_str_eq(b, "a --rank 4");
    lsc_tui_args_text("[\"unterminated", b, sizeof b);
    ck_assert_str_eq(b, "");
    lsc_tui_args_text("[\"abcdef\",\"ghi\"]", b, 8);
    ck_assert_str_eq(b, "abcdef");
}
END_TEST

START_TEST(test_merge_panel)
{
    keys("m");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG); /* nothing tagged */
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    keys(" ");
    keys("m");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG); /* one is not enough */
    keys(" m");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_MERGE);
    lsc_tui_merge_panel *M = &g_st->merge;
    ck_assert_int_eq(M->n, 2);
    ck_assert_str_eq(M->names[0], "llama2-7b-chat");
    ck_assert_str_eq(M->names[1], "llama2-7b-code");
    ck_assert_int_eq(M->opts.method, LSC_TUI_MERGE_CAT);
    ck_assert_str_eq(M->weights, "1,1");
    ck_assert_int_eq(M->transient.ok, 1);
    ck_assert_uint_eq(M->transient.n_rows, 224);
    ck_assert_int_eq(M->transient.rows[0].models, 2);
    ck_assert_int_eq(M->transient.rows[0].rank, 32);
    ck_assert_double_eq(M->transient.rows[0].rel_error, 0);
    ck_assert_int_eq(M->base_rank, 16);
    /* method: Right cycles cat -> linear -> svd; svd takes the inputs' rank */
    ck_assert_int_eq(M->field, LSC_MERGE_FIELD_METHOD);
    key(LSC_KEY_RIGHT);
    ck_assert_int_eq(M->opts.method, LSC_TUI_MERGE_LINEAR);
    ck_assert_int_eq(M->transient.rows[5].rank, 32); /* linear without a rank is exact */
    unsigned n0 = M->n_previews;
    key(LSC_KEY_RIGHT);
    ck_assert_uint_eq(M->n_previews, n0 + 1);
    ck_assert_int_eq(M->opts.method, LSC_TUI_MERGE_SVD);
    ck_assert_int_eq(M->opts.rank, 16);
    double worst = 0;
    for (size_t i = 0; i < M->transient.n_rows; i += 37) {
        ck_assert_int_eq(M->transient.rows[i].rank, 16);
        ck_assert_double_eq_tol(M->transient.rows[i].rel_error,
                                merged_error(M->names[0], M->names[1], M->transient.rows[i].name, 1, 1, 16), 1e-12);
    }
    for (size_t i = 0; i < M->transient.n_rows; i++)
        worst = fmax(worst, M->transient.rows[i].rel_error);
    ck_assert_double_eq(M->transient.tot.max_rel_error, worst);
    /* fields: j/k move, Tab too; rank +-1 / +-8 and at least 1 for svd */
    keys("jj");
    ck_assert_int_eq(M->field, LSC_MERGE_FIELD_RANK);
    key(LSC_KEY_LEFT);
    ck_assert_int_eq(M->opts.rank, 15);
    ck_assert_int_eq(M->transient.rows[0].rank, 15);
    for (int i = 0; i < 3; i++)
        key(LSC_KEY_PGDN);
    ck_assert_int_eq(M->opts.rank, 1);
    key(LSC_KEY_TAB);
    ck_assert_int_eq(M->field, LSC_MERGE_FIELD_DENSITY);
    /* svd takes no --density (merge refuses it): the keys leave it and say so in merge's words */
    key(LSC_KEY_LEFT);
    ck_assert_double_eq(M->opts.density, 1);
    char cm[512];
    ck_assert_str_eq(g_st->msg, cli_msg(cm, sizeof cm, "merge", M->names[0], M->names[1], "--method", "svd", "--rank",
                                        "1", "--density", "0.5", NULL));
    /* typed, it is kept for a method that takes it (and not passed before: the preview still runs) */
    keys("=");
    type_line("0.05");
    ck_assert_double_eq_tol(M->opts.density, 0.05, 1e-12);
    ck_assert_int_eq(M->transient.ok, 1);
    key(LSC_KEY_TAB);
    key(LSC_KEY_LEFT);
    ck_assert_int_eq(M->opts.seed, 0);
    key(LSC_KEY_PGUP);
    ck_assert_int_eq(M->opts.seed, 10);
    key(LSC_KEY_TAB);
    ck_assert_int_eq(M->field, LSC_MERGE_FIELD_METHOD); /* wraps */
    /* weights: typed; the wrong count or a word is refused; the preview uses them */
    keys("j");
    key(LSC_KEY_RIGHT);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "press e"));
    keys("e");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_VALUE);
    ck_assert_str_eq(g_st->prompt.buf, "1,1");
    type_line("1,2,3");
    ck_assert_str_eq(g_st->msg, "merge: 3 weights for 2 adapters");
    keys("e");
    type_line("1,x");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    keys("e");
    type_line("2,0.5");
    ck_assert_str_eq(M->weights, "2,0.5");
    keys("j=");
    type_line("6");
    ck_assert_int_eq(M->opts.rank, 6);
    ck_assert_double_eq_tol(M->transient.rows[3].rel_error, merged_error(M->names[0], M->names[1], M->transient.rows[3].name, 2, 0.5, 6),
                            1e-12);
    /* an element-wise method: ranks only, errors when run */
    keys("kk=");
    type_line("dare-ties");
    ck_assert_int_eq(M->opts.method, LSC_TUI_MERGE_DARE_TIES);
    ck_assert(isnan(M->transient.rows[0].rel_error));
    char cell[32];
    lsc_tui_cell_text(g_st, LSC_VIEW_MERGE, 0, LSC_COL_RELERR, cell, sizeof cell);
    ck_assert_str_eq(cell, "when run");
    keys("=");
    type_line("blend");
    ck_assert_str_eq(g_st->msg, cli_msg(cm, sizeof cm, "merge", M->names[0], M->names[1], "--method", "blend", NULL));
    /* ties needs positive weights: the preview says so as the command would */
    keys("j=");
    type_line("1,-1");
    ck_assert_int_eq(M->transient.ok, 0);
    ck_assert_ptr_nonnull(strstr(M->transient.error, "needs every weight > 0"));
    keys("=");
    type_line("1,1");
    ck_assert_int_eq(M->transient.ok, 1);
    /* apply: name as the CLI would, confirm (No by default), then run */
    keys("\n");
    ck_assert_str_eq(g_st->prompt.buf, "llama2-7b-chat-llama2-7b-code-dare_ties");
    type_line("chat-code");
    ck_assert_int_eq(g_st->confirm.open, 1);
    ck_assert_ptr_nonnull(strstr(g_st->confirm.detail, "Esc cancels"));
    static const char *const want[] = {"merge", "llama2-7b-chat", "llama2-7b-code", "--method", "dare_ties", "--weights",
                                       "1,1", "--rank", "6", "--density", "0.05", "--seed", "10", "--as", "chat-code"};
    ck_assert_int_eq(g_st->confirm.action.argc, 15);
    for (int i = 0; i < 15; i++)
        ck_assert_str_eq(g_st->confirm.action.argv[i], want[i]);
    key(LSC_KEY_ESC);
    ck_assert(!has_adapter("chat-code"));
    keys("\n");
    type_line("chat-code");
    keys("y");
    ck_assert(has_adapter("chat-code"));
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_OUTPUT);
    /* a DoRA input is refused with the command's words */
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    lsc_tui_list *cl = &g_st->lists[LSC_VIEW_CATALOG];
    ck_assert_uint_eq(cl->n_tagged, 2); /* the reload kept the tags (issue #15); T clears them */
    keys("T");
    ck_assert_uint_eq(cl->n_tagged, 0);
    req(LSC_REQ_TOP);
    keys(" ");
    req(LSC_REQ_BOTTOM);
    keys(" m");
    ck_assert_int_eq(M->transient.ok, 0);
    ck_assert_str_eq(M->transient.error, "layer 'base_model.model.model.layers.5.self_attn.q_proj' of 'llama2-7b-qv-ada' is DoRA: "
                               "its magnitude vector needs the base weights, so merge refuses it");
    keys("\n");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
}
END_TEST

/* ---- the option tables: the panels' choices and refusals are the commands' own ------------------------ */

static const char *const *table_choices(const char *cmd, const char *opt, int *n)
{
    const lsc_opt *o = lsc_opts_find(lsc_command_find(cmd)->spec->opts, opt);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->type, LSC_OPT_CHOICE);
    for (*n = 0; o->choices[*n]; (*n)++)
        ;
    return o->choices;
}

/* Type `text` into the field under the cursor; the message must be what lsc_dispatch says for the
 * command line with that value (the words after the value field: NULL-terminated). */
static void typed_refused(const char *text, const char *w0, ...)
{
    char *argv[32], want[512];
    int argc = 0;
    va_list ap;
    va_start(ap, w0);
    for (const char *w = w0; w && argc < 32; w = va_arg(ap, const char *))
        argv[argc++] = (char *)w;
    va_end(ap);
    keys("=");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_VALUE);
    type_line(text);
    lsc_cmd_ctx ctx = {.check_only = 1};
    ck_assert_int_eq(lsc_dispatch(&ctx, argc, argv), LSC_EXIT_USAGE);
    snprintf(want, sizeof want, "%.*s", (int)(strstr(ctx.err.msg, " (see 'lorascope ") - ctx.err.msg), ctx.err.msg);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_str_eq(g_st->msg, want);
}

/* Each panel's choice list is its command's table's, in the table's order; prune's rules are prune's
 * RULE options. */
START_TEST(test_panel_choices_are_the_tables)
{
    int n;
    const char *const *c = table_choices("merge", "method", &n);
    keys("  m");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_MERGE);
    ck_assert_int_eq(n, LSC_TUI_MERGE_METHOD_COUNT);
    for (int i = 0; i < n; i++) { /* Right walks the table's choices from cat and back */
        ck_assert_str_eq(lsc_tui_merge_method_name(g_st->merge.opts.method), c[i]);
        ck_assert_int_eq(lsc_tui_merge_method_of(c[i]), g_st->merge.opts.method);
        key(LSC_KEY_RIGHT);
    }
    ck_assert_str_eq(lsc_tui_merge_method_name(g_st->merge.opts.method), c[0]);
    key(LSC_KEY_ESC);
    req(LSC_REQ_TOP);
    open_chat();
    keys("R");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_RETRAIN);
    lsc_tui_retrain_panel *R = &g_st->retrain;
    static const char *const opts[] = {"kind", "init"};
    for (int k = 0; k < 2; k++) {
        R->field = k ? LSC_RT_INIT : LSC_RT_KIND;
        c = table_choices("retrain", opts[k], &n);
        int *v = k ? &R->init : &R->kind;
        *v = 0;
        for (int i = 0; i < n; i++) {
            ck_assert_str_eq(k ? lsc_tui_retrain_init_name(*v) : lsc_tui_retrain_kind_name(*v), c[i]);
            key(LSC_KEY_RIGHT);
        }
        ck_assert_int_eq(*v, 0);
        ck_assert_str_eq(k ? lsc_tui_retrain_init_name(n) : lsc_tui_retrain_kind_name(n), "?");
    }
    const lsc_opt *po = lsc_command_find("prune")->spec->opts;
    int rules = 0;
    for (const lsc_opt *o = po; o->type != LSC_OPT_END; o++)
        rules += o->name && o->help && strncmp(o->help, "RULE:", 5) == 0;
    ck_assert_int_eq(rules, LSC_TUI_PRUNE_RULE_COUNT);
    for (int r = 0; r < LSC_TUI_PRUNE_RULE_COUNT; r++) {
        const lsc_opt *o = lsc_opts_find(po, lsc_tui_prune_rule_name((lsc_tui_prune_rule)r));
        ck_assert_ptr_nonnull(o);
        ck_assert_ptr_nonnull(strstr(o->help, "RULE:"));
    }
}
END_TEST

/* A bad value typed into any field of any panel shows exactly what the command says for it. */
START_TEST(test_panel_refusals_are_the_commands)
{
    open_chat();
    keys("p");
    lsc_tui_prune_panel *P = &g_st->prune;
    const char *a = P->adapter;
    static const struct { lsc_tui_prune_rule rule; const char *opt, *bad; } pr[] = {
        {LSC_TUI_PRUNE_RANK, "--rank", "2.5"}, {LSC_TUI_PRUNE_RANK, "--rank", "0"},
        {LSC_TUI_PRUNE_FRO, "--fro", "0"},     {LSC_TUI_PRUNE_CUMULATIVE, "--cumulative", "1e400"},
        {LSC_TUI_PRUNE_RATIO, "--ratio", "0.5"}, {LSC_TUI_PRUNE_BUDGET, "--budget", "1.0"},
        {LSC_TUI_PRUNE_ENERGY, "--energy", " 0.5"}};
    for (size_t i = 0; i < sizeof pr / sizeof pr[0]; i++) {
        while (P->rule != pr[i].rule)
            key(LSC_KEY_TAB);
        double before = P->value[P->rule];
        typed_refused(pr[i].bad, "prune", a, pr[i].opt, pr[i].bad, NULL);
        ck_assert_double_eq(P->value[P->rule], before);
    }
    key(LSC_KEY_ESC);
    key(LSC_KEY_ESC);
    req(LSC_REQ_TOP);
    keys("  m");
    lsc_tui_merge_panel *M = &g_st->merge;
    const char *m0 = M->names[0], *m1 = M->names[1];
    M->field = LSC_MERGE_FIELD_METHOD;
    typed_refused("mean", "merge", m0, m1, "--method", "mean", NULL);
    M->field = LSC_MERGE_FIELD_WEIGHTS;
    typed_refused("1,x", "merge", m0, m1, "--method", "cat", "--weights", "1,x", NULL);
    typed_refused("1", "merge", m0, m1, "--method", "cat", "--weights", "1", NULL);
    M->field = LSC_MERGE_FIELD_RANK;
    typed_refused("x", "merge", m0, m1, "--method", "cat", "--rank", "x", NULL);
    typed_refused("-3", "merge", m0, m1, "--method", "cat", "--rank", "-3", NULL);
    M->field = LSC_MERGE_FIELD_DENSITY;
    typed_refused("0", "merge", m0, m1, "--method", "cat", "--density", "0", NULL);
    typed_refused("1.5", "merge", m0, m1, "--method", "cat", "--density", "1.5", NULL);
    M->field = LSC_MERGE_FIELD_SEED;
    typed_refused("-1", "merge", m0, m1, "--method", "cat", "--seed", "-1", NULL);
    ck_assert_int_eq(M->opts.method, LSC_TUI_MERGE_CAT);
    ck_assert_double_eq(M->opts.density, 1);
    ck_assert_int_eq(M->opts.rank, 0);
    key(LSC_KEY_ESC);
    req(LSC_REQ_TOP);
    open_chat();
    keys("R");
    lsc_tui_retrain_panel *R = &g_st->retrain;
    R->target[0] = '\0';
    lsc_tui_copy(R->target, sizeof R->target, "llama2-7b-code");
    static const struct { int field; const char *opt, *bad; } rt[] = {
        {LSC_RT_KIND, "--kind", "huge"},   {LSC_RT_INIT, "--init", "zero"},    {LSC_RT_RANK, "--rank", "-1"},
        {LSC_RT_STEPS, "--steps", "0"},    {LSC_RT_STEPS, "--steps", "1e3"},   {LSC_RT_LR, "--lr", "0"},
        {LSC_RT_LR, "--lr", "inf"},        {LSC_RT_SEED, "--seed", "x"},       {LSC_RT_FINAL_RANK, "--final-rank", "1.5"},
        {LSC_RT_LAMBDA, "--lambda", "-1"}};
    for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++) {
        R->field = rt[i].field;
        typed_refused(rt[i].bad, "retrain", R->adapter, "--target", R->target, rt[i].opt, rt[i].bad, NULL);
    }
    ck_assert_int_eq(R->steps, 200);
    ck_assert_double_eq(R->lr, 1e-2);
    ck_assert_double_eq(R->lambda, 1e-3);
    /* the fake model refuses a command line with the command's own words too */
    char *argv[] = {"merge", (char *)m0, (char *)m1, "--method", "linear", "--density", "0.5"};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(g_model.run(g_model.ctx, 7, argv, 0, NULL, &out, &err), 2);
    lsc_cmd_ctx ctx = {.check_only = 1};
    ck_assert_int_eq(lsc_dispatch(&ctx, 7, argv), LSC_EXIT_USAGE);
    ck_assert_str_eq(err, ctx.err.msg);
    free(out);
    free(err);
}
END_TEST

/* merge refuses --density with cat, linear and svd: a density set for TIES stays in the panel but is
 * not passed once the method is switched to linear, so that merge runs. */
START_TEST(test_merge_density_only_where_taken)
{
    keys("  m");
    lsc_tui_merge_panel *M = &g_st->merge;
    keys("=");
    type_line("ties");
    M->field = LSC_MERGE_FIELD_DENSITY;
    keys("=");
    type_line("0.5");
    ck_assert_double_eq(M->opts.density, 0.5);
    ck_assert_int_eq(M->transient.ok, 1);
    M->field = LSC_MERGE_FIELD_METHOD;
    keys("=");
    type_line("linear");
    ck_assert_int_eq(M->opts.method, LSC_TUI_MERGE_LINEAR);
    ck_assert_double_eq(M->opts.density, 0.5); /* kept for a method that takes it */
    ck_assert_int_eq(M->transient.ok, 1);      /* the preview's check does not see it either */
    /* weights run as typed: merge reads the very numbers the preview used (not 6 digits of them) */
    M->field = LSC_MERGE_FIELD_WEIGHTS;
    keys("=");
    type_line("0.1234567,2");
    ck_assert_double_eq(M->opts.weights[0], 0.1234567);
    M->field = LSC_MERGE_FIELD_SEED; /* another field typed afterwards keeps them */
    keys("=");
    type_line("3");
    keys("\n");
    type_line("lin-merged");
    ck_assert_int_eq(g_st->confirm.open, 1);
    int wi = -1;
    for (int i = 0; i < g_st->confirm.action.argc; i++) {
        ck_assert_str_ne(g_st->confirm.action.argv[i], "--density");
        if (strcmp(g_st->confirm.action.argv[i], "--weights") == 0)
            wi = i + 1;
    }
    ck_assert_int_gt(wi, 0);
    ck_assert_str_eq(g_st->confirm.action.argv[wi], "0.1234567,2");
    keys("y");
    ck_assert(has_adapter("lin-merged"));
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_OUTPUT);
}
END_TEST

/* A long command on the worker thread: progress, refusal of other keys, cancel with nothing written. */
START_TEST(test_job_progress_cancel)
{
    g_st->async = 1;
    keys("  m=");
    type_line("ties");
    lsc_tui_model_fake_hold(&g_model, 5); /* merge five layers, then wait */
    keys("\n");
    type_line("slow");
    keys("y");
    ck_assert(lsc_tui_state_busy(g_st));
    for (int i = 0; i < 5000 && g_st->job_done < 5; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        ck_assert_uint_eq(lsc_tui_state_poll(g_st) & LSC_TUI_CH_RELOAD, 0);
    }
    ck_assert_int_eq(g_st->job_done, 5);
    ck_assert_int_eq(g_st->job_total, 224);
    ck_assert_str_eq(g_st->job_what, "merge ties: layer 5/224");
    /* while it runs, other keys and requests do nothing (no model call may race it) */
    ck_assert_uint_eq(key('j'), 0);
    ck_assert_uint_eq(req(LSC_REQ_REFRESH), 0);
    ck_assert_int_eq(g_st->merge.field, LSC_MERGE_FIELD_METHOD);
    ck_assert(lsc_tui_state_busy(g_st));
    /* Esc cancels; the command stops at its next layer and writes nothing */
    ck_assert(key(LSC_KEY_ESC) & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(g_st->job_cancelling, 1);
    unsigned ch = lsc_tui_state_wait(g_st);
    ck_assert(ch & LSC_TUI_CH_RELOAD);
    ck_assert(!lsc_tui_state_busy(g_st));
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    ck_assert_str_eq(g_st->msg, "'merge into slow' cancelled: nothing written");
    ck_assert(!has_adapter("slow"));
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_MERGE);
    lsc_tui_history *h = NULL;
    size_t nh = 0;
    lsc_error err = {0};
    ck_assert_int_eq(g_model.history(g_model.ctx, &h, &nh, &err), LSC_OK);
    ck_assert_uint_eq(nh, 5);
    free(h);
    /* released, the same merge runs to its end (and is collected by poll) */
    lsc_tui_model_fake_hold(&g_model, -1);
    keys("\n");
    type_line("slow");
    keys("y");
    for (int i = 0; i < 5000 && lsc_tui_state_busy(g_st); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        lsc_tui_state_poll(g_st);
    }
    ck_assert(!lsc_tui_state_busy(g_st));
    ck_assert(has_adapter("slow"));
    /* freeing the state while a job runs cancels and waits for it */
    lsc_tui_model_fake_hold(&g_model, 0);
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    keys("T"); /* the merge's tags outlive it: start afresh */
    req(LSC_REQ_TOP);
    keys("  m");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_MERGE);
    keys("=");
    type_line("magnitude");
    keys("\n\ny");
    ck_assert(lsc_tui_state_busy(g_st));
}
END_TEST

START_TEST(test_session_save)
{
    char dir[] = "/tmp/lsc-tui-state-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char file[256], file2[256];
    snprintf(file, sizeof file, "%s/session.lsc", dir);
    snprintf(file2, sizeof file2, "%s/w.lsc", dir);
    /* nothing done yet: nothing written */
    keys("W");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_FILE);
    ck_assert_str_eq(g_st->prompt.buf, "lorascope-session.lsc");
    type_line(file);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "no edits since the workbench started"));
    FILE *f = fopen(file, "r");
    ck_assert_ptr_null(f);
    /* one prune later */
    open_chat();
    keys("p\n");
    type_line("chat-e90");
    keys("y");
    keys("W");
    ck_assert_str_eq(g_st->prompt.buf, file); /* the last name is offered again */
    key(LSC_KEY_ENTER);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "saved 1 edit to"));
    char buf[2048] = "";
    f = fopen(file, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "# lorascope workbench session: the edits after history entry #5\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\nprune llama2-7b-chat --energy 0.9 --as chat-e90\n"));
    ck_assert_ptr_null(strstr(buf, "import")); /* only this session's edits */
    /* the file exists now: overwriting asks, and No leaves it alone */
    f = fopen(file, "w");
    fputs("keep me\n", f);
    fclose(f);
    keys("W\n");
    ck_assert_int_eq(g_st->confirm.open, 1);
    ck_assert_ptr_nonnull(strstr(g_st->confirm.question, "overwrite"));
    keys("\n");
    f = fopen(file, "r");
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    ck_assert_str_eq(buf, "keep me\n");
    keys("W\ny");
    f = fopen(file, "r");
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "prune llama2-7b-chat"));
    /* an undone edit is not part of the session; :w FILE saves too */
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    keys("p\n");
    type_line("chat-e90b");
    keys("y");
    keys("uy");
    char cmd[300];
    snprintf(cmd, sizeof cmd, ":w %s\n", file2);
    keys(cmd);
    f = fopen(file2, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "--as chat-e90\n"));
    ck_assert_ptr_null(strstr(buf, "chat-e90b"));
    keys(":w a b\n");
    ck_assert_str_eq(g_st->msg, "usage: :w [FILE]");
    /* an unwritable place says why */
    keys("W");
    type_line("/nonexistent-dir/x.lsc");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "cannot write '/nonexistent-dir/x.lsc'"));
    unlink(file);
    unlink(file2);
    rmdir(dir);
}
END_TEST

/* Issue #13: the session script never replaces what is not a script: an SQLite database (the catalog,
 * even after "yes, overwrite"), a FIFO (writing would block the workbench) or a folder; a symbolic link
 * is written through, the link itself stays. */
START_TEST(test_session_save_refuses_non_scripts)
{
    char dir[] = "/tmp/lsc-tui-state-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char db[256], fifo[256], real[256], link_p[256], buf[2048];
    snprintf(db, sizeof db, "%s/catalog.db", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(real, sizeof real, "%s/real.lsc", dir);
    snprintf(link_p, sizeof link_p, "%s/link.lsc", dir);
    unsigned char head[100] = "SQLite format 3";
    FILE *f = fopen(db, "wb");
    fwrite(head, 1, sizeof head, f);
    fclose(f);
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    f = fopen(real, "w");
    fputs("old\n", f);
    fclose(f);
    ck_assert_int_eq(symlink("real.lsc", link_p), 0);
    open_chat();
    keys("p\n");
    type_line("chat-e90");
    keys("y");
    const char *refused[] = {db, fifo, dir};
    for (int i = 0; i < 3; i++) {
        keys("W");
        type_line(refused[i]);
        if (g_st->confirm.open)
            keys("y"); /* even a yes must not replace it */
        ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
        ck_assert_msg(strstr(g_st->msg, "cannot save the session to"), "%s", g_st->msg);
    }
    struct stat sb;
    ck_assert(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode));
    f = fopen(db, "rb");
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert(n == sizeof head && memcmp(buf, head, sizeof head) == 0);
    keys("W");
    type_line(link_p);
    keys("y");
    ck_assert_msg(strstr(g_st->msg, "saved 1 edit"), "%s", g_st->msg);
    ck_assert(lstat(link_p, &sb) == 0 && S_ISLNK(sb.st_mode));
    f = fopen(real, "r");
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "prune llama2-7b-chat"));
    unlink(db);
    unlink(fifo);
    unlink(link_p);
    unlink(real);
    rmdir(dir);
}
END_TEST

/* ---- the kind panel and the retrain panel ------------------------------------------------------------ */

static void set_kind(const char *name, const char *kind)
{
    lsc_error err = {0};
    ck_assert_int_eq(lsc_tui_model_fake_set_kind(&g_model, name, kind, &err), LSC_OK);
    req(LSC_REQ_REFRESH);
}

/* Open catalog row `row` (0 chat, 1 code, 2 qv-ada) and its kind panel. */
static void open_kind_of(size_t row)
{
    while (g_st->depth > 1)
        req(LSC_REQ_BACK);
    g_st->lists[LSC_VIEW_CATALOG].cursor = row;
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    ck_assert(keys("K") & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_KIND);
    ck_assert_msg(g_st->kind.ok, "%s", g_st->kind.error);
}

static double *sv_of(const char *adapter, const char *layer, size_t *n)
{
    double *sv = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(g_model.layer_sv(g_model.ctx, adapter, layer, &sv, n, &err), LSC_OK);
    return sv;
}

START_TEST(test_kind_panel_kinds)
{
    /* K is not bound on the catalog: it says where it is */
    ck_assert(keys("K") & LSC_TUI_CH_REDRAW);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "'K' does nothing here (in layers"));
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    /* static: a note and the rank histogram from the layer table */
    open_kind_of(0);
    const lsc_tui_kind_panel *K = &g_st->kind;
    ck_assert_str_eq(K->kf.kind, "static");
    ck_assert_uint_eq(lsc_tui_kind_rows(g_st, NULL), 0);
    ck_assert_int_eq(K->n_ranks, 1);
    ck_assert_int_eq(K->ranks[0], 16);
    ck_assert_int_eq(K->rank_count[0], 224);
    ck_assert_uint_eq(req(LSC_REQ_TOGGLE), 0); /* nothing to toggle */
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);

    /* dynamic: best-truncation errors are the spectrum's tails; the mean row first; the widest gap */
    set_kind("llama2-7b-code", "dynamic");
    open_kind_of(1);
    ck_assert_str_eq(K->kf.kind, "dynamic");
    ck_assert_uint_eq(K->kf.n_layers, 224);
    int overall = 0;
    ck_assert_uint_eq(lsc_tui_kind_rows(g_st, &overall), 225);
    ck_assert(overall);
    size_t n = 0;
    double *sv = sv_of("llama2-7b-code", K->kf.layers[3].name, &n);
    ck_assert_uint_eq(n, (size_t)K->kf.layers[3].rank);
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e += sv[i] * sv[i];
    for (size_t b = 1; b <= n; b++) {
        double tail = 0;
        for (size_t i = b; i < n; i++)
            tail += sv[i] * sv[i];
        ck_assert_double_eq_tol(K->kf.best_err[K->kf.layers[3].off + b - 1], sqrt(tail / e), 1e-12);
        ck_assert(K->kf.prefix_err[K->kf.layers[3].off + b - 1] >= K->kf.best_err[K->kf.layers[3].off + b - 1]);
    }
    free(sv);
    double worst = 0;
    size_t wl = 0;
    for (size_t i = 0; i < K->kf.n_layers; i++)
        for (int b = 0; b < K->kf.layers[i].rank; b++) {
            double g = K->kf.prefix_err[K->kf.layers[i].off + (size_t)b] - K->kf.best_err[K->kf.layers[i].off + (size_t)b];
            if (g > worst)
                worst = g, wl = i;
        }
    ck_assert(worst > 0);
    ck_assert_uint_eq(K->widest_layer, wl);
    ck_assert_double_eq(K->widest_gap, worst);
    double mean1 = 0;
    for (size_t i = 0; i < K->kf.n_layers; i++)
        mean1 += K->kf.prefix_err[K->kf.layers[i].off];
    ck_assert_double_eq_tol(K->kf.mean_prefix_err[0], mean1 / 224, 1e-12);
    ck_assert_uint_eq(K->cursor, 0);
    ck_assert(req(LSC_REQ_DOWN) & LSC_TUI_CH_REDRAW);
    ck_assert_uint_eq(K->cursor, 1);
    req(LSC_REQ_BOTTOM);
    ck_assert_uint_eq(K->cursor, 224);
    ck_assert_uint_eq(req(LSC_REQ_DOWN), 0);
    ck_assert(K->top + (size_t)g_st->lay.body_h > K->cursor && K->top <= K->cursor);
    req(LSC_REQ_TOP);
    ck_assert_uint_eq(K->cursor, 0);
    ck_assert_uint_eq(K->top, 0);
    ck_assert_int_eq(K->alt, 0);
    keys("o");
    ck_assert_int_eq(K->alt, 1);

    /* sparse: live gates add up; the histogram counts every value */
    set_kind("llama2-7b-code", "sparse");
    open_kind_of(1);
    ck_assert_str_eq(K->kf.kind, "sparse");
    int64_t live = 0, total = 0, ranks = 0;
    for (size_t i = 0; i < K->kf.n_layers; i++) {
        live += K->kf.layers[i].kept;
        ranks += K->kf.layers[i].rank;
        ck_assert_int_le(K->kf.layers[i].kept, K->kf.layers[i].rank);
    }
    for (size_t i = 0; i < K->kf.n_hist; i++)
        total += K->kf.hist[i];
    ck_assert_int_eq(live, K->kf.live_gates);
    ck_assert_int_eq(ranks, K->kf.rank_total);
    ck_assert_int_eq(total, 224 * 16);
    ck_assert_uint_eq(lsc_tui_kind_rows(g_st, NULL), 224);

    /* layer-wise: the grid holds every layer's rank; the shares add up to one */
    set_kind("llama2-7b-code", "layer-wise");
    open_kind_of(1);
    ck_assert_int_eq(K->kf.n_blocks, 32);
    ck_assert_int_eq(K->kf.n_modules, 7);
    double share = 0;
    for (int c = 0; c < 32 * 7; c++) {
        ck_assert_int_eq(K->kf.rank_grid[c], 16);
        share += K->kf.share_grid[c];
    }
    ck_assert_double_eq_tol(share, 1.0, 1e-12);
    ck_assert_uint_eq(lsc_tui_kind_rows(g_st, NULL), 32);
    keys("o");
    ck_assert_int_eq(K->alt, 1);

    /* adaptive: kept triplets are the layer ranks, the budget their sum, |Lambda| the spectrum's ends */
    open_kind_of(2);
    ck_assert_str_eq(K->kf.kind, "adaptive");
    int64_t budget = 0;
    for (size_t i = 0; i < g_st->layers.n; i++) {
        ck_assert_int_eq(K->kf.layers[i].kept, g_st->layers.rows[i].rank);
        budget += g_st->layers.rows[i].rank;
    }
    ck_assert_int_eq(K->kf.budget, budget);
    ck_assert_int_eq(K->kf.target_budget, 8 * 64);
    sv = sv_of("llama2-7b-qv-ada", K->kf.layers[0].name, &n);
    ck_assert_double_eq(K->kf.layers[0].lambda_max, sv[0]);
    ck_assert_double_eq(K->kf.layers[0].lambda_min, sv[n - 1]);
    free(sv);
    req(LSC_REQ_BACK);
    req(LSC_REQ_BACK);

    /* multi-task: Enter opens the task table; Enter on a task its layers; K the cosines */
    set_kind("llama2-7b-chat", "multi-task");
    g_st->lists[LSC_VIEW_CATALOG].cursor = 0;
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_TASKS);
    ck_assert_uint_eq(g_st->tasks.n, 2);
    ck_assert_str_eq(g_st->tasks.rows[0].adapter, "llama2-7b-code");
    ck_assert_str_eq(g_st->tasks.rows[1].adapter, "llama2-7b-qv-ada");
    char cell[64];
    lsc_tui_cell_text(g_st, LSC_VIEW_TASKS, 1, LSC_COL_TASK, cell, sizeof cell);
    ck_assert_str_eq(cell, "ada");
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    ck_assert_str_eq(g_st->layers.adapter, "llama2-7b-code");
    req(LSC_REQ_BACK);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_TASKS);
    keys("K");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_KIND);
    ck_assert_str_eq(K->adapter, "llama2-7b-chat");
    ck_assert_int_eq(K->kf.n_tasks, 2);
    ck_assert_uint_eq(K->kf.n_layers, 64); /* q and v: in both tasks */
    ck_assert_uint_eq(lsc_tui_kind_rows(g_st, &overall), 65);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            ck_assert_double_eq(K->kf.task_cosine[a * 2 + b], K->kf.task_cosine[b * 2 + a]);
    ck_assert_double_eq_tol(K->kf.task_cosine[0], 1.0, 1e-12);
    double mean01 = 0;
    for (size_t i = 0; i < K->kf.n_layers; i++)
        mean01 += K->kf.cosine[K->kf.layers[i].off + 1];
    ck_assert_double_eq_tol(K->kf.task_cosine[1], mean01 / 64, 1e-12);
}
END_TEST

static void rt_argv_text(const char *name, char *buf, size_t cap)
{
    lsc_tui_argv a;
    lsc_tui_retrain_argv(g_st, name, &a);
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < a.argc && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "", a.argv[i]);
    ck_assert_int_eq(a.kind, LSC_JOB_RETRAIN);
}

START_TEST(test_retrain_panel)
{
    char t[1024];
    keys("j "); /* tag llama2-7b-code */
    req(LSC_REQ_TOP);
    open_chat();
    ck_assert(keys("R") & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_RETRAIN);
    lsc_tui_retrain_panel *R = &g_st->retrain;
    /* defaults: the tagged target, the adapter's kind and rank, the command's defaults */
    ck_assert_str_eq(R->adapter, "llama2-7b-chat");
    ck_assert_str_eq(R->target, "llama2-7b-code");
    ck_assert_str_eq(lsc_tui_retrain_kind_name(R->kind), "static");
    ck_assert_int_eq(R->rank, 0);
    lsc_tui_retrain_field_text(g_st, LSC_RT_RANK, t, sizeof t);
    ck_assert_str_eq(t, "own (16)");
    ck_assert_int_eq(R->steps, 200);
    ck_assert_double_eq(R->lr, 1e-2);
    ck_assert_str_eq(lsc_tui_retrain_init_name(R->init), "self");
    ck_assert_int_eq(R->field, LSC_RT_KIND);
    rt_argv_text("N", t, sizeof t);
    ck_assert_str_eq(t, "retrain llama2-7b-chat --target llama2-7b-code --kind static --steps 200 --lr 0.01 --init self --as N");
    /* fields: Tab/j/k move, Left/Right change, e types */
    key(LSC_KEY_TAB);
    ck_assert_int_eq(R->field, LSC_RT_RANK);
    key(LSC_KEY_LEFT);
    ck_assert_int_eq(R->rank, 15);
    key(LSC_KEY_RIGHT);
    key(LSC_KEY_RIGHT);
    ck_assert_int_eq(R->rank, 17);
    keys("e");
    type_line("0");
    ck_assert_int_eq(R->rank, 0);
    keys("e");
    type_line("x");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    char cm[512];
    ck_assert_str_eq(g_st->msg, cli_msg(cm, sizeof cm, "retrain", R->adapter, "--target", R->target, "--rank", "x", NULL));
    keys("e");
    type_line("8");
    keys("k");
    key(LSC_KEY_RIGHT);
    key(LSC_KEY_RIGHT);
    ck_assert_str_eq(lsc_tui_retrain_kind_name(R->kind), "adaptive");
    R->field = LSC_RT_FINAL_RANK;
    keys("e");
    type_line("4");
    R->field = LSC_RT_STEPS;
    key(LSC_KEY_LEFT);
    ck_assert_int_eq(R->steps, 150);
    R->field = LSC_RT_LR;
    keys("]");
    ck_assert_double_eq_tol(R->lr, 0.1, 1e-15);
    R->field = LSC_RT_INIT;
    key(LSC_KEY_RIGHT);
    R->field = LSC_RT_SEED;
    keys("e");
    type_line("7");
    rt_argv_text("N", t, sizeof t);
    ck_assert_str_eq(t, "retrain llama2-7b-chat --target llama2-7b-code --kind adaptive --rank 8 --steps 150 --lr 0.1 "
                        "--init svd --seed 7 --final-rank 4 --as N");
    R->field = LSC_RT_KIND;
    key(LSC_KEY_RIGHT); /* sparse: --lambda, no --final-rank */
    rt_argv_text("N", t, sizeof t);
    ck_assert_ptr_nonnull(strstr(t, "--kind sparse"));
    ck_assert_ptr_nonnull(strstr(t, "--lambda 0.001 --as N"));
    ck_assert_ptr_null(strstr(t, "--final-rank"));
    key(LSC_KEY_RIGHT); /* back to static */
    ck_assert_str_eq(lsc_tui_retrain_kind_name(R->kind), "static");
    /* target: typed (must exist), cycled over the catalog (the tagged first, never NAME itself) */
    R->field = LSC_RT_TARGET;
    keys("e");
    type_line("nope");
    ck_assert_str_eq(g_st->msg, "no adapter 'nope' in the catalog");
    ck_assert_str_eq(R->target, "llama2-7b-code");
    key(LSC_KEY_RIGHT);
    ck_assert_str_eq(R->target, "llama2-7b-qv-ada");
    key(LSC_KEY_RIGHT);
    ck_assert_str_eq(R->target, "llama2-7b-code");
    /* Enter: the name (a default), then a question whose default is No */
    keys("\n");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NAME);
    ck_assert_str_eq(g_st->prompt.buf, "llama2-7b-chat-retrained");
    keys("\n");
    ck_assert(g_st->confirm.open);
    ck_assert_ptr_nonnull(strstr(g_st->confirm.question, "retrain 'llama2-7b-chat' towards 'llama2-7b-code'"));
    keys("\n");
    ck_assert(!g_st->confirm.open);
    ck_assert_str_eq(g_st->msg, "not done: nothing changed");
    ck_assert(!has_adapter("llama2-7b-chat-retrained"));
    /* yes: runs (here in the calling thread), every step reported, the new adapter selected */
    R->field = LSC_RT_STEPS;
    keys("e");
    type_line("40");
    keys("\n\ny");
    ck_assert(!lsc_tui_state_busy(g_st));
    ck_assert(has_adapter("llama2-7b-chat-retrained"));
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_INFO);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "created llama2-7b-chat-retrained: 224 layer(s), 40 step(s)"));
    ck_assert_uint_eq(R->n_pts, 40);
    for (size_t i = 0; i < R->n_pts; i++) {
        ck_assert_int_eq(R->pts[i].step, (long)i + 1);
        ck_assert_int_eq(R->pts[i].steps, 40);
        if (i)
            ck_assert(R->pts[i].loss < R->pts[i - 1].loss);
        ck_assert(R->pts[i].loss > R->pts[i].optimum);
    }
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_RETRAIN);
    /* the next default name is free */
    keys("\n");
    ck_assert_str_eq(g_st->prompt.buf, "llama2-7b-chat-retrained-2");
    key(LSC_KEY_ESC);
    /* no target: Enter refuses and points at the field */
    R->target[0] = '\0';
    keys("\n");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_str_eq(g_st->msg, "choose a target first");
    ck_assert_int_eq(R->field, LSC_RT_TARGET);
}
END_TEST

static void wait_points(size_t n)
{
    for (int i = 0; i < 5000 && g_st->retrain.n_pts < n; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        lsc_tui_state_poll(g_st);
    }
    ck_assert_uint_eq(g_st->retrain.n_pts, n);
}

START_TEST(test_retrain_pause_cancel)
{
    g_st->async = 1;
    keys("j ");
    req(LSC_REQ_TOP);
    open_chat();
    keys("R");
    lsc_tui_model_fake_hold(&g_model, 5); /* five steps, then wait */
    keys("\n");
    type_line("rt");
    keys("y");
    ck_assert(lsc_tui_state_busy(g_st));
    wait_points(5);
    ck_assert_int_eq(g_st->job_done, 5);
    ck_assert_int_eq(g_st->job_total, 200);
    ck_assert_double_eq_tol(g_st->retrain.pts[4].eta, 0.05 * 195, 1e-12);
    /* p pauses and resumes (the flag the command reads); other keys do nothing */
    ck_assert(keys("p") & LSC_TUI_CH_REDRAW);
    ck_assert(g_st->retrain.paused);
    ck_assert(lsc_tui_job_paused(g_st->job));
    ck_assert_uint_eq(keys("j"), 0);
    keys("p");
    ck_assert(!g_st->retrain.paused);
    ck_assert(!lsc_tui_job_paused(g_st->job));
    /* paused and released: it stays at step 5 */
    keys("p");
    lsc_tui_model_fake_hold(&g_model, -1);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    lsc_tui_state_poll(g_st);
    ck_assert_uint_le(g_st->retrain.n_pts, 6);
    /* Esc stops it: retrain keeps its best state as NEW and says so */
    ck_assert(key(LSC_KEY_ESC) & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(g_st->job_cancelling, 1);
    ck_assert_uint_eq(keys("p"), 0); /* no pausing while it stops */
    lsc_tui_state_wait(g_st);
    ck_assert(!lsc_tui_state_busy(g_st));
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    ck_assert_msg(strncmp(g_st->msg, "retrain stopped: interrupted at step ", 37) == 0, "%s", g_st->msg);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "is kept as 'rt' - u undoes"));
    ck_assert(has_adapter("rt"));
    /* a cancelled merge still says nothing was written (the retrain wording is retrain's own) */
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_RETRAIN);
}
END_TEST

/* The audit view ('a' in the catalog, `:audit`): one row per adapter, sorted by savings; a row's counts
 * agree with its layer table (layers whose k99 is below r, layers with NaN/Inf), which Enter opens. */
START_TEST(test_audit_view)
{
    keys("a");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_AUDIT);
    ck_assert_uint_eq(g_st->audit.n, g_st->catalog.n);
    lsc_tui_list *l = cur_list();
    for (size_t i = 1; i < l->n; i++)
        ck_assert_int_ge(g_st->audit.rows[l->order[i - 1]].saves, g_st->audit.rows[l->order[i]].saves);
    /* the adalora adapter (a non-finite layer): its row against its layer table */
    size_t at = l->n;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(g_st->audit.rows[l->order[i]].name, "llama2-7b-qv-ada") == 0)
            at = i;
    ck_assert_uint_lt(at, l->n);
    lsc_tui_audit_row row = g_st->audit.rows[l->order[at]];
    ck_assert_int_gt(row.nonfinite, 0);
    l->cursor = at;
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    int waste = 0, bad = 0;
    for (size_t i = 0; i < g_st->layers.n; i++) {
        const lsc_tui_layer *L = &g_st->layers.rows[i];
        if (L->nonfinite)
            bad++;
        else if ((L->k99 < 1 ? 1 : L->k99) < L->rank)
            waste++;
    }
    ck_assert_int_eq(row.nonfinite, bad);
    ck_assert_int_eq(row.waste, waste);
    ck_assert_int_eq((int64_t)g_st->layers.n, row.layers);
    /* back in the catalog, `:audit` opens the view too */
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    keys(":audit\n");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_AUDIT);
    ck_assert_uint_eq(g_st->audit.n, g_st->catalog.n);
}
END_TEST

/* ---- leaving a view: nothing it showed stays behind (issue #14) ------------------------------------------ */

/* Each view: the keys that open it from a fresh catalog, the view they go back to, the keys that open it
 * again from there. */
static const struct {
    const char *open;
    lsc_tui_view view, parent;
    const char *again;
} k_leave_cases[] = {
    {"\n", LSC_VIEW_LAYERS, LSC_VIEW_CATALOG, "\n"},
    {"\nv", LSC_VIEW_GRID, LSC_VIEW_LAYERS, "v"}, /* the grid is over the layer table */
    {"\n\n", LSC_VIEW_SPECTRUM, LSC_VIEW_LAYERS, "\n"},
    {"  d", LSC_VIEW_DIFF, LSC_VIEW_CATALOG, "d"},
    {"H", LSC_VIEW_HISTORY, LSC_VIEW_CATALOG, "H"},
    {"H\n", LSC_VIEW_OUTPUT, LSC_VIEW_HISTORY, "\n"},
    {"p", LSC_VIEW_PRUNE, LSC_VIEW_CATALOG, "p"},
    {"  m", LSC_VIEW_MERGE, LSC_VIEW_CATALOG, "m"},
    {"\nK", LSC_VIEW_KIND, LSC_VIEW_LAYERS, "K"},
    {"\nR", LSC_VIEW_RETRAIN, LSC_VIEW_LAYERS, "R"},
    {"\n", LSC_VIEW_TASKS, LSC_VIEW_CATALOG, "\n"}, /* chat made multi-task first */
    {"\n", LSC_VIEW_SERIES, LSC_VIEW_CATALOG, "\n"}, /* chat made a series first */
    {"a", LSC_VIEW_AUDIT, LSC_VIEW_CATALOG, "a"},
    {"\nb", LSC_VIEW_LAYERS, LSC_VIEW_CATALOG, "\n"}, /* with the vs base panel open */
};

START_TEST(test_leave_clears_view)
{
    if (k_leave_cases[_i].view == LSC_VIEW_TASKS || k_leave_cases[_i].view == LSC_VIEW_SERIES) {
        lsc_error err = {0};
        ck_assert_int_eq(lsc_tui_model_fake_set_kind(&g_model, "llama2-7b-chat",
                                                     k_leave_cases[_i].view == LSC_VIEW_TASKS ? "multi-task" : "series",
                                                     &err), LSC_OK);
        req(LSC_REQ_REFRESH);
    }
    keys(k_leave_cases[_i].open);
    ck_assert_int_eq(lsc_tui_state_view(g_st), k_leave_cases[_i].view);
    if (k_leave_cases[_i].view == LSC_VIEW_DIFF)
        ck_assert_uint_gt(g_st->diff.transient.n_sv_a, 0); /* the pane's chart is loaded */
    if (k_leave_cases[_i].view == LSC_VIEW_SPECTRUM)
        ck_assert_uint_gt(g_st->spectrum.transient.n_sv, 0); /* its chart is loaded */
    if (k_leave_cases[_i].view == LSC_VIEW_DIFF) { /* the only-in pane, focused */
        req(LSC_REQ_TAB);
        req(LSC_REQ_RIGHT);
        ck_assert(g_st->diff.transient.pane == 1 && g_st->diff.transient.focus == 1);
    }
    lsc_tui_state_msg(g_st, LSC_MSG_ERROR, "left behind by %s", lsc_tui_view_name(k_leave_cases[_i].view));
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), k_leave_cases[_i].parent);
    ck_assert_msg(g_st->msg[0] == '\0', "'%s' still shown after leaving %s", g_st->msg,
                  lsc_tui_view_name(k_leave_cases[_i].view));
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_INFO);
    ck_assert_str_eq(g_st->prompt.label, "");
    if (k_leave_cases[_i].view == LSC_VIEW_DIFF) /* no chart, pane or focus of a diff that is closed */
        ck_assert(g_st->diff.transient.n_sv_a == 0 && g_st->diff.transient.n_sv_b == 0 &&
                  g_st->diff.transient.row == -1 && g_st->diff.transient.pane == 0 && g_st->diff.transient.focus == 0);
    if (k_leave_cases[_i].view == LSC_VIEW_PRUNE) /* no preview or chart of a closed panel */
        ck_assert(g_st->prune.transient.n_sv == 0 && g_st->prune.transient.sv_row == -1 &&
                  g_st->prune.transient.rows == NULL && g_st->prune.transient.n_rows == 0);
    if (k_leave_cases[_i].view == LSC_VIEW_MERGE)
        ck_assert(g_st->merge.transient.rows == NULL && g_st->merge.transient.n_rows == 0);
    if (k_leave_cases[_i].view == LSC_VIEW_KIND) /* no figures of a closed panel */
        ck_assert(g_st->kind.kf.kind[0] == '\0' && g_st->kind.kf.layers == NULL && !g_st->kind.ok);
    if (k_leave_cases[_i].view == LSC_VIEW_LAYERS) /* no vs base panel or message over the next table */
        ck_assert(!g_st->vsbase.panel && !g_st->vsbase.why[0]);
    if (k_leave_cases[_i].view == LSC_VIEW_AUDIT) /* no rows of a closed audit */
        ck_assert(g_st->audit.rows == NULL && g_st->audit.n == 0);
    if (k_leave_cases[_i].view == LSC_VIEW_SPECTRUM) /* no chart of a spectrum that is closed */
        ck_assert(g_st->spectrum.transient.n_sv == 0 && g_st->spectrum.transient.sv == NULL);
    if (k_leave_cases[_i].view == LSC_VIEW_SERIES) /* no figures of a series that is closed */
        ck_assert(g_st->series.transient.data.n_steps == 0 && g_st->series.transient.data.layers == NULL &&
                  g_st->series.transient.data.fig[0] == NULL);
    keys(k_leave_cases[_i].again);
    ck_assert_int_eq(lsc_tui_state_view(g_st), k_leave_cases[_i].view);
    ck_assert_ptr_null(strstr(g_st->msg, "left behind"));
    /* and the view's own message does not survive going back either */
    key(LSC_KEY_ESC);
    ck_assert_msg(g_st->msg[0] == '\0', "'%s' shown on %s", g_st->msg, lsc_tui_view_name(lsc_tui_state_view(g_st)));
}
END_TEST

/* The grid's and the kind panel's hints are theirs: back on the catalog they are gone (they said "m
 * switches norm/rank" and "Esc back" where neither works). */
START_TEST(test_leave_hints_do_not_leak)
{
    keys("\nv");
    ck_assert_ptr_nonnull(strstr(g_st->msg, "blocks x"));
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS); /* the grid is over the table */
    ck_assert_str_eq(g_st->msg, "");
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert_str_eq(g_st->msg, "");
    keys("\nK");
    ck_assert_ptr_nonnull(strstr(g_st->msg, "Esc back"));
    key(LSC_KEY_ESC);
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert_str_eq(g_st->msg, "");
}
END_TEST

/* The key a hint names (in "K word" pairs) must be bound, in the view the hint stands in, to a request
 * whose help mentions the word: the hints are written from the key tables (lsc_tui_key_for). Before, the
 * layer table said "m group" and the grid "m switches norm/rank" after `m` had become merge. */
static void hint_keys_bound(lsc_tui_view v, const char *word, lsc_tui_req want)
{
    const char *w = strstr(g_st->msg, word);
    ck_assert_msg(w && w > g_st->msg + 1 && w[-1] == ' ', "no '%s' in the hint '%s'", word, g_st->msg);
    const char *k = w - 2;
    while (k > g_st->msg && k[-1] != ' ')
        k--;
    char name[16];
    snprintf(name, sizeof name, "%.*s", (int)(w - 1 - k), k);
    char kb[16];
    ck_assert_str_eq(name, lsc_tui_key_for(v, want, kb, sizeof kb));
    ck_assert_int_eq(lsc_tui_key_lookup(v, (unsigned char)name[0]), want);
}

START_TEST(test_hints_name_bound_keys)
{
    keys("\n");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    hint_keys_bound(LSC_VIEW_LAYERS, "grid", LSC_REQ_GRID);
    hint_keys_bound(LSC_VIEW_LAYERS, "group", LSC_REQ_GROUP);
    hint_keys_bound(LSC_VIEW_LAYERS, "search", LSC_REQ_SEARCH);
    keys("v");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_GRID);
    hint_keys_bound(LSC_VIEW_GRID, "switches", LSC_REQ_METRIC);
}
END_TEST

/* Two modules of one block with the same type (GPT-2's attn.c_proj and mlp.c_proj) get a grid column each:
 * before, they shared the `c_proj` column and the attention layers' cells were overwritten (found by the
 * tmux scenario test on the GPT-2 sample: "4 blocks x 3 modules" for 16 layers). */
START_TEST(test_grid_same_type_two_columns)
{
    keys("\n");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    static const char *const names[4] = {"transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj",
                                         "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_proj"};
    for (int i = 0; i < 4; i++) {
        lsc_tui_layer *L = &g_st->layers.rows[i];
        snprintf(L->name, sizeof L->name, "%s", names[i]);
        snprintf(L->module_type, sizeof L->module_type, "c_proj");
        L->layer_index = i / 2;
    }
    g_st->layers.n = 4;
    lsc_tui_grid_build(g_st, 1);
    ck_assert_int_eq(g_st->grid.n_rows, 2);
    ck_assert_int_eq(g_st->grid.n_mods, 2);
    ck_assert_str_eq(g_st->grid.mods[0], "attn.c_proj");
    ck_assert_str_eq(g_st->grid.mods[1], "mlp.c_proj");
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++)
            ck_assert_int_eq(g_st->grid.cell[r * 2 + c], r * 2 + c);
    lsc_tui_grid_open(g_st, &g_st->layers.rows[3]);
    ck_assert_int_eq(g_st->grid.r, 1);
    ck_assert_int_eq(g_st->grid.c, 1);
}
END_TEST

static lsc_status diff_no_common(void *ctx, const char *a, const char *b, lsc_tui_diff *out, lsc_error *err)
{
    (void)ctx, (void)a, (void)b, (void)err;
    memset(out, 0, sizeof *out);
    return LSC_OK;
}

/* A diff with no common layers (or a filter that hides every row) shows no chart: before, the spectra of
 * the previous diff's row stayed under "spectra of -". */
START_TEST(test_diff_no_rows_no_chart)
{
    keys("  d");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_DIFF);
    ck_assert_uint_gt(g_st->diff.transient.n_sv_a, 0);
    key(LSC_KEY_ESC);
    lsc_status (*diff)(void *, const char *, const char *, lsc_tui_diff *, lsc_error *) = g_model.diff;
    g_model.diff = diff_no_common;
    keys("d");
    g_model.diff = diff;
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_DIFF);
    ck_assert_uint_eq(g_st->lists[LSC_VIEW_DIFF].n, 0);
    ck_assert(g_st->diff.transient.n_sv_a == 0 && g_st->diff.transient.n_sv_b == 0);
    key(LSC_KEY_ESC);
    /* a filter that hides every row of a real diff */
    keys("d");
    ck_assert_uint_gt(g_st->diff.transient.n_sv_a, 0);
    keys("f");
    type_line("no-such-layer");
    ck_assert_uint_eq(g_st->lists[LSC_VIEW_DIFF].n, 0);
    ck_assert(g_st->diff.transient.n_sv_a == 0 && g_st->diff.transient.n_sv_b == 0);
    /* clearing it brings the first row's chart back */
    keys("f");
    type_line("");
    ck_assert_uint_gt(g_st->diff.transient.n_sv_a, 0);
    ck_assert_int_eq(g_st->diff.transient.row, (long)g_st->lists[LSC_VIEW_DIFF].order[0]);
}
END_TEST

/* Every way the prune panel empties the status line also drops the error level: before, a bad value then
 * a layer glob (or a rule change, or a step) left an empty red "error:" on the status line. */
START_TEST(test_prune_no_empty_error)
{
    static const char *const after[] = {"glob", "rule", "step"};
    keys("p");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_PRUNE);
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
        keys("e");
        type_line("not-a-number");
        ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
        if (i == 0) {
            keys("f");
            type_line("*q_proj*");
        } else if (i == 1) {
            key(LSC_KEY_TAB);
        } else {
            key(LSC_KEY_LEFT);
        }
        ck_assert_msg(g_st->msg_level != LSC_MSG_ERROR || g_st->msg[0], "an empty error after the %s", after[i]);
    }
}
END_TEST

/* A retrain that fails before its first report: the panel no longer waits for one. */
START_TEST(test_retrain_failed_no_waiting)
{
    keys("\nR");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_RETRAIN);
    /* the name the panel proposes is taken behind its back, so the command fails */
    char *argv[] = {"prune", "llama2-7b-chat", "--rank", "4", "--as", "llama2-7b-chat-retrained", NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(g_model.run(g_model.ctx, 6, argv, 0, NULL, &out, &err), 0);
    free(out);
    free(err);
    g_st->retrain.field = LSC_RT_TARGET;
    key(LSC_KEY_RIGHT); /* a target */
    ck_assert_str_ne(g_st->retrain.target, "");
    keys("\n");
    ck_assert_str_eq(g_st->prompt.buf, "llama2-7b-chat-retrained");
    keys("\ny");
    ck_assert(!lsc_tui_state_busy(g_st));
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_uint_eq(g_st->retrain.n_pts, 0);
    ck_assert_msg(!g_st->retrain.ran, "the panel still waits for the first report of a run that failed");
}
END_TEST

/* Each view's help lists its own keys, with its own wording, and each listed key does what the line says
 * in that view (before, one list served every view: the spectrum's help offered "page down" and "first
 * row", the layer table's "merge: next field"). */
START_TEST(test_help_per_view)
{
    char lines[64][80];
    size_t n = lsc_tui_help_lines(LSC_VIEW_SPECTRUM, lines, 64);
    ck_assert_uint_gt(n, 5);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(!strstr(lines[i], "page down") && !strstr(lines[i], "first row"), "spectrum help: %s", lines[i]);
        ck_assert_msg(!strstr(lines[i], "merge:"), "spectrum help: %s", lines[i]);
    }
    for (int v = 0; v < LSC_VIEW_COUNT; v++) {
        size_t n_own;
        const lsc_tui_binding *own = lsc_tui_view_keys((lsc_tui_view)v, &n_own);
        for (size_t i = 0; i < n_own + lsc_tui_n_global_keys; i++) {
            const lsc_tui_binding *b = i < n_own ? &own[i] : &lsc_tui_global_keys[i - n_own];
            for (int k = 0; k < LSC_TUI_BIND_KEYS && b->keys[k]; k++)
                ck_assert_msg(lsc_tui_key_lookup((lsc_tui_view)v, b->keys[k]) == b->req, "view %s: key %d",
                              lsc_tui_view_name((lsc_tui_view)v), b->keys[k]);
        }
    }
}
END_TEST

/* A series (issue 16): Enter on it opens the chart by step at the final checkpoint; h/l pick the step
 * (clamped at both ends), o cycles the six figures, a charts the mean over the listed (filtered) layers;
 * the table's cells are the selected step's figures; Enter opens that checkpoint's own layer table. */
START_TEST(test_series_view)
{
    set_kind("llama2-7b-chat", "series");
    g_st->lists[LSC_VIEW_CATALOG].cursor = 0;
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SERIES);
    const lsc_tui_series *s = &g_st->series.transient.data;
    ck_assert_uint_eq(s->n_steps, 5);
    ck_assert_uint_eq(g_st->series.step, 4);
    ck_assert_uint_eq(g_st->lists[LSC_VIEW_SERIES].n, s->n_layers);
    ck_assert_uint_eq(req(LSC_REQ_RIGHT), 0); /* already at the final checkpoint */
    keys("hh");
    ck_assert_uint_eq(g_st->series.step, 2);
    keys("hhhh");
    ck_assert_uint_eq(g_st->series.step, 0);
    keys("l");
    /* the table shows the selected step's figures */
    char cell[64], want[64];
    size_t i0 = g_st->lists[LSC_VIEW_SERIES].order[0];
    lsc_tui_cell_text(g_st, LSC_VIEW_SERIES, 0, LSC_COL_SIM_FINAL, cell, sizeof cell);
    snprintf(want, sizeof want, "%.4f", s->fig[LSC_TUI_SERIES_SIM_FINAL][i0 * s->n_steps + 1]);
    ck_assert_str_eq(cell, want);
    lsc_tui_cell_text(g_st, LSC_VIEW_SERIES, 0, LSC_COL_SIM_PREV, cell, sizeof cell);
    snprintf(want, sizeof want, "%.4f", s->fig[LSC_TUI_SERIES_SIM_PREV][i0 * s->n_steps + 1]);
    ck_assert_str_eq(cell, want);
    keys("h");
    lsc_tui_cell_text(g_st, LSC_VIEW_SERIES, 0, LSC_COL_SIM_PREV, cell, sizeof cell);
    ck_assert_str_eq(cell, "-"); /* nothing before the first checkpoint */
    /* the figures cycle */
    for (int f = 0; f < LSC_TUI_SERIES_FIG_COUNT; f++) {
        ck_assert_int_eq(g_st->series.fig, f);
        keys("o");
    }
    ck_assert_int_eq(g_st->series.fig, 0);
    /* the curve of the layer under the cursor, then the mean over the filtered rows */
    double curve[5];
    lsc_tui_series_curve(g_st, i0, curve);
    for (size_t j = 0; j < 5; j++)
        ck_assert_double_eq(curve[j], s->fig[0][i0 * 5 + j]);
    snprintf(g_st->lists[LSC_VIEW_SERIES].filter, sizeof g_st->lists[LSC_VIEW_SERIES].filter, "*.v_proj");
    lsc_tui_list_rebuild(g_st, LSC_VIEW_SERIES);
    const lsc_tui_list *l = &g_st->lists[LSC_VIEW_SERIES];
    ck_assert_uint_eq(l->n, 32);
    keys("a");
    ck_assert_int_eq(g_st->series.mean, 1);
    lsc_tui_series_curve(g_st, (size_t)-1, curve);
    for (size_t j = 0; j < 5; j++) {
        double sum = 0;
        for (size_t k = 0; k < l->n; k++)
            sum += s->fig[0][l->order[k] * 5 + j];
        ck_assert_double_eq_tol(curve[j], sum / 32, 1e-12);
    }
    /* Enter: the selected checkpoint (the fake catalog has no such adapter: an error, the view stays) */
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SERIES);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "llama2-7b-chat@200"));
    /* a model without series says so */
    req(LSC_REQ_BACK);
    g_model.series = NULL;
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "cannot show the series"));
}
END_TEST

static lsc_status layer_sv_fails(void *ctx, const char *adapter, const char *layer, double **sv, size_t *n,
                                 lsc_error *err)
{
    (void)ctx, (void)adapter, (void)layer, (void)sv, (void)n;
    return lsc_error_set(err, LSC_ERR_IO, "cannot read the layer");
}

/* A view change clears the status line, so what the new view has to say is said after it: the warning of
 * a diff over three tagged adapters, the error of a spectrum that cannot be read. */
START_TEST(test_view_change_keeps_new_messages)
{
    keys("   d");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_DIFF);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_WARN);
    ck_assert_str_eq(g_st->msg, "3 adapters tagged: comparing the first two");
    key(LSC_KEY_ESC);
    lsc_status (*layer_sv)(void *, const char *, const char *, double **, size_t *, lsc_error *) = g_model.layer_sv;
    g_model.layer_sv = layer_sv_fails;
    keys("\n\n"); /* layers, then a layer's spectrum */
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_str_eq(g_st->msg, "cannot read the layer");
    key(LSC_KEY_ESC);
    keys("v\n"); /* the grid's cell */
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    ck_assert_str_eq(g_st->msg, "cannot read the layer");
    g_model.layer_sv = layer_sv;
}
END_TEST

/* An undo that removes the adapter on screen closes its views as Esc would: the prune panel's chart goes
 * with it. */
START_TEST(test_views_closed_by_undo_drop_their_state)
{
    lsc_tui_state_resize(g_st, 43, 132); /* wide: the prune panel shows the chart of its row */
    char *argv[] = {"prune", "llama2-7b-chat", "--rank", "4", "--as", "chat-r4", NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(g_model.run(g_model.ctx, 6, argv, 0, NULL, &out, &err), 0);
    free(out);
    free(err);
    req(LSC_REQ_REFRESH);
    lsc_tui_list *cl = &g_st->lists[LSC_VIEW_CATALOG];
    for (size_t i = 0; i < cl->n; i++)
        if (strcmp(g_st->catalog.rows[cl->order[i]].name, "chat-r4") == 0)
            cl->cursor = i;
    keys("\n");
    ck_assert_str_eq(g_st->layers.adapter, "chat-r4");
    keys("p");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_PRUNE);
    ck_assert_uint_gt(g_st->prune.transient.n_sv, 0);
    req(LSC_REQ_UNDO);
    ck_assert(g_st->confirm.open);
    keys("y");
    ck_assert(!has_adapter("chat-r4"));
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert(g_st->prune.transient.n_sv == 0 && g_st->prune.transient.sv == NULL);
}
END_TEST

/* Mouse clicks in each kind of view: the grid's cells, the merge panel's fields, a panel's header and rows
 * (no sorting, no applying), the diff's pane beside the table (not a row). */
START_TEST(test_clicks_per_view)
{
    keys("\nv");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_GRID);
    int cw = lsc_tui_grid_cell_width(g_st);
    lsc_tui_state_click(g_st, g_st->lay.body_y + 2, 8 + 3 * cw + 1, 1);
    ck_assert_int_eq(g_st->grid.r, 2);
    ck_assert_int_eq(g_st->grid.c, 3);
    lsc_tui_state_click(g_st, g_st->lay.body_y + 2, 8 + 3 * cw + 1, 1);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    key(LSC_KEY_ESC);
    key(LSC_KEY_ESC);
    key(LSC_KEY_ESC); /* spectrum, grid, then the layer table the grid was opened over */
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    keys("  m");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_MERGE);
    lsc_tui_state_click(g_st, 1 + LSC_MERGE_FIELD_RANK, 5, 1);
    ck_assert_int_eq(g_st->merge.field, LSC_MERGE_FIELD_RANK);
    lsc_tui_list *ml = &g_st->lists[LSC_VIEW_MERGE];
    lsc_tui_state_click(g_st, g_st->lay.header_y, 3, 1);
    ck_assert_int_eq(ml->sort, -1); /* the header of a panel does not sort */
    lsc_tui_state_click(g_st, g_st->lay.body_y + 1, 3, 1);
    ck_assert_uint_eq(ml->cursor, 1);
    lsc_tui_state_click(g_st, g_st->lay.body_y + 1, 3, 1);
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE); /* and a click never applies */
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_MERGE);
    key(LSC_KEY_ESC);
    lsc_tui_state_resize(g_st, 43, 132);
    keys("d");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_DIFF);
    ck_assert_int_gt(g_st->lay.pane_x, 0);
    lsc_tui_state_click(g_st, g_st->lay.body_y + 2, g_st->lay.pane_x + 2, 1);
    ck_assert_uint_eq(g_st->lists[LSC_VIEW_DIFF].cursor, 0);
    lsc_tui_state_click(g_st, g_st->lay.body_y + 2, 3, 1);
    ck_assert_uint_eq(g_st->lists[LSC_VIEW_DIFF].cursor, 2);
    ck_assert_int_eq(g_st->diff.transient.row, (long)g_st->lists[LSC_VIEW_DIFF].order[2]);
}
END_TEST

/* Is `key` on the bar of context ctx (over the catalog)? */
static int on_bar(lsc_tui_bar_ctx ctx, int key)
{
    lsc_tui_bar_item it[32];
    int n = lsc_tui_bar(LSC_VIEW_CATALOG, ctx, 200, 0, it, 32);
    for (int i = 0; i < n; i++)
        if (it[i].key == key)
            return 1;
    return 0;
}

/* Every key a dialog's bar shows does what its label says there: the help overlay (j scroll, ? and Esc
 * close), the `:` prompt (Tab complete, Up history, Enter run, Esc cancel, ^U clear), the search line
 * (Enter done, Esc cancel, ^U clear) and the confirm box (y yes; n, Enter and Esc no). */
START_TEST(test_keybar_dialog_keys)
{
    static const struct {
        lsc_tui_bar_ctx ctx;
        int keys[6];
    } bars[] = {
        {LSC_BAR_HELP, {'j', '?', LSC_KEY_ESC}},
        {LSC_BAR_PROMPT, {LSC_KEY_TAB, LSC_KEY_UP, LSC_KEY_ENTER, LSC_KEY_ESC, LSC_KEY_CTRL('u')}},
        {LSC_BAR_INPUT, {LSC_KEY_ENTER, LSC_KEY_ESC, LSC_KEY_CTRL('u')}},
        {LSC_BAR_CONFIRM, {'y', 'n', LSC_KEY_ENTER, LSC_KEY_ESC}},
    };
    for (size_t b = 0; b < sizeof bars / sizeof bars[0]; b++) { /* the bar shows exactly the keys tried below */
        int n_tried = 0;
        for (int k = 0; k < 6 && bars[b].keys[k]; k++, n_tried++)
            ck_assert_msg(on_bar(bars[b].ctx, bars[b].keys[k]), "bar %zu lacks key %d", b, bars[b].keys[k]);
        lsc_tui_bar_item it[32];
        ck_assert_int_eq(lsc_tui_bar(LSC_VIEW_CATALOG, bars[b].ctx, 200, 0, it, 32), n_tried);
    }
    /* help */
    key('?');
    key('j');
    ck_assert_int_eq(g_st->help.top, 1);
    key('?');
    ck_assert_int_eq(g_st->help.open, 0);
    key('?');
    key(LSC_KEY_ESC);
    ck_assert_int_eq(g_st->help.open, 0);
    /* the prompt */
    keys(":rename llama2-7b-code code-v2\n"); /* Enter runs */
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    req(LSC_REQ_BACK);
    key(':');
    key(LSC_KEY_UP);
    ck_assert_str_eq(g_st->prompt.buf, "rename llama2-7b-code code-v2");
    key(LSC_KEY_CTRL('u'));
    ck_assert_str_eq(g_st->prompt.buf, "");
    keys("renam");
    key(LSC_KEY_TAB);
    ck_assert_str_eq(g_st->prompt.buf, "rename ");
    key(LSC_KEY_ESC);
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    /* the search line */
    keys("/code");
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_SEARCH);
    key(LSC_KEY_CTRL('u'));
    ck_assert_str_eq(g_st->prompt.buf, "");
    key(LSC_KEY_ENTER);
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    key('/');
    key(LSC_KEY_ESC);
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    /* the confirm box of u: n, Enter and Esc say no; y runs the undo (the fake model refuses to undo a
     * rename, so its answer shows the command ran) */
    static const int no[] = {'n', LSC_KEY_ENTER, LSC_KEY_ESC};
    for (int i = 0; i < 3; i++) {
        key('u');
        ck_assert_int_eq(lsc_tui_bar_context(g_st), LSC_BAR_CONFIRM);
        key(no[i]);
        ck_assert_int_eq(g_st->confirm.open, 0);
        ck_assert_ptr_null(strstr(g_st->msg, "undo 'rename'"));
    }
    key('u');
    key('y');
    ck_assert_int_eq(g_st->confirm.open, 0);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "undo 'rename'"));
}
END_TEST

/* ---- the figures job beside the browsing (view_vsbase.c's head) --------------------------------------- */

/* Poll until the fake's `show --base` waits at its hold (layer `at`), or until it is over (at < 0). Works
 * with the figures job on any thread and under any protocol: the fake says where its command is. */
static void poll_show_base(int at)
{
    int layer = 0, active = 0;
    for (int i = 0; i < 5000; i++) {
        active = lsc_tui_model_fake_show_base_active(&g_model, &layer);
        if (at < 0 ? !active && !lsc_tui_state_busy(g_st) && !lsc_tui_state_working(g_st) : active && layer == at)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        lsc_tui_state_poll(g_st);
    }
    lsc_tui_state_poll(g_st);
    if (at < 0)
        ck_assert_msg(!active && !lsc_tui_state_busy(g_st), "the figures job did not end");
    else
        ck_assert_msg(active && layer == at, "the figures job is not at layer %d (%d, active %d)", at, layer, active);
}

/* Whether a panel line of the layer table's "vs base" contains `text`. */
static int panel_says(const char *text)
{
    char lines[24][LSC_TUI_VSBASE_LINE];
    int n = lsc_tui_vsbase_lines(g_st, lines, 24, 100);
    for (int i = 0; i < n; i++)
        if (strstr(lines[i], text))
            return 1;
    return 0;
}

/* Every layer of the table's adapter has the fake's figures (|dW|/|W| = fro / 40, intruders = i mod 3). */
static void check_chat_figures(void)
{
    ck_assert_str_eq(g_st->layers.adapter, "llama2-7b-chat");
    for (size_t i = 0; i < g_st->layers.n; i++) {
        const lsc_tui_basefig_row *f = lsc_tui_vsbase_fig(g_st, i);
        ck_assert_msg(f != NULL, "no figures for row %zu", i);
        ck_assert_double_eq_tol(f->rel_norm, g_st->layers.rows[i].fro / 40.0, 1e-15);
        ck_assert_int_eq(f->intruders, (int)(i % 3));
    }
}

/* While the figures of one adapter compute (held at base layer 5 of 224), the workbench keeps browsing:
 * moving, search, help, another view, another adapter; the progress is in the panel; the figures then
 * land on the adapter they were asked for, not on the one shown, and stay for when it is opened again. The
 * job ran on a reader of the model (its own connection), released when collected. */
START_TEST(test_vsbase_browse_while_computing)
{
    g_st->async = 1;
    lsc_tui_model_fake_hold(&g_model, 5);
    open_chat();
    keys("b");
    poll_show_base(5);
    ck_assert_msg(!lsc_tui_state_busy(g_st), "the figures job holds the workbench");
    ck_assert(panel_says("computing the figures: layer 5/224"));
    /* moving and search */
    size_t c0 = cur_list()->cursor;
    ck_assert(keys("j") & LSC_TUI_CH_REDRAW);
    ck_assert_uint_eq(cur_list()->cursor, c0 + 1);
    key('/');
    type_line("layers.3.mlp.down_proj");
    ck_assert_str_eq(cur_layer()->name, "base_model.model.model.layers.3.mlp.down_proj");
    /* help opens and closes */
    req(LSC_REQ_HELP);
    ck_assert(g_st->help.open);
    key(LSC_KEY_ESC);
    ck_assert(!g_st->help.open);
    /* another view and back */
    req(LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_SPECTRUM);
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    /* another adapter: it says whose figures are computing, and b there waits its turn */
    key(LSC_KEY_ESC);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    g_st->lists[LSC_VIEW_CATALOG].cursor = 1;
    req(LSC_REQ_ENTER);
    ck_assert_str_eq(g_st->layers.adapter, "llama2-7b-code");
    ck_assert_ptr_null(lsc_tui_vsbase_fig(g_st, 0));
    keys("b");
    ck_assert_msg(strstr(g_st->msg, "one figures job at a time") && strstr(g_st->msg, "llama2-7b-chat"), "%s", g_st->msg);
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
    int open_now = 0, opened = 0;
    lsc_tui_model_fake_readers(&g_model, &open_now, &opened);
    ck_assert_int_eq(open_now, 1);
    ck_assert_int_eq(opened, 1);
    /* released: the figures are chat's, while code's table is shown (code has none, no panel opened) */
    lsc_tui_model_fake_hold(&g_model, -1);
    poll_show_base(-1);
    ck_assert_str_eq(g_st->layers.adapter, "llama2-7b-code");
    ck_assert_ptr_null(lsc_tui_vsbase_fig(g_st, 0));
    ck_assert_int_eq(g_st->vsbase.panel, 0);
    ck_assert_msg(strstr(g_st->msg, "llama2-7b-chat") && g_st->msg_level == LSC_MSG_INFO, "%s", g_st->msg);
    lsc_tui_model_fake_readers(&g_model, &open_now, &opened);
    ck_assert_int_eq(open_now, 0);
    /* back on chat: its figures, without a second job */
    key(LSC_KEY_ESC);
    g_st->lists[LSC_VIEW_CATALOG].cursor = 0;
    req(LSC_REQ_ENTER);
    check_chat_figures();
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
}
END_TEST

/* Ctrl-C cancels the figures job: no figures, no error in the panel or on the status line, and b starts it
 * again. With a prompt open, Ctrl-C closes the prompt first and the job goes on. */
START_TEST(test_vsbase_cancel)
{
    g_st->async = 1;
    lsc_tui_model_fake_hold(&g_model, 3);
    open_chat();
    keys("b");
    poll_show_base(3);
    key(':');
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_PROMPT);
    key(LSC_KEY_CTRL('c'));
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    poll_show_base(3); /* still there */
    key(LSC_KEY_CTRL('c'));
    poll_show_base(-1);
    ck_assert_ptr_null(lsc_tui_vsbase_fig(g_st, 0));
    ck_assert_int_eq(g_st->vsbase.n_cache, 0);
    ck_assert_msg(g_st->vsbase.why[0] == '\0', "panel says: %s", g_st->vsbase.why);
    ck_assert_int_ne(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_msg(strstr(g_st->msg, "cancelled"), "%s", g_st->msg);
    ck_assert(panel_says("figures not computed yet: b computes them"));
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    lsc_tui_model_fake_hold(&g_model, -1);
    keys("b");
    poll_show_base(-1);
    check_chat_figures();
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 2);
}
END_TEST

/* The rule for edits while the figures job runs: refused, before any question, with a message that says
 * why and names Ctrl-C; nothing is run, queued or cancelled (the figures still land). Covers the ways to
 * an edit: undo, redo, the prune panel's run, a `:` command, saving the session. */
START_TEST(test_vsbase_edit_refused_while_computing)
{
    g_st->async = 1;
    lsc_tui_model_fake_hold(&g_model, 5);
    open_chat();
    keys("b");
    poll_show_base(5);
    lsc_tui_history *h = NULL;
    size_t nh0 = 0, nh = 0;
    lsc_error err = {0};
    ck_assert_int_eq(g_model.history(g_model.ctx, &h, &nh0, &err), LSC_OK);
    free(h);
    const char *const how[] = {"u", "U", "p\n\n", ":echo hi\n", "W"};
    for (size_t k = 0; k < sizeof how / sizeof *how; k++) {
        keys(how[k]);
        if (g_st->prompt.mode == LSC_INPUT_FILE) /* W asks for a file name first */
            type_line("/tmp/lsc-never-written.lsc");
        ck_assert_msg(!g_st->confirm.open, "'%s': a question was asked", how[k]);
        ck_assert_msg(!lsc_tui_state_busy(g_st), "'%s' started", how[k]);
        ck_assert_msg(g_st->msg_level == LSC_MSG_WARN && strstr(g_st->msg, "not run") &&
                      strstr(g_st->msg, "llama2-7b-chat") && strstr(g_st->msg, "Ctrl-C cancels"),
                      "'%s': %s", how[k], g_st->msg);
        poll_show_base(5);
        while (g_st->depth > 2)
            key(LSC_KEY_ESC);
    }
    ck_assert_int_eq(g_model.history(g_model.ctx, &h, &nh, &err), LSC_OK);
    free(h);
    ck_assert_uint_eq(nh, nh0);
    lsc_tui_model_fake_hold(&g_model, -1);
    poll_show_base(-1);
    check_chat_figures();
    /* and once the figures are in, the edits run again */
    keys("u");
    ck_assert(g_st->confirm.open);
}
END_TEST

/* An edit's reload while the figures compute (the catalog changed under them: undo, a new base) makes
 * them stale: they are dropped with a message, never shown as current. */
START_TEST(test_vsbase_stale_dropped)
{
    g_st->async = 1;
    lsc_tui_model_fake_hold(&g_model, 5);
    open_chat();
    keys("b");
    poll_show_base(5);
    lsc_tui_reload_after_edit(g_st);
    lsc_tui_model_fake_hold(&g_model, -1);
    poll_show_base(-1);
    ck_assert_ptr_null(lsc_tui_vsbase_fig(g_st, 0));
    ck_assert_int_eq(g_st->vsbase.n_cache, 0);
    ck_assert_msg(strstr(g_st->msg, "dropped") && strstr(g_st->msg, "changed"), "%s", g_st->msg);
}
END_TEST

/* A model without a reader: the figures job holds the model as every command does (keys refused, Esc
 * cancels), and its figures still arrive. */
START_TEST(test_vsbase_no_reader_exclusive)
{
    lsc_tui_model_fake_no_reader(&g_model);
    g_st->async = 1;
    lsc_tui_model_fake_hold(&g_model, 5);
    open_chat();
    keys("b");
    poll_show_base(5);
    ck_assert(lsc_tui_state_busy(g_st));
    size_t c0 = cur_list()->cursor;
    ck_assert_uint_eq(key('j'), 0);
    ck_assert_uint_eq(cur_list()->cursor, c0);
    lsc_tui_model_fake_hold(&g_model, -1);
    poll_show_base(-1);
    check_chat_figures();
}
END_TEST

/* Open chat's grid with the heat by |dW|/|W| (not computed yet) and start the figures there (b), held at
 * base layer `hold` on the worker thread. */
static void grid_rel_job(int hold)
{
    g_st->async = 1;
    lsc_tui_model_fake_hold(&g_model, hold);
    open_chat();
    req(LSC_REQ_GRID);
    req(LSC_REQ_METRIC);
    req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_REL);
    keys("b");
    poll_show_base(hold);
}

/* The grid's heat to |dW|/|W| (o until it is; it stays across adapters with a base). */
static void heat_rel(void)
{
    for (int k = 0; k < 3 && g_st->grid.metric != LSC_METRIC_REL; k++)
        req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_REL);
}

/* Every cell of the grid's |dW|/|W| heat is unknown (NaN: the figures are not there). */
static void check_grid_unknown(void)
{
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_REL);
    for (size_t i = 0; i < g_st->layers.n; i++)
        ck_assert_msg(isnan(lsc_tui_grid_value(g_st, i)), "row %zu: %g", i, lsc_tui_grid_value(g_st, i));
}

/* The grid's heat by |dW|/|W| computes as the vs base figures do: on a reader (b in the grid), the grid
 * still moves meanwhile, its cells are unknown until the figures land on the adapter they were asked for
 * (another adapter's grid shown meanwhile gets none), and nothing read the base through the UI's model. */
START_TEST(test_grid_rel_while_computing)
{
    grid_rel_job(5);
    ck_assert_msg(!lsc_tui_state_busy(g_st), "the figures job holds the workbench");
    ck_assert(lsc_tui_vsbase_running(g_st));
    check_grid_unknown();
    int r0 = g_st->grid.r, c0 = g_st->grid.c;
    ck_assert(keys("jl") & LSC_TUI_CH_REDRAW);
    ck_assert_int_eq(g_st->grid.r, r0 + 1);
    ck_assert_int_eq(g_st->grid.c, c0 + 1);
    keys("b"); /* again: it says they are computing, no second job */
    ck_assert_msg(strstr(g_st->msg, "computing"), "%s", g_st->msg);
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
    /* to another adapter's grid: its heat is not chat's */
    while (g_st->depth > 1)
        req(LSC_REQ_BACK);
    g_st->lists[LSC_VIEW_CATALOG].cursor = 1;
    req(LSC_REQ_ENTER);
    ck_assert_str_eq(g_st->layers.adapter, "llama2-7b-code");
    req(LSC_REQ_GRID);
    heat_rel();
    check_grid_unknown();
    lsc_tui_model_fake_hold(&g_model, -1);
    poll_show_base(-1);
    check_grid_unknown();
    ck_assert_msg(strstr(g_st->msg, "llama2-7b-chat") && g_st->msg_level == LSC_MSG_INFO, "%s", g_st->msg);
    /* chat's grid: its figures, without a second job */
    while (g_st->depth > 1)
        req(LSC_REQ_BACK);
    g_st->lists[LSC_VIEW_CATALOG].cursor = 0;
    req(LSC_REQ_ENTER);
    req(LSC_REQ_GRID);
    heat_rel();
    for (size_t i = 0; i < g_st->layers.n; i++)
        ck_assert_double_eq_tol(lsc_tui_grid_value(g_st, i), g_st->layers.rows[i].fro / 40.0, 1e-15);
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
    int on_model = -1, on_readers = -1;
    lsc_tui_model_fake_base_reads(&g_model, &on_model, &on_readers);
    ck_assert_int_eq(on_model, 0);
    ck_assert_int_eq(on_readers, 1);
}
END_TEST

/* Ctrl-C in the grid cancels the figures started there: the cells stay unknown, no error, b again computes. */
START_TEST(test_grid_rel_cancel)
{
    grid_rel_job(3);
    key(LSC_KEY_CTRL('c'));
    poll_show_base(-1);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_GRID);
    check_grid_unknown();
    ck_assert_int_ne(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_msg(strstr(g_st->msg, "cancelled"), "%s", g_st->msg);
    lsc_tui_model_fake_hold(&g_model, -1);
    keys("b");
    poll_show_base(-1);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_REL);
    for (size_t i = 0; i < g_st->layers.n; i++)
        ck_assert_double_eq_tol(lsc_tui_grid_value(g_st, i), g_st->layers.rows[i].fro / 40.0, 1e-15);
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 2);
}
END_TEST

/* An edit's reload while the grid's figures compute makes them stale: dropped, the cells stay unknown. */
START_TEST(test_grid_rel_stale_dropped)
{
    grid_rel_job(5);
    lsc_tui_reload_after_edit(g_st);
    lsc_tui_model_fake_hold(&g_model, -1);
    poll_show_base(-1);
    ck_assert_msg(strstr(g_st->msg, "dropped") && strstr(g_st->msg, "changed"), "%s", g_st->msg);
    heat_rel();
    check_grid_unknown();
}
END_TEST

/* b in the grid, nothing known: the norms job (`show --base --norms`, one read of the base) fills the heat;
 * the layer table then has |W| and |dW|/|W| but not the other figures, and its panel says they are not
 * computed; b there runs the full job, whose figures replace the norms and still serve the grid. */
START_TEST(test_grid_norms_job)
{
    open_chat();
    req(LSC_REQ_GRID);
    req(LSC_REQ_METRIC);
    req(LSC_REQ_METRIC);
    ck_assert_int_eq(g_st->grid.metric, LSC_METRIC_REL);
    keys("b"); /* no worker thread: the job ran inside */
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
    ck_assert_int_eq(lsc_tui_model_fake_show_norms_runs(&g_model), 1); /* the norms alone, not the full figures */
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_GRID);
    for (size_t i = 0; i < g_st->layers.n; i++)
        ck_assert_double_eq_tol(lsc_tui_grid_value(g_st, i), g_st->layers.rows[i].fro / 40.0, 1e-15);
    ck_assert_msg(strstr(g_st->msg, "|dW|/|W|") && g_st->msg_level == LSC_MSG_INFO, "%s", g_st->msg);
    keys("b"); /* known: no second job */
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
    req(LSC_REQ_TAB);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    ck_assert_int_eq(g_st->vsbase.panel, 0); /* the grid's job opens no panel */
    char cell[64];
    lsc_tui_cell_text(g_st, LSC_VIEW_LAYERS, 0, LSC_COL_REL_NORM, cell, sizeof cell);
    ck_assert_str_ne(cell, "-");
    lsc_tui_cell_text(g_st, LSC_VIEW_LAYERS, 0, LSC_COL_AMP, cell, sizeof cell);
    ck_assert_str_eq(cell, "-");
    lsc_tui_cell_text(g_st, LSC_VIEW_LAYERS, 0, LSC_COL_INTRUDERS, cell, sizeof cell);
    ck_assert_str_eq(cell, "-");
    ck_assert_msg(panel_says("not computed") && !panel_says("amplif"), "the panel claims figures it has not");
    keys("b"); /* the full figures */
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 2);
    ck_assert_int_eq(lsc_tui_model_fake_show_norms_runs(&g_model), 1);
    ck_assert_int_eq(g_st->vsbase.panel, 1);
    ck_assert_msg(panel_says("amplif") && !panel_says("not computed"), "the panel lacks the full figures");
    lsc_tui_cell_text_data(g_st, LSC_VIEW_LAYERS, 1, LSC_COL_AMP, cell, sizeof cell);
    ck_assert_str_eq(cell, "1.25");
    req(LSC_REQ_GRID);
    heat_rel();
    for (size_t i = 0; i < g_st->layers.n; i++)
        ck_assert_double_eq_tol(lsc_tui_grid_value(g_st, i), g_st->layers.rows[i].fro / 40.0, 1e-15);
    keys("b");
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 2);
}
END_TEST

/* The norms job on the worker thread: its progress on the status line, the panel (opened before) does not
 * claim the full figures are computing, and b in the layer table meanwhile is refused (one job at a time). */
START_TEST(test_grid_norms_job_async)
{
    grid_rel_job(4);
    ck_assert_int_eq(lsc_tui_model_fake_show_norms_runs(&g_model), 1);
    req(LSC_REQ_TAB);
    keys("b");
    ck_assert_msg(strstr(g_st->msg, "one figures job at a time"), "%s", g_st->msg);
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 1);
    ck_assert_msg(!panel_says("computing the figures"), "the panel says the full figures are computing");
    lsc_tui_model_fake_hold(&g_model, -1);
    poll_show_base(-1);
    char cell[64];
    lsc_tui_cell_text(g_st, LSC_VIEW_LAYERS, 0, LSC_COL_REL_NORM, cell, sizeof cell);
    ck_assert_str_ne(cell, "-");
    keys("b");
    poll_show_base(-1);
    ck_assert_int_eq(lsc_tui_model_fake_show_base_runs(&g_model), 2);
    ck_assert_int_eq(lsc_tui_model_fake_show_norms_runs(&g_model), 1);
    ck_assert(panel_says("amplif"));
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
    tcase_add_test(tc, test_grid_vs_base);
    tcase_add_test(tc, test_group);
    tcase_add_test(tc, test_prompt_history);
    tcase_add_test(tc, test_readonly);
    tcase_add_test(tc, test_resize);
    tcase_add_test(tc, test_formats);
    tcase_add_test(tc, test_prune_panel_rules_steps);
    tcase_add_test(tc, test_prune_from_spectrum_and_nonfinite);
    tcase_add_test(tc, test_prune_apply_confirm_undo_redo);
    tcase_add_test(tc, test_tags_kept_cleared_grid_back);
    tcase_add_test(tc, test_args_text);
    tcase_add_test(tc, test_filter_search_incremental);
    tcase_add_test(tc, test_layers_summary);
    tcase_add_test(tc, test_prune_readonly_and_nothing_to_cut);
    tcase_add_test(tc, test_merge_panel);
    tcase_add_test(tc, test_kind_panel_kinds);
    tcase_add_test(tc, test_retrain_panel);
    tcase_add_test(tc, test_panel_choices_are_the_tables);
    tcase_add_test(tc, test_panel_refusals_are_the_commands);
    tcase_add_test(tc, test_merge_density_only_where_taken);
    tcase_add_test(tc, test_retrain_pause_cancel);
    tcase_add_test(tc, test_job_progress_cancel);
    tcase_add_test(tc, test_session_save);
    tcase_add_loop_test(tc, test_leave_clears_view, 0, (int)(sizeof k_leave_cases / sizeof k_leave_cases[0]));
    tcase_add_test(tc, test_audit_view);
    tcase_add_test(tc, test_leave_hints_do_not_leak);
    tcase_add_test(tc, test_vsbase);
    tcase_add_test(tc, test_hints_name_bound_keys);
    tcase_add_test(tc, test_grid_same_type_two_columns);
    tcase_add_test(tc, test_diff_no_rows_no_chart);
    tcase_add_test(tc, test_prune_no_empty_error);
    tcase_add_test(tc, test_retrain_failed_no_waiting);
    tcase_add_test(tc, test_help_per_view);
    tcase_add_test(tc, test_series_view);
    tcase_add_test(tc, test_view_change_keeps_new_messages);
    tcase_add_test(tc, test_views_closed_by_undo_drop_their_state);
    tcase_add_test(tc, test_clicks_per_view);
    tcase_add_test(tc, test_session_save_refuses_non_scripts);
    tcase_add_test(tc, test_keybar_per_view);
    tcase_add_test(tc, test_keybar_context);
    tcase_add_test(tc, test_keybar_dialog_keys);
    tcase_add_test(tc, test_vsbase_browse_while_computing);
    tcase_add_test(tc, test_vsbase_cancel);
    tcase_add_test(tc, test_vsbase_edit_refused_while_computing);
    tcase_add_test(tc, test_vsbase_stale_dropped);
    tcase_add_test(tc, test_vsbase_no_reader_exclusive);
    tcase_add_test(tc, test_grid_rel_while_computing);
    tcase_add_test(tc, test_grid_rel_cancel);
    tcase_add_test(tc, test_grid_rel_stale_dropped);
    tcase_add_test(tc, test_grid_norms_job);
    tcase_add_test(tc, test_grid_norms_job_async);
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
