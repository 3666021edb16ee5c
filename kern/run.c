#include "run.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "lock.h"
#include "cap.h"
#include "console.h"
#include "env.h"
#include "failpoint.h"
#include "frame.h"
#include "keel/exit.h"
#include "ktest.h"
#include "panic.h"
#include "irq.h"
#include "spawn.h"
#include "timer.h"
#include "tlb.h"
#include "trace.h"
#include "vrange.h"

static u64 expected_failures;
static struct run_baseline before;

void run_baseline_take(struct run_baseline *b)
{
	b->frames_free = frames_free();
	heap_stats(&b->heap);
}

void run_begin(u64 started, u64 failed, const struct run_baseline *b)
{
	env_started = started;
	env_failures = failed;
	before = *b;
}

void run_expect_failures(u64 n) { expected_failures = n; }

__noreturn void run_end(void)
{
	/* Before the summary, whose counters it must agree with; while the
	 * other CPUs idle (switching the trace off parks them a moment). */
	trace_dump();
	/* Then they are stopped for good: the counters and leak checks below
	 * see every CPU's part at rest. */
	u32 stopped = smp_stop_others();
	if (stopped)
		kprintf("envs: the run is over: the other %u CPU%s stopped\n", stopped, stopped == 1 ? "" : "s");
	/* Everything the envs held must be back, to the frame. */
	u64 after = frames_free();
	struct exit_stats exit_stats;
	exit_stats_sum(&exit_stats);
	struct heap_stats heap;
	heap_stats(&heap);
	kprintf("envs: all ended: %llu started, %llu failed; frames free before %llu, after %llu; "
		"%llu vranges held; %llu capabilities alive\n",
		(unsigned long long)env_started, (unsigned long long)env_failures,
		(unsigned long long)before.frames_free, (unsigned long long)after,
		(unsigned long long)vrange_count(), (unsigned long long)caps_live);
	kprintf("envs: at most %llu alive at once; %llu ended by their parent (its ENV capability deleted)\n",
		(unsigned long long)env_live_most(), (unsigned long long)envs_ended_by_parent);
	kprintf("envs: kernel heap objects live before %llu, after %llu (%llu bytes before, %llu after)\n",
		(unsigned long long)before.heap.live_objects, (unsigned long long)heap.live_objects,
		(unsigned long long)before.heap.live_bytes, (unsigned long long)heap.live_bytes);
	if (cpus_up > 1) {
		kprintf("envs: %llu env switches were to an env that last ran on another CPU; switches per CPU:",
			(unsigned long long)exit_stats.migrations);
		for (u32 c = 0; c < cpus_up; c++)
			kprintf(" %llu", (unsigned long long)cpus[c].stats.switches);
		kprintf("\n");
	}
	kprintf("envs: %llu env switches; exits to Ring 3: %llu sysretq, %llu iretq; %llu timer interrupts, "
		"%llu LAPIC timer writes\n",
		(unsigned long long)exit_stats.switches, (unsigned long long)exit_stats.sysret,
		(unsigned long long)exit_stats.iret, (unsigned long long)timer_interrupts,
		(unsigned long long)timer_writes);
	kprintf("envs: upcalls: %llu event, %llu trap, %llu control transfer; %llu device interrupts\n",
		(unsigned long long)exit_stats.upcalls, (unsigned long long)exit_stats.trap_upcalls,
		(unsigned long long)exit_stats.pct_upcalls, (unsigned long long)irq_interrupts);
	if (exit_stats.iret_emulated)
		kprintf("envs: %llu Ring 3 iretqs completed by the kernel for the CPU (QEMU TCG with SMAP)\n",
			(unsigned long long)exit_stats.iret_emulated);
	if (cpus_up > 1) {
		lock_report(&kernel_lock);
		kprintf("envs: TLB shootdown: %llu syncs of changes other CPUs may cache, %llu IPIs sent%s\n",
			(unsigned long long)tlb_syncs, (unsigned long long)tlb_ipis,
			tlb_skip_ipis ? " (shootdown=skip: none are sent)" : "");
	}
	failpoint_report();
	bool heap_leak = heap.live_objects != before.heap.live_objects || heap.live_bytes != before.heap.live_bytes;
	bool leak = after != before.frames_free || vrange_count() != 0 || caps_live != 0 || heap_leak;
	if (leak)
		kprintf("envs: LEAK: %lld frames, %lld kernel heap objects not returned\n",
			(long long)(before.frames_free - after), (long long)(heap.live_objects - before.heap.live_objects));
	bool ok = env_failures == expected_failures && !leak;
	if (ktest_running())
		ktest_finish(ok); /* a boot test that handed its envs to the scheduler */
	keel_exit(ok ? KEEL_EXIT_SUCCESS : KEEL_EXIT_FAILURE);
}
