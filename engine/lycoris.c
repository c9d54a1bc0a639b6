/* lycoris.c: LoHa, LoKr, Tucker LoCon and DoRA in factored form (see lycoris.h for the maths).
 *
 * Every conversion writes the plain factors B and A directly from the stored ones; nothing here forms
 * a dense update except lsc_lycoris_dora_merge, whose job is the dense merged layer. LoKr spectra come
 * from the two factors' own SVDs (a full factor is small by construction: LyCORIS stores the big side
 * as a low-rank pair unless the rank is at least half its size).
 *
 * A row-major matrix [m, n] is a column-major [n, m] with the same singular values, so the values-only
 * SVD of a full factor hands its buffer to LAPACK as is. Pure compute over BLAS/LAPACKE; no I/O.
 */
#include "lycoris.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "spectrum.h"

enum {
    WS_SV1 = LSC_WS_CALLER_FIRST, /* LoKr: singular values of W1; LoHa: B */
    WS_SV2,                       /* LoKr: singular values of W2; LoHa: A */
    WS_F1B,                       /* Tucker factor 1 as low rank: B; LoHa: A1 of a Tucker term */
    WS_F1A,                       /* ... and A; LoHa: A2 of a Tucker term */
    WS_F2B,
    WS_F2A,
    WS_DENSE, /* copy of a full factor for dgesdd (destroyed by it) */
};
_Static_assert(WS_DENSE < LSC_WS_SLOTS, "lycoris must stay inside the workspace slots");

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

double lsc_lycoris_scale(double alpha, int w1_rank, int w2_rank)
{
    const int dim = w1_rank > 0 ? w1_rank : w2_rank;
    if (dim <= 0)
        return 1.0; /* both factors full: LyCORIS forces alpha = lora_dim */
    if (isnan(alpha) || alpha == 0.0)
        return 1.0; /* no alpha: alpha = lora_dim */
    return alpha / (double)dim;
}

void lsc_lycoris_owned_release(lsc_lycoris_owned *o)
{
    if (!o)
        return;
    free(o->mem);
    memset(o, 0, sizeof *o);
}

/* Allocate B [rows, r] and A [r, cols] for *o in one block (zeroed), set the view. */
static lsc_status owned_alloc(lsc_lycoris_owned *o, int64_t rows, int64_t cols, int r, double scale,
                              lsc_error *err)
{
    memset(o, 0, sizeof *o);
    const double n = ((double)rows + (double)cols) * (double)r;
    if (n > (double)(SIZE_MAX / sizeof(double)) - 1)
        return lsc_error_set(err, LSC_ERR_NOMEM, "rank %d factors of a [%lld, %lld] layer are too large", r,
                             (long long)rows, (long long)cols);
    o->mem = calloc((size_t)n + 1, sizeof(double));
    if (!o->mem)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for rank %d factors of a [%lld, %lld] layer", r,
                             (long long)rows, (long long)cols);
    o->lr = (lsc_lowrank){.rows = rows, .cols = cols, .r = r, .B = o->mem,
                          .A = o->mem + (size_t)rows * (size_t)r, .scale = scale};
    return LSC_OK;
}

/* The A side of a Tucker-cored factor: A [r, in*K], A[i, c K + kk] = sum_j core[i, j, kk] down[j, c],
 * with core [r, r, K] and down [r, in]. */
static void tucker_a(const double *core, const double *down, int r, int64_t in, int64_t K, double *A)
{
    const int64_t cols = in * K;
    memset(A, 0, sizeof(double) * (size_t)r * (size_t)cols);
    for (int i = 0; i < r; i++) {
        double *ai = A + (int64_t)i * cols;
        for (int j = 0; j < r; j++) {
            const double *cij = core + ((int64_t)i * r + j) * K;
            const double *dj = down + (int64_t)j * in;
            for (int64_t c = 0; c < in; c++) {
                const double d = dj[c];
                double *a = ai + c * K;
                for (int64_t kk = 0; kk < K; kk++)
                    a[kk] += cij[kk] * d;
            }
        }
    }
}

/* dst [rows, r] = transpose of src [r, rows] */
static void transpose_into(const double *src, int r, int64_t rows, double *dst)
{
    for (int i = 0; i < r; i++)
        for (int64_t o = 0; o < rows; o++)
            dst[o * r + i] = src[(int64_t)i * rows + o];
}

static bool shape_ok(int64_t rows, int64_t cols, int64_t r)
{
    return rows >= 0 && cols >= 0 && r >= 0 && rows <= INT_MAX && cols <= INT_MAX;
}

lsc_status lsc_lycoris_tucker_lowrank(const double *up, const double *mid, const double *down, int64_t out, int r,
                                      int64_t in, int64_t K, double scale, lsc_lycoris_owned *res, lsc_error *err)
{
    if (!res)
        return lsc_error_set(err, LSC_ERR_INVALID, "tucker conversion needs an output");
    memset(res, 0, sizeof *res);
    if (!shape_ok(out, in, r) || K < 1 || in > INT64_MAX / K || !shape_ok(out, in * K, r))
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid tucker layer [%lld, %lld] x %lld with rank %d",
                             (long long)out, (long long)in, (long long)K, r);
    if (r > 0 && (!up || !mid || !down))
        return lsc_error_set(err, LSC_ERR_INVALID, "tucker layer factor missing ('lora_up', 'lora_mid' or 'lora_down')");
    lsc_status st = owned_alloc(res, out, in * K, r, scale, err);
    if (st != LSC_OK)
        return st;
    if (r > 0) {
        memcpy(res->mem, up, sizeof(double) * (size_t)out * (size_t)r);
        tucker_a(mid, down, r, in, K, res->mem + (size_t)out * (size_t)r);
    }
    return LSC_OK;
}

/* ---- LoHa ------------------------------------------------------------------------------------------ */

static lsc_status loha_check(const lsc_loha *h, int max_rank, lsc_error *err)
{
    if (!h)
        return lsc_error_set(err, LSC_ERR_INVALID, "loha conversion needs a layer");
    if (!shape_ok(h->rows, h->cols, h->r1) || h->r2 < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid loha layer [%lld, %lld] with ranks %d, %d",
                             (long long)h->rows, (long long)h->cols, h->r1, h->r2);
    if ((h->t1 == NULL) != (h->t2 == NULL))
        return lsc_error_set(err, LSC_ERR_INVALID, "loha layer has one tucker core ('hada_t1' and 'hada_t2' go together)");
    if (h->t1 && (h->K < 1 || h->cols % h->K != 0))
        return lsc_error_set(err, LSC_ERR_INVALID, "loha kernel size %lld does not divide %lld input columns",
                             (long long)h->K, (long long)h->cols);
    if ((h->r1 > 0 && (!h->w1a || !h->w1b)) || (h->r2 > 0 && (!h->w2a || !h->w2b)))
        return lsc_error_set(err, LSC_ERR_INVALID, "loha layer factor missing ('hada_w1_a/b' or 'hada_w2_a/b')");
    const int64_t R = (int64_t)h->r1 * h->r2;
    if (R > INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "loha rank %d x %d is too large", h->r1, h->r2);
    if (max_rank > 0 && R > max_rank)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "loha rank %d x %d = %lld exceeds the allowed %d", h->r1,
                             h->r2, (long long)R, max_rank);
    return LSC_OK;
}

/* B [rows, r1 r2] and A [r1 r2, cols] of the face-splitting form. With Tucker cores, tmp holds the two
 * A-sides [r1, cols] and [r2, cols] (r1 + r2) * cols doubles, otherwise it is unused. */
static void loha_fill(const lsc_loha *h, double *B, double *A, double *tmp)
{
    const int64_t rows = h->rows, cols = h->cols;
    const int r1 = h->r1, r2 = h->r2, R = r1 * r2;
    const double *a1 = h->w1b, *a2 = h->w2b;
    /* B-side element (o, p) of term t: hada_wt_a [rows, rt], or [rt, rows] with a Tucker core */
    int64_t s1o = r1, s1p = 1, s2o = r2, s2p = 1;
    if (h->t1) {
        double *t1a = tmp, *t2a = tmp + (size_t)r1 * (size_t)cols;
        tucker_a(h->t1, h->w1b, r1, cols / h->K, h->K, t1a);
        tucker_a(h->t2, h->w2b, r2, cols / h->K, h->K, t2a);
        a1 = t1a;
        a2 = t2a;
        s1o = 1, s1p = rows, s2o = 1, s2p = rows;
    }
    for (int64_t o = 0; o < rows; o++) {
        double *b = B + o * R;
        for (int p = 0; p < r1; p++) {
            const double x = h->w1a[o * s1o + p * s1p];
            for (int q = 0; q < r2; q++)
                b[p * r2 + q] = x * h->w2a[o * s2o + q * s2p];
        }
    }
    for (int p = 0; p < r1; p++)
        for (int q = 0; q < r2; q++) {
            double *a = A + (int64_t)(p * r2 + q) * cols;
            const double *x = a1 + (int64_t)p * cols, *y = a2 + (int64_t)q * cols;
            for (int64_t c = 0; c < cols; c++)
                a[c] = x[c] * y[c];
        }
}

lsc_status lsc_lycoris_loha_lowrank(const lsc_loha *h, int max_rank, lsc_lycoris_owned *out, lsc_error *err)
{
    if (!out)
        return lsc_error_set(err, LSC_ERR_INVALID, "loha conversion needs an output");
    memset(out, 0, sizeof *out);
    lsc_status st = loha_check(h, max_rank, err);
    if (st != LSC_OK)
        return st;
    const int R = h->r1 * h->r2;
    double *tmp = NULL;
    if (h->t1 && R > 0) {
        tmp = malloc(sizeof(double) * ((size_t)h->r1 + (size_t)h->r2) * (size_t)(h->cols ? h->cols : 1));
        if (!tmp)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the tucker factors of a loha layer");
    }
    st = owned_alloc(out, h->rows, h->cols, R, h->scale, err);
    if (st == LSC_OK && R > 0)
        loha_fill(h, out->mem, out->mem + (size_t)h->rows * (size_t)R, tmp);
    free(tmp);
    return st;
}

int lsc_lycoris_loha_count(const lsc_loha *h)
{
    if (!h || h->r1 <= 0 || h->r2 <= 0 || h->rows <= 0 || h->cols <= 0)
        return 0;
    return (int)min64(min64((int64_t)h->r1 * h->r2, h->rows), h->cols);
}

lsc_status lsc_lycoris_loha_spectrum(const lsc_loha *h, lsc_workspace *ws, double *sv, lsc_error *err)
{
    if (!ws)
        return lsc_error_set(err, LSC_ERR_INVALID, "loha spectrum needs a workspace");
    lsc_status st = loha_check(h, 0, err);
    if (st != LSC_OK)
        return st;
    const int R = h->r1 * h->r2;
    const size_t nb = (size_t)h->rows * (size_t)R, na = (size_t)R * (size_t)h->cols;
    double *B = lsc_workspace_get(ws, WS_SV1, nb), *A = lsc_workspace_get(ws, WS_SV2, na);
    double *tmp = h->t1 ? lsc_workspace_get(ws, WS_F1B, ((size_t)h->r1 + h->r2) * (size_t)h->cols) : B;
    if (!B || !A || !tmp)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a rank %d loha layer", R);
    if (R > 0)
        loha_fill(h, B, A, tmp);
    lsc_lowrank lr = {.rows = h->rows, .cols = h->cols, .r = R, .B = B, .A = A, .scale = h->scale};
    return lsc_spectrum(&lr, ws, sv, NULL, NULL, err);
}

/* <s B A, s' B' A'> = s s' sum_{ij} (B^T B')_{ij} (A A'^T)_{ij}; shapes already checked equal. */
static lsc_status lowrank_dot(const lsc_lowrank *x, const lsc_lowrank *y, double *dot, lsc_error *err)
{
    *dot = 0.0;
    if (x->r == 0 || y->r == 0 || x->rows == 0 || x->cols == 0)
        return LSC_OK;
    double *gb = malloc(sizeof(double) * 2 * (size_t)x->r * (size_t)y->r);
    if (!gb)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for rank %d x %d gram matrices", x->r, y->r);
    double *ga = gb + (size_t)x->r * (size_t)y->r;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, x->r, y->r, (int)x->rows, 1.0, x->B, x->r, y->B, y->r, 0.0,
                gb, y->r);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, x->r, y->r, (int)x->cols, 1.0, x->A, (int)x->cols, y->A,
                (int)y->cols, 0.0, ga, y->r);
    double acc = 0.0;
    for (size_t i = 0; i < (size_t)x->r * (size_t)y->r; i++)
        acc += gb[i] * ga[i];
    free(gb);
    *dot = x->scale * y->scale * acc;
    return LSC_OK;
}

lsc_status lsc_lycoris_loha_dot(const lsc_loha *x, const lsc_loha *y, double *dot, lsc_error *err)
{
    if (!x || !y || !dot)
        return lsc_error_set(err, LSC_ERR_INVALID, "loha inner product needs two layers and an output");
    if (x->rows != y->rows || x->cols != y->cols)
        return lsc_error_set(err, LSC_ERR_INVALID, "loha layers differ in shape: [%lld, %lld] and [%lld, %lld]",
                             (long long)x->rows, (long long)x->cols, (long long)y->rows, (long long)y->cols);
    lsc_lycoris_owned ox = {0}, oy = {0};
    lsc_status st = lsc_lycoris_loha_lowrank(x, 0, &ox, err);
    if (st == LSC_OK)
        st = lsc_lycoris_loha_lowrank(y, 0, &oy, err);
    if (st == LSC_OK)
        st = lowrank_dot(&ox.lr, &oy.lr, dot, err);
    lsc_lycoris_owned_release(&ox);
    lsc_lycoris_owned_release(&oy);
    return st;
}

lsc_status lsc_lycoris_loha_norm(const lsc_loha *h, double *norm, lsc_error *err)
{
    if (!norm)
        return lsc_error_set(err, LSC_ERR_INVALID, "loha norm needs an output");
    double d = 0.0;
    lsc_status st = lsc_lycoris_loha_dot(h, h, &d, err);
    *norm = st == LSC_OK ? sqrt(d > 0.0 ? d : 0.0) : 0.0;
    return st;
}

/* ---- LoKr ------------------------------------------------------------------------------------------ */

static lsc_status factor_check(const lsc_lokr_factor *f, const char *name, lsc_error *err)
{
    if (!shape_ok(f->rows, f->cols, f->r))
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid lokr factor '%s' [%lld, %lld] with rank %d", name,
                             (long long)f->rows, (long long)f->cols, f->r);
    if (f->r == 0 && f->rows > 0 && f->cols > 0 && !f->w)
        return lsc_error_set(err, LSC_ERR_INVALID, "lokr factor '%s' missing", name);
    if (f->r > 0 && (!f->wa || !f->wb))
        return lsc_error_set(err, LSC_ERR_INVALID, "lokr factor '%s' missing its '_a' or '_b' half", name);
    if (f->r > 0 && f->t && (f->K < 1 || f->cols % f->K != 0))
        return lsc_error_set(err, LSC_ERR_INVALID, "lokr factor '%s': kernel size %lld does not divide %lld columns",
                             name, (long long)f->K, (long long)f->cols);
    return LSC_OK;
}

static lsc_status lokr_check(const lsc_lokr *k, lsc_error *err)
{
    if (!k)
        return lsc_error_set(err, LSC_ERR_INVALID, "lokr needs a layer");
    lsc_status st = factor_check(&k->w1, "w1", err);
    if (st == LSC_OK)
        st = factor_check(&k->w2, "w2", err);
    if (st != LSC_OK)
        return st;
    if (!isfinite(k->scale))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite lokr scale %g", k->scale);
    if ((k->w2.rows > 0 && k->w1.rows > INT64_MAX / k->w2.rows) ||
        (k->w2.cols > 0 && k->w1.cols > INT64_MAX / k->w2.cols))
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "lokr layer shape overflows");
    return LSC_OK;
}

static int factor_count(const lsc_lokr_factor *f)
{
    if (f->rows <= 0 || f->cols <= 0)
        return 0;
    int64_t n = min64(f->rows, f->cols);
    return (int)(f->r > 0 ? min64(n, f->r) : n);
}

int64_t lsc_lycoris_lokr_count(const lsc_lokr *k)
{
    if (!k)
        return 0;
    return (int64_t)factor_count(&k->w1) * factor_count(&k->w2);
}

/* A decomposed factor as a plain lowrank (scale 1). A Tucker factor is written into b [rows, r] and
 * a [r, cols]; a low-rank pair is viewed as is. */
static lsc_lowrank factor_lowrank(const lsc_lokr_factor *f, double *b, double *a)
{
    lsc_lowrank lr = {.rows = f->rows, .cols = f->cols, .r = f->r, .B = f->wa, .A = f->wb, .scale = 1.0};
    if (f->t) {
        transpose_into(f->wa, f->r, f->rows, b);
        tucker_a(f->t, f->wb, f->r, f->cols / f->K, f->K, a);
        lr.B = b;
        lr.A = a;
    }
    return lr;
}

/* Singular values (descending, factor_count(f) of them) of one factor into sv. A full factor is copied
 * into slot_dense and handed to dgesdd as its column-major transpose; a decomposed one goes through
 * lsc_spectrum (a Tucker one converted first, into slots slot_b and slot_b + 1). */
static lsc_status factor_values(const lsc_lokr_factor *f, lsc_workspace *ws, int slot_b, double *sv, lsc_error *err)
{
    const int n = factor_count(f);
    if (f->r > 0) {
        double *b = NULL, *a = NULL;
        if (f->t) {
            b = lsc_workspace_get(ws, slot_b, (size_t)f->rows * (size_t)f->r);
            a = lsc_workspace_get(ws, slot_b + 1, (size_t)f->r * (size_t)f->cols);
            if (!b || !a)
                return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a tucker lokr factor");
        }
        lsc_lowrank lr = factor_lowrank(f, b, a);
        return lsc_spectrum(&lr, ws, sv, NULL, NULL, err);
    }
    if (n == 0)
        return LSC_OK;
    const size_t len = (size_t)f->rows * (size_t)f->cols;
    double *copy = lsc_workspace_get(ws, WS_DENSE, len);
    if (!copy)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a [%lld, %lld] lokr factor", (long long)f->rows,
                             (long long)f->cols);
    bool finite = true;
    for (size_t i = 0; i < len; i++) {
        copy[i] = f->w[i];
        finite &= isfinite(copy[i]) != 0;
    }
    if (!finite)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in a lokr factor");
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)f->cols, (lapack_int)f->rows, copy,
                                     (lapack_int)f->cols, sv, NULL, 1, NULL, 1);
    if (info != 0)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "svd of a [%lld, %lld] lokr factor failed (lapack info %d)",
                             (long long)f->rows, (long long)f->cols, (int)info);
    return LSC_OK;
}

static int cmp_desc(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return (a < b) - (a > b);
}

lsc_status lsc_lycoris_lokr_spectrum(const lsc_lokr *k, lsc_workspace *ws, double *sv, lsc_error *err)
{
    lsc_status st = lokr_check(k, err);
    if (st != LSC_OK)
        return st;
    if (!ws)
        return lsc_error_set(err, LSC_ERR_INVALID, "lokr spectrum needs a workspace");
    const int n1 = factor_count(&k->w1), n2 = factor_count(&k->w2);
    if ((int64_t)n1 * n2 > 0 && !sv)
        return lsc_error_set(err, LSC_ERR_INVALID, "lokr spectrum needs an output for the singular values");
    double *s1 = lsc_workspace_get(ws, WS_SV1, (size_t)n1), *s2 = lsc_workspace_get(ws, WS_SV2, (size_t)n2);
    if (!s1 || !s2)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for lokr singular values");
    st = factor_values(&k->w1, ws, WS_F1B, s1, err);
    if (st == LSC_OK)
        st = factor_values(&k->w2, ws, WS_F2B, s2, err);
    if (st != LSC_OK)
        return st;
    const double as = fabs(k->scale);
    for (int i = 0; i < n1; i++)
        for (int j = 0; j < n2; j++)
            sv[(size_t)i * n2 + j] = as * s1[i] * s2[j];
    if ((int64_t)n1 * n2 > 1)
        qsort(sv, (size_t)n1 * n2, sizeof(double), cmp_desc);
    for (size_t i = 0; i < (size_t)n1 * n2; i++)
        if (!isfinite(sv[i]))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "overflow in the lokr singular values");
    return LSC_OK;
}

/* One factor's thin SVD with vectors: n values into s, U [rows, n], VT [n, cols] (all malloc'ed in
 * *mem). */
typedef struct {
    int n;
    double *s, *U, *VT, *mem;
} factor_svd;

static lsc_status factor_svd_full(const lsc_lokr_factor *f, lsc_workspace *ws, factor_svd *o, lsc_error *err)
{
    const int n = factor_count(f);
    const size_t rows = (size_t)f->rows, cols = (size_t)f->cols;
    memset(o, 0, sizeof *o);
    o->n = n;
    o->mem = malloc(sizeof(double) * ((size_t)n * (1 + rows + cols) + 1));
    if (!o->mem)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a lokr factor's svd");
    o->s = o->mem, o->U = o->s + n, o->VT = o->U + rows * (size_t)n;
    if (n == 0)
        return LSC_OK;
    if (f->r > 0) {
        double *b = NULL, *a = NULL, *V = malloc(sizeof(double) * cols * (size_t)n);
        if (f->t) {
            b = lsc_workspace_get(ws, WS_F1B, rows * (size_t)f->r);
            a = lsc_workspace_get(ws, WS_F1A, (size_t)f->r * cols);
        }
        if (!V || (f->t && (!a || !b))) {
            free(V);
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a lokr factor's svd");
        }
        lsc_lowrank lr = factor_lowrank(f, b, a);
        lsc_status st = lsc_spectrum(&lr, ws, o->s, o->U, V, err);
        for (size_t j = 0; st == LSC_OK && j < cols; j++)
            for (int p = 0; p < n; p++)
                o->VT[(size_t)p * cols + j] = V[j * (size_t)n + p];
        free(V);
        return st;
    }
    double *copy = lsc_workspace_get(ws, WS_DENSE, rows * cols);
    if (!copy)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a lokr factor's svd");
    for (size_t i = 0; i < rows * cols; i++) {
        copy[i] = f->w[i];
        if (!isfinite(copy[i]))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in a lokr factor");
    }
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)rows, (lapack_int)cols, copy,
                                     (lapack_int)cols, o->s, o->U, n, o->VT, (lapack_int)cols);
    if (info != 0)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "svd of a lokr factor failed (lapack info %d)", (int)info);
    return LSC_OK;
}

/* How many of a factor's values to keep: all, or those above its numerical-rank tolerance. */
static int kept_count(const factor_svd *f, int64_t rows, int64_t cols, int drop_zero)
{
    if (!drop_zero || f->n == 0)
        return f->n;
    const double tol = (double)(rows > cols ? rows : cols) * DBL_EPSILON * f->s[0];
    int n = 0;
    while (n < f->n && f->s[n] > tol)
        n++;
    return n;
}

/* B = (U1 S1) (x) (U2 S2), A = V1^T (x) V2^T on the kept columns. */
static void lokr_fill(const lsc_lokr *k, const factor_svd *f1, int n1, const factor_svd *f2, int n2, double *B,
                      double *A)
{
    const int64_t a = k->w1.rows, b = k->w1.cols, c = k->w2.rows, d = k->w2.cols;
    const int64_t R = (int64_t)n1 * n2, cols = b * d;
    for (int64_t i = 0; i < a; i++)
        for (int64_t kk = 0; kk < c; kk++) {
            double *row = B + (i * c + kk) * R;
            for (int p = 0; p < n1; p++) {
                const double x = f1->U[i * f1->n + p] * f1->s[p];
                for (int q = 0; q < n2; q++)
                    row[p * n2 + q] = x * f2->U[kk * f2->n + q] * f2->s[q];
            }
        }
    for (int p = 0; p < n1; p++)
        for (int q = 0; q < n2; q++) {
            double *row = A + (int64_t)(p * n2 + q) * cols;
            const double *v1 = f1->VT + (int64_t)p * b, *v2 = f2->VT + (int64_t)q * d;
            for (int64_t j = 0; j < b; j++)
                for (int64_t l = 0; l < d; l++)
                    row[j * d + l] = v1[j] * v2[l];
        }
}

lsc_status lsc_lycoris_lokr_lowrank(const lsc_lokr *k, int drop_zero, int max_rank, lsc_lycoris_owned *out,
                                    int64_t *needed, lsc_error *err)
{
    if (!out)
        return lsc_error_set(err, LSC_ERR_INVALID, "lokr conversion needs an output");
    memset(out, 0, sizeof *out);
    lsc_status st = lokr_check(k, err);
    if (st != LSC_OK)
        return st;
    const int64_t rows = k->w1.rows * k->w2.rows, cols = k->w1.cols * k->w2.cols;
    if (rows > INT_MAX || cols > INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "lokr layer [%lld, %lld] exceeds what lapack can index",
                             (long long)rows, (long long)cols);
    factor_svd f1 = {0}, f2 = {0};
    lsc_workspace *ws = lsc_workspace_new();
    if (!ws)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a lokr workspace");
    st = factor_svd_full(&k->w1, ws, &f1, err);
    if (st == LSC_OK)
        st = factor_svd_full(&k->w2, ws, &f2, err);
    if (st != LSC_OK)
        goto done;
    const int n1 = kept_count(&f1, k->w1.rows, k->w1.cols, drop_zero);
    const int n2 = kept_count(&f2, k->w2.rows, k->w2.cols, drop_zero);
    const int64_t R = (int64_t)n1 * n2;
    if (needed)
        *needed = R;
    if (R > INT_MAX || (max_rank > 0 && R > max_rank)) {
        st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "lokr rank %d x %d = %lld exceeds the allowed %d", n1, n2,
                           (long long)R, max_rank > 0 ? max_rank : INT_MAX);
        goto done;
    }
    st = owned_alloc(out, rows, cols, (int)R, k->scale, err);
    if (st == LSC_OK && R > 0)
        lokr_fill(k, &f1, n1, &f2, n2, out->mem, out->mem + (size_t)rows * (size_t)R);
done:
    free(f1.mem);
    free(f2.mem);
    lsc_workspace_free(ws);
    return st;
}

/* <F, G> of two factors of equal shape, from their storages. Tucker factors are converted to low rank
 * (malloc'ed); a full factor meets a low-rank one as sum (B^T W) o A. */
static lsc_status factor_dot(const lsc_lokr_factor *f, const lsc_lokr_factor *g, double *dot, lsc_error *err)
{
    *dot = 0.0;
    const int64_t rows = f->rows, cols = f->cols;
    if (rows == 0 || cols == 0)
        return LSC_OK;
    if (f->r == 0 && g->r == 0) {
        double acc = 0.0;
        for (int64_t i = 0; i < rows * cols; i++)
            acc += f->w[i] * g->w[i];
        *dot = acc;
        return LSC_OK;
    }
    if (f->r == 0 && g->r > 0)
        return factor_dot(g, f, dot, err);
    /* f is decomposed from here on */
    size_t need = (f->t ? (size_t)f->r * (size_t)(rows + cols) : 0) + (g->t ? (size_t)g->r * (size_t)(rows + cols) : 0);
    double *mem = malloc(sizeof(double) * (need + (g->r == 0 ? (size_t)f->r * (size_t)cols : 0) + 1));
    if (!mem)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a lokr inner product");
    double *p = mem;
    lsc_lowrank fl = factor_lowrank(f, p, p + (size_t)f->r * (size_t)rows);
    if (f->t)
        p += (size_t)f->r * (size_t)(rows + cols);
    lsc_status st = LSC_OK;
    if (g->r > 0) {
        lsc_lowrank gl = factor_lowrank(g, p, p + (size_t)g->r * (size_t)rows);
        st = lowrank_dot(&fl, &gl, dot, err);
    } else {
        /* <W, B A> = sum_{i,c} (B^T W)[i, c] A[i, c] */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, f->r, (int)cols, (int)rows, 1.0, fl.B, f->r, g->w,
                    (int)cols, 0.0, p, (int)cols);
        double acc = 0.0;
        for (size_t i = 0; i < (size_t)f->r * (size_t)cols; i++)
            acc += p[i] * fl.A[i];
        *dot = acc;
    }
    free(mem);
    return st;
}

lsc_status lsc_lycoris_lokr_dot(const lsc_lokr *x, const lsc_lokr *y, double *dot, lsc_error *err)
{
    if (!dot)
        return lsc_error_set(err, LSC_ERR_INVALID, "lokr inner product needs an output");
    lsc_status st = lokr_check(x, err);
    if (st == LSC_OK)
        st = lokr_check(y, err);
    if (st != LSC_OK)
        return st;
    if (x->w1.rows != y->w1.rows || x->w1.cols != y->w1.cols || x->w2.rows != y->w2.rows ||
        x->w2.cols != y->w2.cols)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                             "lokr layers split differently ([%lld, %lld] (x) [%lld, %lld] and [%lld, %lld] (x) "
                             "[%lld, %lld]); convert them to low rank first",
                             (long long)x->w1.rows, (long long)x->w1.cols, (long long)x->w2.rows,
                             (long long)x->w2.cols, (long long)y->w1.rows, (long long)y->w1.cols,
                             (long long)y->w2.rows, (long long)y->w2.cols);
    double d1 = 0.0, d2 = 0.0;
    st = factor_dot(&x->w1, &y->w1, &d1, err);
    if (st == LSC_OK)
        st = factor_dot(&x->w2, &y->w2, &d2, err);
    *dot = st == LSC_OK ? x->scale * y->scale * d1 * d2 : 0.0;
    return st;
}

lsc_status lsc_lycoris_lokr_norm(const lsc_lokr *k, double *norm, lsc_error *err)
{
    if (!norm)
        return lsc_error_set(err, LSC_ERR_INVALID, "lokr norm needs an output");
    lsc_status st = lokr_check(k, err);
    double d1 = 0.0, d2 = 0.0;
    if (st == LSC_OK)
        st = factor_dot(&k->w1, &k->w1, &d1, err);
    if (st == LSC_OK)
        st = factor_dot(&k->w2, &k->w2, &d2, err);
    *norm = st == LSC_OK ? fabs(k->scale) * sqrt(d1 > 0.0 ? d1 : 0.0) * sqrt(d2 > 0.0 ? d2 : 0.0) : 0.0;
    return st;
}

/* ---- DoRA ------------------------------------------------------------------------------------------ */

lsc_status lsc_lycoris_dora_merge(double *W, const lsc_lowrank *lr, const double *mag, lsc_dora_axis axis,
                                  int64_t K, double multiplier, double eps, lsc_error *err)
{
    if (!W || !lr || !mag)
        return lsc_error_set(err, LSC_ERR_INVALID, "dora merge needs a base weight, a layer and 'dora_scale'");
    const int64_t rows = lr->rows, cols = lr->cols;
    if (!shape_ok(rows, cols, lr->r) || K < 1 || cols % K != 0 ||
        (axis != LSC_DORA_PER_INPUT && axis != LSC_DORA_PER_OUTPUT))
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid dora layer [%lld, %lld] with kernel size %lld",
                             (long long)rows, (long long)cols, (long long)K);
    if (lr->r > 0 && (!lr->B || !lr->A))
        return lsc_error_set(err, LSC_ERR_INVALID, "dora layer factor missing");
    if (rows == 0 || cols == 0)
        return LSC_OK;
    if (lr->r > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, lr->r, lr->scale, lr->B, lr->r,
                    lr->A, (int)cols, 1.0, W, (int)cols);
    const int64_t groups = axis == LSC_DORA_PER_INPUT ? cols / K : rows;
    double *f = calloc((size_t)groups, sizeof(double));
    if (!f)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for %lld dora norms", (long long)groups);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t c = 0; c < cols; c++) {
            const double v = W[i * cols + c];
            f[axis == LSC_DORA_PER_INPUT ? c / K : i] += v * v;
        }
    for (int64_t g = 0; g < groups; g++) {
        const double s = mag[g] / (sqrt(f[g]) + eps);
        f[g] = multiplier * (s - 1.0) + 1.0;
    }
    bool finite = true;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t c = 0; c < cols; c++) {
            double *v = &W[i * cols + c];
            *v *= f[axis == LSC_DORA_PER_INPUT ? c / K : i];
            finite &= isfinite(*v) != 0;
        }
    free(f);
    if (!finite)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the merged dora layer");
    return LSC_OK;
}
