/*
 * `shootdown MODE ROLE`: TLB shootdown (kern/tlb.h) seen from Ring 3, one
 * mode per way a translation goes (tests/test_shootdown.py runs each).
 *
 * Two envs, the writer pinned to cpu0 and the reader alone on cpu1
 * (`pin=0:cpu0,1:cpu1`), share a page table: the box (a page of flags) and
 * the page under test are reached through it. The reader accesses the page
 * in a tight loop -- no syscall, nothing that could reload CR3 -- until its
 * TLB surely holds the translation (RUNS accesses, a timer tick among
 * them); then the writer takes the translation away and sets box->done the
 * moment its call has returned. From then on no access may succeed. Each
 * turn of the loop reads done first and touches the page second; x86 keeps
 * a load after an earlier load (and a store after an earlier load) in
 * order, so an access that succeeds in a turn that saw done != 0 used a
 * translation the returned call had taken away: STALE.
 *
 *   unmap    the writer clears the page's entry (SYS_MMU_UPDATE)
 *   rights   it remaps the page read-only; the reader writes it
 *   revoke   the writer derives the frame to the reader, which maps it in a
 *            table of its own; the writer revokes what it derived
 *   subtree  the shared table is a level-2 one; the writer unlinks the
 *            level-1 table under it that maps the page: a table goes, the
 *            full-flush path
 *   reuse    as unmap, then the writer frees the frame and allocates until
 *            it gets it back, and fills it anew: the reader must never read
 *            the new contents
 *   migrate  one env holding both CPUs, pinned to cpu1 (DEBUG_PIN): reads its page
 *            there, moves to cpu0 (DEBUG_PIN), unmaps it, moves back. cpu1
 *            idled meanwhile keeping the env's CR3 (no reload when it comes
 *            back), so only the shootdown can have flushed its TLB.
 *
 * With `shootdown=skip` (debug builds: the kernel sends no shootdown) every
 * mode must report STALE and exit 1: the negative control.
 */
#include "keel/errno.h"
#include "env.h"
#include "vm.h"

#define PAGE 4096ULL
#define RUNS 1000      /* accesses before the writer may act ... */
#define TICKS 1        /* ... and timer ticks (preemptions) among them */
#define STALE_MAX 1000 /* stale accesses that make the report (one is a violation) */
#define PATTERN 0x5EEDF00D5EEDF00DULL
#define NEW_PATTERN 0xBADC0FFEE0DDF00DULL
#define FAULTED 0xFA17FA17FA17FA17ULL
#define BOX_MAGIC 0x73686F6F74626F78ULL /* "shootbox" */

enum mode { UNMAP, RIGHTS, REVOKE, SUBTREE, REUSE, MIGRATE, NMODES };
static const char *const mode_names[NMODES] = { "unmap", "rights", "revoke", "subtree", "reuse", "migrate" };
/* The writer's call, as the report names it. */
static const char *const action[NMODES] = { "the unmap", "the read-only remap", "the revocation",
					    "the table's unlinking", "the unmap", "the unmap on cpu0" };
static enum mode mode;

struct box {
	uint64_t magic;
	uint64_t installed; /* reader: the shared table is in its tree */
	uint64_t mapped;    /* writer: the page is mapped and filled (revoke: and derived) */
	uint64_t ready;     /* reader: RUNS accesses over TICKS ticks, the TLB holds the page */
	uint64_t done;      /* writer: 1 once its call returned; reuse: 2 once the frame is refilled */
	uint64_t finished;  /* reader: its report is out */
};
static volatile struct box *box;

/* access.S: the one instruction that touches the page, and the one after. */
extern char access_read_at[], access_read_next[], access_write_at[], access_write_next[];
uint64_t access_read(const volatile uint64_t *p);
uint64_t access_write(volatile uint64_t *p, uint64_t v);

static volatile uint64_t fault_vec, fault_err, fault_cr2, faults;

/* A fault of the access: noted, and the access returns FAULTED. Anything
 * else is a bug here: the env exits (libos says why). */
static int on_trap(struct keel_upcall_area *a, uint64_t vec, uint64_t err, uint64_t cr2, struct keel_context *ctx,
		   int slot)
{
	if (ctx->rip == (uint64_t)access_read_at)
		ctx->rip = (uint64_t)access_read_next;
	else if (ctx->rip == (uint64_t)access_write_at)
		ctx->rip = (uint64_t)access_write_next;
	else
		return 1;
	fault_vec = vec;
	fault_err = err;
	fault_cr2 = cr2;
	faults++;
	ctx->rax = FAULTED;
	return 0;
}

static __attribute__((noreturn)) void fail(const char *what, long err)
{
	printf("shootdown %s: FAILED: %s: %s\n", mode_names[mode], what, errname((int)err));
	sys_exit(2);
}

static __attribute__((noreturn)) void bad_contents(uint64_t got)
{
	printf("shootdown %s: FAILED: read %#llx from the page before it was taken away, not %#llx\n",
	       mode_names[mode], (unsigned long long)got, PATTERN);
	sys_exit(2);
}

static long must(long r, const char *what)
{
	if (r < 0)
		fail(what, r);
	return r;
}

static uint64_t vrange(uint64_t size, uint64_t align)
{
	long s = must(sys_vrange_alloc(size, align), "a virtual range");
	struct keel_cap_info info;
	must(sys_cap_info((uint32_t)s, &info), "the range's info");
	return info.base;
}

static long update1(uint32_t table, unsigned index, uint32_t cap, unsigned flags)
{
	struct keel_mmu_op o = { .table = table, .index = (uint16_t)index, .flags = (uint16_t)flags, .cap = cap };
	return sys_mmu_update(&o, 1, NULL);
}

static unsigned index_at(uint64_t va, unsigned level) { return (unsigned)(va >> (12 + 9 * (level - 1))) & 511; }

static uint64_t ticks(void) { return *(volatile uint64_t *)&keel_area->activations; }

static int match_env(const struct keel_cap_info *i, uint64_t not_id) { return i->base != not_id; }
static int from_other(const struct keel_cap_info *i, uint64_t unused) { return i->from != 0; }

/* Spin until *p == v (no syscall but the check that the other env lives). */
static void await(volatile uint64_t *p, uint64_t v, uint32_t eslot, const char *what)
{
	while (*p != v) {
		if (keel_env_gone(eslot) && *p != v) /* ended (having set it last, perhaps) */
			fail(what, -EPIPE);
		__builtin_ia32_pause();
	}
}

/* Until a fault: what the accesses saw. */
struct tally {
	uint64_t before;  /* accesses in turns that saw done == 0 */
	uint64_t stale;   /* accesses that succeeded in turns that saw done != 0 */
	uint64_t renewed; /* ... that read something the page did not hold before */
	uint64_t ticks;   /* timer ticks (preemptions) over the loop */
};

static void report(const struct tally *t, const char *access)
{
	if (!t->stale && faults)
		printf("shootdown %s: reader faulted (#PF error %#llx at %#llx); 0 stale %ss after %s returned "
		       "(%llu %ss before it, %llu timer ticks)\n",
		       mode_names[mode], (unsigned long long)fault_err, (unsigned long long)fault_cr2, access,
		       action[mode], (unsigned long long)t->before, access, (unsigned long long)t->ticks);
	else
		printf("shootdown %s: STALE: %llu %ss succeeded after %s returned (%llu %ss before it, %llu timer "
		       "ticks; %llu of them read contents the page got later)\n",
		       mode_names[mode], (unsigned long long)t->stale, access, action[mode],
		       (unsigned long long)t->before, access, (unsigned long long)t->ticks,
		       (unsigned long long)t->renewed);
}

/* ----------------------------------------------------------------- writer */
static int writer(void)
{
	long eslot = must(vm_find_cap(0, KEEL_CAP_ENV, match_env, (uint64_t)sys_env_id(), NULL), "the reader's env");
	/* The box at v, the page under test at data; subtree: in another
	 * level-1 table below the shared level-2 one. */
	int subtree = mode == SUBTREE;
	uint64_t span = subtree ? 1ULL << 30 : 2ULL << 20;
	uint64_t v = vrange(span, span), data = subtree ? v + (2ULL << 20) : v + PAGE;
	must(vm_map_new(v, KEEL_MAP_WRITE), "map the box");
	box = (volatile struct box *)v;
	box->magic = BOX_MAGIC;
	long share = must(vm_table(subtree ? 2 : 1, v, 0), "the table to share");
	must(sys_cap_derive((uint32_t)share, KEEL_R_READ | KEEL_R_WRITE, (uint32_t)eslot), "derive the table");
	await(&box->installed, 1, (uint32_t)eslot, "the reader installs the table");

	/* The page is made only now: its frame is the last one allocated
	 * before it is freed (reuse: the allocator's next pick). */
	long f = must(vm_map_new(data, KEEL_MAP_WRITE), "map the page");
	for (unsigned i = 0; i < PAGE / 8; i++)
		((volatile uint64_t *)data)[i] = PATTERN;
	if (mode == REVOKE)
		must(sys_cap_derive((uint32_t)f, KEEL_R_READ, (uint32_t)eslot), "derive the frame");
	box->mapped = 1;
	await(&box->ready, 1, (uint32_t)eslot, "the reader is ready");

	long r;
	switch (mode) {
	case RIGHTS:
		r = vm_map(data, (uint32_t)f, 0);
		break;
	case REVOKE:
		r = sys_cap_revoke((uint32_t)f);
		break;
	case SUBTREE:
		r = update1((uint32_t)share, index_at(data, 2), KEEL_CAP_NONE, 0);
		break;
	default:
		r = vm_unmap(data);
		break;
	}
	box->done = 1; /* the first store after the call returned */
	must(r, action[mode]);

	if (mode == REUSE) {
		/* Free the frame, and allocate until it comes back (the
		 * allocator's first pick, unless something took it between). */
		struct keel_cap_info fi;
		must(sys_cap_info((uint32_t)f, &fi), "the frame's info");
		must(sys_cap_delete((uint32_t)f), "free the frame");
		unsigned n = 0;
		long g = -1;
		struct keel_cap_info gi;
		while (n < 64) {
			g = must(sys_frame_alloc(), "allocate");
			n++;
			must(sys_cap_info((uint32_t)g, &gi), "the new frame's info");
			if (gi.base == fi.base)
				break;
		}
		if (gi.base == fi.base) {
			uint64_t p = vrange(PAGE, 0);
			must(vm_map(p, (uint32_t)g, KEEL_MAP_WRITE), "map the frame again");
			for (unsigned i = 0; i < PAGE / 8; i++)
				((volatile uint64_t *)p)[i] = NEW_PATTERN;
			printf("shootdown reuse: frame %#llx freed, allocated again (allocation %u) and filled anew\n",
			       (unsigned long long)fi.base, n);
		} else {
			printf("shootdown reuse: frame %#llx freed, not among the next %u allocated\n",
			       (unsigned long long)fi.base, n);
		}
		box->done = 2;
	}
	await(&box->finished, 1, (uint32_t)eslot, "the reader's report");
	printf("shootdown %s: writer on cpu0: %s of %#llx returned %ld\n", mode_names[mode], action[mode],
	       (unsigned long long)data, r);
	return 0;
}

/* ----------------------------------------------------------------- reader */
static int reader(void)
{
	long eslot = must(vm_find_cap(0, KEEL_CAP_ENV, match_env, (uint64_t)sys_env_id(), NULL), "the writer's env");
	struct keel_cap_info ti;
	long t;
	while ((t = vm_find_cap(0, KEEL_CAP_PT, from_other, 0, &ti)) < 0) {
		if (keel_env_gone((uint32_t)eslot))
			fail("the writer's table", t);
		sys_yield();
	}
	/* Install the writer's table in this env's own tree, where it is bound. */
	uint64_t v = ti.vbase;
	unsigned level = ti.level + 1;
	long parent = must(vm_table(level, v, 1), "a table to install it in");
	must(update1((uint32_t)parent, index_at(v, level), (uint32_t)t, 0), "install the writer's table");
	must(vm_note_table((uint32_t)t, ti.level, v), "note it");
	box = (volatile struct box *)v;
	if (box->magic != BOX_MAGIC)
		fail("the box through the shared table", -EBADMSG);
	box->installed = 1;
	while (!box->mapped)
		__builtin_ia32_pause();

	volatile uint64_t *p = (volatile uint64_t *)(mode == SUBTREE ? v + (2ULL << 20) : v + PAGE);
	if (mode == REVOKE) {
		struct keel_cap_info gi;
		long g = must(vm_find_cap(0, KEEL_CAP_FRAME, from_other, 0, &gi), "the derived frame");
		uint64_t mine = vrange(PAGE, 0);
		must(vm_map(mine, (uint32_t)g, 0), "map the derived frame");
		p = (volatile uint64_t *)mine;
	}
	int write = mode == RIGHTS;
	uint64_t last = mode == REUSE ? 2 : 1, t0 = ticks(), after_last = 0;
	struct tally tl = { 0 };
	/* The window: from here to the report, no syscall. */
	for (uint64_t n = 0;; n++) {
		uint64_t d = box->done;
		uint64_t got = write ? access_write(p, n) : access_read(p);
		if (got == FAULTED)
			break;
		if (!d) {
			if (!write && got != PATTERN)
				bad_contents(got);
			if (++tl.before >= RUNS && !box->ready && ticks() - t0 >= TICKS)
				box->ready = 1;
			continue;
		}
		tl.stale++;
		tl.renewed += !write && got != PATTERN;
		if (d == last && ++after_last == STALE_MAX)
			break;
	}
	tl.ticks = ticks() - t0;
	report(&tl, write ? "write" : "read");
	box->finished = 1;
	return tl.stale || !faults;
}

/* ---------------------------------------------------------------- migrate */
static int migrate(void)
{
	must(sys_debug(DEBUG_PIN, 1, 0), "move to cpu1"); /* (it holds both CPUs) */
	uint64_t v = vrange(PAGE, 0);
	must(vm_map_new(v, KEEL_MAP_WRITE), "map the page");
	volatile uint64_t *p = (volatile uint64_t *)v;
	*p = PATTERN;
	struct tally tl = { 0 };
	uint64_t t0 = ticks();
	while (tl.before < RUNS || ticks() - t0 < TICKS) {
		uint64_t got = access_read(p);
		if (got != PATTERN)
			bad_contents(got);
		tl.before++;
	}
	tl.ticks = ticks() - t0;
	/* To cpu0 and back: cpu1 idles meanwhile, its CR3 still this env's. */
	must(sys_debug(DEBUG_PIN, 0, 0), "move to cpu0");
	long r = vm_unmap(v);
	must(sys_debug(DEBUG_PIN, 1, 0), "move back to cpu1");
	must(r, "unmap");
	for (uint64_t n = 0; n < STALE_MAX; n++) {
		uint64_t got = access_read(p);
		if (got == FAULTED)
			break;
		tl.stale++;
		tl.renewed += got != PATTERN;
	}
	report(&tl, "read");
	return tl.stale || !faults;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "", *role = argc > 2 ? argv[2] : "";
	for (mode = 0; mode < NMODES && strcmp(m, mode_names[mode]); mode++)
		;
	if (mode == NMODES) {
		printf("shootdown: unknown mode '%s'\n", m);
		return 2;
	}
	int err = keel_upcalls_init(NULL, on_trap);
	if (!err)
		err = vm_init();
	if (err)
		fail("set-up", err);
	if (mode == MIGRATE)
		return migrate();
	if (!strcmp(role, "writer"))
		return writer();
	if (!strcmp(role, "reader"))
		return reader();
	printf("shootdown: role must be writer or reader, not '%s'\n", role);
	return 2;
}
