/* cloneofsimo.h: LoRA files of cloneofsimo/lora (save_safeloras / save_safeloras_with_embeds).
 *
 * Layout: tensors `<part>:<i>:up` = B [out, r] (conv [out, r, 1, 1]) and `<part>:<i>:down` = A [r, in]
 * (conv [r, in, kh, kw]) for the i-th injected module of model part <part> ("unet", "text_encoder"), in
 * the order the trainer walked the model; metadata `<part>:<i>:rank` (the rank as a decimal string),
 * `<part>` (JSON list of the target classes, e.g. ["CrossAttention", "Attention", "GEGLU"]) and, for each
 * learned token embedding kept as a tensor (`<s1>`), `<s1>` = "<embed>". The scale is 1 (the trainer's
 * runtime `scale` is not saved).
 * The module paths are NOT in the file: layers are named by position, "<part>:<i>" (module type <part>),
 * and cannot be matched with other formats or exported to PEFT/kohya by name. Token embeddings and any
 * other tensor are extras, written back. A `:rank` that disagrees with the tensors, a lone up or down, a
 * rank mismatch and a `<part>` entry that is not a JSON list are refused.
 * Writing (format "cloneofsimo" only): unedited and without a dtype change, the source header verbatim
 * (byte-identical); else the same keys with `<part>:<i>:rank` updated and a scale other than 1 folded into
 * the up factor (the format has no alpha).
 * Lives in store/: file formats, never curses or SQLite. */
#ifndef LSC_CLONEOFSIMO_H
#define LSC_CLONEOFSIMO_H

#include "adapter.h"
#include "dtype.h"
#include "status.h"

/* Non-zero when `key` is `<part>:<digits>:up` or `<part>:<digits>:down`. */
int lsc_cloneofsimo_is_key(const char *key);

/* Read a cloneofsimo .safetensors. name left NULL; format "cloneofsimo". Errors name the file and the
 * tensor or metadata key (LSC_ERR_FORMAT), LSC_ERR_UNSUPPORTED without any pair. */
lsc_status lsc_cloneofsimo_read(const char *path, lsc_adapter **out, lsc_error *err);

/* Write `ad` (format "cloneofsimo") to `path` atomically; dtype LSC_DT_INVALID keeps dtypes. */
lsc_status lsc_cloneofsimo_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, lsc_error *err);

#endif
