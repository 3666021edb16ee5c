/*
 * A capability and a capability space, as data (docs/design.md
 * "Capabilities and revocation"; the operations are cap.h's). Apart so that
 * struct env can hold its space without env.h depending on cap.c.
 */
#ifndef KEEL_CAP_TYPES_H
#define KEEL_CAP_TYPES_H

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

#endif
