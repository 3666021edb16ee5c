/*
 * The hazards themselves, where C cannot say them: each probe records where
 * its dangerous instruction is (probe_insn), where to continue if it traps
 * (probe_resume) and the stack pointer to continue with (probe_rsp); the
 * trap handler (hazard.c) puts the trapped context back there. hazard.c
 * calls the probes its table names as `u64 probe(a, b, c, d)`: each reads
 * the arguments it needs and ignores the rest.
 */
#include "keel/abi.h"

#define TF 0x100

	.data
	.global probe_insn, probe_resume, probe_rsp, probe_out
probe_insn:   .quad 0
probe_resume: .quad 0
probe_rsp:    .quad 0
probe_out:    .quad 0, 0     /* what a probe stored (sgdt, sidt, ...) */

	.text
/* Arm: the instruction at \insn may trap; continue at \resume with the
 * current RSP. Clobbers R11 only. */
.macro AT insn, resume
	leaq \insn(%rip), %r11
	movq %r11, probe_insn(%rip)
	leaq \resume(%rip), %r11
	movq %r11, probe_resume(%rip)
	movq %rsp, probe_rsp(%rip)
.endm

.macro SET_TF
	pushfq
	orq $TF, (%rsp)
	popfq
.endm

.macro CLEAR_TF
	pushfq
	andq $~TF, (%rsp)
	popfq
.endm

/* ------------------------------------------------------ far transfers */

/* u64 probe_iret(u64 cs, u64 ss, u64 rip, u64 rflags): a Ring 3 iretq to
 * the frame (rip or the label below, cs, rflags or the current RFLAGS, the
 * current RSP, ss). Returns the RFLAGS it landed with. */
	.global probe_iret
probe_iret:
	AT 0f, 1f
	movq %rsp, %rax
	pushq %rsi                   /* ss */
	pushq %rax                   /* rsp */
	pushfq                       /* rflags */
	testq %rcx, %rcx
	jz 2f
	movq %rcx, (%rsp)
2:	pushq %rdi                   /* cs */
	leaq 1f(%rip), %rax
	testq %rdx, %rdx
	cmovnzq %rdx, %rax
	pushq %rax                   /* rip */
0:	iretq
1:	pushfq
	popq %rax
	ret

/* u64 probe_iret_at(u64 rsp): iretq with RSP itself pointing elsewhere
 * (the frame is whatever is there). */
	.global probe_iret_at
probe_iret_at:
	AT 0f, 1f
	movq %rsp, %r8
	movq %rdi, %rsp
0:	iretq
1:	movq %r8, %rsp
	ret

/* u64 probe_ljmp(u64 sel, u64 off): `ljmpl *m16:32` to sel:off (off 0: the
 * label below). */
	.global probe_ljmp
probe_ljmp:
	subq $16, %rsp
	AT 0f, 1f
	leaq 1f(%rip), %rax
	testq %rsi, %rsi
	cmovnzq %rsi, %rax
	movl %eax, (%rsp)
	movw %di, 4(%rsp)
	xorl %eax, %eax
0:	ljmpl *(%rsp)
1:	addq $16, %rsp
	ret

/* u64 probe_lcall(u64 sel): `lcalll *m16:32` to sel:the label below, which
 * returns with `lretl`. */
	.global probe_lcall
probe_lcall:
	subq $16, %rsp
	AT 0f, 1f
	leaq 2f(%rip), %rax
	movl %eax, (%rsp)
	movw %di, 4(%rsp)
	xorl %eax, %eax
0:	lcalll *(%rsp)
1:	addq $16, %rsp
	ret
2:	lretl

/* --------------------------------------------------- single instructions */

/* One instruction that may trap: priv_NAME(), `prep` setting up its
 * operands first. */
.macro ONE name, prep, insn:vararg
	.global priv_\name
priv_\name:
	AT 0f, 1f
	\prep
0:	\insn
1:	ret
.endm

	ONE cli, "", cli
	ONE sti, "", sti
	ONE hlt, "", hlt
	ONE inb, "", inb $0x80, %al
	ONE outb, "", outb %al, $0x80
	ONE insb, "leaq probe_out(%rip), %rdi; movl $0x60, %edx", insb
	ONE lgdt, "", lgdt probe_out(%rip)
	ONE lidt, "", lidt probe_out(%rip)
	ONE lldt, "xorl %eax, %eax", lldt %ax
	ONE ltr, "movl $0x30, %eax", ltr %ax
	ONE movcr3w, "xorl %eax, %eax", movq %rax, %cr3
	ONE movcr0r, "", movq %cr0, %rax
	ONE movcr3r, "", movq %cr3, %rax
	ONE movcr4r, "", movq %cr4, %rax
	ONE movdr7w, "xorl %eax, %eax", movq %rax, %db7
	ONE clts, "", clts
	ONE lmsw, "xorl %eax, %eax", lmsw %ax
	ONE wrmsr, "movl $0xC0000082, %ecx; xorl %eax, %eax; xorl %edx, %edx", wrmsr
	ONE rdmsr, "movl $0xC0000082, %ecx", rdmsr
	ONE rdpmc, "xorl %ecx, %ecx", rdpmc
	ONE swapgs, "", swapgs
	ONE sysretq, "leaq 1f(%rip), %rcx; movl $0x202, %r11d", sysretq
	ONE invlpg, "", invlpg probe_out(%rip)
	ONE invd, "", invd
	ONE wbinvd, "", wbinvd
	ONE xsetbv, "xorl %ecx, %ecx; movl $3, %eax; xorl %edx, %edx", xsetbv
	/* UMIP: with CR4.UMIP these are #GP in Ring 3; without, they work and
	 * store what they read in probe_out */
	ONE sgdt, "", sgdt probe_out(%rip)
	ONE sidt, "", sidt probe_out(%rip)
	ONE sldt, "movq $-1, %rax", sldt %ax
	ONE str, "movq $-1, %rax", str %ax
	ONE smsw, "movq $-1, %rax", smsw %rax
	/* gates and odd instructions */
	ONE ud2, "", ud2
	ONE icebp, "", .byte 0xF1
	ONE into, "", .byte 0xCE
	ONE sysenter, "", sysenter
	ONE sysexit, "", sysexit

/* ------------------------------------------------------------ int $N */
/* int_table + 4 * N: `int $N; ret` (CD N C3, padded to 4 bytes). */
	.balign 4
	.global int_table
int_table:
	.set v, 0
	.rept 256
	.byte 0xCD, v, 0xC3, 0x90
	.set v, v + 1
	.endr

/* u64 int_call(u64 n, u64 rax): `int $N` with RAX set, RAX back. */
	.global int_call
int_call:
	movq %rsi, %rax
	leaq int_table(%rip), %rcx
	leaq (%rcx,%rdi,4), %rcx
	call *%rcx
	ret

/* ----------------------------------------------------------- trap flag */

/* u64 tf_syscall(u64 nr, u64 a0): the syscall with TF set. */
	.global tf_syscall, tf_syscall_after
tf_syscall:
	movq %rdi, %rax
	movq %rsi, %rdi
	SET_TF
	syscall
tf_syscall_after:
	nop
	CLEAR_TF
	ret

/* u64 tf_int80(u64 nr): the same through `int $0x80`. */
	.global tf_int80, tf_int80_after
tf_int80:
	movq %rdi, %rax
	SET_TF
	int $0x80
tf_int80_after:
	nop
	nop
	CLEAR_TF
	ret

/* u64 tf_movss_syscall(u64 nr), tf_movss_int80(u64 nr): TF set, then MOV SS
 * -- which defers its single-step trap past the next instruction, the
 * syscall: on hardware it fires on the kernel's first instruction (entry.S
 * db_entry); QEMU's TCG drops it. Ring 3 then gets its usual #DB. */
	.global tf_movss_syscall, tf_movss_syscall_after, tf_movss_int80, tf_movss_int80_after
tf_movss_syscall:
	movq %rdi, %rax
	movl %ss, %ecx
	SET_TF
	movl %ecx, %ss
	syscall
tf_movss_syscall_after:
	nop
	CLEAR_TF
	ret
tf_movss_int80:
	movq %rdi, %rax
	movl %ss, %ecx
	SET_TF
	movl %ecx, %ss
	int $0x80
tf_movss_int80_after:
	nop
	nop
	CLEAR_TF
	ret

/* u64 tf_int82(void): TF set across `int $0x82` (an event upcall to
 * itself, the kernel's assembly fast path). */
	.global tf_int82, tf_int82_after
tf_int82:
	SET_TF
	int $0x82
tf_int82_after:
	nop
	nop
	CLEAR_TF
	ret

/* u64 tf_loop(volatile u64 *flag): single-step `inc; cmp; je` until *flag
 * is set; returns the iterations. Every instruction from the first inc to
 * the final popfq traps: 3 * iterations + 3 #DBs. */
	.global tf_loop, tf_loop_start, tf_loop_end
tf_loop:
	xorl %eax, %eax
	SET_TF
tf_loop_start:
1:	incq %rax
	cmpq $0, (%rdi)
	je 1b
tf_loop_end:
	CLEAR_TF
	ret

/* ----------------------------------------------------- a bad stack pointer */

/* u64 rsp_syscall(u64 rsp, u64 nr): the syscall made with RSP = rsp. */
	.global rsp_syscall, rsp_int80
rsp_syscall:
	AT 1f, 1f
	movq %rsp, %r8
	movq %rsi, %rax
	movq %rdi, %rsp
	syscall
1:	movq %r8, %rsp
	ret
rsp_int80:
	AT 1f, 1f
	movq %rsp, %r8
	movq %rsi, %rax
	movq %rdi, %rsp
	int $0x80
1:	movq %r8, %rsp
	ret

/* u64 rsp_spin(u64 rsp, u64 ticks): spin `ticks` TSC ticks with RSP = rsp;
 * returns how many times RSP was not rsp in the loop (0). */
	.global rsp_spin, rsp_spin_start, rsp_spin_end
rsp_spin:
	AT 1f, 2f
	movq %rsp, %r8
	rdtsc
	shlq $32, %rdx
	orq %rax, %rdx
	leaq (%rdx,%rsi), %r9        /* until */
	xorl %r10d, %r10d
	movq %rdi, %rsp
rsp_spin_start:
1:	cmpq %rdi, %rsp
	je 3f
	incq %r10
3:	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	cmpq %r9, %rax
	jb 1b
rsp_spin_end:
2:	movq %r8, %rsp
	movq %r10, %rax
	ret

/* u64 rsp_wait(u64 rsp, volatile u64 *flag): spin with RSP = rsp until
 * *flag is set; returns how many times RSP was not rsp (0). */
	.global rsp_wait, rsp_wait_start, rsp_wait_end
rsp_wait:
	AT 1f, 2f
	movq %rsp, %r8
	xorl %r10d, %r10d
	movq %rdi, %rsp
rsp_wait_start:
1:	cmpq %rdi, %rsp
	je 3f
	incq %r10
3:	cmpq $0, (%rsi)
	je 1b
rsp_wait_end:
2:	movq %r8, %rsp
	movq %r10, %rax
	ret

/* rsp_int82(u64 rsp): `int $0x82` (an event to itself) with RSP = rsp. */
	.global rsp_int82
rsp_int82:
	AT 1f, 1f
	movq %rsp, %r8
	movq %rdi, %rsp
	int $0x82
1:	movq %r8, %rsp
	ret

/* rsp_ud2(u64 rsp), rsp_push(u64 rsp): fault with RSP = rsp (the handler
 * continues after the instruction with the probe's own RSP). */
	.global rsp_ud2, rsp_push
rsp_ud2:
	AT 0f, 1f
	movq %rsp, %r8
	movq %rdi, %rsp
0:	ud2
1:	movq %r8, %rsp
	ret
rsp_push:
	AT 0f, 1f
	movq %rsp, %r8
	movq %rdi, %rsp
0:	pushq $0
1:	movq %r8, %rsp
	ret

/* u64 nt_syscall(u64 nr), nt_int80(u64 nr): the call made with NT set;
 * returns RFLAGS after it (NT cleared again). The result in probe_out. */
	.global nt_syscall, nt_int80
nt_syscall:
	movq %rdi, %rax
	pushfq
	orq $0x4000, (%rsp)
	popfq
	syscall
	movq %rax, probe_out(%rip)
	pushfq
	popq %rax
	pushfq
	andq $~0x4000, (%rsp)
	popfq
	ret
nt_int80:
	movq %rdi, %rax
	pushfq
	orq $0x4000, (%rsp)
	popfq
	int $0x80
	movq %rax, probe_out(%rip)
	pushfq
	popq %rax
	pushfq
	andq $~0x4000, (%rsp)
	popfq
	ret

/* u64 nt_iret(void): a good Ring 3 iretq frame, but NT set: #GP(0) in
 * 64-bit mode. */
	.global nt_iret
nt_iret:
	AT 0f, 1f
	movq %rsp, %rax
	pushq $KEEL_USER_SS
	pushq %rax
	pushfq
	pushq $KEEL_USER_CS
	leaq 1f(%rip), %rax
	pushq %rax
	pushfq
	orq $0x4000, (%rsp)
	popfq
0:	iretq
1:	pushfq
	andq $~0x4000, (%rsp)
	popfq
	ret

/* -------------------------------------------------------------- FS/GS */
	.global fsgs_write, fsgs_read_gs, fsgs_read_fs, fsgs_wrfs_noncanon
fsgs_write:   /* (fs, gs) */
	wrfsbase %rdi
	wrgsbase %rsi
	ret
fsgs_read_gs:
	rdgsbase %rax
	ret
fsgs_read_fs:
	rdfsbase %rax
	ret
fsgs_wrfs_noncanon:   /* (value) */
	AT 0f, 1f
0:	wrfsbase %rdi
1:	ret

/* ------------------------------------------------------- upcall entries */

/* An event entry whose first act is a push onto the upcall stack. */
	.global entry_push
entry_push:
	pushq $0
	popq %rax
	jmp keel_event_entry

	.section .note.GNU-stack, "", @progbits
