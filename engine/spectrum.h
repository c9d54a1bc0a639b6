/* spectrum.h: singular values (and vectors, as factors) of s*B*A without forming B*A.
 *
 * Method (FORMATS.md, "Maths that never needs dW"): thin QR of B = Qb Rb and of A^T = Qa Ra, SVD of the
 * small core Rb Ra^T = U S V^T, so s*B*A = (Qb U)(|s| S)(Qa V)^T. Cost O((rows+cols) r^2); computed in
 * double precision. Well-conditioned factors take a Cholesky-QR (Gram) path, the rest Householder QR (see
 * spectrum.c). Pure compute over BLAS/LAPACKE; no I/O.
 */
#ifndef LSC_SPECTRUM_H
#define LSC_SPECTRUM_H

#include "lowrank.h"
#include "status.h"
#include "workspace.h"

/* Number of singular values lsc_spectrum() produces: min(r, rows, cols) (0 when any is 0). */
int lsc_spectrum_count(const lsc_lowrank *lr);

/* Singular values of lr->scale * B * A, descending, into sv[0 .. n-1] with n = lsc_spectrum_count(lr).
 * If U is non-NULL it receives the left singular vectors, U [rows, n] row-major (output side);
 * if V is non-NULL, the right singular vectors V [cols, n] row-major (input side), so that
 * s*B*A = U diag(sv) V^T with sv >= 0 (a negative scale is moved into U); U and V have orthonormal
 * columns even when the layer is rank deficient. Without U and V the faster values-only path runs.
 * Caller owns sv, U, V. Scratch comes from ws (slots LSC_WS_SPECTRUM_FIRST..): once warmed up on a
 * shape, a call of the same or a smaller shape allocates nothing.
 * Errors: non-finite entries in B or A, a non-finite scale, or overflow of the product of finite
 * factors give LSC_ERR_NUMERIC (also for n = 0); a negative shape or a missing factor/output
 * LSC_ERR_INVALID; rows or cols beyond INT_MAX LSC_ERR_UNSUPPORTED; LSC_ERR_NOMEM. */
lsc_status lsc_spectrum(const lsc_lowrank *lr, lsc_workspace *ws, double *sv, double *U, double *V, lsc_error *err);

/* lsc_spectrum with only the first k singular vectors (1 <= k <= n): every value into sv[0 .. n-1],
 * U [rows, k] and V [cols, k] row-major (either may be NULL). A truncation needs no more, and applying the
 * orthogonal factors to k columns instead of n saves that share of the work and of the memory.
 * LSC_ERR_INVALID for k outside [1, n] when a vector output is given; otherwise as lsc_spectrum. */
lsc_status lsc_spectrum_top(const lsc_lowrank *lr, lsc_workspace *ws, int k, double *sv, double *U, double *V,
                            lsc_error *err);

/* Flags of lsc_spectrum_top_ex and lsc_spectrum_gram_top. */
#define LSC_SPECTRUM_VT 1u      /* gram_top: V written transposed */
#define LSC_SPECTRUM_NO_GRAM 2u /* top_ex: Householder path only */

/* lsc_spectrum_top with flags: LSC_SPECTRUM_NO_GRAM skips the Gram path (for a caller whose own Gram
 * attempt, lsc_spectrum_gram_top, just declined). Other flags give LSC_ERR_INVALID. */
lsc_status lsc_spectrum_top_ex(const lsc_lowrank *lr, lsc_workspace *ws, int nv, unsigned flags, double *sv, double *U,
                               double *V, lsc_error *err);

/* The stacked spectrum of scale * sum_k coef[k] * B_k A_k (terms [n_terms] of one shape, rank r_k each;
 * their own .scale is not read) by the Gram path only, without concatenating the factors: the merge of two
 * adapters needs no [rows, r1 + r2] copies. On success *done = 1, sv [R] (R = sum r_k), U [rows, nv],
 * V [cols, nv] as lsc_spectrum_top (scale's sign in U; with LSC_SPECTRUM_VT in flags, V is written
 * transposed, row-major [nv, cols], the layout of a new A factor). *done = 0 (LSC_OK, outputs unspecified) when the path declines: a side shorter than
 * R, or stacked factors that are (numerically) rank deficient or ill-conditioned, e.g. a layer stacked with
 * itself; the caller then concatenates and calls lsc_spectrum_top. Non-finite entries also decline (the
 * general path reports them). LSC_ERR_INVALID for bad arguments, LSC_ERR_NOMEM. */
lsc_status lsc_spectrum_gram_top(const lsc_lowrank *terms, const double *coef, int n_terms, double scale,
                                 unsigned flags, lsc_workspace *ws, int nv, double *sv, double *U, double *V, int *done,
                                 lsc_error *err);

/* The Gram path's small pieces of lr (r <= rows, r <= cols), for callers that need only products of the
 * singular vectors with other small matrices (diff): sv [r] as lsc_spectrum, and column-major [r, r]
 * rb, ra (the upper Cholesky factors of B^T B and A A^T, zero below the diagonal), uc, vc, such that
 *   U = sign(s) B rb^{-1} uc,  V = A^T ra^{-1} vc
 * are lsc_spectrum's U and V (never formed). *done = 0 (LSC_OK, outputs unspecified) when the Gram path
 * declines (see lsc_spectrum_gram_top) or r exceeds rows or cols; then call lsc_spectrum. Errors as
 * lsc_spectrum (LSC_ERR_INVALID also for a missing output). */
lsc_status lsc_spectrum_gram_core(const lsc_lowrank *lr, lsc_workspace *ws, double *sv, double *rb, double *ra,
                                  double *uc, double *vc, int *done, lsc_error *err);

/* Which path the calling thread's last decomposition took (for tests and benchmarks). */
typedef enum lsc_spectrum_path {
    LSC_SPECTRUM_PATH_NONE,
    LSC_SPECTRUM_PATH_GRAM,        /* Cholesky of the Gram matrices (well-conditioned factors) */
    LSC_SPECTRUM_PATH_HOUSEHOLDER, /* blocked Householder QR (everything else) */
} lsc_spectrum_path;
lsc_spectrum_path lsc_spectrum_last_path(void);

/* Test hook: the smallest reciprocal condition number (1-norm estimate of the Cholesky factor with
 * columns scaled to unit norm) for which the Gram path is taken; > 1 disables it, a negative value
 * restores the default. Returns the previous value. Not thread-safe: set it before starting work. */
double lsc_spectrum_set_gram_rcond(double min_rcond);

/* Smallest k with sum_{i<k} sv_i^2 >= tau * sum sv_i^2 (sv descending, n values); 0 when all are 0 or
 * tau <= 0, n when tau > 1. Plain squares are summed, so thresholds met exactly count (sv 3, 1 at tau
 * 0.9 gives 1). */
int lsc_energy_rank(const double *sv, int n, double tau);

#endif
