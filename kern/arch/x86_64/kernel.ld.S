/*
 * Keel kernel linker script (run through the C preprocessor for layout.h's
 * addresses, from the generated asm-offsets.h).
 *
 * GRUB loads each PT_LOAD segment at its physical address (p_paddr). The
 * 32-bit multiboot2 entry and its early page tables are linked at their
 * physical addresses (they run before paging); everything else is linked at
 * KERNEL_VMA + physical, the -2 GiB window in PML4 slot 511.
 *
 * Sections are page-aligned and grouped so the kernel can map them W^X:
 * text RX, rodata R, data/bss RW+NX. The bootstrap stack sits at the end of
 * .bss above one page that slot.c leaves unmapped (its guard).
 */
#include "asm-offsets.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(_start)

PHDRS
{
	boot   PT_LOAD FLAGS(7);
	text   PT_LOAD FLAGS(5);
	rodata PT_LOAD FLAGS(4);
	data   PT_LOAD FLAGS(6);
}

SECTIONS
{
	. = KERNEL_PHYS;
	__kernel_phys_start = .;

	.boot : {
		KEEP(*(.multiboot2))
		*(.boot.text)
		*(.boot.rodata)
		*(.boot.data)
	} :boot

	.boot.bss (NOLOAD) : ALIGN(4096) {
		*(.boot.bss)
	} :boot

	. = ALIGN(4096);
	. += KERNEL_VMA;

	.text : AT(ADDR(.text) - KERNEL_VMA) {
		__text_start = .;
		*(.text.entry)
		*(.text .text.*)
		. = ALIGN(4096);
		__text_end = .;
	} :text

	.rodata : AT(ADDR(.rodata) - KERNEL_VMA) {
		__rodata_start = .;
		*(.rodata .rodata.*)
		. = ALIGN(8);
		__ktests_start = .;
		KEEP(*(.ktests))
		__ktests_end = .;
		. = ALIGN(8);
		__smap_sites_start = .;
		KEEP(*(.smap_sites))
		__smap_sites_end = .;
		. = ALIGN(8);
		__trace_sites_start = .;
		KEEP(*(.trace_sites))
		__trace_sites_end = .;
		. = ALIGN(8);
		__extable_start = .;
		KEEP(*(.extable))
		__extable_end = .;
		. = ALIGN(4096);
		__rodata_end = .;
	} :rodata

	.data : AT(ADDR(.data) - KERNEL_VMA) {
		__data_start = .;
		*(.data .data.*)
	} :data

	.bss : AT(ADDR(.bss) - KERNEL_VMA) {
		__bss_start = .;
		*(.bss .bss.*)
		*(COMMON)
		. = ALIGN(4096);
		__boot_stack_guard = .;
		. += 4096;
		__boot_stack_bottom = .;
		. += BOOT_STACK_SIZE;
		__boot_stack_top = .;
		__bss_end = .;
	} :data

	__kernel_end = .;
	__kernel_phys_end = . - KERNEL_VMA;

	/DISCARD/ : {
		*(.note .note.*)
		*(.comment)
		*(.eh_frame .eh_frame_hdr)
	}
}
