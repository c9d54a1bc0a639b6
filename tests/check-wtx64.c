/* check-wtx64.c: Z = W^T X (engine/wtx64.h) against a naive scalar reference written here, bit for bit,
 * for every variant the CPU has (each forced through lsc_wtx64_force; the ones it lacks are skipped and
 * named on stdout), over many shapes: rows 0 .. 1100 (across the kernel's row blocks and super-blocks),
 * W columns 1 .. 130 (panel and tile tails), X columns 1 .. 70 (every vector tail), odd leading
 * dimensions, accumulate on and off, with the padding beside Z checked untouched. Then against
 * cblas_dgemm on the widened W to 1e-13 (normwise relative), row blocks accumulated against one call, and
 * the hook's rejections. */
#include <cblas.h>
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_rng.h"
#include "wtx64.h"

/* The definition (wtx64.h): Z[j, k] = fma over rows i = 0 .. nb-1 in order of W[i, j] * X[i, k], from
 * +0 or Z's old value. Loops in another order than the kernel's (element by element). */
static void ref(const float *W, int64_t nb, int64_t cols, const double *X, int64_t ldx, int c, double *Z,
                int64_t ldz, int acc)
{
    for (int k = 0; k < c; k++)
        for (int64_t j = 0; j < cols; j++) {
            double a = acc ? Z[j * ldz + k] : 0.0;
            for (int64_t i = 0; i < nb; i++)
                a = fma((double)W[i * cols + j], X[i * ldx + k], a);
            Z[j * ldz + k] = a;
        }
}

/* W floats over a few binades (some exactly zero), X doubles likewise; Z's padding a sentinel. */
static float *rand_w(int64_t n)
{
    float *w = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    ck_assert_ptr_nonnull(w);
    for (int64_t i = 0; i < n; i++)
        w[i] = splitmix64() % 17 == 0 ? 0.0f : (float)(gauss() * ldexp(1.0, (int)(splitmix64() % 9) - 4));
    return w;
}

static double *rand_x(int64_t n)
{
    double *x = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    ck_assert_ptr_nonnull(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = gauss() * ldexp(1.0, (int)(splitmix64() % 7) - 3);
    return x;
}

static const double SENTINEL = -12345.678;

/* One case: the kernel (variant as forced) against ref, bitwise, on identical starting Z (Z's padding
 * columns c .. ldz included); the first difference fails the test. */
static void check_case(int64_t nb, int64_t cols, int c, int64_t ldx, int64_t ldz, int acc)
{
    float *W = rand_w(nb * cols);
    double *X = rand_x(nb * ldx), *Z = rand_x(cols * ldz), *R = malloc(sizeof(double) * (size_t)(cols * ldz));
    ck_assert_ptr_nonnull(R);
    for (int64_t j = 0; j < cols; j++)
        for (int64_t k = c; k < ldz; k++)
            Z[j * ldz + k] = SENTINEL;
    memcpy(R, Z, sizeof(double) * (size_t)(cols * ldz));
    lsc_wtx64(W, nb, cols, X, ldx, c, Z, ldz, acc);
    ref(W, nb, cols, X, ldx, c, R, ldz, acc);
    for (int64_t t = 0; t < cols * ldz; t++)
        if (memcmp(&Z[t], &R[t], sizeof(double)) != 0)
            ck_abort_msg("%s: nb %lld cols %lld c %d ldx %lld ldz %lld acc %d: Z[%lld, %lld] = %.17g, reference %.17g",
                         lsc_simd_name(lsc_wtx64_active()), (long long)nb, (long long)cols, c, (long long)ldx,
                         (long long)ldz, acc, (long long)(t / ldz), (long long)(t % ldz), Z[t], R[t]);
    free(W), free(X), free(Z), free(R);
}

/* Every X column count 1 .. 70 with shapes drawn from lists of block edges, plus fixed edge cases. */
static void check_shapes(void)
{
    static const int64_t nbs[] = {0, 1, 2, 3, 7, 31, 32, 33, 64, 95, 200, 511, 512, 513, 1030};
    static const int64_t colss[] = {1, 2, 5, 6, 7, 11, 47, 48, 49, 53, 96, 101, 130};
    int n_nb = (int)(sizeof nbs / sizeof nbs[0]), n_cols = (int)(sizeof colss / sizeof colss[0]);
    rng_state = 2024;
    for (int c = 1; c <= 70; c++)
        for (int rep = 0; rep < 3; rep++) {
            int64_t nb = nbs[splitmix64() % (uint64_t)n_nb], cols = colss[splitmix64() % (uint64_t)n_cols];
            if (nb * cols * c > 3000000) /* keep the reference quick */
                nb = 64 + (int64_t)(splitmix64() % 64);
            int64_t ldx = c + (int64_t)(splitmix64() % 4), ldz = c + (int64_t)(splitmix64() % 5);
            check_case(nb, cols, c, ldx, ldz, rep == 1);
        }
    /* the benchmark's widths on a tall block, every tail of rows, panels and vectors at once */
    static const int cs[] = {16, 30, 32, 46, 62};
    for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
        check_case(1030, 101, cs[t], cs[t] + 3, cs[t] + 1, 0);
        check_case(1030, 101, cs[t], cs[t], cs[t], 1);
    }
}

START_TEST(every_variant_matches_reference)
{
    int ran = 0;
    for (int v = LSC_SIMD_PORTABLE; v < LSC_SIMD_COUNT; v++) {
        if (!lsc_simd_supported((lsc_simd)v)) {
            printf("check-wtx64: variant %s not supported by this CPU: skipped\n", lsc_simd_name((lsc_simd)v));
            continue;
        }
        ck_assert_int_eq(lsc_wtx64_force((lsc_simd)v), 0);
        ck_assert_int_eq(lsc_wtx64_active(), v);
        printf("check-wtx64: variant %s\n", lsc_simd_name((lsc_simd)v));
        check_shapes();
        ran++;
    }
    ck_assert_int_ge(ran, 1);
    ck_assert_int_eq(lsc_wtx64_force(LSC_SIMD_AUTO), 0);
}
END_TEST

/* Rows given in blocks, each accumulated onto the last (how basefig.c feeds a base's row blocks), equal
 * one call over all rows, bit for bit, in every variant; nb = 0 zeroes Z or leaves it. */
START_TEST(row_blocks_equal_one_call)
{
    rng_state = 7;
    int64_t nb = 1100, cols = 77, ldx = 41, ldz = 39;
    int c = 37;
    float *W = rand_w(nb * cols);
    double *X = rand_x(nb * ldx), *Z1 = rand_x(cols * ldz), *Z2 = malloc(sizeof(double) * (size_t)(cols * ldz));
    ck_assert_ptr_nonnull(Z2);
    memcpy(Z2, Z1, sizeof(double) * (size_t)(cols * ldz));
    for (int v = LSC_SIMD_PORTABLE; v < LSC_SIMD_COUNT; v++) {
        if (lsc_wtx64_force((lsc_simd)v))
            continue;
        lsc_wtx64(W, nb, cols, X, ldx, c, Z1, ldz, 0);
        static const int64_t cuts[] = {0, 1, 33, 64, 300, 301, 812, 1100};
        for (size_t b = 0; b + 1 < sizeof cuts / sizeof cuts[0]; b++)
            lsc_wtx64(W + cuts[b] * cols, cuts[b + 1] - cuts[b], cols, X + cuts[b] * ldx, ldx, c, Z2, ldz, b > 0);
        ck_assert_msg(memcmp(Z1, Z2, sizeof(double) * (size_t)(cols * ldz)) == 0, "%s: blocks differ",
                      lsc_simd_name((lsc_simd)v));
    }
    lsc_wtx64_force(LSC_SIMD_AUTO);
    lsc_wtx64(W, 0, cols, X, ldx, c, Z1, ldz, 1);
    ck_assert_msg(memcmp(Z1, Z2, sizeof(double) * (size_t)(cols * ldz)) == 0, "nb = 0 with accumulate changed Z");
    lsc_wtx64(W, 0, cols, X, ldx, c, Z1, ldz, 0);
    for (int64_t j = 0; j < cols; j++)
        for (int64_t k = 0; k < ldz; k++)
            ck_assert(k < c ? Z1[j * ldz + k] == 0.0 && !signbit(Z1[j * ldz + k]) : Z1[j * ldz + k] == Z2[j * ldz + k]);
    free(W), free(X), free(Z1), free(Z2);
}
END_TEST

/* Against cblas_dgemm on the widened W (an independent summation order): equal to rounding, normwise
 * relative 1e-13, on the shapes of basefig (a base's rows, the projection's widths). */
START_TEST(matches_dgemm)
{
    rng_state = 99;
    int64_t nb = 600, cols = 130;
    static const int cs[] = {1, 16, 30, 46, 61};
    for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
        int c = cs[t];
        int64_t ldx = c + 2, ldz = c + 1;
        float *W = rand_w(nb * cols);
        double *X = rand_x(nb * ldx), *Wd = malloc(sizeof(double) * (size_t)(nb * cols)),
               *Z = calloc((size_t)(cols * ldz), sizeof(double)), *D = calloc((size_t)(cols * ldz), sizeof(double));
        ck_assert(Wd && Z && D);
        for (int64_t i = 0; i < nb * cols; i++)
            Wd[i] = W[i];
        for (int v = LSC_SIMD_PORTABLE; v < LSC_SIMD_COUNT; v++) {
            if (lsc_wtx64_force((lsc_simd)v))
                continue;
            lsc_wtx64(W, nb, cols, X, ldx, c, Z, ldz, 0);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)cols, c, (int)nb, 1.0, Wd, (int)cols, X, (int)ldx,
                        0.0, D, (int)ldz);
            double num = 0, den = 0;
            for (int64_t j = 0; j < cols; j++)
                for (int k = 0; k < c; k++) {
                    double e = Z[j * ldz + k] - D[j * ldz + k];
                    num += e * e, den += D[j * ldz + k] * D[j * ldz + k];
                }
            ck_assert_double_gt(den, 0);
            ck_assert_msg(sqrt(num / den) <= 1e-13, "%s c %d: relative difference %g from dgemm",
                          lsc_simd_name((lsc_simd)v), c, sqrt(num / den));
        }
        free(W), free(X), free(Wd), free(Z), free(D);
    }
    lsc_wtx64_force(LSC_SIMD_AUTO);
}
END_TEST

/* The hook refuses what it cannot do and changes nothing; AUTO picks a supported variant. */
START_TEST(force_hook)
{
    ck_assert_int_eq(lsc_wtx64_force(LSC_SIMD_AUTO), 0);
    lsc_simd a = lsc_wtx64_active();
    ck_assert(a != LSC_SIMD_AUTO && lsc_simd_supported(a));
    ck_assert_int_eq(lsc_wtx64_force(LSC_SIMD_COUNT), -1);
    ck_assert_int_eq(lsc_wtx64_force((lsc_simd)-1), -1);
    ck_assert_int_eq(lsc_wtx64_active(), a);
    ck_assert_str_eq(lsc_simd_name(LSC_SIMD_COUNT), "?");
    ck_assert_int_eq(lsc_wtx64_force(LSC_SIMD_PORTABLE), 0);
    ck_assert_int_eq(lsc_wtx64_active(), LSC_SIMD_PORTABLE);
    ck_assert_int_eq(lsc_wtx64_force(LSC_SIMD_AUTO), 0);
    ck_assert_int_eq(lsc_wtx64_active(), a);
}
END_TEST

static Suite *wtx64_suite(void)
{
    Suite *s = suite_create("wtx64");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, every_variant_matches_reference);
    tcase_add_test(tc, row_blocks_equal_one_call);
    tcase_add_test(tc, matches_dgemm);
    tcase_add_test(tc, force_hook);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wtx64_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
