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

#include "derive.h"
#include "handlers.h"
#include "merge.h"
#include "table.h"

#define MERGE_MAX_MODELS 64

static int parse_weights(const char *s, double *w, int cap)
{
    int n = 0;
    const char *p = s;
    while (*p && n < cap) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v))
            return -1;
        w[n++] = v;
        if (*end == ',')
            end++;
        else if (*end)
            return -1;
        p = end;
    }
    return n;
}

int lsc_cmd_merge(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"method", required_argument, NULL, 'm'}, {"weights", required_argument, NULL, 'w'},
        {"rank", required_argument, NULL, 'k'},   {"density", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 's'},   {"as", required_argument, NULL, 'a'},
        {"exact-svd", no_argument, NULL, 'x'},    {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    int c, json = ctx->json, n_w = -1, exact = 0;
    const char *method_name = NULL, *as = NULL;
    double w[MERGE_MAX_MODELS];
    long rank = 0;
    double density = 1.0;
    unsigned long long seed = 0;
    char *end;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        switch (c) {
        case 'm': method_name = g.arg; break;
        case 'w':
            n_w = parse_weights(g.arg, w, MERGE_MAX_MODELS);
            if (n_w < 0)
                return lsc_usage_error(ctx, "merge", "--weights takes numbers separated by commas, not '%s'", g.arg);
            break;
        case 'k':
            rank = strtol(g.arg, &end, 10);
            if (*end || rank < 1)
                return lsc_usage_error(ctx, "merge", "--rank takes a whole number >= 1");
            break;
        case 'd':
            density = strtod(g.arg, &end);
            if (*end || !(density > 0 && density <= 1))
                return lsc_usage_error(ctx, "merge", "--density takes a fraction in (0, 1]");
            break;
        case 's':
            seed = strtoull(g.arg, &end, 10);
            if (*end)
                return lsc_usage_error(ctx, "merge", "--seed takes a whole number");
            break;
        case 'a': as = g.arg; break;
        case 'x': exact = 1; break;
        case 'j': json = 1; break;
        default: return LSC_EXIT_USAGE;
        }
    }
    int n = argc - g.ind;
    if (n < 2 || n > MERGE_MAX_MODELS)
        return lsc_usage_error(ctx, "merge", "expected 2 to %d adapter names", MERGE_MAX_MODELS);
    if (!method_name)
        return lsc_usage_error(ctx, "merge", "give --method (cat, linear, svd, magnitude, dare_linear, ties, dare_ties)");
    lsc_merge_method method;
    lsc_error e;
    /* accept dare-linear as well as dare_linear */
    char mname[64];
    snprintf(mname, sizeof mname, "%s", method_name);
    for (char *q = mname; *q; q++)
        if (*q == '-')
            *q = '_';
    if (lsc_merge_method_from_name(mname, &method, &e))
        return lsc_usage_error(ctx, "merge", "%s", e.msg);
    if (n_w >= 0 && n_w != n)
        return lsc_usage_error(ctx, "merge", "%d weights for %d adapters", n_w, n);
    if (n_w < 0)
        for (int i = 0; i < n; i++)
            w[i] = 1.0;
    if ((method == LSC_MERGE_SVD || lsc_merge_is_elementwise(method)) && rank < 1)
        return lsc_usage_error(ctx, "merge", "--method %s needs --rank K", method_name);
    if (ctx->check_only)
        return LSC_EXIT_OK;

    char newname[512];
    if (as)
        snprintf(newname, sizeof newname, "%s", as);
    else
        snprintf(newname, sizeof newname, "%s-%s-%s", argv[g.ind], argv[g.ind + 1], mname);
    lsc_adapter *in[MERGE_MAX_MODELS] = {0};
    int64_t ids[MERGE_MAX_MODELS];
    int rc = LSC_EXIT_OK;
    for (int i = 0; i < n && !rc; i++)
        if (lsc_cmd_load(ctx, argv[g.ind + i], &in[i], &ids[i]))
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
    /* the output: every layer of the union, described by the first input that has it */
    lsc_adapter *out = NULL;
    if (!rc && !(out = lsc_adapter_new()))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    if (!rc) {
        out->name = strdup(newname);
        out->format = strdup(in[0]->format ? in[0]->format : "peft");
        out->kind = strdup("static");
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
    /* merge layer by layer */
    lsc_workspace *ws = lsc_workspace_new();
    lsc_merge_params mp = lsc_merge_params_default(method);
    mp.rank = (int)rank;
    mp.density = density;
    mp.seed = seed;
    mp.exact_svd = exact;
    double *fb[MERGE_MAX_MODELS] = {0}, *fa[MERGE_MAX_MODELS] = {0}, *bo = NULL, *ao = NULL;
    size_t fbc[MERGE_MAX_MODELS] = {0}, fac[MERGE_MAX_MODELS] = {0};
    lsc_merge_info *infos = out ? calloc(out->n_layers + 1, sizeof *infos) : NULL;
    int *used = out ? calloc(out->n_layers + 1, sizeof *used) : NULL;
    if (!rc && (!ws || !infos || !used))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    int slow = lsc_merge_is_elementwise(method);
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
            lsc_adapter_set_factors(out, li, bo, ao, R, mp.out_scale, &ctx->err)) {
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
    int64_t new_id = 0;
    if (!rc) {
        lsc_derive_kind(out);
        rc = lsc_derive_store(ctx, out, ids, (size_t)n, &new_id);
    }
    if (!rc) {
        char c1[64], c2[64], c3[64], nm[512];
        double worst = 0;
        for (size_t li = 0; li < out->n_layers; li++)
            worst = fmax(worst, infos[li].rel_error);
        if (json) {
            json_t *layers = json_array();
            for (size_t li = 0; li < out->n_layers; li++)
                json_array_append_new(layers, json_pack("{s:s, s:i, s:i, s:o}", "name", out->layers[li].name, "models",
                                                        used[li], "rank", out->layers[li].rank, "rel_error",
                                                        lsc_json_num(infos[li].rel_error)));
            json_t *o = json_pack("{s:s, s:s, s:I, s:o}", "name", newname, "method", mname, "params",
                                  (json_int_t)lsc_adapter_params(out), "max_rel_error", lsc_json_num(worst));
            json_object_set_new(o, "layers", layers);
            lsc_json_print(ctx->out, o);
            json_decref(o);
        } else {
            const char *hdr[] = {"LAYER", "MODELS", "RANK", "REL ERROR"};
            lsc_table *t = lsc_table_new(4, hdr, "lrrr");
            for (size_t li = 0; t && li < out->n_layers; li++) {
                const char *name = out->layers[li].name;
                if (strncmp(name, "base_model.model.", 17) == 0)
                    name += 17;
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
    free(infos);
    free(used);
    for (int i = 0; i < n; i++)
        lsc_adapter_free(in[i]);
    lsc_adapter_free(out);
    return rc;
}
