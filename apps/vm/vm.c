/*
 * `vm MODE [ROLE]`: capabilities and raw page tables from Ring 3, one mode
 * per property (tests/test_caps.py runs each):
 *   basic       map, unmap, remap with fewer rights; accessed and dirty bits
 *               read through the read-only window; the window refuses writes
 *   share a|b   two envs share a level-1 table: writes and unmaps by either
 *               are seen by both at the same addresses
 *   areashare a|b  b's upcall area on a page of a's shared table; a revokes
 *               the table: the kernel stops using the page for b at once
 *   revoke a|b  a grants a frame, b maps it and derives from it; a revokes:
 *               b is told by upcall, its accesses fault, its derived caps are gone
 *   demand      a 64 MiB region paged in by the #PF handler; checksum; every
 *               frame returned after unmapping
 *   neg         one refused operation per validation rule, each with its code
 *   onecall     a frame allocated and mapped in one call (KEEL_CAP_NEW), and
 *               unmapped and deleted in one (KEEL_CAP_FREE), singly and in
 *               batches; their refusals, each leaving nothing behind
 *   churn [N [SEED]]  N random valid and invalid operations; exits holding
 *               whatever it holds (the kernel must take it all back)
 *   guard       keeps a pattern in its memory until the other env has ended
 */
#include "keel/errno.h"
#include "env.h"
#include "vm.h"

#define PROBE_FAULTED 0xFA17FA17FA17FA17ULL
extern uint64_t probe_insn, probe_resume;
uint64_t probe_read(uint64_t addr);
uint64_t probe_write(uint64_t addr, uint64_t v);

#define PAGE 4096ULL

static long id;
static int failures;
static volatile uint64_t fault_vec, fault_err, fault_cr2, faults;
static volatile uint64_t revoked_events, self_events;
/* Demand paging: 0 when the fault was made good (retry the access). */
static long (*pf_hook)(uint64_t cr2, uint64_t err);

static int on_trap(struct keel_upcall_area *a, uint64_t vec, uint64_t err, uint64_t cr2, struct keel_context *ctx,
		   int slot)
{
	if (vec == 14 && pf_hook && pf_hook(cr2, err) == 0)
		return 0;
	if (ctx->rip == probe_insn) {
		fault_vec = vec;
		fault_err = err;
		fault_cr2 = cr2;
		faults++;
		ctx->rip = probe_resume;
		ctx->rax = PROBE_FAULTED;
		return 0;
	}
	return 1;
}

static void on_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_REVOKED)
		revoked_events++;
	if (ev & KEEL_EV_SELF)
		self_events++;
}

#define CHECK(cond, ...)                                        \
	do {                                                    \
		if (!(cond)) {                                  \
			printf("vm env %ld: FAILED: ", id);     \
			printf(__VA_ARGS__);                    \
			printf(" (%s, line %d)\n", #cond, __LINE__); \
			failures++;                             \
		}                                               \
	} while (0)

static uint64_t vrange(uint64_t size, uint64_t align, long *slot_out)
{
	long s = sys_vrange_alloc(size, align);
	struct keel_cap_info info;
	if (s < 0 || sys_cap_info((uint32_t)s, &info)) {
		printf("vm env %ld: no virtual range: %s\n", id, errname((int)s));
		sys_exit(2);
	}
	if (slot_out)
		*slot_out = s;
	return info.base;
}

static struct keel_mmu_op op(uint32_t table, unsigned index, uint32_t cap, unsigned flags)
{
	return (struct keel_mmu_op){ .table = table, .index = (uint16_t)index, .flags = (uint16_t)flags, .cap = cap };
}

static long update1(struct keel_mmu_op o) { return sys_mmu_update(&o, 1, NULL); }

static unsigned l1_index(uint64_t va) { return (unsigned)(va >> 12) & 511; }

/* A probe that must fault as (error, cr2). */
static void expect_fault(const char *what, uint64_t r, uint64_t err, uint64_t cr2)
{
	CHECK(r == PROBE_FAULTED && fault_vec == 14 && fault_err == err && fault_cr2 == cr2,
	      "%s: want #PF error %#llx at %#llx, got %s vector %llu error %#llx cr2 %#llx", what,
	      (unsigned long long)err, (unsigned long long)cr2, r == PROBE_FAULTED ? "a fault," : "no fault,",
	      (unsigned long long)fault_vec, (unsigned long long)fault_err, (unsigned long long)fault_cr2);
}

static void quota(struct keel_quota_info *q) { CHECK(sys_quota_info(q) == 0, "quota info"); }

/* The kernel's consistency check of this env's page tables: 0 problems. */
static long audit(void) { return sys_debug(DEBUG_PT_AUDIT, 0, 0); }

static int match_env(const struct keel_cap_info *i, uint64_t not_id) { return i->base != not_id; }
static long other_env(void)
{
	long s = vm_find_cap(0, KEEL_CAP_ENV, match_env, (uint64_t)id, NULL);
	if (s < 0) {
		printf("vm env %ld: no other env to talk to\n", id);
		sys_exit(2);
	}
	return s;
}

/* Wait (yielding) until *p == v; 0, or -1 after too long. */
static int await(volatile uint64_t *p, uint64_t v)
{
	for (long i = 0; i < 200000; i++) {
		if (*p == v)
			return 0;
		sys_yield();
	}
	printf("vm env %ld: gave up waiting for step %llu\n", id, (unsigned long long)v);
	failures++;
	return -1;
}

/* ------------------------------------------------------------------ basic */
static int mode_basic(void)
{
	struct keel_quota_info q0, q1;
	quota(&q0);
	long vr;
	uint64_t v = vrange(4 * PAGE, 0, &vr), v2 = v + PAGE;
	long f = vm_map_new(v, KEEL_MAP_WRITE);
	CHECK(f >= 0, "map a new frame: %s", errname((int)f));
	struct keel_cap_info fi;
	CHECK(sys_cap_info((uint32_t)f, &fi) == 0 && (fi.flags & KEEL_CAPF_MAPPED) && fi.map_va == v, "frame info");
	uint64_t pte = vm_pte(v);
	printf("vm basic: mapped %#llx: pte %#llx (frame %#llx)\n", (unsigned long long)v, (unsigned long long)pte,
	       (unsigned long long)fi.base);
	CHECK((pte & VM_ADDR) == fi.base, "the PTE holds the frame");
	CHECK((pte & (VM_P | VM_W | VM_U | VM_G)) == (VM_P | VM_W | VM_U), "P, W, U set; G clear");
	CHECK(!(pte & (VM_A | VM_D)), "untouched: A and D clear (pte %#llx)", (unsigned long long)pte);
	for (unsigned l = 2; l <= 4; l++)
		CHECK((vm_entry(v, l) & (VM_P | VM_U | VM_G)) == (VM_P | VM_U), "level %u: P and U set, G clear", l);

	(void)*(volatile uint64_t *)v;
	pte = vm_pte(v);
	printf("vm basic: after a read:  pte %#llx (A %d, D %d)\n", (unsigned long long)pte, !!(pte & VM_A), !!(pte & VM_D));
	CHECK((pte & VM_A) && !(pte & VM_D), "a read sets A only");
	*(volatile uint64_t *)v = 0x1234567890ABCDEFULL;
	pte = vm_pte(v);
	printf("vm basic: after a write: pte %#llx (A %d, D %d)\n", (unsigned long long)pte, !!(pte & VM_A), !!(pte & VM_D));
	CHECK((pte & VM_A) && (pte & VM_D), "a write sets D");

	/* Remap with fewer rights: the same capability, no write. */
	CHECK(vm_map(v, (uint32_t)f, 0) == 0, "remap read-only");
	pte = vm_pte(v);
	CHECK(!(pte & VM_W) && (pte & VM_D), "read-only now, D kept (pte %#llx)", (unsigned long long)pte);
	CHECK(probe_read(v) == 0x1234567890ABCDEFULL, "still readable, data kept");
	expect_fault("write to the read-only remap", probe_write(v, 1), 0x7, v);
	printf("vm basic: remapped read-only: pte %#llx; a write faults (error %#llx)\n", (unsigned long long)pte,
	       (unsigned long long)fault_err);
	CHECK(vm_map(v, (uint32_t)f, KEEL_MAP_WRITE) == 0 && probe_write(v, 42) == 0, "writable again");

	/* A second page mapped read-only from the start. */
	long g = vm_map_new(v2, 0);
	CHECK(g >= 0, "map read-only: %s", errname((int)g));
	CHECK(probe_read(v2) == 0, "a new frame is zeroed");
	expect_fault("write to a read-only page", probe_write(v2, 1), 0x7, v2);

	/* Unmap: the entry is gone, the next access faults, the frame keeps its data. */
	CHECK(vm_unmap(v) == 0, "unmap");
	pte = vm_pte(v);
	CHECK(pte == 0, "the PTE is clear after unmapping");
	expect_fault("read after unmap", probe_read(v), 0x4, v);
	CHECK(sys_cap_info((uint32_t)f, &fi) == 0 && !(fi.flags & KEEL_CAPF_MAPPED), "the capability is unmapped");
	CHECK(vm_map(v, (uint32_t)f, KEEL_MAP_WRITE) == 0 && probe_read(v) == 42, "mapped again: the data is there");
	printf("vm basic: unmapped: pte %#llx, a read faults (error %#llx); mapped again, the data is kept\n",
	       (unsigned long long)pte, (unsigned long long)fault_err);

	/* The window is read-only, and shows nothing of the kernel half: its
	 * top holds no kernel entry, and below it nothing is mapped at all
	 * (not present, error 0x4 -- not a supervisor page, 0x5). */
	uint64_t w = KEEL_PT_WINDOW_ENTRY(v, 1);
	expect_fault("write through the window", probe_write(w, 0), 0x7, w);
	static const uint64_t kernel[] = { 0xFFFFFF8000000000ULL, 0xFFFFFFC000000000ULL, 0xFFFFFFFF80000000ULL };
	for (unsigned i = 0; i < 3; i++) {
		uint64_t top = KEEL_PT_WINDOW_ENTRY(kernel[i], 4);
		CHECK(probe_read(top) == 0, "the window's top shows no entry for %#llx", (unsigned long long)kernel[i]);
		for (int level = 3; level >= 1; level--) {
			uint64_t k = KEEL_PT_WINDOW_ENTRY(kernel[i], level);
			expect_fault("read the kernel's tables through the window", probe_read(k), 0x4, k);
		}
	}
	printf("vm basic: the window refuses writes (error %#llx) and hides the kernel half (error %#llx)\n", 0x7ULL,
	       0x4ULL);

	/* Everything back. */
	CHECK(vm_unmap(v) == 0 && vm_unmap(v2) == 0, "unmap both");
	CHECK(sys_cap_delete((uint32_t)f) == 0 && sys_cap_delete((uint32_t)g) == 0, "delete the frames");
	vm_trim(v, 4 * PAGE);
	CHECK(sys_cap_delete((uint32_t)vr) == 0, "delete the range");
	quota(&q1);
	printf("vm basic: frames used %u -> %u, capabilities %u -> %u, free frames %llu -> %llu\n", q0.frames_used,
	       q1.frames_used, q0.caps_used, q1.caps_used, (unsigned long long)q0.frames_free,
	       (unsigned long long)q1.frames_free);
	CHECK(q1.frames_used == q0.frames_used && q1.caps_used == q0.caps_used && q1.frames_free == q0.frames_free,
	      "every frame and capability back");
	CHECK(audit() == 0, "page-table audit");
	printf("vm basic: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

/* ------------------------------------------------------------------ share */
/*
 * a's 4 MiB range, two level-1 tables. The first (V) is shared read-write:
 * page 0 a's data, page 1 b's, page 2 a mailbox, page 3 b's later page.
 * The second (V2 = V + 2 MiB) is shared read-only: a's data there.
 */
enum { SHARE_READY = 1, SHARE_B_WROTE, SHARE_A_UNMAPPED, SHARE_B_UNMAPPED, SHARE_DONE };

static int from_other(const struct keel_cap_info *i, uint64_t unused) { return i->from != 0; }
static int from_other_at(const struct keel_cap_info *i, uint64_t vbase) { return i->from && i->vbase == vbase; }

static int mode_share_a(void)
{
	long eslot = other_env(), vr;
	uint64_t v = vrange(4 << 20, 2 << 20, &vr), v2 = v + (2 << 20);
	volatile uint64_t *mine = (void *)v, *theirs = (void *)(v + PAGE), *box = (void *)(v + 2 * PAGE);
	long t = vm_table(1, v, 1), t2 = vm_table(1, v2, 1);
	CHECK(t >= 0 && t2 >= 0, "level-1 tables for %#llx: %s %s", (unsigned long long)v, errname((int)t),
	      errname((int)t2));
	CHECK(vm_map_new(v, KEEL_MAP_WRITE) >= 0 && vm_map_new(v + 2 * PAGE, KEEL_MAP_WRITE) >= 0 &&
	      vm_map_new(v2, KEEL_MAP_WRITE) >= 0, "map");
	mine[0] = 0xA11CE;
	*(volatile uint64_t *)v2 = 0xC0FFEE;
	box[0] = SHARE_READY;
	/* Give b the tables and the range: it installs the tables in its own tree. */
	long bt = sys_cap_derive((uint32_t)t, KEEL_R_READ | KEEL_R_WRITE, (uint32_t)eslot);
	long bt2 = sys_cap_derive((uint32_t)t2, KEEL_R_READ, (uint32_t)eslot);
	long bv = sys_cap_derive((uint32_t)vr, KEEL_R_READ | KEEL_R_WRITE, (uint32_t)eslot);
	CHECK(bt >= 0 && bt2 >= 0 && bv >= 0, "grant: %s %s %s", errname((int)bt), errname((int)bt2), errname((int)bv));
	printf("vm share a: level-1 tables for %#llx (read-write) and %#llx (read-only) granted to env b\n",
	       (unsigned long long)v, (unsigned long long)v2);
	if (await(box, SHARE_B_WROTE) == 0) {
		CHECK(mine[1] == 0xB0B, "b's write into a's page: %#llx", (unsigned long long)mine[1]);
		CHECK(probe_read((uint64_t)theirs) == 0xB2, "the page b mapped is seen by a");
		printf("vm share a: read b's write %#llx at %#llx and b's own page %#llx at %#llx\n",
		       (unsigned long long)mine[1], (unsigned long long)&mine[1], (unsigned long long)theirs[0],
		       (unsigned long long)theirs);
		/* b's frame in a's table: a may clear the entry, never delete b's capability. */
		long r = vm_unmap_free(v + PAGE);
		printf("vm share a: unmapping and deleting b's page from a's table: %s\n", errname((int)r));
		CHECK(r == -EPERM && probe_read((uint64_t)theirs) == 0xB2, "b's page stays");
		CHECK(vm_unmap(v) == 0, "a unmaps its page");
		expect_fault("a reads the page it unmapped", probe_read(v), 0x4, v);
		box[0] = SHARE_A_UNMAPPED;
	}
	if (await(box, SHARE_B_UNMAPPED) == 0) {
		expect_fault("a reads the page b unmapped", probe_read(v + PAGE), 0x4, v + PAGE);
		CHECK(vm_pte(v + PAGE) == 0, "and sees its entry clear through the window");
		printf("vm share a: b's unmapping seen: a read of %#llx faults\n", (unsigned long long)(v + PAGE));
		/* Taking the range back takes what b mapped under it. */
		CHECK(probe_read(v + 3 * PAGE) == 0xB3, "b's second page");
		long n = sys_cap_revoke((uint32_t)vr);
		expect_fault("a reads b's page after revoking b's range", probe_read(v + 3 * PAGE), 0x4, v + 3 * PAGE);
		CHECK(n == 1 && probe_read(v + 2 * PAGE) == SHARE_B_UNMAPPED, "a's own pages stay");
		printf("vm share a: revoked b's range (%ld capability): b's page at %#llx is gone, a's stay\n", n,
		       (unsigned long long)(v + 3 * PAGE));
		box[0] = SHARE_DONE;
	}
	while (!keel_env_gone((uint32_t)eslot))
		sys_yield();
	CHECK(audit() == 0, "page-table audit");
	printf("vm share a: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

static int mode_share_b(void)
{
	struct keel_cap_info ti, vi, t2i;
	long t = -1, vr = -1, t2 = -1;
	for (long i = 0; i < 100000 && (t < 0 || vr < 0); i++) {
		vr = vm_find_cap(0, KEEL_CAP_VRANGE, from_other, 0, &vi);
		t = vr >= 0 ? vm_find_cap(0, KEEL_CAP_PT, from_other_at, vi.base, &ti) : -1;
		t2 = vr >= 0 ? vm_find_cap(0, KEEL_CAP_PT, from_other_at, vi.base + (2 << 20), &t2i) : -1;
		if (t < 0 || vr < 0 || t2 < 0)
			sys_yield();
	}
	if (t < 0 || vr < 0 || t2 < 0) {
		printf("vm share b: FAILED: nothing granted\n");
		return 1;
	}
	uint64_t v = ti.vbase, v2 = t2i.vbase;
	volatile uint64_t *theirs = (void *)v, *mine = (void *)(v + PAGE), *box = (void *)(v + 2 * PAGE);
	/* Install a's tables in b's own level-2 table, at their bound addresses. */
	long pd = vm_table(2, v, 1);
	long err = update1(op((uint32_t)pd, (unsigned)(v >> 21) & 511, (uint32_t)t, 0));
	long err2 = update1(op((uint32_t)pd, (unsigned)(v2 >> 21) & 511, (uint32_t)t2, 0));
	CHECK(err == 0 && err2 == 0, "install the shared tables: %s %s", errname((int)err), errname((int)err2));
	vm_note_table((uint32_t)t, 1, v);
	vm_note_table((uint32_t)t2, 1, v2);
	printf("vm share b: installed a's table at %#llx; read %#llx there\n", (unsigned long long)v,
	       (unsigned long long)theirs[0]);
	CHECK(theirs[0] == 0xA11CE, "a's write read by b at the same address");
	CHECK(box[0] == SHARE_READY, "the mailbox");
	theirs[1] = 0xB0B;
	long f = vm_map_new(v + PAGE, KEEL_MAP_WRITE);
	CHECK(f >= 0, "b maps its own frame into the shared table: %s", errname((int)f));
	mine[0] = 0xB2;
	/* The read-only share: readable, never writable, not b's to change. */
	uint64_t ro = probe_read(v2);
	expect_fault("b writes the read-only share", probe_write(v2, 1), 0x7, v2);
	long g = vm_map_new(v2 + PAGE, KEEL_MAP_WRITE);
	printf("vm share b: read-only table at %#llx: read %#llx, a write faults (error %#llx), mapping into it: %s\n",
	       (unsigned long long)v2, (unsigned long long)ro, (unsigned long long)fault_err, errname((int)g));
	CHECK(ro == 0xC0FFEE && g == -ERIGHTS, "read-only share");
	box[0] = SHARE_B_WROTE;
	if (await(box, SHARE_A_UNMAPPED) == 0) {
		expect_fault("b reads the page a unmapped", probe_read(v), 0x4, v);
		printf("vm share b: a's unmapping seen: a read of %#llx faults\n", (unsigned long long)v);
		CHECK(vm_unmap(v + PAGE) == 0, "b unmaps its page");
		CHECK(vm_map_new(v + 3 * PAGE, KEEL_MAP_WRITE) >= 0, "b maps another page");
		*(volatile uint64_t *)(v + 3 * PAGE) = 0xB3;
		box[0] = SHARE_B_UNMAPPED;
	}
	if (await(box, SHARE_DONE) == 0) {
		struct keel_cap_info info;
		expect_fault("b reads its page under the revoked range", probe_read(v + 3 * PAGE), 0x4, v + 3 * PAGE);
		CHECK(sys_cap_info((uint32_t)vr, &info) == -EBADSLOT && keel_area->revoked == 1, "the range is gone");
		printf("vm share b: its range revoked (told: %llu), its page there unmapped\n",
		       (unsigned long long)keel_area->revoked);
	}
	CHECK(audit() == 0, "page-table audit");
	printf("vm share b: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

/* -------------------------------------------------------------- areashare */
/* b puts its upcall area on a page of a's, through a table a shares; a
 * revokes the table: the kernel must stop using that page for b at once. */
static int mode_areashare_a(void)
{
	long eslot = other_env();
	uint64_t v = vrange(2 << 20, 2 << 20, NULL);
	long t = vm_table(1, v, 1);
	CHECK(t >= 0 && vm_map_new(v, KEEL_MAP_WRITE) >= 0 && vm_map_new(v + PAGE, KEEL_MAP_WRITE) >= 0, "set-up");
	volatile uint64_t *box = (void *)(v + PAGE);
	box[0] = 1;
	CHECK(sys_cap_derive((uint32_t)t, KEEL_R_READ | KEEL_R_WRITE, (uint32_t)eslot) >= 0, "grant the table");
	if (await(box, 2) == 0) {
		volatile struct keel_upcall_area *ba = (void *)v;
		uint64_t upcalls = ba->upcalls;
		long n = sys_cap_revoke((uint32_t)t);
		static uint8_t snap[PAGE];
		memcpy(snap, (const void *)v, PAGE);
		while (!keel_env_gone((uint32_t)eslot))
			sys_yield();
		int same = memcmp(snap, (const void *)v, PAGE) == 0;
		printf("vm areashare a: b's upcall area was on a's page (%llu upcalls counted there); revoked the table "
		       "(%ld); since then the kernel wrote %s there\n",
		       (unsigned long long)upcalls, n, same ? "nothing" : "SOMETHING");
		CHECK(upcalls >= 1 && n == 1 && same, "area dropped with the table");
	}
	printf("vm areashare a: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

static int mode_areashare_b(void)
{
	struct keel_cap_info ti;
	long t = -1;
	for (long i = 0; i < 100000 && t < 0; i++)
		if ((t = vm_find_cap(0, KEEL_CAP_PT, from_other, 0, &ti)) < 0)
			sys_yield();
	if (t < 0) {
		printf("vm areashare b: FAILED: nothing granted\n");
		return 1;
	}
	uint64_t v = ti.vbase;
	long pd = vm_table(2, v, 1);
	CHECK(update1(op((uint32_t)pd, (unsigned)(v >> 21) & 511, (uint32_t)t, 0)) == 0, "install");
	CHECK(keel_upcalls_init_at((struct keel_upcall_area *)v, on_event, on_trap) == 0, "area on a's page");
	__asm__ volatile("int $0x82" ::: "memory");
	CHECK(self_events == 1, "an upcall through the area");
	*(volatile uint64_t *)(v + PAGE) = 2;
	struct keel_cap_info info;
	while (sys_cap_info((uint32_t)t, &info) != -EBADSLOT)
		sys_yield();
	/* No area now: nothing is delivered, deadlines are refused. */
	__asm__ volatile("int $0x82" ::: "memory");
	long r = sys_set_deadline(1);
	for (int i = 0; i < 10; i++)
		sys_yield();
	printf("vm areashare b: after the revocation: %llu self event(s) delivered, set_deadline: %s; still running\n",
	       (unsigned long long)self_events, errname((int)r));
	CHECK(self_events == 1 && r == -EINVAL, "no area any more");
	printf("vm areashare b: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

/* ----------------------------------------------------------------- revoke */
enum { REV_GRANTED = 0x5EED, REV_ACK = 0xACC };

static int mode_revoke_a(void)
{
	long eslot = other_env();
	uint64_t v = vrange(PAGE, 0, NULL);
	long f = vm_map_new(v, KEEL_MAP_WRITE);
	CHECK(f >= 0, "map");
	volatile uint64_t *p = (void *)v;
	p[0] = REV_GRANTED;
	long d = sys_cap_derive((uint32_t)f, KEEL_R_READ | KEEL_R_WRITE | KEEL_R_GRANT, (uint32_t)eslot);
	CHECK(d >= 0, "grant: %s", errname((int)d));
	printf("vm revoke a: frame granted to env b (its slot %ld)\n", d);
	if (await(&p[1], REV_ACK) == 0) {
		long n = sys_cap_revoke((uint32_t)f);
		printf("vm revoke a: revoked: %ld capabilities removed\n", n);
		CHECK(n == 3, "b's grant and the two it derived from it: %ld", n);
		CHECK(p[0] == REV_GRANTED && p[1] == REV_ACK, "a's own mapping is untouched");
		struct keel_cap_info fi;
		CHECK(sys_cap_info((uint32_t)f, &fi) == 0 && (fi.flags & KEEL_CAPF_MAPPED), "a's own capability kept");
	}
	while (!keel_env_gone((uint32_t)eslot))
		sys_yield();
	printf("vm revoke a: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

static int mode_revoke_b(void)
{
	struct keel_cap_info gi;
	long g = -1;
	for (long i = 0; i < 100000 && g < 0; i++)
		if ((g = vm_find_cap(0, KEEL_CAP_FRAME, from_other, 0, &gi)) < 0)
			sys_yield();
	if (g < 0) {
		printf("vm revoke b: FAILED: nothing granted\n");
		return 1;
	}
	uint64_t v = vrange(2 * PAGE, 0, NULL);
	CHECK(vm_map(v, (uint32_t)g, KEEL_MAP_WRITE) == 0, "map the granted frame");
	/* Derive two more, a chain, and map the first read-only elsewhere. */
	long d1 = sys_cap_derive((uint32_t)g, KEEL_R_READ | KEEL_R_GRANT, KEEL_SELF);
	long d2 = d1 >= 0 ? sys_cap_derive((uint32_t)d1, KEEL_R_READ, KEEL_SELF) : -1;
	CHECK(d1 >= 0 && d2 >= 0, "derive: %s %s", errname((int)d1), errname((int)d2));
	CHECK(vm_map(v + PAGE, (uint32_t)d1, 0) == 0, "map the derived copy read-only");
	volatile uint64_t *p = (void *)v, *ro = (void *)(v + PAGE);
	CHECK(p[0] == REV_GRANTED && ro[0] == REV_GRANTED, "a's data through both mappings");
	printf("vm revoke b: mapped a's frame at %#llx and a derived read-only copy at %#llx; read %#llx\n",
	       (unsigned long long)v, (unsigned long long)(v + PAGE), (unsigned long long)p[0]);
	uint64_t told_before = revoked_events;
	p[1] = REV_ACK;
	for (long i = 0; i < 100000 && revoked_events == told_before; i++)
		sys_yield();
	CHECK(revoked_events > told_before, "told by upcall");
	printf("vm revoke b: told by upcall (KEEL_EV_REVOKED; the area counts %llu capabilities revoked)\n",
	       (unsigned long long)keel_area->revoked);
	CHECK(keel_area->revoked == 3, "three capabilities counted");
	expect_fault("read through the revoked mapping", probe_read(v), 0x4, v);
	expect_fault("read through the revoked derived mapping", probe_read(v + PAGE), 0x4, v + PAGE);
	CHECK(vm_pte(v) == 0 && vm_pte(v + PAGE) == 0, "both entries clear");
	struct keel_cap_info info;
	long e0 = sys_cap_info((uint32_t)g, &info), e1 = sys_cap_info((uint32_t)d1, &info),
	     e2 = sys_cap_info((uint32_t)d2, &info);
	printf("vm revoke b: next accesses fault; the granted and derived slots: %s %s %s\n", errname((int)e0),
	       errname((int)e1), errname((int)e2));
	CHECK(e0 == -EBADSLOT && e1 == -EBADSLOT && e2 == -EBADSLOT, "every derived capability gone");
	CHECK(audit() == 0, "page-table audit");
	printf("vm revoke b: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

/* ----------------------------------------------------------------- demand */
#define DEMAND_SIZE (64ULL << 20)
#define DEMAND_PAGES (DEMAND_SIZE / PAGE)
static uint64_t demand_base;
static uint32_t demand_slot[DEMAND_PAGES];
static uint64_t demand_faults;

static long demand_fault(uint64_t cr2, uint64_t err)
{
	if (cr2 - demand_base >= DEMAND_SIZE || (err & 1))
		return -1; /* not ours, or a protection fault */
	uint64_t page = (cr2 - demand_base) / PAGE;
	long f = vm_map_new(demand_base + page * PAGE, KEEL_MAP_WRITE);
	if (f < 0) {
		printf("vm demand: cannot map %#llx: %s\n", (unsigned long long)cr2, errname((int)f));
		return -1;
	}
	demand_slot[page] = (uint32_t)f;
	demand_faults++;
	return 0;
}

static uint64_t pattern(uint64_t va) { return (va * 0x9E3779B97F4A7C15ULL) ^ (va >> 17) ^ 0xD1B54A32D192ED03ULL; }

static int mode_demand(void)
{
	struct keel_quota_info q0, q1, q2;
	quota(&q0);
	long vr;
	demand_base = vrange(DEMAND_SIZE, 2 << 20, &vr);
	pf_hook = demand_fault;
	uint64_t t0 = sys_time(), nonzero = 0;
	/* The app: touch every page (zero on first touch), fill, sum. */
	for (uint64_t p = 0; p < DEMAND_PAGES; p++)
		nonzero += *(volatile uint64_t *)(demand_base + p * PAGE) != 0;
	for (uint64_t a = demand_base; a < demand_base + DEMAND_SIZE; a += 8)
		*(uint64_t *)a = pattern(a);
	uint64_t sum = 0, want = 0; /* order-dependent: a swapped or aliased page shows */
	for (uint64_t a = demand_base; a < demand_base + DEMAND_SIZE; a += 8) {
		sum = (sum ^ *(volatile uint64_t *)a) * 0x100000001B3ULL;
		want = (want ^ pattern(a)) * 0x100000001B3ULL;
	}
	uint64_t t1 = sys_time();
	pf_hook = NULL;
	quota(&q1);
	uint64_t dirty = 0;
	for (uint64_t p = 0; p < DEMAND_PAGES; p++)
		dirty += (vm_pte(demand_base + p * PAGE) & (VM_P | VM_A | VM_D)) == (VM_P | VM_A | VM_D);
	printf("vm demand: %llu MiB at %#llx: %llu page faults mapped %llu zero pages (%llu not zero) in %llu ms; "
	       "checksum %#llx, expected %#llx; %llu PTEs present, accessed and dirty\n",
	       (unsigned long long)(DEMAND_SIZE >> 20), (unsigned long long)demand_base,
	       (unsigned long long)demand_faults, (unsigned long long)DEMAND_PAGES, (unsigned long long)nonzero,
	       (unsigned long long)((t1 - t0) / 1000000), (unsigned long long)sum, (unsigned long long)want,
	       (unsigned long long)dirty);
	CHECK(demand_faults == DEMAND_PAGES && nonzero == 0 && sum == want && dirty == DEMAND_PAGES, "demand paging");
	CHECK(audit() == 0, "page-table audit with 64 MiB mapped");
	printf("vm demand: while mapped: %u frames used (%u before), %llu free\n", q1.frames_used, q0.frames_used,
	       (unsigned long long)q1.frames_free);

	/* Unmap: one batch per level-1 table (512 entries), then free. */
	static struct keel_mmu_op ops[KEEL_MMU_BATCH_MAX];
	uint64_t batches = 0;
	for (uint64_t p = 0; p < DEMAND_PAGES; p += KEEL_MMU_BATCH_MAX) {
		long t = vm_table(1, demand_base + p * PAGE, 0);
		CHECK(t >= 0, "the table is known");
		for (unsigned i = 0; i < KEEL_MMU_BATCH_MAX; i++)
			ops[i] = op((uint32_t)t, l1_index(demand_base + (p + i) * PAGE), KEEL_CAP_NONE, 0);
		uint64_t done = 0;
		long err = sys_mmu_update(ops, KEEL_MMU_BATCH_MAX, &done);
		CHECK(err == 0 && done == KEEL_MMU_BATCH_MAX, "batch unmap: %s after %llu", errname((int)err),
		      (unsigned long long)done);
		batches++;
	}
	for (uint64_t p = 0; p < DEMAND_PAGES; p++)
		CHECK(sys_cap_delete(demand_slot[p]) == 0, "delete frame %llu", (unsigned long long)p);
	vm_trim(demand_base, DEMAND_SIZE);
	CHECK(sys_cap_delete((uint32_t)vr) == 0, "delete the range");
	quota(&q2);
	printf("vm demand: unmapped in %llu batches of %u; frames used %u -> %u -> %u, free %llu -> %llu -> %llu, "
	       "capabilities %u -> %u -> %u\n",
	       (unsigned long long)batches, KEEL_MMU_BATCH_MAX, q0.frames_used, q1.frames_used, q2.frames_used,
	       (unsigned long long)q0.frames_free, (unsigned long long)q1.frames_free,
	       (unsigned long long)q2.frames_free, q0.caps_used, q1.caps_used, q2.caps_used);
	CHECK(q2.frames_used == q0.frames_used && q2.frames_free == q0.frames_free && q2.caps_used == q0.caps_used,
	      "every frame returned");
	printf("vm demand: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

/* -------------------------------------------------------------------- neg */
static const char *mode_name; /* (the line's prefix) */
static void expect(const char *rule, long got, int want)
{
	printf("vm %s: %-36s %s\n", mode_name, rule, got < 0 ? errname((int)got) : "accepted");
	CHECK(got == -want, "%s: want %s, got %ld", rule, errname(want), got);
}

static int mode_neg(void)
{
	long eslot = other_env(), vr;
	uint64_t v = vrange(8 * PAGE, 16 * PAGE, &vr); /* 8 pages and a guard in one table */
	long f = sys_frame_alloc(), t1 = vm_table(1, v, 1), pd = vm_table(2, v, 1);
	CHECK(f >= 0 && t1 >= 0 && pd >= 0, "set-up");
	unsigned i = l1_index(v);
	struct keel_cap_info info;

	/* Foreign: the slots the other env holds our frame and table in --
	 * names in its space, none in ours. */
	long gf, gt;
	do
		gf = sys_cap_derive((uint32_t)f, KEEL_R_READ, (uint32_t)eslot);
	while (gf >= 0 && sys_cap_info((uint32_t)gf, &info) != -EBADSLOT);
	do
		gt = sys_cap_derive((uint32_t)t1, KEEL_R_READ, (uint32_t)eslot);
	while (gt >= 0 && sys_cap_info((uint32_t)gt, &info) != -EBADSLOT);
	expect("foreign frame", update1(op((uint32_t)t1, i, (uint32_t)gf, 0)), EBADSLOT);
	expect("foreign table", update1(op((uint32_t)gt, i, (uint32_t)f, 0)), EBADTABLE);

	long r = sys_cap_derive((uint32_t)f, KEEL_R_READ, KEEL_SELF);
	expect("rights escalation: map writable", update1(op((uint32_t)t1, i, (uint32_t)r, KEEL_MAP_WRITE)), ERIGHTS);
	expect("rights escalation: derive", sys_cap_derive((uint32_t)r, KEEL_R_READ | KEEL_R_WRITE, KEEL_SELF), ERIGHTS);
	expect("kernel half", update1(op(KEEL_TABLE_PML4, 300, (uint32_t)f, 0)), EKHALF);
	expect("slot 511", update1(op(KEEL_TABLE_PML4, 511, (uint32_t)f, 0)), ESLOT511);
	expect("page-table page mapped writable", update1(op((uint32_t)t1, i, (uint32_t)t1, KEEL_MAP_WRITE)), EPTPAGE);
	expect("G bit", update1(op((uint32_t)t1, i, (uint32_t)f, KEEL_MAP_WRITE | KEEL_MAP_GLOBAL)), EGLOBAL);
	expect("U clear", update1(op((uint32_t)t1, i, (uint32_t)f, KEEL_MAP_NOUSER)), EUSER);
	expect("non-write-back type (PCD)", update1(op((uint32_t)t1, i, (uint32_t)f, KEEL_MAP_PCD)), EMEMTYPE);
	expect("non-write-back type (PWT)", update1(op((uint32_t)t1, i, (uint32_t)f, KEEL_MAP_PWT)), EMEMTYPE);
	/* The guard page after our range: in a table we hold, in no range. */
	uint64_t outside = v + 8 * PAGE;
	long to = vm_table(1, outside, 1);
	expect("address outside the caller's ranges", update1(op((uint32_t)to, l1_index(outside), (uint32_t)f, 0)),
	       EVRANGE);
	CHECK(update1(op((uint32_t)t1, i, (uint32_t)f, KEEL_MAP_WRITE)) == 0, "a valid mapping");
	expect("retype with references", sys_pt_retype((uint32_t)f, 1, 0), EREFS);
	long g = sys_frame_alloc();
	CHECK(sys_pt_retype((uint32_t)g, 1, 0) == 0, "retype a fresh frame: level 1 at 0");
	expect("wrong level", update1(op(KEEL_TABLE_PML4, 0, (uint32_t)g, 0)), ELEVEL);
	expect("index out of range", update1(op((uint32_t)t1, 512, (uint32_t)f, 0)), EINDEX);
	static struct keel_mmu_op big[KEEL_MMU_BATCH_MAX + 1];
	uint64_t done = 99;
	expect("batch over the bound", sys_mmu_update(big, KEEL_MMU_BATCH_MAX + 1, &done), E2BIG);
	CHECK(done == 99, "nothing applied");

	/* Quotas: exhaust this env's, then prove they are this env's only
	 * (the guard allocates after we are gone). */
	long n = 0, last;
	static uint32_t held[4096];
	while ((last = sys_frame_alloc()) >= 0 && n < 4096)
		held[n++] = (uint32_t)last;
	expect("quota exhausted (frames)", last, EDQUOT);
	printf("vm neg: %ld frames allocated before the quota ran out\n", n);
	for (long k = 0; k < n; k++)
		sys_cap_delete(held[k]);
	long h = sys_frame_alloc(), m = 0;
	while ((last = sys_cap_derive((uint32_t)h, KEEL_R_READ, KEEL_SELF)) >= 0)
		m++;
	expect("quota exhausted (capabilities)", last, EDQUOT);
	expect("quota exhausted (address space)", sys_vrange_alloc(1ULL << 30, 0), EDQUOT);
	long back = sys_cap_revoke((uint32_t)h);
	printf("vm neg: %ld capabilities derived before the quota ran out; revoke removed %ld\n", m, back);
	CHECK(back == m, "revoke takes them all");

	/* The rest of the rules, each with its own code. */
	expect("wrong type (a range as a frame)", update1(op((uint32_t)t1, i + 1, (uint32_t)vr, 0)), ETYPE);
	expect("table bound elsewhere", update1(op((uint32_t)pd, ((unsigned)(v >> 21) & 511) ^ 1, (uint32_t)t1, 0)),
	       EBINDING);
	expect("entry in use", update1(op((uint32_t)t1, i, (uint32_t)h, 0)), EEXIST);
	expect("capability already mapped", update1(op((uint32_t)t1, i + 1, (uint32_t)f, 0)), EMAPPED);
	expect("the window's slot", update1(op(KEEL_TABLE_PML4, KEEL_PT_WINDOW_SLOT, (uint32_t)f, 0)), EWINDOW);
	expect("clear an empty entry", update1(op((uint32_t)t1, i + 2, KEEL_CAP_NONE, 0)), ENOENT);
	expect("unknown flag", update1(op((uint32_t)t1, i + 2, (uint32_t)h, 0x40)), EINVAL);
	expect("ops in the kernel half", sys_mmu_update((void *)0xFFFFFFFF80000000ULL, 1, NULL), EFAULT);
	expect("retype level 4", sys_pt_retype((uint32_t)h, 4, 0), ELEVEL);
	expect("empty slot", sys_cap_delete(0xFFFFFF), EBADSLOT);
	/* A batch stops at its first invalid operation, and says where. */
	struct keel_mmu_op three[3] = { op((uint32_t)t1, i + 3, (uint32_t)h, 0),
					op((uint32_t)t1, i + 4, (uint32_t)vr, 0),
					op((uint32_t)t1, i + 5, (uint32_t)r, 0) };
	done = 99;
	expect("batch: second op invalid", sys_mmu_update(three, 3, &done), ETYPE);
	printf("vm neg: the batch applied %llu operation(s)\n", (unsigned long long)done);
	CHECK(done == 1 && (vm_pte(v + 3 * PAGE) & VM_P) && !(vm_pte(v + 5 * PAGE) & VM_P), "applied up to it");
	CHECK(audit() == 0, "page-table audit");
	printf("vm neg: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

/* ---------------------------------------------------------------- onecall */
static int same_quota(const struct keel_quota_info *a, const struct keel_quota_info *b)
{
	return a->frames_used == b->frames_used && a->caps_used == b->caps_used && a->frames_free == b->frames_free;
}

#define ONECALL_PAGES 1024 /* a 4 MiB range: more than the boot's frame quota */
static int mode_onecall(void)
{
	struct keel_quota_info q0, q1, q2;
	long vr;
	uint64_t v = vrange(ONECALL_PAGES * PAGE, 2 << 20, &vr);
	long t = vm_table(1, v, 1), pd = vm_table(2, v, 1);
	CHECK(t >= 0 && pd >= 0, "set-up");
	quota(&q0);

	/* One page: a zeroed frame, mapped writable, its slot written back. */
	long f = vm_map_new(v, KEEL_MAP_WRITE);
	struct keel_cap_info info;
	CHECK(f >= 0 && sys_cap_info((uint32_t)f, &info) == 0, "allocate and map: %s", errname((int)f));
	uint64_t pte = vm_pte(v);
	CHECK(info.type == KEEL_CAP_FRAME && (info.flags & KEEL_CAPF_MAPPED) && info.map_va == v &&
	      (pte & VM_P) && (pte & VM_W) && (pte & ~0xFFFULL & ((1ULL << 52) - 1)) == info.base,
	      "the new frame is mapped at %#llx (pte %#llx)", (unsigned long long)v, (unsigned long long)pte);
	uint64_t zero = 0;
	for (uint64_t a = v; a < v + PAGE; a += 8)
		zero |= *(volatile uint64_t *)a;
	*(volatile uint64_t *)v = 0x5EED;
	quota(&q1);
	printf("vm onecall: slot %ld mapped at %#llx in one call, pte %#llx, read %s; frames %u -> %u, capabilities %u -> %u\n",
	       f, (unsigned long long)v, (unsigned long long)pte, zero ? "NOT ZERO" : "zero", q0.frames_used,
	       q1.frames_used, q0.caps_used, q1.caps_used);
	CHECK(!zero && q1.frames_used == q0.frames_used + 1 && q1.caps_used == q0.caps_used + 1, "one frame, one capability");
	/* ... and back in one call, with what was derived from it. */
	long d = sys_cap_derive((uint32_t)f, KEEL_R_READ, KEEL_SELF);
	CHECK(d >= 0, "derive");
	long r = vm_unmap_free(v);
	quota(&q2);
	printf("vm onecall: unmapped and deleted in one call: %s; the frame's slot %s, the derived one %s; %s\n",
	       r ? errname((int)r) : "ok", errname(sys_cap_info((uint32_t)f, &info)),
	       errname(sys_cap_info((uint32_t)d, &info)), same_quota(&q0, &q2) ? "all back" : "NOT ALL BACK");
	CHECK(r == 0 && vm_pte(v) == 0 && sys_cap_info((uint32_t)f, &info) == -EBADSLOT &&
	      sys_cap_info((uint32_t)d, &info) == -EBADSLOT && same_quota(&q0, &q2), "unmap and free");
	expect_fault("a read after the free", probe_read(v), 0x4, v);

	/* Refusals: each leaves the entry clear and the quotas as they were. */
	unsigned i = l1_index(v);
	expect("new frame into a level-2 table", update1(op((uint32_t)pd, (unsigned)(v >> 21) & 511, KEEL_CAP_NEW, 0)),
	       ELEVEL);
	expect("new frame with the G bit", update1(op((uint32_t)t, i, KEEL_CAP_NEW, KEEL_MAP_GLOBAL)), EGLOBAL);
	CHECK(vm_map(v + PAGE, (uint32_t)sys_frame_alloc(), 0) == 0, "a page mapped the old way");
	expect("new frame into an entry in use", update1(op((uint32_t)t, i + 1, KEEL_CAP_NEW, 0)), EEXIST);
	uint64_t outside = v + ONECALL_PAGES * PAGE; /* the next table, in no range of ours */
	long to = vm_table(1, outside, 1);
	/* An op on a page mapped read-only: the kernel reads it, but cannot
	 * write the new slot back -- the frame goes again. */
	long rf = sys_frame_alloc();
	uint64_t rp = v + 3 * PAGE;
	CHECK(rf >= 0 && vm_map(rp, (uint32_t)rf, KEEL_MAP_WRITE) == 0, "a page for the op");
	*(struct keel_mmu_op *)rp = op((uint32_t)t, i + 2, KEEL_CAP_NEW, KEEL_MAP_WRITE);
	CHECK(vm_map(rp, (uint32_t)rf, 0) == 0, "remapped read-only");
	quota(&q1);
	expect("new frame outside the caller's ranges", update1(op((uint32_t)to, l1_index(outside), KEEL_CAP_NEW, 0)),
	       EVRANGE);
	uint64_t done = 99;
	expect("new frame, its op read-only", sys_mmu_update((const struct keel_mmu_op *)rp, 1, &done), EFAULT);
	quota(&q2);
	CHECK(done == 0 && same_quota(&q1, &q2) && vm_pte(v + 2 * PAGE) == 0, "the refusals took nothing");
	CHECK(vm_unmap_free(rp) == 0, "free the op's page");
	expect("free an empty entry", update1(op((uint32_t)t, i + 2, KEEL_CAP_FREE, 0)), ENOENT);
	expect("free a table", update1(op((uint32_t)pd, (unsigned)(v >> 21) & 511, KEEL_CAP_FREE, 0)), ETYPE);
	CHECK(vm_unmap_free(v + PAGE) == 0, "free the page mapped the old way");

	/* Batches: as many pages as the frame quota allows (the boot sets it
	 * below the range's 1,024), each slot written back into its op; the
	 * first refused one stops the batch, having taken nothing. */
	static struct keel_mmu_op ops[KEEL_MMU_BATCH_MAX];
	uint64_t mapped = 0, stop = 0;
	long err = 0;
	quota(&q0);
	for (uint64_t p = 0; p < ONECALL_PAGES && !err; p += KEEL_MMU_BATCH_MAX) {
		long tp = vm_table(1, v + p * PAGE, 1);
		for (unsigned k = 0; k < KEEL_MMU_BATCH_MAX; k++)
			ops[k] = op((uint32_t)tp, l1_index(v + (p + k) * PAGE), KEEL_CAP_NEW, KEEL_MAP_WRITE);
		done = 0;
		err = sys_mmu_update(ops, KEEL_MMU_BATCH_MAX, &done);
		mapped += done;
		uint64_t bad = 0;
		for (unsigned k = 0; k < done; k++)
			bad += ops[k].cap == KEEL_CAP_NEW || sys_cap_info(ops[k].cap, &info) || info.map_va != v + (p + k) * PAGE;
		CHECK(bad == 0, "%llu slots written back wrong", (unsigned long long)bad);
		if (err)
			stop = p + done;
	}
	quota(&q1);
	printf("vm onecall: batches mapped %llu new pages, then %s at page %llu; frames %u -> %u (quota %u)\n",
	       (unsigned long long)mapped, err ? errname((int)err) : "none refused", (unsigned long long)stop,
	       q0.frames_used, q1.frames_used, q1.frames_quota);
	CHECK(err == -EDQUOT && q1.frames_used == q1.frames_quota && q1.frames_used == q0.frames_used + mapped &&
	      q1.caps_used == q0.caps_used + mapped && vm_pte(v + stop * PAGE) == 0, "mapped up to the quota");
	uint64_t freed = 0;
	for (uint64_t p = 0; p < mapped; p += KEEL_MMU_BATCH_MAX) {
		long tp = vm_table(1, v + p * PAGE, 0);
		unsigned n = (unsigned)(mapped - p < KEEL_MMU_BATCH_MAX ? mapped - p : KEEL_MMU_BATCH_MAX);
		for (unsigned k = 0; k < n; k++)
			ops[k] = op((uint32_t)tp, l1_index(v + (p + k) * PAGE), KEEL_CAP_FREE, 0);
		done = 0;
		CHECK(sys_mmu_update(ops, n, &done) == 0, "free batch");
		freed += done;
	}
	quota(&q2);
	printf("vm onecall: batches unmapped and deleted %llu; frames %u -> %u -> %u, capabilities %u -> %u -> %u\n",
	       (unsigned long long)freed, q0.frames_used, q1.frames_used, q2.frames_used, q0.caps_used, q1.caps_used,
	       q2.caps_used);
	CHECK(freed == mapped && same_quota(&q0, &q2), "every frame and capability back");
	vm_trim(v, (ONECALL_PAGES + 512) * PAGE);
	CHECK(sys_cap_delete((uint32_t)vr) == 0, "delete the range");
	CHECK(audit() == 0, "page-table audit");
	printf("vm onecall: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

/* ------------------------------------------------------------------ guard */
static int mode_guard(void)
{
	long eslot = other_env();
	enum { PAGES = 16 };
	uint64_t v = vrange(PAGES * PAGE, 0, NULL);
	for (unsigned p = 0; p < PAGES; p++)
		CHECK(vm_map_new(v + p * PAGE, KEEL_MAP_WRITE) >= 0, "map");
	for (uint64_t a = v; a < v + PAGES * PAGE; a += 8)
		*(uint64_t *)a = pattern(a ^ (uint64_t)id);
	uint64_t checks = 0, bad = 0;
	for (;;) {
		int gone = keel_env_gone((uint32_t)eslot);
		for (uint64_t a = v; a < v + PAGES * PAGE; a += 8)
			bad += probe_read(a) != pattern(a ^ (uint64_t)id);
		checks++;
		if (gone)
			break;
		sys_yield();
	}
	long f = vm_map_new(v, KEEL_MAP_WRITE); /* the page is taken: a new frame must still come */
	CHECK(f == -EEXIST, "the page is still mapped");
	long extra = sys_frame_alloc();
	CHECK(extra >= 0, "this env's quota untouched: %s", errname((int)extra));
	printf("vm guard: memory intact through %llu checks (%llu bad words); %llu capabilities granted to it "
	       "were revoked; it can still allocate\n",
	       (unsigned long long)checks, (unsigned long long)bad, (unsigned long long)keel_area->revoked);
	CHECK(bad == 0, "memory intact");
	printf("vm guard: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

/* ------------------------------------------------------------------ churn */
static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }

#define POOL 256
static uint32_t pool[POOL]; /* capabilities this run made */
static unsigned npool;
/* Slots below it hold the program's own capabilities (its image, stack and
 * tables): never named, so never derived from, changed or deleted -- the
 * churn must not destroy the code running it. */
static uint32_t first_slot;
static uint64_t churn_base, churn_size;

static uint32_t any_slot(void)
{
	switch (below(4)) {
	case 0:
		return first_slot + (uint32_t)below(1u << 20); /* anything: mostly empty */
	case 1:
		return first_slot + (uint32_t)below(64);
	default:
		return npool ? pool[below(npool)] : first_slot;
	}
}
static uint32_t own_slot(void) { return npool ? pool[below(npool)] : 0xFFFFFF; }
static void keep(long s)
{
	if (s < 0 || (uint32_t)s < first_slot)
		return;
	if (npool < POOL)
		pool[npool++] = (uint32_t)s;
	else
		pool[below(POOL)] = (uint32_t)s;
}

static int known_code(long r)
{
	switch (-r) {
	case EBADSLOT: case ETYPE: case ERIGHTS: case EVRANGE: case EKHALF: case ESLOT511: case EPTPAGE:
	case EGLOBAL: case EUSER: case EMEMTYPE: case EREFS: case ELEVEL: case EINDEX: case EBINDING:
	case EMAPPED: case EWINDOW: case EBADTABLE: case EDQUOT: case EEXIST: case ENOENT: case EINVAL:
	case E2BIG: case EFAULT: case ENOMEM: case ENOSPC:
		return 1;
	default:
		return 0;
	}
}

/* What a raw operation installs, when not one of this run's own: the
 * sentinels (clear; clear and delete; a new frame) or any slot. */
static uint32_t raw_cap(void)
{
	static const uint32_t sentinel[] = { KEEL_CAP_NONE, KEEL_CAP_FREE, KEEL_CAP_NEW };
	return below(2) ? sentinel[below(3)] : any_slot();
}

static int mode_churn(uint64_t n)
{
	long eslot = other_env();
	struct keel_quota_info q0, q1;
	quota(&q0);
	first_slot = q0.cap_slots; /* the program's own capabilities are below */
	churn_size = 4 << 20;
	long vr;
	churn_base = vrange(churn_size, 2 << 20, &vr);
	keep(vr);
	uint64_t ok = 0, refused = 0, unknown = 0, granted = 0, audits = 0, problems = 0, by_code[128] = { 0 };
	static struct keel_mmu_op batch[KEEL_MMU_BATCH_MAX + 8];
	for (uint64_t k = 0; k < n; k++) {
		long r = 0;
		uint64_t va = churn_base + below(churn_size / PAGE) * PAGE;
		switch (below(16)) {
		case 0:
		case 1: /* a frame, or one allocated and mapped in one call */
			keep(r = below(4) ? sys_frame_alloc() : vm_map_new(va, (unsigned)below(4)));
			break;
		case 2:
			r = sys_cap_delete(below(8) ? own_slot() : any_slot());
			break;
		case 3: /* into this env (kept) or granted to the other */
			if (below(4)) {
				keep(r = sys_cap_derive(any_slot(), (unsigned)below(32), KEEL_SELF));
			} else {
				r = sys_cap_derive(any_slot(), (unsigned)below(32), (uint32_t)eslot);
				granted += r >= 0;
			}
			break;
		case 4:
			r = sys_cap_revoke(own_slot());
			break;
		case 5:
			r = vm_map(va, own_slot(), (unsigned)below(4) == 0 ? (unsigned)below(256) : (unsigned)below(4));
			break;
		case 6: /* clear the entry, or clear it and delete what mapped it */
			r = below(2) ? vm_unmap(va) : vm_unmap_free(va);
			break;
		case 7: {
			unsigned level = (unsigned)below(6);
			uint64_t span = 1ULL << (12 + 9 * (level ? level : 1));
			r = sys_pt_retype(own_slot(), level, below(2) ? churn_base & ~(span - 1) : rnd());
			break;
		}
		case 8: { /* a raw operation on a table this run made, or a foreign one */
			struct keel_mmu_op o = op(below(8) ? own_slot() : any_slot(), (unsigned)below(600),
						  below(8) ? own_slot() : raw_cap(),
						  (unsigned)below(128));
			r = update1(o);
			break;
		}
		case 9: { /* a batch, sometimes over the bound */
			uint64_t m = below(8) ? below(16) : KEEL_MMU_BATCH_MAX + below(8);
			for (uint64_t j = 0; j < m; j++)
				batch[j] = op(own_slot(), (unsigned)below(512), own_slot(), (unsigned)below(4));
			uint64_t done;
			r = sys_mmu_update(batch, m, &done);
			break;
		}
		case 10: {
			struct keel_cap_info info;
			r = sys_cap_info(any_slot(), &info);
			break;
		}
		case 11:
			keep(r = sys_vrange_alloc(below(8) ? (below(16) + 1) * PAGE : rnd(), below(4) ? 0 : 1ULL << below(40)));
			break;
		case 12: /* PML4 operations: never slot 0 (the program) nor KEEL_CAP_NONE */
			r = update1(op(KEEL_TABLE_PML4, 1 + (unsigned)below(520), own_slot(), (unsigned)below(8)));
			break;
		case 13: /* bad pointers */
			r = sys_mmu_update((void *)(below(2) ? 0xFFFF800000000000ULL : 8), below(4) + 1, NULL);
			break;
		case 14: /* read the window: never a syscall, never a fault */
			(void)vm_entry(va, 1 + (unsigned)below(4));
			break;
		default: /* touch the churned range: a fault is fine */
			r = (long)probe_read(va) == (long)PROBE_FAULTED ? -EFAULT : 0;
			break;
		}
		if (k % 1000 == 999) {
			problems += (uint64_t)audit();
			audits++;
		}
		if (r >= 0) {
			ok++;
		} else if (known_code(r)) {
			refused++;
			by_code[-r & 127]++;
		} else {
			unknown++;
			if (unknown < 5)
				printf("vm churn: op %llu: unexpected result %ld\n", (unsigned long long)k, r);
		}
	}
	quota(&q1);
	printf("vm churn: %llu operations: %llu accepted, %llu refused with a known code, %llu unexpected\n",
	       (unsigned long long)n, (unsigned long long)ok, (unsigned long long)refused, (unsigned long long)unknown);
	printf("vm churn: %llu kernel audits of its page tables on the way: %llu problems\n", (unsigned long long)audits,
	       (unsigned long long)problems);
	CHECK(problems == 0, "the tables stayed consistent");
	printf("vm churn: refusals:");
	for (int c = 0; c < 128; c++)
		if (by_code[c])
			printf(" %s %llu", errname(c), (unsigned long long)by_code[c]);
	printf("\nvm churn: %llu capabilities granted to the other env\n", (unsigned long long)granted);
	printf("vm churn: holding %u capabilities (%u at start) and %u frames (%u at start); exiting without "
	       "cleaning up\n",
	       q1.caps_used, q0.caps_used, q1.frames_used, q0.frames_used);
	CHECK(unknown == 0, "every refusal has a known code");
	printf("vm churn: %s\n", failures ? "FAILED" : "ok");
	return failures;
}

/* ------------------------------------------------------------------- main */
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "basic", *role = argc > 2 ? argv[2] : "";
	id = sys_env_id();
	int err = keel_upcalls_init(on_event, on_trap);
	if (!err)
		err = vm_init();
	if (err) {
		printf("vm: set-up failed: %s\n", errname(err));
		return 2;
	}
	if (!strcmp(mode, "basic"))
		return mode_basic();
	if (!strcmp(mode, "share"))
		return !strcmp(role, "b") ? mode_share_b() : mode_share_a();
	if (!strcmp(mode, "areashare"))
		return !strcmp(role, "b") ? mode_areashare_b() : mode_areashare_a();
	if (!strcmp(mode, "revoke"))
		return !strcmp(role, "b") ? mode_revoke_b() : mode_revoke_a();
	if (!strcmp(mode, "demand"))
		return mode_demand();
	mode_name = mode;
	if (!strcmp(mode, "neg"))
		return mode_neg();
	if (!strcmp(mode, "onecall"))
		return mode_onecall();
	if (!strcmp(mode, "guard"))
		return mode_guard();
	if (!strcmp(mode, "churn")) {
		uint64_t n = keel_atou(*role ? role : "100000"), seed = argc > 3 ? keel_atou(argv[3]) : 0;
		rng ^= seed * 0xD1B54A32D192ED03ULL;
		return mode_churn(n);
	}
	printf("vm: unknown mode %s\n", mode);
	return 2;
}
