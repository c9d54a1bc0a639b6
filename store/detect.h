/* detect.h: which adapter format a path holds, decided from its content (never from the file name).
 *
 * A folder is a PEFT adapter. A file starting with the magic "GGUF" is a GGUF adapter. Any other file
 * is opened as safetensors (strictly validated) and its tensor names decide: LyCORIS factor names
 * (hada_*, lokr_*, dora_scale, oft_*, lora_mid) are refused, lora_down/lora_up make it kohya,
 * lora_A/lora_B (or lora_embedding_A/B) make it PEFT.
 * Lives in store/: file I/O, never curses or SQLite.
 */
#ifndef LSC_DETECT_H
#define LSC_DETECT_H

#include <stddef.h>

#include "status.h"

/* Write "peft", "kohya" or "gguf" into fmt_out (cap bytes, at least 6). Errors: LSC_ERR_IO (cannot
 * open), LSC_ERR_FORMAT (neither GGUF nor valid safetensors: the safetensors reader's message),
 * LSC_ERR_UNSUPPORTED ("'x': LoHa/LoKr adapter (LyCORIS): not a LoRA pair (tensor 'y')", or "'x': not a
 * LoRA adapter: no lora_A/lora_B, lora_down/lora_up or GGUF lora_a/lora_b tensors"). */
lsc_status lsc_detect_format(const char *path, char *fmt_out, size_t cap, lsc_error *err);

#endif
