/*
 * The kernel console: every line goes to COM1 (when there is one), to the
 * screen (once fbcon has a framebuffer and a font) and into a history ring,
 * from which the screen is filled when it starts -- so the screen shows the
 * boot from its first line, and a machine without a serial port shows it all.
 */
#include "console.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "cpu_features.h"
#include "fbcon.h"
#include "frame.h"
#include "lib/fmt.h"
#include "lib/string.h"
#include "psf.h"

#define COM1 0x3F8
#define UART_THR 0 /* transmit holding register */
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7 /* scratch: a UART keeps what is written; no device reads 0xFF */
#define LSR_THRE 0x20

#define HISTORY 32768 /* more than a screenful of any screen fbcon draws */

static bool have_uart;
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
		return; /* the screen, if any, shows everything (console_start_screen) */
	outb(COM1 + UART_IER, 0x00); /* no interrupts: the console is polled */
	outb(COM1 + UART_LCR, 0x80); /* DLAB on */
	outb(COM1 + 0, 0x01);        /* divisor 1: 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + UART_LCR, 0x03); /* 8N1, DLAB off */
	outb(COM1 + UART_FCR, 0xC7); /* FIFO on, cleared, 14-byte threshold */
	outb(COM1 + UART_MCR, 0x03); /* DTR, RTS */
}

bool console_has_serial(void) { return have_uart; }

static void uart_putc(char c)
{
	while (!(inb(COM1 + UART_LSR) & LSR_THRE))
		pause();
	outb(COM1 + UART_THR, (u8)c);
}

void console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		history[(written + i) % HISTORY] = s[i];
	written += n;
	if (have_uart) {
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '\n')
				uart_putc('\r');
			uart_putc(s[i]);
		}
	}
	fbcon_write(s, n);
}

static const struct mb2_module *find_module(const struct mb2_info *mb, const char *name)
{
	for (size_t i = 0; i < mb->nmodules; i++)
		if (strcmp(mb->modules[i].cmdline, name) == 0)
			return &mb->modules[i];
	return NULL;
}

static void print_diag(void *ctx, const char *line)
{
	(void)ctx;
	kprintf("warning: %s\n", line);
}

void console_start_screen(const struct mb2_info *mb)
{
	if (!mb->have_fb) {
		kprintf("console: no framebuffer from the boot loader: serial only\n");
		return;
	}
	const struct mb2_framebuffer *fb = &mb->fb;
	if (fb->type != MB2_FB_RGB) {
		kprintf("console: the boot loader's framebuffer is %s, not direct colour: serial only\n",
			fb->type == MB2_FB_EGA_TEXT ? "EGA text" : "indexed colour");
		return;
	}
	const struct mb2_module *m = find_module(mb, "font");
	static struct psf_font font;
	struct diag d = { print_diag, NULL, 0 };
	if (!m || psf_parse(pa_to_va(m->start), m->end - m->start, &font, &d)) {
		kprintf("console: %s: serial only\n", m ? "the font module is not a usable PSF font" : "no font module");
		return;
	}
	int err = fbcon_start(fb, &font);
	if (err) {
		kprintf("console: cannot use the framebuffer (%d): serial only\n", err);
		return;
	}
	/* The screen starts with what the console said so far (the last HISTORY bytes). */
	u64 from = written > HISTORY ? written - HISTORY : 0;
	for (u64 at = from; at < written;) {
		size_t i = at % HISTORY, n = (size_t)MIN(written - at, (u64)(HISTORY - i));
		fbcon_write(history + i, n);
		at += n;
	}
	if (!have_uart)
		kprintf("console: no serial port at COM1: this screen is the only console\n");
	kprintf("console: screen %ux%u, %u bpp, at %#llx (%s); %ux%u characters of %ux%u pixels\n", fb->width,
		fb->height, fb->bpp, (unsigned long long)fb->addr,
		pte_wc == PTE_PWT ? "write-combining" : "uncacheable", fbcon_cols(), fbcon_rows(), font.width,
		font.height);
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
