/*
 * Loading a program into a new environment. The ELF image (a multiboot2
 * module) is validated completely by elf_check() before anything is built;
 * then the program gets a range of the single address space of its own, so
 * its addresses are unique among all envs, and is relocated there.
 */
#include "arch/x86_64/paging.h"
#include "console.h"
#include "elf.h"
#include "env.h"
#include "frame.h"
#include "keel/abi.h"
#include "keel/errno.h"
#include "lib/fmt.h"
#include "lib/string.h"
#include "panic.h"
#include "pt.h"
#include "slot.h"
#include "slot_audit.h"
#include "uvm.h"
#include "vrange.h"
#include "cpu_features.h"

#define STACK_SIZE (64 * 1024)

static void print_diag(void *ctx, const char *line) { kprintf("env: cannot load %s: %s\n", (const char *)ctx, line); }

/* Map the segment's pages with fresh zeroed frames -- capabilities in the
 * env's own space, like everything it holds -- and copy in the file bytes. */
static int map_segment(struct env *e, u64 base, const struct elf_segment *s, const u8 *file)
{
	u64 first = ALIGN_DOWN(s->vaddr, PAGE_SIZE), end = ALIGN_UP(s->vaddr + s->memsz, PAGE_SIZE);
	u64 flags = (s->flags & ELF_PF_W ? PTE_W : 0) | (s->flags & ELF_PF_X ? 0 : pte_nx);
	for (u64 p = first; p < end; p += PAGE_SIZE) {
		paddr_t pa;
		int err = pt_kmap(e, base + p, flags, &pa);
		if (err)
			return err;
		/* The file-backed bytes of [p, p + PAGE_SIZE). */
		u64 lo = MAX(p, s->vaddr), hi = MIN(p + PAGE_SIZE, s->vaddr + s->filesz);
		if (lo < hi)
			memcpy((u8 *)pa_to_va(pa) + (lo - p), file + s->offset + (lo - s->vaddr), hi - lo);
	}
	return 0;
}

struct reloc_ctx {
	struct env *e;
	u64 base;
	int err;
};

static void put_reloc(void *vctx, u64 vaddr, u64 value)
{
	struct reloc_ctx *c = vctx;
	if (!c->err)
		c->err = uvm_poke(c->e->pml4, c->base + vaddr, &value, sizeof value);
}

static int build(struct env *e, const u8 *file, size_t len, const struct elf_image *img, const char *args)
{
	/* The image, relocated to a range of the single address space. */
	u64 base;
	int err = pt_kvrange(e, 0, img->span, 0, &base);
	if (err < 0)
		return err;
	for (size_t i = 0; i < img->nseg; i++)
		if ((err = map_segment(e, base, &img->seg[i], file)))
			return err;
	struct reloc_ctx rc = { e, base, 0 };
	elf_relocate(file, img, base, put_reloc, &rc);
	if (rc.err)
		return rc.err;
	for (u64 p = img->relro_start; p < img->relro_end; p += PAGE_SIZE)
		uvm_protect(e->pml4, base + p, pte_nx); /* read-only after relocation */
	e->image_base = base;
	e->image_size = img->span;

	/* The stack, with the start-up information at its top. */
	u64 stack;
	if ((err = pt_kvrange(e, 0, STACK_SIZE, 0, &stack)) < 0)
		return err;
	for (u64 p = stack; p < stack + STACK_SIZE; p += PAGE_SIZE)
		if ((err = pt_kmap(e, p, PTE_W | pte_nx, NULL)))
			return err;
	e->stack_base = stack;
	e->stack_size = STACK_SIZE;
	struct keel_start si = {
		.magic = KEEL_START_MAGIC,
		.env_id = e->id,
		.image_base = base,
		.image_size = img->span,
		.stack_base = stack,
		.stack_size = STACK_SIZE,
	};
	fmt_snprintf(si.name, sizeof si.name, "%s", e->name);
	fmt_snprintf(si.args, sizeof si.args, "%s", args ? args : "");
	u64 si_va = ALIGN_DOWN(stack + STACK_SIZE - sizeof si, 16);
	if ((err = uvm_poke(e->pml4, si_va, &si, sizeof si)))
		return err;

	e->d0.ctx.rip = base + img->entry;
	e->d0.ctx.rsp = si_va;
	e->d0.ctx.rdi = si_va;
	return 0;
}

int env_create(const char *name, const u8 *file, size_t len, const char *args, struct env **out)
{
	struct elf_image img;
	struct diag d = { print_diag, (void *)name, 0 };
	if (elf_check(file, len, &img, &d))
		return -ENOEXEC;

	struct env *e;
	int err = env_create_empty(name, &e);
	if (err)
		return err;
	if ((err = build(e, file, len, &img, args))) {
		env_destroy(e);
		return err;
	}
	/* Invariant 6: audit every new address space before it is ever loaded. */
	if (slot_audit(e->pml4, e->name, false))
		panic("slot audit failed for env %u (%s)", e->id, e->name);
	*out = e;
	return 0;
}
