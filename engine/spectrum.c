/* spectrum.c: singular values and vectors of s*B*A from the factors (see spectrum.h).
 *
 * The inputs are row-major; LAPACK is column-major. A row-major A [r, cols] already is a column-major
 * A^T [cols, r], so it is copied as is; B [rows, r] is transposed while copied. Both copies are needed
 * anyway (dgeqrf works in place and the factors are const), and the finiteness check rides along with
 * them so that no extra pass over the factors is spent on it.
 *
 * Orthogonalisation is blocked Householder QR in compact-WY form (LAPACK dgeqrt, whose panels are the
 * recursive, Level-3 dgeqrt3): dgeqrf's Level-2 panels (dlarf: a dgemv and a dger per column) took over
 * half of a 70B-shaped prune at r=64. Q is never formed: dgemqrt applies it straight to the small
 * singular vectors, which also saves the product Q * Uc.
 *
 *   B = Qb Rb   (Qb [rows, kb], Rb [kb, r], kb = min(rows, r); Rb upper trapezoidal when r > rows)
 *   A^T = Qa Ra (Qa [cols, ka], Ra [ka, r], ka = min(cols, r))
 *   B A = Qb (Rb Ra^T) Qa^T, core C = Rb Ra^T [kb, ka] = Uc S Vc^T, n = min(kb, ka) values
 *   s B A = (sign(s) Qb Uc) (|s| S) (Qa Vc)^T
 *
 * Gram path first. The Householder QR reads each tall factor about three times (copy, factorisation,
 * applying Q) at Level-2/3 speed; a Gram matrix G = B^T B is one dsyrk, about 3x faster at 28k x 128. With
 * R = chol(G), B = Q R holds with Q = B R^{-1} (never formed), so
 *   s B A = sign(s) (B Rb^{-1} Uc) (|s| S) (A^T Ra^{-1} Vc)^T,  Rb Ra^T = Uc S Vc^T,
 * and the vectors cost one triangular solve on the small Uc and one dgemm over the factor. This is exact
 * but for the non-orthogonality of Q, |Q^T Q - I| ~ eps kappa^2 with kappa the condition of B with its
 * columns scaled to unit norm (rounding in G and in dpotrf is relative to the column norms): a
 * multiplicative perturbation, so every singular value keeps a relative error of that order. The path is
 * taken only when that is small: both sides at least R long, G finite and positive definite to dpotrf,
 * and the scaled Cholesky factor's reciprocal condition (dtrcon, 1-norm) at least GRAM_MIN_RCOND_DEFAULT
 * (kappa <= 10: measured at 28672 x 128, singular values within 2e-13 relative and orthonormality within
 * 3e-13 of the Householder path; at kappa ~ 100 it was 3e-11); everything else (rank-deficient, zero, duplicated, badly scaled or non-finite
 * factors) takes the Householder path unchanged. Both paths are deterministic and single-threaded inside a
 * worker. The Gram path also takes stacked factors [c_1 B_1, ...] from their pieces (the merges), so the
 * concatenation is never copied.
 *
 * All scratch memory comes from the workspace slots LSC_WS_SPECTRUM_FIRST.. (see workspace.h), and the
 * LAPACKE *_work entry points are used so that LAPACKE allocates nothing either: after the first layer of
 * a given size, a call performs no allocation. Pure compute; never prints; depends on BLAS/LAPACKE only.
 */
#include "spectrum.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

enum {
    WS_B = LSC_WS_SPECTRUM_FIRST, /* B^T copy, column-major [rows, r]; later Qb */
    WS_A,                         /* A^T copy, column-major [cols, r]; later Qa */
    WS_SMALL,                     /* T factors, Rb, Ra, core, Uc, Vc^T */
    WS_WORK,                      /* LAPACK work */
    WS_IWORK,                     /* dgesdd integer work */
};
_Static_assert(WS_IWORK < LSC_WS_CALLER_FIRST, "spectrum must stay inside its workspace slots");

int lsc_spectrum_count(const lsc_lowrank *lr)
{
    if (!lr || lr->r <= 0 || lr->rows <= 0 || lr->cols <= 0)
        return 0;
    int64_t n = lr->r;
    if (lr->rows < n)
        n = lr->rows;
    if (lr->cols < n)
        n = lr->cols;
    return (int)n;
}

/* Copy row-major src [m, k] into column-major dst [m, k] (leading dimension m). Returns true when every
 * entry is finite. Rows are taken in blocks so that each written column gets a run of stores. */
static bool copy_transposed(const double *restrict src, int64_t m, int k, double *restrict dst)
{
    enum { BLK = 8 };
    bool ok = true;
    int64_t i0 = 0;
    for (; i0 + BLK <= m; i0 += BLK) {
        for (int j = 0; j < k; j++) {
            double *d = dst + (int64_t)j * m + i0;
            const double *s = src + i0 * k + j;
            for (int b = 0; b < BLK; b++) {
                double x = s[(int64_t)b * k];
                ok &= isfinite(x) != 0;
                d[b] = x;
            }
        }
    }
    for (; i0 < m; i0++)
        for (int j = 0; j < k; j++) {
            double x = src[i0 * k + j];
            ok &= isfinite(x) != 0;
            dst[(int64_t)j * m + i0] = x;
        }
    return ok;
}

static bool copy_plain(const double *restrict src, size_t n, double *restrict dst)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        double x = src[i];
        ok &= isfinite(x) != 0;
        dst[i] = x;
    }
    return ok;
}

static bool all_finite(const double *x, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= isfinite(x[i]) != 0;
    return ok;
}

/* The R factor of an in-place dgeqrf result a [m, k] (lda m) into r_out [kr, k] (column-major, ld kr),
 * zeros below the diagonal. */
static void extract_r(const double *a, int m, int k, int kr, double *r_out)
{
    for (int j = 0; j < k; j++)
        for (int i = 0; i < kr; i++)
            r_out[i + (size_t)j * kr] = i <= j ? a[i + (size_t)j * m] : 0.0;
}

static lsc_status householder_top(const lsc_lowrank *lr, lsc_workspace *ws, int n, int nv, double *sv, double *U,
                                  double *V, lsc_error *err);
static lsc_status check_args(const lsc_lowrank *lr, lsc_workspace *ws, int nv, const double *sv, bool vectors,
                             int *n_out, lsc_error *err);

static double max_d(double a, double b)
{
    return a > b ? a : b;
}

/* Block size of the compact-WY QR: 32 measured best for 1k..28k rows at r = 64 and 128. */
static int qr_block(int k)
{
    return k < 32 ? k : 32;
}

/* ---- the Gram (Cholesky-QR) path ---- */

/* Smallest reciprocal condition (1-norm estimate, columns scaled to unit norm) of a Cholesky factor that
 * the Gram path accepts; see the head comment. Settable for tests (lsc_spectrum_set_gram_rcond). */
#define GRAM_MIN_RCOND_DEFAULT 1e-1
static double gram_min_rcond = GRAM_MIN_RCOND_DEFAULT;
static _Thread_local lsc_spectrum_path last_path = LSC_SPECTRUM_PATH_NONE;

lsc_spectrum_path lsc_spectrum_last_path(void)
{
    return last_path;
}

double lsc_spectrum_set_gram_rcond(double min_rcond)
{
    double old = gram_min_rcond;
    gram_min_rcond = min_rcond >= 0.0 ? min_rcond : GRAM_MIN_RCOND_DEFAULT;
    return old;
}

/* G [R, R] (column-major, upper triangle) = X^T X for the stacked X = [c_1 X_1, ..., c_K X_K]: bside
 * selects X_k = B_k (row-major [rows, r_k], i.e. column-major X_k^T with ld r_k) or X_k = A_k^T (A_k
 * row-major [r_k, cols] is column-major A_k^T with ld cols). The diagonal blocks by dsyrk, the others by
 * dgemm; the lower triangle is left alone (dpotrf 'U' never reads it). */
static void stacked_gram(const lsc_lowrank *t, const double *coef, int nt, bool bside, int R, double *G)
{
    int off_k = 0;
    for (int k = 0; k < nt; k++) {
        const int rk = t[k].r;
        if (rk == 0)
            continue;
        double *gkk = G + off_k + (size_t)off_k * R;
        const double ck = bside ? coef[k] : 1.0;
        if (bside)
            cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, rk, (int)t[k].rows, ck * ck, t[k].B, rk, 0.0, gkk, R);
        else
            cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, rk, (int)t[k].cols, 1.0, t[k].A, (int)t[k].cols, 0.0,
                        gkk, R);
        int off_l = off_k + rk;
        for (int l = k + 1; l < nt; l++) {
            const int rl = t[l].r;
            if (rl == 0)
                continue;
            double *gkl = G + off_k + (size_t)off_l * R;
            if (bside)
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, rk, rl, (int)t[k].rows, ck * coef[l], t[k].B, rk,
                            t[l].B, rl, 0.0, gkl, R);
            else
                cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, rk, rl, (int)t[k].cols, 1.0, t[k].A,
                            (int)t[k].cols, t[l].A, (int)t[l].cols, 0.0, gkl, R);
            off_l += rl;
        }
        off_k += rk;
    }
}

/* Cholesky factor R [n, n] (upper, in place of the Gram matrix G) when G is finite, positive definite and
 * R's columns scaled to unit norm have a reciprocal condition of at least gram_min_rcond; false otherwise.
 * scratch: n * n + 3 n doubles, iwork: n ints. */
static bool gram_factor(double *G, int n, double *scratch, lapack_int *iwork)
{
    double *rs = scratch, *work = rs + (size_t)n * n;
    for (int j = 0; j < n; j++) {
        double g = G[j + (size_t)j * n];
        if (!(g > 0.0) || !isfinite(g))
            return false;
        for (int i = 0; i < j; i++)
            if (!isfinite(G[i + (size_t)j * n]))
                return false;
    }
    if (LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', n, G, n) != 0)
        return false;
    for (int j = 0; j < n; j++) {
        const double inv = 1.0 / cblas_dnrm2(j + 1, G + (size_t)j * n, 1); /* column j of R has norm sqrt(G_jj) */
        for (int i = 0; i < n; i++)
            rs[i + (size_t)j * n] = i <= j ? G[i + (size_t)j * n] * inv : 0.0;
    }
    double rcond = 0.0;
    if (LAPACKE_dtrcon_work(LAPACK_COL_MAJOR, '1', 'U', 'N', n, rs, n, &rcond, work, iwork) != 0)
        return false;
    return rcond >= gram_min_rcond;
}

/* out^T (column-major [nv, m]) = alpha * sum_k c_k W_k^T X_k^T with W [R, nv] (column-major, ld R) split
 * in row blocks W_k [r_k, nv]; X_k = B_k (bside) or A_k^T, so out is row-major [m, nv] = X W (with vt, the
 * A side is written transposed: row-major [nv, cols]). */
static void stacked_apply(const lsc_lowrank *t, const double *coef, int nt, bool bside, bool vt, int R, int nv,
                          double alpha, const double *W, double *out)
{
    int off = 0;
    double beta = 0.0;
    for (int k = 0; k < nt; k++) {
        const int rk = t[k].r;
        if (rk == 0)
            continue;
        if (bside)
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, nv, (int)t[k].rows, rk, alpha * coef[k], W + off, R,
                        t[k].B, rk, beta, out, nv);
        else if (!vt)
            cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, nv, (int)t[k].cols, rk, alpha, W + off, R, t[k].A,
                        (int)t[k].cols, beta, out, nv);
        else /* out column-major [cols, nv] = A^T W, i.e. row-major [nv, cols] */
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)t[k].cols, nv, rk, alpha, t[k].A,
                        (int)t[k].cols, W + off, R, beta, out, (int)t[k].cols);
        beta = 1.0;
        off += rk;
    }
}

/* What the Gram path's decomposition leaves in the workspace: the Cholesky factors Rb, Ra [R, R] (upper,
 * column-major; their strict lower triangles hold rubbish), the core's singular vectors Uc [R, R] and
 * Vc^T [R, R] (column-major; only when vectors were asked), and R * R spare doubles. */
typedef struct gram_parts {
    int R;
    double *rb, *ra, *uc, *vct, *spare;
} gram_parts;

/* The Gram decomposition of s * sum_k c_k B_k A_k (terms of one shape; their own scales are not read):
 * *done = 0 when it declines (a side shorter than the total rank, a Gram matrix not numerically positive
 * definite or too ill-conditioned, a non-finite Gram or core), so the caller takes the Householder path;
 * then nothing was written but workspace scratch. On success sv [R] holds |s| times the core's values. */
static lsc_status gram_decompose(const lsc_lowrank *t, const double *coef, int nt, double s, bool vectors,
                                 lsc_workspace *ws, double *sv, gram_parts *p, int *done, lsc_error *err)
{
    *done = 0;
    int64_t R64 = 0;
    for (int k = 0; k < nt; k++)
        R64 += t[k].r;
    const int64_t rows = t[0].rows, cols = t[0].cols;
    if (R64 < 1 || R64 > rows || R64 > cols || gram_min_rcond > 1.0)
        return LSC_OK;
    const int R = (int)R64;
    const size_t RR = (size_t)R * R;
    double *small = lsc_workspace_get(ws, WS_SMALL, 5 * RR + 3 * (size_t)R);
    lapack_int *iwork = (lapack_int *)(void *)lsc_workspace_get(ws, WS_IWORK, ((size_t)8 * R * sizeof(lapack_int) + 7) / 8);
    if (!small || !iwork)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a rank %d spectrum", R);
    double *gb = small, *ga = gb + RR, *core = ga + RR, *uc = core + RR, *vct = uc + RR, *scratch = core;

    stacked_gram(t, coef, nt, true, R, gb);
    if (!gram_factor(gb, R, scratch, iwork))
        return LSC_OK; /* declined before the second Gram matrix is spent */
    stacked_gram(t, coef, nt, false, R, ga);
    if (!gram_factor(ga, R, scratch, iwork))
        return LSC_OK;
    /* core = Rb Ra^T */
    for (int j = 0; j < R; j++)
        for (int i = 0; i < R; i++)
            core[i + (size_t)j * R] = i <= j ? gb[i + (size_t)j * R] : 0.0;
    cblas_dtrmm(CblasColMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, R, R, 1.0, ga, R, core, R);
    if (!all_finite(core, RR))
        return LSC_OK;

    const char jobz = vectors ? 'S' : 'N';
    double q = 0.0;
    lapack_int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, jobz, R, R, core, R, sv, uc, R, vct, R, &q, -1, iwork);
    if (info != 0 || q > (double)INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "lapack work size query failed for a rank %d core", R);
    const lapack_int lwork = q > 1.0 ? (lapack_int)q : 1;
    double *work = lsc_workspace_get(ws, WS_WORK, (size_t)lwork + RR);
    if (!work)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for lapack work");
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, jobz, R, R, core, R, sv, uc, R, vct, R, work, lwork, iwork);
    if (info != 0)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "svd of the %dx%d core failed (lapack info %d)", R, R, (int)info);
    last_path = LSC_SPECTRUM_PATH_GRAM;
    *done = 1;
    const double abs_s = fabs(s);
    for (int i = 0; i < R; i++)
        sv[i] *= abs_s;
    *p = (gram_parts){R, gb, ga, uc, vct, work + lwork};
    return LSC_OK;
}

/* The Gram path for s * sum_k c_k B_k A_k (gram_decompose), then the vectors: outputs as
 * lsc_spectrum_top with n = R = sum r_k (vt: V as V^T). */
static lsc_status gram_top(const lsc_lowrank *t, const double *coef, int nt, double s, bool vt, lsc_workspace *ws,
                           int nv, double *sv, double *U, double *V, int *done, lsc_error *err)
{
    gram_parts p;
    lsc_status st = gram_decompose(t, coef, nt, s, U || V, ws, sv, &p, done, err);
    if (st != LSC_OK || !*done)
        return st;
    const int R = p.R;
    if (U) { /* U = sign(s) X_b Rb^{-1} Uc[:, :nv] */
        cblas_dtrsm(CblasColMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, R, nv, 1.0, p.rb, R, p.uc, R);
        stacked_apply(t, coef, nt, true, false, R, nv, s < 0 ? -1.0 : 1.0, p.uc, U);
    }
    if (V) { /* V = X_a Ra^{-1} Vc[:, :nv], Vc = vct^T */
        double *wv = p.spare;
        for (int j = 0; j < nv; j++)
            for (int i = 0; i < R; i++)
                wv[i + (size_t)j * R] = p.vct[j + (size_t)i * R];
        cblas_dtrsm(CblasColMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, R, nv, 1.0, p.ra, R, wv, R);
        stacked_apply(t, coef, nt, false, vt, R, nv, 1.0, wv, V);
    }
    return LSC_OK;
}

lsc_status lsc_spectrum_gram_core(const lsc_lowrank *lr, lsc_workspace *ws, double *sv, double *rb, double *ra,
                                  double *uc, double *vc, int *done, lsc_error *err)
{
    if (done)
        *done = 0;
    if (!done || !rb || !ra || !uc || !vc)
        return lsc_error_set(err, LSC_ERR_INVALID, "gram core needs its outputs");
    int n = 0;
    lsc_status st = check_args(lr, ws, 0, sv, false, &n, err);
    if (st != LSC_OK || n == 0 || n != lr->r)
        return st;
    const double one = 1.0;
    gram_parts p;
    st = gram_decompose(lr, &one, 1, lr->scale, true, ws, sv, &p, done, err);
    if (st != LSC_OK || !*done)
        return st;
    const int R = p.R;
    for (int j = 0; j < R; j++)
        for (int i = 0; i < R; i++) {
            const size_t ij = i + (size_t)j * R;
            rb[ij] = i <= j ? p.rb[ij] : 0.0;
            ra[ij] = i <= j ? p.ra[ij] : 0.0;
            uc[ij] = p.uc[ij];
            vc[ij] = p.vct[j + (size_t)i * R];
        }
    return LSC_OK;
}

lsc_status lsc_spectrum_gram_top(const lsc_lowrank *terms, const double *coef, int n_terms, double scale,
                                 unsigned flags, lsc_workspace *ws, int nv, double *sv, double *U, double *V, int *done,
                                 lsc_error *err)
{
    if (done)
        *done = 0;
    if (!terms || !coef || n_terms < 1 || !ws || !sv || !done)
        return lsc_error_set(err, LSC_ERR_INVALID, "stacked spectrum needs terms, coefficients, a workspace and outputs");
    int64_t R = 0;
    for (int k = 0; k < n_terms; k++) {
        const lsc_lowrank *l = &terms[k];
        if (l->rows != terms[0].rows || l->cols != terms[0].cols || l->r < 0 || (l->r > 0 && (!l->A || !l->B)))
            return lsc_error_set(err, LSC_ERR_INVALID, "stacked spectrum term %d does not fit the first", k + 1);
        if (!isfinite(coef[k]))
            return lsc_error_set(err, LSC_ERR_INVALID, "stacked spectrum coefficient %d is not finite", k + 1);
        R += l->r;
    }
    if (terms[0].rows > INT_MAX || terms[0].cols > INT_MAX || R > INT_MAX)
        return LSC_OK; /* declined: the caller's general path reports it */
    if ((U || V) && (nv < 1 || nv > R))
        return lsc_error_set(err, LSC_ERR_INVALID, "%d singular vectors asked of a stacked rank %lld", nv, (long long)R);
    if (!isfinite(scale))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite scale %g", scale);
    return gram_top(terms, coef, n_terms, scale, (flags & LSC_SPECTRUM_VT) != 0, ws, nv, sv, U, V, done, err);
}

lsc_status lsc_spectrum(const lsc_lowrank *lr, lsc_workspace *ws, double *sv, double *U, double *V, lsc_error *err)
{
    return lsc_spectrum_top(lr, ws, lsc_spectrum_count(lr), sv, U, V, err);
}

/* Validate the arguments of lsc_spectrum_top; LSC_OK when the decomposition should run (*n > 0). */
static lsc_status check_args(const lsc_lowrank *lr, lsc_workspace *ws, int nv, const double *sv, bool vectors,
                             int *n_out, lsc_error *err)
{
    *n_out = 0;
    if (!lr || !ws)
        return lsc_error_set(err, LSC_ERR_INVALID, "spectrum needs a layer and a workspace");
    if (lr->rows < 0 || lr->cols < 0 || lr->r < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid layer shape [%lld, %lld] with rank %d",
                             (long long)lr->rows, (long long)lr->cols, lr->r);
    if (lr->rows > INT_MAX || lr->cols > INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "layer shape [%lld, %lld] exceeds what lapack can index",
                             (long long)lr->rows, (long long)lr->cols);
    if ((lr->rows > 0 && lr->r > 0 && !lr->B) || (lr->cols > 0 && lr->r > 0 && !lr->A))
        return lsc_error_set(err, LSC_ERR_INVALID, "layer factor missing");
    if (!isfinite(lr->scale))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite scale %g", lr->scale);

    const int64_t rows = lr->rows, cols = lr->cols, r = lr->r;
    const int n = lsc_spectrum_count(lr);
    if (n == 0) {
        /* nothing to decompose, but the contract on non-finite input still holds */
        if ((rows > 0 && r > 0 && !all_finite(lr->B, (size_t)rows * (size_t)r)) ||
            (cols > 0 && r > 0 && !all_finite(lr->A, (size_t)cols * (size_t)r)))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the layer factors");
        return LSC_OK;
    }
    if (!sv)
        return lsc_error_set(err, LSC_ERR_INVALID, "spectrum needs an output for the singular values");
    if (vectors && (nv < 1 || nv > n))
        return lsc_error_set(err, LSC_ERR_INVALID, "%d singular vectors asked of a layer that has %d", nv, n);
    *n_out = n;
    return LSC_OK;
}

lsc_status lsc_spectrum_top(const lsc_lowrank *lr, lsc_workspace *ws, int nv, double *sv, double *U, double *V,
                            lsc_error *err)
{
    return lsc_spectrum_top_ex(lr, ws, nv, 0, sv, U, V, err);
}

lsc_status lsc_spectrum_top_ex(const lsc_lowrank *lr, lsc_workspace *ws, int nv, unsigned flags, double *sv, double *U,
                               double *V, lsc_error *err)
{
    if (flags & ~LSC_SPECTRUM_NO_GRAM)
        return lsc_error_set(err, LSC_ERR_INVALID, "unsupported spectrum flags %#x", flags);
    int n = 0;
    lsc_status st = check_args(lr, ws, nv, sv, U || V, &n, err);
    if (st != LSC_OK || n == 0)
        return st;
    if (!(flags & LSC_SPECTRUM_NO_GRAM)) {
        const double one = 1.0;
        int done = 0;
        st = gram_top(lr, &one, 1, lr->scale, false, ws, nv, sv, U, V, &done, err);
        if (st != LSC_OK || done)
            return st;
    }
    return householder_top(lr, ws, n, nv, sv, U, V, err);
}

/* The Householder path of lsc_spectrum_top (arguments checked, n > 0). */
static lsc_status householder_top(const lsc_lowrank *lr, lsc_workspace *ws, int n, int nv, double *sv, double *U,
                                  double *V, lsc_error *err)
{
    lsc_status st = LSC_OK;
    const int rows = (int)lr->rows, cols = (int)lr->cols, r = lr->r;
    last_path = LSC_SPECTRUM_PATH_HOUSEHOLDER;
    const int kb = rows < r ? rows : r, ka = cols < r ? cols : r;
    const int nbb = qr_block(kb), nba = qr_block(ka);
    const bool vectors = U || V;

    double *bq = lsc_workspace_get(ws, WS_B, (size_t)rows * (size_t)r);
    double *aq = lsc_workspace_get(ws, WS_A, (size_t)cols * (size_t)r);
    size_t n_small = (size_t)nbb * kb + (size_t)nba * ka + (size_t)kb * r + (size_t)ka * r + (size_t)kb * ka +
                     (size_t)kb * n + (size_t)n * ka;
    double *small = lsc_workspace_get(ws, WS_SMALL, n_small);
    /* dgesdd wants 8 min(m, n) integers */
    int *iwork = (int *)(void *)lsc_workspace_get(ws, WS_IWORK, ((size_t)8 * n * sizeof(int) + 7) / 8);
    if (!bq || !aq || !small || !iwork) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a [%d, %d] rank %d layer", rows, cols, r);
        goto out;
    }
    double *t_b = small, *t_a = t_b + (size_t)nbb * kb, *rb = t_a + (size_t)nba * ka, *ra = rb + (size_t)kb * r;
    double *core = ra + (size_t)ka * r, *uc = core + (size_t)kb * ka, *vct = uc + (size_t)kb * n;

    if (!copy_transposed(lr->B, rows, r, bq)) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in factor 'B'");
        goto out;
    }
    if (!copy_plain(lr->A, (size_t)cols * (size_t)r, aq)) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in factor 'A'");
        goto out;
    }

    /* one work buffer large enough for every LAPACK call below (workspace queries do not allocate):
     * dgeqrt nb * r, dgemqrt from the right nb * n, dgesdd as it asks */
    const char jobz = vectors ? 'S' : 'N';
    double q = 0.0, lwork_d = (double)(nbb > nba ? nbb : nba) * (double)(r > n ? r : n);
    lapack_int info;
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, jobz, kb, ka, core, kb, sv, uc, kb, vct, n, &q, -1, iwork);
    lwork_d = max_d(lwork_d, info == 0 ? q : 0.0);
    if (lwork_d > (double)INT_MAX) {
        st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "lapack work size too large for a [%d, %d] layer", rows, cols);
        goto out;
    }
    const lapack_int lwork = (lapack_int)lwork_d;
    double *work = lsc_workspace_get(ws, WS_WORK, (size_t)lwork);
    if (!work) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for lapack work");
        goto out;
    }

    info = LAPACKE_dgeqrt_work(LAPACK_COL_MAJOR, rows, r, nbb, bq, rows, t_b, nbb, work);
    if (info == 0)
        info = LAPACKE_dgeqrt_work(LAPACK_COL_MAJOR, cols, r, nba, aq, cols, t_a, nba, work);
    if (info != 0) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "qr factorisation failed (lapack info %d)", (int)info);
        goto out;
    }
    extract_r(bq, rows, r, kb, rb);
    extract_r(aq, cols, r, ka, ra);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, kb, ka, r, 1.0, rb, kb, ra, ka, 0.0, core, kb);
    if (!all_finite(core, (size_t)kb * ka)) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "overflow in the factored product of a [%d, %d] layer", rows,
                           cols);
        goto out;
    }

    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, jobz, kb, ka, core, kb, sv, uc, kb, vct, n, work, lwork, iwork);
    if (info != 0) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "svd of the %dx%d core failed (lapack info %d)", kb, ka, (int)info);
        goto out;
    }
    const double abs_s = fabs(lr->scale);
    for (int i = 0; i < n; i++)
        sv[i] *= abs_s;

    if (U) {
        /* U (row-major [rows, nv]) = sign(s) Qb [Uc; 0], i.e. the column-major [nv, rows] matrix
         * U^T = sign(s) [Uc^T, 0] Qb^T: fill it, then apply Qb^T from the right */
        const double sg = lr->scale < 0 ? -1.0 : 1.0;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < nv; j++)
                U[(size_t)i * nv + j] = i < kb ? sg * uc[i + (size_t)j * kb] : 0.0;
        info = LAPACKE_dgemqrt_work(LAPACK_COL_MAJOR, 'R', 'T', nv, rows, kb, nbb, bq, rows, t_b, nbb, U, nv, work);
        if (info != 0) {
            st = lsc_error_set(err, LSC_ERR_NUMERIC, "applying Q of 'B' failed (lapack info %d)", (int)info);
            goto out;
        }
    }
    if (V) {
        /* V (row-major [cols, nv]) = Qa [Vc; 0]: column-major V^T = [Vc^T, 0] Qa^T, and Vc^T is vct's first
         * nv rows */
        for (int i = 0; i < ka; i++)
            memcpy(V + (size_t)i * nv, vct + (size_t)i * n, (size_t)nv * sizeof *V);
        memset(V + (size_t)nv * ka, 0, (size_t)nv * (size_t)(cols - ka) * sizeof *V);
        info = LAPACKE_dgemqrt_work(LAPACK_COL_MAJOR, 'R', 'T', nv, cols, ka, nba, aq, cols, t_a, nba, V, nv, work);
        if (info != 0) {
            st = lsc_error_set(err, LSC_ERR_NUMERIC, "applying Q of 'A' failed (lapack info %d)", (int)info);
            goto out;
        }
    }

out:
    return st;
}

int lsc_energy_rank(const double *sv, int n, double tau)
{
    if (!sv || n <= 0)
        return 0;
    /* plain squares, so that hand-checkable thresholds (sv 3, 1 at tau 0.9) land exactly; rescale only if
     * the squares overflow */
    double scale = 1.0, total = 0.0;
    for (int i = 0; i < n; i++)
        total += sv[i] * sv[i];
    if (isinf(total)) {
        scale = 0.0;
        for (int i = 0; i < n; i++)
            scale = max_d(scale, fabs(sv[i]));
        scale = 1.0 / scale;
        total = 0.0;
        for (int i = 0; i < n; i++)
            total += (sv[i] * scale) * (sv[i] * scale);
    }
    if (!(total > 0.0))
        return 0;
    const double want = tau * total;
    double acc = 0.0;
    for (int k = 0; k < n; k++) {
        if (acc >= want)
            return k;
        acc += (sv[k] * scale) * (sv[k] * scale);
    }
    return n;
}
