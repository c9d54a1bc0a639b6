/* modkey.c: the canonical module identity across formats (see modkey.h). Reuses the name mappings of
 * gguf.c and kohya.c; never SQLite, files or curses. */
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
    return 0;
}

int *lsc_modkey_match(const lsc_adapter *x, const lsc_adapter *y, char **taken)
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
        if (!tk[j] && lsc_modkey_canonical(y->layers[j].name, buf, sizeof buf) == 0 && !(cy[j] = strdup(buf)))
            ok = 0;
    for (size_t i = 0; ok && i < x->n_layers; i++) {
        if (jof[i] >= 0 || lsc_modkey_canonical(x->layers[i].name, cx, sizeof cx) != 0)
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
