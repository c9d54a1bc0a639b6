/* engine/dtype.c: dtype names and sizes, and exact conversions between the float formats adapter files
 * use (f64, f32, f16, bf16) plus scalar reads of every numeric dtype (kohya `alpha` tensors).
 *
 * Every narrowing conversion rounds once, to nearest with ties to even: f64 -> f16/bf16 rounds straight
 * from the double's bits (going through float first would round twice and be wrong at near-midpoints).
 * Buffers are little-endian byte arrays that may be unaligned: values are assembled byte by byte and
 * moved with memcpy, never read through a cast pointer. Narrowing conversions count what they lose
 * (overflows, values flushed to zero, values rounded into the subnormal range) so that writers can report
 * it. Pure C: no I/O (snprintf into the caller's buffer only), no allocation, no globals.
 */
#include "dtype.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "simd.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lorascope reads little-endian files with memcpy: port dtype.c before building on this host"
#endif

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
#define LSC_X_DT(code, name, size) {name, size},
    LSC_DTYPE_LIST(LSC_X_DT)
#undef LSC_X_DT
};
_Static_assert(sizeof dtype_table / sizeof dtype_table[0] == LSC_DT_COUNT, "dtype table out of sync");

const char *lsc_dtype_name(lsc_dtype dt)
{
    if ((unsigned)dt >= LSC_DT_COUNT)
        return "?";
    return dtype_table[dt].name;
}

lsc_dtype lsc_dtype_parse(const char *name)
{
    if (!name)
        return LSC_DT_INVALID;
    for (int i = 0; i < LSC_DT_COUNT; i++)
        if (strcmp(name, dtype_table[i].name) == 0)
            return (lsc_dtype)i;
    return LSC_DT_INVALID;
}

size_t lsc_dtype_size(lsc_dtype dt)
{
    if ((unsigned)dt >= LSC_DT_COUNT)
        return 0;
    return dtype_table[dt].size;
}

int lsc_dtype_is_float(lsc_dtype dt)
{
    return dt == LSC_DT_F64 || dt == LSC_DT_F32 || dt == LSC_DT_F16 || dt == LSC_DT_BF16;
}

/* ---- bit helpers ------------------------------------------------------------------------------- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint64_t load_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

/* v >> s rounded to nearest, ties to even (1 <= s <= 63). */
static uint64_t shift_rne(uint64_t v, unsigned s)
{
    uint64_t q = v >> s, rem = v & ((UINT64_C(1) << s) - 1), half = UINT64_C(1) << (s - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++;
    return q;
}

/* ---- scalar conversions ------------------------------------------------------------------------ */

float lsc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) /* Inf keeps mantissa 0; NaN keeps its payload (and its quiet bit) */
        return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return f32_from_bits(sign);
        /* subnormal mant * 2^-24: normalise so the leading 1 lands on bit 10 */
        int e = -14;
        while (!(mant & 0x400)) {
            mant <<= 1;
            e--;
        }
        return f32_from_bits(sign | (uint32_t)(e + 127) << 23 | (mant & 0x3ff) << 13);
    }
    return f32_from_bits(sign | (exp + 112) << 23 | mant << 13);
}

float lsc_bf16_to_f32(uint16_t b)
{
    return f32_from_bits((uint32_t)b << 16);
}

uint16_t lsc_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) {
        if (x == 0x7f800000u)
            return sign | 0x7c00;
        return (uint16_t)(sign | 0x7e00 | ((x >> 13) & 0x3ff)); /* quiet NaN, top payload bits kept */
    }
    if (x >= 0x477ff000u) /* >= 65520, the midpoint between 65504 and 2^16: ties go to the even Inf */
        return sign | 0x7c00;
    if (x >= 0x38800000u) { /* >= 2^-14: normal; a rounding carry may step into the next binade */
        uint32_t q = (uint32_t)shift_rne(x, 13);     /* exponent and mantissa move together */
        return (uint16_t)(sign | (q - ((uint32_t)112 << 10)));
    }
    if (x <= 0x33000000u) /* <= 2^-25, half the smallest subnormal: ties go to the even zero */
        return sign;
    /* subnormal result in units of 2^-24: (1.m * 2^23) * 2^(e-150) / 2^-24 = sig >> (126 - e) */
    uint32_t e = x >> 23, sig = (x & 0x7fffffu) | 0x800000u;
    return (uint16_t)(sign | shift_rne(sig, 126 - e));
}

uint16_t lsc_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x0040); /* NaN: keep sign and top payload, force quiet */
    /* finite values past the bf16 range carry into the Inf pattern, as they should */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

/* Round a double to a binary format with `ebits` exponent and `mbits` mantissa bits (IEEE layout,
 * subnormals, Inf, NaN), once, to nearest even. */
static uint16_t f64_to_small(double d, unsigned ebits, unsigned mbits)
{
    uint64_t x;
    memcpy(&x, &d, sizeof x);
    uint32_t sign = (uint32_t)(x >> 63) << (ebits + mbits);
    uint32_t exp = (uint32_t)(x >> 52) & 0x7ff;
    uint64_t mant = x & ((UINT64_C(1) << 52) - 1);
    uint32_t inf = ((1u << ebits) - 1) << mbits;
    int bias = (1 << (ebits - 1)) - 1;

    if (exp == 0x7ff) {
        if (mant == 0)
            return (uint16_t)(sign | inf);
        return (uint16_t)(sign | inf | 1u << (mbits - 1) | (uint32_t)(mant >> (52 - mbits)));
    }
    if (exp == 0) /* zero or a double subnormal: far below the smallest f16/bf16 subnormal */
        return (uint16_t)sign;
    int e = (int)exp - 1023;
    uint64_t sig = mant | UINT64_C(1) << 52; /* value = sig * 2^(e-52) */
    if (e >= 1 - bias) {
        /* normal candidate: keep mbits + 1 significant bits; a carry to 2^(mbits+1) bumps the exponent
         * through the addition below, and a result at or past the Inf pattern is an overflow */
        uint64_t q = shift_rne(sig, 52 - mbits);
        if (e > bias)
            return (uint16_t)(sign | inf);
        uint64_t r = ((uint64_t)(e + bias) << mbits) + q - (UINT64_C(1) << mbits);
        if (r >= inf)
            return (uint16_t)(sign | inf);
        return (uint16_t)(sign | (uint32_t)r);
    }
    /* subnormal in units of 2^(1-bias-mbits); q == 2^mbits encodes the smallest normal by itself */
    int s = 52 + 1 - bias - (int)mbits - e;
    if (s >= 54) /* sig < 2^53 <= half a unit */
        return (uint16_t)sign;
    return (uint16_t)(sign | (uint32_t)shift_rne(sig, (unsigned)s));
}

uint16_t lsc_f64_to_f16(double d)
{
    return f64_to_small(d, 5, 10);
}

uint16_t lsc_f64_to_bf16(double d)
{
    return f64_to_small(d, 8, 7);
}

/* ---- buffers ----------------------------------------------------------------------------------- */

/* Narrowing a buffer is on the write path of every edit (1.4 GB of BF16 for a 70B-shaped prune), so it
 * runs in blocks: a first loop that the compiler vectorises converts every element whose result is a
 * normal finite number of the target in integer arithmetic (rebias the exponent, round the mantissa to
 * nearest even; a carry steps into the next binade as it should), and flags the others; only a block
 * with a flagged element takes a second, scalar pass over those elements (zero, subnormal, overflow, Inf,
 * NaN), which also counts the losses. The fast path only takes values that lose nothing but ordinary
 * rounding, so both paths give the bits of f64_to_small. */
enum { CONV_BLOCK = 256 };

/* One element the fast path does not take: f64_to_small and the loss counts. */
static uint16_t small_slow(double d, unsigned ebits, unsigned mbits, lsc_narrowing *l)
{
    const int f16 = ebits == 5;
    uint16_t h = f64_to_small(d, ebits, mbits);
    uint16_t inf = f16 ? 0x7c00 : 0x7f80;
    l->overflows += (h & 0x7fff) == inf && isfinite(d);
    if ((h & inf) == 0) { /* zero or subnormal result: did it lose the value? */
        double back = f16 ? lsc_f16_to_f32(h) : lsc_bf16_to_f32(h);
        l->flushed += back == 0 && d != 0;
        l->subnormal += back != 0 && back != d;
    }
    return h;
}

static void to_small_blocks(const double *src, size_t n, unsigned char *p, unsigned ebits, unsigned mbits,
                            lsc_narrowing *l)
{
    const unsigned shift = 52 - mbits;
    const uint64_t bias = (UINT64_C(1) << (ebits - 1)) - 1;
    const uint64_t rebias = (1023 - bias) << 52;     /* double exponent field -> target exponent field */
    const uint64_t lo = (1023 + 1 - bias) << 52;     /* smallest normal of the target */
    const uint64_t span = (2 * bias) << 52;          /* [lo, lo + span): exponents 1 - bias .. bias */
    const uint64_t inf = ((UINT64_C(1) << ebits) - 1) << mbits, half = (UINT64_C(1) << (shift - 1)) - 1;
    uint16_t h[CONV_BLOCK];
    unsigned char slow[CONV_BLOCK];
    for (size_t i0 = 0; i0 < n; i0 += CONV_BLOCK) {
        const size_t m = n - i0 < CONV_BLOCK ? n - i0 : CONV_BLOCK;
        unsigned any = 0;
        for (size_t j = 0; j < m; j++) {
            uint64_t x;
            memcpy(&x, src + i0 + j, sizeof x);
            const uint64_t ax = x & ~(UINT64_C(1) << 63), a = ax - rebias;
            const uint64_t q = (a + half + ((a >> shift) & 1)) >> shift;
            const unsigned bad = (ax - lo >= span) | (q >= inf);
            h[j] = (uint16_t)((x >> 48 & 0x8000) | (q & 0x7fff));
            slow[j] = (unsigned char)bad;
            any |= bad;
        }
        if (any)
            for (size_t j = 0; j < m; j++)
                if (slow[j])
                    h[j] = small_slow(src[i0 + j], ebits, mbits, l);
        memcpy(p + 2 * i0, h, 2 * m); /* little-endian host */
    }
}

static void to_f32_blocks(const double *src, size_t n, unsigned char *p, lsc_narrowing *l)
{
    float f[CONV_BLOCK];
    for (size_t i0 = 0; i0 < n; i0 += CONV_BLOCK) {
        const size_t m = n - i0 < CONV_BLOCK ? n - i0 : CONV_BLOCK;
        unsigned any = 0;
        for (size_t j = 0; j < m; j++) {
            f[j] = (float)src[i0 + j];
            const uint32_t e = f32_bits(f[j]) & 0x7f800000u;
            any |= (e == 0) | (e == 0x7f800000u); /* zero, subnormal, Inf or NaN: count below */
        }
        for (size_t j = 0; any && j < m; j++) {
            const double d = src[i0 + j];
            l->overflows += isinf(f[j]) && isfinite(d);
            if (fpclassify(f[j]) == FP_ZERO || fpclassify(f[j]) == FP_SUBNORMAL) {
                l->flushed += f[j] == 0 && d != 0;
                l->subnormal += f[j] != 0 && (double)f[j] != d;
            }
        }
        memcpy(p + 4 * i0, f, 4 * m);
    }
}

/* BF16, the dtype of most bases, in groups of 8 with GCC vector extensions (explicit vectors: -O2's
 * auto-vectoriser leaves loops with a run-time trip count scalar). On x86-64 Linux there is an AVX2
 * clone beside the baseline (SSE2) one, picked at load time, so the binary runs on any x86-64.
 *
 * Narrowing goes through float, which is exact here: the bf16 grid and the midpoints between its values
 * are all floats, and rounding to float is monotone, so a double d and f = (float)d lie on the same side
 * of every bf16 midpoint unless f lands exactly on one. Where it does not, rounding f to nearest even
 * bf16 (integer add of 0x7fff + the kept lowest bit) gives the bits of rounding d once. Groups with an f
 * on a midpoint, or a result that is zero, subnormal, Inf or NaN, go element by element through
 * small_slow (the bits of f64_to_small and the loss counts); the others lose nothing but rounding. */
typedef double v4d_t __attribute__((vector_size(32)));
typedef float v4f_t __attribute__((vector_size(16)));
typedef float v8f_t __attribute__((vector_size(32)));
typedef uint32_t v8u_t __attribute__((vector_size(32)));
typedef int32_t v8i_t __attribute__((vector_size(32)));
typedef uint16_t v8h_t __attribute__((vector_size(16)));

LSC_AVX2_CLONES
static void to_bf16_groups(const double *src, size_t n, unsigned char *p, lsc_narrowing *l)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4d_t a, b;
        memcpy(&a, src + i, sizeof a);
        memcpy(&b, src + i + 4, sizeof b);
        const v4f_t fa = __builtin_convertvector(a, v4f_t), fb = __builtin_convertvector(b, v4f_t);
        const v8f_t f = {fa[0], fa[1], fa[2], fa[3], fb[0], fb[1], fb[2], fb[3]}; /* in registers, no store */
        v8u_t x;
        memcpy(&x, &f, sizeof x);
        const v8u_t r = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16, e = r & 0x7f80u;
        const v8i_t bad = ((x & 0xffffu) == 0x8000u) | (e == 0u) | (e == 0x7f80u);
        const v8h_t h = __builtin_convertvector(r, v8h_t);
        memcpy(p + 2 * i, &h, sizeof h);
        uint64_t any[4];
        memcpy(any, &bad, sizeof any);
        if (any[0] | any[1] | any[2] | any[3])
            for (int q = 0; q < 8; q++) /* only the flagged lanes (zeros are common in pruned tensors) */
                if (bad[q]) {
                    uint16_t s = small_slow(src[i + (size_t)q], 8, 7, l);
                    memcpy(p + 2 * (i + (size_t)q), &s, 2);
                }
    }
    for (; i < n; i++) {
        uint16_t s = small_slow(src[i], 8, 7, l);
        memcpy(p + 2 * i, &s, 2);
    }
}

LSC_AVX2_CLONES
static void bf16_to_doubles(const unsigned char *p, size_t n, double *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8h_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        const v8u_t u = __builtin_convertvector(h, v8u_t) << 16;
        v8f_t f;
        memcpy(&f, &u, sizeof f);
        const v4f_t lo = {f[0], f[1], f[2], f[3]}, hi = {f[4], f[5], f[6], f[7]};
        const v4d_t a = __builtin_convertvector(lo, v4d_t), b = __builtin_convertvector(hi, v4d_t);
        memcpy(dst + i, &a, sizeof a);
        memcpy(dst + i + 4, &b, sizeof b);
    }
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = lsc_bf16_to_f32(h);
    }
}

LSC_AVX2_CLONES
static void bf16_to_floats(const unsigned char *p, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8h_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        const v8u_t u = __builtin_convertvector(h, v8u_t) << 16;
        memcpy(dst + i, &u, sizeof u);
    }
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = lsc_bf16_to_f32(h);
    }
}

lsc_status lsc_dtype_to_float(lsc_dtype from, const void *src, size_t n, float *dst)
{
    const unsigned char *p = src;
    switch (from) {
    case LSC_DT_F32:
        memcpy(dst, src, n * sizeof(float));
        return LSC_OK;
    case LSC_DT_BF16:
        bf16_to_floats(p, n, dst);
        return LSC_OK;
    case LSC_DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = lsc_f16_to_f32(h);
        }
        return LSC_OK;
    default:
        return LSC_ERR_UNSUPPORTED;
    }
}

lsc_status lsc_dtype_to_double(lsc_dtype from, const void *src, size_t n, double *dst)
{
    /* Hot path of every statistic: straight-line loops the compiler can vectorise. The host is
     * little-endian (checked at build time), so memcpy of the bytes gives the value's bits. */
    const unsigned char *p = src;
    switch (from) {
    case LSC_DT_F64:
        memcpy(dst, src, n * sizeof(double));
        return LSC_OK;
    case LSC_DT_F32:
        for (size_t i = 0; i < n; i++) {
            float f;
            memcpy(&f, p + 4 * i, 4);
            dst[i] = f;
        }
        return LSC_OK;
    case LSC_DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t e = h & 0x7c00u;
            if (e != 0 && e != 0x7c00u) { /* normal numbers: rebias the exponent */
                uint32_t u = (uint32_t)(h & 0x8000u) << 16 | ((uint32_t)(h & 0x7fffu) + (112u << 10)) << 13;
                float f;
                memcpy(&f, &u, 4);
                dst[i] = f;
            } else {
                dst[i] = lsc_f16_to_f32(h); /* zero, subnormal, Inf, NaN */
            }
        }
        return LSC_OK;
    case LSC_DT_BF16:
        bf16_to_doubles(p, n, dst);
        return LSC_OK;
    default:
        return LSC_ERR_UNSUPPORTED;
    }
}

lsc_status lsc_dtype_from_double(lsc_dtype to, const double *src, size_t n, void *dst, size_t *overflows)
{
    lsc_narrowing loss;
    lsc_status st = lsc_dtype_from_double_loss(to, src, n, dst, &loss);
    if (!st && overflows)
        *overflows = loss.overflows;
    return st;
}

lsc_status lsc_dtype_from_double_loss(lsc_dtype to, const double *src, size_t n, void *dst, lsc_narrowing *loss)
{
    unsigned char *p = dst;
    lsc_narrowing l = {0, 0, 0};
    switch (to) {
    case LSC_DT_F64:
        memmove(dst, src, n * sizeof(double));
        break;
    case LSC_DT_F32:
        to_f32_blocks(src, n, p, &l);
        break;
    case LSC_DT_F16:
        to_small_blocks(src, n, p, 5, 10, &l);
        break;
    case LSC_DT_BF16:
        to_bf16_groups(src, n, p, &l);
        break;
    default:
        return LSC_ERR_UNSUPPORTED;
    }
    if (loss)
        *loss = l;
    return LSC_OK;
}

int lsc_narrowing_describe(const lsc_narrowing *loss, size_t n, lsc_dtype to, char *buf, size_t cap)
{
    if (cap)
        buf[0] = '\0';
    if (!loss->flushed && !loss->subnormal)
        return 0;
    if (loss->flushed && loss->subnormal)
        snprintf(buf, cap, "%zu of %zu values flushed to zero and %zu rounded to subnormals (precision lost) in %s",
                 loss->flushed, n, loss->subnormal, lsc_dtype_name(to));
    else if (loss->flushed)
        snprintf(buf, cap, "%zu of %zu values flushed to zero in %s", loss->flushed, n, lsc_dtype_name(to));
    else
        snprintf(buf, cap, "%zu of %zu values rounded to subnormals (precision lost) in %s", loss->subnormal, n,
                 lsc_dtype_name(to));
    return 1;
}

/* OCP 8-bit floats. E5M2 is the top byte of an f16; E4M3 ("fn": bias 7, no Inf, S.1111.111 is NaN). */
static double f8_e4m3_to_double(uint8_t b)
{
    int sign = b >> 7, exp = (b >> 3) & 0xf, mant = b & 7;
    double v;
    if (exp == 0xf && mant == 7)
        v = NAN;
    else if (exp == 0)
        v = ldexp(mant, -9);
    else
        v = ldexp(8 + mant, exp - 10);
    return sign ? -v : v;
}

lsc_status lsc_dtype_scalar_to_double(lsc_dtype from, const void *src, double *out)
{
    const unsigned char *p = src;
    size_t size = lsc_dtype_size(from);
    uint64_t u = size ? load_le(p, size < 8 ? size : 8) : 0;
    switch (from) {
    case LSC_DT_F64:
    case LSC_DT_F32:
    case LSC_DT_F16:
    case LSC_DT_BF16:
        return lsc_dtype_to_double(from, src, 1, out);
    case LSC_DT_I64: {
        int64_t v;
        memcpy(&v, &u, sizeof v);
        *out = (double)v;
        return LSC_OK;
    }
    case LSC_DT_I32:
        *out = (double)(int32_t)(uint32_t)u;
        return LSC_OK;
    case LSC_DT_I16:
        *out = (double)(int16_t)(uint16_t)u;
        return LSC_OK;
    case LSC_DT_I8:
        *out = (double)(int8_t)(uint8_t)u;
        return LSC_OK;
    case LSC_DT_U8:
    case LSC_DT_U16:
    case LSC_DT_U32:
    case LSC_DT_U64:
        *out = (double)u;
        return LSC_OK;
    case LSC_DT_BOOL:
        *out = u != 0;
        return LSC_OK;
    case LSC_DT_F8_E5M2:
        *out = lsc_f16_to_f32((uint16_t)(u << 8));
        return LSC_OK;
    case LSC_DT_F8_E4M3:
        *out = f8_e4m3_to_double((uint8_t)u);
        return LSC_OK;
    default:
        return LSC_ERR_UNSUPPORTED;
    }
}
