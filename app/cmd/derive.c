/* derive.c: see derive.h. */
#include "derive.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "hash.h"

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
    if (lsc_catalog_put_adapter(ctx->cat, ad, parents, n_parents, id, &ctx->err))
        return LSC_EXIT_ERROR;
    /* statistics for the layers this edit made (unchanged layers hit the cache); read back through the
     * catalog so that every tensor can be loaded */
    lsc_adapter *stored = NULL;
    lsc_stats_runner sr;
    if (lsc_catalog_get_adapter(ctx->cat, ad->name, &stored, &ctx->err))
        return LSC_EXIT_ERROR;
    if (lsc_stats_runner_init(&sr, &ctx->err)) {
        lsc_adapter_free(stored);
        return LSC_EXIT_ERROR;
    }
    int rc = LSC_EXIT_OK;
    for (size_t li = 0; li < stored->n_layers && rc == LSC_EXIT_OK; li++) {
        lsc_layer_stats st;
        memset(&st, 0, sizeof st);
        if (lsc_layer_stats_get(&sr, ctx->cat, stored, li, 1, &st, &ctx->err))
            rc = LSC_EXIT_ERROR;
        lsc_stats_release(&st);
    }
    lsc_stats_runner_release(&sr);
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

int lsc_derive_finish(lsc_cmd_ctx *ctx, lsc_adapter *src, int64_t src_id, lsc_adapter *dst, const char *newname,
                      int keep_kind)
{
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
