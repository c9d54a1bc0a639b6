/* randsvd.h: top singular triplets of a dense matrix plus an optional low-rank term, by a randomized
 * range finder with power iterations (Halko, Martinsson, Tropp 2011, algorithms 4.4 and 5.1).
 *
 * M = W + s*B*A with W [rows, cols] row-major and (B, A, s) an lsc_lowrank of the same shape (or none).
 * M is only ever applied to blocks of vectors, as W*X + s*B*(A*X) and W^T*Y + s*A^T*(B^T*Y): W + s*B*A
 * is never formed, and no dense SVD of anything larger than [cols, k + oversample] is taken.
 * Pure compute over BLAS/LAPACKE; no I/O; the random test matrix comes from the seeded lsc_rng stream.
 */
#ifndef LSC_RANDSVD_H
#define LSC_RANDSVD_H

#include <stdint.h>

#include "lowrank.h"
#include "status.h"

#define LSC_RANDSVD_OVERSAMPLE 10 /* extra columns of the test matrix */
#define LSC_RANDSVD_POWER 3       /* power iterations: each applies M^T then M, re-orthonormalised */

typedef struct lsc_randsvd_opts {
    int oversample;  /* < 0: LSC_RANDSVD_OVERSAMPLE */
    int power_iters; /* < 0: LSC_RANDSVD_POWER */
    uint64_t seed;   /* seed of the Gaussian test matrix */
} lsc_randsvd_opts;

/* Approximate top-k singular triplets of M = W + lr (lr may be NULL: M = W). W [rows, cols] row-major;
 * lr, when given, must have lr->rows == rows and lr->cols == cols. k is clamped to min(rows, cols)
 * (*k_out receives the count actually produced, may be NULL). Outputs (caller-allocated for k columns):
 * S [k] descending, U [rows, k] row-major (may be NULL), V [cols, k] row-major (may be NULL); columns are
 * orthonormal and the sign of each pair is fixed so that the largest-magnitude entry of each V column is
 * positive (for reproducible output). opts NULL: defaults, seed 0.
 * Errors: LSC_ERR_INVALID (bad shapes, k <= 0), LSC_ERR_NOMEM, LSC_ERR_NUMERIC (non-finite input or a
 * LAPACK failure). Scratch: O((rows + cols) * (k + oversample)) doubles, allocated per call. */
lsc_status lsc_randsvd(const double *W, int64_t rows, int64_t cols, const lsc_lowrank *lr, int k,
                       const lsc_randsvd_opts *opts, double *S, double *U, double *V, int *k_out, lsc_error *err);

#endif
