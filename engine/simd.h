/* simd.h: which vector instruction set a kernel with its own variants runs (engine/wx32.c, wtx64.c): one
 * CPU detection, one name table, and a variant slot per kernel that tests can force.
 *
 * A kernel's variants must give the same bits (each kernel fixes its per-element order of fused
 * multiply-adds and vectorises only across independent outputs), so the choice changes speed, never
 * results: a sketch cached on one machine serves another. Pure compute; no I/O.
 */
#ifndef LSC_SIMD_H
#define LSC_SIMD_H

#include <stdatomic.h>

typedef enum lsc_simd {
    LSC_SIMD_AUTO = 0,  /* the best the CPU supports */
    LSC_SIMD_PORTABLE,  /* C99 fma()/fmaf(), any CPU */
    LSC_SIMD_AVX2,      /* AVX2 + FMA (x86-64) */
    LSC_SIMD_AVX512,    /* AVX-512F (x86-64) */
    LSC_SIMD_COUNT
} lsc_simd;

/* The widest variant this CPU runs: AVX-512F, else AVX2 with FMA, else portable. Never AUTO. */
lsc_simd lsc_simd_best(void);

/* 1 when this CPU runs variant v (AUTO and PORTABLE always), 0 otherwise (and for values out of range). */
int lsc_simd_supported(lsc_simd v);

/* "auto", "portable", "avx2", "avx512"; "?" for anything else. */
const char *lsc_simd_name(lsc_simd v);

/* The variant held in a kernel's slot (a static atomic_int starting at 0): chosen by lsc_simd_best at the
 * first call (racing first callers choose the same). Never AUTO. */
lsc_simd lsc_simd_slot_get(atomic_int *slot);

/* Hold variant v (AUTO: the best) in the slot for every later product. -1 (slot unchanged) when v is not
 * supported by this CPU. Affects all threads; call it while no product of that kernel runs. */
int lsc_simd_slot_force(atomic_int *slot, lsc_simd v);

#endif
