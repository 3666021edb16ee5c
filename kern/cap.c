#include "cap.h"
#include "console.h"
#include "env.h"
#include "heap.h"
#include "keel/errno.h"
#include "lib/string.h"
#include "panic.h"
#include "sched.h"
#include "trace.h"
#include "frame.h"
#include "uaccess.h"

u64 caps_live;

#define CSPACE_INITIAL_LEAVES 64 /* 32768 slots before leaf[] itself grows */

static const struct cap_type_ops *type_ops[KEEL_CAP_CPU + 1];

void cap_register_type(u8 type, const struct cap_type_ops *ops)
{
	ASSERT(type < ARRAY_SIZE(type_ops) && !type_ops[type]);
	type_ops[type] = ops;
}

static const struct cap_type_ops *ops_of(const struct cap *c)
{
	static const struct cap_type_ops none;
	return c->type < ARRAY_SIZE(type_ops) && type_ops[c->type] ? type_ops[c->type] : &none;
}

static int cspace_init(struct env *e)
{
	e->cs.leaf = kzalloc(CSPACE_INITIAL_LEAVES * sizeof *e->cs.leaf);
	if (!e->cs.leaf)
		return -ENOMEM;
	e->cs.nleaves = CSPACE_INITIAL_LEAVES;
	return 0;
}

u32 cspace_extent(const struct cspace *cs)
{
	u32 n = cs->nleaves;
	while (n && !cs->leaf[n - 1].slot)
		n--;
	return n * CSPACE_LEAF_SLOTS;
}

/* The lowest free slot of e's space, making a leaf (and growing leaf[])
 * when needed; -ENOMEM. */
static int slot_alloc(struct env *e)
{
	struct cspace *cs = &e->cs;
	u32 l = cs->low / CSPACE_LEAF_SLOTS;
	while (l < cs->nleaves && cs->leaf[l].slot && cs->leaf[l].used == CSPACE_LEAF_SLOTS)
		l++;
	if (l == cs->nleaves) {
		if ((u64)cs->nleaves * 2 * CSPACE_LEAF_SLOTS > INT32_MAX)
			return -ENOMEM;
		struct cspace_leaf *grown = kzalloc(cs->nleaves * 2 * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		memcpy(grown, cs->leaf, cs->nleaves * sizeof *grown);
		kfree(cs->leaf);
		cs->leaf = grown;
		cs->nleaves *= 2;
	}
	struct cspace_leaf *leaf = &cs->leaf[l];
	if (!leaf->slot) {
		paddr_t pa = frame_alloc_zeroed();
		if (!pa)
			return -ENOMEM;
		leaf->slot = pa_to_va(pa);
	}
	u32 first = cs->low / CSPACE_LEAF_SLOTS == l ? cs->low % CSPACE_LEAF_SLOTS : 0;
	for (u32 i = first; i < CSPACE_LEAF_SLOTS; i++)
		if (!leaf->slot[i]) {
			cs->low = l * CSPACE_LEAF_SLOTS + i; /* taken by the caller: the next search starts here */
			return (int)cs->low;
		}
	panic("cspace: leaf %u counts %u used but has no free slot", l, leaf->used);
}

static void slot_set(struct env *e, u32 slot, struct cap *c)
{
	struct cspace *cs = &e->cs;
	struct cspace_leaf *leaf = &cs->leaf[slot / CSPACE_LEAF_SLOTS];
	leaf->slot[slot % CSPACE_LEAF_SLOTS] = c;
	if (c) {
		leaf->used++;
		cs->used++;
		return;
	}
	cs->used--;
	if (slot < cs->low)
		cs->low = slot;
	if (--leaf->used == 0) {
		frame_free(direct_va_to_pa(leaf->slot));
		leaf->slot = NULL;
	}
}

/* Put c into e's space; `payer` is charged a capability (NULL: the kernel). */
static int place(struct env *e, struct cap *c, struct env *payer)
{
	if (payer && payer->caps_charged >= payer->quota_caps)
		return -EDQUOT;
	const struct cap_type_ops *ops = ops_of(c);
	int err;
	if (ops->prepare && (err = ops->prepare(e)))
		return err;
	int slot = slot_alloc(e);
	if (slot < 0)
		return slot;
	slot_set(e, (u32)slot, c);
	c->owner = e;
	c->slot = (u32)slot;
	c->payer = payer;
	if (payer)
		payer->caps_charged++;
	if (ops->placed)
		ops->placed(c);
	caps_live++;
	return slot;
}

int cap_insert_root(struct env *e, struct cap *c)
{
	c->root = true;
	return place(e, c, e);
}

static int new_cap(struct env *e, u8 type, u64 base, u64 size, bool root)
{
	struct cap *c = kzalloc(sizeof *c);
	if (!c)
		return -ENOMEM;
	c->type = type;
	c->rights = KEEL_R_ALL;
	c->base = base;
	c->size = size;
	c->root = root;
	int slot = place(e, c, e);
	if (slot < 0)
		kfree(c);
	return slot;
}

int cap_new_root(struct env *e, u8 type, u64 base, u64 size) { return new_cap(e, type, base, size, true); }

int cap_new_name(struct env *e, u8 type, u64 base, u64 size) { return new_cap(e, type, base, size, false); }

struct cap *cap_lookup(struct env *e, u64 slot, u8 type, u8 rights, int *err)
{
	struct cap *c = cap_at(&e->cs, slot);
	if (!c) {
		*err = -EBADSLOT;
		return NULL;
	}
	if (type && c->type != type) {
		*err = -ETYPE;
		return NULL;
	}
	if ((c->rights & rights) != rights) {
		*err = -ERIGHTS;
		return NULL;
	}
	return c;
}

/* Some of e's capabilities were revoked: count it, and tell e by upcall
 * (the count is copied into an area registered later, too). */
static void note_revoked(struct env *e, const struct cap *c)
{
	TRACE(KEEL_TR_REVOKE, e->id, c->type, c->slot);
	if (e->d0.state == ENV_DEAD)
		return;
	e->revoked++;
	if (e->d0.ka) {
		e->d0.ka->revoked = e->revoked;
		sched_post(&e->d0, KEEL_EV_REVOKED); /* (its first dispatcher) */
	}
}

/* Remove one capability that has no children any more. */
static void destroy_leaf(struct cap *c, bool revoked)
{
	const struct cap_type_ops *ops = ops_of(c);
	if (ops->gone)
		ops->gone(c); /* unmapped, forbidden, unbound: whatever it allowed, no more */
	if (c->root && ops->release)
		ops->release(c); /* its object: frame, page table, range */
	if (c->parent)
		hnode_del(&c->in_parent);
	struct env *e = c->owner;
	slot_set(e, c->slot, NULL);
	if (c->payer)
		c->payer->caps_charged--;
	if (revoked)
		note_revoked(e, c);
	kfree(c);
	caps_live--;
}

/* Remove c and everything derived from it, deepest first -- iteratively:
 * a derivation chain as long as a quota allows must not overflow the
 * kernel stack. `revoked`: c's own holder is told too. */
static u64 destroy_subtree(struct cap *top, bool revoked)
{
	u64 n = 0;
	struct cap *c = top;
	for (;;) {
		while (c->children)
			c = hnode_entry(c->children, struct cap, in_parent);
		struct cap *parent = c->parent;
		bool last = c == top;
		destroy_leaf(c, last ? revoked : true);
		n++;
		if (last)
			return n;
		c = parent;
	}
}

i64 cap_info(struct env *e, u64 slot, u64 out)
{
	int err;
	struct cap *c = cap_lookup(e, slot, 0, 0, &err);
	if (!c)
		return err;
	struct keel_cap_info info = {
		.type = c->type,
		.rights = c->rights,
		.level = c->level,
		.flags = (c->root ? KEEL_CAPF_ROOT : 0) | (c->map_pte ? KEEL_CAPF_MAPPED : 0) |
			 (c->type == KEEL_CAP_ENV && !env_by_id((u32)c->base) ? KEEL_CAPF_GONE : 0),
		.base = c->base,
		.size = c->size,
		.vbase = c->vbase,
		.map_va = c->map_pte ? c->map_va : 0,
		.from = c->parent ? c->parent->owner->id : 0,
	};
	return copy_to_user(out, &info, sizeof info);
}

i64 quota_info(struct env *e, u64 out)
{
	struct keel_quota_info q = {
		.vspace_used = e->vspace_charged,
		.vspace_quota = e->quota_vspace,
		.caps_used = e->caps_charged,
		.caps_quota = e->quota_caps,
		.frames_used = e->frames_charged,
		.frames_quota = e->quota_frames,
		.cap_slots = cspace_extent(&e->cs),
		.envs_used = e->envs_charged,
		.envs_quota = e->quota_envs,
		.frames_free = frames_free(),
	};
	return copy_to_user(out, &q, sizeof q);
}

int cap_derive(struct env *e, u64 slot, u64 rights, u64 env_slot)
{
	int err;
	struct cap *c = cap_lookup(e, slot, 0, 0, &err);
	if (!c)
		return err;
	if (rights & ~(u64)KEEL_R_ALL)
		return -EINVAL;
	if ((rights & c->rights) != rights)
		return -ERIGHTS; /* never more than the source holds */
	struct env *to = e;
	if (env_slot != KEEL_SELF) {
		struct cap *ec = cap_lookup(e, env_slot, KEEL_CAP_ENV, 0, &err);
		if (!ec)
			return err;
		to = env_by_id((u32)ec->base);
		if (!to)
			return -ENOENT;
		if (to != e && !(c->rights & KEEL_R_GRANT))
			return -ERIGHTS; /* giving it away needs the grant right */
	}
	return cap_derive_into(c, (u8)rights, to, e); /* the deriving env pays for the slot */
}

int cap_derive_into(struct cap *c, u8 rights, struct env *to, struct env *payer)
{
	struct cap *d = kzalloc(sizeof *d);
	if (!d)
		return -ENOMEM;
	d->type = c->type;
	d->rights = rights;
	d->level = c->level;
	d->base = c->base;
	d->size = c->size;
	d->vbase = c->vbase;
	d->pt_recs = c->pt_recs; /* a table's entries are the table's, whichever capability names it */
	int s = place(to, d, payer);
	if (s < 0) {
		kfree(d);
		return s;
	}
	d->parent = c;
	hnode_add(&c->children, &d->in_parent);
	return s;
}

int cap_revoke(struct env *e, u64 slot)
{
	int err;
	struct cap *c = cap_lookup(e, slot, 0, 0, &err);
	if (!c)
		return err;
	u64 n = 0;
	while (c->children)
		n += destroy_subtree(hnode_entry(c->children, struct cap, in_parent), true);
	return (int)MIN(n, (u64)INT32_MAX);
}

int cap_delete(struct env *e, u64 slot)
{
	int err;
	struct cap *c = cap_lookup(e, slot, 0, 0, &err);
	if (!c)
		return err;
	destroy_subtree(c, false);
	return 0;
}

static void cspace_destroy(struct env *e)
{
	/* Roots first would also do; slot order is fine: deleting a root takes
	 * its descendants with it, wherever they are, and empties their slots. */
	for (u32 l = 0; l < e->cs.nleaves; l++)
		for (u32 i = 0; e->cs.leaf[l].slot && i < CSPACE_LEAF_SLOTS; i++)
			if (e->cs.leaf[l].slot[i])
				destroy_subtree(e->cs.leaf[l].slot[i], false);
	kfree(e->cs.leaf);
	e->cs.leaf = NULL;
	e->cs.nleaves = 0;
}

int quota_charge_frames(struct env *e, u32 n)
{
	if (e->frames_charged + n > e->quota_frames)
		return -EDQUOT;
	e->frames_charged += n;
	return 0;
}

void quota_release_frames(struct env *e, u32 n) { e->frames_charged -= n; }

void cap_introduce(struct env **envs, u64 n)
{
	for (u64 i = 0; i < n; i++)
		for (u64 j = 0; j < n; j++) {
			if (i == j)
				continue;
			struct cap *c = kzalloc(sizeof *c);
			if (!c)
				return;
			c->type = KEEL_CAP_ENV;
			c->rights = KEEL_R_ALL;
			c->base = envs[j]->id;
			c->size = 0;
			if (place(envs[i], c, NULL) < 0)
				kfree(c);
		}
}

static const struct env_hooks cap_hooks = { .init = cspace_init, .fini = cspace_destroy };

void cap_init(void) { env_register(&cap_hooks); }
