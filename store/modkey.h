/* modkey.h: one identity for a module across adapter formats, so that the same module stored as a PEFT
 * path ("base_model.model.model.layers.3.self_attn.q_proj"), a kohya flattened name
 * ("lora_te_model_layers_3_self_attn_q_proj") or a llama.cpp tensor ("blk.3.attn_q.weight") compares as
 * one (diff matches layers of two adapters by it).
 *
 * The canonical key is kohya's flattened form: a kohya name cannot be unflattened without the base
 * model's module list ('_' is both the separator and part of module names), while every PEFT path
 * flattens, so both sides go to the flat form. llama.cpp names are first mapped back to the PEFT path
 * (llama family, lsc_gguf_unmap_name), then flattened (lsc_kohya_map_name); "lora_te1_" (SDXL's first text
 * encoder) is written "lora_te_". A UNet path without its pipeline component (diffusers'
 * "unet.down_blocks.0..." is the same module) is put under "unet." first. A PEFT path of a bare UNet (`unet.save_pretrained` of a PEFT-wrapped
 * UNet: "base_model.model.down_blocks.0...", no "unet." component) is a UNet module too: a path whose first
 * part is one of the UNet's top-level modules (down_blocks, mid_block, up_blocks, conv_in, conv_out,
 * conv_norm_out, time_embedding, add_embedding) is keyed "lora_unet_...", as kohya names it. The mappings
 * themselves live in gguf.c and kohya.c, used as they are.
 *
 * Base tensors: lsc_modkey_base_tensor gives, for a layer of any format, the name of the base model
 * tensor it adapts, as the Hugging Face checkpoint names it; kohya names go through the base model's
 * module names (store/basenames.h), since they cannot be unflattened alone.
 * lsc_modkey_base_tensor_in finds that tensor in an opened base model (`base`, `show --base`, `bake`):
 * the same identity, with the base's own tensor list standing in for the module names.
 * Depends on store/gguf, store/kohya, store/basenames, store/base (a base's tensor list, already read)
 * and engine/adapter (the layer list); no I/O. */
#ifndef LSC_MODKEY_H
#define LSC_MODKEY_H

#include <stddef.h>

#include "adapter.h"
#include "base.h"
#include "basenames.h"
#include "status.h"

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

/* lsc_modkey_match with the base model's module names: leftover layers pair by module path instead of
 * the flat key, so a kohya name pairs with the one module the names give it even where two PEFT paths
 * flatten alike (a kohya name the names cannot resolve keeps its flat key). bn NULL is lsc_modkey_match. */
int *lsc_modkey_match_names(const lsc_adapter *x, const lsc_adapter *y, const lsc_basenames *bn, char **taken);

/* The base model tensor that the layer called `layer` (any format: PEFT, kohya, llama.cpp GGUF) adapts,
 * into out (cap bytes): "<module path>.weight" as the Hugging Face checkpoint names it, e.g.
 * "model.layers.0.self_attn.q_proj.weight" for PEFT "base_model.model.model.layers.0.self_attn.q_proj",
 * kohya "lora_te_model_layers_0_self_attn_q_proj" (through a llama table) and GGUF "blk.0.attn_q.weight".
 * Layers of a diffusion pipeline keep the component that holds the tensor as the first part:
 * "unet.down_blocks.0.attentions.0.proj_in.weight" is "down_blocks.0.attentions.0.proj_in.weight" in the
 * pipeline's unet/ checkpoint (lsc_modkey_component_len measures that part). A PEFT path is taken as it is
 * (without "base_model.model."); a kohya name is resolved through `bn` (lsc_basenames_resolve; bn NULL:
 * LSC_ERR_UNSUPPORTED saying the names are needed). The contract covers the module; embeddings and conv
 * layers adapt the same ".weight". Errors name the layer: LSC_ERR_INVALID for an unmappable or ambiguous
 * kohya name or a result longer than cap. Pure string work: no file is read. */
lsc_status lsc_modkey_base_tensor(const char *layer, const lsc_basenames *bn, char *out, size_t cap, lsc_error *err);

/* The tensor of the opened base model b that the layer called `layer` adapts, into out (cap bytes). Rules,
 * first match wins: the name itself + ".weight" and the name itself (a GGUF adapter names the base tensor,
 * "blk.3.attn_q" or "blk.3.attn_q.weight"); lsc_modkey_base_tensor's name without names (a PEFT path
 * without "base_model.model." + ".weight", a llama.cpp layer name back to its Hugging Face tensor, except
 * attn_q/attn_k, whose rows llama.cpp permutes, so they fit only a GGUF base), also
 * without its pipeline component ("unet.") for a checkpoint of that component alone; on a GGUF base, the
 * llama.cpp name of a PEFT or kohya llama layer (lsc_gguf_map_name); a kohya name ("lora_unet_",
 * "lora_te_", "lora_te1_".."lora_te3_" prefix dropped) against every ".weight" tensor of the base read
 * with '.' as '_', ending the tensor name (a model prefix such as "model." may come before it); the first
 * such tensor in the base's order. Returns 0 and fills out, or -1 when the base has no such tensor.
 * Whether the tensor's shape fits, and the q/k rows llama.cpp permutes in a GGUF base, are the caller's
 * checks (app/cmd/basework.c). */
int lsc_modkey_base_tensor_in(const lsc_base *b, const char *layer, char *out, size_t cap);

/* Length of the pipeline component a base tensor name starts with, with its dot ("unet." -> 5,
 * "text_encoder_2." -> 15), 0 when it has none (a single-model checkpoint such as a language model). */
size_t lsc_modkey_component_len(const char *tensor);

#endif
