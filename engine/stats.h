/* stats.h: per-layer statistics of one LoRA layer, all from the factors.
 *
 * Everything here is computed from the factored SVD (spectrum.h) and element scans of A and B; the dense
 * delta is never formed. Pure compute; no I/O.
 */
#ifndef LSC_STATS_H
#define LSC_STATS_H

#include <stdint.h>

#include "lowrank.h"
#include "status.h"
#include "workspace.h"

#define LSC_STATS_NONFINITE 0x01u /* A or B holds NaN/Inf: spectra not computed, layer flagged */
#define LSC_STATS_ZERO 0x02u      /* delta is exactly zero */

typedef struct lsc_layer_stats {
    int n_sv;              /* number of singular values = min(r, rows, cols) */
    double *sv;            /* [n_sv] descending, of s*B*A; owned (lsc_stats_release); NULL when n_sv is 0;
                            * all 0 for a zero layer and for a non-finite one (see flags) */
    double fro;            /* ||s B A||_F */
    double spectral;       /* sigma_1 */
    double nuclear;        /* sum sigma_i */
    double stable_rank;    /* fro^2 / sigma_1^2; 0 for a zero layer */
    double effective_rank; /* exp(-sum p_i ln p_i), p_i = sigma_i^2 / sum sigma_j^2; 0 for a zero layer */
    int energy_rank_90;    /* smallest k with sum_{i<k} sigma_i^2 >= 0.90 sum sigma_i^2 (lsc_energy_rank);
                            * 0 for a zero layer */
    int energy_rank_99;
    int numerical_rank;    /* count of sigma_i > sigma_1 * max(rows, cols) * DBL_EPSILON */
    double norm_a, norm_b; /* ||A||_F, ||B||_F (unscaled), over the finite entries */
    double balance;        /* norm_b / norm_a (0 if norm_a == 0) */
    double zeros_a, zeros_b;           /* fraction of exact zeros (0 for an empty factor) */
    double near_zeros_a, near_zeros_b; /* fraction with |x| <= 1e-6 * max|x| of that factor, the max over
                                        * finite entries; exact zeros count, NaN/Inf never do; an
                                        * all-zero factor gives 1 */
    int64_t nonfinite_a, nonfinite_b;  /* count of NaN/Inf entries */
    unsigned flags;        /* LSC_STATS_*: NONFINITE also for a non-finite scale; ZERO when s == 0, r == 0, A or
                            * B is all zero, or every singular value is exactly 0 */
} lsc_layer_stats;

/* Compute all statistics of one layer into out (which must be zeroed or released before; it is
 * overwritten). A layer with non-finite entries is not an error: counts are filled, flags has
 * LSC_STATS_NONFINITE and the spectral figures are 0. Fails with LSC_ERR_INVALID on a negative shape or a
 * missing factor, LSC_ERR_NOMEM, or LSC_ERR_NUMERIC on a LAPACK failure or when finite factors overflow
 * the product (entries beyond ~1e150, impossible for data read from f32/f16/bf16); on failure out is
 * left released. Scratch memory comes from ws (reused across layers). */
lsc_status lsc_stats_compute(const lsc_lowrank *lr, lsc_workspace *ws, lsc_layer_stats *out, lsc_error *err);

/* Free out->sv and zero the struct. */
void lsc_stats_release(lsc_layer_stats *st);

/* Fill the derived figures (fro, spectral, nuclear, stable/effective/energy/numerical ranks) from
 * st->sv/n_sv alone; used when singular values come from the cache. rows/cols for numerical rank.
 * Sets LSC_STATS_ZERO when there is no nonzero value (unless LSC_STATS_NONFINITE is set) and clears it
 * otherwise; other flags and the factor fields are left alone. */
void lsc_stats_from_sv(lsc_layer_stats *st, int64_t rows, int64_t cols);

#endif
