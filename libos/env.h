/*
 * Other environments: spawning a child from a boot module (SYS_ENV_SPAWN,
 * docs/abi.md "Spawning") and watching envs end through the GONE flag of the
 * ENV capabilities naming them.
 */
#ifndef LIBOS_ENV_H
#define LIBOS_ENV_H

#include "keel.h"

/* Start module `image` with `args` (NULL: none) and the given quotas, carved
 * out of this env's: the slot of an ENV capability to it, or -errno. */
long keel_spawn(const char *image, const char *args, uint32_t quota_frames, uint32_t quota_caps,
		uint32_t quota_envs);

/* Has the env this ENV capability names ended? */
int keel_env_gone(uint32_t env_slot);
/* Yield until it has. */
void keel_env_wait(uint32_t env_slot);
/* How many of the envs this env holds ENV capabilities to are still alive. */
int keel_envs_alive(void);

#endif
