/* test_rng.c: see test_rng.h. */
#include "test_rng.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

uint64_t rng_state;

uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double uniform01(void)
{
    return ((double)(splitmix64() >> 11) + 0.5) * 0x1.0p-53;
}

double gauss(void)
{
    double u = uniform01(), v = uniform01();
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

double *gauss_matrix(size_t n)
{
    double *m = malloc((n ? n : 1) * sizeof(double));
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < n; i++)
        m[i] = gauss();
    return m;
}
