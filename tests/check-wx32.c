/* check-wx32.c: the range finder's float32 kernels (engine/wx32.c) against a plain scalar reference that
 * computes every output element as wx32.h defines it (fmaf in index order from +0), bit for bit, for every
 * variant this CPU runs (forced through lsc_wx32_force; the others are skipped with a note on stderr),
 * over shapes that hit every tile tail, column tail (l 1..70), k block and leading dimension; against
 * cblas_sgemm to float tolerance; and the figures of lsc_basefig_compute_f32, bit-identical under every
 * variant. Inputs span many binades, so a sum in another order almost surely rounds differently.
 */
#include <cblas.h>
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basefig.h"
#include "basefig_ref.h"
#include "test_rng.h"
#include "workspace.h"
#include "wx32.h"

static const lsc_simd variants[] = {LSC_SIMD_PORTABLE, LSC_SIMD_AVX2, LSC_SIMD_AVX512};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])

/* Force variant v; 0 (and a note, once per test) when this CPU cannot run it. */
static int use(lsc_simd v)
{
    if (lsc_wx32_force(v) == 0) {
        ck_assert_int_eq(lsc_wx32_active(), v);
        return 1;
    }
    fprintf(stderr, "check-wx32: variant %s not supported by this CPU, skipped\n", lsc_simd_name(v));
    return 0;
}

/* n floats of random sign and mantissa over 2^-12 .. 2^12 (some exact zeros and negative zeros). */
static float *wide_floats(size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = splitmix64();
        int e = (int)(r % 25) - 12;
        float x = ldexpf(1.0f + (float)((r >> 8) & 0xFFFFFF) / 16777216.0f, e);
        p[i] = (r >> 40) % 31 == 0 ? 0.0f : (r >> 48) % 37 == 0 ? -0.0f : (r >> 32) & 1 ? -x : x;
    }
    return p;
}

/* The definition: Y[i][c] = fmaf over j in order from +0; Z[j][c] = fmaf over i in order from +0. */
static void ref_wx(const float *W, int rows, int cols, const float *X, int ldx, int l, float *Y, int ldy)
{
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < l; c++) {
            float a = 0.0f;
            for (int j = 0; j < cols; j++)
                a = fmaf(W[(size_t)i * cols + j], X[(size_t)j * ldx + c], a);
            Y[(size_t)i * ldy + c] = a;
        }
}

static void ref_wtx(const float *W, int rows, int cols, const float *Y, int ldy, int l, float *Z, int ldz)
{
    for (int j = 0; j < cols; j++)
        for (int c = 0; c < l; c++) {
            float a = 0.0f;
            for (int i = 0; i < rows; i++)
                a = fmaf(W[(size_t)i * cols + j], Y[(size_t)i * ldy + c], a);
            Z[(size_t)j * ldz + c] = a;
        }
}

#define SENTINEL 12345.5f

/* Both kernels of the active variant on one shape against the reference, bit for bit, with leading
 * dimensions wider than l whose extra columns must come back untouched. */
static void check_shape(int rows, int cols, int l, int pad)
{
    int ld = l + pad;
    float *W = wide_floats((size_t)rows * cols), *X = wide_floats((size_t)cols * ld), *Y = wide_floats((size_t)rows * ld);
    size_t ny = (size_t)rows * ld, nz = (size_t)cols * ld;
    float *got = malloc(sizeof(float) * (ny > nz ? ny : nz) + 1), *want = malloc(sizeof(float) * (ny > nz ? ny : nz) + 1);
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_nonnull(want);
    for (int kind = 0; kind < 2; kind++) {
        size_t n = kind ? nz : ny;
        for (size_t i = 0; i < n; i++)
            got[i] = want[i] = SENTINEL;
        if (kind == 0) {
            lsc_wx32_wx(W, rows, cols, X, ld, l, got, ld);
            ref_wx(W, rows, cols, X, ld, l, want, ld);
        } else {
            lsc_wx32_wtx(W, rows, cols, Y, ld, l, got, ld);
            ref_wtx(W, rows, cols, Y, ld, l, want, ld);
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t a, b;
            memcpy(&a, got + i, 4), memcpy(&b, want + i, 4);
            ck_assert_msg(a == b, "%s %s rows %d cols %d l %d ld %d: element [%zu][%zu] is %a (0x%08x), the "
                          "in-order sum is %a (0x%08x)", lsc_simd_name(lsc_wx32_active()), kind ? "W^T Y" : "W X",
                          rows, cols, l, ld, i / (size_t)ld, i % (size_t)ld, (double)got[i], a, (double)want[i], b);
        }
    }
    free(W), free(X), free(Y), free(got), free(want);
}

/* Every l 1..70 on shapes around the tiles (portable 4 rows, AVX2 6, AVX-512 12) and vector widths. */
START_TEST(bitwise_all_l)
{
    static const int shapes[][2] = {{1, 1}, {5, 3}, {13, 17}, {25, 33}, {12, 16}, {7, 40}};
    if (!use(variants[_i]))
        return;
    rng_state = 1000 + (uint64_t)_i;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int l = 1; l <= 70; l++)
            check_shape(shapes[s][0], shapes[s][1], l, (int)(s % 3));
    lsc_wx32_force(LSC_SIMD_AUTO);
}
END_TEST

/* Shapes across the k blocks: W^T Y blocks rows (16 with AVX-512, 128 with AVX2, 64 portable), W X blocks
 * columns by 256 when l needs two column groups; tails of every kind at once. */
START_TEST(bitwise_blocks)
{
    static const int shapes[][2] = {{300, 37}, {129, 20}, {17, 600}, {33, 257}, {260, 14}};
    static const int ls[] = {1, 8, 15, 16, 17, 30, 32, 33, 48, 64, 70};
    if (!use(variants[_i]))
        return;
    rng_state = 2000 + (uint64_t)_i;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t q = 0; q < sizeof ls / sizeof ls[0]; q++)
            check_shape(shapes[s][0], shapes[s][1], ls[q], (int)(q % 2) * 5);
    lsc_wx32_force(LSC_SIMD_AUTO);
}
END_TEST

/* An empty sum is +0 (cols 0 for W X, rows 0 for W^T Y); nothing is written for rows 0 / cols 0 / l 0;
 * -0 * x starts a chain at +0 + -0 = +0, never -0 (a kernel starting from the first product would differ). */
START_TEST(empty_and_signed_zero)
{
    if (!use(variants[_i]))
        return;
    float Y[8], X[4] = {1, 2, 3, 4}, W[2] = {-0.0f, -0.0f};
    for (int i = 0; i < 8; i++)
        Y[i] = SENTINEL;
    lsc_wx32_wx(W, 2, 0, X, 4, 3, Y, 4);
    for (int i = 0; i < 8; i++)
        ck_assert_msg(i % 4 == 3 ? Y[i] == SENTINEL : (Y[i] == 0 && !signbit(Y[i])), "Y[%d] = %g", i, (double)Y[i]);
    for (int i = 0; i < 8; i++)
        Y[i] = SENTINEL;
    lsc_wx32_wtx(W, 0, 2, X, 4, 3, Y, 4);
    for (int i = 0; i < 8; i++)
        ck_assert_msg(i % 4 == 3 ? Y[i] == SENTINEL : (Y[i] == 0 && !signbit(Y[i])), "Z[%d] = %g", i, (double)Y[i]);
    for (int i = 0; i < 8; i++)
        Y[i] = SENTINEL;
    lsc_wx32_wx(W, 0, 2, X, 4, 3, Y, 4);
    lsc_wx32_wtx(W, 2, 0, X, 4, 3, Y, 4);
    lsc_wx32_wx(W, 2, 1, X, 4, 0, Y, 4);
    for (int i = 0; i < 8; i++)
        ck_assert(Y[i] == SENTINEL);
    /* W = [-0; -0] (2 x 1) times X = [1 2 3] (1 x 3), and W^T (W as 1 x 2) times the same row: every
     * product is -0, every sum +0 */
    for (int kind = 0; kind < 2; kind++) {
        for (int i = 0; i < 8; i++)
            Y[i] = SENTINEL;
        if (kind == 0)
            lsc_wx32_wx(W, 2, 1, X, 4, 3, Y, 4);
        else
            lsc_wx32_wtx(W, 1, 2, X, 4, 3, Y, 4);
        for (int i = 0; i < 8; i++)
            ck_assert_msg(i % 4 == 3 ? Y[i] == SENTINEL : (Y[i] == 0 && !signbit(Y[i])), "%s element %d is %g",
                          kind ? "W^T Y" : "W X", i, (double)Y[i]);
    }
    lsc_wx32_force(LSC_SIMD_AUTO);
}
END_TEST

/* Against sgemm on a 1B-like aspect (scaled down): each element within a few float ulps of the sum of
 * |terms| (the two differ only in summation order). */
START_TEST(matches_sgemm)
{
    if (!use(variants[_i]))
        return;
    rng_state = 3000;
    int rows = 512, cols = 128, l = 30;
    double *wd = gauss_matrix((size_t)rows * cols), *xd = gauss_matrix((size_t)cols * l), *yd = gauss_matrix((size_t)rows * l);
    float *W = malloc(sizeof(float) * rows * cols), *X = malloc(sizeof(float) * cols * l), *Y = malloc(sizeof(float) * rows * l);
    float *got = malloc(sizeof(float) * rows * l), *ref = malloc(sizeof(float) * rows * l);
    for (int i = 0; i < rows * cols; i++)
        W[i] = (float)wd[i];
    for (int i = 0; i < cols * l; i++)
        X[i] = (float)xd[i];
    for (int i = 0; i < rows * l; i++)
        Y[i] = (float)yd[i];
    lsc_wx32_wx(W, rows, cols, X, l, l, got, l);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, l, cols, 1.0f, W, cols, X, l, 0.0f, ref, l);
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < l; c++) {
            double mag = 0;
            for (int j = 0; j < cols; j++)
                mag += fabs((double)W[i * cols + j] * X[j * l + c]);
            ck_assert_msg(fabs((double)got[i * l + c] - ref[i * l + c]) <= 4 * cols * 0x1p-24 * mag,
                          "W X [%d][%d]: %g vs sgemm %g", i, c, (double)got[i * l + c], (double)ref[i * l + c]);
        }
    lsc_wx32_wtx(W, rows, cols, Y, l, l, got, l);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols, l, rows, 1.0f, W, cols, Y, l, 0.0f, ref, l);
    for (int j = 0; j < cols; j++)
        for (int c = 0; c < l; c++) {
            double mag = 0;
            for (int i = 0; i < rows; i++)
                mag += fabs((double)W[i * cols + j] * Y[i * l + c]);
            ck_assert_msg(fabs((double)got[j * l + c] - ref[j * l + c]) <= 4 * rows * 0x1p-24 * mag,
                          "W^T Y [%d][%d]: %g vs sgemm %g", j, c, (double)got[j * l + c], (double)ref[j * l + c]);
        }
    free(wd), free(xd), free(yd), free(W), free(X), free(Y), free(got), free(ref);
    lsc_wx32_force(LSC_SIMD_AUTO);
}
END_TEST

/* The hook: AUTO and PORTABLE always run; an unknown variant is refused and changes nothing. */
START_TEST(force_hook)
{
    ck_assert_int_eq(lsc_wx32_force(LSC_SIMD_PORTABLE), 0);
    ck_assert_int_eq(lsc_wx32_active(), LSC_SIMD_PORTABLE);
    ck_assert_int_eq(lsc_wx32_force((lsc_simd)99), -1);
    ck_assert_int_eq(lsc_wx32_active(), LSC_SIMD_PORTABLE);
    ck_assert_int_eq(lsc_wx32_force(LSC_SIMD_AUTO), 0);
    ck_assert_int_ne(lsc_wx32_active(), LSC_SIMD_AUTO);
    ck_assert(lsc_simd_supported(lsc_wx32_active()));
    ck_assert_str_eq(lsc_simd_name(LSC_SIMD_AVX512), "avx512");
    fprintf(stderr, "check-wx32: this CPU runs %s\n", lsc_simd_name(lsc_wx32_active()));
}
END_TEST

/* The figures of a float W through the range finder: the same bits under every variant (so a sketch
 * cached on one machine is the sketch another would make). */
START_TEST(basefig_same_under_every_variant)
{
    rng_state = 4000;
    int rows = 70, cols = 45, r = 3;
    double *W = gapped(rows, cols, 100, 0.6), *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    float *wf = malloc(sizeof(float) * rows * cols);
    for (int i = 0; i < rows * cols; i++)
        wf[i] = (float)W[i];
    lsc_lowrank lr = {rows, cols, r, B, A, 1.5};
    lsc_basefig_opts o;
    lsc_basefig_opts_default(&o);
    o.k = 4;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err;
    lsc_basefig first, got;
    lsc_basefig_sketch sk0 = {0};
    int have = 0;
    for (int v = 0; v < N_VARIANTS; v++) {
        if (!use(variants[v]))
            continue;
        lsc_basefig_sketch sk = {0};
        ck_assert_int_eq(lsc_basefig_compute_sketched(NULL, wf, &lr, &o, ws, &sk, NULL, &got, &err), LSC_OK);
        if (!have) {
            first = got, sk0 = sk, have = 1;
            continue;
        }
        ck_assert_msg(memcmp(&first, &got, sizeof got) == 0, "%s gives other figures", lsc_simd_name(variants[v]));
        ck_assert(memcmp(sk0.Q, sk.Q, sizeof(double) * (size_t)rows * sk.l) == 0);
        ck_assert(memcmp(sk0.WtQ, sk.WtQ, sizeof(double) * (size_t)cols * sk.l) == 0);
        lsc_basefig_sketch_release(&sk);
    }
    ck_assert(have);
    lsc_basefig_sketch_release(&sk0);
    lsc_workspace_free(ws);
    free(W), free(B), free(A), free(wf);
    lsc_wx32_force(LSC_SIMD_AUTO);
}
END_TEST

static Suite *wx32_suite(void)
{
    Suite *s = suite_create("wx32");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, force_hook);
    tcase_add_loop_test(tc, bitwise_all_l, 0, N_VARIANTS);
    tcase_add_loop_test(tc, bitwise_blocks, 0, N_VARIANTS);
    tcase_add_loop_test(tc, empty_and_signed_zero, 0, N_VARIANTS);
    tcase_add_loop_test(tc, matches_sgemm, 0, N_VARIANTS);
    tcase_add_test(tc, basefig_same_under_every_variant);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wx32_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
