/* prune.c: rank rules and factored truncation of one LoRA layer (see prune.h).
 *
 * The rules only read singular values; truncation takes U, s, V from lsc_spectrum (factored SVD,
 * O((rows+cols) r^2)) and splits sqrt(s / |new scale|) to each side. Depends on spectrum/workspace and
 * libm only; never prints.
 */
#include "prune.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spectrum.h"

enum {
    WS_SV = LSC_WS_CALLER_FIRST, /* singular values */
    WS_U,                        /* unused: U [rows, k] is written into B_out */
    WS_V,                        /* V [cols, k] */
};
_Static_assert(WS_V < LSC_WS_SLOTS, "prune must stay inside the caller workspace slots");

static const char *const rule_names[] = {
#define LSC_X_NAME(code, name) name,
    LSC_RANK_RULE_LIST(LSC_X_NAME)
#undef LSC_X_NAME
};
_Static_assert(sizeof rule_names / sizeof rule_names[0] == LSC_RANK_RULE_COUNT, "rule names out of step");

const char *lsc_rank_rule_name(lsc_rank_rule rule)
{
    if ((int)rule < 0 || rule >= LSC_RANK_RULE_COUNT)
        return "?";
    return rule_names[rule];
}

lsc_status lsc_rank_rule_from_name(const char *name, lsc_rank_rule *rule, lsc_error *err)
{
    int i = lsc_name_index(rule_names, LSC_RANK_RULE_COUNT, name);
    if (i >= 0) {
        *rule = (lsc_rank_rule)i;
        return LSC_OK;
    }
    char esc[128];
    return lsc_error_set(err, LSC_ERR_INVALID, "unknown rank rule '%s'",
                         lsc_escape_name(esc, sizeof esc, name ? name : ""));
}

/* sv [n] must be finite, >= 0 and descending. */
static lsc_status check_spectrum(const double *sv, int n, const char *what, lsc_error *err)
{
    if (n < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "%s: negative number of singular values %d", what, n);
    if (n > 0 && !sv)
        return lsc_error_set(err, LSC_ERR_INVALID, "%s: singular values missing", what);
    for (int i = 0; i < n; i++) {
        if (!isfinite(sv[i]))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "%s: non-finite singular value %d", what, i + 1);
        if (sv[i] < 0.0)
            return lsc_error_set(err, LSC_ERR_INVALID, "%s: negative singular value %d", what, i + 1);
        if (i > 0 && sv[i] > sv[i - 1])
            return lsc_error_set(err, LSC_ERR_INVALID, "%s: singular values not descending at %d", what, i + 1);
    }
    return LSC_OK;
}

/* Smallest k in [1, n] whose prefix sum of f(sv_i) reaches tau * the total, with the relative slack. */
static int prefix_rank(const double *sv, int n, double tau, int squares)
{
    /* rescale by s_1 so the squares neither overflow nor underflow */
    double s1 = sv[0];
    if (!(s1 > 0.0))
        return 1;
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        double x = sv[i] / s1;
        total += squares ? x * x : x;
    }
    const double want = tau * total - LSC_PRUNE_SLACK * total;
    double acc = 0.0;
    for (int k = 1; k <= n; k++) {
        double x = sv[k - 1] / s1;
        acc += squares ? x * x : x;
        if (acc >= want)
            return k;
    }
    return n;
}

lsc_status lsc_prune_select(const double *sv, int n, lsc_rank_rule rule, double value, int *k, lsc_error *err)
{
    if (!k)
        return lsc_error_set(err, LSC_ERR_INVALID, "rank selection needs an output");
    lsc_status st = check_spectrum(sv, n, "rank selection", err);
    if (st != LSC_OK)
        return st;
    if (!isfinite(value))
        return lsc_error_set(err, LSC_ERR_INVALID, "rank rule '%s' needs a finite value", lsc_rank_rule_name(rule));

    int keep = 0;
    switch (rule) {
    case LSC_RANK_FIXED:
        if (value < 1.0 || value != floor(value))
            return lsc_error_set(err, LSC_ERR_INVALID, "rank must be an integer of at least 1, not %g", value);
        keep = value > (double)n ? n : (int)value;
        break;
    case LSC_RANK_ENERGY:
    case LSC_RANK_FRO:
    case LSC_RANK_CUMULATIVE:
        if (!(value > 0.0 && value <= 1.0))
            return lsc_error_set(err, LSC_ERR_INVALID, "rank rule '%s' needs a value in (0, 1], not %g",
                                 lsc_rank_rule_name(rule), value);
        if (n > 0)
            keep = rule == LSC_RANK_ENERGY ? prefix_rank(sv, n, value, 1)
                 : rule == LSC_RANK_FRO    ? prefix_rank(sv, n, value * value, 1)
                                           : prefix_rank(sv, n, value, 0);
        break;
    case LSC_RANK_RATIO:
        if (!(value >= 1.0))
            return lsc_error_set(err, LSC_ERR_INVALID, "rank rule 'ratio' needs a value of at least 1, not %g",
                                 value);
        if (n > 0 && sv[0] > 0.0) { /* an all-zero layer keeps 1, not every zero */
            const double floor_sv = sv[0] / value * (1.0 - LSC_PRUNE_SLACK);
            while (keep < n && sv[keep] >= floor_sv)
                keep++;
        }
        break;
    default:
        return lsc_error_set(err, LSC_ERR_INVALID, "unknown rank rule %d", (int)rule);
    }
    if (n > 0 && keep < 1)
        keep = 1;
    if (keep > n)
        keep = n;
    *k = keep;
    return LSC_OK;
}

typedef struct cand {
    double sv;
    int layer;
    int idx;
} cand;

/* larger value first; ties: lower layer, then lower index (keeps each layer's choice a prefix) */
static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->sv != b->sv)
        return a->sv > b->sv ? -1 : 1;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

lsc_status lsc_prune_budget(const double *const *sv, const int *n, int n_layers, int64_t budget, int *k_out,
                            lsc_error *err)
{
    lsc_status st = LSC_OK;
    cand *c = NULL;

    if (n_layers < 0 || (n_layers > 0 && (!sv || !n || !k_out)))
        return lsc_error_set(err, LSC_ERR_INVALID, "rank budget needs layers and an output");
    if (budget < 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "rank budget must be at least 1, not %lld", (long long)budget);
    size_t extra = 0;
    int64_t mandatory = 0;
    for (int l = 0; l < n_layers; l++) {
        char what[64];
        snprintf(what, sizeof what, "layer %d", l + 1);
        st = check_spectrum(sv[l], n[l], what, err);
        if (st != LSC_OK)
            return st;
        if (n[l] > 0) {
            mandatory++;
            extra += (size_t)n[l] - 1;
        }
    }
    for (int l = 0; l < n_layers; l++)
        k_out[l] = n[l] > 0 ? 1 : 0;
    if (budget <= mandatory || extra == 0)
        return LSC_OK;

    c = malloc(extra * sizeof *c);
    if (!c) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a rank budget over %d layers", n_layers);
        goto out;
    }
    size_t m = 0;
    for (int l = 0; l < n_layers; l++)
        for (int i = 1; i < n[l]; i++)
            c[m++] = (cand){sv[l][i], l, i};
    qsort(c, m, sizeof *c, cand_cmp);
    uint64_t take = (uint64_t)(budget - mandatory);
    if (take > m)
        take = m;
    for (size_t j = 0; j < take; j++)
        k_out[c[j].layer]++;

out:
    free(c);
    return st;
}

void lsc_prune_figures(const double *sv, int n, int k, double *kept_energy, double *rel_error)
{
    double ke = 1.0, re = 0.0;
    if (sv && n > 0) {
        if (k < 0)
            k = 0;
        if (k > n)
            k = n;
        double s1 = 0.0;
        for (int i = 0; i < n; i++)
            s1 = fabs(sv[i]) > s1 ? fabs(sv[i]) : s1;
        if (s1 > 0.0) {
            double head = 0.0, tail = 0.0;
            for (int i = 0; i < k; i++)
                head += (sv[i] / s1) * (sv[i] / s1);
            for (int i = k; i < n; i++)
                tail += (sv[i] / s1) * (sv[i] / s1);
            ke = head / (head + tail);
            re = sqrt(tail / (head + tail));
        }
    }
    if (kept_energy)
        *kept_energy = ke;
    if (rel_error)
        *rel_error = re;
}

double lsc_prune_new_scale(lsc_prune_scale rule, double s_old, int r_old, int k)
{
    if (r_old < 1 || k < 1)
        return NAN;
    switch (rule) {
    case LSC_SCALE_KEEP_RATIO:
        return s_old;
    case LSC_SCALE_KEEP_ALPHA:
        return s_old * (double)r_old / (double)k;
    case LSC_SCALE_KEEP_ALPHA_RS:
        return s_old * sqrt((double)r_old / (double)k);
    case LSC_SCALE_ONE:
        return 1.0;
    }
    return NAN;
}

/* B_out = sign * U_k diag(d) in place (U was written into B_out), A_out = diag(d) V_k^T with
 * d = sqrt(s / |new_scale|); V [cols, k] row-major, or NULL when A_out already holds V_k^T; dd [k] scratch. */
static void split_factors(const double *sv, int n, int k, double new_scale, size_t rows, size_t cols, double *B_out,
                          const double *V, double *A_out, double *dd, lsc_prune_info *info)
{
    const double inv = 1.0 / fabs(new_scale), sign = new_scale < 0.0 ? -1.0 : 1.0;
    for (int j = 0; j < k; j++)
        dd[j] = sqrt(sv[j] * inv);
    for (size_t i = 0; i < rows; i++) {
        double *b = B_out + i * (size_t)k;
        for (int j = 0; j < k; j++)
            b[j] = sign * b[j] * dd[j];
    }
    for (int j = 0; j < k; j++) {
        double *a = A_out + (size_t)j * cols;
        if (V)
            for (size_t c = 0; c < cols; c++)
                a[c] = V[c * (size_t)k + j] * dd[j];
        else
            for (size_t c = 0; c < cols; c++)
                a[c] *= dd[j];
    }
    if (info) {
        info->k = k;
        lsc_prune_figures(sv, n, k, &info->kept_energy, &info->rel_error);
    }
}

lsc_status lsc_prune_truncate(const lsc_lowrank *lr, int k, double new_scale, lsc_workspace *ws, double *B_out,
                              double *A_out, lsc_prune_info *info, lsc_error *err)
{
    lsc_status st = LSC_OK;

    if (!lr || !ws || !B_out || !A_out)
        return lsc_error_set(err, LSC_ERR_INVALID, "truncation needs a layer, a workspace and two outputs");
    if (!isfinite(new_scale) || new_scale == 0.0)
        return lsc_error_set(err, LSC_ERR_INVALID, "target scale must be finite and non-zero, not %g", new_scale);
    const int n = lsc_spectrum_count(lr);
    if (k < 1 || k > n)
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot truncate a [%lld, %lld] rank %d layer to rank %d",
                             (long long)lr->rows, (long long)lr->cols, lr->r, k);

    const size_t rows = (size_t)lr->rows, cols = (size_t)lr->cols;
    double *sv = lsc_workspace_get(ws, WS_SV, 2 * (size_t)n); /* values, then the split factors */
    if (!sv) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for truncating a [%zu, %zu] layer", rows, cols);
        goto out;
    }
    /* only the k vectors kept; U lands in B_out and, on the Gram path, V^T in A_out (no [cols, k] scratch) */
    const double one = 1.0;
    int done = 0;
    st = lsc_spectrum_gram_top(lr, &one, 1, lr->scale, LSC_SPECTRUM_VT, ws, k, sv, B_out, A_out, &done, err);
    if (st == LSC_OK && done) {
        split_factors(sv, n, k, new_scale, rows, cols, B_out, NULL, A_out, sv + n, info);
        goto out;
    }
    double *V = st == LSC_OK ? lsc_workspace_get(ws, WS_V, cols * (size_t)k) : NULL;
    if (st == LSC_OK && !V)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for truncating a [%zu, %zu] layer", rows, cols);
    if (st == LSC_OK)
        st = lsc_spectrum_top_ex(lr, ws, k, LSC_SPECTRUM_NO_GRAM, sv, B_out, V, err);
    if (st == LSC_OK)
        split_factors(sv, n, k, new_scale, rows, cols, B_out, V, A_out, sv + n, info);

out:
    return st;
}

lsc_status lsc_prune_truncate_stacked(const lsc_lowrank *terms, const double *coef, int n_terms, int k,
                                      double new_scale, lsc_workspace *ws, double *B_out, double *A_out,
                                      lsc_prune_info *info, int *done, lsc_error *err)
{
    if (done)
        *done = 0;
    if (!terms || n_terms < 1 || !ws || !B_out || !A_out || !done)
        return lsc_error_set(err, LSC_ERR_INVALID, "truncation needs layers, a workspace and two outputs");
    if (!isfinite(new_scale) || new_scale == 0.0)
        return lsc_error_set(err, LSC_ERR_INVALID, "target scale must be finite and non-zero, not %g", new_scale);
    int64_t n = 0;
    for (int j = 0; j < n_terms; j++)
        n += terms[j].r > 0 ? terms[j].r : 0;
    if (n > INT_MAX || n > terms[0].rows || n > terms[0].cols)
        return LSC_OK; /* declined: the Gram path needs both sides at least the total rank long */
    if (k < 1 || k > n)
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot truncate a stacked rank %lld layer to rank %d",
                             (long long)n, k);
    const size_t rows = (size_t)terms[0].rows, cols = (size_t)terms[0].cols;
    double *sv = lsc_workspace_get(ws, WS_SV, 2 * (size_t)n);
    if (!sv)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for truncating a [%zu, %zu] layer", rows, cols);
    lsc_status st = lsc_spectrum_gram_top(terms, coef, n_terms, 1.0, LSC_SPECTRUM_VT, ws, k, sv, B_out, A_out, done,
                                          err);
    if (st == LSC_OK && *done)
        split_factors(sv, (int)n, k, new_scale, rows, cols, B_out, NULL, A_out, sv + n, info);
    return st;
}
