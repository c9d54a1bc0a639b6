/* baseinherit.c: see baseinherit.h. */
#include "baseinherit.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "common.h"
#include "modkey.h"

typedef struct parent_base {
    char *path;         /* NULL: no base recorded */
    lsc_base_rec *recs;
    size_t n;
    char **keys;        /* canonical key of each record's layer, made on first need */
} parent_base;

static void parent_release(parent_base *p)
{
    free(p->path);
    lsc_base_rec_free_array(p->recs, p->n);
    for (size_t i = 0; p->keys && i < p->n; i++)
        free(p->keys[i]);
    free(p->keys);
}

/* The record of p for the layer `layer` of the derived adapter: the same name, else the one record whose
 * layer has the same module identity. NULL when none (or two) fit, or out of memory. */
static const lsc_base_rec *rec_for(parent_base *p, const char *layer)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->recs[i].layer, layer) == 0)
            return &p->recs[i];
    char key[LSC_MODKEY_MAX], k2[LSC_MODKEY_MAX];
    if (lsc_modkey_canonical(layer, key, sizeof key) != 0)
        return NULL;
    if (!p->keys) {
        if (!(p->keys = calloc(p->n ? p->n : 1, sizeof *p->keys)))
            return NULL;
        for (size_t i = 0; i < p->n; i++)
            if (lsc_modkey_canonical(p->recs[i].layer, k2, sizeof k2) == 0)
                p->keys[i] = strdup(k2);
    }
    const lsc_base_rec *found = NULL;
    for (size_t i = 0; i < p->n; i++)
        if (p->keys[i] && strcmp(p->keys[i], key) == 0) {
            if (found)
                return NULL;
            found = &p->recs[i];
        }
    return found;
}

static int same_rec(const lsc_base_rec *a, const lsc_base_rec *b)
{
    return strcmp(a->tensor, b->tensor) == 0 && strcmp(a->dtype, b->dtype) == 0 && strcmp(a->shape, b->shape) == 0 &&
           strcmp(a->hash, b->hash) == 0;
}

/* The rows for ad's layers from the parents' records (all of one path); why[] says what stops it. */
static lsc_status build_recs(const lsc_adapter *ad, parent_base *pb, size_t n, lsc_base_rec *out, char *why,
                             size_t cap, lsc_error *err)
{
    char esc[512];
    for (size_t li = 0; li < ad->n_layers && !why[0]; li++) {
        const lsc_base_rec *r = NULL;
        for (size_t p = 0; p < n && !why[0]; p++) {
            const lsc_base_rec *q = rec_for(&pb[p], ad->layers[li].name);
            if (q && r && !same_rec(q, r))
                snprintf(why, cap, "its parents record different base tensors for layer '%s'",
                         lsc_escape_name(esc, sizeof esc, ad->layers[li].name));
            else if (q && !r)
                r = q;
        }
        if (!r && !why[0])
            snprintf(why, cap, "layer '%s' comes from no layer with a recorded base",
                     lsc_escape_name(esc, sizeof esc, ad->layers[li].name));
        if (why[0])
            break;
        out[li].layer = strdup(ad->layers[li].name);
        out[li].tensor = strdup(r->tensor);
        out[li].dtype = strdup(r->dtype);
        out[li].shape = strdup(r->shape);
        out[li].hash = strdup(r->hash);
        if (!out[li].layer || !out[li].tensor || !out[li].dtype || !out[li].shape || !out[li].hash)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    return LSC_OK;
}

lsc_status lsc_base_inherit(lsc_cmd_ctx *ctx, const lsc_adapter *ad, int64_t id, const int64_t *parents,
                            size_t n_parents)
{
    parent_base *pb = calloc(n_parents ? n_parents : 1, sizeof *pb);
    lsc_base_rec *recs = calloc(ad->n_layers ? ad->n_layers : 1, sizeof *recs);
    lsc_status st = pb && recs ? LSC_OK : lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
    size_t with = 0;
    const char *path = NULL;
    char why[1024] = "", esc[512], pe1[512], pe2[512];
    for (size_t p = 0; p < n_parents && !st; p++) {
        st = lsc_catalog_get_base(ctx->cat, parents[p], &pb[p].path, &pb[p].recs, &pb[p].n, &ctx->err);
        if (st || !pb[p].path)
            continue;
        with++;
        if (!path)
            path = pb[p].path;
        else if (strcmp(path, pb[p].path) != 0 && !why[0])
            snprintf(why, sizeof why, "its parents record different bases ('%s', '%s')",
                     lsc_escape_name(pe1, sizeof pe1, path), lsc_escape_name(pe2, sizeof pe2, pb[p].path));
    }
    if (!st && with > 0 && with < n_parents && !why[0])
        snprintf(why, sizeof why, "%zu of its %zu parents record no base", n_parents - with, n_parents);
    if (!st && with > 0 && !why[0])
        st = build_recs(ad, pb, n_parents, recs, why, sizeof why, &ctx->err);
    if (!st && with > 0 && !why[0])
        st = lsc_catalog_set_base(ctx->cat, id, path, recs, ad->n_layers, &ctx->err);
    else if (!st && why[0])
        lsc_out(ctx->diag, "note: '%s' records no base: %s (run: lorascope base %s PATH)\n",
                lsc_escape_name(esc, sizeof esc, ad->name), why, esc);
    lsc_base_rec_free_array(recs, ad->n_layers);
    for (size_t p = 0; pb && p < n_parents; p++)
        parent_release(&pb[p]);
    free(pb);
    return st;
}
