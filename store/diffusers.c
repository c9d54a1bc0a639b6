/* store/diffusers.c: diffusers LoRA files in and out (see diffusers.h for the spellings and the rules).
 *
 * Reading classifies every key by its spelling into a module path and a factor, pairs the factors per
 * module, attaches network alphas, checks the shapes, then takes each layer's scale from its alpha, from
 * the lora_adapter_metadata config of its pipeline component, or 1. Writing reuses the source header
 * when nothing changed, else writes the same keys (store/samekeys) with the scale carried the way the
 * file carried it.
 * Depends on store/safetensors, store/samekeys, store/peft (pattern matching), engine/ types and
 * jansson; never SQLite or curses.
 */
#include "diffusers.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format_util.h"
#include "peft.h"
#include "safetensors.h"
#include "samekeys.h"

#define ESC_CAP 320
#define NAME_CAP 1024
#define META_KEY "lora_adapter_metadata"

/* Escaped copy of a name for a message (format_util's rotating buffers). */
#define esc lsc_format_esc

/* ---- key spellings ------------------------------------------------------------------------------------ */

enum { K_NONE, K_DOWN, K_UP, K_ALPHA };
enum { SP_PLAIN, SP_PROC, SP_PEFT };

typedef struct spelling {
    const char *suffix;
    int kind, sp;
} spelling;

static const spelling spellings[] = {
    {".lora.down.weight", K_DOWN, SP_PLAIN},
    {".lora.up.weight", K_UP, SP_PLAIN},
    {".lora_linear_layer.down.weight", K_DOWN, SP_PLAIN},
    {".lora_linear_layer.up.weight", K_UP, SP_PLAIN},
    {"_lora.down.weight", K_DOWN, SP_PROC},
    {"_lora.up.weight", K_UP, SP_PROC},
    {".lora_A.weight", K_DOWN, SP_PEFT},
    {".lora_B.weight", K_UP, SP_PEFT},
};

static const char *const components[] = {"unet.",        "text_encoder.",  "text_encoder_2.", "text_encoder_3.",
                                         "transformer.", "transformer_2.", "prior."};

int lsc_diffusers_component_key(const char *key)
{
    for (size_t i = 0; i < sizeof components / sizeof components[0]; i++)
        if (strncmp(key, components[i], strlen(components[i])) == 0)
            return 1;
    return 0;
}

int lsc_diffusers_is_old_key(const char *key)
{
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++)
        if (spellings[i].sp != SP_PEFT && lsc_format_ends_with(key, spellings[i].suffix))
            return 1;
    return 0;
}

/* The module named by the processor stem `<parent>.<proj>`: a UNet processor (`<x>.processor.<proj>`)
 * adapts <x>.<proj> (to_out: <x>.to_out.0); an old text-encoder one adapts CLIP's q/k/v/out_proj. */
static int proc_module(const char *stem, size_t n, char *out, size_t cap)
{
    static const char *const te_from[] = {"to_q", "to_k", "to_v", "to_out"};
    static const char *const te_to[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    size_t dot = n;
    while (dot > 0 && stem[dot - 1] != '.')
        dot--;
    const char *proj = stem + dot;
    size_t pl = n - dot, parent = dot ? dot - 1 : 0;
    const char *mapped = NULL;
    char pbuf[128];
    if (pl >= sizeof pbuf)
        return -1;
    memcpy(pbuf, proj, pl);
    pbuf[pl] = '\0';
    if (parent >= 10 && strncmp(stem + parent - 10, ".processor", 10) == 0) {
        parent -= 10;
        mapped = strcmp(pbuf, "to_out") == 0 ? "to_out.0" : pbuf;
    } else {
        mapped = pbuf;
        for (int i = 0; i < 4; i++)
            if (strcmp(pbuf, te_from[i]) == 0)
                mapped = te_to[i];
    }
    int w = dot ? snprintf(out, cap, "%.*s.%s", (int)parent, stem, mapped) : snprintf(out, cap, "%s", mapped);
    return w >= 0 && (size_t)w < cap ? 0 : -1;
}

/* The layer name of a module stem: processor stems mapped, and a path without a pipeline component
 * (every spelling but PEFT's) put under unet. */
static int module_name(const char *stem, size_t n, int sp, char *out, size_t cap)
{
    char tmp[NAME_CAP];
    if (sp == SP_PROC) {
        if (proc_module(stem, n, tmp, sizeof tmp))
            return -1;
    } else {
        if (n >= sizeof tmp)
            return -1;
        memcpy(tmp, stem, n);
        tmp[n] = '\0';
    }
    int w = sp != SP_PEFT && !lsc_diffusers_component_key(tmp) ? snprintf(out, cap, "unet.%s", tmp)
                                                              : snprintf(out, cap, "%s", tmp);
    return w >= 0 && (size_t)w < cap ? 0 : -1;
}

/* Classify a factor key: K_DOWN/K_UP with its layer name in out, or K_NONE. */
static int parse_factor(const char *key, char *out, size_t cap)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        const spelling *s = &spellings[i];
        if (lsc_format_ends_with(key, s->suffix) && n > strlen(s->suffix))
            return module_name(key, n - strlen(s->suffix), s->sp, out, cap) ? K_NONE : s->kind;
    }
    return K_NONE;
}

/* The layer an alpha key `<stem>.alpha` belongs to, -1 for none: the stem as a factor prefix
 * (`<path>.lora`, `<path>.lora_linear_layer`, `<path>.processor.to_q_lora`) or as the module path. */
static int alpha_layer(const lsc_adapter *ad, const char *key)
{
    static const struct {
        const char *tail;
        int sp;
    } tails[] = {{".lora", SP_PLAIN}, {".lora_linear_layer", SP_PLAIN}, {"_lora", SP_PROC}};
    size_t n = strlen(key) - strlen(".alpha");
    char stem[NAME_CAP], name[NAME_CAP];
    if (n >= sizeof stem)
        return -1;
    memcpy(stem, key, n);
    stem[n] = '\0';
    for (size_t i = 0; i < 3; i++)
        if (lsc_format_ends_with(stem, tails[i].tail) && n > strlen(tails[i].tail) &&
            module_name(stem, n - strlen(tails[i].tail), tails[i].sp, name, sizeof name) == 0) {
            int li = lsc_adapter_find_layer(ad, name);
            if (li >= 0)
                return li;
        }
    int li = lsc_adapter_find_layer(ad, stem);
    if (li < 0 && module_name(stem, n, SP_PLAIN, name, sizeof name) == 0)
        li = lsc_adapter_find_layer(ad, name);
    return li;
}

/* The key a lone factor's partner would have (down <-> up, lora_A <-> lora_B). */
static void partner_key(const char *key, char *out, size_t cap)
{
    static const char *const pairs[][2] = {{".down.weight", ".up.weight"}, {".up.weight", ".down.weight"},
                                           {".lora_A.weight", ".lora_B.weight"}, {".lora_B.weight", ".lora_A.weight"}};
    for (int i = 0; i < 4; i++)
        if (lsc_format_ends_with(key, pairs[i][0])) {
            size_t n = strlen(key) - strlen(pairs[i][0]);
            snprintf(out, cap, "%.*s%s", (int)(n > 200 ? 200 : n), key, pairs[i][1]);
            return;
        }
    snprintf(out, cap, "?");
}

/* ---- the lora_adapter_metadata config ------------------------------------------------------------------ */

/* A layer's rank and alpha as the metadata config gives them. */
typedef struct meta_rule {
    int found; /* the config has entries for the layer's component */
    int r, rslora;
    double alpha;
} meta_rule;

/* root[<comp>.<key>] when the component has such a key, else root[<key>] (a model saved by itself). */
static json_t *meta_get(json_t *root, const char *comp, size_t cl, const char *key, int *prefixed)
{
    char k[256];
    snprintf(k, sizeof k, "%.*s.%s", (int)(cl > 200 ? 200 : cl), comp, key);
    json_t *v = cl ? json_object_get(root, k) : NULL;
    *prefixed = v != NULL;
    return v ? v : json_object_get(root, key);
}

/* The value of the first key of pattern object `pat` that selects `module` (PEFT's rule), NULL if none. */
static json_t *pattern_value(json_t *pat, const char *module, int *bad, lsc_error *err)
{
    const char *k;
    json_t *v;
    *bad = 0;
    json_object_foreach(pat, k, v) {
        int m = lsc_peft_pattern_match(k, module, err);
        if (m < 0) {
            *bad = 1;
            return NULL;
        }
        if (m)
            return v;
    }
    return NULL;
}

/* Resolve layer `name` under the metadata config root (NULL: none). Errors name the file and the key. */
static lsc_status meta_resolve(json_t *root, const char *name, const char *path, meta_rule *mr, lsc_error *err)
{
    memset(mr, 0, sizeof *mr);
    if (!root)
        return LSC_OK;
    const char *dot = strchr(name, '.');
    size_t cl = dot ? (size_t)(dot - name) : 0;
    int pr = 0, pa = 0, pp = 0, bad = 0;
    json_t *r = meta_get(root, name, cl, "r", &pr), *a = meta_get(root, name, cl, "lora_alpha", &pa);
    if (!r && !a)
        return LSC_OK;
    mr->found = 1;
    const char *module = (pr || pa) && dot ? dot + 1 : name;
    mr->r = 8; /* LoraConfig's defaults */
    mr->alpha = 8;
    if (r && (!json_is_integer(r) || json_integer_value(r) <= 0 || json_integer_value(r) > INT32_MAX))
        return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "metadata '%s': r is not a positive integer", META_KEY);
    if (a && (!json_is_number(a) || !isfinite(json_number_value(a))))
        return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "metadata '%s': lora_alpha is not a finite number",
                               META_KEY);
    if (r)
        mr->r = (int)json_integer_value(r);
    if (a)
        mr->alpha = json_number_value(a);
    json_t *rp = meta_get(root, name, cl, "rank_pattern", &pp), *ap = meta_get(root, name, cl, "alpha_pattern", &pp);
    json_t *v = json_is_object(rp) ? pattern_value(rp, module, &bad, err) : NULL;
    if (!bad && v) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > INT32_MAX)
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "metadata '%s': a rank_pattern value is not a "
                                   "positive integer", META_KEY);
        mr->r = (int)json_integer_value(v);
    }
    v = !bad && json_is_object(ap) ? pattern_value(ap, module, &bad, err) : NULL;
    if (!bad && v) {
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "metadata '%s': an alpha_pattern value is not a "
                                   "finite number", META_KEY);
        mr->alpha = json_number_value(v);
    }
    if (bad)
        return err ? err->code : LSC_ERR_UNSUPPORTED;
    mr->rslora = json_is_true(meta_get(root, name, cl, "use_rslora", &pp));
    return LSC_OK;
}

/* Parse the lora_adapter_metadata string of a __metadata__ object text (NULL when absent). */
static lsc_status meta_parse(const char *metadata_json, const char *path, json_t **root, lsc_error *err)
{
    *root = NULL;
    json_t *m = metadata_json ? json_loads(metadata_json, 0, NULL) : NULL;
    const char *text = json_string_value(json_object_get(m, META_KEY));
    lsc_status st = LSC_OK;
    if (text) {
        json_error_t je;
        *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
        if (!*root)
            st = lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "metadata '%s' is not valid JSON: %s (line %d)",
                                 META_KEY, je.text, je.line);
        else if (!json_is_object(*root)) {
            st = lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "metadata '%s' is not a JSON object", META_KEY);
            json_decref(*root);
            *root = NULL;
        }
    }
    json_decref(m);
    return st;
}

/* ---- reading --------------------------------------------------------------------------------------- */

static int refused_name(const char *k)
{
    static const char *const marks[] = {".lora_magnitude_vector", ".dora_scale", ".hada_", ".lokr_", ".lora_mid.",
                                        ".oft_"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (strstr(k, marks[i]))
            return 1;
    return 0;
}

/* Tensor i of the file into ad: a factor of its layer (created at its first factor), or an extra. */
static lsc_status add_tensor(lsc_adapter *ad, const lsc_st_file *f, size_t i, const char *path, lsc_error *err)
{
    const lsc_st_tensor *s = &f->tensors[i];
    char name[NAME_CAP];
    int kind = parse_factor(s->name, name, sizeof name);
    size_t ti;
    int li = -1;
    lsc_status st;
    if (kind != K_NONE && (li = lsc_adapter_find_layer(ad, name)) < 0) {
        size_t nl;
        if ((st = lsc_adapter_add_layer(ad, name, &nl, err)))
            return st;
        li = (int)nl;
        lsc_layer *l = &ad->layers[li];
        const char *dot = strrchr(name, '.');
        if (dot && dot[1] >= '0' && dot[1] <= '9' && dot > name) { /* to_out.0: the block's name */
            const char *p = dot - 1;
            while (p > name && *p != '.')
                p--;
            dot = p;
        }
        free(l->module_type);
        l->module_type = strdup(dot ? dot + 1 : name);
        if (!l->module_type)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        for (const char *p = strstr(name, "blocks."); p && l->layer_index < 0; p = strstr(p + 1, "blocks."))
            if (p[7] >= '0' && p[7] <= '9')
                l->layer_index = atoi(p + 7);
        for (const char *p = strstr(name, "layers."); p && l->layer_index < 0; p = strstr(p + 1, "layers."))
            if (p[7] >= '0' && p[7] <= '9')
                l->layer_index = atoi(p + 7);
    }
    lsc_role role = kind == K_DOWN ? LSC_ROLE_A : kind == K_UP ? LSC_ROLE_B : LSC_ROLE_EXTRA;
    if ((st = lsc_adapter_add_tensor(ad, s->name, role, li, s->dtype, s->ndim, s->shape, NULL, &ti, err)))
        return st;
    ad->tensors[ti].src = (int64_t)i;
    if (li < 0)
        return LSC_OK;
    int *slot = kind == K_DOWN ? &ad->layers[li].ta : &ad->layers[li].tb;
    if (*slot >= 0)
        return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "tensors '%s' and '%s' are the same factor of layer '%s'",
                               esc(ad->tensors[*slot].key), esc(s->name), esc(name));
    *slot = (int)ti;
    return LSC_OK;
}

/* Every layer has both factors; every `.alpha` extra that names a layer becomes that layer's alpha. */
static lsc_status pair_and_alphas(lsc_adapter *ad, const char *path, lsc_error *err)
{
    for (size_t li = 0; li < ad->n_layers; li++) {
        const lsc_layer *l = &ad->layers[li];
        if (l->ta < 0 || l->tb < 0) {
            char want[ESC_CAP];
            const char *have = ad->tensors[l->ta >= 0 ? l->ta : l->tb].key;
            partner_key(have, want, sizeof want);
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "tensor '%s' has no matching '%s'", esc(have),
                                   esc(want));
        }
    }
    for (size_t ti = 0; ti < ad->n_tensors; ti++) {
        lsc_tensor *t = &ad->tensors[ti];
        if (t->role != LSC_ROLE_EXTRA || !lsc_format_ends_with(t->key, ".alpha") || strlen(t->key) <= 6)
            continue;
        int li = alpha_layer(ad, t->key);
        if (li < 0)
            continue;
        int had = lsc_adapter_layer_tensor(ad, (size_t)li, LSC_ROLE_ALPHA);
        if (had >= 0)
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "tensors '%s' and '%s' are both the alpha of layer "
                                   "'%s'", esc(ad->tensors[had].key), esc(t->key), esc(ad->layers[li].name));
        t->role = LSC_ROLE_ALPHA;
        t->layer = li;
    }
    return LSC_OK;
}

/* Check layer li's pair of shapes and set rank, rows, cols and the conv flag. */
static lsc_status shape_layer(lsc_adapter *ad, size_t li, const char *path, lsc_error *err)
{
    lsc_layer *l = &ad->layers[li];
    const lsc_tensor *a = &ad->tensors[l->ta], *b = &ad->tensors[l->tb];
    lsc_status st = lsc_format_pair_shape(l, a, b, path, err);
    if (!st && (!lsc_dtype_is_float(a->dtype) || !lsc_dtype_is_float(b->dtype)))
        st = lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, NULL, "unsupported dtype %s in tensor '%s'",
                             lsc_dtype_name(lsc_dtype_is_float(a->dtype) ? b->dtype : a->dtype),
                             esc(lsc_dtype_is_float(a->dtype) ? b->key : a->key));
    return st;
}

/* The value of alpha tensor ti (loaded), 0 meaning r; NAN when unreadable or not finite. */
static double alpha_value(lsc_adapter *ad, int ti, int rank, lsc_error *err)
{
    lsc_tensor *t = &ad->tensors[ti];
    double a = NAN;
    if (t->nbytes != lsc_dtype_size(t->dtype) || lsc_adapter_load_tensor(ad, (size_t)ti, err) != LSC_OK ||
        lsc_dtype_scalar_to_double(t->dtype, t->data, &a) != LSC_OK || !isfinite(a))
        return NAN;
    return a == 0 ? rank : a;
}

/* Each layer's alpha, rule and scale: its alpha tensor, its component's metadata config, or 1. */
static lsc_status scale_layers(lsc_adapter *ad, json_t *root, const char *path, int *varied, lsc_error *err)
{
    *varied = 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        lsc_status st;
        if ((st = shape_layer(ad, li, path, err)))
            return st;
        int ta = lsc_adapter_layer_tensor(ad, li, LSC_ROLE_ALPHA);
        meta_rule mr;
        if ((st = meta_resolve(root, l->name, path, &mr, err)))
            return st;
        l->rule = LSC_SCALE_ALPHA_R;
        l->alpha = l->rank;
        if (ta >= 0 && root)
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, ad->tensors[ta].key,
                                   "a network alpha beside metadata '%s' (diffusers refuses both)", META_KEY);
        if (ta >= 0 && ad->tensors[ta].nbytes != lsc_dtype_size(ad->tensors[ta].dtype))
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, ad->tensors[ta].key, "alpha must be a scalar (%zu bytes)",
                                   ad->tensors[ta].nbytes);
        if (ta >= 0) {
            l->alpha = alpha_value(ad, ta, l->rank, err);
            if (isnan(l->alpha))
                return lsc_format_fail(err, LSC_ERR_FORMAT, path, ad->tensors[ta].key,
                                       "alpha is not a finite scalar (dtype %s)", lsc_dtype_name(ad->tensors[ta].dtype));
        } else if (mr.found) {
            if (mr.r != l->rank)
                return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                                       "layer '%s': metadata '%s' gives r %d but the tensors have rank %d", esc(l->name),
                                       META_KEY, mr.r, l->rank);
            l->alpha = mr.alpha;
            l->rule = mr.rslora ? LSC_SCALE_RSLORA : LSC_SCALE_ALPHA_R;
        }
        l->scale = lsc_scale_compute(l->rule, l->alpha, l->rank, 0, 0);
        if (li > 0 && (l->rank != ad->layers[0].rank || l->scale != ad->layers[0].scale))
            *varied = 1;
    }
    return LSC_OK;
}

static lsc_status read_file(lsc_adapter *ad, lsc_st_file *f, const char *path, lsc_error *err)
{
    lsc_status st;
    if ((st = lsc_st_adapter_describe(ad, f, "diffusers", path, "", err)))
        return st;
    for (size_t i = 0; i < f->n_tensors; i++)
        if ((st = add_tensor(ad, f, i, path, err)))
            return st;
    if (ad->n_layers == 0) {
        char pe[ESC_CAP];
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "no LoRA layers in '%s' (no diffusers down/up pair; %zu other "
                             "tensor%s)", lsc_escape_name(pe, sizeof pe, path), ad->n_tensors,
                             ad->n_tensors == 1 ? "" : "s");
    }
    if ((st = pair_and_alphas(ad, path, err)))
        return st;
    json_t *root = NULL;
    int varied = 0;
    if ((st = meta_parse(ad->metadata_json, path, &root, err)))
        return st;
    st = scale_layers(ad, root, path, &varied, err);
    json_decref(root);
    if (st)
        return st;
    return lsc_adapter_set_kind(ad, varied ? LSC_KIND_LAYERWISE : LSC_KIND_STATIC, err);
}

lsc_status lsc_diffusers_read(const char *path, lsc_adapter **out, lsc_error *err)
{
    lsc_st_file *f = NULL;
    lsc_adapter *ad = NULL;
    *out = NULL;
    lsc_status st = lsc_st_open(path, &f, err);
    if (st)
        return st;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (refused_name(f->tensors[i].name)) {
            st = lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, NULL,
                                 "tensor '%s': DoRA or LyCORIS factors in a diffusers file are not supported",
                                 esc(f->tensors[i].name));
            lsc_st_close(f);
            return st;
        }
    if ((st = lsc_st_adapter_new(f, &ad, err)))
        return st;
    if ((st = read_file(ad, f, path, err))) {
        lsc_adapter_free(ad);
        return st;
    }
    *out = ad;
    return LSC_OK;
}

/* ---- writing --------------------------------------------------------------------------------------- */

/* How the file carries layer li's scale, and whether it still gives l->scale. */
typedef struct carry {
    int alpha_t;   /* alpha tensor, -1 if none */
    meta_rule mr;  /* the metadata config's rule (mr.found) */
    int intact;
} carry;

static lsc_status carry_of(lsc_adapter *ad, size_t li, json_t *root, carry *c, lsc_error *err)
{
    const lsc_layer *l = &ad->layers[li];
    lsc_status st = meta_resolve(root, l->name, ad->source ? ad->source : "adapter", &c->mr, err);
    if (st)
        return st;
    c->alpha_t = lsc_adapter_layer_tensor(ad, li, LSC_ROLE_ALPHA);
    double fs = 1.0;
    lsc_error ignored; /* an unreadable alpha gives NAN: the layer is then not intact and is written anew */
    if (c->alpha_t >= 0)
        fs = lsc_scale_compute(LSC_SCALE_ALPHA_R, alpha_value(ad, c->alpha_t, l->rank, &ignored), l->rank, 0, 0);
    else if (c->mr.found)
        fs = c->mr.r != l->rank ? NAN
                                : lsc_scale_compute(c->mr.rslora ? LSC_SCALE_RSLORA : LSC_SCALE_ALPHA_R, c->mr.alpha,
                                                    l->rank, 0, 0);
    c->intact = fs == l->scale;
    return LSC_OK;
}

/* A pattern key for `module` under PEFT's `(.*\.)?(k)$` rule: special characters escaped, so it selects the
 * module itself (and only a module whose path ends with the whole of it). */
static char *literal_key(const char *module)
{
    return lsc_format_backslash(module, "\\^$*+?()[]{}|.");
}

/* Put `key: v` first in root[field] (created when missing). */
static int pattern_put(json_t *root, const char *field, const char *key, json_t *v)
{
    json_t *old = json_object_get(root, field), *fresh = json_object();
    int bad = !fresh || json_object_set_new(fresh, key, v);
    const char *k;
    json_t *x;
    json_object_foreach(old, k, x) {
        if (!bad && strcmp(k, key) != 0)
            bad = json_object_set(fresh, k, x);
    }
    if (bad) {
        json_decref(fresh);
        return -1;
    }
    return json_object_set_new(root, field, fresh);
}

/* Literal rank_pattern / alpha_pattern entries so the metadata config gives layer li its rank and scale. */
static int meta_fix(json_t *root, const lsc_layer *l, const meta_rule *mr)
{
    const char *dot = strchr(l->name, '.');
    size_t cl = dot ? (size_t)(dot - l->name) : 0;
    char rf[256], af[256];
    int pr = 0;
    meta_get(root, l->name, cl, "r", &pr);
    if (!pr)
        meta_get(root, l->name, cl, "lora_alpha", &pr);
    snprintf(rf, sizeof rf, "%.*s%srank_pattern", pr ? (int)cl : 0, l->name, pr ? "." : "");
    snprintf(af, sizeof af, "%.*s%salpha_pattern", pr ? (int)cl : 0, l->name, pr ? "." : "");
    char *k = literal_key(pr && dot ? dot + 1 : l->name);
    double alpha = mr->rslora ? l->scale * sqrt((double)l->rank) : l->scale * l->rank;
    int bad = !k || pattern_put(root, rf, k, json_integer(l->rank)) || pattern_put(root, af, k, json_real(alpha));
    free(k);
    return bad ? -1 : 0;
}

/* The metadata to write: the source's, with lora_adapter_metadata replaced when `root` changed. */
static char *metadata_out(const lsc_adapter *ad, json_t *root, int changed)
{
    if (!changed)
        return ad->metadata_json ? strdup(ad->metadata_json) : NULL;
    json_t *m = ad->metadata_json ? json_loads(ad->metadata_json, 0, NULL) : json_object();
    char *inner = json_dumps(root, JSON_INDENT(2)); /* unsorted: the literal pattern keys stay first */
    char *text = NULL;
    if (m && inner && json_object_set_new(m, META_KEY, json_string(inner)) == 0)
        text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    free(inner);
    json_decref(m);
    return text;
}

/* The fresh file: same keys, scale carried by alpha tensors, metadata patterns or B. */
static lsc_status write_edited(lsc_adapter *ad, const char *path, lsc_dtype dtype, json_t *root, const carry *cs,
                               lsc_error *err)
{
    double *bm = malloc((ad->n_layers + 1) * sizeof *bm), *sc = malloc((ad->n_tensors + 1) * sizeof *sc);
    lsc_status st = LSC_OK;
    int changed = 0, folded = 0;
    for (size_t i = 0; sc && i < ad->n_tensors; i++)
        sc[i] = NAN;
    for (size_t li = 0; bm && sc && li < ad->n_layers && !st; li++) {
        const lsc_layer *l = &ad->layers[li];
        bm[li] = 1.0;
        if (cs[li].intact)
            continue;
        if (cs[li].alpha_t >= 0)
            sc[cs[li].alpha_t] = l->scale * l->rank;
        else if (cs[li].mr.found) {
            if (!isfinite(l->scale * l->rank))
                st = lsc_format_fail(err, LSC_ERR_NUMERIC, path, NULL, "layer '%s': alpha %g is not finite",
                                     esc(l->name), l->scale * l->rank);
            else if (meta_fix(root, l, &cs[li].mr))
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            changed = 1;
        } else {
            bm[li] = l->scale;
            folded++;
        }
    }
    char *meta = NULL;
    if (!bm || !sc)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    else if (!st && (changed || ad->metadata_json) && !(meta = metadata_out(ad, root, changed)))
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (!st)
        st = lsc_samekeys_write_json(ad, path, dtype, bm, sc, meta, err);
    if (!st && folded)
        lsc_adapter_warn(ad, "%d layer%s without an alpha: the scale is folded into the up factor", folded,
                         folded == 1 ? "" : "s");
    free(meta);
    free(bm);
    free(sc);
    return st;
}

lsc_status lsc_diffusers_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, lsc_error *err)
{
    if (!ad->format || strcmp(ad->format, "diffusers") != 0)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "'%s' is a %s adapter: export as diffusers keeps a diffusers "
                             "file's own key spellings, so only adapters imported from diffusers files can be written "
                             "so (use peft)", esc(ad->name ? ad->name : "adapter"), ad->format ? ad->format : "?");
    if (dtype != LSC_DT_INVALID && !lsc_dtype_is_float(dtype))
        return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "cannot write factors as %s: not a float dtype",
                               lsc_dtype_name(dtype));
    json_t *root = NULL;
    lsc_status st = meta_parse(ad->metadata_json, path, &root, err);
    carry *cs = st ? NULL : calloc(ad->n_layers + 1, sizeof *cs);
    if (!st && !cs)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    int intact = 1;
    for (size_t li = 0; !st && li < ad->n_layers; li++) {
        st = carry_of(ad, li, root, &cs[li], err);
        intact &= cs[li].intact;
    }
    if (!st) {
        if (dtype == LSC_DT_INVALID && intact && ad->header_json && lsc_st_header_reusable(ad))
            st = lsc_samekeys_write_verbatim(ad, path, err);
        else
            st = write_edited(ad, path, dtype, root, cs, err);
    }
    free(cs);
    json_decref(root);
    return st;
}

/* ---- as PEFT --------------------------------------------------------------------------------------- */

lsc_status lsc_diffusers_as_peft(lsc_adapter *ad, lsc_adapter **out, lsc_error *err)
{
    lsc_adapter *p = lsc_adapter_clone_meta(ad);
    *out = NULL;
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    free(p->format);
    free(p->metadata_json);
    free(p->config_json);
    p->metadata_json = p->config_json = NULL;
    p->format = strdup("peft");
    lsc_status st = p->format ? LSC_OK : lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < p->n_tensors; i++) {
        lsc_tensor *t = &p->tensors[i];
        if (t->role == LSC_ROLE_A || t->role == LSC_ROLE_B) {
            size_t n = strlen(p->layers[t->layer].name) + 16;
            char *k = malloc(n);
            if (!k) {
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                break;
            }
            snprintf(k, n, "%s.lora_%c.weight", p->layers[t->layer].name, t->role == LSC_ROLE_A ? 'A' : 'B');
            free(t->key);
            t->key = k;
        }
        if ((st = lsc_adapter_load_tensor(ad, i, err)))
            break;
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        if (!t->data) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(t->data, ad->tensors[i].data, t->nbytes);
        lsc_adapter_unload_tensor(ad, i);
        t->hash[0] = '\0';
    }
    for (size_t i = p->n_tensors; !st && i-- > 0;)
        if (p->tensors[i].role == LSC_ROLE_ALPHA)
            lsc_adapter_remove_tensor(p, i);
    if (st) {
        lsc_adapter_free(p);
        return st;
    }
    *out = p;
    return LSC_OK;
}
