/* bakemath.c: see bakemath.h. Plain loops on purpose: the order of the sums is the contract (BLAS would
 * choose its own order and blocking), and at r <= 64 the cost is a few passes over W. Rows are split in
 * blocks over the pool; each block owns its rows of W and uses its worker's own scratch row.
 * lsc_bakemath_convert does the same arithmetic fused with the decoding and the rounding, one row block
 * at a time, so a bake never holds a dense float64 copy of a tensor (and the conversions run on the pool
 * too); without DoRA it goes one column tile of the block at a time (fused_block), with the products in
 * a register-blocked kernel that keeps the stated order per element. */
#include "bakemath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "pool.h"
#include "simd.h"

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
    size_t wcols; /* columns of each worker's block rows in blk: max(cols, FT) (the fused path's tiles) */
    double *qp;   /* fused path: Q's whole 8-column strips packed, [cols / 8][r][8] */
} cjob;

/* acc [TILE] = sum_k p_k * Q[k, c0 .. c0 + TILE) (k ascending, from 0), then w += scale * acc. The trip
 * counts are constants so the compiler vectorises the loops at -O2; each lane still does exactly the
 * scalar operations (a multiply and an add, no reassociation, no fused multiply-add in C11 mode). */
/* 4 lanes where the CPU has AVX2 (~1.5x here): still one multiply and one add per element and step, in
 * the same order (AVX2 has no fused multiply-add; that is the separate FMA extension, never enabled). */
LSC_AVX2_CLONES
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

/* ---- the fused path (no DoRA): decode, merge and round one tile at a time, in L1 ----------------------
 * A row block is walked tile by tile (FT columns): the tile of the factor Q (r x FT) is read once per
 * tile and serves every row of the block, four rows at a time, with the sums of an 8-column strip of
 * four rows kept in registers while k ascends (a small register-blocked product, not BLAS: the order of
 * each element's sum is still acc = 0, acc += p_k * q_k for k = 0 .. r-1, then w + s * acc). The
 * decoded rows, the sums and the rounded output of a tile stay in L1; nothing wider than a tile is ever
 * held in float64. Vector extensions rather than the auto-vectoriser (-O2 leaves run-time counts
 * scalar); each lane does exactly the scalar multiply and add (no FMA: the AVX2 clone does not enable
 * it, and C11 mode does not contract). Q is read from a packed copy, each 8-column strip's r rows
 * contiguous (1 KB at r = 16): read in place, the r rows of a strip lie `cols` doubles apart, a multiple
 * of 4 KB for most layers, so they all fell in the same L1 sets and the kernel stalled on Q's loads. */
#define FT 256 /* columns per tile: 4 rows x 256 doubles = 8 KB of sums, Q's tile 16 x 2 KB at r = 16 */

typedef double v4d_bm __attribute__((vector_size(32)));

/* w[g][0 .. tw) (g < nr rows, stride FT) += s * sum_k P[i0 + g, k] * Q[k, c0 + c], in the stated order. */
LSC_AVX2_CLONES
static void merge_rows_tile(const lsc_bake_job *j, const double *qp, int64_t i0, int nr, int64_t c0, int tw, double *w)
{
    const int r = j->r;
    const double s = j->scale;
    const double *restrict Q = j->Q + c0;
    int g = 0;
    for (; g + 4 <= nr; g += 4) {
        const double *p0 = j->P + (i0 + g) * r, *p1 = p0 + r, *p2 = p1 + r, *p3 = p2 + r;
        double *w0 = w + (size_t)g * FT, *w1 = w0 + FT, *w2 = w1 + FT, *w3 = w2 + FT;
        int c = 0;
        for (; c + 8 <= tw; c += 8) {
            v4d_bm a00 = {0, 0, 0, 0}, a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            const double *qs = qp + (size_t)((c0 + c) / 8) * (size_t)r * 8;
            for (int k = 0; k < r; k++) {
                v4d_bm q0, q1;
                memcpy(&q0, qs + 8 * k, sizeof q0);
                memcpy(&q1, qs + 8 * k + 4, sizeof q1);
                a00 += p0[k] * q0, a01 += p0[k] * q1;
                a10 += p1[k] * q0, a11 += p1[k] * q1;
                a20 += p2[k] * q0, a21 += p2[k] * q1;
                a30 += p3[k] * q0, a31 += p3[k] * q1;
            }
#define BM_ADD(wr, a, b)                                                                                                 \
    do {                                                                                                                 \
        v4d_bm x0, x1;                                                                                                   \
        memcpy(&x0, (wr) + c, sizeof x0);                                                                                \
        memcpy(&x1, (wr) + c + 4, sizeof x1);                                                                            \
        x0 += s * (a), x1 += s * (b);                                                                                    \
        memcpy((wr) + c, &x0, sizeof x0);                                                                                \
        memcpy((wr) + c + 4, &x1, sizeof x1);                                                                            \
    } while (0)
            BM_ADD(w0, a00, a01);
            BM_ADD(w1, a10, a11);
            BM_ADD(w2, a20, a21);
            BM_ADD(w3, a30, a31);
#undef BM_ADD
        }
        for (; c < tw; c++) /* the strip's tail: the same operations, one element at a time */
            for (int q = 0; q < 4; q++) {
                const double *p = p0 + q * r;
                double acc = 0.0;
                for (int k = 0; k < r; k++)
                    acc += p[k] * Q[(int64_t)k * j->cols + c];
                w[(size_t)(g + q) * FT + c] += s * acc;
            }
    }
    for (; g < nr; g++) { /* rows left over from the groups of four */
        const double *p = j->P + (i0 + g) * r;
        double *wr = w + (size_t)g * FT;
        int c = 0;
        for (; c + 8 <= tw; c += 8) {
            v4d_bm a0 = {0, 0, 0, 0}, a1 = a0, x0, x1;
            const double *qs = qp + (size_t)((c0 + c) / 8) * (size_t)r * 8;
            for (int k = 0; k < r; k++) {
                v4d_bm q0, q1;
                memcpy(&q0, qs + 8 * k, sizeof q0);
                memcpy(&q1, qs + 8 * k + 4, sizeof q1);
                a0 += p[k] * q0, a1 += p[k] * q1;
            }
            memcpy(&x0, wr + c, sizeof x0);
            memcpy(&x1, wr + c + 4, sizeof x1);
            x0 += s * a0, x1 += s * a1;
            memcpy(wr + c, &x0, sizeof x0);
            memcpy(wr + c + 4, &x1, sizeof x1);
        }
        for (; c < tw; c++) {
            double acc = 0.0;
            for (int k = 0; k < r; k++)
                acc += p[k] * Q[(int64_t)k * j->cols + c];
            wr[c] += s * acc;
        }
    }
}

/* Rows r0 .. r1 (at most CONV_ROWS) tile by tile into o (the block's output bytes, row-major). */
static lsc_status fused_block(const cjob *c, int64_t r0, int64_t r1, double *w, unsigned char *o, size_t *ovf)
{
    const lsc_bake_job *j = c->j;
    const int nr = (int)(r1 - r0);
    for (int64_t c0 = 0; c0 < j->cols; c0 += FT) {
        const int tw = (int)(j->cols - c0 < FT ? j->cols - c0 : FT);
        for (int g = 0; g < nr; g++) {
            size_t at = (size_t)((r0 + g) * j->cols + c0);
            if (lsc_dtype_to_double(j->src_dt, (const unsigned char *)j->src + at * c->esrc, (size_t)tw, w + (size_t)g * FT))
                return LSC_ERR_UNSUPPORTED;
        }
        merge_rows_tile(j, c->qp, r0, nr, c0, tw, w);
        for (int g = 0; g < nr; g++) {
            size_t n = 0, at = (size_t)(g * j->cols + c0);
            if (lsc_dtype_from_double(j->dst_dt, w + (size_t)g * FT, (size_t)tw, o + at * c->edst, &n))
                return LSC_ERR_UNSUPPORTED;
            *ovf += n;
        }
    }
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
    double *w = c->blk + (size_t)worker * CONV_ROWS * c->wcols;
    if (!j->mag) {
        unsigned char *o = j->emit ? c->ob + (size_t)worker * CONV_ROWS * (size_t)j->cols * c->edst
                                   : (unsigned char *)j->dst + at * c->edst;
        if (fused_block(c, r0, r1, w, o, &c->ovf[index]))
            return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "bake: cannot convert %s to %s", lsc_dtype_name(j->src_dt),
                                 lsc_dtype_name(j->dst_dt));
        return j->emit ? j->emit(j->emit_ctx, (uint64_t)at * c->edst, o, n * c->edst, err) : LSC_OK;
    }
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
    size_t wcols = (size_t)(j->cols > FT ? j->cols : FT);
    cjob c = {j, malloc(sizeof(double) * (size_t)threads * CONV_ROWS * wcols), NULL,
              calloc(items ? items : 1, sizeof(size_t)), lsc_dtype_size(j->src_dt), lsc_dtype_size(j->dst_dt), wcols, NULL};
    lsc_status st = LSC_OK;
    const size_t strips = (size_t)(j->cols / 8);
    if (!j->mag && strips && (c.qp = malloc(sizeof(double) * strips * 8 * (size_t)(j->r > 0 ? j->r : 1))))
        for (size_t q = 0; q < strips; q++)
            for (int k = 0; k < j->r; k++)
                memcpy(c.qp + (q * (size_t)j->r + (size_t)k) * 8, j->Q + (int64_t)k * j->cols + (int64_t)q * 8, 8 * sizeof(double));
    if (!j->mag && strips && !c.qp)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    else if (j->emit && !(c.ob = malloc((size_t)threads * CONV_ROWS * (size_t)(j->cols ? j->cols : 1) * c.edst)))
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    else if (!c.blk || !c.ovf)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    else
        st = lsc_pool_for(items, threads, conv_block, &c, err);
    for (size_t i = 0; !st && overflows && i < items; i++)
        *overflows += c.ovf[i];
    free(c.blk);
    free(c.ob);
    free(c.qp);
    free(c.ovf);
    return st;
}
