/* Symbols the linker script (arch/x86_64/kernel.ld.S) defines for the image. */
#ifndef KEEL_IMAGE_H
#define KEEL_IMAGE_H

#include "types.h"

extern char __kernel_phys_start[], __kernel_phys_end[]; /* physical extent */
extern char __text_start[], __text_end[];
extern char __rodata_start[], __rodata_end[];
extern char __data_start[], __bss_end[];
extern char __boot_stack_guard[], __boot_stack_bottom[], __boot_stack_top[];

static inline paddr_t image_phys_start(void) { return (paddr_t)(uptr)__kernel_phys_start; }
static inline paddr_t image_phys_end(void) { return (paddr_t)(uptr)__kernel_phys_end; }

#endif
