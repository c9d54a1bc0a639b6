/* wx32.c: Y = W X and Z = W^T Y in float32 for few columns (see wx32.h for the order every output element
 * is computed in, which all variants share bit for bit).
 *
 * Both products are one operation on a tile: T output rows times up to two vectors of columns, each
 * accumulator a chain over k of  acc += b[t*ts + k*ks] * v[k*ldv + c]  (b broadcast, v a row streamed):
 *   W X    output row i, k = j:  b = W[i][j]   (ts = cols, ks = 1),    v = X[j][.]
 *   W^T Y  output row j, k = i:  b = W[i][j]   (ts = 1,    ks = cols), v = Y[i][.]
 * The T x V accumulators stay in registers for a block of k (T*V independent chains hide the FMA latency),
 * and are stored and reloaded between blocks, which continues each chain unchanged. Column tails are
 * masked loads and stores (no padding copies, nothing read past an array's end). W X keeps X (cols x l,
 * in L2) streamed under a tile of W rows and blocks k only when l needs more than one column group (so
 * the W tile is reused from L1); W^T Y blocks k (rows of W and Y) so that the Y block stays in L1 while
 * every tile of Z rows passes over it.
 * Variants: AVX-512F (12 rows x 2 x 16 columns), AVX2+FMA (6 rows x 2 x 8), portable C99 fmaf (4 rows x
 * 32 columns, only on CPUs without FMA and in the tests). No I/O, no allocation; depends on libm only.
 */
#include "wx32.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define WX_X86 1
#include <immintrin.h>
#endif

/* One tile (see the head comment): T output rows o [T, ldo] x ncol columns, nk steps of k. unit: ts is 1
 * (a compile-time stride for the kernels). first: the chains start from +0, else from o. */
typedef void (*tile_fn)(int T, int ncol, int unit, const float *b, int64_t ts, int64_t ks, const float *v,
                        int64_t ldv, int64_t nk, float *o, int64_t ldo, int first);

typedef struct kern {
    tile_fn tile;
    int tm; /* output rows per tile */
    int gw; /* columns per group (one tile call) */
    int kb; /* W^T Y: rows of W and Y per block (see lsc_wx32_wtx) */
} kern;

enum {
    WX_KB = 256,  /* W X: k block when l needs several column groups (the W tile of tm x 256 stays in L1) */
};

/* ---- portable ---- */

enum { P_TM = 4, P_GW = 32 };

static void tile_portable(int T, int ncol, int unit, const float *b, int64_t ts, int64_t ks, const float *v,
                          int64_t ldv, int64_t nk, float *o, int64_t ldo, int first)
{
    (void)unit;
    float acc[P_TM][P_GW];
    for (int t = 0; t < T; t++)
        for (int c = 0; c < ncol; c++)
            acc[t][c] = first ? 0.0f : o[t * ldo + c];
    if (ncol == P_GW) /* a full group: a constant trip count, which -O2 vectorises where vectors have FMA */
        for (int64_t k = 0; k < nk; k++, b += ks, v += ldv)
            for (int t = 0; t < T; t++) {
                const float w = b[t * ts];
                for (int c = 0; c < P_GW; c++)
                    acc[t][c] = fmaf(w, v[c], acc[t][c]);
            }
    else
        for (int64_t k = 0; k < nk; k++, b += ks, v += ldv)
            for (int t = 0; t < T; t++) {
                const float w = b[t * ts];
                for (int c = 0; c < ncol; c++)
                    acc[t][c] = fmaf(w, v[c], acc[t][c]);
            }
    for (int t = 0; t < T; t++)
        memcpy(o + t * ldo, acc[t], sizeof(float) * (size_t)ncol);
}

static const kern k_portable = {tile_portable, P_TM, P_GW, 64};

#ifdef WX_X86

/* ---- AVX-512F ---- */

#define T512 __attribute__((target("avx512f,fma")))
#define INL static inline __attribute__((always_inline))
enum { A5_TM = 12 };

/* The tile for constant T, V (vectors of 16 columns) and unit: every loop below unrolls fully and the
 * accumulators live in registers. m masks the last vector's columns. */
INL T512 void mk512(const int T, const int V, const int unit, const float *b, int64_t ts, int64_t ks,
                    const float *v, int64_t ldv, int64_t nk, float *o, int64_t ldo, __mmask16 m, int first)
{
    __m512 acc[A5_TM][2];
    const int64_t s = unit ? 1 : ts;
#pragma GCC unroll 12
    for (int t = 0; t < T; t++)
#pragma GCC unroll 2
        for (int u = 0; u < V; u++)
            acc[t][u] = first ? _mm512_setzero_ps()
                              : _mm512_maskz_loadu_ps(u == V - 1 ? m : (__mmask16)0xFFFF, o + t * ldo + 16 * u);
    for (int64_t k = 0; k < nk; k++, b += ks, v += ldv) {
        __m512 x[2];
#pragma GCC unroll 2
        for (int u = 0; u < V; u++)
            x[u] = _mm512_maskz_loadu_ps(u == V - 1 ? m : (__mmask16)0xFFFF, v + 16 * u);
#pragma GCC unroll 12
        for (int t = 0; t < T; t++) {
            const __m512 w = _mm512_set1_ps(b[t * s]);
#pragma GCC unroll 2
            for (int u = 0; u < V; u++)
                acc[t][u] = _mm512_fmadd_ps(w, x[u], acc[t][u]);
        }
    }
#pragma GCC unroll 12
    for (int t = 0; t < T; t++)
#pragma GCC unroll 2
        for (int u = 0; u < V; u++)
            _mm512_mask_storeu_ps(o + t * ldo + 16 * u, u == V - 1 ? m : (__mmask16)0xFFFF, acc[t][u]);
}

#define A5_ARGS b, ts, ks, v, ldv, nk, o, ldo, m, first
#define A5_CASE(TT)                                                                                                    \
    case TT:                                                                                                           \
        if (V == 1)                                                                                                    \
            unit ? mk512(TT, 1, 1, A5_ARGS) : mk512(TT, 1, 0, A5_ARGS);                                                \
        else                                                                                                           \
            unit ? mk512(TT, 2, 1, A5_ARGS) : mk512(TT, 2, 0, A5_ARGS);                                                \
        break;

T512 static void tile_avx512(int T, int ncol, int unit, const float *b, int64_t ts, int64_t ks, const float *v,
                             int64_t ldv, int64_t nk, float *o, int64_t ldo, int first)
{
    const int V = ncol > 16 ? 2 : 1, last = ncol - 16 * (V - 1);
    const __mmask16 m = (__mmask16)(last >= 16 ? 0xFFFFu : (1u << last) - 1u);
    switch (T) {
        A5_CASE(1) A5_CASE(2) A5_CASE(3) A5_CASE(4) A5_CASE(5) A5_CASE(6)
        A5_CASE(7) A5_CASE(8) A5_CASE(9) A5_CASE(10) A5_CASE(11) A5_CASE(12)
    default:
        break;
    }
}

static const kern k_avx512 = {tile_avx512, A5_TM, 32, 16};

/* ---- AVX2 + FMA ---- */

#define T256 __attribute__((target("avx2,fma")))
enum { A2_TM = 6 };

INL T256 __m256 load256(const float *p, int masked, __m256i mm)
{
    return masked ? _mm256_maskload_ps(p, mm) : _mm256_loadu_ps(p);
}

INL T256 void store256(float *p, int masked, __m256i mm, __m256 a)
{
    if (masked)
        _mm256_maskstore_ps(p, mm, a);
    else
        _mm256_storeu_ps(p, a);
}

/* As mk512 with vectors of 8 columns; mm masks the last vector's columns. */
INL T256 void mk256(const int T, const int V, const int unit, const float *b, int64_t ts, int64_t ks,
                    const float *v, int64_t ldv, int64_t nk, float *o, int64_t ldo, __m256i mm, int first)
{
    __m256 acc[A2_TM][2];
    const int64_t s = unit ? 1 : ts;
#pragma GCC unroll 6
    for (int t = 0; t < T; t++)
#pragma GCC unroll 2
        for (int u = 0; u < V; u++)
            acc[t][u] = first ? _mm256_setzero_ps() : load256(o + t * ldo + 8 * u, u == V - 1, mm);
    for (int64_t k = 0; k < nk; k++, b += ks, v += ldv) {
        __m256 x[2];
#pragma GCC unroll 2
        for (int u = 0; u < V; u++)
            x[u] = load256(v + 8 * u, u == V - 1, mm);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            const __m256 w = _mm256_broadcast_ss(b + t * s);
#pragma GCC unroll 2
            for (int u = 0; u < V; u++)
                acc[t][u] = _mm256_fmadd_ps(w, x[u], acc[t][u]);
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < T; t++)
#pragma GCC unroll 2
        for (int u = 0; u < V; u++)
            store256(o + t * ldo + 8 * u, u == V - 1, mm, acc[t][u]);
}

#define A2_ARGS b, ts, ks, v, ldv, nk, o, ldo, mm, first
#define A2_CASE(TT)                                                                                                    \
    case TT:                                                                                                           \
        if (V == 1)                                                                                                    \
            unit ? mk256(TT, 1, 1, A2_ARGS) : mk256(TT, 1, 0, A2_ARGS);                                                \
        else                                                                                                           \
            unit ? mk256(TT, 2, 1, A2_ARGS) : mk256(TT, 2, 0, A2_ARGS);                                                \
        break;

T256 static void tile_avx2(int T, int ncol, int unit, const float *b, int64_t ts, int64_t ks, const float *v,
                           int64_t ldv, int64_t nk, float *o, int64_t ldo, int first)
{
    const int V = ncol > 8 ? 2 : 1, last = ncol - 8 * (V - 1);
    const __m256i mm = _mm256_cmpgt_epi32(_mm256_set1_epi32(last), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    switch (T) {
        A2_CASE(1) A2_CASE(2) A2_CASE(3) A2_CASE(4) A2_CASE(5) A2_CASE(6)
    default:
        break;
    }
}

static const kern k_avx2 = {tile_avx2, A2_TM, 16, 128};

#endif /* WX_X86 */

/* ---- variant choice ---- */

static atomic_int g_variant; /* simd.h's slot: 0 until chosen (products run in pool workers) */

int lsc_wx32_force(lsc_simd v)
{
    return lsc_simd_slot_force(&g_variant, v);
}

lsc_simd lsc_wx32_active(void)
{
    return lsc_simd_slot_get(&g_variant);
}

static const kern *kernel(void)
{
    switch (lsc_wx32_active()) {
#ifdef WX_X86
    case LSC_SIMD_AVX512:
        return &k_avx512;
    case LSC_SIMD_AVX2:
        return &k_avx2;
#endif
    default:
        return &k_portable;
    }
}

/* ---- the two products ---- */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void zero_rows(float *o, int64_t n, int l, int64_t ldo)
{
    for (int64_t i = 0; i < n; i++)
        memset(o + i * ldo, 0, sizeof(float) * (size_t)l);
}

void lsc_wx32_wx(const float *W, int64_t rows, int64_t cols, const float *X, int64_t ldx, int l, float *Y,
                 int64_t ldy)
{
    if (rows <= 0 || l <= 0)
        return;
    if (cols <= 0) {
        zero_rows(Y, rows, l, ldy);
        return;
    }
    const kern *K = kernel();
    const int64_t kb = l <= K->gw ? cols : WX_KB;
    for (int64_t i0 = 0; i0 < rows; i0 += K->tm) {
        const int T = (int)min64(K->tm, rows - i0);
        for (int64_t j0 = 0; j0 < cols; j0 += kb)
            for (int g = 0; g < l; g += K->gw)
                K->tile(T, l - g < K->gw ? l - g : K->gw, 0, W + i0 * cols + j0, cols, 1, X + j0 * ldx + g, ldx,
                        min64(kb, cols - j0), Y + i0 * ldy + g, ldy, j0 == 0);
    }
}

void lsc_wx32_wtx(const float *W, int64_t rows, int64_t cols, const float *Y, int64_t ldy, int l, float *Z,
                  int64_t ldz)
{
    if (cols <= 0 || l <= 0)
        return;
    if (rows <= 0) {
        zero_rows(Z, cols, l, ldz);
        return;
    }
    /* Blocks of K->kb rows: a tile reads a column strip of W, kb rows at a stride of cols floats, and the
     * next tile the strip beside it, partly the same cache lines. Measured on Zen 4 (W 8192 x 2048 and
     * 2048 x 8192, l = 30): AVX-512 with 16 rows ~70 GFLOP/s on both, with 64 or 128 rows ~35 when the
     * row stride is 8 KB (the strip's lines crowd a few cache sets); AVX2 (two column groups per strip)
     * wants 64..256. Packing the strip into a contiguous panel first cost more than it saved (~53 with
     * AVX-512), as each W element feeds only l/16 FMAs. */
    const kern *K = kernel();
    for (int64_t i0 = 0; i0 < rows; i0 += K->kb) {
        const int64_t nk = min64(K->kb, rows - i0);
        for (int64_t c0 = 0; c0 < cols; c0 += K->tm)
            for (int g = 0; g < l; g += K->gw)
                K->tile((int)min64(K->tm, cols - c0), l - g < K->gw ? l - g : K->gw, 1, W + i0 * cols + c0, 1, cols,
                        Y + i0 * ldy + g, ldy, nk, Z + c0 * ldz + g, ldz, i0 == 0);
    }
}
