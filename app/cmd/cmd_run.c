/* cmd_run.c: `lorascope run SCRIPT [--dry-run] [--continue] [--var NAME=VALUE ...] [--jobs N]`.
 *
 * Protocol: (1) parse the whole script (script.h); (2) check every line before anything runs: the command
 * exists, its options and arguments parse and validate (the command's own table and validate step; its
 * run step never runs), every adapter it reads (per its table) exists or is made by an earlier line, every
 * glob is well-formed, every `expect` is well-formed; errors print FILE:LINE and nothing runs; (3) run. By default the script is one transaction (the
 * dispatcher's): a failing line or expect rolls everything back. With --continue each line is its own
 * transaction and a summary lists applied and failed lines. With --dry-run everything runs and is rolled
 * back, and the changes it would make are printed. Adapter arguments that are globs run the line once per
 * matching adapter (a variadic NAME... takes all matches in place), `{}` in any argument standing for the
 * matched name. Each line that changes the catalog is recorded in the history as if typed, all of them in
 * one run group (lsc_catalog_run_begin): one undo takes back the whole run, redo re-applies it.
 * With --jobs N (N > 1), consecutive lines of the commands split for it (lsc_cmd_split) and their glob
 * matches are read in order, computed on N threads and stored in order (see "run --jobs" below): the same
 * catalog, output, errors and history as --jobs 1. */
#include <fnmatch.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "basework.h"
#include "common.h"
#include "namemap.h"
#include "pool.h"
#include "handlers.h"
#include "script.h"
#include "table.h"
#include "tasks.h"

/* ---- names known while checking ------------------------------------------------------------------ */

/* The checker's names are an lsc_namemap used as a set (O(1) has/add/del: a glob line over a thousand
 * adapters adds a thousand outputs). A glob's matches are a plain list: snapshot of the names as they stand
 * before the line, so outputs the line makes never feed its own glob. */
typedef lsc_namemap names;

static void names_add(names *s, const char *x)
{
    lsc_namemap_put(s, x, 0); /* out of memory loses a name: the check then reports it unknown, never runs it */
}

static void names_del(names *s, const char *x)
{
    lsc_namemap_del(s, x);
}

static int names_has(const names *s, const char *x)
{
    return lsc_namemap_has(s, x);
}

static int names_match(const names *s, const char *glob)
{
    for (size_t i = 0; i < s->cap; i++) {
        const char *k = lsc_namemap_key_at(s, i);
        if (k && fnmatch(glob, k, 0) == 0)
            return 1;
    }
    return 0;
}

static void names_free(names *s)
{
    lsc_namemap_free(s);
}

/* A growable list of names (owned copies). */
typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static int list_push(name_list *l, const char *x)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(x)))
        return -1;
    l->n++;
    return 0;
}

static void list_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int is_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Positions of argv that name adapters, per the command's usage; returns count into idx. */
static int adapter_positions(const lsc_command *c, int argc, char **argv, int *idx, int cap)
{
    int n = 0, pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            if (!strchr(argv[i], '=') && lsc_command_option_takes_value(c, argv[i]))
                i++;
            continue;
        }
        if (lsc_command_positional_is_adapter(c, pos) && n < cap)
            idx[n++] = i;
        pos++;
    }
    return n;
}

/* ---- expect ------------------------------------------------------------------------------------------ */

static int parse_op(const char *s)
{
    const char *ops[] = {"<", "<=", ">", ">=", "==", "!="};
    for (int i = 0; i < 6; i++)
        if (strcmp(s, ops[i]) == 0)
            return i;
    return -1;
}

static int compare_op(int op, double a, double b)
{
    switch (op) {
    case 0: return a < b;
    case 1: return a <= b;
    case 2: return a > b;
    case 3: return a >= b;
    case 4: return a == b;
    default: return a != b;
    }
}

static const char *expect_usage = "expect exists NAME | expect absent NAME | expect rank NAME LAYER-GLOB OP N | "
                                  "expect energy NAME OP X | expect layers NAME OP N | expect finite NAME | "
                                  "expect relnorm NAME LAYER-GLOB OP X | expect intruders NAME OP N";

/* Validate an expect line's shape (not its truth). */
static int check_expect(const lsc_script_cmd *c, char *why, size_t cap)
{
    char *end;
    if (c->argc < 3) {
        snprintf(why, cap, "usage: %s", expect_usage);
        return -1;
    }
    const char *what = c->argv[1];
    int need = strcmp(what, "rank") == 0 || strcmp(what, "relnorm") == 0 ? 6
               : (strcmp(what, "energy") == 0 || strcmp(what, "layers") == 0 || strcmp(what, "intruders") == 0) ? 5
               : (strcmp(what, "exists") == 0 || strcmp(what, "absent") == 0 || strcmp(what, "finite") == 0) ? 3
                                                                                                             : -1;
    if (need < 0) {
        snprintf(why, cap, "unknown expectation '%s' (%s)", what, expect_usage);
        return -1;
    }
    if (c->argc != need) {
        snprintf(why, cap, "'expect %s' takes %d arguments (%s)", what, need - 2, expect_usage);
        return -1;
    }
    if (need >= 5) {
        if (parse_op(c->argv[need - 2]) < 0) {
            snprintf(why, cap, "unknown comparison '%s' (one of < <= > >= == !=)", c->argv[need - 2]);
            return -1;
        }
        strtod(c->argv[need - 1], &end);
        if (*end || end == c->argv[need - 1]) {
            snprintf(why, cap, "'%s' is not a number", c->argv[need - 1]);
            return -1;
        }
    }
    return 0;
}

/* Sum of squared norms over the layers of an adapter (from cached statistics), as ref^2 * (*e): ref the
 * largest layer norm, so that norms near 1e306 (lora_alpha 1e308) do not overflow when squared. */
static lsc_status energy_of(lsc_cmd_ctx *ctx, lsc_stats_runner *sr, const char *name, double *e, double *ref,
                            int *nonfinite)
{
    lsc_adapter *ad = NULL;
    lsc_status st = lsc_catalog_get_adapter(ctx->cat, name, &ad, &ctx->err);
    *e = 0;
    *ref = 0;
    if (nonfinite)
        *nonfinite = 0;
    for (size_t i = 0; !st && ad && i < ad->n_layers; i++) {
        lsc_layer_stats s;
        memset(&s, 0, sizeof s);
        if (lsc_cmd_cancelled(ctx, "expect")) {
            st = LSC_ERR_CANCELLED;
            break;
        }
        st = lsc_layer_stats_get(sr, ctx->cat, ad, i, 0, &s, &ctx->err);
        if (s.fro > *ref) {
            *e *= (*ref / s.fro) * (*ref / s.fro);
            *ref = s.fro;
        }
        if (*ref > 0)
            *e += (s.fro / *ref) * (s.fro / *ref);
        if (nonfinite && (s.flags & LSC_STATS_NONFINITE))
            (*nonfinite)++;
        lsc_stats_release(&s);
    }
    lsc_adapter_free(ad);
    return st;
}

static int expect_cancelled(void *vctx, size_t done, size_t n)
{
    (void)done;
    (void)n;
    return lsc_cmd_cancelled(vctx, "expect");
}

/* The adapter's layers an expect line looks at: those matching glob (NULL: all). Caller frees. */
static size_t *expect_layers(const lsc_adapter *ad, const char *glob, size_t *n)
{
    size_t *idx = malloc((ad->n_layers + 1) * sizeof *idx);
    *n = 0;
    for (size_t l = 0; idx && l < ad->n_layers; l++)
        if (!glob || lsc_name_matches(glob, ad->layers[l].name))
            idx[(*n)++] = l;
    return idx;
}

/* expect relnorm NAME GLOB OP X (every matching layer's |dW|/|W|) and expect intruders NAME OP N (the
 * intruder dimensions summed over the layers, default k and eps), against the base recorded by `base`.
 * The layers' figures are computed over the pool, as `show --base` does (its sketch cache too); the first
 * failing layer in the adapter's order is the one reported. 0 true, 1 false (why filled), -1 error. */
static int expect_base(lsc_cmd_ctx *ctx, const char *name, const lsc_script_cmd *c, char *why, size_t cap)
{
    int relnorm = strcmp(c->argv[1], "relnorm") == 0, result = 0, total = 0;
    const char *op = c->argv[relnorm ? 4 : 3], *lim = c->argv[relnorm ? 5 : 4];
    lsc_adapter *ad = NULL;
    int64_t id;
    lsc_basework bw = {0};
    lsc_basefig_opts o;
    lsc_basefig_opts_default(&o);
    o.norms_only = relnorm;
    size_t n = 0, *layers = NULL;
    lsc_basefig *figs = NULL;
    if (lsc_catalog_find(ctx->cat, name, &id, &ctx->err) || lsc_catalog_get_adapter(ctx->cat, name, &ad, &ctx->err) ||
        lsc_basework_open(&bw, ctx->cat, ad, id, &ctx->err))
        result = -1;
    else if (!(layers = expect_layers(ad, relnorm ? c->argv[3] : NULL, &n)) ||
             !(figs = calloc(n + 1, sizeof *figs))) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        result = -1;
    } else if (n > 0 && lsc_basework_figures_all(&bw, ad, layers, n, &o, lsc_pool_default_threads(),
                                                 expect_cancelled, ctx, figs, &ctx->err)) {
        result = -1;
    }
    for (size_t i = 0; result == 0 && i < n; i++) {
        total += figs[i].intruders;
        if (relnorm && !compare_op(parse_op(op), figs[i].rel_norm, strtod(lim, NULL))) {
            snprintf(why, cap, "'%s' layer '%s' has |dW|/|W| = %.6g, expected %s %s", name,
                     ad->layers[layers[i]].name, figs[i].rel_norm, op, lim);
            result = 1;
        }
    }
    if (result == 0 && relnorm && n == 0) {
        snprintf(why, cap, "no layer of '%s' matches '%s'", name, c->argv[3]);
        result = 1;
    }
    if (result == 0 && !relnorm && !compare_op(parse_op(op), total, strtod(lim, NULL))) {
        snprintf(why, cap, "'%s' has %d intruder dimension(s) (k %d, eps %g), expected %s %s", name, total,
                 LSC_BASEFIG_K, LSC_BASEFIG_EPS, op, lim);
        result = 1;
    }
    lsc_basework_release(&bw);
    free(figs);
    free(layers);
    lsc_adapter_free(ad);
    return result;
}

/* Evaluate an expect line; 0 true, 1 false (why filled), -1 error (ctx->err). */
static int eval_expect(lsc_cmd_ctx *ctx, const lsc_script_cmd *c, char *why, size_t cap)
{
    const char *what = c->argv[1], *pat = c->argv[2];
    lsc_adapter_info *infos = NULL;
    size_t n = 0;
    if (lsc_catalog_list(ctx->cat, &infos, &n, &ctx->err))
        return -1;
    int matched = 0, result = 0;
    lsc_stats_runner sr;
    if (lsc_stats_runner_init(&sr, &ctx->err)) {
        lsc_adapter_info_free_array(infos, n);
        return -1;
    }
    for (size_t i = 0; i < n && result == 0; i++) {
        const lsc_adapter_info *a = &infos[i];
        if (is_glob(pat) ? fnmatch(pat, a->name, 0) != 0 : strcmp(pat, a->name) != 0)
            continue;
        /* a multi-task adapter or a series has no layers of its own: a glob checks its tasks (checkpoints) */
        if (is_glob(pat) && (lsc_is_group(a->kind) || lsc_kind_parse(a->kind) == LSC_KIND_SERIES) &&
            strcmp(what, "exists") != 0 && strcmp(what, "absent") != 0)
            continue;
        matched++;
        if (strcmp(what, "rank") == 0) {
            int op = parse_op(c->argv[4]);
            double lim = strtod(c->argv[5], NULL);
            lsc_adapter *ad = NULL;
            if (lsc_catalog_get_adapter(ctx->cat, a->name, &ad, &ctx->err)) {
                result = -1;
                break;
            }
            int layers = 0;
            for (size_t l = 0; l < ad->n_layers && result == 0; l++) {
                if (!lsc_name_matches(c->argv[3], ad->layers[l].name))
                    continue;
                layers++;
                if (!compare_op(op, ad->layers[l].rank, lim)) {
                    snprintf(why, cap, "'%s' layer '%s' has rank %d, expected %s %s", a->name, ad->layers[l].name,
                             ad->layers[l].rank, c->argv[4], c->argv[5]);
                    result = 1;
                }
            }
            if (result == 0 && layers == 0) {
                snprintf(why, cap, "no layer of '%s' matches '%s'", a->name, c->argv[3]);
                result = 1;
            }
            lsc_adapter_free(ad);
        } else if (strcmp(what, "layers") == 0) {
            if (!compare_op(parse_op(c->argv[3]), (double)a->n_layers, strtod(c->argv[4], NULL))) {
                snprintf(why, cap, "'%s' has %lld layers, expected %s %s", a->name, (long long)a->n_layers, c->argv[3],
                         c->argv[4]);
                result = 1;
            }
        } else if (strcmp(what, "energy") == 0) {
            /* the share of its parent's energy (sum over layers of ||dW||_F^2) the adapter keeps */
            double e = 0, pe = 0, er = 0, pr = 0;
            char parent[512] = "";
            if (a->parents && *a->parents) {
                snprintf(parent, sizeof parent, "%s", a->parents);
                char *comma = strchr(parent, ',');
                if (comma)
                    *comma = '\0';
            }
            if (energy_of(ctx, &sr, a->name, &e, &er, NULL) || (*parent && energy_of(ctx, &sr, parent, &pe, &pr, NULL))) {
                result = -1;
                break;
            }
            double share = *parent ? (pe > 0 ? (er / pr) * (er / pr) * (e / pe) : 1.0) : 1.0;
            if (!compare_op(parse_op(c->argv[3]), share, strtod(c->argv[4], NULL))) {
                snprintf(why, cap, "'%s' keeps %.6f of the energy of '%s', expected %s %s", a->name, share,
                         *parent ? parent : a->name, c->argv[3], c->argv[4]);
                result = 1;
            }
        } else if (strcmp(what, "relnorm") == 0 || strcmp(what, "intruders") == 0) {
            if ((result = expect_base(ctx, a->name, c, why, cap)) < 0)
                break;
        } else if (strcmp(what, "finite") == 0) {
            double e, ref;
            int bad = 0;
            if (energy_of(ctx, &sr, a->name, &e, &ref, &bad)) {
                result = -1;
                break;
            }
            if (bad) {
                snprintf(why, cap, "'%s' has %d layer(s) with NaN or Inf", a->name, bad);
                result = 1;
            }
        } else if (strcmp(what, "absent") == 0) {
            snprintf(why, cap, "'%s' exists", a->name);
            result = 1;
        }
    }
    if (result == 0 && matched == 0 && strcmp(what, "absent") != 0) {
        snprintf(why, cap, "no adapter matches '%s'", pat);
        result = 1;
    }
    lsc_stats_runner_release(&sr);
    lsc_adapter_info_free_array(infos, n);
    return result;
}

/* ---- checking ---------------------------------------------------------------------------------------- */

static char *subst(const char *w, const char *name);

/* One adapter name the line reads: known, or (a glob) matching a known name. */
static int check_known(lsc_cmd_ctx *ctx, const lsc_script *s, const lsc_script_cmd *c, const names *known,
                       const char *a)
{
    if (is_glob(a) ? names_match(known, a) : names_has(known, a))
        return LSC_EXIT_OK;
    if (is_glob(a))
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "%s:%d: no adapter matches '%s'", s->file, c->line, a);
    else
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "%s:%d: no adapter '%s' in the catalog (nor made by an earlier line)",
                      s->file, c->line, a);
    return LSC_EXIT_ERROR;
}

/* From the command's table and the parsed line: every adapter it reads exists (positionals and options of
 * type ADAPTER; a positional marked new_with may name a new adapter when that option is given, as
 * `retrain NEW --base B --tuned T` does: then it is added to `known`); *made is the name it makes (--as,
 * --name or a NEW positional), NULL if none, which the caller adds to `known`. */
static int check_names(lsc_cmd_ctx *ctx, const lsc_script *s, const lsc_script_cmd *c, const lsc_command *cmd,
                       const void *parsed, names *known, const char **made)
{
    const lsc_opt *opts = cmd->spec->opts;
    const lsc_args *a = parsed;
    for (int k = 0; k < a->npos; k++) {
        const lsc_opt *o = lsc_opts_positional(opts, k);
        if (o->type == LSC_OPT_NEW && !*made)
            *made = a->pos[k];
        if (o->type != LSC_OPT_ADAPTER)
            continue;
        if (o->new_with && lsc_opts_given(opts, a, o->new_with) && !names_has(known, a->pos[k]) && !is_glob(a->pos[k])) {
            names_add(known, a->pos[k]); /* made by this line */
            continue;
        }
        if (check_known(ctx, s, c, known, a->pos[k]))
            return LSC_EXIT_ERROR;
    }
    for (int i = 0; opts[i].type != LSC_OPT_END; i++) {
        const lsc_opt *o = &opts[i];
        if (!o->name || !(a->seen >> i & 1u) || (o->type != LSC_OPT_ADAPTER && o->type != LSC_OPT_NEW))
            continue;
        const char *v = *(const char *const *)((const char *)a + o->at);
        if (o->type == LSC_OPT_NEW)
            *made = v; /* --as / --name win over a NEW positional */
        else if (check_known(ctx, s, c, known, v))
            return LSC_EXIT_ERROR;
    }
    return LSC_EXIT_OK;
}

static int check_script(lsc_cmd_ctx *ctx, const lsc_script *s, names *known)
{
    char why[LSC_ERROR_MSG_MAX];
    for (size_t i = 0; i < s->n; i++) {
        const lsc_script_cmd *c = &s->cmds[i];
        if (ctx->cancel && *ctx->cancel) { /* a long script checks for a while: Ctrl-C stops it here */
            lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "%s:%d: cancelled while checking: nothing ran", s->file, c->line);
            return LSC_EXIT_ERROR;
        }
        if (strcmp(c->argv[0], "expect") == 0) {
            if (check_expect(c, why, sizeof why)) {
                lsc_error_set(&ctx->err, LSC_ERR_USAGE, "%s:%d: %s", s->file, c->line, why);
                return LSC_EXIT_ERROR;
            }
            continue;
        }
        const lsc_command *cmd = lsc_command_find(c->argv[0]);
        if (!cmd || strcmp(cmd->name, "run") == 0) {
            lsc_error_set(&ctx->err, LSC_ERR_USAGE, "%s:%d: %s '%s'", s->file, c->line,
                          cmd ? "a script cannot run another script:" : "unknown command", c->argv[0]);
            return LSC_EXIT_ERROR;
        }
        if (strcmp(cmd->name, "undo") == 0 || strcmp(cmd->name, "redo") == 0) { /* the run is one change */
            lsc_error_set(&ctx->err, LSC_ERR_USAGE, "%s:%d: a script cannot %s: the whole run is one change (%s it "
                          "after the run)", s->file, c->line, cmd->name, cmd->name);
            return LSC_EXIT_ERROR;
        }
        /* the command's own parse and validate steps: never its run step */
        lsc_cmd_ctx chk;
        lsc_sink null;
        lsc_sink_init_null(&null);
        memset(&chk, 0, sizeof chk);
        chk.out = chk.diag = &null;
        void *parsed = NULL;
        if (lsc_command_parse(&chk, cmd, c->argc, c->argv, &parsed) != LSC_EXIT_OK) {
            lsc_error_set(&ctx->err, LSC_ERR_USAGE, "%s:%d: %s", s->file, c->line, chk.err.msg);
            return LSC_EXIT_ERROR;
        }
        const char *made = NULL;
        int nrc = check_names(ctx, s, c, cmd, parsed, known, &made);
        lsc_command_args_free(parsed);
        if (nrc != LSC_EXIT_OK)
            return nrc;
        int idx[64];
        int na = adapter_positions(cmd, c->argc, c->argv, idx, 64);
        int globbed = 0;
        for (int k = 0; k < na; k++)
            globbed |= is_glob(c->argv[idx[k]]);
        if (made && (!strstr(made, "{}") || !globbed)) /* '{}' is literal on a line without a glob */
            names_add(known, made);
        else if (made) {
            /* one output per match: add the substituted names (of the names known before this line: a
             * made name can match the glob again). A name too long to make is left out here; running the
             * line reports it. */
            name_list before = {0};
            for (int k = 0; k < na; k++) {
                const char *arg = c->argv[idx[k]];
                if (!is_glob(arg)) {
                    if (names_has(known, arg))
                        list_push(&before, arg);
                    continue;
                }
                for (size_t j = 0; j < known->cap; j++) {
                    const char *x = lsc_namemap_key_at(known, j);
                    if (x && fnmatch(arg, x, 0) == 0)
                        list_push(&before, x);
                }
            }
            for (size_t j = 0; j < before.n; j++) {
                char *out = subst(made, before.v[j]);
                if (out)
                    names_add(known, out);
                free(out);
            }
            list_free(&before);
        }
        if (strcmp(cmd->name, "import") == 0 && c->argc >= 2) {
            /* the names import will give: NAME, and NAME-TASK for each task of a multi-adapter folder */
            const char *path = c->argv[c->argc - 1];
            for (int k = 1; k < c->argc; k++)
                if (c->argv[k][0] != '-' && (k == 1 || strcmp(c->argv[k - 1], "--name") != 0))
                    path = c->argv[k];
            char *base = made ? strdup(made) : lsc_import_default_name(path);
            char **tasks = NULL;
            size_t nt = 0;
            lsc_error ignore;
            if (base && lsc_import_tasks(path, &tasks, &nt, &ignore) == LSC_OK && nt > 0) {
                for (size_t t = 0; t < nt; t++) {
                    char full[1024];
                    snprintf(full, sizeof full, "%s-%s", base, tasks[t]);
                    names_add(known, full);
                    free(tasks[t]);
                }
                free(tasks);
            }
            if (base) /* the multi-task adapter grouping the tasks is NAME too */
                names_add(known, base);
            free(base);
        }
        if (strcmp(cmd->name, "rename") == 0 && na == 1 && c->argc >= 3) {
            names_del(known, c->argv[idx[0]]);
            names_add(known, c->argv[c->argc - 1]);
        }
        if (strcmp(cmd->name, "rm") == 0 && na == 1)
            names_del(known, c->argv[idx[0]]);
    }
    return LSC_EXIT_OK;
}

/* ---- running ----------------------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(lsc_cmd_ctx *ctx, int json, size_t done, size_t total, const lsc_script *s,
                     const lsc_script_cmd *c, const char *status, const char *msg, double t0)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:i, s:s, s:I, s:I, s:s}", "file", s->file, "line", c->line, "command", c->argv[0],
                              "step", (json_int_t)done, "steps", (json_int_t)total, "status", status);
        if (msg)
            json_object_set_new(o, "error", json_string(msg));
        char *line = json_dumps(o, JSON_COMPACT);
        lsc_out(ctx->diag, "%s\n", line ? line : "{}");
        free(line);
        json_decref(o);
        return;
    }
    if (ctx->diag->is_tty) {
        double el = now_s() - t0, eta = done ? el / (double)done * (double)(total - done) : 0;
        int width = 24, fill = total ? (int)((double)width * (double)done / (double)total) : width;
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        lsc_out_ctl(ctx->diag, "\r[%s] %zu/%zu  line %d: %-10s  ETA %.0fs\033[K%s", bar, done, total, c->line, c->argv[0],
                eta, done == total || msg ? "\n" : "");
        if (msg)
            lsc_out(ctx->diag, "%s:%d: %s\n", s->file, c->line, msg);
        return;
    }
    lsc_out(ctx->diag, "[%zu/%zu] %s:%d: %s %s%s%s\n", done, total, s->file, c->line, c->argv[0], status,
            msg ? ": " : "", msg ? msg : "");
}

/* Replace every "{}" in w by `name`; malloc'ed, NULL when out of memory or when the result would be longer
 * than a script line may be (LSC_SCRIPT_MAX_LINE: a line of `{}` times a long name is not a blow-up). */
static char *subst(const char *w, const char *name)
{
    size_t n = strlen(w) + 1, ln = strlen(name);
    for (const char *p = strstr(w, "{}"); p; p = strstr(p + 2, "{}"))
        if ((n += ln) > LSC_SCRIPT_MAX_LINE)
            return NULL;
    char *out = malloc(n), *o = out;
    if (!out)
        return NULL;
    for (const char *p = w; *p;) {
        if (p[0] == '{' && p[1] == '}') {
            memcpy(o, name, ln);
            o += ln;
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static void free_argv(int argc, char **argv)
{
    for (int i = 0; argv && i < argc; i++)
        free(argv[i]);
    free(argv);
}

/* The argv of run r of a line: the glob at gpos replaced by match r (or, variadic, by every match), {} in
 * the other words by match r. NULL with ctx->err set ("FILE:LINE: line longer than ...") on failure. */
static char **build_argv(lsc_cmd_ctx *ctx, const lsc_script *s, const lsc_script_cmd *c, int gpos, int variadic,
                         const name_list *matches, int r, int *argc_out)
{
    int cap = c->argc + (int)matches->n + 1, argc = 0;
    char **argv = calloc((size_t)cap, sizeof(char *));
    const char *name = gpos >= 0 && !variadic ? matches->v[r] : "";
    int built = argv != NULL;
    for (int i = 0; i < c->argc && built; i++) {
        if (i == gpos && variadic) {
            for (size_t m = 0; m < matches->n && built; m++)
                built = (argv[argc++] = strdup(matches->v[m])) != NULL;
        } else if (i == gpos) {
            built = (argv[argc++] = strdup(name)) != NULL;
        } else if (gpos >= 0 && !variadic) {
            built = (argv[argc++] = subst(c->argv[i], name)) != NULL;
        } else { /* no match to stand for: {} is literal (an old name may hold it) */
            built = (argv[argc++] = strdup(c->argv[i])) != NULL;
        }
    }
    if (!built) {
        free_argv(argc, argv);
        char nm[256];
        lsc_error_set(&ctx->err, LSC_ERR_FORMAT, "%s:%d: line longer than %d MiB after putting '%s' for {} (or out of memory)",
                      s->file, c->line, LSC_SCRIPT_MAX_LINE >> 20, lsc_escape_name(nm, sizeof nm, name));
        return NULL;
    }
    *argc_out = argc;
    return argv;
}

/* One run of a line through the dispatcher, inside the run's transaction; `prepared` (may be NULL) is a
 * state from the command's split, taken by its run step (else released with split->prepared_free). */
static int dispatch_match(lsc_cmd_ctx *ctx, const lsc_script *s, const lsc_script_cmd *c, int argc, char **argv,
                          void *prepared, const lsc_cmd_split *split)
{
    lsc_cmd_ctx sub;
    memset(&sub, 0, sizeof sub);
    sub.catalog_path = ctx->catalog_path;
    sub.cat = ctx->cat;
    sub.out = ctx->out;
    sub.diag = ctx->diag;
    sub.json = ctx->json;
    sub.readonly = ctx->readonly;
    sub.cancel = ctx->cancel;
    sub.prepared = prepared;
    int rc = lsc_dispatch(&sub, argc, argv);
    if (sub.prepared && split)
        split->prepared_free(sub.prepared);
    if (rc != LSC_EXIT_OK)
        lsc_error_set(&ctx->err, sub.err.code, "%s:%d: %s", s->file, c->line, sub.err.msg);
    return rc;
}

/* The matches of glob argument c->argv[gpos] among the adapters as they stand now (earlier lines may have
 * made some, this line's outputs never feed it). 0, or the exit code with ctx->err set. */
static int expand_glob(lsc_cmd_ctx *ctx, const lsc_script *s, const lsc_script_cmd *c, int gpos, name_list *matches)
{
    lsc_adapter_info *infos = NULL;
    size_t n = 0;
    if (lsc_catalog_list(ctx->cat, &infos, &n, &ctx->err)) {
        lsc_error_prefix(&ctx->err, "%s:%d", s->file, c->line);
        return LSC_EXIT_ERROR;
    }
    int oom = 0; /* catalog names are unique: no need to look for a match among the earlier ones */
    for (size_t i = 0; i < n && !oom; i++)
        if (fnmatch(c->argv[gpos], infos[i].name, 0) == 0)
            oom = list_push(matches, infos[i].name);
    lsc_adapter_info_free_array(infos, n);
    if (oom) {
        list_free(matches);
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "%s:%d: out of memory listing the matches of '%s'", s->file, c->line,
                      c->argv[gpos]);
        return LSC_EXIT_ERROR;
    }
    if (matches->n == 0) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "%s:%d: no adapter matches '%s'", s->file, c->line, c->argv[gpos]);
        return LSC_EXIT_ERROR;
    }
    return LSC_EXIT_OK;
}

/* The first adapter argument of a line that is a glob (its argv index), -1 if none. */
static int glob_position(const lsc_command *cmd, const lsc_script_cmd *c)
{
    int idx[64];
    int na = adapter_positions(cmd, c->argc, c->argv, idx, 64);
    for (int k = 0; k < na; k++)
        if (is_glob(c->argv[idx[k]]))
            return idx[k];
    return -1;
}

/* Run one script command (all its glob expansions) in order, each match through the dispatcher; 0 ok,
 * else the exit code with ctx->err set to "FILE:LINE: message". */
static int run_one(lsc_cmd_ctx *ctx, const lsc_script *s, const lsc_script_cmd *c)
{
    char why[LSC_ERROR_MSG_MAX];
    if (strcmp(c->argv[0], "expect") == 0) {
        int r = eval_expect(ctx, c, why, sizeof why);
        if (r < 0) {
            lsc_error_prefix(&ctx->err, "%s:%d", s->file, c->line);
            return LSC_EXIT_ERROR;
        }
        if (r > 0) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "%s:%d: expectation failed: %s", s->file, c->line, why);
            return LSC_EXIT_ERROR;
        }
        return LSC_EXIT_OK;
    }
    const lsc_command *cmd = lsc_command_find(c->argv[0]);
    int gpos = glob_position(cmd, c), variadic = lsc_command_takes_many_adapters(cmd);
    name_list matches = {0};
    if (gpos >= 0 && expand_glob(ctx, s, c, gpos, &matches))
        return LSC_EXIT_ERROR;
    int runs = (gpos >= 0 && !variadic) ? (int)matches.n : 1, rc = LSC_EXIT_OK;
    for (int r = 0; r < runs && rc == LSC_EXIT_OK; r++) {
        if (r > 0 && ctx->cancel && *ctx->cancel) {
            lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "%s:%d: cancelled between the adapters of a glob", s->file, c->line);
            rc = LSC_EXIT_ERROR;
            break;
        }
        int argc = 0;
        char **argv = build_argv(ctx, s, c, gpos, variadic, &matches, r, &argc);
        if (!argv) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        rc = dispatch_match(ctx, s, c, argc, argv, NULL, NULL);
        free_argv(argc, argv);
    }
    list_free(&matches);
    return rc;
}

/* ---- run --jobs -------------------------------------------------------------------------------------
 * Consecutive lines of split commands (command.h lsc_cmd_split), and the matches of their globs, are
 * prepared in order in this thread (every catalog read), computed over the pool, then stored in order
 * through the dispatcher: the single writer, the run's one transaction and history group. A pending match
 * has not been stored yet, so before a line or match could see the catalog differently from a run without
 * --jobs, the pending ones are stored first (flush): a glob that matches, or an argument that names, an
 * adapter a pending match makes; a match that would make the same name as a pending one; a match whose
 * prepare fails (retried after the store, it fails or not exactly as it would have); any other line (rm,
 * rename, expect ...). So every line sees the adapters as they stand before it, and the first failure in
 * order wins with the same message. With --continue a line's matches are stored before the next line. */

/* The commands run --jobs computes in parallel. Staying serial: import (its own batch workers), rm,
 * rename, drop, group, base (catalog rows, no compute), retrain (its own transactions, checkpoints and
 * history), diff, show, export and the other read-only commands. */
static const lsc_cmd_split *split_of(const lsc_command *cmd)
{
    static const struct {
        const char *name;
        const lsc_cmd_split *split;
    } splits[] = {{"prune", &lsc_split_prune},       {"merge", &lsc_split_merge}, {"convert", &lsc_split_convert},
                  {"sparsify", &lsc_split_sparsify}, {"gates", &lsc_split_gates}, {"rebudget", &lsc_split_rebudget},
                  {"share", &lsc_split_share}};
    for (size_t i = 0; cmd && i < sizeof splits / sizeof splits[0]; i++)
        if (strcmp(cmd->name, splits[i].name) == 0)
            return splits[i].split;
    return NULL;
}

#define RUN_PENDING_BYTES ((size_t)512 << 20) /* store a batch once its inputs hold this much */

/* A prepared match waiting for its compute and store. */
typedef struct pend_item {
    size_t line; /* index of its line in the script */
    int argc, last; /* last: the line's last match (the line is done once it is stored) */
    char **argv;
    void *state;
    const lsc_cmd_split *split;
    lsc_error err; /* compute's (code LSC_OK when it succeeded) */
} pend_item;

/* The run's loop state: progress and the summary, and the pending matches in order. */
typedef struct runner {
    lsc_cmd_ctx *ctx;
    const lsc_script *s;
    int json, cont, jobs, failed, stop, rc;
    double t0;
    json_t *applied, *bad;
    pend_item *p;
    size_t n, cap, bytes;
} runner;

/* Line i finished with exit code r: progress, the summary, and (without --continue) a failure stops. */
static void line_done(runner *R, size_t i, int r)
{
    lsc_cmd_ctx *ctx = R->ctx;
    const lsc_script_cmd *c = &R->s->cmds[i];
    if (R->cont)
        lsc_sink_flush(ctx->out); /* the line committed (or failed) on its own: show its results now */
    progress(ctx, R->json, i + 1, R->s->n, R->s, c, r == LSC_EXIT_OK ? "ok" : "failed", r == LSC_EXIT_OK ? NULL : ctx->err.msg,
             R->t0);
    if (r == LSC_EXIT_OK) {
        json_array_append_new(R->applied, json_integer(c->line));
        return;
    }
    R->failed++;
    json_array_append_new(R->bad, json_pack("{s:i, s:s}", "line", c->line, "error", ctx->err.msg));
    if (!R->cont) {
        R->rc = r;
        R->stop = 1;
    }
}

static void pend_drop(runner *R)
{
    for (size_t i = 0; i < R->n; i++) {
        if (R->p[i].state)
            R->p[i].split->prepared_free(R->p[i].state);
        free_argv(R->p[i].argc, R->p[i].argv);
    }
    R->n = 0;
    R->bytes = 0;
}

/* One flush's computes, on a driver thread running the pool while the writer stores the matches already
 * computed, in order: ready[i] says match i's compute is done (mu and cv guard it); stop, set by the
 * writer after a failure, skips the computes not started yet. */
typedef struct pend_run {
    runner *R;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *ready;
    int stop;
} pend_run;

static lsc_status pend_compute(void *vctx, size_t i, int worker, lsc_error *err)
{
    pend_run *pr = vctx;
    pend_item *it = &pr->R->p[i];
    (void)worker;
    (void)err;
    pthread_mutex_lock(&pr->mu);
    int stop = pr->stop;
    pthread_mutex_unlock(&pr->mu);
    if (!stop && it->split->compute(it->state, &it->err) != LSC_OK && it->err.code == LSC_OK)
        it->err.code = LSC_ERR_INVALID;
    pthread_mutex_lock(&pr->mu);
    pr->ready[i] = 1;
    pthread_cond_broadcast(&pr->cv);
    pthread_mutex_unlock(&pr->mu);
    return LSC_OK; /* each match keeps its own error: they are reported in order, as without --jobs */
}

static void *pend_driver(void *arg)
{
    pend_run *pr = arg;
    lsc_error ignore;
    lsc_pool_for(pr->R->n, pr->R->jobs, pend_compute, pr, &ignore);
    return NULL;
}

/* Compute the pending matches over the pool and store them in order as they are ready (the writer stores
 * match i while the workers compute those after it); a line whose last match is stored is done. Returns
 * 0, or the first failure in order (ctx->err "FILE:LINE: ...", *fail_line its line), whatever follows it
 * dropped unstored. */
static int pend_flush(runner *R, size_t *fail_line)
{
    lsc_cmd_ctx *ctx = R->ctx;
    int rc = LSC_EXIT_OK;
    if (R->n == 0)
        return LSC_EXIT_OK;
    for (size_t i = 0; i < R->n; i++)
        R->p[i].err = (lsc_error){LSC_OK, ""};
    pend_run pr = {R, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, calloc(R->n, 1), 0};
    pthread_t driver;
    int threaded = pr.ready && pthread_create(&driver, NULL, pend_driver, &pr) == 0;
    if (!threaded && pr.ready) /* no thread: compute them all first, here */
        pend_driver(&pr);
    for (size_t i = 0; !threaded && !pr.ready && i < R->n; i++) /* no memory for the flags: one at a time */
        if (R->p[i].split->compute(R->p[i].state, &R->p[i].err) != LSC_OK && R->p[i].err.code == LSC_OK)
            R->p[i].err.code = LSC_ERR_INVALID;
    for (size_t i = 0; i < R->n && rc == LSC_EXIT_OK; i++) {
        pend_item *it = &R->p[i];
        const lsc_script_cmd *c = &R->s->cmds[it->line];
        pthread_mutex_lock(&pr.mu);
        while (threaded && !pr.ready[i])
            pthread_cond_wait(&pr.cv, &pr.mu);
        pthread_mutex_unlock(&pr.mu);
        if (it->err.code != LSC_OK) {
            lsc_error_set(&ctx->err, it->err.code, "%s:%d: %s", R->s->file, c->line, it->err.msg);
            rc = LSC_EXIT_ERROR;
        } else {
            rc = dispatch_match(ctx, R->s, c, it->argc, it->argv, it->state, it->split);
            it->state = NULL;
        }
        if (rc != LSC_EXIT_OK)
            *fail_line = it->line;
        else if (it->last)
            line_done(R, it->line, LSC_EXIT_OK);
    }
    if (threaded) {
        pthread_mutex_lock(&pr.mu);
        pr.stop = 1; /* after a failure: the rest is dropped, compute no more of it */
        pthread_mutex_unlock(&pr.mu);
        pthread_join(driver, NULL);
    }
    pthread_mutex_destroy(&pr.mu);
    pthread_cond_destroy(&pr.cv);
    free(pr.ready);
    pend_drop(R);
    return rc;
}

/* Non-zero if a pending match makes `name` (a glob: an adapter it matches). */
static int pend_makes(const runner *R, const char *name)
{
    for (size_t i = 0; i < R->n; i++) {
        const lsc_cmd_split *sp = R->p[i].split;
        const char *made = sp->output(R->p[i].state);
        for (size_t k = 1; made; made = sp->output_at ? sp->output_at(R->p[i].state, k++) : NULL)
            if (is_glob(name) ? fnmatch(name, made, 0) == 0 : strcmp(name, made) == 0)
                return 1;
    }
    return 0;
}

/* Non-zero if a pending match makes a name the prepared `state` would make too. */
static int pend_makes_any(const runner *R, const lsc_cmd_split *split, const void *state)
{
    const char *made = split->output(state);
    for (size_t k = 1; made; made = split->output_at ? split->output_at(state, k++) : NULL)
        if (pend_makes(R, made))
            return 1;
    return 0;
}

/* Non-zero if the parsed match reads an adapter a pending match makes (its adapter arguments, per the
 * command's table, as check_names reads them). */
static int pend_feeds(const runner *R, const lsc_command *cmd, const void *parsed)
{
    const lsc_opt *opts = cmd->spec->opts;
    const lsc_args *a = parsed;
    for (int k = 0; k < a->npos; k++) {
        const lsc_opt *o = lsc_opts_positional(opts, k);
        if (o->type == LSC_OPT_ADAPTER && pend_makes(R, a->pos[k]))
            return 1;
    }
    for (int i = 0; opts[i].type != LSC_OPT_END; i++) {
        const lsc_opt *o = &opts[i];
        if (o->name && (a->seen >> i & 1u) && o->type == LSC_OPT_ADAPTER &&
            pend_makes(R, *(const char *const *)((const char *)a + o->at)))
            return 1;
    }
    return 0;
}

/* Parse and prepare one match of line li into *state (see the head of this part for when the pending
 * matches are stored first). 0, or the exit code with ctx->err set and *fail_line the failing line. */
static int pend_prepare(runner *R, size_t li, const lsc_command *cmd, const lsc_cmd_split *split, int argc, char **argv,
                        void **state, size_t *fail_line)
{
    lsc_cmd_ctx *ctx = R->ctx;
    const lsc_script_cmd *c = &R->s->cmds[li];
    for (;;) {
        lsc_cmd_ctx chk;
        memset(&chk, 0, sizeof chk);
        chk.cat = ctx->cat;
        chk.out = chk.diag = ctx->diag;
        chk.cancel = ctx->cancel;
        void *parsed = NULL;
        int rc = lsc_command_parse(&chk, cmd, argc, argv, &parsed), wait = 0;
        if (rc == LSC_EXIT_OK && R->n && pend_feeds(R, cmd, parsed))
            wait = 1;
        else if (rc == LSC_EXIT_OK)
            rc = split->prepare(&chk, parsed, state);
        lsc_command_args_free(parsed);
        if (rc == LSC_EXIT_OK && !wait && R->n && *state && pend_makes_any(R, split, *state)) {
            split->prepared_free(*state);
            wait = 1;
        }
        if (wait || (rc != LSC_EXIT_OK && R->n)) {
            *state = NULL;
            int frc = pend_flush(R, fail_line);
            if (frc != LSC_EXIT_OK)
                return frc;
            continue; /* nothing pending now: the next turn is the last */
        }
        if (rc != LSC_EXIT_OK) {
            *state = NULL;
            lsc_error_set(&ctx->err, chk.err.code, "%s:%d: %s", R->s->file, c->line, chk.err.msg);
            *fail_line = li;
        }
        return rc;
    }
}

/* Queue line li's matches (preparing each); stores pending ones as needed. 0, or the exit code with
 * ctx->err set and *fail_line the failing line (li, or an earlier line whose store failed). */
static int pend_line(runner *R, size_t li, size_t *fail_line)
{
    lsc_cmd_ctx *ctx = R->ctx;
    const lsc_script_cmd *c = &R->s->cmds[li];
    const lsc_command *cmd = lsc_command_find(c->argv[0]);
    const lsc_cmd_split *split = split_of(cmd);
    int gpos = glob_position(cmd, c), variadic = lsc_command_takes_many_adapters(cmd), rc = LSC_EXIT_OK;
    *fail_line = li;
    if (gpos >= 0 && R->n && pend_makes(R, c->argv[gpos]) && (rc = pend_flush(R, fail_line)) != LSC_EXIT_OK)
        return rc; /* the glob would match what a pending match makes: store them first */
    *fail_line = li;
    name_list matches = {0};
    if (gpos >= 0 && expand_glob(ctx, R->s, c, gpos, &matches))
        return LSC_EXIT_ERROR;
    int runs = (gpos >= 0 && !variadic) ? (int)matches.n : 1;
    size_t per = (size_t)R->jobs * 4;
    for (int r = 0; r < runs && rc == LSC_EXIT_OK; r++) {
        if (r > 0 && ctx->cancel && *ctx->cancel) {
            lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "%s:%d: cancelled between the adapters of a glob", R->s->file,
                          c->line);
            *fail_line = li;
            rc = LSC_EXIT_ERROR;
            break;
        }
        int argc = 0;
        void *state = NULL;
        char **argv = build_argv(ctx, R->s, c, gpos, variadic, &matches, r, &argc);
        if (!argv) {
            *fail_line = li;
            rc = LSC_EXIT_ERROR;
            break;
        }
        if ((rc = pend_prepare(R, li, cmd, split, argc, argv, &state, fail_line)) != LSC_EXIT_OK) {
            free_argv(argc, argv);
            break;
        }
        if (!state) { /* too big to hold: after the pending ones, in turn (streamed, layers over the pool) */
            if ((rc = pend_flush(R, fail_line)) == LSC_EXIT_OK &&
                (rc = dispatch_match(ctx, R->s, c, argc, argv, NULL, NULL)) != LSC_EXIT_OK)
                *fail_line = li;
            free_argv(argc, argv);
            if (rc == LSC_EXIT_OK && r == runs - 1)
                line_done(R, li, LSC_EXIT_OK);
            continue;
        }
        if (R->n == R->cap) {
            size_t cap = R->cap ? R->cap * 2 : 16;
            pend_item *np = realloc(R->p, cap * sizeof *np);
            if (!np) {
                split->prepared_free(state);
                free_argv(argc, argv);
                lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "%s:%d: out of memory", R->s->file, c->line);
                *fail_line = li;
                rc = LSC_EXIT_ERROR;
                break;
            }
            R->p = np;
            R->cap = cap;
        }
        R->p[R->n++] = (pend_item){li, argc, r == runs - 1, argv, state, split, {LSC_OK, ""}};
        R->bytes += split->held_bytes ? split->held_bytes(state) : 0;
        if (R->n >= per || R->bytes >= RUN_PENDING_BYTES)
            rc = pend_flush(R, fail_line);
    }
    list_free(&matches);
    return rc;
}

/* The script's lines in order: with jobs > 1 the lines of split commands through the pending matches,
 * every other line (and every line with --jobs 1) through run_one, after the pending ones are stored. */
static void run_lines(runner *R)
{
    lsc_cmd_ctx *ctx = R->ctx;
    for (size_t i = 0; i < R->s->n && !R->stop; i++) {
        const lsc_script_cmd *c = &R->s->cmds[i];
        int group = R->jobs > 1 && strcmp(c->argv[0], "expect") != 0 && split_of(lsc_command_find(c->argv[0]));
        size_t fl = i;
        int r = LSC_EXIT_OK;
        if (!group && (r = pend_flush(R, &fl)) != LSC_EXIT_OK) { /* the lines before it, first */
            line_done(R, fl, r);
            break;
        }
        if (ctx->cancel && *ctx->cancel) { /* between lines; the lines themselves watch the flag too */
            lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "%s:%d: cancelled before this line", R->s->file, c->line);
            R->rc = LSC_EXIT_ERROR;
            R->stop = 1;
            break;
        }
        if (group) {
            r = pend_line(R, i, &fl);
            if (r == LSC_EXIT_OK && R->cont) /* each line its own transactions: stored before the next line */
                r = pend_flush(R, &fl);
        } else {
            r = run_one(ctx, R->s, c);
        }
        if (r != LSC_EXIT_OK) {
            pend_drop(R);
            line_done(R, fl, r);
        } else if (!group) {
            line_done(R, i, r);
        }
    }
    size_t fl = 0;
    int r = R->stop ? LSC_EXIT_OK : pend_flush(R, &fl);
    if (r != LSC_EXIT_OK)
        line_done(R, fl, r);
    pend_drop(R);
    free(R->p);
    R->p = NULL;
}

/* What a dry run would change: adapters added and removed between two listings. */
static void print_changes(lsc_cmd_ctx *ctx, lsc_adapter_info *before, size_t nb, lsc_adapter_info *after, size_t na)
{
    char b1[64], b2[64], b3[64], b4[64];
    int any = 0;
    lsc_out(ctx->out, "dry run: nothing was written. It would:\n");
    for (size_t i = 0; i < na; i++) {
        int found = 0;
        for (size_t j = 0; j < nb && !found; j++)
            found = before[j].id == after[i].id && strcmp(before[j].name, after[i].name) == 0;
        if (found)
            continue;
        any = 1;
        int renamed = 0;
        for (size_t j = 0; j < nb; j++)
            if (before[j].id == after[i].id) {
                lsc_out(ctx->out, "  rename  %s -> %s\n", before[j].name, after[i].name);
                renamed = 1;
            }
        if (renamed)
            continue;
        lsc_out(ctx->out, "  add     %s  (%lld layers, %s params, %s)", after[i].name, (long long)after[i].n_layers,
                lsc_human_count(b1, sizeof b1, (double)after[i].params), lsc_human_bytes(b2, sizeof b2, (double)after[i].bytes));
        /* against its first parent, when it has one */
        for (size_t j = 0; j < na; j++)
            if (after[i].parents && *after[i].parents && strncmp(after[i].parents, after[j].name, strlen(after[j].name)) == 0 &&
                (after[i].parents[strlen(after[j].name)] == '\0' || after[i].parents[strlen(after[j].name)] == ',')) {
                lsc_out(ctx->out, "  from %s: params %s -> %s, bytes %s -> %s", after[j].name,
                        lsc_human_count(b1, sizeof b1, (double)after[j].params),
                        lsc_human_count(b2, sizeof b2, (double)after[i].params),
                        lsc_human_bytes(b3, sizeof b3, (double)after[j].bytes),
                        lsc_human_bytes(b4, sizeof b4, (double)after[i].bytes));
                break;
            }
        lsc_out(ctx->out, "\n");
    }
    for (size_t j = 0; j < nb; j++) {
        int found = 0;
        for (size_t i = 0; i < na && !found; i++)
            found = before[j].id == after[i].id;
        if (!found) {
            any = 1;
            lsc_out(ctx->out, "  remove  %s\n", before[j].name);
        }
    }
    if (!any)
        lsc_out(ctx->out, "  change no adapter\n");
}

typedef struct run_args {
    lsc_args base;
    const char *script;
    int dry, cont, json;
    long long jobs;
    lsc_optlist vars;
} run_args;

static const lsc_opt run_opts[] = {
    {.metavar = "SCRIPT", .type = LSC_OPT_PATH, .flags = LSC_OPT_POSITIONAL, .at = offsetof(run_args, script),
     .help = "a file of command lines without the word lorascope ('-' reads standard input):\n"
             "# comments, \\ continuation, shell quoting, set NAME VALUE and ${NAME},\n"
             "adapter globs ('ckpt-*' runs the line per match, {} in arguments is the match),\n"
             "expect exists|absent|finite NAME, expect rank NAME LAYER-GLOB OP N,\n"
             "expect energy NAME OP X (share of its parent's energy), expect layers NAME OP N"},
    {.name = "dry-run", .type = LSC_OPT_FLAG, .at = offsetof(run_args, dry),
     .help = "run everything, print what would change, write nothing"},
    {.name = "continue", .type = LSC_OPT_FLAG, .at = offsetof(run_args, cont),
     .help = "each line its own transaction; report applied and failed lines"},
    {.name = "var", .type = LSC_OPT_LIST, .metavar = "NAME=VALUE", .at = offsetof(run_args, vars),
     .help = "set a variable (overrides the script's own set lines)"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(run_args, json), .help = "progress as JSON lines on stderr"},
    {.name = "jobs", .type = LSC_OPT_INT, .metavar = "N", .ilo = 0, .ihi = 256, .at = offsetof(run_args, jobs),
     .def = "0", .help = "worker threads for independent lines and glob matches of prune, merge, convert,\n"
                         "sparsify, gates, rebudget and share (0: one per core); stored in order, the\n"
                         "same adapters, output, errors and history as --jobs 1"},
    {0}};

static int run_validate(lsc_cmd_ctx *ctx, void *args)
{
    const run_args *av = args;
    for (int i = 0; i < av->vars.n; i++) {
        const char *eq = strchr(av->vars.v[i], '=');
        if (!eq || eq == av->vars.v[i])
            return lsc_usage_error(ctx, "run", "--var takes NAME=VALUE, not '%s'", av->vars.v[i]);
    }
    return LSC_EXIT_OK;
}

static int run_run(lsc_cmd_ctx *ctx, void *args)
{
    const run_args *av = args;
    int dry = av->dry, cont = av->cont, json = ctx->json || av->json, rc = LSC_EXIT_OK;
    int jobs = av->jobs > 0 ? (int)av->jobs : lsc_pool_default_threads();
    lsc_script_vars vars = {0};
    for (int i = 0; i < av->vars.n; i++) {
        const char *v = av->vars.v[i], *eq = strchr(v, '=');
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
        lsc_script_var_set(&vars, name, eq + 1, 1);
    }
    const char *file = av->script;
    /* read the script */
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!f) {
        lsc_script_vars_release(&vars);
        lsc_error_set(&ctx->err, LSC_ERR_IO, "cannot open script '%s'", file);
        return LSC_EXIT_ERROR;
    }
    size_t cap = 4096, len = 0, got;
    char *text = malloc(cap + 1);
    int too_big = 0;
    while (text && (got = fread(text + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len > LSC_SCRIPT_MAX_TOTAL) { /* more than any script may expand to: do not read on */
            free(text);
            text = NULL;
            too_big = 1;
            break;
        }
        if (len == cap) {
            cap *= 2;
            char *nt = realloc(text, cap + 1);
            if (!nt) {
                free(text);
                text = NULL;
            }
            text = nt;
        }
    }
    if (f != stdin)
        fclose(f);
    if (!text) {
        lsc_script_vars_release(&vars);
        if (too_big)
            lsc_error_set(&ctx->err, LSC_ERR_FORMAT, "script '%s' is larger than %d MiB", file, LSC_SCRIPT_MAX_TOTAL >> 20);
        else
            lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory reading '%s'", file);
        return LSC_EXIT_ERROR;
    }
    text[len] = '\0';
    lsc_script *s = NULL;
    if (lsc_script_parse_cancel(file, text, &vars, ctx->cancel, &s, &ctx->err)) {
        free(text);
        lsc_script_vars_release(&vars);
        return LSC_EXIT_ERROR;
    }
    free(text);
    lsc_script_vars_release(&vars);

    /* check every line against the catalog as it is now */
    names known;
    lsc_namemap_init(&known);
    lsc_adapter_info *before = NULL;
    size_t nb = 0;
    if (lsc_catalog_list(ctx->cat, &before, &nb, &ctx->err)) {
        lsc_script_free(s);
        return LSC_EXIT_ERROR;
    }
    for (size_t i = 0; i < nb; i++)
        names_add(&known, before[i].name);
    rc = check_script(ctx, s, &known);
    names_free(&known);
    if (rc != LSC_EXIT_OK) {
        lsc_adapter_info_free_array(before, nb);
        lsc_script_free(s);
        return rc;
    }

    if (dry)
        cont = 0; /* a dry run is one transaction, rolled back */
    ctx->dry_run = dry;
    if (cont)
        lsc_catalog_commit(ctx->cat, &ctx->err); /* nothing written yet: each line takes its own transaction */
    /* every line's history entry joins one run: one undo takes the whole run back (catalog.h) */
    lsc_catalog_run_begin(ctx->cat);
    runner R = {ctx, s, json, cont, jobs, 0, 0, LSC_EXIT_OK, now_s(), json_array(), json_array(), NULL, 0, 0, 0};
    run_lines(&R);
    int failed = R.failed;
    json_t *applied = R.applied, *bad = R.bad;
    rc = R.rc;
    if (cont) {
        lsc_out(ctx->out, "%zu line(s) applied, %d failed\n", json_array_size(applied), failed);
        size_t k;
        json_t *v;
        json_array_foreach(bad, k, v)
            lsc_out(ctx->out, "  failed %s:%lld: %s\n", s->file, (long long)json_integer_value(json_object_get(v, "line")),
                    json_string_value(json_object_get(v, "error")));
        if (failed) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "%s: %d line(s) failed (the others were applied)", s->file, failed);
            rc = LSC_EXIT_ERROR;
        }
        lsc_sink_flush(ctx->out); /* the summary of lines already committed, even though the run fails */
        lsc_error err2;
        lsc_catalog_begin(ctx->cat, &err2); /* give the dispatcher its (empty) transaction back */
        ctx->no_change = 1;
    } else if (rc == LSC_EXIT_OK && dry) {
        lsc_adapter_info *after = NULL;
        size_t na = 0;
        if (lsc_catalog_list(ctx->cat, &after, &na, &ctx->err) == LSC_OK)
            print_changes(ctx, before, nb, after, na);
        lsc_adapter_info_free_array(after, na);
    } else if (rc == LSC_EXIT_OK) {
        lsc_out(ctx->out, "%s: %zu line(s) applied\n", s->file, s->n);
    }
    lsc_catalog_run_end(ctx->cat);
    json_decref(applied);
    json_decref(bad);
    lsc_adapter_info_free_array(before, nb);
    lsc_script_free(s);
    return rc;
}

const lsc_cmd_spec lsc_spec_run = {
    run_opts, sizeof(run_args), run_validate, run_run,
    "  --jobs: consecutive lines of prune, merge, convert, sparsify, gates, rebudget and share, and the\n"
    "  matches of their globs, are read from the catalog in order, computed on N threads and stored in\n"
    "  order; a line that reads (by name or glob) what an earlier line makes waits for it to be stored, so\n"
    "  every line sees the adapters as they stand before it. Other commands and expect lines run in turn,\n"
    "  and so does an adapter of more than 256 MiB (streamed, its layers over the threads).\n"};
