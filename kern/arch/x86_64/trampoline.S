/*
 * The application processors' way into long mode (smp.c). This code is not
 * run where it is linked: smp.c copies it to a page below 1 MiB and sends
 * each AP a startup IPI whose vector is that page's number, so the AP starts
 * here in real mode at CS:IP = page >> 4 : 0, with no stack.
 *
 * Real mode -> protected mode (the GDT below) -> PAE, CR3 (a boot-only
 * top-level table below 4 GiB: this page identity-mapped, non-global, and
 * the kernel slot 511), EFER.LME and NXE (slot 511's entries carry NX, so
 * NXE must be on before paging) -> paging -> 64-bit code -> the kernel's
 * ap_entry on the stack smp.c handed over, in slot 511. Every absolute
 * address is computed or patched at run time: smp.c fills the fields after
 * tr_fields from its offsets (TR_*), and the code finds its own base from CS.
 */
#include "asm-offsets.h"

#define TR_SEL_CODE32 0x08
#define TR_SEL_DATA   0x10
#define TR_SEL_CODE64 0x18

	.section .rodata.trampoline, "a"
	.balign 16
	.global ap_trampoline, ap_trampoline_end
	.global tr_gdt_ptr, tr_far32, tr_far64, tr_cr3, tr_efer, tr_stack, tr_entry, tr_arg

	.code16
ap_trampoline:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	xorl %ebx, %ebx
	movw %ax, %bx
	shll $4, %ebx                       /* ebx = this page's physical address */
	lgdtl (tr_gdt_ptr - ap_trampoline)
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl *(tr_far32 - ap_trampoline)   /* -> tr_pm32, flat 32-bit */

	.code32
tr_pm32:
	movw $TR_SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl (tr_cr3 - ap_trampoline)(%ebx), %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl (tr_efer - ap_trampoline)(%ebx), %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP), %eax
	movl %eax, %cr0                     /* long mode, compatibility submode */
	ljmpl *(tr_far64 - ap_trampoline)(%ebx)

	.code64
tr_lm64:
	movl %ebx, %ebx                     /* the upper half is undefined after the switch */
	movq (tr_stack - ap_trampoline)(%rbx), %rsp
	movq (tr_entry - ap_trampoline)(%rbx), %rax
	movq (tr_arg - ap_trampoline)(%rbx), %rdi
	xorl %ebp, %ebp                     /* the end of the frame-pointer chain */
	pushq $0                            /* a null return address: backtraces stop here */
	jmpq *%rax                          /* ap_entry(arg), in slot 511 */

	.balign 8
tr_gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF            /* 0x08: 32-bit code, flat */
	.quad 0x00CF92000000FFFF            /* 0x10: data, flat */
	.quad 0x00AF9A000000FFFF            /* 0x18: 64-bit code */
tr_gdt_end:

/* Filled in by smp.c after the copy (physical addresses: page + offset). */
	.balign 8
tr_fields:
tr_gdt_ptr:
	.short tr_gdt_end - tr_gdt - 1
	.long 0                             /* page + (tr_gdt - ap_trampoline) */
	.balign 8
tr_far32:
	.long 0                             /* page + (tr_pm32 - ap_trampoline) */
	.short TR_SEL_CODE32
	.balign 8
tr_far64:
	.long 0                             /* page + (tr_lm64 - ap_trampoline) */
	.short TR_SEL_CODE64
	.balign 8
tr_cr3:   .quad 0                           /* the boot-only top-level table, below 4 GiB */
tr_efer:  .quad 0                           /* EFER bits to set: LME, and NXE where the CPU has it */
tr_stack: .quad 0                           /* this AP's kernel stack top */
tr_entry: .quad 0                           /* ap_entry */
tr_arg:   .quad 0                           /* its argument: the CPU's index */
ap_trampoline_end:

	.global tr_gdt, tr_pm32, tr_lm64
