/* modkey.c: the canonical module identity across formats (see modkey.h). Reuses the name mappings of
 * gguf.c and kohya.c; never SQLite, files or curses (a base model's tensor list is read from memory). */
#include "modkey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "kohya.h"

/* kohya's module prefixes: a name that starts with one is already flat. */
static int is_kohya_name(const char *key)
{
    static const char *const prefixes[] = {"lora_unet_", "lora_te_", "lora_te1_", "lora_te2_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(key, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

/* A UNet top-level module as kohya's flat form writes it (after the prefix). */
static int is_unet_top(const char *flat)
{
    static const char *const tops[] = {"down_blocks_", "mid_block_", "up_blocks_", "conv_in", "conv_out",
                                       "conv_norm_out", "time_embedding_", "add_embedding_"};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++)
        if (strncmp(flat, tops[i], strlen(tops[i])) == 0)
            return 1;
    return 0;
}

/* A PEFT path of a diffusion UNet saved without its pipeline component (get_peft_model(unet):
 * "base_model.model.down_blocks.0...."): the UNet's own top-level modules name it, so it is put under
 * "unet." as diffusers and kohya files of the same module are (a text encoder's paths need nothing: kohya's
 * default prefix is lora_te_). Returns 1 with the new path in out, else 0. */
static int unet_path(const char *key, char *out, size_t cap)
{
    static const char *const roots[] = {"down_blocks.", "up_blocks.", "mid_block.", "conv_in", "conv_out",
                                        "time_embedding.", "conv_norm_out"};
    const char *p = strncmp(key, "base_model.model.", 17) == 0 ? key + 17 : key;
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        if (strncmp(p, roots[i], strlen(roots[i])) == 0) {
            int n = snprintf(out, cap, "unet.%s", p);
            return n > 0 && (size_t)n < cap;
        }
    return 0;
}

int lsc_modkey_canonical(const char *key, char *out, size_t cap)
{
    char peft[LSC_MODKEY_MAX];
    const char *p = key;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    if (lsc_gguf_unmap_name(key, peft, sizeof peft) == 0 || unet_path(key, peft, sizeof peft))
        p = peft;
    if (lsc_kohya_map_name(p, is_kohya_name(p) ? "kohya" : NULL, 0, out, cap) != 0) {
        out[0] = '\0';
        return -1;
    }
    if (strncmp(out, "lora_te1_", 9) == 0)
        memmove(out + 7, out + 8, strlen(out + 8) + 1); /* "lora_te1_x" -> "lora_te_x" */
    if (!is_kohya_name(p) && strncmp(out, "lora_te_", 8) == 0 && is_unet_top(out + 8)) {
        if (strlen(out) + 3 > cap) {
            out[0] = '\0';
            return -1;
        }
        memmove(out + 10, out + 8, strlen(out + 8) + 1); /* a bare UNet's PEFT path: "lora_unet_x" */
        memcpy(out, "lora_unet_", 10);
    }
    return 0;
}

size_t lsc_modkey_component_len(const char *tensor)
{
    static const char *const comps[] = {"unet.", "text_encoder.", "text_encoder_2.", "text_encoder_3.", "transformer."};
    for (size_t i = 0; i < sizeof comps / sizeof comps[0]; i++)
        if (strncmp(tensor, comps[i], strlen(comps[i])) == 0)
            return strlen(comps[i]);
    return 0;
}

lsc_status lsc_modkey_base_tensor(const char *layer, const lsc_basenames *bn, char *out, size_t cap, lsc_error *err)
{
    char peft[LSC_MODKEY_MAX], path[LSC_MODKEY_MAX], shown[512];
    const char *p = layer;
    if (lsc_gguf_unmap_name(layer, peft, sizeof peft) == 0)
        p = peft;
    if (strncmp(p, "base_model.model.", 17) == 0)
        p += 17;
    if (is_kohya_name(p) || strncmp(p, "lora_te3_", 9) == 0) {
        if (!bn)
            return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                                 "layer '%s' is a kohya name: its module path needs the base model's module names "
                                 "(--base-names or --arch)", lsc_escape_name(shown, sizeof shown, layer));
        lsc_status st = lsc_basenames_resolve(bn, p, path, sizeof path, err);
        if (st)
            return st;
        p = path;
    }
    int n = snprintf(out, cap, "%s.weight", p);
    if (n < 0 || (size_t)n >= cap)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer '%s': base tensor name too long",
                             lsc_escape_name(shown, sizeof shown, layer));
    return LSC_OK;
}

/* out = name + suffix when base b has that tensor: 0, else -1. */
static int base_has(const lsc_base *b, const char *name, const char *suffix, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", name, suffix);
    return n > 0 && (size_t)n < cap && lsc_base_find(b, out) >= 0 ? 0 : -1;
}

/* kohya against a base's own tensors: the module path with '.' as '_' (prefix dropped) compared with every
 * ".weight" tensor of the base; the tensor name may carry a model prefix ("model.", "text_model.") the
 * kohya name dropped. The first tensor in the base's order that fits wins. */
static int base_kohya(const lsc_base *b, const char *layer, char *out, size_t cap)
{
    static const char *const prefixes[] = {"lora_unet_", "lora_te1_", "lora_te2_", "lora_te3_", "lora_te_"};
    const char *rest = NULL;
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0] && !rest; p++)
        if (strncmp(layer, prefixes[p], strlen(prefixes[p])) == 0)
            rest = layer + strlen(prefixes[p]);
    if (!rest)
        return -1;
    size_t rl = strlen(rest);
    for (size_t i = 0; i < b->n_tensors; i++) {
        const char *t = b->tensors[i].name;
        size_t tl = strlen(t);
        if (tl < 7 + rl || strcmp(t + tl - 7, ".weight") != 0)
            continue;
        size_t start = tl - 7 - rl; /* the module path ends right before ".weight" */
        if (start > 0 && t[start - 1] != '.')
            continue;
        size_t j = 0;
        for (; j < rl; j++) {
            char c = t[start + j] == '.' ? '_' : t[start + j];
            if (c != rest[j])
                break;
        }
        if (j == rl && (size_t)snprintf(out, cap, "%s", t) < cap)
            return 0;
    }
    return -1;
}

int lsc_modkey_base_tensor_in(const lsc_base *b, const char *layer, char *out, size_t cap)
{
    char path[LSC_MODKEY_MAX];
    lsc_error e;
    if (!base_has(b, layer, ".weight", out, cap) || !base_has(b, layer, "", out, cap))
        return 0;
    /* a llama.cpp-named layer's q/k rows are in llama.cpp's permuted order: they fit only a GGUF base */
    int gguf_qk = b->kind != LSC_BASE_GGUF && lsc_gguf_unmap_name(layer, path, sizeof path) == 0 &&
                  (strstr(path, ".q_proj") || strstr(path, ".k_proj"));
    if (!gguf_qk && lsc_modkey_base_tensor(layer, NULL, path, sizeof path, &e) == LSC_OK) {
        size_t comp = lsc_modkey_component_len(path); /* "unet.x.weight" is "x.weight" in a UNet checkpoint */
        if (!base_has(b, path, "", out, cap) || (comp && !base_has(b, path + comp, "", out, cap)))
            return 0;
    }
    if (b->kind == LSC_BASE_GGUF && lsc_gguf_map_name(layer, path, sizeof path) == 0 && !base_has(b, path, "", out, cap))
        return 0;
    return base_kohya(b, layer, out, cap);
}

/* The identity of a layer with the base model's names at hand: the component-qualified module path (a
 * kohya name resolved through bn; a PEFT or GGUF name's own path, a bare UNet or CLIP text model given
 * the component a kohya name would resolve to); the flat canonical key when a kohya name does not resolve. */
static int identity(const char *key, const lsc_basenames *bn, char *out, size_t cap)
{
    char peft[LSC_MODKEY_MAX];
    lsc_error e;
    const char *p = key;
    if (!bn)
        return lsc_modkey_canonical(key, out, cap);
    if (lsc_gguf_unmap_name(key, peft, sizeof peft) == 0)
        p = peft;
    if (strncmp(p, "base_model.model.", 17) == 0)
        p += 17;
    if (is_kohya_name(p) || strncmp(p, "lora_te3_", 9) == 0)
        return lsc_basenames_resolve(bn, p, out, cap, &e) == LSC_OK ? 0 : lsc_modkey_canonical(key, out, cap);
    char flat[LSC_MODKEY_MAX];
    const char *comp = "";
    if (lsc_modkey_component_len(p) == 0 && lsc_kohya_map_name(p, NULL, 0, flat, sizeof flat) == 0) {
        if (is_unet_top(flat + 8)) /* "lora_te_" + the flat path */
            comp = "unet.";
        else if (strncmp(p, "text_model.", 11) == 0)
            comp = "text_encoder.";
    }
    int n = snprintf(out, cap, "%s%s", comp, p);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

int *lsc_modkey_match(const lsc_adapter *x, const lsc_adapter *y, char **taken)
{
    return lsc_modkey_match_names(x, y, NULL, taken);
}

int *lsc_modkey_match_names(const lsc_adapter *x, const lsc_adapter *y, const lsc_basenames *bn, char **taken)
{
    int *jof = malloc((x->n_layers + 1) * sizeof *jof);
    char *tk = calloc(y->n_layers + 1, 1);
    char **cy = calloc(y->n_layers + 1, sizeof *cy);
    char cx[LSC_MODKEY_MAX], buf[LSC_MODKEY_MAX];
    int ok = jof && tk && cy;
    for (size_t i = 0; ok && i < x->n_layers; i++) {
        jof[i] = lsc_adapter_find_layer(y, x->layers[i].name);
        if (jof[i] >= 0)
            tk[jof[i]] = 1;
    }
    for (size_t j = 0; ok && j < y->n_layers; j++)
        if (!tk[j] && identity(y->layers[j].name, bn, buf, sizeof buf) == 0 && !(cy[j] = strdup(buf)))
            ok = 0;
    for (size_t i = 0; ok && i < x->n_layers; i++) {
        if (jof[i] >= 0 || identity(x->layers[i].name, bn, cx, sizeof cx) != 0)
            continue;
        int found = -1, count = 0;
        for (size_t j = 0; j < y->n_layers; j++)
            if (!tk[j] && cy[j] && strcmp(cy[j], cx) == 0) {
                found = (int)j;
                count++;
            }
        if (count == 1) {
            jof[i] = found;
            tk[found] = 1;
        }
    }
    for (size_t j = 0; cy && j < y->n_layers; j++)
        free(cy[j]);
    free(cy);
    if (!ok) {
        free(jof);
        free(tk);
        return NULL;
    }
    *taken = tk;
    return jof;
}
