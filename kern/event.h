/*
 * Events posted between envs (docs/abi.md "Events between envs"): an env
 * posts bits to another through an ENV capability (or to itself); they
 * gather in the target's upcall area (`posted`) and reach it as
 * KEEL_EV_POST by upcall -- on its CPU at once if it runs (one kick per
 * target CPU however many posts, xcall.c), at its next dispatch if not,
 * when it enables if it is disabled.
 */
#ifndef KEEL_EVENT_H
#define KEEL_EVENT_H

#include "types.h"

struct env;

/* SYS_EVENT_POST: 0, or -errno (the table in docs/abi.md). */
i64 event_post(struct env *e, u64 slot, u64 cpu, u64 bits);

#endif
