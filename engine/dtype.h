/* dtype.h: element types as stored in adapter files, and exact conversions between them.
 *
 * Files keep their dtype on disk; the engine computes in double. Conversions are exact where the
 * target can hold the value: f16/bf16 -> f32/f64 exact (subnormals, Inf, NaN included); f32 -> bf16
 * and f32/f64 -> f16 round to nearest even, NaN stays NaN, finite values beyond the target's range
 * become Inf and are counted as overflows so callers can report them. All buffers are little-endian
 * byte arrays that may be unaligned. Pure C, no I/O.
 */
#ifndef LSC_DTYPE_H
#define LSC_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* code, safetensors name, size in bytes (0: unknown size / unsupported for data) */
#define LSC_DTYPE_LIST(X)        \
    X(LSC_DT_F64, "F64", 8)      \
    X(LSC_DT_F32, "F32", 4)      \
    X(LSC_DT_F16, "F16", 2)      \
    X(LSC_DT_BF16, "BF16", 2)    \
    X(LSC_DT_I64, "I64", 8)      \
    X(LSC_DT_I32, "I32", 4)      \
    X(LSC_DT_I16, "I16", 2)      \
    X(LSC_DT_I8, "I8", 1)        \
    X(LSC_DT_U8, "U8", 1)        \
    X(LSC_DT_U16, "U16", 2)      \
    X(LSC_DT_U32, "U32", 4)      \
    X(LSC_DT_U64, "U64", 8)      \
    X(LSC_DT_BOOL, "BOOL", 1)    \
    X(LSC_DT_F8_E4M3, "F8_E4M3", 1) \
    X(LSC_DT_F8_E5M2, "F8_E5M2", 1) \
    X(LSC_DT_C64, "C64", 8)

typedef enum {
#define LSC_X_DT(code, name, size) code,
    LSC_DTYPE_LIST(LSC_X_DT)
#undef LSC_X_DT
    LSC_DT_COUNT,
    LSC_DT_INVALID = -1
} lsc_dtype;

/* safetensors spelling ("BF16"); "?" for an invalid value. */
const char *lsc_dtype_name(lsc_dtype dt);

/* Parse a safetensors dtype name (case-sensitive, as the spec writes them); LSC_DT_INVALID if unknown. */
lsc_dtype lsc_dtype_parse(const char *name);

/* Bytes per element (F64 8, BF16 2 ...). */
size_t lsc_dtype_size(lsc_dtype dt);

/* Non-zero when lorascope can read tensor data of this dtype as numbers for LoRA factors
 * (F64, F32, F16, BF16). Integer dtypes are readable only as scalars (lsc_dtype_scalar_to_double). */
int lsc_dtype_is_float(lsc_dtype dt);

/* Scalar conversions of single values. */
float lsc_f16_to_f32(uint16_t h);
float lsc_bf16_to_f32(uint16_t b);
uint16_t lsc_f32_to_f16(float f);   /* round to nearest even; overflow -> +-Inf */
uint16_t lsc_f32_to_bf16(float f);  /* round to nearest even; NaN stays NaN (quiet) */
uint16_t lsc_f64_to_f16(double d);  /* correctly rounded from double (no double rounding) */
uint16_t lsc_f64_to_bf16(double d); /* correctly rounded from double */

/* Convert n elements of src (dtype `from`, little-endian bytes) into dst doubles.
 * from must be a float dtype; returns LSC_ERR_UNSUPPORTED otherwise. */
lsc_status lsc_dtype_to_double(lsc_dtype from, const void *src, size_t n, double *dst);

/* Convert n elements of src (F32, F16 or BF16, little-endian bytes) into dst floats, exactly (every
 * value of those dtypes is a float); LSC_ERR_UNSUPPORTED for any other dtype. */
lsc_status lsc_dtype_to_float(lsc_dtype from, const void *src, size_t n, float *dst);

/* Convert n doubles into dst bytes of dtype `to` (float dtypes only). Finite inputs that become
 * infinite are counted in *overflows (may be NULL). */
lsc_status lsc_dtype_from_double(lsc_dtype to, const double *src, size_t n, void *dst, size_t *overflows);

/* What a narrowing conversion lost, value by value: finite values that became infinite (overflows),
 * non-zero values that became zero (flushed), and values that landed in the target's subnormal range and
 * were rounded there, keeping fewer significant bits than a normal number of the target (subnormal).
 * Ordinary rounding of normal numbers is not a loss here; NaN and Inf convert as themselves. */
typedef struct lsc_narrowing {
    size_t overflows, flushed, subnormal;
} lsc_narrowing;

/* lsc_dtype_from_double that also counts into *loss (may be NULL) what the conversion lost. */
lsc_status lsc_dtype_from_double_loss(lsc_dtype to, const double *src, size_t n, void *dst, lsc_narrowing *loss);

/* One phrase for writers' warnings about flushed and subnormal values (overflows are errors there):
 * "12 of 16 values flushed to zero and 3 rounded to subnormals (precision lost) in F16". Writes "" and
 * returns 0 when nothing was flushed or rounded to a subnormal, else returns 1. */
int lsc_narrowing_describe(const lsc_narrowing *loss, size_t n, lsc_dtype to, char *buf, size_t cap);

/* Read one scalar of any numeric dtype (floats, signed/unsigned ints, BOOL) as double.
 * Used for kohya `alpha` tensors (F16, F32, BF16, I64 ...). */
lsc_status lsc_dtype_scalar_to_double(lsc_dtype from, const void *src, double *out);

#endif
