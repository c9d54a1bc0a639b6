/* basefig_ref.h: the dense float64 reference of the figures against a base weight (basefig.h), shared by
 * check-basefig (engine) and check-base (end to end): full SVDs of W, dW and W + dW by LAPACKE_dgesvd,
 * dW formed with loops, every figure by its definition. Test support only (static functions). */
#ifndef LSC_BASEFIG_REF_H
#define LSC_BASEFIG_REF_H

#include <check.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowrank.h"
#include "test_rng.h"

/* ||W||_F as the float paths sum it (basefig.c's lsc_basefig_norm), written out: four float64 lanes, lane
 * j over entries j, j+4, ..., the last n % 4 entries into lane 0, then (s0 + s1) + (s2 + s3). */
static inline double ref_four_lane_norm(const float *f, size_t n)
{
    double s[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++)
            s[j] += (double)f[i + j] * f[i + j];
    for (; i < n; i++)
        s[0] += (double)f[i] * f[i];
    return sqrt((s[0] + s[1]) + (s[2] + s[3]));
}

/* A random orthogonal [n, n] (QR of a Gaussian), row-major. */
static inline double *orthogonal(int n)
{
    double *q = gauss_matrix((size_t)n * n), tau[512];
    ck_assert_int_le(n, 512);
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, n, n, q, n, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, n, n, n, q, n, tau), 0);
    return q;
}

/* W = Q1[:, :m] diag(sigma) Q2[:, :m]^T with sigma_i = top * decay^i, m = min(rows, cols). */
static inline double *gapped(int rows, int cols, double top, double decay)
{
    double *q1 = orthogonal(rows), *q2 = orthogonal(cols), *w = calloc((size_t)rows * cols, sizeof(double));
    ck_assert_ptr_nonnull(w);
    int m = rows < cols ? rows : cols;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double s = 0, sig = top;
            for (int t = 0; t < m; t++, sig *= decay)
                s += q1[i * rows + t] * sig * q2[j * cols + t];
            w[(size_t)i * cols + j] = s;
        }
    free(q1);
    free(q2);
    return w;
}

static inline double *dense_delta(const lsc_lowrank *lr)
{
    double *d = calloc((size_t)(lr->rows * lr->cols), sizeof(double));
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < lr->rows; i++)
        for (int64_t j = 0; j < lr->cols; j++) {
            double acc = 0;
            for (int k = 0; k < lr->r; k++)
                acc += lr->B[i * lr->r + k] * lr->A[k * lr->cols + j];
            d[i * lr->cols + j] = lr->scale * acc;
        }
    return d;
}

typedef struct dsvd {
    int m;
    double *s, *u, *vt; /* u [rows, m], vt [m, cols] row-major */
} dsvd;

static inline dsvd full_svd(const double *x, int rows, int cols)
{
    dsvd d;
    d.m = rows < cols ? rows : cols;
    double *a = malloc(sizeof(double) * rows * cols), *sup = malloc(sizeof(double) * d.m);
    memcpy(a, x, sizeof(double) * rows * cols);
    d.s = malloc(sizeof(double) * d.m);
    d.u = malloc(sizeof(double) * rows * d.m);
    d.vt = malloc(sizeof(double) * d.m * cols);
    ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'S', rows, cols, a, cols, d.s, d.u, d.m, d.vt, cols, sup), 0);
    free(a);
    free(sup);
    return d;
}

static inline void dsvd_free(dsvd *d)
{
    free(d->s), free(d->u), free(d->vt);
}

static inline double fro(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

/* cos between right vector i of a and right vector j of b (rows of vt) */
static inline double vcos(const dsvd *a, int i, const dsvd *b, int j, int cols)
{
    double d = 0;
    for (int t = 0; t < cols; t++)
        d += a->vt[i * cols + t] * b->vt[j * cols + t];
    return d;
}

typedef struct ref {
    double base_norm, delta_norm, rel, amp, sim_r, sim_k, min_margin;
    int intruders;
} ref;

/* The dense reference of every figure, with the same definitions as basefig.h. */
static inline ref reference(const double *W, const lsc_lowrank *lr, int k, int kref, double eps)
{
    int rows = (int)lr->rows, cols = (int)lr->cols, r = lr->r;
    ref o = {0};
    double *d = dense_delta(lr), *m = malloc(sizeof(double) * rows * cols);
    for (int i = 0; i < rows * cols; i++)
        m[i] = W[i] + d[i];
    dsvd sw = full_svd(W, rows, cols), sd = full_svd(d, rows, cols), sm = full_svd(m, rows, cols);
    o.base_norm = fro(W, (size_t)rows * cols);
    o.delta_norm = fro(d, (size_t)rows * cols);
    o.rel = o.delta_norm / o.base_norm;
    double t2 = 0; /* ||U_d^T W V_d||_F^2 */
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++) {
            double x = 0;
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    x += sd.u[i * sd.m + a] * W[i * cols + j] * sd.vt[b * cols + j];
            t2 += x * x;
        }
    o.amp = o.delta_norm / sqrt(t2);
    for (int a = 0; a < r; a++)
        for (int b = 0; b < (r > k ? r : k); b++) {
            double c = vcos(&sd, a, &sw, b, cols);
            if (b < r)
                o.sim_r += c * c;
            if (b < k)
                o.sim_k += c * c;
        }
    o.sim_r /= r;
    o.sim_k /= (r < k ? r : k);
    o.min_margin = 1;
    for (int j = 0; j < k; j++) {
        double best = 0;
        for (int i = 0; i < kref; i++)
            best = fmax(best, fabs(vcos(&sm, j, &sw, i, cols)));
        o.intruders += best < eps;
        o.min_margin = fmin(o.min_margin, fabs(best - eps));
    }
    dsvd_free(&sw), dsvd_free(&sd), dsvd_free(&sm);
    free(d), free(m);
    return o;
}


#endif
