/* store/cloneofsimo.c: cloneofsimo/lora files in and out (see cloneofsimo.h).
 *
 * Layers are found from the `<part>:<i>:up|down` keys, ordered by part and position (the file's data
 * order puts "unet:10" before "unet:2"), checked against the `:rank` metadata, and given scale 1.
 * Depends on store/safetensors, store/samekeys, engine/ types and jansson; never SQLite or curses.
 */
#include "cloneofsimo.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format_util.h"
#include "safetensors.h"
#include "samekeys.h"

#define ESC_CAP 320

/* Escaped copy of a name for a message (format_util's rotating buffers). */
#define esc lsc_format_esc

/* Split `<part>:<i>:<what>`: the part's length, the position and what (1 down, 2 up, 3 rank, 0 other). */
static int split_key(const char *key, size_t *part_len, long *pos)
{
    const char *c1 = strchr(key, ':');
    if (!c1 || c1 == key)
        return 0;
    const char *p = c1 + 1, *q = p;
    while (*q >= '0' && *q <= '9')
        q++;
    if (q == p || q - p > 9 || *q != ':')
        return 0;
    *part_len = (size_t)(c1 - key);
    *pos = strtol(p, NULL, 10);
    q++;
    return strcmp(q, "down") == 0 ? 1 : strcmp(q, "up") == 0 ? 2 : strcmp(q, "rank") == 0 ? 3 : 0;
}

int lsc_cloneofsimo_is_key(const char *key)
{
    size_t pl;
    long pos;
    int w = split_key(key, &pl, &pos);
    return w == 1 || w == 2;
}

static const char *meta_get(const lsc_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

/* One factor found in the file: its layer key "<part>:<i>" for sorting. */
typedef struct found {
    const char *key;
    size_t tensor;
    size_t part_len;
    long pos;
    int what;
} found;

static int cmp_found(const void *x, const void *y)
{
    const found *a = x, *b = y;
    /* the key starts with the part: compare the parts, then the positions, then down before up */
    const char *ka = a->key, *kb = b->key;
    size_t n = a->part_len < b->part_len ? a->part_len : b->part_len;
    int c = memcmp(ka, kb, n);
    if (c)
        return c;
    if (a->part_len != b->part_len)
        return a->part_len < b->part_len ? -1 : 1;
    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    return a->what - b->what;
}

/* Add every tensor (in data order) and the layers (in part and position order). */
static lsc_status add_all(lsc_adapter *ad, const lsc_st_file *f, const char *path, lsc_error *err)
{
    found *fs = calloc(f->n_tensors + 1, sizeof *fs);
    size_t nf = 0;
    lsc_status st = LSC_OK;
    if (!fs)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < f->n_tensors && !st; i++) {
        const lsc_st_tensor *s = &f->tensors[i];
        size_t pl = 0, ti;
        long pos = 0;
        int w = split_key(s->name, &pl, &pos);
        if (w == 1 || w == 2)
            fs[nf++] = (found){s->name, i, pl, pos, w};
        st = lsc_adapter_add_tensor(ad, s->name, LSC_ROLE_EXTRA, -1, s->dtype, s->ndim, s->shape, NULL, &ti, err);
        if (!st)
            ad->tensors[ti].src = (int64_t)i;
    }
    if (!st)
        qsort(fs, nf, sizeof *fs, cmp_found);
    for (size_t k = 0; k < nf && !st; k++) {
        const char *key = f->tensors[fs[k].tensor].name;
        char name[ESC_CAP];
        snprintf(name, sizeof name, "%.*s:%ld", (int)(fs[k].part_len > 200 ? 200 : fs[k].part_len), key, fs[k].pos);
        int li = lsc_adapter_find_layer(ad, name);
        if (li < 0) {
            size_t nl;
            if ((st = lsc_adapter_add_layer(ad, name, &nl, err)))
                break;
            li = (int)nl;
            free(ad->layers[li].module_type);
            ad->layers[li].module_type = strndup(key, fs[k].part_len);
            ad->layers[li].layer_index = (int)fs[k].pos;
            if (!ad->layers[li].module_type)
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        }
        if (st)
            break;
        lsc_tensor *t = &ad->tensors[fs[k].tensor];
        int *slot = fs[k].what == 1 ? &ad->layers[li].ta : &ad->layers[li].tb;
        if (*slot >= 0) { /* "unet:7:down" and "unet:07:down" */
            st = lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "tensors '%s' and '%s' are the same factor of layer '%s'",
                                 esc(ad->tensors[*slot].key), esc(key), esc(name));
            break;
        }
        t->role = fs[k].what == 1 ? LSC_ROLE_A : LSC_ROLE_B;
        t->layer = li;
        *slot = (int)fs[k].tensor;
    }
    free(fs);
    if (!st && ad->n_layers == 0) {
        char pe[ESC_CAP];
        st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "no LoRA layers in '%s' (no <part>:<i>:up/down pair; %zu other "
                           "tensor%s)", lsc_escape_name(pe, sizeof pe, path), ad->n_tensors,
                           ad->n_tensors == 1 ? "" : "s");
    }
    return st;
}

/* Check each layer: both factors, a linear or conv pair of one rank, the `:rank` metadata agreeing. */
static lsc_status check_layers(lsc_adapter *ad, const lsc_st_file *f, const char *path, lsc_error *err)
{
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        if (l->ta < 0 || l->tb < 0)
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "tensor '%s' has no matching '%s:%s'",
                                   esc(ad->tensors[l->ta >= 0 ? l->ta : l->tb].key), esc(l->name),
                                   l->ta < 0 ? "down" : "up");
        const lsc_tensor *a = &ad->tensors[l->ta], *b = &ad->tensors[l->tb];
        lsc_status st = lsc_format_pair_shape(l, a, b, path, err);
        if (st)
            return st;
        if (!lsc_dtype_is_float(a->dtype) || !lsc_dtype_is_float(b->dtype))
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, NULL, "unsupported dtype %s in layer '%s'",
                                   lsc_dtype_name(lsc_dtype_is_float(a->dtype) ? b->dtype : a->dtype), esc(l->name));
        l->rule = LSC_SCALE_ALPHA_R;
        l->alpha = l->rank;
        l->scale = 1.0;
        char rk[ESC_CAP];
        snprintf(rk, sizeof rk, "%s:rank", l->name);
        const char *v = meta_get(f, rk);
        char *end = NULL;
        long r = v ? strtol(v, &end, 10) : l->rank;
        if (v && (end == v || *end != '\0' || r != l->rank))
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                                   "metadata '%s' is '%s' but the tensors have rank %d", esc(rk), esc(v), l->rank);
    }
    return LSC_OK;
}

/* Each part's metadata entry, when there is one, must be a JSON list (the trainer's target classes). */
static lsc_status check_parts(const lsc_adapter *ad, const lsc_st_file *f, const char *path, lsc_error *err)
{
    for (size_t li = 0; li < ad->n_layers; li++) {
        const char *v = meta_get(f, ad->layers[li].module_type);
        if (!v)
            continue;
        json_error_t je;
        json_t *j = json_loads(v, JSON_DECODE_ANY, &je);
        int ok = json_is_array(j);
        json_decref(j);
        if (!ok)
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                                   "metadata '%s' is not a JSON list of target modules", esc(ad->layers[li].module_type));
    }
    return LSC_OK;
}

lsc_status lsc_cloneofsimo_read(const char *path, lsc_adapter **out, lsc_error *err)
{
    lsc_st_file *f = NULL;
    *out = NULL;
    lsc_status st = lsc_st_open(path, &f, err);
    if (st)
        return st;
    lsc_adapter *ad;
    if ((st = lsc_st_adapter_new(f, &ad, err)))
        return st;
    st = lsc_st_adapter_describe(ad, f, "cloneofsimo", path, "", err);
    int varied = 0;
    if (!st && !(st = add_all(ad, f, path, err)) && !(st = check_layers(ad, f, path, err)) &&
        !(st = check_parts(ad, f, path, err))) {
        for (size_t li = 1; li < ad->n_layers; li++)
            varied |= ad->layers[li].rank != ad->layers[0].rank;
        st = lsc_adapter_set_kind(ad, varied ? LSC_KIND_LAYERWISE : LSC_KIND_STATIC, err);
    }
    if (st) {
        lsc_adapter_free(ad);
        return st;
    }
    *out = ad;
    return LSC_OK;
}

/* The source metadata with each layer's `:rank` set to its rank. */
static char *metadata_out(const lsc_adapter *ad)
{
    json_t *m = ad->metadata_json ? json_loads(ad->metadata_json, 0, NULL) : json_object();
    char *text = NULL;
    int bad = !m;
    for (size_t li = 0; !bad && li < ad->n_layers; li++) {
        char k[ESC_CAP], v[24];
        snprintf(k, sizeof k, "%s:rank", ad->layers[li].name);
        snprintf(v, sizeof v, "%d", ad->layers[li].rank);
        bad = json_object_set_new(m, k, json_string(v)) != 0;
    }
    if (!bad)
        text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(m);
    return text;
}

lsc_status lsc_cloneofsimo_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, lsc_error *err)
{
    if (!ad->format || strcmp(ad->format, "cloneofsimo") != 0)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "'%s' is a %s adapter: a cloneofsimo file names layers by "
                             "position in the trainer's walk of the model, which other formats do not give",
                             esc(ad->name ? ad->name : "adapter"), ad->format ? ad->format : "?");
    if (dtype != LSC_DT_INVALID && !lsc_dtype_is_float(dtype))
        return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "cannot write factors as %s: not a float dtype",
                               lsc_dtype_name(dtype));
    int intact = 1, folded = 0;
    for (size_t li = 0; li < ad->n_layers; li++)
        intact &= ad->layers[li].scale == 1.0;
    if (dtype == LSC_DT_INVALID && intact && ad->header_json && lsc_st_header_reusable(ad))
        return lsc_samekeys_write_verbatim(ad, path, err);
    double *bm = malloc((ad->n_layers + 1) * sizeof *bm);
    char *meta = metadata_out(ad);
    lsc_status st = LSC_OK;
    if (!bm || !meta)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t li = 0; !st && li < ad->n_layers; li++) {
        bm[li] = ad->layers[li].scale;
        folded += bm[li] != 1.0;
    }
    if (!st)
        st = lsc_samekeys_write_json(ad, path, dtype, bm, NULL, meta, err);
    if (!st && folded)
        lsc_adapter_warn(ad, "%d layer%s: the scale is folded into the up factor (the format has no alpha)", folded,
                         folded == 1 ? "" : "s");
    free(meta);
    free(bm);
    return st;
}
