/*
 * The kernel scheduler: round-robin over runnable environments in time
 * slices (Meson option timeslice_us, command line timeslice_us=N). Yield
 * gives up the rest of a slice. The kernel itself is never preempted.
 */
#ifndef KEEL_SCHED_H
#define KEEL_SCHED_H

#include "heap.h"
#include "types.h"

struct env;

void sched_init(u64 slice_ns);
void sched_add(struct env *e);    /* append to the run queue */
void sched_remove(struct env *e); /* if queued */
void sched_add_front(struct env *e); /* to run next */

/* Run e now for the rest of the current slice, given up by the env that
 * leaves the CPU (directed yield, protected control transfer). */
__noreturn void sched_run_donated(struct env *e);

/* Run the next runnable env (the current one goes to the back if still
 * runnable). With none left, report and end the boot. */
__noreturn void sched_next(void);

/* The timer interrupt came from Ring 3 while `e` ran: preempt if its slice is over. */
__noreturn void sched_tick(struct env *e);

/* Has the running env's slice ended? */
bool sched_slice_over(void);

/* A new slice starts for the env being dispatched. */
void sched_start_slice(void);

/* What must be back when every env has ended: the free frames and the
 * kernel heap's live objects, taken before the first env is created. */
struct sched_baseline {
	u64 frames_free;
	struct heap_stats heap;
};
void sched_baseline_take(struct sched_baseline *b);

/* Called once all the boot's envs are created, with the baseline taken
 * before the first was. */
void sched_begin(u64 started, u64 failed_to_start, const struct sched_baseline *before);

/* An env ended badly (killed or non-zero exit). The boot's verdict is
 * success only if the number of such endings is the expected one (0 unless a
 * boot test says otherwise) and nothing leaked. */
struct env;
void sched_note_failure(const struct env *e); /* a boot env failed (spawned ones do not count) */
void sched_note_started(void); /* an env spawned at run time */
void sched_expect_failures(u64 n);

extern u64 sched_slice_ns;

#endif
