#include "env.h"
#include "lib/string.h"
#include "vm.h"

long keel_spawn(const char *image, const char *args, uint32_t quota_frames, uint32_t quota_caps,
		uint32_t quota_envs)
{
	struct keel_spawn r = { .image = image, .image_len = strlen(image), .args = args,
				.args_len = args ? strlen(args) : 0, .quota_frames = quota_frames,
				.quota_caps = quota_caps, .quota_envs = quota_envs };
	return sys_env_spawn(&r);
}

int keel_env_gone(uint32_t env_slot)
{
	struct keel_cap_info info;
	return sys_cap_info(env_slot, &info) == 0 && (info.flags & KEEL_CAPF_GONE);
}

void keel_env_wait(uint32_t env_slot)
{
	while (!keel_env_gone(env_slot))
		sys_yield();
}

int keel_envs_alive(void)
{
	int alive = 0;
	struct keel_cap_info info;
	for (long s = 0; (s = vm_find_cap((uint32_t)s, KEEL_CAP_ENV, NULL, 0, &info)) >= 0; s++)
		alive += !(info.flags & KEEL_CAPF_GONE);
	return alive;
}
