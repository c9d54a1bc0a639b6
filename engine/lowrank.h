/* lowrank.h: the factor view of one LoRA layer, the only shape the numerical engine works on.
 *
 * delta = scale * B * A with B [rows, r] and A [r, cols], both row-major doubles. Every LoRA kind
 * reduces to this view (AdaLoRA folds its Λ into A, conv layers flatten A to [r, in*kh*kw],
 * embeddings transpose), so no statistic, comparison or edit special-cases a kind.
 * The dense product (rows x cols) is never formed by code that takes this view.
 */
#ifndef LSC_LOWRANK_H
#define LSC_LOWRANK_H

#include <stdint.h>

typedef struct lsc_lowrank {
    int64_t rows;      /* out features */
    int64_t cols;      /* in features */
    int r;             /* number of columns of B = rows of A; may be 0 */
    const double *B;   /* [rows, r] row-major */
    const double *A;   /* [r, cols] row-major */
    double scale;      /* applied to B*A */
} lsc_lowrank;

#endif
