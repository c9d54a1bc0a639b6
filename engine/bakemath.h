/* bakemath.h: the merged weight of one layer, W + s*B*A (and DoRA's row rescaling), element by element in
 * float64 with one fixed order of operations, so a bake is reproducible bit for bit:
 *   acc_ij = sum over k = 0 .. r-1 (ascending) of B_ik * A_kj, starting from 0
 *   v_ij   = W_ij + s * acc_ij
 *   DoRA (m given): n_i = sqrt(sum_j v_ij^2) (j ascending), out_ij = (m_i / n_i) * v_ij  (PEFT: the norm
 *   of each output row of W + s*B*A, m the magnitude vector)
 * The caller rounds the result once to the output dtype. Pure compute; no I/O. */
#ifndef LSC_BAKEMATH_H
#define LSC_BAKEMATH_H

#include <stdint.h>

#include "dtype.h"
#include "lowrank.h"
#include "status.h"

/* W [lr->rows, lr->cols] row-major, replaced in place by the merged weight. mag [rows] or NULL (not DoRA).
 * Rows are computed in blocks on `threads` workers (lsc_pool_for); every element is computed by the
 * order above whatever the count, so the bytes do not depend on it. LSC_ERR_NUMERIC when a DoRA row norm
 * is 0 or not finite (naming the lowest such row), LSC_ERR_NOMEM. */
lsc_status lsc_bakemath_apply(double *W, const lsc_lowrank *lr, const double *mag, int threads, lsc_error *err);

/* One stored tensor merged straight from its bytes to the output's bytes, in row blocks over the pool:
 * each block is decoded to float64, merged by the order above and rounded once to dst_dt, so no dense
 * float64 copy of the tensor exists (per worker: one block and one tile). Element (i, j) of the stored
 * layout is src_ij + scale * sum_k P_ik * Q_kj (k ascending, from 0). For a layer stored as W the caller
 * passes P = B, Q = A; for one stored transposed (fan_in_fan_out, W^T) P = A^T and Q = B^T: every element
 * is then the same products and sums as the layer-oriented formula (a product does not depend on the
 * order of its operands), so both give the bytes lsc_bakemath_apply + lsc_dtype_from_double give. */
typedef struct lsc_bake_job {
    const void *src;  /* [rows, cols] stored values, src_dt (F32, F16 or BF16), little-endian */
    lsc_dtype src_dt;
    void *dst;        /* [rows, cols] in dst_dt (F32, F16 or BF16) */
    lsc_dtype dst_dt;
    int64_t rows, cols;
    int r;
    const double *P;  /* [rows, r] */
    const double *Q;  /* [r, cols] */
    double scale;
    const double *mag; /* [rows] DoRA magnitudes (layer orientation only), or NULL */
    /* Optional: instead of filling dst, hand each finished row block to emit (called from the workers,
     * concurrently, each byte range once: byte offset `off` within the tensor's output, n bytes at p,
     * valid during the call); dst is then unused. The caller's emit does the I/O (e.g. pwrite). */
    lsc_status (*emit)(void *ctx, uint64_t off, const void *p, size_t n, lsc_error *err);
    void *emit_ctx;
} lsc_bake_job;

/* Run job j on `threads` workers (bytes independent of the count). *overflows (may be NULL) receives the
 * number of finite merged values that became infinite in dst_dt. Errors: LSC_ERR_NUMERIC (a DoRA row norm
 * 0 or not finite, the lowest such row named), LSC_ERR_UNSUPPORTED (dtype), LSC_ERR_NOMEM. */
lsc_status lsc_bakemath_convert(const lsc_bake_job *j, int threads, size_t *overflows, lsc_error *err);

#endif
