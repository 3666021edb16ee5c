/*
 * The kernel trace: one ring of events per CPU (docs/debugging.md, "One trace
 * for the whole system"). Every trace site is one 5-byte NOP in the path it
 * watches, recorded in .trace_sites with the address of its out-of-line
 * recording code; switching the trace on rewrites each NOP into a `jmp rel32`
 * there, switching it off writes the NOP back (Linux's static keys). Off, a
 * site costs one NOP and nothing else: its arguments are computed only on
 * the recording side.
 *
 *	TRACE(KEEL_TR_SYSCALL, e->id, nr, 0);
 *
 * Time is clock_ns(), the libOS's keel_now(): kernel and libOS events merge
 * on one timeline. The rings are the boot's (trace=on) or an env's, switched
 * on through its trace capability (trace_cap.c), which pays for them.
 */
#ifndef KEEL_TRACE_H
#define KEEL_TRACE_H

#include "keel/abi.h"
#include "types.h"

/* nopl 0(%rax,%rax,1): the off state of every site. */
#define TRACE_NOP5 ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00"
#define TRACE_NOP5_BYTES { 0x0F, 0x1F, 0x44, 0x00, 0x00 }

/* A site, as .trace_sites records it: the NOP, and where its jmp goes. */
struct trace_site {
	u64 at, target;
};

/* True only once the sites are patched on: a NOP when off, a jump when on. */
static __attribute__((always_inline)) inline bool trace_site(void)
{
	__asm__ goto("1: " TRACE_NOP5 "\n\t"
		     ".pushsection .trace_sites, \"a\"\n\t"
		     ".balign 8\n\t"
		     ".quad 1b, %l[on]\n\t"
		     ".popsection"
		     :
		     :
		     :
		     : on);
	return false;
on:
	return true;
}

/*
 * The recording side pushes the four values -- from whatever registers the
 * compiler holds them in, or as immediates -- and calls trace_record_thunk
 * (trace.c), which saves every register it uses. A plain C call there, or
 * arguments in fixed registers, would reshape the register allocation of
 * the whole function, on the path itself, trace on or off (measured: 4 and
 * 3 more instructions per null_syscall). This way the site's only cost on
 * the path is its NOP. (No memory operands: they may be RSP-relative, and
 * the pushes move RSP. The kernel has no red zone: pushing is safe.)
 */
static __attribute__((always_inline)) inline void trace_emit(u64 ev, u64 env, u64 a, u64 b)
{
	__asm__ volatile("pushq %3\n\tpushq %2\n\tpushq %1\n\tpushq %0\n\t"
			 "call trace_record_thunk\n\t"
			 "addq $32, %%rsp"
			 :
			 : "re"(ev), "re"(env), "re"(a), "re"(b)
			 : "memory");
}

#define TRACE(ev, env, a, b)                                                   \
	do {                                                                   \
		if (unlikely(trace_site()))                                    \
			trace_emit((ev), (u32)(env), (u64)(a), (u64)(b));      \
	} while (0)

/* One event into this CPU's ring (what a site does when on). */
void trace_record(u32 ev, u32 env, u64 a, u64 b);

/* At boot, from the command line: trace=on gives the boot rings of
 * `frames` frames per CPU and switches every site on. */
void trace_boot(const char *arg, u32 frames);
#define TRACE_BOOT_FRAMES 128 /* 16,384 events per CPU, 512 KiB */

/* Rings of `frames` (a power of two, 1..KEEL_TRACE_FRAMES_MAX) per CPU:
 * 0, -EINVAL, -EBUSY (rings exist), -ENOMEM (nothing kept). */
int trace_rings_alloc(u32 frames);
void trace_rings_free(void);
u32 trace_ring_frames(void); /* per CPU; 0: no rings */

/* Every site on (a jump to its recording code) or off (the NOP); the bytes
 * are read back, and any site that does not hold them is a panic. */
void trace_switch(bool on);
bool trace_is_on(void);
u64 trace_site_count(void);
/* 1 if site i holds the off NOP, 2 if its on jump, 0 neither (tests). */
int trace_site_state(u64 i);

/* Up to `max` unread events of `cpu`'s ring, oldest first, to user `buf`:
 * how many, or -EINVAL / -EFAULT. *dropped, *head: see keel_trace_read. */
i64 trace_read_user(u32 cpu, u64 buf, u64 max, u64 *dropped, u64 *head);

/* Every ring on the console (ktrace: lines), at the end of a run. */
void trace_dump(void);

#endif
