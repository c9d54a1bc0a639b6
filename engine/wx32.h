/* wx32.h: the two skinny float32 products of the randomized range finder, Y = W X and Z = W^T Y, with W
 * [rows, cols] row-major and X, Y, Z of few columns (l up to ~64), in dedicated kernels.
 *
 * Every output element is one chain of fused multiply-adds in index order, starting from +0:
 *   Y[i][c] = fma(W[i][cols-1], X[cols-1][c], ... fma(W[i][1], X[1][c], fma(W[i][0], X[0][c], +0)))
 *   Z[j][c] = the same over i = 0 .. rows-1 of W[i][j] * Y[i][c]
 * The kernels vectorise only across the l columns (one lane per column, so each lane runs its own chain)
 * and keep several chains of different output rows in flight; blocking stores a partial chain and
 * continues it from the stored float, which changes nothing. So the result does not depend on the vector
 * width, the blocking or the variant: the AVX-512F, AVX2+FMA and portable (C99 fmaf) variants are
 * bit-identical to each other and to the plain loops above, on any machine with a correctly rounded fmaf.
 * The variant is chosen once, at the first call, from the CPU (simd.h; lsc_wx32_force overrides it for tests).
 * Pure compute, single-threaded, no allocation, no I/O; depends on nothing but libm.
 */
#ifndef LSC_WX32_H
#define LSC_WX32_H

#include <stdint.h>

#include "simd.h"


/* Y [rows, l] (leading dimension ldy >= l) = W X, W [rows, cols] row-major (leading dimension cols), X
 * [cols, l] (leading dimension ldx >= l). l >= 0, rows >= 0, cols >= 0 (cols 0: Y = 0). Y must not
 * overlap W or X. Never fails. */
void lsc_wx32_wx(const float *W, int64_t rows, int64_t cols, const float *X, int64_t ldx, int l, float *Y,
                 int64_t ldy);

/* Z [cols, l] (leading dimension ldz >= l) = W^T Y, W [rows, cols] row-major, Y [rows, l] (leading
 * dimension ldy >= l). rows 0: Z = 0. Z must not overlap W or Y. Never fails. */
void lsc_wx32_wtx(const float *W, int64_t rows, int64_t cols, const float *Y, int64_t ldy, int l, float *Z,
                  int64_t ldz);

/* Test hook: make every later call use variant v (AUTO: the CPU's best again). Returns 0, or -1 (and
 * changes nothing) when v is not supported. Affects all threads; call it while no product runs. */
int lsc_wx32_force(lsc_simd v);

/* The variant the next call will use (never AUTO). */
lsc_simd lsc_wx32_active(void);

#endif
