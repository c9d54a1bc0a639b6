/* kind_sparse.c: SoRA gates (proximal step, folding, compaction) and element sparsity of factors:
 * zero fractions, magnitude histograms and magnitude pruning with its exact effect on the delta
 * (see kinds.h).
 *
 * Pruning selects the m-th largest magnitude with a three-way quickselect (ties are common: factors pruned
 * before hold many exact zeros), then keeps, in index order, every entry above it and as many entries equal
 * to it as are needed to reach m, so ties go to the earlier entry. Pure compute; never prints; the layer
 * figure goes through kind_common.c.
 */
#include "kinds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kind_internal.h"

lsc_status lsc_sora_threshold(const double *g, int r, double lambda, double *g_out, int *live, lsc_error *err)
{
    if (r < 0 || !live || (r > 0 && (!g || !g_out)))
        return lsc_error_set(err, LSC_ERR_INVALID, "gate threshold needs %d gates, an output and a count", r);
    if (!(lambda >= 0.0) || !isfinite(lambda))
        return lsc_error_set(err, LSC_ERR_INVALID, "lambda must be finite and >= 0, not %g", lambda);
    if (!kind_all_finite(g, (size_t)r))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite gate values");
    int n = 0;
    for (int i = 0; i < r; i++) {
        double a = fabs(g[i]) - lambda;
        double v = a > 0.0 ? copysign(a, g[i]) : 0.0;
        g_out[i] = v;
        n += v != 0.0;
    }
    *live = n;
    return LSC_OK;
}

lsc_status lsc_sora_fold(const double *B, const double *g, int64_t rows, int r, double *B_out, lsc_error *err)
{
    if (rows < 0 || r < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid factor shape [%lld, %d]", (long long)rows, r);
    if (r > 0 && (!g || (rows > 0 && (!B || !B_out))))
        return lsc_error_set(err, LSC_ERR_INVALID, "gate fold needs B, the gates and an output");
    if (!kind_all_finite(g, (size_t)r) || !kind_all_finite(B, (size_t)rows * (size_t)r))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in 'B' or the gates");
    for (int64_t i = 0; i < rows; i++)
        for (int j = 0; j < r; j++)
            B_out[(size_t)i * r + j] = B[(size_t)i * r + j] * g[j];
    return LSC_OK;
}

lsc_status lsc_sora_compact(const double *B, const double *g, const double *A, int64_t rows, int64_t cols, int r,
                            double *B_out, double *g_out, double *A_out, int *k_out, lsc_error *err)
{
    if (rows < 0 || cols < 0 || r < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid layer shape [%lld, %lld] with rank %d", (long long)rows,
                             (long long)cols, r);
    if (!k_out || (r > 0 && (!g || (rows > 0 && !B) || (cols > 0 && !A))))
        return lsc_error_set(err, LSC_ERR_INVALID, "gate compaction needs B, the gates, A and a rank output");
    if (!kind_all_finite(g, (size_t)r) || !kind_all_finite(B, (size_t)rows * (size_t)r) ||
        !kind_all_finite(A, (size_t)r * (size_t)cols))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the sparse layer");
    int k = 0;
    for (int i = 0; i < r; i++)
        k += g[i] != 0.0;
    if (k > 0 && (!g_out || (rows > 0 && !B_out) || (cols > 0 && !A_out)))
        return lsc_error_set(err, LSC_ERR_INVALID, "gate compaction needs outputs for %d ranks", k);
    for (int i = 0, o = 0; i < r; i++) {
        if (g[i] == 0.0)
            continue;
        g_out[o] = g[i];
        for (int64_t j = 0; j < rows; j++)
            B_out[(size_t)j * k + o] = B[(size_t)j * r + i];
        if (cols > 0)
            memcpy(A_out + (size_t)o * (size_t)cols, A + (size_t)i * (size_t)cols, sizeof(double) * (size_t)cols);
        o++;
    }
    *k_out = k;
    return LSC_OK;
}

lsc_status lsc_factor_sparsity(const double *x, int64_t n, double *zero_frac, double *near_frac, lsc_error *err)
{
    if (n < 0 || !zero_frac || !near_frac || (n > 0 && !x))
        return lsc_error_set(err, LSC_ERR_INVALID, "sparsity needs %lld entries and two outputs", (long long)n);
    double mx = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entry at %lld", (long long)i);
        if (fabs(x[i]) > mx)
            mx = fabs(x[i]);
    }
    if (n == 0) {
        *zero_frac = *near_frac = 0.0;
        return LSC_OK;
    }
    const double tol = LSC_NEAR_ZERO_REL * mx;
    int64_t zeros = 0, near = 0;
    for (int64_t i = 0; i < n; i++) {
        zeros += x[i] == 0.0;
        near += fabs(x[i]) <= tol;
    }
    *zero_frac = (double)zeros / (double)n;
    *near_frac = (double)near / (double)n;
    return LSC_OK;
}

lsc_status lsc_magnitude_histogram(const double *x, int64_t n, int nbins, double lo_exp, double hi_exp,
                                   int64_t *counts, lsc_error *err)
{
    if (n < 0 || !counts || (n > 0 && !x))
        return lsc_error_set(err, LSC_ERR_INVALID, "histogram needs %lld entries and counts", (long long)n);
    if (nbins < 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "histogram needs at least one bin, not %d", nbins);
    if (!isfinite(lo_exp) || !isfinite(hi_exp) || !(lo_exp < hi_exp))
        return lsc_error_set(err, LSC_ERR_INVALID, "histogram range 1e%g..1e%g is empty or not finite", lo_exp,
                             hi_exp);
    if (!kind_all_finite(x, (size_t)n))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the histogram input");
    const double w = (hi_exp - lo_exp) / nbins;
    for (int64_t i = 0; i < n; i++) {
        const double a = fabs(x[i]);
        if (a == 0.0) {
            counts[0]++;
            continue;
        }
        const double e = log10(a);
        if (e < lo_exp)
            counts[0]++;
        else if (e >= hi_exp)
            counts[nbins + 1]++;
        else {
            int b = (int)floor((e - lo_exp) / w);
            if (b >= nbins) /* e just below hi_exp rounding up */
                b = nbins - 1;
            if (b < 0)
                b = 0;
            counts[1 + b]++;
        }
    }
    return LSC_OK;
}

static void swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* The value of rank k (0-based, descending) of m [n]; m is reordered. Three-way partition around a
 * median-of-three pivot: [> p][== p][< p], so runs of equal values cost one pass. */
static double select_desc(double *m, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n; /* the answer lies in m[lo .. hi-1] */
    for (;;) {
        if (hi - lo == 1)
            return m[lo];
        const int64_t mid = lo + (hi - lo) / 2;
        double a = m[lo], b = m[mid], c = m[hi - 1];
        double p = (a < b) ? ((b < c) ? b : (a < c ? c : a)) : ((a < c) ? a : (b < c ? c : b));
        int64_t gt = lo, i = lo, lt = hi; /* m[lo..gt) > p, m[gt..i) == p, m[lt..hi) < p */
        while (i < lt) {
            if (m[i] > p)
                swap_d(&m[gt++], &m[i++]);
            else if (m[i] < p)
                swap_d(&m[i], &m[--lt]);
            else
                i++;
        }
        if (k < gt)
            hi = gt;
        else if (k < lt)
            return p;
        else
            lo = lt;
    }
}

lsc_status lsc_factor_prune_density(const double *x, int64_t n, double density, double *x_out, int64_t *kept,
                                    lsc_error *err)
{
    if (n < 0 || (n > 0 && (!x || !x_out)))
        return lsc_error_set(err, LSC_ERR_INVALID, "prune needs %lld entries and an output", (long long)n);
    if (!(density >= 0.0 && density <= 1.0))
        return lsc_error_set(err, LSC_ERR_INVALID, "density must be in [0, 1], not %g", density);
    if (!kind_all_finite(x, (size_t)n))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the factor");
    double mf = floor(density * (double)n * (1.0 + 1e-12));
    const int64_t m = mf > (double)n ? n : (int64_t)mf;
    if (kept)
        *kept = m;
    if (m == n) {
        if (x_out != x && n > 0)
            memmove(x_out, x, sizeof(double) * (size_t)n);
        return LSC_OK;
    }
    if (m == 0) {
        for (int64_t i = 0; i < n; i++)
            x_out[i] = 0.0;
        return LSC_OK;
    }
    double *mag = malloc(sizeof(double) * (size_t)n);
    if (!mag)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory pruning %lld entries", (long long)n);
    for (int64_t i = 0; i < n; i++)
        mag[i] = fabs(x[i]);
    const double t = select_desc(mag, n, m - 1);
    int64_t above = 0;
    for (int64_t i = 0; i < n; i++)
        above += fabs(x[i]) > t;
    free(mag);
    int64_t ties_left = m - above; /* >= 1: t itself is the m-th value */
    for (int64_t i = 0; i < n; i++) {
        const double a = fabs(x[i]);
        if (a > t)
            x_out[i] = x[i];
        else if (a == t && ties_left > 0) {
            x_out[i] = x[i];
            ties_left--;
        } else
            x_out[i] = 0.0;
    }
    return LSC_OK;
}

lsc_status lsc_sparse_prune_layer(const lsc_lowrank *lr, double density_B, double density_A, lsc_workspace *ws,
                                  double *B_out, double *A_out, double *rel_change, lsc_error *err)
{
    if (!lr || !ws || !rel_change)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer prune needs a layer, a workspace and an output");
    if (lr->rows < 0 || lr->cols < 0 || lr->r < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid layer shape [%lld, %lld] with rank %d",
                             (long long)lr->rows, (long long)lr->cols, lr->r);
    const int64_t nb = lr->rows * lr->r, na = (int64_t)lr->r * lr->cols;
    lsc_status st = lsc_factor_prune_density(lr->B, nb, density_B, B_out, NULL, err);
    if (st != LSC_OK) {
        lsc_error_prefix(err, "factor 'B'");
        return st;
    }
    st = lsc_factor_prune_density(lr->A, na, density_A, A_out, NULL, err);
    if (st != LSC_OK) {
        lsc_error_prefix(err, "factor 'A'");
        return st;
    }
    lsc_lowrank pruned = *lr;
    pruned.B = B_out;
    pruned.A = A_out;
    return lsc_kinds_rel_change(lr, &pruned, ws, rel_change, err);
}
