/*
 * Environments: Keel's protection domains. An env is a PML4 whose user half
 * holds only its own mappings and whose slot 511 points to the kernel's one
 * PDPT, plus the registers it left behind -- which live here, in the env,
 * never on a kernel stack.
 */
#ifndef KEEL_ENV_H
#define KEEL_ENV_H

#include "arch/x86_64/trapframe.h"
#include "cap_types.h"
#include "dispatcher.h"
#include "env_state.h"
#include "keel/abi.h"
#include "types.h"

struct env {
	/* first: its first dispatcher (entry.S reaches the running one through
	 * percpu; dispatcher.h) */
	struct dispatcher d0;
	u32 ndisp;               /* its dispatchers, d0 included (for_each_disp) */
	u32 swvec_held[32];      /* software-vector capabilities held, per vector (irq.c) */

	paddr_t pml4;
	paddr_t pt_window;      /* the top of its read-only page-table window (uvm.c, pt.c) */
	u32 id;
	char name[32];
	struct env *all_next;   /* every live env */
	struct env *id_next;    /* the live envs of its id's bucket (env_by_id) */
	u64 image_base, image_size, stack_base, stack_size;
	bool floor_syscall;      /* benchmarks: `syscall` goes to floor_sysretq */
	/* each subsystem's own part (env_state.h) */
	struct ioport_state io;  /* ports (ioport.c) */
	struct pt_state pt;      /* its tables' records and ranges (pt.c) */
	struct cspace cs;        /* its capabilities (cap.c) */
	struct cpucap_state cpu; /* the CPUs it holds (cpucap.c) */
	/* quotas: what it may hold, and what it is charged for */
	u32 quota_caps, caps_charged;
	u32 quota_frames, frames_charged;
	u64 quota_vspace, vspace_charged; /* bytes of the single address space */
	u64 revoked;             /* capabilities taken from it by revocation */
	/* spawning (spawn.c) */
	struct env *parent;      /* the env that spawned it (NULL: started at boot) */
	u32 quota_envs, envs_charged; /* descendants: allowed, and spawned or passed on */
	/* accounting and test hooks */
	u64 syscalls, preemptions;
	u64 watch_lo, watch_hi, preempt_in_watch;
};

/*
 * What a subsystem needs when an env is made and when it ends, and when it
 * runs (any hook may be NULL). Subsystems register at boot, in an order
 * where each comes after those it relies on: `init` runs in that order at
 * creation (an error undoes the creation), `fini` in the reverse order at
 * destruction; `switch_to` when the CPU switches to another env (NULL:
 * none) and either holds I/O ports -- the one thing a switch hook is for:
 * the CPU's I/O bitmap open (percpu.iomap_open) or the next env holding
 * ports (its io.bytes); `resume` just before an env returns to Ring 3
 * through env_run.
 * env.c calls nothing above itself: this is how the layers above take part.
 */
struct percpu;
struct env_hooks {
	int (*init)(struct env *e);
	void (*fini)(struct env *e);
	void (*switch_to)(struct percpu *cpu, struct env *next);
	void (*resume)(struct dispatcher *d);
};
void env_register(const struct env_hooks *h);

/* Where the CPU goes once an env has ended (the scheduler's pick). */
void env_set_continuation(void (*next)(void));

/* Per-env quotas for envs made at boot (quota_caps=, quota_frames=,
 * quota_vspace_gib=); spawned envs get theirs from their parent. */
extern u32 quota_caps_default, quota_frames_default;
extern u64 quota_vspace_default; /* bytes */

/* Boot envs that ended badly (killed, or a non-zero exit), for the boot's
 * verdict; envs spawned while the run went on. */
extern u64 env_failures, env_started;
/* e ended badly: counted if it is a boot env (a spawned env's end is its
 * parent's business). */
void env_note_failure(const struct env *e);

/* Create an env from a static-PIE ELF image with the given arguments, ready
 * to run (not yet queued). 0, -ENOEXEC (message printed), -ENOMEM, ... */
int env_create(const char *name, const u8 *elf, size_t len, const char *args, struct env **out);

/* An env with an empty user half (for tests that build their own). */
int env_create_empty(const char *name, struct env **out);

/* Free everything the env holds. If it is running, leave its address space first. */
void env_destroy(struct env *e);

/* A new dispatcher of e -- one that ended, started again, if it has one --
 * not yet bound, queued or given an area (disp.c does that): NULL without
 * memory. */
struct dispatcher *env_disp_new(struct env *e);
/* Undo env_disp_new (a dispatcher never queued or run). */
void env_disp_free(struct dispatcher *d);
/* The dispatcher that runs e on CPU `cpu`: the one bound there, or one not
 * bound (an only dispatcher: it runs on any CPU e holds); NULL: none. */
static inline struct dispatcher *env_disp_on(struct env *e, u32 cpu)
{
	for_each_disp(e, d)
		if (d->state != ENV_ENDED && (d->bound ? d->bound == cpu + 1 : (e->cpu.held >> cpu) & 1))
			return d;
	return NULL;
}
/* d's registers and extended state come home into d from the CPU that holds
 * them (this one -- which then holds no dispatcher -- or another). */
void env_disp_unload(struct dispatcher *d);

/* Benchmarks: send this env's `syscall` to the bare floor_sysretq (it must
 * be the running env), or back. */
void env_set_floor_syscall(struct env *e, bool on);

/* Save the frame a Ring 3 entry built into the env. */
void env_save(struct dispatcher *d, const struct trap_frame *tf, bool from_syscall);

/* Switch to e (address space, FS/GS bases, extended state) and return to
 * Ring 3 through the one exit. */
__noreturn void env_run(struct dispatcher *d);
/* env_run without the resume hook: for a fast path that has made sure the
 * hook has nothing to do (upcall_resume_plain). */
__noreturn void env_run_plain(struct dispatcher *d);

/* End the env: "exited with code N" or "killed: why"; then schedule. */
__noreturn void env_exit(struct env *e, int code);
__noreturn void env_kill(struct env *e, const char *fmt, ...) __printf(2, 3);

struct env *env_current(void);
/* Every live env: the first, then e->all_next. */
struct env *env_list(void);
/* The live env of an id (a capability names an env by its id), or NULL:
 * ids are handed out in sequence and never reused, so id % ENV_ID_BUCKETS
 * spreads them evenly -- a chain holds live / 4096 envs, none below 4,096
 * live envs (quota_envs allows 65,536: then 16). */
#define ENV_ID_BUCKETS 4096
extern struct env *env_id_buckets[ENV_ID_BUCKETS];
static inline struct env *env_by_id(u32 id)
{
	for (struct env *e = env_id_buckets[id % ENV_ID_BUCKETS]; e; e = e->id_next)
		if (e->id == id && e->d0.state != ENV_DEAD)
			return e;
	return NULL;
}
struct env *env_first_child(const struct env *parent);
u64 env_live_count(void);
/* The most envs that were alive at once in this run. */
u64 env_live_most(void);


/* ring3_iret.c: finish a Ring 3 iretq the CPU faulted on wrongly; true if done. */
bool ring3_iret_complete(struct env *e, struct trap_frame *tf, u64 cr2);

#endif
