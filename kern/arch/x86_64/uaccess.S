/*
 * Copies between the kernel and Ring 3 memory. The caller (uaccess.c) has
 * checked the range lies in the user half; a fault here (unmapped or
 * read-only page) is caught through the exception table and becomes -EFAULT.
 * STAC/CLAC open SMAP for exactly the copy.
 */
#include "asm-offsets.h" /* EFAULT (keel/errno.h) */
#include "arch/x86_64/smap.h"

	.text
/* long uaccess_copy(void *dst, const void *src, size_t n): 0 or -EFAULT */
	.global uaccess_copy
uaccess_copy:
	movq %rdx, %rcx
	STAC
.Lcopy:
	rep movsb
	CLAC
	xorl %eax, %eax
	ret
.Lcopy_fault:
	CLAC
	movq $-EFAULT, %rax
	ret

/* long uaccess_probe_nosmap(const u8 *p): the byte at p, read WITHOUT
 * opening SMAP (a test of SMAP itself), or -EFAULT. */
	.global uaccess_probe_nosmap
uaccess_probe_nosmap:
.Lprobe:
	movzbl (%rdi), %eax
	ret
.Lprobe_fault:
	movq $-EFAULT, %rax
	ret

	.pushsection .extable, "a"
	.balign 8
	.quad .Lcopy, .Lcopy_fault
	.quad .Lprobe, .Lprobe_fault
	.popsection
