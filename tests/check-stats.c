/* check-stats.c: every field of lsc_layer_stats on hand-worked layers, plus random layers against a
 * dense reference (Frobenius norm and top singular value of s*B*A formed with plain loops).
 * Fixed-seed PRNG (splitmix64 + Box-Muller) written here.
 */
#include <check.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "test_rng.h"

static lsc_workspace *ws;

static void setup(void)
{
    ws = lsc_workspace_new();
    ck_assert_ptr_nonnull(ws);
}

static void teardown(void)
{
    lsc_workspace_free(ws);
    ws = NULL;
}

static void compute_ok(const lsc_lowrank *lr, lsc_layer_stats *st)
{
    lsc_error err = {0};
    memset(st, 0, sizeof *st);
    lsc_status s = lsc_stats_compute(lr, ws, st, &err);
    ck_assert_msg(s == LSC_OK, "stats failed: %s", err.msg);
}

/* B = diag(3, 1), A = [I2 | 0]: singular values 3, 1 */
START_TEST(two_value_layer)
{
    const double B[4] = {3, 0, 0, 1};
    const double A[6] = {1, 0, 0, 0, 1, 0};
    lsc_lowrank lr = {.rows = 2, .cols = 3, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_layer_stats st;
    compute_ok(&lr, &st);
    ck_assert_int_eq(st.n_sv, 2);
    ck_assert_double_eq_tol(st.sv[0], 3.0, 1e-15);
    ck_assert_double_eq_tol(st.sv[1], 1.0, 1e-15);
    ck_assert_double_eq_tol(st.fro, sqrt(10.0), 1e-14);
    ck_assert_double_eq_tol(st.spectral, 3.0, 1e-15);
    ck_assert_double_eq_tol(st.nuclear, 4.0, 1e-14);
    ck_assert_double_eq_tol(st.stable_rank, 10.0 / 9.0, 1e-14);
    ck_assert_double_eq_tol(st.effective_rank, exp(-(0.9 * log(0.9) + 0.1 * log(0.1))), 1e-14);
    ck_assert_int_eq(st.energy_rank_90, 1); /* 9 of 10 is exactly 90% */
    ck_assert_int_eq(st.energy_rank_99, 2);
    ck_assert_int_eq(st.numerical_rank, 2);
    ck_assert_double_eq_tol(st.norm_a, sqrt(2.0), 1e-15);
    ck_assert_double_eq_tol(st.norm_b, sqrt(10.0), 1e-15);
    ck_assert_double_eq_tol(st.balance, sqrt(5.0), 1e-14);
    ck_assert_double_eq_tol(st.zeros_a, 4.0 / 6.0, 1e-15);
    ck_assert_double_eq_tol(st.zeros_b, 0.5, 1e-15);
    ck_assert_double_eq_tol(st.near_zeros_a, 4.0 / 6.0, 1e-15);
    ck_assert_double_eq_tol(st.near_zeros_b, 0.5, 1e-15);
    ck_assert_int_eq(st.nonfinite_a, 0);
    ck_assert_int_eq(st.nonfinite_b, 0);
    ck_assert_uint_eq(st.flags, 0);
    lsc_stats_release(&st);
    ck_assert_ptr_null(st.sv);
    ck_assert_int_eq(st.n_sv, 0);
}
END_TEST

/* ten equal singular values: effective and stable rank are 10, and 90% of the energy is exactly 9 */
START_TEST(equal_values_layer)
{
    double B[100] = {0}, A[120] = {0};
    for (int i = 0; i < 10; i++) {
        B[i * 10 + i] = 2.0;
        A[i * 12 + i] = 1.0;
    }
    lsc_lowrank lr = {.rows = 10, .cols = 12, .r = 10, .B = B, .A = A, .scale = -0.5};
    lsc_layer_stats st;
    compute_ok(&lr, &st);
    ck_assert_int_eq(st.n_sv, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_double_eq_tol(st.sv[i], 1.0, 1e-15);
    ck_assert_double_eq_tol(st.effective_rank, 10.0, 1e-12);
    ck_assert_double_eq_tol(st.stable_rank, 10.0, 1e-12);
    ck_assert_int_eq(st.energy_rank_90, 9);
    ck_assert_int_eq(st.energy_rank_99, 10);
    ck_assert_int_eq(st.numerical_rank, 10);
    ck_assert_double_eq_tol(st.nuclear, 10.0, 1e-13);
    ck_assert_double_eq_tol(st.fro, sqrt(10.0), 1e-13);
    ck_assert_double_eq_tol(st.balance, 2.0, 1e-15); /* ||B|| = 2 sqrt(10), ||A|| = sqrt(10) */
    lsc_stats_release(&st);
}
END_TEST

START_TEST(zero_and_near_zero_fractions)
{
    const double A[6] = {1e6, 0, 0.5, 1, -1e-3, 0};           /* threshold 1: five at or below */
    const double B[8] = {1, 1e-7, -1e-6, 2e-6, 0, 1, 1, 1};    /* threshold 1e-6: 1e-7, -1e-6, 0 */
    lsc_lowrank lr = {.rows = 4, .cols = 3, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_layer_stats st;
    compute_ok(&lr, &st);
    ck_assert_double_eq_tol(st.zeros_a, 2.0 / 6.0, 1e-15);
    ck_assert_double_eq_tol(st.near_zeros_a, 5.0 / 6.0, 1e-15);
    ck_assert_double_eq_tol(st.zeros_b, 1.0 / 8.0, 1e-15);
    ck_assert_double_eq_tol(st.near_zeros_b, 3.0 / 8.0, 1e-15);
    ck_assert_uint_eq(st.flags, 0);
    lsc_stats_release(&st);
}
END_TEST

/* The factor scan runs four lanes at a time with a scalar tail: each special value (zero, near zero,
 * NaN, +-Inf, the largest entry) at every position of every length up to 19 gives the counts and the
 * norm of a plain element-by-element reference. */
static void scan_reference(const double *x, int n, int *zeros, int *near, int *nonfinite, double *norm)
{
    double m = 0, ss = 0;
    *zeros = *near = *nonfinite = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            ++*nonfinite;
            continue;
        }
        *zeros += x[i] == 0.0;
        m = fmax(m, fabs(x[i]));
        ss += x[i] * x[i];
    }
    for (int i = 0; i < n; i++)
        *near += fabs(x[i]) <= 1e-6 * m;
    *norm = sqrt(ss);
}

START_TEST(factor_scan_lanes_and_tails)
{
    const double special[] = {0.0, -0.0, 1e-9, NAN, INFINITY, -INFINITY, -50.0};
    const double A[1] = {1.0};
    double B[19];
    for (int n = 1; n <= 19; n++)
        for (int p = 0; p < n; p++)
            for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
                for (int i = 0; i < n; i++)
                    B[i] = 0.25 + 0.125 * (i % 5) - (i % 3 == 0 ? 0.75 : 0.0);
                B[p] = special[k];
                if (p + 1 < n && k < 3)
                    B[(p + 3) % n] = -0.0; /* a second zero in another lane */
                lsc_lowrank lr = {.rows = n, .cols = 1, .r = 1, .B = B, .A = A, .scale = 1.0};
                lsc_layer_stats st;
                compute_ok(&lr, &st);
                int zeros, near, nonfinite;
                double norm;
                scan_reference(B, n, &zeros, &near, &nonfinite, &norm);
                ck_assert_msg(st.nonfinite_b == nonfinite, "n %d pos %d special %zu: %lld non-finite, want %d", n, p, k,
                              (long long)st.nonfinite_b, nonfinite);
                ck_assert_msg(st.zeros_b == (double)zeros / n && st.near_zeros_b == (double)near / n,
                              "n %d pos %d special %zu: zeros %g near %g, want %d and %d of %d", n, p, k, st.zeros_b,
                              st.near_zeros_b, zeros, near, n);
                ck_assert_msg(fabs(st.norm_b - norm) <= 1e-15 * norm, "n %d pos %d special %zu: norm %.17g want %.17g",
                              n, p, k, st.norm_b, norm);
                lsc_stats_release(&st);
            }
}
END_TEST

START_TEST(nonfinite_entries_are_counted_not_failed)
{
    const double B[5] = {3, NAN, 4, INFINITY, -INFINITY};
    const double A[2] = {1, NAN};
    lsc_lowrank lr = {.rows = 5, .cols = 2, .r = 1, .B = B, .A = A, .scale = 1.0};
    lsc_layer_stats st;
    compute_ok(&lr, &st);
    ck_assert_uint_eq(st.flags, LSC_STATS_NONFINITE);
    ck_assert_int_eq(st.nonfinite_b, 3);
    ck_assert_int_eq(st.nonfinite_a, 1);
    ck_assert_int_eq(st.n_sv, 1);
    ck_assert(st.sv[0] == 0.0);
    ck_assert(st.spectral == 0.0 && st.fro == 0.0 && st.nuclear == 0.0);
    ck_assert_int_eq(st.energy_rank_90, 0);
    ck_assert_double_eq_tol(st.norm_b, 5.0, 1e-15); /* over the finite entries */
    ck_assert_double_eq_tol(st.norm_a, 1.0, 1e-15);
    ck_assert_double_eq(st.near_zeros_b, 0.0); /* NaN and Inf are never near zero */
    lsc_stats_release(&st);

    /* a non-finite scale is flagged the same way */
    const double B2[2] = {1, 2}, A2[2] = {3, 4};
    lsc_lowrank lr2 = {.rows = 2, .cols = 2, .r = 1, .B = B2, .A = A2, .scale = INFINITY};
    compute_ok(&lr2, &st);
    ck_assert_uint_eq(st.flags, LSC_STATS_NONFINITE);
    ck_assert_int_eq(st.nonfinite_a + st.nonfinite_b, 0);
    lsc_stats_release(&st);
}
END_TEST

START_TEST(zero_layers)
{
    double B[6] = {0}, A[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    lsc_lowrank lr = {.rows = 3, .cols = 4, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_layer_stats st;

    compute_ok(&lr, &st); /* B all zero */
    ck_assert_uint_eq(st.flags, LSC_STATS_ZERO);
    ck_assert_int_eq(st.n_sv, 2);
    ck_assert(st.sv[0] == 0.0 && st.sv[1] == 0.0);
    ck_assert(st.stable_rank == 0.0 && st.effective_rank == 0.0 && st.fro == 0.0);
    ck_assert_int_eq(st.energy_rank_90, 0);
    ck_assert_int_eq(st.energy_rank_99, 0);
    ck_assert_int_eq(st.numerical_rank, 0);
    ck_assert(st.norm_b == 0.0 && st.balance == 0.0);
    ck_assert_double_eq(st.zeros_b, 1.0);
    ck_assert_double_eq(st.near_zeros_b, 1.0); /* all zero: every entry is at the threshold */
    lsc_stats_release(&st);

    double B2[6] = {1, 2, 3, 4, 5, 6};
    lr.B = B2;
    lr.scale = 0.0; /* scale 0 */
    compute_ok(&lr, &st);
    ck_assert_uint_eq(st.flags, LSC_STATS_ZERO);
    ck_assert(st.sv[0] == 0.0 && st.spectral == 0.0);
    ck_assert_double_eq_tol(st.balance, sqrt(91.0) / sqrt(204.0), 1e-15);
    lsc_stats_release(&st);

    lr.r = 0; /* rank 0 */
    lr.scale = 1.0;
    compute_ok(&lr, &st);
    ck_assert_uint_eq(st.flags, LSC_STATS_ZERO);
    ck_assert_int_eq(st.n_sv, 0);
    ck_assert_ptr_null(st.sv);
    ck_assert(st.zeros_a == 0.0 && st.near_zeros_b == 0.0);
    lsc_stats_release(&st);

    /* nonzero factors whose product is exactly zero: b = (1, 0), rows of A = 0 and (1, 1) */
    const double B3[2] = {1, 0}, A3[4] = {0, 0, 1, 1};
    lsc_lowrank lr3 = {.rows = 1, .cols = 2, .r = 2, .B = B3, .A = A3, .scale = 1.0};
    compute_ok(&lr3, &st);
    ck_assert_uint_eq(st.flags, LSC_STATS_ZERO);
    ck_assert(st.sv[0] == 0.0);
    lsc_stats_release(&st);
}
END_TEST

START_TEST(derived_figures_from_cached_values)
{
    lsc_layer_stats st = {0};
    double sv[3] = {1.0, 1e-10, 1e-20};
    st.sv = sv;
    st.n_sv = 3;
    lsc_stats_from_sv(&st, 100, 50); /* tolerance 100 eps */
    ck_assert_int_eq(st.numerical_rank, 2);
    ck_assert_double_eq(st.spectral, 1.0);
    ck_assert_double_eq_tol(st.nuclear, 1.0 + 1e-10 + 1e-20, 1e-16);
    ck_assert_int_eq(st.energy_rank_90, 1);
    ck_assert_uint_eq(st.flags, 0);

    double zeros[2] = {0, 0};
    st.sv = zeros;
    st.n_sv = 2;
    lsc_stats_from_sv(&st, 4, 4);
    ck_assert_uint_eq(st.flags, LSC_STATS_ZERO);
    ck_assert(st.spectral == 0.0 && st.numerical_rank == 0);
    lsc_stats_from_sv(NULL, 1, 1);

    /* from_sv over a copy of computed values reproduces every derived figure of compute */
    rng_state = 0x5EED1001;
    const int rows = 23, cols = 31, r = 6;
    double B[23 * 6], A[6 * 31];
    for (int i = 0; i < rows * r; i++)
        B[i] = gauss();
    for (int i = 0; i < r * cols; i++)
        A[i] = gauss();
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 0.3};
    lsc_layer_stats full;
    compute_ok(&lr, &full);
    lsc_layer_stats cached = {0};
    double copy[6];
    memcpy(copy, full.sv, sizeof copy);
    cached.sv = copy;
    cached.n_sv = full.n_sv;
    lsc_stats_from_sv(&cached, rows, cols);
    ck_assert(cached.fro == full.fro && cached.spectral == full.spectral && cached.nuclear == full.nuclear);
    ck_assert(cached.stable_rank == full.stable_rank && cached.effective_rank == full.effective_rank);
    ck_assert(cached.energy_rank_90 == full.energy_rank_90 && cached.energy_rank_99 == full.energy_rank_99);
    ck_assert(cached.numerical_rank == full.numerical_rank);
    lsc_stats_release(&full);
}
END_TEST

START_TEST(random_layers_match_dense)
{
    rng_state = 0x5EED1002;
    for (int it = 0; it < 30; it++) {
        int rows = 1 + (int)(splitmix64() % 30), cols = 1 + (int)(splitmix64() % 30), r = 1 + (int)(splitmix64() % 12);
        double *B = malloc(sizeof(double) * rows * r), *A = malloc(sizeof(double) * r * cols);
        double *D = calloc((size_t)rows * cols, sizeof(double));
        for (int i = 0; i < rows * r; i++)
            B[i] = gauss();
        for (int i = 0; i < r * cols; i++)
            A[i] = gauss();
        const double s = 1.7;
        double fro2 = 0.0, nb = 0.0;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                double acc = 0.0;
                for (int k = 0; k < r; k++)
                    acc += B[i * r + k] * A[k * cols + j];
                D[i * cols + j] = s * acc;
                fro2 += s * acc * s * acc;
            }
        for (int i = 0; i < rows * r; i++)
            nb += B[i] * B[i];
        int k = rows < cols ? rows : cols;
        double *ref = malloc(sizeof(double) * k);
        ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', cols, rows, D, cols, ref, NULL, 1, NULL, 1), 0);

        lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = s};
        lsc_layer_stats st;
        compute_ok(&lr, &st);
        ck_assert_int_eq(st.n_sv, r < k ? r : k);
        ck_assert(fabs(st.fro - sqrt(fro2)) <= 1e-12 * sqrt(fro2));
        ck_assert(fabs(st.spectral - ref[0]) <= 1e-12 * ref[0]);
        ck_assert(fabs(st.norm_b - sqrt(nb)) <= 1e-14 * sqrt(nb));
        double nuc = 0.0;
        for (int i = 0; i < k; i++)
            nuc += ref[i];
        ck_assert(fabs(st.nuclear - nuc) <= 1e-11 * nuc);
        ck_assert(st.stable_rank >= 1.0 && st.stable_rank <= st.n_sv + 1e-12);
        ck_assert(st.effective_rank >= 1.0 - 1e-12 && st.effective_rank <= st.n_sv + 1e-12);
        ck_assert_int_eq(st.numerical_rank, st.n_sv); /* random factors have full rank */
        lsc_stats_release(&st);
        free(B);
        free(A);
        free(D);
        free(ref);
    }
}
END_TEST

START_TEST(rejections)
{
    const double B[4] = {1, 2, 3, 4}, A[4] = {1, 2, 3, 4};
    lsc_lowrank lr = {.rows = 2, .cols = 2, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_layer_stats st = {0};
    lsc_error err = {0};
    ck_assert_int_eq(lsc_stats_compute(&lr, ws, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_stats_compute(NULL, ws, &st, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_stats_compute(&lr, NULL, &st, &err), LSC_ERR_INVALID);
    lr.cols = -2;
    ck_assert_int_eq(lsc_stats_compute(&lr, ws, &st, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "[2, -2]"));
    lr.cols = 2;
    lr.A = NULL;
    ck_assert_int_eq(lsc_stats_compute(&lr, ws, &st, &err), LSC_ERR_INVALID);
    lr.A = A;
    /* finite factors whose product overflows: a numerical failure, nothing left allocated */
    const double big[4] = {1e200, 0, 0, 1e200};
    lsc_lowrank huge = {.rows = 2, .cols = 2, .r = 2, .B = big, .A = big, .scale = 1.0};
    ck_assert_int_eq(lsc_stats_compute(&huge, ws, &st, &err), LSC_ERR_NUMERIC);
    ck_assert_ptr_null(st.sv);
    lsc_stats_release(NULL);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, two_value_layer);
    tcase_add_test(tc, equal_values_layer);
    tcase_add_test(tc, zero_and_near_zero_fractions);
    tcase_add_test(tc, nonfinite_entries_are_counted_not_failed);
    tcase_add_test(tc, factor_scan_lanes_and_tails);
    tcase_add_test(tc, zero_layers);
    tcase_add_test(tc, derived_figures_from_cached_values);
    tcase_add_test(tc, random_layers_match_dense);
    tcase_add_test(tc, rejections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stats_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
