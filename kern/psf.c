#include "psf.h"
#include "keel/errno.h"
#include "lib/string.h"

#define PSF1_MAGIC 0x0436     /* bytes 36 04 */
#define PSF1_MODE512 0x01     /* 512 glyphs, else 256 */
#define PSF1_MODEHASTAB 0x02  /* a Unicode table follows the glyphs */
#define PSF1_MODESEQ 0x04     /* ... with sequences */
#define PSF1_SEPARATOR 0xFFFF /* ends one glyph's entries */
#define PSF1_STARTSEQ 0xFFFE  /* the rest of the glyph's entries are sequences */

#define PSF2_MAGIC 0x864AB572u
#define PSF2_HAS_UNICODE_TABLE 0x01
#define PSF2_SEPARATOR 0xFF
#define PSF2_STARTSEQ 0xFE

#define NO_GLYPH 0xFFFF

static u32 rd16(const u8 *p) { return (u32)p[0] | (u32)p[1] << 8; }
static u32 rd32(const u8 *p) { return rd16(p) | rd16(p + 2) << 16; }

/* Glyph g shows code point cp: keep the first glyph named for each Latin-1 character. */
static void map(struct psf_font *f, u32 cp, u32 g)
{
	if (cp < 256 && f->latin1[cp] == NO_GLYPH)
		f->latin1[cp] = (u16)g;
}

/* PSF1's table: per glyph, 16-bit code points up to SEPARATOR; after a
 * STARTSEQ, sequences (combining characters), which a one-byte console
 * cannot show. */
static int psf1_table(struct psf_font *f, const u8 *p, const u8 *end, struct diag *d)
{
	for (u32 g = 0; g < f->nglyphs; g++) {
		bool seq = false;
		for (;;) {
			if (end - p < 2) {
				diag(d, "psf: Unicode table ends inside glyph %u", g);
				return -EINVAL;
			}
			u32 cp = rd16(p);
			p += 2;
			if (cp == PSF1_SEPARATOR)
				break;
			if (cp == PSF1_STARTSEQ)
				seq = true;
			else if (!seq)
				map(f, cp, g);
		}
	}
	return 0;
}

/* One UTF-8 code point at *pp (before end), or UINT32_MAX for a malformed one. */
static u32 utf8(const u8 **pp, const u8 *end)
{
	const u8 *p = *pp;
	u32 c = *p++, n = c < 0x80 ? 0 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 4;
	if (n == 4 || end - p < (ptrdiff_t)n) {
		*pp = p;
		return UINT32_MAX;
	}
	if (n)
		c &= 0x3F >> n;
	while (n--) {
		if ((*p & 0xC0) != 0x80) {
			*pp = p;
			return UINT32_MAX;
		}
		c = c << 6 | (*p++ & 0x3F);
	}
	*pp = p;
	return c;
}

/* PSF2's table: per glyph, UTF-8 code points up to SEPARATOR; sequences after STARTSEQ. */
static int psf2_table(struct psf_font *f, const u8 *p, const u8 *end, struct diag *d)
{
	for (u32 g = 0; g < f->nglyphs; g++) {
		bool seq = false;
		for (;;) {
			if (p >= end) {
				diag(d, "psf: Unicode table ends inside glyph %u", g);
				return -EINVAL;
			}
			if (*p == PSF2_SEPARATOR) {
				p++;
				break;
			}
			if (*p == PSF2_STARTSEQ) {
				p++;
				seq = true;
				continue;
			}
			u32 cp = utf8(&p, end);
			if (cp == UINT32_MAX) {
				diag(d, "psf: bad UTF-8 in the Unicode table at glyph %u", g);
				return -EINVAL;
			}
			if (!seq)
				map(f, cp, g);
		}
	}
	return 0;
}

int psf_parse(const void *data, size_t len, struct psf_font *out, struct diag *d)
{
	const u8 *p = data, *end = p + len;
	memset(out, 0, sizeof *out);
	memset(out->latin1, 0xFF, sizeof out->latin1);
	u32 header, flags;
	if (len >= 4 && rd16(p) == PSF1_MAGIC) {
		u32 mode = p[2];
		header = 4;
		out->nglyphs = mode & PSF1_MODE512 ? 512 : 256;
		out->width = 8;
		out->height = p[3];
		flags = mode & (PSF1_MODEHASTAB | PSF1_MODESEQ) ? 1 : 0;
	} else if (len >= 32 && rd32(p) == PSF2_MAGIC) {
		header = rd32(p + 8);
		flags = rd32(p + 12) & PSF2_HAS_UNICODE_TABLE;
		out->nglyphs = rd32(p + 16);
		out->height = rd32(p + 24);
		out->width = rd32(p + 28);
		if (header < 32 || header > len) {
			diag(d, "psf: PSF2 header size %u impossible", header);
			return -EINVAL;
		}
		if (rd32(p + 20) != ((out->width + 7) / 8) * out->height && out->width && out->height) {
			diag(d, "psf: PSF2 glyph size %u does not match %ux%u", rd32(p + 20), out->width,
			     out->height);
			return -EINVAL;
		}
	} else {
		diag(d, "psf: not a PSF1 or PSF2 font");
		return -EINVAL;
	}
	if (!out->width || out->width > PSF_MAX_WIDTH || !out->height || out->height > PSF_MAX_HEIGHT) {
		diag(d, "psf: glyphs of %ux%u pixels (at most %ux%u)", out->width, out->height, PSF_MAX_WIDTH,
		     PSF_MAX_HEIGHT);
		return -EINVAL;
	}
	out->row_bytes = (out->width + 7) / 8;
	out->glyph_bytes = out->row_bytes * out->height;
	if (!out->nglyphs || out->nglyphs > 65535 ||
	    (u64)out->nglyphs * out->glyph_bytes > (u64)(len - header)) {
		diag(d, "psf: %u glyphs of %u bytes do not fit in %zu bytes", out->nglyphs, out->glyph_bytes,
		     len - header);
		return -EINVAL;
	}
	out->glyphs = p + header;
	const u8 *table = out->glyphs + (size_t)out->nglyphs * out->glyph_bytes;
	out->has_unicode = flags;
	if (flags) {
		int err = rd16(p) == PSF1_MAGIC ? psf1_table(out, table, end, d) : psf2_table(out, table, end, d);
		if (err)
			return err;
	} else {
		for (u32 c = 0; c < 256 && c < out->nglyphs; c++)
			out->latin1[c] = (u16)c;
	}
	u16 fallback = out->latin1['?'] != NO_GLYPH ? out->latin1['?'] : 0;
	unsigned missing = 0;
	for (u32 c = 0x20; c < 256; c++) {
		if (out->latin1[c] == NO_GLYPH && (c < 0x7F || c >= 0xA0))
			missing++;
	}
	for (u32 c = 0; c < 256; c++)
		if (out->latin1[c] == NO_GLYPH)
			out->latin1[c] = fallback;
	if (missing)
		diag(d, "psf: no glyph for %u printable Latin-1 characters: they show as '?'", missing);
	return 0;
}
