/* peft.h: HuggingFace PEFT adapters (adapter_model.safetensors + adapter_config.json) in and out.
 *
 * Reading: keys `<prefix>.lora_A.weight`, `<prefix>.lora_A.<adapter>.weight`, `<prefix>.lora_A` (likewise
 * lora_B, lora_E, lora_embedding_A/B, lora_magnitude_vector); rank from the shapes; scale from
 * lora_alpha / r (or / sqrt(r) with use_rslora) after rank_pattern / alpha_pattern lookup (first key k
 * whose regex `(.*\.)?(k)$` matches the module name), AdaLoRA's alpha / init_r; fan_in_fan_out, conv and
 * embedding layers; DoRA magnitude vectors; every other tensor kept as an extra; the config text kept
 * verbatim (unknown keys survive). Writing: tensors in their stored or a requested dtype, the config
 * updated with rank_pattern / alpha_pattern when ranks or alphas vary so PEFT reloads it.
 * Lives in store/: file formats, never curses.
 */
#ifndef LSC_PEFT_H
#define LSC_PEFT_H

#include "adapter.h"
#include "status.h"

/* Read a PEFT adapter. `path` is a folder holding adapter_model.safetensors (+ adapter_config.json),
 * or a .safetensors file (its folder's adapter_config.json is used if present). Tensor data is not
 * loaded: the returned adapter's loader streams it from the file. name/kind are left for the caller
 * (name NULL; kind set from the config: "adaptive" for ADALORA, else "static" or "layer-wise" when
 * ranks, alphas or adapted layers vary). Errors name the file, the tensor or the config key. */
lsc_status lsc_peft_read(const char *path, lsc_adapter **out, lsc_error *err);

/* lsc_peft_read that stops with LSC_ERR_CANCELLED ("reading 'FILE' cancelled") soon after *cancel becomes
 * non-zero (cancel may be NULL): a header of very many tensors takes a while to classify. */
lsc_status lsc_peft_read_cancel(const char *path, lsc_adapter **out, volatile int *cancel, lsc_error *err);

/* Names of the adapters in a multi-adapter folder: "default" for the folder itself (if it holds an
 * adapter) and each sub-folder that holds adapter_model.safetensors. *names is a malloc'ed array of
 * malloc'ed strings. */
lsc_status lsc_peft_list(const char *dir, char ***names, size_t *n, lsc_error *err);

/* Write `ad` as a PEFT folder `dir` (created if missing; its parent folder must exist):
 * adapter_model.safetensors and adapter_config.json. dtype LSC_DT_INVALID keeps every tensor's stored
 * dtype; then an adapter whose tensors are unchanged since import (same keys, same bytes) is written with
 * its source header verbatim, so the file is byte-identical to the source. Conversions that overflow f16
 * fail with LSC_ERR_NUMERIC naming the tensor; values they flush to zero or round to subnormals are
 * appended to ad->warnings, one line per tensor ("tensor 'x': 3 of 8 values flushed to zero in F16"), for
 * the caller to show. The folder is replaced atomically (lsc_atomic_folder_*): a reader sees the old pair
 * or the new pair, never a mix; other files in it are kept; on failure nothing is left behind. A symbolic
 * link `dir` is written through. An existing `dir` that is not a folder is refused. */
lsc_status lsc_peft_write(lsc_adapter *ad, const char *dir, lsc_dtype dtype, lsc_error *err);

/* The two files of lsc_peft_write into the existing folder `dir`, each file atomic but not the pair: for
 * callers that build a whole folder tree inside one lsc_atomic_folder (multi-task exports). */
lsc_status lsc_peft_write_into(lsc_adapter *ad, const char *dir, lsc_dtype dtype, lsc_error *err);

/* ---- helpers (exposed for the tests and for other importers) --------------------------------------- */

/* The PEFT module name of a layer name: the name with a leading "base_model.model." removed
 * (a pointer into `layer_name`). This is the string rank_pattern / alpha_pattern keys are matched on. */
const char *lsc_peft_module_name(const char *layer_name);

/* Does pattern key `key` (a Python regular expression, as PEFT writes them) select module `module`,
 * i.e. does `(.*\.)?(key)$` match the whole module name? The common Python subset is translated to
 * POSIX ERE (\d \w \s and their negations, (?:...), lazy quantifiers). Returns 1 or 0; -1 with err set
 * (LSC_ERR_UNSUPPORTED) when the key uses a construct that cannot be translated. */
int lsc_peft_pattern_match(const char *key, const char *module, lsc_error *err);

#endif
