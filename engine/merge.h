/* merge.h: merging the same layer of several LoRA adapters into one, layer by layer.
 *
 * Inputs are n_models layers of one module (lsc_lowrank views of the same shape [rows, cols]; ranks may
 * differ; a model that lacks the layer is simply not passed) and weights w_k. Write tau_k = s_k B_k A_k
 * for model k's delta. Pure compute over BLAS/LAPACKE: no I/O, never prints.
 *
 * The exact formula of each method (weights always multiply whole deltas, never A and B separately:
 * PEFT's add_weighted_adapter scales A and B of each adapter and, for its svd/ties/dare paths,
 * concatenates or combines them so that cross terms B_i A_j appear; we never produce cross terms):
 *   CAT          M = sum_k w_k tau_k, exactly, as concatenated factors
 *                B = [w_1 s_1 B_1, ..., w_K s_K B_K] / s_out, A = [A_1; ...; A_K], rank sum_k r_k.
 *   LINEAR       the same exact sum; with rank > 0 recompressed like SVD, with rank 0 identical to CAT.
 *   SVD          the best rank-`rank` approximation of M = sum_k w_k tau_k (Eckart-Young), by the factored
 *                SVD of the concatenation (spectrum.h): the dense M is never formed.
 * Element-wise methods (need M entry by entry; n = rows * cols entries per task vector):
 *   trim(x)      magnitude trim: keep the m = floor(density * n * (1 + 1e-12)) entries of largest |x|, zero the
 *                rest; among entries of equal |x| at the threshold, the ones first in row-major order are
 *                kept. m = 0 zeroes the whole task vector.
 *   dare_k(x)    DARE: entry i (row-major index i = row * cols + col) of task vector k (0-based position in
 *                the input array) survives when u(seed, k, i) < density and is then divided by density;
 *                the others become 0. density = 1 keeps everything unchanged.
 *   MAGNITUDE    M = sum_k w_k trim(tau_k)
 *   DARE_LINEAR  M = sum_k w_k dare_k(tau_k)
 *   TIES         t_k = trim(tau_k); per entry S = sum_k w_k t_k (summed in k order), gamma = +1 if S >= 0
 *                else -1 (ties to +); M = sum_k w_k t_k [sign t_k = gamma] / sum_k w_k [sign t_k = gamma],
 *                M = 0 where that denominator is 0 (no model agrees; zero entries never agree). Needs every
 *                w_k > 0. (PEFT divides by the count of agreeing models; we divide by their weights.)
 *   DARE_TIES    TIES with t_k = dare_k(tau_k) instead of the magnitude trim.
 * The element-wise result M is then re-factorised to rank `rank` (lsc_merge_refactor).
 *
 * DARE's generator, a counter-based hash so that the mask does not depend on the order entries are
 * visited in (the kernel visits row blocks in order, models in order within a block, entries row-major):
 *   mix(z)      = z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^ (z >> 31)
 *                 (the splitmix64 finaliser, all arithmetic mod 2^64)
 *   key(seed,k) = mix(seed + 0x9E3779B97F4A7C15 * (k + 1))
 *   u(seed,k,i) = (mix(key(seed,k) ^ mix(i + 0xD1B54A32D192ED03)) >> 11) * 2^-53, uniform in [0, 1)
 *
 * Memory: element-wise merges never hold more than one dense matrix per layer. Task vectors are formed
 * in row blocks (tau_k[rows block] = s_k B_k[block] A_k, one GEMM) and combined entry by entry; the
 * magnitude threshold of each tau_k is found by an exact radix selection over the bit patterns of |x|
 * that re-forms the row blocks on each of its passes (at most four, usually two) instead of storing tau_k.
 * The only full-size buffer is the merged M (rows x cols doubles, from the workspace, reused across
 * layers); the randomized SVD then works on M with a handful of thin [rows or cols, rank + 10] matrices.
 */
#ifndef LSC_MERGE_H
#define LSC_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "lowrank.h"
#include "status.h"
#include "workspace.h"

/* X-macro list: method, name used by the command layer. */
#define LSC_MERGE_METHOD_LIST(X)              \
    X(LSC_MERGE_CAT, "cat")                   \
    X(LSC_MERGE_LINEAR, "linear")             \
    X(LSC_MERGE_SVD, "svd")                   \
    X(LSC_MERGE_MAGNITUDE, "magnitude")       \
    X(LSC_MERGE_DARE_LINEAR, "dare_linear")   \
    X(LSC_MERGE_TIES, "ties")                 \
    X(LSC_MERGE_DARE_TIES, "dare_ties")

typedef enum {
#define LSC_X_ENUM(code, name) code,
    LSC_MERGE_METHOD_LIST(LSC_X_ENUM)
#undef LSC_X_ENUM
    LSC_MERGE_METHOD_COUNT
} lsc_merge_method;

/* Name of a method ("ties"); "?" when out of range. */
const char *lsc_merge_method_name(lsc_merge_method m);

/* The method called `name`; LSC_ERR_INVALID ("unknown merge method 'x'") otherwise. */
lsc_status lsc_merge_method_from_name(const char *name, lsc_merge_method *m, lsc_error *err);

/* True for MAGNITUDE, DARE_LINEAR, TIES, DARE_TIES (they need a dense layer and a re-factorisation). */
int lsc_merge_is_elementwise(lsc_merge_method m);

typedef struct lsc_merge_params {
    lsc_merge_method method;
    int rank;         /* output rank: >= 1 for SVD and the element-wise methods; LINEAR: 0 = exact (as CAT),
                       * >= 1 recompresses; ignored by CAT. The output never exceeds what the result has:
                       * see lsc_merge_out_rank */
    double density;   /* element-wise methods: fraction kept, in (0, 1] */
    uint64_t seed;    /* DARE masks and the randomized SVD's test matrix */
    double out_scale; /* applied scale of the output factors (out_scale * B * A = result): finite, non-zero */
    int exact_svd;    /* element-wise: re-factorise with LAPACK dgesdd (needs two more dense copies; small
                       * layers) instead of the randomized SVD */
} lsc_merge_params;

/* Defaults: the given method, rank 0, density 1, seed 0, out_scale 1, randomized re-factorisation. */
lsc_merge_params lsc_merge_params_default(lsc_merge_method method);

typedef struct lsc_merge_info {
    int rank;         /* rank of the output factors */
    double rel_error; /* ||M - out_scale B A||_F / ||M||_F against the exact method result M (0 when exact
                       * or M = 0). SVD/LINEAR: from the discarded singular values; element-wise: computed
                       * explicitly against the dense M after the re-factorisation */
    double kept_energy; /* energy share of the kept singular values (1 when exact); for a randomized
                         * re-factorisation, 1 - rel_error^2 */
} lsc_merge_info;

/* Rank of the factors lsc_merge_layer writes for these inputs: CAT and LINEAR with rank 0: sum_k r_k;
 * SVD and LINEAR with rank > 0: min(rank, sum_k r_k, rows, cols), at least 1; element-wise:
 * min(rank, rows, cols). 0 when the inputs or parameters are invalid (lsc_merge_layer says why). Use it
 * to size B_out [rows, R] and A_out [R, cols]. */
int lsc_merge_out_rank(const lsc_lowrank *layers, int n_models, const lsc_merge_params *p);

/* Merge one layer: layers [n_models] and w [n_models] (finite weights) into new factors
 * B_out [rows, R] and A_out [R, cols], row-major, caller-owned, R = lsc_merge_out_rank(...), so that
 * p->out_scale * B_out * A_out is the method's result (exact for CAT/LINEAR rank 0; for SVD the best
 * rank-R approximation of the exact sum; element-wise: the re-factorised M). Outputs of truncated
 * results are balanced (||B_out||_F = ||A_out||_F). info may be NULL.
 * Scratch from ws (caller slots and below; element-wise methods keep the dense M there, so a workspace
 * that served a 11008 x 4096 layer holds ~360 MB until freed).
 * Errors: LSC_ERR_INVALID for n_models < 1, layers of different shapes (the message names both shapes),
 * a non-finite weight, rank < 1 where one is needed, density outside (0, 1] or non-finite, a non-positive
 * weight with TIES/DARE_TIES, a zero or non-finite out_scale, NULL arguments; LSC_ERR_NUMERIC for
 * non-finite factors or scales, or a result that overflows; LSC_ERR_NOMEM; LAPACK failures as
 * LSC_ERR_NUMERIC. Outputs unspecified on failure. */
lsc_status lsc_merge_layer(const lsc_lowrank *layers, const double *w, int n_models, const lsc_merge_params *p,
                           lsc_workspace *ws, double *B_out, double *A_out, lsc_merge_info *info, lsc_error *err);

/* The method's exact dense result M [rows, cols] (row-major, caller-owned) before any re-factorisation:
 * sum_k w_k tau_k for CAT/LINEAR/SVD, the element-wise formula otherwise. For previews, exports of dense
 * deltas and tests; memory as lsc_merge_layer minus the full-size workspace buffer. Same errors as
 * lsc_merge_layer (rank is not checked). */
lsc_status lsc_merge_dense(const lsc_lowrank *layers, const double *w, int n_models, const lsc_merge_params *p,
                           lsc_workspace *ws, double *M, lsc_error *err);

/* Re-factorise a dense matrix M [rows, cols] (row-major, not modified, and not a buffer of ws) to rank
 * R = min(rank, rows, cols):
 * B_out [rows, R], A_out [R, cols] balanced for the applied scale out_scale, as in lsc_prune_truncate.
 * exact != 0: LAPACK dgesdd on a copy (optimal; O(rows cols min) time, two more dense buffers).
 * exact == 0: randomized SVD (Halko, Martinsson, Tropp 2011): Gaussian test matrix Omega [cols, R + 10]
 * drawn from `seed` (splitmix64 stream + Box-Muller), Y = M Omega, two power iterations with QR
 * re-orthonormalisation (Y <- M orth(M^T orth(Y))), Q = orth(Y), SVD of the small Q^T M.
 * info->rel_error is then computed exactly as ||M - out_scale B_out A_out||_F / ||M||_F by a blocked pass
 * over M (exact path: from the discarded singular values). Errors: LSC_ERR_INVALID for rank < 1, empty or
 * negative shapes, NULL arguments, a bad out_scale; LSC_ERR_NUMERIC for non-finite entries in M or a
 * LAPACK failure; LSC_ERR_NOMEM. */
/* lsc_merge_layer re-factorises an element-wise result with seed p->seed ^ LSC_MERGE_SVD_SEED_MIX, so the
 * test matrix is not drawn from the same numbers as the DARE masks. */
#define LSC_MERGE_SVD_SEED_MIX 0x5851F42D4C957F2Dull

lsc_status lsc_merge_refactor(const double *M, int64_t rows, int64_t cols, int rank, double out_scale, uint64_t seed,
                              int exact, lsc_workspace *ws, double *B_out, double *A_out, lsc_merge_info *info,
                              lsc_error *err);

/* Tuning knob of the magnitude selection: the number of candidate entries it may gather into one buffer
 * (8 bytes each) instead of running another radix pass; 0 restores the default (2^21). Returns the
 * previous value. Process-wide and not thread-safe: set it once before merging (tests set it small to
 * exercise every radix pass). Results never depend on it. */
size_t lsc_merge_set_select_cap(size_t cap);

#endif
