/* bakemath.c: see bakemath.h. Plain loops on purpose: the order of the sums is the contract (BLAS would
 * choose its own order and blocking), and at r <= 64 the cost is a few passes over W. */
#include "bakemath.h"

#include <math.h>

lsc_status lsc_bakemath_apply(double *W, const lsc_lowrank *lr, const double *mag, double *acc, int64_t *bad_row,
                              lsc_error *err)
{
    int64_t rows = lr->rows, cols = lr->cols;
    for (int64_t i = 0; i < rows; i++) {
        double *w = W + i * cols;
        for (int64_t j = 0; j < cols; j++)
            acc[j] = 0.0;
        for (int k = 0; k < lr->r; k++) {
            double b = lr->B[i * lr->r + k];
            const double *a = lr->A + (int64_t)k * cols;
            for (int64_t j = 0; j < cols; j++)
                acc[j] += b * a[j];
        }
        for (int64_t j = 0; j < cols; j++)
            w[j] += lr->scale * acc[j];
        if (!mag)
            continue;
        double ss = 0.0;
        for (int64_t j = 0; j < cols; j++)
            ss += w[j] * w[j];
        double n = sqrt(ss);
        if (!(n > 0) || !isfinite(n)) {
            if (bad_row)
                *bad_row = i;
            return lsc_error_set(err, LSC_ERR_NUMERIC, "DoRA: row %lld of W + s*B*A has norm %g", (long long)i, n);
        }
        double f = mag[i] / n;
        for (int64_t j = 0; j < cols; j++)
            w[j] = f * w[j];
    }
    return LSC_OK;
}
