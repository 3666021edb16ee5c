/*
 * The thread library's CPUs (docs/schedulers.md "Many CPUs"): each CPU's
 * pages, starting a dispatcher on every CPU the env holds, kicking one,
 * and the memory lock that lets threads on several CPUs share the heap and
 * the page-table layer. The scheduling on them is dispatch.c's.
 */
#include "dispatch.h"
#include "ipc.h"
#include "mem.h"
#include "vm.h"

#define PAGE 4096ULL
#define STACK (16 * 1024ULL)
/* Each CPU's pages, in a region of its own (reserved when the CPU is
 * prepared): a guard page, its idle stack, its trap and upcall stacks, its
 * upcall area. CPU 0 uses libos's own area and stacks (keel_upcalls_init)
 * and only its idle stack from here. */
#define CHUNK (64 * 1024ULL)
#define IDLE_OFF PAGE
#define TRAP_OFF (IDLE_OFF + STACK)
#define UPCALL_OFF (TRAP_OFF + STACK)
#define AREA_OFF (UPCALL_OFF + STACK)
_Static_assert(AREA_OFF + PAGE <= CHUNK, "a CPU's pages fit its chunk");

static struct vm_region cpu_pages[DISPATCH_CPUS_MAX];
static uint32_t cpu_frames[DISPATCH_CPUS_MAX][CHUNK / PAGE];

static long map_pages(struct vm_region *r, uint64_t va, uint64_t len)
{
	for (uint64_t p = 0; p < len; p += PAGE) {
		long err = vm_region_map(r, va + p);
		if (err < 0)
			return err;
	}
	return 0;
}

int dispatch_cpu_prepare(struct dcpu *c, unsigned idx)
{
	struct vm_region *reg = &cpu_pages[idx];
	if (!reg->base) {
		long r = vm_region_reserve(reg, CHUNK, 0, PAGE, CHUNK, VMR_WRITE, cpu_frames[idx]);
		if (r)
			return (int)r;
	}
	uint64_t base = reg->base;
	long r = idx ? map_pages(reg, base + IDLE_OFF, AREA_OFF + PAGE - IDLE_OFF) : map_pages(reg, base + IDLE_OFF, STACK);
	if (r)
		return (int)r;
	c->idx = idx;
	c->idle_stack = (uint8_t *)(base + IDLE_OFF + STACK);
	if (idx) {
		c->area = (struct keel_upcall_area *)(base + AREA_OFF);
		keel_area_prepare(c->area, (void *)(base + UPCALL_OFF), STACK, (void *)(base + TRAP_OFF), STACK);
	}
	return 0;
}

/* ------------------------------------------------------ starting CPUs */
static volatile int cpus_go; /* the new dispatchers wait for it */

/* A new dispatcher's first instructions, bound to its CPU, on its idle
 * stack: wait until every CPU is set up, then idle (which runs threads). */
static __attribute__((noreturn)) void cpu_entry(void *arg)
{
	struct dcpu *c = arg;
	c->area->disabled = 1;
	while (!cpus_go)
		sys_event_wait(); /* (disabled: returns once the go's post is pending) */
	c->area->pending = 0;
	keel_take(&c->area->posted);
	c->waited_seen = c->area->waited_total_ns;
	dispatch_idle(c);
}

int dispatch_start_cpus(unsigned max)
{
	unsigned n = 1;
	int err = 0;
	if (dispatch_multi)
		return -EEXIST;
	for (unsigned cpu = 0; cpu < DISPATCH_CPUS_MAX && (!max || n < max); cpu++) {
		struct dcpu *c = &dispatch_cpus[n];
		if ((err = dispatch_cpu_prepare(c, n)))
			break;
		c->cpu = cpu;
		long r = keel_disp_start(cpu, c->area, cpu_entry, c->idle_stack - STACK, STACK, c);
		if (r == -ERANGE)
			break; /* past the last CPU that is up */
		if (r == -ENOCPU || r == -EEXIST)
			continue; /* not held; or this dispatcher's own */
		if (r < 0) {
			err = (int)r;
			break;
		}
		dispatch_by_cpu[cpu] = c;
		n++;
	}
	err = err == -ERANGE ? 0 : err;
	if (n == 1)
		return err;
	/* The first start bound this dispatcher to the CPU it ran on then. */
	struct dcpu *c0 = &dispatch_cpus[0];
	c0->cpu = keel_cpu_by(KEEL_CPU_BY_LSL);
	dispatch_by_cpu[c0->cpu] = c0;
	c0->area->disabled = 1;
	dispatch_ncpus = n;
	__atomic_store_n(&dispatch_multi, true, __ATOMIC_SEQ_CST);
	/* The policy starts again knowing every CPU. */
	dispatch_spin_lock();
	sched_restart_policy();
	cpus_go = 1;
	for (unsigned i = 1; i < n; i++)
		sys_event_post(KEEL_SELF, dispatch_cpus[i].cpu, 1);
	dispatch_unlock();
	return err;
}

void dispatch_kick(struct dcpu *c)
{
	struct dcpu *here = dispatch_here();
	if (c == here || c->kicked)
		return;
	c->kicked = true;
	c->kicks++;
	if (c->polling) {
		__atomic_store_n(&c->poke, 1, __ATOMIC_RELEASE); /* it spins on that word: no event needed */
		return;
	}
	here->kicks_owed |= 1ULL << c->idx; /* posted when here lets go of the lock */
}

/* ---------------------------------------------------- the memory lock */
/*
 * The heap and the page-table layer (malloc.c, region.c) are one CPU's
 * code: with several, this lock makes them one CPU's at a time. Taken with
 * this CPU's upcalls off (no thread switch here while it is held), nested
 * on one CPU (malloc maps pages through the region). A page fault while it
 * is held would take it again from the trap handler (a thread's stack
 * mapped on demand): the stack below is touched first, so none comes.
 */
static uint32_t mem_owner; /* 1 + the idx of the CPU holding it; 0: free */
static unsigned mem_depth;
static uint64_t mem_was_disabled;

static void mem_lock_enter(void)
{
	volatile uint8_t *sp = __builtin_frame_address(0);
	(void)sp[-2 * (int64_t)PAGE]; /* (the stack it will use, mapped before the lock) */
	(void)sp[-(int64_t)PAGE];
	for (;;) {
		struct dcpu_disabled d = dispatch_disable();
		uint32_t me = d.c->idx + 1;
		if (__atomic_load_n(&mem_owner, __ATOMIC_RELAXED) == me) {
			mem_depth++;
			return;
		}
		if (__atomic_compare_exchange_n(&mem_owner, &(uint32_t){ 0 }, me, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED)) {
			mem_depth = 1;
			mem_was_disabled = d.was;
			return;
		}
		if (!d.was)
			keel_upcalls_enable(d.c->area); /* (a thread waits enabled, as for the scheduler lock) */
		while (__atomic_load_n(&mem_owner, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
	}
}

static void mem_lock_exit(void)
{
	if (--mem_depth)
		return;
	uint64_t was = mem_was_disabled;
	struct dcpu *c = dispatch_here();
	__atomic_store_n(&mem_owner, 0, __ATOMIC_RELEASE);
	if (!was)
		keel_upcalls_enable(c->area);
}

const struct libos_mem_lock dispatch_mem_lock = { mem_lock_enter, mem_lock_exit };
