/* check-train.c: the retrain engine against independent dense computations on small shapes.
 *
 * References are formed here with plain loops: the dense target T, the error E = T - s M A, the loss
 * trace(E C E^T) and its gradients -2 s (E C) A^T and -2 s M^T (E C); optima from LAPACKE dgesdd/dsyev of
 * T (or T C^{1/2}). Training runs use fixed seeds and fixed schedules and assert outcomes against those
 * optima: static within 1%, multi-task within 1% of the stacked optimum, DyLoRA prefixes within 1.5x,
 * AdaLoRA exactly bT triplets, SoRA drops gates. Every rejection path gets an input that triggers it.
 * Fixed-seed test data from the shared stream (test_rng.h over engine/rng.h), so the inputs never change.
 */
#include <check.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_rng.h"
#include "train.h"

void openblas_set_num_threads(int);

#define PI_D 3.14159265358979323846

/* ---- helpers ---- */

static double *xmalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    ck_assert_ptr_nonnull(p);
    return p;
}

static double *gauss_matrix_scaled(size_t n, double sigma)
{
    double *m = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        m[i] = sigma * gauss();
    return m;
}

/* Q [n, r] row-major with orthonormal columns (Gram-Schmidt twice on Gaussian columns) */
static double *orthonormal_cols(int n, int r)
{
    double *q = gauss_matrix_scaled((size_t)n * r, 1.0);
    for (int j = 0; j < r; j++)
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < j; i++) {
                double d = 0.0;
                for (int x = 0; x < n; x++)
                    d += q[x * r + i] * q[x * r + j];
                for (int x = 0; x < n; x++)
                    q[x * r + j] -= d * q[x * r + i];
            }
            double nn = 0.0;
            for (int x = 0; x < n; x++)
                nn += q[x * r + j] * q[x * r + j];
            for (int x = 0; x < n; x++)
                q[x * r + j] /= sqrt(nn);
        }
    return q;
}

/* factors of a target with the given singular values: B_t = U diag(sv) [rows, r], A_t = V^T [r, cols] */
typedef struct tgt {
    double *B, *A;
    int r;
} tgt;

static tgt make_target(int rows, int cols, const double *sv, int r)
{
    tgt t = {.r = r};
    t.B = orthonormal_cols(rows, r);
    double *v = orthonormal_cols(cols, r);
    t.A = xmalloc((size_t)r * cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < r; j++)
            t.B[i * r + j] *= sv[j];
    for (int j = 0; j < r; j++)
        for (int c = 0; c < cols; c++)
            t.A[j * cols + c] = v[c * r + j];
    free(v);
    return t;
}

static void free_target(tgt *t)
{
    free(t->B);
    free(t->A);
}

/* dense out [m, n] = s * X [m, q] Y [q, n] */
static void matmul(int m, int q, int n, double s, const double *X, const double *Y, double *out)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int l = 0; l < q; l++)
                acc += X[i * q + l] * Y[l * n + j];
            out[i * n + j] = s * acc;
        }
}

/* dense target of problem task m */
static double *dense_target(const lsc_train_problem *p, int m)
{
    const int rows = (int)p->rows, cols = (int)p->cols;
    double *T = xmalloc((size_t)rows * cols);
    const lsc_train_target *t = &p->targets[m];
    if (t->T)
        memcpy(T, t->T, sizeof(double) * rows * cols);
    else if (t->lr.r > 0)
        matmul(rows, t->lr.r, cols, t->lr.scale, t->lr.B, t->lr.A, T);
    return T;
}

/* dense C of the problem (identity when isotropic) */
static double *dense_c(const lsc_train_problem *p)
{
    const int cols = (int)p->cols;
    double *C = xmalloc((size_t)cols * cols);
    if (p->C)
        memcpy(C, p->C, sizeof(double) * cols * cols);
    else if (p->X)
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++) {
                double acc = 0.0;
                for (int n = 0; n < p->n_samples; n++)
                    acc += p->X[n * cols + i] * p->X[n * cols + j];
                C[i * cols + j] = acc / (double)p->n_samples;
            }
    else
        for (int i = 0; i < cols; i++)
            C[i * cols + i] = 1.0;
    return C;
}

/* Dense loss and gradients of dW_m = s B_m[:, :b] diag(d) A[:b, :] (d NULL: ones), all tasks. */
static double dense_loss_grad(const lsc_train_problem *p, const double *B, const double *A, const double *d, int b,
                              double s, double *gB, double *gA, double *gd)
{
    const int rows = (int)p->rows, cols = (int)p->cols, k = p->k;
    double *C = dense_c(p), *E = xmalloc((size_t)rows * cols), *EC = xmalloc((size_t)rows * cols);
    double loss = 0.0;
    if (gA)
        memset(gA, 0, sizeof(double) * k * cols);
    if (gd)
        memset(gd, 0, sizeof(double) * k);
    for (int m = 0; m < p->n_tasks; m++) {
        const double *Bm = B + (size_t)m * rows * k;
        double *T = dense_target(p, m);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                double acc = 0.0;
                for (int l = 0; l < b; l++)
                    acc += Bm[i * k + l] * (d ? d[l] : 1.0) * A[l * cols + j];
                E[i * cols + j] = T[i * cols + j] - s * acc;
            }
        matmul(rows, cols, cols, 1.0, E, C, EC);
        for (int i = 0; i < rows * cols; i++)
            loss += E[i] * EC[i];
        for (int i = 0; i < rows; i++)
            for (int l = 0; l < k; l++) {
                double gm = 0.0;
                if (l < b)
                    for (int j = 0; j < cols; j++)
                        gm += -2.0 * s * EC[i * cols + j] * A[l * cols + j];
                if (gB)
                    gB[(size_t)m * rows * k + i * k + l] = gm * (d ? d[l] : 1.0);
                if (gd)
                    gd[l] += gm * Bm[i * k + l];
            }
        if (gA)
            for (int l = 0; l < b; l++)
                for (int j = 0; j < cols; j++) {
                    double acc = 0.0;
                    for (int i = 0; i < rows; i++)
                        acc += Bm[i * k + l] * (d ? d[l] : 1.0) * EC[i * cols + j];
                    gA[l * cols + j] += -2.0 * s * acc;
                }
        free(T);
    }
    free(C);
    free(E);
    free(EC);
    return loss;
}

/* singular values of a dense row-major [m, n] matrix (copied), min(m, n) of them */
static double *dense_sv(const double *M, int m, int n)
{
    double *a = xmalloc((size_t)m * n), *s = xmalloc((size_t)(m < n ? m : n));
    memcpy(a, M, sizeof(double) * m * n);
    /* the row-major [m, n] buffer is the column-major transpose: same singular values */
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', n, m, a, n, s, NULL, 1, NULL, 1);
    ck_assert_int_eq(info, 0);
    free(a);
    return s;
}

/* independent optimum: stack T_m C^{1/2} (C^{1/2} from dsyev), dense SVD, tail of squares */
static double dense_optimum(const lsc_train_problem *p, int k)
{
    const int rows = (int)p->rows, cols = (int)p->cols, nt = p->n_tasks;
    double *C = dense_c(p), *ev = xmalloc((size_t)cols), *half = xmalloc((size_t)cols * cols);
    ck_assert_int_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', cols, C, cols, ev), 0);
    for (int i = 0; i < cols; i++)
        for (int j = 0; j < cols; j++) {
            double acc = 0.0;
            for (int q = 0; q < cols; q++)
                acc += C[i * cols + q] * sqrt(fmax(ev[q], 0.0)) * C[j * cols + q];
            half[i * cols + j] = acc;
        }
    double *Z = xmalloc((size_t)nt * rows * cols);
    for (int m = 0; m < nt; m++) {
        double *T = dense_target(p, m);
        matmul(rows, cols, cols, 1.0, T, half, Z + (size_t)m * rows * cols);
        free(T);
    }
    int mn = nt * rows < cols ? nt * rows : cols;
    double *s = dense_sv(Z, nt * rows, cols), tail = 0.0;
    for (int i = k; i < mn; i++)
        tail += s[i] * s[i];
    free(C);
    free(ev);
    free(half);
    free(Z);
    free(s);
    return tail;
}

static double max_abs_diff(const double *x, const double *y, size_t n, double *scale)
{
    double d = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs(x[i] - y[i]));
        s = fmax(s, fabs(y[i]));
    }
    if (scale)
        *scale = s;
    return d;
}

/* a random symmetric PSD C [n, n] = G G^T / n + 0.1 I with a spread of eigenvalues */
static double *make_c(int n)
{
    double *g = gauss_matrix_scaled((size_t)n * n, 1.0), *c = xmalloc((size_t)n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int q = 0; q < n; q++)
                acc += g[i * n + q] * g[j * n + q] * (1.0 + 3.0 * q / n);
            c[i * n + j] = acc / n + (i == j ? 0.1 : 0.0);
        }
    free(g);
    return c;
}

/* ---- a test fixture: a problem with its own buffers ---- */

enum { CAL_ISO, CAL_C, CAL_X };

typedef struct fixture {
    lsc_train_problem p;
    lsc_train_target tg[3];
    tgt t[3];
    double *dense[3];
    double *C, *X;
} fixture;

static void fixture_make(fixture *f, int rows, int cols, int k, double s, int n_tasks, int dense, int cal,
                         const double *sv, int r)
{
    memset(f, 0, sizeof *f);
    for (int m = 0; m < n_tasks; m++) {
        f->t[m] = make_target(rows, cols, sv, r);
        f->tg[m].lr = (lsc_lowrank){.rows = rows, .cols = cols, .r = r, .B = f->t[m].B, .A = f->t[m].A,
                                    .scale = 1.0 + 0.25 * m};
        if (dense) {
            f->dense[m] = xmalloc((size_t)rows * cols);
            matmul(rows, r, cols, f->tg[m].lr.scale, f->t[m].B, f->t[m].A, f->dense[m]);
            for (int i = 0; i < rows * cols; i++)
                f->dense[m][i] += 0.05 * gauss(); /* full rank: a real extraction target */
            f->tg[m].T = f->dense[m];
        }
    }
    if (cal == CAL_C)
        f->C = make_c(cols);
    if (cal == CAL_X)
        f->X = gauss_matrix_scaled((size_t)(cols / 2 + 3) * cols, 1.0);
    f->p = (lsc_train_problem){.rows = rows, .cols = cols, .k = k, .scale = s, .n_tasks = n_tasks, .targets = f->tg,
                               .C = f->C, .X = f->X, .n_samples = f->X ? cols / 2 + 3 : 0};
}

static void fixture_free(fixture *f)
{
    for (int m = 0; m < 3; m++) {
        free_target(&f->t[m]);
        free(f->dense[m]);
    }
    free(f->C);
    free(f->X);
}

static lsc_train_state *new_state(const lsc_train_problem *p, const lsc_train_rule *rule)
{
    lsc_error err = {0};
    lsc_train_state *st = lsc_train_state_new(p, rule, &err);
    ck_assert_msg(st != NULL, "state: %s", err.msg);
    return st;
}

static void run_steps(lsc_train_state *st, const lsc_train_problem *p, const lsc_train_schedule *sch, int steps,
                      lsc_workspace *ws, lsc_train_report *last)
{
    for (int t = 1; t <= steps; t++) {
        lsc_error err = {0};
        lsc_train_report rep;
        lsc_status rc = lsc_train_step(st, p, lsc_train_lr(sch, t), &rep, ws, &err);
        ck_assert_msg(rc == LSC_OK, "step %d: %s", t, err.msg);
        if (last)
            *last = rep;
    }
}

static double loss_of(const lsc_train_state *st, const lsc_train_problem *p, lsc_workspace *ws, double *task)
{
    lsc_error err = {0};
    double l = 0.0;
    ck_assert_msg(lsc_train_loss(st, p, &l, task, ws, &err) == LSC_OK, "%s", err.msg);
    return l;
}

static const double sv8[8] = {5.0, 4.0, 3.2, 2.5, 1.8, 1.2, 0.8, 0.5};

/* ---- trace forms against the dense formulas ---- */

/* The training kind that keeps an adapter's kind: its own rule for dynamic, adaptive and sparse; static
 * for static, layer-wise, multi-task (trained by its own path) and names lorascope does not know. */
START_TEST(test_kind_keeping)
{
    ck_assert_int_eq(lsc_train_kind_keeping(LSC_KIND_STATIC), LSC_TRAIN_STATIC);
    ck_assert_int_eq(lsc_train_kind_keeping(LSC_KIND_LAYERWISE), LSC_TRAIN_STATIC);
    ck_assert_int_eq(lsc_train_kind_keeping(LSC_KIND_DYNAMIC), LSC_TRAIN_DYNAMIC);
    ck_assert_int_eq(lsc_train_kind_keeping(LSC_KIND_ADAPTIVE), LSC_TRAIN_ADAPTIVE);
    ck_assert_int_eq(lsc_train_kind_keeping(LSC_KIND_SPARSE), LSC_TRAIN_SPARSE);
    ck_assert_int_eq(lsc_train_kind_keeping(LSC_KIND_MULTITASK), LSC_TRAIN_STATIC);
    ck_assert_int_eq(lsc_train_kind_keeping(LSC_KIND_UNKNOWN), LSC_TRAIN_STATIC);
    /* the kinds both lists share keep their names */
    for (int k = 0; k < LSC_KIND_COUNT; k++) {
        lsc_train_kind t = lsc_train_kind_keeping((lsc_kind)k);
        if (t != LSC_TRAIN_STATIC)
            ck_assert_str_eq(lsc_train_kind_name(t), lsc_kind_name((lsc_kind)k));
    }
}
END_TEST

START_TEST(test_gradients_match_dense)
{
    /* _i: 0..17 = {factored, dense} x {iso, C, X} x {static, sparse with gates, multi-task} */
    const int dense = _i % 2, cal = (_i / 2) % 3, variant = _i / 6;
    rng_state = 100 + (uint64_t)_i;
    const int rows = 7, cols = 9, k = 4;
    const lsc_train_kind kind = variant == 0 ? LSC_TRAIN_STATIC : variant == 1 ? LSC_TRAIN_SPARSE : LSC_TRAIN_MULTITASK;
    const int nt = kind == LSC_TRAIN_MULTITASK ? 2 : 1;
    fixture f;
    fixture_make(&f, rows, cols, k, 0.75, nt, dense, cal, sv8, 3);
    lsc_train_rule rule = lsc_train_rule_default(kind, k, 10);
    lsc_train_state *st = new_state(&f.p, &rule);
    lsc_workspace *ws = lsc_workspace_new();
    double *B = gauss_matrix_scaled((size_t)nt * rows * k, 0.5), *A = gauss_matrix_scaled((size_t)k * cols, 0.5);
    double d[4] = {1.3, -0.4, 0.0, 2.0};
    lsc_train_factors from = {.B = B, .A = A, .d = d};
    lsc_error err = {0};
    ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_SELF, 1, &from, ws, &err), LSC_OK);
    const double *dd = kind == LSC_TRAIN_SPARSE ? d : NULL;

    for (int b = k; b >= 2; b -= 2) { /* full rank and a prefix */
        const double s = b == k ? 0.75 : 0.75 * k / b;
        double *gB = xmalloc((size_t)nt * rows * k), *gA = xmalloc((size_t)k * cols), gd[4];
        double *rB = xmalloc((size_t)nt * rows * k), *rA = xmalloc((size_t)k * cols), rd[4];
        double loss = 0.0;
        ck_assert_msg(lsc_train_gradient(st, &f.p, b, s, &loss, gB, gA, dd ? gd : NULL, ws, &err) == LSC_OK, "%s",
                      err.msg);
        double ref = dense_loss_grad(&f.p, B, A, dd, b, s, rB, rA, rd), sc;
        ck_assert_msg(fabs(loss - ref) <= 1e-10 * fmax(1.0, ref), "case %d b %d: loss %.15g dense %.15g", _i, b, loss,
                      ref);
        double e = max_abs_diff(gB, rB, (size_t)nt * rows * k, &sc);
        ck_assert_msg(e <= 1e-10 * fmax(1.0, sc), "case %d: gB off by %g", _i, e);
        e = max_abs_diff(gA, rA, (size_t)k * cols, &sc);
        ck_assert_msg(e <= 1e-10 * fmax(1.0, sc), "case %d: gA off by %g", _i, e);
        if (dd) {
            e = max_abs_diff(gd, rd, (size_t)k, &sc);
            ck_assert_msg(e <= 1e-10 * fmax(1.0, sc), "case %d: gd off by %g", _i, e);
        }
        /* columns/rows beyond the prefix carry no gradient */
        for (int i = 0; i < rows; i++)
            for (int j = b; j < k; j++)
                ck_assert(gB[i * k + j] == 0.0);
        free(gB);
        free(gA);
        free(rB);
        free(rA);
    }

    /* finite differences of lsc_train_loss (central, h = 1e-5) on a few entries of B and A */
    double g0;
    double *gB = xmalloc((size_t)nt * rows * k), *gA = xmalloc((size_t)k * cols), gd[4];
    ck_assert_int_eq(lsc_train_gradient(st, &f.p, k, 0.75, &g0, gB, gA, dd ? gd : NULL, ws, &err), LSC_OK);
    const int probes[3] = {0, 5, 13};
    for (int q = 0; q < 3; q++) {
        for (int which = 0; which < 2; which++) {
            double *x = which ? A : B;
            const int idx = probes[q];
            const double keep = x[idx], h = 1e-5;
            x[idx] = keep + h;
            ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_SELF, 1, &from, ws, &err), LSC_OK);
            double lp = loss_of(st, &f.p, ws, NULL);
            x[idx] = keep - h;
            ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_SELF, 1, &from, ws, &err), LSC_OK);
            double lm = loss_of(st, &f.p, ws, NULL);
            x[idx] = keep;
            double fd = (lp - lm) / (2 * h), an = which ? gA[idx] : gB[idx];
            ck_assert_msg(fabs(fd - an) <= 1e-5 * fmax(1.0, fabs(an)), "case %d: fd %.10g analytic %.10g", _i, fd, an);
        }
    }
    free(gB);
    free(gA);
    free(B);
    free(A);
    lsc_train_state_free(st);
    lsc_workspace_free(ws);
    fixture_free(&f);
}
END_TEST

START_TEST(test_prefix_losses_match_dense)
{
    rng_state = 7;
    const int rows = 8, cols = 6, k = 5;
    for (int cal = CAL_ISO; cal <= CAL_C; cal++) {
        fixture f;
        fixture_make(&f, rows, cols, k, 0.5, 1, 0, cal, sv8, 4);
        lsc_train_rule rule = lsc_train_rule_default(LSC_TRAIN_DYNAMIC, k, 10);
        lsc_train_state *st = new_state(&f.p, &rule);
        lsc_workspace *ws = lsc_workspace_new();
        lsc_error err = {0};
        ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_RANDOM, 3, NULL, ws, &err), LSC_OK);
        lsc_train_schedule sch = {.lr_max = 0.01, .lr_min = 0.001, .warmup = 2, .total = 20};
        run_steps(st, &f.p, &sch, 20, ws, NULL);
        double pl[5];
        ck_assert_int_eq(lsc_train_prefix_losses(st, &f.p, pl, ws, &err), LSC_OK);
        for (int b = 1; b <= k; b++) {
            double ref = dense_loss_grad(&f.p, lsc_train_B(st), lsc_train_A(st), NULL, b, 0.5 * k / b, NULL, NULL, NULL);
            ck_assert_msg(fabs(pl[b - 1] - ref) <= 1e-10 * fmax(1.0, ref), "b %d: %.15g vs %.15g", b, pl[b - 1], ref);
        }
        lsc_train_state_free(st);
        lsc_workspace_free(ws);
        fixture_free(&f);
    }
}
END_TEST

/* ---- the optimum and the SVD init ---- */

START_TEST(test_optimum_and_svd_init)
{
    /* _i: {factored, dense} x {iso, C, X} x {one task, two tasks (the stacked optimum)} */
    const int dense = _i % 2, cal = (_i / 2) % 3, nt = 1 + _i / 6;
    rng_state = 300 + (uint64_t)_i;
    const int rows = 10, cols = 12, r = 6;
    fixture f;
    fixture_make(&f, rows, cols, 3, -0.8, nt, dense, cal, sv8, r);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    for (int k = 1; k <= 7; k += 3) {
        f.p.k = k;
        double opt = -1.0;
        ck_assert_msg(lsc_train_optimum(&f.p, k, &opt, ws, &err) == LSC_OK, "%s", err.msg);
        double ref = dense_optimum(&f.p, k);
        ck_assert_msg(fabs(opt - ref) <= 1e-9 * fmax(1.0, ref), "case %d k %d: optimum %.15g dense %.15g", _i, k, opt,
                      ref);
        /* the SVD init reaches it exactly (negative trainable scale, weighted back-mapping included) */
        for (int kind = LSC_TRAIN_STATIC; kind < LSC_TRAIN_KIND_COUNT; kind++) {
            if ((nt > 1) != (kind == LSC_TRAIN_MULTITASK))
                continue;
            lsc_train_rule rule = lsc_train_rule_default((lsc_train_kind)kind, k, 10);
            lsc_train_state *st = new_state(&f.p, &rule);
            ck_assert_msg(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_SVD, 1, NULL, ws, &err) == LSC_OK, "%s", err.msg);
            double l = loss_of(st, &f.p, ws, NULL);
            ck_assert_msg(fabs(l - opt) <= 1e-9 * lsc_train_target_energy(st), "case %d k %d kind %d: init loss %.15g "
                          "optimum %.15g", _i, k, kind, l, opt);
            lsc_train_state_free(st);
        }
    }
    /* isotropic factored: the optimum is the tail of the given spectrum */
    if (!dense && cal == CAL_ISO && nt == 1) {
        double opt;
        ck_assert_int_eq(lsc_train_optimum(&f.p, 2, &opt, ws, &err), LSC_OK);
        double tail = 0.0;
        for (int i = 2; i < r; i++)
            tail += sv8[i] * sv8[i];
        ck_assert_msg(fabs(opt - tail) <= 1e-12 * tail, "%.15g vs %.15g", opt, tail);
    }
    lsc_workspace_free(ws);
    fixture_free(&f);
}
END_TEST

START_TEST(test_samples_equal_their_c)
{
    /* C given as samples X and as X^T X / N: same loss, optimum */
    rng_state = 41;
    fixture f;
    fixture_make(&f, 6, 8, 3, 1.0, 1, 0, CAL_X, sv8, 5);
    double *C = dense_c(&f.p);
    lsc_train_problem pc = f.p;
    pc.X = NULL;
    pc.n_samples = 0;
    pc.C = C;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    double o1, o2;
    ck_assert_int_eq(lsc_train_optimum(&f.p, 2, &o1, ws, &err), LSC_OK);
    ck_assert_int_eq(lsc_train_optimum(&pc, 2, &o2, ws, &err), LSC_OK);
    ck_assert_msg(fabs(o1 - o2) <= 1e-10 * o2, "%.15g vs %.15g", o1, o2);
    lsc_train_rule rule = lsc_train_rule_default(LSC_TRAIN_STATIC, 3, 10);
    lsc_train_state *s1 = new_state(&f.p, &rule), *s2 = new_state(&pc, &rule);
    ck_assert_int_eq(lsc_train_init(s1, &f.p, LSC_TRAIN_INIT_RANDOM, 9, NULL, ws, &err), LSC_OK);
    ck_assert_int_eq(lsc_train_init(s2, &pc, LSC_TRAIN_INIT_RANDOM, 9, NULL, ws, &err), LSC_OK);
    lsc_train_schedule sch = {.lr_max = 0.01, .lr_min = 0.001, .warmup = 0, .total = 5};
    run_steps(s1, &f.p, &sch, 5, ws, NULL);
    run_steps(s2, &pc, &sch, 5, ws, NULL);
    double l1 = loss_of(s1, &f.p, ws, NULL), l2 = loss_of(s2, &pc, ws, NULL);
    ck_assert_msg(fabs(l1 - l2) <= 1e-9 * l2, "%.15g vs %.15g", l1, l2);
    ck_assert_double_eq_tol(lsc_train_target_energy(s1), lsc_train_target_energy(s2), 1e-9 * lsc_train_target_energy(s2));
    lsc_train_state_free(s1);
    lsc_train_state_free(s2);
    lsc_workspace_free(ws);
    free(C);
    fixture_free(&f);
}
END_TEST

/* ---- training outcomes ---- */

static const lsc_train_schedule sched_main = {.lr_max = 0.02, .lr_min = 0.0002, .warmup = 50, .total = 2000};

START_TEST(test_static_reaches_optimum)
{
    /* _i 0: isotropic, 1: calibration C; factored rank-8 target, trained at k = 4 from PEFT's random init */
    rng_state = 500 + (uint64_t)_i;
    const int k = 4;
    fixture f;
    fixture_make(&f, 24, 20, k, 0.5, 1, 0, _i ? CAL_C : CAL_ISO, sv8, 8);
    lsc_train_rule rule = lsc_train_rule_default(LSC_TRAIN_STATIC, k, sched_main.total);
    lsc_train_state *st = new_state(&f.p, &rule);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_RANDOM, 42, NULL, ws, &err), LSC_OK);
    double opt;
    ck_assert_int_eq(lsc_train_optimum(&f.p, k, &opt, ws, &err), LSC_OK);
    const double l0 = loss_of(st, &f.p, ws, NULL);
    ck_assert_msg(fabs(l0 - lsc_train_target_energy(st)) <= 1e-12 * l0, "B = 0 start has the target's energy");
    run_steps(st, &f.p, &sched_main, sched_main.total, ws, NULL);
    const double l = loss_of(st, &f.p, ws, NULL);
    ck_assert_msg(l <= 1.01 * opt && l >= opt * (1 - 1e-9), "case %d: loss %.10g, optimum %.10g (ratio %.5f)", _i, l,
                  opt, l / opt);
    lsc_train_state_free(st);
    lsc_workspace_free(ws);
    fixture_free(&f);
}
END_TEST

START_TEST(test_multitask_shared_a)
{
    /* two tasks with different rank-8 targets share A at k = 5: every task loss falls, the sum ends within
     * 1% of the exact optimum of a shared subspace (the stacked SVD), which is never below the sum of the
     * tasks' own rank-5 optima */
    rng_state = 600;
    const int k = 5;
    fixture f;
    fixture_make(&f, 16, 18, k, 1.0, 2, 0, CAL_ISO, sv8, 8);
    lsc_train_rule rule = lsc_train_rule_default(LSC_TRAIN_MULTITASK, k, sched_main.total);
    lsc_train_state *st = new_state(&f.p, &rule);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_RANDOM, 5, NULL, ws, &err), LSC_OK);
    double before[2], after[2], opt, own = 0.0;
    loss_of(st, &f.p, ws, before);
    run_steps(st, &f.p, &sched_main, sched_main.total, ws, NULL);
    const double l = loss_of(st, &f.p, ws, after);
    ck_assert_int_eq(lsc_train_optimum(&f.p, k, &opt, ws, &err), LSC_OK);
    for (int m = 0; m < 2; m++) {
        ck_assert_msg(after[m] < 0.5 * before[m], "task %d: %g -> %g", m, before[m], after[m]);
        lsc_train_problem one = f.p;
        one.n_tasks = 1;
        one.targets = &f.tg[m];
        double o;
        ck_assert_int_eq(lsc_train_optimum(&one, k, &o, ws, &err), LSC_OK);
        own += o;
    }
    ck_assert_msg(opt > own, "shared optimum %g must exceed the separate optima %g", opt, own);
    ck_assert_msg(l <= 1.01 * opt, "loss %.10g, shared optimum %.10g (ratio %.5f)", l, opt, l / opt);
    lsc_train_state_free(st);
    lsc_workspace_free(ws);
    fixture_free(&f);
}
END_TEST

START_TEST(test_dynamic_prefixes)
{
    /* rank-12 target with a heavy tail, k = 4: every prefix within 1.5x of its best rank-b error; a
     * statically trained adapter on the same target has a prefix far worse than that */
    rng_state = 700;
    const int k = 4;
    const double sv12[12] = {3.0, 2.6, 2.3, 2.0, 1.8, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0};
    fixture f;
    fixture_make(&f, 20, 22, k, 0.5, 1, 0, CAL_ISO, sv12, 12);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    double worst[2] = {0, 0};
    for (int kind = 0; kind < 2; kind++) {
        lsc_train_rule rule = lsc_train_rule_default(kind ? LSC_TRAIN_DYNAMIC : LSC_TRAIN_STATIC, k, 3000);
        lsc_train_state *st = new_state(&f.p, &rule);
        ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_RANDOM, 11, NULL, ws, &err), LSC_OK);
        lsc_train_schedule sch = sched_main;
        sch.total = 3000;
        run_steps(st, &f.p, &sch, sch.total, ws, NULL);
        double pl[4];
        ck_assert_int_eq(lsc_train_prefix_losses(st, &f.p, pl, ws, &err), LSC_OK);
        for (int b = 1; b <= k; b++) {
            double opt;
            ck_assert_int_eq(lsc_train_optimum(&f.p, b, &opt, ws, &err), LSC_OK);
            worst[kind] = fmax(worst[kind], pl[b - 1] / opt);
        }
        lsc_train_state_free(st);
    }
    ck_assert_msg(worst[1] <= 1.5, "dynamic: worst prefix at %.4fx its optimum", worst[1]);
    ck_assert_msg(worst[0] > 2.0 * worst[1], "static's worst prefix %.4fx vs dynamic %.4fx", worst[0], worst[1]);
    lsc_workspace_free(ws);
    fixture_free(&f);
}
END_TEST

START_TEST(test_adaptive_budget)
{
    /* AdaLoRA from 8 triplets to a budget of 3 on a rank-8 target: exactly 3 kept at the end (and from the
     * final phase on), the kept Lambda non-zero, the masked exactly zero, budget never below the schedule,
     * and the fit within 1.1x of the best rank-3 error */
    rng_state = 800;
    const int k = 8, T = 1500;
    fixture f;
    fixture_make(&f, 20, 18, k, 1.0, 1, 0, CAL_ISO, sv8, 8);
    lsc_train_rule rule = lsc_train_rule_default(LSC_TRAIN_ADAPTIVE, k, T);
    rule.budget_init = 8;
    rule.budget_final = 3;
    rule.t_init = 200;
    rule.t_final = 400;
    rule.delta_t = 10;
    rule.orth_reg = 0.1;
    lsc_train_state *st = new_state(&f.p, &rule);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_RANDOM, 3, NULL, ws, &err), LSC_OK);
    lsc_train_schedule sch = {.lr_max = 0.02, .lr_min = 0.0002, .warmup = 50, .total = T};
    for (int t = 1; t <= T; t++) {
        lsc_train_report rep;
        ck_assert_int_eq(lsc_train_step(st, &f.p, lsc_train_lr(&sch, t), &rep, ws, &err), LSC_OK);
        ck_assert_int_ge(rep.kept, lsc_train_budget(&rule, t));
        if (t > T - rule.t_final)
            ck_assert_int_eq(rep.kept, 3);
        ck_assert(isfinite(rep.reg) && rep.reg >= 0.0);
    }
    ck_assert_int_eq(lsc_train_kept(st), 3);
    int kept = 0;
    for (int i = 0; i < k; i++) {
        kept += lsc_train_keep(st)[i];
        if (lsc_train_keep(st)[i])
            ck_assert(lsc_train_d(st)[i] != 0.0);
        else
            ck_assert(lsc_train_d(st)[i] == 0.0);
    }
    ck_assert_int_eq(kept, 3);
    double opt;
    ck_assert_int_eq(lsc_train_optimum(&f.p, 3, &opt, ws, &err), LSC_OK);
    const double l = loss_of(st, &f.p, ws, NULL);
    ck_assert_msg(l <= 1.1 * opt, "loss %.10g vs rank-3 optimum %.10g (%.4fx)", l, opt, l / opt);
    /* the export carries the mask: zero columns where triplets were dropped, same loss through a static state */
    double *Bo = xmalloc((size_t)20 * k), *Ao = xmalloc((size_t)k * 18), so;
    ck_assert_int_eq(lsc_train_export(st, 0, Bo, Ao, &so, &err), LSC_OK);
    double ref = dense_loss_grad(&f.p, Bo, Ao, NULL, k, so, NULL, NULL, NULL);
    ck_assert_msg(fabs(ref - l) <= 1e-10 * lsc_train_target_energy(st), "export %.15g vs %.15g", ref, l);
    free(Bo);
    free(Ao);
    lsc_train_state_free(st);

    /* no final phase and T - tinit not a multiple of deltaT: the mask at t == T still leaves exactly bT */
    rule.total_steps = 100;
    rule.t_init = 95; /* events at t = 95 (budget b0 = 8) and, by the t == T rule, at 100 */
    rule.t_final = 0;
    rule.delta_t = 50;
    rule.budget_final = 2;
    st = new_state(&f.p, &rule);
    ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_SVD, 3, NULL, ws, &err), LSC_OK);
    lsc_train_schedule s2 = {.lr_max = 0.01, .lr_min = 0.001, .warmup = 5, .total = 100};
    lsc_train_report rep;
    run_steps(st, &f.p, &s2, 99, ws, &rep);
    ck_assert_int_eq(rep.kept, 8);
    run_steps(st, &f.p, &s2, 1, ws, &rep);
    ck_assert_int_eq(rep.kept, 2);
    ck_assert_int_eq(lsc_train_steps_done(st), 100);
    lsc_train_state_free(st);
    lsc_workspace_free(ws);
    fixture_free(&f);
}
END_TEST

START_TEST(test_sparse_gates)
{
    /* SoRA on a rank-3 target at k = 8: with lambda > 0 some gates reach exactly zero while the loss stays
     * finite and the fit useful; lambda = 0 keeps every gate */
    rng_state = 900;
    const int k = 8;
    const double sv3[3] = {4.0, 3.0, 2.0};
    fixture f;
    fixture_make(&f, 20, 18, k, 1.0, 1, 0, CAL_ISO, sv3, 3);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    int live[2];
    for (int q = 0; q < 2; q++) {
        lsc_train_rule rule = lsc_train_rule_default(LSC_TRAIN_SPARSE, k, 1500);
        rule.lambda = q ? 0.5 : 0.0;
        rule.lambda_end = rule.lambda;
        lsc_train_state *st = new_state(&f.p, &rule);
        ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_RANDOM, 4, NULL, ws, &err), LSC_OK);
        lsc_train_schedule sch = {.lr_max = 0.02, .lr_min = 0.0002, .warmup = 50, .total = 1500};
        lsc_train_report rep;
        run_steps(st, &f.p, &sch, 1500, ws, &rep);
        live[q] = rep.kept;
        int count = 0;
        for (int i = 0; i < k; i++)
            count += lsc_train_d(st)[i] != 0.0;
        ck_assert_int_eq(count, live[q]);
        const double l = loss_of(st, &f.p, ws, NULL);
        ck_assert(isfinite(l));
        ck_assert_msg(l < 0.05 * lsc_train_target_energy(st), "lambda %g: loss %g of %g", rule.lambda, l,
                      lsc_train_target_energy(st));
        lsc_train_state_free(st);
    }
    ck_assert_int_eq(live[0], k);
    ck_assert_msg(live[1] < k && live[1] >= 3, "live gates with lambda 0.5: %d", live[1]);
    lsc_workspace_free(ws);
    fixture_free(&f);
}
END_TEST

/* ---- determinism ---- */

START_TEST(test_same_seed_same_bytes)
{
    rng_state = 1000;
    const int k = 4;
    fixture f;
    fixture_make(&f, 12, 10, k, 1.0, 1, 0, CAL_C, sv8, 6);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err = {0};
    const size_t nb = 12 * k, na = (size_t)k * 10;
    for (int kind = 0; kind < LSC_TRAIN_KIND_COUNT; kind++) {
        double *runs[3][3];
        for (int q = 0; q < 3; q++) {
            lsc_train_rule rule = lsc_train_rule_default((lsc_train_kind)kind, k, 60);
            rule.budget_final = 2;
            rule.t_final = 10;
            rule.lambda = rule.lambda_end = 0.3;
            lsc_train_state *st = new_state(&f.p, &rule);
            ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_RANDOM, q == 2 ? 78 : 77, NULL, ws, &err), LSC_OK);
            lsc_train_schedule sch = {.lr_max = 0.02, .lr_min = 0.001, .warmup = 5, .total = 60};
            run_steps(st, &f.p, &sch, 60, ws, NULL);
            runs[q][0] = xmalloc(nb);
            runs[q][1] = xmalloc(na);
            runs[q][2] = xmalloc((size_t)k);
            memcpy(runs[q][0], lsc_train_B(st), nb * sizeof(double));
            memcpy(runs[q][1], lsc_train_A(st), na * sizeof(double));
            memcpy(runs[q][2], lsc_train_d(st), (size_t)k * sizeof(double));
            lsc_train_state_free(st);
        }
        ck_assert_msg(memcmp(runs[0][0], runs[1][0], nb * sizeof(double)) == 0, "kind %d: B differs", kind);
        ck_assert_msg(memcmp(runs[0][1], runs[1][1], na * sizeof(double)) == 0, "kind %d: A differs", kind);
        ck_assert_msg(memcmp(runs[0][2], runs[1][2], (size_t)k * sizeof(double)) == 0, "kind %d: d differs", kind);
        ck_assert_msg(memcmp(runs[0][1], runs[2][1], na * sizeof(double)) != 0, "kind %d: seeds gave the same A", kind);
        for (int q = 0; q < 3; q++)
            for (int j = 0; j < 3; j++)
                free(runs[q][j]);
    }
    lsc_workspace_free(ws);
    fixture_free(&f);
}
END_TEST

/* ---- schedules and helpers, hand-worked ---- */

START_TEST(test_schedules)
{
    lsc_train_schedule s = {.lr_max = 1.0, .lr_min = 0.1, .warmup = 4, .total = 14};
    ck_assert_double_eq_tol(lsc_train_lr(&s, 1), 0.25, 1e-15);
    ck_assert_double_eq_tol(lsc_train_lr(&s, 4), 1.0, 1e-15);
    ck_assert_double_eq_tol(lsc_train_lr(&s, 9), 0.55, 1e-15); /* halfway through the cosine */
    ck_assert_double_eq_tol(lsc_train_lr(&s, 14), 0.1, 1e-15);
    ck_assert_double_eq_tol(lsc_train_lr(&s, 100), 0.1, 1e-15);
    ck_assert_double_eq_tol(lsc_train_lr(&s, 0), 0.25, 1e-15);
    lsc_train_schedule nw = {.lr_max = 2.0, .lr_min = 0.0, .warmup = 0, .total = 2};
    ck_assert_double_eq_tol(lsc_train_lr(&nw, 1), 1.0, 1e-15);

    lsc_train_rule r = lsc_train_rule_default(LSC_TRAIN_ADAPTIVE, 12, 100);
    r.budget_init = 12;
    r.budget_final = 4;
    r.t_init = 10;
    r.t_final = 20;
    ck_assert_int_eq(lsc_train_budget(&r, 5), 12);
    ck_assert_int_eq(lsc_train_budget(&r, 10), 12);
    ck_assert_int_eq(lsc_train_budget(&r, 45), 5); /* 4 + 8 * (1 - 35/70)^3 = 5 */
    ck_assert_int_eq(lsc_train_budget(&r, 80), 4);
    ck_assert_int_eq(lsc_train_budget(&r, 81), 4);
    ck_assert_int_eq(lsc_train_budget(&r, 24), 8); /* 4 + 8 * 0.8^3 = 8.096 */
    ck_assert_str_eq(lsc_train_kind_name(LSC_TRAIN_ADAPTIVE), "adaptive");
    ck_assert_str_eq(lsc_train_kind_name((lsc_train_kind)99), "unknown");
}
END_TEST

START_TEST(test_budget_ranks)
{
    const double l0[3] = {9, 5, 1}, l1[2] = {6, 5}, l2[1] = {0.5};
    const double *sv[4] = {l0, l1, l2, NULL};
    const int n[4] = {3, 2, 1, 0};
    int ranks[4];
    lsc_error err = {0};
    /* firsts 9, 6, 0.5 kept; then 5 (layer 0, before layer 1's tie) then 5 (layer 1) */
    ck_assert_int_eq(lsc_train_budget_ranks(sv, n, 4, 4, ranks, &err), LSC_OK);
    ck_assert(ranks[0] == 2 && ranks[1] == 1 && ranks[2] == 1 && ranks[3] == 0);
    ck_assert_int_eq(lsc_train_budget_ranks(sv, n, 4, 5, ranks, &err), LSC_OK);
    ck_assert(ranks[0] == 2 && ranks[1] == 2 && ranks[2] == 1);
    ck_assert_int_eq(lsc_train_budget_ranks(sv, n, 4, 1, ranks, &err), LSC_OK); /* at least 1 each */
    ck_assert(ranks[0] == 1 && ranks[1] == 1 && ranks[2] == 1 && ranks[3] == 0);
    ck_assert_int_eq(lsc_train_budget_ranks(sv, n, 4, 100, ranks, &err), LSC_OK);
    ck_assert(ranks[0] == 3 && ranks[1] == 2 && ranks[2] == 1);
    ck_assert_int_eq(lsc_train_budget_ranks(sv, n, 4, 0, ranks, &err), LSC_ERR_INVALID);
    const double bad[2] = {1, 2}, nan2[2] = {NAN, 1}, neg[1] = {-1};
    const double *s2[1] = {bad};
    const int n2[1] = {2}, n1[1] = {1}, nneg[1] = {-1};
    ck_assert_int_eq(lsc_train_budget_ranks(s2, n2, 1, 2, ranks, &err), LSC_ERR_INVALID);
    s2[0] = nan2;
    ck_assert_int_eq(lsc_train_budget_ranks(s2, n2, 1, 2, ranks, &err), LSC_ERR_NUMERIC);
    s2[0] = neg;
    ck_assert_int_eq(lsc_train_budget_ranks(s2, n1, 1, 2, ranks, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_train_budget_ranks(s2, nneg, 1, 2, ranks, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_train_budget_ranks(NULL, n1, 1, 2, ranks, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_train_budget_ranks(s2, n1, -1, 2, ranks, &err), LSC_ERR_INVALID);
}
END_TEST

/* ---- rejections ---- */

static void expect(lsc_status got, lsc_status want, const lsc_error *err, const char *what)
{
    ck_assert_msg(got == want, "%s: got %s (%s)", what, lsc_status_name(got), err->msg);
    ck_assert_msg(err->msg[0] != '\0' && err->msg[strlen(err->msg) - 1] != '.', "%s: message '%s'", what, err->msg);
}

static lsc_status try_new(const lsc_train_problem *p, const lsc_train_rule *r, lsc_error *err)
{
    lsc_error_clear(err);
    lsc_train_state *st = lsc_train_state_new(p, r, err);
    if (st) {
        lsc_train_state_free(st);
        return LSC_OK;
    }
    return err->code;
}

START_TEST(test_rejections)
{
    rng_state = 1200;
    fixture f;
    fixture_make(&f, 6, 5, 2, 1.0, 1, 0, CAL_ISO, sv8, 3);
    lsc_train_rule rs = lsc_train_rule_default(LSC_TRAIN_STATIC, 2, 10);
    lsc_error err = {0};
    lsc_train_problem p;

    ck_assert_int_eq(try_new(&f.p, &rs, &err), LSC_OK);
    expect(try_new(NULL, &rs, &err), LSC_ERR_INVALID, &err, "no problem");
    expect(try_new(&f.p, NULL, &err), LSC_ERR_INVALID, &err, "no rule");
    p = f.p, p.k = 0;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "rank 0");
    p = f.p, p.rows = 0;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "no rows");
    p = f.p, p.cols = (int64_t)INT32_MAX + 1;
    expect(try_new(&p, &rs, &err), LSC_ERR_UNSUPPORTED, &err, "huge cols");
    p = f.p, p.scale = 0.0;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "zero scale");
    p = f.p, p.scale = NAN;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "nan scale");
    p = f.p, p.targets = NULL;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "no targets");
    p = f.p, p.n_tasks = 0;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "no tasks");

    lsc_train_target tg = f.tg[0];
    p = f.p, p.targets = &tg;
    tg.lr.cols = 4;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "target shape");
    tg = f.tg[0], tg.lr.A = NULL;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "target factor missing");
    tg = f.tg[0], tg.lr.scale = INFINITY;
    expect(try_new(&p, &rs, &err), LSC_ERR_NUMERIC, &err, "target scale");
    double *bad = xmalloc(6 * 5);
    bad[7] = NAN;
    tg = f.tg[0], tg.T = bad;
    expect(try_new(&p, &rs, &err), LSC_ERR_NUMERIC, &err, "dense target nan");
    tg = f.tg[0], tg.lr.B = bad; /* [6, 3] view of the NaN buffer */
    expect(try_new(&p, &rs, &err), LSC_ERR_NUMERIC, &err, "factor nan");
    tg = f.tg[0], tg.lr.r = 0; /* a zero target is legal */
    ck_assert_int_eq(try_new(&p, &rs, &err), LSC_OK);

    double *C = make_c(5);
    p = f.p, p.C = C, p.X = C, p.n_samples = 5;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "C and X");
    p = f.p, p.C = C;
    C[1] += 1.0;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "asymmetric C");
    C[1] -= 1.0;
    C[6] = INFINITY;
    expect(try_new(&p, &rs, &err), LSC_ERR_NUMERIC, &err, "C inf");
    free(C);
    double *X = gauss_matrix_scaled(4 * 5, 1.0);
    p = f.p, p.X = X, p.n_samples = 0;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "no samples");
    p.n_samples = 4;
    ck_assert_int_eq(try_new(&p, &rs, &err), LSC_OK);
    X[3] = NAN;
    expect(try_new(&p, &rs, &err), LSC_ERR_NUMERIC, &err, "X nan");
    free(X);

    /* rules */
    lsc_train_rule r = rs;
    r.kind = (lsc_train_kind)42;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "unknown kind");
    lsc_train_target two[2] = {f.tg[0], f.tg[0]};
    p = f.p, p.targets = two, p.n_tasks = 2;
    expect(try_new(&p, &rs, &err), LSC_ERR_INVALID, &err, "static with two tasks");
    lsc_train_rule rm = lsc_train_rule_default(LSC_TRAIN_MULTITASK, 2, 10);
    ck_assert_int_eq(try_new(&p, &rm, &err), LSC_OK);
    lsc_train_rule ra = lsc_train_rule_default(LSC_TRAIN_ADAPTIVE, 2, 10);
    r = ra, r.budget_init = 3;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "b0 > k");
    r = ra, r.budget_final = 0;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "bT 0");
    r = ra, r.t_init = 5, r.t_final = 5;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "tinit + tfinal >= T");
    r = ra, r.total_steps = 0;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "T 0");
    r = ra, r.delta_t = 0;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "deltaT 0");
    r = ra, r.beta1 = 1.0;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "beta 1");
    r = ra, r.orth_reg = -1.0;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "negative gamma");
    lsc_train_rule rp = lsc_train_rule_default(LSC_TRAIN_SPARSE, 2, 10);
    r = rp, r.lambda = -0.1;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "negative lambda");
    r = rp, r.lambda_ramp = -1;
    expect(try_new(&f.p, &r, &err), LSC_ERR_INVALID, &err, "negative ramp");

    /* calls on a state */
    lsc_workspace *ws = lsc_workspace_new();
    lsc_train_state *st = new_state(&f.p, &rs);
    lsc_error_clear(&err);
    expect(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_SELF, 1, NULL, ws, &err), LSC_ERR_INVALID, &err, "self without");
    double *Bn = xmalloc(6 * 2), *An = xmalloc(2 * 5);
    Bn[3] = INFINITY;
    lsc_train_factors fr = {.B = Bn, .A = An};
    lsc_error_clear(&err);
    expect(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_SELF, 1, &fr, ws, &err), LSC_ERR_INVALID, &err, "self inf");
    lsc_error_clear(&err);
    expect(lsc_train_init(st, &f.p, (lsc_train_init_mode)9, 1, NULL, ws, &err), LSC_ERR_INVALID, &err, "init mode");
    ck_assert_int_eq(lsc_train_init(st, &f.p, LSC_TRAIN_INIT_RANDOM, 1, NULL, ws, &err), LSC_OK);
    p = f.p, p.k = 3;
    lsc_error_clear(&err);
    expect(lsc_train_step(st, &p, 0.01, NULL, ws, &err), LSC_ERR_INVALID, &err, "problem mismatch");
    lsc_error_clear(&err);
    expect(lsc_train_step(st, &f.p, 0.0, NULL, ws, &err), LSC_ERR_INVALID, &err, "lr 0");
    lsc_error_clear(&err);
    expect(lsc_train_step(st, &f.p, NAN, NULL, ws, &err), LSC_ERR_INVALID, &err, "lr nan");
    lsc_error_clear(&err);
    expect(lsc_train_step(st, NULL, 0.1, NULL, ws, &err), LSC_ERR_INVALID, &err, "no problem for step");
    double l, out[2];
    lsc_error_clear(&err);
    expect(lsc_train_gradient(st, &f.p, 3, 1.0, &l, NULL, NULL, NULL, ws, &err), LSC_ERR_INVALID, &err, "b > k");
    lsc_error_clear(&err);
    expect(lsc_train_gradient(st, &f.p, 2, NAN, &l, NULL, NULL, NULL, ws, &err), LSC_ERR_INVALID, &err, "nan s_eff");
    lsc_error_clear(&err);
    expect(lsc_train_loss(st, &f.p, NULL, NULL, ws, &err), LSC_ERR_INVALID, &err, "loss output");
    double Cid[25] = {0};
    for (int i = 0; i < 5; i++)
        Cid[i * 5 + i] = 1.0;
    p = f.p, p.C = Cid;
    lsc_error_clear(&err);
    expect(lsc_train_loss(st, &p, &l, NULL, ws, &err), LSC_ERR_INVALID, &err, "weighted problem, isotropic state");
    p = f.p, p.k = 1 << 20, p.cols = 1 << 12;
    lsc_error_clear(&err);
    expect(try_new(&p, &rs, &err), LSC_ERR_UNSUPPORTED, &err, "k * cols beyond int");
    lsc_error_clear(&err);
    expect(lsc_train_prefix_losses(st, &f.p, NULL, ws, &err), LSC_ERR_INVALID, &err, "prefix output");
    lsc_error_clear(&err);
    expect(lsc_train_export(st, 1, out, out, &l, &err), LSC_ERR_INVALID, &err, "export task");
    lsc_error_clear(&err);
    expect(lsc_train_optimum(&f.p, 0, &l, ws, &err), LSC_ERR_INVALID, &err, "optimum rank 0");

    /* C that is symmetric but indefinite */
    double Cneg[25] = {0};
    for (int i = 0; i < 5; i++)
        Cneg[i * 5 + i] = i == 2 ? -1.0 : 1.0;
    p = f.p, p.C = Cneg;
    lsc_error_clear(&err);
    expect(lsc_train_optimum(&p, 1, &l, ws, &err), LSC_ERR_INVALID, &err, "indefinite C");

    /* divergence: a huge learning rate on a large target overflows; parameters stay as they were */
    double *big = xmalloc(6 * 5);
    for (int i = 0; i < 30; i++)
        big[i] = 1e150 * (1 + i % 3);
    lsc_train_target bt = {.T = big};
    p = f.p, p.targets = &bt;
    lsc_train_state *sb = new_state(&p, &rs);
    ck_assert_int_eq(lsc_train_init(sb, &p, LSC_TRAIN_INIT_RANDOM, 1, NULL, ws, &err), LSC_OK);
    lsc_status rc = LSC_OK;
    int t = 0;
    double keepA[10];
    for (; t < 50 && rc == LSC_OK; t++) {
        memcpy(keepA, lsc_train_A(sb), sizeof keepA);
        lsc_error_clear(&err);
        rc = lsc_train_step(sb, &p, 1e160, NULL, ws, &err);
    }
    expect(rc, LSC_ERR_NUMERIC, &err, "divergence");
    ck_assert(memcmp(keepA, lsc_train_A(sb), sizeof keepA) == 0);
    lsc_train_state_free(sb);
    free(big);

    lsc_train_state_free(st);
    lsc_train_state_free(NULL);
    lsc_workspace_free(ws);
    free(bad);
    free(Bn);
    free(An);
    fixture_free(&f);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, test_gradients_match_dense, 0, 18);
    tcase_add_test(tc, test_prefix_losses_match_dense);
    tcase_add_test(tc, test_kind_keeping);
    tcase_add_loop_test(tc, test_optimum_and_svd_init, 0, 12);
    tcase_add_test(tc, test_samples_equal_their_c);
    tcase_add_loop_test(tc, test_static_reaches_optimum, 0, 2);
    tcase_add_test(tc, test_multitask_shared_a);
    tcase_add_test(tc, test_dynamic_prefixes);
    tcase_add_test(tc, test_adaptive_budget);
    tcase_add_test(tc, test_sparse_gates);
    tcase_add_test(tc, test_same_seed_same_bytes);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_budget_ranks);
    tcase_add_test(tc, test_rejections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    openblas_set_num_threads(1);
    SRunner *sr = srunner_create(train_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
