/* Kernel panics, register dumps, backtraces and the QEMU exit. */
#ifndef KEEL_PANIC_H
#define KEEL_PANIC_H

#include "types.h"

struct trap_frame;

/* Leave QEMU through isa-debug-exit with a KEEL_EXIT_* code (halts forever
 * on a machine without the device). */
__noreturn void keel_exit(int code);

/* A kernel bug: message, backtrace of the caller, exit with KEEL_EXIT_PANIC. */
__noreturn void panic(const char *fmt, ...) __printf(1, 2);

/* An exception in Ring 0: full register dump, decoded error, backtrace. */
__noreturn void panic_trap(const struct trap_frame *tf);

/* #DF: as panic_trap, plus whether the saved RSP and CR2 are mapped. */
__noreturn void panic_double_fault(const struct trap_frame *tf);

/* Symbols for backtraces: the text of the "ksyms" boot module. */
void panic_set_symbols(const char *text, size_t len);

/* "#PF page fault", ... for an exception vector. */
const char *exception_name(u64 vector);

/* Print "name+0xoff" for addr (or just the address). */
void print_symbol(u64 addr);

#define ASSERT(cond)                                                                                \
	do {                                                                                        \
		if (unlikely(!(cond)))                                                              \
			panic("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__);           \
	} while (0)

#endif
