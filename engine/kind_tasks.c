/* kind_tasks.c: several task layers over one base: their similarity, the input subspace they share, and
 * one shared A with a B per task (see kinds.h).
 *
 * Everything comes from the factors: inner products by the trace form s_i s_j sum((B_i^T B_j) .* (A_i A_j^T)),
 * subspaces from lsc_spectrum's right singular vectors, the shared A from the spectrum of the small layer
 * blockdiag(s_t R_t) [A_1; ...; A_T] (R_t the QR factor of B_t), never from a dense or stacked delta.
 * Workspace: lsc_spectrum's slots 0-7 plus the caller slots listed below. Pure compute; never prints;
 * depends on spectrum.c, kind_common.c and BLAS/LAPACKE only.
 */
#include "kinds.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kind_internal.h"
#include "spectrum.h"

enum {
    WS_T0 = LSC_WS_CALLER_FIRST, /* accumulate: B_i^T B_j; shared_dim: V_t; factor_shared: blockdiag(s_t R_t) */
    WS_T1,                       /* accumulate: A_i A_j^T; shared_dim: running basis; factor_shared: [A_1; ...] */
    WS_T2,                       /* accumulate: local Gram; shared_dim: next basis; factor_shared: V */
    WS_T3,                       /* shared_dim: small matrices; factor_shared: sv and A_t A_shared^T */
    WS_T4,                       /* LAPACK work; factor_shared: QR copies, then residual factors */
    WS_T5,                       /* factor_shared: tau + LAPACK work */
};
_Static_assert(WS_T5 < LSC_WS_SLOTS - 1, "tasks must leave the last slot to lsc_kinds_fro_norm");

/* Common checks of T task views: count, shapes, factors present. Finiteness is left to the callers
 * (lsc_spectrum checks it where it runs). */
static lsc_status check_tasks(const lsc_lowrank *views, int T, lsc_error *err)
{
    if (!views)
        return lsc_error_set(err, LSC_ERR_INVALID, "no task layers given");
    if (T < 2)
        return lsc_error_set(err, LSC_ERR_INVALID, "need at least 2 tasks, got %d", T);
    const int64_t rows = views[0].rows, cols = views[0].cols;
    for (int t = 0; t < T; t++) {
        const lsc_lowrank *v = &views[t];
        if (v->rows != rows || v->cols != cols)
            return lsc_error_set(err, LSC_ERR_INVALID, "task %d: shape [%lld, %lld] differs from task 0's [%lld, %lld]",
                                 t, (long long)v->rows, (long long)v->cols, (long long)rows, (long long)cols);
        if (v->rows < 0 || v->cols < 0 || v->r < 0)
            return lsc_error_set(err, LSC_ERR_INVALID, "task %d: invalid shape [%lld, %lld] with rank %d", t,
                                 (long long)v->rows, (long long)v->cols, v->r);
        if (v->r > 0 && ((v->rows > 0 && !v->B) || (v->cols > 0 && !v->A)))
            return lsc_error_set(err, LSC_ERR_INVALID, "task %d: layer factor missing", t);
    }
    if (rows > INT_MAX || cols > INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "layer shape [%lld, %lld] exceeds what lapack can index",
                             (long long)rows, (long long)cols);
    return LSC_OK;
}

lsc_status lsc_tasks_accumulate(const lsc_lowrank *views, int T, lsc_workspace *ws, double *G, lsc_error *err)
{
    if (!ws || !G)
        return lsc_error_set(err, LSC_ERR_INVALID, "gram accumulation needs a workspace and an output");
    lsc_status st = check_tasks(views, T, err);
    if (st != LSC_OK)
        return st;
    const int rows = (int)views[0].rows, cols = (int)views[0].cols;
    int rmax = 0;
    for (int t = 0; t < T; t++) {
        const lsc_lowrank *v = &views[t];
        if (!isfinite(v->scale))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "task %d: non-finite scale %g", t, v->scale);
        if (!kind_all_finite(v->B, (size_t)rows * v->r) || !kind_all_finite(v->A, (size_t)v->r * cols))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "task %d: non-finite entries in the layer factors", t);
        if (v->r > rmax)
            rmax = v->r;
    }
    double *gb = lsc_workspace_get(ws, WS_T0, (size_t)rmax * rmax + 1);
    double *ga = lsc_workspace_get(ws, WS_T1, (size_t)rmax * rmax + 1);
    double *loc = lsc_workspace_get(ws, WS_T2, (size_t)T * T);
    if (!gb || !ga || !loc)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a %d-task gram matrix", T);
    for (int i = 0; i < T; i++)
        for (int j = i; j < T; j++) {
            const lsc_lowrank *x = &views[i], *y = &views[j];
            double tr = 0.0;
            if (x->r > 0 && y->r > 0 && rows > 0 && cols > 0) {
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, x->r, y->r, rows, 1.0, x->B, x->r, y->B, y->r,
                            0.0, gb, y->r);
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, x->r, y->r, cols, 1.0, x->A, cols, y->A, cols,
                            0.0, ga, y->r);
                for (size_t e = 0; e < (size_t)x->r * y->r; e++)
                    tr += gb[e] * ga[e];
            }
            loc[(size_t)i * T + j] = loc[(size_t)j * T + i] = x->scale * y->scale * tr;
        }
    if (!kind_all_finite(loc, (size_t)T * T))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "overflow in the task inner products");
    for (size_t e = 0; e < (size_t)T * T; e++)
        G[e] += loc[e];
    return LSC_OK;
}

lsc_status lsc_tasks_cosine_from_gram(const double *G, int T, double *C, double *norms, lsc_error *err)
{
    if (!G || !C)
        return lsc_error_set(err, LSC_ERR_INVALID, "cosines need a gram matrix and an output");
    if (T < 2)
        return lsc_error_set(err, LSC_ERR_INVALID, "need at least 2 tasks, got %d", T);
    if (!kind_all_finite(G, (size_t)T * T))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the gram matrix");
    for (int i = 0; i < T; i++)
        if (G[(size_t)i * T + i] < 0.0)
            return lsc_error_set(err, LSC_ERR_NUMERIC, "negative squared norm %g of task %d", G[(size_t)i * T + i], i);
    for (int i = 0; i < T; i++) {
        const double ni = sqrt(G[(size_t)i * T + i]);
        if (norms)
            norms[i] = ni;
        for (int j = 0; j < T; j++) {
            const double nj = sqrt(G[(size_t)j * T + j]);
            double c;
            if (ni > 0.0 && nj > 0.0) {
                c = G[(size_t)i * T + j] / (ni * nj);
                c = c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
            } else {
                c = (ni == 0.0 && nj == 0.0) ? 1.0 : 0.0;
            }
            C[(size_t)i * T + j] = c;
        }
    }
    return LSC_OK;
}

lsc_status lsc_tasks_cosine_matrix(const lsc_lowrank *views, int T, lsc_workspace *ws, double *C, double *norms,
                                   lsc_error *err)
{
    if (!C || !ws)
        return lsc_error_set(err, LSC_ERR_INVALID, "cosines need a workspace and an output");
    if (T < 2)
        return lsc_error_set(err, LSC_ERR_INVALID, "need at least 2 tasks, got %d", T);
    /* the Gram matrix lives in a slot lsc_tasks_accumulate does not use */
    double *g = lsc_workspace_get(ws, WS_T3, (size_t)T * T);
    if (!g)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a %d-task gram matrix", T);
    memset(g, 0, sizeof(double) * (size_t)T * T);
    lsc_status st = lsc_tasks_accumulate(views, T, ws, g, err);
    if (st != LSC_OK)
        return st;
    return lsc_tasks_cosine_from_gram(g, T, C, norms, err);
}

/* Singular values and vectors of the column-major m x n matrix a (destroyed): s [min], U [m, min] (ld m),
 * VT [min, n] (ld min), with LAPACK work from `slot`. */
static lsc_status small_svd(lsc_workspace *ws, int slot, int m, int n, double *a, double *s, double *u, double *vt,
                            lsc_error *err)
{
    const int mn = m < n ? m : n;
    double q = 0.0;
    lapack_int idummy[1];
    lapack_int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, a, m, s, u, m, vt, mn, &q, -1, idummy);
    const size_t lwork = info == 0 && q > 1.0 ? (size_t)q : 1;
    const size_t n_iwork = ((size_t)8 * mn * sizeof(lapack_int) + sizeof(double) - 1) / sizeof(double);
    double *work = lsc_workspace_get(ws, slot, lwork + n_iwork);
    if (!work)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a %dx%d svd", m, n);
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, a, m, s, u, m, vt, mn, work, (lapack_int)lwork,
                               (lapack_int *)(void *)(work + lwork));
    if (info != 0)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "svd of a %dx%d subspace product failed (lapack info %d)", m, n,
                             (int)info);
    return LSC_OK;
}

lsc_status lsc_tasks_shared_dim(const lsc_lowrank *views, int T, double tau, lsc_workspace *ws, int *dim,
                                double *cosines_out, lsc_error *err)
{
    if (!ws || !dim)
        return lsc_error_set(err, LSC_ERR_INVALID, "shared dimension needs a workspace and an output");
    lsc_status st = check_tasks(views, T, err);
    if (st != LSC_OK)
        return st;
    if (!(tau > 0.0 && tau <= 1.0))
        return lsc_error_set(err, LSC_ERR_INVALID, "tau must be in (0, 1], not %g", tau);

    const int cols = (int)views[0].cols;
    int nmax = 0, rmin = views[0].r;
    for (int t = 0; t < T; t++) {
        int n = lsc_spectrum_count(&views[t]);
        if (n > nmax)
            nmax = n;
        if (views[t].r < rmin)
            rmin = views[t].r;
    }
    if (cosines_out)
        for (int i = 0; i < rmin; i++)
            cosines_out[i] = 0.0;

    /* every buffer at its final size before any is filled (growing a slot loses its contents) */
    const size_t nm = (size_t)(nmax > 0 ? nmax : 1);
    double *v = lsc_workspace_get(ws, WS_T0, (size_t)cols * nm);
    double *s = lsc_workspace_get(ws, WS_T1, (size_t)cols * nm);
    double *s2 = lsc_workspace_get(ws, WS_T2, (size_t)cols * nm);
    double *small = lsc_workspace_get(ws, WS_T3, nm + 4 * nm * nm + nm);
    if (!v || !s || !s2 || !small)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the shared subspace of %d tasks", T);
    double *sv = small, *mm = sv + nm, *uc = mm + nm * nm, *vtc = uc + nm * nm, *cs = vtc + nm * nm;
    const double cut = tau * (1.0 - 1e-12);

    int ks = 0;
    for (int t = 0; t < T; t++) {
        const int n = lsc_spectrum_count(&views[t]);
        st = lsc_spectrum(&views[t], ws, sv, NULL, v, err);
        if (st != LSC_OK) {
            lsc_error_prefix(err, "task %d", t);
            return st;
        }
        const int kt = kind_count_carrying(sv, n);
        if (t == 0) {
            for (int i = 0; i < cols; i++)
                memcpy(s + (size_t)i * kt, v + (size_t)i * n, sizeof(double) * (size_t)kt);
            ks = kt;
            continue;
        }
        if (ks == 0 || kt == 0) {
            ks = 0;
            continue;
        }
        /* M = S^T V_t [ks, kt] row-major = column-major M^T [kt, ks] = Z diag(c) Y^T */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ks, kt, cols, 1.0, s, ks, v, n, 0.0, mm, kt);
        const int m = ks < kt ? ks : kt;
        st = small_svd(ws, WS_T4, kt, ks, mm, cs, uc, vtc, err);
        if (st != LSC_OK)
            return st;
        int d = 0;
        while (d < m && cs[d] >= cut)
            d++;
        if (t == T - 1 && cosines_out)
            for (int i = 0; i < m; i++)
                cosines_out[i] = cs[i] > 1.0 ? 1.0 : cs[i];
        if (d > 0) {
            /* S2 = S Y[:, :d] + V_t Z[:, :d]; vtc is row-major Y [ks, m], uc row-major Z^T [m, kt] */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cols, d, ks, 1.0, s, ks, vtc, m, 0.0, s2, d);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cols, d, kt, 1.0, v, n, uc, kt, 1.0, s2, d);
            for (int i = 0; i < d; i++) {
                const double f = 1.0 / sqrt(2.0 * (1.0 + cs[i]));
                for (int j = 0; j < cols; j++)
                    s2[(size_t)j * d + i] *= f;
            }
            double *tmp = s;
            s = s2;
            s2 = tmp;
        }
        ks = d;
    }
    *dim = ks;
    return LSC_OK;
}

int lsc_tasks_shared_max_k(const lsc_lowrank *views, int T)
{
    if (!views || T < 2)
        return 0;
    int64_t sum_r = 0, sum_k = 0;
    for (int t = 0; t < T; t++) {
        if (views[t].rows != views[0].rows || views[t].cols != views[0].cols || views[t].r < 0 || views[t].rows < 0 ||
            views[t].cols < 0)
            return 0;
        sum_r += views[t].r;
        sum_k += views[t].rows < views[t].r ? views[t].rows : views[t].r;
    }
    int64_t k = views[0].cols;
    if (sum_r < k)
        k = sum_r;
    if (sum_k < k)
        k = sum_k;
    return k > INT_MAX ? INT_MAX : (int)k;
}

lsc_status lsc_tasks_factor_shared(const lsc_lowrank *views, int T, int k, lsc_workspace *ws, double *A_shared,
                                   double *const *B_task, double *rel_err, lsc_error *err)
{
    if (!ws || !A_shared || !B_task)
        return lsc_error_set(err, LSC_ERR_INVALID, "shared factorisation needs a workspace and outputs");
    lsc_status st = check_tasks(views, T, err);
    if (st != LSC_OK)
        return st;
    for (int t = 0; t < T; t++)
        if (!B_task[t])
            return lsc_error_set(err, LSC_ERR_INVALID, "task %d: no output for its B", t);
    const int kmax = lsc_tasks_shared_max_k(views, T);
    if (k < 1 || k > kmax)
        return lsc_error_set(err, LSC_ERR_INVALID, "shared rank %d outside 1..%d (the rank the tasks can span)", k,
                             kmax);

    const int rows = (int)views[0].rows, cols = (int)views[0].cols;
    int rsum = 0, ksum = 0, rmax = 0;
    for (int t = 0; t < T; t++) {
        const lsc_lowrank *v = &views[t];
        if (!isfinite(v->scale))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "task %d: non-finite scale %g", t, v->scale);
        rsum += v->r;
        ksum += rows < v->r ? rows : v->r;
        if (v->r > rmax)
            rmax = v->r;
    }
    const int n = kmax; /* = lsc_spectrum_count of the small layer below */
    double *bd = lsc_workspace_get(ws, WS_T0, (size_t)ksum * rsum);
    double *ac = lsc_workspace_get(ws, WS_T1, (size_t)rsum * cols);
    double *vv = lsc_workspace_get(ws, WS_T2, (size_t)cols * n);
    double *small = lsc_workspace_get(ws, WS_T3, (size_t)n + (size_t)rmax * k);
    size_t big = (size_t)rows * rmax > (size_t)rmax * cols ? (size_t)rows * rmax : (size_t)rmax * cols;
    double *qr = lsc_workspace_get(ws, WS_T4, big + 1);
    if (!bd || !ac || !vv || !small || !qr)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a shared A over %d tasks", T);
    double *sv = small, *g = sv + n;
    memset(bd, 0, sizeof(double) * (size_t)ksum * rsum);

    /* blockdiag(s_t R_t) [ksum, rsum] and [A_1; ...; A_T] [rsum, cols] */
    int off_k = 0, off_r = 0;
    for (int t = 0; t < T; t++) {
        const lsc_lowrank *v = &views[t];
        const int r = v->r, kt = rows < r ? rows : r;
        if (r == 0)
            continue;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < r; j++)
                qr[(size_t)j * rows + i] = v->B[(size_t)i * r + j];
        if (!kind_all_finite(qr, (size_t)rows * r) || !kind_all_finite(v->A, (size_t)r * cols))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "task %d: non-finite entries in the layer factors", t);
        if (kt > 0) {
            double q = 0.0, tau_q[1];
            lapack_int info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, rows, r, qr, rows, tau_q, &q, -1);
            const size_t lwork = info == 0 && q > 1.0 ? (size_t)q : 1;
            double *work = lsc_workspace_get(ws, WS_T5, (size_t)r + lwork);
            if (!work)
                return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for lapack work");
            info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, rows, r, qr, rows, work, work + r, (lapack_int)lwork);
            if (info != 0)
                return lsc_error_set(err, LSC_ERR_NUMERIC, "task %d: qr factorisation failed (lapack info %d)", t,
                                     (int)info);
            for (int i = 0; i < kt; i++)
                for (int j = i; j < r; j++)
                    bd[(size_t)(off_k + i) * rsum + off_r + j] = v->scale * qr[(size_t)j * rows + i];
        }
        memcpy(ac + (size_t)off_r * cols, v->A, sizeof(double) * (size_t)r * cols);
        off_k += kt;
        off_r += r;
    }

    lsc_lowrank stacked = {.rows = ksum, .cols = cols, .r = rsum, .B = bd, .A = ac, .scale = 1.0};
    st = lsc_spectrum(&stacked, ws, sv, NULL, vv, err);
    if (st != LSC_OK) {
        lsc_error_prefix(err, "stacked tasks");
        return st;
    }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < cols; j++)
            A_shared[(size_t)i * cols + j] = vv[(size_t)j * n + i];

    for (int t = 0; t < T; t++) {
        const lsc_lowrank *v = &views[t];
        const int r = v->r;
        if (r == 0) {
            memset(B_task[t], 0, sizeof(double) * (size_t)rows * k);
            if (rel_err)
                rel_err[t] = 0.0;
            continue;
        }
        /* G = A_t A_shared^T [r, k]; B_task = s_t B_t G */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, k, cols, 1.0, v->A, cols, A_shared, cols, 0.0, g, k);
        if (rows > 0)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, k, r, v->scale, v->B, r, g, k, 0.0, B_task[t],
                        k);
        if (!rel_err)
            continue;
        /* residual layer s_t B_t (A_t - G A_shared) */
        memcpy(qr, v->A, sizeof(double) * (size_t)r * cols);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, cols, k, -1.0, g, k, A_shared, cols, 1.0, qr, cols);
        lsc_lowrank res = *v;
        res.A = qr;
        double nres = 0.0, nt = 0.0;
        st = lsc_kinds_fro_norm(&res, ws, &nres, err);
        if (st == LSC_OK)
            st = lsc_kinds_fro_norm(v, ws, &nt, err);
        if (st != LSC_OK) {
            lsc_error_prefix(err, "task %d", t);
            return st;
        }
        rel_err[t] = kind_rel(nres, nt);
    }
    return LSC_OK;
}
