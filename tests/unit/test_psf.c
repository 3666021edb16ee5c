/* The PSF font parser against well-formed and hostile fonts. */
#include "check.h"
#include "keel/errno.h"
#include "psf.h"

static unsigned char buf[65536];

/* A PSF1 font of 256 8x16 glyphs, glyph g's first row being g; with a table
 * that puts 'A' on glyph 200 and a sequence naming 'B' (ignored) on glyph 201. */
static size_t psf1(int with_table)
{
	memset(buf, 0, sizeof buf);
	buf[0] = 0x36, buf[1] = 0x04, buf[2] = with_table ? 0x02 : 0, buf[3] = 16;
	for (int g = 0; g < 256; g++)
		buf[4 + g * 16] = (unsigned char)g;
	size_t n = 4 + 256 * 16;
	if (!with_table)
		return n;
	for (int g = 0; g < 256; g++) {
		unsigned cp = g == 200 ? 'A' : g == 'A' ? 0x391 /* Greek Alpha */ : (unsigned)g;
		buf[n++] = cp & 0xFF, buf[n++] = cp >> 8;
		if (g == 201) { /* FFFE 'B' 0301: a sequence, not a mapping */
			buf[n++] = 0xFE, buf[n++] = 0xFF, buf[n++] = 'B', buf[n++] = 0, buf[n++] = 0x01, buf[n++] = 0x03;
		}
		buf[n++] = 0xFF, buf[n++] = 0xFF;
	}
	return n;
}

static void put32(size_t off, uint32_t v) { memcpy(buf + off, &v, 4); }

/* A PSF2 font of 3 glyphs of 12x20 pixels (2 bytes a row) with a UTF-8 table:
 * glyph 0 is '?', glyph 1 'a' and U+00E9 (two UTF-8 bytes), glyph 2 U+20AC. */
static size_t psf2(void)
{
	memset(buf, 0, sizeof buf);
	put32(0, 0x864AB572u);
	put32(4, 0);
	put32(8, 32);
	put32(12, 1);
	put32(16, 3);
	put32(20, 40);
	put32(24, 20);
	put32(28, 12);
	size_t n = 32 + 3 * 40;
	buf[32 + 40] = 0xAB; /* glyph 1, first byte */
	const unsigned char table[] = { '?', 0xFF, 'a', 0xC3, 0xA9, 0xFF, 0xE2, 0x82, 0xAC, 0xFF };
	memcpy(buf + n, table, sizeof table);
	return n + sizeof table;
}

/* After a successful parse every character's glyph lies inside the font. */
static int glyphs_inside(const struct psf_font *f, size_t len)
{
	for (int c = 0; c < 256; c++) {
		const unsigned char *g = psf_glyph(f, (unsigned char)c);
		if (g < buf || g + f->glyph_bytes > buf + len || f->latin1[c] >= f->nglyphs)
			return 0;
	}
	return 1;
}

int main(void)
{
	struct psf_font f;
	struct diag_log l;

	/* PSF1 without a table: glyph i is character i. */
	size_t n = psf1(0);
	CHECK_EQ(psf_parse(buf, n, &f, NULL), 0);
	CHECK(f.width == 8 && f.height == 16 && f.nglyphs == 256 && f.glyph_bytes == 16 && !f.has_unicode);
	CHECK_EQ(psf_glyph(&f, 'A')[0], 'A');

	/* PSF1 with a table: 'A' is glyph 200; the sequence on glyph 201 maps nothing. */
	n = psf1(1);
	diag_log_init(&l);
	CHECK_EQ(psf_parse(buf, n, &f, &l.d), 0);
	CHECK_EQ(psf_glyph(&f, 'A')[0], 200);
	CHECK_EQ(psf_glyph(&f, 'B')[0], 'B');
	CHECK(psf_glyph(&f, 200) == psf_glyph(&f, '?')); /* no glyph shows U+00C8 now */
	CHECK(diag_has(&l, "no glyph for 1 printable"));
	/* A table cut short is refused, at every length. */
	for (size_t cut = 4 + 256 * 16; cut < n; cut += 7)
		CHECK_EQ(psf_parse(buf, cut, &f, NULL), -EINVAL);

	/* PSF2 with a UTF-8 table and 12-pixel glyphs. */
	n = psf2();
	diag_log_init(&l);
	CHECK_EQ(psf_parse(buf, n, &f, &l.d), 0);
	CHECK(f.width == 12 && f.height == 20 && f.row_bytes == 2 && f.glyph_bytes == 40);
	CHECK_EQ(psf_glyph(&f, 'a')[0], 0xAB);
	CHECK_EQ(psf_glyph(&f, 0xE9)[0], 0xAB);
	CHECK(psf_glyph(&f, 'z') == psf_glyph(&f, '?')); /* no glyph: shows '?' */
	CHECK(diag_has(&l, "show as '?'"));
	/* Bad UTF-8 in the table. */
	buf[32 + 3 * 40 + 3] = 0xC0;
	buf[32 + 3 * 40 + 4] = 'x';
	diag_log_init(&l);
	CHECK_EQ(psf_parse(buf, n, &f, &l.d), -EINVAL);
	CHECK(diag_has(&l, "bad UTF-8"));

	/* A PSF2 table cut at every length is refused; every parse that
	 * succeeds leaves every glyph inside the font. */
	n = psf2();
	for (size_t cut = 32 + 3 * 40; cut < n; cut++)
		CHECK_EQ(psf_parse(buf, cut, &f, NULL), -EINVAL);
	CHECK(psf_parse(buf, n, &f, NULL) == 0 && glyphs_inside(&f, n));
	/* UTF-8 lead bytes 0xF8 and up, and a continuation byte first, are bad. */
	for (unsigned lead = 0xF8; lead <= 0xFD; lead++) {
		n = psf2();
		buf[32 + 3 * 40 + 2] = (unsigned char)lead;
		CHECK_EQ(psf_parse(buf, n, &f, NULL), -EINVAL);
	}
	n = psf2();
	buf[32 + 3 * 40 + 2] = 0x80;
	CHECK_EQ(psf_parse(buf, n, &f, NULL), -EINVAL);
	/* A header longer than 32 bytes is honoured: the glyphs start after it. */
	n = psf2();
	memmove(buf + 40, buf + 32, n - 32);
	put32(8, 40);
	CHECK(psf_parse(buf, n + 8, &f, NULL) == 0 && psf_glyph(&f, 'a')[0] == 0xAB && glyphs_inside(&f, n + 8));
	/* PSF1 with 512 glyphs: refused when cut short, and its table may name glyphs above 255. */
	memset(buf, 0, sizeof buf);
	buf[0] = 0x36, buf[1] = 0x04, buf[2] = 0x03, buf[3] = 8;
	CHECK_EQ(psf_parse(buf, 4 + 511 * 8, &f, NULL), -EINVAL);
	n = 4 + 512 * 8;
	for (int g = 0; g < 512; g++) {
		unsigned cp = g == 300 ? 'Z' : g < 256 && g != 'Z' ? (unsigned)g : 0x2000;
		buf[n++] = cp & 0xFF, buf[n++] = cp >> 8, buf[n++] = 0xFF, buf[n++] = 0xFF;
	}
	buf[4 + 300 * 8] = 0x5A;
	CHECK(psf_parse(buf, n, &f, NULL) == 0 && f.nglyphs == 512 && psf_glyph(&f, 'Z')[0] == 0x5A &&
	      glyphs_inside(&f, n));
	/* The largest glyph, 32x64, is taken; 0 and 65536 glyphs are not. */
	n = psf2();
	put32(16, 1);
	put32(20, 4 * 64);
	put32(24, 64);
	put32(28, 32);
	CHECK(psf_parse(buf, 32 + 256 + 1, &f, NULL) == -EINVAL); /* table: no separator */
	put32(12, 0);
	CHECK(psf_parse(buf, 32 + 256, &f, NULL) == 0 && f.row_bytes == 4 && glyphs_inside(&f, 32 + 256));
	put32(16, 0);
	CHECK_EQ(psf_parse(buf, 32 + 256, &f, NULL), -EINVAL);
	put32(16, 65536);
	CHECK_EQ(psf_parse(buf, sizeof buf, &f, NULL), -EINVAL);

	/* Hostile headers: glyphs that do not fit, absurd sizes, a header past the end. */
	n = psf2();
	put32(16, 1000000);
	CHECK_EQ(psf_parse(buf, n, &f, NULL), -EINVAL);
	n = psf2();
	put32(28, 33);
	put32(20, 5 * 20);
	CHECK_EQ(psf_parse(buf, n, &f, NULL), -EINVAL);
	n = psf2();
	put32(20, 7);
	CHECK_EQ(psf_parse(buf, n, &f, NULL), -EINVAL);
	n = psf2();
	put32(8, 0xFFFFFFF0u);
	CHECK_EQ(psf_parse(buf, n, &f, NULL), -EINVAL);
	n = psf1(0);
	buf[3] = 0;
	CHECK_EQ(psf_parse(buf, n, &f, NULL), -EINVAL);
	CHECK_EQ(psf_parse(buf, 3, &f, NULL), -EINVAL);
	memcpy(buf, "not a font", 10);
	diag_log_init(&l);
	CHECK_EQ(psf_parse(buf, 100, &f, &l.d), -EINVAL);
	CHECK(diag_has(&l, "not a PSF1 or PSF2"));
	return check_done("psf");
}
