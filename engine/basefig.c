/* basefig.c: figures of a LoRA layer against its base weight (see basefig.h). dW's own singular vectors
 * are exact (lsc_spectrum, from the factors). W is read by the passes of one randomized range finder
 * (float32 when W is held as floats) and one float64 projection W^T [Q, U_c, U_d] that yields W's top
 * vectors, U_d^T W V_d and, with dW applied from its factors, W + dW's top vectors (basefig.h says why
 * [Q, U_c] is enough). The W-only part (||W||_F, Q, W^T Q: lsc_basefig_sketch) is computed apart from
 * the adapter's part W^T [U_c, U_d] — both products from the same widened row blocks, W^T Q only when
 * the sketch is new — so a sketch kept by the caller serves other adapters on the same W with the same
 * calls in the same order, hence bit-identical figures. Nothing of size rows x cols is allocated here
 * (float rows are widened WIDEN_ROWS at a time). Pure compute; never prints. */
#include "basefig.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "rng.h"
#include "spectrum.h"
#include "wx32.h"

void lsc_basefig_opts_default(lsc_basefig_opts *o)
{
    memset(o, 0, sizeof *o);
    o->k = LSC_BASEFIG_K;
    o->eps = LSC_BASEFIG_EPS;
    o->rs.oversample = -1;
    o->rs.power_iters = -1;
}

double lsc_basefig_subspace_sim(const double *X, int ldx, int a, const double *Y, int ldy, int b, int64_t n)
{
    if (a <= 0 || b <= 0)
        return 0.0;
    double s = 0, *T = n > 0 && n <= INT32_MAX ? malloc(sizeof(double) * (size_t)a * (size_t)b) : NULL;
    if (T) { /* X^T Y in one product: the loops below read X and Y with a stride per term */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a, b, (int)n, 1.0, X, ldx, Y, ldy, 0.0, T, b);
        for (size_t i = 0; i < (size_t)a * (size_t)b; i++)
            s += T[i] * T[i];
        free(T);
        return s / (a < b ? a : b);
    }
    for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++) {
            double d = 0;
            for (int64_t t = 0; t < n; t++)
                d += X[t * ldx + i] * Y[t * ldy + j];
            s += d * d;
        }
    return s / (a < b ? a : b);
}

/* The base weight: doubles, or floats (the exact values of an F32/F16/BF16 base, half the memory). The
 * passes of the range finder use W as it is held (float32 on floats: wx32.h); the final projection, the
 * norm and U_d^T W V_d are float64 (float rows are widened a block at a time). */
typedef struct wsrc {
    const double *d;
    const float *f;
    lsc_basefig_rows_fn rows_fn; /* or W only as float64 row blocks (with a fitting sketch only) */
    void *rows_ctx;
    int64_t rows, cols;
    float *xs, *ys; /* float scratch [cols, l] and [rows, l] (float W only) */
    double *blk;    /* [WIDEN_ROWS, cols] (float W only) */
} wsrc;

#define WIDEN_ROWS 64

/* Full chunks of a constant count, which -O2 vectorises, then the rest. */
static void widen(const float *x, size_t n, double *y)
{
    enum { CH = 256 };
    size_t i = 0;
    for (; i + CH <= n; i += CH)
        for (size_t j = 0; j < CH; j++)
            y[i + j] = x[i + j];
    for (; i < n; i++)
        y[i] = x[i];
}

static void narrow(const double *x, size_t n, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)x[i];
}

/* Y [rows, l] = W X, X [cols, l] (the range finder's precision). Float W: engine/wx32.c, whose sums run in
 * one fixed order on every CPU (about twice sgemm's speed on these skinny shapes), so the sketch of a W
 * does not depend on the machine or the BLAS build. */
static void approx_m(const wsrc *w, const double *X, int l, double *Y)
{
    int m = (int)w->rows, n = (int)w->cols;
    if (w->d) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, l, n, 1.0, w->d, n, X, l, 0.0, Y, l);
        return;
    }
    narrow(X, (size_t)n * (size_t)l, w->xs);
    lsc_wx32_wx(w->f, m, n, w->xs, l, l, w->ys, l);
    widen(w->ys, (size_t)m * (size_t)l, Y);
}

/* Z [cols, l] = W^T Y, Y [rows, l] (the range finder's precision). */
static void approx_mt(const wsrc *w, const double *Y, int l, double *Z)
{
    int m = (int)w->rows, n = (int)w->cols;
    if (w->d) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, l, m, 1.0, w->d, n, Y, l, 0.0, Z, l);
        return;
    }
    narrow(Y, (size_t)m * (size_t)l, w->ys);
    lsc_wx32_wtx(w->f, m, n, w->ys, l, l, w->xs, l);
    widen(w->xs, (size_t)n * (size_t)l, Z);
}

/* Z [cols, L] (leading dimension ldz) = W^T X, X [rows, L] (leading dimension ldx), in float64; with
 * L2 > 0 also Z2 [cols, L2] = W^T X2 from the same widened blocks (one widening for both products). The
 * product for X is the same sequence of dgemm calls whether or not X2 is given, so Z does not depend on
 * what else is computed with it (the warm and cold runs of a cached sketch agree bit for bit). */
static void exact_mt(const wsrc *w, const double *X, int ldx, int L, double *Z, int ldz, const double *X2, int ldx2,
                     int L2, double *Z2, int ldz2)
{
    int m = (int)w->rows, n = (int)w->cols;
    if (w->d) {
        if (L > 0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, L, m, 1.0, w->d, n, X, ldx, 0.0, Z, ldz);
        if (L2 > 0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, L2, m, 1.0, w->d, n, X2, ldx2, 0.0, Z2, ldz2);
        return;
    }
    for (int i0 = 0; i0 < m; i0 += WIDEN_ROWS) {
        int nb = m - i0 < WIDEN_ROWS ? m - i0 : WIDEN_ROWS;
        if (w->rows_fn) /* the same values as widening the floats would give (basefig.h) */
            w->rows_fn(w->rows_ctx, i0, nb, w->blk);
        else
            widen(w->f + (size_t)i0 * (size_t)n, (size_t)nb * (size_t)n, w->blk);
        if (L > 0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, L, nb, 1.0, w->blk, n, X + (size_t)i0 * (size_t)ldx,
                        ldx, i0 ? 1.0 : 0.0, Z, ldz);
        if (L2 > 0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, L2, nb, 1.0, w->blk, n,
                        X2 + (size_t)i0 * (size_t)ldx2, ldx2, i0 ? 1.0 : 0.0, Z2, ldz2);
    }
}

/* Running scale/sum of squares of ||.||_F (LAPACK's dlassq idea), one row norm at a time. */
static void ssq_add(double v, double *scale, double *ssq)
{
    if (v == 0)
        return;
    if (*scale < v) {
        *ssq = 1 + *ssq * (*scale / v) * (*scale / v);
        *scale = v;
    } else
        *ssq += (v / *scale) * (v / *scale);
}

/* ||W||_F without overflow for any finite W: rows' norms (dnrm2 scales) combined by a running scale. */
static double fro_norm(const double *W, int64_t rows, int64_t cols)
{
    double scale = 0, ssq = 1;
    for (int64_t i = 0; i < rows; i++)
        ssq_add(cblas_dnrm2((int)cols, W + i * cols, 1), &scale, &ssq);
    return scale * sqrt(ssq);
}

/* ||W||_F. Float W: the squares of floats are exact in double and cannot overflow, so a plain float64
 * sum of squares (no scaling, no widening pass) is as accurate as the scaled row norms. */
static double src_norm(const wsrc *w)
{
    if (w->d)
        return fro_norm(w->d, w->rows, w->cols);
    size_t n = (size_t)(w->rows * w->cols);
    /* lane j sums the squares of entries j, j+4, ... (two SSE2 registers: vector extensions, since -O2
     * leaves the scalar form of this loop scalar); the same sums in the same order as four scalars */
    typedef float v4f_bn __attribute__((vector_size(16)));
    typedef double v2d_bn __attribute__((vector_size(16)));
    v2d_bn lo = {0, 0}, hi = {0, 0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f_bn x;
        memcpy(&x, w->f + i, sizeof x);
        const v2d_bn a = {x[0], x[1]}, b = {x[2], x[3]};
        lo += a * a, hi += b * b;
    }
    double s0 = lo[0], s1 = lo[1], s2 = hi[0], s3 = hi[1];
    for (; i < n; i++)
        s0 += (double)w->f[i] * w->f[i];
    return sqrt((s0 + s1) + (s2 + s3));
}

/* How many of M's top-k right vectors Vm [cols, ldm] have max_i |<Vm_j, Vw_i>| < eps over i < kref. */
static int count_intruders(const double *Vm, int ldm, int k, const double *Vw, int ldw, int kref, int64_t cols,
                           double eps)
{
    int n = 0;
    double *T = k > 0 && kref > 0 ? malloc(sizeof(double) * (size_t)k * (size_t)kref) : NULL;
    if (T) /* T [k, kref] = Vm^T Vw in one product */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, kref, (int)cols, 1.0, Vm, ldm, Vw, ldw, 0.0, T, kref);
    for (int j = 0; j < k; j++) {
        double best = 0;
        for (int i = 0; i < kref; i++) {
            double d = 0;
            if (T)
                d = T[(size_t)j * (size_t)kref + (size_t)i];
            else
                for (int64_t t = 0; t < cols; t++)
                    d += Vm[t * ldm + j] * Vw[t * ldw + i];
            if (fabs(d) > best)
                best = fabs(d);
        }
        if (best < eps)
            n++;
    }
    free(T);
    return n;
}

/* Orthonormalise the columns of X [m, l] in place (thin QR, Q kept). 0 on success. */
static int orth(double *X, int64_t m, int l, double *tau)
{
    if (l <= 0)
        return 0;
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)m, l, X, l, tau) != 0)
        return -1;
    return LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)m, l, l, X, l, tau) != 0 ? -1 : 0;
}

/* X [m, L]: columns c0 .. c0+a-1 (Q, orthonormal) and c1 .. c1+b-1 (copied in from U [m, b]) made
 * orthogonal to Q and orthonormal: three rounds of (I - Q Q^T) and a QR, so that even a U inside
 * span(Q) leaves unit columns orthogonal to Q to rounding (any such columns only extend the subspace). */
static int complement(double *X, int64_t m, int L, int a, int c1, int b, double *tmp, double *tau, double *col)
{
    for (int round = 0; round < 3; round++) {
        /* tmp [a, b] = Q^T U; U -= Q tmp */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a, b, (int)m, 1.0, X, L, X + c1, L, 0.0, tmp, b);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, b, a, -1.0, X, L, tmp, b, 1.0, X + c1, L);
        for (int64_t i = 0; i < m; i++) /* the copy column-major: what LAPACKE's row-major call would make */
            for (int j = 0; j < b; j++)
                col[(size_t)j * (size_t)m + (size_t)i] = X[i * L + c1 + j];
        if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)m, b, col, (int)m, tau) != 0 ||
            LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)m, b, b, col, (int)m, tau) != 0)
            return -1;
        for (int64_t i = 0; i < m; i++)
            for (int j = 0; j < b; j++)
                X[i * L + c1 + j] = col[(size_t)j * (size_t)m + (size_t)i];
    }
    return 0;
}

typedef struct bufs {
    double *sv, *Ud, *Vd, *T, *Z, *X, *ZX, *tau, *tmp, *col, *ssv, *su, *svt;
    float *xs, *ys;
    double *blk;
} bufs;

static void bufs_free(bufs *b)
{
    free(b->sv), free(b->Ud), free(b->Vd), free(b->T), free(b->Z), free(b->X);
    free(b->ZX), free(b->tau), free(b->tmp), free(b->col), free(b->ssv), free(b->su), free(b->svt);
    free(b->xs), free(b->ys), free(b->blk);
}

#define ALLOC(p, n) ((p) = malloc(sizeof *(p) * (size_t)((n) > 0 ? (n) : 1)))

/* n: dW's rank count; l: the range finder's columns; L = l + 2n: the final projection's. */
static int bufs_alloc(bufs *b, int64_t rows, int64_t cols, int n, int r, int l, int f32)
{
    int64_t L = l + 2 * (int64_t)n, big = rows > cols ? rows : cols;
    ALLOC(b->sv, n), ALLOC(b->Ud, rows * n), ALLOC(b->Vd, cols * n), ALLOC(b->T, (int64_t)n * n);
    ALLOC(b->Z, cols * l), ALLOC(b->X, rows * L), ALLOC(b->ZX, cols * L);
    ALLOC(b->tau, L), ALLOC(b->tmp, (L > r ? L : r) * L), ALLOC(b->col, big * (n > l ? n : l)), ALLOC(b->ssv, L);
    ALLOC(b->su, cols * L), ALLOC(b->svt, L * L);
    if (f32)
        ALLOC(b->xs, cols * l), ALLOC(b->ys, rows * l), ALLOC(b->blk, WIDEN_ROWS * cols);
    return b->sv && b->Ud && b->Vd && b->T && b->Z && b->X && b->ZX && b->tau && b->tmp && b->col && b->ssv &&
                   b->su && b->svt && (!f32 || (b->xs && b->ys && b->blk))
               ? 0
               : -1;
}

/* The randomized range finder on W alone (HMT 2011, algorithms 4.4): Q [rows, l] = orth(W Omega), then
 * `power` times Q = orth(W orth(W^T Q)); Omega [cols, l] Gaussian from lsc_rng(seed), built in Z. */
static int range_finder(const wsrc *w, int l, int power, uint64_t seed, double *Q, double *Z, double *tau)
{
    lsc_rng g = {seed};
    for (int64_t i = 0; i < w->cols * l; i++)
        Z[i] = lsc_rng_gauss(&g);
    approx_m(w, Z, l, Q);
    if (orth(Q, w->rows, l, tau))
        return -1;
    for (int p = 0; p < power; p++) {
        approx_mt(w, Q, l, Z);
        if (orth(Z, w->cols, l, tau))
            return -1;
        approx_m(w, Z, l, Q);
        if (orth(Q, w->rows, l, tau))
            return -1;
    }
    return 0;
}

/* Right singular vectors of Y [cols, L] (the transpose of a projection P^T M): su [cols, min] (top columns
 * first). Overwrites Y. 0 on success. */
static int right_vectors(double *Y, int64_t cols, int L, double *ssv, double *su, double *svt)
{
    for (size_t i = 0; i < (size_t)(cols * L); i++)
        if (!isfinite(Y[i]))
            return -1;
    int mn = cols < L ? (int)cols : L;
    return LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (int)cols, L, Y, L, ssv, su, mn, svt, L) != 0 ? -1 : 0;
}

typedef struct dims {
    int n, k, kref, kw, l, ext; /* ext: columns of U_d's complement added for W + dW (0: fall back) */
} dims;

/* W + dW's top-k right vectors by lsc_randsvd, for a layer too small to hold [Q, U_c] (rows < l + n). */
static lsc_status small_layer(const wsrc *w, const lsc_lowrank *lr, const dims *d, double eps, bufs *b,
                              const lsc_basefig_opts *o, const double *Vw, int ldw, lsc_basefig *out, lsc_error *err)
{
    int got = 0;
    double *wide = NULL;
    const double *W = w->d;
    if (!W) {
        if (!(wide = malloc(sizeof(double) * (size_t)(w->rows * w->cols))))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        if (w->rows_fn)
            w->rows_fn(w->rows_ctx, 0, (int)w->rows, wide);
        else
            widen(w->f, (size_t)(w->rows * w->cols), wide);
        W = wide;
    }
    lsc_status st = lsc_randsvd(W, w->rows, w->cols, lr, d->k, &o->rs, b->ssv, NULL, b->su, &got, err);
    if (!st)
        out->intruders = count_intruders(b->su, d->k, d->k, Vw, ldw, d->kref, w->cols, eps);
    free(wide);
    return st;
}

/* Everything after the range finder: one float64 pass Z = W^T [Q, U_d, U_c] gives W's top right vectors
 * (from W^T Q), U_d^T W V_d (from W^T U_d) and, with the exact term dW^T [Q, U_c], W + dW's top right
 * vectors, since range(W + dW) lies in range(W) + range(U_d): [Q, U_c] captures W + dW as well as Q
 * captures W. */
static lsc_status project(const wsrc *w, const lsc_lowrank *lr, const dims *d, double eps, bufs *b,
                          const lsc_basefig_opts *o, lsc_basefig_sketch *sk, int fresh, lsc_basefig *out,
                          lsc_error *err)
{
    int64_t rows = w->rows, cols = w->cols;
    int l = d->l, n = d->n, L = l + n + d->ext;
    for (int64_t i = 0; i < rows; i++) { /* X = [Q | U_c | U_d] */
        memcpy(b->X + i * L, sk->Q + i * l, sizeof(double) * (size_t)l);
        memcpy(b->X + i * L + l, b->Ud + i * n, sizeof(double) * (size_t)d->ext);
        memcpy(b->X + i * L + l + d->ext, b->Ud + i * n, sizeof(double) * (size_t)n);
    }
    if (d->ext && complement(b->X, rows, L, l, l, d->ext, b->tmp, b->tau, b->col))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: QR failed (non-finite weights?)");
    /* W^T Q (the sketch's, computed with it when fresh) and W^T [U_c | U_d], the adapter's part */
    exact_mt(w, b->X, L, fresh ? l : 0, sk->WtQ, l, b->X + l, L, L - l, b->ZX + l, L);
    for (int64_t i = 0; i < cols; i++)
        memcpy(b->ZX + i * L, sk->WtQ + i * l, sizeof(double) * (size_t)l);
    if (n > 0) { /* T [n, n] = (W^T U_d)^T V_d */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, (int)cols, 1.0, b->ZX + l + d->ext, L, b->Vd, n, 0.0,
                    b->T, n);
        double pn = fro_norm(b->T, n, n);
        out->amplification = pn > 0 ? out->delta_norm / pn : INFINITY;
    }
    int lm = l + d->ext;
    /* W's top right vectors: W^T Q, into Z [cols, l] */
    for (int64_t i = 0; i < cols; i++)
        memcpy(b->Z + i * l, b->ZX + i * L, sizeof(double) * (size_t)l);
    if (right_vectors(b->Z, cols, l, b->ssv, b->col, b->svt))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: non-finite weights or SVD failure");
    const double *Vw = b->col; /* [cols, min(cols, l)] */
    int ldw = cols < l ? (int)cols : l;
    if (n > 0) {
        out->subspace_sim_r = lsc_basefig_subspace_sim(b->Vd, n, n, Vw, ldw, n, cols);
        out->subspace_sim_k = lsc_basefig_subspace_sim(b->Vd, n, n, Vw, ldw, d->k, cols);
    }
    if (!d->ext && n > 0) /* no room beside Q (a tiny layer): W + dW on its own (randsvd.h) */
        return small_layer(w, lr, d, eps, b, o, Vw, ldw, out, err);
    /* W + dW: Z_M = W^T [Q, U_c] + s A^T (B^T [Q, U_c]), in ZX's first lm columns (moved to Z-sized su) */
    double *Zm = b->su, *BtX = b->tmp;
    for (int64_t i = 0; i < cols; i++)
        memcpy(Zm + i * lm, b->ZX + i * L, sizeof(double) * (size_t)lm);
    if (n > 0 && lr->r > 0) {
        int r = lr->r;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, lm, (int)rows, 1.0, lr->B, r, b->X, L, 0.0, BtX, lm);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)cols, lm, r, lr->scale, lr->A, (int)cols, BtX, lm, 1.0,
                    Zm, lm);
    }
    double *Vm = b->ZX; /* ZX is free now: [cols, min(cols, lm)] */
    if (right_vectors(Zm, cols, lm, b->ssv, Vm, b->svt))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: non-finite weights or SVD failure");
    out->intruders = count_intruders(Vm, cols < lm ? (int)cols : lm, d->k, Vw, ldw, d->kref, cols, eps);
    return LSC_OK;
}

/* The counts compute uses for lr and o (clamped to the layer), and the range finder's settings. */
static void dims_of(const lsc_lowrank *lr, const lsc_basefig_opts *o, dims *d, int *power)
{
    int64_t rows = lr->rows, cols = lr->cols, mn = rows < cols ? rows : cols;
    memset(d, 0, sizeof *d);
    d->n = lsc_spectrum_count(lr);
    d->k = o->k > 0 ? o->k : LSC_BASEFIG_K;
    if (d->k > mn)
        d->k = (int)mn;
    d->kref = o->k_ref > 0 ? o->k_ref : (2 * d->k > d->n ? 2 * d->k : d->n);
    if (d->kref > mn)
        d->kref = (int)mn;
    d->kw = d->kref > d->k ? d->kref : d->k;
    if (d->n > d->kw)
        d->kw = d->n;
    int over = o->rs.oversample >= 0 ? o->rs.oversample : LSC_RANDSVD_OVERSAMPLE;
    *power = o->rs.power_iters >= 0 ? o->rs.power_iters : LSC_RANDSVD_POWER;
    d->l = (int)((int64_t)d->kw + over > mn ? mn : (int64_t)d->kw + over);
    d->ext = rows - d->l >= d->n ? d->n : 0;
}

void lsc_basefig_sketch_release(lsc_basefig_sketch *sk)
{
    if (!sk)
        return;
    free(sk->Q);
    free(sk->WtQ);
    memset(sk, 0, sizeof *sk);
}

void lsc_basefig_sketch_params(const lsc_lowrank *lr, const lsc_basefig_opts *opts, int *l, int *power,
                               uint64_t *seed)
{
    lsc_basefig_opts dflt;
    lsc_basefig_opts_default(&dflt);
    const lsc_basefig_opts *o = opts ? opts : &dflt;
    dims d;
    dims_of(lr, o, &d, power);
    *l = d.l;
    *seed = o->rs.seed;
}

static int sketch_fits(const lsc_basefig_sketch *sk, const wsrc *w, int l, int power, uint64_t seed)
{
    return sk->Q && sk->WtQ && sk->rows == w->rows && sk->cols == w->cols && sk->l == l && sk->power == power &&
           sk->seed == seed && isfinite(sk->base_norm);
}

/* A fresh sketch of W in sk: ||W||_F, then the range finder's Q and (in project) W^T Q. b->Z and b->tau
 * are scratch. Returns LSC_OK or an error (sk released). */
static lsc_status sketch_new(const wsrc *w, const dims *d, int power, uint64_t seed, bufs *b, lsc_basefig_sketch *sk,
                             lsc_error *err)
{
    lsc_basefig_sketch_release(sk);
    sk->rows = w->rows, sk->cols = w->cols, sk->l = d->l, sk->power = power, sk->seed = seed;
    sk->base_norm = src_norm(w);
    if (!isfinite(sk->base_norm))
        return lsc_basefig_sketch_release(sk), lsc_error_set(err, LSC_ERR_NUMERIC, "base weight has non-finite entries");
    if (!ALLOC(sk->Q, w->rows * d->l) || !ALLOC(sk->WtQ, w->cols * d->l))
        return lsc_basefig_sketch_release(sk), lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (base sketch)");
    if (range_finder(w, d->l, power, seed, sk->Q, b->Z, b->tau))
        return lsc_basefig_sketch_release(sk),
               lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: QR failed (non-finite weights?)");
    return LSC_OK;
}

/* sk: the caller's sketch (used when it fits, else replaced by a fresh one, *fresh = 1), or NULL (a
 * local sketch, freed here). */
static lsc_status compute(wsrc *w, const lsc_lowrank *lr, const lsc_basefig_opts *opts, lsc_workspace *ws,
                          lsc_basefig_sketch *sk, int *fresh, lsc_basefig *out, lsc_error *err)
{
    lsc_basefig_opts dflt;
    lsc_basefig_opts_default(&dflt);
    const lsc_basefig_opts *o = opts ? opts : &dflt;
    if (fresh)
        *fresh = 0;
    if (!lr || !out || !ws || lr->rows <= 0 || lr->cols <= 0 || lr->rows > INT32_MAX || lr->cols > INT32_MAX)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    int64_t rows = lr->rows, cols = lr->cols;
    memset(out, 0, sizeof *out);
    dims d;
    int power;
    dims_of(lr, o, &d, &power);
    double eps = o->eps > 0 ? o->eps : LSC_BASEFIG_EPS;
    bufs b = {0};
    lsc_basefig_sketch local = {0};
    lsc_status st = LSC_OK;
    if (bufs_alloc(&b, rows, cols, d.n, lr->r, d.l, w->f != NULL || w->rows_fn != NULL)) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (base figures of a %lldx%lld layer)", (long long)rows,
                           (long long)cols);
        goto done;
    }
    w->xs = b.xs, w->ys = b.ys, w->blk = b.blk;
    if (d.n > 0 && (st = lsc_spectrum(lr, ws, b.sv, b.Ud, b.Vd, err)))
        goto done;
    out->r = d.n, out->k = d.k, out->k_ref = d.kref;
    out->delta_norm = d.n > 0 ? fro_norm(b.sv, 1, d.n) : 0.0;
    if (o->norms_only && w->rows_fn) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "base figures: row blocks for the norms alone");
        goto done;
    }
    if (o->norms_only) { /* the norm alone; a sketch is neither needed nor made */
        out->base_norm = src_norm(w);
        if (!isfinite(out->base_norm))
            st = lsc_error_set(err, LSC_ERR_NUMERIC, "base weight has non-finite entries");
        out->rel_norm = out->base_norm > 0 ? out->delta_norm / out->base_norm : INFINITY;
        goto done;
    }
    if (!sk)
        sk = &local;
    int made = !sketch_fits(sk, w, d.l, power, o->rs.seed);
    if (made && w->rows_fn) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "base figures: row blocks without a fitting sketch");
        goto done;
    }
    if (made && (st = sketch_new(w, &d, power, o->rs.seed, &b, sk, err)))
        goto done;
    if (fresh)
        *fresh = made;
    out->base_norm = sk->base_norm;
    out->rel_norm = out->base_norm > 0 ? out->delta_norm / out->base_norm : INFINITY;
    st = project(w, lr, &d, eps, &b, o, sk, made, out, err);
done:
    lsc_basefig_sketch_release(&local);
    bufs_free(&b);
    return st;
}

lsc_status lsc_basefig_compute(const double *W, const lsc_lowrank *lr, const lsc_basefig_opts *opts,
                               lsc_workspace *ws, lsc_basefig *out, lsc_error *err)
{
    if (!W || !lr)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    wsrc w = {.d = W, .rows = lr->rows, .cols = lr->cols};
    return compute(&w, lr, opts, ws, NULL, NULL, out, err);
}

lsc_status lsc_basefig_compute_f32(const float *W, const lsc_lowrank *lr, const lsc_basefig_opts *opts,
                                   lsc_workspace *ws, lsc_basefig *out, lsc_error *err)
{
    if (!W || !lr)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    wsrc w = {.f = W, .rows = lr->rows, .cols = lr->cols};
    return compute(&w, lr, opts, ws, NULL, NULL, out, err);
}

lsc_status lsc_basefig_compute_sketched(const double *Wd, const float *Wf, const lsc_lowrank *lr,
                                        const lsc_basefig_opts *opts, lsc_workspace *ws, lsc_basefig_sketch *sk,
                                        int *fresh, lsc_basefig *out, lsc_error *err)
{
    if (!lr || !sk || (!Wd) == (!Wf))
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    wsrc w = {.d = Wd, .f = Wf, .rows = lr->rows, .cols = lr->cols};
    return compute(&w, lr, opts, ws, sk, fresh, out, err);
}

lsc_status lsc_basefig_compute_rows(lsc_basefig_rows_fn rows_fn, void *ctx, const lsc_lowrank *lr,
                                    const lsc_basefig_opts *opts, lsc_workspace *ws, lsc_basefig_sketch *sk,
                                    lsc_basefig *out, lsc_error *err)
{
    if (!rows_fn || !lr || !sk)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    wsrc w = {.rows_fn = rows_fn, .rows_ctx = ctx, .rows = lr->rows, .cols = lr->cols};
    return compute(&w, lr, opts, ws, sk, NULL, out, err);
}
