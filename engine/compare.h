/* compare.h: comparing two LoRA layers of the same shape from their factors.
 *
 * <B1A1, B2A2>_F = trace((B1^T B2)(A2 A1^T)) needs r1 x r2 work; norms, cosine and ||d1 - d2||_F follow.
 * Subspace similarity (LoRA paper): phi = ||V1^T V2||_F^2 / min(n1, n2) over the singular vectors that
 * carry the layer (sigma_i > 1e-10 sigma_1), on the input side (right vectors V) and the output side (U);
 * principal angles are arccos of the singular values of V1^T V2 (computed as arcsin of the singular values
 * of V2 - V1 (V1^T V2) below pi/4, where arccos loses accuracy). When both layers' factors are well
 * conditioned and every angle is large (cos <= 0.99), all of it comes from r x r products of the factors
 * without forming a singular vector (compare.c: the factored path); otherwise the vectors are formed. ||d1 - d2||_F is the norm of the
 * low-rank layer [s1 B1, -s2 B2][A1; A2], not sqrt(n1^2 + n2^2 - 2 inner), which cancels for close
 * layers. Every figure is formed from the unscaled factors with the scales put back last, so a figure
 * whose true value is finite comes out finite whatever the scales (lora_alpha 1e308 or 1e-308); only
 * `inner` can overflow, when s1 s2 <B1A1, B2A2> itself is past the largest double. Pure compute; no I/O.
 */
#ifndef LSC_COMPARE_H
#define LSC_COMPARE_H

#include "lowrank.h"
#include "status.h"
#include "workspace.h"

#define LSC_COMPARE_MAX_ANGLES 64

typedef struct lsc_compare_result {
    double inner;        /* <d1, d2>_F with scales applied */
    double norm1, norm2; /* ||d1||_F, ||d2||_F */
    double cosine;       /* inner / (norm1 norm2); 1 if both are zero, 0 if exactly one is */
    double diff_norm;    /* ||d1 - d2||_F */
    double rel_diff;     /* diff_norm / norm1 (diff_norm / norm2 if norm1 == 0, 0 if both are zero) */
    double subspace_in;  /* phi on the input side, in [0, 1]; 0 if either layer is zero */
    double subspace_out; /* phi on the output side, in [0, 1]; 0 if either layer is zero */
    int n_angles;        /* min(n1, n2, LSC_COMPARE_MAX_ANGLES), n the carrying directions of a layer */
    double angles_in[LSC_COMPARE_MAX_ANGLES]; /* principal angles (radians, ascending) on the input side */
} lsc_compare_result;

/* Compare two layers; out is overwritten. Shapes (rows, cols) must agree: otherwise LSC_ERR_INVALID
 * with both shapes in the message; ranks may differ. Non-finite factors or scales give
 * LSC_ERR_NUMERIC (message prefixed "first layer" / "second layer"); also LSC_ERR_NOMEM. Scratch comes
 * from ws (all slots). */
lsc_status lsc_compare(const lsc_lowrank *x, const lsc_lowrank *y, lsc_workspace *ws, lsc_compare_result *out,
                       lsc_error *err);

/* Which way the calling thread's last successful lsc_compare went (for tests and benchmarks). */
typedef enum lsc_compare_path {
    LSC_COMPARE_PATH_NONE,
    LSC_COMPARE_PATH_FACTORED, /* r x r products only: both layers on the Gram path, all angles large */
    LSC_COMPARE_PATH_TALL,     /* the singular vectors formed (close layers, ill-conditioned factors, ...) */
} lsc_compare_path;
lsc_compare_path lsc_compare_last_path(void);

/* phi = ||V1[:, :k1]^T V2[:, :k2]||_F^2 / min(k1, k2) in [0, 1] of two layers of one shape from their
 * factored SVDs (lsc_spectrum: sv1 [n1] descending, V1 [dim, n1] row-major, the same for the second),
 * k the carrying directions (sigma_i > 1e-10 sigma_1): lsc_compare's subspace_in (V, dim = cols) or
 * subspace_out (U, dim = rows), for callers that compare one layer with many others and compute each
 * SVD once. 0 if either layer is zero. scratch: n1 * n2 doubles. Never fails. */
double lsc_compare_subspace(const double *sv1, const double *v1, int n1, const double *sv2, const double *v2, int n2,
                            int dim, double *scratch);

#endif
