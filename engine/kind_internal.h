/* kind_internal.h: small helpers shared by the kind_*.c files (not part of the engine's API).
 *
 * Static inline so that each kind file stays self-contained; pure C, no BLAS, no I/O.
 */
#ifndef LSC_KIND_INTERNAL_H
#define LSC_KIND_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool kind_all_finite(const double *x, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= isfinite(x[i]) != 0;
    return ok;
}

/* Number of singular values (descending) above 1e-10 of the largest: the directions that carry a layer,
 * the same cut compare.c uses. */
static inline int kind_count_carrying(const double *sv, int n)
{
    if (n <= 0 || !(sv[0] > 0.0))
        return 0;
    const double thr = 1e-10 * sv[0];
    int k = 0;
    while (k < n && sv[k] > thr)
        k++;
    return k;
}

static inline double kind_sum_squares(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

/* a / b for relative figures: 0/0 = 0, x/0 = +inf */
static inline double kind_rel(double num, double den)
{
    if (den > 0.0)
        return num / den;
    return num > 0.0 ? INFINITY : 0.0;
}

#endif
