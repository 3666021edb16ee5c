/*
 * libos virtual memory: a thin layer over capabilities and raw page tables
 * (docs/abi.md "Capabilities", "Raw page tables"). It remembers which page
 * table capability is installed where in this env's tree, makes missing
 * tables on demand (a frame, retyped, installed one level up), and reads
 * entries back through the read-only page-table window. Everything here is
 * an ordinary Ring 3 program's business: a libOS is free to replace it.
 */
#ifndef LIBOS_VM_H
#define LIBOS_VM_H

#include "keel.h"
#include "lib/errname.h"

/* ---------------------------------------------------------- syscalls */
static inline long sys_cap_info(uint32_t slot, struct keel_cap_info *out)
{
	return keel_syscall3(SYS_CAP_INFO, slot, (long)out, 0);
}
static inline long sys_frame_alloc(void) { return keel_syscall3(SYS_FRAME_ALLOC, 0, 0, 0); }
static inline long sys_vrange_alloc(uint64_t size, uint64_t align)
{
	return keel_syscall3(SYS_VRANGE_ALLOC, (long)size, (long)align, 0);
}
static inline long sys_pt_retype(uint32_t slot, unsigned level, uint64_t vbase)
{
	return keel_syscall3(SYS_PT_RETYPE, slot, level, (long)vbase);
}
static inline long sys_mmu_update(const struct keel_mmu_op *ops, uint64_t n, uint64_t *done)
{
	return keel_syscall3(SYS_MMU_UPDATE, (long)ops, (long)n, (long)done);
}
static inline long sys_cap_derive(uint32_t slot, unsigned rights, uint32_t env_slot)
{
	return keel_syscall3(SYS_CAP_DERIVE, slot, rights, env_slot);
}
static inline long sys_cap_revoke(uint32_t slot) { return keel_syscall3(SYS_CAP_REVOKE, slot, 0, 0); }
static inline long sys_cap_delete(uint32_t slot) { return keel_syscall3(SYS_CAP_DELETE, slot, 0, 0); }
static inline long sys_quota_info(struct keel_quota_info *out)
{
	return keel_syscall3(SYS_QUOTA_INFO, (long)out, 0, 0);
}

/* ------------------------------------------------------------- layer */
/* Learn the page tables the kernel built for the program. 0 or -errno. */
int vm_init(void);

/* The slot of the page table of `level` (1..3) whose entries map va in this
 * env's tree (KEEL_TABLE_PML4 for level 4); made and installed if `create`
 * and missing. -ENOENT if missing, or -errno. */
long vm_table(unsigned level, uint64_t va, int create);

/* Install frame capability `frame` at va with KEEL_MAP_* flags (the same
 * frame again at the same va: new rights). 0 or -errno. */
long vm_map(uint64_t va, uint32_t frame, unsigned flags);
/* Clear the leaf entry for va. 0 or -errno. */
long vm_unmap(uint64_t va);
/* A fresh zeroed frame mapped at va, in one call (KEEL_CAP_NEW): its slot,
 * or -errno. */
long vm_map_new(uint64_t va, unsigned flags);
/* The same into the level-1 table `table` (vm_table's slot for va). */
long vm_map_new_in(uint32_t table, uint64_t va, unsigned flags);
/* Clear the leaf entry for va and delete the frame capability that mapped
 * it, in one call (KEEL_CAP_FREE). 0 or -errno. */
long vm_unmap_free(uint64_t va);

/* Take note of a page table installed by someone else's hand (a shared one,
 * installed with sys_mmu_update): vm_table finds it from now on. */
int vm_note_table(uint32_t slot, unsigned level, uint64_t vbase);
/* Forget the tables covering any of [va, va + len) that are empty (no
 * entry present), deleting them: lowest level first, so a table emptied by
 * deleting the ones below it goes too. */
void vm_trim(uint64_t va, uint64_t len);

/* The entry mapping va at `level` (1 = the PTE), read through the window
 * without a syscall; 0 when it, or a table above it, is not present. */
uint64_t vm_entry(uint64_t va, unsigned level);
static inline uint64_t vm_pte(uint64_t va) { return vm_entry(va, 1); }
#define VM_P (1ULL << 0)
#define VM_W (1ULL << 1)
#define VM_U (1ULL << 2)
#define VM_A (1ULL << 5)
#define VM_D (1ULL << 6)
#define VM_G (1ULL << 8)
#define VM_NX (1ULL << 63)
#define VM_ADDR 0x000FFFFFFFFFF000ULL

/* Find a capability by what it is: the first slot >= from of `type` whose
 * info satisfies match(info, arg) (NULL: any). -ENOENT if none. */
long vm_find_cap(uint32_t from, uint32_t type, int (*match)(const struct keel_cap_info *, uint64_t),
		 uint64_t arg, struct keel_cap_info *out);
/* This env's capability for kernel CPU `cpu`: its slot (and info, if out),
 * or -ENOENT. */
long vm_find_cpu_cap(unsigned cpu, struct keel_cap_info *out);

#endif
