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

/* On a function whose loops GCC vectorises by itself (vector extensions, constant trip counts): build it
 * twice, plain x86-64 and AVX2, the loader picking one per CPU (GCC's target_clones, which needs ifunc:
 * GCC on x86-64 Linux; elsewhere the plain build alone). For code whose lanes do the same operations in
 * the same order either way, so the bits never depend on the clone; no FMA is enabled by "avx2". */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LSC_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LSC_AVX2_CLONES
#endif

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
