#include "keel.h"

const struct keel_start *keel_start_info;

#define MAX_ARGS 16

__attribute__((noreturn)) void libos_start(const struct keel_start *si);

__attribute__((noreturn)) void libos_start(const struct keel_start *si)
{
	static char args[KEEL_ARGS_MAX];
	static char *argv[MAX_ARGS + 1];
	int argc = 0;

	keel_start_info = si;
	argv[argc++] = (char *)si->name;
	memcpy(args, si->args, sizeof args);
	args[sizeof args - 1] = 0;
	for (char *p = args; *p && argc < MAX_ARGS;) {
		while (*p == ' ')
			*p++ = 0;
		if (!*p)
			break;
		argv[argc++] = p;
		while (*p && *p != ' ')
			p++;
	}
	argv[argc] = NULL;
	sys_exit(main(argc, argv));
}

uint64_t keel_atou(const char *s)
{
	uint64_t v = 0;
	for (; s && *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (uint64_t)(*s - '0');
	return v;
}
