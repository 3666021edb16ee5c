#include "failpoint.h"
#include "cmdline.h"
#include "console.h"
#include "lib/string.h"

static const char *const names[FAIL_KINDS] = { [FAIL_FRAME] = "frame", [FAIL_HEAP] = "heap" };

u64 failpoint_count[FAIL_KINDS]; /* calls of each kind */
bool failpoint_configured;        /* a fail= item taken, or failpoint_arm called */

static struct {
	u64 fail_at;    /* 0: never */
	u32 per_mille;  /* rand: chance of each call failing once armed */
	u64 rng;        /* rand: splitmix64 state (the seed) */
	u64 random_injected;
} points[FAIL_KINDS];
static u64 injected;
static bool random_armed; /* random failures start with the envs */

static u64 splitmix64(u64 *x)
{
	u64 z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* KIND:rand:SEED:PER_MILLE. */
static bool parse_random(int kind, char *rest)
{
	char *seed = rest + 5, *pm = strchr(seed, ':');
	u64 s, p;
	if (strncmp(rest, "rand:", 5) != 0 || !pm)
		return false;
	*pm++ = 0;
	if (!parse_u64(seed, &s) || !parse_u64(pm, &p) || p == 0 || p > 1000)
		return false;
	points[kind].rng = s;
	points[kind].per_mille = (u32)p;
	failpoint_configured = true;
	kprintf("fail: %s allocations fail at random once the envs are made: seed %llu, %llu per mille\n", names[kind],
		(unsigned long long)s, (unsigned long long)p);
	return true;
}

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
			if (kind >= 0 && parse_random(kind, colon + 1)) {
				/* reported */
			} else if (kind < 0 || !parse_u64(colon + 1, &at) || at == 0) {
				kprintf("fail: '%.*s' is not KIND:N or KIND:rand:SEED:PER_MILLE (KIND frame or heap, "
					"N >= 1, PER_MILLE 1..1000), ignored\n",
					(int)n, spec);
				bad++;
			} else {
				points[kind].fail_at = at;
				failpoint_configured = true;
				kprintf("fail: %s allocation #%llu will fail\n", names[kind], (unsigned long long)at);
			}
		}
		spec += n;
		if (*spec == ',')
			spec++;
	}
	return bad;
}

bool failpoint_decide(enum failpoint kind, u64 n)
{
	if (random_armed && points[kind].per_mille &&
	    splitmix64(&points[kind].rng) % 1000 < points[kind].per_mille) {
		injected++;
		points[kind].random_injected++;
		return true; /* quietly: there may be thousands (failpoint_report counts them) */
	}
	if (n != points[kind].fail_at)
		return false;
	injected++;
	kprintf("fail: injecting failure of %s allocation #%llu\n", names[kind], (unsigned long long)n);
	return true;
}

void failpoint_arm_random(void) { random_armed = true; }

void failpoint_report(void)
{
	for (int k = 0; k < FAIL_KINDS; k++)
		if (points[k].per_mille)
			kprintf("fail: %llu of %llu %s allocations failed at random\n",
				(unsigned long long)points[k].random_injected, (unsigned long long)failpoint_count[k],
				names[k]);
}

void failpoint_arm(enum failpoint kind, u64 n)
{
	points[kind].fail_at = failpoint_count[kind] + n;
	failpoint_configured = true;
}

u64 failpoint_calls(enum failpoint kind) { return failpoint_count[kind]; }

u64 failpoint_injected(void) { return injected; }
