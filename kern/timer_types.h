/* A kernel timer, as data (timer.h has what is done with it): here so that
 * the per-CPU data can hold one without depending on the timer code. */
#ifndef KEEL_TIMER_TYPES_H
#define KEEL_TIMER_TYPES_H

#include "types.h"

struct timer {
	u64 deadline;
	void (*fire)(struct timer *t); /* runs in the interrupt, may re-arm */
	struct timer *next;
	bool armed;
	u32 cpu; /* the CPU whose queue holds it, while armed */
};

#endif
