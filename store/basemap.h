/* basemap.h: which base tensor a LoRA layer modifies. One small function, in its own file, so that it can
 * be swapped for the shared module-name resolver (kohya/SD/SDXL tables) when that lands.
 * Lives in store/: names only, no I/O. */
#ifndef LSC_BASEMAP_H
#define LSC_BASEMAP_H

#include <stddef.h>

#include "base.h"

/* The name of the base tensor layer `layer_name` modifies, in out (cap bytes). Rules, first match wins:
 * the name itself + ".weight" and the name itself (GGUF adapters name the base tensor, "blk.3.attn_q" or
 * "blk.3.attn_q.weight"); PEFT: without "base_model.model." + ".weight"; the llama.cpp GGUF name of a
 * PEFT/kohya llama layer (lsc_gguf_map_name) when the base is GGUF; kohya: "lora_unet_"/"lora_te*_" prefix
 * dropped and each base tensor name with '.' read as '_' compared (ends in ".weight"). Returns 0 and fills
 * out when the base has the tensor, -1 otherwise. */
int lsc_base_tensor_name(const lsc_base *b, const char *layer_name, char *out, size_t cap);

#endif
