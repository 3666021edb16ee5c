#include "env.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "clock.h"
#include "config.h"
#include "console.h"
#include "context.h"
#include "fpu.h"
#include "heap.h"
#include "keel/errno.h"
#include "lib/fmt.h"
#include "lib/string.h"
#include "panic.h"
#include "sched.h"
#include "spawn.h"
#include "upcall.h"
#include "slot.h"
#include "frame.h"
#include "pt.h"
#include "ioport.h"
#include "pct.h"
#include "uvm.h"

void user_return(struct trap_frame *frame, bool sysret) __noreturn; /* entry.S */

struct exit_stats exit_stats;
static struct env *all_envs;
static u32 next_id = 1;
static u64 live;

struct env *env_current(void) { return this_cpu()->env; }

struct env *env_by_id(u32 id)
{
	for (struct env *e = all_envs; e; e = e->all_next)
		if (e->id == id && e->state != ENV_DEAD)
			return e;
	return NULL;
}

struct env *env_first_child(const struct env *parent)
{
	for (struct env *e = all_envs; e; e = e->all_next)
		if (e->parent == parent)
			return e;
	return NULL;
}

void env_block(struct env *e, bool waiting)
{
	e->state = ENV_BLOCKED;
	e->waiting_events = waiting;
}

void env_unblocked(struct env *e)
{
	e->waiting_events = false;
}

void env_post(struct env *e, u64 events)
{
	e->events |= events;
	if (e->state == ENV_BLOCKED && e->waiting_events) {
		env_unblocked(e);
		e->state = ENV_RUNNABLE;
		sched_add(e);
	}
}

void env_kill_waiting(void)
{
	for (struct env *e = all_envs; e;) {
		if (e->state != ENV_BLOCKED || !e->waiting_events) {
			e = e->all_next;
			continue;
		}
		kprintf("env %u (%s): killed: waits for an event that nothing can send\n", e->id, e->name);
		sched_note_failure(e);
		env_destroy(e);
		e = all_envs; /* the list changed */
	}
}

void env_note_revoked(struct env *e)
{
	if (e->state == ENV_DEAD)
		return;
	/* Counted even before the env has an upcall area (the count is copied
	 * in when it registers one); the event only for an env that takes them. */
	e->revoked++;
	if (e->ka) {
		e->ka->revoked = e->revoked;
		env_post(e, KEEL_EV_REVOKED);
	}
}

void env_upcall_areas_check(paddr_t pa)
{
	/* An env whose upcall area is no longer its own writable page at that
	 * address -- it, or a table above it, was unmapped, revoked, shared
	 * read-only -- takes no more upcalls: the kernel reached the area
	 * through that frame, and must not write there for it any more. */
	for (struct env *e = all_envs; e; e = e->all_next) {
		paddr_t now;
		if (e->ka && (!pa || direct_va_to_pa(e->ka) == pa) &&
		    (uvm_translate(e->pml4, e->area, true, &now) || now != direct_va_to_pa(e->ka)))
			upcall_area_lost(e);
	}
}
u64 env_live_count(void) { return live; }

int env_create_empty(const char *name, struct env **out)
{
	struct env *e = kzalloc(sizeof *e);
	if (!e)
		return -ENOMEM;
	e->id = next_id++;
	fmt_snprintf(e->name, sizeof e->name, "%s", name);
	e->fpu = fpu_state_alloc();
	e->pml4 = e->fpu ? uvm_create(&e->pt_window) : 0;
	if (!e->pml4 || cspace_init(e) || pt_env_init(e)) {
		kfree(e->cs.leaf);
		if (e->pml4)
			uvm_destroy(e->pml4, e->pt_window);
		kfree(e->fpu);
		kfree(e);
		return -ENOMEM;
	}
	e->ctx.cs = USER_CS;
	e->ctx.ss = USER_SS;
	e->ctx.rflags = RFLAGS_IF_BIT | RFLAGS_RESERVED1;
	e->state = ENV_RUNNABLE;
	e->all_next = all_envs;
	all_envs = e;
	live++;
	*out = e;
	return 0;
}

void env_destroy(struct env *e)
{
	struct percpu *cpu = this_cpu();
	spawn_env_fini(e); /* its children first: they end with it */
	sched_remove(e);
	pct_env_fini(e);
	if (cpu->env == e) {
		/* Leave its address space before freeing it: any CR3 reaches the kernel. */
		write_cr3(slot_kernel_pml4());
		cpu->env = NULL;
		if (cpu->iomap_open) /* its ports close with it */
			ioport_switch(cpu, NULL);
	}
	for (struct env **p = &all_envs; *p; p = &(*p)->all_next) {
		if (*p == e) {
			*p = e->all_next;
			break;
		}
	}
	e->state = ENV_DEAD;
	timer_cancel(&e->deadline);
	/* Everything it holds is a capability: deleting them unmaps its memory,
	 * frees what it made and revokes what it gave away. */
	upcall_area_lost(e);
	cspace_destroy(e);
	ioport_env_fini(e);
	pt_env_fini(e);
	uvm_destroy(e->pml4, e->pt_window);
	kfree(e->fpu);
	kfree(e);
	live--;
}

void env_set_floor_syscall(struct env *e, bool on)
{
	extern char syscall_entry[], floor_sysretq[];
	e->floor_syscall = on;
	wrmsr(MSR_LSTAR, (u64)(on ? floor_sysretq : syscall_entry));
	this_cpu()->lstar_floor = on;
}

void env_save(struct env *e, const struct trap_frame *tf, bool from_syscall)
{
	e->ctx = *tf;
	e->ctx_from_syscall = from_syscall;
}

__noreturn void env_run(struct env *e)
{
	struct percpu *cpu = this_cpu();
	struct env *prev = cpu->env;
	if (prev != e) {
		if (prev) {
			fpu_save(prev->fpu);
			prev->fs_base = rdmsr(MSR_FS_BASE);
			prev->gs_base = rdmsr(MSR_KERNEL_GS_BASE);
			if (prev->state == ENV_RUNNING)
				prev->state = ENV_RUNNABLE;
		}
		fpu_restore(e->fpu);
		wrmsr(MSR_FS_BASE, e->fs_base);
		wrmsr(MSR_KERNEL_GS_BASE, e->gs_base); /* becomes GS base at the swapgs on exit */
		write_cr3(e->pml4);
		if (cpu->iomap_open || e->iobm_bytes)
			ioport_switch(cpu, e);
		cpu->env = e;
		exit_stats.switches++;
		if (e->floor_syscall != cpu->lstar_floor)
			env_set_floor_syscall(e, e->floor_syscall);
	}
	e->state = ENV_RUNNING;
	if (e->area)
		upcall_before_resume(e); /* may redirect ctx to an upcall entry */

	/* The frame goes at the top of this CPU's kernel stack, where the next
	 * entry from Ring 3 will build its own; nothing below is live. */
	struct trap_frame *f = (struct trap_frame *)(cpu->kstack_top - sizeof(struct trap_frame));
	ASSERT(read_rsp() < (u64)f);
	*f = e->ctx;
	if (context_sanitize(f, false))
		env_kill(e, "cannot resume at rip %#llx: not a user address", (unsigned long long)f->rip);
	/* sysretq takes RIP from RCX and RFLAGS from R11: user_return sets
	 * both from the frame, the values it checks. */
	bool sysret = exit_via_sysret(e->ctx_from_syscall, f->rip);
	if (sysret)
		exit_stats.sysret++;
	else
		exit_stats.iret++;
	/* An env that takes upcalls leaves with none undelivered: events went
	 * out by upcall, or into its area while it is disabled. */
	if (KEEL_DEBUG)
		ASSERT(f->cs == USER_CS && f->ss == USER_SS && (f->rflags & RFLAGS_IF_BIT) &&
		       !(f->rflags & (3ULL << 12)) && (read_cr3() & PTE_ADDR) == e->pml4 && (!e->area || !e->events));
	user_return(f, sysret);
}

void kstack_restart(void (*fn)(void)) __noreturn; /* entry.S */

static __noreturn void env_end(struct env *e)
{
	env_destroy(e);
	kstack_restart(sched_next);
}

__noreturn void env_exit(struct env *e, int code)
{
	kprintf("env %u (%s): exited with code %d\n", e->id, e->name, code);
	if (code != 0)
		sched_note_failure(e);
	env_end(e);
	__builtin_unreachable();
}

__noreturn void env_kill(struct env *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("env %u (%s): killed: ", e->id, e->name);
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	sched_note_failure(e);
	env_end(e);
	__builtin_unreachable();
}
