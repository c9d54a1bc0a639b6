/* bakemath.h: the merged weight of one layer, W + s*B*A (and DoRA's row rescaling), element by element in
 * float64 with one fixed order of operations, so a bake is reproducible bit for bit:
 *   acc_ij = sum over k = 0 .. r-1 (ascending) of B_ik * A_kj, starting from 0
 *   v_ij   = W_ij + s * acc_ij
 *   DoRA (m given): n_i = sqrt(sum_j v_ij^2) (j ascending), out_ij = (m_i / n_i) * v_ij  (PEFT: the norm
 *   of each output row of W + s*B*A, m the magnitude vector)
 * The caller rounds the result once to the output dtype. Pure compute; no I/O. */
#ifndef LSC_BAKEMATH_H
#define LSC_BAKEMATH_H

#include "lowrank.h"
#include "status.h"

/* W [lr->rows, lr->cols] row-major, replaced in place by the merged weight. mag [rows] or NULL (not DoRA).
 * Rows are computed in blocks on `threads` workers (lsc_pool_for); every element is computed by the
 * order above whatever the count, so the bytes do not depend on it. LSC_ERR_NUMERIC when a DoRA row norm
 * is 0 or not finite (naming the lowest such row), LSC_ERR_NOMEM. */
lsc_status lsc_bakemath_apply(double *W, const lsc_lowrank *lr, const double *mag, int threads, lsc_error *err);

#endif
