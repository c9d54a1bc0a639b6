/* store/kohya.c: kohya sd-scripts LoRA files in and out (see kohya.h for the mapping and the rules).
 *
 * A kohya LoRA is one safetensors file: per module lora_down (A), lora_up (B) and a scalar alpha, plus
 * the trainer's ss_* metadata. Reading classifies every tensor, refuses LyCORIS factor names before
 * anything is misread as a pair, reads the alpha scalars at once and leaves the factors in the file for
 * the loader. Writing reuses the source header verbatim when nothing changed, else lays out a canonical
 * file and updates the metadata the way kohya's own resize script does.
 * Depends on store/safetensors, store/samekeys (the verbatim copy), engine/ (types, dtypes, the factor
 * view) and jansson; never on SQLite or curses.
 */
#include "kohya.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format_util.h"
#include "lycoris_io.h"
#include "lycoris_layer.h"
#include "safetensors.h"
#include "samekeys.h"

#define ESC_CAP 320
#define SUF_DOWN ".lora_down.weight"
#define SUF_UP ".lora_up.weight"
#define SUF_ALPHA ".alpha"

/* Escaped copy of a name for a message (format_util's rotating buffers). */
#define esc lsc_format_esc

static int64_t numel(const lsc_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* ---- names ----------------------------------------------------------------------------------------- */

static const char *const known_suffixes[] = {
    "ff_net_0_proj", "ff_net_2", "to_out_0", "conv_shortcut", "time_emb_proj", "proj_in", "proj_out",
    "q_proj", "k_proj", "v_proj", "o_proj", "out_proj", "gate_proj", "up_proj", "down_proj",
    "to_q", "to_k", "to_v", "fc1", "fc2", "conv1", "conv2", "qkv", "linear1", "linear2",
};

static char *module_type_of(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof known_suffixes / sizeof known_suffixes[0]; i++) {
        size_t k = strlen(known_suffixes[i]);
        if (n > k && name[n - k - 1] == '_' && strcmp(name + n - k, known_suffixes[i]) == 0)
            return strdup(known_suffixes[i]);
    }
    /* last '_' part; a bare number takes the part before it too ("to_out_0") */
    const char *u = strrchr(name, '_');
    if (!u)
        return strdup(name);
    const char *p = u + 1;
    int digits = *p != '\0';
    for (const char *q = p; *q; q++)
        digits &= *q >= '0' && *q <= '9';
    if (digits && u > name) {
        const char *v = u - 1;
        while (v > name && *v != '_')
            v--;
        if (*v == '_')
            p = v + 1;
    }
    return strdup(p);
}

/* First number after "layers_" or "blocks_" (a whole word). */
static int block_index(const char *name)
{
    static const char *const words[] = {"layers_", "blocks_"};
    const char *best = NULL;
    for (size_t w = 0; w < 2; w++) {
        const char *p = name;
        while ((p = strstr(p, words[w])) != NULL) {
            const char *q = p + strlen(words[w]);
            if (*q >= '0' && *q <= '9') {
                if (!best || q < best)
                    best = q;
                break;
            }
            p++;
        }
    }
    if (!best)
        return -1;
    long v = 0;
    while (*best >= '0' && *best <= '9' && v < 100000000L)
        v = v * 10 + (*best++ - '0');
    return (int)v;
}

int lsc_kohya_map_name(const char *layer_name, const char *format, int has_te2, char *out, size_t cap)
{
    if (format && strcmp(format, "kohya") == 0) {
        int n = snprintf(out, cap, "%s", layer_name);
        return n >= 0 && (size_t)n < cap ? 0 : -1;
    }
    const char *p = layer_name;
    if (strncmp(p, "base_model.model.", 17) == 0)
        p += 17;
    const char *prefix = "lora_te_";
    if (strncmp(p, "unet.", 5) == 0) {
        prefix = "lora_unet_";
        p += 5;
    } else if (strncmp(p, "transformer.", 12) == 0) {
        prefix = "lora_unet_";
        p += 12;
    } else if (strncmp(p, "text_encoder_2.", 15) == 0) {
        prefix = "lora_te2_";
        p += 15;
    } else if (strncmp(p, "text_encoder.", 13) == 0) {
        prefix = has_te2 ? "lora_te1_" : "lora_te_";
        p += 13;
    }
    size_t n = strlen(p);
    if (lsc_format_ends_with(p, ".weight"))
        n -= 7; /* GGUF base tensor names */
    size_t pl = strlen(prefix);
    if (pl + n + 1 > cap)
        return -1;
    memcpy(out, prefix, pl);
    for (size_t i = 0; i < n; i++)
        out[pl + i] = p[i] == '.' ? '_' : p[i];
    out[pl + n] = '\0';
    return 0;
}

/* ---- reading --------------------------------------------------------------------------------------- */

static const char *meta_get(const lsc_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

static int contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; s && *s; s++)
        if (strncasecmp(s, needle, n) == 0)
            return 1;
    return 0;
}

/* Module name of a factor/alpha key, or NULL (and *kind 0) for anything else. kind: 1 down, 2 up, 3 alpha. */
static size_t module_len(const char *key, int *kind)
{
    size_t n = strlen(key);
    *kind = 0;
    if (lsc_format_ends_with(key, SUF_DOWN)) {
        *kind = 1;
        return n - strlen(SUF_DOWN);
    }
    if (lsc_format_ends_with(key, SUF_UP)) {
        *kind = 2;
        return n - strlen(SUF_UP);
    }
    if (lsc_format_ends_with(key, SUF_ALPHA)) {
        *kind = 3;
        return n - strlen(SUF_ALPHA);
    }
    return 0;
}

static long find_with(const lsc_st_file *f, const char *module, size_t mlen, const char *suffix)
{
    size_t sl = strlen(suffix);
    char *k = malloc(mlen + sl + 1);
    if (!k)
        return -2;
    memcpy(k, module, mlen);
    memcpy(k + mlen, suffix, sl + 1);
    long i = lsc_st_find(f, k);
    free(k);
    return i;
}

/* Create the layer of module name[0..ml) (with its module type and block number); its index in *li. */
static lsc_status new_layer(lsc_adapter *ad, const char *name, size_t ml, int *li, lsc_error *err)
{
    char *module = strndup(name, ml);
    size_t idx;
    if (!module)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_status st = lsc_adapter_add_layer(ad, module, &idx, err);
    if (!st) {
        lsc_layer *l = &ad->layers[idx];
        free(l->module_type);
        l->module_type = module_type_of(module);
        l->layer_index = block_index(module);
        if (!l->module_type)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    free(module);
    if (!st)
        *li = (int)idx;
    return st;
}

/* The layer of module name[0..ml): the one already made for it (by a dora_scale, an alpha or a LyCORIS
 * factor seen first), else a new one. */
static lsc_status layer_for(lsc_adapter *ad, const char *name, size_t ml, int *li, lsc_error *err)
{
    char *module = strndup(name, ml);
    if (!module)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    int at = lsc_adapter_find_layer(ad, module);
    free(module);
    if (at >= 0) {
        *li = at;
        return LSC_OK;
    }
    return new_layer(ad, name, ml, li, err);
}

/* Tensor i of file: its role and layer (a layer is created at the first of its down/up tensors, and
 * layer_of[] remembers it for the other). A down or up without its pair is an error; an alpha of nothing
 * is an extra. */
static lsc_status classify_tensor(lsc_adapter *ad, const lsc_st_file *file, size_t i, int *layer_of, const char *path,
                                  lsc_role *role, int *li, lsc_error *err)
{
    const lsc_st_tensor *s = &file->tensors[i];
    int kind;
    lsc_status lst = LSC_OK;
    *role = LSC_ROLE_EXTRA;
    *li = -1;
    int lyc = lsc_lycoris_io_classify(ad, file, i, layer_for, role, li, &lst, err);
    if (lyc)
        return lyc < 0 ? lst : LSC_OK;
    size_t ml = module_len(s->name, &kind);
    if (!kind)
        return LSC_OK;
    long down = kind == 1 ? (long)i : find_with(file, s->name, ml, SUF_DOWN);
    long up = kind == 2 ? (long)i : find_with(file, s->name, ml, SUF_UP);
    if (down == -2 || up == -2)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (kind == 3 && down < 0 && up < 0)
        return LSC_OK; /* an alpha of nothing: an extra */
    if (down < 0 || up < 0) {
        char want[ESC_CAP];
        snprintf(want, sizeof want, "%.*s%s", (int)(ml > 200 ? 200 : ml), s->name, down < 0 ? SUF_DOWN : SUF_UP);
        return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "tensor '%s' has no matching '%s'",
                               esc(file->tensors[down < 0 ? up : down].name), esc(want));
    }
    long first = down < up ? down : up;
    if (layer_of[first] >= 0) {
        *li = layer_of[first];
    } else {
        lsc_status st = layer_for(ad, s->name, ml, li, err);
        if (st)
            return st;
        layer_of[down] = layer_of[up] = *li;
    }
    *role = kind == 1 ? LSC_ROLE_A : kind == 2 ? LSC_ROLE_B : LSC_ROLE_ALPHA;
    return LSC_OK;
}

/* Every tensor of file into ad, in data order, with its role and layer; at least one layer. */
static lsc_status classify_tensors(lsc_adapter *ad, const lsc_st_file *file, const char *path, lsc_error *err)
{
    lsc_status st = LSC_OK;
    int *layer_of = malloc((file->n_tensors ? file->n_tensors : 1) * sizeof *layer_of);
    if (!layer_of)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < file->n_tensors; i++)
        layer_of[i] = -1;
    for (size_t i = 0; i < file->n_tensors && !st; i++) {
        const lsc_st_tensor *s = &file->tensors[i];
        lsc_role role;
        int li;
        size_t ti;
        if ((st = classify_tensor(ad, file, i, layer_of, path, &role, &li, err)) ||
            (st = lsc_adapter_add_tensor(ad, s->name, role, li, s->dtype, s->ndim, s->shape, NULL, &ti, err)))
            break;
        ad->tensors[ti].src = (int64_t)i;
        if (li >= 0) {
            lsc_layer *l = &ad->layers[li];
            if (role == LSC_ROLE_A)
                l->ta = (int)ti;
            else if (role == LSC_ROLE_B)
                l->tb = (int)ti;
            else if (role == LSC_ROLE_MAGNITUDE)
                l->tm = (int)ti;
        }
    }
    free(layer_of);
    if (!st && ad->n_layers == 0) {
        char pe[ESC_CAP];
        st = lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                           "no LoRA layers in '%s' (no lora_down/lora_up pair; %zu other tensor%s)",
                           lsc_escape_name(pe, sizeof pe, path), ad->n_tensors, ad->n_tensors == 1 ? "" : "s");
    }
    return st;
}

/* Read every alpha scalar (loaded at once, through the file) into its layer. */
static lsc_status read_alphas(lsc_adapter *ad, const char *path, lsc_error *err)
{
    for (size_t ti = 0; ti < ad->n_tensors; ti++) {
        lsc_tensor *t = &ad->tensors[ti];
        if (t->role != LSC_ROLE_ALPHA)
            continue;
        if (numel(t) != 1)
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, t->key, "alpha must be a scalar (%" PRId64 " elements)",
                                   numel(t));
        lsc_status st = lsc_adapter_load_tensor(ad, ti, err);
        if (st)
            return st;
        double a;
        if (lsc_dtype_scalar_to_double(t->dtype, t->data, &a) != LSC_OK || !isfinite(a))
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, t->key, "alpha is not a finite number (dtype %s)",
                                   lsc_dtype_name(t->dtype));
        ad->layers[t->layer].alpha = a;
    }
    return LSC_OK;
}

/* Check each layer's pair of shapes and set its rank, size, alpha and scale; *varied is 1 when layers
 * differ in rank or alpha. */
static lsc_status shape_layers(lsc_adapter *ad, const char *path, int *varied, lsc_error *err)
{
    int rank0 = -1;
    double alpha0 = 0;
    *varied = 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        if ((l->flags & LSC_LAYER_LYCORIS) || l->ta < 0 || l->tb < 0)
            continue; /* lsc_lycoris_io_finish: LyCORIS layers, and a dora_scale without factors */
        lsc_status st = lsc_format_pair_shape(l, &ad->tensors[l->ta], &ad->tensors[l->tb], path, err);
        if (st)
            return st;
        if (l->alpha == 0)
            l->alpha = l->rank; /* kohya: missing or zero alpha means no scaling */
        l->rule = LSC_SCALE_ALPHA_R;
        l->scale = lsc_scale_compute(LSC_SCALE_ALPHA_R, l->alpha, l->rank, 0, 0);
        if (rank0 < 0) {
            rank0 = l->rank;
            alpha0 = l->alpha;
        } else if (l->rank != rank0 || l->alpha != alpha0) {
            *varied = 1;
        }
    }
    return LSC_OK;
}

/* Format, source, header, base model and metadata of the file (ad takes them over as copies). */
static lsc_status describe_file(lsc_adapter *ad, const lsc_st_file *file, const char *path, lsc_error *err)
{
    const char *bm = meta_get(file, "ss_sd_model_name");
    if (!bm)
        bm = meta_get(file, "ss_base_model_version");
    return lsc_st_adapter_describe(ad, file, "kohya", path, bm ? bm : "", err);
}

lsc_status lsc_kohya_read(const char *path, lsc_adapter **out, lsc_error *err)
{
    lsc_status st = LSC_OK;
    lsc_st_file *f = NULL;
    lsc_adapter *ad = NULL;
    *out = NULL;

    if ((st = lsc_st_open(path, &f, err)))
        goto done;
    if ((st = lsc_lycoris_io_refuse(f, path, err)))
        goto done;
    /* the adapter owns the open file from here on (alphas are loaded through it below) */
    lsc_st_file *file = f;
    f = NULL;
    if ((st = lsc_st_adapter_new(file, &ad, err)))
        goto done;
    int varied;
    if ((st = describe_file(ad, file, path, err)) || (st = classify_tensors(ad, file, path, err)) ||
        (st = read_alphas(ad, path, err)) || (st = shape_layers(ad, path, &varied, err)))
        goto done;
    const char *mod = meta_get(file, "ss_network_module"), *args = meta_get(file, "ss_network_args");
    int dylora = contains_ci(mod, "dylora") || (args && strstr(args, "\"unit\""));
    lsc_kind kind = dylora ? LSC_KIND_DYNAMIC : varied ? LSC_KIND_LAYERWISE : LSC_KIND_STATIC;
    if ((st = lsc_lycoris_io_finish(ad, file, path, &kind, err)) || (st = lsc_adapter_set_kind(ad, kind, err)))
        goto done;
    if (dylora && varied)
        lsc_adapter_warn(ad, "'%s': DyLoRA file whose layers differ in rank or alpha", path);
    *out = ad;
    ad = NULL;
done:
    lsc_adapter_free(ad);
    lsc_st_close(f);
    return st;
}

/* ---- writing --------------------------------------------------------------------------------------- */

/* Alpha tensor index of layer li, -1 if none. */
static int is_alpha_of(const lsc_adapter *ad, long i, size_t li)
{
    return i >= 0 && (size_t)i < ad->n_tensors && ad->tensors[i].role == LSC_ROLE_ALPHA && ad->tensors[i].layer == (int)li;
}

/* Layer li's alpha tensor, -1 if none. A kohya file keeps a module's alpha beside its down and up tensors,
 * so the neighbours of those are looked at first: export asks this per layer, and a scan of every tensor
 * each time made it quadratic in the layers. Any other order (or no alpha) falls back to the scan. */
static int alpha_of(const lsc_adapter *ad, size_t li)
{
    const lsc_layer *l = &ad->layers[li];
    for (int k = 0; k < 2; k++) {
        long at = k ? l->tb : l->ta;
        for (long d = -3; at >= 0 && d <= 3; d++)
            if (is_alpha_of(ad, at + d, li))
                return (int)(at + d);
    }
    for (size_t i = 0; i < ad->n_tensors; i++)
        if (is_alpha_of(ad, (long)i, li))
            return (int)i;
    return -1;
}

/* The value an alpha tensor holds, NAN if it cannot be read. */
static double alpha_value(lsc_adapter *ad, int ti)
{
    lsc_error e;
    double a;
    if (lsc_adapter_load_tensor(ad, (size_t)ti, &e) != LSC_OK ||
        lsc_dtype_scalar_to_double(ad->tensors[ti].dtype, ad->tensors[ti].data, &a) != LSC_OK)
        return NAN;
    return a;
}

/* Does layer li still mean what its alpha tensor (or its absence) says? */
static int layer_alpha_intact(lsc_adapter *ad, size_t li, int ta)
{
    const lsc_layer *l = &ad->layers[li];
    if (l->flags & LSC_LAYER_LYCORIS)
        return lsc_lycoris_io_scale_intact(ad, li, ta < 0 ? 0.0 : alpha_value(ad, ta));
    if (ta < 0)
        return l->scale == 1.0;
    double a = alpha_value(ad, ta);
    if (a == 0)
        a = l->rank;
    return l->scale == lsc_scale_compute(LSC_SCALE_ALPHA_R, a, l->rank, 0, 0);
}

/* Can the source header be reused verbatim? Same tensor names, dtypes, shapes, order and metadata, and
 * every layer's scale still the one its alpha tensor gives. */
static int header_reusable(lsc_adapter *ad)
{
    if (!ad->format || strcmp(ad->format, "kohya") != 0 || !lsc_st_header_reusable(ad))
        return 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        int lyc = (ad->layers[li].flags & LSC_LAYER_LYCORIS) != 0;
        if ((!lyc && ad->layers[li].rule != LSC_SCALE_ALPHA_R) || !layer_alpha_intact(ad, li, alpha_of(ad, li)))
            return 0;
    }
    return 1;
}

/* Python's repr of a float for ss_network_alpha ("8.0", "0.5", "1e-05"): the shortest %g that reads back. */
static void py_float(char *buf, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e16) {
        snprintf(buf, cap, "%.1f", v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

typedef struct kout {
    char *name;
    int tensor;     /* source tensor to copy (converted to dtype), -1: computed */
    int layer;
    int what;       /* 0 copy, 1 A from the factor view, 2 B from the factor view, 3 new alpha */
    lsc_dtype dtype;
    int ndim;
    int64_t shape[LSC_MAX_NDIM];
    double alpha;
} kout;

/* Metadata for the canonical file: the adapter's ss_* entries (strings) with dim/alpha updated. */
static lsc_status build_metadata(lsc_adapter *ad, json_t **holder, const char ***keys, const char ***vals,
                                 size_t *n, lsc_error *err)
{
    json_t *o = NULL;
    if (ad->metadata_json && ad->format && strcmp(ad->format, "gguf") != 0) {
        json_error_t je;
        o = json_loads(ad->metadata_json, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(o)) {
            json_decref(o);
            return lsc_error_set(err, LSC_ERR_INVALID, "adapter metadata is not a JSON object");
        }
    } else {
        o = json_object();
        if (!o)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    int uni_rank = 1, uni_alpha = 1;
    for (size_t li = 1; li < ad->n_layers; li++) {
        uni_rank &= ad->layers[li].rank == ad->layers[0].rank;
        uni_alpha &= ad->layers[li].scale * ad->layers[li].rank == ad->layers[0].scale * ad->layers[0].rank;
    }
    char dim[32], alpha[48];
    snprintf(dim, sizeof dim, "%d", ad->n_layers ? ad->layers[0].rank : 0);
    py_float(alpha, sizeof alpha, ad->n_layers ? (double)(float)(ad->layers[0].scale * ad->layers[0].rank) : 0.0);
    if (!json_object_get(o, "ss_network_module"))
        json_object_set_new(o, "ss_network_module", json_string("networks.lora"));
    int lycoris = 0; /* LyCORIS factors written as stored: their lora_dim / alpha metadata still holds */
    for (size_t li = 0; li < ad->n_layers; li++)
        lycoris |= (ad->layers[li].flags & LSC_LAYER_LYCORIS) != 0;
    if (!lycoris) {
        json_object_set_new(o, "ss_network_dim", json_string(uni_rank && uni_alpha ? dim : "Dynamic"));
        json_object_set_new(o, "ss_network_alpha", json_string(uni_rank && uni_alpha ? alpha : "Dynamic"));
    }
    json_object_del(o, "sshs_model_hash");
    json_object_del(o, "sshs_legacy_hash");
    lsc_status st = lsc_st_meta_arrays(o, 0, keys, vals, n, err);
    if (st) {
        json_decref(o);
        return st;
    }
    *holder = o;
    return LSC_OK;
}

/* Where a writer reports values a conversion flushed to zero or rounded to subnormals: warnings on the
 * adapter (its caller shows them), by name for the first few tensors, then counted. */
typedef struct loss_log {
    lsc_adapter *ad;
    int count;
} loss_log;

static lsc_status put_doubles(lsc_st_writer *w, lsc_dtype to, const double *v, size_t n, const char *name,
                              unsigned char **buf, const char *path, loss_log *log, lsc_error *err)
{
    size_t nb = n * lsc_dtype_size(to);
    lsc_narrowing loss;
    unsigned char *p = realloc(*buf, nb ? nb : 1);
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory writing tensor '%s'", esc(name));
    *buf = p;
    if (lsc_dtype_from_double_loss(to, v, n, p, &loss) != LSC_OK)
        return lsc_format_fail(err, LSC_ERR_INVALID, path, name, "cannot write as %s", lsc_dtype_name(to));
    if (loss.overflows)
        return lsc_format_fail(err, LSC_ERR_NUMERIC, path, name, "%zu values overflow %s", loss.overflows,
                               lsc_dtype_name(to));
    lsc_format_warn_loss(log->ad, &log->count, name, &loss, n, to);
    return lsc_st_writer_put(w, p, nb, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Layer li's lora_down and lora_up outputs under module name mod (AdaLoRA's A * E computed). */
static lsc_status plan_pair(const lsc_adapter *ad, size_t li, const char *mod, lsc_dtype dtype, kout *outs,
                            size_t *no, lsc_error *err)
{
    const lsc_layer *l = &ad->layers[li];
    const lsc_tensor *ta = &ad->tensors[l->ta], *tb = &ad->tensors[l->tb];
    for (int k = 0; k < 2; k++) {
        kout *o = &outs[(*no)++];
        const lsc_tensor *src = k ? tb : ta;
        size_t len = strlen(mod) + 20;
        o->name = malloc(len);
        if (!o->name)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        snprintf(o->name, len, "%s%s", mod, k ? SUF_UP : SUF_DOWN);
        o->layer = (int)li;
        o->dtype = dtype != LSC_DT_INVALID && lsc_dtype_is_float(src->dtype) ? dtype : src->dtype;
        o->ndim = src->ndim;
        memcpy(o->shape, src->shape, sizeof o->shape);
        if (!k && l->te >= 0) {
            o->tensor = -1; /* AdaLoRA: A * E from the factor view */
            o->what = 1;
        } else {
            o->tensor = (int)(src - ad->tensors);
        }
    }
    return LSC_OK;
}

/* Layer li's alpha output: the kohya source's tensor when it still gives the scale, else an F32
 * alpha = scale * r. */
static lsc_status plan_alpha(lsc_adapter *ad, size_t li, const char *mod, kout *outs, size_t *no, lsc_error *err)
{
    const lsc_layer *l = &ad->layers[li];
    int from_kohya = ad->format && strcmp(ad->format, "kohya") == 0;
    int ta_alpha = from_kohya ? alpha_of(ad, li) : -1;
    if (from_kohya && l->rule == LSC_SCALE_ALPHA_R && layer_alpha_intact(ad, li, ta_alpha)) {
        if (ta_alpha >= 0) {
            kout *o = &outs[(*no)++];
            o->name = strdup(ad->tensors[ta_alpha].key);
            o->tensor = ta_alpha;
            o->layer = (int)li;
            o->dtype = ad->tensors[ta_alpha].dtype;
            o->ndim = ad->tensors[ta_alpha].ndim;
            memcpy(o->shape, ad->tensors[ta_alpha].shape, sizeof o->shape);
            if (!o->name)
                return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        }
        return LSC_OK;
    }
    kout *o = &outs[(*no)++];
    size_t len = strlen(mod) + 8;
    o->name = malloc(len);
    if (!o->name)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    snprintf(o->name, len, "%s%s", mod, SUF_ALPHA);
    o->tensor = -1;
    o->layer = (int)li;
    o->what = 3;
    o->dtype = LSC_DT_F32;
    o->ndim = 0;
    o->alpha = l->scale * l->rank;
    return LSC_OK;
}

/* Tensor i copied under its own key as an output of `layer` (-1: an extra), a float one converted to dtype. */
static lsc_status plan_copy(const lsc_adapter *ad, size_t i, int layer, lsc_dtype dtype, kout *outs, size_t *no,
                            lsc_error *err)
{
    const lsc_tensor *t = &ad->tensors[i];
    kout *o = &outs[(*no)++];
    o->name = strdup(t->key);
    if (!o->name)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    o->tensor = (int)i;
    o->layer = layer;
    o->dtype = dtype != LSC_DT_INVALID && lsc_dtype_is_float(t->dtype) ? dtype : t->dtype;
    o->ndim = t->ndim;
    memcpy(o->shape, t->shape, sizeof o->shape);
    return LSC_OK;
}

/* Copies of layer li's tensors under their own keys: only tensor `only` when >= 0, else every one of the
 * layer's (a LyCORIS layer's factors, alpha and dora_scale), float ones converted to dtype. */
static lsc_status plan_copies(lsc_adapter *ad, size_t li, int only, lsc_dtype dtype, kout *outs, size_t *no,
                              lsc_error *err)
{
    lsc_status st;
    for (size_t i = 0; i < ad->n_tensors; i++) {
        if (only >= 0 ? (int)i != only : ad->tensors[i].layer != (int)li)
            continue;
        if ((st = plan_copy(ad, i, (int)li, dtype, outs, no, err)))
            return st;
    }
    return LSC_OK;
}

/* Every output of the canonical file into outs (room for n_tensors + 3 * n_layers): the layers first
 * (down, up, alpha), then the extras in their order. */
static lsc_status plan_outputs(lsc_adapter *ad, const char *path, lsc_dtype dtype, kout *outs, size_t *no,
                               lsc_error *err)
{
    lsc_status st;
    int has_te2 = 0;
    for (size_t li = 0; li < ad->n_layers; li++)
        has_te2 |= strstr(ad->layers[li].name, "text_encoder_2.") != NULL;
    int from_kohya = ad->format && strcmp(ad->format, "kohya") == 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        if (from_kohya && (l->flags & LSC_LAYER_LYCORIS)) {
            /* LyCORIS factors (and their alpha and dora_scale) as stored */
            if ((st = plan_copies(ad, li, -1, dtype, outs, no, err)))
                return st;
            continue;
        }
        unsigned dora = from_kohya ? 0u : LSC_LAYER_DORA; /* a kohya dora_scale is copied; PEFT's is another axis */
        if (l->flags & (dora | LSC_LAYER_EMBEDDING | LSC_LAYER_FAN_IN_FAN_OUT))
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, NULL, "layer '%s': %s has no kohya LoRA form",
                                   esc(l->name),
                                   l->flags & LSC_LAYER_DORA        ? "DoRA"
                                   : l->flags & LSC_LAYER_EMBEDDING ? "an embedding"
                                                                    : "fan_in_fan_out");
        if (l->ta < 0 || l->tb < 0)
            return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "layer '%s' has no %s", esc(l->name),
                                   l->ta < 0 ? "A" : "B");
        char mod[1024];
        if (lsc_kohya_map_name(l->name, ad->format, has_te2, mod, sizeof mod) != 0)
            return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "layer '%s': name too long", esc(l->name));
        if ((st = plan_pair(ad, li, mod, dtype, outs, no, err)) || (st = plan_alpha(ad, li, mod, outs, no, err)) ||
            (l->tm >= 0 && (st = plan_copies(ad, li, l->tm, dtype, outs, no, err))))
            return st;
    }
    for (size_t i = 0; i < ad->n_tensors; i++) {
        if (ad->tensors[i].role == LSC_ROLE_EXTRA && (st = plan_copy(ad, i, -1, dtype, outs, no, err)))
            return st;
    }
    return LSC_OK;
}

/* Names must stay unique after mapping. */
static lsc_status check_unique(const kout *outs, size_t no, const char *path, lsc_error *err)
{
    lsc_status st = LSC_OK;
    const char **names = malloc((no ? no : 1) * sizeof *names);
    if (!names)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < no; i++)
        names[i] = outs[i].name;
    qsort(names, no, sizeof *names, cmp_str);
    for (size_t i = 1; i < no; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            st = lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "two tensors would both be named '%s'",
                                 esc(names[i]));
            break;
        }
    free(names);
    return st;
}

/* The buffers a canonical write reuses from tensor to tensor. */
typedef struct kbufs {
    double *bb, *ab, *dbl;
    size_t bcap, acap;
    unsigned char *conv;
    int cached; /* layer whose factor view is in bb/ab */
    loss_log log;
} kbufs;

/* One output's bytes: a new alpha, A * E from the factor view, or a source tensor (converted if its
 * dtype changes; loaded for the write only). */
static lsc_status put_output(lsc_adapter *ad, lsc_st_writer *w, const kout *o, kbufs *b, const char *path,
                             lsc_error *err)
{
    lsc_status st;
    if (o->what == 3)
        return put_doubles(w, LSC_DT_F32, &o->alpha, 1, o->name, &b->conv, path, &b->log, err);
    if (o->what == 1) {
        lsc_lowrank lr;
        if (b->cached != o->layer) {
            if ((st = lsc_adapter_factors(ad, (size_t)o->layer, &b->bb, &b->bcap, &b->ab, &b->acap, &lr, err)))
                return st;
            b->cached = o->layer;
        }
        size_t n = 1;
        for (int d = 0; d < o->ndim; d++)
            n *= (size_t)o->shape[d];
        return put_doubles(w, lsc_dtype_is_float(o->dtype) ? o->dtype : LSC_DT_F32, b->ab, n, o->name, &b->conv,
                           path, &b->log, err);
    }
    lsc_tensor *t = &ad->tensors[o->tensor];
    int was = t->data != NULL;
    if ((st = lsc_adapter_load_tensor(ad, (size_t)o->tensor, err)))
        return st;
    if (o->dtype == t->dtype) {
        st = lsc_st_writer_put(w, t->data, t->nbytes, err);
    } else {
        size_t n = (size_t)numel(t);
        double *d = realloc(b->dbl, (n ? n : 1) * sizeof *d);
        if (!d)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        b->dbl = d;
        if (lsc_dtype_to_double(t->dtype, t->data, n, b->dbl) != LSC_OK)
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, NULL, "unsupported dtype %s in tensor '%s'",
                                   lsc_dtype_name(t->dtype), esc(t->key));
        st = put_doubles(w, o->dtype, b->dbl, n, o->name, &b->conv, path, &b->log, err);
    }
    if (st)
        return st;
    if (!was)
        lsc_adapter_unload_tensor(ad, (size_t)o->tensor);
    return LSC_OK;
}

lsc_status lsc_kohya_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, lsc_error *err)
{
    if (dtype != LSC_DT_INVALID && !lsc_dtype_is_float(dtype))
        return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "cannot write factors as %s: not a float dtype",
                               lsc_dtype_name(dtype));
    if (dtype == LSC_DT_INVALID && header_reusable(ad))
        return lsc_samekeys_write_verbatim(ad, path, err);

    lsc_status st = LSC_OK;
    lsc_st_writer *w = NULL;
    lsc_st_out *so = NULL;
    size_t no = 0;
    json_t *meta = NULL;
    const char **mk = NULL, **mv = NULL;
    size_t nm = 0;
    kbufs b = {.cached = -1, .log = {ad, 0}};
    kout *outs = calloc(ad->n_tensors + 3 * ad->n_layers + 1, sizeof *outs);
    if (!outs) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = plan_outputs(ad, path, dtype, outs, &no, err)))
        goto done;
    so = calloc(no ? no : 1, sizeof *so);
    if (!so) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = check_unique(outs, no, path, err)))
        goto done;
    for (size_t i = 0; i < no; i++) {
        so[i].name = outs[i].name;
        so[i].dtype = outs[i].dtype;
        so[i].ndim = outs[i].ndim;
        so[i].shape = outs[i].shape;
    }
    if ((st = build_metadata(ad, &meta, &mk, &mv, &nm, err)) ||
        (st = lsc_st_writer_begin(path, so, no, mk, mv, nm, &w, err)))
        goto done;
    for (size_t i = 0; i < no; i++)
        if ((st = put_output(ad, w, &outs[i], &b, path, err)))
            goto done;
    lsc_format_warn_loss_total(ad, b.log.count);
    st = lsc_st_writer_finish(w, err);
    w = NULL;
done:
    lsc_st_writer_abort(w);
    for (size_t i = 0; outs && i < no; i++)
        free(outs[i].name);
    free(outs);
    free(so);
    free(mk);
    free(mv);
    json_decref(meta);
    free(b.bb);
    free(b.ab);
    free(b.dbl);
    free(b.conv);
    return st;
}
