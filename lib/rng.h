/* Private deterministic random numbers (splitmix64 seeding, xoshiro256**). */
#ifndef MMOE_RNG_H
#define MMOE_RNG_H

#include <stdint.h>

typedef struct mmoe__rng {
    uint64_t s[4];
} mmoe__rng;

/* Seed from (seed, stream): distinct streams give independent sequences. */
void mmoe__rng_seed(mmoe__rng *r, uint64_t seed, uint64_t stream);
uint64_t mmoe__rng_next(mmoe__rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double mmoe__rng_uniform(mmoe__rng *r);
/* Standard normal (Marsaglia polar method). */
double mmoe__rng_normal(mmoe__rng *r);

#endif
