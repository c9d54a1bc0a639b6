/* basework.c: see basework.h. */
#include "basework.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "basemap.h"
#include "format_util.h"
#include "hash.h"
#include "pool.h"

/* One worker's buffers for the figures of one layer at a time (lsc_basework_figures_all). */
typedef struct lsc_basework_scratch {
    unsigned char *raw;
    size_t raw_cap;
    float *f, *ft;      /* the weight as floats [rows, cols] and a transpose buffer */
    size_t f_cap;
    double *d, *dt;     /* the weight as doubles (bases that are not F32/F16/BF16) */
    size_t d_cap;
    double *bbuf, *abuf;
    size_t bcap, acap;
    lsc_workspace *ws;
    lsc_hash_stream *hs; /* the --norms path's running content hash */
} lsc_basework_scratch;

static void scratch_release(lsc_basework_scratch *s)
{
    free(s->raw), free(s->f), free(s->ft), free(s->d), free(s->dt), free(s->bbuf), free(s->abuf);
    lsc_workspace_free(s->ws);
    lsc_hash_stream_free(s->hs);
    memset(s, 0, sizeof *s);
}

void lsc_basework_release(lsc_basework *bw)
{
    if (!bw)
        return;
    lsc_base_close(bw->b);
    free(bw->path);
    free(bw->tensor_of);
    free(bw->transposed);
    for (size_t i = 0; bw->hash_of && i < bw->n_layers; i++)
        free(bw->hash_of[i]);
    free(bw->hash_of);
    free(bw->raw);
    free(bw->W);
    free(bw->T);
    if (bw->fs)
        scratch_release(bw->fs);
    free(bw->fs);
    if (bw->cache_mu_ok)
        pthread_mutex_destroy(&bw->cache_mu);
    memset(bw, 0, sizeof *bw);
}

/* Does base tensor t hold layer l's weight? 1 as is, 2 transposed ([in, out], fan_in_fan_out), 0 no. */
static int fits(const lsc_layer *l, const lsc_base_tensor *t)
{
    if ((l->flags & LSC_LAYER_FAN_IN_FAN_OUT) && t->ndim == 2 && t->shape[0] == l->cols && t->shape[1] == l->rows)
        return 2;
    return t->ndim >= 1 && t->shape[0] == l->rows && lsc_base_numel(t) == l->rows * l->cols ? 1 : 0;
}

static void shape_text(const lsc_base_tensor *t, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, d ? ",%lld" : "%lld", (long long)t->shape[d]);
}

/* llama.cpp permutes the rows of q/k weights in a GGUF base; an adapter from another format has them in
 * the original order, so its delta does not line up with those rows. */
static int gguf_qk_mismatch(const lsc_basework *bw, const lsc_adapter *ad, const char *tensor)
{
    return bw->b->kind == LSC_BASE_GGUF && (!ad->format || strcmp(ad->format, "gguf") != 0) &&
           (strstr(tensor, ".attn_q.") || strstr(tensor, ".attn_k."));
}

lsc_status lsc_basework_resolve(lsc_basework *bw, lsc_adapter *ad, const char *path, lsc_error *err)
{
    memset(bw, 0, sizeof *bw);
    lsc_status st = lsc_base_open(path, &bw->b, err);
    if (st)
        return st;
    size_t n = ad->n_layers ? ad->n_layers : 1;
    bw->n_layers = ad->n_layers;
    bw->path = strdup(path);
    bw->tensor_of = malloc(n * sizeof *bw->tensor_of);
    bw->transposed = calloc(n, sizeof *bw->transposed);
    bw->hash_of = calloc(n, sizeof *bw->hash_of);
    if (!bw->path || !bw->tensor_of || !bw->transposed || !bw->hash_of)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    char name[512], esc[LSC_FORMAT_ESC_CAP], sh[128];
    for (size_t li = 0; li < ad->n_layers; li++) {
        const lsc_layer *l = &ad->layers[li];
        if (lsc_base_tensor_name(bw->b, l->name, name, sizeof name) != 0)
            return lsc_format_fail(err, LSC_ERR_NOTFOUND, path, NULL, "no base tensor for layer '%s'",
                                   lsc_escape_name(esc, sizeof esc, l->name));
        long ti = lsc_base_find(bw->b, name);
        const lsc_base_tensor *t = &bw->b->tensors[ti];
        int f = fits(l, t);
        shape_text(t, sh, sizeof sh);
        if (!f)
            return lsc_format_fail(err, LSC_ERR_INVALID, bw->b->files[t->file].path, name,
                                   "shape [%s] does not match layer '%s' (%lldx%lld)", sh,
                                   lsc_escape_name(esc, sizeof esc, l->name), (long long)l->rows, (long long)l->cols);
        if (gguf_qk_mismatch(bw, ad, name))
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, name,
                                   "llama.cpp permutes q/k rows in GGUF; attach the safetensors base for this adapter");
        bw->tensor_of[li] = ti;
        bw->transposed[li] = f == 2;
    }
    return LSC_OK;
}

static lsc_status grow(lsc_basework *bw, const lsc_base_tensor *t, lsc_error *err)
{
    if (t->nbytes > bw->raw_cap) {
        free(bw->raw);
        if (!(bw->raw = malloc((size_t)t->nbytes)))
            return bw->raw_cap = 0, lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (tensor '%s')", t->name);
        bw->raw_cap = (size_t)t->nbytes;
    }
    size_t n = (size_t)lsc_base_numel(t);
    if (n > bw->w_cap) {
        free(bw->W);
        free(bw->T);
        bw->T = NULL;
        if (!(bw->W = malloc(n * sizeof(double))))
            return bw->w_cap = 0, lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (tensor '%s')", t->name);
        bw->w_cap = n;
    }
    return LSC_OK;
}

lsc_status lsc_basework_records(lsc_basework *bw, lsc_adapter *ad, lsc_base_rec **recs, size_t *n, lsc_error *err)
{
    *recs = calloc(ad->n_layers ? ad->n_layers : 1, sizeof **recs);
    *n = 0;
    if (!*recs)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_status st = LSC_OK;
    for (size_t li = 0; li < ad->n_layers && !st; li++) {
        const lsc_base_tensor *t = &bw->b->tensors[bw->tensor_of[li]];
        char hash[LSC_HASH_HEX], sh[128], dt[32];
        if ((st = grow(bw, t, err)) || (st = lsc_base_hash(bw->b, (size_t)bw->tensor_of[li], bw->raw, hash, err)))
            break;
        shape_text(t, sh, sizeof sh);
        lsc_base_rec *r = &(*recs)[(*n)++];
        r->layer = strdup(ad->layers[li].name);
        r->tensor = strdup(t->name);
        r->dtype = strdup(lsc_base_dtype_name(t, dt, sizeof dt));
        r->shape = strdup(sh);
        r->hash = strdup(hash);
        if (!r->layer || !r->tensor || !r->dtype || !r->shape || !r->hash)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    return st;
}

/* Each recorded layer must resolve to the same tensor with the same dtype and shape as recorded. */
static lsc_status match_records(lsc_basework *bw, lsc_adapter *ad, lsc_base_rec *recs, size_t n, lsc_error *err)
{
    char sh[128], dt[32], esc[LSC_FORMAT_ESC_CAP];
    for (size_t i = 0; i < n; i++) {
        int li = lsc_adapter_find_layer(ad, recs[i].layer);
        if (li < 0)
            continue; /* a layer the adapter no longer has */
        const lsc_base_tensor *t = &bw->b->tensors[bw->tensor_of[li]];
        shape_text(t, sh, sizeof sh);
        if (strcmp(t->name, recs[i].tensor) != 0 || strcmp(sh, recs[i].shape) != 0 ||
            strcmp(lsc_base_dtype_name(t, dt, sizeof dt), recs[i].dtype) != 0)
            return lsc_format_fail(err, LSC_ERR_INVALID, bw->b->files[t->file].path, t->name,
                                   "the base changed since it was recorded for layer '%s' (was '%s' %s [%s]); run "
                                   "`lorascope base` again",
                                   lsc_escape_name(esc, sizeof esc, recs[i].layer), recs[i].tensor, recs[i].dtype,
                                   recs[i].shape);
        bw->hash_of[li] = recs[i].hash;
    }
    for (size_t li = 0; li < ad->n_layers; li++)
        if (!bw->hash_of[li])
            return lsc_error_set(err, LSC_ERR_NOTFOUND, "no base recorded for layer '%s' (run: lorascope base again)",
                                 lsc_escape_name(esc, sizeof esc, ad->layers[li].name));
    return LSC_OK;
}

lsc_status lsc_basework_open(lsc_basework *bw, lsc_catalog *cat, lsc_adapter *ad, int64_t id, lsc_error *err)
{
    char *path = NULL, esc[LSC_FORMAT_ESC_CAP];
    lsc_base_rec *recs = NULL;
    size_t n = 0;
    memset(bw, 0, sizeof *bw);
    lsc_status st = lsc_catalog_get_base(cat, id, &path, &recs, &n, err);
    if (!st && !path)
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "no base recorded for '%s' (run: lorascope base NAME PATH)",
                           lsc_escape_name(esc, sizeof esc, ad->name));
    if (!st && !(st = lsc_basework_resolve(bw, ad, path, err)))
        st = match_records(bw, ad, recs, n, err);
    if (!st && !pthread_mutex_init(&bw->cache_mu, NULL))
        bw->cat = cat, bw->cache_mu_ok = 1;
    /* keep the hashes alive: move them out of the records */
    for (size_t i = 0; i < n; i++) {
        int li = lsc_adapter_find_layer(ad, recs[i].layer);
        if (li >= 0 && bw->hash_of && bw->hash_of[li] == recs[i].hash)
            recs[i].hash = NULL; /* now owned through bw->hash_of */
    }
    lsc_base_rec_free_array(recs, n);
    free(path);
    return st;
}

/* Layer li's base tensor hashed to h: LSC_OK when it is what `lorascope base` recorded (or nothing was). */
static lsc_status check_hash(const lsc_basework *bw, size_t li, const char h[LSC_HASH_HEX], lsc_error *err)
{
    const lsc_base_tensor *t = &bw->b->tensors[bw->tensor_of[li]];
    if (bw->hash_of[li] && strcmp(h, bw->hash_of[li]) != 0)
        return lsc_format_fail(err, LSC_ERR_INVALID, bw->b->files[t->file].path, t->name,
                               "changed on disk since `lorascope base` recorded it (content hash differs)");
    return LSC_OK;
}

lsc_status lsc_basework_verify_raw(lsc_basework *bw, size_t li, const void *raw, lsc_error *err)
{
    const lsc_base_tensor *t = &bw->b->tensors[bw->tensor_of[li]];
    if (bw->hash_of[li]) {
        char h[LSC_HASH_HEX];
        lsc_hash_bytes(raw, (size_t)t->nbytes, h);
        return check_hash(bw, li, h, err);
    }
    return LSC_OK;
}

lsc_status lsc_basework_from_raw(lsc_basework *bw, lsc_adapter *ad, size_t li, const void *raw, double **W,
                                 lsc_error *err)
{
    size_t ti = (size_t)bw->tensor_of[li];
    const lsc_base_tensor *t = &bw->b->tensors[ti];
    lsc_status st = grow(bw, t, err);
    if (st || (st = lsc_basework_verify_raw(bw, li, raw, err)))
        return st;
    if (t->dtype == LSC_DT_INVALID) { /* Q8_0: lsc_base_read_doubles dequantises from its own read */
        if (raw != bw->raw)
            memcpy(bw->raw, raw, (size_t)t->nbytes);
        if ((st = lsc_base_read_doubles(bw->b, ti, bw->raw, bw->W, err)))
            return st;
    } else if (lsc_dtype_to_double(t->dtype, raw, (size_t)lsc_base_numel(t), bw->W))
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, bw->b->files[t->file].path, t->name, "unsupported dtype %s",
                               lsc_dtype_name(t->dtype));
    if (bw->transposed[li]) { /* stored [in, out]: the layer's orientation is [out, in] */
        const lsc_layer *l = &ad->layers[li];
        if (!bw->T && !(bw->T = malloc(bw->w_cap * sizeof(double))))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < l->cols; i++)
            for (int64_t j = 0; j < l->rows; j++)
                bw->T[j * l->cols + i] = bw->W[i * l->rows + j];
        double *x = bw->W;
        bw->W = bw->T;
        bw->T = x;
    }
    *W = bw->W;
    return LSC_OK;
}

lsc_status lsc_basework_weight(lsc_basework *bw, lsc_adapter *ad, size_t li, const double **W, lsc_error *err)
{
    size_t ti = (size_t)bw->tensor_of[li];
    double *w;
    lsc_status st = grow(bw, &bw->b->tensors[ti], err);
    if (st || (st = lsc_base_read_raw(bw->b, ti, bw->raw, err)) || (st = lsc_basework_from_raw(bw, ad, li, bw->raw, &w, err)))
        return st;
    *W = w;
    return LSC_OK;
}

static int ensure(void **p, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return 0;
    free(*p);
    *cap = 0;
    if (!(*p = malloc(n * size)))
        return -1;
    *cap = n;
    return 0;
}

/* One layer's sketch slot: the key it is cached under ("" when not cached) and, after the figures,
 * the sketch when it was made fresh there (to be stored by the caller). */
typedef struct sketch_slot {
    char key[LSC_HASH_HEX];
    lsc_basefig_sketch sk;
    int fresh;
    const char *base_hash; /* the recorded content hash the key covers (bw's, lives as long as bw) */
} sketch_slot;

/* The cache key of layer li's sketch: everything it depends on. The recorded content hash and dtype
 * name the values; the orientation (a fan_in_fan_out base is transposed) and the float or double path
 * how they are used; l, the power iterations and the seed the range finder. Version 2: a float W's
 * W^T Q comes from lsc_wtx64 (version 1: widened blocks through dgemm). lsc_wtx64 gives the same bits
 * in every variant (AVX-512, AVX2, portable: wtx64.h), so the CPU is not part of the key. */
static void sketch_key(const lsc_basework *bw, size_t li, const lsc_base_tensor *t, int fl, const lsc_lowrank *lr,
                       const lsc_basefig_opts *o, sketch_slot *slot)
{
    int l, power;
    uint64_t seed;
    char rec[512], dt[32];
    lsc_basefig_sketch_params(lr, o, &l, &power, &seed);
    int n = snprintf(rec, sizeof rec, "basefig-sketch 3|%s|%s|%c%c|%lld|%lld|%d|%d|%llu", bw->hash_of[li],
                     lsc_base_dtype_name(t, dt, sizeof dt), bw->transposed[li] ? 'T' : 'N', fl ? 'f' : 'd',
                     (long long)lr->rows, (long long)lr->cols, l, power, (unsigned long long)seed);
    lsc_hash_bytes(rec, (size_t)n, slot->key);
    slot->base_hash = bw->hash_of[li];
    slot->sk.rows = lr->rows, slot->sk.cols = lr->cols, slot->sk.l = l, slot->sk.power = power, slot->sk.seed = seed;
}

/* A cached sketch into slot->sk when there is one (any failure is a miss). */
static void sketch_lookup(lsc_basework *bw, sketch_slot *slot)
{
    lsc_error e;
    int found = 0;
    double norm = 0, *Q = NULL, *WtQ = NULL;
    pthread_mutex_lock(&bw->cache_mu);
    lsc_status st = lsc_catalog_get_sketch(bw->cat, slot->key, slot->sk.rows, slot->sk.cols, slot->sk.l, &norm, &Q,
                                           &WtQ, &found, &e);
    pthread_mutex_unlock(&bw->cache_mu);
    if (!st && found && isfinite(norm) && norm >= 0) /* anything else is not a sketch we made: a miss */
        slot->sk.Q = Q, slot->sk.WtQ = WtQ, slot->sk.base_norm = norm;
    else
        free(Q), free(WtQ);
}

/* Store the fresh sketches of slots[0 .. n) in one transaction of their own; skipped on a read-only
 * catalog or inside a caller's transaction, and any failure only loses the cache rows. Releases them. */
static void sketch_store(lsc_basework *bw, sketch_slot *slots, size_t n)
{
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++)
        fresh += slots[i].fresh && slots[i].key[0];
    lsc_error e;
    if (fresh && bw->cat && !lsc_catalog_is_readonly(bw->cat) && !lsc_catalog_in_transaction(bw->cat) &&
        !lsc_catalog_begin(bw->cat, &e)) {
        lsc_status st = LSC_OK;
        for (size_t i = 0; i < n && !st; i++)
            if (slots[i].fresh && slots[i].key[0])
                st = lsc_catalog_put_sketch(bw->cat, slots[i].key, slots[i].sk.rows, slots[i].sk.cols, slots[i].sk.l,
                                            slots[i].sk.base_norm, slots[i].sk.Q, slots[i].sk.WtQ,
                                            slots[i].base_hash, &e);
        if (st || lsc_catalog_commit(bw->cat, &e))
            lsc_catalog_rollback(bw->cat);
    }
    for (size_t i = 0; i < n; i++) {
        lsc_basefig_sketch_release(&slots[i].sk);
        memset(&slots[i], 0, sizeof slots[i]);
    }
}

/* Layer li's figures with scratch s: read, check, decode (floats when exact), orient, compute. */
/* A float base's stored rows decoded to floats, a block at a time (lsc_basefig_rows_fn): the same values
 * decode_weight would give. */
typedef struct raw_rows {
    const unsigned char *raw;
    lsc_dtype dt;
    int64_t cols;
} raw_rows;

static void raw_rows_fn(void *ctx, int64_t i0, int nb, float *out)
{
    const raw_rows *r = ctx;
    size_t es = lsc_dtype_size(r->dt);
    lsc_dtype_to_float(r->dt, r->raw + (size_t)i0 * (size_t)r->cols * es, (size_t)nb * (size_t)r->cols, out);
}

/* Decode the verified raw bytes of layer li into s->f (floats, fl) or s->d and orient them. */
static lsc_status decode_weight(lsc_basework *bw, lsc_adapter *ad, size_t li, int fl, lsc_basework_scratch *s,
                                lsc_error *err)
{
    size_t ti = (size_t)bw->tensor_of[li];
    const lsc_base_tensor *t = &bw->b->tensors[ti];
    const lsc_layer *l = &ad->layers[li];
    lsc_status st;
    if (!fl && (st = lsc_base_read_doubles(bw->b, ti, s->raw, s->d, err)))
        return st;
    if (fl)
        lsc_dtype_to_float(t->dtype, s->raw, (size_t)lsc_base_numel(t), s->f);
    if (bw->transposed[li]) { /* stored [in, out]: the layer's orientation is [out, in] */
        if (fl ? !s->ft && !(s->ft = malloc(s->f_cap * sizeof(float))) : !s->dt && !(s->dt = malloc(s->d_cap * sizeof(double))))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < l->cols; i++)
            for (int64_t j = 0; j < l->rows; j++) {
                if (fl)
                    s->ft[j * l->cols + i] = s->f[i * l->rows + j];
                else
                    s->dt[j * l->cols + i] = s->d[i * l->rows + j];
            }
        if (fl) {
            float *x = s->f;
            s->f = s->ft, s->ft = x;
        } else {
            double *y = s->d;
            s->d = s->dt, s->dt = y;
        }
    }
    return LSC_OK;
}

enum {
    NORM_PART = 128 * 1024, /* bytes read at a time: stays in L2 until hashed and summed */
    NORM_SUB = 2048         /* entries hashed then summed at a time: their bytes stay in L1 for both */
};

/* --norms on a float base stored in the layer's orientation: one pass over the raw bytes, a part at a
 * time, each piece hashed (the check against the recorded hash) and summed into ||W||_F while it is in
 * cache: no buffer of the tensor, raw or decoded. lsc_basefig_norm is the sum the decoded path uses, in
 * the same order, so the figures are the same bits; errors (I/O, a changed base) as layer_figures'. */
static lsc_status stream_norms(lsc_basework *bw, lsc_adapter *ad, size_t li, const lsc_basefig_opts *o,
                               lsc_basework_scratch *s, lsc_basefig *out, lsc_error *err)
{
    size_t ti = (size_t)bw->tensor_of[li];
    const lsc_base_tensor *t = &bw->b->tensors[ti];
    size_t es = lsc_dtype_size(t->dtype), sub = NORM_SUB * es;
    if ((!s->ws && !(s->ws = lsc_workspace_new())) || (!s->hs && !(s->hs = lsc_hash_stream_new())) ||
        ensure((void **)&s->raw, &s->raw_cap, NORM_PART, 1))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (tensor '%s')", t->name);
    lsc_basefig_norm acc;
    lsc_basefig_norm_init(&acc);
    lsc_hash_stream_reset(s->hs);
    lsc_status st = LSC_OK;
    for (uint64_t off = 0; off < t->nbytes && !st; off += NORM_PART) {
        size_t m = t->nbytes - off < NORM_PART ? (size_t)(t->nbytes - off) : NORM_PART;
        if ((st = lsc_base_read_part(bw->b, ti, off, m, s->raw, err)))
            break;
        for (size_t k = 0; k < m && !st; k += sub) { /* NORM_PART is a multiple of sub: pieces of whole entries */
            size_t len = m - k < sub ? m - k : sub;
            lsc_hash_stream_update(s->hs, s->raw + k, len);
            st = lsc_basefig_norm_add_raw(&acc, t->dtype, s->raw + k, len / es);
        }
    }
    char h[LSC_HASH_HEX];
    lsc_hash_stream_digest(s->hs, h);
    if (!st)
        st = check_hash(bw, li, h, err);
    lsc_lowrank lr;
    if (!st)
        st = lsc_adapter_factors(ad, li, &s->bbuf, &s->bcap, &s->abuf, &s->acap, &lr, err);
    return st ? st : lsc_basefig_compute_norms(lsc_basefig_norm_finish(&acc), &lr, o, s->ws, out, err);
}

/* Layer li's figures with scratch s: read, check, look the sketch up, decode (floats when exact; row
 * blocks straight from the raw bytes when a cached sketch makes the range finder unnecessary), orient,
 * compute. */
static lsc_status layer_figures(lsc_basework *bw, lsc_adapter *ad, size_t li, const lsc_basefig_opts *o,
                                lsc_basework_scratch *s, sketch_slot *slot, lsc_basefig *out, lsc_error *err)
{
    size_t ti = (size_t)bw->tensor_of[li];
    const lsc_base_tensor *t = &bw->b->tensors[ti];
    size_t n = (size_t)lsc_base_numel(t);
    int fl = t->dtype == LSC_DT_F32 || t->dtype == LSC_DT_F16 || t->dtype == LSC_DT_BF16;
    if (o->norms_only && fl && !bw->transposed[li]) /* a transposed W sums in another order: decoded below */
        return stream_norms(bw, ad, li, o, s, out, err);
    lsc_lowrank lr;
    if ((!s->ws && !(s->ws = lsc_workspace_new())) || ensure((void **)&s->raw, &s->raw_cap, (size_t)t->nbytes, 1))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (tensor '%s')", t->name);
    lsc_status st = lsc_base_read_raw(bw->b, ti, s->raw, err);
    if (!st)
        st = lsc_basework_verify_raw(bw, li, s->raw, err);
    if (!st)
        st = lsc_adapter_factors(ad, li, &s->bbuf, &s->bcap, &s->abuf, &s->acap, &lr, err);
    if (st)
        return st;
    /* the raw bytes matched the recorded hash above: a sketch cached under it is this W's */
    if (bw->cat && bw->hash_of[li] && !o->norms_only) {
        sketch_key(bw, li, t, fl, &lr, o, slot);
        sketch_lookup(bw, slot);
        if (slot->sk.Q && fl && !bw->transposed[li]) {
            raw_rows rr = {s->raw, t->dtype, lr.cols};
            return lsc_basefig_compute_rows(raw_rows_fn, &rr, &lr, o, s->ws, &slot->sk, out, err);
        }
    }
    if ((fl && n > s->f_cap && (free(s->ft), s->ft = NULL, ensure((void **)&s->f, &s->f_cap, n, sizeof(float)))) ||
        (!fl && n > s->d_cap && (free(s->dt), s->dt = NULL, ensure((void **)&s->d, &s->d_cap, n, sizeof(double)))))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (tensor '%s')", t->name);
    if ((st = decode_weight(bw, ad, li, fl, s, err)))
        return st;
    return lsc_basefig_compute_sketched(fl ? NULL : s->d, fl ? s->f : NULL, &lr, o, s->ws, &slot->sk, &slot->fresh,
                                        out, err);
}

static void name_layer(lsc_adapter *ad, size_t li, lsc_error *err)
{
    if (err->msg[0] && !strstr(err->msg, "'")) {
        char esc[LSC_FORMAT_ESC_CAP];
        lsc_error_prefix(err, "layer '%s'", lsc_escape_name(esc, sizeof esc, ad->layers[li].name));
    }
}

lsc_status lsc_basework_figures(lsc_basework *bw, lsc_adapter *ad, size_t li, const lsc_basefig_opts *o,
                                lsc_workspace *ws, double **bbuf, size_t *bcap, double **abuf, size_t *acap,
                                lsc_basefig *out, lsc_error *err)
{
    (void)ws, (void)bbuf, (void)bcap, (void)abuf, (void)acap; /* the scratch lives in bw now */
    if (!bw->fs && !(bw->fs = calloc(1, sizeof *bw->fs)))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    sketch_slot slot = {0};
    lsc_status st = layer_figures(bw, ad, li, o, bw->fs, &slot, out, err);
    sketch_store(bw, &slot, st ? 0 : 1);
    lsc_basefig_sketch_release(&slot.sk);
    if (st)
        name_layer(ad, li, err);
    return st;
}

typedef struct figs_job {
    lsc_basework *bw;
    lsc_adapter *ad;
    const size_t *layers;
    const lsc_basefig_opts *o;
    lsc_basework_scratch *s; /* [threads] */
    sketch_slot *slots;      /* [items of the group] */
    lsc_basefig *out;
    size_t *order;           /* [items of the group]: the pool's item i is the group's layer order[i] */
} figs_job;

static lsc_status figs_item(void *ctx, size_t i, int worker, lsc_error *err)
{
    figs_job *j = ctx;
    size_t p = j->order[i];
    lsc_status st = layer_figures(j->bw, j->ad, j->layers[p], j->o, &j->s[worker], &j->slots[p], &j->out[p], err);
    if (st)
        name_layer(j->ad, j->layers[p], err);
    return st;
}

/* order[0 .. m) = 0 .. m-1 sorted by the layers' sizes, largest first (ties by position): the pool's
 * workers claim items in index order, so the big layers start first and the small ones fill the ends,
 * instead of a worker idling at the group's barrier while another finishes a big layer that came last
 * (longest-processing-time-first). The figures do not depend on the order (each layer its own slot). */
static void order_by_size(const lsc_adapter *ad, const size_t *layers, size_t m, size_t *order)
{
    for (size_t i = 0; i < m; i++) { /* insertion sort: a group is a few dozen layers */
        const lsc_layer *a = &ad->layers[layers[i]];
        size_t k = i;
        while (k > 0) {
            const lsc_layer *b = &ad->layers[layers[order[k - 1]]];
            if (b->rows * b->cols >= a->rows * a->cols)
                break;
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
}

lsc_status lsc_basework_figures_all(lsc_basework *bw, lsc_adapter *ad, const size_t *layers, size_t n,
                                    const lsc_basefig_opts *o, int threads, int (*cancel)(void *, size_t, size_t), void *cancel_ctx,
                                    lsc_basefig *out, lsc_error *err)
{
    if (threads < 1)
        threads = 1;
    /* a group ends with a barrier (the sketches are stored, the progress shown): the norms alone take a
     * few ms a layer, so they go in longer groups, which keep the workers evenly busy */
    size_t group = (size_t)threads * (o->norms_only ? 8 : 4);
    figs_job j = {bw, ad, layers, o, calloc((size_t)threads, sizeof(lsc_basework_scratch)),
                  calloc(group, sizeof(sketch_slot)), out, calloc(group, sizeof(size_t))};
    if (!j.s || !j.slots || !j.order) {
        free(j.s), free(j.slots), free(j.order);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    lsc_status st = LSC_OK;
    for (size_t g = 0; g < n && !st; g += group) {
        size_t m = n - g < group ? n - g : group;
        if (cancel && cancel(cancel_ctx, g, n)) {
            st = LSC_ERR_CANCELLED;
            break;
        }
        for (size_t i = g; i < g + m && !st; i++) { /* the loaders serve one thread: load here */
            int ts[LSC_LAYER_INPUTS_MAX];
            lsc_adapter_layer_inputs(ad, layers[i], ts);
            for (int t = 0; t < LSC_LAYER_INPUTS_MAX && !st; t++)
                if (ts[t] >= 0)
                    st = lsc_adapter_load_tensor(ad, (size_t)ts[t], err);
        }
        figs_job sub = j;
        sub.layers = layers + g, sub.out = out + g;
        order_by_size(ad, sub.layers, m, j.order);
        if (!st)
            st = lsc_pool_for(m, threads, figs_item, &sub, err);
        sketch_store(bw, j.slots, st ? 0 : m); /* in this thread, the pool done: the catalog is ours */
        for (size_t i = 0; i < m; i++)
            lsc_basefig_sketch_release(&j.slots[i].sk), memset(&j.slots[i], 0, sizeof j.slots[i]);
    }
    for (int w = 0; w < threads; w++)
        scratch_release(&j.s[w]);
    free(j.s);
    free(j.slots);
    free(j.order);
    return st;
}
