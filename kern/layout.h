/*
 * Keel's virtual memory layout: the one place its addresses are defined.
 * docs/memory-map.md draws it. C includes this; boot.S and the linker script
 * get the values from the generated asm-offsets.h (arch/x86_64/asm-offsets.c).
 *
 * Invariant 1 (docs/design.md): every kernel mapping lives in PML4 slot 511, the
 * top 512 GiB of the address space. Slots 256..510 stay empty. The slot is
 * divided by its PDPT (one entry = 1 GiB):
 *
 *   PDPT[0..255]    0xFFFFFF80_00000000  direct map of physical memory (RAM only)
 *   PDPT[256..509]  0xFFFFFFC0_00000000  kernel virtual area (KVA): stacks with
 *                                        guard pages, IST stacks, MMIO windows
 *   PDPT[510..511]  0xFFFFFFFF_80000000  kernel image (-mcmodel=kernel), with the
 *                                        bootstrap stack and its guard page
 */
#ifndef KEEL_LAYOUT_H
#define KEEL_LAYOUT_H

#define UL(x) x##UL

#define PAGE_SIZE        UL(4096)
#define PAGE_SHIFT       12

#define KERNEL_SLOT      511
#define KERNEL_SLOT_BASE UL(0xFFFFFF8000000000)

#define DIRECT_MAP_BASE  UL(0xFFFFFF8000000000)
#define DIRECT_MAP_SIZE  UL(0x4000000000)       /* 256 GiB */

#define KVA_BASE         UL(0xFFFFFFC000000000)
#define KVA_END          UL(0xFFFFFFFF80000000)

#define KERNEL_VMA       UL(0xFFFFFFFF80000000) /* virtual address of physical 0 in the image window */
#define KERNEL_PHYS      UL(0x100000)           /* where GRUB loads the image: 1 MiB */

/* The single user address space: PML4 slots 0..255, page 0 never mapped. */
#define USER_BASE        UL(0x1000)
#define USER_END         UL(0x800000000000)     /* exclusive: first non-canonical address */
#ifndef __ASSEMBLER__
/* Is a an address of the user half? */
static inline bool user_addr(u64 a) { return a >= USER_BASE && a < USER_END; }
#endif

#define BOOT_STACK_SIZE  UL(0x8000)             /* CPU 0's kernel stack (32 KiB) */

#endif
