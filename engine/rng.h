/* rng.h: the one seeded random stream of the project (splitmix64), shared by the engine's randomised
 * kernels (DARE keys, randomized SVD, training initialisation), the tests, the benchmarks and the sample
 * generator, so every random number lorascope uses is reproducible from a seed and written once.
 *
 * Stream: s += 0x9E3779B97F4A7C15, output = mix64(s) (splitmix64's finaliser). Pure arithmetic: no I/O,
 * no global state (the caller owns the state). */
#ifndef LSC_RNG_H
#define LSC_RNG_H

#include <stdint.h>

#define LSC_RNG_GOLDEN 0x9E3779B97F4A7C15ull /* the stream's increment (2^64 / golden ratio) */

typedef struct lsc_rng {
    uint64_t s; /* state: set it to the seed */
} lsc_rng;

/* splitmix64's finaliser: a bijective mix of 64 bits (also used to derive keys from a seed). */
static inline uint64_t lsc_rng_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The next 64 bits of the stream at *state (advances it). */
static inline uint64_t lsc_rng_next_state(uint64_t *state)
{
    return lsc_rng_mix64(*state += LSC_RNG_GOLDEN);
}

static inline uint64_t lsc_rng_next(lsc_rng *g) { return lsc_rng_next_state(&g->s); }

/* Uniform in [0, 1) with 53 random bits. */
static inline double lsc_rng_uniform(lsc_rng *g) { return (double)(lsc_rng_next(g) >> 11) * 0x1.0p-53; }

/* Uniform in (0, 1) with 53 random bits (never 0: safe under log). */
static inline double lsc_rng_uniform_open(lsc_rng *g)
{
    return ((double)(lsc_rng_next(g) >> 11) + 0.5) * 0x1.0p-53;
}

/* A standard normal: Box-Muller from two lsc_rng_uniform_open draws (the cosine branch). */
double lsc_rng_gauss(lsc_rng *g);

#endif
