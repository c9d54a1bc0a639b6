/* kohya.h: kohya sd-scripts LoRA files (one .safetensors) in and out.
 *
 * Reading: `<module>.lora_down.weight` [r, in] or conv [r, in, kh, kw] = A; `<module>.lora_up.weight`
 * [out, r] or [out, r, 1, 1] = B; `<module>.alpha`, a scalar of any numeric dtype, kept as a tensor with
 * role LSC_ROLE_ALPHA attached to the layer so an export writes it back in its own dtype; a missing or
 * zero alpha means alpha = r (recorded in the layer). scale = alpha / r (LSC_SCALE_ALPHA_R).
 * Layer name = the kohya module name ("lora_unet_down_blocks_0_attentions_0_proj_in"); module_type a
 * readable suffix ("proj_in", "to_q", "q_proj", "ff_net_0_proj", else the last name part); layer_index
 * the first number after "layers_" or "blocks_" (-1 if none; SD UNets have several block numbers: this
 * is only the outermost). Every other tensor is an extra. `__metadata__` is kept verbatim as a JSON
 * object text (ad->metadata_json, like the PEFT reader); base_model from ss_sd_model_name, else
 * ss_base_model_version; kind "dynamic" for DyLoRA (ss_network_module naming dylora, or a `unit` in
 * ss_network_args), "layer-wise" when ranks or alphas differ, else "static".
 * LyCORIS files (hada_*, lokr_*, dora_scale, oft_*, lora_mid) are refused: they are not LoRA pairs.
 *
 * Writing: an adapter read from kohya, unedited (same tensors, every layer's scale still alpha/r of its
 * alpha tensor) and written with dtype LSC_DT_INVALID is copied with its header verbatim: byte-identical.
 * Otherwise a canonical file: per layer lora_down, lora_up, alpha; the alpha tensor keeps its dtype when
 * the value is unchanged, else it is an F32 scalar alpha = scale * r (so alpha / r reproduces any scale
 * rule, rsLoRA and AdaLoRA included, to f32 precision of alpha); metadata kept with ss_network_dim /
 * ss_network_alpha updated as kohya's resize_lora.py does (the rank and alpha when uniform, "Dynamic"
 * when they vary) and the stale sshs_model_hash / sshs_legacy_hash dropped.
 * Names from other formats: `base_model.model.` is stripped, every `.` becomes `_`, and a prefix is added:
 * `unet.` / `transformer.` -> lora_unet_, `text_encoder_2.` -> lora_te2_, `text_encoder.` -> lora_te_
 * (lora_te1_ when a text_encoder_2 is present), anything else (LLMs, GGUF names without `.weight`) ->
 * lora_te_ (kohya's prefix for transformer text models; there is no standard for LLMs). AdaLoRA's E is
 * folded into A; DoRA, embedding and fan_in_fan_out layers are refused (kohya's LoRA has no such form).
 * Lives in store/: file formats, never curses or SQLite.
 */
#ifndef LSC_KOHYA_H
#define LSC_KOHYA_H

#include <stddef.h>

#include "adapter.h"
#include "dtype.h"
#include "status.h"

/* Read a kohya LoRA .safetensors. Data is streamed by the adapter's loader (file kept open in
 * load_ctx); alpha tensors are loaded at once. name is left NULL; format "kohya".
 * Errors: LSC_ERR_IO / LSC_ERR_FORMAT from the safetensors layer; LSC_ERR_FORMAT naming the tensors for
 * a missing lora_up/lora_down, a rank mismatch, bad shapes or alphas; LSC_ERR_UNSUPPORTED for LyCORIS
 * files and for files without any lora_down/lora_up pair. */
lsc_status lsc_kohya_read(const char *path, lsc_adapter **out, lsc_error *err);

/* Write `ad` as a kohya .safetensors at `path` (atomically). dtype LSC_DT_INVALID keeps each tensor's
 * dtype; else the float dtype every float tensor is converted to (f16 overflow: LSC_ERR_NUMERIC; values
 * flushed to zero or rounded to subnormals: a line per tensor appended to ad->warnings).
 * Layers kohya cannot express and names that collide after mapping fail with LSC_ERR_UNSUPPORTED /
 * LSC_ERR_INVALID naming them. */
lsc_status lsc_kohya_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, lsc_error *err);

/* The kohya module name for a layer of any format (see the head comment). `has_te2` says whether the
 * adapter also holds text_encoder_2 layers. Returns 0, or -1 when out is too small. */
int lsc_kohya_map_name(const char *layer_name, const char *format, int has_te2, char *out, size_t cap);

#endif
