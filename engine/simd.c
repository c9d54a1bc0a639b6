/* simd.c: CPU detection and the per-kernel variant slots (see simd.h). */
#include "simd.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define SIMD_X86 1
#endif

lsc_simd lsc_simd_best(void)
{
#ifdef SIMD_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return LSC_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return LSC_SIMD_AVX2;
#endif
    return LSC_SIMD_PORTABLE;
}

int lsc_simd_supported(lsc_simd v)
{
    if (v == LSC_SIMD_AUTO || v == LSC_SIMD_PORTABLE)
        return 1;
    if (v != LSC_SIMD_AVX2 && v != LSC_SIMD_AVX512)
        return 0;
    return lsc_simd_best() >= v; /* AVX-512F machines run the AVX2 + FMA variant too */
}

const char *lsc_simd_name(lsc_simd v)
{
    static const char *const names[LSC_SIMD_COUNT] = {"auto", "portable", "avx2", "avx512"};
    return (unsigned)v < LSC_SIMD_COUNT ? names[v] : "?";
}

lsc_simd lsc_simd_slot_get(atomic_int *slot)
{
    int v = atomic_load_explicit(slot, memory_order_relaxed);
    if (v == LSC_SIMD_AUTO) {
        v = (int)lsc_simd_best();
        atomic_store_explicit(slot, v, memory_order_relaxed);
    }
    return (lsc_simd)v;
}

int lsc_simd_slot_force(atomic_int *slot, lsc_simd v)
{
    if (!lsc_simd_supported(v))
        return -1;
    atomic_store_explicit(slot, (int)(v == LSC_SIMD_AUTO ? lsc_simd_best() : v), memory_order_relaxed);
    return 0;
}
