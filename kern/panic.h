/* Kernel panics, backtraces and the QEMU exit (register dumps: panic_trap.h). */
#ifndef KEEL_PANIC_H
#define KEEL_PANIC_H

#include "types.h"

/* Leave QEMU through isa-debug-exit with a KEEL_EXIT_* code (halts forever
 * on a machine without the device). */
__noreturn void keel_exit(int code);
/* hold=1 on the command line: keel_exit prints the code and halts instead of
 * ending QEMU, so that the screen can be read (tests/test_screen.py). */
extern bool exit_hold;

/* A kernel bug: message, backtrace of the caller, exit with KEEL_EXIT_PANIC. */
__noreturn void panic(const char *fmt, ...) __printf(1, 2);

/* For panic_trap.c: enter the panic (interrupts off; a second panic gives
 * up at once), and print the frame-pointer chain from rip/rbp (rsp: the
 * stack pointer at rip if known, else 0), touching only mapped memory. */
void panic_enter(void);
/* Called first thing by panic_enter once set (smp.c sets it when other CPUs
 * run): stops them, or stops this CPU if another is already panicking. */
extern void (*panic_hook)(void);
void panic_backtrace(u64 rip, u64 rbp, u64 rsp);

/* Symbols for backtraces: the text of the "ksyms" boot module. */
void panic_set_symbols(const char *text, size_t len);
/* A boot module moved from [from, from + len) to `to` (smp.c): the symbols
 * follow it if they were in it. */
void panic_symbols_moved(const void *from, const void *to, size_t len);

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
