/* bakemath.c: see bakemath.h. Plain loops on purpose: the order of the sums is the contract (BLAS would
 * choose its own order and blocking), and at r <= 64 the cost is a few passes over W. Rows are split in
 * blocks over the pool; each block owns its rows of W and uses its worker's own scratch row. */
#include "bakemath.h"

#include <math.h>
#include <stdlib.h>

#include "pool.h"

#define ROWS_PER_ITEM 16 /* small enough that the tests (48 rows) run several blocks */

typedef struct job {
    double *W;
    const lsc_lowrank *lr;
    const double *mag;
    double *acc; /* [threads * cols] */
} job;

static lsc_status one_row(const job *j, int64_t i, double *acc, lsc_error *err)
{
    const lsc_lowrank *lr = j->lr;
    int64_t cols = lr->cols;
    double *w = j->W + i * cols;
    for (int64_t c = 0; c < cols; c++)
        acc[c] = 0.0;
    for (int k = 0; k < lr->r; k++) {
        double b = lr->B[i * lr->r + k];
        const double *a = lr->A + (int64_t)k * cols;
        for (int64_t c = 0; c < cols; c++)
            acc[c] += b * a[c];
    }
    for (int64_t c = 0; c < cols; c++)
        w[c] += lr->scale * acc[c];
    if (!j->mag)
        return LSC_OK;
    double ss = 0.0;
    for (int64_t c = 0; c < cols; c++)
        ss += w[c] * w[c];
    double n = sqrt(ss);
    if (!(n > 0) || !isfinite(n))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "DoRA: row %lld of W + s*B*A has norm %g", (long long)i, n);
    double f = j->mag[i] / n;
    for (int64_t c = 0; c < cols; c++)
        w[c] = f * w[c];
    return LSC_OK;
}

static lsc_status block(void *ctx, size_t index, int worker, lsc_error *err)
{
    const job *j = ctx;
    double *acc = j->acc + (size_t)worker * (size_t)j->lr->cols;
    int64_t r0 = (int64_t)index * ROWS_PER_ITEM, r1 = r0 + ROWS_PER_ITEM;
    if (r1 > j->lr->rows)
        r1 = j->lr->rows;
    for (int64_t i = r0; i < r1; i++) {
        lsc_status st = one_row(j, i, acc, err);
        if (st)
            return st;
    }
    return LSC_OK;
}

lsc_status lsc_bakemath_apply(double *W, const lsc_lowrank *lr, const double *mag, int threads, lsc_error *err)
{
    size_t items = (size_t)((lr->rows + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM);
    if (threads < 1)
        threads = 1;
    if ((size_t)threads > items)
        threads = items ? (int)items : 1;
    job j = {W, lr, mag, malloc(sizeof(double) * (size_t)threads * (size_t)(lr->cols ? lr->cols : 1))};
    if (!j.acc)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_status st = lsc_pool_for(items, threads, block, &j, err);
    free(j.acc);
    return st;
}
