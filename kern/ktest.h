/*
 * In-kernel boot tests. One kernel serves every test: `test=NAME` on the
 * command line runs the test NAME after boot instead of the demo, and the
 * result goes to the serial port as KTAP:
 *
 *   KTAP version 1
 *   1..1
 *   # <diagnostics>
 *   ok 1 NAME            (or: not ok 1 NAME)
 *
 * then QEMU exits with KEEL_EXIT_SUCCESS or KEEL_EXIT_FAILURE. A test that
 * proves a crash path (a kernel page fault, a double fault) does not return:
 * the harness checks the panic report and KEEL_EXIT_PANIC instead.
 *
 * Write one with:
 *   KTEST(frames_above_4g) { ... KEXPECT(cond, "what %d", x); ... }
 */
#ifndef KEEL_KTEST_H
#define KEEL_KTEST_H

#include "types.h"

struct ktest {
	const char *name;
	void (*fn)(void);
};

#define KTEST(name)                                                                              \
	static void ktest_##name(void);                                                          \
	static const struct ktest ktest_desc_##name __section(".ktests") __used __aligned(8) = { \
		#name, ktest_##name};                                                            \
	static void ktest_##name(void)

/* Record a failure (with a diagnostic) if cond is false; returns cond. */
#define KEXPECT(cond, ...) ktest_expect(!!(cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
bool ktest_expect(bool ok, const char *expr, const char *file, int line, const char *fmt, ...)
	__printf(5, 6);

/* A "# " diagnostic line. */
void ktest_log(const char *fmt, ...) __printf(1, 2);

/* Run the named test and exit QEMU with its verdict. */
__noreturn void ktest_run(const char *name);

/* A test may instead hand environments to the scheduler and never return;
 * when they have all ended, the scheduler reports through ktest_finish. */
const char *ktest_running(void);
__noreturn void ktest_finish(bool ok);

#endif
