/* bench-stats.c: statistics of a whole Llama-2-7B-shaped r=16 adapter from the factors, against the dense
 * path (form s*B*A, dense SVD) measured in the same process on one layer of each distinct shape.
 *
 * Layers: 32 blocks x {q, k, v, o: 4096 x 4096; gate, up: 11008 x 4096; down: 4096 x 11008}, random
 * factors generated in memory with a fixed seed. Everything runs on one BLAS thread (the engine
 * parallelises over layers, not inside one). Timings are printed, never asserted; the ratios are the
 * result. LSC_BENCH_QUICK=1 skips the dense runs of the 11008 shapes and estimates them by flop count.
 */
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "pool.h"
#include "rng.h"
#include "stats.h"
#include "bench/bench_util.h"

void openblas_set_num_threads(int);

#define N_BLOCKS 32
#define N_MODULES 7
#define RANK 16

static const struct {
    const char *name;
    int64_t rows, cols;
    int shape; /* index into the distinct shapes */
} modules[N_MODULES] = {
    {"q_proj", 4096, 4096, 0},     {"k_proj", 4096, 4096, 0},  {"v_proj", 4096, 4096, 0},
    {"o_proj", 4096, 4096, 0},     {"gate_proj", 11008, 4096, 1}, {"up_proj", 11008, 4096, 1},
    {"down_proj", 4096, 11008, 2},
};
#define N_SHAPES 3
static const int64_t shape_dims[N_SHAPES][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};

static lsc_rng rng = {0x5EEDBE7C};

static void fill_gauss(double *x, size_t n, double sigma)
{
    for (size_t i = 0; i < n; i++)
        x[i] = sigma * lsc_rng_gauss(&rng);
}

/* flops of a values-only dense SVD (dgesdd 'N', LAPACK's own estimate: QR first when m >> n) plus the
 * product, used only to estimate what quick mode skips */
static double dense_flops(double m, double n)
{
    if (m < n) {
        double t = m;
        m = n;
        n = t;
    }
    double svd = m >= 11.0 * n / 6.0 ? 2 * m * n * n - 2 * n * n * n / 3 + 8 * n * n * n / 3 : 4 * m * n * n - 4 * n * n * n / 3;
    return svd + 2.0 * m * n * RANK;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct pool_bench {
    const lsc_lowrank *layers;
    lsc_layer_stats *out;
    lsc_workspace **ws; /* one per worker */
} pool_bench;

static lsc_status pool_item(void *ctx, size_t i, int worker, lsc_error *err)
{
    pool_bench *pb = ctx;
    lsc_stats_release(&pb->out[i]);
    return lsc_stats_compute(&pb->layers[i], pb->ws[worker], &pb->out[i], err);
}

int main(void)
{
    openblas_set_num_threads(1);
    const char *q = getenv("LSC_BENCH_QUICK");
    const int quick = q && strcmp(q, "0") != 0 && *q;

    const int n_layers = N_BLOCKS * N_MODULES;
    lsc_lowrank *layers = calloc((size_t)n_layers, sizeof *layers);
    double **mem = calloc((size_t)n_layers, sizeof *mem);
    if (!layers || !mem) {
        fprintf(stderr, "bench-stats: out of memory\n");
        return 1;
    }
    double t0 = bench_now();
    size_t total_doubles = 0;
    for (int l = 0; l < n_layers; l++) {
        int m = l % N_MODULES;
        size_t nb = (size_t)modules[m].rows * RANK, na = (size_t)modules[m].cols * RANK;
        mem[l] = malloc(sizeof(double) * (nb + na));
        if (!mem[l]) {
            fprintf(stderr, "bench-stats: out of memory\n");
            return 1;
        }
        /* PEFT-like magnitudes: A ~ kaiming-ish, B trained away from zero */
        fill_gauss(mem[l], nb, 0.01);
        fill_gauss(mem[l] + nb, na, 1.0 / sqrt((double)modules[m].cols));
        layers[l] = (lsc_lowrank){.rows = modules[m].rows, .cols = modules[m].cols, .r = RANK, .B = mem[l],
                                  .A = mem[l] + nb, .scale = 2.0};
        total_doubles += nb + na;
    }
    printf("adapter: %d layers (Llama-2-7B shapes, r=%d), %.0f MiB of f64 factors, generated in %.2f s\n", n_layers,
           RANK, (double)total_doubles * 8 / 1048576.0, bench_now() - t0);

    /* factored path: one workspace for all layers; the first pass starts cold, the second is warm */
    lsc_workspace *ws = lsc_workspace_new();
    lsc_layer_stats *st = calloc((size_t)n_layers, sizeof *st);
    double shape_time[N_SHAPES] = {0};
    int shape_count[N_SHAPES] = {0};
    double pass_time[2] = {0};
    double checksum = 0.0;
    for (int pass = 0; pass < 2; pass++) {
        double tp = bench_now();
        for (int l = 0; l < n_layers; l++) {
            lsc_error err = {0};
            double tl = bench_now();
            lsc_stats_release(&st[l]);
            if (lsc_stats_compute(&layers[l], ws, &st[l], &err) != LSC_OK) {
                fprintf(stderr, "bench-stats: layer %d: %s\n", l, err.msg);
                return 1;
            }
            if (pass == 1) {
                int s = modules[l % N_MODULES].shape;
                shape_time[s] += bench_now() - tl;
                shape_count[s]++;
                checksum += st[l].spectral;
            }
        }
        pass_time[pass] = bench_now() - tp;
    }
    printf("factored stats, whole adapter: %.3f s cold workspace, %.3f s warm (%.2f ms/layer)  [target < 0.5 s]\n",
           pass_time[0], pass_time[1], 1e3 * pass_time[1] / n_layers);

    /* the whole adapter over the pool (lsc_pool_for, as show and the edits use it): 2 workers against 1,
     * and the figures compared byte for byte */
    double pool_time[2] = {0}, pool_cpu[2] = {0};
    lsc_layer_stats *by[2] = {calloc((size_t)n_layers, sizeof **by), calloc((size_t)n_layers, sizeof **by)};
    for (int v = 0; v < 2; v++) {
        pool_bench pb = {layers, by[v], NULL};
        pb.ws = calloc(2, sizeof *pb.ws);
        pb.ws[0] = lsc_workspace_new();
        pb.ws[1] = lsc_workspace_new();
        lsc_error err = {0};
        for (int pass = 0; pass < 2; pass++) { /* the first pass warms the workspaces */
            double tp = bench_now(), cp = cpu_now();
            if (lsc_pool_for((size_t)n_layers, v + 1, pool_item, &pb, &err) != LSC_OK) {
                fprintf(stderr, "bench-stats: %s\n", err.msg);
                return 1;
            }
            pool_time[v] = bench_now() - tp;
            pool_cpu[v] = cpu_now() - cp;
        }
        lsc_workspace_free(pb.ws[0]);
        lsc_workspace_free(pb.ws[1]);
        free(pb.ws);
    }
    int same = 1;
    for (int l = 0; l < n_layers; l++) {
        const lsc_layer_stats *a = &by[0][l], *b = &by[1][l];
        same &= a->n_sv == b->n_sv && memcmp(a->sv, b->sv, sizeof(double) * (size_t)a->n_sv) == 0;
        const double da[] = {a->fro, a->spectral, a->nuclear, a->stable_rank, a->effective_rank, a->norm_a, a->norm_b,
                             a->balance, a->zeros_a, a->zeros_b, a->near_zeros_a, a->near_zeros_b};
        const double db[] = {b->fro, b->spectral, b->nuclear, b->stable_rank, b->effective_rank, b->norm_a, b->norm_b,
                             b->balance, b->zeros_a, b->zeros_b, b->near_zeros_a, b->near_zeros_b};
        same &= memcmp(da, db, sizeof da) == 0 && a->energy_rank_90 == b->energy_rank_90 &&
                a->energy_rank_99 == b->energy_rank_99 && a->numerical_rank == b->numerical_rank &&
                a->nonfinite_a == b->nonfinite_a && a->nonfinite_b == b->nonfinite_b && a->flags == b->flags;
        lsc_stats_release(&by[0][l]);
        lsc_stats_release(&by[1][l]);
    }
    free(by[0]);
    free(by[1]);
    printf("whole adapter over the pool: 1 thread %.3f s, 2 threads %.3f s: ratio %.2f (target <= 0.6); "
           "figures %s\n",
           pool_time[0], pool_time[1], pool_time[1] / pool_time[0], same ? "bit-identical" : "DIFFER");
    /* on a shared machine the wall ratio says how many cores were free; CPU time over wall time says how
     * many the pool kept busy */
    printf("  CPU time / wall time: 1 thread %.2f, 2 threads %.2f (2.00 = both cores busy)\n",
           pool_cpu[0] / pool_time[0], pool_cpu[1] / pool_time[1]);
    if (!same)
        return 1;

    /* the same with a fresh workspace per layer: what reusing the scratch pages buys */
    double tf = bench_now();
    for (int l = 0; l < n_layers; l += N_MODULES) { /* one block's worth of each module kind, 32 x 7 */
        for (int m = 0; m < N_MODULES; m++) {
            lsc_workspace *fresh = lsc_workspace_new();
            lsc_layer_stats tmp = {0};
            lsc_error err = {0};
            if (lsc_stats_compute(&layers[l + m], fresh, &tmp, &err) != LSC_OK) {
                fprintf(stderr, "bench-stats: %s\n", err.msg);
                return 1;
            }
            lsc_stats_release(&tmp);
            lsc_workspace_free(fresh);
        }
    }
    double fresh_time = bench_now() - tf;
    printf("fresh workspace per layer: %.3f s (%.2fx the reused one)\n", fresh_time, fresh_time / pass_time[1]);

    /* dense path, one layer of each distinct shape */
    double dense_time[N_SHAPES] = {0};
    int measured[N_SHAPES] = {0};
    for (int s = 0; s < N_SHAPES; s++) {
        const int64_t rows = shape_dims[s][0], cols = shape_dims[s][1];
        if (quick && (rows > 4096 || cols > 4096))
            continue;
        int l = 0;
        while (modules[l % N_MODULES].shape != s)
            l++;
        const lsc_lowrank *lr = &layers[l];
        double *d = malloc(sizeof(double) * (size_t)(rows * cols));
        const int64_t k = rows < cols ? rows : cols;
        double *sv = malloc(sizeof(double) * (size_t)k);
        if (!d || !sv) {
            fprintf(stderr, "bench-stats: out of memory for the dense %lldx%lld product\n", (long long)rows,
                    (long long)cols);
            return 1;
        }
        double ta = bench_now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, RANK, lr->scale, lr->B, RANK,
                    lr->A, (int)cols, 0.0, d, (int)cols);
        double tgemm = bench_now() - ta;
        /* the row-major [rows, cols] buffer is the column-major transpose: same singular values */
        lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)cols, (lapack_int)rows, d,
                                         (lapack_int)cols, sv, NULL, 1, NULL, 1);
        dense_time[s] = bench_now() - ta;
        measured[s] = 1;
        if (info != 0) {
            fprintf(stderr, "bench-stats: dense svd failed (info %d)\n", (int)info);
            return 1;
        }
        double fact = shape_time[s] / shape_count[s];
        printf("dense %5lld x %-5lld: product %.2f s + svd %.2f s = %.2f s; factored %.3f ms; ratio %.0fx"
               "; sigma_1 dense %.12g factored %.12g\n",
               (long long)rows, (long long)cols, tgemm, dense_time[s] - tgemm, dense_time[s], 1e3 * fact,
               dense_time[s] / fact, sv[0], st[l].spectral);
        free(d);
        free(sv);
    }

    double projected = 0.0;
    int estimated = 0;
    for (int m = 0; m < N_MODULES; m++) {
        int s = modules[m].shape;
        double t = dense_time[s];
        if (!measured[s]) {
            t = dense_time[0] * dense_flops((double)shape_dims[s][0], (double)shape_dims[s][1]) /
                dense_flops(4096.0, 4096.0);
            estimated = 1;
        }
        projected += N_BLOCKS * t;
    }
    printf("dense path, whole adapter (projected from the per-shape times%s): %.0f s = %.2f h; against the "
           "factored %.3f s: %.0fx\n",
           estimated ? ", 11008 shapes estimated by flop count" : "", projected, projected / 3600.0, pass_time[1],
           projected / pass_time[1]);
    for (int s = 0; s < N_SHAPES; s++)
        if (!measured[s])
            printf("dense %lld x %lld: skipped (LSC_BENCH_QUICK)\n", (long long)shape_dims[s][0],
                   (long long)shape_dims[s][1]);
    printf("checksum %.6g\n", checksum);

    for (int l = 0; l < n_layers; l++) {
        lsc_stats_release(&st[l]);
        free(mem[l]);
    }
    free(st);
    free(mem);
    free(layers);
    lsc_workspace_free(ws);
    return 0;
}
