/* Boot tests of the other CPUs (kern/arch/x86_64/smp.c): cross-CPU calls,
 * and a crash on an AP. Boot them with several CPUs (tests/test_smp.py). */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/xcall.h"
#include "clock.h"
#include "config.h"
#include "console.h"
#include "lock.h"
#include "ktest.h"
#include "layout.h"

#define CALLS 1000

struct where {
	u32 ran_on;
	u32 count;
};

static void note_cpu(void *arg)
{
	struct where *w = arg;
	w->ran_on = this_cpu()->id;
	w->count++;
}

/* Every AP runs CALLS cross-CPU calls, each on the CPU it was sent to and
 * each exactly once; the round trip (post, IPI, run, acknowledge) is timed
 * by the TSC -- guest instructions under -icount, where they include the
 * other vCPUs' turns. */
KTEST(smp_calls)
{
	KEXPECT(cpus_up > 1, "only %u CPU up: boot with several", cpus_up);
	for (u32 cpu = 1; cpu < cpus_up; cpu++) {
		struct where w = { UINT32_MAX, 0 };
		u64 t0 = rdtsc();
		for (int i = 0; i < CALLS; i++) {
			if (!KEXPECT(smp_call(cpu, note_cpu, &w) == 0, "call %d to cpu%u", i, cpu))
				return;
		}
		u64 t = rdtsc() - t0;
		KEXPECT(w.ran_on == cpu && w.count == CALLS, "cpu%u: ran on cpu%u, %u times of %d", cpu, w.ran_on,
			w.count, CALLS);
		ktest_log("cpu%u: %d calls, each ran there once; %llu TSC ticks a round trip", cpu, CALLS,
			  (unsigned long long)(t / CALLS));
	}
}

/* On cpu1, switch RSP to its kernel stack's guard page and push: the #PF
 * cannot be delivered on that stack, so cpu1 raises #DF on its own IST
 * stack, whose report must name cpu1 and its stack's guard page. */
static void fault_on_guard(void *arg)
{
	(void)arg;
	u64 guard_top = this_cpu()->kstack_top - AP_KSTACK_PAGES * PAGE_SIZE;
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "pushq $0\n\t" ::"r"(guard_top)
			 : "memory");
}

KTEST(double_fault_on_an_ap)
{
	KEXPECT(cpus_up > 1, "only %u CPU up: boot with several", cpus_up);
	ktest_log("cpu1 switches RSP to %p (the guard page below its kernel stack) and pushes",
		  (void *)(cpus[1].kstack_top - AP_KSTACK_PAGES * PAGE_SIZE));
	smp_call(1, fault_on_guard, NULL);
	KEXPECT(false, "cpu1's push returned");
}

/* ------------------------------------------------------------ ./keel bench */

#define BENCH_N 2000
static u64 bench_samples[BENCH_N];

static void empty_call(void *arg) { (void)arg; }
static void invlpg_call(void *arg) { invlpg((u64)arg); }

/* One row in apps/bench's format (bench/run.py reads it). */
static void bench_row(const char *name, void (*fn)(void *), void *arg)
{
	for (int i = 0; i < BENCH_N / 10; i++) /* warm */
		smp_call(1, fn, arg);
	for (int i = 0; i < BENCH_N; i++) {
		u64 t0 = rdtsc();
		smp_call(1, fn, arg);
		bench_samples[i] = rdtsc() - t0;
	}
	for (int i = 1; i < BENCH_N; i++) /* insertion sort: small, once */
		for (int j = i; j > 0 && bench_samples[j - 1] > bench_samples[j]; j--) {
			u64 t = bench_samples[j];
			bench_samples[j] = bench_samples[j - 1];
			bench_samples[j - 1] = t;
		}
	kprintf("BENCH %s n=%d min=%llu median=%llu p99=%llu redone=0\n", name, BENCH_N,
		(unsigned long long)bench_samples[0], (unsigned long long)bench_samples[BENCH_N / 2],
		(unsigned long long)bench_samples[BENCH_N * 99 / 100]);
}

/* The floors of cross-CPU work, cpu0 to cpu1 (halted, interrupts on): a
 * cross-CPU call that does nothing (post, IPI, run, acknowledge: the IPI
 * round trip), and one that does a 1-page shootdown's remote part (INVLPG). */
KTEST(smp_bench)
{
	if (!KEXPECT(cpus_up > 1, "only %u CPU up: boot with several", cpus_up))
		return;
	bench_row("ipi_roundtrip", empty_call, NULL);
	bench_row("shootdown_floor_1_page", invlpg_call, (void *)KERNEL_VMA);
	kprintf("BENCH done smp_bench\n");
}

/* ------------------------------------------------------------ the lock's rules */

static struct spinlock test_lock = SPINLOCK_INIT("test", LOCK_LEVEL_KERNEL + 1);

/* On cpu1: take the test lock and hold it until cpu0, spinning for it, has
 * reported (however long a loaded host takes to run cpu0; a minute at most),
 * then let go. */
static void hold_a_while(void *arg)
{
	(void)arg;
	spin_lock(&test_lock);
	wait_us(60 * 1000000, &test_lock.stats.reports, 1);
	spin_unlock(&test_lock);
}

/* cpu0 spins for a lock cpu1 holds past the bound: it reports which lock,
 * who holds it and where it was taken, and gets it once cpu1 lets go. */
KTEST(lock_spin_is_reported)
{
	if (!KEXPECT(cpus_up > 1, "only %u CPU up: boot with several", cpus_up))
		return;
	struct xcall_batch b;
	smp_post_many(&b, 1ULL << 1, hold_a_while, NULL);
	while (__atomic_load_n(&test_lock.holder, __ATOMIC_ACQUIRE) != 2) /* cpu1 holds it */
		pause();
	u64 t0 = rdtsc();
	spin_lock(&test_lock);
	u64 waited_ms = (rdtsc() - t0) / (tsc_hz / 1000);
	spin_unlock(&test_lock);
	KEXPECT(smp_wait_many(&b) == 0, "cpu1 answered");
	KEXPECT(test_lock.stats.contended == 1 && test_lock.stats.acquired == 2 && test_lock.stats.reports == 1,
		"acquired %llu, contended %llu, reported %u", (unsigned long long)test_lock.stats.acquired,
		(unsigned long long)test_lock.stats.contended, test_lock.stats.reports);
	ktest_log("cpu0 got the lock after %llu ms", (unsigned long long)waited_ms);
}

/* Taking a lock of a lower level while holding a higher one breaks the
 * lock-order rule: a panic in debug builds, naming both. */
KTEST(lock_order_is_checked)
{
	if (!KEXPECT(KEEL_DEBUG, "a debug build"))
		return;
	spin_lock(&test_lock); /* level 2 */
	ktest_log("holding 'test' (level %u), taking 'kernel' (level %u)", test_lock.level, kernel_lock.level);
	spin_lock(&kernel_lock);
	KEXPECT(false, "the lock-order violation went unnoticed");
}
