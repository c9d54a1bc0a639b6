/* check-lycoris.c: LoHa, LoKr, Tucker LoCon and DoRA (engine/lycoris.c) against dense references.
 *
 * Every reference is built here from the definitions with plain loops in the layouts LyCORIS uses:
 * the Hadamard product of the two products (hada_t* contracted as HadaWeightTucker does), torch.kron
 * over 4-d tensors [a, b, 1, 1] (x) [c, d, kh, kw] then flattened, the LoCon Tucker contraction
 * up[o, m] mid[m, n, y, x] down[n, c]. Converted low-rank forms must match to 1e-12 relative, spectra
 * the dense dgesdd values to 1e-9 of the largest. Fixed seeds (tests/test_rng.h).
 */
#include <check.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lycoris.h"
#include "spectrum.h"
#include "test_rng.h"

/* ---- helpers ------------------------------------------------------------------------------------ */

static int rand_int(int lo, int hi) /* inclusive */
{
    return lo + (int)(splitmix64() % (uint64_t)(hi - lo + 1));
}

static double *zeros(size_t n)
{
    double *x = calloc(n ? n : 1, sizeof(double));
    ck_assert_ptr_nonnull(x);
    return x;
}

/* s*B*A of a lowrank, [rows, cols] */
static double *dense_of(const lsc_lowrank *lr)
{
    double *d = zeros((size_t)(lr->rows * lr->cols));
    for (int64_t i = 0; i < lr->rows; i++)
        for (int64_t j = 0; j < lr->cols; j++) {
            double acc = 0.0;
            for (int k = 0; k < lr->r; k++)
                acc += lr->B[i * lr->r + k] * lr->A[(int64_t)k * lr->cols + j];
            d[i * lr->cols + j] = lr->scale * acc;
        }
    return d;
}

static double fro(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

static double dotv(const double *x, const double *y, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * y[i];
    return s;
}

/* ||x - ref|| <= tol * ||ref|| (or both zero) */
static void assert_close(const double *x, const double *ref, size_t n, double tol)
{
    double d = 0.0;
    for (size_t i = 0; i < n; i++)
        d += (x[i] - ref[i]) * (x[i] - ref[i]);
    d = sqrt(d);
    const double r = fro(ref, n);
    ck_assert_msg(d <= tol * r || (r == 0.0 && d == 0.0), "difference %.3g vs norm %.3g", d, r);
}

/* singular values of a dense [rows, cols], min(rows, cols) of them, descending */
static double *dense_sv(const double *D, int64_t rows, int64_t cols)
{
    const int64_t n = rows < cols ? rows : cols;
    double *copy = zeros((size_t)(rows * cols)), *s = zeros((size_t)n);
    memcpy(copy, D, sizeof(double) * (size_t)(rows * cols));
    if (n > 0) {
        lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)cols, (lapack_int)rows, copy,
                                         (lapack_int)cols, s, NULL, 1, NULL, 1);
        ck_assert_int_eq(info, 0);
    }
    free(copy);
    return s;
}

/* factored values fs [nf] against dense ds [nd]; missing entries are zeros on either side */
static void assert_sv(const double *fs, int64_t nf, const double *ds, int64_t nd)
{
    const int64_t n = nf > nd ? nf : nd;
    const double top = nd > 0 ? ds[0] : 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double a = i < nf ? fs[i] : 0.0, b = i < nd ? ds[i] : 0.0;
        ck_assert_msg(fabs(a - b) <= 1e-9 * top + 1e-300, "sv %lld: factored %.17g dense %.17g (top %.3g)",
                      (long long)i, a, b, top);
        if (i > 0 && i < nf)
            ck_assert(fs[i] <= fs[i - 1]);
    }
}

/* the Tucker-cored factor wa [r, out], t [r, r, K], wb [r, in] as a dense [out, in*K]:
 * F[o, c, kk] = sum_{i,j} wa[i, o] t[i, j, kk] wb[j, c] (LyCORIS's einsum "i j ..., j r, i p -> p r ...") */
static double *dense_tucker(const double *wa, const double *t, const double *wb, int r, int64_t out, int64_t in,
                            int64_t K)
{
    double *F = zeros((size_t)(out * in * K));
    for (int64_t o = 0; o < out; o++)
        for (int64_t c = 0; c < in; c++)
            for (int64_t kk = 0; kk < K; kk++) {
                double acc = 0.0;
                for (int i = 0; i < r; i++)
                    for (int j = 0; j < r; j++)
                        acc += wa[i * out + o] * t[((int64_t)i * r + j) * K + kk] * wb[j * in + c];
                F[(o * in + c) * K + kk] = acc;
            }
    return F;
}

/* plain product wa [m, r] wb [r, n] */
static double *dense_prod(const double *wa, const double *wb, int64_t m, int r, int64_t n)
{
    double *F = zeros((size_t)(m * n));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            for (int k = 0; k < r; k++)
                F[i * n + j] += wa[i * r + k] * wb[k * n + j];
    return F;
}

/* ---- LoHa ---------------------------------------------------------------------------------------- */

typedef struct {
    lsc_loha h;
    double *mem[6];
} loha_case;

static loha_case make_loha(int64_t rows, int64_t in, int64_t K, int r1, int r2, int tucker)
{
    loha_case c = {0};
    const int64_t cols = in * K;
    c.h = (lsc_loha){.rows = rows, .cols = cols, .r1 = r1, .r2 = r2, .K = K, .scale = 0.25 + uniform01()};
    if (tucker) {
        c.mem[0] = gauss_matrix((size_t)(r1 * rows));
        c.mem[1] = gauss_matrix((size_t)(r1 * in));
        c.mem[2] = gauss_matrix((size_t)(r2 * rows));
        c.mem[3] = gauss_matrix((size_t)(r2 * in));
        c.mem[4] = gauss_matrix((size_t)(r1 * r1 * K));
        c.mem[5] = gauss_matrix((size_t)(r2 * r2 * K));
        c.h.t1 = c.mem[4];
        c.h.t2 = c.mem[5];
    } else {
        c.mem[0] = gauss_matrix((size_t)(rows * r1));
        c.mem[1] = gauss_matrix((size_t)(r1 * cols));
        c.mem[2] = gauss_matrix((size_t)(rows * r2));
        c.mem[3] = gauss_matrix((size_t)(r2 * cols));
    }
    c.h.w1a = c.mem[0];
    c.h.w1b = c.mem[1];
    c.h.w2a = c.mem[2];
    c.h.w2b = c.mem[3];
    return c;
}

static void free_loha(loha_case *c)
{
    for (int i = 0; i < 6; i++)
        free(c->mem[i]);
}

/* dW = s (W1 o W2) from the definition */
static double *dense_loha(const lsc_loha *h)
{
    double *f1, *f2;
    if (h->t1) {
        f1 = dense_tucker(h->w1a, h->t1, h->w1b, h->r1, h->rows, h->cols / h->K, h->K);
        f2 = dense_tucker(h->w2a, h->t2, h->w2b, h->r2, h->rows, h->cols / h->K, h->K);
    } else {
        f1 = dense_prod(h->w1a, h->w1b, h->rows, h->r1, h->cols);
        f2 = dense_prod(h->w2a, h->w2b, h->rows, h->r2, h->cols);
    }
    for (int64_t i = 0; i < h->rows * h->cols; i++)
        f1[i] = h->scale * f1[i] * f2[i];
    free(f2);
    return f1;
}

/* conversion, spectrum and norm of one LoHa layer against the dense definition */
static void check_loha(const lsc_loha *h, lsc_workspace *ws)
{
    lsc_error err = {0};
    double *D = dense_loha(h);
    const size_t n = (size_t)(h->rows * h->cols);

    lsc_lycoris_owned o;
    ck_assert_int_eq(lsc_lycoris_loha_lowrank(h, 0, &o, &err), LSC_OK);
    ck_assert_int_eq(o.lr.r, h->r1 * h->r2);
    double *C = dense_of(&o.lr);
    assert_close(C, D, n, 1e-12);
    free(C);
    lsc_lycoris_owned_release(&o);

    const int nf = lsc_lycoris_loha_count(h);
    double *sv = zeros((size_t)nf);
    ck_assert_int_eq(lsc_lycoris_loha_spectrum(h, ws, sv, &err), LSC_OK);
    double *ds = dense_sv(D, h->rows, h->cols);
    assert_sv(sv, nf, ds, h->rows < h->cols ? h->rows : h->cols);

    double norm = -1.0;
    ck_assert_int_eq(lsc_lycoris_loha_norm(h, &norm, &err), LSC_OK);
    ck_assert_double_eq_tol(norm, fro(D, n), 1e-12 * fro(D, n) + 1e-300);
    free(sv);
    free(ds);
    free(D);
}

START_TEST(test_scale_rules)
{
    /* LoHa: alpha / r1 */
    ck_assert_double_eq(lsc_lycoris_scale(4.0, 8, 8), 0.5);
    ck_assert_double_eq(lsc_lycoris_scale(16.0, 8, 4), 2.0);
    /* LoKr w1 full, w2 low rank: alpha / rank of w2 */
    ck_assert_double_eq(lsc_lycoris_scale(4.0, 0, 8), 0.5);
    /* LoKr w1 decomposed (decompose_both): its rank comes first */
    ck_assert_double_eq(lsc_lycoris_scale(6.0, 3, 8), 2.0);
    ck_assert_double_eq(lsc_lycoris_scale(6.0, 3, 0), 2.0);
    /* both full: 1, whatever alpha says */
    ck_assert_double_eq(lsc_lycoris_scale(4.0, 0, 0), 1.0);
    ck_assert_double_eq(lsc_lycoris_scale(1e9, 0, 0), 1.0);
    /* no alpha, or alpha 0: alpha = lora_dim */
    ck_assert_double_eq(lsc_lycoris_scale(NAN, 8, 8), 1.0);
    ck_assert_double_eq(lsc_lycoris_scale(0.0, 0, 16), 1.0);
}
END_TEST

START_TEST(test_loha_random)
{
    rng_state = 0x10A0001;
    lsc_workspace *ws = lsc_workspace_new();
    for (int t = 0; t < 40; t++) {
        loha_case c = make_loha(rand_int(1, 14), rand_int(1, 14), 1, rand_int(1, 4), rand_int(1, 4), 0);
        check_loha(&c.h, ws);
        free_loha(&c);
    }
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(test_loha_tucker)
{
    rng_state = 0x10A0002;
    lsc_workspace *ws = lsc_workspace_new();
    static const int64_t kernels[] = {1, 3, 4, 9};
    for (int t = 0; t < 24; t++) {
        loha_case c = make_loha(rand_int(1, 9), rand_int(1, 5), kernels[t % 4], rand_int(1, 3), rand_int(1, 3), 1);
        check_loha(&c.h, ws);
        free_loha(&c);
    }
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(test_loha_degenerate)
{
    rng_state = 0x10A0003;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    /* 1 x 1 layer, r = 1: a single product of four numbers */
    double w1a = 2.0, w1b = -3.0, w2a = 0.5, w2b = 4.0, sv = 0.0;
    lsc_loha one = {.rows = 1, .cols = 1, .r1 = 1, .r2 = 1, .w1a = &w1a, .w1b = &w1b, .w2a = &w2a, .w2b = &w2b,
                    .scale = 0.5};
    ck_assert_int_eq(lsc_lycoris_loha_spectrum(&one, ws, &sv, &err), LSC_OK);
    ck_assert_double_eq_tol(sv, 6.0, 1e-15); /* |0.5 * (2 * -3) * (0.5 * 4)| */
    check_loha(&one, ws);

    /* r1 = 1 against r2 = 3, and a zero second term */
    loha_case c = make_loha(6, 7, 1, 1, 3, 0);
    check_loha(&c.h, ws);
    memset(c.mem[2], 0, sizeof(double) * 6 * 3);
    check_loha(&c.h, ws);
    double norm = -1.0;
    ck_assert_int_eq(lsc_lycoris_loha_norm(&c.h, &norm, &err), LSC_OK);
    ck_assert_double_eq(norm, 0.0);

    /* the rank cap: r1 r2 = 3 > 2 fails, nothing allocated */
    lsc_lycoris_owned o;
    ck_assert_int_eq(lsc_lycoris_loha_lowrank(&c.h, 2, &o, &err), LSC_ERR_UNSUPPORTED);
    ck_assert_ptr_null(o.mem);
    ck_assert_ptr_nonnull(strstr(err.msg, "exceeds"));
    ck_assert_int_eq(lsc_lycoris_loha_lowrank(&c.h, 3, &o, &err), LSC_OK);
    lsc_lycoris_owned_release(&o);
    free_loha(&c);

    /* one Tucker core without the other, a missing factor */
    loha_case t = make_loha(3, 2, 4, 2, 2, 1);
    t.h.t2 = NULL;
    ck_assert_int_eq(lsc_lycoris_loha_lowrank(&t.h, 0, &o, &err), LSC_ERR_INVALID);
    t.h.t2 = t.mem[5];
    t.h.K = 3; /* does not divide cols = 8 */
    ck_assert_int_eq(lsc_lycoris_loha_lowrank(&t.h, 0, &o, &err), LSC_ERR_INVALID);
    t.h.K = 4;
    t.h.w2b = NULL;
    ck_assert_int_eq(lsc_lycoris_loha_spectrum(&t.h, ws, &sv, &err), LSC_ERR_INVALID);
    free_loha(&t);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(test_loha_dot)
{
    rng_state = 0x10A0004;
    lsc_error err = {0};
    for (int t = 0; t < 12; t++) {
        const int64_t rows = rand_int(1, 8), in = rand_int(1, 4), K = t % 2 ? 4 : 1;
        loha_case x = make_loha(rows, in, K, rand_int(1, 3), rand_int(1, 3), t % 2);
        loha_case y = make_loha(rows, in, K, rand_int(1, 3), rand_int(1, 3), t % 3 == 0 && t % 2);
        double *dx = dense_loha(&x.h), *dy = dense_loha(&y.h), d = 0.0;
        const size_t n = (size_t)(rows * in * K);
        ck_assert_int_eq(lsc_lycoris_loha_dot(&x.h, &y.h, &d, &err), LSC_OK);
        const double ref = dotv(dx, dy, n);
        ck_assert_msg(fabs(d - ref) <= 1e-12 * fro(dx, n) * fro(dy, n), "dot %.17g vs %.17g", d, ref);
        free(dx);
        free(dy);
        free_loha(&x);
        free_loha(&y);
    }
    loha_case a = make_loha(3, 4, 1, 2, 2, 0), b = make_loha(4, 3, 1, 2, 2, 0);
    double d = 0.0;
    ck_assert_int_eq(lsc_lycoris_loha_dot(&a.h, &b.h, &d, &err), LSC_ERR_INVALID);
    free_loha(&a);
    free_loha(&b);
}
END_TEST

/* ---- LoKr ---------------------------------------------------------------------------------------- */

enum { ST_FULL, ST_LOWRANK, ST_TUCKER };

typedef struct {
    lsc_lokr_factor f;
    double *mem[3];
} factor_case;

/* a factor [rows, cols_in * K] in storage `kind` */
static factor_case make_factor(int64_t rows, int64_t cols_in, int64_t K, int kind, int r)
{
    factor_case c = {0};
    const int64_t cols = cols_in * K;
    c.f = (lsc_lokr_factor){.rows = rows, .cols = cols};
    if (kind == ST_FULL) {
        c.mem[0] = gauss_matrix((size_t)(rows * cols));
        c.f.w = c.mem[0];
    } else if (kind == ST_LOWRANK) {
        c.mem[0] = gauss_matrix((size_t)(rows * r));
        c.mem[1] = gauss_matrix((size_t)(r * cols));
        c.f.r = r, c.f.wa = c.mem[0], c.f.wb = c.mem[1];
    } else {
        c.mem[0] = gauss_matrix((size_t)(r * rows));
        c.mem[1] = gauss_matrix((size_t)(r * cols_in));
        c.mem[2] = gauss_matrix((size_t)(r * r * K));
        c.f.r = r, c.f.wa = c.mem[0], c.f.wb = c.mem[1], c.f.t = c.mem[2], c.f.K = K;
    }
    return c;
}

static void free_factor(factor_case *c)
{
    for (int i = 0; i < 3; i++)
        free(c->mem[i]);
}

/* one factor densely, [rows, cols] */
static double *dense_factor(const lsc_lokr_factor *f)
{
    if (f->r == 0) {
        double *d = zeros((size_t)(f->rows * f->cols));
        memcpy(d, f->w, sizeof(double) * (size_t)(f->rows * f->cols));
        return d;
    }
    if (f->t)
        return dense_tucker(f->wa, f->t, f->wb, f->r, f->rows, f->cols / f->K, f->K);
    return dense_prod(f->wa, f->wb, f->rows, f->r, f->cols);
}

/* torch.kron(w1[a, b, 1, 1], w2[c, d, kh, kw]) * scale, flattened to [a c, b d K] */
static double *dense_lokr(const lsc_lokr *k, int64_t K)
{
    const int64_t a = k->w1.rows, b = k->w1.cols, c = k->w2.rows, d = k->w2.cols / K;
    double *w1 = dense_factor(&k->w1), *w2 = dense_factor(&k->w2);
    double *D = zeros((size_t)(a * c * b * d * K));
    for (int64_t i = 0; i < a; i++)
        for (int64_t j = 0; j < b; j++)
            for (int64_t p = 0; p < c; p++)
                for (int64_t l = 0; l < d; l++)
                    for (int64_t kk = 0; kk < K; kk++)
                        D[((i * c + p) * (b * d) + (j * d + l)) * K + kk] =
                            k->scale * w1[i * b + j] * w2[(p * d + l) * K + kk];
    free(w1);
    free(w2);
    return D;
}

static void check_lokr(const lsc_lokr *k, int64_t K, lsc_workspace *ws)
{
    lsc_error err = {0};
    const int64_t rows = k->w1.rows * k->w2.rows, cols = k->w1.cols * k->w2.cols;
    const size_t n = (size_t)(rows * cols);
    double *D = dense_lokr(k, K);

    const int64_t nf = lsc_lycoris_lokr_count(k);
    double *sv = zeros((size_t)nf);
    ck_assert_int_eq(lsc_lycoris_lokr_spectrum(k, ws, sv, &err), LSC_OK);
    double *ds = dense_sv(D, rows, cols);
    assert_sv(sv, nf, ds, rows < cols ? rows : cols);

    for (int drop = 0; drop < 2; drop++) {
        lsc_lycoris_owned o;
        int64_t need = -1;
        ck_assert_int_eq(lsc_lycoris_lokr_lowrank(k, drop, 0, &o, &need, &err), LSC_OK);
        ck_assert_int_eq(need, o.lr.r);
        ck_assert_int_eq(o.lr.rows, rows);
        ck_assert_int_eq(o.lr.cols, cols);
        if (!drop)
            ck_assert_int_eq(o.lr.r, nf);
        double *C = dense_of(&o.lr);
        assert_close(C, D, n, 1e-12);
        free(C);
        lsc_lycoris_owned_release(&o);
    }

    double norm = -1.0;
    ck_assert_int_eq(lsc_lycoris_lokr_norm(k, &norm, &err), LSC_OK);
    ck_assert_double_eq_tol(norm, fro(D, n), 1e-12 * fro(D, n) + 1e-300);
    free(sv);
    free(ds);
    free(D);
}

START_TEST(test_lokr_random)
{
    rng_state = 0x10C0001;
    lsc_workspace *ws = lsc_workspace_new();
    for (int t = 0; t < 36; t++) {
        const int kind1 = t % 2 ? ST_LOWRANK : ST_FULL, kind2 = (t / 2) % 3;
        const int64_t K = kind2 == ST_TUCKER ? (t % 4 ? 4 : 1) : (t % 5 == 0 ? 3 : 1);
        factor_case f1 = make_factor(rand_int(1, 4), rand_int(1, 4), 1, kind1, rand_int(1, 3));
        factor_case f2 = make_factor(rand_int(1, 6), rand_int(1, 6), K, kind2, rand_int(1, 4));
        lsc_lokr k = {.w1 = f1.f, .w2 = f2.f, .scale = t % 3 ? 0.75 : -1.5};
        check_lokr(&k, K, ws);
        free_factor(&f1);
        free_factor(&f2);
    }
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(test_lokr_degenerate)
{
    rng_state = 0x10C0002;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    /* rank-deficient W1 [3, 3] = u v^T and W2 [4, 5] of rank 2 (stored full) */
    factor_case f1 = make_factor(3, 3, 1, ST_FULL, 0), f2 = make_factor(4, 5, 1, ST_FULL, 0);
    double u[3] = {1.0, -2.0, 0.5}, v[3] = {0.3, 1.0, -1.0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            f1.mem[0][i * 3 + j] = u[i] * v[j];
    double *lo = gauss_matrix(8), *hi = gauss_matrix(10); /* [4, 2] x [2, 5] */
    double *w2 = dense_prod(lo, hi, 4, 2, 5);
    memcpy(f2.mem[0], w2, sizeof(double) * 20);
    lsc_lokr k = {.w1 = f1.f, .w2 = f2.f, .scale = 2.0};
    check_lokr(&k, 1, ws);
    lsc_lycoris_owned o;
    int64_t need = 0;
    ck_assert_int_eq(lsc_lycoris_lokr_lowrank(&k, 1, 0, &o, &need, &err), LSC_OK);
    ck_assert_int_eq(o.lr.r, 2); /* rank(W1) rank(W2) = 1 * 2 */
    lsc_lycoris_owned_release(&o);
    ck_assert_int_eq(lsc_lycoris_lokr_lowrank(&k, 0, 0, &o, &need, &err), LSC_OK);
    ck_assert_int_eq(o.lr.r, 12); /* without dropping: 3 * 4 */
    lsc_lycoris_owned_release(&o);
    /* the cap: rank 2 does not fit in 1 */
    need = 0;
    ck_assert_int_eq(lsc_lycoris_lokr_lowrank(&k, 1, 1, &o, &need, &err), LSC_ERR_UNSUPPORTED);
    ck_assert_int_eq(need, 2);
    ck_assert_ptr_null(o.mem);
    ck_assert_int_eq(lsc_lycoris_lokr_lowrank(&k, 1, 2, &o, &need, &err), LSC_OK);
    lsc_lycoris_owned_release(&o);

    /* a zero factor: rank 0 after dropping, all-zero spectrum */
    memset(f2.mem[0], 0, sizeof(double) * 20);
    k.w2 = f2.f;
    check_lokr(&k, 1, ws);
    ck_assert_int_eq(lsc_lycoris_lokr_lowrank(&k, 1, 0, &o, &need, &err), LSC_OK);
    ck_assert_int_eq(o.lr.r, 0);
    lsc_lycoris_owned_release(&o);

    /* 1 x 1 factors: W1 = [3] with a low-rank W2, and both 1 x 1 */
    double one = 3.0, two = -0.5;
    factor_case g2 = make_factor(5, 4, 1, ST_LOWRANK, 1);
    lsc_lokr k1 = {.w1 = {.rows = 1, .cols = 1, .w = &one}, .w2 = g2.f, .scale = 0.25};
    check_lokr(&k1, 1, ws);
    lsc_lokr k2 = {.w1 = {.rows = 1, .cols = 1, .w = &one}, .w2 = {.rows = 1, .cols = 1, .w = &two}, .scale = 1.0};
    double sv = 0.0;
    ck_assert_int_eq(lsc_lycoris_lokr_spectrum(&k2, ws, &sv, &err), LSC_OK);
    ck_assert_double_eq_tol(sv, 1.5, 1e-15);
    check_lokr(&k2, 1, ws);

    /* rejections: a missing half, a non-finite entry */
    lsc_lokr bad = k1;
    bad.w2.wb = NULL;
    ck_assert_int_eq(lsc_lycoris_lokr_spectrum(&bad, ws, &sv, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_lycoris_lokr_lowrank(&bad, 0, 0, &o, NULL, &err), LSC_ERR_INVALID);
    double inf = INFINITY;
    bad = k1;
    bad.w1.w = &inf;
    double svs[4];
    ck_assert_int_eq(lsc_lycoris_lokr_spectrum(&bad, ws, svs, &err), LSC_ERR_NUMERIC);

    free(lo);
    free(hi);
    free(w2);
    free_factor(&f1);
    free_factor(&f2);
    free_factor(&g2);
    lsc_workspace_free(ws);
}
END_TEST

START_TEST(test_lokr_dot)
{
    rng_state = 0x10C0003;
    lsc_error err = {0};
    for (int t = 0; t < 18; t++) {
        const int64_t a = rand_int(1, 3), b = rand_int(1, 3), c = rand_int(1, 5), d = rand_int(1, 3);
        const int64_t K = t % 3 == 2 ? 4 : 1;
        factor_case x1 = make_factor(a, b, 1, t % 2 ? ST_LOWRANK : ST_FULL, 2);
        factor_case y1 = make_factor(a, b, 1, (t / 2) % 2 ? ST_LOWRANK : ST_FULL, 1);
        factor_case x2 = make_factor(c, d, K, t % 3, 2);
        factor_case y2 = make_factor(c, d, K, (t + 1) % 3, 3);
        lsc_lokr x = {.w1 = x1.f, .w2 = x2.f, .scale = 0.5}, y = {.w1 = y1.f, .w2 = y2.f, .scale = -2.0};
        double *dx = dense_lokr(&x, K), *dy = dense_lokr(&y, K), dot = 0.0;
        const size_t n = (size_t)(a * b * c * d * K);
        ck_assert_int_eq(lsc_lycoris_lokr_dot(&x, &y, &dot, &err), LSC_OK);
        const double ref = dotv(dx, dy, n);
        ck_assert_msg(fabs(dot - ref) <= 1e-12 * fro(dx, n) * fro(dy, n), "dot %.17g vs %.17g", dot, ref);
        free(dx);
        free(dy);
        free_factor(&x1);
        free_factor(&y1);
        free_factor(&x2);
        free_factor(&y2);
    }
    /* splits that differ ([2, 2] (x) [3, 3] against [1, 1] (x) [6, 6]) cannot be paired factor by factor */
    factor_case p1 = make_factor(2, 2, 1, ST_FULL, 0), p2 = make_factor(3, 3, 1, ST_FULL, 0);
    factor_case q1 = make_factor(1, 1, 1, ST_FULL, 0), q2 = make_factor(6, 6, 1, ST_LOWRANK, 2);
    lsc_lokr x = {.w1 = p1.f, .w2 = p2.f, .scale = 1.0}, y = {.w1 = q1.f, .w2 = q2.f, .scale = 1.0};
    double dot = 0.0;
    ck_assert_int_eq(lsc_lycoris_lokr_dot(&x, &y, &dot, &err), LSC_ERR_UNSUPPORTED);
    free_factor(&p1);
    free_factor(&p2);
    free_factor(&q1);
    free_factor(&q2);
}
END_TEST

/* ---- Tucker LoCon --------------------------------------------------------------------------------- */

START_TEST(test_locon_tucker)
{
    rng_state = 0x10D0001;
    lsc_error err = {0};
    static const int64_t kernels[] = {1, 9, 3};
    for (int t = 0; t < 15; t++) {
        const int64_t out = rand_int(1, 8), in = rand_int(1, 6), K = kernels[t % 3];
        const int r = rand_int(1, 4);
        double *up = gauss_matrix((size_t)(out * r)), *mid = gauss_matrix((size_t)(r * r * K));
        double *down = gauss_matrix((size_t)(r * in));
        /* dW[o, c, kk] = sum_{m,n} up[o, m] mid[m, n, kk] down[n, c] */
        double *D = zeros((size_t)(out * in * K));
        for (int64_t o = 0; o < out; o++)
            for (int64_t c = 0; c < in; c++)
                for (int64_t kk = 0; kk < K; kk++)
                    for (int m = 0; m < r; m++)
                        for (int n = 0; n < r; n++)
                            D[(o * in + c) * K + kk] +=
                                0.5 * up[o * r + m] * mid[((int64_t)m * r + n) * K + kk] * down[n * in + c];
        lsc_lycoris_owned o;
        ck_assert_int_eq(lsc_lycoris_tucker_lowrank(up, mid, down, out, r, in, K, 0.5, &o, &err), LSC_OK);
        ck_assert_int_eq(o.lr.r, r);
        double *C = dense_of(&o.lr);
        assert_close(C, D, (size_t)(out * in * K), 1e-12);
        free(C);
        lsc_lycoris_owned_release(&o);
        ck_assert_int_eq(lsc_lycoris_tucker_lowrank(up, NULL, down, out, r, in, K, 0.5, &o, &err), LSC_ERR_INVALID);
        ck_assert_int_eq(lsc_lycoris_tucker_lowrank(up, mid, down, out, r, in, 0, 0.5, &o, &err), LSC_ERR_INVALID);
        free(up);
        free(mid);
        free(down);
        free(D);
    }
}
END_TEST

/* ---- DoRA ----------------------------------------------------------------------------------------- */

START_TEST(test_dora_merge)
{
    rng_state = 0x10E0001;
    lsc_error err = {0};
    for (int t = 0; t < 16; t++) {
        const int64_t rows = rand_int(1, 7), in = rand_int(1, 5), K = t % 2 ? 4 : 1, cols = in * K;
        const int r = rand_int(1, 3);
        const lsc_dora_axis axis = (t / 2) % 2 ? LSC_DORA_PER_OUTPUT : LSC_DORA_PER_INPUT;
        const double mult = t % 3 == 0 ? 0.5 : 1.0, eps = t % 4 == 0 ? 0.0 : 1e-3;
        double *B = gauss_matrix((size_t)(rows * r)), *A = gauss_matrix((size_t)(r * cols));
        double *W = gauss_matrix((size_t)(rows * cols));
        const int64_t groups = axis == LSC_DORA_PER_INPUT ? in : rows;
        double *mag = gauss_matrix((size_t)groups);
        for (int64_t g = 0; g < groups; g++)
            mag[g] = fabs(mag[g]) + 0.1;
        lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 1.25};

        /* reference: V = W + s B A as a 4-d [out, in, K] tensor; norms per input channel or per row */
        double *V = dense_of(&lr), *ref = zeros((size_t)(rows * cols));
        for (int64_t i = 0; i < rows * cols; i++)
            V[i] += W[i];
        for (int64_t g = 0; g < groups; g++) {
            double ss = 0.0;
            for (int64_t o = 0; o < rows; o++)
                for (int64_t c = 0; c < in; c++)
                    for (int64_t kk = 0; kk < K; kk++)
                        if ((axis == LSC_DORA_PER_INPUT && c == g) || (axis == LSC_DORA_PER_OUTPUT && o == g))
                            ss += V[(o * in + c) * K + kk] * V[(o * in + c) * K + kk];
            const double f = mult * (mag[g] / (sqrt(ss) + eps) - 1.0) + 1.0;
            for (int64_t o = 0; o < rows; o++)
                for (int64_t c = 0; c < in; c++)
                    for (int64_t kk = 0; kk < K; kk++)
                        if ((axis == LSC_DORA_PER_INPUT && c == g) || (axis == LSC_DORA_PER_OUTPUT && o == g))
                            ref[(o * in + c) * K + kk] = f * V[(o * in + c) * K + kk];
        }
        ck_assert_int_eq(lsc_lycoris_dora_merge(W, &lr, mag, axis, K, mult, eps, &err), LSC_OK);
        assert_close(W, ref, (size_t)(rows * cols), 1e-13);
        if (mult == 1.0 && eps == 0.0 && axis == LSC_DORA_PER_OUTPUT) /* each row now has norm mag[row] */
            for (int64_t o = 0; o < rows; o++)
                ck_assert_double_eq_tol(fro(W + o * cols, (size_t)cols), mag[o], 1e-13 * mag[o]);
        /* a kernel size that does not divide the columns */
        ck_assert_int_eq(lsc_lycoris_dora_merge(W, &lr, mag, axis, cols + 1, mult, eps, &err), LSC_ERR_INVALID);
        free(B);
        free(A);
        free(W);
        free(mag);
        free(V);
        free(ref);
    }
}
END_TEST

static Suite *lycoris_suite(void)
{
    Suite *s = suite_create("lycoris");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_scale_rules);
    tcase_add_test(tc, test_loha_random);
    tcase_add_test(tc, test_loha_tucker);
    tcase_add_test(tc, test_loha_degenerate);
    tcase_add_test(tc, test_loha_dot);
    tcase_add_test(tc, test_lokr_random);
    tcase_add_test(tc, test_lokr_degenerate);
    tcase_add_test(tc, test_lokr_dot);
    tcase_add_test(tc, test_locon_tucker);
    tcase_add_test(tc, test_dora_merge);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lycoris_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
