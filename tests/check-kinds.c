/* check-kinds.c: the kind kernels (engine/kinds.h) against dense references and hand-worked cases.
 *
 * The references form s*B*A with plain loops, take norms and inner products entry by entry, and singular
 * values/vectors from a dense LAPACKE_dgesdd; none of them goes through the factored code paths under
 * test. Fixed-seed PRNG (splitmix64 + Box-Muller). Every rejection path has an input that triggers it.
 */
#include <check.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "test_rng.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static int rand_int(int lo, int hi)
{
    return lo + (int)(splitmix64() % (uint64_t)(hi - lo + 1));
}

static double *zeros(size_t n)
{
    double *m = calloc(n ? n : 1, sizeof(double));
    ck_assert_ptr_nonnull(m);
    return m;
}

/* dense s * B * A, [rows, cols] */
static double *dense_of(const double *B, const double *A, int64_t rows, int64_t cols, int r, double s)
{
    double *d = zeros((size_t)(rows * cols));
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            double acc = 0.0;
            for (int k = 0; k < r; k++)
                acc += B[i * r + k] * A[k * cols + j];
            d[i * cols + j] = s * acc;
        }
    return d;
}

static double *dense(const lsc_lowrank *lr)
{
    return dense_of(lr->B, lr->A, lr->rows, lr->cols, lr->r, lr->scale);
}

static double fro(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

static double fro_diff(const double *x, const double *y, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (x[i] - y[i]) * (x[i] - y[i]);
    return sqrt(s);
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* singular values (descending) of a row-major [m, n] matrix; optional VT [min, n] */
static double *dense_sv(const double *d, int m, int n, double **vt_out)
{
    int k = m < n ? m : n;
    double *copy = zeros((size_t)m * n), *s = zeros((size_t)k), *u = zeros((size_t)m * k), *vt = zeros((size_t)k * n);
    memcpy(copy, d, sizeof(double) * (size_t)m * n);
    ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', m, n, copy, n, s, u, k, vt, n), 0);
    free(copy);
    free(u);
    if (vt_out)
        *vt_out = vt;
    else
        free(vt);
    return s;
}

/* orthonormal columns: Q [m, k] row-major from the QR of a gaussian matrix */
static double *orthonormal(int m, int k)
{
    double *q = gauss_matrix((size_t)m * k), *tau = zeros((size_t)k);
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, k, q, k, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, m, k, k, q, k, tau), 0);
    free(tau);
    return q;
}

static int close_rel(double x, double ref, double tol)
{
    return fabs(x - ref) <= tol * (fabs(ref) > 1.0 ? fabs(ref) : 1.0);
}

static lsc_workspace *ws;

static void setup(void)
{
    ws = lsc_workspace_new();
    ck_assert_ptr_nonnull(ws);
}

static void teardown(void)
{
    lsc_workspace_free(ws);
    ws = NULL;
}

/* calls use `&err` as their error argument; these macros provide it */
#define EXPECT(code, call)                                                                                             \
    do {                                                                                                               \
        lsc_error err = {0};                                                                                           \
        lsc_status st_ = (call);                                                                                       \
        ck_assert_msg(st_ == (code), "%s gave %d (%s), expected %d", #call, (int)st_, err.msg, (int)(code));          \
        ck_assert_msg(err.msg[0] != '\0', "%s left no message", #call);                                               \
    } while (0)

#define RUN(call)                                                                                                      \
    do {                                                                                                               \
        lsc_error err = {0};                                                                                           \
        lsc_status st_ = (call);                                                                                       \
        ck_assert_msg(st_ == LSC_OK, "%s failed: %s", #call, err.msg);                                                \
    } while (0)

/* ---- dynamic (DyLoRA) ----------------------------------------------------------------------------- */

static const lsc_dylora_scale all_rules[] = {LSC_DYLORA_ALPHA_B, LSC_DYLORA_ALPHA_R, LSC_DYLORA_KOHYA_TRAIN};

/* reference: dense full layer and dense prefixes, dense singular values */
static void dylora_reference(const lsc_lowrank *lr, lsc_dylora_scale rule, double alpha, double *pre, double *best)
{
    const int r = lr->r;
    const size_t n = (size_t)(lr->rows * lr->cols);
    double *full = dense_of(lr->B, lr->A, lr->rows, lr->cols, r, alpha / r);
    double *Bb = zeros((size_t)lr->rows * r);
    const double nf = fro(full, n);
    double *sv = dense_sv(full, (int)lr->rows, (int)lr->cols, NULL);
    const int ns = lr->rows < lr->cols ? (int)lr->rows : (int)lr->cols;
    double total = 0.0;
    for (int i = 0; i < ns; i++)
        total += sv[i] * sv[i];
    for (int b = 1; b <= r; b++) {
        for (int64_t i = 0; i < lr->rows; i++)
            for (int j = 0; j < b; j++)
                Bb[i * b + j] = lr->B[i * r + j];
        double s = rule == LSC_DYLORA_ALPHA_B ? alpha / b
                   : rule == LSC_DYLORA_ALPHA_R ? alpha / r
                                                 : alpha / r * sqrt((double)r / b);
        double *pb = dense_of(Bb, lr->A, lr->rows, lr->cols, b, s); /* A[:b, :] is the first b rows */
        pre[b - 1] = fro_diff(pb, full, n) / nf;
        double tail = 0.0;
        for (int i = b; i < ns; i++)
            tail += sv[i] * sv[i];
        best[b - 1] = sqrt(tail / total);
        free(pb);
    }
    free(sv);
    free(Bb);
    free(full);
}

START_TEST(dylora_matches_dense)
{
    rng_state = 0xD71;
    double pre[12], best[12], rpre[12], rbest[12];
    for (int trial = 0; trial < 24; trial++) {
        const int rows = rand_int(1, 14), cols = rand_int(1, 14), r = rand_int(1, 12);
        double *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
        lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 123.0 /* not read */};
        for (int q = 0; q < 3; q++) {
            RUN(lsc_dylora_prefix_errors(&lr, all_rules[q], ws, pre, best, &err));
            dylora_reference(&lr, all_rules[q], 4.0, rpre, rbest);
            for (int b = 0; b < r; b++) {
                ck_assert_msg(close_rel(pre[b], rpre[b], 1e-10), "trial %d rule %d b %d: prefix %.17g vs %.17g", trial,
                              q, b + 1, pre[b], rpre[b]);
                ck_assert_msg(fabs(best[b] - rbest[b]) < 1e-10, "trial %d b %d: best %.17g vs %.17g", trial, b + 1,
                              best[b], rbest[b]);
                ck_assert(pre[b] >= best[b] - 1e-12); /* Eckart-Young */
            }
            ck_assert(pre[r - 1] == 0.0); /* the full prefix is the layer, exactly */
        }
        free(B);
        free(A);
    }
}
END_TEST

START_TEST(dylora_hand_worked)
{
    /* two orthogonal components of weights 2 and 1: dW = (alpha/2)(2 X0 + X1), X_i = e_i f_i^T.
     * ALPHA_B: dW_1 = alpha 2 X0, dW_1 - dW = alpha (X0 - X1/2): ratio 1; best rank 1: 1/sqrt(5).
     * ALPHA_R: dW_1 = alpha X0, difference -(alpha/2) X1: ratio (1/2)/sqrt(5/4) = 1/sqrt(5) = best.
     * KOHYA_TRAIN: dW_1 = alpha sqrt(2) X0: ratio sqrt(((sqrt2 - 1)^2 + 1/4) / (5/4)). */
    double B[3 * 2] = {2, 0, 0, 1, 0, 0}, A[2 * 4] = {1, 0, 0, 0, 0, 1, 0, 0};
    lsc_lowrank lr = {.rows = 3, .cols = 4, .r = 2, .B = B, .A = A, .scale = 1.0};
    double pre[2], best[2];
    RUN(lsc_dylora_prefix_errors(&lr, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    ck_assert(fabs(pre[0] - 1.0) < 1e-15);
    ck_assert(fabs(best[0] - 1.0 / sqrt(5.0)) < 1e-15);
    ck_assert(pre[1] == 0.0 && best[1] == 0.0);
    RUN(lsc_dylora_prefix_errors(&lr, LSC_DYLORA_ALPHA_R, ws, pre, best, &err));
    ck_assert(fabs(pre[0] - 1.0 / sqrt(5.0)) < 1e-15);
    RUN(lsc_dylora_prefix_errors(&lr, LSC_DYLORA_KOHYA_TRAIN, ws, pre, best, &err));
    const double k1 = sqrt(((sqrt(2.0) - 1) * (sqrt(2.0) - 1) + 0.25) / 1.25);
    ck_assert_msg(fabs(pre[0] - k1) < 1e-15, "%.17g vs %.17g", pre[0], k1);

    /* the same components in the wrong order (weight 1 first): under ALPHA_R the rank-1 prefix keeps the
     * smaller one, error 2/sqrt(5) against the best 1/sqrt(5) */
    double Bw[3 * 2] = {1, 0, 0, 2, 0, 0};
    lsc_lowrank wrong = {.rows = 3, .cols = 4, .r = 2, .B = Bw, .A = A, .scale = 1.0};
    RUN(lsc_dylora_prefix_errors(&wrong, LSC_DYLORA_ALPHA_R, ws, pre, best, &err));
    ck_assert(fabs(pre[0] - 2.0 / sqrt(5.0)) < 1e-15);
    ck_assert(fabs(best[0] - 1.0 / sqrt(5.0)) < 1e-15);
}
END_TEST

START_TEST(dylora_nested_layers)
{
    /* built from an SVD, B = U S^(1/2), A = S^(1/2) V^T with descending S: under ALPHA_R every prefix is
     * the best truncation */
    rng_state = 0xD72;
    const int rows = 12, cols = 10, r = 6;
    double *U = orthonormal(rows, r), *V = orthonormal(cols, r);
    double sig[6] = {9, 5, 3, 2, 0.5, 0.1};
    double *B = zeros((size_t)rows * r), *A = zeros((size_t)r * cols);
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < r; k++)
            B[i * r + k] = U[i * r + k] * sqrt(sig[k]);
    for (int k = 0; k < r; k++)
        for (int j = 0; j < cols; j++)
            A[k * cols + j] = sqrt(sig[k]) * V[j * r + k];
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 1.0};
    double pre[6], best[6];
    RUN(lsc_dylora_prefix_errors(&lr, LSC_DYLORA_ALPHA_R, ws, pre, best, &err));
    for (int b = 0; b < r; b++)
        ck_assert_msg(fabs(pre[b] - best[b]) < 1e-13, "b %d: %.17g vs %.17g", b + 1, pre[b], best[b]);
    ck_assert(best[0] > 0.3); /* not trivially zero */
    /* under the paper's alpha/b the same layer is not nested: the prefix scale overshoots */
    RUN(lsc_dylora_prefix_errors(&lr, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    ck_assert(pre[0] > best[0] + 0.1);

    /* under ALPHA_B a layer whose r components are all the same rank-1 term u v^T is exactly nested:
     * (alpha/b) * b u v^T = (alpha/r) * r u v^T for every b */
    double *u = gauss_matrix(rows), *v = gauss_matrix(cols);
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < r; k++)
            B[i * r + k] = u[i];
    for (int k = 0; k < r; k++)
        for (int j = 0; j < cols; j++)
            A[k * cols + j] = v[j];
    RUN(lsc_dylora_prefix_errors(&lr, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    for (int b = 0; b < r; b++) {
        ck_assert_msg(pre[b] < 1e-14, "b %d: %g", b + 1, pre[b]);
        ck_assert(best[b] < 1e-7); /* rank 1: the tail is rounding */
    }
    free(u);
    free(v);
    free(U);
    free(V);
    free(B);
    free(A);
}
END_TEST

START_TEST(dylora_zero_layers)
{
    double pre[2], best[2];
    double B0[4 * 2] = {0}, A0[2 * 3] = {1, 2, 3, 4, 5, 6};
    lsc_lowrank zero = {.rows = 4, .cols = 3, .r = 2, .B = B0, .A = A0, .scale = 1.0};
    RUN(lsc_dylora_prefix_errors(&zero, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    ck_assert(pre[0] == 0.0 && pre[1] == 0.0 && best[0] == 0.0 && best[1] == 0.0);
    /* u v^T - u v^T = 0, but the rank-1 prefix u v^T is not zero (basis vectors, so that the QR cores
     * cancel exactly too) */
    double Bc[2 * 2] = {1, -1, 0, 0}, Ac[2 * 3] = {1, 0, 0, 1, 0, 0};
    lsc_lowrank cancel = {.rows = 2, .cols = 3, .r = 2, .B = Bc, .A = Ac, .scale = 1.0};
    RUN(lsc_dylora_prefix_errors(&cancel, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    ck_assert(isinf(pre[0]) && pre[0] > 0);
    ck_assert(pre[1] == 0.0 && best[0] == 0.0);
    /* an empty shape: every prefix exact */
    lsc_lowrank empty = {.rows = 0, .cols = 3, .r = 2, .B = NULL, .A = A0, .scale = 1.0};
    RUN(lsc_dylora_prefix_errors(&empty, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    ck_assert(pre[0] == 0.0 && best[1] == 0.0);
}
END_TEST

START_TEST(dylora_prefix_adapter)
{
    rng_state = 0xD73;
    const int rows = 5, cols = 7, r = 4, b = 3;
    double *B = gauss_matrix(rows * r), *A = gauss_matrix(r * cols);
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 0.5};
    double Bo[5 * 3], Ao[3 * 7], s = 0.0;
    RUN(lsc_dylora_prefix(&lr, b, 8.0, LSC_DYLORA_ALPHA_B, Bo, Ao, &s, &err));
    ck_assert(s == 8.0 / 3.0);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < b; j++)
            ck_assert(Bo[i * b + j] == B[i * r + j]);
    ck_assert(memcmp(Ao, A, sizeof Ao) == 0);
    RUN(lsc_dylora_prefix(&lr, b, 8.0, LSC_DYLORA_ALPHA_R, Bo, Ao, &s, &err));
    ck_assert(s == 2.0);
    RUN(lsc_dylora_prefix(&lr, 1, 8.0, LSC_DYLORA_KOHYA_TRAIN, Bo, Ao, &s, &err));
    ck_assert(fabs(s - 2.0 * sqrt(4.0)) < 1e-15);
    for (int q = 0; q < 3; q++) /* b = r: the full layer's alpha/r under every rule */
        ck_assert(fabs(lsc_dylora_prefix_scale(all_rules[q], 8.0, 4, 4) - 2.0) < 1e-15);
    ck_assert(isnan(lsc_dylora_prefix_scale(LSC_DYLORA_ALPHA_B, 8.0, 4, 5)));
    ck_assert(isnan(lsc_dylora_prefix_scale(LSC_DYLORA_ALPHA_B, 8.0, 4, 0)));
    ck_assert(isnan(lsc_dylora_prefix_scale(LSC_DYLORA_ALPHA_B, NAN, 4, 1)));
    ck_assert(isnan(lsc_dylora_prefix_scale((lsc_dylora_scale)9, 8.0, 4, 1)));
    free(B);
    free(A);
}
END_TEST

START_TEST(dylora_rejections)
{
    double B[2 * 2] = {1, 2, 3, 4}, A[2 * 2] = {1, 0, 0, 1}, pre[2], best[2], Bo[4], Ao[4], s;
    lsc_lowrank lr = {.rows = 2, .cols = 2, .r = 2, .B = B, .A = A, .scale = 1.0};
    lsc_lowrank r0 = lr;
    r0.r = 0;
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix_errors(&r0, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix_errors(&lr, (lsc_dylora_scale)7, ws, pre, best, &err));
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix_errors(&lr, LSC_DYLORA_ALPHA_B, ws, NULL, best, &err));
    lsc_lowrank neg = lr;
    neg.rows = -1;
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix_errors(&neg, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    lsc_lowrank huge = lr;
    huge.cols = (int64_t)1 << 33;
    EXPECT(LSC_ERR_UNSUPPORTED, lsc_dylora_prefix_errors(&huge, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    lsc_lowrank nob = lr;
    nob.B = NULL;
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix_errors(&nob, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    B[3] = NAN;
    EXPECT(LSC_ERR_NUMERIC, lsc_dylora_prefix_errors(&lr, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    EXPECT(LSC_ERR_NUMERIC, lsc_dylora_prefix(&lr, 2, 1.0, LSC_DYLORA_ALPHA_B, Bo, Ao, &s, &err));
    B[3] = 4;
    A[1] = INFINITY;
    EXPECT(LSC_ERR_NUMERIC, lsc_dylora_prefix_errors(&lr, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    A[1] = 0;
    double Bbig[4] = {1e200, 1e200, 1e200, 1e200}, Abig[4] = {1e200, 1e200, 1e200, 1e200};
    lsc_lowrank big = {.rows = 2, .cols = 2, .r = 2, .B = Bbig, .A = Abig, .scale = 1.0};
    EXPECT(LSC_ERR_NUMERIC, lsc_dylora_prefix_errors(&big, LSC_DYLORA_ALPHA_B, ws, pre, best, &err));
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix(&lr, 0, 1.0, LSC_DYLORA_ALPHA_B, Bo, Ao, &s, &err));
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix(&lr, 3, 1.0, LSC_DYLORA_ALPHA_B, Bo, Ao, &s, &err));
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix(&lr, 1, NAN, LSC_DYLORA_ALPHA_B, Bo, Ao, &s, &err));
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix(&lr, 1, 0.0, LSC_DYLORA_ALPHA_B, Bo, Ao, &s, &err));
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix(&lr, 1, 1.0, (lsc_dylora_scale)-1, Bo, Ao, &s, &err));
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix(&lr, 1, 1.0, LSC_DYLORA_ALPHA_B, NULL, Ao, &s, &err));
    EXPECT(LSC_ERR_INVALID, lsc_dylora_prefix(&r0, 1, 1.0, LSC_DYLORA_ALPHA_B, Bo, Ao, &s, &err));
}
END_TEST

/* ---- adaptive (AdaLoRA) --------------------------------------------------------------------------- */

/* dense scale * E_i * P[:, i] Q[i, :] and its Frobenius norm */
static double triplet_norm_dense(const lsc_adalora_layer *l, int i)
{
    double s = 0.0;
    for (int64_t a = 0; a < l->rows; a++)
        for (int64_t b = 0; b < l->cols; b++) {
            double x = l->scale * l->E[i] * l->P[a * l->r + i] * l->Q[i * l->cols + b];
            s += x * x;
        }
    return sqrt(s);
}

/* dense scale * P diag(E) Q restricted to keep (NULL: all) */
static double *adalora_dense(const lsc_adalora_layer *l, const uint8_t *keep)
{
    double *d = zeros((size_t)(l->rows * l->cols));
    for (int64_t a = 0; a < l->rows; a++)
        for (int64_t b = 0; b < l->cols; b++) {
            double acc = 0.0;
            for (int i = 0; i < l->r; i++)
                if (!keep || keep[i])
                    acc += l->P[a * l->r + i] * l->E[i] * l->Q[i * l->cols + b];
            d[a * l->cols + b] = l->scale * acc;
        }
    return d;
}

typedef struct ada_owned {
    double *P, *E, *Q;
} ada_owned;

static lsc_adalora_layer random_adalora(int rows, int cols, int r, double scale, ada_owned *o)
{
    o->P = gauss_matrix((size_t)rows * r);
    o->E = gauss_matrix((size_t)r);
    o->Q = gauss_matrix((size_t)r * cols);
    return (lsc_adalora_layer){.rows = rows, .cols = cols, .r = r, .P = o->P, .E = o->E, .Q = o->Q, .scale = scale};
}

/* orthonormal P (columns) and Q (rows) with the given E */
static lsc_adalora_layer orthonormal_adalora(int rows, int cols, int r, const double *E, double scale, ada_owned *o)
{
    o->P = orthonormal(rows, r);
    double *qt = orthonormal(cols, r);
    o->Q = zeros((size_t)r * cols);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < cols; j++)
            o->Q[i * cols + j] = qt[j * r + i];
    free(qt);
    o->E = zeros((size_t)r);
    memcpy(o->E, E, sizeof(double) * (size_t)r);
    return (lsc_adalora_layer){.rows = rows, .cols = cols, .r = r, .P = o->P, .E = o->E, .Q = o->Q, .scale = scale};
}

/* exactly orthonormal factors (signed standard basis vectors), so importances are exactly |scale E| and
 * ties are exact: P[:, i] = (-1)^i e_(i mod rows), Q[i, :] = e_((i + 1) mod cols) */
static lsc_adalora_layer basis_adalora(int rows, int cols, int r, const double *E, double scale, ada_owned *o)
{
    o->P = zeros((size_t)rows * r);
    o->Q = zeros((size_t)r * cols);
    o->E = zeros((size_t)r);
    for (int i = 0; i < r; i++) {
        o->P[(i % rows) * r + i] = i % 2 ? -1.0 : 1.0;
        o->Q[i * cols + (i + 1) % cols] = 1.0;
        o->E[i] = E ? E[i] : (double)rand_int(-3, 3);
    }
    return (lsc_adalora_layer){.rows = rows, .cols = cols, .r = r, .P = o->P, .E = o->E, .Q = o->Q, .scale = scale};
}

static void ada_free(ada_owned *o)
{
    free(o->P);
    free(o->E);
    free(o->Q);
}

START_TEST(adalora_importance_matches_dense)
{
    rng_state = 0xADA1;
    ada_owned o;
    lsc_adalora_layer l = random_adalora(9, 11, 5, -0.7, &o);
    double imp[5];
    RUN(lsc_adalora_importance(&l, imp, &err));
    for (int i = 0; i < 5; i++)
        ck_assert_msg(close_rel(imp[i], triplet_norm_dense(&l, i), 1e-13), "%d: %g vs %g", i, imp[i],
                      triplet_norm_dense(&l, i));
    ada_free(&o);

    /* orthonormal P, Q: |scale * E_i| */
    const double E[4] = {0.5, -2.0, 0.0, 1.25};
    l = orthonormal_adalora(8, 6, 4, E, 2.0, &o);
    RUN(lsc_adalora_importance(&l, imp, &err));
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fabs(imp[i] - fabs(2.0 * E[i])) < 1e-14, "%d: %g", i, imp[i]);
    ada_free(&o);
}
END_TEST

START_TEST(adalora_rebudget_hand_built)
{
    /* orthonormal factors, so importance = |scale E|: layer 0 (scale 1) E = {3, 1, 2}; layer 1 (scale 2)
     * E = {0.5, 0.25} (importances 1, 0.5); layer 2 (scale 1) E = {-3, 0.1}.
     * Ranked: L0#0 3, L2#0 3 (tie: layer 0 first), L0#2 2, L0#1 1, L1#0 1 (tie: layer 0 first),
     * L1#1 0.5, L2#1 0.1. */
    const double E0[3] = {3, 1, 2}, E1[2] = {0.5, 0.25}, E2[2] = {-3, 0.1};
    ada_owned o[3];
    lsc_adalora_layer ls[3] = {basis_adalora(6, 5, 3, E0, 1.0, &o[0]), basis_adalora(6, 5, 2, E1, 2.0, &o[1]),
                               basis_adalora(4, 7, 2, E2, 1.0, &o[2])};
    uint8_t keep[7];
    int kept[3];
    const struct {
        int64_t n;
        uint8_t keep[7];
        int kept[3];
    } cases[] = {
        {0, {0, 0, 0, 0, 0, 0, 0}, {0, 0, 0}}, {1, {1, 0, 0, 0, 0, 0, 0}, {1, 0, 0}},
        {2, {1, 0, 0, 0, 0, 1, 0}, {1, 0, 1}}, {3, {1, 0, 1, 0, 0, 1, 0}, {2, 0, 1}},
        {4, {1, 1, 1, 0, 0, 1, 0}, {3, 0, 1}}, /* layer 1 drops to 0 triplets */
        {5, {1, 1, 1, 1, 0, 1, 0}, {3, 1, 1}}, {7, {1, 1, 1, 1, 1, 1, 1}, {3, 2, 2}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memset(keep, 9, sizeof keep);
        RUN(lsc_adalora_rebudget(ls, 3, cases[c].n, keep, kept, &err));
        ck_assert_msg(memcmp(keep, cases[c].keep, 7) == 0, "budget %lld: wrong mask", (long long)cases[c].n);
        ck_assert(memcmp(kept, cases[c].kept, sizeof kept) == 0);
    }
    /* the masked layer 1 at budget 4 has rank 0: nothing written, outputs may be NULL */
    RUN(lsc_adalora_rebudget(ls, 3, 4, keep, kept, &err));
    int k = -1;
    RUN(lsc_adalora_apply_mask(&ls[1], keep + 3, NULL, NULL, NULL, &k, &err));
    ck_assert_int_eq(k, 0);
    for (int i = 0; i < 3; i++)
        ada_free(&o[i]);
}
END_TEST

START_TEST(adalora_rebudget_matches_rank_count)
{
    /* independent reference: a triplet is kept iff fewer than N triplets rank before it (larger dense
     * importance, or equal importance and earlier (layer, index)); small integer E over exact unit vectors
     * force many exact ties */
    rng_state = 0xADA3;
    enum { L = 5 };
    ada_owned o[L];
    lsc_adalora_layer ls[L];
    int total = 0;
    for (int l = 0; l < L; l++) {
        ls[l] = basis_adalora(rand_int(2, 8), rand_int(2, 8), rand_int(0, 5), NULL, 1.0 + l % 2, &o[l]);
        total += ls[l].r;
    }
    double *imp = zeros((size_t)total);
    int *lay = calloc((size_t)total + 1, sizeof(int)), *idx = calloc((size_t)total + 1, sizeof(int));
    for (int l = 0, p = 0; l < L; l++)
        for (int i = 0; i < ls[l].r; i++, p++) {
            imp[p] = triplet_norm_dense(&ls[l], i);
            lay[p] = l;
            idx[p] = i;
        }
    uint8_t *keep = calloc((size_t)total + 1, 1);
    int kept[L];
    for (int64_t n = 0; n <= total; n++) {
        RUN(lsc_adalora_rebudget(ls, L, n, keep, kept, &err));
        int count[L] = {0};
        for (int p = 0; p < total; p++) {
            int before = 0;
            for (int q = 0; q < total; q++)
                before += imp[q] > imp[p] || (imp[q] == imp[p] && (lay[q] < lay[p] || (lay[q] == lay[p] && idx[q] < idx[p])));
            ck_assert_msg(keep[p] == (before < n), "budget %lld triplet %d", (long long)n, p);
            count[lay[p]] += keep[p];
        }
        for (int l = 0; l < L; l++)
            ck_assert_int_eq(kept[l], count[l]);
    }
    free(keep);
    free(imp);
    free(lay);
    free(idx);
    for (int l = 0; l < L; l++)
        ada_free(&o[l]);
}
END_TEST

START_TEST(adalora_mask_orthogonality_view)
{
    rng_state = 0xADA4;
    ada_owned o;
    lsc_adalora_layer l = random_adalora(7, 9, 5, 1.5, &o);
    const uint8_t keep[5] = {1, 0, 1, 1, 0};
    double P[7 * 3], E[3], Q[3 * 9];
    int k = 0;
    RUN(lsc_adalora_apply_mask(&l, keep, P, E, Q, &k, &err));
    ck_assert_int_eq(k, 3);
    ck_assert(E[0] == o.E[0] && E[1] == o.E[2] && E[2] == o.E[3]); /* order preserved */
    lsc_adalora_layer m = {.rows = 7, .cols = 9, .r = 3, .P = P, .E = E, .Q = Q, .scale = 1.5};
    double *dm = adalora_dense(&m, NULL), *dref = adalora_dense(&l, keep);
    ck_assert(fro_diff(dm, dref, 63) == 0.0); /* same terms, same order */
    free(dm);
    free(dref);

    /* orthogonality against dense loops */
    double pe, qe;
    RUN(lsc_adalora_orthogonality(&l, ws, &pe, &qe, &err));
    double sp = 0, sq = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            double gp = 0, gq = 0;
            for (int a = 0; a < 7; a++)
                gp += o.P[a * 5 + i] * o.P[a * 5 + j];
            for (int b = 0; b < 9; b++)
                gq += o.Q[i * 9 + b] * o.Q[j * 9 + b];
            gp -= i == j;
            gq -= i == j;
            sp += gp * gp;
            sq += gq * gq;
        }
    ck_assert(close_rel(pe, sqrt(sp), 1e-13) && close_rel(qe, sqrt(sq), 1e-13));
    ck_assert(pe > 1.0); /* gaussian factors are far from orthonormal */

    /* the view folds E into Q: same delta */
    double Af[5 * 9];
    lsc_lowrank v;
    RUN(lsc_adalora_view(&l, Af, &v, &err));
    double *dv = dense(&v), *dl = adalora_dense(&l, NULL);
    ck_assert(fro_diff(dv, dl, 63) <= 1e-14 * fro(dl, 63));
    free(dv);
    free(dl);
    ada_free(&o);

    const double E4[4] = {1, 2, 3, 4};
    l = orthonormal_adalora(10, 8, 4, E4, 1.0, &o);
    RUN(lsc_adalora_orthogonality(&l, ws, &pe, &qe, &err));
    ck_assert(pe < 1e-14 && qe < 1e-14);
    lsc_adalora_layer r0 = {.rows = 3, .cols = 3, .r = 0, .scale = 1.0};
    pe = qe = -1;
    RUN(lsc_adalora_orthogonality(&r0, ws, &pe, &qe, &err));
    ck_assert(pe == 0.0 && qe == 0.0);
    ada_free(&o);
}
END_TEST

START_TEST(adalora_rejections)
{
    rng_state = 0xADA5;
    ada_owned o;
    lsc_adalora_layer l = random_adalora(3, 4, 2, 1.0, &o);
    uint8_t keep[2] = {1, 1};
    int kept[1], k;
    double imp[2], pe, qe, P[6], E[2], Q[8], Af[8];
    lsc_lowrank v;
    EXPECT(LSC_ERR_INVALID, lsc_adalora_rebudget(&l, 1, 3, keep, kept, &err));
    EXPECT(LSC_ERR_INVALID, lsc_adalora_rebudget(&l, 1, -1, keep, kept, &err));
    EXPECT(LSC_ERR_INVALID, lsc_adalora_rebudget(&l, 1, 1, NULL, kept, &err));
    EXPECT(LSC_ERR_INVALID, lsc_adalora_rebudget(&l, -1, 0, keep, kept, &err));
    EXPECT(LSC_ERR_INVALID, lsc_adalora_apply_mask(&l, keep, NULL, E, Q, &k, &err));
    EXPECT(LSC_ERR_INVALID, lsc_adalora_apply_mask(&l, NULL, P, E, Q, &k, &err));
    EXPECT(LSC_ERR_INVALID, lsc_adalora_importance(NULL, imp, &err));
    lsc_adalora_layer bad = l;
    bad.r = -1;
    EXPECT(LSC_ERR_INVALID, lsc_adalora_importance(&bad, imp, &err));
    EXPECT(LSC_ERR_INVALID, lsc_adalora_orthogonality(&bad, ws, &pe, &qe, &err));
    bad = l;
    bad.E = NULL;
    EXPECT(LSC_ERR_INVALID, lsc_adalora_rebudget(&bad, 1, 1, keep, kept, &err));
    bad = l;
    bad.scale = NAN;
    EXPECT(LSC_ERR_NUMERIC, lsc_adalora_importance(&bad, imp, &err));
    o.E[1] = NAN;
    EXPECT(LSC_ERR_NUMERIC, lsc_adalora_rebudget(&l, 1, 1, keep, kept, &err));
    EXPECT(LSC_ERR_NUMERIC, lsc_adalora_view(&l, Af, &v, &err));
    o.E[1] = 1;
    o.P[0] = INFINITY;
    EXPECT(LSC_ERR_NUMERIC, lsc_adalora_orthogonality(&l, ws, &pe, &qe, &err));
    EXPECT(LSC_ERR_NUMERIC, lsc_adalora_importance(&l, imp, &err));
    EXPECT(LSC_ERR_INVALID, lsc_adalora_view(&l, NULL, &v, &err));
    ada_free(&o);
}
END_TEST

/* ---- sparse (SoRA) and element sparsity ----------------------------------------------------------- */

START_TEST(sora_threshold_hand_picked)
{
    const double g[7] = {0.5, -0.3, 0.1, -0.1, 0.0, 2.0, -0.2};
    const double want[7] = {0.3, -0.1, 0.0, 0.0, 0.0, 1.8, 0.0};
    double out[7];
    int live = -1;
    RUN(lsc_sora_threshold(g, 7, 0.2, out, &live, &err));
    ck_assert_int_eq(live, 3);
    for (int i = 0; i < 7; i++) {
        ck_assert_msg(fabs(out[i] - want[i]) < 1e-15, "%d: %.17g", i, out[i]);
        if (want[i] == 0.0)
            ck_assert(out[i] == 0.0 && !signbit(out[i])); /* closed gates are +0 */
    }
    RUN(lsc_sora_threshold(g, 7, 0.0, out, &live, &err));
    ck_assert_int_eq(live, 6);
    ck_assert(memcmp(out, g, sizeof out) == 0);
    double inplace[3] = {1.0, -1.0, 0.5};
    RUN(lsc_sora_threshold(inplace, 3, 0.75, inplace, &live, &err));
    ck_assert(inplace[0] == 0.25 && inplace[1] == -0.25 && inplace[2] == 0.0 && live == 2);
    RUN(lsc_sora_threshold(NULL, 0, 1.0, NULL, &live, &err));
    ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(sora_fold_and_compact_keep_the_delta)
{
    rng_state = 0x50A1;
    const int rows = 6, cols = 8, r = 5;
    double *B = gauss_matrix(rows * r), *A = gauss_matrix(r * cols);
    double g[5] = {0.7, 0.0, -1.3, 0.0, 0.2};
    const double s = 0.25;
    /* dense reference of s B diag(g) A */
    double *ref = zeros(rows * cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double acc = 0.0;
            for (int k = 0; k < r; k++)
                acc += B[i * r + k] * g[k] * A[k * cols + j];
            ref[i * cols + j] = s * acc;
        }
    double Bf[6 * 5];
    RUN(lsc_sora_fold(B, g, rows, r, Bf, &err));
    double *df = dense_of(Bf, A, rows, cols, r, s);
    ck_assert(fro_diff(df, ref, rows * cols) == 0.0);
    double Bc[6 * 5], gc[5], Ac[5 * 8];
    int k = 0;
    RUN(lsc_sora_compact(B, g, A, rows, cols, r, Bc, gc, Ac, &k, &err));
    ck_assert_int_eq(k, 3);
    ck_assert(gc[0] == 0.7 && gc[1] == -1.3 && gc[2] == 0.2);
    for (int i = 0; i < rows; i++)
        ck_assert(Bc[i * 3 + 1] == B[i * r + 2]);
    ck_assert(memcmp(Ac + 2 * cols, A + 4 * cols, sizeof(double) * cols) == 0);
    double Bcf[6 * 3];
    RUN(lsc_sora_fold(Bc, gc, rows, 3, Bcf, &err));
    double *dc = dense_of(Bcf, Ac, rows, cols, 3, s);
    ck_assert(fro_diff(dc, ref, rows * cols) <= 1e-15 * fro(ref, rows * cols));
    /* in-place fold */
    RUN(lsc_sora_fold(B, g, rows, r, B, &err));
    ck_assert(memcmp(B, Bf, sizeof Bf) == 0);
    /* all gates closed: rank 0, nothing written */
    double gz[5] = {0};
    RUN(lsc_sora_compact(B, gz, A, rows, cols, r, NULL, NULL, NULL, &k, &err));
    ck_assert_int_eq(k, 0);
    free(df);
    free(dc);
    free(ref);
    free(B);
    free(A);
}
END_TEST

START_TEST(factor_sparsity_and_histogram)
{
    const double x[8] = {0, 0, 1e-5, 1, -2, 0.001, -0.003, 5};
    double zf, nf;
    RUN(lsc_factor_sparsity(x, 8, &zf, &nf, &err));
    ck_assert(zf == 2.0 / 8 && nf == 5.0 / 8); /* near: |x| <= 1e-3 * 5 */
    const double z[3] = {0, 0, 0};
    RUN(lsc_factor_sparsity(z, 3, &zf, &nf, &err));
    ck_assert(zf == 1.0 && nf == 1.0);
    RUN(lsc_factor_sparsity(NULL, 0, &zf, &nf, &err));
    ck_assert(zf == 0.0 && nf == 0.0);

    /* bins of width 1 over [1e-4, 1): log10 of 2e-4 is -3.7, of 0.002 -2.7, of 0.05 -1.3, of 0.5 -0.3;
     * 1 and 20 overflow, 0 and 1e-9 underflow */
    const double h[9] = {0, 1e-9, 2e-4, -0.002, 0.05, 0.5, -0.5, 1.0, 20};
    int64_t counts[6] = {0};
    RUN(lsc_magnitude_histogram(h, 9, 4, -4.0, 0.0, counts, &err));
    const int64_t want[6] = {2, 1, 1, 1, 2, 2};
    ck_assert(memcmp(counts, want, sizeof want) == 0);
    RUN(lsc_magnitude_histogram(h, 9, 4, -4.0, 0.0, counts, &err)); /* accumulates */
    for (int i = 0; i < 6; i++)
        ck_assert(counts[i] == 2 * want[i]);
    /* exact powers of ten sit on bin edges and go to the bin above: log10 of 1, 10 is exactly 0, 1 */
    const double edges[3] = {1.0, -10.0, 100.0};
    int64_t ce[8] = {0};
    RUN(lsc_magnitude_histogram(edges, 3, 6, -4.0, 2.0, ce, &err));
    const int64_t want_e[8] = {0, 0, 0, 0, 0, 1, 1, 1};
    ck_assert(memcmp(ce, want_e, sizeof want_e) == 0);
    /* random values: every entry lands in exactly one bin, and the bins agree with a comparison against
     * the powers of ten (values away from the edges by construction) */
    rng_state = 0x50A2;
    enum { N = 500 };
    double *xr = zeros(N);
    int64_t c2[11] = {0}, ref[11] = {0};
    for (int i = 0; i < N; i++) {
        int e = rand_int(-7, 3);                     /* decade: -7 underflows, 3 overflows */
        double m = 1.5 + 7.0 * uniform01();          /* mantissa in [1.5, 8.5] */
        xr[i] = (i % 2 ? -1 : 1) * m * pow(10.0, e); /* log10 in (e + 0.17, e + 0.93) */
        ref[e < -6 ? 0 : (e >= 3 ? 10 : 1 + (e + 6))]++;
    }
    RUN(lsc_magnitude_histogram(xr, N, 9, -6.0, 3.0, c2, &err));
    int64_t sum = 0;
    for (int i = 0; i < 11; i++) {
        sum += c2[i];
        ck_assert_msg(c2[i] == ref[i], "bin %d: %lld vs %lld", i, (long long)c2[i], (long long)ref[i]);
    }
    ck_assert_int_eq(sum, N);
    ck_assert(ref[0] > 0 && ref[10] > 0);
    free(xr);
}
END_TEST

/* reference prune: entry p kept iff fewer than m entries rank before it (larger |x|, or equal and earlier) */
static void prune_reference(const double *x, int n, double density, double *out)
{
    int m = (int)floor(density * n * (1.0 + 1e-12));
    for (int p = 0; p < n; p++) {
        int before = 0;
        for (int q = 0; q < n; q++)
            before += fabs(x[q]) > fabs(x[p]) || (fabs(x[q]) == fabs(x[p]) && q < p);
        out[p] = before < m ? x[p] : 0.0;
    }
}

START_TEST(prune_density_hand_and_reference)
{
    const double x[6] = {3, -1, 2, -3, 0.5, 2};
    double out[6];
    int64_t kept = -1;
    RUN(lsc_factor_prune_density(x, 6, 0.5, out, &kept, &err));
    const double want[6] = {3, 0, 2, -3, 0, 0}; /* the tie at |2| goes to the earlier entry */
    ck_assert(kept == 3 && memcmp(out, want, sizeof want) == 0);
    RUN(lsc_factor_prune_density(x, 6, 0.0, out, &kept, &err));
    ck_assert(kept == 0 && out[0] == 0.0 && out[3] == 0.0);
    RUN(lsc_factor_prune_density(x, 6, 1.0, out, &kept, &err));
    ck_assert(kept == 6 && memcmp(out, x, sizeof out) == 0);
    const double ones[4] = {1, -1, 1, 1};
    RUN(lsc_factor_prune_density(ones, 4, 0.5, out, &kept, &err));
    ck_assert(out[0] == 1 && out[1] == -1 && out[2] == 0 && out[3] == 0);
    /* floor(0.29 * 100) is 29, not the 28 that 0.29 * 100 = 28.999999999999996 would give */
    double *h = zeros(100);
    for (int i = 0; i < 100; i++)
        h[i] = i + 1;
    RUN(lsc_factor_prune_density(h, 100, 0.29, h, &kept, &err)); /* in place */
    ck_assert(kept == 29 && h[71] == 72 && h[70] == 0.0);
    free(h);

    rng_state = 0x50A3;
    for (int trial = 0; trial < 40; trial++) {
        const int n = rand_int(1, 120);
        double *v = zeros(n), *o = zeros(n), *r = zeros(n);
        for (int i = 0; i < n; i++) /* few levels: many ties, zeros included */
            v[i] = (double)rand_int(-4, 4) * (trial % 3 ? 1.0 : 0.37);
        const double d = uniform01();
        RUN(lsc_factor_prune_density(v, n, d, o, NULL, &err));
        prune_reference(v, n, d, r);
        ck_assert_msg(memcmp(o, r, sizeof(double) * n) == 0, "trial %d n %d density %g", trial, n, d);
        free(v);
        free(o);
        free(r);
    }
}
END_TEST

START_TEST(sparse_prune_layer_matches_dense)
{
    rng_state = 0x50A4;
    const int rows = 9, cols = 7, r = 4;
    double *B = gauss_matrix(rows * r), *A = gauss_matrix(r * cols), *Bo = zeros(rows * r), *Ao = zeros(r * cols);
    lsc_lowrank lr = {.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = -0.6};
    double rel = -1;
    RUN(lsc_sparse_prune_layer(&lr, 0.5, 0.75, ws, Bo, Ao, &rel, &err));
    double *d = dense(&lr), *dp = dense_of(Bo, Ao, rows, cols, r, lr.scale);
    const double want = fro_diff(d, dp, rows * cols) / fro(d, rows * cols);
    ck_assert_msg(close_rel(rel, want, 1e-12), "%.17g vs %.17g", rel, want);
    ck_assert(rel > 0.05);
    int nz = 0;
    for (int i = 0; i < rows * r; i++)
        nz += Bo[i] != 0.0;
    ck_assert_int_eq(nz, 18);
    RUN(lsc_sparse_prune_layer(&lr, 1.0, 1.0, ws, Bo, Ao, &rel, &err));
    ck_assert(rel < 1e-15 && memcmp(Bo, B, sizeof(double) * rows * r) == 0);
    free(d);
    free(dp);

    /* rel_change on its own: a zero reference */
    double *Z = zeros(rows * r);
    lsc_lowrank zero = {.rows = rows, .cols = cols, .r = r, .B = Z, .A = A, .scale = 1.0};
    RUN(lsc_kinds_rel_change(&zero, &lr, ws, &rel, &err));
    ck_assert(isinf(rel));
    RUN(lsc_kinds_rel_change(&zero, &zero, ws, &rel, &err));
    ck_assert(rel == 0.0);
    double nrm;
    RUN(lsc_kinds_fro_norm(&lr, ws, &nrm, &err));
    d = dense(&lr);
    ck_assert(close_rel(nrm, fro(d, rows * cols), 1e-13));
    free(d);
    free(Z);
    free(B);
    free(A);
    free(Bo);
    free(Ao);
}
END_TEST

START_TEST(sparse_rejections)
{
    double g[2] = {1, 2}, out[4], B[4] = {1, 2, 3, 4}, A[4] = {1, 2, 3, 4};
    int live, k;
    int64_t counts[4] = {0};
    double zf, nf;
    EXPECT(LSC_ERR_INVALID, lsc_sora_threshold(g, 2, -0.1, out, &live, &err));
    EXPECT(LSC_ERR_INVALID, lsc_sora_threshold(g, 2, NAN, out, &live, &err));
    EXPECT(LSC_ERR_INVALID, lsc_sora_threshold(g, 2, INFINITY, out, &live, &err));
    EXPECT(LSC_ERR_INVALID, lsc_sora_threshold(g, -1, 0.1, out, &live, &err));
    EXPECT(LSC_ERR_INVALID, lsc_sora_threshold(NULL, 2, 0.1, out, &live, &err));
    EXPECT(LSC_ERR_INVALID, lsc_sora_fold(B, g, -2, 2, out, &err));
    EXPECT(LSC_ERR_INVALID, lsc_sora_compact(B, g, A, 2, 2, 2, NULL, out, out, &k, &err));
    EXPECT(LSC_ERR_INVALID, lsc_magnitude_histogram(B, 4, 0, -3, 0, counts, &err));
    EXPECT(LSC_ERR_INVALID, lsc_magnitude_histogram(B, 4, 2, 0, 0, counts, &err));
    EXPECT(LSC_ERR_INVALID, lsc_magnitude_histogram(B, 4, 2, NAN, 0, counts, &err));
    EXPECT(LSC_ERR_INVALID, lsc_factor_prune_density(B, 4, 1.5, out, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_factor_prune_density(B, 4, NAN, out, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_factor_prune_density(B, -4, 0.5, out, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_factor_sparsity(B, 4, NULL, &nf, &err));
    g[1] = NAN;
    EXPECT(LSC_ERR_NUMERIC, lsc_sora_threshold(g, 2, 0.1, out, &live, &err));
    EXPECT(LSC_ERR_NUMERIC, lsc_sora_fold(B, g, 2, 2, out, &err));
    EXPECT(LSC_ERR_NUMERIC, lsc_sora_compact(B, g, A, 2, 2, 2, out, out, out, &k, &err));
    B[2] = -INFINITY;
    EXPECT(LSC_ERR_NUMERIC, lsc_factor_sparsity(B, 4, &zf, &nf, &err));
    EXPECT(LSC_ERR_NUMERIC, lsc_magnitude_histogram(B, 4, 2, -3, 0, counts, &err));
    ck_assert(counts[0] == 0 && counts[3] == 0); /* untouched */
    EXPECT(LSC_ERR_NUMERIC, lsc_factor_prune_density(B, 4, 0.5, out, NULL, &err));
    double Bo[4], Ao[4], rel;
    lsc_lowrank lr = {.rows = 2, .cols = 2, .r = 2, .B = B, .A = A, .scale = 1.0};
    EXPECT(LSC_ERR_NUMERIC, lsc_sparse_prune_layer(&lr, 0.5, 0.5, ws, Bo, Ao, &rel, &err));
    B[2] = 3;
    EXPECT(LSC_ERR_INVALID, lsc_sparse_prune_layer(&lr, 2.0, 0.5, ws, Bo, Ao, &rel, &err));
    lsc_lowrank other = {.rows = 2, .cols = 3, .r = 1, .B = B, .A = A, .scale = 1.0};
    EXPECT(LSC_ERR_INVALID, lsc_kinds_rel_change(&lr, &other, ws, &rel, &err));
    other = lr;
    other.scale = NAN;
    EXPECT(LSC_ERR_NUMERIC, lsc_kinds_rel_change(&lr, &other, ws, &rel, &err));
}
END_TEST

/* ---- multi-task --------------------------------------------------------------------------------- */

typedef struct task_set {
    int T;
    lsc_lowrank v[6];
    double *own[12];
    int n_own;
} task_set;

static double *task_own(task_set *ts, double *p)
{
    ts->own[ts->n_own++] = p;
    return p;
}

static void task_set_free(task_set *ts)
{
    for (int i = 0; i < ts->n_own; i++)
        free(ts->own[i]);
    ts->n_own = 0;
}

static void random_tasks(task_set *ts, int T, int rows, int cols, const int *ranks)
{
    memset(ts, 0, sizeof *ts);
    ts->T = T;
    for (int t = 0; t < T; t++) {
        double *B = task_own(ts, gauss_matrix((size_t)rows * ranks[t]));
        double *A = task_own(ts, gauss_matrix((size_t)ranks[t] * cols));
        ts->v[t] = (lsc_lowrank){.rows = rows, .cols = cols, .r = ranks[t], .B = B, .A = A, .scale = 0.5 + t};
    }
}

/* a task whose input subspace is exactly span{q[:, dirs[i]]} (q [cols, nq] orthonormal columns) */
static void task_on_dirs(task_set *ts, int t, int rows, int cols, const double *q, int nq, const int *dirs, int r)
{
    double *M = gauss_matrix((size_t)r * r);
    double *A = task_own(ts, zeros((size_t)r * cols));
    for (int i = 0; i < r; i++)
        for (int j = 0; j < cols; j++) {
            double acc = 0.0;
            for (int l = 0; l < r; l++)
                acc += M[i * r + l] * q[j * nq + dirs[l]];
            A[i * cols + j] = acc;
        }
    free(M);
    double *B = task_own(ts, gauss_matrix((size_t)rows * r));
    ts->v[t] = (lsc_lowrank){.rows = rows, .cols = cols, .r = r, .B = B, .A = A, .scale = 1.0 + 0.5 * t};
    if (t + 1 > ts->T)
        ts->T = t + 1;
}

START_TEST(tasks_cosines_match_dense)
{
    rng_state = 0x7A51;
    const int ranks[4] = {1, 3, 2, 4};
    task_set a, b;
    random_tasks(&a, 4, 8, 10, ranks);
    random_tasks(&b, 4, 5, 6, ranks);
    /* make task 2 of layer a close to task 0 so that a cosine is far from 0 */
    for (int i = 0; i < 8; i++) {
        ((double *)a.v[2].B)[i * 2] = a.v[0].B[i];
        ((double *)a.v[2].B)[i * 2 + 1] *= 0.1;
    }
    memcpy((double *)a.v[2].A, a.v[0].A, sizeof(double) * 10);
    double C[16], norms[4], G[16] = {0};
    RUN(lsc_tasks_cosine_matrix(a.v, 4, ws, C, norms, &err));
    double *da[4], *db[4];
    for (int t = 0; t < 4; t++) {
        da[t] = dense(&a.v[t]);
        db[t] = dense(&b.v[t]);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert(close_rel(norms[i], fro(da[i], 80), 1e-13));
        for (int j = 0; j < 4; j++) {
            double c = dot(da[i], da[j], 80) / (fro(da[i], 80) * fro(da[j], 80));
            ck_assert_msg(fabs(C[i * 4 + j] - c) < 1e-13, "C[%d][%d] %.17g vs %.17g", i, j, C[i * 4 + j], c);
        }
    }
    ck_assert(C[0 * 4 + 2] > 0.3);
    /* over two layers of different shapes: the cosines of the concatenated task vectors */
    RUN(lsc_tasks_accumulate(a.v, 4, ws, G, &err));
    RUN(lsc_tasks_accumulate(b.v, 4, ws, G, &err));
    RUN(lsc_tasks_cosine_from_gram(G, 4, C, norms, &err));
    for (int i = 0; i < 4; i++) {
        ck_assert(close_rel(norms[i], sqrt(dot(da[i], da[i], 80) + dot(db[i], db[i], 30)), 1e-13));
        for (int j = 0; j < 4; j++) {
            double in = dot(da[i], da[j], 80) + dot(db[i], db[j], 30);
            double c = in / sqrt((dot(da[i], da[i], 80) + dot(db[i], db[i], 30)) *
                                 (dot(da[j], da[j], 80) + dot(db[j], db[j], 30)));
            ck_assert_msg(fabs(C[i * 4 + j] - c) < 1e-13, "overall C[%d][%d]", i, j);
            ck_assert(fabs(G[i * 4 + j] - in) < 1e-12 * (1 + fabs(in)));
        }
    }
    for (int t = 0; t < 4; t++) {
        free(da[t]);
        free(db[t]);
    }
    /* a zero task: 1 with itself, 0 with the others */
    memset((double *)a.v[1].B, 0, sizeof(double) * 8 * 3);
    RUN(lsc_tasks_cosine_matrix(a.v, 4, ws, C, NULL, &err));
    ck_assert(C[1 * 4 + 1] == 1.0 && C[1 * 4 + 0] == 0.0 && C[3 * 4 + 1] == 0.0);
    task_set_free(&a);
    task_set_free(&b);
}
END_TEST

/* dense reference for T = 2: singular values of V1^T V2 over the carrying right singular vectors */
static int dense_shared_cosines(const lsc_lowrank *x, const lsc_lowrank *y, double *c)
{
    const int rows = (int)x->rows, cols = (int)x->cols, k = rows < cols ? rows : cols;
    double *d1 = dense(x), *d2 = dense(y), *vt1, *vt2;
    double *s1 = dense_sv(d1, rows, cols, &vt1), *s2 = dense_sv(d2, rows, cols, &vt2);
    int k1 = 0, k2 = 0;
    while (k1 < k && s1[k1] > 1e-10 * s1[0])
        k1++;
    while (k2 < k && s2[k2] > 1e-10 * s2[0])
        k2++;
    double *m = zeros((size_t)k1 * k2);
    for (int a = 0; a < k1; a++)
        for (int b = 0; b < k2; b++)
            m[a * k2 + b] = dot(vt1 + a * cols, vt2 + b * cols, cols);
    double *sv = dense_sv(m, k1, k2, NULL);
    const int n = k1 < k2 ? k1 : k2;
    memcpy(c, sv, sizeof(double) * n);
    free(sv);
    free(m);
    free(d1);
    free(d2);
    free(s1);
    free(s2);
    free(vt1);
    free(vt2);
    return n;
}

START_TEST(tasks_shared_dimension)
{
    rng_state = 0x7A52;
    const int rows = 7, cols = 12;
    double *q = orthonormal(cols, 6);
    task_set ts = {0};
    const int d1[3] = {0, 1, 2}, d2[4] = {0, 1, 3, 4}, d3[3] = {0, 5, 4};
    task_on_dirs(&ts, 0, rows, cols, q, 6, d1, 3);
    task_on_dirs(&ts, 1, rows, cols, q, 6, d2, 4);
    task_on_dirs(&ts, 2, rows, cols, q, 6, d3, 3);
    int dim = -1;
    double cos_out[3], ref[3];
    RUN(lsc_tasks_shared_dim(ts.v, 2, 0.99, ws, &dim, cos_out, &err));
    ck_assert_int_eq(dim, 2);
    ck_assert(fabs(cos_out[0] - 1) < 1e-12 && fabs(cos_out[1] - 1) < 1e-12 && cos_out[2] < 1e-12);
    ck_assert_int_eq(dense_shared_cosines(&ts.v[0], &ts.v[1], ref), 3);
    for (int i = 0; i < 3; i++)
        ck_assert(fabs(cos_out[i] - ref[i]) < 1e-10);
    RUN(lsc_tasks_shared_dim(ts.v, 2, 1.0, ws, &dim, NULL, &err)); /* exactly shared survive tau = 1 */
    ck_assert_int_eq(dim, 2);
    /* three tasks share only q0, in any order */
    RUN(lsc_tasks_shared_dim(ts.v, 3, 0.99, ws, &dim, cos_out, &err));
    ck_assert_int_eq(dim, 1);
    ck_assert(fabs(cos_out[0] - 1) < 1e-12 && cos_out[1] < 1e-12);
    lsc_lowrank perm[3] = {ts.v[2], ts.v[0], ts.v[1]};
    RUN(lsc_tasks_shared_dim(perm, 3, 0.99, ws, &dim, NULL, &err));
    ck_assert_int_eq(dim, 1);
    lsc_lowrank perm2[3] = {ts.v[1], ts.v[2], ts.v[0]};
    RUN(lsc_tasks_shared_dim(perm2, 3, 0.99, ws, &dim, NULL, &err));
    ck_assert_int_eq(dim, 1);

    /* a nearly shared direction: cos 0.995 counts at tau 0.99, not at 0.999 */
    task_set near = {0};
    const double c = 0.995, s = sqrt(1 - c * c);
    double *q2 = zeros((size_t)cols * 6);
    memcpy(q2, q, sizeof(double) * cols * 6);
    for (int j = 0; j < cols; j++) /* column 1 becomes c q1 + s q5 */
        q2[j * 6 + 1] = c * q[j * 6 + 1] + s * q[j * 6 + 5];
    task_on_dirs(&near, 0, rows, cols, q, 6, d1, 3);
    task_on_dirs(&near, 1, rows, cols, q2, 6, d2, 4);
    RUN(lsc_tasks_shared_dim(near.v, 2, 0.99, ws, &dim, cos_out, &err));
    ck_assert_int_eq(dim, 2);
    ck_assert(fabs(cos_out[1] - c) < 1e-12);
    RUN(lsc_tasks_shared_dim(near.v, 2, 0.999, ws, &dim, NULL, &err));
    ck_assert_int_eq(dim, 1);
    /* a third task on q0, q1, q2: the averaged direction (q1 + q1') / |.| sits at half the angle from q1,
     * cosine sqrt((1 + c) / 2) */
    task_on_dirs(&near, 2, rows, cols, q, 6, d1, 3);
    RUN(lsc_tasks_shared_dim(near.v, 3, 0.99, ws, &dim, cos_out, &err));
    ck_assert_int_eq(dim, 2);
    ck_assert(fabs(cos_out[0] - 1) < 1e-12);
    ck_assert_msg(fabs(cos_out[1] - sqrt((1 + c) / 2)) < 1e-12, "%.17g", cos_out[1]);

    /* unrelated random tasks in a large input space share nothing */
    task_set un;
    const int ranks[2] = {3, 3};
    random_tasks(&un, 2, 10, 80, ranks);
    RUN(lsc_tasks_shared_dim(un.v, 2, 0.99, ws, &dim, cos_out, &err));
    ck_assert_int_eq(dim, 0);
    ck_assert_int_eq(dense_shared_cosines(&un.v[0], &un.v[1], ref), 3);
    for (int i = 0; i < 3; i++)
        ck_assert(fabs(cos_out[i] - ref[i]) < 1e-10);
    ck_assert(cos_out[0] < 0.9);
    /* a zero task spans nothing */
    memset((double *)un.v[1].B, 0, sizeof(double) * 10 * 3);
    RUN(lsc_tasks_shared_dim(un.v, 2, 0.5, ws, &dim, cos_out, &err));
    ck_assert(dim == 0 && cos_out[0] == 0.0);
    free(q);
    free(q2);
    task_set_free(&ts);
    task_set_free(&near);
    task_set_free(&un);
}
END_TEST

/* check factor_shared against a dense stack SVD: B_t A_shared must equal dW_t V_k V_k^T */
static void check_factor_shared(const lsc_lowrank *v, int T, int k, double tol)
{
    const int rows = (int)v[0].rows, cols = (int)v[0].cols;
    double *As = zeros((size_t)k * cols), *Bt[6], rel[6];
    for (int t = 0; t < T; t++)
        Bt[t] = zeros((size_t)rows * k);
    RUN(lsc_tasks_factor_shared(v, T, k, ws, As, Bt, rel, &err));
    for (int i = 0; i < k; i++) /* orthonormal rows */
        for (int j = 0; j < k; j++)
            ck_assert(fabs(dot(As + i * cols, As + j * cols, cols) - (i == j)) < 1e-12);
    double *stack = zeros((size_t)T * rows * cols), *vt;
    for (int t = 0; t < T; t++) {
        double *d = dense(&v[t]);
        memcpy(stack + (size_t)t * rows * cols, d, sizeof(double) * rows * cols);
        free(d);
    }
    double *sv = dense_sv(stack, T * rows, cols, &vt);
    for (int t = 0; t < T; t++) {
        const double *d = stack + (size_t)t * rows * cols;
        double *proj = zeros((size_t)rows * cols), *approx = dense_of(Bt[t], As, rows, cols, k, 1.0);
        for (int i = 0; i < rows; i++) /* dW_t V_k V_k^T */
            for (int l = 0; l < k; l++) {
                double x = dot(d + i * cols, vt + l * cols, cols);
                for (int j = 0; j < cols; j++)
                    proj[i * cols + j] += x * vt[l * cols + j];
            }
        const double nt = fro(d, rows * cols);
        ck_assert_msg(fro_diff(approx, proj, rows * cols) <= 1e-10 * nt, "task %d: B A_shared is not the projection",
                      t);
        const double want = fro_diff(d, proj, rows * cols) / nt;
        ck_assert_msg(fabs(rel[t] - want) <= tol, "task %d: rel_err %.17g vs %.17g", t, rel[t], want);
        free(proj);
        free(approx);
    }
    free(sv);
    free(vt);
    free(stack);
    free(As);
    for (int t = 0; t < T; t++)
        free(Bt[t]);
}

START_TEST(tasks_factor_shared)
{
    rng_state = 0x7A53;
    const int ranks[3] = {2, 1, 3};
    task_set ts;
    random_tasks(&ts, 3, 7, 9, ranks);
    ck_assert_int_eq(lsc_tasks_shared_max_k(ts.v, 3), 6);
    for (int k = 1; k <= 6; k++)
        check_factor_shared(ts.v, 3, k, 1e-10);
    /* at the rank of the union it is exact */
    double As[6 * 9], *Bt[3], rel[3];
    for (int t = 0; t < 3; t++)
        Bt[t] = zeros(7 * 6);
    RUN(lsc_tasks_factor_shared(ts.v, 3, 6, ws, As, Bt, rel, &err));
    for (int t = 0; t < 3; t++) {
        ck_assert_msg(rel[t] < 1e-13, "task %d: %g", t, rel[t]);
        double *d = dense(&ts.v[t]), *ap = dense_of(Bt[t], As, 7, 9, 6, 1.0);
        ck_assert(fro_diff(d, ap, 63) <= 1e-13 * fro(d, 63));
        free(d);
        free(ap);
    }
    RUN(lsc_tasks_factor_shared(ts.v, 3, 2, ws, As, Bt, rel, &err));
    ck_assert(rel[0] > 1e-3 || rel[1] > 1e-3 || rel[2] > 1e-3); /* not everything fits in 2 */
    for (int t = 0; t < 3; t++)
        free(Bt[t]);
    task_set_free(&ts);

    /* HydraLoRA-style: one A for every task; k = r recovers each task exactly */
    task_set hy;
    const int r3[3] = {3, 3, 3};
    random_tasks(&hy, 3, 6, 10, r3);
    hy.v[1].A = hy.v[0].A;
    hy.v[2].A = hy.v[0].A;
    double Ah[3 * 10], *Bh[3], relh[3];
    for (int t = 0; t < 3; t++)
        Bh[t] = zeros(6 * 3);
    RUN(lsc_tasks_factor_shared(hy.v, 3, 3, ws, Ah, Bh, relh, &err));
    for (int t = 0; t < 3; t++)
        ck_assert_msg(relh[t] < 1e-13, "task %d: %g", t, relh[t]);
    for (int t = 0; t < 3; t++)
        free(Bh[t]);
    task_set_free(&hy);

    /* a task of rank 0 gets a zero B and error 0; the others are unaffected */
    task_set z;
    const int rz[3] = {2, 0, 3};
    random_tasks(&z, 3, 5, 8, rz);
    ck_assert_int_eq(lsc_tasks_shared_max_k(z.v, 3), 5);
    double Az[5 * 8], *Bz[3], relz[3];
    for (int t = 0; t < 3; t++) {
        Bz[t] = zeros(5 * 5);
        for (int i = 0; i < 25; i++)
            Bz[t][i] = 7.0;
    }
    RUN(lsc_tasks_factor_shared(z.v, 3, 5, ws, Az, Bz, relz, &err));
    for (int i = 0; i < 25; i++)
        ck_assert(Bz[1][i] == 0.0);
    ck_assert(relz[1] == 0.0 && relz[0] < 1e-13 && relz[2] < 1e-13);
    for (int t = 0; t < 3; t++)
        free(Bz[t]);
    task_set_free(&z);

    /* fewer rows than ranks: each task spans at most 2 output rows */
    task_set thin;
    const int r2[2] = {3, 4};
    random_tasks(&thin, 2, 2, 9, r2);
    ck_assert_int_eq(lsc_tasks_shared_max_k(thin.v, 2), 4);
    for (int k = 1; k <= 4; k++)
        check_factor_shared(thin.v, 2, k, 1e-10);
    task_set_free(&thin);
}
END_TEST

START_TEST(tasks_rejections)
{
    rng_state = 0x7A54;
    const int ranks[3] = {2, 2, 2};
    task_set ts;
    random_tasks(&ts, 3, 4, 5, ranks);
    double C[9], G[9] = {0}, As[2 * 5], *Bt[3], Bbuf[3][8];
    int dim;
    for (int t = 0; t < 3; t++)
        Bt[t] = Bbuf[t];
    EXPECT(LSC_ERR_INVALID, lsc_tasks_cosine_matrix(ts.v, 1, ws, C, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_accumulate(ts.v, 1, ws, G, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_shared_dim(ts.v, 1, 0.99, ws, &dim, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_factor_shared(ts.v, 1, 1, ws, As, Bt, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_cosine_from_gram(G, 1, C, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_shared_dim(ts.v, 3, 0.0, ws, &dim, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_shared_dim(ts.v, 3, 1.5, ws, &dim, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_shared_dim(ts.v, 3, NAN, ws, &dim, NULL, &err));
    ck_assert_int_eq(lsc_tasks_shared_max_k(ts.v, 3), 5);
    EXPECT(LSC_ERR_INVALID, lsc_tasks_factor_shared(ts.v, 3, 0, ws, As, Bt, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_factor_shared(ts.v, 3, 6, ws, As, Bt, NULL, &err));
    Bt[2] = NULL;
    EXPECT(LSC_ERR_INVALID, lsc_tasks_factor_shared(ts.v, 3, 1, ws, As, Bt, NULL, &err));
    Bt[2] = Bbuf[2];
    lsc_lowrank mism[3] = {ts.v[0], ts.v[1], ts.v[2]};
    mism[2].cols = 6;
    EXPECT(LSC_ERR_INVALID, lsc_tasks_cosine_matrix(mism, 3, ws, C, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_shared_dim(mism, 3, 0.9, ws, &dim, NULL, &err));
    EXPECT(LSC_ERR_INVALID, lsc_tasks_factor_shared(mism, 3, 1, ws, As, Bt, NULL, &err));
    ck_assert_int_eq(lsc_tasks_shared_max_k(mism, 3), 0);
    mism[2] = ts.v[2];
    mism[2].A = NULL;
    EXPECT(LSC_ERR_INVALID, lsc_tasks_accumulate(mism, 3, ws, G, &err));
    ((double *)ts.v[1].A)[3] = NAN;
    EXPECT(LSC_ERR_NUMERIC, lsc_tasks_accumulate(ts.v, 3, ws, G, &err));
    for (int i = 0; i < 9; i++)
        ck_assert(G[i] == 0.0); /* untouched */
    EXPECT(LSC_ERR_NUMERIC, lsc_tasks_cosine_matrix(ts.v, 3, ws, C, NULL, &err));
    EXPECT(LSC_ERR_NUMERIC, lsc_tasks_shared_dim(ts.v, 3, 0.9, ws, &dim, NULL, &err));
    EXPECT(LSC_ERR_NUMERIC, lsc_tasks_factor_shared(ts.v, 3, 1, ws, As, Bt, NULL, &err));
    ((double *)ts.v[1].A)[3] = 1.0;
    ts.v[0].scale = INFINITY;
    EXPECT(LSC_ERR_NUMERIC, lsc_tasks_accumulate(ts.v, 3, ws, G, &err));
    EXPECT(LSC_ERR_NUMERIC, lsc_tasks_factor_shared(ts.v, 3, 1, ws, As, Bt, NULL, &err));
    double bad[4] = {1, 0, 0, -1};
    EXPECT(LSC_ERR_NUMERIC, lsc_tasks_cosine_from_gram(bad, 2, C, NULL, &err));
    bad[3] = NAN;
    EXPECT(LSC_ERR_NUMERIC, lsc_tasks_cosine_from_gram(bad, 2, C, NULL, &err));
    task_set_free(&ts);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kinds");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, dylora_matches_dense);
    tcase_add_test(tc, dylora_hand_worked);
    tcase_add_test(tc, dylora_nested_layers);
    tcase_add_test(tc, dylora_zero_layers);
    tcase_add_test(tc, dylora_prefix_adapter);
    tcase_add_test(tc, dylora_rejections);
    tcase_add_test(tc, adalora_importance_matches_dense);
    tcase_add_test(tc, adalora_rebudget_hand_built);
    tcase_add_test(tc, adalora_rebudget_matches_rank_count);
    tcase_add_test(tc, adalora_mask_orthogonality_view);
    tcase_add_test(tc, adalora_rejections);
    tcase_add_test(tc, sora_threshold_hand_picked);
    tcase_add_test(tc, sora_fold_and_compact_keep_the_delta);
    tcase_add_test(tc, factor_sparsity_and_histogram);
    tcase_add_test(tc, prune_density_hand_and_reference);
    tcase_add_test(tc, sparse_prune_layer_matches_dense);
    tcase_add_test(tc, sparse_rejections);
    tcase_add_test(tc, tasks_cosines_match_dense);
    tcase_add_test(tc, tasks_shared_dimension);
    tcase_add_test(tc, tasks_factor_shared);
    tcase_add_test(tc, tasks_rejections);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
