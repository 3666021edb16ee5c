/*
 * The command line's tunables: one table -- key, unit, range, where the value
 * goes -- and one parser, so every key takes its value and refuses a bad one
 * alike. A tunable's default is whatever its variable holds before the
 * command line is read (its definition, or the build's configuration).
 */
#include "tunables.h"
#include "arch/x86_64/metronome.h"
#include "arch/x86_64/smp.h"
#include "cap.h"
#include "config.h"
#include "console.h"
#include "lib/string.h"
#include "lock.h"
#include "tlb.h"
#include "spawn.h"
#include "syscall.h"
#include "uaccess.h"
#include "upcall.h"

u64 timeslice_us = KEEL_TIMESLICE_US;

struct tunable {
	const char *key;
	u64 min, max;             /* accepted values, in the key's unit (words: indices) */
	u64 scale;                /* the variable holds value * scale */
	void *var;                /* where the value goes: a bool, u32 or u64 */
	unsigned size;
	const char *const *words; /* a word-valued key: value i is spelled words[i] */
};

#define NUMBER(k, lo, hi, sc, v) { .key = k, .min = lo, .max = hi, .scale = sc, .var = &(v), .size = sizeof(v) }
#define WORDS(k, w, hi, v) { .key = k, .min = 0, .max = hi, .scale = 1, .var = &(v), .size = sizeof(v), .words = w }

static const char *const window_words[] = { "closed", "open" };
static const char *const shootdown_words[] = { "ipi", "skip" };
static const char *const lockstat_words[] = { "off", "on" };
static const char *const trampoline_words[] = { "choose", "move" };
static const char *const fastpaths_words[] = { "on", "off" };

static const struct tunable tunables[] = {
	/* per boot env: capability slots, frames, GiB of the address space, descendants */
	NUMBER("quota_caps", 16, 1u << 24, 1, quota_caps_default),
	NUMBER("quota_frames", 64, 1u << 26, 1, quota_frames_default),
	NUMBER("quota_vspace_gib", 1, 1u << 17, 1ull << 30, quota_vspace_default),
	/* (descendants: each needs at least 64 frames of its parent's quota,
	 * so 65536 of them is 16 GiB of guest memory held at once; beyond
	 * that the kernel's walks of its one env list (an env's end, the
	 * cross-CPU checks) and env_by_id's buckets grow costly before
	 * anything runs out) */
	NUMBER("quota_envs", 0, 65536, 1, quota_envs_default),
	/* the round-robin slice (us), and how long an env may stay disabled (ms) */
	NUMBER("timeslice_us", 10, 1000000, 1, timeslice_us),
	NUMBER("watchdog_ms", 1, 100000, 1000000, upcall_watchdog_ns),
	/* a masked periodic PIT (us; 0: off): QEMU -icount's vCPU turns end by it */
	NUMBER("metronome_us", 0, 50000, 1, metronome_us),
	/* test only: user copies may go through the page-table window ("open"
	 * exists in debug builds alone) */
	WORDS("uaccess_window", window_words, KEEL_DEBUG ? 1 : 0, uaccess_window_open),
	/* test only: TLB shootdowns send no IPI ("skip" in debug builds alone),
	 * the negative control of the shootdown tests */
	WORDS("shootdown", shootdown_words, KEEL_DEBUG ? 1 : 0, tlb_skip_ipis),
	/* test only: every fast path off for the whole boot, the general paths
	 * alone ("off" in debug builds alone; syscall.h) */
	WORDS("fastpaths", fastpaths_words, KEEL_DEBUG ? 1 : 0, fast_paths_forced_off),
	/* lock hold and spin times (a TSC read at each acquisition and release) */
	WORDS("lockstat", lockstat_words, 1, lockstat_on),
	/* test only: the APs' trampoline page comes from moving a boot module,
	 * as if no page below 640 KiB were free */
	WORDS("trampoline", trampoline_words, 1, smp_trampoline_move),
};

static u64 get(const struct tunable *t)
{
	u64 v = t->size == 1 ? *(u8 *)t->var : t->size == 4 ? *(u32 *)t->var : *(u64 *)t->var;
	return v / t->scale;
}

static void set(const struct tunable *t, u64 v)
{
	v *= t->scale;
	if (t->size == 1)
		*(u8 *)t->var = (u8)v;
	else if (t->size == 4)
		*(u32 *)t->var = (u32)v;
	else
		*(u64 *)t->var = v;
}

/* The value val stands for, if it is one of t's. */
static bool parse(const struct tunable *t, const char *val, u64 *out)
{
	if (t->words) {
		for (u64 i = t->min; i <= t->max; i++)
			if (!strcmp(val, t->words[i])) {
				*out = i;
				return true;
			}
		return false;
	}
	return parse_u64(val, out) && *out >= t->min && *out <= t->max;
}

/* "closed" or "65536": a value as the command line spells it. */
static void print_value(const struct tunable *t, u64 v)
{
	if (t->words)
		kprintf("%s", t->words[v]);
	else
		kprintf("%llu", (unsigned long long)v);
}

unsigned tunables_apply(const struct cmdline *c)
{
	unsigned given = 0, refused = 0;
	for (size_t i = 0; i < ARRAY_SIZE(tunables); i++) {
		const struct tunable *t = &tunables[i];
		const char *val = cmdline_get(c, t->key);
		u64 v;
		if (!val)
			continue;
		given++;
		if (parse(t, val, &v)) {
			set(t, v);
			continue;
		}
		refused++;
		kprintf("warning: %s=%s is not ", t->key, val);
		if (t->words) {
			for (u64 w = t->min; w <= t->max; w++)
				kprintf("%s%s", w > t->min ? "|" : "", t->words[w]);
		} else {
			kprintf("%llu..%llu", (unsigned long long)t->min, (unsigned long long)t->max);
		}
		kprintf(", keeping ");
		print_value(t, get(t));
		kprintf("\n");
	}
	if (!given)
		return 0;
	kprintf("tunables:");
	for (size_t i = 0; i < ARRAY_SIZE(tunables); i++) {
		kprintf(" %s=", tunables[i].key);
		print_value(&tunables[i], get(&tunables[i]));
	}
	kprintf("\n");
	return refused;
}
