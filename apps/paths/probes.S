/*
 * The probes of apps/paths: a kernel entry made with every general register
 * set to a known value, and the entry points the kernel delivers to, which
 * record what they were entered with. No structure offsets here: registers
 * go to and from plain arrays, in the order of REGS below.
 */

/* The order of the registers in the arrays C passes: rax rbx rcx rdx rsi
 * rdi rbp r8 .. r15 (15 values; RSP is the probe's own). */

	.data
	.global paths_saved_rsp
paths_saved_rsp: .quad 0        /* the probe's RSP, put back after the entry */

	.text
/* A probe's start: the callee-saved registers and `out` (RSI) pushed. */
.macro PROBE_ENTER
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rsi                     /* out */
.endm

/* Every register from in[] (RDI), RDI last. */
.macro PROBE_LOAD
	movq 0(%rdi), %rax
	movq 8(%rdi), %rbx
	movq 16(%rdi), %rcx
	movq 24(%rdi), %rdx
	movq 32(%rdi), %rsi
	movq 48(%rdi), %rbp
	movq 56(%rdi), %r8
	movq 64(%rdi), %r9
	movq 72(%rdi), %r10
	movq 80(%rdi), %r11
	movq 88(%rdi), %r12
	movq 96(%rdi), %r13
	movq 104(%rdi), %r14
	movq 112(%rdi), %r15
	movq 40(%rdi), %rdi
.endm

/* PROBE_ENTER and PROBE_LOAD, on the stack in RDX if it is not 0 (the
 * probe's own RSP kept in paths_saved_rsp, for the way back). */
.macro PROBE_ON_STACK
	PROBE_ENTER
	movq %rsp, paths_saved_rsp(%rip)
	testq %rdx, %rdx
	jz 1f
	movq %rdx, %rsp                /* a stack chosen by the caller */
1:	PROBE_LOAD
.endm

/* Every register as it came back into out[] (pushed by PROBE_ENTER), and back. */
.macro PROBE_STORE_RET
	pushq %rdi
	movq 8(%rsp), %rdi             /* out */
	movq %rax, 0(%rdi)
	movq %rbx, 8(%rdi)
	movq %rcx, 16(%rdi)
	movq %rdx, 24(%rdi)
	movq %rsi, 32(%rdi)
	popq %rax
	movq %rax, 40(%rdi)
	movq %rbp, 48(%rdi)
	movq %r8, 56(%rdi)
	movq %r9, 64(%rdi)
	movq %r10, 72(%rdi)
	movq %r11, 80(%rdi)
	movq %r12, 88(%rdi)
	movq %r13, 96(%rdi)
	movq %r14, 104(%rdi)
	movq %r15, 112(%rdi)
	addq $8, %rsp                  /* out */
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
.endm

/* An entry: push what it was entered with -- RFLAGS, RSP, then the 15
 * registers, rax first at the highest address -- and call \fn(RDI, block). */
.macro ENTRY_CAPTURE fn
	pushfq
	pushq %rsp                     /* RSP after the pushf: the entry RSP - 8 */
	addq $8, (%rsp)
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rsi
	andq $-16, %rsp
	call \fn
	ud2
.endm

/*
 * void paths_int_self(const uint64_t in[15], uint64_t out[15], uint64_t rsp):
 * load every register from in[], RSP from `rsp` if it is not 0, raise
 * `int $0x82` (the self event) at paths_int, and store every register as it
 * came back into out[]. The instruction after the int is paths_int_end.
 */
	.global paths_int_self, paths_int, paths_int_end
paths_int_self:
	PROBE_ON_STACK
paths_int:
	int $0x82
paths_int_end:
	movq paths_saved_rsp(%rip), %rsp
	PROBE_STORE_RET

/*
 * The event entry: RDI = the area, RSP = the upcall stack (as the kernel
 * left them). Push what it was entered with -- RFLAGS, RSP, then the 15
 * registers in the REGS order, rax first at the highest address -- and
 * call paths_event(area, block) with block[0] = r15 .. block[14] = rax,
 * block[15] = RSP at entry, block[16] = RFLAGS. It never returns.
 */
	.global paths_event_entry
paths_event_entry:
	ENTRY_CAPTURE paths_event

/*
 * void paths_syscall_self(const uint64_t in[15], uint64_t out[15]): as
 * paths_int_self, with `syscall` (RAX in in[0] the call) and the caller's
 * own stack.
 */
	.global paths_syscall_self
paths_syscall_self:
	PROBE_ENTER
	PROBE_LOAD
	cmpq %rdi, %rdi                /* RFLAGS (R11 at the syscall) the same every run */
	syscall
	PROBE_STORE_RET

/* The control transfer entry: as paths_event_entry, into paths_pct. */
	.global paths_pct_entry
paths_pct_entry:
	ENTRY_CAPTURE paths_pct

/*
 * void paths_pf_self(const uint64_t in[15], uint64_t out[15], uint64_t rsp):
 * as paths_int_self, with a read of the unmapped page at 0x1000 (paths_pf)
 * instead of the int. The trap entry resumes at paths_pf_end.
 */
	.global paths_pf_self, paths_pf, paths_pf_end
paths_pf_self:
	PROBE_ON_STACK
paths_pf:
	movq 0x1000, %rax              /* faults: RAX keeps its value */
paths_pf_end:
	movq paths_saved_rsp(%rip), %rsp
	PROBE_STORE_RET

/* The trap entry: as paths_event_entry, into paths_trap. */
	.global paths_trap_entry
paths_trap_entry:
	ENTRY_CAPTURE paths_trap
