/* merge.c: layer merges (see merge.h for the formulas, the DARE generator and the memory design).
 *
 * Factored methods (CAT, LINEAR, SVD) work on the concatenated factors and reuse lsc_prune_truncate for
 * the best rank-R approximation. Element-wise methods form task vectors one row block at a time, find
 * each magnitude threshold by an exact radix selection that re-forms the blocks instead of storing whole
 * task vectors, write the merged dense M once, then re-factorise it (randomized SVD by default).
 *
 * Workspace slots: 0-7 scratch that never lives across an lsc_spectrum call (randomized SVD work, the
 * selection's collected keys, dgesdd copies); 11-12 the concatenated factors; 13 the dense M; 14 the row
 * block buffers; 15 the thin randomized-SVD matrices. lsc_prune_truncate uses 8-10 (and 0-7 through
 * lsc_spectrum). Pure compute over BLAS/LAPACKE; never prints.
 */
#include "merge.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"
#include "rng.h"
#include "spectrum.h"

enum {
    WS_WORK = 0,      /* LAPACK work */
    WS_IWORK = 1,     /* dgesdd integer work */
    WS_ERRBLK = 2,    /* residual block of the error pass */
    WS_KEYS = 3,      /* keys collected by the magnitude selection */
    WS_XCOPY = 4,     /* exact path: copy of M */
    WS_XU = 5,        /* exact path: U */
    WS_XVT = 6,       /* exact path: VT and singular values */
    WS_CATB = LSC_WS_CALLER_FIRST + 3,
    WS_CATA,
    WS_DENSE,
    WS_BLOCK,
    WS_THIN,
};
_Static_assert(WS_XVT < LSC_WS_CALLER_FIRST, "merge scratch must stay below the caller slots");
_Static_assert(WS_THIN < LSC_WS_SLOTS, "merge must stay inside the workspace");

#define OVERSAMPLE 10
#define POWER_ITERS 2
#define SELECT_CAP_DEFAULT ((size_t)1 << 21)
/* entries per row block buffer (doubles); ~256 KB keeps a block and its GEMM operand in L2 */
#define BLOCK_ENTRIES ((size_t)1 << 15)

static size_t select_cap = SELECT_CAP_DEFAULT;

size_t lsc_merge_set_select_cap(size_t cap)
{
    size_t old = select_cap;
    select_cap = cap ? cap : SELECT_CAP_DEFAULT;
    return old;
}

static const char *const method_names[] = {
#define LSC_X_NAME(code, name) name,
    LSC_MERGE_METHOD_LIST(LSC_X_NAME)
#undef LSC_X_NAME
};
_Static_assert(sizeof method_names / sizeof method_names[0] == LSC_MERGE_METHOD_COUNT, "method names out of step");

const char *lsc_merge_method_name(lsc_merge_method m)
{
    if ((int)m < 0 || m >= LSC_MERGE_METHOD_COUNT)
        return "?";
    return method_names[m];
}

lsc_status lsc_merge_method_from_name(const char *name, lsc_merge_method *m, lsc_error *err)
{
    int i = lsc_name_index(method_names, LSC_MERGE_METHOD_COUNT, name);
    if (i >= 0) {
        *m = (lsc_merge_method)i;
        return LSC_OK;
    }
    char esc[128];
    return lsc_error_set(err, LSC_ERR_INVALID, "unknown merge method '%s'",
                         lsc_escape_name(esc, sizeof esc, name ? name : ""));
}

int lsc_merge_is_elementwise(lsc_merge_method m)
{
    return m == LSC_MERGE_MAGNITUDE || m == LSC_MERGE_DARE_LINEAR || m == LSC_MERGE_TIES || m == LSC_MERGE_DARE_TIES;
}

lsc_merge_params lsc_merge_params_default(lsc_merge_method method)
{
    return (lsc_merge_params){.method = method, .rank = 0, .density = 1.0, .seed = 0, .out_scale = 1.0,
                              .exact_svd = 0};
}

/* ---- validation ---- */

static bool all_finite(const double *x, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= isfinite(x[i]) != 0;
    return ok;
}

static bool is_trim(lsc_merge_method m)
{
    return m == LSC_MERGE_MAGNITUDE || m == LSC_MERGE_TIES;
}

static bool is_dare(lsc_merge_method m)
{
    return m == LSC_MERGE_DARE_LINEAR || m == LSC_MERGE_DARE_TIES;
}

static bool is_ties(lsc_merge_method m)
{
    return m == LSC_MERGE_TIES || m == LSC_MERGE_DARE_TIES;
}

/* LSC_ERR_NUMERIC naming the first layer with a NaN or Inf in its factors (shapes already checked). */
static lsc_status scan_factors(const lsc_lowrank *layers, int n_models, lsc_error *err)
{
    const int64_t rows = layers[0].rows, cols = layers[0].cols;
    for (int k = 0; k < n_models; k++) {
        const lsc_lowrank *l = &layers[k];
        if (l->r > 0 &&
            (!all_finite(l->B, (size_t)rows * (size_t)l->r) || !all_finite(l->A, (size_t)l->r * (size_t)cols)))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the factors of layer %d", k + 1);
    }
    return LSC_OK;
}

/* Everything but the rank and the factor entries; `scan` also checks the factors for NaN/Inf. w may be
 * NULL only for lsc_merge_out_rank (the weights are then not checked). */
static lsc_status check_inputs(const lsc_lowrank *layers, const double *w, int n_models, const lsc_merge_params *p,
                               bool scan, lsc_error *err)
{
    if (!layers || !p)
        return lsc_error_set(err, LSC_ERR_INVALID, "merge needs layers, weights and parameters");
    if (n_models < 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "merge needs at least one layer, got %d", n_models);
    if ((int)p->method < 0 || p->method >= LSC_MERGE_METHOD_COUNT)
        return lsc_error_set(err, LSC_ERR_INVALID, "unknown merge method %d", (int)p->method);
    if (!isfinite(p->out_scale) || p->out_scale == 0.0)
        return lsc_error_set(err, LSC_ERR_INVALID, "output scale must be finite and non-zero, not %g", p->out_scale);
    if (lsc_merge_is_elementwise(p->method) && !(p->density > 0.0 && p->density <= 1.0))
        return lsc_error_set(err, LSC_ERR_INVALID, "density must be in (0, 1], not %g", p->density);
    const int64_t rows = layers[0].rows, cols = layers[0].cols;
    if (rows < 1 || cols < 1 || rows > INT_MAX || cols > INT_MAX)
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot merge layers of shape [%lld, %lld]", (long long)rows,
                             (long long)cols);
    for (int k = 0; k < n_models; k++) {
        const lsc_lowrank *l = &layers[k];
        if (l->rows != rows || l->cols != cols)
            return lsc_error_set(err, LSC_ERR_INVALID, "layer %d has shape [%lld, %lld], layer 1 has [%lld, %lld]",
                                 k + 1, (long long)l->rows, (long long)l->cols, (long long)rows, (long long)cols);
        if (l->r < 0 || (l->r > 0 && (!l->A || !l->B)))
            return lsc_error_set(err, LSC_ERR_INVALID, "layer %d: rank %d with a missing factor", k + 1, l->r);
        if (w && !isfinite(w[k]))
            return lsc_error_set(err, LSC_ERR_INVALID, "weight %d is not finite", k + 1);
        if (w && is_ties(p->method) && !(w[k] > 0.0))
            return lsc_error_set(err, LSC_ERR_INVALID, "method '%s' needs positive weights, weight %d is %g",
                                 lsc_merge_method_name(p->method), k + 1, w[k]);
        if (!isfinite(l->scale))
            return lsc_error_set(err, LSC_ERR_NUMERIC, "layer %d has a non-finite scale", k + 1);
    }
    return scan ? scan_factors(layers, n_models, err) : LSC_OK;
}

static int64_t total_rank(const lsc_lowrank *layers, int n_models)
{
    int64_t t = 0;
    for (int k = 0; k < n_models; k++)
        t += layers[k].r;
    return t;
}

static int min_i64(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t m = a;
    if (b < m)
        m = b;
    if (c < m)
        m = c;
    if (d < m)
        m = d;
    return (int)m;
}

/* The output rank, or 0 with an error set. */
static int out_rank(const lsc_lowrank *layers, int n_models, const lsc_merge_params *p, lsc_error *err)
{
    const int64_t rows = layers[0].rows, cols = layers[0].cols, sum_r = total_rank(layers, n_models);
    if (p->method == LSC_MERGE_CAT || (p->method == LSC_MERGE_LINEAR && p->rank == 0)) {
        if (sum_r < 1 || sum_r > INT_MAX) {
            lsc_error_set(err, LSC_ERR_INVALID, "cannot concatenate a total rank of %lld", (long long)sum_r);
            return 0;
        }
        return (int)sum_r;
    }
    if (p->rank < 1) {
        lsc_error_set(err, LSC_ERR_INVALID, "merge method '%s' needs a rank of at least 1, not %d",
                      lsc_merge_method_name(p->method), p->rank);
        return 0;
    }
    if (lsc_merge_is_elementwise(p->method))
        return min_i64(p->rank, rows, cols, INT64_MAX);
    int k = min_i64(p->rank, sum_r, rows, cols);
    return k < 1 ? 1 : k;
}

int lsc_merge_out_rank(const lsc_lowrank *layers, int n_models, const lsc_merge_params *p)
{
    if (check_inputs(layers, NULL, n_models, p, false, NULL) != LSC_OK)
        return 0;
    return out_rank(layers, n_models, p, NULL);
}

/* ---- factored methods ---- */

/* B_out [rows, R] = [c_1 B_1, ..., c_K B_K] with c_k = w_k s_k / out_scale, A_out [R, cols] = [A_1; ...]. */
static void write_cat(const lsc_lowrank *layers, const double *w, int n_models, double out_scale, double *B_out,
                      int R, double *A_out)
{
    const size_t rows = (size_t)layers[0].rows, cols = (size_t)layers[0].cols;
    int off = 0;
    for (int k = 0; k < n_models; k++) {
        const lsc_lowrank *l = &layers[k];
        const double c = w[k] * l->scale / out_scale;
        for (size_t i = 0; i < rows; i++)
            for (int j = 0; j < l->r; j++)
                B_out[i * (size_t)R + (size_t)(off + j)] = c * l->B[i * (size_t)l->r + (size_t)j];
        if (l->r > 0)
            memcpy(A_out + (size_t)off * cols, l->A, (size_t)l->r * cols * sizeof(double));
        off += l->r;
    }
}

/* ---- the DARE generator and Gaussian test matrices (merge.h documents the DARE one) ---- */


static inline double dare_u(uint64_t model_key, uint64_t i)
{
    return (double)(lsc_rng_mix64(model_key ^ lsc_rng_mix64(i + 0xD1B54A32D192ED03ull)) >> 11) * 0x1.0p-53;
}

static double gauss(uint64_t *state)
{
    lsc_rng g = {*state};
    double x = lsc_rng_gauss(&g);
    *state = g.s;
    return x;
}

/* ---- element-wise merges ---- */

enum { TRIM_NONE, TRIM_ALL, TRIM_THRESHOLD };

typedef struct trim_state {
    int mode;
    uint64_t t;      /* keep entries whose key exceeds t ... */
    int64_t need_eq; /* ... and the first need_eq (row-major) whose key equals t */
    int64_t seen_eq;
} trim_state;

typedef struct ew {
    const lsc_lowrank *layers;
    const double *w;
    int n_models, rows, cols, rb;
    lsc_merge_method method;
    double density;
    double *tau;     /* [rb, cols] one task vector block */
    double *acc;     /* TIES: S, P, N, WP, WN blocks, each [rb, cols] */
    uint64_t *hist;  /* [65536] radix histogram */
    trim_state *trim;
    uint64_t *dare_key;
} ew;

/* key of |x|: for non-negative doubles the bit pattern orders like the value */
static inline uint64_t key_of(double x)
{
    double a = fabs(x);
    uint64_t u;
    memcpy(&u, &a, sizeof u);
    return u;
}

/* tau_k rows [r0, r0 + nb) into out [nb, cols] */
static void form_block(const ew *e, int k, int r0, int nb, double *out)
{
    const lsc_lowrank *l = &e->layers[k];
    if (l->r == 0 || l->scale == 0.0) {
        memset(out, 0, (size_t)nb * (size_t)e->cols * sizeof(double));
        return;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, e->cols, l->r, l->scale, l->B + (size_t)r0 * l->r,
                l->r, l->A, e->cols, 0.0, out, e->cols);
}

/* Position q (0-based) of a in descending order; a is permuted. Three-way partitions, so long runs of
 * equal keys cost one pass. */
static uint64_t select_desc(uint64_t *a, size_t n, size_t q)
{
    size_t lo = 0, hi = n;
    uint64_t state = 0x2545F4914F6CDD1Dull;
    while (hi - lo > 1) {
        const uint64_t pivot = a[lo + lsc_rng_mix64(state++) % (hi - lo)];
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            uint64_t x = a[i];
            if (x > pivot) {
                a[i++] = a[lt];
                a[lt++] = x;
            } else if (x < pivot) {
                a[i] = a[--gt];
                a[gt] = x;
            } else {
                i++;
            }
        }
        if (q < lt)
            hi = lt;
        else if (q >= gt)
            lo = gt;
        else
            return pivot;
    }
    return a[lo];
}

/* Threshold of the magnitude trim of task vector k (see merge.h): the m-th largest key t and how many
 * entries equal to t are kept. Radix selection on 16-bit digits from the top; once the entries still in
 * question fit in the collection cap, they are gathered and selected directly. Each pass re-forms the task
 * vector block by block. */
static lsc_status select_threshold(ew *e, int k, lsc_workspace *ws, lsc_error *err)
{
    trim_state *ts = &e->trim[k];
    const uint64_t n = (uint64_t)e->rows * (uint64_t)e->cols;
    double mf = floor(e->density * (double)n * (1.0 + 1e-12));
    uint64_t m = mf >= (double)n ? n : (uint64_t)mf;
    *ts = (trim_state){0};
    if (m == 0) {
        ts->mode = TRIM_NONE;
        return LSC_OK;
    }
    if (m == n) {
        ts->mode = TRIM_ALL;
        return LSC_OK;
    }
    ts->mode = TRIM_THRESHOLD;
    uint64_t prefix = 0, mask = 0, remaining = m, count = n;
    for (int d = 0; d < 4; d++) {
        const int shift = 48 - 16 * d;
        if (count <= select_cap) {
            uint64_t *keys = (uint64_t *)(void *)lsc_workspace_get(ws, WS_KEYS, (size_t)count);
            if (!keys)
                return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory selecting %llu magnitudes",
                                     (unsigned long long)count);
            size_t c = 0;
            for (int r0 = 0; r0 < e->rows; r0 += e->rb) {
                const int nb = e->rows - r0 < e->rb ? e->rows - r0 : e->rb;
                const size_t nn = (size_t)nb * (size_t)e->cols;
                form_block(e, k, r0, nb, e->tau);
                for (size_t i = 0; i < nn; i++) {
                    uint64_t key = key_of(e->tau[i]);
                    if ((key & mask) == prefix && c < count)
                        keys[c++] = key;
                }
            }
            const uint64_t t = select_desc(keys, c, (size_t)(remaining - 1));
            uint64_t gt = 0;
            for (size_t i = 0; i < c; i++)
                gt += keys[i] > t;
            ts->t = t;
            ts->need_eq = (int64_t)(remaining - gt);
            return LSC_OK;
        }
        memset(e->hist, 0, 65536 * sizeof(uint64_t));
        for (int r0 = 0; r0 < e->rows; r0 += e->rb) {
            const int nb = e->rows - r0 < e->rb ? e->rows - r0 : e->rb;
            const size_t nn = (size_t)nb * (size_t)e->cols;
            form_block(e, k, r0, nb, e->tau);
            for (size_t i = 0; i < nn; i++) {
                uint64_t key = key_of(e->tau[i]);
                if ((key & mask) == prefix)
                    e->hist[(key >> shift) & 0xFFFFu]++;
            }
        }
        int dg = 65535;
        for (; dg > 0; dg--) {
            if (e->hist[dg] >= remaining)
                break;
            remaining -= e->hist[dg];
        }
        prefix |= (uint64_t)dg << shift;
        mask |= (uint64_t)0xFFFFu << shift;
        count = e->hist[dg];
        if (count == remaining) {
            /* the whole bucket is kept: keep every key >= prefix (prefix > 0, else all n were kept) */
            if (prefix == 0) {
                ts->mode = TRIM_ALL;
                return LSC_OK;
            }
            ts->t = prefix - 1;
            ts->need_eq = 0;
            return LSC_OK;
        }
    }
    ts->t = prefix;
    ts->need_eq = (int64_t)remaining;
    return LSC_OK;
}

/* Apply model k's trim or DARE mask to x [n], whose first entry has row-major index base. */
static void apply_op(ew *e, int k, uint64_t base, double *x, size_t n)
{
    if (is_trim(e->method)) {
        trim_state *ts = &e->trim[k];
        if (ts->mode == TRIM_ALL)
            return;
        if (ts->mode == TRIM_NONE) {
            memset(x, 0, n * sizeof(double));
            return;
        }
        const uint64_t t = ts->t;
        for (size_t i = 0; i < n; i++) {
            uint64_t key = key_of(x[i]);
            if (key > t)
                continue;
            if (key == t && ts->seen_eq < ts->need_eq) {
                ts->seen_eq++;
                continue;
            }
            x[i] = 0.0;
        }
    } else if (is_dare(e->method) && e->density < 1.0) {
        const uint64_t mk = e->dare_key[k];
        const double dens = e->density;
        for (size_t i = 0; i < n; i++)
            x[i] = dare_u(mk, base + i) < dens ? x[i] / dens : 0.0;
    }
}

/* The dense result into M [rows, cols], block by block. */
static void build_blocks(ew *e, double *M)
{
    const bool ties = is_ties(e->method);
    const size_t bsz = (size_t)e->rb * (size_t)e->cols;
    for (int r0 = 0; r0 < e->rows; r0 += e->rb) {
        const int nb = e->rows - r0 < e->rb ? e->rows - r0 : e->rb;
        const size_t nn = (size_t)nb * (size_t)e->cols;
        double *mb = M + (size_t)r0 * (size_t)e->cols;
        double *S = e->acc, *P = S + bsz, *N = P + bsz, *WP = N + bsz, *WN = WP + bsz;
        if (ties)
            memset(e->acc, 0, 5 * bsz * sizeof(double));
        else
            memset(mb, 0, nn * sizeof(double));
        for (int k = 0; k < e->n_models; k++) {
            const double wk = e->w[k];
            form_block(e, k, r0, nb, e->tau);
            apply_op(e, k, (uint64_t)r0 * (uint64_t)e->cols, e->tau, nn);
            const double *t = e->tau;
            if (!ties) {
                for (size_t i = 0; i < nn; i++)
                    mb[i] += wk * t[i];
                continue;
            }
            for (size_t i = 0; i < nn; i++) {
                const double v = wk * t[i];
                S[i] += v;
                if (t[i] > 0.0) {
                    P[i] += v;
                    WP[i] += wk;
                } else if (t[i] < 0.0) {
                    N[i] += v;
                    WN[i] += wk;
                }
            }
        }
        if (ties)
            for (size_t i = 0; i < nn; i++)
                mb[i] = S[i] >= 0.0 ? (WP[i] > 0.0 ? P[i] / WP[i] : 0.0) : (WN[i] > 0.0 ? N[i] / WN[i] : 0.0);
    }
}

/* Inputs already checked (factors finite). */
static lsc_status build_dense(const lsc_lowrank *layers, const double *w, int n_models, const lsc_merge_params *p,
                              lsc_workspace *ws, double *M, lsc_error *err)
{
    lsc_status st = LSC_OK;
    ew e = {.layers = layers, .w = w, .n_models = n_models, .rows = (int)layers[0].rows,
            .cols = (int)layers[0].cols, .method = p->method, .density = p->density};
    e.rb = (int)(BLOCK_ENTRIES / (size_t)e.cols);
    if (e.rb < 1)
        e.rb = 1;
    if (e.rb > e.rows)
        e.rb = e.rows;
    const size_t bsz = (size_t)e.rb * (size_t)e.cols;
    double *blk = lsc_workspace_get(ws, WS_BLOCK, (is_ties(p->method) ? 6 : 1) * bsz + 65536);
    e.trim = calloc((size_t)n_models, sizeof *e.trim);
    e.dare_key = calloc((size_t)n_models, sizeof *e.dare_key);
    if (!blk || !e.trim || !e.dare_key) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for merging [%d, %d] layers", e.rows, e.cols);
        goto out;
    }
    e.tau = blk;
    e.acc = blk + bsz;
    e.hist = (uint64_t *)(void *)(blk + (is_ties(p->method) ? 6 : 1) * bsz);
    for (int k = 0; k < n_models; k++)
        e.dare_key[k] = lsc_rng_mix64(p->seed + LSC_RNG_GOLDEN * (uint64_t)(k + 1));
    if (is_trim(p->method))
        for (int k = 0; k < n_models && st == LSC_OK; k++)
            st = select_threshold(&e, k, ws, err);
    if (st != LSC_OK)
        goto out;
    build_blocks(&e, M);
    if (!all_finite(M, (size_t)e.rows * (size_t)e.cols))
        st = lsc_error_set(err, LSC_ERR_NUMERIC, "the merged [%d, %d] layer overflows", e.rows, e.cols);

out:
    free(e.trim);
    free(e.dare_key);
    return st;
}

lsc_status lsc_merge_dense(const lsc_lowrank *layers, const double *w, int n_models, const lsc_merge_params *p,
                           lsc_workspace *ws, double *M, lsc_error *err)
{
    if (!w || !ws || !M)
        return lsc_error_set(err, LSC_ERR_INVALID, "merge needs weights, a workspace and an output");
    lsc_status st = check_inputs(layers, w, n_models, p, true, err);
    if (st != LSC_OK)
        return st;
    return build_dense(layers, w, n_models, p, ws, M, err);
}

/* ---- re-factorisation ---- */

/* ||M - s B A||_F / ||M||_F by row blocks, B [rows, R], A [R, cols]. */
static lsc_status error_pass(const double *M, int rows, int cols, const double *B, const double *A, int R, double s,
                             lsc_workspace *ws, double *rel, lsc_error *err)
{
    int rb = (int)(BLOCK_ENTRIES / (size_t)cols);
    if (rb < 1)
        rb = 1;
    if (rb > rows)
        rb = rows;
    double *E = lsc_workspace_get(ws, WS_ERRBLK, (size_t)rb * (size_t)cols);
    if (!E)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for the error of a [%d, %d] layer", rows, cols);
    double num = 0.0, den = 0.0;
    for (int r0 = 0; r0 < rows; r0 += rb) {
        const int nb = rows - r0 < rb ? rows - r0 : rb;
        const size_t nn = (size_t)nb * (size_t)cols;
        const double *mb = M + (size_t)r0 * (size_t)cols;
        memcpy(E, mb, nn * sizeof(double));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, cols, R, -s, B + (size_t)r0 * R, R, A, cols, 1.0,
                    E, cols);
        for (size_t i = 0; i < nn; i++) {
            num += E[i] * E[i];
            den += mb[i] * mb[i];
        }
    }
    *rel = den > 0.0 ? sqrt(num / den) : 0.0;
    return LSC_OK;
}

static lsc_status lapack_fail(lsc_error *err, const char *what, lapack_int info)
{
    return lsc_error_set(err, LSC_ERR_NUMERIC, "%s failed (lapack info %d)", what, (int)info);
}

/* Orthonormalise the columns of Y [m, l] (column-major) in place. */
static lapack_int orth(double *Y, int m, int l, double *tau, double *work, lapack_int lwork)
{
    lapack_int info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, m, l, Y, m, tau, work, lwork);
    if (info == 0)
        info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, m, l, l, Y, m, tau, work, lwork);
    return info;
}

static double max_d(double a, double b)
{
    return a > b ? a : b;
}

/* Randomized SVD (see merge.h): U_R diag(sv) V_R^T ~ M written as factors with d = sqrt(sv/|s|). */
static lsc_status refactor_random(const double *M, int rows, int cols, int R, double s, uint64_t seed,
                                  lsc_workspace *ws, double *B_out, double *A_out, lsc_error *err)
{
    const int mn = rows < cols ? rows : cols;
    const int l = R + OVERSAMPLE < mn ? R + OVERSAMPLE : mn;
    double *thin = lsc_workspace_get(ws, WS_THIN, (size_t)cols * l + (size_t)rows * l + (size_t)l * l + 2 * (size_t)l);
    int *iwork = (int *)(void *)lsc_workspace_get(ws, WS_IWORK, ((size_t)8 * l * sizeof(int) + 7) / 8);
    if (!thin || !iwork)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a randomized svd of a [%d, %d] layer", rows, cols);
    double *Z = thin, *Y = Z + (size_t)cols * l, *vt = Y + (size_t)rows * l, *tau = vt + (size_t)l * l, *sv = tau + l;

    double q = 0.0, lw = 1.0;
    lapack_int info;
    info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, rows, l, Y, rows, tau, &q, -1);
    lw = max_d(lw, info == 0 ? q : 0.0);
    info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, cols, l, Z, cols, tau, &q, -1);
    lw = max_d(lw, info == 0 ? q : 0.0);
    info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, rows, l, l, Y, rows, tau, &q, -1);
    lw = max_d(lw, info == 0 ? q : 0.0);
    info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, cols, l, l, Z, cols, tau, &q, -1);
    lw = max_d(lw, info == 0 ? q : 0.0);
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'O', cols, l, Z, cols, sv, NULL, cols, vt, l, &q, -1, iwork);
    lw = max_d(lw, info == 0 ? q : 0.0);
    if (lw > (double)INT_MAX)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "lapack work too large for a [%d, %d] layer", rows, cols);
    const lapack_int lwork = (lapack_int)lw;
    double *work = lsc_workspace_get(ws, WS_WORK, (size_t)lwork);
    if (!work)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for lapack work");

    /* M row-major [rows, cols] is column-major M^T with leading dimension cols */
    for (size_t i = 0; i < (size_t)cols * l; i++)
        Z[i] = gauss(&seed);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, rows, l, cols, 1.0, M, cols, Z, cols, 0.0, Y, rows);
    if ((info = orth(Y, rows, l, tau, work, lwork)) != 0)
        return lapack_fail(err, "qr of the range sample", info);
    for (int it = 0; it < POWER_ITERS; it++) {
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, cols, l, rows, 1.0, M, cols, Y, rows, 0.0, Z, cols);
        if ((info = orth(Z, cols, l, tau, work, lwork)) != 0)
            return lapack_fail(err, "qr in a power iteration", info);
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, rows, l, cols, 1.0, M, cols, Z, cols, 0.0, Y, rows);
        if ((info = orth(Y, rows, l, tau, work, lwork)) != 0)
            return lapack_fail(err, "qr in a power iteration", info);
    }
    /* Z = M^T Q = (Q^T M)^T = Uz S Vz^T, so M ~ Q Q^T M = (Q Vz) S Uz^T */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, cols, l, rows, 1.0, M, cols, Y, rows, 0.0, Z, cols);
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'O', cols, l, Z, cols, sv, NULL, cols, vt, l, work, lwork, iwork);
    if (info != 0)
        return lapack_fail(err, "svd of the projected layer", info);

    const double inv = 1.0 / fabs(s), sign = s < 0.0 ? -1.0 : 1.0;
    /* B_out[i, j] = sum_b Q[i, b] VT[j, b]: Q column-major is row-major Q^T (ld rows); VT column-major
     * [l, l] read as row-major [l, l] is VT^T */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, R, l, 1.0, Y, rows, vt, l, 0.0, B_out, R);
    for (int j = 0; j < R; j++) {
        const double d = sqrt(sv[j] * inv);
        for (int i = 0; i < rows; i++)
            B_out[(size_t)i * R + j] *= sign * d;
        const double *z = Z + (size_t)j * cols;
        double *a = A_out + (size_t)j * cols;
        for (int c = 0; c < cols; c++)
            a[c] = d * z[c];
    }
    return LSC_OK;
}

/* dgesdd on a copy of M; returns the singular values' figures in *kept. */
static lsc_status refactor_exact(const double *M, int rows, int cols, int R, double s, lsc_workspace *ws,
                                 double *B_out, double *A_out, double *kept, lsc_error *err)
{
    const int mn = rows < cols ? rows : cols;
    double *X = lsc_workspace_get(ws, WS_XCOPY, (size_t)rows * (size_t)cols);
    double *U = lsc_workspace_get(ws, WS_XU, (size_t)cols * (size_t)mn);
    double *VT = lsc_workspace_get(ws, WS_XVT, (size_t)mn * (size_t)rows + (size_t)mn);
    int *iwork = (int *)(void *)lsc_workspace_get(ws, WS_IWORK, ((size_t)8 * mn * sizeof(int) + 7) / 8);
    if (!X || !U || !VT || !iwork)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a dense svd of a [%d, %d] layer", rows, cols);
    double *sv = VT + (size_t)mn * rows;
    memcpy(X, M, (size_t)rows * (size_t)cols * sizeof(double));
    /* X is column-major M^T [cols, rows] = U S VT, so M = VT^T S U^T */
    double q = 0.0;
    lapack_int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', cols, rows, X, cols, sv, U, cols, VT, mn, &q, -1,
                                          iwork);
    if (info != 0 || q > (double)INT_MAX)
        return lapack_fail(err, "dense svd work query", info);
    const lapack_int lwork = (lapack_int)max_d(q, 1.0);
    double *work = lsc_workspace_get(ws, WS_WORK, (size_t)lwork);
    if (!work)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for lapack work");
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', cols, rows, X, cols, sv, U, cols, VT, mn, work, lwork, iwork);
    if (info != 0)
        return lapack_fail(err, "dense svd", info);
    const double inv = 1.0 / fabs(s), sign = s < 0.0 ? -1.0 : 1.0;
    for (int j = 0; j < R; j++) {
        const double d = sqrt(sv[j] * inv);
        for (int i = 0; i < rows; i++)
            B_out[(size_t)i * R + j] = sign * d * VT[(size_t)j + (size_t)i * mn];
        for (int c = 0; c < cols; c++)
            A_out[(size_t)j * cols + c] = d * U[(size_t)c + (size_t)j * cols];
    }
    lsc_prune_figures(sv, mn, R, kept, NULL);
    return LSC_OK;
}

lsc_status lsc_merge_refactor(const double *M, int64_t rows, int64_t cols, int rank, double out_scale, uint64_t seed,
                              int exact, lsc_workspace *ws, double *B_out, double *A_out, lsc_merge_info *info,
                              lsc_error *err)
{
    lsc_status st = LSC_OK;
    if (!M || !ws || !B_out || !A_out)
        return lsc_error_set(err, LSC_ERR_INVALID, "re-factorisation needs a matrix, a workspace and two outputs");
    if (rows < 1 || cols < 1 || rows > INT_MAX || cols > INT_MAX)
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot re-factorise a [%lld, %lld] matrix", (long long)rows,
                             (long long)cols);
    if (rank < 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "re-factorisation needs a rank of at least 1, not %d", rank);
    if (!isfinite(out_scale) || out_scale == 0.0)
        return lsc_error_set(err, LSC_ERR_INVALID, "output scale must be finite and non-zero, not %g", out_scale);
    if (!all_finite(M, (size_t)rows * (size_t)cols))
        return lsc_error_set(err, LSC_ERR_NUMERIC, "non-finite entries in the [%lld, %lld] matrix", (long long)rows,
                             (long long)cols);
    const int R = min_i64(rank, rows, cols, INT64_MAX);
    double kept = -1.0, rel = 0.0;
    if (exact)
        st = refactor_exact(M, (int)rows, (int)cols, R, out_scale, ws, B_out, A_out, &kept, err);
    else
        st = refactor_random(M, (int)rows, (int)cols, R, out_scale, seed, ws, B_out, A_out, err);
    if (st != LSC_OK)
        goto out;
    st = error_pass(M, (int)rows, (int)cols, B_out, A_out, R, out_scale, ws, &rel, err);
    if (st != LSC_OK)
        goto out;
    if (info) {
        info->rank = R;
        info->rel_error = rel;
        info->kept_energy = kept >= 0.0 ? kept : 1.0 - rel * rel;
    }

out:
    return st;
}

/* ---- one layer ---- */

/* Best rank-R truncation of sum_k w_k s_k B_k A_k for the applied scale out_scale: from the layers' own
 * factors by the Gram path when it accepts them (no concatenated copies: a 28k-row pair of rank 64 saves
 * ~60 MB per worker), else from the concatenation [c_1 B_1, ...], [A_1; ...] (write_cat). */
static lsc_status truncate_stacked(const lsc_lowrank *layers, const double *w, int n_models, int R, double out_scale,
                                   lsc_workspace *ws, double *B_out, double *A_out, lsc_prune_info *pi, lsc_error *err)
{
    enum { STACK_MAX = 16 };
    const int64_t rows = layers[0].rows, cols = layers[0].cols, sum_r = total_rank(layers, n_models);
    if (n_models <= STACK_MAX) {
        double coef[STACK_MAX];
        for (int k = 0; k < n_models; k++)
            coef[k] = w[k] * layers[k].scale;
        int done = 0;
        lsc_status st = lsc_prune_truncate_stacked(layers, coef, n_models, R, out_scale, ws, B_out, A_out, pi, &done,
                                                   err);
        if (st != LSC_OK || done)
            return st;
    }
    /* the Gram path declines any NaN or Inf (its Gram matrices are not finite then), so the factors are
     * scanned only here, before the concatenation: a pass over both inputs saved on the usual path */
    lsc_status st = scan_factors(layers, n_models, err);
    if (st != LSC_OK)
        return st;
    double *cb = lsc_workspace_get(ws, WS_CATB, (size_t)rows * (size_t)sum_r);
    double *ca = lsc_workspace_get(ws, WS_CATA, (size_t)sum_r * (size_t)cols);
    if (!cb || !ca)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for concatenating %d layers", n_models);
    write_cat(layers, w, n_models, 1.0, cb, (int)sum_r, ca);
    const lsc_lowrank cat = {.rows = rows, .cols = cols, .r = (int)sum_r, .B = cb, .A = ca, .scale = 1.0};
    return lsc_prune_truncate(&cat, R, out_scale, ws, B_out, A_out, pi, err);
}

lsc_status lsc_merge_layer(const lsc_lowrank *layers, const double *w, int n_models, const lsc_merge_params *p,
                           lsc_workspace *ws, double *B_out, double *A_out, lsc_merge_info *info, lsc_error *err)
{
    lsc_status st = LSC_OK;
    if (!w || !ws || !B_out || !A_out)
        return lsc_error_set(err, LSC_ERR_INVALID, "merge needs weights, a workspace and two outputs");
    /* the stacked truncation (svd, linear with a rank, ...) scans the factors itself, only when needed */
    const bool cat = p->method == LSC_MERGE_CAT || (p->method == LSC_MERGE_LINEAR && p->rank == 0);
    const bool stacked = !cat && !lsc_merge_is_elementwise(p->method);
    st = check_inputs(layers, w, n_models, p, !stacked, err);
    if (st != LSC_OK)
        return st;
    const int R = out_rank(layers, n_models, p, err);
    if (R < 1)
        return err ? err->code : LSC_ERR_INVALID;
    const int64_t rows = layers[0].rows, cols = layers[0].cols, sum_r = total_rank(layers, n_models);
    lsc_merge_info mi = {.rank = R, .rel_error = 0.0, .kept_energy = 1.0};

    if (p->method == LSC_MERGE_CAT || (p->method == LSC_MERGE_LINEAR && p->rank == 0)) {
        write_cat(layers, w, n_models, p->out_scale, B_out, R, A_out);
        if (!all_finite(B_out, (size_t)rows * (size_t)R)) {
            st = lsc_error_set(err, LSC_ERR_NUMERIC, "the merged factors overflow");
            goto out;
        }
    } else if (!lsc_merge_is_elementwise(p->method)) {
        if (sum_r == 0) {
            /* every layer has rank 0: the sum is zero, one zero rank is the honest answer */
            memset(B_out, 0, (size_t)rows * sizeof(double));
            memset(A_out, 0, (size_t)cols * sizeof(double));
            goto out;
        }
        if (sum_r > INT_MAX) {
            st = lsc_error_set(err, LSC_ERR_INVALID, "total rank %lld too large", (long long)sum_r);
            goto out;
        }
        lsc_prune_info pi;
        st = truncate_stacked(layers, w, n_models, R, p->out_scale, ws, B_out, A_out, &pi, err);
        if (st != LSC_OK)
            goto out;
        mi.rel_error = pi.rel_error;
        mi.kept_energy = pi.kept_energy;
    } else {
        double *M = lsc_workspace_get(ws, WS_DENSE, (size_t)rows * (size_t)cols);
        if (!M) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory for a dense [%lld, %lld] layer", (long long)rows,
                               (long long)cols);
            goto out;
        }
        st = build_dense(layers, w, n_models, p, ws, M, err);
        if (st == LSC_OK)
            st = lsc_merge_refactor(M, rows, cols, R, p->out_scale, p->seed ^ LSC_MERGE_SVD_SEED_MIX, p->exact_svd, ws,
                                    B_out, A_out, &mi, err);
    }

out:
    if (st == LSC_OK && info)
        *info = mi;
    return st;
}
