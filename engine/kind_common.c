/* kind_common.c: norms and relative changes of low-rank layers, shared by the kind kernels (see kinds.h).
 *
 * Both come from the factored spectrum (spectrum.c), so they keep the accuracy of the QR cores: a
 * difference of two close layers is itself a low-rank layer [s1 B1, -s2 B2] [A1; A2] and its norm does
 * not suffer the cancellation of sqrt(n1^2 + n2^2 - 2 <d1, d2>). Pure compute; never prints.
 */
#include "kinds.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "kind_internal.h"
#include "spectrum.h"

enum {
    WS_BC = LSC_WS_SLOTS - 3, /* [s1 B1, -s2 B2] */
    WS_AC,                    /* [A1; A2] */
    WS_SV,                    /* singular values for lsc_kinds_fro_norm */
};
_Static_assert(WS_BC >= LSC_WS_CALLER_FIRST && WS_SV == LSC_WS_SLOTS - 1, "slots as documented in kinds.h");

lsc_status lsc_kinds_fro_norm(const lsc_lowrank *lr, lsc_workspace *ws, double *norm, lsc_error *err)
{
    if (!lr || !ws || !norm)
        return lsc_error_set(err, LSC_ERR_INVALID, "norm needs a layer, a workspace and an output");
    const int n = lsc_spectrum_count(lr);
    double *sv = lsc_workspace_get(ws, WS_SV, n > 0 ? (size_t)n : 1);
    if (!sv)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a layer norm");
    lsc_status st = lsc_spectrum(lr, ws, sv, NULL, NULL, err);
    if (st != LSC_OK)
        return st;
    *norm = sqrt(kind_sum_squares(sv, (size_t)n));
    return LSC_OK;
}

lsc_status lsc_kinds_rel_change(const lsc_lowrank *ref, const lsc_lowrank *approx, lsc_workspace *ws, double *rel,
                                lsc_error *err)
{
    lsc_status st = LSC_OK;
    if (!ref || !approx || !ws || !rel)
        return lsc_error_set(err, LSC_ERR_INVALID, "relative change needs two layers, a workspace and an output");
    if (ref->rows != approx->rows || ref->cols != approx->cols)
        return lsc_error_set(err, LSC_ERR_INVALID, "shape mismatch: [%lld, %lld] against [%lld, %lld]",
                             (long long)ref->rows, (long long)ref->cols, (long long)approx->rows,
                             (long long)approx->cols);
    if (ref->rows < 0 || ref->cols < 0 || ref->r < 0 || approx->r < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid layer shape [%lld, %lld] with ranks %d and %d",
                             (long long)ref->rows, (long long)ref->cols, ref->r, approx->r);
    if (ref->r > INT_MAX - approx->r)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "ranks %d and %d are too large together", ref->r,
                             approx->r);
    if (!isfinite(ref->scale) || !isfinite(approx->scale))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite scale");

    const int64_t rows = ref->rows, cols = ref->cols;
    const int r1 = ref->r, r2 = approx->r, rc = r1 + r2;
    double nref = 0.0, ndiff = 0.0;
    st = lsc_kinds_fro_norm(ref, ws, &nref, err);
    if (st != LSC_OK)
        goto out;
    {
        /* the approximation alone, for its checks and for the zero-reference case */
        double napprox = 0.0;
        st = lsc_kinds_fro_norm(approx, ws, &napprox, err);
        if (st != LSC_OK)
            goto out;
        if (rc == 0 || rows == 0 || cols == 0) {
            *rel = 0.0;
            goto out;
        }
        if (r1 == 0 || nref == 0.0) {
            *rel = kind_rel(napprox, nref);
            goto out;
        }
    }
    double *bc = lsc_workspace_get(ws, WS_BC, (size_t)rows * (size_t)rc);
    double *ac = lsc_workspace_get(ws, WS_AC, (size_t)rc * (size_t)cols);
    if (!bc || !ac) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the difference of two [%lld, %lld] layers",
                           (long long)rows, (long long)cols);
        goto out;
    }
    for (int64_t i = 0; i < rows; i++) {
        double *row = bc + (size_t)i * (size_t)rc;
        for (int j = 0; j < r1; j++)
            row[j] = ref->scale * ref->B[(size_t)i * (size_t)r1 + (size_t)j];
        for (int j = 0; j < r2; j++)
            row[r1 + j] = -approx->scale * approx->B[(size_t)i * (size_t)r2 + (size_t)j];
    }
    memcpy(ac, ref->A, sizeof(double) * (size_t)r1 * (size_t)cols);
    if (r2)
        memcpy(ac + (size_t)r1 * (size_t)cols, approx->A, sizeof(double) * (size_t)r2 * (size_t)cols);
    lsc_lowrank diff = {.rows = rows, .cols = cols, .r = rc, .B = bc, .A = ac, .scale = 1.0};
    st = lsc_kinds_fro_norm(&diff, ws, &ndiff, err);
    if (st != LSC_OK) {
        lsc_error_prefix(err, "difference of the layers");
        goto out;
    }
    *rel = kind_rel(ndiff, nref);
out:
    return st;
}
