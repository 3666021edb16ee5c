/*
 * Raw page tables (docs/design.md "Raw page tables"). An env's user half is built
 * from capabilities: frames installed in level-1 tables, page tables
 * installed one level up, up to its PML4 -- by the env itself through
 * SYS_MMU_UPDATE, validated entry by entry as Xen validates mmu_update, or
 * by the kernel on its behalf when it loads a program. Each frame has a type
 * and a reference count (frame_type.h); each table keeps, per entry, the
 * capability installed there, so the reverse map is exact and revocation
 * can unmap precisely.
 */
#ifndef KEEL_PT_H
#define KEEL_PT_H

#include "types.h"

struct cap;
struct env;

/* Syscalls. */
i64 pt_frame_alloc(struct env *e);
i64 pt_vrange_alloc(struct env *e, u64 size, u64 align);
i64 pt_retype(struct env *e, u64 slot, u64 level, u64 vbase);
i64 pt_mmu_update(struct env *e, u64 uops, u64 n, u64 udone);

/* At boot: the FRAME, PT and VRANGE capability types, and an env's PML4
 * records (env hooks). */
void pt_init(void);

/* fn(pa) is called whenever a mapping of frame pa is removed or loses its
 * write right (pa 0: a page table's, so anything below it): the upcall
 * area reached through it must be checked (upcall.c). */
void pt_on_unmap(void (*fn)(paddr_t pa));


/* The kernel building an env's memory for it (program loading, tests):
 * a range of the single address space held as a capability ... */
int pt_kvrange(struct env *e, u64 fixed_base, u64 size, u64 align, u64 *base);
/* ... and a fresh frame mapped at va, with the tables it needs, all as
 * capabilities in e's space. flags: PTE_W, pte_nx. Returns the frame. */
int pt_kmap(struct env *e, u64 va, u64 flags, paddr_t *pa);

/* The range capability e holds, with the write right, covering
 * [va, va + len); NULL and *err = -EVRANGE (none) or -ERIGHTS. */
struct cap *pt_vrange_find(struct env *e, u64 va, u64 len, int *err);
/* Check every entry of e's tree against its record, the frame types and
 * references and the rules SYS_MMU_UPDATE enforces; the count of problems
 * (the first few are printed). */
u64 pt_audit(struct env *e);

#endif
