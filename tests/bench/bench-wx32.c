/* bench-wx32.c: the range finder's two float32 products (engine/wx32.c) beside cblas_sgemm on the same
 * shapes, one thread, in one process: Y = W X and Z = W^T Y for W 8192 x 2048 and 2048 x 8192 (a 1B
 * model's gate/up and down projections) at l = 30, GFLOP/s of every variant this CPU runs (the portable
 * one only on a small slice: it is the fallback for CPUs without FMA) and the ratio to sgemm. Each
 * figure is the best of a few timed runs (the machine may be shared: read the best, not the mean); the
 * largest difference to sgemm is printed as a sanity check (float rounding, not a test).
 * LSC_BENCH_WX32_L=N sets l (1..128). Usage: bench-wx32 [ignored]. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"
#include "wx32.h"
#include "bench/bench_util.h"

void openblas_set_num_threads(int);

typedef struct shape {
    int rows, cols, l;
    const float *W, *X, *Y; /* W [rows, cols], X [cols, l], Y [rows, l] */
    float *out;             /* [max(rows, cols), l] */
} shape;

/* Best seconds of a few runs of one product: kind 0 W X, 1 W^T Y; how 0 sgemm, 1 wx32. */
static double best_time(const shape *s, int kind, int how)
{
    double best = 1e30, total = 0;
    for (int rep = 0; rep < 20 && (rep < 3 || total < 1.0); rep++) {
        double t0 = bench_now();
        if (how == 0 && kind == 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->rows, s->l, s->cols, 1.0f, s->W, s->cols, s->X,
                        s->l, 0.0f, s->out, s->l);
        else if (how == 0)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->cols, s->l, s->rows, 1.0f, s->W, s->cols, s->Y,
                        s->l, 0.0f, s->out, s->l);
        else if (kind == 0)
            lsc_wx32_wx(s->W, s->rows, s->cols, s->X, s->l, s->l, s->out, s->l);
        else
            lsc_wx32_wtx(s->W, s->rows, s->cols, s->Y, s->l, s->l, s->out, s->l);
        double dt = bench_now() - t0;
        total += dt;
        best = dt < best ? dt : best;
    }
    return best;
}

/* Largest |wx32 - sgemm| relative to the largest |sgemm| entry. */
static double rel_diff(const shape *s, int kind, float *ref)
{
    int n = (kind ? s->cols : s->rows) * s->l;
    if (kind == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->rows, s->l, s->cols, 1.0f, s->W, s->cols, s->X, s->l,
                    0.0f, ref, s->l);
        lsc_wx32_wx(s->W, s->rows, s->cols, s->X, s->l, s->l, s->out, s->l);
    } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->cols, s->l, s->rows, 1.0f, s->W, s->cols, s->Y, s->l,
                    0.0f, ref, s->l);
        lsc_wx32_wtx(s->W, s->rows, s->cols, s->Y, s->l, s->l, s->out, s->l);
    }
    double d = 0, m = 0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)s->out[i] - ref[i]));
        m = fmax(m, fabs((double)ref[i]));
    }
    return m > 0 ? d / m : d;
}

static float *gauss(lsc_rng *g, size_t n)
{
    float *p = malloc(sizeof(float) * n);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (float)lsc_rng_gauss(g);
    return p;
}

static void run_shape(int rows, int cols, int l)
{
    lsc_rng g = {7};
    shape s = {rows, cols, l, NULL, NULL, NULL, NULL};
    float *W = gauss(&g, (size_t)rows * cols), *X = gauss(&g, (size_t)cols * l), *Y = gauss(&g, (size_t)rows * l);
    size_t big = (size_t)(rows > cols ? rows : cols) * l;
    float *out = malloc(sizeof(float) * big), *ref = malloc(sizeof(float) * big);
    if (!W || !X || !Y || !out || !ref) {
        fprintf(stderr, "bench-wx32: out of memory\n");
        exit(1);
    }
    s.W = W, s.X = X, s.Y = Y, s.out = out;
    double gf = 2.0 * rows * cols * l * 1e-9;
    for (int kind = 0; kind < 2; kind++) {
        double tb = best_time(&s, kind, 0);
        printf("W %5d x %5d, l = %2d, %s:  sgemm %6.1f GFLOP/s\n", rows, cols, l, kind ? "Z = W^T Y" : "Y = W X  ",
               gf / tb);
        for (int v = LSC_SIMD_AVX512; v >= LSC_SIMD_PORTABLE; v--) {
            if (lsc_wx32_force((lsc_simd)v)) {
                printf("    %-8s  not supported by this CPU\n", lsc_simd_name((lsc_simd)v));
                continue;
            }
            shape sv = s;
            if (v == LSC_SIMD_PORTABLE) /* a slice: 64 rows of W for W X, 64 rows of W and Y for W^T Y */
                sv.rows = 64;
            double t = best_time(&sv, kind, 1), gv = 2.0 * sv.rows * sv.cols * l * 1e-9 / t;
            printf("    %-8s %6.1f GFLOP/s  ratio %5.2fx sgemm   max |diff| / max |sgemm| %.1e%s\n",
                   lsc_simd_name((lsc_simd)v), gv, gv / (gf / tb), rel_diff(&sv, kind, ref),
                   v == LSC_SIMD_PORTABLE ? "  (64-row slice)" : "");
        }
        lsc_wx32_force(LSC_SIMD_AUTO);
    }
    free(W), free(X), free(Y), free(out), free(ref);
}

int main(void)
{
    openblas_set_num_threads(1);
    const char *e = getenv("LSC_BENCH_WX32_L");
    int l = e ? atoi(e) : 30;
    if (l < 1 || l > 128)
        l = 30;
    printf("wx32: float32 W X and W^T Y against cblas_sgemm, 1 thread; auto variant here: %s\n",
           lsc_simd_name(lsc_wx32_active()));
    run_shape(8192, 2048, l);
    run_shape(2048, 8192, l);
    return 0;
}
