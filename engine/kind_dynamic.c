/* kind_dynamic.c: DyLoRA prefix adapters and how nested a layer is (see kinds.h).
 *
 * The figures come from the QR cores of the factors, never from B*A:
 *   B = Qb Rb (Rb [kb, r], kb = min(rows, r)),  A^T = Qa Ra (Ra [ka, r], ka = min(cols, r)),
 *   B[:, :b] A[:b, :] = Qb P_b Qa^T with P_b = sum_{i<b} Rb[:, i] Ra[:, i]^T  [kb, ka],
 * and Qb, Qa have orthonormal columns, so ||s_b B_b A_b - s_r B A||_F = s_r ||c_b P_b - P_r||_F with
 * c_b = s_b / s_r. P_b is accumulated one rank-1 term at a time and the full core is accumulated the same
 * way in the same order, so the b = r error is exactly 0. The singular values of P_r (a small dgesdd) give
 * the best rank-b errors. Workspace: slots LSC_WS_CALLER_FIRST..+3 (no lsc_spectrum call here).
 * Pure compute; never prints; depends on BLAS/LAPACKE and prune.c (lsc_prune_figures) only.
 */
#include "kinds.h"

#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kind_internal.h"
#include "prune.h"

enum {
    WS_BQ = LSC_WS_CALLER_FIRST, /* B copied column-major [rows, r], then its QR */
    WS_AQ,                       /* A^T column-major [cols, r], then its QR */
    WS_SMALL,                    /* tau_b, tau_a, Rb, Ra, full core, prefix core, core copy, sv */
    WS_WORK,                     /* LAPACK work + dgesdd integer work */
};
_Static_assert(WS_WORK < LSC_WS_SLOTS, "dylora must stay inside the workspace");

static bool rule_valid(lsc_dylora_scale rule)
{
    return rule == LSC_DYLORA_ALPHA_B || rule == LSC_DYLORA_ALPHA_R || rule == LSC_DYLORA_KOHYA_TRAIN;
}

/* s_b / s_r, exactly 1 at b = r */
static double prefix_ratio(lsc_dylora_scale rule, int r, int b)
{
    switch (rule) {
    case LSC_DYLORA_ALPHA_B:
        return (double)r / (double)b;
    case LSC_DYLORA_ALPHA_R:
        return 1.0;
    case LSC_DYLORA_KOHYA_TRAIN:
        return sqrt((double)r / (double)b);
    }
    return NAN;
}

double lsc_dylora_prefix_scale(lsc_dylora_scale rule, double alpha, int r, int b)
{
    if (!rule_valid(rule) || r < 1 || b < 1 || b > r || !isfinite(alpha))
        return NAN;
    switch (rule) {
    case LSC_DYLORA_ALPHA_B:
        return alpha / (double)b;
    case LSC_DYLORA_ALPHA_R:
        return alpha / (double)r;
    case LSC_DYLORA_KOHYA_TRAIN:
        return alpha / (double)r * sqrt((double)r / (double)b);
    }
    return NAN;
}

/* Copy row-major src [m, k] into column-major dst [m, k]; false when an entry is not finite. */
static bool copy_to_colmajor(const double *restrict src, int m, int k, double *restrict dst)
{
    bool ok = true;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < k; j++) {
            double x = src[(size_t)i * k + j];
            ok &= isfinite(x) != 0;
            dst[(size_t)j * m + i] = x;
        }
    return ok;
}

/* R of an in-place dgeqrf result a [m, k] (lda m) into r_out [kr, k] column-major, zeros below. */
static void extract_r(const double *a, int m, int k, int kr, double *r_out)
{
    for (int j = 0; j < k; j++)
        for (int i = 0; i < kr; i++)
            r_out[i + (size_t)j * kr] = i <= j ? a[i + (size_t)j * m] : 0.0;
}

/* acc [kb, ka] (column-major) += rb[:, i] ra[:, i]^T */
static void add_term(double *acc, const double *rb, int kb, const double *ra, int ka, int i)
{
    const double *x = rb + (size_t)i * kb, *y = ra + (size_t)i * ka;
    for (int q = 0; q < ka; q++)
        for (int p = 0; p < kb; p++)
            acc[p + (size_t)q * kb] += x[p] * y[q];
}

lsc_status lsc_dylora_prefix_errors(const lsc_lowrank *lr, lsc_dylora_scale rule, lsc_workspace *ws, double *prefix_err,
                                    double *best_err, lsc_error *err)
{
    lsc_status st = LSC_OK;

    if (!lr || !ws || !prefix_err || !best_err)
        return lsc_error_set(err, LSC_ERR_INVALID, "dylora errors need a layer, a workspace and two outputs");
    if (!rule_valid(rule))
        return lsc_error_set(err, LSC_ERR_INVALID, "unknown dylora scale rule %d", (int)rule);
    if (lr->r < 1 || lr->rows < 0 || lr->cols < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid dylora layer [%lld, %lld] with rank %d",
                             (long long)lr->rows, (long long)lr->cols, lr->r);
    if (lr->rows > INT_MAX || lr->cols > INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "layer shape [%lld, %lld] exceeds what lapack can index",
                             (long long)lr->rows, (long long)lr->cols);
    if ((lr->rows > 0 && !lr->B) || (lr->cols > 0 && !lr->A))
        return lsc_error_set(err, LSC_ERR_INVALID, "layer factor missing");

    const int rows = (int)lr->rows, cols = (int)lr->cols, r = lr->r;
    if (rows == 0 || cols == 0) {
        /* an empty delta: every prefix is exact */
        if (!kind_all_finite(lr->B, (size_t)rows * r) || !kind_all_finite(lr->A, (size_t)r * cols))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the layer factors");
        for (int b = 0; b < r; b++)
            prefix_err[b] = best_err[b] = 0.0;
        return LSC_OK;
    }

    const int kb = rows < r ? rows : r, ka = cols < r ? cols : r, n = kb < ka ? kb : ka;
    const size_t core = (size_t)kb * ka;
    double *bq = lsc_workspace_get(ws, WS_BQ, (size_t)rows * r);
    double *aq = lsc_workspace_get(ws, WS_AQ, (size_t)cols * r);
    double *small = lsc_workspace_get(ws, WS_SMALL, (size_t)kb + ka + (size_t)kb * r + (size_t)ka * r + 3 * core + n);
    if (!bq || !aq || !small) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a [%d, %d] rank %d dylora layer", rows, cols, r);
        goto out;
    }
    double *tau_b = small, *tau_a = tau_b + kb, *rb = tau_a + ka, *ra = rb + (size_t)kb * r;
    double *full = ra + (size_t)ka * r, *pre = full + core, *copy = pre + core, *sv = copy + core;

    if (!copy_to_colmajor(lr->B, rows, r, bq)) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in factor 'B'");
        goto out;
    }
    if (!kind_all_finite(lr->A, (size_t)r * cols)) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in factor 'A'");
        goto out;
    }
    memcpy(aq, lr->A, sizeof(double) * (size_t)r * cols); /* row-major A [r, cols] = column-major A^T */

    double q = 0.0, lwork_d = 1.0, dummy = 0.0;
    lapack_int info;
    lapack_int iwork_q[1];
    info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, rows, r, bq, rows, tau_b, &q, -1);
    if (info == 0 && q > lwork_d)
        lwork_d = q;
    info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, cols, r, aq, cols, tau_a, &q, -1);
    if (info == 0 && q > lwork_d)
        lwork_d = q;
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'N', kb, ka, copy, kb, sv, &dummy, 1, &dummy, 1, &q, -1, iwork_q);
    if (info == 0 && q > lwork_d)
        lwork_d = q;
    if (lwork_d > (double)INT_MAX / 2) {
        st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "lapack work size too large for a [%d, %d] layer", rows, cols);
        goto out;
    }
    const lapack_int lwork = (lapack_int)lwork_d;
    const size_t n_iwork = ((size_t)8 * n * sizeof(lapack_int) + sizeof(double) - 1) / sizeof(double);
    double *work = lsc_workspace_get(ws, WS_WORK, (size_t)lwork + n_iwork);
    if (!work) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for lapack work");
        goto out;
    }
    lapack_int *iwork = (lapack_int *)(void *)(work + lwork);

    info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, rows, r, bq, rows, tau_b, work, lwork);
    if (info == 0)
        info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, cols, r, aq, cols, tau_a, work, lwork);
    if (info != 0) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "qr factorisation failed (lapack info %d)", (int)info);
        goto out;
    }
    extract_r(bq, rows, r, kb, rb);
    extract_r(aq, cols, r, ka, ra);

    /* the full core, accumulated exactly as the prefixes will be */
    memset(full, 0, sizeof(double) * core);
    for (int i = 0; i < r; i++)
        add_term(full, rb, kb, ra, ka, i);
    if (!kind_all_finite(full, core)) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "overflow in the factored product of a [%d, %d] layer", rows, cols);
        goto out;
    }
    memcpy(copy, full, sizeof(double) * core);
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'N', kb, ka, copy, kb, sv, &dummy, 1, &dummy, 1, work, lwork, iwork);
    if (info != 0) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "svd of the %dx%d core failed (lapack info %d)", kb, ka, (int)info);
        goto out;
    }
    const double norm_full = sqrt(kind_sum_squares(full, core));

    memset(pre, 0, sizeof(double) * core);
    for (int b = 1; b <= r; b++) {
        add_term(pre, rb, kb, ra, ka, b - 1);
        const double c = prefix_ratio(rule, r, b);
        double e2 = 0.0, p2 = 0.0;
        for (size_t i = 0; i < core; i++) {
            double d = c * pre[i] - full[i];
            e2 += d * d;
            p2 += pre[i] * pre[i];
        }
        if (norm_full > 0.0)
            prefix_err[b - 1] = sqrt(e2) / norm_full;
        else
            prefix_err[b - 1] = p2 > 0.0 ? INFINITY : 0.0;
        double kept = 0.0;
        lsc_prune_figures(sv, n, b < n ? b : n, &kept, &best_err[b - 1]);
    }

out:
    return st;
}

lsc_status lsc_dylora_prefix(const lsc_lowrank *lr, int b, double alpha, lsc_dylora_scale rule, double *B_out,
                             double *A_out, double *scale_out, lsc_error *err)
{
    if (!lr || !B_out || !A_out || !scale_out)
        return lsc_error_set(err, LSC_ERR_INVALID, "dylora prefix needs a layer and three outputs");
    if (!rule_valid(rule))
        return lsc_error_set(err, LSC_ERR_INVALID, "unknown dylora scale rule %d", (int)rule);
    if (lr->r < 1 || lr->rows < 0 || lr->cols < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid dylora layer [%lld, %lld] with rank %d",
                             (long long)lr->rows, (long long)lr->cols, lr->r);
    if (b < 1 || b > lr->r)
        return lsc_error_set(err, LSC_ERR_INVALID, "prefix rank %d outside 1..%d", b, lr->r);
    if (!isfinite(alpha) || alpha == 0.0)
        return lsc_error_set(err, LSC_ERR_INVALID, "alpha %g must be finite and non-zero", alpha);
    if ((lr->rows > 0 && !lr->B) || (lr->cols > 0 && !lr->A))
        return lsc_error_set(err, LSC_ERR_INVALID, "layer factor missing");

    const int64_t rows = lr->rows, cols = lr->cols;
    const int r = lr->r;
    for (int64_t i = 0; i < rows; i++)
        memcpy(B_out + (size_t)i * b, lr->B + (size_t)i * r, sizeof(double) * (size_t)b);
    if (cols > 0)
        memcpy(A_out, lr->A, sizeof(double) * (size_t)b * (size_t)cols);
    if (!kind_all_finite(B_out, (size_t)rows * b) || !kind_all_finite(A_out, (size_t)b * (size_t)cols))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the first %d ranks of the layer", b);
    *scale_out = lsc_dylora_prefix_scale(rule, alpha, r, b);
    return LSC_OK;
}
