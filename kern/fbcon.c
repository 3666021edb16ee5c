#include "fbcon.h"
#include "arch/x86_64/paging.h"
#include "console.h"
#include "cpu_features.h"
#include "frame.h"
#include "keel/errno.h"
#include "kva.h"
#include "lib/string.h"

static struct {
	u8 *fb;                 /* the framebuffer through the KVA, write-combining */
	u32 pitch, width, height, bytespp;
	u32 fg, bg;             /* pixel values */
	struct psf_font font;
	u32 cols, rows, cx, cy; /* the grid and the cursor */
	bool on;
	bool drawing;           /* inside fbcon_write: a fault there turns the screen off */
} con;

/* What the grid says (grid) and what the screen shows (shown), a byte a cell. */
static u8 grid[FBCON_MAX_CELLS], shown[FBCON_MAX_CELLS];

/* The common case -- 32-bit pixels, glyphs 8 wide -- draws a glyph row with
 * four 8-byte stores of its eight pixels, looked up by the row's bits. */
static u64 row8[256][4];
static bool fast8;

static u32 pixel(const struct mb2_framebuffer *fb, u32 rgb)
{
	u32 r = rgb >> 16 & 0xFF, g = rgb >> 8 & 0xFF, b = rgb & 0xFF;
	return (r >> (8 - fb->red_size)) << fb->red_pos | (g >> (8 - fb->green_size)) << fb->green_pos |
	       (b >> (8 - fb->blue_size)) << fb->blue_pos;
}

static inline void put_pixel(u8 *p, u32 v)
{
	switch (con.bytespp) {
	case 4:
		*(volatile u32 *)p = v;
		break;
	case 3:
		((volatile u8 *)p)[0] = (u8)v;
		((volatile u8 *)p)[1] = (u8)(v >> 8);
		((volatile u8 *)p)[2] = (u8)(v >> 16);
		break;
	default:
		*(volatile u16 *)p = (u16)v;
	}
}

static void draw_cell(u32 col, u32 row, u8 c)
{
	const struct psf_font *f = &con.font;
	const u8 *g = psf_glyph(f, c);
	u8 *line = con.fb + (size_t)row * f->height * con.pitch + (size_t)col * f->width * con.bytespp;
	if (fast8) {
		for (u32 y = 0; y < f->height; y++, line += con.pitch) {
			const u64 *src = row8[g[y]];
			volatile u64 *dst = (volatile u64 *)line;
			dst[0] = src[0], dst[1] = src[1], dst[2] = src[2], dst[3] = src[3];
		}
		return;
	}
	for (u32 y = 0; y < f->height; y++, line += con.pitch, g += f->row_bytes) {
		u32 bits = 0;
		for (u32 i = 0; i < f->row_bytes; i++)
			bits |= (u32)g[i] << (24 - 8 * i); /* leftmost pixel in bit 31 */
		if (con.bytespp == 4) {
			volatile u32 *px = (volatile u32 *)line;
			for (u32 x = 0; x < f->width; x++, bits <<= 1)
				px[x] = bits & 0x80000000u ? con.fg : con.bg;
		} else {
			u8 *p = line;
			for (u32 x = 0; x < f->width; x++, bits <<= 1, p += con.bytespp)
				put_pixel(p, bits & 0x80000000u ? con.fg : con.bg);
		}
	}
}

/* The cells written since the last flush lie in [dirty_lo, dirty_hi): a
 * line's write compares only its own cells, a scroll all of them. */
static u32 dirty_lo = UINT32_MAX, dirty_hi;

static void dirty(u32 lo, u32 hi)
{
	dirty_lo = MIN(dirty_lo, lo);
	dirty_hi = MAX(dirty_hi, hi);
}

/* Draw every cell whose character changed since it was last drawn. */
static void flush(void)
{
	for (u32 i = dirty_lo; i < dirty_hi; i++) {
		if (grid[i] != shown[i]) {
			draw_cell(i % con.cols, i / con.cols, grid[i]);
			shown[i] = grid[i];
		}
	}
	dirty_lo = UINT32_MAX;
	dirty_hi = 0;
}

static void newline(void)
{
	con.cx = 0;
	if (++con.cy < con.rows)
		return;
	memmove(grid, grid + con.cols, (size_t)(con.rows - 1) * con.cols);
	memset(grid + (size_t)(con.rows - 1) * con.cols, ' ', con.cols);
	con.cy = con.rows - 1;
	dirty(0, con.rows * con.cols);
}

static void put(u8 c)
{
	switch (c) {
	case '\n':
		newline();
		return;
	case '\r':
		con.cx = 0;
		return;
	case '\t':
		do
			put(' ');
		while (con.cx % 8);
		return;
	case '\b':
		if (con.cx)
			con.cx--;
		return;
	}
	if (c < 0x20 || c == 0x7F)
		return; /* other control characters show nothing */
	if (con.cx == con.cols)
		newline();
	u32 i = con.cy * con.cols + con.cx++;
	grid[i] = c;
	dirty(i, i + 1);
}

void fbcon_write(const char *s, size_t n)
{
	if (!con.on)
		return;
	if (con.drawing) { /* a fault while drawing: report it on the serial port only */
		con.on = false;
		return;
	}
	con.drawing = true;
	for (size_t i = 0; i < n; i++)
		put((u8)s[i]);
	flush();
	/* Drain the write-combining buffers: nothing else may come to push the
	 * last pixels out (a panic ends in cli; hlt, which does not). */
	__asm__ volatile("sfence" ::: "memory");
	con.drawing = false;
}

static int fbcon_start(const struct mb2_framebuffer *fb, const struct psf_font *font)
{
	if (fb->type != MB2_FB_RGB)
		return -EINVAL;
	u32 cols = fb->width / font->width;
	u32 rows = MIN(fb->height / font->height, FBCON_MAX_CELLS / MAX(cols, 1u));
	if (cols < 8 || !rows)
		return -EINVAL; /* a tab stop must fit on a line */
	size_t size = (size_t)fb->pitch * fb->height;
	u8 *p = kva_map_phys(fb->addr, size, true, pte_wc);
	if (!p)
		return -ENOMEM;
	kva_note((uptr)p, (uptr)p + size, "framebuffer");
	con.fb = p;
	con.pitch = fb->pitch;
	con.width = fb->width;
	con.height = fb->height;
	con.bytespp = (fb->bpp + 7) / 8;
	con.fg = pixel(fb, FBCON_FG_RGB);
	con.bg = pixel(fb, FBCON_BG_RGB);
	con.font = *font;
	con.cols = cols;
	con.rows = rows;
	fast8 = con.bytespp == 4 && font->width == 8 && fb->addr % 8 == 0 && fb->pitch % 8 == 0;
	for (u32 b = 0; fast8 && b < 256; b++)
		for (u32 x = 0; x < 8; x += 2)
			row8[b][x / 2] = (u64)(b & (0x80 >> x) ? con.fg : con.bg) |
					 (u64)(b & (0x40 >> x) ? con.fg : con.bg) << 32;
	/* Clear the whole screen (GRUB's menu may be on it), a line of pixels at a time. */
	for (u32 y = 0; y < fb->height; y++)
		for (u32 x = 0; x < fb->width; x++)
			put_pixel(p + (size_t)y * fb->pitch + (size_t)x * con.bytespp, con.bg);
	memset(grid, ' ', sizeof grid);
	memset(shown, ' ', sizeof shown);
	con.cx = con.cy = 0;
	con.on = true;
	return 0;
}

void fbcon_font_moved(const void *from, const void *to, size_t len)
{
	uptr off = (uptr)con.font.glyphs - (uptr)from;
	if (con.font.glyphs && off < len)
		con.font.glyphs = (const u8 *)to + off;
}

u32 fbcon_cols(void) { return con.on ? con.cols : 0; }
u32 fbcon_rows(void) { return con.on ? con.rows : 0; }

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

void fbcon_start_boot(const struct mb2_info *mb)
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
	/* Device memory, never RAM (the clear would overwrite it through a
	 * writable alias), and addressable by this CPU. */
	u64 end = fb->addr + (u64)fb->pitch * fb->height;
	if (range_set_overlaps(&boot_ram, fb->addr, end) || end > 1ULL << cpu_has.phys_bits) {
		kprintf("console: the framebuffer %#llx-%#llx is RAM or beyond the CPU's %u address bits: serial only\n",
			(unsigned long long)fb->addr, (unsigned long long)end, cpu_has.phys_bits);
		return;
	}
	const struct mb2_module *m = find_module(mb, "font");
	static struct psf_font font;
	struct diag d = { print_diag, NULL, 0 };
	if (!m || !range_set_covers(&boot_ram, m->start, m->end) ||
	    psf_parse(pa_to_va(m->start), m->end - m->start, &font, &d)) {
		kprintf("console: %s: serial only\n", m ? "the font module is not a usable PSF font in RAM" : "no font module");
		return;
	}
	int err = fbcon_start(fb, &font);
	if (err) {
		kprintf("console: cannot use the framebuffer (%d): serial only\n", err);
		return;
	}
	console_set_screen(fbcon_write);
	if (!console_has_serial())
		kprintf("console: no serial port at COM1: this screen is the only console\n");
	kprintf("console: screen %ux%u, %u bpp, at %#llx (%s); %ux%u characters of %ux%u pixels\n", fb->width,
		fb->height, fb->bpp, (unsigned long long)fb->addr,
		pte_wc == PTE_PWT ? "write-combining" : "uncacheable", con.cols, con.rows, font.width, font.height);
}
