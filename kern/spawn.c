#include "spawn.h"
#include "arch/x86_64/percpu.h"
#include "cap.h"
#include "cpucap.h"
#include "console.h"
#include "env.h"
#include "keel/errno.h"
#include "lib/string.h"
#include "sched.h"
#include "uaccess.h"
#include "frame.h"

u32 quota_envs_default = 16;
u64 envs_ended_by_parent;
static const struct mb2_info *boot_info;

static int spawn_env_init(struct env *e)
{
	e->quota_envs = quota_envs_default;
	return 0;
}

void spawn_env_fini(struct env *e);
static const struct env_hooks spawn_hooks = { .init = spawn_env_init, .fini = spawn_env_fini };

/*
 * The ENV capability SYS_ENV_SPAWN gives the parent is the child's root:
 * deleting it (or ending the parent, which deletes it after its children
 * have ended) ends the child -- the way a parent stops a child it no longer
 * wants. The child may be running on another CPU at that moment, or be kept
 * loaded by one that idles: env_destroy stops it there before anything of
 * it is freed. The line says where it was, for the tests of exactly that.
 */
static void env_cap_release(struct cap *c)
{
	struct env *child = env_by_id((u32)c->base);
	if (!child)
		return; /* it ended already: the capability was GONE */
	static const char *const state[] = { [ENV_RUNNABLE] = "runnable", [ENV_RUNNING] = "running",
					     [ENV_BLOCKED] = "blocked", [ENV_DEAD] = "dead", [ENV_ENDED] = "ended" };
	kprintf("env %u (%s): ended by env %u, which deleted its ENV capability: %s", child->id, child->name,
		c->owner->id, state[child->d0.state]);
	if (child->d0.loaded_on)
		kprintf(" on cpu%u", child->d0.loaded_on - 1);
	bool cr3 = false;
	for (u32 n = 0; n < cpus_up; n++)
		if (cpus[n].pml4_loaded == child->pml4) {
			kprintf("%scpu%u", cr3 ? "," : "; in the CR3 of ", n);
			cr3 = true;
		}
	kprintf("\n");
	envs_ended_by_parent++;
	env_destroy(child);
}

static const struct cap_type_ops env_cap_ops = { .release = env_cap_release };

void spawn_init(const struct mb2_info *boot)
{
	boot_info = boot;
	env_register(&spawn_hooks);
	cap_register_type(KEEL_CAP_ENV, &env_cap_ops);
}

__attribute__((noinline)) void debug_env_loaded(const struct env *e)
{
	__asm__ volatile("" ::"r"(e) : "memory"); /* a call no optimisation removes */
}

const struct mb2_module *spawn_image(const char *name)
{
	for (size_t i = 0; boot_info && i < boot_info->nmodules; i++)
		if (strcmp(boot_info->modules[i].cmdline, name) == 0)
			return &boot_info->modules[i];
	return NULL;
}

/* A user string of exactly len bytes, NUL-terminated into buf[cap]. */
static int copy_string(char *buf, size_t cap, u64 usrc, u64 len)
{
	if (len >= cap)
		return -E2BIG;
	int err = len ? copy_from_user(buf, usrc, len) : 0;
	if (err)
		return err;
	buf[len] = 0;
	return strlen(buf) == len ? 0 : -EINVAL; /* no NUL inside */
}

i64 sys_env_spawn(struct env *e, u64 ureq)
{
	struct keel_spawn req;
	char image[32], args[KEEL_ARGS_MAX];
	int err = copy_from_user(&req, ureq, sizeof req);
	if (err)
		return err;
	if ((req.flags & ~(u32)KEEL_SPAWN_NO_CPUS) || req.image_len == 0 || req.quota_frames < 64 ||
	    req.quota_caps < 16)
		return -EINVAL;
	u32 cpu_caps = req.flags & KEEL_SPAWN_NO_CPUS ? 0 : cpucap_count(e);
	if ((err = copy_string(image, sizeof image, (u64)req.image, req.image_len)) ||
	    (err = copy_string(args, sizeof args, (u64)req.args, req.args_len)))
		return err;
	/* The child's share, and the ENV capability the caller gets and the
	 * child's CPU capabilities, come out of the caller's own quotas (u64
	 * sums: no wrap-around). */
	if ((u64)e->frames_charged + req.quota_frames > e->quota_frames ||
	    (u64)e->caps_charged + req.quota_caps + 1 + cpu_caps > e->quota_caps ||
	    (u64)e->envs_charged + 1 + req.quota_envs > e->quota_envs)
		return -EDQUOT;
	const struct mb2_module *m = spawn_image(image);
	if (!m)
		return -ENOENT;
	struct env *c;
	if ((err = env_create(image, pa_to_va(m->start), m->end - m->start, args, &c)))
		return err;
	int slot = cap_new_root(e, KEEL_CAP_ENV, c->id, 0);
	if (slot < 0) {
		env_destroy(c);
		return slot;
	}
	c->quota_frames = req.quota_frames;
	c->quota_caps = req.quota_caps;
	c->quota_envs = req.quota_envs;
	c->parent = e;
	e->frames_charged += req.quota_frames;
	e->caps_charged += req.quota_caps;
	e->envs_charged += 1 + req.quota_envs;
	/* Best effort: a child too poor for it simply has no way to call back.
	 * Not a root: the child holds no power over its parent's life. */
	(void)cap_new_name(c, KEEL_CAP_ENV, e->id, 0);
	kprintf("env %u (%s): spawned by env %u, loaded at %#llx, quotas %u frames %u caps %u envs, PML4 %#llx\n",
		c->id, c->name, e->id, (unsigned long long)c->image_base, req.quota_frames, req.quota_caps,
		req.quota_envs, (unsigned long long)c->pml4);
	debug_env_loaded(c);
	env_started++;
	/* Its CPUs, derived from the caller's: revoking the caller's takes
	 * them too. Without any it waits in the queue, stopped, until given
	 * one (cpucap.h). */
	if (cpu_caps && (err = cpucap_spawn(e, c))) {
		(void)cap_delete(e, (u64)slot); /* the child ends with it, its charges returned */
		return err;
	}
	sched_add(&c->d0);
	return slot;
}

void spawn_env_fini(struct env *e)
{
	for (;;) {
		struct env *c = env_first_child(e);
		if (!c)
			break;
		kprintf("env %u (%s): ended with its parent env %u\n", c->id, c->name, e->id);
		env_destroy(c); /* depth: bounded by the root's quota_envs */
	}
	struct env *p = e->parent;
	if (p) {
		p->frames_charged -= e->quota_frames;
		p->caps_charged -= e->quota_caps;
		p->envs_charged -= 1 + e->quota_envs;
		e->parent = NULL;
	}
}
