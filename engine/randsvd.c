/* randsvd.c: randomized top-k SVD of W + s*B*A (see randsvd.h).
 *
 * Protocol (l = k + oversample columns, clamped to min(rows, cols)):
 *   Q = orth(M * Omega)                         Omega [cols, l] Gaussian from lsc_rng
 *   repeat power_iters times: Q = orth(M * orth(M^T * Q))
 *   Z = M^T * Q = Uz Sz Vz^T (thin SVD of [cols, l])  =>  M ~ Q Q^T M = (Q Vz) Sz Uz^T
 * Re-orthonormalising between the two halves of each power step keeps the small singular values from
 * being lost to rounding (HMT 2011, algorithm 4.4). Every product with M goes through apply_m/apply_mt,
 * so W + s*B*A is never formed. Row-major throughout; LAPACKE's row-major entry points do the layout.
 * Pure compute; never prints.
 */
#include "randsvd.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

typedef struct op {
    const double *W;
    int64_t rows, cols;
    const lsc_lowrank *lr; /* NULL or r == 0: none */
    double *tmp;           /* [r, l] */
} op;

/* Y [rows, l] = M X, X [cols, l]. */
static void apply_m(const op *o, const double *X, int l, double *Y)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)o->rows, l, (int)o->cols, 1.0, o->W, (int)o->cols, X, l,
                0.0, Y, l);
    if (o->lr && o->lr->r > 0) {
        int r = o->lr->r;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, l, (int)o->cols, 1.0, o->lr->A, (int)o->cols, X, l, 0.0,
                    o->tmp, l);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)o->rows, l, r, o->lr->scale, o->lr->B, r, o->tmp, l,
                    1.0, Y, l);
    }
}

/* Z [cols, l] = M^T Y, Y [rows, l]. */
static void apply_mt(const op *o, const double *Y, int l, double *Z)
{
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)o->cols, l, (int)o->rows, 1.0, o->W, (int)o->cols, Y, l,
                0.0, Z, l);
    if (o->lr && o->lr->r > 0) {
        int r = o->lr->r;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, l, (int)o->rows, 1.0, o->lr->B, r, Y, l, 0.0, o->tmp, l);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)o->cols, l, r, o->lr->scale, o->lr->A, (int)o->cols,
                    o->tmp, l, 1.0, Z, l);
    }
}

/* Orthonormalise the columns of X [m, l] in place (thin QR, Q kept). 0 on success. */
static int orth(double *X, int64_t m, int l, double *tau)
{
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)m, l, X, l, tau) != 0)
        return -1;
    return LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)m, l, l, X, l, tau) != 0 ? -1 : 0;
}

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* Make the largest-magnitude entry of V's column j positive, flipping U's column with it. */
static void fix_signs(double *U, int64_t rows, double *V, int64_t cols, int k)
{
    for (int j = 0; j < k; j++) {
        double best = 0;
        for (int64_t i = 0; i < cols; i++)
            if (fabs(V[i * k + j]) > fabs(best))
                best = V[i * k + j];
        if (best >= 0)
            continue;
        for (int64_t i = 0; i < cols; i++)
            V[i * k + j] = -V[i * k + j];
        for (int64_t i = 0; U && i < rows; i++)
            U[i * k + j] = -U[i * k + j];
    }
}

/* The range finder: Q [rows, l] with orthonormal columns spanning (approximately) M's top-l range. */
static int range_finder(const op *o, int l, int power, uint64_t seed, double *Q, double *Z, double *tau)
{
    lsc_rng g = {seed};
    for (int64_t i = 0; i < o->cols * l; i++)
        Z[i] = lsc_rng_gauss(&g);
    apply_m(o, Z, l, Q);
    if (orth(Q, o->rows, l, tau))
        return -1;
    for (int p = 0; p < power; p++) {
        apply_mt(o, Q, l, Z);
        if (orth(Z, o->cols, l, tau))
            return -1;
        apply_m(o, Z, l, Q);
        if (orth(Q, o->rows, l, tau))
            return -1;
    }
    return 0;
}

lsc_status lsc_randsvd(const double *W, int64_t rows, int64_t cols, const lsc_lowrank *lr, int k,
                       const lsc_randsvd_opts *opts, double *S, double *U, double *V, int *k_out, lsc_error *err)
{
    if (!W || !S || rows <= 0 || cols <= 0 || k <= 0 || rows > INT32_MAX || cols > INT32_MAX ||
        (lr && lr->r > 0 && (lr->rows != rows || lr->cols != cols || !lr->A || !lr->B)))
        return lsc_error_set(err, LSC_ERR_INVALID, "randomized svd: bad shapes (%lldx%lld, k %d)", (long long)rows,
                             (long long)cols, k);
    int64_t mn = rows < cols ? rows : cols;
    if (k > mn)
        k = (int)mn;
    int over = opts && opts->oversample >= 0 ? opts->oversample : LSC_RANDSVD_OVERSAMPLE;
    int power = opts && opts->power_iters >= 0 ? opts->power_iters : LSC_RANDSVD_POWER;
    int64_t l64 = (int64_t)k + over;
    int l = (int)(l64 > mn ? mn : l64);
    int r = lr ? lr->r : 0;
    lsc_status st = LSC_OK;
    double *Q = malloc(sizeof(double) * (size_t)(rows * l)), *Z = malloc(sizeof(double) * (size_t)(cols * l));
    double *tau = malloc(sizeof(double) * (size_t)l), *sz = malloc(sizeof(double) * (size_t)l);
    double *uz = malloc(sizeof(double) * (size_t)(cols * l)), *vzt = malloc(sizeof(double) * (size_t)l * l);
    double *uf = malloc(sizeof(double) * (size_t)(rows * l)), *tmp = malloc(sizeof(double) * (size_t)((r > 0 ? r : 1) * l));
    if (!Q || !Z || !tau || !sz || !uz || !vzt || !uf || !tmp) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (randomized svd of %lldx%lld)", (long long)rows,
                           (long long)cols);
        goto done;
    }
    op o = {W, rows, cols, lr, tmp};
    if (range_finder(&o, l, power, opts ? opts->seed : 0, Q, Z, tau)) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: QR failed (non-finite weights?)");
        goto done;
    }
    apply_mt(&o, Q, l, Z);
    if (!all_finite(Z, (size_t)(cols * l)) ||
        LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (int)cols, l, Z, l, sz, uz, l, vzt, l) != 0) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: non-finite weights or SVD failure");
        goto done;
    }
    memcpy(S, sz, sizeof(double) * (size_t)k);
    if (U) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, l, l, 1.0, Q, l, vzt, l, 0.0, uf, l);
        for (int64_t i = 0; i < rows; i++)
            memcpy(U + i * k, uf + i * l, sizeof(double) * (size_t)k);
    }
    if (V) { /* signs are fixed on V; without V only U's column signs are arbitrary */
        for (int64_t i = 0; i < cols; i++)
            memcpy(V + i * k, uz + i * l, sizeof(double) * (size_t)k);
        fix_signs(U, rows, V, cols, k);
    }
    if (k_out)
        *k_out = k;
done:
    free(Q);
    free(Z);
    free(tau);
    free(sz);
    free(uz);
    free(vzt);
    free(uf);
    free(tmp);
    return st;
}
