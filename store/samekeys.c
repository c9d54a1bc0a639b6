/* store/samekeys.c: an adapter written back under its own tensor keys (see samekeys.h).
 * Depends on store/safetensors, store/format_util, engine/ types and jansson; never SQLite or curses. */
#include "samekeys.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format_util.h"
#include "safetensors.h"

lsc_status lsc_samekeys_write_verbatim(lsc_adapter *ad, const char *path, lsc_error *err)
{
    lsc_st_writer *w = NULL;
    lsc_status st = lsc_st_writer_begin_verbatim(path, ad->header_json, strlen(ad->header_json), &w, err);
    for (size_t i = 0; !st && i < ad->n_tensors; i++) {
        lsc_tensor *t = &ad->tensors[i];
        int was = t->data != NULL;
        if ((st = lsc_adapter_load_tensor(ad, i, err)) || (st = lsc_st_writer_put(w, t->data, t->nbytes, err)))
            break;
        if (!was)
            lsc_adapter_unload_tensor(ad, i);
    }
    if (st) {
        lsc_st_writer_abort(w);
        return st;
    }
    return lsc_st_writer_finish(w, err);
}

lsc_status lsc_samekeys_metadata(const char *json_text, void **holder, const char ***keys, const char ***vals,
                                 size_t *n, lsc_error *err)
{
    json_error_t je;
    json_t *o = json_text ? json_loads(json_text, JSON_REJECT_DUPLICATES, &je) : json_object();
    *holder = NULL;
    *keys = *vals = NULL;
    *n = 0;
    if (!json_is_object(o)) {
        json_decref(o);
        return lsc_error_set(err, LSC_ERR_INVALID, "adapter metadata is not a JSON object");
    }
    lsc_status st = lsc_st_meta_arrays(o, 0, keys, vals, n, err);
    if (st) {
        json_decref(o);
        return st;
    }
    *holder = o;
    return LSC_OK;
}

/* The buffers one write reuses from tensor to tensor. */
typedef struct sk_bufs {
    double *dbl;
    unsigned char *conv;
    int warned;
} sk_bufs;

/* Tensor i's bytes: copied, converted to `to`, or (mult != 1) scaled and written in `to`. */
static lsc_status put_tensor(lsc_adapter *ad, lsc_st_writer *w, size_t i, lsc_dtype to, double mult, sk_bufs *b,
                             const char *path, lsc_error *err)
{
    lsc_tensor *t = &ad->tensors[i];
    int was = t->data != NULL;
    lsc_status st = lsc_adapter_load_tensor(ad, i, err);
    if (st)
        return st;
    if (to == t->dtype && mult == 1.0) {
        st = lsc_st_writer_put(w, t->data, t->nbytes, err);
    } else {
        size_t n = t->nbytes / lsc_dtype_size(t->dtype);
        double *d = realloc(b->dbl, (n ? n : 1) * sizeof *d);
        unsigned char *c = d ? realloc(b->conv, (n ? n : 1) * lsc_dtype_size(to)) : NULL;
        if (d)
            b->dbl = d;
        if (c)
            b->conv = c;
        if (!d || !c)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory writing tensor '%s'", t->key);
        if (lsc_dtype_to_double(t->dtype, t->data, n, b->dbl) != LSC_OK)
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, t->key, "unsupported dtype %s",
                                   lsc_dtype_name(t->dtype));
        for (size_t k = 0; k < n; k++)
            b->dbl[k] *= mult;
        lsc_narrowing loss;
        if (lsc_dtype_from_double_loss(to, b->dbl, n, b->conv, &loss) != LSC_OK)
            return lsc_format_fail(err, LSC_ERR_INVALID, path, t->key, "cannot write as %s", lsc_dtype_name(to));
        if (loss.overflows)
            return lsc_format_fail(err, LSC_ERR_NUMERIC, path, t->key, "%zu values overflow %s", loss.overflows,
                                   lsc_dtype_name(to));
        lsc_format_warn_loss(ad, &b->warned, t->key, &loss, n, to);
        st = lsc_st_writer_put(w, b->conv, n * lsc_dtype_size(to), err);
    }
    if (!st && !was)
        lsc_adapter_unload_tensor(ad, i);
    return st;
}

/* The dtype tensor i is written in. */
static lsc_dtype out_dtype(const lsc_tensor *t, lsc_dtype dtype, const double *scalar, size_t i)
{
    if (scalar && !isnan(scalar[i]))
        return LSC_DT_F32;
    return dtype != LSC_DT_INVALID && lsc_dtype_is_float(t->dtype) ? dtype : t->dtype;
}

lsc_status lsc_samekeys_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, const double *b_mult,
                              const double *scalar, const char *const *mk, const char *const *mv, size_t nm,
                              lsc_error *err)
{
    lsc_st_out *so = calloc(ad->n_tensors + 1, sizeof *so);
    lsc_dtype *dts = calloc(ad->n_tensors + 1, sizeof *dts);
    lsc_st_writer *w = NULL;
    sk_bufs b = {NULL, NULL, 0};
    lsc_status st = LSC_OK;
    if (!so || !dts) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ad->n_tensors; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        dts[i] = out_dtype(t, dtype, scalar, i);
        so[i] = (lsc_st_out){t->key, dts[i], t->ndim, t->shape};
    }
    if ((st = lsc_st_writer_begin(path, so, ad->n_tensors, mk, mv, nm, &w, err)))
        goto done;
    for (size_t i = 0; i < ad->n_tensors && !st; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        if (scalar && !isnan(scalar[i])) {
            float f = (float)scalar[i];
            if (!isfinite(f)) {
                st = lsc_format_fail(err, LSC_ERR_NUMERIC, path, t->key, "value %g overflows F32", scalar[i]);
                break;
            }
            unsigned char le[4];
            uint32_t u;
            memcpy(&u, &f, 4);
            for (int k = 0; k < 4; k++)
                le[k] = (unsigned char)(u >> (8 * k));
            st = lsc_st_writer_put(w, le, 4, err);
            continue;
        }
        double mult = 1.0;
        if (b_mult && t->role == LSC_ROLE_B && t->layer >= 0)
            mult = b_mult[t->layer];
        st = put_tensor(ad, w, i, dts[i], mult, &b, path, err);
    }
    if (st)
        goto done;
    lsc_format_warn_loss_total(ad, b.warned);
    st = lsc_st_writer_finish(w, err);
    w = NULL;
done:
    lsc_st_writer_abort(w);
    free(so);
    free(dts);
    free(b.dbl);
    free(b.conv);
    return st;
}

lsc_status lsc_samekeys_write_json(lsc_adapter *ad, const char *path, lsc_dtype dtype, const double *b_mult,
                                   const double *scalar, const char *meta_json, lsc_error *err)
{
    void *holder = NULL;
    const char **mk = NULL, **mv = NULL;
    size_t nm = 0;
    lsc_status st = lsc_samekeys_metadata(meta_json, &holder, &mk, &mv, &nm, err);
    if (!st)
        st = lsc_samekeys_write(ad, path, dtype, b_mult, scalar, mk, mv, nm, err);
    json_decref((json_t *)holder);
    free(mk);
    free(mv);
    return st;
}
