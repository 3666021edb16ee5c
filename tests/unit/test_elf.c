/* The ELF64 static-PIE validator and relocator against a hand-built program and
 * hostile variations of it: one corruption per check, every truncation, and
 * random byte flips. */
#include "check.h"
#include "elf.h"
#include "keel/errno.h"

/*
 * The image, shaped like `gcc -static-pie -z separate-code` output:
 *   0x0000 ELF header, program headers (room for MAX_PH), .rela.dyn at 0x400
 *          PT_LOAD R   vaddr 0      offset 0      size 0x500
 *   0x1000 .text       PT_LOAD R E vaddr 0x1000 offset 0x1000 size 0x40
 *   0x1f00 .dynamic, .data.rel.ro, .got, then .data at vaddr 0x4000
 *          PT_LOAD RW  vaddr 0x2f00 offset 0x1f00 filesz 0x1180 memsz 0x1200
 */
#define MAX_PH 16
#define PHOFF 0x40
#define RELA_OFF 0x400
#define TEXT_OFF 0x1000
#define DATA_OFF 0x1f00
#define DATA_VA 0x2f00
#define DATA_FILESZ 0x1180
#define DATA_MEMSZ 0x1200
#define DYN_SLOTS 8
#define FILE_SIZE (DATA_OFF + DATA_FILESZ)
#define BASE 0x40000000ULL

#define PT_NULL 0
#define PT_LOAD 1
#define PT_DYNAMIC 2
#define PT_INTERP 3
#define PT_NOTE 4
#define PT_TLS 7
#define PT_GNU_STACK 0x6474e551u
#define PT_GNU_RELRO 0x6474e552u

#define DT_NULL 0
#define DT_NEEDED 1
#define DT_RELA 7
#define DT_RELASZ 8
#define DT_RELAENT 9
#define DT_REL 17
#define DT_RELSZ 18
#define DT_DEBUG 21
#define DT_TEXTREL 22
#define DT_FLAGS 30
#define DT_RELR 36
#define DT_FLAGS_1 0x6ffffffbULL

/* Phdr indices in the valid image. */
enum { PH_R, PH_RX, PH_RW, PH_DYN, PH_RELRO, PH_STACK, PH_NOTE, NPH };

static _Alignas(16) unsigned char buf[FILE_SIZE];
static size_t size = FILE_SIZE;
static struct elf_image img;
static struct diag_log l;

static void put16(size_t off, uint16_t v) { memcpy(buf + off, &v, 2); }
static void put32(size_t off, uint32_t v) { memcpy(buf + off, &v, 4); }
static void put64(size_t off, uint64_t v) { memcpy(buf + off, &v, 8); }

static void phdr(unsigned i, uint32_t type, uint32_t flags, uint64_t off, uint64_t va,
		 uint64_t filesz, uint64_t memsz)
{
	size_t p = PHOFF + (size_t)i * 56;
	put32(p, type);
	put32(p + 4, flags);
	put64(p + 8, off);
	put64(p + 16, va);
	put64(p + 24, va); /* p_paddr */
	put64(p + 32, filesz);
	put64(p + 40, memsz);
	put64(p + 48, type == PT_LOAD ? 0x1000 : 8);
}

static size_t ph_field(unsigned i, size_t field) { return PHOFF + (size_t)i * 56 + field; }
#define PH_TYPE 0
#define PH_FLAGS 4
#define PH_OFFSET 8
#define PH_VADDR 16
#define PH_FILESZ 32
#define PH_MEMSZ 40

static void set_phnum(unsigned n) { put16(56, (uint16_t)n); }

static void dyn(unsigned slot, uint64_t tag, uint64_t val)
{
	put64(DATA_OFF + slot * 16, tag);
	put64(DATA_OFF + slot * 16 + 8, val);
}

static void rela(unsigned i, uint64_t off, uint64_t info, uint64_t addend)
{
	put64(RELA_OFF + i * 24, off);
	put64(RELA_OFF + i * 24 + 8, info);
	put64(RELA_OFF + i * 24 + 16, addend);
}
static size_t rela_field(unsigned i, size_t field) { return RELA_OFF + (size_t)i * 24 + field; }

#define NRELA 5

/* The valid program. */
static void build(void)
{
	memset(buf, 0, sizeof buf);
	size = FILE_SIZE;
	memcpy(buf, "\x7f" "ELF", 4);
	buf[4] = 2; /* ELFCLASS64 */
	buf[5] = 1; /* little-endian */
	buf[6] = 1; /* EV_CURRENT */
	put16(16, 3);  /* ET_DYN */
	put16(18, 62); /* EM_X86_64 */
	put32(20, 1);
	put64(24, 0x1000); /* entry */
	put64(32, PHOFF);
	put64(40, 0); /* no section headers */
	put16(52, 64);
	put16(54, 56);
	set_phnum(NPH);

	phdr(PH_R, PT_LOAD, ELF_PF_R, 0, 0, 0x500, 0x500);
	phdr(PH_RX, PT_LOAD, ELF_PF_R | ELF_PF_X, TEXT_OFF, 0x1000, 0x40, 0x40);
	phdr(PH_RW, PT_LOAD, ELF_PF_R | ELF_PF_W, DATA_OFF, DATA_VA, DATA_FILESZ, DATA_MEMSZ);
	phdr(PH_DYN, PT_DYNAMIC, ELF_PF_R | ELF_PF_W, DATA_OFF, DATA_VA, DYN_SLOTS * 16,
	     DYN_SLOTS * 16);
	phdr(PH_RELRO, PT_GNU_RELRO, ELF_PF_R, DATA_OFF, DATA_VA, 0x1100, 0x1100);
	phdr(PH_STACK, PT_GNU_STACK, ELF_PF_R | ELF_PF_W, 0, 0, 0, 0);
	phdr(PH_NOTE, PT_NOTE, ELF_PF_R, 0x3c0, 0x3c0, 0x20, 0x20);

	/* .text: a few instructions (the bytes do not matter). */
	memcpy(buf + TEXT_OFF, "\x31\xed\x48\x89\xe7\xe8\x0b\x00\x00\x00\xf4\xc3", 12);

	/* .rela.dyn */
	rela(0, 0x3000, 8, 0x1000);   /* .data.rel.ro: pointer to _start */
	rela(1, 0x3008, 8, 0x4000);   /* .data.rel.ro: pointer to .data */
	rela(2, 0x4000, 8, 0x1010);   /* .data: pointer into .text */
	rela(3, 0, 0, 0);             /* R_X86_64_NONE */
	rela(4, DATA_VA + DATA_MEMSZ - 8, 8, 0x5000); /* last word of .bss: end of image */

	/* .dynamic */
	dyn(0, DT_RELA, RELA_OFF);
	dyn(1, DT_RELASZ, NRELA * 24);
	dyn(2, DT_RELAENT, 24);
	dyn(3, DT_FLAGS_1, 0x08000000); /* DF_1_PIE */
	dyn(4, DT_DEBUG, 0);
	dyn(5, DT_NULL, 0);

	/* .data */
	memcpy(buf + 0x4000 - DATA_VA + DATA_OFF, "hello", 6);
}

/* elf_check on an exact-size heap copy, so ASan sees any read past the end. */
static int run(size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);
	memcpy(copy, buf, len);
	diag_log_init(&l);
	int r = elf_check(copy, len, &img, &l.d);
	free(copy);
	return r;
}

static void expect_ok_at(int line)
{
	int r = run(size);
	check_count++;
	if (r != 0 || l.d.count != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: expected acceptance, got %d:\n%s", __FILE__, line, r, l.text);
	}
}

static void expect_reject_at(int line, const char *msg)
{
	int r = run(size);
	check_count++;
	if (r != -ENOEXEC || l.d.count != 1 || !diag_has(&l, msg) || strncmp(l.text, "elf: ", 5) ||
	    img.nseg != 0 || img.nrela != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: expected one rejection \"%s\", got %d (%u lines):\n%s",
			__FILE__, line, msg, r, l.d.count, l.text);
	}
}
#define expect_ok() expect_ok_at(__LINE__)
#define expect_reject(msg) expect_reject_at(__LINE__, msg)

/* Relocation recording. */
struct put_log {
	unsigned n;
	uint64_t va[16], val[16];
};

static void record_put(void *ctx, u64 vaddr, u64 value)
{
	struct put_log *p = ctx;
	if (p->n < 16) {
		p->va[p->n] = vaddr;
		p->val[p->n] = value;
	}
	p->n++;
}

/* A fuzzed image that passed: every put must land inside a writable segment. */
struct fuzz_ctx {
	const struct elf_image *img;
	u64 base;
	unsigned bad;
};

static void fuzz_put(void *ctx, u64 vaddr, u64 value)
{
	struct fuzz_ctx *f = ctx;
	bool ok = false;
	for (size_t i = 0; i < f->img->nseg; i++) {
		const struct elf_segment *s = &f->img->seg[i];
		if ((s->flags & ELF_PF_W) && vaddr >= s->vaddr && vaddr - s->vaddr <= s->memsz &&
		    s->memsz - (vaddr - s->vaddr) >= 8)
			ok = true;
	}
	if (!ok || value - f->base > f->img->span || value < f->base)
		f->bad++;
}

/* The invariants elf_check promises about an image it accepts. */
static bool image_sane(const struct elf_image *im)
{
	if (im->nseg < 1 || im->nseg > ELF_MAX_SEGMENTS || im->span > ELF_MAX_SPAN ||
	    im->span % 4096 || im->nrela > ELF_MAX_RELAS)
		return false;
	bool entry_ok = false;
	for (size_t i = 0; i < im->nseg; i++) {
		const struct elf_segment *s = &im->seg[i];
		if (!s->memsz || s->filesz > s->memsz || s->vaddr + s->memsz > im->span)
			return false;
		if (i && ((im->seg[i - 1].vaddr + im->seg[i - 1].memsz + 4095) & ~4095ULL) >
				 (s->vaddr & ~4095ULL))
			return false;
		if ((s->flags & ELF_PF_X) && im->entry >= s->vaddr && im->entry - s->vaddr < s->memsz)
			entry_ok = true;
	}
	if (im->relro_start > im->relro_end || im->relro_start % 4096 || im->relro_end % 4096)
		return false;
	return entry_ok;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_valid(void)
{
	build();
	expect_ok();
	CHECK_EQ(img.entry, 0x1000);
	CHECK_EQ(img.span, 0x5000);
	CHECK_EQ(img.nseg, 3);
	CHECK_EQ(img.seg[0].vaddr, 0);
	CHECK_EQ(img.seg[0].memsz, 0x500);
	CHECK_EQ(img.seg[0].flags, ELF_PF_R);
	CHECK_EQ(img.seg[1].vaddr, 0x1000);
	CHECK_EQ(img.seg[1].offset, TEXT_OFF);
	CHECK_EQ(img.seg[1].flags, ELF_PF_R | ELF_PF_X);
	CHECK_EQ(img.seg[2].vaddr, DATA_VA);
	CHECK_EQ(img.seg[2].offset, DATA_OFF);
	CHECK_EQ(img.seg[2].filesz, DATA_FILESZ);
	CHECK_EQ(img.seg[2].memsz, DATA_MEMSZ);
	CHECK_EQ(img.seg[2].flags, ELF_PF_R | ELF_PF_W);
	CHECK_EQ(img.relro_start, 0x3000);
	CHECK_EQ(img.relro_end, 0x4000);
	CHECK_EQ(img.rela_offset, RELA_OFF);
	CHECK_EQ(img.nrela, NRELA);
	CHECK(image_sane(&img));

	struct put_log p = { 0 };
	CHECK_EQ(elf_relocate(buf, &img, BASE, record_put, &p), 4);
	CHECK_EQ(p.n, 4);
	static const uint64_t want[4][2] = {
		{ 0x3000, BASE + 0x1000 },
		{ 0x3008, BASE + 0x4000 },
		{ 0x4000, BASE + 0x1010 },
		{ DATA_VA + DATA_MEMSZ - 8, BASE + 0x5000 },
	};
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(p.va[i], want[i][0]);
		CHECK_EQ(p.val[i], want[i][1]);
	}

	/* A diag-less call works too. */
	CHECK_EQ(elf_check(buf, size, &img, NULL), 0);

	/* Program headers in any order: segments come out sorted. */
	build();
	unsigned char tmp[56];
	memcpy(tmp, buf + ph_field(PH_R, 0), 56);
	memcpy(buf + ph_field(PH_R, 0), buf + ph_field(PH_RW, 0), 56);
	memcpy(buf + ph_field(PH_RW, 0), tmp, 56);
	expect_ok();
	CHECK_EQ(img.nseg, 3);
	CHECK_EQ(img.seg[0].vaddr, 0);
	CHECK_EQ(img.seg[1].vaddr, 0x1000);
	CHECK_EQ(img.seg[2].vaddr, DATA_VA);

	/* Extra flag bits (PF_MASKOS) are dropped. */
	build();
	put32(ph_field(PH_RX, PH_FLAGS), 0x0ff00000 | ELF_PF_R | ELF_PF_X);
	expect_ok();
	CHECK_EQ(img.seg[1].flags, ELF_PF_R | ELF_PF_X);

	/* RELRO smaller than a page: nothing to protect. */
	build();
	put64(ph_field(PH_RELRO, PH_MEMSZ), 0x100);
	expect_ok();
	CHECK_EQ(img.relro_start, 0);
	CHECK_EQ(img.relro_end, 0);
	/* ... as when it is the usual [0x3f00-ish, page end) */
	build();
	put64(ph_field(PH_RELRO, PH_MEMSZ), 0x3000 - DATA_VA);
	expect_ok();
	CHECK_EQ(img.relro_start, 0);
	CHECK_EQ(img.relro_end, 0);
	/* No RELRO at all. */
	build();
	put32(ph_field(PH_RELRO, PH_TYPE), PT_NULL);
	expect_ok();
	CHECK_EQ(img.relro_end, 0);

	/* No PT_DYNAMIC, or no DT_RELA: nothing to relocate. */
	build();
	put32(ph_field(PH_DYN, PH_TYPE), PT_NOTE);
	expect_ok();
	CHECK_EQ(img.nrela, 0);
	CHECK_EQ(elf_relocate(buf, &img, BASE, record_put, &p), 0);
	build();
	dyn(0, DT_DEBUG, 0);
	dyn(1, DT_DEBUG, 0);
	expect_ok();
	CHECK_EQ(img.nrela, 0);
	/* DT_RELASZ 0: nothing to relocate either. */
	build();
	dyn(1, DT_RELASZ, 0);
	expect_ok();
	CHECK_EQ(img.nrela, 0);
	/* A dynamic section without DT_NULL ends at its segment's end. */
	build();
	for (unsigned i = 5; i < DYN_SLOTS; i++)
		dyn(i, DT_DEBUG, 0);
	expect_ok();
	CHECK_EQ(img.nrela, NRELA);
	/* Entries after DT_NULL are not read. */
	build();
	dyn(6, DT_NEEDED, 1);
	expect_ok();
	/* DT_REL with size 0 is harmless; DT_FLAGS without DF_TEXTREL too. */
	build();
	dyn(4, DT_RELSZ, 0);
	dyn(5, DT_FLAGS, 0x8); /* DF_BIND_NOW */
	expect_ok();

	/* A PT_LOAD with memsz 0 occupies nothing, whatever its offset. */
	build();
	phdr(PH_NOTE, PT_LOAD, ELF_PF_R, 0xFFFFFFFFFFFF0000ULL, 0x1234, 0, 0);
	expect_ok();
	CHECK_EQ(img.nseg, 3);

	/* Eight loadable segments are fine (five more, each one page of bss). */
	build();
	for (unsigned i = 0; i < 5; i++)
		phdr(NPH + i, PT_LOAD, ELF_PF_R | ELF_PF_W, 0, 0x10000 + i * 0x1000, 0, 0x1000);
	set_phnum(NPH + 5);
	expect_ok();
	CHECK_EQ(img.nseg, 8);
	CHECK_EQ(img.span, 0x15000);
	/* Segments sharing no page but touching: fine. */
	build();
	put64(ph_field(PH_R, PH_MEMSZ), 0x1000);
	expect_ok();
	/* A segment ending exactly at ELF_MAX_SPAN. */
	build();
	put64(ph_field(PH_RW, PH_MEMSZ), ELF_MAX_SPAN - DATA_VA);
	expect_ok();
	CHECK_EQ(img.span, ELF_MAX_SPAN);
}

static void test_header(void)
{
	build();
	size = 63;
	expect_reject("file too short (63 bytes)");
	build();
	size = 0;
	expect_reject("file too short (0 bytes)");

	build();
	buf[1] = 'e';
	expect_reject("bad magic");
	build();
	buf[0] = 0x7e;
	expect_reject("bad magic");

	build();
	buf[4] = 1;
	expect_reject("class 1 is not ELFCLASS64");
	build();
	buf[5] = 2;
	expect_reject("data encoding 2 is not little-endian");
	build();
	buf[6] = 0;
	expect_reject("ident version 0 is not 1");

	build();
	put16(16, 2);
	expect_reject("ET_EXEC (fixed-address executable): a static PIE (ET_DYN) is required");
	build();
	put16(16, 1);
	expect_reject("type 1 is not ET_DYN: a static PIE is required");
	build();
	put16(16, 4);
	expect_reject("type 4 is not ET_DYN");

	build();
	put16(18, 3);
	expect_reject("machine 3 is not x86_64");
	build();
	put32(20, 2);
	expect_reject("version 2 is not 1");

	build();
	put16(54, 64);
	expect_reject("program header entry size 64 (expected 56)");
	build();
	set_phnum(0);
	expect_reject("0 program headers (expected 1 to 64)");
	build();
	set_phnum(65);
	expect_reject("65 program headers (expected 1 to 64)");
	build();
	set_phnum(0xffff);
	expect_reject("65535 program headers");

	build();
	put64(32, FILE_SIZE - 100); /* two entries fit, seven do not */
	expect_reject("program header table (offset 0x301c, 7 entries) is outside the file");
	build();
	put64(32, 0xFFFFFFFFFFFFFFF0ULL); /* offset + size wraps */
	expect_reject("program header table (offset 0xfffffffffffffff0, 7 entries) is outside");
	build();
	put64(32, FILE_SIZE + 1);
	expect_reject("program header table");
}

static void test_segments(void)
{
	/* File range outside the file, plainly and by wrapping. */
	build();
	put64(ph_field(PH_RW, PH_FILESZ), DATA_FILESZ + 1);
	expect_reject("segment 2: file range 0x1f00+0x1181 is outside the file");
	build();
	put64(ph_field(PH_RX, PH_OFFSET), 0xFFFFFFFFFFFFF000ULL);
	expect_reject("segment 1: file range 0xfffffffffffff000+0x40 is outside the file");

	build();
	put64(ph_field(PH_RX, PH_FILESZ), 0x41);
	expect_reject("segment 1: file size 0x41 exceeds memory size 0x40");

	build();
	put64(ph_field(PH_RW, PH_VADDR), 0x2f08);
	expect_reject("segment 2: vaddr 0x2f08 and offset 0x1f00 differ modulo the page size");

	/* Kernel-half addresses, and ranges wrapping or running into it. */
	build();
	put64(ph_field(PH_RW, PH_VADDR), 0xFFFF800000002F00ULL);
	expect_reject("segment 2: 0xffff800000002f00+0x1200 is not in the user half");
	build();
	put64(ph_field(PH_RW, PH_VADDR), 0x7FFFFFFFEF00ULL);
	expect_reject("segment 2: 0x7fffffffef00+0x1200 is not in the user half");
	build();
	put64(ph_field(PH_RW, PH_MEMSZ), 0xFFFFFFFFFFFFF000ULL);
	expect_reject("segment 2: 0x2f00+0xfffffffffffff000 is not in the user half");

	/* Too large. */
	build();
	put64(ph_field(PH_RW, PH_MEMSZ), ELF_MAX_SPAN - DATA_VA + 1);
	expect_reject("segment 2: absurd size (ends at 0x10000001, limit 0x10000000)");
	build();
	put64(ph_field(PH_RW, PH_VADDR), 0x7FFF00000F00ULL);
	expect_reject("segment 2: absurd size");

	/* Nine loadable segments. */
	build();
	for (unsigned i = 0; i < 6; i++)
		phdr(NPH + i, PT_LOAD, ELF_PF_R | ELF_PF_W, 0, 0x10000 + i * 0x1000, 0, 0x1000);
	set_phnum(NPH + 6);
	expect_reject("more than 8 loadable segments");

	/* Overlapping page ranges, named by program header index. */
	build();
	put64(ph_field(PH_R, PH_MEMSZ), 0x1001);
	expect_reject("segments 0 and 1 overlap (pages 0-0x2000 and 0x1000-0x2000)");
	build(); /* in the same page without overlapping bytes: still shared */
	put64(ph_field(PH_RX, PH_VADDR), 0x2000);
	put64(24, 0x2000);
	expect_reject("segments 1 and 2 overlap (pages 0x2000-0x3000 and 0x2000-0x5000)");
	build(); /* after sorting: program header 6 lies inside segment 2 */
	phdr(PH_NOTE, PT_LOAD, ELF_PF_R, 0x2000, 0x4000, 0, 0x10);
	expect_reject("segments 2 and 6 overlap");
	build(); /* the same segment twice */
	memcpy(buf + ph_field(PH_NOTE, 0), buf + ph_field(PH_RX, 0), 56);
	expect_reject("segments 1 and 6 overlap");

	/* No loadable segment. */
	build();
	put32(ph_field(PH_R, PH_TYPE), PT_NULL);
	put32(ph_field(PH_RX, PH_TYPE), PT_NULL);
	put32(ph_field(PH_RW, PH_TYPE), PT_NULL);
	expect_reject("no loadable segment");
	build();
	put64(ph_field(PH_R, PH_MEMSZ), 0);
	put64(ph_field(PH_R, PH_FILESZ), 0);
	put64(ph_field(PH_RX, PH_MEMSZ), 0);
	put64(ph_field(PH_RX, PH_FILESZ), 0);
	put64(ph_field(PH_RW, PH_MEMSZ), 0);
	put64(ph_field(PH_RW, PH_FILESZ), 0);
	expect_reject("no loadable segment");

	/* Dynamic linking and TLS. */
	build();
	put32(ph_field(PH_NOTE, PH_TYPE), PT_INTERP);
	expect_reject("segment 6: PT_INTERP: needs a dynamic linker");
	build();
	put32(ph_field(PH_NOTE, PH_TYPE), PT_TLS);
	expect_reject("segment 6: PT_TLS: thread-local storage not supported");

	/* PT_DYNAMIC. */
	build();
	put64(ph_field(PH_DYN, PH_OFFSET), FILE_SIZE - 0x70);
	expect_reject("PT_DYNAMIC (segment 3) 0x3010+0x80 is outside the file");
	build();
	put64(ph_field(PH_DYN, PH_OFFSET), 0xFFFFFFFFFFFFFFF0ULL);
	expect_reject("PT_DYNAMIC (segment 3) 0xfffffffffffffff0+0x80 is outside the file");
	build();
	put64(ph_field(PH_DYN, PH_FILESZ), 0x78);
	expect_reject("PT_DYNAMIC (segment 3) size 0x78 is not a multiple of 16");
	build();
	memcpy(buf + ph_field(PH_NOTE, 0), buf + ph_field(PH_DYN, 0), 56);
	expect_reject("second PT_DYNAMIC (segment 6)");

	/* PT_GNU_RELRO. */
	build();
	put64(ph_field(PH_RELRO, PH_VADDR), 0x1000);
	put64(ph_field(PH_RELRO, PH_MEMSZ), 0x1000);
	expect_reject("PT_GNU_RELRO 0x1000+0x1000 is not inside a writable segment");
	build(); /* runs past the writable segment */
	put64(ph_field(PH_RELRO, PH_MEMSZ), DATA_MEMSZ + 1);
	expect_reject("PT_GNU_RELRO 0x2f00+0x1201 is not inside a writable segment");
	build(); /* wraps */
	put64(ph_field(PH_RELRO, PH_MEMSZ), 0xFFFFFFFFFFFFF000ULL);
	expect_reject("PT_GNU_RELRO 0x2f00+0xfffffffffffff000 is not inside");
	build();
	memcpy(buf + ph_field(PH_NOTE, 0), buf + ph_field(PH_RELRO, 0), 56);
	expect_reject("second PT_GNU_RELRO (segment 6)");

	/* Entry point. */
	build();
	put64(24, 0x400);
	expect_reject("entry point 0x400 is not in an executable segment");
	build();
	put64(24, 0x1040); /* one past the end of .text */
	expect_reject("entry point 0x1040 is not in an executable segment");
	build();
	put64(24, 0xFFFFFFFFFFFFFFFFULL);
	expect_reject("entry point 0xffffffffffffffff is not in an executable segment");
	build(); /* the executable segment disappears */
	put32(ph_field(PH_RX, PH_FLAGS), ELF_PF_R);
	expect_reject("entry point 0x1000 is not in an executable segment");
}

static void test_dynamic(void)
{
	build();
	dyn(2, DT_RELAENT, 16);
	expect_reject("DT_RELAENT 16 (expected 24)");
	build();
	dyn(4, DT_REL, 0x400);
	dyn(5, DT_RELSZ, 0x10);
	expect_reject("DT_RELSZ 0x10: REL relocations not supported");
	build();
	dyn(4, DT_RELR, 0x400);
	expect_reject("DT_RELR: RELR relocations not supported");
	build();
	dyn(4, DT_NEEDED, 1);
	expect_reject("DT_NEEDED: needs a shared library");
	build();
	dyn(4, DT_TEXTREL, 0);
	expect_reject("DT_TEXTREL: text relocations not supported");
	build();
	dyn(4, DT_FLAGS, 0x4 | 0x8);
	expect_reject("DT_FLAGS has DF_TEXTREL: text relocations not supported");

	build();
	dyn(1, DT_DEBUG, 0);
	expect_reject("DT_RELA without DT_RELASZ");
	build();
	dyn(0, DT_DEBUG, 0);
	expect_reject("DT_RELASZ without DT_RELA");
	build();
	dyn(4, DT_RELA, RELA_OFF);
	expect_reject("dynamic entry 4: duplicate DT_RELA");
	build();
	dyn(4, DT_RELASZ, 24);
	expect_reject("dynamic entry 4: duplicate DT_RELASZ");
	build();
	dyn(4, DT_RELAENT, 24);
	expect_reject("dynamic entry 4: duplicate DT_RELAENT");

	build();
	dyn(1, DT_RELASZ, NRELA * 24 - 1);
	expect_reject("DT_RELASZ 0x77 is not a multiple of 24");
	build();
	dyn(1, DT_RELASZ, (uint64_t)(ELF_MAX_RELAS + 1) * 24);
	expect_reject("too many relocations (1048577, limit 1048576)");
	build();
	dyn(1, DT_RELASZ, 0xFFFFFFFFFFFFFFF0ULL); /* a multiple of 24 */
	expect_reject("too many relocations");

	/* The table must be file data of one segment. */
	build();
	dyn(0, DT_RELA, 0x4100 - 0x18); /* in .bss */
	dyn(1, DT_RELASZ, 24);
	expect_reject("relocation table 0x40e8+0x18 is not inside a segment's file data");
	build();
	dyn(0, DT_RELA, DATA_VA + DATA_FILESZ - 16); /* straddles the end of .data */
	dyn(1, DT_RELASZ, 24);
	expect_reject("relocation table 0x4070+0x18 is not inside a segment's file data");
	build();
	dyn(0, DT_RELA, 0x500 - 24 * 4); /* runs out of the R segment */
	expect_reject("relocation table 0x4a0+0x78 is not inside a segment's file data");
	build();
	dyn(0, DT_RELA, 0x800); /* between segments */
	expect_reject("relocation table 0x800+0x78");
	build();
	dyn(0, DT_RELA, 0xFFFFFFFFFFFFFFF8ULL);
	expect_reject("relocation table 0xfffffffffffffff8+0x78");
	/* ... but it may be anywhere in file data, e.g. .data (translated to a file offset). */
	build();
	memcpy(buf + 0x4010 - DATA_VA + DATA_OFF, buf + RELA_OFF, 2 * 24);
	dyn(0, DT_RELA, 0x4010);
	dyn(1, DT_RELASZ, 2 * 24);
	expect_ok();
	CHECK_EQ(img.rela_offset, 0x4010 - DATA_VA + DATA_OFF);
	CHECK_EQ(img.nrela, 2);
}

static void test_relocations(void)
{
	build();
	put64(rela_field(1, 8), 1); /* R_X86_64_64 */
	expect_reject("relocation 1: unsupported type 1");
	build();
	put64(rela_field(3, 8), 0x700000025ULL); /* R_X86_64_IRELATIVE */
	expect_reject("relocation 3: unsupported type 37");
	build();
	put64(rela_field(2, 8), (3ULL << 32) | 8);
	expect_reject("relocation 2: R_X86_64_RELATIVE with symbol 3");

	build();
	put64(rela_field(0, 0), 0x1008); /* .text */
	expect_reject("relocation 0: offset 0x1008 is not inside a writable segment");
	build();
	put64(rela_field(0, 0), 0x100); /* headers */
	expect_reject("relocation 0: offset 0x100 is not inside a writable segment");
	build();
	put64(rela_field(4, 0), DATA_VA + DATA_MEMSZ - 4); /* straddles the end */
	expect_reject("relocation 4: offset 0x40fc is not inside a writable segment");
	build();
	put64(rela_field(4, 0), 0xFFFFFFFFFFFFFFFCULL);
	expect_reject("relocation 4: offset 0xfffffffffffffffc is not inside a writable segment");
	build();
	put64(rela_field(0, 0), 0x2eff); /* just below .data's segment */
	expect_reject("relocation 0: offset 0x2eff");

	build();
	put64(rela_field(4, 16), 0x5001);
	expect_reject("relocation 4: addend 0x5001 is beyond the image (span 0x5000)");
	build();
	put64(rela_field(1, 16), 0xFFFFFFFFFFFFFFFFULL); /* "negative" */
	expect_reject("relocation 1: addend 0xffffffffffffffff is beyond the image");

	/* A NONE entry's other fields do not matter. */
	build();
	put64(rela_field(3, 0), 0xdeadbeef);
	put64(rela_field(3, 16), 0xFFFFFFFFFFFFFFFFULL);
	expect_ok();
	CHECK_EQ(img.nrela, NRELA);
}

/* Every truncation: no read outside [file, file + len), and no acceptance. */
static void test_truncation(void)
{
	build();
	unsigned rejected = 0, accepted = 0;
	for (size_t cut = 0; cut < FILE_SIZE; cut++) {
		int r = run(cut);
		if (r == -ENOEXEC && l.d.count == 1)
			rejected++;
		else
			accepted++;
	}
	CHECK_EQ(rejected, FILE_SIZE);
	CHECK_EQ(accepted, 0);
	CHECK_EQ(run(FILE_SIZE), 0);
}

/* Random byte flips: never crash; whatever is accepted is sane. */
static void test_fuzz(void)
{
	unsigned accepted = 0, bad_images = 0, bad_puts = 0;
	for (unsigned it = 0; it < 20000; it++) {
		build();
		unsigned flips = 1 + xorshift() % 4;
		for (unsigned k = 0; k < flips; k++) {
			uint64_t x = xorshift();
			size_t pos;
			switch (x % 4) {
			case 0: /* anywhere */
				pos = (x >> 8) % FILE_SIZE;
				break;
			case 1: /* the ELF and program headers */
				pos = (x >> 8) % (PHOFF + NPH * 56);
				break;
			case 2: /* .rela.dyn */
				pos = RELA_OFF + (x >> 8) % (NRELA * 24);
				break;
			default: /* .dynamic */
				pos = DATA_OFF + (x >> 8) % (DYN_SLOTS * 16);
				break;
			}
			uint8_t v = (uint8_t)(x >> 40);
			buf[pos] ^= v ? v : 1;
		}
		if (run(size) != 0) {
			if (l.d.count != 1)
				bad_images++;
			continue;
		}
		accepted++;
		if (!image_sane(&img))
			bad_images++;
		struct fuzz_ctx f = { &img, BASE, 0 };
		elf_relocate(buf, &img, BASE, fuzz_put, &f);
		bad_puts += f.bad;
	}
	CHECK_EQ(bad_images, 0);
	CHECK_EQ(bad_puts, 0);
	CHECK(accepted > 0); /* flips in data or ignored fields stay valid */
	printf("elf fuzz: %u of 20000 accepted\n", accepted);
}

int main(void)
{
	test_valid();
	test_header();
	test_segments();
	test_dynamic();
	test_relocations();
	test_truncation();
	test_fuzz();
	return check_done("elf");
}
