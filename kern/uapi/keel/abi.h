/*
 * Keel's user ABI: the one header the kernel and libos/ share. Every number and
 * layout Ring 3 depends on is here; docs/abi.md explains them.
 *
 * Syscalls: `syscall` with the number in RAX and arguments in RDI, RSI, RDX,
 * R10, R8, R9; the result comes back in RAX (negative: -errno, keel/errno.h).
 * RCX and R11 are clobbered (the CPU uses them); every other register,
 * RFLAGS, and the extended (FPU/SSE/AVX) state are preserved.
 * `int $0x80` takes the same arguments and also preserves RCX and R11.
 */
#ifndef KEEL_UAPI_ABI_H
#define KEEL_UAPI_ABI_H

#include "keel/errno.h"

#ifdef __ASSEMBLER__
#define KEEL_U64(x) x
#else
#include <stdint.h>
#define KEEL_U64(x) x##ULL
#endif

/* --------------------------------------------------------------- syscalls */
#define SYS_CONSOLE_WRITE 0 /* (const char *buf, size_t len) -> bytes written */
#define SYS_EXIT          1 /* (int code) -> does not return */
#define SYS_YIELD         2 /* () -> 0: give up the rest of the time slice */
#define SYS_ENV_ID        3 /* () -> this environment's id */
#define SYS_TIME          4 /* () -> nanoseconds of the kernel clock since boot */
#define SYS_DEBUG         5 /* (op, a, b) -> see DEBUG_*: diagnostics and tests */
#define SYS_COUNT         6

#define KEEL_VEC_SYSCALL_INT 0x80 /* `int $0x80`: the same calls through an interrupt gate */

#define CONSOLE_WRITE_MAX 256 /* longer writes are cut (the count says so): the console
                                * is polled with interrupts off, so a call is kept short */

/* SYS_DEBUG operations. */
#define DEBUG_EXIT_COUNTS   0 /* (struct keel_exit_counts *out) -> 0 */
#define DEBUG_WATCH_RANGE   1 /* (u64 start, u64 end) -> 0: count preemptions with RIP in [start, end) */
#define DEBUG_PREEMPTIONS   2 /* () -> timer preemptions of this env inside the watch range */
#define DEBUG_SMAP_PROBE    3 /* (const void *p) -> -EFAULT if the kernel cannot read p without
                               * opening SMAP (-ENOSYS if the CPU has no SMAP), else the byte */
#define DEBUG_KERNEL_COPY   4 /* (void *out, size_t n) -> 0: the kernel fills out with 0,1,2,..
                               * using its string copy (proves it runs forwards whatever DF was) */

#ifndef __ASSEMBLER__
struct keel_exit_counts {
	uint64_t sysret;    /* returns to Ring 3 through sysretq */
	uint64_t iret;      /* ... through iretq */
	uint64_t switches;  /* env switches (CR3 loads) */
	uint64_t timer;     /* timer interrupts */
};

/* ------------------------------------------------------------- start-up */
/*
 * An environment starts at its ELF entry point with RDI pointing at this
 * structure (read-only to nobody: it sits at the top of its stack) and RSP
 * 16-byte aligned just below it. Every other register is zero.
 */
#define KEEL_START_MAGIC KEEL_U64(0x6b65656c53545254) /* "keelSTRT" */
#define KEEL_ARGS_MAX 128

struct keel_start {
	uint64_t magic;
	uint64_t env_id;
	uint64_t image_base, image_size; /* where the program was loaded */
	uint64_t stack_base, stack_size;
	char name[32];                   /* the module's name, NUL-terminated */
	char args[KEEL_ARGS_MAX];        /* arguments, space-separated, NUL-terminated */
};
#endif

/* The single user address space (PML4 slots 0..255). */
#define KEEL_USER_BASE KEEL_U64(0x1000)
#define KEEL_USER_END  KEEL_U64(0x800000000000)

#endif
