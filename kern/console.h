/* The kernel console: COM1 (16550 UART), polled, with printf-style output. */
#ifndef KEEL_CONSOLE_H
#define KEEL_CONSOLE_H

#include "types.h"

void console_init(void);
void console_write(const char *s, size_t n);
size_t kprintf(const char *fmt, ...) __printf(1, 2);
size_t kvprintf(const char *fmt, va_list ap);

#endif
