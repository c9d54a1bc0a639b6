/* basefig.c: figures of a LoRA layer against its base weight (see basefig.h). dW's own singular vectors
 * are exact (lsc_spectrum, from the factors); W's and W + dW's come from lsc_randsvd. The dense products
 * are W * V_d (rows x cols x r) and the randomized SVDs' block products; nothing of size rows x cols is
 * allocated here. Pure compute; never prints. */
#include "basefig.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spectrum.h"

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
    double s = 0;
    for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++) {
            double d = 0;
            for (int64_t t = 0; t < n; t++)
                d += X[t * ldx + i] * Y[t * ldy + j];
            s += d * d;
        }
    return s / (a < b ? a : b);
}

/* ||W||_F without overflow for any finite W: rows' norms (dnrm2 scales) combined by a running scale. */
static double fro_norm(const double *W, int64_t rows, int64_t cols)
{
    double scale = 0, ssq = 1;
    for (int64_t i = 0; i < rows; i++) {
        double v = cblas_dnrm2((int)cols, W + i * cols, 1);
        if (v == 0)
            continue;
        if (scale < v) {
            ssq = 1 + ssq * (scale / v) * (scale / v);
            scale = v;
        } else
            ssq += (v / scale) * (v / scale);
    }
    return scale * sqrt(ssq);
}

/* ||U_d^T W V_d||_F with U_d [rows, n], V_d [cols, n]; WV scratch [rows, n], T [n, n]. */
static double projected_norm(const double *W, int64_t rows, int64_t cols, const double *Ud, const double *Vd, int n,
                             double *WV, double *T)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, n, (int)cols, 1.0, W, (int)cols, Vd, n, 0.0, WV, n);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, (int)rows, 1.0, Ud, n, WV, n, 0.0, T, n);
    return fro_norm(T, n, n);
}

/* How many of M's top-k right vectors Vm [cols, k] have max_i |<Vm_j, Vw_i>| < eps over i < kref. */
static int count_intruders(const double *Vm, int k, const double *Vw, int ldw, int kref, int64_t cols, double eps)
{
    int n = 0;
    for (int j = 0; j < k; j++) {
        double best = 0;
        for (int i = 0; i < kref; i++) {
            double d = 0;
            for (int64_t t = 0; t < cols; t++)
                d += Vm[t * k + j] * Vw[t * ldw + i];
            if (fabs(d) > best)
                best = fabs(d);
        }
        if (best < eps)
            n++;
    }
    return n;
}

typedef struct bufs {
    double *sv, *Ud, *Vd, *WV, *T, *Sw, *Vw, *Sm, *Vm;
} bufs;

static void bufs_free(bufs *b)
{
    free(b->sv), free(b->Ud), free(b->Vd), free(b->WV), free(b->T);
    free(b->Sw), free(b->Vw), free(b->Sm), free(b->Vm);
}

static int bufs_alloc(bufs *b, int64_t rows, int64_t cols, int n, int kw, int k)
{
    size_t n1 = n > 0 ? (size_t)n : 1;
    b->sv = malloc(sizeof(double) * n1);
    b->Ud = malloc(sizeof(double) * (size_t)rows * n1);
    b->Vd = malloc(sizeof(double) * (size_t)cols * n1);
    b->WV = malloc(sizeof(double) * (size_t)rows * n1);
    b->T = malloc(sizeof(double) * n1 * n1);
    b->Sw = malloc(sizeof(double) * (size_t)kw);
    b->Vw = malloc(sizeof(double) * (size_t)cols * (size_t)kw);
    b->Sm = malloc(sizeof(double) * (size_t)k);
    b->Vm = malloc(sizeof(double) * (size_t)cols * (size_t)k);
    return b->sv && b->Ud && b->Vd && b->WV && b->T && b->Sw && b->Vw && b->Sm && b->Vm ? 0 : -1;
}

lsc_status lsc_basefig_compute(const double *W, const lsc_lowrank *lr, const lsc_basefig_opts *opts,
                               lsc_workspace *ws, lsc_basefig *out, lsc_error *err)
{
    lsc_basefig_opts dflt;
    lsc_basefig_opts_default(&dflt);
    const lsc_basefig_opts *o = opts ? opts : &dflt;
    if (!W || !lr || !out || !ws || lr->rows <= 0 || lr->cols <= 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "base figures: bad arguments");
    int64_t rows = lr->rows, cols = lr->cols, mn = rows < cols ? rows : cols;
    memset(out, 0, sizeof *out);
    int n = lsc_spectrum_count(lr);
    int k = o->k > 0 ? o->k : LSC_BASEFIG_K;
    if (k > mn)
        k = (int)mn;
    int kref = o->k_ref > 0 ? o->k_ref : (2 * k > n ? 2 * k : n);
    if (kref > mn)
        kref = (int)mn;
    int kw = kref > k ? kref : k;
    if (n > kw)
        kw = n;
    double eps = o->eps > 0 ? o->eps : LSC_BASEFIG_EPS;
    bufs b = {0};
    lsc_status st = LSC_OK;
    if (bufs_alloc(&b, rows, cols, n, kw, k)) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (base figures of a %lldx%lld layer)", (long long)rows,
                           (long long)cols);
        goto done;
    }
    if (n > 0 && (st = lsc_spectrum(lr, ws, b.sv, b.Ud, b.Vd, err)))
        goto done;
    out->r = n, out->k = k, out->k_ref = kref;
    out->base_norm = fro_norm(W, rows, cols);
    if (!isfinite(out->base_norm)) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "base weight has non-finite entries");
        goto done;
    }
    out->delta_norm = n > 0 ? fro_norm(b.sv, 1, n) : 0.0;
    out->rel_norm = out->base_norm > 0 ? out->delta_norm / out->base_norm : INFINITY;
    if (o->norms_only)
        goto done;
    if (n > 0) {
        double pn = projected_norm(W, rows, cols, b.Ud, b.Vd, n, b.WV, b.T);
        out->amplification = pn > 0 ? out->delta_norm / pn : INFINITY;
    }
    int got = 0;
    if ((st = lsc_randsvd(W, rows, cols, NULL, kw, &o->rs, b.Sw, NULL, b.Vw, &got, err)))
        goto done;
    if (n > 0) {
        out->subspace_sim_r = lsc_basefig_subspace_sim(b.Vd, n, n, b.Vw, kw, n, cols);
        out->subspace_sim_k = lsc_basefig_subspace_sim(b.Vd, n, n, b.Vw, kw, k, cols);
    }
    if ((st = lsc_randsvd(W, rows, cols, n > 0 ? lr : NULL, k, &o->rs, b.Sm, NULL, b.Vm, &got, err)))
        goto done;
    out->intruders = count_intruders(b.Vm, k, b.Vw, kw, kref, cols, eps);
done:
    bufs_free(&b);
    return st;
}
