/*
 * The kernel trace (trace.h): rings by CPU id, the sites' patching, the dump.
 *
 * Patching: the image's text is mapped read-only everywhere (slot.c: W^X,
 * and no writable alias in the direct map), so the sites are written with
 * CR0.WP cleared for the few stores -- on this CPU only, with interrupts off
 * (the kernel is not preemptible), and every site is read back afterwards.
 * `mov cr0` is serialising, so the CPU fetches the new bytes. With more than
 * one CPU the others must be stopped at a known point around the writes
 * (Linux's text_poke_bp); SMP brings that with it.
 */
#include "trace.h"
#include "arch/x86_64/xcall.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "clock.h"
#include "console.h"
#include "frame.h"
#include "keel/errno.h"
#include "lib/string.h"
#include "panic.h"
#include "uaccess.h"

extern const struct trace_site __trace_sites_start[], __trace_sites_end[];

struct trace_ring {
	struct keel_trace_rec *frame[KEEL_TRACE_FRAMES_MAX]; /* direct-mapped frames */
	u64 head; /* events recorded */
	u64 read; /* events read by KEEL_TRACE_READ */
	u64 lost; /* events overwritten before they were read */
};

static struct trace_ring rings[MAX_CPUS];
static u32 ring_frames;  /* frames per ring (a power of two); 0: no rings */
static u32 ncpus = 1;    /* CPUs with a ring (every CPU up when they are made) */
static bool on;

static const u8 nop5[5] = TRACE_NOP5_BYTES;

/* (used: called from trace.h's thunk, which link-time optimisation cannot see into) */
__attribute__((used)) void trace_record(u32 ev, u32 env, u64 a, u64 b)
{
	struct trace_ring *r = &rings[this_cpu()->id];
	if (unlikely(!ring_frames))
		return;
	u64 i = r->head++;
	struct keel_trace_rec *p =
		&r->frame[(i / KEEL_TRACE_PER_FRAME) & (ring_frames - 1)][i % KEEL_TRACE_PER_FRAME];
	p->t = clock_ns();
	p->ev = ev;
	p->env = env;
	p->a = a;
	p->b = b;
}

/* trace_record(ev, env, a, b) from the four values trace_emit pushed (trace.h),
 * with every register it may clobber saved and the stack aligned for C. */
__asm__(".pushsection .text.trace_out, \"ax\"\n"
	".global trace_record_thunk\n"
	"trace_record_thunk:\n\t"
	"pushq %rbp\n\t"
	"movq %rsp, %rbp\n\t" /* 8(%rbp): the return address; 16..40(%rbp): ev, env, a, b */
	"pushq %rax\n\tpushq %rcx\n\tpushq %rdx\n\tpushq %rsi\n\tpushq %rdi\n\t"
	"pushq %r8\n\tpushq %r9\n\tpushq %r10\n\tpushq %r11\n\t"
	"movq 16(%rbp), %rdi\n\t"
	"movl 24(%rbp), %esi\n\t"
	"movq 32(%rbp), %rdx\n\t"
	"movq 40(%rbp), %rcx\n\t"
	"andq $-16, %rsp\n\t"
	"call trace_record\n\t"
	"leaq -72(%rbp), %rsp\n\t"
	"popq %r11\n\tpopq %r10\n\tpopq %r9\n\tpopq %r8\n\t"
	"popq %rdi\n\tpopq %rsi\n\tpopq %rdx\n\tpopq %rcx\n\tpopq %rax\n\t"
	"popq %rbp\n\t"
	"ret\n"
	".popsection");

/* ------------------------------------------------------------ the rings */

int trace_rings_alloc(u32 frames)
{
	if (!frames || frames > KEEL_TRACE_FRAMES_MAX || (frames & (frames - 1)))
		return -EINVAL;
	if (ring_frames)
		return -EBUSY;
	ncpus = cpus_up; /* a ring for every CPU running */
	for (u32 c = 0; c < ncpus; c++) {
		rings[c].head = rings[c].read = rings[c].lost = 0;
		for (u32 f = 0; f < frames; f++) {
			paddr_t pa = frame_alloc();
			if (!pa) {
				ring_frames = frames; /* what was made goes back */
				trace_rings_free();
				return -ENOMEM;
			}
			rings[c].frame[f] = pa_to_va(pa);
		}
	}
	ring_frames = frames;
	return 0;
}

void trace_rings_free(void)
{
	ASSERT(!on); /* no site may record into a freed ring */
	for (u32 c = 0; c < ncpus; c++)
		for (u32 f = 0; f < ring_frames; f++)
			if (rings[c].frame[f]) {
				frame_free(direct_va_to_pa(rings[c].frame[f]));
				rings[c].frame[f] = NULL;
			}
	ring_frames = 0;
}

u32 trace_ring_frames(void) { return ring_frames; }

/* ------------------------------------------------------------ the sites */

static void site_bytes(const struct trace_site *s, bool jump, u8 out[5])
{
	if (!jump) {
		memcpy(out, nop5, 5);
		return;
	}
	i64 rel = (i64)(s->target - (s->at + 5));
	ASSERT(rel == (i32)rel); /* -mcmodel=kernel: the image is within 2 GiB */
	i32 rel32 = (i32)rel;
	out[0] = 0xE9; /* jmp rel32 */
	memcpy(out + 1, &rel32, 4);
}

u64 trace_site_count(void) { return (u64)(__trace_sites_end - __trace_sites_start); }

int trace_site_state(u64 i)
{
	const struct trace_site *s = &__trace_sites_start[i];
	u8 want[5];
	site_bytes(s, false, want);
	if (memcmp((const void *)s->at, want, 5) == 0)
		return 1;
	site_bytes(s, true, want);
	return memcmp((const void *)s->at, want, 5) == 0 ? 2 : 0;
}

/*
 * Other CPUs must not run kernel text while its sites change (a 5-byte
 * store is not atomic to an instruction fetch): each is parked in a
 * cross-CPU call until the patch is done, then serialises (CPUID) before
 * it runs on -- the rendezvous Linux's text_poke does with stop_machine.
 */
static u32 parked, released;

static void park(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&parked, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&released, __ATOMIC_ACQUIRE))
		pause();
	u32 a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d); /* serialising: no stale fetch of the old bytes */
}

void trace_switch(bool want)
{
	struct xcall_batch batch = { 0 };
	u32 others = cpus_up - 1;
	if (others) {
		__atomic_store_n(&parked, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&released, 0, __ATOMIC_RELEASE);
		smp_post_many(&batch, ~0ULL >> (64 - cpus_up), park, NULL);
		if (!wait_us(XCALL_WAIT_US, &parked, others))
			panic("trace: %u of %u other CPUs stopped for the patch within 5 s", parked, others);
	}
	u64 cr0 = read_cr0();
	write_cr0(cr0 & ~CR0_WP); /* the text is read-only: see the top */
	for (const struct trace_site *s = __trace_sites_start; s < __trace_sites_end; s++) {
		u8 b[5];
		site_bytes(s, want, b);
		memcpy((void *)s->at, b, 5);
	}
	write_cr0(cr0);
	if (others) {
		__atomic_store_n(&released, 1, __ATOMIC_RELEASE);
		smp_wait_many(&batch);
	}
	for (u64 i = 0; i < trace_site_count(); i++)
		if (trace_site_state(i) != (want ? 2 : 1))
			panic("trace: site %llu at %#llx does not hold its %s bytes", (unsigned long long)i,
			      (unsigned long long)__trace_sites_start[i].at, want ? "jump" : "NOP");
	on = want;
}

bool trace_is_on(void) { return on; }

void trace_boot(const char *arg, u32 frames)
{
	/* Every site must hold the NOP it was built with. */
	for (u64 i = 0; i < trace_site_count(); i++)
		if (trace_site_state(i) != 1)
			panic("trace: site %llu at %#llx is not the 5-byte NOP", (unsigned long long)i,
			      (unsigned long long)__trace_sites_start[i].at);
	if (!arg || strcmp(arg, "off") == 0)
		return;
	if (strcmp(arg, "on") != 0) {
		kprintf("warning: trace=%s is not on|off, keeping off\n", arg);
		return;
	}
	int err = trace_rings_alloc(frames);
	if (err) {
		kprintf("trace: no rings (%d): tracing stays off\n", err);
		return;
	}
	trace_switch(true);
	kprintf("trace: on: %llu sites, %u frames per CPU (%llu events)\n", (unsigned long long)trace_site_count(),
		frames, (unsigned long long)frames * KEEL_TRACE_PER_FRAME);
}

/* ------------------------------------------------------------ reading */

static u64 capacity(void) { return (u64)ring_frames * KEEL_TRACE_PER_FRAME; }

static const struct keel_trace_rec *rec_at(const struct trace_ring *r, u64 i)
{
	return &r->frame[(i / KEEL_TRACE_PER_FRAME) & (ring_frames - 1)][i % KEEL_TRACE_PER_FRAME];
}

i64 trace_read_user(u32 cpu, u64 buf, u64 max, u64 *dropped, u64 *head)
{
	if (!ring_frames || cpu >= ncpus || max > capacity())
		return -EINVAL;
	struct trace_ring *r = &rings[cpu];
	if (!user_range_ok(buf, max * sizeof(struct keel_trace_rec)))
		return -EFAULT;
	if (r->head - r->read > capacity()) { /* the older ones were overwritten */
		r->lost += r->head - capacity() - r->read;
		r->read = r->head - capacity();
	}
	u64 n = MIN(max, r->head - r->read);
	/* Copy first, then record: the copy may not race with a record on
	 * this CPU (the kernel is not preempted), and the READ syscall's own
	 * event was recorded before this call. */
	for (u64 k = 0; k < n;) {
		u64 i = r->read + k;
		u64 run = MIN(n - k, KEEL_TRACE_PER_FRAME - i % KEEL_TRACE_PER_FRAME);
		if (copy_to_user(buf + k * sizeof(struct keel_trace_rec), rec_at(r, i),
				 run * sizeof(struct keel_trace_rec)))
			return -EFAULT;
		k += run;
	}
	r->read += n;
	*dropped = r->lost;
	*head = r->head;
	return (i64)n;
}

static const char *const kind_names[KEEL_TR_KINDS] = {
	[KEEL_TR_SWITCH] = "switch",   [KEEL_TR_SYSCALL] = "syscall",     [KEEL_TR_UPCALL] = "upcall",
	[KEEL_TR_IRQ] = "irq",         [KEEL_TR_IPI] = "ipi",             [KEEL_TR_TIMER] = "timer",
	[KEEL_TR_FAULT] = "fault",     [KEEL_TR_REVOKE] = "revoke",       [KEEL_TR_PCT_CALL] = "pct-call",
	[KEEL_TR_PCT_REPLY] = "pct-reply", [KEEL_TR_EXIT] = "exit",       [KEEL_TR_IDLE] = "idle", [KEEL_TR_POST] = "post",
};

void trace_dump(void)
{
	if (!ring_frames)
		return;
	bool was_on = on;
	if (was_on)
		trace_switch(false); /* the dump is not part of the trace */
	for (u32 c = 0; c < ncpus; c++) {
		const struct trace_ring *r = &rings[c];
		u64 n = MIN(r->head, capacity());
		kprintf("ktrace: begin cpu=%u events=%llu dropped=%llu sites=%llu\n", c, (unsigned long long)n,
			(unsigned long long)(r->head - n), (unsigned long long)trace_site_count());
		kprintf("ktrace: t_ns,event,env,a,b\n");
		for (u64 i = r->head - n; i < r->head; i++) {
			const struct keel_trace_rec *p = rec_at(r, i);
			kprintf("ktrace: %llu,%s,%u,%llu,%llu\n", (unsigned long long)p->t,
				p->ev < KEEL_TR_KINDS && kind_names[p->ev] ? kind_names[p->ev] : "?", p->env,
				(unsigned long long)p->a, (unsigned long long)p->b);
		}
		kprintf("ktrace: end cpu=%u\n", c);
	}
	if (was_on)
		trace_switch(true);
}
