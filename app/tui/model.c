/* model.c: the small helpers every TUI model shares (release of returned memory, name copying) and the
 * bridge to the command tables (app/cmd/command.h): option bounds, choices and the checks a preview runs
 * are the command's own, asked through lsc_command_parse and lsc_opts_set. Never on curses, the catalog
 * or the engine's kernels.
 */
#include "model.h"

#include <stdio.h>

#include "command.h"

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

lsc_tui_merge_method lsc_tui_merge_method_of(const char *name)
{
    for (int i = 0; name && i < LSC_TUI_MERGE_METHOD_COUNT; i++)
        if (strcmp(name, k_methods[i]) == 0)
            return (lsc_tui_merge_method)i;
    return LSC_TUI_MERGE_METHOD_COUNT;
}

int lsc_tui_merge_is_elementwise(lsc_tui_merge_method m)
{
    return m == LSC_TUI_MERGE_TIES || m == LSC_TUI_MERGE_DARE_TIES || m == LSC_TUI_MERGE_DARE_LINEAR ||
           m == LSC_TUI_MERGE_MAGNITUDE;
}

/* ---- the command tables: the one source of option rules ------------------------------------------------ */

/* Copy the command's message into err without its " (see 'lorascope X --help')" tail. */
static lsc_status cut_message(const lsc_error *from, lsc_status code, lsc_error *err)
{
    char msg[sizeof from->msg];
    lsc_tui_copy(msg, sizeof msg, from->msg);
    char *see = strstr(msg, " (see 'lorascope ");
    if (see && strcmp(see + strlen(see) - 8, "--help')") == 0)
        *see = '\0';
    return lsc_error_set(err, code, "%s", msg);
}

lsc_status lsc_tui_command_check(int argc, const char *const *argv, lsc_error *err)
{
    const lsc_command *c = argc > 0 ? lsc_command_find(argv[0]) : NULL;
    if (!c)
        return lsc_error_set(err, LSC_ERR_USAGE, "unknown command '%s'", argc > 0 ? argv[0] : "");
    lsc_cmd_ctx ctx = {0};
    void *args = NULL;
    int rc = lsc_command_parse(&ctx, c, argc, (char **)argv, &args);
    lsc_command_args_free(args);
    return rc == LSC_EXIT_OK ? LSC_OK : cut_message(&ctx.err, LSC_ERR_INVALID, err);
}

const lsc_opt *lsc_tui_option(const char *cmd, const char *opt)
{
    const lsc_command *c = lsc_command_find(cmd);
    return c ? lsc_opts_find(c->spec->opts, opt) : NULL;
}

/* Set one option's value into a scratch args struct; the parsed struct (free it) in *args_out. */
static lsc_status option_set(const char *cmd, const char *opt, const char *text, void **args_out, lsc_error *err)
{
    const lsc_command *c = lsc_command_find(cmd);
    const lsc_opt *o = c ? lsc_opts_find(c->spec->opts, opt) : NULL;
    *args_out = NULL;
    if (!o)
        return lsc_error_set(err, LSC_ERR_INVALID, "%s has no option --%s", cmd, opt);
    void *args = calloc(1, c->spec->args_size);
    if (!args)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_cmd_ctx ctx = {0};
    if (lsc_opts_set(&ctx, cmd, o, text, args) != LSC_EXIT_OK) {
        free(args);
        return cut_message(&ctx.err, LSC_ERR_INVALID, err);
    }
    *args_out = args;
    return LSC_OK;
}

lsc_status lsc_tui_option_check(const char *cmd, const char *opt, const char *text, lsc_error *err)
{
    void *args;
    lsc_status s = option_set(cmd, opt, text, &args, err);
    free(args);
    return s;
}

const char *const *lsc_tui_option_choices(const char *cmd, const char *opt, int *n)
{
    const lsc_opt *o = lsc_tui_option(cmd, opt);
    *n = 0;
    if (!o || o->type != LSC_OPT_CHOICE || !o->choices)
        return NULL;
    while (o->choices[*n])
        (*n)++;
    return o->choices;
}

int lsc_tui_option_choice(const char *cmd, const char *opt, const char *text, lsc_error *err)
{
    void *args;
    const lsc_opt *o = lsc_tui_option(cmd, opt);
    if (!o || o->type != LSC_OPT_CHOICE) {
        lsc_error_set(err, LSC_ERR_INVALID, "--%s of %s is not a choice", opt, cmd);
        return -1;
    }
    if (option_set(cmd, opt, text, &args, err) != LSC_OK)
        return -1;
    int i = o->at ? *(const int *)((const char *)args + o->at) : -1;
    free(args);
    return i;
}

void lsc_tui_prune_value_format(lsc_tui_prune_rule rule, double v, char *buf, size_t cap)
{
    const lsc_opt *o = lsc_tui_option("prune", lsc_tui_prune_rule_name(rule));
    if (o && o->type == LSC_OPT_INT && isfinite(v) && v == floor(v) && fabs(v) < 9e18)
        snprintf(buf, cap, "%lld", (long long)v);
    else
        snprintf(buf, cap, "%.17g", v);
}

lsc_status lsc_tui_prune_check(lsc_tui_prune_rule rule, double v, lsc_error *err)
{
    if ((unsigned)rule >= LSC_TUI_PRUNE_RULE_COUNT)
        return lsc_error_set(err, LSC_ERR_INVALID, "unknown prune rule %d", (int)rule);
    char opt[32], vt[64];
    snprintf(opt, sizeof opt, "--%s", lsc_tui_prune_rule_name(rule));
    lsc_tui_prune_value_format(rule, v, vt, sizeof vt);
    const char *argv[] = {"prune", "adapter", opt, vt};
    return lsc_tui_command_check(4, argv, err);
}

/* Words gathered for a check: pointers into one buffer. */
typedef struct words {
    const char *argv[LSC_TUI_MERGE_MAX + 16];
    int argc;
    char buf[4096];
    size_t len;
} words;

static void words_add(void *ctx, const char *w)
{
    words *ws = ctx;
    size_t n = strlen(w) + 1;
    if (ws->argc == (int)(sizeof ws->argv / sizeof ws->argv[0]) || ws->len + n > sizeof ws->buf)
        return;
    memcpy(ws->buf + ws->len, w, n);
    ws->argv[ws->argc++] = ws->buf + ws->len;
    ws->len += n;
}

int lsc_tui_merge_takes_density(lsc_tui_merge_method m)
{
    const char *argv[] = {"merge", "a", "b", "--method", lsc_tui_merge_method_name(m), "--rank", "1", "--density", "0.5"};
    lsc_error err = {0};
    return lsc_tui_command_check(9, argv, &err) == LSC_OK;
}

int lsc_tui_merge_needs_rank(lsc_tui_merge_method m)
{
    const char *argv[] = {"merge", "a", "b", "--method", lsc_tui_merge_method_name(m)};
    lsc_error err = {0};
    return lsc_tui_command_check(5, argv, &err) != LSC_OK;
}

void lsc_tui_merge_words(const char *const *names, int n, const lsc_tui_merge_opts *o, const char *weights_text,
                         const char *as, void (*add)(void *ctx, const char *word), void *ctx)
{
    char t[64], wt[LSC_TUI_MERGE_MAX * 32];
    add(ctx, "merge");
    for (int i = 0; i < n; i++)
        add(ctx, names[i]);
    add(ctx, "--method");
    add(ctx, lsc_tui_merge_method_name(o->method));
    if (!weights_text) {
        size_t len = 0;
        wt[0] = '\0';
        for (int i = 0; i < n && i < LSC_TUI_MERGE_MAX && len < sizeof wt; i++)
            len += (size_t)snprintf(wt + len, sizeof wt - len, "%s%g", i ? "," : "", o->weights[i]);
        weights_text = wt;
    }
    add(ctx, "--weights");
    add(ctx, weights_text);
    if (o->rank > 0 && o->method != LSC_TUI_MERGE_CAT) {
        snprintf(t, sizeof t, "%d", o->rank);
        add(ctx, "--rank");
        add(ctx, t);
    }
    if (o->density != 1 && lsc_tui_merge_takes_density(o->method)) {
        snprintf(t, sizeof t, "%g", o->density);
        add(ctx, "--density");
        add(ctx, t);
    }
    if (o->seed != 0) {
        snprintf(t, sizeof t, "%llu", (unsigned long long)o->seed);
        add(ctx, "--seed");
        add(ctx, t);
    }
    if (as) {
        add(ctx, "--as");
        add(ctx, as);
    }
}

lsc_status lsc_tui_merge_check(const lsc_tui_merge_opts *o, int n, lsc_error *err)
{
    if (n < 2 || n > LSC_TUI_MERGE_MAX)
        return lsc_error_set(err, LSC_ERR_INVALID, "merge takes 2 to %d adapters here, not %d", LSC_TUI_MERGE_MAX, n);
    const char *names[LSC_TUI_MERGE_MAX];
    char nm[LSC_TUI_MERGE_MAX][16];
    for (int i = 0; i < n; i++) {
        snprintf(nm[i], sizeof nm[i], "adapter%d", i + 1);
        names[i] = nm[i];
    }
    words ws = {.argc = 0};
    char wt[LSC_TUI_MERGE_MAX * 32];
    size_t len = 0;
    wt[0] = '\0';
    for (int i = 0; i < n && len < sizeof wt; i++) /* every digit, so the check sees the weights themselves */
        len += (size_t)snprintf(wt + len, sizeof wt - len, "%s%.17g", i ? "," : "", o->weights[i]);
    lsc_tui_merge_words(names, n, o, wt, NULL, words_add, &ws);
    lsc_status s = lsc_tui_command_check(ws.argc, ws.argv, err);
    if (s)
        return s;
    /* the engine's own rule (engine/merge.c), known before any layer is read: TIES elects signs by weight */
    for (int i = 0; i < n; i++)
        if ((o->method == LSC_TUI_MERGE_TIES || o->method == LSC_TUI_MERGE_DARE_TIES) && !(o->weights[i] > 0))
            return lsc_error_set(err, LSC_ERR_INVALID, "%s needs every weight > 0 (weight %d is %g)",
                                 lsc_tui_merge_method_name(o->method), i + 1, o->weights[i]);
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

static const char *const k_series_fig_names[] = {
#define LSC_X_FIG(code, name) name,
    LSC_TUI_SERIES_FIG_LIST(LSC_X_FIG)
#undef LSC_X_FIG
};
_Static_assert(sizeof k_series_fig_names / sizeof k_series_fig_names[0] == LSC_TUI_SERIES_FIG_COUNT,
               "series figure names out of sync");

const char *lsc_tui_series_fig_name(lsc_tui_series_fig f)
{
    return (unsigned)f < LSC_TUI_SERIES_FIG_COUNT ? k_series_fig_names[f] : "?";
}

void lsc_tui_series_release(lsc_tui_series *s)
{
    if (!s)
        return;
    free(s->steps);
    free(s->layers);
    for (int f = 0; f < LSC_TUI_SERIES_FIG_COUNT; f++)
        free(s->fig[f]);
    memset(s, 0, sizeof *s);
}

lsc_status lsc_tui_series_alloc(lsc_tui_series *out, size_t n_steps, size_t n_layers, lsc_error *err)
{
    out->steps = calloc(n_steps + 1, sizeof *out->steps);
    out->layers = calloc(n_layers + 1, sizeof *out->layers);
    int ok = out->steps && out->layers;
    for (int f = 0; f < LSC_TUI_SERIES_FIG_COUNT; f++)
        ok &= (out->fig[f] = calloc(n_layers * n_steps + 1, sizeof(double))) != NULL;
    if (!ok) {
        lsc_tui_series_release(out);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    out->n_steps = n_steps;
    out->n_layers = n_layers;
    return LSC_OK;
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
    free(k->part_sv);
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
