/* Ticket spin locks that serve cross-CPU calls while they spin (lock.h). */
#include "lock.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/xcall.h"
#include "clock.h"
#include "config.h"
#include "console.h"
#include "panic.h"

struct spinlock kernel_lock = SPINLOCK_INIT("kernel", LOCK_LEVEL_KERNEL);
bool lockstat_on;

static __attribute__((noinline)) void order_violation(const struct spinlock *l, u32 levels)
{
	if (l->holder == this_cpu()->id + 1)
		panic("lock: cpu%u takes '%s', which it holds (taken at %p)", this_cpu()->id, l->name, l->held_at);
	panic("lock order: cpu%u takes '%s' (level %u) while holding a lock of level %u (levels held %#x)",
	      this_cpu()->id, l->name, l->level, 31 - __builtin_clz(levels), levels);
}

static __attribute__((noinline)) void spin(struct spinlock *l, u32 ticket)
{
	u64 t0 = rdtsc(), report = t0 + tsc_hz / 1000 * LOCK_REPORT_MS;
	bool reported = false;
	__atomic_fetch_add(&l->stats.contended, 1, __ATOMIC_RELAXED); /* others may spin too */
	for (u32 n = 0; __atomic_load_n(&l->serving, __ATOMIC_ACQUIRE) != ticket; n++) {
		cpu_relax_serving();
		if ((n & 255) || reported || (i64)(rdtsc() - report) < 0)
			continue;
		reported = true;
		__atomic_fetch_add(&l->stats.reports, 1, __ATOMIC_RELEASE);
		u32 h = __atomic_load_n(&l->holder, __ATOMIC_RELAXED);
		kprintf("lock: cpu%u has spun %u ms for '%s', held by cpu%d (taken at ", this_cpu()->id,
			LOCK_REPORT_MS, l->name, (int)h - 1);
		print_symbol((u64)l->held_at);
		kprintf(")\n");
	}
	if (lockstat_on)
		l->stats.spin_ticks += rdtsc() - t0;
}

void spin_lock(struct spinlock *l)
{
	struct percpu *cpu = this_cpu();
	if (KEEL_DEBUG && (cpu->lock_levels >> l->level))
		order_violation(l, cpu->lock_levels);
	u32 ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&l->serving, __ATOMIC_ACQUIRE) != ticket)
		spin(l, ticket);
	l->holder = cpu->id + 1;
	l->held_at = __builtin_return_address(0);
	l->stats.acquired++;
	cpu->lock_levels |= 1u << l->level;
	if (lockstat_on)
		l->held_since = rdtsc();
}

void spin_unlock(struct spinlock *l)
{
	struct percpu *cpu = this_cpu();
	if (KEEL_DEBUG && l->holder != cpu->id + 1)
		panic("lock: cpu%u releases '%s', held by cpu%d", cpu->id, l->name, (int)l->holder - 1);
	if (lockstat_on) {
		u64 held = rdtsc() - l->held_since;
		l->stats.hold_ticks += held;
		if (held > l->stats.hold_max)
			l->stats.hold_max = held;
	}
	cpu->lock_levels &= ~(1u << l->level);
	l->holder = 0;
	__atomic_store_n(&l->serving, l->serving + 1, __ATOMIC_RELEASE);
}

void lock_report(const struct spinlock *l)
{
	const struct lock_stats *s = &l->stats;
	kprintf("lock: '%s': %llu acquisitions, %llu contended", l->name, (unsigned long long)s->acquired,
		(unsigned long long)s->contended);
	if (lockstat_on && s->acquired)
		kprintf("; spin %llu ticks in all; held %llu ticks in all, %llu on average, %llu at most",
			(unsigned long long)s->spin_ticks, (unsigned long long)s->hold_ticks,
			(unsigned long long)(s->hold_ticks / s->acquired), (unsigned long long)s->hold_max);
	kprintf("\n");
}
