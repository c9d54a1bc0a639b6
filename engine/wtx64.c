/* wtx64.c: Z = W^T X, float W, float64 X and Z (see wtx64.h for the element order every variant keeps).
 *
 * Blocking (one driver for every variant): rows in super-blocks of IS (X's rows for them stay in L2),
 * W's columns in super-panels of JS (Z's rows for them stay in L2), rows in blocks of IB. A block
 * W[IB, JS] is widened once, row by row (sequential reads, and the next block's rows prefetched: in a
 * large W they are far apart), into P, panels of JB columns of doubles; then, for each panel, each chunk
 * of X's columns (the variant's width) and each JT columns of the panel, a register tile of Z [JT,
 * chunk] is loaded (or zeroed), takes the block's IB rows as broadcast(W[i, j]) * X[i, chunk] fused
 * multiply-adds in row order, and is stored. A Z element therefore sees its rows in index order
 * whatever the blocking, and the vector lanes are X's columns only: every variant gives the same bits.
 * Never depends on anything but libm. */
#include "wtx64.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define WTX_X86 1
#include <immintrin.h>
#endif

enum {
    IS = 512, /* rows per super-block */
    IB = 32,  /* rows per widened block */
    JS = 384, /* W columns per super-panel (Z's rows for them stay in L2) */
    JB = 48,  /* W columns per panel (P's leading dimension; 48 doubles = 6 cache lines) */
    JT = 6    /* Z rows (W columns) per register tile */
};

/* P = (double)W[0 .. ib, 0 .. jw] (W's leading dimension cols), row by row (sequential reads), as panels
 * of JB columns: column j of row i at P[(j / JB) * IB * JB + i * JB + j % JB]. */
typedef void (*pack_fn)(const float *W, int64_t cols, int ib, int jw, double *P);
/* Z [jt, cw] (ldz) = (zero ? 0 : Z) + P[:, 0 .. jt]^T X [ib, cw] (ldx), element order as in wtx64.h. */
typedef void (*tile_fn)(const double *P, int ib, const double *X, int64_t ldx, int cw, double *Z, int64_t ldz,
                        int jt, int zero);

typedef struct kern {
    pack_fn pack;
    tile_fn tile;
    int cw; /* X columns per chunk */
} kern;

/* ---- portable: C99 fma(), one element at a time ---- */

static void pack_c(const float *W, int64_t cols, int ib, int jw, double *P)
{
    for (int i = 0; i < ib; i++)
        for (int j = 0; j < jw; j++)
            P[j / JB * (IB * JB) + i * JB + j % JB] = W[i * cols + j];
}

/* The tile's jt x cw (<= JT x 8) sums side by side, rows outermost: independent chains, not one
 * latency-bound chain at a time (this is the path of CPUs without the vector variants). */
static void tile_c(const double *P, int ib, const double *X, int64_t ldx, int cw, double *Z, int64_t ldz, int jt,
                   int zero)
{
    double acc[JT][8];
    for (int j = 0; j < jt; j++)
        for (int k = 0; k < cw; k++)
            acc[j][k] = zero ? 0.0 : Z[j * ldz + k];
    if (cw == 8) /* a full chunk: a constant trip count, which -O2 vectorises where vectors have FMA */
        for (int i = 0; i < ib; i++)
            for (int j = 0; j < jt; j++)
                for (int k = 0; k < 8; k++)
                    acc[j][k] = fma(P[i * JB + j], X[i * ldx + k], acc[j][k]);
    else
        for (int i = 0; i < ib; i++)
            for (int j = 0; j < jt; j++)
                for (int k = 0; k < cw; k++)
                    acc[j][k] = fma(P[i * JB + j], X[i * ldx + k], acc[j][k]);
    for (int j = 0; j < jt; j++)
        for (int k = 0; k < cw; k++)
            Z[j * ldz + k] = acc[j][k];
}

#ifdef WTX_X86

/* ---- AVX-512F: chunks of up to 4 vectors (32 columns), the last one masked; 24 accumulators ---- */

#define T512 __attribute__((target("avx512f")))
#define INL static inline __attribute__((always_inline))

T512 static void pack_512(const float *W, int64_t cols, int ib, int jw, double *P)
{
    for (int i = 0; i < ib; i++) {
        int j = 0; /* JB is a multiple of 8: a vector never straddles two panels */
        for (; j + 8 <= jw; j += 8)
            _mm512_storeu_pd(P + j / JB * (IB * JB) + i * JB + j % JB, _mm512_cvtps_pd(_mm256_loadu_ps(W + i * cols + j)));
        for (; j < jw; j++)
            P[j / JB * (IB * JB) + i * JB + j % JB] = W[i * cols + j];
    }
}

/* NV vectors of X's columns (the last under mask `last`), NJ columns of P: constants after inlining, so
 * the loops unroll and acc lives in registers. */
INL T512 void tile_512_t(const double *P, int ib, const double *X, int64_t ldx, __mmask8 last, double *Z,
                         int64_t ldz, int zero, const int NV, const int NJ)
{
    __m512d acc[4][JT];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
#pragma GCC unroll 6
        for (int j = 0; j < NJ; j++)
            acc[v][j] = zero ? _mm512_setzero_pd() : _mm512_maskz_loadu_pd(v == NV - 1 ? last : 0xFF, Z + j * ldz + 8 * v);
    for (int i = 0; i < ib; i++) {
        __m512d x[4];
        const double *xr = X + i * ldx, *pr = P + i * JB;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            x[v] = v == NV - 1 ? _mm512_maskz_loadu_pd(last, xr + 8 * v) : _mm512_loadu_pd(xr + 8 * v);
#pragma GCC unroll 6
        for (int j = 0; j < NJ; j++) {
            __m512d w = _mm512_set1_pd(pr[j]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[v][j] = _mm512_fmadd_pd(w, x[v], acc[v][j]);
        }
    }
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
#pragma GCC unroll 6
        for (int j = 0; j < NJ; j++)
            _mm512_mask_storeu_pd(Z + j * ldz + 8 * v, v == NV - 1 ? last : 0xFF, acc[v][j]);
}

#define C512(nv, nj)                                                                                                   \
    case (nv) * 8 + (nj):                                                                                              \
        tile_512_t(P, ib, X, ldx, last, Z, ldz, zero, nv, nj);                                                         \
        break;
#define C512_ROW(nv) C512(nv, 1) C512(nv, 2) C512(nv, 3) C512(nv, 4) C512(nv, 5) C512(nv, 6)

T512 static void tile_512(const double *P, int ib, const double *X, int64_t ldx, int cw, double *Z, int64_t ldz,
                          int jt, int zero)
{
    int nv = (cw + 7) / 8;
    __mmask8 last = (__mmask8)(0xFFu >> (8 * nv - cw));
    switch (nv * 8 + jt) {
        C512_ROW(1)
        C512_ROW(2)
        C512_ROW(3)
        C512_ROW(4)
    default:
        break;
    }
}

/* ---- AVX2 + FMA: chunks of up to 2 vectors (8 columns), a partial one under a lane mask; 12
 * accumulators (16 registers) ---- */

#define T256 __attribute__((target("avx2,fma")))

T256 static void pack_256(const float *W, int64_t cols, int ib, int jw, double *P)
{
    for (int i = 0; i < ib; i++) {
        int j = 0;
        for (; j + 4 <= jw; j += 4)
            _mm256_storeu_pd(P + j / JB * (IB * JB) + i * JB + j % JB, _mm256_cvtps_pd(_mm_loadu_ps(W + i * cols + j)));
        for (; j < jw; j++)
            P[j / JB * (IB * JB) + i * JB + j % JB] = W[i * cols + j];
    }
}

/* NF full vectors and NT (0 or 1) partial ones under lane mask tm; NJ columns of P. */
INL T256 void tile_256_t(const double *P, int ib, const double *X, int64_t ldx, __m256i tm, double *Z, int64_t ldz,
                         int zero, const int NF, const int NT, const int NJ)
{
    __m256d acc[2][JT];
#pragma GCC unroll 2
    for (int v = 0; v < NF + NT; v++)
#pragma GCC unroll 6
        for (int j = 0; j < NJ; j++)
            acc[v][j] = zero      ? _mm256_setzero_pd()
                        : v < NF ? _mm256_loadu_pd(Z + j * ldz + 4 * v)
                                 : _mm256_maskload_pd(Z + j * ldz + 4 * v, tm);
    for (int i = 0; i < ib; i++) {
        __m256d x[2];
        const double *xr = X + i * ldx, *pr = P + i * JB;
#pragma GCC unroll 2
        for (int v = 0; v < NF + NT; v++)
            x[v] = v < NF ? _mm256_loadu_pd(xr + 4 * v) : _mm256_maskload_pd(xr + 4 * v, tm);
#pragma GCC unroll 6
        for (int j = 0; j < NJ; j++) {
            __m256d w = _mm256_broadcast_sd(pr + j);
#pragma GCC unroll 2
            for (int v = 0; v < NF + NT; v++)
                acc[v][j] = _mm256_fmadd_pd(w, x[v], acc[v][j]);
        }
    }
#pragma GCC unroll 2
    for (int v = 0; v < NF + NT; v++)
#pragma GCC unroll 6
        for (int j = 0; j < NJ; j++) {
            if (v < NF)
                _mm256_storeu_pd(Z + j * ldz + 4 * v, acc[v][j]);
            else
                _mm256_maskstore_pd(Z + j * ldz + 4 * v, tm, acc[v][j]);
        }
}

#define C256(nf, nt, nj)                                                                                               \
    case ((nf) * 2 + (nt)) * 8 + (nj):                                                                                 \
        tile_256_t(P, ib, X, ldx, tm, Z, ldz, zero, nf, nt, nj);                                                       \
        break;
#define C256_ROW(nf, nt) C256(nf, nt, 1) C256(nf, nt, 2) C256(nf, nt, 3) C256(nf, nt, 4) C256(nf, nt, 5) C256(nf, nt, 6)

T256 static void tile_256(const double *P, int ib, const double *X, int64_t ldx, int cw, double *Z, int64_t ldz,
                          int jt, int zero)
{
    int nf = cw / 4, nt = cw % 4 != 0;
    __m256i tm = _mm256_cmpgt_epi64(_mm256_set1_epi64x(cw % 4), _mm256_setr_epi64x(0, 1, 2, 3));
    switch ((nf * 2 + nt) * 8 + jt) {
        C256_ROW(0, 1)
        C256_ROW(1, 0)
        C256_ROW(1, 1)
        C256_ROW(2, 0)
    default:
        break;
    }
}

#endif /* WTX_X86 */

static const kern kern_c = {pack_c, tile_c, 8}; /* cw <= 8: tile_c's acc */
#ifdef WTX_X86
static const kern kern_256 = {pack_256, tile_256, 8};
static const kern kern_512 = {pack_512, tile_512, 32};
#endif

static const kern *kern_of(lsc_simd v)
{
#ifdef WTX_X86
    if (v == LSC_SIMD_AVX512)
        return &kern_512;
    if (v == LSC_SIMD_AVX2)
        return &kern_256;
#endif
    (void)v;
    return &kern_c;
}

/* The blocking of the head comment. P: the widened block [IB, JS] as panels, on the stack (96 KB). */
static void drive(const kern *k, const float *W, int64_t nb, int64_t cols, const double *X, int64_t ldx, int c,
                  double *Z, int64_t ldz, int accumulate)
{
    _Alignas(64) double P[IB * JS];
    for (int64_t is = 0; is < nb; is += IS) {
        int64_t ie = nb - is < IS ? nb : is + IS;
        for (int64_t js = 0; js < cols; js += JS) {
            int jw = cols - js < JS ? (int)(cols - js) : JS;
            for (int64_t i0 = is; i0 < ie; i0 += IB) {
                int ib = ie - i0 < IB ? (int)(ie - i0) : IB, zero = !accumulate && i0 == 0;
                int nx = ie - i0 - IB < IB ? (int)(ie - i0 - IB) : IB; /* rows of the next block */
                k->pack(W + i0 * cols + js, cols, ib, jw, P);
                for (int j0 = 0; j0 < jw; j0 += JB) {
                    int jb = jw - j0 < JB ? jw - j0 : JB;
                    /* the next block's rows, a panel's width at a time while this block computes */
                    for (int i = 0; i < nx; i++)
                        for (int j = 0; j < jb; j += 16)
                            __builtin_prefetch(W + (i0 + IB + i) * cols + js + j0 + j);
                    const double *Pp = P + j0 / JB * (IB * JB);
                    for (int c0 = 0; c0 < c; c0 += k->cw) {
                        int cw = c - c0 < k->cw ? c - c0 : k->cw;
                        for (int j = 0; j < jb; j += JT)
                            k->tile(Pp + j, ib, X + i0 * ldx + c0, ldx, cw, Z + (js + j0 + j) * ldz + c0, ldz,
                                    jb - j < JT ? jb - j : JT, zero);
                    }
                }
            }
        }
    }
}

static atomic_int active_variant; /* simd.h's slot: 0 until chosen */

lsc_simd lsc_wtx64_active(void)
{
    return lsc_simd_slot_get(&active_variant);
}

int lsc_wtx64_force(lsc_simd v)
{
    return lsc_simd_slot_force(&active_variant, v);
}

void lsc_wtx64(const float *W, int64_t nb, int64_t cols, const double *X, int64_t ldx, int c, double *Z,
               int64_t ldz, int accumulate)
{
    if (c <= 0 || cols <= 0)
        return;
    if (nb <= 0) {
        if (!accumulate)
            for (int64_t j = 0; j < cols; j++)
                memset(Z + j * ldz, 0, sizeof(double) * (size_t)c);
        return;
    }
    drive(kern_of(lsc_wtx64_active()), W, nb, cols, X, ldx, c, Z, ldz, accumulate);
}
