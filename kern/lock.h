/*
 * Spin locks (docs/smp.md, "Locking"). The kernel runs with interrupts off,
 * so a CPU spinning for a lock cannot take the IPI of the CPU that holds it:
 * every spin serves this CPU's pending cross-CPU call (xcall.h) between
 * `pause`s, as seL4's lock acquisition does, and a holder may wait for
 * another CPU's answer without deadlock.
 *
 * A ticket lock: CPUs get it in the order they asked. Each lock has a level;
 * a CPU takes locks in increasing level only (checked in debug builds: the
 * lock-order rule), and never one it holds. A CPU that has spun for
 * LOCK_REPORT_MS says which lock, who holds it and since where (and keeps
 * spinning). Counters per lock: acquisitions and contended ones always;
 * spin and hold times in TSC ticks with `lockstat=on`.
 */
#ifndef KEEL_LOCK_H
#define KEEL_LOCK_H

#include "arch/x86_64/percpu.h"
#include "tlb.h"
#include "types.h"

#define LOCK_REPORT_MS 2000

struct lock_stats {
	u64 acquired, contended;  /* contended: had to spin */
	u32 reports;              /* spins that went past LOCK_REPORT_MS */
	u64 spin_ticks;           /* lockstat=on: TSC ticks spent spinning */
	u64 hold_ticks, hold_max; /* lockstat=on: TSC ticks held, total and longest */
};

struct spinlock {
	u32 next;    /* the next ticket to hand out */
	u32 serving; /* the ticket that holds the lock */
	u32 holder;  /* 1 + the holding CPU's index; 0: free */
	u8 level;    /* the lock-order rule: take in increasing level */
	const char *name;
	const void *held_at; /* where the holder took it (a return address) */
	u64 held_since;      /* lockstat=on: TSC at the acquisition */
	struct lock_stats stats;
};

#define SPINLOCK_INIT(nm, lvl) { .level = (lvl), .name = (nm) }

/* The levels. The kernel lock comes first; the console's is a leaf. */
enum lock_level {
	LOCK_LEVEL_KERNEL = 1,
	LOCK_LEVEL_LEAF = 8,
};

void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);

/* The big kernel lock: everything shared in the kernel is touched under it
 * (what runs without it is listed in docs/smp.md). */
extern struct spinlock kernel_lock;
/* With one CPU up there is no one to exclude: nothing is taken (as Linux's
 * UP kernels drop their spin locks), and the single-CPU paths cost what
 * they did before SMP. */
static inline void kernel_lock_take(void)
{
	if (cpus_up > 1)
		spin_lock(&kernel_lock);
}
/* No CPU lets the kernel lock go with a TLB shootdown owed (tlb.h). */
static inline void kernel_lock_drop(void)
{
	if (cpus_up > 1) {
		tlb_sync();
		spin_unlock(&kernel_lock);
	}
}

extern bool lockstat_on;

/* One line of a lock's statistics on the console. */
void lock_report(const struct spinlock *l);

#endif
