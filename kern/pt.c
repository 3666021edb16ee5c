#include "pt.h"
#include "tlb.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "cap.h"
#include "console.h"
#include "env.h"
#include "frame.h"
#include "frame_type.h"
#include "heap.h"
#include "keel/abi.h"
#include "keel/errno.h"
#include "lib/string.h"
#include "panic.h"
#include "slot.h"
#include "slot_audit.h"
#include "uaccess.h"
#include "vrange.h"
#include "cpu_features.h"

/* ----------------------------------------------------- objects and caps */

/* A fresh zeroed frame charged to e, typed `t`. */
static paddr_t new_frame(struct env *e, enum frame_type t)
{
	if (quota_charge_frames(e, 1))
		return 0;
	paddr_t pa = frame_alloc_zeroed();
	if (!pa || !frame_set_type(pa, t)) {
		if (pa)
			frame_free(pa);
		quota_release_frames(e, 1);
		return 0;
	}
	return pa;
}

static void free_frame(struct env *e, paddr_t pa)
{
	tlb_sync(); /* no CPU may still reach it when it is reused */
	frame_set_type(pa, FRAME_UNTYPED);
	frame_free(pa);
	if (e)
		quota_release_frames(e, 1);
}

static struct cap *new_cap(u8 type, u8 rights)
{
	struct cap *c = kzalloc(sizeof *c);
	if (c) {
		c->type = type;
		c->rights = rights;
	}
	return c;
}

/* A root capability for a fresh zeroed data frame charged to e, or NULL. */
/* The bookkeeping first (the capability, then the frame): when memory runs
 * out, the last free frame goes to the caller's data rather than to a
 * record that is freed again. */
static struct cap *new_frame_cap(struct env *e)
{
	struct cap *c = new_cap(KEEL_CAP_FRAME, KEEL_R_ALL);
	if (!c)
		return NULL;
	paddr_t pa = new_frame(e, FRAME_DATA);
	if (!pa) {
		kfree(c);
		return NULL;
	}
	c->base = pa;
	c->size = PAGE_SIZE;
	return c;
}

/* Make c's object a page table of `level` bound to vbase: records page. */
static int make_table(struct env *e, struct cap *c, u64 level, u64 vbase)
{
	if (e->frames_charged >= e->quota_frames)
		return -EDQUOT;
	paddr_t recs = new_frame(e, FRAME_KERNEL);
	if (!recs)
		return -ENOMEM;
	memset(pa_to_va(c->base), 0, PAGE_SIZE);
	frame_set_type(c->base, (enum frame_type)(FRAME_PT1 + level - 1));
	c->type = KEEL_CAP_PT;
	c->level = (u8)level;
	c->vbase = vbase;
	c->pt_recs = pa_to_va(recs);
	return 0;
}

i64 pt_frame_alloc(struct env *e)
{
	if (e->frames_charged >= e->quota_frames)
		return -EDQUOT;
	struct cap *c = new_frame_cap(e);
	if (!c)
		return -ENOMEM;
	int slot = cap_insert_root(e, c);
	if (slot < 0) {
		free_frame(e, c->base);
		kfree(c);
	}
	return slot;
}

int pt_kvrange(struct env *e, u64 fixed_base, u64 size, u64 align, u64 *base)
{
	size = ALIGN_UP(size, PAGE_SIZE);
	if (size > e->quota_vspace - e->vspace_charged)
		return -EDQUOT;
	u64 b = fixed_base;
	if (fixed_base) {
		int err = vrange_reserve(fixed_base, size, e->id);
		if (err)
			return err;
	} else if (!(b = vrange_alloc(size, align, e->id))) {
		return -ENOMEM;
	}
	struct cap *c = new_cap(KEEL_CAP_VRANGE, KEEL_R_ALL);
	if (!c) {
		vrange_free(b);
		return -ENOMEM;
	}
	c->base = b;
	c->size = size;
	int slot = cap_insert_root(e, c);
	if (slot < 0) {
		vrange_free(b);
		kfree(c);
		return slot;
	}
	e->vspace_charged += size;
	*base = b;
	return slot;
}

i64 pt_vrange_alloc(struct env *e, u64 size, u64 align)
{
	if (size == 0 || size > (1ULL << 40) || (align & (align - 1)) || align > (1ULL << 30))
		return -EINVAL;
	u64 base;
	return pt_kvrange(e, 0, size, align, &base);
}

i64 pt_retype(struct env *e, u64 slot, u64 level, u64 vbase)
{
	int err;
	struct cap *c = cap_lookup(e, slot, 0, KEEL_R_READ | KEEL_R_WRITE, &err);
	if (!c)
		return err;
	if (c->type == KEEL_CAP_PT)
		return -ETYPE;
	if (c->type != KEEL_CAP_FRAME)
		return -ETYPE;
	if (!c->root || c->children || c->map_pte || frame_refs(c->base))
		return -EREFS; /* only an unshared, unmapped frame changes type */
	if (level < 1 || level > 3)
		return -ELEVEL;
	u64 span = level_size((int)level + 1); /* what one table of this level covers */
	if (vbase % span || vbase >= USER_END || vbase + span > USER_END)
		return -EINVAL;
	if (pt_index(vbase, 4) == KEEL_PT_WINDOW_SLOT)
		return -EWINDOW;
	return make_table(e, c, level, vbase);
}

/* --------------------------------------------------------------- ranges */

static void pt_uninstall(struct cap *c);

static void (*unmapped_hook)(paddr_t pa);

void pt_on_unmap(void (*fn)(paddr_t pa)) { unmapped_hook = fn; }

/* A mapping of frame pa (0: of a page table, so of anything below it) went
 * away or lost its write right: whoever reached memory through it hears. */
static void unmapped(paddr_t pa)
{
	if (unmapped_hook)
		unmapped_hook(pa);
}

static bool covers(const struct cap *c, u64 va, u64 len)
{
	return va >= c->base && len <= c->size && va - c->base <= c->size - len;
}

struct cap *pt_vrange_find(struct env *e, u64 va, u64 len, int *err)
{
	struct cap *h = e->pt.vrange_hint; /* mappings come in runs: try the last range first */
	if (h && covers(h, va, len) && (h->rights & KEEL_R_WRITE))
		return h;
	*err = -EVRANGE;
	for (struct hnode *n = e->pt.vranges; n; n = n->next) {
		struct cap *c = hnode_entry(n, struct cap, in_holder);
		if (!covers(c, va, len))
			continue;
		if (c->rights & KEEL_R_WRITE)
			return e->pt.vrange_hint = c;
		*err = -ERIGHTS; /* held, but without the right to map into it */
	}
	return NULL;
}

static void pt_vrange_drop(struct cap *r)
{
	while (r->range_maps)
		pt_uninstall(hnode_entry(r->range_maps, struct cap, in_range));
	if (r->owner->pt.vrange_hint == r)
		r->owner->pt.vrange_hint = NULL;
}

/* ---------------------------------------------------- install / remove */

/*
 * Every store to an installed entry goes through here: an entry of a PML4's
 * user half has a copy in the window's top (uvm.c), which must show exactly
 * what the PML4 holds -- its accessed bit aside, which the MMU sets in the
 * PML4 only.
 */
static void set_entry(struct cap *c, u64 entry)
{
	*c->map_pte = entry;
	if (c->map_mirror)
		*c->map_mirror = entry;
}

/*
 * An installed entry another CPU's MMU may be using: it sets the accessed
 * and dirty bits as it goes, so the entry changes by an atomic exchange
 * (a read, then a store, would lose a bit set in between); the new entry
 * keeps the old A and D bits. Returns the entry it replaced.
 */
static u64 swap_entry(struct cap *c, u64 entry)
{
	u64 old = __atomic_load_n(c->map_pte, __ATOMIC_RELAXED);
	u64 want;
	do
		want = entry | (old & (PTE_A | PTE_D));
	while (!__atomic_compare_exchange_n(c->map_pte, &old, want, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	if (c->map_mirror)
		*c->map_mirror = want;
	return old;
}

/* The window's copy of PML4 entry `index` of e. */
static u64 *window_entry(struct env *e, unsigned index)
{
	ASSERT(index < 256 && index != KEEL_PT_WINDOW_SLOT);
	return &((u64 *)pa_to_va(e->pt_window))[index];
}

static void install(struct cap *c, u64 *table, struct cap **recs, unsigned index, u64 entry, u64 va,
		    struct cap *range, u64 *mirror)
{
	recs[index] = c;
	c->map_pte = &table[index];
	c->map_mirror = mirror;
	set_entry(c, entry);
	c->map_rec = &recs[index];
	c->map_va = va;
	if (range) {
		c->map_range = range;
		hnode_add(&range->range_maps, &c->in_range);
	}
	frame_ref(c->base, +1);
	/* A not-present entry is never cached in a TLB: nothing to flush. */
}

static void pt_uninstall(struct cap *c)
{
	u64 old = __atomic_exchange_n(c->map_pte, 0, __ATOMIC_ACQ_REL); /* (swap_entry's reason) */
	if (c->map_mirror)
		*c->map_mirror = 0;
	*c->map_rec = NULL;
	c->map_pte = NULL;
	c->map_mirror = NULL;
	c->map_rec = NULL;
	if (c->map_range) {
		hnode_del(&c->in_range);
		c->map_range = NULL;
	}
	frame_ref(c->base, -1);
	/* A leaf: that page; a table: everything under it -- a CR3 reload
	 * (kernel mappings are global and stay) -- here now, on the other
	 * CPUs by the caller's tlb_sync (tlb.h). Then an upcall area that was
	 * reached through it is one no longer. */
	if (c->type == KEEL_CAP_FRAME) {
		tlb_user_page(c->map_va);
		if (old & PTE_P)
			unmapped(c->base);
	} else {
		tlb_user_all();
		unmapped(0);
	}
}

/* ------------------------------------------------- the capability types */
/* What pt.c does as FRAME, PT and VRANGE capabilities come and go (cap.h). */

static void mapped_gone(struct cap *c)
{
	if (c->map_pte)
		pt_uninstall(c);
}

static void frame_release(struct cap *c)
{
	ASSERT(!frame_refs(c->base));
	free_frame(c->payer, c->base);
}

static void table_release(struct cap *c)
{
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		if (c->pt_recs[i])
			pt_uninstall(c->pt_recs[i]);
	ASSERT(!frame_refs(c->base));
	free_frame(c->payer, direct_va_to_pa(c->pt_recs));
	free_frame(c->payer, c->base);
}

static void vrange_placed(struct cap *c) { hnode_add(&c->owner->pt.vranges, &c->in_holder); }

static void vrange_gone(struct cap *c)
{
	pt_vrange_drop(c); /* what was mapped under it goes with it */
	hnode_del(&c->in_holder);
}

static void vrange_release(struct cap *c)
{
	vrange_free(c->base);
	if (c->payer)
		c->payer->vspace_charged -= c->size;
}

static const struct cap_type_ops frame_ops = { .gone = mapped_gone, .release = frame_release };
static const struct cap_type_ops table_ops = { .gone = mapped_gone, .release = table_release };
static const struct cap_type_ops vrange_ops = { .placed = vrange_placed, .gone = vrange_gone, .release = vrange_release };

static int pt_env_init(struct env *e);
static void pt_env_fini(struct env *e);
static const struct env_hooks pt_hooks = { .init = pt_env_init, .fini = pt_env_fini };

void pt_init(void)
{
	env_register(&pt_hooks);
	cap_register_type(KEEL_CAP_FRAME, &frame_ops);
	cap_register_type(KEEL_CAP_PT, &table_ops);
	cap_register_type(KEEL_CAP_VRANGE, &vrange_ops);
}

/* The entry pointing at table capability c: what its rights allow below. */
static u64 table_entry(const struct cap *c)
{
	return c->base | PTE_P | PTE_U | (c->rights & KEEL_R_WRITE ? PTE_W : 0) |
	       (c->rights & KEEL_R_EXEC ? 0 : pte_nx);
}

/* One update, validated in full before anything changes. A new frame
 * (KEEL_CAP_NEW) is made last, when nothing can refuse any more: its slot
 * goes to *made. */
static int mmu_one(struct env *e, const struct keel_mmu_op *op, u32 *made)
{
	int err;
	u64 *table;
	struct cap **recs;
	u64 tvbase;
	int level;
	if (op->table == KEEL_TABLE_PML4) {
		table = pa_to_va(e->pml4);
		recs = e->pt.recs;
		tvbase = 0;
		level = 4;
	} else {
		struct cap *t = cap_lookup(e, op->table, 0, 0, &err);
		if (!t)
			return -EBADTABLE;
		if (t->type != KEEL_CAP_PT)
			return -ETYPE;
		if (!(t->rights & KEEL_R_WRITE))
			return -ERIGHTS; /* changing a table's entries needs write on it */
		table = pa_to_va(t->base);
		recs = t->pt_recs;
		tvbase = t->vbase;
		level = t->level;
	}
	if (op->index >= PT_ENTRIES)
		return -EINDEX;
	if (level == 4) {
		if (op->index == KERNEL_SLOT)
			return -ESLOT511;
		if (op->index >= 256)
			return -EKHALF;
		if (op->index == KEEL_PT_WINDOW_SLOT)
			return -EWINDOW;
	}
	u64 va = tvbase + (u64)op->index * level_size(level);
	struct cap *range = NULL;

	if (op->cap == KEEL_CAP_NONE || op->cap == KEEL_CAP_FREE) {
		struct cap *m = recs[op->index];
		if (!m)
			return -ENOENT;
		if (op->cap == KEEL_CAP_NONE) {
			pt_uninstall(m);
			return 0;
		}
		/* ... and the frame capability that mapped it goes too, as
		 * SYS_CAP_DELETE of its slot would (which unmaps it): only a
		 * frame, and only one the caller holds itself. */
		if (m->type != KEEL_CAP_FRAME)
			return -ETYPE;
		if (m->owner != e)
			return -EPERM;
		return cap_delete(e, m->slot);
	}
	if (op->flags & KEEL_MAP_NOUSER)
		return -EUSER;
	if (op->flags & KEEL_MAP_GLOBAL)
		return -EGLOBAL;
	if (op->flags & (KEEL_MAP_PCD | KEEL_MAP_PWT))
		return -EMEMTYPE;
	if (op->flags & ~(KEEL_MAP_WRITE | KEEL_MAP_EXEC))
		return -EINVAL;
	/* c: the capability to install; NULL for a new frame, made below. */
	struct cap *c = NULL;
	if (op->cap == KEEL_CAP_NEW) {
		if (level != 1)
			return -ELEVEL; /* a new frame goes into a level-1 table */
	} else if (!(c = cap_lookup(e, op->cap, 0, 0, &err))) {
		return err;
	}
	u64 entry;
	if (level == 1) {
		if (c && c->type == KEEL_CAP_PT)
			return -EPTPAGE; /* never mapped as data, writable or not */
		if (c && c->type != KEEL_CAP_FRAME)
			return -ETYPE;
		u8 need = KEEL_R_READ | (op->flags & KEEL_MAP_WRITE ? KEEL_R_WRITE : 0) |
			  (op->flags & KEEL_MAP_EXEC ? KEEL_R_EXEC : 0);
		if (c && (c->rights & need) != need)
			return -ERIGHTS;
		if (!(range = pt_vrange_find(e, va, PAGE_SIZE, &err)))
			return err;
		ASSERT(!c || frame_type(c->base) == FRAME_DATA);
		entry = (c ? c->base : 0) | PTE_P | PTE_U | (op->flags & KEEL_MAP_WRITE ? PTE_W : 0) |
			(op->flags & KEEL_MAP_EXEC ? 0 : pte_nx); /* (a new frame's address: below) */
	} else {
		if (c->type != KEEL_CAP_PT)
			return -ETYPE; /* large pages are not offered */
		if (c->level != level - 1)
			return -ELEVEL;
		if (c->vbase != va)
			return -EBINDING;
		if (!(c->rights & KEEL_R_READ))
			return -ERIGHTS;
		ASSERT(frame_type(c->base) == (enum frame_type)(FRAME_PT1 + c->level - 1));
		/* U at every level; W and NX as the installed capability's rights
		 * allow -- a table shared read-only is read-only below. */
		entry = table_entry(c);
	}
	if (c && recs[op->index] == c) {
		/* The same capability again: a remap with new rights. A leaf
		 * takes op->flags: flush that page, and an upcall area that lost
		 * its write right there is one no longer. A table entry's rights
		 * are its capability's, which never change, so it is rewritten
		 * as it was (flushed and re-checked all the same): a table above
		 * an area loses W only by being replaced with a read-only
		 * capability of it, an unmap first, which drops the area
		 * (hazard area-readonly-l1..3). */
		u64 old = swap_entry(c, entry);
		if (level == 1)
			tlb_user_page(va);
		else
			tlb_user_all();
		if ((old & PTE_W) && !(entry & PTE_W))
			unmapped(level == 1 ? c->base : 0);
		return 0;
	}
	if (recs[op->index] || (table[op->index] & PTE_P))
		return -EEXIST;
	if (c && c->map_pte)
		return -EMAPPED;
	if (!c) { /* SYS_FRAME_ALLOC's frame (quotas, zeroing), into the caller's space */
		i64 slot = pt_frame_alloc(e);
		if (slot < 0)
			return (int)slot;
		c = cap_at(&e->cs, (u64)slot);
		*made = (u32)slot;
		entry |= c->base;
	}
	install(c, table, recs, op->index, entry, va, range, level == 4 ? window_entry(e, op->index) : NULL);
	return 0;
}

i64 pt_mmu_update(struct env *e, u64 uops, u64 n, u64 udone)
{
	if (n > KEEL_MMU_BATCH_MAX)
		return -E2BIG;
	struct keel_mmu_op ops[32];
	u64 done = 0;
	int err = 0;
	while (done < n && !err) {
		u64 chunk = MIN(n - done, ARRAY_SIZE(ops));
		if (copy_from_user(ops, uops + done * sizeof ops[0], chunk * sizeof ops[0])) {
			err = -EFAULT;
			break;
		}
		for (u64 i = 0; i < chunk; i++) {
			u32 made = KEEL_CAP_NONE;
			if ((err = mmu_one(e, &ops[i], &made)))
				break;
			/* A new frame's slot goes back into the op; if it cannot,
			 * the frame goes again (with its mapping): nothing lost. */
			if (made != KEEL_CAP_NONE &&
			    copy_to_user(uops + done * sizeof ops[0] + offsetof(struct keel_mmu_op, cap), &made, sizeof made)) {
				cap_delete(e, made);
				err = -EFAULT;
				break;
			}
			done++;
		}
	}
	if (udone && copy_to_user(udone, &done, sizeof done))
		return -EFAULT;
	return err;
}

/* ------------------------------------------------ per env, and loading */

/* Per env: the PML4's records and the frame types of the PML4 and the
 * window's top (made by uvm_create, freed by uvm_destroy). */
static int pt_env_init(struct env *e)
{
	paddr_t recs = new_frame(e, FRAME_KERNEL);
	if (!recs)
		return -ENOMEM;
	e->pt.recs = pa_to_va(recs);
	frame_set_type(e->pml4, FRAME_PT4);
	frame_set_type(e->pt_window, FRAME_WINDOW);
	return 0;
}

static void pt_env_fini(struct env *e)
{
	if (!e->pt.recs)
		return;
	for (unsigned i = 0; i < 256; i++)
		ASSERT(!e->pt.recs[i]); /* its capabilities are gone, and their mappings */
	free_frame(e, direct_va_to_pa(e->pt.recs));
	e->pt.recs = NULL;
	frame_set_type(e->pml4, FRAME_UNTYPED); /* uvm_destroy frees them */
	frame_set_type(e->pt_window, FRAME_UNTYPED);
}

int pt_kmap(struct env *e, u64 va, u64 flags, paddr_t *pa_out)
{
	u64 *table = pa_to_va(e->pml4);
	struct cap **recs = e->pt.recs;
	for (int level = 4; level > 1; level--) {
		unsigned i = pt_index(va, level);
		struct cap *t = recs[i];
		if (!t) {
			u64 vbase = ALIGN_DOWN(va, level_size(level));
			struct cap *c = new_frame_cap(e);
			if (!c)
				return -ENOMEM;
			paddr_t pa = c->base;
			int err = make_table(e, c, (u64)level - 1, vbase);
			if (!err && (err = cap_insert_root(e, c)) >= 0)
				err = 0;
			if (err) {
				if (c->pt_recs)
					free_frame(e, direct_va_to_pa(c->pt_recs));
				free_frame(e, pa);
				kfree(c);
				return err;
			}
			install(c, table, recs, i, table_entry(c), vbase, NULL, level == 4 ? window_entry(e, i) : NULL);
			t = c;
		}
		table = pa_to_va(t->base);
		recs = t->pt_recs;
	}
	unsigned i = pt_index(va, 1);
	if (recs[i])
		return -EEXIST;
	int err;
	struct cap *range = pt_vrange_find(e, va, PAGE_SIZE, &err);
	if (!range)
		return err;
	struct cap *c = new_frame_cap(e);
	if (!c)
		return -ENOMEM;
	paddr_t pa = c->base;
	int slot = cap_insert_root(e, c);
	if (slot < 0) {
		free_frame(e, pa);
		kfree(c);
		return slot;
	}
	install(c, table, recs, i, pa | PTE_P | PTE_U | (flags & (PTE_W | PTE_NX)), va, range, NULL);
	if (pa_out)
		*pa_out = pa;
	return 0;
}

/* ---------------------------------------------------------------- audit */

static u64 audit_problems;

static void audit_bad(struct env *e, u64 va, int level, const char *what)
{
	if (audit_problems++ < 5)
		kprintf("pt audit: env %u: level %d entry for %#llx: %s\n", e->id, level, (unsigned long long)va, what);
}

static void audit_table(struct env *e, u64 *table, struct cap **recs, int level, u64 vbase)
{
	for (unsigned i = 0; i < (level == 4 ? 256u : PT_ENTRIES); i++) {
		u64 ent = table[i], va = vbase + (u64)i * level_size(level);
		struct cap *c = recs[i];
		if (level == 4 && i == KEEL_PT_WINDOW_SLOT)
			continue;
		u64 *copy = level == 4 ? window_entry(e, i) : NULL;
		if (copy && (*copy & ~PTE_A) != (ent & ~PTE_A))
			audit_bad(e, va, level, "the window's copy differs from the PML4 entry");
		if (!c) {
			if (ent & PTE_P)
				audit_bad(e, va, level, "present without a record");
			continue;
		}
		if (!(ent & PTE_P) || (ent & PTE_ADDR) != c->base || c->map_pte != &table[i] || c->map_rec != &recs[i] ||
		    c->map_mirror != copy)
			audit_bad(e, va, level, "entry and record disagree");
		if ((ent & (PTE_G | PTE_PCD | PTE_PWT | PTE_PS)) || !(ent & PTE_U))
			audit_bad(e, va, level, "G, PCD, PWT or PS set, or U clear");
		if (!frame_refs(c->base))
			audit_bad(e, va, level, "a referenced frame counts no references");
		if ((ent & PTE_W) && !(c->rights & KEEL_R_WRITE))
			audit_bad(e, va, level, "writable beyond the capability's rights");
		if (level == 1) {
			if (c->type != KEEL_CAP_FRAME || frame_type(c->base) != FRAME_DATA)
				audit_bad(e, va, level, "a leaf that is not a data frame");
			if (!c->map_range || !covers(c->map_range, va, PAGE_SIZE))
				audit_bad(e, va, level, "a leaf outside the range it was mapped under");
			continue;
		}
		if (c->type != KEEL_CAP_PT || c->level != level - 1 || c->vbase != va ||
		    frame_type(c->base) != (enum frame_type)(FRAME_PT1 + level - 2)) {
			audit_bad(e, va, level, "a table of the wrong type, level or binding");
			continue;
		}
		audit_table(e, pa_to_va(c->base), c->pt_recs, level - 1, va);
	}
}

u64 pt_audit(struct env *e)
{
	audit_problems = 0;
	u64 *pml4 = pa_to_va(e->pml4), *win = pa_to_va(e->pt_window);
	u64 window = e->pt_window | PTE_P | PTE_U | pte_nx; /* read-only, not executable */
	if (frame_type(e->pml4) != FRAME_PT4 || (pml4[KERNEL_SLOT] & ~PTE_A) != (slot_pdpt() | PTE_P | PTE_W) ||
	    (pml4[KEEL_PT_WINDOW_SLOT] & ~PTE_A) != window)
		audit_bad(e, 0, 4, "the PML4 itself: type, kernel slot or window");
	if (frame_type(e->pt_window) != FRAME_WINDOW || (win[KEEL_PT_WINDOW_SLOT] & ~PTE_A) != window)
		audit_bad(e, 0, 4, "the window's top: type, or its slot 254 not itself");
	for (unsigned i = 256; i < PT_ENTRIES; i++)
		if (win[i])
			audit_bad(e, (u64)i << 39, 4, "the window's top maps the kernel half");
	audit_table(e, pml4, e->pt.recs, 4, 0);
	/* And what the MMU reaches from the user half, window and all. */
	audit_problems += (u64)slot_audit_user_half(e->pml4, e->name, NULL);
	return audit_problems;
}
