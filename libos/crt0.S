/*
 * Program entry. The kernel starts an env here with RDI = struct keel_start
 * (keel/abi.h) and RSP 16-byte aligned; the program is already relocated.
 */
	.text
	.global _start
	.type _start, @function
_start:
	xorl %ebp, %ebp        /* ends backtraces */
	andq $-16, %rsp
	call libos_start       /* (struct keel_start *) -> does not return */
	ud2
	.size _start, . - _start
	.section .note.GNU-stack, "", @progbits
