/*
 * The SYSRET hazard. An env is built by hand with code in the last page of
 * the user half; its syscalls must return through iretq (sysretq to a
 * non-canonical RCX faults in Ring 0 on Intel CPUs, which QEMU does not
 * model, so the exit counters are the proof). The boot's final line reports
 * the counts: this env never returns through sysretq.
 */
#include "arch/x86_64/paging.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "context.h"
#include "fpu.h"
#include "cpucap.h"
#include "env.h"
#include "frame.h"
#include "keel/abi.h"
#include "ktest.h"
#include "lib/string.h"
#include "run.h"
#include "sched.h"
#include "slot.h"
#include "slot_audit.h"
#include "pt.h"
#include "cpu_features.h"

#define LAST_PAGE (USER_END - PAGE_SIZE)

/* An env whose only memory is a code page at LAST_PAGE and a stack page. */
static struct env *env_in_last_page(const char *name, const u8 *code, size_t len, u64 code_off)
{
	struct env *e;
	if (!KEXPECT(env_create_empty(name, &e) == 0, "env"))
		return NULL;
	paddr_t text = 0;
	u64 stack_va = 0, last = 0;
	KEXPECT(pt_kvrange(e, LAST_PAGE, PAGE_SIZE, 0, &last) >= 0, "the last page is free");
	KEXPECT(pt_kvrange(e, 0, PAGE_SIZE, 0, &stack_va) >= 0, "a stack range");
	KEXPECT(pt_kmap(e, LAST_PAGE, 0, &text) == 0, "map code");
	KEXPECT(pt_kmap(e, stack_va, PTE_W | pte_nx, NULL) == 0, "map stack");
	if (!text)
		return NULL;
	memset(pa_to_va(text), 0xCC, PAGE_SIZE); /* int3 everywhere else */
	memcpy((u8 *)pa_to_va(text) + code_off, code, len);
	e->d0.ctx.rip = LAST_PAGE + code_off;
	e->d0.ctx.rsp = stack_va + PAGE_SIZE;
	KEXPECT(slot_audit(e->pml4, name, false) == 0, "audit");
	return e;
}

static __noreturn void run_alone(struct env *e, const struct run_baseline *before, u64 expected_kills)
{
	run_expect_failures(expected_kills);
	ktest_log("running env %u from %#llx; exit counts follow at the end", e->id, (unsigned long long)e->d0.ctx.rip);
	KEXPECT(cpucap_grant_defaults() == 1, "every CPU for it, as for a boot env");
	sched_add(&e->d0);
	run_begin(1, 0, before);
	sched_start();
}

/* mov $SYS_ENV_ID, %eax; syscall; mov $SYS_EXIT, %eax; xor %edi, %edi; syscall */
static const u8 getid_then_exit[] = { 0xB8, SYS_ENV_ID, 0, 0, 0, 0x0F, 0x05,
				      0xB8, SYS_EXIT,   0, 0, 0, 0x31, 0xFF, 0x0F, 0x05 };

/* Syscalls from the last user page (return address canonical) exit through
 * iretq, never sysretq; the env then exits normally. */
KTEST(sysret_hazard_last_page)
{
	struct run_baseline before;
	run_baseline_take(&before);
	KEXPECT(!exit_via_sysret(true, LAST_PAGE + 7), "the decision itself");
	struct env *e = env_in_last_page("lastpage", getid_then_exit, sizeof getid_then_exit, 0);
	if (e)
		run_alone(e, &before, 0);
}

/* A syscall ending exactly at the top of the user half: its return address
 * is 0x800000000000, not canonical. iretq faults on it (in Ring 0, at the
 * labelled user_iretq); that is the env's fault -- it dies, the kernel lives. */
KTEST(sysret_hazard_end_of_page)
{
	struct run_baseline before;
	run_baseline_take(&before);
	struct env *e = env_in_last_page("endofpage", getid_then_exit, 7, PAGE_SIZE - 7);
	if (e)
		run_alone(e, &before, 1);
}

void user_return(struct trap_frame *frame, bool sysret) __noreturn; /* entry.S */

/*
 * Defence in depth: return frames the sanitiser would never let through are
 * handed straight to the exit. The env must die alone either way:
 *   - a not-present CS (the 32-bit user code slot): iretq raises #NP in
 *     Ring 0 at the labelled user_iretq, with GS already the user's; the
 *     kernel recognises the RIP, swaps GS back and charges the env;
 *   - a non-canonical RIP: #GP -- in Ring 0 at user_iretq on Intel CPUs, in
 *     Ring 3 at the new RIP on AMD's and under QEMU.
 */
static void iret_with(u64 cs, u64 rip)
{
	struct run_baseline before;
	run_baseline_take(&before);
	struct env *e = env_in_last_page("badframe", getid_then_exit, sizeof getid_then_exit, 0);
	if (!e)
		return;
	struct percpu *cpu = this_cpu();
	run_begin(1, 0, &before);
	run_expect_failures(1);
	fpu_restore(e->d0.fpu);
	write_cr3(e->pml4);
	cpu->env = e;
	cpu->disp = &e->d0;
	e->d0.state = ENV_RUNNING;
	struct trap_frame *f = (struct trap_frame *)(cpu->kstack_top - sizeof(struct trap_frame));
	*f = e->d0.ctx;
	f->cs = cs;
	if (rip)
		f->rip = rip;
	ktest_log("iretq with cs %#llx rip %#llx", (unsigned long long)f->cs, (unsigned long long)f->rip);
	user_return(f, false);
}

/* exit(0) at offset 0, exit(7) at offset 0x40; int3 everywhere else */
static const u8 exit0_or_7[] = {
	[0x00] = 0xB8, SYS_EXIT, 0, 0, 0, 0x31, 0xFF, 0x0F, 0x05,                /* mov $1,%eax; xor %edi,%edi; syscall */
	[0x40] = 0xB8, SYS_EXIT, 0, 0, 0, 0xBF, 7, 0, 0, 0, 0x0F, 0x05, 0xCC,   /* mov $1,%eax; mov $7,%edi; syscall */
};

/*
 * sysretq jumps to RCX and loads RFLAGS from R11, not from the frame's RIP
 * and RFLAGS that the exit checks and env_run sanitises. A frame whose RCX
 * and R11 disagree with them -- RCX at the exit(7), R11 with TF set -- is
 * handed straight to user_return: the exit must make RCX and R11 from what
 * it checked, so the env runs at RIP (exit 0), without single-stepping.
 */
KTEST(sysret_uses_the_checked_rip)
{
	struct run_baseline before;
	run_baseline_take(&before);
	struct env *e;
	paddr_t text = 0;
	u64 code = 0, stack = 0;
	if (!KEXPECT(env_create_empty("sysretrcx", &e) == 0, "env") ||
	    !KEXPECT(pt_kvrange(e, 0, PAGE_SIZE, 0, &code) >= 0 && pt_kvrange(e, 0, PAGE_SIZE, 0, &stack) >= 0 &&
			     pt_kmap(e, code, 0, &text) == 0 && pt_kmap(e, stack, PTE_W | pte_nx, NULL) == 0,
		     "code and stack"))
		return;
	memset(pa_to_va(text), 0xCC, PAGE_SIZE);
	memcpy(pa_to_va(text), exit0_or_7, sizeof exit0_or_7);
	KEXPECT(cpucap_grant_defaults() == 1, "every CPU for it, as for a boot env");
	struct percpu *cpu = this_cpu();
	run_begin(1, 0, &before);
	fpu_restore(e->d0.fpu);
	write_cr3(e->pml4);
	cpu->env = e;
	cpu->disp = &e->d0;
	e->d0.state = ENV_RUNNING;
	struct trap_frame *f = (struct trap_frame *)(cpu->kstack_top - sizeof(struct trap_frame));
	*f = e->d0.ctx;
	f->rip = code;
	f->rsp = stack + PAGE_SIZE;
	f->rcx = code + 0x40;
	f->r11 = RFLAGS_TF | RFLAGS_IF_BIT | RFLAGS_RESERVED1;
	ktest_log("sysretq with rip %#llx, rcx %#llx, r11 %#llx", (unsigned long long)f->rip,
		  (unsigned long long)f->rcx, (unsigned long long)f->r11);
	user_return(f, true);
}

KTEST(iret_fault_not_present_cs) { iret_with(GDT_UCODE32 | 3, 0); }
KTEST(iret_fault_noncanonical_rip) { iret_with(USER_CS, USER_END); }
