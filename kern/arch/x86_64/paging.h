/* x86_64 4-level paging: entry bits and address arithmetic (SDM Vol. 3A, 4.5). */
#ifndef KEEL_X86_PAGING_H
#define KEEL_X86_PAGING_H

#include "types.h"

#define PTE_P   (1ULL << 0)
#define PTE_W   (1ULL << 1)
#define PTE_U   (1ULL << 2)
#define PTE_PWT (1ULL << 3)
#define PTE_PCD (1ULL << 4)
#define PTE_A   (1ULL << 5)
#define PTE_D   (1ULL << 6)
#define PTE_PS  (1ULL << 7) /* in a PDPT or PD entry: 1 GiB or 2 MiB page */
#define PTE_G   (1ULL << 8)
#define PTE_NX  (1ULL << 63)
#define PTE_ADDR 0x000FFFFFFFFFF000ULL

#define PT_ENTRIES 512
#define PAGE_2M (1ULL << 21)
#define PAGE_1G (1ULL << 30)

/* Level 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT. */
static inline unsigned pt_index(u64 va, int level) { return (unsigned)(va >> (12 + 9 * (level - 1))) & 511; }
static inline u64 level_size(int level) { return 1ULL << (12 + 9 * (level - 1)); }

static inline bool is_canonical(u64 va) { return (u64)(((i64)va << 16) >> 16) == va; }

/* PF error code bits (SDM Vol. 3A, 4.7) */
#define PF_P    (1u << 0)
#define PF_W    (1u << 1)
#define PF_U    (1u << 2)
#define PF_RSVD (1u << 3)
#define PF_I    (1u << 4)
#define PF_PK   (1u << 5)
#define PF_SS   (1u << 6)

#endif
