/* Boot tests of the screen console (kern/fbcon.c), read back from outside by
 * tests/test_screen.py, which renders the same output on the host. */
#include "arch/x86_64/cpu.h"
#include "console.h"
#include "fbcon.h"
#include "ktest.h"

/*
 * The cost of a line first: 96 lines of 100 characters, each different from
 * the one above it, so every scroll redraws the screen's text (the worst case
 * of the cell-by-cell redraw), timed by the TSC -- guest instructions under
 * -icount. Then what a console must survive from Ring 3 as from the kernel,
 * left on the screen for the host to compare: every byte value -- NUL and
 * the other control characters, tabs, backspace and carriage return, DEL,
 * the C1 range 0x80-0x9F (drawn through the font's Latin-1 map, '?' where it
 * has no glyph), Latin-1 -- and a line three rows long.
 */
KTEST(screen_console)
{
	KEXPECT(fbcon_rows() > 0, "no screen console (a display device and the font module are needed)");
	char line[101];
	line[100] = '\n';
	u64 t0 = rdtsc();
	for (int n = 0; n < 96; n++) {
		for (int i = 0; i < 100; i++)
			line[i] = (char)('!' + (i + n) % 94);
		console_write(line, sizeof line);
	}
	u64 t = rdtsc() - t0;
	ktest_log("96 scrolling lines of 100 characters: %llu TSC ticks a line (%ux%u characters)",
		  (unsigned long long)(t / 96), fbcon_cols(), fbcon_rows());

	char ctl[80], *p = ctl;
	for (int c = 0; c < 32; c++)
		if (c != '\n')
			*p++ = (char)c;
	*p++ = 0x7F;
	for (int c = 0x80; c < 0xA0; c++)
		*p++ = (char)c;
	kprintf("controls [");
	console_write(ctl, (size_t)(p - ctl));
	kprintf("] end\n");
	kprintf("tab\tstops\tat\teight|\n");
	kprintf("backspace: abc\b\bX, carriage return: 123456\rCR\n");
	char latin1[97];
	for (int i = 0; i < 96; i++)
		latin1[i] = (char)(0xA0 + i);
	latin1[96] = '\n';
	kprintf("latin-1: ");
	console_write(latin1, sizeof latin1);
	for (int i = 0; i < 300; i++)
		console_write(i % 100 == 99 ? "|" : "-", 1);
	console_write("\n", 1);
}
