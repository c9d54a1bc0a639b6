/* cmd_prune.c: `lorascope prune NAME RULE [--layers GLOB] [--as NEW]`: cut each layer's rank by a rule,
 * from the factors. Each chosen layer keeps the smallest rank its rule allows (at least 1, never more
 * than it has); its new factors are the best rank-k approximation, rebuilt from the factored SVD with
 * sqrt(sigma) on each side, and its scale convention is kept (PEFT and GGUF keep alpha, so the scale
 * becomes alpha/k; kohya keeps alpha/r, writing alpha = s*k). Unchanged layers share their tensors with
 * the source. Prints, per layer, old -> new rank, kept energy and the exact relative error
 * ||dW - dW_k||_F / ||dW||_F from the singular values, and the totals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "derive_job.h"
#include "handlers.h"
#include "numfmt.h"
#include "layername.h"
#include "kinds.h"
#include "prune.h"
#include "table.h"

typedef struct plan {
    int chosen;          /* layer matches --layers */
    lsc_layer_stats st;  /* its statistics (singular values) */
    int k;               /* rank to keep */
    double kept, err;    /* figures of keeping k */
    double best;         /* --prefix: the best rank-k error, beside the prefix's own */
} plan;

static lsc_prune_scale scale_convention(const lsc_adapter *ad, const lsc_layer *l)
{
    /* kohya: alpha follows the rank; diffusers and cloneofsimo files carry a scale per layer (or none), so
     * keeping it spares the export folding a new scale into B */
    if (ad->format && (strcmp(ad->format, "kohya") == 0 || strcmp(ad->format, "diffusers") == 0 ||
                       strcmp(ad->format, "cloneofsimo") == 0))
        return LSC_SCALE_KEEP_RATIO;
    switch (l->rule) {
    case LSC_SCALE_RSLORA: return LSC_SCALE_KEEP_ALPHA_RS;
    case LSC_SCALE_ALPHA_R: return LSC_SCALE_KEEP_ALPHA;
    default: return LSC_SCALE_KEEP_RATIO; /* AdaLoRA divides by init_r, fixed scales stay */
    }
}

typedef struct prune_args {
    lsc_args base;
    const char *name, *glob, *as, *rule_arg;
    long long rank, budget;
    double energy, fro, cumulative, ratio;
    int json, allow_nonfinite, prefix;
    /* from validate: the one rule given */
    lsc_rank_rule rule;
    int budget_mode;
    double value;
    const char *rule_name;
} prune_args;

#define PRUNE_FRACTION(opt, field, text)                                                                           \
    {.name = opt, .type = LSC_OPT_REAL, .metavar = "T", .flags = LSC_OPT_NOUSAGE | LSC_OPT_LO_OPEN, .lo = 0, .hi = 1, \
     .at = offsetof(prune_args, field), .text_at = offsetof(prune_args, rule_arg), .help = text}

static const lsc_opt prune_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(prune_args, name)},
    {.name = "rank", .type = LSC_OPT_INT, .metavar = "K", .ilo = 1, .ihi = INT_MAX, .usage = "RULE",
     .at = offsetof(prune_args, rank), .text_at = offsetof(prune_args, rule_arg), .help = "RULE: keep K"},
    PRUNE_FRACTION("energy", energy, "RULE: the smallest k with sum sigma^2 >= T of the total"),
    PRUNE_FRACTION("fro", fro, "RULE: kohya sv_fro: sum sigma^2 >= T^2"),
    PRUNE_FRACTION("cumulative", cumulative, "RULE: kohya sv_cumulative: sum sigma >= T"),
    {.name = "ratio", .type = LSC_OPT_REAL, .metavar = "R", .flags = LSC_OPT_NOUSAGE, .lo = 1, .hi = HUGE_VAL,
     .at = offsetof(prune_args, ratio), .text_at = offsetof(prune_args, rule_arg),
     .help = "RULE: keep sigma_i >= sigma_1 / R"},
    {.name = "budget", .type = LSC_OPT_INT, .metavar = "N", .flags = LSC_OPT_NOUSAGE, .ilo = 1, .ihi = LLONG_MAX,
     .at = offsetof(prune_args, budget), .text_at = offsetof(prune_args, rule_arg),
     .help = "RULE: the N strongest singular directions over all chosen layers"},
    {.name = "layers", .type = LSC_OPT_GLOB, .metavar = "GLOB", .at = offsetof(prune_args, glob),
     .help = "only these layers (others are kept unchanged)"},
    {.name = "as", .type = LSC_OPT_NEW, .metavar = "NEW", .at = offsetof(prune_args, as),
     .help = "the new adapter's name (default NAME-RULEVALUE)"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(prune_args, json), .help = "one object with every layer's figures"},
    {.name = "allow-nonfinite", .type = LSC_OPT_FLAG, .at = offsetof(prune_args, allow_nonfinite),
     .help = "leave layers holding NaN/Inf unchanged instead of refusing"},
    {.name = "prefix", .type = LSC_OPT_FLAG, .at = offsetof(prune_args, prefix),
     .help = "with --rank K on a DyLoRA adapter: keep the first K directions as trained (no SVD,\n"
             "scale alpha/K); prints the prefix's error beside the best rank-K error"},
    {0}};

/* Exactly one rule; --prefix only with --rank. Fills rule, budget_mode, value and rule_name. */
static int prune_validate(lsc_cmd_ctx *ctx, void *args)
{
    prune_args *av = args;
    static const char *const rules[] = {"rank", "energy", "fro", "cumulative", "ratio", "budget"};
    int given = -1, n = 0;
    for (int i = 0; i < 6; i++)
        if (lsc_opts_given(prune_opts, av, rules[i])) {
            given = i;
            n++;
        }
    if (n > 1)
        return lsc_usage_error(ctx, "prune", "give one rule (--rank, --energy, --fro, --cumulative, --ratio or --budget)");
    if (n == 0)
        return lsc_usage_error(ctx, "prune", "give a rule: --rank K, --energy T, --fro T, --cumulative T, --ratio R or --budget N");
    const lsc_rank_rule of[] = {LSC_RANK_FIXED, LSC_RANK_ENERGY, LSC_RANK_FRO, LSC_RANK_CUMULATIVE, LSC_RANK_RATIO,
                                LSC_RANK_FIXED};
    const double value[] = {(double)av->rank, av->energy, av->fro, av->cumulative, av->ratio, (double)av->budget};
    av->rule = of[given];
    av->budget_mode = given == 5;
    av->value = value[given];
    av->rule_name = av->budget_mode ? "budget" : lsc_rank_rule_name(av->rule);
    if (av->prefix && given != 0)
        return lsc_usage_error(ctx, "prune", "--prefix goes with --rank K (DyLoRA: keep the first K rank directions)");
    return LSC_EXIT_OK;
}

/* Steps 1 and 2: every chosen layer's singular values, then the rank each keeps (p[li].k) with its
 * figures; *n_chosen counts the layers --layers matched. */
static int prune_plan(lsc_cmd_ctx *ctx, const prune_args *av, lsc_adapter *src, lsc_stats_runner *srp, plan *p,
                      size_t *n_chosen_out)
{
    int rc = LSC_EXIT_OK, budget_mode = av->budget_mode, allow_nonfinite = av->allow_nonfinite;
    lsc_rank_rule rule = av->rule;
    double value = av->value;
    long long budget = av->budget;
    const char *glob = av->glob, *src_name = av->name;
    /* 1. every chosen layer's singular values */
    size_t n_chosen = 0;
    for (size_t li = 0; !rc && li < src->n_layers; li++) {
        if (!lsc_name_matches(glob, src->layers[li].name))
            continue;
        p[li].chosen = 1;
        n_chosen++;
        if (lsc_layer_stats_get(srp, ctx->cat, src, li, 0, &p[li].st, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        if ((p[li].st.flags & LSC_STATS_NONFINITE)) {
            if (!allow_nonfinite) {
                lsc_error_set(&ctx->err, LSC_ERR_NUMERIC, "layer '%s' holds NaN or Inf: prune refuses it (--allow-nonfinite leaves such layers unchanged)",
                              src->layers[li].name);
                rc = LSC_EXIT_ERROR;
            }
            p[li].chosen = 0;
        }
    }
    if (!rc && n_chosen == 0) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "no layer of '%s' matches '%s'", src_name, glob ? glob : "");
        rc = LSC_EXIT_ERROR;
    }
    /* 2. the rank each layer keeps */
    if (!rc && budget_mode) {
        const double **svs = calloc(src->n_layers + 1, sizeof *svs);
        int *ns = calloc(src->n_layers + 1, sizeof *ns), *ks = calloc(src->n_layers + 1, sizeof *ks);
        int m = 0;
        size_t *map = calloc(src->n_layers + 1, sizeof *map);
        for (size_t li = 0; li < src->n_layers; li++)
            if (p[li].chosen) {
                svs[m] = p[li].st.sv;
                ns[m] = p[li].st.n_sv;
                map[m++] = li;
            }
        if (!svs || !ns || !ks || !map || lsc_prune_budget(svs, ns, m, (int64_t)budget, ks, &ctx->err))
            rc = lsc_fail(ctx, &ctx->err);
        for (int i = 0; !rc && i < m; i++)
            p[map[i]].k = ks[i];
        free(svs);
        free(ns);
        free(ks);
        free(map);
    }
    for (size_t li = 0; !rc && li < src->n_layers; li++) {
        if (!p[li].chosen)
            continue;
        if (!budget_mode && lsc_prune_select(p[li].st.sv, p[li].st.n_sv, rule, value, &p[li].k, &ctx->err)) {
            lsc_error_prefix(&ctx->err, "layer '%s'", src->layers[li].name);
            rc = LSC_EXIT_ERROR;
            break;
        }
        lsc_prune_figures(p[li].st.sv, p[li].st.n_sv, p[li].k, &p[li].kept, &p[li].err);
    }
    *n_chosen_out = n_chosen;
    return rc;
}

/* Step 3: new factors for every layer whose rank drops (best rank-k, or the trained prefix with --prefix),
 * computed over the worker pool a window at a time and streamed into the transaction in layer order
 * (lsc_derive_layers); *changed counts them. Cancellable: the command's rollback drops what was stored. */
typedef struct cut_scratch {
    double *bo, *ao;
    size_t boc, aoc;
} cut_scratch;

typedef struct cut_ctx {
    int prefix;           /* --prefix: DyLoRA's trained prefix instead of the best rank-k */
    lsc_adapter *src, *dst;
    plan *p;
    const size_t *layers; /* item -> layer index */
    cut_scratch *w;       /* [workers] */
} cut_ctx;

/* The tensors a layer's factor view reads (LyCORIS factors too: the workers never call the loader). */
static void layer_tensors(const lsc_adapter *ad, size_t li, int ts[LSC_LAYER_INPUTS_MAX])
{
    lsc_adapter_layer_inputs(ad, li, ts);
}

static lsc_status cut_load(void *octx, size_t item, lsc_error *err)
{
    cut_ctx *c = octx;
    int ts[LSC_LAYER_INPUTS_MAX];
    layer_tensors(c->src, c->layers[item], ts);
    for (int t = 0; t < LSC_LAYER_INPUTS_MAX; t++)
        if (ts[t] >= 0) {
            lsc_status st = lsc_adapter_load_tensor(c->src, (size_t)ts[t], err);
            if (st)
                return st;
        }
    return LSC_OK;
}

static void cut_unload(void *octx, size_t item)
{
    cut_ctx *c = octx;
    int ts[LSC_LAYER_INPUTS_MAX];
    layer_tensors(c->src, c->layers[item], ts);
    for (int t = 0; t < LSC_LAYER_INPUTS_MAX; t++)
        if (ts[t] >= 0)
            lsc_adapter_unload_tensor(c->src, (size_t)ts[t]);
}

/* DyLoRA --prefix: the first k directions as trained, scale alpha/k, no SVD; both errors reported. */
static lsc_status cut_prefix(cut_ctx *c, size_t li, const lsc_lowrank *lr, int k, lsc_workspace *ws, double *bo,
                             double *ao, double *s_new, lsc_error *err)
{
    const lsc_layer *l = &c->src->layers[li];
    double *pe = malloc((size_t)lr->r * sizeof *pe), *be = malloc((size_t)lr->r * sizeof *be);
    lsc_status st = !pe || !be ? lsc_error_set(err, LSC_ERR_NOMEM, "out of memory")
                               : lsc_dylora_prefix_errors(lr, LSC_DYLORA_ALPHA_B, ws, pe, be, err);
    if (!st)
        st = lsc_dylora_prefix(lr, k, l->scale * l->rank, LSC_DYLORA_ALPHA_B, bo, ao, s_new, err);
    if (!st) {
        c->p[li].err = pe[k - 1];
        c->p[li].best = be[k - 1];
        c->p[li].kept = 1 - pe[k - 1] * pe[k - 1];
    }
    free(pe);
    free(be);
    return st;
}

static lsc_status cut_compute(void *octx, size_t item, int worker, lsc_stats_runner *sr, lsc_error *err)
{
    cut_ctx *c = octx;
    cut_scratch *w = &c->w[worker];
    size_t li = c->layers[item];
    const lsc_layer *l = &c->src->layers[li];
    int k = c->p[li].k;
    double s_new = lsc_prune_new_scale(scale_convention(c->src, l), l->scale, l->rank, k);
    lsc_lowrank lr;
    lsc_prune_info info;
    lsc_workspace *ws = sr->ws;
    lsc_status st = lsc_adapter_factors(c->src, li, &sr->b, &sr->bcap, &sr->a, &sr->acap, &lr, err);
    if (!st)
        st = lsc_grow_doubles(&w->bo, &w->boc, (size_t)(lr.rows * k), err);
    if (!st)
        st = lsc_grow_doubles(&w->ao, &w->aoc, (size_t)(k * lr.cols), err);
    if (!st)
        st = c->prefix ? cut_prefix(c, li, &lr, k, ws, w->bo, w->ao, &s_new, err)
                           : lsc_prune_truncate(&lr, k, s_new, ws, w->bo, w->ao, &info, err);
    if (!st)
        st = lsc_adapter_set_factors(c->dst, li, w->bo, w->ao, k, s_new, err);
    if (st)
        lsc_error_prefix(err, "layer '%s'", l->name);
    return st;
}

static int prune_cut(lsc_cmd_ctx *ctx, const prune_args *av, lsc_adapter *src, lsc_adapter *dst, plan *p,
                     int *changed_out)
{
    const int workers = lsc_derive_workers();
    size_t *layers = malloc((src->n_layers + 1) * sizeof *layers), n = 0;
    cut_scratch *w = calloc((size_t)workers, sizeof *w);
    int rc = !layers || !w ? lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"}) : LSC_EXIT_OK;
    for (size_t li = 0; !rc && li < src->n_layers; li++)
        if (p[li].chosen && p[li].k < src->layers[li].rank && p[li].k >= 1)
            layers[n++] = li;
    cut_ctx c = {av->prefix, src, dst, p, layers, w};
    const lsc_derive_ops ops = {"prune", cut_load, cut_compute, cut_unload};
    if (!rc)
        rc = lsc_derive_layers(ctx, dst, layers, n, &ops, &c);
    for (int i = 0; w && i < workers; i++) {
        free(w[i].bo);
        free(w[i].ao);
    }
    free(w);
    free(layers);
    *changed_out = rc ? 0 : (int)n;
    return rc;
}

/* Step 3 for `run --jobs` (prune_compute, on a worker with no catalog): the same per-layer cut
 * (cut_compute), layer by layer on the calling thread over tensors prune_begin preloaded, every new
 * factor held in dst until prune_run stores it; *changed counts them. Cancellable: nothing is stored
 * here. For the small adapters a batch holds; one big adapter takes prune_cut, which streams. */
static int prune_cut_held(lsc_cmd_ctx *ctx, int prefix, lsc_adapter *src, lsc_adapter *dst, lsc_stats_runner *srp,
                          plan *p, int *changed_out)
{
    cut_scratch w = {0};
    size_t at = 0;
    cut_ctx c = {prefix, src, dst, p, &at, &w};
    int rc = LSC_EXIT_OK, changed = 0;
    for (size_t li = 0; !rc && li < src->n_layers; li++) {
        if (!p[li].chosen || p[li].k >= src->layers[li].rank || p[li].k < 1)
            continue;
        at = li;
        if (cut_compute(&c, 0, 0, srp, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        cut_unload(&c, 0);
        changed++;
        if (ctx->cancel && *ctx->cancel) {
            lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "prune cancelled: nothing written");
            rc = LSC_EXIT_ERROR;
        }
    }
    free(w.bo);
    free(w.ao);
    *changed_out = changed;
    return rc;
}

/* Step 4: the report, per chosen layer old -> new rank with its figures, then the totals. */
static void prune_report(lsc_cmd_ctx *ctx, const prune_args *av, const lsc_adapter *src, const lsc_adapter *dst,
                         const plan *p, const char *newname, size_t n_chosen, int changed)
{
    int json = ctx->json || av->json, prefix = av->prefix;
    double value = av->value;
    const char *src_name = av->name, *rule_name = av->rule_name;
    int64_t pb = lsc_adapter_params(src), pa = lsc_adapter_params(dst);
    int64_t bb0 = lsc_adapter_bytes(src), bb1 = lsc_adapter_bytes(dst);
    char c1[64], c2[64], c3[64], c4[64], nm[512];
    if (json) {
        json_t *layers = json_array();
        for (size_t li = 0; li < src->n_layers; li++) {
            if (!p[li].chosen)
                continue;
            json_array_append_new(
                layers,
                lsc_json_layer_name(json_pack("{s:s, s:i, s:i, s:o, s:o}", "name", src->layers[li].name, "rank_before",
                                              src->layers[li].rank, "rank_after", dst->layers[li].rank, "kept_energy",
                                              lsc_json_num(p[li].kept), "rel_error", lsc_json_num(p[li].err)),
                                    src->layers[li].name));
        }
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I}", "name", newname, "source", src_name, "rule",
                              rule_name, "value", lsc_json_num(value), "params_before", (json_int_t)pb, "params_after",
                              (json_int_t)pa, "bytes_before", (json_int_t)bb0, "bytes_after", (json_int_t)bb1);
        json_object_set_new(o, "layers", layers);
        lsc_json_print(ctx->out, o);
        json_decref(o);
    } else {
        const char *hdr[] = {"LAYER", "RANK", prefix ? "PREFIX ERROR" : "KEPT ENERGY",
                             prefix ? "BEST RANK-K ERROR" : "REL ERROR"};
        lsc_table *t = lsc_table_new(4, hdr, "lrrr");
        for (size_t li = 0; t && li < src->n_layers; li++) {
            if (!p[li].chosen)
                continue;
            const char *name = lsc_layername_display(src->layers[li].name);
            const char *cells[4] = {lsc_escape_name(nm, sizeof nm, name),
                                    lsc_fmt(c1, sizeof c1, "%d → %d", src->layers[li].rank, dst->layers[li].rank),
                                    prefix ? lsc_fmt(c2, sizeof c2, "%.3g", p[li].err)
                                           : lsc_fmt_pct(c2, sizeof c2, p[li].kept, 4),
                                    lsc_fmt(c3, sizeof c3, "%.3g", prefix ? p[li].best : p[li].err)};
            lsc_table_add(t, cells);
        }
        if (t)
            lsc_table_print(t, ctx->out);
        lsc_table_free(t);
        lsc_out(ctx->out, "\n%s: %d of %zu layer(s) cut; params %s → %s, bytes %s → %s\n", newname, changed,
                n_chosen, lsc_human_count(c1, sizeof c1, (double)pb), lsc_human_count(c2, sizeof c2, (double)pa),
                lsc_human_bytes(c3, sizeof c3, (double)bb0), lsc_human_bytes(c4, sizeof c4, (double)bb1));
    }
}

/* parse -> plan -> cut -> store -> report */
/* A prune between its reads of the catalog and its writes: what `run --jobs` computes on a worker thread
 * (prune_prepare, prune_compute) and prune_run then stores. */
typedef struct prune_state {
    lsc_adapter *src, *dst;
    int64_t src_id;
    plan *p;
    size_t n_chosen;
    int changed, prefix, sr_ok, computed, held; /* held: preloaded for run --jobs (not too big) */
    lsc_stats_runner sr;
    char newname[512];
    volatile int *cancel;
    lsc_derive_stats stats; /* run --jobs: the new layers' statistics, computed with the cut */
} prune_state;

static void prune_state_free(void *v)
{
    prune_state *s = v;
    if (!s)
        return;
    for (size_t li = 0; s->p && s->src && li < s->src->n_layers; li++)
        lsc_stats_release(&s->p[li].st);
    free(s->p);
    if (s->sr_ok)
        lsc_stats_runner_release(&s->sr);
    lsc_derive_stats_release(&s->stats);
    lsc_adapter_free(s->src);
    lsc_adapter_free(s->dst);
    free(s);
}

/* Steps 1 and 2 and the clone of the new adapter: everything that reads the catalog. With `preload`, the
 * tensors of the layers whose rank drops are loaded too, so that the cut needs no catalog. */
static int prune_begin(lsc_cmd_ctx *ctx, const prune_args *av, int preload, prune_state **out)
{
    prune_state *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    s->prefix = av->prefix;
    s->cancel = ctx->cancel;
    if (av->as)
        snprintf(s->newname, sizeof s->newname, "%s", av->as);
    else
        snprintf(s->newname, sizeof s->newname, "%s-%s%s", av->name, av->rule_name, av->rule_arg);
    int rc = lsc_cmd_load(ctx, av->name, &s->src, &s->src_id) ? LSC_EXIT_ERROR : LSC_EXIT_OK; /* a status */
    if (!rc)
        rc = lsc_derive_check_name(ctx, s->newname);
    if (!rc && (!(s->p = calloc(s->src->n_layers + 1, sizeof *s->p)) || lsc_stats_runner_init(&s->sr, &ctx->err)))
        rc = lsc_fail(ctx, s->p ? &ctx->err : &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    else if (!rc)
        s->sr_ok = 1;
    if (!rc)
        rc = prune_plan(ctx, av, s->src, &s->sr, s->p, &s->n_chosen);
    /* 3. the new adapter: changed layers get new factors, the rest share their tensors */
    if (!rc && !(s->dst = lsc_adapter_clone_meta(s->src)))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    s->held = preload && !rc && (size_t)lsc_adapter_bytes(s->src) <= lsc_derive_hold_max();
    for (size_t li = 0; !rc && s->held && li < s->src->n_layers; li++) {
        const lsc_layer *l = &s->src->layers[li];
        int ts[LSC_LAYER_INPUTS_MAX]; /* LyCORIS factors too: the cut runs where the loader may not */
        lsc_adapter_layer_inputs(s->src, li, ts);
        for (int t = 0; !rc && t < LSC_LAYER_INPUTS_MAX && s->p[li].chosen && s->p[li].k < l->rank && s->p[li].k >= 1; t++)
            if (ts[t] >= 0 && lsc_adapter_load_tensor(s->src, (size_t)ts[t], &ctx->err))
                rc = lsc_fail(ctx, &ctx->err);
    }
    lsc_tensor_loader own; /* the cut reads nothing more: a tensor missed above fails alike on every run */
    if (!rc && s->held)
        lsc_derive_guard(s->src, &own);
    if (rc) {
        prune_state_free(s);
        return rc;
    }
    *out = s;
    return LSC_EXIT_OK;
}

static int prune_prepare(lsc_cmd_ctx *ctx, void *args, void **state)
{
    int rc = prune_begin(ctx, args, 1, (prune_state **)state);
    if (rc == LSC_EXIT_OK && !((prune_state *)*state)->held) { /* too big to hold: run it in turn */
        prune_state_free(*state);
        *state = NULL;
    }
    return rc;
}

/* The cut on its own (any thread): touches only the state; its tensors were loaded by prune_prepare. */
static lsc_status prune_compute(void *state, lsc_error *err)
{
    prune_state *s = state;
    lsc_cmd_ctx c;
    memset(&c, 0, sizeof c);
    c.cancel = s->cancel;
    if (prune_cut_held(&c, s->prefix, s->src, s->dst, &s->sr, s->p, &s->changed)) {
        *err = c.err;
        return c.err.code ? c.err.code : LSC_ERR_INVALID;
    }
    s->computed = 1;
    return lsc_derive_held_stats(s->dst, &s->stats, err);
}

static int prune_run(lsc_cmd_ctx *ctx, void *args)
{
    const prune_args *av = args;
    prune_state *s = ctx->prepared; /* from run --jobs: read and cut already; store it here */
    ctx->prepared = NULL;
    int rc = LSC_EXIT_OK;
    if (s) {
        lsc_cmd_read(ctx, s->src_id);
        rc = lsc_derive_check_name(ctx, s->newname); /* an earlier line of the run may have taken it */
    } else {
        rc = prune_begin(ctx, av, 0, &s);
    }
    if (!rc && !s->computed)
        rc = prune_cut(ctx, av, s->src, s->dst, s->p, &s->changed);
    int64_t new_id = 0;
    if (!rc) {
        free(s->dst->name);
        s->dst->name = strdup(s->newname);
        lsc_derive_kind(s->dst);
        rc = lsc_derive_put_stats(ctx, s->dst, &s->stats);
        if (!rc)
            rc = lsc_derive_store(ctx, s->dst, &s->src_id, 1, &new_id);
    }
    if (!rc) /* 4. the report */
        prune_report(ctx, av, s->src, s->dst, s->p, s->newname, s->n_chosen, s->changed);
    prune_state_free(s);
    return rc;
}

const lsc_cmd_spec lsc_spec_prune = {
    prune_opts, sizeof(prune_args), prune_validate, prune_run,
    "  give exactly one RULE; every layer keeps at least 1, never grows\n"
    "  (kohya keeps one more than its own rule says: we follow the rule as written)\n"};

static const char *prune_output(const void *state)
{
    return ((const prune_state *)state)->newname;
}

static size_t prune_held_bytes(const void *state)
{
    const prune_state *s = state;
    return s->src ? (size_t)lsc_adapter_bytes(s->src) : 0;
}

const lsc_cmd_split lsc_split_prune = {prune_prepare, prune_compute, prune_state_free, prune_output, prune_held_bytes, NULL};
