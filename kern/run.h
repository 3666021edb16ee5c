/*
 * The boot's run of environments, and its verdict: what must be back when
 * every env has ended (the free frames and the kernel heap's live objects,
 * taken before the first env was made), how many ended badly, and the QEMU
 * exit that reports it.
 */
#ifndef KEEL_RUN_H
#define KEEL_RUN_H

#include "heap.h"
#include "types.h"

struct run_baseline {
	u64 frames_free;
	struct heap_stats heap;
};
void run_baseline_take(struct run_baseline *b);

/* Called once all the boot's envs are created, with the baseline taken
 * before the first was. */
void run_begin(u64 started, u64 failed_to_start, const struct run_baseline *before);

/* The boot's verdict is success only if the number of boot envs that ended
 * badly is this (0 unless a boot test says otherwise) and nothing leaked. */
void run_expect_failures(u64 n);

/* Every env has ended: report, check for leaks, exit QEMU with the verdict
 * (or finish the boot test that handed its envs to the scheduler). */
__noreturn void run_end(void);

#endif
