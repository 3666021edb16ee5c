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

#include "keel/abi.h"
#include "lib/list.h"
#include "types.h"

struct env;

struct cap {
	u8 type;           /* KEEL_CAP_* */
	u8 rights;         /* KEEL_R_* */
	u8 level;          /* KEEL_CAP_PT: 1..3 */
	bool root;         /* made for its object: deleting it releases the object */
	u64 base;          /* FRAME/PT: physical address; VRANGE: virtual base; ENV: env id */
	u64 size;
	u64 vbase;         /* PT: the virtual address its entry 0 maps */
	struct env *owner; /* the env whose space holds it */
	u32 slot;
	struct env *payer;   /* whose capability quota pays for the slot (NULL: the kernel) */
	struct hnode in_holder;  /* VRANGE: in its holder's list of ranges */
	/* the derivation tree */
	struct cap *parent;
	struct hnode *children;  /* of struct cap, by in_parent */
	struct hnode in_parent;
	/* where it is installed (pt.c): the entry, its record, what it maps */
	u64 *map_pte;
	u64 *map_mirror;         /* a PML4 entry: its copy in the window's top (pt.c) */
	struct cap **map_rec;
	u64 map_va;
	struct cap *map_range;   /* FRAME: the VRANGE capability its mapping was made under */
	struct hnode in_range;   /* ... in that range's list */
	struct hnode *range_maps; /* VRANGE: the frames mapped under it */
	struct cap **pt_recs;    /* PT: one record per entry (a page of its own) */
};

/* A capability space: slot n is entry n % 512 of leaf n / 512, a frame of
 * 512 pointers made when first needed and freed when it empties again, so
 * the space costs what it holds (charged by capability, per env) and gives
 * every frame back. The first free slot is always the one handed out. */
#define CSPACE_LEAF_SLOTS 512
struct cspace_leaf {
	struct cap **slot;
	u32 used;
};
struct cspace {
	struct cspace_leaf *leaf;
	u32 nleaves;   /* entries in leaf[] */
	u32 used;      /* capabilities held */
	u32 low;       /* no free slot below slot `low` */
};
/* One past the highest slot that can hold a capability now. */
u32 cspace_extent(const struct cspace *cs);

/* Per-env limits (command line quota_caps=, quota_frames=). */
extern u32 quota_caps_default, quota_frames_default;
extern u64 quota_vspace_default; /* bytes (quota_vspace_gib=) */
/* Capabilities alive, all envs (tests compare it before and after). */
extern u64 caps_live;

int cspace_init(struct env *e);
/* Delete every capability the env holds (what it shared out is revoked). */
void cspace_destroy(struct env *e);

/* The capability in `slot` of e's space, of `type` (0: any), with `rights`:
 * NULL and *err set (-EBADSLOT, -ETYPE, -ERIGHTS) when not. */
struct cap *cap_lookup(struct env *e, u64 slot, u8 type, u8 rights, int *err);

/* Put a new root capability into e's space: its slot, or -EDQUOT. */
int cap_insert_root(struct env *e, struct cap *c);
/* Make one (rights RWXG) for an object the kernel hands out whole -- an
 * interrupt, ports, a software vector: its slot, or -ENOMEM / -EDQUOT. */
int cap_new_root(struct env *e, u8 type, u64 base, u64 size);

/* Syscalls. */
i64 cap_info(struct env *e, u64 slot, u64 out);
i64 quota_info(struct env *e, u64 out);
int cap_derive(struct env *e, u64 slot, u64 rights, u64 env_slot);
int cap_revoke(struct env *e, u64 slot);
int cap_delete(struct env *e, u64 slot);

/* Quota charging for objects (frames, page-table pages). */
int quota_charge_frames(struct env *e, u32 n);
void quota_release_frames(struct env *e, u32 n);

/* Give every env of a set a capability to each of the others. */
void cap_introduce(struct env **envs, u64 n);

#endif
