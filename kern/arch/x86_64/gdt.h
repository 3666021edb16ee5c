/*
 * Segment selectors. The order is fixed by the syscall/sysret MSR layout:
 * STAR[47:32] = kernel CS (SS = CS + 8); STAR[63:48] = base with
 * sysret CS = base + 16 and SS = base + 8. The 32-bit user code slot at the
 * base exists only for that arithmetic and is NOT PRESENT, so Ring 3 cannot
 * enter compatibility mode through it.
 */
#ifndef KEEL_X86_GDT_H
#define KEEL_X86_GDT_H

#define GDT_NULL     0x00
#define GDT_KCODE    0x08
#define GDT_KDATA    0x10
#define GDT_UCODE32  0x18 /* not present */
#define GDT_UDATA    0x20
#define GDT_UCODE    0x28
#define GDT_TSS      0x30 /* 16-byte system descriptor: two slots */
#define GDT_CPU      0x40 /* DPL 3, read-only data, limit = the CPU's index: `lsl` from Ring 3
			   * reads which CPU it runs on (KEEL_CPU_SEL; libos keel_cpu) */
#define GDT_ENTRIES  9

#define USER_CS (GDT_UCODE | 3)
#define USER_SS (GDT_UDATA | 3)
#define KERNEL_CS GDT_KCODE
#define KERNEL_SS GDT_KDATA

/* Interrupt stack table slots (1-based, as in the IDT gate). */
#define IST_DF  1
#define IST_NMI 2
#define IST_MC  3
#define IST_DB  4 /* a #DB in Ring 0 may come with the user's RSP (entry.S db_entry) */

#include "types.h"

_Static_assert(GDT_UDATA == GDT_UCODE32 + 8 && GDT_UCODE == GDT_UCODE32 + 16,
	       "sysret derives user SS and CS from the 32-bit user code slot");
_Static_assert(GDT_KDATA == GDT_KCODE + 8, "syscall derives kernel SS from kernel CS");
_Static_assert(GDT_CPU == GDT_TSS + 16, "the CPU descriptor follows the TSS's two slots");

/* The 64-bit task state segment (SDM Vol. 3A, 8.7). */
struct __packed tss {
	u32 reserved0;
	u64 rsp[3]; /* rsp[0]: the kernel stack for entries from Ring 3 */
	u64 reserved1;
	u64 ist[7]; /* ist[n-1]: the stack for IDT gates with IST n */
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base; /* the I/O permission bitmap follows (percpu.iomap) */
};
_Static_assert(sizeof(struct tss) == 104, "TSS layout");

#endif
