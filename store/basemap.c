/* basemap.c: layer name -> base tensor name (see basemap.h). */
#include "basemap.h"

#include <stdio.h>
#include <string.h>

#include "gguf.h"

static int try_name(const lsc_base *b, const char *name, const char *suffix, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", name, suffix);
    return n > 0 && (size_t)n < cap && lsc_base_find(b, out) >= 0 ? 0 : -1;
}

/* kohya: the module path with '.' as '_' (prefix dropped) against every ".weight" tensor of the base. */
static int kohya_match(const lsc_base *b, const char *layer, char *out, size_t cap)
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
        if (tl < 7 || strcmp(t + tl - 7, ".weight") != 0)
            continue;
        /* the tensor name may carry a model prefix ("model.", "text_model.") the kohya name dropped */
        for (size_t start = 0; start + 7 + rl <= tl; start++) {
            if (start > 0 && t[start - 1] != '.')
                continue;
            if (start + rl + 7 != tl)
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
    }
    return -1;
}

int lsc_base_tensor_name(const lsc_base *b, const char *layer_name, char *out, size_t cap)
{
    static const char peft[] = "base_model.model.";
    if (!try_name(b, layer_name, ".weight", out, cap) || !try_name(b, layer_name, "", out, cap))
        return 0;
    if (strncmp(layer_name, peft, sizeof peft - 1) == 0 && !try_name(b, layer_name + sizeof peft - 1, ".weight", out, cap))
        return 0;
    char g[256];
    if (b->kind == LSC_BASE_GGUF && lsc_gguf_map_name(layer_name, g, sizeof g) == 0 && !try_name(b, g, "", out, cap))
        return 0;
    return kohya_match(b, layer_name, out, cap);
}
