/* libos upcalls: the area, the stacks, the handlers; see upcall.S and
 * docs/upcalls.md. */
#include "keel.h"

struct keel_upcall_area keel_area_page __attribute__((aligned(4096)));
struct keel_upcall_area *keel_area;

#define STACK_SIZE (16 * 1024)
static uint8_t upcall_stack[STACK_SIZE] __attribute__((aligned(64)));
static uint8_t trap_stack[STACK_SIZE] __attribute__((aligned(64)));

/* Read by upcall.S: how to save the extended state. */
uint64_t libos_use_xsave, libos_xsave_size = 512 + 64;

static keel_event_fn event_handler;
static keel_trap_fn trap_handler;

extern char keel_event_entry[], keel_trap_entry[], keel_resume_crit_start[], keel_resume_crit_end[];

void *keel_upcall_xstate;

/* Where a handler's interrupted extended state is now: in its area
 * (env_words[1], set by the entries), one per dispatcher. */
void *keel_upcall_xstate_of(const struct keel_upcall_area *a) { return (void *)a->env_words[1]; }

void keel_upcall_xstate_set(struct keel_upcall_area *a, void *xstate)
{
	a->env_words[1] = (uint64_t)xstate;
	keel_upcall_xstate = xstate;
}

void keel_upcalls_enable(struct keel_upcall_area *a)
{
	__asm__ volatile("" ::: "memory");
	*(volatile uint32_t *)&a->disabled = 0;
	__asm__ volatile("" ::: "memory");
	if (*(volatile uint64_t *)&a->pending) {
		struct keel_context c; /* through the resume routine: the handler runs */
		keel_capture_resume(&c, a);
	}
}

/* Called by upcall.S's entries. */
void libos_event(struct keel_upcall_area *a, void *xstate);
void *libos_trap(struct keel_upcall_area *a, uint64_t vector, uint64_t error, uint64_t cr2, uint64_t slot,
		 void *xstate);

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

int keel_upcalls_init(keel_event_fn on_event, keel_trap_fn on_trap)
{
	return keel_upcalls_init_at(&keel_area_page, on_event, on_trap);
}

/* How big the extended state is, and how to save it (CPUID, once). */
static void detect_xsave(void)
{
	static int done;
	uint32_t eax, ebx, ecx, edx;
	if (done)
		return;
	done = 1;
	cpuid(1, 0, &eax, &ebx, &ecx, &edx);
	if (ecx & (1u << 27)) { /* OSXSAVE: the kernel enabled XSAVE */
		cpuid(0xD, 0, &eax, &ebx, &ecx, &edx);
		libos_use_xsave = 1;
		libos_xsave_size = ebx + 64;
	}
}

void keel_area_prepare(struct keel_upcall_area *a, void *ustack, size_t usize, void *tstack, size_t tsize)
{
	memset(a, 0, sizeof *a);
	a->disabled = 0;
	a->event_entry = (uint64_t)keel_event_entry;
	a->trap_entry = (uint64_t)keel_trap_entry;
	a->upcall_stack = (uint64_t)ustack + usize;
	a->trap_stack = (uint64_t)tstack + tsize;
	a->trap_stack_size = tsize;
	a->crit_start = (uint64_t)keel_resume_crit_start;
	a->crit_end = (uint64_t)keel_resume_crit_end;
}

int keel_upcalls_init_at(struct keel_upcall_area *a, keel_event_fn on_event, keel_trap_fn on_trap)
{
	detect_xsave();
	event_handler = on_event;
	trap_handler = on_trap;
	keel_area_prepare(a, upcall_stack, STACK_SIZE, trap_stack, STACK_SIZE);
	keel_area = a;
	return (int)keel_syscall3(SYS_UPCALL_SETUP, (long)a, 0, 0);
}

long keel_disp_start(unsigned cpu, struct keel_upcall_area *a, void (*entry)(void *), void *stack, size_t size,
		     void *arg)
{
	/* As if entry had been called: RSP + 8 16-byte aligned. */
	uint64_t top = (((uint64_t)stack + size) & ~15ULL) - 8;
	struct keel_disp_start req = { .cpu = cpu, .area = (uint64_t)a, .entry = (uint64_t)entry, .stack = top,
				       .arg = (uint64_t)arg };
	return keel_syscall3(SYS_DISP_START, (long)&req, 0, 0);
}

void libos_event(struct keel_upcall_area *a, void *xstate)
{
	keel_upcall_xstate = xstate; /* (env_words[1] too: the entry stored it) */
	uint64_t events = __atomic_exchange_n(&a->pending, 0, __ATOMIC_SEQ_CST);
	if (event_handler)
		event_handler(a, events, &a->enabled_save);
}

/* A trap may come inside an event handler: the outer's place is kept, and
 * the one the handler leaves (a switch) goes back to upcall.S, in RAX. */
void *libos_trap(struct keel_upcall_area *a, uint64_t vector, uint64_t error, uint64_t cr2, uint64_t slot,
		 void *xstate)
{
	struct keel_context *ctx = slot == KEEL_SAVE_TRAP ? &a->trap_save : &a->enabled_save;
	void *outer = keel_upcall_xstate, *outer_mine = keel_upcall_xstate_of(a);
	keel_upcall_xstate_set(a, xstate);
	int resume = trap_handler && trap_handler(a, vector, error, cr2, ctx, (int)slot) == 0;
	void *from = keel_upcall_xstate_of(a);
	a->env_words[1] = (uint64_t)outer_mine;
	keel_upcall_xstate = outer;
	if (resume)
		return from;
	printf("libos: env %ld: unhandled trap %llu at rip %#llx (error %#llx, cr2 %#llx)\n", sys_env_id(),
	       (unsigned long long)vector, (unsigned long long)ctx->rip, (unsigned long long)error,
	       (unsigned long long)cr2);
	sys_exit(128 + (int)vector);
}

size_t keel_xstate_size(void)
{
	detect_xsave();
	/* (FXSAVE's image is 512 bytes: 64 more, for the entries' clearing of
	 * an XSAVE header, which FXSAVE ignores.) */
	return libos_use_xsave ? libos_xsave_size - 64 : libos_xsave_size;
}

uint64_t keel_now(void)
{
	if (!keel_area) /* no upcall area (yet): the kernel's clock by syscall */
		return sys_time();
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	uint64_t t = ((uint64_t)hi << 32) | lo;
	return (uint64_t)(((unsigned __int128)(t - keel_area->clock_tsc_base) * keel_area->clock_mult) >> 32);
}
