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
 * this_cpu()->stats.iret_emulated counts them and the first is announced.
 *
 * A frame the instruction may not use gets the exception the CPU would have
 * raised, with its error code (iret_check); a frame that is not there at all
 * (an unmapped stack, with or without SMAP) the user-mode #PF hardware gives.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/trapframe.h"
#include "arch/x86_64/vectors.h"
#include "console.h"
#include "context.h"
#include "env.h"
#include "uvm.h"

/* Segment descriptor bits (SDM Vol. 3A, 3.4.5). */
#define DESC_CODE_W   (1ULL << 41) /* data: writable */
#define DESC_CODE_C   (1ULL << 42) /* code: conforming */
#define DESC_CODE     (1ULL << 43)
#define DESC_S        (1ULL << 44) /* code or data, not a system descriptor */
#define DESC_DPL(d)   (((d) >> 45) & 3)
#define DESC_P        (1ULL << 47)
#define DESC_L        (1ULL << 53)

/* What a CPL 3 iretq loads from the frame's RFLAGS (SDM IRET, CPL > IOPL):
 * the user-settable flags and NT and RF too; IOPL and IF stay as they are
 * (0 and 1 in Ring 3). Every kernel entry clears NT and RF again. */
#define IRET_CPL3_RFLAGS (USER_RFLAGS_MASK | RFLAGS_NT | RFLAGS_RF)

/* The descriptor a selector names in this CPU's GDT; false for an LDT
 * selector (Keel has no LDT) or one beyond the GDT's limit. */
static bool gdt_descriptor(u16 sel, u64 *d)
{
	unsigned index = sel >> 3;
	if (sel & 4 || index >= GDT_ENTRIES)
		return false;
	*d = this_cpu()->gdt[index];
	return true;
}

/*
 * The exception a CPL 3 iretq raises for this frame, in the order the SDM's
 * IRET pseudo-code checks it (return CS, then SS, then RIP): VEC_GP, VEC_NP
 * or VEC_SS with *err, or 0 when the frame is good -- which in Keel's GDT
 * means CS and SS are exactly USER_CS and USER_SS.
 */
static unsigned iret_check(u64 rip, u64 cs64, u64 ss64, u64 *err)
{
	u16 cs = (u16)cs64, ss = (u16)ss64;
	u64 d;
	*err = cs & 0xFFFC;
	if (!(cs & 0xFFFC)) {
		*err = 0;
		return VEC_GP;
	}
	if (!gdt_descriptor(cs, &d) || !(d & DESC_S) || !(d & DESC_CODE) || (cs & 3) < 3)
		return VEC_GP;
	if ((d & DESC_CODE_C) ? DESC_DPL(d) > (cs & 3u) : DESC_DPL(d) != (cs & 3u))
		return VEC_GP;
	if (!(d & DESC_P))
		return VEC_NP;
	if (!(d & DESC_L))
		return VEC_GP; /* compatibility mode: Keel's GDT has no such segment */
	/* Returning to CPL 3: SS:RSP is always popped and SS must be usable. */
	*err = ss & 0xFFFC;
	if (!(ss & 0xFFFC)) {
		*err = 0;
		return VEC_GP;
	}
	if ((ss & 3) != (cs & 3) || !gdt_descriptor(ss, &d) || !(d & DESC_S) || (d & DESC_CODE) ||
	    !(d & DESC_CODE_W) || DESC_DPL(d) != (cs & 3u))
		return VEC_GP;
	if (!(d & DESC_P))
		return VEC_SS;
	*err = 0;
	if (!user_canonical(rip))
		return VEC_GP;
	return 0;
}

/* The frame cannot be read as Ring 3 would read it: what the CPU raises
 * for the first quadword it cannot pop -- a user-mode read #PF there, or
 * #SS(0) past the end of the user half (a non-canonical stack address). */
static void iret_frame_fault(struct env *e, struct trap_frame *tf)
{
	u64 a = tf->rsp, q;
	for (unsigned i = 0; i < 5 && !uvm_peek(e->pml4, a, &q, sizeof q); i++)
		a += 8;
	if (!user_canonical(a)) {
		tf->vector = VEC_SS;
		tf->error = 0;
		return;
	}
	tf->error = PF_U; /* not present, read, user */
	write_cr2(a);     /* where the user-mode pop faults (the caller reads CR2 again) */
}

bool ring3_iret_complete(struct env *e, struct trap_frame *tf, u64 cr2)
{
	u8 insn[2];
	u64 frame[5]; /* rip cs rflags rsp ss */
	if (tf->vector != VEC_PF || (tf->error & PF_U) || cr2 - tf->rsp >= sizeof frame)
		return false;
	if (uvm_peek(e->pml4, tf->rip, insn, 2) || (insn[0] & 0xF8) != 0x48 || insn[1] != 0xCF) /* REX.W iret */
		return false;
	if (uvm_peek(e->pml4, tf->rsp, frame, sizeof frame)) {
		iret_frame_fault(e, tf); /* really not there: the env's #PF */
		return false;
	}
	static bool announced; /* once per boot, not per CPU */
	this_cpu()->stats.iret_emulated++;
	if (!announced && (announced = true))
		kprintf("cpu: a Ring 3 iretq faulted with a supervisor-mode #PF (QEMU TCG with SMAP); the kernel "
			"completes such iretqs (counted in iret_emulated)\n");
	u64 err;
	unsigned v = iret_check(frame[0], frame[1], frame[4], &err);
	if (v) {
		tf->vector = v; /* what the CPU would raise, at the iretq */
		tf->error = err;
		return false;
	}
	tf->rip = frame[0];
	tf->rflags = (frame[2] & IRET_CPL3_RFLAGS) | RFLAGS_IF_BIT | RFLAGS_RESERVED1;
	tf->rsp = frame[3];
	tf->cs = USER_CS;
	tf->ss = USER_SS;
	this_cpu()->stats.iret++;
	return true; /* the caller resumes the frame */
}
