/*
 * `hazard MODE`: the entry/exit hazard suite (issue 9; docs/security.md).
 * Each mode commits hostile acts from Ring 3 -- a bad iretq frame, the trap
 * flag across a kernel entry, a privileged instruction, a bad stack pointer
 * at an entry, a broken upcall area -- and reports exactly what came back.
 * tests/test_hazards.py runs one boot per mode, beside another env.
 *
 * Most of it is data: the table `modes[]` at the end. A mode names how its
 * upcall area is set up and its steps: a step is one probe (probes.S, or a
 * small C function here), the fields of the upcall area it breaks first,
 * and the outcome it must have -- it goes through; it traps once with this
 * vector and error code, at the instruction or after it; or it never comes
 * back (the kernel kills the env, or the trap handler ends it). commit() runs
 * a step and prints its line. A hazard whose outcome is more than that has a
 * small function of its own (the mode's `run`).
 *
 * Adding a hazard: a row in `modes[]` (a step in an existing mode, or a new
 * mode), and a probe in probes.S if none commits it yet.
 *
 * Lines: `hazard MODE: WHAT: RESULT: ok|WRONG`, then `hazard MODE: ok` or
 * `hazard MODE: FAILED` (and the exit code says the same). A step that must
 * end the env first says `hazard MODE: WHAT: committing it; the env must
 * end here`; the kernel's line that follows says why it ended.
 */
#include "keel.h"
#include "vm.h"
#include "lib/fmt.h"

#define TF 0x100ULL

/* Addresses Ring 3 may not use, of each kind, written as the lines print
 * them (STR puts one in a step's text). */
#define NONCANON    0x800000000000     /* the first non-canonical address */
#define NONCANON_SP 0x800000000010     /* a stack pointer that stays non-canonical below */
#define KSLOT       0xffffff8000101000 /* the kernel slot: the direct map, present */
#define UNMAPPED    0x3ffff000         /* a user page nothing maps (as in apps/upcalls) */
#define KTEXT       0xffffffff80100000 /* the kernel image */
#define STR(x) STR_(x)
#define STR_(x) #x

/* ------------------------------------------------------------ the probes */
/* Every probe of the table is called as this; probes.S's read the
 * arguments they need. They return what they read, where they read
 * anything. */
typedef uint64_t probe_fn(uint64_t a, uint64_t b, uint64_t c, uint64_t d);
extern probe_fn probe_iret, probe_iret_at, probe_ljmp, probe_lcall, nt_iret, rsp_ud2, rsp_push, priv_cli, priv_sti,
	priv_hlt, priv_inb, priv_outb, priv_insb, priv_lgdt, priv_lidt, priv_lldt, priv_ltr, priv_movcr3w,
	priv_movcr0r, priv_movcr3r, priv_movcr4r, priv_movdr7w, priv_clts, priv_lmsw, priv_wrmsr, priv_rdmsr,
	priv_rdpmc, priv_swapgs, priv_sysretq, priv_invlpg, priv_invd, priv_wbinvd, priv_xsetbv, priv_sgdt, priv_sidt,
	priv_sldt, priv_str, priv_smsw, priv_ud2, priv_icebp, priv_into, priv_sysenter, priv_sysexit;
extern uint64_t probe_insn, probe_resume, probe_rsp, probe_out[2];
/* ... and the ones the modes with a function of their own call directly */
uint64_t nt_syscall(uint64_t nr), nt_int80(uint64_t nr);
void fsgs_write(uint64_t fs, uint64_t gs);
uint64_t fsgs_read_gs(void), fsgs_read_fs(void), fsgs_wrfs_noncanon(uint64_t v);
extern char int_table[];
uint64_t int_call(uint64_t n, uint64_t rax);
uint64_t tf_syscall(uint64_t nr, uint64_t a0), tf_int80(uint64_t nr, uint64_t a0), tf_int82(void);
uint64_t tf_movss_syscall(uint64_t nr, uint64_t a0), tf_movss_int80(uint64_t nr, uint64_t a0);
uint64_t tf_loop(volatile uint64_t *flag);
extern char tf_syscall_after[], tf_int80_after[], tf_int82_after[], tf_loop_start[], tf_loop_end[];
extern char tf_movss_syscall_after[], tf_movss_int80_after[];
uint64_t rsp_syscall(uint64_t rsp, uint64_t nr), rsp_int80(uint64_t rsp, uint64_t nr);
uint64_t rsp_spin(uint64_t rsp, uint64_t ticks), rsp_wait(uint64_t rsp, volatile uint64_t *flag);
void rsp_int82(uint64_t rsp);
extern char rsp_spin_start[], rsp_spin_end[], rsp_wait_start[], rsp_wait_end[];
extern char entry_push[];

/* ------------------------------------------------------------- the table */
/* What may come back from a step (one of two: the second is another CPU's
 * answer, or QEMU's where it differs from hardware). */
enum { THROUGH_ = 1, AT_, AFTER_, AT_RIP_, ENDS_ };
struct want {
	int how;
	uint64_t vector, error, cr2, rip;
};
#define THROUGH         { .how = THROUGH_ }                                    /* no trap */
#define AT(v, e)        { .how = AT_, .vector = v, .error = e }                /* one, at the instruction */
#define AFTER(v, e)     { .how = AFTER_, .vector = v, .error = e }             /* ... after it (a trap) */
#define AT_PF(e, addr)  { .how = AT_, .vector = 14, .error = e, .cr2 = addr }  /* a #PF at the instruction */
#define AT_RIP(v, e, r) { .how = AT_RIP_, .vector = v, .error = e, .rip = r }  /* one, at that RIP */
#define ENDS            { .how = ENDS_ } /* never comes back: the env is killed, or its trap handler ends it */
#define GP0             AT(13, 0)

/* CPU features a mode or a step may need (NO(f): needs its absence). */
enum { XSAVE = 1, UMIP, FSGSBASE };
#define NO(f) (-(f))

struct step {
	const char *what;        /* the hazard, as its line names it */
	probe_fn *probe;         /* commits it */
	uint64_t arg[4];         /* the probe's arguments */
	struct want want[2];     /* what must come back: one of these */
	int only;                /* a CPU feature the step needs; without it, the step is left out */
	int (*report)(uint64_t ret, char *buf, size_t n); /* went through: what it showed; is that right */
	int rsp_kept;            /* the trapped context's RSP must be arg[0] (a bad RSP, saved as it was) */
	struct poke {            /* fields of the upcall area to break first */
		uint16_t off, size; /* size 0: none */
		uint64_t value;
	} pokes[2];
};
#define STEPS(...) ((const struct step[]){ __VA_ARGS__, { NULL } })
#define POKE(field, v) \
	{ offsetof(struct keel_upcall_area, field), sizeof(((struct keel_upcall_area *)0)->field), (uint64_t)(v) }

typedef int trap_policy_fn(struct keel_context *ctx, uint64_t vector);
enum { AREA, NO_AREA, OWN_AREA }; /* the libOS's upcall area, none, or one the mode makes */

struct mode {
	const char *name;        /* run=hazard:NAME */
	int only;                /* a CPU feature the mode needs; without it there is nothing to test */
	int area;
	keel_event_fn events;    /* the area's event handler (none: the libOS ignores events) */
	trap_policy_fn *trap;    /* what the trap handler does after recording (none: resume after the probe) */
	const struct step *steps;
	void (*run)(uint64_t arg); /* after the steps, for what they cannot say */
	uint64_t arg;
};

/* The C pieces the table names (below the driver). */
static probe_fn await_event, ud2_disabled, event_in_wait, write_to;
static int landed_flags(uint64_t rflags, char *buf, size_t n), stored_table(uint64_t ret, char *buf, size_t n),
	stored_word(uint64_t ret, char *buf, size_t n);
static trap_policy_fn trap_entry_reached, past_the_int, single_step;
static void tf_flag_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx),
	self_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx),
	rsp_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx);
static void lcall_ok(uint64_t), nt_across_calls(uint64_t), gsbase(uint64_t), tf_across_calls(uint64_t),
	tf_upcall(uint64_t), intn(uint64_t), rsp_syscall_all(uint64_t), rsp_preempted(uint64_t), rsp_upcall(uint64_t),
	area_goes(uint64_t), area_under_readonly_table(uint64_t);

/* ------------------------------------------------------------ the modes */
#define CS3 KEEL_USER_CS
#define SS3 KEEL_USER_SS
#define IRET_OK { "a Ring 3 iretq to cs 0x2b ss 0x23", probe_iret, { CS3, SS3 }, .want = { THROUGH } } /* the control */

static const struct mode modes[] = {
	/* 1. Far transfers from Ring 3: a selector Ring 3 may not load is the
	 * CPU's #GP or #NP with the selector (the 32-bit user code slot 0x18
	 * exists for STAR's layout only and is not present). Under -cpu max the
	 * kernel completes QEMU's faulting iretq itself and must raise the same. */
	{ "iret-kcs", .steps = STEPS(IRET_OK,
		{ "iretq to the kernel's CS 0x8", probe_iret, { 0x08, SS3 }, .want = { AT(13, 0x8) } }) },
	{ "iret-kss", .steps = STEPS(IRET_OK,
		{ "iretq to the kernel's SS 0x10", probe_iret, { CS3, 0x10 }, .want = { AT(13, 0x10) } }) },
	{ "iret-nullss", .steps = STEPS(IRET_OK,
		{ "iretq to a null SS", probe_iret, { CS3, 0 }, .want = { AT(13, 0) } }) },
	{ "iret-rpl0cs", .steps = STEPS(IRET_OK,
		{ "iretq to the user CS with RPL 0 (0x28)", probe_iret, { 0x28, SS3 }, .want = { AT(13, 0x28) } }) },
	{ "iret-rpl0ss", .steps = STEPS(IRET_OK,
		{ "iretq to the user SS with RPL 0 (0x20)", probe_iret, { CS3, 0x20 }, .want = { AT(13, 0x20) } }) },
	{ "iret-cs32", .steps = STEPS(IRET_OK,
		{ "iretq to the 32-bit user code slot 0x1b", probe_iret, { 0x1b, SS3 }, .want = { AT(11, 0x18) } }) },
	/* hardware faults on the iretq itself; QEMU's TCG loads the RIP and faults fetching there */
	{ "iret-noncanon", .steps = STEPS({ "iretq to rip " STR(NONCANON), probe_iret, { CS3, SS3, NONCANON },
		.want = { AT(13, 0), AT_RIP(13, 0, NONCANON) } }) },
	/* the frame itself is not readable: a user-mode #PF on the pop */
	{ "iret-unmapped", .steps = STEPS({ "iretq with RSP " STR(UNMAPPED) " (unmapped)", probe_iret_at, { UNMAPPED },
		.want = { AT_PF(0x4, UNMAPPED) } }) },
	{ "iret-iopl", .steps = STEPS({ "iretq with RFLAGS 0x3002 (IOPL 3, IF 0)", probe_iret, { CS3, SS3, 0, 0x3002 },
		.want = { THROUGH }, .report = landed_flags }) },
	{ "ljmp32", .steps = STEPS({ "ljmp to 0x2b", probe_ljmp, { CS3 }, .want = { THROUGH } },
		{ "ljmp to the 32-bit user code slot 0x1b", probe_ljmp, { 0x1b }, .want = { AT(11, 0x18) } }) },
	{ "ljmp-kcs", .steps = STEPS(
		{ "ljmp to the kernel's CS 0x8", probe_ljmp, { 0x08 }, .want = { AT(13, 0x8) } }) },
	{ "lcall32", .steps = STEPS(
		{ "lcall to the 32-bit user code slot 0x1b", probe_lcall, { 0x1b }, .want = { AT(11, 0x18) } }) },
	{ "lcall-kcs", .steps = STEPS(
		{ "lcall to the kernel's CS 0x8", probe_lcall, { 0x08 }, .want = { AT(13, 0x8) } }) },
	{ "lcall-ok", .run = lcall_ok },
	/* NT set in Ring 3 never reaches a kernel iretq; a Ring 3 iretq with it is #GP(0) */
	{ "nt", .steps = STEPS({ "iretq with NT set", nt_iret, .want = { AT(13, 0) } }), .run = nt_across_calls },
	{ "gsbase", .only = FSGSBASE, .run = gsbase },

	/* 2. The trap flag, and odd gates. icebp: #DB after it on hardware,
	 * #UD at it under QEMU 7.2's TCG. sysenter/sysexit: #UD (AMD, and
	 * QEMU's TCG) or #GP(0) (Intel, with IA32_SYSENTER_CS = 0). */
	{ "tf-syscall", .trap = single_step, .run = tf_across_calls },
	{ "tf-upcall", .events = tf_flag_event, .trap = single_step, .run = tf_upcall },
	{ "icebp", .steps = STEPS({ "icebp (0xF1, int1)", priv_icebp, .want = { AFTER(1, 0), AT(6, 0) } }) },
	{ "into", .steps = STEPS({ "into (0xCE, invalid in 64-bit mode)", priv_into, .want = { AT(6, 0) } }) },
	{ "sysenter", .steps = STEPS({ "sysenter", priv_sysenter, .want = { AT(6, 0), AT(13, 0) } },
		{ "sysexit", priv_sysexit, .want = { AT(6, 0), AT(13, 0) } }) },
	{ "intn", .events = self_event, .trap = past_the_int, .run = intn },

	/* 3. Privileged instructions from Ring 3: #GP(0) at the instruction.
	 * xsetbv is #UD where the kernel has not enabled XSAVE (none under -cpu
	 * qemu64). With UMIP (the kernel turns it on where it exists) the five
	 * store instructions are #GP(0); without, they work: say what they stored. */
	{ "priv", .steps = STEPS(
		{ "cli", priv_cli, .want = { GP0 } }, { "sti", priv_sti, .want = { GP0 } },
		{ "hlt", priv_hlt, .want = { GP0 } }, { "in", priv_inb, .want = { GP0 } },
		{ "out", priv_outb, .want = { GP0 } }, { "ins", priv_insb, .want = { GP0 } },
		{ "lgdt", priv_lgdt, .want = { GP0 } }, { "lidt", priv_lidt, .want = { GP0 } },
		{ "lldt", priv_lldt, .want = { GP0 } }, { "ltr", priv_ltr, .want = { GP0 } },
		{ "mov to cr3", priv_movcr3w, .want = { GP0 } }, { "mov from cr0", priv_movcr0r, .want = { GP0 } },
		{ "mov from cr3", priv_movcr3r, .want = { GP0 } }, { "mov from cr4", priv_movcr4r, .want = { GP0 } },
		{ "mov to dr7", priv_movdr7w, .want = { GP0 } }, { "clts", priv_clts, .want = { GP0 } },
		{ "lmsw", priv_lmsw, .want = { GP0 } }, { "wrmsr", priv_wrmsr, .want = { GP0 } },
		{ "rdmsr", priv_rdmsr, .want = { GP0 } }, { "rdpmc", priv_rdpmc, .want = { GP0 } },
		{ "swapgs", priv_swapgs, .want = { GP0 } }, { "sysretq", priv_sysretq, .want = { GP0 } },
		{ "invlpg", priv_invlpg, .want = { GP0 } }, { "invd", priv_invd, .want = { GP0 } },
		{ "wbinvd", priv_wbinvd, .want = { GP0 } },
		{ "xsetbv (XSAVE enabled)", priv_xsetbv, .only = XSAVE, .want = { GP0 } },
		{ "xsetbv (XSAVE not enabled)", priv_xsetbv, .only = NO(XSAVE), .want = { AT(6, 0) } },
		{ "sgdt (UMIP)", priv_sgdt, .only = UMIP, .want = { GP0 } },
		{ "sidt (UMIP)", priv_sidt, .only = UMIP, .want = { GP0 } },
		{ "sldt (UMIP)", priv_sldt, .only = UMIP, .want = { GP0 } },
		{ "str (UMIP)", priv_str, .only = UMIP, .want = { GP0 } },
		{ "smsw (UMIP)", priv_smsw, .only = UMIP, .want = { GP0 } },
		{ "sgdt (no UMIP)", priv_sgdt, .only = NO(UMIP), .want = { THROUGH }, .report = stored_table },
		{ "sidt (no UMIP)", priv_sidt, .only = NO(UMIP), .want = { THROUGH }, .report = stored_table },
		{ "sldt (no UMIP)", priv_sldt, .only = NO(UMIP), .want = { THROUGH }, .report = stored_word },
		{ "str (no UMIP)", priv_str, .only = NO(UMIP), .want = { THROUGH }, .report = stored_word },
		{ "smsw (no UMIP)", priv_smsw, .only = NO(UMIP), .want = { THROUGH }, .report = stored_word }) },

	/* 4. A bad stack pointer at a kernel entry: served, saved and resumed as
	 * it is; a fault with it is forwarded with it (a non-canonical stack
	 * access: #SS(0) on hardware, #GP(0) under QEMU's TCG). */
	{ "rsp-syscall", .run = rsp_syscall_all },
	{ "rsp-irq", .area = NO_AREA, .run = rsp_preempted, .arg = 0 },
	{ "rsp-irq-disabled", .run = rsp_preempted, .arg = 1 },
	{ "rsp-upcall", .events = rsp_event, .run = rsp_upcall },
	{ "rsp-fault", .steps = STEPS(
		{ "ud2 with RSP " STR(NONCANON_SP) " (non-canonical)", rsp_ud2, { NONCANON_SP }, .want = { AT(6, 0) },
		  .rsp_kept = 1 },
		{ "push with RSP " STR(NONCANON_SP) " (non-canonical)", rsp_push, { NONCANON_SP },
		  .want = { AT(12, 0), AT(13, 0) }, .rsp_kept = 1 },
		{ "ud2 with RSP " STR(KSLOT) " (in the kernel slot)", rsp_ud2, { KSLOT }, .want = { AT(6, 0) },
		  .rsp_kept = 1 },
		{ "push with RSP " STR(KSLOT) " (in the kernel slot)", rsp_push, { KSLOT },
		  .want = { AT_PF(0x7, KSLOT - 8) }, .rsp_kept = 1 },
		{ "ud2 with RSP " STR(UNMAPPED) " (unmapped)", rsp_ud2, { UNMAPPED }, .want = { AT(6, 0) },
		  .rsp_kept = 1 },
		{ "push with RSP " STR(UNMAPPED) " (unmapped)", rsp_push, { UNMAPPED },
		  .want = { AT_PF(0x6, UNMAPPED - 8) }, .rsp_kept = 1 }) },
	/* in the critical range the kernel takes the context at RSP - KCTX_RIP: not with RSP in the kernel slot */
	{ "rsp-crit", .events = rsp_event, .steps = STEPS({ "a timer event in the declared critical range with RSP "
		STR(KSLOT), event_in_wait, { KSLOT }, .pokes = { POKE(crit_start, rsp_wait_start),
		POKE(crit_end, rsp_wait_end) }, .want = { ENDS } }) },

	/* 5. A broken upcall area. An entry or stack that is no user address
	 * kills the env; an unmapped one faults in Ring 3, to the trap entry
	 * (trap_entry_reached reports it); a fault on the trap path kills. */
	{ "upstack-unmapped", .trap = trap_entry_reached, .steps = STEPS({ "a timer event, the upcall stack unmapped",
		await_event, .pokes = { POKE(event_entry, entry_push) /* it pushes at once */,
		POKE(upcall_stack, UNMAPPED) }, .want = { ENDS } }) },
	{ "upstack-kernel", .steps = STEPS({ "a timer event, the upcall stack in the kernel slot", await_event,
		.pokes = { POKE(upcall_stack, KSLOT) }, .want = { ENDS } }) },
	{ "upstack-noncanon", .steps = STEPS({ "a timer event, the upcall stack non-canonical", await_event,
		.pokes = { POKE(upcall_stack, NONCANON + 0x1000) }, .want = { ENDS } }) },
	{ "entry-kernel", .steps = STEPS({ "a timer event, the event entry in the kernel image", await_event,
		.pokes = { POKE(event_entry, KTEXT) }, .want = { ENDS } }) },
	{ "entry-noncanon", .steps = STEPS({ "a timer event, the event entry non-canonical", await_event,
		.pokes = { POKE(event_entry, NONCANON) }, .want = { ENDS } }) },
	{ "entry-unmapped", .trap = trap_entry_reached, .steps = STEPS({ "a timer event, the event entry unmapped",
		await_event, .pokes = { POKE(event_entry, UNMAPPED) }, .want = { ENDS } }) },
	{ "trapstack-unmapped", .steps = STEPS({ "ud2 while disabled, the trap stack unmapped", ud2_disabled,
		.pokes = { POKE(trap_stack, UNMAPPED), POKE(trap_stack_size, 4096) }, .want = { ENDS } }) },
	{ "trapstack-nosize", .steps = STEPS({ "ud2 while disabled, the trap stack unmapped, its size 0",
		ud2_disabled, .pokes = { POKE(trap_stack, UNMAPPED), POKE(trap_stack_size, 0) }, .want = { ENDS } }) },
	{ "trapstack-kernel", .steps = STEPS({ "ud2 while disabled, the trap stack in the kernel slot", ud2_disabled,
		.pokes = { POKE(trap_stack, KSLOT) }, .want = { ENDS } }) },
	{ "trapstack-noncanon", .steps = STEPS({ "ud2 while disabled, the trap stack non-canonical", ud2_disabled,
		.pokes = { POKE(trap_stack, NONCANON + 0x1000) }, .want = { ENDS } }) },
	{ "trapentry-kernel", .steps = STEPS({ "ud2, the trap entry in the kernel image", priv_ud2,
		.pokes = { POKE(trap_entry, KTEXT) }, .want = { ENDS } }) },
	/* the area's page goes away, or a table above it loses W: the area is dropped */
	{ "area-unmapped", .area = OWN_AREA, .run = area_goes, .arg = 0 },
	{ "area-revoked", .area = OWN_AREA, .run = area_goes, .arg = 1 },
	{ "area-readonly", .area = OWN_AREA, .run = area_goes, .arg = 2 },
	{ "area-readonly-l1", .area = OWN_AREA, .run = area_under_readonly_table, .arg = 1 },
	{ "area-readonly-l2", .area = OWN_AREA, .run = area_under_readonly_table, .arg = 2 },
	{ "area-readonly-l3", .area = OWN_AREA, .run = area_under_readonly_table, .arg = 3 },
};

/* ------------------------------------------------------------ the driver */
static const struct mode *mode;
static long id;
static int bad;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	char buf[240];
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	printf("hazard %s: %s: %s\n", mode->name, buf, ok ? "ok" : "WRONG");
	bad += !ok;
}

static uint64_t rflags(void)
{
	uint64_t f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

static int cpu_has(int only)
{
	uint32_t a, b1, c1, d, b7, c7;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b1), "=c"(c1), "=d"(d) : "a"(1), "c"(0));
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b7), "=c"(c7), "=d"(d) : "a"(7), "c"(0));
	int f = only < 0 ? -only : only;
	int has = f == XSAVE ? (c1 >> 27) & 1 /* OSXSAVE: the kernel enabled it */
		: f == UMIP  ? (c7 >> 2) & 1  /* the kernel enables it where it exists */
			     : b7 & 1;        /* FSGSBASE */
	return only < 0 ? !has : has;
}

static volatile struct {
	uint64_t n, vector, error, cr2, rip, rsp, rflags, handler_rflags;
	int slot;
} got;

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
	if (mode->trap)
		return mode->trap(ctx, vector);
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

static int came_back(const struct step *s, const struct want *w, uint64_t traps)
{
	if (w->how == THROUGH_)
		return traps == 0;
	uint64_t rip = w->how == AT_ ? probe_insn : w->how == AFTER_ ? probe_resume : w->rip;
	return w->how && traps == 1 && got.vector == w->vector && got.error == w->error && got.cr2 == w->cr2 &&
	       got.rip == rip && (!s->rsp_kept || got.rsp == s->arg[0]);
}

/* Commit one step's hazard and check what came back. */
static void commit(const struct step *s)
{
	if (s->only && !cpu_has(s->only))
		return;
	if (s->want[0].how == ENDS_)
		printf("hazard %s: %s: committing it; the env must end here\n", mode->name, s->what);
	for (const struct poke *p = s->pokes; p < s->pokes + ARRAY_SIZE(s->pokes) && p->size; p++)
		memcpy((char *)keel_area + p->off, &p->value, p->size);
	uint64_t n0 = got.n;
	probe_out[0] = probe_out[1] = 0;
	uint64_t ret = s->probe(s->arg[0], s->arg[1], s->arg[2], s->arg[3]);
	uint64_t traps = got.n - n0;
	if (s->want[0].how == ENDS_) {
		check(0, "%s: survived", s->what);
		return;
	}
	int ok = came_back(s, &s->want[0], traps) || came_back(s, &s->want[1], traps);
	if (traps == 0) {
		char shown[80] = "";
		if (s->report)
			ok &= s->report(ret, shown, sizeof shown);
		check(ok, "%s: went through%s", s->what, shown);
		return;
	}
	char cr2[32] = "", count[24] = "", rsp[40] = "";
	if (got.vector == 14 || got.cr2)
		snprintf(cr2, sizeof cr2, " cr2 %#llx", (unsigned long long)got.cr2);
	if (traps > 1)
		snprintf(count, sizeof count, " (%llu traps)", (unsigned long long)traps);
	if (s->rsp_kept)
		snprintf(rsp, sizeof rsp, ", saved RSP %s", got.rsp == s->arg[0] ? "the bad one" : "WRONG");
	check(ok, "%s: vector %llu error %#llx%s %s%s%s", s->what, (unsigned long long)got.vector,
	      (unsigned long long)got.error, cr2, where(got.rip), count, rsp);
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "?";
	id = sys_env_id();
	for (unsigned i = 0; i < ARRAY_SIZE(modes) && !mode; i++)
		if (!strcmp(name, modes[i].name))
			mode = &modes[i];
	if (!mode) {
		printf("hazard: unknown mode '%s'\n", name);
		return 2;
	}
	if (mode->only && !cpu_has(mode->only)) {
		printf("hazard %s: this CPU lacks what it tests: nothing to test\n", mode->name);
		printf("hazard %s: ok\n", mode->name);
		return 0;
	}
	if (mode->area == AREA) {
		int err = keel_upcalls_init(mode->events, on_trap);
		if (err) {
			printf("hazard %s: SYS_UPCALL_SETUP failed: %d\n", mode->name, err);
			return 2;
		}
	}
	for (const struct step *s = mode->steps; s && s->what; s++)
		commit(s);
	if (mode->run)
		mode->run(mode->arg);
	printf("hazard %s: %s\n", mode->name, bad ? "FAILED" : "ok");
	return bad != 0;
}

/* ----------------------------------------------------------- C probes */
static volatile uint64_t ev_flag, ev_rsp, ev_early;

/* A timer event 100 us ahead, then a spin of 2 s for it to end the env. */
static uint64_t await_event(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	sys_set_deadline(keel_now() + 100000);
	uint64_t t0 = keel_now();
	while (keel_now() - t0 < 2000000000ULL)
		;
	return 0;
}

/* A fault while disabled: it goes to the trap entry on the trap stack. */
static uint64_t ud2_disabled(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	keel_area->disabled = 1;
	return priv_ud2(0, 0, 0, 0);
}

/* A timer event while spinning with RSP = rsp (rsp_event sets ev_flag and
 * ev_rsp); returns how often RSP was not rsp in the loop (0). */
static uint64_t event_in_wait(uint64_t rsp, uint64_t b, uint64_t c, uint64_t d)
{
	ev_flag = ev_rsp = 0;
	sys_set_deadline(keel_now() + 100000);
	return rsp_wait(rsp, &ev_flag);
}

static uint64_t write_to(uint64_t va, uint64_t b, uint64_t c, uint64_t d)
{
	*(volatile uint64_t *)va = 1;
	return 0;
}

/* -------------------------------------------- what a probe that went through showed */
static int landed_flags(uint64_t f, char *buf, size_t n)
{
	/* at CPL 3 an iretq keeps IOPL and IF as they are (0 and 1) */
	snprintf(buf, n, ", landed with IOPL %llu IF %llu", (unsigned long long)((f >> 12) & 3),
		 (unsigned long long)((f >> 9) & 1));
	return (f & 0x3000) == 0 && (f & 0x200);
}

static int stored_table(uint64_t ret, char *buf, size_t n)
{
	uint64_t base = (probe_out[0] >> 16) | (probe_out[1] << 48);
	snprintf(buf, n, ", stored base %#llx limit %#x", (unsigned long long)base, (unsigned)(uint16_t)probe_out[0]);
	return 1;
}

static int stored_word(uint64_t ret, char *buf, size_t n)
{
	snprintf(buf, n, ", stored %#llx", (unsigned long long)(ret & 0xFFFF));
	return 1;
}

/* -------------------------------------------------- trap handler policies */
/* The trap path itself is the hazard (a broken upcall stack or event entry):
 * report what reached the trap entry, and end cleanly. */
static int trap_entry_reached(struct keel_context *ctx, uint64_t vector)
{
	printf("hazard %s: trap entry reached: vector %llu error %#llx cr2 %#llx at %s, context in the %s save\n",
	       mode->name, (unsigned long long)got.vector, (unsigned long long)got.error, (unsigned long long)got.cr2,
	       got.rip == keel_area->event_entry ? "the event entry" : "ANOTHER RIP",
	       got.slot == KEEL_SAVE_TRAP ? "trap" : "enabled");
	sys_exit(bad);
}

/* int $N from int_table: resume past the int, to its ret. */
static int past_the_int(struct keel_context *ctx, uint64_t vector)
{
	ctx->rip = probe_resume;
	return 0;
}

/* #DB: count it; resume where it stopped, TF kept or cleared. */
static volatile uint64_t db_count, db_rip, db_inside, db_handler_tf, events_seen, event_handler_tf, event_ctx_tf;
static volatile uint64_t *tf_flag, tf_timer_events;
static int keep_tf;

static int single_step(struct keel_context *ctx, uint64_t vector)
{
	if (vector != 1) {
		printf("hazard %s: unexpected vector %llu at %#llx\n", mode->name, (unsigned long long)vector,
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

/* ------------------------------------------------------- event handlers */
static void tf_flag_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_SELF) {
		events_seen |= ev;
		if (rflags() & TF)
			event_handler_tf++;
		if (ctx->rflags & TF)
			event_ctx_tf++;
	}
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

static volatile uint64_t self_events;
static void self_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_SELF)
		self_events++;
}

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

/* ------------------------------------------- modes with a function of their own */
/* The control of lcall: to the user CS it calls and returns. QEMU's TCG
 * pushes the return address with supervisor accesses, so with SMAP the CPU
 * raises #PF without the U bit -- as for iretq, but the kernel completes
 * only iretq (ring3_iret.c); this is forwarded as it is. */
static void lcall_ok(uint64_t arg)
{
	uint64_t n0 = got.n;
	probe_lcall(KEEL_USER_CS, 0, 0, 0);
	if (got.n == n0)
		check(1, "lcall to %#x and lret: went through", KEEL_USER_CS);
	else
		check(got.n == n0 + 1 && got.vector == 14 && !(got.error & 4) && got.rip == probe_insn &&
			      probe_rsp - got.cr2 <= 8,
		      "lcall to %#x: vector %llu error %#llx (supervisor: QEMU TCG with SMAP) %s, cr2 just below RSP",
		      KEEL_USER_CS, (unsigned long long)got.vector, (unsigned long long)got.error, where(got.rip));
}

/* NT set in Ring 3 (popf may) across each way into the kernel: every entry
 * clears it (FMASK, the gates), so the kernel's own iretq never sees it.
 * The probes return RFLAGS after the call and leave its result in
 * probe_out[0]. */
static void nt_across_calls(uint64_t arg)
{
	static const struct {
		const char *what;
		uint64_t (*call)(uint64_t nr);
		uint64_t nr;
		long want; /* SYS_ENV_ID: the env's id */
	} calls[] = {
		{ "syscall SYS_ENV_ID (sysretq)", nt_syscall, SYS_ENV_ID, 0 },
		/* buf = RDI = 0: -EFAULT, the general path */
		{ "syscall SYS_CONSOLE_WRITE (the general path: a sanitised context, sysretq)", nt_syscall,
		  SYS_CONSOLE_WRITE, -EFAULT },
		{ "syscall SYS_YIELD (resumed by the libOS's iretq)", nt_syscall, SYS_YIELD, 0 },
		{ "int $0x80 SYS_ENV_ID (the kernel's sanitised iretq)", nt_int80, SYS_ENV_ID, 0 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(calls); i++) {
		uint64_t f = calls[i].call(calls[i].nr), r = probe_out[0];
		long want = calls[i].nr == SYS_ENV_ID ? id : calls[i].want;
		check(r == (uint64_t)want, "NT set across %s: returned %lld, NT %s after", calls[i].what, (long long)r,
		      f & 0x4000 ? "kept" : "cleared");
	}
}

/* Spin with RSP = rsp (a loop that needs no stack) until preempted `times`
 * times inside it, or 20 s; returns the preemptions, and in *moved how
 * often RSP was not rsp in the loop. */
static long preempted_in_spin(uint64_t rsp, long times, uint64_t *moved)
{
	sys_debug(DEBUG_WATCH_RANGE, (long)rsp_spin_start, (long)rsp_spin_end);
	long p0 = sys_debug(DEBUG_PREEMPTIONS, 0, 0), p = 0;
	uint64_t t0 = sys_time();
	*moved = 0;
	while (p < times && sys_time() - t0 < 20000000000ULL) {
		*moved += rsp_spin(rsp, 5000000);
		p = sys_debug(DEBUG_PREEMPTIONS, 0, 0) - p0;
	}
	return p;
}

/* With FSGSBASE, Ring 3 sets its GS base to anything -- here a kernel
 * address, as the kernel's own per-CPU base is: swapgs is decided by the
 * saved CS, never by the base. */
static void gsbase(uint64_t arg)
{
	const uint64_t fs = 0x0000123456789000ULL, gs = KTEXT;
	fsgs_write(fs, gs);
	uint64_t id1 = (uint64_t)sys_env_id(), y = (uint64_t)sys_yield();
	uint64_t id2 = int_call(KEEL_VEC_SYSCALL_INT, SYS_ENV_ID);
	int same = fsgs_read_fs() == fs && fsgs_read_gs() == gs;
	check(id1 == (uint64_t)id && y == 0 && id2 == (uint64_t)id && same,
	      "GS base %#llx, FS base %#llx across syscall, yield and int $0x80: %s", (unsigned long long)gs,
	      (unsigned long long)fs, same ? "kept" : "CHANGED");
	commit(&(struct step){ "a trap (into) with that GS base", priv_into, .want = { AT(6, 0) } });
	same = fsgs_read_fs() == fs && fsgs_read_gs() == gs;
	check(same, "after the trap upcall: bases %s", same ? "kept" : "CHANGED");
	uint64_t moved;
	long p = preempted_in_spin(UNMAPPED, 2, &moved);
	same = fsgs_read_fs() == fs && fsgs_read_gs() == gs;
	check(p >= 2 && same, "preempted %ld times with that GS base: bases %s", p, same ? "kept" : "CHANGED");
	/* A non-canonical base: #GP(0) on hardware. QEMU's TCG takes it; then
	 * the kernel saves and restores it across preemptions (its rdmsr and
	 * wrmsr of the base must not fault either). */
	uint64_t n0 = got.n;
	fsgs_wrfs_noncanon(NONCANON);
	if (got.n != n0) {
		check(got.n == n0 + 1 && got.vector == 13 && got.error == 0 && got.rip == probe_insn,
		      "wrfsbase " STR(NONCANON) ": vector %llu error %#llx %s", (unsigned long long)got.vector,
		      (unsigned long long)got.error, where(got.rip));
	} else {
		p = preempted_in_spin(UNMAPPED, 2, &moved);
		uint64_t now = fsgs_read_fs();
		check(now == NONCANON && p >= 2,
		      "wrfsbase " STR(NONCANON) ": taken without a fault (QEMU TCG; hardware: #GP(0)); "
		      "preempted %ld times, FS base %#llx after", p, (unsigned long long)now);
	}
	fsgs_write(0, 0);
}

/* TF across each way into the kernel. Returned by sysretq, the #DB comes
 * right after the syscall (the syscall's own single-step trap, as on
 * hardware); returned through an iretq -- the kernel's, or the libOS's after
 * an activation -- after the instruction that follows. MOV SS just before
 * defers its own #DB past the call: on hardware it fires in Ring 0 (ignored
 * there, on the #DB IST stack); QEMU's TCG drops it. Ring 3's is the same. */
static void tf_across_calls(uint64_t arg)
{
	static const struct {
		const char *what;
		uint64_t (*call)(uint64_t nr, uint64_t a0);
		uint64_t nr, a0;
		const char *after, *insn; /* the label right after the call, and the call */
		unsigned next;            /* the #DB comes after the instruction that follows */
	} calls[] = {
		{ "TF set across syscall SYS_ENV_ID (the fast path, sysretq)", tf_syscall, SYS_ENV_ID, 0,
		  tf_syscall_after, "syscall", 0 },
		{ "TF set across syscall SYS_DEBUG (the general path, sysretq)", tf_syscall, SYS_DEBUG,
		  DEBUG_PREEMPTIONS, tf_syscall_after, "syscall", 0 },
		{ "TF set across syscall SYS_YIELD (an activation, the libOS's iretq)", tf_syscall, SYS_YIELD, 0,
		  tf_syscall_after, "syscall", 1 },
		{ "TF set across int $0x80 SYS_ENV_ID", tf_int80, SYS_ENV_ID, 0, tf_int80_after, "int", 1 },
		{ "TF set, MOV SS, syscall SYS_ENV_ID", tf_movss_syscall, SYS_ENV_ID, 0, tf_movss_syscall_after,
		  "syscall", 0 },
		{ "TF set, MOV SS, int $0x80 SYS_ENV_ID", tf_movss_int80, SYS_ENV_ID, 0, tf_movss_int80_after, "int",
		  1 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(calls); i++) {
		uint64_t n0 = db_count, r = calls[i].call(calls[i].nr, calls[i].a0);
		uint64_t want = calls[i].nr == SYS_ENV_ID ? (uint64_t)id : 0, at = (uint64_t)calls[i].after;
		check(db_count == n0 + 1 && db_rip == at + calls[i].next && r == want && !db_handler_tf,
		      "%s: returned %lld, %llu #DB in Ring 3 %s the %s", calls[i].what, (long long)r,
		      (unsigned long long)(db_count - n0),
		      db_rip == at ? "right after" : db_rip == at + 1 ? "after the instruction following" : "NOT after",
		      calls[i].insn);
	}
}

/* Single-step a loop while timer events arrive: every instruction traps
 * exactly once, the handlers run with TF clear, the interrupted context
 * keeps it. Then TF across int $0x82: the event comes at once, TF comes
 * back with the resume, one #DB after the next instruction. */
static void tf_upcall(uint64_t arg)
{
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
	      db_handler_tf || event_handler_tf ? "SET" : "clear", event_ctx_tf == tf_timer_events ? "set" : "CLEAR");

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
}

/* int $N for every vector: #GP(N * 8 + 2) at the int, but for the gates a
 * user may call. */
static void intn(uint64_t arg)
{
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
	for (unsigned v = 3; v <= 4; v++) {
		uint64_t n0 = got.n;
		probe_insn = (uint64_t)int_table + 4 * v;
		probe_resume = probe_insn + 2;
		int_call(v, 0);
		check(got.n == n0 + 1 && got.vector == v && got.rip == probe_resume,
		      "int $%u: vector %llu after the int", v, (unsigned long long)got.vector);
	}
	uint64_t n0 = got.n;
	uint64_t r = int_call(KEEL_VEC_SYSCALL_INT, SYS_ENV_ID);
	check(got.n == n0 && r == (uint64_t)id, "int $0x80: the syscall gate (SYS_ENV_ID -> %lld)", (long long)r);
	r = int_call(KEEL_VEC_FLOOR, 0x1234);
	check(got.n == n0 && r == 0x1234, "int $0x81: the benchmark's bare iretq gate (RAX kept)");
	uint64_t e0 = self_events;
	int_call(KEEL_VEC_SELF, 0);
	check(got.n == n0 && self_events == e0 + 1, "int $0x82: an event upcall to itself (%llu delivered)",
	      (unsigned long long)(self_events - e0));
}

/* A bad RSP at a kernel entry, of each kind. */
static const struct {
	const char *name;
	uint64_t rsp;
} bad_rsps[] = {
	{ "non-canonical", NONCANON_SP },
	{ "in the kernel slot", KSLOT },
	{ "unmapped", UNMAPPED },
};

static void rsp_syscall_all(uint64_t arg)
{
	for (unsigned i = 0; i < ARRAY_SIZE(bad_rsps); i++) {
		uint64_t n0 = got.n, rsp = bad_rsps[i].rsp;
		uint64_t a = rsp_syscall(rsp, SYS_ENV_ID), b = rsp_syscall(rsp, SYS_YIELD);
		uint64_t c = rsp_int80(rsp, SYS_ENV_ID);
		check(a == (uint64_t)id && b == 0 && c == (uint64_t)id && got.n == n0,
		      "RSP %#llx (%s): syscall SYS_ENV_ID -> %lld, syscall SYS_YIELD -> %lld, int $0x80 SYS_ENV_ID -> "
		      "%lld, %llu traps",
		      (unsigned long long)rsp, bad_rsps[i].name, (long long)a, (long long)b, (long long)c,
		      (unsigned long long)(got.n - n0));
	}
}

/* Preempted by the timer while RSP is bad (the other env must be running);
 * arg: with upcalls disabled (else there is no upcall area). */
static void rsp_preempted(uint64_t disabled)
{
	if (disabled)
		keel_area->disabled = 1;
	for (unsigned i = 0; i < ARRAY_SIZE(bad_rsps); i++) {
		uint64_t moved;
		long p = preempted_in_spin(bad_rsps[i].rsp, 2, &moved);
		check(p >= 2 && moved == 0, "%s, RSP %#llx (%s): preempted %ld times in the loop, RSP %s",
		      disabled ? "upcalls disabled" : "no upcall area", (unsigned long long)bad_rsps[i].rsp,
		      bad_rsps[i].name, p, moved ? "CHANGED" : "kept");
	}
	if (disabled)
		keel_area->disabled = 0;
}

static void rsp_upcall(uint64_t arg)
{
	for (unsigned i = 0; i < ARRAY_SIZE(bad_rsps); i++) {
		uint64_t rsp = bad_rsps[i].rsp;
		uint64_t moved = event_in_wait(rsp, 0, 0, 0);
		check(ev_rsp == rsp && moved == 0, "timer upcall with RSP %#llx (%s): delivered, the saved RSP %s",
		      (unsigned long long)rsp, bad_rsps[i].name, ev_rsp == rsp ? "is the bad one" : "WRONG");
		/* int $0x82 (the fast path) */
		ev_flag = ev_rsp = 0;
		rsp_int82(rsp);
		check(ev_flag && ev_rsp == rsp, "int $0x82 with RSP %#llx (%s): delivered, the saved RSP %s",
		      (unsigned long long)rsp, bad_rsps[i].name, ev_rsp == rsp ? "is the bad one" : "WRONG");
	}
}

/* The area's page goes away -- arg: 0 unmapped, 1 the capability it was
 * mapped through revoked (by revoking its parent), 2 remapped read-only:
 * the kernel drops the area, and the next fault kills the env as one
 * without upcalls. */
static const struct step into_control = { "the control: into with the area in place", priv_into, .want = { AT(6, 0) } };

static void area_goes(uint64_t how)
{
	long range = vm_init() ? -1 : sys_vrange_alloc(4096, 0), frame = -1, child = -1;
	struct keel_cap_info info;
	uint64_t va = range < 0 || sys_cap_info((uint32_t)range, &info) ? 0 : info.base;
	if (va)
		frame = vm_map_new(va, KEEL_MAP_WRITE);
	if (frame >= 0 && how == 1) {
		/* map a derived capability; revoking its parent takes it away */
		vm_unmap(va);
		child = sys_cap_derive((uint32_t)frame, KEEL_R_READ | KEEL_R_WRITE, KEEL_SELF);
		if (child < 0 || vm_map(va, (uint32_t)child, KEEL_MAP_WRITE))
			frame = -1;
	}
	if (frame < 0 || keel_upcalls_init_at((struct keel_upcall_area *)va, NULL, on_trap)) {
		check(0, "could not set up an upcall area on its own page");
		return;
	}
	commit(&into_control);
	static const char *const hows[] = { "unmapped", "its capability's parent revoked", "remapped read-only" };
	long r = how == 0 ? vm_unmap(va)
	       : how == 1 ? sys_cap_revoke((uint32_t)frame)
			  : vm_map(va, (uint32_t)frame, 0);
	long d = sys_set_deadline(0); /* cancel: 0 with an area, -EINVAL without */
	check(r >= 0 && d == -EINVAL, "%s (%ld): the kernel dropped the area (SYS_SET_DEADLINE -> %ld)", hows[how], r,
	      d);
	commit(&(struct step){ "ud2 with no upcall area", priv_ud2, .want = { ENDS } });
}

/*
 * A table above the area's page made read-only (arg: its level, 1 to 3):
 * the page's own entry keeps W, the entry for its level-N table loses it. A
 * table entry's rights are its capability's (docs/abi.md), so mapping the
 * same table capability again changes nothing; the one way is to replace
 * the entry with a read-only capability of the same table. The kernel must
 * drop the area (it is no longer the env's writable page at that address),
 * refuse to register it there again, and the page must still read but not
 * write.
 *
 * The page sits at a 512 GiB boundary inside a range of its own, so its
 * level-1, -2 and -3 tables map nothing else (nothing of the program goes
 * with them).
 */
static void area_under_readonly_table(uint64_t level)
{
	const uint64_t span3 = 1ULL << 39;
	struct keel_cap_info info;
	long range = vm_init() ? -1 : sys_vrange_alloc(span3, 1ULL << 30);
	if (range < 0 || sys_cap_info((uint32_t)range, &info)) {
		check(0, "a 512 GiB range of its own (%ld)", range);
		return;
	}
	uint64_t va = (info.base + span3 - 1) & ~(span3 - 1);
	long frame = vm_map_new(va, KEEL_MAP_WRITE);
	if (frame < 0 || keel_upcalls_init_at((struct keel_upcall_area *)va, NULL, on_trap)) {
		check(0, "an upcall area at %#llx (%ld)", (unsigned long long)va, frame);
		return;
	}
	commit(&into_control);

	unsigned lv = (unsigned)level;
	long table = vm_table(lv, va, 0), parent = vm_table(lv + 1, va, 0);
	uint16_t index = (uint16_t)((va >> (12 + 9 * lv)) & 511);
	struct keel_mmu_op same = { .table = (uint32_t)parent, .index = index, .flags = 0, .cap = (uint32_t)table };
	long r = sys_mmu_update(&same, 1, NULL);
	long d = sys_set_deadline(0);
	check(r == 0 && d == 0 && (vm_entry(va, lv + 1) & (VM_P | VM_W)) == (VM_P | VM_W),
	      "the level-%u table mapped again with the same capability and no flags (%ld): its entry keeps W, "
	      "the area stays (SYS_SET_DEADLINE -> %ld)", lv, r, d);

	long ro = sys_cap_derive((uint32_t)table, KEEL_R_READ, KEEL_SELF);
	struct keel_mmu_op swap[2] = {
		{ .table = (uint32_t)parent, .index = index, .cap = KEEL_CAP_NONE },
		{ .table = (uint32_t)parent, .index = index, .cap = (uint32_t)ro },
	};
	uint64_t done = 0;
	r = ro < 0 ? ro : sys_mmu_update(swap, 2, &done);
	uint64_t above = vm_entry(va, lv + 1), leaf = vm_entry(va, 1);
	check(r == 0 && done == 2 && (above & (VM_P | VM_W)) == VM_P && (leaf & (VM_P | VM_W)) == (VM_P | VM_W),
	      "the level-%u table replaced by a read-only capability of it (%ld): its entry %s, the page's own %s", lv,
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
		return; /* still registered: a write would trap to on_trap, not kill */
	commit(&(struct step){ "a write to the page, with no upcall area", write_to, { va }, .want = { ENDS } });
}

