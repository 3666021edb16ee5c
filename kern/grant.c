#include "grant.h"
#include "cmdline.h"
#include "console.h"
#include "cpucap.h"
#include "env.h"
#include "arch/x86_64/percpu.h"
#include "ioport.h"
#include "irq.h"
#include "keel/errno.h"
#include "lib/errname.h"
#include "lib/string.h"
#include "trace_cap.h"

static bool prefixed(const char *s, const char *p, const char **rest)
{
	size_t n = strlen(p);
	if (strncmp(s, p, n) != 0)
		return false;
	*rest = s + n;
	return true;
}

/* One item, NUL-terminated: the new capability's slot or -errno. */
static int grant_one(char *item, struct env **envs, u64 n, struct env **to)
{
	char *what = strchr(item, ':');
	u64 idx, a, b;
	const char *rest;
	if (!what)
		return -EINVAL;
	*what++ = 0;
	if (!parse_u64(item, &idx) || idx >= n)
		return -ENOENT;
	struct env *e = *to = envs[idx];
	if (prefixed(what, "irq", &rest) && parse_u64(rest, &a) && a < 16)
		return irq_grant(e, (u32)a, true);
	if (prefixed(what, "gsi", &rest) && parse_u64(rest, &a) && a < 256)
		return irq_grant(e, (u32)a, false);
	if (prefixed(what, "swvec", &rest) && parse_u64(rest, &a) && a < 256)
		return swvec_grant(e, (u32)a);
	if (strcmp(what, "trace") == 0)
		return trace_grant(e); /* the only way a trace capability comes to be */
	if (prefixed(what, "cpu", &rest) && parse_u64(rest, &a))
		return cpucap_grant(e, a < cpus_up ? (u32)a : cpus_up); /* (-ERANGE: not up) */
	if (prefixed(what, "io", &rest)) {
		char *plus = strchr(rest, '+');
		if (!plus)
			return -EINVAL;
		*plus = 0;
		if (!parse_u64(rest, &a) || !parse_u64(plus + 1, &b) || a >= IOPORTS || b > IOPORTS)
			return -EINVAL;
		return ioport_grant(e, (u32)a, (u32)b);
	}
	return -EINVAL;
}

/* pin=IDX:cpuN, SMP part 1's placement: now the same as grant=IDX:cpuN. */
static int pin_one(char *item, struct env **envs, u64 n, struct env **to)
{
	const char *what = strchr(item, ':');
	if (what && strncmp(what + 1, "cpu", 3) != 0)
		return -EINVAL;
	return grant_one(item, envs, n, to);
}

/* Each comma-separated item of spec through one(); reports each. */
static u64 apply_items(const char *key, const char *spec, struct env **envs, u64 n,
		       int (*one)(char *item, struct env **envs, u64 n, struct env **to))
{
	u64 failed = 0;
	while (*spec) {
		char item[48], shown[48];
		size_t len = 0;
		while (spec[len] && spec[len] != ',')
			len++;
		struct env *to = NULL;
		int r = -E2BIG;
		if (len < sizeof item) {
			memcpy(item, spec, len);
			item[len] = 0;
			memcpy(shown, item, len + 1);
			r = one(item, envs, n, &to);
		} else {
			memcpy(shown, "(too long)", 11);
		}
		if (r < 0) {
			kprintf("%s: %s: refused: %s\n", key, shown, errname(r));
			failed++;
		} else {
			kprintf("%s: %s: env %u (%s), slot %d\n", key, shown, to->id, to->name, r);
		}
		spec += len;
		if (*spec == ',')
			spec++;
	}
	return failed;
}

u64 grant_apply(const char *spec, struct env **envs, u64 n) { return apply_items("grant", spec, envs, n, grant_one); }

u64 pin_apply(const char *spec, struct env **envs, u64 n) { return apply_items("pin", spec, envs, n, pin_one); }
