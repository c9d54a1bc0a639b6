/* basefig.c: figures of a LoRA layer against its base weight (see basefig.h). dW's own singular vectors
 * are exact (lsc_spectrum, from the factors). W is read by the passes of one randomized range finder
 * (float32 when W is held as floats) and one float64 pass W^T U_d (with W^T Q when the sketch is new)
 * that yields W's top vectors, U_d^T W V_d and, with W^T U_c derived from those two products
 * (complement(): no pass of its own) and dW applied from its factors, W + dW's top vectors (basefig.h
 * says why [Q, U_c] is enough, and why directions of U_d inside span(Q) are left out of U_c). The W-only
 * part (||W||_F, Q, W^T Q: lsc_basefig_sketch) is computed apart from the adapter's part W^T U_d — W^T Q
 * only when the sketch is new; for a float W both products come from lsc_wtx64, whose every element is a
 * fixed sequence of fused multiply-adds over W's rows (wtx64.h), so W given whole or as row blocks, and
 * the sketch's product computed with the adapter's or on its own, give the same bits — so a sketch kept
 * by the caller serves other adapters on the same W with bit-identical figures. Nothing of size
 * rows x cols is allocated here (row blocks of a W given by a lsc_basefig_rows_fn are ROWS_BLOCK_BYTES of
 * floats). Pure compute; never prints. */
#include "basefig.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "rng.h"
#include "simd.h"
#include "spectrum.h"
#include "wtx64.h"
#include "wx32.h"

void lsc_basefig_opts_default(lsc_basefig_opts *o)
{
    memset(o, 0, sizeof *o);
    o->k = LSC_BASEFIG_K;
    o->eps = LSC_BASEFIG_EPS;
    o->rs.oversample = -1;
    o->rs.power_iters = -1;
}

double lsc_basefig_subspace_sim(const double *X, int ldx, int a, const double *Y, int ldy, int b, int64_t n)
{
    if (a <= 0 || b <= 0)
        return 0.0;
    double s = 0, *T = n > 0 && n <= INT32_MAX ? malloc(sizeof(double) * (size_t)a * (size_t)b) : NULL;
    if (T) { /* X^T Y in one product: the loops below read X and Y with a stride per term */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a, b, (int)n, 1.0, X, ldx, Y, ldy, 0.0, T, b);
        for (size_t i = 0; i < (size_t)a * (size_t)b; i++)
            s += T[i] * T[i];
        free(T);
        return s / (a < b ? a : b);
    }
    for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++) {
            double d = 0;
            for (int64_t t = 0; t < n; t++)
                d += X[t * ldx + i] * Y[t * ldy + j];
            s += d * d;
        }
    return s / (a < b ? a : b);
}

/* The base weight: doubles, or floats (the exact values of an F32/F16/BF16 base, half the memory). The
 * passes of the range finder use W as it is held (float32 on floats: wx32.h); the final projection, the
 * norm and U_d^T W V_d are float64 (float W: lsc_wtx64, float64 fused multiply-adds on the floats). */
typedef struct wsrc {
    const double *d;
    const float *f;
    lsc_basefig_rows_fn rows_fn; /* or W only as float row blocks (with a fitting sketch only) */
    void *rows_ctx;
    int64_t rows, cols;
    float *xs, *ys; /* float scratch [cols, l] and [rows, l] (float W only) */
    float *blk;     /* [blk_rows, cols] (rows_fn only) */
    int blk_rows;   /* rows per block of the exact pass */
} wsrc;

/* The row blocks of the exact pass (and asked of a rows_fn): about this many bytes of floats, between 32
 * and 512 rows, so that the block lsc_wtx64 reads once per product is still in L2/L3 for the second. */
#define ROWS_BLOCK_BYTES (2 << 20)

static int rows_block(int64_t rows, int64_t cols)
{
    int64_t rb = ROWS_BLOCK_BYTES / (4 * cols) / 32 * 32;
    rb = rb < 32 ? 32 : rb > 512 ? 512 : rb;
    return (int)(rb < rows ? rb : rows);
}

/* Full chunks of a constant count, which -O2 vectorises, then the rest. */
static void widen(const float *x, size_t n, double *y)
{
    enum { CH = 256 };
    size_t i = 0;
    for (; i + CH <= n; i += CH)
        for (size_t j = 0; j < CH; j++)
            y[i + j] = x[i + j];
    for (; i < n; i++)
        y[i] = x[i];
}

static void narrow(const double *x, size_t n, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)x[i];
}

/* Y [rows, l] = W X, X [cols, l] (the range finder's precision). Float W: engine/wx32.c, whose sums run in
 * one fixed order on every CPU (about twice sgemm's speed on these skinny shapes), so the sketch of a W
 * does not depend on the machine or the BLAS build. */
static void approx_m(const wsrc *w, const double *X, int l, double *Y)
{
    int m = (int)w->rows, n = (int)w->cols;
    if (w->d) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, l, n, 1.0, w->d, n, X, l, 0.0, Y, l);
        return;
    }
    narrow(X, (size_t)n * (size_t)l, w->xs);
    lsc_wx32_wx(w->f, m, n, w->xs, l, l, w->ys, l);
    widen(w->ys, (size_t)m * (size_t)l, Y);
}

/* Z [cols, l] = W^T Y, Y [rows, l] (the range finder's precision). */
static void approx_mt(const wsrc *w, const double *Y, int l, double *Z)
{
    int m = (int)w->rows, n = (int)w->cols;
    if (w->d) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, l, m, 1.0, w->d, n, Y, l, 0.0, Z, l);
        return;
    }
    narrow(Y, (size_t)m * (size_t)l, w->ys);
    lsc_wx32_wtx(w->f, m, n, w->ys, l, l, w->xs, l);
    widen(w->xs, (size_t)n * (size_t)l, Z);
}

/* Z [cols, L] (leading dimension ldz) = W^T X, X [rows, L] (leading dimension ldx), in float64; with
 * L2 > 0 also Z2 [cols, L2] = W^T X2 (from the same row blocks when W comes from rows_fn). The product
 * for X is the same sequence of calls whether or not X2 is given, so Z does not depend on what else is
 * computed with it; for a float W each element of Z is lsc_wtx64's fixed fma sequence over the rows,
 * the same whether W is whole or in row blocks (the warm and cold runs of a cached sketch agree bit for
 * bit). A double W (a Q8_0 or other base decoded to doubles) goes through dgemm. */
static void exact_mt(const wsrc *w, const double *X, int ldx, int L, double *Z, int ldz, const double *X2, int ldx2,
                     int L2, double *Z2, int ldz2)
{
    int m = (int)w->rows, n = (int)w->cols;
    if (w->d) {
        if (L > 0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, L, m, 1.0, w->d, n, X, ldx, 0.0, Z, ldz);
        if (L2 > 0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, L2, m, 1.0, w->d, n, X2, ldx2, 0.0, Z2, ldz2);
        return;
    }
    /* row blocks of a few MB: the second product finds the block in cache (whole or in blocks, lsc_wtx64
     * gives the same bits) */
    for (int i0 = 0; i0 < m; i0 += w->blk_rows) {
        int nb = m - i0 < w->blk_rows ? m - i0 : w->blk_rows;
        const float *src = w->blk;
        if (w->rows_fn) /* the same floats as w->f would hold (basefig.h) */
            w->rows_fn(w->rows_ctx, i0, nb, w->blk);
        else
            src = w->f + (size_t)i0 * (size_t)n;
        if (L > 0)
            lsc_wtx64(src, nb, n, X + (size_t)i0 * (size_t)ldx, ldx, L, Z, ldz, i0 > 0);
        if (L2 > 0)
            lsc_wtx64(src, nb, n, X2 + (size_t)i0 * (size_t)ldx2, ldx2, L2, Z2, ldz2, i0 > 0);
    }
}

/* Running scale/sum of squares of ||.||_F (LAPACK's dlassq idea), one row norm at a time. */
static void ssq_add(double v, double *scale, double *ssq)
{
    if (v == 0)
        return;
    if (*scale < v) {
        *ssq = 1 + *ssq * (*scale / v) * (*scale / v);
        *scale = v;
    } else
        *ssq += (v / *scale) * (v / *scale);
}

/* ||W||_F without overflow for any finite W: rows' norms (dnrm2 scales) combined by a running scale. */
static double fro_norm(const double *W, int64_t rows, int64_t cols)
{
    double scale = 0, ssq = 1;
    for (int64_t i = 0; i < rows; i++)
        ssq_add(cblas_dnrm2((int)cols, W + i * cols, 1), &scale, &ssq);
    return scale * sqrt(ssq);
}

/* ||W||_F. Float W: the squares of floats are exact in double and cannot overflow, so a plain float64
 * sum of squares (no scaling, no widening pass) is as accurate as the scaled row norms; it is the
 * accumulator of lsc_basefig_norm, so a caller streaming W gets the same bits. */
static double src_norm(const wsrc *w)
{
    if (w->d)
        return fro_norm(w->d, w->rows, w->cols);
    lsc_basefig_norm a;
    lsc_basefig_norm_init(&a);
    lsc_basefig_norm_add(&a, w->f, (size_t)(w->rows * w->cols));
    return lsc_basefig_norm_finish(&a);
}

/* How many of M's top-k right vectors Vm [cols, ldm] have max_i |<Vm_j, Vw_i>| < eps over i < kref. */
static int count_intruders(const double *Vm, int ldm, int k, const double *Vw, int ldw, int kref, int64_t cols,
                           double eps)
{
    int n = 0;
    double *T = k > 0 && kref > 0 ? malloc(sizeof(double) * (size_t)k * (size_t)kref) : NULL;
    if (T) /* T [k, kref] = Vm^T Vw in one product */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, kref, (int)cols, 1.0, Vm, ldm, Vw, ldw, 0.0, T, kref);
    for (int j = 0; j < k; j++) {
        double best = 0;
        for (int i = 0; i < kref; i++) {
            double d = 0;
            if (T)
                d = T[(size_t)j * (size_t)kref + (size_t)i];
            else
                for (int64_t t = 0; t < cols; t++)
                    d += Vm[t * ldm + j] * Vw[t * ldw + i];
            if (fabs(d) > best)
                best = fabs(d);
        }
        if (best < eps)
            n++;
    }
    free(T);
    return n;
}

/* Orthonormalise the columns of X [m, l] in place (thin QR, Q kept). 0 on success. */
static int orth(double *X, int64_t m, int l, double *tau)
{
    if (l <= 0)
        return 0;
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)m, l, X, l, tau) != 0)
        return -1;
    return LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)m, l, l, X, l, tau) != 0 ? -1 : 0;
}

typedef struct bufs {
    double *sv, *Ud, *Vd, *T, *Z, *X, *ZX, *tau, *tmp, *col, *ssv, *su, *svt;
    double *G, *H, *R, *Y; /* complement(): U_c = U_d G - Q H, its QR's R, the SVD's Y */
    float *xs, *ys;
    float *blk;
} bufs;

static void bufs_free(bufs *b)
{
    free(b->sv), free(b->Ud), free(b->Vd), free(b->T), free(b->Z), free(b->X);
    free(b->ZX), free(b->tau), free(b->tmp), free(b->col), free(b->ssv), free(b->su), free(b->svt);
    free(b->G), free(b->H), free(b->R), free(b->Y);
    free(b->xs), free(b->ys), free(b->blk);
}

#define ALLOC(p, n) ((p) = malloc(sizeof *(p) * (size_t)((n) > 0 ? (n) : 1)))

/* n: dW's rank count; l: the range finder's columns; L = l + n: [Q, U_c] at most. */
static int bufs_alloc(bufs *b, int64_t rows, int64_t cols, int n, int r, int l, int f32, int blk_rows)
{
    int64_t L = l + (int64_t)n, big = rows > cols ? rows : cols, nn = (int64_t)n * n;
    ALLOC(b->sv, n), ALLOC(b->Ud, rows * n), ALLOC(b->Vd, cols * n), ALLOC(b->T, nn);
    ALLOC(b->Z, cols * l), ALLOC(b->X, rows * L), ALLOC(b->ZX, cols * L);
    ALLOC(b->tau, L), ALLOC(b->tmp, (L > r ? L : r) * L), ALLOC(b->col, big * (n > l ? n : l)), ALLOC(b->ssv, L);
    ALLOC(b->su, cols * L), ALLOC(b->svt, L * L);
    ALLOC(b->G, nn), ALLOC(b->H, (int64_t)l * n), ALLOC(b->R, nn), ALLOC(b->Y, rows * n);
    if (f32)
        ALLOC(b->xs, cols * l), ALLOC(b->ys, rows * l);
    if (blk_rows > 0)
        ALLOC(b->blk, blk_rows * cols);
    return b->sv && b->Ud && b->Vd && b->T && b->Z && b->X && b->ZX && b->tau && b->tmp && b->col && b->ssv &&
                   b->su && b->svt && b->G && b->H && b->R && b->Y && (!f32 || (b->xs && b->ys)) &&
                   (blk_rows <= 0 || b->blk)
               ? 0
               : -1;
}

/* Below this, a direction of U_d already lies in span(Q): sin(angle) < COMPLEMENT_TOL (U_d's columns are
 * unit vectors, so the threshold is relative to each of them). Keeping such a direction in U_c costs
 * accuracy, dropping it costs nothing worth having, and sqrt(eps_64) ~ 1.5e-8 balances the two:
 *   kept: W^T U_c is derived as (W^T U_d) G - (W^T Q) H with |G|, |H| ~ 1/s (s: the direction's sine), so
 *         the rounding u |W| of the two products comes back amplified to ~ u |W| / s <= u |W| / tol;
 *   dropped: [Q, U_c] misses at most tol of that unit direction, i.e. |(I - X X^T) dW| <= tol |dW|, beside
 *         the |(I - Q Q^T) W| the range finder leaves of W anyway.
 * At tol = 1e-8 both stay near 1e-8 of |W + dW|: far below the 1e-6 the subspaces are held to and the
 * cosine thresholds of the intruder count. The blind version (keep all n, divide by R) amplifies the
 * rounding of a U_d inside span(Q) by 1/u: garbage columns, hence wrong intruders. */
#define COMPLEMENT_TOL 1e-8

/* The second projection on U = X[:, c1 .. c1+e), keeping U = U_d G - Q H (G [n, e], H [a, e], row-major):
 * T [a, e] = Q^T U, U -= Q T (so H += T), then U = U R^{-1} by a thin QR (so G and H times R^{-1}). R is
 * the identity to ~ u / tol here (the first step left U orthonormal, and orthogonal to Q to that level),
 * so these divisions amplify nothing. 0 on success. */
static int reproject(double *X, int64_t m, int L, int a, int c1, int e, int n, double *G, double *H, bufs *b)
{
    double *T = b->tmp, *col = b->col, *R = b->R;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a, e, (int)m, 1.0, X, L, X + c1, L, 0.0, T, e);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, e, a, -1.0, X, L, T, e, 1.0, X + c1, L);
    for (size_t i = 0; i < (size_t)a * (size_t)e; i++)
        H[i] += T[i];
    for (int64_t i = 0; i < m; i++) /* column-major for LAPACK */
        for (int j = 0; j < e; j++)
            col[(size_t)j * (size_t)m + (size_t)i] = X[i * L + c1 + j];
    if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)m, e, col, (int)m, b->tau) != 0)
        return -1;
    for (int i = 0; i < e; i++)
        for (int j = 0; j < e; j++)
            R[i * e + j] = i <= j ? col[(size_t)j * (size_t)m + (size_t)i] : 0.0;
    if (LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)m, e, e, col, (int)m, b->tau) != 0)
        return -1;
    for (int64_t i = 0; i < m; i++)
        for (int j = 0; j < e; j++)
            X[i * L + c1 + j] = col[(size_t)j * (size_t)m + (size_t)i];
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, n, e, 1.0, R, e, G, e);
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, a, e, 1.0, R, e, H, e);
    return 0;
}

/* U_c: the part of U_d [m, n] orthogonal to Q = X[:, 0 .. a) (orthonormal), as e <= n orthonormal
 * columns in X[:, c1 .. c1+e), with G [n, e] and H [a, e] such that U_c = U_d G - Q H (to rounding), so
 * that W^T U_c = (W^T U_d) G - (W^T Q) H needs no pass over W of its own. First the rank-revealing step:
 * P = U_d - Q (Q^T U_d) = Y S Z^T (thin SVD; S the sines of the principal angles between span(U_d) and
 * span(Q)); the directions with s_j > COMPLEMENT_TOL are kept, Y_e = P Z_e S_e^{-1}, i.e. G = Z_e S_e^{-1}
 * and H = (Q^T U_d) G. Y_e's columns lean into span(Q) by up to ~ u / s_j <= u / tol (the rounding of the
 * projection, divided by s_j); one more projection (reproject) removes that to rounding, twice being
 * enough for a loss below 1 (Kahan, Parlett).
 * Returns e (0: span(U_d) lies inside span(Q) to the threshold, and Q alone captures W + dW), or -1 (an
 * SVD or QR failed: non-finite input). */
static int complement(const double *Ud, int n, double *X, int64_t m, int L, int a, int c1, double *G, double *H,
                      bufs *b)
{
    double *T1 = b->tmp, *col = b->col, *Y = b->Y, *s = b->ssv, *Zt = b->svt;
    for (int64_t i = 0; i < m; i++) /* P = U_d - Q T1, T1 [a, n] = Q^T U_d, in X's complement columns */
        memcpy(X + i * L + c1, Ud + i * n, sizeof(double) * (size_t)n);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a, n, (int)m, 1.0, X, L, Ud, n, 0.0, T1, n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, n, a, -1.0, X, L, T1, n, 1.0, X + c1, L);
    for (int64_t i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            col[(size_t)j * (size_t)m + (size_t)i] = X[i * L + c1 + j];
    if (LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (int)m, n, col, (int)m, s, Y, (int)m, Zt, n) != 0)
        return -1;
    int e = 0;
    while (e < n && s[e] > COMPLEMENT_TOL) /* s descending */
        e++;
    if (e == 0)
        return 0;
    for (int64_t i = 0; i < m; i++)
        for (int j = 0; j < e; j++)
            X[i * L + c1 + j] = Y[(size_t)j * (size_t)m + (size_t)i];
    for (int i = 0; i < n; i++) /* G = Z_e S_e^{-1}; Zt column-major [n, n] holds Z^T */
        for (int j = 0; j < e; j++)
            G[i * e + j] = Zt[(size_t)i * (size_t)n + (size_t)j] / s[j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a, e, n, 1.0, T1, n, G, e, 0.0, H, e);
    return reproject(X, m, L, a, c1, e, n, G, H, b) ? -1 : e;
}

/* The randomized range finder on W alone (HMT 2011, algorithms 4.4): Q [rows, l] = orth(W Omega), then
 * `power` times Q = orth(W orth(W^T Q)); Omega [cols, l] Gaussian from lsc_rng(seed), built in Z. */
static int range_finder(const wsrc *w, int l, int power, uint64_t seed, double *Q, double *Z, double *tau)
{
    lsc_rng g = {seed};
    for (int64_t i = 0; i < w->cols * l; i++)
        Z[i] = lsc_rng_gauss(&g);
    approx_m(w, Z, l, Q);
    if (orth(Q, w->rows, l, tau))
        return -1;
    for (int p = 0; p < power; p++) {
        approx_mt(w, Q, l, Z);
        if (orth(Z, w->cols, l, tau))
            return -1;
        approx_m(w, Z, l, Q);
        if (orth(Q, w->rows, l, tau))
            return -1;
    }
    return 0;
}

/* Right singular vectors of Y [cols, L] (the transpose of a projection P^T M): su [cols, min] (top columns
 * first). Overwrites Y. 0 on success. */
static int right_vectors(double *Y, int64_t cols, int L, double *ssv, double *su, double *svt)
{
    for (size_t i = 0; i < (size_t)(cols * L); i++)
        if (!isfinite(Y[i]))
            return -1;
    int mn = cols < L ? (int)cols : L;
    return LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (int)cols, L, Y, L, ssv, su, mn, svt, L) != 0 ? -1 : 0;
}

typedef struct dims {
    int n, k, kref, kw, l, ext; /* ext: room for U_d's complement beside Q (0: fall back); project keeps
                                 * the directions of it that are not inside span(Q) already */
} dims;

/* W + dW's top-k right vectors by lsc_randsvd, for a layer too small to hold [Q, U_c] (rows < l + n). */
static lsc_status small_layer(const wsrc *w, const lsc_lowrank *lr, const dims *d, double eps, bufs *b,
                              const lsc_basefig_opts *o, const double *Vw, int ldw, lsc_basefig *out, lsc_error *err)
{
    int got = 0;
    double *wide = NULL;
    const double *W = w->d;
    if (!W) { /* widened whole (a tiny layer); from rows_fn through a float copy */
        float *fw = NULL;
        const float *src = w->f;
        if (!(wide = malloc(sizeof(double) * (size_t)(w->rows * w->cols))) ||
            (w->rows_fn && !(src = fw = malloc(sizeof(float) * (size_t)(w->rows * w->cols)))))
            return free(wide), lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        if (w->rows_fn)
            w->rows_fn(w->rows_ctx, 0, (int)w->rows, fw);
        widen(src, (size_t)(w->rows * w->cols), wide);
        free(fw);
        W = wide;
    }
    lsc_status st = lsc_randsvd(W, w->rows, w->cols, lr, d->k, &o->rs, b->ssv, NULL, b->su, &got, err);
    if (!st)
        out->intruders = count_intruders(b->su, d->k, d->k, Vw, ldw, d->kref, w->cols, eps);
    free(wide);
    return st;
}

/* W + dW's top right vectors, with [Q, U_c] in X [rows, L] (lm = l + ext columns) and W^T Q, W^T U_d
 * in hand: Z_M = W^T [Q, U_c] + s A^T (B^T [Q, U_c]) in su, W^T U_c derived as (W^T U_d) G - (W^T Q) H
 * (complement()); its right vectors into ZX; the intruders among them. */
static lsc_status top_of_sum(const wsrc *w, const lsc_lowrank *lr, const dims *d, double eps, bufs *b,
                             const double *WtQ, int L, int ext, const double *Vw, int ldw, lsc_basefig *out,
                             lsc_error *err)
{
    int64_t rows = w->rows, cols = w->cols;
    int l = d->l, n = d->n, lm = l + ext;
    double *Zm = b->su, *BtX = b->tmp;
    for (int64_t i = 0; i < cols; i++)
        memcpy(Zm + i * lm, WtQ + i * l, sizeof(double) * (size_t)l);
    if (ext > 0) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cols, ext, n, 1.0, b->ZX, n, b->G, ext, 0.0, Zm + l,
                    lm);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cols, ext, l, -1.0, WtQ, l, b->H, ext, 1.0, Zm + l,
                    lm);
    }
    if (n > 0 && lr->r > 0) {
        int r = lr->r;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, lm, (int)rows, 1.0, lr->B, r, b->X, L, 0.0, BtX, lm);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)cols, lm, r, lr->scale, lr->A, (int)cols, BtX, lm, 1.0,
                    Zm, lm);
    }
    double *Vm = b->ZX; /* W^T U_d is used up: [cols, min(cols, lm)] */
    if (right_vectors(Zm, cols, lm, b->ssv, Vm, b->svt))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: non-finite weights or SVD failure");
    out->intruders = count_intruders(Vm, cols < lm ? (int)cols : lm, d->k, Vw, ldw, d->kref, cols, eps);
    return LSC_OK;
}

/* Everything after the range finder. The one float64 pass over W computes W^T U_d (n columns; and W^T Q
 * with it when the sketch is fresh): W^T Q gives W's top right vectors, W^T U_d gives U_d^T W V_d, and
 * W + dW's top right vectors come from [Q, U_c] (U_c: U_d's part outside span(Q)), since range(W + dW)
 * lies in range(W) + range(U_d): [Q, U_c] captures W + dW as well as Q captures W. W^T U_c is not a
 * product over W but derived from the other two (complement()). */
static lsc_status project(const wsrc *w, const lsc_lowrank *lr, const dims *d, double eps, bufs *b,
                          const lsc_basefig_opts *o, lsc_basefig_sketch *sk, int fresh, lsc_basefig *out,
                          lsc_error *err)
{
    int64_t rows = w->rows, cols = w->cols;
    int l = d->l, n = d->n, L = l + n, ext = 0;
    for (int64_t i = 0; i < rows; i++) /* X = [Q | U_c] */
        memcpy(b->X + i * L, sk->Q + i * l, sizeof(double) * (size_t)l);
    if (d->ext && n > 0 && (ext = complement(b->Ud, n, b->X, rows, L, l, l, b->G, b->H, b)) < 0)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: QR failed (non-finite weights?)");
    /* W^T Q (the sketch's, computed with it when fresh) and W^T U_d, the adapter's part, into ZX [cols, n] */
    exact_mt(w, sk->Q, l, fresh ? l : 0, sk->WtQ, l, b->Ud, n, n, b->ZX, n);
    if (n > 0) { /* T [n, n] = (W^T U_d)^T V_d */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, (int)cols, 1.0, b->ZX, n, b->Vd, n, 0.0, b->T, n);
        double pn = fro_norm(b->T, n, n);
        out->amplification = pn > 0 ? out->delta_norm / pn : INFINITY;
    }
    /* W's top right vectors: W^T Q, into Z [cols, l] */
    memcpy(b->Z, sk->WtQ, sizeof(double) * (size_t)(cols * l));
    if (right_vectors(b->Z, cols, l, b->ssv, b->col, b->svt))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: non-finite weights or SVD failure");
    const double *Vw = b->col; /* [cols, min(cols, l)] */
    int ldw = cols < l ? (int)cols : l;
    if (n > 0) {
        out->subspace_sim_r = lsc_basefig_subspace_sim(b->Vd, n, n, Vw, ldw, n, cols);
        out->subspace_sim_k = lsc_basefig_subspace_sim(b->Vd, n, n, Vw, ldw, d->k, cols);
    }
    if (!d->ext && n > 0) /* no room beside Q (a tiny layer): W + dW on its own (randsvd.h) */
        return small_layer(w, lr, d, eps, b, o, Vw, ldw, out, err);
    return top_of_sum(w, lr, d, eps, b, sk->WtQ, L, ext, Vw, ldw, out, err);
}

/* The counts compute uses for lr and o (clamped to the layer), and the range finder's settings. */
static void dims_of(const lsc_lowrank *lr, const lsc_basefig_opts *o, dims *d, int *power)
{
    int64_t rows = lr->rows, cols = lr->cols, mn = rows < cols ? rows : cols;
    memset(d, 0, sizeof *d);
    d->n = lsc_spectrum_count(lr);
    d->k = o->k > 0 ? o->k : LSC_BASEFIG_K;
    if (d->k > mn)
        d->k = (int)mn;
    d->kref = o->k_ref > 0 ? o->k_ref : (2 * d->k > d->n ? 2 * d->k : d->n);
    if (d->kref > mn)
        d->kref = (int)mn;
    d->kw = d->kref > d->k ? d->kref : d->k;
    if (d->n > d->kw)
        d->kw = d->n;
    int over = o->rs.oversample >= 0 ? o->rs.oversample : LSC_RANDSVD_OVERSAMPLE;
    *power = o->rs.power_iters >= 0 ? o->rs.power_iters : LSC_RANDSVD_POWER;
    d->l = (int)((int64_t)d->kw + over > mn ? mn : (int64_t)d->kw + over);
    d->ext = rows - d->l >= d->n ? d->n : 0;
}

void lsc_basefig_sketch_release(lsc_basefig_sketch *sk)
{
    if (!sk)
        return;
    free(sk->Q);
    free(sk->WtQ);
    memset(sk, 0, sizeof *sk);
}

void lsc_basefig_sketch_params(const lsc_lowrank *lr, const lsc_basefig_opts *opts, int *l, int *power,
                               uint64_t *seed)
{
    lsc_basefig_opts dflt;
    lsc_basefig_opts_default(&dflt);
    const lsc_basefig_opts *o = opts ? opts : &dflt;
    dims d;
    dims_of(lr, o, &d, power);
    *l = d.l;
    *seed = o->rs.seed;
}

static int sketch_fits(const lsc_basefig_sketch *sk, const wsrc *w, int l, int power, uint64_t seed)
{
    return sk->Q && sk->WtQ && sk->rows == w->rows && sk->cols == w->cols && sk->l == l && sk->power == power &&
           sk->seed == seed && isfinite(sk->base_norm);
}

/* A fresh sketch of W in sk: ||W||_F, then the range finder's Q and (in project) W^T Q. b->Z and b->tau
 * are scratch. Returns LSC_OK or an error (sk released). */
static lsc_status sketch_new(const wsrc *w, const dims *d, int power, uint64_t seed, bufs *b, lsc_basefig_sketch *sk,
                             lsc_error *err)
{
    lsc_basefig_sketch_release(sk);
    sk->rows = w->rows, sk->cols = w->cols, sk->l = d->l, sk->power = power, sk->seed = seed;
    sk->base_norm = src_norm(w);
    if (!isfinite(sk->base_norm))
        return lsc_basefig_sketch_release(sk), lsc_error_set(err, LSC_ERR_NUMERIC, "base weight has non-finite entries");
    if (!ALLOC(sk->Q, w->rows * d->l) || !ALLOC(sk->WtQ, w->cols * d->l))
        return lsc_basefig_sketch_release(sk), lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (base sketch)");
    if (range_finder(w, d->l, power, seed, sk->Q, b->Z, b->tau))
        return lsc_basefig_sketch_release(sk),
               lsc_error_set(err, LSC_ERR_NUMERIC, "randomized svd: QR failed (non-finite weights?)");
    return LSC_OK;
}

/* sk: the caller's sketch (used when it fits, else replaced by a fresh one, *fresh = 1), or NULL (a
 * local sketch, freed here). */
static lsc_status compute(wsrc *w, const lsc_lowrank *lr, const lsc_basefig_opts *opts, lsc_workspace *ws,
                          lsc_basefig_sketch *sk, int *fresh, lsc_basefig *out, lsc_error *err)
{
    lsc_basefig_opts dflt;
    lsc_basefig_opts_default(&dflt);
    const lsc_basefig_opts *o = opts ? opts : &dflt;
    if (fresh)
        *fresh = 0;
    if (!lr || !out || !ws || lr->rows <= 0 || lr->cols <= 0 || lr->rows > INT32_MAX || lr->cols > INT32_MAX)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    int64_t rows = lr->rows, cols = lr->cols;
    memset(out, 0, sizeof *out);
    dims d;
    int power;
    dims_of(lr, o, &d, &power);
    double eps = o->eps > 0 ? o->eps : LSC_BASEFIG_EPS;
    bufs b = {0};
    lsc_basefig_sketch local = {0};
    lsc_status st = LSC_OK;
    w->blk_rows = rows_block(rows, cols);
    if (bufs_alloc(&b, rows, cols, d.n, lr->r, d.l, w->f != NULL || w->rows_fn != NULL, w->rows_fn ? w->blk_rows : 0)) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (base figures of a %lldx%lld layer)", (long long)rows,
                           (long long)cols);
        goto done;
    }
    w->xs = b.xs, w->ys = b.ys, w->blk = b.blk;
    if (d.n > 0 && (st = lsc_spectrum(lr, ws, b.sv, b.Ud, b.Vd, err)))
        goto done;
    out->r = d.n, out->k = d.k, out->k_ref = d.kref;
    out->delta_norm = d.n > 0 ? fro_norm(b.sv, 1, d.n) : 0.0;
    if (o->norms_only && w->rows_fn) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "base figures: row blocks for the norms alone");
        goto done;
    }
    if (o->norms_only) { /* the norm alone; a sketch is neither needed nor made */
        out->base_norm = src_norm(w);
        if (!isfinite(out->base_norm))
            st = lsc_error_set(err, LSC_ERR_NUMERIC, "base weight has non-finite entries");
        out->rel_norm = out->base_norm > 0 ? out->delta_norm / out->base_norm : INFINITY;
        goto done;
    }
    if (!sk)
        sk = &local;
    int made = !sketch_fits(sk, w, d.l, power, o->rs.seed);
    if (made && w->rows_fn) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "base figures: row blocks without a fitting sketch");
        goto done;
    }
    if (made && (st = sketch_new(w, &d, power, o->rs.seed, &b, sk, err)))
        goto done;
    if (fresh)
        *fresh = made;
    out->base_norm = sk->base_norm;
    out->rel_norm = out->base_norm > 0 ? out->delta_norm / out->base_norm : INFINITY;
    st = project(w, lr, &d, eps, &b, o, sk, made, out, err);
done:
    lsc_basefig_sketch_release(&local);
    bufs_free(&b);
    return st;
}

lsc_status lsc_basefig_compute(const double *W, const lsc_lowrank *lr, const lsc_basefig_opts *opts,
                               lsc_workspace *ws, lsc_basefig *out, lsc_error *err)
{
    if (!W || !lr)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    wsrc w = {.d = W, .rows = lr->rows, .cols = lr->cols};
    return compute(&w, lr, opts, ws, NULL, NULL, out, err);
}

lsc_status lsc_basefig_compute_f32(const float *W, const lsc_lowrank *lr, const lsc_basefig_opts *opts,
                                   lsc_workspace *ws, lsc_basefig *out, lsc_error *err)
{
    if (!W || !lr)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    wsrc w = {.f = W, .rows = lr->rows, .cols = lr->cols};
    return compute(&w, lr, opts, ws, NULL, NULL, out, err);
}

lsc_status lsc_basefig_compute_sketched(const double *Wd, const float *Wf, const lsc_lowrank *lr,
                                        const lsc_basefig_opts *opts, lsc_workspace *ws, lsc_basefig_sketch *sk,
                                        int *fresh, lsc_basefig *out, lsc_error *err)
{
    if (!lr || !sk || (!Wd) == (!Wf))
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    wsrc w = {.d = Wd, .f = Wf, .rows = lr->rows, .cols = lr->cols};
    return compute(&w, lr, opts, ws, sk, fresh, out, err);
}

lsc_status lsc_basefig_compute_rows(lsc_basefig_rows_fn rows_fn, void *ctx, const lsc_lowrank *lr,
                                    const lsc_basefig_opts *opts, lsc_workspace *ws, lsc_basefig_sketch *sk,
                                    lsc_basefig *out, lsc_error *err)
{
    if (!rows_fn || !lr || !sk)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    wsrc w = {.rows_fn = rows_fn, .rows_ctx = ctx, .rows = lr->rows, .cols = lr->cols};
    return compute(&w, lr, opts, ws, sk, NULL, out, err);
}

/* ---- ||W||_F streamed (lsc_basefig_norm) ------------------------------------------------------------ */

void lsc_basefig_norm_init(lsc_basefig_norm *a)
{
    memset(a, 0, sizeof *a);
}

/* Whole groups of 4: lane j += x[4g + j]^2 in order, the four lanes in one vector of doubles (one
 * register with AVX2, two with SSE2). The same sums in the same order as four scalars, whatever the
 * registers; the products are exact (a float's square fits a double), so contracting them into FMAs
 * could not change a bit either. F32 reads the floats; BF16 widens each entry's bits to a float's (bits
 * << 16: what lsc_dtype_to_float gives) in the loop, with no float buffer. Bytes in, loads by memcpy:
 * any alignment. */
typedef float v4f_bn __attribute__((vector_size(16)));
typedef double v4d_bn __attribute__((vector_size(32)));
typedef uint16_t v4h_bn __attribute__((vector_size(8)));
typedef uint32_t v4u_bn __attribute__((vector_size(16)));

LSC_AVX2_CLONES
static void norm_groups_f32(double lane[4], const unsigned char *p, size_t groups)
{
    v4d_bn acc;
    memcpy(&acc, lane, sizeof acc);
    for (size_t g = 0; g < groups; g++) {
        v4f_bn v;
        memcpy(&v, p + 16 * g, sizeof v);
        const v4d_bn d = __builtin_convertvector(v, v4d_bn);
        acc += d * d;
    }
    memcpy(lane, &acc, sizeof acc);
}

LSC_AVX2_CLONES
static void norm_groups_bf16(double lane[4], const unsigned char *p, size_t groups)
{
    v4d_bn acc;
    memcpy(&acc, lane, sizeof acc);
    for (size_t g = 0; g < groups; g++) {
        v4h_bn h;
        memcpy(&h, p + 8 * g, sizeof h);
        const v4u_bn u = __builtin_convertvector(h, v4u_bn) << 16;
        v4f_bn v;
        memcpy(&v, &u, sizeof v);
        const v4d_bn d = __builtin_convertvector(v, v4d_bn);
        acc += d * d;
    }
    memcpy(lane, &acc, sizeof acc);
}

/* Entry i of n entries of dt (F32 or BF16) at p as a float. */
static float entry(lsc_dtype dt, const unsigned char *p, size_t i)
{
    if (dt == LSC_DT_BF16) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        return lsc_bf16_to_f32(h);
    }
    float f;
    memcpy(&f, p + 4 * i, sizeof f);
    return f;
}

/* n entries of dt (F32 or BF16) at p: complete the pending group first (its entries keep their places in
 * the order), then whole groups, then keep the rest pending. */
static void norm_add_bytes(lsc_basefig_norm *a, lsc_dtype dt, const unsigned char *p, size_t n)
{
    size_t i = 0;
    if (a->npend) {
        float g[4];
        int k = a->npend;
        memcpy(g, a->pend, sizeof(float) * (size_t)k);
        while (k < 4 && i < n)
            g[k++] = entry(dt, p, i++);
        a->npend = 0;
        if (k < 4) {
            memcpy(a->pend, g, sizeof(float) * (size_t)k);
            a->npend = k;
            return;
        }
        norm_groups_f32(a->lane, (const unsigned char *)g, 1);
    }
    size_t groups = (n - i) / 4;
    if (dt == LSC_DT_BF16)
        norm_groups_bf16(a->lane, p + 2 * i, groups);
    else
        norm_groups_f32(a->lane, p + 4 * i, groups);
    for (i += 4 * groups; i < n; i++)
        a->pend[a->npend++] = entry(dt, p, i);
}

void lsc_basefig_norm_add(lsc_basefig_norm *a, const float *x, size_t n)
{
    norm_add_bytes(a, LSC_DT_F32, (const unsigned char *)x, n);
}

lsc_status lsc_basefig_norm_add_raw(lsc_basefig_norm *a, lsc_dtype dt, const void *raw, size_t n)
{
    enum { NCH = 2048 }; /* F16: 8 KB of floats at a time, in L1 beside the bytes they come from */
    if (dt == LSC_DT_F32 || dt == LSC_DT_BF16) {
        norm_add_bytes(a, dt, raw, n);
        return LSC_OK;
    }
    if (dt != LSC_DT_F16)
        return LSC_ERR_UNSUPPORTED;
    const unsigned char *p = raw;
    float f[NCH];
    for (size_t i = 0; i < n; i += NCH) {
        size_t m = n - i < NCH ? n - i : NCH;
        lsc_dtype_to_float(dt, p + 2 * i, m, f);
        norm_add_bytes(a, LSC_DT_F32, (const unsigned char *)f, m);
    }
    return LSC_OK;
}

double lsc_basefig_norm_finish(const lsc_basefig_norm *a)
{
    double s0 = a->lane[0];
    for (int i = 0; i < a->npend; i++) /* the last numel % 4 entries, after every group */
        s0 += (double)a->pend[i] * a->pend[i];
    return sqrt((s0 + a->lane[1]) + (a->lane[2] + a->lane[3]));
}

lsc_status lsc_basefig_compute_norms(double base_norm, const lsc_lowrank *lr, const lsc_basefig_opts *opts,
                                     lsc_workspace *ws, lsc_basefig *out, lsc_error *err)
{
    lsc_basefig_opts dflt;
    lsc_basefig_opts_default(&dflt);
    const lsc_basefig_opts *o = opts ? opts : &dflt;
    if (!lr || !out || !ws || lr->rows <= 0 || lr->cols <= 0 || lr->rows > INT32_MAX || lr->cols > INT32_MAX)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    memset(out, 0, sizeof *out);
    dims d;
    int power;
    dims_of(lr, o, &d, &power);
    /* dW's values as compute() gets them: with the vectors (the values-only path may differ in the last bit) */
    double *sv, *Ud, *Vd;
    lsc_status st = LSC_OK;
    ALLOC(sv, d.n), ALLOC(Ud, lr->rows * d.n), ALLOC(Vd, lr->cols * d.n);
    if (!sv || !Ud || !Vd)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (base figures of a %lldx%lld layer)",
                           (long long)lr->rows, (long long)lr->cols);
    else if (d.n > 0)
        st = lsc_spectrum(lr, ws, sv, Ud, Vd, err);
    if (!st) {
        out->r = d.n, out->k = d.k, out->k_ref = d.kref;
        out->delta_norm = d.n > 0 ? fro_norm(sv, 1, d.n) : 0.0;
        out->base_norm = base_norm;
        if (!isfinite(base_norm))
            st = lsc_error_set(err, LSC_ERR_NUMERIC, "base weight has non-finite entries");
        out->rel_norm = base_norm > 0 ? out->delta_norm / base_norm : INFINITY;
    }
    free(sv), free(Ud), free(Vd);
    return st;
}
