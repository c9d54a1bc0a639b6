/* view_grid.c: the layers x modules grid of one adapter (v on the layer table): a heat map by norm or
 * rank, a cell cursor, Enter opens the cell's spectrum. Never includes curses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

/* A layer's grid column: its module type ("q_proj"), or, when two modules of one block share that type
 * (GPT-2's attn.c_proj and mlp.c_proj), what follows the block number in its name ("attn.c_proj"), so
 * neither hides the other. `ambiguous` says which; buf gets the key. */
static const char *grid_key(const lsc_tui_layer *L, int ambiguous, char *buf, size_t cap)
{
    const char *key = L->module_type;
    if (ambiguous && L->layer_index >= 0) {
        char mark[32];
        snprintf(mark, sizeof mark, ".%d.", L->layer_index);
        const char *at = strstr(L->name, mark);
        if (at)
            key = at + strlen(mark);
    }
    lsc_tui_copy(buf, cap, key);
    return buf;
}

static int cmp_block_type(const void *x, const void *y, void *arg)
{
    const lsc_tui_layer *rows = arg, *a = &rows[*(const size_t *)x], *b = &rows[*(const size_t *)y];
    if (a->layer_index != b->layer_index)
        return a->layer_index < b->layer_index ? -1 : 1;
    return strcmp(a->module_type, b->module_type);
}

/* amb[i] = 1 when another layer of row i's block has the same module type (one sort, no pairwise scan). */
static unsigned char *grid_ambiguous(const lsc_tui_state *st)
{
    size_t n = st->layers.n;
    unsigned char *amb = calloc(n + 1, 1);
    size_t *ord = malloc((n + 1) * sizeof *ord);
    if (!amb || !ord) {
        free(ord);
        return amb;
    }
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    qsort_r(ord, n, sizeof *ord, cmp_block_type, st->layers.rows);
    for (size_t k = 1; k < n; k++)
        if (cmp_block_type(&ord[k - 1], &ord[k], st->layers.rows) == 0)
            amb[ord[k - 1]] = amb[ord[k]] = 1;
    free(ord);
    return amb;
}

/* The grid column of layer row i under the columns built (their count if none). */
static int grid_column(const lsc_tui_state *st, const lsc_tui_layer *L)
{
    char key[LSC_TUI_WORD_MAX];
    int m = lsc_tui_module_rank(st, grid_key(L, 1, key, sizeof key));
    return m < st->grid.n_mods ? m : lsc_tui_module_rank(st, L->module_type);
}

/* The heat value of layer row i under the current metric. */
double lsc_tui_grid_value(const lsc_tui_state *st, size_t i)
{
    const lsc_tui_layer *L = &st->layers.rows[i];
    if (st->grid.metric == LSC_METRIC_REL) {
        const lsc_tui_basefig_row *f = lsc_tui_vsbase_fig(st, i);
        return f ? f->rel_norm : NAN;
    }
    return st->grid.metric == LSC_METRIC_NORM ? L->fro : L->rank;
}

const char *lsc_tui_grid_metric_name(const lsc_tui_state *st, int brief)
{
    switch (st->grid.metric) {
    case LSC_METRIC_REL: return "|dW|/|W|";
    case LSC_METRIC_RANK: return "rank";
    default: return brief ? "fro" : "fro norm";
    }
}

void lsc_tui_grid_build(lsc_tui_state *st, int fresh)
{
    if (fresh)
        st->grid.r = st->grid.c = st->grid.top = 0;
    if (st->grid.metric == LSC_METRIC_REL && !lsc_tui_vsbase_shown(st)) /* an adapter without a base */
        st->grid.metric = LSC_METRIC_NORM;
    static const char *const canon[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    st->grid.n_mods = 0;
    st->grid.n_rows = 0;
    unsigned char *amb = grid_ambiguous(st);
    for (size_t c = 0; c < sizeof canon / sizeof *canon; c++)
        for (size_t i = 0; i < st->layers.n; i++)
            if (!(amb && amb[i]) && strcmp(st->layers.rows[i].module_type, canon[c]) == 0) {
                lsc_tui_copy(st->grid.mods[st->grid.n_mods++], LSC_TUI_WORD_MAX, canon[c]);
                break;
            }
    char key[LSC_TUI_WORD_MAX];
    for (size_t i = 0; i < st->layers.n && st->grid.n_mods < 16; i++) /* other modules in data order */
        if (lsc_tui_module_rank(st, grid_key(&st->layers.rows[i], amb && amb[i], key, sizeof key)) == st->grid.n_mods)
            lsc_tui_copy(st->grid.mods[st->grid.n_mods++], LSC_TUI_WORD_MAX, key);
    free(amb);
    for (size_t i = 0; i < st->layers.n; i++) {
        int li = st->layers.rows[i].layer_index, found = 0;
        for (int r = 0; r < st->grid.n_rows && !found; r++)
            found = st->grid.rows[r] == li;
        if (!found && st->grid.n_rows < 256) {
            int r = st->grid.n_rows++;
            while (r > 0 && st->grid.rows[r - 1] > li) { /* keep rows sorted by block number */
                st->grid.rows[r] = st->grid.rows[r - 1];
                r--;
            }
            st->grid.rows[r] = li;
        }
    }
    free(st->grid.cell);
    size_t cells = (size_t)st->grid.n_rows * (size_t)st->grid.n_mods;
    st->grid.cell = malloc((cells + 1) * sizeof *st->grid.cell);
    if (!st->grid.cell) {
        st->grid.n_rows = 0;
        return;
    }
    for (size_t k = 0; k < cells; k++)
        st->grid.cell[k] = -1;
    for (size_t i = 0; i < st->layers.n; i++) {
        int m = grid_column(st, &st->layers.rows[i]), r = 0;
        while (r < st->grid.n_rows && st->grid.rows[r] != st->layers.rows[i].layer_index)
            r++;
        if (m < st->grid.n_mods && r < st->grid.n_rows)
            st->grid.cell[(size_t)r * (size_t)st->grid.n_mods + (size_t)m] = (long)i;
    }
    if (st->grid.r >= st->grid.n_rows)
        st->grid.r = st->grid.n_rows ? st->grid.n_rows - 1 : 0;
    if (st->grid.c >= st->grid.n_mods)
        st->grid.c = st->grid.n_mods ? st->grid.n_mods - 1 : 0;
}

void lsc_tui_grid_metric_max(lsc_tui_state *st)
{
    st->grid.max = 0;
    for (size_t i = 0; i < st->layers.n; i++) {
        double x = lsc_tui_grid_value(st, i);
        if (!st->layers.rows[i].nonfinite && x > st->grid.max)
            st->grid.max = x;
    }
}

void lsc_tui_grid_clamp(lsc_tui_state *st)
{
    int h = st->lay.body_h < 1 ? 1 : st->lay.body_h;
    if (st->grid.r < 0)
        st->grid.r = 0;
    if (st->grid.r >= st->grid.n_rows)
        st->grid.r = st->grid.n_rows ? st->grid.n_rows - 1 : 0;
    if (st->grid.c < 0)
        st->grid.c = 0;
    if (st->grid.c >= st->grid.n_mods)
        st->grid.c = st->grid.n_mods ? st->grid.n_mods - 1 : 0;
    if (st->grid.r < st->grid.top)
        st->grid.top = st->grid.r;
    if (st->grid.r >= st->grid.top + h)
        st->grid.top = st->grid.r - h + 1;
    int max_top = st->grid.n_rows > h ? st->grid.n_rows - h : 0;
    if (st->grid.top > max_top)
        st->grid.top = max_top;
}

unsigned lsc_tui_grid_open(lsc_tui_state *st, const lsc_tui_layer *at)
{
    if (at) {
        for (int r = 0; r < st->grid.n_rows; r++)
            if (st->grid.rows[r] == at->layer_index)
                st->grid.r = r;
        int m = grid_column(st, at);
        if (m < st->grid.n_mods)
            st->grid.c = m;
    }
    if (lsc_tui_state_view(st) == LSC_VIEW_LAYERS) /* over the table: Esc comes back to it */
        lsc_tui_view_push(st, LSC_VIEW_GRID);
    else
        lsc_tui_view_replace(st, LSC_VIEW_GRID);
    lsc_tui_grid_clamp(st);
    char km[16];
    lsc_tui_state_msg(st, LSC_MSG_INFO, "%d blocks x %d modules - %s switches norm/rank", st->grid.n_rows,
                      st->grid.n_mods, lsc_tui_key_for(LSC_VIEW_GRID, LSC_REQ_METRIC, km, sizeof km));
    return LSC_TUI_CH_REDRAW;
}

static unsigned move_grid(lsc_tui_state *st, int dr, int dc)
{
    int r = st->grid.r, c = st->grid.c, t = st->grid.top;
    st->grid.r += dr;
    st->grid.c += dc;
    lsc_tui_grid_clamp(st);
    return (r != st->grid.r || c != st->grid.c || t != st->grid.top) ? LSC_TUI_CH_REDRAW : 0;
}

int lsc_tui_grid_cell_width(const lsc_tui_state *st)
{
    int n = st->grid.n_mods ? st->grid.n_mods : 1;
    int w = (st->lay.cols - 8) / n;
    return w > 12 ? 12 : w < 3 ? 3 : w;
}

static unsigned grid_to_layers(lsc_tui_state *st)
{
    if (st->depth >= 2 && st->stack[st->depth - 2] == LSC_VIEW_LAYERS)
        lsc_tui_view_pop(st); /* the grid was opened over the table: back to it */
    else
        lsc_tui_view_replace(st, LSC_VIEW_LAYERS);
    lsc_tui_list_clamp(&st->lists[LSC_VIEW_LAYERS], st->lay.body_h);
    return LSC_TUI_CH_REDRAW;
}

static unsigned grid_enter_cell(lsc_tui_state *st)
{
    if (!st->grid.cell || !st->grid.n_rows)
        return 0;
    long li = st->grid.cell[(size_t)st->grid.r * (size_t)st->grid.n_mods + (size_t)st->grid.c];
    if (li < 0) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "no layer in this cell");
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_list *ll = &st->lists[LSC_VIEW_LAYERS];
    for (size_t i = 0; i < ll->n; i++)
        if (ll->order[i] == (size_t)li)
            ll->cursor = i;
    lsc_tui_view_push(st, LSC_VIEW_SPECTRUM); /* first: a failed load's message must stay */
    lsc_tui_spectrum_load(st, (size_t)li);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RELOAD;
}

int lsc_tui_grid_rel_pending(const lsc_tui_state *st, char *buf, size_t cap)
{
    const lsc_tui_vsbase *v = &st->vsbase;
    if (st->grid.metric != LSC_METRIC_REL || v->cur >= 0)
        return 0;
    char kb[16];
    lsc_tui_key_for(LSC_VIEW_GRID, LSC_REQ_VSBASE, kb, sizeof kb);
    if (v->job && strcmp(v->target, st->layers.adapter) == 0)
        lsc_tui_copy(buf, cap, "");
    else if (v->job)
        snprintf(buf, cap, "|dW|/|W| not computed yet: %s computes them once those of '%s' are done", kb, v->target);
    else
        snprintf(buf, cap, "|dW|/|W| not computed yet: %s computes them", kb);
    return 1;
}

/* The heat by |dW|/|W|: what it shows, or what to do while its figures are not known. */
static void rel_message(lsc_tui_state *st)
{
    char t[LSC_TUI_NAME_MAX + 128];
    if (!lsc_tui_grid_rel_pending(st, t, sizeof t))
        lsc_tui_state_msg(st, LSC_MSG_INFO, "heat by |dW|/|W| against the base");
    else if (t[0])
        lsc_tui_state_msg(st, LSC_MSG_INFO, "%s", t);
}

/* norm -> rank -> |dW|/|W| against the recorded base (when the model has bases) -> norm. The relative norms
 * are the vs base figures' (view_vsbase.c: a job on a reader of the model, b starts it): nothing reads the
 * base here; until they are known the cells say "-". Without a base the heat goes back to the norm. */
static unsigned next_metric(lsc_tui_state *st)
{
    lsc_tui_metric next = st->grid.metric == LSC_METRIC_NORM ? LSC_METRIC_RANK
                          : st->grid.metric == LSC_METRIC_RANK && st->model->base_path ? LSC_METRIC_REL
                                                                                        : LSC_METRIC_NORM;
    if (next == LSC_METRIC_REL) {
        lsc_tui_vsbase_sync(st);
        if (!lsc_tui_vsbase_shown(st)) {
            st->grid.metric = LSC_METRIC_NORM;
            lsc_tui_grid_metric_max(st);
            lsc_tui_state_msg(st, LSC_MSG_WARN, "no base recorded for '%s': record one with :base %s PATH",
                              st->layers.adapter, st->layers.adapter);
            return LSC_TUI_CH_REDRAW;
        }
    }
    st->grid.metric = next;
    lsc_tui_grid_metric_max(st);
    if (next == LSC_METRIC_REL)
        rel_message(st);
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "heat by %s", next == LSC_METRIC_NORM ? "Frobenius norm" : "rank");
    return LSC_TUI_CH_REDRAW;
}

/* b: the heat by |dW|/|W| against the base; when nothing is known for the adapter, a job computes the norms
 * alone (show --base --norms: one read of the base); the layer table's b computes the full figures. */
static unsigned grid_vsbase(lsc_tui_state *st)
{
    if (!st->model->base_path)
        return 0;
    lsc_tui_vsbase_sync(st);
    if (!lsc_tui_vsbase_shown(st))
        return lsc_tui_vsbase_compute(st); /* says how to record one */
    st->grid.metric = LSC_METRIC_REL;
    lsc_tui_grid_metric_max(st);
    unsigned ch = lsc_tui_vsbase_compute(st); /* may land at once (no worker thread): then its message stays */
    if (ch == 0)
        rel_message(st);
    return ch | LSC_TUI_CH_REDRAW;
}

static unsigned grid_request(lsc_tui_state *st, lsc_tui_req req)
{
    int page = st->lay.body_h > 1 ? st->lay.body_h - 1 : 1;
    switch (req) {
    case LSC_REQ_DOWN: return move_grid(st, 1, 0);
    case LSC_REQ_UP: return move_grid(st, -1, 0);
    case LSC_REQ_PAGE_DOWN: return move_grid(st, page, 0);
    case LSC_REQ_PAGE_UP: return move_grid(st, -page, 0);
    case LSC_REQ_TOP: return move_grid(st, -100000, 0);
    case LSC_REQ_BOTTOM: return move_grid(st, 100000, 0);
    case LSC_REQ_LEFT: return move_grid(st, 0, -1);
    case LSC_REQ_RIGHT: return move_grid(st, 0, 1);
    case LSC_REQ_ENTER: return grid_enter_cell(st);
    case LSC_REQ_TAB:
    case LSC_REQ_GRID: return grid_to_layers(st);
    case LSC_REQ_METRIC: return next_metric(st);
    case LSC_REQ_VSBASE: return grid_vsbase(st);
    case LSC_REQ_PRUNE: return lsc_tui_prune_open(st);
    case LSC_REQ_KIND: return lsc_tui_kind_open(st);
    case LSC_REQ_RETRAIN: return lsc_tui_retrain_open(st);
    default: return 0;
    }
}

/* A click selects a cell; on the selected cell it opens its spectrum. */
static unsigned grid_click(lsc_tui_state *st, int y, int x)
{
    int cw = lsc_tui_grid_cell_width(st);
    int r = st->grid.top + (y - st->lay.body_y), c = (x - 8) / cw;
    if (y < st->lay.body_y || y >= st->lay.body_y + st->lay.body_h || x < 8 || r >= st->grid.n_rows ||
        c >= st->grid.n_mods)
        return 0;
    if (r == st->grid.r && c == st->grid.c)
        return lsc_tui_state_request(st, LSC_REQ_ENTER);
    st->grid.r = r;
    st->grid.c = c;
    return LSC_TUI_CH_REDRAW;
}

static const lsc_tui_binding k_keys[] = {
    LSC_KEYS_MOVE,
    {LSC_REQ_LEFT, {'h', LSC_KEY_LEFT}, "move left", NULL, 0},
    {LSC_REQ_RIGHT, {'l', LSC_KEY_RIGHT}, "move right", NULL, 0},
    LSC_KEYS_PAGE,
    {LSC_REQ_ENTER, {LSC_KEY_ENTER, '\r'}, "the cell's spectrum", "spectrum", 1},
    {LSC_REQ_GRID, {'v', LSC_KEY_F(5)}, "switch to the layer table", "table", 2},
    {LSC_REQ_TAB, {LSC_KEY_TAB}, "switch to the layer table", NULL, 0},
    {LSC_REQ_METRIC, {'o'}, "heat by norm, rank or |dW|/|W| against the base", "metric", 3},
    {LSC_REQ_VSBASE, {'b'}, "heat by |dW|/|W| against the base: computes the vs base figures", "vs base", 14},
    {LSC_REQ_PRUNE, {'p'}, "prune panel: cut ranks by a rule with a live preview", "prune", 4},
    {LSC_REQ_KIND, {'K'}, "kind panel: figures particular to the adapter's kind", "kind", 5},
    {LSC_REQ_RETRAIN, {'R'}, "retrain panel: train towards a target, live loss chart", "retrain", 6},
    LSC_KEYS_UNDO,
};

const lsc_tui_view_ops lsc_tui_view_grid = {
    .view = LSC_VIEW_GRID,
    .draw = lsc_tui_draw_grid,
    .enter = lsc_tui_grid_clamp,
    .request = grid_request,
    .click = grid_click,
    .keys = LSC_TUI_KEYS(k_keys),
};
