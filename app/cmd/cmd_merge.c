/* cmd_merge.c: `lorascope merge NAME... --method M [--weights w,...] [--rank K] [--density D] [--seed S]
 * [--as NEW]`: merge adapters layer by layer into a new adapter (engine/merge.h states each method's
 * exact formula). Layers are matched by name over the union of the inputs (a layer an input lacks counts
 * as zero); different shapes for one layer, or different base models, are an error naming them. Weights
 * multiply whole deltas, never A and B separately, so no cross terms B_i A_j appear. DoRA layers are
 * refused: their magnitude vectors need the base weights. Element-wise methods form one dense layer at
 * a time, show progress and can be cancelled with nothing written. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "derive_job.h"
#include "handlers.h"
#include "layername.h"
#include "merge.h"
#include "table.h"

#define MERGE_MAX_MODELS 64

static const char *const merge_methods[] = {
#define LSC_X_NAME(e, name) name,
    LSC_MERGE_METHOD_LIST(LSC_X_NAME)
#undef LSC_X_NAME
        NULL};

typedef struct merge_args {
    lsc_args base;
    const char *as, *weights;
    int method, exact, json;
    long long rank;
    double density;
    uint64_t seed;
    double w[MERGE_MAX_MODELS]; /* from validate: one weight per adapter */
} merge_args;

static const lsc_opt merge_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL | LSC_OPT_MANY, .min_n = 2,
     .max_n = MERGE_MAX_MODELS},
    {.name = "method", .type = LSC_OPT_CHOICE, .metavar = "M", .flags = LSC_OPT_REQUIRED | LSC_OPT_DASHES,
     .choices = merge_methods, .at = offsetof(merge_args, method),
     .help = "cat: exact sum of w_k s_k B_k A_k as concatenated factors (rank sum r_k);\n"
             "linear: the same exact sum, recompressed to --rank K when given;\n"
             "svd: the best rank-K approximation of that sum (factored SVD, no dense dW);\n"
             "magnitude, ties, dare_linear, dare_ties: element-wise on each layer's task vectors,\n"
             "one dense layer at a time, re-factorised to rank K (randomized SVD, error reported)"},
    {.name = "weights", .type = LSC_OPT_STRING, .metavar = "W,...", .at = offsetof(merge_args, weights),
     .help = "one weight per adapter (default 1 each); weights multiply whole deltas"},
    {.name = "rank", .type = LSC_OPT_INT, .metavar = "K", .ilo = 1, .ihi = INT_MAX, .at = offsetof(merge_args, rank),
     .help = "output rank (svd and element-wise methods need it)"},
    {.name = "density", .type = LSC_OPT_REAL, .metavar = "D", .flags = LSC_OPT_LO_OPEN, .lo = 0, .hi = 1, .def = "1",
     .at = offsetof(merge_args, density), .help = "fraction kept by magnitude trim / DARE (default 1)"},
    {.name = "seed", .type = LSC_OPT_U64, .metavar = "S", .def = "0", .at = offsetof(merge_args, seed),
     .help = "DARE masks and the randomized SVD (default 0): same seed, same bytes"},
    {.name = "as", .type = LSC_OPT_NEW, .metavar = "NEW", .at = offsetof(merge_args, as),
     .help = "the new adapter's name (default A-B-METHOD)"},
    {.name = "exact-svd", .type = LSC_OPT_FLAG, .at = offsetof(merge_args, exact),
     .help = "re-factorise element-wise results with a full SVD (small layers)"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(merge_args, json), .help = "one object with every layer's figures"},
    {0}};

/* One finite weight per adapter; --rank where the method needs it; --density only where it is used. */
static int merge_validate(lsc_cmd_ctx *ctx, void *args)
{
    merge_args *av = args;
    int n = av->base.npos, n_w = 0;
    lsc_merge_method method = (lsc_merge_method)av->method;
    for (int i = 0; i < n; i++)
        av->w[i] = 1.0;
    if (av->weights) {
        const char *p = av->weights;
        char item[128];
        for (;;) {
            size_t len = strcspn(p, ",");
            snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
            if (len >= sizeof item || lsc_parse_real(item, -HUGE_VAL, HUGE_VAL, 0, &av->w[n_w < n ? n_w : 0]))
                return lsc_usage_error(ctx, "merge", "--weights: '%s' is not a finite number", item);
            n_w++;
            if (!p[len])
                break;
            p += len + 1;
        }
        if (n_w != n)
            return lsc_usage_error(ctx, "merge", "%d weights for %d adapters", n_w, n);
    }
    if ((method == LSC_MERGE_SVD || lsc_merge_is_elementwise(method)) && av->rank < 1)
        return lsc_usage_error(ctx, "merge", "--method %s needs --rank K", merge_methods[method]);
    if (!lsc_merge_is_elementwise(method) && av->density != 1.0)
        return lsc_usage_error(ctx, "merge", "--density goes with magnitude, ties, dare_linear or dare_ties, not %s",
                               merge_methods[method]);
    return LSC_EXIT_OK;
}

/* Load the inputs; refuse different base models, a taken name and DoRA layers. */
static int merge_load(lsc_cmd_ctx *ctx, const merge_args *av, const char *newname, lsc_adapter **in, int64_t *ids)
{
    int n = av->base.npos;
    int rc = LSC_EXIT_OK;
    for (int i = 0; i < n && !rc; i++)
        if (lsc_cmd_load(ctx, av->base.pos[i], &in[i], &ids[i]))
            rc = LSC_EXIT_ERROR;
    for (int i = 1; i < n && !rc; i++)
        if (in[0]->base_model && in[i]->base_model && *in[0]->base_model && *in[i]->base_model &&
            strcmp(in[0]->base_model, in[i]->base_model) != 0) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' and '%s' adapt different base models ('%s' and '%s')",
                          in[0]->name, in[i]->name, in[0]->base_model, in[i]->base_model);
            rc = LSC_EXIT_ERROR;
        }
    if (!rc)
        rc = lsc_derive_check_name(ctx, newname);
    for (int i = 0; i < n && !rc; i++)
        for (size_t li = 0; li < in[i]->n_layers; li++)
            if (in[i]->layers[li].tm >= 0) {
                lsc_error_set(&ctx->err, LSC_ERR_UNSUPPORTED,
                              "layer '%s' of '%s' is DoRA: its magnitude vector needs the base weights, so merge refuses it",
                              in[i]->layers[li].name, in[i]->name);
                rc = LSC_EXIT_ERROR;
                break;
            }
    return rc;
}

/* The output: every layer of the union, described by the first input that has it; extras shared by hash. */
static int merge_skeleton(lsc_cmd_ctx *ctx, lsc_adapter **in, int n, const char *newname, lsc_adapter **outp)
{
    int rc = LSC_EXIT_OK;
    /* the output: every layer of the union, described by the first input that has it */
    lsc_adapter *out = NULL;
    if (!rc && !(out = lsc_adapter_new()))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    if (!rc) {
        out->name = strdup(newname);
        out->format = strdup(in[0]->format ? in[0]->format : "peft");
        lsc_adapter_set_kind(out, LSC_KIND_STATIC, NULL);
        out->base_model = strdup(in[0]->base_model ? in[0]->base_model : "");
        out->config_json = in[0]->config_json ? strdup(in[0]->config_json) : NULL;
        out->metadata_json = in[0]->metadata_json ? strdup(in[0]->metadata_json) : NULL;
    }
    for (int i = 0; i < n && !rc; i++)
        for (size_t li = 0; li < in[i]->n_layers && !rc; li++) {
            const lsc_layer *l = &in[i]->layers[li];
            if (lsc_adapter_find_layer(out, l->name) >= 0)
                continue;
            size_t oi;
            if (lsc_adapter_add_layer(out, l->name, &oi, &ctx->err)) {
                rc = LSC_EXIT_ERROR;
                break;
            }
            lsc_layer *ol = &out->layers[oi];
            char *nm = ol->name, *mt = ol->module_type;
            *ol = *l;
            ol->name = nm;
            free(mt);
            ol->module_type = strdup(l->module_type ? l->module_type : "");
            ol->ta = ol->tb = ol->te = ol->tm = -1;
            int src_t[3] = {l->ta, l->tb, l->te};
            int *dst_t[3] = {&ol->ta, &ol->tb, &ol->te};
            for (int k = 0; k < 3 && !rc; k++) {
                if (src_t[k] < 0)
                    continue;
                const lsc_tensor *t = &in[i]->tensors[src_t[k]];
                size_t ti;
                if (lsc_adapter_add_tensor(out, t->key, t->role, (int)oi, t->dtype, t->ndim, t->shape, NULL, &ti, &ctx->err))
                    rc = LSC_EXIT_ERROR;
                else
                    *dst_t[k] = (int)ti;
            }
            for (size_t ti = 0; ti < in[i]->n_tensors && !rc; ti++) { /* kohya alpha scalars */
                const lsc_tensor *t = &in[i]->tensors[ti];
                if (t->role == LSC_ROLE_ALPHA && t->layer == (int)li &&
                    lsc_adapter_add_tensor(out, t->key, t->role, (int)oi, t->dtype, t->ndim, t->shape, NULL, NULL, &ctx->err))
                    rc = LSC_EXIT_ERROR;
            }
        }
    /* extras (heads, modules_to_save): the first input's copy of each key, shared by hash */
    for (int i = 0; i < n && !rc; i++)
        for (size_t ti = 0; ti < in[i]->n_tensors && !rc; ti++) {
            const lsc_tensor *t = &in[i]->tensors[ti];
            int dup = 0;
            if (t->role != LSC_ROLE_EXTRA)
                continue;
            for (size_t k = 0; k < out->n_tensors && !dup; k++)
                dup = strcmp(out->tensors[k].key, t->key) == 0;
            size_t nt;
            if (!dup) {
                if (lsc_adapter_add_tensor(out, t->key, t->role, -1, t->dtype, t->ndim, t->shape, NULL, &nt, &ctx->err))
                    rc = LSC_EXIT_ERROR;
                else
                    memcpy(out->tensors[nt].hash, t->hash, LSC_HASH_HEX);
            }
        }
    *outp = out;
    return rc;
}

/* The factored methods (cat, linear, svd) over the worker pool, a window of layers at a time, each new
 * layer streamed into the transaction in layer order (lsc_derive_layers). */
typedef struct fm_scratch {
    double *fb[MERGE_MAX_MODELS], *fa[MERGE_MAX_MODELS], *fp[MERGE_MAX_MODELS], *bo;
    size_t fbc[MERGE_MAX_MODELS], fac[MERGE_MAX_MODELS], fpc[MERGE_MAX_MODELS], boc;
} fm_scratch; /* fp: packed decode buffers (lsc_derive_factors); bo: B_out then A_out */

static void fm_scratch_free(fm_scratch *w)
{
    for (int i = 0; i < MERGE_MAX_MODELS; i++) {
        free(w->fb[i]);
        free(w->fa[i]);
        free(w->fp[i]);
    }
    free(w->bo);
}

typedef struct fm_ctx {
    const merge_args *av;
    lsc_adapter **in, *out;
    lsc_merge_info *infos;
    int *used;
    fm_scratch *w;      /* [workers] */
    lsc_merge_params mp; /* out_scale set per layer on a copy */
} fm_ctx;

/* Call fn on every tensor input i's copy of output layer li reads. */
static lsc_status fm_tensors(fm_ctx *c, size_t li, int i, int load, lsc_error *err)
{
    int j = lsc_adapter_find_layer(c->in[i], c->out->layers[li].name);
    if (j < 0)
        return LSC_OK;
    int ts[LSC_LAYER_INPUTS_MAX]; /* LyCORIS factors too: the workers never call the loader */
    lsc_adapter_layer_inputs(c->in[i], (size_t)j, ts);
    for (int t = 0; t < LSC_LAYER_INPUTS_MAX; t++) {
        if (ts[t] < 0)
            continue;
        if (!load)
            lsc_adapter_unload_tensor(c->in[i], (size_t)ts[t]);
        else if (lsc_adapter_load_tensor(c->in[i], (size_t)ts[t], err))
            return err->code ? err->code : LSC_ERR_IO;
    }
    return LSC_OK;
}

static lsc_status fm_load(void *octx, size_t li, lsc_error *err)
{
    fm_ctx *c = octx;
    for (int i = 0; i < c->av->base.npos; i++) {
        lsc_status st = fm_tensors(c, li, i, 1, err);
        if (st)
            return st;
    }
    return LSC_OK;
}

static void fm_unload(void *octx, size_t li)
{
    fm_ctx *c = octx;
    for (int i = 0; i < c->av->base.npos; i++)
        fm_tensors(c, li, i, 0, NULL);
}

static lsc_status fm_compute(void *octx, size_t li, int worker, lsc_stats_runner *sr, lsc_error *err)
{
    fm_ctx *c = octx;
    fm_scratch *w = &c->w[worker];
    lsc_layer *ol = &c->out->layers[li];
    lsc_lowrank views[MERGE_MAX_MODELS];
    double ww[MERGE_MAX_MODELS];
    int m = 0;
    lsc_status st = LSC_OK;
    for (int i = 0; i < c->av->base.npos && !st; i++) {
        int j = lsc_adapter_find_layer(c->in[i], ol->name);
        if (j < 0)
            continue;
        /* the first input decodes into the worker's packed buffer sr->b, free until the statistics run */
        st = lsc_derive_factors(c->in[i], (size_t)j, m == 0 ? &sr->b : &w->fp[i], m == 0 ? &sr->bcap : &w->fpc[i],
                                &w->fb[i], &w->fbc[i], &w->fa[i], &w->fac[i], &views[m], err);
        if (st)
            lsc_error_prefix(err, "'%s' layer '%s'", c->in[i]->name, ol->name);
        ww[m++] = c->av->w[i];
    }
    if (st)
        return st;
    lsc_merge_params mp = c->mp;
    int R = lsc_merge_out_rank(views, m, &mp);
    /* keep the layer's scale convention: the same alpha, scale recomputed for the new rank */
    mp.out_scale = lsc_scale_compute(ol->rule, ol->alpha, R, ol->init_r, ol->scale);
    if (!(mp.out_scale != 0 && isfinite(mp.out_scale)))
        mp.out_scale = 1.0;
    if (R < 1) {
        /* invalid inputs: the kernel validates before writing anything and says why */
        double d1[1], d2[1];
        if (lsc_merge_layer(views, ww, m, &mp, sr->ws, d1, d2, NULL, err) == LSC_OK)
            lsc_error_set(err, LSC_ERR_INVALID, "nothing to merge");
        st = err->code ? err->code : LSC_ERR_INVALID;
    }
    const size_t nbo = R > 0 ? (size_t)(views[0].rows * R) : 0;
    if (!st)
        st = lsc_grow_doubles(&w->bo, &w->boc, nbo + (size_t)(R * views[0].cols), err);
    if (!st)
        st = lsc_merge_layer(views, ww, m, &mp, sr->ws, w->bo, w->bo + nbo, &c->infos[li], err);
    if (!st)
        st = lsc_adapter_set_factors(c->out, li, w->bo, w->bo + nbo, R, mp.out_scale, err);
    if (st)
        lsc_error_prefix(err, "layer '%s'", ol->name);
    c->used[li] = m;
    return st;
}

static int merge_layers_factored(lsc_cmd_ctx *ctx, const merge_args *av, lsc_adapter **in, lsc_adapter *out,
                                 lsc_merge_info *infos, int *used)
{
    const int workers = lsc_derive_workers();
    fm_ctx c = {av, in, out, infos, used, calloc((size_t)workers, sizeof(fm_scratch)),
                lsc_merge_params_default((lsc_merge_method)av->method)};
    c.mp.rank = (int)av->rank;
    c.mp.density = av->density;
    c.mp.seed = av->seed;
    c.mp.exact_svd = av->exact;
    size_t *layers = malloc((out->n_layers + 1) * sizeof *layers);
    int rc = !c.w || !layers ? lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"}) : LSC_EXIT_OK;
    for (size_t li = 0; layers && li < out->n_layers; li++)
        layers[li] = li;
    const lsc_derive_ops ops = {"merge", fm_load, fm_compute, fm_unload};
    if (!rc)
        rc = lsc_derive_layers(ctx, out, layers, out->n_layers, &ops, &c);
    for (int k = 0; c.w && k < workers; k++)
        fm_scratch_free(&c.w[k]);
    free(c.w);
    free(layers);
    return rc;
}

/* Merge layer by layer into out's factors (one dense layer at a time for element-wise methods); infos and
 * used get each output layer's error and number of inputs. Cancellable: nothing is stored here. */
static int merge_layers(lsc_cmd_ctx *ctx, const merge_args *av, lsc_adapter **in, lsc_adapter *out,
                        lsc_merge_info *infos, int *used)
{
    int n = av->base.npos, exact = av->exact, rc = LSC_EXIT_OK;
    const char *mname = merge_methods[av->method];
    const double *w = av->w;
    long rank = (long)av->rank;
    double density = av->density;
    uint64_t seed = av->seed;
    lsc_merge_method method = (lsc_merge_method)av->method;
    /* merge layer by layer */
    lsc_workspace *ws = lsc_workspace_new();
    lsc_merge_params mp = lsc_merge_params_default(method);
    mp.rank = (int)rank;
    mp.density = density;
    mp.seed = seed;
    mp.exact_svd = exact;
    double *fb[MERGE_MAX_MODELS] = {0}, *fa[MERGE_MAX_MODELS] = {0}, *bo = NULL, *ao = NULL;
    size_t fbc[MERGE_MAX_MODELS] = {0}, fac[MERGE_MAX_MODELS] = {0};
    if (!ws)
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    int slow = lsc_merge_is_elementwise(method);
    if (!slow) {
        lsc_workspace_free(ws);
        return merge_layers_factored(ctx, av, in, out, infos, used);
    }
    for (size_t li = 0; !rc && li < out->n_layers; li++) {
        lsc_lowrank views[MERGE_MAX_MODELS];
        double ww[MERGE_MAX_MODELS];
        int m = 0, who[MERGE_MAX_MODELS];
        for (int i = 0; i < n && !rc; i++) {
            int j = lsc_adapter_find_layer(in[i], out->layers[li].name);
            if (j < 0)
                continue;
            if (lsc_adapter_factors(in[i], (size_t)j, &fb[i], &fbc[i], &fa[i], &fac[i], &views[m], &ctx->err)) {
                lsc_error_prefix(&ctx->err, "'%s' layer '%s'", in[i]->name, out->layers[li].name);
                rc = LSC_EXIT_ERROR;
                break;
            }
            ww[m] = w[i];
            who[m++] = i;
        }
        if (rc)
            break;
        lsc_layer *ol = &out->layers[li];
        int R = lsc_merge_out_rank(views, m, &mp);
        /* keep the layer's scale convention: the same alpha, scale recomputed for the new rank */
        mp.out_scale = lsc_scale_compute(ol->rule, ol->alpha, R, ol->init_r, ol->scale);
        if (!(mp.out_scale != 0 && isfinite(mp.out_scale)))
            mp.out_scale = 1.0;
        double *nb = R > 0 ? realloc(bo, (size_t)(views[0].rows * R) * sizeof(double)) : NULL;
        if (nb)
            bo = nb;
        double *na = nb ? realloc(ao, (size_t)(R * views[0].cols) * sizeof(double)) : NULL;
        if (na)
            ao = na;
        if (R < 1) {
            /* invalid inputs: the kernel validates before writing anything and says why */
            double d1[1], d2[1];
            if (lsc_merge_layer(views, ww, m, &mp, ws, d1, d2, NULL, &ctx->err) == LSC_OK)
                lsc_error_set(&ctx->err, LSC_ERR_INVALID, "nothing to merge");
            lsc_error_prefix(&ctx->err, "layer '%s'", ol->name);
            rc = LSC_EXIT_ERROR;
            break;
        }
        if (!nb || !na) {
            rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
            break;
        }
        if (lsc_merge_layer(views, ww, m, &mp, ws, bo, ao, &infos[li], &ctx->err) ||
            lsc_adapter_set_factors(out, li, bo, ao, R, mp.out_scale, &ctx->err) ||
            lsc_derive_stream_layer(ctx, out, li)) {
            lsc_error_prefix(&ctx->err, "layer '%s'", ol->name);
            rc = LSC_EXIT_ERROR;
            break;
        }
        used[li] = m;
        for (int k = 0; k < m; k++) {
            const lsc_layer *sl = &in[who[k]]->layers[lsc_adapter_find_layer(in[who[k]], ol->name)];
            int ts[3] = {sl->ta, sl->tb, sl->te};
            for (int t = 0; t < 3; t++)
                if (ts[t] >= 0)
                    lsc_adapter_unload_tensor(in[who[k]], (size_t)ts[t]);
        }
        if (slow && ctx->diag->is_tty) {
            char shown[512];
            lsc_out_ctl(ctx->diag, "\rmerge %s: layer %zu/%zu\033[K", lsc_escape_name(shown, sizeof shown, mname), li + 1,
                        out->n_layers);
        }
        if (ctx->cancel && *ctx->cancel) {
            lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "merge cancelled: nothing written");
            rc = LSC_EXIT_ERROR;
        }
    }
    if (slow && ctx->diag->is_tty)
        lsc_out_ctl(ctx->diag, "\r\033[K");
    for (int i = 0; i < n; i++) {
        free(fb[i]);
        free(fa[i]);
    }
    free(bo);
    free(ao);
    lsc_workspace_free(ws);
    return rc;
}

/* Print the merged layers (a table, or one JSON object) and the totals. */
static void merge_report(lsc_cmd_ctx *ctx, int json, const lsc_adapter *out, const lsc_merge_info *infos,
                         const int *used, const char *newname, const char *mname, int n)
{
    char c1[64], c2[64], c3[64], nm[512];
    double worst = 0;
    for (size_t li = 0; li < out->n_layers; li++)
        worst = fmax(worst, infos[li].rel_error);
    if (json) {
        json_t *layers = json_array();
        for (size_t li = 0; li < out->n_layers; li++)
            json_array_append_new(layers,
                                  lsc_json_layer_name(json_pack("{s:s, s:i, s:i, s:o}", "name", out->layers[li].name,
                                                                "models", used[li], "rank", out->layers[li].rank,
                                                                "rel_error", lsc_json_num(infos[li].rel_error)),
                                                      out->layers[li].name));
        json_t *o = json_pack("{s:s, s:s, s:I, s:o}", "name", newname, "method", mname, "params",
                              (json_int_t)lsc_adapter_params(out), "max_rel_error", lsc_json_num(worst));
        json_object_set_new(o, "layers", layers);
        lsc_json_print(ctx->out, o);
        json_decref(o);
    } else {
        const char *hdr[] = {"LAYER", "MODELS", "RANK", "REL ERROR"};
        lsc_table *t = lsc_table_new(4, hdr, "lrrr");
        for (size_t li = 0; t && li < out->n_layers; li++) {
            const char *name = lsc_layername_display(out->layers[li].name);
            const char *cells[4] = {lsc_escape_name(nm, sizeof nm, name), lsc_fmt(c1, sizeof c1, "%d", used[li]),
                                    lsc_fmt(c2, sizeof c2, "%d", out->layers[li].rank),
                                    lsc_fmt(c3, sizeof c3, "%.3g", infos[li].rel_error)};
            lsc_table_add(t, cells);
        }
        if (t)
            lsc_table_print(t, ctx->out);
        lsc_table_free(t);
        lsc_out(ctx->out, "\n%s: %s merge of %d adapters, %zu layers, %s params, largest relative error %.3g\n",
                newname, mname, n, out->n_layers, lsc_human_count(c1, sizeof c1, (double)lsc_adapter_params(out)),
                worst);
    }
}

/* A merge between its reads of the catalog and its store: what `run --jobs` computes on a worker thread
 * (merge_prepare, merge_compute) and merge_run then stores; without --jobs merge_run takes the same steps
 * in a row (its layers over the pool, streamed). */
typedef struct merge_state {
    merge_args av;                             /* a copy (pos dropped: the inputs are loaded by then) */
    lsc_adapter *in[MERGE_MAX_MODELS], *out;
    int64_t ids[MERGE_MAX_MODELS];
    lsc_tensor_loader loads[MERGE_MAX_MODELS]; /* held: the inputs' own loaders (theirs refuse meanwhile) */
    int n, held;                               /* held: how many inputs are held */
    lsc_merge_info *infos;
    int *used;
    char newname[512];
    volatile int *cancel;
    lsc_derive_stats stats; /* run --jobs: the new layers' statistics, computed with the merge */
} merge_state;

static void merge_unhold(merge_state *s)
{
    for (int i = 0; i < s->held; i++)
        s->in[i]->load = s->loads[i];
    s->held = 0;
}

static void merge_state_free(void *v)
{
    merge_state *s = v;
    if (!s)
        return;
    merge_unhold(s);
    for (int i = 0; i < s->n; i++)
        lsc_adapter_free(s->in[i]);
    lsc_adapter_free(s->out);
    lsc_derive_stats_release(&s->stats);
    free(s->infos);
    free(s->used);
    free(s);
}

/* parse -> load -> skeleton: every read of the catalog; `hold` preloads every input tensor the layers
 * read and makes the inputs' loaders refuse (derive_job.h lsc_derive_hold). */
static int merge_begin(lsc_cmd_ctx *ctx, const merge_args *av, int hold, merge_state **outp)
{
    merge_state *s = calloc(1, sizeof *s);
    *outp = NULL;
    if (!s)
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    s->av = *av;
    s->av.base.pos = NULL;
    s->n = av->base.npos;
    s->cancel = ctx->cancel;
    if (av->as)
        snprintf(s->newname, sizeof s->newname, "%s", av->as);
    else
        snprintf(s->newname, sizeof s->newname, "%s-%s-%s", av->base.pos[0], av->base.pos[1], merge_methods[av->method]);
    int rc = merge_load(ctx, av, s->newname, s->in, s->ids);
    if (!rc)
        rc = merge_skeleton(ctx, s->in, s->n, s->newname, &s->out);
    s->infos = s->out ? calloc(s->out->n_layers + 1, sizeof *s->infos) : NULL;
    s->used = s->out ? calloc(s->out->n_layers + 1, sizeof *s->used) : NULL;
    if (!rc && (!s->infos || !s->used))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    size_t bytes = 0; /* too big to hold: not held, run in turn (derive_job.h lsc_derive_hold_max) */
    for (int i = 0; !rc && i < s->n; i++)
        bytes += (size_t)lsc_adapter_bytes(s->in[i]);
    for (int i = 0; !rc && hold && bytes <= lsc_derive_hold_max() && i < s->n; i++) {
        if (lsc_derive_hold(s->in[i], &s->loads[i], &ctx->err))
            rc = lsc_fail(ctx, &ctx->err);
        s->held = i + 1; /* its loader may be the refusing one already */
    }
    if (rc) {
        merge_state_free(s);
        return rc;
    }
    *outp = s;
    return LSC_EXIT_OK;
}

static int merge_prepare(lsc_cmd_ctx *ctx, void *args, void **state)
{
    int rc = merge_begin(ctx, args, 1, (merge_state **)state);
    if (rc == LSC_EXIT_OK && !((merge_state *)*state)->held) { /* too big to hold: run it in turn */
        merge_state_free(*state);
        *state = NULL;
    }
    return rc;
}

/* The factored methods layer by layer in the calling thread (fm_compute, as the pool runs it), every new
 * layer held in out until merge_run stores it. */
static lsc_status merge_held_factored(merge_state *s, lsc_error *err)
{
    fm_scratch w;
    memset(&w, 0, sizeof w);
    lsc_stats_runner sr;
    lsc_status st = lsc_stats_runner_init(&sr, err);
    if (st)
        return st;
    fm_ctx c = {&s->av, s->in, s->out, s->infos, s->used, &w, lsc_merge_params_default((lsc_merge_method)s->av.method)};
    c.mp.rank = (int)s->av.rank;
    c.mp.density = s->av.density;
    c.mp.seed = s->av.seed;
    c.mp.exact_svd = s->av.exact;
    for (size_t li = 0; !st && li < s->out->n_layers; li++) {
        st = fm_compute(&c, li, 0, &sr, err);
        if (!st && s->cancel && *s->cancel)
            st = lsc_error_set(err, LSC_ERR_CANCELLED, "merge cancelled: nothing written");
    }
    fm_scratch_free(&w);
    lsc_stats_runner_release(&sr);
    return st;
}

/* The layers on their own (any thread): touches only the state, whose inputs merge_prepare loaded. */
static lsc_status merge_compute(void *state, lsc_error *err)
{
    merge_state *s = state;
    if (!lsc_merge_is_elementwise((lsc_merge_method)s->av.method)) {
        lsc_status st = merge_held_factored(s, err);
        return st ? st : lsc_derive_held_stats(s->out, &s->stats, err);
    }
    lsc_cmd_ctx c; /* no catalog: merge_layers then holds every new layer in out */
    lsc_sink null;
    lsc_sink_init_null(&null);
    memset(&c, 0, sizeof c);
    c.out = c.diag = &null;
    c.cancel = s->cancel;
    if (merge_layers(&c, &s->av, s->in, s->out, s->infos, s->used) == LSC_EXIT_OK)
        return lsc_derive_held_stats(s->out, &s->stats, err);
    *err = c.err;
    return err->code ? err->code : LSC_ERR_INVALID;
}

/* parse -> load -> skeleton -> merge layers -> store -> report */
static int merge_run(lsc_cmd_ctx *ctx, void *args)
{
    const merge_args *av = args;
    int json = ctx->json || av->json, rc = LSC_EXIT_OK;
    merge_state *s = ctx->prepared; /* from run --jobs: read and merged already; store it here */
    int computed = s != NULL;
    ctx->prepared = NULL;
    if (s) {
        for (int i = 0; i < s->n; i++)
            lsc_cmd_read(ctx, s->ids[i]);
        merge_unhold(s);
        rc = lsc_derive_check_name(ctx, s->newname); /* an earlier line of the run may have taken it */
    } else {
        rc = merge_begin(ctx, av, 0, &s);
    }
    if (!rc && !computed)
        rc = merge_layers(ctx, av, s->in, s->out, s->infos, s->used);
    int64_t new_id = 0;
    if (!rc) {
        lsc_derive_kind(s->out);
        rc = lsc_derive_put_stats(ctx, s->out, &s->stats);
        if (!rc)
            rc = lsc_derive_store(ctx, s->out, s->ids, (size_t)s->n, &new_id);
    }
    if (!rc)
        merge_report(ctx, json, s->out, s->infos, s->used, s->newname, merge_methods[av->method], s->n);
    merge_state_free(s);
    return rc;
}

static const char *merge_output(const void *state)
{
    return ((const merge_state *)state)->newname;
}

static size_t merge_held_bytes(const void *state)
{
    const merge_state *s = state;
    size_t b = 0;
    for (int i = 0; i < s->n; i++)
        b += s->in[i] ? (size_t)lsc_adapter_bytes(s->in[i]) : 0;
    return b;
}

const lsc_cmd_spec lsc_spec_merge = {merge_opts, sizeof(merge_args), merge_validate, merge_run,
                                     "  Layers are matched by name; a layer an adapter lacks counts as zero. DoRA layers are refused.\n"};

const lsc_cmd_split lsc_split_merge = {merge_prepare, merge_compute, merge_state_free, merge_output, merge_held_bytes, NULL};
