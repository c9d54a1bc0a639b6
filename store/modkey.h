/* modkey.h: one identity for a module across adapter formats, so that the same module stored as a PEFT
 * path ("base_model.model.model.layers.3.self_attn.q_proj"), a kohya flattened name
 * ("lora_te_model_layers_3_self_attn_q_proj") or a llama.cpp tensor ("blk.3.attn_q.weight") compares as
 * one (diff matches layers of two adapters by it).
 *
 * The canonical key is kohya's flattened form: a kohya name cannot be unflattened without the base
 * model's module list ('_' is both the separator and part of module names), while every PEFT path
 * flattens, so both sides go to the flat form. llama.cpp names are first mapped back to the PEFT path
 * (llama family, lsc_gguf_unmap_name), then flattened (lsc_kohya_map_name); "lora_te1_" (SDXL's first text
 * encoder) is written "lora_te_". A UNet path without its pipeline component (PEFT's
 * "base_model.model.down_blocks.0...", diffusers' "unet.down_blocks.0...") is put under "unet." first, so
 * a PEFT, diffusers and kohya copy of one UNet module share "lora_unet_down_blocks_0_...". The mappings themselves live in gguf.c and kohya.c, used as they are.
 * Depends on store/gguf, store/kohya and engine/adapter (the layer list); no I/O. */
#ifndef LSC_MODKEY_H
#define LSC_MODKEY_H

#include <stddef.h>

#include "adapter.h"

/* Longest canonical key lsc_modkey_canonical writes, with its NUL. */
#define LSC_MODKEY_MAX 1024

/* The canonical key of the layer stored under `key` (any format) into out (cap bytes). Returns 0, or -1
 * when out is too small (out is then an empty string). */
int lsc_modkey_canonical(const char *key, char *out, size_t cap);

/* Pair the layers of x with those of y: jof[i] is the layer of y that layer i of x compares with, -1 for
 * none. The same stored key pairs first; a layer left over then pairs with the one layer of y left over
 * that has its canonical key (the same module stored in another format); an identity shared by two
 * leftover layers of y pairs with neither. *taken (y->n_layers entries, malloc'ed) marks the layers of y
 * that have a partner. Returns jof (malloc'ed; caller frees it and *taken), or NULL when out of memory
 * (*taken then untouched). */
int *lsc_modkey_match(const lsc_adapter *x, const lsc_adapter *y, char **taken);

#endif
