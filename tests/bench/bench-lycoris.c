/* bench-lycoris.c: LoHa and LoKr spectra from the factors against the dense path (form dW, dgesdd
 * values only) measured in the same run, on SDXL-sized layers.
 *
 * Shapes 1280 x 1280, 1280 x 5120 and 5120 x 1280. LoHa r = 8 + 8 (hada_w1_a [out, 8] ...); LoKr with
 * factor 8: W1 [8, 8] full, W2 [out/8, in/8] either full or a rank-8 pair (lokr_w2_a/b). Random factors,
 * fixed seed, one BLAS thread. The factored time is the mean of warm repeated calls; the dense time is
 * one product plus one SVD. Both spectra must agree to 1e-9 of the largest value, or the benchmark fails.
 * Times are process CPU time: with one BLAS thread that is the work done, and it stays meaningful on a
 * machine shared with other jobs, where wall time of the two sides inflates unevenly. Timings are
 * printed, never asserted; the ratios are the result.
 *
 * Then the same layers as an adapter's stored F16 tensors through lsc_lycoris_layer_stats, the path import
 * and `show` take (dtype conversion, the Khatri-Rao view, QR), against the same dense time.
 *
 * What bounds the ratios (flop counts): the dense values-only SVD of n x n costs ~(8/3) n^3. LoHa's
 * factored spectrum is two thin QRs of [n, r1 r2] (~4 n (r1 r2)^2) plus a tiny core, so at r1 r2 = 64 and
 * n = 1280 the flop ratio is ~270; a full LoKr W2 [n/8, n/8] needs its own SVD, so that ratio is at most
 * 8^3 = 512; a low-rank W2 costs almost nothing.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dtype.h"
#include "lycoris.h"
#include "lycoris_layer.h"
#include "stats.h"

void openblas_set_num_threads(int);

static uint64_t rng_state = 0x1C0815;

static double gauss(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double u = ((double)(z >> 11) + 0.5) * 0x1.0p-53;
    z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double v = ((double)(z >> 11) + 0.5) * 0x1.0p-53;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static double *gauss_alloc(size_t n, double sigma)
{
    double *x = malloc(sizeof(double) * (n ? n : 1));
    if (!x) {
        fprintf(stderr, "bench-lycoris: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        x[i] = sigma * gauss();
    return x;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* values-only SVD of a dense row-major [rows, cols] (destroyed) into sv [min] */
static void dense_values(double *D, int rows, int cols, double *sv)
{
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', cols, rows, D, cols, sv, NULL, 1, NULL, 1);
    if (info != 0) {
        fprintf(stderr, "bench-lycoris: dense svd failed (info %d)\n", (int)info);
        exit(1);
    }
}

/* largest |f_i - d_i| over the larger count, relative to d_0 */
static double sv_gap(const double *f, int64_t nf, const double *d, int64_t nd)
{
    double worst = 0.0;
    for (int64_t i = 0; i < (nf > nd ? nf : nd); i++) {
        const double a = i < nf ? f[i] : 0.0, b = i < nd ? d[i] : 0.0;
        if (fabs(a - b) > worst)
            worst = fabs(a - b);
    }
    return worst / d[0];
}

static void report(const char *what, int rows, int cols, double t_form, double t_svd, double t_fact, double gap)
{
    printf("%-22s %4d x %-4d  dense: form %7.3f s + svd %7.3f s = %7.3f s   factored %8.3f ms   ratio %7.0fx   "
           "max sv gap %.1e\n",
           what, rows, cols, t_form, t_svd, t_form + t_svd, 1e3 * t_fact, (t_form + t_svd) / t_fact, gap);
    if (!(gap <= 1e-9)) {
        fprintf(stderr, "bench-lycoris: %s %dx%d: factored and dense spectra differ by %.3g of the largest\n", what,
                rows, cols, gap);
        exit(1);
    }
}

/* mean time of warm calls of fn(arg) over at least 0.3 s */
typedef int (*spectrum_fn)(const void *layer, lsc_workspace *ws, double *sv);

static double time_factored(spectrum_fn fn, const void *layer, lsc_workspace *ws, double *sv)
{
    if (fn(layer, ws, sv) != 0) /* warm-up: grows the workspace */
        exit(1);
    int reps = 0;
    double t0 = now(), t = 0.0;
    do {
        if (fn(layer, ws, sv) != 0)
            exit(1);
        reps++;
        t = now() - t0;
    } while (t < 0.3);
    return t / reps;
}

static int loha_fn(const void *layer, lsc_workspace *ws, double *sv)
{
    lsc_error err = {0};
    if (lsc_lycoris_loha_spectrum(layer, ws, sv, &err) != LSC_OK) {
        fprintf(stderr, "bench-lycoris: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int lokr_fn(const void *layer, lsc_workspace *ws, double *sv)
{
    lsc_error err = {0};
    if (lsc_lycoris_lokr_spectrum(layer, ws, sv, &err) != LSC_OK) {
        fprintf(stderr, "bench-lycoris: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static double bench_loha(int rows, int cols, lsc_workspace *ws)
{
    const int r = 8;
    double *w1a = gauss_alloc((size_t)rows * r, 0.1), *w1b = gauss_alloc((size_t)r * cols, 1.0);
    double *w2a = gauss_alloc((size_t)rows * r, 0.1), *w2b = gauss_alloc((size_t)r * cols, 1.0);
    lsc_loha h = {.rows = rows, .cols = cols, .r1 = r, .r2 = r, .w1a = w1a, .w1b = w1b, .w2a = w2a, .w2b = w2b,
                  .scale = lsc_lycoris_scale(4.0, r, r)};
    const int n = lsc_lycoris_loha_count(&h), nd = rows < cols ? rows : cols;
    double *sv = malloc(sizeof(double) * (size_t)n), *dsv = malloc(sizeof(double) * (size_t)nd);
    double *D = malloc(sizeof(double) * (size_t)rows * cols), *D2 = malloc(sizeof(double) * (size_t)rows * cols);
    if (!sv || !dsv || !D || !D2) {
        fprintf(stderr, "bench-lycoris: out of memory\n");
        exit(1);
    }
    const double tf = time_factored(loha_fn, &h, ws, sv);

    double t0 = now();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, r, h.scale, w1a, r, w1b, cols, 0.0, D, cols);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, r, 1.0, w2a, r, w2b, cols, 0.0, D2, cols);
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        D[i] *= D2[i];
    double t1 = now();
    dense_values(D, rows, cols, dsv);
    double t2 = now();
    report("loha r=8+8", rows, cols, t1 - t0, t2 - t1, tf, sv_gap(sv, n, dsv, nd));
    free(w1a), free(w1b), free(w2a), free(w2b), free(sv), free(dsv), free(D), free(D2);
    return t2 - t0;
}

static double bench_lokr(int rows, int cols, int w2_rank, lsc_workspace *ws)
{
    const int a = 8, b = 8, c = rows / a, d = cols / b;
    double *w1 = gauss_alloc((size_t)a * b, 1.0), *w2 = NULL, *w2a = NULL, *w2b = NULL;
    lsc_lokr k = {.w1 = {.rows = a, .cols = b, .w = w1}, .w2 = {.rows = c, .cols = d}};
    if (w2_rank > 0) {
        w2a = gauss_alloc((size_t)c * w2_rank, 1.0);
        w2b = gauss_alloc((size_t)w2_rank * d, 0.1);
        k.w2.r = w2_rank, k.w2.wa = w2a, k.w2.wb = w2b;
    } else {
        w2 = gauss_alloc((size_t)c * d, 0.1);
        k.w2.w = w2;
    }
    k.scale = lsc_lycoris_scale(4.0, 0, w2_rank);
    const int64_t n = lsc_lycoris_lokr_count(&k);
    const int nd = rows < cols ? rows : cols;
    double *sv = malloc(sizeof(double) * (size_t)n), *dsv = malloc(sizeof(double) * (size_t)nd);
    double *D = malloc(sizeof(double) * (size_t)rows * cols), *W2 = malloc(sizeof(double) * (size_t)c * d);
    if (!sv || !dsv || !D || !W2) {
        fprintf(stderr, "bench-lycoris: out of memory\n");
        exit(1);
    }
    const double tf = time_factored(lokr_fn, &k, ws, sv);

    double t0 = now();
    if (w2_rank > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, d, w2_rank, 1.0, w2a, w2_rank, w2b, d, 0.0, W2, d);
    else
        memcpy(W2, w2, sizeof(double) * (size_t)c * d);
    for (int i = 0; i < a; i++) /* torch.kron: D[i c + p, j d + l] = W1[i, j] W2[p, l] */
        for (int p = 0; p < c; p++)
            for (int j = 0; j < b; j++) {
                const double x = k.scale * w1[i * b + j];
                double *row = D + ((size_t)i * c + p) * cols + (size_t)j * d;
                for (int l = 0; l < d; l++)
                    row[l] = x * W2[(size_t)p * d + l];
            }
    double t1 = now();
    dense_values(D, rows, cols, dsv);
    double t2 = now();
    report(w2_rank > 0 ? "lokr 8x8 (x) w2 r=8" : "lokr 8x8 (x) w2 full", rows, cols, t1 - t0, t2 - t1, tf,
           sv_gap(sv, n, dsv, nd));
    free(w1), free(w2), free(w2a), free(w2b), free(sv), free(dsv), free(D), free(W2);
    return t2 - t0;
}

/* ---- the whole layer path of `show` (engine/lycoris_layer: F16 tensors of an adapter -> statistics) ---- */

static void add_f16(lsc_adapter *ad, const char *key, int64_t r0, int64_t r1, double sigma)
{
    int64_t shape[2] = {r0, r1};
    double *v = gauss_alloc((size_t)(r0 * r1), sigma);
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)(r0 * r1));
    size_t over = 0, ti;
    lsc_error err = {0};
    if (!h || lsc_dtype_from_double(LSC_DT_F16, v, (size_t)(r0 * r1), h, &over) != LSC_OK ||
        lsc_adapter_add_tensor(ad, key, LSC_ROLE_FACTOR, 0, LSC_DT_F16, 2, shape, h, &ti, &err) != LSC_OK) {
        fprintf(stderr, "bench-lycoris: cannot build tensor %s\n", key);
        exit(1);
    }
    free(v);
}

/* One LoHa (r 8 + 8) or LoKr (8x8 (x) rank-8 W2) layer as stored F16 tensors of an adapter: the time of
 * lsc_lycoris_layer_stats (what import and show run) against the dense time measured above. */
static void bench_layer_path(int rows, int cols, int lokr, double dense, lsc_workspace *ws)
{
    lsc_adapter *ad = lsc_adapter_new();
    size_t li;
    lsc_error err = {0};
    if (!ad || lsc_adapter_add_layer(ad, "lora_unet_x", &li, &err) != LSC_OK)
        exit(1);
    if (lokr) {
        add_f16(ad, "lora_unet_x.lokr_w1", 8, 8, 1.0);
        add_f16(ad, "lora_unet_x.lokr_w2_a", rows / 8, 8, 1.0);
        add_f16(ad, "lora_unet_x.lokr_w2_b", 8, cols / 8, 0.1);
    } else {
        add_f16(ad, "lora_unet_x.hada_w1_a", rows, 8, 0.1);
        add_f16(ad, "lora_unet_x.hada_w1_b", 8, cols, 1.0);
        add_f16(ad, "lora_unet_x.hada_w2_a", rows, 8, 0.1);
        add_f16(ad, "lora_unet_x.hada_w2_b", 8, cols, 1.0);
    }
    lsc_layer *l = &ad->layers[li];
    l->flags = lokr ? LSC_LAYER_LOKR : LSC_LAYER_LOHA;
    lsc_lyc_layer d;
    if (lsc_lycoris_layer_describe(ad, li, &d, &err) != LSC_OK) {
        fprintf(stderr, "bench-lycoris: %s\n", err.msg);
        exit(1);
    }
    l->rows = d.rows, l->cols = d.cols, l->rank = (int)d.rank, l->rule = LSC_SCALE_FIXED;
    l->scale = lsc_lycoris_layer_scale(&d, 4.0);
    lsc_layer_stats st;
    memset(&st, 0, sizeof st);
    if (lsc_lycoris_layer_stats(ad, li, ws, &st, &err) != LSC_OK) { /* warm-up */
        fprintf(stderr, "bench-lycoris: %s\n", err.msg);
        exit(1);
    }
    lsc_stats_release(&st);
    int reps = 0;
    double t0 = now(), t = 0.0;
    do {
        if (lsc_lycoris_layer_stats(ad, li, ws, &st, &err) != LSC_OK)
            exit(1);
        lsc_stats_release(&st);
        reps++;
        t = now() - t0;
    } while (t < 0.3);
    t /= reps;
    printf("%-22s %4d x %-4d  layer statistics from F16 tensors %8.3f ms   ratio to dense %7.0fx\n",
           lokr ? "show: lokr 8x8 (x) r=8" : "show: loha r=8+8", rows, cols, 1e3 * t, dense / t);
    lsc_adapter_free(ad);
}

int main(void)
{
    openblas_set_num_threads(1);
    static const int shapes[][2] = {{1280, 1280}, {1280, 5120}, {5120, 1280}};
    lsc_workspace *ws = lsc_workspace_new();
    if (!ws) {
        fprintf(stderr, "bench-lycoris: out of memory\n");
        return 1;
    }
    double dense_loha[3], dense_lokr[3];
    for (int s = 0; s < 3; s++)
        dense_loha[s] = bench_loha(shapes[s][0], shapes[s][1], ws);
    for (int s = 0; s < 3; s++) {
        bench_lokr(shapes[s][0], shapes[s][1], 0, ws);
        dense_lokr[s] = bench_lokr(shapes[s][0], shapes[s][1], 8, ws);
    }
    for (int s = 0; s < 2; s++) { /* 1280 x 1280 and 1280 x 5120: the path import and show take */
        bench_layer_path(shapes[s][0], shapes[s][1], 0, dense_loha[s], ws);
        bench_layer_path(shapes[s][0], shapes[s][1], 1, dense_lokr[s], ws);
    }
    lsc_workspace_free(ws);
    return 0;
}
