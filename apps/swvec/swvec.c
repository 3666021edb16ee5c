/*
 * `swvec MODE [N]`: software vectors (tests/test_irq.py).
 *   held N   this env holds KEEL_CAP_SWVEC for 0xA0 (grant=): `int $0xA0`
 *            N times while enabled is N event upcalls, one bit each in
 *            swvec_pending; raised twice while disabled, delivered once when
 *            it enables; every other vector of 0xA0..0xBF is #GP with the
 *            error code the CPU gives (vector * 8 + 2) and RIP at the `int`
 *   none     holds none: all 32 software vectors are #GP
 */
#include "keel.h"
#include "dev.h"
#include "vm.h"

extern char int_table[];
static void raise_vec(unsigned v) { ((void (*)(void))(int_table + 4 * v))(); }

static volatile uint64_t swvec_events, swvec_bits, gp_count, gp_error, gp_rip;

static void on_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_SWVEC) {
		swvec_events++;
		swvec_bits |= keel_take(&a->swvec_pending);
	}
}

static int on_trap(struct keel_upcall_area *a, uint64_t vector, uint64_t error, uint64_t cr2, struct keel_context *ctx,
		   int slot)
{
	if (vector != 13 || ctx->rip < (uint64_t)int_table || ctx->rip >= (uint64_t)int_table + 1024)
		return 1;
	gp_count++;
	gp_error = error;
	gp_rip = ctx->rip;
	ctx->rip += 2; /* past the int: to its ret */
	return 0;
}

/* Every software vector but `held` (-1: none) must be #GP, reported exactly. */
static int others_gp(const char *who, int held)
{
	int bad = 0, n = 0;
	for (unsigned v = KEEL_VEC_SOFT_BASE; v < KEEL_VEC_SOFT_BASE + KEEL_VEC_SOFT_COUNT; v++) {
		if ((int)v == held)
			continue;
		uint64_t before = gp_count, ev = swvec_events;
		raise_vec(v);
		n++;
		if (gp_count != before + 1 || gp_error != v * 8 + 2 || gp_rip != (uint64_t)int_table + 4 * v ||
		    swvec_events != ev) {
			printf("swvec %s: int $%#x: FAILED: #GP %llu, error %#llx, rip %#llx\n", who, v,
			       (unsigned long long)(gp_count - before), (unsigned long long)gp_error,
			       (unsigned long long)gp_rip);
			bad++;
		}
	}
	printf("swvec %s: %d software vectors not held: %d #GP with error vector*8+2 at the int\n", who, n, n - bad);
	return bad;
}

static int mode_held(uint64_t n)
{
	long slot = keel_dev_cap(KEEL_CAP_SWVEC, KEEL_VEC_SOFT_BASE);
	if (slot < 0) {
		printf("swvec held: FAILED: no capability for %#x\n", KEEL_VEC_SOFT_BASE);
		return 1;
	}
	keel_upcalls_init(on_event, on_trap);
	int bad = 0;
	for (uint64_t i = 0; i < n; i++)
		raise_vec(KEEL_VEC_SOFT_BASE);
	printf("swvec held: int $%#x x %llu: %llu event upcalls, pending bits %#llx, %llu #GP\n", KEEL_VEC_SOFT_BASE,
	       (unsigned long long)n, (unsigned long long)swvec_events, (unsigned long long)swvec_bits,
	       (unsigned long long)gp_count);
	bad += swvec_events != n || swvec_bits != 1 || gp_count;

	/* Disabled: held, then delivered once at the enable. */
	uint64_t before = swvec_events;
	keel_area->disabled = 1;
	raise_vec(KEEL_VEC_SOFT_BASE);
	raise_vec(KEEL_VEC_SOFT_BASE);
	uint64_t held = swvec_events - before, pending = keel_area->pending;
	struct keel_context c;
	keel_capture_resume(&c, keel_area); /* enables: the pending event comes in */
	printf("swvec held: raised twice while disabled: %llu delivered then, pending %#llx; %llu after enabling\n",
	       (unsigned long long)held, (unsigned long long)pending, (unsigned long long)(swvec_events - before));
	bad += held != 0 || !(pending & KEEL_EV_SWVEC) || swvec_events - before != 1;

	bad += others_gp("held", KEEL_VEC_SOFT_BASE);
	printf("swvec held: %s\n", bad ? "FAILED" : "ok");
	return bad;
}

static int mode_none(void)
{
	keel_upcalls_init(on_event, on_trap);
	int bad = others_gp("none", -1);
	printf("swvec none: %s\n", bad ? "FAILED" : "ok");
	return bad;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "held";
	if (!strcmp(mode, "held"))
		return mode_held(argc > 2 ? keel_atou(argv[2]) : 1000);
	if (!strcmp(mode, "none"))
		return mode_none();
	printf("swvec: unknown mode %s\n", mode);
	return 2;
}
