/* The smallest Keel program: who am I, where am I, what was I given. */
#include "keel.h"

int main(int argc, char **argv)
{
	/* One line, one write: envs on other CPUs print at the same time. */
	char args[256] = "";
	size_t n = 0;
	for (int i = 1; i < argc && n < sizeof args; i++)
		n += (size_t)snprintf(args + n, sizeof args - n, " %s", argv[i]);
	printf("hello from env %ld (%s), loaded at %#llx, stack at %#llx, %d arg%s:%s\n", sys_env_id(), argv[0],
	       (unsigned long long)keel_start_info->image_base, (unsigned long long)keel_start_info->stack_base,
	       argc - 1, argc == 2 ? "" : "s", args);
	return 0;
}
