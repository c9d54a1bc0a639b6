/* diffusers.h: LoRA files saved by HuggingFace diffusers (one .safetensors, no adapter_config.json).
 *
 * Key spellings read, per module (the layer is named by the module path, component prefix kept):
 *   `<path>.processor.<proj>_lora.{down,up}.weight`   attention processors (diffusers <= 0.20
 *        save_attn_procs): <proj> to_q, to_k, to_v, add_k_proj ... name the module <path>.<proj>, and
 *        to_out names <path>.to_out.0 (the Linear inside the output block);
 *   `<path>.<proj>_lora.{down,up}.weight`             old text-encoder processors: to_q/to_k/to_v/to_out
 *        name q_proj/k_proj/v_proj/out_proj of a CLIP attention block;
 *   `<path>.lora.{down,up}.weight`                    LoRACompatibleLinear/Conv (0.21-0.24) and
 *        convert_state_dict_to_diffusers;
 *   `<path>.lora_linear_layer.{down,up}.weight`       the patched text-encoder projections (0.18-0.24);
 *   `<path>.lora_A.weight` / `<path>.lora_B.weight`   current diffusers (`pytorch_lora_weights.safetensors`
 *        of save_lora_weights: `unet.` / `text_encoder.` / `text_encoder_2.` / `transformer.` prefixes).
 * down/lora_A is A [r, in] (conv [r, in, kh, kw]), up/lora_B is B [out, r] (conv [out, r, 1, 1]). A path
 * without a component prefix in the first four spellings is a UNet's (save_attn_procs saves the UNet
 * only) and is named `unet.<path>`.
 *
 * Scale: a network alpha `<module path>.alpha` (or `<factor prefix>.alpha`, e.g. `<path>.lora.alpha`),
 * a scalar of any numeric dtype, gives alpha / r (0 means r, as kohya); else the `lora_adapter_metadata`
 * entry of the safetensors metadata (diffusers >= 0.34: json.dumps of LoraConfig.to_dict() with every
 * key prefixed by the component, "unet.r", "unet.lora_alpha", "unet.rank_pattern", "unet.alpha_pattern",
 * "unet.use_rslora" ...; unprefixed keys when a model saved itself) gives PEFT's rule for the component's
 * layers; else the scale is 1. A file with both (diffusers refuses it), metadata that is not a JSON
 * object, an r that disagrees with the tensors, DoRA or LyCORIS names are refused.
 * Every other tensor is an extra. Kind "layer-wise" when ranks or alphas differ, else "static".
 *
 * Writing (format "diffusers" only: the keys carry the spelling): unedited and without a dtype change,
 * the source header verbatim (byte-identical); else the same keys, with a changed scale carried by the
 * layer's alpha tensor (rewritten as F32), or by literal rank_pattern/alpha_pattern entries added to
 * lora_adapter_metadata, or (a spelling with neither) folded into B.
 * Lives in store/: file formats, never curses or SQLite. */
#ifndef LSC_DIFFUSERS_H
#define LSC_DIFFUSERS_H

#include <stddef.h>

#include "adapter.h"
#include "dtype.h"
#include "status.h"

/* Non-zero when tensor key `key` is one of the diffusers factor spellings above other than lora_A/lora_B
 * (those are PEFT's too; see lsc_diffusers_claims). */
int lsc_diffusers_is_old_key(const char *key);

/* Non-zero when a lora_A/lora_B key starts with a diffusers pipeline component ("unet.", "text_encoder.",
 * "text_encoder_2.", "text_encoder_3.", "transformer.", "transformer_2.", "prior."). */
int lsc_diffusers_component_key(const char *key);

/* Read a diffusers LoRA .safetensors (see the head comment). name is left NULL; format "diffusers".
 * Errors: LSC_ERR_IO / FORMAT from the safetensors layer; LSC_ERR_FORMAT naming the tensor or metadata
 * key for a lone factor, a rank or shape mismatch, bad alphas, bad lora_adapter_metadata;
 * LSC_ERR_UNSUPPORTED for DoRA/LyCORIS tensors and files without a pair. */
lsc_status lsc_diffusers_read(const char *path, lsc_adapter **out, lsc_error *err);

/* Write `ad` (format "diffusers") to `path` atomically (see the head comment). dtype LSC_DT_INVALID
 * keeps each tensor's dtype, else float tensors are converted. LSC_ERR_UNSUPPORTED for an adapter of
 * another format. */
lsc_status lsc_diffusers_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, lsc_error *err);

/* A copy of a diffusers adapter shaped as PEFT would save it: layers keep their names (module paths),
 * factor keys become `<name>.lora_A.weight` / `.lora_B.weight`, alpha tensors and metadata are dropped
 * (each layer keeps its scale), extras are kept. Tensor data is copied. For export to PEFT. */
lsc_status lsc_diffusers_as_peft(lsc_adapter *ad, lsc_adapter **out, lsc_error *err);

#endif
