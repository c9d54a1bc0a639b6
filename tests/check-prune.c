/* check-prune.c: rank rules on hand-worked spectra, the global budget, and factored truncation against a
 * dense reference (s*B*A formed with plain loops, LAPACKE_dgesdd, best rank-k by plain loops).
 * Fixed-seed PRNG (splitmix64 + Box-Muller) written here so the inputs never change.
 */
#include <check.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"
#include "spectrum.h"
#include "workspace.h"
#include "test_rng.h"

static int sel(const double *sv, int n, lsc_rank_rule rule, double value)
{
    int k = -7;
    lsc_error err = {0};
    lsc_status st = lsc_prune_select(sv, n, rule, value, &k, &err);
    ck_assert_msg(st == LSC_OK, "rule %s %g: %s", lsc_rank_rule_name(rule), value, err.msg);
    return k;
}

static lsc_status sel_status(const double *sv, int n, lsc_rank_rule rule, double value)
{
    int k = -7;
    lsc_error err = {0};
    lsc_status st = lsc_prune_select(sv, n, rule, value, &k, &err);
    ck_assert_int_eq(k, -7); /* untouched on failure */
    ck_assert(err.msg[0] != '\0');
    return st;
}

/* ---- rank rules ---- */

START_TEST(energy_exact_threshold)
{
    const double sv[] = {3, 1}; /* squares 9 + 1 = 10 */
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_ENERGY, 0.9), 1);  /* 9 >= 0.9 * 10 exactly */
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_ENERGY, 0.91), 2);
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_ENERGY, 1.0), 2);
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_ENERGY, 1e-9), 1);
    const double sv3[] = {3, 1, 0};
    ck_assert_int_eq(sel(sv3, 3, LSC_RANK_ENERGY, 1.0), 2); /* the zero tail is never needed */
    const double sv4[] = {2, 2, 2, 2}; /* 50% is exactly two values */
    ck_assert_int_eq(sel(sv4, 4, LSC_RANK_ENERGY, 0.5), 2);
    ck_assert_int_eq(sel(sv4, 4, LSC_RANK_ENERGY, 0.75), 3);
    ck_assert_int_eq(sel(sv4, 4, LSC_RANK_ENERGY, 0.7500001), 4);
}
END_TEST

START_TEST(fro_exact_threshold)
{
    const double sv[] = {4, 3}; /* squares 16 + 9 = 25; sqrt(16/25) = 0.8 */
    /* 0.8 * 0.8 * 25 rounds to 16.000000000000004: without the slack this would keep 2 */
    ck_assert(0.8 * 0.8 * 25.0 > 16.0);
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_FRO, 0.8), 1);
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_FRO, 0.81), 2);
    /* fro is the square root of energy: energy 0.8 on the same spectrum needs both (16/25 = 0.64) */
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_ENERGY, 0.8), 2);
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_ENERGY, 0.64), 1);
}
END_TEST

START_TEST(cumulative_exact_threshold)
{
    const double sv[] = {3, 1}; /* sum 4 */
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_CUMULATIVE, 0.75), 1);
    ck_assert_int_eq(sel(sv, 2, LSC_RANK_CUMULATIVE, 0.76), 2);
    const double sv5[] = {5, 4, 3, 2, 1}; /* sum 15: 5, 9, 12, 14, 15 */
    ck_assert_int_eq(sel(sv5, 5, LSC_RANK_CUMULATIVE, 0.6), 2);  /* 9 = 0.6 * 15 */
    ck_assert_int_eq(sel(sv5, 5, LSC_RANK_CUMULATIVE, 0.8), 3);  /* 12 = 0.8 * 15 */
    ck_assert_int_eq(sel(sv5, 5, LSC_RANK_CUMULATIVE, 0.81), 4);
}
END_TEST

START_TEST(ratio_exact_threshold)
{
    const double sv[] = {8, 4, 2, 1};
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_RATIO, 2.0), 2); /* keep >= 4 */
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_RATIO, 4.0), 3);
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_RATIO, 3.9), 2);
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_RATIO, 8.0), 4);
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_RATIO, 1.0), 1);
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_RATIO, 1e300), 4);
    const double tie[] = {5, 5, 5, 1};
    ck_assert_int_eq(sel(tie, 4, LSC_RANK_RATIO, 1.0), 3); /* t = 1 keeps the ties of s_1 */
}
END_TEST

START_TEST(fixed_and_clamps)
{
    const double sv[] = {8, 4, 2, 1};
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_FIXED, 2), 2);
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_FIXED, 4), 4);
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_FIXED, 10), 4); /* never grows */
    ck_assert_int_eq(sel(sv, 4, LSC_RANK_FIXED, 1e12), 4);
    const double zero[] = {0, 0, 0};
    for (int r = 0; r < LSC_RANK_RULE_COUNT; r++)
        ck_assert_int_eq(sel(zero, 3, (lsc_rank_rule)r, r == LSC_RANK_RATIO ? 2.0 : 1.0), 1); /* at least 1 */
    ck_assert_int_eq(sel(sv, 0, LSC_RANK_ENERGY, 0.9), 0); /* nothing to keep */
    ck_assert_int_eq(sel(NULL, 0, LSC_RANK_FIXED, 3), 0);
    const double one[] = {7};
    ck_assert_int_eq(sel(one, 1, LSC_RANK_ENERGY, 0.01), 1);
    /* huge and tiny values neither overflow nor underflow the squares */
    const double big[] = {1e200, 1e199};
    ck_assert_int_eq(sel(big, 2, LSC_RANK_ENERGY, 0.99), 1);
    ck_assert_int_eq(sel(big, 2, LSC_RANK_ENERGY, 0.995), 2);
    const double tiny[] = {3e-200, 1e-200};
    ck_assert_int_eq(sel(tiny, 2, LSC_RANK_ENERGY, 0.9), 1);
    ck_assert_int_eq(sel(tiny, 2, LSC_RANK_ENERGY, 0.91), 2);
}
END_TEST

START_TEST(rule_rejections)
{
    const double sv[] = {3, 2, 1};
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_FIXED, 0), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_FIXED, 1.5), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_FIXED, -2), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_ENERGY, 0.0), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_ENERGY, 1.01), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_ENERGY, NAN), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_FRO, -0.5), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_CUMULATIVE, 2.0), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_RATIO, 0.5), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, LSC_RANK_RATIO, INFINITY), LSC_ERR_INVALID);
    ck_assert_int_eq(sel_status(sv, 3, (lsc_rank_rule)99, 1.0), LSC_ERR_INVALID);
    const double up[] = {1, 2};
    ck_assert_int_eq(sel_status(up, 2, LSC_RANK_ENERGY, 0.9), LSC_ERR_INVALID);
    const double neg[] = {1, -1};
    ck_assert_int_eq(sel_status(neg, 2, LSC_RANK_ENERGY, 0.9), LSC_ERR_INVALID);
    const double nan[] = {NAN, 1};
    ck_assert_int_eq(sel_status(nan, 2, LSC_RANK_ENERGY, 0.9), LSC_ERR_NUMERIC);
    const double inf[] = {INFINITY, 1};
    ck_assert_int_eq(sel_status(inf, 2, LSC_RANK_FIXED, 1), LSC_ERR_NUMERIC);
    ck_assert_int_eq(sel_status(NULL, 2, LSC_RANK_FIXED, 1), LSC_ERR_INVALID);
    lsc_error err = {0};
    ck_assert_int_eq(lsc_prune_select(sv, 3, LSC_RANK_FIXED, 1, NULL, &err), LSC_ERR_INVALID);
}
END_TEST

START_TEST(rule_names)
{
    lsc_rank_rule r;
    lsc_error err = {0};
    for (int i = 0; i < LSC_RANK_RULE_COUNT; i++) {
        ck_assert_int_eq(lsc_rank_rule_from_name(lsc_rank_rule_name((lsc_rank_rule)i), &r, &err), LSC_OK);
        ck_assert_int_eq(r, i);
    }
    ck_assert_str_eq(lsc_rank_rule_name(LSC_RANK_FRO), "fro");
    ck_assert_str_eq(lsc_rank_rule_name((lsc_rank_rule)42), "?");
    ck_assert_int_eq(lsc_rank_rule_from_name("sv_fro", &r, &err), LSC_ERR_INVALID);
    ck_assert_str_eq(err.msg, "unknown rank rule 'sv_fro'");
}
END_TEST

/* ---- global budget ---- */

static void budget(int64_t n_budget, const int *want)
{
    const double l1[] = {5, 3, 1}, l2[] = {4, 3, 0.5}, l3[] = {0.1};
    const double *sv[] = {l1, l2, l3, NULL};
    const int n[] = {3, 3, 1, 0};
    int k[4] = {-1, -1, -1, -1};
    lsc_error err = {0};
    ck_assert_int_eq(lsc_prune_budget(sv, n, 4, n_budget, k, &err), LSC_OK);
    for (int l = 0; l < 4; l++)
        ck_assert_msg(k[l] == want[l], "budget %lld layer %d: %d, want %d", (long long)n_budget, l, k[l], want[l]);
}

START_TEST(budget_cases)
{
    budget(1, (const int[]){1, 1, 1, 0});  /* below the number of layers: everyone keeps 1 */
    budget(3, (const int[]){1, 1, 1, 0});
    budget(4, (const int[]){2, 1, 1, 0});  /* tie 3 vs 3: the earlier layer wins */
    budget(5, (const int[]){2, 2, 1, 0});
    budget(6, (const int[]){3, 2, 1, 0});  /* 1 beats 0.5 */
    budget(7, (const int[]){3, 3, 1, 0});
    budget(100, (const int[]){3, 3, 1, 0}); /* never grows */
}
END_TEST

START_TEST(budget_prefix_and_small_first)
{
    /* layer 2's first value is tiny but still kept; layer 1's values equal across the layer stay a prefix */
    const double l1[] = {2, 2, 2, 2}, l2[] = {1e-9, 1e-10};
    const double *sv[] = {l1, l2};
    const int n[] = {4, 2};
    int k[2];
    lsc_error err = {0};
    ck_assert_int_eq(lsc_prune_budget(sv, n, 2, 4, k, &err), LSC_OK);
    ck_assert_int_eq(k[0], 3);
    ck_assert_int_eq(k[1], 1);
    ck_assert_int_eq(lsc_prune_budget(sv, n, 2, 6, k, &err), LSC_OK);
    ck_assert_int_eq(k[0], 4);
    ck_assert_int_eq(k[1], 2);
    ck_assert_int_eq(lsc_prune_budget(sv, n, 0, 5, NULL, &err), LSC_OK); /* no layers: nothing to do */
}
END_TEST

START_TEST(budget_rejections)
{
    const double l1[] = {2, 1}, bad[] = {1, 2}, nan[] = {NAN};
    const double *sv[] = {l1, bad};
    const int n[] = {2, 2};
    int k[2];
    lsc_error err = {0};
    ck_assert_int_eq(lsc_prune_budget(sv, n, 2, 3, k, &err), LSC_ERR_INVALID);
    ck_assert_str_eq(err.msg, "layer 2: singular values not descending at 2");
    const double *sv2[] = {l1, nan};
    const int n2[] = {2, 1};
    ck_assert_int_eq(lsc_prune_budget(sv2, n2, 2, 3, k, &err), LSC_ERR_NUMERIC);
    const double *sv3[] = {l1, l1};
    ck_assert_int_eq(lsc_prune_budget(sv3, n, 2, 0, k, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_prune_budget(sv3, n, 2, -4, k, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_prune_budget(sv3, n, 2, 3, NULL, &err), LSC_ERR_INVALID);
    const int nneg[] = {2, -1};
    ck_assert_int_eq(lsc_prune_budget(sv3, nneg, 2, 3, k, &err), LSC_ERR_INVALID);
}
END_TEST

/* ---- figures and scales ---- */

START_TEST(figures_hand_worked)
{
    const double sv[] = {4, 3};
    double ke, re;
    lsc_prune_figures(sv, 2, 1, &ke, &re);
    ck_assert_double_eq_tol(ke, 16.0 / 25.0, 1e-15);
    ck_assert_double_eq_tol(re, 3.0 / 5.0, 1e-15);
    lsc_prune_figures(sv, 2, 2, &ke, &re);
    ck_assert_double_eq(ke, 1.0);
    ck_assert_double_eq(re, 0.0);
    lsc_prune_figures(sv, 2, 0, &ke, &re);
    ck_assert_double_eq(ke, 0.0);
    ck_assert_double_eq(re, 1.0);
    const double zero[] = {0, 0};
    lsc_prune_figures(zero, 2, 1, &ke, &re);
    ck_assert_double_eq(ke, 1.0);
    ck_assert_double_eq(re, 0.0);
    /* a tiny tail keeps its relative accuracy (total - kept would lose it) */
    const double small[] = {1, 1e-9};
    lsc_prune_figures(small, 2, 1, NULL, &re);
    ck_assert_double_eq_tol(re, 1e-9, 1e-24);
}
END_TEST

START_TEST(scale_rules)
{
    /* kohya: alpha 8, r 16 -> s 0.5; resized to 4 with alpha/r kept: s stays 0.5, alpha_new = 0.5 * 4 = 2 */
    ck_assert_double_eq(lsc_prune_new_scale(LSC_SCALE_KEEP_RATIO, 0.5, 16, 4), 0.5);
    /* alpha 8 kept: s = 8 / 4 = 2 */
    ck_assert_double_eq(lsc_prune_new_scale(LSC_SCALE_KEEP_ALPHA, 0.5, 16, 4), 2.0);
    /* rsLoRA alpha 8 with r 16: s = 8 / 4 = 2; at r 4: 8 / 2 = 4 */
    ck_assert_double_eq_tol(lsc_prune_new_scale(LSC_SCALE_KEEP_ALPHA_RS, 2.0, 16, 4), 4.0, 1e-15);
    ck_assert_double_eq(lsc_prune_new_scale(LSC_SCALE_ONE, 0.5, 16, 4), 1.0);
    ck_assert(isnan(lsc_prune_new_scale(LSC_SCALE_ONE, 0.5, 0, 4)));
    ck_assert(isnan(lsc_prune_new_scale(LSC_SCALE_KEEP_RATIO, 0.5, 16, 0)));
    ck_assert(isnan(lsc_prune_new_scale((lsc_prune_scale)9, 0.5, 16, 2)));
}
END_TEST

/* ---- truncation against a dense reference ---- */

/* s*B*A densely, row-major [rows, cols] */
static double *dense_delta(const lsc_lowrank *lr)
{
    size_t rows = (size_t)lr->rows, cols = (size_t)lr->cols;
    double *d = calloc(rows * cols, sizeof(double));
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < rows; i++)
        for (size_t c = 0; c < cols; c++) {
            double acc = 0.0;
            for (int j = 0; j < lr->r; j++)
                acc += lr->B[i * (size_t)lr->r + (size_t)j] * lr->A[(size_t)j * cols + c];
            d[i * cols + c] = lr->scale * acc;
        }
    return d;
}

/* best rank-k of D [rows, cols] by dgesdd; returns it densely, and the relative error and singular values */
static double *dense_best(const double *D, int rows, int cols, int k, double *rel, double *sv_out)
{
    int mn = rows < cols ? rows : cols;
    double *a = malloc((size_t)rows * cols * sizeof(double)), *s = malloc((size_t)mn * sizeof(double));
    double *u = malloc((size_t)rows * mn * sizeof(double)), *vt = malloc((size_t)mn * cols * sizeof(double));
    memcpy(a, D, (size_t)rows * cols * sizeof(double));
    ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', rows, cols, a, cols, s, u, mn, vt, cols), 0);
    double *out = calloc((size_t)rows * cols, sizeof(double));
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < cols; c++)
            for (int j = 0; j < k; j++)
                out[(size_t)i * cols + c] += u[(size_t)i * mn + j] * s[j] * vt[(size_t)j * cols + c];
    double head = 0, tail = 0;
    for (int j = 0; j < mn; j++)
        *(j < k ? &head : &tail) += s[j] * s[j];
    *rel = head + tail > 0 ? sqrt(tail / (head + tail)) : 0.0;
    if (sv_out)
        memcpy(sv_out, s, (size_t)mn * sizeof(double));
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

static void check_truncation(int rows, int cols, int r, double scale, double new_scale, lsc_workspace *ws)
{
    double *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = scale};
    double *D = dense_delta(&lr);
    const int n = lsc_spectrum_count(&lr);
    for (int k = 1; k <= n; k++) {
        double rel_ref;
        double *best = dense_best(D, rows, cols, k, &rel_ref, NULL);
        double *Bp = malloc((size_t)rows * k * sizeof(double)), *Ap = malloc((size_t)k * cols * sizeof(double));
        lsc_prune_info info = {0};
        lsc_error err = {0};
        ck_assert_msg(lsc_prune_truncate(&lr, k, new_scale, ws, Bp, Ap, &info, &err) == LSC_OK, "%s", err.msg);
        ck_assert_int_eq(info.k, k);
        /* new_scale * B' A' equals the dense best rank-k */
        lsc_lowrank out = {.rows = rows, .cols = cols, .r = k, .B = Bp, .A = Ap, .scale = new_scale};
        double *P = dense_delta(&out);
        double dmax = 0.0, dnorm = fro(D, (size_t)rows * cols);
        for (size_t i = 0; i < (size_t)rows * cols; i++)
            dmax = fmax(dmax, fabs(P[i] - best[i]));
        ck_assert_msg(dmax <= 1e-9 * dnorm, "[%d,%d] r %d k %d: max diff %g vs norm %g", rows, cols, r, k, dmax, dnorm);
        /* the reported error equals the dense truncation error, and the error of the product itself */
        double res = 0;
        for (size_t i = 0; i < (size_t)rows * cols; i++)
            res += (D[i] - P[i]) * (D[i] - P[i]);
        ck_assert_msg(fabs(info.rel_error - rel_ref) <= 1e-9 * fmax(rel_ref, 1e-300) || fabs(info.rel_error - rel_ref) < 1e-12,
                      "k %d: error %.17g vs dense %.17g", k, info.rel_error, rel_ref);
        ck_assert_double_eq_tol(sqrt(res) / dnorm, rel_ref, 1e-9);
        ck_assert_double_eq_tol(info.kept_energy, 1.0 - rel_ref * rel_ref, 1e-12);
        /* balanced: ||B'||_F = ||A'||_F, column j of B' and row j of A' have equal norms */
        double nb = fro(Bp, (size_t)rows * k), na = fro(Ap, (size_t)k * cols);
        ck_assert_double_eq_tol(nb, na, 1e-12 * fmax(nb, 1.0));
        for (int j = 0; j < k; j++) {
            double cb = 0, ra = 0;
            for (int i = 0; i < rows; i++)
                cb += Bp[(size_t)i * k + j] * Bp[(size_t)i * k + j];
            for (int c = 0; c < cols; c++)
                ra += Ap[(size_t)j * cols + c] * Ap[(size_t)j * cols + c];
            ck_assert_double_eq_tol(cb, ra, 1e-12 * fmax(cb, 1.0));
        }
        free(best);
        free(Bp);
        free(Ap);
        free(P);
    }
    free(D);
    free(B);
    free(A);
}

START_TEST(truncation_vs_dense)
{
    rng_state = 11;
    lsc_workspace *ws = lsc_workspace_new();
    check_truncation(30, 20, 6, 0.5, 0.5, ws);    /* kohya keep-ratio convention: s_new = s_old */
    check_truncation(12, 40, 8, 2.0, 2.0 * 8 / 3, ws);
    check_truncation(25, 25, 5, -1.5, 1.0, ws);   /* negative source scale */
    check_truncation(16, 9, 4, 0.25, -3.0, ws);   /* negative target scale goes into B */
    check_truncation(5, 30, 8, 1.0, 1.0, ws);     /* r > rows: n = 5 */
    check_truncation(1, 7, 3, 1.0, 0.1, ws);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(truncation_scale_conventions)
{
    /* same layer, same k, two target scales: the factors differ by sqrt of the scale ratio, the product
     * new_scale * B' A' does not */
    rng_state = 5;
    const int rows = 14, cols = 10, r = 4, k = 2;
    double *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 0.5};
    lsc_workspace *ws = lsc_workspace_new();
    double B1[rows * k], A1[k * cols], B2[rows * k], A2[k * cols];
    lsc_error err = {0};
    double s1 = lsc_prune_new_scale(LSC_SCALE_KEEP_RATIO, 0.5, r, k);
    double s2 = lsc_prune_new_scale(LSC_SCALE_KEEP_ALPHA, 0.5, r, k);
    ck_assert_int_eq(lsc_prune_truncate(&lr, k, s1, ws, B1, A1, NULL, &err), LSC_OK);
    ck_assert_int_eq(lsc_prune_truncate(&lr, k, s2, ws, B2, A2, NULL, &err), LSC_OK);
    const double f = sqrt(s2 / s1); /* = sqrt(2) */
    for (int i = 0; i < rows * k; i++)
        ck_assert_double_eq_tol(B1[i], B2[i] * f, 1e-12);
    for (int i = 0; i < k * cols; i++)
        ck_assert_double_eq_tol(A1[i], A2[i] * f, 1e-12);
    lsc_workspace_free(ws);
    free(B);
    free(A);
}
END_TEST

START_TEST(truncation_zero_layer)
{
    double B[6] = {0}, A[6] = {1, 2, 3, 4, 5, 6};
    lsc_lowrank lr = {.rows = 3, .cols = 3, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_workspace *ws = lsc_workspace_new();
    double Bp[3], Ap[3];
    lsc_prune_info info;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_prune_truncate(&lr, 1, 1.0, ws, Bp, Ap, &info, &err), LSC_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq(Bp[i], 0.0);
        ck_assert_double_eq(Ap[i], 0.0);
    }
    ck_assert_double_eq(info.rel_error, 0.0);
    ck_assert_double_eq(info.kept_energy, 1.0);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(truncation_rejections)
{
    double B[6] = {1, 2, 3, 4, 5, 6}, A[6] = {1, 0, 0, 0, 1, 0};
    lsc_lowrank lr = {.rows = 3, .cols = 3, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_workspace *ws = lsc_workspace_new();
    double Bp[9], Ap[9];
    lsc_error err = {0};
    ck_assert_int_eq(lsc_prune_truncate(&lr, 0, 1.0, ws, Bp, Ap, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_prune_truncate(&lr, 3, 1.0, ws, Bp, Ap, NULL, &err), LSC_ERR_INVALID);
    ck_assert_str_eq(err.msg, "cannot truncate a [3, 3] rank 2 layer to rank 3");
    ck_assert_int_eq(lsc_prune_truncate(&lr, 1, 0.0, ws, Bp, Ap, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_prune_truncate(&lr, 1, NAN, ws, Bp, Ap, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_prune_truncate(&lr, 1, 1.0, ws, NULL, Ap, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_prune_truncate(&lr, 1, 1.0, NULL, Bp, Ap, NULL, &err), LSC_ERR_INVALID);
    B[4] = NAN;
    ck_assert_int_eq(lsc_prune_truncate(&lr, 1, 1.0, ws, Bp, Ap, NULL, &err), LSC_ERR_NUMERIC);
    B[4] = 5;
    lr.scale = INFINITY;
    ck_assert_int_eq(lsc_prune_truncate(&lr, 1, 1.0, ws, Bp, Ap, NULL, &err), LSC_ERR_NUMERIC);
    lsc_lowrank empty = {.rows = 3, .cols = 3, .r = 0, .scale = 1.0};
    ck_assert_int_eq(lsc_prune_truncate(&empty, 1, 1.0, ws, Bp, Ap, NULL, &err), LSC_ERR_INVALID);
    lsc_workspace_free(ws);
}
END_TEST

/* the chosen rank and the truncation agree with the dense picture end to end */
START_TEST(select_then_truncate)
{
    rng_state = 99;
    const int rows = 20, cols = 15, r = 6;
    double *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 1.0};
    double *D = dense_delta(&lr);
    double sv_dense[15], rel;
    free(dense_best(D, rows, cols, 1, &rel, sv_dense));
    double sv[6];
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    ck_assert_int_eq(lsc_spectrum(&lr, ws, sv, NULL, NULL, &err), LSC_OK);
    int k = sel(sv, 6, LSC_RANK_ENERGY, 0.9);
    /* independent: the smallest prefix of the dense spectrum with >= 90% of the energy */
    double tot = 0, acc = 0;
    for (int i = 0; i < 15; i++)
        tot += sv_dense[i] * sv_dense[i];
    int kd = 0;
    while (acc < 0.9 * tot)
        acc += sv_dense[kd] * sv_dense[kd], kd++;
    ck_assert_int_eq(k, kd);
    double Bp[20 * 6], Ap[6 * 15];
    lsc_prune_info info;
    ck_assert_int_eq(lsc_prune_truncate(&lr, k, 1.0, ws, Bp, Ap, &info, &err), LSC_OK);
    ck_assert(info.kept_energy >= 0.9);
    lsc_workspace_free(ws);
    free(D);
    free(B);
    free(A);
}
END_TEST

static Suite *prune_suite(void)
{
    Suite *s = suite_create("prune");
    TCase *t = tcase_create("rules");
    tcase_add_test(t, energy_exact_threshold);
    tcase_add_test(t, fro_exact_threshold);
    tcase_add_test(t, cumulative_exact_threshold);
    tcase_add_test(t, ratio_exact_threshold);
    tcase_add_test(t, fixed_and_clamps);
    tcase_add_test(t, rule_rejections);
    tcase_add_test(t, rule_names);
    tcase_add_test(t, budget_cases);
    tcase_add_test(t, budget_prefix_and_small_first);
    tcase_add_test(t, budget_rejections);
    tcase_add_test(t, figures_hand_worked);
    tcase_add_test(t, scale_rules);
    suite_add_tcase(s, t);
    TCase *tr = tcase_create("truncate");
    tcase_set_timeout(tr, 120);
    tcase_add_test(tr, truncation_vs_dense);
    tcase_add_test(tr, truncation_scale_conventions);
    tcase_add_test(tr, truncation_zero_layer);
    tcase_add_test(tr, truncation_rejections);
    tcase_add_test(tr, select_then_truncate);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(prune_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
