/* gguf.h: llama.cpp GGUF LoRA adapters in and out.
 *
 * File layout (GGUF v3, v2 read too, v1 refused): magic "GGUF", u32 version, u64 tensor count, u64
 * key-value count, the key-value pairs, the tensor infos (name, u32 n_dims <= 4, u64 ne[] reversed
 * against the numpy shape, u32 ggml type, u64 offset), zero padding to `general.alignment` (default 32),
 * then the data, each tensor starting at its offset = the padded running sum of the sizes before it.
 * The reader checks every count, length and sum against the bytes left in the file before it allocates
 * anything sized by them, so a count of 2^62 fails at once. general.alignment must be a u32 power of two
 * (1 to 2^31, ggml's rule). Every padding byte must be zero, and after the last tensor the file may hold
 * only zero padding (all of it, part of it or none); more is refused as trailing bytes (safetensors'
 * rule), never dropped. A version-2 file, or one whose last padding is short, records that in
 * ad->header_json ({"gguf_version": 2, "tail": N}) so an unedited export reproduces it byte for byte.
 *
 * Adapter model mapping:
 *   `<base>.lora_a` (ne [in, r], numpy [r, in]) = A,  `<base>.lora_b` (ne [r, out], numpy [out, r]) = B;
 *   layer name = <base> (the base model's GGUF tensor name, e.g. "blk.0.attn_q.weight"), module_type the
 *   last name part before ".weight" ("attn_q"), layer_index the N of "blk.N."; rank from the shapes;
 *   scale = adapter.lora.alpha / r (llama.cpp's rule; an absent or zero alpha means scale 1, recorded as a
 *   warning). Tensor types F32, F16, BF16 are kept as stored; Q8_0 is read-only: it is dequantised on
 *   load and presented (and written back) as F32. Other tensors (e.g. mergekit's `*_norm.weight`) are
 *   extras. Every key-value pair is kept, in file order, in ad->metadata_json as a typed JSON object:
 *     {"general.architecture": {"type": "str", "value": "llama"},
 *      "adapter.lora.alpha": {"type": "f32", "value": 16.0},
 *      "some.list": {"type": "array", "elem": "u32", "value": [1, 2]}, ...}
 *   type names u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool str array; a u64 above 2^63-1 is a decimal
 *   string; a non-finite f32/f64 is a string "0x" + its raw bit pattern in hex. base_model is
 *   general.base_model.0.name if present, else general.architecture. Per-expert (3-D) factors and
 *   token_embd adapters (whose A llama.cpp stores transposed) are refused as unsupported.
 *
 * Writing: GGUF v3 (v2 and the source's tail when header_json says so), KVs in the adapter's own order when it came from GGUF (so an unedited adapter read
 * from a canonically written file is reproduced byte for byte), otherwise general.architecture,
 * general.type = "adapter", adapter.type = "lora", adapter.lora.alpha, lorascope.source_format and
 * lorascope.qk_permuted (bool: whether the q/k rows of B were permuted to llama.cpp's rotary layout).
 * One global alpha: when every layer's scale already equals alpha / r_layer it is kept; otherwise alpha
 * is the most common scale*r over the layers and each layer's B is multiplied by
 * scale_layer / (alpha / r_layer), so llama.cpp's alpha / r reproduces every layer's scale exactly.
 * Tensors are written F32, F16 or BF16 (stored dtype by default; F64 and Q8_0-sourced data as F32).
 * Names of adapters from other formats are mapped with the llama-family table (q_proj attn_q, k_proj
 * attn_k, v_proj attn_v, o_proj attn_output, gate_proj ffn_gate, up_proj ffn_up, down_proj ffn_down,
 * under blk.<i>.); layers that do not map, extras, DoRA, conv and embedding layers are refused, naming
 * them (a GGUF LoRA holds only lora_a/lora_b pairs).
 *
 * q/k rows: llama.cpp's convert_lora_to_gguf.py runs the base converter's tensor hook on the LoRA pair,
 * which for the llama architecture permutes the rows of B of q_proj (n_head groups) and k_proj
 * (n_head_kv groups) exactly as it permutes the base weights: within each group of d = out/groups rows,
 * new row i*2 + j = old row j*(d/2) + i (i < d/2, j < 2); A is unchanged. We do the same when given the
 * head counts (lsc_gguf_write_opts). Without them, writing q_proj/k_proj layers for architecture
 * "llama" is refused unless the caller asks for unpermuted rows (allow_unpermuted), which are then
 * recorded as lorascope.qk_permuted = false. Reading never un-permutes (spectra and norms do not change
 * under a row permutation).
 * Lives in store/: file formats, never curses or SQLite.
 */
#ifndef LSC_GGUF_H
#define LSC_GGUF_H

#include <stdint.h>

#include "adapter.h"
#include "dtype.h"
#include "status.h"

#define LSC_GGUF_MAX_NAME 64 /* llama.cpp's GGML_MAX_NAME, NUL included: names are at most 63 bytes */
#define LSC_GGUF_MAX_DIMS 4
#define LSC_GGUF_DEFAULT_ALIGNMENT 32

/* Read a GGUF LoRA adapter. Tensor data is not loaded: the adapter's loader streams it from the file
 * (kept open in load_ctx). name is left NULL; format "gguf"; kind "static", or "layer-wise" when ranks
 * differ. Errors: LSC_ERR_IO (open/read), LSC_ERR_FORMAT (any broken bound, naming the field or tensor),
 * LSC_ERR_UNSUPPORTED (version 1 or > 3, unknown tensor types, 3-D factors, not a LoRA adapter). */
lsc_status lsc_gguf_read(const char *path, lsc_adapter **out, lsc_error *err);

typedef struct lsc_gguf_write_opts {
    const char *architecture; /* general.architecture for adapters not read from GGUF; NULL: "llama" */
    int n_head, n_head_kv;    /* > 0: permute q_proj/k_proj rows of B like llama.cpp's converter */
    int allow_unpermuted;     /* write q/k rows unpermuted for "llama" without head counts */
} lsc_gguf_write_opts;

/* Write `ad` as a GGUF v3 LoRA file at `path` (atomically: temporary file, fsync, rename).
 * dtype LSC_DT_INVALID keeps each factor's dtype (F64 and Q8_0-sourced become F32); else F32, F16 or
 * BF16 for every tensor. Conversions that overflow f16 fail with LSC_ERR_NUMERIC naming the tensor;
 * values flushed to zero or rounded to subnormals add a line per tensor to ad->warnings.
 * opts may be NULL (architecture "llama", no permutation, which refuses q/k layers of a llama adapter
 * from another format: see the head comment). */
lsc_status lsc_gguf_write_ex(lsc_adapter *ad, const char *path, lsc_dtype dtype, const lsc_gguf_write_opts *opts,
                             lsc_error *err);

/* lsc_gguf_write_ex with opts NULL. */
lsc_status lsc_gguf_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, lsc_error *err);

/* Map a layer name from PEFT (`base_model.model.model.layers.3.self_attn.q_proj`) or kohya
 * (`lora_te_model_layers_3_self_attn_q_proj`) to llama.cpp's base tensor name ("blk.3.attn_q.weight")
 * into out (cap bytes). Returns 0 on success, -1 when the name does not map. */
int lsc_gguf_map_name(const char *layer_name, char *out, size_t cap);

/* The other way: llama.cpp's "blk.3.attn_q.weight" to PEFT's
 * "base_model.model.model.layers.3.self_attn.q_proj" (llama family). 0 on success, -1 if it does not map. */
int lsc_gguf_unmap_name(const char *gguf_name, char *out, size_t cap);

/* Undo llama.cpp's q/k row permutation of B [rows, r] (row-major) in `groups` heads; tmp holds rows*r
 * doubles. Files lorascope writes with head counts record them as lorascope.n_head / lorascope.n_head_kv. */
void lsc_gguf_unpermute_rows(double *B, int64_t rows, int r, int groups, double *tmp);

#endif
