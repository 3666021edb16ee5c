/*
 * The kernel clock: nanoseconds since boot, from the TSC, whose rate is
 * measured at boot against the PIT. Under QEMU's -icount shift=0 the TSC
 * counts guest instructions at 1 GHz, so a "nanosecond" is an instruction.
 */
#ifndef KEEL_CLOCK_H
#define KEEL_CLOCK_H

#include "types.h"

extern u64 tsc_hz;

void clock_init(u64 tsc_rate);
u64 clock_ns(void);

/* The clock's definition, for Ring 3 (keel_upcall_area): ns = (rdtsc - base) * mult >> 32. */
void clock_params(u64 *tsc_base, u64 *mult);

/* (a << 32) / b without 128-bit division; a, b < 2^63, b != 0. */
u64 mult_frac32(u64 a, u64 b);

/* x * mult >> 32, in 128-bit arithmetic. */
static inline u64 mul_shift32(u64 x, u64 mult) { return (u64)(((unsigned __int128)x * mult) >> 32); }

#endif
