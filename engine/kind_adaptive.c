/* kind_adaptive.c: AdaLoRA triplets: importance without gradients, a global re-budget, masks, and the
 * distance from orthogonality (see kinds.h).
 *
 * AdaLoRA ranks its triplets during training by EMA-smoothed sensitivities |w * dL/dw|; those are gone
 * once training ends, so a re-budget of a trained adapter ranks them by what each triplet contributes to
 * the delta: the Frobenius norm of scale * E_i * P[:, i] Q[i, :], which is |scale E_i| |P_i| |Q_i| because
 * the term is rank 1. Pure compute; never prints; depends on BLAS only.
 */
#include "kinds.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kind_internal.h"

enum { WS_GRAM = LSC_WS_CALLER_FIRST };

static lsc_status check_layer(const lsc_adalora_layer *l, lsc_error *err)
{
    if (l->rows < 0 || l->cols < 0 || l->r < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid adalora layer [%lld, %lld] with rank %d",
                             (long long)l->rows, (long long)l->cols, l->r);
    if (l->r > 0 && (!l->E || (l->rows > 0 && !l->P) || (l->cols > 0 && !l->Q)))
        return lsc_error_set(err, LSC_ERR_INVALID, "adalora layer factor missing");
    return LSC_OK;
}

lsc_status lsc_adalora_importance(const lsc_adalora_layer *l, double *imp, lsc_error *err)
{
    if (!l || (!imp && l->r > 0))
        return lsc_error_set(err, LSC_ERR_INVALID, "importance needs a layer and an output");
    lsc_status st = check_layer(l, err);
    if (st != LSC_OK)
        return st;
    const int r = l->r;
    const size_t rows = (size_t)l->rows, cols = (size_t)l->cols;
    if (!isfinite(l->scale))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite scale %g", l->scale);
    if (r == 0)
        return LSC_OK;
    if (!kind_all_finite(l->E, (size_t)r) || !kind_all_finite(l->P, rows * r) || !kind_all_finite(l->Q, (size_t)r * cols))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the adalora factors");

    for (int i = 0; i < r; i++)
        imp[i] = 0.0;
    for (size_t j = 0; j < rows; j++) /* squared column norms of P, row by row (cache order) */
        for (int i = 0; i < r; i++)
            imp[i] += l->P[j * r + i] * l->P[j * r + i];
    for (int i = 0; i < r; i++) {
        double q2 = kind_sum_squares(l->Q + (size_t)i * cols, cols);
        imp[i] = fabs(l->scale * l->E[i]) * sqrt(imp[i]) * sqrt(q2);
    }
    if (!kind_all_finite(imp, (size_t)r))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "overflow in the triplet importance");
    return LSC_OK;
}

typedef struct cand {
    double imp;
    int layer, idx;
    int64_t pos; /* index into the keep mask */
} cand;

/* largest importance first; ties by layer, then index (both lower first): a total order */
static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->imp != b->imp)
        return a->imp > b->imp ? -1 : 1;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

lsc_status lsc_adalora_rebudget(const lsc_adalora_layer *layers, int n_layers, int64_t budget, uint8_t *keep,
                                int *kept, lsc_error *err)
{
    lsc_status st = LSC_OK;
    cand *cands = NULL;
    double *imp = NULL;

    if (n_layers < 0 || (n_layers > 0 && (!layers || !kept)))
        return lsc_error_set(err, LSC_ERR_INVALID, "re-budget needs layers and per-layer outputs");
    int64_t total = 0;
    int rmax = 0;
    for (int l = 0; l < n_layers; l++) {
        st = check_layer(&layers[l], err);
        if (st != LSC_OK) {
            lsc_error_prefix(err, "layer %d", l);
            return st;
        }
        total += layers[l].r;
        if (layers[l].r > rmax)
            rmax = layers[l].r;
    }
    if (budget < 0 || budget > total)
        return lsc_error_set(err, LSC_ERR_INVALID, "budget %lld outside 0..%lld (the triplets of the layers)",
                             (long long)budget, (long long)total);
    if (total > 0 && !keep)
        return lsc_error_set(err, LSC_ERR_INVALID, "re-budget needs a keep mask");

    cands = malloc(sizeof *cands * (size_t)(total > 0 ? total : 1));
    imp = malloc(sizeof *imp * (size_t)(rmax > 0 ? rmax : 1));
    if (!cands || !imp) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory ranking %lld triplets", (long long)total);
        goto out;
    }
    int64_t pos = 0;
    for (int l = 0; l < n_layers; l++) {
        st = lsc_adalora_importance(&layers[l], imp, err);
        if (st != LSC_OK) {
            lsc_error_prefix(err, "layer %d", l);
            goto out;
        }
        for (int i = 0; i < layers[l].r; i++, pos++)
            cands[pos] = (cand){.imp = imp[i], .layer = l, .idx = i, .pos = pos};
        kept[l] = 0;
    }
    qsort(cands, (size_t)total, sizeof *cands, cand_cmp);
    if (total > 0)
        memset(keep, 0, (size_t)total);
    for (int64_t i = 0; i < budget; i++) {
        keep[cands[i].pos] = 1;
        kept[cands[i].layer]++;
    }

out:
    free(cands);
    free(imp);
    return st;
}

lsc_status lsc_adalora_apply_mask(const lsc_adalora_layer *l, const uint8_t *keep, double *P_out, double *E_out,
                                  double *Q_out, int *k_out, lsc_error *err)
{
    if (!l || !k_out || (!keep && l->r > 0))
        return lsc_error_set(err, LSC_ERR_INVALID, "apply mask needs a layer, a mask and a rank output");
    lsc_status st = check_layer(l, err);
    if (st != LSC_OK)
        return st;
    const int r = l->r;
    const size_t rows = (size_t)l->rows, cols = (size_t)l->cols;
    int k = 0;
    for (int i = 0; i < r; i++)
        k += keep[i] != 0;
    if (k > 0 && (!P_out || !E_out || !Q_out))
        return lsc_error_set(err, LSC_ERR_INVALID, "apply mask needs outputs for %d triplets", k);
    for (int i = 0, o = 0; i < r; i++) {
        if (!keep[i])
            continue;
        E_out[o] = l->E[i];
        for (size_t j = 0; j < rows; j++)
            P_out[j * k + o] = l->P[j * r + i];
        if (cols)
            memcpy(Q_out + (size_t)o * cols, l->Q + (size_t)i * cols, sizeof(double) * cols);
        o++;
    }
    *k_out = k;
    return LSC_OK;
}

/* ||G - I||_F for G [r, r] row-major */
static double dist_identity(const double *g, int r)
{
    double s = 0.0;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++) {
            double d = g[(size_t)i * r + j] - (i == j ? 1.0 : 0.0);
            s += d * d;
        }
    return sqrt(s);
}

lsc_status lsc_adalora_orthogonality(const lsc_adalora_layer *l, lsc_workspace *ws, double *p_err, double *q_err,
                                     lsc_error *err)
{
    if (!l || !ws || !p_err || !q_err)
        return lsc_error_set(err, LSC_ERR_INVALID, "orthogonality needs a layer, a workspace and two outputs");
    lsc_status st = check_layer(l, err);
    if (st != LSC_OK)
        return st;
    const int r = l->r;
    const size_t rows = (size_t)l->rows, cols = (size_t)l->cols;
    if (r == 0) {
        *p_err = *q_err = 0.0;
        return LSC_OK;
    }
    if (!kind_all_finite(l->P, rows * r) || !kind_all_finite(l->Q, (size_t)r * cols))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the adalora factors");
    if (rows > INT32_MAX || cols > INT32_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "layer shape [%zu, %zu] exceeds what blas can index", rows,
                             cols);
    double *g = lsc_workspace_get(ws, WS_GRAM, (size_t)r * r);
    if (!g)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a %dx%d gram matrix", r, r);
    if (rows > 0)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, r, (int)rows, 1.0, l->P, r, l->P, r, 0.0, g, r);
    else
        memset(g, 0, sizeof(double) * (size_t)r * r);
    *p_err = dist_identity(g, r);
    if (cols > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, (int)cols, 1.0, l->Q, (int)cols, l->Q, (int)cols,
                    0.0, g, r);
    else
        memset(g, 0, sizeof(double) * (size_t)r * r);
    *q_err = dist_identity(g, r);
    if (!isfinite(*p_err) || !isfinite(*q_err))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "overflow in the gram matrices of the adalora factors");
    return LSC_OK;
}

lsc_status lsc_adalora_view(const lsc_adalora_layer *l, double *A_out, lsc_lowrank *view, lsc_error *err)
{
    if (!l || !view || (!A_out && l->r > 0 && l->cols > 0))
        return lsc_error_set(err, LSC_ERR_INVALID, "adalora view needs a layer and outputs");
    lsc_status st = check_layer(l, err);
    if (st != LSC_OK)
        return st;
    const int r = l->r;
    const size_t cols = (size_t)l->cols;
    if (!kind_all_finite(l->E, (size_t)r) || !kind_all_finite(l->Q, (size_t)r * cols))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the adalora factors");
    for (int i = 0; i < r; i++)
        for (size_t j = 0; j < cols; j++)
            A_out[(size_t)i * cols + j] = l->E[i] * l->Q[(size_t)i * cols + j];
    *view = (lsc_lowrank){.rows = l->rows, .cols = l->cols, .r = r, .B = l->P, .A = A_out, .scale = l->scale};
    return LSC_OK;
}
