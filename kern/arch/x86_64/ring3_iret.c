/*
 * Completing a Ring 3 -> Ring 3 iretq that the CPU faulted on wrongly.
 *
 * QEMU's TCG (7.2 here) pops the IRET frame with *supervisor* accesses even
 * at CPL 3; with SMAP on, those accesses to the user stack raise #PF with
 * the U bit clear. Real CPUs never do: a Ring 3 iretq reads its frame as a
 * user access. So a supervisor-mode #PF from Ring 3, on an `iretq`, with CR2
 * inside the 40-byte frame at RSP, is exactly this emulator bug, and the
 * kernel finishes the instruction as the architecture defines it for CPL 3
 * (IF and IOPL unchanged, selectors must be Ring 3's). libos resumes threads
 * this way (keel_resume), so under QEMU each such resume costs a kernel trip;
 * exit_stats.iret_emulated counts them and the first is announced.
 */
#include "arch/x86_64/paging.h"
#include "arch/x86_64/trapframe.h"
#include "arch/x86_64/vectors.h"
#include "console.h"
#include "context.h"
#include "env.h"
#include "uvm.h"

bool ring3_iret_complete(struct env *e, struct trap_frame *tf, u64 cr2)
{
	u8 insn[2];
	u64 frame[5]; /* rip cs rflags rsp ss */
	if (tf->vector != VEC_PF || (tf->error & PF_U) || cr2 - tf->rsp >= sizeof frame)
		return false;
	if (uvm_peek(e->pml4, tf->rip, insn, 2) || (insn[0] & 0xF8) != 0x48 || insn[1] != 0xCF) /* REX.W iret */
		return false;
	if (uvm_peek(e->pml4, tf->rsp, frame, sizeof frame))
		return false; /* really not mapped: let it be the env's #PF */
	if (!exit_stats.iret_emulated++)
		kprintf("cpu: a Ring 3 iretq faulted with a supervisor-mode #PF (QEMU TCG with SMAP); the kernel "
			"completes such iretqs (counted in iret_emulated)\n");
	if ((frame[1] & 0xFFFF) != USER_CS || (frame[4] & 0xFFFF) != USER_SS || !user_canonical(frame[0])) {
		/* What the CPU would raise: #GP. */
		tf->vector = VEC_GP;
		tf->error = (frame[1] & 0xFFFF) != USER_CS ? (frame[1] & 0xFFFC) :
			    (frame[4] & 0xFFFF) != USER_SS ? (frame[4] & 0xFFFC) : 0;
		return false;
	}
	tf->rip = frame[0];
	tf->rflags = (frame[2] & USER_RFLAGS_MASK) | RFLAGS_IF_BIT | RFLAGS_RESERVED1;
	tf->rsp = frame[3];
	tf->cs = USER_CS;
	tf->ss = USER_SS;
	exit_stats.iret++;
	return true; /* the caller resumes the frame */
}
