/* store/lycoris_io.c: LyCORIS tensors in kohya-style files (see lycoris_io.h). Classifies factor, dora_scale
 * and alpha tensors for the kohya reader, checks and shapes the layers through engine/lycoris_layer, and
 * refuses the LyCORIS algorithms lorascope does not model by name. Depends on store/safetensors, engine/
 * and jansson; never on SQLite or curses. */
#include "lycoris_io.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format_util.h"
#include "lycoris_layer.h"

#define SUF_DORA ".dora_scale"
#define SUF_ALPHA ".alpha"

/* LyCORIS algorithms with no low-rank form here, by a tensor suffix each of them always has. */
static const struct {
    const char *suffix, *what;
} unsupported[] = {
    {".on_input", "(IA)\xc2\xb3"}, {".oft_blocks", "OFT/BOFT"}, {".oft_diag", "OFT"},
    {".a1.weight", "GLoRA"},       {".a2.weight", "GLoRA"},     {".b1.weight", "GLoRA"},
    {".b2.weight", "GLoRA"},       {".diff", "full (diff)"},    {".diff_b", "full (diff)"},
    {".w_norm", "norm"},           {".b_norm", "norm"},
};

static const char *esc(char *buf, size_t cap, const char *s)
{
    return lsc_escape_name(buf, cap, s);
}

lsc_status lsc_lycoris_io_refuse(const lsc_st_file *f, const char *path, lsc_error *err)
{
    char e1[LSC_FORMAT_ESC_CAP], e2[LSC_FORMAT_ESC_CAP];
    for (size_t i = 0; i < f->n_tensors; i++) {
        const char *key = f->tensors[i].name;
        size_t n = strlen(key);
        for (size_t u = 0; u < sizeof unsupported / sizeof unsupported[0]; u++) {
            size_t k = strlen(unsupported[u].suffix);
            if (n > k && memcmp(key + n - k, unsupported[u].suffix, k) == 0) {
                char mod[LSC_FORMAT_ESC_CAP];
                snprintf(mod, sizeof mod, "%.*s", (int)(n - k > 200 ? 200 : n - k), key);
                return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, NULL,
                                       "LyCORIS %s layer '%s' (tensor '%s'): not supported", unsupported[u].what,
                                       esc(e1, sizeof e1, mod), esc(e2, sizeof e2, key));
            }
        }
        if ((strstr(key, ".hada_") || strstr(key, ".lokr_")) && lsc_lycoris_layer_part_of(key, NULL) < 0)
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, key, "unknown LyCORIS LoHa/LoKr tensor: not supported");
    }
    return LSC_OK;
}

/* Is there a tensor module[0..ml) + suffix in f? */
static int has_key(const lsc_st_file *f, const char *module, size_t ml, const char *suffix)
{
    char buf[2048];
    size_t sl = strlen(suffix);
    if (ml + sl + 1 > sizeof buf)
        return 0;
    memcpy(buf, module, ml);
    memcpy(buf + ml, suffix, sl + 1);
    return lsc_st_find(f, buf) >= 0;
}

/* Does module[0..ml) have LoHa, LoKr or Tucker-core tensors in f? */
static int has_lycoris(const lsc_st_file *f, const char *module, size_t ml)
{
    for (int p = 0; p < LSC_LYC_PART_COUNT; p++)
        if ((lsc_lycoris_layer_family(p) != LSC_LAYER_TUCKER || p == LSC_LYC_LORA_MID) &&
            has_key(f, module, ml, lsc_lycoris_layer_suffix(p)))
            return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix, size_t *ml)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n <= k || memcmp(s + n - k, suffix, k) != 0)
        return 0;
    *ml = n - k;
    return 1;
}

int lsc_lycoris_io_classify(lsc_adapter *ad, const lsc_st_file *f, size_t i, lsc_lycoris_layer_fn layer_for,
                            lsc_role *role, int *li, lsc_status *st, lsc_error *err)
{
    const char *key = f->tensors[i].name;
    size_t ml = 0;
    unsigned flag = 0;
    int p = lsc_lycoris_layer_part_of(key, &ml);
    if (p >= 0 && lsc_lycoris_layer_family(p) == LSC_LAYER_TUCKER && p != LSC_LYC_LORA_MID &&
        !has_key(f, key, ml, lsc_lycoris_layer_suffix(LSC_LYC_LORA_MID)))
        p = -1; /* a plain LoRA / LoCon pair */
    if (p >= 0) {
        *role = LSC_ROLE_FACTOR;
        flag = lsc_lycoris_layer_family(p);
    } else if (ends_with(key, SUF_DORA, &ml)) {
        *role = LSC_ROLE_MAGNITUDE;
        flag = LSC_LAYER_DORA;
    } else if (ends_with(key, SUF_ALPHA, &ml) && has_lycoris(f, key, ml)) {
        *role = LSC_ROLE_ALPHA;
    } else {
        return 0;
    }
    if ((*st = layer_for(ad, key, ml, li, err)))
        return -1;
    ad->layers[*li].flags |= flag;
    return 1;
}

/* ---- finishing the layers ----------------------------------------------------------------------- */

static int64_t numel(const lsc_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

static const char *meta_get(const lsc_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

/* A positive integer written in decimal, else -1. */
static long parse_dim(const char *s)
{
    if (!s || !*s)
        return -1;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 1000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v > 0 ? v : -1;
}

/* conv_dim of ss_network_args (a JSON object of strings or numbers), -1 if absent. */
static long conv_dim_of(const char *args)
{
    long v = -1;
    json_t *o = args ? json_loads(args, 0, NULL) : NULL;
    json_t *c = json_is_object(o) ? json_object_get(o, "conv_dim") : NULL;
    if (json_is_integer(c))
        v = (long)json_integer_value(c);
    else if (json_is_string(c))
        v = parse_dim(json_string_value(c));
    json_decref(o);
    return v;
}

/* The ranks a LyCORIS network's metadata allows: ss_network_dim and conv_dim. Only checked for files that
 * say they come from LyCORIS and give a number (kohya's resize writes "Dynamic"). */
static lsc_status check_ranks(lsc_adapter *ad, const lsc_st_file *f, const char *path, lsc_error *err)
{
    const char *mod = meta_get(f, "ss_network_module");
    long dim = parse_dim(meta_get(f, "ss_network_dim"));
    if (!mod || !strstr(mod, "lycoris") || dim < 0)
        return LSC_OK;
    long conv = conv_dim_of(meta_get(f, "ss_network_args"));
    for (size_t li = 0; li < ad->n_layers; li++) {
        if (!(ad->layers[li].flags & LSC_LAYER_LYCORIS))
            continue;
        lsc_lyc_layer d;
        if (lsc_lycoris_layer_describe(ad, li, &d, err))
            return LSC_ERR_FORMAT;
        int r[2] = {d.r1, d.family == LSC_LAYER_TUCKER ? 0 : d.r2};
        for (int k = 0; k < 2; k++)
            if (r[k] > 0 && r[k] != dim && r[k] != conv) {
                char e[LSC_FORMAT_ESC_CAP], cd[48] = "";
                if (conv > 0)
                    snprintf(cd, sizeof cd, ", conv_dim %ld", conv);
                return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                                       "layer '%s': rank %d disagrees with the metadata (ss_network_dim %ld%s)",
                                       lsc_escape_name(e, sizeof e, ad->layers[li].name), r[k], dim, cd);
            }
    }
    return LSC_OK;
}

/* The dora_scale of layer li must hold one value per input channel ([1, in, ...], LyCORIS) or per output
 * ([out, 1, ...]). K: kernel elements when known, so in = cols / K. */
static lsc_status check_dora(lsc_adapter *ad, size_t li, int64_t K, const char *path, lsc_error *err)
{
    const lsc_layer *l = &ad->layers[li];
    const lsc_tensor *t = &ad->tensors[l->tm];
    int64_t n = numel(t), in = K > 0 ? l->cols / K : l->cols;
    int per_out = t->ndim >= 1 && t->shape[0] == l->rows && n == l->rows;
    int per_in = t->ndim >= 2 && t->shape[0] == 1 && n > 0 && (n == in || (K <= 1 && l->cols % n == 0));
    if (per_out || per_in)
        return LSC_OK;
    return lsc_format_fail(err, LSC_ERR_FORMAT, path, t->key,
                           "%" PRId64 " magnitudes fit neither the %" PRId64 " inputs nor the %" PRId64
                           " outputs of layer [%" PRId64 ", %" PRId64 "]",
                           n, in, l->rows, l->rows, l->cols);
}

/* Shape LyCORIS layer li: size, rank, scale. */
static lsc_status shape_lycoris(lsc_adapter *ad, size_t li, const char *path, int64_t *K, lsc_error *err)
{
    lsc_lyc_layer d;
    lsc_status st = lsc_lycoris_layer_describe(ad, li, &d, err);
    if (st) {
        char pe[LSC_FORMAT_ESC_CAP];
        lsc_error_prefix(err, "'%s'", lsc_escape_name(pe, sizeof pe, path));
        return st;
    }
    lsc_layer *l = &ad->layers[li];
    l->rows = d.rows;
    l->cols = d.cols;
    l->rank = (int)d.rank;
    l->rule = LSC_SCALE_FIXED;
    l->scale = lsc_lycoris_layer_scale(&d, l->alpha == 0.0 ? NAN : l->alpha);
    if (l->alpha == 0.0) /* LyCORIS: no alpha means alpha = lora_dim */
        l->alpha = d.r1 > 0 ? d.r1 : d.r2 > 0 ? d.r2 : 1.0;
    *K = d.kh * d.kw;
    return LSC_OK;
}

lsc_status lsc_lycoris_io_finish(lsc_adapter *ad, const lsc_st_file *f, const char *path, lsc_kind *kind,
                                 lsc_error *err)
{
    size_t n_loha = 0, n_lokr = 0;
    lsc_status st;
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        int64_t K = 1;
        if (l->flags & LSC_LAYER_LYCORIS) {
            if ((st = shape_lycoris(ad, li, path, &K, err)))
                return st;
            n_loha += (l->flags & LSC_LAYER_LOHA) != 0;
            n_lokr += (l->flags & LSC_LAYER_LOKR) != 0;
        } else if (l->ta < 0 || l->tb < 0) {
            char e[LSC_FORMAT_ESC_CAP];
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, l->tm >= 0 ? ad->tensors[l->tm].key : NULL,
                                   "no LoRA, LoHa or LoKr factors of layer '%s' to scale",
                                   lsc_escape_name(e, sizeof e, l->name));
        } else if (l->flags & LSC_LAYER_CONV) {
            const lsc_tensor *a = &ad->tensors[l->ta];
            K = a->ndim == 4 ? a->shape[2] * a->shape[3] : 1;
        }
        if (l->tm >= 0 && (st = check_dora(ad, li, K, path, err)))
            return st;
    }
    if ((st = check_ranks(ad, f, path, err)))
        return st;
    if (n_loha || n_lokr)
        *kind = n_loha >= n_lokr ? LSC_KIND_LOHA : LSC_KIND_LOKR;
    if (n_loha && n_lokr)
        lsc_adapter_warn(ad, "'%s': mixes %zu LoHa and %zu LoKr layers (kind %s)", path, n_loha, n_lokr,
                         lsc_kind_name(*kind));
    return LSC_OK;
}

int lsc_lycoris_io_scale_intact(lsc_adapter *ad, size_t li, double alpha)
{
    lsc_lyc_layer d;
    lsc_error e;
    if (lsc_lycoris_layer_describe(ad, li, &d, &e))
        return 0;
    return ad->layers[li].scale == lsc_lycoris_layer_scale(&d, alpha == 0.0 ? NAN : alpha);
}
