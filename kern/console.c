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
#define LSR_THRE 0x20

void console_init(void)
{
	outb(COM1 + UART_IER, 0x00); /* no interrupts: the console is polled */
	outb(COM1 + UART_LCR, 0x80); /* DLAB on */
	outb(COM1 + 0, 0x01);        /* divisor 1: 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + UART_LCR, 0x03); /* 8N1, DLAB off */
	outb(COM1 + UART_FCR, 0xC7); /* FIFO on, cleared, 14-byte threshold */
	outb(COM1 + UART_MCR, 0x03); /* DTR, RTS */
}

static void uart_putc(char c)
{
	while (!(inb(COM1 + UART_LSR) & LSR_THRE))
		pause();
	outb(COM1 + UART_THR, (u8)c);
}

void console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

static void console_sink(void *ctx, const char *s, size_t n)
{
	(void)ctx;
	console_write(s, n);
}

size_t kvprintf(const char *fmt, va_list ap)
{
	return fmt_vformat(console_sink, NULL, fmt, ap);
}

size_t kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}
