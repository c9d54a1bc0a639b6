/* kinds.h: the figures and edits that belong to one LoRA kind (FORMATS.md "What the six LoRA kinds are, as
 * kernels"): dynamic (DyLoRA) prefix ranks, adaptive (AdaLoRA) triplet budgets, sparse (SoRA) gates and
 * element sparsity, multi-task similarity and shared subspaces. Static layers need nothing beyond
 * spectrum/compare/prune; layer-wise adapters are aggregated by the command layer.
 *
 * Every kernel works from the factors: no dense rows x cols product is ever formed. Pure compute over
 * BLAS/LAPACKE: no I/O, never prints, knows nothing of files, the catalog or the command layer.
 * Implemented in kind_common.c, kind_dynamic.c, kind_adaptive.c, kind_sparse.c and kind_tasks.c.
 *
 * Conventions shared by all of them:
 * - matrices are row-major doubles with the shapes written next to them (`B [rows, r]`); outputs are
 *   caller-owned and fully written on success, unspecified on failure unless said otherwise;
 * - a non-finite entry in a factor, gate or input array gives LSC_ERR_NUMERIC; a non-finite or
 *   out-of-range parameter (alpha, tau, lambda, density, budget, k) LSC_ERR_INVALID, as do NULL
 *   pointers that are needed, negative shapes and shape mismatches; shapes beyond INT_MAX where LAPACK
 *   must index them give LSC_ERR_UNSUPPORTED; LSC_ERR_NOMEM when scratch cannot be had;
 * - relative figures ||X - Y||_F / ||X||_F of a zero X are 0 when Y is zero too and +INFINITY otherwise;
 * - workspace slots: the kernels that take a workspace use lsc_spectrum's slots (0-7) and the caller
 *   slots LSC_WS_CALLER_FIRST.. (8-15) as they like; nothing survives a call in any slot.
 */
#ifndef LSC_KINDS_H
#define LSC_KINDS_H

#include <stdint.h>

#include "lowrank.h"
#include "status.h"
#include "workspace.h"

/* ------------------------------------------------------------------------------------------------ */
/* Shared: norms and relative changes of low-rank layers                                            */

/* ||lr->scale * B * A||_F into *norm, from the factored spectrum (QR cores; no Gram matrix, so no squared
 * condition number). A layer with rank 0 or an empty shape has norm 0. Scratch: slots 0-7 (lsc_spectrum)
 * and LSC_WS_SLOTS - 1. Errors: those of lsc_spectrum. */
lsc_status lsc_kinds_fro_norm(const lsc_lowrank *lr, lsc_workspace *ws, double *norm, lsc_error *err);

/* ||d_ref - d_new||_F / ||d_ref||_F for two layers of one shape (ranks may differ), computed as the norm of
 * the low-rank layer [s_ref B_ref, -s_new B_new] [A_ref; A_new] (so close layers do not cancel: a layer
 * against itself gives 0 to rounding). Zero reference: 0 if d_new is zero too, +INFINITY otherwise.
 * Scratch: slots 0-7, LSC_WS_SLOTS - 3 .. LSC_WS_SLOTS - 1. Errors: shape mismatch (LSC_ERR_INVALID),
 * non-finite factors or scales (LSC_ERR_NUMERIC), LSC_ERR_NOMEM. */
lsc_status lsc_kinds_rel_change(const lsc_lowrank *ref, const lsc_lowrank *approx, lsc_workspace *ws, double *rel,
                                lsc_error *err);

/* ------------------------------------------------------------------------------------------------ */
/* Dynamic (DyLoRA): every prefix rank b <= r is meant to work on its own                            */

/* Which scale the prefix adapter of rank b carries. At b = r every rule gives alpha / r, the scale of
 * the full layer. */
typedef enum {
    LSC_DYLORA_ALPHA_B,     /* alpha / b: the DyLoRA paper (FORMATS.md); kohya's extract_lora_from_dylora
                             * keeps alpha when it cuts the factors, so a rank-b file it writes loads with
                             * alpha / b too */
    LSC_DYLORA_ALPHA_R,     /* alpha / r: plain truncation of the factors, the full layer's scale kept */
    LSC_DYLORA_KOHYA_TRAIN, /* (alpha / r) * sqrt(r / b): what kohya's DyLoRA training forward applies */
} lsc_dylora_scale;

/* The scale of the rank-b prefix of a rank-r layer under `rule`; NaN when r < 1, b outside [1, r], alpha
 * not finite or the rule unknown. */
double lsc_dylora_prefix_scale(lsc_dylora_scale rule, double alpha, int r, int b);

/* How nested a DyLoRA layer is. The full layer is dW = s_r B A (s_r = alpha / r); the prefix adapter of
 * rank b is dW_b = s_b B[:, :b] A[:b, :] with s_b from `rule`. For b = 1 .. r:
 *   prefix_err[b-1] = ||dW_b - dW||_F / ||dW||_F
 *   best_err[b-1]   = ||dW_(b) - dW||_F / ||dW||_F, dW_(b) the best rank-b approximation (Eckart-Young):
 *                     sqrt(sum_{i>b} sigma_i^2 / sum sigma_i^2); 0 once b >= rank
 * so prefix_err >= best_err, and prefix_err / best_err says how far the prefix is from the best it could
 * be. Both ratios are independent of alpha and of lr->scale, which are therefore not arguments (only
 * lr->B, lr->A, r and the shape are read). Computed from the QR cores: B = Qb Rb, A^T = Qa Ra, so
 * dW_b - dW = Qb (c_b Rb[:, :b] Ra[:, :b]^T - Rb Ra^T) Qa^T up to the factor s_r, c_b = s_b / s_r; the
 * prefix products are accumulated one rank-1 term at a time (O((rows + cols) r^2 + r^3) in all), and
 * prefix_err[r-1] is exactly 0. Note that under LSC_DYLORA_ALPHA_B (and KOHYA_TRAIN) no layer of rank >= 2
 * can have prefix_err == best_err for every b (the prefix scale changes with b); under ALPHA_R a layer
 * built from its SVD (B = U S^(1/2), A = S^(1/2) V^T) does.
 * A zero layer gives best_err 0 and prefix_err 0 where the prefix is zero too, +INFINITY where it is not.
 * prefix_err [r] and best_err [r] are caller-owned. Scratch: slots LSC_WS_CALLER_FIRST..+3.
 * Errors: r < 1, NULL arguments, an unknown rule (LSC_ERR_INVALID); non-finite factors (LSC_ERR_NUMERIC);
 * rows or cols beyond INT_MAX (LSC_ERR_UNSUPPORTED); LSC_ERR_NOMEM. */
lsc_status lsc_dylora_prefix_errors(const lsc_lowrank *lr, lsc_dylora_scale rule, lsc_workspace *ws, double *prefix_err,
                                    double *best_err, lsc_error *err);

/* The prefix adapter of rank b (1 <= b <= lr->r): B_out [rows, b] = B[:, :b], A_out [b, cols] = A[:b, :],
 * *scale_out = lsc_dylora_prefix_scale(rule, alpha, r, b). A plain copy: no SVD, no rescaling of the
 * factors. lr->scale is not read. Errors: b out of range, alpha not finite or zero, an unknown rule, NULL
 * outputs (LSC_ERR_INVALID); non-finite factor entries among those copied (LSC_ERR_NUMERIC). */
lsc_status lsc_dylora_prefix(const lsc_lowrank *lr, int b, double alpha, lsc_dylora_scale rule, double *B_out,
                             double *A_out, double *scale_out, lsc_error *err);

/* ------------------------------------------------------------------------------------------------ */
/* Adaptive (AdaLoRA): dW = scale * P diag(E) Q, a global budget of kept triplets                    */

typedef struct lsc_adalora_layer {
    int64_t rows, cols; /* out and in features */
    int r;              /* number of triplets (PEFT's current r; may be 0) */
    const double *P;    /* [rows, r]  (PEFT lora_B) */
    const double *E;    /* [r]        (PEFT lora_E, Lambda) */
    const double *Q;    /* [r, cols]  (PEFT lora_A) */
    double scale;       /* applied scale (PEFT: alpha / (init_r + 1e-5)) */
} lsc_adalora_layer;

/* Importance of each triplet without gradients (after training AdaLoRA's sensitivity EMAs are gone):
 *   imp[i] = |scale * E_i| * ||P[:, i]||_2 * ||Q[i, :]||_2,
 * the Frobenius norm of triplet i's rank-1 contribution scale * E_i * P[:, i] Q[i, :]. For orthonormal
 * columns of P and rows of Q (what AdaLoRA's regulariser pushes towards) it reduces to |scale * E_i|, i.e.
 * to |E_i| up to the layer's common factor. imp [r] caller-owned. Errors: NULL arguments, negative shapes
 * (LSC_ERR_INVALID); non-finite entries or scale (LSC_ERR_NUMERIC). */
lsc_status lsc_adalora_importance(const lsc_adalora_layer *l, double *imp, lsc_error *err);

/* Re-budget over n_layers layers: keep exactly `budget` triplets in total, the ones with the largest
 * lsc_adalora_importance, ties broken by layer order then triplet index (lower first). A layer may keep
 * nothing (AdaLoRA allows a layer to drop to rank 0): kept[l] is then 0 and its delta becomes zero (see
 * lsc_adalora_apply_mask). keep [sum_l r_l] receives 1 (kept) or 0, layer after layer in order;
 * kept [n_layers] the per-layer counts. 0 <= budget <= sum r_l. Errors: budget out of that range,
 * n_layers < 0, NULL arrays (LSC_ERR_INVALID); what lsc_adalora_importance reports, prefixed with the
 * layer index; LSC_ERR_NOMEM. */
lsc_status lsc_adalora_rebudget(const lsc_adalora_layer *layers, int n_layers, int64_t budget, uint8_t *keep,
                                int *kept, lsc_error *err);

/* The layer with only the kept triplets (keep [r], nonzero = keep), order preserved:
 * P_out [rows, k], E_out [k], Q_out [k, cols], *k_out = k. The delta of the kept triplets is reproduced
 * exactly (entries are copied). With k = 0 nothing is written (the outputs may be NULL) and the layer
 * carries no update: the caller either drops it or stores rank-0 tensors. (PEFT's own masking zeroes
 * E_i in place instead and keeps the shape; a caller wanting that writes E[i] = 0 where keep[i] == 0.)
 * Errors: NULL layer, keep or k_out, NULL outputs with k > 0 (LSC_ERR_INVALID). */
lsc_status lsc_adalora_apply_mask(const lsc_adalora_layer *l, const uint8_t *keep, double *P_out, double *E_out,
                                  double *Q_out, int *k_out, lsc_error *err);

/* How far the layer is from AdaLoRA's orthogonality: *p_err = ||P^T P - I_r||_F, *q_err = ||Q Q^T - I_r||_F
 * (the square roots of the two terms of AdaLoRA's regulariser). r = 0 gives 0 and 0. Scratch: slot
 * LSC_WS_CALLER_FIRST. Errors: NULL arguments, negative shapes (LSC_ERR_INVALID); non-finite entries
 * (LSC_ERR_NUMERIC); LSC_ERR_NOMEM. */
lsc_status lsc_adalora_orthogonality(const lsc_adalora_layer *l, lsc_workspace *ws, double *p_err, double *q_err,
                                     lsc_error *err);

/* The factor view of an AdaLoRA layer: A_out [r, cols] = diag(E) Q, and *view = {rows, cols, r, B = P,
 * A = A_out, scale}. view borrows P and A_out. Errors: NULL arguments (LSC_ERR_INVALID); non-finite E or
 * Q (LSC_ERR_NUMERIC). */
lsc_status lsc_adalora_view(const lsc_adalora_layer *l, double *A_out, lsc_lowrank *view, lsc_error *err);

/* ------------------------------------------------------------------------------------------------ */
/* Sparse (SoRA): dW = s B diag(g) A with a gate g [r]; element-wise sparsity of factors             */

/* One L1 proximal step of the gate: g_out[i] = sign(g[i]) * max(|g[i]| - lambda, 0) (+0.0 where the gate
 * closes), *live = the number of nonzero g_out. g_out may be g (in place). lambda >= 0 and finite.
 * Errors: NULL arrays with r > 0, r < 0, lambda out of range (LSC_ERR_INVALID); non-finite gates
 * (LSC_ERR_NUMERIC). */
lsc_status lsc_sora_threshold(const double *g, int r, double lambda, double *g_out, int *live, lsc_error *err);

/* Fold the gate into B: B_out [rows, r] = B diag(g), so dW = s B_out A. B_out may be B (in place).
 * Errors: NULL arrays, negative shapes (LSC_ERR_INVALID); non-finite entries (LSC_ERR_NUMERIC). */
lsc_status lsc_sora_fold(const double *B, const double *g, int64_t rows, int r, double *B_out, lsc_error *err);

/* Drop the ranks whose gate is exactly zero: B_out [rows, k] (columns of B), g_out [k], A_out [k, cols]
 * (rows of A), order preserved, *k_out = k = number of nonzero gates. Exact: the delta s B diag(g) A is
 * unchanged (the dropped terms are exactly zero because every entry is finite). Outputs must not overlap
 * the inputs; with k = 0 nothing is written. Errors: NULL arrays (outputs may be NULL when k = 0), negative
 * shapes (LSC_ERR_INVALID); non-finite entries (LSC_ERR_NUMERIC). */
lsc_status lsc_sora_compact(const double *B, const double *g, const double *A, int64_t rows, int64_t cols, int r,
                            double *B_out, double *g_out, double *A_out, int *k_out, lsc_error *err);

/* Relative tolerance of "near zero" in lsc_factor_sparsity. */
#define LSC_NEAR_ZERO_REL 1e-3

/* Element sparsity of one factor x [n]: *zero_frac = (entries exactly 0) / n, *near_frac = (entries with
 * |x| <= LSC_NEAR_ZERO_REL * max|x|) / n (includes the exact zeros; an all-zero x gives 1 and 1). n = 0
 * gives 0 and 0. Errors: NULL pointers, n < 0 (LSC_ERR_INVALID); non-finite entries (LSC_ERR_NUMERIC). */
lsc_status lsc_factor_sparsity(const double *x, int64_t n, double *zero_frac, double *near_frac, lsc_error *err);

/* Histogram of log10|x| over x [n] into counts [nbins + 2], ADDED to what counts holds (zero it first; so
 * several factors or layers can be summed). With w = (hi_exp - lo_exp) / nbins:
 *   counts[0]          zeros and |x| < 10^lo_exp (underflow)
 *   counts[1 + i]      lo_exp + i w <= log10|x| < lo_exp + (i + 1) w, i = 0 .. nbins - 1
 *   counts[nbins + 1]  |x| >= 10^hi_exp (overflow)
 * log10 is the C library's; a value within rounding of a bin edge may land on either side of it.
 * Errors: nbins < 1, lo_exp >= hi_exp or either not finite, NULL pointers, n < 0 (LSC_ERR_INVALID);
 * non-finite entries (LSC_ERR_NUMERIC; counts untouched). */
lsc_status lsc_magnitude_histogram(const double *x, int64_t n, int nbins, double lo_exp, double hi_exp,
                                   int64_t *counts, lsc_error *err);

/* Magnitude-prune x [n] to a density: keep the floor(density * n) entries of largest |x| (ties: the one
 * earlier in x is kept), zero the rest, into x_out [n] (may be x). *kept (may be NULL) = floor(density *
 * n). density in [0, 1]. Selection in O(n) expected time; scratch of n doubles is malloc'd. Errors: density
 * out of range or NaN, NULL pointers, n < 0 (LSC_ERR_INVALID); non-finite entries (LSC_ERR_NUMERIC);
 * LSC_ERR_NOMEM. */
lsc_status lsc_factor_prune_density(const double *x, int64_t n, double density, double *x_out, int64_t *kept,
                                    lsc_error *err);

/* Magnitude-prune both factors of a layer (density_B for B, density_A for A, each in [0, 1]; 1 keeps the
 * factor) into B_out [rows, r] and A_out [r, cols] (scale unchanged), and report the relative change of
 * the delta ||dW - dW'||_F / ||dW||_F (lsc_kinds_rel_change: from the factors, never dense). B_out and
 * A_out must not overlap the layer's factors (the original is needed for the figure).
 * Scratch: as lsc_kinds_rel_change. Errors: those of lsc_factor_prune_density and lsc_kinds_rel_change. */
lsc_status lsc_sparse_prune_layer(const lsc_lowrank *lr, double density_B, double density_A, lsc_workspace *ws,
                                  double *B_out, double *A_out, double *rel_change, lsc_error *err);

/* ------------------------------------------------------------------------------------------------ */
/* Multi-task: T >= 2 task layers of one shape (ranks and scales may differ)                          */

/* Add the Gram matrix of this layer's tasks to G [T, T] (row-major, symmetric):
 *   G[i][j] += <dW_i, dW_j>_F = s_i s_j sum((B_i^T B_j) .* (A_i A_j^T))   (the trace form, r_i x r_j work)
 * Summed over the layers of an adapter, G holds the inner products of the whole task vectors; turn it into
 * cosines with lsc_tasks_cosine_from_gram. Scratch: slots LSC_WS_CALLER_FIRST..+2.
 * Errors: T < 2, shape mismatch between tasks, negative shapes, NULL arguments (LSC_ERR_INVALID);
 * non-finite factors or scales (LSC_ERR_NUMERIC; G untouched); LSC_ERR_NOMEM. */
lsc_status lsc_tasks_accumulate(const lsc_lowrank *views, int T, lsc_workspace *ws, double *G, lsc_error *err);

/* Cosines from a Gram matrix G [T, T]: norms[i] = sqrt(G[i][i]), C[i][j] = G[i][j] / (norms[i] norms[j])
 * clamped to [-1, 1]; where a norm is 0: C = 1 if both are 0 (so the diagonal is always 1), 0 otherwise.
 * C [T, T] and norms [T] (may be NULL) caller-owned. Errors: T < 2, NULL G or C (LSC_ERR_INVALID);
 * non-finite G or a negative diagonal (LSC_ERR_NUMERIC). */
lsc_status lsc_tasks_cosine_from_gram(const double *G, int T, double *C, double *norms, lsc_error *err);

/* Task x task cosine matrix of one layer: lsc_tasks_accumulate into a zero Gram then
 * lsc_tasks_cosine_from_gram. C [T, T], norms [T] (may be NULL; ||dW_t||_F). Scratch: slots
 * LSC_WS_CALLER_FIRST..+3. Errors: theirs. */
lsc_status lsc_tasks_cosine_matrix(const lsc_lowrank *views, int T, lsc_workspace *ws, double *C, double *norms,
                                   lsc_error *err);

/* Dimension of the input-side subspace shared by all tasks. Each task's input subspace is spanned by the
 * right singular vectors of dW_t with sigma > 1e-10 sigma_1 (lsc_spectrum; a zero task spans nothing).
 * With S_1 = V_1, step t = 2 .. T takes the principal vectors of S_(t-1) and V_t (SVD of S^T V_t =
 * Y diag(c) Z^T: pairs S y_i, V_t z_i with cosine c_i), keeps the pairs with c_i >= tau (1e-12 relative
 * slack, so tau = 1 still counts exactly shared directions through rounding) and sets S_t to their
 * normalised averages (S y_i + V_t z_i) / sqrt(2 (1 + c_i)), which are orthonormal. *dim = the number of
 * columns of S_T. For T = 2 this is exactly the number of singular values of V_1^T V_2 that are >= tau
 * (the principal angles of at most arccos tau); for T > 2 it is the iterated intersection, which depends
 * on the task order only through the averaging (exactly shared directions are found in any order).
 * cosines_out (may be NULL) [min_t r_t] receives the cosines c_i of the last step (against task T),
 * descending, padded with zeros; all zeros if the intersection became empty before the last step.
 * tau in (0, 1]. Scratch: slots 0-7 (lsc_spectrum) and LSC_WS_CALLER_FIRST..+4.
 * Errors: T < 2, tau out of range or NaN, shape mismatch, NULL arguments (LSC_ERR_INVALID); those of
 * lsc_spectrum, prefixed with the task index; LSC_ERR_NOMEM. */
lsc_status lsc_tasks_shared_dim(const lsc_lowrank *views, int T, double tau, lsc_workspace *ws, int *dim,
                                double *cosines_out, lsc_error *err);

/* Largest k lsc_tasks_factor_shared accepts: min(cols, sum_t r_t, sum_t min(rows, r_t)) (0 if invalid). */
int lsc_tasks_shared_max_k(const lsc_lowrank *views, int T);

/* One A shared by all tasks (HydraLoRA-style): dW_t ~= B_task[t] A_shared.
 * A_shared [k, cols] = the top-k right singular vectors (as rows, orthonormal) of the stacked matrix
 * [dW_1; ...; dW_T] = blockdiag(s_t B_t) [A_1; ...; A_T]. With s_t B_t = Q_t R_t (thin QR), blockdiag(Q_t)
 * has orthonormal columns, so these are the right singular vectors of blockdiag(s_t R_t) [A_1; ...; A_T],
 * a small low-rank layer handed to lsc_spectrum: never dense, never the T*rows-row stack.
 * B_task[t] [rows, k] = dW_t A_shared^T = s_t B_t (A_t A_shared^T), the best B for that A (least squares),
 * so B_task[t] A_shared = dW_t projected onto the shared input subspace.
 * rel_err [T] (may be NULL): ||dW_t - B_task[t] A_shared||_F / ||dW_t||_F, computed as the norm of the
 * layer s_t B_t (A_t - (A_t A_shared^T) A_shared), the exact residual, from its factors. With k the rank
 * of the union of the tasks' input subspaces it is 0 up to rounding. 1 <= k <= lsc_tasks_shared_max_k.
 * Scratch: slots 0-7, LSC_WS_CALLER_FIRST..+5 and LSC_WS_SLOTS - 1.
 * Errors: T < 2, k out of range, shape mismatch, NULL arguments (LSC_ERR_INVALID); non-finite factors or
 * scales (LSC_ERR_NUMERIC); rows or cols beyond INT_MAX (LSC_ERR_UNSUPPORTED); LSC_ERR_NOMEM. */
lsc_status lsc_tasks_factor_shared(const lsc_lowrank *views, int T, int k, lsc_workspace *ws, double *A_shared,
                                   double *const *B_task, double *rel_err, lsc_error *err);

#endif
