/*
 * The register torture loop. Every general register but RSP, XMM0-15 (YMM
 * when use_avx is set), MXCSR and the x87 control word hold this env's own
 * values; the loop compares each against `expected` using only RIP-relative
 * memory and RSP as scratch (a preemption saves and restores RSP like any
 * other register), so nothing but a kernel that loses state can fail it.
 *
 *   u64 regcheck_loop(u64 iterations): 0 if every check held, else the
 *   number (1..) of the first check that failed.
 *
 * Its data is its own (RIP-relative: no register to spare for a pointer), so
 * two dispatchers of one env that check at once each need a copy:
 * regloop2.S assembles this file again with the prefix regcheck2.
 */
#ifndef REGLOOP
#define REGLOOP regcheck
#endif
#define REGLOOP_CAT_(a, b) a##_##b
#define REGLOOP_CAT(a, b) REGLOOP_CAT_(a, b)
#define R(x) REGLOOP_CAT(REGLOOP, x)
	.data
	.balign 32
	.global R(expected), R(use_avx), R(use_df)
R(expected):
	.skip 15 * 8           /* rax rbx rcx rdx rsi rdi rbp r8..r15 */
	.skip 16 * 32          /* ymm0..ymm15 (xmm: the low 16 bytes) */
	.skip 8                /* mxcsr (dword) */
	.skip 8                /* x87 control word */
R(use_avx):
	.quad 0
R(use_df):
	.quad 0                /* set: run the loop with DF=1 and check it too */
	.balign 32
scratch:	.skip 32
saved_rsp:	.quad 0
iters:		.quad 0
failed:		.quad 0

#define EXP(i) R(expected) + 8 * (i)(%rip)
#define VEXP(n, q) R(expected) + 120 + 32 * (n) + 8 * (q)(%rip)
#define MXCSR_EXP R(expected) + 120 + 512(%rip)
#define FCW_EXP R(expected) + 120 + 520(%rip)

	.text
	.global R(loop), R(loop_start), R(loop_end)
R(loop):
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rdi, iters(%rip)
	movq $0, failed(%rip)
	movq %rsp, saved_rsp(%rip)

	ldmxcsr MXCSR_EXP
	fldcw FCW_EXP
	cmpq $0, R(use_avx)(%rip)
	je 1f
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu R(expected) + 120 + 32 * \n(%rip), %ymm\n
	.endr
	jmp 2f
1:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqu R(expected) + 120 + 32 * \n(%rip), %xmm\n
	.endr
2:
	movq EXP(0), %rax
	movq EXP(1), %rbx
	movq EXP(2), %rcx
	movq EXP(3), %rdx
	movq EXP(4), %rsi
	movq EXP(5), %rdi
	movq EXP(6), %rbp
	movq EXP(7), %r8
	movq EXP(8), %r9
	movq EXP(9), %r10
	movq EXP(10), %r11
	movq EXP(11), %r12
	movq EXP(12), %r13
	movq EXP(13), %r14
	movq EXP(14), %r15
	cmpq $0, R(use_df)(%rip)
	je R(loop_start)
	std

R(loop_start):
.Lagain:
	cmpq EXP(0), %rax;  jne .Lbad1
	cmpq EXP(1), %rbx;  jne .Lbad2
	cmpq EXP(2), %rcx;  jne .Lbad3
	cmpq EXP(3), %rdx;  jne .Lbad4
	cmpq EXP(4), %rsi;  jne .Lbad5
	cmpq EXP(5), %rdi;  jne .Lbad6
	cmpq EXP(6), %rbp;  jne .Lbad7
	cmpq EXP(7), %r8;   jne .Lbad8
	cmpq EXP(8), %r9;   jne .Lbad9
	cmpq EXP(9), %r10;  jne .Lbad10
	cmpq EXP(10), %r11; jne .Lbad11
	cmpq EXP(11), %r12; jne .Lbad12
	cmpq EXP(12), %r13; jne .Lbad13
	cmpq EXP(13), %r14; jne .Lbad14
	cmpq EXP(14), %r15; jne .Lbad15

	cmpq $0, R(use_avx)(%rip)
	je .Lxmm
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu %ymm\n, scratch(%rip)
	.irp q, 0,1,2,3
	movq scratch + 8 * \q(%rip), %rsp
	cmpq VEXP(\n, \q), %rsp
	jne .Lbadv
	.endr
	.endr
	jmp .Lctl
.Lxmm:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqu %xmm\n, scratch(%rip)
	.irp q, 0,1
	movq scratch + 8 * \q(%rip), %rsp
	cmpq VEXP(\n, \q), %rsp
	jne .Lbadv
	.endr
	.endr
.Lctl:
	stmxcsr scratch(%rip)
	movl scratch(%rip), %esp
	cmpl MXCSR_EXP, %esp
	jne .Lbadmxcsr
	fnstcw scratch(%rip)
	movzwl scratch(%rip), %esp
	cmpw FCW_EXP, %sp
	jne .Lbadfcw
	cmpq $0, R(use_df)(%rip)
	je 4f
	leaq scratch + 16(%rip), %rsp  /* a stack just for pushfq */
	pushfq
	popq %rsp
	testl $0x400, %esp
	jz .Lbaddf
4:
	decq iters(%rip)
	jnz .Lagain
R(loop_end):
	jmp .Ldone

	.irp k, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
.Lbad\k: movq $\k, failed(%rip); jmp .Ldone
	.endr
.Lbadv:     movq $16, failed(%rip); jmp .Ldone
.Lbadmxcsr: movq $17, failed(%rip); jmp .Ldone
.Lbadfcw:   movq $18, failed(%rip); jmp .Ldone
.Lbaddf:    movq $19, failed(%rip); jmp .Ldone

.Ldone:
	cld
	movq saved_rsp(%rip), %rsp
	movq failed(%rip), %rax
	cmpq $0, R(use_avx)(%rip)
	je 3f
	vzeroupper
3:
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.section .note.GNU-stack, "", @progbits
