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

static double max_d(double a, double b)
{
    return a > b ? a : b;
}

/* Block size of the compact-WY QR: 32 measured best for 1k..28k rows at r = 64 and 128. */
static int qr_block(int k)
{
    return k < 32 ? k : 32;
}

lsc_status lsc_spectrum(const lsc_lowrank *lr, lsc_workspace *ws, double *sv, double *U, double *V, lsc_error *err)
{
    return lsc_spectrum_top(lr, ws, lsc_spectrum_count(lr), sv, U, V, err);
}

lsc_status lsc_spectrum_top(const lsc_lowrank *lr, lsc_workspace *ws, int nv, double *sv, double *U, double *V,
                            lsc_error *err)
{
    lsc_status st = LSC_OK;

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

    const int rows = (int)lr->rows, cols = (int)lr->cols, r = lr->r;
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
    if ((U || V) && (nv < 1 || nv > n))
        return lsc_error_set(err, LSC_ERR_INVALID, "%d singular vectors asked of a layer that has %d", nv, n);

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
