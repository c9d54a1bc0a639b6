/* basenames.h: the module names of a base model, and kohya names turned back into module paths.
 *
 * kohya flattens a module path ("down_blocks.0.attentions.0.proj_in") by writing every '.' as '_' and
 * prepending a prefix (lora_unet_, lora_te_, lora_te1_, lora_te2_, lora_te3_). '_' is also part of module
 * names, so the path cannot be recovered from the name alone: it is looked up in the set of the base
 * model's module names, flattened the same way. Two module names that flatten to the same string (a
 * "down_blocks.0" beside a "down.blocks_0") make that flat name ambiguous: resolving it is an error naming
 * both, never a guess.
 *
 * A name set comes from a base model's files (a .safetensors header, a sharded model.safetensors.index.json,
 * or a text list of module names, one a line) or from a built-in table generated from the structure of a
 * common architecture (block counts, channel widths, attention and resnet naming as diffusers and
 * transformers name their modules): sd15 and sd2 (UNet + CLIP text encoder), sdxl (UNet + both CLIP text
 * encoders), llama (decoder blocks 0..127).
 *
 * Components. Diffusion pipelines keep several models side by side; a name may start with the component
 * it belongs to ("unet.", "text_encoder.", "text_encoder_2.", "text_encoder_3.", "transformer."), which is
 * how diffusers writes one LoRA file for a whole pipeline. The built-in SD tables carry components; names
 * from a file carry one only when they start with one. kohya's prefix says which component a name
 * belongs to (lora_unet_ -> unet, lora_te_/lora_te1_ -> text_encoder, lora_te2_ -> text_encoder_2,
 * lora_te3_ -> text_encoder_3); names without a component match any prefix.
 *
 * Lives in store/ (reads files); never SQLite or curses. */
#ifndef LSC_BASENAMES_H
#define LSC_BASENAMES_H

#include <stddef.h>

#include "adapter.h"
#include "status.h"

typedef struct lsc_basenames lsc_basenames;

/* The built-in architectures, NULL-terminated: "sd15", "sd2", "sdxl", "llama". */
extern const char *const lsc_basenames_archs[];

/* An empty name set (NULL on out of memory); lsc_basenames_free releases it (NULL allowed). */
lsc_basenames *lsc_basenames_new(void);
void lsc_basenames_free(lsc_basenames *bn);

/* Add one module name (dotted path, optionally starting with a component). A trailing ".weight" or
 * ".bias" is dropped (tensor names are accepted). Adding a name twice keeps one. LSC_ERR_NOMEM. */
lsc_status lsc_basenames_add(lsc_basenames *bn, const char *name, lsc_error *err);

/* Number of distinct module names held. */
size_t lsc_basenames_count(const lsc_basenames *bn);

/* Module name i (0 <= i < count, in the order added) into out (cap bytes), with its component
 * ("unet.down_blocks.0.resnets.0.conv1"). Returns 0, or -1 when i is out of range or out too small. */
int lsc_basenames_name(const lsc_basenames *bn, size_t i, char *out, size_t cap);

/* The built-in table of `arch` (one of lsc_basenames_archs). LSC_ERR_INVALID for another name. */
lsc_status lsc_basenames_builtin(const char *arch, lsc_basenames **out, lsc_error *err);

/* Load module names from `path`: a .safetensors file (only its header is read and validated; each tensor
 * name gives its module: the name without its last part), a sharded model.safetensors.index.json (the keys
 * of its "weight_map", likewise), or a text file of module names, one a line (blank lines and lines
 * starting with '#' skipped; a trailing ".weight"/".bias" dropped). Errors name the file and, for a text
 * list, the line (a character that is not in a module name, a NUL byte); an empty set is an error. */
lsc_status lsc_basenames_load(const char *path, lsc_basenames **out, lsc_error *err);

/* The module path of the kohya module name `kohya` ("lora_unet_down_blocks_0_attentions_0_proj_in") into
 * out (cap bytes): the component-qualified dotted path ("unet.down_blocks.0.attentions.0.proj_in"). The
 * component comes from the kohya prefix whenever the name belongs to a diffusion pipeline: a lora_unet_,
 * lora_te1_, lora_te2_ or lora_te3_ name, a name found under a component, or a lora_te_ name whose path
 * starts with "text_model." (a CLIP text model); a lora_te_ name found among component-less names is
 * returned bare ("model.layers.0.self_attn.q_proj": a language model). Errors (LSC_ERR_INVALID, message
 * naming `kohya`): not a kohya name; no module flattens to it; two modules do (both named); out too small. */
lsc_status lsc_basenames_resolve(const lsc_basenames *bn, const char *kohya, char *out, size_t cap, lsc_error *err);

/* The name set for the kohya adapter `ad`: loaded from `path` when it is not NULL, else the built-in
 * table `arch` when it is not NULL, else the first built-in table (in lsc_basenames_archs order, the
 * one kohya's ss_base_model_version metadata names first) that resolves every layer of `ad`; *chosen (may be NULL) receives the arch or path used. When no table fits:
 * LSC_ERR_INVALID naming the first layer the last table tried could not resolve, and saying to give
 * --base-names or --arch. */
lsc_status lsc_basenames_pick(const lsc_adapter *ad, const char *arch, const char *path, lsc_basenames **out,
                              const char **chosen, lsc_error *err);

/* A PEFT-shaped copy of the kohya adapter `ad` (*out, freed with lsc_adapter_free) for lsc_peft_write:
 * every layer renamed to its module path through `bn` (an unmappable name: LSC_ERR_INVALID naming it),
 * keys "<path>.lora_A.weight" / "<path>.lora_B.weight" with the same tensors (same dtype and bytes; conv
 * shapes kept), alpha tensors folded into each layer's alpha (scale alpha/r unchanged), other tensors kept
 * as extras. Diffusion names keep their component prefix as diffusers writes a pipeline LoRA
 * ("unet.down_blocks...", "text_encoder.text_model..."); language-model names get "base_model.model.".
 * module_type is the module path without its component, so the written target_modules list names exactly
 * the adapted modules (as diffusers builds it from a state dict). The copy's tensor data is streamed from
 * `ad`, which must outlive it. kohya metadata (ss_*) is not carried over. */
lsc_status lsc_basenames_kohya_to_peft(lsc_adapter *ad, const lsc_basenames *bn, lsc_adapter **out, lsc_error *err);

#endif
