/* The kernel console: COM1 (16550 UART, polled; if present) and the screen
 * (fbcon.h, once started), with printf-style output. */
#ifndef KEEL_CONSOLE_H
#define KEEL_CONSOLE_H

#include "types.h"

struct mb2_info;

void console_init(void);
/* Start the screen console on the boot loader's framebuffer with the "font"
 * module; it shows everything printed since console_init. Says why not if not. */
void console_start_screen(const struct mb2_info *mb);
bool console_has_serial(void);
void console_write(const char *s, size_t n);
size_t kprintf(const char *fmt, ...) __printf(1, 2);
size_t kvprintf(const char *fmt, va_list ap);

#endif
