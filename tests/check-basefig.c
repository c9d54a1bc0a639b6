/* check-basefig.c: the randomized SVD and the per-layer figures against W, against dense float64
 * references (full SVDs of W and W + dW by LAPACKE_dgesvd, dW formed with loops).
 *
 * Test matrices have a known spectrum with a gap (W = Q1 diag(sigma) Q2^T, random orthogonal Q1, Q2,
 * sigma_i = 100 * 0.6^i), so the randomized subspaces must match the dense ones to 1e-6 with the default
 * power iterations; exact figures (norms, ratios, amplification) to 1e-9; intruder counts exactly, on
 * cases whose cosines sit well away from the threshold (asserted, so a case cannot pass by luck), plus a
 * hand-built case with a known number of intruders.
 */
#include <check.h>
#include <stdio.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bakemath.h"
#include "basefig.h"
#include "dtype.h"
#include "pool.h"
#include "basefig_ref.h"
#include "randsvd.h"
#include "test_rng.h"
#include "workspace.h"







#define DECAY_SLOW 0.8 /* sigma_i = 100 * 0.8^i: the power iterations decide whether 1e-6 is met */

static void close_rel(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol * fabs(want), "%s: got %.17g want %.17g", what, got, want);
}

/* ---- randomized SVD ---- */

START_TEST(randsvd_matches_dense)
{
    static const int shapes[][3] = {{40, 60, 5}, {90, 30, 8}, {64, 64, 1}, {20, 200, 12}};
    rng_state = 101 + (uint64_t)_i;
    int rows = shapes[_i][0], cols = shapes[_i][1], k = shapes[_i][2];
    double *W = gapped(rows, cols, 100, 0.6);
    double *S = malloc(sizeof(double) * k), *U = malloc(sizeof(double) * rows * k), *V = malloc(sizeof(double) * cols * k);
    lsc_error err;
    int got = 0;
    ck_assert_int_eq(lsc_randsvd(W, rows, cols, NULL, k, NULL, S, U, V, &got, &err), LSC_OK);
    ck_assert_int_eq(got, k);
    dsvd d = full_svd(W, rows, cols);
    for (int j = 0; j < k; j++) {
        close_rel(S[j], d.s[j], 1e-6, "sigma");
        /* singular vectors agree up to sign: |cos| = 1 within 1e-6, on both sides */
        double cv = 0, cu = 0;
        for (int t = 0; t < cols; t++)
            cv += V[t * k + j] * d.vt[j * cols + t];
        for (int t = 0; t < rows; t++)
            cu += U[t * k + j] * d.u[t * d.m + j];
        ck_assert_msg(fabs(fabs(cv) - 1) < 1e-6 && fabs(fabs(cu) - 1) < 1e-6, "vector %d: cos %g %g", j, cv, cu);
        ck_assert_msg(cv * cu > 0, "U and V signs paired");
    }
    dsvd_free(&d);
    free(W), free(S), free(U), free(V);
}
END_TEST

/* The test matrices must not be so easy that the power iterations go unnoticed: on this one the range
 * finder without them misses the top subspace by more than the 1e-6 the other tests demand, with the
 * default count it meets it. (Fails if the default or the iterations themselves stop being applied.) */
static double randsvd_vector_error(const double *W, int rows, int cols, int k, int power, const dsvd *d)
{
    lsc_randsvd_opts o = {-1, power, 0};
    double *S = malloc(sizeof(double) * k), *V = malloc(sizeof(double) * cols * k);
    lsc_error err;
    int got = 0;
    ck_assert_int_eq(lsc_randsvd(W, rows, cols, NULL, k, &o, S, NULL, V, &got, &err), LSC_OK);
    double worst = 0;
    for (int j = 0; j < k; j++) {
        double cv = 0;
        for (int t = 0; t < cols; t++)
            cv += V[t * k + j] * d->vt[j * cols + t];
        worst = fmax(worst, fabs(fabs(cv) - 1));
    }
    free(S), free(V);
    return worst;
}

START_TEST(randsvd_power_iterations_matter)
{
    rng_state = 31;
    const int rows = 120, cols = 80, k = 8;
    double *W = gapped(rows, cols, 100, DECAY_SLOW);
    dsvd d = full_svd(W, rows, cols);
    double e0 = randsvd_vector_error(W, rows, cols, k, 0, &d);
    double edef = randsvd_vector_error(W, rows, cols, k, -1, &d);
    ck_assert_msg(e0 > 1e-6, "without power iterations already within 1e-6 (%g): the matrix is too easy", e0);
    ck_assert_msg(edef <= 1e-6, "with the default power iterations: %g", edef);
    dsvd_free(&d);
    free(W);
}
END_TEST

/* W + s B A applied in factored form equals the dense sum's SVD. */
START_TEST(randsvd_with_lowrank)
{
    rng_state = 7;
    int rows = 50, cols = 70, r = 3, k = 6;
    double *W = gapped(rows, cols, 100, 0.5), *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    lsc_lowrank lr = {rows, cols, r, B, A, 0.25};
    double *d = dense_delta(&lr), *m = malloc(sizeof(double) * rows * cols), S[6];
    for (int i = 0; i < rows * cols; i++)
        m[i] = W[i] + d[i];
    dsvd ref = full_svd(m, rows, cols);
    lsc_error err;
    ck_assert_int_eq(lsc_randsvd(W, rows, cols, &lr, k, NULL, S, NULL, NULL, NULL, &err), LSC_OK);
    for (int j = 0; j < k; j++)
        close_rel(S[j], ref.s[j], 1e-6, "sigma of W + dW");
    dsvd_free(&ref);
    free(W), free(B), free(A), free(d), free(m);
}
END_TEST

START_TEST(randsvd_rejects)
{
    double w[4] = {1, 2, 3, NAN}, s[2];
    lsc_error err;
    ck_assert_int_eq(lsc_randsvd(w, 2, 2, NULL, 0, NULL, s, NULL, NULL, NULL, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_randsvd(w, 2, 2, NULL, 1, NULL, s, NULL, NULL, NULL, &err), LSC_ERR_NUMERIC);
}
END_TEST

/* ---- figures ---- */

static double g_decay = 0.6; /* the spectrum of check_case's W */

/* The figures of one generated case with power iterations `power` (-1: the default). */
static lsc_basefig figures_with_power(const double *W, const lsc_lowrank *lr, int k, double eps, int power)
{
    lsc_basefig_opts o;
    lsc_basefig_opts_default(&o);
    o.k = k;
    o.eps = eps;
    o.rs.power_iters = power;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_basefig got;
    lsc_error err;
    ck_assert_int_eq(lsc_basefig_compute(W, lr, &o, ws, &got, &err), LSC_OK);
    lsc_workspace_free(ws);
    return got;
}

static void check_case_as(int rows, int cols, int r, double scale, int k, double eps, uint64_t seed, int f32)
{
    rng_state = seed;
    double *W = gapped(rows, cols, 100, g_decay), *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    lsc_lowrank lr = {rows, cols, r, B, A, scale};
    float *wf = malloc(sizeof(float) * (size_t)rows * cols);
    for (int i = 0; i < rows * cols; i++) /* the float path: W's values are floats (the reference too) */
        wf[i] = (float)W[i], W[i] = f32 ? wf[i] : W[i];
    lsc_basefig_opts o;
    lsc_basefig_opts_default(&o);
    o.k = k;
    o.eps = eps;
    int kref = 2 * k > r ? 2 * k : r;
    ref want = reference(W, &lr, k, kref, eps);
    ck_assert_msg(want.min_margin > 1e-3, "case too close to the threshold to test (margin %g)", want.min_margin);
    lsc_workspace *ws = lsc_workspace_new();
    lsc_basefig got;
    lsc_error err;
    if (f32)
        ck_assert_int_eq(lsc_basefig_compute_f32(wf, &lr, &o, ws, &got, &err), LSC_OK);
    else
        ck_assert_int_eq(lsc_basefig_compute(W, &lr, &o, ws, &got, &err), LSC_OK);
    close_rel(got.base_norm, want.base_norm, 1e-9, "base_norm");
    close_rel(got.delta_norm, want.delta_norm, 1e-9, "delta_norm");
    close_rel(got.rel_norm, want.rel, 1e-9, "rel_norm");
    close_rel(got.amplification, want.amp, 1e-9, "amplification");
    ck_assert_msg(fabs(got.subspace_sim_r - want.sim_r) < 1e-6, "sim_r %.12g vs %.12g", got.subspace_sim_r, want.sim_r);
    ck_assert_msg(fabs(got.subspace_sim_k - want.sim_k) < 1e-6, "sim_k %.12g vs %.12g", got.subspace_sim_k, want.sim_k);
    ck_assert_int_eq(got.intruders, want.intruders);
    ck_assert_int_eq(got.k, k);
    ck_assert_int_eq(got.k_ref, kref);
    lsc_workspace_free(ws);
    free(W), free(B), free(A), free(wf);
}

/* Each case with a double W and with a float W (lsc_basefig_compute_f32). */
static void check_case(int rows, int cols, int r, double scale, int k, double eps, uint64_t seed)
{
    check_case_as(rows, cols, r, scale, k, eps, seed, 0);
    check_case_as(rows, cols, r, scale, k, eps, seed, 1);
}

START_TEST(figures_match_dense)
{
    check_case(48, 64, 4, 0.5, 6, 0.5, 11);
    check_case(80, 40, 8, 0.05, 10, 0.5, 12);
    check_case(33, 57, 2, 3.0, 4, 0.3, 13);
    check_case(64, 64, 1, -2.0, 3, 0.7, 14);
    check_case(60, 70, 6, 0.3, 2, 0.5, 15); /* k < r */
    check_case(12, 64, 4, 0.5, 3, 0.5, 16); /* rows < l + r: W + dW by its own randomized SVD */
    check_case(200, 150, 16, 0.02, 10, 0.5, 17); /* the defaults' shape: l = 30 columns beside r = 16 */
}
END_TEST

/* As randsvd_power_iterations_matter, for the figures' own range finder: on a slower spectrum the subspace
 * similarity without power iterations is off by more than 1e-6, with the default it is within it (and
 * every other figure as in figures_match_dense). */
START_TEST(figures_power_iterations_matter)
{
    g_decay = DECAY_SLOW;
    check_case(120, 90, 4, 0.5, 10, 0.5, 41);
    rng_state = 41;
    double *W = gapped(120, 90, 100, DECAY_SLOW), *B = gauss_matrix(120 * 4), *A = gauss_matrix(4 * 90);
    lsc_lowrank lr = {120, 90, 4, B, A, 0.5};
    ref want = reference(W, &lr, 10, 10, 0.5);
    lsc_basefig none = figures_with_power(W, &lr, 10, 0.5, 0);
    ck_assert_msg(fabs(none.subspace_sim_k - want.sim_k) > 1e-6 || fabs(none.subspace_sim_r - want.sim_r) > 1e-6,
                  "without power iterations already within 1e-6 (sim_k %.12g vs %.12g): the case is too easy",
                  none.subspace_sim_k, want.sim_k);
    g_decay = 0.6;
    free(W), free(B), free(A);
}
END_TEST

/* Hand-built: dW's input directions are W's tail directions with a large scale, so W + dW's top r right
 * vectors are dW's directions, orthogonal to W's top k_ref: exactly r intruders; and a small dW inside
 * W's leading subspace: none, with subspace similarity phi(r, r) = 1. */
START_TEST(figures_known_intruders)
{
    rng_state = 21;
    int rows = 40, cols = 50, r = 3, k = 8;
    double *q1 = orthogonal(rows), *q2 = orthogonal(cols), *W = calloc((size_t)rows * cols, sizeof(double));
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double s = 0, sig = 10;
            for (int t = 0; t < rows; t++, sig *= 0.8)
                s += q1[i * rows + t] * sig * q2[j * cols + t];
            W[i * cols + j] = s;
        }
    double B[40 * 3], A[3 * 50];
    for (int pass = 0; pass < 2; pass++) {
        int off = pass == 0 ? rows - r : 0; /* tail directions, then leading ones */
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < r; c++)
                B[i * r + c] = q1[i * rows + off + c] * (c + 1);
        for (int c = 0; c < r; c++)
            for (int j = 0; j < cols; j++)
                A[c * cols + j] = q2[j * cols + off + c];
        lsc_lowrank lr = {rows, cols, r, B, A, pass == 0 ? 100.0 : 0.01};
        lsc_basefig_opts o;
        lsc_basefig_opts_default(&o);
        o.k = k;
        lsc_workspace *ws = lsc_workspace_new();
        lsc_basefig got;
        lsc_error err;
        ck_assert_int_eq(lsc_basefig_compute(W, &lr, &o, ws, &got, &err), LSC_OK);
        ck_assert_int_eq(got.intruders, pass == 0 ? r : 0);
        if (pass == 1)
            ck_assert_msg(fabs(got.subspace_sim_r - 1) < 1e-6, "phi %g", got.subspace_sim_r);
        else
            ck_assert_msg(got.subspace_sim_k < 1e-6, "phi %g", got.subspace_sim_k);
        lsc_workspace_free(ws);
    }
    free(q1), free(q2), free(W);
}
END_TEST

/* ---- fused bake kernel ---- */

/* lsc_bakemath_convert (into dst, and through emit) against element-by-element loops (the order bakemath.h states, each element
 * rounded once by lsc_dtype_from_double), bit for bit: widths that are a whole number of column tiles
 * and not (1024, 1100, 37), rows not a multiple of a pool item, BF16 -> BF16 / F16 -> F32 / F32 -> BF16,
 * DoRA, a tensor stored transposed, and 1 or 3 workers giving the same bytes. */
/* An emit callback that copies each block into the buffer at ctx (blocks are disjoint). */
static lsc_status emit_mem(void *ctx, uint64_t off, const void *p, size_t n, lsc_error *err)
{
    (void)err;
    memcpy((unsigned char *)ctx + off, p, n);
    return LSC_OK;
}

static void convert_case(int rows, int cols, int r, lsc_dtype in, lsc_dtype out, int dora, int transposed)
{
    rng_state = (uint64_t)(rows * 131 + cols * 7 + r + dora * 3 + transposed);
    size_t n = (size_t)rows * cols, ei = lsc_dtype_size(in), eo = lsc_dtype_size(out);
    double *w = gauss_matrix(n), *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    double *mag = gauss_matrix((size_t)rows), *ref = malloc(sizeof(double) * n);
    unsigned char *src = malloc(n * ei), *want = malloc(n * eo), *got = malloc(n * eo);
    double s = 0.37;
    for (size_t i = 0; i < n; i++)
        w[i] *= 0.02;
    ck_assert_int_eq(lsc_dtype_from_double(in, w, n, src, NULL), LSC_OK); /* the stored base, W [rows, cols] */
    ck_assert_int_eq(lsc_dtype_to_double(in, src, n, w), LSC_OK);
    for (int i = 0; i < rows; i++) {
        double ss = 0;
        for (int c = 0; c < cols; c++) {
            double acc = 0;
            for (int k = 0; k < r; k++)
                acc += B[i * r + k] * A[k * cols + c];
            ref[(size_t)i * cols + c] = w[(size_t)i * cols + c] + s * acc;
            ss += ref[(size_t)i * cols + c] * ref[(size_t)i * cols + c];
        }
        for (int c = 0; dora && c < cols; c++)
            ref[(size_t)i * cols + c] *= mag[i] / sqrt(ss);
    }
    lsc_bake_job j = {.src = src, .src_dt = in, .dst = got, .dst_dt = out, .rows = rows, .cols = cols, .r = r,
                      .P = B, .Q = A, .scale = s, .mag = dora ? mag : NULL};
    double *P = NULL, *Q = NULL, *t = NULL;
    if (transposed) { /* stored W^T [cols, rows]: P = A^T, Q = B^T, the reference transposed */
        P = malloc(sizeof(double) * (size_t)cols * r), Q = malloc(sizeof(double) * (size_t)r * rows);
        t = malloc(sizeof(double) * n);
        for (int c = 0; c < cols; c++)
            for (int k = 0; k < r; k++)
                P[c * r + k] = A[k * cols + c];
        for (int k = 0; k < r; k++)
            for (int i = 0; i < rows; i++)
                Q[k * rows + i] = B[i * r + k];
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < cols; c++)
                t[(size_t)c * rows + i] = w[(size_t)i * cols + c];
        ck_assert_int_eq(lsc_dtype_from_double(in, t, n, src, NULL), LSC_OK);
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < cols; c++)
                t[(size_t)c * rows + i] = ref[(size_t)i * cols + c];
        memcpy(ref, t, sizeof(double) * n);
        j.rows = cols, j.cols = rows, j.P = P, j.Q = Q;
    }
    ck_assert_int_eq(lsc_dtype_from_double(out, ref, n, want, NULL), LSC_OK);
    for (int threads = 1; threads <= 3; threads += 2) {
        lsc_error err;
        size_t ovf = 99;
        memset(got, 0xa5, n * eo);
        ck_assert_int_eq(lsc_bakemath_convert(&j, threads, &ovf, &err), LSC_OK);
        ck_assert_int_eq((int)ovf, 0);
        ck_assert_msg(memcmp(got, want, n * eo) == 0, "%dx%d r %d dora %d transposed %d threads %d differs", rows, cols,
                      r, dora, transposed, threads);
        lsc_bake_job e = j; /* the same through emit: blocks handed out by the workers */
        e.dst = NULL, e.emit = emit_mem, e.emit_ctx = got;
        memset(got, 0xa5, n * eo);
        ck_assert_int_eq(lsc_bakemath_convert(&e, threads, &ovf, &err), LSC_OK);
        ck_assert_msg(memcmp(got, want, n * eo) == 0, "emit: %dx%d threads %d differs", rows, cols, threads);
    }
    free(w), free(B), free(A), free(mag), free(ref), free(src), free(want), free(got), free(P), free(Q), free(t);
}

/* lsc_basefig_rows_fn over a float W [rows, cols] (ctx: the rows_src below); counts its calls. */
typedef struct rows_src {
    const float *f;
    int64_t cols;
    int calls;
} rows_src;

static void rows_of(void *ctx, int64_t i0, int nb, float *out)
{
    rows_src *r = ctx;
    r->calls++;
    for (int64_t i = 0; i < nb * r->cols; i++)
        out[i] = r->f[i0 * r->cols + i];
}

/* lsc_basefig_compute_sketched: a sketch made by one call and reused by the next (another adapter on
 * the same W) gives bit-identical figures to a fresh sketch; a sketch of another width, power count or
 * seed is not reused; the figures match the plain entry points' to rounding. Float and double W. */
START_TEST(figures_sketch_reuse)
{
    for (int f32 = 0; f32 < 2; f32++) {
        rng_state = 77;
        int rows = 60, cols = 50, r = 3;
        double *W = gapped(rows, cols, 100, 0.6), *B1 = gauss_matrix((size_t)rows * r),
               *A1 = gauss_matrix((size_t)r * cols), *B2 = gauss_matrix((size_t)rows * r),
               *A2 = gauss_matrix((size_t)r * cols);
        float *wf = malloc(sizeof(float) * (size_t)rows * cols);
        for (int i = 0; i < rows * cols; i++)
            wf[i] = (float)W[i], W[i] = f32 ? wf[i] : W[i];
        const double *Wd = f32 ? NULL : W;
        const float *Wf = f32 ? wf : NULL;
        lsc_lowrank lr1 = {rows, cols, r, B1, A1, 1.5}, lr2 = {rows, cols, r, B2, A2, 0.7};
        lsc_basefig_opts o;
        lsc_basefig_opts_default(&o);
        o.k = 4;
        lsc_workspace *ws = lsc_workspace_new();
        lsc_error err;
        lsc_basefig a1, a2, b2, plain;
        lsc_basefig_sketch sk = {0}, sk2 = {0};
        int fresh = -1;
        ck_assert_int_eq(lsc_basefig_compute_sketched(Wd, Wf, &lr1, &o, ws, &sk, &fresh, &a1, &err), LSC_OK);
        ck_assert_int_eq(fresh, 1);
        ck_assert_int_eq(lsc_basefig_compute_sketched(Wd, Wf, &lr2, &o, ws, &sk, &fresh, &a2, &err), LSC_OK);
        ck_assert_int_eq(fresh, 0); /* the sketch of W served the second adapter */
        ck_assert_int_eq(lsc_basefig_compute_sketched(Wd, Wf, &lr2, &o, ws, &sk2, &fresh, &b2, &err), LSC_OK);
        ck_assert_int_eq(fresh, 1);
        ck_assert_msg(memcmp(&a2, &b2, sizeof a2) == 0, "reused and fresh sketches give different figures");
        if (f32)
            ck_assert_int_eq(lsc_basefig_compute_f32(wf, &lr2, &o, ws, &plain, &err), LSC_OK);
        else
            ck_assert_int_eq(lsc_basefig_compute(W, &lr2, &o, ws, &plain, &err), LSC_OK);
        ck_assert_msg(memcmp(&plain, &b2, sizeof plain) == 0, "the plain entry point differs");
        /* W as float row blocks with the float W's sketch: the same figures bit for bit; without a fitting
         * sketch: refused */
        rows_src rs = {wf, cols, 0};
        if (f32) {
            ck_assert_int_eq(lsc_basefig_compute_rows(rows_of, &rs, &lr2, &o, ws, &sk, &plain, &err), LSC_OK);
            ck_assert_msg(memcmp(&plain, &b2, sizeof plain) == 0, "row blocks give other figures");
        }
        lsc_basefig_sketch none = {0};
        ck_assert_int_eq(lsc_basefig_compute_rows(rows_of, &rs, &lr2, &o, ws, &none, &plain, &err), LSC_ERR_INVALID);
        /* another width (k), power count or seed: a new sketch, never the old one */
        lsc_basefig_opts o2 = o;
        o2.k = 3;
        ck_assert_int_eq(lsc_basefig_compute_sketched(Wd, Wf, &lr2, &o2, ws, &sk, &fresh, &a2, &err), LSC_OK);
        ck_assert_int_eq(fresh, 1);
        o2 = o, o2.rs.power_iters = 2;
        ck_assert_int_eq(lsc_basefig_compute_sketched(Wd, Wf, &lr2, &o2, ws, &sk, &fresh, &a2, &err), LSC_OK);
        ck_assert_int_eq(fresh, 1);
        o2 = o, o2.rs.seed = 9;
        ck_assert_int_eq(lsc_basefig_compute_sketched(Wd, Wf, &lr2, &o2, ws, &sk, &fresh, &a2, &err), LSC_OK);
        ck_assert_int_eq(fresh, 1);
        ck_assert_int_eq(lsc_basefig_compute_sketched(Wd, Wf, &lr2, &o2, ws, &sk, &fresh, &a2, &err), LSC_OK);
        ck_assert_int_eq(fresh, 0);
        int l, power;
        uint64_t seed;
        lsc_basefig_sketch_params(&lr2, &o2, &l, &power, &seed);
        ck_assert_int_eq(l, sk.l);
        ck_assert_int_eq(power, sk.power);
        ck_assert_uint_eq(seed, 9);
        lsc_basefig_sketch_release(&sk);
        lsc_basefig_sketch_release(&sk2);
        lsc_workspace_free(ws);
        free(W), free(B1), free(A1), free(B2), free(A2), free(wf);
    }
}
END_TEST

/* Every figure of W (float values in wf when f32) and lr against the dense reference, through a fresh
 * sketch and a reused one (bit-identical figures); `what` names the case in a failure. */
static void figures_vs_dense(const double *W, const float *wf, const lsc_lowrank *lr, int k, double eps, int f32,
                             const char *what)
{
    int kref = 2 * k > lr->r ? 2 * k : lr->r;
    ref want = reference(W, lr, k, kref, eps);
    ck_assert_msg(want.min_margin > 1e-3, "%s: too close to the threshold to test (margin %g)", what, want.min_margin);
    lsc_basefig_opts o;
    lsc_basefig_opts_default(&o);
    o.k = k;
    o.eps = eps;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_basefig_sketch sk = {0};
    lsc_basefig got, again;
    lsc_error err;
    int fresh = -1;
    const double *Wd = f32 ? NULL : W;
    const float *Wf = f32 ? wf : NULL;
    ck_assert_int_eq(lsc_basefig_compute_sketched(Wd, Wf, lr, &o, ws, &sk, &fresh, &got, &err), LSC_OK);
    ck_assert_int_eq(fresh, 1);
    ck_assert_int_eq(lsc_basefig_compute_sketched(Wd, Wf, lr, &o, ws, &sk, &fresh, &again, &err), LSC_OK);
    ck_assert_int_eq(fresh, 0);
    ck_assert_msg(memcmp(&got, &again, sizeof got) == 0, "%s: reused sketch gives other figures", what);
    close_rel(got.base_norm, want.base_norm, 1e-9, "base_norm");
    close_rel(got.delta_norm, want.delta_norm, 1e-9, "delta_norm");
    close_rel(got.rel_norm, want.rel, 1e-9, "rel_norm");
    close_rel(got.amplification, want.amp, 1e-9, "amplification");
    ck_assert_msg(fabs(got.subspace_sim_r - want.sim_r) < 1e-6, "%s: sim_r %.12g vs %.12g", what, got.subspace_sim_r,
                  want.sim_r);
    ck_assert_msg(fabs(got.subspace_sim_k - want.sim_k) < 1e-6, "%s: sim_k %.12g vs %.12g", what, got.subspace_sim_k,
                  want.sim_k);
    ck_assert_msg(got.intruders == want.intruders, "%s: intruders %d, dense %d", what, got.intruders, want.intruders);
    lsc_basefig_sketch_release(&sk);
    lsc_workspace_free(ws);
}

/* W [rows, cols] rounded to floats in wf, and W itself too when f32 (the reference sees W's values). */
static float *as_floats(double *W, size_t n, int f32)
{
    float *wf = malloc(sizeof(float) * n);
    ck_assert_ptr_nonnull(wf);
    for (size_t i = 0; i < n; i++)
        wf[i] = (float)W[i], W[i] = f32 ? wf[i] : W[i];
    return wf;
}

/* dW's output directions U_d (nearly) inside span(Q), the range finder's subspace: B's columns are W's
 * own top left singular vectors (those Q captures to rounding) plus delta times noise (delta 0, below the
 * complement's threshold, near it, above it), all of them or half (the other half random: a complement
 * of lower rank than dW). W^T U_c is derived from W^T U_d and W^T Q (basefig.h), so a direction inside
 * span(Q) must be dropped rather than divided by its vanishing residual: without that guard (all n
 * directions kept) delta 0 gives columns of W^T U_c off by ~|W| and 3 intruders where the dense SVDs
 * find 1. Every figure against the dense reference, and a reused sketch giving the same figures bit for
 * bit. Double and float W (float: Q from float32 passes, which leaves U_d ~1e-7 outside span(Q): kept
 * directions whose rounding is amplified ~1e7). */
static void near_span_case(double delta, int half, int f32, double scale)
{
    rng_state = 505;
    const int rows = 90, cols = 120, r = 4, k = 6;
    double *W = gapped(rows, cols, 100, 0.6), *E = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols),
           *B = malloc(sizeof(double) * (size_t)rows * r);
    float *wf = as_floats(W, (size_t)rows * cols, f32);
    dsvd sw = full_svd(W, rows, cols);
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < r; c++)
            B[i * r + c] = half && c >= r / 2 ? E[i * r + c] : sw.u[i * sw.m + c] + delta * E[i * r + c];
    lsc_lowrank lr = {rows, cols, r, B, A, scale};
    char what[96];
    snprintf(what, sizeof what, "delta %g half %d f32 %d", delta, half, f32);
    figures_vs_dense(W, wf, &lr, k, 0.5, f32, what);
    dsvd_free(&sw);
    free(W), free(E), free(A), free(B), free(wf);
}

START_TEST(figures_near_span_of_q)
{
    static const double deltas[] = {0, 1e-14, 1e-10, 1e-8, 1e-6, 1e-3};
    for (int f32 = 0; f32 < 2; f32++)
        for (int half = 0; half < 2; half++)
            for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++)
                near_span_case(deltas[i], half, f32, 5.0);
}
END_TEST

/* W [rows, cols] = Q1[:, :rank] diag(100 * 0.6^i) Q2[:, :rank]^T, the left factor kept in *u1 [rows, rows]
 * (its columns past rank span W's left null space). */
static double *low_rank_base(int rows, int cols, int rank, double **u1)
{
    double *q1 = orthogonal(rows), *q2 = orthogonal(cols), *w = calloc((size_t)rows * cols, sizeof(double));
    ck_assert_ptr_nonnull(w);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double s = 0, sig = 100;
            for (int t = 0; t < rank; t++, sig *= 0.6)
                s += q1[i * rows + t] * sig * q2[j * cols + t];
            w[(size_t)i * cols + j] = s;
        }
    free(q2);
    *u1 = q1;
    return w;
}

/* The class of figures_near_span_of_q, at the complement's edges, against the dense reference (double and
 * float W): a layer with exactly l + r rows (span(Q) and U_c fill the whole output space) and one more;
 * a base of rank 15 < l (Q's last columns are directions of W's null space found from rounding) with
 * dW's output directions inside W's range (inside span(Q): dropped), in its left null space (partly
 * inside span(Q)'s columns found from rounding, partly not) and random. k = 6, r = 4: l = 22. */
START_TEST(figures_complement_edges)
{
    const int r = 4, k = 6;
    char what[96];
    for (int f32 = 0; f32 < 2; f32++) {
        for (int rows = 26; rows <= 27; rows++) {
            rng_state = 606 + (uint64_t)rows;
            const int cols = 40;
            double *W = gapped(rows, cols, 100, 0.6), *B = gauss_matrix((size_t)rows * r),
                   *A = gauss_matrix((size_t)r * cols);
            float *wf = as_floats(W, (size_t)rows * cols, f32);
            lsc_lowrank lr = {rows, cols, r, B, A, 2.0};
            snprintf(what, sizeof what, "rows %d (l + r = 26) f32 %d", rows, f32);
            figures_vs_dense(W, wf, &lr, k, 0.5, f32, what);
            free(W), free(B), free(A), free(wf);
        }
        for (int where = 0; where < 3; where++) {
            rng_state = 707;
            const int rows = 60, cols = 70, rank = 15;
            double *u1, *W = low_rank_base(rows, cols, rank, &u1), *B = gauss_matrix((size_t)rows * r),
                        *A = gauss_matrix((size_t)r * cols);
            float *wf = as_floats(W, (size_t)rows * cols, f32);
            /* W's left vectors 8..11; null-space ones 30..33 plus 1e-2 of W's top ones (so that U_d^T W V_d
             * is not 0 and the amplification finite); random */
            static const int first[] = {8, 30, -1};
            for (int i = 0; i < rows && first[where] >= 0; i++)
                for (int c = 0; c < r; c++)
                    B[i * r + c] = (u1[i * rows + first[where] + c] + (where == 1 ? 1e-2 * u1[i * rows + c] : 0)) * (c + 1);
            lsc_lowrank lr = {rows, cols, r, B, A, 3.0};
            snprintf(what, sizeof what, "rank %d base, dW %s, f32 %d", rank,
                     where == 0 ? "inside its range" : where == 1 ? "in its null space" : "random", f32);
            figures_vs_dense(W, wf, &lr, k, 0.5, f32, what);
            free(u1), free(W), free(B), free(A), free(wf);
        }
    }
}
END_TEST

/* A float W given as several row blocks (lsc_basefig_compute_rows asks for blocks of at most 512 rows;
 * 1100 rows make two full blocks and a tail), accumulated block after block, gives the figures of the
 * whole W bit for bit: lsc_wtx64's element order does not depend on how the rows are split. */
START_TEST(figures_rows_blocks)
{
    rng_state = 91;
    int rows = 1100, cols = 40, r = 4;
    double *Wd = gauss_matrix((size_t)rows * cols), *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    float *wf = malloc(sizeof(float) * (size_t)rows * cols);
    ck_assert_ptr_nonnull(wf);
    for (int i = 0; i < rows * cols; i++)
        wf[i] = (float)Wd[i];
    lsc_lowrank lr = {rows, cols, r, B, A, 0.9};
    lsc_basefig_opts o;
    lsc_basefig_opts_default(&o);
    o.k = 5;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err;
    lsc_basefig whole, blocks;
    lsc_basefig_sketch sk = {0};
    int fresh = 0;
    ck_assert_int_eq(lsc_basefig_compute_sketched(NULL, wf, &lr, &o, ws, &sk, &fresh, &whole, &err), LSC_OK);
    ck_assert_int_eq(fresh, 1);
    rows_src rs = {wf, cols, 0};
    ck_assert_int_eq(lsc_basefig_compute_rows(rows_of, &rs, &lr, &o, ws, &sk, &blocks, &err), LSC_OK);
    ck_assert_int_ge(rs.calls, 3); /* the row blocks were really several */
    ck_assert_msg(memcmp(&whole, &blocks, sizeof whole) == 0, "row blocks give other figures than the whole W");
    lsc_basefig_sketch_release(&sk);
    lsc_workspace_free(ws);
    free(Wd), free(B), free(A), free(wf);
}
END_TEST

START_TEST(bake_convert_matches_loops)
{
    convert_case(40, 1024, 16, LSC_DT_BF16, LSC_DT_BF16, 0, 0);
    convert_case(35, 1100, 8, LSC_DT_F16, LSC_DT_F32, 0, 0);
    convert_case(19, 37, 3, LSC_DT_F32, LSC_DT_BF16, 0, 0);
    convert_case(33, 1100, 4, LSC_DT_BF16, LSC_DT_F32, 1, 0);
    convert_case(600, 21, 5, LSC_DT_BF16, LSC_DT_BF16, 0, 1); /* stored [21, 600]: rows of 600 > one tile */
}
END_TEST

/* The order of the sum is the contract: with p = (1, 1e20, -1e20) and Q all ones, k ascending gives
 * ((0 + 1) + 1e20) - 1e20 = 0, any other order 1 or 2 -- so every element must come out as W itself, in
 * whole tiles (1100 columns) and the partial one, with 1 and 3 workers. */
START_TEST(bake_convert_order)
{
    enum { ROWS_ = 20, COLS_ = 1100 };
    static double P[ROWS_ * 3], Q[3 * COLS_];
    static float w[ROWS_ * COLS_], got[ROWS_ * COLS_];
    for (int i = 0; i < ROWS_; i++)
        P[i * 3] = 1, P[i * 3 + 1] = 1e20, P[i * 3 + 2] = -1e20;
    for (int i = 0; i < 3 * COLS_; i++)
        Q[i] = 1;
    for (int i = 0; i < ROWS_ * COLS_; i++)
        w[i] = (float)(i % 97) * 0.125f;
    lsc_bake_job j = {.src = w, .src_dt = LSC_DT_F32, .dst = got, .dst_dt = LSC_DT_F32, .rows = ROWS_, .cols = COLS_,
                      .r = 3, .P = P, .Q = Q, .scale = 1.0};
    for (int threads = 1; threads <= 3; threads += 2) {
        lsc_error err;
        ck_assert_int_eq(lsc_bakemath_convert(&j, threads, NULL, &err), LSC_OK);
        ck_assert_msg(memcmp(got, w, sizeof w) == 0, "the sum is not in ascending k order (threads %d)", threads);
    }
}
END_TEST

/* The same contract through every branch of the fused kernel (bakemath.c): groups of four rows and the
 * rows left over (a block of 16, then 7 = 4 + 3), vector strips and the scalar tail of a tile (1100 =
 * 4 x 256 + 76, 76 = 9 x 8 + 4; 13 columns: one strip and 5), BF16 in and out (the vectorised decode and
 * rounding) and F32; and an overflow to BF16 Inf counted in any lane. */
START_TEST(bake_convert_order_tails)
{
    enum { R_ = 23, C_ = 1100 };
    static double P[R_ * 3], Q[3 * C_];
    static uint16_t w[R_ * C_], got[R_ * C_];
    for (int i = 0; i < R_; i++)
        P[i * 3] = 1, P[i * 3 + 1] = 1e20, P[i * 3 + 2] = -1e20;
    for (int i = 0; i < 3 * C_; i++)
        Q[i] = 1;
    for (int i = 0; i < R_ * C_; i++)
        w[i] = (uint16_t)(0x3f80 + i % 97); /* 1 + (i % 97) / 128, exact in BF16 */
    for (int cols = C_; cols >= 13; cols -= C_ - 13) {
        lsc_bake_job j = {.src = w, .src_dt = LSC_DT_BF16, .dst = got, .dst_dt = LSC_DT_BF16, .rows = R_, .cols = cols,
                          .r = 3, .P = P, .Q = Q, .scale = 1.0};
        for (int threads = 1; threads <= 3; threads += 2) {
            lsc_error err;
            size_t ovf = 9;
            memset(got, 0, sizeof got);
            ck_assert_int_eq(lsc_bakemath_convert(&j, threads, &ovf, &err), LSC_OK);
            ck_assert_int_eq((int)ovf, 0);
            for (int i = 0; i < R_ * cols; i++)
                ck_assert_msg(got[i] == w[i], "element %d of %d x %d: 0x%04x, want 0x%04x (threads %d)", i, R_, cols,
                              got[i], w[i], threads);
        }
    }
    /* 3e38 + 1 * 1e38 overflows BF16 (max 3.39e38) in one column; every row and lane position counted */
    static double P1[R_], Q1[C_];
    for (int i = 0; i < R_; i++)
        P1[i] = 1;
    for (int c = 0; c < C_; c++)
        Q1[c] = c % 9 == 4 ? 1e38 : 0;
    static float wf[R_ * C_];
    for (int i = 0; i < R_ * C_; i++)
        wf[i] = 3e38f;
    lsc_bake_job j = {.src = wf, .src_dt = LSC_DT_F32, .dst = got, .dst_dt = LSC_DT_BF16, .rows = R_, .cols = C_,
                      .r = 1, .P = P1, .Q = Q1, .scale = 1.0};
    lsc_error err;
    size_t ovf = 0;
    ck_assert_int_eq(lsc_bakemath_convert(&j, 2, &ovf, &err), LSC_OK);
    ck_assert_int_eq((int)ovf, R_ * ((C_ + 4) / 9));
    ck_assert_uint_eq(got[4], 0x7f80);
    ck_assert_uint_eq(got[3], lsc_f64_to_bf16((double)3e38f));
}
END_TEST

/* An overflow is counted, a DoRA row of norm 0 is named. */
START_TEST(bake_convert_errors)
{
    double B[2] = {1e30, 0}, A[2] = {1e30, 1}, mag[2] = {1, 1};
    float w[2] = {0, 0};
    uint16_t out[2];
    lsc_bake_job j = {.src = w, .src_dt = LSC_DT_F32, .dst = out, .dst_dt = LSC_DT_BF16, .rows = 2, .cols = 1, .r = 1,
                      .P = B, .Q = A, .scale = 1.0};
    lsc_error err;
    size_t ovf = 0;
    ck_assert_int_eq(lsc_bakemath_convert(&j, 1, &ovf, &err), LSC_OK);
    ck_assert_int_eq((int)ovf, 1);
    j.mag = mag;
    ck_assert_int_eq(lsc_bakemath_convert(&j, 2, &ovf, &err), LSC_ERR_NUMERIC);
    ck_assert_msg(strstr(err.msg, "row 1 "), "%s", err.msg);
}
END_TEST

/* ---- ||W||_F streamed (lsc_basefig_norm) ----------------------------------------------------------- */

/* The sum of squares the float paths used before the accumulator existed is ref_four_lane_norm
 * (basefig_ref.h). */

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

/* Floats of widely spread magnitudes and signs, with the special values a base can hold sprinkled in
 * (zeros of both signs, subnormals, FLT_MIN, FLT_MAX; inf and NaN when `nonfinite`). */
static void spread_floats(float *f, size_t n, int nonfinite)
{
    static const float special[] = {0.0f, -0.0f, 1e-45f, -1.4e-40f, 1.17549435e-38f, 3.40282347e38f, -3.40282347e38f,
                                    1.0f, -1.0f};
    for (size_t i = 0; i < n; i++) {
        uint64_t u = splitmix64();
        f[i] = (float)(gauss() * ldexp(1.0, (int)(u % 120) - 60));
        if (u >> 58 == 0) /* 1 in 64 */
            f[i] = special[(u >> 8) % (sizeof special / sizeof *special)];
    }
    if (nonfinite && n) {
        f[splitmix64() % n] = (splitmix64() & 1) ? INFINITY : -INFINITY;
        if (n > 7)
            f[splitmix64() % n] = NAN;
    }
}

/* x [n] fed in random pieces (empty ones and pieces of 1..3 included). */
static double norm_in_pieces(const float *x, size_t n, int max_piece)
{
    lsc_basefig_norm a;
    lsc_basefig_norm_init(&a);
    for (size_t i = 0; i < n;) {
        size_t m = (size_t)(splitmix64() % (uint64_t)(max_piece + 1));
        if (m > n - i)
            m = n - i;
        lsc_basefig_norm_add(&a, x + i, m);
        i += m;
    }
    lsc_basefig_norm_add(&a, x, 0);
    return lsc_basefig_norm_finish(&a);
}

/* The accumulator is bit for bit the old formula for every length 0..40 and a few large ones, however the
 * floats are cut into pieces (whole, random pieces, one at a time), with special values; and the order
 * matters (a plain running sum gives other bits on the same data, so the comparison can fail). */
START_TEST(norm_accumulator_bitwise)
{
    rng_state = 4242;
    static const size_t big[] = {4096 * 3 + 1, 100003, 1000002};
    int order_seen = 0;
    for (size_t c = 0; c < 41 + 3 * 2; c++) {
        size_t n = c <= 40 ? c : big[(c - 41) % 3];
        int nonfinite = c > 40 && c >= 44;
        float *x = malloc(sizeof(float) * (n ? n : 1));
        spread_floats(x, n, nonfinite);
        double want = ref_four_lane_norm(x, n);
        lsc_basefig_norm a;
        lsc_basefig_norm_init(&a);
        lsc_basefig_norm_add(&a, x, n);
        double whole = lsc_basefig_norm_finish(&a);
        ck_assert_msg(same_bits(whole, want), "n %zu whole: %.17g vs %.17g", n, whole, want);
        ck_assert_msg(same_bits(lsc_basefig_norm_finish(&a), want), "n %zu: finish changed the sums", n);
        for (int max_piece = 1; max_piece <= 9; max_piece += 4) {
            double got = norm_in_pieces(x, n, max_piece);
            ck_assert_msg(same_bits(got, want), "n %zu pieces <= %d: %.17g vs %.17g", n, max_piece, got, want);
        }
        double got = norm_in_pieces(x, n, 5000);
        ck_assert_msg(same_bits(got, want), "n %zu large pieces: %.17g vs %.17g", n, got, want);
        if (nonfinite)
            ck_assert_msg(!isfinite(want) && !isfinite(whole), "n %zu: non-finite entries give %g", n, whole);
        double seq = 0;
        for (size_t i = 0; i < n; i++)
            seq += (double)x[i] * x[i];
        order_seen |= !nonfinite && n >= 8 && !same_bits(sqrt(seq), want);
        free(x);
    }
    ck_assert_msg(order_seen, "no case where the summation order shows: the test could not tell");
}
END_TEST

/* _add_raw on F32, F16 and BF16 bytes (every bit pattern allowed, so subnormals, infinities and NaNs
 * occur) equals the old formula over lsc_dtype_to_float of all of them, in pieces that cross its decode
 * chunk; other dtypes are refused and add nothing. */
START_TEST(norm_accumulator_raw)
{
    rng_state = 99;
    static const lsc_dtype dts[] = {LSC_DT_F32, LSC_DT_F16, LSC_DT_BF16};
    static const size_t lens[] = {0, 1, 3, 4, 5, 37, 2048, 2049, 6151};
    for (int d = 0; d < 3; d++)
        for (size_t c = 0; c < sizeof lens / sizeof *lens; c++) {
            size_t n = lens[c], es = lsc_dtype_size(dts[d]);
            unsigned char *raw = malloc(n * es + 1);
            float *f = malloc(sizeof(float) * (n + 1));
            for (size_t i = 0; i < n * es; i++)
                raw[i] = (unsigned char)splitmix64();
            if (dts[d] == LSC_DT_F32) /* mostly finite F32: random exponents would be inf/NaN 1 in 256 anyway */
                for (size_t i = 0; i < n; i++)
                    raw[4 * i + 3] &= 0x3f;
            ck_assert_int_eq(lsc_dtype_to_float(dts[d], raw, n, f), LSC_OK);
            double want = ref_four_lane_norm(f, n);
            lsc_basefig_norm a;
            lsc_basefig_norm_init(&a);
            for (size_t i = 0; i < n;) {
                size_t m = 1 + (size_t)(splitmix64() % 3000);
                if (m > n - i)
                    m = n - i;
                ck_assert_int_eq(lsc_basefig_norm_add_raw(&a, dts[d], raw + i * es, m), LSC_OK);
                i += m;
            }
            double got = lsc_basefig_norm_finish(&a);
            ck_assert_msg(same_bits(got, want), "%s n %zu: %.17g vs %.17g", lsc_dtype_name(dts[d]), n, got, want);
            ck_assert_int_eq(lsc_basefig_norm_add_raw(&a, LSC_DT_F64, raw, n / 8), LSC_ERR_UNSUPPORTED);
            ck_assert_msg(same_bits(lsc_basefig_norm_finish(&a), want), "a refused dtype added something");
            free(raw), free(f);
        }
}
END_TEST

/* lsc_basefig_compute_norms from a streamed ||W||_F gives exactly what compute_sketched gives with
 * norms_only on the whole float W (every field), rank 0 included; a non-finite norm is the same error. */
START_TEST(norms_from_streamed_norm)
{
    rng_state = 5;
    int rows = 37, cols = 29, r = 3;
    float *wf = malloc(sizeof(float) * (size_t)rows * cols);
    double *B = gauss_matrix((size_t)rows * r), *A = gauss_matrix((size_t)r * cols);
    spread_floats(wf, (size_t)rows * cols, 0);
    lsc_basefig_opts o;
    lsc_basefig_opts_default(&o);
    o.norms_only = 1;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_error err;
    for (int rank = 0; rank <= r; rank += r) {
        lsc_lowrank lr = {rows, cols, rank, B, A, 1.25};
        lsc_basefig want, got;
        lsc_basefig_sketch sk = {0};
        memset(&got, 0x5a, sizeof got);
        ck_assert_int_eq(lsc_basefig_compute_sketched(NULL, wf, &lr, &o, ws, &sk, NULL, &want, &err), LSC_OK);
        lsc_basefig_norm a;
        lsc_basefig_norm_init(&a);
        lsc_basefig_norm_add(&a, wf, (size_t)rows * cols);
        ck_assert_int_eq(lsc_basefig_compute_norms(lsc_basefig_norm_finish(&a), &lr, &o, ws, &got, &err), LSC_OK);
        ck_assert_msg(memcmp(&want, &got, sizeof want) == 0, "rank %d: figures differ (rel %.17g vs %.17g)", rank,
                      got.rel_norm, want.rel_norm);
        ck_assert(rank == 0 || (got.rel_norm > 0 && got.r == rank));
    }
    lsc_lowrank lr = {rows, cols, r, B, A, 1.25};
    lsc_basefig got;
    wf[7] = INFINITY;
    lsc_basefig_sketch sk = {0};
    ck_assert_int_eq(lsc_basefig_compute_sketched(NULL, wf, &lr, &o, ws, &sk, NULL, &got, &err), LSC_ERR_NUMERIC);
    char msg[sizeof err.msg];
    memcpy(msg, err.msg, sizeof msg);
    ck_assert_int_eq(lsc_basefig_compute_norms(INFINITY, &lr, &o, ws, &got, &err), LSC_ERR_NUMERIC);
    ck_assert_str_eq(err.msg, msg);
    lr.rows = 0;
    ck_assert_int_eq(lsc_basefig_compute_norms(1.0, &lr, &o, ws, &got, &err), LSC_ERR_INVALID);
    lsc_workspace_free(ws);
    free(wf), free(B), free(A);
}
END_TEST

static Suite *basefig_suite(void)
{
    Suite *s = suite_create("basefig");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, randsvd_matches_dense, 0, 4);
    tcase_add_test(tc, randsvd_power_iterations_matter);
    tcase_add_test(tc, randsvd_with_lowrank);
    tcase_add_test(tc, randsvd_rejects);
    tcase_add_test(tc, figures_match_dense);
    tcase_add_test(tc, figures_power_iterations_matter);
    tcase_add_test(tc, figures_known_intruders);
    tcase_add_test(tc, figures_sketch_reuse);
    tcase_add_test(tc, figures_near_span_of_q);
    tcase_add_test(tc, figures_complement_edges);
    tcase_add_test(tc, figures_rows_blocks);
    tcase_add_test(tc, bake_convert_matches_loops);
    tcase_add_test(tc, bake_convert_order);
    tcase_add_test(tc, bake_convert_errors);
    tcase_add_test(tc, bake_convert_order_tails);
    tcase_add_test(tc, norm_accumulator_bitwise);
    tcase_add_test(tc, norm_accumulator_raw);
    tcase_add_test(tc, norms_from_streamed_norm);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(basefig_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
