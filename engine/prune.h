/* prune.h: rank selection and truncation of LoRA layers (resize / prune), all from the factors.
 *
 * A layer's singular values come from the factored SVD (spectrum.h); a rule picks the rank k to keep;
 * lsc_prune_truncate rebuilds balanced factors of the best rank-k approximation (Eckart-Young) without
 * ever forming the dense delta. Pure compute over BLAS/LAPACKE: no I/O, never prints, knows nothing of
 * files, the catalog or the command layer.
 *
 * Rank rules, over one layer's singular values s_1 >= ... >= s_n (n = min(r, rows, cols) <= r), all
 * sums over i = 1..k (FORMATS.md "Rank selection rules"):
 *   LSC_RANK_FIXED       value k (an integer >= 1): keep min(k, n)
 *   LSC_RANK_ENERGY      value tau in (0, 1]: the smallest k with sum s_i^2 >= tau * sum_all s_i^2
 *   LSC_RANK_FRO         value tau in (0, 1] (kohya sv_fro): the smallest k with sum s_i^2 >= tau^2 * sum_all s_i^2,
 *                        i.e. sqrt(kept energy) >= tau
 *   LSC_RANK_CUMULATIVE  value tau in (0, 1] (kohya sv_cumulative): the smallest k with sum s_i >= tau * sum_all s_i
 *   LSC_RANK_RATIO       value t >= 1 (kohya sv_ratio): keep every s_i >= s_1 / t
 * and, over many layers, lsc_prune_budget (a global budget of N singular values).
 * Every rule then clamps k to [1, n]: a layer keeps at least rank 1 (even an all-zero layer) and never
 * grows beyond the singular values it has (so never beyond its current rank); a layer with n = 0 gets 0.
 * We follow the rules exactly as written: kohya's resize_lora keeps one rank more than its own rule says
 * (an off-by-one its users reported); we do not copy it.
 * Comparisons carry a relative slack of LSC_PRUNE_SLACK (1e-12) in favour of stopping early, so a
 * hand-worked exact threshold behaves as stated even though tau^2 or tau * sum is rounded (0.8^2 * 25
 * is 16.000000000000004 in doubles; sv 4, 3 at LSC_RANK_FRO 0.8 keeps 1). The price: trailing values whose
 * share of the total is below 1e-12 are never needed to reach a threshold (tau = 1 drops them).
 */
#ifndef LSC_PRUNE_H
#define LSC_PRUNE_H

#include <stdint.h>

#include "lowrank.h"
#include "status.h"
#include "workspace.h"

#define LSC_PRUNE_SLACK 1e-12

/* X-macro list: rule, name used by the command layer. */
#define LSC_RANK_RULE_LIST(X)            \
    X(LSC_RANK_FIXED, "rank")            \
    X(LSC_RANK_ENERGY, "energy")         \
    X(LSC_RANK_FRO, "fro")               \
    X(LSC_RANK_CUMULATIVE, "cumulative") \
    X(LSC_RANK_RATIO, "ratio")

typedef enum {
#define LSC_X_ENUM(code, name) code,
    LSC_RANK_RULE_LIST(LSC_X_ENUM)
#undef LSC_X_ENUM
    LSC_RANK_RULE_COUNT
} lsc_rank_rule;

/* Name of a rule ("energy"); "?" for an out-of-range value. */
const char *lsc_rank_rule_name(lsc_rank_rule rule);

/* The rule called `name` into *rule; LSC_ERR_INVALID ("unknown rank rule 'x'") otherwise. */
lsc_status lsc_rank_rule_from_name(const char *name, lsc_rank_rule *rule, lsc_error *err);

/* Rank k to keep for one layer under `rule` with parameter `value` (see the head comment), from its
 * singular values sv [n], descending and >= 0 (as lsc_spectrum returns them). *k is in [1, n], or 0 when
 * n == 0. Errors (LSC_ERR_INVALID, *k untouched): value out of range or not finite (FIXED: not an integer
 * >= 1; ENERGY/FRO/CUMULATIVE: outside (0, 1]; RATIO: below 1), sv NULL with n > 0, sv not descending or
 * negative; LSC_ERR_NUMERIC for a non-finite singular value. */
lsc_status lsc_prune_select(const double *sv, int n, lsc_rank_rule rule, double value, int *k, lsc_error *err);

/* Global budget over n_layers layers: keep the `budget` largest singular values over all of them, each
 * layer keeping at least 1. Exactly: the first singular value of every layer with n[l] > 0 is kept
 * unconditionally and counts toward the budget; the remaining budget - (number of such layers) slots, if
 * any, go to the largest of the other singular values, ties broken by layer order (lower l first), so a
 * layer always keeps a prefix of its spectrum. Total kept = max(budget, number of non-empty layers),
 * capped by sum n[l]. sv[l] points at layer l's n[l] descending values. k_out [n_layers] receives the
 * ranks (0 for an empty layer). Errors: LSC_ERR_INVALID for budget < 1, n_layers < 0, a negative n[l],
 * NULL arrays, unsorted or negative values; LSC_ERR_NUMERIC for a non-finite value; LSC_ERR_NOMEM. */
lsc_status lsc_prune_budget(const double *const *sv, const int *n, int n_layers, int64_t budget, int *k_out,
                            lsc_error *err);

/* Figures of keeping the first k of n singular values (0 <= k <= n), computed from the values alone:
 * kept energy sum_{i<=k} s_i^2 / sum s_i^2 and the exact relative error of the best rank-k approximation,
 * ||dW - dW_k||_F / ||dW||_F = sqrt(sum_{i>k} s_i^2 / sum s_i^2). A zero spectrum gives 1 and 0. The tail
 * is summed on its own (not as total - kept), so a small error keeps its relative accuracy. */
void lsc_prune_figures(const double *sv, int n, int k, double *kept_energy, double *rel_error);

/* Which scale the truncated layer carries (s_new = lsc_prune_new_scale(...)); alpha is the format's
 * alpha, r the rank, s the applied scale. */
typedef enum {
    LSC_SCALE_KEEP_RATIO,    /* s_new = s_old: alpha/r unchanged, alpha_new = s_old * k (kohya resize, PEFT
                              * with an alpha_pattern entry) */
    LSC_SCALE_KEEP_ALPHA,    /* alpha unchanged: s_new = s_old * r_old / k (alpha = s_old * r_old) */
    LSC_SCALE_KEEP_ALPHA_RS, /* rsLoRA, alpha unchanged: s_new = s_old * sqrt(r_old / k) */
    LSC_SCALE_ONE,           /* s_new = 1: everything folded into the factors (GGUF-style export) */
} lsc_prune_scale;

/* The applied scale of a layer truncated from rank r_old (scale s_old) to rank k under `rule`; the
 * alpha to write back is then s_new * k (or s_new * sqrt(k) for rsLoRA). Returns NaN when r_old < 1 or
 * k < 1 or the rule is unknown. */
double lsc_prune_new_scale(lsc_prune_scale rule, double s_old, int r_old, int k);

typedef struct lsc_prune_info {
    int k;              /* rank of the new factors */
    double kept_energy; /* sum_{i<=k} s_i^2 / sum s_i^2 (1 for a zero layer) */
    double rel_error;   /* ||dW - dW_k||_F / ||dW||_F from the discarded values (0 for a zero layer) */
} lsc_prune_info;

/* Best rank-k approximation of lr (delta = lr->scale * B * A) as new balanced factors for the applied scale
 * new_scale: with lr's delta = U diag(s) V^T (lsc_spectrum), writes
 *     B_out [rows, k] = sign(new_scale) * U_k diag(sqrt(s_k / |new_scale|))
 *     A_out [k, cols] = diag(sqrt(s_k / |new_scale|)) V_k^T
 * so that new_scale * B_out * A_out = U_k diag(s_k) V_k^T and ||B_out||_F = ||A_out||_F (the singular values
 * are divided by the target scale before the square-root split). Both outputs are row-major, caller-owned,
 * and fully written on success. info (may be NULL) receives k and the figures of lsc_prune_figures.
 * Scratch from ws: slots LSC_WS_CALLER_FIRST..+2 plus what lsc_spectrum uses.
 * Errors: LSC_ERR_INVALID for k outside [1, n] (n = lsc_spectrum_count(lr); a layer with n = 0 cannot be
 * truncated), a zero or non-finite new_scale, NULL outputs; LSC_ERR_NUMERIC for non-finite factors or
 * scale; LSC_ERR_NOMEM; whatever lsc_spectrum reports. Outputs are unspecified on failure. */
lsc_status lsc_prune_truncate(const lsc_lowrank *lr, int k, double new_scale, lsc_workspace *ws, double *B_out,
                              double *A_out, lsc_prune_info *info, lsc_error *err);

/* lsc_prune_truncate of the stacked delta sum_j coef[j] * B_j A_j (terms of one shape, their .scale not
 * read) without concatenating the factors, through lsc_spectrum_gram_top: *done = 1 with the outputs
 * written as lsc_prune_truncate would (k in [1, sum r_j]); *done = 0 (LSC_OK, outputs unspecified) when the
 * Gram path declines, and the caller concatenates and calls lsc_prune_truncate. Same slots and errors. */
lsc_status lsc_prune_truncate_stacked(const lsc_lowrank *terms, const double *coef, int n_terms, int k,
                                      double new_scale, lsc_workspace *ws, double *B_out, double *A_out,
                                      lsc_prune_info *info, int *done, lsc_error *err);

#endif
