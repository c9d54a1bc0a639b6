/* bench-edit.c: prune and merge of Llama-2-7B-shaped r=16 adapters (32 blocks x q,k,v,o 4096x4096,
 * gate,up 11008x4096, down 4096x11008 = 224 layers), each against the dense path on one layer in the
 * same run, and the element-wise TIES merge per layer with its peak memory.
 *
 *   1. TIES (density 0.2, rank 16, randomized re-factorisation) of two adapters on a few layers, in a
 *      forked child so that its peak RSS (getrusage) is its own: printed per layer, projected to all 224
 *      layers, and the peak against the largest dense layer (11008 x 4096 doubles, 360 MB).
 *   2. prune (energy 0.9, kohya keep-ratio scale) of all 224 layers by factors, against forming one
 *      4096 x 4096 delta and taking its dense SVD (dgesdd).
 *   3. svd merge of two adapters to rank 16, all 224 layers, against the dense sum + dgesdd on one layer.
 * Single-threaded BLAS. LSC_BENCH_QUICK=1: fewer TIES layers and one shared dense baseline.
 * Adapters are generated here (never written to disk), factors with decaying column scales.
 */
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "rng.h"
#include "merge.h"
#include "prune.h"
#include "spectrum.h"
#include "workspace.h"
#include "bench/bench_util.h"

void openblas_set_num_threads(int);

#define R 16
#define BLOCKS 32
#define MODS 7

static const int mod_rows[MODS] = {4096, 4096, 4096, 4096, 11008, 11008, 4096};
static const int mod_cols[MODS] = {4096, 4096, 4096, 4096, 4096, 4096, 11008};
static const char *const mod_name[MODS] = {"q", "k", "v", "o", "gate", "up", "down"};

static lsc_rng rng = {1};

static double uniform(void) /* in [-0.5, 0.5) */
{
    return lsc_rng_uniform(&rng) - 0.5;
}

/* one layer: B [rows, R] with decaying column scales, A [R, cols] */
static lsc_lowrank make_layer(int rows, int cols, double scale)
{
    double *B = malloc((size_t)rows * R * sizeof(double)), *A = malloc((size_t)R * cols * sizeof(double));
    if (!B || !A) {
        fprintf(stderr, "bench-edit: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)rows * R; i++)
        B[i] = uniform() * pow(0.8, (double)(i % R)) * 0.02;
    for (size_t i = 0; i < (size_t)R * cols; i++)
        A[i] = uniform() * 0.02;
    return (lsc_lowrank){.rows = rows, .cols = cols, .r = R, .B = B, .A = A, .scale = scale};
}

static void free_layer(lsc_lowrank *l)
{
    free((void *)l->B);
    free((void *)l->A);
}

static long maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void die(const char *what, const lsc_error *err)
{
    fprintf(stderr, "bench-edit: %s: %s\n", what, err->msg);
    exit(1);
}

/* 1. TIES on a few layers, run in a child; exit code 0 on success */
static int ties_child(int quick)
{
    long base = maxrss_kib();
    lsc_workspace *ws = lsc_workspace_new();
    double *Bo = malloc((size_t)11008 * R * sizeof(double)), *Ao = malloc((size_t)R * 11008 * sizeof(double));
    const int mods[] = {0, 4, 6};
    const int n_mods = quick ? 2 : 3;
    double t_mod[MODS] = {0};
    printf("ties (density 0.2, rank 16, randomized svd p=10 q=2), two adapters:\n");
    for (int mi = 0; mi < n_mods; mi++) {
        const int m = mods[mi];
        lsc_lowrank l[2] = {make_layer(mod_rows[m], mod_cols[m], 2.0), make_layer(mod_rows[m], mod_cols[m], 2.0)};
        double w[2] = {1.0, 1.0};
        lsc_merge_params p = lsc_merge_params_default(LSC_MERGE_TIES);
        p.rank = R;
        p.density = 0.2;
        p.seed = 1;
        lsc_merge_info info;
        lsc_error err = {0};
        double t0 = bench_now();
        if (lsc_merge_layer(l, w, 2, &p, ws, Bo, Ao, &info, &err) != LSC_OK)
            die("ties", &err);
        t_mod[m] = bench_now() - t0;
        printf("  %-4s [%5d x %5d]  %7.3f s   rel. re-factorisation error %.4f\n", mod_name[m], mod_rows[m],
               mod_cols[m], t_mod[m], info.rel_error);
        free_layer(&l[0]);
        free_layer(&l[1]);
    }
    /* projection: q,k,v,o like q; gate, up like gate; down like down (or like gate in quick mode) */
    double t_down = t_mod[6] > 0 ? t_mod[6] : t_mod[4];
    double proj = BLOCKS * (4 * t_mod[0] + 2 * t_mod[4] + t_down);
    printf("  projected for all 224 layers: %.0f s (%.1f min)\n", proj, proj / 60);
    long peak = maxrss_kib();
    const double dense_mib = 11008.0 * 4096 * 8 / 1048576.0;
    printf("  peak RSS %.0f MiB (%.0f MiB before), largest dense layer %.0f MiB: peak / dense = %.2f "
           "(target < 2)\n", peak / 1024.0, base / 1024.0, dense_mib, peak / 1024.0 / dense_mib);
    free(Bo);
    free(Ao);
    lsc_workspace_free(ws);
    return 0;
}

/* dense baseline: form s*B*A (or a sum of them) and take its SVD with vectors */
static double dense_svd_one(const lsc_lowrank *l, const double *w, int n)
{
    const int rows = (int)l[0].rows, cols = (int)l[0].cols;
    double t0 = bench_now();
    double *D = calloc((size_t)rows * cols, sizeof(double));
    double *s = malloc((size_t)cols * sizeof(double)), *U = malloc((size_t)rows * cols * sizeof(double));
    double *VT = malloc((size_t)cols * cols * sizeof(double));
    for (int k = 0; k < n; k++)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, l[k].r, w[k] * l[k].scale, l[k].B, l[k].r,
                    l[k].A, cols, 1.0, D, cols);
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', rows, cols, D, cols, s, U, cols, VT, cols);
    double t = bench_now() - t0;
    if (info != 0) {
        fprintf(stderr, "bench-edit: dense svd failed (%d)\n", (int)info);
        exit(1);
    }
    free(D);
    free(s);
    free(U);
    free(VT);
    return t;
}

int main(void)
{
    openblas_set_num_threads(1);
    const int quick = getenv("LSC_BENCH_QUICK") && strcmp(getenv("LSC_BENCH_QUICK"), "0") != 0;
    setvbuf(stdout, NULL, _IONBF, 0);

    /* 1. TIES first, in a child, before this process holds two adapters */
    pid_t pid = fork();
    if (pid == 0)
        _exit(ties_child(quick));
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench-edit: ties part failed\n");
        return 1;
    }

    /* two 7B-shaped adapters */
    const int L = BLOCKS * MODS;
    lsc_lowrank *a1 = malloc((size_t)L * sizeof *a1), *a2 = malloc((size_t)L * sizeof *a2);
    double t0 = bench_now();
    for (int i = 0; i < L; i++) {
        a1[i] = make_layer(mod_rows[i % MODS], mod_cols[i % MODS], 2.0);
        a2[i] = make_layer(mod_rows[i % MODS], mod_cols[i % MODS], 0.5);
    }
    printf("generated two adapters of %d layers (r=%d) in %.1f s\n", L, R, bench_now() - t0);

    lsc_workspace *ws = lsc_workspace_new();
    double *Bo = malloc((size_t)11008 * R * sizeof(double)), *Ao = malloc((size_t)R * 11008 * sizeof(double));
    double sv[R];
    lsc_error err = {0};

    /* 2. prune: energy 0.9 by factors, all layers (one warm-up layer first so the workspace is grown) */
    lsc_prune_info pi;
    if (lsc_prune_truncate(&a1[4], 8, 2.0, ws, Bo, Ao, &pi, &err) != LSC_OK)
        die("warm-up", &err);
    t0 = bench_now();
    long kept = 0;
    double worst = 0;
    for (int i = 0; i < L; i++) {
        int k;
        if (lsc_spectrum(&a1[i], ws, sv, NULL, NULL, &err) != LSC_OK ||
            lsc_prune_select(sv, R, LSC_RANK_ENERGY, 0.9, &k, &err) != LSC_OK ||
            lsc_prune_truncate(&a1[i], k, lsc_prune_new_scale(LSC_SCALE_KEEP_RATIO, a1[i].scale, R, k), ws, Bo, Ao,
                               &pi, &err) != LSC_OK)
            die("prune", &err);
        kept += k;
        worst = fmax(worst, pi.rel_error);
    }
    const double t_prune = bench_now() - t0;
    const double w1[2] = {1.0, 1.0};
    const double t_dense1 = dense_svd_one(&a1[0], w1, 1);
    printf("prune energy 0.9, %d layers by factors: %.3f s (target < 1 s), mean rank %.1f, worst rel. error %.3f\n",
           L, t_prune, (double)kept / L, worst);
    printf("  dense path for ONE 4096x4096 layer (form dW, dgesdd): %.2f s; factored all-layers / dense one-layer "
           "= %.4f; per layer %.0fx faster\n", t_dense1, t_prune / t_dense1, t_dense1 / (t_prune / L));

    /* 3. svd merge of the two adapters to rank 16 */
    lsc_merge_params p = lsc_merge_params_default(LSC_MERGE_SVD);
    p.rank = R;
    lsc_merge_info mi;
    const double w[2] = {0.6, 0.4};
    t0 = bench_now();
    double worst_m = 0;
    for (int i = 0; i < L; i++) {
        lsc_lowrank pair[2] = {a1[i], a2[i]};
        if (lsc_merge_layer(pair, w, 2, &p, ws, Bo, Ao, &mi, &err) != LSC_OK)
            die("svd merge", &err);
        worst_m = fmax(worst_m, mi.rel_error);
    }
    const double t_merge = bench_now() - t0;
    lsc_lowrank pair0[2] = {a1[0], a2[0]};
    const double t_dense2 = quick ? t_dense1 : dense_svd_one(pair0, w, 2);
    printf("svd merge of two adapters to rank %d, %d layers by factors: %.3f s (target < 2 s), worst rel. error "
           "%.3f\n", R, L, t_merge, worst_m);
    printf("  dense path for ONE 4096x4096 layer (sum of two dW, dgesdd)%s: %.2f s; factored all-layers / dense "
           "one-layer = %.4f\n", quick ? " (quick: reused prune baseline)" : "", t_dense2, t_merge / t_dense2);

    for (int i = 0; i < L; i++) {
        free_layer(&a1[i]);
        free_layer(&a2[i]);
    }
    free(a1);
    free(a2);
    free(Bo);
    free(Ao);
    lsc_workspace_free(ws);
    return 0;
}
