/*
 * libos: what a Keel program links against. Syscall wrappers over the ABI in
 * keel/abi.h, formatted console output, string functions, start-up.
 * A program defines `int main(int argc, char **argv)`; argv[0] is its module
 * name, the rest its arguments; returning from main exits with that code.
 */
#ifndef LIBOS_KEEL_H
#define LIBOS_KEEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/abi.h"
#include "lib/string.h"

/* ------------------------------------------------------------- syscalls */
static inline long keel_syscall3(long nr, long a0, long a1, long a2)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sys_console_write(const void *buf, size_t len)
{
	return keel_syscall3(SYS_CONSOLE_WRITE, (long)buf, (long)len, 0);
}
__attribute__((noreturn)) static inline void sys_exit(int code)
{
	keel_syscall3(SYS_EXIT, code, 0, 0);
	__builtin_unreachable();
}
static inline long sys_yield(void) { return keel_syscall3(SYS_YIELD, 0, 0, 0); }
static inline long sys_env_id(void) { return keel_syscall3(SYS_ENV_ID, 0, 0, 0); }
static inline uint64_t sys_time(void) { return (uint64_t)keel_syscall3(SYS_TIME, 0, 0, 0); }
static inline long sys_debug(long op, long a, long b) { return keel_syscall3(SYS_DEBUG, op, a, b); }
/* The kernel trace, through a KEEL_CAP_TRACE (keel/abi.h, "the kernel trace"). */
static inline long sys_trace(long slot, long op, long arg) { return keel_syscall3(SYS_TRACE, slot, op, arg); }

/* ---------------------------------------------------------------- console */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int puts(const char *s);

/* ---------------------------------------------------------------- upcalls */
/* The event handler runs disabled, on the upcall stack; `events` were taken
 * from the area; `interrupted` (the enabled save) is resumed when it returns
 * -- it may be changed first. */
typedef void (*keel_event_fn)(struct keel_upcall_area *a, uint64_t events, struct keel_context *interrupted);
/* The trap handler: vector 0..31 or KEEL_TRAP_WATCHDOG; ctx is the context
 * that trapped (in the enabled or the trap save, per slot). Return 0 to
 * resume ctx (change its rip to skip the instruction), non-zero to exit. */
typedef int (*keel_trap_fn)(struct keel_upcall_area *a, uint64_t vector, uint64_t error, uint64_t cr2,
			    struct keel_context *ctx, int slot);

/* Register this env's upcall area and entries. 0 or -errno. */
int keel_upcalls_init(keel_event_fn on_event, keel_trap_fn on_trap);
/* ... with the area on a page of the caller's choosing (mapped writable). */
int keel_upcalls_init_at(struct keel_upcall_area *a, keel_event_fn on_event, keel_trap_fn on_trap);
extern struct keel_upcall_area *keel_area;

/* Dispatchers (docs/abi.md "Dispatchers"): fill area `a` for another
 * dispatcher of this env -- libos's entries, its own upcall and trap stacks
 * (no two dispatchers share one); the handlers are the env's. Then start a
 * dispatcher bound to `cpu` through it, running entry(arg) on `stack`
 * (entry never returns): 0 or -errno. Handlers tell dispatchers apart by
 * the area they get, or keel_cpu(). (keel_upcall_xstate is one variable:
 * with several dispatchers a handler reads keel_upcall_xstate_of(area).) */
void keel_area_prepare(struct keel_upcall_area *a, void *ustack, size_t usize, void *tstack, size_t tsize);
long keel_disp_start(unsigned cpu, struct keel_upcall_area *a, void (*entry)(void *), void *stack, size_t size,
		     void *arg);

/* Resume a context in Ring 3, enabling upcalls (the critical range), or
 * staying disabled. */
__attribute__((noreturn)) void keel_resume(struct keel_context *ctx, struct keel_upcall_area *a);
__attribute__((noreturn)) void keel_resume_disabled(struct keel_context *ctx);
/* Save the caller's context in ctx and resume it through keel_resume: returns
 * like a function call, having enabled upcalls on the way. */
void keel_capture_resume(struct keel_context *ctx, struct keel_upcall_area *a);
/* Take the bits of an upcall-area word the kernel sets (irq_pending,
 * swvec_pending, posted, lost): an atomic exchange with 0. */
static inline uint64_t keel_take(uint64_t *word) { return __atomic_exchange_n(word, 0, __ATOMIC_SEQ_CST); }
/* Upcalls on again in area a (set `disabled` to turn them off), taking
 * what arrived while they were off: the handler runs first if anything did. */
void keel_upcalls_enable(struct keel_upcall_area *a);

/* Inside an event or trap handler: the interrupted context's extended state
 * (an XSAVE image; FXSAVE's without XSAVE), restored into the registers when
 * the handler returns. A handler that resumes another context instead (a
 * thread switch) swaps this image too. keel_xstate_size() bytes, 64-aligned. */
extern void *keel_upcall_xstate;
/* The same for the handler running now through area a: one per dispatcher. */
void *keel_upcall_xstate_of(const struct keel_upcall_area *a);
/* (In a handler.) Resume from the image at `xstate` instead (a thread
 * switch: the next thread's own, 64-aligned), with no copy. An image the
 * entry resumes from that is not on its stack is armed for the next entry
 * (area->env_words[0]): the context resumed is saved straight into it then
 * -- a library that switches contexts another way (not through a handler)
 * clears env_words[0] first. */
void keel_upcall_xstate_set(struct keel_upcall_area *a, void *xstate);
size_t keel_xstate_size(void);

/* The kernel clock without a syscall. */
uint64_t keel_now(void);

/* The index of the CPU this code runs on, without a system call: RDPID or
 * RDTSCP (IA32_TSC_AUX) where the CPU has them, else `lsl` of KEEL_CPU_SEL.
 * (Preemption may move the env right after: a hint, exact only while it
 * holds one CPU.) keel_cpu_method() says which is used; keel_cpu_by() asks
 * one way (the CPU must have it). */
#define KEEL_CPU_BY_LSL    1
#define KEEL_CPU_BY_RDTSCP 2
#define KEEL_CPU_BY_RDPID  3
unsigned keel_cpu(void);
int keel_cpu_method(void);
unsigned keel_cpu_by(int method);

static inline long sys_set_deadline(uint64_t ns) { return keel_syscall3(SYS_SET_DEADLINE, (long)ns, 0, 0); }
static inline long sys_resume(unsigned slot, unsigned flags) { return keel_syscall3(SYS_RESUME, slot, flags, 0); }

/* A boot module as a child env; returns the slot of an ENV capability to it. */
static inline long sys_env_spawn(const struct keel_spawn *req) { return keel_syscall3(SYS_ENV_SPAWN, (long)req, 0, 0); }

/* --------------------------------------------------------------- start-up */
extern const struct keel_start *keel_start_info;
/* The decimal number a string starts with (0 for none or NULL): arguments. */
uint64_t keel_atou(const char *s);
/* Sort n numbers ascending, in place (libos/sort.c). */
void keel_sort_u64(uint64_t *a, size_t n);
int main(int argc, char **argv);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
