/* check-basefig.c: the randomized SVD and the per-layer figures against W, against dense float64
 * references (full SVDs of W and W + dW by LAPACKE_dgesvd, dW formed with loops).
 *
 * Test matrices have a known spectrum with a gap (W = Q1 diag(sigma) Q2^T, random orthogonal Q1, Q2,
 * sigma_i = 100 * 0.6^i), so the randomized subspaces must match the dense ones to 1e-6 with the default
 * power iterations; exact figures (norms, ratios, amplification) to 1e-9; intruder counts exactly, on
 * cases whose cosines sit well away from the threshold (asserted, so a case cannot pass by luck), plus a
 * hand-built case with a known number of intruders.
 */
#include <check.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basefig.h"
#include "randsvd.h"
#include "test_rng.h"
#include "workspace.h"

/* A random orthogonal [n, n] (QR of a Gaussian), row-major. */
static double *orthogonal(int n)
{
    double *q = gauss_matrix((size_t)n * n), tau[512];
    ck_assert_int_le(n, 512);
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, n, n, q, n, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, n, n, n, q, n, tau), 0);
    return q;
}

/* W = Q1[:, :m] diag(sigma) Q2[:, :m]^T with sigma_i = top * decay^i, m = min(rows, cols). */
static double *gapped(int rows, int cols, double top, double decay)
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

static double *dense_delta(const lsc_lowrank *lr)
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

static dsvd full_svd(const double *x, int rows, int cols)
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

static void dsvd_free(dsvd *d)
{
    free(d->s), free(d->u), free(d->vt);
}

static double fro(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

/* cos between right vector i of a and right vector j of b (rows of vt) */
static double vcos(const dsvd *a, int i, const dsvd *b, int j, int cols)
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
static ref reference(const double *W, const lsc_lowrank *lr, int k, int kref, double eps)
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
        for (int b = 0; b < k; b++) {
            double c = vcos(&sd, a, &sw, b, cols);
            if (b < r)
                o.sim_r += c * c;
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

static void close_rel(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol * fabs(want), "%s: got %.17g want %.17g", what, got, want);
}

/* ---- randomized SVD ---- */

START_TEST(randsvd_matches_dense)
{
    static const int shapes[][3] = {{40, 60, 5}, {90, 30, 8}, {64, 64, 1}, {20, 200, 12}};
    rng_state = 101 + (uint64_t)_i;
    int rows = shapes[_i][0], cols = shapes[_i][1], k = shapes[_i][2];
    double *W = gapped(rows, cols, 100, 0.6);
    double *S = malloc(sizeof(double) * k), *U = malloc(sizeof(double) * rows * k), *V = malloc(sizeof(double) * cols * k);
    lsc_error err;
    int got = 0;
    ck_assert_int_eq(lsc_randsvd(W, rows, cols, NULL, k, NULL, S, U, V, &got, &err), LSC_OK);
    ck_assert_int_eq(got, k);
    dsvd d = full_svd(W, rows, cols);
    for (int j = 0; j < k; j++) {
        close_rel(S[j], d.s[j], 1e-6, "sigma");
        /* singular vectors agree up to sign: |cos| = 1 within 1e-6, on both sides */
        double cv = 0, cu = 0;
        for (int t = 0; t < cols; t++)
            cv += V[t * k + j] * d.vt[j * cols + t];
        for (int t = 0; t < rows; t++)
            cu += U[t * k + j] * d.u[t * d.m + j];
        ck_assert_msg(fabs(fabs(cv) - 1) < 1e-6 && fabs(fabs(cu) - 1) < 1e-6, "vector %d: cos %g %g", j, cv, cu);
        ck_assert_msg(cv * cu > 0, "U and V signs paired");
    }
    dsvd_free(&d);
    free(W), free(S), free(U), free(V);
}
END_TEST

/* W + s B A applied in factored form equals the dense sum's SVD. */
START_TEST(randsvd_with_lowrank)
{
    rng_state = 7;
    int rows = 50, cols = 70, r = 3, k = 6;
    double *W = gapped(rows, cols, 100, 0.5), *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    lsc_lowrank lr = {rows, cols, r, B, A, 0.25};
    double *d = dense_delta(&lr), *m = malloc(sizeof(double) * rows * cols), S[6];
    for (int i = 0; i < rows * cols; i++)
        m[i] = W[i] + d[i];
    dsvd ref = full_svd(m, rows, cols);
    lsc_error err;
    ck_assert_int_eq(lsc_randsvd(W, rows, cols, &lr, k, NULL, S, NULL, NULL, NULL, &err), LSC_OK);
    for (int j = 0; j < k; j++)
        close_rel(S[j], ref.s[j], 1e-6, "sigma of W + dW");
    dsvd_free(&ref);
    free(W), free(B), free(A), free(d), free(m);
}
END_TEST

START_TEST(randsvd_rejects)
{
    double w[4] = {1, 2, 3, NAN}, s[2];
    lsc_error err;
    ck_assert_int_eq(lsc_randsvd(w, 2, 2, NULL, 0, NULL, s, NULL, NULL, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_randsvd(w, 2, 2, NULL, 1, NULL, s, NULL, NULL, NULL, &err), LSC_ERR_NUMERIC);
}
END_TEST

/* ---- figures ---- */

static void check_case(int rows, int cols, int r, double scale, int k, double eps, uint64_t seed)
{
    rng_state = seed;
    double *W = gapped(rows, cols, 100, 0.6), *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    lsc_lowrank lr = {rows, cols, r, B, A, scale};
    lsc_basefig_opts o;
    lsc_basefig_opts_default(&o);
    o.k = k;
    o.eps = eps;
    int kref = 2 * k > r ? 2 * k : r;
    ref want = reference(W, &lr, k, kref, eps);
    ck_assert_msg(want.min_margin > 1e-3, "case too close to the threshold to test (margin %g)", want.min_margin);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_basefig got;
    lsc_error err;
    ck_assert_int_eq(lsc_basefig_compute(W, &lr, &o, ws, &got, &err), LSC_OK);
    close_rel(got.base_norm, want.base_norm, 1e-9, "base_norm");
    close_rel(got.delta_norm, want.delta_norm, 1e-9, "delta_norm");
    close_rel(got.rel_norm, want.rel, 1e-9, "rel_norm");
    close_rel(got.amplification, want.amp, 1e-9, "amplification");
    ck_assert_msg(fabs(got.subspace_sim_r - want.sim_r) < 1e-6, "sim_r %.12g vs %.12g", got.subspace_sim_r, want.sim_r);
    ck_assert_msg(fabs(got.subspace_sim_k - want.sim_k) < 1e-6, "sim_k %.12g vs %.12g", got.subspace_sim_k, want.sim_k);
    ck_assert_int_eq(got.intruders, want.intruders);
    ck_assert_int_eq(got.k, k);
    ck_assert_int_eq(got.k_ref, kref);
    lsc_workspace_free(ws);
    free(W), free(B), free(A);
}

START_TEST(figures_match_dense)
{
    check_case(48, 64, 4, 0.5, 6, 0.5, 11);
    check_case(80, 40, 8, 0.05, 10, 0.5, 12);
    check_case(33, 57, 2, 3.0, 4, 0.3, 13);
    check_case(64, 64, 1, -2.0, 3, 0.7, 14);
}
END_TEST

/* Hand-built: dW's input directions are W's tail directions with a large scale, so W + dW's top r right
 * vectors are dW's directions, orthogonal to W's top k_ref: exactly r intruders; and a small dW inside
 * W's leading subspace: none, with subspace similarity phi(r, r) = 1. */
START_TEST(figures_known_intruders)
{
    rng_state = 21;
    int rows = 40, cols = 50, r = 3, k = 8;
    double *q1 = orthogonal(rows), *q2 = orthogonal(cols), *W = calloc((size_t)rows * cols, sizeof(double));
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double s = 0, sig = 10;
            for (int t = 0; t < rows; t++, sig *= 0.8)
                s += q1[i * rows + t] * sig * q2[j * cols + t];
            W[i * cols + j] = s;
        }
    double B[40 * 3], A[3 * 50];
    for (int pass = 0; pass < 2; pass++) {
        int off = pass == 0 ? rows - r : 0; /* tail directions, then leading ones */
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < r; c++)
                B[i * r + c] = q1[i * rows + off + c] * (c + 1);
        for (int c = 0; c < r; c++)
            for (int j = 0; j < cols; j++)
                A[c * cols + j] = q2[j * cols + off + c];
        lsc_lowrank lr = {rows, cols, r, B, A, pass == 0 ? 100.0 : 0.01};
        lsc_basefig_opts o;
        lsc_basefig_opts_default(&o);
        o.k = k;
        lsc_workspace *ws = lsc_workspace_new();
        lsc_basefig got;
        lsc_error err;
        ck_assert_int_eq(lsc_basefig_compute(W, &lr, &o, ws, &got, &err), LSC_OK);
        ck_assert_int_eq(got.intruders, pass == 0 ? r : 0);
        if (pass == 1)
            ck_assert_msg(fabs(got.subspace_sim_r - 1) < 1e-6, "phi %g", got.subspace_sim_r);
        else
            ck_assert_msg(got.subspace_sim_k < 1e-6, "phi %g", got.subspace_sim_k);
        lsc_workspace_free(ws);
    }
    free(q1), free(q2), free(W);
}
END_TEST

static Suite *basefig_suite(void)
{
    Suite *s = suite_create("basefig");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, randsvd_matches_dense, 0, 4);
    tcase_add_test(tc, randsvd_with_lowrank);
    tcase_add_test(tc, randsvd_rejects);
    tcase_add_test(tc, figures_match_dense);
    tcase_add_test(tc, figures_known_intruders);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(basefig_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
