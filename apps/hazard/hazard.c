/*
 * `hazard MODE`: the entry/exit hazard suite (issue 9; docs/security.md).
 * Each mode commits one kind of hostile act from Ring 3 -- a bad iretq frame,
 * the trap flag across a kernel entry, a privileged instruction, a bad stack
 * pointer at an entry, a broken upcall area -- and reports exactly what it got
 * back: the forwarded exception (vector, error code, where) and that it carried
 * on, or nothing at all when the env is to be killed (the kernel reports that).
 * tests/test_hazards.py runs one boot per mode, beside another env.
 *
 * Lines: `hazard MODE: WHAT: RESULT: ok|WRONG (...)`, then `hazard MODE: ok`
 * or `hazard MODE: FAILED` (and the exit code says the same).
 */
#include "keel.h"
#include "vm.h"
#include "lib/fmt.h"

#define TF 0x100ULL

/* probes.S */
extern uint64_t probe_insn, probe_resume, probe_rsp, probe_out[2];
uint64_t probe_iret(uint64_t cs, uint64_t ss, uint64_t rip, uint64_t rsp, uint64_t rflags);
uint64_t nt_syscall(uint64_t nr), nt_int80(uint64_t nr), nt_iret(void);
void fsgs_write(uint64_t fs, uint64_t gs);
uint64_t fsgs_read_gs(void), fsgs_read_fs(void), fsgs_wrfs_noncanon(uint64_t v);
uint64_t probe_iret_at(uint64_t rsp);
uint64_t probe_ljmp(uint64_t sel, uint64_t off);
uint64_t probe_lcall(uint64_t sel);
extern char int_table[];
uint64_t int_call(uint64_t n, uint64_t rax);
uint64_t tf_syscall(uint64_t nr, uint64_t a0), tf_int80(uint64_t nr), tf_int82(void), tf_loop(volatile uint64_t *flag);
extern char tf_syscall_after[], tf_int80_after[], tf_int82_after[], tf_loop_start[], tf_loop_end[];
uint64_t tf_movss_syscall(uint64_t nr), tf_movss_int80(uint64_t nr);
extern char tf_movss_syscall_after[], tf_movss_int80_after[];
uint64_t rsp_syscall(uint64_t rsp, uint64_t nr), rsp_int80(uint64_t rsp, uint64_t nr);
uint64_t rsp_spin(uint64_t rsp, uint64_t ticks), rsp_wait(uint64_t rsp, volatile uint64_t *flag);
void rsp_int82(uint64_t rsp), rsp_ud2(uint64_t rsp), rsp_push(uint64_t rsp);
extern char rsp_spin_start[], rsp_spin_end[], rsp_wait_start[], rsp_wait_end[];
extern char entry_push[];
uint64_t priv_icebp(void), priv_into(void), priv_sysenter(void), priv_sysexit(void);

static const char *mode;
static long id;
static int bad;

/* Addresses Ring 3 may not use, of each kind. */
#define NONCANON 0x0000800000000000ULL       /* the first non-canonical address */
#define NONCANON_SP 0x0000800000000010ULL    /* a stack pointer that stays non-canonical below */
#define KSLOT 0xFFFFFF8000101000ULL          /* the kernel slot: the direct map, present */
#define UNMAPPED 0x3FFFF000ULL               /* a user page nothing maps (as in apps/upcalls) */
#define KTEXT 0xFFFFFFFF80100000ULL          /* the kernel image */

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	char buf[240];
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	printf("hazard %s: %s: %s\n", mode, buf, ok ? "ok" : "WRONG");
	bad += !ok;
}

static uint64_t rflags(void)
{
	uint64_t f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

/* ----------------------------------------------------------- the traps */
static volatile struct {
	uint64_t n, vector, error, cr2, rip, rsp, rflags, handler_rflags;
	int slot;
} got;

/* What a mode's trap handler does beyond recording (0: the default --
 * continue at probe_resume with probe_rsp, TF cleared). */
static int (*trap_policy)(struct keel_context *ctx, uint64_t vector);

static int on_trap(struct keel_upcall_area *a, uint64_t vector, uint64_t error, uint64_t cr2, struct keel_context *ctx,
		   int slot)
{
	got.n++;
	got.vector = vector;
	got.error = error;
	got.cr2 = cr2;
	got.rip = ctx->rip;
	got.rsp = ctx->rsp;
	got.rflags = ctx->rflags;
	got.handler_rflags = rflags();
	got.slot = slot;
	if (trap_policy)
		return trap_policy(ctx, vector);
	ctx->rip = probe_resume;
	ctx->rsp = probe_rsp;
	ctx->rflags &= ~TF;
	return 0;
}

static const char *where(uint64_t rip)
{
	static char buf[40];
	if (rip == probe_insn)
		return "at the instruction";
	if (rip == probe_resume)
		return "after it";
	snprintf(buf, sizeof buf, "at %#llx", (unsigned long long)rip);
	return buf;
}

/* Run probe(); it must trap exactly once with this vector and error code,
 * at the instruction (or after it, for traps). */
static void expect_trap(const char *what, uint64_t vector, uint64_t error, int after, uint64_t (*probe)(void))
{
	uint64_t n0 = got.n;
	probe();
	uint64_t want_rip = after ? probe_resume : probe_insn;
	int ok = got.n == n0 + 1 && got.vector == vector && got.error == error && got.rip == want_rip &&
		 got.cr2 == 0; /* CR2 is for #PF only */
	if (got.n == n0)
		check(0, "%s: no trap (want vector %llu error %#llx)", what, (unsigned long long)vector,
		      (unsigned long long)error);
	else
		check(ok, "%s: vector %llu error %#llx %s", what, (unsigned long long)got.vector,
		      (unsigned long long)got.error, where(got.rip));
}

static int upcalls(void)
{
	int err = keel_upcalls_init(NULL, on_trap);
	if (err)
		printf("hazard %s: SYS_UPCALL_SETUP failed: %d\n", mode, err);
	return err;
}

/* ------------------------------------------------ 1. iretq and far jumps */
static uint64_t iret_cs, iret_ss, iret_rip, iret_rsp;
static uint64_t do_iret(void) { return probe_iret(iret_cs, iret_ss, iret_rip, iret_rsp, 0); }

static void iret_case(const char *what, uint64_t cs, uint64_t ss, uint64_t rip, uint64_t vector, uint64_t error)
{
	/* The control: a good frame goes through, no trap. */
	uint64_t n0 = got.n;
	iret_cs = KEEL_USER_CS, iret_ss = KEEL_USER_SS, iret_rip = 0, iret_rsp = 0;
	do_iret();
	check(got.n == n0, "a Ring 3 iretq to cs %#x ss %#x: went through", KEEL_USER_CS, KEEL_USER_SS);
	iret_cs = cs, iret_ss = ss, iret_rip = rip;
	expect_trap(what, vector, error, 0, do_iret);
}

static int mode_iret_kcs(void)
{
	iret_case("iretq to the kernel's CS 0x8", 0x08, KEEL_USER_SS, 0, 13, 0x8);
	return 0;
}
static int mode_iret_kss(void)
{
	iret_case("iretq to the kernel's SS 0x10", KEEL_USER_CS, 0x10, 0, 13, 0x10);
	return 0;
}
static int mode_iret_nullss(void)
{
	iret_case("iretq to a null SS", KEEL_USER_CS, 0, 0, 13, 0);
	return 0;
}
static int mode_iret_rpl0cs(void)
{
	iret_case("iretq to the user CS with RPL 0 (0x28)", KEEL_USER_CS & ~3, KEEL_USER_SS, 0, 13, 0x28);
	return 0;
}
static int mode_iret_rpl0ss(void)
{
	iret_case("iretq to the user SS with RPL 0 (0x20)", KEEL_USER_CS, KEEL_USER_SS & ~3, 0, 13, 0x20);
	return 0;
}
static int mode_iret_cs32(void)
{
	/* The 32-bit user code slot (0x18) exists for STAR's layout only and is
	 * not present: #NP with its selector. */
	iret_case("iretq to the 32-bit user code slot 0x1b", 0x1b, KEEL_USER_SS, 0, 11, 0x18);
	return 0;
}
static int mode_iret_noncanon(void)
{
	/* Hardware faults on the iretq itself (#GP(0)); QEMU's TCG loads the
	 * RIP and faults fetching at it. */
	uint64_t n0 = got.n;
	iret_cs = KEEL_USER_CS, iret_ss = KEEL_USER_SS, iret_rip = NONCANON, iret_rsp = 0;
	do_iret();
	int ok = got.n == n0 + 1 && got.vector == 13 && got.error == 0 && got.cr2 == 0 &&
		 (got.rip == probe_insn || got.rip == NONCANON);
	check(ok, "iretq to rip %#llx: vector %llu error %#llx %s", NONCANON, (unsigned long long)got.vector,
	      (unsigned long long)got.error, got.rip == NONCANON ? "at the new rip" : where(got.rip));
	return 0;
}
static int mode_iret_unmapped(void)
{
	/* The frame itself is not readable: a user-mode #PF on the pop. */
	uint64_t n0 = got.n;
	probe_iret_at(UNMAPPED);
	int ok = got.n == n0 + 1 && got.vector == 14 && got.error == 0x4 && got.cr2 == UNMAPPED && got.rip == probe_insn;
	check(ok, "iretq with RSP %#llx (unmapped): vector %llu error %#llx cr2 %#llx %s", UNMAPPED,
	      (unsigned long long)got.vector, (unsigned long long)got.error, (unsigned long long)got.cr2,
	      where(got.rip));
	return 0;
}

static int mode_iret_iopl(void)
{
	/* IOPL 3 and IF 0 in a Ring 3 iretq frame: at CPL 3 the CPU keeps
	 * IOPL and IF as they are (0 and 1). */
	uint64_t n0 = got.n;
	uint64_t f = probe_iret(KEEL_USER_CS, KEEL_USER_SS, 0, 0, 0x3002);
	check(got.n == n0 && (f & 0x3000) == 0 && (f & 0x200),
	      "iretq with RFLAGS 0x3002 (IOPL 3, IF 0): landed with IOPL %llu IF %llu", (unsigned long long)((f >> 12) & 3),
	      (unsigned long long)((f >> 9) & 1));
	return 0;
}

static int mode_nt(void)
{
	/* NT set in Ring 3 (popf may): every kernel entry clears it (FMASK,
	 * the gates), so the kernel's own iretq never sees it. */
	uint64_t f = nt_syscall(SYS_ENV_ID), r = probe_out[0];
	check(r == (uint64_t)id, "NT set across syscall SYS_ENV_ID (sysretq): returned %lld, NT %s after", (long long)r,
	      f & 0x4000 ? "kept" : "cleared");
	f = nt_syscall(SYS_CONSOLE_WRITE), r = probe_out[0]; /* buf = RDI = 0: -EFAULT, the general path */
	check(r == (uint64_t)-EFAULT, "NT set across syscall SYS_CONSOLE_WRITE (the general path: a sanitised context, "
	      "sysretq): returned %lld, NT %s after", (long long)r, f & 0x4000 ? "kept" : "cleared");
	f = nt_syscall(SYS_YIELD), r = probe_out[0];
	check(r == 0, "NT set across syscall SYS_YIELD (resumed by the libOS's iretq): returned %lld, NT %s after",
	      (long long)r, f & 0x4000 ? "kept" : "cleared");
	f = nt_int80(SYS_ENV_ID), r = probe_out[0];
	check(r == (uint64_t)id, "NT set across int $0x80 SYS_ENV_ID (the kernel's sanitised iretq): returned %lld, "
	      "NT %s after", (long long)r, f & 0x4000 ? "kept" : "cleared");
	/* ... and a Ring 3 iretq with NT set is #GP(0) in 64-bit mode. */
	expect_trap("iretq with NT set", 13, 0, 0, nt_iret);
	return 0;
}

static uint64_t wrfs_noncanon(void) { return fsgs_wrfs_noncanon(NONCANON); }

static int mode_gsbase(void)
{
	/* With FSGSBASE, Ring 3 sets its GS base to anything -- here a kernel
	 * address, as the kernel's own per-CPU base is: swapgs is decided by
	 * the saved CS, never by the base. */
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	if (!(b & 1)) {
		check(1, "no FSGSBASE on this CPU: nothing to test");
		return 0;
	}
	const uint64_t fs = 0x0000123456789000ULL, gs = KTEXT;
	fsgs_write(fs, gs);
	uint64_t id1 = (uint64_t)sys_env_id(), y = (uint64_t)sys_yield(), id2 = int_call(KEEL_VEC_SYSCALL_INT, SYS_ENV_ID);
	int same = fsgs_read_fs() == fs && fsgs_read_gs() == gs;
	check(id1 == (uint64_t)id && y == 0 && id2 == (uint64_t)id && same,
	      "GS base %#llx, FS base %#llx across syscall, yield and int $0x80: %s", (unsigned long long)gs,
	      (unsigned long long)fs, same ? "kept" : "CHANGED");
	expect_trap("a trap (into) with that GS base", 6, 0, 0, priv_into);
	same = fsgs_read_fs() == fs && fsgs_read_gs() == gs;
	check(same, "after the trap upcall: bases %s", same ? "kept" : "CHANGED");
	sys_debug(DEBUG_WATCH_RANGE, (long)rsp_spin_start, (long)rsp_spin_end);
	long p = 0;
	uint64_t t0 = sys_time();
	while (p < 2 && sys_time() - t0 < 20000000000ULL) {
		rsp_spin(UNMAPPED, 5000000); /* (a loop that needs no stack) */
		p = sys_debug(DEBUG_PREEMPTIONS, 0, 0);
	}
	same = fsgs_read_fs() == fs && fsgs_read_gs() == gs;
	check(p >= 2 && same, "preempted %ld times with that GS base: bases %s", p, same ? "kept" : "CHANGED");
	/* A non-canonical base: #GP(0) on hardware. QEMU's TCG takes it; then
	 * the kernel saves and restores it across preemptions (its rdmsr and
	 * wrmsr of the base must not fault either). */
	uint64_t n0 = got.n;
	wrfs_noncanon();
	if (got.n != n0) {
		check(got.n == n0 + 1 && got.vector == 13 && got.error == 0 && got.rip == probe_insn,
		      "wrfsbase %#llx: vector %llu error %#llx %s", NONCANON, (unsigned long long)got.vector,
		      (unsigned long long)got.error, where(got.rip));
	} else {
		uint64_t p0 = (uint64_t)sys_debug(DEBUG_PREEMPTIONS, 0, 0);
		t0 = sys_time();
		while (p < (long)p0 + 2 && sys_time() - t0 < 20000000000ULL) {
			rsp_spin(UNMAPPED, 5000000);
			p = sys_debug(DEBUG_PREEMPTIONS, 0, 0);
		}
		uint64_t now = fsgs_read_fs();
		check(now == NONCANON && p >= (long)p0 + 2,
		      "wrfsbase %#llx: taken without a fault (QEMU TCG; hardware: #GP(0)); preempted %ld times, "
		      "FS base %#llx after",
		      NONCANON, (long)(p - (long)p0), (unsigned long long)now);
	}
	fsgs_write(0, 0);
	return 0;
}

static uint64_t far_sel;
static uint64_t do_ljmp(void) { return probe_ljmp(far_sel, 0); }
static uint64_t do_lcall(void) { return probe_lcall(far_sel); }

static int mode_ljmp32(void)
{
	uint64_t n0 = got.n;
	far_sel = KEEL_USER_CS;
	do_ljmp();
	check(got.n == n0, "ljmp to %#x: went through", KEEL_USER_CS);
	far_sel = 0x1b;
	expect_trap("ljmp to the 32-bit user code slot 0x1b", 11, 0x18, 0, do_ljmp);
	return 0;
}
static int mode_ljmp_kcs(void)
{
	far_sel = 0x08;
	expect_trap("ljmp to the kernel's CS 0x8", 13, 0x8, 0, do_ljmp);
	return 0;
}
static int mode_lcall32(void)
{
	far_sel = 0x1b;
	expect_trap("lcall to the 32-bit user code slot 0x1b", 11, 0x18, 0, do_lcall);
	return 0;
}
static int mode_lcall_ok(void)
{
	/* The control for lcall: to the user CS it calls and returns. QEMU's
	 * TCG pushes the return address with supervisor accesses, so with SMAP
	 * the CPU raises #PF without the U bit -- as for iretq, but the kernel
	 * completes only iretq (ring3_iret.c); this is forwarded as it is. */
	uint64_t n0 = got.n;
	far_sel = KEEL_USER_CS;
	do_lcall();
	if (got.n == n0)
		check(1, "lcall to %#x and lret: went through", KEEL_USER_CS);
	else
		check(got.n == n0 + 1 && got.vector == 14 && !(got.error & 4) && got.rip == probe_insn &&
			      probe_rsp - got.cr2 <= 8,
		      "lcall to %#x: vector %llu error %#llx (supervisor: QEMU TCG with SMAP) %s, cr2 just below RSP",
		      KEEL_USER_CS, (unsigned long long)got.vector, (unsigned long long)got.error, where(got.rip));
	return 0;
}

static int mode_lcall_kcs(void)
{
	far_sel = 0x08;
	expect_trap("lcall to the kernel's CS 0x8", 13, 0x8, 0, do_lcall);
	return 0;
}

/* ---------------------------------------------------- 2. the trap flag */
static volatile uint64_t db_count, db_rip, db_inside, db_handler_tf, events_seen, event_handler_tf, event_ctx_tf;

/* #DB: count it; resume where it stopped, TF kept or cleared. */
static int keep_tf;
static volatile uint64_t *tf_flag, tf_timer_events;
static int db_policy(struct keel_context *ctx, uint64_t vector)
{
	if (vector != 1) {
		printf("hazard %s: unexpected vector %llu at %#llx\n", mode, (unsigned long long)vector,
		       (unsigned long long)ctx->rip);
		return 1;
	}
	db_count++;
	db_rip = ctx->rip;
	if (got.handler_rflags & TF)
		db_handler_tf++;
	if (ctx->rip >= (uint64_t)tf_loop_start && ctx->rip < (uint64_t)tf_loop_end)
		db_inside++;
	if (!keep_tf)
		ctx->rflags &= ~TF;
	return 0;
}

static void tf_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	events_seen |= ev;
	if (rflags() & TF)
		event_handler_tf++;
	if (ctx->rflags & TF)
		event_ctx_tf++;
}

static int mode_tf_syscall(void)
{
	trap_policy = db_policy;
	/* Returned by sysretq, the #DB comes right after the syscall (the
	 * syscall's own single-step trap, as on hardware); returned through an
	 * iretq (here: re-dispatch by activation, resumed by the libOS), after
	 * the instruction that follows. */
	static const struct { const char *name; uint64_t nr, a0; int after_next; } calls[] = {
		{ "SYS_ENV_ID (the fast path, sysretq)", SYS_ENV_ID, 0, 0 },
		{ "SYS_DEBUG (the general path, sysretq)", SYS_DEBUG, DEBUG_PREEMPTIONS, 0 },
		{ "SYS_YIELD (an activation, the libOS's iretq)", SYS_YIELD, 0, 1 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(calls); i++) {
		uint64_t n0 = db_count;
		uint64_t r = tf_syscall(calls[i].nr, calls[i].a0);
		uint64_t want = calls[i].nr == SYS_ENV_ID ? (uint64_t)id : 0;
		uint64_t at = (uint64_t)tf_syscall_after + calls[i].after_next;
		check(db_count == n0 + 1 && db_rip == at && r == want && !db_handler_tf,
		      "TF set across syscall %s: returned %lld, %llu #DB %s", calls[i].name, (long long)r,
		      (unsigned long long)(db_count - n0),
		      db_rip == (uint64_t)tf_syscall_after ? "right after the syscall" :
		      db_rip == (uint64_t)tf_syscall_after + 1 ? "after the instruction following the syscall" : "ELSEWHERE");
	}
	uint64_t n0 = db_count;
	uint64_t r = tf_int80(SYS_ENV_ID);
	check(db_count == n0 + 1 && db_rip == (uint64_t)tf_int80_after + 1 && r == (uint64_t)id,
	      "TF set across int $0x80 SYS_ENV_ID: returned %lld, %llu #DB %s", (long long)r,
	      (unsigned long long)(db_count - n0),
	      db_rip == (uint64_t)tf_int80_after ? "right after the int" :
	      db_rip == (uint64_t)tf_int80_after + 1 ? "after the instruction following the int" : "ELSEWHERE");
	/* The same with MOV SS just before: on hardware its deferred #DB fires
	 * in Ring 0 (ignored there, on the #DB IST stack); Ring 3's is the same. */
	n0 = db_count;
	r = tf_movss_syscall(SYS_ENV_ID);
	check(db_count == n0 + 1 && db_rip == (uint64_t)tf_movss_syscall_after && r == (uint64_t)id,
	      "TF set, MOV SS, syscall SYS_ENV_ID: returned %lld, %llu #DB in Ring 3 %s", (long long)r,
	      (unsigned long long)(db_count - n0),
	      db_rip == (uint64_t)tf_movss_syscall_after ? "right after the syscall" : "ELSEWHERE");
	n0 = db_count;
	r = tf_movss_int80(SYS_ENV_ID);
	check(db_count == n0 + 1 && db_rip == (uint64_t)tf_movss_int80_after + 1 && r == (uint64_t)id,
	      "TF set, MOV SS, int $0x80 SYS_ENV_ID: returned %lld, %llu #DB in Ring 3 %s", (long long)r,
	      (unsigned long long)(db_count - n0),
	      db_rip == (uint64_t)tf_movss_int80_after + 1 ? "after the instruction following the int" : "ELSEWHERE");
	return 0;
}

static int mode_tf_upcall(void)
{
	/* Single-step a loop while a timer event arrives: every instruction
	 * traps exactly once, the handlers run with TF clear, the interrupted
	 * context keeps it. */
	trap_policy = db_policy;
	keep_tf = 1;
	static volatile uint64_t flag;
	tf_flag = &flag;
	sys_set_deadline(keel_now() + 200000);
	/* tf_loop stops once a timer event has found it 50 iterations in */
	uint64_t n0 = db_count;
	uint64_t iters = tf_loop(&flag);
	uint64_t steps = db_count - n0;
	check(steps == 3 * iters + 3 && db_inside == 3 * iters - 1 && iters >= 50 && tf_timer_events &&
		      !db_handler_tf && !event_handler_tf && event_ctx_tf == tf_timer_events,
	      "single-stepped %llu iterations: %llu #DB (want %llu), %llu inside the loop (want %llu); %s; "
	      "handlers ran with TF %s; the interrupted contexts had TF %s",
	      (unsigned long long)iters, (unsigned long long)steps, (unsigned long long)(3 * iters + 3),
	      (unsigned long long)db_inside, (unsigned long long)(3 * iters - 1),
	      tf_timer_events ? "timer events delivered inside it" : "NO TIMER EVENT",
	      db_handler_tf || event_handler_tf ? "SET" : "clear",
	      event_ctx_tf == tf_timer_events ? "set" : "CLEAR");
	/* TF across int $0x82: the event comes at once, TF comes back with
	 * the resume, one #DB after the next instruction. */
	keep_tf = 0;
	events_seen = 0;
	event_ctx_tf = 0;
	n0 = db_count;
	tf_int82();
	check((events_seen & KEEL_EV_SELF) && event_ctx_tf == 1 && !event_handler_tf && db_count == n0 + 1 &&
		      db_rip == (uint64_t)tf_int82_after + 1,
	      "TF set across int $0x82: event %s, %llu #DB %s", events_seen & KEEL_EV_SELF ? "delivered" : "MISSING",
	      (unsigned long long)(db_count - n0),
	      db_rip == (uint64_t)tf_int82_after + 1 ? "after the instruction following the int" : "ELSEWHERE");
	return 0;
}

static void tf_flag_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_SELF)
		tf_event(a, ev, ctx);
	if (!(ev & KEEL_EV_TIMER) || !tf_flag)
		return;
	if (rflags() & TF)
		event_handler_tf++;
	/* Stop the loop once it has stepped through 50 iterations (RAX counts
	 * them); until then, another event in a while. */
	int in_loop = ctx->rip >= (uint64_t)tf_loop_start && ctx->rip < (uint64_t)tf_loop_end;
	if (in_loop) {
		tf_timer_events++;
		event_ctx_tf += (ctx->rflags & TF) != 0;
	}
	if (in_loop && ctx->rax >= 50)
		*tf_flag = 1;
	else
		sys_set_deadline(keel_now() + 1000000);
}


static int mode_icebp(void)
{
	/* Hardware: #DB, a trap (RIP after it), through the #DB gate whatever
	 * its DPL. QEMU 7.2's TCG: #UD at it. Either is forwarded. */
	uint64_t n0 = got.n;
	priv_icebp();
	int db = got.vector == 1 && got.rip == probe_resume, ud = got.vector == 6 && got.rip == probe_insn;
	check(got.n == n0 + 1 && got.error == 0 && (db || ud), "icebp (0xF1, int1): vector %llu error %#llx %s",
	      (unsigned long long)got.vector, (unsigned long long)got.error, got.n == n0 ? "NO TRAP" : where(got.rip));
	return 0;
}
static int mode_into(void)
{
	expect_trap("into (0xCE, invalid in 64-bit mode)", 6, 0, 0, priv_into);
	return 0;
}
static void any_trap(const char *what, uint64_t (*probe)(void))
{
	uint64_t n0 = got.n;
	probe();
	int ok = got.n == n0 + 1 && (got.vector == 6 || (got.vector == 13 && got.error == 0)) && got.rip == probe_insn;
	check(ok, "%s: vector %llu error %#llx %s", what, (unsigned long long)got.vector, (unsigned long long)got.error,
	      got.n == n0 ? "NO TRAP" : where(got.rip));
}
static int mode_sysenter(void)
{
	/* #UD (AMD, and QEMU for a non-Intel vendor) or #GP(0) (Intel, with
	 * IA32_SYSENTER_CS = 0): either keeps the kernel out. */
	any_trap("sysenter", priv_sysenter);
	any_trap("sysexit", priv_sysexit);
	return 0;
}

/* int $N for every vector: #GP(N * 8 + 2) at the int, but for the gates a
 * user may call. */
static volatile uint64_t self_events;
static void self_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_SELF)
		self_events++;
}

static int intn_policy(struct keel_context *ctx, uint64_t vector)
{
	ctx->rip = probe_resume; /* past the int, to its ret */
	return 0;
}

static int mode_intn(void)
{
	trap_policy = intn_policy;
	unsigned gp = 0, soft = 0, wrong = 0;
	for (unsigned v = 0; v < 256; v++) {
		if (v == 3 || v == 4 || v == KEEL_VEC_SYSCALL_INT || v == KEEL_VEC_FLOOR || v == KEEL_VEC_SELF)
			continue;
		uint64_t n0 = got.n;
		probe_insn = (uint64_t)int_table + 4 * v;
		probe_resume = probe_insn + 2;
		int_call(v, 0);
		if (got.n == n0 + 1 && got.vector == 13 && got.error == v * 8 + 2 && got.rip == probe_insn) {
			gp++;
			soft += v >= KEEL_VEC_SOFT_BASE && v < KEEL_VEC_SOFT_BASE + KEEL_VEC_SOFT_COUNT;
		} else {
			wrong++;
			printf("hazard intn: int $%#x: %llu traps, vector %llu error %#llx rip %#llx: WRONG\n", v,
			       (unsigned long long)(got.n - n0), (unsigned long long)got.vector,
			       (unsigned long long)got.error, (unsigned long long)got.rip);
		}
	}
	check(wrong == 0, "int $N for the 251 vectors that are no user gate: %u #GP with error N*8+2 at the int "
			  "(%u of them software vectors not held)", gp, soft);
	/* The user gates, by name. */
	uint64_t n0 = got.n;
	probe_insn = (uint64_t)int_table + 4 * 3;
	probe_resume = probe_insn + 2;
	int_call(3, 0);
	check(got.n == n0 + 1 && got.vector == 3 && got.rip == probe_resume, "int $3: vector %llu after the int",
	      (unsigned long long)got.vector);
	n0 = got.n;
	probe_insn = (uint64_t)int_table + 4 * 4;
	probe_resume = probe_insn + 2;
	int_call(4, 0);
	check(got.n == n0 + 1 && got.vector == 4 && got.rip == probe_resume, "int $4: vector %llu after the int",
	      (unsigned long long)got.vector);
	n0 = got.n;
	uint64_t r = int_call(KEEL_VEC_SYSCALL_INT, SYS_ENV_ID);
	check(got.n == n0 && r == (uint64_t)id, "int $0x80: the syscall gate (SYS_ENV_ID -> %lld)", (long long)r);
	r = int_call(KEEL_VEC_FLOOR, 0x1234);
	check(got.n == n0 && r == 0x1234, "int $0x81: the benchmark's bare iretq gate (RAX kept)");
	uint64_t e0 = self_events;
	int_call(KEEL_VEC_SELF, 0);
	check(got.n == n0 && self_events == e0 + 1, "int $0x82: an event upcall to itself (%llu delivered)",
	      (unsigned long long)(self_events - e0));
	return 0;
}

/* ------------------------------------------- 3. privileged instructions */
#define PRIV(n) uint64_t priv_##n(void);
PRIV(cli) PRIV(sti) PRIV(hlt) PRIV(inb) PRIV(outb) PRIV(insb) PRIV(lgdt) PRIV(lidt) PRIV(lldt) PRIV(ltr)
PRIV(movcr3w) PRIV(movcr0r) PRIV(movcr3r) PRIV(movcr4r) PRIV(movdr7w) PRIV(clts) PRIV(lmsw) PRIV(wrmsr)
PRIV(rdmsr) PRIV(rdpmc) PRIV(swapgs) PRIV(sysretq) PRIV(invlpg) PRIV(invd) PRIV(wbinvd) PRIV(xsetbv)
PRIV(sgdt) PRIV(sidt) PRIV(sldt) PRIV(str) PRIV(smsw)

static int mode_priv(void)
{
	static const struct { const char *name; uint64_t (*fn)(void); } gp0[] = {
		{ "cli", priv_cli }, { "sti", priv_sti }, { "hlt", priv_hlt }, { "in", priv_inb }, { "out", priv_outb },
		{ "ins", priv_insb }, { "lgdt", priv_lgdt }, { "lidt", priv_lidt }, { "lldt", priv_lldt },
		{ "ltr", priv_ltr }, { "mov to cr3", priv_movcr3w }, { "mov from cr0", priv_movcr0r },
		{ "mov from cr3", priv_movcr3r }, { "mov from cr4", priv_movcr4r }, { "mov to dr7", priv_movdr7w },
		{ "clts", priv_clts }, { "lmsw", priv_lmsw }, { "wrmsr", priv_wrmsr }, { "rdmsr", priv_rdmsr },
		{ "rdpmc", priv_rdpmc }, { "swapgs", priv_swapgs }, { "sysretq", priv_sysretq },
		{ "invlpg", priv_invlpg }, { "invd", priv_invd }, { "wbinvd", priv_wbinvd },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(gp0); i++)
		expect_trap(gp0[i].name, 13, 0, 0, gp0[i].fn);
	/* xsetbv is #UD where the kernel has not enabled XSAVE (CR4.OSXSAVE,
	 * shown to Ring 3 by CPUID): no XSAVE under -cpu qemu64. */
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (c & (1u << 27))
		expect_trap("xsetbv (XSAVE enabled)", 13, 0, 0, priv_xsetbv);
	else
		expect_trap("xsetbv (XSAVE not enabled)", 6, 0, 0, priv_xsetbv);

	/* UMIP: #GP(0) where the kernel turned it on; else they work -- say
	 * what they showed. */
	static const struct { const char *name; uint64_t (*fn)(void); int table; } umip[] = {
		{ "sgdt", priv_sgdt, 1 }, { "sidt", priv_sidt, 1 }, { "sldt", priv_sldt, 0 },
		{ "str", priv_str, 0 }, { "smsw", priv_smsw, 0 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(umip); i++) {
		uint64_t n0 = got.n;
		probe_out[0] = probe_out[1] = 0;
		uint64_t v = umip[i].fn();
		if (got.n != n0) {
			check(got.n == n0 + 1 && got.vector == 13 && got.error == 0 && got.rip == probe_insn,
			      "%s (UMIP): vector %llu error %#llx %s", umip[i].name, (unsigned long long)got.vector,
			      (unsigned long long)got.error, where(got.rip));
		} else if (umip[i].table) {
			uint16_t limit = (uint16_t)probe_out[0];
			uint64_t base = (probe_out[0] >> 16) | (probe_out[1] << 48);
			check(1, "%s (no UMIP): executed: base %#llx limit %#x", umip[i].name, (unsigned long long)base,
			      limit);
		} else {
			check(1, "%s (no UMIP): executed: %#llx", umip[i].name, (unsigned long long)(v & 0xFFFF));
		}
	}
	return 0;
}

/* ------------------------------------------------ 4. a bad stack pointer */
static const struct { const char *name; uint64_t rsp; } bad_rsps[] = {
	{ "non-canonical", NONCANON_SP },
	{ "in the kernel slot", KSLOT },
	{ "unmapped", UNMAPPED },
};

static int mode_rsp_syscall(void)
{
	for (unsigned i = 0; i < ARRAY_SIZE(bad_rsps); i++) {
		uint64_t n0 = got.n, rsp = bad_rsps[i].rsp;
		uint64_t a = rsp_syscall(rsp, SYS_ENV_ID), b = rsp_syscall(rsp, SYS_YIELD), c = rsp_int80(rsp, SYS_ENV_ID);
		check(a == (uint64_t)id && b == 0 && c == (uint64_t)id && got.n == n0,
		      "RSP %#llx (%s): syscall SYS_ENV_ID -> %lld, syscall SYS_YIELD -> %lld, int $0x80 SYS_ENV_ID -> "
		      "%lld, %llu traps",
		      (unsigned long long)rsp, bad_rsps[i].name, (long long)a, (long long)b, (long long)c,
		      (unsigned long long)(got.n - n0));
	}
	return 0;
}

/* Preempted while RSP is bad (the other env must be running). */
static void rsp_preempted(const char *how)
{
	sys_debug(DEBUG_WATCH_RANGE, (long)rsp_spin_start, (long)rsp_spin_end);
	for (unsigned i = 0; i < ARRAY_SIZE(bad_rsps); i++) {
		long p0 = sys_debug(DEBUG_PREEMPTIONS, 0, 0), p = 0;
		uint64_t moved = 0, t0 = sys_time();
		/* spin until preempted twice (or 20 s) */
		while (p < 2 && sys_time() - t0 < 20000000000ULL) {
			moved += rsp_spin(bad_rsps[i].rsp, 5000000);
			p = sys_debug(DEBUG_PREEMPTIONS, 0, 0) - p0;
		}
		check(p >= 2 && moved == 0, "%s, RSP %#llx (%s): preempted %ld times in the loop, RSP %s", how,
		      (unsigned long long)bad_rsps[i].rsp, bad_rsps[i].name, p, moved ? "CHANGED" : "kept");
	}
}

static int mode_rsp_irq(void)
{
	rsp_preempted("no upcall area");
	return 0;
}

static int mode_rsp_irq_disabled(void)
{
	if (upcalls())
		return 1;
	keel_area->disabled = 1;
	rsp_preempted("upcalls disabled");
	keel_area->disabled = 0;
	return 0;
}

static volatile uint64_t ev_flag, ev_rsp, ev_early;
static void rsp_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (!(ev & (KEEL_EV_TIMER | KEEL_EV_SELF)))
		return;
	if ((ev & KEEL_EV_TIMER) && (ctx->rip < (uint64_t)rsp_wait_start || ctx->rip >= (uint64_t)rsp_wait_end)) {
		/* before the loop (the deadline passed in the kernel): again */
		ev_early++;
		sys_set_deadline(keel_now() + 200000);
		return;
	}
	ev_flag = 1;
	ev_rsp = ctx->rsp;
}

static int mode_rsp_upcall(void)
{
	for (unsigned i = 0; i < ARRAY_SIZE(bad_rsps); i++) {
		uint64_t rsp = bad_rsps[i].rsp;
		/* a timer event while spinning with the bad RSP */
		ev_flag = ev_rsp = 0;
		sys_set_deadline(keel_now() + 100000);
		uint64_t moved = rsp_wait(rsp, &ev_flag);
		check(ev_rsp == rsp && moved == 0, "timer upcall with RSP %#llx (%s): delivered, the saved RSP %s", (unsigned long long)rsp,
		      bad_rsps[i].name, ev_rsp == rsp ? "is the bad one" : "WRONG");
		/* int $0x82 (the fast path) */
		ev_flag = ev_rsp = 0;
		rsp_int82(rsp);
		check(ev_flag && ev_rsp == rsp, "int $0x82 with RSP %#llx (%s): delivered, the saved RSP %s", (unsigned long long)rsp,
		      bad_rsps[i].name, ev_rsp == rsp ? "is the bad one" : "WRONG");
	}
	return 0;
}

static int mode_rsp_fault(void)
{
	for (unsigned i = 0; i < ARRAY_SIZE(bad_rsps); i++) {
		uint64_t rsp = bad_rsps[i].rsp, n0 = got.n;
		rsp_ud2(rsp);
		check(got.n == n0 + 1 && got.vector == 6 && got.rip == probe_insn && got.rsp == rsp,
		      "ud2 with RSP %#llx (%s): vector %llu %s, saved RSP %s", (unsigned long long)rsp, bad_rsps[i].name,
		      (unsigned long long)got.vector, where(got.rip), got.rsp == rsp ? "the bad one" : "WRONG");
		n0 = got.n;
		rsp_push(rsp);
		/* hardware: #SS(0) for a non-canonical stack, QEMU's TCG #GP(0);
		 * a kernel page or no page: a user-mode write #PF */
		int want = i == 0 ? (got.vector == 12 || got.vector == 13) && got.error == 0
				  : got.vector == 14 && got.error == (i == 1 ? 0x7u : 0x6u) && got.cr2 == rsp - 8;
		check(got.n == n0 + 1 && want && got.rip == probe_insn && got.rsp == rsp,
		      "push with RSP %#llx (%s): vector %llu error %#llx cr2 %#llx %s", (unsigned long long)rsp, bad_rsps[i].name,
		      (unsigned long long)got.vector, (unsigned long long)got.error, (unsigned long long)got.cr2,
		      where(got.rip));
	}
	return 0;
}

/* An event arriving while the RIP is in the declared critical range and RSP
 * is not a stack: the kernel would take the context at RSP - KCTX_RIP. */
static int mode_rsp_crit(void)
{
	keel_area->crit_start = (uint64_t)rsp_wait_start;
	keel_area->crit_end = (uint64_t)rsp_wait_end;
	ev_flag = 0;
	printf("hazard %s: spinning in the declared critical range with RSP %#llx, a timer event due\n", mode, KSLOT);
	sys_set_deadline(keel_now() + 100000);
	rsp_wait(KSLOT, &ev_flag);
	check(0, "survived an event in the critical range with RSP in the kernel slot");
	return 1;
}

/* ---------------------------------------------- 5. a broken upcall area */
static volatile uint64_t trap_reported;
static int exit_policy(struct keel_context *ctx, uint64_t vector)
{
	/* Report what reached the trap entry and end cleanly. */
	printf("hazard %s: trap entry reached: vector %llu error %#llx cr2 %#llx at %s, context in the %s save\n", mode,
	       (unsigned long long)got.vector, (unsigned long long)got.error, (unsigned long long)got.cr2,
	       got.rip == keel_area->event_entry ? "the event entry" : "ANOTHER RIP",
	       got.slot == KEEL_SAVE_TRAP ? "trap" : "enabled");
	trap_reported = 1;
	sys_exit(bad);
}

static int wait_for_event(const char *why)
{
	sys_set_deadline(keel_now() + 100000);
	uint64_t t0 = keel_now();
	while (keel_now() - t0 < 2000000000ULL)
		;
	check(0, "%s: still running 2 s after the deadline", why);
	return 1;
}

static int mode_upstack_unmapped(void)
{
	trap_policy = exit_policy;
	keel_area->event_entry = (uint64_t)entry_push;
	keel_area->upcall_stack = UNMAPPED;
	return wait_for_event("upcall stack unmapped");
}
static int mode_upstack_kernel(void)
{
	keel_area->upcall_stack = KSLOT;
	return wait_for_event("upcall stack in the kernel slot");
}
static int mode_upstack_noncanon(void)
{
	keel_area->upcall_stack = NONCANON + 0x1000;
	return wait_for_event("upcall stack non-canonical");
}
static int mode_entry_kernel(void)
{
	keel_area->event_entry = KTEXT;
	return wait_for_event("event entry in the kernel image");
}
static int mode_entry_noncanon(void)
{
	keel_area->event_entry = NONCANON;
	return wait_for_event("event entry non-canonical");
}
static int mode_entry_unmapped(void)
{
	trap_policy = exit_policy;
	keel_area->event_entry = UNMAPPED;
	return wait_for_event("event entry unmapped");
}

/* A fault while disabled goes to the trap entry on the trap stack. */
static int fault_disabled(const char *why)
{
	keel_area->disabled = 1;
	__asm__ volatile("ud2");
	check(0, "%s: survived", why);
	return 1;
}
static int mode_trapstack_unmapped(void)
{
	keel_area->trap_stack = UNMAPPED;
	keel_area->trap_stack_size = 4096;
	return fault_disabled("trap stack unmapped");
}
static int mode_trapstack_nosize(void)
{
	keel_area->trap_stack = UNMAPPED;
	keel_area->trap_stack_size = 0;
	return fault_disabled("trap stack unmapped, its size 0");
}
static int mode_trapstack_kernel(void)
{
	keel_area->trap_stack = KSLOT;
	return fault_disabled("trap stack in the kernel slot");
}
static int mode_trapstack_noncanon(void)
{
	keel_area->trap_stack = NONCANON + 0x1000;
	return fault_disabled("trap stack non-canonical");
}
static int mode_trapentry_kernel(void)
{
	keel_area->trap_entry = KTEXT;
	__asm__ volatile("ud2");
	check(0, "trap entry in the kernel image: survived");
	return 1;
}

/* The area's page goes away: unmapped, revoked, or made read-only. */
static uint64_t area_va;
static long area_frame, area_range;

static struct keel_upcall_area *area_page(void)
{
	if (vm_init())
		return NULL;
	area_range = sys_vrange_alloc(4096, 0);
	struct keel_cap_info info;
	if (area_range < 0 || sys_cap_info((uint32_t)area_range, &info))
		return NULL;
	area_va = info.base;
	area_frame = vm_map_new(area_va, KEEL_MAP_WRITE);
	return area_frame < 0 ? NULL : (struct keel_upcall_area *)area_va;
}

static int area_gone(const char *how, long r)
{
	long d = sys_set_deadline(0); /* cancel: 0 with an area, -EINVAL without */
	check(r >= 0 && d == -EINVAL, "%s (%ld): the kernel dropped the area (SYS_SET_DEADLINE -> %ld)", how, r, d);
	printf("hazard %s: committing ud2 with no upcall area\n", mode);
	__asm__ volatile("ud2");
	check(0, "%s: survived ud2", how);
	return 1;
}

static int area_mode(int how)
{
	struct keel_upcall_area *a = area_page();
	long child = -1;
	if (a && how == 1) {
		/* map a derived capability; revoking its parent takes it away */
		vm_unmap(area_va);
		child = sys_cap_derive((uint32_t)area_frame, KEEL_R_READ | KEEL_R_WRITE, KEEL_SELF);
		if (child < 0 || vm_map(area_va, (uint32_t)child, KEEL_MAP_WRITE))
			a = NULL;
	}
	if (!a || keel_upcalls_init_at(a, NULL, on_trap)) {
		check(0, "could not set up an upcall area on its own page");
		return 1;
	}
	expect_trap("the control: into with the area in place", 6, 0, 0, priv_into);
	if (how == 0)
		return area_gone("unmapped", vm_unmap(area_va));
	if (how == 1)
		return area_gone("its capability's parent revoked", sys_cap_revoke((uint32_t)area_frame));
	return area_gone("remapped read-only", vm_map(area_va, (uint32_t)area_frame, 0));
}

static int mode_area_unmapped(void) { return area_mode(0); }
static int mode_area_revoked(void) { return area_mode(1); }
static int mode_area_readonly(void) { return area_mode(2); }

/*
 * A table above the area's page made read-only: the page's own entry keeps
 * W, the entry for its level-N table (N = 1, 2, 3) loses it. A table entry's
 * rights are its capability's (docs/abi.md), so mapping the same table
 * capability again changes nothing; the one way is to replace the entry
 * with a read-only capability of the same table. The kernel must drop the
 * area (it is no longer the env's writable page at that address), refuse
 * to register it there again, and the page must still read but not write.
 *
 * The page sits at a 512 GiB boundary inside a range of its own, so its
 * level-1, -2 and -3 tables map nothing else (nothing of the program goes
 * with them).
 */
static uint64_t write_probe(volatile uint64_t *p)
{
	*p = 1;
	return 0;
}

static int area_table_readonly(unsigned level)
{
	const uint64_t span3 = 1ULL << 39;
	struct keel_cap_info info;
	long range = vm_init() ? -1 : sys_vrange_alloc(span3, 1ULL << 30);
	if (range < 0 || sys_cap_info((uint32_t)range, &info)) {
		check(0, "a 512 GiB range of its own (%ld)", range);
		return 1;
	}
	uint64_t va = (info.base + span3 - 1) & ~(span3 - 1);
	long frame = vm_map_new(va, KEEL_MAP_WRITE);
	if (frame < 0 || keel_upcalls_init_at((struct keel_upcall_area *)va, NULL, on_trap)) {
		check(0, "an upcall area at %#llx (%ld)", (unsigned long long)va, frame);
		return 1;
	}
	expect_trap("the control: into with the area in place", 6, 0, 0, priv_into);

	long table = vm_table(level, va, 0), parent = vm_table(level + 1, va, 0);
	uint16_t index = (uint16_t)((va >> (12 + 9 * level)) & 511);
	struct keel_mmu_op same = { .table = (uint32_t)parent, .index = index, .flags = 0, .cap = (uint32_t)table };
	long r = sys_mmu_update(&same, 1, NULL);
	long d = sys_set_deadline(0);
	check(r == 0 && d == 0 && (vm_entry(va, level + 1) & (VM_P | VM_W)) == (VM_P | VM_W),
	      "the level-%u table mapped again with the same capability and no flags (%ld): its entry keeps W, "
	      "the area stays (SYS_SET_DEADLINE -> %ld)", level, r, d);

	long ro = sys_cap_derive((uint32_t)table, KEEL_R_READ, KEEL_SELF);
	struct keel_mmu_op swap[2] = {
		{ .table = (uint32_t)parent, .index = index, .cap = KEEL_CAP_NONE },
		{ .table = (uint32_t)parent, .index = index, .cap = (uint32_t)ro },
	};
	uint64_t done = 0;
	r = ro < 0 ? ro : sys_mmu_update(swap, 2, &done);
	uint64_t above = vm_entry(va, level + 1), leaf = vm_entry(va, 1);
	check(r == 0 && done == 2 && (above & (VM_P | VM_W)) == VM_P && (leaf & (VM_P | VM_W)) == (VM_P | VM_W),
	      "the level-%u table replaced by a read-only capability of it (%ld): its entry %s, the page's own %s", level,
	      r, (above & (VM_P | VM_W)) == VM_P ? "present without W" : "WRONG",
	      (leaf & (VM_P | VM_W)) == (VM_P | VM_W) ? "present with W" : "WRONG");
	d = sys_set_deadline(0); /* cancel: 0 with an area, -EINVAL without */
	uint64_t mult = ((volatile struct keel_upcall_area *)va)->clock_mult;
	check(d == -EINVAL && mult != 0,
	      "the kernel dropped the area (SYS_SET_DEADLINE -> %ld); the page still reads (clock_mult %s)", d,
	      mult ? "set" : "0");
	long again = keel_syscall3(SYS_UPCALL_SETUP, (long)va, 0, 0);
	check(again == -EFAULT, "registering it again under the read-only table: %ld", again);
	if (bad)
		return 1; /* still registered: a write would trap to on_trap, not kill */
	printf("hazard %s: writing to the page with no upcall area\n", mode);
	write_probe((volatile uint64_t *)va);
	check(0, "a write through a read-only table: survived");
	return 1;
}

static int mode_area_readonly_l1(void) { return area_table_readonly(1); }
static int mode_area_readonly_l2(void) { return area_table_readonly(2); }
static int mode_area_readonly_l3(void) { return area_table_readonly(3); }

/* ------------------------------------------------------------------ main */
enum { NO_AREA, AREA, AREA_TF, AREA_SELF, AREA_RSP, AREA_OWN };
static const struct {
	const char *name;
	int (*fn)(void);
	int area;
} modes[] = {
	{ "iret-kcs", mode_iret_kcs, AREA },
	{ "iret-kss", mode_iret_kss, AREA },
	{ "iret-nullss", mode_iret_nullss, AREA },
	{ "iret-rpl0cs", mode_iret_rpl0cs, AREA },
	{ "iret-rpl0ss", mode_iret_rpl0ss, AREA },
	{ "iret-cs32", mode_iret_cs32, AREA },
	{ "iret-noncanon", mode_iret_noncanon, AREA },
	{ "iret-unmapped", mode_iret_unmapped, AREA },
	{ "iret-iopl", mode_iret_iopl, AREA },
	{ "nt", mode_nt, AREA },
	{ "gsbase", mode_gsbase, AREA },
	{ "ljmp32", mode_ljmp32, AREA },
	{ "ljmp-kcs", mode_ljmp_kcs, AREA },
	{ "lcall32", mode_lcall32, AREA },
	{ "lcall-kcs", mode_lcall_kcs, AREA },
	{ "lcall-ok", mode_lcall_ok, AREA },
	{ "tf-syscall", mode_tf_syscall, AREA },
	{ "tf-upcall", mode_tf_upcall, AREA_TF },
	{ "icebp", mode_icebp, AREA },
	{ "into", mode_into, AREA },
	{ "sysenter", mode_sysenter, AREA },
	{ "intn", mode_intn, AREA_SELF },
	{ "priv", mode_priv, AREA },
	{ "rsp-syscall", mode_rsp_syscall, AREA },
	{ "rsp-irq", mode_rsp_irq, NO_AREA },
	{ "rsp-irq-disabled", mode_rsp_irq_disabled, NO_AREA },
	{ "rsp-upcall", mode_rsp_upcall, AREA_RSP },
	{ "rsp-fault", mode_rsp_fault, AREA },
	{ "rsp-crit", mode_rsp_crit, AREA_RSP },
	{ "upstack-unmapped", mode_upstack_unmapped, AREA },
	{ "upstack-kernel", mode_upstack_kernel, AREA },
	{ "upstack-noncanon", mode_upstack_noncanon, AREA },
	{ "entry-kernel", mode_entry_kernel, AREA },
	{ "entry-noncanon", mode_entry_noncanon, AREA },
	{ "entry-unmapped", mode_entry_unmapped, AREA },
	{ "trapstack-unmapped", mode_trapstack_unmapped, AREA },
	{ "trapstack-nosize", mode_trapstack_nosize, AREA },
	{ "trapstack-kernel", mode_trapstack_kernel, AREA },
	{ "trapstack-noncanon", mode_trapstack_noncanon, AREA },
	{ "trapentry-kernel", mode_trapentry_kernel, AREA },
	{ "area-unmapped", mode_area_unmapped, AREA_OWN },
	{ "area-revoked", mode_area_revoked, AREA_OWN },
	{ "area-readonly", mode_area_readonly, AREA_OWN },
	{ "area-readonly-l1", mode_area_readonly_l1, AREA_OWN },
	{ "area-readonly-l2", mode_area_readonly_l2, AREA_OWN },
	{ "area-readonly-l3", mode_area_readonly_l3, AREA_OWN },
};

int main(int argc, char **argv)
{
	mode = argc > 1 ? argv[1] : "?";
	id = sys_env_id();
	for (unsigned i = 0; i < ARRAY_SIZE(modes); i++) {
		if (strcmp(mode, modes[i].name))
			continue;
		int err = 0;
		switch (modes[i].area) {
		case AREA: err = keel_upcalls_init(NULL, on_trap); break;
		case AREA_TF: err = keel_upcalls_init(tf_flag_event, on_trap); break;
		case AREA_SELF: err = keel_upcalls_init(self_event, on_trap); break;
		case AREA_RSP: err = keel_upcalls_init(rsp_event, on_trap); break;
		}
		if (err) {
			printf("hazard %s: SYS_UPCALL_SETUP failed: %d\n", mode, err);
			return 2;
		}
		int r = modes[i].fn();
		printf("hazard %s: %s\n", mode, r || bad ? "FAILED" : "ok");
		return r || bad;
	}
	printf("hazard: unknown mode '%s'\n", mode);
	return 2;
}
