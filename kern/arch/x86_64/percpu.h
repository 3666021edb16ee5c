/*
 * Per-CPU data, reached through GS in the kernel (swapgs on entry from Ring 3).
 * It lives in the kernel image's .bss (PML4 slot 511), as does everything the
 * CPU itself reads on an interrupt: GDT, TSS, IDT.
 */
#ifndef KEEL_X86_PERCPU_H
#define KEEL_X86_PERCPU_H

#include "types.h"
#include "arch/x86_64/gdt.h"
#include "timer_types.h"

#define MAX_CPUS 64

struct env;
struct dispatcher;

/* Counters of the exits to Ring 3 and the upcalls, per CPU (entry.S counts
 * on its fast paths through %gs, without the kernel lock): exit_stats_sum
 * adds them up. */
struct exit_stats {
	u64 sysret; /* entry.S increments these three (PERCPU_STATS_*, asm-offsets.c) */
	u64 iret, switches;
	u64 migrations;    /* switches to an env that last ran on another CPU */
	u64 iret_emulated; /* Ring 3 iretqs completed for a buggy CPU (ring3_iret.c) */
	u64 upcalls;       /* event upcalls (upcall.c, and entry.S) */
	u64 trap_upcalls;  /* exceptions delivered on a trap entry */
	u64 pct_upcalls;   /* protected control transfers into a receiver's entry */
};

/* The scheduler's part of a CPU (sched.c). */
struct percpu_sched {
	struct timer slice; /* the running env's time slice */
	bool over;          /* it has ended */
	bool extended;      /* a donation already lengthened it */
	bool idle;          /* in the idle loop, and not kicked since it said so */
};

/* entry.S reaches the first fields through %gs as PERCPU_* (asm-offsets.c). */
struct percpu {
	struct percpu *self; /* this struct's own address: this_cpu() */
	u64 kstack_top;      /* this CPU's kernel stack, = tss.rsp[0] */
	u64 user_rsp;        /* scratch for the syscall entry */
	u64 fast_result;     /* syscall_fast's answer when it ... */
	u64 fast_status;     /* ... hands over to the general path */
	struct env *env;     /* the environment this CPU runs (NULL: none) */
	struct dispatcher *disp; /* ... through this dispatcher of it (NULL: none) */
	u32 id;
	u32 apic_id;
	u64 bit;             /* 1 << id: this CPU in a mask of CPUs */
	u64 ist_top[4];      /* IST stacks (#DF, NMI, #MC, #DB); each top holds `self` */
	u64 gdt[GDT_ENTRIES] __aligned(16);
	struct tss tss __aligned(16);
	/* The TSS's I/O permission bitmap, right after it (iomap_base), for
	 * all 65,536 ports, and the 0xFF byte the CPU reads past its end. */
	u8 iomap[65536 / 8 + 1];
	u32 iomap_open;      /* leading bytes that now allow something (ioport.c) */
	bool lstar_floor;    /* MSR_LSTAR points at floor_sysretq */
	u64 lstar[2];        /* MSR_LSTAR's values: syscall_entry, floor_sysretq (syscall_init) */
	u64 spurious_pic;    /* spurious IRQ 7/15 seen */
	u64 spurious_lapic;  /* spurious LAPIC vector seen */
	u64 db_in_kernel;    /* #DB taken in Ring 0 (trap.c), ignored */
	struct exit_stats stats;
	u32 lock_levels;     /* the levels of the locks it holds (lock.c) */
	bool lapic_timer_unmasked; /* its LAPIC timer's LVT as last written (lapic.c) */
	u64 pml4_loaded;     /* the user address space its CR3 holds (0: the kernel's) */
	struct timer *timers; /* its timer queue, sorted by deadline (timer.c) */
	u64 timer_due;       /* the deadline its LAPIC timer was last set for (0: none pending; timer.c) */
	struct percpu_sched sched;
};

_Static_assert(__builtin_offsetof(struct percpu, iomap) == __builtin_offsetof(struct percpu, tss) + sizeof(struct tss),
	       "the I/O bitmap follows the TSS");

extern struct percpu cpus[MAX_CPUS];

/* Every CPU's counters added up. */
void exit_stats_sum(struct exit_stats *out);
/* CPUs running the kernel: cpus[0..cpus_up-1] (smp.c raises it at boot). */
extern u32 cpus_up;

/* Set up CPU `id` on this CPU: its GDT, TSS, IST stacks, GS base, with the
 * bootstrap stack as its kernel stack (cpu0). -ENOMEM if its stacks cannot
 * be allocated. */
int percpu_init(unsigned id);

/* The two halves, for an AP: the boot CPU allocates its IST stacks and fills
 * its TSS (the allocator is not the AP's to use); the AP loads them. */
int percpu_prepare(unsigned id, u64 kstack_top);
void percpu_load(unsigned id);

/* Undo percpu_prepare for a CPU that never came up, or failed to: its IST
 * stacks freed (kva_free_stack), its TSS's stack pointers cleared; the
 * kernel stack stays the caller's. Returns the frames freed. The CPU must
 * be unable to run (an AP sent INIT again). */
size_t percpu_release(unsigned id);

/* Not volatile: within a function the compiler may read it once (the
 * kernel never moves to another CPU in the middle of a path, and GS base
 * is set once per CPU, in percpu_load, before any caller), as Linux's
 * this_cpu_read_stable. */
static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	__asm__("mov %%gs:%c1, %0" : "=r"(p) : "i"(__builtin_offsetof(struct percpu, self)));
	return p;
}

/* This CPU's running dispatcher in one load (this_cpu()->disp is two).
 * Read afresh each time, and ordered with memory accesses: a switch in
 * between changes it. */
static inline struct dispatcher *this_disp(void)
{
	struct dispatcher *d;
	__asm__ volatile("mov %%gs:%c1, %0" : "=r"(d) : "i"(__builtin_offsetof(struct percpu, disp)) : "memory");
	return d;
}

#endif
