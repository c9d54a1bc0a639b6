/* series_figs.c: see series_figs.h. One layer at a time over every checkpoint: the statistics through
 * lsc_layer_stats_get (the cache `show` reads, so the figures are the very ones `show` prints) and the
 * factors of every checkpoint, read on the calling thread (SQLite stays there); then each checkpoint's
 * factored SVD (lsc_spectrum) on the pool, one item per checkpoint in its own buffers, so the figures are
 * the same bytes whatever the thread count; then phi against the previous and the final checkpoint from
 * those SVDs (lsc_compare_subspace, the computation of lsc_compare's subspace_in), each SVD made once. */
#include "series_figs.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "compare.h"
#include "layername.h"
#include "pool.h"
#include "spectrum.h"

int lsc_is_series(const char *kind)
{
    return lsc_kind_parse(kind) == LSC_KIND_SERIES;
}

int lsc_series_totals(lsc_cmd_ctx *ctx, int64_t id, int64_t *layers, int64_t *params, int64_t *bytes, json_t **members)
{
    lsc_series_entry *e = NULL;
    size_t n = 0;
    *layers = *params = *bytes = 0;
    if (lsc_catalog_get_series(ctx->cat, id, &e, &n, &ctx->err))
        return LSC_EXIT_ERROR;
    *members = json_array();
    int rc = LSC_EXIT_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        lsc_adapter *m = NULL;
        if (lsc_catalog_get_adapter_by_id(ctx->cat, e[i].member_id, &m, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        if (i + 1 == n)
            *layers = (int64_t)m->n_layers;
        *params += lsc_adapter_params(m);
        *bytes += lsc_adapter_bytes(m);
        json_array_append_new(*members, json_pack("{s:I, s:s, s:s}", "step", (json_int_t)e[i].step, "label", e[i].label,
                                                  "adapter", e[i].member));
        lsc_adapter_free(m);
    }
    lsc_series_entries_free(e, n);
    return rc;
}

void lsc_series_figs_release(lsc_series_figs *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->layers && i < f->n_layers; i++)
        free(f->layers[i]);
    free(f->layers);
    lsc_series_entries_free(f->steps, f->n_steps);
    free(f->layout);
    free(f->norm);
    free(f->sigma1);
    free(f->erank);
    free(f->k90);
    free(f->sim_prev);
    free(f->sim_final);
    memset(f, 0, sizeof *f);
}

/* One checkpoint's factors of one layer, with the buffers they live in. */
typedef struct factors {
    double *b, *a;
    size_t bc, ac;
    lsc_lowrank lr;
    int ok;       /* loaded and finite */
    double *sv;   /* [n] singular values of B A (unscaled), descending */
    double *v;    /* [cols, n] its right (input-side) singular vectors */
    size_t svc, vc;
    int n;
} factors;

static void unload_layer(lsc_adapter *ad, size_t li)
{
    const lsc_layer *l = &ad->layers[li];
    int ts[4] = {l->ta, l->tb, l->te, l->tm};
    for (int k = 0; k < 4; k++)
        if (ts[k] >= 0)
            lsc_adapter_unload_tensor(ad, (size_t)ts[k]);
}

static int finite_factors(const lsc_lowrank *v)
{
    size_t nb = (size_t)(v->rows * v->r), na = (size_t)(v->r * v->cols);
    for (size_t k = 0; k < nb; k++)
        if (!isfinite(v->B[k]))
            return 0;
    for (size_t k = 0; k < na; k++)
        if (!isfinite(v->A[k]))
            return 0;
    return isfinite(v->scale);
}

static lsc_status load_factors(lsc_adapter *ad, size_t li, factors *f, lsc_error *err)
{
    lsc_status st = lsc_adapter_factors(ad, li, &f->b, &f->bc, &f->a, &f->ac, &f->lr, err);
    f->ok = !st && finite_factors(&f->lr);
    return st;
}

/* The factored SVD of f's layer (lsc_spectrum; unscaled, as lsc_compare takes it, so no scale overflows),
 * right vectors kept: each checkpoint's SVD is computed once and compared with two others. */
static lsc_status layer_svd(factors *f, lsc_workspace *ws, lsc_error *err)
{
    f->n = 0;
    if (!f->ok)
        return LSC_OK;
    lsc_lowrank u = f->lr;
    u.scale = 1.0;
    int n = lsc_spectrum_count(&u);
    size_t nv = (size_t)n * (size_t)u.cols + 1;
    if ((size_t)n + 1 > f->svc) {
        free(f->sv);
        f->svc = 0;
        if (!(f->sv = malloc(((size_t)n + 1) * sizeof *f->sv)))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        f->svc = (size_t)n + 1;
    }
    if (nv > f->vc) {
        free(f->v);
        f->vc = 0;
        if (!(f->v = malloc(nv * sizeof *f->v)))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        f->vc = nv;
    }
    lsc_status st = n > 0 ? lsc_spectrum(&u, ws, f->sv, NULL, f->v, err) : LSC_OK;
    if (!st)
        f->n = n;
    return st;
}

/* phi (input side) of x against y from their SVDs; NaN when either holds NaN/Inf. */
static double similarity(const factors *x, const factors *y, double *scratch)
{
    if (!x->ok || !y->ok)
        return NAN;
    return lsc_compare_subspace(x->sv, x->v, x->n, y->sv, y->v, y->n, (int)x->lr.cols, scratch);
}

/* What one computation holds; lsc_series_figs_compute owns and releases it. */
typedef struct run {
    lsc_cmd_ctx *ctx;
    lsc_series_figs *F;
    lsc_adapter **ads;        /* [n_steps] */
    int *idx;                 /* [n_steps] the layer's index in each member */
    factors *f;               /* [n_steps] one layer's factors in every checkpoint (buffers reused) */
    lsc_stats_runner sr;
    lsc_workspace **ws;       /* [threads] one per pool worker */
    int threads;
} run;

/* Pool item j: the SVD of checkpoint j's layer (its own buffers). */
static lsc_status svd_step(void *ctx, size_t j, int worker, lsc_error *err)
{
    run *R = ctx;
    lsc_status st = layer_svd(&R->f[j], R->ws[worker], err);
    if (st)
        lsc_error_prefix(err, "checkpoint '%s'", R->F->steps[j].member);
    return st;
}

/* The similarities of every checkpoint of layer i to the previous and to the final one. */
static lsc_status similarities(run *R, size_t i, lsc_error *err)
{
    size_t S = R->F->n_steps;
    int nmax = 1;
    for (size_t j = 0; j < S; j++)
        nmax = R->f[j].n > nmax ? R->f[j].n : nmax;
    double *scratch = malloc((size_t)nmax * (size_t)nmax * sizeof *scratch);
    if (!scratch)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < S; j++) {
        R->F->sim_prev[i * S + j] = j > 0 ? similarity(&R->f[j], &R->f[j - 1], scratch) : NAN;
        R->F->sim_final[i * S + j] = similarity(&R->f[j], &R->f[S - 1], scratch);
    }
    free(scratch);
    return LSC_OK;
}

/* Every figure of output layer i (key) at every step: the statistics and the factors are read on this
 * thread (the catalog stays on one thread), the comparisons run on the pool. */
static int one_layer(run *R, size_t i, const char *key)
{
    lsc_cmd_ctx *ctx = R->ctx;
    lsc_series_figs *F = R->F;
    size_t S = F->n_steps;
    char shown[512];
    for (size_t j = 0; j < S; j++) {
        R->idx[j] = lsc_adapter_find_layer(R->ads[j], key);
        if (R->idx[j] < 0) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "series checkpoint '%s' has no layer '%s' (the final checkpoint has it)",
                          F->steps[j].member, lsc_escape_name(shown, sizeof shown, key));
            return LSC_EXIT_ERROR;
        }
    }
    lsc_status st = LSC_OK;
    for (size_t j = 0; j < S && !st; j++) {
        size_t li = (size_t)R->idx[j], at = i * S + j;
        lsc_layer_stats ls;
        memset(&ls, 0, sizeof ls);
        st = lsc_layer_stats_get(&R->sr, ctx->cat, R->ads[j], li, 0, &ls, &ctx->err);
        if (st)
            break;
        F->norm[at] = ls.fro;
        F->sigma1[at] = ls.spectral;
        F->erank[at] = ls.effective_rank;
        F->k90[at] = ls.energy_rank_90;
        lsc_stats_release(&ls);
        st = load_factors(R->ads[j], li, &R->f[j], &ctx->err);
        unload_layer(R->ads[j], li);
    }
    if (!st) /* the SVDs on the pool, one item per checkpoint; then the small products */
        st = lsc_pool_for(S, R->threads, svd_step, R, &ctx->err);
    if (!st)
        st = similarities(R, i, &ctx->err);
    if (st) {
        lsc_error_prefix(&ctx->err, "layer '%s'", lsc_escape_name(shown, sizeof shown, key));
        return LSC_EXIT_ERROR;
    }
    return LSC_EXIT_OK;
}

/* The output layers: the final checkpoint's, natural order, matching glob. */
static int pick_layers(lsc_cmd_ctx *ctx, lsc_series_figs *F, lsc_adapter *fin, const char *glob)
{
    size_t *order = lsc_layername_order(fin);
    F->layers = calloc(fin->n_layers + 1, sizeof *F->layers);
    if (!order || !F->layers) {
        free(order);
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    }
    for (size_t k = 0; k < fin->n_layers; k++) {
        const char *key = fin->layers[order[k]].name;
        if (lsc_name_matches(glob, key) && !(F->layers[F->n_layers++] = strdup(key))) {
            free(order);
            return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
        }
    }
    free(order);
    if (F->n_layers == 0 && glob && *glob) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "no layer of '%s' matches '%s'", fin->name ? fin->name : "?", glob);
        return LSC_EXIT_ERROR;
    }
    return LSC_EXIT_OK;
}

static int alloc_figures(lsc_cmd_ctx *ctx, lsc_series_figs *F)
{
    size_t n = F->n_layers * F->n_steps + 1;
    F->norm = calloc(n, sizeof *F->norm);
    F->sigma1 = calloc(n, sizeof *F->sigma1);
    F->erank = calloc(n, sizeof *F->erank);
    F->k90 = calloc(n, sizeof *F->k90);
    F->sim_prev = calloc(n, sizeof *F->sim_prev);
    F->sim_final = calloc(n, sizeof *F->sim_final);
    if (!F->norm || !F->sigma1 || !F->erank || !F->k90 || !F->sim_prev || !F->sim_final)
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    return LSC_EXIT_OK;
}

/* The layout recorded with the series ("trainer", "kohya"). */
static char *series_layout(lsc_cmd_ctx *ctx, int64_t id)
{
    lsc_adapter *s = NULL;
    lsc_error e;
    const char *v = NULL;
    json_t *o = NULL;
    if (lsc_catalog_get_adapter_by_id(ctx->cat, id, &s, &e) == LSC_OK && s->metadata_json)
        o = json_loads(s->metadata_json, 0, NULL);
    v = json_string_value(json_object_get(o, "layout"));
    char *r = strdup(v ? v : "");
    json_decref(o);
    lsc_adapter_free(s);
    return r;
}

static void release_run(run *R)
{
    size_t S = R->F->n_steps;
    for (size_t j = 0; R->ads && j < S; j++)
        lsc_adapter_free(R->ads[j]);
    for (size_t j = 0; R->f && j < S; j++) {
        free(R->f[j].b);
        free(R->f[j].a);
        free(R->f[j].sv);
        free(R->f[j].v);
    }
    for (int t = 0; R->ws && t < R->threads; t++)
        lsc_workspace_free(R->ws[t]);
    free(R->ads);
    free(R->idx);
    free(R->f);
    free(R->ws);
}

int lsc_series_figs_compute(lsc_cmd_ctx *ctx, int64_t id, const char *glob, lsc_series_figs *out)
{
    memset(out, 0, sizeof *out);
    run R;
    memset(&R, 0, sizeof R);
    R.ctx = ctx;
    R.F = out;
    int rc = LSC_EXIT_OK;
    if (lsc_catalog_get_series(ctx->cat, id, &out->steps, &out->n_steps, &ctx->err))
        return LSC_EXIT_ERROR;
    if (out->n_steps == 0) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "not a series (no checkpoints recorded)");
        return LSC_EXIT_ERROR;
    }
    out->layout = series_layout(ctx, id);
    R.threads = lsc_pool_default_threads();
    R.ads = calloc(out->n_steps + 1, sizeof *R.ads);
    R.idx = calloc(out->n_steps + 1, sizeof *R.idx);
    R.f = calloc(out->n_steps + 1, sizeof *R.f);
    R.ws = calloc((size_t)R.threads, sizeof *R.ws);
    int ok = R.ads && R.idx && R.f && R.ws && out->layout;
    for (int t = 0; ok && t < R.threads; t++)
        ok = (R.ws[t] = lsc_workspace_new()) != NULL;
    if (!ok || lsc_stats_runner_init(&R.sr, &ctx->err)) {
        release_run(&R);
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    }
    for (size_t j = 0; j < out->n_steps && !rc; j++) {
        if (lsc_catalog_get_adapter_by_id(ctx->cat, out->steps[j].member_id, &R.ads[j], &ctx->err))
            rc = LSC_EXIT_ERROR;
        else
            lsc_cmd_read(ctx, out->steps[j].member_id);
    }
    if (!rc)
        rc = pick_layers(ctx, out, R.ads[out->n_steps - 1], glob);
    if (!rc)
        rc = alloc_figures(ctx, out);
    for (size_t i = 0; i < out->n_layers && !rc; i++) {
        if (lsc_cmd_cancelled(ctx, "series"))
            rc = LSC_EXIT_ERROR;
        else
            rc = one_layer(&R, i, out->layers[i]);
    }
    lsc_stats_runner_release(&R.sr);
    release_run(&R);
    return rc;
}
