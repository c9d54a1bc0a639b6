/* test_rng.c: see test_rng.h. */
#include "test_rng.h"

#include <check.h>
#include <stdlib.h>

#include "rng.h"

uint64_t rng_state;

uint64_t splitmix64(void)
{
    return lsc_rng_next_state(&rng_state);
}

double uniform01(void)
{
    lsc_rng g = {rng_state};
    double u = lsc_rng_uniform_open(&g);
    rng_state = g.s;
    return u;
}

double gauss(void)
{
    lsc_rng g = {rng_state};
    double x = lsc_rng_gauss(&g);
    rng_state = g.s;
    return x;
}

double *gauss_matrix(size_t n)
{
    double *m = malloc((n ? n : 1) * sizeof(double));
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < n; i++)
        m[i] = gauss();
    return m;
}
