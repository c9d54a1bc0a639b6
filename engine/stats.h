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
    double *sv;            /* [n_sv] descending, of s*B*A; owned (lsc_stats_release) */
    double fro;            /* ||s B A||_F */
    double spectral;       /* sigma_1 */
    double nuclear;        /* sum sigma_i */
    double stable_rank;    /* fro^2 / sigma_1^2; 0 for a zero layer */
    double effective_rank; /* exp(-sum p_i ln p_i), p_i = sigma_i^2 / sum sigma_j^2; 0 for a zero layer */
    int energy_rank_90;    /* smallest k with energy >= 0.90 */
    int energy_rank_99;
    int numerical_rank;    /* count of sigma_i > sigma_1 * max(rows, cols) * DBL_EPSILON */
    double norm_a, norm_b; /* ||A||_F, ||B||_F (unscaled) */
    double balance;        /* norm_b / norm_a (0 if norm_a == 0) */
    double zeros_a, zeros_b;           /* fraction of exact zeros */
    double near_zeros_a, near_zeros_b; /* fraction with |x| <= 1e-6 * max|x| of that factor */
    int64_t nonfinite_a, nonfinite_b;  /* count of NaN/Inf entries */
    unsigned flags;        /* LSC_STATS_* */
} lsc_layer_stats;

/* Compute all statistics of one layer into out (which must be zeroed or released before).
 * A layer with non-finite entries is not an error: counts are filled, flags has LSC_STATS_NONFINITE and
 * the spectral figures are 0. Fails only on out of memory or a LAPACK failure. */
lsc_status lsc_stats_compute(const lsc_lowrank *lr, lsc_workspace *ws, lsc_layer_stats *out, lsc_error *err);

/* Free out->sv and zero the struct. */
void lsc_stats_release(lsc_layer_stats *st);

/* Fill the derived figures (fro, spectral, nuclear, stable/effective/energy/numerical ranks) from
 * st->sv/n_sv alone; used when singular values come from the cache. rows/cols for numerical rank. */
void lsc_stats_from_sv(lsc_layer_stats *st, int64_t rows, int64_t cols);

#endif
