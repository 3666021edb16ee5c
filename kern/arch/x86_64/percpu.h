/*
 * Per-CPU data, reached through GS in the kernel (swapgs on entry from Ring 3).
 * It lives in the kernel image's .bss (PML4 slot 511), as does everything the
 * CPU itself reads on an interrupt: GDT, TSS, IDT.
 */
#ifndef KEEL_X86_PERCPU_H
#define KEEL_X86_PERCPU_H

/* Offsets the entry assembly uses; checked below. */
#define PERCPU_SELF       0
#define PERCPU_KSTACK_TOP 8
#define PERCPU_USER_RSP   16
#define PERCPU_FAST_RESULT 24
#define PERCPU_FAST_STATUS 32
#define PERCPU_ENV 40

#define MAX_CPUS 16

#ifndef __ASSEMBLER__
#include "types.h"
#include "arch/x86_64/gdt.h"

struct env;

struct percpu {
	struct percpu *self; /* %gs:0 */
	u64 kstack_top;      /* %gs:8: this CPU's kernel stack, = tss.rsp[0] */
	u64 user_rsp;        /* %gs:16: scratch for the syscall entry */
	u64 fast_result;     /* %gs:24: syscall_fast's answer when it ... */
	u64 fast_status;     /* %gs:32: ... hands over to the general path */
	struct env *env;     /* %gs:40: the environment this CPU runs (NULL: none) */
	u32 id;
	u32 apic_id;
	u64 ist_top[4];      /* IST stacks (#DF, NMI, #MC, #DB); each top holds `self` */
	u64 gdt[GDT_ENTRIES] __aligned(16);
	struct tss tss __aligned(16);
	/* The TSS's I/O permission bitmap, right after it (iomap_base), for
	 * all 65,536 ports, and the 0xFF byte the CPU reads past its end. */
	u8 iomap[65536 / 8 + 1];
	u32 iomap_open;      /* leading bytes that now allow something (ioport.c) */
	bool lstar_floor;    /* MSR_LSTAR points at floor_sysretq */
	u64 spurious_pic;    /* spurious IRQ 7/15 seen */
	u64 spurious_lapic;  /* spurious LAPIC vector seen */
	u64 db_in_kernel;    /* #DB taken in Ring 0 (trap.c), ignored */
};

_Static_assert(__builtin_offsetof(struct percpu, self) == PERCPU_SELF, "percpu.self");
_Static_assert(__builtin_offsetof(struct percpu, kstack_top) == PERCPU_KSTACK_TOP, "percpu.kstack_top");
_Static_assert(__builtin_offsetof(struct percpu, user_rsp) == PERCPU_USER_RSP, "percpu.user_rsp");
_Static_assert(__builtin_offsetof(struct percpu, fast_result) == PERCPU_FAST_RESULT, "percpu.fast_result");
_Static_assert(__builtin_offsetof(struct percpu, fast_status) == PERCPU_FAST_STATUS, "percpu.fast_status");
_Static_assert(__builtin_offsetof(struct percpu, env) == PERCPU_ENV, "percpu.env");
_Static_assert(__builtin_offsetof(struct percpu, iomap) == __builtin_offsetof(struct percpu, tss) + sizeof(struct tss),
	       "the I/O bitmap follows the TSS");

extern struct percpu cpus[MAX_CPUS];

/* Set up CPU `id`: its GDT, TSS, IST stacks, GS base. -ENOMEM if its
 * stacks cannot be allocated. */
int percpu_init(unsigned id);

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(p));
	return p;
}
#endif

#endif
