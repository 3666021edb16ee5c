/*
 * `cpus MODE`: CPUs as capabilities (docs/smp.md "CPUs as capabilities",
 * tests/test_cpus.py). Run on two CPUs or more.
 *
 *   where  the CPU it runs on, by every way the CPU has (lsl, rdtscp, rdpid):
 *          they must agree
 *   stop   a child spawned with KEEL_SPAWN_NO_CPUS holds no CPU: a directed
 *          yield to it is ENOCPU, and it has not run after a while; given a
 *          capability for cpu1 it runs, there, and exits
 *   move   a child spinning with both of the parent's CPUs (derived at
 *          spawn): the parent revokes cpu0 (the child goes on on cpu1), then
 *          cpu1 (it holds none: stopped), then gives cpu0 back (it runs
 *          again, there); the child prints a tick with its CPU every 2 ms.
 *          Last the parent deletes its own capability for the CPU it runs
 *          on, and goes on on the other.
 *
 *   post   events between envs on two CPUs (SYS_EVENT_POST): a child
 *          holding only cpu1 (the parent is pinned to cpu0) echoes every post;
 *          2,000 round trips one bit each, then 63 bits posted back to back:
 *          each comes back exactly once; the bad requests get their errors;
 *          a post to the child once it has ended is ENOENT.
 *
 *   disps  one env on two CPUs at once: a second dispatcher, started on the
 *          other CPU with its own area and stacks, counts while the first
 *          spins and watches the count move; 1,000 posts between the two
 *          (KEEL_SELF, the other's CPU) each come back once; the bad starts
 *          get their errors; deleting its capability for the second's CPU
 *          stops it there (its count stands still); the env's exit ends
 *          both. `disps exit`: the env exits while the second counts.
 *
 *   handover  the scheduler-activations hand-over: the second dispatcher
 *          runs a loop with marks in its registers (R15, a count in R14,
 *          XMM7); the first deletes its capability for the second's CPU,
 *          gets KEEL_EV_LOST, finds the context (registers in the second's
 *          area, extended state in its handed_xstate) and resumes it on its
 *          own CPU: the loop goes on there, count and XMM7 intact.
 *          `handover disabled`: the loop runs disabled (as if it held a libOS
 *          lock): its context comes from the disabled save. `handover
 *          yielding`: each turn of the loop is a SYS_YIELD, so the
 *          revocation mostly finds it in the kernel, on its way off the CPU.
 *
 *   stream  100,000 posts from the first dispatcher to the second, each with
 *          its sequence number in memory beside its bit (64 bits in flight);
 *          the second's handler sees each exactly once while its main loop
 *          moves, turn by turn, through running enabled, running disabled,
 *          waiting in SYS_EVENT_WAIT and yielding its CPU to a hog there.
 *          `stream revoke`: at 90,000, while the receiver holds bits it took
 *          inside its handler, its CPU is revoked; its dispatcher is handed
 *          to the first, which finishes that handler on its own CPU, takes
 *          the bits posted to it, and receives the rest itself. `stream
 *          lose`: at 50,000 received the receiver unmaps its area page (the
 *          kernel drops the area), posts to it are refused (ENOENT) and
 *          retried, and it maps the page back, registers it again and takes
 *          by hand what was posted before the loss.
 *
 * Children: child (says where it runs, exits), spinner (ticks for ever),
 * hog (spins, silent, for ever),
 * postee (echoes posts to its parent until bit 63 comes).
 */
#include "dev.h"
#include "env.h"
#include "ipc.h"
#include "keel.h"
#include "lib/string.h"
#include "vm.h"

static int failed;
static void check(int ok, const char *what)
{
	if (!ok) {
		printf("cpus: FAILED: %s\n", what);
		failed = 1;
	}
}

/* The slot of this env's capability for CPU `cpu`, or -ENOENT. */
static long cpu_slot(unsigned cpu) { return vm_find_cpu_cap(cpu, NULL); }

/* Let `ms` milliseconds of kernel time pass, giving the CPU away meanwhile. */
static void wait_ms(uint64_t ms)
{
	uint64_t until = keel_now() + ms * 1000000;
	while (keel_now() < until)
		sys_yield();
}

static void where(const char *who)
{
	int how = keel_cpu_method();
	unsigned lsl = keel_cpu_by(KEEL_CPU_BY_LSL);
	char line[128];
	int n = snprintf(line, sizeof line, "cpus: %s runs on cpu%u (lsl %u", who, keel_cpu(), lsl);
	if (how >= KEEL_CPU_BY_RDTSCP)
		n += snprintf(line + n, sizeof line - (size_t)n, ", rdtscp %u", keel_cpu_by(KEEL_CPU_BY_RDTSCP));
	if (how >= KEEL_CPU_BY_RDPID)
		n += snprintf(line + n, sizeof line - (size_t)n, ", rdpid %u", keel_cpu_by(KEEL_CPU_BY_RDPID));
	printf("%s)\n", line); /* one write: another CPU's lines do not cut into it */
	check(keel_cpu() == lsl, "the ways of asking disagree");
}

static long spawn(const char *args, uint32_t flags)
{
	struct keel_spawn r = { .image = "cpus", .image_len = 4, .args = args, .args_len = strlen(args),
				.quota_frames = 256, .quota_caps = 256, .flags = flags };
	return sys_env_spawn(&r);
}

static void stop(void)
{
	long c = spawn("child", KEEL_SPAWN_NO_CPUS);
	check(c >= 0, "spawn a child with no CPU");
	check(sys_yield_to((uint32_t)c) == -ENOCPU, "a directed yield to an env holding no CPU is ENOCPU");
	wait_ms(5);
	check(!keel_env_gone((uint32_t)c), "the child holding no CPU has not run");
	printf("cpus: stop: the child holding no CPU has not run after 5 ms; giving it cpu1\n");
	check(sys_cap_derive((uint32_t)cpu_slot(1), KEEL_R_ALL, (uint32_t)c) >= 0, "give the child cpu1");
	keel_env_wait((uint32_t)c);
	printf("cpus: stop: the child ran and exited\n");
}

static void move(void)
{
	long s0 = cpu_slot(0), s1 = cpu_slot(1);
	check(s0 >= 0 && s1 >= 0, "hold cpu0 and cpu1");
	long c = spawn("spinner", 0);
	check(c >= 0, "spawn the spinner");
	wait_ms(10);
	check(sys_cap_revoke((uint32_t)s0) == 1, "revoke the spinner's cpu0");
	printf("cpus: move: took cpu0 from the spinner\n");
	wait_ms(10);
	check(sys_cap_revoke((uint32_t)s1) == 1, "revoke the spinner's cpu1");
	printf("cpus: move: took cpu1 too: the spinner holds no CPU\n");
	wait_ms(10);
	check(!keel_env_gone((uint32_t)c), "the stopped spinner lives");
	printf("cpus: move: gave cpu0 back\n");
	check(sys_cap_derive((uint32_t)s0, KEEL_R_ALL, (uint32_t)c) >= 0, "give the spinner cpu0 again");
	wait_ms(10);
	check(sys_cap_delete((uint32_t)c) == 0, "end the spinner");
	printf("cpus: move: spinner ended\n");

	unsigned here = keel_cpu();
	check(sys_cap_delete((uint32_t)(here ? s1 : s0)) == 0, "drop the capability for the CPU it runs on");
	unsigned now = keel_cpu();
	printf("cpus: move: dropped cpu%u while running there: now on cpu%u\n", here, now);
	check(now == 1 - here, "moved to the other CPU at once");
}

/* ------------------------------------------------ events between envs */
#define POST_ROUNDS 2000
#define POST_LAST (1ULL << 63) /* the parent: "ready"; the child: "quit" */
static volatile uint64_t arrivals, arrived, echoed, quit;
static long peer = -1; /* the child: its parent's ENV capability */

static void on_post(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (!(ev & KEEL_EV_POST))
		return;
	uint64_t b = keel_take(&a->posted);
	if (!b)
		return; /* (taken with an earlier upcall's bits) */
	if (peer < 0) { /* the parent */
		check(!(arrived & b), "a posted bit came back twice");
		arrived |= b;
		arrivals++;
		return;
	}
	arrivals++;
	if (b & POST_LAST)
		quit = 1;
	if (b & ~POST_LAST) {
		check(sys_event_post((uint32_t)peer, 0, b & ~POST_LAST) == 0, "echo to the parent");
		echoed++;
	}
}

static int any_env(const struct keel_cap_info *info, uint64_t unused) { return 1; }

static void postee(void)
{
	struct keel_cap_info info;
	peer = vm_find_cap(0, KEEL_CAP_ENV, any_env, 0, &info);
	check(peer >= 0 && keel_upcalls_init(on_post, NULL) == 0, "find the parent, take upcalls");
	check(sys_event_post((uint32_t)peer, 0, POST_LAST) == 0, "tell the parent it is ready");
	keel_wait_while(keel_area, &quit, 0); /* cpu1 halts; a post wakes it */
	printf("cpus: postee on cpu%u: %llu upcalls, %llu echoes\n", keel_cpu(), (unsigned long long)arrivals,
	       (unsigned long long)echoed);
}

/* Spin until a post arrives; the bits come back. No time limit: a post
 * that never comes hangs the boot, which the test's timeout reports (a
 * bound in time would make the outcome depend on the host's speed). */
static uint64_t await_post(uint64_t before)
{
	while (arrivals == before)
		;
	return arrived;
}

static void post(void)
{
	check(keel_upcalls_init(on_post, NULL) == 0, "take upcalls");
	check(sys_debug(DEBUG_PIN, 0, 0) == 0 && keel_cpu() == 0, "run on cpu0 only");
	long c = spawn("postee", KEEL_SPAWN_NO_CPUS);
	check(c >= 0, "spawn the postee");
	check(sys_event_post((uint32_t)c, 1, 1) == -ENOCPU, "a post to a child holding no CPU: ENOCPU");
	check(sys_cap_derive((uint32_t)cpu_slot(1), KEEL_R_ALL, (uint32_t)c) >= 0, "give the postee cpu1");
	check(await_post(0) == POST_LAST, "the postee says it is ready");
	check(sys_event_post((uint32_t)c, 0, 1) == -ENOCPU, "a post to a CPU the target does not hold: ENOCPU");
	check(sys_event_post((uint32_t)c, 64, 1) == -ERANGE, "a post to no such CPU: ERANGE");
	check(sys_event_post((uint32_t)c, 1, 0) == -EINVAL, "a post of no bits: EINVAL");
	check(sys_event_post(4000, 1, 1) < 0, "a post through an empty slot fails");
	check(sys_event_post((uint32_t)cpu_slot(1), 1, 1) < 0, "a post through a CPU capability fails");
	uint64_t t0 = keel_now();
	for (unsigned i = 0; i < POST_ROUNDS && !failed; i++) {
		uint64_t bit = 1ULL << (i % 63), before = arrivals;
		arrived = 0;
		check(sys_event_post((uint32_t)c, 1, bit) == 0, "post to the postee");
		check(await_post(before) == bit, "the echo is the bit posted, once");
		if (failed)
			printf("cpus: post: round %u: sent %#llx, got %#llx after %llu arrivals\n", i,
			       (unsigned long long)bit, (unsigned long long)arrived, (unsigned long long)arrivals);
	}
	uint64_t t1 = keel_now();
	printf("cpus: post: %u round trips cpu0 -> cpu1 -> cpu0, %llu ns each on average (wall: MTTCG)\n",
	       POST_ROUNDS, (unsigned long long)((t1 - t0) / POST_ROUNDS));
	arrived = 0;
	uint64_t all = POST_LAST - 1;
	for (unsigned b = 0; b < 63; b++)
		check(sys_event_post((uint32_t)c, 1, 1ULL << b) == 0, "post a burst");
	while (arrived != all)
		;
	check(arrived == all, "every bit of the burst came back once");
	printf("cpus: post: a burst of 63 posts came back in %llu upcalls\n", (unsigned long long)(arrivals - POST_ROUNDS - 1));
	check(sys_event_post((uint32_t)c, 1, POST_LAST) == 0, "tell the postee to end");
	keel_env_wait((uint32_t)c);
	check(sys_event_post((uint32_t)c, 1, 1) == -ENOENT, "a post to an ended env: ENOENT");
}

/* ------------------------------------------- one env on two CPUs at once */
static struct keel_upcall_area area2 __attribute__((aligned(4096)));
static uint8_t d2_stack[16384] __attribute__((aligned(64)));
static uint8_t d2_ustack[16384] __attribute__((aligned(64)));
static uint8_t d2_tstack[16384] __attribute__((aligned(64)));
static volatile uint64_t d2_count, d2_cpu = ~0ULL, d2_wrong_cpu, d2_echoes, d1_back;
static unsigned d1_cpu;

static volatile int d2_lost;

static void on_disp_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if ((ev & KEEL_EV_LOST) && keel_take(&a->lost))
		d2_lost = 1; /* the second is off its CPU: its context is ours (left alone here) */
	if (!(ev & KEEL_EV_POST))
		return;
	uint64_t b = keel_take(&a->posted);
	if (!b)
		return;
	if (a == &area2) { /* the second dispatcher: echo to the first */
		d2_echoes++;
		check(sys_event_post(KEEL_SELF, d1_cpu, b) == 0, "echo to the first dispatcher");
	} else {
		d1_back++;
	}
}

static void second(void *arg)
{
	d2_cpu = keel_cpu();
	for (;;) {
		d2_count++;
		if (keel_cpu() != d2_cpu)
			d2_wrong_cpu++;
	}
}

static void disps(int exit_now)
{
	check(keel_upcalls_init(on_disp_event, NULL) == 0, "take upcalls");
	d1_cpu = keel_cpu();
	unsigned other = 1 - d1_cpu;
	struct keel_disp_start bad = { .cpu = 64, .area = (uint64_t)&area2, .entry = (uint64_t)second,
				       .stack = (uint64_t)d2_stack + sizeof d2_stack - 8 };
	check(keel_syscall3(SYS_DISP_START, (long)&bad, 0, 0) == -ERANGE, "a dispatcher on no such CPU: ERANGE");
	keel_area_prepare(&area2, d2_ustack, sizeof d2_ustack, d2_tstack, sizeof d2_tstack);
	check(keel_disp_start(d1_cpu, &area2, second, d2_stack, sizeof d2_stack, 0) == -EEXIST,
	      "a second dispatcher on the first's CPU: EEXIST");
	check(keel_disp_start(other, keel_area, second, d2_stack, sizeof d2_stack, 0) == -EBUSY,
	      "a dispatcher on the first's area: EBUSY");
	check(keel_disp_start(other, (struct keel_upcall_area *)((char *)&area2 + 8), second, d2_stack,
			      sizeof d2_stack, 0) == -EINVAL, "a misaligned area: EINVAL");
	check(keel_disp_start(other, &area2, second, d2_stack, sizeof d2_stack, 0) == 0, "start the second");
	check(keel_disp_start(other, &area2, second, d2_stack, sizeof d2_stack, 0) == -EEXIST,
	      "a third on the second's CPU: EEXIST");
	/* Both at once: while this one spins (no system call, no yield), the
	 * other's count moves. */
	while (!d2_count)
		;
	uint64_t c0 = d2_count, spins = 0;
	while (d2_count < c0 + 1000000)
		spins++;
	check(keel_cpu() == d1_cpu, "the first stays on its CPU");
	printf("cpus: disps: the second dispatcher counted 1000000 on cpu%llu while the first spun on cpu%u\n",
	       (unsigned long long)d2_cpu, d1_cpu);
	check(d2_cpu == other && !d2_wrong_cpu, "the second runs on its CPU only");
	if (exit_now) {
		printf("cpus: disps: exiting while the second runs\n");
		return;
	}
	for (unsigned i = 0; i < 1000 && !failed; i++) {
		uint64_t before = d1_back;
		check(sys_event_post(KEEL_SELF, other, 1ULL << (i % 64)) == 0, "post to the second dispatcher");
		while (d1_back == before)
			;
	}
	printf("cpus: disps: 1000 posts to the second dispatcher, %llu echoes, %llu back\n",
	       (unsigned long long)d2_echoes, (unsigned long long)d1_back);
	check(d2_echoes == 1000 && d1_back == 1000, "each post came back once");
	check(sys_cap_delete((uint32_t)cpu_slot(other)) == 0, "drop the second's CPU");
	while (!d2_lost) /* not a time: off its CPU once the kernel says so */
		sys_yield();
	uint64_t c1 = d2_count;
	wait_ms(20);
	check(d2_count == c1, "the second, its CPU taken, stands still");
	printf("cpus: disps: cpu%u taken: the second dispatcher stopped at %llu\n", other, (unsigned long long)c1);
	check(keel_cpu() == d1_cpu, "the first goes on, on its CPU");
}

/* ------------------------------------------------ the hand-over of a CPU */
#define HO_XMM7 0x1122334455667788ULL
#define HO_R15 0x5eedULL
static volatile int ho_adopt, ho_adopted, ho_lost_seen;
static volatile uint64_t ho_r14_handed, ho_r14_after, ho_xmm7_after, ho_r15_after;
static struct keel_context ho_main, ho_handed;
static uint8_t ho_xbuf[3072] __attribute__((aligned(64)));
static unsigned ho_other;

static void ho_done(void);

/* The second dispatcher's loop: its marks live in registers only. */
static int ho_disabled, ho_yielding;
static volatile int ho_started; /* the loop runs (its count already 1) */

static void ho_worker(void *arg)
{
	uint64_t pattern = HO_XMM7;
	if (ho_disabled)
		area2.disabled = 1; /* as while holding a libOS lock: its context goes to the disabled save */
	/* Yielding: each turn a SYS_YIELD, so the revocation mostly finds it in
	 * the kernel. R14 counts once more on the way out: the loop has gone
	 * on after the hand-over wherever in it the context was taken. */
	__asm__ volatile("movq %[pat], %%xmm7\n\t"
			 "movq %[r15], %%r15\n\t"
			 "movl $1, %%r14d\n\t"
			 "movl $1, %[started]\n" /* from here R14 > 0, wherever the hand-over lands */
			 "1: cmpl $0, %[yield]\n\t"
			 "je 2f\n\t"
			 "movl %[nr], %%eax\n\t"
			 "syscall\n"
			 "2: incq %%r14\n\t"
			 "cmpl $0, %[adopt]\n\t"
			 "je 1b\n\t"
			 "incq %%r14\n\t"
			 "movq %%r14, %[r14_after]\n\t"
			 "movq %%xmm7, %[xmm7_after]\n\t"
			 "movq %%r15, %[r15_after]\n\t"
			 : [started] "=m"(ho_started), [r14_after] "=m"(ho_r14_after), [xmm7_after] "=m"(ho_xmm7_after),
			   [r15_after] "=m"(ho_r15_after)
			 : [pat] "r"(pattern), [r15] "i"(HO_R15), [adopt] "m"(ho_adopt), [yield] "m"(ho_yielding),
			   [nr] "i"(SYS_YIELD)
			 : "rax", "rcx", "r11", "r14", "r15", "xmm7", "memory");
	ho_done();
}

/* Back on the first dispatcher's CPU, the handed context went on. */
static void ho_done(void)
{
	check(ho_r15_after == HO_R15 && ho_xmm7_after == HO_XMM7, "the handed loop's R15 and XMM7 survived");
	check(ho_r14_after > ho_r14_handed && keel_cpu() == d1_cpu, "the handed loop went on, on the first's CPU");
	printf("cpus: handover: the loop went on on cpu%u: count %llu -> %llu, R15 %#llx, XMM7 %#llx\n", keel_cpu(),
	       (unsigned long long)ho_r14_handed, (unsigned long long)ho_r14_after,
	       (unsigned long long)ho_r15_after, (unsigned long long)ho_xmm7_after);
	ho_adopted = 1;
	keel_resume(&ho_main, keel_area); /* the first dispatcher's own context */
}

static void on_ho_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (!(ev & KEEL_EV_LOST) || a != keel_area)
		return;
	uint64_t lost = keel_take(&a->lost);
	ho_lost_seen = 1;
	check(lost == 1ULL << ho_other, "KEEL_EV_LOST names the second's CPU");
	const struct keel_context *h = area2.disabled ? &area2.disabled_save : &area2.enabled_save;
	uint64_t n = area2.handed_xstate_size, xmm7;
	memcpy(&xmm7, area2.handed_xstate + 160 + 7 * 16, 8); /* FXSAVE layout: XMM0 at 160 */
	check(area2.disabled == (uint32_t)ho_disabled, "the handed context is in the save its state names");
	check(h->r15 == HO_R15 && h->r14 > 0 && h->rip >= (uint64_t)ho_worker &&
		      h->rip < (uint64_t)ho_worker + 256,
	      "the handed registers are the loop's");
	check(n >= 512 && n <= sizeof ho_xbuf && xmm7 == HO_XMM7, "the handed extended state holds XMM7");
	printf("cpus: handover: KEEL_EV_LOST for cpu%u: its %s save, rip in the loop, count %llu, %llu bytes of "
	       "extended state\n",
	       ho_other, ho_disabled ? "disabled" : "enabled", (unsigned long long)h->r14, (unsigned long long)n);
	if (failed)
		return;
	ho_r14_handed = h->r14;
	ho_main = *ctx;
	ho_handed = *h;
	memcpy(ho_xbuf, area2.handed_xstate, n);
	ho_adopt = 1;
	if (n > 512)
		__asm__ volatile("xrstor64 (%0)" ::"r"(ho_xbuf), "a"(0xFFFFFFFFu), "d"(0xFFFFFFFFu) : "memory");
	else
		__asm__ volatile("fxrstor64 (%0)" ::"r"(ho_xbuf) : "memory");
	keel_resume(&ho_handed, a); /* the second's context, on this dispatcher */
}

static void handover(const char *how)
{
	ho_disabled = !strcmp(how, "disabled");
	ho_yielding = !strcmp(how, "yielding");
	check(keel_upcalls_init(on_ho_event, NULL) == 0, "take upcalls");
	d1_cpu = keel_cpu();
	ho_other = 1 - d1_cpu;
	keel_area_prepare(&area2, d2_ustack, sizeof d2_ustack, d2_tstack, sizeof d2_tstack);
	check(keel_disp_start(ho_other, &area2, ho_worker, d2_stack, sizeof d2_stack, 0) == 0, "start the second");
	while (!ho_started && !failed)
		; /* (not a time: a slow host may not have run it yet) */
	wait_ms(5);
	check(sys_cap_delete((uint32_t)cpu_slot(ho_other)) == 0, "drop the second's CPU");
	while (!ho_adopted && !failed)
		sys_yield();
	check(ho_lost_seen && keel_cpu() == d1_cpu, "the first goes on after the hand-over");
}

/* ------------------------------------------- a stream of 100,000 events */
#define STREAM_N 100000
static volatile uint64_t st_slot[64];       /* 1 + the sequence number posted on bit b; 0: taken */
static uint8_t st_seen[STREAM_N / 8];
static volatile uint64_t st_received, st_dups, st_empties, st_by_state[4];
static volatile unsigned st_state;

static volatile uint64_t st_after_loss;

static void stream_take(uint64_t bits);

/* The receiver's main loop counts its steps: every 256 posts the sender
 * waits for one (if it waits in SYS_EVENT_WAIT, a bounded time). A sender
 * that never pauses can keep the receiver in its handler for good -- each
 * return finds the next events pending and goes straight back in -- and
 * its main loop would never move to its next state (a livelock of the
 * receiver's own making, seen 8 runs in 40 under MTTCG). */
static volatile uint64_t st_beat;
static volatile int st_in_handler;           /* the receiver is inside its handler */
static struct keel_upcall_area *sa = &area2; /* the receiver's area (`stream lose`: a page of its own) */
static uint64_t st_area_va;                  /* `stream lose`: that page, and its frame's slot */
static long st_area_frame = -1;
static volatile uint64_t st_lose_at, st_refused_while_lost, st_area_back; /* ENOENT while it had none */
static struct keel_context st_main, st_handed; /* the hand-over: the first's own, and the one it takes */
static uint8_t st_back_stack[4096] __attribute__((aligned(64)));

/* The taken-over handler has finished, on the first dispatcher's CPU: the
 * bits still posted to the ended receiver, then the first's own context. */
static void st_back(void)
{
	printf("cpus: stream: the receiver was taken inside its handler, which finished on cpu%u\n", keel_cpu());
	stream_take(keel_take(&sa->posted));
	keel_resume(&st_main, keel_area);
}

/* No post waits past the receiver's next upcall: every number whose post
 * had returned when a handler began is seen once that handler has taken
 * what was posted (st_low: the lowest number not seen yet). */
static volatile uint64_t st_posted, st_late; /* the last number posted (each one's post has returned) */
static uint64_t st_low = 1;

static void st_check_late(uint64_t done)
{
	while (st_low <= STREAM_N && (st_seen[(st_low - 1) / 8] & (1u << ((st_low - 1) % 8))))
		st_low++;
	if (st_low <= done)
		st_late++;
}

static void on_stream_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (a == sa)
		st_in_handler = 1;
	if (a == keel_area && (ev & KEEL_EV_LOST)) {
		/* The receiver's CPU was revoked; its context is the first's now.
		 * Taken inside its handler, it holds bits it took and has not
		 * handled: it goes on here until its handler returns, which
		 * returns to st_back. Otherwise only what is posted to it. */
		keel_take(&a->lost);
		if (sa->disabled && st_in_handler) {
			st_main = *ctx;
			st_handed = sa->disabled_save;
			sa->enabled_save.rip = (uint64_t)st_back;
			sa->enabled_save.rsp = (uint64_t)st_back_stack + sizeof st_back_stack - 8;
			keel_resume_disabled(&st_handed);
		}
		stream_take(keel_take(&sa->posted));
	}
	if (ev & KEEL_EV_POST) {
		uint64_t done = __atomic_load_n(&st_posted, __ATOMIC_ACQUIRE);
		stream_take(keel_take(&a->posted));
		st_check_late(done);
	}
	if (a == sa)
		st_in_handler = 0;
}

static volatile int st_hold, st_holding;

static void stream_take(uint64_t bits)
{
	/* Told to hold (revoke mode), the receiver waits inside its handler
	 * with the bits it took in hand until it finds itself on another CPU:
	 * its CPU goes meanwhile, and the first must finish this handler for it. */
	unsigned here = keel_cpu();
	while (bits && st_hold && keel_cpu() == here && here != d1_cpu)
		st_holding = 1;
	for (; bits; bits &= bits - 1) {
		unsigned b = (unsigned)__builtin_ctzll(bits);
		uint64_t s = st_slot[b];
		if (!s || s > STREAM_N) {
			st_empties++;
			continue;
		}
		if (st_seen[(s - 1) / 8] & (1u << ((s - 1) % 8)))
			st_dups++;
		st_seen[(s - 1) / 8] |= (uint8_t)(1u << ((s - 1) % 8));
		__atomic_store_n(&st_slot[b], 0, __ATOMIC_RELEASE);
		st_received++;
		if (keel_cpu() == d1_cpu)
			st_after_loss++;
		else
			st_by_state[st_state]++;
	}
}

/* The receiver: its main loop moves on to its next way of being at every
 * turn (by its own count: by the events' count, a turn that lasts as long
 * as four phases of events would land in the same one every time). */
/* `stream lose`: the receiver unmaps its own area page (the kernel drops
 * the area: no more upcalls, posts to it ENOENT), runs on without it until
 * the sender has been refused 100 times, maps the frame back and registers
 * the area again, then takes by hand what was posted before the loss and
 * never delivered (the bits stay in `posted`, on the frame). */
static void stream_lose_area(void)
{
	check(vm_unmap(st_area_va) == 0, "unmap the receiver's area");
	while (st_refused_while_lost < 100 && !failed)
		st_beat++;
	check(vm_map(st_area_va, (uint32_t)st_area_frame, KEEL_MAP_WRITE) == 0, "map the area back");
	sa->disabled = 1;
	check(keel_syscall3(SYS_UPCALL_SETUP, (long)sa, 0, 0) == 0, "register the area again");
	st_area_back = 1;
	stream_take(keel_take(&sa->posted));
	keel_upcalls_enable(sa);
}

static void stream_receiver(void *arg)
{
	volatile uint32_t *disabled = &sa->disabled;
	for (unsigned turn = 0;; turn++) {
		unsigned s = turn % 4;
		st_state = s;
		st_beat++;
		if (st_lose_at && !st_area_back && st_received >= st_lose_at)
			stream_lose_area();
		if (s == 0) { /* running enabled, for 100 posts: they arrive by upcall at once */
			uint64_t r0 = st_received;
			while (st_received - r0 < 100 && st_received < STREAM_N)
				st_beat++;
		} else if (s == 1) { /* disabled until a post has come: it waits in pending */
			*disabled = 1;
			while (!__atomic_load_n(&sa->posted, __ATOMIC_ACQUIRE) && st_received < STREAM_N)
				st_beat++;
			*disabled = 0;
			sys_env_id(); /* a kernel entry: what is pending comes now */
		} else if (s == 2) {
			sys_event_wait();
		} else { /* yield to the hog on this CPU until a post came meanwhile */
			uint64_t r0 = st_received;
			do {
				sys_yield(); /* posts wait for its next dispatch */
				st_beat++;
			} while (st_received == r0 && st_received < STREAM_N);
		}
	}
}

static void stream(const char *how)
{
	int revoke = !strcmp(how, "revoke"), lose = !strcmp(how, "lose");
	check(keel_upcalls_init(on_stream_event, NULL) == 0, "take upcalls");
	if (lose) { /* the receiver's area on a page it can unmap and map back */
		long vr = sys_vrange_alloc(2 << 20, 2 << 20);
		struct keel_cap_info info;
		check(vm_init() == 0 && vr >= 0 && sys_cap_info((uint32_t)vr, &info) == 0 &&
			      vm_table(1, info.base, 1) >= 0 && (st_area_frame = vm_map_new(info.base, KEEL_MAP_WRITE)) >= 0,
		      "a page for the receiver's area");
		st_area_va = info.base;
		sa = (struct keel_upcall_area *)st_area_va;
		st_lose_at = STREAM_N / 2;
	}
	d1_cpu = keel_cpu();
	unsigned other = 1 - d1_cpu;
	long hog = spawn("hog", KEEL_SPAWN_NO_CPUS); /* the receiver yields its CPU to it */
	check(hog >= 0 && sys_cap_derive((uint32_t)cpu_slot(other), KEEL_R_ALL, (uint32_t)hog) >= 0,
	      "a hog on the receiver's CPU");
	keel_area_prepare(sa, d2_ustack, sizeof d2_ustack, d2_tstack, sizeof d2_tstack);
	check(keel_disp_start(other, sa, stream_receiver, d2_stack, sizeof d2_stack, 0) == 0, "start the receiver");
	uint64_t refused = 0;
	unsigned to = other;
	uint64_t beat = st_beat;
	for (uint64_t seq = 1; seq <= STREAM_N && !failed; seq++) {
		if (seq % 256 == 0 && to == other) {
			/* In SYS_EVENT_WAIT its loop beats only once a post has
			 * come, so there the wait is bounded: a blocked receiver
			 * needs the next post, one kept in its handler by the
			 * stream needs the pause (without it: every later post
			 * taken "waiting", its loop never turning -- one boot in
			 * three of a kernel built with LTO). */
			for (uint64_t spin = 0; st_beat == beat && !failed && (st_state != 2 || spin < 100000); spin++)
				;
			beat = st_beat;
		}
		unsigned b = (unsigned)(seq % 64);
		while (__atomic_load_n(&st_slot[b], __ATOMIC_ACQUIRE))
			; /* its last number not taken yet */
		__atomic_store_n(&st_slot[b], seq, __ATOMIC_RELEASE);
		if (revoke && seq == STREAM_N * 9 / 10)
			st_hold = 1; /* the receiver's next handler holds its bits: this one's at least */
		long r;
		while ((r = sys_event_post(KEEL_SELF, to, 1ULL << b)) == -ENOENT && lose && !failed)
			st_refused_while_lost++; /* the receiver has no area now: again until it has */
		if (r)
			refused++;
		__atomic_store_n(&st_posted, seq, __ATOMIC_RELEASE);
		if (revoke && seq == STREAM_N * 9 / 10) {
			/* mid-stream, while the receiver holds bits inside its
			 * handler: its CPU goes; the rest come here */
			while (!st_holding)
				;
			check(sys_cap_delete((uint32_t)cpu_slot(other)) == 0, "revoke the receiver's CPU");
			to = d1_cpu;
		}
	}
	while (st_received < STREAM_N && !failed)
		;
	unsigned missing = 0;
	for (unsigned i = 0; i < STREAM_N; i++)
		missing += !(st_seen[i / 8] & (1u << (i % 8)));
	printf("cpus: stream: %u posts, %llu received, %u missing, %llu twice, %llu empty, %llu refused, %llu late; "
	       "received running %llu, disabled %llu, waiting %llu, yielding %llu, after the receiver's CPU went %llu\n",
	       STREAM_N, (unsigned long long)st_received, missing, (unsigned long long)st_dups,
	       (unsigned long long)st_empties, (unsigned long long)refused, (unsigned long long)st_late,
	       (unsigned long long)st_by_state[0],
	       (unsigned long long)st_by_state[1], (unsigned long long)st_by_state[2], (unsigned long long)st_by_state[3],
	       (unsigned long long)st_after_loss);
	if (lose) {
		printf("cpus: stream: the receiver lost its area at %llu received: %llu posts refused with ENOENT "
		       "meanwhile, then it came back\n",
		       (unsigned long long)st_lose_at, (unsigned long long)st_refused_while_lost);
		check(st_area_back && st_refused_while_lost >= 100, "posts refused while the area was gone");
	}
	check(st_received == STREAM_N && !missing && !st_dups && !st_empties && !refused, "each post seen exactly once");
	check(!st_late, "no post waits past the receiver's next upcall");
	check(!revoke || st_after_loss > 0, "the first took the stream over");
	check(sys_cap_delete((uint32_t)hog) == 0, "end the hog");
}

static void spinner(void)
{
	uint64_t next = keel_now();
	for (unsigned n = 0;; n++) {
		if (keel_now() >= next) {
			printf("cpus: spinner tick %u on cpu%u\n", n, keel_cpu());
			next = keel_now() + 2000000;
		}
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "child")) {
		where("child");
		return 0;
	}
	if (!strcmp(mode, "spinner"))
		spinner();
	if (!strcmp(mode, "hog"))
		for (;;)
			;
	if (!strcmp(mode, "postee")) {
		postee();
		return failed;
	}
	if (!strcmp(mode, "where"))
		where("env");
	else if (!strcmp(mode, "stop"))
		stop();
	else if (!strcmp(mode, "move"))
		move();
	else if (!strcmp(mode, "post"))
		post();
	else if (!strcmp(mode, "handover"))
		handover(argc > 2 ? argv[2] : "");
	else if (!strcmp(mode, "stream"))
		stream(argc > 2 ? argv[2] : "");
	else if (!strcmp(mode, "disps"))
		disps(argc > 2 && !strcmp(argv[2], "exit"));
	else {
		printf("cpus: unknown mode '%s'\n", mode);
		return 2;
	}
	printf("cpus: %s: %s\n", mode, failed ? "FAILED" : "ok");
	return failed;
}
