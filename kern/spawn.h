/*
 * Environments made by environments: SYS_ENV_SPAWN starts a boot module as a
 * child env whose quotas are carved out of its parent's. A child lives within
 * its parent's lifetime (it ends with it) and within its quotas (what it was
 * given returns to the parent when it ends), so an env spawning without end
 * runs out of its own quota and nobody else's.
 */
#ifndef KEEL_SPAWN_H
#define KEEL_SPAWN_H

#include "mb2.h"
#include "types.h"

struct env;

extern u32 quota_envs_default; /* descendants a boot env may have (quota_envs=) */
/* Children ended by their parent's deleting the ENV capability spawn gave it. */
extern u64 envs_ended_by_parent;

/* The boot's modules, the images SYS_ENV_SPAWN and run= start. */
void spawn_init(const struct mb2_info *boot);
const struct mb2_module *spawn_image(const char *name);

i64 sys_env_spawn(struct env *e, u64 ureq);

/* At an env's end: its children end too, and its share returns to its parent. */
void spawn_env_fini(struct env *e);

/* Called, empty, once the serial log holds an env's "loaded at" line (boot
 * and spawn alike): a debugger's hook, as ld.so's _dl_debug_state is.
 * boot/gdb_keel.py (`keel-apps --auto`) stops here to load the app's
 * symbols and goes on. */
void debug_env_loaded(const struct env *e);

#endif
