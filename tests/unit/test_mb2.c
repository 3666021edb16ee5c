/* The multiboot2 parser against well-formed and hostile boot information. */
#include "check.h"
#include "keel/errno.h"
#include "mb2.h"

static _Alignas(8) unsigned char buf[65536];
static size_t used;

static void put32(size_t off, uint32_t v) { memcpy(buf + off, &v, 4); }
static void put64(size_t off, uint64_t v) { memcpy(buf + off, &v, 8); }

static void begin(void)
{
	memset(buf, 0, sizeof buf);
	used = 8;
}

/* Append a tag with `len` payload bytes; returns the payload offset. */
static size_t tag(uint32_t type, uint32_t len)
{
	used = (used + 7) & ~(size_t)7;
	put32(used, type);
	put32(used + 4, 8 + len);
	size_t payload = used + 8;
	used += 8 + len;
	return payload;
}

/* A framebuffer tag of `len` payload bytes (24: no colour fields; 30 and up:
 * with them, red at rpos); returns the payload offset. */
static size_t fb_tag(uint32_t len, uint64_t addr, uint32_t pitch, uint32_t w, uint32_t h, uint8_t bpp,
		     uint8_t type, uint8_t rpos)
{
	size_t a = tag(MB2_TAG_FRAMEBUFFER, len);
	put64(a, addr);
	put32(a + 8, pitch);
	put32(a + 12, w);
	put32(a + 16, h);
	buf[a + 20] = bpp;
	buf[a + 21] = type;
	if (len >= 30)
		memcpy(buf + a + 24, (uint8_t[6]){ rpos, 8, 8, 8, 0, 8 }, 6);
	return a;
}

static void end(void)
{
	tag(MB2_TAG_END, 0);
	put32(0, (uint32_t)used);
}

static void string_tag(uint32_t type, const char *s)
{
	size_t p = tag(type, (uint32_t)strlen(s) + 1);
	memcpy(buf + p, s, strlen(s) + 1);
}

static size_t mmap_tag(uint32_t n, uint32_t esize)
{
	size_t p = tag(MB2_TAG_MMAP, 8 + n * esize);
	put32(p, esize);
	put32(p + 4, 0);
	return p + 8;
}

static void mmap_entry(size_t base, uint32_t esize, uint32_t i, uint64_t addr, uint64_t len, uint32_t type)
{
	put64(base + i * esize, addr);
	put64(base + i * esize + 8, len);
	put32(base + i * esize + 16, type);
}

static struct mb2_info info;

int main(void)
{
	struct diag_log l;

	/* A well-formed one, as GRUB makes it. */
	begin();
	string_tag(MB2_TAG_CMDLINE, "test=x");
	string_tag(MB2_TAG_LOADER, "GRUB 2.06");
	size_t m = mmap_tag(3, 24);
	mmap_entry(m, 24, 0, 0, 0x9fc00, 1);
	mmap_entry(m, 24, 1, 0x9fc00, 0x400, 2);
	mmap_entry(m, 24, 2, 0x100000, 0x1fee0000, 1);
	size_t mod = tag(MB2_TAG_MODULE, 8 + 6);
	put32(mod, 0x200000);
	put32(mod + 4, 0x201000);
	memcpy(buf + mod + 8, "ksyms", 6);
	size_t a = tag(MB2_TAG_ACPI_OLD, 20);
	memcpy(buf + a, "RSD PTR ", 8);
	tag(99, 5); /* unknown tags are skipped */
	end();
	diag_log_init(&l);
	CHECK_EQ(mb2_parse(buf, sizeof buf, &info, &l.d), 0);
	CHECK_EQ(l.d.count, 0);
	CHECK_STR(info.cmdline, "test=x");
	CHECK_STR(info.loader, "GRUB 2.06");
	CHECK_EQ(info.nmmap, 3);
	CHECK_EQ(info.mmap[2].base, 0x100000);
	CHECK_EQ(info.mmap[2].len, 0x1fee0000);
	CHECK_EQ(info.mmap[1].type, 2);
	CHECK_EQ(info.nmodules, 1);
	CHECK_EQ(info.modules[0].start, 0x200000);
	CHECK_STR(info.modules[0].cmdline, "ksyms");
	CHECK_EQ(info.rsdp_len, 20);
	CHECK(info.have_end_tag);

	/* Misaligned, too small, impossible total sizes. */
	diag_log_init(&l);
	CHECK_EQ(mb2_parse(buf + 4, sizeof buf - 4, &info, &l.d), -EINVAL);
	CHECK_EQ(mb2_parse(buf, 4, &info, &l.d), -EBADMSG);
	put32(0, 8);
	CHECK_EQ(mb2_parse(buf, sizeof buf, &info, &l.d), -EBADMSG);
	put32(0, 0xFFFFFFF0u);
	CHECK_EQ(mb2_parse(buf, sizeof buf, &info, &l.d), -EBADMSG);
	put32(0, 4096);
	CHECK_EQ(mb2_parse(buf, 1024, &info, &l.d), -EBADMSG); /* larger than what may be read */

	/* A tag running past the end: stop there, keep what came before. */
	begin();
	string_tag(MB2_TAG_CMDLINE, "a=b");
	size_t t = tag(MB2_TAG_LOADER, 8);
	put32(t - 4, 4000); /* its size now points far past total_size */
	put32(0, (uint32_t)used);
	diag_log_init(&l);
	CHECK_EQ(mb2_parse(buf, sizeof buf, &info, &l.d), 0);
	CHECK_STR(info.cmdline, "a=b");
	CHECK(info.loader == NULL);
	CHECK(diag_has(&l, "bad size 4000"));
	CHECK(diag_has(&l, "no end tag"));

	/* A tag shorter than its own header. */
	begin();
	t = tag(MB2_TAG_CMDLINE, 0);
	put32(t - 4, 3);
	end();
	diag_log_init(&l);
	CHECK_EQ(mb2_parse(buf, sizeof buf, &info, &l.d), 0);
	CHECK(diag_has(&l, "bad size 3"));

	/* Unterminated strings are not believed; duplicates ignored. */
	begin();
	t = tag(MB2_TAG_CMDLINE, 4);
	memcpy(buf + t, "abcd", 4);
	string_tag(MB2_TAG_LOADER, "one");
	string_tag(MB2_TAG_LOADER, "two");
	end();
	diag_log_init(&l);
	mb2_parse(buf, sizeof buf, &info, &l.d);
	CHECK(info.cmdline == NULL);
	CHECK_STR(info.loader, "one");
	CHECK(diag_has(&l, "command line tag at 8 is unterminated"));
	CHECK(diag_has(&l, "duplicate boot loader name"));

	/* Memory maps: bad entry sizes, zero-length and wrapping entries. */
	begin();
	mmap_tag(2, 20);
	end();
	diag_log_init(&l);
	mb2_parse(buf, sizeof buf, &info, &l.d);
	CHECK_EQ(info.nmmap, 0);
	CHECK(diag_has(&l, "entry size 20 invalid"));
	CHECK(diag_has(&l, "no memory map"));

	begin();
	m = mmap_tag(3, 32); /* larger entries than today's 24 bytes are fine */
	mmap_entry(m, 32, 0, 0x1000, 0, 1);
	mmap_entry(m, 32, 1, 0xFFFFFFFFFFFFF000ULL, 0x2000, 1);
	mmap_entry(m, 32, 2, 0x100000, 0x100000, 1);
	end();
	diag_log_init(&l);
	mb2_parse(buf, sizeof buf, &info, &l.d);
	CHECK_EQ(info.nmmap, 2);
	CHECK(diag_has(&l, "zero length"));
	CHECK(diag_has(&l, "wraps"));
	CHECK_EQ(info.mmap[0].base + info.mmap[0].len, UINT64_MAX);

	begin();
	m = mmap_tag(MB2_MAX_MMAP + 10, 24);
	for (uint32_t i = 0; i < MB2_MAX_MMAP + 10; i++)
		mmap_entry(m, 24, i, (uint64_t)i << 20, 4096, 1);
	end();
	diag_log_init(&l);
	mb2_parse(buf, sizeof buf, &info, &l.d);
	CHECK_EQ(info.nmmap, MB2_MAX_MMAP);
	CHECK(diag_has(&l, "more than 128 memory map entries"));

	/* Modules: ending before they start, unterminated names, too many. */
	begin();
	mod = tag(MB2_TAG_MODULE, 8 + 2);
	put32(mod, 0x300000);
	put32(mod + 4, 0x200000);
	memcpy(buf + mod + 8, "x", 2);
	mod = tag(MB2_TAG_MODULE, 8 + 3);
	put32(mod, 0x300000);
	put32(mod + 4, 0x301000);
	memcpy(buf + mod + 8, "abc", 3);
	mod = tag(MB2_TAG_MODULE, 4);
	end();
	diag_log_init(&l);
	mb2_parse(buf, sizeof buf, &info, &l.d);
	CHECK_EQ(info.nmodules, 0);
	CHECK(diag_has(&l, "module 'x' ends"));
	CHECK(diag_has(&l, "unterminated command line"));
	CHECK(diag_has(&l, "too short"));

	begin();
	for (int i = 0; i < MB2_MAX_MODULES + 2; i++) {
		mod = tag(MB2_TAG_MODULE, 8 + 2);
		memcpy(buf + mod + 8, "m", 2);
	}
	end();
	diag_log_init(&l);
	mb2_parse(buf, sizeof buf, &info, &l.d);
	CHECK_EQ(info.nmodules, MB2_MAX_MODULES);
	CHECK(diag_has(&l, "more than 64 modules"));

	/* ACPI: a short RSDP tag is rejected; the 2.0 one wins over 1.0. */
	begin();
	tag(MB2_TAG_ACPI_NEW, 20);
	a = tag(MB2_TAG_ACPI_NEW, 36);
	buf[a] = 'N';
	a = tag(MB2_TAG_ACPI_OLD, 20);
	buf[a] = 'O';
	end();
	diag_log_init(&l);
	mb2_parse(buf, sizeof buf, &info, &l.d);
	CHECK_EQ(info.rsdp_len, 36);
	CHECK_EQ(info.rsdp[0], 'N');
	CHECK(diag_has(&l, "RSDP tag (type 15) too short"));

	/* Framebuffer: a 1024x768x32 RGB one is kept; impossible geometry is
	 * refused (the console would draw outside it); an EGA text one is
	 * passed on for the console to decline. */
	struct { uint32_t pitch, w, h; uint8_t bpp, rpos; uint64_t addr; const char *why; } fbs[] = {
		{ 4096, 1024, 768, 32, 16, 0xFD000000, NULL },
		{ 4095, 1024, 768, 32, 16, 0xFD000000, "impossible pitch" },
		{ 4096, 1024, 768, 8, 16, 0xFD000000, "impossible pixel size" },
		{ 4096, 0, 768, 32, 16, 0xFD000000, "impossible width or height" },
		{ 0x80000000u, 1024, 768, 32, 16, 0xFD000000, "impossible pitch" },
		{ 4096, 1024, 768, 32, 16, 0xFFFFFFFFFFFFF000ull, "impossible address" },
		{ 4096, 1024, 768, 32, 28, 0xFD000000, "impossible colour fields" },
		{ 4096, 1024, 768, 32, 16, 0x7FF0000000000000ull, "impossible address" }, /* bits 52+ */
		{ 4096, 1024, 768, 32, 16, (1ull << 52) - 4096, "impossible address" },  /* ends past 2^52 */
		{ 4098, 1024, 768, 32, 16, 0xFD000000, "impossible pitch" },             /* not whole pixels */
	};
	for (size_t i = 0; i < sizeof fbs / sizeof fbs[0]; i++) {
		begin();
		fb_tag(32, fbs[i].addr, fbs[i].pitch, fbs[i].w, fbs[i].h, fbs[i].bpp, MB2_FB_RGB, fbs[i].rpos);
		end();
		diag_log_init(&l);
		mb2_parse(buf, sizeof buf, &info, &l.d);
		CHECK_EQ(info.have_fb, fbs[i].why == NULL);
		if (fbs[i].why)
			CHECK(diag_has(&l, fbs[i].why));
		else
			CHECK(info.fb.width == 1024 && info.fb.pitch == 4096 && info.fb.red_pos == 16 &&
			      info.fb.blue_size == 8 && info.fb.addr == 0xFD000000);
	}
	begin();
	fb_tag(24, 0xB8000, 160, 80, 25, 16, MB2_FB_EGA_TEXT, 0);
	end();
	mb2_parse(buf, sizeof buf, &info, NULL);
	CHECK(info.have_fb && info.fb.type == MB2_FB_EGA_TEXT);
	/* Only the first framebuffer tag counts, and a rejected one leaves
	 * nothing behind: good then bad, bad then good, EGA text then a short RGB. */
	for (int order = 0; order < 3; order++) {
		begin();
		for (int k = 0; k < 2; k++) {
			int good = order == 0 ? k == 0 : order == 1 ? k == 1 : 0;
			int ega = order == 2 && k == 0;
			if (ega)
				fb_tag(24, 0xB8000, 160, 80, 25, 16, MB2_FB_EGA_TEXT, 0);
			else /* order 2: an RGB tag too short for its colour fields */
				fb_tag(order == 2 ? 29 : 32, 0xFD000000, good ? 4096 : 16, 1024, 768, 32, MB2_FB_RGB, 16);
		}
		end();
		diag_log_init(&l);
		mb2_parse(buf, sizeof buf, &info, &l.d);
		if (order == 0)
			CHECK(info.have_fb && info.fb.pitch == 4096 && diag_has(&l, "second framebuffer tag"));
		else if (order == 1)
			CHECK(info.have_fb && info.fb.pitch == 4096 && diag_has(&l, "impossible pitch"));
		else
			CHECK(info.have_fb && info.fb.type == MB2_FB_EGA_TEXT && diag_has(&l, "second framebuffer"));
	}
	/* RGB tags of every size from 32 to 37 bytes lack colour fields. */
	for (uint32_t len = 24; len < 30; len++) {
		begin();
		fb_tag(len, 0xFD000000, 4096, 1024, 768, 32, MB2_FB_RGB, 0);
		end();
		mb2_parse(buf, sizeof buf, &info, NULL);
		CHECK(!info.have_fb);
	}
	begin();
	a = tag(MB2_TAG_FRAMEBUFFER, 24); /* RGB without its colour fields */
	buf[a + 21] = MB2_FB_RGB;
	end();
	diag_log_init(&l);
	mb2_parse(buf, sizeof buf, &info, &l.d);
	CHECK(!info.have_fb && diag_has(&l, "no colour fields"));

	/* EFI tags, as GRUB's EFI platform writes them: none under BIOS. */
	CHECK(!info.efi.seen);
	begin();
	a = tag(MB2_TAG_EFI64, 8);
	put64(a, 0x3f9ec018);
	a = tag(MB2_TAG_EFI_MMAP, 8 + 3 * 48); /* OVMF's descriptors are 48 bytes */
	put32(a, 48);
	put32(a + 4, 1);
	end();
	diag_log_init(&l);
	CHECK_EQ(mb2_parse(buf, sizeof buf, &info, &l.d), 0);
	CHECK_EQ(l.d.count, 1); /* only "no memory map": the EFI one is not it */
	CHECK(diag_has(&l, "no memory map"));
	CHECK(info.efi.seen);
	CHECK_EQ(info.efi.systab_bits, 64);
	CHECK_EQ(info.efi.systab, 0x3f9ec018);
	CHECK_EQ(info.efi.mmap_count, 3);
	CHECK_EQ(info.efi.desc_size, 48);
	CHECK_EQ(info.efi.desc_version, 1);
	CHECK(info.efi.mmap == buf + a + 8);
	CHECK(!info.efi.boot_services);
	CHECK_EQ(info.efi.handle_bits, 0);

	/* 32-bit tags, boot services left running, an image handle. */
	begin();
	a = tag(MB2_TAG_EFI32, 4);
	put32(a, 0x7f00018);
	tag(MB2_TAG_EFI_BS, 0);
	a = tag(MB2_TAG_EFI64_IH, 8);
	put64(a, 0x123456789);
	end();
	diag_log_init(&l);
	mb2_parse(buf, sizeof buf, &info, &l.d);
	CHECK_EQ(info.efi.systab_bits, 32);
	CHECK_EQ(info.efi.systab, 0x7f00018);
	CHECK(info.efi.boot_services);
	CHECK_EQ(info.efi.handle_bits, 64);
	CHECK_EQ(info.efi.image_handle, 0x123456789);
	CHECK(info.efi.mmap == NULL);

	/* Hostile EFI tags: short, null, duplicated, bad descriptor sizes. */
	begin();
	tag(MB2_TAG_EFI64, 4);         /* 12 bytes: a 32-bit pointer's room only */
	tag(MB2_TAG_EFI32_IH, 2);
	a = tag(MB2_TAG_EFI32, 4);     /* a null system table */
	a = tag(MB2_TAG_EFI64, 8);     /* a second system table */
	put64(a, 0x1000);
	a = tag(MB2_TAG_EFI_MMAP, 8 + 64);
	put32(a, 32);                  /* smaller than a UEFI descriptor */
	a = tag(MB2_TAG_EFI_MMAP, 8 + 100);
	put32(a, 44);                  /* not a multiple of 8 */
	a = tag(MB2_TAG_EFI_MMAP, 8 + 2 * 40 + 8);
	put32(a, 40);                  /* 8 bytes left over */
	a = tag(MB2_TAG_EFI_MMAP, 8 + 40);
	put32(a, 40);                  /* a second map */
	tag(MB2_TAG_EFI_MMAP, 4);      /* too short for its header */
	end();
	diag_log_init(&l);
	CHECK_EQ(mb2_parse(buf, sizeof buf, &info, &l.d), 0);
	CHECK(diag_has(&l, "EFI tag type 12 at 8 too short (12 bytes)"));
	CHECK(diag_has(&l, "EFI tag type 19 at 24 too short (10 bytes)"));
	CHECK(diag_has(&l, "EFI system table tag at 40 holds a null pointer"));
	CHECK(diag_has(&l, "second EFI system table tag"));
	CHECK(diag_has(&l, "EFI memory descriptor size 32 invalid"));
	CHECK(diag_has(&l, "EFI memory descriptor size 44 invalid"));
	CHECK(diag_has(&l, "EFI memory map tag has 8 trailing bytes"));
	CHECK(diag_has(&l, "second EFI memory map tag"));
	CHECK(diag_has(&l, "EFI tag type 17 at"));
	CHECK_EQ(info.efi.systab_bits, 32);
	CHECK_EQ(info.efi.systab, 0);
	CHECK_EQ(info.efi.mmap_count, 2);
	CHECK_EQ(info.efi.handle_bits, 0);

	/* Every truncation of a valid boot information parses safely. */
	begin();
	string_tag(MB2_TAG_CMDLINE, "test=x");
	m = mmap_tag(2, 24);
	mmap_entry(m, 24, 0, 0, 0x9fc00, 1);
	mmap_entry(m, 24, 1, 0x100000, 0x100000, 1);
	fb_tag(32, 0xFD000000, 4096, 1024, 768, 32, MB2_FB_RGB, 16);
	a = tag(MB2_TAG_EFI64, 8);
	put64(a, 0x3f9ec018);
	a = tag(MB2_TAG_EFI_MMAP, 8 + 2 * 48);
	put32(a, 48);
	end();
	size_t full = used;
	for (size_t cut = 16; cut <= full; cut += 4) {
		put32(0, (uint32_t)cut);
		int r = mb2_parse(buf, cut, &info, NULL);
		CHECK(r == 0);
		CHECK(info.nmmap <= 2);
		CHECK(!info.have_fb || info.fb.pitch == 4096);
	}
	return check_done("mb2");
}
