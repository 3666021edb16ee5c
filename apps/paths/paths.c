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
 *   trap    a page fault in Ring 3 (a read of an unmapped page): PATH fast
 *           (entry.S's assembly, then upcall_trap_fast), c (the assembly
 *           switched off) or general (both off: upcall_exception);
 *           FINAL bad-entry or bad-stack
 *   pct     a protected control transfer and its reply, with env
 *           `paths pctpeer` beside it (run=paths:pct:PATH,paths:pctpeer):
 *           PATH fast (pct.c's fast paths) or general (KEEL_FASTPATH_PCT
 *           off). The caller prints what it got back and both kernel
 *           records; the peer prints what its entry got, its area and the
 *           records as the call left them.
 *   yield   SYS_YIELD, with `paths pctpeer` beside it yielding in its loop
 *           (run=paths:yield:PATH,paths:pctpeer): PATH fast (pct.c's
 *           pct_yield_fast) or general (KEEL_FASTPATH_YIELD and _PCT off).
 *           Per state (the area's flags, enabled or not, events waiting,
 *           garbage in RDI) the caller prints its registers back, its area
 *           and both kernel records.
 */
#include "keel.h"
#include "ipc.h"
#include "vm.h"

void paths_int_self(const uint64_t in[15], uint64_t out[15], uint64_t rsp);
void paths_syscall_self(const uint64_t in[15], uint64_t out[15]);
extern char paths_pct_entry[];
extern uint64_t paths_saved_rsp;
extern char paths_int[], paths_int_end[], paths_event_entry[];
void paths_pf_self(const uint64_t in[15], uint64_t out[15], uint64_t rsp);
extern char paths_pf[], paths_pf_end[], paths_trap_entry[];
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

struct event_state { /* (a trap subject's too: crit unused) */
	const char *name;
	uint32_t disabled;
	uint64_t pending;  /* waiting before the event */
	int crit;          /* 1: the int in the critical range; 2: in one too long to count */
	uint64_t entry;    /* the event (trap) entry (0: paths_event_entry, paths_trap_entry) */
	int64_t stack_off; /* from the upcall stack's top */
	int yielded;       /* trap: disabled over one yield first (the watchdog counts) */
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

/* A subject's table of states, then FINAL (a state that must end the env:
 * the test compares the kernel's words), each through run. */
static int run_table(const char *subject, void (*run)(const struct event_state *), const struct event_state *states,
		     size_t n, const struct event_state *finals, size_t nfinals, const char *final)
{
	if (keel_upcalls_init_at(&area, NULL, NULL)) {
		printf("paths %s: no upcall area\n", subject);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		run(&states[i]);
	for (size_t i = 0; final && i < nfinals; i++)
		if (!strcmp(final, finals[i].name)) {
			printf("paths %s %s: the env must end here\n", subject, final);
			run(&finals[i]);
			printf("paths %s %s: survived: WRONG\n", subject, final);
			return 1;
		}
	return 0;
}

static int event_subject(const char *final)
{
	return run_table("event", event_run, event_states, ARRAY_SIZE(event_states), event_finals,
			 ARRAY_SIZE(event_finals), final);
}

/* ------------------------------------------------------ the trap */

#define PF_ADDR 0x1000ULL /* never mapped */

/* What the trap entry saw, filled in by paths_trap. */
static struct {
	int delivered;
	uint64_t entry[NREGS + 2]; /* r15 .. rax (as pushed), RSP, RFLAGS at the entry */
	struct keel_context saved; /* the save the entry's R8 names, as the entry found it */
	uint32_t disabled;
	uint64_t vector, error, cr2, traps, pending;
	uint64_t watchdog; /* the kernel record's, read in the handler (disabled) */
} tseen;

__attribute__((noreturn)) void paths_trap(struct keel_upcall_area *a, const uint64_t *block);
__attribute__((noreturn)) void paths_trap(struct keel_upcall_area *a, const uint64_t *block)
{
	tseen.delivered = 1;
	memcpy(tseen.entry, block, sizeof tseen.entry);
	uint64_t slot = block[NREGS - 1 - 7]; /* r8 */
	struct keel_context *c = slot == KEEL_SAVE_TRAP ? &a->trap_save : &a->enabled_save;
	tseen.saved = *c;
	tseen.disabled = a->disabled;
	tseen.vector = a->trap_vector;
	tseen.error = a->trap_error;
	tseen.cr2 = a->trap_cr2;
	tseen.traps = a->traps;
	tseen.pending = a->pending;
	struct keel_disp_record r;
	tseen.watchdog = sys_debug(DEBUG_DISP_RECORD, KEEL_SELF, (long)&r) ? ~0ULL : r.watchdog;
	c->rip = (uint64_t)paths_pf_end; /* past the faulting read */
	keel_resume(c, a);
}

static const struct event_state trap_states[] = {
	{ "enabled", .disabled = 0 },
	{ "enabled-with-events-waiting", .pending = KEEL_EV_SWVEC | KEEL_EV_TIMER },
	{ "enabled-unaligned-stack", .stack_off = -8 },
	{ "disabled", .disabled = 1 }, /* to the trap save, on the trap stack */
	/* A disabled yield charged the watchdog; enabled at the fault, so every
	 * path starts its count over. */
	{ "enabled-after-a-disabled-yield", .yielded = 1 },
};

static const struct event_state trap_finals[] = {
	{ "bad-entry", .entry = 0xFFFF800000001000ULL },
	{ "bad-stack", .stack_off = (int64_t)0x8000000000000000LL },
};

static void trap_run(const struct event_state *s)
{
	struct keel_upcall_area *a = &area;
	uint64_t before_traps = a->traps;
	for (int i = 0; i < NREGS; i++)
		in[i] = 0x1111111111111111ULL * (uint64_t)(i + 1) ^ (uint64_t)(uintptr_t)s->name;
	memset(&tseen, 0, sizeof tseen);
	a->trap_entry = s->entry ? s->entry : (uint64_t)paths_trap_entry;
	a->upcall_stack = STACK_TOP + (uint64_t)s->stack_off;
	a->pending = s->pending;
	if (s->yielded) {
		a->disabled = 1;
		sys_yield();
	}
	a->disabled = s->disabled;
	uint64_t t0 = rdtsc();
	paths_pf_self(in, out, 0);
	uint64_t cost = rdtsc() - t0;

	char b1[512], b2[512];
	uint64_t saved_regs[NREGS];
	ctx_regs(&tseen.saved, saved_regs);
	printf("paths trap %s: delivered %d", s->name, tseen.delivered);
	if (tseen.delivered) {
		/* The kernel defines RDI, RSI, RDX, RCX and R8 at a trap entry (and
		 * RSP, RFLAGS); the others are the interrupted context's. */
		const uint64_t *e = tseen.entry;
		uint64_t others[NREGS];
		memcpy(others, e, sizeof others);
		others[NREGS - 1 - 2] = others[NREGS - 1 - 3] = others[NREGS - 1 - 4] = 0; /* rcx rdx rsi */
		others[NREGS - 1 - 5] = others[NREGS - 1 - 7] = 0;                         /* rdi r8 */
		uint64_t rsp = e[NREGS], top = s->disabled ? a->trap_stack : STACK_TOP;
		printf("; at the entry: rsp %s-top-%llu rflags %#llx rdi %s rsi %#llx rdx %#llx rcx %#llx r8 %llu, others %#llx",
		       s->disabled ? "trap" : "upcall", (unsigned long long)(top - rsp), (unsigned long long)e[NREGS + 1],
		       e[NREGS - 1 - 5] == (uint64_t)a ? "the area" : "OTHER", (unsigned long long)e[NREGS - 1 - 4],
		       (unsigned long long)e[NREGS - 1 - 3], (unsigned long long)e[NREGS - 1 - 2],
		       (unsigned long long)e[NREGS - 1 - 7], (unsigned long long)hash_regs(others, NREGS));
		printf("; saved: regs %s rip %s%+lld cs %#llx ss %#llx rflags %#llx rsp %s",
		       regs_diff(saved_regs, in, b1, sizeof b1),
		       tseen.saved.rip == (uint64_t)paths_pf ? "paths_pf" : "?",
		       (long long)(tseen.saved.rip - (uint64_t)paths_pf), (unsigned long long)tseen.saved.cs,
		       (unsigned long long)tseen.saved.ss, (unsigned long long)tseen.saved.rflags,
		       tseen.saved.rsp == paths_saved_rsp ? "kept" : "OTHER");
		printf("; area: disabled %u vector %llu error %#llx cr2 %#llx traps +%llu pending %#llx", tseen.disabled,
		       (unsigned long long)tseen.vector, (unsigned long long)tseen.error, (unsigned long long)tseen.cr2,
		       (unsigned long long)(tseen.traps - before_traps), (unsigned long long)tseen.pending);
		printf("; kernel: watchdog %#llx", (unsigned long long)tseen.watchdog);
	}
	printf("; back: regs %s\n", regs_diff(out, in, b2, sizeof b2));
	printf("paths trap %s: cost %llu\n", s->name, (unsigned long long)cost);
	a->disabled = 0;
	a->pending = 0;
}

static int trap_subject(const char *final)
{
	return run_table("trap", trap_run, trap_states, ARRAY_SIZE(trap_states), trap_finals, ARRAY_SIZE(trap_finals),
			 final);
}

/* ------------------------------------------- the control transfer */

/* What the peer does between calls, set by the first argument of a call. */
enum { PEER_WAIT = 1, PEER_YIELD, PEER_DISABLE, PEER_STOP };
static volatile int peer_mode = PEER_WAIT;
static long other_slot; /* the ENV capability to the other env */

static uint64_t hash_bytes(const void *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= ((const uint8_t *)p)[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* One line of a dispatcher's kernel record (ctx as a hash, and its RIP). */
static void print_record(const char *who, long slot)
{
	struct keel_disp_record r;
	long err = sys_debug(DEBUG_DISP_RECORD, slot, (long)&r);
	if (err) {
		printf("; %s: record %ld", who, err);
		return;
	}
	printf("; %s: state %u resume %u waiting %u from_syscall %u serving %u was_waiting %u caller %u callee %u "
	       "events %#llx syscalls %llu activations %llu watchdog %llu ctx %#llx",
	       who, r.state, r.resume, r.waiting_events, r.ctx_from_syscall, r.serving, r.was_waiting, r.caller ? 1 : 0,
	       r.callee ? 1 : 0, (unsigned long long)r.events, (unsigned long long)r.syscalls,
	       (unsigned long long)r.activations, (unsigned long long)r.watchdog,
	       (unsigned long long)hash_bytes(r.ctx, sizeof r.ctx));
}

/* The peer's area, but the kernel's clocks in it (they tell the paths'
 * lengths apart, not what they did). */
static uint64_t area_hash(const struct keel_upcall_area *a)
{
	static struct keel_upcall_area c;
	memcpy(&c, a, sizeof c);
	c.descheduled_at = c.ran_ns = c.ran_total_ns = c.waited_total_ns = c.delivered_at = 0;
	c.clock_tsc_base = 0; /* (where the boot set the clock: each boot its own) */
	return hash_bytes(&c, sizeof c);
}

__attribute__((noreturn)) void paths_pct(struct keel_upcall_area *a, const uint64_t *block);
__attribute__((noreturn)) void paths_pct(struct keel_upcall_area *a, const uint64_t *block)
{
	/* block: r15 .. rax (as pushed), RSP, RFLAGS at the entry. RDI the
	 * area, RSI the caller's id, RDX RCX R8 R9 the arguments: the rest are
	 * hashed. */
	uint64_t r[NREGS + 2];
	memcpy(r, block, sizeof r);
	uint64_t args[4] = { r[NREGS - 1 - 3], r[NREGS - 1 - 2], r[7], r[6] }; /* rdx rcx r8 r9 */
	uint64_t caller = r[NREGS - 1 - 4];
	r[NREGS - 1 - 3] = r[NREGS - 1 - 2] = r[7] = r[6] = r[NREGS - 1 - 4] = 0;
	printf("paths pctpeer %llu: entry: rdi %s caller %llu args %#llx %#llx %#llx %#llx rsp top-%llu rflags %#llx "
	       "others %#llx; area: disabled %u pending %#llx posted %#llx pct_calls %llu activations %llu hash %#llx",
	       (unsigned long long)args[0], r[NREGS - 1 - 5] == (uint64_t)a ? "the area" : "OTHER",
	       (unsigned long long)caller, (unsigned long long)args[0], (unsigned long long)args[1],
	       (unsigned long long)args[2], (unsigned long long)args[3],
	       (unsigned long long)(a->pct_stack - r[NREGS]), (unsigned long long)r[NREGS + 1],
	       (unsigned long long)hash_regs(r, NREGS), a->disabled, (unsigned long long)a->pending,
	       (unsigned long long)a->posted, (unsigned long long)a->pct_calls, (unsigned long long)a->activations,
	       (unsigned long long)area_hash(a));
	print_record("mine", KEEL_SELF);
	print_record("the caller's", other_slot);
	printf("\n");
	peer_mode = (int)(args[0] >> 8);
	register uint64_t rdi __asm__("rdi") = args[0] + 1;
	register uint64_t rsi __asm__("rsi") = args[1] + 1;
	register uint64_t rdx __asm__("rdx") = args[2] + 1;
	register uint64_t r10 __asm__("r10") = args[3] + 1;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10)
			 : "a"((long)SYS_PCT_REPLY)
			 : "rcx", "r11", "r8", "r9", "memory");
	printf("paths pctpeer: the reply returned %ld: WRONG\n", ret);
	sys_exit(1);
}

static int pct_peer(void)
{
	other_slot = vm_find_cap(0, KEEL_CAP_ENV, NULL, 0, NULL);
	if (keel_upcalls_init(NULL, NULL) || other_slot < 0) {
		printf("paths pctpeer: no upcalls or no caller\n");
		return 1;
	}
	keel_area->pct_stack = (uint64_t)(stack + sizeof stack);
	keel_area->pct_entry = (uint64_t)paths_pct_entry;
	while (peer_mode != PEER_STOP) {
		if (peer_mode == PEER_WAIT) {
			sys_event_wait();
			__atomic_exchange_n(&keel_area->posted, 0, __ATOMIC_SEQ_CST);
		} else if (peer_mode == PEER_YIELD) {
			sys_yield();
		} else { /* disabled over one yield: a call finds it so */
			keel_area->disabled = 1;
			sys_yield();
			peer_mode = PEER_WAIT;
			keel_upcalls_enable(keel_area);
		}
	}
	printf("paths pctpeer: done\n");
	return 0;
}

struct pct_state {
	const char *name;
	int cmd;     /* the peer's next mode (PEER_*) */
	int prepare; /* what the caller does first (PREP_*) */
};

enum {
	PREP_YIELD = 1, /* the peer runs until it waits, yields or blocks */
	PREP_WAKE,      /* a post wakes the peer, which runs its loop once */
	PREP_POST,      /* a post only: events wait for it at the call */
	PREP_BAD_SLOT,  /* the call names an empty slot */
};

/* In this order, each leaving the peer where the next expects it. */
static const struct pct_state pct_states[] = {
	{ "waiting", PEER_YIELD, PREP_YIELD },         /* blocked in its wait */
	{ "queued", PEER_YIELD, PREP_WAKE },           /* runnable, yielding */
	{ "queued-again", PEER_DISABLE, PREP_YIELD },
	{ "disabled", PEER_WAIT, PREP_YIELD },         /* refused: -EAGAIN */
	{ "waiting-again", PEER_WAIT, PREP_YIELD },
	{ "events-waiting", PEER_WAIT, PREP_POST },    /* woken by a post, not yet run */
	{ "bad-slot", PEER_WAIT, PREP_BAD_SLOT },
	{ "last", PEER_STOP, PREP_YIELD },
};

static int pct_subject(void)
{
	other_slot = vm_find_cap(0, KEEL_CAP_ENV, NULL, 0, NULL);
	if (other_slot < 0) {
		printf("paths pct: no peer\n");
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(pct_states); i++) {
		const struct pct_state *s = &pct_states[i];
		uint64_t cin[NREGS], cout[NREGS];
		char b[512];
		if (s->prepare == PREP_WAKE || s->prepare == PREP_POST)
			sys_event_post((uint32_t)other_slot, 0, 0x10);
		if (s->prepare == PREP_YIELD || s->prepare == PREP_WAKE)
			sys_yield();
		for (int k = 0; k < NREGS; k++)
			cin[k] = 0x0101010101010101ULL * (uint64_t)(k + 1) ^ (uint64_t)(uintptr_t)s->name;
		cin[0] = SYS_PCT_CALL;
		cin[5] = s->prepare == PREP_BAD_SLOT ? 4000 : (uint64_t)other_slot;              /* rdi: the slot */
		cin[4] = (uint64_t)s->cmd << 8 | i;                                     /* rsi: a0 */
		uint64_t t0 = rdtsc();
		paths_syscall_self(cin, cout);
		uint64_t cost = rdtsc() - t0; /* (the peer's handler included: the same on every path) */
		printf("paths pct %s: ret %ld back %s", s->name, (long)cout[0], regs_diff(cout, cin, b, sizeof b));
		print_record("mine", KEEL_SELF);
		print_record("the peer's", other_slot);
		printf("\npaths pct %s: cost %llu\n", s->name, (unsigned long long)cost);
	}
	sys_event_post((uint32_t)other_slot, 0, 0x10); /* it sees PEER_STOP */
	return 0;
}

/* ------------------------------------------------------------ the yield */

struct yield_state {
	const char *name;
	uint32_t flags; /* the area's (KEEL_AREA_YIELD_IN_PLACE) */
	int disabled;   /* yields disabled (the flag changes nothing then) */
	uint64_t post;  /* posted to itself first: events wait at the yield */
	uint64_t rdi;   /* what RDI holds at the yield (SYS_YIELD takes nothing) */
};

static const struct yield_state yield_states[] = {
	{ "activation", .flags = 0 },
	{ "in-place", .flags = KEEL_AREA_YIELD_IN_PLACE },
	{ "activation-events-waiting", .flags = 0, .post = 0x20 },
	{ "in-place-events-waiting", .flags = KEEL_AREA_YIELD_IN_PLACE, .post = 0x20 },
	{ "in-place-disabled", .flags = KEEL_AREA_YIELD_IN_PLACE, .disabled = 1 },
	{ "activation-rdi-garbage", .flags = 0, .rdi = 0xFFFF800000001001ULL },
	{ "in-place-rdi-garbage", .flags = KEEL_AREA_YIELD_IN_PLACE, .rdi = 0xFFFF800000001001ULL },
};

/* A call into the peer that sets its mode (it replies at once). */
static long peer_cmd(int cmd)
{
	uint64_t a[4] = { (uint64_t)cmd << 8 | 0xFF }, r[4];
	return sys_pct_call((uint32_t)other_slot, a, r);
}

static int yield_subject(void)
{
	other_slot = vm_find_cap(0, KEEL_CAP_ENV, NULL, 0, NULL);
	if (other_slot < 0 || keel_upcalls_init(NULL, NULL)) {
		printf("paths yield: no peer or no upcalls\n");
		return 1;
	}
	long err;
	for (int i = 0; i < 100000 && (err = peer_cmd(PEER_YIELD)); i++)
		sys_yield(); /* until the peer has registered its entry */
	if (err) {
		printf("paths yield: the peer takes no call (%ld)\n", err);
		return 1;
	}
	sys_event_post((uint32_t)other_slot, 0, 0x10); /* out of its wait: it yields in its loop from now on */
	for (size_t i = 0; i < ARRAY_SIZE(yield_states); i++) {
		const struct yield_state *s = &yield_states[i];
		uint64_t cin[NREGS], cout[NREGS];
		char b[512];
		sys_yield(); /* the peer runs once in its loop */
		for (int k = 0; k < NREGS; k++)
			cin[k] = 0x0202020202020202ULL * (uint64_t)(k + 1) ^ (uint64_t)(uintptr_t)s->name;
		cin[0] = SYS_YIELD;
		cin[5] = s->rdi;
		if (s->post)
			sys_event_post(KEEL_SELF, 0, s->post);
		keel_area->disabled = (uint32_t)s->disabled;
		keel_area->flags = s->flags;
		uint64_t act0 = keel_area->activations, t0 = rdtsc();
		paths_syscall_self(cin, cout);
		uint64_t cost = rdtsc() - t0;
		uint64_t posted = __atomic_exchange_n(&keel_area->posted, 0, __ATOMIC_SEQ_CST);
		keel_area->flags = 0;
		if (s->disabled)
			keel_upcalls_enable(keel_area);
		printf("paths yield %s: ret %ld back %s; area: disabled %u posted %#llx activations +%llu hash %#llx", s->name,
		       (long)cout[0], regs_diff(cout, cin, b, sizeof b), keel_area->disabled, (unsigned long long)posted,
		       (unsigned long long)(keel_area->activations - act0), (unsigned long long)area_hash(keel_area));
		print_record("mine", KEEL_SELF);
		print_record("the peer's", other_slot);
		printf("\npaths yield %s: cost %llu\n", s->name, (unsigned long long)cost);
	}
	peer_cmd(PEER_STOP); /* (queued, yielding: it ends) */
	return 0;
}

int main(int argc, char **argv)
{
	const char *subject = argc > 1 ? argv[1] : "event";
	const char *path = argc > 2 ? argv[2] : "fast";
	const char *final = argc > 3 ? argv[3] : NULL;
	if (!strcmp(subject, "pctpeer"))
		return pct_peer();
	int pct = !strcmp(subject, "pct"), yield = !strcmp(subject, "yield");
	int trap = !strcmp(subject, "trap"), event = !strcmp(subject, "event") || trap; /* (the same switches) */
	long off = !strcmp(path, "fast")            ? 0 :
		   !strcmp(path, "c") && event      ? KEEL_FASTPATH_ASM :
		   !strcmp(path, "general") && pct   ? KEEL_FASTPATH_PCT :
		   !strcmp(path, "general") && yield ? KEEL_FASTPATH_YIELD | KEEL_FASTPATH_PCT :
		   !strcmp(path, "general") && event ? KEEL_FASTPATH_ASM | KEEL_FASTPATH_C :
						       -1;
	if (off < 0 || (!event && !pct && !yield)) {
		printf("paths: usage: paths event|trap fast|c|general [FINAL], paths pct|yield fast|general, paths pctpeer\n");
		return 2;
	}
	long r = sys_debug(DEBUG_FAST_PATHS, off, 0);
	printf("paths: %s: fast paths switched off: %#lx (%ld)\n", path, off, r);
	if (r)
		return 1;
	int rc = pct ? pct_subject() : yield ? yield_subject() : trap ? trap_subject(final) : event_subject(final);
	sys_debug(DEBUG_FAST_PATHS, 0, 0);
	printf("paths %s %s: done\n", subject, path);
	return rc;
}
