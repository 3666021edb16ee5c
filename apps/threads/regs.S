/*
 * uint64_t regs_hold(const uint64_t v[28], uint64_t n): load this thread's
 * values -- xmm0..15 (both halves: v[0..15] low, the same xor'd with v[27]
 * high), rbx rbp rsi r8..r15 (v[16..26]), MXCSR rounding (v[27] bits 13-14)
 * and the x87 precision control (v[27] bits 8-9) -- spin n iterations on
 * rcx/rax only, then compare every one. 0 if all held, else 1 + the index of
 * the first that did not. Preemptions in the spin must save and restore all
 * of it, whatever other threads load meanwhile.
 */
	.text
	.global regs_hold
	.type regs_hold, @function
regs_hold:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $48, %rsp
	stmxcsr 0(%rsp)              /* the caller's, restored at the end */
	fnstcw 4(%rsp)
	movq %rsi, 8(%rsp)           /* n */
	movq %rdi, 16(%rsp)          /* v: also kept in rdi, checked too */

	/* MXCSR: default masks, rounding from v[27]; x87 CW likewise */
	movq 27*8(%rdi), %rax
	movl %eax, %ecx
	andl $0x6000, %ecx
	orl $0x1F80, %ecx
	movl %ecx, 24(%rsp)
	ldmxcsr 24(%rsp)
	movl %eax, %ecx
	andl $0x300, %ecx
	orl $0x7F, %ecx
	movw %cx, 24(%rsp)
	fldcw 24(%rsp)

	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movq \n*8(%rdi), %xmm\n
	movq \n*8(%rdi), %rax
	xorq 27*8(%rdi), %rax
	movq %rax, %xmm15
	.if \n < 15
	punpcklqdq %xmm15, %xmm\n
	.endif
	.endr
	movq 15*8(%rdi), %xmm15      /* xmm15: low half only (it was the scratch) */
	movq 16*8(%rdi), %rbx
	movq 17*8(%rdi), %rbp
	movq 18*8(%rdi), %rsi
	movq 19*8(%rdi), %r8
	movq 20*8(%rdi), %r9
	movq 21*8(%rdi), %r10
	movq 22*8(%rdi), %r11
	movq 23*8(%rdi), %r12
	movq 24*8(%rdi), %r13
	movq 25*8(%rdi), %r14
	movq 26*8(%rdi), %r15

	movq 8(%rsp), %rcx
	/* The spin: every value is live in its register from here to the
	 * compare. threads.c counts the preemptions whose RIP is in it. */
	.global regs_hold_spin, regs_hold_spin_end
regs_hold_spin:
	subq $1, %rcx
	jnz regs_hold_spin
regs_hold_spin_end:

	/* compare: rax = index of the first mismatch + 1 */
	cmpq 16(%rsp), %rdi
	movl $100, %eax
	jne 9f
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14
	movdqu %xmm\n, 32(%rsp)      /* SSE2 only: qemu64 has no pextrq */
	movq 32(%rsp), %rcx
	movl $(1 + \n), %eax
	cmpq \n*8(%rdi), %rcx
	jne 9f
	movq 40(%rsp), %rcx
	xorq 27*8(%rdi), %rcx
	cmpq \n*8(%rdi), %rcx
	jne 9f
	.endr
	movq %xmm15, %rcx
	movl $16, %eax
	cmpq 15*8(%rdi), %rcx
	jne 9f
	movl $17, %eax
	cmpq 16*8(%rdi), %rbx
	jne 9f
	movl $18, %eax
	cmpq 17*8(%rdi), %rbp
	jne 9f
	movl $19, %eax
	cmpq 18*8(%rdi), %rsi
	jne 9f
	movl $20, %eax
	cmpq 19*8(%rdi), %r8
	jne 9f
	movl $21, %eax
	cmpq 20*8(%rdi), %r9
	jne 9f
	movl $22, %eax
	cmpq 21*8(%rdi), %r10
	jne 9f
	movl $23, %eax
	cmpq 22*8(%rdi), %r11
	jne 9f
	movl $24, %eax
	cmpq 23*8(%rdi), %r12
	jne 9f
	movl $25, %eax
	cmpq 24*8(%rdi), %r13
	jne 9f
	movl $26, %eax
	cmpq 25*8(%rdi), %r14
	jne 9f
	movl $27, %eax
	cmpq 26*8(%rdi), %r15
	jne 9f
	/* MXCSR and the x87 control word */
	stmxcsr 24(%rsp)
	movl 24(%rsp), %ecx
	movq 27*8(%rdi), %rax
	andl $0x6000, %eax
	orl $0x1F80, %eax
	andl $0xFFBF, %ecx           /* DAZ aside; flags (bits 0-5) may be set by nothing here */
	cmpl %eax, %ecx
	movl $28, %eax
	jne 9f
	fnstcw 24(%rsp)
	movzwl 24(%rsp), %ecx
	movq 27*8(%rdi), %rax
	andl $0x300, %eax
	orl $0x7F, %eax
	andl $0x1FFF, %ecx
	andl $0x1FFF, %eax
	cmpl %eax, %ecx
	movl $29, %eax
	jne 9f
	xorl %eax, %eax
9:	ldmxcsr 0(%rsp)
	fldcw 4(%rsp)
	addq $48, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret
	.size regs_hold, . - regs_hold

	.section .note.GNU-stack, "", @progbits
