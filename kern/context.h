/*
 * A Ring 3 context (the registers of an environment that is not running) and
 * the two decisions made on every return to Ring 3. Pure; host-tested.
 *
 * A context has the layout of a trap frame: entry code saves one by copying
 * the frame, and the exit builds the frame from it.
 */
#ifndef KEEL_CONTEXT_H
#define KEEL_CONTEXT_H

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/trapframe.h"
#include "keel/abi.h"
#include "layout.h"
#include "types.h"

/* RFLAGS bits Ring 3 may choose: CF PF AF ZF SF TF DF OF AC ID. Never IOPL,
 * NT, RF, VM, VIF or VIP; IF is always forced on. (The bits: cpu.h.) */
#define USER_RFLAGS_MASK                                                                                  \
	(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_TF | RFLAGS_DF | RFLAGS_OF | \
	 RFLAGS_AC | RFLAGS_ID)
#define RFLAGS_RESERVED1 RFLAGS_FIXED /* always 1 */
#define RFLAGS_IF_BIT RFLAGS_IF

/* The highest RIP sysretq may return to: the last user page is excluded. A
 * syscall in that page may have a return address that is not canonical, and
 * on Intel CPUs sysretq to a non-canonical RCX faults in Ring 0 on the user's
 * stack (the "SYSRET hazard"). */
#define SYSRET_RIP_LIMIT (USER_END - PAGE_SIZE)

static inline bool user_canonical(u64 va) { return va < USER_END; }

_Static_assert(KEEL_USER_CS == USER_CS && KEEL_USER_SS == USER_SS, "ABI selectors");

/*
 * Return through sysretq (faster) only for a context saved at a `syscall`
 * entry and not changed since, and only when its RIP is below the last user
 * page; everything else returns through iretq.
 */
static inline bool exit_via_sysret(bool saved_by_syscall, u64 rip)
{
	return saved_by_syscall && rip < SYSRET_RIP_LIMIT;
}

/*
 * Make a context safe to resume in Ring 3: user CS and SS forced; RFLAGS =
 * (value & user-settable bits) | IF; RIP a canonical user-half address.
 * `from_user_memory` (a context Ring 3 wrote, e.g. in its upcall area) also
 * requires RSP to be one. A context the CPU saved may hold any RSP -- Ring 3
 * may use RSP as a scratch register, and neither iretq nor sysretq reads
 * through it. Returns 0, or -EFAULT (the context cannot be resumed).
 */
static inline int context_sanitize(struct trap_frame *c, bool from_user_memory)
{
	c->cs = USER_CS;
	c->ss = USER_SS;
	c->rflags = (c->rflags & USER_RFLAGS_MASK) | RFLAGS_IF_BIT | RFLAGS_RESERVED1;
	if (!user_canonical(c->rip) || (from_user_memory && !user_canonical(c->rsp)))
		return -EFAULT;
	return 0;
}

#endif
