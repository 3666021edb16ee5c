/* Formatted console output: each call is formatted into one buffer and
 * written with one syscall, so lines from different envs do not interleave. */
#include "keel.h"
#include "lib/fmt.h"

/* The kernel writes at most CONSOLE_WRITE_MAX bytes a call. */
static void write_all(const char *s, size_t n)
{
	while (n) {
		long r = sys_console_write(s, n);
		if (r <= 0)
			return;
		s += r;
		n -= (size_t)r;
	}
}

int vprintf(const char *fmt, va_list ap)
{
	char buf[512];
	size_t n = fmt_vsnprintf(buf, sizeof buf, fmt, ap);
	if (n >= sizeof buf)
		n = sizeof buf - 1;
	write_all(buf, n);
	return (int)n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = fmt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return (int)n;
}

int puts(const char *s)
{
	size_t n = strlen(s);
	write_all(s, n);
	write_all("\n", 1);
	return (int)n + 1;
}
