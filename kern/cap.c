#include "cap.h"
#include "console.h"
#include "env.h"
#include "heap.h"
#include "keel/errno.h"
#include "lib/string.h"
#include "panic.h"
#include "pt.h"

u32 quota_caps_default = 8192;
u32 quota_frames_default = 65536;
u64 caps_live;

#define CSPACE_INITIAL 64

int cspace_init(struct env *e)
{
	e->cs.slot = kzalloc(CSPACE_INITIAL * sizeof(struct cap *));
	if (!e->cs.slot)
		return -ENOMEM;
	e->cs.nslots = CSPACE_INITIAL;
	e->quota_caps = quota_caps_default;
	e->quota_frames = quota_frames_default;
	return 0;
}

/* A free slot in e's space, growing it (by doubling) when full. */
static int slot_alloc(struct env *e)
{
	struct cspace *cs = &e->cs;
	for (u32 k = 0; k < cs->nslots; k++) {
		u32 i = (cs->hint + k) % cs->nslots;
		if (!cs->slot[i]) {
			cs->hint = i + 1;
			return (int)i;
		}
	}
	u32 n = cs->nslots * 2;
	struct cap **grown = kzalloc(n * sizeof *grown);
	if (!grown)
		return -ENOMEM;
	memcpy(grown, cs->slot, cs->nslots * sizeof *grown);
	kfree(cs->slot);
	cs->slot = grown;
	cs->hint = cs->nslots + 1;
	cs->nslots = n;
	return (int)(cs->hint - 1);
}

/* Put c into e's space; `payer` is charged a capability (NULL: the kernel). */
static int place(struct env *e, struct cap *c, struct env *payer)
{
	if (payer && payer->caps_charged >= payer->quota_caps)
		return -EDQUOT;
	int slot = slot_alloc(e);
	if (slot < 0)
		return slot;
	e->cs.slot[slot] = c;
	e->cs.used++;
	c->owner = e;
	c->slot = (u32)slot;
	c->payer = payer;
	if (payer)
		payer->caps_charged++;
	if (c->type == KEEL_CAP_VRANGE) {
		c->next_vrange = e->vranges;
		e->vranges = c;
	}
	caps_live++;
	return slot;
}

int cap_insert_root(struct env *e, struct cap *c)
{
	c->root = true;
	return place(e, c, e);
}

struct cap *cap_lookup(struct env *e, u64 slot, u8 type, u8 rights, int *err)
{
	struct cap *c = slot < e->cs.nslots ? e->cs.slot[slot] : NULL;
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

/* Remove one capability that has no children any more. */
static void destroy_leaf(struct cap *c, bool revoked)
{
	if (c->map_pte)
		pt_uninstall(c);
	if (c->root)
		pt_release(c); /* its object: frame, page table, range */
	if (c->parent) {
		struct cap **p = &c->parent->children;
		while (*p != c)
			p = &(*p)->sibling;
		*p = c->sibling;
	}
	struct env *e = c->owner;
	e->cs.slot[c->slot] = NULL;
	e->cs.used--;
	if (c->type == KEEL_CAP_VRANGE) {
		struct cap **p = &e->vranges;
		while (*p != c)
			p = &(*p)->next_vrange;
		*p = c->next_vrange;
	}
	if (c->payer)
		c->payer->caps_charged--;
	if (revoked)
		env_note_revoked(e);
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
			c = c->children;
		struct cap *parent = c->parent;
		bool last = c == top;
		destroy_leaf(c, last ? revoked : true);
		n++;
		if (last)
			return n;
		c = parent;
	}
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
	struct cap *d = kzalloc(sizeof *d);
	if (!d)
		return -ENOMEM;
	d->type = c->type;
	d->rights = (u8)rights;
	d->level = c->level;
	d->base = c->base;
	d->size = c->size;
	d->vbase = c->vbase;
	d->target = c->target;
	int s = place(to, d, e); /* the deriving env pays for the slot */
	if (s < 0) {
		kfree(d);
		return s;
	}
	d->parent = c;
	d->sibling = c->children;
	c->children = d;
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
		n += destroy_subtree(c->children, true);
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

void cspace_destroy(struct env *e)
{
	/* Roots first would also do; slot order is fine: deleting a root takes
	 * its descendants with it, wherever they are, and empties their slots. */
	for (u32 i = 0; i < e->cs.nslots; i++)
		if (e->cs.slot[i])
			destroy_subtree(e->cs.slot[i], false);
	kfree(e->cs.slot);
	e->cs.slot = NULL;
	e->cs.nslots = 0;
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
