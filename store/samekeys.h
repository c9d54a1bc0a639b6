/* samekeys.h: write an adapter back into a single safetensors file under the tensor keys it was read
 * with (diffusers and cloneofsimo files, whose key spellings carry the format; kohya's unchanged copy).
 *
 * Two ways: the source header verbatim with every tensor's stored bytes (an unedited adapter: the file
 * comes out byte-identical), or a fresh header listing ad's tensors in their order under their own keys,
 * dtypes kept or converted, with a per-layer factor folded into B and per-tensor scalars replaced (a
 * format's way of carrying a changed scale). Metadata is given by the caller.
 * Lives in store/: file formats, never curses or SQLite.
 */
#ifndef LSC_SAMEKEYS_H
#define LSC_SAMEKEYS_H

#include <stddef.h>

#include "adapter.h"
#include "dtype.h"
#include "status.h"

/* Write ad->header_json verbatim to `path` (atomically), then every tensor's bytes as stored (loaded
 * through the adapter's loader and released again). The caller has checked lsc_st_header_reusable. */
lsc_status lsc_samekeys_write_verbatim(lsc_adapter *ad, const char *path, lsc_error *err);

/* Write every tensor of ad, in ad's order and under its key, to `path` (atomically) with metadata mk/mv
 * (nm pairs). dtype LSC_DT_INVALID keeps each tensor's dtype, else float tensors become `dtype`.
 * b_mult (n_layers entries, or NULL): the B tensor of layer li is multiplied by b_mult[li] (1 = copied).
 * scalar (n_tensors entries, or NULL): a non-NaN scalar[i] replaces tensor i (a 0-dim tensor) by an F32
 * scalar of that value. Narrowing losses are appended to ad->warnings; f16 overflow is LSC_ERR_NUMERIC
 * naming the tensor. */
lsc_status lsc_samekeys_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, const double *b_mult,
                              const double *scalar, const char *const *mk, const char *const *mv, size_t nm,
                              lsc_error *err);

/* lsc_samekeys_write with the metadata given as the text of a JSON object of strings (meta_json; NULL for
 * none), taken apart by lsc_samekeys_metadata (whose LSC_ERR_INVALID it returns before anything is
 * written). */
lsc_status lsc_samekeys_write_json(lsc_adapter *ad, const char *path, lsc_dtype dtype, const double *b_mult,
                                   const double *scalar, const char *meta_json, lsc_error *err);

/* A metadata object text (ad->metadata_json; NULL for none) as key and value arrays: pointers into
 * *holder (a json_t * the caller releases with json_decref); *keys and *vals malloc'ed, freed by the
 * caller (all three NULL after a failure). NULL text gives n = 0. LSC_ERR_INVALID when the text is not a
 * JSON object of strings (lsc_st_meta_arrays names the entry). */
lsc_status lsc_samekeys_metadata(const char *json_text, void **holder, const char ***keys, const char ***vals,
                                 size_t *n, lsc_error *err);

#endif
