/* lycoris_layer.c: LyCORIS layers of an lsc_adapter, from their stored factor tensors to the engine's
 * views (see lycoris_layer.h). The kernels are in lycoris.c; this file finds the parts, checks shapes,
 * converts to doubles and back. No I/O: tensors come through the adapter's loader. */
#include "lycoris_layer.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "spectrum.h"

static const char *const part_suffix[] = {
#define LSC_X_LYC(code, suffix, flag) suffix,
    LSC_LYC_PART_LIST(LSC_X_LYC)
#undef LSC_X_LYC
};
static const unsigned part_family[] = {
#define LSC_X_LYC(code, suffix, flag) flag,
    LSC_LYC_PART_LIST(LSC_X_LYC)
#undef LSC_X_LYC
};
_Static_assert(sizeof part_suffix / sizeof part_suffix[0] == LSC_LYC_PART_COUNT, "lycoris part table out of sync");

const char *lsc_lycoris_layer_suffix(int p)
{
    return p >= 0 && p < LSC_LYC_PART_COUNT ? part_suffix[p] : "";
}

unsigned lsc_lycoris_layer_family(int p)
{
    return p >= 0 && p < LSC_LYC_PART_COUNT ? part_family[p] : 0u;
}

int lsc_lycoris_layer_part_of(const char *key, size_t *module_len)
{
    size_t n = strlen(key);
    for (int p = 0; p < LSC_LYC_PART_COUNT; p++) {
        size_t k = strlen(part_suffix[p]);
        if (n > k && memcmp(key + n - k, part_suffix[p], k) == 0) {
            if (module_len)
                *module_len = n - k;
            return p;
        }
    }
    return -1;
}

/* ---- describe ----------------------------------------------------------------------------------- */

#define DIM_MAX ((int64_t)1 << 31)

static const lsc_tensor *part_t(const lsc_adapter *ad, const lsc_lyc_layer *d, int p)
{
    return d->part[p] >= 0 ? &ad->tensors[d->part[p]] : NULL;
}

/* Product of dims [from, ndim) of t, -1 if a dim is out of range or the product exceeds DIM_MAX^2. */
static int64_t trailing(const lsc_tensor *t, int from)
{
    int64_t n = 1;
    for (int i = from; i < t->ndim; i++) {
        if (t->shape[i] < 1 || t->shape[i] > DIM_MAX)
            return -1;
        if (__builtin_mul_overflow(n, t->shape[i], &n) || n > DIM_MAX * 64)
            return -1;
    }
    return n;
}

/* Names in messages are escaped (control characters, quotes): a message stays one line. */
#define ESC_CAP 320

static lsc_status bad(lsc_error *err, const lsc_adapter *ad, size_t li, const char *what, const lsc_tensor *t)
{
    char e1[ESC_CAP], e2[ESC_CAP];
    return lsc_error_set(err, LSC_ERR_FORMAT, "layer '%s': %s%s%s%s", lsc_escape_name(e1, sizeof e1, ad->layers[li].name),
                         what, t ? " ('" : "", t ? lsc_escape_name(e2, sizeof e2, t->key) : "", t ? "')" : "");
}

/* "layer 'x': <family> tensor 'x<suffix>' is missing" */
static lsc_status missing(lsc_error *err, const lsc_adapter *ad, size_t li, const char *family, int part)
{
    char e1[ESC_CAP];
    const char *n = lsc_escape_name(e1, sizeof e1, ad->layers[li].name);
    return lsc_error_set(err, LSC_ERR_FORMAT, "layer '%s': %s tensor '%s%s' is missing", n, family, n, part_suffix[part]);
}

/* A matrix part: [m, n...] (trailing dims flattened), *m and *n set; 4-dim ones give a kernel. */
static int as_matrix(const lsc_tensor *t, int64_t *m, int64_t *n)
{
    if (!t || t->ndim < 2 || t->shape[0] < 1 || t->shape[0] > DIM_MAX)
        return 0;
    *m = t->shape[0];
    *n = trailing(t, 1);
    return *n > 0;
}

/* A Tucker core [r, r, kh, kw]. */
static int as_core(const lsc_tensor *t, int64_t r, int64_t *kh, int64_t *kw)
{
    if (!t || t->ndim != 4 || t->shape[0] != r || t->shape[1] != r || t->shape[2] < 1 || t->shape[3] < 1 ||
        t->shape[2] > 65536 || t->shape[3] > 65536)
        return 0;
    *kh = t->shape[2];
    *kw = t->shape[3];
    return 1;
}

static int rank_ok(int64_t r)
{
    return r >= 1 && r <= 65535;
}

static lsc_status describe_loha(const lsc_adapter *ad, size_t li, lsc_lyc_layer *d, lsc_error *err)
{
    static const int need[4] = {LSC_LYC_HADA_W1_A, LSC_LYC_HADA_W1_B, LSC_LYC_HADA_W2_A, LSC_LYC_HADA_W2_B};
    for (int i = 0; i < 4; i++)
        if (d->part[need[i]] < 0)
            return missing(err, ad, li, "LoHa", need[i]);
    const lsc_tensor *t1 = part_t(ad, d, LSC_LYC_HADA_T1), *t2 = part_t(ad, d, LSC_LYC_HADA_T2);
    if ((t1 == NULL) != (t2 == NULL))
        return bad(err, ad, li, "LoHa Tucker core has no partner (hada_t1 and hada_t2 come together)", t1 ? t1 : t2);
    int64_t m[4], n[4];
    for (int i = 0; i < 4; i++)
        if (!as_matrix(part_t(ad, d, need[i]), &m[i], &n[i]))
            return bad(err, ad, li, "LoHa factor shape is not a matrix", part_t(ad, d, need[i]));
    if (!t1) {
        /* w1a [rows, r1], w1b [r1, cols], w2a [rows, r2], w2b [r2, cols] */
        if (n[0] != m[1] || n[2] != m[3] || !rank_ok(n[0]) || !rank_ok(n[2]))
            return bad(err, ad, li, "LoHa rank mismatch between hada_w*_a and hada_w*_b", part_t(ad, d, need[n[0] != m[1] ? 1 : 3]));
        if (m[0] != m[2] || n[1] != n[3])
            return bad(err, ad, li, "LoHa shape mismatch: the two Hadamard factors differ in shape",
                       part_t(ad, d, m[0] != m[2] ? need[2] : need[3]));
        d->r1 = (int)n[0];
        d->r2 = (int)n[2];
        d->rows = m[0];
        d->cols = n[1];
        const lsc_tensor *w1b = part_t(ad, d, need[1]);
        if (w1b->ndim == 4) {
            d->kh = w1b->shape[2];
            d->kw = w1b->shape[3];
        }
    } else {
        /* Tucker: t [r, r, kh, kw], wa [r, out], wb [r, in] for both pairs */
        int64_t kh1, kw1, kh2, kw2;
        if (m[0] != m[1] || m[2] != m[3] || !rank_ok(m[0]) || !rank_ok(m[2]))
            return bad(err, ad, li, "LoHa Tucker rank mismatch between hada_w*_a and hada_w*_b", part_t(ad, d, need[m[0] != m[1] ? 1 : 3]));
        if (!as_core(t1, m[0], &kh1, &kw1) || !as_core(t2, m[2], &kh2, &kw2) || kh1 != kh2 || kw1 != kw2)
            return bad(err, ad, li, "LoHa Tucker core shape does not match its factors", t1);
        if (n[0] != n[2] || n[1] != n[3] || part_t(ad, d, need[0])->ndim != 2 || part_t(ad, d, need[1])->ndim != 2)
            return bad(err, ad, li, "LoHa shape mismatch: the two Hadamard factors differ in shape", part_t(ad, d, need[2]));
        d->r1 = (int)m[0];
        d->r2 = (int)m[2];
        d->rows = n[0];
        d->kh = kh1;
        d->kw = kw1;
        d->cols = n[1] * kh1 * kw1;
    }
    d->rank = (int64_t)d->r1 * d->r2;
    return LSC_OK;
}

/* One Kronecker factor: full (w), low rank (wa, wb) or Tucker (t, wa, wb). */
static lsc_status describe_kfactor(const lsc_adapter *ad, size_t li, lsc_lyc_layer *d, int which, lsc_error *err)
{
    const int pw = which == 1 ? LSC_LYC_LOKR_W1 : LSC_LYC_LOKR_W2;
    const int pa = which == 1 ? LSC_LYC_LOKR_W1_A : LSC_LYC_LOKR_W2_A;
    const int pb = which == 1 ? LSC_LYC_LOKR_W1_B : LSC_LYC_LOKR_W2_B;
    const lsc_tensor *w = part_t(ad, d, pw), *wa = part_t(ad, d, pa), *wb = part_t(ad, d, pb);
    const lsc_tensor *t = which == 2 ? part_t(ad, d, LSC_LYC_LOKR_T2) : NULL;
    int64_t *rows = which == 1 ? &d->w1_rows : &d->w2_rows, *cols = which == 1 ? &d->w1_cols : &d->w2_cols;
    int *r = which == 1 ? &d->r1 : &d->r2;
    if (w && (wa || wb))
        return bad(err, ad, li, "LoKr factor stored both full and decomposed", wa ? wa : wb);
    if (!w && (!wa || !wb)) {
        if (!wa && !wb)
            return missing(err, ad, li, "LoKr", pw);
        return bad(err, ad, li, "LoKr factor has no partner (lokr_w*_a and lokr_w*_b come together)", wa ? wa : wb);
    }
    if (w) {
        if (t)
            return bad(err, ad, li, "LoKr Tucker core beside a full lokr_w2", t);
        if (!as_matrix(w, rows, cols))
            return bad(err, ad, li, "LoKr factor shape is not a matrix", w);
        if (w->ndim == 4) {
            d->kh = w->shape[2];
            d->kw = w->shape[3];
        }
        *r = 0;
        return LSC_OK;
    }
    int64_t ma, na, mb, nb;
    if (!as_matrix(wa, &ma, &na) || !as_matrix(wb, &mb, &nb))
        return bad(err, ad, li, "LoKr factor shape is not a matrix", as_matrix(wa, &ma, &na) ? wb : wa);
    if (!t) { /* wa [rows, r], wb [r, cols] */
        if (na != mb || !rank_ok(na))
            return bad(err, ad, li, "LoKr rank mismatch between lokr_w*_a and lokr_w*_b", wb);
        *rows = ma;
        *cols = nb;
        *r = (int)na;
        if (wb->ndim == 4) {
            d->kh = wb->shape[2];
            d->kw = wb->shape[3];
        }
        return LSC_OK;
    }
    /* Tucker: t [r, r, kh, kw], wa [r, c], wb [r, d] */
    int64_t kh, kw;
    if (ma != mb || !rank_ok(ma) || wa->ndim != 2 || wb->ndim != 2)
        return bad(err, ad, li, "LoKr Tucker rank mismatch between lokr_w2_a and lokr_w2_b", wb);
    if (!as_core(t, ma, &kh, &kw))
        return bad(err, ad, li, "LoKr Tucker core shape does not match its factors", t);
    *rows = na;
    *cols = nb * kh * kw;
    *r = (int)ma;
    d->kh = kh;
    d->kw = kw;
    return LSC_OK;
}

static lsc_status describe_lokr(const lsc_adapter *ad, size_t li, lsc_lyc_layer *d, lsc_error *err)
{
    lsc_status st;
    if ((st = describe_kfactor(ad, li, d, 1, err)) || (st = describe_kfactor(ad, li, d, 2, err)))
        return st;
    if (d->part[LSC_LYC_LOKR_W1] >= 0 && part_t(ad, d, LSC_LYC_LOKR_W1)->ndim != 2) {
        const lsc_tensor *w1 = part_t(ad, d, LSC_LYC_LOKR_W1);
        if (w1->ndim != 4 || w1->shape[2] != 1 || w1->shape[3] != 1)
            return bad(err, ad, li, "LoKr lokr_w1 must be [a, b] (or [a, b, 1, 1])", w1);
    }
    if (__builtin_mul_overflow(d->w1_rows, d->w2_rows, &d->rows) || __builtin_mul_overflow(d->w1_cols, d->w2_cols, &d->cols) ||
        d->rows > DIM_MAX || d->cols > DIM_MAX)
        return bad(err, ad, li, "LoKr Kronecker shape too large", NULL);
    int64_t n1 = d->w1_rows < d->w1_cols ? d->w1_rows : d->w1_cols, n2 = d->w2_rows < d->w2_cols ? d->w2_rows : d->w2_cols;
    if (d->r1 > 0 && d->r1 < n1)
        n1 = d->r1;
    if (d->r2 > 0 && d->r2 < n2)
        n2 = d->r2;
    d->rank = n1 * n2;
    if (d->rank > INT_MAX)
        return bad(err, ad, li, "LoKr rank beyond what an int indexes", NULL);
    return LSC_OK;
}

static lsc_status describe_tucker(const lsc_adapter *ad, size_t li, lsc_lyc_layer *d, lsc_error *err)
{
    static const int need[3] = {LSC_LYC_LORA_DOWN, LSC_LYC_LORA_MID, LSC_LYC_LORA_UP};
    for (int i = 0; i < 3; i++)
        if (d->part[need[i]] < 0)
            return missing(err, ad, li, "LoCon Tucker", need[i]);
    const lsc_tensor *down = part_t(ad, d, LSC_LYC_LORA_DOWN), *up = part_t(ad, d, LSC_LYC_LORA_UP);
    int64_t r, in, out, ur;
    if (!as_matrix(down, &r, &in) || !as_matrix(up, &out, &ur) || in != down->shape[1] || ur != up->shape[1])
        return bad(err, ad, li, "LoCon Tucker lora_down must be [r, in, 1, 1] and lora_up [out, r, 1, 1]",
                   in != down->shape[1] ? down : up);
    if (ur != r || !rank_ok(r))
        return bad(err, ad, li, "LoCon Tucker rank mismatch between lora_down and lora_up", up);
    if (!as_core(part_t(ad, d, LSC_LYC_LORA_MID), r, &d->kh, &d->kw))
        return bad(err, ad, li, "LoCon Tucker lora_mid shape does not match its factors (want [r, r, kh, kw])",
                   part_t(ad, d, LSC_LYC_LORA_MID));
    d->rows = out;
    d->cols = in * d->kh * d->kw;
    d->r1 = (int)r;
    d->rank = r;
    return LSC_OK;
}

lsc_status lsc_lycoris_layer_describe(const lsc_adapter *ad, size_t li, lsc_lyc_layer *out, lsc_error *err)
{
    memset(out, 0, sizeof *out);
    for (int p = 0; p < LSC_LYC_PART_COUNT; p++)
        out->part[p] = -1;
    out->kh = out->kw = 1;
    if (li >= ad->n_layers)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer index %zu out of range", li);
    for (size_t i = 0; i < ad->n_tensors; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        if (t->layer != (int)li || t->role != LSC_ROLE_FACTOR)
            continue;
        int p = lsc_lycoris_layer_part_of(t->key, NULL);
        if (p < 0)
            return bad(err, ad, li, "unknown LyCORIS factor", t);
        if (out->part[p] >= 0)
            return bad(err, ad, li, "LyCORIS factor given twice", t);
        if (out->family && out->family != part_family[p])
            return bad(err, ad, li, "mixes tensors of two LyCORIS kinds", t);
        out->family = part_family[p];
        out->part[p] = (int)i;
    }
    switch (out->family) {
    case LSC_LAYER_LOHA: return describe_loha(ad, li, out, err);
    case LSC_LAYER_LOKR: return describe_lokr(ad, li, out, err);
    case LSC_LAYER_TUCKER: return describe_tucker(ad, li, out, err);
    default: return bad(err, ad, li, "no LyCORIS factors", NULL);
    }
}

double lsc_lycoris_layer_scale(const lsc_lyc_layer *d, double alpha)
{
    switch (d->family) {
    case LSC_LAYER_LOHA: return lsc_lycoris_scale(alpha, d->r1, d->r2);
    case LSC_LAYER_LOKR: return lsc_lycoris_scale(alpha, d->r1, d->r2);
    default: return isnan(alpha) || alpha == 0.0 ? 1.0 : alpha / (double)d->r1;
    }
}

/* ---- loading the parts ---------------------------------------------------------------------------- */

/* Every present part of d as doubles (v[p], malloc'ed; NULL for an absent part); tensors loaded here are
 * unloaded again. */
typedef struct parts_f64 {
    double *v[LSC_LYC_PART_COUNT];
} parts_f64;

static void parts_release(parts_f64 *pv)
{
    for (int p = 0; p < LSC_LYC_PART_COUNT; p++)
        free(pv->v[p]);
    memset(pv, 0, sizeof *pv);
}

static lsc_status parts_load(lsc_adapter *ad, const lsc_lyc_layer *d, parts_f64 *pv, lsc_error *err)
{
    memset(pv, 0, sizeof *pv);
    for (int p = 0; p < LSC_LYC_PART_COUNT; p++) {
        if (d->part[p] < 0)
            continue;
        size_t ti = (size_t)d->part[p], cap = 0, n = 0;
        int was = ad->tensors[ti].data != NULL;
        lsc_status st = lsc_adapter_tensor_doubles(ad, ti, &pv->v[p], &cap, &n, err);
        if (!was)
            lsc_adapter_unload_tensor(ad, ti);
        if (st) {
            parts_release(pv);
            return st;
        }
    }
    return LSC_OK;
}

static void make_loha(const lsc_lyc_layer *d, const parts_f64 *pv, double scale, lsc_loha *h)
{
    memset(h, 0, sizeof *h);
    h->rows = d->rows;
    h->cols = d->cols;
    h->r1 = d->r1;
    h->r2 = d->r2;
    h->w1a = pv->v[LSC_LYC_HADA_W1_A];
    h->w1b = pv->v[LSC_LYC_HADA_W1_B];
    h->w2a = pv->v[LSC_LYC_HADA_W2_A];
    h->w2b = pv->v[LSC_LYC_HADA_W2_B];
    h->t1 = pv->v[LSC_LYC_HADA_T1];
    h->t2 = pv->v[LSC_LYC_HADA_T2];
    h->K = d->kh * d->kw;
    h->scale = scale;
}

static void make_lokr(const lsc_lyc_layer *d, const parts_f64 *pv, double scale, lsc_lokr *k)
{
    memset(k, 0, sizeof *k);
    k->w1.rows = d->w1_rows;
    k->w1.cols = d->w1_cols;
    k->w1.r = d->r1;
    k->w1.w = pv->v[LSC_LYC_LOKR_W1];
    k->w1.wa = pv->v[LSC_LYC_LOKR_W1_A];
    k->w1.wb = pv->v[LSC_LYC_LOKR_W1_B];
    k->w2.rows = d->w2_rows;
    k->w2.cols = d->w2_cols;
    k->w2.r = d->r2;
    k->w2.w = pv->v[LSC_LYC_LOKR_W2];
    k->w2.wa = pv->v[LSC_LYC_LOKR_W2_A];
    k->w2.wb = pv->v[LSC_LYC_LOKR_W2_B];
    k->w2.t = pv->v[LSC_LYC_LOKR_T2];
    k->w2.K = d->kh * d->kw;
    k->scale = scale;
}

/* The owned low-rank form of layer li: drop_zero as lsc_lycoris_lokr_lowrank (LoKr only). */
static lsc_status layer_owned(lsc_adapter *ad, size_t li, int drop_zero, lsc_lycoris_owned *o, lsc_error *err)
{
    lsc_lyc_layer d;
    parts_f64 pv;
    memset(o, 0, sizeof *o);
    lsc_status st = lsc_lycoris_layer_describe(ad, li, &d, err);
    if (st)
        return st;
    /* B and A of the view hold (rows + cols) * rank values: a few MB for real layers (SDXL LoHa 32+32:
     * 6.5M); a file that asks for more is refused before anything is allocated */
    if ((double)(d.rows + d.cols) * (double)d.rank > (double)LSC_LYCORIS_VIEW_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                             "layer '%s': a factored view of rank %lld over [%lld, %lld] is too large", ad->layers[li].name,
                             (long long)d.rank, (long long)d.rows, (long long)d.cols);
    if ((st = parts_load(ad, &d, &pv, err)))
        return st;
    double scale = ad->layers[li].scale;
    if (d.family == LSC_LAYER_LOHA) {
        lsc_loha h;
        make_loha(&d, &pv, scale, &h);
        st = lsc_lycoris_loha_lowrank(&h, 0, o, err);
    } else if (d.family == LSC_LAYER_LOKR) {
        lsc_lokr k;
        make_lokr(&d, &pv, scale, &k);
        st = lsc_lycoris_lokr_lowrank(&k, drop_zero, 0, o, NULL, err);
    } else {
        st = lsc_lycoris_tucker_lowrank(pv.v[LSC_LYC_LORA_UP], pv.v[LSC_LYC_LORA_MID], pv.v[LSC_LYC_LORA_DOWN], d.rows,
                                        d.r1, d.cols / (d.kh * d.kw), d.kh * d.kw, scale, o, err);
    }
    parts_release(&pv);
    if (st)
        lsc_error_prefix(err, "layer '%s'", ad->layers[li].name);
    return st;
}

static lsc_status grow(double **buf, size_t *cap, size_t n, lsc_error *err)
{
    if (*buf && n <= *cap)
        return LSC_OK;
    double *p = realloc(*buf, (n ? n : 1) * sizeof(double));
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (%zu doubles)", n);
    *buf = p;
    *cap = n;
    return LSC_OK;
}

lsc_status lsc_lycoris_layer_view(lsc_adapter *ad, size_t li, double **bbuf, size_t *bcap, double **abuf,
                                  size_t *acap, lsc_lowrank *out, lsc_error *err)
{
    lsc_lycoris_owned o;
    lsc_status st = layer_owned(ad, li, 0, &o, err);
    if (!st) {
        size_t nb = (size_t)o.lr.rows * (size_t)o.lr.r, na = (size_t)o.lr.r * (size_t)o.lr.cols;
        if (!(st = grow(bbuf, bcap, nb, err)) && !(st = grow(abuf, acap, na, err))) {
            memcpy(*bbuf, o.lr.B, nb * sizeof(double));
            memcpy(*abuf, o.lr.A, na * sizeof(double));
            *out = o.lr;
            out->B = *bbuf;
            out->A = *abuf;
        }
    }
    lsc_lycoris_owned_release(&o);
    return st;
}

lsc_status lsc_lycoris_layer_plain(lsc_adapter *ad, size_t li, lsc_lycoris_owned *out, lsc_error *err)
{
    return layer_owned(ad, li, 1, out, err);
}

/* ---- statistics ------------------------------------------------------------------------------------ */

/* LoKr: the singular values from the two factors' spectra; ||W1||, ||W2|| as norm_b, norm_a. */
static lsc_status lokr_stats(lsc_adapter *ad, size_t li, const lsc_lyc_layer *d, lsc_workspace *ws,
                             lsc_layer_stats *out, lsc_error *err)
{
    parts_f64 pv;
    lsc_status st = parts_load(ad, d, &pv, err);
    if (st)
        return st;
    lsc_lokr k;
    make_lokr(d, &pv, ad->layers[li].scale, &k);
    int64_t n = lsc_lycoris_lokr_count(&k);
    memset(out, 0, sizeof *out);
    out->sv = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!out->sv) {
        parts_release(&pv);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    out->n_sv = (int)n;
    st = lsc_lycoris_lokr_spectrum(&k, ws, out->sv, err);
    if (!st) {
        double nw1, nw2;
        lsc_lokr one = k;
        one.scale = 1.0;
        one.w2 = k.w1; /* ||W1 (x) W1|| = ||W1||^2 */
        if (!(st = lsc_lycoris_lokr_norm(&one, &nw1, err))) {
            one.w1 = one.w2 = k.w2;
            st = lsc_lycoris_lokr_norm(&one, &nw2, err);
            out->norm_b = sqrt(nw1);
            out->norm_a = sqrt(nw2);
            out->balance = out->norm_a > 0 ? out->norm_b / out->norm_a : 0.0;
        }
    }
    parts_release(&pv);
    if (st) {
        lsc_stats_release(out);
        return st;
    }
    lsc_stats_from_sv(out, d->rows, d->cols);
    return LSC_OK;
}

lsc_status lsc_lycoris_layer_stats(lsc_adapter *ad, size_t li, lsc_workspace *ws, lsc_layer_stats *out,
                                   lsc_error *err)
{
    lsc_lyc_layer d;
    lsc_status st = lsc_lycoris_layer_describe(ad, li, &d, err);
    if (st)
        return st;
    if (d.family == LSC_LAYER_LOKR)
        return lokr_stats(ad, li, &d, ws, out, err);
    lsc_lycoris_owned o;
    st = layer_owned(ad, li, 0, &o, err);
    if (!st)
        st = lsc_stats_compute(&o.lr, ws, out, err);
    lsc_lycoris_owned_release(&o);
    return st;
}

/* ---- the parts' spectra ---------------------------------------------------------------------------- */

/* sigma of one LoHa pair p (0 or 1): wa [rows, r] wb [r, cols], or a Tucker pair t, wa [r, rows],
 * wb [r, cols / K] through lsc_lycoris_tucker_lowrank (up = wa^T). */
static lsc_status loha_pair_sv(const lsc_lyc_layer *d, const parts_f64 *pv, int p, lsc_workspace *ws, double **sv,
                               int *n, lsc_error *err)
{
    const double *wa = pv->v[p ? LSC_LYC_HADA_W2_A : LSC_LYC_HADA_W1_A], *wb = pv->v[p ? LSC_LYC_HADA_W2_B : LSC_LYC_HADA_W1_B];
    const double *t = pv->v[p ? LSC_LYC_HADA_T2 : LSC_LYC_HADA_T1];
    int r = p ? d->r2 : d->r1;
    lsc_lycoris_owned o = {0};
    lsc_lowrank lr = {d->rows, d->cols, r, wa, wb, 1.0};
    lsc_status st = LSC_OK;
    if (t) {
        double *up = malloc((size_t)d->rows * (size_t)r * sizeof *up);
        if (!up)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        for (int i = 0; i < r; i++)
            for (int64_t k = 0; k < d->rows; k++)
                up[k * r + i] = wa[(int64_t)i * d->rows + k];
        int64_t K = d->kh * d->kw;
        st = lsc_lycoris_tucker_lowrank(up, t, wb, d->rows, r, d->cols / K, K, 1.0, &o, err);
        free(up);
        lr = o.lr;
    }
    *n = st ? 0 : lsc_spectrum_count(&lr);
    *sv = st ? NULL : malloc((size_t)(*n > 0 ? *n : 1) * sizeof **sv);
    if (!st && !*sv)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (!st && *n > 0)
        st = lsc_spectrum(&lr, ws, *sv, NULL, NULL, err);
    lsc_lycoris_owned_release(&o);
    return st;
}

/* sigma of LoKr factor W_p alone: the Kronecker spectrum of W_p with the 1 x 1 matrix [1]. */
static lsc_status lokr_factor_sv(const lsc_lokr *k, int p, lsc_workspace *ws, double **sv, int *n, lsc_error *err)
{
    static const double one = 1.0;
    lsc_lokr alone = {.w1 = p ? k->w2 : k->w1, .w2 = {.rows = 1, .cols = 1, .w = &one}, .scale = 1.0};
    int64_t cnt = lsc_lycoris_lokr_count(&alone);
    *n = (int)cnt;
    *sv = malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof **sv);
    if (!*sv)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    return cnt > 0 ? lsc_lycoris_lokr_spectrum(&alone, ws, *sv, err) : LSC_OK;
}

lsc_status lsc_lycoris_layer_part_spectra(lsc_adapter *ad, size_t li, lsc_workspace *ws, double **sv1, int *n1,
                                          double **sv2, int *n2, lsc_error *err)
{
    lsc_lyc_layer d;
    parts_f64 pv;
    *sv1 = *sv2 = NULL;
    *n1 = *n2 = 0;
    lsc_status st = lsc_lycoris_layer_describe(ad, li, &d, err);
    if (st || d.family == LSC_LAYER_TUCKER)
        return st;
    if ((st = parts_load(ad, &d, &pv, err)))
        return st;
    if (d.family == LSC_LAYER_LOHA) {
        st = loha_pair_sv(&d, &pv, 0, ws, sv1, n1, err);
        if (!st)
            st = loha_pair_sv(&d, &pv, 1, ws, sv2, n2, err);
    } else {
        lsc_lokr k;
        make_lokr(&d, &pv, 1.0, &k);
        st = lokr_factor_sv(&k, 0, ws, sv1, n1, err);
        if (!st)
            st = lokr_factor_sv(&k, 1, ws, sv2, n2, err);
    }
    parts_release(&pv);
    return st;
}

/* ---- back to a plain pair -------------------------------------------------------------------------- */

lsc_status lsc_lycoris_layer_set_plain(lsc_adapter *ad, size_t li, const double *B, const double *A, int k,
                                       double scale, lsc_error *err)
{
    lsc_lyc_layer d;
    lsc_layer *l = &ad->layers[li];
    int has_factors = 0;
    for (size_t i = 0; i < ad->n_tensors && !has_factors; i++)
        has_factors = ad->tensors[i].layer == (int)li && ad->tensors[i].role == LSC_ROLE_FACTOR;
    lsc_status st = LSC_OK;
    if (has_factors) {
        if ((st = lsc_lycoris_layer_describe(ad, li, &d, err)))
            return st;
    } else { /* a skeleton copied from a LyCORIS layer without its tensors (merge's output): its shape */
        memset(&d, 0, sizeof d);
        d.rows = l->rows;
        d.cols = l->cols;
        d.kh = d.kw = 1;
    }
    /* F64: the pair is exact (B and A are products of the stored factors, not values anyone trained in f16);
     * export --dtype narrows it when wanted */
    const lsc_dtype dt = LSC_DT_F64;
    size_t nl = strlen(l->name);
    char *kd = malloc(nl + 24), *ku = malloc(nl + 24);
    uint8_t *da = NULL, *db = NULL;
    if (!kd || !ku) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(kd, l->name, nl);
    strcpy(kd + nl, ".lora_down.weight");
    memcpy(ku, l->name, nl);
    strcpy(ku + nl, ".lora_up.weight");
    if ((st = lsc_adapter_encode(dt, A, (size_t)k * (size_t)d.cols, kd, &da, err)) ||
        (st = lsc_adapter_encode(dt, B, (size_t)d.rows * (size_t)k, ku, &db, err)))
        goto fail;
    for (size_t i = ad->n_tensors; i-- > 0;)
        if (ad->tensors[i].layer == (int)li && ad->tensors[i].role == LSC_ROLE_FACTOR)
            lsc_adapter_remove_tensor(ad, i);
    int conv = d.kh * d.kw > 1;
    int64_t sa[4] = {k, conv ? d.cols / (d.kh * d.kw) : d.cols, d.kh, d.kw}, sb[4] = {d.rows, k, 1, 1};
    size_t ia, ib;
    if ((st = lsc_adapter_add_tensor(ad, kd, LSC_ROLE_A, (int)li, dt, conv ? 4 : 2, sa, da, &ia, err)))
        goto fail;
    da = NULL;
    if ((st = lsc_adapter_add_tensor(ad, ku, LSC_ROLE_B, (int)li, dt, conv ? 4 : 2, sb, db, &ib, err)))
        goto fail;
    db = NULL;
    l = &ad->layers[li];
    l->ta = (int)ia;
    l->tb = (int)ib;
    l->flags &= ~(unsigned)LSC_LAYER_LYCORIS;
    if (conv)
        l->flags |= LSC_LAYER_CONV;
    l->rank = k;
    l->rule = LSC_SCALE_ALPHA_R;
    l->scale = scale;
    l->alpha = scale * k;
fail:
    free(kd);
    free(ku);
    free(da);
    free(db);
    return st;
}
