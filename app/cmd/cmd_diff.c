/* cmd_diff.c: `lorascope diff A B [--layers GLOB] [--json]`: per-layer comparison of two adapters from
 * their factors (cosine, relative difference, subspace similarity on both sides), layers matched by
 * stored key, else by module identity across formats (store/modkey.h: a GGUF or kohya adapter against
 * the PEFT one it came from), plus a whole-adapter summary. Layers are listed in natural order. Adapters
 * of different base models, or a layer whose shapes disagree, are an error naming them. With --base-names
 * or --arch, kohya names pair by the module path the base model's names give them (store/basenames.h). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "basenames.h"
#include "common.h"
#include "figure.h"
#include "compare.h"
#include "derive.h"
#include "pool.h"
#include "layername.h"
#include "modkey.h"
#include "handlers.h"
#include "numfmt.h"
#include "table.h"

typedef struct bufs {
    double *b, *a, *p; /* p: packed B and A (lsc_derive_factors) */
    size_t bcap, acap, pcap;
} bufs;

static void unload(lsc_adapter *ad, size_t li)
{
    int ts[LSC_LAYER_INPUTS_MAX];
    lsc_adapter_layer_inputs(ad, li, ts);
    for (int i = 0; i < LSC_LAYER_INPUTS_MAX; i++)
        if (ts[i] >= 0)
            lsc_adapter_unload_tensor(ad, (size_t)ts[i]);
}

/* The whole-adapter sums (inner products, squared norms and differences over the layers), kept relative
 * to the largest norm seen on each side so that norms near the top of the double range (lora_alpha 1e308)
 * do not overflow when squared; rescaled when a larger one arrives. */
typedef struct totals {
    double ref1, ref2;          /* largest norm1, norm2 so far */
    double s1, s2, inner, diff; /* sum (n1/ref1)^2, (n2/ref2)^2, inner/(ref1 ref2), (d/ref1)^2 */
} totals;

static void totals_add(totals *t, const lsc_compare_result *res)
{
    if (res->norm1 > t->ref1) {
        double f = t->ref1 / res->norm1;
        t->s1 *= f * f;
        t->diff *= f * f;
        t->inner *= f;
        t->ref1 = res->norm1;
    }
    if (res->norm2 > t->ref2) {
        double f = t->ref2 / res->norm2;
        t->s2 *= f * f;
        t->inner *= f;
        t->ref2 = res->norm2;
    }
    double a = t->ref1 > 0 ? res->norm1 / t->ref1 : 0.0, b = t->ref2 > 0 ? res->norm2 / t->ref2 : 0.0;
    double d = t->ref1 > 0 ? res->diff_norm / t->ref1 : 0.0;
    t->s1 += a * a;
    t->s2 += b * b;
    t->inner += res->cosine * a * b; /* inner / (ref1 ref2), without forming the inner product */
    t->diff += d * d;
}

/* Every matched pair's comparison, over the worker pool a window at a time: tensors are read in order in
 * this thread, compared in parallel (each worker its own workspace and decode buffers; each pair writes
 * only its own result), then dropped. Each adapter's orthonormal bases are computed once per layer here
 * and used for every figure of it (phi on both sides, angles, the difference). */
typedef struct diff_worker {
    lsc_workspace *ws;
    bufs bx, by;
} diff_worker;

typedef struct diff_job {
    lsc_adapter *x, *y;
    const size_t *pi, *pj; /* pair -> layer of x, of y */
    size_t first;
    lsc_compare_result *res;
    diff_worker *w;
} diff_job;

static lsc_status diff_one(void *vctx, size_t slot, int worker, lsc_error *err)
{
    diff_job *d = vctx;
    diff_worker *w = &d->w[worker];
    size_t p = d->first + slot;
    lsc_lowrank lr1, lr2;
    lsc_status st = lsc_derive_factors(d->x, d->pi[p], &w->bx.p, &w->bx.pcap, &w->bx.b, &w->bx.bcap, &w->bx.a,
                                       &w->bx.acap, &lr1, err);
    if (!st)
        st = lsc_derive_factors(d->y, d->pj[p], &w->by.p, &w->by.pcap, &w->by.b, &w->by.bcap, &w->by.a, &w->by.acap,
                                &lr2, err);
    if (!st)
        st = lsc_compare(&lr1, &lr2, w->ws, &d->res[p], err);
    if (st) {
        char nm[512];
        lsc_error_prefix(err, "layer '%s'", lsc_escape_name(nm, sizeof nm, d->x->layers[d->pi[p]].name));
    }
    return st;
}

static lsc_status load_layer(lsc_adapter *ad, size_t li, lsc_error *err)
{
    int ts[LSC_LAYER_INPUTS_MAX]; /* LyCORIS factors too: the workers never call the loader */
    lsc_adapter_layer_inputs(ad, li, ts);
    for (int i = 0; i < LSC_LAYER_INPUTS_MAX; i++)
        if (ts[i] >= 0 && lsc_adapter_load_tensor(ad, (size_t)ts[i], err))
            return err->code ? err->code : LSC_ERR_IO;
    return LSC_OK;
}

/* The next window's tensors, read by a helper thread while the workers compare the current one: reading
 * and hash-checking 3 GB of 70B-shaped factors in the main thread between windows left both cores idle
 * for seconds. Only the loader writes tensors (their .data, for tensors not loaded: the current window's
 * are, so nothing a worker reads is written), and only this thread uses the catalog meanwhile. Its errors
 * are dropped: the main thread loads the window again (a no-op for what is there) and reports them. */
typedef struct prefetch {
    lsc_adapter *x, *y;
    const size_t *pi, *pj;
    size_t from, to;
} prefetch;

static void *prefetch_run(void *v)
{
    prefetch *f = v;
    lsc_error err = {0};
    for (size_t p = f->from; p < f->to; p++)
        if (load_layer(f->x, f->pi[p], &err) || load_layer(f->y, f->pj[p], &err))
            break;
    return NULL;
}

static int diff_compute(lsc_cmd_ctx *ctx, lsc_adapter *x, lsc_adapter *y, const size_t *pi, const size_t *pj, size_t n,
                        lsc_compare_result *res)
{
    const int workers = lsc_pool_default_threads() < 1 ? 1 : lsc_pool_default_threads();
    const size_t window = 2 * (size_t)workers;
    diff_job d = {x, y, pi, pj, 0, res, calloc((size_t)workers, sizeof(diff_worker))};
    int rc = d.w ? LSC_EXIT_OK : lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    for (int k = 0; !rc && k < workers; k++)
        if (!(d.w[k].ws = lsc_workspace_new()))
            rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    for (size_t first = 0; !rc && first < n; first += window) {
        size_t m = n - first < window ? n - first : window;
        if (lsc_cmd_cancelled(ctx, "diff")) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        d.first = first;
        for (size_t p = first; !rc && p < first + m; p++)
            if (load_layer(x, pi[p], &ctx->err) || load_layer(y, pj[p], &ctx->err))
                rc = LSC_EXIT_ERROR;
        /* with one worker, one thread: no prefetch */
        prefetch f = {x, y, pi, pj, first + m, first + m + window < n ? first + m + window : n};
        pthread_t th;
        const int fetching = !rc && workers > 1 && f.from < f.to && pthread_create(&th, NULL, prefetch_run, &f) == 0;
        if (!rc && lsc_pool_for(m, workers, diff_one, &d, &ctx->err))
            rc = LSC_EXIT_ERROR;
        if (fetching)
            pthread_join(th, NULL);
        for (size_t p = first; p < first + m; p++) {
            unload(x, pi[p]);
            unload(y, pj[p]);
        }
        for (size_t p = f.from; rc && fetching && p < f.to; p++) {
            unload(x, pi[p]);
            unload(y, pj[p]);
        }
    }
    for (int k = 0; d.w && k < workers; k++) {
        lsc_workspace_free(d.w[k].ws);
        free(d.w[k].bx.a);
        free(d.w[k].bx.b);
        free(d.w[k].by.a);
        free(d.w[k].by.b);
        free(d.w[k].bx.p);
        free(d.w[k].by.p);
    }
    free(d.w);
    return rc;
}

typedef struct diff_args {
    lsc_args base;
    const char *a, *b, *glob, *base_names, *arch, *svg;
    int json;
} diff_args;

static const char *const diff_archs[] = {"sd15", "sd2", "sdxl", "llama", NULL};

static const lsc_opt diff_opts[] = {
    {.metavar = "A", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(diff_args, a)},
    {.metavar = "B", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(diff_args, b)},
    {.name = "layers", .type = LSC_OPT_GLOB, .metavar = "GLOB", .at = offsetof(diff_args, glob),
     .help = "only layers whose name matches"},
    {.name = "base-names", .type = LSC_OPT_PATH, .metavar = "PATH", .at = offsetof(diff_args, base_names),
     .help = "pair kohya layers by the module paths a base model's names give them: a base\n"
             ".safetensors, a model.safetensors.index.json or a text list of module names"},
    {.name = "arch", .type = LSC_OPT_CHOICE, .metavar = "A", .choices = diff_archs, .text_at = offsetof(diff_args, arch),
     .help = "the same with a built-in name table: sd15, sd2, sdxl or llama"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(diff_args, json),
     .help = "{a, b, layers[{name, key, key_b, cosine, rel_diff, subspace_in, subspace_out}], only_in_a, only_in_b, "
             "summary{compared, matched_across_formats, cosine, rel_diff}}"},
    {.name = "svg", .type = LSC_OPT_PATH, .metavar = "FILE", .at = offsetof(diff_args, svg),
     .help = "also draw each layer's cosine and subspace similarities as an SVG figure"},
    {0}};

/* --svg: each layer's similarities, drawn from the --json layer objects. */
static int draw_figure(lsc_cmd_ctx *ctx, const char *path, const char *a, const char *b, json_t *layers)
{
    json_t *o = json_pack("{s:s, s:s, s:O}", "a", a, "b", b, "layers", layers);
    lsc_sink fig;
    lsc_sink_init_mem(&fig);
    lsc_figure_diff(&fig, o);
    int rc = lsc_figure_write(ctx, path, &fig);
    lsc_sink_release(&fig);
    json_decref(o);
    return rc;
}

static int diff_run(lsc_cmd_ctx *ctx, void *args)
{
    const diff_args *av = args;
    int json = ctx->json || av->json;
    const char *glob = av->glob;
    lsc_adapter *x = NULL, *y = NULL;
    if (lsc_cmd_load(ctx, av->a, &x, NULL))
        return LSC_EXIT_ERROR;
    if (lsc_cmd_load(ctx, av->b, &y, NULL)) {
        lsc_adapter_free(x);
        return LSC_EXIT_ERROR;
    }
    int rc = LSC_EXIT_OK;
    if (x->base_model && y->base_model && *x->base_model && *y->base_model && strcmp(x->base_model, y->base_model)) {
        char e[4][256];
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' and '%s' adapt different base models ('%s' and '%s')",
                      lsc_escape_name(e[0], sizeof e[0], x->name), lsc_escape_name(e[1], sizeof e[1], y->name),
                      lsc_escape_name(e[2], sizeof e[2], x->base_model), lsc_escape_name(e[3], sizeof e[3], y->base_model));
        lsc_adapter_free(x);
        lsc_adapter_free(y);
        return LSC_EXIT_ERROR;
    }
    json_t *jl = json_array(), *only_a = json_array(), *only_b = json_array();
    const char *hdr[] = {"LAYER", "COSINE", "REL DIFF", "φ IN", "φ OUT", "NORM A", "NORM B"};
    lsc_table *t = json ? NULL : lsc_table_new(7, hdr, "lrrrrrr");
    totals tot = {0};
    int compared = 0, across = 0;
    char nm[512], c1[64], c2[64], c3[64], c4[64], c5[64], c6[64];
    char *taken = NULL;
    lsc_basenames *bn = NULL;
    if ((av->base_names && lsc_basenames_load(av->base_names, &bn, &ctx->err)) ||
        (av->arch && lsc_basenames_builtin(av->arch, &bn, &ctx->err))) {
        lsc_table_free(t);
        json_decref(jl);
        json_decref(only_a);
        json_decref(only_b);
        lsc_adapter_free(x);
        lsc_adapter_free(y);
        return LSC_EXIT_ERROR;
    }
    int *jof = lsc_modkey_match_names(x, y, bn, &taken);
    lsc_basenames_free(bn);
    size_t *order = lsc_layername_order(x), *order_b = lsc_layername_order(y);
    if (!jof || !order || !order_b) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        rc = LSC_EXIT_ERROR;
    }
    /* the pairs, in the order they are listed, computed first (in parallel), then reported in order */
    size_t *pi = malloc((x->n_layers + 1) * sizeof *pi), *pj = malloc((x->n_layers + 1) * sizeof *pj), np = 0;
    lsc_compare_result *results = calloc(x->n_layers + 1, sizeof *results);
    if (!rc && (!pi || !pj || !results))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    for (size_t oi = 0; rc == LSC_EXIT_OK && oi < x->n_layers; oi++)
        if (lsc_name_matches(glob, x->layers[order[oi]].name) && jof[order[oi]] >= 0) {
            pi[np] = order[oi];
            pj[np++] = (size_t)jof[order[oi]];
        }
    if (!rc)
        rc = diff_compute(ctx, x, y, pi, pj, np, results);
    size_t pk = 0;
    for (size_t oi = 0; rc == LSC_EXIT_OK && oi < x->n_layers; oi++) {
        size_t i = order[oi];
        const lsc_layer *lx = &x->layers[i];
        if (!lsc_name_matches(glob, lx->name))
            continue;
        int j = jof[i];
        if (j < 0) {
            json_array_append_new(only_a, json_string(lsc_layername_display(lx->name)));
            continue;
        }
        int moved = strcmp(lx->name, y->layers[j].name) != 0;
        across += moved;
        const lsc_compare_result res = results[pk++];
        compared++;
        totals_add(&tot, &res);
        if (json || av->svg) {
            json_t *o = lsc_json_layer_name(json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "name", lx->name, "cosine",
                                                      lsc_json_num(res.cosine), "rel_diff", lsc_json_num(res.rel_diff),
                                                      "subspace_in", lsc_json_num(res.subspace_in), "subspace_out",
                                                      lsc_json_num(res.subspace_out), "norm_a", lsc_json_num(res.norm1),
                                                      "norm_b", lsc_json_num(res.norm2)),
                                            lx->name);
            if (moved)
                json_object_set_new(o, "key_b", json_string(y->layers[j].name));
            json_array_append_new(jl, o);
        }
        if (t) {
            const char *sn = lsc_layername_display(lx->name);
            const char *cells[7] = {lsc_escape_name(nm, sizeof nm, sn), lsc_fmt_num(c1, sizeof c1, "%.6f", res.cosine),
                                    lsc_fmt_num(c2, sizeof c2, "%.4g", res.rel_diff),
                                    lsc_fmt_num(c3, sizeof c3, "%.4f", res.subspace_in),
                                    lsc_fmt_num(c4, sizeof c4, "%.4f", res.subspace_out),
                                    lsc_fmt(c5, sizeof c5, "%.4g", res.norm1), lsc_fmt(c6, sizeof c6, "%.4g", res.norm2)};
            lsc_table_add(t, cells);
        }
    }
    for (size_t oj = 0; rc == LSC_EXIT_OK && oj < y->n_layers; oj++) {
        size_t j = order_b[oj];
        if (lsc_name_matches(glob, y->layers[j].name) && !taken[j])
            json_array_append_new(only_b, json_string(lsc_layername_display(y->layers[j].name)));
    }
    /* nothing to compare (no layer in common, or a side that is zero throughout): n/a, null in JSON, never
     * a perfect score */
    double cos_all = (tot.s1 > 0 && tot.s2 > 0) ? tot.inner / sqrt(tot.s1) / sqrt(tot.s2) : NAN;
    double rel_all = tot.s1 > 0 ? sqrt(tot.diff / tot.s1) : (tot.s2 > 0 ? 1.0 : NAN);
    if (rc == LSC_EXIT_OK && av->svg)
        rc = draw_figure(ctx, av->svg, x->name, y->name, jl);
    if (rc == LSC_EXIT_OK) {
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o}", "a", x->name, "b", y->name, "layers", json_incref(jl),
                                  "only_in_a", json_incref(only_a), "only_in_b", json_incref(only_b));
            json_object_set_new(o, "summary",
                                json_pack("{s:i, s:i, s:o, s:o}", "compared", compared, "matched_across_formats",
                                          across, "cosine", lsc_json_num(cos_all), "rel_diff", lsc_json_num(rel_all)));
            lsc_json_print(ctx->out, o);
            json_decref(o);
        } else {
            if (t)
                lsc_table_print(t, ctx->out);
            lsc_out(ctx->out, "\n%d layer(s) compared: whole-adapter cosine %s, relative difference %s\n", compared,
                    lsc_fmt_num(c1, sizeof c1, "%.6f", cos_all), lsc_fmt_num(c2, sizeof c2, "%.4g", rel_all));
            if (across)
                lsc_out(ctx->out, "%d of them matched across formats (the same module under another name in '%s')\n",
                        across, lsc_escape_name(nm, sizeof nm, y->name));
            size_t na = json_array_size(only_a), nb = json_array_size(only_b);
            char n2[512];
            if (na)
                lsc_out(ctx->out, "%zu layer(s) only in '%s' (first: %s)\n", na, lsc_escape_name(nm, sizeof nm, x->name),
                        lsc_escape_name(n2, sizeof n2, json_string_value(json_array_get(only_a, 0))));
            if (nb)
                lsc_out(ctx->out, "%zu layer(s) only in '%s' (first: %s)\n", nb, lsc_escape_name(nm, sizeof nm, y->name),
                        lsc_escape_name(n2, sizeof n2, json_string_value(json_array_get(only_b, 0))));
        }
    }
    lsc_table_free(t);
    free(jof);
    free(taken);
    free(order);
    free(order_b);
    json_decref(jl);
    json_decref(only_a);
    json_decref(only_b);
    free(pi);
    free(pj);
    free(results);
    lsc_adapter_free(x);
    lsc_adapter_free(y);
    return rc;
}

static int diff_validate(lsc_cmd_ctx *ctx, void *args)
{
    const diff_args *av = args;
    if (av->base_names && av->arch)
        return lsc_usage_error(ctx, "diff", "--base-names and --arch exclude each other");
    return LSC_EXIT_OK;
}

const lsc_cmd_spec lsc_spec_diff = {diff_opts, sizeof(diff_args), diff_validate, diff_run, ""};
