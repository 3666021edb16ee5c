/*
 * The way back: the one exit to Ring 3 (user_return, and trap_exit's
 * labelled user_iretq -- the only iretq to Ring 3; a fault on it is
 * recognised by its RIP and charged to the environment), and the restart of
 * a kernel stack. It calls nothing, so every layer may use it (entry.S, on
 * the other hand, is the top: it calls the dispatchers).
 */
#include "asm-offsets.h" /* every offset and constant shared with C (asm-offsets.c) */
#include "arch/x86_64/regs.inc"

	.cfi_sections .debug_frame /* unwind information: regs.inc says how */
	.text

/*
 * The one exit from a trap frame at %rsp, to whatever it interrupted. The
 * label user_iretq is the only iretq to Ring 3; a fault on it (bad frame
 * contents) is recognised by its RIP and is the environment's fault.
 */
	.global trap_exit, user_iretq
trap_exit:
	CFI_TRAP_START             /* its "caller": the context the frame resumes */
	CFI_TRAP_FRAME
	POP_REGS
	addq $TF_RIP-TF_VECTOR, %rsp /* vector, error code */
	.cfi_adjust_cfa_offset -(TF_RIP-TF_VECTOR)
	testb $3, TF_CS-TF_RIP(%rsp)
	jz 3f
user_swapgs_iretq:
	swapgs
user_iretq:
	iretq
3:	iretq
	.cfi_endproc

/*
 * The one exit to Ring 3: user_return(ctx, sysret), ctx a sanitised
 * context (env_run) wherever it is kept -- a dispatcher's saved registers,
 * read in place, not copied. iretq: the CPU's five words go to the top of
 * the kernel stack, where the next entry from Ring 3 builds its own frame,
 * and leave through trap_exit's labelled user_iretq (a fault there finds
 * them as it finds any iret frame). sysretq is taken only when env_run
 * decided it is safe (a context saved by `syscall`, RIP below the last user
 * page). A ctx at the kernel stack's top (the ktests') works too: each push
 * writes a word back where it was read.
 */
	.global user_return, user_sysretq
user_return:
	.cfi_startproc
	.cfi_undefined %rip          /* gdb's backtrace ends here: the context is the env's */
	movq %gs:PERCPU_KSTACK_TOP, %rsp
	testl %esi, %esi
	jz 1f
	/* Second line of defence against the SYSRET hazard: sysretq only to a
	 * RIP below the last user page, whatever the caller decided. sysretq
	 * jumps to RCX and loads RFLAGS from R11, so both are made here from the
	 * context's checked RIP and sanitised RFLAGS: the address checked is the
	 * address used. */
	movq TF_RIP(%rdi), %rcx
	movabsq $SYSRET_RIP_LIMIT, %rax
	cmpq %rax, %rcx
	jae 1f
	movq TF_RFLAGS(%rdi), %r11
	LOAD_REGS rdi, 1
	movq TF_RSP(%rdi), %rsp      /* the user's RSP (an NMI runs on its IST stack) */
	movq TF_RDI(%rdi), %rdi
	swapgs                  /* an NMI from here on takes the paranoid path */
user_sysretq:
	sysretq
1:	pushq TF_SS(%rdi)
	pushq TF_RSP(%rdi)
	pushq TF_RFLAGS(%rdi)
	pushq TF_CS(%rdi)
	pushq TF_RIP(%rdi)
	LOAD_REGS rdi, 0
	movq TF_RDI(%rdi), %rdi
	jmp user_swapgs_iretq
	.cfi_endproc

/*
 * kstack_restart(fn): continue in fn(), which never returns, on this CPU's
 * kernel stack from the top -- dropping whatever the current kernel path had
 * on it. Nothing lives on a kernel stack between entries, so after an env
 * dies the scheduler starts afresh instead of nesting (one level per death).
 */
	.global kstack_restart
kstack_restart:
	.cfi_startproc
	movq %gs:PERCPU_KSTACK_TOP, %rsp
	subq $TF_SIZE + 16, %rsp   /* below where env_run builds the return frame */
	.cfi_undefined %rip        /* gdb's backtrace ends here too */
	xorl %ebp, %ebp
	call *%rdi
	ud2
	.cfi_endproc

