/* adapter.c: lifecycle of the in-memory adapter model and its factor view (see adapter.h).
 * Pure data and arithmetic: no file, database or terminal. */
#include "adapter.h"

#include "lycoris_layer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[] = {
#define LSC_X_ROLE(code, name) name,
    LSC_ROLE_LIST(LSC_X_ROLE)
#undef LSC_X_ROLE
};
_Static_assert(sizeof role_names / sizeof role_names[0] == LSC_ROLE_COUNT, "role table out of sync");

static const char *const rule_names[] = {
#define LSC_X_RULE(code, name) name,
    LSC_SCALE_RULE_LIST(LSC_X_RULE)
#undef LSC_X_RULE
};
_Static_assert(sizeof rule_names / sizeof rule_names[0] == LSC_SCALE_RULE_COUNT, "scale rule table out of sync");

static const char *const kind_names[] = {
#define LSC_X_KIND(code, name) name,
    LSC_KIND_LIST(LSC_X_KIND)
#undef LSC_X_KIND
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == LSC_KIND_COUNT, "kind table out of sync");

const char *lsc_role_name(lsc_role r)
{
    return (unsigned)r < LSC_ROLE_COUNT ? role_names[r] : "?";
}

int lsc_role_parse(const char *name)
{
    return lsc_name_index(role_names, LSC_ROLE_COUNT, name);
}

const char *lsc_scale_rule_name(lsc_scale_rule r)
{
    return (unsigned)r < LSC_SCALE_RULE_COUNT ? rule_names[r] : "?";
}

int lsc_scale_rule_parse(const char *name)
{
    return lsc_name_index(rule_names, LSC_SCALE_RULE_COUNT, name);
}

const char *lsc_kind_name(lsc_kind k)
{
    return k >= 0 && k < LSC_KIND_COUNT ? kind_names[k] : "unknown";
}

lsc_kind lsc_kind_parse(const char *name)
{
    if (!name || !*name)
        return LSC_KIND_STATIC;
    return (lsc_kind)lsc_name_index(kind_names, LSC_KIND_COUNT, name); /* -1: LSC_KIND_UNKNOWN */
}

double lsc_scale_compute(lsc_scale_rule rule, double alpha, int r, int init_r, double fixed)
{
    switch (rule) {
    case LSC_SCALE_ALPHA_R:
        return r > 0 ? alpha / r : 0.0;
    case LSC_SCALE_RSLORA:
        return r > 0 ? alpha / sqrt((double)r) : 0.0;
    case LSC_SCALE_ADALORA:
        /* PEFT's AdaLoRA divides by init_r + 1e-5 (ranknum) */
        return (init_r > 0 ? alpha / ((double)init_r + 1e-5) : (r > 0 ? alpha / ((double)r + 1e-5) : 0.0));
    case LSC_SCALE_FIXED:
    default:
        return fixed;
    }
}

lsc_adapter *lsc_adapter_new(void)
{
    return calloc(1, sizeof(lsc_adapter));
}

void lsc_adapter_free(lsc_adapter *ad)
{
    if (!ad)
        return;
    for (size_t i = 0; i < ad->n_tensors; i++) {
        free(ad->tensors[i].key);
        free(ad->tensors[i].data);
    }
    for (size_t i = 0; i < ad->n_layers; i++) {
        free(ad->layers[i].name);
        free(ad->layers[i].module_type);
    }
    free(ad->tensors);
    free(ad->layers);
    free(ad->alpha_of_layer);
    lsc_namemap_free(&ad->layer_index);
    free(ad->name);
    free(ad->format);
    free(ad->kind);
    free(ad->base_model);
    free(ad->config_json);
    free(ad->header_json);
    free(ad->metadata_json);
    free(ad->source);
    free(ad->warnings);
    if (ad->load_ctx_free)
        ad->load_ctx_free(ad->load_ctx);
    free(ad);
}

lsc_kind lsc_adapter_kind(const lsc_adapter *ad)
{
    return lsc_kind_parse(ad->kind);
}

lsc_status lsc_adapter_set_kind(lsc_adapter *ad, lsc_kind k, lsc_error *err)
{
    char *name = strdup(lsc_kind_name(k));
    if (!name)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    free(ad->kind);
    ad->kind = name;
    return LSC_OK;
}

void lsc_adapter_warn(lsc_adapter *ad, const char *fmt, ...)
{
    char line[LSC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t old = ad->warnings ? strlen(ad->warnings) : 0, n = strlen(line);
    char *p = realloc(ad->warnings, old + n + 2);
    if (!p)
        return;
    if (old)
        p[old++] = '\n';
    memcpy(p + old, line, n + 1);
    ad->warnings = p;
}

/* Grow an array of `size`-byte items to hold at least `need`; doubles the capacity. */
static int grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*items, nc * size);
    if (!p)
        return -1;
    *items = p;
    *cap = nc;
    return 0;
}

/* Capacities are not stored in the struct: round up to the next power of two of the count. */
static size_t cap_of(size_t n)
{
    if (n == 0)
        return 0;
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

lsc_status lsc_adapter_add_tensor(lsc_adapter *ad, const char *key, lsc_role role, int layer, lsc_dtype dt,
                                  int ndim, const int64_t *shape, void *data, size_t *index, lsc_error *err)
{
    if (ndim < 0 || ndim > LSC_MAX_NDIM)
        return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s': %d dimensions (at most %d)", key, ndim,
                             LSC_MAX_NDIM);
    size_t cap = cap_of(ad->n_tensors);
    void *items = ad->tensors;
    if (grow(&items, &cap, ad->n_tensors + 1, sizeof(lsc_tensor)))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory adding tensor '%s'", key);
    ad->tensors = items;
    lsc_tensor *t = &ad->tensors[ad->n_tensors];
    memset(t, 0, sizeof *t);
    t->key = strdup(key);
    if (!t->key)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory adding tensor '%s'", key);
    t->role = role;
    t->layer = layer;
    if (role == LSC_ROLE_GATE)
        ad->n_gate_tensors++;
    free(ad->alpha_of_layer); /* rebuilt when next needed */
    ad->alpha_of_layer = NULL;
    t->dtype = dt;
    t->ndim = ndim;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        n *= (size_t)shape[d];
    }
    t->nbytes = n * lsc_dtype_size(dt);
    t->data = data;
    t->src = -1;
    if (index)
        *index = ad->n_tensors;
    ad->n_tensors++;
    return LSC_OK;
}

lsc_status lsc_adapter_add_layer(lsc_adapter *ad, const char *name, size_t *index, lsc_error *err)
{
    free(ad->alpha_of_layer); /* sized by the layer count: rebuilt when next needed */
    ad->alpha_of_layer = NULL;
    size_t cap = cap_of(ad->n_layers);
    void *items = ad->layers;
    if (grow(&items, &cap, ad->n_layers + 1, sizeof(lsc_layer)))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory adding layer '%s'", name);
    ad->layers = items;
    lsc_layer *l = &ad->layers[ad->n_layers];
    memset(l, 0, sizeof *l);
    l->name = strdup(name);
    l->module_type = strdup("");
    if (!l->name || !l->module_type)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory adding layer '%s'", name);
    l->layer_index = -1;
    l->ta = l->tb = l->te = l->tm = -1;
    l->rule = LSC_SCALE_ALPHA_R;
    /* the first layer of a name wins a lookup, as the linear scan found it */
    if (!lsc_namemap_has(&ad->layer_index, name) && lsc_namemap_put(&ad->layer_index, name, (int64_t)ad->n_layers))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory adding layer '%s'", name);
    if (index)
        *index = ad->n_layers;
    ad->n_layers++;
    return LSC_OK;
}

lsc_status lsc_adapter_load_tensor(lsc_adapter *ad, size_t i, lsc_error *err)
{
    if (i >= ad->n_tensors)
        return lsc_error_set(err, LSC_ERR_INVALID, "tensor index %zu out of range", i);
    if (ad->tensors[i].data || ad->tensors[i].nbytes == 0)
        return LSC_OK;
    if (!ad->load)
        return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s' has no data", ad->tensors[i].key);
    if (ad->cancel && *ad->cancel)
        return lsc_error_set(err, LSC_ERR_CANCELLED, "cancelled before reading tensor '%s'", ad->tensors[i].key);
    return ad->load(ad, i, err);
}

void lsc_adapter_unload_tensor(lsc_adapter *ad, size_t i)
{
    if (i < ad->n_tensors && ad->load) {
        free(ad->tensors[i].data);
        ad->tensors[i].data = NULL;
    }
}

static int64_t numel(const lsc_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

int64_t lsc_adapter_params(const lsc_adapter *ad)
{
    int64_t p = 0;
    for (size_t i = 0; i < ad->n_tensors; i++) {
        lsc_role r = ad->tensors[i].role;
        if (r == LSC_ROLE_A || r == LSC_ROLE_B || r == LSC_ROLE_E || r == LSC_ROLE_MAGNITUDE || r == LSC_ROLE_GATE ||
            r == LSC_ROLE_FACTOR)
            p += numel(&ad->tensors[i]);
    }
    return p;
}

int64_t lsc_adapter_bytes(const lsc_adapter *ad)
{
    int64_t b = 0;
    for (size_t i = 0; i < ad->n_tensors; i++)
        b += (int64_t)ad->tensors[i].nbytes;
    return b;
}

void lsc_adapter_layer_inputs(const lsc_adapter *ad, size_t li, int ts[LSC_LAYER_INPUTS_MAX])
{
    const lsc_layer *l = &ad->layers[li];
    for (int i = 0; i < LSC_LAYER_INPUTS_MAX; i++)
        ts[i] = -1;
    ts[0] = l->ta;
    ts[1] = l->tb;
    ts[2] = l->te;
    ts[3] = l->tm;
    ts[4] = lsc_adapter_layer_tensor(ad, li, LSC_ROLE_GATE);
    int n = 5;
    /* LyCORIS factors are found by a scan: only LyCORIS layers pay for it */
    for (size_t i = 0; (l->flags & LSC_LAYER_LYCORIS) && i < ad->n_tensors && n < LSC_LAYER_INPUTS_MAX; i++)
        if (ad->tensors[i].layer == (int)li && ad->tensors[i].role == LSC_ROLE_FACTOR)
            ts[n++] = (int)i;
}

int lsc_adapter_layer_tensor(const lsc_adapter *ad, size_t li, lsc_role role)
{
    if (role == LSC_ROLE_GATE && ad->n_gate_tensors == 0)
        return -1;
    for (size_t i = 0; i < ad->n_tensors; i++)
        if (ad->tensors[i].role == role && ad->tensors[i].layer == (int)li)
            return (int)i;
    return -1;
}

int lsc_adapter_find_layer(const lsc_adapter *ad, const char *name)
{
    int64_t at;
    if (ad->layer_index.n == ad->n_layers) { /* the index covers every layer */
        if (!lsc_namemap_get(&ad->layer_index, name, &at))
            return -1;
        if (at >= 0 && (size_t)at < ad->n_layers && strcmp(ad->layers[at].name, name) == 0)
            return (int)at;
    }
    for (size_t i = 0; i < ad->n_layers; i++)
        if (strcmp(ad->layers[i].name, name) == 0)
            return (int)i;
    return -1;
}

static lsc_status ensure(double **buf, size_t *cap, size_t n, lsc_error *err)
{
    if (n <= *cap && *buf)
        return LSC_OK;
    double *p = realloc(*buf, (n ? n : 1) * sizeof(double));
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (%zu doubles)", n);
    *buf = p;
    *cap = n;
    return LSC_OK;
}

/* Load tensor `ti` and convert it to doubles in dst (numel entries). */
static lsc_status tensor_doubles(lsc_adapter *ad, int ti, double *dst, lsc_error *err)
{
    lsc_status st = lsc_adapter_load_tensor(ad, (size_t)ti, err);
    if (st)
        return st;
    lsc_tensor *t = &ad->tensors[ti];
    if (!lsc_dtype_is_float(t->dtype))
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "unsupported dtype %s in tensor '%s'", lsc_dtype_name(t->dtype),
                             t->key);
    return lsc_dtype_to_double(t->dtype, t->data, (size_t)numel(t), dst);
}

lsc_status lsc_adapter_tensor_doubles(lsc_adapter *ad, size_t i, double **buf, size_t *cap, size_t *n, lsc_error *err)
{
    if (i >= ad->n_tensors)
        return lsc_error_set(err, LSC_ERR_INVALID, "tensor index %zu out of range", i);
    size_t cnt = (size_t)numel(&ad->tensors[i]);
    lsc_status st = ensure(buf, cap, cnt, err);
    if (!st)
        st = tensor_doubles(ad, (int)i, *buf, err);
    if (!st && n)
        *n = cnt;
    return st;
}

lsc_status lsc_adapter_factors(lsc_adapter *ad, size_t li, double **bbuf, size_t *bcap, double **abuf,
                               size_t *acap, lsc_lowrank *out, lsc_error *err)
{
    if (li >= ad->n_layers)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer index %zu out of range", li);
    lsc_layer *l = &ad->layers[li];
    if (l->flags & LSC_LAYER_LYCORIS)
        return lsc_lycoris_layer_view(ad, li, bbuf, bcap, abuf, acap, out, err);
    if (l->ta < 0 || l->tb < 0)
        return lsc_error_set(err, LSC_ERR_FORMAT, "layer '%s': missing %s", l->name, l->ta < 0 ? "A" : "B");
    lsc_tensor *ta = &ad->tensors[l->ta], *tb = &ad->tensors[l->tb];
    if (ta->ndim < 2 || tb->ndim < 2)
        return lsc_error_set(err, LSC_ERR_FORMAT, "layer '%s': factors must have at least 2 dimensions", l->name);
    int64_t r = ta->shape[0];
    int64_t a_cols = 1; /* conv A [r, in, kh, kw] flattens to [r, in*kh*kw] */
    for (int d = 1; d < ta->ndim; d++)
        a_cols *= ta->shape[d];
    int64_t b_rows = tb->shape[0];
    int64_t b_r = tb->shape[1];
    for (int d = 2; d < tb->ndim; d++)
        if (tb->shape[d] != 1)
            return lsc_error_set(err, LSC_ERR_FORMAT, "tensor '%s': B must be [out, r] or [out, r, 1, 1]", tb->key);
    int emb = (l->flags & LSC_LAYER_EMBEDDING) != 0;
    /* PEFT embeddings: A [r, vocab], B [dim, r]; the product B*A is [dim, vocab], same rank relation. */
    if (b_r != r)
        return lsc_error_set(err, LSC_ERR_FORMAT, "layer '%s': rank mismatch, A '%s' has %lld rows but B '%s' has %lld columns",
                             l->name, ta->key, (long long)r, tb->key, (long long)b_r);
    size_t nb = (size_t)(b_rows * r), na = (size_t)(r * a_cols);
    lsc_status st;
    if ((st = ensure(bbuf, bcap, nb, err)) || (st = ensure(abuf, acap, na, err)))
        return st;
    if ((st = tensor_doubles(ad, l->tb, *bbuf, err)) || (st = tensor_doubles(ad, l->ta, *abuf, err)))
        return st;
    int tg = lsc_adapter_layer_tensor(ad, li, LSC_ROLE_GATE);
    int scalers[2] = {l->te, tg}; /* AdaLoRA's E and SoRA's gate both scale A's rows */
    for (int sc = 0; sc < 2; sc++) {
        if (scalers[sc] < 0)
            continue;
        lsc_tensor *te = &ad->tensors[scalers[sc]];
        if (numel(te) != r)
            return lsc_error_set(err, LSC_ERR_FORMAT, "tensor '%s': expected %lld values (one per rank), found %lld",
                                 te->key, (long long)r, (long long)numel(te));
        double ebuf[1024], *e = r <= 1024 ? ebuf : malloc((size_t)r * sizeof(double));
        if (!e)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        st = tensor_doubles(ad, scalers[sc], e, err);
        if (!st)
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < a_cols; j++)
                    (*abuf)[i * a_cols + j] *= e[i];
        if (e != ebuf)
            free(e);
        if (st)
            return st;
    }
    if (emb) {
        /* PEFT embeddings apply (B A)^T = A^T B^T: the view's B is A^T [vocab, r], its A is B^T [r, dim] */
        size_t nmax = nb > na ? nb : na;
        double *tmp = malloc((nmax ? nmax : 1) * sizeof(double));
        if (!tmp)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        if ((st = ensure(bbuf, bcap, nmax, err)) || (st = ensure(abuf, acap, nmax, err))) {
            free(tmp);
            return st;
        }
        memcpy(tmp, *bbuf, nb * sizeof(double)); /* B [b_rows, r] */
        for (int64_t i = 0; i < r; i++)          /* new B = A^T: [a_cols, r] */
            for (int64_t j = 0; j < a_cols; j++)
                (*bbuf)[j * r + i] = (*abuf)[i * a_cols + j];
        for (int64_t i = 0; i < b_rows; i++) /* new A = B^T: [r, b_rows] */
            for (int64_t k = 0; k < r; k++)
                (*abuf)[k * b_rows + i] = tmp[i * r + k];
        free(tmp);
        int64_t t = b_rows;
        b_rows = a_cols;
        a_cols = t;
    }
    out->rows = b_rows;
    out->cols = a_cols;
    out->r = (int)r;
    out->B = *bbuf;
    out->A = *abuf;
    out->scale = l->scale;
    return LSC_OK;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

lsc_adapter *lsc_adapter_clone_meta(const lsc_adapter *ad)
{
    lsc_adapter *c = lsc_adapter_new();
    if (!c)
        return NULL;
    c->name = dup_or_null(ad->name);
    c->format = dup_or_null(ad->format);
    c->kind = dup_or_null(ad->kind);
    c->base_model = dup_or_null(ad->base_model);
    c->config_json = dup_or_null(ad->config_json);
    c->metadata_json = dup_or_null(ad->metadata_json);
    c->source = dup_or_null(ad->source);
    c->warnings = dup_or_null(ad->warnings);
    for (size_t i = 0; i < ad->n_layers; i++) {
        size_t li;
        if (lsc_adapter_add_layer(c, ad->layers[i].name, &li, NULL)) {
            lsc_adapter_free(c);
            return NULL;
        }
        char *mt = c->layers[li].name;
        lsc_layer keep = ad->layers[i];
        free(c->layers[li].module_type);
        keep.name = mt;
        keep.module_type = dup_or_null(ad->layers[i].module_type ? ad->layers[i].module_type : "");
        c->layers[li] = keep;
    }
    for (size_t i = 0; i < ad->n_tensors; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        size_t ti;
        if (lsc_adapter_add_tensor(c, t->key, t->role, t->layer, t->dtype, t->ndim, t->shape, NULL, &ti, NULL)) {
            lsc_adapter_free(c);
            return NULL;
        }
        memcpy(c->tensors[ti].hash, t->hash, LSC_HASH_HEX);
    }
    return c;
}

lsc_status lsc_adapter_encode(lsc_dtype dt, const double *v, size_t n, const char *key, uint8_t **out,
                              lsc_error *err)
{
    size_t over = 0;
    uint8_t *buf = malloc(n * lsc_dtype_size(dt) + 1);
    if (!buf)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_status st = lsc_dtype_from_double(dt, v, n, buf, &over);
    if (!st && over)
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "tensor '%s': %zu value(s) overflow %s", key, over, lsc_dtype_name(dt));
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    return LSC_OK;
}

static lsc_status rewrite_alpha(lsc_adapter *ad, size_t li, lsc_error *err);

lsc_status lsc_adapter_set_factors(lsc_adapter *ad, size_t li, const double *B, const double *A, int k, double scale,
                                   lsc_error *err)
{
    if (li >= ad->n_layers || k < 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "bad layer index or rank");
    lsc_layer *l = &ad->layers[li];
    if (l->flags & LSC_LAYER_LYCORIS) { /* an edit makes a LyCORIS layer a plain kohya pair */
        lsc_status st = lsc_lycoris_layer_set_plain(ad, li, B, A, k, scale, err);
        return st ? st : rewrite_alpha(ad, li, err);
    }
    if (l->ta < 0 || l->tb < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer '%s' has no factors", l->name);
    lsc_tensor *ta = &ad->tensors[l->ta], *tb = &ad->tensors[l->tb];
    int emb = (l->flags & LSC_LAYER_EMBEDDING) != 0;
    int64_t rows = emb ? l->cols : l->rows; /* stored B is [out, r] with out = dim for embeddings */
    int64_t vrows = l->rows, vcols = l->cols;
    size_t nb = (size_t)(vrows * k), na = (size_t)(k * vcols);
    double *sb = NULL, *sa = NULL; /* stored orientation */
    if (emb) {
        /* view B' = A^T [vocab, k], A' = B^T [k, dim]: stored A [k, vocab] = B'^T, stored B [dim, k] = A'^T */
        sa = malloc(nb * sizeof(double));
        sb = malloc(na * sizeof(double));
        if (!sa || !sb) {
            free(sa);
            free(sb);
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        }
        for (int64_t i = 0; i < vrows; i++)
            for (int j = 0; j < k; j++)
                sa[(size_t)j * (size_t)vrows + (size_t)i] = B[(size_t)i * (size_t)k + (size_t)j];
        for (int j = 0; j < k; j++)
            for (int64_t c = 0; c < vcols; c++)
                sb[(size_t)c * (size_t)k + (size_t)j] = A[(size_t)j * (size_t)vcols + (size_t)c];
    }
    uint8_t *da = NULL, *db = NULL, *de = NULL;
    lsc_status st = lsc_adapter_encode(ta->dtype, emb ? sa : A, emb ? nb : na, ta->key, &da, err);
    if (!st)
        st = lsc_adapter_encode(tb->dtype, emb ? sb : B, emb ? na : nb, tb->key, &db, err);
    int tg = lsc_adapter_layer_tensor(ad, li, LSC_ROLE_GATE);
    uint8_t *dg = NULL;
    if (!st && tg >= 0) { /* the new factors carry the gate already: it becomes ones */
        double *ones = malloc((size_t)k * sizeof(double));
        if (!ones)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        for (int i = 0; ones && i < k; i++)
            ones[i] = 1.0;
        if (!st)
            st = lsc_adapter_encode(ad->tensors[tg].dtype, ones, (size_t)k, ad->tensors[tg].key, &dg, err);
        free(ones);
    }
    if (!st && l->te >= 0) {
        double *ones = malloc((size_t)k * sizeof(double));
        if (!ones)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        for (int i = 0; ones && i < k; i++)
            ones[i] = 1.0;
        if (!st)
            st = lsc_adapter_encode(ad->tensors[l->te].dtype, ones, (size_t)k, ad->tensors[l->te].key, &de, err);
        free(ones);
    }
    free(sa);
    free(sb);
    if (st) {
        free(da);
        free(db);
        free(de);
        free(dg);
        return st;
    }
    if (tg >= 0) {
        lsc_tensor *t = &ad->tensors[tg];
        free(t->data);
        t->data = dg;
        t->shape[t->ndim - 1] = k; /* [k] or [1, k] */
        t->nbytes = (size_t)k * lsc_dtype_size(t->dtype);
        t->hash[0] = '\0';
    }
    (void)rows;
    /* A: [k, ...trailing dims] (embedding A is [k, vocab]) */
    free(ta->data);
    ta->data = da;
    ta->shape[0] = k;
    ta->hash[0] = '\0';
    /* B: [out, k] or [out, k, 1, 1] */
    free(tb->data);
    tb->data = db;
    tb->shape[1] = k;
    tb->hash[0] = '\0';
    lsc_tensor *ts[2] = {ta, tb};
    for (int t = 0; t < 2; t++) {
        size_t n = 1;
        for (int d = 0; d < ts[t]->ndim; d++)
            n *= (size_t)ts[t]->shape[d];
        ts[t]->nbytes = n * lsc_dtype_size(ts[t]->dtype);
    }
    if (l->te >= 0) {
        lsc_tensor *te = &ad->tensors[l->te];
        free(te->data);
        te->data = de;
        te->shape[0] = k;
        te->nbytes = (size_t)k * lsc_dtype_size(te->dtype);
        for (int d = 1; d < te->ndim; d++)
            te->nbytes *= (size_t)te->shape[d];
        te->hash[0] = '\0';
    }
    l->rank = k;
    l->scale = scale;
    switch (l->rule) {
    case LSC_SCALE_ALPHA_R: l->alpha = scale * k; break;
    case LSC_SCALE_RSLORA: l->alpha = scale * sqrt((double)k); break;
    case LSC_SCALE_ADALORA: l->alpha = scale * ((double)(l->init_r > 0 ? l->init_r : k) + 1e-5); break;
    default: break;
    }
    return rewrite_alpha(ad, li, err);
}

/* A kohya alpha scalar of layer li must keep giving the scale: rewrite it (as F32) when its value changes. */
/* The alpha tensor of layer li (-1: none, -2: out of memory) from ad->alpha_of_layer, built in one pass
 * when missing. Edits call it from worker threads (each on its own layer): one lock around the build. */
static pthread_mutex_t g_alpha_mu = PTHREAD_MUTEX_INITIALIZER;
static int *build_alpha_index(lsc_adapter *ad);

static int alpha_tensor_of(lsc_adapter *ad, size_t li)
{
    pthread_mutex_lock(&g_alpha_mu);
    int *ix = ad->alpha_of_layer ? ad->alpha_of_layer : build_alpha_index(ad);
    int r = !ix ? -2 : ix[li];
    pthread_mutex_unlock(&g_alpha_mu);
    return r;
}

static int *build_alpha_index(lsc_adapter *ad)
{
    int *ix = malloc((ad->n_layers + 1) * sizeof *ix);
    if (!ix)
        return NULL;
    for (size_t li = 0; li < ad->n_layers; li++)
        ix[li] = -1;
    for (size_t i = 0; i < ad->n_tensors; i++)
        if (ad->tensors[i].role == LSC_ROLE_ALPHA && ad->tensors[i].layer >= 0 &&
            (size_t)ad->tensors[i].layer < ad->n_layers && ix[ad->tensors[i].layer] < 0)
            ix[ad->tensors[i].layer] = (int)i;
    ad->alpha_of_layer = ix;
    return ix;
}

static lsc_status rewrite_alpha(lsc_adapter *ad, size_t li, lsc_error *err)
{
    const lsc_layer *l = &ad->layers[li];
    int at = alpha_tensor_of(ad, li);
    if (at == -2)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    /* the layer's alpha tensor (the first, as the factor view reads it) */
    for (size_t i = at < 0 ? ad->n_tensors : (size_t)at; i < ad->n_tensors; i = ad->n_tensors) {
        lsc_tensor *t = &ad->tensors[i];
        if (t->role != LSC_ROLE_ALPHA || t->layer != (int)li)
            continue;
        double old = 0.0;
        if (t->data && lsc_dtype_scalar_to_double(t->dtype, t->data, &old) == LSC_OK && old == l->alpha)
            continue;
        float f = (float)l->alpha;
        uint8_t *d = malloc(sizeof f);
        if (!d)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        memcpy(d, &f, sizeof f);
        free(t->data);
        t->data = d;
        t->dtype = LSC_DT_F32;
        t->ndim = 0;
        t->nbytes = sizeof f;
        t->hash[0] = '\0';
    }
    return LSC_OK;
}

lsc_status lsc_adapter_set_tensor(lsc_adapter *ad, size_t i, const double *v, int ndim, const int64_t *shape,
                                  lsc_error *err)
{
    if (i >= ad->n_tensors || ndim < 0 || ndim > LSC_MAX_NDIM)
        return lsc_error_set(err, LSC_ERR_INVALID, "bad tensor index or shape");
    lsc_tensor *t = &ad->tensors[i];
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    uint8_t *data = NULL;
    lsc_status st = lsc_adapter_encode(t->dtype, v, n, t->key, &data, err);
    if (st)
        return st;
    free(t->data);
    t->data = data;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    t->nbytes = n * lsc_dtype_size(t->dtype);
    t->hash[0] = '\0';
    return LSC_OK;
}

void lsc_adapter_remove_tensor(lsc_adapter *ad, size_t i)
{
    if (i >= ad->n_tensors)
        return;
    if (ad->tensors[i].role == LSC_ROLE_GATE && ad->n_gate_tensors > 0)
        ad->n_gate_tensors--;
    free(ad->alpha_of_layer);
    ad->alpha_of_layer = NULL;
    free(ad->tensors[i].key);
    free(ad->tensors[i].data);
    memmove(&ad->tensors[i], &ad->tensors[i + 1], (ad->n_tensors - i - 1) * sizeof(lsc_tensor));
    ad->n_tensors--;
    for (size_t li = 0; li < ad->n_layers; li++) {
        int *slots[4] = {&ad->layers[li].ta, &ad->layers[li].tb, &ad->layers[li].te, &ad->layers[li].tm};
        for (int k = 0; k < 4; k++) {
            if (*slots[k] == (int)i)
                *slots[k] = -1;
            else if (*slots[k] > (int)i)
                (*slots[k])--;
        }
    }
}

void lsc_adapter_remove_layer(lsc_adapter *ad, size_t li)
{
    if (li >= ad->n_layers)
        return;
    for (size_t i = ad->n_tensors; i-- > 0;)
        if (ad->tensors[i].layer == (int)li)
            lsc_adapter_remove_tensor(ad, i);
    free(ad->layers[li].name);
    free(ad->layers[li].module_type);
    memmove(&ad->layers[li], &ad->layers[li + 1], (ad->n_layers - li - 1) * sizeof(lsc_layer));
    ad->n_layers--;
    for (size_t i = 0; i < ad->n_tensors; i++)
        if (ad->tensors[i].layer > (int)li)
            ad->tensors[i].layer--;
    /* the layers after li moved down one: index them again (out of memory leaves the index short, and
     * lsc_adapter_find_layer scans instead) */
    lsc_namemap_free(&ad->layer_index);
    for (size_t i = 0; i < ad->n_layers; i++)
        if (!lsc_namemap_has(&ad->layer_index, ad->layers[i].name) &&
            lsc_namemap_put(&ad->layer_index, ad->layers[i].name, (int64_t)i))
            break;
}
