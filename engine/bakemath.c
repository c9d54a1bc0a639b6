/* bakemath.c: see bakemath.h. Plain loops on purpose: the order of the sums is the contract (BLAS would
 * choose its own order and blocking), and at r <= 64 the cost is a few passes over W. Rows are split in
 * blocks over the pool; each block owns its rows of W and uses its worker's own scratch row.
 * lsc_bakemath_convert does the same arithmetic fused with the decoding and the rounding, one row block
 * at a time, so a bake never holds a dense float64 copy of a tensor (and the conversions run on the pool
 * too). */
#include "bakemath.h"

#include <math.h>
#include <stdlib.h>

#include "dtype.h"
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

/* ---- fused: bytes in, bytes out (lsc_bakemath_convert) ------------------------------------------------ */

#define CONV_ROWS 16 /* rows per pool item */
#define TILE 512     /* columns of the accumulator kept in L1 while the r factor rows stream past */

typedef struct cjob {
    const lsc_bake_job *j;
    double *blk;      /* [threads][CONV_ROWS * cols] */
    unsigned char *ob; /* with emit: [threads][CONV_ROWS * cols * edst] */
    size_t *ovf;      /* per item */
    size_t esrc, edst;
} cjob;

/* acc [TILE] = sum_k p_k * Q[k, c0 .. c0 + TILE) (k ascending, from 0), then w += scale * acc. The trip
 * counts are constants so the compiler vectorises the loops at -O2; each lane still does exactly the
 * scalar operations (a multiply and an add, no reassociation, no fused multiply-add in C11 mode). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* 4 lanes where the CPU has AVX2 (~1.5x here): still one multiply and one add per element and step, in
 * the same order (AVX2 has no fused multiply-add; that is the separate FMA extension, never enabled). */
__attribute__((target_clones("avx2", "default")))
#endif
static void merge_tile(const lsc_bake_job *j, const double *p, int64_t c0, double *restrict w)
{
    double acc[TILE];
    const double s = j->scale;
    const int r = j->r;
    for (int c = 0; c < TILE; c++)
        acc[c] = 0.0;
    for (int k = 0; k < r; k++) {
        const double b = p[k];
        const double *restrict a = j->Q + (int64_t)k * j->cols + c0;
        for (int c = 0; c < TILE; c++)
            acc[c] += b * a[c];
    }
    w += c0;
    for (int c = 0; c < TILE; c++)
        w[c] += s * acc[c];
}

/* Merge row i (w [cols], decoded) in place: the same operations as one_row, tiled over the columns. */
static lsc_status merge_row(const lsc_bake_job *j, int64_t i, double *w, lsc_error *err)
{
    const double *p = j->P + i * j->r;
    int64_t c0 = 0;
    for (; c0 + TILE <= j->cols; c0 += TILE)
        merge_tile(j, p, c0, w);
    if (c0 < j->cols) { /* the last partial tile */
        double acc[TILE];
        int64_t n = j->cols - c0;
        for (int64_t c = 0; c < n; c++)
            acc[c] = 0.0;
        for (int k = 0; k < j->r; k++) {
            double b = p[k];
            const double *a = j->Q + (int64_t)k * j->cols + c0;
            for (int64_t c = 0; c < n; c++)
                acc[c] += b * a[c];
        }
        for (int64_t c = 0; c < n; c++)
            w[c0 + c] += j->scale * acc[c];
    }
    if (!j->mag)
        return LSC_OK;
    double ss = 0.0;
    for (int64_t c = 0; c < j->cols; c++)
        ss += w[c] * w[c];
    double nrm = sqrt(ss);
    if (!(nrm > 0) || !isfinite(nrm))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "DoRA: row %lld of W + s*B*A has norm %g", (long long)i, nrm);
    double f = j->mag[i] / nrm;
    for (int64_t c = 0; c < j->cols; c++)
        w[c] = f * w[c];
    return LSC_OK;
}

static lsc_status conv_block(void *ctx, size_t index, int worker, lsc_error *err)
{
    const cjob *c = ctx;
    const lsc_bake_job *j = c->j;
    int64_t r0 = (int64_t)index * CONV_ROWS, r1 = r0 + CONV_ROWS;
    if (r1 > j->rows)
        r1 = j->rows;
    size_t n = (size_t)((r1 - r0) * j->cols), at = (size_t)(r0 * j->cols);
    double *w = c->blk + (size_t)worker * CONV_ROWS * (size_t)j->cols;
    if (lsc_dtype_to_double(j->src_dt, (const unsigned char *)j->src + at * c->esrc, n, w))
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "bake: cannot read %s", lsc_dtype_name(j->src_dt));
    for (int64_t i = r0; i < r1; i++) {
        lsc_status st = merge_row(j, i, w + (i - r0) * j->cols, err);
        if (st)
            return st;
    }
    unsigned char *o = j->emit ? c->ob + (size_t)worker * CONV_ROWS * (size_t)j->cols * c->edst
                               : (unsigned char *)j->dst + at * c->edst;
    if (lsc_dtype_from_double(j->dst_dt, w, n, o, &c->ovf[index]))
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "bake: cannot write %s", lsc_dtype_name(j->dst_dt));
    return j->emit ? j->emit(j->emit_ctx, (uint64_t)at * c->edst, o, n * c->edst, err) : LSC_OK;
}

lsc_status lsc_bakemath_convert(const lsc_bake_job *j, int threads, size_t *overflows, lsc_error *err)
{
    if (overflows)
        *overflows = 0;
    if (!lsc_dtype_is_float(j->src_dt) || !lsc_dtype_is_float(j->dst_dt))
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "bake: float tensors only");
    size_t items = (size_t)((j->rows + CONV_ROWS - 1) / CONV_ROWS);
    if (threads < 1)
        threads = 1;
    if ((size_t)threads > items)
        threads = items ? (int)items : 1;
    cjob c = {j, malloc(sizeof(double) * (size_t)threads * CONV_ROWS * (size_t)(j->cols ? j->cols : 1)),
              NULL, calloc(items ? items : 1, sizeof(size_t)), lsc_dtype_size(j->src_dt), lsc_dtype_size(j->dst_dt)};
    lsc_status st = LSC_OK;
    if (j->emit && !(c.ob = malloc((size_t)threads * CONV_ROWS * (size_t)(j->cols ? j->cols : 1) * c.edst)))
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    else if (!c.blk || !c.ovf)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    else
        st = lsc_pool_for(items, threads, conv_block, &c, err);
    for (size_t i = 0; !st && overflows && i < items; i++)
        *overflows += c.ovf[i];
    free(c.blk);
    free(c.ob);
    free(c.ovf);
    return st;
}
