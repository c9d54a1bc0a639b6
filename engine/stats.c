/* stats.c: per-layer statistics from the factors (see stats.h).
 *
 * Two cheap element scans per factor (the near-zero threshold depends on the factor's largest entry,
 * so it needs a second pass) and one factored SVD; everything else derives from the singular values.
 * The dense delta is never formed. Pure compute; never prints; depends on spectrum.c and libm only.
 */
#include "stats.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spectrum.h"

typedef struct factor_scan {
    size_t count;
    size_t zeros, near_zeros, nonfinite;
    double norm; /* over the finite entries */
} factor_scan;

/* Two lanes of doubles and of 64-bit lane masks (GCC/clang vector extensions: one SSE2 register on any
 * x86-64), two of each per step. A comparison gives -1 in a lane where it holds, so "count -= mask"
 * counts and "x & mask" selects without branches; -O2's cheap vectoriser cost model leaves the scalar
 * loop with its mixed counters alone, which made this scan a quarter of an import. */
typedef double v2d __attribute__((vector_size(16)));
typedef long long v2l __attribute__((vector_size(16)));

static v2d load2(const double *x)
{
    v2d v;
    memcpy(&v, x, sizeof v);
    return v;
}

static v2d abs2(v2d v)
{
    const v2l mag = {INT64_MAX, INT64_MAX};
    return (v2d)((v2l)v & mag);
}

typedef struct lanes {
    v2d max, ss;
    v2l zeros, nonfin;
} lanes;

static void lanes_add(lanes *l, v2d v)
{
    const v2d big = {DBL_MAX, DBL_MAX};
    const v2d zero = {0, 0};
    v2d a = abs2(v);
    v2l fin = a <= big;
    v2d af = (v2d)((v2l)a & fin);
    l->nonfin += fin + 1; /* fin is -1 where finite, 0 elsewhere */
    l->zeros -= a == zero;
    v2l up = af > l->max;
    l->max = (v2d)(((v2l)af & up) | ((v2l)l->max & ~up));
    l->ss += af * af;
}

/* First pass: zeros, non-finite entries, the largest finite magnitude and the sum of finite squares.
 * Lane j of four sums the entries j, j+4, ... and the lanes are added in a fixed order, so the result
 * depends only on the data (not on threads or alignment). NaN/Inf fail `a <= DBL_MAX` and count nothing. */
static void scan_pass1(const double *x, size_t n, factor_scan *fs, double *maxabs, double *sumsq)
{
    lanes l[2];
    memset(l, 0, sizeof l);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        lanes_add(&l[0], load2(x + i));
        lanes_add(&l[1], load2(x + i + 2));
    }
    size_t zeros = 0, nonfinite = 0;
    double m = 0.0, ss = 0.0;
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 2; j++) {
            zeros += (size_t)l[k].zeros[j];
            nonfinite += (size_t)l[k].nonfin[j];
            m = l[k].max[j] > m ? l[k].max[j] : m;
            ss += l[k].ss[j];
        }
    for (; i < n; i++) {
        double a = fabs(x[i]);
        if (!(a <= DBL_MAX)) {
            nonfinite++;
            continue;
        }
        zeros += a == 0.0;
        m = a > m ? a : m;
        ss += a * a;
    }
    fs->zeros = zeros;
    fs->nonfinite = nonfinite;
    *maxabs = m;
    *sumsq = ss;
}

/* Second pass: entries at most thr in magnitude (NaN and Inf never are). */
static size_t scan_near(const double *x, size_t n, double thr)
{
    const v2d t = {thr, thr};
    v2l v0 = {0, 0}, v1 = {0, 0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v0 -= abs2(load2(x + i)) <= t;
        v1 -= abs2(load2(x + i + 2)) <= t;
    }
    size_t near = (size_t)(v0[0] + v0[1] + v1[0] + v1[1]);
    for (; i < n; i++)
        near += (size_t)(fabs(x[i]) <= thr);
    return near;
}

static void scan_factor(const double *x, size_t n, factor_scan *fs)
{
    double maxabs, sumsq;
    scan_pass1(x, n, fs, &maxabs, &sumsq);
    /* the threshold is relative to the largest finite entry */
    fs->near_zeros = scan_near(x, n, 1e-6 * maxabs);
    if (isinf(sumsq)) { /* squares overflowed: redo scaled by the largest entry */
        const double inv = 1.0 / maxabs;
        sumsq = 0.0;
        for (size_t i = 0; i < n; i++)
            if (isfinite(x[i]))
                sumsq += (x[i] * inv) * (x[i] * inv);
        fs->norm = maxabs * sqrt(sumsq);
    } else {
        fs->norm = sqrt(sumsq);
    }
    fs->count = n;
}

static double fraction(size_t k, size_t n)
{
    return n ? (double)k / (double)n : 0.0;
}

static void clear_derived(lsc_layer_stats *st)
{
    st->fro = st->spectral = st->nuclear = st->stable_rank = st->effective_rank = 0.0;
    st->energy_rank_90 = st->energy_rank_99 = st->numerical_rank = 0;
}

void lsc_stats_from_sv(lsc_layer_stats *st, int64_t rows, int64_t cols)
{
    if (!st)
        return;
    clear_derived(st);
    const int n = st->sv ? st->n_sv : 0;
    const double s1 = n > 0 ? st->sv[0] : 0.0;
    if (!(s1 > 0.0)) {
        if (!(st->flags & LSC_STATS_NONFINITE))
            st->flags |= LSC_STATS_ZERO;
        return;
    }
    st->flags &= ~LSC_STATS_ZERO;

    /* ratios to sigma_1 keep the sums safe from overflow and make stable rank exact on simple inputs */
    double rel_sq = 0.0, nuclear = 0.0;
    for (int i = 0; i < n; i++) {
        double t = st->sv[i] / s1;
        rel_sq += t * t;
        nuclear += st->sv[i];
    }
    st->spectral = s1;
    st->nuclear = nuclear;
    st->fro = s1 * sqrt(rel_sq);
    st->stable_rank = rel_sq;

    double entropy = 0.0;
    for (int i = 0; i < n; i++) {
        double t = st->sv[i] / s1;
        double p = t * t / rel_sq;
        if (p > 0.0)
            entropy -= p * log(p);
    }
    st->effective_rank = exp(entropy);

    st->energy_rank_90 = lsc_energy_rank(st->sv, n, 0.90);
    st->energy_rank_99 = lsc_energy_rank(st->sv, n, 0.99);

    const double dim = (double)(rows > cols ? rows : cols);
    const double tol = s1 * dim * DBL_EPSILON;
    int nr = 0;
    for (int i = 0; i < n; i++)
        nr += st->sv[i] > tol;
    st->numerical_rank = nr;
}

lsc_status lsc_stats_compute(const lsc_lowrank *lr, lsc_workspace *ws, lsc_layer_stats *out, lsc_error *err)
{
    lsc_status st = LSC_OK;

    if (!lr || !ws || !out)
        return lsc_error_set(err, LSC_ERR_INVALID, "stats need a layer, a workspace and an output");
    if (lr->rows < 0 || lr->cols < 0 || lr->r < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid layer shape [%lld, %lld] with rank %d",
                             (long long)lr->rows, (long long)lr->cols, lr->r);
    const size_t n_a = (size_t)lr->r * (size_t)lr->cols, n_b = (size_t)lr->rows * (size_t)lr->r;
    if ((n_a && !lr->A) || (n_b && !lr->B))
        return lsc_error_set(err, LSC_ERR_INVALID, "layer factor missing");

    memset(out, 0, sizeof *out);
    factor_scan fa, fb;
    scan_factor(lr->A, n_a, &fa);
    scan_factor(lr->B, n_b, &fb);
    out->norm_a = fa.norm;
    out->norm_b = fb.norm;
    out->balance = fa.norm > 0.0 ? fb.norm / fa.norm : 0.0;
    out->zeros_a = fraction(fa.zeros, fa.count);
    out->zeros_b = fraction(fb.zeros, fb.count);
    out->near_zeros_a = fraction(fa.near_zeros, fa.count);
    out->near_zeros_b = fraction(fb.near_zeros, fb.count);
    out->nonfinite_a = (int64_t)fa.nonfinite;
    out->nonfinite_b = (int64_t)fb.nonfinite;

    const int n = lsc_spectrum_count(lr);
    out->n_sv = n;
    if (n > 0) {
        out->sv = calloc((size_t)n, sizeof(double));
        if (!out->sv) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for %d singular values", n);
            goto fail;
        }
    }

    if (fa.nonfinite || fb.nonfinite || !isfinite(lr->scale)) {
        out->flags |= LSC_STATS_NONFINITE;
        return LSC_OK;
    }
    /* structurally zero: no decomposition needed, and the zeros are exact */
    if (n == 0 || lr->scale == 0.0 || fa.zeros == fa.count || fb.zeros == fb.count) {
        out->flags |= LSC_STATS_ZERO;
        return LSC_OK;
    }

    st = lsc_spectrum(lr, ws, out->sv, NULL, NULL, err);
    if (st != LSC_OK)
        goto fail;
    lsc_stats_from_sv(out, lr->rows, lr->cols);
    return LSC_OK;

fail:
    lsc_stats_release(out);
    return st;
}

void lsc_stats_release(lsc_layer_stats *st)
{
    if (!st)
        return;
    free(st->sv);
    memset(st, 0, sizeof *st);
}
