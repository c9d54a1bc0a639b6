/* check-merge.c: every merge method against a dense reference written here from the formulas in merge.h.
 *
 * The reference forms each task vector s_k B_k A_k with plain loops, trims by sorting indices by
 * (|x| descending, row-major index ascending), draws DARE masks from the generator merge.h documents
 * (re-implemented here from that text), applies the TIES election entry by entry, and takes SVDs with
 * LAPACKE_dgesdd. Hand-worked cases pin the formulas themselves. Fixed seeds throughout.
 */
#include <check.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "spectrum.h"
#include "workspace.h"
#include "test_rng.h"

/* small integers, so task vectors are exact integers with many equal magnitudes */
static double *int_matrix(size_t n, int lo, int hi)
{
    double *m = malloc((n ? n : 1) * sizeof(double));
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < n; i++)
        m[i] = (double)(lo + (int)(splitmix64() % (uint64_t)(hi - lo + 1)));
    return m;
}

/* ---- the models: K random layers of one shape ---- */

#define MAXK 4
typedef struct models {
    int K, rows, cols;
    lsc_lowrank l[MAXK];
    double w[MAXK];
} models;

static models make_models(int K, int rows, int cols, const int *ranks, int integer)
{
    models m = {.K = K, .rows = rows, .cols = cols};
    for (int k = 0; k < K; k++) {
        int r = ranks[k];
        double *B = integer ? int_matrix((size_t)rows * r, -2, 2) : gauss_matrix((size_t)rows * r);
        double *A = integer ? int_matrix((size_t)r * cols, -2, 2) : gauss_matrix((size_t)r * cols);
        m.l[k] = (lsc_lowrank){.rows = rows, .cols = cols, .r = r, .B = B, .A = A,
                               .scale = integer ? (double)(k + 1) : 0.5 + 0.25 * k};
        m.w[k] = integer ? (double)(k + 1) : 0.3 + 0.2 * k;
    }
    return m;
}

static void free_models(models *m)
{
    for (int k = 0; k < m->K; k++) {
        free((void *)m->l[k].B);
        free((void *)m->l[k].A);
    }
}

/* ---- dense reference ---- */

static double *dense_tau(const lsc_lowrank *l)
{
    size_t rows = (size_t)l->rows, cols = (size_t)l->cols;
    double *d = calloc(rows * cols, sizeof(double));
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < rows; i++)
        for (size_t c = 0; c < cols; c++) {
            double acc = 0.0;
            for (int j = 0; j < l->r; j++)
                acc += l->B[i * (size_t)l->r + (size_t)j] * l->A[(size_t)j * cols + c];
            d[i * cols + c] = l->scale * acc;
        }
    return d;
}

static const double *sort_vals;
static int by_magnitude(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    double xa = fabs(sort_vals[a]), xb = fabs(sort_vals[b]);
    if (xa != xb)
        return xa > xb ? -1 : 1;
    return (a > b) - (a < b);
}

/* keep the floor(density * n) largest |x|, earlier row-major index first among equals */
static void ref_trim(double *x, size_t n, double density)
{
    size_t m = (size_t)floor(density * (double)n * (1.0 + 1e-12));
    if (m > n)
        m = n;
    size_t *idx = malloc(n * sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    sort_vals = x;
    qsort(idx, n, sizeof(size_t), by_magnitude);
    for (size_t j = m; j < n; j++)
        x[idx[j]] = 0.0; /* only the dropped ones are written, so the kept ones are untouched */
    free(idx);
}

/* the generator merge.h documents, written from its text */
static uint64_t doc_mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void ref_dare(double *x, size_t n, double density, uint64_t seed, int k)
{
    if (density == 1.0)
        return;
    uint64_t key = doc_mix(seed + 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1));
    for (size_t i = 0; i < n; i++) {
        double u = (double)(doc_mix(key ^ doc_mix((uint64_t)i + 0xD1B54A32D192ED03ull)) >> 11) * 0x1.0p-53;
        x[i] = u < density ? x[i] / density : 0.0;
    }
}

/* the method's dense result, straight from the formulas */
static double *ref_merge(const models *m, lsc_merge_method method, double density, uint64_t seed)
{
    size_t n = (size_t)m->rows * m->cols;
    double *t[MAXK];
    for (int k = 0; k < m->K; k++) {
        t[k] = dense_tau(&m->l[k]);
        if (method == LSC_MERGE_MAGNITUDE || method == LSC_MERGE_TIES)
            ref_trim(t[k], n, density);
        if (method == LSC_MERGE_DARE_LINEAR || method == LSC_MERGE_DARE_TIES)
            ref_dare(t[k], n, density, seed, k);
    }
    double *M = calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        if (method == LSC_MERGE_TIES || method == LSC_MERGE_DARE_TIES) {
            double S = 0;
            for (int k = 0; k < m->K; k++)
                S += m->w[k] * t[k][i];
            int gamma = S >= 0 ? 1 : -1;
            double num = 0, den = 0;
            for (int k = 0; k < m->K; k++) {
                int sg = t[k][i] > 0 ? 1 : t[k][i] < 0 ? -1 : 0;
                if (sg == gamma) {
                    num += m->w[k] * t[k][i];
                    den += m->w[k];
                }
            }
            M[i] = den != 0 ? num / den : 0.0;
        } else {
            for (int k = 0; k < m->K; k++)
                M[i] += m->w[k] * t[k][i];
        }
    }
    for (int k = 0; k < m->K; k++)
        free(t[k]);
    return M;
}

/* best rank-k of D by dgesdd, densely; relative error through rel */
static double *dense_best(const double *D, int rows, int cols, int k, double *rel)
{
    int mn = rows < cols ? rows : cols;
    double *a = malloc((size_t)rows * cols * sizeof(double)), *s = malloc((size_t)mn * sizeof(double));
    double *u = malloc((size_t)rows * mn * sizeof(double)), *vt = malloc((size_t)mn * cols * sizeof(double));
    memcpy(a, D, (size_t)rows * cols * sizeof(double));
    ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', rows, cols, a, cols, s, u, mn, vt, cols), 0);
    double *out = calloc((size_t)rows * cols, sizeof(double));
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < cols; c++)
            for (int j = 0; j < k && j < mn; j++)
                out[(size_t)i * cols + c] += u[(size_t)i * mn + j] * s[j] * vt[(size_t)j * cols + c];
    double head = 0, tail = 0;
    for (int j = 0; j < mn; j++)
        *(j < k ? &head : &tail) += s[j] * s[j];
    *rel = head + tail > 0 ? sqrt(tail / (head + tail)) : 0.0;
    free(a);
    free(s);
    free(u);
    free(vt);
    return out;
}

static double fro(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

static double max_diff(const double *a, const double *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs(a[i] - b[i]));
    return d;
}

/* out_scale * B * A densely */
static double *product(int rows, int cols, int R, const double *B, const double *A, double s)
{
    lsc_lowrank l = {.rows = rows, .cols = cols, .r = R, .B = B, .A = A, .scale = s};
    return dense_tau(&l);
}

/* merge through lsc_merge_layer; returns the dense product of the output factors */
static double *merge_product(const models *m, const lsc_merge_params *p, lsc_workspace *ws, lsc_merge_info *info)
{
    int R = lsc_merge_out_rank(m->l, m->K, p);
    ck_assert_int_gt(R, 0);
    double *B = malloc((size_t)m->rows * R * sizeof(double)), *A = malloc((size_t)R * m->cols * sizeof(double));
    lsc_error err = {0};
    lsc_status st = lsc_merge_layer(m->l, m->w, m->K, p, ws, B, A, info, &err);
    ck_assert_msg(st == LSC_OK, "%s: %s", lsc_merge_method_name(p->method), err.msg);
    ck_assert_int_eq(info->rank, R);
    double *P = product(m->rows, m->cols, R, B, A, p->out_scale);
    free(B);
    free(A);
    return P;
}

/* ---- factored methods ---- */

START_TEST(cat_and_linear_exact)
{
    rng_state = 1;
    models m = make_models(3, 17, 11, (const int[]){3, 5, 2}, 0);
    m.w[1] = -0.7; /* linear accepts any finite weights */
    lsc_workspace *ws = lsc_workspace_new();
    double *ref = ref_merge(&m, LSC_MERGE_LINEAR, 1.0, 0);
    const size_t n = (size_t)m.rows * m.cols;
    const double scales[] = {1.0, 0.125, -3.0};
    for (int method = LSC_MERGE_CAT; method <= LSC_MERGE_LINEAR; method++)
        for (int si = 0; si < 3; si++) {
            lsc_merge_params p = lsc_merge_params_default((lsc_merge_method)method);
            p.out_scale = scales[si];
            lsc_merge_info info;
            double *P = merge_product(&m, &p, ws, &info);
            ck_assert_int_eq(info.rank, 10);
            ck_assert_double_eq(info.rel_error, 0.0);
            ck_assert_double_eq(info.kept_energy, 1.0);
            ck_assert_double_le(max_diff(P, ref, n), 1e-13 * fro(ref, n));
            free(P);
        }
    /* lsc_merge_dense agrees too */
    double *M = malloc(n * sizeof(double));
    lsc_error err = {0};
    lsc_merge_params p = lsc_merge_params_default(LSC_MERGE_CAT);
    ck_assert_int_eq(lsc_merge_dense(m.l, m.w, m.K, &p, ws, M, &err), LSC_OK);
    ck_assert_double_le(max_diff(M, ref, n), 1e-13 * fro(ref, n));
    free(M);
    free(ref);
    free_models(&m);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(svd_is_best_rank_k)
{
    rng_state = 2;
    models m = make_models(3, 23, 14, (const int[]){4, 3, 5}, 0);
    lsc_workspace *ws = lsc_workspace_new();
    double *ref = ref_merge(&m, LSC_MERGE_LINEAR, 1.0, 0);
    const size_t n = (size_t)m.rows * m.cols;
    for (int K = 1; K <= 12; K++)
        for (int method = LSC_MERGE_LINEAR; method <= LSC_MERGE_SVD; method++) {
            double rel;
            double *best = dense_best(ref, m.rows, m.cols, K, &rel);
            lsc_merge_params p = lsc_merge_params_default((lsc_merge_method)method);
            p.rank = K;
            p.out_scale = 0.5;
            lsc_merge_info info;
            double *P = merge_product(&m, &p, ws, &info);
            ck_assert_int_eq(info.rank, K);
            ck_assert_msg(max_diff(P, best, n) <= 1e-9 * fro(ref, n), "K %d: %g", K, max_diff(P, best, n));
            ck_assert_msg(fabs(info.rel_error - rel) <= 1e-9 * fmax(rel, 1e-3), "K %d: %.17g vs %.17g", K,
                          info.rel_error, rel);
            free(P);
            free(best);
        }
    /* asking for more than the sum has gives the exact sum at rank sum r_k = 12 */
    lsc_merge_params p = lsc_merge_params_default(LSC_MERGE_SVD);
    p.rank = 40;
    ck_assert_int_eq(lsc_merge_out_rank(m.l, m.K, &p), 12);
    lsc_merge_info info;
    double *P = merge_product(&m, &p, ws, &info);
    ck_assert_double_le(max_diff(P, ref, n), 1e-11 * fro(ref, n));
    ck_assert_double_le(info.rel_error, 1e-12);
    free(P);
    free(ref);
    free_models(&m);
    lsc_workspace_free(ws);
}
END_TEST

/* The svd merge takes the Gram path from the layers' own factors when they stack well-conditioned, and the
 * concatenation's Householder path when they do not (a layer merged with itself): both give the dense
 * best rank-K approximation. */
START_TEST(svd_merge_both_paths)
{
    rng_state = 7;
    for (int dup = 0; dup < 2; dup++) {
        models m = make_models(2, 160, 120, (const int[]){6, 5}, 0);
        if (dup) { /* the second layer: the first's factors, so [B1, B2] has dependent columns */
            free((double *)m.l[1].B);
            free((double *)m.l[1].A);
            m.l[1].r = 6;
            double *B = malloc(sizeof(double) * 160 * 6), *A = malloc(sizeof(double) * 6 * 120);
            memcpy(B, m.l[0].B, sizeof(double) * 160 * 6);
            memcpy(A, m.l[0].A, sizeof(double) * 6 * 120);
            m.l[1].B = B;
            m.l[1].A = A;
        }
        lsc_workspace *ws = lsc_workspace_new();
        double *ref = ref_merge(&m, LSC_MERGE_LINEAR, 1.0, 0);
        const size_t n = (size_t)m.rows * m.cols;
        for (int K = 1; K <= 5; K += 2) {
            double rel;
            double *best = dense_best(ref, m.rows, m.cols, K, &rel);
            lsc_merge_params p = lsc_merge_params_default(LSC_MERGE_SVD);
            p.rank = K;
            p.out_scale = -0.5;
            lsc_merge_info info;
            double *P = merge_product(&m, &p, ws, &info);
            ck_assert_int_eq(lsc_spectrum_last_path(), dup ? LSC_SPECTRUM_PATH_HOUSEHOLDER : LSC_SPECTRUM_PATH_GRAM);
            ck_assert_msg(max_diff(P, best, n) <= 1e-9 * fro(ref, n), "dup %d K %d: %g", dup, K, max_diff(P, best, n));
            ck_assert_msg(fabs(info.rel_error - rel) <= 1e-9 * fmax(rel, 1e-3), "dup %d K %d: %.17g vs %.17g", dup, K,
                          info.rel_error, rel);
            free(P);
            free(best);
        }
        free(ref);
        free_models(&m);
        lsc_workspace_free(ws);
    }
}
END_TEST

START_TEST(svd_of_rank_zero_layers)
{
    lsc_lowrank l[2] = {{.rows = 4, .cols = 3, .r = 0, .scale = 1.0}, {.rows = 4, .cols = 3, .r = 0, .scale = 2.0}};
    double w[2] = {1, 1}, B[4] = {9, 9, 9, 9}, A[3] = {9, 9, 9};
    lsc_merge_params p = lsc_merge_params_default(LSC_MERGE_SVD);
    p.rank = 2;
    ck_assert_int_eq(lsc_merge_out_rank(l, 2, &p), 1);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_merge_info info;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_merge_layer(l, w, 2, &p, ws, B, A, &info, &err), LSC_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq(B[i], 0.0);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(A[i], 0.0);
    lsc_workspace_free(ws);
}
END_TEST

/* ---- element-wise methods: hand-worked ---- */

/* rows 1, cols 4, rank 1: tau_k = scale * [1] * A_k */
static double *hand(lsc_merge_method method, const double *w, double density)
{
    static const double one[1] = {1};
    static const double t1[4] = {3, -1, 2, 0}, t2[4] = {-2, -2, 1, 0};
    lsc_lowrank l[2] = {{.rows = 1, .cols = 4, .r = 1, .B = one, .A = t1, .scale = 1.0},
                        {.rows = 1, .cols = 4, .r = 1, .B = one, .A = t2, .scale = 1.0}};
    lsc_merge_params p = lsc_merge_params_default(method);
    p.density = density;
    double *M = malloc(4 * sizeof(double));
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    ck_assert_msg(lsc_merge_dense(l, w, 2, &p, ws, M, &err) == LSC_OK, "%s", err.msg);
    lsc_workspace_free(ws);
    return M;
}

static void expect4(double *M, double a, double b, double c, double d)
{
    const double want[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fabs(M[i] - want[i]) < 1e-15, "entry %d: %g, want %g", i, M[i], want[i]);
    free(M);
}

START_TEST(ties_hand_worked)
{
    /* equal weights: S = 1, -3, 3, 0 -> gamma +, -, +, + (tie to +); disjoint means */
    expect4(hand(LSC_MERGE_TIES, (const double[]){1, 1}, 1.0), 3, -1.5, 1.5, 0);
    /* weights 1, 3: S = -3, -7, 5, 0 -> gamma -, -, +, +; mean weighted by the agreeing weights */
    expect4(hand(LSC_MERGE_TIES, (const double[]){1, 3}, 1.0), -2, -1.75, 1.25, 0);
    /* density 0.5 trims each to its 2 largest: t1 = 3, 0, 2, 0; t2 = -2, -2, 0, 0 (tie: first index) */
    expect4(hand(LSC_MERGE_TIES, (const double[]){1, 1}, 0.5), 3, -2, 2, 0);
    expect4(hand(LSC_MERGE_MAGNITUDE, (const double[]){1, 1}, 0.5), 1, -2, 2, 0);
    expect4(hand(LSC_MERGE_MAGNITUDE, (const double[]){2, -1}, 0.25), 8, 0, 0, 0);
    /* density so small that floor(density * 4) = 0: everything trimmed */
    expect4(hand(LSC_MERGE_MAGNITUDE, (const double[]){1, 1}, 0.2), 0, 0, 0, 0);
    /* DARE with density 1 is the plain weighted sum / plain TIES */
    expect4(hand(LSC_MERGE_DARE_LINEAR, (const double[]){1, 3}, 1.0), -3, -7, 5, 0);
    expect4(hand(LSC_MERGE_DARE_TIES, (const double[]){1, 1}, 1.0), 3, -1.5, 1.5, 0);
}
END_TEST

/* ---- element-wise methods: against the dense reference ---- */

static void check_dense_method(models *m, lsc_merge_method method, double density, uint64_t seed, lsc_workspace *ws)
{
    const size_t n = (size_t)m->rows * m->cols;
    double *ref = ref_merge(m, method, density, seed);
    lsc_merge_params p = lsc_merge_params_default(method);
    p.density = density;
    p.seed = seed;
    double *M = malloc(n * sizeof(double));
    lsc_error err = {0};
    ck_assert_msg(lsc_merge_dense(m->l, m->w, m->K, &p, ws, M, &err) == LSC_OK, "%s", err.msg);
    double tol = 1e-12 * fmax(fro(ref, n), 1.0);
    ck_assert_msg(max_diff(M, ref, n) <= tol, "%s density %g: max diff %g", lsc_merge_method_name(method), density,
                  max_diff(M, ref, n));
    free(M);
    free(ref);
}

START_TEST(elementwise_vs_reference)
{
    rng_state = 3;
    lsc_workspace *ws = lsc_workspace_new();
    const double dens[] = {1.0, 0.7, 0.31, 0.05};
    const lsc_merge_method meth[] = {LSC_MERGE_MAGNITUDE, LSC_MERGE_DARE_LINEAR, LSC_MERGE_TIES, LSC_MERGE_DARE_TIES};
    for (int shape = 0; shape < 3; shape++) {
        models m = shape == 0   ? make_models(2, 19, 13, (const int[]){3, 4}, 0)
                   : shape == 1 ? make_models(3, 7, 31, (const int[]){2, 5, 1}, 0)
                                : make_models(4, 40, 9, (const int[]){1, 0, 3, 2}, 0);
        for (int mi = 0; mi < 4; mi++)
            for (int di = 0; di < 4; di++)
                check_dense_method(&m, meth[mi], dens[di], 1234 + (uint64_t)di, ws);
        free_models(&m);
    }
    lsc_workspace_free(ws);
}
END_TEST

/* integer task vectors: many exactly equal magnitudes at the threshold, and every radix pass forced */
START_TEST(elementwise_ties_at_threshold)
{
    rng_state = 4;
    lsc_workspace *ws = lsc_workspace_new();
    models m = make_models(3, 21, 17, (const int[]){2, 1, 3}, 1);
    const size_t caps[] = {0, 1, 5, 200};
    for (int ci = 0; ci < 4; ci++) {
        lsc_merge_set_select_cap(caps[ci]);
        for (int di = 0; di < 5; di++) {
            const double d = (const double[]){0.5, 0.25, 0.1, 0.9, 0.33}[di];
            check_dense_method(&m, LSC_MERGE_MAGNITUDE, d, 0, ws);
            check_dense_method(&m, LSC_MERGE_TIES, d, 0, ws);
        }
    }
    lsc_merge_set_select_cap(0);
    /* Gaussian data through the radix passes too */
    models g = make_models(2, 33, 29, (const int[]){4, 4}, 0);
    lsc_merge_set_select_cap(3);
    check_dense_method(&g, LSC_MERGE_TIES, 0.2, 0, ws);
    check_dense_method(&g, LSC_MERGE_MAGNITUDE, 0.77, 0, ws);
    lsc_merge_set_select_cap(0);
    free_models(&g);
    free_models(&m);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(dare_statistics_and_seeds)
{
    rng_state = 6;
    models m = make_models(1, 50, 60, (const int[]){3}, 0);
    const size_t n = 3000;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_merge_params p = lsc_merge_params_default(LSC_MERGE_DARE_LINEAR);
    p.density = 0.3;
    double *M1 = malloc(n * sizeof(double)), *M2 = malloc(n * sizeof(double)), *M3 = malloc(n * sizeof(double));
    lsc_error err = {0};
    p.seed = 77;
    ck_assert_int_eq(lsc_merge_dense(m.l, m.w, 1, &p, ws, M1, &err), LSC_OK);
    ck_assert_int_eq(lsc_merge_dense(m.l, m.w, 1, &p, ws, M2, &err), LSC_OK);
    p.seed = 78;
    ck_assert_int_eq(lsc_merge_dense(m.l, m.w, 1, &p, ws, M3, &err), LSC_OK);
    size_t kept = 0, differ = 0;
    double *tau = dense_tau(&m.l[0]);
    for (size_t i = 0; i < n; i++) {
        ck_assert_double_eq(M1[i], M2[i]); /* reproducible */
        kept += M1[i] != 0.0;
        differ += (M1[i] != 0.0) != (M3[i] != 0.0);
        if (M1[i] != 0.0) /* survivors are rescaled by 1/density */
            ck_assert_double_eq_tol(M1[i], m.w[0] * tau[i] / 0.3, 1e-12 * fabs(tau[i]) + 1e-300);
    }
    ck_assert_msg(kept > 800 && kept < 1000, "kept %zu of 3000 at density 0.3", kept);
    ck_assert_msg(differ > 500, "another seed should give another mask (%zu differ)", differ);
    free(tau);
    free(M1);
    free(M2);
    free(M3);
    free_models(&m);
    lsc_workspace_free(ws);
}
END_TEST

/* the full layer: dense result, then re-factorised exactly (dgesdd) and randomized */
START_TEST(elementwise_layer_refactorised)
{
    rng_state = 7;
    lsc_workspace *ws = lsc_workspace_new();
    models m = make_models(2, 36, 28, (const int[]){4, 6}, 0);
    const size_t n = (size_t)m.rows * m.cols;
    const lsc_merge_method meth[] = {LSC_MERGE_MAGNITUDE, LSC_MERGE_DARE_LINEAR, LSC_MERGE_TIES, LSC_MERGE_DARE_TIES};
    for (int mi = 0; mi < 4; mi++)
        for (int K = 1; K <= 30; K += 7) {
            double *ref = ref_merge(&m, meth[mi], 0.4, 99);
            double rel;
            const int R = K < 28 ? K : 28;
            double *best = dense_best(ref, m.rows, m.cols, R, &rel);
            lsc_merge_params p = lsc_merge_params_default(meth[mi]);
            p.rank = K;
            p.density = 0.4;
            p.seed = 99;
            p.out_scale = 2.0;
            p.exact_svd = 1;
            lsc_merge_info info;
            double *P = merge_product(&m, &p, ws, &info);
            ck_assert_int_eq(info.rank, R);
            ck_assert_msg(max_diff(P, best, n) <= 1e-9 * fro(ref, n), "%s K %d exact: %g",
                          lsc_merge_method_name(meth[mi]), K, max_diff(P, best, n));
            ck_assert_double_eq_tol(info.rel_error, rel, 1e-9);
            free(P);
            /* randomized: the reported error is the true error of the factors, near the optimum */
            p.exact_svd = 0;
            P = merge_product(&m, &p, ws, &info);
            double res = 0;
            for (size_t i = 0; i < n; i++)
                res += (ref[i] - P[i]) * (ref[i] - P[i]);
            ck_assert_double_eq_tol(info.rel_error, sqrt(res) / fro(ref, n), 1e-9);
            ck_assert_msg(info.rel_error >= rel - 1e-12 && info.rel_error <= rel + 0.05,
                          "%s K %d randomized error %g, optimum %g", lsc_merge_method_name(meth[mi]), K,
                          info.rel_error, rel);
            free(P);
            free(best);
            free(ref);
        }
    free_models(&m);
    lsc_workspace_free(ws);
}
END_TEST

/* random orthonormal columns Q [m, k] (row-major) by QR of a Gaussian matrix */
static double *orthonormal(int m, int k)
{
    double *q = gauss_matrix((size_t)m * k), tau[64];
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, k, q, k, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, m, k, k, q, k, tau), 0);
    return q;
}

START_TEST(randomized_svd_near_optimal)
{
    rng_state = 8;
    const int rows = 120, cols = 80, mn = 60;
    double *U = orthonormal(rows, mn), *V = orthonormal(cols, mn), sv[60];
    for (int i = 0; i < mn; i++)
        sv[i] = pow(0.8, i);
    double *M = calloc((size_t)rows * cols, sizeof(double));
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < cols; c++)
            for (int j = 0; j < mn; j++)
                M[(size_t)i * cols + c] += U[(size_t)i * mn + j] * sv[j] * V[(size_t)c * mn + j];
    lsc_workspace *ws = lsc_workspace_new();
    for (int K = 1; K <= 20; K += 3) {
        double head = 0, tail = 0;
        for (int j = 0; j < mn; j++)
            *(j < K ? &head : &tail) += sv[j] * sv[j];
        const double opt = sqrt(tail / (head + tail));
        double *B = malloc((size_t)rows * K * sizeof(double)), *A = malloc((size_t)K * cols * sizeof(double));
        lsc_merge_info info;
        lsc_error err = {0};
        ck_assert_int_eq(lsc_merge_refactor(M, rows, cols, K, 1.0, 42, 0, ws, B, A, &info, &err), LSC_OK);
        ck_assert_int_eq(info.rank, K);
        ck_assert_msg(info.rel_error >= opt - 1e-12 && info.rel_error - opt < 1e-6,
                      "K %d: randomized %.12g, optimal %.12g", K, info.rel_error, opt);
        /* the reported error is the explicit residual */
        double *P = product(rows, cols, K, B, A, 1.0), res = 0;
        for (size_t i = 0; i < (size_t)rows * cols; i++)
            res += (M[i] - P[i]) * (M[i] - P[i]);
        ck_assert_double_eq_tol(info.rel_error, sqrt(res) / fro(M, (size_t)rows * cols), 1e-12);
        /* balanced factors */
        ck_assert_double_eq_tol(fro(B, (size_t)rows * K), fro(A, (size_t)K * cols), 1e-10);
        /* same seed, same factors */
        double *B2 = malloc((size_t)rows * K * sizeof(double)), *A2 = malloc((size_t)K * cols * sizeof(double));
        ck_assert_int_eq(lsc_merge_refactor(M, rows, cols, K, 1.0, 42, 0, ws, B2, A2, NULL, &err), LSC_OK);
        ck_assert_int_eq(memcmp(B, B2, (size_t)rows * K * sizeof(double)), 0);
        free(B2);
        free(A2);
        free(P);
        free(B);
        free(A);
    }
    /* a zero matrix: zero factors, error 0 */
    double Z[12] = {0}, Bz[4], Az[3];
    lsc_merge_info info;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_merge_refactor(Z, 4, 3, 1, 1.0, 1, 0, ws, Bz, Az, &info, &err), LSC_OK);
    ck_assert_double_eq(info.rel_error, 0.0);
    ck_assert_double_eq(fro(Bz, 4) + fro(Az, 3), 0.0);
    lsc_workspace_free(ws);
    free(M);
    free(U);
    free(V);
}
END_TEST

/* ---- rejections ---- */

static void expect_fail(const lsc_lowrank *l, const double *w, int K, const lsc_merge_params *p, lsc_status want,
                        const char *msg)
{
    lsc_workspace *ws = lsc_workspace_new();
    double B[400], A[400], M[400];
    lsc_merge_info info;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_merge_layer(l, w, K, p, ws, B, A, &info, &err), want);
    if (msg)
        ck_assert_str_eq(err.msg, msg);
    else
        ck_assert(err.msg[0] != '\0');
    if (want != LSC_OK && (p->rank >= 1 || p->method == LSC_MERGE_CAT || p->method == LSC_MERGE_LINEAR)) {
        lsc_error err2 = {0};
        ck_assert_int_eq(lsc_merge_dense(l, w, K, p, ws, M, &err2), want);
    }
    lsc_workspace_free(ws);
}

START_TEST(rejections)
{
    double B1[8] = {1, 2, 3, 4, 5, 6, 7, 8}, A1[10] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 0}, A2[6] = {1, 2, 3, 4, 5, 6};
    lsc_lowrank l[2] = {{.rows = 4, .cols = 5, .r = 2, .B = B1, .A = A1, .scale = 1.0},
                        {.rows = 4, .cols = 3, .r = 2, .B = B1, .A = A2, .scale = 1.0}};
    double w[2] = {1, 1};
    lsc_merge_params p = lsc_merge_params_default(LSC_MERGE_TIES);
    p.rank = 2;
    p.density = 0.5;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, "layer 2 has shape [4, 3], layer 1 has [4, 5]");
    l[1] = l[0];
    expect_fail(l, w, 0, &p, LSC_ERR_INVALID, "merge needs at least one layer, got 0");
    p.rank = 0;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, "merge method 'ties' needs a rank of at least 1, not 0");
    p.method = LSC_MERGE_SVD;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, "merge method 'svd' needs a rank of at least 1, not 0");
    p.method = LSC_MERGE_TIES;
    p.rank = 2;
    p.density = 0.0;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, "density must be in (0, 1], not 0");
    p.density = 1.5;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, NULL);
    p.density = NAN;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, NULL);
    p.density = 0.5;
    w[1] = NAN;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, "weight 2 is not finite");
    w[1] = -1;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, "method 'ties' needs positive weights, weight 2 is -1");
    w[1] = 1;
    p.out_scale = 0;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, NULL);
    p.out_scale = 1;
    B1[3] = INFINITY;
    expect_fail(l, w, 2, &p, LSC_ERR_NUMERIC, "non-finite entries in the factors of layer 1");
    p.method = LSC_MERGE_CAT;
    expect_fail(l, w, 2, &p, LSC_ERR_NUMERIC, NULL);
    B1[3] = 4;
    l[1].scale = NAN;
    expect_fail(l, w, 2, &p, LSC_ERR_NUMERIC, "layer 2 has a non-finite scale");
    l[1].scale = 1;
    l[1].A = NULL;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, "layer 2: rank 2 with a missing factor");
    l[1].A = A1;
    p.method = (lsc_merge_method)77;
    expect_fail(l, w, 2, &p, LSC_ERR_INVALID, NULL);
    /* a sum whose entries overflow */
    double Bbig[8] = {1e300, 1e300, 1e300, 1e300, 1e300, 1e300, 1e300, 1e300};
    lsc_lowrank big[1] = {{.rows = 4, .cols = 5, .r = 2, .B = Bbig, .A = A1, .scale = 1e10}};
    p = lsc_merge_params_default(LSC_MERGE_MAGNITUDE);
    p.rank = 1;
    expect_fail(big, w, 1, &p, LSC_ERR_NUMERIC, "the merged [4, 5] layer overflows");
    /* refactor rejections */
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    double M[6] = {1, 2, 3, 4, 5, NAN}, Bo[6], Ao[6];
    ck_assert_int_eq(lsc_merge_refactor(M, 2, 3, 1, 1.0, 0, 0, ws, Bo, Ao, NULL, &err), LSC_ERR_NUMERIC);
    M[5] = 6;
    ck_assert_int_eq(lsc_merge_refactor(M, 2, 3, 0, 1.0, 0, 0, ws, Bo, Ao, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_merge_refactor(M, 0, 3, 1, 1.0, 0, 0, ws, Bo, Ao, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_merge_refactor(M, 2, 3, 1, INFINITY, 0, 0, ws, Bo, Ao, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_merge_refactor(M, 2, 3, 1, 1.0, 0, 0, ws, NULL, Ao, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_merge_out_rank(l, 0, &p), 0);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(method_names)
{
    lsc_merge_method m;
    lsc_error err = {0};
    for (int i = 0; i < LSC_MERGE_METHOD_COUNT; i++) {
        ck_assert_int_eq(lsc_merge_method_from_name(lsc_merge_method_name((lsc_merge_method)i), &m, &err), LSC_OK);
        ck_assert_int_eq(m, i);
    }
    ck_assert_int_eq(lsc_merge_method_from_name("dare", &m, &err), LSC_ERR_INVALID);
    ck_assert_str_eq(err.msg, "unknown merge method 'dare'");
    ck_assert(lsc_merge_is_elementwise(LSC_MERGE_DARE_TIES));
    ck_assert(!lsc_merge_is_elementwise(LSC_MERGE_SVD));
    ck_assert_str_eq(lsc_merge_method_name((lsc_merge_method)-1), "?");
}
END_TEST

/* The stacked truncation (svd, linear with a rank) no longer scans its inputs up front: the Gram path
 * declines any NaN or Inf and the scan runs before the fallback. The error is the same as before, for
 * either factor of either layer, on factors the Gram path would otherwise take. */
START_TEST(stacked_merge_reports_nonfinite_factors)
{
    rng_state = 0x5EED2021;
    enum { ROWS = 40, COLS = 30, R = 3 };
    double *B[2] = {gauss_matrix(ROWS * R), gauss_matrix(ROWS * R)};
    double *A[2] = {gauss_matrix(R * COLS), gauss_matrix(R * COLS)};
    lsc_lowrank l[2] = {{.rows = ROWS, .cols = COLS, .r = R, .B = B[0], .A = A[0], .scale = 0.5},
                        {.rows = ROWS, .cols = COLS, .r = R, .B = B[1], .A = A[1], .scale = 2.0}};
    const double w[2] = {1.0, 0.7};
    const lsc_merge_method methods[2] = {LSC_MERGE_SVD, LSC_MERGE_LINEAR};
    lsc_workspace *ws = lsc_workspace_new();
    double *Bo = malloc(sizeof(double) * ROWS * R), *Ao = malloc(sizeof(double) * R * COLS);
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 2; k++)
            for (int side = 0; side < 2; side++)
                for (int bad = 0; bad < 2; bad++) {
                    lsc_merge_params p = lsc_merge_params_default(methods[m]);
                    p.rank = R;
                    lsc_merge_info info;
                    lsc_error err = {0};
                    ck_assert_int_eq(lsc_merge_layer(l, w, 2, &p, ws, Bo, Ao, &info, &err), LSC_OK);
                    double *x = side ? A[k] : B[k];
                    const double keep = x[7];
                    x[7] = bad ? NAN : -INFINITY;
                    ck_assert_int_eq(lsc_merge_layer(l, w, 2, &p, ws, Bo, Ao, &info, &err), LSC_ERR_NUMERIC);
                    char want[80];
                    snprintf(want, sizeof want, "non-finite entries in the factors of layer %d", k + 1);
                    ck_assert_str_eq(err.msg, want);
                    x[7] = keep;
                }
    lsc_workspace_free(ws);
    free(Bo), free(Ao), free(B[0]), free(B[1]), free(A[0]), free(A[1]);
}
END_TEST

static Suite *merge_suite(void)
{
    Suite *s = suite_create("merge");
    TCase *t = tcase_create("merge");
    tcase_set_timeout(t, 240);
    tcase_add_test(t, cat_and_linear_exact);
    tcase_add_test(t, svd_is_best_rank_k);
    tcase_add_test(t, svd_of_rank_zero_layers);
    tcase_add_test(t, svd_merge_both_paths);
    tcase_add_test(t, ties_hand_worked);
    tcase_add_test(t, elementwise_vs_reference);
    tcase_add_test(t, elementwise_ties_at_threshold);
    tcase_add_test(t, dare_statistics_and_seeds);
    tcase_add_test(t, elementwise_layer_refactorised);
    tcase_add_test(t, randomized_svd_near_optimal);
    tcase_add_test(t, rejections);
    tcase_add_test(t, method_names);
    tcase_add_test(t, stacked_merge_reports_nonfinite_factors);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(merge_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
