/*
 * `upcalls MODE [N]`: the upcall protocol, one mode per property
 * (tests/test_upcalls.py runs each):
 *   timer N     N timer upcalls preempting a register-checking loop
 *   crit N      sweep a deadline across the resume routine, N passes
 *   disabled    an event while disabled waits, and is delivered exactly once
 *   trapfault   a #PF inside the event handler goes to the trap entry
 *   trappath    a fault inside the trap handler: the env dies alone
 *   traps       #PF (CR2, error code), #GP, #UD, #DE, #BP forwarded and resumed
 *   planted     hostile contexts in every save area are sanitised or refused
 *   watchdog    spin disabled: the watchdog trap, then destruction
 *   watchdogyield  the same, yielding while disabled
 *   badtrapentry   a trap entry that itself faults (on the trap stack's top)
 *   disabledregs   register checks across preemptions while disabled
 *   activation  re-dispatch after preemption arrives as an activation
 *   self        int $0x82: delivered at once when enabled (every register
 *               kept), held while disabled, through both kernel paths
 */
#include "keel.h"
#include "vm.h"

/* regloop.S (apps/regcheck) */
extern uint64_t regcheck_expected[15 + 64 + 2];
extern uint64_t regcheck_use_avx, regcheck_use_df;
extern char regcheck_loop_start[], regcheck_loop_end[];
uint64_t regcheck_loop(uint64_t iterations);

/* faults.S */
extern uint64_t fault_resume_at, fault_insn_at, fault_rsp;
void fault_pf_read(uint64_t addr);
void fault_pf_write(uint64_t addr);
void fault_jump(uint64_t addr);
void fault_ud(void);
void fault_de(void);
void fault_bp(void);
uint64_t planted_resume(struct keel_context *c, uint64_t slot, uint64_t *cs_ss, uint64_t rip);
uint64_t crit_probe(struct keel_context *ctx, struct keel_upcall_area *a);
uint64_t self_probe(void), swvec_probe(void);

static struct keel_upcall_area *A;
static volatile uint64_t timer_events, activation_events, hits;
static uint64_t target, period = 10000;
static long id;

static uint64_t parse(const char *s, uint64_t dflt) { return s ? keel_atou(s) : dflt; }

/* ------------------------------------------------------------------ timer */
static void timer_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_ACTIVATION)
		activation_events++;
	if (!(ev & KEEL_EV_TIMER))
		return;
	timer_events++;
	if (ctx->rip >= (uint64_t)regcheck_loop_start && ctx->rip < (uint64_t)regcheck_loop_end)
		hits++;
	if (timer_events < target)
		sys_set_deadline(keel_now() + period);
}

static int mode_timer(void)
{
	uint64_t seed = 0x243F6A8885A308D3ULL * (uint64_t)(id + 7);
	for (int i = 0; i < 15 + 64; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		regcheck_expected[i] = seed;
	}
	regcheck_expected[79] = 0x1F80 | (2u << 13);
	regcheck_expected[80] = 0x037F | (1u << 10);
	regcheck_use_df = 1;
	uint64_t mismatches = 0, rounds = 0;
	sys_set_deadline(keel_now() + period);
	while (timer_events < target) {
		if (regcheck_loop(5000))
			mismatches++;
		rounds++;
	}
	printf("upcalls timer: %llu timer upcalls, %llu in the check loop, %llu mismatches, %llu rounds, "
	       "%llu activations, %llu upcalls counted by the kernel\n",
	       (unsigned long long)timer_events, (unsigned long long)hits, (unsigned long long)mismatches,
	       (unsigned long long)rounds, (unsigned long long)activation_events, (unsigned long long)A->upcalls);
	return mismatches != 0;
}

/* ------------------------------------------------------------------- crit */
static void count_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_TIMER)
		timer_events++;
	if (ev & KEEL_EV_ACTIVATION)
		activation_events++;
}

static int mode_crit(uint64_t passes)
{
	uint64_t deliveries = 0, in_range = 0, lost = 0, dup = 0, max_late = 0, corrupted = 0, armed = 0;
	uint64_t lo = 0, hi = 0, window = 6000;
	/* Pass 0 finds the offsets whose deadline lands in the range; the
	 * rest sweep a margin around them, one instruction apart. */
	for (uint64_t pass = 0; pass <= passes; pass++) {
		uint64_t k0 = pass ? (lo > 40 ? lo - 40 : 0) : 0, k1 = pass ? hi + 40 : window;
		for (uint64_t k = k0; k <= k1; k++) {
			uint64_t before = timer_events, fix0 = A->crit_fixups;
			uint64_t d = keel_now() + k;
			sys_set_deadline(d);
			/* Resume from the enabled save itself, as an upcall's return
			 * does: an event in the range must not clobber what is
			 * being restored. */
			A->disabled = 1; /* the enabled save is the kernel's while enabled */
			corrupted += crit_probe(&A->enabled_save, A) != 0;
			uint64_t t = keel_now();
			while (timer_events == before && keel_now() - t < 2000000)
				;
			uint64_t got = timer_events - before;
			if (got == 0)
				lost++;
			else if (got > 1)
				dup++;
			deliveries += got;
			if (A->crit_fixups != fix0) {
				if (pass == 0) {
					if (!lo)
						lo = k;
					hi = k;
				} else {
					in_range++;
				}
			}
			uint64_t late = A->delivered_at - A->deadline;
			if (late > max_late)
				max_late = late;
			armed++;
		}
		if (pass == 0 && !hi) {
			printf("upcalls crit: no deadline landed in the critical range in %llu offsets\n",
			       (unsigned long long)window);
			return 1;
		}
	}
	/* Late duplicates would arrive after the sweep: wait and count. */
	uint64_t t = keel_now(), before = timer_events;
	while (keel_now() - t < 5000000)
		;
	dup += timer_events - before;
	if (timer_events != armed)
		printf("upcalls crit: %llu deadlines armed but %llu timer events\n", (unsigned long long)armed,
		       (unsigned long long)timer_events);
	printf("upcalls crit: %llu deliveries, %llu inside the critical range (offsets %llu..%llu), %llu lost, "
	       "%llu duplicated, %llu resumes with registers changed, latest %llu ns after its deadline\n",
	       (unsigned long long)deliveries, (unsigned long long)in_range, (unsigned long long)lo,
	       (unsigned long long)hi, (unsigned long long)lost, (unsigned long long)dup,
	       (unsigned long long)corrupted, (unsigned long long)max_late);
	return lost || dup || corrupted || timer_events != armed;
}

/* --------------------------------------------------------------- disabled */
static int mode_disabled(void)
{
	static struct keel_context ctx;
	int bad = 0;
	A->disabled = 1;
	sys_set_deadline(keel_now()); /* due at once */
	for (volatile int i = 0; i < 100000; i++)
		;
	sys_env_id(); /* a kernel entry and exit while disabled */
	int waited = (A->pending & KEEL_EV_TIMER) && timer_events == 0;
	bad += !waited;
	keel_capture_resume(&ctx, A); /* enable: the resume routine finds it pending */
	uint64_t after_resume = timer_events;
	bad += after_resume != 1;

	A->disabled = 1;
	sys_set_deadline(keel_now());
	sys_env_id();
	A->disabled = 0; /* a plain store: the next kernel entry delivers it */
	sys_env_id();
	uint64_t after_entry = timer_events;
	for (volatile int i = 0; i < 100000; i++)
		;
	sys_env_id();
	bad += after_entry != 2 || timer_events != 2;
	printf("upcalls disabled: pending while disabled: %s; delivered %llu time(s) by keel_resume, "
	       "%llu more at the next kernel entry; %llu in all\n",
	       waited ? "yes" : "NO", (unsigned long long)after_resume,
	       (unsigned long long)(after_entry - after_resume), (unsigned long long)timer_events);
	return bad;
}

/* ------------------------------------------------------- trapfault / path */
static struct keel_context snapshot;
static volatile int trap_ok, fault_in_trap_handler;

static void fault_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (!(ev & KEEL_EV_TIMER))
		return;
	timer_events++;
	snapshot = *ctx;
	fault_pf_read(0x10); /* a #PF while disabled, inside the event handler */
	int intact = memcmp(&snapshot, &a->enabled_save, sizeof snapshot) == 0;
	printf("upcalls trapfault: #PF in the event handler %s; the thread's saved context %s; the handler went on\n",
	       trap_ok ? "reached the trap entry (trap save, cr2 0x10)" : "was NOT handled right",
	       intact ? "was intact" : "was OVERWRITTEN");
	trap_ok = trap_ok && intact;
}

static int fault_trap(struct keel_upcall_area *a, uint64_t vec, uint64_t err, uint64_t cr2,
		      struct keel_context *ctx, int slot)
{
	if (fault_in_trap_handler)
		fault_pf_write(0x18); /* a fault on the trap path */
	trap_ok = vec == 14 && cr2 == 0x10 && slot == KEEL_SAVE_TRAP && ctx == &a->trap_save;
	ctx->rip = fault_resume_at;
	return 0;
}

static int mode_trapfault(int on_trap_path)
{
	fault_in_trap_handler = on_trap_path;
	sys_set_deadline(keel_now() + 10000);
	while (!timer_events)
		;
	return !trap_ok;
}

/* ------------------------------------------------------------------ traps */
enum { AT_INSN, AT_TARGET, AFTER_INSN }; /* where the saved RIP must be */
static struct {
	uint64_t vector, error, cr2;
	int rip_at, checked;
} want;

static int traps_trap(struct keel_upcall_area *a, uint64_t vec, uint64_t err, uint64_t cr2,
		      struct keel_context *ctx, int slot)
{
	uint64_t rip = want.rip_at == AT_TARGET ? want.cr2 : want.rip_at == AFTER_INSN ? fault_resume_at : fault_insn_at;
	want.checked = vec == want.vector && err == want.error && cr2 == want.cr2 && slot == KEEL_SAVE_ENABLED &&
		       ctx->rip == rip && ctx->rsp == fault_rsp && ctx->cs == KEEL_USER_CS;
	if (!want.checked)
		printf("traps: got vector %llu error %#llx cr2 %#llx slot %d rip %#llx (want %#llx) rsp %#llx (want %#llx)\n",
		       (unsigned long long)vec, (unsigned long long)err, (unsigned long long)cr2, slot,
		       (unsigned long long)ctx->rip, (unsigned long long)rip, (unsigned long long)ctx->rsp,
		       (unsigned long long)fault_rsp);
	ctx->rip = fault_resume_at; /* past the faulting instruction */
	return 0;
}

static const char rodata_word[8] = "ro";
static uint8_t data_code[16] = { 0xC3 };

static int one_trap(const char *what, uint64_t vector, uint64_t error, uint64_t cr2, void (*f)(uint64_t), uint64_t arg)
{
	want.rip_at = vector == 3 ? AFTER_INSN : (vector == 14 && (error & 0x10)) ? AT_TARGET : AT_INSN;
	want.vector = vector;
	want.error = error;
	want.cr2 = cr2;
	want.checked = 0;
	f(arg);
	printf("traps: %s: vector %llu error %#llx cr2 %#llx: %s\n", what, (unsigned long long)vector,
	       (unsigned long long)error, (unsigned long long)cr2, want.checked ? "ok, resumed" : "WRONG");
	return !want.checked;
}

static void call0(uint64_t fn) { ((void (*)(void))fn)(); }

static int mode_traps(void)
{
	int bad = 0;
	uint64_t nx = (uint64_t)data_code, ro = (uint64_t)rodata_word;
	uint64_t kernel = 0xFFFFFF8000100000ULL /* direct map: present, supervisor */, unmapped = 0x10, far = 0x3FFFF000;
	bad += one_trap("read unmapped", 14, 0x4, unmapped, fault_pf_read, unmapped);
	bad += one_trap("write unmapped", 14, 0x6, unmapped, fault_pf_write, unmapped);
	bad += one_trap("fetch unmapped", 14, 0x14, far, fault_jump, far);
	bad += one_trap("read protected (kernel page)", 14, 0x5, kernel, fault_pf_read, kernel);
	bad += one_trap("write protected (read-only data)", 14, 0x7, ro, fault_pf_write, ro);
	bad += one_trap("fetch protected (no-execute data)", 14, 0x15, nx, fault_jump, nx);
	bad += one_trap("#GP (non-canonical)", 13, 0, 0, fault_pf_read, 0xdead000000000000ULL);
	bad += one_trap("#UD", 6, 0, 0, call0, (uint64_t)fault_ud);
	bad += one_trap("#DE", 0, 0, 0, call0, (uint64_t)fault_de);
	bad += one_trap("#BP", 3, 0, 0, call0, (uint64_t)fault_bp);
	printf("traps: %s, %llu traps counted by the kernel\n", bad ? "FAILED" : "all forwarded and resumed",
	       (unsigned long long)A->traps);
	return bad;
}

/* ---------------------------------------------------------------- planted */
#define BAD_RFLAGS (0x3000ULL | 0x4000ULL | 0x2ULL) /* IOPL 3, NT, and IF clear */

static int check_sanitised(const char *what, uint64_t r, const uint64_t *cs_ss)
{
	int ok = (r & 0x3000) == 0 && (r & 0x200) && !(r & 0x4000) && cs_ss[0] == KEEL_USER_CS &&
		 cs_ss[1] == KEEL_USER_SS;
	printf("planted: %s: resumed with rflags %#llx (IOPL %llu, IF %llu) cs %#llx ss %#llx: %s\n", what,
	       (unsigned long long)r, (unsigned long long)((r >> 12) & 3), (unsigned long long)((r >> 9) & 1),
	       (unsigned long long)cs_ss[0], (unsigned long long)cs_ss[1], ok ? "sanitised" : "NOT SANITISED");
	return !ok;
}

static int mode_planted(void)
{
	static const char *const names[] = { "enabled save", "disabled save", "trap save" };
	struct keel_context *slots[] = { &A->enabled_save, &A->disabled_save, &A->trap_save };
	uint64_t cs_ss[2];
	int bad = 0;
	for (unsigned s = 0; s < 3; s++) {
		uint64_t r = planted_resume(slots[s], s, cs_ss, 0);
		bad += check_sanitised(names[s], r, cs_ss);
		long e = (long)planted_resume(slots[s], s, cs_ss, 0x800000000000ULL);
		printf("planted: %s with a non-canonical rip: %ld (%s)\n", names[s], e,
		       e == -EINVAL ? "refused" : "NOT REFUSED");
		bad += e != -EINVAL;
		e = (long)planted_resume(slots[s], s, cs_ss, 0xFFFFFFFF80100000ULL);
		printf("planted: %s with a kernel rip: %ld (%s)\n", names[s], e, e == -EINVAL ? "refused" : "NOT REFUSED");
		bad += e != -EINVAL;
	}
	/* A yield while disabled comes back after the syscall, still disabled
	 * (the kernel resumed it from the disabled save it wrote itself). */
	A->disabled = 1;
	long y = sys_yield();
	printf("planted: a disabled yield returned %ld, disabled %u\n", y, A->disabled);
	bad += y != 0 || A->disabled != 1;
	A->disabled = 0;
	uint64_t fl;
	__asm__ volatile("pushfq; popq %0" : "=r"(fl));
	printf("planted: %s; now running with IOPL %llu IF %llu\n", bad ? "FAILED" : "every context sanitised or refused",
	       (unsigned long long)((fl >> 12) & 3), (unsigned long long)((fl >> 9) & 1));
	return bad;
}

/* --------------------------------------------------------------- watchdog */
static int watchdog_trap(struct keel_upcall_area *a, uint64_t vec, uint64_t err, uint64_t cr2,
			 struct keel_context *ctx, int slot)
{
	if (vec == KEEL_TRAP_WATCHDOG)
		printf("watchdog: env %ld got the watchdog upcall (trap save rip %#llx); spinning on, disabled\n", id,
		       (unsigned long long)ctx->rip);
	return vec != KEEL_TRAP_WATCHDOG; /* resume the disabled spin */
}

__attribute__((noreturn)) static int mode_watchdog(void)
{
	printf("watchdog: env %ld spins with upcalls disabled\n", id);
	A->disabled = 1;
	for (;;)
		__asm__ volatile("pause");
}

__attribute__((noreturn)) static int mode_watchdog_yield(void)
{
	printf("watchdog: env %ld yields with upcalls disabled\n", id);
	A->disabled = 1;
	for (;;)
		sys_yield();
}

/* A trap entry that faults at once: the fault is on the trap stack's top. */
static int mode_bad_trap_entry(void)
{
	A->trap_entry = 0x3FFFF000; /* a user address with nothing mapped */
	fault_pf_read(0x10);
	printf("badtrapentry: env %ld survived\n", id);
	return 1;
}

/* The register loop (RSP used as scratch) preempted while disabled: the
 * kernel saves and resumes it through the disabled save. */
static int mode_disabled_regs(uint64_t rounds)
{
	for (int i = 0; i < 15 + 64; i++)
		regcheck_expected[i] = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 3 + id);
	regcheck_expected[79] = 0x1F80;
	regcheck_expected[80] = 0x037F;
	uint64_t bad = 0, act0;
	A->disabled = 1;
	act0 = A->activations;
	for (uint64_t r = 0; r < rounds; r++)
		bad += regcheck_loop(20000) != 0;
	uint64_t acts = A->activations - act0;
	A->disabled = 0;
	printf("disabledregs: %llu rounds while disabled, %llu mismatches, %llu deschedules while disabled\n",
	       (unsigned long long)rounds, (unsigned long long)bad, (unsigned long long)acts);
	return bad != 0 || acts == 0;
}

/* ------------------------------------------------------------------ self */
static volatile uint64_t self_events, swvec_events;

static void self_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_SELF)
		self_events++;
	if ((ev & KEEL_EV_SWVEC) && __atomic_exchange_n(&a->swvec_pending, 0, __ATOMIC_SEQ_CST) == 1)
		swvec_events++;
}

/* The same for a held software vector (the boot grants 0xA0), when held. */
static int self_swvec(void)
{
	if (vm_find_cap(0, KEEL_CAP_SWVEC, NULL, 0, NULL) < 0)
		return 0;
	uint64_t changed = 0;
	for (int i = 0; i < 1000; i++)
		changed += swvec_probe();
	int bad = changed != 0 || swvec_events != 1000;
	A->disabled = 1;
	sys_set_deadline(keel_now()); /* a kernel-side event: the general path */
	A->disabled = 0;
	uint64_t before = swvec_events, changed2 = swvec_probe();
	bad += changed2 != 0 || swvec_events != before + 1;
	printf("self: 1000 int $0xa0 (held) while enabled: %llu delivered, %llu registers changed; "
	       "by the general path: %llu delivered, %llu registers changed; %s\n",
	       (unsigned long long)before, (unsigned long long)changed, (unsigned long long)(swvec_events - before),
	       (unsigned long long)changed2, bad ? "FAILED" : "ok");
	return bad;
}

static int mode_self(void)
{
	static struct keel_context ctx;
	int bad = 0;
	/* Enabled: the assembly fast path; registers kept. */
	uint64_t changed = 0;
	for (int i = 0; i < 1000; i++)
		changed += self_probe();
	bad += changed != 0 || self_events != 1000;
	printf("self: 1000 int $0x82 while enabled: %llu delivered, %llu registers changed\n",
	       (unsigned long long)self_events, (unsigned long long)changed);
	/* Disabled: held, then delivered once by the resume routine. */
	A->disabled = 1;
	__asm__ volatile("int $0x82" ::: "memory");
	uint64_t held = A->pending & KEEL_EV_SELF;
	uint64_t before = self_events;
	keel_capture_resume(&ctx, A);
	bad += !held || self_events != before + 1;
	/* With a kernel-side event pending too (the general path in C). */
	A->disabled = 1;
	sys_set_deadline(keel_now()); /* a TIMER, held in the kernel while disabled... */
	A->disabled = 0;
	before = self_events;
	changed = self_probe(); /* ...so this one goes the general way */
	bad += changed != 0 || self_events != before + 1;
	printf("self: while disabled: %s, delivered once on resume; with a kernel event pending: delivered, "
	       "%llu registers changed; %s\n",
	       held ? "held" : "NOT HELD", (unsigned long long)changed, bad ? "FAILED" : "ok");
	return bad + self_swvec();
}

/* ------------------------------------------------------------- activation */
static volatile uint64_t last_desched, ran_total, monotonic = 1;

static void activation_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (!(ev & KEEL_EV_ACTIVATION))
		return;
	activation_events++;
	if (a->descheduled_at <= last_desched)
		monotonic = 0;
	last_desched = a->descheduled_at;
	ran_total += a->ran_ns;
}

static int mode_activation(uint64_t n)
{
	uint64_t t0 = keel_now();
	while (activation_events < n && keel_now() - t0 < 30000000000ULL)
		;
	printf("activation: %llu activations, descheduled_at increasing: %s, mean run before a deschedule %llu us, "
	       "kernel count %llu\n",
	       (unsigned long long)activation_events, monotonic ? "yes" : "NO",
	       (unsigned long long)(activation_events ? ran_total / activation_events / 1000 : 0),
	       (unsigned long long)A->activations);
	return activation_events < n || !monotonic;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "timer";
	const char *n = argc > 2 ? argv[2] : NULL;
	id = sys_env_id();
	keel_event_fn ev = count_event;
	keel_trap_fn tr = NULL;
	if (!strcmp(mode, "timer"))
		ev = timer_event;
	else if (!strcmp(mode, "trapfault") || !strcmp(mode, "trappath"))
		ev = fault_event, tr = fault_trap;
	else if (!strcmp(mode, "traps"))
		tr = traps_trap;
	else if (!strcmp(mode, "watchdog") || !strcmp(mode, "watchdogyield"))
		tr = watchdog_trap;
	else if (!strcmp(mode, "badtrapentry"))
		tr = traps_trap;
	else if (!strcmp(mode, "activation"))
		ev = activation_event;
	else if (!strcmp(mode, "self"))
		ev = self_event;
	int err = keel_upcalls_init(ev, tr);
	if (err) {
		printf("upcalls: SYS_UPCALL_SETUP failed: %d\n", err);
		return 1;
	}
	A = keel_area;
	if (!strcmp(mode, "timer")) {
		target = parse(n, 100000);
		return mode_timer();
	}
	if (!strcmp(mode, "crit"))
		return mode_crit(parse(n, 60));
	if (!strcmp(mode, "disabled"))
		return mode_disabled();
	if (!strcmp(mode, "trapfault"))
		return mode_trapfault(0);
	if (!strcmp(mode, "trappath"))
		return mode_trapfault(1);
	if (!strcmp(mode, "traps"))
		return mode_traps();
	if (!strcmp(mode, "planted"))
		return mode_planted();
	if (!strcmp(mode, "watchdog"))
		return mode_watchdog();
	if (!strcmp(mode, "activation"))
		return mode_activation(parse(n, 20));
	if (!strcmp(mode, "self"))
		return mode_self();
	if (!strcmp(mode, "watchdogyield"))
		return mode_watchdog_yield();
	if (!strcmp(mode, "badtrapentry"))
		return mode_bad_trap_entry();
	if (!strcmp(mode, "disabledregs"))
		return mode_disabled_regs(parse(n, 100));
	printf("upcalls: unknown mode '%s'\n", mode);
	return 2;
}
