/* check-compare.c: layer comparison from factors against a dense reference and hand-worked cases.
 *
 * The reference forms s*B*A with plain loops, takes inner products and norms entry by entry, and the
 * subspace figures from a dense SVD (LAPACKE_dgesdd). Fixed-seed PRNG (splitmix64 + Box-Muller).
 */
#include <check.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "spectrum.h"
#include "test_rng.h"

static int rand_int(int lo, int hi)
{
    return lo + (int)(splitmix64() % (uint64_t)(hi - lo + 1));
}

static double *dense(const lsc_lowrank *lr)
{
    double *d = calloc((size_t)(lr->rows * lr->cols) + 1, sizeof(double));
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < lr->rows; i++)
        for (int64_t j = 0; j < lr->cols; j++) {
            double acc = 0.0;
            for (int k = 0; k < lr->r; k++)
                acc += lr->B[i * lr->r + k] * lr->A[k * lr->cols + j];
            d[i * lr->cols + j] = lr->scale * acc;
        }
    return d;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* dense SVD with vectors of a row-major [rows, cols] matrix (copied): U [rows, k], VT [k, cols] */
typedef struct dense_svd {
    int k, carrying;
    double *s, *U, *VT;
} dense_svd;

static void dense_svd_of(const double *d, int rows, int cols, dense_svd *out)
{
    int k = rows < cols ? rows : cols;
    double *copy = malloc(sizeof(double) * rows * cols);
    memcpy(copy, d, sizeof(double) * rows * cols);
    out->k = k;
    out->s = calloc((size_t)k + 1, sizeof(double));
    out->U = calloc((size_t)rows * k + 1, sizeof(double));
    out->VT = calloc((size_t)k * cols + 1, sizeof(double));
    ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', rows, cols, copy, cols, out->s, out->U, k, out->VT, cols),
                     0);
    out->carrying = 0;
    while (out->carrying < k && out->s[0] > 0 && out->s[out->carrying] > 1e-10 * out->s[0])
        out->carrying++;
    free(copy);
}

static void dense_svd_free(dense_svd *d)
{
    free(d->s);
    free(d->U);
    free(d->VT);
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* the reference result of compare, entirely from the dense products */
static void reference(const lsc_lowrank *x, const lsc_lowrank *y, lsc_compare_result *ref)
{
    const int rows = (int)x->rows, cols = (int)x->cols;
    const size_t n = (size_t)rows * cols;
    double *d1 = dense(x), *d2 = dense(y);
    memset(ref, 0, sizeof *ref);
    ref->inner = dot(d1, d2, n);
    ref->norm1 = sqrt(dot(d1, d1, n));
    ref->norm2 = sqrt(dot(d2, d2, n));
    double diff = 0.0;
    for (size_t i = 0; i < n; i++)
        diff += (d1[i] - d2[i]) * (d1[i] - d2[i]);
    ref->diff_norm = sqrt(diff);
    ref->cosine = ref->norm1 > 0 && ref->norm2 > 0 ? ref->inner / (ref->norm1 * ref->norm2)
                                                   : (ref->norm1 == ref->norm2 ? 1.0 : 0.0);
    ref->rel_diff = ref->norm1 > 0 ? ref->diff_norm / ref->norm1 : (ref->norm2 > 0 ? ref->diff_norm / ref->norm2 : 0.0);

    dense_svd s1, s2;
    dense_svd_of(d1, rows, cols, &s1);
    dense_svd_of(d2, rows, cols, &s2);
    const int k1 = s1.carrying, k2 = s2.carrying, kmin = k1 < k2 ? k1 : k2;
    if (kmin > 0) {
        double *m = malloc(sizeof(double) * k1 * k2);
        double phi_in = 0.0, phi_out = 0.0;
        for (int a = 0; a < k1; a++)
            for (int b = 0; b < k2; b++) {
                double vin = 0.0, vout = 0.0;
                for (int j = 0; j < cols; j++)
                    vin += s1.VT[a * cols + j] * s2.VT[b * cols + j];
                for (int i = 0; i < rows; i++)
                    vout += s1.U[i * s1.k + a] * s2.U[i * s2.k + b];
                m[a * k2 + b] = vin;
                phi_in += vin * vin;
                phi_out += vout * vout;
            }
        ref->subspace_in = phi_in / kmin;
        ref->subspace_out = phi_out / kmin;
        double *c = malloc(sizeof(double) * kmin);
        /* row-major [k1, k2] is column-major [k2, k1]: same singular values */
        ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', k2, k1, m, k2, c, NULL, 1, NULL, 1), 0);
        qsort(c, (size_t)kmin, sizeof(double), cmp_desc);
        ref->n_angles = kmin < LSC_COMPARE_MAX_ANGLES ? kmin : LSC_COMPARE_MAX_ANGLES;
        for (int i = 0; i < ref->n_angles; i++)
            ref->angles_in[i] = acos(c[i] > 1.0 ? 1.0 : c[i]);
        free(c);
        free(m);
    }
    dense_svd_free(&s1);
    dense_svd_free(&s2);
    free(d1);
    free(d2);
}

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

static void compare_ok(const lsc_lowrank *x, const lsc_lowrank *y, lsc_compare_result *res)
{
    lsc_error err = {0};
    lsc_status st = lsc_compare(x, y, ws, res, &err);
    ck_assert_msg(st == LSC_OK, "compare failed: %s", err.msg);
}

START_TEST(self_comparison_is_exact)
{
    rng_state = 0x5EED2001;
    const int rows = 20, cols = 30, r = 5;
    double *B = gauss_matrix(rows * r), *A = gauss_matrix(r * cols);
    lsc_lowrank x = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 1.3};
    lsc_compare_result res;
    compare_ok(&x, &x, &res);
    ck_assert(fabs(res.cosine - 1.0) < 1e-12);
    ck_assert_msg(res.rel_diff < 1e-12, "rel_diff of a layer with itself: %g", res.rel_diff);
    ck_assert(fabs(res.norm1 - res.norm2) <= 1e-15 * res.norm1);
    ck_assert(fabs(res.inner - res.norm1 * res.norm1) < 1e-12 * res.inner);
    ck_assert(fabs(res.subspace_in - 1.0) < 1e-12);
    ck_assert(fabs(res.subspace_out - 1.0) < 1e-12);
    ck_assert_int_eq(res.n_angles, r);
    for (int i = 0; i < res.n_angles; i++)
        ck_assert_msg(res.angles_in[i] < 1e-10, "angle %d of a layer with itself: %g", i, res.angles_in[i]);

    /* same product from other factors (B M, M^-1 A with M diagonal): still the same layer */
    double *B2 = malloc(sizeof(double) * rows * r), *A2 = malloc(sizeof(double) * r * cols);
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < r; k++)
            B2[i * r + k] = B[i * r + k] * 4.0;
    for (int k = 0; k < r; k++)
        for (int j = 0; j < cols; j++)
            A2[k * cols + j] = A[k * cols + j] * 0.25;
    lsc_lowrank y = {.rows = rows, .cols = cols, .r = r, .B = B2, .A = A2, .scale = 1.3};
    compare_ok(&x, &y, &res);
    ck_assert(res.rel_diff < 1e-12);
    ck_assert(fabs(res.cosine - 1.0) < 1e-12);
    free(B2);
    free(A2);
    free(B);
    free(A);
}
END_TEST

START_TEST(negated_layer)
{
    rng_state = 0x5EED2002;
    const int rows = 12, cols = 9, r = 3;
    double *B = gauss_matrix(rows * r), *A = gauss_matrix(r * cols), *Bn = malloc(sizeof(double) * rows * r);
    for (int i = 0; i < rows * r; i++)
        Bn[i] = -B[i];
    lsc_lowrank x = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 0.5};
    lsc_lowrank y = {.rows = rows, .cols = cols, .r = r, .B = Bn, .A = A, .scale = 0.5};
    lsc_compare_result res;
    compare_ok(&x, &y, &res);
    ck_assert(fabs(res.cosine + 1.0) < 1e-12);
    ck_assert(fabs(res.rel_diff - 2.0) < 1e-12);
    ck_assert(fabs(res.subspace_in - 1.0) < 1e-12); /* same subspaces, opposite sign */
    ck_assert(fabs(res.subspace_out - 1.0) < 1e-12);
    free(B);
    free(Bn);
    free(A);
}
END_TEST

START_TEST(orthogonal_layers)
{
    double B1[4] = {1, 0, 0, 0}, A1[5] = {1, 0, 0, 0, 0};
    double B2[4] = {0, 1, 0, 0}, A2[5] = {0, 1, 0, 0, 0};
    lsc_lowrank x = {.rows = 4, .cols = 5, .r = 1, .B = B1, .A = A1, .scale = 2.0};
    lsc_lowrank y = {.rows = 4, .cols = 5, .r = 1, .B = B2, .A = A2, .scale = 3.0};
    lsc_compare_result res;
    compare_ok(&x, &y, &res);
    ck_assert(res.inner == 0.0 && res.cosine == 0.0);
    ck_assert_double_eq_tol(res.norm1, 2.0, 1e-15);
    ck_assert_double_eq_tol(res.norm2, 3.0, 1e-15);
    ck_assert_double_eq_tol(res.diff_norm, sqrt(13.0), 1e-14);
    ck_assert_double_eq_tol(res.rel_diff, sqrt(13.0) / 2.0, 1e-14);
    ck_assert(res.subspace_in < 1e-30 && res.subspace_out < 1e-30);
    ck_assert_int_eq(res.n_angles, 1);
    ck_assert_double_eq_tol(res.angles_in[0], M_PI / 2, 1e-15);

    /* same output direction, orthogonal inputs: still orthogonal as matrices, phi_out = 1 */
    y.B = B1;
    compare_ok(&x, &y, &res);
    ck_assert(res.cosine == 0.0);
    ck_assert(res.subspace_in < 1e-30);
    ck_assert_double_eq_tol(res.subspace_out, 1.0, 1e-15);
}
END_TEST

static void expect_near(const char *what, double got, double want, double tol_rel, double tol_abs)
{
    ck_assert_msg(fabs(got - want) <= tol_rel * fabs(want) + tol_abs, "%s: got %.17g, dense %.17g", what, got, want);
}

/* every figure of res against the dense reference, to the tolerances of random_layers_match_dense */
static void expect_dense(const lsc_compare_result *res, const lsc_compare_result *ref)
{
    const double scale = ref->norm1 * ref->norm2;
    expect_near("inner", res->inner, ref->inner, 1e-10, 1e-12 * scale);
    expect_near("norm1", res->norm1, ref->norm1, 1e-12, 0);
    expect_near("norm2", res->norm2, ref->norm2, 1e-12, 0);
    expect_near("cosine", res->cosine, ref->cosine, 1e-10, 1e-12);
    expect_near("diff_norm", res->diff_norm, ref->diff_norm, 1e-11, 0);
    expect_near("rel_diff", res->rel_diff, ref->rel_diff, 1e-11, 0);
    expect_near("subspace_in", res->subspace_in, ref->subspace_in, 1e-9, 1e-12);
    expect_near("subspace_out", res->subspace_out, ref->subspace_out, 1e-9, 1e-12);
    ck_assert_int_eq(res->n_angles, ref->n_angles);
    for (int i = 0; i < res->n_angles; i++) {
        expect_near("angle", res->angles_in[i], ref->angles_in[i], 0, 1e-7);
        if (i > 0)
            ck_assert(res->angles_in[i] >= res->angles_in[i - 1]);
    }
}

/* A random pair of layers of one shape, rows and cols in 1..25, ranks in 0..8, Gaussian factors (drawn in
 * this order from rng_state); on an even iteration `it` y's A shares part of x's input subspace, so phi is
 * far from its random value. Scales sx, sy. Free with pair_free. */
typedef struct pair {
    lsc_lowrank x, y;
} pair;

static pair random_pair(int it, double sx, double sy)
{
    int rows = rand_int(1, 25), cols = rand_int(1, 25), r1 = rand_int(0, 8), r2 = rand_int(0, 8);
    double *B1 = gauss_matrix((size_t)rows * r1), *A1 = gauss_matrix((size_t)r1 * cols);
    double *B2 = gauss_matrix((size_t)rows * r2), *A2 = gauss_matrix((size_t)r2 * cols);
    if (it % 2 == 0 && r1 > 0)
        for (int k = 0; k < r2; k++)
            for (int j = 0; j < cols; j++)
                A2[k * cols + j] = A1[(k % r1) * cols + j] + 0.3 * A2[k * cols + j];
    pair p = {{.rows = rows, .cols = cols, .r = r1, .B = B1, .A = A1, .scale = sx},
              {.rows = rows, .cols = cols, .r = r2, .B = B2, .A = A2, .scale = sy}};
    return p;
}

static void pair_free(pair *p)
{
    free((void *)p->x.B), free((void *)p->x.A), free((void *)p->y.B), free((void *)p->y.A);
}

START_TEST(random_layers_match_dense)
{
    rng_state = 0x5EED2003;
    for (int it = 0; it < 60; it++) {
        pair p = random_pair(it, 0.7, it % 3 ? -1.1 : 2.0); /* half the time y shares x's input subspace */
        lsc_lowrank x = p.x, y = p.y;
        lsc_compare_result res, ref;
        compare_ok(&x, &y, &res);
        reference(&x, &y, &ref);
        expect_dense(&res, &ref);
        pair_free(&p);
    }
}
END_TEST

/* lsc_compare_subspace from each layer's own SVD (what `series` uses, one SVD per checkpoint) is
 * lsc_compare's subspace_in on V and subspace_out on U, and the dense reference's. */
START_TEST(subspace_from_svds_matches_compare)
{
    rng_state = 0x5EED2016;
    for (int it = 0; it < 40; it++) {
        pair p = random_pair(it, 1.0, 1.0);
        lsc_lowrank x = p.x, y = p.y;
        int64_t rows = x.rows, cols = x.cols;
        lsc_compare_result res, ref;
        compare_ok(&x, &y, &res);
        reference(&x, &y, &ref);
        int n1 = lsc_spectrum_count(&x), n2 = lsc_spectrum_count(&y);
        double *s1 = calloc((size_t)n1 + 1, sizeof(double)), *s2 = calloc((size_t)n2 + 1, sizeof(double));
        double *u1 = calloc((size_t)rows * n1 + 1, sizeof(double)), *v1 = calloc((size_t)cols * n1 + 1, sizeof(double));
        double *u2 = calloc((size_t)rows * n2 + 1, sizeof(double)), *v2 = calloc((size_t)cols * n2 + 1, sizeof(double));
        double *scratch = calloc((size_t)(n1 + 1) * (n2 + 1), sizeof(double));
        lsc_error err = {0};
        if (n1 > 0)
            ck_assert_int_eq(lsc_spectrum(&x, ws, s1, u1, v1, &err), LSC_OK);
        if (n2 > 0)
            ck_assert_int_eq(lsc_spectrum(&y, ws, s2, u2, v2, &err), LSC_OK);
        double in = lsc_compare_subspace(s1, v1, n1, s2, v2, n2, cols, scratch);
        double out = lsc_compare_subspace(s1, u1, n1, s2, u2, n2, rows, scratch);
        /* the same figure; bit-equal only when compare formed the vectors too (its factored path takes the
         * products from r x r pieces instead) */
        const double tol = lsc_compare_last_path() == LSC_COMPARE_PATH_TALL ? 0.0 : 1e-12;
        expect_near("subspace_in vs compare", in, res.subspace_in, tol, 0);
        expect_near("subspace_out vs compare", out, res.subspace_out, tol, 0);
        expect_near("subspace_in", in, ref.subspace_in, 1e-9, 1e-12);
        free(s1), free(s2), free(u1), free(v1), free(u2), free(v2), free(scratch);
        pair_free(&p);
    }
}
END_TEST

/* y = x with B perturbed by 1e-9: sqrt(n1^2 + n2^2 - 2 inner) could not resolve that difference (its
 * error is ~1e-8 of the norm); the factored difference must, to a relative 1e-6 */
START_TEST(close_layers_keep_their_difference)
{
    rng_state = 0x5EED2004;
    const int rows = 40, cols = 30, r = 6;
    double *B = gauss_matrix(rows * r), *A = gauss_matrix(r * cols), *B2 = malloc(sizeof(double) * rows * r);
    double *E = malloc(sizeof(double) * rows * r);
    for (int i = 0; i < rows * r; i++) {
        B2[i] = B[i] + 1e-9 * gauss();
        E[i] = B2[i] - B[i]; /* exact: the two are within a factor of two */
    }
    const double s = 0.8;
    lsc_lowrank x = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = s};
    lsc_lowrank y = {.rows = rows, .cols = cols, .r = r, .B = B2, .A = A, .scale = s};
    lsc_lowrank e = {.rows = rows, .cols = cols, .r = r, .B = E, .A = A, .scale = s};
    double *de = dense(&e);
    double want = sqrt(dot(de, de, (size_t)rows * cols));
    lsc_compare_result res;
    compare_ok(&x, &y, &res);
    ck_assert_msg(fabs(res.diff_norm - want) <= 1e-6 * want, "difference %.17g, exact %.17g", res.diff_norm, want);
    ck_assert(fabs(res.rel_diff - want / res.norm1) <= 1e-6 * want / res.norm1);
    free(de);
    free(B);
    free(B2);
    free(E);
    free(A);
}
END_TEST

/* ---- the factored path (r x r products, no tall vectors) and its fallbacks ---- */

/* Taller random layers (rows, cols 30..120, ranks 1..8, scales up to 1e5 apart and of either sign): the
 * Gram path takes the factors and random subspaces are far apart, so compare stays on the factored path;
 * every figure agrees with the dense reference to the tolerances of random_layers_match_dense. */
START_TEST(factored_path_matches_dense)
{
    rng_state = 0x5EED2018;
    int factored = 0;
    for (int it = 0; it < 30; it++) {
        int rows = rand_int(30, 120), cols = rand_int(30, 120), r1 = rand_int(1, 8), r2 = rand_int(1, 8);
        double *B1 = gauss_matrix((size_t)rows * r1), *A1 = gauss_matrix((size_t)r1 * cols);
        double *B2 = gauss_matrix((size_t)rows * r2), *A2 = gauss_matrix((size_t)r2 * cols);
        const double sx = it % 3 == 0 ? 3e2 : 0.5, sy = it % 3 == 0 ? -2e-3 : (it % 2 ? 1.5 : -0.25);
        lsc_lowrank x = {.rows = rows, .cols = cols, .r = r1, .B = B1, .A = A1, .scale = sx};
        lsc_lowrank y = {.rows = rows, .cols = cols, .r = r2, .B = B2, .A = A2, .scale = sy};
        lsc_compare_result res, ref;
        compare_ok(&x, &y, &res);
        factored += lsc_compare_last_path() == LSC_COMPARE_PATH_FACTORED;
        reference(&x, &y, &ref);
        expect_dense(&res, &ref);
        free(B1), free(A1), free(B2), free(A2);
    }
    ck_assert_int_ge(factored, 28);
}
END_TEST

/* orthonormal columns: q [n, k] row-major from the QR of a Gaussian matrix */
static double *orthonormal(int n, int k)
{
    double *q = gauss_matrix((size_t)n * k), *tau = malloc(sizeof(double) * k);
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, n, k, q, k, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, n, k, k, q, k, tau), 0);
    free(tau);
    return q;
}

/* Layers built from their SVDs with every principal angle equal to theta on both sides (U2 = cos U1 +
 * sin W, the same for V): compare takes the factored path exactly when cos(theta) <= 0.99, and either
 * way the angles are theta (to 1e-6 relative for the tiny ones, which only the tall path's sines resolve),
 * phi is cos^2(theta), and the rest agrees with the dense reference. */
START_TEST(angle_threshold_picks_the_path)
{
    rng_state = 0x5EED2019;
    const int rows = 50, cols = 40, r = 4;
    const double thetas[] = {1e-9, 1e-5, 0.1, 0.1410, 0.1420, 0.7, M_PI / 2 - 1e-3}; /* acos(0.99) = 0.14154 */
    const double s1[] = {4, 3, 2, 1}, s2[] = {2.5, 2, 1.5, 1};
    double *qo = orthonormal(rows, 2 * r), *qi = orthonormal(cols, 2 * r);
    double *B1 = malloc(sizeof(double) * rows * r), *B2 = malloc(sizeof(double) * rows * r);
    double *A1 = malloc(sizeof(double) * r * cols), *A2 = malloc(sizeof(double) * r * cols);
    for (size_t t = 0; t < sizeof thetas / sizeof thetas[0]; t++) {
        const double c = cos(thetas[t]), sn = sin(thetas[t]);
        for (int i = 0; i < rows; i++)
            for (int k = 0; k < r; k++) {
                B1[i * r + k] = qo[i * 2 * r + k] * s1[k];
                B2[i * r + k] = (c * qo[i * 2 * r + k] + sn * qo[i * 2 * r + r + k]) * s2[k];
            }
        for (int k = 0; k < r; k++)
            for (int j = 0; j < cols; j++) {
                A1[k * cols + j] = qi[j * 2 * r + k];
                A2[k * cols + j] = c * qi[j * 2 * r + k] + sn * qi[j * 2 * r + r + k];
            }
        lsc_lowrank x = {.rows = rows, .cols = cols, .r = r, .B = B1, .A = A1, .scale = 0.5};
        lsc_lowrank y = {.rows = rows, .cols = cols, .r = r, .B = B2, .A = A2, .scale = 0.5};
        lsc_compare_result res, ref;
        compare_ok(&x, &y, &res);
        const lsc_compare_path want = c <= 0.99 ? LSC_COMPARE_PATH_FACTORED : LSC_COMPARE_PATH_TALL;
        ck_assert_msg(lsc_compare_last_path() == want, "theta %g: path %d, want %d", thetas[t],
                      (int)lsc_compare_last_path(), (int)want);
        reference(&x, &y, &ref);
        expect_near("diff_norm", res.diff_norm, ref.diff_norm, 1e-11, 0);
        expect_near("cosine", res.cosine, ref.cosine, 1e-10, 1e-12);
        expect_near("subspace_in", res.subspace_in, c * c, 1e-12, 1e-15);
        expect_near("subspace_out", res.subspace_out, c * c, 1e-12, 1e-15);
        ck_assert_int_eq(res.n_angles, r);
        for (int i = 0; i < r; i++)
            expect_near("angle", res.angles_in[i], thetas[t], 1e-6, 1e-12);
    }
    free(qo), free(qi), free(B1), free(B2), free(A1), free(A2);
}
END_TEST

/* Layers the Gram path refuses take the tall path, and agree with the dense reference: a duplicated
 * column of B (rank deficient), nearly dependent rows of A (ill-conditioned), a rank above cols; and a
 * layer against itself or its negation (every angle 0). */
START_TEST(refused_layers_take_the_tall_path)
{
    rng_state = 0x5EED2020;
    const int rows = 60, r = 6;
    for (int kind = 0; kind < 5; kind++) {
        const int cols = kind == 2 ? 5 : 45;
        double *B1 = gauss_matrix((size_t)rows * r), *A1 = gauss_matrix((size_t)r * cols);
        double *B2 = gauss_matrix((size_t)rows * r), *A2 = gauss_matrix((size_t)r * cols);
        if (kind == 0)
            for (int i = 0; i < rows; i++)
                B2[i * r + 1] = B2[i * r];
        if (kind == 1)
            for (int j = 0; j < cols; j++)
                A1[cols + j] = A1[j] + 1e-6 * A1[cols + j];
        lsc_lowrank x = {.rows = rows, .cols = cols, .r = r, .B = B1, .A = A1, .scale = 0.7};
        lsc_lowrank y = {.rows = rows, .cols = cols, .r = r, .B = B2, .A = A2, .scale = 1.3};
        if (kind >= 3)
            y = (lsc_lowrank){.rows = rows, .cols = cols, .r = r, .B = B1, .A = A1, .scale = kind == 3 ? 0.7 : -0.7};
        lsc_compare_result res, ref;
        compare_ok(&x, &y, &res);
        ck_assert_msg(lsc_compare_last_path() == LSC_COMPARE_PATH_TALL, "case %d: path %d", kind,
                      (int)lsc_compare_last_path());
        reference(&x, &y, &ref);
        if (kind == 3) { /* itself: 0 up to rounding, which a relative tolerance cannot express */
            ck_assert(res.diff_norm <= 1e-13 * res.norm1);
            ck_assert(ref.diff_norm == 0.0);
            ref.diff_norm = res.diff_norm;
            ref.rel_diff = res.rel_diff;
        }
        expect_dense(&res, &ref);
        free(B1), free(A1), free(B2), free(A2);
    }
}
END_TEST

START_TEST(zero_layers)
{
    double Z[6] = {0}, B[6] = {1, 2, 3, 4, 5, 6}, A[6] = {1, 0, 1, 0, 1, 1};
    lsc_lowrank zero = {.rows = 3, .cols = 3, .r = 2, .B = Z, .A = A, .scale = 1.0};
    lsc_lowrank nz = {.rows = 3, .cols = 3, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_lowrank empty = {.rows = 3, .cols = 3, .r = 0, .B = NULL, .A = NULL, .scale = 1.0};
    lsc_compare_result res;

    compare_ok(&zero, &empty, &res); /* both zero */
    ck_assert(res.cosine == 1.0 && res.rel_diff == 0.0 && res.diff_norm == 0.0);
    ck_assert(res.subspace_in == 0.0 && res.n_angles == 0);

    compare_ok(&zero, &nz, &res); /* exactly one zero */
    ck_assert(res.cosine == 0.0);
    ck_assert_double_eq_tol(res.rel_diff, 1.0, 1e-14);
    ck_assert(res.norm1 == 0.0 && res.norm2 > 0.0);
    ck_assert(res.subspace_in == 0.0 && res.subspace_out == 0.0 && res.n_angles == 0);

    compare_ok(&nz, &empty, &res);
    ck_assert(res.cosine == 0.0);
    ck_assert_double_eq_tol(res.rel_diff, 1.0, 1e-14);
}
END_TEST

START_TEST(angles_are_capped)
{
    rng_state = 0x5EED2005;
    const int rows = 80, cols = 90, r = 70;
    double *B1 = gauss_matrix(rows * r), *A1 = gauss_matrix(r * cols);
    double *B2 = gauss_matrix(rows * r), *A2 = gauss_matrix(r * cols);
    lsc_lowrank x = {.rows = rows, .cols = cols, .r = r, .B = B1, .A = A1, .scale = 1.0};
    lsc_lowrank y = {.rows = rows, .cols = cols, .r = r, .B = B2, .A = A2, .scale = 1.0};
    lsc_compare_result res, ref;
    compare_ok(&x, &y, &res);
    reference(&x, &y, &ref);
    ck_assert_int_eq(res.n_angles, LSC_COMPARE_MAX_ANGLES);
    for (int i = 0; i < res.n_angles; i++)
        expect_near("angle", res.angles_in[i], ref.angles_in[i], 0, 1e-7);
    expect_near("subspace_in", res.subspace_in, ref.subspace_in, 1e-9, 0);
    free(B1);
    free(A1);
    free(B2);
    free(A2);
}
END_TEST

/* Scales at the ends of the double range (lora_alpha 1e308 or 1e-308 over r): the figures are those of
 * the unscaled layers (dense reference with scale +-1) with the scales put back. An adapter against
 * itself has cosine 1 and no difference; two layers of one family of scales compare as the dense
 * reference of x against (s2/s1) y, a ratio in range, says. */
START_TEST(extreme_scales_match_dense)
{
    rng_state = 0x5EED2009;
    const int rows = 12, cols = 9, r = 4;
    double *B1 = gauss_matrix(rows * r), *A1 = gauss_matrix(r * cols);
    double *B2 = gauss_matrix(rows * r), *A2 = gauss_matrix(r * cols);
    for (int i = 0; i < rows * r; i++) { /* B of a trained adapter is small: s B A stays finite at 2.5e307 */
        B1[i] *= 0.01;
        B2[i] *= 0.01;
    }
    const double families[2][2] = {{1e308 / 4, -3e306}, {1e-308 / 4, 7e-310}};
    for (int f = 0; f < 2; f++) {
        const double s1 = families[f][0], s2 = families[f][1];
        const double tol = f ? 1e-10 : 1e-12; /* the small scales are subnormal: fewer bits */
        lsc_lowrank x = {.rows = rows, .cols = cols, .r = r, .B = B1, .A = A1, .scale = s1};
        lsc_lowrank y = {.rows = rows, .cols = cols, .r = r, .B = B2, .A = A2, .scale = s2};
        lsc_lowrank xu = x, yt = y;
        xu.scale = 1.0;
        yt.scale = s2 / s1;
        lsc_compare_result res, ref, self;
        reference(&xu, &yt, &ref);
        /* against itself */
        compare_ok(&x, &x, &self);
        ck_assert_msg(fabs(self.cosine - 1.0) < 1e-12, "scale %g: self cosine %.17g", s1, self.cosine);
        ck_assert_msg(self.rel_diff < 1e-12 && self.diff_norm <= 1e-12 * self.norm1, "scale %g: self rel diff %g", s1,
                      self.rel_diff);
        expect_near("self norm", self.norm1, fabs(s1) * ref.norm1, tol, 0);
        ck_assert(isfinite(self.inner) || f == 0); /* s1^2 ||x||^2 overflows for real at 1e307 */
        /* against the other layer of the family */
        compare_ok(&x, &y, &res);
        expect_near("norm1", res.norm1, fabs(s1) * ref.norm1, tol, 0);
        expect_near("norm2", res.norm2, fabs(s1) * ref.norm2, tol, 0);
        expect_near("cosine", res.cosine, ref.cosine, 1e-10, 1e-12);
        expect_near("diff_norm", res.diff_norm, fabs(s1) * ref.diff_norm, 1e-10, 0);
        expect_near("rel_diff", res.rel_diff, ref.rel_diff, 1e-10, 0);
        expect_near("subspace_in", res.subspace_in, ref.subspace_in, 1e-9, 1e-12);
        ck_assert(isfinite(res.norm1) && isfinite(res.cosine) && isfinite(res.rel_diff));
    }
    free(B1);
    free(A1);
    free(B2);
    free(A2);
}
END_TEST

START_TEST(rejections)
{
    double B[12] = {1, 2, 3, 4, 5, 6, 7, 8}, A[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    lsc_lowrank x = {.rows = 4, .cols = 5, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_lowrank y = {.rows = 4, .cols = 6, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_compare_result res;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_compare(&x, &y, ws, &res, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "[4, 5]"));
    ck_assert_ptr_nonnull(strstr(err.msg, "[4, 6]"));
    y.cols = 5;
    y.rows = 3;
    ck_assert_int_eq(lsc_compare(&x, &y, ws, &res, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "[3, 5]"));
    y.rows = 4;

    A[3] = NAN;
    ck_assert_int_eq(lsc_compare(&x, &y, ws, &res, &err), LSC_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(err.msg, "first layer"));
    A[3] = 4;
    double B2[8] = {1, 2, 3, INFINITY, 5, 6, 7, 8};
    y.B = B2;
    ck_assert_int_eq(lsc_compare(&x, &y, ws, &res, &err), LSC_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(err.msg, "second layer"));
    y.B = B;
    y.scale = NAN;
    ck_assert_int_eq(lsc_compare(&x, &y, ws, &res, &err), LSC_ERR_NUMERIC);
    y.scale = 1.0;

    y.r = -1;
    ck_assert_int_eq(lsc_compare(&x, &y, ws, &res, &err), LSC_ERR_INVALID);
    y.r = 2;
    ck_assert_int_eq(lsc_compare(NULL, &y, ws, &res, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_compare(&x, &y, NULL, &res, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_compare(&x, &y, ws, NULL, &err), LSC_ERR_INVALID);
    x.rows = y.rows = (int64_t)1 << 40;
    ck_assert_int_eq(lsc_compare(&x, &y, ws, &res, &err), LSC_ERR_UNSUPPORTED);
}
END_TEST

static Suite *compare_suite(void)
{
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, self_comparison_is_exact);
    tcase_add_test(tc, negated_layer);
    tcase_add_test(tc, orthogonal_layers);
    tcase_add_test(tc, random_layers_match_dense);
    tcase_add_test(tc, subspace_from_svds_matches_compare);
    tcase_add_test(tc, close_layers_keep_their_difference);
    tcase_add_test(tc, zero_layers);
    tcase_add_test(tc, angles_are_capped);
    tcase_add_test(tc, extreme_scales_match_dense);
    tcase_add_test(tc, rejections);
    tcase_add_test(tc, factored_path_matches_dense);
    tcase_add_test(tc, angle_threshold_picks_the_path);
    tcase_add_test(tc, refused_layers_take_the_tall_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(compare_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
