/* bench-wtx64.c: the float64 W^T X kernel (engine/wtx64.h) beside cblas_dgemm on the same product, in one
 * process: W 8192 x 2048 floats (the 1B model's gate/up projection), X [8192, c] doubles for c = 16, 32,
 * 46 (widths of basefig's projection at r = 16: U_d alone, [U_c | U_d] of the warm path, about W^T Q's
 * l = 30 plus r), Z [2048, c].
 * Lines per c: dgemm on W widened to doubles once (the BLAS's own speed, widening not counted); the
 * former exact_mt (64 float rows widened into a buffer, then dgemm with beta = 1); lsc_wtx64 in each
 * variant the CPU has, on the whole W (W streams from memory: basefig's cold path) and on 256-row blocks
 * copied into a 2 MB buffer first, copy included (basefig's warm path, where the rows are decoded into
 * such a buffer). GFLOP/s = 2 * 8192 * 2048 * c / seconds, best of 3 runs, process CPU time, one BLAS
 * thread. On a machine shared with other jobs, whatever streams from memory varies most. Last, the
 * kernel's own speed with W in cache: W 256 x 512 (512 KB as floats) taken 128 times, beside dgemm on
 * the same W as doubles.
 * Timings are printed, never asserted; each line also gives its ratio to dgemm on the widened W. The
 * kernel and dgemm must agree to 1e-12 (normwise relative), or the benchmark fails. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"
#include "wtx64.h"

extern void openblas_set_num_threads(int num_threads);

enum { ROWS = 8192, COLS = 2048, REPS = 3 };

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct prob {
    const float *W;
    const double *Wd, *X;
    double *Z, *blk;
    float *fblk;
    int c;
} prob;

static void run_whole(const prob *p)
{
    lsc_wtx64(p->W, ROWS, COLS, p->X, p->c, p->c, p->Z, p->c, 0);
}

static void run_blocks(const prob *p)
{
    for (int i0 = 0; i0 < ROWS; i0 += 256) {
        memcpy(p->fblk, p->W + (size_t)i0 * COLS, sizeof(float) * 256 * COLS);
        lsc_wtx64(p->fblk, 256, COLS, p->X + (size_t)i0 * (size_t)p->c, p->c, p->c, p->Z, p->c, i0 > 0);
    }
}

static void run_dgemm(const prob *p)
{
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, COLS, p->c, ROWS, 1.0, p->Wd, COLS, p->X, p->c, 0.0, p->Z, p->c);
}

static void run_old(const prob *p) /* basefig's exact_mt before lsc_wtx64 */
{
    for (int i0 = 0; i0 < ROWS; i0 += 64) {
        for (size_t t = 0; t < (size_t)64 * COLS; t++)
            p->blk[t] = p->W[(size_t)i0 * COLS + t];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, COLS, p->c, 64, 1.0, p->blk, COLS,
                    p->X + (size_t)i0 * (size_t)p->c, p->c, i0 ? 1.0 : 0.0, p->Z, p->c);
    }
}

static double best(void (*fn)(const prob *), const prob *p)
{
    double b = INFINITY;
    for (int r = 0; r < REPS; r++) {
        double t0 = cpu_now();
        fn(p);
        double t = cpu_now() - t0;
        b = t < b ? t : b;
    }
    return b;
}

/* W [256, 512] (the first rows of the big W's values) in cache, 128 products, c = 32. */
static void in_cache(const float *W, double *Wd, const double *X, double *Z)
{
    enum { R = 256, C = 512, N = 128, CC = 32 };
    for (size_t i = 0; i < (size_t)R * C; i++)
        Wd[i] = W[i];
    double flop = 2.0 * R * C * CC * N, best_d = INFINITY;
    for (int r = 0; r < REPS; r++) {
        double t0 = cpu_now();
        for (int n = 0; n < N; n++)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, CC, R, 1.0, Wd, C, X, CC, 0.0, Z, CC);
        double t = cpu_now() - t0;
        best_d = t < best_d ? t : best_d;
    }
    printf("in cache: W %d x %d, c = %d  dgemm %6.1f GFLOP/s\n", R, C, CC, flop / best_d * 1e-9);
    for (int v = LSC_SIMD_PORTABLE + 1; v < LSC_SIMD_COUNT; v++) {
        if (lsc_wtx64_force((lsc_simd)v))
            continue;
        double b = INFINITY;
        for (int r = 0; r < REPS; r++) {
            double t0 = cpu_now();
            for (int n = 0; n < N; n++)
                lsc_wtx64(W, R, C, X, CC, CC, Z, CC, 0);
            double t = cpu_now() - t0;
            b = t < b ? t : b;
        }
        printf("in cache: W %d x %d, c = %d  lsc_wtx64 %-8s %6.1f GFLOP/s  %.2fx\n", R, C, CC,
               lsc_simd_name((lsc_simd)v), flop / b * 1e-9, best_d / b);
    }
    lsc_wtx64_force(LSC_SIMD_AUTO);
}

int main(void)
{
    openblas_set_num_threads(1);
    lsc_rng g = {12345};
    float *W = malloc(sizeof(float) * (size_t)ROWS * COLS);
    double *Wd = malloc(sizeof(double) * (size_t)ROWS * COLS), *X = malloc(sizeof(double) * (size_t)ROWS * 64),
           *Z = malloc(sizeof(double) * (size_t)COLS * 64), *D = malloc(sizeof(double) * (size_t)COLS * 64),
           *blk = malloc(sizeof(double) * (size_t)64 * COLS);
    float *fblk = malloc(sizeof(float) * (size_t)256 * COLS);
    if (!W || !Wd || !X || !Z || !D || !blk || !fblk) {
        fprintf(stderr, "bench-wtx64: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++)
        W[i] = (float)(0.02 * lsc_rng_gauss(&g)), Wd[i] = W[i];
    for (size_t i = 0; i < (size_t)ROWS * 64; i++)
        X[i] = lsc_rng_gauss(&g);
    printf("W^T X, W %d x %d floats, float64 products; GFLOP/s (CPU time, best of %d), ratio to dgemm\n", ROWS, COLS,
           REPS);
    static const int cs[] = {16, 32, 46};
    int bad = 0;
    for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
        int c = cs[t];
        prob p = {W, Wd, X, D, blk, fblk, c};
        double flop = 2.0 * ROWS * COLS * c, td = best(run_dgemm, &p), to = best(run_old, &p);
        p.Z = Z;
        printf("c = %2d  dgemm (W as doubles)        %6.1f GFLOP/s\n", c, flop / td * 1e-9);
        printf("c = %2d  widen 64 rows + dgemm (old) %6.1f GFLOP/s  %.2fx\n", c, flop / to * 1e-9, td / to);
        for (int v = LSC_SIMD_PORTABLE; v < LSC_SIMD_COUNT; v++) {
            if (lsc_wtx64_force((lsc_simd)v))
                continue;
            double tw = best(run_whole, &p), num = 0, den = 0;
            for (size_t i = 0; i < (size_t)COLS * c; i++)
                num += (Z[i] - D[i]) * (Z[i] - D[i]), den += D[i] * D[i];
            bad |= !(sqrt(num / den) <= 1e-12);
            double tb = best(run_blocks, &p);
            printf("c = %2d  lsc_wtx64 %-8s whole     %6.1f GFLOP/s  %.2fx\n", c, lsc_simd_name((lsc_simd)v),
                   flop / tw * 1e-9, td / tw);
            printf("c = %2d  lsc_wtx64 %-8s blocks    %6.1f GFLOP/s  %.2fx\n", c, lsc_simd_name((lsc_simd)v),
                   flop / tb * 1e-9, td / tb);
        }
        lsc_wtx64_force(LSC_SIMD_AUTO);
    }
    in_cache(W, Wd, X, Z);
    free(W), free(Wd), free(X), free(Z), free(D), free(blk), free(fblk);
    if (bad)
        fprintf(stderr, "bench-wtx64: the kernel and dgemm disagree\n");
    return bad;
}
