/*
 * The kernel console: every line goes to COM1 (when there is one), to the
 * screen (once fbcon.c has a framebuffer and a font and has set itself as
 * the screen) and into a history ring, from which the screen is filled when
 * it starts -- so the screen shows the boot from its first line, and a
 * machine without a serial port shows it all.
 */
#include "console.h"
#include "arch/x86_64/cpu.h"
#include "lib/fmt.h"

#define COM1 0x3F8
#define UART_THR 0 /* transmit holding register */
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7 /* scratch: a UART keeps what is written; no device reads 0xFF */
#define LSR_THRE 0x20

#define HISTORY 32768 /* a screenful at 1920x1080 with 8x16 glyphs is 16,080 cells */
#define THRE_SPINS 100000 /* ~100 ms of port reads: a working UART empties its FIFO in ~1.4 ms */

static bool have_uart;
static void (*screen_write)(const char *s, size_t n); /* fbcon, once started */
static char history[HISTORY];
static u64 written; /* bytes ever written; history holds the last HISTORY */

static bool uart_probe(void)
{
	outb(COM1 + UART_SCR, 0x5A);
	if (inb(COM1 + UART_SCR) != 0x5A)
		return false;
	outb(COM1 + UART_SCR, 0xA5);
	return inb(COM1 + UART_SCR) == 0xA5;
}

void console_init(void)
{
	have_uart = uart_probe();
	if (!have_uart)
		return; /* the screen, if any, shows everything (fbcon_start_boot) */
	outb(COM1 + UART_IER, 0x00); /* no interrupts: the console is polled */
	outb(COM1 + UART_LCR, 0x80); /* DLAB on */
	outb(COM1 + 0, 0x01);        /* divisor 1: 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + UART_LCR, 0x03); /* 8N1, DLAB off */
	outb(COM1 + UART_FCR, 0xC7); /* FIFO on, cleared, 14-byte threshold */
	outb(COM1 + UART_MCR, 0x03); /* DTR, RTS */
}

bool console_has_serial(void) { return have_uart; }

/* A UART that keeps its scratch register but never empties its transmitter
 * (a broken serial-over-LAN port) is given up, not waited for for ever. */
static void uart_putc(char c)
{
	for (u32 spins = 0; !(inb(COM1 + UART_LSR) & LSR_THRE); spins++) {
		if (spins == THRE_SPINS) {
			have_uart = false;
			return;
		}
		pause();
	}
	outb(COM1 + UART_THR, (u8)c);
}

/* Whole messages from several CPUs do not interleave: once APs run, smp.c
 * sets a lock that kprintf holds for a message (console_set_lock). */
static bool (*lock_enter)(void);
static void (*lock_leave)(void);

void console_set_lock(bool (*enter)(void), void (*leave)(void))
{
	lock_leave = leave;
	lock_enter = enter;
}

static bool console_enter(void) { return lock_enter && lock_enter(); }

static void console_leave(bool entered)
{
	if (entered)
		lock_leave();
}

void console_write(const char *s, size_t n)
{
	bool entered = console_enter();
	for (size_t i = 0; i < n; i++)
		history[(written + i) % HISTORY] = s[i];
	written += n;
	for (size_t i = 0; i < n && have_uart; i++) { /* uart_putc may give the UART up */
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
	if (screen_write)
		screen_write(s, n);
	console_leave(entered);
}

void console_set_screen(void (*write)(const char *s, size_t n))
{
	/* The screen starts with what the console said so far (the last HISTORY bytes). */
	u64 from = written > HISTORY ? written - HISTORY : 0;
	for (u64 at = from; at < written;) {
		size_t i = at % HISTORY, n = (size_t)MIN(written - at, (u64)(HISTORY - i));
		write(history + i, n);
		at += n;
	}
	screen_write = write;
}

static void console_sink(void *ctx, const char *s, size_t n)
{
	(void)ctx;
	console_write(s, n);
}

size_t kvprintf(const char *fmt, va_list ap)
{
	bool entered = console_enter();
	size_t n = fmt_vformat(console_sink, NULL, fmt, ap);
	console_leave(entered);
	return n;
}

size_t kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}
