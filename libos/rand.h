/* A deterministic, seeded PRNG (xoshiro256**, seeded through splitmix64):
 * the same seed gives the same sequence on every run and every machine. */
#ifndef LIBOS_RAND_H
#define LIBOS_RAND_H

#include <stdint.h>

struct keel_rand {
	uint64_t s[4];
};

void rand_seed(struct keel_rand *r, uint64_t seed);
uint64_t rand_next(struct keel_rand *r);
/* Uniform in [0, n) (n > 0), without modulo bias. */
uint64_t rand_below(struct keel_rand *r, uint64_t n);
/* Uniform in [lo, hi]. */
static inline uint64_t rand_range(struct keel_rand *r, uint64_t lo, uint64_t hi)
{
	return lo + rand_below(r, hi - lo + 1);
}

#endif
