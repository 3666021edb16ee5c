/*
 * `paths SUBJECT PATH [FINAL]`: the differential harness for the kernel's
 * fast paths (tests/test_paths.py).
 *
 * A fast path promises to do exactly what the general path does, only in
 * fewer instructions. This program puts the kernel through a table of
 * states with SUBJECT's fast paths switched on or off (SYS_DEBUG
 * DEBUG_FAST_PATHS) and prints, per state, one line of everything the env
 * can see of the outcome; the test boots it once per PATH and requires the
 * lines to be the same. FINAL is a state that ends the env (the test
 * compares the kernel's words). A later fast path adds a subject: a table
 * of states, a probe, and the bit that switches it off.
 *
 * Subjects and their paths:
 *   event   `int $0x82` (the self event): PATH fast (entry.S's assembly,
 *           then upcall_event_fast), c (the assembly switched off) or
 *           general (both off: env_run and upcall_before_resume);
 *           FINAL bad-entry or bad-stack
 */
#include "keel.h"

void paths_int_self(const uint64_t in[15], uint64_t out[15], uint64_t rsp);
extern uint64_t paths_saved_rsp;
extern char paths_int[], paths_int_end[], paths_event_entry[];
extern char keel_resume_crit_start[], keel_resume_crit_end[];

#define NREGS 15
static const char *const reg_names[NREGS] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
					      "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };

/* A context's registers in the order of the probes' arrays. */
static void ctx_regs(const struct keel_context *c, uint64_t r[NREGS])
{
	const uint64_t v[NREGS] = { c->rax, c->rbx, c->rcx, c->rdx, c->rsi, c->rdi, c->rbp, c->r8,
				    c->r9,  c->r10, c->r11, c->r12, c->r13, c->r14, c->r15 };
	memcpy(r, v, sizeof v);
}

/* A Ring 3 context with these registers, resuming at paths_int_end. */
static void probe_ctx(struct keel_context *c, const uint64_t r[NREGS], uint64_t rflags, uint64_t rsp)
{
	c->rax = r[0], c->rbx = r[1], c->rcx = r[2], c->rdx = r[3], c->rsi = r[4], c->rdi = r[5], c->rbp = r[6];
	c->r8 = r[7], c->r9 = r[8], c->r10 = r[9], c->r11 = r[10], c->r12 = r[11], c->r13 = r[12], c->r14 = r[13];
	c->r15 = r[14];
	c->rip = (uint64_t)paths_int_end;
	c->cs = KEEL_USER_CS;
	c->ss = KEEL_USER_SS;
	c->rflags = rflags;
	c->rsp = rsp;
}

/* "ok", or the registers that differ from want. */
static const char *regs_diff(const uint64_t got[NREGS], const uint64_t want[NREGS], char *buf, size_t n)
{
	size_t at = 0;
	buf[0] = 0;
	for (int i = 0; i < NREGS; i++)
		if (got[i] != want[i])
			at += (size_t)snprintf(buf + at, n - at, "%s%s=%#llx", at ? "," : "", reg_names[i],
					       (unsigned long long)got[i]);
	return at ? buf : "ok";
}

static uint64_t hash_regs(const uint64_t *r, int n)
{
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < n; i++)
		for (int b = 0; b < 64; b += 8) {
			h ^= (r[i] >> b) & 0xFF;
			h *= 1099511628211ULL;
		}
	return h;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* ---------------------------------------------------------- the event */

static struct keel_upcall_area area __attribute__((aligned(4096)));
static uint8_t stack[16384] __attribute__((aligned(64)));
#define STACK_TOP ((uint64_t)(stack + sizeof stack))

/* What the event entry saw, filled in by paths_event. */
static struct {
	int delivered;
	uint64_t entry[NREGS + 2]; /* r15 .. rax (as pushed), RSP, RFLAGS at the entry */
	struct keel_context saved; /* the enabled save, as the entry found it */
	uint32_t disabled;
	uint64_t pending, upcalls, crit_fixups, deadline, delivered_at;
} seen;

static uint64_t in[NREGS], out[NREGS];
static struct keel_context resume_ctx; /* where a crit-range state goes back to */
static int resume_own;                 /* resume resume_ctx, not the enabled save */

__attribute__((noreturn)) void paths_event(struct keel_upcall_area *a, const uint64_t *block);
__attribute__((noreturn)) void paths_event(struct keel_upcall_area *a, const uint64_t *block)
{
	seen.delivered = 1;
	memcpy(seen.entry, block, sizeof seen.entry);
	seen.saved = a->enabled_save;
	seen.disabled = a->disabled;
	seen.pending = __atomic_exchange_n(&a->pending, 0, __ATOMIC_SEQ_CST);
	seen.upcalls = a->upcalls;
	seen.crit_fixups = a->crit_fixups;
	seen.deadline = a->deadline;
	seen.delivered_at = a->delivered_at;
	/* Back to libos's own resume routine before resuming through it. */
	a->crit_start = (uint64_t)keel_resume_crit_start;
	a->crit_end = (uint64_t)keel_resume_crit_end;
	keel_resume(resume_own ? &resume_ctx : &a->enabled_save, a);
}

struct event_state {
	const char *name;
	uint32_t disabled;
	uint64_t pending;  /* waiting before the event */
	int crit;          /* 1: the int in the critical range; 2: in one too long to count */
	uint64_t entry;    /* the event entry (0: paths_event_entry) */
	int64_t stack_off; /* from the upcall stack's top */
};

static const struct event_state event_states[] = {
	{ "enabled", .disabled = 0 },
	{ "enabled-with-events-waiting", .pending = KEEL_EV_SWVEC | KEEL_EV_TIMER },
	{ "enabled-unaligned-stack", .stack_off = -8 },
	{ "disabled", .disabled = 1 },
	{ "disabled-with-events-waiting", .disabled = 1, .pending = KEEL_EV_SWVEC },
	{ "in-the-critical-range", .crit = 1 },
	{ "in-a-critical-range-too-long", .crit = 2 },
};

static const struct event_state event_finals[] = {
	{ "bad-entry", .entry = 0xFFFF800000001000ULL },
	{ "bad-stack", .stack_off = (int64_t)0x8000000000000000LL },
};

static void event_run(const struct event_state *s)
{
	struct keel_upcall_area *a = &area;
	struct keel_context fake; /* crit range: what the resume routine was restoring */
	uint64_t rsp = 0, before_upcalls = a->upcalls, before_fixups = a->crit_fixups;
	for (int i = 0; i < NREGS; i++)
		in[i] = 0x1111111111111111ULL * (uint64_t)(i + 1) ^ (uint64_t)(uintptr_t)s->name;
	memset(&seen, 0, sizeof seen);
	resume_own = 0;
	a->event_entry = s->entry ? s->entry : (uint64_t)paths_event_entry;
	a->upcall_stack = STACK_TOP + (uint64_t)s->stack_off;
	a->pending = s->pending;
	if (s->crit) {
		/* The interrupted RIP is the one after the int: the range
		 * covers paths_int_end too. */
		a->crit_start = s->crit == 1 ? (uint64_t)paths_int : (uint64_t)paths_int - 300;
		a->crit_end = (uint64_t)paths_int_end + 1;
	}
	if (s->crit == 1) {
		/* The kernel takes the interrupted context from the stack the
		 * resume routine was popping: RSP points at its RIP. */
		uint64_t other[NREGS];
		for (int i = 0; i < NREGS; i++)
			other[i] = in[i] + 0x1000;
		probe_ctx(&fake, other, 0x246, STACK_TOP - 4096);
		rsp = (uint64_t)&fake.rip;
		/* The handler resumes the probe itself, with the registers it set. */
		probe_ctx(&resume_ctx, in, 0x202, STACK_TOP - 8192);
		resume_own = 1;
	}
	a->disabled = s->disabled;
	uint64_t t0 = rdtsc();
	paths_int_self(in, out, rsp);
	uint64_t cost = rdtsc() - t0;

	char b1[512], b2[512];
	uint64_t saved_regs[NREGS], want[NREGS];
	ctx_regs(&seen.saved, saved_regs);
	memcpy(want, in, sizeof want);
	if (s->crit == 1)
		ctx_regs(&fake, want);
	printf("paths event %s: delivered %d", s->name, seen.delivered);
	if (seen.delivered) {
		/* At an entry the kernel defines RDI, RSP and RFLAGS; the other
		 * registers are the interrupted context's but RCX and R11, which
		 * are undefined (the kernel may return by sysretq). */
		uint64_t others[NREGS];
		memcpy(others, seen.entry, sizeof others);
		others[NREGS - 1 - 2] = others[4] = 0; /* rcx, r11 */
		printf("; at the entry: rsp top-%llu rflags %#llx rdi %s, others %#llx",
		       (unsigned long long)(STACK_TOP - seen.entry[NREGS]), (unsigned long long)seen.entry[NREGS + 1],
		       seen.entry[NREGS - 1 - 5] == (uint64_t)a ? "the area" : "OTHER",
		       (unsigned long long)hash_regs(others, NREGS));
		printf("; saved: regs %s", regs_diff(saved_regs, want, b1, sizeof b1));
		printf(" rip %s%+lld cs %#llx ss %#llx rflags %#llx rsp %s",
		       seen.saved.rip == (uint64_t)paths_int_end ? "paths_int_end" : "?",
		       (long long)(seen.saved.rip - (uint64_t)paths_int_end), (unsigned long long)seen.saved.cs,
		       (unsigned long long)seen.saved.ss, (unsigned long long)seen.saved.rflags,
		       seen.saved.rsp == (s->crit == 1 ? fake.rsp : paths_saved_rsp) ? "kept" : "OTHER");
		printf("; area: disabled %u pending %#llx upcalls +%llu crit_fixups +%llu deadline %#llx delivered_at %s",
		       seen.disabled, (unsigned long long)seen.pending, (unsigned long long)(seen.upcalls - before_upcalls),
		       (unsigned long long)(seen.crit_fixups - before_fixups), (unsigned long long)seen.deadline,
		       seen.delivered_at ? "set" : "0");
	} else {
		printf("; area: disabled %u pending %#llx upcalls +%llu deadline %#llx delivered_at %s", a->disabled,
		       (unsigned long long)a->pending, (unsigned long long)(a->upcalls - before_upcalls),
		       (unsigned long long)a->deadline, a->delivered_at ? "set" : "0");
	}
	printf("; back: regs %s\n", regs_diff(out, in, b2, sizeof b2));
	printf("paths event %s: cost %llu\n", s->name, (unsigned long long)cost);
	/* Clean for the next state. */
	a->disabled = 0;
	a->pending = 0;
	a->deadline = a->delivered_at = 0;
	a->crit_start = (uint64_t)keel_resume_crit_start;
	a->crit_end = (uint64_t)keel_resume_crit_end;
}

static int event_subject(const char *final)
{
	if (keel_upcalls_init_at(&area, NULL, NULL)) {
		printf("paths event: no upcall area\n");
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(event_states); i++)
		event_run(&event_states[i]);
	for (size_t i = 0; final && i < ARRAY_SIZE(event_finals); i++)
		if (!strcmp(final, event_finals[i].name)) {
			printf("paths event %s: the env must end here\n", final);
			event_run(&event_finals[i]);
			printf("paths event %s: survived: WRONG\n", final);
			return 1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	const char *subject = argc > 1 ? argv[1] : "event";
	const char *path = argc > 2 ? argv[2] : "fast";
	const char *final = argc > 3 ? argv[3] : NULL;
	long off = !strcmp(path, "fast")    ? 0 :
		   !strcmp(path, "c")       ? KEEL_FASTPATH_ASM :
		   !strcmp(path, "general") ? KEEL_FASTPATH_ASM | KEEL_FASTPATH_C :
					      -1;
	if (off < 0 || strcmp(subject, "event")) {
		printf("paths: usage: paths event fast|c|general [FINAL]\n");
		return 2;
	}
	long r = sys_debug(DEBUG_FAST_PATHS, off, 0);
	printf("paths: %s: fast paths switched off: %#lx (%ld)\n", path, off, r);
	if (r)
		return 1;
	int rc = event_subject(final);
	sys_debug(DEBUG_FAST_PATHS, 0, 0);
	printf("paths %s %s: done\n", subject, path);
	return rc;
}
