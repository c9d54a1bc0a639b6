/* derive.c: see derive.h. */
#include "derive.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "baseinherit.h"
#include "catalog.h"
#include "hash.h"
#include "lycoris_layer.h"
#include "pool.h"

int lsc_derive_check_name(lsc_cmd_ctx *ctx, const char *name)
{
    char shown[512];
    if (lsc_name_check(name, &ctx->err))
        return LSC_EXIT_ERROR;
    int64_t id;
    lsc_error e;
    if (lsc_catalog_find(ctx->cat, name, &id, &e) == LSC_OK) {
        lsc_error_set(&ctx->err, LSC_ERR_EXISTS, "adapter '%s' already exists (choose another name with --as)",
                      lsc_escape_name(shown, sizeof shown, name));
        return LSC_EXIT_ERROR;
    }
    return LSC_EXIT_OK;
}

void lsc_derive_kind(lsc_adapter *ad)
{
    lsc_kind k = lsc_adapter_kind(ad);
    if (k != LSC_KIND_STATIC && k != LSC_KIND_LAYERWISE)
        return;
    int varies = 0;
    for (size_t i = 1; i < ad->n_layers; i++)
        if (ad->layers[i].rank != ad->layers[0].rank || ad->layers[i].alpha != ad->layers[0].alpha)
            varies = 1;
    lsc_adapter_set_kind(ad, varies ? LSC_KIND_LAYERWISE : LSC_KIND_STATIC, NULL); /* out of memory: kept */
}

int lsc_derive_store(lsc_cmd_ctx *ctx, lsc_adapter *ad, const int64_t *parents, size_t n_parents, int64_t *id)
{
    for (size_t i = 0; i < ad->n_tensors; i++)
        if (!ad->tensors[i].hash[0] && ad->tensors[i].data)
            lsc_hash_tensor(&ad->tensors[i]);
    if (lsc_catalog_put_adapter(ctx->cat, ad, parents, n_parents, id, &ctx->err) ||
        lsc_base_inherit(ctx, ad, *id, parents, n_parents)) /* the parents' recorded base holds for it too */
        return LSC_EXIT_ERROR;
    /* statistics for the layers this edit made (unchanged layers hit the cache); read back through the
     * catalog so that every tensor can be loaded */
    lsc_adapter *stored = NULL;
    if (lsc_catalog_get_adapter(ctx->cat, ad->name, &stored, &ctx->err))
        return LSC_EXIT_ERROR;
    int rc = LSC_EXIT_OK;
    lsc_layer_stats *all = calloc(stored->n_layers + 1, sizeof *all);
    if (!all) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        rc = LSC_EXIT_ERROR;
    } else if (lsc_layer_stats_all(ctx->cat, stored, NULL, 1, lsc_pool_default_threads(), NULL, all, &ctx->err))
        rc = LSC_EXIT_ERROR;
    for (size_t li = 0; all && li < stored->n_layers; li++)
        lsc_stats_release(&all[li]);
    free(all);
    lsc_adapter_free(stored);
    if (rc == LSC_EXIT_OK)
        lsc_cmd_wrote(ctx, *id);
    return rc;
}

int lsc_derive_stream_layer(lsc_cmd_ctx *ctx, lsc_adapter *dst, size_t li)
{
    if (!ctx->cat || !lsc_catalog_in_transaction(ctx->cat))
        return LSC_EXIT_OK;
    return lsc_catalog_put_layer_data(ctx->cat, dst, li, &ctx->err) ? LSC_EXIT_ERROR : LSC_EXIT_OK;
}

int lsc_derive_workers(void)
{
    int t = lsc_pool_default_threads();
    return t < 1 ? 1 : t;
}

typedef struct derive_window {
    lsc_adapter *dst;
    const size_t *dst_layer;
    size_t first;               /* item index of the window's slot 0 */
    const lsc_derive_ops *ops;
    void *octx;
    lsc_stats_runner *sr;       /* [workers]: each worker's workspace and decode buffers */
    lsc_layer_stats *st;        /* [window] */
    size_t *tix, *toff;         /* item i's layer's tensors: tix[toff[i] .. toff[i+1]); NULL: scan (serial) */
    lsc_stats_runner *xs;       /* [workers]: only .b/.a, the statistics' decode buffers for LyCORIS views */
} derive_window;

/* The tensors of each item's layer, in one pass over the adapter (a scan per layer would make an edit of
 * L layers O(L^2)): w->tix / w->toff, or both NULL when out of memory (derive_one then scans). */
static void index_tensors(derive_window *w, size_t n)
{
    lsc_adapter *ad = w->dst;
    size_t *item_of = malloc((ad->n_layers + 1) * sizeof *item_of);
    w->toff = calloc(n + 2, sizeof *w->toff);
    if (!item_of || !w->toff) {
        free(item_of);
        free(w->toff);
        w->toff = NULL;
        return;
    }
    for (size_t li = 0; li < ad->n_layers; li++)
        item_of[li] = SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        item_of[w->dst_layer[i]] = i;
    for (size_t t = 0; t < ad->n_tensors; t++)
        if (ad->tensors[t].layer >= 0 && item_of[ad->tensors[t].layer] != SIZE_MAX)
            w->toff[item_of[ad->tensors[t].layer] + 2]++;
    for (size_t i = 2; i < n + 2; i++)
        w->toff[i] += w->toff[i - 1];
    w->tix = malloc((w->toff[n + 1] + 1) * sizeof *w->tix);
    for (size_t t = 0; w->tix && t < ad->n_tensors; t++)
        if (ad->tensors[t].layer >= 0 && item_of[ad->tensors[t].layer] != SIZE_MAX)
            w->tix[w->toff[item_of[ad->tensors[t].layer] + 1]++] = t;
    if (!w->tix) {
        free(w->toff);
        w->toff = NULL;
    }
    free(item_of);
}

/* One item on a worker: the command's compute, then the new layer's hashes and statistics (from the
 * bytes just written, as a read back through the catalog would see them). */
static lsc_status derive_one(void *vctx, size_t slot, int worker, lsc_error *err)
{
    derive_window *w = vctx;
    size_t item = w->first + slot, li = w->dst_layer[item];
    lsc_status st = w->ops->compute(w->octx, item, worker, &w->sr[worker], err);
    if (st)
        return st;
    if (w->toff) {
        for (size_t k = w->toff[item]; k < w->toff[item + 1]; k++)
            if (w->dst->tensors[w->tix[k]].data && !w->dst->tensors[w->tix[k]].hash[0])
                lsc_hash_tensor(&w->dst->tensors[w->tix[k]]);
    } else {
        for (size_t i = 0; i < w->dst->n_tensors; i++)
            if (w->dst->tensors[i].layer == (int)li && w->dst->tensors[i].data && !w->dst->tensors[i].hash[0])
                lsc_hash_tensor(&w->dst->tensors[i]);
    }
    lsc_stats_runner *sr = &w->sr[worker], *xs = &w->xs[worker];
    lsc_lowrank lr;
    /* packed into sr->b (the per-worker peak at 70B shapes), so sr->a is free for the command's own use */
    st = lsc_derive_factors(w->dst, li, &sr->b, &sr->bcap, &xs->b, &xs->bcap, &xs->a, &xs->acap, &lr, err);
    if (!st)
        st = lsc_stats_compute(&lr, sr->ws, &w->st[slot], err);
    if (st)
        lsc_error_prefix(err, "layer '%s'", w->dst->layers[li].name);
    return st;
}

/* In item order: drop the inputs, cache the statistics, stream the layer. */
static int derive_flush(lsc_cmd_ctx *ctx, derive_window *w, size_t m, int ok)
{
    int rc = LSC_EXIT_OK;
    for (size_t j = 0; j < m; j++) {
        size_t item = w->first + j, li = w->dst_layer[item];
        if (w->ops->unload)
            w->ops->unload(w->octx, item);
        if (ok && !rc && ctx->cat && lsc_catalog_in_transaction(ctx->cat)) {
            char key[LSC_HASH_HEX];
            lsc_catalog_stats_key(w->dst, li, key);
            if (lsc_catalog_put_stats(ctx->cat, key, &w->st[j], &ctx->err) ||
                (w->toff ? lsc_catalog_put_tensors(ctx->cat, w->dst, w->tix + w->toff[item],
                                                   w->toff[item + 1] - w->toff[item], &ctx->err) != LSC_OK
                         : lsc_derive_stream_layer(ctx, w->dst, li) != LSC_EXIT_OK))
                rc = LSC_EXIT_ERROR;
        }
        lsc_stats_release(&w->st[j]);
    }
    return rc;
}

int lsc_derive_layers(lsc_cmd_ctx *ctx, lsc_adapter *dst, const size_t *dst_layer, size_t n, const lsc_derive_ops *ops,
                      void *octx)
{
    const int workers = lsc_derive_workers();
    const size_t window = (size_t)workers * 2;
    int rc = LSC_EXIT_OK;
    derive_window w = {dst, dst_layer, 0, ops, octx, calloc((size_t)workers, sizeof(lsc_stats_runner)),
                       calloc(window, sizeof(lsc_layer_stats)), NULL, NULL,
                       calloc((size_t)workers, sizeof(lsc_stats_runner))};
    int inited = 0;
    /* A LyCORIS layer's new factors are appended to dst's tensor list (lsc_adapter_set_factors through
     * lsc_lycoris_layer_set_plain), which the other workers read: such edits (small image-model adapters)
     * run their items on one thread. Same bytes either way. */
    int serial = 0;
    for (size_t i = 0; i < n && !serial; i++)
        serial = (dst->layers[dst_layer[i]].flags & LSC_LAYER_LYCORIS) != 0;
    if (!serial) /* a LyCORIS edit appends tensors as it goes: it scans instead */
        index_tensors(&w, n);
    if (!w.sr || !w.st || !w.xs)
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    for (; !rc && inited < workers; inited++)
        if (lsc_stats_runner_init(&w.sr[inited], &ctx->err))
            rc = lsc_fail(ctx, &ctx->err);
    for (size_t first = 0; !rc && first < n; first += window) {
        size_t m = n - first < window ? n - first : window, loaded = 0;
        w.first = first;
        for (; !rc && loaded < m; loaded++)
            if (ops->load && ops->load(octx, first + loaded, &ctx->err))
                rc = LSC_EXIT_ERROR;
        if (!rc && lsc_pool_for(m, serial ? 1 : workers, derive_one, &w, &ctx->err))
            rc = LSC_EXIT_ERROR;
        int frc = derive_flush(ctx, &w, loaded, !rc);
        if (!rc)
            rc = frc;
        if (!rc && ctx->cancel && *ctx->cancel) {
            lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "%s cancelled: nothing written", ops->command);
            rc = LSC_EXIT_ERROR;
        }
    }
    for (int i = 0; i < inited; i++)
        lsc_stats_runner_release(&w.sr[i]);
    for (int i = 0; w.xs && i < workers; i++) {
        free(w.xs[i].b);
        free(w.xs[i].a);
    }
    free(w.xs);
    free(w.sr);
    free(w.st);
    free(w.tix);
    free(w.toff);
    return rc;
}

static size_t tensor_numel(const lsc_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

lsc_status lsc_derive_factors(lsc_adapter *ad, size_t li, double **buf, size_t *cap, double **b, size_t *bcap,
                              double **a, size_t *acap, lsc_lowrank *out, lsc_error *err)
{
    const lsc_layer *l = li < ad->n_layers ? &ad->layers[li] : NULL;
    /* LyCORIS views and embeddings (transposed through both buffers) take the general path, which also
     * reports whatever is wrong with the layer */
    if (!l || (l->flags & (LSC_LAYER_LYCORIS | LSC_LAYER_EMBEDDING)) || l->ta < 0 || l->tb < 0)
        return lsc_adapter_factors(ad, li, b, bcap, a, acap, out, err);
    /* lsc_adapter_factors needs exactly numel(B) and numel(A) doubles for a plain layer (or fails before
     * touching the buffers); with both capacities given exactly it never reallocates them */
    const size_t nb = tensor_numel(&ad->tensors[l->tb]), na = tensor_numel(&ad->tensors[l->ta]);
    lsc_status st = lsc_grow_doubles(buf, cap, nb + na, err);
    if (st)
        return st;
    double *pb = *buf, *pa = *buf + nb;
    size_t cb = nb, ca = na;
    st = lsc_adapter_factors(ad, li, &pb, &cb, &pa, &ca, out, err);
    assert(pb == *buf && pa == *buf + nb); /* never reallocated (see above) */
    return st;
}

int lsc_derive_begin(lsc_cmd_ctx *ctx, const char *src_name, const char *as, const char *suffix, lsc_adapter **src,
                     int64_t *src_id, lsc_adapter **dst, char *newname, size_t cap)
{
    *src = *dst = NULL;
    if (as)
        snprintf(newname, cap, "%s", as);
    else
        snprintf(newname, cap, "%s-%s", src_name, suffix);
    if (lsc_cmd_load(ctx, src_name, src, src_id))
        return LSC_EXIT_ERROR;
    int rc = lsc_derive_check_name(ctx, newname);
    if (!rc && !(*dst = lsc_adapter_clone_meta(*src)))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    if (rc) {
        lsc_adapter_free(*src);
        *src = NULL;
    }
    return rc;
}

int lsc_derive_cancelled(lsc_cmd_ctx *ctx, const char *newname)
{
    if (!(ctx->cancel && *ctx->cancel))
        return 0;
    char nm[512];
    lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "cancelled: nothing written ('%s' was not made)",
                  lsc_escape_name(nm, sizeof nm, newname));
    return 1;
}

int lsc_derive_finish(lsc_cmd_ctx *ctx, lsc_adapter *src, int64_t src_id, lsc_adapter *dst, const char *newname,
                      int keep_kind)
{
    if (lsc_derive_cancelled(ctx, newname)) {
        lsc_adapter_free(src);
        lsc_adapter_free(dst);
        return LSC_EXIT_ERROR;
    }
    free(dst->name);
    dst->name = strdup(newname);
    if (!keep_kind)
        lsc_derive_kind(dst);
    int64_t id = 0;
    int rc = lsc_derive_store(ctx, dst, &src_id, 1, &id);
    lsc_adapter_free(src);
    lsc_adapter_free(dst);
    return rc;
}
