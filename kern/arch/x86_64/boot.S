/*
 * Multiboot2 entry: GRUB jumps to _start in 32-bit protected mode, paging off,
 * EAX = multiboot2 magic, EBX = physical address of the boot information.
 *
 * This trampoline builds throw-away page tables, enters long mode and jumps to
 * the kernel linked at KERNEL_VMA. The early tables map:
 *   - the low 4 GiB identity-mapped (so the next instruction fetch after
 *     enabling paging still works) -- slot.c removes this before anything else
 *     runs;
 *   - the same 4 GiB at DIRECT_MAP_BASE, so C can read the boot information and
 *     build the real tables through the direct map;
 *   - physical 0..1 GiB at KERNEL_VMA, the image window.
 * All with 2 MiB pages and no W^X: slot.c replaces them with the real layout
 * (4 KiB pages, W^X, the bootstrap stack's guard page) before any env exists.
 */
#include "asm-offsets.h" /* layout.h, cpu.h, paging.h, mb2.h, keel/exit.h (asm-offsets.c) */

/* The multiboot2 header's own constants (only this file writes the header). */
#define MB2_HEADER_MAGIC 0xE85250D6
#define MB2_ARCH_I386    0

#define PTE_P_W (PTE_P | PTE_W)
#define PDE_2M  (PTE_P | PTE_W | PTE_PS) /* present, writable, page size */

/* ---------------------------------------------------------------- header */
	.section .multiboot2, "a"
	.balign 8
mb2_header:
	.long MB2_HEADER_MAGIC
	.long MB2_ARCH_I386
	.long mb2_header_end - mb2_header
	.long 0x100000000 - (MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
	/* module alignment tag: modules start on page boundaries */
	.balign 8
	.short 6, 0
	.long 8
	/* framebuffer tag, optional (flags bit 0): a linear framebuffer of
	 * 1024x768 at 32 bits per pixel if the firmware has one, else whatever
	 * mode is nearest (GRUB's choice); none at all if there is no display.
	 * The screen console draws on it (fbcon.c). */
	.balign 8
	.short 5, 1
	.long 20
	.long 1024, 768, 32
	/* end tag */
	.balign 8
	.short 0, 0
	.long 8
mb2_header_end:

/* ------------------------------------------------------- 32-bit trampoline */
	.section .boot.text, "ax"
	.code32
	.global _start
_start:
	cli
	cld
	movl %eax, boot_magic
	movl %ebx, boot_mbi_pa
	cmpl $MB2_BOOT_MAGIC, %eax
	jne .Lno_multiboot

	/* Long mode present? (CPUID 0x80000001 EDX.LM) */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb .Lno_long_mode
	movl $0x80000001, %eax
	cpuid
	testl $(1 << 29), %edx
	jz .Lno_long_mode

	/* Zero the early tables (GRUB zeroes bss too; do not rely on it). */
	movl $early_tables, %edi
	movl $(early_tables_end - early_tables) / 4, %ecx
	xorl %eax, %eax
	rep stosl

	/* Four page directories of 2 MiB pages: physical 0..4 GiB. */
	movl $early_pd, %edi
	movl $PDE_2M, %eax
	xorl %edx, %edx
	movl $2048, %ecx
1:	movl %eax, (%edi)
	movl %edx, 4(%edi)
	addl $0x200000, %eax
	adcl $0, %edx
	addl $8, %edi
	loop 1b

	/* PDPT entries 0..3 of both PDPTs point at those directories. */
	movl $early_pd + PTE_P_W, %eax
	xorl %ecx, %ecx
2:	movl %eax, early_pdpt_low(, %ecx, 8)
	movl %eax, early_pdpt_high(, %ecx, 8)
	addl $4096, %eax
	incl %ecx
	cmpl $4, %ecx
	jne 2b
	/* Image window: PDPT[510] of slot 511 = physical 0..1 GiB. */
	movl $early_pd + PTE_P_W, early_pdpt_high + 510 * 8

	movl $early_pdpt_low + PTE_P_W, early_pml4
	movl $early_pdpt_high + PTE_P_W, early_pml4 + KERNEL_SLOT * 8

	/* PAE, EFER.LME, CR3, then paging: the CPU is in long mode (compat). */
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $early_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP), %eax
	movl %eax, %cr0

	lgdt early_gdtr
	ljmp $0x08, $.Llong_mode_low

.Lno_multiboot:
	movl $msg_no_multiboot, %esi
	jmp .Lfail32
.Lno_long_mode:
	movl $msg_no_long_mode, %esi
.Lfail32:
	/* Polled write to COM1 (the kernel has not initialised it: good enough). */
	movw $0x3FD, %dx
3:	inb %dx, %al
	testb $0x20, %al
	jz 3b
	movw $0x3F8, %dx
	lodsb
	testb %al, %al
	jz 4f
	outb %al, %dx
	jmp 3b
4:	movw $KEEL_EXIT_PORT, %dx
	movb $KEEL_EXIT_FAILURE, %al
	outb %al, %dx
5:	hlt
	jmp 5b

	.code64
.Llong_mode_low:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorw %ax, %ax
	movw %ax, %fs
	movw %ax, %gs
	movabsq $kernel_entry64, %rax
	jmp *%rax

/* ------------------------------------------------------------ boot data */
	.section .boot.rodata, "a"
	.balign 8
early_gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF /* 0x08: 64-bit code, DPL 0 */
	.quad 0x00CF92000000FFFF /* 0x10: data, DPL 0 */
early_gdt_end:
early_gdtr:
	.short early_gdt_end - early_gdt - 1
	.long early_gdt
msg_no_multiboot:
	.asciz "keel: not started by a multiboot2 loader\r\n"
msg_no_long_mode:
	.asciz "keel: this CPU has no long mode (x86_64 required)\r\n"

	.section .boot.bss, "aw", @nobits
	.balign 4096
early_tables:
early_pml4:      .skip 4096
early_pdpt_low:  .skip 4096
early_pdpt_high: .skip 4096
early_pd:        .skip 4096 * 4
early_tables_end:
	.global boot_magic, boot_mbi_pa
boot_magic:  .skip 4
boot_mbi_pa: .skip 4

/* ------------------------------------------------- 64-bit, higher half */
	.section .text.entry, "ax"
	.code64
kernel_entry64:
	.cfi_sections .debug_frame
	.cfi_startproc simple
	.cfi_undefined %rip /* and gdb's (docs/debugging.md) */
	movabsq $__boot_stack_top, %rsp
	.cfi_def_cfa %rsp, 0
	xorl %ebp, %ebp
	pushq $0          /* fake return address: ends the kernel's backtrace */
	pushq $0          /* fake saved rbp */
	movq %rsp, %rbp
	movl boot_magic, %edi
	movl boot_mbi_pa, %esi
	call kmain
	ud2
	.cfi_endproc
