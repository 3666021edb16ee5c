#include "elf.h"
#include "keel/errno.h"
#include "lib/string.h"

#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define DYN_SIZE 16
#define RELA_SIZE 24
#define MAX_PHNUM 64
#define PAGE 4096ULL
#define USER_TOP 0x800000000000ULL /* first address of the kernel half */

#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define EV_CURRENT 1
#define ET_EXEC 2
#define ET_DYN 3
#define EM_X86_64 62

#define PT_LOAD 1
#define PT_DYNAMIC 2
#define PT_INTERP 3
#define PT_TLS 7
#define PT_GNU_RELRO 0x6474e552u

#define DT_NULL 0
#define DT_NEEDED 1
#define DT_RELA 7
#define DT_RELASZ 8
#define DT_RELAENT 9
#define DT_REL 17
#define DT_RELSZ 18
#define DT_TEXTREL 22
#define DT_FLAGS 30
#define DT_RELR 36
#define DF_TEXTREL 0x4

#define R_X86_64_NONE 0
#define R_X86_64_RELATIVE 8

#define ULL(x) ((unsigned long long)(x))

/* Report why and give up: every rejection is one diag line and -ENOEXEC. */
#define REJECT(d, ...)                       \
	do {                                 \
		diag((d), __VA_ARGS__);      \
		return -ENOEXEC;             \
	} while (0)

static u16 rd16(const u8 *p)
{
	u16 v;
	memcpy(&v, p, 2);
	return v;
}

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

/* [off, off + size) lies inside a file of len bytes (no overflow possible). */
static bool in_file(u64 off, u64 size, size_t len)
{
	return off <= len && size <= len - off;
}

struct phdr {
	u32 type, flags;
	u64 offset, vaddr, filesz, memsz;
};

static struct phdr read_phdr(const u8 *p)
{
	return (struct phdr){
		.type = rd32(p),
		.flags = rd32(p + 4),
		.offset = rd64(p + 8),
		.vaddr = rd64(p + 16),
		.filesz = rd64(p + 32),
		.memsz = rd64(p + 40),
	};
}

struct checker {
	const u8 *f;
	size_t len;
	struct diag *d;
	struct elf_image *img;
	unsigned segidx[ELF_MAX_SEGMENTS]; /* program header index of each img->seg */
	u64 phoff;
	unsigned phnum;
	bool have_dyn, have_relro;
	unsigned dyn_idx;
	u64 dyn_off, dyn_size;
	u64 relro_vaddr, relro_memsz;
};

/*
 * The segment holding [va, va + size) inside its first `extent` bytes (its
 * file data if file_backed, else its memory image) and having all of `flags`.
 */
static const struct elf_segment *seg_holding(const struct elf_image *img, u64 va, u64 size,
					     bool file_backed, u32 flags)
{
	for (size_t i = 0; i < img->nseg; i++) {
		const struct elf_segment *s = &img->seg[i];
		u64 extent = file_backed ? s->filesz : s->memsz;
		if ((s->flags & flags) != flags || va < s->vaddr)
			continue;
		u64 rel = va - s->vaddr;
		if (rel <= extent && size <= extent - rel)
			return s;
	}
	return NULL;
}

static int check_ehdr(struct checker *c)
{
	const u8 *f = c->f;
	struct diag *d = c->d;

	if (c->len < EHDR_SIZE)
		REJECT(d, "elf: file too short (%zu bytes) for an ELF header", c->len);
	if (memcmp(f, "\x7f" "ELF", 4) != 0)
		REJECT(d, "elf: bad magic: not an ELF file");
	if (f[EI_CLASS] != ELFCLASS64)
		REJECT(d, "elf: class %u is not ELFCLASS64 (64-bit)", f[EI_CLASS]);
	if (f[EI_DATA] != ELFDATA2LSB)
		REJECT(d, "elf: data encoding %u is not little-endian", f[EI_DATA]);
	if (f[EI_VERSION] != EV_CURRENT)
		REJECT(d, "elf: ident version %u is not 1", f[EI_VERSION]);

	u16 type = rd16(f + 16), machine = rd16(f + 18);
	u32 version = rd32(f + 20);
	if (type == ET_EXEC)
		REJECT(d, "elf: type ET_EXEC (fixed-address executable): a static PIE (ET_DYN) is required");
	if (type != ET_DYN)
		REJECT(d, "elf: type %u is not ET_DYN: a static PIE is required", type);
	if (machine != EM_X86_64)
		REJECT(d, "elf: machine %u is not x86_64 (62)", machine);
	if (version != EV_CURRENT)
		REJECT(d, "elf: version %u is not 1", version);

	u16 phentsize = rd16(f + 54), phnum = rd16(f + 56);
	u64 phoff = rd64(f + 32);
	if (phentsize != PHDR_SIZE)
		REJECT(d, "elf: program header entry size %u (expected %u)", phentsize, PHDR_SIZE);
	if (phnum < 1 || phnum > MAX_PHNUM)
		REJECT(d, "elf: %u program headers (expected 1 to %u)", phnum, MAX_PHNUM);
	if (!in_file(phoff, (u64)phnum * PHDR_SIZE, c->len))
		REJECT(d, "elf: program header table (offset %#llx, %u entries) is outside the file",
		       ULL(phoff), phnum);
	c->phoff = phoff;
	c->phnum = phnum;
	c->img->entry = rd64(f + 24);
	return 0;
}

static int check_load(struct checker *c, unsigned i, const struct phdr *p)
{
	struct diag *d = c->d;
	struct elf_image *img = c->img;

	if (p->filesz > p->memsz)
		REJECT(d, "elf: segment %u: file size %#llx exceeds memory size %#llx", i,
		       ULL(p->filesz), ULL(p->memsz));
	if (p->memsz == 0)
		return 0; /* occupies nothing */
	if (!in_file(p->offset, p->filesz, c->len))
		REJECT(d, "elf: segment %u: file range %#llx+%#llx is outside the file (%zu bytes)", i,
		       ULL(p->offset), ULL(p->filesz), c->len);
	if (p->vaddr % PAGE != p->offset % PAGE)
		REJECT(d, "elf: segment %u: vaddr %#llx and offset %#llx differ modulo the page size",
		       i, ULL(p->vaddr), ULL(p->offset));
	if (p->vaddr >= USER_TOP || p->memsz >= USER_TOP - p->vaddr)
		REJECT(d, "elf: segment %u: %#llx+%#llx is not in the user half", i, ULL(p->vaddr),
		       ULL(p->memsz));
	if (p->vaddr + p->memsz > ELF_MAX_SPAN)
		REJECT(d, "elf: segment %u: absurd size (ends at %#llx, limit %#llx)", i,
		       ULL(p->vaddr + p->memsz), ULL(ELF_MAX_SPAN));
	if (img->nseg == ELF_MAX_SEGMENTS)
		REJECT(d, "elf: more than %u loadable segments", ELF_MAX_SEGMENTS);
	c->segidx[img->nseg] = i;
	img->seg[img->nseg++] = (struct elf_segment){
		.vaddr = p->vaddr,
		.memsz = p->memsz,
		.offset = p->offset,
		.filesz = p->filesz,
		.flags = p->flags & (ELF_PF_R | ELF_PF_W | ELF_PF_X),
	};
	return 0;
}

static int check_phdrs(struct checker *c)
{
	struct diag *d = c->d;
	int r;

	for (unsigned i = 0; i < c->phnum; i++) {
		struct phdr p = read_phdr(c->f + c->phoff + (u64)i * PHDR_SIZE);
		switch (p.type) {
		case PT_LOAD:
			if ((r = check_load(c, i, &p)))
				return r;
			break;
		case PT_INTERP:
			REJECT(d, "elf: segment %u: PT_INTERP: needs a dynamic linker", i);
		case PT_TLS:
			REJECT(d, "elf: segment %u: PT_TLS: thread-local storage not supported", i);
		case PT_DYNAMIC:
			if (c->have_dyn)
				REJECT(d, "elf: second PT_DYNAMIC (segment %u)", i);
			if (!in_file(p.offset, p.filesz, c->len))
				REJECT(d, "elf: PT_DYNAMIC (segment %u) %#llx+%#llx is outside the file",
				       i, ULL(p.offset), ULL(p.filesz));
			if (p.filesz % DYN_SIZE)
				REJECT(d, "elf: PT_DYNAMIC (segment %u) size %#llx is not a multiple of %u",
				       i, ULL(p.filesz), DYN_SIZE);
			c->have_dyn = true;
			c->dyn_idx = i;
			c->dyn_off = p.offset;
			c->dyn_size = p.filesz;
			break;
		case PT_GNU_RELRO:
			if (c->have_relro)
				REJECT(d, "elf: second PT_GNU_RELRO (segment %u)", i);
			c->have_relro = true;
			c->relro_vaddr = p.vaddr;
			c->relro_memsz = p.memsz;
			break;
		default:
			break; /* PT_NOTE, PT_PHDR, PT_GNU_STACK, PT_GNU_EH_FRAME, ... */
		}
	}
	if (!c->img->nseg)
		REJECT(d, "elf: no loadable segment");
	return 0;
}

/* Sort by vaddr, insist the page ranges are disjoint, and compute the span. */
static int check_layout(struct checker *c)
{
	struct elf_image *img = c->img;

	for (size_t i = 1; i < img->nseg; i++) {
		struct elf_segment s = img->seg[i];
		unsigned idx = c->segidx[i];
		size_t j = i;
		for (; j > 0 && img->seg[j - 1].vaddr > s.vaddr; j--) {
			img->seg[j] = img->seg[j - 1];
			c->segidx[j] = c->segidx[j - 1];
		}
		img->seg[j] = s;
		c->segidx[j] = idx;
	}
	/* Every segment ends below ELF_MAX_SPAN, so none of this can overflow. */
	for (size_t i = 1; i < img->nseg; i++) {
		const struct elf_segment *a = &img->seg[i - 1], *b = &img->seg[i];
		u64 a_lo = ALIGN_DOWN(a->vaddr, PAGE), a_hi = ALIGN_UP(a->vaddr + a->memsz, PAGE);
		u64 b_lo = ALIGN_DOWN(b->vaddr, PAGE), b_hi = ALIGN_UP(b->vaddr + b->memsz, PAGE);
		if (a_hi > b_lo)
			REJECT(c->d,
			       "elf: segments %u and %u overlap (pages %#llx-%#llx and %#llx-%#llx)",
			       c->segidx[i - 1], c->segidx[i], ULL(a_lo), ULL(a_hi), ULL(b_lo),
			       ULL(b_hi));
	}
	const struct elf_segment *last = &img->seg[img->nseg - 1];
	img->span = ALIGN_UP(last->vaddr + last->memsz, PAGE);
	return 0;
}

static int check_entry_relro(struct checker *c)
{
	struct elf_image *img = c->img;

	if (!seg_holding(img, img->entry, 1, false, ELF_PF_X))
		REJECT(c->d, "elf: entry point %#llx is not in an executable segment", ULL(img->entry));
	if (!c->have_relro || c->relro_memsz == 0)
		return 0;
	if (!seg_holding(img, c->relro_vaddr, c->relro_memsz, false, ELF_PF_W))
		REJECT(c->d, "elf: PT_GNU_RELRO %#llx+%#llx is not inside a writable segment",
		       ULL(c->relro_vaddr), ULL(c->relro_memsz));
	/* Inside a segment, so below ELF_MAX_SPAN: no overflow. */
	u64 start = ALIGN_UP(c->relro_vaddr, PAGE);
	u64 end = ALIGN_DOWN(c->relro_vaddr + c->relro_memsz, PAGE);
	if (start < end) {
		img->relro_start = start;
		img->relro_end = end;
	}
	return 0;
}

static int check_dynamic(struct checker *c)
{
	struct diag *d = c->d;
	struct elf_image *img = c->img;
	bool have_rela = false, have_relasz = false, have_relaent = false;
	u64 rela = 0, relasz = 0;

	if (!c->have_dyn)
		return 0;
	for (u64 i = 0; i < c->dyn_size / DYN_SIZE; i++) {
		const u8 *e = c->f + c->dyn_off + i * DYN_SIZE;
		u64 tag = rd64(e), val = rd64(e + 8);
		if (tag == DT_NULL)
			break;
		switch (tag) {
		case DT_RELA:
			if (have_rela)
				REJECT(d, "elf: dynamic entry %llu: duplicate DT_RELA", ULL(i));
			have_rela = true;
			rela = val;
			break;
		case DT_RELASZ:
			if (have_relasz)
				REJECT(d, "elf: dynamic entry %llu: duplicate DT_RELASZ", ULL(i));
			have_relasz = true;
			relasz = val;
			break;
		case DT_RELAENT:
			if (have_relaent)
				REJECT(d, "elf: dynamic entry %llu: duplicate DT_RELAENT", ULL(i));
			have_relaent = true;
			if (val != RELA_SIZE)
				REJECT(d, "elf: DT_RELAENT %llu (expected %u)", ULL(val), RELA_SIZE);
			break;
		case DT_RELSZ:
			if (val)
				REJECT(d, "elf: DT_RELSZ %#llx: REL relocations not supported", ULL(val));
			break;
		case DT_RELR:
			REJECT(d, "elf: DT_RELR: RELR relocations not supported");
		case DT_NEEDED:
			REJECT(d, "elf: DT_NEEDED: needs a shared library");
		case DT_TEXTREL:
			REJECT(d, "elf: DT_TEXTREL: text relocations not supported");
		case DT_FLAGS:
			if (val & DF_TEXTREL)
				REJECT(d, "elf: DT_FLAGS has DF_TEXTREL: text relocations not supported");
			break;
		default:
			break;
		}
	}
	if (have_rela && !have_relasz)
		REJECT(d, "elf: DT_RELA without DT_RELASZ");
	if (have_relasz && !have_rela)
		REJECT(d, "elf: DT_RELASZ without DT_RELA");
	if (!have_rela)
		return 0;
	if (relasz % RELA_SIZE)
		REJECT(d, "elf: DT_RELASZ %#llx is not a multiple of %u", ULL(relasz), RELA_SIZE);
	if (relasz / RELA_SIZE > ELF_MAX_RELAS)
		REJECT(d, "elf: too many relocations (%llu, limit %u)", ULL(relasz / RELA_SIZE),
		       ELF_MAX_RELAS);
	if (relasz == 0)
		return 0;
	const struct elf_segment *s = seg_holding(img, rela, relasz, true, 0);
	if (!s)
		REJECT(d, "elf: relocation table %#llx+%#llx is not inside a segment's file data",
		       ULL(rela), ULL(relasz));
	img->rela_offset = s->offset + (rela - s->vaddr);
	img->nrela = relasz / RELA_SIZE;
	return 0;
}

static int check_relas(struct checker *c)
{
	struct diag *d = c->d;
	const struct elf_image *img = c->img;
	const u8 *r = c->f + img->rela_offset;

	for (u64 i = 0; i < img->nrela; i++, r += RELA_SIZE) {
		u64 off = rd64(r), info = rd64(r + 8), addend = rd64(r + 16);
		u32 type = (u32)info, sym = (u32)(info >> 32);
		if (type == R_X86_64_NONE)
			continue;
		if (type != R_X86_64_RELATIVE)
			REJECT(d, "elf: relocation %llu: unsupported type %u", ULL(i), type);
		if (sym != 0)
			REJECT(d, "elf: relocation %llu: R_X86_64_RELATIVE with symbol %u", ULL(i), sym);
		if (!seg_holding(img, off, 8, false, ELF_PF_W))
			REJECT(d, "elf: relocation %llu: offset %#llx is not inside a writable segment",
			       ULL(i), ULL(off));
		if (addend > img->span)
			REJECT(d, "elf: relocation %llu: addend %#llx is beyond the image (span %#llx)",
			       ULL(i), ULL(addend), ULL(img->span));
	}
	return 0;
}

int elf_check(const u8 *file, size_t len, struct elf_image *out, struct diag *d)
{
	struct checker c = { .f = file, .len = len, .d = d, .img = out };
	int r;

	memset(out, 0, sizeof *out);
	if ((r = check_ehdr(&c)) || (r = check_phdrs(&c)) || (r = check_layout(&c)) ||
	    (r = check_entry_relro(&c)) || (r = check_dynamic(&c)) || (r = check_relas(&c))) {
		memset(out, 0, sizeof *out); /* nothing half-checked escapes */
		return r;
	}
	return 0;
}

u64 elf_relocate(const u8 *file, const struct elf_image *img, u64 base,
		 void (*put)(void *ctx, u64 vaddr, u64 value), void *ctx)
{
	const u8 *r = file + img->rela_offset;
	u64 n = 0;

	for (u64 i = 0; i < img->nrela; i++, r += RELA_SIZE) {
		if ((u32)rd64(r + 8) != R_X86_64_RELATIVE)
			continue; /* R_X86_64_NONE: elf_check allowed nothing else */
		put(ctx, rd64(r), base + rd64(r + 16));
		n++;
	}
	return n;
}
