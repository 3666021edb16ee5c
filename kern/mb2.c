#include "mb2.h"
#include "keel/errno.h"
#include "lib/string.h"

struct tag {
	u32 type, size;
};

static u32 rd32(const u8 *p)
{
	u32 v;
	memcpy(&v, p, 4);
	return v;
}

static u64 rd64(const u8 *p)
{
	u64 v;
	memcpy(&v, p, 8);
	return v;
}

/* A string field [p, end) is usable only if a NUL terminates it inside. */
static const char *tag_string(const u8 *p, const u8 *end)
{
	for (const u8 *q = p; q < end; q++)
		if (*q == 0)
			return (const char *)p;
	return NULL;
}

static void parse_mmap(const u8 *t, u32 size, u32 off, struct mb2_info *out, struct diag *d)
{
	if (size < 16) {
		diag(d, "mb2: memory map tag at %u too short (%u bytes)", off, size);
		return;
	}
	u32 esize = rd32(t + 8), ever = rd32(t + 12);
	if (esize < 24 || esize % 8) {
		diag(d, "mb2: memory map entry size %u invalid", esize);
		return;
	}
	if (ever != 0)
		diag(d, "mb2: memory map entry version %u (expected 0), reading anyway", ever);
	if (out->nmmap)
		diag(d, "mb2: second memory map tag at %u, merging", off);
	u32 n = (size - 16) / esize;
	if ((size - 16) % esize)
		diag(d, "mb2: memory map tag has %u trailing bytes", (size - 16) % esize);
	for (u32 i = 0; i < n; i++) {
		const u8 *e = t + 16 + (size_t)i * esize;
		u64 base = rd64(e), len = rd64(e + 8);
		u32 type = rd32(e + 16);
		if (len == 0) {
			diag(d, "mb2: memory map entry %u has zero length, skipped", i);
			continue;
		}
		if (base + len < base) {
			diag(d, "mb2: memory map entry %u wraps (base %#llx len %#llx), clipped", i,
			     (unsigned long long)base, (unsigned long long)len);
			len = UINT64_MAX - base;
		}
		if (out->nmmap == MB2_MAX_MMAP) {
			diag(d, "mb2: more than %u memory map entries, rest ignored", MB2_MAX_MMAP);
			return;
		}
		out->mmap[out->nmmap++] = (struct mb2_mmap_entry){ base, len, type };
	}
}

static void parse_module(const u8 *t, u32 size, u32 off, struct mb2_info *out, struct diag *d)
{
	if (size < 17) {
		diag(d, "mb2: module tag at %u too short (%u bytes)", off, size);
		return;
	}
	u32 start = rd32(t + 8), end = rd32(t + 12);
	const char *cmd = tag_string(t + 16, t + size);
	if (!cmd) {
		diag(d, "mb2: module tag at %u has an unterminated command line", off);
		return;
	}
	if (end < start) {
		diag(d, "mb2: module '%s' ends (%#x) before it starts (%#x)", cmd, end, start);
		return;
	}
	if (out->nmodules == MB2_MAX_MODULES) {
		diag(d, "mb2: more than %u modules, '%s' ignored", MB2_MAX_MODULES, cmd);
		return;
	}
	out->modules[out->nmodules++] = (struct mb2_module){ start, end, cmd };
}

static void parse_rsdp(const u8 *t, u32 size, u32 type, struct mb2_info *out, struct diag *d)
{
	size_t want = type == MB2_TAG_ACPI_OLD ? 20 : 36;
	if (size < 8 + want) {
		diag(d, "mb2: ACPI RSDP tag (type %u) too short (%u bytes)", type, size);
		return;
	}
	if (out->rsdp_len >= want)
		return; /* keep the newer (longer) one */
	memcpy(out->rsdp, t + 8, want);
	out->rsdp_len = want;
}

static bool field_ok(u8 pos, u8 size, u8 bpp) { return size >= 1 && size <= 8 && pos + size <= bpp; }

/* A direct-colour framebuffer the console can draw on without writing
 * outside it: a pixel size it knows, lines that hold their pixels, colour
 * fields inside the pixel, and a size that neither wraps nor is absurd. */
static bool rgb_geometry_ok(const struct mb2_framebuffer *fb, u32 off, struct diag *d)
{
	u32 bytes = (fb->bpp + 7) / 8;
	u64 size = (u64)fb->pitch * fb->height;
	const char *why = NULL;
	if (fb->bpp != 15 && fb->bpp != 16 && fb->bpp != 24 && fb->bpp != 32)
		why = "pixel size";
	else if (!fb->width || !fb->height || fb->width > MB2_FB_MAX_SIDE || fb->height > MB2_FB_MAX_SIDE)
		why = "width or height";
	else if (fb->pitch < (u64)fb->width * bytes || fb->pitch % bytes || size > MB2_FB_MAX_BYTES)
		why = "pitch";
	else if (!fb->addr || fb->addr % 4 || fb->addr >= MB2_FB_ADDR_LIMIT || size > MB2_FB_ADDR_LIMIT - fb->addr)
		why = "address";
	else if (!field_ok(fb->red_pos, fb->red_size, fb->bpp) || !field_ok(fb->green_pos, fb->green_size, fb->bpp) ||
		 !field_ok(fb->blue_pos, fb->blue_size, fb->bpp))
		why = "colour fields";
	if (why)
		diag(d, "mb2: framebuffer tag at %u: impossible %s (%ux%u, %u bpp, pitch %u, at %#llx), ignored",
		     off, why, fb->width, fb->height, fb->bpp, fb->pitch, (unsigned long long)fb->addr);
	return !why;
}

/* The first framebuffer tag counts, and only once it is whole and checked:
 * nothing of a rejected one reaches *out. */
static void parse_framebuffer(const u8 *t, u32 size, u32 off, struct mb2_info *out, struct diag *d)
{
	if (out->have_fb) {
		diag(d, "mb2: second framebuffer tag at %u, ignored", off);
		return;
	}
	if (size < 32) {
		diag(d, "mb2: framebuffer tag at %u too short (%u bytes)", off, size);
		return;
	}
	struct mb2_framebuffer fb = {
		.addr = rd64(t + 8), .pitch = rd32(t + 16), .width = rd32(t + 20), .height = rd32(t + 24),
		.bpp = t[28], .type = t[29],
	};
	if (fb.type == MB2_FB_RGB) {
		if (size < 38) {
			diag(d, "mb2: RGB framebuffer tag at %u has no colour fields (%u bytes)", off, size);
			return;
		}
		fb.red_pos = t[32];
		fb.red_size = t[33];
		fb.green_pos = t[34];
		fb.green_size = t[35];
		fb.blue_pos = t[36];
		fb.blue_size = t[37];
		if (!rgb_geometry_ok(&fb, off, d))
			return;
	}
	out->fb = fb;
	out->have_fb = true;
}

#define EFI_DESC_MIN 40 /* sizeof(EFI_MEMORY_DESCRIPTOR) in UEFI 2.x; firmware may use more */

/* A system table or image handle tag: the first one counts. */
static void efi_pointer(const u8 *t, bool wide, u8 *bits, u64 *ptr, const char *what, u32 off,
			struct diag *d)
{
	if (*bits) {
		diag(d, "mb2: second EFI %s tag at %u, ignored", what, off);
		return;
	}
	*bits = wide ? 64 : 32;
	*ptr = wide ? rd64(t + 8) : rd32(t + 8);
	if (!*ptr)
		diag(d, "mb2: EFI %s tag at %u holds a null pointer", what, off);
}

static void efi_mmap(const u8 *t, u32 size, u32 off, struct mb2_efi *efi, struct diag *d)
{
	u32 dsize = rd32(t + 8);
	if (dsize < EFI_DESC_MIN || dsize % 8) {
		diag(d, "mb2: EFI memory descriptor size %u invalid", dsize);
		return;
	}
	if (efi->mmap) {
		diag(d, "mb2: second EFI memory map tag at %u, ignored", off);
		return;
	}
	if ((size - 16) % dsize)
		diag(d, "mb2: EFI memory map tag has %u trailing bytes", (size - 16) % dsize);
	efi->mmap = t + 16;
	efi->mmap_count = (size - 16) / dsize;
	efi->desc_size = dsize;
	efi->desc_version = rd32(t + 12);
}

/* One of the EFI tags (types 11, 12, 17, 18, 19, 20). */
static void parse_efi(const u8 *t, u32 size, u32 type, u32 off, struct mb2_efi *efi, struct diag *d)
{
	bool wide = type == MB2_TAG_EFI64 || type == MB2_TAG_EFI64_IH;
	u32 want = type == MB2_TAG_EFI_MMAP ? 16 : type == MB2_TAG_EFI_BS ? 8 : wide ? 16 : 12;
	if (size < want) {
		diag(d, "mb2: EFI tag type %u at %u too short (%u bytes)", type, off, size);
		return;
	}
	efi->seen = true;
	if (type == MB2_TAG_EFI_BS)
		efi->boot_services = true;
	else if (type == MB2_TAG_EFI_MMAP)
		efi_mmap(t, size, off, efi, d);
	else if (type == MB2_TAG_EFI32 || type == MB2_TAG_EFI64)
		efi_pointer(t, wide, &efi->systab_bits, &efi->systab, "system table", off, d);
	else
		efi_pointer(t, wide, &efi->handle_bits, &efi->image_handle, "image handle", off, d);
}

static void string_tag(const u8 *t, u32 size, u32 off, const char **slot, const char *what,
		       struct diag *d)
{
	const char *s = tag_string(t + 8, t + size);
	if (!s) {
		diag(d, "mb2: %s tag at %u is unterminated, ignored", what, off);
		return;
	}
	if (*slot) {
		diag(d, "mb2: duplicate %s tag at %u, ignored", what, off);
		return;
	}
	*slot = s;
}

int mb2_parse(const void *mbi, size_t avail, struct mb2_info *out, struct diag *d)
{
	memset(out, 0, sizeof *out);
	const u8 *base = mbi;
	if ((uptr)base % 8) {
		diag(d, "mb2: boot information at %p is not 8-byte aligned", mbi);
		return -EINVAL;
	}
	if (avail < 8) {
		diag(d, "mb2: boot information unreadable");
		return -EBADMSG;
	}
	u32 total = rd32(base);
	if (total < 16 || total > avail || total > MB2_MAX_INFO_SIZE) {
		diag(d, "mb2: boot information total size %u is impossible", total);
		return -EBADMSG;
	}
	out->total_size = total;

	u32 off = 8;
	while (off + 8 <= total) {
		const u8 *t = base + off;
		u32 type = rd32(t), size = rd32(t + 4);
		if (size < 8 || size > total - off) {
			diag(d, "mb2: tag type %u at offset %u has bad size %u, stopping", type, off, size);
			break;
		}
		if (type == MB2_TAG_END) {
			out->have_end_tag = true;
			break;
		}
		switch (type) {
		case MB2_TAG_CMDLINE:
			string_tag(t, size, off, &out->cmdline, "command line", d);
			break;
		case MB2_TAG_LOADER:
			string_tag(t, size, off, &out->loader, "boot loader name", d);
			break;
		case MB2_TAG_MODULE:
			parse_module(t, size, off, out, d);
			break;
		case MB2_TAG_MMAP:
			parse_mmap(t, size, off, out, d);
			break;
		case MB2_TAG_FRAMEBUFFER:
			parse_framebuffer(t, size, off, out, d);
			break;
		case MB2_TAG_ACPI_OLD:
		case MB2_TAG_ACPI_NEW:
			parse_rsdp(t, size, type, out, d);
			break;
		case MB2_TAG_EFI32: case MB2_TAG_EFI64: case MB2_TAG_EFI_MMAP:
		case MB2_TAG_EFI_BS: case MB2_TAG_EFI32_IH: case MB2_TAG_EFI64_IH:
			parse_efi(t, size, type, off, &out->efi, d);
			break;
		default:
			break; /* tags Keel does not use */
		}
		u32 next = off + ((size + 7) & ~7u);
		if (next < off)
			break;
		off = next;
	}
	if (!out->have_end_tag)
		diag(d, "mb2: no end tag inside %u bytes", total);
	if (!out->nmmap)
		diag(d, "mb2: no memory map");
	return 0;
}
