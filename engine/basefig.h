/* basefig.h: figures of one LoRA layer against the base weight W it modifies.
 *
 * With dW = s*B*A = U_d S_d V_d^T (exact, from the factors: lsc_spectrum) and W [rows, cols]:
 *   base_norm     ||W||_F
 *   delta_norm    ||dW||_F
 *   rel_norm      ||dW||_F / ||W||_F
 *   amplification ||dW||_F / ||U_d^T W V_d||_F   (Hu et al. 2021, section 7.3; U_d, V_d the top-r
 *                 singular vectors of dW, r = its rank; infinite when U_d^T W V_d is 0)
 *   subspace_sim  phi(r, j) = ||V_d[:, :r]^T V_w[:, :j]||_F^2 / min(r, j), for j = r and j = k, with V_w
 *                 W's top right (input-side) singular vectors (the LoRA paper's subspace similarity, on
 *                 the input side as FORMATS.md states it); in [0, 1]
 *   intruders     the number of the top-k right singular vectors y of W + dW whose largest |cos| with
 *                 W's top-k_ref right singular vectors is below eps (Shuttleworth et al. 2024, "intruder
 *                 dimensions"). The paper compares against all singular vectors of W, which needs a full
 *                 SVD; we compare against W's top k_ref = 2k (at least r): a direction of W + dW that
 *                 is close to one of W's leading directions is not an intruder, and a vector of W that
 *                 moved a few places down the ranking is still found. Documented, settable.
 * How W's and (W + dW)'s top singular vectors are found (never a dense SVD; one subspace serves both):
 *   - a randomized range finder on W alone (Halko, Martinsson, Tropp 2011, algorithm 4.4): l = k_w + 10
 *     Gaussian columns (k_w = max(k_ref, k, r)), 3 power iterations, re-orthonormalised at each half step
 *     (lsc_randsvd_opts: oversample, power_iters, seed). With a float W (lsc_basefig_compute_f32: the
 *     exact values of an F32/F16/BF16 base) these passes run in float32: they only steer the subspace Q,
 *     and their rounding (~1e-7 relative) is far below what the last float64 step resolves.
 *   - one float64 pass per adapter, W^T U_d (n columns, U_d dW's left singular vectors), with W^T Q
 *     from the same row blocks when the sketch is fresh (W^T Q is part of the reusable sketch below):
 *     W^T Q gives W's top right vectors (Rayleigh-Ritz, as lsc_randsvd), W^T U_d gives U_d^T W V_d.
 *   - W + dW: range(W + dW) lies in range(W) + range(U_d), so [Q, U_c], U_c the part of U_d orthogonal
 *     to Q, captures W + dW to within what Q leaves of W (sigma_{l+1}(W) after convergence), and
 *     (W + dW)'s top right vectors come from (W^T + dW^T) [Q, U_c] (dW applied from its factors).
 *     W^T U_c takes no pass over W: U_c is built as U_d G - Q H (G [n, ext], H [l, ext] tracked through
 *     the projections and QRs that make it orthonormal), so W^T U_c = (W^T U_d) G - (W^T Q) H. That
 *     difference cancels when a direction of U_d lies (nearly) inside span(Q): G and H grow like
 *     1/sine of its angle to span(Q) and so does the products' rounding (~1e-16 |W|). A rank-revealing
 *     step (SVD of U_d's projection off Q) therefore keeps only the ext <= n directions whose sine
 *     exceeds 1e-8 (~ sqrt of the float64 epsilon): a dropped one is within 1e-8 of span(Q), which
 *     already captures it, so the subspace loses at most 1e-8 |dW|, and a kept one brings at most
 *     ~1e-8 |W| of rounding; both far below the 1e-6 the subspaces are held to. (Dividing blindly, a
 *     U_d inside span(Q) turns rounding into columns as large as W's: wrong intruder counts.)
 *   On a matrix whose spectrum has a gap after k_w (the tests: sigma_i = 100 * 0.6^i) the subspaces match
 *   dense SVDs to 1e-6; on a flat spectrum (random weights) W's "top" vectors are not well defined by any
 *   method and the similarities and intruder counts are correspondingly loose.
 * The norms, ratios and the amplification are float64 throughout. Pure compute; no I/O.
 */
#ifndef LSC_BASEFIG_H
#define LSC_BASEFIG_H

#include <stdint.h>

#include "dtype.h"
#include "lowrank.h"
#include "randsvd.h"
#include "status.h"
#include "workspace.h"

#define LSC_BASEFIG_K 10      /* default k: the paper's top-10 singular vectors */
#define LSC_BASEFIG_EPS 0.5   /* default cosine threshold of an intruder */

typedef struct lsc_basefig_opts {
    int k;          /* <= 0: LSC_BASEFIG_K */
    int k_ref;      /* <= 0: max(2k, r) */
    double eps;     /* <= 0: LSC_BASEFIG_EPS */
    int norms_only; /* non-zero: base_norm, delta_norm and rel_norm only (no SVD of W) */
    lsc_randsvd_opts rs;
} lsc_basefig_opts;

typedef struct lsc_basefig {
    double base_norm, delta_norm, rel_norm, amplification;
    double subspace_sim_r; /* phi(r, r) */
    double subspace_sim_k; /* phi(r, k) */
    int r, k, k_ref;       /* the counts actually used (clamped to min(rows, cols)) */
    int intruders;
} lsc_basefig;

/* Fill defaults into a zeroed opts (k, eps, randomized-svd settings). */
void lsc_basefig_opts_default(lsc_basefig_opts *o);

/* All figures of one layer. W [lr->rows, lr->cols] row-major (the caller transposes fan_in_fan_out
 * weights and flattens conv kernels first). opts NULL: defaults. ws: scratch for lsc_spectrum (may not
 * be NULL). Errors: LSC_ERR_INVALID (shapes), LSC_ERR_NUMERIC (non-finite W or factors), LSC_ERR_NOMEM.
 * A layer of rank 0 gives delta 0, amplification 0, subspace similarities 0 and intruders counted on W
 * itself (0). */
lsc_status lsc_basefig_compute(const double *W, const lsc_lowrank *lr, const lsc_basefig_opts *opts,
                               lsc_workspace *ws, lsc_basefig *out, lsc_error *err);

/* lsc_basefig_compute for a float W [lr->rows, lr->cols] (the exact values of a BF16/F16/F32 base: half
 * the memory, and the range finder's passes in float32 as above). Same results to the tolerances above. */
lsc_status lsc_basefig_compute_f32(const float *W, const lsc_lowrank *lr, const lsc_basefig_opts *opts,
                                   lsc_workspace *ws, lsc_basefig *out, lsc_error *err);

/* The part of a layer's figures that depends on W alone: ||W||_F, the range finder's Q and W^T Q in
 * float64. Given l (the range finder's columns, which follow from k, k_ref, the oversampling and dW's
 * rank: lsc_basefig_sketch_params), the power iterations and the seed, it is a function of W's values
 * only, so the figures of every adapter on one base can share it (the app caches it by the base
 * tensor's content hash; see app/cmd/basework.c). A sketch reused is the same numbers the cold run used,
 * and the figures computed from it go through the same calls in the same order: bit-identical figures. */
typedef struct lsc_basefig_sketch {
    int64_t rows, cols;
    int l, power;
    uint64_t seed;
    double base_norm; /* ||W||_F */
    double *Q;        /* [rows, l] orthonormal columns (malloc'ed, owned) */
    double *WtQ;      /* [cols, l] = W^T Q in float64 (malloc'ed, owned) */
} lsc_basefig_sketch;

/* Free a sketch's arrays and zero it; NULL does nothing. */
void lsc_basefig_sketch_release(lsc_basefig_sketch *sk);

/* The sketch lsc_basefig_compute_sketched would make for lr and opts (NULL: defaults): l columns, power
 * iterations, seed. For keying a cache; never fails. */
void lsc_basefig_sketch_params(const lsc_lowrank *lr, const lsc_basefig_opts *opts, int *l, int *power,
                               uint64_t *seed);

/* lsc_basefig_compute (Wd) or lsc_basefig_compute_f32 (Wf): exactly one of them non-NULL. sk (not NULL):
 * when it holds a sketch with this layer's rows, cols and the l, power and seed of
 * lsc_basefig_sketch_params, the caller promises it is a sketch of this very W (same values, same
 * float/double path) and the range finder and the W^T Q product are skipped (*fresh = 0); otherwise a
 * new sketch replaces what sk held (*fresh = 1; fresh may be NULL). The figures are bit-identical either
 * way, and equal to lsc_basefig_compute's to the tolerances of basefig.h. With opts->norms_only the
 * sketch is neither used nor made. On error sk holds either its old sketch or nothing. */
lsc_status lsc_basefig_compute_sketched(const double *Wd, const float *Wf, const lsc_lowrank *lr,
                                        const lsc_basefig_opts *opts, lsc_workspace *ws, lsc_basefig_sketch *sk,
                                        int *fresh, lsc_basefig *out, lsc_error *err);

/* Rows i0 .. i0+nb-1 of W [rows, cols] as floats into out [nb, cols] (row-major): the exact values of an
 * F32/F16/BF16 base (lsc_dtype_to_float). Called with blocks of rows in order, nb at most a few MB of
 * floats (any i0, nb within W must work). */
typedef void (*lsc_basefig_rows_fn)(void *ctx, int64_t i0, int nb, float *out);

/* lsc_basefig_compute_sketched when sk (not NULL) holds a fitting sketch of W (as there) and W is
 * given only as row blocks, decoded on demand: the adapter's pass reads each block once, so a caller
 * holding W in a compact dtype never materialises it as floats. rows_fn must give the floats the sketch
 * was made from (lsc_basefig_compute_sketched with Wf = those floats); then the figures are bit-identical
 * to lsc_basefig_compute_sketched's. (A sketch made from a double W would give figures equal only to
 * rounding: its W^T Q came from dgemm, the row blocks go through lsc_wtx64.) Without a fitting sketch, or with opts->norms_only:
 * LSC_ERR_INVALID (the range finder needs W whole). */
lsc_status lsc_basefig_compute_rows(lsc_basefig_rows_fn rows_fn, void *ctx, const lsc_lowrank *lr,
                                    const lsc_basefig_opts *opts, lsc_workspace *ws, lsc_basefig_sketch *sk,
                                    lsc_basefig *out, lsc_error *err);

/* ||W||_F of a float W fed in pieces of any length, bit for bit the base_norm the functions above give
 * for the same floats in the same (row-major) order: one sum of squares in float64 per lane j = 0..3 over
 * the entries j, j+4, j+8, ... in order, the last numel % 4 entries added to lane 0 after all of them, and
 * sqrt((s0 + s1) + (s2 + s3)). (Squares of floats are exact in float64 and cannot overflow, so no scaling
 * is needed; the order above is what makes the result independent of how W is cut into pieces.) Usage:
 * _init, any number of _add / _add_raw calls, _finish (which leaves the accumulator as it was). */
typedef struct lsc_basefig_norm {
    double lane[4];
    float pend[3]; /* entries after the last complete group of 4, added once more arrive or at _finish */
    int npend;
} lsc_basefig_norm;

void lsc_basefig_norm_init(lsc_basefig_norm *a);

/* Add x [n] (n may be 0). */
void lsc_basefig_norm_add(lsc_basefig_norm *a, const float *x, size_t n);

/* Add n entries of dtype dt (F32, F16 or BF16, little-endian bytes at raw), widened exactly as
 * lsc_dtype_to_float does, a few KB at a time (no buffer of n floats). LSC_ERR_UNSUPPORTED for other
 * dtypes (nothing added). */
lsc_status lsc_basefig_norm_add_raw(lsc_basefig_norm *a, lsc_dtype dt, const void *raw, size_t n);

/* ||W||_F of everything added (0 for nothing; not finite when an entry was not finite). */
double lsc_basefig_norm_finish(const lsc_basefig_norm *a);

/* The figures of opts->norms_only (delta_norm, base_norm, rel_norm, r, k, k_ref) from ||W||_F given as
 * base_norm (from lsc_basefig_norm, say): the same results and errors as lsc_basefig_compute_sketched with
 * norms_only on that W, for a caller that streams W instead of holding it. LSC_ERR_NUMERIC when base_norm
 * is not finite; LSC_ERR_INVALID (bad arguments), LSC_ERR_NOMEM. */
lsc_status lsc_basefig_compute_norms(double base_norm, const lsc_lowrank *lr, const lsc_basefig_opts *opts,
                                     lsc_workspace *ws, lsc_basefig *out, lsc_error *err);

/* phi = ||X^T Y||_F^2 / min(a, b) for X [n, a] and Y [n, b] row-major with leading dimensions ldx, ldy
 * (the first a and b columns are used). Exposed for the tests. */
double lsc_basefig_subspace_sim(const double *X, int ldx, int a, const double *Y, int ldy, int b, int64_t n);

#endif
