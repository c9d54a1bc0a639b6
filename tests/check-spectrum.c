/* check-spectrum.c: the factored spectrum (and its workspace) against a dense reference.
 *
 * The reference forms s*B*A with plain loops and takes its singular values with LAPACKE_dgesdd; the
 * factored path must agree on many random shapes (r > rows, r > cols, r = 1, r = 0, rows = 1), its
 * vectors must reconstruct the product, and hand-worked layers must give their known spectra.
 * Fixed-seed PRNG (splitmix64 + Box-Muller) written here so the inputs never change.
 */
#include <check.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spectrum.h"
#include "workspace.h"
#include "test_rng.h"

/* ---- test helpers: PRNG and dense reference ---- */

static int rand_int(int lo, int hi) /* inclusive */
{
    return lo + (int)(splitmix64() % (uint64_t)(hi - lo + 1));
}

/* s*B*A densely, row-major [rows, cols] */
static double *dense_delta(const lsc_lowrank *lr)
{
    size_t n = (size_t)lr->rows * (size_t)lr->cols;
    double *d = calloc(n ? n : 1, sizeof(double));
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < lr->rows; i++)
        for (int64_t j = 0; j < lr->cols; j++) {
            double acc = 0.0;
            for (int k = 0; k < lr->r; k++)
                acc += lr->B[i * lr->r + k] * lr->A[(int64_t)k * lr->cols + j];
            d[i * lr->cols + j] = lr->scale * acc;
        }
    return d;
}

/* singular values of the dense product, min(rows, cols) of them, descending */
static double *dense_sv(const lsc_lowrank *lr)
{
    double *d = dense_delta(lr);
    int k = (int)(lr->rows < lr->cols ? lr->rows : lr->cols);
    double *s = calloc(k ? (size_t)k : 1, sizeof(double));
    ck_assert_ptr_nonnull(s);
    if (k > 0) {
        /* the row-major [rows, cols] buffer is the column-major transpose: same singular values */
        lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)lr->cols, (lapack_int)lr->rows, d,
                                         (lapack_int)lr->cols, s, NULL, 1, NULL, 1);
        ck_assert_int_eq(info, 0);
    }
    free(d);
    return s;
}

static double fro_norm(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

/* ---- checks on one layer ---- */

/* Compare the factored spectrum of lr with the dense reference; check vectors when asked. */
static void check_layer(const lsc_lowrank *lr, lsc_workspace *ws, int with_vectors)
{
    const int n = lsc_spectrum_count(lr);
    int64_t expect_n = lr->r;
    if (lr->rows < expect_n)
        expect_n = lr->rows;
    if (lr->cols < expect_n)
        expect_n = lr->cols;
    ck_assert_int_eq(n, (int)expect_n);

    double *sv = calloc((size_t)n + 1, sizeof(double));
    double *U = with_vectors ? calloc((size_t)(lr->rows * n) + 1, sizeof(double)) : NULL;
    double *V = with_vectors ? calloc((size_t)(lr->cols * n) + 1, sizeof(double)) : NULL;
    lsc_error err = {0};
    lsc_status st = lsc_spectrum(lr, ws, sv, U, V, &err);
    ck_assert_msg(st == LSC_OK, "spectrum of [%lld, %lld] r=%d failed: %s", (long long)lr->rows,
                  (long long)lr->cols, lr->r, err.msg);

    double *ref = dense_sv(lr);
    int k = (int)(lr->rows < lr->cols ? lr->rows : lr->cols);
    double s1 = k > 0 ? ref[0] : 0.0;
    for (int i = 0; i < n; i++) {
        ck_assert(sv[i] >= 0.0);
        if (i > 0)
            ck_assert(sv[i] <= sv[i - 1]);
        if (ref[i] > 1e-6 * s1)
            ck_assert_msg(fabs(sv[i] - ref[i]) <= 1e-9 * ref[i],
                          "[%lld, %lld] r=%d: sv[%d] = %.17g, dense %.17g", (long long)lr->rows, (long long)lr->cols,
                          lr->r, i, sv[i], ref[i]);
        else
            ck_assert(fabs(sv[i] - ref[i]) <= 1e-9 * s1);
    }
    /* the dense product has no energy beyond the n factored values */
    for (int i = n; i < k; i++)
        ck_assert(ref[i] <= 1e-12 * s1 + 1e-300);

    if (with_vectors && n > 0) {
        double *d = dense_delta(lr);
        double dn = fro_norm(d, (size_t)(lr->rows * lr->cols));
        double resid = 0.0;
        for (int64_t i = 0; i < lr->rows; i++)
            for (int64_t j = 0; j < lr->cols; j++) {
                double acc = 0.0;
                for (int t = 0; t < n; t++)
                    acc += U[i * n + t] * sv[t] * V[j * n + t];
                resid += (acc - d[i * lr->cols + j]) * (acc - d[i * lr->cols + j]);
            }
        ck_assert_msg(sqrt(resid) <= 1e-12 * (dn > 0 ? dn : 1.0), "reconstruction error %g of norm %g", sqrt(resid),
                      dn);
        /* both factors have orthonormal columns */
        const double *mats[2] = {U, V};
        const int64_t dims[2] = {lr->rows, lr->cols};
        for (int m = 0; m < 2; m++)
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++) {
                    double g = 0.0;
                    for (int64_t i = 0; i < dims[m]; i++)
                        g += mats[m][i * n + a] * mats[m][i * n + b];
                    ck_assert_msg(fabs(g - (a == b)) < 1e-12, "%s not orthonormal: G[%d][%d] = %g", m ? "V" : "U",
                                  a, b, g);
                }
        free(d);

        /* values-only path agrees with the vector path */
        double *sv2 = calloc((size_t)n + 1, sizeof(double));
        ck_assert_int_eq(lsc_spectrum(lr, ws, sv2, NULL, NULL, &err), LSC_OK);
        for (int i = 0; i < n; i++)
            ck_assert(fabs(sv2[i] - sv[i]) <= 1e-12 * sv[0]);
        free(sv2);
    }
    free(ref);
    free(sv);
    free(U);
    free(V);
}

static void random_layer_check(lsc_workspace *ws, int64_t rows, int64_t cols, int r, double scale, int vectors)
{
    double *B = gauss_matrix((size_t)(rows * r));
    double *A = gauss_matrix((size_t)(r * cols));
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = scale};
    check_layer(&lr, ws, vectors);
    free(B);
    free(A);
}

START_TEST(random_shapes_match_dense)
{
    rng_state = 0x5EED0001;
    lsc_workspace *ws = lsc_workspace_new();
    ck_assert_ptr_nonnull(ws);
    /* the edge shapes first, then many random ones; one workspace across all of them */
    static const int fixed[][3] = {{7, 9, 3}, {9, 7, 3}, {3, 20, 5}, {20, 3, 5}, {2, 2, 6}, {1, 10, 4},
                                   {10, 1, 4}, {1, 1, 1}, {1, 1, 5}, {12, 12, 1}, {12, 12, 0}, {5, 8, 8},
                                   {8, 5, 8}, {30, 40, 16}, {1, 30, 1}, {40, 30, 33}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        random_layer_check(ws, fixed[i][0], fixed[i][1], fixed[i][2], 0.75, 1);
        random_layer_check(ws, fixed[i][0], fixed[i][1], fixed[i][2], -2.5, 1);
        random_layer_check(ws, fixed[i][0], fixed[i][1], fixed[i][2], 1.0, 0);
    }
    for (int it = 0; it < 150; it++) {
        int rows = rand_int(1, 40), cols = rand_int(1, 40), r = rand_int(0, 20);
        double scale = (uniform01() < 0.5 ? -1.0 : 1.0) * exp(4.0 * (uniform01() - 0.5));
        random_layer_check(ws, rows, cols, r, scale, it % 3 != 0);
    }
    lsc_workspace_free(ws);
}
END_TEST

/* B columns that are nearly dependent: the core, not a Gram matrix, keeps the small values accurate */
START_TEST(ill_conditioned_factors_keep_small_values)
{
    rng_state = 0x5EED0002;
    lsc_workspace *ws = lsc_workspace_new();
    const int rows = 30, cols = 25, r = 4;
    double *B = gauss_matrix(rows * r), *A = gauss_matrix(r * cols);
    for (int i = 0; i < rows; i++)
        B[i * r + 3] = B[i * r + 2] + 1e-4 * B[i * r + 3]; /* column 3 ~ column 2 */
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 1.0};
    check_layer(&lr, ws, 1);
    free(B);
    free(A);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(rank_one_is_product_of_norms)
{
    lsc_workspace *ws = lsc_workspace_new();
    const double B[3] = {1, 2, 2};   /* ||b|| = 3 */
    const double A[4] = {3, 0, 4, 0}; /* ||a|| = 5 */
    lsc_lowrank lr = {.rows = 3, .cols = 4, .r = 1, .B = B, .A = A, .scale = -0.5};
    double sv[1], U[3], V[4];
    lsc_error err = {0};
    ck_assert_int_eq(lsc_spectrum_count(&lr), 1);
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, U, V, &err), LSC_OK);
    ck_assert_double_eq_tol(sv[0], 7.5, 1e-14);
    /* a negative scale lives in U: U sv V^T = -0.5 b a^T, so U V^T-sign = -b/3 (x) a/5 */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_double_eq_tol(U[i] * V[j], -(B[i] / 3.0) * (A[j] / 5.0), 1e-15);
    /* asking for one side only gives the same vectors on that side */
    double U1[3], V1[4], sv1[1];
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv1, U1, NULL, &err), LSC_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq_tol(U1[i], U[i], 1e-15);
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv1, NULL, V1, &err), LSC_OK);
    for (int j = 0; j < 4; j++)
        ck_assert_double_eq_tol(V1[j], V[j], 1e-15);
    ck_assert_double_eq_tol(sv1[0], 7.5, 1e-14);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(zero_layers_have_zero_spectrum)
{
    lsc_workspace *ws = lsc_workspace_new();
    double B[6] = {0}, A[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    double sv[2] = {-1, -1};
    lsc_lowrank lr = {.rows = 3, .cols = 4, .r = 2, .B = B, .A = A, .scale = 1.0};
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, NULL, NULL, NULL), LSC_OK);
    ck_assert(sv[0] == 0.0 && sv[1] == 0.0);

    double B2[6] = {1, 2, 3, 4, 5, 6};
    lr.B = B2;
    lr.scale = 0.0;
    sv[0] = sv[1] = -1;
    double U[6], V[8];
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, U, V, NULL), LSC_OK);
    ck_assert(sv[0] == 0.0 && sv[1] == 0.0);
    lsc_workspace_free(ws);
}
END_TEST

/* B = H[:, :3] diag(2, 2, 1) with H the orthogonal 4x4 Hadamard/2, A = rows of a rotation: the
 * singular values are |s| (2, 2, 1), repeated one included */
START_TEST(repeated_singular_values)
{
    lsc_workspace *ws = lsc_workspace_new();
    const double h[4][4] = {{.5, .5, .5, .5}, {.5, -.5, .5, -.5}, {.5, .5, -.5, -.5}, {.5, -.5, -.5, .5}};
    const double d[3] = {2, 2, 1};
    double B[4 * 3], A[3 * 5] = {0};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++)
            B[i * 3 + k] = h[i][k] * d[k];
    /* orthonormal rows of A: a Givens rotation in coordinates 0/1, identity on 2, and e4 */
    const double c = cos(0.3), s = sin(0.3);
    A[0 * 5 + 0] = c;
    A[0 * 5 + 1] = s;
    A[1 * 5 + 0] = -s;
    A[1 * 5 + 1] = c;
    A[2 * 5 + 4] = 1.0;
    lsc_lowrank lr = {.rows = 4, .cols = 5, .r = 3, .B = B, .A = A, .scale = -3.0};
    double sv[3], U[12], V[15];
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, U, V, NULL), LSC_OK);
    ck_assert_double_eq_tol(sv[0], 6.0, 1e-13);
    ck_assert_double_eq_tol(sv[1], 6.0, 1e-13);
    ck_assert_double_eq_tol(sv[2], 3.0, 1e-13);
    check_layer(&lr, ws, 1); /* vectors of a repeated pair still reconstruct */
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(diagonal_layer)
{
    lsc_workspace *ws = lsc_workspace_new();
    const double B[9] = {3, 0, 0, 0, 1, 0, 0, 0, 2};
    const double A[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    lsc_lowrank lr = {.rows = 3, .cols = 4, .r = 3, .B = B, .A = A, .scale = 0.5};
    double sv[3], U[9], V[12];
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, U, V, NULL), LSC_OK);
    ck_assert_double_eq_tol(sv[0], 1.5, 1e-15);
    ck_assert_double_eq_tol(sv[1], 1.0, 1e-15);
    ck_assert_double_eq_tol(sv[2], 0.5, 1e-15);
    /* the top left vector is +-e0, the top right vector +-e0 with the same sign */
    ck_assert_double_eq_tol(fabs(U[0 * 3 + 0]), 1.0, 1e-15);
    ck_assert_double_eq_tol(U[0] * V[0], 1.0, 1e-15);
    lsc_workspace_free(ws);
}
END_TEST

/* r > rows with rows = 1: B [1, 3] = (1, 1, 1): the product is the sum of A's rows */
START_TEST(single_row_wide_rank)
{
    lsc_workspace *ws = lsc_workspace_new();
    const double B[3] = {1, 1, 1};
    const double A[6] = {1, 0, 0, 2, 2, 2}; /* sum of rows = (3, 4) */
    lsc_lowrank lr = {.rows = 1, .cols = 2, .r = 3, .B = B, .A = A, .scale = 2.0};
    double sv[1], U[1], V[2];
    ck_assert_int_eq(lsc_spectrum_count(&lr), 1);
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, U, V, NULL), LSC_OK);
    ck_assert_double_eq_tol(sv[0], 10.0, 1e-14);
    ck_assert_double_eq_tol(U[0] * V[0] * sv[0], 6.0, 1e-14);
    ck_assert_double_eq_tol(U[0] * V[1] * sv[0], 8.0, 1e-14);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(rejections)
{
    lsc_workspace *ws = lsc_workspace_new();
    double B[4] = {1, 2, 3, 4}, A[6] = {1, 2, 3, 4, 5, 6}, sv[2];
    lsc_lowrank lr = {.rows = 2, .cols = 3, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_error err = {0};

    B[3] = NAN;
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, NULL, NULL, &err), LSC_ERR_NUMERIC);
    ck_assert_int_eq(err.code, LSC_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(err.msg, "'B'"));
    B[3] = 4;
    A[5] = -INFINITY;
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, NULL, NULL, &err), LSC_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(err.msg, "'A'"));
    A[5] = 6;
    lr.scale = NAN;
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, NULL, NULL, &err), LSC_ERR_NUMERIC);
    lr.scale = 1.0;
    /* nothing to decompose (rows = 0) still refuses a non-finite A */
    lsc_lowrank empty = {.rows = 0, .cols = 3, .r = 2, .B = B, .A = A, .scale = 1.0};
    A[0] = NAN;
    ck_assert_int_eq(lsc_spectrum(&empty, ws, sv, NULL, NULL, &err), LSC_ERR_NUMERIC);
    A[0] = 1;
    ck_assert_int_eq(lsc_spectrum(&empty, ws, sv, NULL, NULL, &err), LSC_OK);
    /* overflow inside the product of finite factors */
    double big[4] = {1e200, 0, 0, 1e200};
    lsc_lowrank huge = {.rows = 2, .cols = 2, .r = 2, .B = big, .A = big, .scale = 1.0};
    ck_assert_int_eq(lsc_spectrum(&huge, ws, sv, NULL, NULL, &err), LSC_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(err.msg, "overflow"));

    lr.rows = -1;
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, NULL, NULL, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "[-1, 3]"));
    lr.rows = 2;
    lr.r = -2;
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, NULL, NULL, &err), LSC_ERR_INVALID);
    lr.r = 2;
    ck_assert_int_eq(lsc_spectrum(&lr, ws, NULL, NULL, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_spectrum(&lr, NULL, sv, NULL, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_spectrum(NULL, ws, sv, NULL, NULL, &err), LSC_ERR_INVALID);
    lr.B = NULL;
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, NULL, NULL, &err), LSC_ERR_INVALID);
    lr.B = B;
    lr.rows = (int64_t)1 << 40;
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, NULL, NULL, &err), LSC_ERR_UNSUPPORTED);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(energy_rank_thresholds)
{
    const double a[2] = {3, 1}; /* energies 9, 1 of 10 */
    ck_assert_int_eq(lsc_energy_rank(a, 2, 0.9), 1);
    ck_assert_int_eq(lsc_energy_rank(a, 2, 0.91), 2);
    ck_assert_int_eq(lsc_energy_rank(a, 2, 1.0), 2);
    ck_assert_int_eq(lsc_energy_rank(a, 2, 0.0), 0);
    ck_assert_int_eq(lsc_energy_rank(a, 2, 2.0), 2);
    const double b[5] = {2, 1, 1, 1, 1}; /* energies 4, 1, 1, 1, 1 of 8 */
    ck_assert_int_eq(lsc_energy_rank(b, 5, 0.5), 1);
    ck_assert_int_eq(lsc_energy_rank(b, 5, 0.51), 2);
    ck_assert_int_eq(lsc_energy_rank(b, 5, 0.75), 3);
    ck_assert_int_eq(lsc_energy_rank(b, 5, 0.76), 4);
    const double z[3] = {0, 0, 0};
    ck_assert_int_eq(lsc_energy_rank(z, 3, 0.9), 0);
    ck_assert_int_eq(lsc_energy_rank(a, 0, 0.9), 0);
    ck_assert_int_eq(lsc_energy_rank(NULL, 2, 0.9), 0);
    const double huge[2] = {3e200, 1e200}; /* squares overflow: still 1 at 0.9 of the energy */
    ck_assert_int_eq(lsc_energy_rank(huge, 2, 0.89), 1);
    ck_assert_int_eq(lsc_energy_rank(huge, 2, 0.95), 2);
}
END_TEST

START_TEST(workspace_reuses_buffers)
{
    lsc_workspace *ws = lsc_workspace_new();
    ck_assert_ptr_nonnull(ws);
    ck_assert_ptr_null(lsc_workspace_get(ws, -1, 4));
    ck_assert_ptr_null(lsc_workspace_get(ws, LSC_WS_SLOTS, 4));
    ck_assert_ptr_null(lsc_workspace_get(NULL, 0, 4));
    ck_assert_ptr_null(lsc_workspace_get(ws, 0, SIZE_MAX / 4));
    double *p0 = lsc_workspace_get(ws, 0, 0);
    ck_assert_ptr_nonnull(p0);
    double *p = lsc_workspace_get(ws, 3, 1000);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    p[999] = 1.0;
    ck_assert_ptr_eq(lsc_workspace_get(ws, 3, 500), p); /* smaller request: same buffer */
    ck_assert_ptr_eq(lsc_workspace_get(ws, 3, 1000), p);

    /* a warmed-up workspace serves the next layer of the same or a smaller shape without growing */
    rng_state = 0x5EED0003;
    double *B = gauss_matrix(64 * 8), *A = gauss_matrix(8 * 48), sv[8], U[64 * 8], V[48 * 8];
    lsc_lowrank lr = {.rows = 64, .cols = 48, .r = 8, .B = B, .A = A, .scale = 1.0};
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, U, V, NULL), LSC_OK);
    double *before[LSC_WS_SLOTS];
    for (int i = 0; i < LSC_WS_SLOTS; i++)
        before[i] = lsc_workspace_get(ws, i, 1);
    lr.rows = 60;
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, U, V, NULL), LSC_OK);
    for (int i = 0; i < LSC_WS_SLOTS; i++)
        ck_assert_ptr_eq(lsc_workspace_get(ws, i, 1), before[i]);
    free(B);
    free(A);
    lsc_workspace_free(ws);
    lsc_workspace_free(NULL);
}
END_TEST

/* ---- the two paths: Gram (Cholesky QR) for well-conditioned factors, Householder for the rest ---- */

/* lsc_spectrum of lr against the dense reference (check_layer), then the path it took */
static lsc_spectrum_path checked_path(const lsc_lowrank *lr, lsc_workspace *ws)
{
    check_layer(lr, ws, 1); /* its last call is the values-only one; the vector call takes the same path */
    return lsc_spectrum_last_path();
}

START_TEST(gram_path_matches_dense_and_householder)
{
    rng_state = 0x5EED0003;
    lsc_workspace *ws = lsc_workspace_new();
    static const int shapes[][3] = {{300, 200, 16}, {200, 300, 16}, {400, 300, 24}, {64, 64, 8}, {500, 40, 1}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int rows = shapes[c][0], cols = shapes[c][1], r = shapes[c][2];
        double *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
        for (int i = 0; i < rows; i++) /* columns of very different norms: equilibration keeps the path */
            for (int j = 0; j < r; j++)
                B[i * r + j] *= pow(10.0, (double)(j % 4) - 1.5);
        lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = c % 2 ? -0.75 : 2.0};
        ck_assert_msg(checked_path(&lr, ws) == LSC_SPECTRUM_PATH_GRAM, "shape %zu took the Householder path", c);

        /* the Householder path on the same layer: same values to 1e-12, same product from the vectors */
        const int n = r;
        double *sv = malloc(sizeof(double) * n), *sv2 = malloc(sizeof(double) * n);
        double *U = malloc(sizeof(double) * rows * n), *V = malloc(sizeof(double) * cols * n);
        double *U2 = malloc(sizeof(double) * rows * n), *V2 = malloc(sizeof(double) * cols * n);
        ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, U, V, NULL), LSC_OK);
        double old = lsc_spectrum_set_gram_rcond(2.0);
        ck_assert_int_eq(lsc_spectrum(&lr, ws, sv2, U2, V2, NULL), LSC_OK);
        ck_assert_int_eq(lsc_spectrum_last_path(), LSC_SPECTRUM_PATH_HOUSEHOLDER);
        lsc_spectrum_set_gram_rcond(old);
        for (int i = 0; i < n; i++) {
            ck_assert_msg(fabs(sv[i] - sv2[i]) <= 1e-12 * sv2[i], "shape %zu sv %d: %.17g vs %.17g", c, i, sv[i],
                          sv2[i]);
            /* a vector is defined up to sign: compare u_i v_i^T entries (simple values here) */
            double d = 0.0;
            for (int a = 0; a < rows; a += 7)
                for (int b = 0; b < cols; b += 5)
                    d = fmax(d, fabs(U[a * n + i] * V[b * n + i] - U2[a * n + i] * V2[b * n + i]));
            ck_assert_msg(d <= 1e-9, "shape %zu vector %d differs by %g", c, i, d);
        }
        free(sv), free(sv2), free(U), free(V), free(U2), free(V2), free(B), free(A);
    }
    lsc_workspace_free(ws);
}
END_TEST

/* Everything the Gram path cannot do accurately falls back, with the results the dense reference gives:
 * nearly dependent or exactly duplicated columns, a zero factor, rank above a side, squares that overflow
 * or underflow although the product is fine. */
START_TEST(ill_posed_factors_take_householder)
{
    rng_state = 0x5EED0004;
    lsc_workspace *ws = lsc_workspace_new();
    const int rows = 60, cols = 50, r = 6;
    for (int c = 0; c < 7; c++) {
        double *B = gauss_matrix(rows * r), *A = gauss_matrix(r * cols);
        lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 1.25};
        switch (c) {
        case 0: /* B's column 5 ~ column 4: kappa ~ 1e3 */
            for (int i = 0; i < rows; i++)
                B[i * r + 5] = B[i * r + 4] + 1e-3 * B[i * r + 5];
            break;
        case 1: /* A's row 2 = row 1 exactly: rank deficient */
            memcpy(A + 2 * cols, A + cols, sizeof(double) * cols);
            break;
        case 2: /* a zero column of B */
            for (int i = 0; i < rows; i++)
                B[i * r + 3] = 0.0;
            break;
        case 3: /* more rank than columns: the Gram path needs both sides at least r long */
            lr.cols = 4;
            break;
        case 4: /* B's squares overflow, A's are tiny: B A is an ordinary matrix */
            for (int i = 0; i < rows * r; i++)
                B[i] *= 1e170;
            for (int i = 0; i < r * cols; i++)
                A[i] *= 1e-170;
            break;
        case 5: /* squares underflow to zero */
            for (int i = 0; i < rows * r; i++)
                B[i] *= 1e-170;
            for (int i = 0; i < r * cols; i++)
                A[i] *= 1e170;
            break;
        case 6: /* a zero layer */
            memset(A, 0, sizeof(double) * r * cols);
            break;
        }
        ck_assert_msg(checked_path(&lr, ws) == LSC_SPECTRUM_PATH_HOUSEHOLDER, "case %d took the Gram path", c);
        free(B);
        free(A);
    }
    lsc_workspace_free(ws);
}
END_TEST

/* The stacked form: sum_k c_k B_k A_k from the pieces equals the concatenation's spectrum and vectors;
 * a term stacked with itself (rank deficient) declines. */
START_TEST(gram_stacked_terms)
{
    rng_state = 0x5EED0005;
    lsc_workspace *ws = lsc_workspace_new();
    const int rows = 90, cols = 70, r1 = 5, r2 = 7, R = r1 + r2;
    double *B1 = gauss_matrix(rows * r1), *A1 = gauss_matrix(r1 * cols);
    double *B2 = gauss_matrix(rows * r2), *A2 = gauss_matrix(r2 * cols);
    const lsc_lowrank t[2] = {{rows, cols, r1, B1, A1, 9.0}, {rows, cols, r2, B2, A2, 9.0}};
    const double coef[2] = {0.7, -1.9};
    /* the concatenation, built by hand */
    double *cb = malloc(sizeof(double) * rows * R), *ca = malloc(sizeof(double) * R * cols);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < r1; j++)
            cb[i * R + j] = coef[0] * B1[i * r1 + j];
        for (int j = 0; j < r2; j++)
            cb[i * R + r1 + j] = coef[1] * B2[i * r2 + j];
    }
    memcpy(ca, A1, sizeof(double) * r1 * cols);
    memcpy(ca + r1 * cols, A2, sizeof(double) * r2 * cols);
    lsc_lowrank cat = {rows, cols, R, cb, ca, 1.0};
    double *ref = dense_sv(&cat);
    double sv[12], *U = malloc(sizeof(double) * rows * 4), *V = malloc(sizeof(double) * cols * 4);
    int done = -1;
    ck_assert_int_eq(lsc_spectrum_gram_top(t, coef, 2, 1.0, 0, ws, 4, sv, U, V, &done, NULL), LSC_OK);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(lsc_spectrum_last_path(), LSC_SPECTRUM_PATH_GRAM);
    for (int i = 0; i < R; i++)
        ck_assert_msg(fabs(sv[i] - ref[i]) <= 1e-9 * ref[i], "sv %d: %.17g vs %.17g", i, sv[i], ref[i]);
    /* the top 4 vectors: orthonormal, and U^T (B A) V = diag(sv) */
    double *d = dense_delta(&cat);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            double gu = 0.0, gv = 0.0, m = 0.0;
            for (int i = 0; i < rows; i++)
                gu += U[i * 4 + a] * U[i * 4 + b];
            for (int j = 0; j < cols; j++)
                gv += V[j * 4 + a] * V[j * 4 + b];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    m += U[i * 4 + a] * d[i * cols + j] * V[j * 4 + b];
            ck_assert_double_eq_tol(gu, a == b, 1e-12);
            ck_assert_double_eq_tol(gv, a == b, 1e-12);
            ck_assert_double_eq_tol(m, a == b ? sv[a] : 0.0, 1e-10 * sv[0]);
        }
    /* the same term twice: [B1, B1] has dependent columns */
    const lsc_lowrank twice[2] = {t[0], t[0]};
    ck_assert_int_eq(lsc_spectrum_gram_top(twice, coef, 2, 1.0, 0, ws, 4, sv, U, V, &done, NULL), LSC_OK);
    ck_assert_int_eq(done, 0);
    /* bad arguments */
    lsc_error err = {0};
    ck_assert_int_eq(lsc_spectrum_gram_top(t, coef, 2, 1.0, 0, ws, R + 1, sv, U, V, &done, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_spectrum_gram_top(t, coef, 0, 1.0, 0, ws, 1, sv, U, V, &done, &err), LSC_ERR_INVALID);
    free(d), free(ref), free(U), free(V), free(cb), free(ca), free(B1), free(A1), free(B2), free(A2);
    lsc_workspace_free(ws);
}
END_TEST

/* lsc_spectrum_gram_core: its small pieces give lsc_spectrum's vectors (U = sign(s) B rb^{-1} uc,
 * V = A^T ra^{-1} vc, formed here by hand) and values, with rb, ra upper triangular; it declines (done 0)
 * where lsc_spectrum takes the Householder path: a duplicated column, r above a side. */
START_TEST(gram_core_gives_the_vectors)
{
    rng_state = 0x5EED0018;
    lsc_workspace *ws = lsc_workspace_new();
    const int rows = 90, cols = 70, r = 6;
    double *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = -1.5};
    double sv[6], sv2[6], rb[36], ra[36], uc[36], vc[36], U[90 * 6], V[70 * 6], X[36];
    int done = 0;
    ck_assert_int_eq(lsc_spectrum_gram_core(&lr, ws, sv, rb, ra, uc, vc, &done, NULL), LSC_OK);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(lsc_spectrum_last_path(), LSC_SPECTRUM_PATH_GRAM);
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv2, U, V, NULL), LSC_OK);
    for (int i = 0; i < r; i++)
        ck_assert_msg(fabs(sv[i] - sv2[i]) <= 1e-14 * sv2[0], "sv %d: %.17g vs %.17g", i, sv[i], sv2[i]);
    for (int side = 0; side < 2; side++) {
        const double *R = side ? ra : rb, *Q = side ? vc : uc, *full = side ? V : U;
        const int dim = side ? cols : rows;
        for (int j = 0; j < r; j++)
            for (int i = j + 1; i < r; i++)
                ck_assert(R[i + j * r] == 0.0);
        memcpy(X, Q, sizeof X); /* X = R^{-1} Q by back substitution, column by column */
        for (int c = 0; c < r; c++)
            for (int i = r - 1; i >= 0; i--) {
                double acc = X[i + c * r];
                for (int k = i + 1; k < r; k++)
                    acc -= R[i + k * r] * X[k + c * r];
                X[i + c * r] = acc / R[i + i * r];
            }
        for (int a = 0; a < dim; a++)
            for (int c = 0; c < r; c++) {
                double acc = 0.0;
                for (int k = 0; k < r; k++)
                    acc += (side ? A[k * cols + a] : B[a * r + k]) * X[k + c * r];
                if (!side)
                    acc = -acc; /* sign(s) */
                ck_assert_msg(fabs(acc - full[a * r + c]) <= 1e-12, "side %d [%d, %d]: %.17g vs %.17g", side, a, c,
                              acc, full[a * r + c]);
            }
    }
    for (int i = 0; i < rows; i++) /* a duplicated column: rank deficient */
        B[i * r + 2] = B[i * r + 1];
    ck_assert_int_eq(lsc_spectrum_gram_core(&lr, ws, sv, rb, ra, uc, vc, &done, NULL), LSC_OK);
    ck_assert_int_eq(done, 0);
    lsc_lowrank wide = {.rows = rows, .cols = 4, .r = r, .B = B, .A = A, .scale = 1.0}; /* r above cols */
    ck_assert_int_eq(lsc_spectrum_gram_core(&wide, ws, sv, rb, ra, uc, vc, &done, NULL), LSC_OK);
    ck_assert_int_eq(done, 0);
    free(B), free(A);
    lsc_workspace_free(ws);
}
END_TEST

static Suite *spectrum_suite(void)
{
    Suite *s = suite_create("spectrum");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, random_shapes_match_dense);
    tcase_add_test(tc, ill_conditioned_factors_keep_small_values);
    tcase_add_test(tc, rank_one_is_product_of_norms);
    tcase_add_test(tc, zero_layers_have_zero_spectrum);
    tcase_add_test(tc, repeated_singular_values);
    tcase_add_test(tc, diagonal_layer);
    tcase_add_test(tc, single_row_wide_rank);
    tcase_add_test(tc, rejections);
    tcase_add_test(tc, energy_rank_thresholds);
    tcase_add_test(tc, workspace_reuses_buffers);
    tcase_add_test(tc, gram_path_matches_dense_and_householder);
    tcase_add_test(tc, ill_posed_factors_take_householder);
    tcase_add_test(tc, gram_stacked_terms);
    tcase_add_test(tc, gram_core_gives_the_vectors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(spectrum_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
