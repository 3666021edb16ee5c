/*
 * `fuzz SEED CHILDREN ITERS`: a seeded syscall fuzzer. The supervisor spawns
 * CHILDREN children one after another (`fuzz child SEED+k ITERS`); each makes
 * ITERS random kernel calls -- random numbers and arguments, capability
 * indices and rights, pointers into the kernel slot, non-canonical,
 * unaligned, unmapped or straddling a page end, huge lengths, batches of
 * page-table updates, spawns -- and now and then writes random words into
 * its own upcall area. A child may well wreck itself (delete its own code's
 * capability, corrupt its area): then the kernel must end it alone, and the
 * supervisor starts the next. Run beside `victim`; the test checks the
 * victim's memory and the kernel's counts afterwards (tests/test_hostile.py).
 * Same seed, same calls: each child prints a running hash of every call and
 * its result. A call counts as accepted when it returned >= 0.
 */
#include "env.h"
#include "keel.h"
#include "lib/errname.h"
#include "lib/string.h"
#include "rand.h"
#include "vm.h"

static struct keel_rand rng;
static uint64_t iter, iters, accepted, refused, held_back, scribbles, codes[128];
static unsigned batch_len; /* the ops mmu_batch() built last */

/*
 * A running FNV-1a hash of everything the child did: each call's number,
 * arguments, the structures they point at (page-table batches, spawn
 * requests), how it entered and what came back; each scribble's place and
 * word. Printed with every progress line: the same seed must give the same
 * hash (tests/test_hostile.py), so a replay is checked call by call, not by
 * its totals.
 */
static uint64_t hash = 0xcbf29ce484222325ULL;

static void hash_bytes(const void *p, uint64_t n)
{
	const uint8_t *b = p;
	for (uint64_t i = 0; i < n; i++) {
		hash ^= b[i];
		hash *= 0x100000001b3ULL;
	}
}

static void hash_word(uint64_t w) { hash_bytes(&w, sizeof w); }
static uint8_t scratch[65536] __attribute__((aligned(4096)));
static uint64_t straddle_end; /* a mapped page's end, the next page unmapped */
static uint32_t nslots;       /* the capability space's extent at start */

static long sc(long nr, long a0, long a1, long a2, long a3, long a4, int via_int)
{
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	long ret = nr;
	if (via_int)
		__asm__ volatile("int $0x80"
				 : "+a"(ret), "+D"(a0), "+S"(a1), "+d"(a2), "+r"(r10), "+r"(r8)
				 :
				 : "rcx", "r9", "r11", "memory");
	else
		__asm__ volatile("syscall"
				 : "+a"(ret), "+D"(a0), "+S"(a1), "+d"(a2), "+r"(r10), "+r"(r8)
				 :
				 : "rcx", "r9", "r11", "memory");
	return ret;
}

static uint64_t pick(uint64_t n) { return rand_below(&rng, n); }

/* An interesting 64-bit value. */
static uint64_t value(void)
{
	static const uint64_t edges[] = {
		0, 1, 2, 3, 7, 8, 15, 16, 63, 64, 255, 256, 511, 512, 513, 4095, 4096, 4097, 0x7FFFFFFF, 0x80000000,
		0xFFFFFFFF, 0x100000000ULL, 0x7FFFFFFFFFFFFFFFULL, 0x8000000000000000ULL, ~0ULL, ~0ULL - 1,
		0xFFFFFFFFFFFFF000ULL, 1ULL << 47, (1ULL << 47) - 1, (1ULL << 47) - 4096,
	};
	switch (pick(4)) {
	case 0:
		return edges[pick(ARRAY_SIZE(edges))];
	case 1:
		return pick(64);
	case 2:
		return 1ULL << pick(64);
	default:
		return rand_next(&rng);
	}
}

/* An interesting pointer. */
static uint64_t pointer(void)
{
	switch (pick(14)) {
	case 0:
		return 0;
	case 1:
		return pick(0x10000);
	case 2:
		return 0xFFFFFF8000000000ULL + (pick(1ULL << 30) & ~7ULL); /* kernel slot: direct map */
	case 3:
		return 0xFFFFFFFF80000000ULL + pick(1ULL << 24);           /* kernel image */
	case 4:
		return 0x0000800000000000ULL + pick(1ULL << 40);           /* non-canonical */
	case 5:
		return 0xFFFF800000000000ULL + pick(1ULL << 40);           /* slots 256..510 */
	case 6:
		return (uint64_t)scratch + pick(sizeof scratch - 512);     /* ours, any alignment */
	case 7:
		return straddle_end - 1 - pick(256);                       /* runs off the mapped end */
	case 8:
		return pick(1ULL << 47);                                   /* anywhere in the user half */
	case 9:
		return (uint64_t)&value + pick(4096);                      /* our read-only text */
	case 10:
		return KEEL_PT_WINDOW_BASE + pick(1ULL << 30);             /* the read-only table window */
	case 11:
		return keel_area ? (uint64_t)keel_area + (pick(4096) & ~7ULL) : 0; /* our upcall area */
	case 12: {
		uint8_t on_stack[64];
		return (uint64_t)on_stack; /* a stack address that is live now */
	}
	default:
		return rand_next(&rng);
	}
}

static uint64_t length(void)
{
	switch (pick(5)) {
	case 0:
		return pick(16);
	case 1:
		return pick(8192);
	case 2:
		return 1ULL << pick(64);
	case 3:
		return ~0ULL - pick(4096);
	default:
		return value();
	}
}

static uint64_t slot(void)
{
	switch (pick(6)) {
	case 0:
		return KEEL_SELF;
	case 1:
		return KEEL_TABLE_PML4;
	case 2:
		return value();
	default:
		return pick(nslots + 8);
	}
}

/* A batch of page-table updates in scratch: mostly our own slots. */
static uint64_t mmu_batch(void)
{
	struct keel_mmu_op *ops = (struct keel_mmu_op *)scratch;
	unsigned n = 1 + (unsigned)pick(600);
	batch_len = n;
	for (unsigned i = 0; i < n; i++) {
		ops[i].table = pick(4) ? (uint32_t)slot() : KEEL_TABLE_PML4;
		if (ops[i].table < nslots && pick(32))
			ops[i].table += nslots; /* mostly spare the tables mapping our own image and stack */
		ops[i].index = (uint16_t)(pick(4) ? pick(512) : value());
		if (ops[i].table == KEEL_TABLE_PML4 && ops[i].index == 0 && pick(32))
			ops[i].index = 1 + (uint16_t)pick(253);
		ops[i].flags = (uint16_t)(pick(2) ? pick(4) : value());
		ops[i].cap = pick(4) ? (uint32_t)slot() : KEEL_CAP_NONE;
		ops[i].reserved = pick(8) ? 0 : (uint32_t)value();
	}
	return (uint64_t)ops;
}

/* Would deleting slot s take away CPUs it got from its parent? Deleting a
 * capability deletes what was derived from it, so only the CPU capabilities
 * it derived itself may go: never one of its own CPUs (then it would hold
 * none, and stay stopped for good). */
static int keeps_cpu(uint64_t s)
{
	struct keel_cap_info info;
	if (s > UINT32_MAX || sys_cap_info((uint32_t)s, &info) || info.type != KEEL_CAP_CPU)
		return 0;
	return info.from != (uint32_t)sys_env_id();
}

static uint64_t spawn_req(void)
{
	static const char *const images[] = { "hello", "fuzz", "ksyms", "victim", "nosuch" };
	struct keel_spawn *r = (struct keel_spawn *)(scratch + 32768);
	const char *img = images[pick(ARRAY_SIZE(images))];
	r->image = pick(4) ? img : (const char *)pointer();
	r->image_len = pick(4) ? strlen(img) : length();
	r->args = pick(2) ? "hi" : (const char *)pointer();
	r->args_len = pick(2) ? 2 : length();
	r->quota_frames = (uint32_t)(pick(2) ? 64 + pick(64) : value());
	r->quota_caps = (uint32_t)(pick(2) ? 16 + pick(16) : value());
	r->quota_envs = (uint32_t)(pick(2) ? 0 : value());
	/* (No extra draw from the generator: each seed's calls stay what they were.)
	 * KEEL_SPAWN_NO_CPUS: a child that holds no CPU, stopped; 2: an unknown flag. */
	r->flags = pick(8) ? 0 : (uint32_t)KEEL_SPAWN_NO_CPUS << (hash & 1);
	return (uint64_t)r;
}

/* A dispatcher start request: a CPU that may be up, an area and entry
 * drawn like any pointer (a start that passes every check runs the fuzzer's
 * garbage on another CPU: that dispatcher faults, and the env dies alone). */
static uint64_t disp_req(void)
{
	struct keel_disp_start *r = (struct keel_disp_start *)(scratch + 36864);
	r->cpu = (uint32_t)(pick(2) ? pick(4) : value());
	r->reserved = pick(8) ? 0 : (uint32_t)value();
	r->area = pick(2) ? pointer() & ~0xFFFULL : pointer();
	r->entry = pointer();
	r->stack = pointer();
	r->arg = value();
	return (uint64_t)r;
}

static void one_call(void)
{
	long nr = (long)pick(SYS_COUNT + 3);
	if (pick(16) == 0)
		nr = (long)value();
	uint64_t a[5] = { value(), value(), value(), value(), value() };
	for (int i = 0; i < 5; i++)
		switch (pick(4)) {
		case 0:
			a[i] = pointer();
			break;
		case 1:
			a[i] = slot();
			break;
		case 2:
			a[i] = length();
			break;
		}
	switch (nr) {
	case SYS_EXIT:
		held_back++;
		hash_word((uint64_t)nr);
		return; /* not yet */
	case SYS_MMU_UPDATE:
		if (pick(4))
			a[0] = mmu_batch();
		if (pick(2))
			a[1] = pick(600);
		break;
	case SYS_ENV_SPAWN:
		if (pick(4))
			a[0] = spawn_req();
		break;
	case SYS_EVENT_WAIT:
		/* Something must wake it: a deadline a little ahead, set while
		 * disabled. Enabled, a deadline that passes before the wait (a
		 * busy host, another CPU holding the kernel lock) goes to the
		 * event entry, and the wait then has nothing left to wake it;
		 * disabled, the event waits in `pending` and the wait returns. */
		if (keel_area)
			keel_area->disabled = 1;
		sys_set_deadline(sys_time() + 100000); /* not keel_now(): the area may be scribbled on */
		break;
	case SYS_RESUME:
		if (pick(16))
			a[0] = 3 + pick(1000); /* rarely a real save slot: that jumps into garbage */
		break;
	case SYS_UPCALL_SETUP:
		if (pick(8))
			a[0] = pointer() | 1; /* mostly misaligned: refused; rarely a real re-registration */
		break;
	case SYS_CAP_REVOKE:
	case SYS_CAP_DELETE:
		if (pick(32) && a[0] < nslots)
			a[0] = nslots + pick(64); /* mostly what it made itself, not its own image */
		if (nr == SYS_CAP_DELETE && keeps_cpu(a[0]))
			a[0] = nslots + (a[0] & 63); /* never a CPU it holds from its parent */
		break;
	case SYS_DEBUG:
		a[0] = pick(10);
		break;
	case SYS_DISP_START:
		if (pick(4))
			a[0] = disp_req();
		break;
	case SYS_EVENT_POST:
		/* itself or a slot; mostly a CPU index that may be up */
		if (pick(2))
			a[0] = pick(2) ? KEEL_SELF : slot();
		if (pick(4))
			a[1] = pick(4);
		break;
	case SYS_CONSOLE_WRITE: {
		/* Readable memory would print garbage: dots, or pointers the
		 * kernel must refuse (kernel half, non-canonical, off the end). */
		static const uint64_t bad[] = { 0xFFFFFF8000000000ULL, 0xFFFFFFFF80000000ULL, 0x0000800000000000ULL,
						0xFFFF800000000000ULL, 0x10 };
		if (pick(2)) {
			a[0] = (uint64_t)(scratch + 40000);
			a[1] = 0; /* a valid empty write: nothing on the console */
		} else {
			a[1] = pick(2) ? 64 + pick(64) : length();
			if (pick(2)) {
				a[0] = bad[pick(ARRAY_SIZE(bad))] + pick(4096);
			} else { /* always past the mapped end: nothing of it may be printed */
				a[1] = 2 + pick(200);
				a[0] = straddle_end - 1 - pick(a[1] - 1);
			}
		}
		break;
	}
	}
	int via_int = pick(8) == 0;
	hash_word((uint64_t)nr);
	hash_bytes(a, sizeof a);
	hash_word((uint64_t)via_int);
	if (a[0] == (uint64_t)scratch && nr == SYS_MMU_UPDATE)
		hash_bytes(scratch, batch_len * sizeof(struct keel_mmu_op));
	if (a[0] == (uint64_t)(scratch + 32768) && nr == SYS_ENV_SPAWN)
		hash_bytes(scratch + 32768, sizeof(struct keel_spawn));
	if (a[0] == (uint64_t)(scratch + 36864) && nr == SYS_DISP_START)
		hash_bytes(scratch + 36864, sizeof(struct keel_disp_start));
	long r = sc(nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4], via_int);
	if (nr == SYS_EVENT_WAIT && keel_area)
		keel_area->disabled = 0; /* (the next kernel entry delivers what is pending) */
	if (nr == SYS_DEBUG && a[0] == DEBUG_FLOOR_SYSCALL)
		sc(SYS_DEBUG, DEBUG_FLOOR_SYSCALL, 0, 0, 0, 0, 1); /* `syscall` back to the kernel */
	hash_word((uint64_t)r);
	/* Success is r >= 0 for every call (SYS_YIELD_TO and SYS_PCT_CALL
	 * return 0 once the other env has run, or replied). */
	if (r >= 0) {
		accepted++;
	} else {
		refused++;
		codes[-r < 128 ? -r : 0]++;
	}
}

/* A random word into our own upcall area: the kernel reads it later. */
static void scribble(void)
{
	scribbles++;
	if (!keel_area)
		return;
	uint64_t off = pick(4096) & ~7ULL;
	uint64_t w = pick(2) ? value() : pointer();
	hash_word(off);
	hash_word(w);
	*(volatile uint64_t *)((uint8_t *)keel_area + off) = w;
}

static void on_event(struct keel_upcall_area *a, uint64_t events, struct keel_context *interrupted)
{
	(void)a, (void)events, (void)interrupted;
}

static int on_trap(struct keel_upcall_area *a, uint64_t vector, uint64_t error, uint64_t cr2,
		   struct keel_context *ctx, int slot_)
{
	(void)a, (void)slot_;
	printf("fuzz child env %ld: trap %llu (error %#llx, cr2 %#llx) at rip %#llx after %llu iterations, hash %#018llx\n",
	       sys_env_id(), (unsigned long long)vector, (unsigned long long)error, (unsigned long long)cr2,
	       (unsigned long long)ctx->rip, (unsigned long long)iter, (unsigned long long)hash);
	sys_exit(3);
	return 1;
}

static int child(uint64_t seed, uint64_t n)
{
	rand_seed(&rng, seed);
	iters = n;
	if (vm_init() || keel_upcalls_init(on_event, on_trap))
		return 1;
	struct keel_quota_info q;
	sys_quota_info(&q);
	nslots = q.cap_slots;
	long vr = sys_vrange_alloc(2 * 4096, 0);
	struct keel_cap_info info;
	if (vr < 0 || sys_cap_info((uint32_t)vr, &info) || vm_map_new(info.base, KEEL_MAP_WRITE) < 0)
		return 1;
	straddle_end = info.base + 4096;
	for (iter = 0; iter < iters; iter++) {
		if (iter && iter % 500 == 0) /* how far it got, should it be killed later */
			printf("fuzz child env %ld: %llu iterations, hash %#018llx\n", sys_env_id(), (unsigned long long)iter,
			       (unsigned long long)hash);
		if (pick(500) == 0)
			scribble();
		else
			one_call();
	}
	printf("fuzz child env %ld seed %llu: %llu iterations, %llu accepted, %llu refused (EFAULT %llu, EINVAL %llu, "
	       "EBADSLOT %llu, ENOSYS %llu, EDQUOT %llu, other %llu), %llu SYS_EXIT held back, %llu scribbles; "
	       "hash %#018llx\n",
	       sys_env_id(), (unsigned long long)seed, (unsigned long long)iters, (unsigned long long)accepted,
	       (unsigned long long)refused, (unsigned long long)codes[EFAULT], (unsigned long long)codes[EINVAL],
	       (unsigned long long)codes[EBADSLOT], (unsigned long long)codes[ENOSYS],
	       (unsigned long long)codes[EDQUOT],
	       (unsigned long long)(refused - codes[EFAULT] - codes[EINVAL] - codes[EBADSLOT] - codes[ENOSYS] -
				    codes[EDQUOT]),
	       (unsigned long long)held_back, (unsigned long long)scribbles, (unsigned long long)hash);
	if (accepted + refused + held_back + scribbles != iters) {
		printf("fuzz child env %ld: FAILED: the counts do not add up to the iterations\n", sys_env_id());
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "child"))
		return child(argc > 2 ? keel_atou(argv[2]) : 1, argc > 3 ? keel_atou(argv[3]) : 1000);
	if (argc > 1 && (argv[1][0] < '0' || argv[1][0] > '9'))
		return 2; /* spawned by a child with garbage arguments */
	uint64_t seed = argc > 1 ? keel_atou(argv[1]) : 1;
	uint64_t children = argc > 2 ? keel_atou(argv[2]) : 10;
	uint64_t n = argc > 3 ? keel_atou(argv[3]) : 1000;
	for (uint64_t k = 0; k < children; k++) {
		char args[64];
		snprintf(args, sizeof args, "child %llu %llu", (unsigned long long)(seed + k), (unsigned long long)n);
		long s = keel_spawn("fuzz", args, 4096, 2048, 2);
		if (s == -ENOMEM) { /* the machine (or injected failures): that child is skipped */
			printf("fuzz: cannot spawn child %llu: ENOMEM, going on\n", (unsigned long long)k);
			continue;
		}
		if (s < 0) {
			printf("fuzz: cannot spawn child %llu: %s\n", (unsigned long long)k, errname((int)s));
			return 1;
		}
		keel_env_wait((uint32_t)s);
		sys_cap_delete((uint32_t)s);
	}
	printf("fuzz: seed %llu: %llu children x %llu iterations done\n", (unsigned long long)seed,
	       (unsigned long long)children, (unsigned long long)n);
	return 0;
}
