/* libos virtual memory over raw page tables: see vm.h. */
#include "vm.h"
#include "keel/errno.h"

/* The page tables installed in this env's tree, by level and virtual base,
 * found through a hash of (level, base): 100,000 thread stacks need 1,600
 * level-1 tables, and every demand fault looks one up. */
#define VM_TABLES_MAX 2048
#define VM_HASH (2 * VM_TABLES_MAX) /* a power of two; 0: empty, else 1 + an index into tables[] */
static struct {
	uint64_t vbase;
	uint32_t slot;
	uint32_t level;
} tables[VM_TABLES_MAX];
static unsigned ntables;
static uint16_t hash[VM_HASH];

static uint64_t span(unsigned level) { return 1ULL << (12 + 9 * level); } /* what a table covers */
static unsigned index_of(uint64_t va, unsigned level) { return (unsigned)(va >> (12 + 9 * (level - 1))) & 511; }

static unsigned hash_of(unsigned level, uint64_t vbase)
{
	uint64_t k = (vbase >> 12) * 0x9E3779B97F4A7C15ULL + level;
	return (unsigned)(k >> 40) & (VM_HASH - 1);
}

static void hash_add(int i)
{
	unsigned h = hash_of(tables[i].level, tables[i].vbase);
	while (hash[h])
		h = (h + 1) & (VM_HASH - 1);
	hash[h] = (uint16_t)(i + 1);
}

static int lookup(unsigned level, uint64_t vbase)
{
	for (unsigned h = hash_of(level, vbase); hash[h]; h = (h + 1) & (VM_HASH - 1)) {
		int i = hash[h] - 1;
		if (tables[i].level == level && tables[i].vbase == vbase)
			return i;
	}
	return -1;
}

int vm_note_table(uint32_t slot, unsigned level, uint64_t vbase)
{
	int i = lookup(level, vbase);
	if (i >= 0) {
		tables[i].slot = slot;
		return 0;
	}
	if (ntables == VM_TABLES_MAX)
		return -ENOSPC;
	tables[ntables].vbase = vbase;
	tables[ntables].slot = slot;
	tables[ntables].level = level;
	hash_add((int)ntables++);
	return 0;
}

/* (Rare -- a trim -- so the hash is simply made again.) */
static void forget(int i)
{
	tables[i] = tables[--ntables];
	memset(hash, 0, sizeof hash);
	for (unsigned k = 0; k < ntables; k++)
		hash_add((int)k);
}

long vm_find_cap(uint32_t from, uint32_t type, int (*match)(const struct keel_cap_info *, uint64_t),
		 uint64_t arg, struct keel_cap_info *out)
{
	struct keel_quota_info q;
	long err = sys_quota_info(&q);
	if (err)
		return err;
	for (uint32_t s = from; s < q.cap_slots; s++) {
		struct keel_cap_info info;
		if (sys_cap_info(s, &info) == 0 && (!type || info.type == type) && (!match || match(&info, arg))) {
			if (out)
				*out = info;
			return s;
		}
	}
	return -ENOENT;
}

static int is_cpu(const struct keel_cap_info *info, uint64_t cpu) { return info->base == cpu; }

long vm_find_cpu_cap(unsigned cpu, struct keel_cap_info *out)
{
	return vm_find_cap(0, KEEL_CAP_CPU, is_cpu, cpu, out);
}

int vm_init(void)
{
	struct keel_quota_info q;
	long err = sys_quota_info(&q);
	if (err)
		return (int)err;
	ntables = 0;
	memset(hash, 0, sizeof hash);
	for (uint32_t s = 0; s < q.cap_slots; s++) {
		struct keel_cap_info info;
		if (sys_cap_info(s, &info) == 0 && info.type == KEEL_CAP_PT && (info.flags & KEEL_CAPF_MAPPED))
			if ((err = vm_note_table(s, info.level, info.vbase)))
				return (int)err;
	}
	return 0;
}

static long update1(uint32_t table, unsigned index, uint32_t cap, unsigned flags)
{
	struct keel_mmu_op op = { .table = table, .index = (uint16_t)index, .flags = (uint16_t)flags, .cap = cap };
	return sys_mmu_update(&op, 1, NULL);
}

long vm_table(unsigned level, uint64_t va, int create)
{
	if (level == 4)
		return KEEL_TABLE_PML4;
	if (level < 1 || level > 4)
		return -EINVAL;
	uint64_t vbase = va & ~(span(level) - 1);
	int i = lookup(level, vbase);
	if (i >= 0)
		return tables[i].slot;
	if (!create)
		return -ENOENT;
	long parent = vm_table(level + 1, va, 1);
	if (parent < 0)
		return parent;
	long f = sys_frame_alloc();
	if (f < 0)
		return f;
	long err = sys_pt_retype((uint32_t)f, level, vbase);
	if (!err)
		err = update1((uint32_t)parent, index_of(va, level + 1), (uint32_t)f, 0);
	if (!err)
		err = vm_note_table((uint32_t)f, level, vbase);
	if (err) {
		sys_cap_delete((uint32_t)f); /* unmaps it too, if it got that far */
		return err;
	}
	return f;
}

long vm_map(uint64_t va, uint32_t frame, unsigned flags)
{
	long t = vm_table(1, va, 1);
	if (t < 0)
		return t;
	return update1((uint32_t)t, index_of(va, 1), frame, flags);
}

long vm_unmap(uint64_t va)
{
	long t = vm_table(1, va, 0);
	if (t < 0)
		return t;
	return update1((uint32_t)t, index_of(va, 1), KEEL_CAP_NONE, 0);
}

long vm_map_new(uint64_t va, unsigned flags)
{
	long t = vm_table(1, va, 1);
	return t < 0 ? t : vm_map_new_in((uint32_t)t, va, flags);
}

long vm_map_new_in(uint32_t table, uint64_t va, unsigned flags)
{
	struct keel_mmu_op op = { .table = table, .index = (uint16_t)index_of(va, 1), .flags = (uint16_t)flags,
				  .cap = KEEL_CAP_NEW };
	long err = sys_mmu_update(&op, 1, NULL);
	return err ? err : (long)op.cap; /* (the kernel wrote the new frame's slot there) */
}

long vm_unmap_free(uint64_t va)
{
	long t = vm_table(1, va, 0);
	if (t < 0)
		return t;
	return update1((uint32_t)t, index_of(va, 1), KEEL_CAP_FREE, 0);
}

uint64_t vm_entry(uint64_t va, unsigned level)
{
	for (unsigned l = 4;; l--) {
		uint64_t e = *(volatile const uint64_t *)KEEL_PT_WINDOW_ENTRY(va, l);
		if (!(e & VM_P) || l == level)
			return e & VM_P ? e : 0;
	}
}

static int table_empty(uint64_t vbase, unsigned level)
{
	if (!(vm_entry(vbase, level + 1) & VM_P))
		return 1;
	const volatile uint64_t *t = (const volatile uint64_t *)KEEL_PT_WINDOW_ENTRY(vbase, level);
	for (unsigned i = 0; i < 512; i++)
		if (t[i] & VM_P)
			return 0;
	return 1;
}

void vm_trim(uint64_t va, uint64_t len)
{
	for (unsigned level = 1; level <= 3; level++)
		for (int i = (int)ntables - 1; i >= 0; i--) {
			uint64_t b = tables[i].vbase;
			if (tables[i].level != level || b + span(level) <= va || b >= va + len)
				continue; /* does not cover any of the range */
			if (!table_empty(b, level))
				continue;
			long parent = vm_table(level + 1, b, 0);
			if (parent >= 0)
				update1((uint32_t)parent, index_of(b, level + 1), KEEL_CAP_NONE, 0);
			sys_cap_delete(tables[i].slot);
			forget(i);
		}
}
