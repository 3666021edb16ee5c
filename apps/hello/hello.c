/* The smallest Keel program: who am I, where am I, what was I given. */
#include "keel.h"

int main(int argc, char **argv)
{
	printf("hello from env %ld (%s), loaded at %#llx, stack at %#llx, %d arg%s:", sys_env_id(), argv[0],
	       (unsigned long long)keel_start_info->image_base, (unsigned long long)keel_start_info->stack_base,
	       argc - 1, argc == 2 ? "" : "s");
	for (int i = 1; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	return 0;
}
