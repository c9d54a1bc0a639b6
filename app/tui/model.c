/* model.c: the small helpers every TUI model shares (release of returned memory, name copying).
 * Depends on libc and model.h only; never on curses, the catalog or the engine's kernels.
 */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lsc_tui_diff_release(lsc_tui_diff *d)
{
    if (!d)
        return;
    free(d->rows);
    free(d->only_a);
    free(d->only_b);
    memset(d, 0, sizeof *d);
}

void lsc_tui_model_release(lsc_tui_model *m)
{
    if (!m)
        return;
    if (m->destroy)
        m->destroy(m->ctx);
    memset(m, 0, sizeof *m);
}

static const char *const k_rules[] = {
#define LSC_X_RULE(code, name) name,
    LSC_TUI_PRUNE_RULE_LIST(LSC_X_RULE)
#undef LSC_X_RULE
};
_Static_assert(sizeof k_rules / sizeof k_rules[0] == LSC_TUI_PRUNE_RULE_COUNT, "prune rule names");

static const char *const k_methods[] = {
#define LSC_X_METHOD(code, name) name,
    LSC_TUI_MERGE_METHOD_LIST(LSC_X_METHOD)
#undef LSC_X_METHOD
};
_Static_assert(sizeof k_methods / sizeof k_methods[0] == LSC_TUI_MERGE_METHOD_COUNT, "merge method names");

const char *lsc_tui_prune_rule_name(lsc_tui_prune_rule r)
{
    return (unsigned)r < LSC_TUI_PRUNE_RULE_COUNT ? k_rules[r] : "?";
}

const char *lsc_tui_merge_method_name(lsc_tui_merge_method m)
{
    return (unsigned)m < LSC_TUI_MERGE_METHOD_COUNT ? k_methods[m] : "?";
}

int lsc_tui_merge_is_elementwise(lsc_tui_merge_method m)
{
    return m == LSC_TUI_MERGE_TIES || m == LSC_TUI_MERGE_DARE_TIES || m == LSC_TUI_MERGE_DARE_LINEAR ||
           m == LSC_TUI_MERGE_MAGNITUDE;
}

int lsc_tui_merge_needs_rank(lsc_tui_merge_method m) { return m == LSC_TUI_MERGE_SVD || lsc_tui_merge_is_elementwise(m); }

lsc_status lsc_tui_prune_check(lsc_tui_prune_rule rule, double v, lsc_error *err)
{
    switch (rule) {
    case LSC_TUI_PRUNE_RANK:
        if (!(v >= 1) || v != floor(v) || !isfinite(v))
            return lsc_error_set(err, LSC_ERR_INVALID, "--rank takes a whole number >= 1");
        return LSC_OK;
    case LSC_TUI_PRUNE_ENERGY:
    case LSC_TUI_PRUNE_FRO:
    case LSC_TUI_PRUNE_CUMULATIVE:
        if (!(v > 0 && v <= 1))
            return lsc_error_set(err, LSC_ERR_INVALID, "--%s takes a fraction in (0, 1]", lsc_tui_prune_rule_name(rule));
        return LSC_OK;
    case LSC_TUI_PRUNE_RATIO:
        if (!(v >= 1) || !isfinite(v))
            return lsc_error_set(err, LSC_ERR_INVALID, "--ratio takes a number >= 1");
        return LSC_OK;
    case LSC_TUI_PRUNE_BUDGET:
        if (!(v >= 1) || v != floor(v) || !isfinite(v))
            return lsc_error_set(err, LSC_ERR_INVALID, "--budget takes a whole number of singular directions >= 1");
        return LSC_OK;
    default: return lsc_error_set(err, LSC_ERR_INVALID, "unknown prune rule %d", (int)rule);
    }
}

lsc_status lsc_tui_merge_check(const lsc_tui_merge_opts *o, int n, lsc_error *err)
{
    if (n < 2 || n > LSC_TUI_MERGE_MAX)
        return lsc_error_set(err, LSC_ERR_INVALID, "merge takes 2 to %d adapters here, not %d", LSC_TUI_MERGE_MAX, n);
    if ((unsigned)o->method >= LSC_TUI_MERGE_METHOD_COUNT)
        return lsc_error_set(err, LSC_ERR_INVALID, "unknown merge method %d", (int)o->method);
    if (lsc_tui_merge_needs_rank(o->method) && o->rank < 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "--method %s needs --rank K", lsc_tui_merge_method_name(o->method));
    if (o->rank < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "--rank takes a whole number >= 1");
    if (!(o->density > 0 && o->density <= 1))
        return lsc_error_set(err, LSC_ERR_INVALID, "--density takes a fraction in (0, 1]");
    for (int i = 0; i < n; i++) {
        if (!isfinite(o->weights[i]))
            return lsc_error_set(err, LSC_ERR_INVALID, "weight %d is not a finite number", i + 1);
        if ((o->method == LSC_TUI_MERGE_TIES || o->method == LSC_TUI_MERGE_DARE_TIES) && !(o->weights[i] > 0))
            return lsc_error_set(err, LSC_ERR_INVALID, "%s needs every weight > 0 (weight %d is %g)",
                                 lsc_tui_merge_method_name(o->method), i + 1, o->weights[i]);
    }
    return LSC_OK;
}

char *lsc_tui_copy(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return dst;
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return dst;
}

void lsc_tui_kind_release(lsc_tui_kind_figures *k)
{
    if (!k)
        return;
    free(k->layers);
    free(k->mean_prefix_err);
    free(k->mean_best_err);
    free(k->prefix_err);
    free(k->best_err);
    free(k->hist);
    free(k->modules);
    free(k->rank_grid);
    free(k->share_grid);
    free(k->tasks);
    free(k->task_cosine);
    free(k->task_norms);
    free(k->cosine);
    memset(k, 0, sizeof *k);
}

void lsc_tui_kind_widest_gap(const lsc_tui_kind_figures *k, size_t *layer, int *b, double *gap)
{
    *layer = (size_t)-1;
    *b = 0;
    *gap = 0;
    for (size_t i = 0; k->prefix_err && k->best_err && i < k->n_layers; i++)
        for (int j = 0; j < k->layers[i].rank; j++) {
            double g = k->prefix_err[k->layers[i].off + (size_t)j] - k->best_err[k->layers[i].off + (size_t)j];
            if (g > *gap) {
                *gap = g;
                *layer = i;
                *b = j + 1;
            }
        }
}
