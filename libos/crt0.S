/*
 * Program entry. The kernel starts an env here with RDI = struct keel_start
 * (keel/abi.h) and RSP 16-byte aligned; the program is already relocated.
 */
	.text
	.global _start
	.type _start, @function
_start:
	.cfi_startproc
	.cfi_undefined %rip    /* ends gdb's backtraces (its CFI) */
	xorl %ebp, %ebp        /* ends frame-pointer backtraces */
	andq $-16, %rsp
	call libos_start       /* (struct keel_start *) -> does not return */
	ud2
	.cfi_endproc
	.size _start, . - _start
	.section .note.GNU-stack, "", @progbits
