/* train.c: the retrain engine (see train.h): trace-form loss and gradients, Adam, the kinds' hooks, the
 * exact optimum and the initialisations.
 *
 * One kernel (fit_core) computes the fit loss and the gradients of dW_m = s * B_m diag(d) A for a rank
 * prefix b; a kind is a row of the kind_ops table (which prefix, whether d trains, a regulariser, work
 * before and after the Adam update), so no kind is a branch scattered through the step.
 * Row-major BLAS throughout. Scratch memory comes from the caller's workspace, slots LSC_WS_CALLER_FIRST..
 * (the SVD init calls lsc_spectrum, which owns the lower slots). Pure compute: never prints, no I/O;
 * depends on BLAS/LAPACKE, status, workspace and spectrum only.
 */
#include "train.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "spectrum.h"

#define PI_D 3.14159265358979323846

enum {
    WS_AC = LSC_WS_CALLER_FIRST, /* A C [b, cols] */
    WS_M,                        /* M = B_m diag(d) [rows, b] when d is not all ones */
    WS_G,                        /* G [rows, b] when no gradient of B is wanted */
    WS_H,                        /* H [b, cols] for tasks after the first */
    WS_SMALL,                    /* S, M^T M, W, M^T B_t; the regulariser's k x k matrices */
    WS_CTMP,                     /* Y X^T [m, N] when C is given as samples */
    WS_GRAD,                     /* the step's gradients gB, gA, gd */
    WS_OPT,                      /* the optimum's buffers */
};
_Static_assert(WS_OPT < LSC_WS_SLOTS, "train must stay inside the workspace slots");

static const char *const kind_names[] = {
#define LSC_X_NAME(code, name) name,
    LSC_TRAIN_KIND_LIST(LSC_X_NAME)
#undef LSC_X_NAME
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == LSC_TRAIN_KIND_COUNT, "kind table out of sync");

const char *lsc_train_kind_name(lsc_train_kind kind)
{
    if ((unsigned)kind >= LSC_TRAIN_KIND_COUNT)
        return "unknown";
    return kind_names[kind];
}

lsc_train_kind lsc_train_kind_keeping(lsc_kind k)
{
    switch (k) {
    case LSC_KIND_DYNAMIC:
        return LSC_TRAIN_DYNAMIC;
    case LSC_KIND_ADAPTIVE:
        return LSC_TRAIN_ADAPTIVE;
    case LSC_KIND_SPARSE:
        return LSC_TRAIN_SPARSE;
    default:
        return LSC_TRAIN_STATIC;
    }
}

struct lsc_train_state {
    lsc_train_rule rule;
    int64_t rows, cols;
    int k, n_tasks, max_r;
    double scale;
    bool weighted, samples;
    double *energy;   /* [n_tasks] ||T_m||_C^2 */
    double total_energy;
    double **tc;      /* [n_tasks]: A_t C [r, cols] (factored) or T C [rows, cols] (dense); NULL isotropic */
    double *B, *A, *d; /* [n_tasks rows, k], [k, cols], [k] */
    unsigned char *keep;
    double *pairs;    /* adaptive: [k] (score, index) pairs for the mask sort */
    double *mB, *vB, *mA, *vA, *md, *vd;
    double *iB, *uB, *iA, *uA, *id, *ud; /* adaptive: smoothed sensitivity and uncertainty */
    int t;            /* steps done */
    int kept;
    uint64_t rng;
};

/* ---- random stream (train.h documents it) ---- */

static double rng_uniform(uint64_t *s)
{
    return (double)(lsc_rng_next_state(s) >> 11) * 0x1.0p-53;
}

static double rng_normal(uint64_t *s)
{
    double u1 = 1.0 - rng_uniform(s), u2 = rng_uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI_D * u2);
}

/* ---- small helpers ---- */

/* Four independent accumulators in the two long reductions below: one chain of dependent adds would
 * cost its latency per element, which showed up as a tenth of a 4096 x 4096 step. The summation order
 * is fixed, so results stay bit-reproducible. */
static bool all_finite(const double *x, size_t n)
{
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += x[i] * 0.0; /* NaN as soon as one entry is Inf or NaN */
        a1 += x[i + 1] * 0.0;
        a2 += x[i + 2] * 0.0;
        a3 += x[i + 3] * 0.0;
    }
    for (; i < n; i++)
        a0 += x[i] * 0.0;
    return a0 + a1 + a2 + a3 == 0.0;
}

static double dot(const double *x, const double *y, size_t n)
{
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += x[i] * y[i];
        a1 += x[i + 1] * y[i + 1];
        a2 += x[i + 2] * y[i + 2];
        a3 += x[i + 3] * y[i + 3];
    }
    for (; i < n; i++)
        a0 += x[i] * y[i];
    return (a0 + a1) + (a2 + a3);
}

static size_t task_b_size(const lsc_train_state *st)
{
    return (size_t)st->rows * (size_t)st->k;
}

/* ---- schedules ---- */

lsc_train_rule lsc_train_rule_default(lsc_train_kind kind, int k, int total_steps)
{
    lsc_train_rule r = {.kind = kind,
                        .budget_init = k,
                        .budget_final = k,
                        .total_steps = total_steps,
                        .t_init = 0,
                        .t_final = 0,
                        .delta_t = 1,
                        .beta1 = 0.85,
                        .beta2 = 0.85,
                        .orth_reg = 0.5,
                        .lambda = 0.0,
                        .lambda_end = 0.0,
                        .lambda_ramp = 0};
    return r;
}

double lsc_train_lr(const lsc_train_schedule *sched, int t)
{
    if (!sched)
        return 0.0;
    if (t < 1)
        t = 1;
    if (sched->warmup > 0 && t <= sched->warmup)
        return sched->lr_max * (double)t / (double)sched->warmup;
    const int span = sched->total - (sched->warmup > 0 ? sched->warmup : 0);
    if (span <= 0)
        return sched->lr_min;
    double progress = (double)(t - (sched->warmup > 0 ? sched->warmup : 0)) / (double)span;
    if (progress > 1.0)
        progress = 1.0;
    return sched->lr_min + (sched->lr_max - sched->lr_min) * 0.5 * (1.0 + cos(PI_D * progress));
}

int lsc_train_budget(const lsc_train_rule *rule, int t)
{
    if (!rule)
        return 0;
    const int b0 = rule->budget_init, bT = rule->budget_final;
    if (rule->kind != LSC_TRAIN_ADAPTIVE)
        return b0;
    const int T = rule->total_steps, ti = rule->t_init, tf = rule->t_final;
    if (t < ti)
        return b0;
    if (t > T - tf)
        return bT;
    const double span = (double)(T - ti - tf);
    const double f = 1.0 - (double)(t - ti) / span;
    int b = (int)floor((double)bT + (double)(b0 - bT) * f * f * f);
    return b < bT ? bT : b > b0 ? b0 : b;
}

/* ---- checks ---- */

static lsc_status check_rule(const lsc_train_problem *p, const lsc_train_rule *r, lsc_error *err)
{
    if ((unsigned)r->kind >= LSC_TRAIN_KIND_COUNT)
        return lsc_error_set(err, LSC_ERR_INVALID, "unknown training kind %d", (int)r->kind);
    if (p->n_tasks > 1 && r->kind != LSC_TRAIN_MULTITASK)
        return lsc_error_set(err, LSC_ERR_INVALID, "kind '%s' trains one target, got %d", lsc_train_kind_name(r->kind),
                             p->n_tasks);
    if (r->kind == LSC_TRAIN_ADAPTIVE) {
        if (r->budget_final < 1 || r->budget_final > r->budget_init || r->budget_init > p->k)
            return lsc_error_set(err, LSC_ERR_INVALID, "adaptive budgets must satisfy 1 <= bT <= b0 <= k, got bT %d, "
                                 "b0 %d, k %d", r->budget_final, r->budget_init, p->k);
        if (r->total_steps < 1 || r->t_init < 0 || r->t_final < 0 ||
            (int64_t)r->t_init + r->t_final >= r->total_steps)
            return lsc_error_set(err, LSC_ERR_INVALID, "adaptive schedule needs tinit + tfinal < T, got tinit %d, "
                                 "tfinal %d, T %d", r->t_init, r->t_final, r->total_steps);
        if (r->delta_t < 1)
            return lsc_error_set(err, LSC_ERR_INVALID, "adaptive deltaT must be >= 1, got %d", r->delta_t);
        if (!(r->beta1 >= 0.0 && r->beta1 < 1.0 && r->beta2 >= 0.0 && r->beta2 < 1.0))
            return lsc_error_set(err, LSC_ERR_INVALID, "adaptive betas must lie in [0, 1), got %g and %g", r->beta1,
                                 r->beta2);
        if (!(r->orth_reg >= 0.0 && isfinite(r->orth_reg)))
            return lsc_error_set(err, LSC_ERR_INVALID, "orthogonality weight must be finite and >= 0, got %g",
                                 r->orth_reg);
    }
    if (r->kind == LSC_TRAIN_SPARSE) {
        if (!(r->lambda >= 0.0 && isfinite(r->lambda) && r->lambda_end >= 0.0 && isfinite(r->lambda_end)))
            return lsc_error_set(err, LSC_ERR_INVALID, "sparse lambda must be finite and >= 0, got %g to %g",
                                 r->lambda, r->lambda_end);
        if (r->lambda_ramp < 0)
            return lsc_error_set(err, LSC_ERR_INVALID, "sparse lambda ramp must be >= 0, got %d", r->lambda_ramp);
    }
    return LSC_OK;
}

lsc_status lsc_train_problem_check(const lsc_train_problem *p, const lsc_train_rule *rule, lsc_error *err)
{
    if (!p)
        return lsc_error_set(err, LSC_ERR_INVALID, "training needs a problem");
    if (p->rows < 1 || p->cols < 1 || p->k < 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "invalid training shape [%lld, %lld] at rank %d",
                             (long long)p->rows, (long long)p->cols, p->k);
    if (p->rows > INT_MAX || p->cols > INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "layer shape [%lld, %lld] exceeds what blas can index",
                             (long long)p->rows, (long long)p->cols);
    if ((int64_t)p->k * p->cols > INT_MAX || (int64_t)p->k * p->rows > INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "rank %d factors of a [%lld, %lld] layer exceed what blas can "
                             "index", p->k, (long long)p->rows, (long long)p->cols);
    if (!isfinite(p->scale) || p->scale == 0.0)
        return lsc_error_set(err, LSC_ERR_INVALID, "trainable scale must be finite and non-zero, got %g", p->scale);
    if (p->n_tasks < 1 || !p->targets)
        return lsc_error_set(err, LSC_ERR_INVALID, "training needs at least one target");
    for (int m = 0; m < p->n_tasks; m++) {
        const lsc_train_target *t = &p->targets[m];
        if (t->T) {
            if (!all_finite(t->T, (size_t)p->rows * (size_t)p->cols))
                return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in dense target %d", m);
            continue;
        }
        const lsc_lowrank *lr = &t->lr;
        if (lr->rows != p->rows || lr->cols != p->cols || lr->r < 0)
            return lsc_error_set(err, LSC_ERR_INVALID, "target %d has shape [%lld, %lld] rank %d, the problem "
                                 "[%lld, %lld]", m, (long long)lr->rows, (long long)lr->cols, lr->r,
                                 (long long)p->rows, (long long)p->cols);
        if (lr->r > 0 && (!lr->B || !lr->A))
            return lsc_error_set(err, LSC_ERR_INVALID, "target %d factor missing", m);
        if (!isfinite(lr->scale) || (lr->r > 0 && (!all_finite(lr->B, (size_t)p->rows * (size_t)lr->r) ||
                                                   !all_finite(lr->A, (size_t)p->cols * (size_t)lr->r))))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in target %d", m);
    }
    if (p->C && p->X)
        return lsc_error_set(err, LSC_ERR_INVALID, "give the calibration as C or as samples X, not both");
    if (p->C) {
        const int64_t n = p->cols;
        if (!all_finite(p->C, (size_t)n * (size_t)n))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the calibration matrix");
        double mx = 0.0;
        for (int64_t i = 0; i < n * n; i++)
            mx = fmax(mx, fabs(p->C[i]));
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++)
                if (fabs(p->C[i * n + j] - p->C[j * n + i]) > 1e-10 * mx)
                    return lsc_error_set(err, LSC_ERR_INVALID, "calibration matrix is not symmetric at (%lld, %lld)",
                                         (long long)i, (long long)j);
    }
    if (p->X) {
        if (p->n_samples < 1 || p->n_samples > INT_MAX)
            return lsc_error_set(err, LSC_ERR_INVALID, "invalid number of calibration samples %lld",
                                 (long long)p->n_samples);
        if (!all_finite(p->X, (size_t)p->n_samples * (size_t)p->cols))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the calibration samples");
    }
    return rule ? check_rule(p, rule, err) : LSC_OK;
}

static lsc_status check_match(const lsc_train_state *st, const lsc_train_problem *p, lsc_error *err)
{
    if (!st || !p)
        return lsc_error_set(err, LSC_ERR_INVALID, "training needs a state and its problem");
    if (p->rows != st->rows || p->cols != st->cols || p->k != st->k || p->n_tasks != st->n_tasks ||
        p->scale != st->scale || (p->C || p->X) != st->weighted || (p->X != NULL) != st->samples || !p->targets)
        return lsc_error_set(err, LSC_ERR_INVALID, "problem [%lld, %lld] rank %d does not match the training state "
                             "[%lld, %lld] rank %d", (long long)p->rows, (long long)p->cols, p->k,
                             (long long)st->rows, (long long)st->cols, st->k);
    return LSC_OK;
}

/* out [m, cols] = Y [m, cols] C, with C given densely or as samples */
static lsc_status apply_c(const lsc_train_problem *p, const double *Y, int m, double *out, lsc_workspace *ws,
                          lsc_error *err)
{
    const int cols = (int)p->cols;
    if (p->C) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, cols, cols, 1.0, Y, cols, p->C, cols, 0.0, out,
                    cols);
        return LSC_OK;
    }
    const int n = (int)p->n_samples;
    double *tmp = lsc_workspace_get(ws, WS_CTMP, (size_t)m * (size_t)n);
    if (!tmp)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the calibration product");
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, cols, 1.0, Y, cols, p->X, cols, 0.0, tmp, n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, cols, n, 1.0 / (double)n, tmp, n, p->X, cols, 0.0, out,
                cols);
    return LSC_OK;
}

/* ---- state ---- */

void lsc_train_state_free(lsc_train_state *st)
{
    if (!st)
        return;
    if (st->tc)
        for (int m = 0; m < st->n_tasks; m++)
            free(st->tc[m]);
    free(st->tc);
    free(st->energy);
    double *bufs[] = {st->B, st->A, st->d, st->mB, st->vB, st->mA, st->vA, st->md, st->vd,
                      st->iB, st->uB, st->iA, st->uA, st->id, st->ud};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(st->keep);
    free(st->pairs);
    free(st);
}

lsc_train_state *lsc_train_state_new(const lsc_train_problem *p, const lsc_train_rule *rule, lsc_error *err)
{
    lsc_train_state *st = NULL;
    lsc_workspace *ws = NULL;
    if (!rule) {
        lsc_error_set(err, LSC_ERR_INVALID, "training needs a rule");
        return NULL;
    }
    if (lsc_train_problem_check(p, rule, err) != LSC_OK)
        return NULL;
    st = calloc(1, sizeof *st);
    ws = lsc_workspace_new();
    if (!st || !ws)
        goto nomem;
    st->rule = *rule;
    st->rows = p->rows;
    st->cols = p->cols;
    st->k = p->k;
    st->n_tasks = p->n_tasks;
    st->scale = p->scale;
    st->weighted = p->C || p->X;
    st->samples = p->X != NULL;
    st->kept = p->k;
    const size_t rows = (size_t)p->rows, cols = (size_t)p->cols, k = (size_t)p->k, nt = (size_t)p->n_tasks;
    const size_t nb = nt * rows * k, na = k * cols;
    st->energy = calloc(nt, sizeof(double));
    st->tc = calloc(nt, sizeof(double *));
    st->B = calloc(nb, sizeof(double));
    st->A = calloc(na, sizeof(double));
    st->d = malloc(k * sizeof(double));
    st->keep = malloc(k);
    st->mB = calloc(nb, sizeof(double));
    st->vB = calloc(nb, sizeof(double));
    st->mA = calloc(na, sizeof(double));
    st->vA = calloc(na, sizeof(double));
    st->md = calloc(k, sizeof(double));
    st->vd = calloc(k, sizeof(double));
    if (!st->energy || !st->tc || !st->B || !st->A || !st->d || !st->keep || !st->mB || !st->vB || !st->mA ||
        !st->vA || !st->md || !st->vd)
        goto nomem;
    if (rule->kind == LSC_TRAIN_ADAPTIVE) {
        st->iB = calloc(nb, sizeof(double));
        st->uB = calloc(nb, sizeof(double));
        st->iA = calloc(na, sizeof(double));
        st->uA = calloc(na, sizeof(double));
        st->id = calloc(k, sizeof(double));
        st->ud = calloc(k, sizeof(double));
        st->pairs = malloc(2 * k * sizeof(double));
        if (!st->iB || !st->uB || !st->iA || !st->uA || !st->id || !st->ud || !st->pairs)
            goto nomem;
    }
    for (size_t i = 0; i < k; i++) {
        st->d[i] = 1.0;
        st->keep[i] = 1;
    }

    /* constants: A_t C or T C, and ||T_m||_C^2 */
    for (int m = 0; m < p->n_tasks; m++) {
        const lsc_train_target *t = &p->targets[m];
        if (t->T) {
            const double *tc = t->T;
            if (st->weighted) {
                st->tc[m] = malloc(rows * cols * sizeof(double));
                if (!st->tc[m])
                    goto nomem;
                if (apply_c(p, t->T, (int)rows, st->tc[m], ws, err) != LSC_OK)
                    goto fail;
                tc = st->tc[m];
            }
            st->energy[m] = dot(tc, t->T, rows * cols);
        } else {
            const int r = t->lr.r;
            if (r > st->max_r)
                st->max_r = r;
            if (r == 0)
                continue;
            const double *atc = t->lr.A;
            if (st->weighted) {
                st->tc[m] = malloc((size_t)r * cols * sizeof(double));
                if (!st->tc[m])
                    goto nomem;
                if (apply_c(p, t->lr.A, r, st->tc[m], ws, err) != LSC_OK)
                    goto fail;
                atc = st->tc[m];
            }
            double *g = lsc_workspace_get(ws, WS_SMALL, 2 * (size_t)r * (size_t)r);
            if (!g)
                goto nomem;
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, r, (int)rows, 1.0, t->lr.B, r, t->lr.B, r, 0.0, g,
                        r);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, (int)cols, 1.0, atc, (int)cols, t->lr.A,
                        (int)cols, 0.0, g + (size_t)r * r, r);
            st->energy[m] = t->lr.scale * t->lr.scale * dot(g, g + (size_t)r * r, (size_t)r * r);
        }
        st->total_energy += st->energy[m];
    }
    lsc_workspace_free(ws);
    return st;

nomem:
    lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a [%lld, %lld] rank %d training state",
                  p ? (long long)p->rows : 0LL, p ? (long long)p->cols : 0LL, p ? p->k : 0);
fail:
    lsc_workspace_free(ws);
    lsc_train_state_free(st);
    return NULL;
}

double lsc_train_target_energy(const lsc_train_state *st)
{
    return st ? st->total_energy : 0.0;
}

const double *lsc_train_B(const lsc_train_state *st)
{
    return st ? st->B : NULL;
}
const double *lsc_train_A(const lsc_train_state *st)
{
    return st ? st->A : NULL;
}
const double *lsc_train_d(const lsc_train_state *st)
{
    return st ? st->d : NULL;
}
const unsigned char *lsc_train_keep(const lsc_train_state *st)
{
    return st ? st->keep : NULL;
}
int lsc_train_steps_done(const lsc_train_state *st)
{
    return st ? st->t : 0;
}
int lsc_train_kept(const lsc_train_state *st)
{
    return st ? st->kept : 0;
}

/* ---- the kernel ---- */

typedef struct core_out {
    double loss;
    double *task_loss; /* [n_tasks] or NULL */
    double *gB;        /* [n_tasks rows, k] or NULL; columns >= b set to 0 */
    double *gA;        /* [k, cols] or NULL; rows >= b set to 0 */
    double *gd;        /* [k] or NULL; entries >= b set to 0 */
    double *csum;      /* [b] sum_m <M_:i, G_:i> or NULL */
    double *mtm_sum;   /* [b, b] sum_m M^T M or NULL */
    double *S;         /* [b, b] A C A^T copy or NULL */
} core_out;

/* Fit loss and gradients of dW_m = s_eff B_m[:, :b] diag(d[:b]) A[:b, :] (d NULL: ones), by the trace
 * forms of train.h. */
static lsc_status fit_core(const lsc_train_state *st, const lsc_train_problem *p, int b, double s, const double *d,
                           core_out *o, lsc_workspace *ws, lsc_error *err)
{
    const int rows = (int)st->rows, cols = (int)st->cols, k = st->k, nt = st->n_tasks;
    const double *A = st->A, *AC = A;
    const bool want_b = o->gB || o->gd;

    if (st->weighted) {
        double *ac = lsc_workspace_get(ws, WS_AC, (size_t)b * (size_t)cols);
        if (!ac)
            goto nomem;
        lsc_status stc = apply_c(p, A, b, ac, ws, err);
        if (stc != LSC_OK)
            return stc;
        AC = ac;
    }
    const int mr = st->max_r;
    double *small = lsc_workspace_get(ws, WS_SMALL, 2 * (size_t)b * b + 2 * (size_t)mr * b);
    if (!small)
        goto nomem;
    double *S = small, *MtM = S + (size_t)b * b, *W = MtM + (size_t)b * b, *MtBt = W + (size_t)mr * b;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, b, cols, 1.0, A, cols, AC, cols, 0.0, S, b);
    if (o->S)
        memcpy(o->S, S, (size_t)b * b * sizeof(double));
    if (o->mtm_sum)
        memset(o->mtm_sum, 0, (size_t)b * b * sizeof(double));
    if (o->csum)
        memset(o->csum, 0, (size_t)b * sizeof(double));
    if (o->gd)
        memset(o->gd, 0, (size_t)k * sizeof(double));
    o->loss = 0.0;

    for (int m = 0; m < nt; m++) {
        const double *Bm = st->B + (size_t)m * task_b_size(st);
        const double *M = Bm;
        int ldm = k;
        if (d) {
            double *mb = lsc_workspace_get(ws, WS_M, (size_t)rows * b);
            if (!mb)
                goto nomem;
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < b; j++)
                    mb[(size_t)i * b + j] = Bm[(size_t)i * k + j] * d[j];
            M = mb;
            ldm = b;
        }
        double *G;
        int ldg;
        if (o->gB) {
            G = o->gB + (size_t)m * task_b_size(st);
            ldg = k;
        } else {
            G = lsc_workspace_get(ws, WS_G, (size_t)rows * b);
            if (!G)
                goto nomem;
            ldg = b;
        }
        double *H = NULL;
        if (o->gA) {
            H = m == 0 ? o->gA : lsc_workspace_get(ws, WS_H, (size_t)b * cols);
            if (!H)
                goto nomem;
        }

        const lsc_train_target *t = &p->targets[m];
        if (t->T) {
            const double *TC = st->tc[m] ? st->tc[m] : t->T;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, b, cols, 1.0, TC, cols, A, cols, 0.0, G, ldg);
            if (H)
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, b, cols, rows, 1.0, M, ldm, TC, cols, 0.0, H,
                            cols);
        } else if (t->lr.r > 0) {
            const int r = t->lr.r;
            const double *AtC = st->tc[m] ? st->tc[m] : t->lr.A;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, b, cols, 1.0, AtC, cols, A, cols, 0.0, W, b);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, b, r, t->lr.scale, t->lr.B, r, W, b, 0.0, G,
                        ldg);
            if (H) {
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, b, r, rows, 1.0, M, ldm, t->lr.B, r, 0.0, MtBt, r);
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, cols, r, t->lr.scale, MtBt, r, AtC, cols,
                            0.0, H, cols);
            }
        } else {
            for (int i = 0; i < rows; i++)
                memset(G + (size_t)i * ldg, 0, (size_t)b * sizeof(double));
            if (H)
                memset(H, 0, (size_t)b * cols * sizeof(double));
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, b, b, rows, 1.0, M, ldm, M, ldm, 0.0, MtM, b);

        double inner = 0.0;
        for (int i = 0; i < rows; i++) {
            const double *mi = M + (size_t)i * ldm, *gi = G + (size_t)i * ldg;
            if (o->csum)
                for (int j = 0; j < b; j++)
                    o->csum[j] += mi[j] * gi[j];
            inner += dot(mi, gi, (size_t)b);
        }
        const double quad = dot(MtM, S, (size_t)b * b);
        const double lm = st->energy[m] - 2.0 * s * inner + s * s * quad;
        o->loss += lm;
        if (o->task_loss)
            o->task_loss[m] = lm;
        if (o->mtm_sum)
            for (size_t i = 0; i < (size_t)b * b; i++)
                o->mtm_sum[i] += MtM[i];

        if (want_b) {
            /* dL/dM = -2 s G + 2 s^2 M S, in place of G */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, b, b, 2.0 * s * s, M, ldm, S, b, -2.0 * s, G,
                        ldg);
            if (o->gd)
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < b; j++)
                        o->gd[j] += G[(size_t)i * ldg + j] * Bm[(size_t)i * k + j];
            if (o->gB) {
                for (int i = 0; i < rows; i++) {
                    double *gi = G + (size_t)i * ldg;
                    if (d)
                        for (int j = 0; j < b; j++)
                            gi[j] *= d[j];
                    for (int j = b; j < k; j++)
                        gi[j] = 0.0;
                }
            }
        }
        if (H) {
            /* dL/dA = -2 s H + 2 s^2 (M^T M)(A C) */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, cols, b, 2.0 * s * s, MtM, b, AC, cols, -2.0 * s,
                        H, cols);
            if (m > 0)
                cblas_daxpy(b * cols, 1.0, H, 1, o->gA, 1);
        }
    }
    if (o->gA && b < k)
        memset(o->gA + (size_t)b * cols, 0, (size_t)(k - b) * cols * sizeof(double));
    return LSC_OK;

nomem:
    return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for training a [%lld, %lld] layer", (long long)st->rows,
                         (long long)st->cols);
}

static bool kind_trains_d(lsc_train_kind kind);

lsc_status lsc_train_gradient(const lsc_train_state *st, const lsc_train_problem *p, int b, double s_eff,
                              double *loss, double *gB, double *gA, double *gd, lsc_workspace *ws, lsc_error *err)
{
    lsc_status rc = check_match(st, p, err);
    if (rc != LSC_OK)
        return rc;
    if (b < 1 || b > st->k || !isfinite(s_eff) || !ws)
        return lsc_error_set(err, LSC_ERR_INVALID, "gradient needs 1 <= b <= %d, a finite scale and a workspace",
                             st->k);
    core_out o = {.gB = gB, .gA = gA, .gd = gd};
    rc = fit_core(st, p, b, s_eff, kind_trains_d(st->rule.kind) ? st->d : NULL, &o, ws, err);
    if (rc == LSC_OK && loss)
        *loss = o.loss;
    return rc;
}

lsc_status lsc_train_loss(const lsc_train_state *st, const lsc_train_problem *p, double *loss, double *task_loss,
                          lsc_workspace *ws, lsc_error *err)
{
    lsc_status rc = check_match(st, p, err);
    if (rc != LSC_OK)
        return rc;
    if (!ws || !loss)
        return lsc_error_set(err, LSC_ERR_INVALID, "loss needs a workspace and an output");
    core_out o = {.task_loss = task_loss};
    rc = fit_core(st, p, st->k, st->scale, kind_trains_d(st->rule.kind) ? st->d : NULL, &o, ws, err);
    if (rc == LSC_OK)
        *loss = o.loss;
    return rc;
}

lsc_status lsc_train_prefix_losses(const lsc_train_state *st, const lsc_train_problem *p, double *out,
                                   lsc_workspace *ws, lsc_error *err)
{
    lsc_status rc = check_match(st, p, err);
    if (rc != LSC_OK)
        return rc;
    if (!ws || !out)
        return lsc_error_set(err, LSC_ERR_INVALID, "prefix losses need a workspace and an output");
    const int k = st->k;
    double *buf = malloc(((size_t)k + 2 * (size_t)k * k) * sizeof(double));
    if (!buf)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for prefix losses");
    core_out o = {.csum = buf, .mtm_sum = buf + k, .S = buf + k + (size_t)k * k};
    rc = fit_core(st, p, k, st->scale, kind_trains_d(st->rule.kind) ? st->d : NULL, &o, ws, err);
    if (rc == LSC_OK) {
        double lin = 0.0, quad = 0.0;
        for (int b = 1; b <= k; b++) {
            /* grow the sums by the new row/column b-1 */
            const int j = b - 1;
            lin += o.csum[j];
            for (int i = 0; i < j; i++)
                quad += 2.0 * o.mtm_sum[(size_t)i * k + j] * o.S[(size_t)i * k + j];
            quad += o.mtm_sum[(size_t)j * k + j] * o.S[(size_t)j * k + j];
            const double sb = st->scale * (double)k / (double)b;
            out[j] = st->total_energy - 2.0 * sb * lin + sb * sb * quad;
        }
    }
    free(buf);
    return rc;
}

/* ---- the kinds' hooks ---- */

typedef struct step_ctx {
    int b;          /* active prefix */
    double s_eff;   /* its scale */
    double lr;
    double *gB, *gA, *gd;
    double reg;
} step_ctx;

typedef struct kind_ops {
    bool trains_d;
    void (*prepare)(lsc_train_state *st, step_ctx *c);
    lsc_status (*regularise)(lsc_train_state *st, step_ctx *c, lsc_workspace *ws, lsc_error *err);
    void (*before_update)(lsc_train_state *st, const step_ctx *c);
    void (*after_update)(lsc_train_state *st, const step_ctx *c);
} kind_ops;

static void dynamic_prepare(lsc_train_state *st, step_ctx *c)
{
    c->b = 1 + (int)(lsc_rng_next_state(&st->rng) % (uint64_t)st->k);
    c->s_eff = st->scale * (double)st->k / (double)c->b;
}

/* gamma (||P^T P - I||^2 + ||Q Q^T - I||^2) and its gradient added to gB, gA */
static lsc_status adaptive_regularise(lsc_train_state *st, step_ctx *c, lsc_workspace *ws, lsc_error *err)
{
    const int rows = (int)st->rows, cols = (int)st->cols, k = st->k;
    const double g = st->rule.orth_reg;
    c->reg = 0.0;
    if (g == 0.0)
        return LSC_OK;
    double *e = lsc_workspace_get(ws, WS_SMALL, 2 * (size_t)k * k);
    if (!e)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the orthogonality regulariser");
    double *ep = e, *eq = e + (size_t)k * k;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, k, rows, 1.0, st->B, k, st->B, k, 0.0, ep, k);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, k, cols, 1.0, st->A, cols, st->A, cols, 0.0, eq, k);
    for (int i = 0; i < k; i++) {
        ep[(size_t)i * k + i] -= 1.0;
        eq[(size_t)i * k + i] -= 1.0;
    }
    c->reg = g * (dot(ep, ep, (size_t)k * k) + dot(eq, eq, (size_t)k * k));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, k, k, 4.0 * g, st->B, k, ep, k, 1.0, c->gB, k);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, cols, k, 4.0 * g, eq, k, st->A, cols, 1.0, c->gA, cols);
    return LSC_OK;
}

static void ema_sensitivity(const double *w, const double *g, double *ibar, double *ubar, size_t n, double b1,
                            double b2)
{
    for (size_t i = 0; i < n; i++) {
        const double ipt = fabs(w[i] * g[i]);
        ibar[i] = b1 * ibar[i] + (1.0 - b1) * ipt;
        ubar[i] = b2 * ubar[i] + (1.0 - b2) * fabs(ipt - ibar[i]);
    }
}

static void adaptive_before(lsc_train_state *st, const step_ctx *c)
{
    const double b1 = st->rule.beta1, b2 = st->rule.beta2;
    ema_sensitivity(st->B, c->gB, st->iB, st->uB, task_b_size(st), b1, b2);
    ema_sensitivity(st->A, c->gA, st->iA, st->uA, (size_t)st->k * (size_t)st->cols, b1, b2);
    ema_sensitivity(st->d, c->gd, st->id, st->ud, (size_t)st->k, b1, b2);
}

static int cmp_score_desc(const void *a, const void *b)
{
    const double *x = a, *y = b; /* pairs (score, index) */
    if (x[0] > y[0])
        return -1;
    if (x[0] < y[0])
        return 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Keep the `budget` most important triplets; the others get Lambda = 0 and fresh moments. */
static void adaptive_mask(lsc_train_state *st, int budget)
{
    const int k = st->k;
    const int64_t rows = st->rows, cols = st->cols;
    double *pp = st->pairs;
    for (int i = 0; i < k; i++) {
        double sp = 0.0, sq = 0.0;
        for (int64_t j = 0; j < rows; j++) {
            size_t e = (size_t)j * k + i;
            sp += st->iB[e] * st->uB[e];
        }
        for (int64_t j = 0; j < cols; j++) {
            size_t e = (size_t)i * cols + j;
            sq += st->iA[e] * st->uA[e];
        }
        pp[2 * i] = st->id[i] * st->ud[i] + sp / (double)rows + sq / (double)cols;
        pp[2 * i + 1] = i;
    }
    qsort(pp, (size_t)k, 2 * sizeof(double), cmp_score_desc);
    for (int n = 0; n < k; n++) {
        const int i = (int)pp[2 * n + 1];
        st->keep[i] = n < budget;
        if (!st->keep[i]) {
            st->d[i] = 0.0;
            st->md[i] = st->vd[i] = 0.0;
        }
    }
    st->kept = budget < k ? budget : k;
}

static void adaptive_after(lsc_train_state *st, const step_ctx *c)
{
    (void)c;
    const lsc_train_rule *r = &st->rule;
    const int t = st->t; /* already counts this step */
    if (t < r->t_init)
        return;
    const bool final_phase = t > r->total_steps - r->t_final;
    if (!((t - r->t_init) % r->delta_t == 0 || final_phase || t == r->total_steps))
        return;
    const int budget = lsc_train_budget(r, t);
    if (final_phase && st->kept == budget)
        return; /* the final mask stays fixed */
    adaptive_mask(st, budget);
}

static void sparse_after(lsc_train_state *st, const step_ctx *c)
{
    const lsc_train_rule *r = &st->rule;
    double lam = r->lambda;
    if (r->lambda_ramp > 0) {
        const int t = st->t < r->lambda_ramp ? st->t : r->lambda_ramp;
        lam += (r->lambda_end - r->lambda) * (double)t / (double)r->lambda_ramp;
    }
    const double thr = c->lr * lam;
    int live = 0;
    for (int i = 0; i < st->k; i++) {
        const double g = st->d[i], a = fabs(g) - thr;
        st->d[i] = a > 0.0 ? copysign(a, g) : 0.0;
        st->keep[i] = st->d[i] != 0.0;
        live += st->keep[i];
    }
    st->kept = live;
}

static const kind_ops kinds[LSC_TRAIN_KIND_COUNT] = {
    [LSC_TRAIN_STATIC] = {0},
    [LSC_TRAIN_DYNAMIC] = {.prepare = dynamic_prepare},
    [LSC_TRAIN_ADAPTIVE] = {.trains_d = true,
                            .regularise = adaptive_regularise,
                            .before_update = adaptive_before,
                            .after_update = adaptive_after},
    [LSC_TRAIN_SPARSE] = {.trains_d = true, .after_update = sparse_after},
    [LSC_TRAIN_MULTITASK] = {0},
};

static bool kind_trains_d(lsc_train_kind kind)
{
    return kinds[kind].trains_d;
}

/* ---- Adam ---- */

typedef struct adam_k {
    double step, inv_sqrt_bc2;
} adam_k;

/* The Adam loop is a third of a step at 7B shapes; at -O2 gcc neither vectorises it nor inlines sqrt
 * without its errno check, so this one function asks for both (the argument of sqrt is never negative,
 * so errno could never be set anyway). Other compilers get the plain loop. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3", "no-math-errno")))
#endif
static void adam(double *restrict w, double *restrict m, double *restrict v, const double *restrict g, size_t n,
                 adam_k a)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (size_t i = 0; i < n; i++) {
        const double gi = g[i];
        const double mi = b1 * m[i] + (1.0 - b1) * gi;
        const double vi = b2 * v[i] + (1.0 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= a.step * mi / (sqrt(vi) * a.inv_sqrt_bc2 + eps);
    }
}

lsc_status lsc_train_step(lsc_train_state *st, const lsc_train_problem *p, double lr, lsc_train_report *report,
                          lsc_workspace *ws, lsc_error *err)
{
    lsc_status rc = check_match(st, p, err);
    if (rc != LSC_OK)
        return rc;
    if (!(lr > 0.0) || !isfinite(lr) || !ws)
        return lsc_error_set(err, LSC_ERR_INVALID, "a training step needs a finite learning rate > 0 and a "
                             "workspace, got %g", lr);
    const kind_ops *ops = &kinds[st->rule.kind];
    const int k = st->k;
    const size_t rows = (size_t)st->rows, cols = (size_t)st->cols, nb = (size_t)st->n_tasks * task_b_size(st),
                 na = (size_t)k * cols;
    double *grad = lsc_workspace_get(ws, WS_GRAD, nb + na + (size_t)k);
    if (!grad)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the gradients of a [%zu, %zu] layer", rows, cols);
    step_ctx c = {.b = k, .s_eff = st->scale, .lr = lr, .gB = grad, .gA = grad + nb, .gd = grad + nb + na};
    const uint64_t rng_before = st->rng;
    if (ops->prepare)
        ops->prepare(st, &c);

    core_out o = {.gB = c.gB, .gA = c.gA, .gd = ops->trains_d ? c.gd : NULL};
    rc = fit_core(st, p, c.b, c.s_eff, ops->trains_d ? st->d : NULL, &o, ws, err);
    if (rc == LSC_OK && ops->regularise)
        rc = ops->regularise(st, &c, ws, err);
    if (rc != LSC_OK) {
        st->rng = rng_before;
        return rc;
    }
    if (!isfinite(o.loss) || !isfinite(c.reg) || !all_finite(grad, nb + na + (ops->trains_d ? (size_t)k : 0))) {
        st->rng = rng_before;
        return lsc_error_set(err, LSC_ERR_NUMERIC, "training diverged at step %d: non-finite loss or gradient",
                             st->t + 1);
    }
    if (ops->before_update)
        ops->before_update(st, &c);

    const int t = st->t + 1;
    const adam_k a = {.step = lr / (1.0 - pow(0.9, t)), .inv_sqrt_bc2 = 1.0 / sqrt(1.0 - pow(0.999, t))};
    const int b = c.b;
    for (int m = 0; m < st->n_tasks; m++) {
        const size_t off = (size_t)m * task_b_size(st);
        if (b == k)
            adam(st->B + off, st->mB + off, st->vB + off, c.gB + off, task_b_size(st), a);
        else
            for (size_t i = 0; i < rows; i++) {
                const size_t e = off + i * (size_t)k;
                adam(st->B + e, st->mB + e, st->vB + e, c.gB + e, (size_t)b, a);
            }
    }
    adam(st->A, st->mA, st->vA, c.gA, (size_t)b * cols, a);
    if (ops->trains_d)
        for (int i = 0; i < b; i++)
            if (st->keep[i] || st->rule.kind == LSC_TRAIN_SPARSE)
                adam(st->d + i, st->md + i, st->vd + i, c.gd + i, 1, a);
    st->t = t;
    if (ops->after_update)
        ops->after_update(st, &c);
    if (report)
        *report = (lsc_train_report){.loss = o.loss, .reg = c.reg, .rank = b, .kept = st->kept};
    return LSC_OK;
}

/* ---- the exact optimum ---- */

/* The best rank-k fit of the (stacked) target, as U [n_tasks rows, nsv], sv [nsv] and input-side rows
 * Vin [nsv, cols] (V^T mapped back through C^{-1/2} when weighted), so the fit is U diag(sv) Vin. Vectors
 * only when want_vec. Returned buffers are malloc'ed, caller frees. */
typedef struct fit_result {
    int nsv;
    double loss;
    double *sv, *U, *Vin;
} fit_result;

static void fit_result_release(fit_result *f)
{
    free(f->sv);
    free(f->U);
    free(f->Vin);
    memset(f, 0, sizeof *f);
}

/* Eigen-basis of the calibration: Rt [n, cols] orthonormal rows, w [n] = sqrt(eigenvalues) > 0. */
static lsc_status calib_basis(const lsc_train_problem *p, double **rt_out, double **w_out, int *n_out, lsc_error *err)
{
    lsc_status st = LSC_OK;
    const int cols = (int)p->cols;
    double *a = NULL, *ev = NULL, *rt = NULL, *w = NULL;
    int n = 0;
    if (p->C) {
        a = malloc((size_t)cols * cols * sizeof(double));
        ev = malloc((size_t)cols * sizeof(double));
        if (!a || !ev)
            goto nomem;
        memcpy(a, p->C, (size_t)cols * cols * sizeof(double));
        lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', cols, a, cols, ev);
        if (info != 0) {
            st = lsc_error_set(err, LSC_ERR_NUMERIC, "eigen-decomposition of the calibration failed (lapack info %d)",
                               (int)info);
            goto out;
        }
        const double mx = fmax(fabs(ev[cols - 1]), fabs(ev[0]));
        if (ev[0] < -1e-10 * mx) {
            st = lsc_error_set(err, LSC_ERR_INVALID, "calibration matrix is not positive semidefinite (eigenvalue %g)",
                               ev[0]);
            goto out;
        }
        const double tol = (double)cols * DBL_EPSILON * mx;
        for (int i = 0; i < cols; i++)
            n += ev[i] > tol;
        rt = malloc(((size_t)n * cols + 1) * sizeof(double));
        w = malloc(((size_t)n + 1) * sizeof(double));
        if (!rt || !w)
            goto nomem;
        /* eigenvectors are the columns of a, ascending: take the largest first */
        for (int q = 0; q < n; q++) {
            const int col = cols - 1 - q;
            w[q] = sqrt(ev[col]);
            for (int j = 0; j < cols; j++)
                rt[(size_t)q * cols + j] = a[(size_t)j * cols + col];
        }
    } else {
        const int N = (int)p->n_samples, mn = N < cols ? N : cols;
        a = malloc((size_t)N * cols * sizeof(double));
        ev = malloc((size_t)mn * sizeof(double));
        double *vt = malloc((size_t)mn * cols * sizeof(double));
        if (!a || !ev || !vt) {
            free(vt);
            goto nomem;
        }
        const double f = 1.0 / sqrt((double)N);
        for (size_t i = 0; i < (size_t)N * cols; i++)
            a[i] = p->X[i] * f;
        lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', N, cols, a, cols, ev, NULL, mn, vt, cols);
        if (info != 0) {
            free(vt);
            st = lsc_error_set(err, LSC_ERR_NUMERIC, "svd of the calibration samples failed (lapack info %d)",
                               (int)info);
            goto out;
        }
        const double tol = (double)(N > cols ? N : cols) * DBL_EPSILON * ev[0];
        for (int i = 0; i < mn; i++)
            n += ev[i] > tol;
        rt = vt; /* first n rows are the basis */
        w = malloc(((size_t)n + 1) * sizeof(double));
        if (!w)
            goto nomem;
        memcpy(w, ev, (size_t)n * sizeof(double));
    }
    *rt_out = rt;
    *w_out = w;
    *n_out = n;
    rt = w = NULL;
    goto out;
nomem:
    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the calibration basis of %d columns", cols);
out:
    free(a);
    free(ev);
    free(rt);
    free(w);
    return st;
}

/* best_fit's factored path: Z = blockdiag(s_m B_m) [A_1; ...] R^T diag(w), SVD'd from its factors. Fills f->nsv,
 * f->sv and (want_vec) f->U and *vz = rows of V^T [nsv, nb]. Returns LSC_ERR_NOMEM with nothing set in err when
 * out of memory (the caller words the message); the caller frees *vz, bs/as are freed here. */
static lsc_status fit_factored(const lsc_train_problem *p, int rsum, int nb, const double *rt, const double *w,
                               bool want_vec, fit_result *f, double **vzp, lsc_workspace *ws, lsc_error *err)
{
    lsc_status st = LSC_OK;
    const int rows = (int)p->rows, cols = (int)p->cols, nt = p->n_tasks;
    const bool weighted = p->C || p->X;
    const int64_t srows = (int64_t)nt * rows;
    double *bs = NULL, *as = NULL, *vz = NULL;

    /* blockdiag(s_m B_m) [srows, rsum] times [A_1; ...] R^T diag(w) [rsum, nb] */
    bs = calloc((size_t)srows * rsum, sizeof(double));
    as = malloc((size_t)rsum * nb * sizeof(double));
    if (!bs || !as)
        goto nomem;
    int r0 = 0;
    for (int m = 0; m < nt; m++) {
        const lsc_lowrank *lr = &p->targets[m].lr;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < lr->r; j++)
                bs[((size_t)m * rows + i) * rsum + r0 + j] = lr->scale * lr->B[(size_t)i * lr->r + j];
        if (lr->r > 0) {
            if (weighted) {
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, lr->r, nb, cols, 1.0, lr->A, cols, rt, cols,
                            0.0, as + (size_t)r0 * nb, nb);
                for (int j = 0; j < lr->r; j++)
                    for (int q = 0; q < nb; q++)
                        as[(size_t)(r0 + j) * nb + q] *= w[q];
            } else {
                memcpy(as + (size_t)r0 * nb, lr->A, (size_t)lr->r * cols * sizeof(double));
            }
        }
        r0 += lr->r;
    }
    lsc_lowrank zl = {.rows = srows, .cols = nb, .r = rsum, .B = bs, .A = as, .scale = 1.0};
    f->nsv = lsc_spectrum_count(&zl);
    f->sv = malloc(((size_t)f->nsv + 1) * sizeof(double));
    if (want_vec) {
        f->U = malloc(((size_t)srows * f->nsv + 1) * sizeof(double));
        vz = malloc(((size_t)nb * f->nsv + 1) * sizeof(double));
    }
    if (!f->sv || (want_vec && (!f->U || !vz)))
        goto nomem;
    st = lsc_spectrum(&zl, ws, f->sv, f->U, vz, err);
    if (st != LSC_OK)
        goto out;
    /* vz [nb, nsv] -> rows of V^T: transpose in place of the later mapping below */
    if (want_vec) {
        double *vt = malloc(((size_t)nb * f->nsv + 1) * sizeof(double));
        if (!vt)
            goto nomem;
        for (int q = 0; q < nb; q++)
            for (int i = 0; i < f->nsv; i++)
                vt[(size_t)i * nb + q] = vz[(size_t)q * f->nsv + i];
        free(vz);
        vz = vt;
    }
    goto out;
nomem:
    st = LSC_ERR_NOMEM;
out:
    free(bs);
    free(as);
    *vzp = vz;
    return st;
}

/* best_fit's dense path: the stacked targets Z [nt rows, nb] (weighted by R^T diag(w) when calibrated), one
 * dgesdd. Same outputs and out-of-memory protocol as fit_factored. */
static lsc_status fit_dense(const lsc_train_problem *p, int nb, const double *rt, const double *w, bool want_vec,
                            fit_result *f, double **vzp, lsc_error *err)
{
    lsc_status st = LSC_OK;
    const int rows = (int)p->rows, cols = (int)p->cols, nt = p->n_tasks;
    const bool weighted = p->C || p->X;
    const int64_t srows = (int64_t)nt * rows;
    double *z = NULL, *vz = NULL;

    /* dense stacked Z [srows, nb] */
    z = malloc((size_t)srows * nb * sizeof(double));
    double *tm = weighted ? malloc((size_t)rows * cols * sizeof(double)) : NULL;
    if (!z || (weighted && !tm)) {
        free(tm);
        goto nomem;
    }
    for (int m = 0; m < nt; m++) {
        const lsc_train_target *t = &p->targets[m];
        double *dst = weighted ? tm : z + (size_t)m * rows * cols;
        if (t->T)
            memcpy(dst, t->T, (size_t)rows * cols * sizeof(double));
        else if (t->lr.r > 0)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, t->lr.r, t->lr.scale, t->lr.B,
                        t->lr.r, t->lr.A, cols, 0.0, dst, cols);
        else
            memset(dst, 0, (size_t)rows * cols * sizeof(double));
        if (weighted) {
            double *zm = z + (size_t)m * rows * nb;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nb, cols, 1.0, tm, cols, rt, cols, 0.0, zm,
                        nb);
            for (int i = 0; i < rows; i++)
                for (int q = 0; q < nb; q++)
                    zm[(size_t)i * nb + q] *= w[q];
        }
    }
    free(tm);
    const int srows_i = (int)srows, mn = srows_i < nb ? srows_i : nb;
    f->nsv = mn;
    f->sv = malloc(((size_t)mn + 1) * sizeof(double));
    if (want_vec) {
        f->U = malloc(((size_t)srows * mn + 1) * sizeof(double));
        vz = malloc(((size_t)mn * nb + 1) * sizeof(double));
    }
    if (!f->sv || (want_vec && (!f->U || !vz)))
        goto nomem;
    if (!all_finite(z, (size_t)srows * nb)) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "overflow in the weighted target");
        goto out;
    }
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, want_vec ? 'S' : 'N', srows_i, nb, z, nb, f->sv, f->U, mn,
                                     vz, nb);
    if (info != 0) {
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "svd of the dense target failed (lapack info %d)", (int)info);
        goto out;
    }
    goto out;
nomem:
    st = LSC_ERR_NOMEM;
out:
    free(z);
    *vzp = vz;
    return st;
}

static lsc_status best_fit(const lsc_train_problem *p, int k, bool want_vec, fit_result *f, lsc_workspace *ws,
                           lsc_error *err)
{
    lsc_status st = LSC_OK;
    const int rows = (int)p->rows, cols = (int)p->cols, nt = p->n_tasks;
    const bool weighted = p->C || p->X;
    double *rt = NULL, *w = NULL, *vz = NULL;
    int nb = cols; /* columns of the fitted matrix Z = T R diag(w) (or T) */
    memset(f, 0, sizeof *f);
    if (weighted) {
        st = calib_basis(p, &rt, &w, &nb, err);
        if (st != LSC_OK)
            goto out;
    }
    const int64_t srows = (int64_t)nt * rows;
    if (srows > INT_MAX) {
        st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "%d stacked targets of %d rows exceed what lapack can index", nt,
                           rows);
        goto out;
    }
    bool factored = true;
    int rsum = 0;
    for (int m = 0; m < nt; m++) {
        factored &= p->targets[m].T == NULL;
        if (!p->targets[m].T)
            rsum += p->targets[m].lr.r;
    }
    if (nb == 0 || (factored && rsum == 0)) /* zero target or zero calibration: nothing to fit */
        goto out;

    st = factored ? fit_factored(p, rsum, nb, rt, w, want_vec, f, &vz, ws, err)
                  : fit_dense(p, nb, rt, w, want_vec, f, &vz, err);
    if (st == LSC_ERR_NOMEM)
        goto nomem;
    if (st != LSC_OK)
        goto out;
    for (int i = k; i < f->nsv; i++)
        f->loss += f->sv[i] * f->sv[i];
    if (want_vec) {
        /* input side: rows of V^T [nsv, nb], mapped back by diag(1/w) R^T when weighted */
        if (weighted) {
            const int nk = f->nsv < k ? f->nsv : k;
            f->Vin = calloc((size_t)(nk > 0 ? nk : 1) * cols, sizeof(double));
            if (!f->Vin)
                goto nomem;
            for (int i = 0; i < nk; i++)
                for (int q = 0; q < nb; q++)
                    vz[(size_t)i * nb + q] /= w[q];
            if (nk > 0)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nk, cols, nb, 1.0, vz, nb, rt, cols, 0.0,
                            f->Vin, cols);
        } else {
            f->Vin = vz;
            vz = NULL;
        }
    }
    goto out;
nomem:
    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the optimum of a [%d, %d] layer", rows, cols);
out:
    if (st != LSC_OK)
        fit_result_release(f);
    free(rt);
    free(w);
    free(vz);
    return st;
}

lsc_status lsc_train_optimum(const lsc_train_problem *p, int k, double *loss, lsc_workspace *ws, lsc_error *err)
{
    lsc_status st = lsc_train_problem_check(p, NULL, err);
    if (st != LSC_OK)
        return st;
    if (k < 1 || !loss || !ws)
        return lsc_error_set(err, LSC_ERR_INVALID, "optimum needs a rank >= 1 (got %d), an output and a workspace", k);
    fit_result f;
    st = best_fit(p, k, false, &f, ws, err);
    if (st == LSC_OK)
        *loss = f.loss;
    fit_result_release(&f);
    return st;
}

/* ---- initialisation ---- */

static void random_rank(lsc_train_state *st, int i)
{
    /* rank i like a fresh PEFT layer: A row uniform, B column (every task) 0, d as the kind starts */
    const size_t cols = (size_t)st->cols, k = (size_t)st->k;
    if (st->rule.kind == LSC_TRAIN_ADAPTIVE) {
        for (int m = 0; m < st->n_tasks; m++)
            for (int64_t r = 0; r < st->rows; r++)
                st->B[(size_t)m * task_b_size(st) + (size_t)r * k + (size_t)i] = 0.02 * rng_normal(&st->rng);
        for (size_t j = 0; j < cols; j++)
            st->A[(size_t)i * cols + j] = 0.02 * rng_normal(&st->rng);
        st->d[i] = 0.0;
        return;
    }
    const double bound = 1.0 / sqrt((double)cols);
    for (size_t j = 0; j < cols; j++)
        st->A[(size_t)i * cols + j] = bound * (2.0 * rng_uniform(&st->rng) - 1.0);
    for (int m = 0; m < st->n_tasks; m++)
        for (int64_t r = 0; r < st->rows; r++)
            st->B[(size_t)m * task_b_size(st) + (size_t)r * k + (size_t)i] = 0.0;
    st->d[i] = 1.0;
}

lsc_status lsc_train_init(lsc_train_state *st, const lsc_train_problem *p, lsc_train_init_mode mode, uint64_t seed,
                          const lsc_train_factors *from, lsc_workspace *ws, lsc_error *err)
{
    lsc_status rc = check_match(st, p, err);
    if (rc != LSC_OK)
        return rc;
    if (!ws)
        return lsc_error_set(err, LSC_ERR_INVALID, "initialisation needs a workspace");
    const int k = st->k;
    const size_t cols = (size_t)st->cols, nb = (size_t)st->n_tasks * task_b_size(st), na = (size_t)k * cols;
    if (mode == LSC_TRAIN_INIT_SELF) {
        if (!from || !from->B || !from->A)
            return lsc_error_set(err, LSC_ERR_INVALID, "self initialisation needs factors B and A");
        if (!all_finite(from->B, nb) || !all_finite(from->A, na) || (from->d && !all_finite(from->d, (size_t)k)))
            return lsc_error_set(err, LSC_ERR_INVALID, "non-finite entries in the starting factors");
    } else if (mode != LSC_TRAIN_INIT_SVD && mode != LSC_TRAIN_INIT_RANDOM) {
        return lsc_error_set(err, LSC_ERR_INVALID, "unknown initialisation %d", (int)mode);
    }
    fit_result f = {0};
    if (mode == LSC_TRAIN_INIT_SVD) {
        rc = best_fit(p, k, true, &f, ws, err);
        if (rc != LSC_OK)
            return rc;
    }

    st->rng = seed;
    st->t = 0;
    st->kept = k;
    memset(st->mB, 0, nb * sizeof(double));
    memset(st->vB, 0, nb * sizeof(double));
    memset(st->mA, 0, na * sizeof(double));
    memset(st->vA, 0, na * sizeof(double));
    memset(st->md, 0, (size_t)k * sizeof(double));
    memset(st->vd, 0, (size_t)k * sizeof(double));
    if (st->iB) {
        memset(st->iB, 0, nb * sizeof(double));
        memset(st->uB, 0, nb * sizeof(double));
        memset(st->iA, 0, na * sizeof(double));
        memset(st->uA, 0, na * sizeof(double));
        memset(st->id, 0, (size_t)k * sizeof(double));
        memset(st->ud, 0, (size_t)k * sizeof(double));
    }
    for (int i = 0; i < k; i++) {
        st->keep[i] = 1;
        st->d[i] = 1.0;
    }

    switch (mode) {
    case LSC_TRAIN_INIT_SELF:
        memcpy(st->B, from->B, nb * sizeof(double));
        memcpy(st->A, from->A, na * sizeof(double));
        if (from->d && kind_trains_d(st->rule.kind))
            memcpy(st->d, from->d, (size_t)k * sizeof(double));
        break;
    case LSC_TRAIN_INIT_RANDOM:
        for (int i = 0; i < k; i++)
            random_rank(st, i);
        break;
    case LSC_TRAIN_INIT_SVD: {
        const double s = st->scale, as = fabs(s), sg = s < 0 ? -1.0 : 1.0;
        const double tiny = f.nsv > 0 ? f.sv[0] * 1e-14 : 0.0;
        for (int i = 0; i < k; i++) {
            if (i >= f.nsv || !(f.sv[i] > tiny)) {
                random_rank(st, i);
                continue;
            }
            const bool ada = st->rule.kind == LSC_TRAIN_ADAPTIVE;
            const double c = ada ? 1.0 : sqrt(f.sv[i] / as);
            for (int64_t r = 0; r < st->rows * st->n_tasks; r++)
                st->B[(size_t)r * k + i] = f.U[(size_t)r * f.nsv + i] * c * (ada ? 1.0 : sg);
            for (size_t j = 0; j < cols; j++)
                st->A[(size_t)i * cols + j] = f.Vin[(size_t)i * cols + j] * c;
            if (ada)
                st->d[i] = f.sv[i] / s;
        }
        break;
    }
    }
    fit_result_release(&f);
    return LSC_OK;
}

lsc_status lsc_train_export(const lsc_train_state *st, int task, double *B_out, double *A_out, double *scale_out,
                            lsc_error *err)
{
    if (!st || task < 0 || task >= st->n_tasks || !B_out || !A_out || !scale_out)
        return lsc_error_set(err, LSC_ERR_INVALID, "export needs a state, a task in [0, %d) and outputs",
                             st ? st->n_tasks : 0);
    const int k = st->k;
    const double *Bm = st->B + (size_t)task * task_b_size(st);
    for (int64_t i = 0; i < st->rows; i++)
        for (int j = 0; j < k; j++)
            B_out[(size_t)i * k + j] = Bm[(size_t)i * k + j] * st->d[j];
    memcpy(A_out, st->A, (size_t)k * (size_t)st->cols * sizeof(double));
    *scale_out = st->scale;
    return LSC_OK;
}

/* ---- layer-wise ranks ---- */

typedef struct sv_pick {
    double v;
    int layer, idx;
} sv_pick;

static int cmp_pick(const void *a, const void *b)
{
    const sv_pick *x = a, *y = b;
    if (x->v > y->v)
        return -1;
    if (x->v < y->v)
        return 1;
    if (x->layer != y->layer)
        return x->layer < y->layer ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

lsc_status lsc_train_budget_ranks(const double *const *sv, const int *n, int n_layers, int64_t budget,
                                  int *ranks_out, lsc_error *err)
{
    if (n_layers < 0 || budget < 1 || (n_layers > 0 && (!sv || !n || !ranks_out)))
        return lsc_error_set(err, LSC_ERR_INVALID, "budget ranks need budget >= 1 (got %lld) and the spectra of "
                             "every layer", (long long)budget);
    int64_t rest = 0;
    int64_t nonempty = 0;
    for (int l = 0; l < n_layers; l++) {
        if (n[l] < 0 || (n[l] > 0 && !sv[l]))
            return lsc_error_set(err, LSC_ERR_INVALID, "layer %d has an invalid spectrum", l);
        for (int i = 0; i < n[l]; i++) {
            if (!isfinite(sv[l][i]))
                return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite singular value in layer %d", l);
            if (sv[l][i] < 0.0 || (i > 0 && sv[l][i] > sv[l][i - 1]))
                return lsc_error_set(err, LSC_ERR_INVALID, "layer %d spectrum is not descending and non-negative", l);
        }
        nonempty += n[l] > 0;
        rest += n[l] > 0 ? n[l] - 1 : 0;
    }
    sv_pick *picks = malloc((size_t)(rest > 0 ? rest : 1) * sizeof(sv_pick));
    if (!picks)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for %lld singular values", (long long)rest);
    size_t q = 0;
    for (int l = 0; l < n_layers; l++) {
        ranks_out[l] = n[l] > 0 ? 1 : 0;
        for (int i = 1; i < n[l]; i++)
            picks[q++] = (sv_pick){.v = sv[l][i], .layer = l, .idx = i};
    }
    qsort(picks, q, sizeof *picks, cmp_pick);
    int64_t extra = budget - nonempty;
    for (size_t i = 0; i < q && (int64_t)i < extra; i++)
        ranks_out[picks[i].layer]++;
    free(picks);
    return LSC_OK;
}
