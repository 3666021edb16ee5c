/* The kernel console: COM1 (16550 UART, polled; if present) and the screen
 * (fbcon.h, once started), with printf-style output. */
#ifndef KEEL_CONSOLE_H
#define KEEL_CONSOLE_H

#include "types.h"

void console_init(void);
bool console_has_serial(void);
/* From now on write everything to the screen too (fbcon.c), starting with
 * what the console said before (its last 32 KiB). */
void console_set_screen(void (*write)(const char *s, size_t n));
void console_write(const char *s, size_t n);
size_t kprintf(const char *fmt, ...) __printf(1, 2);
size_t kvprintf(const char *fmt, va_list ap);

/* Several CPUs: `enter` takes the console for one message (true if it did;
 * nested messages on the same CPU go through), `leave` gives it back. */
void console_set_lock(bool (*enter)(void), void (*leave)(void));

#endif
