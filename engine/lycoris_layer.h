/* lycoris_layer.h: one LyCORIS layer of an lsc_adapter (LoHa, LoKr, LoCon with a Tucker core) read from its
 * stored factor tensors, for everything above the kernels of lycoris.h.
 *
 * A LyCORIS layer keeps its tensors exactly as stored (role LSC_ROLE_FACTOR, each one's part named by the
 * suffix of its key: ".hada_w1_a", ".lokr_w2", ".lora_mid.weight" ...), so an unedited export is the same
 * file; its layer has ta = tb = -1 and one of the LSC_LAYER_LOHA / LOKR / TUCKER flags. This module finds
 * the parts, checks their shapes against each other (naming the tensors), gives the LyCORIS scale, the
 * exact factor view (lsc_lowrank, through lycoris.c), the exact statistics (LoKr from the two factors'
 * spectra: never the Kronecker product), and the plain LoRA pair that replaces the factors on an edit.
 * Engine code: no I/O, never prints; tensors come through the adapter's loader.
 */
#ifndef LSC_LYCORIS_LAYER_H
#define LSC_LYCORIS_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "lowrank.h"
#include "lycoris.h"
#include "stats.h"
#include "status.h"
#include "workspace.h"

/* The factor tensors a LyCORIS layer may have, by the suffix after the module name. */
#define LSC_LYC_PART_LIST(X)                          \
    X(LSC_LYC_HADA_W1_A, ".hada_w1_a", LSC_LAYER_LOHA)  \
    X(LSC_LYC_HADA_W1_B, ".hada_w1_b", LSC_LAYER_LOHA)  \
    X(LSC_LYC_HADA_W2_A, ".hada_w2_a", LSC_LAYER_LOHA)  \
    X(LSC_LYC_HADA_W2_B, ".hada_w2_b", LSC_LAYER_LOHA)  \
    X(LSC_LYC_HADA_T1, ".hada_t1", LSC_LAYER_LOHA)      \
    X(LSC_LYC_HADA_T2, ".hada_t2", LSC_LAYER_LOHA)      \
    X(LSC_LYC_LOKR_W1, ".lokr_w1", LSC_LAYER_LOKR)      \
    X(LSC_LYC_LOKR_W1_A, ".lokr_w1_a", LSC_LAYER_LOKR)  \
    X(LSC_LYC_LOKR_W1_B, ".lokr_w1_b", LSC_LAYER_LOKR)  \
    X(LSC_LYC_LOKR_W2, ".lokr_w2", LSC_LAYER_LOKR)      \
    X(LSC_LYC_LOKR_W2_A, ".lokr_w2_a", LSC_LAYER_LOKR)  \
    X(LSC_LYC_LOKR_W2_B, ".lokr_w2_b", LSC_LAYER_LOKR)  \
    X(LSC_LYC_LOKR_T2, ".lokr_t2", LSC_LAYER_LOKR)      \
    X(LSC_LYC_LORA_DOWN, ".lora_down.weight", LSC_LAYER_TUCKER) \
    X(LSC_LYC_LORA_MID, ".lora_mid.weight", LSC_LAYER_TUCKER)   \
    X(LSC_LYC_LORA_UP, ".lora_up.weight", LSC_LAYER_TUCKER)

typedef enum {
#define LSC_X_LYC(code, suffix, flag) code,
    LSC_LYC_PART_LIST(LSC_X_LYC)
#undef LSC_X_LYC
    LSC_LYC_PART_COUNT
} lsc_lyc_part;

/* The layer flags that mark a LyCORIS layer. */
#define LSC_LAYER_LYCORIS (LSC_LAYER_LOHA | LSC_LAYER_LOKR | LSC_LAYER_TUCKER)

/* The part whose suffix ends key (".hada_w1_a"), -1 if none; *module_len receives the length of the
 * module name before the suffix. LoCon's ".lora_down.weight" / ".lora_up.weight" are parts too: a reader
 * treats them as LyCORIS factors only beside a ".lora_mid.weight". */
int lsc_lycoris_layer_part_of(const char *key, size_t *module_len);

/* The suffix of part p (".hada_w1_a") and the layer flag of its family; "" / 0 out of range. */
const char *lsc_lycoris_layer_suffix(int p);
unsigned lsc_lycoris_layer_family(int p);

/* What the factor tensors of one layer say. */
typedef struct lsc_lyc_layer {
    unsigned family;              /* LSC_LAYER_LOHA, LSC_LAYER_LOKR or LSC_LAYER_TUCKER */
    int part[LSC_LYC_PART_COUNT]; /* tensor index of each part, -1 if absent */
    int64_t rows, cols;           /* the update [out, in * K] */
    int64_t kh, kw;               /* kernel when the tensors show one (Tucker cores, 4-dim factors), else 1, 1 */
    int r1, r2;                   /* LoHa: ranks of the two pairs; LoKr: w1 / w2 rank (0 = full matrix);
                                   * Tucker: r, 0 */
    int64_t w1_rows, w1_cols, w2_rows, w2_cols; /* LoKr: W1 [a, b], W2 [c, d K] */
    int64_t rank;                 /* rank bound of the view: r1 r2, n1 n2 (lsc_lycoris_lokr_count) or r */
} lsc_lyc_layer;

/* Find and check layer li's parts (tensors with role LSC_ROLE_FACTOR and layer li). Every part the family
 * needs must be there, the shapes must chain (a LoHa pair's ranks, both pairs one [rows, cols], Tucker cores
 * [r, r, kh, kw] with both of them the same kernel, LoKr's w*_a / w*_b ranks, W2's kernel matching lokr_t2),
 * and ranks must fit an int. Errors: LSC_ERR_FORMAT with one line naming the layer and tensors; the
 * message says "missing", "has no partner" or "shape" so callers need not add to it. */
lsc_status lsc_lycoris_layer_describe(const lsc_adapter *ad, size_t li, lsc_lyc_layer *out, lsc_error *err);

/* The scale LyCORIS applies to the layer for the given alpha (NAN or 0: none): lsc_lycoris_scale for LoHa
 * and LoKr, alpha / r (alpha 0 meaning r) for a Tucker LoCon. */
double lsc_lycoris_layer_scale(const lsc_lyc_layer *d, double alpha);

/* The most values (rows + cols) * rank the factor view of one layer may hold (2 GiB of doubles). */
#define LSC_LYCORIS_VIEW_MAX ((int64_t)1 << 28)

/* The exact factor view of a LyCORIS layer li (scale = the layer's scale), with B [rows, r] in *bbuf and
 * A [r, cols] in *abuf (grown as needed, caller-owned, as lsc_adapter_factors). LoHa: r = r1 r2, LoKr:
 * r = n1 n2 (every singular pair of the factors, zeros included, so r equals the layer's rank), Tucker:
 * r. Tensors loaded here are unloaded again. Errors: those of describe, LSC_ERR_UNSUPPORTED (a non-float
 * dtype, sizes beyond an int, a view beyond LSC_LYCORIS_VIEW_MAX), LSC_ERR_NUMERIC, LSC_ERR_NOMEM. */
lsc_status lsc_lycoris_layer_view(lsc_adapter *ad, size_t li, double **bbuf, size_t *bcap, double **abuf,
                                  size_t *acap, lsc_lowrank *out, lsc_error *err);

/* Statistics of a LyCORIS layer (out zeroed or released first; see lsc_stats_compute): LoKr's singular
 * values are the products of its factors' (lsc_lycoris_lokr_spectrum, never W1 (x) W2), norm_b and norm_a
 * are ||W1||_F and ||W2||_F; LoHa and Tucker go through the view. ws: scratch reused across layers. */
lsc_status lsc_lycoris_layer_stats(lsc_adapter *ad, size_t li, lsc_workspace *ws, lsc_layer_stats *out,
                                   lsc_error *err);

/* The singular values of a LyCORIS layer's two parts, unscaled, descending: LoHa the pairs W1 = B1 A1 and
 * W2 = B2 A2 (a Tucker pair through its core), LoKr the Kronecker factors W1 and W2 (never their product).
 * *sv1 [*n1] and *sv2 [*n2] are malloc'ed (free them also after a failure; NULL when 0). A Tucker LoCon
 * has no parts: n1 = n2 = 0. Errors: those of describe and lsc_spectrum, LSC_ERR_NOMEM. */
lsc_status lsc_lycoris_layer_part_spectra(lsc_adapter *ad, size_t li, lsc_workspace *ws, double **sv1, int *n1,
                                          double **sv2, int *n2, lsc_error *err);

/* The plain LoRA of layer li in view orientation, exactly: LoHa B A with r1 r2 columns; LoKr through the
 * factors' SVDs with zero singular values dropped (rank(W1) rank(W2)); Tucker the core folded into A.
 * *out is released by the caller (lsc_lycoris_owned_release) also after a failure. */
lsc_status lsc_lycoris_layer_plain(lsc_adapter *ad, size_t li, lsc_lycoris_owned *out, lsc_error *err);

/* Replace LyCORIS layer li by a plain kohya LoRA pair: its factor tensors are removed, "<name>.lora_down.weight"
 * [k, in, kh, kw] (or [k, cols] when no kernel is known) and "<name>.lora_up.weight" [rows, k] (or
 * [rows, k, 1, 1]) are appended as F64 (exact; an export narrows them with --dtype), from B [rows, k],
 * A [k, cols] applied as scale B A; the layer's flags lose the LyCORIS bits, rule alpha/r, alpha = scale k (an alpha tensor is
 * rewritten by lsc_adapter_set_factors). A layer that has the LyCORIS flag but no factor tensors (a
 * skeleton copied from one, as merge builds its output) just gets the pair, [k, cols] / [rows, k].
 * Errors: LSC_ERR_NUMERIC (dtype overflow: nothing changes),
 * LSC_ERR_NOMEM. Called by lsc_adapter_set_factors for LyCORIS layers. */
lsc_status lsc_lycoris_layer_set_plain(lsc_adapter *ad, size_t li, const double *B, const double *A, int k,
                                       double scale, lsc_error *err);

#endif
