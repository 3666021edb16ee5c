/*
 * Capabilities (docs/design.md "Capabilities and revocation"). Each env has a
 * capability space: numbered slots holding typed capabilities with rights.
 * A capability is made by the kernel for a new object (a root) or derived
 * from another with equal or fewer rights, into the same env or another;
 * the derivation tree makes revocation exact: revoking removes every
 * capability derived from one, and every mapping made through them (one
 * mapping per capability, so the reverse map is exact), before the call
 * returns, and tells their holders by upcall. Deleting a root releases its
 * object. Every kernel object an env causes -- capability slots, frames,
 * page-table pages -- is charged to its quota.
 */
#ifndef KEEL_CAP_H
#define KEEL_CAP_H

#include "cap_types.h"
#include "keel/abi.h"
#include "types.h"

struct env;

/* One past the highest slot that can hold a capability now. */
u32 cspace_extent(const struct cspace *cs);

/* Capabilities alive, all envs (tests compare it before and after). */
extern u64 caps_live;

/* At boot: an env's capability space is made with it, and when it ends
 * every capability it holds is deleted (what it shared out is revoked). */
void cap_init(void);

/* The capability in `slot` of e's space, of `type` (0: any), with `rights`:
 * NULL and *err set (-EBADSLOT, -ETYPE, -ERIGHTS) when not. */
struct cap *cap_lookup(struct env *e, u64 slot, u8 type, u8 rights, int *err);

/* The capability in `slot` of a space, or NULL: cap_lookup's first step,
 * inline for the fast paths (pct.c). */
static inline struct cap *cap_at(const struct cspace *cs, u64 slot)
{
	u64 l = slot / CSPACE_LEAF_SLOTS;
	if (l >= cs->nleaves || !cs->leaf[l].slot)
		return NULL;
	return cs->leaf[l].slot[slot % CSPACE_LEAF_SLOTS];
}

/*
 * What the module behind a capability type does as its capabilities come
 * and go (any hook may be NULL): `prepare` before one is placed in
 * `holder`'s space (an error refuses it), `placed` once it is there,
 * `gone` as it leaves (revoked, deleted, its holder ended), and `release`
 * when a root goes and its object with it. The modules that define the
 * types register them at boot; cap.c knows no type's object.
 */
struct cap_type_ops {
	int (*prepare)(struct env *holder);
	void (*placed)(struct cap *c);
	void (*gone)(struct cap *c);
	void (*release)(struct cap *c);
};
void cap_register_type(u8 type, const struct cap_type_ops *ops);

/* Put a new root capability into e's space: its slot, or -EDQUOT. */
int cap_insert_root(struct env *e, struct cap *c);
/* Make one (rights RWXG) for an object the kernel hands out whole -- an
 * interrupt, ports, a software vector: its slot, or -ENOMEM / -EDQUOT. */
int cap_new_root(struct env *e, u8 type, u64 base, u64 size);
/* The same, but not a root: it names an object someone else owns, and
 * deleting it releases nothing (a child's ENV capability to its parent). */
int cap_new_name(struct env *e, u8 type, u64 base, u64 size);

/* Syscalls. */
i64 cap_info(struct env *e, u64 slot, u64 out);
i64 quota_info(struct env *e, u64 out);
int cap_derive(struct env *e, u64 slot, u64 rights, u64 env_slot);
/* The kernel's own derivation (rights already checked): a child of c with
 * `rights` in env `to`, its slot charged to `payer`. Its slot or -errno. */
int cap_derive_into(struct cap *c, u8 rights, struct env *to, struct env *payer);
int cap_revoke(struct env *e, u64 slot);
int cap_delete(struct env *e, u64 slot);

/* Quota charging for objects (frames, page-table pages). */
int quota_charge_frames(struct env *e, u32 n);
void quota_release_frames(struct env *e, u32 n);

/* Give every env of a set a capability to each of the others. */
void cap_introduce(struct env **envs, u64 n);

#endif
