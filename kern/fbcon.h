/*
 * The screen console: the kernel console's text drawn on the linear
 * framebuffer GRUB set up (multiboot2 framebuffer tag), with a PSF font that
 * came as a boot module. Text goes into a grid of character cells; the grid
 * scrolls, and only cells that changed are drawn again, by writes alone (the
 * framebuffer is mapped write-combining: reading it back would be slow on
 * real hardware). docs/hardware.md, "The screen console".
 */
#ifndef KEEL_FBCON_H
#define KEEL_FBCON_H

#include "mb2.h"
#include "psf.h"
#include "types.h"

#define FBCON_FG_RGB 0xAAAAAA /* VGA light grey on black, as a PC console */
#define FBCON_BG_RGB 0x000000
#define FBCON_MAX_CELLS 65536 /* a larger screen uses its top-left part */

/* Start the screen console on the boot loader's framebuffer with the "font"
 * module: map the framebuffer and clear it, and have the console draw on it
 * from now on, starting with what it said before. Says why not if not. */
void fbcon_start_boot(const struct mb2_info *mb);

/* A boot module moved from [from, from + len) to `to` (smp.c): the glyphs
 * follow it if they were in it (the font is read where GRUB put it). */
void fbcon_font_moved(const void *from, const void *to, size_t len);

/* Put text on the screen (no-op before it starts). Handles \n, \r, \t, \b;
 * wraps at the right edge; scrolls at the bottom. */
void fbcon_write(const char *s, size_t n);

/* Columns and rows of text, 0 when there is no screen console. */
u32 fbcon_cols(void);
u32 fbcon_rows(void);

#endif
