/*
 * printf-style formatting into a caller's sink. Pure: used by the kernel
 * console, by libos/, and by host unit tests (kern/shared: no kernel header).
 *
 * Supports flags '-', '0', '+', ' ', '#'; a width and precision (or '*');
 * length modifiers hh h l ll z t j; conversions d i u x X o p s c %.
 * An unknown conversion is printed literally.
 */
#ifndef KEEL_FMT_H
#define KEEL_FMT_H

#include <stdarg.h>
#include <stddef.h>

typedef void (*fmt_sink)(void *ctx, const char *s, size_t n);

/* Returns the number of characters produced. */
size_t fmt_vformat(fmt_sink sink, void *ctx, const char *fmt, va_list ap);
size_t fmt_format(fmt_sink sink, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* snprintf semantics: always NUL-terminates when size > 0; returns the length
 * the full output would have had. */
size_t fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
