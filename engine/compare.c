/* compare.c: two LoRA layers of one shape compared from their factors (see compare.h).
 *
 * Where each figure comes from, and why:
 * - norms: from the factored spectra (QR-based, so no squared condition number);
 * - inner product: from the bases' cross products the difference forms anyway (n1 n2 work), else
 *   s1 s2 sum((B1^T B2) .* (A1 A2^T)), the trace form;
 * - ||d1 - d2||_F: NOT sqrt(n1^2 + n2^2 - 2 inner), which loses everything to cancellation when the
 *   layers are close (it can only resolve differences down to ~sqrt(eps) of the norm). Instead the
 *   second layer's bases are split along the first's (parts formed directly) and the difference's norm
 *   summed from mutually orthogonal parts (diff_norm), to ~eps of the norm from the bases the subspace
 *   figures use anyway: an adapter compared with itself gives 0 up to rounding;
 * - subspaces: the singular vectors carrying the layer (sigma_i > 1e-10 sigma_1); principal angles from
 *   cosines and, for small angles where arccos is ill-conditioned, from sines (Knyazev & Argentati);
 * - the factored path (below, before lsc_compare) gets all of the above from r x r products when both
 *   layers' factors are well conditioned and the layers far apart, never forming the tall vectors;
 * - scales: every figure is computed from the unscaled factors and the scale put back last, so a scale
 *   near the ends of the double range (lora_alpha 1e308 or 1e-308) gives what the true value is: squares
 *   of 1e306 singular values would overflow, products of 1e-310 ones underflow. The cosine does not depend
 *   on the scales except for their signs; the difference is computed relative to the larger scale.
 *
 * Workspace: slots LSC_WS_CALLER_FIRST.. hold what must survive the lsc_spectrum calls (which use the
 * lower slots). Pure compute; never prints; depends on spectrum.c and BLAS/LAPACKE only.
 */
#include "compare.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "spectrum.h"

enum {
    WS_U1 = LSC_WS_CALLER_FIRST, /* U1 and V1 */
    WS_V1,                       /* unused */
    WS_U2,                       /* U2 and V2; then the sine matrix (principal_angles_split) */
    WS_V2,                       /* unused */
    WS_SMALL, /* sv1, sv2, Gram matrices, subspace products, their singular values */
    WS_BC,    /* the difference's split bases, later the sine matrix of the angles */
    WS_AC,    /* unused */
    WS_WORK,  /* LAPACK work + integer work for the small SVDs */
};
_Static_assert(WS_WORK < LSC_WS_SLOTS, "compare must stay inside the workspace");

static int count_carrying(const double *sv, int n)
{
    if (n <= 0 || !(sv[0] > 0.0))
        return 0;
    const double thr = 1e-10 * sv[0];
    int k = 0;
    while (k < n && sv[k] > thr)
        k++;
    return k;
}

static double sum_squares(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

/* ||x||_2 without overflow or underflow of the squares: scaled by the largest entry. */
static double norm2(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fabs(x[i]) > m ? fabs(x[i]) : m;
    if (!(m > 0.0) || !isfinite(m))
        return m;
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (x[i] / m) * (x[i] / m);
    return m * sqrt(s);
}

static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);
}

/* Singular values (descending) of the column-major m x n matrix a (destroyed) into s[min(m, n)], with the
 * work slot of ws; status on failure. */
static lsc_status small_svd_values(lsc_workspace *ws, int m, int n, double *a, double *s, lsc_error *err)
{
    const int k = m < n ? m : n;
    double q = 0.0, dummy = 0.0;
    lapack_int idummy[1];
    lapack_int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'N', m, n, a, m, s, &dummy, 1, &dummy, 1, &q, -1,
                                          idummy);
    size_t lwork = info == 0 && q > 1.0 ? (size_t)q : 1;
    size_t n_iwork = ((size_t)8 * k * sizeof(lapack_int) + sizeof(double) - 1) / sizeof(double);
    double *work = lsc_workspace_get(ws, WS_WORK, lwork + n_iwork);
    if (!work)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the subspace comparison");
    lapack_int *iwork = (lapack_int *)(void *)(work + lwork);
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'N', m, n, a, m, s, &dummy, 1, &dummy, 1, work, (lapack_int)lwork,
                               iwork);
    if (info != 0)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "svd in the subspace comparison failed (lapack info %d)",
                             (int)info);
    return LSC_OK;
}

/* phi = ||X1^T X2||_F^2 / min(k1, k2) for X1 [dim, ld1] row-major using its first k1 columns (X2
 * likewise); m receives X1^T X2 row-major [k1, k2]. */
static double subspace_phi(const double *x1, int ld1, int k1, const double *x2, int ld2, int k2, int dim,
                           double *m)
{
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k1, k2, dim, 1.0, x1, ld1, x2, ld2, 0.0, m, k2);
    return clamp01(sum_squares(m, (size_t)k1 * k2) / (double)(k1 < k2 ? k1 : k2));
}

/* Singular values (descending) of S [dim, k2] (column-major, destroyed) into sinv[k2]: those of the k2 x k2
 * R of its QR, a blocked Householder QR (dgeqrt) of the tall matrix and a small SVD, instead of dgesdd on
 * the wide [k2, dim] matrix, whose Level-2 LQ dominated diff on 28k-wide layers. tail: k2 * k2 + 2 nb k2. */
static lsc_status tall_values(lsc_workspace *ws, double *s, int dim, int k2, double *tail, double *sinv,
                              lsc_error *err)
{
    const int nb = k2 < 32 ? k2 : 32;
    double *r = tail, *tq = r + (size_t)k2 * k2, *qwork = tq + (size_t)nb * k2;
    if (dim < k2)
        return small_svd_values(ws, dim, k2, s, sinv, err); /* k2 <= dim always for orthonormal columns */
    lapack_int info = LAPACKE_dgeqrt_work(LAPACK_COL_MAJOR, dim, k2, nb, s, dim, tq, nb, qwork);
    if (info != 0)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "qr in the subspace comparison failed (lapack info %d)", (int)info);
    for (int j = 0; j < k2; j++)
        for (int i = 0; i < k2; i++)
            r[i + (size_t)j * k2] = i <= j ? s[i + (size_t)j * dim] : 0.0;
    return small_svd_values(ws, k2, k2, r, sinv, err);
}

/* i-th smallest angle from cosine cosv[i] (descending) and sine sinv[k2 - 1 - i] (sines descending). */
static void angles_from(const double *cosv, const double *sinv, int k2, int n_out, double *angles)
{
    for (int i = 0; i < n_out; i++) {
        double c = clamp01(cosv[i]), sn = clamp01(sinv[k2 - 1 - i]);
        angles[i] = sn * sn < 0.5 ? asin(sn) : acos(c);
    }
    /* the two formulas meet at pi/4; keep the order strictly non-decreasing across the seam */
    for (int i = 1; i < n_out; i++)
        if (angles[i] < angles[i - 1])
            angles[i] = angles[i - 1];
}

static size_t tall_size(int dim, int k2)
{
    const int nb = k2 < 32 ? k2 : 32;
    return (size_t)dim * k2 + (size_t)k2 * k2 + 2 * (size_t)nb * k2;
}

/* Principal angles (ascending) between span X1[:, :k1] and span X2[:, :k2] (row-major [dim, ld]).
 * Cosines are the singular values of M = X1^T X2; sines those of X2 - X1 M (with X2 the smaller
 * subspace). arccos is used where the angle exceeds pi/4, arcsin below, so small angles keep their
 * relative accuracy. */
static lsc_status principal_angles(lsc_workspace *ws, const double *x1, int ld1, int k1, const double *x2, int ld2,
                                   int k2, int dim, double *scratch, int n_out, double *angles, lsc_error *err)
{
    if (k1 < k2) { /* make X2 the smaller one; angles are symmetric */
        const double *tx = x1;
        x1 = x2;
        x2 = tx;
        int t = ld1;
        ld1 = ld2;
        ld2 = t;
        t = k1;
        k1 = k2;
        k2 = t;
    }
    double *m = scratch, *cosv = m + (size_t)k1 * k2, *sinv = cosv + k2, *mcopy = sinv + k2;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k1, k2, dim, 1.0, x1, ld1, x2, ld2, 0.0, m, k2);
    memcpy(mcopy, m, sizeof(double) * (size_t)k1 * k2);
    /* row-major [k1, k2] is column-major [k2, k1]: same singular values */
    lsc_status st = small_svd_values(ws, k2, k1, mcopy, cosv, err);
    if (st != LSC_OK)
        return st;

    /* S = X2 - X1 M, column-major [dim, k2] (the tall way round) */
    double *s = lsc_workspace_get(ws, WS_BC, tall_size(dim, k2));
    if (!s)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the subspace comparison");
    for (int i = 0; i < dim; i++)
        for (int j = 0; j < k2; j++)
            s[i + (size_t)j * dim] = x2[(size_t)i * ld2 + j];
    /* x1 row-major [dim, ld1] is column-major x1^T; m row-major [k1, k2] is column-major m^T */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, dim, k2, k1, -1.0, x1, ld1, m, k2, 1.0, s, dim);
    st = tall_values(ws, s, dim, k2, s + (size_t)dim * k2, sinv, err);
    if (st == LSC_OK)
        angles_from(cosv, sinv, k2, n_out, angles);
    return st;
}

/* principal_angles when every vector carries (k1 = n1 >= k2 = n2) and diff_norm has already split V2 along
 * V1: M = Cv = V1^T V2 [n1, n2] and S = Pv = V2 - V1 Cv [dim, n2] (both row-major) are reused instead of
 * formed again. S is copied (transposed) into slot WS_U2 (the split lives in WS_BC; U2 and V2 are not read
 * after the split), so no slot grows for it. */
static lsc_status principal_angles_split(lsc_workspace *ws, const double *cv, const double *pv, int n1, int n2, int dim,
                                         double *scratch, int n_out, double *angles, lsc_error *err)
{
    double *cosv = scratch + (size_t)n1 * n2, *sinv = cosv + n2, *mcopy = sinv + n2;
    memcpy(mcopy, cv, sizeof(double) * (size_t)n1 * n2);
    lsc_status st = small_svd_values(ws, n2, n1, mcopy, cosv, err);
    if (st != LSC_OK)
        return st;
    double *s = lsc_workspace_get(ws, WS_U2, tall_size(dim, n2)); /* U2 and V2 are dead by now */
    if (!s)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the subspace comparison");
    for (int i = 0; i < dim; i++)
        for (int j = 0; j < n2; j++)
            s[i + (size_t)j * dim] = pv[(size_t)i * n2 + j];
    st = tall_values(ws, s, dim, n2, s + (size_t)dim * n2, sinv, err);
    if (st == LSC_OK)
        angles_from(cosv, sinv, n2, n_out, angles);
    return st;
}

/* Split X2 [dim, n2] (row-major, orthonormal columns) along X1 [dim, n1]: c = X1^T X2 [n1, n2], p = X2 - X1 c
 * [dim, n2], g = p^T p [n2, n2] (all row-major). */
static void split_basis(const double *x1, int n1, const double *x2, int n2, int dim, double *c, double *p, double *g)
{
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n1, n2, dim, 1.0, x1, n1, x2, n2, 0.0, c, n2);
    memcpy(p, x2, sizeof(double) * (size_t)dim * n2);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, n2, n1, -1.0, x1, n1, c, n2, 1.0, p, n2);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n2, dim, 1.0, p, n2, 0.0, g, n2); /* half a dgemm */
    for (int i = 1; i < n2; i++)
        for (int j = 0; j < i; j++)
            g[(size_t)i * n2 + j] = g[(size_t)j * n2 + i];
}

/* ||U1 A1 V1^T - U2 A2 V2^T||_F (A = t diag(sv)) from the bases, as lsc_compare's comment derives; the
 * splits of the second layer's bases along the first's (in slot WS_BC) into *parts. */
static double split_norm(const double *cu, const double *cv, const double *gu, const double *gv, const double *sv1,
                         int n1, double t1, const double *sv2, int n2, double t2, double *x, double *y);

typedef struct split_parts {
    const double *cu, *cv; /* U1^T U2, V1^T V2 [n1, n2] row-major */
    const double *pv;      /* V2 - V1 Cv [cols, n2] row-major */
} split_parts;

static lsc_status diff_norm(lsc_workspace *ws, const double *u1, const double *v1, const double *sv1, int n1, double t1,
                           const double *u2, const double *v2, const double *sv2, int n2, double t2, int rows, int cols,
                           double *out, split_parts *parts, lsc_error *err)
{
    const int dim = rows > cols ? rows : cols;
    const size_t nn = (size_t)n1 * n2, mm = (size_t)n2 * n2;
    const size_t ny = (size_t)n1 * (n1 > n2 ? n1 : n2); /* y [n1, n1], later w [n1, n2] */
    double *buf = lsc_workspace_get(ws, WS_BC, (size_t)dim * n2 + 2 * nn + 2 * mm + nn + ny);
    if (!buf)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory comparing two [%d, %d] layers", rows, cols);
    double *p = buf, *cu = p + (size_t)dim * n2, *cv = cu + nn, *gu = cv + nn, *gv = gu + mm, *x = gv + mm;
    double *y = x + nn;
    split_basis(u1, n1, u2, n2, rows, cu, p, gu);
    split_basis(v1, n1, v2, n2, cols, cv, p, gv);
    *parts = (split_parts){cu, cv, p}; /* p holds Pv now; the rest below touches only x, y */
    *out = split_norm(cu, cv, gu, gv, sv1, n1, t1, sv2, n2, t2, x, y);
    return LSC_OK;
}

/* ||U1 A1 V1^T - U2 A2 V2^T||_F (A = t diag(sv)) from the splits U2 = U1 Cu + Pu, V2 = V1 Cv + Pv: cu, cv
 * [n1, n2] row-major, gu = Pu^T Pu, gv = Pv^T Pv [n2, n2] (symmetric); x [n1 n2], y [n1 max(n1, n2)]
 * scratch. */
static double split_norm(const double *cu, const double *cv, const double *gu, const double *gv, const double *sv1,
                         int n1, double t1, const double *sv2, int n2, double t2, double *x, double *y)
{
    const size_t nn = (size_t)n1 * n2;
    /* the scale of the sums: the largest of the values, so the squares neither overflow nor underflow */
    double m = 0.0;
    for (int i = 0; i < n1; i++)
        m = fmax(m, t1 * sv1[i]);
    for (int j = 0; j < n2; j++)
        m = fmax(m, t2 * sv2[j]);
    if (!(m > 0.0))
        return 0.0;
    /* x = Cu A2 / m [n1, n2]; y = (A1 - Cu A2 Cv^T) / m [n1, n1] */
    for (int i = 0; i < n1; i++)
        for (int j = 0; j < n2; j++)
            x[(size_t)i * n2 + j] = cu[(size_t)i * n2 + j] * (t2 * sv2[j] / m);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n1, n1, n2, -1.0, x, n2, cv, n2, 0.0, y, n1);
    for (int i = 0; i < n1; i++)
        y[(size_t)i * n1 + i] += t1 * sv1[i] / m;
    double s = sum_squares(y, (size_t)n1 * n1);
    /* ||Cu A2 Pv^T||^2 = sum((x Gv) .* x); ||Pu A2 Cv^T||^2 = sum((z Gu) .* z), z = Cv A2 / m;
     * ||Pu A2 Pv^T||^2 = sum((A2 Gu A2) .* Gv) / m^2 */
    double *w = y; /* y is summed: reuse it [n1, n2] */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n1, n2, n2, 1.0, x, n2, gv, n2, 0.0, w, n2);
    double part = 0.0;
    for (size_t i = 0; i < nn; i++)
        part += w[i] * x[i];
    s += fmax(part, 0.0);
    for (int i = 0; i < n1; i++)
        for (int j = 0; j < n2; j++)
            x[(size_t)i * n2 + j] = cv[(size_t)i * n2 + j] * (t2 * sv2[j] / m);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n1, n2, n2, 1.0, x, n2, gu, n2, 0.0, w, n2);
    part = 0.0;
    for (size_t i = 0; i < nn; i++)
        part += w[i] * x[i];
    s += fmax(part, 0.0);
    part = 0.0;
    for (int i = 0; i < n2; i++)
        for (int j = 0; j < n2; j++)
            part += (t2 * sv2[i] / m) * gu[(size_t)i * n2 + j] * (t2 * sv2[j] / m) * gv[(size_t)j * n2 + i];
    s += fmax(part, 0.0);
    return m * sqrt(s);
}

/* <B1 A1, B2 A2>_F (unscaled) as lsc_compare's comment there says; gb, ga [r1 * r2] scratch. */
static double unscaled_inner(const lsc_lowrank *x, const lsc_lowrank *y, const split_parts *parts, const double *sv1,
                             int n1, const double *sv2, int n2, double *gb, double *ga)
{
    const int64_t rows = x->rows, cols = x->cols;
    double tr = 0.0;
    if (parts->cu) {
        for (int i = 0; i < n1; i++)
            for (int j = 0; j < n2; j++)
                tr += sv1[i] * parts->cu[(size_t)i * n2 + j] * sv2[j] * parts->cv[(size_t)i * n2 + j];
        return (x->scale < 0) != (y->scale < 0) ? -tr : tr;
    }
    if (x->r > 0 && y->r > 0 && rows > 0 && cols > 0) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, x->r, y->r, (int)rows, 1.0, x->B, x->r, y->B, y->r, 0.0,
                    gb, y->r);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, x->r, y->r, (int)cols, 1.0, x->A, (int)cols, y->A,
                    (int)cols, 0.0, ga, y->r);
        for (size_t i = 0; i < (size_t)x->r * y->r; i++)
            tr += gb[i] * ga[i];
    }
    return tr;
}

/* ---- the factored path: no tall singular vectors ----
 *
 * With both layers on the spectrum's Gram path, U = sign(s) B Rb^{-1} Uc and V = A^T Ra^{-1} Vc (never
 * formed), so the products the figures need are small:
 *   U1^T U2 = sign(s1 s2) Uc1^T Rb1^{-T} (B1^T B2) Rb2^{-1} Uc2,  V1^T V2 = Vc1^T Ra1^{-T} (A1 A2^T) Ra2^{-1} Vc2,
 * two cross products over the factors (rows r1 r2 + cols r1 r2) and r x r work. The splits' Gram
 * matrices follow as Pu^T Pu = I - Cu^T Cu (likewise Pv), the inner product as the trace form, the cosines
 * of the principal angles as the singular values of V1^T V2 and the angles as their arccos.
 *
 * I - C^T C and arccos lose what the tall path keeps when some angle is small: both resolve an angle only
 * to an absolute ~(eps + delta) / sin(theta), delta ~ 1e-13 the Gram path's departure from orthonormality,
 * and the difference's norm to an absolute ~delta ||d||^2 in its square. So the path is taken only when
 * every principal angle on both sides is large: cos <= FACTORED_MAX_COS (theta >= 0.1415, sin^2 >= 0.0199).
 * Then the angles keep ~1e-11 relative, and the difference cannot be small: the top singular vector of
 * either layer has a component outside the other's column space of at least sin(theta_min), so
 * ||d1 - d2||_F >= sin(theta_min) max(||d1||_2, ||d2||_2) >= sin(theta_min) max(||d1||_F, ||d2||_F) / sqrt(k),
 * and its square's relative error stays below ~delta k / 0.02 (~1e-9 at k = 128; measured ~1e-13).
 * Close layers (small angles, the same layer, a layer against its negation), layers whose factors the Gram
 * path refuses (rank-deficient, ill-conditioned, r above a side) and layers with directions below the
 * carrying threshold take the tall path below. All decisions depend on the data only: same results with
 * any thread count. */
#define FACTORED_MAX_COS 0.99

static _Thread_local lsc_compare_path last_compare_path = LSC_COMPARE_PATH_NONE;

lsc_compare_path lsc_compare_last_path(void)
{
    return last_compare_path;
}

/* The r x r pieces of one layer (lsc_spectrum_gram_core), column-major. */
typedef struct gram_side {
    int r;
    double *sv, *rb, *ra, *uc, *vc;
} gram_side;

static double *gram_side_carve(gram_side *g, int r, double *p)
{
    const size_t rr = (size_t)r * r;
    g->r = r;
    g->sv = p;
    g->rb = p + r;
    g->ra = g->rb + rr;
    g->uc = g->ra + rr;
    g->vc = g->uc + rr;
    return g->vc + rr;
}

/* out row-major [r1, r2] = sg * Q1^T R1^{-T} G R2^{-1} Q2 for G column-major [r1, r2] (destroyed), R upper
 * and Q [r, r] column-major; t [r1 r2] scratch. */
static void cross_basis(double *g, const double *r1m, const double *q1, int r1, const double *r2m, const double *q2,
                        int r2, double sg, double *t, double *out)
{
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, r1, r2, 1.0, r1m, r1, g, r1);
    cblas_dtrsm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, r1, r2, 1.0, r2m, r2, g, r1);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, r1, r2, r1, 1.0, q1, r1, g, r1, 0.0, t, r1);
    /* row-major [r1, r2] out is column-major out^T = sg Q2^T t^T */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, r2, r1, r2, sg, q2, r2, t, r1, 0.0, out, r2);
}

/* g [n2, n2] = I - c^T c for c row-major [n1, n2]: the Gram matrix of the split's part outside. */
static void outside_gram(const double *c, int n1, int n2, double *g)
{
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n2, n2, n1, -1.0, c, n2, c, n2, 0.0, g, n2);
    for (int i = 0; i < n2; i++)
        g[(size_t)i * n2 + i] += 1.0;
}

/* Figures shared by both paths from the unscaled quantities: nu = ||B A||_F, dn = ||d1 - d2||_F / smax,
 * tr = <B1 A1, B2 A2> (set into inner when has_inner). */
static void set_figures(const lsc_lowrank *x, const lsc_lowrank *y, double nu1, double nu2, double dn, double tr,
                        int has_inner, lsc_compare_result *out)
{
    const double smax = fabs(x->scale) > fabs(y->scale) ? fabs(x->scale) : fabs(y->scale);
    out->norm1 = fabs(x->scale) * nu1;
    out->norm2 = fabs(y->scale) * nu2;
    out->diff_norm = smax * dn;
    if (has_inner)
        out->inner = x->scale * (y->scale * tr);
    /* zero means zero as the user sees it: a scale of 0 or factors whose product is 0 */
    const int zero1 = !(out->norm1 > 0.0 || (nu1 > 0.0 && x->scale != 0.0));
    const int zero2 = !(out->norm2 > 0.0 || (nu2 > 0.0 && y->scale != 0.0));
    if (!zero1 && !zero2) {
        /* scale-invariant but for the signs: cos = sign(s1 s2) tr / (||B1 A1|| ||B2 A2||) */
        double c = tr / nu1 / nu2;
        if ((x->scale < 0) != (y->scale < 0))
            c = -c;
        out->cosine = c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
    } else {
        out->cosine = zero1 == zero2 ? 1.0 : 0.0;
    }
    /* diff_norm / norm = (smax dn) / (|s| nu) = (dn / nu) (smax / |s|), each factor in range */
    if (!zero1)
        out->rel_diff = dn / nu1 * (smax / fabs(x->scale));
    else if (!zero2)
        out->rel_diff = dn / nu2 * (smax / fabs(y->scale));
    else
        out->rel_diff = 0.0;
}

/* The factored path (see above): *done = 0 when it declines, and out is untouched. xu, yu: the layers
 * with their scales replaced by their signs. */
static lsc_status compare_factored(const lsc_lowrank *x, const lsc_lowrank *y, const lsc_lowrank *xu,
                                   const lsc_lowrank *yu, lsc_workspace *ws, lsc_compare_result *out, int *done,
                                   lsc_error *err)
{
    *done = 0;
    const int r1 = x->r, r2 = y->r;
    if (r1 < 1 || r2 < 1 || r1 > x->rows || r1 > x->cols || r2 > x->rows || r2 > x->cols)
        return LSC_OK;
    const size_t q1 = (size_t)r1 * r1, q2 = (size_t)r2 * r2, q12 = (size_t)r1 * r2;
    const size_t rmax = (size_t)(r1 > r2 ? r1 : r2);
    double *buf = lsc_workspace_get(ws, WS_V1, (size_t)r1 + r2 + 4 * (q1 + q2) + 7 * q12 + 2 * q2 + rmax * rmax +
                                                   2 * rmax);
    if (!buf)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory comparing two [%lld, %lld] layers",
                             (long long)x->rows, (long long)x->cols);
    gram_side g1, g2;
    double *p = gram_side_carve(&g2, r2, gram_side_carve(&g1, r1, buf));
    double *gb = p, *ga = gb + q12, *cu = ga + q12, *cv = cu + q12, *t = cv + q12, *mc = t + q12, *xs = mc + q12;
    double *gu = xs + q12, *gv = gu + q2, *ys = gv + q2, *cos_u = ys + rmax * rmax, *cos_v = cos_u + rmax;

    int ok1 = 0, ok2 = 0;
    lsc_status st = lsc_spectrum_gram_core(xu, ws, g1.sv, g1.rb, g1.ra, g1.uc, g1.vc, &ok1, err);
    if (st != LSC_OK) {
        lsc_error_prefix(err, "first layer");
        return st;
    }
    if (!ok1)
        return LSC_OK;
    st = lsc_spectrum_gram_core(yu, ws, g2.sv, g2.rb, g2.ra, g2.uc, g2.vc, &ok2, err);
    if (st != LSC_OK) {
        lsc_error_prefix(err, "second layer");
        return st;
    }
    if (!ok2 || count_carrying(g1.sv, r1) != r1 || count_carrying(g2.sv, r2) != r2)
        return LSC_OK;

    /* the cross products over the factors: B1^T B2 and A1 A2^T, column-major [r1, r2] */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, r1, r2, (int)x->rows, 1.0, x->B, r1, y->B, r2, 0.0, gb, r1);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, r1, r2, (int)x->cols, 1.0, x->A, (int)x->cols, y->A,
                (int)y->cols, 0.0, ga, r1);
    double tr = 0.0; /* <B1 A1, B2 A2> = sum((B1^T B2) .* (A1 A2^T)) */
    for (size_t i = 0; i < q12; i++)
        tr += gb[i] * ga[i];
    cross_basis(gb, g1.rb, g1.uc, r1, g2.rb, g2.uc, r2, xu->scale * yu->scale, t, cu);
    cross_basis(ga, g1.ra, g1.vc, r1, g2.ra, g2.vc, r2, 1.0, t, cv);

    /* cosines of the principal angles on both sides; the path needs all of them away from 1 */
    memcpy(mc, cu, sizeof(double) * q12);
    st = small_svd_values(ws, r2, r1, mc, cos_u, err);
    if (st == LSC_OK) {
        memcpy(mc, cv, sizeof(double) * q12);
        st = small_svd_values(ws, r2, r1, mc, cos_v, err);
    }
    if (st != LSC_OK)
        return st;
    if (!(cos_u[0] <= FACTORED_MAX_COS && cos_v[0] <= FACTORED_MAX_COS))
        return LSC_OK;

    const double smax = fabs(x->scale) > fabs(y->scale) ? fabs(x->scale) : fabs(y->scale);
    const double t1 = smax > 0.0 ? fabs(x->scale) / smax : 0.0, t2 = smax > 0.0 ? fabs(y->scale) / smax : 0.0;
    outside_gram(cu, r1, r2, gu);
    outside_gram(cv, r1, r2, gv);
    const double dn = split_norm(cu, cv, gu, gv, g1.sv, r1, t1, g2.sv, r2, t2, xs, ys);
    set_figures(x, y, norm2(g1.sv, (size_t)r1), norm2(g2.sv, (size_t)r2), dn, tr, 1, out);

    const int kmin = r1 < r2 ? r1 : r2;
    out->subspace_in = clamp01(sum_squares(cv, q12) / (double)kmin);
    out->subspace_out = clamp01(sum_squares(cu, q12) / (double)kmin);
    out->n_angles = kmin < LSC_COMPARE_MAX_ANGLES ? kmin : LSC_COMPARE_MAX_ANGLES;
    for (int i = 0; i < out->n_angles; i++) /* cosines descending: angles ascending */
        out->angles_in[i] = acos(clamp01(cos_v[i]));
    last_compare_path = LSC_COMPARE_PATH_FACTORED;
    *done = 1;
    return LSC_OK;
}

lsc_status lsc_compare(const lsc_lowrank *x, const lsc_lowrank *y, lsc_workspace *ws, lsc_compare_result *out,
                       lsc_error *err)
{
    lsc_status st = LSC_OK;

    if (!x || !y || !ws || !out)
        return lsc_error_set(err, LSC_ERR_INVALID, "compare needs two layers, a workspace and an output");
    if (x->rows != y->rows || x->cols != y->cols)
        return lsc_error_set(err, LSC_ERR_INVALID, "shape mismatch: [%lld, %lld] against [%lld, %lld]",
                             (long long)x->rows, (long long)x->cols, (long long)y->rows, (long long)y->cols);
    if (x->r < 0 || y->r < 0 || x->rows < 0 || x->cols < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid layer shape [%lld, %lld] with ranks %d and %d",
                             (long long)x->rows, (long long)x->cols, x->r, y->r);
    if (x->rows > INT_MAX || x->cols > INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "layer shape [%lld, %lld] exceeds what lapack can index",
                             (long long)x->rows, (long long)x->cols);
    memset(out, 0, sizeof *out);
    last_compare_path = LSC_COMPARE_PATH_NONE;
    if (!isfinite(x->scale) || !isfinite(y->scale))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "%s layer: non-finite scale %g", isfinite(x->scale) ? "second" : "first",
                             isfinite(x->scale) ? y->scale : x->scale);
    /* the spectra of the unscaled products B A; a scale's sign goes into U, which only subspaces use */
    lsc_lowrank xu = *x, yu = *y;
    xu.scale = x->scale < 0 ? -1.0 : 1.0;
    yu.scale = y->scale < 0 ? -1.0 : 1.0;
    int done = 0;
    st = compare_factored(x, y, &xu, &yu, ws, out, &done, err);
    if (st != LSC_OK || done)
        return st;

    const int rows = (int)x->rows, cols = (int)x->cols; 
    const int n1 = lsc_spectrum_count(x), n2 = lsc_spectrum_count(y);
    const int rc = x->r + y->r;
    const int nd = rows < cols ? (rows < rc ? rows : rc) : (cols < rc ? cols : rc);

    /* each layer's two bases share one slot: sized by rows + cols, not by the largest rows plus the largest
     * cols over the layers seen (q/gate/down shapes would keep ~20 MB more per worker) */
    double *u1 = lsc_workspace_get(ws, WS_U1, ((size_t)rows + (size_t)cols) * n1);
    double *v1 = u1 ? u1 + (size_t)rows * n1 : NULL;
    double *u2 = lsc_workspace_get(ws, WS_U2, ((size_t)rows + (size_t)cols) * n2);
    double *v2 = u2 ? u2 + (size_t)rows * n2 : NULL;
    const size_t nmax = (size_t)(n1 > n2 ? n1 : n2);
    const size_t n_small = (size_t)n1 + n2 + (size_t)nd + 2 * (size_t)x->r * y->r + 2 * nmax * nmax + 2 * nmax;
    double *small = lsc_workspace_get(ws, WS_SMALL, n_small);
    if (!u1 || !v1 || !u2 || !v2 || !small) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory comparing two [%d, %d] layers", rows, cols);
        goto out;
    }
    double *sv1 = small, *sv2 = sv1 + n1, *svd = sv2 + n2, *gb = svd + nd, *ga = gb + (size_t)x->r * y->r;
    double *scratch = ga + (size_t)x->r * y->r;

    st = lsc_spectrum(&xu, ws, sv1, u1, v1, err);
    if (st != LSC_OK) {
        lsc_error_prefix(err, "first layer");
        goto out;
    }
    st = lsc_spectrum(&yu, ws, sv2, u2, v2, err);
    if (st != LSC_OK) {
        lsc_error_prefix(err, "second layer");
        goto out;
    }
    const double nu1 = norm2(sv1, (size_t)n1), nu2 = norm2(sv2, (size_t)n2); /* ||B A||_F, unscaled */

    /* ||d1 - d2||_F / smax from the two bases just computed (no second factorisation): with
     * d1 / smax = U1 A1 V1^T, d2 / smax = U2 A2 V2^T (A = |t| diag(sv), the signs in U), split each side of
     * the second layer along the first, U2 = U1 Cu + Pu, V2 = V1 Cv + Pv (Cu = U1^T U2, Pu = U2 - U1 Cu
     * formed directly, so it keeps its absolute accuracy when the layers are close). The four parts of the
     * difference are mutually orthogonal, so
     *   ||d||^2 = ||A1 - Cu A2 Cv^T||^2 + ||Cu A2 Pv^T||^2 + ||Pu A2 Cv^T||^2 + ||Pu A2 Pv^T||^2,
     * the first a small matrix formed as a difference (an adapter against itself gives 0 up to rounding),
     * the others sums of squares through the Gram matrices of Pu and Pv; no cancellation anywhere. */
    const double smax = fabs(x->scale) > fabs(y->scale) ? fabs(x->scale) : fabs(y->scale);
    const double t1 = smax > 0.0 ? fabs(x->scale) / smax : 0.0, t2 = smax > 0.0 ? fabs(y->scale) / smax : 0.0;
    double dn = 0.0; /* ||d1 - d2||_F / smax */
    split_parts parts = {NULL, NULL, NULL};
    if (nd > 0) {
        if (n1 == 0 || n2 == 0) {
            dn = n1 ? t1 * nu1 : t2 * nu2;
        } else {
            st = diff_norm(ws, u1, v1, sv1, n1, t1, u2, v2, sv2, n2, t2, rows, cols, &dn, &parts, err);
            if (st != LSC_OK) {
                lsc_error_prefix(err, "difference of the layers");
                goto out;
            }
        }
    }

    /* <s1 B1 A1, s2 B2 A2> = s1 s2 tr, tr = <B1 A1, B2 A2>. With the splits at hand (the usual case) from the
     * bases, tr = sign(s1) sign(s2) sum_ij sv1_i (U1^T U2)_ij sv2_j (V1^T V2)_ij (the signs sit in U), which
     * costs n1 n2; otherwise the trace form sum((B1^T B2) .* (A1 A2^T)), a pass over both factors. */
    const double tr = unscaled_inner(x, y, &parts, sv1, n1, sv2, n2, gb, ga);
    set_figures(x, y, nu1, nu2, dn, tr, parts.cu || (x->r > 0 && y->r > 0 && rows > 0 && cols > 0), out);

    const int k1 = count_carrying(sv1, n1), k2 = count_carrying(sv2, n2);
    if (k1 > 0 && k2 > 0) {
        const int kmin = k1 < k2 ? k1 : k2;
        out->n_angles = kmin < LSC_COMPARE_MAX_ANGLES ? kmin : LSC_COMPARE_MAX_ANGLES;
        if (parts.cv && k1 == n1 && k2 == n2 && n1 >= n2) {
            /* every vector carries: the products the difference's splits formed are the ones needed here (the
             * same dgemm calls as subspace_phi, so the same bits) */
            out->subspace_in = clamp01(sum_squares(parts.cv, (size_t)n1 * n2) / (double)kmin);
            out->subspace_out = clamp01(sum_squares(parts.cu, (size_t)n1 * n2) / (double)kmin);
            st = principal_angles_split(ws, parts.cv, parts.pv, n1, n2, cols, scratch, out->n_angles, out->angles_in,
                                        err);
        } else {
            out->subspace_in = subspace_phi(v1, n1, k1, v2, n2, k2, cols, scratch);
            out->subspace_out = subspace_phi(u1, n1, k1, u2, n2, k2, rows, scratch);
            st = principal_angles(ws, v1, n1, k1, v2, n2, k2, cols, scratch, out->n_angles, out->angles_in, err);
        }
        if (st != LSC_OK)
            goto out;
    }
    last_compare_path = LSC_COMPARE_PATH_TALL;

out:
    return st;
}

double lsc_compare_subspace(const double *sv1, const double *v1, int n1, const double *sv2, const double *v2, int n2,
                            int dim, double *scratch)
{
    const int k1 = count_carrying(sv1, n1), k2 = count_carrying(sv2, n2);
    if (k1 == 0 || k2 == 0 || dim <= 0)
        return 0.0;
    return subspace_phi(v1, n1, k1, v2, n2, k2, dim, scratch);
}
