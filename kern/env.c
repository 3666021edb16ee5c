#include "env.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/xcall.h"
#include "config.h"
#include "console.h"
#include "context.h"
#include "cpu_features.h"
#include "fpu.h"
#include "heap.h"
#include "lock.h"
#include "keel/errno.h"
#include "lib/fmt.h"
#include "lib/string.h"
#include "panic.h"
#include "slot.h"
#include "trace.h"
#include "frame.h"
#include "uvm.h"

void user_return(struct trap_frame *frame, bool sysret) __noreturn; /* entry.S */

static struct env *all_envs;
struct env *env_id_buckets[ENV_ID_BUCKETS]; /* live envs by id (env_by_id, env.h) */
static u32 next_id = 1;
static u64 live, live_most;

u32 quota_caps_default = 65536;
u32 quota_frames_default = 65536;
u64 quota_vspace_default = 1ULL << 40;
u64 env_failures, env_started;

/* ------------------------------------------------------------ the hooks */
#define ENV_HOOKS_MAX 8
static const struct env_hooks *hooks[ENV_HOOKS_MAX];
static unsigned nhooks;
/* The hooks on the exit path, called straight (one subsystem has each
 * today: ports switch, upcalls resume; a loop here cost an env switch a
 * few per cent of its instructions). */
static void (*switch_fn)(struct percpu *cpu, struct env *next);
static void (*resume_fn)(struct dispatcher *d);
static void (*after_end)(void); /* what runs once an env has ended (the scheduler) */

void env_register(const struct env_hooks *h)
{
	ASSERT(nhooks < ENV_HOOKS_MAX);
	hooks[nhooks++] = h;
	if (h->switch_to) {
		ASSERT(!switch_fn);
		switch_fn = h->switch_to;
	}
	if (h->resume) {
		ASSERT(!resume_fn);
		resume_fn = h->resume;
	}
}

void env_set_continuation(void (*next)(void)) { after_end = next; }

/* The CPU is about to run `next` (NULL: no env at all). The hook only
 * when ports are involved (env.h): no indirect call on the switches of
 * envs that hold none, almost all of them. */
static inline void switch_hooks(struct percpu *cpu, struct env *next)
{
	if (switch_fn && (cpu->iomap_open || (next && next->io.bytes)))
		switch_fn(cpu, next);
}

struct env *env_current(void) { return this_cpu()->env; }

struct env *env_list(void) { return all_envs; }

struct env *env_first_child(const struct env *parent)
{
	for (struct env *e = all_envs; e; e = e->all_next)
		if (e->parent == parent)
			return e;
	return NULL;
}

u64 env_live_count(void) { return live; }

u64 env_live_most(void) { return live_most; }

static void disp_init(struct env *e, struct dispatcher *d)
{
	d->env = e;
	d->ctx.cs = USER_CS;
	d->ctx.ss = USER_SS;
	d->ctx.rflags = RFLAGS_IF_BIT | RFLAGS_RESERVED1;
	d->state = ENV_RUNNABLE;
}

struct dispatcher *env_disp_new(struct env *e)
{
	for_each_disp(e, o)
		if (o->state == ENV_ENDED) { /* one that ended: it starts again, as new */
			void *fpu = o->fpu;
			struct dispatcher *next = o->next;
			void *fresh = fpu_state_alloc();
			if (!fresh)
				return NULL;
			memcpy(fpu, fresh, fpu_state_size);
			kfree(fresh);
			memset(o, 0, sizeof *o);
			o->fpu = fpu;
			o->next = next;
			disp_init(e, o);
			e->ndisp++;
			return o;
		}
	struct dispatcher *d = kzalloc(sizeof *d);
	if (!d)
		return NULL;
	if (!(d->fpu = fpu_state_alloc())) {
		kfree(d);
		return NULL;
	}
	disp_init(e, d);
	struct dispatcher **p = &e->d0.next;
	while (*p)
		p = &(*p)->next;
	*p = d;
	e->ndisp++;
	return d;
}

void env_disp_free(struct dispatcher *d)
{
	struct env *e = d->env;
	for (struct dispatcher **p = &e->d0.next; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			break;
		}
	e->ndisp--;
	kfree(d->fpu);
	kfree(d);
}

int env_create_empty(const char *name, struct env **out)
{
	struct env *e = kzalloc(sizeof *e);
	if (!e)
		return -ENOMEM;
	e->id = next_id++;
	fmt_snprintf(e->name, sizeof e->name, "%s", name);
	e->d0.fpu = fpu_state_alloc();
	e->pml4 = e->d0.fpu ? uvm_create(&e->pt_window) : 0;
	e->quota_caps = quota_caps_default;
	e->quota_frames = quota_frames_default;
	e->quota_vspace = quota_vspace_default;
	int err = e->pml4 ? 0 : -ENOMEM;
	unsigned made = 0;
	while (!err && made < nhooks) {
		if (hooks[made]->init && (err = hooks[made]->init(e)))
			break;
		made++;
	}
	if (err) {
		while (made--) /* undone in reverse, as at the end */
			if (hooks[made]->fini)
				hooks[made]->fini(e);
		if (e->pml4)
			uvm_destroy(e->pml4, e->pt_window);
		kfree(e->d0.fpu);
		kfree(e);
		return err;
	}
	disp_init(e, &e->d0);
	e->ndisp = 1;
	e->all_next = all_envs;
	all_envs = e;
	e->id_next = env_id_buckets[e->id % ENV_ID_BUCKETS];
	env_id_buckets[e->id % ENV_ID_BUCKETS] = e;
	if (++live > live_most)
		live_most = live;
	*out = e;
	return 0;
}

/* This CPU's registers give d's state back to d (FPU, FS and GS bases). */
static inline void save_state(struct dispatcher *d)
{
	fpu_save(d->fpu);
	/* The FS base by RDFSBASE where the CPU has it (main.c sets
	 * CR4.FSGSBASE then): fewer steps than the MSR, each switch. */
	d->fs_base = cpu_has.fsgsbase ? rdfsbase() : rdmsr(MSR_FS_BASE);
	d->gs_base = rdmsr(MSR_KERNEL_GS_BASE);
}

/* This CPU lets go of d: its state saved, its env's ports closed. Its
 * address space stays loaded (lazily: the CPU idles, and if d comes back
 * here no CR3 load is needed; TLB shootdowns still reach this CPU) unless
 * `leave`: then the kernel's (any CR3 reaches the kernel: invariant 3). */
static void unload(struct percpu *cpu, struct dispatcher *d, bool leave)
{
	save_state(d);
	if (leave) {
		write_cr3(slot_kernel_pml4());
		cpu->pml4_loaded = 0;
	}
	cpu->env = NULL;
	cpu->disp = NULL;
	d->loaded_on = 0;
	switch_hooks(cpu, NULL);
}

/* A cross-CPU call: the CPU that holds dispatcher `arg` (idle, keeping it,
 * or running it when its env dies) lets go of it. Run where that CPU can
 * take an interrupt -- in Ring 3, halted, or spinning for the kernel lock
 * -- never inside a kernel path: what it was doing for it is over. */
static void unload_call(void *arg)
{
	struct percpu *cpu = this_cpu();
	if (cpu->disp == arg)
		unload(cpu, arg, false);
}

/* A cross-CPU call: this CPU's CR3 leaves the address space `arg` (a dying
 * env's PML4) for the kernel's. */
static void leave_call(void *arg)
{
	struct percpu *cpu = this_cpu();
	if (cpu->pml4_loaded == *(paddr_t *)arg) {
		write_cr3(slot_kernel_pml4());
		cpu->pml4_loaded = 0;
	}
}

static __attribute__((noinline)) void fetch_from(struct dispatcher *d, u32 c)
{
	if (smp_call(c, unload_call, d))
		panic("env %u (%s): cpu%u, which holds it, did not answer within 5 s", d->env->id, d->env->name, c);
}

/* d's state comes back from the other CPU that holds it, if one does. */
static inline void take_from_other_cpu(struct dispatcher *d, u32 me)
{
	if (unlikely(d->loaded_on && d->loaded_on != me + 1))
		fetch_from(d, d->loaded_on - 1);
}

void env_disp_unload(struct dispatcher *d)
{
	struct percpu *cpu = this_cpu();
	if (cpu->disp == d)
		unload(cpu, d, false);
	else
		take_from_other_cpu(d, cpu->id);
}

void env_destroy(struct env *e)
{
	struct percpu *cpu = this_cpu();
	TRACE(KEEL_TR_EXIT, e->id, 0, 0);
	for_each_disp(e, d) {
		take_from_other_cpu(d, cpu->id); /* each stops there before anything of it is freed */
		if (cpu->disp == d)
			unload(cpu, d, true); /* its ports close with it, ... */
	}
	/* Its PML4 is freed below: no CPU may still have it loaded. */
	u64 holders = 0;
	for (u32 c = 0; c < cpus_up; c++)
		if (cpus[c].pml4_loaded == e->pml4)
			holders |= 1ULL << c;
	if (holders && smp_call_many(holders, leave_call, &e->pml4))
		panic("env %u (%s): a CPU did not leave its address space within 5 s", e->id, e->name);
	for (struct env **p = &all_envs; *p; p = &(*p)->all_next) {
		if (*p == e) {
			*p = e->all_next;
			break;
		}
	}
	for (struct env **p = &env_id_buckets[e->id % ENV_ID_BUCKETS]; *p; p = &(*p)->id_next) {
		if (*p == e) {
			*p = e->id_next;
			break;
		}
	}
	for_each_disp(e, d)
		d->state = ENV_DEAD;
	/* Each subsystem gives back what the env holds, in the reverse of
	 * the order they set it up in: its children end first (spawn), it
	 * leaves the run queue (sched), ..., its capabilities go -- which
	 * unmaps its memory, frees what it made and revokes what it gave away
	 * -- and only then its tables (pt). */
	for (unsigned i = nhooks; i--;)
		if (hooks[i]->fini)
			hooks[i]->fini(e);
	uvm_destroy(e->pml4, e->pt_window);
	kfree(e->d0.fpu);
	for (struct dispatcher *d = e->d0.next, *n; d; d = n) {
		n = d->next;
		kfree(d->fpu);
		kfree(d);
	}
	kfree(e);
	live--;
}

void env_set_floor_syscall(struct env *e, bool on)
{
	struct percpu *cpu = this_cpu();
	e->floor_syscall = on;
	wrmsr(MSR_LSTAR, cpu->lstar[on]);
	cpu->lstar_floor = on;
}

void env_save(struct dispatcher *d, const struct trap_frame *tf, bool from_syscall)
{
	if (tf != &d->ctx) /* (entry.S saved the calls that switch envs there already) */
		d->ctx = *tf;
	d->ctx_from_syscall = from_syscall;
}

/* Several CPUs: which CPU holds which env's registers. prev's are saved
 * (this CPU holds it no more); e's come from the CPU that kept them, if
 * another did; this CPU holds e now. With one CPU up nothing is kept
 * elsewhere and nothing of this is done. */
static __attribute__((noinline)) void hand_over(struct percpu *cpu, struct dispatcher *prev, struct dispatcher *d)
{
	if (prev)
		prev->loaded_on = 0;
	take_from_other_cpu(d, cpu->id); /* it last ran on a CPU that now idles */
	d->loaded_on = cpu->id + 1;
	if (d->ran_on != cpu->id + 1) {
		cpu->stats.migrations += d->ran_on != 0;
		d->ran_on = cpu->id + 1;
	}
}

/* This CPU runs d from now on: prev's state saved, d's loaded (its
 * extended state, FS and GS bases, address space, I/O ports). */
static inline void switch_to(struct percpu *cpu, struct dispatcher *prev, struct dispatcher *d)
{
	struct env *e = d->env;
	/* Here, where both are live anyway: a site further down would keep
	 * prev in a register across the switch, trace off. */
	TRACE(KEEL_TR_SWITCH, e->id, prev ? prev->env->id : 0, 0);
	if (prev) {
		save_state(prev);
		if (prev->state == ENV_RUNNING)
			prev->state = ENV_RUNNABLE;
	}
	if (cpus_up > 1)
		hand_over(cpu, prev, d);
	fpu_restore(d->fpu);
	if (cpu_has.fsgsbase)
		wrfsbase(d->fs_base);
	else
		wrmsr(MSR_FS_BASE, d->fs_base);
	wrmsr(MSR_KERNEL_GS_BASE, d->gs_base); /* becomes GS base at the swapgs on exit */
	u64 pml4 = e->pml4;
	if (cpu->pml4_loaded != pml4) { /* (kept since e last ran here: no load) */
		cpu->pml4_loaded = pml4;
		write_cr3(pml4);
	}
	switch_hooks(cpu, e);
	cpu->env = e;
	cpu->disp = d;
	cpu->stats.switches++;
	if (e->floor_syscall != cpu->lstar_floor)
		env_set_floor_syscall(e, e->floor_syscall);
}

/* Out to Ring 3 with d's registers, read where they are kept (d->ctx). */
static __noreturn void leave(struct percpu *cpu, struct dispatcher *d)
{
	struct trap_frame *f = &d->ctx;
	if (context_sanitize(f, false))
		env_kill(d->env, "cannot resume at rip %#llx: not a user address", (unsigned long long)f->rip);
	/* sysretq takes RIP from RCX and RFLAGS from R11: user_return sets
	 * both from the context, the values it checks. */
	bool sysret = exit_via_sysret(d->ctx_from_syscall, f->rip);
	if (sysret)
		cpu->stats.sysret++;
	else
		cpu->stats.iret++;
	/* An env that takes upcalls leaves with none undelivered: events went
	 * out by upcall, or into its area while it is disabled. */
	if (KEEL_DEBUG)
		ASSERT(f->cs == USER_CS && f->ss == USER_SS && (f->rflags & RFLAGS_IF_BIT) &&
		       !(f->rflags & (3ULL << 12)) && (read_cr3() & PTE_ADDR) == d->env->pml4 &&
		       (!d->area || !d->events));
	kernel_lock_drop(); /* this CPU's kernel work is done: nothing of it is live */
	user_return(f, sysret);
}

static inline __noreturn void run(struct dispatcher *d, bool resume)
{
	struct percpu *cpu = this_cpu();
	struct dispatcher *prev = cpu->disp;
	if (prev != d)
		switch_to(cpu, prev, d);
	d->state = ENV_RUNNING;
	if (resume && resume_fn)
		resume_fn(d); /* upcalls: may redirect ctx to an upcall entry */
	leave(cpu, d);
}

__noreturn void env_run(struct dispatcher *d) { run(d, true); }

__noreturn void env_run_plain(struct dispatcher *d) { run(d, false); }

void kstack_restart(void (*fn)(void)) __noreturn; /* entry.S */

/* A boot env ended badly (killed, or a non-zero exit): the boot's verdict
 * counts it. A spawned env's end is its parent's business (the parent
 * sees its ENV capability go GONE). */
void env_note_failure(const struct env *e)
{
	if (!e->parent)
		env_failures++;
}

static __noreturn void env_end(struct env *e)
{
	env_destroy(e);
	kstack_restart(after_end);
}

__noreturn void env_exit(struct env *e, int code)
{
	kprintf("env %u (%s): exited with code %d\n", e->id, e->name, code);
	if (code != 0)
		env_note_failure(e);
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
	env_note_failure(e);
	env_end(e);
	__builtin_unreachable();
}
