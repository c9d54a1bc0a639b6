/* wtx64.h: Z = W^T X in float64 for a float W, the one product that dominates the figures against a
 * base (basefig.c's exact projection W^T [Q, U_c, U_d]: W up to 8192 x 2048, X 30-60 columns).
 *
 * Results are fixed bit for bit, whatever the CPU: each element Z[j, k] is the sequence of fused
 * multiply-adds acc = fma(W[i, j], X[i, k], acc) over the rows i in index order, starting from +0 (or
 * from Z's old value when accumulating). The vector variants only vectorise across X's (= Z's) columns,
 * so the vector width never changes an element's order, and a product split into row blocks, each
 * accumulated onto the last, equals the product in one call. The variant (AVX-512F, AVX2+FMA, or
 * portable C99 fma(): simd.h) is chosen once at run time; tests force each through lsc_wtx64_force.
 * Pure compute: no I/O, no allocation, never fails. */
#ifndef LSC_WTX64_H
#define LSC_WTX64_H

#include <stdint.h>

#include "simd.h"


/* Z [cols, c] (leading dimension ldz >= c) = W^T X, or Z += W^T X when accumulate is non-zero, with W
 * [nb, cols] floats row-major (leading dimension cols) and X [nb, c] doubles (leading dimension ldx >= c).
 * Element order as in the head comment. nb == 0 leaves Z (accumulate) or zeroes it. Z must not overlap
 * W or X. Thread-safe (no state but the variant choice). */
void lsc_wtx64(const float *W, int64_t nb, int64_t cols, const double *X, int64_t ldx, int c, double *Z,
               int64_t ldz, int accumulate);

/* The variant lsc_wtx64 uses now (never AUTO). */
lsc_simd lsc_wtx64_active(void);

/* Test hook: make lsc_wtx64 use variant v from now on (AUTO: back to the run-time choice). Returns 0, or
 * -1 (and changes nothing) when v is out of range or the CPU lacks it. Not for use while other threads
 * are inside lsc_wtx64 with expectations about the variant (the results are the same either way). */
int lsc_wtx64_force(lsc_simd v);

#endif
