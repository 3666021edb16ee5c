/*
 * ELF64 user programs: a pure, defensive validator and relocator. Keel runs
 * static PIEs (ET_DYN, x86_64, only R_X86_64_RELATIVE relocations) that the
 * kernel loads at a page-aligned base of its choosing. The file is hostile:
 * elf_check reads only inside [file, file + len), checks every field it uses
 * with overflow-safe arithmetic, and says through a diag why it rejects one.
 */
#ifndef KEEL_ELF_H
#define KEEL_ELF_H

#include "types.h"
#include "lib/diag.h"

#define ELF_MAX_SEGMENTS 8
#define ELF_MAX_SPAN (256ULL << 20)   /* a program spans at most 256 MiB of address space */
#define ELF_MAX_RELAS (1u << 20)

#define ELF_PF_X 1
#define ELF_PF_W 2
#define ELF_PF_R 4

struct elf_segment {
	u64 vaddr, memsz, offset, filesz;
	u32 flags;
};

struct elf_image {
	u64 entry;      /* relative to a load base of 0 */
	u64 span;       /* page-aligned end of the highest segment: bytes of address space needed */
	struct elf_segment seg[ELF_MAX_SEGMENTS];
	size_t nseg;    /* PT_LOAD segments with memsz > 0, sorted by vaddr, page-disjoint */
	u64 relro_start, relro_end; /* PT_GNU_RELRO shrunk inward to whole pages; both 0 if none */
	u64 rela_offset; /* file offset of the Elf64_Rela array */
	u64 nrela;
};

/* Validate everything (headers, segments, dynamic section, every relocation). 0 or -ENOEXEC, with one diag line saying why (prefix "elf: "). */
int elf_check(const u8 *file, size_t len, struct elf_image *out, struct diag *d);

/* For a load at `base`: call put(ctx, vaddr, base + addend) for every R_X86_64_RELATIVE (vaddr relative to base 0; R_X86_64_NONE entries skipped). Only valid after elf_check returned 0 for the same file. Returns the number applied. */
u64 elf_relocate(const u8 *file, const struct elf_image *img, u64 base,
		 void (*put)(void *ctx, u64 vaddr, u64 value), void *ctx);

#endif
