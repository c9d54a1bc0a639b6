/* tests/check-dtype.c: the dtype table and the f16/bf16/f32/f64 conversions of engine/dtype.c.
 *
 * Decoding is checked for every one of the 65,536 f16 and bf16 patterns against a reference written
 * differently (ldexp on the fields); encoding against the rounding rule itself: every midpoint between
 * two neighbours must go to the even one, anything a hair off it to the nearer one, for f32 and f64
 * inputs; the double-rounding trap (f64 -> f32 -> f16) is checked to be avoided. No file I/O.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"

static float ffrom(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Reference decoders: value = significand * 2^exponent by ldexp, nothing shared with dtype.c. */
static double ref_f16(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp(m, -24);
    else
        v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static double ref_bf16(uint16_t b)
{
    int s = b >> 15, e = (b >> 7) & 255, m = b & 127;
    double v;
    if (e == 255)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp(m, -133);
    else
        v = ldexp(128 + m, e - 134);
    return s ? -v : v;
}

static int f16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }
static int bf16_is_nan(uint16_t b) { return (b & 0x7f80) == 0x7f80 && (b & 0x7f); }

START_TEST(test_table)
{
    for (int i = 0; i < LSC_DT_COUNT; i++) {
        const char *n = lsc_dtype_name((lsc_dtype)i);
        ck_assert_str_ne(n, "?");
        ck_assert_int_eq(lsc_dtype_parse(n), i);
        ck_assert_uint_gt(lsc_dtype_size((lsc_dtype)i), 0);
    }
    ck_assert_str_eq(lsc_dtype_name(LSC_DT_INVALID), "?");
    ck_assert_str_eq(lsc_dtype_name(LSC_DT_COUNT), "?");
    ck_assert_int_eq(lsc_dtype_parse("bf16"), LSC_DT_INVALID); /* case-sensitive like the spec */
    ck_assert_int_eq(lsc_dtype_parse("F4"), LSC_DT_INVALID);
    ck_assert_int_eq(lsc_dtype_parse(""), LSC_DT_INVALID);
    ck_assert_int_eq(lsc_dtype_parse(NULL), LSC_DT_INVALID);
    ck_assert_uint_eq(lsc_dtype_size(LSC_DT_BF16), 2);
    ck_assert_uint_eq(lsc_dtype_size(LSC_DT_F64), 8);
    ck_assert_uint_eq(lsc_dtype_size(LSC_DT_C64), 8);
    ck_assert_uint_eq(lsc_dtype_size(LSC_DT_INVALID), 0);
    ck_assert_int_eq(lsc_dtype_parse("F8_E4M3"), LSC_DT_F8_E4M3);
    ck_assert(lsc_dtype_is_float(LSC_DT_F64) && lsc_dtype_is_float(LSC_DT_F32));
    ck_assert(lsc_dtype_is_float(LSC_DT_F16) && lsc_dtype_is_float(LSC_DT_BF16));
    ck_assert(!lsc_dtype_is_float(LSC_DT_I64) && !lsc_dtype_is_float(LSC_DT_F8_E4M3));
    ck_assert(!lsc_dtype_is_float(LSC_DT_BOOL) && !lsc_dtype_is_float(LSC_DT_INVALID));
}
END_TEST

START_TEST(test_f16_all_patterns)
{
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = lsc_f16_to_f32(h);
        double r = ref_f16(h);
        if (f16_is_nan(h)) {
            ck_assert_msg(isnan(f), "0x%04x should decode to NaN", i);
            ck_assert_int_eq(!!signbit(f), h >> 15);
            ck_assert_msg(f16_is_nan(lsc_f32_to_f16(f)), "NaN 0x%04x lost on the way back", i);
            ck_assert(f16_is_nan(lsc_f64_to_f16((double)f)));
            continue;
        }
        ck_assert_msg((double)f == r, "0x%04x decodes to %a, want %a", i, (double)f, r);
        ck_assert_int_eq(!!signbit(f), h >> 15); /* -0 included */
        ck_assert_msg(lsc_f32_to_f16(f) == h, "0x%04x round trip gives 0x%04x", i, lsc_f32_to_f16(f));
        ck_assert_msg(lsc_f64_to_f16(r) == h, "0x%04x f64 round trip gives 0x%04x", i, lsc_f64_to_f16(r));
    }
}
END_TEST

START_TEST(test_bf16_all_patterns)
{
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t b = (uint16_t)i;
        float f = lsc_bf16_to_f32(b);
        double r = ref_bf16(b);
        if (bf16_is_nan(b)) {
            ck_assert(isnan(f));
            ck_assert_int_eq(!!signbit(f), b >> 15);
            ck_assert_msg(bf16_is_nan(lsc_f32_to_bf16(f)), "NaN 0x%04x lost on the way back", i);
            ck_assert(bf16_is_nan(lsc_f64_to_bf16((double)f)));
            continue;
        }
        ck_assert_msg((double)f == r, "0x%04x decodes to %a, want %a", i, (double)f, r);
        ck_assert_int_eq(!!signbit(f), b >> 15);
        ck_assert_uint_eq(lsc_f32_to_bf16(f), b);
        ck_assert_uint_eq(lsc_f64_to_bf16(r), b);
    }
}
END_TEST

/* Hand-worked values, in case the reference decoder and the code shared a misconception. */
START_TEST(test_known_values)
{
    ck_assert_uint_eq(lsc_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(lsc_f32_to_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(lsc_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(lsc_f32_to_f16(0x1p-24f), 0x0001);
    ck_assert_uint_eq(lsc_f32_to_f16(0x1p-14f), 0x0400);
    ck_assert_uint_eq(lsc_f32_to_f16(0.333251953125f), 0x3555);
    ck_assert_uint_eq(lsc_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(lsc_f32_to_f16(INFINITY), 0x7c00);
    ck_assert_uint_eq(lsc_f32_to_f16(-INFINITY), 0xfc00);
    ck_assert(lsc_f16_to_f32(0x3555) == 0.333251953125f);
    ck_assert(lsc_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(lsc_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    ck_assert(lsc_f16_to_f32(0x7bff) == 65504.0f);
    ck_assert_uint_eq(lsc_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(lsc_f32_to_bf16(3.140625f), 0x4049);
    ck_assert_uint_eq(lsc_f32_to_bf16(-INFINITY), 0xff80);
    ck_assert(lsc_bf16_to_f32(0x4049) == 3.140625f);
    ck_assert(lsc_bf16_to_f32(0x0001) == 0x1p-133f);
    /* signalling NaN input comes out quiet, sign kept */
    ck_assert_uint_eq(lsc_f32_to_bf16(ffrom(0xff800001u)) & 0xffc0, 0xffc0);
    ck_assert_uint_eq(lsc_f32_to_f16(ffrom(0x7f800001u)) & 0x7e00, 0x7e00);
    ck_assert_uint_eq(lsc_f64_to_f16(-NAN) & 0xfe00, 0xfe00);
}
END_TEST

/* Every pair of neighbouring finite f16 values (both signs): the midpoint goes to the one with an even
 * mantissa, one float ulp either side goes to the nearer neighbour. Also with double inputs. */
START_TEST(test_f16_midpoints)
{
    for (uint32_t h = 0; h < 0x7c00; h++) {
        uint16_t lo = (uint16_t)h, hi = (uint16_t)(h + 1); /* hi may be Inf (0x7c00) */
        double a = ref_f16(lo), b = hi == 0x7c00 ? 65536.0 : ref_f16(hi), mid = (a + b) / 2;
        float fm = (float)mid;
        ck_assert(fm == mid); /* 12 significant bits: exact in float */
        uint16_t even = (lo & 1) ? hi : lo;
        for (int s = 0; s < 2; s++) {
            uint16_t sg = s ? 0x8000 : 0;
            float f = s ? -fm : fm;
            double d = s ? -mid : mid;
            ck_assert_msg(lsc_f32_to_f16(f) == (even | sg), "midpoint after 0x%04x gives 0x%04x", h | sg,
                          lsc_f32_to_f16(f));
            ck_assert_uint_eq(lsc_f64_to_f16(d), even | sg);
            float up = nextafterf(f, s ? -INFINITY : INFINITY), down = nextafterf(f, 0);
            ck_assert_uint_eq(lsc_f32_to_f16(up), hi | sg);
            ck_assert_uint_eq(lsc_f32_to_f16(down), lo | sg);
            /* a double a hair beyond the midpoint, not representable in float: single rounding */
            double dup = nextafter(d, s ? -INFINITY : INFINITY), ddown = nextafter(d, 0);
            ck_assert_uint_eq(lsc_f64_to_f16(dup), hi | sg);
            ck_assert_uint_eq(lsc_f64_to_f16(ddown), lo | sg);
        }
    }
    /* the extremes by hand: 65520 ties to Inf, just below stays 65504; 2^-25 ties to 0 */
    ck_assert_uint_eq(lsc_f32_to_f16(65520.0f), 0x7c00);
    ck_assert_uint_eq(lsc_f32_to_f16(nextafterf(65520.0f, 0)), 0x7bff);
    ck_assert_uint_eq(lsc_f32_to_f16(0x1p-25f), 0x0000);
    ck_assert_uint_eq(lsc_f32_to_f16(nextafterf(0x1p-25f, 1)), 0x0001);
    ck_assert_uint_eq(lsc_f32_to_f16(1e-30f), 0x0000);
    ck_assert_uint_eq(lsc_f32_to_f16(-1e-30f), 0x8000);
    ck_assert_uint_eq(lsc_f32_to_f16(1e10f), 0x7c00);
    ck_assert_uint_eq(lsc_f32_to_f16(FLT_MAX), 0x7c00);
    ck_assert_uint_eq(lsc_f64_to_f16(1e300), 0x7c00);
    ck_assert_uint_eq(lsc_f64_to_f16(-1e-300), 0x8000);
    ck_assert_uint_eq(lsc_f64_to_f16(4.9e-324), 0x0000);
}
END_TEST

START_TEST(test_bf16_midpoints)
{
    for (uint32_t b = 0; b < 0x7f80; b++) {
        uint16_t lo = (uint16_t)b, hi = (uint16_t)(b + 1);
        double a = ref_bf16(lo), c = hi == 0x7f80 ? 0x1p128 : ref_bf16(hi), mid = (a + c) / 2;
        uint16_t even = (lo & 1) ? hi : lo;
        for (int s = 0; s < 2; s++) {
            uint16_t sg = s ? 0x8000 : 0;
            double d = s ? -mid : mid;
            ck_assert_uint_eq(lsc_f64_to_bf16(d), even | sg);
            ck_assert_uint_eq(lsc_f64_to_bf16(nextafter(d, s ? -INFINITY : INFINITY)), hi | sg);
            ck_assert_uint_eq(lsc_f64_to_bf16(nextafter(d, 0)), lo | sg);
            if (hi == 0x7f80)
                continue; /* 2^128 - 2^119 is not a float */
            float f = (float)d;
            ck_assert(f == d);
            ck_assert_msg(lsc_f32_to_bf16(f) == (even | sg), "midpoint after 0x%04x", b | sg);
            ck_assert_uint_eq(lsc_f32_to_bf16(nextafterf(f, s ? -INFINITY : INFINITY)), hi | sg);
            ck_assert_uint_eq(lsc_f32_to_bf16(nextafterf(f, 0)), lo | sg);
        }
    }
    ck_assert_uint_eq(lsc_f32_to_bf16(FLT_MAX), 0x7f80);
    ck_assert_uint_eq(lsc_f32_to_bf16(ffrom(0x7f7f7fffu)), 0x7f7f);
    ck_assert_uint_eq(lsc_f64_to_bf16(1e39), 0x7f80);
    ck_assert_uint_eq(lsc_f64_to_bf16(1e-300), 0x0000);
}
END_TEST

/* f32 -> f16 (bit tricks on the float) against f64 -> f16 (generic rounding from the double) over a
 * sample of all float patterns: both are single roundings of the same value, so they must agree. */
START_TEST(test_f32_f16_agree)
{
    for (uint64_t u = 0; u <= 0xffffffffu; u += 4093) {
        float f = ffrom((uint32_t)u);
        uint16_t a = lsc_f32_to_f16(f), b = lsc_f64_to_f16((double)f);
        if (isnan(f))
            ck_assert(f16_is_nan(a) && f16_is_nan(b) && (a >> 15) == (b >> 15));
        else
            ck_assert_msg(a == b, "%a: f32 path 0x%04x, f64 path 0x%04x", (double)f, a, b);
    }
}
END_TEST

/* Rounding a double to float first and then to f16 rounds twice: 1 + 2^-11 + 2^-40 becomes the exact
 * midpoint 1 + 2^-11 in float, which ties down to 1.0, while the true nearest f16 is 1 + 2^-10. */
START_TEST(test_double_rounding)
{
    double d = 1.0 + 0x1p-11 + 0x1p-40;
    ck_assert_uint_eq(lsc_f32_to_f16((float)d), 0x3c00); /* the trap, for the record */
    ck_assert_uint_eq(lsc_f64_to_f16(d), 0x3c01);
    ck_assert_uint_eq(lsc_f64_to_f16(-d), 0xbc01);
    double b = 1.0 + 0x1p-8 + 0x1p-40;
    ck_assert_uint_eq(lsc_f32_to_bf16((float)b), 0x3f80);
    ck_assert_uint_eq(lsc_f64_to_bf16(b), 0x3f81);
    /* in the subnormal range too: 1.5 units of 2^-24 plus a sliver goes to 2 units */
    double s = 0x1.8p-24 + 0x1p-60;
    ck_assert_uint_eq(lsc_f64_to_f16(s), 0x0002);
    ck_assert_uint_eq(lsc_f64_to_f16(0x1.8p-24), 0x0002);
    ck_assert_uint_eq(lsc_f64_to_f16(0x1.4p-23 - 0x1p-60), 0x0002); /* 2.5 units minus a sliver */
    ck_assert_uint_eq(lsc_f64_to_f16(0x1.4p-23), 0x0002);             /* 2.5 ties to even 2 */
    /* the value just under 65520 that float would round up to 65520 (then Inf) stays finite */
    double t = 65520.0 - 0x1p-20;
    ck_assert(isinf(ref_f16(lsc_f32_to_f16((float)t))));
    ck_assert_uint_eq(lsc_f64_to_f16(t), 0x7bff);
}
END_TEST

START_TEST(test_buffers_unaligned)
{
    /* little-endian bytes written by hand, at an odd offset */
    unsigned char buf[1 + 8 * 3];
    const unsigned char f32le[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc1}; /* 1, -10 */
    const unsigned char f16le[] = {0x00, 0x3c, 0x55, 0x35, 0x01, 0x00};              /* 1, 0x3555, 2^-24 */
    const unsigned char bf16le[] = {0x49, 0x40, 0x80, 0xff};                         /* 3.140625, -Inf */
    const unsigned char f64le[] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0x00, 0xc0}; /* 1, -2 */
    double out[3];
    memcpy(buf + 1, f32le, sizeof f32le);
    ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_F32, buf + 1, 2, out), LSC_OK);
    ck_assert(out[0] == 1.0 && out[1] == -10.0);
    memcpy(buf + 1, f16le, sizeof f16le);
    ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_F16, buf + 1, 3, out), LSC_OK);
    ck_assert(out[0] == 1.0 && out[1] == 0.333251953125 && out[2] == 0x1p-24);
    memcpy(buf + 1, bf16le, sizeof bf16le);
    ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_BF16, buf + 1, 2, out), LSC_OK);
    ck_assert(out[0] == 3.140625 && isinf(out[1]) && out[1] < 0);
    memcpy(buf + 1, f64le, sizeof f64le);
    ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_F64, buf + 1, 2, out), LSC_OK);
    ck_assert(out[0] == 1.0 && out[1] == -2.0);
    ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_I32, buf, 1, out), LSC_ERR_UNSUPPORTED);
    ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_F8_E4M3, buf, 1, out), LSC_ERR_UNSUPPORTED);

    /* and back out, to an odd offset, byte for byte */
    const double vals[3] = {1.0, 0.333251953125, 0x1p-24};
    size_t over = 99;
    ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_F16, vals, 3, buf + 1, &over), LSC_OK);
    ck_assert_uint_eq(over, 0);
    ck_assert_mem_eq(buf + 1, f16le, sizeof f16le);
    const double v2[2] = {1.0, -10.0};
    ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_F32, v2, 2, buf + 1, NULL), LSC_OK);
    ck_assert_mem_eq(buf + 1, f32le, sizeof f32le);
    const double v3[2] = {3.140625, -INFINITY};
    ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_BF16, v3, 2, buf + 1, &over), LSC_OK);
    ck_assert_mem_eq(buf + 1, bf16le, sizeof bf16le);
    ck_assert_uint_eq(over, 0); /* an infinite input is not an overflow */
    const double v4[2] = {1.0, -2.0};
    ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_F64, v4, 2, buf + 1, NULL), LSC_OK);
    ck_assert_mem_eq(buf + 1, f64le, sizeof f64le);
    ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_I64, v4, 2, buf, NULL), LSC_ERR_UNSUPPORTED);
}
END_TEST

/* The buffer conversions run a blocked fast path beside the scalar rule (dtype.c): over every finite
 * pattern of the target, each midpoint to its successor and a double ulp either side of it, both signs,
 * plus zeros, double subnormals, Inf, NaN and huge values, placed so that rare values sit at every
 * position of a block, the buffer must give exactly the scalar function's bits and the same loss counts
 * as counted here from the rule (FORMATS.md: overflow, flushed, subnormal). */
static void check_buffer_matches_scalar(int f16)
{
    const uint32_t top = f16 ? 0x7c00 : 0x7f80;
    size_t cap = (size_t)top * 8 + 64, n = 0;
    double *v = malloc(cap * sizeof *v);
    uint16_t *h = malloc(cap * sizeof *h);
    ck_assert(v && h);
    const double extra[] = {0.0, -0.0, 4.9e-324, -1e-310, INFINITY, -INFINITY, NAN, 1e300, -DBL_MAX, 65520.0,
                            0x1p-25, 0x1p128, -0x1p-134, 3.4e38};
    for (uint32_t b = 0; b < top; b++) {
        double a = f16 ? ref_f16((uint16_t)b) : ref_bf16((uint16_t)b);
        double c = b + 1 == top ? (f16 ? 65536.0 : 0x1p128) : (f16 ? ref_f16((uint16_t)(b + 1)) : ref_bf16((uint16_t)(b + 1)));
        double mid = (a + c) / 2, seq[4] = {a, mid, nextafter(mid, INFINITY), nextafter(mid, 0)};
        for (int k = 0; k < 4; k++) {
            v[n++] = (b & 1) ? -seq[k] : seq[k];
            if (b % 97 == (uint32_t)k) /* a rare value now and then, at drifting positions */
                v[n++] = extra[(b / 97) % (sizeof extra / sizeof extra[0])];
        }
    }
    lsc_narrowing loss, want = {0, 0, 0};
    ck_assert_int_eq(lsc_dtype_from_double_loss(f16 ? LSC_DT_F16 : LSC_DT_BF16, v, n, h, &loss), LSC_OK);
    for (size_t i = 0; i < n; i++) {
        uint16_t s = f16 ? lsc_f64_to_f16(v[i]) : lsc_f64_to_bf16(v[i]);
        ck_assert_msg(h[i] == s, "%s buffer element %zu (%a) gives 0x%04x, scalar 0x%04x", f16 ? "F16" : "BF16", i,
                      v[i], h[i], s);
        double back = f16 ? ref_f16(s) : ref_bf16(s);
        want.overflows += isinf(back) && isfinite(v[i]);
        want.flushed += back == 0 && v[i] != 0;
        want.subnormal += (s & top) == 0 && back != 0 && back != v[i];
    }
    ck_assert_uint_eq(loss.overflows, want.overflows);
    ck_assert_uint_eq(loss.flushed, want.flushed);
    ck_assert_uint_eq(loss.subnormal, want.subnormal);
    ck_assert_uint_gt(want.overflows, 0);
    ck_assert_uint_gt(want.flushed, 0);
    ck_assert_uint_gt(want.subnormal, 0);
    free(v);
    free(h);
}

START_TEST(test_buffer_matches_scalar)
{
    check_buffer_matches_scalar(0);
    check_buffer_matches_scalar(1);
    /* F32: the hardware conversion, with its losses counted per block */
    const double w[] = {1.0, 1e-40, 1e-50, 3.5e38, 1e-45, -0.0, NAN, 0.1};
    float f[8 * 300];
    double big[8 * 300];
    for (int i = 0; i < 8 * 300; i++)
        big[i] = w[i % 8];
    lsc_narrowing loss;
    ck_assert_int_eq(lsc_dtype_from_double_loss(LSC_DT_F32, big, 8 * 300, f, &loss), LSC_OK);
    ck_assert_uint_eq(loss.overflows, 300);
    ck_assert_uint_eq(loss.flushed, 300);   /* 1e-50 */
    ck_assert_uint_eq(loss.subnormal, 600); /* 1e-40 and 1e-45 are not exact in float */
    for (int i = 0; i < 8 * 300; i++)
        ck_assert(memcmp(&f[i], &(float){(float)big[i]}, 4) == 0 || (isnan(f[i]) && isnan(big[i])));
}
END_TEST

/* The buffer decode of BF16 takes four values at a time: every bit pattern, at every start offset and
 * tail length, must give the bits the element-wise decode gives (NaNs as NaNs of the same sign). */
START_TEST(test_bf16_buffer_decode_all_patterns)
{
    enum { N = 65536 + 7 };
    unsigned char *raw = malloc(2 * N + 1);
    double *out = malloc(N * sizeof(double));
    ck_assert(raw && out);
    for (size_t i = 0; i < N; i++) {
        uint16_t b = (uint16_t)(i * 40503u); /* odd multiplier: every pattern, in a scrambled order */
        memcpy(raw + 1 + 2 * i, &b, 2);
    }
    for (size_t start = 0; start < 4; start++)
        for (size_t len = N - start - 3; len <= N - start; len++) {
            ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_BF16, raw + 1 + 2 * start, len, out), LSC_OK);
            for (size_t i = 0; i < len; i++) {
                uint16_t b;
                memcpy(&b, raw + 1 + 2 * (start + i), 2);
                double want = lsc_bf16_to_f32(b);
                ck_assert_msg(memcmp(&out[i], &want, sizeof want) == 0 || (isnan(out[i]) && isnan(want) &&
                                                                            !!signbit(out[i]) == !!signbit(want)),
                              "0x%04x at %zu (start %zu, len %zu) decodes to %a, want %a", b, i, start, len, out[i],
                              want);
            }
        }
    free(raw);
    free(out);
}
END_TEST

/* The BF16 buffer path narrows through float (dtype.c: exact except where the float lands on a bf16
 * midpoint, which goes the scalar way). Against lsc_f64_to_bf16 and the loss rule, at every position of a
 * group of 8, into an unaligned buffer, with a tail: values that float rounds onto a midpoint from up to
 * half a float ulp away (and just past that), float ties next to midpoints, the float and bf16 subnormal
 * ranges, double subnormals, the overflow threshold 0x1.ffp127 and its neighbours, DBL_MAX, zeros, Inf,
 * NaNs with quiet and signalling payloads, and random bit patterns over every exponent. Decoding: every
 * bf16 pattern, unaligned, against lsc_bf16_to_f32. */
static size_t push_near_midpoints(double *v, size_t n, double mid, double fulp)
{
    const double d[] = {0, fulp / 4, fulp / 2 - fulp / 1024, fulp / 2, fulp / 2 + fulp / 1024, fulp, 1.5 * fulp};
    for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
        v[n++] = mid + d[k];
        v[n++] = mid - d[k];
        v[n++] = -(mid + d[k]);
    }
    v[n++] = nextafter(mid, INFINITY);
    v[n++] = nextafter(mid, 0);
    return n;
}

START_TEST(test_bf16_buffer_float_route)
{
    size_t cap = (size_t)0x7f80 * 24 + 300000, n = 0;
    double *v = malloc(cap * sizeof *v);
    unsigned char *h = malloc(2 * cap + 1);
    ck_assert(v && h);
    for (uint32_t b = 0; b < 0x7f80; b += (b < 0x200 || b > 0x7e00) ? 1 : 7) {
        double a = ref_bf16((uint16_t)b), c = b + 1 == 0x7f80 ? 0x1p128 : ref_bf16((uint16_t)(b + 1)), mid = (a + c) / 2;
        int e;
        frexp(mid, &e);
        double fulp = e - 24 < -149 ? 0x1p-149 : ldexp(1.0, e - 24); /* the float spacing at mid */
        n = push_near_midpoints(v, n, mid, fulp);
    }
    const double sp[] = {0.0, -0.0, 4.9e-324, -2.2e-308, 0x1p-149, 0x1p-150, 0x1.8p-150, 0x1p-126, 0x1.fep-127,
                         0x1.ffp-127, 0x1.ff8p-127, 0x1p-133, 0x1p-134, 0x1.8p-134, 0x1p-135, 0x1.ffp127,
                         nextafter(0x1.ffp127, 0), nextafter(0x1.ffp127, INFINITY), 0x1.fep127, FLT_MAX,
                         0x1.fffffefp127, 0x1p128, DBL_MAX, -DBL_MAX, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++)
        for (int pos = 0; pos < 8; pos++) { /* at each lane, among ordinary values */
            for (int q = 0; q < 8; q++)
                v[n++] = q == pos ? sp[k] : 0.75 + q;
        }
    const uint64_t nans[] = {0x7ff8000000000000u, 0x7ff0000000000001u, 0xfff4000000000000u, 0x7ffc0de000000001u,
                             0xfff0000020000000u};
    for (size_t k = 0; k < sizeof nans / sizeof nans[0]; k++)
        memcpy(&v[n++], &nans[k], 8);
    uint64_t x = 0x9e3779b97f4a7c15u;
    while (n + 1 < cap) { /* random patterns: half with any exponent, half near the bf16 range */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t u = x;
        if (x & 1)
            u = (u & 0x800fffffffffffffu) | ((uint64_t)(1023 - 160 + (x >> 53) % 300) << 52);
        memcpy(&v[n++], &u, 8);
    }
    for (size_t off = 0; off < 8; off += 3) { /* starting lane and length both vary */
        size_t m = n - off - (off ? 5 : 0);
        lsc_narrowing loss, want = {0, 0, 0};
        ck_assert_int_eq(lsc_dtype_from_double_loss(LSC_DT_BF16, v + off, m, h + 1, &loss), LSC_OK);
        for (size_t i = 0; i < m; i++) {
            double d = v[off + i];
            uint16_t s = lsc_f64_to_bf16(d), g;
            memcpy(&g, h + 1 + 2 * i, 2);
            ck_assert_msg(g == s, "element %zu (%a) gives 0x%04x, scalar 0x%04x", off + i, d, g, s);
            double back = ref_bf16(s);
            want.overflows += isinf(back) && isfinite(d);
            want.flushed += back == 0 && d != 0;
            want.subnormal += (s & 0x7f80) == 0 && back != 0 && back != d;
        }
        ck_assert_uint_eq(loss.overflows, want.overflows);
        ck_assert_uint_eq(loss.flushed, want.flushed);
        ck_assert_uint_eq(loss.subnormal, want.subnormal);
    }
    for (uint32_t i = 0; i < 65536; i++) { /* decoding: every pattern, unaligned */
        uint16_t b = (uint16_t)i;
        memcpy(h + 1 + 2 * i, &b, 2);
    }
    ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_BF16, h + 1, 65536, v), LSC_OK);
    for (uint32_t i = 0; i < 65536; i++) {
        double f = lsc_bf16_to_f32((uint16_t)i);
        ck_assert_msg(memcmp(&v[i], &f, 8) == 0 || (isnan(v[i]) && isnan(f) && signbit(v[i]) == signbit(f)),
                      "0x%04x decodes to %a, want %a", i, v[i], f);
    }
    free(v);
    free(h);
}
END_TEST

/* lsc_dtype_to_float: every BF16 and F16 pattern, from an unaligned buffer, with tails of every length
 * up to a group of 8, gives the bits of the element-wise decode; F32 is copied; other dtypes refused. */
START_TEST(test_to_float_all_patterns)
{
    enum { N = 65536 + 7 };
    unsigned char *raw = malloc(2 * N + 1);
    float *out = malloc(N * sizeof(float));
    ck_assert(raw && out);
    for (size_t i = 0; i < N; i++) {
        uint16_t b = (uint16_t)(i * 40503u);
        memcpy(raw + 1 + 2 * i, &b, 2);
    }
    for (int f16 = 0; f16 < 2; f16++)
        for (size_t len = N - 7; len <= N; len++) {
            ck_assert_int_eq(lsc_dtype_to_float(f16 ? LSC_DT_F16 : LSC_DT_BF16, raw + 1, len, out), LSC_OK);
            for (size_t i = 0; i < len; i++) {
                uint16_t b;
                memcpy(&b, raw + 1 + 2 * i, 2);
                float want = f16 ? lsc_f16_to_f32(b) : lsc_bf16_to_f32(b);
                ck_assert_msg(memcmp(&out[i], &want, sizeof want) == 0 || (isnan(out[i]) && isnan(want)),
                              "%s 0x%04x at %zu (len %zu) gives %a, want %a", f16 ? "F16" : "BF16", b, i, len,
                              (double)out[i], (double)want);
            }
        }
    const float f32[3] = {1.5f, -0.0f, 0x1p-149f};
    memcpy(raw + 1, f32, sizeof f32);
    ck_assert_int_eq(lsc_dtype_to_float(LSC_DT_F32, raw + 1, 3, out), LSC_OK);
    ck_assert(memcmp(out, f32, sizeof f32) == 0);
    ck_assert_int_eq(lsc_dtype_to_float(LSC_DT_F64, raw, 1, out), LSC_ERR_UNSUPPORTED);
    free(raw);
    free(out);
}
END_TEST

START_TEST(test_overflow_count)
{
    const double v[] = {65504.0, 65519.99, 65520.0, 1e6, -1e6, INFINITY, NAN, 1e-30, -65520.0};
    size_t n = sizeof v / sizeof v[0], over = 0;
    uint16_t h[sizeof v / sizeof v[0]];
    ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_F16, v, n, h, &over), LSC_OK);
    ck_assert_uint_eq(over, 4); /* 65520, 1e6, -1e6, -65520; not Inf, not NaN */
    ck_assert_uint_eq(h[0], 0x7bff);
    ck_assert_uint_eq(h[1], 0x7bff);
    ck_assert_uint_eq(h[2], 0x7c00);
    ck_assert_uint_eq(h[4], 0xfc00);
    ck_assert(f16_is_nan(h[6]));
    ck_assert_uint_eq(h[7], 0);

    const double w[] = {3.39e38, 3.4e38, 1e39, -1e300, DBL_MAX, 1.0};
    ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_BF16, w, 6, h, &over), LSC_OK);
    ck_assert_uint_eq(over, 4); /* bf16 max is 3.3895e38; 3.4e38 is past the midpoint 3.3961e38 */
    ck_assert_uint_eq(h[0], 0x7f7f);
    ck_assert_uint_eq(h[1], 0x7f80);

    float f[6];
    ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_F32, w, 6, f, &over), LSC_OK);
    ck_assert_uint_eq(over, 3); /* 1e39, -1e300, DBL_MAX */
    ck_assert(f[0] == 3.39e38f && isinf(f[2]) && f[5] == 1.0f);
}
END_TEST

START_TEST(test_scalars)
{
    double x = 0;
    unsigned char b[9];
    const unsigned char i64[] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; /* -2 */
    memcpy(b + 1, i64, 8);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_I64, b + 1, &x), LSC_OK);
    ck_assert(x == -2.0);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_U64, b + 1, &x), LSC_OK);
    ck_assert(x == 18446744073709551614.0);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_I32, b + 1, &x), LSC_OK);
    ck_assert(x == -2.0);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_U32, b + 1, &x), LSC_OK);
    ck_assert(x == 4294967294.0);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_I16, b + 1, &x), LSC_OK);
    ck_assert(x == -2.0);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_U16, b + 1, &x), LSC_OK);
    ck_assert(x == 65534.0);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_I8, b + 1, &x), LSC_OK);
    ck_assert(x == -2.0);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_U8, b + 1, &x), LSC_OK);
    ck_assert(x == 254.0);
    const unsigned char i32[] = {0x20, 0x00, 0x00, 0x00}; /* 32 */
    memcpy(b + 1, i32, 4);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_I32, b + 1, &x), LSC_OK);
    ck_assert(x == 32.0);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_BOOL, b + 1, &x), LSC_OK);
    ck_assert(x == 1.0);
    b[1] = 0;
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_BOOL, b + 1, &x), LSC_OK);
    ck_assert(x == 0.0);
    const unsigned char f16[] = {0x00, 0x4c}; /* 16.0 */
    memcpy(b + 1, f16, 2);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_F16, b + 1, &x), LSC_OK);
    ck_assert(x == 16.0);
    const unsigned char bf[] = {0x00, 0x41}; /* 8.0 */
    memcpy(b + 1, bf, 2);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_BF16, b + 1, &x), LSC_OK);
    ck_assert(x == 8.0);
    const unsigned char f32[] = {0x00, 0x00, 0x00, 0x3f}; /* 0.5 */
    memcpy(b + 1, f32, 4);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_F32, b + 1, &x), LSC_OK);
    ck_assert(x == 0.5);
    const unsigned char f64[] = {0, 0, 0, 0, 0, 0, 0x24, 0x40}; /* 10.0 */
    memcpy(b + 1, f64, 8);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_F64, b + 1, &x), LSC_OK);
    ck_assert(x == 10.0);
    /* 8-bit floats: E5M2 0x3c = 1.0, 0x7b = 57344; E4M3 0x38 = 1.0, 0x7e = 448, 0x01 = 2^-9, 0x7f NaN */
    const struct { lsc_dtype dt; unsigned char v; double want; } f8[] = {
        {LSC_DT_F8_E5M2, 0x3c, 1.0}, {LSC_DT_F8_E5M2, 0x7b, 57344.0}, {LSC_DT_F8_E5M2, 0xc0, -2.0},
        {LSC_DT_F8_E5M2, 0x01, 0x1p-16}, {LSC_DT_F8_E4M3, 0x38, 1.0}, {LSC_DT_F8_E4M3, 0x7e, 448.0},
        {LSC_DT_F8_E4M3, 0x01, 0x1p-9}, {LSC_DT_F8_E4M3, 0xb0, -0.5},
    };
    for (size_t i = 0; i < sizeof f8 / sizeof f8[0]; i++) {
        ck_assert_int_eq(lsc_dtype_scalar_to_double(f8[i].dt, &f8[i].v, &x), LSC_OK);
        ck_assert_msg(x == f8[i].want, "f8 case %zu: %g", i, x);
    }
    unsigned char nan8 = 0x7f;
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_F8_E4M3, &nan8, &x), LSC_OK);
    ck_assert(isnan(x));
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_C64, b, &x), LSC_ERR_UNSUPPORTED);
    ck_assert_int_eq(lsc_dtype_scalar_to_double(LSC_DT_INVALID, b, &x), LSC_ERR_UNSUPPORTED);
}
END_TEST

/* Issue #13.17: narrowing counts what it loses besides overflows: non-zero values flushed to zero and
 * values rounded into the subnormal range (an exactly representable subnormal is not a loss). */
START_TEST(test_narrowing_loss)
{
    unsigned char buf[64];
    lsc_narrowing l;
    const double v[9] = {1e-40, 3e-5, 0x1p-20, 1.0, 1e-9, 0.0, -0.0, NAN, 1e6};
    ck_assert_int_eq(lsc_dtype_from_double_loss(LSC_DT_F16, v, 9, buf, &l), LSC_OK);
    ck_assert_uint_eq(l.overflows, 1); /* 1e6 */
    ck_assert_uint_eq(l.flushed, 2);   /* 1e-40 and 1e-9: below half of 2^-24 */
    ck_assert_uint_eq(l.subnormal, 1); /* 3e-5 < 2^-14, not a multiple of 2^-24; 2^-20 is exact */
    ck_assert_int_eq(lsc_dtype_from_double_loss(LSC_DT_BF16, v, 9, buf, &l), LSC_OK);
    ck_assert(l.overflows == 0 && l.flushed == 0 && l.subnormal == 1); /* 1e-40 < 2^-126 */
    const double w[4] = {1e-40, 1e-50, 0x1p-149, 0x1p-130};
    ck_assert_int_eq(lsc_dtype_from_double_loss(LSC_DT_F32, w, 4, buf, &l), LSC_OK);
    ck_assert(l.overflows == 0 && l.flushed == 1 && l.subnormal == 1); /* 2^-149 and 2^-130 are exact */
    ck_assert_int_eq(lsc_dtype_from_double_loss(LSC_DT_F64, w, 4, buf, &l), LSC_OK);
    ck_assert(l.overflows == 0 && l.flushed == 0 && l.subnormal == 0);
    /* the bytes are those of the plain conversion */
    unsigned char ref[64];
    size_t over;
    ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_F16, v, 9, ref, &over), LSC_OK);
    ck_assert_int_eq(lsc_dtype_from_double_loss(LSC_DT_F16, v, 9, buf, NULL), LSC_OK);
    ck_assert_mem_eq(buf, ref, 18);
    ck_assert_uint_eq(over, 1);

    char s[200];
    lsc_narrowing a = {0, 16, 0}, b = {0, 1, 2}, c = {0, 0, 3}, none = {4, 0, 0};
    ck_assert_int_eq(lsc_narrowing_describe(&a, 16, LSC_DT_F16, s, sizeof s), 1);
    ck_assert_str_eq(s, "16 of 16 values flushed to zero in F16");
    ck_assert_int_eq(lsc_narrowing_describe(&b, 9, LSC_DT_F16, s, sizeof s), 1);
    ck_assert_str_eq(s, "1 of 9 values flushed to zero and 2 rounded to subnormals (precision lost) in F16");
    ck_assert_int_eq(lsc_narrowing_describe(&c, 9, LSC_DT_BF16, s, sizeof s), 1);
    ck_assert_str_eq(s, "3 of 9 values rounded to subnormals (precision lost) in BF16");
    ck_assert_int_eq(lsc_narrowing_describe(&none, 9, LSC_DT_F16, s, sizeof s), 0);
    ck_assert_str_eq(s, "");
}
END_TEST

static Suite *dtype_suite(void)
{
    Suite *s = suite_create("dtype");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_f16_all_patterns);
    tcase_add_test(tc, test_bf16_all_patterns);
    tcase_add_test(tc, test_known_values);
    tcase_add_test(tc, test_f16_midpoints);
    tcase_add_test(tc, test_bf16_midpoints);
    tcase_add_test(tc, test_f32_f16_agree);
    tcase_add_test(tc, test_double_rounding);
    tcase_add_test(tc, test_buffers_unaligned);
    tcase_add_test(tc, test_overflow_count);
    tcase_add_test(tc, test_buffer_matches_scalar);
    tcase_add_test(tc, test_bf16_buffer_decode_all_patterns);
    tcase_add_test(tc, test_to_float_all_patterns);
    tcase_add_test(tc, test_narrowing_loss);
    tcase_add_test(tc, test_scalars);
    tcase_add_test(tc, test_bf16_buffer_float_route);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dtype_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
