/* rng.c: see rng.h. Only the normal draw lives here (it needs libm); the rest is inline. */
#include "rng.h"

#include <math.h>

double lsc_rng_gauss(lsc_rng *g)
{
    double u = lsc_rng_uniform_open(g), v = lsc_rng_uniform_open(g);
    return sqrt(-2.0 * log(u)) * cos(2.0 * 3.14159265358979323846 * v);
}
