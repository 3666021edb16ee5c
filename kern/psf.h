/*
 * PC Screen Fonts (PSF1 and PSF2, the Linux console's format): a pure,
 * defensive parser. The screen console's font is a boot module (a PSF file
 * from Debian's console-setup-linux, docs/hardware.md): the kernel carries no
 * glyphs of its own. Fonts order their glyphs as they like (CP437, Latin-1,
 * ...) and say in a Unicode table which code point each glyph shows; the
 * parser turns that table into a map from Latin-1 (the kernel's 8-bit
 * console text) to glyphs.
 */
#ifndef KEEL_PSF_H
#define KEEL_PSF_H

#include "types.h"
#include "lib/diag.h"

#define PSF_MAX_WIDTH 32  /* pixels: a glyph row is at most 4 bytes */
#define PSF_MAX_HEIGHT 64

struct psf_font {
	const u8 *glyphs;   /* nglyphs bitmaps of glyph_bytes, rows top down, MSB leftmost */
	u32 nglyphs;
	u32 width, height;  /* pixels */
	u32 row_bytes;      /* (width + 7) / 8 */
	u32 glyph_bytes;    /* row_bytes * height */
	u16 latin1[256];    /* glyph shown for each Latin-1 character */
	bool has_unicode;   /* false: glyph i shows character i */
};

/*
 * Parse the PSF file at [data, data + len). Returns 0, or -EINVAL (not PSF,
 * or a size or count that does not fit): then *out is unusable. Characters
 * the font has no glyph for show its glyph for '?' (reported once).
 */
int psf_parse(const void *data, size_t len, struct psf_font *out, struct diag *d);

/* The bitmap of Latin-1 character c. */
static inline const u8 *psf_glyph(const struct psf_font *f, u8 c)
{
	return f->glyphs + (size_t)f->latin1[c] * f->glyph_bytes;
}

#endif
