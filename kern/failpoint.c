#include "failpoint.h"
#include "cmdline.h"
#include "console.h"
#include "lib/string.h"

static const char *const names[FAIL_KINDS] = { [FAIL_FRAME] = "frame", [FAIL_HEAP] = "heap" };

static struct {
	u64 calls;
	u64 fail_at; /* 0: never */
} points[FAIL_KINDS];
static u64 injected;

int failpoint_configure(const char *spec)
{
	int bad = 0;
	char item[64];
	while (spec && *spec) {
		size_t n = 0;
		while (spec[n] && spec[n] != ',')
			n++;
		if (n >= sizeof item) {
			kprintf("fail: item too long, ignored\n");
			bad++;
		} else {
			memcpy(item, spec, n);
			item[n] = 0;
			char *colon = strchr(item, ':');
			u64 at;
			int kind = -1;
			if (colon) {
				*colon = 0;
				for (int k = 0; k < FAIL_KINDS; k++)
					if (strcmp(item, names[k]) == 0)
						kind = k;
			}
			if (kind < 0 || !parse_u64(colon + 1, &at) || at == 0) {
				kprintf("fail: '%.*s' is not KIND:N (KIND frame or heap, N >= 1), ignored\n",
					(int)n, spec);
				bad++;
			} else {
				points[kind].fail_at = at;
				kprintf("fail: %s allocation #%llu will fail\n", names[kind], (unsigned long long)at);
			}
		}
		spec += n;
		if (*spec == ',')
			spec++;
	}
	return bad;
}

bool failpoint_hit(enum failpoint kind)
{
	u64 n = ++points[kind].calls;
	if (n != points[kind].fail_at)
		return false;
	injected++;
	kprintf("fail: injecting failure of %s allocation #%llu\n", names[kind], (unsigned long long)n);
	return true;
}

void failpoint_arm(enum failpoint kind, u64 n) { points[kind].fail_at = points[kind].calls + n; }

u64 failpoint_calls(enum failpoint kind) { return points[kind].calls; }

u64 failpoint_injected(void) { return injected; }
