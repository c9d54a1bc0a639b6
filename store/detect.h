/* detect.h: which adapter format a path holds, decided from its content (never from the file name).
 *
 * A folder is a PEFT adapter. A file starting with the magic "GGUF" is a GGUF adapter. A file whose
 * first 8 bytes are a plausible safetensors header length (at most 100,000,000 and inside the file)
 * followed by '{' is opened as safetensors (strictly validated) and its tensor names decide: LyCORIS factor names
 * (hada_*, lokr_*, dora_scale, oft_*, lora_mid) are refused, lora_down/lora_up make it kohya,
 * lora_A/lora_B (or lora_embedding_A/B) make it PEFT, except in a file without an adapter_config.json
 * beside it whose factors are all spelled `<path>.lora_A.weight` / `.lora_B.weight` (no adapter segment,
 * no lora_E, embedding, gate or DoRA tensors) and either all start with a diffusers pipeline component
 * ("unet.", "text_encoder." ...) or come with lora_adapter_metadata: that is a diffusers file. diffusers' own spellings
 * (`.lora.down.weight`, `_lora.down.weight`, `.lora_linear_layer.down.weight`) make it "diffusers";
 * cloneofsimo's `<part>:<i>:up|down` make it "cloneofsimo".
 * Lives in store/: file I/O, never curses or SQLite.
 */
#ifndef LSC_DETECT_H
#define LSC_DETECT_H

#include <stddef.h>

#include "status.h"

/* Write "peft", "kohya", "gguf", "diffusers" or "cloneofsimo" into fmt_out (cap bytes, at least 12). Errors: LSC_ERR_IO (cannot
 * open), LSC_ERR_FORMAT for a file that is none of them, saying what it is: "'x' is a JSON file, not an
 * adapter", "'x': empty file, not an adapter", "'x.gguf': not a GGUF file (bad magic)" (the name is used
 * only for the message), a ".safetensors" file gets the strict reader's reason, anything else "'x': not a
 * safetensors, GGUF or PEFT adapter"; a plausible safetensors file that breaks a rule gets the reader's
 * message. LSC_ERR_UNSUPPORTED ("'x': LoHa/LoKr adapter (LyCORIS): not a LoRA pair (tensor 'y')", or
 * "no LoRA layers in 'x' (...)"). */
lsc_status lsc_detect_format(const char *path, char *fmt_out, size_t cap, lsc_error *err);

#endif
