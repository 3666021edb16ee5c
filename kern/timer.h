/*
 * The kernel timer queues, one per CPU: deadlines in kernel-clock nanoseconds,
 * kept sorted, driving that CPU's one-shot local APIC timer for the earliest. Environments' time
 * slices and their own deadlines are timers here. A callback never runs
 * before its deadline (the interrupt compares the clock, whatever the LAPIC's
 * rounding); callbacks run in deadline order, equal deadlines in the order
 * they were armed (ktest timer_queue_fires_on_time).
 */
#ifndef KEEL_TIMER_H
#define KEEL_TIMER_H

#include "timer_types.h"
#include "types.h"


void timer_arm(struct timer *t, u64 deadline_ns);
void timer_cancel(struct timer *t);

/* The timer vector: acknowledge, fire what is due, program the next. */
void timer_interrupt(void);

/* The earliest armed deadline on any CPU (0: none). */
u64 timer_next_deadline(void);

/* Timers armed now, on every CPU. Each env owns one (its deadline) and the
 * scheduler one per CPU:
 * the queue never holds more than that, however often they are re-armed. */
u64 timer_queue_length(void);

/* Timer interrupts taken, and LAPIC timer writes made, on every CPU. */
extern u64 timer_interrupts, timer_writes;

#endif
