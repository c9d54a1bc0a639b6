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
#include "basefig_ref.h"
#include "randsvd.h"
#include "test_rng.h"
#include "workspace.h"

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
    check_case(60, 70, 6, 0.3, 2, 0.5, 15); /* k < r */
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
