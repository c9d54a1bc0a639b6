/* test_rng.h: the seeded random numbers the engine suites draw their test matrices from. Set rng_state
 * before drawing (each test picks its own seed), so every run sees the same data. Test support only: a
 * global-state front end to the engine's one stream (engine/rng.h). */
#ifndef LSC_TEST_RNG_H
#define LSC_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>

extern uint64_t rng_state;

uint64_t splitmix64(void);      /* the next 64 bits of the splitmix64 stream */
double uniform01(void);         /* uniform in (0, 1), 53 random bits */
double gauss(void);             /* standard normal (Box-Muller from two uniform01 draws) */
double *gauss_matrix(size_t n); /* n standard normals, malloc'ed (the test fails on out of memory) */

#endif
