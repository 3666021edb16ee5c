/*
 * What each physical frame is (docs/design.md "Raw page tables"): a type --
 * free, an env's data, a page table of level N, the kernel's -- and a
 * reference count (the page-table entries pointing at it), so a page-table
 * page can never also be mapped as data and a frame changes type only with
 * no references. pt.c keeps them; the slot audit reads them.
 */
#ifndef KEEL_FRAME_TYPE_H
#define KEEL_FRAME_TYPE_H

#include "types.h"

/* Untyped: free, or the kernel's own and never an env's; KERNEL: the
 * kernel's bookkeeping for an env (a table's records); WINDOW: the top of an
 * env's page-table window (copies of its PML4's user half, uvm.c). */
enum frame_type {
	FRAME_UNTYPED,
	FRAME_DATA,
	FRAME_PT1,
	FRAME_PT2,
	FRAME_PT3,
	FRAME_PT4,
	FRAME_KERNEL,
	FRAME_WINDOW,
};

/* One u32 per frame of RAM, made at boot (after the heap). 0 or -ENOMEM. */
int frame_type_init(void);

enum frame_type frame_type(paddr_t pa); /* FRAME_UNTYPED outside RAM */
u32 frame_refs(paddr_t pa);
/* Retype a frame of RAM; false outside RAM. */
bool frame_set_type(paddr_t pa, enum frame_type t);
/* One reference more (+1) or fewer (-1). */
void frame_ref(paddr_t pa, int d);

#endif
