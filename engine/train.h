/* train.h: the numerical engine behind `lorascope retrain`: fit low-rank factors to a target delta.
 *
 * For one layer, minimise E_x ||(T - dW) x||^2 over the inputs x, dW = s * B * A with trainable B [rows, k]
 * and A [k, cols]. With isotropic inputs the loss is ||T - sBA||_F^2; with a calibration second-moment
 * matrix C = E[x x^T] [cols, cols] (symmetric PSD) it is trace((T - sBA) C (T - sBA)^T); C may instead be
 * given as samples X [N, cols] (C = X^T X / N), which is cheaper when N < cols.
 * The target T is either low-rank factors (T = s_t B_t A_t: retraining an adapter at another rank or kind)
 * or dense (LoRA extraction from a base/tuned weight difference).
 *
 * Never forming dW (FORMATS.md, "Maths that never needs dW"): with M = B D (D the diagonal of the kind,
 * see below), G = T C A^T [rows, k], H = M^T T C [k, cols], S = A C A^T [k, k]:
 *   loss   = ||T||_C^2 - 2 s <M, G> + s^2 <M^T M, S>
 *   dL/dM  = -2 s G + 2 s^2 M S            dL/dA = -2 s H + 2 s^2 (M^T M) (A C)
 * For a factored target G = s_t B_t ((A_t C) A^T) and H = s_t (M^T B_t)(A_t C) cost O((rows + cols) r k);
 * A_t C is computed once when the state is made. With C, A C costs O(k cols^2) per step (O(k N cols)
 * with samples). A dense target costs O(rows cols k) per step (T C is formed once when C is given).
 * Everything is double precision. The loss is the difference of the three terms above: its absolute
 * rounding error is ~1e-16 ||T||_C^2, so a loss near zero is exact only to that level.
 *
 * The kinds (FORMATS.md, "What the six LoRA kinds are, as kernels") share one kernel: every one of them is
 * dW_m = s_eff * B_m * diag(d) * A for task m, and a kind is a small set of hooks in train.c that says which
 * rank prefix is active, whether d is trained, what is added to the loss and what happens after the step:
 *   LSC_TRAIN_STATIC     d = 1, s_eff = s.
 *   LSC_TRAIN_DYNAMIC    DyLoRA: each step samples b uniformly in [1, k] (seeded) and trains only B[:, :b],
 *                        A[:b, :] on the prefix adapter with s_eff = alpha / b, alpha = s * k (so b = k
 *                        gives s). Entries outside the prefix keep their Adam moments; bias correction
 *                        uses the state's step count. With the alpha/b scale no adapter can meet every prefix's truncation
 *                        optimum at once (a direction shared by prefixes b and b' is scaled by alpha/b in one
 *                        and alpha/b' in the other), so the prefixes trade off: the tests assert every prefix
 *                        within 1.5x of its best rank-b error on a target whose energy beyond rank k is
 *                        large, and far better prefixes than a statically trained adapter.
 *   LSC_TRAIN_ADAPTIVE   AdaLoRA: B = P [rows, k], d = Lambda [k] (trained), A = Q [k, cols]; importance of
 *                        triplet i = s(Lambda_i) + mean_j s(Q_ij) + mean_j s(P_ji), s(w) = Ibar * Ubar with
 *                        Ibar <- b1 Ibar + (1-b1)|w dL/dw|, Ubar <- b2 Ubar + (1-b2)|I - Ibar| (updated each
 *                        step from the pre-step weights and gradients); budget b(t) = b0 for t < tinit, bT for
 *                        t > T - tfinal, else floor(bT + (b0 - bT)(1 - (t - tinit)/(T - tinit - tfinal))^3).
 *                        A mask event (after the Adam step t, t counted from 1) happens when t >= tinit and
 *                        ((t - tinit) % deltaT == 0 or t > T - tfinal or t == T): the b(t) most important
 *                        triplets are kept (ties: lower index first), the others get Lambda_i = 0 and are not
 *                        updated until a later event keeps them again. In the final phase the mask, once at
 *                        bT, stays fixed. So from the first event with t > T - tfinal (or at t == T) on,
 *                        EXACTLY bT triplets are kept. The regulariser gamma (||P^T P - I||^2 +
 *                        ||Q Q^T - I||^2) is added to the loss with its gradient.
 *   LSC_TRAIN_SPARSE     SoRA: d = g [k] (trained); after each Adam step g <- sign(g) max(|g| - lr * lambda_t,
 *                        0), lambda_t = lambda + (lambda_end - lambda) * min(t, ramp)/ramp (constant when
 *                        ramp == 0). A zero gate is a dropped rank.
 *   LSC_TRAIN_MULTITASK  shared A, one B_m per task: loss = sum_m ||T_m - s B_m A||_C^2; a step updates A from
 *                        all tasks and every B_m. Its optimum is exact: the best rank-k fit of the stacked
 *                        target [T_1; ...; T_M] (lsc_train_optimum computes it).
 * Layer-wise ranks are only per-layer k chosen by the caller (lsc_train_budget_ranks helps).
 *
 * Optimiser: Adam (beta1 0.9, beta2 0.999, eps 1e-8, bias correction by the state's step count) on every
 * trained parameter; lr(t) from lsc_train_lr (linear warm-up, then cosine decay to lr_min).
 *
 * Randomness (documented so a seed means the same numbers everywhere): one splitmix64 stream per state,
 * x_{n+1} = x_n + 0x9E3779B97F4A7C15, output mixed by splitmix64's finaliser, started from the seed given to
 * lsc_train_init. A uniform in [0, 1) is (z >> 11) * 2^-53; a normal uses Box-Muller on two uniforms
 * (u1 replaced by 1 - u1 so log never sees 0; one normal per pair). Random init (PEFT's fresh LoRA), rank
 * by rank i = 0..k-1: A row i left to right from U(-1/sqrt(cols), 1/sqrt(cols)) (kaiming_uniform with
 * a = sqrt(5)), B[:, i] = 0 (every B_m for multi-task), d_i = 1 (sparse g); adaptive (PEFT AdaLoRA):
 * P[:, i] top to bottom, then Q row i, from N(0, 0.02^2), Lambda_i = 0. DyLoRA's prefix draws continue the
 * same stream after the init: b = 1 + (z % k).
 * Determinism: single thread, no hidden state; same problem, rule, seed and lr sequence give the same bytes.
 *
 * Pure compute over BLAS/LAPACKE; never prints, never does I/O; depends on status, lowrank, workspace,
 * spectrum only. A state is not thread-safe; different states may train on different threads.
 */
#ifndef LSC_TRAIN_H
#define LSC_TRAIN_H

#include <stdint.h>

#include "adapter.h"
#include "lowrank.h"
#include "status.h"
#include "workspace.h"

/* One target delta: dense if T is non-NULL (T [rows, cols] row-major), else the factors lr (lr.rows and
 * lr.cols must equal the problem's; lr.r may be 0: a zero target). */
typedef struct lsc_train_target {
    const double *T;
    lsc_lowrank lr;
} lsc_train_target;

/* The per-layer problem. The caller owns every buffer and keeps them alive and unchanged while a state
 * made from this problem is used (the state precomputes from them). */
typedef struct lsc_train_problem {
    int64_t rows, cols;
    int k;                           /* trainable rank, >= 1 */
    double scale;                    /* s of the trainable layer (alpha / k for PEFT); non-zero */
    int n_tasks;                     /* number of targets, >= 1 (> 1 only for LSC_TRAIN_MULTITASK) */
    const lsc_train_target *targets; /* [n_tasks] */
    const double *C;                 /* NULL (isotropic) or C [cols, cols] symmetric PSD, row-major */
    const double *X;                 /* NULL or samples X [n_samples, cols] (C = X^T X / n_samples) */
    int64_t n_samples;               /* rows of X; at most one of C and X */
} lsc_train_problem;

#define LSC_TRAIN_KIND_LIST(X)                  \
    X(LSC_TRAIN_STATIC, "static")               \
    X(LSC_TRAIN_DYNAMIC, "dynamic")             \
    X(LSC_TRAIN_ADAPTIVE, "adaptive")           \
    X(LSC_TRAIN_SPARSE, "sparse")               \
    X(LSC_TRAIN_MULTITASK, "multitask")

typedef enum {
#define LSC_X_ENUM(code, name) code,
    LSC_TRAIN_KIND_LIST(LSC_X_ENUM)
#undef LSC_X_ENUM
    LSC_TRAIN_KIND_COUNT
} lsc_train_kind;

/* Name of a kind ("adaptive"); "unknown" out of range. */
const char *lsc_train_kind_name(lsc_train_kind kind);

/* The single-target training kind that keeps an adapter of kind k what it is: dynamic, adaptive and
 * sparse train under their own rule; static, layer-wise and anything else under LSC_TRAIN_STATIC (a
 * multi-task adapter trains its tasks together, through LSC_TRAIN_MULTITASK, by its own path). */
lsc_train_kind lsc_train_kind_keeping(lsc_kind k);

/* The kind and its parameters. Fields that do not belong to the kind are ignored. */
typedef struct lsc_train_rule {
    lsc_train_kind kind;
    /* adaptive: budgets b0 >= bT >= 1, b0 <= k; total steps T >= 1; 0 <= tinit, tfinal with
     * tinit + tfinal < T; deltaT >= 1; beta1, beta2 in [0, 1); orth_reg gamma >= 0.
     * lsc_train_rule_default fills PEFT's defaults (beta 0.85, gamma 0.5, deltaT 1, b0 = k, bT = k). */
    int budget_init, budget_final;
    int total_steps, t_init, t_final, delta_t;
    double beta1, beta2, orth_reg;
    /* sparse: lambda, lambda_end >= 0, ramp >= 0 steps (0: lambda constant) */
    double lambda, lambda_end;
    int lambda_ramp;
} lsc_train_rule;

/* A rule of the given kind with defaults for problem rank k and total steps (adaptive: b0 = bT = k,
 * tinit = tfinal = 0, deltaT = 1, beta1 = beta2 = 0.85, gamma = 0.5; sparse: lambda = lambda_end = 0). */
lsc_train_rule lsc_train_rule_default(lsc_train_kind kind, int k, int total_steps);

/* Learning-rate schedule: linear warm-up from lr_max/warmup to lr_max over steps 1..warmup, then cosine
 * decay from lr_max to lr_min at step total (steps past total stay at lr_min). */
typedef struct lsc_train_schedule {
    double lr_max, lr_min;
    int warmup, total;
} lsc_train_schedule;

/* lr for step t (counted from 1); t <= 0 gives the first step's rate. */
double lsc_train_lr(const lsc_train_schedule *sched, int t);

/* Adaptive budget b(t) of the rule (see the head comment); b0 for a non-adaptive rule. */
int lsc_train_budget(const lsc_train_rule *rule, int t);

/* Check a problem (and a rule against it): shapes, finiteness of every factor, target and C/X entry,
 * symmetry of C (relative 1e-10), the kind's parameters. LSC_ERR_INVALID with a message naming the first
 * fault; LSC_ERR_NUMERIC for non-finite entries; LSC_ERR_UNSUPPORTED for shapes beyond INT_MAX (rows, cols,
 * k * cols, k * rows). rule may be
 * NULL. O(size of the inputs). */
lsc_status lsc_train_problem_check(const lsc_train_problem *p, const lsc_train_rule *rule, lsc_error *err);

typedef struct lsc_train_state lsc_train_state;

/* New trainer for problem p under rule: checks both (lsc_train_problem_check), copies the rule,
 * precomputes the constant products (||T_m||_C^2, A_t C, or T C for a dense target with C) and allocates
 * the parameters (zero until lsc_train_init) and Adam moments. The state keeps no pointer into p: every
 * later call takes p again and it must be the same, unchanged problem. Returns NULL and fills err on
 * failure (the check's errors, LSC_ERR_NOMEM). Free with lsc_train_state_free. */
lsc_train_state *lsc_train_state_new(const lsc_train_problem *p, const lsc_train_rule *rule, lsc_error *err);

/* Release; NULL does nothing. */
void lsc_train_state_free(lsc_train_state *st);

typedef enum {
    LSC_TRAIN_INIT_SELF,   /* copy the given factors */
    LSC_TRAIN_INIT_SVD,    /* best rank-k fit of the target(s) (lsc_train_optimum's factors) */
    LSC_TRAIN_INIT_RANDOM, /* PEFT's fresh initialisation (head comment) */
} lsc_train_init_mode;

/* Starting factors for LSC_TRAIN_INIT_SELF: B [n_tasks * rows, k] (the B_m one after another), A [k, cols],
 * d [k] or NULL (ones): Lambda for adaptive, g for sparse, ignored otherwise. */
typedef struct lsc_train_factors {
    const double *B, *A, *d;
} lsc_train_factors;

/* Initialise parameters, zero the Adam moments, importance averages and step count, keep every triplet,
 * and seed the state's random stream with `seed`. SVD: B = U_k sqrt(S/|s|) sign(s), A = sqrt(S/|s|) V_k^T
 * mapped back through C^{-1/2} when weighted (adaptive: P = U_k, Lambda = S/s, Q = V_k^T; multi-task: the
 * stacked fit, B_m the row blocks of U); when the target has fewer than k non-zero singular values the
 * remaining ranks start as the random init starts a rank (head comment), drawing from the seeded stream. `from` is used only by SELF.
 * ws: scratch (any slots). Errors: LSC_ERR_INVALID (missing factors for SELF, non-finite given factors,
 * state/problem mismatch), the errors of lsc_train_optimum for SVD, LSC_ERR_NOMEM. */
lsc_status lsc_train_init(lsc_train_state *st, const lsc_train_problem *p, lsc_train_init_mode mode, uint64_t seed,
                          const lsc_train_factors *from, lsc_workspace *ws, lsc_error *err);

/* What one step did. loss: the fit loss (sum over tasks; dynamic: of the sampled prefix) before the
 * update; reg: the adaptive regulariser before the update (0 otherwise); rank: the prefix b trained
 * (dynamic) else k; kept: triplets kept after the step (adaptive) or live (non-zero) gates (sparse), else k. */
typedef struct lsc_train_report {
    double loss, reg;
    int rank, kept;
} lsc_train_report;

/* One training step with learning rate lr (> 0, finite; usually lsc_train_lr(sched, step + 1)): gradient
 * by the trace forms, the kind's pre-step work, Adam, the kind's post-step work. report may be NULL.
 * Scratch from ws (slots LSC_WS_CALLER_FIRST..; warm after the first step of a shape: no allocation).
 * Errors: LSC_ERR_INVALID for a problem that does not match the state or a bad lr; LSC_ERR_NUMERIC when
 * the loss or a gradient is not finite (diverged: the parameters are left as before the step);
 * LSC_ERR_NOMEM. */
lsc_status lsc_train_step(lsc_train_state *st, const lsc_train_problem *p, double lr, lsc_train_report *report,
                          lsc_workspace *ws, lsc_error *err);

/* Exact fit loss of the current parameters (sum over tasks; all k ranks with the kind's d and s), and
 * per task into task_loss [n_tasks] if non-NULL. Relative loss: divide by lsc_train_target_energy. */
lsc_status lsc_train_loss(const lsc_train_state *st, const lsc_train_problem *p, double *loss, double *task_loss,
                          lsc_workspace *ws, lsc_error *err);

/* The same loss with gradients, for tests and diagnostics: gB [n_tasks * rows, k], gA [k, cols], gd [k]
 * (each may be NULL) of the fit loss of the rank-b prefix (1 <= b <= k) with scale s_eff (columns and rows
 * beyond b get 0). The regulariser is not included. */
lsc_status lsc_train_gradient(const lsc_train_state *st, const lsc_train_problem *p, int b, double s_eff,
                              double *loss, double *gB, double *gA, double *gd, lsc_workspace *ws, lsc_error *err);

/* Losses of every prefix b = 1..k with the DyLoRA scale s * k / b (d applied) into out [k] (out[b-1]).
 * Summed over the tasks (multi-task), like lsc_train_loss. One pass, the cost of one loss, for all prefixes. */
lsc_status lsc_train_prefix_losses(const lsc_train_state *st, const lsc_train_problem *p, double *out,
                                   lsc_workspace *ws, lsc_error *err);

/* ||T_m||_C^2 summed over the tasks (the loss of dW = 0), computed when the state was made. */
double lsc_train_target_energy(const lsc_train_state *st);

/* Exact optimum of the problem at rank k (1 <= k): the least fit loss any rank-k dW (multi-task: any shared
 * A of k rows) reaches, the sum of the squared discarded singular values of the (stacked) target T, or of
 * T C^{1/2} when weighted (computed from the eigenvectors of C or the SVD of X, never C^{1/2} densely).
 * Factored targets go through lsc_spectrum; dense ones through dgesdd (O(rows cols min(rows, cols))).
 * ws: scratch. Errors: the problem check's, LSC_ERR_INVALID for k < 1 or a C that is not PSD (an eigenvalue
 * below -1e-10 * the largest), LSC_ERR_NUMERIC on LAPACK failure, LSC_ERR_NOMEM. */
lsc_status lsc_train_optimum(const lsc_train_problem *p, int k, double *loss, lsc_workspace *ws, lsc_error *err);

/* Read access to the parameters (owned by the state, valid until it is freed; rows as documented):
 * B [n_tasks * rows, k] (adaptive: P), A [k, cols] (adaptive: Q), d [k] (Lambda, g, or ones),
 * keep [k] (1 = triplet kept / gate live / rank used). Shapes and step count through the others. */
const double *lsc_train_B(const lsc_train_state *st);
const double *lsc_train_A(const lsc_train_state *st);
const double *lsc_train_d(const lsc_train_state *st);
const unsigned char *lsc_train_keep(const lsc_train_state *st);
int lsc_train_steps_done(const lsc_train_state *st);
int lsc_train_kept(const lsc_train_state *st);

/* Export the trained layer as plain LoRA factors for task m: dW = scale_out * B_out A_out with
 * B_out [rows, k] = B_m diag(d) (masked triplets and dead gates become zero columns; the caller may prune
 * them), A_out [k, cols] = A, *scale_out = s. Errors: LSC_ERR_INVALID for a bad task or missing output. */
lsc_status lsc_train_export(const lsc_train_state *st, int task, double *B_out, double *A_out, double *scale_out,
                            lsc_error *err);

/* Layer-wise ranks from a global budget: keep the `budget` largest singular values over all layers, each
 * non-empty layer at least 1 (its first value is kept and counts toward the budget), the rest to the
 * largest other values, ties to the lower layer then the lower index, so a layer keeps a prefix of its
 * spectrum. sv[l] points at n[l] descending non-negative values; ranks_out [n_layers] (0 for n[l] == 0).
 * Same rule as engine/prune.h's lsc_prune_budget (written here so train does not depend on that branch).
 * Errors: LSC_ERR_INVALID for budget < 1, n_layers < 0, NULL arrays, negative n, unsorted or negative
 * values; LSC_ERR_NUMERIC for a non-finite value; LSC_ERR_NOMEM. */
lsc_status lsc_train_budget_ranks(const double *const *sv, const int *n, int n_layers, int64_t budget,
                                  int *ranks_out, lsc_error *err);

#endif
