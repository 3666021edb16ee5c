/*
 * `tracer MODE`: the trace capability from Ring 3 (keel/abi.h, "the kernel
 * trace"; tests/test_trace.py).
 *   errors   needs grant=0:trace and a second env (its ENV capability): every
 *            refusal of SYS_TRACE -- no such slot, the wrong type, a bad op or
 *            size, bad pointers, a busy trace, no rings, the grant right --
 *            then on, read, off, with the frames charged and given back; last
 *            it switches the trace on again and exits with it on (its end
 *            must give the rings back: the leak check).
 *            Then 3,000 random SYS_TRACE calls with the capability (ops 0..4,
 *            sizes, CPUs, counts; request and buffer pointers into the
 *            kernel, non-canonical, unmapped, wrapping, or its own buffer):
 *            nothing breaks, and once switched off its quota is as before.
 *   nocap    without a trace capability: every op refused.
 *   idle     yields a while: the other env of `errors`.
 * Each check prints `tracer: ok NAME` or `tracer: FAIL NAME: got X, want Y`.
 */
#include "keel.h"
#include "rand.h"
#include "vm.h"

static int failed, checks;

static void check(const char *name, long got, long want)
{
	checks++;
	if (got == want) {
		printf("tracer: ok %s\n", name);
		return;
	}
	failed++;
	printf("tracer: FAIL %s: got %ld (%s), want %ld (%s)\n", name, got, errname((int)got), want,
	       errname((int)want));
}

static uint64_t frames_used(void)
{
	struct keel_quota_info q;
	sys_quota_info(&q);
	return q.frames_used;
}

#define RECS 512
static struct keel_trace_rec recs[RECS];

static long read_ring(long slot, uint64_t buf, uint32_t cpu, uint32_t max, struct keel_trace_read *req)
{
	*req = (struct keel_trace_read){ .buf = buf, .cpu = cpu, .max = max };
	return sys_trace(slot, KEEL_TRACE_READ, (long)req);
}

/* A pointer the kernel must refuse, or this env's own trace buffer. */
static uint64_t hostile_ptr(struct keel_rand *r)
{
	switch (rand_below(r, 7)) {
	case 0: return 0;
	case 1: return 0xFFFFFFFF80000000ULL + rand_below(r, 1 << 24); /* the kernel image */
	case 2: return 0xFFFFFF8000000000ULL + rand_below(r, 1ULL << 32); /* the direct map */
	case 3: return 0x0000900000000000ULL + rand_below(r, 1ULL << 40); /* non-canonical */
	case 4: return ~0ULL - rand_below(r, 4096); /* wraps */
	case 5: return 0x00007FFFFFFFF000ULL + rand_below(r, 4096); /* the top of the user half */
	default: return (uint64_t)recs;
	}
}

static void random_calls(long slot, uint64_t frames_before)
{
	struct keel_rand r;
	struct keel_trace_read req;
	uint64_t ok = 0, refused = 0;
	rand_seed(&r, 17);
	for (int i = 0; i < 3000; i++) {
		long op = (long)rand_below(&r, 5), arg, ret;
		if (op == KEEL_TRACE_READ && rand_below(&r, 2)) {
			req = (struct keel_trace_read){ .buf = hostile_ptr(&r), .cpu = (uint32_t)rand_below(&r, 3),
							.max = (uint32_t)(rand_below(&r, 4) ? rand_below(&r, RECS + 1)
											: rand_next(&r)) };
			if (req.buf == (uint64_t)recs && req.max > RECS)
				req.max = RECS; /* its own buffer: no more than it holds */
			arg = (long)&req;
		} else if (op == KEEL_TRACE_ON) {
			arg = rand_below(&r, 2) ? (long)(1u << rand_below(&r, 10)) : (long)rand_next(&r);
		} else {
			arg = rand_below(&r, 2) ? (long)hostile_ptr(&r) : (long)rand_below(&r, 3);
			if (arg == (long)recs)
				arg = 0;
		}
		ret = sys_trace(slot, op, arg);
		ok += ret >= 0;
		refused += ret < 0;
	}
	sys_trace(slot, KEEL_TRACE_OFF, 0);
	printf("tracer: 3000 random calls: %llu accepted, %llu refused\n", (unsigned long long)ok,
	       (unsigned long long)refused);
	check("after the random calls, its frames are back", (long)(frames_used() - frames_before), 0);
}

static int errors(void)
{
	struct keel_cap_info info;
	struct keel_trace_read req;
	long slot = vm_find_cap(0, KEEL_CAP_TRACE, NULL, 0, &info);
	check("the boot granted a trace capability", slot >= 0, 1);
	if (slot < 0)
		return 1;
	check("without the grant right", info.rights, KEEL_R_READ | KEEL_R_WRITE);

	check("an empty slot", sys_trace(100000, KEEL_TRACE_ON, 1), -EBADSLOT);
	long frame = sys_frame_alloc();
	check("a frame capability", sys_trace(frame, KEEL_TRACE_ON, 1), -ETYPE);
	check("an unknown op", sys_trace(slot, 77, 0), -EINVAL);
	check("read with no rings", read_ring(slot, (uint64_t)recs, 0, 1, &req), -EINVAL);
	check("on with 0 frames", sys_trace(slot, KEEL_TRACE_ON, 0), -EINVAL);
	check("on with 3 frames", sys_trace(slot, KEEL_TRACE_ON, 3), -EINVAL);
	check("on with too many frames", sys_trace(slot, KEEL_TRACE_ON, KEEL_TRACE_FRAMES_MAX * 2), -EINVAL);
	check("on with 2^32 frames", sys_trace(slot, KEEL_TRACE_ON, 1L << 32), -EINVAL);
	struct keel_quota_info q;
	sys_quota_info(&q);
	if (q.frames_quota - q.frames_used < KEEL_TRACE_FRAMES_MAX)
		check("on beyond the frame quota", sys_trace(slot, KEEL_TRACE_ON, KEEL_TRACE_FRAMES_MAX), -EDQUOT);
	else
		printf("tracer: quota room %u frames: no -EDQUOT check\n", q.frames_quota - q.frames_used);
	check("off while off", sys_trace(slot, KEEL_TRACE_OFF, 0), 0);

	uint64_t before = frames_used();
	check("on", sys_trace(slot, KEEL_TRACE_ON, 2), 0);
	check("its frames charged", (long)(frames_used() - before), 2);
	check("on while on", sys_trace(slot, KEEL_TRACE_ON, 2), -EBUSY);
	check("read: request at 0", sys_trace(slot, KEEL_TRACE_READ, 0), -EFAULT);
	check("read: request in the kernel", sys_trace(slot, KEEL_TRACE_READ, (long)0xFFFFFFFF80000000UL), -EFAULT);
	check("read: buffer at 16", read_ring(slot, 16, 0, 4, &req), -EFAULT);
	check("read: buffer in the kernel", read_ring(slot, 0xFFFFFFFF80100000UL, 0, 4, &req), -EFAULT);
	check("read: buffer wraps", read_ring(slot, ~0UL - 64, 0, 4, &req), -EFAULT);
	check("read: no such CPU", read_ring(slot, (uint64_t)recs, 1, 4, &req), -EINVAL);
	check("read: more than the ring", read_ring(slot, (uint64_t)recs, 0, 2 * KEEL_TRACE_PER_FRAME + 1, &req),
	      -EINVAL);
	long n = read_ring(slot, (uint64_t)recs, 0, 2 * KEEL_TRACE_PER_FRAME, &req);
	check("read", n > 0, 1);
	long me = sys_env_id(), mine = 0, backwards = 0;
	for (long i = 0; i < n; i++) {
		mine += recs[i].ev == KEEL_TR_SYSCALL && recs[i].env == (uint32_t)me && recs[i].a == SYS_TRACE;
		backwards += i && recs[i].t < recs[i - 1].t;
	}
	check("read: this env's SYS_TRACE calls are in it", mine > 0, 1);
	check("read: time never goes backwards", backwards, 0);
	check("read: head counts what was recorded", req.head >= (uint64_t)n, 1);

	long peer = vm_find_cap(0, KEEL_CAP_ENV, NULL, 0, NULL);
	check("give it to another env", sys_cap_derive((uint32_t)slot, KEEL_R_READ, (uint32_t)peer), -ERIGHTS);
	check("derive the grant right", sys_cap_derive((uint32_t)slot, KEEL_R_ALL, KEEL_SELF), -ERIGHTS);
	long copy = sys_cap_derive((uint32_t)slot, KEEL_R_READ, KEEL_SELF);
	check("a read-only copy for itself", copy >= 0, 1);
	check("a read-only copy cannot switch", sys_trace(copy, KEEL_TRACE_OFF, 0), -ERIGHTS);
	check("a read-only copy reads", read_ring(copy, (uint64_t)recs, 0, 1, &req), 1);
	check("revoke the copy", sys_cap_revoke((uint32_t)slot), 1);
	n = read_ring(slot, (uint64_t)recs, 0, 2 * KEEL_TRACE_PER_FRAME, &req);
	long revoked = 0;
	for (long i = 0; i < n; i++)
		revoked += recs[i].ev == KEEL_TR_REVOKE && recs[i].env == (uint32_t)me && recs[i].a == KEEL_CAP_TRACE &&
			   recs[i].b == (uint64_t)copy;
	check("the revocation is in the trace", revoked, 1);

	check("off with an argument", sys_trace(slot, KEEL_TRACE_OFF, 1), -EINVAL);
	check("off", sys_trace(slot, KEEL_TRACE_OFF, 0), 0);
	check("its frames given back", (long)(frames_used() - before), 0);
	check("read after off", read_ring(slot, (uint64_t)recs, 0, 1, &req), -EINVAL);
	random_calls(slot, before);
	check("on again, to end with it on", sys_trace(slot, KEEL_TRACE_ON, 1), 0);
	printf("tracer: %d checks, %d failed\n", checks, failed);
	return failed != 0;
}

static int nocap(void)
{
	struct keel_trace_read req;
	check("no trace capability", vm_find_cap(0, KEEL_CAP_TRACE, NULL, 0, NULL) < 0, 1);
	for (long s = 0; s < 4; s++) {
		check("on", sys_trace(s, KEEL_TRACE_ON, 1) < 0, 1);
		check("read", read_ring(s, (uint64_t)recs, 0, 1, &req) < 0, 1);
		check("off", sys_trace(s, KEEL_TRACE_OFF, 0) < 0, 1);
	}
	check("an empty slot", sys_trace(100000, KEEL_TRACE_ON, 1), -EBADSLOT);
	check("a frame capability", sys_trace(sys_frame_alloc(), KEEL_TRACE_ON, 1), -ETYPE);
	printf("tracer: %d checks, %d failed\n", checks, failed);
	return failed != 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "errors";
	if (!strcmp(mode, "errors"))
		return errors();
	if (!strcmp(mode, "nocap"))
		return nocap();
	if (!strcmp(mode, "idle")) {
		for (int i = 0; i < 50; i++)
			sys_yield();
		return 0;
	}
	printf("tracer: unknown mode %s\n", mode);
	return 1;
}
