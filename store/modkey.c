/* modkey.c: the canonical module identity across formats (see modkey.h). Reuses the name mappings of
 * gguf.c and kohya.c; never SQLite, files or curses. */
#include "modkey.h"

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

int lsc_modkey_canonical(const char *key, char *out, size_t cap)
{
    char peft[LSC_MODKEY_MAX];
    const char *p = key;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    if (lsc_gguf_unmap_name(key, peft, sizeof peft) == 0)
        p = peft;
    if (lsc_kohya_map_name(p, is_kohya_name(p) ? "kohya" : NULL, 0, out, cap) != 0) {
        out[0] = '\0';
        return -1;
    }
    if (strncmp(out, "lora_te1_", 9) == 0)
        memmove(out + 7, out + 8, strlen(out + 8) + 1); /* "lora_te1_x" -> "lora_te_x" */
    return 0;
}
