/*
 * Keel's user ABI: the one header the kernel and libos/ share. Every number and
 * layout Ring 3 depends on is here; docs/abi.md explains them.
 *
 * Syscalls: `syscall` with the number in RAX and arguments in RDI, RSI, RDX,
 * R10, R8, R9; the result comes back in RAX (negative: -errno, keel/errno.h).
 * RCX and R11 are clobbered (the CPU uses them); every other register,
 * RFLAGS, and the extended (FPU/SSE/AVX) state are preserved.
 * `int $0x80` takes the same arguments and also preserves RCX and R11.
 */
#ifndef KEEL_UAPI_ABI_H
#define KEEL_UAPI_ABI_H

#include "keel/errno.h"

#ifdef __ASSEMBLER__
#define KEEL_U64(x) x
#else
#include <stddef.h>
#include <stdint.h>
#define KEEL_U64(x) x##ULL
#endif

/* --------------------------------------------------------------- syscalls */
#define SYS_CONSOLE_WRITE 0 /* (const char *buf, size_t len) -> bytes written */
#define SYS_EXIT          1 /* (int code) -> does not return */
#define SYS_IRQ_ACK       2 /* (irq slot) -> 0: serviced: the pin is unmasked again */
#define SYS_ENV_ID        3 /* () -> this environment's id */
#define SYS_TIME          4 /* () -> nanoseconds of the kernel clock since boot */
#define SYS_DEBUG         5 /* (op, a, b) -> see DEBUG_*: diagnostics and tests */
#define SYS_UPCALL_SETUP  6 /* (struct keel_upcall_area *area) -> 0: register for upcalls */
#define SYS_SET_DEADLINE  7 /* (u64 ns) -> 0: a one-shot KEEL_EV_TIMER at that kernel-clock
                             * time (0 cancels; a past time fires at once) */
#define SYS_RESUME        8 /* (unsigned slot, unsigned flags) -> resume from a save area */
/* Capabilities and raw page tables (docs/abi.md) */
#define SYS_CAP_INFO      9 /* (slot, struct keel_cap_info *out) -> 0 */
#define SYS_FRAME_ALLOC  10 /* () -> slot of a new zeroed 4 KiB frame (rights RWXG) */
#define SYS_VRANGE_ALLOC 11 /* (u64 size, u64 align) -> slot of a new range of the single address
                            * space (align: a power of two, 0 = a page; at most 1 GiB) */
#define SYS_PT_RETYPE    12 /* (frame slot, level 1..3, u64 vbase) -> 0: the frame becomes a page table */
#define SYS_MMU_UPDATE   13 /* (const struct keel_mmu_op *ops, u64 n, u64 *done) -> 0 or the first error */
#define SYS_CAP_DERIVE   14 /* (slot, rights, env slot or KEEL_SELF) -> the new slot (in that env) */
#define SYS_CAP_REVOKE   15 /* (slot) -> how many derived capabilities were removed */
#define SYS_CAP_DELETE   16 /* (slot) -> 0: the capability and all derived from it are gone */
#define SYS_QUOTA_INFO   17 /* (struct keel_quota_info *out) -> 0 */
/* Interrupts, I/O, control transfer (docs/abi.md) */
#define SYS_EVENT_WAIT   18 /* () -> 0 once an event is pending: blocks until one is */
#define SYS_IRQ_BIND     19 /* (irq slot) -> 0: the interrupt comes to this env (KEEL_EV_IRQ) */
/* The calls that switch envs: 20..23, one range, so that the syscall entry
 * sends them to their own path with one compare (kern/arch/x86_64/entry.S). */
#define SYS_YIELD        20 /* () -> 0: give up the rest of the time slice */
#define SYS_YIELD_TO     21 /* (env slot) -> 0 when this env runs again: that env ran first */
#define SYS_PCT_CALL     22 /* (env slot, a0, a1, a2, a3 in RSI RDX R10 R8) -> 0 and the reply's
                             * r0..r3 in RDI RSI RDX R10, or an error */
#define SYS_PCT_REPLY    23 /* (r0, r1, r2, r3 in RDI RSI RDX R10) -> 0: the caller has them */
/* Environments (docs/abi.md) */
#define SYS_ENV_SPAWN    24 /* (const struct keel_spawn *req) -> slot of an ENV capability to the new env */
#define SYS_TRACE        25 /* (trace slot, KEEL_TRACE_* op, arg) -> see "the kernel trace" below */
#define SYS_EVENT_POST   26 /* (env slot or KEEL_SELF, unsigned cpu, u64 bits) -> 0: the bits are
                             * ORed into that env's `posted`, and it gets KEEL_EV_POST (docs/abi.md) */
#define SYS_DISP_START   27 /* (const struct keel_disp_start *req) -> 0: a new dispatcher of this
                             * env runs on req->cpu (docs/abi.md "Dispatchers") */
#define SYS_COUNT        28

#define KEEL_VEC_SYSCALL_INT 0x80 /* `int $0x80`: the same calls through an interrupt gate */
#define KEEL_VEC_FLOOR       0x81 /* `int $0x81`: a handler that only iretqs (hardware floor) */
#define KEEL_VEC_SELF        0x82 /* `int $0x82`: raise KEEL_EV_SELF on oneself */
#define KEEL_VEC_SOFT_BASE   0xA0 /* software vectors 0xA0..0xBF: `int $N` by a holder of */
#define KEEL_VEC_SOFT_COUNT  32   /* a KEEL_CAP_SWVEC for N raises KEEL_EV_SWVEC; others get #GP */

#define CONSOLE_WRITE_MAX 256 /* longer writes are cut (the count says so): the console
                                * is polled with interrupts off, so a call is kept short
                                * (with a screen, one that scrolls redraws it: its cost
                                * grows with the screen, docs/hardware.md) */

/* SYS_DEBUG operations. */
#define DEBUG_EXIT_COUNTS   0 /* (struct keel_exit_counts *out) -> 0 */
#define DEBUG_WATCH_RANGE   1 /* (u64 start, u64 end) -> 0: count preemptions with RIP in [start, end) */
#define DEBUG_PREEMPTIONS   2 /* () -> timer preemptions of this env inside the watch range */
#define DEBUG_SMAP_PROBE    3 /* (const void *p) -> -EFAULT if the kernel cannot read p without
                               * opening SMAP (-ENOSYS if the CPU has no SMAP), else the byte */
#define DEBUG_KERNEL_COPY   4 /* (void *out, size_t n) -> 0: the kernel fills out with 0,1,2,..
                               * using its string copy (proves it runs forwards whatever DF was) */
#define DEBUG_FLOOR_SYSCALL 5 /* (int on) -> 0: this env's `syscall` goes to a handler that only
                               * sysretqs (hardware floor); turn off through `int $0x80` */
#define DEBUG_PT_AUDIT      6 /* () -> how many entries of this env's page tables disagree with
                               * the kernel's records, types, references or rules (0: none) */
#define DEBUG_TIMERS        7 /* () -> timers in the kernel's queue now (at most one per env + 1) */
#define DEBUG_FAST_PATHS    8 /* (mask of KEEL_FASTPATH_*) -> 0: switch those fast paths off, for
                               * every env, until called again (tests/test_paths.py) */
#define DEBUG_PIN           9 /* (unsigned cpu) -> 0 once this env runs again: from now on only on
                               * that CPU (as pin=), and it yields so the move happens at once
                               * (debug builds; tests/test_shootdown.py's migration case) */
#define DEBUG_DISP_RECORD  10 /* (env slot or KEEL_SELF, struct keel_disp_record *out) -> 0: what the
                               * kernel keeps of that env's first dispatcher (debug builds;
                               * tests/test_paths.py compares it after each path) */
#define KEEL_FASTPATH_ASM 1 /* entry.S's: the self event `int $0x82`, and a Ring 3 page fault */
#define KEEL_FASTPATH_C   2 /* trap.c's upcall_event_fast for the self event, upcall_trap_fast for exceptions */
#define KEEL_FASTPATH_PCT 4 /* pct.c's control transfer call and reply (pct_call_fast, pct_reply_fast) */
#define KEEL_FASTPATH_YIELD 8 /* pct.c's yield (pct_yield_fast) */
#define KEEL_FASTPATH_ALL (KEEL_FASTPATH_ASM | KEEL_FASTPATH_C | KEEL_FASTPATH_PCT | KEEL_FASTPATH_YIELD)

#ifndef __ASSEMBLER__
struct keel_exit_counts {
	uint64_t sysret;    /* returns to Ring 3 through sysretq */
	uint64_t iret;      /* ... through iretq */
	uint64_t switches;  /* env switches (CR3 loads) */
	uint64_t timer;     /* timer interrupts */
	uint64_t timer_writes; /* LAPIC timer writes (a new deadline earlier than the one set) */
};

/* DEBUG_DISP_RECORD: a dispatcher's kernel record, but its clocks (which
 * tell the paths' lengths apart, not what they did). ctx: its saved
 * registers (the kernel's enum order of struct trap_frame: r15 .. rax,
 * vector, error, rip, cs, rflags, rsp, ss), zero for the caller's own. */
struct keel_disp_record {
	uint32_t state, resume, waiting_events, ctx_from_syscall;
	uint32_t serving, was_waiting, caller, callee; /* caller, callee: env ids (0: none) */
	uint64_t events, syscalls, activations, watchdog; /* watchdog: disabled_ns != 0 | fired << 1 */
	uint64_t ctx[22];
};

/* ------------------------------------------------------------- start-up */
/*
 * An environment starts at its ELF entry point with RDI pointing at this
 * structure (read-only to nobody: it sits at the top of its stack) and RSP
 * 16-byte aligned just below it. Every other register is zero.
 */
#define KEEL_START_MAGIC KEEL_U64(0x6b65656c53545254) /* "keelSTRT" */
#define KEEL_ARGS_MAX 128

struct keel_start {
	uint64_t magic;
	uint64_t env_id;
	uint64_t image_base, image_size; /* where the program was loaded */
	uint64_t stack_base, stack_size;
	char name[32];                   /* the module's name, NUL-terminated */
	char args[KEEL_ARGS_MAX];        /* arguments, space-separated, NUL-terminated */
};
#endif

/* --------------------------------------------------------------- upcalls */
/* Save-area slots (SYS_RESUME, and the trap entry's fifth argument). */
#define KEEL_SAVE_ENABLED  0
#define KEEL_SAVE_DISABLED 1
#define KEEL_SAVE_TRAP     2
#define KEEL_RESUME_ENABLE 1 /* SYS_RESUME flag: also clear `disabled` */

/* Event bits in `pending`. Take them with an atomic exchange (xchg). */
#define KEEL_EV_TIMER      (1ULL << 0) /* the deadline set with SYS_SET_DEADLINE passed */
#define KEEL_EV_ACTIVATION (1ULL << 1) /* re-dispatched after being descheduled */
#define KEEL_EV_SELF       (1ULL << 2) /* raised by the env itself with `int $0x82` */
/* (1 << 3) is KEEL_EV_REVOKED, below */
#define KEEL_EV_IRQ        (1ULL << 4) /* a bound interrupt arrived: see irq_pending */
#define KEEL_EV_SWVEC      (1ULL << 5) /* a held software vector was raised: see swvec_pending */
#define KEEL_EV_POST       (1ULL << 6) /* SYS_EVENT_POST: bits were posted to it: see posted */
#define KEEL_EV_LOST       (1ULL << 7) /* another dispatcher of this env lost its CPU: its context is
                                        * this one's to take over (see lost; docs/abi.md) */

/* The trap entry's vector argument beyond the CPU's 0..31. */
#define KEEL_TRAP_WATCHDOG 32 /* disabled for longer than the first watchdog bound */

#ifndef __ASSEMBLER__
/*
 * A saved Ring 3 context. Its tail is exactly the frame `iretq` pops, so a
 * libOS resumes one with RSP = &ctx->rip after loading the registers.
 * Assembly reaches its fields, and the upcall area's, as KCTX_* and KUA_*
 * from its generated asm-offsets.h (docs/architecture.md): these structs are
 * the layout's one definition.
 */
struct keel_context {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t rip, cs, rflags, rsp, ss;
};

/*
 * One page per environment, shared by the env and the kernel (docs/upcalls.md).
 * The env writes the first block; the kernel writes the second and the save
 * areas. Delivery:
 *  - an event while enabled (disabled == 0, RIP outside [crit_start, crit_end)):
 *    the interrupted context goes to enabled_save, disabled becomes 1, and the
 *    env continues at event_entry on upcall_stack with RDI = the area;
 *  - an event while disabled: its bit is set in pending and waits;
 *  - an event while RIP is in the critical range: delivered at once, with the
 *    context the resume routine was restoring (at RSP - KCTX_RIP) as the
 *    interrupted one;
 *  - an exception while enabled: context to enabled_save, disabled = 1, then
 *    trap_entry on upcall_stack; while disabled: context to trap_save, then
 *    trap_entry on trap_stack. Trap entry arguments: RDI area, RSI vector,
 *    RDX error code, RCX CR2, R8 the slot holding the context. An exception
 *    with RSP inside the trap stack is a fault on the trap path: the env dies.
 */
/* The upcall area's flags. YIELD_IN_PLACE: this dispatcher's yields
 * (SYS_YIELD) resume it right after the call, like an env without upcalls,
 * rather than by an activation upcall with its context in the enabled save
 * -- for a scheduler with nothing else to run (a yield to let others run, a
 * spin-wait). Events that arrived meanwhile are delivered as on any enabled
 * return to Ring 3. While it is disabled (outside its critical range) the
 * flag changes nothing: it resumes from the disabled save, as always. A
 * preemption is an activation whatever the flags. */
#define KEEL_AREA_YIELD_IN_PLACE 1

struct keel_upcall_area {
	/* written by the env */
	uint32_t disabled;
	uint32_t flags;                  /* KEEL_AREA_* */
	uint64_t pending;
	uint64_t event_entry, trap_entry;
	uint64_t upcall_stack;           /* top of the stack for upcalls */
	uint64_t trap_stack;             /* top of the trap stack ... */
	uint64_t trap_stack_size;        /* ... and its size */
	uint64_t crit_start, crit_end;   /* the resume routine's critical range */
	/* written by the kernel */
	uint64_t trap_vector, trap_error, trap_cr2;
	uint64_t descheduled_at;         /* kernel clock when last descheduled */
	uint64_t ran_ns;                 /* how long it had run before that */
	uint64_t activations;            /* re-dispatches after a deschedule */
	uint64_t deadline;               /* the timer deadline last delivered ... */
	uint64_t delivered_at;           /* ... and when its upcall was built */
	uint64_t clock_tsc_base, clock_mult; /* kernel ns = (rdtsc - base) * mult >> 32 */
	uint64_t upcalls, traps;         /* counts of each kind of entry */
	uint64_t crit_fixups;            /* deliveries that took the resume routine's context */
	uint64_t ran_total_ns;           /* all time run, summed at each deschedule */
	uint64_t waited_total_ns;        /* all time spent descheduled */
	uint64_t revoked;                /* capabilities taken away by revocation */
	uint64_t irq_pending;            /* bit g: GSI g arrived (take with xchg) */
	uint64_t swvec_pending;          /* bit n: vector KEEL_VEC_SOFT_BASE + n raised (take with xchg) */
	/* written by the env: where protected control transfers enter (docs/abi.md) */
	uint64_t pct_entry, pct_stack;
	uint64_t pct_calls;              /* protected control transfers it has been entered by */
	uint64_t posted;                 /* bits posted to it by SYS_EVENT_POST (take with xchg) */
	uint64_t lost;                   /* bit c: this env's dispatcher on CPU c lost its CPU and was
	                                  * handed to this one (KEEL_EV_LOST; take with xchg) */
	uint64_t handed_xstate_size;     /* this dispatcher was handed over: handed_xstate's bytes */
	/* the env's own: the kernel never reads or writes them (libos: [0] where
	 * its upcall entries save the interrupted extended state, [1] where it is
	 * now; docs/upcalls.md) */
	uint64_t env_words[2];
	uint8_t reserved1[512 - 280];    /* the save areas start at byte 512 */
	struct keel_context enabled_save, disabled_save, trap_save;
	uint8_t reserved2[1024 - 512 - 3 * sizeof(struct keel_context)];
	/* Written when this dispatcher is handed over: the extended state of its
	 * context (XSAVE's standard format, or FXSAVE's image without XSAVE). */
	uint8_t handed_xstate[4096 - 1024];
};

/* The layout facts the ABI promises (docs/upcalls.md); every field's offset
 * follows from the struct. */
_Static_assert(sizeof(struct keel_context) == 20 * 8 &&
		       offsetof(struct keel_context, ss) - offsetof(struct keel_context, rip) == 4 * 8 &&
		       offsetof(struct keel_context, ss) + 8 == sizeof(struct keel_context),
	       "a keel_context is 20 registers, the iret frame (rip cs rflags rsp ss) last");
_Static_assert(offsetof(struct keel_upcall_area, enabled_save) == 512, "the save areas start at byte 512");
_Static_assert(sizeof(struct keel_upcall_area) == 4096, "the upcall area is one page");
_Static_assert(offsetof(struct keel_upcall_area, handed_xstate) == 1024, "the handed-over extended state: byte 1024");
#endif

/* ------------------------------------------------- capabilities, page tables */
/* Capability types and rights. */
#define KEEL_CAP_NULL   0
#define KEEL_CAP_FRAME  1 /* a 4 KiB physical frame of data */
#define KEEL_CAP_PT     2 /* a page-table page: its level and the virtual base it covers */
#define KEEL_CAP_VRANGE 3 /* a range of the single address space */
#define KEEL_CAP_ENV    4 /* another environment (to grant it capabilities, call it, yield to it) */
#define KEEL_CAP_IRQ    5 /* a device interrupt: base = its GSI */
#define KEEL_CAP_IOPORT 6 /* I/O ports [base, base + size) */
#define KEEL_CAP_SWVEC  7 /* a software vector: base = the vector */
#define KEEL_CAP_TRACE  8 /* the kernel trace: granted at boot only (grant=IDX:trace), never made by Ring 3 */
#define KEEL_CAP_CPU    9 /* a CPU: base = its index; an env runs only on the CPUs it holds */

#define KEEL_R_READ  1
#define KEEL_R_WRITE 2
#define KEEL_R_EXEC  4
#define KEEL_R_GRANT 8
#define KEEL_R_ALL   15

#define KEEL_SELF 0xFFFFFFFFu /* SYS_CAP_DERIVE: into the caller's own space */

#define KEEL_CAPF_ROOT   1 /* made for its object: deleting it releases the object */
#define KEEL_CAPF_MAPPED 2 /* installed in a page table (one mapping per capability) */
#define KEEL_CAPF_GONE   4 /* KEEL_CAP_ENV: that env has ended */

#ifndef __ASSEMBLER__
struct keel_cap_info {
	uint32_t type, rights;
	uint32_t level;   /* KEEL_CAP_PT: 1 (page table) .. 3 (PDPT) */
	uint32_t flags;   /* KEEL_CAPF_* */
	uint64_t base;    /* FRAME/PT: physical address; VRANGE: virtual base; ENV: env id */
	uint64_t size;    /* bytes (FRAME, PT: 4096; VRANGE: its size) */
	uint64_t vbase;   /* PT: the virtual address its first entry maps */
	uint64_t map_va;  /* KEEL_CAPF_MAPPED: the address its one mapping covers */
	uint32_t from;    /* derived: the id of the env holding its parent (0: made for its object) */
	uint32_t reserved;
};

/* An env's use of its quotas, and the kernel's free memory. */
struct keel_quota_info {
	uint32_t caps_used, caps_quota;     /* capability slots charged to this env */
	uint32_t frames_used, frames_quota; /* frames: data, page tables and their records */
	uint32_t cap_slots;                 /* size of its capability space: slots 0 .. cap_slots-1 */
	uint32_t envs_used;                 /* envs it spawned, and what it passed on to them */
	uint64_t frames_free;               /* free frames in the whole machine */
	uint64_t vspace_used, vspace_quota; /* bytes of the single address space held in ranges */
	uint32_t envs_quota;                /* how many descendants it may have alive at once */
	uint32_t reserved;
};

/*
 * SYS_ENV_SPAWN: start a boot module as a new env. The child's quotas are
 * carved out of the caller's (frames, capability slots, descendants) and
 * given back when it ends; the child ends with its parent. The caller gets
 * an ENV capability to it (charged to the caller), the child one to its
 * parent (charged to the child).
 */
/* The child gets no CPU capability: it stays stopped until it is given one
 * (without the flag it gets one derived from each of the caller's CPUs). */
#define KEEL_SPAWN_NO_CPUS 1

struct keel_spawn {
	const char *image;   /* the module's name, image_len bytes (no NUL needed) */
	uint64_t image_len;  /* 1 .. 31 */
	const char *args;    /* space-separated arguments, args_len bytes */
	uint64_t args_len;   /* 0 .. KEEL_ARGS_MAX - 1 */
	uint32_t quota_frames, quota_caps; /* the child's quotas (frames >= 64, caps >= 16) */
	uint32_t quota_envs;               /* descendants the child may have */
	uint32_t flags;                    /* KEEL_SPAWN_* */
};

/*
 * SYS_DISP_START: a new dispatcher of the calling env, bound to CPU `cpu`
 * (one the env holds, with no dispatcher of the env bound there yet). It
 * takes upcalls through its own area (a page of the env's, registered as
 * SYS_UPCALL_SETUP does; no page serves two dispatchers) and starts enabled
 * at `entry` with RSP = `stack` and RDI = `arg`. From then on every
 * dispatcher of the env is bound to one CPU: the calling env's first, if it
 * was its only one, to the CPU it runs on.
 */
struct keel_disp_start {
	uint32_t cpu;
	uint32_t reserved;  /* 0 */
	uint64_t area;      /* page-aligned: its upcall area */
	uint64_t entry, stack, arg;
};

/*
 * One page-table update. `table` is a KEEL_CAP_PT slot, or KEEL_TABLE_PML4
 * for the env's own PML4; `index` its entry; `cap` what to install there
 * (a frame in a level-1 table, a page table one level down elsewhere) or
 * KEEL_CAP_NONE to clear the entry. Flags are the requested rights.
 */
struct keel_mmu_op {
	uint32_t table;
	uint16_t index;
	uint16_t flags;
	uint32_t cap;
	uint32_t reserved;
};
#endif
#define KEEL_TABLE_PML4 0xFFFFFFFFu
#define KEEL_CAP_NONE   0xFFFFFFFFu /* `cap`: clear the entry */
#define KEEL_CAP_FREE   0xFFFFFFFEu /* `cap`: clear the entry and delete the frame capability that
                                     * mapped it, as SYS_CAP_DELETE (a frame of the caller's own) */
#define KEEL_CAP_NEW    0xFFFFFFFDu /* `cap`, level-1 tables: a new zeroed frame, as SYS_FRAME_ALLOC,
                                     * mapped there; its slot is written back into the op's `cap` */
#define KEEL_MAP_WRITE   0x01
#define KEEL_MAP_EXEC    0x02
#define KEEL_MAP_NOUSER  0x04 /* refused (EUSER): U is forced at every level */
#define KEEL_MAP_GLOBAL  0x08 /* refused (EGLOBAL) */
#define KEEL_MAP_PCD     0x10 /* refused (EMEMTYPE): write-back only */
#define KEEL_MAP_PWT     0x20 /* refused (EMEMTYPE) */
#define KEEL_MMU_BATCH_MAX 512

/* The read-only page-table window: PML4 slot 254 shows the env its own page
 * tables (user-readable, never writable), so the entry that maps va at
 * `level` (1 = PTE .. 4 = PML4E) can be read at KEEL_PT_WINDOW_ENTRY(va, level).
 * Its top is a copy of the PML4's user half (whose own slot 254 points at
 * itself, and whose kernel half is empty): levels 1..3 show live A/D bits,
 * level 4 does not. The kernel copies nothing through it (EFAULT). */
#define KEEL_PT_WINDOW_SLOT 254
#define KEEL_PT_WINDOW_BASE (KEEL_U64(254) << 39)
#define KEEL_PT_WINDOW_ENTRY(va, level)                                                                \
	((level) == 1 ? KEEL_PT_WINDOW_BASE | (((uint64_t)(va) >> 9) & KEEL_U64(0x7FFFFFFFF8)) :       \
	 (level) == 2 ? KEEL_PT_WINDOW_BASE | (KEEL_U64(254) << 30) | (((uint64_t)(va) >> 18) & KEEL_U64(0x3FFFFFF8)) : \
	 (level) == 3 ? KEEL_PT_WINDOW_BASE | (KEEL_U64(254) << 30) | (KEEL_U64(254) << 21) |            \
			    (((uint64_t)(va) >> 27) & KEEL_U64(0x1FFFF8)) :                                \
			KEEL_PT_WINDOW_BASE | (KEEL_U64(254) << 30) | (KEEL_U64(254) << 21) | (KEEL_U64(254) << 12) | \
			    (((uint64_t)(va) >> 36) & KEEL_U64(0xFF8)))

/* Event bit: some of this env's capabilities were revoked (SYS_CAP_REVOKE
 * by the env they derive from); area->revoked counts them. */
#define KEEL_EV_REVOKED (1ULL << 3)

/* Ring 3 selectors, for contexts a libOS builds itself. */
#define KEEL_USER_CS 0x2B
#define KEEL_USER_SS 0x23
/* Which CPU Ring 3 runs on, without a system call: `lsl` of this selector
 * reads the CPU's index (every x86-64 CPU); where the CPU has RDTSCP (and
 * RDPID), IA32_TSC_AUX holds the same index (RDTSCP's ECX). libos keel_cpu(). */
#define KEEL_CPU_SEL 0x43

/* The single user address space (PML4 slots 0..255). */
#define KEEL_USER_BASE KEEL_U64(0x1000)
#define KEEL_USER_END  KEEL_U64(0x800000000000)

/* ------------------------------------------------------- the kernel trace */
/*
 * A ring of events per CPU (docs/debugging.md, "One trace for the whole
 * system"). SYS_TRACE(slot of a KEEL_CAP_TRACE, op, arg):
 *   KEEL_TRACE_ON    arg = frames per CPU (a power of two, 1..KEEL_TRACE_FRAMES_MAX):
 *                    rings of that size, charged to the caller's frame quota,
 *                    and every trace site switched on -> 0; -EBUSY if tracing
 *                    is on already (or another holder's rings exist); -EDQUOT
 *                    (quota) or -ENOMEM. If the boot's rings exist (trace=on,
 *                    since switched off) they are used again, charged to nobody.
 *   KEEL_TRACE_OFF   arg = 0: the sites switched off; the caller's rings freed
 *                    and its quota given back -> 0; -EBUSY for rings switched on
 *                    through another capability (only that one switches them off).
 *   KEEL_TRACE_READ  arg = struct keel_trace_read *: up to `max` unread events
 *                    of CPU `cpu`, oldest first, into `buf` -> how many;
 *                    -EINVAL (no rings, bad cpu, max too large), -EFAULT.
 * The caller's rings also go when the capability it switched them on with
 * goes (deleted, revoked, its holder ended).
 */
#define KEEL_TRACE_ON   1
#define KEEL_TRACE_OFF  2
#define KEEL_TRACE_READ 3
#define KEEL_TRACE_FRAMES_MAX 256
#define KEEL_TRACE_PER_FRAME  128 /* events in a 4 KiB frame */

/* Event kinds (struct keel_trace_rec.ev); env is the env concerned, 0: none. */
#define KEEL_TR_SWITCH  1 /* the CPU runs env; a: the env before (0: none) */
#define KEEL_TR_SYSCALL 2 /* env made syscall a */
#define KEEL_TR_UPCALL  3 /* env entered by upcall of kind a (KEEL_TR_UP_*); b: events, vector, caller */
#define KEEL_TR_IRQ     4 /* device interrupt: a vector, b GSI; env: the one interrupted (0: idle) */
#define KEEL_TR_IPI     5 /* inter-processor interrupt: a vector, b target CPU (none are sent yet) */
#define KEEL_TR_TIMER   6 /* the LAPIC timer interrupt (its due timers have fired) */
#define KEEL_TR_FAULT   7 /* env faulted: a vector, b address (CR2 for #PF, else RIP) */
#define KEEL_TR_REVOKE  8 /* a capability of env revoked: a its type, b its slot */
#define KEEL_TR_PCT_CALL  9  /* env called env a by protected control transfer */
#define KEEL_TR_PCT_REPLY 10 /* env replied to its caller a */
#define KEEL_TR_EXIT    11 /* env ended (exited or killed) */
#define KEEL_TR_IDLE    12 /* the CPU idles (a = 0) or leaves idle (a = 1) */
#define KEEL_TR_POST    13 /* env posted bits b to env a (SYS_EVENT_POST) */
#define KEEL_TR_KINDS   14

#define KEEL_TR_UP_EVENT 0 /* events (b: the bits delivered) */
#define KEEL_TR_UP_TRAP  1 /* an exception on the trap entry (b: vector) */
#define KEEL_TR_UP_PCT   2 /* a protected control transfer in (b: the caller's id) */

#ifndef __ASSEMBLER__
struct keel_trace_rec {
	uint64_t t;    /* ns of the kernel clock (as keel_now(): under icount, instructions) */
	uint32_t ev;   /* KEEL_TR_* */
	uint32_t env;  /* env id, 0: none */
	uint64_t a, b;
};
_Static_assert(sizeof(struct keel_trace_rec) * KEEL_TRACE_PER_FRAME == 4096, "128 events a frame");

struct keel_trace_read {
	uint64_t buf;     /* struct keel_trace_rec[max], in the caller's memory */
	uint32_t cpu;     /* whose ring */
	uint32_t max;     /* at most this many (<= the ring's size) */
	uint64_t dropped; /* out: events overwritten before they were read, so far */
	uint64_t head;    /* out: events recorded on that CPU so far */
};
#endif

#endif
