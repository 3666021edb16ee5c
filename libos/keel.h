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

/* ---------------------------------------------------------------- console */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int puts(const char *s);

/* --------------------------------------------------------------- start-up */
extern const struct keel_start *keel_start_info;
int main(int argc, char **argv);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
