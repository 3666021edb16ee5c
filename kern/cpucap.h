/*
 * CPUs as capabilities (docs/smp.md "CPUs as capabilities"). A
 * KEEL_CAP_CPU names one CPU (base = its index); an env runs only on the
 * CPUs it holds a capability for. Boot envs hold every CPU unless grant=
 * names CPUs for them (grant=IDX:cpuN; pin=IDX:cpuN is the same); a spawned
 * env gets a capability derived from each of its parent's (SYS_ENV_SPAWN,
 * unless KEEL_SPAWN_NO_CPUS), so revoking the parent's takes the child's
 * too. Derive, grant, revoke and delete work as for any capability. Losing
 * the last capability for the CPU an env runs on moves it off that CPU at
 * once (a kick); an env that holds no CPU is stopped -- kept, not ended --
 * until it is given one.
 */
#ifndef KEEL_CPUCAP_H
#define KEEL_CPUCAP_H

#include "types.h"

struct env;

/* At boot: the CPU capability type. */
void cpucap_init(void);

/* A root capability for CPU `cpu` in e: its slot, -ERANGE if that CPU is
 * not up, -EDQUOT / -ENOMEM. */
int cpucap_grant(struct env *e, u32 cpu);

/* Boot envs that hold no CPU capability after grant= get one for every CPU
 * up. How many envs got them, or -errno of the first failure. */
int cpucap_grant_defaults(void);

/* SYS_ENV_SPAWN: give child a capability derived from parent's (the first
 * it holds with the grant right) for every CPU parent holds; the parent
 * pays for the slots. 0 or -errno (the child then holds what it got). */
int cpucap_spawn(struct env *parent, struct env *child);

/* How many CPUs e holds a capability for (SYS_ENV_SPAWN's quota check). */
u32 cpucap_count(const struct env *e);

#endif
