/*
 * `bench [quick]`: Keel's microbenchmarks, run by bench/run.py. Each line
 *   BENCH <op> n=<samples> min=<> median=<> p99=<> redone=<>
 * is in TSC ticks after subtracting the empty measurement frame; under
 * -icount a tick is a guest instruction: a path length, not a latency.
 * `redone` counts samples thrown away and taken again because they did not
 * measure the operation (see collect()).
 * `bench yieldpeer` is the other side of the env-switch benchmark, and
 * then the receiver of the protected-control-transfer one. `bench deadline`
 * times SYS_SET_DEADLINE itself (a diagnosis, see deadline_costs()). The boot grants
 * the bench software vector 0xA0 (bench/run.py).
 */
#include "keel.h"
#include "vm.h"
#include "ipc.h"
#include "env.h"
#include "dev.h"

uint64_t op_empty(void), op_floor_int(void), op_syscall(void), op_null_syscall(void), op_self_upcall(void),
	op_swvec(void), op_trap(void);
uint64_t timer_spin(volatile uint64_t *flag, uint64_t *start);
extern char bench_event_entry[], bench_trap_entry[], keel_event_entry[];
extern volatile uint64_t bench_events, bench_traps;

#define MAXN 20000
static uint64_t samples[MAXN];
static uint64_t empty_min;

static void sort(uint64_t *a, size_t n) /* shell sort: no libc here */
{
	for (size_t gap = n / 2; gap; gap /= 2)
		for (size_t i = gap; i < n; i++)
			for (size_t j = i; j >= gap && a[j - gap] > a[j]; j -= gap) {
				uint64_t t = a[j];
				a[j] = a[j - gap];
				a[j - gap] = t;
			}
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* What an op returns for a sample that did not measure the operation (the
 * event came before the timing began, the yield did not switch). */
#define NOT_MEASURED UINT64_MAX

static size_t redone; /* by the last collect() */

/*
 * Run op warm times, then until n samples are kept; each kept sample is
 * the op's ticks less the empty frame's minimum. A sample is redone, and
 * counted, when the op says NOT_MEASURED, or when it is below the empty
 * frame -- every sample contains that frame, so one below it is a
 * measurement error, never a 0. Redoing is bounded: at most n in all, then
 * fewer than n samples are reported. Returns how many were kept.
 */
static size_t collect(uint64_t (*op)(void), size_t warm, size_t n)
{
	size_t kept = 0;
	for (size_t i = 0; i < warm; i++)
		op();
	for (redone = 0; kept < n && redone < n;) {
		uint64_t t = op();
		if (t != NOT_MEASURED && t >= empty_min)
			samples[kept++] = t - empty_min;
		else
			redone++;
	}
	return kept;
}

static void report(const char *op, size_t n)
{
	if (!n) {
		printf("bench: %s not measured: every sample redone (%zu)\n", op, redone);
		return;
	}
	sort(samples, n);
	printf("BENCH %s n=%zu min=%llu median=%llu p99=%llu redone=%zu\n", op, n, (unsigned long long)samples[0],
	       (unsigned long long)samples[n / 2], (unsigned long long)samples[n * 99 / 100], redone);
}

/*
 * The trace sites an op crosses (docs/benchmarks.md, "Trace sites per row"),
 * when the boot granted this env the trace capability (bench/run.py does):
 * the kernel trace switched on, each of SITE_SAMPLES runs of the op between
 * two reads of the ring -- the events between them, less the second read's
 * own syscall, are the sites the op crossed: each site records one event.
 *   SITES <op> n=<runs> min=<> max=<> path=<the events of a min run>
 * The path names each event, run-length coded (syscall(NR), upcall(KIND),
 * switch, timer, fault(VECTOR), ...): what the op does outside its timed
 * window (yield's two counter reads, the timer row's arming, ...) shows too.
 */
#define SITE_SAMPLES 16
#define SITE_FRAMES 16 /* 2048 events: the 512-page row's 1,000-odd fit */
static long trace_slot = -1;
static struct keel_trace_rec site_recs[SITE_FRAMES * KEEL_TRACE_PER_FRAME];
static char site_path[1][1024];

static long trace_take(void)
{
	struct keel_trace_read req = { .buf = (uint64_t)site_recs, .cpu = 0, .max = SITE_FRAMES * KEEL_TRACE_PER_FRAME };
	return sys_trace(trace_slot, KEEL_TRACE_READ, (long)&req);
}

static void event_name(const struct keel_trace_rec *r, char *buf, size_t size)
{
	static const char *const kinds[] = { "?", "switch", "syscall", "upcall", "irq", "ipi", "timer", "fault",
					     "revoke", "pct-call", "pct-reply", "exit", "idle", "post" };
	static const char *const ups[] = { "event", "trap", "pct" };
	const char *k = r->ev < sizeof kinds / sizeof kinds[0] ? kinds[r->ev] : "?";
	if (r->ev == KEEL_TR_SYSCALL || r->ev == KEEL_TR_FAULT)
		snprintf(buf, size, "%s(%llu)", k, (unsigned long long)r->a);
	else if (r->ev == KEEL_TR_UPCALL)
		snprintf(buf, size, "%s(%s)", k, r->a < 3 ? ups[r->a] : "?");
	else
		snprintf(buf, size, "%s", k);
}

/* The events of site_recs[0..n), the last (the read's own syscall) left out. */
static void path_of(long n, char *out, size_t size)
{
	size_t len = 0;
	out[0] = 0;
	for (long i = 0; i < n - 1 && len + 40 < size;) {
		char name[32], next[32];
		event_name(&site_recs[i], name, sizeof name);
		long j = i + 1;
		for (; j < n - 1; j++) {
			event_name(&site_recs[j], next, sizeof next);
			if (strcmp(name, next))
				break;
		}
		len += (size_t)snprintf(out + len, size - len, j - i > 1 ? "%s%sx%ld" : "%s%s", len ? "," : "", name,
					j - i);
		i = j;
	}
}

static void count_sites(const char *name, uint64_t (*op)(void))
{
	if (trace_slot < 0)
		return;
	long err = sys_trace(trace_slot, KEEL_TRACE_ON, SITE_FRAMES);
	if (err) {
		printf("bench: %s: no trace sites counted: %s\n", name, errname((int)err));
		return;
	}
	long lo = -1, hi = 0;
	for (int i = 0; i < SITE_SAMPLES; i++) {
		trace_take(); /* everything so far, this read's own syscall with it */
		op();
		long n = trace_take();
		if (n <= 0)
			continue;
		if (lo < 0 || n - 1 < lo) {
			lo = n - 1;
			path_of(n, site_path[0], sizeof site_path[0]);
		}
		hi = n - 1 > hi ? n - 1 : hi;
	}
	sys_trace(trace_slot, KEEL_TRACE_OFF, 0);
	printf("SITES %s n=%d min=%ld max=%ld path=%s\n", name, SITE_SAMPLES, lo, hi, site_path[0]);
}

static void measure(const char *name, uint64_t (*op)(void), size_t warm, size_t n)
{
	report(name, collect(op, warm, n));
	count_sites(name, op);
}

/* ------------------------------------------------------------ timer */
/*
 * A deadline interrupt -> event upcall -> resume, timed inside a spin
 * (timer_spin: the gap between the two TSC readings the interrupt fell
 * between). The deadline is armed timer_lead ns ahead, so that the spin is
 * running when it fires. When it fires before the spin has begun -- arming
 * a deadline can take longer than the lead in wall mode, see
 * docs/benchmarks.md -- the sample measured nothing: it is redone with
 * twice the lead (up to TIMER_LEAD_MAX_NS). Under icount it never is.
 */
#define TIMER_LEAD_NS 20000
#define TIMER_LEAD_MAX_NS 1000000
static uint64_t timer_lead = TIMER_LEAD_NS;
static volatile uint64_t timer_event_tsc; /* when the upcall ran; 0 until it has */
static uint64_t arm_ticks[MAXN];          /* each SYS_SET_DEADLINE, from Ring 3 */
static size_t arms, early;                /* warm-up included */

static void full_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *c)
{
	if (ev & KEEL_EV_TIMER)
		timer_event_tsc = rdtsc();
}

static uint64_t timer_round_trip(void)
{
	uint64_t start, t0 = rdtsc();
	timer_event_tsc = 0;
	sys_set_deadline(keel_now() + timer_lead);
	if (arms < MAXN)
		arm_ticks[arms++] = rdtsc() - t0;
	uint64_t gap = timer_spin(&timer_event_tsc, &start);
	if (timer_event_tsc > start)
		return gap;
	early++;
	if (timer_lead < TIMER_LEAD_MAX_NS)
		timer_lead *= 2;
	return NOT_MEASURED;
}

static void timer_row(size_t n)
{
	arms = early = 0;
	measure("timer_upcall_roundtrip", timer_round_trip, n / 10, n);
	sort(arm_ticks, arms);
	printf("INFO timer_upcall_roundtrip early=%zu lead_ns=%llu arm_ticks_median=%llu arm_ticks_p99=%llu "
	       "arm_ticks_max=%llu\n",
	       early, (unsigned long long)timer_lead, (unsigned long long)arm_ticks[arms / 2],
	       (unsigned long long)arm_ticks[arms * 99 / 100], (unsigned long long)arm_ticks[arms - 1]);
}

/* ----------------------------------------------------- `bench deadline` */
/*
 * What arming a deadline costs, TSC ticks around SYS_SET_DEADLINE from
 * Ring 3, as INFO lines (docs/benchmarks.md, "Arming a deadline"):
 *   deadline_far       1 s ahead: not the earliest timer, the LAPIC untouched
 *   deadline_earliest  1 ms ahead, then cancelled: the LAPIC timer written
 *   deadline_past      already due: fired at once (its upcall included)
 *   deadline_20us      20 us ahead and waited for, as the timer row does, so
 *                      a timer interrupt comes between two arms; `early`
 *                      counts events that came before the syscall returned
 * A diagnosis, not part of `bench all`.
 */
static void deadline_info(const char *name, uint64_t *a, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += a[i];
	sort(a, n);
	printf("INFO %s n=%zu min=%llu median=%llu p90=%llu p99=%llu max=%llu mean=%llu\n", name, n,
	       (unsigned long long)a[0], (unsigned long long)a[n / 2], (unsigned long long)a[n * 9 / 10],
	       (unsigned long long)a[n * 99 / 100], (unsigned long long)a[n - 1], (unsigned long long)(sum / n));
}

static uint64_t arm(uint64_t deadline)
{
	uint64_t t0 = rdtsc();
	sys_set_deadline(deadline);
	return rdtsc() - t0;
}

static int deadline_costs(size_t n)
{
	size_t early = 0;
	if (keel_upcalls_init(full_event, NULL))
		return 1;
	for (size_t i = 0; i < n; i++) {
		samples[i] = arm(keel_now() + 1000000000);
		sys_set_deadline(0);
	}
	deadline_info("deadline_far", samples, n);
	for (size_t i = 0; i < n; i++) {
		samples[i] = arm(keel_now() + 1000000);
		sys_set_deadline(0);
	}
	deadline_info("deadline_earliest", samples, n);
	for (size_t i = 0; i < n; i++)
		samples[i] = arm(1);
	deadline_info("deadline_past", samples, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t start;
		timer_event_tsc = 0;
		samples[i] = arm(keel_now() + TIMER_LEAD_NS);
		timer_spin(&timer_event_tsc, &start);
		early += timer_event_tsc < start;
	}
	deadline_info("deadline_20us", samples, n);
	printf("INFO deadline_20us early=%zu of %zu\n", early, n);
	return 0;
}

/* ------------------------------------------------------------ yield */
static uint64_t env_switches(void)
{
	struct keel_exit_counts c = { 0 };
	keel_syscall3(SYS_DEBUG, DEBUG_EXIT_COUNTS, (long)&c, 0);
	return c.switches;
}

/* A yield round trip, counted only if the peer really ran: the kernel's
 * own count of env switches rose by exactly two (to the peer and back). A
 * yield with nobody else runnable returns at once, having switched nothing. */
static inline __attribute__((always_inline)) uint64_t yield_once(void)
{
	uint64_t s0 = env_switches(), t0 = rdtsc();
	sys_yield();
	uint64_t dt = rdtsc() - t0;
	return env_switches() == s0 + 2 ? dt : NOT_MEASURED;
}
/* One function per row, so that ./keel bench --profile finds each (noipa:
 * not folded into one by identical-code folding). */
static __attribute__((noipa)) uint64_t yield_switching(void) { return yield_once(); }
static __attribute__((noipa)) uint64_t yield_in_place(void) { return yield_once(); }



/* ------------------------------------------- protected control transfer */
enum { PEER_ECHO = 1, PEER_STOP };
static volatile int peer_stop;
static long peer_slot;

static void peer_handler(struct keel_upcall_area *a, uint64_t caller, uint64_t msg[4])
{
	if (msg[0] == PEER_STOP) {
		peer_stop = 1;
		__asm__ volatile("int $0x82" ::: "memory"); /* wakes its main loop after the reply */
	}
	msg[1]++;
}

/* The peer, once its yields are done: serve calls until told to stop. */
static int peer_serve(void)
{
	if (keel_upcalls_init(NULL, NULL) || keel_pct_serve(peer_handler))
		return 1;
	while (!peer_stop) /* enabled: calls come in (keel_wait_while's disabled wait would refuse them) */
		sys_event_wait();
	return 0;
}

static uint64_t pct_round_trip(void)
{
	uint64_t a[4] = { PEER_ECHO, 1, 2, 3 }, r[4];
	uint64_t t0 = rdtsc();
	sys_pct_call((uint32_t)peer_slot, a, r);
	return rdtsc() - t0;
}

static void pct_rows(size_t n, size_t warm)
{
	uint64_t a[4] = { PEER_ECHO, 1, 2, 3 }, r[4];
	long err = -ENOENT;
	peer_slot = vm_find_cap(0, KEEL_CAP_ENV, NULL, 0, NULL);
	for (int i = 0; i < 100000 && peer_slot >= 0 && (err = sys_pct_call((uint32_t)peer_slot, a, r)); i++)
		sys_yield(); /* until the peer has done its yields and serves */
	if (err || r[1] != 2) {
		printf("bench: no protected control transfer peer (%s)\n", errname((int)err));
		return;
	}
	measure("pct_roundtrip", pct_round_trip, warm, n);
	a[0] = PEER_STOP;
	sys_pct_call((uint32_t)peer_slot, a, r);
}

/* ------------------------------------------------------ page tables */
static uint64_t vm_base;
static long fault_frame;

/* The libOS's demand-zero fault: a frame, mapped where it faulted. */
static int demand_trap(struct keel_upcall_area *a, uint64_t vec, uint64_t err, uint64_t cr2,
		       struct keel_context *ctx, int slot)
{
	if (vec != 14 || cr2 - vm_base >= (2 << 20))
		return 1;
	fault_frame = vm_map_new(cr2 & ~4095ULL, KEEL_MAP_WRITE); /* frame + map, one call */
	return fault_frame < 0;
}

static uint64_t demand_fault(void)
{
	uint64_t t0 = rdtsc();
	*(volatile char *)vm_base = 1; /* #PF -> trap upcall -> frame + map -> resumed */
	uint64_t dt = rdtsc() - t0;
	vm_unmap(vm_base);
	sys_cap_delete((uint32_t)fault_frame);
	return dt;
}

/* Like Linux's mmap(MAP_POPULATE) + munmap: zeroed frames allocated and
 * mapped (KEEL_CAP_NEW), then unmapped and freed (KEEL_CAP_FREE) -- npages
 * in one batch each way. */
static uint64_t map_unmap(size_t npages)
{
	static struct keel_mmu_op ops[KEEL_MMU_BATCH_MAX];
	long table = vm_table(1, vm_base, 1);
	uint64_t t0 = rdtsc();
	for (size_t i = 0; i < npages; i++)
		ops[i] = (struct keel_mmu_op){ .table = (uint32_t)table, .index = (uint16_t)i, .flags = KEEL_MAP_WRITE,
					       .cap = KEEL_CAP_NEW };
	sys_mmu_update(ops, npages, NULL);
	for (size_t i = 0; i < npages; i++)
		ops[i].cap = KEEL_CAP_FREE;
	sys_mmu_update(ops, npages, NULL);
	return rdtsc() - t0;
}
static uint64_t map_unmap_1(void) { return map_unmap(1); }
static uint64_t map_unmap_512(void) { return map_unmap(512); }

/* The unmap alone (one SYS_MMU_UPDATE clearing one entry) of a page mapped
 * before the timing: on one CPU, an INVLPG; with another CPU running an env,
 * the shootdown too (IPI, remote INVLPG, acknowledgement). */
static uint64_t unmap_1(void)
{
	static long frame = -1;
	if (frame < 0)
		frame = sys_frame_alloc();
	if (frame < 0 || vm_map(vm_base, (uint32_t)frame, KEEL_MAP_WRITE))
		return NOT_MEASURED;
	*(volatile char *)vm_base = 1; /* its translation in the TLB */
	uint64_t t0 = rdtsc();
	vm_unmap(vm_base);
	return rdtsc() - t0;
}

static int vm_setup(void)
{
	long vr = sys_vrange_alloc(2 << 20, 2 << 20);
	struct keel_cap_info info;
	if (vm_init() || vr < 0 || sys_cap_info((uint32_t)vr, &info) || vm_table(1, info.base, 1) < 0) {
		printf("bench: no page tables\n");
		return -1;
	}
	vm_base = info.base;
	return 0;
}

/* Events between envs on two CPUs: the bench posts to the spinner (on
 * cpu1), whose upcall posts the bits back; the bench waits until its own
 * upcall has counted them. Bit 1: both spin in Ring 3 meanwhile (each post
 * interrupts a running env); bit 2: both wait in SYS_EVENT_WAIT (each post
 * wakes a halted CPU), as Linux's futex and eventfd rows do. */
#define POST_SPIN 1
#define POST_BLOCK 2
static volatile uint64_t posts_back, spinner_blocks;
static long spinner_slot = -1;

static void echo_post(struct keel_upcall_area *a, uint64_t ev, struct keel_context *c)
{
	uint64_t b;
	if (!(ev & KEEL_EV_POST) || !(b = keel_take(&a->posted)))
		return;
	spinner_blocks = (b & POST_BLOCK) != 0;
	sys_event_post((uint32_t)spinner_slot, 0, b); /* (the spinner's slot: its peer's) */
}

/* One round trip: post `bit` to env slot `slot` (KEEL_SELF: this env) on
 * CPU 1, and wait -- spinning, or in SYS_EVENT_WAIT for POST_BLOCK -- until
 * this dispatcher's upcall has counted the echo. */
static uint64_t post_roundtrip(uint32_t slot, uint64_t bit)
{
	uint64_t before = posts_back, t0 = rdtsc();
	if (sys_event_post(slot, 1, bit))
		return NOT_MEASURED;
	if (bit == POST_BLOCK)
		keel_wait_while(keel_area, &posts_back, before);
	while (posts_back == before)
		;
	return rdtsc() - t0;
}
static uint64_t xcpu_post_as(uint64_t bit) { return post_roundtrip((uint32_t)spinner_slot, bit); }
static uint64_t xcpu_post(void) { return xcpu_post_as(POST_SPIN); }
static uint64_t xcpu_post_blocked(void) { return xcpu_post_as(POST_BLOCK); }

/* The same between two dispatchers of this env (cpu0 -> cpu1 -> cpu0):
 * the second, on cpu1, echoes to the first (KEEL_SELF, cpu0). */
static struct keel_upcall_area disp2_area __attribute__((aligned(4096)));
static uint8_t disp2_stack[16384] __attribute__((aligned(64)));
static uint8_t disp2_ustack[16384] __attribute__((aligned(64)));
static uint8_t disp2_tstack[16384] __attribute__((aligned(64)));
static volatile uint64_t disp2_blocks;

static void smp_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *c)
{
	uint64_t b;
	if (!(ev & KEEL_EV_POST) || !(b = keel_take(&a->posted)))
		return;
	if (a != &disp2_area) {
		posts_back++; /* the first dispatcher: an echo came back */
		return;
	}
	disp2_blocks = (b & POST_BLOCK) != 0;
	sys_event_post(KEEL_SELF, 0, b);
}

static void disp2_main(void *arg)
{
	for (;;)
		if (disp2_blocks)
			sys_event_wait();
}

static uint64_t xdisp_post_as(uint64_t bit) { return post_roundtrip(KEEL_SELF, bit); }
static uint64_t xdisp_post(void) { return xdisp_post_as(POST_SPIN); }
static uint64_t xdisp_post_blocked(void) { return xdisp_post_as(POST_BLOCK); }

/* This env's first dispatcher on cpu0 and a second on cpu1, which waits
 * until posted to. (It holds both CPUs: until the start binds the first to
 * the CPU it runs on, that may be cpu1 -- then it tries again.) */
static int start_second(void)
{
	keel_area_prepare(&disp2_area, disp2_ustack, sizeof disp2_ustack, disp2_tstack, sizeof disp2_tstack);
	disp2_blocks = 1;
	for (int tries = 0; tries < 1000; tries++) {
		if (keel_cpu() != 0) {
			sys_yield();
			continue;
		}
		long r = keel_disp_start(1, &disp2_area, disp2_main, disp2_stack, sizeof disp2_stack, 0);
		if (r != -EEXIST)
			return (int)r;
	}
	return -EEXIST;
}

/* `bench smp`, on cpu0 beside `bench spinner` on cpu1: the unmap with a
 * shootdown to pay, and the cross-CPU event round trips -- to the spinner,
 * another env, and to this env's own second dispatcher on cpu1 (the spinner
 * waits meanwhile). */
static int smp_rows(size_t n, size_t warm, int blocked_only)
{
	trace_slot = -1; /* no trace-site counts: they would switch the trace on */
	if (vm_setup() || keel_upcalls_init(smp_event, NULL))
		return 1;
	int second = start_second();
	if (second)
		printf("bench: no second dispatcher on cpu1: %s\n", errname(second));
	if (!blocked_only)
		measure("shootdown_unmap_1_page", unmap_1, warm, n / 5);
	spinner_slot = vm_find_cap(0, KEEL_CAP_ENV, NULL, 0, NULL);
	if (spinner_slot >= 0) {
		/* the spinner takes upcalls once it has run a moment: retry until it does */
		uint64_t first = blocked_only ? POST_BLOCK : POST_SPIN;
		while (sys_event_post((uint32_t)spinner_slot, 1, first) == -ENOENT)
			sys_yield();
		if (blocked_only)
			keel_wait_while(keel_area, &posts_back, 0);
		while (!posts_back)
			;
		if (!blocked_only)
			measure("xcpu_event_roundtrip", xcpu_post, warm, n / 5);
		measure("xcpu_event_roundtrip_blocked", xcpu_post_blocked, warm, n / 5);
		if (!second) { /* the spinner waits: cpu1 is the second dispatcher's */
			if (!blocked_only)
				measure("xdisp_event_roundtrip", xdisp_post, warm, n / 5);
			measure("xdisp_event_roundtrip_blocked", xdisp_post_blocked, warm, n / 5);
		}
		xcpu_post(); /* the spinner spins again: it notices this env's end */
	}
	printf("BENCH done smp\n");
	return 0;
}

/* `bench spinner`: keeps a CPU in Ring 3 with its own address space loaded
 * (a CPU a shootdown must reach) until the env beside it has ended; looks
 * only now and then, so it does not contend for the kernel lock. */
static int spinner(void)
{
	long peer = vm_find_cap(0, KEEL_CAP_ENV, NULL, 0, NULL);
	spinner_slot = peer; /* echo_post posts back to it */
	if (peer >= 0)
		keel_upcalls_init(echo_post, NULL);
	for (;;) {
		if (spinner_blocks)
			sys_event_wait(); /* until a post (its upcall echoes it) */
		else
			for (volatile uint32_t i = 0; i < 1000000 && !spinner_blocks; i++)
				;
		if (peer < 0 || keel_env_gone((uint32_t)peer))
			return 0;
	}
}

static void vm_rows(size_t n, size_t warm)
{
	if (vm_setup())
		return;
	measure("map_unmap_1_page", map_unmap_1, warm, n / 5);
	measure("unmap_1_page", unmap_1, warm, n / 5);
	measure("map_unmap_512_pages", map_unmap_512, warm / 10, n / 50);
	keel_upcalls_init(full_event, demand_trap); /* libos's own entries, XSAVE and all */
	measure("demand_zero_fault_upcall", demand_fault, warm, n / 5);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "all";
	size_t n = !strcmp(mode, "quick") ? 1000 : 10000, warm = n / 10;
	if (!strcmp(mode, "deadline"))
		return deadline_costs(2000);
	if (!strcmp(mode, "spinner"))
		return spinner();
	if (!strcmp(mode, "smp")) {
		size_t k = collect(op_empty, warm, n);
		report("empty_frame", k);
		empty_min = samples[0];
		return smp_rows(n, warm, argc > 2 && !strcmp(argv[2], "blocked"));
	}
	if (!strcmp(mode, "yieldpeer")) {
		/* It yields at every slice end of the bench before the yield row
		 * too, so the budget is in wall time as much as in samples: 11,000
		 * covers 110 s of a slow host's 10 ms slices, and what the row
		 * leaves over goes in a few ms of ping-pong before the calls. */
		for (size_t i = 0; i < 11000; i++)
			sys_yield();
		return peer_serve();
	}

	trace_slot = vm_find_cap(0, KEEL_CAP_TRACE, NULL, 0, NULL);
	/* The empty frame first: what every other figure subtracts (taken
	 * with nothing subtracted yet: empty_min is 0). */
	size_t k = collect(op_empty, warm, n);
	report("empty_frame", k);
	empty_min = samples[0];

	measure("floor_int_iretq", op_floor_int, warm, n);
	/* The syscall floor: no printing (that is a syscall too) until the
	 * real entry is back, restored through the interrupt gate. */
	keel_syscall3(SYS_DEBUG, DEBUG_FLOOR_SYSCALL, 1, 0);
	k = collect(op_syscall, warm, n);
	{
		long r;
		__asm__ volatile("int $0x80" : "=a"(r) : "a"(SYS_DEBUG), "D"(DEBUG_FLOOR_SYSCALL), "S"(0), "d"(0) : "memory");
	}
	report("floor_syscall_sysretq", k);
	count_sites("empty_frame", op_empty);
	measure("null_syscall", op_null_syscall, warm, n);

	if (keel_upcalls_init(full_event, NULL)) {
		printf("bench: no upcalls\n");
		return 1;
	}
	struct keel_upcall_area *a = keel_area;
	a->event_entry = (uint64_t)bench_event_entry;
	a->trap_entry = (uint64_t)bench_trap_entry;
	measure("upcall_roundtrip", op_self_upcall, warm, n);
	if (vm_find_cap(0, KEEL_CAP_SWVEC, NULL, 0, NULL) >= 0)
		measure("swvec_upcall_roundtrip", op_swvec, warm, n);
	measure("trap_upcall_roundtrip", op_trap, warm, n);
	a->event_entry = (uint64_t)keel_event_entry; /* libos's: saves and restores extended state */
	measure("upcall_roundtrip_xsave", op_self_upcall, warm, n);
	timer_row(n / 5);
	if (argc > 2 || !strcmp(mode, "all") || !strcmp(mode, "quick")) {
		/* Each re-dispatch is an activation upcall: take it on the lean
		 * entry, as the other upcall rows do (the kernel still saves and
		 * restores the extended state at every env switch). */
		a->event_entry = (uint64_t)bench_event_entry;
		measure("yield_roundtrip_2_switches", yield_switching, n / 100, n / 10);
		a->event_entry = (uint64_t)keel_event_entry;
		a->flags |= KEEL_AREA_YIELD_IN_PLACE; /* resumed in place, not by activation */
		measure("yield_roundtrip_in_place", yield_in_place, n / 100, n / 10);
		a->flags &= ~(uint32_t)KEEL_AREA_YIELD_IN_PLACE;
		pct_rows(n, warm);
	}
	vm_rows(n, warm);
	printf("BENCH done upcalls=%llu traps=%llu\n", (unsigned long long)bench_events,
	       (unsigned long long)bench_traps);
	return 0;
}
