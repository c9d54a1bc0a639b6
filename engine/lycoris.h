/* lycoris.h: LyCORIS layers (LoHa, LoKr, LoCon with a Tucker core, DoRA) in factored form.
 *
 * Every one of these reduces exactly to the engine's one view, lsc_lowrank (s*B*A), without forming the
 * dense update dW:
 *   LoHa   dW = s (B1 A1) o (B2 A2) (Hadamard). With B the row-wise Kronecker (face-splitting) product of
 *          B1 and B2 and A the column-wise Kronecker (Khatri-Rao) product of A1 and A2,
 *          B [rows, r1 r2], B[o, p r2 + q] = B1[o, p] B2[o, q];  A [r1 r2, cols], A[p r2 + q, c] = A1[p, c] A2[q, c]
 *          and B A equals the Hadamard product exactly.
 *   LoKr   dW = s W1 (x) W2 (torch.kron: (W1 (x) W2)[i c + k, j d + l] = W1[i, j] W2[k, l] for W1 [a, b],
 *          W2 [c, d]). With Wt = Ut St Vt^T, B = (U1 S1) (x) (U2 S2), A = V1^T (x) V2^T; its singular values
 *          are the products s1_i s2_j, so the spectrum costs two small SVDs.
 *   Tucker dW[o, c, kk] = sum_{i,j} U[o, i] core[i, j, kk] D[j, c] is rank <= r over the flattened kernel:
 *          B = U [out, r], A [r, in*K] with A[i, c K + kk] = sum_j core[i, j, kk] D[j, c].
 * Conv layers are flattened the way torch reshapes [out, in, kh, kw] to [out, in*kh*kw]: column c*K + kk
 * with K = kh*kw, kk = y*kw + x.
 *
 * All matrices are row-major doubles. Pure compute over BLAS/LAPACKE; never prints, no I/O.
 * Formulas and scale rules checked against KohakuBlueleaf/LyCORIS: lycoris/modules/loha.py,
 * lycoris/modules/lokr.py, lycoris/functional/{loha,lokr,general}.py (HadaWeightTucker, rebuild_tucker,
 * tucker_weight_from_conv, make_kron, apply_weight_decompose).
 */
#ifndef LSC_LYCORIS_H
#define LSC_LYCORIS_H

#include <stdint.h>

#include "lowrank.h"
#include "status.h"
#include "workspace.h"

/* ---- scale ---------------------------------------------------------------------------------------- */

/* The factor LyCORIS applies to a LoHa or LoKr product, from `alpha` (NAN when the file has none) and the
 * ranks of the decomposed factors (0 for a factor stored as a full matrix):
 *   LoHa: w1_rank = rows of hada_w1_b (r1), w2_rank = r2.    LoKr: w1_rank = columns of lokr_w1_a (0 when
 *   lokr_w1 is full), w2_rank = rows of lokr_w2_b (0 when lokr_w2 is full).
 * Rule (LyCORIS modules/lokr.py __init__ and make_module_from_state_dict, functional/lokr.py diff_weight,
 * modules/loha.py __init__): lora_dim = w1_rank if > 0, else w2_rank; both full (lora_dim 0) gives 1
 * whatever alpha says ("use scale = 1"); alpha absent or 0 gives 1 (alpha := lora_dim); otherwise
 * alpha / lora_dim. (LyCORIS reads lora_dim of a Tucker w2 from lokr_w2_a's second dimension, which is
 * not the rank there; loaders such as ComfyUI use the rank, as here.) */
double lsc_lycoris_scale(double alpha, int w1_rank, int w2_rank);

/* ---- an owned low-rank result ------------------------------------------------------------------- */

/* A lowrank whose B and A live in `mem` (one allocation owned by the struct). */
typedef struct lsc_lycoris_owned {
    lsc_lowrank lr; /* B [lr.rows, lr.r] and A [lr.r, lr.cols] point into mem */
    double *mem;
} lsc_lycoris_owned;

/* Free mem and zero the struct; NULL or a zeroed struct is allowed. */
void lsc_lycoris_owned_release(lsc_lycoris_owned *o);

/* ---- LoCon with a Tucker core (lora_mid) -------------------------------------------------------- */

/* up [out, r] (lora_up [out, r, 1, 1]), mid [r, r, K] (lora_mid [r, r, kh, kw], K = kh*kw),
 * down [r, in] (lora_down [r, in, 1, 1]) -> *out = scale * B A with B [out, r] (a copy of up) and
 * A [r, in*K] as in the head comment, equal to the conv update dW [out, in, kh, kw] flattened.
 * Caller releases *out with lsc_lycoris_owned_release (also after a failure; it is zeroed first).
 * Errors: LSC_ERR_INVALID (missing factor, negative shape or K < 1), LSC_ERR_NOMEM. */
lsc_status lsc_lycoris_tucker_lowrank(const double *up, const double *mid, const double *down, int64_t out, int r,
                                      int64_t in, int64_t K, double scale, lsc_lycoris_owned *res, lsc_error *err);

/* ---- LoHa ------------------------------------------------------------------------------------------ */

/* One LoHa layer. rows = out features, cols = in features times K (flattened kernel).
 * Without Tucker cores (t1 = t2 = NULL): w1a [rows, r1] (hada_w1_a), w1b [r1, cols] (hada_w1_b, a conv's
 * [r1, in, kh, kw] flattened), w2a [rows, r2], w2b [r2, cols].
 * With Tucker cores (both t1 and t2; LyCORIS use_tucker): t1 [r1, r1, K] (hada_t1), w1a [r1, rows],
 * w1b [r1, cols/K], t2 [r2, r2, K], w2a [r2, rows], w2b [r2, cols/K]; K must divide cols; factor t is
 * sum_{i,j} wta[i, o] t[i, j, kk] wtb[j, c] at [o, c K + kk] (LyCORIS HadaWeightTucker). */
typedef struct lsc_loha {
    int64_t rows, cols;
    int r1, r2;
    const double *w1a, *w1b, *w2a, *w2b;
    const double *t1, *t2; /* both NULL or both set */
    int64_t K;             /* kernel elements kh*kw; only read with Tucker cores */
    double scale;          /* e.g. lsc_lycoris_scale(alpha, r1, r2) */
} lsc_loha;

/* The exact plain low-rank form of a LoHa layer: *out = scale * B A, B [rows, r1 r2], A [r1 r2, cols]
 * (face-splitting / Khatri-Rao products, see the head comment). max_rank > 0 caps r1 r2: a larger
 * product fails with LSC_ERR_UNSUPPORTED and nothing allocated; 0 means no cap. Caller releases *out.
 * Errors: LSC_ERR_INVALID (shapes, missing factor, only one Tucker core, K not dividing cols),
 * LSC_ERR_UNSUPPORTED (cap, or r1 r2 beyond INT_MAX), LSC_ERR_NOMEM. */
lsc_status lsc_lycoris_loha_lowrank(const lsc_loha *h, int max_rank, lsc_lycoris_owned *out, lsc_error *err);

/* Number of values lsc_lycoris_loha_spectrum gives: min(r1 r2, rows, cols) (0 for an empty layer). */
int lsc_lycoris_loha_count(const lsc_loha *h);

/* Singular values of the LoHa update, descending, into sv [lsc_lycoris_loha_count(h)]: the low-rank form
 * above through lsc_spectrum, never the dense dW. Scratch from ws: slots LSC_WS_CALLER_FIRST .. +2 hold
 * the factors (and a Tucker layer's A sides), lsc_spectrum uses its own. Errors as lsc_lycoris_loha_lowrank
 * and lsc_spectrum. */
lsc_status lsc_lycoris_loha_spectrum(const lsc_loha *h, lsc_workspace *ws, double *sv, lsc_error *err);

/* Frobenius norm of the LoHa update, and the inner product <dW_x, dW_y> of two LoHa updates of the same
 * [rows, cols], from the low-rank forms (Gram matrices of size (r1 r2)^2; no dW). Errors as
 * lsc_lycoris_loha_lowrank; LSC_ERR_INVALID for different shapes. */
lsc_status lsc_lycoris_loha_norm(const lsc_loha *h, double *norm, lsc_error *err);
lsc_status lsc_lycoris_loha_dot(const lsc_loha *x, const lsc_loha *y, double *dot, lsc_error *err);

/* ---- LoKr ------------------------------------------------------------------------------------------ */

/* One Kronecker factor W [rows, cols] in any of LyCORIS's three storages:
 *   full     r = 0: w [rows, cols] (lokr_w1, or lokr_w2 with a conv kernel flattened: [d, kh, kw] -> d*K);
 *   low rank r > 0, t = NULL: wa [rows, r] (lokr_w*_a), wb [r, cols] (lokr_w*_b);
 *   Tucker   r > 0, t [r, r, K] (lokr_t2): wa [r, rows], wb [r, cols/K]; W[k, l K + kk] =
 *            sum_{i,j} t[i, j, kk] wa[i, k] wb[j, l] (LyCORIS rebuild_tucker). */
typedef struct lsc_lokr_factor {
    int64_t rows, cols;
    int r;
    const double *w, *wa, *wb, *t;
    int64_t K; /* only read with t */
} lsc_lokr_factor;

/* dW = scale * W1 (x) W2, [w1.rows * w2.rows, w1.cols * w2.cols]. For a conv layer W1 is [a, b] and W2 is
 * [c, d*K]; LyCORIS's kron of w1 [a, b, 1, 1] with w2 [c, d, kh, kw], flattened, is exactly this. */
typedef struct lsc_lokr {
    lsc_lokr_factor w1, w2;
    double scale; /* e.g. lsc_lycoris_scale(alpha, w1.r, w2.r) */
} lsc_lokr;

/* Number of values lsc_lycoris_lokr_spectrum gives: n1 n2 with nt = min(rows, cols) of a full factor or
 * min(r, rows, cols) of a decomposed one. The dense dW's remaining singular values are exactly 0. */
int64_t lsc_lycoris_lokr_count(const lsc_lokr *k);

/* Singular values of the LoKr update, descending: the products |scale| s1_i s2_j of the factors' singular
 * values (a dense SVD of a full factor, lsc_spectrum of a decomposed one), into
 * sv [lsc_lycoris_lokr_count(k)]. Never forms W1 (x) W2, nor a decomposed factor. Scratch from ws: slots
 * LSC_WS_CALLER_FIRST .. +6 and those of lsc_spectrum.
 * Errors: LSC_ERR_INVALID (shapes, missing factor), LSC_ERR_NUMERIC (non-finite entries, SVD failure),
 * LSC_ERR_UNSUPPORTED (counts beyond what LAPACK or an int64 indexes), LSC_ERR_NOMEM. */
lsc_status lsc_lycoris_lokr_spectrum(const lsc_lokr *k, lsc_workspace *ws, double *sv, lsc_error *err);

/* The exact plain low-rank form of a LoKr layer: with the factors' thin SVDs Wt = Ut St Vt^T,
 * B = (U1 S1) (x) (U2 S2) [a c, n1 n2], A = V1^T (x) V2^T [n1 n2, b d], scale as given, so
 * scale B A = scale W1 (x) W2 up to rounding. With drop_zero, singular values at or below
 * max(rows, cols) * DBL_EPSILON * s_max of their factor are left out, so n1 n2 = rank(W1) rank(W2)
 * (a zero factor gives r = 0). max_rank > 0 caps n1 n2: a larger rank fails with LSC_ERR_UNSUPPORTED and
 * nothing allocated (*needed, if non-NULL, receives n1 n2 in every case, for the caller's message).
 * Caller releases *out. Errors as lsc_lycoris_lokr_spectrum, plus the cap. */
lsc_status lsc_lycoris_lokr_lowrank(const lsc_lokr *k, int drop_zero, int max_rank, lsc_lycoris_owned *out,
                                    int64_t *needed, lsc_error *err);

/* ||dW||_F = |scale| ||W1||_F ||W2||_F, each factor's norm from its storage (a decomposed factor through
 * r x r Gram matrices). Errors: LSC_ERR_INVALID, LSC_ERR_NOMEM. */
lsc_status lsc_lycoris_lokr_norm(const lsc_lokr *k, double *norm, lsc_error *err);

/* <dW_x, dW_y> = scale_x scale_y <W1x, W1y> <W2x, W2y> when both split the same way (equal factor shapes);
 * each factor product from the storages (full.full, full.low-rank, low-rank.low-rank). Different
 * splittings give LSC_ERR_UNSUPPORTED (convert both with lsc_lycoris_lokr_lowrank instead). */
lsc_status lsc_lycoris_lokr_dot(const lsc_lokr *x, const lsc_lokr *y, double *dot, lsc_error *err);

/* ---- DoRA (dora_scale) --------------------------------------------------------------------------- */

typedef enum {
    LSC_DORA_PER_INPUT,  /* LyCORIS: dora_scale [1, in, 1, 1]; norm of each input channel over out, kh, kw */
    LSC_DORA_PER_OUTPUT, /* dora_scale [out, 1, ...] (PEFT's and OneTrainer's output axis): norm of each row */
} lsc_dora_axis;

/* Merge a DoRA layer into its base weight, in place: W [rows, cols] (cols = in*K, conv flattened) becomes
 * V = W + lr (scale B A); then every group g (input channel: columns g K .. g K + K - 1 over all rows;
 * output row: row g) is scaled by f = mag[g] / (||V_g||_F + eps), and with multiplier m != 1 by
 * m (f - 1) + 1 instead (LyCORIS apply_weight_decompose; it uses eps = FLT_EPSILON of the float32 scale).
 * mag has cols/K entries (per input) or rows entries (per output). lr must be [rows, cols]. Forms the dense
 * layer by design (this is the bake step). Errors: LSC_ERR_INVALID (shapes, K not dividing cols),
 * LSC_ERR_NUMERIC (non-finite result). */
lsc_status lsc_lycoris_dora_merge(double *W, const lsc_lowrank *lr, const double *mag, lsc_dora_axis axis,
                                  int64_t K, double multiplier, double eps, lsc_error *err);

#endif
