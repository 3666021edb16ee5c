/*
 * Fault injection, for tests only: `fail=frame:N` on the command line makes
 * the Nth frame allocation fail; `fail=heap:N` the Nth kernel heap allocation.
 * Several may be given, comma-separated (`fail=frame:3,heap:1`).
 * `fail=frame:rand:SEED:PM` makes each frame allocation fail with chance
 * PM/1000 from a PRNG seeded with SEED, once the boot's envs are made (heap
 * likewise).
 * Every caller of an allocator handles failure; these prove it.
 */
#ifndef KEEL_FAILPOINT_H
#define KEEL_FAILPOINT_H

#include "types.h"

enum failpoint {
	FAIL_FRAME,
	FAIL_HEAP,
	FAIL_KINDS,
};

/* Returns the number of malformed items (each reported). */
int failpoint_configure(const char *spec);

/* Count one call of this kind; true if it is the one chosen to fail.
 * Inline, on every allocation: with nothing configured, a count and a
 * test (failpoint_decide does the rest). */
extern u64 failpoint_count[FAIL_KINDS];
extern bool failpoint_configured;
bool failpoint_decide(enum failpoint kind, u64 n);
static inline bool failpoint_hit(enum failpoint kind)
{
	u64 n = ++failpoint_count[kind];
	return __builtin_expect(failpoint_configured, 0) && failpoint_decide(kind, n);
}

/* Random failures (KIND:rand:...) begin now: once the boot's envs are made. */
void failpoint_arm_random(void);
/* How many random failures were injected, of how many calls (if any armed). */
void failpoint_report(void);

/* Make the nth call of this kind from now fail (n >= 1). For boot tests. */
void failpoint_arm(enum failpoint kind, u64 n);

/* Calls of this kind so far, and failures injected so far (all kinds). */
u64 failpoint_calls(enum failpoint kind);
u64 failpoint_injected(void);

#endif
